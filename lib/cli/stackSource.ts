/** `--stack NAME` or `--config FILE`: which stack file a command reads. */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import { nearestProject } from "../config/load";
import { codeOf, physicalPath, unreadableReason } from "../files";
import { isoInstant } from "../pki/x509";

/**
 * Where `--stack NAME` finds Pulumi.NAME.yaml: in the Pulumi project the command runs in (the
 * nearest Pulumi.yaml or Pulumi.yml at or above `cwd`, as the Pulumi CLI finds it), its
 * `stackConfigDir` (`config: <folder>` in old projects) or else the project's own folder; outside
 * any project, `cwd`/stacks.
 */
export function stackConfigDir(cwd: string = process.cwd()): string {
    return configDirOf(projectOf(cwd), cwd);
}

/** stackConfigDir of the project found (if any) from `cwd`. */
function configDirOf(found: ReturnType<typeof projectOf>, cwd: string): string {
    if (found === undefined) return path.resolve(cwd, "stacks");
    return path.resolve(found.dir, found.stackConfigDir ?? ".");
}

/** The Pulumi project a command runs in, as the Pulumi CLI finds it; undefined outside any. */
function projectOf(cwd: string): ReturnType<typeof nearestProject> {
    return nearestProject(
        cwd,
        (file, reason) =>
            new InputError(
                `the Pulumi project file ${file} cannot be read (${reason}); --stack looks for stack files in its stackConfigDir: fix it, or give --config FILE`,
            ),
    );
}

/** The stack file `--stack` or `--config` names, from the folder the command runs in. */
export function stackFilePath(
    options: { stack?: string; config?: string },
    cwd: string = process.cwd(),
): { file: string; label: string } {
    if (options.stack !== undefined && options.config !== undefined) {
        throw new UsageError("give either --stack NAME or --config FILE, not both");
    }
    if (options.config !== undefined) {
        // Its `..` as the disk resolves them, past a link too: the file and its project read are the ones a shell reads.
        const file = physicalPath(options.config, cwd);
        requireStackFile("--config", options.config, file, ", or --stack NAME");
        return {
            file,
            label: path
                .basename(file)
                .replace(/^Pulumi\./, "")
                .replace(/\.ya?ml$/, ""),
        };
    }
    if (options.stack !== undefined) {
        const { project, stack } = stackName(options.stack, stackFileHint(options.stack, cwd));
        const found = projectOf(cwd);
        // Another project's stack has its config in that project, not this one: the Pulumi CLI
        // refuses it too ("provided project name ... doesn't match Pulumi.yaml").
        if (project !== undefined && found?.name !== undefined && project !== found.name) {
            throw new UsageError(
                `--stack ${options.stack} is a stack of project "${project}", but the command runs in project "${found.name}" (${found.file}); run it in the folder of project "${project}", or give --config FILE`,
            );
        }
        const dir = configDirOf(found, cwd);
        const file = path.join(dir, `Pulumi.${stack}.yaml`);
        if (!fs.existsSync(file)) {
            const known = fs.existsSync(dir)
                ? fs
                      .readdirSync(dir)
                      .filter((f) => /^Pulumi\..+\.yaml$/.test(f))
                      .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, ""))
                : [];
            throw new UsageError(
                `--stack ${options.stack}: no ${path.relative(cwd, file)}; known stacks: ${known.length > 0 ? known.join(", ") : "none (run in your Pulumi project, or give --config FILE)"}${stackFileHint(options.stack, cwd)}`,
            );
        }
        return { file, label: stack };
    }
    throw new UsageError(
        "give --stack NAME (reads Pulumi.NAME.yaml in your Pulumi project's stack config folder) or --config FILE",
    );
}

/**
 * The stack of `--stack`: a Pulumi stack name, `org/stack`, or a fully qualified
 * `org/project/stack` whose config is Pulumi.<stack>.yaml, as the Pulumi CLI reads it, and the
 * project it names, which must be the one the command runs in.
 */
function stackName(given: string, hint: string): { project?: string; stack: string } {
    const match = /^(?:[A-Za-z0-9_.-]+\/(?:([A-Za-z0-9_.-]+)\/)?)?([A-Za-z0-9_.-]{1,100})$/.exec(given);
    if (match === null || given.split("/").some((segment) => /^\.+$/.test(segment))) {
        throw new UsageError(
            `--stack must be a Pulumi stack name (letters, digits, "-", "_", "."; or org/project/stack); got "${given}"${hint}`,
        );
    }
    return { project: match[1], stack: match[2] };
}

/**
 * The fix for a --stack given a stack file instead of a stack's name (an easy slip: the file is what
 * one sees in the folder): `--stack <x>` for Pulumi.<x>.yaml, `--config` for any file. Empty otherwise.
 */
function stackFileHint(given: string, cwd: string): string {
    const named = /^Pulumi\.([A-Za-z0-9_.-]{1,100})\.ya?ml$/.exec(given);
    const isFile =
        /\.ya?ml$/.test(given) || fs.statSync(path.resolve(cwd, given), { throwIfNoEntry: false })?.isFile() === true;
    return (
        (named !== null ? `; for stack ${named[1]}, give --stack ${named[1]}` : "") +
        (isFile ? `; to read a stack file, give --config ${given}` : "")
    );
}

