import * as crypto from "crypto";
import { domainToASCII } from "url";
import { BASE64_RUN, isBareKey } from "../pki/pem";

/**
 * The small vocabulary of config validation: config values as JSON (what Pulumi passes for
 * structured keys), how a bad value is shown in a message, and the checks several keys share.
 */

/** RFC 1123 label as Kubernetes uses it: lower case, digits, '-', 1-63 characters. */
export const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A label's characters alone, of any length: to tell a long name from a badly written one. */
export const LABEL_CHARACTERS = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** What LABEL_CHARACTERS takes, as the messages for a DNS name, a domain and a group say it. */
export const LABEL_RULE = "lower-case letters, digits and '-', not starting or ending with '-'";

/** A Kubernetes label value: at most 63 characters, or none. */
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** A microservice name as the inventory spells it (the bank's inventory has upper case); its host label is lower-cased. */
export const SERVICE_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

/**
 * An endpoint's id (Secret, APIC bundle and identity names derive from it): `<domain>-<name>` for a
 * service (Option 2) or group (Option 3), without doubling a domain prefix the name already has
 * ("ob-payee", not "ob-ob-payee").
 */
export function endpointIdOf(domain: string, name: string): string {
    return name.startsWith(`${domain}-`) ? name : `${domain}-${name}`;
}

/**
 * Characters not shown as themselves: control characters (C0, DEL, C1: ESC begins sequences that
 * move the cursor or clear the line, \r goes back to its start), format characters (invisible:
 * zero-width spaces and joiners, the soft hyphen, and the bidirectional controls, which reorder
 * the text around them, "Trojan Source", CVE-2021-42574), the line and paragraph separators, lone
 * UTF-16 surrogates (no character: written as UTF-8, each becomes U+FFFD) and noncharacters
 * (U+FFFE, U+FDD0...: never text). Text holding one could read as something it is not, in a
 * certificate or a message.
 */
const UNSHOWN = "\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}\\p{Noncharacter_Code_Point}";

/**
 * UNSHOWN but the zero-width non-joiner and joiner (U+200C, U+200D), which Persian and Indic
 * scripts need inside words: refused nowhere, though messages still show them escaped.
 */
const REFUSED_CHARACTER = new RegExp(`(?![\\u200c\\u200d])[${UNSHOWN}]`, "u");

/** A character not shown as itself (UNSHOWN, joiners aside): never in a certificate field or a kubeconfig name. */
export const hasControlCharacter = (text: string): boolean => REFUSED_CHARACTER.test(text);

/** “ ” ‘ ’: a document's quote marks, pasted around a value, which YAML keeps as part of the text. */
const TYPOGRAPHIC_QUOTE_AROUND = /^[\u201c\u201d\u2018\u2019]|[\u201c\u201d\u2018\u2019]$/;

/**
 * Why `text` cannot be a subject field `field` (e.g. "the subject O of every certificate"), after
 * its key, or undefined: it starts or ends with a typographic quote, which would go into the name
 * ("“Example Bank”") where nobody meant it. `shown` is how the caller shows the text.
 */
export function typographicQuoteProblem(text: string, shown: string, field: string): string | undefined {
    if (!TYPOGRAPHIC_QUOTE_AROUND.test(text)) return undefined;
    return `starts or ends with a typographic quote (“ ” ‘ ’), which would go into ${field}; got ${shown}. Remove the quotes; YAML needs none around this value, or use straight quotes`;
}

/**
 * How many characters a text has, as RFC 5280's upper bounds on a name (ub-common-name...) count
 * them: code points, so "🏦" is one, where JavaScript's length counts two UTF-16 units.
 */
export const characterCount = (text: string): number => [...text].length;

/**
 * The first `count` characters of `text`, counted as characterCount counts them: a cut to a
 * common name's 64 never splits an emoji's UTF-16 pair, which encodeURIComponent (the CN in
 * @pulumi/tls's wire form) refuses with a bare "URIError: URI malformed".
 */
export const firstCharacters = (text: string, count: number): string => [...text].slice(0, count).join("");

/** What json escapes beyond JSON's own (C0, quotes, backslashes): the rest of UNSHOWN. */
const ESCAPED_IN_JSON = new RegExp(`[${UNSHOWN}]`, "gu");

/** A name a message shows as written: none of UNSHOWN, no white space, quote or backslash. */
const PLAIN_NAME = new RegExp(`^[^${UNSHOWN}\\s"\\\\]+$`, "u");

/**
 * A record's own member: a domain, service, cluster or endpoint may be named "constructor" or
 * "toString", which a plain object's lookup would find on Object.prototype (a function, not
 * undefined). For records keyed by such names: config maps and the deployed record's.
 */
export const ownMember = <T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined =>
    record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonMap = { [key: string]: Json };
export type Fail = (message: string) => void;

export const isMap = (v: Json | undefined): v is JsonMap => typeof v === "object" && v !== null && !Array.isArray(v);
/**
 * A private key pasted into a config value (a wrong key, a wrong field) is kept out of messages,
 * which reach logs and pull-request comments: from its BEGIN line to its END line, or to the end;
 * copied without its BEGIN line, the base64 before its END line (matched from the start of that
 * run only, so that a long text without a key costs one pass).
 */
const PRIVATE_KEY_BLOCK =
    /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:[^]*?-----END \1PRIVATE KEY-----|[^]*$)|(?<![A-Za-z0-9+/=\s])[A-Za-z0-9+/=\s]*-----END [A-Z0-9 ]*PRIVATE KEY-----/g;

