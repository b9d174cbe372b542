/**
 * Certificates as this package reads them (names, dates, signature algorithms), and what our own
 * signers (CRLs, the ceremony) share. The structures they sign are @peculiar/asn1-x509 objects
 * (the RFC 5280 schemas of PeculiarVentures' x509 stack, DER-encoded by @peculiar/asn1-schema),
 * built in ./asn1; Node's crypto signs them. Synchronous on purpose: a CRL is built inside a
 * Pulumi apply and the ceremony runs as plain functions (@peculiar/x509's generators sign through
 * WebCrypto, which is asynchronous only). The package's public declarations reach this file, so
 * its exports take and return Node's and our own types only, never a @peculiar one (see ./asn1).
 */
import * as crypto from "crypto";
import { AsnConvert, AsnIntegerBigIntConverter } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, Version } from "@peculiar/asn1-x509";
import {
    id_md2,
    id_md2WithRSAEncryption,
    id_md5,
    id_md5WithRSAEncryption,
    id_mgf1,
    id_RSASSA_PSS,
    id_sha1,
    id_sha1WithRSAEncryption,
    id_sha224,
    id_sha224WithRSAEncryption,
    id_sha256,
    id_sha384,
    id_sha384WithRSAEncryption,
    id_sha512,
    id_sha512WithRSAEncryption,
    RsaSaPssParams,
} from "@peculiar/asn1-rsa";
import { pemBlocks } from "./pem";

/**
 * A distinguished name as Node gives it, on one line ("O=Bank, CN=Bank root"); "" for an empty
 * one, which Node gives as undefined (RFC 5280 forbids an empty name only where it matters, and
 * a CA someone pastes may have one).
 */
export const nameOnOneLine = (name: string | undefined): string => name?.replace(/\n/g, ", ") ?? "";

/** A certificate's subject as messages show it: on one line, or "an empty subject". */
export const subjectOf = (cert: crypto.X509Certificate): string => nameOnOneLine(cert.subject) || "an empty subject";

/** Whether `upper` signed `lower`: its subject is lower's issuer, and its key verifies lower's signature. */
export const signedBy = (lower: crypto.X509Certificate, upper: crypto.X509Certificate): boolean =>
    lower.checkIssued(upper) && lower.verify(upper.publicKey);

/** Whether the certificate signs itself: its own issuer, verified with its own key (a root, or an anchor a chain ends in). */
export const isSelfSigned = (cert: crypto.X509Certificate): boolean => signedBy(cert, cert);

/** Whether `key` verifies `cert`'s signature, whatever names it carries; false for a key of another algorithm, which Node may throw at. */
export function keyVerifies(cert: crypto.X509Certificate, key: crypto.KeyObject): boolean {
    try {
        return cert.verify(key);
    } catch {
        return false;
    }
}

/** Each certificate of `pem` that Node reads: one it cannot read is left to the check that names it. */
export const readableCertificates = (pem: string): crypto.X509Certificate[] =>
    pemBlocks(pem, "CERTIFICATE").flatMap((block) => {
        try {
            return [new crypto.X509Certificate(block)];
        } catch {
            return [];
        }
    });

/**
 * Whether `cert` is a copy of `root`: the same subject and key (a root renewed with its key, or
 * cross-signed by an older root), which verifiers holding the root take it for.
 */
export const isRootCopy = (cert: crypto.X509Certificate, root: crypto.X509Certificate): boolean =>
    cert.subject === root.subject && cert.publicKey.equals(root.publicKey);

/** Whether a certificate is version 1: it has no extensions, so no basicConstraints to make it a CA. */
export const isVersion1 = (cert: crypto.X509Certificate): boolean =>
    AsnConvert.parse(cert.raw, Certificate).tbsCertificate.version === Version.v1;

/**
 * What a version 1 certificate given as a CA is, and the fix: Envoy's OpenSSL and BoringSSL take
 * it as a trust anchor, but OpenSSL's strict checks do not, and this package's CAs state CA:TRUE.
 */
export const VERSION_1_CA =
    'a version 1 certificate (no basicConstraints), which OpenSSL\'s strict checks (-x509_strict) refuse as a CA ("invalid CA certificate"): re-issue it as v3 with CA:TRUE';

/** A certificate's issuer name as messages show it: on one line, or "an empty issuer name". */
export const issuerOf = (cert: crypto.X509Certificate): string => nameOnOneLine(cert.issuer) || "an empty issuer name";

