/**
 * PKCS#12 (RFC 7292) keystores for APIC, written by our code so that the same key, certificates
 * and password give the same bytes (salts and IVs are derived from them, not random): an
 * unchanged stack previews without change. Two profiles:
 * - modern (OpenSSL 3's default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256 MAC;
 * - legacy (for old Java and DataPower firmware): PBE-SHA1-3DES for key and certificates, HMAC-SHA1 MAC.
 */
import * as crypto from "crypto";
import * as der from "../engine/der";
import { pemDecode } from "./pem";

export type Pkcs12Profile = "modern" | "legacy";

const OID = {
    data: "1.2.840.113549.1.7.1",
    encryptedData: "1.2.840.113549.1.7.6",
    keyBag: "1.2.840.113549.1.12.10.1.2",
    certBag: "1.2.840.113549.1.12.10.1.3",
    x509Certificate: "1.2.840.113549.1.9.22.1",
    friendlyName: "1.2.840.113549.1.9.20",
    localKeyId: "1.2.840.113549.1.9.21",
    pbes2: "1.2.840.113549.1.5.13",
    pbkdf2: "1.2.840.113549.1.5.12",
    hmacWithSha256: "1.2.840.113549.2.9",
    aes256Cbc: "2.16.840.1.101.3.4.1.42",
    pbeSha1TripleDes: "1.2.840.113549.1.12.1.3",
    sha1: "1.3.14.3.2.26",
    sha256: "2.16.840.1.101.3.4.2.1",
} as const;

export const PKCS12_ITERATIONS = 2048;

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
        // this loop is most of a keystore's cost: 2048 rounds for every endpoint on every update.
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

const attribute = (oid: string, value: Buffer): Buffer => der.sequence(der.oid(oid), der.setOf(value));

function bagAttributes(friendlyName: string, localKeyId: Buffer): Buffer {
    const bmp = der.tlv(0x1e, Buffer.from(friendlyName, "utf16le").swap16());
    return der.setOf(attribute(OID.friendlyName, bmp), attribute(OID.localKeyId, der.octetString(localKeyId)));
}

interface Encryption {
    algorithm: Buffer;
    encrypt(plain: Buffer): Buffer;
}

function encryption(profile: Pkcs12Profile, password: string, seed: Buffer, label: string): Encryption {
    if (profile === "modern") {
        const salt = derived(seed, `${label}:salt`, 16);
        const iv = derived(seed, `${label}:iv`, 16);
        const key = crypto.pbkdf2Sync(Buffer.from(password, "utf8"), salt, PKCS12_ITERATIONS, 32, "sha256");
        const params = der.sequence(
            der.sequence(
                der.oid(OID.pbkdf2),
                der.sequence(
                    der.octetString(salt),
                    der.integer(PKCS12_ITERATIONS),
                    der.sequence(der.oid(OID.hmacWithSha256), der.nullValue()),
                ),
            ),
            der.sequence(der.oid(OID.aes256Cbc), der.octetString(iv)),
        );
        return {
            algorithm: der.sequence(der.oid(OID.pbes2), params),
            encrypt: (plain) => {
                const cipher = crypto.createCipheriv("aes-256-cbc", key, iv);
                return Buffer.concat([cipher.update(plain), cipher.final()]);
            },
        };
    }
    const salt = derived(seed, `${label}:salt`, 8);
    const key = pkcs12Kdf("sha1", password, salt, 1, PKCS12_ITERATIONS, 24);
    const iv = pkcs12Kdf("sha1", password, salt, 2, PKCS12_ITERATIONS, 8);
    return {
        algorithm: der.sequence(
            der.oid(OID.pbeSha1TripleDes),
            der.sequence(der.octetString(salt), der.integer(PKCS12_ITERATIONS)),
        ),
        encrypt: (plain) => {
            const cipher = crypto.createCipheriv("des-ede3-cbc", key, iv);
            return Buffer.concat([cipher.update(plain), cipher.final()]);
        },
    };
}

const dataContentInfo = (content: Buffer): Buffer =>
    der.sequence(der.oid(OID.data), der.explicit(0, der.octetString(content)));

export interface Pkcs12Input {
    keyPem: string;
    /** The leaf, then its chain (without the root is usual), PEM. */
    certPems: string[];
    password: string;
    friendlyName: string;
    profile: Pkcs12Profile;
}

/** A PFX holding the key (shrouded) and the certificates (encrypted), with an integrity MAC. */
export function buildPkcs12(input: Pkcs12Input): Buffer {
    const keyDer = crypto.createPrivateKey(input.keyPem).export({ type: "pkcs8", format: "der" });
    const certDers = input.certPems.map((pem) => pemDecode(pem, "CERTIFICATE"));
    const localKeyId = crypto.createHash("sha1").update(certDers[0]).digest();
    const seed = crypto
        .createHash("sha256")
        .update(input.password)
        .update(keyDer)
        .update(Buffer.concat(certDers))
        .digest();

    const certBags = certDers.map((certDer, i) =>
        der.sequence(
            der.oid(OID.certBag),
            der.explicit(0, der.sequence(der.oid(OID.x509Certificate), der.explicit(0, der.octetString(certDer)))),
            ...(i === 0 ? [bagAttributes(input.friendlyName, localKeyId)] : []),
        ),
    );
    const certEncryption = encryption(input.profile, input.password, seed, "certificates");
    const encryptedCerts = der.sequence(
        der.oid(OID.encryptedData),
        der.explicit(
            0,
            der.sequence(
                der.integer(0),
                der.sequence(
                    der.oid(OID.data),
                    certEncryption.algorithm,
                    der.implicitPrimitive(0, certEncryption.encrypt(der.sequence(...certBags))),
                ),
            ),
        ),
    );

    const keyEncryption = encryption(input.profile, input.password, seed, "key");
    const shroudedKey = der.sequence(keyEncryption.algorithm, der.octetString(keyEncryption.encrypt(keyDer)));
    const keyBag = der.sequence(
        der.oid(OID.keyBag),
        der.explicit(0, shroudedKey),
        bagAttributes(input.friendlyName, localKeyId),
    );

    const authenticatedSafe = der.sequence(encryptedCerts, dataContentInfo(der.sequence(keyBag)));
    const macHash = input.profile === "modern" ? "sha256" : "sha1";
    const macSalt = derived(seed, "mac:salt", 8);
    const macKey = pkcs12Kdf(macHash, input.password, macSalt, 3, PKCS12_ITERATIONS, macHash === "sha256" ? 32 : 20);
    const mac = crypto.createHmac(macHash, macKey).update(authenticatedSafe).digest();
    const macData = der.sequence(
        der.sequence(
            der.sequence(der.oid(macHash === "sha256" ? OID.sha256 : OID.sha1), der.nullValue()),
            der.octetString(mac),
        ),
        der.octetString(macSalt),
        der.integer(PKCS12_ITERATIONS),
    );
    return der.sequence(der.integer(3), dataContentInfo(authenticatedSafe), macData);
}
