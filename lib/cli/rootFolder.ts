/**
 * The offline root's folder (on the offline machine's removable medium): root.key (encrypted,
 * 0600), root.crt, and issuance.log, the append-only record of everything the root signed. The
 * folder must be its owner's alone (0700) and never a link, and is kept out of git work trees.
 */
import * as fs from "fs";
import * as path from "path";
import { codeOf, createExclusive, entryAt, makePrivateFolder, PRIVATE_FILE, writeNewFile } from "../files";
import { RootTrustDomain } from "../plan/hierarchy";

export const ROOT_KEY = "root.key";
export const ROOT_CERT = "root.crt";
export const ISSUANCE_LOG = "issuance.log";

const { O_RDONLY, O_WRONLY, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** A line of issuance.log for a certificate the root signed (itself included). */
export interface CertificateRecord {
    readonly time: string;
    readonly event: "root" | "certificate";
    readonly environment: string;
    readonly trustDomain: RootTrustDomain;
    readonly serial: string;
    readonly subject: string;
    readonly spkiSha256: string;
    /** When the certificate starts to be valid: a revocation of it is never dated earlier. */
    readonly notBefore: string;
    readonly notAfter: string;
}

/** A line of issuance.log for a CRL the root signed. */
export interface CrlRecord {
    readonly time: string;
    readonly event: "crl";
    readonly environment: string;
    readonly trustDomain: RootTrustDomain;
    readonly crlNumber: number;
    readonly issuer: string;
    readonly thisUpdate: string;
    readonly nextUpdate: string;
    readonly revoked: readonly { readonly serial: string; readonly reason: string; readonly revokedAt: string }[];
}

/** One line of issuance.log: what the root signed, when, for which environment and trust domain. */
export type LogRecord = CertificateRecord | CrlRecord;

/**
 * The folder `dir` as the ceremony checks and opens it: without trailing slashes or "." parts.
 * Named "lnk/", a link is followed even by lstat and O_NOFOLLOW, so the folder checked would not
 * be a link while the one written to is its target.
 */
function folderPath(dir: string): string {
    const normal = path.normalize(dir);
    return normal.length > 1 ? normal.replace(/\/+$/, "") : normal;
}

/** `target` with every link resolved, as far as it exists (init-root's new folder does not yet). */
function realPath(target: string): string {
    const absolute = path.resolve(target);
    try {
        return fs.realpathSync(absolute);
    } catch {
        const parent = path.dirname(absolute);
        return parent === absolute ? absolute : path.join(realPath(parent), path.basename(absolute));
    }
}

/**
 * The top folder of the git work tree holding `target`, or undefined. Its real path is walked:
 * a link from elsewhere into a work tree leads there all the same.
 */
function gitWorkTreeOf(target: string): string | undefined {
    for (let folder = realPath(target); ; folder = path.dirname(folder)) {
        if (entryAt(path.join(folder, ".git")) !== undefined) return folder;
        if (path.dirname(folder) === folder) return undefined;
    }
}

function checkOutsideGit(dir: string, option: string, allowGit: boolean): void {
    const workTree = gitWorkTreeOf(dir);
    if (workTree !== undefined && !allowGit) {
        const real = realPath(dir);
        const through = real === path.resolve(dir) ? "" : ` (through a link: it is ${real})`;
        throw new Error(
            `${option} ${dir} is inside the git work tree ${workTree}${through}: a root folder there is one "git add" away from leaving the offline machine; ` +
                `keep it on the ceremony's removable medium (e.g. /media/ceremony/example-client-root), or pass --allow-git-work-tree for a throw-away rehearsal`,
        );
    }
}

/**
 * A folder that may hold the root key: a real folder (not a link), the user's own, with no access
 * for group or others. A looser one is refused, not fixed: whatever others may have put in or
 * replaced there (a root certificate, a log) a chmod would not undo, so the people at the
 * ceremony check it first.
 */
function checkPrivateFolder(dir: string, option: string, stat: fs.Stats): void {
    if (stat.isSymbolicLink()) {
        throw new Error(
            `${option} ${dir} is a symbolic link; the ceremony never works through a link: give the real folder`,
        );
    }
    if (!stat.isDirectory()) throw new Error(`${option} ${dir} is not a folder`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
        throw new Error(`${option} ${dir} belongs to another user (uid ${stat.uid}); run the ceremony as its owner`);
    }
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
        throw new Error(
            `${option} ${dir} has mode 0${mode.toString(8)}: others may read or replace what it holds. The ceremony refuses rather than fixes it, ` +
                `since a chmod would not undo what they may have done: check its content, then run chmod 700 ${dir}`,
        );
    }
}

