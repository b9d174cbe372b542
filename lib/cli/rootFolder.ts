/**
 * The offline root's folder (on the offline machine's removable medium): root.key (encrypted,
 * 0600), root.crt, and issuance.log, the append-only record of everything the root signed. The
 * folder must be its owner's alone (0700) and never a link, and is kept out of git work trees.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    codeOf,
    entryAt,
    gitWorkTreeOf,
    hardLinksCommand,
    makePrivateFolder,
    othersUid,
    PRIVATE_FILE,
    realPath,
    shellWord,
    syncToMedium,
    writeNewFile,
} from "../files";
import { weakRootKeyEncryption } from "../pki/ceremony";
import { RootTrustDomain } from "../plan/hierarchy";
import { RenderLock, RenderLockError, takeLock } from "../render/stateLock";

export const ROOT_KEY = "root.key";
export const ROOT_CERT = "root.crt";
export const ISSUANCE_LOG = "issuance.log";
/** What init-root leaves in a root folder, all three: a root whole. */
const ROOT_FILES = [ROOT_KEY, ROOT_CERT, ISSUANCE_LOG] as const;
/**
 * Where a lost root key comes back from, as the README's "After each ceremony" keeps it: the
 * write-once archive is for what may be read, the key stays on the encrypted media alone.
 */
export const WHERE_THE_KEY_IS = `the write-once archive holds ${ROOT_CERT} and ${ISSUANCE_LOG}, never the key: README, "After each ceremony"`;
/** The lock sign and crl take inside the root folder (its parent may be closed to the user, as /media/<user> is). */
const CEREMONY_LOCK = ".ceremony.lock";

const { O_RDONLY, O_RDWR, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY, W_OK, X_OK } = fs.constants;

/** A line of issuance.log for a certificate the root signed (itself included). */
export interface CertificateRecord {
    readonly time: string;
    readonly event: "root" | "certificate";
    readonly environment: string;
    readonly trustDomain: RootTrustDomain;
    /**
     * The serial of the root that signed it, binding the record to that root: a root re-made under
     * the same name has the same environment, trust domain and subject, so only this tells its
     * records apart. Absent in the root's own record, and in older logs.
     */
    readonly rootSerial?: string;
    readonly serial: string;
    readonly subject: string;
    readonly spkiSha256: string;
    /** When the certificate starts to be valid: a revocation of it is never dated earlier. */
    readonly notBefore: string;
    readonly notAfter: string;
    /**
     * The serials of the earlier certificates of its key this one replaces (sign --reissue): crl
     * signs no series until they are revoked. Absent when it replaces none, and in older logs.
     */
    readonly replaces?: readonly string[];
}

/** A line of issuance.log for a CRL the root signed. */
export interface CrlRecord {
    readonly time: string;
    readonly event: "crl";
    readonly environment: string;
    readonly trustDomain: RootTrustDomain;
    /** The serial of the root that signed it (see CertificateRecord); absent in older logs. */
    readonly rootSerial?: string;
    readonly crlNumber: number;
    readonly issuer: string;
    readonly thisUpdate: string;
    readonly nextUpdate: string;
    readonly revoked: readonly { readonly serial: string; readonly reason: string; readonly revokedAt: string }[];
}

/** One line of issuance.log: what the root signed, when, for which environment and trust domain. */
export type LogRecord = CertificateRecord | CrlRecord;

const isString = (value: unknown): value is string => typeof value === "string";
const isStringOrAbsent = (value: unknown): boolean => value === undefined || isString(value);

const isRevocation = (value: unknown): boolean =>
    typeof value === "object" &&
    value !== null &&
    ["serial", "reason", "revokedAt"].every((field) => isString((value as Record<string, unknown>)[field]));

/**
 * True when `value` has the fields of a record, of the types the ceremony reads: a line that
 * parses but lacks one (a list of revocations, a CRL number) would otherwise fail as a JavaScript
 * error, or number a CRL from a string. Fields older logs lack (trust domain, root serial,
 * notBefore, issuer, replaces) may be absent; the ceremony words what their absence means.
 */
function isLogRecord(value: unknown): value is LogRecord {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const record = value as Record<string, unknown>;
    const common =
        isString(record.time) &&
        isString(record.environment) &&
        isStringOrAbsent(record.trustDomain) &&
        isStringOrAbsent(record.rootSerial);
    if (!common) return false;
    if (record.event === "root" || record.event === "certificate") {
        const { replaces } = record;
        return (
            [record.serial, record.subject, record.spkiSha256, record.notAfter].every(isString) &&
            isStringOrAbsent(record.notBefore) &&
            (replaces === undefined || (Array.isArray(replaces) && replaces.every(isString)))
        );
    }
    if (record.event === "crl") {
        const { crlNumber, revoked } = record;
        return (
            Number.isSafeInteger(crlNumber) &&
            (crlNumber as number) >= 1 &&
            isStringOrAbsent(record.issuer) &&
            [record.thisUpdate, record.nextUpdate].every(isString) &&
            Array.isArray(revoked) &&
            revoked.every(isRevocation)
        );
    }
    return false;
}

