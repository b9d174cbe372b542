/**
 * YAML read the way the Pulumi CLI reads it: with gopkg.in/yaml.v3 (v3.0.1) into plain Go values.
 * The `yaml` package parses the text; the types of plain scalars are then resolved by yaml.v3's
 * own rules (resolve.go `resolve` and `parseTimestamp`), which are neither YAML 1.1 nor the 1.2
 * core schema: `yes`/`on` stay text, `True` is a boolean, `0x10` and `0777` (octal) and `1_000`
 * are integers, `2026-11-20` is a timestamp but `2026-02-30` is text. The text itself is read by
 * yaml.v3's rules where they differ from `yaml`'s (YAML 1.2): its characters, line breaks,
 * directives, escapes and tabs (parseYamlDocument). Constructs whose Go reading this module does not
 * reproduce (merge keys `<<`, tags other than `!!str`, several documents, line separators) are
 * refused rather than guessed.
 */
import * as YAML from "yaml";
import { yamlProblem } from "../files";
import { json, memberPath } from "./values";

/** A time.Time as yaml.v3 decodes it: wall clock fields and the zone offset written in the text. */
export class GoTime {
    constructor(
        readonly year: number,
        readonly month: number,
        readonly day: number,
        readonly hour: number,
        readonly minute: number,
        readonly second: number,
        /** Fraction of a second, 9 digits. */
        readonly nanos: string,
        /** Offset from UTC in minutes; undefined when the text named none or "Z" (UTC). */
        readonly offsetMinutes: number | undefined,
    ) {}
}

/** A YAML mapping in document order; keys keep their Go type (Pulumi stringifies or refuses them). */
export class GoMap {
    constructor(readonly entries: readonly (readonly [GoValue, GoValue])[]) {}
}

/**
 * Go values as yaml.v3 decodes into `any`: nil, bool, int (int/int64/uint64, here a bigint),
 * float64, string, time.Time, []any, map.
 */
export type GoValue = null | boolean | bigint | number | string | GoTime | GoValue[] | GoMap;

/** A construct the loader refuses; `message` completes "<where> ...". */
export class UnreadableYaml extends Error {}

const STR_TAG = "tag:yaml.org,2002:str";
const MERGE_TAG = "tag:yaml.org,2002:merge";

/**
 * Refuses a map holding a merge key, which yaml.v3 applies (decode.go `isMerge`: `<<` written
 * plain, or tagged `!` or `!!merge`; a quoted "<<" is a text key) and this loader does not.
 * `where` names the map (e.g. "pki:validityDays", or a file's `config:`).
 */
export function refuseMergeKey(node: unknown, where: string): void {
    const isMerge = (key: unknown): boolean =>
        YAML.isScalar(key) &&
        (key.tag === MERGE_TAG ||
            (key.type === "PLAIN" && key.value === "<<" && (key.tag === undefined || key.tag === "!")));
    if (YAML.isMap(node) && node.items.some((pair) => isMerge(pair.key))) {
        throw new UnreadableYaml(
            `${where} uses a YAML merge key (<<), which this loader does not read; write the keys out`,
        );
    }
}

/** yaml.v3 resolve.go `resolveTable`: the first character says what a plain scalar may be. */
function hint(text: string): "N" | "S" | "D" | "M" | "." | undefined {
    if (text === "") return "N";
    const c = text[0];
    if (c === "+" || c === "-") return "S";
    if (c >= "0" && c <= "9") return "D";
    if ("yYnNtTfFoO~".includes(c)) return "M";
    if (c === ".") return ".";
    return undefined;
}

