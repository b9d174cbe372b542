/**
 * PKCS#12 (RFC 7292) keystores for APIC, written by our code so that the same key, certificates
 * and password give the same bytes (salts and IVs are derived from them, not random): an
 * unchanged stack previews without change. Two profiles:
 * - modern (OpenSSL 3's default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC;
 * - legacy, only for consumers that cannot open modern (old Java and DataPower firmware): 3DES
 *   (PBE-SHA1-3DES) for key and certificates and an HMAC-SHA1 MAC, algorithms kept for
 *   compatibility, not strength; its friendly name says so (pkcs12FriendlyName).
 * Key encryption, certificate encryption and MAC use the same iteration count.
 * The structures are @peculiar/asn1-pfx / asn1-cms / asn1-pkcs9 objects (DER by
 * @peculiar/asn1-schema); Node's crypto encrypts, derives PBKDF2 keys and computes the MAC, whose
 * key (RFC 7292 appendix B, both profiles) and the legacy profile's keys pkcs12Kdf derives in JavaScript.
 * pkcs12Certificates reads the certificates back, of these and of keystores OpenSSL or Java wrote.
 */
import * as crypto from "crypto";
import { ContentInfo, EncryptedContent, EncryptedContentInfo, id_data, id_encryptedData } from "@peculiar/asn1-cms";
import {
    AuthenticatedSafe,
    CertBag,
    id_certBag,
    id_pbeWithSHAAnd128BitRC4,
    id_pbeWithSHAAnd128BitRC2_CBC,
    id_pbeWithSHAAnd2_KeyTripleDES_CBC,
    id_pbeWithSHAAnd3_KeyTripleDES_CBC,
    id_pbeWithSHAAnd40BitRC4,
    id_pbewithSHAAnd40BitRC2_CBC,
    id_pkcs8ShroudedKeyBag,
    id_SafeContents,
    id_x509Certificate,
    MacData,
    PFX,
    PKCS12Attribute,
    PKCS8ShroudedKeyBag,
    SafeBag,
    SafeContents,
} from "@peculiar/asn1-pfx";
import { FriendlyName, id_pkcs9_at_friendlyName, id_pkcs9_at_localKeyId, LocalKeyId } from "@peculiar/asn1-pkcs9";
import { DigestInfo, id_sha1, id_sha256 } from "@peculiar/asn1-rsa";
import { AsnConvert, AsnProp, AsnPropTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { berOptions } from "./der";
import { pemDecode } from "./pem";
import { toDer } from "./x509";

export type Pkcs12Profile = "modern" | "legacy";

/** OIDs no @peculiar/asn1-* package exports. */
const OID = {
    pbes2: "1.2.840.113549.1.5.13",
    pbkdf2: "1.2.840.113549.1.5.12",
    hmacWithSha256: "1.2.840.113549.2.9",
    aes256Cbc: "2.16.840.1.101.3.4.1.42",
} as const;

// Four structures that no @peculiar/asn1-* package defines, declared with its schema decorators
// (legacy TypeScript decorators: tsconfig experimentalDecorators).

/**
 * RFC 8018 appendix A.2 PBKDF2-params: salt (the `specified` choice), iterations, keyLength (never
 * written; others' keystores may hold it), PRF (always written; hmacWithSHA1 when absent).
 */
class Pbkdf2Params {
    @AsnProp({ type: OctetString }) public salt = new OctetString();
    @AsnProp({ type: AsnPropTypes.Integer }) public iterationCount = 0;
    @AsnProp({ type: AsnPropTypes.Integer, optional: true }) public keyLength?: number;
    @AsnProp({ type: AlgorithmIdentifier, optional: true }) public prf?: AlgorithmIdentifier;
    constructor(params: Partial<Pbkdf2Params> = {}) {
        Object.assign(this, params);
    }
}

/** RFC 8018 appendix A.4 PBES2-params. */
class Pbes2Params {
    @AsnProp({ type: AlgorithmIdentifier }) public keyDerivationFunc = new AlgorithmIdentifier();
    @AsnProp({ type: AlgorithmIdentifier }) public encryptionScheme = new AlgorithmIdentifier();
    constructor(params: Partial<Pbes2Params> = {}) {
        Object.assign(this, params);
    }
}

/** RFC 7292 appendix C pkcs-12PbeParams. */
class Pkcs12PbeParams {
    @AsnProp({ type: OctetString }) public salt = new OctetString();
    @AsnProp({ type: AsnPropTypes.Integer }) public iterations = 0;
    constructor(params: Partial<Pkcs12PbeParams> = {}) {
        Object.assign(this, params);
    }
}

/** RFC 5652 section 8 EncryptedData (unprotectedAttrs never used). */
class EncryptedData {
    @AsnProp({ type: AsnPropTypes.Integer }) public version = 0;
    @AsnProp({ type: EncryptedContentInfo }) public encryptedContentInfo = new EncryptedContentInfo();
    constructor(params: Partial<EncryptedData> = {}) {
        Object.assign(this, params);
    }
}

/** Java 17's default for every PKCS#12 count (keystore.pkcs12.*IterationCount), and our floor. */
export const PKCS12_MIN_ITERATIONS = 10_000;
/**
 * The JDK refuses PKCS#12 files with larger counts (PKCS12KeyStore.MAX_ITERATION_COUNT): the most
 * a keystore that expiry opens (written by OpenSSL, Java or another tool) may ask for.
 */
export const PKCS12_MAX_ITERATIONS = 5_000_000;

/**
 * The most the modern profile writes. Its PBKDF2 (key and certificate encryption) runs in OpenSSL,
 * but its MAC key comes from RFC 7292 appendix B's KDF (pkcs12Kdf, SHA-256), which OpenSSL does not
 * offer through Node and so runs in JavaScript on the main thread: about 4 s per keystore at
 * 1,000,000 (measured), on every update and preview that builds it, and at expiry --dir, where
 * 5,000,000 took some 21 s each. The password is 32 random characters (about 190 bits), which no
 * count makes stronger; OWASP asks 600,000 for PBKDF2-HMAC-SHA256 guarding a human password.
 */
export const PKCS12_MAX_MODERN_ITERATIONS = 1_000_000;

/**
 * The most the legacy profile takes. Its KDF (RFC 7292 appendix B) runs in JavaScript, on the
 * main thread, 7 SHA-1 rounds per iteration for a keystore (3DES key and IV for the key and for
 * the certificates, and the MAC key): about 1 s per endpoint at 100,000, on every update and
 * preview that builds it, where 1,000,000 took 11 s and 5,000,000 about a minute.
 */
export const PKCS12_MAX_LEGACY_ITERATIONS = 100_000;

/**
 * Why a keystore of `profile` may not use this iteration count, or undefined: the words after the
 * option's name, ending in "got <count>" for the caller to show the value as it was given.
 * `profileKey` is how the caller names the profile's option (pkcs12Profile, pki:pkcs12Profile).
 */
export function pkcs12IterationsProblem(
    iterations: number,
    profile: Pkcs12Profile = "modern",
    profileKey = "pkcs12Profile",
): string | undefined {
    const max = profile === "legacy" ? PKCS12_MAX_LEGACY_ITERATIONS : PKCS12_MAX_MODERN_ITERATIONS;
    if (Number.isInteger(iterations) && iterations >= PKCS12_MIN_ITERATIONS && iterations <= max) return undefined;
    const upTo =
        profile === "legacy"
            ? `${max} with ${profileKey} legacy (its key derivations run in JavaScript: about 1 s per keystore at ${max}; ${profileKey} modern takes up to ${PKCS12_MAX_MODERN_ITERATIONS})`
            : `${max} (its MAC key derivation runs in JavaScript: about 4 s per keystore at ${max}; the 32-character random password gains nothing from more)`;
    return `must be a whole number from ${PKCS12_MIN_ITERATIONS} (Java 17's default) to ${upTo}; got ${iterations}`;
}

/** The friendly name (the alias keytool lists): a legacy keystore says what it is made of. */
export function pkcs12FriendlyName(name: string, profile: Pkcs12Profile): string {
    return profile === "legacy" ? `${name}-legacy-3des-sha1` : name;
}

/** The password as PKCS#12 wants it for its own KDF: BMPString (UTF-16BE) with a 2-byte terminator. */
function bmpPassword(password: string): Buffer {
    const utf16 = Buffer.from(password, "utf16le").swap16();
    return Buffer.concat([utf16, Buffer.alloc(2)]);
}

/** RFC 7292 appendix B.2 key derivation (id 1 = key, 2 = IV, 3 = MAC key). */
export function pkcs12Kdf(
    hash: "sha1" | "sha256",
    password: string,
    salt: Buffer,
    id: number,
    iterations: number,
    length: number,
): Buffer {
    const u = hash === "sha1" ? 20 : 32;
    const v = 64;
    const repeat = (data: Buffer): Buffer => {
        if (data.length === 0) return Buffer.alloc(0);
        const out = Buffer.alloc(v * Math.ceil(data.length / v));
        for (let i = 0; i < out.length; i++) out[i] = data[i % data.length];
        return out;
    };
    const D = Buffer.alloc(v, id);
    const I = Buffer.concat([repeat(salt), repeat(bmpPassword(password))]);
    const blocks: Buffer[] = [];
    for (let produced = 0; produced < length; produced += u) {
        let A = crypto.createHash(hash).update(D).update(I).digest();
        // One-shot hashing is a third faster than a Hash object per round (Node 20.12+), and
        // this loop is most of a keystore's cost: 10,000 rounds or more for every endpoint on every update.
        for (let r = 1; r < iterations; r++) A = crypto.hash(hash, A, "buffer");
        blocks.push(A);
        const B = BigInt("0x" + repeat(A).subarray(0, v).toString("hex")) + 1n;
        const modulus = 1n << BigInt(v * 8);
        for (let j = 0; j < I.length; j += v) {
            const sum = (BigInt("0x" + I.subarray(j, j + v).toString("hex")) + B) % modulus;
            Buffer.from(sum.toString(16).padStart(v * 2, "0"), "hex").copy(I, j);
        }
    }
    return Buffer.concat(blocks).subarray(0, length);
}

/** Salts and IVs from the inputs, labelled by purpose: same inputs, same bytes; different purposes never collide. */
function derived(seed: Buffer, label: string, length: number): Buffer {
    return crypto.createHmac("sha256", seed).update(label).digest().subarray(0, length);
}

/** DER of a schema object, for the fields that hold encoded values (ANY, OCTET STRING contents). */
const encoded = (value: object): ArrayBuffer => AsnConvert.serialize(value);

const algorithm = (oid: string, parameters: object): AlgorithmIdentifier =>
    new AlgorithmIdentifier({ algorithm: oid, parameters: encoded(parameters) });

/**
 * friendlyName and localKeyId, in DER's SET OF order (by encoding), which asn1-schema leaves to
 * the caller: the order flips when the friendly name is longer than 10 characters.
 */
function bagAttributes(friendlyName: string, localKeyId: Buffer): PKCS12Attribute[] {
    // Assigned, not passed: PKCS12Attribute's constructor drops its argument (asn1-pfx 2.11.1).
    const attribute = (attrId: string, value: object): PKCS12Attribute =>
        Object.assign(new PKCS12Attribute(), { attrId, attrValues: [encoded(value)] });
    return [
        attribute(id_pkcs9_at_friendlyName, new FriendlyName(friendlyName)),
        attribute(id_pkcs9_at_localKeyId, new LocalKeyId(localKeyId)),
    ].sort((a, b) => Buffer.compare(toDer(a), toDer(b)));
}

export interface Encryption {
    algorithm: AlgorithmIdentifier;
    encrypt(plain: Buffer): Buffer;
}

/**
 * PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 and AES-256-CBC: the modern keystore's encryption, and
 * the encrypted PKCS#8 of the ceremony's root key.
 */
export function pbes2Encryption(password: string, iterations: number, salt: Buffer, iv: Buffer): Encryption {
    const key = crypto.pbkdf2Sync(Buffer.from(password, "utf8"), salt, iterations, 32, "sha256");
    const kdf = new Pbkdf2Params({
        salt: new OctetString(salt),
        iterationCount: iterations,
        prf: new AlgorithmIdentifier({ algorithm: OID.hmacWithSha256, parameters: null }),
    });
    const params = new Pbes2Params({
        keyDerivationFunc: algorithm(OID.pbkdf2, kdf),
        encryptionScheme: algorithm(OID.aes256Cbc, new OctetString(iv)),
    });
    return {
        algorithm: algorithm(OID.pbes2, params),
        encrypt: (plain) => {
            const cipher = crypto.createCipheriv("aes-256-cbc", key, iv);
            return Buffer.concat([cipher.update(plain), cipher.final()]);
        },
    };
}

function encryption(
    profile: Pkcs12Profile,
    password: string,
    iterations: number,
    seed: Buffer,
    label: string,
): Encryption {
    if (profile === "modern") {
        return pbes2Encryption(
            password,
            iterations,
            derived(seed, `${label}:salt`, 16),
            derived(seed, `${label}:iv`, 16),
        );
    }
    const salt = derived(seed, `${label}:salt`, 8);
    const key = pkcs12Kdf("sha1", password, salt, 1, iterations, 24);
    const iv = pkcs12Kdf("sha1", password, salt, 2, iterations, 8);
    return {
        algorithm: algorithm(
            id_pbeWithSHAAnd3_KeyTripleDES_CBC,
            new Pkcs12PbeParams({ salt: new OctetString(salt), iterations }),
        ),
        encrypt: (plain) => {
            const cipher = crypto.createCipheriv("des-ede3-cbc", key, iv);
            return Buffer.concat([cipher.update(plain), cipher.final()]);
        },
    };
}

/** ContentInfo of type data: the DER of `content` in an OCTET STRING. */
const dataContentInfo = (content: Buffer): ContentInfo =>
    new ContentInfo({ contentType: id_data, content: encoded(new OctetString(content)) });

export interface Pkcs12Input {
    keyPem: string;
    /** The leaf, then its chain (without the root is usual), PEM. */
    certPems: string[];
    password: string;
    friendlyName: string;
    profile: Pkcs12Profile;
    /** For key encryption, certificate encryption and the MAC alike. */
    iterations: number;
}

/** A PFX holding the key (shrouded) and the certificates (encrypted), with an integrity MAC. */
export function buildPkcs12(input: Pkcs12Input): Buffer {
    const iterations = input.iterations;
    if (!Number.isInteger(iterations) || iterations < 1)
        throw new Error(`PKCS#12 iterations must be a whole number >= 1; got ${iterations}`);
    // What readers refuse, refused here (never showing the password).
    if (input.password === "")
        throw new Error("PKCS#12 password is empty, and gnutls certtool then fails the MAC; give a non-empty password");
    if (!/^[\x20-\x7e]+$/.test(input.password))
        throw new Error(
            'PKCS#12 password holds a character outside printable ASCII, and keytool refuses it ("Password is not ASCII"); give one of letters, digits and punctuation',
        );
    const privateKey = crypto.createPrivateKey(input.keyPem);
    const keyDer = privateKey.export({ type: "pkcs8", format: "der" });
    const certDers = input.certPems.map((pem) => pemDecode(pem, "CERTIFICATE"));
    const spki = (key: crypto.KeyObject): Buffer => key.export({ type: "spki", format: "der" });
    if (certDers.length === 0) throw new Error("PKCS#12 certPems is empty; give the key's certificate first");
    if (!spki(crypto.createPublicKey(privateKey)).equals(spki(new crypto.X509Certificate(certDers[0]).publicKey)))
        throw new Error(
            "PKCS#12 key does not match certPems[0], the certificate readers pair it with; give that certificate's key, or put the key's certificate first",
        );
    const localKeyId = crypto.createHash("sha1").update(certDers[0]).digest();
    const seed = crypto
        .createHash("sha256")
        .update(input.password)
        .update(keyDer)
        .update(Buffer.concat(certDers))
        .digest();

    const certBags = new SafeContents(
        certDers.map(
            (certDer, i) =>
                new SafeBag({
                    bagId: id_certBag,
                    bagValue: encoded(
                        new CertBag({ certId: id_x509Certificate, certValue: encoded(new OctetString(certDer)) }),
                    ),
                    bagAttributes: i === 0 ? bagAttributes(input.friendlyName, localKeyId) : undefined,
                }),
        ),
    );
    const certEncryption = encryption(input.profile, input.password, iterations, seed, "certificates");
    const encryptedCerts = new ContentInfo({
        contentType: id_encryptedData,
        content: encoded(
            new EncryptedData({
                encryptedContentInfo: new EncryptedContentInfo({
                    contentType: id_data,
                    contentEncryptionAlgorithm: certEncryption.algorithm,
                    encryptedContent: new EncryptedContent({
                        value: new OctetString(certEncryption.encrypt(toDer(certBags))),
                    }),
                }),
            }),
        ),
    });

    const keyEncryption = encryption(input.profile, input.password, iterations, seed, "key");
    const keyBag = new SafeBag({
        bagId: id_pkcs8ShroudedKeyBag,
        bagValue: encoded(
            new PKCS8ShroudedKeyBag({
                encryptionAlgorithm: keyEncryption.algorithm,
                encryptedData: new OctetString(keyEncryption.encrypt(keyDer)),
            }),
        ),
        bagAttributes: bagAttributes(input.friendlyName, localKeyId),
    });

    const authenticatedSafe = toDer(
        new AuthenticatedSafe([encryptedCerts, dataContentInfo(toDer(new SafeContents([keyBag])))]),
    );
    const macHash = input.profile === "modern" ? "sha256" : "sha1";
    const macSalt = derived(seed, "mac:salt", 8);
    const macKey = pkcs12Kdf(macHash, input.password, macSalt, 3, iterations, macHash === "sha256" ? 32 : 20);
    const mac = crypto.createHmac(macHash, macKey).update(authenticatedSafe).digest();
    const pfx = new PFX({
        version: 3,
        authSafe: dataContentInfo(authenticatedSafe),
        macData: new MacData({
            mac: new DigestInfo({
                digestAlgorithm: new AlgorithmIdentifier({
                    algorithm: macHash === "sha256" ? id_sha256 : id_sha1,
                    parameters: null,
                }),
                digest: new OctetString(mac),
            }),
            macSalt: new OctetString(macSalt),
            iterations,
        }),
    });
    return toDer(pfx);
}

// Reading a keystore's certificates back (expiry watches those of render's client.p12).

/** PBKDF2's PRF when its parameters name none. */
const HMAC_WITH_SHA1 = "1.2.840.113549.2.7";

/** PBKDF2's PRFs (RFC 8018 appendix B.1): HMAC with these hashes. */
const PRF_HASHES: Record<string, string> = {
    [HMAC_WITH_SHA1]: "sha1",
    "1.2.840.113549.2.8": "sha224",
    [OID.hmacWithSha256]: "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
};

interface Cipher {
    name: string;
    keyLength: number;
}

/** PBES2's ciphers (RFC 8018 appendix B.2, and AES's OIDs): Node's name, key length. */
const PBES2_CIPHERS: Record<string, Cipher> = {
    "2.16.840.1.101.3.4.1.2": { name: "aes-128-cbc", keyLength: 16 },
    "2.16.840.1.101.3.4.1.22": { name: "aes-192-cbc", keyLength: 24 },
    [OID.aes256Cbc]: { name: "aes-256-cbc", keyLength: 32 },
    "1.2.840.113549.3.7": { name: "des-ede3-cbc", keyLength: 24 },
};

/**
 * PKCS#12's own schemes (RFC 7292 appendix C): the cipher, or for RC2 and RC4 only their name,
 * since OpenSSL 3, and so Node, no longer has them (OpenSSL 1.1 encrypted certificates with 40-bit RC2).
 */
const PKCS12_PBES: Record<string, Cipher | string> = {
    [id_pbeWithSHAAnd3_KeyTripleDES_CBC]: { name: "des-ede3-cbc", keyLength: 24 },
    [id_pbeWithSHAAnd2_KeyTripleDES_CBC]: { name: "des-ede-cbc", keyLength: 16 },
    [id_pbeWithSHAAnd128BitRC4]: "128-bit RC4",
    [id_pbeWithSHAAnd40BitRC4]: "40-bit RC4",
    [id_pbeWithSHAAnd128BitRC2_CBC]: "128-bit RC2",
    [id_pbewithSHAAnd40BitRC2_CBC]: "40-bit RC2 (OpenSSL 1.1's default)",
};

/** PBES2's key derivations other than PBKDF2, by name. */
const PBES2_KDFS: Record<string, string> = { "1.3.6.1.4.1.11591.4.11": "scrypt" };

/**
 * Password-based schemes of a single algorithm by the name `openssl pkcs8 -v1` takes: PKCS#12's
 * (RFC 7292 appendix C) and PKCS#5 v1.5's PBES1 (RFC 8018 appendix A.3), whose parameters are
 * both a salt and an iteration count (Pkcs12PbeParams' shape).
 */
const PBE_NAMES: Record<string, string> = {
    [id_pbeWithSHAAnd3_KeyTripleDES_CBC]: "PBE-SHA1-3DES",
    [id_pbeWithSHAAnd2_KeyTripleDES_CBC]: "PBE-SHA1-2DES",
    [id_pbeWithSHAAnd128BitRC4]: "PBE-SHA1-RC4-128",
    [id_pbeWithSHAAnd40BitRC4]: "PBE-SHA1-RC4-40",
    [id_pbeWithSHAAnd128BitRC2_CBC]: "PBE-SHA1-RC2-128",
    [id_pbewithSHAAnd40BitRC2_CBC]: "PBE-SHA1-RC2-40",
    "1.2.840.113549.1.5.1": "PBE-MD2-DES",
    "1.2.840.113549.1.5.3": "PBE-MD5-DES",
    "1.2.840.113549.1.5.4": "PBE-MD2-RC2-64",
    "1.2.840.113549.1.5.6": "PBE-MD5-RC2-64",
    "1.2.840.113549.1.5.10": "PBE-SHA1-DES",
    "1.2.840.113549.1.5.11": "PBE-SHA1-RC2-64",
};

/**
 * How data (an encrypted PKCS#8 key, a keystore's part) is encrypted under a password, read from its
 * AlgorithmIdentifier alone, without the password. A field is undefined where the scheme has none,
 * or where it is one this package does not know (then `description` names its OID).
 */
export interface PasswordEncryption {
    /** PBES2 (RFC 8018), rather than a scheme of a single algorithm (PKCS#12's, PBES1). */
    pbes2: boolean;
    /** PBKDF2's PRF hash ("sha256"); undefined for another key derivation or scheme. */
    prfHash?: string;
    /** The key derivation's iteration count (PBKDF2's, or the single-algorithm scheme's). */
    iterations?: number;
    /** PBES2's cipher as Node names it ("aes-256-cbc"). */
    cipher?: string;
    /** As people say it: "PBKDF2-HMAC-SHA256, 2048 iterations, AES-256-CBC", "PBE-SHA1-3DES, 2048 iterations". */
    description: string;
}

/** The password-based encryption `algorithm` names (PasswordEncryption), never throwing: a part unreadable is said as such. */
export function passwordEncryptionOf(algorithm: AlgorithmIdentifier): PasswordEncryption {
    const parameters = algorithm.parameters ?? new ArrayBuffer(0);
    try {
        if (algorithm.algorithm === OID.pbes2) {
            const pbes2 = parsedAs(parameters, Pbes2Params);
            const scheme = pbes2.encryptionScheme.algorithm;
            const cipher = Object.hasOwn(PBES2_CIPHERS, scheme) ? PBES2_CIPHERS[scheme].name : undefined;
            const cipherName = cipher?.toUpperCase() ?? `cipher ${scheme}`;
            const kdfOid = pbes2.keyDerivationFunc.algorithm;
            if (kdfOid !== OID.pbkdf2) {
                return {
                    pbes2: true,
                    cipher,
                    description: `PBES2 with ${PBES2_KDFS[kdfOid] ?? `key derivation ${kdfOid}`}, ${cipherName}`,
                };
            }
            const kdf = parsedAs(pbes2.keyDerivationFunc.parameters ?? new ArrayBuffer(0), Pbkdf2Params);
            const prf = kdf.prf?.algorithm ?? HMAC_WITH_SHA1;
            const prfHash = Object.hasOwn(PRF_HASHES, prf) ? PRF_HASHES[prf] : undefined;
            const iterations = kdf.iterationCount;
            const pbkdf2 = prfHash === undefined ? `PBKDF2 with PRF ${prf}` : `PBKDF2-HMAC-${prfHash.toUpperCase()}`;
            return {
                pbes2: true,
                prfHash,
                iterations,
                cipher,
                description: `${pbkdf2}, ${iterations} iterations, ${cipherName}`,
            };
        }
        if (Object.hasOwn(PBE_NAMES, algorithm.algorithm)) {
            const iterations = parsedAs(parameters, Pkcs12PbeParams).iterations;
            return {
                pbes2: false,
                iterations,
                description: `${PBE_NAMES[algorithm.algorithm]}, ${iterations} iterations`,
            };
        }
        return { pbes2: false, description: `the scheme ${algorithm.algorithm}` };
    } catch {
        return {
            pbes2: algorithm.algorithm === OID.pbes2,
            description: `the scheme ${algorithm.algorithm}, its parameters unreadable`,
        };
    }
}

/** The MAC's hashes that pkcs12Kdf derives keys for: what render, OpenSSL and Java write. */
const MAC_HASHES: Record<string, "sha1" | "sha256"> = { [id_sha1]: "sha1", [id_sha256]: "sha256" };

/** The password does not open the keystore: its MAC does not match, or its certificates do not decrypt. */
export class Pkcs12PasswordError extends Error {}

/** The fix for a keystore this code cannot read: OpenSSL 3 writes what it reads. */
const REEXPORT = "export it again with OpenSSL 3 (openssl pkcs12 -export), or give the PEM";

/** A structure of a keystore, from its DER; one not shaped as RFC 7292 says is an error in words of our own. */
function parsedAs<T>(der: ArrayBuffer | Uint8Array, type: new () => T): T {
    try {
        return AsnConvert.parse(der, type);
    } catch {
        throw new Error("it is not shaped as RFC 7292 says (a damaged file?)");
    }
}

const octets = (der: ArrayBuffer | Uint8Array): Buffer => Buffer.from(parsedAs(der, OctetString).buffer);

/** The PFX (RFC 7292) that `der` is, or undefined when it is anything else (a certificate, a key, a PKCS#7 bundle). */
export function pfxOf(der: Buffer): PFX | undefined {
    try {
        const pfx = AsnConvert.parse(der, PFX, { berOptions: berOptions(der) });
        return pfx.version === 3 ? pfx : undefined;
    } catch {
        return undefined;
    }
}

/** A count that a keystore may ask for: at most what Java opens, so that a file cannot hang the reader. */
function iterationsOf(iterations: number): number {
    if (iterations >= 1 && iterations <= PKCS12_MAX_ITERATIONS) return iterations;
    throw new Error(`its iteration count ${iterations} is outside 1 to ${PKCS12_MAX_ITERATIONS} (the most Java opens)`);
}

/**
 * The encrypted parts a keystore may have: render, OpenSSL 3 and Java write one (the certificates,
 * however many), and one more is allowed as a margin for other tools. Each costs a KDF.
 */
export const PKCS12_MAX_ENCRYPTED_PARTS = 2;
/**
 * The iterations a keystore may ask for in all, its MAC's and its encrypted parts': a MAC and one
 * encrypted part at PKCS12_MAX_ITERATIONS each, the most Java opens (render writes at most
 * PKCS12_MAX_MODERN_ITERATIONS; another tool's keystore may ask for more). The MAC's KDF and the
 * legacy one run in JavaScript (such a legacy keystore takes some 16 s to read): without a total, a
 * file of many parts would hold the monitoring job for minutes.
 */
export const PKCS12_MAX_TOTAL_ITERATIONS = 2 * PKCS12_MAX_ITERATIONS;

/**
 * The iteration count of an encrypted part's key derivation (at most what Java opens); 0 for a
 * scheme that `decrypted` refuses before deriving a key.
 */
function partIterations(algorithm: AlgorithmIdentifier): number {
    const parameters = algorithm.parameters ?? new ArrayBuffer(0);
    if (algorithm.algorithm === OID.pbes2) {
        const kdf = parsedAs(parameters, Pbes2Params).keyDerivationFunc;
        if (kdf.algorithm !== OID.pbkdf2) return 0;
        return iterationsOf(parsedAs(kdf.parameters ?? new ArrayBuffer(0), Pbkdf2Params).iterationCount);
    }
    if (typeof PKCS12_PBES[algorithm.algorithm] !== "object") return 0;
    return iterationsOf(parsedAs(parameters, Pkcs12PbeParams).iterations);
}

/** Decrypts data a keystore encrypted under `password` with PBES2 or PKCS#12's own scheme. */
function decrypted(algorithm: AlgorithmIdentifier, password: string, data: Buffer): Buffer {
    const parameters = algorithm.parameters ?? new ArrayBuffer(0);
    let cipher: Cipher | undefined;
    let key: Buffer;
    let iv: Buffer;
    if (algorithm.algorithm === OID.pbes2) {
        const pbes2 = parsedAs(parameters, Pbes2Params);
        const kdf =
            pbes2.keyDerivationFunc.algorithm === OID.pbkdf2
                ? parsedAs(pbes2.keyDerivationFunc.parameters ?? new ArrayBuffer(0), Pbkdf2Params)
                : undefined;
        const hash = PRF_HASHES[kdf?.prf?.algorithm ?? HMAC_WITH_SHA1];
        cipher = PBES2_CIPHERS[pbes2.encryptionScheme.algorithm];
        if (kdf === undefined || hash === undefined || cipher === undefined) {
            throw new Error(
                `its certificates are encrypted with PBES2 using ${pbes2.keyDerivationFunc.algorithm} and ${pbes2.encryptionScheme.algorithm}, which this package does not read; ${REEXPORT}`,
            );
        }
        const salt = Buffer.from(kdf.salt.buffer);
        key = crypto.pbkdf2Sync(password, salt, iterationsOf(kdf.iterationCount), cipher.keyLength, hash);
        iv = octets(pbes2.encryptionScheme.parameters ?? new ArrayBuffer(0));
    } else {
        const scheme = PKCS12_PBES[algorithm.algorithm];
        if (typeof scheme !== "object") {
            const what =
                scheme === undefined
                    ? `${algorithm.algorithm}, which this package does not read`
                    : `${scheme}, which Node cannot decrypt`;
            throw new Error(`its certificates are encrypted with ${what}; ${REEXPORT}`);
        }
        cipher = scheme;
        const pbe = parsedAs(parameters, Pkcs12PbeParams);
        const salt = Buffer.from(pbe.salt.buffer);
        key = pkcs12Kdf("sha1", password, salt, 1, iterationsOf(pbe.iterations), cipher.keyLength);
        iv = pkcs12Kdf("sha1", password, salt, 2, pbe.iterations, 8);
    }
    try {
        const decipher = crypto.createDecipheriv(cipher.name, key, iv);
        return Buffer.concat([decipher.update(data), decipher.final()]);
    } catch {
        throw new Pkcs12PasswordError("its certificates do not decrypt with it (a wrong password, or a damaged file)");
    }
}

/** Checks the keystore's MAC over its contents with `password`. */
function checkMac(macData: MacData, authenticatedSafe: Buffer, password: string): void {
    const algorithm = macData.mac.digestAlgorithm.algorithm;
    const hash = MAC_HASHES[algorithm];
    if (hash === undefined)
        throw new Error(`its MAC uses ${algorithm}, which this package does not check; ${REEXPORT}`);
    const salt = Buffer.from(macData.macSalt.buffer);
    const key = pkcs12Kdf(hash, password, salt, 3, iterationsOf(macData.iterations), hash === "sha256" ? 32 : 20);
    const mac = crypto.createHmac(hash, key).update(authenticatedSafe).digest();
    const given = Buffer.from(macData.mac.digest.buffer);
    if (given.length !== mac.length || !crypto.timingSafeEqual(given, mac))
        throw new Pkcs12PasswordError("its MAC does not match (a wrong password, or a damaged file)");
}

/** The X.509 certificates of safe bags, nested ones too; keys, CRLs and secrets are left alone. */
function bagCertificates(bags: SafeContents): Buffer[] {
    return Array.from(bags).flatMap((bag) => {
        if (bag.bagId === id_SafeContents) return bagCertificates(parsedAs(bag.bagValue, SafeContents));
        if (bag.bagId !== id_certBag) return [];
        const certBag = parsedAs(bag.bagValue, CertBag);
        return certBag.certId === id_x509Certificate ? [octets(certBag.certValue)] : [];
    });
}

/**
 * The certificates (DER, in order) of a PKCS#12 keystore, opened with `password`. The work it
 * asks for is bounded first (PKCS12_MAX_ENCRYPTED_PARTS, PKCS12_MAX_TOTAL_ITERATIONS), then the MAC
 * checked, so that a wrong password is told as such (Pkcs12PasswordError), then the certificate
 * bags decrypted; key bags are never decrypted. A keystore without a MAC is refused: its integrity
 * cannot be checked, nor the password before every part is decrypted. Throws an error whose
 * message says what is wrong, in words of our own, never the password.
 */
export function pkcs12Certificates(pfx: PFX, password: string): Buffer[] {
    if (pfx.authSafe.contentType !== id_data)
        throw new Error(
            `it is signed with a key (public-key integrity), which this package does not read; ${REEXPORT}`,
        );
    // asn1-pfx fills an absent macData (openssl pkcs12 -nomac) with an empty one: no algorithm.
    const macData = pfx.macData?.mac.digestAlgorithm.algorithm ? pfx.macData : undefined;
    if (macData === undefined)
        throw new Error(
            "it has no MAC (openssl pkcs12 -nomac), so its integrity cannot be checked, nor the password before its parts are decrypted; export it again with OpenSSL 3 (openssl pkcs12 -export, without -nomac), or give the PEM",
        );
    const authenticatedSafe = octets(pfx.authSafe.content);
    const parts = Array.from(parsedAs(authenticatedSafe, AuthenticatedSafe)).map((part) => ({
        part,
        info:
            part.contentType === id_encryptedData
                ? parsedAs(part.content, EncryptedData).encryptedContentInfo
                : undefined,
    }));
    const encryptedParts = parts.flatMap(({ info }) => (info === undefined ? [] : [info]));
    if (encryptedParts.length > PKCS12_MAX_ENCRYPTED_PARTS)
        throw new Error(
            `it has ${encryptedParts.length} encrypted parts, more than the ${PKCS12_MAX_ENCRYPTED_PARTS} this package reads (render, OpenSSL 3 and Java write one); ${REEXPORT}`,
        );
    const iterations = encryptedParts.reduce(
        (sum, info) => sum + partIterations(info.contentEncryptionAlgorithm),
        iterationsOf(macData.iterations),
    );
    if (iterations > PKCS12_MAX_TOTAL_ITERATIONS)
        throw new Error(
            `its MAC and encrypted parts ask for ${iterations} iterations in all, more than the ${PKCS12_MAX_TOTAL_ITERATIONS} this package reads (a MAC and one encrypted part at ${PKCS12_MAX_ITERATIONS} each, the most Java opens); ${REEXPORT}`,
        );
    checkMac(macData, authenticatedSafe, password);
    return parts.flatMap(({ part, info }) => {
        if (part.contentType === id_data) return bagCertificates(parsedAs(octets(part.content), SafeContents));
        if (info === undefined)
            throw new Error(
                `a part of it is encrypted for a recipient's key (${part.contentType}), which this package does not read; ${REEXPORT}`,
            );
        const content = info.encryptedContent;
        const encrypted = Buffer.concat(
            (content?.value !== undefined ? [content.value] : (content?.constructedValue ?? [])).map((o) =>
                Buffer.from(o.buffer),
            ),
        );
        return bagCertificates(parsedAs(decrypted(info.contentEncryptionAlgorithm, password, encrypted), SafeContents));
    });
}

/** How many keystores `cachedPkcs12` keeps: the client bundles of a few large stacks (a few KiB each). */
export const PKCS12_CACHE_SIZE = 256;
const recentKeystores = new Map<string, Buffer>();

const cacheId = (input: Pkcs12Input): string =>
    crypto.hash(
        "sha256",
        JSON.stringify([
            input.keyPem,
            input.certPems,
            input.password,
            input.friendlyName,
            input.profile,
            input.iterations,
        ]),
        "hex",
    );

/**
 * buildPkcs12 through a cache of the keystores this process built last (least recently used
 * dropped first). A keystore costs three KDFs of 10,000 rounds or more, the largest part of an
 * update after key generation, and is a pure function of its inputs: a process that runs the same
 * program again (the testing harness, once per test case; the Automation API) gets the same bytes
 * without paying for them again. Entries are keyed by a SHA-256 of the inputs, so no key or
 * password is kept in the clear; callers get a copy, never the cached buffer.
 */
export function cachedPkcs12(input: Pkcs12Input): Buffer {
    const id = cacheId(input);
    let keystore = recentKeystores.get(id);
    if (keystore) recentKeystores.delete(id);
    else keystore = buildPkcs12(input);
    recentKeystores.set(id, keystore);
    if (recentKeystores.size > PKCS12_CACHE_SIZE) recentKeystores.delete(recentKeystores.keys().next().value!);
    return Buffer.from(keystore);
}

/** For tests: whether `cachedPkcs12` holds this input's keystore, and how many it holds. */
export const pkcs12Cache = {
    holds: (input: Pkcs12Input): boolean => recentKeystores.has(cacheId(input)),
    size: (): number => recentKeystores.size,
};
