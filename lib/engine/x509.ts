/**
 * X.509 certificates and PKCS#10 requests built the way terraform-provider-tls (Go crypto/x509)
 * builds them; see sections 2 and 4 of ./tlsProvider.ts (the provider's source files) for every rule used here.
 */
import * as crypto from "crypto";
import * as net from "net";
import { uriHostProblem, uriRewriteProblem } from "../pki/uri";
import { PRINTABLE_STRING, SIGNATURE_HASHES, signatureOid } from "../pki/x509";
import * as der from "./der";

export const OID = {
    commonName: "2.5.4.3",
    serialNumber: "2.5.4.5",
    country: "2.5.4.6",
    locality: "2.5.4.7",
    province: "2.5.4.8",
    streetAddress: "2.5.4.9",
    organization: "2.5.4.10",
    organizationalUnit: "2.5.4.11",
    postalCode: "2.5.4.17",
    emailAddress: "1.2.840.113549.1.9.1",
    extensionRequest: "1.2.840.113549.1.9.14",
    keyUsage: "2.5.29.15",
    extKeyUsage: "2.5.29.37",
    basicConstraints: "2.5.29.19",
    subjectKeyId: "2.5.29.14",
    authorityKeyId: "2.5.29.35",
    subjectAltName: "2.5.29.17",
    rsaEncryption: "1.2.840.113549.1.1.1",
    sha256WithRsa: "1.2.840.113549.1.1.11",
    ecPublicKey: "1.2.840.10045.2.1",
} as const;

/** allowed_uses values that set a keyUsage bit (Go KeyUsage bit positions). */
export const KEY_USAGE_BITS: Readonly<Record<string, number>> = {
    digital_signature: 0,
    content_commitment: 1,
    key_encipherment: 2,
    data_encipherment: 3,
    key_agreement: 4,
    cert_signing: 5,
    crl_signing: 6,
    encipher_only: 7,
    decipher_only: 8,
};

/** allowed_uses values that add an extended key usage. */
export const EXT_KEY_USAGE_OIDS: Readonly<Record<string, string>> = {
    any_extended: "2.5.29.37.0",
    server_auth: "1.3.6.1.5.5.7.3.1",
    client_auth: "1.3.6.1.5.5.7.3.2",
    code_signing: "1.3.6.1.5.5.7.3.3",
    email_protection: "1.3.6.1.5.5.7.3.4",
    ipsec_end_system: "1.3.6.1.5.5.7.3.5",
    ipsec_tunnel: "1.3.6.1.5.5.7.3.6",
    ipsec_user: "1.3.6.1.5.5.7.3.7",
    timestamping: "1.3.6.1.5.5.7.3.8",
    ocsp_signing: "1.3.6.1.5.5.7.3.9",
    microsoft_server_gated_crypto: "1.3.6.1.4.1.311.10.3.3",
    netscape_server_gated_crypto: "2.16.840.1.113730.4.1",
    microsoft_commercial_code_signing: "1.3.6.1.4.1.311.2.1.22",
    microsoft_kernel_code_signing: "1.3.6.1.4.1.311.61.1.1",
};

/** The provider's `subject` block; list-valued after parsing a CSR, as Go's pkix.Name is. */
export interface Subject {
    commonName?: string;
    organization?: string[];
    organizationalUnit?: string[];
    streetAddresses?: string[];
    locality?: string[];
    province?: string[];
    country?: string[];
    postalCode?: string[];
    serialNumber?: string;
    emailAddress?: string;
}

/** The provider's input shape (scalars) turned into Go's pkix.Name shape (lists). */
export function subjectFromInputs(input: Record<string, unknown> | undefined): Subject {
    const s = input ?? {};
    const scalar = (key: string): string | undefined => (typeof s[key] === "string" ? (s[key] as string) : undefined);
    const list = (key: string): string[] | undefined => {
        const v = scalar(key);
        return v === undefined ? undefined : [v];
    };
    return {
        commonName: scalar("commonName"),
        organization: list("organization"),
        organizationalUnit: list("organizationalUnit"),
        streetAddresses: Array.isArray(s.streetAddresses) ? (s.streetAddresses as string[]) : undefined,
        locality: list("locality"),
        province: list("province"),
        country: list("country"),
        postalCode: list("postalCode"),
        serialNumber: scalar("serialNumber"),
        emailAddress: scalar("emailAddress"),
    };
}

/** Go marshals a string as PrintableString when every character allows it, else UTF8String. */
function directoryString(value: string): Buffer {
    return PRINTABLE_STRING.test(value)
        ? der.tlv(der.TAG.printableString, Buffer.from(value, "ascii"))
        : der.tlv(der.TAG.utf8String, Buffer.from(value, "utf8"));
}