/**
 * The folder `dir` as the ceremony checks and opens it: without trailing slashes or "." parts.
 * Named "lnk/", a link is followed even by lstat and O_NOFOLLOW, so the folder checked would not
 * be a link while the one written to is its target.
 */
function folderPath(dir: string): string {
    const normal = path.normalize(dir);
    return normal.length > 1 ? normal.replace(/\/+$/, "") : normal;
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
function checkPrivateFolder(typed: string, dir: string, option: string, stat: fs.Stats): void {
    if (stat.isSymbolicLink()) {
        throw new Error(
            `${option} ${typed} is a symbolic link; the ceremony never works through a link: give the real folder`,
        );
    }
    if (!stat.isDirectory()) throw new Error(`${option} ${typed} is not a folder`);
    const owner = othersUid(stat);
    if (owner !== undefined) {
        // The commands name `dir` (folderPath's): "D/" would make the copy D/.copy, inside D itself.
        throw new Error(anotherUsers(`${option} ${typed}`, dir, owner, process.getuid?.() as number, true));
    }
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
        throw new Error(
            `${option} ${typed} has mode 0${mode.toString(8)}: others may read or replace what it holds. The ceremony refuses rather than fixes it, ` +
                `since a chmod would not undo what they may have done: check its content, then run chmod 700 ${dir}`,
        );
    }
}

/** Whether `access` grants the ceremony's user `mode` on `target`. */
function mayAccess(target: string, mode: number): boolean {
    try {
        fs.accessSync(target, mode);
        return true;
    } catch {
        return false;
    }
}

/**
 * Whether the ceremony's user can put a copy of `target` (a root folder or one of its files) in its
 * place on the medium: read it (a folder, and what it holds), and, for a folder, remove it after.
 * A key of another user's alone (0600) cannot be read, so only a chown fixes it.
 */
function copyableInPlace(target: string, folder: boolean): boolean {
    const { R_OK } = fs.constants;
    if (!folder) return mayAccess(target, R_OK);
    return (
        mayAccess(target, R_OK | W_OK | X_OK) &&
        mayAccess(path.dirname(target), W_OK | X_OK) &&
        fs.readdirSync(target).every((name) => mayAccess(path.join(target, name), R_OK))
    );
}

/**
 * What to check in a root folder (none in init-root's empty --out) or file another user owned, from the README's ceremony section
 * ("After each ceremony"): what may be read is checked against the archive and the change request;
 * the key the ceremony checks itself against root.crt, but a read of it no check can see.
 */
function checksOf(file: string, folder: boolean): string {
    const cert = `${ROOT_CERT} against the write-once archive's`;
    const log = `${ISSUANCE_LOG}'s SHA-256 against the one the change request records`;
    const key = `read ${ROOT_KEY} (with the passphrase within reach, it leaked: README, "When a key leaks") or replaced it (the ceremony checks it against ${ROOT_CERT} when it unlocks it)`;
    if (folder) {
        // A folder the user cannot list may hold a root; an empty one (init-root's --out) holds nothing to check.
        const holdsRoot = !mayAccess(file, fs.constants.R_OK) || fs.readdirSync(file).includes(ROOT_CERT);
        return holdsRoot ? ` Then check ${cert} and ${log}; that user may also have ${key}` : "";
    }
    const name = path.basename(file);
    return name === ROOT_KEY ? ` That user may have ${key}` : ` Then check ${name === ROOT_CERT ? cert : log}`;
}

/**
 * The refusal of a root folder or file (`named`, at `file`) owned by uid `owner`, not by the
 * ceremony's `uid`. Its fix is an administrator's chown or, where the user can read it, a copy in
 * its place on the medium (never elsewhere: a copy of the folder holds the key); never the
 * ceremony run as root (sudo) or as that user: that would hand it a folder someone else could have
 * changed, and a root key to a shell with every right.
 */
function anotherUsers(named: string, file: string, owner: number, uid: number, folder: boolean): string {
    const word = shellWord(file);
    // umask 077: cp keeps the source's group and other bits less the umask, and a folder or file the
    // user could read has some; the copy must be the owner's alone, as the ceremony requires. A
    // .copy left by a cp that failed is removed first: cp -r would copy into it, nesting the folder.
    // rm -rf: no question about the original's write-protected files once the copy is whole.
    const spare = shellWord(`${file}.copy`);
    const copy = folder
        ? `rm -rf ${spare} && (umask 077 && cp -r ${word} ${spare}) && rm -rf ${word} && mv ${spare} ${word}`
        : `rm -f ${spare} && (umask 077 && cp ${word} ${spare}) && mv ${spare} ${word}`;
    const orCopy = copyableInPlace(file, folder)
        ? `, or put a copy in its place on the medium as uid ${uid} (${copy})`
        : "";
    return (
        `${named} belongs to another user (uid ${owner}), not to the ceremony's (uid ${uid}). ` +
        `Have an administrator of the medium give it to uid ${uid} (chown${folder ? " -R" : ""} ${uid} ${word})${orCopy}; ` +
        `never run the ceremony as that user or with sudo to get past this.${checksOf(file, folder)}`
    );
}