/**
 * A line break inside base64, with the white space around it (trailing spaces, indentation): a
 * real one, or JSON's `\n` and `\r\n` escapes, as a JSON string pasted into a value (a kubeconfig's
 * client-key-data) holds them.
 */
const BREAK = String.raw`[ \t]*(?:\r?\n|\\r\\n|\\n)[ \t]*`;
const BREAKS = new RegExp(BREAK);

/**
 * A base64 run at a word start (or after a `\n` escape), over line breaks (BREAK), each further
 * line base64 to its end, to a JSON string's closing quote or to a closing bracket: a key encoded
 * again (a kubeconfig's client-key-data), a PKCS#12's text export or a key pasted after a certificate.
 */
const BASE64_LINES = new RegExp(
    String.raw`(?:(?<![A-Za-z0-9+/=])|(?<=\\n))[A-Za-z0-9+/][A-Za-z0-9+/=]{15}[A-Za-z0-9+/=]*` +
        String.raw`(?:${BREAK}[A-Za-z0-9+/=]+(?=${BREAK}|[ \t]*(?:$|["',)\]}])))*`,
    "g",
);

/** The shortest base64 decoded: a private key's is far longer, a word is not decoded. */
const DECODED_FROM = 100;

/**
 * How "-----BEGIN" begins in base64: such a run is decoded however short, as a key's BEGIN line
 * may be all that a run holds when the rest of its lines are cut apart from it.
 */
const BEGIN_LINE_BASE64 = "LS0tLS1CRUdJTi";

/**
 * A private key's BEGIN or END line, anywhere in decoded text ("Bag Attributes" may come first),
 * to its label: a short run may hold no more.
 */
const KEY_LINE = /-----(?:BEGIN|END) [A-Z0-9 ]*PRIVATE KEY/;

/** After an encoding's `=` padding: the first character of another, on the same line or the next. */
const NEXT_ENCODING = new RegExp(`(?:${BREAK})?[A-Za-z0-9+/]`, "y");
/** A piece that begins as a key's BEGIN line in base64 (BEGIN_LINE_BASE64), after a break or not. */
const BEGIN_LINE_AT = new RegExp(`(?:${BREAK})?${BEGIN_LINE_BASE64}`, "y");
/** Whether a character code is base64's but "=": checked at each `=` without a regex, millions of times. */
const BASE64_CODE = new Uint8Array(128).map((_, code) => Number(/[A-Za-z0-9+/]/.test(String.fromCharCode(code))));

/**
 * Where the pieces of a base64 run that decode on their own begin and end in it, of those long
 * enough to be decoded: each ends at its `=` padding (a second encoding pasted after the first,
 * on the same line or the next), with its leading white space. Found by index: a run of "A=A=..."
 * holds millions of pieces, each of which a split would allocate.
 */
function encodings(run: string): [number, number][] {
    const pieces: [number, number][] = [];
    let start = 0;
    const piece = (end: number) => {
        BEGIN_LINE_AT.lastIndex = start;
        // Only "L" or a break may begin a BEGIN line's base64: no regex for the millions of others.
        const begin = !BASE64_CODE[run.charCodeAt(start)] || run.charCodeAt(start) === 76;
        if (end - start >= DECODED_FROM || (begin && BEGIN_LINE_AT.test(run))) pieces.push([start, end]);
        start = end;
    };
    for (let at = run.indexOf("="); at !== -1; at = run.indexOf("=", at + 1)) {
        const next = run.charCodeAt(at + 1);
        if (next === 61 || Number.isNaN(next)) continue; // "=" or the run's end
        NEXT_ENCODING.lastIndex = at + 1;
        if (BASE64_CODE[next] === 1 || NEXT_ENCODING.test(run)) piece(at + 1);
    }
    piece(run.length);
    return pieces;
}

/** Latin-1 text of base64 decoded from each of its first four characters: after 1-3 stray ones, one is aligned. */
const decodedAligned = (base64: string): string[] =>
    [0, 1, 2, 3].map((from) => Buffer.from(base64.slice(from), "base64").toString("latin1"));

/**
 * Whether base64 is a private key's (isBareKey) or decodes to one: whole, line by line (lines
 * encoded apart), after 1-3 stray characters (or a certificate's base64 without its padding), or,
 * with `depth`, encoded twice.
 */