const attribute = (type: string, value: Buffer): Buffer => der.sequence(der.oid(type), value);

/** Go pkix.Name.ToRDNSequence: fixed attribute order, one (multi-valued) RDN per attribute type. */
export function encodeName(subject: Subject): Buffer {
    const rdns: Buffer[] = [];
    const addList = (type: string, values: string[] | undefined): void => {
        if (values && values.length > 0) {
            rdns.push(der.setOf(...values.map((v) => attribute(type, directoryString(v)))));
        }
    };
    addList(OID.country, subject.country);
    addList(OID.province, subject.province);
    addList(OID.locality, subject.locality);
    addList(OID.streetAddress, subject.streetAddresses);
    addList(OID.postalCode, subject.postalCode);
    addList(OID.organization, subject.organization);
    addList(OID.organizationalUnit, subject.organizationalUnit);
    if (subject.commonName) addList(OID.commonName, [subject.commonName]);
    if (subject.serialNumber) addList(OID.serialNumber, [subject.serialNumber]);
    if (subject.emailAddress !== undefined) {
        // The provider's asn1.RawValue{Tag: IA5String, Bytes: []byte(email)}: UTF-8 bytes, unchecked.
        const ia5 = der.tlv(der.TAG.ia5String, Buffer.from(subject.emailAddress, "utf8"));
        rdns.push(der.setOf(attribute(OID.emailAddress, ia5)));
    }
    return der.sequence(...rdns);
}

/** Go pkix.Name.FillFromRDNSequence: the attributes it models; everything else is dropped. */
function decodeName(name: der.Node): Subject {
    const subject: Subject = {};
    const push = (key: keyof Subject, value: string): void => {
        const list = (subject[key] as string[] | undefined) ?? [];
        (subject as Record<string, unknown>)[key] = [...list, value];
    };
    for (const rdn of der.children(name)) {
        for (const atv of der.children(rdn)) {
            const [type, value] = der.children(atv);
            const text = value.content.toString("utf8");
            switch (der.decodeOid(type.content)) {
                case OID.commonName:
                    subject.commonName = text;
                    break;
                case OID.serialNumber:
                    subject.serialNumber = text;
                    break;
                case OID.country:
                    push("country", text);
                    break;
                case OID.province:
                    push("province", text);
                    break;
                case OID.locality:
                    push("locality", text);
                    break;
                case OID.streetAddress:
                    push("streetAddresses", text);
                    break;
                case OID.organization:
                    push("organization", text);
                    break;
                case OID.organizationalUnit:
                    push("organizationalUnit", text);
                    break;
                case OID.postalCode:
                    push("postalCode", text);
                    break;
            }
        }
    }
    return subject;
}

export interface AltNames {
    dnsNames: string[];
    ipAddresses: string[];
    uris: string[];
}

/**
 * Go net.ParseIP, then marshalSANs' To4(): 4 bytes for IPv4 and IPv4-mapped IPv6 (::ffff:a.b.c.d),
 * 16 for any other IPv6. ParseIP refuses a zone (fe80::1%eth0), so the provider does too.
 */
