/**
 * The `tls:index/*` resources emulated with real cryptography: given the inputs a program sends,
 * produce the state the real provider (terraform-provider-tls 4.x behind @pulumi/tls 5.x) would
 * return. The specification is the provider's source, hashicorp/terraform-provider-tls
 * internal/provider/; the sections cited below are: 1 PrivateKey (resource_private_key.go,
 * common_key.go, common.go, types.go); 2 certificates (common_cert.go, resource_self_signed_cert.go,
 * resource_locally_signed_cert.go); 3 outputs, renewal and replacement (common_cert.go,
 * attribute_plan_modifier_bool/default_value.go); 4 CertRequest (resource_cert_request.go).
 */
import * as crypto from "crypto";
import { promisify } from "util";
import { HOUR_MS } from "../pki/crl";
import { PrivateKeyLabel, privateKeyLabelOf } from "../pki/der";
import { pemDecode, pemEncode } from "../pki/pem";
import * as der from "./der";
import * as x509 from "./x509";

const generateKeyPair = promisify(crypto.generateKeyPair);

export type Inputs = Record<string, unknown>;
export type State = Record<string, unknown>;

export interface ProviderOptions {
    /** Clock for notBefore; tests pin it to make validity windows exact. */
    now?: () => Date;
    /** Called with the provider's warnings (e.g. a non-CA certificate used as a CA). */
    warn?: (message: string) => void;
}

/** Provider curve names -> OpenSSL names. */
const CURVES: Readonly<Record<string, string>> = {
    P224: "secp224r1",
    P256: "prime256v1",
    P384: "secp384r1",
    P521: "secp521r1",
};

/** OpenSSL curve names -> SSH curve names; P-224 has none, so its SSH outputs are "". */
const SSH_CURVES: Readonly<Record<string, string>> = {
    prime256v1: "nistp256",
    secp384r1: "nistp384",
    secp521r1: "nistp521",
};

/** Go strings.TrimSpace on raw bytes (goTrimSpace), then SHA-1 hex ("" for none): the provider's resource ids (section 1). */
export function hashForState(bytes: Buffer): string {
    if (bytes.length === 0) return "";
    return crypto.createHash("sha1").update(goTrimSpace(bytes)).digest("hex");
}