/** yaml.v3 resolve.go `resolveMap`. */
const RESOLVE_MAP = new Map<string, GoValue>([
    ...["true", "True", "TRUE"].map((s): [string, GoValue] => [s, true]),
    ...["false", "False", "FALSE"].map((s): [string, GoValue] => [s, false]),
    ...["", "~", "null", "Null", "NULL"].map((s): [string, GoValue] => [s, null]),
    ...[".nan", ".NaN", ".NAN"].map((s): [string, GoValue] => [s, NaN]),
    ...[".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].map((s): [string, GoValue] => [s, Infinity]),
    ...["-.inf", "-.Inf", "-.INF"].map((s): [string, GoValue] => [s, -Infinity]),
]);

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** strconv.ParseUint(s, 0, 64) without underscores (yaml.v3 removed them): prefixes 0x, 0o, 0b and a leading 0 (octal). */
function parseUintBase0(s: string): bigint | undefined {
    if (s === "") return undefined;
    let base = 10n;
    let digits = s;
    if (s[0] === "0") {
        const prefix = s.length >= 3 ? s[1].toLowerCase() : "";
        if (prefix === "b" || prefix === "o" || prefix === "x") {
            base = prefix === "b" ? 2n : prefix === "o" ? 8n : 16n;
            digits = s.slice(2);
        } else {
            base = 8n;
            digits = s.slice(1);
        }
    }
    let n = 0n;
    for (const c of digits.toLowerCase()) {
        const d = BigInt("0123456789abcdef".indexOf(c));
        if (d < 0n || d >= base) return undefined;
        n = n * base + d;
        if (n > UINT64_MAX) return undefined;
    }
    return n;
}

/** strconv.ParseInt(s, 0, 64). */
function parseIntBase0(s: string): bigint | undefined {
    const negative = s.startsWith("-");
    const magnitude = parseUintBase0(s.startsWith("-") || s.startsWith("+") ? s.slice(1) : s);
    if (magnitude === undefined) return undefined;
    if (negative ? magnitude > INT64_MAX + 1n : magnitude > INT64_MAX) return undefined;
    return negative ? -magnitude : magnitude;
}

/** strconv.ParseFloat on text already known to be decimal: out of range is an error, not Inf. */
function parseFloat64(s: string): number | undefined {
    const value = Number(s);
    return Number.isFinite(value) ? value : undefined;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
export const daysInMonth = (year: number, month: number): number =>
    month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1];

/**
 * yaml.v3 `parseTimestamp`: Go's time.Parse with the layouts "2006-1-2T15:4:5.999999999Z07:00"
 * (also with a lower-case t), "2006-1-2 15:4:5.999999999" (a run of spaces matches the space) and
 * "2006-1-2"; out-of-range fields (2026-02-30, 24:00:00) and more than 9 digits of a second make
 * it text.
 */
function parseTimestamp(text: string): GoTime | undefined {
    const match =
        /^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,9}))?(Z|[+-]\d\d:\d\d))|(?: +(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,9}))?))?$/.exec(
            text,
        );
    if (match === null) return undefined;
    const [year, month, day] = [match[1], match[2], match[3]].map(Number);
    const [hour, minute, second] = [match[4] ?? match[9], match[5] ?? match[10], match[6] ?? match[11]].map((v) =>
        v === undefined ? 0 : Number(v),
    );
    const fraction = match[7] ?? match[12] ?? "";
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    if (hour > 23 || minute > 59 || second > 59) return undefined;
    const zone = match[8];
    let offsetMinutes: number | undefined;
    if (zone !== undefined && zone !== "Z") {
        const [hh, mm] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
        if (hh > 24 || mm > 60) return undefined;
        offsetMinutes = (zone[0] === "-" ? -1 : 1) * (hh * 60 + mm);
    }
    return new GoTime(year, month, day, hour, minute, second, fraction.padEnd(9, "0"), offsetMinutes);
}

/** yaml.v3 `resolve("", text)` for a plain (unquoted, untagged) scalar. */
export function resolvePlainScalar(text: string): GoValue {
    const kind = hint(text);
    if (kind === undefined) return text;
    const known = RESOLVE_MAP.get(text);
    if (known !== undefined) return known;
    if (kind === ".") {
        if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text)) return parseFloat64(text) ?? text;
    } else if (kind === "D" || kind === "S") {
        const time = parseTimestamp(text);
        if (time !== undefined) return time;
        const plain = text.replaceAll("_", "");
        const integer = parseIntBase0(plain) ?? (/^[0-9]/.test(plain) ? parseUintBase0(plain) : undefined);
        if (integer !== undefined) return integer;
        if (YAML_STYLE_FLOAT.test(plain)) return parseFloat64(plain) ?? text;
    }
    return text;
}

/**
 * Parses a file's one YAML document as yaml.v3 reads it; throws UnreadableYaml saying what the
 * parser found and where (yamlProblem), or what yaml.v3 refuses (refuseCharactersGoRefuses,
 * refuseDirectivesGoRefuses, readEscapesAsGo, refuseTabsGoRefuses, refuseAliasesGoRefuses).
 */
