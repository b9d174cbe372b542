/**
 * The locks of render. `render --state FILE` takes FILE.lock, beside the state, before it reads the
 * state and keeps it until its write is done, so that two renders on one state cannot both make
 * keys and the last to write win (the other's output would hold certificates of keys the state no
 * longer has). Every render takes the lock of its output folder, `.<name>.render.lock` beside it,
 * before it looks into the folder and keeps it until its output is in place, so that two renders
 * into one folder cannot take each other's staging folder for a leftover, nor replace a render that
 * appeared meanwhile without --force. A lock is created exclusively (O_CREAT|O_EXCL, never through
 * a link) 0600 and says who holds it; a lock a killed render left is never removed here (the folder
 * may be shared between hosts): the refusal says how to remove it. The ceremony takes its root
 * folder's lock the same way (takeLock).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { codeOf, createExclusive, NoRegularFile, PRIVATE_FILE, unlinkIfSame, withRegularFileNoFollow } from "../files";
import { untilDone } from "../interrupt";

/** A lock this process holds. */
export interface RenderLock {
    readonly file: string;
    /** Removes the lock, if it is still the one this process created. Throws nothing. */
    release(): void;
}

/** A refusal to lock: the lock is held, or something that is no lock is at its path. */
export class RenderLockError extends Error {}

/** What a lock guards, as its refusals name it. */
export interface Guarded {
    /** The thing locked, e.g. "--state state.json" or "output folder out". */
    readonly name: string;
    /** What another render would do with it, e.g. "uses this state". */
    readonly use: string;
    /** What takes such locks, e.g. "render" (the default) or "ceremony command". */
    readonly by?: string;
    /** The other lock the same render takes (a state's render's output folder), named with this one when one render holds both. */
    readonly beside?: { lock: string; name: string };
}

/** What a lock file says of the render that holds it. */
interface Holder {
    pid: number;
    host: string;
    started: string;
}

export const lockFileOf = (stateFile: string): string => `${stateFile}.lock`;

/**
 * What is at the lock's path when it cannot be created: a lock and its holder, a lock that does
 * not say (why), nothing any more, or something that is no lock (what).
 */
type Found = { holder: Holder } | { unknown: string } | { gone: true } | { problem: string };

const halfWritten = (by: string): string => `does not say which ${by} holds it (it may be being taken right now)`;

/** The holder a lock file names, if it names one in the shape a render writes (a half-written lock names none). */
function holderOf(text: string): Holder | undefined {
    let parsed: Partial<Holder>;
    try {
        parsed = JSON.parse(text) as Partial<Holder>;
    } catch {
        return undefined;
    }
    const { pid, host, started } = parsed ?? {};
    if (!Number.isSafeInteger(pid) || (pid as number) <= 0 || typeof host !== "string" || typeof started !== "string") {
        return undefined;
    }
    const time = Date.parse(started);
    if (Number.isNaN(time)) return undefined;
    // Printed in a one-line message: nothing but printable ASCII from a file anyone in the folder may write.
    return {
        pid: pid as number,
        host: host.replace(/[^\x20-\x7e]/g, "?").slice(0, 253),
        started: new Date(time).toISOString(),
    };
}

/** Reads the lock at `lock` (one a `by` takes) without following a link. */
function inspect(lock: string, by: string): Found {
    const found: NoRegularFile<Found> = {
        missing: () => ({ gone: true }),
        link: () => ({ problem: `is a symbolic link (a ${by} creates its lock itself, never through a link)` }),
        unopenable: (code) => ({ unknown: `cannot be read (${code}), so which ${by} holds it is unknown` }),
        notFile: () => ({ problem: `is not a file (a ${by}'s lock is a file it creates)` }),
    };
    return withRegularFileNoFollow(lock, found, (fd) => {
        const buffer = Buffer.alloc(4096);
        const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
        const holder = holderOf(buffer.subarray(0, length).toString("utf8"));
        return holder === undefined ? { unknown: halfWritten(by) } : { holder };
    });
}

/** True when `pid` runs on this machine (a process of another user included). */
function running(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return codeOf(error) === "EPERM";
    }
}

