/**
 * Writing files that may hold keys, shared by render and the ceremony: created exclusively and
 * never through a link (O_CREAT|O_EXCL|O_NOFOLLOW) with an exact mode, in 0700 folders, whatever
 * the umask or an earlier run left.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ErrorCode, YAMLError } from "yaml";
import { untilDone } from "./interrupt";

export const PRIVATE_FILE = 0o600;
export const PUBLIC_FILE = 0o644;
export const PRIVATE_FOLDER = 0o700;
/** The sticky bit of a folder's mode: in it, only an entry's owner (or root) may rename or remove it. */
const STICKY = 0o1000;

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY, O_RDONLY, O_DIRECTORY, O_NONBLOCK } = fs.constants;

/** The error code of a failed system call (ENOENT, EACCES...), for messages. */
export function codeOf(error: unknown): string {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/**
 * Why the system would not let `command` read a path, and what to do, by error code: one line,
 * never Node's message, which repeats the path with the system call. Another error (one of ours,
 * such as utf8Text's) by its own message.
 */
export function unreadableReason(error: unknown, command: string): string {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) return (error as Error).message;
    const reasons: Record<string, string> = {
        EACCES: `permission denied (EACCES); run ${command} as a user who may read it`,
        EPERM: `permission denied (EPERM); run ${command} as a user who may read it`,
        ELOOP: "it is a link that loops (ELOOP); remove the link or point it at a file",
        ENOTDIR: "part of its path is not a folder (ENOTDIR); check the path",
        ENOENT: `it is gone (ENOENT); check that nothing removes files while ${command} runs`,
        ENAMETOOLONG: "its path or a name in it is longer than the system allows (ENAMETOOLONG); check the path",
    };
    return Object.hasOwn(reasons, code) ? reasons[code] : `the system refused (${code})`;
}

/**
 * Where JSON.parse stopped reading a file, for a refusal (" (broken at character N)", or "" when
 * it does not say): never its own message, which quotes the text there, and a file given by
 * mistake where JSON belongs may be a password or a key.
 */
export function jsonBreak(error: unknown): string {
    const position = /at position ([0-9]+)/.exec((error as Error).message)?.[1];
    return position === undefined ? "" : ` (broken at character ${Number(position) + 1})`;
}

/** What each YAML parse error is, in words of our own: the parser's messages may quote the text. */
const YAML_PROBLEMS: Record<ErrorCode, string> = {
    ALIAS_PROPS: "an alias (*name) with an anchor or tag of its own",
    BAD_ALIAS: "an alias (*name) with no anchor before it",
    BAD_COLLECTION_TYPE: "a tag that does not fit its value",
    BAD_DIRECTIVE: "a directive (%) it cannot read",
    BAD_DQ_ESCAPE: "an invalid escape (\\) in double-quoted text",
    BAD_INDENT: "indentation that does not line up, or a [ or { left open",
    BAD_PROP_ORDER: "an anchor or tag out of place",
    BAD_SCALAR_START: "a plain value starting with a reserved character (@ or `)",
    BLOCK_AS_IMPLICIT_KEY: "a map nested where a single value belongs (a: b: c)",
    BLOCK_IN_FLOW: "a block value inside [ ] or { }",
    DUPLICATE_KEY: "a key repeated in one map",
    IMPOSSIBLE: "text the YAML parser cannot read",
    KEY_OVER_1024_CHARS: "a key longer than 1024 characters",
    MISSING_CHAR: "a missing closing quote or bracket, comma or colon",
    MULTILINE_IMPLICIT_KEY: "a key over several lines (a line that is no key: value?)",
    MULTIPLE_ANCHORS: "two anchors on one value",
    MULTIPLE_DOCS: "several documents (---)",
    MULTIPLE_TAGS: "two tags on one value",
    NON_STRING_KEY: "a key that is not text",
    // The parser's stack ran out (values nested thousands deep), or its alias count did.
    RESOURCE_EXHAUSTION: "values nested too deeply, or copied by aliases too often,",
    TAB_AS_INDENT: "a tab used as indentation",
    TAG_RESOLVE_FAILED: "a tag it cannot resolve",
    UNEXPECTED_TOKEN: "a character or token out of place",
};

/**
 * What a YAML parser error (the `yaml` package's) found and where: its kind and line and column,
 * never its message, which may quote the text there, and a file given by mistake where YAML
 * belongs may be a password or a key (an unresolved alias `*Tr0ub4dor&3` was quoted whole).
 */