/**
 * Whether a certificate has expired at `now`: from its notAfter on, to the second, as BoringSSL and
 * OpenSSL count it (X509_cmp_time_posix: a notAfter at or before now is past). `cert` is the
 * certificate, or its notAfter as a deployed record or inventory writes it.
 */
export const expiredAt = (cert: crypto.X509Certificate | string, now: Date): boolean =>
    Date.parse(typeof cert === "string" ? cert : cert.validTo) <= now.getTime();

/**
 * Whether `time` falls in the years this package's X.509 dates carry: 1950 (UTCTime's first) to
 * 9999 (GeneralizedTime's last), in UTC; false for an invalid date.
 */
export const inX509Years = (time: Date): boolean => {
    const year = time.getUTCFullYear();
    return year >= 1950 && year <= 9999;
};

/**
 * An ISO 8601 time with its zone, or a date (midnight UTC), on a real calendar day (Date would roll
 * 2026-02-30 over to March 2) between 1950 and 9999, the years X.509 dates carry; else undefined.
 * A time without its zone is refused: Date would read it in the local time zone.
 */
export function isoInstant(value: string): Date | undefined {
    const time = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value)
        ? Date.parse(value)
        : NaN;
    const [year, month, day] = value.slice(0, 10).split("-").map(Number);
    const calendarDay = new Date(Date.UTC(year, month - 1, day));
    const realDay = calendarDay.getUTCMonth() === month - 1 && calendarDay.getUTCDate() === day;
    return Number.isNaN(time) || !realDay || !inX509Years(new Date(time)) ? undefined : new Date(time);
}

/**
 * Whether a certificate is not valid yet at `now`: before its notBefore, as BoringSSL checks it at
 * the node's clock, with no allowance for clock skew (X509_cmp_time_posix): Envoy refuses every
 * chain through it until then.
 */
export const notYetValidAt = (cert: crypto.X509Certificate, now: Date): boolean =>
    Date.parse(cert.validFrom) > now.getTime();

const SIGNATURE_OIDS = {
    sha256WithRsa: "1.2.840.113549.1.1.11",
    ecdsaWithSha256: "1.2.840.10045.4.3.2",
    ecdsaWithSha384: "1.2.840.10045.4.3.3",
    ecdsaWithSha512: "1.2.840.10045.4.3.4",
    ed25519: "1.3.101.112",
} as const;

/**
 * Signature algorithms by OID: OpenSSL's name (as `openssl x509 -text` shows it, and messages name
 * it), the hash by Node's name (null: Ed25519 hashes internally), and `go` when Go's crypto/x509
 * (istiod) verifies it (signatureAlgorithmDetails and checkSignature in x509.go; Go refuses any
 * other, "algorithm unimplemented", or "insecure algorithm" on SHA-1 and MD5). Those we sign or
 * verify with (SIGNATURE_OIDS), the others Go verifies, those on hashes collisions have broken
 * (BROKEN_HASHES), which brokenSignatureHashOf names, and a few more Go does not verify. RSA-PSS,
 * one OID, names its hash in its parameters (goSignatureRefusalOf).
 */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, { name: string; hash: string | null; go?: true }>> = {
    [SIGNATURE_OIDS.sha256WithRsa]: { name: "sha256WithRSAEncryption", hash: "sha256", go: true },
    [id_sha384WithRSAEncryption]: { name: "sha384WithRSAEncryption", hash: "sha384", go: true },
    [id_sha512WithRSAEncryption]: { name: "sha512WithRSAEncryption", hash: "sha512", go: true },
    [SIGNATURE_OIDS.ecdsaWithSha256]: { name: "ecdsa-with-SHA256", hash: "sha256", go: true },
    [SIGNATURE_OIDS.ecdsaWithSha384]: { name: "ecdsa-with-SHA384", hash: "sha384", go: true },
    [SIGNATURE_OIDS.ecdsaWithSha512]: { name: "ecdsa-with-SHA512", hash: "sha512", go: true },
    [SIGNATURE_OIDS.ed25519]: { name: "ED25519", hash: null, go: true },
    [id_md2WithRSAEncryption]: { name: "md2WithRSAEncryption", hash: "md2" },
    [id_md5WithRSAEncryption]: { name: "md5WithRSAEncryption", hash: "md5" },
    [id_sha1WithRSAEncryption]: { name: "sha1WithRSAEncryption", hash: "sha1" },
    "1.3.14.3.2.29": { name: "sha1WithRSA", hash: "sha1" }, // OIW
    "1.2.840.10045.4.1": { name: "ecdsa-with-SHA1", hash: "sha1" },
    "1.2.840.10040.4.3": { name: "dsaWithSHA1", hash: "sha1" },
    [id_sha224WithRSAEncryption]: { name: "sha224WithRSAEncryption", hash: "sha224" },
    "1.2.840.10045.4.3.1": { name: "ecdsa-with-SHA224", hash: "sha224" },
    "2.16.840.1.101.3.4.3.2": { name: "dsa_with_SHA256", hash: "sha256" }, // Go no longer verifies DSA
};

