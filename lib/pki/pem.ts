/** PEM text (RFC 7468): the few operations the package needs, in the format the provider writes. */

/**
 * Why a PEM input is refused when it is no text, as the end of a sentence that starts with its
 * name, or undefined. An output resolves to nothing (undefined, null) when it is a stack
 * reference's missing output, which read as text failed with a TypeError and its stack. Only the
 * kind of value is shown, never the value. `of` says what the text holds.
 */
export function pemTextProblem(value: unknown, of: string): string | undefined {
    if (typeof value === "string") return undefined;
    const got =
        value === undefined || value === null ? `${String(value)} (a stack reference's missing output?)` : typeof value;
    return `must be PEM text of ${of}; got ${got}`;
}

/** What BoringSSL (Envoy), OpenSSL and Go skip between a PEM block's base64 characters. */
const PEM_WHITE_SPACE = /[ \t\r\n]/g;
/** Base64 as they decode it: whole groups of 4 characters, "=" padding only at the end. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The DER of the first PEM block of one type in a text, refused where BoringSSL (so Envoy) or Go
 * refuses it: Node's base64 decoder skips any other character, missing padding and blank lines,
 * so a block damaged in transit would be taken here while Envoy refuses the whole file. Never
 * quotes the text (a damaged block may be a key).
 */
export function pemDecode(pem: string, label: string): Buffer {
    const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
    if (!match) throw new Error(`expected a PEM block of type "${label}"`);
    const refused = "which Envoy's BoringSSL and Go refuse";
    // Counted from the BEGIN line (line 1): lines[0] follows its marker, the last precedes the END marker.
    const lines = match[1].split("\n");
    const stray = lines.findIndex((line) => /[^A-Za-z0-9+/=]/.test(line.replace(PEM_WHITE_SPACE, "")));
    if (stray !== -1) {
        throw new Error(`its line ${stray + 1} holds a character other than base64 and white space, ${refused}`);
    }
    // BoringSSL and OpenSSL read the lines above a blank line as RFC 1421 headers ("Proc-Type:"), and
    // refuse them in a certificate or CRL; only the line after BEGIN may be blank (no headers). Go
    // skips blank lines, so this one is Envoy's alone.
    const blank = lines.findIndex(
        (line, i) => i > 1 && i < lines.length - 1 && line.replace(PEM_WHITE_SPACE, "") === "",
    );
    if (blank !== -1) {
        throw new Error(
            `its line ${blank + 1} is blank, which Envoy's BoringSSL refuses: it reads the lines above a blank line as PEM headers, so only the line after BEGIN may be blank`,
        );
    }
    const base64 = match[1].replace(PEM_WHITE_SPACE, "");
    if (!BASE64.test(base64)) {
        throw new Error(
            `its base64 is cut short or padded wrongly (whole groups of 4 characters, "=" only at the end), ${refused}`,
        );
    }
    return Buffer.from(base64, "base64");
}

/** The label of the first private key PEM block in a text ("PRIVATE KEY", "EC PRIVATE KEY"...), or undefined. */
export function privateKeyLabel(text: string): string | undefined {
    return /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(text)?.[1];
}

/** The label of the first END marker of a private key in a text, or undefined. */
const privateKeyEndLabel = (text: string): string | undefined =>
    /-----END ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(text)?.[1];

/** BEGIN and END markers of PEM blocks, anywhere in a text (a line of its own or not: see pemLine). */
const PEM_MARKER = /-----(BEGIN|END) ([A-Z0-9 ]+)-----/g;
/** What may follow a BEGIN or END line's marker: white space (a CR, spaces) to the end of the line. */
const LINE_END = /[^\S\n]*(?:\n|$)/y;

