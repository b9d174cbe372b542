/** render (--stack NAME | --config FILE) [--out DIR] [--force] */
import { spawnSync } from "child_process";
import * as path from "path";
import { rawConfigFromStackFile } from "../config/load";
import { ENVIRONMENT_NAME } from "../config/validate";
import { EngineState, refusalOf } from "../engine/standIn";
import { Accounts, gitWorkTreeOf, physicalPath, realPath } from "../files";
import { undoUnlessDone } from "../interrupt";
import { RecordError, recordRepair } from "../plan/caRotation";
import { planFromRawConfig } from "../plan/plan";
import { DAY_MS } from "../pki/crl";
import { isWorkingFolder } from "../render/files";
import { deployedRecordOf, latestRecordedTime, renderPlan } from "../render/render";
import { updateWarnings } from "../stack";
import {
    ENCRYPT_PLAIN_OPTION,
    openStateFile,
    passphraseFrom,
    PASSPHRASE_VARIABLE,
    StateFile,
} from "../render/stateFile";
import { Command, InputError, parse, parseNow, stackFilePath, UsageError } from "./stackSource";

const USAGE = `usage: render (--stack NAME | --config FILE) [--out DIR] [--force] [--state FILE [${ENCRYPT_PLAIN_OPTION}]] [--now ISO]

Renders what the stack would create, offline, with real keys and certificates:
  DIR/inventory.json                         every certificate and where it goes
  DIR/k8s/<cluster>/<namespace>/<kind>-<name>.yaml  (a name over 255 bytes cut, ending in a hash)
  DIR/apic/<endpoint>/client.crt client.key ca-chain.pem truststore.pem
  DIR/front-end/public-roots.pem             pki:frontEnd.publicRoots, for expiry to watch
DIR defaults to out/<stack>. DIR and --state FILE inside a git work tree must be git-ignored,
and so must the working files render writes beside them (.DIR.render-*, .FILE.*.tmp) (git
check-ignore; not checked where git is not installed): add out/ to .gitignore, or give others.
Every file is created new, never through a link: private keys 0600,
other files 0644, folders 0700. The render is written into a temporary folder beside DIR and
swapped in whole, so an interrupted render leaves DIR as it was: interrupted (SIGINT, SIGTERM,
SIGHUP), it removes that folder and its locks, then ends by the same signal; interrupted while it
writes its files, it finishes first and puts its output in place, so no file is left half-way. One render at a time
writes to DIR: it locks DIR by creating .DIR.render.lock beside it, removes the temporary folders
of killed renders (.DIR.render-XXXXXX), naming each, and removes the lock when done, failed or
interrupted; a render that finds the lock is refused, naming its holder. A lock is never removed
for you: if no render is running, remove it. A leftover another user owns, or one holding files
that are not a render's, is never removed: the render is refused, naming it.
--force replaces DIR when it holds an earlier render and nothing else, at any depth; nothing of
it survives, unless files were written into DIR while the render ran: then the earlier output is
kept beside it as .DIR.render-XXXXXX-old (keys included), named in a warning, and renders into
DIR are refused until it is removed. Render never writes into, or deletes a tree in, a place
another user can change: DIR owned by another user is refused, even empty, even to root, and so
are DIR and --state FILE when a folder on their path (links followed) is another user's (root's
are trusted), or may be written without the sticky bit (/tmp is fine) by others, or by its group
unless the folder is yours and you alone belong to its group (a user private group, as Ubuntu and
Fedora make: no other user has it as primary group, its member list names no one else).
Without it DIR must be empty or absent. DIR may not be a mount point (a volume, a CI or Docker
bind mount), which the swap cannot rename: give a folder inside it. A stack too large for this
process's heap (about 200 KB per resource, 9 per endpoint) is refused before any key is made,
naming the heap it needs (NODE_OPTIONS=--max-old-space-size=MB) or advising to split the stack.
--state FILE keeps the stand-in's state between renders, as the engine's state does between
updates: e.g. to rehearse the offline-root ceremony, whose first render stops after writing
DIR/csr/<id>.csr (and DIR/pending.json, its environment) and whose second uses the signed certificates, or a staged CA rotation
(pki:caRotation), whose phases are checked against the previous render. As pulumi up deletes
what its program no longer registers, a render that succeeds leaves in the state only what it
registered (and the deployment record): the keys of removed endpoints and of rotated, retired or
revoked certificates are gone, and an endpoint added again gets a new key. A render that fails,
or stops for offline signatures, keeps what the engine made and deletes nothing; one refused
before it ran leaves FILE as it was. A state holds one environment's keys: it records the stack's
pki:environment, and a render of another environment with it is refused before any key is made
(give that environment's own state, or a new file); a state an earlier version wrote records none,
and is taken for the environment of its next render. FILE may not be DIR or inside it, nor inside any
.<name>.render-XXXXXX folder, nor named .<name>.render.lock (links resolved): a render would
delete it with every key. The state holds every private key, the root's included: it
is written 0600 (a new file renamed over the old), and a state file that others may read, or a
link, is refused. With ${PASSPHRASE_VARIABLE} set, the state is encrypted (AES-256-GCM, key from
the passphrase by scrypt); the same passphrase reads it, and a plain state file is then refused
(nothing authenticates it), unless ${ENCRYPT_PLAIN_OPTION} is given once to encrypt a plain
state your own renders wrote. A state file another user owns is refused. One render at a time
uses a state: a render locks FILE by creating FILE.lock (0600, never through a link) before
reading it and removes the lock when done, failed or interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT); a
render that finds the lock is refused, naming its holder's pid, host and start time; a FILE
with another hard link is refused (a render through the other name would take another lock). A lock is
never removed for you (the folder may be shared between machines): if no render is running,
remove FILE.lock.
--now ISO renders as if at that time (certificates' validity, CRLs, the deployment record): to
rehearse a lifecycle, e.g. with the lifecycle command and --state, over years in minutes. With
--state, --now (default: the clock) may not go back before the latest time the state holds (a
certificate's notBefore, a time its deployment record took from a render): give a later --now,
or a new --state.`;

