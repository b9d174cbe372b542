/**
 * Where the `pki:` config strings come from. `pulumi up` hands the program every config value as
 * a string (`pulumi.runtime.allConfig()`, from the PULUMI_CONFIG environment variable:
 * sdk/nodejs/runtime/config.ts); render, inventory and diff read a stack file and produce the
 * very same strings, so that both validate the same text. How Pulumi reads a stack file
 * (pulumi/pulumi, read at commit 1b59498 of August 2026):
 * - sdk/go/common/workspace/loaders.go `LoadProjectStackBytes`: the file is decoded by yaml.v3
 *   into Go values (see goYaml.ts), `config:` keys without a namespace get the project's, and
 *   the result is decoded again into config.Map.
 * - sdk/go/common/resource/config/key.go `ParseKey`: a key is `<namespace>:<name>` or the old
 *   `<namespace>:config:<name>`; nothing else. A `.` in a stack file key is part of the name:
 *   `pki:domains.ob` is a key of its own, not a member of `pki:domains`.
 * - sdk/go/common/resource/config/object.go, value.go, plaintext.go: the text of each value
 *   (see pulumiText.ts).
 * - pkg/workspace/config.go `mergeConfig`, `createConfigValue` and
 *   sdk/go/common/workspace/project.go `RewriteShorthandConfigValues`, `Validate`: a key the
 *   stack file does not set takes the project's (Pulumi.yaml `config:`) `value`, or `default` for
 *   the project's own namespace.
 * Anything render cannot reproduce (ESC environments, secrets, YAML it does not read like
 * yaml.v3) is refused with a message, never guessed.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { codeOf, physicalPath, readRegularFile, unreadableReason } from "../files";
import { GoMap, GoValue, parseYamlDocument, refuseMergeKey, toGoValue, UnreadableYaml } from "./goYaml";
import { projectValueText, SecureValue, stackValueText, UnpassableValue } from "./pulumiText";
import { ConfigError, KNOWN_KEYS } from "./validate";
import { characterCount, shownName } from "./values";

const NAMESPACE = "pki";

/** Reads a file's text, or undefined when it does not exist (the disk, or a git revision for diff). */
export type ReadFile = (file: string) => string | undefined;

export const readFromDisk: ReadFile = (file) => {
    try {
        return readRegularFile(file);
    } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new Error(`cannot read ${file}: ${unreadableReason(err, "apic-istio-pki")}`);
    }
};

/** The `pki:` keys, without the prefix; other namespaces are not this program's. */
function pkiStrings(all: Readonly<Record<string, string>>): Record<string, string> {
    const prefix = `${NAMESPACE}:`;
    return Object.fromEntries(
        Object.entries(all)
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v]),
    );
}

/**
 * Letters of other scripts drawn like p, k and i (from Unicode's confusables.txt, only those `pki`
 * needs), which NFKC leaves as they are: Cyrillic er, ka, dotted i and palochka, Greek rho, kappa
 * and iota (each in both cases), Latin kra, dotless i and capital I with a dot.
 */
const LOOKALIKES: ReadonlyMap<string, string> = new Map([
    ...[..."\u0420\u0440\u03a1\u03c1"].map((c) => [c, "p"] as const),
    ...[..."\u041a\u043a\u039a\u03ba\u0138"].map((c) => [c, "k"] as const),
    ...[..."\u0406\u0456\u04c0\u04cf\u0399\u03b9\u0131\u0130"].map((c) => [c, "i"] as const),
]);

/**
 * Whether text reads as `pki`: in any case (`PKI`), in full-width or styled letters (NFKC), with
 * white space or invisible characters in it, or with letters of another script drawn alike.
 */
function readsAsPki(text: string): boolean {
    const skeleton = [...text.normalize("NFKC").replace(/[\s\p{Cf}]/gu, "")].map((c) => LOOKALIKES.get(c) ?? c);
    return skeleton.join("").toLowerCase() === NAMESPACE;
}

/**
 * The key of this program a name without `pki:` stands for: one of its keys (`meshStrictMtls`), or
 * one after `pki` and a ".", "_", "-" or space (`pki.revocations`, `PKI_meshStrictMtls`), either
 * perhaps followed by a member (`pki.validityDays.leaf`, `domains[0]`), which the key does not
 * reach into (`member`).
 */
