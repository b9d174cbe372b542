/**
 * Edits a stack file in place, changing nothing but the values set: comments, key order, quoting
 * and flow or block layout stay as written. The `yaml` library's Document API locates each node
 * (with its source range); the text is spliced there, so that the pull request shows exactly the
 * lines that change (re-printing the whole document would re-flow untouched lines).
 */
import { isDeepStrictEqual } from "util";
import * as YAML from "yaml";
import { aliasTargets, parseYamlDocument, readOtherwiseByYaml12, resolvePlainScalar } from "../config/goYaml";
import { yamlProblem } from "../files";

/** A value to set below the stack file's `config:` map, or a key to remove. */
export interface ValueEdit {
    /** e.g. ["pki:rotation", "endpoints", "ob", "serverEpoch"]; the first key may also be written pki:config:rotation. */
    readonly path: readonly string[];
    /** undefined: remove the key (and its value), so that the default or a wider setting applies. */
    readonly value: number | string | undefined;
}

/** A stack file this editor cannot change the way Pulumi would read it. */
export class StackEditError extends Error {}

/** YAML 1.1's booleans and nulls, whatever their case: yaml.v3 reads y, yes, on... as booleans into a Go bool. */
const YAML_11_WORDS = /^(true|false|null|yes|no|on|off|y|n)$/i;

/**
 * Whether `text`, written plain where `characters` are safe, reads back as that same text in every
 * reader of the file: `yaml`'s YAML 1.2 core schema (null, True, 1e3, 0x10, .inf), Pulumi's
 * yaml.v3 (resolvePlainScalar: also ~, 1_000, 0777, timestamps) and YAML 1.1's words, in any case.
 * Anything else is written quoted.
 */
const readsBackPlain = (text: string, characters: RegExp): boolean =>
    characters.test(text) &&
    !YAML_11_WORDS.test(text) &&
    resolvePlainScalar(text) === text &&
    YAML.parse(text) === text;

/** The text of a scalar: plain when YAML (and Pulumi's yaml.v3) read it back as the same value. */
function scalarText(value: number | string): string {
    if (typeof value === "number") return String(value);
    return readsBackPlain(value, /^[a-z][A-Za-z0-9_-]*$/) ? value : JSON.stringify(value);
}

/**
 * The text of a map key: plain when read back as that same text, else quoted; an endpoint (a
 * domain) may be named null, true, y or 1e3, which written plain would be another key, or none.
 * Exported for tests.
 */
export const keyText = (key: string): string =>
    readsBackPlain(key, /^[A-Za-z_][A-Za-z0-9_.:-]*$/) ? key : JSON.stringify(key);

/** `{ a: { b: v } }` for the keys after the first, as a flow map entry's value. */
const flowValue = (keys: readonly string[], value: number | string): string =>
    keys.length === 0 ? scalarText(value) : `{ ${keyText(keys[0])}: ${flowValue(keys.slice(1), value)} }`;

/**
 * Block lines for a new key of a block map at `indent`, each ended by `eol`; the innermost map is a
 * flow map, as the README writes them.
 */
function blockLines(
    keys: readonly string[],
    value: number | string,
    indent: string,
    step: string,
    eol: string,
): string {
    if (keys.length <= 2) return `${indent}${keyText(keys[0])}: ${flowValue(keys.slice(1), value)}${eol}`;
    return `${indent}${keyText(keys[0])}:${eol}${blockLines(keys.slice(1), value, indent + step, step, eol)}`;
}

/** The file's line ending: CRLF when its lines end so, else LF. */
const lineEnding = (text: string): string => (text.includes("\r\n") ? "\r\n" : "\n");

/**
 * Where the value of a block map's last pair ends: the end of its last value, nested maps and lists
 * followed down to their last entry. Not the map's own end, which runs past the comments after
 * that value, and the blanks that indent the line after them.
 */