/** What Go's unicode.IsSpace calls white space: ASCII's six, U+0085, U+00A0 and Unicode's White_Space. */
const SPACE_RUNES = new Set([
    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
    0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);
const RUNE_ERROR = 0xfffd;
const isAsciiSpace = (b: number): boolean => (b >= 0x09 && b <= 0x0d) || b === 0x20;

/**
 * Go's utf8.DecodeRune of bytes[start..end): the rune and its length, or RUNE_ERROR and 1 for an
 * invalid or short sequence (overlong forms, surrogates and runes past U+10FFFF are invalid).
 */
function decodeRune(bytes: Buffer, start: number, end: number): { rune: number; size: number } {
    const b0 = bytes[start];
    if (b0 < 0x80) return { rune: b0, size: 1 };
    // The first byte gives the length and the range of the second (Go's first and acceptRanges tables).
    const [size, low, high] =
        b0 >= 0xc2 && b0 <= 0xdf
            ? [2, 0x80, 0xbf]
            : b0 === 0xe0
              ? [3, 0xa0, 0xbf]
              : b0 === 0xed
                ? [3, 0x80, 0x9f]
                : b0 >= 0xe1 && b0 <= 0xef
                  ? [3, 0x80, 0xbf]
                  : b0 === 0xf0
                    ? [4, 0x90, 0xbf]
                    : b0 === 0xf4
                      ? [4, 0x80, 0x8f]
                      : b0 >= 0xf1 && b0 <= 0xf3
                        ? [4, 0x80, 0xbf]
                        : [0, 0, 0];
    const invalid = { rune: RUNE_ERROR, size: 1 };
    if (size === 0 || end - start < size || bytes[start + 1] < low || bytes[start + 1] > high) return invalid;
    let rune = b0 & (0xff >> (size + 1));
    for (let i = 1; i < size; i++) {
        const b = bytes[start + i];
        if (i > 1 && (b < 0x80 || b > 0xbf)) return invalid;
        rune = (rune << 6) | (b & 0x3f);
    }
    return { rune, size };
}

/** Go's utf8.DecodeLastRune of bytes[start..end): the rune ending there and its length. */
function decodeLastRune(bytes: Buffer, start: number, end: number): { rune: number; size: number } {
    if (bytes[end - 1] < 0x80) return { rune: bytes[end - 1], size: 1 };
    // Back to a byte that may start a rune, at most four bytes (utf8.UTFMax) from the end.
    const limit = Math.max(start, end - 4);
    let first = end - 2;
    while (first >= limit && (bytes[first] & 0xc0) === 0x80) first--;
    first = Math.max(first, limit);
    const decoded = decodeRune(bytes, first, end);
    return first + decoded.size === end ? decoded : { rune: RUNE_ERROR, size: 1 };
}

/**
 * Go's strings.TrimSpace on raw bytes, as common.go hashForState applies it to DER: ASCII white
 * space from both ends, and once a byte of 0x80 or more is met on a side, Unicode white space
 * (unicode.IsSpace, UTF-8 decoded as Go decodes it) from there: a DER ending in C2 A0 (U+00A0)
 * loses those two bytes, one ending in a lone A0 keeps it.
 */
export function goTrimSpace(bytes: Buffer): Buffer {
    let start = 0;
    for (; start < bytes.length; start++) {
        if (bytes[start] >= 0x80) return trimRightRunes(bytes, trimLeftRunes(bytes, start, bytes.length), bytes.length);
        if (!isAsciiSpace(bytes[start])) break;
    }
    let stop = bytes.length;
    for (; stop > start; stop--) {
        if (bytes[stop - 1] >= 0x80) return trimRightRunes(bytes, start, stop);
        if (!isAsciiSpace(bytes[stop - 1])) break;
    }
    return bytes.subarray(start, stop);
}

/** Go's strings.TrimLeftFunc(s, unicode.IsSpace) on bytes[start..end): where what is kept starts. */
function trimLeftRunes(bytes: Buffer, start: number, end: number): number {
    while (start < end) {
        const { rune, size } = decodeRune(bytes, start, end);
        if (!SPACE_RUNES.has(rune)) break;
        start += size;
    }
    return start;
}

/** Go's strings.TrimRightFunc(s, unicode.IsSpace) on bytes[start..end): what is kept. */
function trimRightRunes(bytes: Buffer, start: number, end: number): Buffer {
    // lastIndexFunc: the start of the last rune that is no space, or -1.
    let i = end;
    let last = -1;
    while (i > start) {
        const { rune, size } = decodeLastRune(bytes, start, i);
        i -= size;
        if (!SPACE_RUNES.has(rune)) {
            last = i;
            break;
        }
    }
    if (last < 0) return bytes.subarray(start, start);
    // As Go, keep that rune whole: its length decoded forward from its start.
    const keep = bytes[last] >= 0x80 ? decodeRune(bytes, last, end).size : 1;
    return bytes.subarray(start, last + keep);
}

// --- SSH wire encodings (golang.org/x/crypto/ssh) --------------------------------------------

const sshString = (data: Buffer | string): Buffer => {
    const body = typeof data === "string" ? Buffer.from(data, "ascii") : data;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    return Buffer.concat([length, body]);
};
const sshUint32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
};
/** mpint: big-endian two's complement, no leading zeros, a 0x00 prefix when the top bit is set. */
const sshMpint = (unsigned: Buffer): Buffer => {
    let start = 0;
    while (start < unsigned.length && unsigned[start] === 0) start++;
    const trimmed = unsigned.subarray(start);
    return sshString(trimmed.length > 0 && trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};
const b64url = (s: string | undefined): Buffer => Buffer.from(s ?? "", "base64url");

interface SshKey {
    type: string;
    publicBlob: Buffer;
    privateFields: Buffer;
}

/** The SSH form of a key, or undefined for P-224 which SSH cannot express (section 1). */
function sshKey(privateKey: crypto.KeyObject): SshKey | undefined {
    switch (privateKey.asymmetricKeyType) {
        case "rsa": {
            const jwk = privateKey.export({ format: "jwk" });
            const publicBlob = Buffer.concat([sshString("ssh-rsa"), sshMpint(b64url(jwk.e)), sshMpint(b64url(jwk.n))]);
            const privateFields = Buffer.concat(
                [jwk.n, jwk.e, jwk.d, jwk.qi, jwk.p, jwk.q].map((v) => sshMpint(b64url(v))),
            );
            return { type: "ssh-rsa", publicBlob, privateFields };
        }
        case "ec": {
            const sshName = SSH_CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? ""];
            if (!sshName) return undefined;
            const jwk = privateKey.export({ format: "jwk" });
            const type = `ecdsa-sha2-${sshName}`;
            const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
            const publicFields = Buffer.concat([sshString(sshName), sshString(point)]);
            return {
                type,
                publicBlob: Buffer.concat([sshString(type), publicFields]),
                privateFields: Buffer.concat([publicFields, sshMpint(b64url(jwk.d))]),
            };
        }
        case "ed25519": {
            const jwk = privateKey.export({ format: "jwk" });
            const publicKey = b64url(jwk.x);
            return {
                type: "ssh-ed25519",
                publicBlob: Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]),
                privateFields: Buffer.concat([
                    sshString(publicKey),
                    sshString(Buffer.concat([b64url(jwk.d), publicKey])),
                ]),
            };
        }
        default:
            return undefined;
    }
}