export function parseYamlDocument(text: string): YAML.Document {
    // Pulumi strips a UTF-8 byte order mark before decoding (workspace loaders.go readFileStripUTF8BOM).
    const withoutBom = text.replace(/^\uFEFF/, "");
    const source = withoutBom.replace(GO_ONLY_BREAKS, "\n");
    const lineCounter = new YAML.LineCounter();
    const tokens = [...new YAML.Parser(lineCounter.addNewLine).parse(source)];
    const at = (offset: number): string => {
        const { line, col } = lineCounter.linePos(offset);
        return `line ${line}, column ${col}`;
    };
    refuseCharactersGoRefuses(source, at);
    refuseDirectivesGoRefuses(tokens, at);
    readEscapesAsGo(tokens, at);
    // YAML.parseDocument's own steps, on the tokens as readEscapesAsGo left them.
    const [doc, another] = new YAML.Composer({ schema: "failsafe", uniqueKeys: true }).compose(
        tokens,
        true,
        source.length,
    );
    if (another !== undefined) {
        doc.errors.push(
            new YAML.YAMLParseError([another.range[0], another.range[1]], "MULTIPLE_DOCS", "several documents"),
        );
    }
    for (const error of doc.errors) error.linePos = [lineCounter.linePos(error.pos[0])];
    const problem = doc.errors[0];
    if (problem?.code === "DUPLICATE_KEY") {
        const key = repeatedKey(doc.contents);
        const line = problem.linePos?.[0].line;
        if (key !== undefined) {
            throw new UnreadableYaml(
                `the key ${json(key)} appears twice in one map${line === undefined ? "" : ` (again at line ${line})`}; keep one (Pulumi refuses the file too)`,
            );
        }
    }
    if (problem !== undefined) {
        // Few editors show these as line breaks: the place the parser names may make no sense without it.
        const unseenBreak = withoutBom.search(GO_ONLY_BREAKS);
        throw new UnreadableYaml(
            yamlProblem(problem) +
                (unseenBreak === -1
                    ? ""
                    : ` (Pulumi's YAML reader, and so this loader, reads the lone CR or the NEL, U+0085, at ${at(unseenBreak)} as a line break)`),
        );
    }
    // Only on text `yaml` reads, whose tokens follow the same structure as yaml.v3's.
    refuseTabsGoRefuses(source, at);
    refuseAliasesGoRefuses(doc, lineCounter);
    return doc;
}

/**
 * The line breaks yaml.v3 reads (scannerc.go `is_break`, `read_line`) that `yaml` does not: a lone
 * CR and NEL (U+0085). parseYamlDocument makes each the LF yaml.v3 reads it as, one character for
 * one (the offsets of the rest stay); taken for text, text after one in a comment, which yaml.v3
 * reads as YAML, went unread.
 */
const GO_ONLY_BREAKS = /\r(?!\n)|\u0085/g;

/**
 * The first construct of a file that yaml.v3 reads and `yaml` (YAML 1.2) reads otherwise or not at
 * all, as it is written (parseYamlDocument rewrites it for `yaml`): a lone CR or NEL, a line break
 * to yaml.v3 only, or the escape \' (YAML 1.1's). For code that changes the file's text at the
 * places `yaml` finds in it (lifecycle's stack file edit); completes "the file holds ...", with
 * where it is and the fix, or is undefined when `yaml` reads the file as yaml.v3 does.
 */
export function readOtherwiseByYaml12(text: string): string | undefined {
    const lineCounter = new YAML.LineCounter();
    const tokens = [...new YAML.Parser(lineCounter.addNewLine).parse(text)];
    const at = (offset: number): string => {
        const { line, col } = lineCounter.linePos(offset);
        return `line ${line}, column ${col}`;
    };
    const lineBreak = text.search(GO_ONLY_BREAKS);
    if (lineBreak !== -1) {
        return `a lone CR or a NEL (U+0085) at ${at(lineBreak)}, which Pulumi's YAML reader reads as a line break and YAML 1.2 does not; save the file with LF (or CRLF) line breaks`;
    }
    for (const scalar of doubleQuoted(tokens)) {
        // Each backslash with the character after it, from the left: in "\\\\'" the ' is no escape.
        const quote = [...scalar.source.matchAll(/\\([^])/g)].find((escape) => escape[1] === "'");
        if (quote !== undefined) {
            return `the escape \\' at ${at(scalar.offset + quote.index)}, which Pulumi's YAML reader reads as ' and YAML 1.2 does not; write ' without the backslash`;
        }
    }
    return undefined;
}