/**
 * Whether a marker is a BEGIN or END line as OpenSSL's PEM_read_bio takes one: at the very start
 * of a line (after a UTF-8 BOM on the first, which OpenSSL 3 skips), nothing after it but white
 * space. BoringSSL (so Envoy) and Go take the same lines but for that BOM: they see no BEGIN line
 * after it and skip the block, so a text handed on as given is refused with one
 * (byteOrderMarkProblem); one the package re-encodes loses it. A marker inside a line (a script
 * that greps for it, a JSON string) is none; `inString`, one at the start of a JSON string
 * ("-----BEGIN CERTIFICATE-----\n) is one too.
 */
function pemLine(text: string, marker: RegExpMatchArray, inString = false): boolean {
    const at = marker.index ?? 0;
    const startsLine =
        at === 0 || text[at - 1] === "\n" || (at === 1 && text[0] === "\uFEFF") || (inString && text[at - 1] === '"');
    LINE_END.lastIndex = at + marker[0].length;
    return startsLine && LINE_END.test(text);
}

/**
 * A base64 run at a word start beginning as DER's SEQUENCE ("M") or an OpenSSH key
 * ("openssh-key-v1\0") does, across line breaks with white space around them (wrapped and
 * indented, or with trailing spaces), each further line base64 to its end (not a YAML "next: 1").
 */
export const BASE64_RUN =
    /(?<![A-Za-z0-9+/=])(?:M|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=]*(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/=]+(?=[ \t]*(?:\r?\n|$)))*/g;

/** Where the contents of the DER element at `at` begin, after its tag and length. */
const contentsAt = (der: Buffer, at: number): number => at + 2 + (der[at + 1] < 0x80 ? 0 : der[at + 1] & 0x7f);

/**
 * The DER of the OID arcs of password-based encryption: PKCS#5 (1.2.840.113549.1.5: PBES2, PBES1)
 * and PKCS#12 (1.2.840.113549.1.12.1), which an encrypted PKCS#8 key names first.
 */
const PASSWORD_BASED_ENCRYPTION = [Buffer.from("2a864886f70d0105", "hex"), Buffer.from("2a864886f70d010c01", "hex")];

/** How an OpenSSH private key's body begins (PROTOCOL.key): its public keys follow, never alone. */
const OPENSSH_KEY = Buffer.from("openssh-key-v1\0", "latin1");

/**
 * Whether base64 (at least 30 bytes) decodes to the start of a private key without its PEM lines:
 * a SEQUENCE whose first member is the version INTEGER 0 or 1, as PKCS#8, PKCS#1 and SEC1 keys
 * begin, or an AlgorithmIdentifier of password-based encryption, as an encrypted PKCS#8 key does.
 * Certificates, CRLs and CSRs begin with a SEQUENCE that holds no OID first, a public key
 * (SubjectPublicKeyInfo) with the OID of its algorithm, PKCS#12 with version 3. An OpenSSH key
 * ("openssh-key-v1\0", its BEGIN and END lines lost) is one too. Only the start is read, so a key
 * copied in part is caught as well.
 */
export function isBareKey(base64: string): boolean {
    const compact = base64.replace(/\s/g, "");
    if (compact.length < 40) return false;
    const der = Buffer.from(compact.slice(0, 32), "base64");
    if (der.subarray(0, OPENSSH_KEY.length).equals(OPENSSH_KEY)) return true;
    if (der[0] !== 0x30) return false;
    const at = contentsAt(der, 0);
    if (der[at] === 0x02) return der[at + 1] === 0x01 && (der[at + 2] === 0x00 || der[at + 2] === 0x01);
    if (der[at] !== 0x30) return false;
    const oid = contentsAt(der, at);
    if (der[oid] !== 0x06) return false;
    const arcs = der.subarray(oid + 2, oid + 2 + der[oid + 1]);
    return PASSWORD_BASED_ENCRYPTION.some(
        (arc) => arcs.length > arc.length && arcs.subarray(0, arc.length).equals(arc),
    );
}