/** ssh.MarshalPrivateKey(key, ""): unencrypted openssh-key-v1, empty comment, 64-column PEM. */
function opensshPrivateKey(key: SshKey): string {
    const check = crypto.randomBytes(4);
    let body = Buffer.concat([check, check, sshString(key.type), key.privateFields, sshString("")]);
    const padding = Buffer.from(Array.from({ length: (8 - (body.length % 8)) % 8 }, (_, i) => i + 1));
    body = Buffer.concat([body, padding]);
    const blob = Buffer.concat([
        Buffer.from("openssh-key-v1\0", "ascii"),
        sshString("none"),
        sshString("none"),
        sshString(""),
        sshUint32(1),
        sshString(key.publicBlob),
        sshString(body),
    ]);
    return pemEncode(blob, "OPENSSH PRIVATE KEY");
}

// --- tls:index/privateKey (section 1) ---------------------------------------------------------

async function generate(algorithm: string, rsaBits: number, ecdsaCurve: string): Promise<crypto.KeyObject> {
    switch (algorithm) {
        case "RSA":
            if (rsaBits < 1024)
                throw new Error(
                    `crypto/rsa: ${rsaBits}-bit keys are insecure (see https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)`,
                );
            return (await generateKeyPair("rsa", { modulusLength: rsaBits, publicExponent: 65537 })).privateKey;
        case "ECDSA": {
            const namedCurve = CURVES[ecdsaCurve];
            if (!namedCurve)
                throw new Error(`invalid ecdsa_curve "${ecdsaCurve}": must be one of P224, P256, P384, P521`);
            return (await generateKeyPair("ec", { namedCurve })).privateKey;
        }
        case "ED25519":
            return (await generateKeyPair("ed25519")).privateKey;
        default:
            throw new Error(`invalid algorithm "${algorithm}": must be one of RSA, ECDSA, ED25519`);
    }
}

