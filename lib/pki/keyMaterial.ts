/**
 * Private-key material in any encoding a program may write into a Secret, a ConfigMap or a stack
 * output. The pack's rules once matched only the PEM text "PRIVATE KEY-----", so the same key
 * exported as base64 DER, a PKCS#12 or Java keystore (which holds one) or a JWK passed them unseen.
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

/** The magic numbers that start a Java keystore: JKS (keytool's default before Java 9) and JCEKS. */
const JAVA_KEYSTORE_MAGIC = [0xfeedfeed, 0xcececece];

/** The tag of a Java keystore entry that is a trusted certificate; 1 is a private key with its chain, 3 (JCEKS) a secret key. */
const TRUSTED_CERTIFICATE_ENTRY = 2;

/** The SHA-1 digest (keyed by the store password) that ends a Java keystore, after its entries. */
const JAVA_KEYSTORE_DIGEST_BYTES = 20;

/**
 * Whether bytes are a Java keystore (JKS or JCEKS) that holds a key. Unlike PKCS#12, its entries'
 * tags are in the clear: a truststore, whose entries are all trusted certificates, is told from a
 * keystore by reading them (sun.security.provider.JavaKeyStore's layout: each certificate's
 * length precedes it). A keystore that cannot be read to its digest counts as holding a key.
 */
function isJavaKeystoreWithKey(bytes: Buffer): boolean {
    if (bytes.length < 12 || !JAVA_KEYSTORE_MAGIC.includes(bytes.readUInt32BE(0))) return false;
    const version = bytes.readUInt32BE(4);
    if (version !== 1 && version !== 2) return true;
    try {
        let at = 12;
        for (let entry = bytes.readUInt32BE(8); entry > 0; entry--) {
            if (bytes.readUInt32BE(at) !== TRUSTED_CERTIFICATE_ENTRY) return true;
            at += 4;
            at += 2 + bytes.readUInt16BE(at) + 8; // alias (modified UTF-8), creation date
            if (version === 2) at += 2 + bytes.readUInt16BE(at); // certificate type ("X.509")
            at += 4 + bytes.readUInt32BE(at);
        }
        // Each read past the end throws: a truncated keystore is not a truststore.
        return bytes.length - at !== JAVA_KEYSTORE_DIGEST_BYTES;
    } catch {
        return true;
    }
}

/** A JWK's private members (RFC 7518 6.2.2, 6.3.2, RFC 8037): "d" of an EC, OKP or RSA key, and RSA's primes. */
const JWK_PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi"];

/**
 * A JWK member's value: base64url without padding (RFC 7515), and what Node's JWK import takes as
 * well, padded or in the standard alphabet ("+", "/"); not "[secret]", what a hidden one shows.
 */
const JWK_MEMBER = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Whether a JSON value is a private JWK: a "kty" and a private member. */
function isPrivateJwk(value: unknown): boolean {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const jwk = value as Record<string, unknown>;
    return (
        typeof jwk.kty === "string" &&
        JWK_PRIVATE_MEMBERS.map((member) => jwk[member]).some((v) => typeof v === "string" && JWK_MEMBER.test(v))
    );
}

/**
 * Whether a parsed JSON value holds a private JWK at any depth: a JWK, a JWK set's "keys", a config's
 * member. Walked with a list, not recursion: JSON.parse takes nesting deeper than the call stack
 * allows, and a JWK after such nesting is still found.
 */
function holdsPrivateJwk(json: unknown): boolean {
    const pending: unknown[] = [json];
    while (pending.length > 0) {
        const value = pending.pop();
        if (isPrivateJwk(value)) return true;
        if (typeof value === "object" && value !== null) pending.push(...Object.values(value));
    }
    return false;
}

/** Whether a text is JSON (an object or array; a BOM and blank lines allowed) holding a private JWK. */
function isJsonWithPrivateJwk(text: string): boolean {
    const json = text.trim(); // a BOM too
    if (!json.startsWith("{") && !json.startsWith("[")) return false;
    try {
        return holdsPrivateJwk(JSON.parse(json));
    } catch {
        return false; // not JSON
    }
}

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
 * a program wrote it: a PEM private key, JSON holding a private JWK (alone, in a JWK set, or at any
 * depth), the base64 of a text holding either (kubeconfig's client-key-data, `openssl pkcs12
 * -nodes` output), or the base64 (line breaks allowed) of the DER of a PKCS#8 PrivateKeyInfo or
 * OneAsymmetricKey, a PKCS#8 EncryptedPrivateKeyInfo, a PKCS#1 RSAPrivateKey, a SEC1 ECPrivateKey
 * or a PKCS#12 PFX, or of a JKS or JCEKS keystore holding a key.
 * Certificates, CRLs, CSRs, public keys (JWKs too), Java truststores and random base64 are none of
 * these. Never throws; a value longer than 64 KiB is searched for PEM only. A raw key (a bare EC
 * scalar, say) cannot be told from random bytes and is not found, nor is base64 inside a longer
 * text (a YAML document, say).
 */
export function holdsPrivateKey(value: string): boolean {
    if (PEM_PRIVATE_KEY.test(value)) return true;
    if (value.length > MAX_TEXT_CHARS) return false;
    if (isJsonWithPrivateJwk(value)) return true;
    const bytes = base64Bytes(value);
    if (bytes === undefined) return false;
    // PEM text in base64 need not start with its key: `openssl pkcs12 -nodes` writes "Bag Attributes"
    // and the certificate first; a file may start with a BOM or a blank line. Else DER, if a SEQUENCE.
    return (
        PEM_PRIVATE_KEY.test(bytes.toString("latin1")) ||
        isJsonWithPrivateJwk(bytes.toString("utf8")) ||
        isJavaKeystoreWithKey(bytes) ||
        isPrivateKeyDer(bytes)
    );
}

/**
 * The paths (`apicBundles.ob.privateKeyPem`, `keys[1]`) of the texts below `value`, a JSON-like
 * value, that hold a private key (holdsPrivateKey), and of its objects that are a private JWK;
 * `at` is the path of `value` itself.
 */
export function privateKeyPaths(value: unknown, at = ""): string[] {
    if (typeof value === "string") return holdsPrivateKey(value) ? [at] : [];
    if (isPrivateJwk(value)) return [at];
    if (Array.isArray(value)) return value.flatMap((item, i) => privateKeyPaths(item, `${at}[${i}]`));
    if (typeof value !== "object" || value === null) return [];
    return Object.entries(value).flatMap(([key, item]) => privateKeyPaths(item, at === "" ? key : `${at}.${key}`));
}