function decodesToKey(base64: string, depth: number): boolean {
    const lines = base64.split(BREAKS).map((line) => line.trim());
    const whole = lines.join("");
    if (isBareKey(whole)) return true;
    return [whole, ...(lines.length > 1 ? lines : [])].some((piece) => {
        if (piece.length < DECODED_FROM && !piece.startsWith(BEGIN_LINE_BASE64)) return false;
        const texts = decodedAligned(piece);
        if (texts.some((text) => KEY_LINE.test(text))) return true;
        if (depth === 0) return false;
        return (texts[0].match(BASE64_LINES) ?? []).some(
            (run) =>
                isBareKey(run) || encodings(run).some(([start, end]) => decodesToKey(run.slice(start, end), depth - 1)),
        );
    });
}

const HIDDEN_KEY = "(a private key, not shown)";
/** The break or white space an encoding begins with, kept in front of the note that replaces it. */
const LEADING = new RegExp(`^(?:${BREAK}|[ \t]*)`);

/** A base64 run with each encoding in it that is or decodes to a private key (decodesToKey) replaced by a note. */
function withoutEncodedKeys(run: string): string {
    const kept: string[] = [];
    let from = 0;
    for (const [start, end] of encodings(run)) {
        const encoding = run.slice(start, end);
        if (!decodesToKey(encoding, 1)) continue;
        const leading = LEADING.exec(encoding)?.[0] ?? "";
        kept.push(run.slice(from, start), leading, HIDDEN_KEY);
        from = end;
    }
    return from === 0 ? run : [...kept, run.slice(from)].join("");
}

/** Hex digits enough for a key's start: isBareKey reads 30 bytes, as `xxd -p` puts on a line. */
const HEX_FROM = 60;

/** Whether hex digits are a private key's DER, or its start (isBareKey). */
const isHexKey = (hex: string): boolean => isBareKey(Buffer.from(hex.slice(0, 64 & ~1), "hex").toString("base64"));

/** Whether hex at `at` begins as a key's DER (a SEQUENCE, 30) or an OpenSSH key ("o", 6f) does: most words need no decoding. */
const keyHexStart = (text: string, at: number): boolean => {
    const first = text.charCodeAt(at);
    const second = text.charCodeAt(at + 1);
    return (first === 51 && second === 48) || (first === 54 && (second === 102 || second === 70));
};

/** Where the contents of the DER element in hex at `at` begin, after its tag and length (as pem's contentsAt). */
const hexContentsAt = (hex: string, at: number): number => {
    const digit = (c: number) => (c <= 57 ? c - 48 : (c | 32) - 87);
    const length = digit(hex.charCodeAt(at + 2)) * 16 + digit(hex.charCodeAt(at + 3));
    return at + 4 + (length < 0x80 ? 0 : (length & 0x7f) * 2);
};

/**
 * Whether hex at `at` may be a key as isBareKey tells one, read in place without decoding: an
 * OpenSSH key's start, or a SEQUENCE holding an INTEGER first, or a SEQUENCE that holds an OID.
 * Millions of words ("30 30 30 ...") are not each decoded.
 */
const mayBeHexKey = (hex: string, at: number): boolean => {
    if (hex.startsWith("6f70656e", at) || hex.startsWith("6F70656E", at)) return true;
    const contents = hexContentsAt(hex, at);
    return (
        hex.startsWith("02", contents) ||
        (hex.startsWith("30", contents) && hex.startsWith("06", hexContentsAt(hex, contents)))
    );
};

/**
 * Labels `openssl pkey -text` (and `openssl rsa -text`, `openssl ec -text`) put over a key's
 * private numbers, each followed by its bytes as colon-separated hex on indented lines.
 */
const PRIVATE_NUMBER_LABEL =
    /(?<![A-Za-z0-9_])(?:priv|privateExponent|prime1|prime2|exponent1|exponent2|coefficient)[ \t]*:(?:\s|\\[nrt])*$/;

/** What each ASCII character is to hexKeys: 0 other, 1 a word's (letter, digit, "_"), 2 a hex digit, 3 a gap. */
const HEX_SCAN = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
    const char = String.fromCharCode(c);
    HEX_SCAN[c] = /[0-9A-Fa-f]/.test(char) ? 2 : /\w/.test(char) ? 1 : /[ \t\r\n:.-]/.test(char) ? 3 : 0;
}
const scanned = (text: string, at: number): number => {
    const c = text.charCodeAt(at);
    return c < 128 ? HEX_SCAN[c] : 0;
};
/** The length of the gap at `at`: 1 for white space, a colon, a dot or a dash (.NET's `30-2E-02-...`), 2 for the `\n`, `\r` or `\t` escape of JSON text, else 0. */
const hexGap = (text: string, at: number): number => {
    if (scanned(text, at) === 3) return 1;
    const next = text.charCodeAt(at + 1);
    return text.charCodeAt(at) === 92 && (next === 110 || next === 114 || next === 116) ? 2 : 0;
};