function lastValueEnd(map: YAML.YAMLMap): number | undefined {
    let node: unknown = map;
    while ((YAML.isMap(node) || YAML.isSeq(node)) && !node.flow && node.items.length > 0) {
        const last: unknown = node.items[node.items.length - 1];
        node = YAML.isPair(last) ? (last.value ?? last.key) : last;
    }
    return YAML.isNode(node) || YAML.isAlias(node) ? node.range?.[1] : undefined;
}

const columnOf = (text: string, offset: number): number => offset - (text.lastIndexOf("\n", offset - 1) + 1);

function pairOf(map: YAML.YAMLMap, keys: readonly string[]): YAML.Pair | undefined {
    return map.items.find((pair) => YAML.isScalar(pair.key) && keys.includes(String(pair.key.value)));
}

/** The same key as Pulumi reads it: `pki:x` is also written `pki:config:x`. */
const spellings = (key: string): string[] => {
    const [namespace, name] = key.split(":");
    return name === undefined ? [key] : [key, `${namespace}:config:${name}`];
};

/** Inserts `keys: value` (the keys nested) into `map`, which lacks keys[0]. */
function insert(
    text: string,
    map: YAML.YAMLMap,
    keys: readonly string[],
    value: number | string,
    step: string,
): string {
    const range = map.range;
    if (range === null || range === undefined) throw new StackEditError(`cannot locate the map that gets ${keys[0]}`);
    if (map.flow) {
        const entry = `${keyText(keys[0])}: ${flowValue(keys.slice(1), value)}`;
        const last = map.items[map.items.length - 1] as YAML.Pair | undefined;
        if (last === undefined) {
            // `{}`, or `{` and `}` apart with blanks or comments between: the entry right after `{`,
            // before any comment (one after it would take the entry and the `}` too).
            const open = text.indexOf("{", range[0]);
            const close = text.lastIndexOf("}", range[1] - 1);
            if (open === -1 || close < open) throw new StackEditError(`cannot locate the map that gets ${keys[0]}`);
            return /^\s*$/.test(text.slice(open + 1, close))
                ? `${text.slice(0, open + 1)} ${entry} ${text.slice(close)}`
                : `${text.slice(0, open + 1)} ${entry}${text.slice(open + 1)}`;
        }
        // Right after the last entry's value: before the comma that may follow it (which then
        // follows the new entry, still trailing) and before a comment on its line (which would
        // take the new entry, and the `}` after it, were it written after).
        const lastNode = (YAML.isNode(last.value) ? last.value : last.key) as YAML.Node | undefined;
        const end = lastNode?.range?.[1];
        if (end === undefined) throw new StackEditError(`cannot locate the last entry of the map that gets ${keys[0]}`);
        return `${text.slice(0, end)}, ${entry}${text.slice(end)}`;
    }
    const first = map.items[0]?.key as YAML.Scalar | undefined;
    const firstRange = first?.range;
    if (firstRange === null || firstRange === undefined)
        throw new StackEditError(`cannot locate the map that gets ${keys[0]}`);
    // The map's own column: where it starts (the `? ` of an explicit first key, else the first key),
    // past the indicators before it on its line (`- ` of a sequence entry, `? ` or `: ` of an explicit
    // pair whose key or value it is); a tag or an anchor before the first key is the key's, so the
    // column is where that tag or anchor starts.
    const start = Math.min(range[0], firstRange[0]);
    const before = text.slice(text.lastIndexOf("\n", start - 1) + 1, start);
    const indent = " ".repeat(/^ *(?:[-?:] +)*/.exec(before)?.[0].length ?? 0);
    const end = lastValueEnd(map);
    if (end === undefined) throw new StackEditError(`cannot locate the last entry of the map that gets ${keys[0]}`);
    const eol = lineEnding(text);
    const lines = blockLines(keys, value, indent, step, eol);
    // A block scalar's value takes the line break that ends it.
    const newline = end > 0 && text[end - 1] === "\n" ? end - 1 : text.indexOf("\n", end);
    if (newline === -1) return `${text}${eol}${lines}`;
    const at = afterCommentsOfPair(text, newline + 1, indent.length);
    return `${text.slice(0, at)}${lines}${text.slice(at)}`;
}