function intendedKey(name: string): { key: string; member: boolean } | undefined {
    const known = (text: string): { key: string; member: boolean } | undefined => {
        const [key] = text.split(/[.[]/, 1);
        return (KNOWN_KEYS as readonly string[]).includes(key) ? { key, member: key !== text } : undefined;
    };
    const prefixed = /^(.+?)[._\s-](.+)$/su.exec(name);
    return known(name) ?? (prefixed !== null && readsAsPki(prefixed[1]) ? known(prefixed[2]) : undefined);
}

/** How to write what `intendedKey` found: as the key, or the key whole when a member was written. */
const writeAs = ({ key, member }: { key: string; member: boolean }): string =>
    member
        ? `, and a key with "." or "[" is a key of its own, not a member of pki:${key}: write pki:${key} as one map with all its members`
        : `: write it as pki:${key}`;

/** A namespace with every character beyond printable ASCII escaped: `pk\u0456` does not read as `pki`. */
const spelledOut = (namespace: string): string =>
    /^[\x21-\x7e]+$/.test(namespace)
        ? namespace
        : JSON.stringify(namespace).replace(
              /[^\x20-\x7e]/g,
              (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`,
          );

/**
 * Keys (`<namespace>:<name>`, as Pulumi names them) meant for this program that it would never
 * read, so that the setting (a revocation, STRICT mTLS) would be dropped without a word: Pulumi's
 * namespaces are exact, so a namespace that only reads as `pki` (`PKI:`, or `pki:` with a Cyrillic i) is
 * another one. With `project` (where the program reading the config is this package's stack
 * program), also its keys in the project's namespace (misplacedKey), unless that namespace is pki.
 */
function strayKeys(keys: Iterable<string>, project: string | undefined): string[] {
    const problems: string[] = [];
    for (const key of keys) {
        const colon = key.indexOf(":");
        if (colon < 0) continue; // Not a key Pulumi passes.
        const [namespace, name] = [key.slice(0, colon), key.slice(colon + 1)];
        if (namespace !== NAMESPACE && readsAsPki(namespace)) {
            problems.push(
                `${shownName(key)} is in the namespace ${spelledOut(namespace)}, not pki (Pulumi's namespaces are exact), where this program reads nothing: write it as pki:${shownName(name)}`,
            );
        } else if (namespace === project && project !== NAMESPACE) {
            // A project named pki puts a key without a namespace in pki: this program's, read as meant.
            const problem = misplacedKey(name, project);
            if (problem !== undefined) problems.push(problem);
        }
    }
    return problems;
}

/** The fix for settings written as a map under a key `pki` (`pki: { meshStrictMtls: true }`). */
const NOT_NESTED =
    "Pulumi does not nest keys under their namespace (the map is one value of that key): write each setting in it as a key of its own, e.g. pki:meshStrictMtls: true";

/**
 * A key of this program written without `pki:`: Pulumi puts a key without a namespace in the
 * project's (`meshStrictMtls` is `<project>:meshStrictMtls`), which this program never reads, so
 * the setting would be dropped without a word (no STRICT PeerAuthentication, say). Checked only
 * where the program reading the config is this package's stack program: another project may give
 * its own code keys of the same names.
 */
function misplacedKey(name: string, project: string): string | undefined {
    if (readsAsPki(name)) {
        return `${shownName(name)} is in the project's namespace (Pulumi reads a key without one as ${shownName(`${project}:${name}`)}), where this program reads nothing; ${NOT_NESTED}`;
    }
    const intended = intendedKey(name);
    if (intended === undefined) return undefined;
    return `${shownName(name)} is in the project's namespace (Pulumi reads a key without one as ${shownName(`${project}:${name}`)}), where this program reads nothing${writeAs(intended)}`;
}

/**
 * The `pki:` config as `pulumi up` passes it: `pulumi.runtime.allConfig()`. Keys meant for this
 * program that it would not read are refused (strayKeys): with `project` (this package's stack
 * program passes its own), also its keys written without `pki:`.
 */
