/**
 * Every file render writes goes through here. Files are created exclusively and never through a
 * link (O_CREAT|O_EXCL|O_NOFOLLOW), keys 0600 and other files 0644, in 0700 folders, whatever the
 * umask or an earlier render left. A render is written into a fresh sibling folder and swapped in
 * whole, so no file of an earlier render survives and an interrupted render leaves the old one.
 * One render at a time writes to an output folder (its lock, stateLock.ts); under the lock, the
 * staging folders that killed renders left beside it are removed.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    Accounts,
    anotherUsers,
    codeOf,
    entryAt,
    FolderError,
    makeMissingFolders,
    makePrivateFolder,
    othersPathRefusal,
    othersUid,
    ownerOrRoot,
    removeEmptyFolders,
    withRegularFileNoFollow,
    writeNewFile,
} from "../files";
import { untilDone } from "../interrupt";
import { lockOutputFolder, RenderLock, RenderLockError } from "./stateLock";

const { O_RDONLY, O_NOFOLLOW } = fs.constants;

export { codeOf, createExclusive, PRIVATE_FILE, PUBLIC_FILE, writeNewFile } from "../files";

/**
 * Every file a render writes, by its path in the output folder (render.ts): a folder holding
 * anything else at any depth is not an earlier render, and --force never deletes it (notes beside
 * a bundle, a certificate `ceremony sign` wrote beside its CSR). StagedFolder.write refuses a path
 * outside these, so the list cannot fall behind what render writes.
 */
const RENDER_FILES: readonly RegExp[] = [
    /^(inventory|deployment|pending)\.json$/,
    /^(trust|timeline)\.mmd$/,
    // k8s/<cluster>/<namespace>/<kind>-<name>.yaml
    /^k8s\/[^/]+\/[^/]+\/[^/]+\.yaml$/,
    // apic/<endpoint>/ and APIC's UI truststore (apic/ui/)
    /^apic\/[^/]+\/(client\.(crt|key|p12|p12\.password)|ca-chain\.pem|truststore\.(pem|crl|json)|keystore\.json|tls-client-profile\.json)$/,
    // apic/ui/<host>/: APIC's server certificate for the UI services
    /^apic\/ui\/[^/]+\/(server\.(crt|key)|ca-chain\.pem|keystore\.json|tls-server-profile\.json)$/,
    /^csr\/[^/]+\.csr$/,
    /^front-end\/csr\/[^/]+\.csr$/,
    /^front-end\/public-roots\.pem$/,
];

/** What a render stopped for the offline roots' signatures writes beside csr/: its environment. */
export const PENDING_FILE = "pending.json";

/** Most file systems' limit on a file name, in bytes (ext4, XFS, APFS). */
const MAX_FILE_NAME_BYTES = 255;

/**
 * `stem` + `extension` as a file name of at most MAX_FILE_NAME_BYTES bytes: a longer stem (an
 * object's kind before its name of up to 253 characters) is cut, and ends in a hash of the whole
 * so that two stems cut alike stay two files.
 */
export function fileNameWithin(stem: string, extension: string): string {
    if (Buffer.byteLength(stem + extension) <= MAX_FILE_NAME_BYTES) return stem + extension;
    const end = `-${crypto.createHash("sha256").update(stem).digest("hex").slice(0, 12)}${extension}`;
    const characters = [...stem];
    while (Buffer.byteLength(characters.join("") + end) > MAX_FILE_NAME_BYTES) characters.pop();
    return characters.join("") + end;
}

/**
 * What to do when a file of the render cannot be written, by the error's code. Staging folders
 * are fresh and names are kept short, so EEXIST and ENAMETOOLONG are no matter of space.
 */
function writeFix(code: string): string {
    if (code === "ENAMETOOLONG") return "give --out a shorter path";
    if (code === "EEXIST") {
        return "the render wrote two objects to one file, a fault of this program; report it with the stack configuration";
    }
    return "free space, or give --out a folder you can write to";
}

/** The folders of RENDER_FILES' paths. */
const RENDER_FOLDERS = /^(k8s(\/[^/]+){0,2}|apic(\/[^/]+)?|apic\/ui\/[^/]+|csr|front-end(\/csr)?)$/;

