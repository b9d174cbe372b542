/**
 * What our own signers (CRLs, the ceremony) share. The structures they sign are @peculiar/asn1-x509
 * objects (the RFC 5280 schemas of PeculiarVentures' x509 stack, DER-encoded by
 * @peculiar/asn1-schema); Node's crypto signs them. Synchronous on purpose: a CRL is built inside a
 * Pulumi apply and the ceremony runs as plain functions (@peculiar/x509's generators sign through
 * WebCrypto, which is asynchronous only).
 */
import * as crypto from "crypto";
import { AsnConvert, AsnIntegerBigIntConverter, OctetString } from "@peculiar/asn1-schema";
import {
    AlgorithmIdentifier,
    Certificate,
    Extension,
    id_ce_subjectKeyIdentifier,
    SubjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { pemDecode } from "./pem";

const SIGNATURE_OIDS = {
    sha256WithRsa: "1.2.840.113549.1.1.11",
    ecdsaWithSha256: "1.2.840.10045.4.3.2",
    ecdsaWithSha384: "1.2.840.10045.4.3.3",
    ecdsaWithSha512: "1.2.840.10045.4.3.4",
    ed25519: "1.3.101.112",
} as const;

/** Hash and AlgorithmIdentifier of a signature by this key: Go's rule (tls-provider.md section 2), as the provider's CAs sign. */
export function signatureAlgorithm(key: crypto.KeyObject): { algorithm: AlgorithmIdentifier; hash: string | null } {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    switch (key.asymmetricKeyType) {
        case "rsa":
            return {
                algorithm: new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS.sha256WithRsa, parameters: null }),
                hash: "sha256",
            };
        case "ec":
            if (curve === "secp384r1")
                return {
                    algorithm: new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS.ecdsaWithSha384 }),
                    hash: "sha384",
                };
            if (curve === "secp521r1")
                return {
                    algorithm: new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS.ecdsaWithSha512 }),
                    hash: "sha512",
                };
            return {
                algorithm: new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS.ecdsaWithSha256 }),
                hash: "sha256",
            };
        case "ed25519":
            return { algorithm: new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS.ed25519 }), hash: null };
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

/** An extension holding the DER of `value`; non-critical ones omit the flag, as DER requires. */
export function extension(extnID: string, critical: boolean, value: object): Extension {
    return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** INTEGER contents of a non-negative serial given in hex (minimal, a leading 0 byte when the high bit is set). */
export function serialNumber(hex: string): ArrayBuffer {
    return arrayBuffer(AsnIntegerBigIntConverter.toASN(BigInt(`0x${hex}`)).valueBlock.valueHexView);
}

/**
 * A CA certificate parsed for signing under it. Refused unless it re-encodes to its own bytes, so
 * that the issuer name we copy from it is byte for byte its subject (chain building compares them).
 */
export function parseCaCertificate(pem: string): Certificate {
    const der = pemDecode(pem, "CERTIFICATE");
    const cert = AsnConvert.parse(der, Certificate);
    if (!toDer(cert).equals(der))
        throw new Error("the CA certificate is not in DER: its subject cannot be copied exactly");
    return cert;
}

/** The certificate's Subject Key Identifier, if it has one. */
export function subjectKeyIdOf(cert: Certificate): ArrayBuffer | undefined {
    const ext = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
    return ext && AsnConvert.parse(ext.extnValue, SubjectKeyIdentifier).buffer;
}
