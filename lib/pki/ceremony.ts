/**
 * The offline root ceremony, for a machine that never runs Pulumi: create the root, sign the
 * intermediate CSRs a stack exported, and sign the root's CRL series. Unlike @pulumi/tls, our own
 * code can write pathlen 0, so intermediates signed here cannot sign CAs themselves. Certificates
 * are @peculiar/asn1-x509 TBSCertificates signed with Node's crypto (see ./x509.ts); CSRs are read
 * with @peculiar/asn1-csr and their names with @peculiar/x509. The root key is kept as encrypted
 * PKCS#8 (PBES2: PBKDF2-HMAC-SHA256 at 600,000 iterations, AES-256-CBC), which OpenSSL reads.
 */
import * as crypto from "crypto";
import { CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import * as asn1js from "asn1js";
import {
    BasicConstraints,
    Certificate,
    Extensions,
    id_ce_basicConstraints,
    id_ce_extKeyUsage,
    id_ce_keyUsage,
    id_ce_nameConstraints,
    id_ce_subjectAltName,
    id_ce_subjectKeyIdentifier,
    KeyUsage,
    KeyUsageFlags,
    Name,
    SubjectKeyIdentifier,
    SubjectPublicKeyInfo,
    TBSCertificate,
    Validity,
    Version,
} from "@peculiar/asn1-x509";
import { Name as DistinguishedName } from "@peculiar/x509";
import { characterCount, hasControlCharacter, json } from "../config/values";
import { normalSerial } from "./x509";
import { RootTrustDomain, trustDomainOf } from "../plan/hierarchy";
import { CA_USES } from "../plan/plan";
import { buildCrl, CrlWindow, DAY_MS, RevokedEntry } from "./crl";
import { pemBlocksInOrder, pemDecode, pemEncode, withArticle } from "./pem";
import { passwordEncryptionOf, pbes2Encryption } from "./pkcs12";
import { bindingProblem, bindingUnit, rootBinding, stackCaNames, stackCaSlot } from "./rootBinding";
import {
    authorityKeyIdExtensions,
    caSubject,
    extension,
    parseCaCertificate,
    signatureAlgorithm,
    subjectKeyIdOf,
} from "./asn1";
import { arrayBuffer, serialNumber, sign, SIGNATURE_HASHES, toDer } from "./x509";

export interface RootSpec {
    commonName: string;
    organization?: string;
    /** What the root is made for, written as OU `apic-istio-pki <environment> <trust domain>` (./rootBinding.ts). */
    binding?: { environment: string; trustDomain: RootTrustDomain };
    validityDays: number;
    keyAlgorithm: "RSA" | "ECDSA";
}

function generateCaKey(algorithm: "RSA" | "ECDSA"): crypto.KeyObject {
    return algorithm === "RSA"
        ? crypto.generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey
        : crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey;
}

const randomSerial = (): Buffer => crypto.randomBytes(16);

const KEY_USAGE_FLAGS: Readonly<Record<(typeof CA_USES)[number], KeyUsageFlags>> = {
    cert_signing: KeyUsageFlags.keyCertSign,
    crl_signing: KeyUsageFlags.cRLSign,
};

/** RFC 5280 section 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (RSAPublicKey DER, or the EC point). */
function subjectKeyId(spki: SubjectPublicKeyInfo): ArrayBuffer {
    return arrayBuffer(crypto.createHash("sha1").update(Buffer.from(spki.subjectPublicKey)).digest());
}

/**
 * A key's DER SubjectPublicKeyInfo in the one form the stack and Go write (an EC point
 * uncompressed, RSA with NULL parameters and minimal integers), rebuilt from the key's numbers:
 * Node re-exports an EC key in the form it read. One key has several encodings that OpenSSL and
 * Node read, so keys are compared and hashed in this form only.
 */
export function canonicalSpki(key: crypto.KeyObject): Buffer {
    return crypto
        .createPublicKey({ key: key.export({ format: "jwk" }), format: "jwk" })
        .export({ type: "spki", format: "der" });
}

/** SHA-256 of a key's canonical SubjectPublicKeyInfo, in hex: what `openssl pkey -pubin -outform DER | sha256sum` prints for it. */
export const spkiSha256 = (key: crypto.KeyObject): string =>
    crypto.createHash("sha256").update(canonicalSpki(key)).digest("hex");

/** SHA-256, in hex, of the SubjectPublicKeyInfo `spkiDer` as Node re-exports it: what issuance logs recorded before keys were hashed canonically. */
const reExportedSha256 = (spkiDer: Buffer): string =>
    crypto
        .createHash("sha256")
        .update(
            crypto
                .createPublicKey({ key: spkiDer, format: "der", type: "spki" })
                .export({ type: "spki", format: "der" }),
        )
        .digest("hex");

/**
 * Every SPKI SHA-256 an issuance log may hold for `key`: the canonical one, and those the ceremony
 * logged before it hashed keys canonically. It then hashed the certificate's key as Node re-exports
 * it, which keeps an EC key's form: its point compressed, uncompressed or hybrid, its curve named or
 * given by explicit parameters with or without their seed. Node rewrites the rest (the parameters'
 * version, cofactor, generator and seed value; RSA's NULL parameters and integers), so each of
 * these forms, re-exported as then, gives exactly the hashes an old log can hold. The log keeps
 * only the hash: no certificate to hash again.
 */
export function loggedSpkiSha256s(key: crypto.KeyObject): string[] {
    const namedCurve = key.asymmetricKeyDetails?.namedCurve;
    if (key.asymmetricKeyType !== "ec" || namedCurve === undefined) return [spkiSha256(key)];
    const spki = AsnConvert.parse(canonicalSpki(key), SubjectPublicKeyInfo);
    // Node writes explicit parameters (with the curve's seed) only for a key it makes.
    const explicit = AsnConvert.parse(
        crypto
            .generateKeyPairSync("ec", { namedCurve, paramEncoding: "explicit" })
            .publicKey.export({ type: "spki", format: "der" }),
        SubjectPublicKeyInfo,
    ).algorithm.parameters;
    if (explicit === undefined || explicit === null) throw new Error(`Node wrote no parameters for ${namedCurve}`);
    const unseeded = asn1js.fromBER(explicit).result as asn1js.Sequence;
    const curve = unseeded.valueBlock.value[2] as asn1js.Sequence; // SpecifiedECDomain's Curve: a, b, seed
    curve.valueBlock.value.splice(2);
    const parameters = [spki.algorithm.parameters, explicit, unseeded.toBER()];
    const point = Buffer.from(spki.subjectPublicKey);
    const points = (["compressed", "uncompressed", "hybrid"] as const).map(
        (form) => crypto.ECDH.convertKey(point, namedCurve, undefined, undefined, form) as Buffer,
    );
    const hashes = parameters.flatMap((algorithmParameters) =>
        points.map((form) => {
            spki.algorithm.parameters = algorithmParameters;
            spki.subjectPublicKey = new Uint8Array(form).buffer;
            return reExportedSha256(Buffer.from(AsnConvert.serialize(spki)));
        }),
    );
    return [...new Set([spkiSha256(key), ...hashes])];
}

/**
 * A CA certificate with the extensions, in the order, Go writes them: keyUsage keyCertSign +
 * cRLSign (critical), basicConstraints CA:TRUE with `pathLength` (critical), SKI, AKI.
 */
function caCertificate(args: {
    serial: Buffer;
    subject: Name;
    issuer: Name;
    subjectPublicKeyInfo: SubjectPublicKeyInfo;
    notBefore: Date;
    notAfter: Date;
    pathLength: number;
    authorityKeyId: ArrayBuffer | undefined;
    signer: crypto.KeyObject;
}): string {
    const { algorithm, hash } = signatureAlgorithm(args.signer);
    const keyUsage = CA_USES.reduce((flags, use) => flags | KEY_USAGE_FLAGS[use], 0);
    const tbsCertificate = new TBSCertificate({
        version: Version.v3,
        serialNumber: serialNumber(args.serial.toString("hex")),
        signature: algorithm,
        issuer: args.issuer,
        validity: new Validity({ notBefore: args.notBefore, notAfter: args.notAfter }),
        subject: args.subject,
        subjectPublicKeyInfo: args.subjectPublicKeyInfo,
        extensions: new Extensions([
            extension(id_ce_keyUsage, true, new KeyUsage(keyUsage)),
            extension(
                id_ce_basicConstraints,
                true,
                new BasicConstraints({ cA: true, pathLenConstraint: args.pathLength }),
            ),
            extension(
                id_ce_subjectKeyIdentifier,
                false,
                new SubjectKeyIdentifier(subjectKeyId(args.subjectPublicKeyInfo)),
            ),
            ...authorityKeyIdExtensions(args.authorityKeyId),
        ]),
    });
    const certificate = new Certificate({
        tbsCertificate,
        signatureAlgorithm: algorithm,
        signatureValue: sign(tbsCertificate, args.signer, hash),
    });
    return pemEncode(toDer(certificate), "CERTIFICATE");
}

/** A self-signed root, pathlen 1 (intermediates allowed, nothing below them). Key and serial are fixed only by tests. */
export function createRoot(
    spec: RootSpec,
    now: Date = new Date(),
    key: crypto.KeyObject = generateCaKey(spec.keyAlgorithm),
    serial: Buffer = randomSerial(),
): { keyPem: string; certPem: string } {
    const subject = caSubject({
        organization: spec.organization,
        organizationalUnit:
            spec.binding === undefined ? undefined : bindingUnit(spec.binding.environment, spec.binding.trustDomain),
        commonName: spec.commonName,
    });
    const subjectPublicKeyInfo = AsnConvert.parse(
        crypto.createPublicKey(key).export({ type: "spki", format: "der" }),
        SubjectPublicKeyInfo,
    );
    const certPem = caCertificate({
        serial,
        subject,
        issuer: subject,
        subjectPublicKeyInfo,
        notBefore: now,
        notAfter: new Date(now.getTime() + spec.validityDays * DAY_MS),
        pathLength: 1,
        authorityKeyId: subjectKeyId(subjectPublicKeyInfo),
        signer: key,
    });
    return { keyPem: key.export({ type: "pkcs8", format: "pem" }) as string, certPem };
}

/** The least number of characters of a root key's passphrase: the passphrase is all that protects the key on its medium. */
export const MIN_PASSPHRASE_LENGTH = 16;

/** The least number of different characters of a root key's passphrase: "aaaaaaaaaaaaaaaa" or "passwordpassword" have fewer. */
export const MIN_PASSPHRASE_DISTINCT = 8;

/** What a refused passphrase is to become instead. */
const DICEWARE =
    "choose a diceware-style passphrase of several random words (e.g. six, rolled with dice from a word list)";

/**
 * Refuses a passphrase too weak to protect a new root key: too short, one shorter string repeated
 * ("abcabcabc..."), or of fewer than MIN_PASSPHRASE_DISTINCT different characters. Cheap rules
 * against what a person types to get past a length check; its characters are never shown.
 */
export function checkNewPassphrase(passphrase: string): void {
    const length = characterCount(passphrase);
    if (length < MIN_PASSPHRASE_LENGTH) {
        throw new Error(
            `the root key's passphrase has ${length} characters; it needs at least ${MIN_PASSPHRASE_LENGTH} (e.g. six random words), since it is all that protects the key on its medium`,
        );
    }
    const characters = [...passphrase];
    const period = characters.findIndex(
        (_, i) => i > 0 && length % i === 0 && characters.every((c, j) => c === characters[j % i]),
    );
    if (period > 0) {
        throw new Error(
            `the root key's passphrase is one string of ${period} character${period === 1 ? "" : "s"} repeated ${length / period} times, which is no harder to guess than that string once: ${DICEWARE}`,
        );
    }
    const distinct = new Set(characters).size;
    if (distinct < MIN_PASSPHRASE_DISTINCT) {
        throw new Error(
            `the root key's passphrase has only ${distinct} different characters; it needs at least ${MIN_PASSPHRASE_DISTINCT}, since few characters make few passphrases to try: ${DICEWARE}`,
        );
    }
}

/**
 * PBKDF2 iterations of the root key's encryption: OWASP's figure for PBKDF2-HMAC-SHA256 (600,000),
 * not OpenSSL's default of 2048, which Node's own export would use. About 0.1 s per opening.
 */
export const ROOT_KEY_PBKDF2_ITERATIONS = 600_000;

/** The options of `openssl pkcs8` that encrypt a key as encryptRootKey does (but an 8-byte salt, OpenSSL 3.0's). */
export const ROOT_KEY_OPENSSL_PKCS8 = `-topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter ${ROOT_KEY_PBKDF2_ITERATIONS}`;

/** encryptRootKey's encryption as passwordEncryptionOf describes it. */
export const ROOT_KEY_ENCRYPTION = `PBKDF2-HMAC-SHA256, ${ROOT_KEY_PBKDF2_ITERATIONS} iterations, AES-256-CBC`;

/** PBKDF2's PRF hashes as strong as encryptRootKey's (HMAC-SHA256) or stronger. */
const ROOT_KEY_PRF_HASHES: readonly (string | undefined)[] = ["sha256", "sha384", "sha512"];

/**
 * The root key as encrypted PKCS#8 (EncryptedPrivateKeyInfo): PBES2 with PBKDF2-HMAC-SHA256
 * (ROOT_KEY_PBKDF2_ITERATIONS, a random 16-byte salt) and AES-256-CBC (a random IV), what
 * `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 600000` writes and `openssl pkey` opens with the
 * passphrase. Written with our PBES2 (./pkcs12.ts) because Node cannot set the iteration count.
 */
export function encryptRootKey(keyPem: string, passphrase: string): string {
    checkNewPassphrase(passphrase);
    const keyDer = crypto.createPrivateKey(keyPem).export({ type: "pkcs8", format: "der" });
    const encryption = pbes2Encryption(
        passphrase,
        ROOT_KEY_PBKDF2_ITERATIONS,
        crypto.randomBytes(16),
        crypto.randomBytes(16),
    );
    const info = new EncryptedPrivateKeyInfo({
        encryptionAlgorithm: encryption.algorithm,
        encryptedData: new OctetString(encryption.encrypt(keyDer)),
    });
    return pemEncode(toDer(info), "ENCRYPTED PRIVATE KEY");
}

/** The PEM label of an encrypted PKCS#8 key, the root key's form. */
const ENCRYPTED_KEY = "ENCRYPTED PRIVATE KEY";

/**
 * The one PEM block of the encrypted root key (`file` names it in messages), checked without the
 * passphrase: the file must hold one PEM block, ENCRYPTED PRIVATE KEY, ended, and nothing else but
 * white space: given the whole text, Node would take its first key block, so a plain key put
 * before an encrypted one would open with any passphrase. An unencrypted key is refused.
 * RootFolder.open runs these checks (weakRootKeyEncryption) before anything is shown or asked; decryptRootKey again.
 */
export function encryptedRootKeyBlock(encryptedPem: string, file: string): string {
    const blocks = pemBlocksInOrder(encryptedPem);
    const [block] = blocks;
    if (blocks.length === 1 && block.label !== ENCRYPTED_KEY && block.label.endsWith("PRIVATE KEY")) {
        throw new Error(
            `${file} is not an encrypted private key; a root key is kept only encrypted: ` +
                `encrypt it with "openssl pkcs8 ${ROOT_KEY_OPENSSL_PKCS8} -in ${file} -out ${file}.new", check it, then replace ${file} and destroy the plain copy`,
        );
    }
    const problem =
        blocks.length === 0
            ? "it holds no PEM block"
            : blocks.length > 1
              ? `it holds ${blocks.length} PEM blocks (${blocks.map((b) => b.label).join(", then ")})`
              : block.label !== ENCRYPTED_KEY
                ? `it holds ${withArticle(block.label)} PEM block`
                : !block.ended
                  ? `its ${ENCRYPTED_KEY} block has no END line`
                  : encryptedPem.replace(block.pem.trimEnd(), "").trim() !== ""
                    ? `it holds other text besides its ${ENCRYPTED_KEY} block`
                    : undefined;
    if (problem !== undefined) {
        throw new Error(
            `${file} must hold one encrypted key (one ${ENCRYPTED_KEY} PEM block) and nothing else, but ${problem}: ` +
                `the file was altered; restore it from the ceremony medium's backup`,
        );
    }
    return block.pem;
}

/**
 * How the encrypted root key (`file` names it in messages) is encrypted, read without the
 * passphrase (e.g. "PBKDF2-HMAC-SHA256, 2048 iterations, AES-256-CBC"), when that is weaker than
 * what encryptRootKey writes; undefined when it is as strong. Weaker is anything but PBES2 with
 * PBKDF2, HMAC-SHA256 or a longer hash, at least ROOT_KEY_PBKDF2_ITERATIONS and AES-256-CBC: what
 * custodians re-encrypting it with OpenSSL's defaults get (2048 iterations; -v1 PBE-SHA1-3DES,
 * -v2prf hmacWithSHA1, -scrypt at N 16384, below OWASP's 2^17), each a cheaper passphrase search of
 * a stolen copy. AES-GCM is not taken as strong either: OpenSSL does not write it in PKCS#8 and
 * Node does not open it. Another cipher than AES-256 does not cheapen the search, but is not
 * what init-root vouches for; the fix is the same command. `cheaperSearch` says whether the
 * passphrase search is cheaper (false when only the cipher differs).
 */
export function weakRootKeyEncryption(
    encryptedPem: string,
    file: string,
): { description: string; cheaperSearch: boolean } | undefined {
    const pem = encryptedRootKeyBlock(encryptedPem, file);
    let info: EncryptedPrivateKeyInfo;
    try {
        info = AsnConvert.parse(pemDecode(pem, ENCRYPTED_KEY), EncryptedPrivateKeyInfo);
    } catch {
        throw new Error(
            `${file} must hold one encrypted key, but its ${ENCRYPTED_KEY} block is no encrypted PKCS#8 key: the file was altered; restore it from the ceremony medium's backup`,
        );
    }
    const encryption = passwordEncryptionOf(info.encryptionAlgorithm);
    const searchAsCostly =
        encryption.pbes2 &&
        ROOT_KEY_PRF_HASHES.includes(encryption.prfHash) &&
        (encryption.iterations ?? 0) >= ROOT_KEY_PBKDF2_ITERATIONS;
    return searchAsCostly && encryption.cipher === "aes-256-cbc"
        ? undefined
        : { description: encryption.description, cheaperSearch: !searchAsCostly };
}

/** Opens the encrypted root key (`file` names it in messages), once encryptedRootKeyBlock took it. */
export function decryptRootKey(encryptedPem: string, passphrase: string, file: string): string {
    const pem = encryptedRootKeyBlock(encryptedPem, file);
    try {
        return crypto
            .createPrivateKey({ key: pemDecode(pem, ENCRYPTED_KEY), format: "der", type: "pkcs8", passphrase })
            .export({ type: "pkcs8", format: "pem" }) as string;
    } catch {
        throw new Error(`the passphrase does not open ${file}: wrong passphrase, or the file was altered`);
    }
}

/** A CA key's type and size as people say it: "RSA 4096", "ECDSA P-384", "Ed25519". */
function describeKey(key: crypto.KeyObject): string {
    const details = key.asymmetricKeyDetails;
    switch (key.asymmetricKeyType) {
        case "rsa":
            return `RSA ${details?.modulusLength}`;
        case "ec":
            return `ECDSA ${CURVES[details?.namedCurve ?? ""] ?? details?.namedCurve}`;
        case "ed25519":
            return "Ed25519";
        case "ed448":
            return "Ed448";
        default:
            return String(key.asymmetricKeyType);
    }
}

const CURVES: Readonly<Record<string, string>> = {
    prime256v1: "P-256",
    secp384r1: "P-384",
    secp521r1: "P-521",
};

/** The policy pack's ca-key-strength rule (policy/policies.ts): RSA 3072+ or ECDSA P-256+. */
function caKeyProblem(key: crypto.KeyObject): string | undefined {
    const details = key.asymmetricKeyDetails;
    const strong =
        (key.asymmetricKeyType === "rsa" && (details?.modulusLength ?? 0) >= 3072) ||
        (key.asymmetricKeyType === "ec" && CURVES[details?.namedCurve ?? ""] !== undefined);
    if (!strong) {
        return (
            `the CSR's key is ${describeKey(key)}; a CA key must be RSA 3072+ or ECDSA P-256, P-384 or P-521 (the policy pack's ca-key-strength rule): ` +
            `make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)`
        );
    }
    return key.asymmetricKeyType === "rsa" ? rsaKeyProblem(key) : undefined;
}

/**
 * An RSA public key that no key generator makes, which its size does not show. With exponent 1
 * a signature is the padded hash itself: anyone could sign as the CA, and OpenSSL accepts it. An
 * even modulus is no product of two odd primes.
 */
function rsaKeyProblem(key: crypto.KeyObject): string | undefined {
    const exponent = key.asymmetricKeyDetails?.publicExponent;
    if (exponent !== 65537n) {
        return (
            `the CSR's key is ${describeKey(key)} with public exponent ${exponent}; a CA's RSA key must have exponent 65537, what every tool here makes ` +
            `(the stack, openssl genpkey, Node, Go), and one of exponent 1 lets anyone sign as the CA: make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)`
        );
    }
    const modulus = Buffer.from(String(key.export({ format: "jwk" }).n), "base64url");
    if ((modulus[modulus.length - 1] & 1) === 0) {
        return (
            `the CSR's key is ${describeKey(key)} with an even modulus, which no RSA key generator makes (it is the product of two odd primes): ` +
            `make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)`
        );
    }
    return undefined;
}

/**
 * A CSR's key written in another form than the stack writes it, which OpenSSL and Node read (an EC
 * point compressed or hybrid, a curve given by explicit parameters, RSA without NULL parameters
 * or with padded integers) but Go's crypto/x509 does not: istiod and the Pulumi TLS provider could
 * not read the certificate, which carries the CSR's key as it is, and the stack would not take it
 * as its CA's (it compares the keys' PEM). Nor would the key be the same, byte for byte, as the
 * one the issuance log records for its earlier certificate, or its revocation.
 */
function encodingProblem(spki: SubjectPublicKeyInfo, spkiDer: Buffer, key: crypto.KeyObject): string | undefined {
    if (spkiDer.equals(canonicalSpki(key))) return undefined;
    const fix = "sign only the CSR the stack exported";
    if (key.asymmetricKeyType === "ec") {
        const form = new Uint8Array(spki.subjectPublicKey)[0];
        const how =
            form === 0x02 || form === 0x03
                ? "its point in compressed form"
                : form === 0x06 || form === 0x07
                  ? "its point in hybrid form"
                  : "its curve given by explicit parameters";
        return (
            `the CSR's key is ${describeKey(key)} with ${how}; a CA's key must be written as the stack writes it (a named curve, the point uncompressed), ` +
            `the only form Go reads in a certificate (istiod, the Pulumi TLS provider): ${fix}`
        );
    }
    return (
        `the CSR's key is ${describeKey(key)} encoded otherwise than the stack encodes it (RFC 3279: NULL parameters, minimal integers); ` +
        `Go would not read the certificate (istiod, the Pulumi TLS provider): ${fix}`
    );
}

/** Names of the attributes and requested extensions a CSR may carry, for messages. */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
    "1.2.840.113549.1.9.7": "challengePassword",
    "1.2.840.113549.1.9.14": "extensionRequest",
};
const EXTENSION_NAMES: Readonly<Record<string, string>> = {
    [id_ce_subjectAltName]: "subjectAltName",
    [id_ce_basicConstraints]: "basicConstraints",
    [id_ce_keyUsage]: "keyUsage",
    [id_ce_extKeyUsage]: "extKeyUsage",
    [id_ce_nameConstraints]: "nameConstraints",
};