/**
 * Refuses the characters yaml.v3's reader refuses anywhere in a file, comments included
 * (readerc.go: "control characters are not allowed"), and the line and paragraph separators,
 * which yaml.v3 reads as line breaks but keeps in quoted text: `yaml` reads them as text. The
 * character is not shown: a file given by mistake may be a password.
 */
function refuseCharactersGoRefuses(source: string, at: (offset: number) => string): void {
    const refused = /[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.exec(source);
    if (refused !== null) {
        const what = /[\ufffe\uffff]/.test(refused[0])
            ? "the noncharacter U+FFFE or U+FFFF"
            : "a control character (of C0 other than tab and line breaks, DEL or C1)";
        throw new UnreadableYaml(
            `the file holds ${what} at ${at(refused.index)}, which Pulumi's YAML reader refuses anywhere in a file, comments included ("control characters are not allowed"); remove it`,
        );
    }
    const separator = /[\u2028\u2029]/.exec(source);
    if (separator !== null) {
        throw new UnreadableYaml(
            `the file holds a line or paragraph separator (U+2028, U+2029) at ${at(separator.index)}, which Pulumi's YAML reader takes for a line break ` +
                `and this loader does not; replace it by a line break (or by the escape \\L or \\P in double quotes)`,
        );
    }
}

/**
 * Refuses the directives yaml.v3 refuses (parserc.go `yaml_parser_process_directives`,
 * scannerc.go `yaml_parser_scan_directive`): a %YAML of any version but 1.1, a second %YAML, and
 * any directive but %YAML and %TAG.
 */
function refuseDirectivesGoRefuses(tokens: readonly YAML.CST.Token[], at: (offset: number) => string): void {
    let version = false;
    for (const token of tokens) {
        if (token.type !== "directive") continue;
        const yamlVersion = /^%YAML[ \t]+([0-9]{1,9})\.([0-9]{1,9})[ \t]*$/.exec(token.source);
        if (yamlVersion !== null && !version) {
            version = true;
            if (Number(yamlVersion[1]) === 1 && Number(yamlVersion[2]) === 1) continue;
            throw new UnreadableYaml(
                `the %YAML directive at ${at(token.offset)} names a version other than 1.1, the only one Pulumi's YAML reader reads ("found incompatible YAML document"); remove the line`,
            );
        }
        if (yamlVersion !== null) {
            throw new UnreadableYaml(
                `the file has a second %YAML directive at ${at(token.offset)}, which Pulumi's YAML reader refuses; remove it`,
            );
        }
        if (!/^%TAG[ \t]/.test(token.source)) {
            throw new UnreadableYaml(
                `the directive at ${at(token.offset)} is neither %YAML 1.1 nor %TAG, the only ones Pulumi's YAML reader reads; remove the line`,
            );
        }
    }
}

/** What yaml.v3 says of a tab where it takes only spaces, by what it was reading. */
const TAB_REFUSALS = {
    token: "found character that cannot start any token",
    plain: "found a tab character that violates indentation",
    block: "found a tab character where an indentation space is expected",
} as const;

/**
 * Refuses the tabs yaml.v3 refuses and `yaml` reads as blanks (scannerc.go): outside brackets and
 * quotes, a tab in the blanks before a token where a key could start (a line's indentation, a
 * blank line, after "-", "?" or the ":" of a "?" key: `yaml_parser_scan_to_next_token` skips tabs
 * only where `simple_key_allowed` is false), and in the indentation of a plain scalar's next lines
 * (`yaml_parser_scan_plain_scalar`) or of a block scalar (`yaml_parser_scan_block_scalar_breaks`)
 * short of its indentation. Follows the scanner's state over `yaml`'s lexer tokens: which tokens
 * allow a key next, the flow level, and the indentation of the enclosing block collections.
 */
function refuseTabsGoRefuses(source: string, at: (offset: number) => string): void {
    const refuse = (offset: number, reading: keyof typeof TAB_REFUSALS): never => {
        throw new UnreadableYaml(
            `the file holds a tab at ${at(offset)} where Pulumi's YAML reader takes only spaces ("${TAB_REFUSALS[reading]}"; ` +
                `outside quotes and brackets, a tab may not indent a line, fill a blank line or follow "-" or "?"); write spaces instead`,
        );
    };
    const columnOf = (offset: number): number => offset - (source.lastIndexOf("\n", offset - 1) + 1);
    /** The tabs of `text` (at `offset`) in the blanks that start each of its lines but the first. */
    const indentationTabs = function* (text: string, offset: number): Generator<number> {
        for (const line of text.matchAll(/\n([ \t]*)/g)) {
            for (const tab of line[1].matchAll(/\t/g)) yield offset + line.index + 1 + tab.index;
        }
    };
    let flowLevel = 0;
    let keyAllowed = true; // simple_key_allowed: where yaml.v3 skips no tab
    const indents: number[] = []; // the columns of the enclosing block collections (parser.indent: the last, or -1)
    const indent = (): number => indents[indents.length - 1] ?? -1;
    const roll = (column: number): void => {
        if (flowLevel === 0 && indent() < column) indents.push(column);
    };
    // Per flow level, the line and column where a simple key (`key:`) may have started.
    const possibleKeys: ({ line: number; column: number } | undefined)[] = [undefined];
    // The plain scalar yaml.v3 is still reading: it takes the blanks and line breaks after it.
    let plain: { indent: number; afterBreak: boolean } | undefined;
    // A block scalar being read: its header's line, then its content, and the indentation its header gives.
    let blockScalar: { reading: "header" | "content"; indent: number } | undefined;
    // yaml_parser_scan_comments reads a run of comment lines at once, the blanks up to the last
    // one included: a tab after a comment is refused only when no comment line follows it. A
    // comment after a token on its line (but "-" and "---") is that token's, read alone
    // (yaml_parser_scan_line_comment).
    let inCommentRun = false;
    let tokenOnLine: string | undefined;
    let tabAfterComment: number | undefined;
    let scalarNext = false;
    let offset = 0;
    let line = 1;
    for (const token of new YAML.Lexer().lex(source)) {
        const type = YAML.CST.tokenType(token);
        const [start, startLine] = [offset, line];
        if (type === "doc-mode" || type === "flow-error-end" || type === "scalar") {
            scalarNext = type === "scalar";
            continue; // markers, not text
        }
        offset += token.length;
        line += token.split("\n").length - 1;
        if (type === "space" && !scalarNext) {
            const tab = token.indexOf("\t");
            if (tab === -1 || flowLevel > 0 || blockScalar?.reading === "header") continue;
            if (plain !== undefined) {
                if (plain.afterBreak && columnOf(start + tab) < plain.indent) refuse(start + tab, "plain");
            } else if (keyAllowed && inCommentRun) {
                tabAfterComment ??= start + tab;
            } else if (keyAllowed) {
                refuse(start + tab, "token");
            }
            continue;
        }
        if (type === "newline") {
            tokenOnLine = undefined;
            if (plain !== undefined) plain.afterBreak = true;
            else if (flowLevel === 0) keyAllowed = true;
            if (blockScalar !== undefined) blockScalar.reading = "content";
            continue;
        }
        if (type === "comment") {
            if (blockScalar?.reading === "header") continue; // the block scalar's own
            if (plain !== undefined) [keyAllowed, plain] = [plain.afterBreak, undefined];
            const ownLine = tokenOnLine === undefined || ["seq-item-ind", "doc-start", "doc-end"].includes(tokenOnLine);
            [inCommentRun, tabAfterComment] = [ownLine, undefined];
            continue;
        }
        if (tabAfterComment !== undefined) refuse(tabAfterComment, "token");
        [inCommentRun, tokenOnLine] = [false, type ?? "scalar"];
        if (plain !== undefined) [keyAllowed, plain] = [plain.afterBreak, undefined];
        const column = columnOf(start);
        if (scalarNext && blockScalar?.reading === "content") {
            // yaml_parser_scan_block_scalar_breaks: unless the header gives it, the indentation is
            // the first line's, taken from its spaces and those of the blank lines before it.
            let blockIndent = blockScalar.indent;
            let widest = 0;
            let lineStart = start;
            for (const text of token.split("\n")) {
                const blanks = /^[ \t]*/.exec(text)?.[0] ?? "";
                const tab = blanks.indexOf("\t");
                if (tab !== -1 && (blockIndent === 0 || tab < blockIndent)) refuse(lineStart + tab, "block");
                widest = Math.max(widest, tab === -1 ? blanks.length : tab);
                if (blockIndent === 0 && blanks.length < text.length) blockIndent = Math.max(widest, indent() + 1, 1);
                lineStart += text.length + 1;
            }
            // It ends where a line starts.
            [blockScalar, scalarNext, keyAllowed, tokenOnLine] = [undefined, false, true, undefined];
            continue;
        }
        if (flowLevel === 0) {
            // yaml_parser_unroll_indent: a token left of a block collection's column ends it.
            while (indent() > column) indents.pop();
        }
        const key = (): void => {
            if (keyAllowed) possibleKeys[flowLevel] = { line: startLine, column };
        };
        if (scalarNext) {
            // A plain scalar; yaml.v3 reads the indentation of its next lines itself.
            key();
            for (const tab of indentationTabs(token, start)) {
                if (flowLevel === 0 && columnOf(tab) < indent() + 1) refuse(tab, "plain");
            }
            keyAllowed = false;
            if (flowLevel === 0) plain = { indent: indent() + 1, afterBreak: token.includes("\n") };
            scalarNext = false;
            continue;
        }
        switch (type) {
            case "doc-start":
            case "doc-end":
                indents.length = 0;
                keyAllowed = false;
                possibleKeys[flowLevel] = undefined;
                break;
            case "directive-line":
                keyAllowed = false;
                break;
            case "flow-map-start":
            case "flow-seq-start":
                key();
                flowLevel += 1;
                possibleKeys[flowLevel] = undefined;
                keyAllowed = true;
                break;
            case "flow-map-end":
            case "flow-seq-end":
                possibleKeys.length = flowLevel;
                flowLevel = Math.max(0, flowLevel - 1);
                keyAllowed = false;
                break;
            case "comma":
                possibleKeys[flowLevel] = undefined;
                keyAllowed = true;
                break;
            case "seq-item-ind":
            case "explicit-key-ind":
                roll(column);
                possibleKeys[flowLevel] = undefined;
                keyAllowed = flowLevel === 0;
                break;
            case "map-value-ind": {
                const simpleKey = possibleKeys[flowLevel];
                possibleKeys[flowLevel] = undefined;
                if (simpleKey !== undefined && simpleKey.line === startLine) {
                    roll(simpleKey.column);
                    keyAllowed = false;
                } else {
                    // The value of a "?" key: yaml.v3 allows a key after it, so no tab.
                    roll(column);
                    keyAllowed = flowLevel === 0;
                }
                break;
            }
            case "block-scalar-header": {
                possibleKeys[flowLevel] = undefined;
                const increment = Number(/[1-9]/.exec(token)?.[0] ?? 0);
                const given = increment === 0 ? 0 : Math.max(indent(), 0) + increment;
                blockScalar = { reading: "header", indent: given };
                keyAllowed = true;
                break;
            }
            case "anchor":
            case "tag":
            case "alias":
            case "single-quoted-scalar":
            case "double-quoted-scalar":
                key();
                keyAllowed = false;
                break;
        }
    }
    if (tabAfterComment !== undefined) refuse(tabAfterComment, "token");
}

/** The escapes yaml.v3 reads in double quotes besides \x, \u and \U: YAML 1.1's, which has \' and not \/. */
const GO_ESCAPES = "0abt\tnvfre \"'\\NLP_\n\r";
const HEX_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };

/**
 * Reads the escapes of double-quoted text as yaml.v3 does (scannerc.go
 * `yaml_parser_scan_flow_scalar`), which `yaml` (YAML 1.2) reads otherwise: \/ is refused and \'
 * is read (rewritten ' for `yaml`), and so is a \x, \u or \U escape of half a UTF-16 surrogate
 * pair, which `yaml` joined with its other half and wrote alone as U+FFFD into every certificate.
 */
function readEscapesAsGo(tokens: readonly YAML.CST.Token[], at: (offset: number) => string): void {
    for (const scalar of doubleQuoted(tokens)) {
        // Each backslash with the character after it, from the left: "\\\\" is one escape.
        for (const { 1: code, index } of scalar.source.matchAll(/\\([^])/g)) {
            const where = at(scalar.offset + index);
            const digits = HEX_DIGITS[code];
            if (digits === undefined) {
                if (GO_ESCAPES.includes(code)) continue;
                throw new UnreadableYaml(
                    `the escape (\\) at ${where} is not one of YAML 1.1's, the only ones Pulumi's YAML reader reads ("found unknown escape character"; \\/ is YAML 1.2's): ` +
                        `write the character itself, or \\\\ for a backslash`,
                );
            }
            const hex = scalar.source.slice(index + 2, index + 2 + digits);
            if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) {
                throw new UnreadableYaml(
                    `the escape \\${code} at ${where} is not followed by ${digits} hex digits, which Pulumi's YAML reader refuses; write them, or \\\\ for a backslash`,
                );
            }
            const codePoint = parseInt(hex, 16);
            if ((codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) {
                const what = codePoint > 0x10ffff ? "no character (beyond U+10FFFF)" : "half a UTF-16 surrogate pair";
                throw new UnreadableYaml(
                    `the escape \\${code} at ${where} stands for ${what}, which Pulumi's YAML reader refuses ("found invalid Unicode character escape code"); ` +
                        `write the character itself, or its escape \\U and 8 hex digits: 🏦 as \\U0001F3E6, not as the pair \\ud83c\\udfe6 Python's json.dumps writes`,
                );
            }
        }
        scalar.source = scalar.source.replace(/\\([^])/g, (escape, code: string) => (code === "'" ? "'" : escape));
    }
}

