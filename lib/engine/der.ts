/**
 * Minimal DER (X.690) writer and reader: just what the engine stand-in needs to build and read
 * certificates, CSRs and keys byte for byte the way Go's encoding/asn1 does. We write this
 * ourselves because no library lets us pin every encoding choice (string types, SET sorting,
 * omitted defaults) that the real provider makes.
 */

export const TAG = {
    boolean: 0x01,
    integer: 0x02,
    bitString: 0x03,
    octetString: 0x04,
    null: 0x05,
    oid: 0x06,
    utf8String: 0x0c,
    printableString: 0x13,
    ia5String: 0x16,
    utcTime: 0x17,
    generalizedTime: 0x18,
    sequence: 0x30,
    set: 0x31,
} as const;

function lengthBytes(length: number): Buffer {
    if (length < 0x80) return Buffer.from([length]);
    const bytes: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
    return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.sequence, Buffer.concat(items));

/** SET OF, elements sorted by their encodings as DER requires (Go >= 1.15 does the same). */
export const setOf = (...items: Buffer[]): Buffer => tlv(TAG.set, Buffer.concat([...items].sort(Buffer.compare)));

/** Context-specific constructed tag [n] (explicit tagging). */
export const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);

/** Context-specific primitive tag [n] (implicit tagging of a primitive value). */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

export const nullValue = (): Buffer => tlv(TAG.null, Buffer.alloc(0));
export const boolean = (value: boolean): Buffer => tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00]));
export const octetString = (content: Buffer): Buffer => tlv(TAG.octetString, content);

/** BIT STRING with the given number of unused bits in the last byte. */
export const bitString = (content: Buffer, unusedBits = 0): Buffer =>
    tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), content]));

/** INTEGER from a non-negative bigint, minimal two's complement. */
export function integer(value: bigint | number): Buffer {
    let v = BigInt(value);
    if (v < 0n) throw new Error("der.integer: negative values are not used here");
    const bytes: number[] = [];
    do {
        bytes.unshift(Number(v & 0xffn));
        v >>= 8n;
    } while (v > 0n);
    if (bytes[0] & 0x80) bytes.unshift(0);
    return tlv(TAG.integer, Buffer.from(bytes));
}

/** INTEGER from unsigned big-endian bytes (e.g. a serial number). */
export function unsignedInteger(bytes: Buffer): Buffer {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    return tlv(TAG.integer, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function oid(dotted: string): Buffer {
    const parts = dotted.split(".").map((p) => BigInt(p));
    const body: number[] = [];
    const encodeArc = (arc: bigint): void => {
        const chunk: number[] = [Number(arc & 0x7fn)];
        for (let rest = arc >> 7n; rest > 0n; rest >>= 7n) chunk.unshift(Number(rest & 0x7fn) | 0x80);
        body.push(...chunk);
    };
    encodeArc(parts[0] * 40n + parts[1]);
    parts.slice(2).forEach(encodeArc);
    return tlv(TAG.oid, Buffer.from(body));
}

export function decodeOid(content: Buffer): string {
    const arcs: bigint[] = [];
    let value = 0n;
    for (const byte of content) {
        value = (value << 7n) | BigInt(byte & 0x7f);
        if (!(byte & 0x80)) {
            arcs.push(value);
            value = 0n;
        }
    }
    const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
    return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join(".");
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** Go writes UTCTime for years 1950-2049 and GeneralizedTime otherwise, whole seconds, UTC. */
export function time(date: Date): Buffer {
    const y = date.getUTCFullYear();
    const rest =
        pad2(date.getUTCMonth() + 1) +
        pad2(date.getUTCDate()) +
        pad2(date.getUTCHours()) +
        pad2(date.getUTCMinutes()) +
        pad2(date.getUTCSeconds()) +
        "Z";
    return y >= 1950 && y < 2050
        ? tlv(TAG.utcTime, Buffer.from(pad2(y % 100) + rest, "ascii"))
        : tlv(TAG.generalizedTime, Buffer.from(String(y).padStart(4, "0") + rest, "ascii"));
}

/** One decoded TLV: tag, content, and the whole encoding (for verbatim copies such as issuer names). */
export interface Node {
    tag: number;
    content: Buffer;
    raw: Buffer;
}

export function readNode(buffer: Buffer, offset = 0): Node & { end: number } {
    const tag = buffer[offset];
    let length = buffer[offset + 1];
    let headerLength = 2;
    if (length & 0x80) {
        const count = length & 0x7f;
        length = 0;
        for (let i = 0; i < count; i++) length = length * 256 + buffer[offset + 2 + i];
        headerLength += count;
    }
    const start = offset + headerLength;
    const end = start + length;
    if (end > buffer.length) throw new Error("der: truncated input");
    return { tag, content: buffer.subarray(start, end), raw: buffer.subarray(offset, end), end };
}

/** The children of a constructed node. */
export function children(node: Node): Node[] {
    const out: Node[] = [];
    for (let offset = 0; offset < node.content.length;) {
        const child = readNode(node.content, offset);
        out.push(child);
        offset = child.end;
    }
    return out;
}