/**
 * What a CSR asks for beyond its subject and key. The ceremony writes its own extensions and copies
 * nothing else, so any attribute (a SAN or other extension request, a challengePassword) is refused
 * rather than silently dropped.
 */
function attributeProblem(request: CertificationRequestInfo): string | undefined {
    const asked = request.attributes.flatMap((attribute) => {
        const name = ATTRIBUTE_NAMES[attribute.type] ?? attribute.type;
        if (name !== "extensionRequest") return [name];
        return attribute.values.flatMap((value) =>
            AsnConvert.parse(value, Extensions).map(
                (e) => `an extension request for ${EXTENSION_NAMES[e.extnID] ?? e.extnID}`,
            ),
        );
    });
    return asked.length === 0
        ? undefined
        : `the CSR carries ${asked.join(", ")}, which a CA certificate of this ceremony never carries ` +
              `(it writes only CA:TRUE pathlen 0, keyCertSign + cRLSign and key ids); sign only the CSR the stack exported`;
}

/** What the ceremony shows of a CSR before signing it, and checked it against. */
export interface CsrReview {
    /** The subject as RFC 4514 text in DER order, e.g. "O=Example Bank, CN=dev APIC client CA". */
    readonly subject: string;
    /** "RSA 4096", "ECDSA P-384". */
    readonly key: string;
    /** SHA-256 of the key's canonical DER SubjectPublicKeyInfo, hex. */
    readonly spkiSha256: string;
    /** Every SPKI SHA-256 an issuance log may hold for the key (older logs: the key as it was encoded). */
    readonly loggedSpkiSha256s: readonly string[];
}

