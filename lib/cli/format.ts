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
