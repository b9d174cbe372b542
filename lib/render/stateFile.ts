/**
 * `render --state FILE`: the stand-in's state between renders. It holds every private key (the
 * root's included), so it is read only from a file of its owner alone, never through a link, and
 * written 0600 into a fresh file renamed over the old one; with a passphrase it is encrypted at
 * rest (AES-256-GCM, key from scrypt with a salt per file).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ENVIRONMENT_NAME } from "../config/validate";
import { EngineState } from "../engine/standIn";
import {
    Accounts,
    anotherUsers,
    codeOf,
    createReplacement,
    FolderError,
    hardLinksCommand,
    leftoverReplacements,
    makeMissingFolders,
    NoRegularFile,
    othersPathRefusal,
    othersUid,
    ownerOrRoot,
    physicalPath,
    PRIVATE_FILE,
    removeEmptyFolders,
    Replacement,
    withRegularFileNoFollow,
} from "../files";
import { lockStateFile, RenderLock, RenderLockError } from "./stateLock";

export const PASSPHRASE_VARIABLE = "APIC_ISTIO_PKI_STATE_PASSPHRASE";
/** The option messages name. */
const OPTION = "--state";
/** Render's option that lets a passphrase seal a plain state file (the one way to start encrypting a state). */
export const ENCRYPT_PLAIN_OPTION = "--encrypt-plain-state";

const FORMAT = "apic-istio-pki-state";
const VERSION = 1;
const CIPHER = "aes-256-gcm";
/** scrypt at N = 2^17, r = 8, p = 1 (OWASP's figure for scrypt): about 0.3 s and 128 MiB here. */
const KDF = { name: "scrypt", N: 131072, r: 8, p: 1 } as const;

/** The encrypted state file: a small versioned JSON envelope; the header is authenticated too. */
interface Envelope {
    format: typeof FORMAT;
    version: number;
    kdf: { name: "scrypt"; N: number; r: number; p: number; salt: string };
    cipher: typeof CIPHER;
    iv: string;
    tag: string;
    ciphertext: string;
}

/** The passphrase from the environment, or undefined to keep the state unencrypted. */
export function passphraseFrom(env: NodeJS.ProcessEnv): string | undefined {
    const passphrase = env[PASSPHRASE_VARIABLE];
    if (passphrase === "") {
        throw new Error(
            `${PASSPHRASE_VARIABLE} is set but empty; set it to the state's passphrase, or unset it to keep the state unencrypted`,
        );
    }
    return passphrase;
}

/** A key derived from the passphrase, with the scrypt parameters and salt it was derived under. */
interface StateKey {
    kdf: Envelope["kdf"];
    key: Buffer;
}

function deriveKey(passphrase: string, kdf: Envelope["kdf"]): StateKey {
    const key = crypto.scryptSync(passphrase, Buffer.from(kdf.salt, "base64"), 32, {
        N: kdf.N,
        r: kdf.r,
        p: kdf.p,
        maxmem: 256 * kdf.N * kdf.r,
    });
    return { kdf, key };
}

const freshKey = (passphrase: string): StateKey =>
    deriveKey(passphrase, { ...KDF, salt: crypto.randomBytes(16).toString("base64") });

/** What the header binds: changing the format, the KDF's parameters or the cipher fails authentication. */
const headerOf = (e: Pick<Envelope, "format" | "version" | "kdf" | "cipher">): Buffer =>
    Buffer.from(JSON.stringify({ format: e.format, version: e.version, kdf: e.kdf, cipher: e.cipher }));

/** Encrypts under `stateKey` with a fresh random IV (so a key may seal many saves). */
function seal(plaintext: string, stateKey: StateKey): string {
    const header = { format: FORMAT, version: VERSION, kdf: stateKey.kdf, cipher: CIPHER } as const;
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv(CIPHER, stateKey.key, iv);
    cipher.setAAD(headerOf(header));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const envelope: Envelope = {
        ...header,
        iv: iv.toString("base64"),
        tag: cipher.getAuthTag().toString("base64"),
        ciphertext: ciphertext.toString("base64"),
    };
    return JSON.stringify(envelope) + "\n";
}

