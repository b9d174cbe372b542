/**
 * Test-only RSA keys kept in a file between test runs (`keyFile` of the stand-in): an RSA key takes
 * a while to generate (4096 bits: 1.6 s on average here, often more), so a test of a program that
 * makes CAs spends nearly all its time there. A `tls` PrivateKey registered with a resource name
 * and inputs the file holds gets that key back; an RSA key the file lacks is generated and added
 * when the run settles. A key that comes back in one engine state (deleted or replaced, then
 * registered again) is a new key, as `pulumi up` makes one: it is the next generation of that
 * name and those inputs. ECDSA and Ed25519 keys take under a millisecond and are never kept.
 *
 * The keys are public as soon as the file is shared: test-only, never for anything else.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    Accounts,
    codeOf,
    createReplacement,
    groupWriteProblem,
    NoRegularFile,
    othersUid,
    PRIVATE_FILE,
    Replacement,
    shellWord,
    withRegularFileNoFollow,
} from "../files";

export interface TestKey {
    /** The resource name, e.g. "team-client-root-key". */
    readonly name: string;
    /**
     * Which key of this name and these inputs one engine state has had: 2 for the one made when the
     * first came back (deleted, or replaced by other inputs), and so on. Absent for the first.
     */
    readonly generation?: number;
    /** The resource's inputs, e.g. { algorithm: "RSA", rsaBits: 4096 }. */
    readonly inputs: Record<string, unknown>;
    /** The key, PKCS#8 PEM. */
    readonly pkcs8: string;
}

interface TestKeysFile {
    readonly about: string;
    readonly keys: readonly TestKey[];
}

export const TEST_KEYS_ABOUT =
    "Test-only RSA keys of the apic-istio-pki stand-in (keyFile): public, never use them for anything else.";

function isTestKey(value: unknown): value is TestKey {
    const key = value as Partial<TestKey> | null;
    return (
        typeof key === "object" &&
        key !== null &&
        typeof key.name === "string" &&
        (key.generation === undefined || (Number.isSafeInteger(key.generation) && key.generation >= 1)) &&
        typeof key.inputs === "object" &&
        key.inputs !== null &&
        typeof key.pkcs8 === "string" &&
        key.pkcs8.startsWith("-----BEGIN PRIVATE KEY-----")
    );
}

/**
 * The text of `file`, undefined when it does not exist yet: a regular file of the user's own,
 * opened without following a link. As for the --state file: the keys in it become the CA keys of
 * the test run, so a file another user owns (or a link they planted) would give them those keys.
 */
function readOwnFile(file: string): string | undefined {
    const refusals: NoRegularFile<string | undefined> = {
        missing: () => undefined,
        link: () => {
            throw new Error(
                `keyFile ${file} is a symbolic link; its keys become the CA keys of the test run, so it is never read through a link: give the real file`,
            );
        },
        unopenable: (code) => {
            throw new Error(`keyFile ${file}: cannot be read (${code})`);
        },
        notFile: () => {
            throw new Error(`keyFile ${file} is not a regular file; give a file`);
        },
    };
    return withRegularFileNoFollow(file, refusals, (fd, stat) => {
        const owner = othersUid(stat);
        if (owner !== undefined) {
            throw new Error(
                `keyFile ${file} belongs to user ${owner}, not to the user running the tests (${process.getuid?.()}): its keys become the CA keys of the test run, which that user would then have chosen; run the tests as its owner, or give keyFile a file of your own`,
            );
        }
        // Written by others, or by a group others belong to, it may hold keys they chose, as another
        // user's file. A group of the owner's alone (a user private group: a checkout under umask
        // 002 gives 0664) is the owner's, as render's path check takes it. Read by others it may
        // be: its keys are test-only and public (TEST_KEYS_ABOUT).
        const mode = stat.mode & 0o777;
        const group = (mode & 0o020) !== 0 ? groupWriteProblem(file, stat.gid, stat.uid, new Accounts()) : undefined;
        if ((mode & 0o002) !== 0 || group !== undefined) {
            throw new Error(
                `keyFile ${file} has mode 0${mode.toString(8)}${group === undefined ? "" : `, and ${group}`}: its keys become the CA keys of the test run, so only its owner may write it; run chmod go-w ${shellWord(file)}`,
            );
        }
        return fs.readFileSync(fd, "utf8");
    });
}

/** The keys of `file`; none when it does not exist yet. */
export function readTestKeys(file: string): TestKey[] {
    return [...readTestKeysFile(file).keys];
}