/**
 * A CSR the ceremony may sign under this root, or an error saying why not: its own signature
 * verifies; its key meets the policy pack's CA rule and is not the root's; it asks for nothing but
 * a subject and a key; its subject is one common name (and an organization), not the root's; and, for a
 * root the ceremony made, the common name is one the stack gives a CA of the root's environment and
 * trust domain. A root bound to an environment alone (an earlier init-root) is refused.
 */
export function reviewCsr(
    csrPem: string,
    rootCertPem: string,
): { request: CertificationRequestInfo; review: CsrReview } {
    let csr: CertificationRequest;
    try {
        csr = AsnConvert.parse(pemDecode(csrPem, "CERTIFICATE REQUEST"), CertificationRequest);
    } catch (error) {
        throw new Error(
            `the CSR cannot be read (${(error as Error).message}); give the .csr file the stack wrote, as it is`,
        );
    }
    const request = csr.certificationRequestInfo;
    const spkiDer = toDer(request.subjectPKInfo);
    const publicKey = crypto.createPublicKey({ key: spkiDer, format: "der", type: "spki" });
    const keyProblem = caKeyProblem(publicKey);
    if (keyProblem !== undefined) throw new Error(keyProblem);
    const encoding = encodingProblem(request.subjectPKInfo, spkiDer, publicKey);
    if (encoding !== undefined) throw new Error(encoding);
    const oid = csr.signatureAlgorithm.algorithm;
    if (!Object.hasOwn(SIGNATURE_HASHES, oid))
        throw new Error(`the CSR is signed with an unsupported algorithm (${oid})`);
    const signed = Buffer.from(csr.certificationRequestInfoRaw ?? new ArrayBuffer(0));
    if (
        !crypto.verify(
            SIGNATURE_HASHES[oid],
            signed,
            { key: publicKey, dsaEncoding: "der" },
            Buffer.from(csr.signature),
        )
    ) {
        throw new Error("the CSR's signature does not verify: it was altered or not made with its key");
    }
    const attributes = attributeProblem(request);
    if (attributes !== undefined) throw new Error(attributes);

    const subjectDer = toDer(request.subject);
    const subject = new DistinguishedName(subjectDer);
    const fields = subject.toJSON().flatMap((rdn) => Object.keys(rdn).map((type) => [type, rdn[type]] as const));
    for (const [type, values] of fields) {
        // Checked before the subject is shown anywhere: an escape or line break would have the
        // terminal show another name than the one signed ("O=Example Bank" on the review line).
        const forged = values.find(hasControlCharacter);
        if (forged !== undefined) {
            throw new Error(
                `the CSR's subject ${type} is ${json(forged)}, with control characters, which would make the terminal show another name than the one signed; ` +
                    `a CA's name never has them (the stack refuses them in pki:organization): sign only the CSR the stack exported`,
            );
        }
    }
    const text = subject.toString();
    const root = parseCaCertificate(rootCertPem);
    if (spkiSha256(publicKey) === spkiSha256(new crypto.X509Certificate(rootCertPem).publicKey)) {
        throw new Error("the CSR is for the root's own key; a CA below the root needs a key of its own");
    }
    // Compared as names, not bytes: chain building matches names whatever their string types and case (RFC 5280 7.1).
    const sameName = (a: string, b: string): boolean =>
        a.toLowerCase().replace(/\s+/g, " ") === b.toLowerCase().replace(/\s+/g, " ");
    if (sameName(text, new DistinguishedName(toDer(root.tbsCertificate.subject)).toString())) {
        throw new Error(
            `the CSR's subject "${text}" is the root's own subject; a CA below the root needs a name of its own (chains would confuse the two)`,
        );
    }
    const commonNames = subject.getField("CN");
    if (
        commonNames.length !== 1 ||
        subject.getField("O").length > 1 ||
        fields.some(([type, values]) => !["CN", "O"].includes(type) || values.length !== 1)
    ) {
        throw new Error(
            `the CSR's subject is "${text}"; a CA of the stack has one common name and at most one organization (CN, O) and nothing else: sign only the CSR the stack exported`,
        );
    }
    const binding = rootBinding(rootCertPem);
    if (binding !== undefined) {
        const problem = bindingProblem(binding, "the root");
        if (problem !== undefined || binding.kind !== "bound") throw new Error(problem);
        const { environment, trustDomain, unit } = binding;
        const slot = stackCaSlot(commonNames[0], environment);
        const signs = `this root signs ${stackCaNames(environment, trustDomain).join(", ")}, with " G<n>" after a rotation`;
        if (slot === undefined) {
            throw new Error(
                `the CSR's common name "${commonNames[0]}" is not a CA of environment "${environment}", the environment this root was made for ` +
                    `(its subject has OU=${unit}): ${signs}; sign another environment's CSR with that environment's own root`,
            );
        }
        // A key of one domain never becomes a CA of another: the mesh CA's, in every cluster's
        // cacerts, would then mint what the edge trusts.
        if (trustDomain !== "shared" && trustDomainOf(slot) !== trustDomain) {
            throw new Error(
                `the CSR's common name "${commonNames[0]}" is a CA of trust domain ${trustDomainOf(slot)}, not of ${trustDomain}, the trust domain this root was made for ` +
                    `(its subject has OU=${unit}): ${signs}; sign it with the root of ${environment} made with --trust-domain ${trustDomainOf(slot)} ` +
                    `(or shared, under pki:trustDomains shared)`,
            );
        }
    }
    return {
        request,
        review: {
            subject: text,
            key: describeKey(publicKey),
            spkiSha256: spkiSha256(publicKey),
            loggedSpkiSha256s: loggedSpkiSha256s(publicKey),
        },
    };
}