function ipBytes(ip: string): Buffer {
    if (net.isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
    if (!net.isIPv6(ip) || ip.includes("%")) {
        throw new Error(
            `Invalid IP address: Failed to parse ${JSON.stringify(ip)} (ip_addresses takes IPv4 or IPv6 addresses, without a zone)`,
        );
    }
    const [head, tail] = ip
        .replace(/:(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
            [":", ((+a << 8) | +b).toString(16), ":", ((+c << 8) | +d).toString(16)].join(""),
        )
        .split("::");
    const headGroups = head ? head.split(":") : [];
    const tailGroups = tail ? tail.split(":") : [];
    const zeros = Array<string>(8 - headGroups.length - tailGroups.length).fill("0");
    const groups = tail === undefined ? headGroups : [...headGroups, ...zeros, ...tailGroups];
    const bytes = Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
    const v4Mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    return v4Mapped ? bytes.subarray(12) : bytes;
}

/**
 * Go's url.Parse then String() of a URI, for the URIs they give back as they are; any other is
 * refused (uriRewriteProblem), as the stand-in does not mirror Go's rewriting of it.
 */
function uriString(uri: string): string {
    const rewrite = uriRewriteProblem(uri);
    if (rewrite !== undefined) {
        throw new Error(
            `URI ${JSON.stringify(uri)} ${rewrite.problem}; the stand-in writes only URIs that Go's url package gives back as they are`,
        );
    }
    return uri;
}

export function encodeAltNames(names: AltNames): Buffer | undefined {
    // Go's marshalSANs (isIA5String): a name beyond ASCII is refused, not transcribed.
    for (const name of [...names.dnsNames, ...names.uris]) {
        if ([...name].some((c) => (c.codePointAt(0) as number) > 0x7f)) {
            throw new Error(`x509: "${name}" cannot be encoded as an IA5String`);
        }
    }
    const general = [
        ...names.dnsNames.map((n) => der.implicitPrimitive(2, Buffer.from(n, "ascii"))),
        ...names.ipAddresses.map((ip) => der.implicitPrimitive(7, ipBytes(ip))),
        ...names.uris.map((u) => der.implicitPrimitive(6, Buffer.from(uriString(u), "ascii"))),
    ];
    return general.length > 0 ? der.sequence(...general) : undefined;
}

function decodeAltNames(value: Buffer): AltNames {
    const names: AltNames = { dnsNames: [], ipAddresses: [], uris: [] };
    for (const gn of der.children(der.readNode(value))) {
        if (gn.tag === 0x82) names.dnsNames.push(gn.content.toString("ascii"));
        if (gn.tag === 0x86) names.uris.push(gn.content.toString("ascii"));
        if (gn.tag === 0x87) {
            names.ipAddresses.push(
                gn.content.length === 4
                    ? [...gn.content].join(".")
                    : (gn.content.toString("hex").match(/.{4}/g) ?? []).join(":"),
            );
        }
    }
    return names;
}

const extension = (type: string, critical: boolean, value: Buffer): Buffer =>
    der.sequence(der.oid(type), ...(critical ? [der.boolean(true)] : []), der.octetString(value));

/** keyUsage BIT STRING as Go marshalKeyUsage writes it: bits reversed per byte, minimal length. */
function keyUsageValue(bits: number): Buffer {
    const bytes = [0, 0];
    for (let bit = 0; bit < 9; bit++) if (bits & (1 << bit)) bytes[bit >> 3] |= 0x80 >> (bit & 7);
    const content = Buffer.from(bytes[1] !== 0 ? bytes : [bytes[0]]);
    const last = content[content.length - 1];
    let unused = 0;
    while (unused < 8 && !(last & (1 << unused))) unused++;
    return der.bitString(content, unused === 8 ? 0 : unused);
}

/** Public key facts the certificate code needs. */
export interface KeyInfo {
    spki: Buffer;
    /** The subjectPublicKey BIT STRING contents (RSAPublicKey DER, or 04||X||Y for EC). */
    publicKeyBits: Buffer;
    algorithm: "RSA" | "ECDSA" | "ED25519";
    curve?: string;
}

/** Computed once per key object: every certificate a CA signs asks again (the export is not free). */
const keyInfos = new WeakMap<crypto.KeyObject, KeyInfo>();

export function keyInfo(key: crypto.KeyObject): KeyInfo {
    let info = keyInfos.get(key);
    if (!info) {
        info = computeKeyInfo(key);
        keyInfos.set(key, info);
    }
    return info;
}

function computeKeyInfo(key: crypto.KeyObject): KeyInfo {
    const publicKey = key.type === "private" ? crypto.createPublicKey(key) : key;
    const spki = publicKey.export({ type: "spki", format: "der" });
    const [, bits] = der.children(der.readNode(spki));
    const publicKeyBits = bits.content.subarray(1);
    switch (publicKey.asymmetricKeyType) {
        case "rsa":
            return { spki, publicKeyBits, algorithm: "RSA" };
        case "ec":
            return { spki, publicKeyBits, algorithm: "ECDSA", curve: publicKey.asymmetricKeyDetails?.namedCurve };
        case "ed25519":
            return { spki, publicKeyBits, algorithm: "ED25519" };
        default:
            throw new Error(`unsupported key type ${publicKey.asymmetricKeyType}`);
    }
}

/** RFC 5280 method 1 for RSA and EC; for Ed25519 Go hashes the key wrapped in an OCTET STRING. */
export function subjectKeyId(info: KeyInfo): Buffer {
    const material = info.algorithm === "ED25519" ? der.octetString(info.publicKeyBits) : info.publicKeyBits;
    return crypto.createHash("sha1").update(material).digest();
}

/**
 * Go signingParamsForKey: the algorithm follows the signer's key (lib/pki's signatureOid), with
 * NULL parameters for RSA only.
 */
function signatureParams(signer: crypto.KeyObject): { algorithmId: Buffer; hash: string | null } {
    const oid = signatureOid(signer);
    const parameters = oid === OID.sha256WithRsa ? [der.nullValue()] : [];
    return { algorithmId: der.sequence(der.oid(oid), ...parameters), hash: SIGNATURE_HASHES[oid] };
}

/** Sign a TBS structure the way Go does (algorithm from the signer key) and wrap it with the signature. */
function signed(tbs: Buffer, signer: crypto.KeyObject): Buffer {
    const { algorithmId, hash } = signatureParams(signer);
    const signature = crypto.sign(hash, tbs, { key: signer, dsaEncoding: "der" });
    return der.sequence(tbs, algorithmId, der.bitString(signature));
}

export interface CertificateTemplate {
    serial: Buffer;
    subject: Subject;
    notBefore: Date;
    notAfter: Date;
    allowedUses: string[];
    isCa: boolean;
    /** Applied only when >= 0; 0 is written as "no limit" because the provider never sets MaxPathLenZero. */
    maxPathLength?: number;
    setSubjectKeyId: boolean;
    /** Self-signed only: AKI = own SKI. */
    setAuthorityKeyId: boolean;
    altNames: AltNames;
    publicKey: KeyInfo;
}

export interface Issuer {
    /** Raw DER of the issuer's subject, copied verbatim (self-signed: the template's own subject). */
    name: Buffer;
    subjectKeyId?: Buffer;
    privateKey: crypto.KeyObject;
}

/** Go x509.CreateCertificate for the templates the provider builds. */
export function createCertificate(
    template: CertificateTemplate,
    issuer: Issuer | "self",
    selfKey?: crypto.KeyObject,
): Buffer {
    const subjectName = encodeName(template.subject);
    const issuerName = issuer === "self" ? subjectName : issuer.name;
    const signer = issuer === "self" ? selfKey : issuer.privateKey;
    if (!signer) throw new Error("createCertificate: no signing key");

    let maxPathLen = template.maxPathLength !== undefined && template.maxPathLength >= 0 ? template.maxPathLength : -1;
    if (maxPathLen === 0) maxPathLen = -1; // the provider never sets MaxPathLenZero
    if (!template.isCa && maxPathLen > 0) {
        throw new Error("Failed to create certificate: x509: only CAs are allowed to specify MaxPathLen");
    }

    let keyUsageBits = 0;
    const extKeyUsages: string[] = [];
    for (const use of template.allowedUses) {
        if (use in KEY_USAGE_BITS) keyUsageBits |= 1 << KEY_USAGE_BITS[use];
        else if (use in EXT_KEY_USAGE_OIDS) extKeyUsages.push(EXT_KEY_USAGE_OIDS[use]);
        else throw new Error(`unknown allowed use "${use}"`);
    }

    const ski = template.isCa || template.setSubjectKeyId ? subjectKeyId(template.publicKey) : undefined;
    let aki: Buffer | undefined;
    if (issuer === "self") {
        if (template.setAuthorityKeyId) {
            if (!ski) throw new Error("Invalid Certificate Authority: Could not determine Authority Key Identifier");
            aki = ski;
        }
    } else if (issuer.subjectKeyId && !issuerName.equals(subjectName)) {
        aki = issuer.subjectKeyId;
    }

    const extensions: Buffer[] = [];
    if (keyUsageBits !== 0) extensions.push(extension(OID.keyUsage, true, keyUsageValue(keyUsageBits)));
    if (extKeyUsages.length > 0) {
        extensions.push(extension(OID.extKeyUsage, false, der.sequence(...extKeyUsages.map((o) => der.oid(o)))));
    }
    const basicConstraints = [
        ...(template.isCa ? [der.boolean(true)] : []),
        ...(maxPathLen >= 0 ? [der.integer(maxPathLen)] : []),
    ];
    extensions.push(extension(OID.basicConstraints, true, der.sequence(...basicConstraints)));
    if (ski) extensions.push(extension(OID.subjectKeyId, false, der.octetString(ski)));
    if (aki) extensions.push(extension(OID.authorityKeyId, false, der.sequence(der.implicitPrimitive(0, aki))));
    const san = encodeAltNames(template.altNames);
    if (san) extensions.push(extension(OID.subjectAltName, subjectName.length === 2, san));

    const tbs = der.sequence(
        der.explicit(0, der.integer(2)),
        der.unsignedInteger(template.serial),
        signatureParams(signer).algorithmId,
        issuerName,
        der.sequence(der.time(template.notBefore), der.time(template.notAfter)),
        subjectName,
        template.publicKey.spki,
        der.explicit(3, der.sequence(...extensions)),
    );
    return signed(tbs, signer);
}

/** Go x509.CreateCertificateRequest: SANs in one extensionRequest attribute, nothing else. */
export function createCertificateRequest(subject: Subject, altNames: AltNames, key: crypto.KeyObject): Buffer {
    const san = encodeAltNames(altNames);
    const attributes = san
        ? [
              der.sequence(
                  der.oid(OID.extensionRequest),
                  der.setOf(der.sequence(extension(OID.subjectAltName, false, san))),
              ),
          ]
        : [];
    const info = der.sequence(
        der.integer(0),
        encodeName(subject),
        keyInfo(key).spki,
        der.explicit(0, Buffer.concat(attributes)),
    );
    return signed(info, key);
}

/** What LocallySignedCert copies from a CSR: subject (re-encoded), SANs and the public key. */
export interface ParsedRequest {
    subject: Subject;
    /**
     * How many attributes the CSR's subject holds, those `subject` drops (emailAddress, ...)
     * included: Go's pkix.Name keeps them all in Names, so such a subject is not an empty name.
     */
    subjectAttributes: number;
    altNames: AltNames;
    publicKey: KeyInfo;
}

export function parseCertificateRequest(csrDer: Buffer): ParsedRequest {
    const [info] = der.children(der.readNode(csrDer));
    const [, name, spki, attributes] = der.children(info);
    // Go's asn1.Unmarshal of the subject refuses an IA5String beyond ASCII (a CSR's emailAddress).
    for (const rdn of der.children(name)) {
        for (const atv of der.children(rdn)) {
            const value = der.children(atv)[1];
            if (value.tag === der.TAG.ia5String && value.content.some((byte) => byte > 0x7f)) {
                throw new Error(
                    "cert_request_pem: failed to parse certificate request: asn1: syntax error: IA5String contains invalid character",
                );
            }
        }
    }
    let altNames: AltNames = { dnsNames: [], ipAddresses: [], uris: [] };
    for (const attr of attributes ? der.children(attributes) : []) {
        const [type, values] = der.children(attr);
        if (der.decodeOid(type.content) !== OID.extensionRequest) continue;
        for (const ext of der.children(der.children(values)[0])) {
            const parts = der.children(ext);
            if (der.decodeOid(parts[0].content) === OID.subjectAltName) {
                altNames = decodeAltNames(parts[parts.length - 1].content);
            }
        }
    }
    // Go's parseSANExtension refuses a URI whose host is no domain (a trailing dot, an empty label).
    for (const uri of altNames.uris) {
        if (uriHostProblem(uri) !== undefined)
            throw new Error(`x509: cannot parse URI ${JSON.stringify(uri)}: invalid domain`);
    }
    return {
        subject: decodeName(name),
        subjectAttributes: der.children(name).reduce((n, rdn) => n + der.children(rdn).length, 0),
        altNames,
        publicKey: keyInfo(crypto.createPublicKey({ key: spki.raw, format: "der", type: "spki" })),
    };
}

/** What signing needs from a CA certificate: its raw subject, SKI, public key and CA flag. */
export interface ParsedCertificate {
    subjectName: Buffer;
    subjectKeyId?: Buffer;
    publicKey: KeyInfo;
    isCa: boolean;
    /** A serial number below 0, which Go's crypto/x509 refuses to parse. */
    negativeSerial: boolean;
}

export function parseCertificate(certDer: Buffer): ParsedCertificate {
    const [tbs] = der.children(der.readNode(certDer));
    const fields = der.children(tbs);
    const offset = fields[0].tag === 0xa0 ? 1 : 0;
    const serial = fields[offset];
    const subjectName = fields[offset + 4];
    const spki = fields[offset + 5];
    let subjectKeyIdValue: Buffer | undefined;
    let isCa = false;
    const extensionsField = fields.find((f) => f.tag === 0xa3);
    for (const ext of extensionsField ? der.children(der.children(extensionsField)[0]) : []) {
        const parts = der.children(ext);
        const value = parts[parts.length - 1].content;
        const type = der.decodeOid(parts[0].content);
        if (type === OID.subjectKeyId) subjectKeyIdValue = der.readNode(value).content;
        if (type === OID.basicConstraints) {
            const constraints = der.children(der.readNode(value));
            isCa = constraints.length > 0 && constraints[0].tag === der.TAG.boolean && constraints[0].content[0] !== 0;
        }
    }
    return {
        subjectName: subjectName.raw,
        subjectKeyId: subjectKeyIdValue,
        publicKey: keyInfo(crypto.createPublicKey({ key: spki.raw, format: "der", type: "spki" })),
        isCa,
        negativeSerial: (serial.content[0] & 0x80) !== 0,
    };
}