/** The hash each signature algorithm we sign or verify uses (null: Ed25519 hashes internally). */
export const SIGNATURE_HASHES: Readonly<Record<string, string | null>> = Object.fromEntries(
    Object.values(SIGNATURE_OIDS).map((oid) => [oid, SIGNATURE_ALGORITHMS[oid].hash]),
);

/** Go's rule (crypto/x509 signingParamsForKey), as the provider's CAs sign: the algorithm follows the signer's key. */
export function signatureOid(key: crypto.KeyObject): string {
    switch (key.asymmetricKeyType) {
        case "rsa":
            return SIGNATURE_OIDS.sha256WithRsa;
        case "ed25519":
            return SIGNATURE_OIDS.ed25519;
        case "ec": {
            const curve = key.asymmetricKeyDetails?.namedCurve;
            if (curve === "secp384r1") return SIGNATURE_OIDS.ecdsaWithSha384;
            return curve === "secp521r1" ? SIGNATURE_OIDS.ecdsaWithSha512 : SIGNATURE_OIDS.ecdsaWithSha256;
        }
        default:
            throw new Error(`cannot sign with a ${key.asymmetricKeyType} key: use RSA or ECDSA`);
    }
}

/** DER of any @peculiar/asn1-schema object. */
export const toDer = (value: object): Buffer => Buffer.from(AsnConvert.serialize(value));

/** A copy as the ArrayBuffer the schema classes hold. */
export const arrayBuffer = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;

/** The signature of `tbs` by `key` (ECDSA as DER, as X.509 carries it). */
export function sign(tbs: object, key: crypto.KeyObject, hash: string | null): ArrayBuffer {
    return arrayBuffer(crypto.sign(hash, toDer(tbs), { key, dsaEncoding: "der" }));
}

/**
 * The characters Go's encoding/asn1 writes a name's text in as a PrintableString (it takes a
 * UTF8String for any other): so @pulumi/tls, which makes the stack's CAs, writes their names.
 */
export const PRINTABLE_STRING = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A certificate's subject as its DER holds it: what Go compares, byte for byte, with the name it signs for. */
export const subjectDerOf = (cert: crypto.X509Certificate): Buffer =>
    toDer(AsnConvert.parse(cert.raw, Certificate).tbsCertificate.subject);

/** A certificate's issuer name as its DER holds it: Go finds the CA above by this, byte for byte its subject (subjectDerOf). */
export const issuerDerOf = (cert: crypto.X509Certificate): Buffer =>
    toDer(AsnConvert.parse(cert.raw, Certificate).tbsCertificate.issuer);

/** The hashes collisions have broken, by Node's name, as messages name them. */
const BROKEN_HASHES: Readonly<Record<string, string>> = { md2: "MD2", md5: "MD5", sha1: "SHA-1" };

/** Hashes by the OIDs RSA-PSS parameters name them with, as messages name them. */
const HASH_OIDS: Readonly<Record<string, string>> = {
    [id_md2]: "MD2",
    [id_md5]: "MD5",
    [id_sha1]: "SHA-1",
    [id_sha224]: "SHA-224",
    [id_sha256]: "SHA-256",
    [id_sha384]: "SHA-384",
    [id_sha512]: "SHA-512",
};

/** The salt length Go's crypto/x509 requires of RSA-PSS on each hash it takes there: the hash's length. */
const GO_PSS_SALT_LENGTHS: Readonly<Record<string, number>> = { [id_sha256]: 32, [id_sha384]: 48, [id_sha512]: 64 };

/** A certificate's RSA-PSS parameters, the defaults (SHA-1) where they leave them out (RFC 4055 section 3.1). */
const pssParametersOf = (parameters: ArrayBuffer | null | undefined): RsaSaPssParams =>
    parameters ? AsnConvert.parse(parameters, RsaSaPssParams) : new RsaSaPssParams();