function privateKeyState(inputs: Inputs, key: crypto.KeyObject): State {
    const algorithm = inputs.algorithm as string;
    const pem = (type: "pkcs1" | "sec1" | "pkcs8"): string => key.export({ type, format: "pem" }) as string;
    const privateKeyPem = algorithm === "RSA" ? pem("pkcs1") : algorithm === "ECDSA" ? pem("sec1") : pem("pkcs8");
    const spki = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
    const ssh = sshKey(key);
    const fingerprintMd5 = ssh
        ? (crypto.createHash("md5").update(ssh.publicBlob).digest("hex").match(/.{2}/g) ?? []).join(":")
        : "";
    return {
        algorithm,
        rsaBits: (inputs.rsaBits as number | undefined) ?? 2048,
        ecdsaCurve: (inputs.ecdsaCurve as string | undefined) ?? "P224",
        privateKeyPem,
        privateKeyPemPkcs8: pem("pkcs8"),
        privateKeyOpenssh: ssh ? opensshPrivateKey(ssh) : "",
        publicKeyPem: pemEncode(spki, "PUBLIC KEY"),
        publicKeyOpenssh: ssh ? `${ssh.type} ${ssh.publicBlob.toString("base64")}\n` : "",
        publicKeyFingerprintMd5: fingerprintMd5,
        publicKeyFingerprintSha256: ssh
            ? "SHA256:" + crypto.createHash("sha256").update(ssh.publicBlob).digest("base64").replace(/=+$/, "")
            : "",
    };
}

export async function privateKey(inputs: Inputs): Promise<{ id: string; state: State }> {
    const algorithm = inputs.algorithm as string;
    const key = await generate(
        algorithm,
        (inputs.rsaBits as number | undefined) ?? 2048,
        (inputs.ecdsaCurve as string | undefined) ?? "P224",
    );
    return privateKeyResource(inputs, key);
}

/** The id and state of a `tls:index/privateKey` holding `key`, as the provider writes them. */
export function privateKeyResource(inputs: Inputs, key: crypto.KeyObject): { id: string; state: State } {
    const spki = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
    return { id: hashForState(spki), state: privateKeyState(inputs, key) };
}

// --- certificates (sections 2 and 3) ----------------------------------------------------------

/** The PEM labels the provider parses, each with its Go parser, as its error for a key under another label names it. */
const GO_KEY_PARSERS: Record<PrivateKeyLabel, string> = {
    "RSA PRIVATE KEY": "ParsePKCS1PrivateKey",
    "EC PRIVATE KEY": "ParseECPrivateKey",
    "PRIVATE KEY": "ParsePKCS8PrivateKey",
};

/**
 * Parsed once per PEM: a CA key is handed back with every certificate it signs. Held in memory
 * only, as the provider holds them; a test double's process is short-lived.
 */
const parsedKeys = new Map<string, crypto.KeyObject>();

/**
 * The provider's key parsers accept PKCS#1, SEC1 and PKCS#8 PEM, nothing else (section 2), and
 * Go's crypto/x509 behind them RSA, ECDSA on the curves of CURVES and Ed25519 keys only.
 */
function parsePrivateKey(pem: unknown, field: string): crypto.KeyObject {
    const label = typeof pem === "string" ? /-----BEGIN ([A-Z ]+)-----/.exec(pem)?.[1] : undefined;
    if (!label || !Object.hasOwn(GO_KEY_PARSERS, label)) {
        throw new Error(`${field}: failed to decode PEM block: unsupported private key type "${label ?? "none"}"`);
    }
    let key = parsedKeys.get(pem as string);
    if (!key) {
        // Go's parser is the label's, where OpenSSL (so Node) reads a PKCS#8 key under any label.
        const holds = privateKeyLabelOf(pemDecode(pem as string, label));
        if (holds !== undefined && holds !== label) {
            throw new Error(
                `${field}: failed to parse private key given PEM preamble '${label}': x509: failed to parse private key (use ${GO_KEY_PARSERS[holds]} instead for this key format)`,
            );
        }
        key = crypto.createPrivateKey(pem as string);
        const refused = goKeyRefusal(key, label, pem as string);
        if (refused !== undefined) {
            throw new Error(`${field}: failed to parse private key given PEM preamble '${label}': ${refused}`);
        }
        parsedKeys.set(pem as string, key);
    }
    return key;
}