/**
 * Where text holds a private key as hex: the words of hex digits (a `0x` before them aside) that
 * follow one another with only white space, colons, dots, dashes or `\n` escapes between them, joined: DER on one
 * line, wrapped as `xxd -p` wraps it (60 digits a line), or a byte at a time (`30:2e:02:01:00:...`),
 * from its first word that begins a key (isHexKey) to the last; or the bytes under a private
 * number's label (PRIVATE_NUMBER_LABEL). One pass, without regular expressions that backtrack:
 * a hex line of millions of digits is one word.
 */
function hexKeys(text: string): [number, number][] {
    const found: [number, number][] = [];
    let start = -1;
    // Of the run's words that may begin a key (keyHexStart): where each is and its offset in
    // the run's digits (at, offset, at, offset, ...).
    const candidates: number[] = [];
    let candidateCount = 0;
    let digits = 0;
    let end = 0;
    const close = () => {
        if (digits >= 16 && PRIVATE_NUMBER_LABEL.test(text.slice(Math.max(0, start - 40), start))) {
            found.push([start, end]);
        } else if (digits >= HEX_FROM && candidateCount > 0) {
            // The words' digits: in a run, an "x" is only ever a "0x" prefix's.
            const hex = text.slice(start, end).replace(NOT_HEX_DIGIT, "");
            for (let i = 0; i < candidateCount; i += 2) {
                const offset = candidates[i + 1];
                if (
                    hex.length - offset >= HEX_FROM &&
                    mayBeHexKey(hex, offset) &&
                    isHexKey(hex.slice(offset, offset + 64))
                ) {
                    found.push([candidates[i], end]);
                    break;
                }
            }
        }
        start = -1;
        candidateCount = 0;
        digits = 0;
    };
    let at = 0;
    while (at < text.length) {
        const kind = scanned(text, at);
        if (kind === 1 || kind === 2) {
            let to = at;
            let hex = true;
            for (let next = kind; next === 1 || next === 2; next = scanned(text, ++to)) hex &&= next === 2;
            let from = at;
            // "0x" before hex digits.
            if (!hex && to - at > 2 && text.charCodeAt(at) === 48 && (text.charCodeAt(at + 1) | 32) === 120) {
                from = at + 2;
                hex = true;
                for (let c = from; c < to && hex; c++) hex = scanned(text, c) === 2;
            }
            if (hex) {
                if (start === -1) start = from;
                if (keyHexStart(text, from)) {
                    candidates[candidateCount++] = from;
                    candidates[candidateCount++] = digits;
                }
                digits += to - from;
                end = to;
            } else if (start !== -1) close();
            at = to;
        } else {
            const gap = hexGap(text, at);
            if (gap === 0 && start !== -1) close();
            at += Math.max(gap, 1);
        }
    }
    if (start !== -1) close();
    return found;
}

/** What is not a digit of a run hexKeys found: its gaps, and "0x" before a word. */
const NOT_HEX_DIGIT = /0[xX](?=[0-9A-Fa-f])|[^0-9A-Fa-f]/g;
/** What a text with a private key in hex holds (keyHexStart, PRIVATE_NUMBER_LABEL), found faster than hexKeys scans. */
const HEX_KEY_SIGN = /30|6f|priv|prime|exponent|coefficient/i;

/** Text with each private key in hex (hexKeys) replaced by a note that one was there. */
function withoutHexKeys(text: string): string {
    // No key's start (keyHexStart) nor a private number's label: nothing to scan for.
    if (!HEX_KEY_SIGN.test(text)) return text;
    const kept: string[] = [];
    let from = 0;
    for (const [start, end] of hexKeys(text)) {
        kept.push(text.slice(from, start), HIDDEN_KEY);
        from = end;
    }
    return from === 0 ? text : [...kept, text.slice(from)].join("");
}

/** The members of a JSON Web Key (RFC 7518 section 6) only a private or secret key has. */
const JWK_PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"];

/** Whether a value is a JSON Web Key with private or secret members: "kty" and any of JWK_PRIVATE_MEMBERS. */
export const isPrivateJwk = (value: unknown): boolean =>
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.hasOwn(value, "kty") &&
    JWK_PRIVATE_MEMBERS.some((member) => Object.hasOwn(value, member));

/**
 * A member name of a JSON Web Key in text, followed by its colon: quoted with " or ' (Python's
 * repr of a dict), with its quotes escaped (JSON text shown as a JSON string), or bare (YAML's
 * `kty: OKP` lines, JavaScript's `{kty:"EC"}`).
 */