function unseal(envelope: Envelope, key: Buffer): string {
    const decipher = crypto.createDecipheriv(CIPHER, key, Buffer.from(envelope.iv, "base64"));
    decipher.setAAD(headerOf(envelope));
    decipher.setAuthTag(Buffer.from(envelope.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, "base64")), decipher.final()]).toString(
        "utf8",
    );
}

export function encryptState(plaintext: string, passphrase: string): string {
    return seal(plaintext, freshKey(passphrase));
}

/** True when the parsed file is an envelope this version can read (bounded KDF cost, sizes right). */
function isEnvelope(value: Record<string, unknown>): value is Record<string, unknown> & Envelope {
    const kdf = value.kdf as Partial<Envelope["kdf"]> | undefined;
    const bytes = (v: unknown): number => (typeof v === "string" ? Buffer.from(v, "base64").length : -1);
    return (
        value.version === VERSION &&
        value.cipher === CIPHER &&
        kdf?.name === "scrypt" &&
        [kdf.N, kdf.r, kdf.p].every(Number.isSafeInteger) &&
        (kdf.N as number) <= 2 ** 20 &&
        (kdf.r as number) <= 16 &&
        (kdf.p as number) <= 4 &&
        bytes(kdf.salt) >= 16 &&
        bytes(value.iv) === 12 &&
        bytes(value.tag) === 16 &&
        typeof value.ciphertext === "string"
    );
}

export function decryptState(envelope: Envelope, passphrase: string): string {
    return unseal(envelope, deriveKey(passphrase, envelope.kdf).key);
}

/**
 * Reads the state file's bytes, at `at` (its path as the system resolves it; `file` is how
 * messages name it): a regular file of mode 0600 or stricter, opened without following a link.
 */
function readPrivateFile(file: string, at: string): string | undefined {
    const refusals: NoRegularFile<string | undefined> = {
        missing: () => undefined,
        link: () => {
            throw new Error(
                `${OPTION} ${file} is a symbolic link; the state holds every private key and is never read or written through a link: give the real file`,
            );
        },
        unopenable: (code) => {
            throw new Error(`cannot read ${OPTION} ${file} (${code})`);
        },
        notFile: () => {
            throw new Error(`${OPTION} ${file} is not a regular file; give a file`);
        },
    };
    return withRegularFileNoFollow(at, refusals, (fd, stat) => {
        // As ssh does for its keys: a file someone else owns may hold keys they chose (a render run
        // as root must not take another user's file); getuid is absent on Windows.
        const owner = othersUid(stat);
        if (owner !== undefined) {
            throw new Error(
                `${OPTION} ${file} belongs to user ${owner}, not to the user rendering (${process.getuid?.()}): the state holds every private key, and a file another user owns may hold keys they chose; render as its owner or give a state file of your own`,
            );
        }
        // Its lock is taken by name (FILE.lock): through another hard link a second render would
        // take another lock, run beside this one, and the last to save would drop the other's keys.
        if (stat.nlink !== 1) {
            throw new Error(
                `${OPTION} ${file} has ${stat.nlink} hard links: a render locks the state by its name (${file}.lock), so a render through another link would run beside this one and the two would split the state; ` +
                    `remove every other link (${hardLinksCommand(at)} lists them), or give ${OPTION} a copy of its own`,
            );
        }
        const mode = stat.mode & 0o777;
        if ((mode & 0o077) !== 0) {
            throw new Error(
                `${OPTION} ${file} has mode 0${mode.toString(8)}: it holds every private key, so only its owner may read or write it; run chmod 600 ${file}`,
            );
        }
        return fs.readFileSync(fd, "utf8");
    });
}

/**
 * What a state file holds (encrypted, what the envelope seals and authenticates): the engine's
 * state, and the pki:environment its keys were made for (the CAs' subjects carry it), so that no
 * other environment's render is given them. An earlier version wrote the bare list of resources.
 */