export function rawConfigFromEngine(all: Readonly<Record<string, string>>, project?: string): Record<string, string> {
    const stray = strayKeys(Object.keys(all), project);
    if (stray.length > 0) throw new ConfigError(stray);
    return pkiStrings(all);
}

/** Where a stack file and its project file are read from, and how errors name the stack file. */
export interface StackFileSource {
    /** Default: the disk. diff reads a git revision. */
    readonly read?: ReadFile;
    /** Default: the path. */
    readonly label?: string;
}

/**
 * The `pki:` config strings a stack file gives the program under `pulumi up`, project-level values
 * included. Keys meant for this program that it would not read are refused, as the program
 * refuses them (rawConfigFromEngine), together with the file's other problems.
 */
export function rawConfigFromStackFile(file: string, source: StackFileSource = {}): Record<string, string> {
    return pkiStrings(configOf(readStackFile(file, source), true));
}

/** Every config key of a stack file (`<namespace>:<name>`) with the text Pulumi passes for it. */
export function stackFileConfig(file: string, source: StackFileSource = {}): Record<string, string> {
    return configOf(readStackFile(file, source), false);
}

/**
 * What diff compares of a stack file, from one reading of it and of its project: the `pki:` config
 * (rawConfigFromStackFile) and, once that is accepted, the settings outside it (otherSettingsOf).
 */
export function stackFileForDiff(
    file: string,
    source: StackFileSource = {},
): { raw: Record<string, string>; others: Record<string, OtherSetting> } {
    const stack = readStackFile(file, source);
    const raw = pkiStrings(configOf(stack, true));
    return { raw, others: otherSettingsOf(stack) };
}

/** A stack file's text and its project, each read once; `label` names the file in messages. */
interface StackFileRead {
    readonly text: string;
    readonly label: string;
    readonly project: Project | undefined;
}

function readStackFile(file: string, { read = readFromDisk, label = file }: StackFileSource): StackFileRead {
    const text = read(file);
    if (text === undefined) throw new Error(`cannot read stack file ${label}: no such file`);
    return { text, label, project: projectOf(file, read) };
}

/**
 * A stack file's config (stackFileConfig), its project's values included. `refuseStray`: keys
 * meant for this program that it would not read are refused (strayKeys), the project's and the
 * keys of other namespaces' secrets included, which render does not read but `pulumi up` passes.
 */
