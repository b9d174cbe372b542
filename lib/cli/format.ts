/** Plain-text tables and Markdown tables for the command-line tools. */

export type Row = Record<string, string>;

/** Columns padded to their widest cell, a rule under the header. */
export function textTable(columns: readonly string[], rows: readonly Row[]): string {
    const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? "").length)));
    const line = (cells: readonly string[]): string =>
        cells
            .map((cell, i) => cell.padEnd(widths[i]))
            .join("  ")
            .trimEnd();
    return (
        [
            line(columns),
            line(widths.map((w) => "-".repeat(w))),
            ...rows.map((r) => line(columns.map((c) => r[c] ?? ""))),
        ].join("\n") + "\n"
    );
}

/**
 * Text as Markdown shows it, with no emphasis, strikethrough, code span, character reference or
 * HTML tag of its own: config text (e.g. pki:organization, free text) and the reports' own texts
 * (e.g. apic/<endpoint>/truststore.crl) go into the reports as they are written ("&#x6c;" is not
 * shown as "l", nor "&#x202E;" as a right-to-left override, and GitHub does not take "<endpoint>"
 * for a tag and drop it). CommonMark lets a backslash escape any ASCII punctuation, "<" too.
 */
export const markdownText = (text: string): string => text.replace(/[\\`*_~&<]/g, "\\$&");

/** `value` with every string in it as markdownText: the values a Markdown report inserts. */
export function markdownStrings<T>(value: T): T {
    if (typeof value === "string") return markdownText(value) as T;
    if (Array.isArray(value)) return value.map(markdownStrings) as T;
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markdownStrings(v)])) as T;
    }
    return value;
}

const escapeCell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, "<br>");

export function markdownTable(columns: readonly string[], rows: readonly Row[]): string {
    return (
        [
            `| ${columns.join(" | ")} |`,
            `| ${columns.map(() => "---").join(" | ")} |`,
            ...rows.map((r) => `| ${columns.map((c) => escapeCell(r[c] ?? "")).join(" | ")} |`),
        ].join("\n") + "\n"
    );
}