/** Opens an existing file without following a link; one holding a key must be its owner's alone. */
function openExisting(file: string, flags: number, privateFile: boolean): number {
    let fd: number;
    try {
        // O_NONBLOCK: a FIFO planted at the path must not hang the open (it is refused below).
        fd = fs.openSync(file, flags | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
        if (codeOf(error) === "ENOENT") {
            throw new Error(
                `${file} is missing; a root folder holds ${ROOT_KEY}, ${ROOT_CERT} and ${ISSUANCE_LOG}: restore it from the ceremony's archive`,
            );
        }
        if (codeOf(error) === "ELOOP") {
            throw new Error(`${file} is a symbolic link; the ceremony never reads or writes through a link`);
        }
        throw new Error(`cannot open ${file} (${codeOf(error)})`);
    }
    const stat = fs.fstatSync(fd);
    const mode = stat.mode & 0o777;
    const problem = !stat.isFile()
        ? `${file} is not a regular file`
        : privateFile && (mode & 0o077) !== 0
          ? `${file} has mode 0${mode.toString(8)}; only its owner may read or write it: check it, then run chmod 600 ${file}`
          : undefined;
    if (problem !== undefined) {
        fs.closeSync(fd);
        throw new Error(problem);
    }
    return fd;
}

function readExisting(file: string, privateFile: boolean): string {
    const fd = openExisting(file, O_RDONLY, privateFile);
    try {
        return fs.readFileSync(fd, "utf8");
    } finally {
        fs.closeSync(fd);
    }
}

export class RootFolder {
    /** `made`: for init-root, whether it made the folder (else it was empty); undefined for an existing root. */
    private constructor(
        readonly dir: string,
        private readonly made?: boolean,
    ) {}

    /**
     * Checks that init-root may make a root in `typed` (a new folder in an existing one, or an empty
     * private folder), before any passphrase is asked or key made; `make` then creates it 0700.
     */
    static checkNew(typed: string, allowGit: boolean): { make(): RootFolder } {
        checkOutsideGit(typed, "--out", allowGit);
        const dir = folderPath(typed);
        const parent = path.dirname(path.resolve(dir));
        if (entryAt(parent)?.isDirectory() !== true) {
            throw new Error(
                `--out ${typed}: the folder ${parent} does not exist; mount the ceremony's medium or create it first`,
            );
        }
        const existing = entryAt(dir);
        if (existing !== undefined) {
            checkPrivateFolder(typed, "--out", existing);
            const entries = fs.readdirSync(dir);
            if (entries.includes(ROOT_KEY)) {
                throw new Error(
                    `--out ${typed} already holds a root key (${ROOT_KEY}); init-root never replaces one: choose a new folder`,
                );
            }
            if (entries.length > 0) {
                throw new Error(
                    `--out ${typed} is not empty (${entries.join(", ")}); init-root needs a new or empty folder`,
                );
            }
        }
        return {
            make: () => {
                makePrivateFolder(dir);
                return new RootFolder(dir, existing === undefined);
            },
        };
    }

    /**
     * Removes what init-root wrote into this new root folder (its key, certificate and log), and
     * the folder if init-root made it and nothing else is in it; throws nothing. For an init-root
     * that failed half-way: nothing of the root was shown or signed yet.
     */
    removeNew(): void {
        if (this.made === undefined) return;
        try {
            for (const name of [ROOT_KEY, ROOT_CERT, ISSUANCE_LOG]) fs.rmSync(this.path(name), { force: true });
            if (this.made) fs.rmdirSync(this.dir);
        } catch {
            // Something else is in it now, or the medium takes no change: left as it is.
        }
    }

    /** An existing root folder, checked: private, outside git, with its three files. */
    static open(typed: string, allowGit: boolean): RootFolder {
        checkOutsideGit(typed, "--root", allowGit);
        const dir = folderPath(typed);
        const stat = entryAt(dir);
        if (stat === undefined) throw new Error(`--root ${typed}: no such folder; give the folder init-root made`);
        checkPrivateFolder(typed, "--root", stat);
        const folder = new RootFolder(dir);
        folder.readLog(); // a missing, linked, loose or altered log stops the ceremony before anything is signed
        return folder;
    }

    path(name: string): string {
        return path.join(this.dir, name);
    }

    readCertificate(): string {
        return readExisting(this.path(ROOT_CERT), false);
    }

    readEncryptedKey(): string {
        return readExisting(this.path(ROOT_KEY), true);
    }

    /** Creates a file of the root folder, exclusively and never through a link. */
    writeNew(name: string, content: string, mode: number): void {
        writeNewFile(this.path(name), content, mode);
    }

    /** Starts the issuance log with its first record (init-root). */
    startLog(record: LogRecord): void {
        this.writeRecords(createExclusive(this.path(ISSUANCE_LOG), PRIVATE_FILE), [record]);
    }

    /**
     * Appends records, all or none: the log is opened O_APPEND (never rewritten), without following
     * a link, and synced. Records that cannot be written whole (a full medium) are cut off again,
     * leaving the log as it was, and the system error is thrown.
     */
    appendLog(...records: LogRecord[]): void {
        this.writeRecords(openExisting(this.path(ISSUANCE_LOG), O_WRONLY | O_APPEND, true), records);
    }

    private writeRecords(fd: number, records: LogRecord[]): void {
        try {
            const size = fs.fstatSync(fd).size;
            try {
                // writeFileSync writes all of it or throws (writeSync may write part and say so).
                fs.writeFileSync(fd, records.map((record) => `${JSON.stringify(record)}\n`).join(""));
                fs.fsyncSync(fd);
            } catch (error) {
                try {
                    fs.ftruncateSync(fd, size);
                    fs.fsyncSync(fd);
                } catch {
                    // The caller's error is the one to report; a cut record shows as one on the next read.
                }
                throw error;
            }
        } finally {
            fs.closeSync(fd);
        }
    }

    readLog(): LogRecord[] {
        const file = this.path(ISSUANCE_LOG);
        return readExisting(file, true)
            .split("\n")
            .filter((line) => line !== "")
            .map((line, i) => {
                try {
                    return JSON.parse(line) as LogRecord;
                } catch {
                    throw new Error(
                        `${file} line ${i + 1} is not a record of this ceremony; the log was altered: restore it from the ceremony's archive`,
                    );
                }
            });
    }
}
