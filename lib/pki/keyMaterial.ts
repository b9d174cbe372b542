/**
 * Private-key material in any encoding a program may write into a Secret, a ConfigMap or a stack
 * output. The pack's rules once matched only the PEM text "PRIVATE KEY-----", so the same key
 * exported as base64 DER, or a PKCS#12 keystore (which holds one), passed them unseen.
 */
import { id_data, id_signedData } from "@peculiar/asn1-cms";
import { id_pkcs, id_pkcs_12PbeIds, PFX } from "@peculiar/asn1-pfx";
import { EncryptedPrivateKeyInfo, PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { RSAPrivateKey } from "@peculiar/asn1-rsa";
import { AsnParser, AsnProp, AsnPropTypes, OctetString } from "@peculiar/asn1-schema";

/** A PEM private key of any kind: PKCS#8, ENCRYPTED, RSA, EC, DSA, OPENSSH... (lower case too: trivially undone). */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/i;

/** Base64, standard or URL-safe, padded or not, once whitespace is removed. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Below any key structure: a SEC1 P-256 key without its optional fields is 39 bytes, Ed25519's PKCS#8 48. */
const MIN_DER_BYTES = 32;

/**
 * The largest text parsed (64 KiB, about 48 KiB of DER): an RSA-16384 key is under 10 KiB, a keystore
 * with its key and a chain a few KiB. Larger values are not read, so that a big value costs no parse.
 */
const MAX_TEXT_CHARS = 64 * 1024;

/**
 * RFC 5958 OneAsymmetricKey: PKCS#8's PrivateKeyInfo (version 0) and its version 1, which may add
 * the public key ([1]); asn1-pkcs8 declares only the former's fields, and refuses a [1] after them.
 */
class OneAsymmetricKey extends PrivateKeyInfo {
    @AsnProp({ type: AsnPropTypes.BitString, context: 1, implicit: true, optional: true })
    public publicKey?: ArrayBuffer;
}

/** RFC 5915 ECPrivateKey (SEC1), declared here: @peculiar/asn1-ecc is not a dependency of the package. */
class EcPrivateKey {
    @AsnProp({ type: AsnPropTypes.Integer }) public version = 1;
    @AsnProp({ type: OctetString }) public privateKey = new OctetString();
    @AsnProp({ type: AsnPropTypes.Any, context: 0, optional: true }) public parameters?: ArrayBuffer;
    @AsnProp({ type: AsnPropTypes.BitString, context: 1, optional: true }) public publicKey?: ArrayBuffer;
}

/**
 * Password-based encryption schemes (PKCS#5's arc: PBES1 and PBES2; PKCS#12's PBE ids). An
 * EncryptedPrivateKeyInfo is a SEQUENCE of an algorithm and an OCTET STRING, the very shape of a
 * signature's DigestInfo: the algorithm tells them apart.
 */
const PASSWORD_ENCRYPTION = [`${id_pkcs}.5.`, `${id_pkcs_12PbeIds}.`];

/** Each key structure, and what its parsed fields must be (a version, an algorithm) to be one. */
const KEY_STRUCTURES: readonly { type: new () => object; holdsKey: (parsed: never) => boolean }[] = [
    { type: OneAsymmetricKey, holdsKey: (k: OneAsymmetricKey) => k.version === 0 || k.version === 1 },
    {
        type: EncryptedPrivateKeyInfo,
        holdsKey: (k: EncryptedPrivateKeyInfo) =>
            PASSWORD_ENCRYPTION.some((arc) => k.encryptionAlgorithm.algorithm.startsWith(arc)),
    },
    { type: RSAPrivateKey, holdsKey: (k: RSAPrivateKey) => k.version === 0 || k.version === 1 },
    { type: EcPrivateKey, holdsKey: (k: EcPrivateKey) => k.version === 1 },
    // A keystore's bags are encrypted with its password, so whether it holds a key cannot be read:
    // any PFX counts (a truststore's CAs belong in PEM, not in PKCS#12).
    {
        type: PFX,
        holdsKey: (p: PFX) =>
            p.version === 3 && (p.authSafe.contentType === id_data || p.authSafe.contentType === id_signedData),
    },
];

/** The bytes that `text` is the base64 of, if it is base64 long enough to hold a key. */
function base64Bytes(text: string): Buffer | undefined {
    const compact = text.replace(/\s+/g, "");
    if (compact.length < (MIN_DER_BYTES * 4) / 3 || !BASE64.test(compact)) return undefined;
    return Buffer.from(compact, "base64");
}

/** Whether bytes are the DER of a key structure (BER's leniencies and bytes after it accepted). */
function isPrivateKeyDer(der: Buffer): boolean {
    if (der.length < MIN_DER_BYTES || der[0] !== 0x30) return false;
    return KEY_STRUCTURES.some(({ type, holdsKey }) => {
        try {
            return holdsKey(AsnParser.parse(der, type) as never);
        } catch {
            return false;
        }
    });
}

/**
 * Whether a string value holds private-key material, so that the pack's key rules see a key however
 * a program wrote it: a PEM private key, the base64 of a text holding one (kubeconfig's
 * client-key-data, `openssl pkcs12 -nodes` output), or the base64 (line breaks allowed) of the DER
 * of a PKCS#8 PrivateKeyInfo or OneAsymmetricKey, a PKCS#8 EncryptedPrivateKeyInfo, a PKCS#1
 * RSAPrivateKey, a SEC1 ECPrivateKey or a PKCS#12 PFX.
 * Certificates, CRLs, CSRs, public keys and random base64 are none of these. Never throws; a value
 * longer than 64 KiB is searched for PEM only. A raw key (a bare EC scalar, say) cannot be told
 * from random bytes and is not found, nor is base64 inside a longer text (a YAML document, say).
 */
export function holdsPrivateKey(value: string): boolean {
    if (PEM_PRIVATE_KEY.test(value)) return true;
    if (value.length > MAX_TEXT_CHARS) return false;
    const bytes = base64Bytes(value);
    if (bytes === undefined) return false;
    // PEM text in base64 need not start with its key: `openssl pkcs12 -nodes` writes "Bag Attributes"
    // and the certificate first; a file may start with a BOM or a blank line. Else DER, if a SEQUENCE.
    return PEM_PRIVATE_KEY.test(bytes.toString("latin1")) || isPrivateKeyDer(bytes);
}

/**
 * The paths (`apicBundles.ob.privateKeyPem`, `keys[1]`) of the texts below `value`, a JSON-like
 * value, that hold a private key (holdsPrivateKey); `at` is the path of `value` itself.
 */
export function privateKeyPaths(value: unknown, at = ""): string[] {
    if (typeof value === "string") return holdsPrivateKey(value) ? [at] : [];
    if (Array.isArray(value)) return value.flatMap((item, i) => privateKeyPaths(item, `${at}[${i}]`));
    if (typeof value !== "object" || value === null) return [];
    return Object.entries(value).flatMap(([key, item]) => privateKeyPaths(item, at === "" ? key : `${at}.${key}`));
}