/**
 * The text outside PEM blocks: what comes before a BEGIN marker and after the END marker of its
 * label; a block without its END marker stays in, base64 and all. One pass over the markers.
 */
function outsidePemBlocks(text: string): string {
    const outside: string[] = [];
    let from = 0;
    let open: string | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [whole, kind, label] = marker;
        const at = marker.index ?? 0;
        if (open === undefined && kind === "BEGIN") {
            outside.push(text.slice(from, at));
            from = at;
            open = label;
        } else if (kind === "END" && label === open) {
            from = at + whole.length;
            open = undefined;
        }
    }
    outside.push(text.slice(from));
    return outside.join("\n");
}

/**
 * How a private key was pasted into text meant for public PEM blocks, for pastedKeyProblem, or
 * undefined: as a PEM block of its own, by the END line of one whose BEGIN line was lost, or as
 * its bare base64 (copied without its BEGIN and END lines, encrypted or not) outside every block,
 * which OpenSSL, Envoy and pemBlocks skip as they skip a comment, so the key would go on with the
 * text unseen. Other text between blocks (openssl's subject= and issuer= lines) is left alone;
 * base64 inside a block is its reader's to refuse.
 */
export function pastedPrivateKey(text: string): string | undefined {
    const label = privateKeyLabel(text);
    if (label !== undefined) return `a "${label}" PEM block`;
    // Copied without its BEGIN line, a key is known by its END line whatever its base64 (a legacy
    // encrypted key's is ciphertext under Proc-Type headers), as withoutPrivateKeys knows it.
    const endLabel = privateKeyEndLabel(text);
    if (endLabel !== undefined) return `a "${endLabel}" PEM block without its BEGIN line`;
    const runs = outsidePemBlocks(text).match(BASE64_RUN) ?? [];
    return runs.some(isBareKey) ? "its base64 without the BEGIN and END lines" : undefined;
}

/**
 * The refusal of a private key pasted with public material (the end of a sentence that starts
 * with the argument's name): `found` how it is there (pastedPrivateKey), `clear` where the text
 * goes in clear, `give` what belongs there instead. Never quotes the text.
 */
export const pastedKeyProblem = (found: string, clear: string, give: string): string =>
    `holds a private key (${found}): ${clear}, so take the key out (and replace it if the text has been shared); give ${give}`;

/**
 * The first PEM block of a text with no END line of its label before any other marker or the end
 * of the text (a file cut short), and the line it begins on; undefined when every block ends.
 * pemBlocks leaves such a block out, while OpenSSL, and so Envoy, refuses the file. A block
 * begins only on a BEGIN line (pemLine), as OpenSSL reads past anything else; inside one, any
 * other marker (a block cut mid-line before the next) is data to OpenSSL, which refuses it. An END
 * line without its BEGIN is left alone, as OpenSSL skips what comes before a BEGIN line too.
 *
 * `inString`: the text is one whose JSON \n escapes have been read as line breaks, so a block may
 * sit in a JSON string inside it (an APIC payload in a ConfigMap). There a BEGIN line may also
 * start right after the string's opening quote, and the block ends at any END marker of its label
 * (`-----END CERTIFICATE-----"` closes the string), as pemBlocks reads it.
 */
export function unendedPemBlock(text: string, inString = false): { label: string; line: number } | undefined {
    let open: RegExpMatchArray | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [, kind, label] = marker;
        if (open === undefined) open = kind === "BEGIN" && pemLine(text, marker, inString) ? marker : undefined;
        else if (kind === "END" && label === open[2] && (inString || pemLine(text, marker))) open = undefined;
        else break;
    }
    if (open === undefined) return undefined;
    return { label: open[2], line: text.slice(0, open.index).split("\n").length };
}

/** A byte order mark (U+FEFF) that starts a line, right before a BEGIN marker. */
const BOM_BEFORE_BEGIN = /(?<=^|\n)\uFEFF-----BEGIN [A-Z0-9 ]+-----/;