const jwkMember = (names: string): RegExp => new RegExp(`(?<![A-Za-z0-9_])\\\\?["']?(?:${names})\\\\?["']?[ \\t]*:`);
const JWK_KTY = jwkMember("kty");
const JWK_PRIVATE_MEMBER = jwkMember(JWK_PRIVATE_MEMBERS.join("|"));

/**
 * Whether text names "kty" and a member of JWK_PRIVATE_MEMBERS, in whatever notation
 * (jwkMember): a private JSON Web Key written out, shown by no message, in no part, as a key whose
 * braces hold a nested member or a "}" in a string cannot be cut out alone.
 */
const isJwkText = (text: string): boolean => JWK_KTY.test(text) && JWK_PRIVATE_MEMBER.test(text);

/**
 * A JSON object in text (in a message, with the text around it kept), as written or with its
 * quotes escaped, that holds a private JSON Web Key (isJwkText): a JSON Web Key's members are
 * text, numbers and lists, never objects, so it is one flat pair of braces.
 */
const JWK_TEXT = /\{[^{}]*\}/g;

/**
 * A run of base64 beginning as DER or an OpenSSH key does (BASE64_RUN), on one line, that may be
 * base64url (RFC 4648 section 5: "-" and "_" for "+" and "/"; a JSON Web Token's, a JWK's
 * alphabet), which Node decodes as base64; one with a "-" or "_" is hidden whole before BASE64_RUN,
 * which would stop at it and show the rest.
 */
const BASE64URL_RUN = /(?<![A-Za-z0-9+/=_-])(?:M|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=_-]*/g;

/**
 * Text with every private key, as a PEM block, as its bare base64 or encoded in base64 (once or
 * twice; decodesToKey), replaced by a note that one was there. Encodings first: a bare key in a
 * JSON string (lines apart at `\n` escapes) is whole to them only.
 */
export function withoutPrivateKeys(text: string): string {
    try {
        return withoutHexKeys(
            text
                .replace(PRIVATE_KEY_BLOCK, HIDDEN_KEY)
                .replace(BASE64_LINES, withoutEncodedKeys)
                .replace(BASE64URL_RUN, (run) => (/[-_]/.test(run) && isBareKey(run) ? HIDDEN_KEY : run))
                .replace(BASE64_RUN, (run) => (isBareKey(run) ? HIDDEN_KEY : run)),
        ).replace(JWK_TEXT, (text) => (isJwkText(text) ? HIDDEN_KEY : text));
    } catch (error) {
        // V8's regular expressions recurse: millions of short base64 lines ("MAAA\n" x 3e6) overflow
        // the stack. A text that cannot be searched is not shown, so that the message it goes in
        // (a ConfigError's) is still made, and no key it might hold escapes.
        if (error instanceof RangeError)
            return `(${text.length} characters that could not be searched for private keys, not shown)`;
        throw error;
    }
}