/** Go's error for a key its parsers (ParseECPrivateKey, ParsePKCS8PrivateKey) refuse, or undefined. */
function goKeyRefusal(key: crypto.KeyObject, label: string, pem: string): string | undefined {
    if (key.asymmetricKeyType === "ec") {
        if (Object.values(CURVES).includes(key.asymmetricKeyDetails?.namedCurve ?? "")) return undefined;
        const unknown = "x509: unknown elliptic curve";
        return label === "EC PRIVATE KEY"
            ? unknown
            : `x509: failed to parse EC private key embedded in PKCS#8: ${unknown}`;
    }
    if (["rsa", "ed25519"].includes(key.asymmetricKeyType ?? "")) return undefined;
    // PrivateKeyInfo: version, then the AlgorithmIdentifier whose OID Go names.
    const [, algorithm] = der.children(der.readNode(pemDecode(pem, label)));
    const oid = der.decodeOid(der.children(algorithm)[0].content);
    return `x509: PKCS#8 wrapping contained private key with unknown algorithm: ${oid}`;
}

const algorithmOf = (key: crypto.KeyObject): string => x509.keyInfo(key).algorithm;

function requiredNumber(inputs: Inputs, field: string): number {
    const value = inputs[field];
    if (typeof value !== "number" || value < 0) throw new Error(`${field} must be a number >= 0; got ${String(value)}`);
    return value;
}

const stringList = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : []);

/** validity_start_time/end_time: RFC 3339 with trailing fractional zeros trimmed (Go MarshalText). */
const rfc3339 = (date: Date): string =>
    date
        .toISOString()
        .replace(/\.?0+Z$/, "Z")
        .replace(/\.Z$/, "Z");

function validity(inputs: Inputs, options: ProviderOptions): { notBefore: Date; notAfter: Date; state: State } {
    const hours = requiredNumber(inputs, "validityPeriodHours");
    const earlyRenewalHours = (inputs.earlyRenewalHours as number | undefined) ?? 0;
    const notBefore = options.now ? options.now() : new Date();
    const notAfter = new Date(notBefore.getTime() + hours * HOUR_MS);
    return {
        notBefore,
        notAfter,
        state: {
            validityStartTime: rfc3339(notBefore),
            validityEndTime: rfc3339(notAfter),
            earlyRenewalHours,
            readyForRenewal: hours === 0 || earlyRenewalHours >= hours,
        },
    };
}

function serialNumber(): { bytes: Buffer; decimal: string } {
    const bytes = crypto.randomBytes(16);
    return { bytes, decimal: BigInt("0x" + bytes.toString("hex")).toString() };
}

/** What the certificate resources share: flags, validity, serial, signing and the state written back. */
function signCertificate(
    inputs: Inputs,
    options: ProviderOptions,
    content: Pick<x509.CertificateTemplate, "subject" | "altNames" | "publicKey" | "setAuthorityKeyId">,
    issuer: x509.Issuer | "self",
    selfKey?: crypto.KeyObject,
    /**
     * The provider's CA check, cmp.Equal(template.Subject, pkix.Name{}); from a CSR the parsed
     * name's Names hold every attribute, so only a CSR without any attribute has an empty name.
     */
    emptySubject = x509.encodeName(content.subject).length === 2,
): { id: string; state: State } {
    const flags = {
        allowedUses: stringList(inputs.allowedUses),
        isCaCertificate: (inputs.isCaCertificate as boolean | undefined) ?? false,
        setSubjectKeyId: (inputs.setSubjectKeyId as boolean | undefined) ?? false,
    };
    if (flags.isCaCertificate && emptySubject) {
        throw new Error("Invalid Certificate Subject: a CA certificate needs a non-empty subject");
    }
    const time = validity(inputs, options);
    const serial = serialNumber();
    const certDer = x509.createCertificate(
        {
            ...content,
            serial: serial.bytes,
            notBefore: time.notBefore,
            notAfter: time.notAfter,
            allowedUses: flags.allowedUses,
            isCa: flags.isCaCertificate,
            maxPathLength: inputs.maxPathLength as number | undefined,
            setSubjectKeyId: flags.setSubjectKeyId,
        },
        issuer,
        selfKey,
    );
    return {
        id: serial.decimal,
        state: { ...inputs, ...flags, ...time.state, certPem: pemEncode(certDer, "CERTIFICATE") },
    };
}