/**
 * Why a text handed to Envoy or istiod as given (a trust bundle, a CRL bundle) cannot be, for a
 * byte order mark before a BEGIN line (Notepad starts a UTF-8 file with one), as the end of a
 * sentence that starts with the text's name; undefined without one. BoringSSL (so Envoy) and Go
 * (so istiod) see no BEGIN line there and skip that block unseen, while Node's reader (OpenSSL 3)
 * takes it: a root or a CRL that every check here saw would be missing from what they load.
 */
export function byteOrderMarkProblem(text: string): string | undefined {
    const bom = BOM_BEFORE_BEGIN.exec(text);
    if (bom === null) return undefined;
    const line = text.slice(0, bom.index).split("\n").length;
    return (
        `has a byte order mark (U+FEFF, which Notepad writes at the start of a UTF-8 file) before the BEGIN line on line ${line}: ` +
        `Envoy's BoringSSL and Go see no BEGIN line there and skip that block; remove the byte order mark (save the file as UTF-8 without BOM)`
    );
}

/** A BEGIN marker right after an END marker on its line, white space between them at most. */
const BEGIN_AFTER_END = /[^\S\n]*-----BEGIN [A-Z0-9 ]+-----/y;

/**
 * The first PEM block of a text whose END marker runs into the next block's BEGIN on one line
 * (`-----END CERTIFICATE----------BEGIN CERTIFICATE-----`, as cat writes files the first of which
 * lacks its final newline): its label and that line, or undefined. OpenSSL, and so Envoy, refuses
 * such a text ("bad end line"); pemBlocks reads the two blocks as one damaged block, and
 * unendedPemBlock finds no END line. Only a block begun on a BEGIN line counts (pemLine), as
 * OpenSSL reads past anything else. `inString`: as unendedPemBlock takes it.
 */
export function runTogetherPemBlock(text: string, inString = false): { label: string; line: number } | undefined {
    let open: string | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [, kind, label] = marker;
        if (open === undefined) {
            if (kind === "BEGIN" && pemLine(text, marker, inString)) open = label;
        } else if (kind === "END" && label === open) {
            const at = marker.index ?? 0;
            BEGIN_AFTER_END.lastIndex = at + marker[0].length;
            if (BEGIN_AFTER_END.test(text)) return { label, line: text.slice(0, at).split("\n").length };
            // As pemBlocks: an END marker inside a line is data, and the block goes on.
            if (inString || pemLine(text, marker)) open = undefined;
        }
    }
    return undefined;
}

/**
 * A name with its article, as it is said: "a CERTIFICATE", "an X509 CRL", "an RSA PRIVATE KEY",
 * "an SSH2 ...", "a Uint8Array", "an object", "a Date". A capital that a digit or a capital
 * consonant follows (U: any capital) is said as its letter's name ("ess-ess-aitch"), which A, E,
 * F, H, I, L, M, N, O, R, S and X start with a vowel sound and U with "you"; otherwise the first letter's sound decides ("a NEW
 * CERTIFICATE REQUEST", "a Uint8Array", "an Undefined").
 */
export const withArticle = (name: string): string => {
    const letterName = /^(?:[A-Z][0-9B-DF-HJ-NP-TV-Z]|U[A-Z])/.test(name);
    const vowelSound = letterName
        ? /^[AEFHILMNORSX]/.test(name)
        : /^[aeio]/i.test(name) || (/^u/i.test(name) && !/^u(?:ni|int|s[aeu]|ti)/i.test(name));
    return `${vowelSound ? "an" : "a"} ${name}`;
};

/**
 * The refusal of PEM blocks run together (runTogetherPemBlock), to follow the text's name and a
 * colon, or "has": `where` says in what the line is counted (" of its value").
 */
export const runTogetherProblem = (block: { label: string; line: number }, where = ""): string =>
    `two PEM blocks run together on line ${block.line}${where}: the END of ${withArticle(block.label)} block and the next BEGIN must be on separate lines ` +
    `(cat joins them so when a file lacks its final newline); put a line break between them`;