function refusal(guarded: Guarded, lock: string, found: Exclude<Found, { gone: true }>): string {
    const by = guarded.by ?? "render";
    if ("problem" in found) return `${guarded.name} cannot be locked: ${lock} ${found.problem}; remove ${lock}`;
    if ("unknown" in found) {
        return `${guarded.name} is in use: its lock ${lock} ${found.unknown}; wait for that ${by} to end, or if none is running, remove ${lock}`;
    }
    const { holder } = found;
    // A render killed with kill -9 leaves both its locks: named together, so that one round frees both.
    const { beside } = guarded;
    const other = beside !== undefined ? inspect(beside.lock, by) : undefined;
    const sameHolder =
        other !== undefined &&
        "holder" in other &&
        other.holder.pid === holder.pid &&
        other.holder.host === holder.host;
    const locks =
        beside !== undefined && sameHolder
            ? `${lock} and ${beside.lock} (the same ${by}'s lock of ${beside.name})`
            : lock;
    const held = `${guarded.name} is in use: its lock ${lock} is held by pid ${holder.pid} on ${holder.host} since ${holder.started}`;
    if (holder.host === os.hostname() && !running(holder.pid)) {
        return `${held}, but no process ${holder.pid} runs on this host (a ${by} killed before it could remove its lock?); if no other ${by} ${guarded.use}, remove ${locks}`;
    }
    return `${held}; wait for that ${by} to end, or if none is running, remove ${locks}`;
}

/**
 * Takes the lock of `stateFile`, or throws: a RenderLockError, one line naming the state, the
 * lock, its holder and the fix (and the lock of `outputFolder` when the same render holds it),
 * when it is held; the system error (for the caller to word) when it cannot be created. `named`
 * is how messages name the state (as the user gave it).
 */
export function lockStateFile(stateFile: string, outputFolder?: string, named: string = stateFile): RenderLock {
    return takeLock(lockFileOf(stateFile), {
        name: `--state ${named}`,
        use: "uses this state",
        beside:
            outputFolder !== undefined
                ? { lock: outputLockOf(outputFolder), name: `output folder ${outputFolder}` }
                : undefined,
    });
}

/** The lock of the output folder `target` (an absolute path): `.<name>.render.lock` beside it. */
export const outputLockOf = (target: string): string =>
    path.join(path.dirname(target), `.${path.basename(target)}.render.lock`);

/** Takes the lock of the output folder `target`, or throws as lockStateFile does. */
export function lockOutputFolder(target: string): RenderLock {
    return takeLock(outputLockOf(target), { name: `output folder ${target}`, use: "writes to this output folder" });
}

/**
 * Takes the lock at `lock`: released by `release`, or by an interrupted command
 * (lib/interrupt.ts) before it ends. Throws as lockStateFile does.
 */
export function takeLock(lock: string, guarded: Guarded): RenderLock {
    // Again only when the lock went away between the refused create and the read.
    for (let attempt = 1; ; attempt++) {
        let fd: number;
        try {
            fd = createExclusive(lock, PRIVATE_FILE);
        } catch (error) {
            if (codeOf(error) !== "EEXIST") throw error;
            const found = inspect(lock, guarded.by ?? "render");
            if ("gone" in found && attempt < 3) continue;
            const held = "gone" in found ? { unknown: halfWritten(guarded.by ?? "render") } : found;
            throw new RenderLockError(refusal(guarded, lock, held));
        }
        let identity: fs.Stats;
        try {
            const holder: Holder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
            fs.writeFileSync(fd, JSON.stringify(holder) + "\n");
            identity = fs.fstatSync(fd);
        } catch (error) {
            fs.closeSync(fd);
            fs.rmSync(lock, { force: true });
            throw error;
        }
        fs.closeSync(fd);
        let held = true;
        const release = (): void => {
            if (!held) return;
            held = false;
            done();
            // Not a lock someone else took after removing this one by hand.
            unlinkIfSame(lock, identity);
        };
        const done = untilDone(release);
        return { file: lock, release };
    }
}