/**
 * Sign an intermediate CA from its CSR, once reviewCsr accepts it: the CSR's subject and key,
 * CA:TRUE pathlen 0, keyCertSign + cRLSign, SKI and AKI. The serial is fixed only by tests.
 */
export function signIntermediate(
    args: { rootKeyPem: string; rootCertPem: string; csrPem: string; validityDays: number },
    now: Date = new Date(),
    serial: Buffer = randomSerial(),
): string {
    const rootKey = crypto.createPrivateKey(args.rootKeyPem);
    const root = parseCaCertificate(args.rootCertPem);
    const rootSpki = toDer(root.tbsCertificate.subjectPublicKeyInfo);
    if (!rootSpki.equals(crypto.createPublicKey(rootKey).export({ type: "spki", format: "der" })))
        throw new Error("the root key does not belong to the root certificate");
    // The AKI names the root's key as createRoot made its SKI, from the key itself: an SKI copied
    // from root.crt would pass on whatever bytes root.crt holds, and no verifier would chain the CA.
    const rootKeyId = subjectKeyId(root.tbsCertificate.subjectPublicKeyInfo);
    const written = subjectKeyIdOf(root);
    if (written !== undefined && !Buffer.from(written).equals(Buffer.from(rootKeyId))) {
        throw new Error(
            `the root certificate's subject key identifier (${Buffer.from(written).toString("hex")}) is not the SHA-1 of its key (${Buffer.from(rootKeyId).toString("hex")}) as init-root writes it, ` +
                `so a certificate it signs would name a key identifier its verifiers find in no root: sign with the root init-root made`,
        );
    }
    const { request } = reviewCsr(args.csrPem, args.rootCertPem);
    const notAfter = intermediateNotAfter(args.rootCertPem, args.validityDays, now);
    return caCertificate({
        serial,
        subject: request.subject,
        issuer: root.tbsCertificate.subject,
        subjectPublicKeyInfo: request.subjectPKInfo,
        notBefore: now,
        notAfter,
        pathLength: 0,
        authorityKeyId: rootKeyId,
        signer: rootKey,
    });
}