/** The keys of `file` and what it says it is; no keys when it does not exist yet. */
function readTestKeysFile(file: string): { about?: string; keys: readonly TestKey[] } {
    const text = readOwnFile(file);
    if (text === undefined) return { keys: [] };
    let parsed: Partial<TestKeysFile>;
    try {
        parsed = JSON.parse(text) as Partial<TestKeysFile>;
    } catch {
        parsed = {};
    }
    if (!Array.isArray(parsed.keys) || !parsed.keys.every(isTestKey)) {
        throw new Error(
            `keyFile ${file}: not a file of test keys ({ "about", "keys": [{ "name", "generation" (from 2), "inputs", "pkcs8" }] }); delete it and the next run writes a new one`,
        );
    }
    return { about: typeof parsed.about === "string" ? parsed.about : undefined, keys: parsed.keys };
}

/**
 * Writes `keys` (sorted, so that a file under version control changes only where keys were added)
 * into a fresh 0600 file renamed over `file`: a link at `file` is replaced, never written through
 * (readTestKeys refuses one before the run).
 */
export function writeTestKeys(file: string, keys: readonly TestKey[], about = TEST_KEYS_ABOUT): void {
    const sorted = [...keys].sort((a, b) =>
        a.name !== b.name
            ? a.name < b.name
                ? -1
                : 1
            : (a.generation ?? 1) - (b.generation ?? 1) || a.pkcs8.localeCompare(b.pkcs8),
    );
    let replacement: Replacement;
    try {
        replacement = createReplacement(file, PRIVATE_FILE);
    } catch (error) {
        throw new Error(
            `keyFile ${file}: cannot write the RSA keys this run made (${codeOf(error)} creating a file in ${path.dirname(path.resolve(file))}); give keyFile a path in a folder you can write to`,
        );
    }
    try {
        replacement.commit(JSON.stringify({ about, keys: sorted }, null, 4) + "\n");
    } catch (error) {
        throw new Error(
            `keyFile ${file}: cannot replace it with the RSA keys this run made (${codeOf(error)} writing a new file and renaming it over ${file}); ` +
                `give keyFile a path of your own, where no folder or other user's file stands, in a folder you can write to`,
        );
    }
}

/**
 * The identity of a key in the file: its resource name, generation and inputs (key order aside),
 * as JSON, so that no name can pass for another's generation.
 */
const idOf = (name: string, generation: number, inputs: Record<string, unknown>): string =>
    JSON.stringify([name, generation, Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : 1)))]);

const idOfKey = (key: TestKey): string => idOf(key.name, key.generation ?? 1, key.inputs);

/** One run's view of a key file: the keys it holds, and the RSA keys the run generated. */
export class TestKeyFile {
    private readonly known: Map<string, TestKey>;
    private readonly added: TestKey[] = [];

    constructor(
        readonly file: string,
        /** What the file says it is, written with it. */
        private readonly about = TEST_KEYS_ABOUT,
    ) {
        this.known = new Map(readTestKeys(file).map((k) => [idOfKey(k), k]));
    }

    /** The kept key of this resource and generation, if the file has it. */
    find(name: string, inputs: Record<string, unknown>, generation = 1): crypto.KeyObject | undefined {
        const key = this.known.get(idOf(name, generation, inputs));
        return key && crypto.createPrivateKey(key.pkcs8);
    }

    /** Remembers an RSA key the run generated (other algorithms are cheap to make again). */
    add(name: string, inputs: Record<string, unknown>, privateKeyPem: string, generation = 1): void {
        if (inputs.algorithm !== "RSA" || this.known.has(idOf(name, generation, inputs))) return;
        const pkcs8 = crypto.createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "pem" }) as string;
        const key: TestKey = { name, ...(generation === 1 ? {} : { generation }), inputs, pkcs8 };
        this.known.set(idOfKey(key), key);
        this.added.push(key);
    }

    /**
     * Adds the generated keys to the file (read again, in case another run added keys meanwhile),
     * keeping what the file says it is; returns how many it added.
     */
    save(): number {
        if (this.added.length === 0) return 0;
        const onDisk = readTestKeysFile(this.file);
        const ids = new Set(onDisk.keys.map(idOfKey));
        const added = this.added.filter((k) => !ids.has(idOfKey(k)));
        if (added.length > 0) writeTestKeys(this.file, [...onDisk.keys, ...added], onDisk.about ?? this.about);
        this.added.length = 0;
        return added.length;
    }
}