/**
 * Every PEM block of one type in a text, in order, each ending in one newline: from a BEGIN line
 * to the next END line of its label (pemLine), as OpenSSL's PEM_read_bio and Go's pem.Decode read
 * them. A marker inside a line begins or ends no block (a script that greps for it); any other
 * marker between the two is data, as to them, so a damaged block is still returned for its reader
 * to refuse. A block without its END line is left out (unendedPemBlock finds it). One pass, so
 * a text of many BEGIN markers without an END costs no more than its length. `inString`: as
 * unendedPemBlock takes it, for a text whose JSON \n escapes have been read as line breaks.
 */
export function pemBlocks(text: string, label: string, inString = false): string[] {
    const blocks: string[] = [];
    let begin: RegExpMatchArray | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [, kind, markerLabel] = marker;
        if (markerLabel !== label) continue;
        if (begin === undefined) {
            if (kind === "BEGIN" && pemLine(text, marker, inString)) begin = marker;
        } else if (kind === "END" && (inString || pemLine(text, marker))) {
            blocks.push(`${text.slice(begin.index, (marker.index ?? 0) + marker[0].length)}\n`);
            begin = undefined;
        }
    }
    return blocks;
}

/**
 * Every PEM block of a text whatever its label, in order, as pemBlocks reads those of one label
 * (a block ends at the next END line of its own label), the last one unended (`ended` false) when
 * the text stops before its END line: what a reader that expects one label (istiod's) finds in its
 * place, so that a block of another label can be named by its position.
 */
export function pemBlocksInOrder(text: string): { label: string; pem: string; ended: boolean }[] {
    const blocks: { label: string; pem: string; ended: boolean }[] = [];
    let begin: RegExpMatchArray | undefined;
    for (const marker of text.matchAll(PEM_MARKER)) {
        const [, kind, label] = marker;
        if (begin === undefined) {
            if (kind === "BEGIN" && pemLine(text, marker)) begin = marker;
        } else if (kind === "END" && label === begin[2] && pemLine(text, marker)) {
            const pem = `${text.slice(begin.index, (marker.index ?? 0) + marker[0].length)}\n`;
            blocks.push({ label, pem, ended: true });
            begin = undefined;
        }
    }
    if (begin !== undefined) blocks.push({ label: begin[2], pem: text.slice(begin.index), ended: false });
    return blocks;
}

/** PEM with 64-column base64 and one trailing newline, as Go's encoding/pem (and so the provider) writes it. */
export function pemEncode(der: Buffer, label: string): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * The pattern @pulumi/tls matches a PEM input's value in state against when the input changes
 * (terraform-provider-tls common.go requireReplaceIfStateContainsPEMString, Go's RE2 written for
 * JavaScript): a match replaces the resource; any other value (a "Bag Attributes" preamble from
 * openssl pkcs12, CRLF line ends, a space after the END line) is updated in place, and a
 * certificate keeps what it was signed with.
 */
export const PROVIDER_PEM = /^-----BEGIN [A-Za-z ]+-----\n[\s\S]+\n-----END [A-Za-z ]+-----\n?$/;

/**
 * `text` as a PEM input of @pulumi/tls: as it is when PROVIDER_PEM matches it and it starts with a
 * `label` block (a change of such a value replaces the resource, and leaving it alone changes
 * nothing deployed: a file holding a chain or a key and its certificate stays whole, the provider
 * reads its first block), else its first `label` block alone as the provider writes PEM. Throws
 * when it holds no `label` block.
 */
export function providerPem(text: string, label: string): string {
    const asGiven = PROVIDER_PEM.test(text) && text.startsWith(`-----BEGIN ${label}-----\n`);
    return asGiven ? text : pemEncode(pemDecode(text, label), label);
}