/**
 * When an intermediate signed now for `validityDays` would expire: never after the root. Nor is it
 * signed on a clock before the root was made: the machine's clock is then behind, and the
 * certificate would be dated from it, perhaps expired already when it reaches the stack.
 */
export function intermediateNotAfter(rootCertPem: string, validityDays: number, now: Date): Date {
    const validity = parseCaCertificate(rootCertPem).tbsCertificate.validity;
    const rootNotBefore = validity.notBefore.getTime();
    if (now < rootNotBefore) {
        throw new Error(
            `the clock says ${now.toISOString()}, before the root was made (notBefore ${rootNotBefore.toISOString()}); ` +
                `a certificate is dated from this clock and never before its issuer existed: set the offline machine's clock right, then sign again`,
        );
    }
    const rootNotAfter = validity.notAfter.getTime();
    const notAfter = new Date(now.getTime() + validityDays * DAY_MS);
    if (notAfter > rootNotAfter) {
        throw new Error(
            `an intermediate valid ${validityDays} days would outlive the root (until ${rootNotAfter.toISOString()}); sign for fewer days`,
        );
    }
    return notAfter;
}

/** One CRL of a series, signed. */
export interface SeriesCrl extends CrlWindow {
    readonly pem: string;
}

/**
 * The windows of the root's CRL series: `periods` CRLs from `from`, one per period of
 * `periodDays`, each valid for two periods (thisUpdate + 2 periods), so that the series has no gap
 * and the CRL published at any moment stays valid a full period longer; numbered from
 * `firstNumber` on. Every listed revocation must be dated neither after `now` nor after the
 * series starts nor before the root exists, and the series must start once the root exists and
 * end before it does.
 */