export function yamlProblem(error: unknown): string {
    // Node.toJS throws a ReferenceError, without a code or place, for an alias it cannot resolve.
    if (error instanceof ReferenceError) return "an alias (*name) with no anchor before it, or copied too often";
    const { code, linePos } = error as Partial<YAMLError>;
    const what = (code !== undefined && YAML_PROBLEMS[code]) || "text the YAML parser cannot read";
    return linePos === undefined ? what : `${what} at line ${linePos[0].line}, column ${linePos[0].col}`;
}

/**
 * Creates `file` with exactly `mode` and opens it for writing; fails if anything exists at that
 * path, a link included (even a dangling one).
 */
export function createExclusive(file: string, mode: number): number {
    const fd = fs.openSync(file, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY, mode);
    fs.fchmodSync(fd, mode); // the umask may have taken bits off
    return fd;
}

/**
 * Creates `file` exclusively with `mode` and writes `content` to it. When the write fails (a full
 * or failing disk), the file it created is removed before the system error is thrown: no file is
 * left half-written, to be taken for a whole one or to block the next attempt. `synced`: the file
 * is fsynced before it is closed (a failure removes it too), then its folder, so that both its
 * content and its name are on the medium when this returns; render, writing thousands of files
 * it can write again, leaves it off.
 */
export function writeNewFile(file: string, content: string | Buffer, mode: number, synced = false): void {
    const fd = createExclusive(file, mode);
    try {
        fs.writeFileSync(fd, content);
        if (synced) fs.fsyncSync(fd);
    } catch (error) {
        removeCreated(file, fd);
        throw error;
    } finally {
        fs.closeSync(fd);
    }
    if (synced) syncToMedium(path.dirname(file), O_DIRECTORY);
}

/**
 * Flushes a file, or with O_DIRECTORY a folder's entries (what a rename or a new file makes
 * visible), to the medium, never through a link: what it holds must be there after a power cut.
 */