/**
 * Refuses a --state that is the output folder or inside it, or inside a folder named as one render
 * works in beside it (links resolved): the render saves the state, then replaces the output folder
 * whole, and removes such a folder as a killed render's leftover; every key of the state would go
 * with it.
 */
function refuseStateInOutput(state: string, out: string): void {
    // `link/..` as the system reads it (the parent of the link's target), as openStateFile does.
    const [realState, realOut] = [realPath(physicalPath(state)), realPath(out)];
    const example = path.join(path.dirname(out), `${path.basename(out)}.state.json`);
    const outside = `give --state a file outside it, e.g. ${example}`;
    if (realState === realOut || realState.startsWith(realOut + path.sep)) {
        throw new Error(
            `--state ${state} is ${realState === realOut ? "the output folder itself" : `inside the output folder ${out}`}: a render replaces that folder whole, and the state, with every private key, would be deleted with it; ${outside}`,
        );
    }
    // The output folder's lock (.<name>.render.lock): the save would replace the lock, and the next
    // render, finding a lock that names no render, would ask for it to be removed.
    if (/^\..+\.render\.lock$/.test(path.basename(realState))) {
        throw new Error(
            `--state ${state} is named as an output folder's lock (.<name>.render.lock), which renders take, replace and remove; give --state another file, e.g. ${example}`,
        );
    }
    // Of this output folder, or of any other: a render of that one would remove it just the same.
    const folders = path.dirname(realState).split(path.sep);
    const working = folders.findIndex(isWorkingFolder);
    if (working !== -1) {
        const folder = folders.slice(0, working + 1).join(path.sep);
        const name = folders[working].slice(1, folders[working].lastIndexOf(".render-"));
        throw new Error(
            `--state ${state} is inside ${folder}, named as a folder a render of ${path.join(path.dirname(folder), name)} works in (.${name}.render-XXXXXX): a render removes such a folder as a killed render's leftover, and the state, with every private key, would be deleted with it; ${outside}`,
        );
    }
}

const counted = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;
/** GeneralizedTime has four digits for the year (RFC 5280 4.1.2.5.2). */
const LAST_X509_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * Refuses an output folder or state file inside a git work tree that git does not ignore: it holds
 * private keys, which one `git add -A` would commit. So are the files the render writes beside it
 * while it runs (the staging folder and the old output during the swap; the next state before it
 * replaces the file), which a pattern naming the exact path does not cover. `what` names it as
 * the user gave it. Not checked where git is not installed, or does not take the folder for a
 * repository.
 */