/**
 * Where a new key of a block map at column `column` goes, `from` being the start of the line after
 * its last pair's value: past the comment lines indented deeper than the map, which are about that
 * pair's value and stay with it, and before the rest (blank lines, comments at the map's column or
 * an outer one, the next key). Never inside the blanks that indent the next key's line, which would
 * take that key out of its map.
 */
function afterCommentsOfPair(text: string, from: number, column: number): number {
    let at = from;
    for (let line = from; line < text.length;) {
        const newline = text.indexOf("\n", line);
        const next = newline === -1 ? text.length : newline + 1;
        const content = text.slice(line, next);
        const comment = /^( *)#/.exec(content);
        if (comment !== null && comment[1].length > column) at = next;
        else if (!/^[ \t]*\r?\n?$/.test(content)) break;
        line = next;
    }
    return at;
}

/** The offset of the comma that follows `from` past blanks only, or undefined. */
function commaAfter(text: string, from: number): number | undefined {
    const blanks = /^[ \t\r\n]*/.exec(text.slice(from))?.[0].length ?? 0;
    return text[from + blanks] === "," ? from + blanks : undefined;
}

/**
 * `text` without `pair`: in a flow map, the entry and the comma before it (after it, for the first),
 * or the entry's lines when it has lines of its own (a flow map written one entry a line); in a block
 * map, the pair's lines. A comment on the removed lines goes with them, one on another entry's line
 * stays there. A map is never left empty: a pair that is its map's only one is refused (an empty
 * block map would read as null).
 */