const isRenderFile = (relative: string): boolean => RENDER_FILES.some((pattern) => pattern.test(relative));

/** Far more than any render's inventory.json (about 1 KB per certificate): a larger file is not read. */
const MAX_INVENTORY_BYTES = 256 * 1024 * 1024;

/**
 * The files that say which environment a render was of: a finished render's inventory.json, and
 * a render stopped for the offline roots' signatures (it wrote csr/ only) its pending.json.
 */
const ENVIRONMENT_FILES: readonly string[] = ["inventory.json", PENDING_FILE];

/**
 * The environment of `file` when it is an inventory.json as render writes it ({ environment,
 * option, certificates: [] }) or a pending.json ({ environment, unsigned: [] }), else undefined: a
 * regular file, read without following a link and without blocking (a FIFO there must not hang
 * the render, which holds its locks), of at most MAX_INVENTORY_BYTES.
 */
function renderEnvironmentIn(file: string): string | undefined {
    // A link (ELOOP), nothing that can be opened, or no regular file: none is a render's inventory.
    const no = (): undefined => undefined;
    try {
        return withRegularFileNoFollow(file, { missing: no, link: no, unopenable: no, notFile: no }, (fd, stat) => {
            if (stat.size > MAX_INVENTORY_BYTES) return undefined;
            const inventory = JSON.parse(fs.readFileSync(fd, "utf8")) as Record<string, unknown>;
            const list = path.basename(file) === PENDING_FILE ? inventory.unsigned : inventory.certificates;
            return typeof inventory.environment === "string" && Array.isArray(list) ? inventory.environment : undefined;
        });
    } catch {
        return undefined; // not JSON, or not readable after all
    }
}

/**
 * The entries below `folder` that no render writes, by their paths in it (folders end in "/"): a
 * file, folder or link at a path render does not use, another special file, an inventory.json or
 * pending.json that is not a render's (a link or special file there included: it is never followed or read),
 * and anything another user owns ("k8s/ of user 65534": they could swap a folder of theirs for a
 * link while it is deleted). Folders render uses are searched; a foreign one is named alone. A
 * folder --force may replace has none.
 */
function foreignEntries(folder: string, under = ""): string[] {
    return fs.readdirSync(path.join(folder, under), { withFileTypes: true }).flatMap((entry) => {
        const relative = under === "" ? entry.name : `${under}/${entry.name}`;
        const owner = othersUid(fs.lstatSync(path.join(folder, relative)));
        if (owner !== undefined) return [`${relative}${entry.isDirectory() ? "/" : ""} of user ${owner}`];
        if (entry.isDirectory()) {
            return RENDER_FOLDERS.test(relative) ? foreignEntries(folder, relative) : [`${relative}/`];
        }
        // A link at a render's path is removed with the render, never followed: the folder's own.
        const link = entry.isSymbolicLink() && (isRenderFile(relative) || RENDER_FOLDERS.test(relative));
        const written = link || (entry.isFile() && isRenderFile(relative));
        return !written ||
            (ENVIRONMENT_FILES.includes(relative) && renderEnvironmentIn(path.join(folder, relative)) === undefined)
            ? [relative]
            : [];
    });
}

/** Up to three of `entries`, then how many more: for a one-line message. */
const listed = (entries: string[]): string =>
    (entries.length > 3 ? [...entries.slice(0, 3), `${entries.length - 3} more`] : entries).join(", ");

/**
 * Removes a folder of the user's own render, with what it holds (links removed, never followed):
 * its folders are first made the user's alone (0700), outermost first, so that an earlier output
 * someone made read-only (chmod -R a-w) goes too. Throws the system error, or (EPERM) when it meets
 * anything another user owns, before it deletes anything.
 *
 * rmSync works by path (lstat, readdir, unlink, rmdir), so whoever may change a folder of the tree
 * while it runs could swap a sub-folder for a link and have it delete what the link leads to. Here
 * no one else can: the folder's parent is one no other user may change (othersPathRefusal, checked
 * by StagedFolder.open), the folder and everything in it are the user's own (checked by
 * foreignEntries, then again here), and once every folder is 0700 no other user may add, rename or
 * remove anything in the tree. The modes are set on the folders opened without following a link.
 */