function configOf({ text, label, project }: StackFileRead, refuseStray: boolean): Record<string, string> {
    const problems: string[] = [];
    const unread: string[] = [];
    const config = stackConfig(text, label, project?.name, problems, unread);
    for (const [key, value] of project?.config ?? []) {
        if (!(key in config)) config[key] = value;
    }
    if (refuseStray) {
        problems.push(
            ...(project?.stray ?? []),
            ...strayKeys([...Object.keys(config), ...unread], project?.runsStackProgram ? project.name : undefined),
        );
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}

/** A stack file's setting outside `pki:`: the text Pulumi reads; for a secret, its ciphertext, compared and never shown. */
export interface OtherSetting {
    readonly text: string;
    readonly secret: boolean;
    /** The project file (`Pulumi.yaml`) it comes from, when the stack file does not set it. */
    readonly from?: string;
}

/**
 * Whether YAML's reading of a value holds a `secure` member anywhere: a value that is no plain
 * text (NaN, !!binary beside the secret) is compared as YAML reads it, and its ciphertext must
 * not be shown as text.
 */
function holdsSecure(value: unknown): boolean {
    if (Array.isArray(value)) return value.some(holdsSecure);
    if (value instanceof Map) return [...value].some(([k, v]) => k === "secure" || holdsSecure(v));
    if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return false;
    return Object.entries(value).some(([k, v]) => k === "secure" || holdsSecure(v));
}

/** A node as YAML reads it. */
const asJson = (node: unknown, doc: YAML.Document): unknown => (YAML.isNode(node) ? node.toJSON(doc) : node);

/** A value Pulumi's text cannot be made of, as YAML reads it: a secret when a `secure` member is in it. */
function asRead(node: unknown, doc: YAML.Document, secret: boolean): OtherSetting {
    const value = asJson(node, doc);
    return { text: JSON.stringify(value) ?? "", secret: secret || holdsSecure(value) };
}

/** Whether `err` is a value's fault that otherSetting falls back on YAML's reading for. */
const unreadable = (err: unknown): boolean =>
    err instanceof SecureValue || err instanceof UnreadableYaml || err instanceof UnpassableValue;

/** The top-level keys of a stack file that hold the stack's encrypted data key: compared, never shown. */
const KEY_MATERIAL = new Set(["encryptedkey", "encryptionsalt"]);

/**
 * Everything in a stack file but its `pki:` keys, for diff: its top-level keys but `config:`, by
 * name (`secretsprovider`), and its config keys of other namespaces as Pulumi names them
 * (`kubernetes:kubeconfig`), its project's too. Where the stack's secrets are encrypted and which
 * cluster a provider writes to are set there, beside the CA keys' state: no change of them may
 * pass unseen. Read once configOf has accepted the file.
 */
function otherSettingsOf({ text, label, project }: StackFileRead): Record<string, OtherSetting> {
    const doc = document(text, `stack file ${label}`);
    const settings: Record<string, OtherSetting> = {};
    const add = (key: string, node: unknown, secret: boolean): void => {
        try {
            const text = stackValueText(toGoValue(node, doc, shownName(key)), shownName(key));
            // A map holding a `secure` member beside others ({ secure: ..., extra: 1 }) is text to Pulumi, a secret still.
            settings[key] = { text, secret: secret || holdsSecure(asJson(node, doc)) };
        } catch (err) {
            // A value that is no plain text (a secret, a map holding one) is compared as YAML reads it.
            if (!unreadable(err)) throw err;
            settings[key] = asRead(node, doc, secret || err instanceof SecureValue);
        }
    };
    const root = asConfigError(() => members(doc.contents, `stack file ${label}`));
    for (const [key, node] of root) if (key !== "config") add(key, node, KEY_MATERIAL.has(key));
    const configNode = root.get("config");
    for (const pair of YAML.isMap(configNode) ? configNode.items : []) {
        if (!YAML.isScalar(pair.key)) continue;
        const written = String(pair.key.value);
        const key = configKey(written, project?.name) ?? written;
        if (!key.startsWith(`${NAMESPACE}:`)) add(key, pair.value, false);
    }
    // Pulumi gives a key the stack file does not set the project's value (mergeConfig): a
    // kubernetes:context in Pulumi.yaml points the provider as surely as one in the stack file.
    for (const [key, setting] of project?.others ?? []) {
        if (!Object.hasOwn(settings, key)) settings[key] = setting;
    }
    return settings;
}

interface Project {
    readonly name: string;
    /** Its `main` is this package's stack program (lib/program.ts), which reads pki: keys only. */
    readonly runsStackProgram: boolean;
    /** `<namespace>:<name>` -> text, the `pki:` keys only. */
    readonly config: ReadonlyMap<string, string>;
    /** Its keys meant for this program that the program would not read (strayKeys), as problems naming the project file. */
    readonly stray: readonly string[];
    /** `<namespace>:<name>` -> the value a stack that does not set it gets, the keys of other namespaces. */
    readonly others: ReadonlyMap<string, OtherSetting>;
}

function document(text: string, source: string): YAML.Document {
    try {
        return parseYamlDocument(text);
    } catch (err) {
        throw new Error(`cannot read ${source}: ${(err as Error).message}`);
    }
}

/**
 * The members of a YAML map by their text keys (a non-text key is left to the caller); a merge key
 * is refused (UnreadableYaml), `where` naming the map: yaml.v3 would add the members it merges.
 */
function members(node: unknown, where: string): Map<string, unknown> {
    const found = new Map<string, unknown>();
    if (!YAML.isMap(node)) return found;
    refuseMergeKey(node, where);
    for (const pair of node.items) {
        if (YAML.isScalar(pair.key)) found.set(String(pair.key.value), pair.value);
    }
    return found;
}

const count = (n: number, one: string): string => `${n} ${n === 1 ? one : `${one}s`}`;

/**
 * A YAML node by its kind and size, never its text: a file given by mistake as a stack file may be
 * a password (render writes one beside each PKCS#12 bundle), a key or a .env of tokens.
 */
const describe = (node: unknown): string =>
    YAML.isSeq(node)
        ? `a list of ${count(node.items.length, "item")}`
        : YAML.isMap(node)
          ? `a map of ${count(node.items.length, "key")}`
          : YAML.isAlias(node)
            ? "an alias (*name)"
            : YAML.isScalar(node) && String(node.value ?? "") !== ""
              ? `a text of ${count(characterCount(String(node.value)), "character")}`
              : "nothing";

/**
 * A node as written, for messages: a scalar's text (`2026-01-01`, not the time it stands for;
 * `9007199254740993`, not a rounded number), an alias's as the node it names, a list or map by
 * describe (in brackets), never its text.
 */
function asWritten(node: unknown, doc: YAML.Document): string {
    const target = YAML.isAlias(node) ? node.resolve(doc) : node;
    return YAML.isScalar(target) ? shownName(String(target.value ?? "")) : `(${describe(target)})`;
}

/**
 * The project whose stack file this is (workspace/paths.go `DetectProjectPathFrom`, `ProjectStackPath`):
 * the Pulumi.yaml (or .yml) above the file whose `stackConfigDir` (default: its own folder) holds
 * it. Pulumi finds its project from the folder it runs in, so a second project file claiming the
 * same folder (a `stacks/Pulumi.yaml` beside a root one with `stackConfigDir: stacks`) would let
 * `pulumi up` from the root read other config than this tool: refused.
 */
function projectOf(file: string, read: ReadFile): Project | undefined {
    // Absolute, or the walk would stop at the current folder; and with `..` removed, or
    // `scripts/../stacks` would pass the root twice (its project counted as two). Removed as the
    // disk does (`link/..` is the parent of the link's target), not as text: the project is the
    // one beside the stack file read, whatever path names it (diff's --base, --config).
    const stackDir = path.dirname(physicalPath(file));
    const claims: { projectFile: string; doc: YAML.Document; root: Map<string, unknown>; dir: string }[] = [];
    let nearest = true;
    for (let dir = stackDir; ; dir = path.dirname(dir)) {
        let found: ReturnType<typeof projectFileIn>;
        try {
            found = projectFileIn(dir, read);
        } catch (error) {
            // The nearest project file is the user's: its faults are theirs to hear. One farther up
            // (another user's, in a shared /tmp) that cannot be read is no project pulumi could run.
            if (nearest) throw error;
        }
        if (found !== undefined) {
            nearest = false;
            const { projectFile, doc, root } = found;
            // `config: <folder>` is the old spelling of stackConfigDir (project.go RewriteConfigPathIntoStackConfigDir).
            const stackConfigDir = [root.get("stackConfigDir"), root.get("config")].find(YAML.isScalar)?.value;
            if (path.resolve(dir, String(stackConfigDir ?? "")) === path.resolve(stackDir)) {
                claims.push({ projectFile, doc, root, dir });
            }
        }
        if (path.dirname(dir) === dir) break;
    }
    if (claims.length > 1) {
        throw new ConfigError([
            `${file} is a stack file of ${claims.length} Pulumi projects, ${claims.map((c) => c.projectFile).join(" and ")}: ` +
                "pulumi takes the one it finds from the folder it runs in, so which project's config and program apply is unclear; " +
                "remove the project file that is not the stack's, or move the stack files",
        ]);
    }
    const [claim] = claims;
    if (claim === undefined) return undefined;
    const main = claim.root.get("main");
    const runsStackProgram = YAML.isScalar(main) && isStackProgram(path.resolve(claim.dir, String(main.value)));
    return { ...projectConfig(claim, runsStackProgram), runsStackProgram };
}

/**
 * The project the Pulumi CLI runs in from the folder `from`: the nearest Pulumi.yaml (or .yml) at
 * or above it (workspace/paths.go DetectProjectPathFrom), its folder, its `name` and its
 * `stackConfigDir` (`config: <folder>` in old projects), each when its value is text as yaml.v3
 * reads it (a `\'` escape, lone CR line breaks; `name: true` is no text); undefined outside any
 * project. One that cannot be read is refused with `unusable`'s error, given the file and the reason.
 */
export function nearestProject(
    from: string,
    unusable: (file: string, reason: string) => Error,
): { file: string; dir: string; name?: string; stackConfigDir?: string } | undefined {
    for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
        const file = ["Pulumi.yaml", "Pulumi.yml"].map((name) => path.join(dir, name)).find(fs.existsSync);
        if (file !== undefined) {
            let text: string;
            try {
                text = readRegularFile(file);
            } catch (error) {
                throw unusable(file, codeOf(error) === "ENOENT" ? "ENOENT" : (error as Error).message);
            }
            try {
                const doc = parseYamlDocument(text);
                const root = members(doc.contents, "the top level");
                const textOf = (key: string): string | undefined => {
                    const node = root.get(key);
                    // A map (the `config:` of keys) is no text, and is not decoded: its faults are the loader's to name.
                    const value = YAML.isCollection(node) ? undefined : toGoValue(node, doc, key);
                    return typeof value === "string" ? value : undefined;
                };
                return {
                    file,
                    dir,
                    name: textOf("name"),
                    stackConfigDir: textOf("stackConfigDir") ?? textOf("config"),
                };
            } catch (error) {
                if (error instanceof UnreadableYaml) throw unusable(file, error.message);
                throw error;
            }
        }
        if (path.dirname(dir) === dir) return undefined;
    }
}

