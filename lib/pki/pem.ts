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

/** PEM with 64-column base64 and one trailing newline, as Go's encoding/pem (and so the provider) writes it. */
export function pemEncode(der: Buffer, label: string): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