function refuseUnignored(what: string, given: string, folder: boolean): void {
    const workTree = gitWorkTreeOf(given);
    if (workTree === undefined) return;
    const relative = path.relative(workTree, realPath(given)).split(path.sep).join("/");
    const [holds, option, example] = folder
        ? ["the render writes private keys there", "--out", "a folder"]
        : ["it holds every private key", "--state", "a file"];
    // A trailing "/" lets an "out/"-style pattern match a folder not made yet. The names beside it
    // are examples of what render makes (files.ts: mkdtemp's six characters; stateFile.ts: 12 hex
    // digits). The work tree itself is never ignored: git is asked nothing then, but must be there.
    const besideIt = (name: string) => path.posix.join(path.posix.dirname(relative), name);
    const base = path.posix.basename(relative);
    const paths =
        relative === ""
            ? []
            : folder
              ? [`${relative}/`, besideIt(`.${base}.render-a1B2c3/`), besideIt(`.${base}.render-a1B2c3-old/`)]
              : [relative, besideIt(`.${base}.0123456789ab.tmp`)];
    const check = spawnSync("git", ["check-ignore", "--stdin", "-z", "--verbose", "--non-matching"], {
        cwd: workTree,
        input: paths.map((file) => `${file}\0`).join(""),
        stdio: ["pipe", "pipe", "pipe"],
        encoding: "utf8",
    });
    // No git at all: nothing to say. (Git that ends before it reads the paths is an EPIPE here.)
    if ((check.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return;
    const notIgnored = pathsNotIgnored(check.stdout, paths.length);
    // Anything else: git could not tell (128: "dubious ownership" of a checkout another user owns,
    // as in a CI container run as root; a broken .git), and that owner's "git add -A" would tell.
    if ((check.status !== 0 && check.status !== 1) || notIgnored === undefined) {
        const said = check.stderr.split("\n").find((line) => line.trim() !== "") ?? `exit ${check.status}`;
        throw new Error(
            `${what} is inside the git work tree ${workTree}, and git cannot say whether it ignores it (git check-ignore: ${said.trim()}): ${holds}, which one "git add -A" there would commit; ` +
                `give ${option} ${example} outside that work tree, or mend what git reports (for "dubious ownership", render as the work tree's owner)`,
        );
    }
    if (relative === "") {
        throw new Error(
            `${what} is the git work tree ${workTree}: ${holds}, which one "git add -A" would commit; ` +
                `give ${option} ${example} git ignores (e.g. under out/, with out/ in .gitignore)`,
        );
    }
    if (notIgnored.includes(paths[0])) {
        throw new Error(
            `${what} is inside the git work tree ${workTree}, and git does not ignore it: ${holds}, which one "git add -A" would commit; ` +
                `give ${option} ${example} git ignores (e.g. under out/, with out/ in .gitignore), or add ${paths[0]} to .gitignore`,
        );
    }
    const [beside] = notIgnored;
    if (beside === undefined) return;
    const [written, pattern] = folder
        ? ["where the render stages its files while it runs", besideIt(`.${base}.render-*/`)]
        : ["where the render writes the next state before it replaces the file", besideIt(`.${base}.*.tmp`)];
    throw new Error(
        `${what} is inside the git work tree ${workTree}, and git ignores it but not ${beside} beside it, ${written}: ${holds}, which one "git add -A" during a render would commit; ` +
            `give ${option} ${folder ? "a folder under one" : "a file in a folder"} git ignores (e.g. under out/, with out/ in .gitignore), or add ${pattern} to .gitignore`,
    );
}

/**
 * The paths `git check-ignore --stdin -z --verbose --non-matching` says no pattern ignores: it gives
 * every path as four fields (source, line, pattern, path), the first three empty when nothing
 * matched; a matched pattern that begins with "!" un-ignores the path. Undefined unless it gave
 * `count` paths.
 */
function pathsNotIgnored(output: string, count: number): string[] | undefined {
    const fields = output.split("\0");
    if (fields.length !== count * 4 + 1) return undefined;
    const notIgnored: string[] = [];
    for (let at = 0; at < count * 4; at += 4) {
        const [source, , pattern, file] = fields.slice(at, at + 4);
        if (source === "" || pattern.startsWith("!")) notIgnored.push(file);
    }
    return notIgnored;
}

export const renderCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{
            stack?: string;
            config?: string;
            out?: string;
            force?: boolean;
            state?: string;
            "encrypt-plain-state"?: boolean;
            now?: string;
        }>(argv, {
            stack: { type: "string" },
            config: { type: "string" },
            out: { type: "string" },
            force: { type: "boolean" },
            state: { type: "string" },
            "encrypt-plain-state": { type: "boolean" },
            now: { type: "string" },
        });
        const { file, label } = stackFilePath(values);
        const now = values.now === undefined ? new Date() : parseNow(values.now);
        const encryptPlain = values["encrypt-plain-state"] === true;
        const passphrase = passphraseFrom(process.env);
        if (encryptPlain && (values.state === undefined || passphrase === undefined)) {
            throw new UsageError(
                `${ENCRYPT_PLAIN_OPTION} encrypts the plain state of --state FILE with ${PASSPHRASE_VARIABLE}: give both`,
            );
        }
        const outGiven = values.out ?? path.join("out", label);
        if (values.state !== undefined) refuseStateInOutput(values.state, outGiven);
        // Interrupted (Ctrl-C, a CI job cancelled), the render removes its staging folder and new
        // state file and releases its locks, then ends by the signal: the output and the state are
        // left as they were, unless the state's save was done. A bug that ends the process does the same.
        const stopWatching = undoUnlessDone();
        const warn = (message: string): void => void process.stderr.write(`warning: ${message}\n`);
        // The system's users and groups, read at most once for this render's checks of its paths.
        const accounts = new Accounts();
        let stateFile: StateFile | undefined;
        try {
            stateFile =
                values.state !== undefined
                    ? openStateFile(values.state, passphrase, {
                          encryptPlain,
                          warn,
                          outputFolder: path.resolve(outGiven),
                          accounts,
                      })
                    : undefined;
        } catch (error) {
            stopWatching();
            throw error;
        }
        try {
            const rawConfig = rawConfigFromStackFile(file);
            // Once the stack file is read (its errors come first), before any key is made.
            refuseUnignored(
                values.out !== undefined
                    ? `--out ${values.out}`
                    : `the output folder ${outGiven} (the default of --out)`,
                outGiven,
                true,
            );
            if (values.state !== undefined)
                refuseUnignored(`--state ${values.state}`, physicalPath(values.state), false);
            // A state holds one environment's keys: another's render must not be given them (nor
            // delete them as unregistered). An invalid pki:environment is refused by the plan below.
            const environment = rawConfig.environment;
            if (environment !== undefined && ENVIRONMENT_NAME.test(environment)) {
                stateFile?.bindTo(environment, values.config ?? path.relative(process.cwd(), file));
            }
            const state: EngineState = stateFile?.state ?? new Map();
            // Going back in time would issue certificates dated before those the state keeps, and
            // CRLs dated before the last ones (a higher number, an older thisUpdate).
            let deployed;
            try {
                deployed = deployedRecordOf(state);
            } catch (error) {
                if (!(error instanceof RecordError)) throw error;
                const repair = recordRepair(error, "restore the state file's previous copy");
                throw new InputError(`--state ${values.state}: its ${error.message}${repair}`);
            }
            const latest = latestRecordedTime(state);
            if (values.state !== undefined && latest !== undefined && now < latest.time) {
                // Without --now the time is this machine's clock, which may be the one that is wrong.
                const [when, fix] =
                    values.now !== undefined
                        ? [`--now ${now.toISOString()}`, "Give a --now"]
                        : [
                              `this machine's clock (${now.toISOString()}; no --now given)`,
                              "Set the clock right, give a --now",
                          ];
                throw new InputError(
                    `${when} is before ${latest.time.toISOString()}, ${latest.what} in --state ${values.state}: ` +
                        `its last render ran then or later, and a render may not go back in time (it would issue certificates dated before those the state keeps). ` +
                        `${fix} at or after ${latest.time.toISOString()}, or a new --state file to start over`,
                );
            }
            // As `pulumi up` does, check CA rotation phases against the last run of this state.
            const plan = planFromRawConfig(rawConfig, { deployed, now });
            const longest = Math.max(...Object.values(plan.config.validityDays));
            if (values.now !== undefined && now.getTime() + longest * DAY_MS > LAST_X509_TIME) {
                throw new UsageError(
                    `--now ${values.now}: a certificate issued then for ${longest} days (pki:validityDays) would end after 9999-12-31, the last date X.509 carries; give an earlier --now`,
                );
            }
            const outDir = path.resolve(outGiven);
            const started = Date.now();
            let result;
            try {
                result = await renderPlan(plan, outDir, {
                    force: values.force === true,
                    stack: label,
                    state,
                    // The state a successful render leaves holds this render's resources alone, as pulumi up's would.
                    prune: true,
                    // Saved before the output is put in place: no output holds certificates of keys the state lacks.
                    beforeCommit: () => stateFile?.save(),
                    warn,
                    accounts,
                });
            } catch (error) {
                // A refusal printed as the key's message alone, without the SDK's serializer prefix.
                if (error instanceof Error) error.message = refusalOf(error);
                throw error;
            } finally {
                // Kept even when the render stops, as the engine keeps what it made (once: a save
                // after the first does nothing); a render refused before it ran leaves the file as it was.
                stateFile?.saveIfChanged();
            }
            out(
                `rendered ${path.relative(process.cwd(), file)} (Option ${plan.config.option}): ${counted(plan.endpoints.length, "endpoint")}, ` +
                    `${counted(result.inventory.length, "certificate")}, ${counted(result.engine.kubernetesObjects().length, "Kubernetes object")} ` +
                    `-> ${path.relative(process.cwd(), outDir) || "."} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
            );
            for (const warning of result.engine.warnings) process.stderr.write(`warning: ${warning}\n`);
            for (const warning of updateWarnings(plan)) process.stderr.write(`warning: ${warning}\n`);
            return 0;
        } finally {
            stopWatching();
            stateFile?.close();
        }
    },
};