export function crlSeriesWindows(args: {
    rootCertPem: string;
    revoked: readonly RevokedEntry[];
    from: Date;
    periodDays: number;
    periods: number;
    firstNumber: number;
    now: Date;
}): CrlWindow[] {
    const validity = parseCaCertificate(args.rootCertPem).tbsCertificate.validity;
    const rootNotBefore = new Date(validity.notBefore.getTime());
    for (const r of args.revoked) {
        if (r.revokedAt > args.now) {
            throw new Error(
                `--revoke ${r.serialHex}: revoked at ${r.revokedAt.toISOString()}, which is in the future (now ${args.now.toISOString()}); give the time it was revoked`,
            );
        }
        if (r.revokedAt > args.from) {
            throw new Error(
                `--revoke ${r.serialHex}: revoked at ${r.revokedAt.toISOString()}, after the series starts (--from ${args.from.toISOString()}); ` +
                    `a CRL never lists a revocation later than its thisUpdate: start the series at ${r.revokedAt.toISOString()} or later`,
            );
        }
        // The CLI checks a certificate's own notBefore, except for one dated ahead: this bounds that too.
        if (r.revokedAt < rootNotBefore) {
            throw new Error(
                `--revoke ${r.serialHex}: revoked at ${r.revokedAt.toISOString()}, before the root was made (notBefore ${rootNotBefore.toISOString()}); ` +
                    `give the time it was revoked, ${rootNotBefore.toISOString()} or later`,
            );
        }
    }
    if (args.from < rootNotBefore) {
        throw new Error(
            `--from ${args.from.toISOString()} is before the root was made (notBefore ${rootNotBefore.toISOString()}); ` +
                `a CRL is never dated before its issuer existed: start the series at ${rootNotBefore.toISOString()} or later`,
        );
    }
    const period = args.periodDays * DAY_MS;
    const end = new Date(args.from.getTime() + (args.periods + 1) * period);
    const rootNotAfter = new Date(validity.notAfter.getTime());
    if (end > rootNotAfter) {
        throw new Error(
            `the series would be valid until ${end.toISOString()}, after the root expires (${rootNotAfter.toISOString()}); sign fewer --periods`,
        );
    }
    return Array.from({ length: args.periods }, (_, i) => ({
        thisUpdate: new Date(args.from.getTime() + i * period),
        nextUpdate: new Date(args.from.getTime() + (i + 2) * period),
        number: args.firstNumber + i,
    }));
}

