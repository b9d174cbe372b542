/**
 * Edits a stack file in place, changing nothing but the values set: comments, key order, quoting
 * and flow or block layout stay as written. The `yaml` library's Document API locates each node
 * (with its source range); the text is spliced there, so that the pull request shows exactly the
 * lines that change (re-printing the whole document would re-flow untouched lines).
 */
import * as YAML from "yaml";
import { aliasTargets, parseYamlDocument, readOtherwiseByYaml12 } from "../config/goYaml";
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

/** The text of a scalar: plain when YAML (and Pulumi's yaml.v3) read it back as the same value. */
function scalarText(value: number | string): string {
    if (typeof value === "number") return String(value);
    return /^[a-z][A-Za-z0-9_-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(value)
        ? value
        : JSON.stringify(value);
}

const keyText = (key: string): string => (/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(key) ? key : JSON.stringify(key));

/** `{ a: { b: v } }` for the keys after the first, as a flow map entry's value. */
const flowValue = (keys: readonly string[], value: number | string): string =>
    keys.length === 0 ? scalarText(value) : `{ ${keyText(keys[0])}: ${flowValue(keys.slice(1), value)} }`;

/** Block lines for a new key of a block map at `indent`; the innermost map is a flow map, as the README writes them. */
function blockLines(keys: readonly string[], value: number | string, indent: string, step: string): string {
    if (keys.length <= 2) return `${indent}${keyText(keys[0])}: ${flowValue(keys.slice(1), value)}\n`;
    return `${indent}${keyText(keys[0])}:\n${blockLines(keys.slice(1), value, indent + step, step)}`;
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
    const at = range[1];
    const lines = blockLines(keys, value, indent, step);
    return at > 0 && text[at - 1] !== "\n"
        ? `${text.slice(0, at)}\n${lines}${text.slice(at)}`
        : `${text.slice(0, at)}${lines}${text.slice(at)}`;
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
        let problem: string | undefined;
        try {
            parseYamlDocument(after);
        } catch (error) {
            problem = (error as Error).message;
        }
        if (problem !== undefined) {
            const change =
                edit.value === undefined
                    ? `remove ${edit.path.join(".")}`
                    : `set ${edit.path.join(".")} to ${scalarText(edit.value)}`;
            throw new StackEditError(
                `cannot ${change} in ${file}: written there the way this editor writes it, the edited file would not be YAML ` +
                    `(${problem} of the edited text); make this change by hand`,
            );
        }
        return after;
    }, text);
}