/**
 * Opens an existing file of a root folder without following a link. It must be the user's own (an
 * owner may change its mode or content at will) and have no other hard link, which would reach it
 * from outside the private folder; one holding a key must also be its owner's alone.
 */
function openExisting(file: string, flags: number, privateFile: boolean): number {
    let fd: number;
    try {
        // O_NONBLOCK: a FIFO planted at the path must not hang the open (it is refused below).
        fd = fs.openSync(file, flags | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
        if (codeOf(error) === "ENOENT") {
            const dir = path.dirname(file);
            throw new Error(
                path.basename(file) === ROOT_KEY
                    ? `${file} is missing: init-root left the root's key, encrypted, in the root folder ${dir} as ${ROOT_KEY}; ` +
                          `copy it back into ${dir} from the ceremony medium's backup, as the ceremony's user, mode 0600 (${WHERE_THE_KEY_IS})`
                    : `${file} is missing; a root folder holds ${ROOT_KEY}, ${ROOT_CERT} and ${ISSUANCE_LOG}: restore it from the ceremony's archive`,
            );
        }
        if (codeOf(error) === "ELOOP") {
            throw new Error(`${file} is a symbolic link; the ceremony never reads or writes through a link`);
        }
        // Another user's file closed to this one (their 0600 key): say whose it is, not only EACCES.
        const uid = process.getuid?.();
        const owner = codeOf(error) === "EACCES" ? entryAt(file)?.uid : undefined;
        if (uid !== undefined && owner !== undefined && owner !== uid) {
            throw new Error(anotherUsers(file, file, owner, uid, false));
        }
        throw new Error(`cannot open ${file} (${codeOf(error)})`);
    }
    const stat = fs.fstatSync(fd);
    const mode = stat.mode & 0o777;
    const owner = othersUid(stat);
    const problem = !stat.isFile()
        ? `${file} is not a regular file`
        : owner !== undefined
          ? anotherUsers(file, file, owner, process.getuid?.() as number, false)
          : stat.nlink > 1
            ? `${file} has ${stat.nlink} hard links, so it is reached from outside its folder too; find them (${hardLinksCommand(file)}), check the file, and remove every other link`
            : privateFile && (mode & 0o077) !== 0
              ? `${file} has mode 0${mode.toString(8)}; only its owner may read or write it: check it, then run chmod 600 ${shellWord(file)}`
              : undefined;
    if (problem !== undefined) {
        fs.closeSync(fd);
        throw new Error(problem);
    }
    return fd;
}

function readExisting(file: string, privateFile: boolean): string {
    return readExistingBytes(file, privateFile).toString("utf8");
}

function readExistingBytes(file: string, privateFile: boolean): Buffer {
    const fd = openExisting(file, O_RDONLY, privateFile);
    try {
        return fs.readFileSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

/** A record as the log holds it: one line of JSON. */
const logLine = (record: LogRecord): string => `${JSON.stringify(record)}\n`;

/**
 * The issuance log as one read of it gave it: its records are parsed from the very bytes its SHA-256
 * is of, so what a ceremony checks (the log of its root, the compromised keys, the CRL numbers) is
 * what the change request's SHA-256 vouches for. Only RootFolder.lock reads the log for a command.
 */
export class IssuanceLog {
    private constructor(
        readonly file: string,
        private readonly bytes: Buffer,
        readonly records: readonly LogRecord[],
        /** Where each record's line ends (after its newline): the prefixes at record boundaries. */
        private readonly ends: readonly number[],
    ) {}

    /** How many of its last records this command appended (appended): 0 for a log as read. */
    private appendedHere = 0;

    /**
     * The records this command appended, each named by its line and serial (a CRL by its number),
     * e.g. "line 4 (certificate serial 1A2B)": those a refusal must never tell to drop.
     */
    appendedRecords(): string[] {
        const first = this.records.length - this.appendedHere;
        return this.records.slice(first).map((record, i) => namedRecord(this.bytes, this.ends[first + i], record));
    }

    /** The line of the file (from 1, blank lines counted) record `index` (from 0) is on. */
    lineOf(index: number): number {
        return lineAt(this.bytes, this.ends[index]);
    }

    /** The log of `bytes` (read from `file`), or an error naming the first line that is no record. */
    static parse(file: string, bytes: Buffer): IssuanceLog {
        const records: LogRecord[] = [];
        const ends: number[] = [];
        let start = 0;
        while (start < bytes.length) {
            const newline = bytes.indexOf(0x0a, start);
            const end = newline === -1 ? bytes.length : newline + 1;
            // A newline is never inside a UTF-8 sequence: each line decodes as the whole file would.
            const line = bytes.subarray(start, newline === -1 ? bytes.length : newline).toString("utf8");
            start = end;
            if (line === "") continue;
            if (newline === -1) throw new Error(lastLineRefusal(file, bytes, records, ends, line));
            let record: unknown;
            try {
                record = JSON.parse(line);
            } catch {
                record = undefined;
            }
            if (!isLogRecord(record)) {
                throw new Error(
                    `${file} line ${lineAt(bytes, end)} is not a record of this ceremony; the log was altered: restore it from the ceremony's archive`,
                );
            }
            records.push(record);
            ends.push(end);
        }
        return new IssuanceLog(file, bytes, records, ends);
    }

    /** The log init-root starts with `record`. */
    static started(file: string, record: LogRecord): IssuanceLog {
        return IssuanceLog.parse(file, Buffer.from(logLine(record)));
    }

    /** The SHA-256 of the log's bytes, in hex (what sha256sum prints for it). */
    get sha256(): string {
        return sha256Hex(this.bytes);
    }

    /**
     * How many of its first records (fewer than all) the bytes of which have SHA-256 `sha256`: the log
     * only grew since that SHA-256 was taken. Undefined when no such prefix has it.
     */
    recordsBefore(sha256: string): number | undefined {
        // One pass front to back, the hash so far taken at each record's end: hashing each prefix
        // from byte 0 took seconds on a log of thousands of records.
        const hash = crypto.createHash("sha256");
        let start = 0;
        for (const [index, end] of this.ends.slice(0, -1).entries()) {
            hash.update(this.bytes.subarray(start, end));
            start = end;
            if (hash.copy().digest("hex") === sha256) return index + 1;
        }
        return undefined;
    }

    /** Whether `bytes` are this log's. */
    same(bytes: Buffer): boolean {
        return bytes.equals(this.bytes);
    }

    /** The log once `records` are appended to it, as RootFolder.appendLog writes them. */
    appended(records: readonly LogRecord[]): IssuanceLog {
        const log = IssuanceLog.parse(
            this.file,
            Buffer.concat([this.bytes, Buffer.from(records.map(logLine).join(""))]),
        );
        log.appendedHere = this.appendedHere + records.length;
        return log;
    }
}

/**
 * The refusal of appendLog when the log changed since this command read or appended to it: its
 * message says all that is to be done (for a ceremony that appended already, the SHA-256 to record
 * is that of the log as it left it, not the file's).
 */
export class LogChangedError extends Error {}

/** The line (from 1) of `bytes` that ends at `end` (after its newline, or at the end of the bytes). */
function lineAt(bytes: Buffer, end: number): number {
    let line = 1;
    for (let at = bytes.indexOf(0x0a); at !== -1 && at < end - 1; at = bytes.indexOf(0x0a, at + 1)) line++;
    return line;
}

/** A record named by its line and what it records, e.g. "line 4 (CRL 3)". */
function namedRecord(bytes: Buffer, end: number, record: LogRecord): string {
    const what = record.event === "crl" ? `CRL ${record.crlNumber}` : `certificate serial ${record.serial}`;
    return `line ${lineAt(bytes, end)} (${what})`;
}

/**
 * The refusal of a log whose last line has no newline. Each append writes its records, each with
 * its newline, in one write, and what they record only after: one crl its whole series (records of
 * one run share their time), one sign each certificate's record alone. So a cut append leaves a
 * partial last line, and may leave before it whole records of the same crl run: none of what they
 * record was written out. A last line that is a whole record may instead be one an editor saved
 * without its final newline, and what it records was written: only looking for it tells which.
 */
function lastLineRefusal(
    file: string,
    bytes: Buffer,
    records: readonly LogRecord[],
    ends: readonly number[],
    line: string,
): string {
    const never = "then run the command again; never restore the log from the archive over it";
    // The whole crl records just before the last line sharing `time`: of its run, if it is a crl's.
    const sameRun = (time: string | undefined): string[] => {
        const run: string[] = [];
        for (let i = records.length - 1; i >= 0; i--) {
            const record = records[i];
            if (record.event !== "crl" || record.time !== time) break;
            run.unshift(namedRecord(bytes, ends[i], record));
        }
        return run;
    };
    const lastLine = lineAt(bytes, bytes.length);
    let parsed: unknown;
    try {
        parsed = JSON.parse(line);
    } catch {
        parsed = undefined;
    }
    if (isLogRecord(parsed)) {
        const record: LogRecord = parsed;
        const isCrl = record.event === "crl";
        const what =
            record.event === "crl" ? `CRL ${record.crlNumber}` : `the certificate with serial ${record.serial}`;
        const command = record.event === "certificate" ? "sign" : record.event === "root" ? "init-root" : "crl";
        const where =
            record.event === "root"
                ? `as ${ROOT_CERT} in the root folder`
                : `in the ${isCrl ? "--out file" : "certificate file"} the ${command} that logged it wrote`;
        const run = isCrl ? sameRun(record.time) : [];
        const alsoRun =
            run.length > 0
                ? ` together with ${run.join(", ")}, whole records of the same crl run (time ${record.time}), whose CRLs were not written out either`
                : "";
        return (
            `${file} line ${lastLine}, its last, is a whole record of ${what} without its newline: either an editor saved the log without its final newline (and ${what} was written out), or a power cut stopped the ${command} that appended it just before its newline (and ${what} was never written out). ` +
            `Look for ${what} ${where}, or on the ceremony's archive: if it is there, add the newline back (echo >> ${file}); ` +
            `if it is not, remove that line${alsoRun} (keep every line before ${run.length > 0 ? "them" : "it"}: they record what the root really signed); ${never}`
        );
    }
    const time = /^\{"time":"([^"]*)"/.exec(line)?.[1];
    const cut = `${file} line ${lastLine}, its last, has no newline and is no whole record: it is a record whose writing was cut (a power cut), and what it records was never written out. `;
    if (time !== undefined) {
        const run = sameRun(time);
        if (run.length === 0) {
            return `${cut}Remove that partial last line alone (keep every line before it: they record what the root really signed), ${never}`;
        }
        return (
            `${cut}Remove it together with ${run.join(", ")}: whole records the same crl run appended in the same write (time ${time}), whose CRLs were never written out either ` +
            `(keep every line before them: they record what the root really signed), ${never}`
        );
    }
    // Cut inside its time: the crl records before it may be of its run, or of a whole earlier one.
    const last = records.at(-1);
    const run = last?.event === "crl" ? sameRun(last.time) : [];
    if (run.length === 0) {
        return `${cut}Remove that partial last line alone (keep every line before it: they record what the root really signed), ${never}`;
    }
    const first = records[records.length - run.length] as CrlRecord;
    return (
        `${cut}Remove that partial last line; ${run.join(", ")} may be of the same crl run (the line is cut before its time, which would tell): ` +
        `look for CRL ${first.crlNumber} in the --out file of the crl that logged it, or on the ceremony's archive: if it is not there, remove those lines too, as a crl writes its CRLs only once all its records are whole ` +
        `(keep every line before them: they record what the root really signed); ${never}`
    );
}

const sha256Hex = (bytes: Buffer): string => crypto.createHash("sha256").update(bytes).digest("hex");

/** A ceremony's hold of its root folder (RootFolder.lock), with the log as read under it. */
export interface CeremonyLock {
    readonly log: IssuanceLog;
    release(): void;
}

/** The end of a staging folder's name beside a new root folder, after `.<its name>.`: 12 random hex digits. */
const STAGING_SUFFIX = /^[0-9a-f]{12}\.tmp$/;

/**
 * The staging folder of init-root inside an existing root folder. Its mkdir also keeps a second
 * init-root into the same folder out until the first is done.
 */
export const STAGING_INSIDE = ".init-root.tmp";

/**
 * The staging folders init-root left when it was stopped before it finished (kill -9, a power
 * cut), inside the root folder `dir` (STAGING_INSIDE) or beside it (`.<name>.<12 hex>.tmp`): each
 * holds the key of a root that was never shown or used. None beside it when its parent folder
 * cannot be listed. A folder of that name another user owns is none: init-root makes its staging
 * folder as the ceremony's user, so that user's init-root never left it, and it is passed over
 * rather than refused, so that no other user who may write to the parent (a shared medium, a
 * sticky /tmp) can stop every ceremony on a root by making one. It is never read, moved or
 * removed, and the new staging folder's random name keeps clear of it.
 */
function leftoverStagings(dir: string): string[] {
    const inside = path.join(dir, STAGING_INSIDE);
    const parent = path.dirname(path.resolve(dir));
    const prefix = `.${path.basename(path.resolve(dir))}.`;
    let names: string[] = [];
    try {
        names = fs.readdirSync(parent);
    } catch {
        // Beside it, none can be named.
    }
    const ours = (folder: string): boolean => {
        let stat: fs.Stats | undefined;
        try {
            stat = entryAt(folder);
        } catch {
            return false; // a parent that may be listed but not searched: none can be named
        }
        return stat?.isDirectory() === true && othersUid(stat) === undefined;
    };
    return [
        inside,
        ...names
            .filter((name) => name.startsWith(prefix) && STAGING_SUFFIX.test(name.slice(prefix.length)))
            .map((name) => path.join(parent, name)),
    ].filter(ours);
}

/**
 * Refuses a root folder in or beside which an init-root stopped half-way left its staging folder;
 * `entries` are the root folder's, when it exists: those besides the staging folder inside it are
 * to go too, unless they are a whole root. A root is whole only once init-root put it in place (a
 * rename of its staging folder, or its key moved in last), so a staging folder left with one is
 * no part of it (one beside it is another init-root's; one inside it was left empty after the
 * moves). Nor is one beside a folder that holds anything: init-root renames a staging folder
 * beside only to a folder that is not there. Either is to go alone, never what the folder holds.
 */
function checkNoLeftover(typed: string, dir: string, option: string, entries: readonly string[]): void {
    const [leftover] = leftoverStagings(dir);
    if (leftover === undefined) return;
    const whole = ROOT_FILES.every((name) => entries.includes(name));
    const inside = leftover === path.join(dir, STAGING_INSIDE);
    if (whole && inside) {
        // Its own staging folder goes last, after the root's files are moved out of it and before
        // the root is shown: that root was never shown to the custodians. Made again, it is
        // witnessed; kept, it would be taken on files no one saw made. Its log tells whether it
        // signed anything since (which only a folder made by hand there would let it do).
        const log = path.join(dir, ISSUANCE_LOG);
        const files = ROOT_FILES.map((name) => path.join(dir, name)).join(" ");
        throw new Error(
            `${option} ${typed} holds a whole root (${ROOT_FILES.join(", ")}) and ${leftover}: an init-root into it was stopped (kill -9, a power cut) after it put the root in place and before it removed that staging folder and showed the root to the custodians, so no one recorded its serial or SPKI SHA-256. ` +
                `If ${log} holds one line (the root's own record: it signed nothing), destroy that root (rm -r ${leftover} ${files}) and run init-root again; ` +
                `if it holds more, the root signed since: destroy that folder alone (rm -r ${leftover}) and keep ${typed} as it is`,
        );
    }
    if (whole || (!inside && entries.length > 0)) {
        const [held, part, why] = whole
            ? [`a whole root (${ROOT_FILES.join(", ")})`, "that root", "init-root puts a root in place only whole"]
            : [entries.join(", "), "what it holds", "init-root renames it into place only where no folder is"];
        throw new Error(
            `${option} ${typed} holds ${held}, and an init-root stopped before it finished (kill -9, a power cut) left ${leftover}, ` +
                `a staging folder that is no part of ${part} (${why}): destroy that folder alone (rm -r ${leftover}), with any key of a root never shown or used it holds, and keep ${typed} as it is`,
        );
    }
    const fix = entries.some((name) => name !== STAGING_INSIDE) ? ` and empty ${typed}` : "";
    throw new Error(
        `${option} ${typed}: an init-root into it was stopped before it finished (kill -9, a power cut) and left ${leftover}, ` +
            `with the key of a root that was never shown or used: destroy it (rm -r ${leftover})${fix}, then run init-root again`,
    );
}

/**
 * Refuses a folder holding root.key without root.crt and issuance.log: what an earlier version's
 * init-root left when it was stopped half-way (it wrote the key first, in place). Whether that is
 * so, or the rest of a real root was lost, only the people at the ceremony can tell.
 */
function checkNotKeyAlone(typed: string, dir: string, option: string, entries: readonly string[]): void {
    if (entries.includes(ROOT_KEY) && !entries.includes(ROOT_CERT) && !entries.includes(ISSUANCE_LOG)) {
        throw new Error(
            `${option} ${typed} holds ${ROOT_KEY} without ${ROOT_CERT} and ${ISSUANCE_LOG}: an init-root of an earlier version that was stopped before it finished left that, ` +
                `and the key was never certified: destroy it (rm ${path.join(dir, ROOT_KEY)}) and run init-root again; if this folder held a real root, restore it from the ceremony's archive instead`,
        );
    }
}

/**
 * The error code of a folder the user may not create entries in (a read-only medium, mode 0500,
 * a parent such as /media/<user> that only root writes to), or undefined.
 */
function unwritable(folder: string): string | undefined {
    try {
        fs.accessSync(folder, W_OK | X_OK);
        return undefined;
    } catch (error) {
        return codeOf(error);
    }
}

/**
 * A new root being written by init-root: its files go into a fresh 0700 staging folder, are
 * synced, and `commit` puts them in place. A new root folder is the staging folder, made beside
 * it and renamed to it. Into an existing empty folder, the files are staged inside it
 * (STAGING_INSIDE) and moved up, root.key last: it may be a mount point (a USB medium, a tmpfs),
 * on another file system than its parent, and its parent closed to the user. Stopped at any
 * point, even by kill -9, it leaves no key in the root folder without its certificate and log,
 * and the staging folder left says what happened (checkNew, open).
 */
export class NewRootFolder {
    private readonly moved: string[] = [];

    private constructor(
        private readonly staging: string,
        private readonly dir: string,
        private readonly existing: boolean,
    ) {}

    static make(dir: string, existing: boolean): NewRootFolder {
        const absolute = path.resolve(dir);
        const random = crypto.randomBytes(6).toString("hex");
        const staging = existing
            ? path.join(absolute, STAGING_INSIDE)
            : path.join(path.dirname(absolute), `.${path.basename(absolute)}.${random}.tmp`);
        fs.mkdirSync(staging, { mode: 0o700 }); // fails if anything is there
        makePrivateFolder(staging); // 0700 whatever the umask
        return new NewRootFolder(staging, dir, existing);
    }

    /** Creates a file of the new root, exclusively, never through a link, and synced with the staging folder. */
    writeNew(name: string, content: string, mode: number): void {
        writeNewFile(path.join(this.staging, name), content, mode, true);
    }

    /** Starts the issuance log with its first record. */
    startLog(record: LogRecord): void {
        this.writeNew(ISSUANCE_LOG, logLine(record), PRIVATE_FILE);
    }

    /** Puts the new root in place, and returns its folder. */
    commit(): RootFolder {
        // The staging folder's entries are on the medium: writeNew synced it after each file.
        if (!this.existing) {
            fs.renameSync(this.staging, this.dir);
            syncToMedium(path.dirname(path.resolve(this.dir)), O_DIRECTORY);
            return RootFolder.made(this.dir);
        }
        for (const name of [ROOT_CERT, ISSUANCE_LOG, ROOT_KEY]) {
            const target = path.join(this.dir, name);
            // On the medium before the key, even after a power cut.
            if (name === ROOT_KEY) syncToMedium(this.dir, O_DIRECTORY);
            // A rename (FAT has no hard links) replaces what is at its path, so nothing may be: no
            // other init-root puts anything there meanwhile (the staging folder keeps it out).
            if (entryAt(target) !== undefined) {
                throw Object.assign(new Error(`${target} exists`), { code: "EEXIST" });
            }
            fs.renameSync(path.join(this.staging, name), target);
            this.moved.push(name);
        }
        fs.rmdirSync(this.staging);
        syncToMedium(this.dir, O_DIRECTORY);
        return RootFolder.made(this.dir);
    }

    /**
     * Removes what was written of the new root (the staging folder, and what was moved into an
     * existing folder); throws nothing. For an init-root that failed half-way: nothing of the
     * root was shown or signed yet.
     */
    remove(): void {
        try {
            for (const name of this.moved) fs.rmSync(path.join(this.dir, name), { force: true });
            fs.rmSync(this.staging, { recursive: true, force: true });
        } catch {
            // The medium takes no change: left as it is, and the next init-root names the staging folder.
        }
    }
}

export class RootFolder {
    /** How root.key is encrypted when weaker than init-root encrypts it (weakRootKeyEncryption), as open() read it. */
    private weakKey: ReturnType<typeof weakRootKeyEncryption>;

    private constructor(readonly dir: string) {}

    /** What open() found weaker in root.key's encryption than init-root's, or undefined. */
    get weakKeyEncryption(): ReturnType<typeof weakRootKeyEncryption> {
        return this.weakKey;
    }

    /** The folder of a root init-root has just put in place. */
    static made(dir: string): RootFolder {
        return new RootFolder(dir);
    }

    /**
     * Checks that init-root may make a root in `typed` (a new folder in an existing one, or an empty
     * private folder), before any passphrase is asked or key made; `make` then starts writing it.
     */
    static checkNew(typed: string, allowGit: boolean): { make(): NewRootFolder } {
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
            checkPrivateFolder(typed, dir, "--out", existing);
            const entries = fs.readdirSync(dir);
            checkNoLeftover(typed, dir, "--out", entries);
            checkNotKeyAlone(typed, dir, "--out", entries);
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
        // Checked now, before any passphrase is asked or key made.
        const code = unwritable(existing === undefined ? parent : dir);
        const readOnly = code === "EROFS" ? "mount the medium read-write or " : "";
        if (existing === undefined) {
            checkNoLeftover(typed, dir, "--out", []);
            if (code !== undefined) {
                throw new Error(
                    `--out ${typed}: the folder ${parent} takes no new folder (${code}); ${readOnly}give --out an empty 0700 folder of yours (such as a medium mounted for you) or a new one in a folder you can write to`,
                );
            }
        } else if (code !== undefined) {
            throw new Error(
                `--out ${typed} takes no new file (${code}); ${readOnly || `make it writable (chmod 700 ${typed}) or `}give --out another folder`,
            );
        }
        return { make: () => NewRootFolder.make(dir, existing !== undefined) };
    }

    /** An existing root folder, checked: private, outside git, with its three files. */
    static open(typed: string, allowGit: boolean): RootFolder {
        checkOutsideGit(typed, "--root", allowGit);
        const dir = folderPath(typed);
        const stat = entryAt(dir);
        if (stat === undefined) {
            checkNoLeftover(typed, dir, "--root", []);
            throw new Error(`--root ${typed}: no such folder; give the folder init-root made`);
        }
        checkPrivateFolder(typed, dir, "--root", stat);
        const entries = fs.readdirSync(dir);
        checkNoLeftover(typed, dir, "--root", entries);
        checkNotKeyAlone(typed, dir, "--root", entries);
        if (!ROOT_FILES.some((name) => entries.includes(name))) {
            throw new Error(
                `--root ${typed} holds no root (none of ${ROOT_FILES.join(", ")}): give the folder init-root made`,
            );
        }
        const folder = new RootFolder(dir);
        folder.readLog(); // a missing, linked, loose or altered log stops the ceremony before anything is signed (read again under the lock)
        // A key or certificate that is missing, linked or loose, or a key file that is no one
        // encrypted key (cut short, say), stops it before anything is shown or asked, not after the
        // people have read the review and typed their confirmation and the passphrase. Read once
        // here, without the passphrase, for how it is encrypted too.
        folder.weakKey = weakRootKeyEncryption(folder.readEncryptedKey(), folder.path(ROOT_KEY));
        folder.readCertificate();
        return folder;
    }

    /**
     * Takes the folder's lock (CEREMONY_LOCK) as render takes its own (lib/render/stateLock.ts), or
     * throws one line naming who holds it and the fix. sign and crl hold it from before they read
     * the log until what they signed is appended: two commands on one folder would otherwise both
     * number CRLs on from the same last one, or both certify one key, each unseen by the other.
     */
    lock(): CeremonyLock {
        const lock = this.takeLock();
        try {
            return { log: this.readLog(), release: () => lock.release() };
        } catch (error) {
            lock.release();
            throw error;
        }
    }

    private takeLock(): RenderLock {
        const file = this.path(CEREMONY_LOCK);
        try {
            return takeLock(file, { name: `--root ${this.dir}`, use: "uses this root folder", by: "ceremony command" });
        } catch (error) {
            if (error instanceof RenderLockError) throw error;
            const code = codeOf(error);
            const fix =
                code === "EROFS"
                    ? "mount the medium read-write"
                    : code === "ENOSPC" || code === "EDQUOT"
                      ? "free space on the medium"
                      : `make it writable (chmod 700 ${this.dir})`;
            throw new Error(`--root ${this.dir} takes no new file (${code} creating its lock ${file}); ${fix}`);
        }
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

    /**
     * Appends records to `log` (the lock's), all or none, and returns the log with them: the log is
     * opened O_APPEND (never rewritten), without following a link, and synced. A log whose bytes are
     * no longer `log`'s (replaced or edited since the lock read it) is refused, nothing appended.
     * Records that cannot be written whole (a full medium) are cut off again, leaving the log as it
     * was, and the system error is thrown.
     */
    appendLog(log: IssuanceLog, ...records: LogRecord[]): IssuanceLog {
        const fd = openExisting(this.path(ISSUANCE_LOG), O_RDWR | O_APPEND, true);
        let read: Buffer;
        try {
            read = fs.readFileSync(fd);
        } catch (error) {
            fs.closeSync(fd);
            throw error;
        }
        if (!log.same(read)) {
            fs.closeSync(fd);
            const added = log.appendedRecords();
            if (added.length === 0) {
                throw new LogChangedError(
                    `${log.file} changed while this command held it (SHA-256 ${sha256Hex(read)}, read as ${log.sha256}); nothing was appended: ` +
                        `something other than the ceremony writes to the root folder: find it, compare the log with its copies on the write-once archive, and put the archived one back`,
                );
            }
            // The archived log lacks what this command appended: certificates really issued.
            const count = `${log.records.length} record${log.records.length === 1 ? "" : "s"}`;
            throw new LogChangedError(
                `${log.file} changed while this command held it: its SHA-256 is ${sha256Hex(read)}, not ${log.sha256} as this command left it (${count}, the last ${added.length} appended by this command: ${added.join(", ")}); nothing more was appended: ` +
                    `something other than the ceremony writes to the root folder: find it, then restore the log to the one this command left, SHA-256 ${log.sha256}, with the records it appended ` +
                    `(never put back an archived log without them: they record certificates really issued), and record that SHA-256 in the change request`,
            );
        }
        this.writeRecords(fd, records);
        return log.appended(records);
    }

    private writeRecords(fd: number, records: LogRecord[]): void {
        try {
            const size = fs.fstatSync(fd).size;
            try {
                // writeFileSync writes all of it or throws (writeSync may write part and say so).
                fs.writeFileSync(fd, records.map(logLine).join(""));
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

    /** The log, read once and parsed (IssuanceLog): for the checks of open, and for the lock. */
    private readLog(): IssuanceLog {
        const file = this.path(ISSUANCE_LOG);
        return IssuanceLog.parse(file, readExistingBytes(file, true));
    }
}
