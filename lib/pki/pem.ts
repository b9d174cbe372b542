/** PEM text (RFC 7468): the few operations the package needs, in the format the provider writes. */

/** The DER of the first PEM block of one type in a text. */
export function pemDecode(pem: string, label: string): Buffer {
    const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
    if (!match) throw new Error(`expected a PEM block of type "${label}"`);
    return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

/** The label of the first private key PEM block in a text ("PRIVATE KEY", "EC PRIVATE KEY"...), or undefined. */
export function privateKeyLabel(text: string): string | undefined {
    return /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(text)?.[1];
}

/**
 * The refusal of a private key pasted with public material (the end of a sentence that starts
 * with the argument's name): `label` its PEM label, `clear` where the text goes in clear, `give`
 * what belongs there instead. Never quotes the text.
 */
export const pastedKeyProblem = (label: string, clear: string, give: string): string =>
    `holds a private key (a "${label}" PEM block): ${clear}, so take the key out (and replace it if the text has been shared); give ${give}`;

/** Every PEM block of one type in a text, in order, each ending in one newline. */
export function pemBlocks(text: string, label: string): string[] {
    const blocks = text.match(new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, "g")) ?? [];
    return blocks.map((b) => `${b}\n`);
}

/** BEGIN and END lines of PEM blocks, anywhere in a text (a JSON or YAML string holds them on one line). */
const PEM_MARKER = /-----(BEGIN|END) ([A-Z0-9 ]+)-----/g;

/**
 * The first PEM block of a text with no END line of its label before the next BEGIN line or the
 * end of the text (a file cut short), and the line it begins on; undefined when every block ends.
 * pemBlocks skips such a block silently, while OpenSSL, and so Envoy, refuses the file. An END line
 * without its BEGIN is left alone: OpenSSL skips what comes before a BEGIN line too.
 */
export function unendedPemBlock(text: string): { label: string; line: number } | undefined {
    let open: RegExpMatchArray | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [, kind, label] = marker;
        if (open === undefined) open = kind === "BEGIN" ? marker : undefined;
        else if (kind === "END" && label === open[2]) open = undefined;
        else break;
    }
    if (open === undefined) return undefined;
    return { label: open[2], line: text.slice(0, open.index).split("\n").length };
}

/** PEM with 64-column base64 and one trailing newline, as Go's encoding/pem (and so the provider) writes it. */
export function pemEncode(der: Buffer, label: string): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