function removeRender(folder: string): void {
    const { O_DIRECTORY } = fs.constants;
    const makePrivate = (at: string): void => {
        let fd: number;
        try {
            fd = fs.openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch (error) {
            if (codeOf(error) !== "EACCES") throw error;
            // A folder of the user's own with no read bit (chmod a-rwx): its parent is the user's
            // alone by now (or the checked parent), so no one can have put a link at its path.
            if (othersUid(fs.lstatSync(at)) === undefined) fs.chmodSync(at, 0o700);
            fd = fs.openSync(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        }
        try {
            const owner = othersUid(fs.fstatSync(fd));
            if (owner !== undefined) {
                throw Object.assign(new Error(`${at} belongs to user ${owner}`), { code: "EPERM" });
            }
            fs.fchmodSync(fd, 0o700);
        } finally {
            fs.closeSync(fd);
        }
        for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
            const inside = path.join(at, entry.name);
            if (entry.isDirectory()) makePrivate(inside);
            else if (othersUid(fs.lstatSync(inside)) !== undefined) {
                throw Object.assign(new Error(`${inside} belongs to another user`), { code: "EPERM" });
            }
        }
    };
    makePrivate(folder);
    fs.rmSync(folder, { recursive: true, force: true });
}

/**
 * Refuses a target that render may not write to: one whose path another user could change
 * (othersPathRefusal), a link, a file, another user's folder (even empty, even to root), or a
 * folder holding anything but an earlier render (and that only with `force`), or a render of
 * another `environment`.
 */
function checkTarget(target: string, force: boolean, accounts: Accounts, environment: string | undefined): void {
    const unsafe = othersPathRefusal(`output folder ${target}`, "--out", target, accounts);
    if (unsafe !== undefined) throw new Error(unsafe);
    let existing: fs.Stats | undefined;
    try {
        existing = entryAt(target);
    } catch (error) {
        // ENOTDIR: a file on the way (--out notes.txt/out); EACCES: a folder on the way that may not be searched.
        const problem = codeOf(error) === "ENOTDIR" ? "a file is on its path, not a folder" : codeOf(error);
        throw new Error(`output folder ${target} cannot be used (${problem}); choose another --out`);
    }
    if (existing?.isSymbolicLink()) {
        throw new Error(
            `output folder ${target} is a symbolic link; render never writes keys through a link: give the real folder as --out`,
        );
    }
    if (existing !== undefined && !existing.isDirectory()) {
        throw new Error(`output folder ${target} is not a folder; choose another --out`);
    }
    let entries: string[];
    let foreign: string[];
    try {
        entries = existing !== undefined ? fs.readdirSync(target) : [];
        // A folder with anything a render does not write is never offered for --force (an --out that
        // named the wrong folder): --force would delete it all.
        foreign = entries.length > 0 ? foreignEntries(target).sort() : [];
    } catch (error) {
        throw new Error(`output folder ${target} cannot be read (${codeOf(error)}); choose another --out`);
    }
    // Never another user's, even empty, even to root: its owner may change what is in it at will,
    // and could swap a folder of it for a link while render deletes it or writes beside it.
    const owner = existing !== undefined ? othersUid(existing) : undefined;
    if (existing !== undefined && owner !== undefined) {
        throw new Error(
            `output folder ${target} ${anotherUsers(existing)}: that user could redirect or delete what render writes there, private keys included; ` +
                `render as user ${owner}, or give --out a folder of your own outside it`,
        );
    }
    if (foreign.length > 0) {
        throw new Error(
            `output folder ${target} holds files that are not a render's (${listed(foreign)}); --force only replaces an earlier render: choose another --out`,
        );
    }
    if (entries.length > 0 && !entries.includes("inventory.json") && !entries.includes("csr")) {
        throw new Error(
            `output folder ${target} holds files that are not a render (it has no inventory.json or csr/); --force only replaces an earlier render: choose another --out`,
        );
    }
    // Another environment's render is not an earlier render of this stack: --force would put this
    // environment's keys and Secrets where that environment's are looked for (an --out mistyped),
    // or its CSRs where that environment's ceremony looks for its own.
    const recorded = ENVIRONMENT_FILES.find((name) => entries.includes(name));
    const earlier = recorded !== undefined ? renderEnvironmentIn(path.join(target, recorded)) : undefined;
    if (earlier !== undefined && environment !== undefined && earlier !== environment) {
        throw new Error(
            `output folder ${target} holds a render of environment ${JSON.stringify(earlier)}, not of this stack's pki:environment ${JSON.stringify(environment)}; --force only replaces an earlier render of the same environment: choose another --out (or, when that render is no longer needed, remove it first)`,
        );
    }
    if (entries.length > 0 && !force) {
        throw new Error(
            `output folder ${target} holds an earlier render; pass --force to replace it, or choose another --out`,
        );
    }
}

/**
 * The refusal of an output folder that the swap cannot rename aside, naming the fix. A mount point
 * (a volume, a CI or Docker bind mount) cannot be renamed (EBUSY), nor, on overlayfs, a folder of
 * a container image's lower layer (EXDEV); a new folder inside either can.
 */
function unswappable(target: string, error: unknown): string {
    const code = codeOf(error);
    const mounted: Record<string, string> = {
        EBUSY: "is a mount point (a volume, a CI or Docker bind mount)",
        EXDEV: "is on another file system than its parent (a mount point, or an image's folder on overlayfs)",
    };
    const fix =
        code in mounted
            ? `give --out a folder inside it, such as ${path.join(target, "render")}`
            : "give --out a folder you can rename";
    return `output folder ${target} ${mounted[code] ?? "cannot be renamed"}: render puts its output in place by renaming the folder aside, which fails with ${code} there; ${fix}`;
}

/** The end of a staging folder's name after `.<name>.render-` (mkdtemp's six characters), and of the old output's during a swap. */
const STAGING_SUFFIX = /^[A-Za-z0-9]{6}(-old)?$/;

/**
 * Whether `name` is that of a folder render works in beside the output folder `target` (a staging
 * folder, or the old output during a swap): the next render takes such a folder for a killed
 * render's leftover and removes it.
 */
export function isWorkingFolderOf(target: string, name: string): boolean {
    const prefix = `.${path.basename(target)}.render-`;
    return name.startsWith(prefix) && STAGING_SUFFIX.test(name.slice(prefix.length));
}

/** Whether `name` is that of a folder some render works in (isWorkingFolderOf, of any output folder). */
export const isWorkingFolder = (name: string): boolean => /^\..+\.render-[A-Za-z0-9]{6}(-old)?$/.test(name);

/**
 * The output folder of one render: files go into a temporary sibling (same parent, so the swap is
 * a rename) until `commit` puts it in place of the target. From `open` to `commit` or `discard`
 * it holds the target's lock, and an interrupted command (lib/interrupt.ts) discards it.
 */
export class StagedFolder {
    /** Every file written, relative to the folder. */
    readonly files: string[] = [];
    private closed = false;
    private readonly done: () => void;

    private constructor(
        readonly target: string,
        private staging: string,
        private readonly createdParents: string[],
        private readonly lock: RenderLock,
        private readonly warn: (message: string) => void,
    ) {
        this.done = untilDone(() => this.discard());
    }

    /**
     * Checks the target, makes the temporary sibling and takes the target's lock, so that an
     * unusable or busy target fails before any key is made. Without `force` the target must be
     * empty or absent; with it, it may hold an earlier render, never anything else. Under the lock
     * the target is checked again (a render may have put its output there meanwhile), the
     * staging folders of renders that were killed are removed, each named to `warn`, and the
     * target is renamed aside and back as `commit` will (a mount point cannot be).
     */
    static open(
        target: string,
        options: { force: boolean; warn?: (message: string) => void; accounts?: Accounts; environment?: string },
    ): StagedFolder {
        const accounts = options.accounts ?? new Accounts();
        checkTarget(target, options.force, accounts, options.environment);
        const parent = path.dirname(target);
        let missing: string[];
        let staging: string;
        try {
            missing = makeMissingFolders(parent);
        } catch (error) {
            const where = error instanceof FolderError ? path.dirname(error.folder) : parent;
            throw new Error(
                `cannot write to ${target} (${codeOf(error)} creating a folder in ${where}); give --out a folder you can write to`,
            );
        }
        try {
            staging = StagedFolder.makeStaging(target);
        } catch (error) {
            removeEmptyFolders(missing);
            throw new Error(
                `cannot write to ${target} (${codeOf(error)} creating a folder in ${parent}); give --out a folder you can write to`,
            );
        }
        let lock: RenderLock;
        try {
            lock = lockOutputFolder(target);
        } catch (error) {
            fs.rmSync(staging, { recursive: true, force: true });
            removeEmptyFolders(missing);
            if (error instanceof RenderLockError) throw error;
            throw new Error(
                `cannot write to ${target} (${codeOf(error)} creating a file in ${parent}); give --out a folder you can write to`,
            );
        }
        const folder = new StagedFolder(target, staging, missing, lock, options.warn ?? (() => undefined));
        try {
            checkTarget(target, options.force, accounts, options.environment);
            folder.removeLeftovers();
            folder.checkSwappable();
        } catch (error) {
            folder.discard();
            throw error;
        }
        return folder;
    }

    private static makeStaging(target: string): string {
        const staging = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.render-`));
        makePrivateFolder(staging);
        return staging;
    }

    /**
     * Under the lock, every other `.<name>.render-XXXXXX` folder beside the target was left by a
     * render killed before it could remove it (kill -9, a crash, a heap too small): removed, with
     * the private keys it holds. An old output (`-old`) while the target is missing is the output a
     * render was putting back or away when it was killed: refused, for a person to choose. Nothing
     * is removed unless every one is the user's own and holds nothing but what a render writes (a
     * state kept in `.out.render-states/` is no leftover): otherwise refused, naming it.
     */
    private removeLeftovers(): void {
        const parent = path.dirname(this.target);
        // A render that held the lock while this one made its staging folder took it for a leftover.
        if (entryAt(this.staging) === undefined) this.staging = StagedFolder.makeStaging(this.target);
        const leftovers = fs
            .readdirSync(parent, { withFileTypes: true })
            .filter(
                (entry) =>
                    entry.isDirectory() &&
                    isWorkingFolderOf(this.target, entry.name) &&
                    entry.name !== path.basename(this.staging),
            )
            .map((entry) => path.join(parent, entry.name))
            .sort();
        const refused = (folder: string, problem: string): Error =>
            new Error(
                `output folder ${this.target} cannot be used: ${folder} beside it, named as a render's leftover, ${problem}`,
            );
        for (const folder of leftovers) {
            const owner = anotherUsers(fs.lstatSync(folder));
            if (owner !== undefined) {
                throw refused(
                    folder,
                    `${owner}: render never removes another user's leftovers; ${ownerOrRoot("--out")}`,
                );
            }
            let foreign: string[];
            try {
                foreign = foreignEntries(folder).sort();
            } catch (error) {
                throw refused(folder, `cannot be read (${codeOf(error)}); remove it yourself, or give another --out`);
            }
            if (foreign.length > 0) {
                throw refused(
                    folder,
                    `holds files that are not a render's (${listed(foreign)}), which render would remove with it; move them out of it, or give another --out`,
                );
            }
        }
        const old = leftovers.find((folder) => folder.endsWith("-old"));
        if (old !== undefined && entryAt(this.target) === undefined) {
            throw new Error(
                `output folder ${this.target} is missing, and ${old} holds the output that was in it (a render was killed while swapping its output in): move ${old} back to ${this.target} and render again with --force, or remove ${old}`,
            );
        }
        for (const folder of leftovers) {
            try {
                removeRender(folder);
            } catch (error) {
                throw refused(
                    folder,
                    `cannot be removed (${codeOf(error)}); remove it yourself (it holds private keys), or give another --out`,
                );
            }
            this.warn(
                folder.endsWith("-old")
                    ? `removed ${folder}: the earlier output of ${this.target}, left beside it by a render that was killed or could not remove it (it held private keys)`
                    : `removed ${folder}: the unfinished output of a render of ${this.target} that was killed (it held private keys)`,
            );
        }
    }

    /** Where the swap renames the target aside (and checkSwappable tries it). */
    private get aside(): string {
        return `${this.staging}-old`;
    }

    /**
     * Renames the target aside and straight back, as `commit` will rename it: a target that cannot
     * be renamed (a mount point) fails now, before any key is made or the state is saved.
     */
    private checkSwappable(): void {
        if (entryAt(this.target) === undefined) return;
        const old = this.aside;
        try {
            fs.renameSync(this.target, old);
        } catch (error) {
            throw new Error(unswappable(this.target, error));
        }
        try {
            fs.renameSync(old, this.target);
        } catch (error) {
            throw new Error(
                `output folder ${this.target} was renamed to ${old} to check that it can be replaced, and could not be renamed back (${codeOf(error)}): move ${old} back to ${this.target}`,
            );
        }
    }

    /** Writes one file of the render; `relative` may name sub-folders, made 0700 on the way. */
    write(relative: string, content: string | Buffer, mode: number): void {
        const parts = path.normalize(relative).split(path.sep);
        if (path.isAbsolute(relative) || parts.includes("..")) {
            throw new Error(`render tried to write ${relative}, outside its output folder`);
        }
        // A path --force would not take for a render's would make the next render refuse the folder.
        if (!isRenderFile(relative)) throw new Error(`render tried to write ${relative}, which is not in RENDER_FILES`);
        let folder = this.staging;
        try {
            for (const part of parts.slice(0, -1)) {
                folder = path.join(folder, part);
                makePrivateFolder(folder);
            }
            writeNewFile(path.join(folder, parts[parts.length - 1]), content, mode);
        } catch (error) {
            throw new Error(
                `cannot write ${relative} of the render (${codeOf(error)}); ${this.target} is left as it was: ${writeFix(codeOf(error))}`,
            );
        }
        this.files.push(relative);
    }

    /**
     * Puts the render in place of the target: the old folder is renamed aside, the new one renamed
     * in, then the old one deleted (its links are removed, never followed). A crash between the
     * renames leaves both complete, the old one at `<target's parent>/.<name>.render-*-old`. The
     * render is done once it is in place: an old folder that cannot be deleted is named to `warn`.
     */
    commit(): void {
        const old = this.aside;
        const replaced = entryAt(this.target) !== undefined;
        try {
            if (replaced) fs.renameSync(this.target, old);
        } catch (error) {
            // Checked by `open`: mounted on, or replaced, since.
            throw new Error(
                `the render could not be put in place (${this.target} is left as it was): ${unswappable(this.target, error)}`,
            );
        }
        try {
            fs.renameSync(this.staging, this.target);
        } catch (error) {
            if (replaced) fs.renameSync(old, this.target);
            throw error;
        }
        try {
            // Checked when the folder was opened; anything written into it since (notes beside a
            // bundle, while the render ran) is kept, with the old output around it.
            const added = replaced ? foreignEntries(old).sort() : [];
            if (added.length > 0) {
                this.warn(
                    `the render is in place, but ${old}, the earlier output of ${this.target}, was not removed: files that are not a render's were written into it during the render (${listed(added)}); it holds private keys: move those files out and remove it yourself; the next render into ${this.target} is refused while it is there`,
                );
            } else if (replaced) removeRender(old);
        } catch (error) {
            this.warn(
                `the render is in place, but ${old}, the earlier output of ${this.target}, could not be removed (${codeOf(error)}); it holds private keys: remove it yourself; the next render into ${this.target} tries again, and is refused while it cannot`,
            );
        } finally {
            this.close();
        }
    }

    /**
     * Removes the unfinished render, releases the lock and removes the folders made for the
     * render: the target stays as it was. After `commit`, does nothing. Throws nothing.
     */
    discard(): void {
        if (this.closed) return;
        try {
            fs.rmSync(this.staging, { recursive: true, force: true });
        } catch {
            // Left for the next render into this folder to remove.
        }
        this.close();
        removeEmptyFolders(this.createdParents);
    }

    /** Done with the staging folder: the lock is released, and an interruption has nothing more to undo. */
    private close(): void {
        this.closed = true;
        this.done();
        this.lock.release();
    }
}