/** A mistake in how the command was called: exit status 2, the message and where the usage is (--help). */
export class UsageError extends Error {}

/**
 * What is at `file`, named by `option` as `given`, or undefined where nothing is (ENOENT, and the
 * error codes `absent` also takes for nothing). Any other error is refused in one line with the fix.
 */
export function statGiven(
    option: string,
    given: string,
    file: string,
    absent: readonly string[] = [],
): fs.Stats | undefined {
    try {
        return fs.statSync(file, { throwIfNoEntry: false });
    } catch (error) {
        if (absent.includes(codeOf(error) ?? "")) return undefined;
        // A folder on its path it may not search (EACCES), a link that loops: one line and the fix.
        throw new InputError(`${option} ${given}: cannot read it: ${unreadableReason(error, "apic-istio-pki")}`);
    }
}

/** A stack file named by `option`: a regular file (Node would only say EISDIR of a folder, and hang on a FIFO). */
export function requireStackFile(option: string, given: string, file: string, orElse = ""): void {
    const stat = statGiven(option, given, file);
    if (stat === undefined) throw new UsageError(`${option} ${given}: no such file`);
    if (stat.isDirectory()) {
        throw new UsageError(
            `${option} ${given} is a folder; give a stack file, e.g. ${path.join(given, "Pulumi.dev.yaml")}${orElse}`,
        );
    }
    if (!stat.isFile()) throw new UsageError(`${option} ${given} is not a regular file; give a stack file${orElse}`);
}

/** One sub-command of the `apic-istio-pki` tool. `out` writes to standard output. */
export interface Command {
    readonly usage: string;
    run(argv: string[], out: (text: string) => void): Promise<number>;
}

/** `number`: the option takes a number, which may be given negative (`--warn-days -5`), to be refused by its own rule. */
type OptionSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean; number?: true }>;

/** A value that starts with "-" and is a number: never an option's name, which starts with a letter. */
const NEGATIVE_NUMBER = /^-[\d.]/;

/** Strict option parsing; unknown options and stray arguments are usage errors. T names the options' types. */
export function parse<T>(argv: string[], options: OptionSpec): T {
    // Node refuses `--warn-days -5` as "ambiguous" (it might be a forgotten value and an option), which
    // says nothing of the range; given as `--warn-days=-5` the option's own rule refuses it, naming the
    // range. A numeric option followed by a negative number is taken as that, before any "--".
    const end = argv.includes("--") ? argv.indexOf("--") : argv.length;
    const args: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const numeric = i + 1 < end && arg.startsWith("--") && options[arg.slice(2)]?.number === true;
        if (numeric && NEGATIVE_NUMBER.test(argv[i + 1])) args.push(`${arg}=${argv[++i]}`);
        else args.push(arg);
    }
    const nodeOptions = Object.fromEntries(
        Object.entries(options).map(([name, { type, multiple }]) => [
            name,
            multiple === undefined ? { type } : { type, multiple },
        ]),
    );
    let parsed: ReturnType<typeof parseArgs>;
    try {
        parsed = parseArgs({ args, options: nodeOptions, strict: true, allowPositionals: false, tokens: true });
    } catch (err) {
        // Node's messages may run over several lines (a value that starts with "-"): one line here.
        throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, " "));
    }
    const values: Record<string, unknown> = parsed.values;
    // parseArgs keeps the last of an option given twice: `--config a --config b` would silently read b.
    const seen = new Map<string, string | undefined>();
    for (const token of parsed.tokens ?? []) {
        if (token.kind !== "option" || options[token.name]?.multiple === true) continue;
        if (seen.has(token.name)) {
            const shown = (value: string | undefined) => (value === undefined ? "" : ` "${value}"`);
            throw new UsageError(
                `--${token.name} is given twice (${`--${token.name}${shown(seen.get(token.name))}`}, then --${token.name}${shown(token.value)}); give it once`,
            );
        }
        seen.set(token.name, token.value);
    }
    for (const [name, value] of Object.entries(values)) {
        // `--out "$OUT"` with OUT unset: the current folder is never what was meant.
        if (value === "" || (Array.isArray(value) && value.includes(""))) {
            throw new UsageError(`--${name} needs a value; got an empty one (an unset shell variable?)`);
        }
    }
    return values as T;
}

export function oneOf<T extends string>(value: string, option: string, allowed: readonly T[]): T {
    if (!(allowed as readonly string[]).includes(value)) {
        throw new UsageError(`${option} must be one of ${allowed.join(", ")}; got "${value}"`);
    }
    return value as T;
}

/** Input a command cannot read (a missing or malformed file): exit status 2, like a usage error, without pointing to --help. */
export class InputError extends Error {}

/** `--now`: an isoInstant. */
export function parseNow(value: string): Date {
    const time = isoInstant(value);
    if (time === undefined) {
        throw new UsageError(
            `--now must be an ISO 8601 date or time with its zone on a real calendar day from 1950 to 9999, e.g. 2027-03-01T00:00:00Z; got "${value}"`,
        );
    }
    return time;
}