/** The double-quoted scalars in `tokens`, in file order (found in a loop: values may nest thousands deep). */
function doubleQuoted(tokens: readonly YAML.CST.Token[]): YAML.CST.FlowScalar[] {
    const found: YAML.CST.FlowScalar[] = [];
    const pending = [...tokens];
    for (let token = pending.pop(); token !== undefined; token = pending.pop()) {
        if (token.type === "double-quoted-scalar") found.push(token);
        else if (token.type === "document" && token.value !== undefined) pending.push(token.value);
        else if ("items" in token) {
            for (const { key, value } of token.items) pending.push(...[key, value].filter((t) => t != null));
        }
    }
    return found.sort((a, b) => a.offset - b.offset);
}

/** The node each alias of a document stands for (the last node before it with its anchor), or undefined for none. */
const aliasTargetsOf = new WeakMap<YAML.Document, Map<YAML.Alias, YAML.Node | undefined>>();

/**
 * Found in one pass, once per document: the parser's own Alias.resolve walks the whole document
 * for each alias.
 */
export function aliasTargets(doc: YAML.Document): Map<YAML.Alias, YAML.Node | undefined> {
    let targets = aliasTargetsOf.get(doc);
    if (targets === undefined) {
        const found = new Map<YAML.Alias, YAML.Node | undefined>();
        const anchored = new Map<string, YAML.Node>();
        YAML.visit(doc, {
            Node(_, node) {
                if (YAML.isAlias(node)) found.set(node, anchored.get(node.source));
                else if (node.anchor !== undefined) anchored.set(node.anchor, node);
            },
        });
        targets = found;
        aliasTargetsOf.set(doc, targets);
    }
    return targets;
}