/**
 * The project file in `dir` (Pulumi.yaml, else Pulumi.yml), parsed, and its top level (members),
 * or undefined when there is none.
 */
function projectFileIn(
    dir: string,
    read: ReadFile,
): { projectFile: string; doc: YAML.Document; root: Map<string, unknown> } | undefined {
    for (const name of ["Pulumi.yaml", "Pulumi.yml"]) {
        const projectFile = path.join(dir, name);
        const text = read(projectFile);
        if (text === undefined) continue;
        const doc = document(text, projectFile);
        return { projectFile, doc, root: asConfigError(() => members(doc.contents, projectFile)) };
    }
    return undefined;
}

/** `read`'s value, its UnreadableYaml (a merge key, say) thrown as the ConfigError a project file's fault is. */
function asConfigError<T>(read: () => T): T {
    try {
        return read();
    } catch (error) {
        if (error instanceof UnreadableYaml) throw new ConfigError([error.message]);
        throw error;
    }
}

/** Whether `main` (resolved) is this package's stack program (its compiled file, as `require` finds it with or without ".js"). */
function isStackProgram(main: string): boolean {
    const program = path.resolve(__dirname, "../program.js");
    const real = (file: string): string => {
        try {
            return fs.realpathSync(file);
        } catch {
            return file;
        }
    };
    return [main, `${main}.js`].some((candidate) => real(candidate) === real(program));
}