export function selfSignedCert(inputs: Inputs, options: ProviderOptions = {}): { id: string; state: State } {
    const key = parsePrivateKey(inputs.privateKeyPem ?? inputs.privateKeyPemWo, "private_key_pem");
    const setAuthorityKeyId = (inputs.setAuthorityKeyId as boolean | undefined) ?? false;
    const { id, state } = signCertificate(
        inputs,
        options,
        {
            subject: x509.subjectFromInputs(inputs.subject as Inputs | undefined),
            altNames: {
                dnsNames: stringList(inputs.dnsNames),
                ipAddresses: stringList(inputs.ipAddresses),
                uris: stringList(inputs.uris),
            },
            publicKey: x509.keyInfo(key),
            setAuthorityKeyId,
        },
        "self",
        key,
    );
    return { id, state: { ...state, setAuthorityKeyId, keyAlgorithm: algorithmOf(key) } };
}

export function certRequest(inputs: Inputs): { id: string; state: State } {
    const key = parsePrivateKey(inputs.privateKeyPem ?? inputs.privateKeyPemWo, "private_key_pem");
    const csrDer = x509.createCertificateRequest(
        x509.subjectFromInputs(inputs.subject as Inputs | undefined),
        {
            dnsNames: stringList(inputs.dnsNames),
            ipAddresses: stringList(inputs.ipAddresses),
            uris: stringList(inputs.uris),
        },
        key,
    );
    return {
        id: hashForState(csrDer),
        state: {
            ...inputs,
            keyAlgorithm: algorithmOf(key),
            certRequestPem: pemEncode(csrDer, "CERTIFICATE REQUEST"),
        },
    };
}

export function locallySignedCert(inputs: Inputs, options: ProviderOptions = {}): { id: string; state: State } {
    const caKey = parsePrivateKey(inputs.caPrivateKeyPem ?? inputs.caPrivateKeyPemWo, "ca_private_key_pem");
    const caCert = x509.parseCertificate(pemDecode(inputs.caCertPem as string, "CERTIFICATE"));
    // Go's parseCertificate refuses both (a negative serial since Go 1.23, no GODEBUG in pulumi-tls).
    const unreadable = caCert.negativeSerial
        ? "negative serial number"
        : caCert.publicKey.algorithm === "ECDSA" && !Object.values(CURVES).includes(caCert.publicKey.curve ?? "")
          ? "unsupported elliptic curve"
          : undefined;
    if (unreadable !== undefined) throw new Error(`ca_cert_pem: failed to parse certificate: x509: ${unreadable}`);
    if (!caCert.publicKey.spki.equals(x509.keyInfo(caKey).spki)) {
        throw new Error("x509: provided PrivateKey doesn't match parent's PublicKey");
    }
    if (!caCert.isCa) options.warn?.("Potentially Invalid Certificate Authority: ca_cert_pem is not a CA certificate");
    const request = x509.parseCertificateRequest(pemDecode(inputs.certRequestPem as string, "CERTIFICATE REQUEST"));
    const { id, state } = signCertificate(
        inputs,
        options,
        {
            subject: request.subject,
            altNames: request.altNames,
            publicKey: request.publicKey,
            setAuthorityKeyId: false,
        },
        { name: caCert.subjectName, subjectKeyId: caCert.subjectKeyId, privateKey: caKey },
        undefined,
        request.subjectAttributes === 0,
    );
    return { id, state: { ...state, caKeyAlgorithm: algorithmOf(caKey) } };
}