/** yaml.v3 decode.go `allowedAliasRatio`: the share of decoded values that may come from aliases. */
function allowedAliasRatio(decoded: number): number {
    const [low, high] = [400_000, 4_000_000];
    if (decoded <= low) return 0.99;
    if (decoded >= high) return 0.1;
    return 0.99 - (0.89 * (decoded - low)) / (high - low);
}

/**
 * Refuses, before anything is decoded, the aliases yaml.v3 refuses wherever they are in the
 * document (Pulumi decodes all of it): one naming no anchor before it, one inside the node it
 * names, and "excessive aliasing", by decode.go's own count: an alias bomb ("billion laughs"),
 * a few lines whose aliases of aliases stand for billions of values, would otherwise take
 * minutes and gigabytes to decode. No anchor name is quoted: a file given by mistake may be a
 * password.
 */
function refuseAliasesGoRefuses(doc: YAML.Document, lineCounter: YAML.LineCounter): void {
    const targets = aliasTargets(doc);
    const at = (node: YAML.Node): string => {
        const { line, col } = lineCounter.linePos(node.range?.[0] ?? 0);
        return `line ${line}, column ${col}`;
    };
    const expanding = new Set<YAML.Alias>();
    // yaml.v3 `unmarshal` counts each node it decodes (the document node first) and, of those,
    // each one decoded within the node an alias names; `alias` is the outermost alias being read.
    let decoded = 1;
    let aliased = 0;
    const count = (node: unknown, alias: YAML.Alias | undefined): void => {
        decoded += 1;
        if (alias !== undefined) aliased += 1;
        if (aliased > 100 && decoded > 1000 && aliased / decoded > allowedAliasRatio(decoded)) {
            throw new UnreadableYaml(
                `the document contains excessive aliasing (Pulumi refuses it too): ${aliased} of the first ${decoded} values it holds are copies made by aliases (*name)${alias === undefined ? "" : `, such as the one at ${at(alias)}`}; write the values out instead of aliases of aliases`,
            );
        }
        if (YAML.isAlias(node)) {
            const target = targets.get(node);
            if (target === undefined) {
                throw new UnreadableYaml(
                    `the alias at ${at(node)} names no anchor (&name) set before it; set the anchor, or write the value out`,
                );
            }
            if (expanding.has(node)) {
                throw new UnreadableYaml(
                    `the alias at ${at(node)} sits inside the node its anchor names, which would contain itself; write the value out`,
                );
            }
            expanding.add(node);
            count(target, alias ?? node);
            expanding.delete(node);
        } else if (YAML.isSeq(node)) {
            for (const item of node.items) count(item, alias);
        } else if (YAML.isMap(node)) {
            for (const pair of node.items) {
                count(pair.key, alias);
                count(pair.value, alias);
            }
        }
    };
    if (doc.contents !== null) count(doc.contents, undefined);
}