/** The broken hash (SHA-1, MD5) the certificate is signed with, or undefined. */
export function brokenSignatureHashOf(cert: crypto.X509Certificate): string | undefined {
    const { algorithm, parameters } = AsnConvert.parse(cert.raw, Certificate).signatureAlgorithm;
    if (algorithm !== id_RSASSA_PSS) {
        const hash = SIGNATURE_ALGORITHMS[algorithm]?.hash;
        return hash === undefined || hash === null ? undefined : BROKEN_HASHES[hash];
    }
    const hash = HASH_OIDS[pssParametersOf(parameters).hashAlgorithm.algorithm];
    return Object.values(BROKEN_HASHES).includes(hash) ? hash : undefined;
}

/**
 * Why Go's crypto/x509 (istiod) cannot verify a certificate's signature: its algorithm as messages
 * name it, and Go's error ("insecure algorithm" for SHA-1 and MD5 on an algorithm it knows,
 * "algorithm unimplemented" for any other); undefined when Go verifies it. Go takes RSA-PSS only on
 * SHA-256, SHA-384 or SHA-512, with MGF1 on the same hash, a salt of the hash's length and the
 * usual trailer, each written out (getSignatureAlgorithmFromAI in x509.go).
 */
export function goSignatureRefusalOf(
    cert: crypto.X509Certificate,
): { algorithm: string; error: "insecure algorithm" | "algorithm unimplemented" } | undefined {
    const { algorithm, parameters } = AsnConvert.parse(cert.raw, Certificate).signatureAlgorithm;
    if (algorithm === id_RSASSA_PSS) {
        const pss = pssParametersOf(parameters);
        const hash = pss.hashAlgorithm;
        const mgf = pss.maskGenAlgorithm;
        const mgfHash = mgf.parameters ? AsnConvert.parse(mgf.parameters, AlgorithmIdentifier) : undefined;
        // Go takes a hash's parameters absent or NULL only.
        const plain = (id: AlgorithmIdentifier) => id.parameters === undefined || id.parameters === null;
        const goTakes =
            plain(hash) &&
            mgf.algorithm === id_mgf1 &&
            mgfHash?.algorithm === hash.algorithm &&
            plain(mgfHash) &&
            pss.saltLength === GO_PSS_SALT_LENGTHS[hash.algorithm] &&
            pss.trailerField === 1;
        if (goTakes) return undefined;
        const named = (id: AlgorithmIdentifier) => HASH_OIDS[id.algorithm] ?? id.algorithm;
        const mask =
            mgf.algorithm === id_mgf1 && mgfHash !== undefined
                ? `MGF1 with ${named(mgfHash)}`
                : `mask ${mgf.algorithm}`;
        const trailer = pss.trailerField === 1 ? "" : `, trailer field ${pss.trailerField}`;
        return {
            algorithm: `RSA-PSS (${named(hash)}, ${mask}, salt length ${pss.saltLength}${trailer})`,
            error: "algorithm unimplemented",
        };
    }
    const known = SIGNATURE_ALGORITHMS[algorithm];
    // RFC 8410 forbids parameters for Ed25519, and Go does not know it with them.
    if (known?.go && !(algorithm === SIGNATURE_OIDS.ed25519 && parameters !== undefined)) return undefined;
    return {
        algorithm: known === undefined ? `the signature algorithm ${algorithm}` : known.name,
        error: known?.hash === "sha1" || known?.hash === "md5" ? "insecure algorithm" : "algorithm unimplemented",
    };
}

/** INTEGER contents of a non-negative serial given in hex (minimal, a leading 0 byte when the high bit is set). */
export function serialNumber(hex: string): ArrayBuffer {
    return arrayBuffer(AsnIntegerBigIntConverter.toASN(BigInt(`0x${hex}`)).valueBlock.valueHexView);
}

/** The OIDs of a certificate's extensions marked critical. */
export const criticalExtensionsOf = (cert: crypto.X509Certificate): string[] =>
    (AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions ?? [])
        .filter((ext) => ext.critical)
        .map((ext) => ext.extnID);

/** A GeneralName as name constraints compare it: its type, and its text as `openssl x509 -text` shows it. */
export interface TypedName {
    readonly type: "DNS" | "URI" | "IP" | "email" | "DirName" | "other";
    readonly value: string;
    /** A DirName's RDNs in order, each as its attributes' types (OIDs) and texts. */
    readonly rdns?: readonly (readonly (readonly [type: string, text: string])[])[];
}

/** Serial numbers compare as numbers: no colons, no leading zeros, upper case. */
export const normalSerial = (hex: string): string =>
    hex
        .replace(/:/g, "")
        .replace(/^0+(?=.)/, "")
        .toUpperCase();
