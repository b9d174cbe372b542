/** DER (X.690) as certificates, CRLs and their bundles come in files, framed by asn1js. */
import * as asn1js from "asn1js";

/**
 * asn1js's limits for `bytes`. Its default count of nodes (10,000) refuses a real CRL of a few
 * thousand revocations or a PKCS#7 of a hundred certificates; every node takes at least two bytes,
 * so this count refuses nothing the size would not (its limit on the size, 16 MiB, stays).
 */
export const berOptions = (bytes: Uint8Array): asn1js.FromBerOptions => ({
    maxNodes: Math.max(asn1js.DEFAULT_MAX_NODES, bytes.length),
});

/**
 * The DER values that `bytes` is made of, when it is nothing but SEQUENCEs back to back (a
 * certificate, a CRL, or several, each read: Node would read the first and ignore
 * the rest); none when it is anything else (text, a value cut short, garbage: asn1js throws on
 * some, e.g. a UniversalString of an odd length).
 */
export function derSequences(bytes: Buffer): Buffer[] {
    const sequences: Buffer[] = [];
    for (let rest = bytes; rest.length > 0;) {
        let read: asn1js.FromBerResult;
        try {
            read = asn1js.fromBER(rest, berOptions(rest));
        } catch {
            return [];
        }
        const { offset, result } = read;
        if (offset === -1 || !(result instanceof asn1js.Sequence)) return [];
        sequences.push(rest.subarray(0, offset));
        rest = rest.subarray(offset);
    }
    return sequences;
}

/** The PEM labels BoringSSL's PEM_X509_INFO_read_bio (Envoy's reader of ca.crt) and OpenSSL read as certificates. */
export const CERTIFICATE_LABELS: readonly string[] = ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];

/**
 * The certificate of a PEM block's DER that Envoy reads as a certificate: of OpenSSL's "TRUSTED
 * CERTIFICATE", the certificate before its trust settings (X509_CERT_AUX); of any other label the
 * DER itself. Undefined when a TRUSTED CERTIFICATE block holds no certificate.
 */
export function certificateDerOf(label: string, der: Buffer): Buffer | undefined {
    return label === "TRUSTED CERTIFICATE" ? derSequences(der)[0] : der;
}

/** The form of key each private key PEM label holds, as @pulumi/tls picks Go's parser by the label. */
export const PRIVATE_KEY_FORMS = {
    "RSA PRIVATE KEY": "PKCS#1",
    "EC PRIVATE KEY": "SEC1",
    "PRIVATE KEY": "PKCS#8",
} as const;

export type PrivateKeyLabel = keyof typeof PRIVATE_KEY_FORMS;

/**
 * The PEM label of a private key's DER, by what follows its version as Go's parsers tell the forms
 * apart: an INTEGER (PKCS#1's modulus), an OCTET STRING (SEC1's key) or a SEQUENCE (PKCS#8's
 * algorithm); undefined for anything else. OpenSSL (so Node) reads a PKCS#8 key under any of them.
 */
export function privateKeyLabelOf(der: Buffer): PrivateKeyLabel | undefined {
    let read: asn1js.FromBerResult;
    try {
        read = asn1js.fromBER(der, berOptions(der));
    } catch {
        return undefined;
    }
    if (!(read.result instanceof asn1js.Sequence)) return undefined;
    const [version, second] = read.result.valueBlock.value;
    if (!(version instanceof asn1js.Integer)) return undefined;
    if (second instanceof asn1js.Integer) return "RSA PRIVATE KEY";
    if (second instanceof asn1js.OctetString) return "EC PRIVATE KEY";
    if (second instanceof asn1js.Sequence) return "PRIVATE KEY";
    return undefined;
}