/** A CRL the root signed earlier, as its issuance log records it. */
export interface LoggedCrl {
    readonly number: number;
    readonly nextUpdate: Date;
    readonly revokedSerials: readonly string[];
}

/**
 * The earlier CRLs (`earlier`, from the issuance log) still valid once a new series starts at
 * `from`, that do not revoke a serial of `revoked`: grouped by the serials they lack, each group's
 * numbers ascending and the last nextUpdate of them. Signed, they stay valid until then; a relying
 * party given them beside the new series that picks the latest thisUpdate (OpenSSL) may take one
 * of them, dated after a CRL of the new series, and miss the revocation.
 */
export function crlsOutlivedBy(args: {
    earlier: readonly LoggedCrl[];
    from: Date;
    revoked: readonly RevokedEntry[];
}): { numbers: number[]; until: Date; lacks: string[] }[] {
    const groups = new Map<string, { numbers: number[]; until: Date; lacks: string[] }>();
    for (const crl of [...args.earlier].sort((a, b) => a.number - b.number)) {
        if (crl.nextUpdate <= args.from) continue;
        const listed = new Set(crl.revokedSerials.map(normalSerial));
        const lacks = args.revoked.map((r) => r.serialHex).filter((s) => !listed.has(normalSerial(s)));
        if (lacks.length === 0) continue;
        const group = groups.get(lacks.join(" ")) ?? { numbers: [], until: crl.nextUpdate, lacks };
        group.numbers.push(crl.number);
        if (crl.nextUpdate > group.until) group.until = crl.nextUpdate;
        groups.set(lacks.join(" "), group);
    }
    return [...groups.values()];
}

/** Signs each window of a series with the root (ECDSA too: the ceremony signs once). */
export function signCrlSeries(args: {
    rootKeyPem: string;
    rootCertPem: string;
    revoked: readonly RevokedEntry[];
    windows: readonly CrlWindow[];
}): SeriesCrl[] {
    return args.windows.map((window) => ({
        ...window,
        pem: buildCrl(args.rootCertPem, args.rootKeyPem, args.revoked, window, { signedOnce: true }),
    }));
}