/** The first key that a YAML map below `node` holds twice (the parser's own message does not name it). */
function repeatedKey(node: unknown): string | undefined {
    if (YAML.isMap(node)) {
        const seen = new Set<string>();
        for (const pair of node.items) {
            const key = YAML.isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
            if (seen.has(key)) return key;
            seen.add(key);
        }
    }
    if (YAML.isMap(node) || YAML.isSeq(node)) {
        for (const item of node.items) {
            const found = repeatedKey(YAML.isPair(item) ? item.value : item);
            if (found !== undefined) return found;
        }
    }
    return undefined;
}

/** The Go value yaml.v3 decodes `node` into; `where` names it in errors (e.g. "pki:domains"). */
export function toGoValue(node: unknown, doc: YAML.Document, where: string): GoValue {
    return decode(node, doc, where, 0);
}

const MAX_DEPTH = 64;

function decode(node: unknown, doc: YAML.Document, where: string, depth: number): GoValue {
    if (depth > MAX_DEPTH) throw new UnreadableYaml(`${where} nests deeper than ${MAX_DEPTH} levels`);
    if (node === null || node === undefined) return null;
    if (YAML.isAlias(node)) return decode(aliasTargets(doc).get(node), doc, where, depth + 1);
    if (!YAML.isNode(node)) throw new UnreadableYaml(`${where} holds a YAML node this loader cannot read`);
    if (node.tag !== undefined && !(YAML.isScalar(node) && node.tag === STR_TAG)) {
        throw new UnreadableYaml(
            `${where} carries the YAML tag ${node.tag.replace("tag:yaml.org,2002:", "!!")}, which this loader does not read; remove the tag (quote a value to make it text)`,
        );
    }
    if (YAML.isScalar(node)) {
        const text = String(node.value ?? "");
        return node.type === "PLAIN" && node.tag === undefined ? resolvePlainScalar(text) : text;
    }
    if (YAML.isSeq(node)) return node.items.map((item, i) => decode(item, doc, `${where}[${i}]`, depth + 1));
    if (YAML.isMap(node)) {
        refuseMergeKey(node, where);
        return new GoMap(
            node.items.map((pair) => {
                const keyNode = YAML.isAlias(pair.key) ? aliasTargets(doc).get(pair.key) : pair.key;
                if (YAML.isCollection(keyNode)) {
                    // yaml.v3 cannot make a Go map key of a slice or map.
                    throw new UnreadableYaml(
                        `${where} has a list or map as a key, which Pulumi cannot read; use text keys`,
                    );
                }
                const key = decode(pair.key, doc, `a key of ${where}`, depth + 1);
                // A member's path names its key as written: `2026-01-01`, not the time it stands for.
                const keyText = YAML.isScalar(keyNode) ? String(keyNode.value ?? "") : String(key);
                return [key, decode(pair.value, doc, memberPath(where, keyText), depth + 1)] as const;
            }),
        );
    }
    throw new UnreadableYaml(`${where} holds a YAML node this loader cannot read`);
}