export function syncToMedium(at: string, flags = 0): void {
    const fd = fs.openSync(at, O_RDONLY | O_NOFOLLOW | flags);
    try {
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

/** Removes `file` if it is still the file open as `fd` (not something put at its path since); throws nothing. */
function removeCreated(file: string, fd: number): void {
    try {
        unlinkIfSame(file, fs.fstatSync(fd));
    } catch {
        // Not to be read: the caller's error is the one to report.
    }
}

/**
 * Removes `file` if it is still the file `created` describes, not one put at its path since (by
 * hand, or by another process after removing this one); throws nothing.
 */
export function unlinkIfSame(file: string, created: fs.Stats): void {
    try {
        const now = fs.lstatSync(file);
        if (now.dev === created.dev && now.ino === created.ino) fs.unlinkSync(file);
    } catch {
        // Gone already, or not to be removed.
    }
}

/**
 * A new file that is to replace `file` whole: `commit` writes it, fsyncs it and renames it over
 * `file` (a link or file at `file` is replaced, never written through); `discard` removes it.
 */
export interface Replacement {
    /** The new file's path: a random name beside `file`, `.<name>.<random>.tmp`. */
    readonly temporary: string;
    /** Writes `content`, fsyncs and renames over the file; on any failure removes the new file and throws the system error. */
    commit(content: string | Buffer): void;
    /** Removes the new file if `commit` did not use it. */
    discard(): void;
}

/**
 * Creates, exclusively and with exactly `mode` (createExclusive), the new file that will replace
 * `file`: in the same folder, so the rename is atomic, under a random name (a pid may be reused,
 * and a file a crashed process left must not block the write). Throws the system error when it
 * cannot be created, for the caller to word: callers keep their own refusals and messages.
 */
export function createReplacement(file: string, mode: number): Replacement {
    const temporary = path.join(
        path.dirname(file),
        `.${path.basename(file)}.${crypto.randomBytes(6).toString("hex")}.tmp`,
    );
    let fd: number | undefined = createExclusive(temporary, mode);
    /** Closes the new file if it is still open, and removes it; throws nothing (a caller's error is the one to report). */
    const remove = (): void => {
        done();
        const open = fd;
        fd = undefined;
        try {
            if (open !== undefined) fs.closeSync(open);
            fs.rmSync(temporary, { force: true });
        } catch {
            // nothing more to do: the new file's random name blocks no later write
        }
    };
    // An interrupted command removes it (lib/interrupt.ts), as a failed commit does.
    const done = untilDone(() => remove());
    return {
        temporary,
        commit(content) {
            if (fd === undefined) throw new Error(`${temporary} was already committed or discarded`);
            try {
                fs.writeFileSync(fd, content);
                fs.fsyncSync(fd);
                fs.closeSync(fd);
                fd = undefined;
                fs.renameSync(temporary, file);
                done();
            } catch (error) {
                remove();
                throw error;
            }
        },
        discard() {
            if (fd !== undefined) remove();
        },
    };
}

/**
 * The new files of createReplacement that processes killed before their commit or discard left
 * beside `file` (regular files named `.<name>.<12 hex digits>.tmp`); none when the folder cannot
 * be listed.
 */
export function leftoverReplacements(file: string): string[] {
    const folder = path.dirname(file);
    const prefix = `.${path.basename(file)}.`;
    let entries: fs.Dirent[];
    try {
        entries = fs.readdirSync(folder, { withFileTypes: true });
    } catch {
        return []; // a folder that may be written but not listed: nothing to find
    }
    return entries
        .filter(
            (e) => e.isFile() && e.name.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(e.name.slice(prefix.length)),
        )
        .map((e) => path.join(folder, e.name));
}

/**
 * Makes one folder (its parent must exist), or takes the existing one, and sets it 0700; a link is
 * refused, and so (EPERM) is a folder another user owns (one made there since its parent was
 * checked: root would otherwise take it, and write into a folder its owner controls). Returns the
 * folder's stats, read before its mode was set (makeMissingFolders compares its device and inode).
 */
export function makePrivateFolder(folder: string): fs.Stats {
    try {
        fs.mkdirSync(folder, { mode: PRIVATE_FOLDER });
    } catch (error) {
        if (codeOf(error) !== "EEXIST") throw error;
    }
    // Opened without following a link (ELOOP), so the mode is set on the folder itself.
    const fd = fs.openSync(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
        const stat = fs.fstatSync(fd);
        if (othersUid(stat) !== undefined) {
            throw Object.assign(new Error(`${folder} belongs to another user`), { code: "EPERM" });
        }
        fs.fchmodSync(fd, PRIVATE_FOLDER);
        return stat;
    } finally {
        fs.closeSync(fd);
    }
}

/** A folder makeMissingFolders could not make, with the code of the error (codeOf) it met. */
export class FolderError extends Error {
    readonly code: string;
    constructor(
        readonly folder: string,
        cause: unknown,
    ) {
        super(`cannot make ${folder}`);
        this.code = codeOf(cause);
    }
}

/**
 * Makes `folder` and the parents it lacks, each 0700 (makePrivateFolder), and returns those it
 * made, outermost first, for removeEmptyFolders. Each is made only in the folder it found there
 * first (the one its caller checked) or in the one it made itself: a parent put in its place since
 * (by another user, through a link) is refused (EPERM), before and after the folder is made in
 * it. When one cannot be made, it removes those it made and throws a FolderError naming that one.
 */
export function makeMissingFolders(folder: string): string[] {
    const missing: string[] = [];
    let existing = path.resolve(folder);
    for (; entryAt(existing) === undefined; existing = path.dirname(existing)) missing.unshift(existing);
    const made: string[] = [];
    let parent: fs.Stats | undefined;
    const sameParent = (f: string): void => {
        const now = fs.statSync(path.dirname(f));
        if (parent !== undefined && (now.dev !== parent.dev || now.ino !== parent.ino)) {
            throw Object.assign(new Error(`${path.dirname(f)} changed since it was checked`), { code: "EPERM" });
        }
    };
    for (const f of missing) {
        try {
            parent ??= fs.statSync(existing);
            sameParent(f);
            const mine = makePrivateFolder(f);
            sameParent(f);
            parent = mine;
        } catch (error) {
            removeEmptyFolders(made);
            throw new FolderError(f, error);
        }
        made.push(f);
    }
    return made;
}

/** Removes folders makeMissingFolders made, innermost first, while nothing else has been put there. */
export function removeEmptyFolders(made: readonly string[]): void {
    for (const folder of [...made].reverse()) {
        try {
            fs.rmdirSync(folder);
        } catch {
            return;
        }
    }
}

/** lstat, or undefined when nothing is there. */
export function entryAt(file: string): fs.Stats | undefined {
    try {
        return fs.lstatSync(file);
    } catch (error) {
        if (codeOf(error) === "ENOENT") return undefined;
        throw error;
    }
}

/**
 * Why render may not remove `stat`'s file, folder or link: another user owns it (in a shared
 * folder, such as /tmp, it may be their render's). Undefined when it is the user's, or where
 * there are no uids (getuid is absent on Windows).
 */
export function anotherUsers(stat: fs.Stats): string | undefined {
    return othersUid(stat) === undefined
        ? undefined
        : `belongs to user ${stat.uid}, not to the user rendering (${process.getuid?.()})`;
}

/** The owner of `stat`'s entry when it is not the user rendering; undefined where there are no uids. */
export function othersUid(stat: fs.Stats): number | undefined {
    const uid = process.getuid?.();
    return uid === undefined || stat.uid === uid ? undefined : stat.uid;
}

/**
 * `text` as one word for a POSIX shell, for a command a message suggests: as it is when it holds
 * nothing a shell reads specially, else in single quotes (each ' written '\\'').
 */
export const shellWord = (text: string): string =>
    /^[\w./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;

/**
 * The command that lists every hard link to `file` on its file system, for a refusal of a file with
 * several: its path absolute, so that it works from any folder, and shell-quoted.
 */
export function hardLinksCommand(file: string): string {
    const quoted = shellWord(path.resolve(file));
    return `find "$(findmnt -fno TARGET -T ${quoted})" -xdev -samefile ${quoted}`;
}

/** A user as the system's user database lists it. */
interface Account {
    name: string;
    uid: number;
    gid: number;
}

/** A group as the system's group database lists it: its supplementary members by name. */
interface Group {
    name: string;
    gid: number;
    members: string[];
}

/** Where the system's user and group databases could not be read whole: the reason, for a refusal. */
class LookupFailure {
    constructor(readonly reason: string) {}
}

/**
 * The lines of the system's `database` (passwd or group), every entry: through NSS (`getent`,
 * which sees LDAP, SSSD or systemd users as the system does) where it is installed, else the
 * file /etc/`database`. A failure of either is a LookupFailure: nothing is guessed.
 */
function databaseLines(database: "passwd" | "group"): string[] | LookupFailure {
    const result = spawnSync("getent", [database], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
        timeout: 60_000,
        stdio: ["ignore", "pipe", "ignore"],
    });
    const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
    let text: string;
    if (code === "ENOENT") {
        try {
            text = fs.readFileSync(`/etc/${database}`, "utf8");
        } catch (error) {
            return new LookupFailure(`/etc/${database} cannot be read (${codeOf(error)})`);
        }
    } else if (result.error !== undefined || result.status !== 0) {
        const how = code ?? (result.signal !== null ? `signal ${result.signal}` : `exit status ${result.status}`);
        return new LookupFailure(`getent ${database} failed (${how})`);
    } else {
        text = result.stdout;
    }
    return text.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
}

/** Where `ls` is looked for: its usual places first, so that a PATH without it (or with another) changes nothing. */
const LS_PROGRAMS = ["/bin/ls", "/usr/bin/ls", "ls"];

/**
 * The mode `ls -ld` shows for `at` ("drwxrwxr-x+") when it has an access control list, undefined
 * when it has none, or why that could not be told. On Linux a POSIX ACL's mask takes the place of
 * the group bits in the mode, so a folder whose ACL lets another user write looks like a user
 * private group's 0775. Node reads no ACLs; ls marks one with "+" after the mode (coreutils'
 * file_has_acl, as macOS's ls does).
 */
function accessListOf(at: string): string | undefined | LookupFailure {
    for (const program of LS_PROGRAMS) {
        const result = spawnSync(program, ["-ld", "--", at], {
            encoding: "utf8",
            env: { ...process.env, LC_ALL: "C" },
            timeout: 60_000,
            stdio: ["ignore", "pipe", "ignore"],
        });
        const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
        if (code === "ENOENT") continue;
        const mode = /^[-a-zA-Z]{10}\S?/.exec(result.stdout ?? "")?.[0];
        if (result.error !== undefined || result.status !== 0 || mode === undefined) {
            const how = code ?? (result.signal !== null ? `signal ${result.signal}` : `exit status ${result.status}`);
            return new LookupFailure(`${program} -ld failed (${how})`);
        }
        return mode.endsWith("+") ? mode : undefined;
    }
    return new LookupFailure("there is no ls to show it");
}

/**
 * Why others may write `at`, which `uid` owns and its group may write: that group is not the
 * user's alone (Accounts.groupProblem), or an access control list names others (accessListOf);
 * undefined when neither. `chmod g-w` takes the write access away in either case (on an ACL, it
 * lowers the mask).
 */
export function groupWriteProblem(at: string, gid: number, uid: number, accounts: Accounts): string | undefined {
    const group = accounts.groupProblem(gid, uid);
    if (group !== undefined) return group;
    const list = accessListOf(at);
    if (list === undefined) return undefined;
    return list instanceof LookupFailure
        ? `whether an access control list lets others write it could not be told: ${list.reason}`
        : `it has an access control list (ls -ld shows ${list}), whose mask the group bits of its mode show, so the users and groups the list names may write it too`;
}

/**
 * The system's users and groups, for one render: each database is listed at most once (one
 * `getent` each, and only when a folder on the way is group-writable), then kept. A render makes
 * one and passes it to every check of its paths; a new one sees changes made since.
 */
export class Accounts {
    private users?: Account[] | LookupFailure;
    private groups?: Group[] | LookupFailure;

    private allUsers(): Account[] | LookupFailure {
        if (this.users === undefined) {
            const lines = databaseLines("passwd");
            this.users = lines instanceof LookupFailure ? lines : parseEntries(lines, "passwd", toAccount);
        }
        return this.users;
    }

    private allGroups(): Group[] | LookupFailure {
        if (this.groups === undefined) {
            const lines = databaseLines("group");
            this.groups = lines instanceof LookupFailure ? lines : parseEntries(lines, "group", toGroup);
        }
        return this.groups;
    }

    /**
     * Why a folder of `uid`'s in group `gid` that its group may write is one other users may
     * change, or undefined when its group has exactly one member, `uid` (a user private group, as
     * Ubuntu and Fedora make for each user), as OpenSSH's StrictModes accepts it: no other user
     * has `gid` as primary group, and the group's member list names no one else. A group with no
     * member, one not found, and a database that cannot be read whole are refused; so is a name in
     * a member list that no user has. Every entry with that gid counts, as the system's login
     * counts them: a second group with the same gid gives its members that gid too.
     */
    groupProblem(gid: number, uid: number): string | undefined {
        const groups = this.allGroups();
        if (groups instanceof LookupFailure) return `its group ${gid} could not be looked up: ${groups.reason}`;
        const entries = groups.filter((group) => group.gid === gid);
        if (entries.length === 0) return `its group ${gid} is in no entry of the system's group database`;
        const named = `its group ${entries[0].name} (${gid})`;
        const users = this.allUsers();
        if (users instanceof LookupFailure) return `${named} could not be checked: ${users.reason}`;
        const others = new Set<string>();
        let members = 0;
        for (const user of users.filter((account) => account.gid === gid)) {
            members++;
            if (user.uid !== uid) others.add(`${user.name} (uid ${user.uid})`);
        }
        for (const name of new Set(entries.flatMap((group) => group.members))) {
            members++;
            const known = users.filter((account) => account.name === name);
            if (known.length === 0) others.add(`${name} (no user the system lists)`);
            for (const user of known) if (user.uid !== uid) others.add(`${name} (uid ${user.uid})`);
        }
        if (others.size > 0) {
            const listed = [...others];
            const shown = listed.length > 3 ? [...listed.slice(0, 3), `${listed.length - 3} more`] : listed;
            return `${named} has members besides you: ${shown.join(", ")}`;
        }
        if (members === 0) return `${named} has no member, not even you`;
        return undefined;
    }
}

/** Every entry of a database's lines, or a LookupFailure on a line that is none (nothing guessed). */
function parseEntries<T>(
    lines: string[],
    database: string,
    parse: (fields: string[]) => T | undefined,
): T[] | LookupFailure {
    const entries: T[] = [];
    for (const [index, line] of lines.entries()) {
        const entry = parse(line.split(":"));
        if (entry === undefined)
            return new LookupFailure(`entry ${index + 1} of the ${database} database cannot be read`);
        entries.push(entry);
    }
    return entries;
}

const NUMBER = /^[0-9]+$/;

const toAccount = ([name, , uid, gid]: string[]): Account | undefined =>
    name !== undefined && NUMBER.test(uid ?? "") && NUMBER.test(gid ?? "")
        ? { name, uid: Number(uid), gid: Number(gid) }
        : undefined;

const toGroup = ([name, , gid, members]: string[]): Group | undefined =>
    name !== undefined && NUMBER.test(gid ?? "") && members !== undefined
        ? { name, gid: Number(gid), members: members.split(",").filter((member) => member !== "") }
        : undefined;

/**
 * Why a folder or link on the path to a file render writes lets another user change where that
 * path leads, or undefined: a folder another user owns (root excepted), or one its group or others
 * may write without the sticky bit (its group may when it is the user's own and only the user
 * belongs to it, and no access control list names others: groupWriteProblem), or in a sticky folder others may write (/tmp) an entry
 * of another user's (they may rename it). Any of them could swap a folder render writes into, or
 * deletes a tree in, for a link while it works, sending private keys or deletions anywhere.
 * Returns the problem and the fix.
 */
function othersMayChange(
    at: string,
    stat: fs.Stats,
    uid: number,
    kind: "folder" | "link",
    option: string,
    accounts: Accounts,
): { problem: string; fix: string } | undefined {
    if (stat.uid !== uid && stat.uid !== 0) {
        return {
            problem: `the ${kind} ${at} on its path belongs to user ${stat.uid}, not to the user rendering (${uid}): that user could redirect or delete what render writes there, private keys included`,
            // Never a chown: chown follows a link (it would give away what the link leads to), and a
            // folder other processes own (a CI runner's work folder) is theirs to keep.
            fix:
                kind === "link"
                    ? `render as user ${stat.uid}, or give ${option} a path that does not go through that link: the real path it leads to, when no other user can change that, or a place of your own; or remove the link (ask its owner)`
                    : `render as user ${stat.uid}, or give ${option} a place of your own outside ${at}`,
        };
    }
    const writable = stat.mode & 0o022;
    if (kind !== "folder" || writable === 0 || (stat.mode & STICKY) !== 0) return undefined;
    const mode = `0${(stat.mode & 0o7777).toString(8)}`;
    const quoted = shellWord(at);
    if (writable === 0o020) {
        // Only its group: no one else's when that group is the user's alone (a user private group).
        let group: string | undefined;
        try {
            group = stat.uid === uid ? groupWriteProblem(at, stat.gid, uid, accounts) : undefined;
        } catch (error) {
            group = `its group ${stat.gid} could not be looked up (${codeOf(error)})`;
        }
        if (stat.uid === uid && group === undefined) return undefined;
        return {
            problem: `the folder ${at} on its path has mode ${mode}, writable by its group without the sticky bit${group === undefined ? "" : `, and ${group}`}: they could redirect or delete what render writes there, private keys included`,
            fix:
                stat.uid === uid
                    ? `give ${option} a place of your own outside ${at}, or, after checking what it holds, take that write access away (chmod g-w ${quoted}) or make the folder's group one only you belong to`
                    : `give ${option} a place of your own outside ${at}, or take that write access away (chmod g-w ${quoted}; ask its owner) after checking what it holds`,
        };
    }
    const who = writable === 0o022 ? "its group and others" : "others";
    return {
        problem: `the folder ${at} on its path has mode ${mode}, writable by ${who} without the sticky bit: they could redirect or delete what render writes there, private keys included`,
        fix: `give ${option} a place of your own outside ${at}, or take that write access away (chmod go-w ${quoted}${stat.uid === uid ? "" : "; ask its owner"}) after checking what it holds`,
    };
}

/**
 * The refusal of a file or folder render is to write (`named` as the user gave it, e.g. "output
 * folder out", for `option`, e.g. "--out") whose path another user could change under it
 * (othersMayChange), or undefined. Every folder from the root to the one holding `target` is
 * checked, links followed as the system follows them (each link's own folder included): a folder
 * not made yet ends the walk (render makes it 0700), as does anything the system calls will refuse
 * themselves (a file on the way, a loop). Groups are looked up in `accounts` (one per render, so
 * that each database is read once). Undefined where there are no uids (Windows).
 */
export function othersPathRefusal(
    named: string,
    option: string,
    target: string,
    accounts: Accounts = new Accounts(),
): string | undefined {
    const uid = process.getuid?.();
    if (uid === undefined) return undefined;
    // Joined as written, never normalised: path.resolve would drop `link/..` as text, where the
    // system goes into the link's target and up from there; the walk follows each `..` as it does.
    const absolute = path.isAbsolute(target) ? target : `${process.cwd()}${path.sep}${target}`;
    const parts = absolute
        .slice(path.parse(absolute).root.length)
        .split(path.sep === "\\" ? /[\\/]/ : "/")
        .filter((part) => part !== "");
    // Up to the folder holding `target`: every part but its name; every part when it ends in `.`
    // or `..`, each of which the system goes through.
    const last = parts[parts.length - 1];
    let pending = last === "." || last === ".." ? parts : parts.slice(0, -1);
    let folder = path.parse(absolute).root;
    let stat: fs.Stats;
    let links = 0;
    const refusal = (found: { problem: string; fix: string }): string =>
        `${named} cannot be used: ${found.problem}; ${found.fix}`;
    const check = (at: string, kind: "folder" | "link"): string | undefined => {
        const found = othersMayChange(at, stat, uid, kind, option, accounts);
        return found === undefined ? undefined : refusal(found);
    };
    try {
        stat = fs.lstatSync(folder);
        let problem = check(folder, "folder");
        if (problem !== undefined) return problem;
        while (pending.length > 0) {
            const part = pending.shift() as string;
            if (part === ".") continue;
            if (part === "..") {
                // `folder` has no link in it: its parent is what the system reaches, checked already.
                folder = path.dirname(folder);
                stat = fs.lstatSync(folder);
                continue;
            }
            const next = path.join(folder, part);
            const entry = entryAt(next);
            if (entry === undefined || !(entry.isDirectory() || entry.isSymbolicLink())) return undefined;
            const kind = entry.isSymbolicLink() ? "link" : "folder";
            // In a sticky folder others may write, another user may rename their own entries.
            const shared = (stat.mode & 0o022) !== 0 && (stat.mode & STICKY) !== 0;
            if (shared && entry.uid !== uid && entry.uid !== 0) {
                stat = entry;
                return check(next, kind);
            }
            if (entry.isSymbolicLink()) {
                if (++links > 40) return undefined; // ELOOP, for the system calls to say
                const to = fs.readlinkSync(next);
                if (path.isAbsolute(to)) {
                    folder = path.parse(to).root;
                    stat = fs.lstatSync(folder);
                    problem = check(folder, "folder");
                    if (problem !== undefined) return problem;
                }
                pending = [...to.split(path.sep).filter((p) => p !== ""), ...pending];
                continue;
            }
            stat = entry;
            problem = check(next, "folder");
            if (problem !== undefined) return problem;
            folder = next;
        }
    } catch {
        return undefined; // a folder that may not be searched: the system calls say so
    }
    return undefined;
}

/**
 * Who may remove another user's leftover: its owner, or root, who must first check what it holds
 * (its owner chose it, and a render of theirs may still be using it), and never take it for a
 * render's own: not chown it, move it into place, or render through it.
 */
export const ownerOrRoot = (option: string): string =>
    process.getuid?.() === 0
        ? `as root, check what it holds first (its owner chose what is in it, and a render of theirs may still be using it), then remove it yourself; never chown it, move it into place or render through it; or give another ${option}`
        : `give another ${option}, or ask its owner (or root) to remove it`;

/** `target` with every link resolved, as far as it exists (a folder or file not made yet). */
export function realPath(target: string): string {
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
 * a link from elsewhere into a work tree leads there all the same. A file on the way (`target`
 * itself, or --out notes.txt/out) or a folder that may not be searched holds no .git.
 */
export function gitWorkTreeOf(target: string): string | undefined {
    const holdsGit = (folder: string): boolean => {
        try {
            return entryAt(path.join(folder, ".git")) !== undefined;
        } catch {
            return false; // ENOTDIR, EACCES
        }
    };
    for (let folder = realPath(target); ; folder = path.dirname(folder)) {
        if (holdsGit(folder)) return folder;
        if (path.dirname(folder) === folder) return undefined;
    }
}

/**
 * `file` (relative to `cwd`) with each `..` resolved as the disk does: past a symbolic link
 * (`tools/..` with `tools` a link) it is the parent of the link's target, where path.resolve would
 * only drop `tools`, so that a project file or a base would be read beside another file than the
 * one the disk reads. Links elsewhere on the way are kept (callers may refuse them); a folder that
 * does not exist is dropped as text, the disk finding nothing there either.
 */
export function physicalPath(file: string, cwd: string = process.cwd()): string {
    // Split as written: path.join and path.normalize would drop each `..` as text.
    const absolute = path.isAbsolute(file) ? file : `${cwd}${path.sep}${file}`;
    const root = path.parse(absolute).root;
    let resolved = root;
    for (const part of absolute.slice(root.length).split(path.sep === "\\" ? /[\\/]/ : "/")) {
        if (part === "" || part === ".") continue;
        if (part !== "..") {
            resolved = path.join(resolved, part);
            continue;
        }
        let real = resolved;
        try {
            real = fs.realpathSync(resolved);
        } catch {
            // Absent (or unreadable): nothing to follow.
        }
        resolved = path.dirname(real);
    }
    return resolved;
}

/**
 * The text of a file the user named (links followed), refusing anything but a regular file: it is
 * opened non-blocking, so that a FIFO at the path cannot hang the command the way a plain read
 * would, and a folder is named as such rather than as EISDIR. Its bytes must be UTF-8 (utf8Text).
 * Throws an error whose message says what is wrong, for the caller to put after the file's name;
 * ENOENT and EACCES keep their code.
 */
export function readRegularFile(file: string): string {
    return utf8Text(readRegularBytes(file));
}

/** Decodes UTF-8 only, throwing at a byte that is not; a byte order mark is kept, for the reader to treat. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Bytes as UTF-8 text, as Pulumi's YAML reader requires them. Read leniently, a Latin-1 or
 * Windows-1252 "é" became U+FFFD, which went into every certificate's subject and was written back
 * by lifecycle --write. Throws an error whose message, for the caller to put after the file's name,
 * says where the first byte that is not UTF-8 is, never what the file holds: a file given by
 * mistake may be a key (a UTF-16 one would not even be recognised as a key to hide).
 */
export function utf8Text(bytes: Buffer): string {
    if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
        throw new Error(
            `it is UTF-16 text (it starts with a UTF-16 byte order mark, as Windows PowerShell 5 and Notepad's "Unicode" write), not UTF-8; save it as UTF-8`,
        );
    }
    try {
        return STRICT_UTF8.decode(bytes);
    } catch {
        const offset = firstNonUtf8Byte(bytes);
        const line = bytes.subarray(0, offset).filter((b) => b === 0x0a).length + 1;
        throw new Error(
            `it is not UTF-8 text: the byte at offset ${offset} (line ${line}) is not UTF-8 (Latin-1 or Windows-1252 text, or no text at all?); save it as UTF-8`,
        );
    }
}

/**
 * The offset of the first byte of `bytes` that is not UTF-8. Up to it, the lenient decoder gives
 * the text exactly; there it puts its first U+FFFD that the file does not spell (as EF BF BD).
 */
function firstNonUtf8Byte(bytes: Buffer): number {
    let offset = 0;
    for (const c of bytes.toString("utf8")) {
        const spelt = bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd;
        if (c === "\ufffd" && !spelt) return offset;
        offset += Buffer.byteLength(c);
    }
    return offset;
}

/** What a reader of `withRegularFileNoFollow` gives, or throws, where there is no regular file to read. */
export interface NoRegularFile<T> {
    /** Nothing at the path (ENOENT). */
    readonly missing: () => T;
    /** A symbolic link at the path (ELOOP): never followed. */
    readonly link: () => T;
    /** Another failure to open it, by its code (EACCES, ENOTDIR...). */
    readonly unopenable: (code: string) => T;
    /** A folder, FIFO, socket or device at the path. */
    readonly notFile: () => T;
}

/**
 * Opens `file` to read a file whose content the caller trusts only from a regular file at that
 * very path: without following a link (O_NOFOLLOW; the link's planter would choose what is read)
 * and without blocking (O_NONBLOCK: a FIFO planted there must not hang the open; it is then refused
 * as no regular file). Gives `read` the open descriptor and its fstat, and closes it whatever
 * happens. Each case of `otherwise` gives the caller's own answer (a value, or its own error);
 * what else it refuses (another user's file, a loose mode, a size) is its own policy, in `read`.
 */
export function withRegularFileNoFollow<T>(
    file: string,
    otherwise: NoRegularFile<T>,
    read: (fd: number, stat: fs.Stats) => T,
): T {
    let fd: number;
    try {
        fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (error) {
        const code = codeOf(error);
        if (code === "ENOENT") return otherwise.missing();
        if (code === "ELOOP") return otherwise.link();
        return otherwise.unopenable(code);
    }
    try {
        const stat = fs.fstatSync(fd);
        return stat.isFile() ? read(fd, stat) : otherwise.notFile();
    } finally {
        fs.closeSync(fd);
    }
}

/** A file larger than its reader takes, found before it is read. */
export class FileTooLarge extends Error {
    constructor(readonly size: number) {
        super(`it is ${size} bytes`);
    }
}

/**
 * The bytes of a file the user named, as readRegularFile reads its text (a DER certificate is no
 * text); FileTooLarge above `maxBytes`, told by its size before anything is read.
 */
export function readRegularBytes(file: string, maxBytes = Infinity): Buffer {
    const fd = fs.openSync(file, O_RDONLY | O_NONBLOCK);
    try {
        const stat = fs.fstatSync(fd);
        if (stat.isDirectory()) throw new Error("it is a folder, not a file");
        if (!stat.isFile()) throw new Error("it is not a regular file (a FIFO, socket or device)");
        if (stat.size > maxBytes) throw new FileTooLarge(stat.size);
        return fs.readFileSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}