function remove(text: string, map: YAML.YAMLMap, pair: YAML.Pair, where: string): string {
    const index = map.items.indexOf(pair);
    const key = pair.key as YAML.Scalar;
    const value = pair.value as YAML.Scalar;
    if (map.items.length === 1) throw new StackEditError(`cannot remove ${where}: it is the only key of its map`);
    if (!key.range || !value.range) throw new StackEditError(`cannot locate ${where}`);
    const lineStart = text.lastIndexOf("\n", key.range[0] - 1) + 1;
    if (map.flow) {
        const previous = map.items[index - 1]?.value as YAML.Node | undefined;
        const lineRest = /^[ \t]*(,?)[ \t]*(#[^\r\n]*)?(\r?\n|$)/.exec(text.slice(value.range[1]));
        const separator = previous?.range ? commaAfter(text, previous.range[1]) : undefined;
        if (/^[ \t]*$/.test(text.slice(lineStart, key.range[0])) && lineRest !== null) {
            // The entry's own lines go, with its comment; the last entry (no comma of its own) takes
            // the comma after the entry before it, whose comment stays on its line.
            const lines = text.slice(0, lineStart) + text.slice(value.range[1] + lineRest[0].length);
            if (lineRest[1] === ",") return lines;
            if (separator !== undefined) return text.slice(0, separator) + lines.slice(separator + 1);
        }
        if (previous?.range && text.slice(previous.range[1], key.range[0]).includes("#") && separator !== undefined)
            return text.slice(0, separator) + text.slice(separator + 1, key.range[0]) + text.slice(value.range[1]);
        if (previous?.range) return text.slice(0, previous.range[1]) + text.slice(value.range[1]);
        const next = map.items[index + 1].key as YAML.Scalar;
        if (!next.range) throw new StackEditError(`cannot locate the key after ${where}`);
        return text.slice(0, key.range[0]) + text.slice(next.range[0]);
    }
    const newline = text.indexOf("\n", value.range[1]);
    return text.slice(0, lineStart) + (newline === -1 ? "" : text.slice(newline + 1));
}

/** Each node an alias repeats, with its first alias and that one's key path, e.g. ["config", "other:copy"]. */
function aliasedNodes(doc: YAML.Document): Map<YAML.Node, { alias: YAML.Alias; where: string[] }> {
    const targets = aliasTargets(doc);
    const aliased = new Map<YAML.Node, { alias: YAML.Alias; where: string[] }>();
    const walk = (node: unknown, where: string[]): void => {
        if (YAML.isAlias(node)) {
            const target = targets.get(node);
            if (target !== undefined && !aliased.has(target)) aliased.set(target, { alias: node, where });
        } else if (YAML.isMap(node)) {
            for (const pair of node.items) {
                walk(pair.key, where);
                walk(pair.value, [...where, YAML.isScalar(pair.key) ? String(pair.key.value) : String(pair.key)]);
            }
        } else if (YAML.isSeq(node)) {
            node.items.forEach((item, i) => walk(item, [...where, String(i)]));
        }
    };
    walk(doc.contents, []);
    return aliased;
}

/**
 * Refuses to change a node that an alias repeats (the value set or removed, or a map on the way to
 * it): the alias would take the new value too, a change no one proposed that only shows up in the
 * certificate diff. `touched` are the nodes with their key paths below `config:`.
 */
function refuseAliased(doc: YAML.Document, edited: string, touched: readonly [YAML.Node, string][]): void {
    const aliased = aliasedNodes(doc);
    for (const [node, where] of touched) {
        const repeat = aliased.get(node);
        if (repeat === undefined) continue;
        const anchor = repeat.alias.source;
        const at = (repeat.where[0] === "config" ? repeat.where.slice(1) : repeat.where).join(".");
        throw new StackEditError(
            `cannot edit ${edited}: ${where === edited ? "its value" : where} carries the anchor &${anchor}, which ${at} repeats (*${anchor}), ` +
                `so the edit would change ${at} too: write the ${YAML.isMap(node) ? "map" : "value"} out at ${at} in place of *${anchor}`,
        );
    }
}

function applyEdit(text: string, edit: ValueEdit): string {
    const doc = YAML.parseDocument(text);
    if (doc.errors.length > 0) throw new StackEditError(`the stack file is not YAML: ${yamlProblem(doc.errors[0])}`);
    const config = doc.get("config", true);
    if (!YAML.isMap(config) || config.flow) throw new StackEditError('the stack file has no block map "config:"');
    const configKey = config.items[0]?.key as YAML.Scalar | undefined;
    const step = " ".repeat(configKey?.range ? columnOf(text, configKey.range[0]) || 2 : 2);
    const edited = edit.path.join(".");
    // The maps on the way to the value, each of which the edit changes.
    const touched: [YAML.Node, string][] = [[config, "config"]];
    let map: YAML.YAMLMap = config;
    for (const [i, key] of edit.path.entries()) {
        const pair = pairOf(map, i === 0 ? spellings(key) : [key]);
        if (pair === undefined) {
            // Nothing to remove: the key is not set.
            if (edit.value === undefined) return text;
            refuseAliased(doc, edited, touched);
            return insert(text, map, edit.path.slice(i), edit.value, step);
        }
        const where = edit.path.slice(0, i + 1).join(".");
        if (i === edit.path.length - 1) {
            if (!YAML.isScalar(pair.value) || !pair.value.range)
                throw new StackEditError(`${where} is not a single value`);
            refuseAliased(doc, edited, [...touched, [pair.value, where]]);
            if (edit.value === undefined) return remove(text, map, pair, where);
            const [start, end] = pair.value.range;
            return `${text.slice(0, start)}${scalarText(edit.value)}${text.slice(end)}`;
        }
        if (!YAML.isMap(pair.value)) throw new StackEditError(`${where} is not a map`);
        map = pair.value;
        touched.push([map, where]);
    }
    throw new StackEditError("an edit needs a path");
}

/**
 * The stack file's text with every value set or removed, each edit applied to the text the previous
 * one left. An edit whose text the YAML reader (Pulumi's, lib/config/goYaml.ts) would refuse, a
 * layout this editor gets wrong, is refused, naming `file` and the key, rather than written.
 */
export function editStackText(text: string, edits: readonly ValueEdit[], file = "the stack file"): string {
    // The edit goes where `yaml` finds the values: where it reads the text otherwise than Pulumi, those are other places.
    const otherwise = readOtherwiseByYaml12(text);
    if (otherwise !== undefined) {
        throw new StackEditError(`cannot edit the stack file in place: it holds ${otherwise}`);
    }
    return edits.reduce((before, edit) => {
        const after = applyEdit(before, edit);
        refuseUnmeantChanges(before, after, edit, file);
        return after;
    }, text);
}

/** A stack file's contents as values to compare: maps as Maps (in key order), every scalar its text. */
const contentsOf = (text: string): unknown => parseYamlDocument(text).toJS({ mapAsMap: true, maxAliasCount: -1 });

/** `contents` with `edit` made, as the editor means to make it (the first key spelled as the file spells it). */
function withEdit(contents: unknown, edit: ValueEdit): unknown {
    const copy = structuredClone(contents) as Map<string, unknown>;
    let map = copy.get("config");
    for (const [i, key] of edit.path.entries()) {
        const current = map;
        if (!(current instanceof Map)) return copy;
        const name = i === 0 ? (spellings(key).find((k) => current.has(k)) ?? key) : key;
        if (i === edit.path.length - 1) {
            if (edit.value === undefined) current.delete(name);
            else current.set(name, String(edit.value));
        } else {
            if (!current.has(name)) {
                if (edit.value === undefined) return copy;
                current.set(name, new Map());
            }
            map = current.get(name);
        }
    }
    return copy;
}

/** The first key path at which `a` and `b` differ, with the value at it in each, or undefined. */
function firstDifference(
    a: unknown,
    b: unknown,
    where: readonly string[],
): { where: readonly string[]; from: unknown; to: unknown } | undefined {
    if (a instanceof Map && b instanceof Map) {
        for (const key of new Set([...a.keys(), ...b.keys()])) {
            const found = firstDifference(a.get(key), b.get(key), [...where, String(key)]);
            if (found !== undefined) return found;
        }
        return undefined;
    }
    return isDeepStrictEqual(a, b) ? undefined : { where, from: a, to: b };
}

const shown = (value: unknown): string =>
    value === undefined
        ? "unset"
        : value instanceof Map
          ? "a map"
          : Array.isArray(value)
            ? "a list"
            : value === null
              ? "null"
              : JSON.stringify(value);

/**
 * Refuses the edit of `before` into `after` unless Pulumi would read `after` as YAML, and read it
 * as `before` with exactly `edit` made: a value set or a key added in the wrong place (a line
 * spliced where it takes the next key out of its map, say) would change a setting no one proposed,
 * seen by no one (the pull request shows the lines edited, not the settings they moved). Exported
 * for tests, which give it the edits this editor no longer makes.
 */
export function refuseUnmeantChanges(before: string, after: string, edit: ValueEdit, file = "the stack file"): void {
    const change =
        edit.value === undefined
            ? `remove ${edit.path.join(".")}`
            : `set ${edit.path.join(".")} to ${scalarText(edit.value)}`;
    let contents: unknown;
    try {
        contents = contentsOf(after);
    } catch (error) {
        throw new StackEditError(
            `cannot ${change} in ${file}: written there the way this editor writes it, the edited file would not be YAML ` +
                `(${(error as Error).message} of the edited text); make this change by hand`,
        );
    }
    const found = firstDifference(withEdit(contentsOf(before), edit), contents, []);
    if (found === undefined) return;
    const where =
        found.where[0] === "config" && found.where.length > 1
            ? found.where.slice(1).join(".")
            : `${found.where.join(".")} (a top-level key of the file, outside config:)`;
    throw new StackEditError(
        `cannot ${change} in ${file}: written there the way this editor writes it, the edit would also change ${where} ` +
            `from ${shown(found.from)} to ${shown(found.to)}; make this change by hand`,
    );
}