/** A character as JSON escapes it: each UTF-16 unit, as JSON writes a character beyond U+FFFF. */
const unitEscapes = (c: string): string =>
    c
        .split("")
        .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`)
        .join("");

/** The longest text a message or report shows (in characters): a longer one would crowd out the rest. */
export const SHOWN_CHARACTERS = 200;

/** A value not shown, by its length and the start of its SHA-256 (enough to tell two apart). */
export const describedValue = (text: string): string => {
    const count = characterCount(text);
    const sha256 = crypto.createHash("sha256").update(text).digest("hex").slice(0, 12);
    return `(${count} character${count === 1 ? "" : "s"}, SHA-256 ${sha256}, not shown)`;
};

/**
 * A text as a message shows it: not at all when it holds a private JSON Web Key (isJwkText), else
 * with private keys left out (withoutPrivateKeys), and not at all when still longer than
 * SHOWN_CHARACTERS. Nobody reads a text that long in a message, and one may be a
 * secret no pattern knows (a PKCS#12 in base64, a token).
 */
const shownString = (text: string): string => {
    if (isJwkText(text)) return HIDDEN_KEY;
    const shown = withoutPrivateKeys(text);
    return characterCount(shown) > SHOWN_CHARACTERS && !onlyCertificates(shown) ? describedValue(text) : shown;
};

/** A certificate's PEM block: public, and what the message is about when one is given where it may not be. */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]*-----END CERTIFICATE-----/g;

/**
 * Whether `shown` (keys already left out) is certificates alone, with the notes of keys taken out of
 * it: public, so shown however long, as a refusal of the certificates given names them.
 */
const onlyCertificates = (shown: string): boolean => {
    const blocks = shown.match(CERTIFICATE_BLOCK);
    return (
        blocks !== null &&
        // By what it is, not by its label: a PKCS#12 or a key cut short under a CERTIFICATE label is none.
        blocks.every(isCertificate) &&
        shown.replace(CERTIFICATE_BLOCK, "").split(HIDDEN_KEY).join("").trim() === ""
    );
};

const isCertificate = (block: string): boolean => {
    try {
        new crypto.X509Certificate(block);
        return true;
    } catch {
        return false;
    }
};

/**
 * JSON, with every character not shown as itself escaped (UNSHOWN: JSON escapes only C0), so
 * that every character of a bad value shows, in its order; private keys in it (a JSON Web Key's
 * map too) and texts too long to read are not shown (shownString).
 */
export const json = (v: Json): string =>
    JSON.stringify(v, (_, value: unknown) =>
        typeof value === "string" ? shownString(value) : isPrivateJwk(value) ? HIDDEN_KEY : value,
    ).replace(ESCAPED_IN_JSON, unitEscapes);

/**
 * Text from outside the config (a certificate's subject, a CRL's issuer, a file name) as a
 * terminal or log may show it: each character not shown as itself (UNSHOWN) escaped as json
 * escapes it, the rest as written.
 */
export const shownText = (text: string): string => text.replace(ESCAPED_IN_JSON, unitEscapes);

export const showJson = (v: Json | undefined): string => (v === undefined ? "nothing" : json(v));

/**
 * A config key's or member's name as a message shows it: as written, or as JSON (quoted and
 * escaped, as values are) when it holds a character not shown as itself, white space, a quote or
 * a backslash. A name from the config is text like any value: ESC [2K and \r in a group's name
 * would otherwise rewrite the terminal line, and a zero-width space hide in it.
 */
export const shownName = (name: string): string => (PLAIN_NAME.test(name) ? name : json(name));

/** The path of a member of a config key, for messages: `pki:domains.ob`, `pki:domains."ob\u200b"`. */
export const memberPath = (key: string, member: string): string => `${key}.${shownName(member)}`;

/**
 * A top-level value as it reads best: JSON numbers, booleans, lists and maps as they are, other
 * text quoted. A list or map is shown through `json`, so that each text in it is cleared of keys
 * before it is escaped: in JSON text a key's line breaks are "\n", which the key patterns miss.
 */
export function show(text: string): string {
    // Digits as Pulumi passes them, also beyond 2^53, where JSON.parse would round them.
    if (/^-?(0|[1-9][0-9]*)$/.test(text)) return text;
    const parsed = structured(text);
    return json(parsed === undefined ? text : parsed);
}

/** The JSON a top-level value is as Pulumi passes structured config (a list, map, number or boolean), or undefined for text. */
function structured(text: string): Json | undefined {
    try {
        const parsed = JSON.parse(text) as Json;
        if (typeof parsed !== "string" && JSON.stringify(parsed) === text) return parsed;
    } catch {
        // Not JSON: text.
    }
    return undefined;
}

/**
 * Whether a top-level value is a list or a map (YAML's, which Pulumi passes as JSON text), where
 * text was expected. Not read from how show shows it: a private key's map shows as a note.
 */
export const isListOrMap = (text: string): boolean => {
    const parsed = structured(text);
    return typeof parsed === "object" && parsed !== null;
};

/**
 * The whole numbers of JSON text that JSON.parse does not read exactly, as written: beyond 2^53 - 1
 * it rounds them (9007199254740993 reads as 9007199254740992), so that a message would show a
 * number the config does not hold. One it reads back as written (100000000000000000000) is not.
 */
export const roundedIntegers = (jsonText: string): string[] =>
    [...jsonText.matchAll(/"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*/g)]
        .map(([token]) => token)
        .filter((token) => /^-?[0-9]+$/.test(token) && String(Number(token)) !== token);

/**
 * The end of a refusal of a number where text was expected: YAML reads a plain 1234, 012 (octal),
 * 1e3 or 0x1F as a number, which the message then shows changed (83, 1000, 31). `what` is what
 * was meant, e.g. "a serial of digits only".
 */
export const quoteNumberHint = (value: Json | undefined, what: string): string =>
    typeof value === "number" ? `. Quote it: YAML reads ${what} as a number` : "";

/** What names read as numbers are, for quoteNumberHint. */
export const NUMBER_LIKE_NAME = "a name like 1234, 012, 1e3 or 0x1F";

/** A whole JSON number in [min, max]; undefined (reported) otherwise. `mustBe` completes "<key> must be". */
export function wholeNumber(
    value: Json | undefined,
    key: string,
    min: number,
    max: number,
    mustBe: string,
    fail: Fail,
): number | undefined {
    if (typeof value === "number" && Number.isInteger(value) && value >= min && value <= max) return value;
    const hint =
        typeof value === "string" && /^[0-9]+$/.test(value)
            ? ". Write the number without quotes"
            : value === null
              ? ". Leave the key out instead of setting it to null"
              : "";
    fail(`${key} must be ${mustBe}; got ${showJson(value)}${hint}`);
    return undefined;
}

export function unknownMembers(value: JsonMap, key: string, known: readonly string[], what: string, fail: Fail): void {
    for (const k of Object.keys(value)) {
        if (!known.includes(k)) fail(`${memberPath(key, k)} is not a known key; ${what}`);
    }
}

export function namespaceName(value: Json | undefined, key: string, fallback: string, fail: Fail): string {
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !LABEL.test(value)) {
        fail(
            `${key} must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got ${typeof value === "string" ? show(value) : showJson(value)}${quoteNumberHint(value, NUMBER_LIKE_NAME)}`,
        );
        return fallback;
    }
    return value;
}

export const MAX_HOSTNAME_LENGTH = 253;
/** Kubernetes' limit on an object's name (a DNS-1123 subdomain). */
export const MAX_KUBERNETES_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

/**
 * The Istio Gateway of a domain's endpoints. Istio refuses a Gateway whose name is not one DNS-1123
 * label, at most 63 characters and no dots ("invalid gateway name", istio/istio
 * pkg/config/validation/validation.go), so a domain name has at most MAX_DOMAIN_NAME_LENGTH.
 */
export const apicGatewayName = (domain: string): string => `apic-mtls-${domain}`;
export const MAX_DOMAIN_NAME_LENGTH = MAX_LABEL_LENGTH - apicGatewayName("").length;

/** A calling UI service's client certificate Secret, by the service's Kubernetes name (UiApicClient's default). */
export const uiClientSecretName = (service: string): string => `apic-client-${service}`;

/** A customer-facing host's kubernetes.io/tls Secret, by the host's id (CustomerFacingTls's default). */
export const customerFacingSecretName = (id: string): string => `public-tls-${id}`;

/**
 * The suffix of the Secret Istio reads a credentialName's client CA from: for credentialName X it
 * takes ca.crt and ca.crl from the Secret "X-cacert" when one exists, and from X only otherwise
 * (istio/istio pilot/pkg/credentials/kube/secrets.go GetCaCert; the suffix is SdsCaSuffix in
 * pilot/pkg/model/credentials/resource.go).
 */
export const ISTIO_CA_SECRET_SUFFIX = "-cacert";

/** The files a render writes in apic/ui/ beside one folder per APIC host (render.ts writeFrontEnd). */
export const APIC_UI_FILES = {
    truststorePem: "truststore.pem",
    truststoreCrl: "truststore.crl",
    truststoreJson: "truststore.json",
} as const;
/** Istio reads its plug-in CA from this secret at start-up. */
export const MESH_CA_SECRET = { namespace: "istio-system", name: "cacerts" } as const;
/** The backend ingress gateway's pod labels: the selector of the APIC Gateways (and, by default, the customer-facing one). */
export const GATEWAY_SELECTOR = { istio: "ingressgateway" } as const;
/**
 * The pod labels of the default Istio ingress gateway (istio/istio manifests/charts/gateways/
 * istio-ingress: values.yaml gateways.istio-ingressgateway.labels, templates/deployment.yaml and
 * the "istio.labels" every resource gets, revision "default"; heritage, release and chart only
 * when installed in istio-system), which the backend's pods carry: a customer-facing selector
 * made only of these selects the backend's pods too.
 */
export const BACKEND_GATEWAY_POD_LABELS: Readonly<Record<string, string>> = {
    ...GATEWAY_SELECTOR,
    app: "istio-ingressgateway",
    "app.kubernetes.io/name": "istio-ingressgateway",
    "service.istio.io/canonical-name": "istio-ingressgateway",
    "service.istio.io/canonical-revision": "latest",
    "istio.io/rev": "default",
    "install.operator.istio.io/owning-resource": "unknown",
    "operator.istio.io/component": "IngressGateways",
    "sidecar.istio.io/inject": "false",
    "istio.io/dataplane-mode": "none",
    heritage: "Tiller",
    release: "istio",
    chart: "gateways",
    "app.kubernetes.io/part-of": "istio",
    "app.kubernetes.io/managed-by": "Helm",
};

/**
 * The namespaces where the policy pack admits Secrets with private keys unless told otherwise
 * (its keySecretNamespaces): istiod's and, by default, the ingress gateway's. `diff` tells from it
 * which namespaces a change would have to add.
 */
export const DEFAULT_KEY_SECRET_NAMESPACES: readonly string[] = [MESH_CA_SECRET.namespace];

/**
 * Why a Secret the stack or a component names `name` would replace another Secret's client CA, or
 * undefined when its name does not end in -cacert.
 */
export function caSecretProblem(name: string): string | undefined {
    if (!name.endsWith(ISTIO_CA_SECRET_SUFFIX)) return undefined;
    const other = name.slice(0, -ISTIO_CA_SECRET_SUFFIX.length);
    return `Istio reads a Secret named <name>${ISTIO_CA_SECRET_SUFFIX} as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret ${showJson(other)} in its namespace`;
}

/**
 * For a label with letters beyond ASCII (bänk), how to write the name: DNS, certificates and Istio
 * take an internationalized name only as its punycode A-labels (xn--bnk-qla). "" when none fits.
 */
function punycodeHint(name: string, label: string): string {
    if (![...label].some((c) => c.charCodeAt(0) > 0x7f)) return "";
    const ascii = domainToASCII(name);
    if (ascii === "" || dnsNameProblems(ascii).length > 0) return "";
    return `; write an internationalized name as its punycode A-labels: ${json(ascii)}`;
}

/**
 * Why `key` is no Kubernetes label key, or undefined when it is one: [prefix/]name, the prefix a
 * DNS-1123 subdomain of at most 253 characters, the name at most 63 (apimachinery IsQualifiedName).
 * The API server refuses other keys; pods cannot carry them, so a selector with one never matches.
 */
export function labelKeyProblem(key: string): string | undefined {
    const slash = key.lastIndexOf("/");
    const name = key.slice(slash + 1);
    if (slash >= 0) {
        const prefix = key.slice(0, slash);
        if (prefix.length > MAX_HOSTNAME_LENGTH) {
            return `has a prefix (before '/') of ${prefix.length} characters; a label key's prefix has at most ${MAX_HOSTNAME_LENGTH}`;
        }
        if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(prefix)) {
            return `has the prefix ${json(prefix)}; a label key's prefix (before '/') is a DNS name: lower-case letters, digits, '-' and '.'`;
        }
    }
    if (name.length > MAX_LABEL_LENGTH) {
        return `has a name (after any prefix/) of ${name.length} characters; a label key's name has at most ${MAX_LABEL_LENGTH}`;
    }
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) {
        return `has the name ${json(name)}; a label key's name (after any prefix/) is letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
    }
    return undefined;
}

/**
 * Why `value` is no Kubernetes label value, as the end of a sentence that starts with its key, or
 * undefined when it is one: text of at most 63 letters, digits, '-', '_' and '.', starting and
 * ending with a letter or digit, or empty (apimachinery IsValidLabelValue).
 */
export function labelValueProblem(value: Json): string | undefined {
    if (typeof value !== "string") return `must be a Kubernetes label with a text value; got ${showJson(value)}`;
    if (LABEL_VALUE.test(value)) return undefined;
    if (value.length > MAX_LABEL_LENGTH) {
        return `${json(value)} is ${value.length} characters; a Kubernetes label value has at most ${MAX_LABEL_LENGTH}`;
    }
    const alphanumeric = /^[A-Za-z0-9]$/;
    const [first, last] = [value[0], value[value.length - 1]];
    if (!alphanumeric.test(first) || !alphanumeric.test(last)) {
        const edge = !alphanumeric.test(first) ? `starts with ${json(first)}` : `ends with ${json(last)}`;
        return `${json(value)} ${edge}; a Kubernetes label value starts and ends with a letter or digit`;
    }
    const inside = [...value].find((c) => !/^[-A-Za-z0-9_.]$/.test(c)) ?? "";
    return `${json(value)} holds ${json(inside)}; a Kubernetes label value has only letters, digits, '-', '_' and '.'`;
}

/** Problems with a DNS name, or [] when it is valid. */
export function dnsNameProblems(name: string): string[] {
    const problems: string[] = [];
    if (name.length > MAX_HOSTNAME_LENGTH) {
        problems.push(`is ${name.length} characters long; a DNS name has at most ${MAX_HOSTNAME_LENGTH}`);
    }
    // A fully qualified name's root dot ("bank.example."): said as such, not as an empty label.
    const rootDot = name.length > 1 && name.endsWith(".");
    if (rootDot) {
        problems.push("ends with a dot: remove it (certificates and Istio name hosts without the root's dot)");
    }
    // Each bad label once: "a..b..c" has two empty labels and one message for them.
    for (const label of new Set((rootDot ? name.slice(0, -1) : name).split("."))) {
        if (label === "*") {
            problems.push(`has the wildcard label "*"; name each host in full (certificates here are per host)`);
        } else if (label.length > MAX_LABEL_LENGTH) {
            problems.push(
                `has the label ${json(label)} of ${label.length} characters; a label has at most ${MAX_LABEL_LENGTH}`,
            );
        } else if (!LABEL_CHARACTERS.test(label)) {
            problems.push(`has the label ${json(label)}; labels are ${LABEL_RULE}` + punycodeHint(name, label));
        }
    }
    // Istio's validation (validateDNS1123Labels) refuses such a host in a Gateway or ServiceEntry.
    const last = name.slice(name.lastIndexOf(".") + 1);
    if (/^[0-9]+$/.test(last)) {
        problems.push(
            /^[0-9]+(\.[0-9]+){3}$/.test(name)
                ? "is an IP address; give the host's DNS name (Istio takes DNS names for Gateway and ServiceEntry hosts)"
                : `ends in the all-numeric label "${last}", which Istio refuses in a host (a top-level domain cannot be all-numeric); give the host's full DNS name`,
        );
    }
    return problems;
}