/**
 * Pulumi.yaml `config:` entries of the `pki` namespace, as the text a stack that does not set them
 * gets, and the problems of keys of other namespaces meant for this program (strayKeys; in the
 * project's own namespace when `runsStackProgram`): Pulumi passes their values too.
 */
function projectConfig(
    { doc, projectFile: source, root }: { doc: YAML.Document; projectFile: string; root: Map<string, unknown> },
    runsStackProgram: boolean,
): Omit<Project, "runsStackProgram"> {
    const nameNode = root.get("name");
    const name = YAML.isScalar(nameNode) ? String(nameNode.value) : "";
    const config = new Map<string, string>();
    const others = new Map<string, OtherSetting>();
    const stray: string[] = [];
    const problems: string[] = [];
    const configNode = root.get("config");
    asConfigError(() => refuseMergeKey(configNode, `${source}: "config:"`));
    // Pulumi reads the keys an alias names (and refuses a list): read as no config, either went without a word.
    if (configNode !== undefined && !YAML.isMap(configNode) && !YAML.isScalar(configNode)) {
        throw new ConfigError([
            `${source}: "config:" must be a map of keys such as pki:option: 2 (or the stack files' folder, the old spelling of stackConfigDir); got ${describe(configNode)}`,
        ]);
    }
    for (const pair of YAML.isMap(configNode) ? configNode.items : []) {
        const key = YAML.isScalar(pair.key) ? configKey(String(pair.key.value), name) : undefined;
        if (key === undefined || key === null) continue;
        if (!key.startsWith(`${NAMESPACE}:`)) {
            stray.push(...strayKeys([key], runsStackProgram ? name : undefined).map((p) => `${source}: ${p}`));
            others.set(key, {
                ...otherProjectValue(pair.value, doc, key, key.startsWith(`${name}:`)),
                from: path.basename(source),
            });
            continue;
        }
        const where = `${source} config ${shownName(key)}`;
        try {
            const value = projectValue(pair.value, doc, shownName(key), key.startsWith(`${name}:`));
            if (/[.[\]"]/.test(key.slice(NAMESPACE.length + 1))) {
                problems.push(
                    `${where}: Pulumi reads a project key with ".", "[" or quotes as a path into another key, which render does not; set the whole key instead`,
                );
            } else if (typeof value === "string") {
                problems.push(`${where} ${value}`);
            } else {
                config.set(key, projectValueText(value.value, shownName(key)));
            }
        } catch (err) {
            if (err instanceof SecureValue) {
                problems.push(`${source}: ${err.message} is a secret; ${NO_SECRETS}`);
            } else if (err instanceof UnreadableYaml || err instanceof UnpassableValue) {
                problems.push(`${source}: ${err.message}`);
            } else {
                throw err;
            }
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return { name, config, stray, others };
}

/**
 * A project entry of another namespace as otherSettingsOf compares it: the text Pulumi
 * passes, or, for an entry it could not pass (not this program's to refuse), as YAML reads it.
 */
function otherProjectValue(node: unknown, doc: YAML.Document, key: string, ownNamespace: boolean): OtherSetting {
    try {
        const value = projectValue(node, doc, shownName(key), ownNamespace);
        if (typeof value !== "string") {
            return { text: projectValueText(value.value, shownName(key)), secret: holdsSecure(asJson(node, doc)) };
        }
    } catch (err) {
        if (!unreadable(err)) throw err;
        return asRead(node, doc, err instanceof SecureValue);
    }
    return asRead(node, doc, false);
}

/**
 * The value a project entry gives (project.go `RewriteShorthandConfigValues` and `Validate`):
 * text, a whole number, a boolean or a list stand for `{ value: ... }` (`{ default: ... }` in the
 * project's own namespace); a map declares `value` or `default`. A string is the problem, showing
 * the entry and its keys as written (`key` names it in errors thrown).
 */
function projectValue(
    node: unknown,
    doc: YAML.Document,
    key: string,
    ownNamespace: boolean,
): { value: GoValue } | string {
    const entry = toGoValue(node, doc, key);
    if (typeof entry === "string" || typeof entry === "bigint" || typeof entry === "boolean" || Array.isArray(entry)) {
        return { value: entry };
    }
    if (!(entry instanceof GoMap)) {
        return `must be text, a whole number, true or false, a list or { value: ... } (the Pulumi.yaml schema); got ${entry === null ? "nothing" : asWritten(node, doc)}`;
    }
    const declaration = new Map<GoValue, GoValue>(entry.entries);
    const fields = ["type", "items", "description", "secret", "default", "value"];
    // The entries were decoded from the map's pairs, in their order.
    const pairs = (YAML.isAlias(node) ? node.resolve(doc) : node) as YAML.YAMLMap;
    const unknown = entry.entries.flatMap(([k], i) =>
        typeof k === "string" && fields.includes(k) ? [] : [asWritten(pairs.items[i].key, doc)],
    );
    if (unknown.length > 0) {
        return `has ${unknown.join(", ")}; a project config entry has value (or type, default, description, secret, items)`;
    }
    const value = declaration.get("value") ?? null;
    const fallback = declaration.get("default") ?? null;
    if (!ownNamespace && (declaration.has("type") || declaration.has("default"))) {
        return `is not in the project's namespace, so Pulumi allows only value (no type or default) for it`;
    }
    if (value !== null && fallback !== null) return `cannot have both a default and a value`;
    if (value === null && fallback === null) return `must provide a value`;
    return { value: value ?? fallback };
}

const NO_SECRETS =
    "render cannot decrypt Pulumi secrets, and no pki: key needs to be one: set it in plain text (pulumi config set without --secret)";

/**
 * A config key as Pulumi names it (key.go `ParseKey`; loaders.go `stackConfigNamespacedWithProject`
 * for keys without a namespace): `<namespace>:<name>`; undefined when Pulumi refuses it, null for
 * a key without a namespace in a file of no project (it takes the project's name, never pki).
 */
function configKey(key: string, projectName: string | undefined): string | undefined | null {
    const parts = key.split(":");
    if (parts.length === 1) return projectName === undefined ? null : `${projectName}:${key}`;
    if (parts.length === 2) return key;
    if (parts.length === 3 && parts[1] === "config" && parts[0] !== "" && parts[2] !== "") {
        return `${parts[0]}:${parts[2]}`;
    }
    return undefined;
}

/**
 * The `config:` map of a stack file as `<namespace>:<name>` -> text; problems are collected, and so
 * are the keys of other namespaces whose secrets are not read (`unread`).
 */
function stackConfig(
    text: string,
    source: string,
    projectName: string | undefined,
    problems: string[],
    unread: string[],
): Record<string, string> {
    const doc = document(text, `stack file ${source}`);
    let root: Map<string, unknown>;
    try {
        root = members(doc.contents, `stack file ${source}`);
        refuseMergeKey(root.get("config"), `stack file ${source}: "config:"`);
    } catch (err) {
        if (!(err instanceof UnreadableYaml)) throw err;
        problems.push(err.message);
        return {};
    }
    if (root.has("environment")) {
        problems.push(
            `stack file ${source} imports Pulumi ESC environments (environment:), whose values render cannot read; put the pki: keys in the stack file itself`,
        );
    }
    if (doc.contents !== null && !YAML.isMap(doc.contents)) {
        problems.push(
            `stack file ${source} must be a map holding "config:" (config: { pki:option: 2, ... }); it is ${describe(doc.contents)}`,
        );
        return {};
    }
    const configNode = root.get("config");
    if (!YAML.isMap(configNode)) {
        problems.push(
            `stack file ${source}: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got ${describe(configNode)}`,
        );
        return {};
    }
    const config: Record<string, string> = {};
    const written = new Map<string, string>();
    for (const pair of configNode.items) {
        let rawKey: GoValue;
        try {
            rawKey = toGoValue(pair.key, doc, "a config key");
        } catch (err) {
            if (!(err instanceof UnreadableYaml)) throw err;
            problems.push(err.message);
            continue;
        }
        const key = typeof rawKey === "string" ? configKey(rawKey, projectName) : undefined;
        if (typeof rawKey !== "string" || key === undefined) {
            problems.push(
                `the config key ${asWritten(pair.key, doc)} is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option`,
            );
            continue;
        }
        if (key === null) {
            // Outside a project the file is read for this package's stack program (render,
            // inventory, diff), which reads only pki: keys: one of them without it would be dropped.
            const intended = intendedKey(rawKey);
            if (readsAsPki(rawKey)) {
                problems.push(
                    `${shownName(rawKey)} has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing; ${NOT_NESTED}`,
                );
            } else if (intended !== undefined) {
                problems.push(
                    `${shownName(rawKey)} has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing${writeAs(intended)}`,
                );
            }
            continue;
        }
        const earlier = written.get(key);
        if (earlier !== undefined) {
            problems.push(
                `${shownName(rawKey)} and ${shownName(earlier)} are the same key to Pulumi (${shownName(key)}); keep one`,
            );
            continue;
        }
        written.set(key, rawKey);
        const ours = key.startsWith(`${NAMESPACE}:`);
        try {
            config[key] = stackValueText(toGoValue(pair.value, doc, shownName(key)), shownName(key));
        } catch (err) {
            if (err instanceof SecureValue) {
                // Other namespaces' secrets are not ours to read; only their keys are checked (strayKeys).
                if (ours) problems.push(`${err.message} is a secret ({ secure: ... }); ${NO_SECRETS}`);
                else unread.push(key);
            } else if (err instanceof UnreadableYaml) {
                problems.push(err.message);
            } else if (err instanceof UnpassableValue) {
                problems.push(err.message);
            } else {
                throw err;
            }
        }
    }
    return config;
}