interface StateContent {
    environment: string;
    resources: [string, unknown][];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === "object" && !Array.isArray(value);

/** One resource as the stand-in keeps it (EngineState): ["<type>::<name>", { inputsJson, id, state, keyGeneration? }]. */
function isResourceEntry(entry: unknown): boolean {
    if (!Array.isArray(entry) || entry.length !== 2) return false;
    const [key, resource] = entry as unknown[];
    return (
        typeof key === "string" &&
        key.includes("::") &&
        isObject(resource) &&
        typeof resource.inputsJson === "string" &&
        typeof resource.id === "string" &&
        isObject(resource.state) &&
        (resource.keyGeneration === undefined ||
            (Number.isSafeInteger(resource.keyGeneration) && (resource.keyGeneration as number) >= 2))
    );
}

const isStateContent = (value: Record<string, unknown>): value is Record<string, unknown> & StateContent =>
    typeof value.environment === "string" && ENVIRONMENT_NAME.test(value.environment) && Array.isArray(value.resources);

/**
 * Parses the state file's text (plain JSON, or the encrypted envelope): the state, the environment
 * it was written for (undefined for an earlier version's) and, for an envelope, the key that opened it.
 */
function parseState(
    text: string,
    file: string,
    passphrase: string | undefined,
    acceptPlain: boolean,
): { state: EngineState; environment?: string; key?: StateKey } {
    let parsed: unknown;
    let key: StateKey | undefined;
    try {
        parsed = JSON.parse(text);
    } catch {
        throw new Error(`${OPTION} ${file} is not a render state (not JSON); give the file an earlier render wrote`);
    }
    const notState = (): Error =>
        new Error(`${OPTION} ${file} is not a render state; give the file an earlier render wrote`);
    if (isObject(parsed) && parsed.format !== undefined) {
        const envelope = parsed;
        if (envelope.format !== FORMAT) throw notState();
        if (!isEnvelope(envelope)) {
            throw new Error(
                `${OPTION} ${file} is an encrypted state of format version ${String(envelope.version)} or with parameters this version does not accept; render it with the version that wrote it`,
            );
        }
        if (passphrase === undefined) {
            throw new Error(`${OPTION} ${file} is encrypted; set ${PASSPHRASE_VARIABLE} to its passphrase`);
        }
        let plaintext: string;
        try {
            key = deriveKey(passphrase, envelope.kdf);
            plaintext = unseal(envelope, key.key);
        } catch {
            throw new Error(
                `${OPTION} ${file} cannot be decrypted with ${PASSPHRASE_VARIABLE}: wrong passphrase, or the file was altered`,
            );
        }
        try {
            parsed = JSON.parse(plaintext);
        } catch {
            throw notState(); // never JSON.parse's message, which quotes the text
        }
    }
    const content = isObject(parsed) && isStateContent(parsed) ? parsed : undefined;
    const resources = content?.resources ?? parsed;
    if (!Array.isArray(resources)) throw notState();
    // Only the envelope is authenticated: a plain file put where the encrypted one was would bring
    // keys someone else knows, to be sealed under the real passphrase on save.
    if (key === undefined && passphrase !== undefined && !acceptPlain) {
        throw new Error(
            `${OPTION} ${file} is not encrypted, but ${PASSPHRASE_VARIABLE} is set: a plain state is not authenticated, so its keys may not be the ones your renders made; if it is the plain state your own renders wrote, encrypt it by rendering once with ${ENCRYPT_PLAIN_OPTION}`,
        );
    }
    // Checked before use, and named by number: the engine's own errors would quote the entry, and a
    // file given by mistake may hold a password or a key.
    const bad = resources.findIndex((entry) => !isResourceEntry(entry));
    if (bad !== -1) {
        throw new Error(
            `${OPTION} ${file} is not a render state: its entry ${bad + 1} is not a resource as a render writes it (["<type>::<name>", { inputsJson, id, state }], and a key's keyGeneration, when there, a whole number from 2); give the file an earlier render wrote`,
        );
    }
    return { state: new Map(resources as [string, never][]), environment: content?.environment, key };
}

/**
 * The key the next save seals with: the one that opened the file while its scrypt parameters are
 * this version's (one scrypt per render, not two: each costs 0.3 s and 128 MiB; the file keeps its
 * salt, every save has a fresh IV), else a key under this version's parameters and a new salt.
 */
function keyForSave(opened: StateKey | undefined, passphrase: string): StateKey {
    const current = opened !== undefined && opened.kdf.N === KDF.N && opened.kdf.r === KDF.r && opened.kdf.p === KDF.p;
    return current ? { kdf: { ...KDF, salt: opened.kdf.salt }, key: opened.key } : freshKey(passphrase);
}

/** An opened state file: its state, the lock held on it, and the fresh file that `save` fills and renames over it. */
export interface StateFile {
    readonly state: EngineState;
    /**
     * Binds the state to the pki:environment of the stack file `stackFile` before any key is made:
     * a state written for another environment is refused (its keys are that environment's), and
     * the next save records this one; a state an earlier version wrote, which records none, is
     * taken for this environment (said to `warn` when it holds anything).
     */
    bindTo(environment: string, stackFile: string): void;
    /** Writes the state (encrypted when a passphrase was given) and renames it over the file. */
    save(): void;
    /**
     * The same, for a render that stopped: only if it changed the state (the engine made something
     * before it stopped). A render refused before it ran leaves the file byte for byte as it was:
     * not sealed again under a new IV, not encrypted, not created.
     */
    saveIfChanged(): void;
    /** Removes the fresh file if `save` did not use it, and releases the lock. */
    close(): void;
}

/** The refusal of a state file that cannot be written where it is. */
const cannotWrite = (file: string, at: string, error: unknown): Error =>
    new Error(
        `cannot write the state ${file} (${codeOf(error)} creating a file in ${path.dirname(at)}); give ${OPTION} a file in a folder you can write to`,
    );

/**
 * Under the state's lock, the new state files that renders killed before they could save or remove
 * them left beside it (createReplacement's `.<name>.<12 hex digits>.tmp`; empty if the render was
 * killed while rendering, the whole state if while saving): removed, each named to `warn`. One
 * another user owns (in a shared folder, such as /tmp) is refused, as is one that cannot be removed.
 */
function removeLeftoverStates(file: string, at: string, warn: (message: string) => void): void {
    const leftovers = leftoverReplacements(at);
    const refused = (leftover: string, problem: string): Error =>
        new Error(
            `${OPTION} ${file} cannot be used: ${leftover} beside it, named as a killed render's new state file, ${problem}`,
        );
    for (const leftover of leftovers) {
        const owner = anotherUsers(fs.lstatSync(leftover));
        if (owner !== undefined) {
            throw refused(leftover, `${owner}: render never removes another user's leftovers; ${ownerOrRoot(OPTION)}`);
        }
    }
    for (const leftover of leftovers) {
        try {
            fs.unlinkSync(leftover);
        } catch (error) {
            throw refused(
                leftover,
                `cannot be removed (${codeOf(error)}); remove it yourself (it may hold the state's private keys), or give another ${OPTION}`,
            );
        }
        warn(
            `removed ${leftover}: the new state file of a render with ${OPTION} ${file} that was killed (it may hold the state's private keys)`,
        );
    }
}

/**
 * Locks the state file (stateLock.ts: a second render on it is refused until `close`), reads the
 * state (an absent file is a fresh state; with a passphrase, a plain file only when
 * `encryptPlain`, which the next save then encrypts), removes the new state files killed renders
 * left (named to `warn`) and creates, exclusively and 0600, the file the next state will be written
 * to, so that an unwritable place fails before any key is made. When it throws, it holds no lock
 * and has left no file. `outputFolder`, that of the render, is named with the state's lock when a
 * killed render left both locks.
 */
export function openStateFile(
    file: string,
    passphrase: string | undefined,
    options: {
        encryptPlain?: boolean;
        warn?: (message: string) => void;
        outputFolder?: string;
        /** The system's users and groups as this render looked them up (one per render). */
        accounts?: Accounts;
    } = {},
): StateFile {
    // One path, resolved once as the system resolves it (`link/..` is the parent of the link's
    // target, not the folder holding the link), for the check and every file made or read: the
    // check must look at the folder the writes go to.
    const at = physicalPath(file);
    // The lock, the next state and its rename are made by path beside the file: in a folder another
    // user could change, they could be sent through a link of theirs.
    const refuseUnsafe = (): void => {
        const unsafe = othersPathRefusal(`${OPTION} ${file}`, OPTION, at, options.accounts);
        if (unsafe !== undefined) throw new Error(unsafe);
    };
    refuseUnsafe();
    // Its folder is made when missing (e.g. out/ of --state out/dev.state.json on a fresh clone),
    // and removed again when the render leaves nothing in it.
    let madeFolders: string[];
    try {
        madeFolders = makeMissingFolders(path.dirname(at));
    } catch (error) {
        const where = error instanceof FolderError ? path.dirname(error.folder) : path.dirname(file);
        throw new Error(
            `cannot write the state ${file} (${codeOf(error)} creating a folder in ${where}); give ${OPTION} a file in a folder you can write to`,
        );
    }
    let lock: RenderLock;
    try {
        lock = lockStateFile(at, options.outputFolder, file);
    } catch (error) {
        removeEmptyFolders(madeFolders);
        throw error instanceof RenderLockError ? error : cannotWrite(file, at, error);
    }
    let state: EngineState;
    let environment: string | undefined;
    let key: StateKey | undefined;
    let replacement: Replacement;
    const warn = options.warn ?? (() => undefined);
    try {
        // Again under the lock, as the output's staging folder is: another user may have made a
        // folder on the way (in a sticky shared folder) since the check, before the lock was taken.
        refuseUnsafe();
        const text = readPrivateFile(file, at);
        ({ state, environment, key } =
            text === undefined
                ? { state: new Map() as EngineState }
                : parseState(text, file, passphrase, options.encryptPlain === true));
        removeLeftoverStates(file, at, warn);
        try {
            replacement = createReplacement(at, PRIVATE_FILE);
        } catch (error) {
            throw cannotWrite(file, at, error);
        }
    } catch (error) {
        lock.release();
        removeEmptyFolders(madeFolders);
        throw error;
    }
    const digest = (json: string): string => crypto.createHash("sha256").update(json).digest("hex");
    const opened = digest(JSON.stringify([...state]));
    let open = true;
    return {
        state,
        bindTo(stackEnvironment, stackFile) {
            if (environment !== undefined && environment !== stackEnvironment) {
                throw new Error(
                    `${OPTION} ${file} was written for pki:environment ${environment}, not for ${stackEnvironment} (${stackFile}): it holds ${environment}'s keys (its root's, CAs' and clients') and .p12 passwords, which ${stackEnvironment} must not be given; ` +
                        `give ${OPTION} ${stackEnvironment}'s own state file, or a new file to start ${stackEnvironment}'s state`,
                );
            }
            if (environment === undefined && state.size > 0) {
                warn(
                    `${OPTION} ${file} was written by an earlier version, which did not record the environment its keys are for: it is taken for pki:environment ${stackEnvironment} (${stackFile}), and a render of another environment will be refused`,
                );
            }
            environment = stackEnvironment;
        },
        save() {
            // Once: a second save, or a save after close, writes nothing.
            if (!open) return;
            open = false;
            const resources = [...state];
            const content: StateContent | typeof resources =
                environment === undefined ? resources : { environment, resources };
            const json = JSON.stringify(content);
            try {
                replacement.commit(passphrase === undefined ? json : seal(json, keyForSave(key, passphrase)));
            } catch (error) {
                throw new Error(
                    `cannot save the state ${file} (${codeOf(error)}); it is left as it was and this render's output is not put in place: free space or fix the folder, then render again`,
                );
            }
        },
        saveIfChanged() {
            if (open && digest(JSON.stringify([...state])) !== opened) this.save();
        },
        close() {
            open = false;
            replacement.discard();
            lock.release();
            removeEmptyFolders(madeFolders);
        },
    };
}
