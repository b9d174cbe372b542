/**
 * The offline root ceremony, for a machine that never runs Pulumi: create the root, and sign the
 * intermediate CSRs a stack exported. Unlike @pulumi/tls, our own code can write pathlen 0, so
 * intermediates signed here cannot sign CAs themselves.
 */
import * as crypto from "crypto";
import * as der from "../engine/der";
import { pemDecode, pemEncode } from "./pem";
import * as x509 from "../engine/x509";
import { CA_USES } from "../plan/plan";

const DAY_MS = 86_400_000;

export interface RootSpec {
    commonName: string;
    organization?: string;
    validityDays: number;
    keyAlgorithm: "RSA" | "ECDSA";
}

function generateCaKey(algorithm: "RSA" | "ECDSA"): crypto.KeyObject {
    return algorithm === "RSA"
        ? crypto.generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey
        : crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey;
}

const serial = (): Buffer => crypto.randomBytes(16);

/** A self-signed root, pathlen 1 (intermediates allowed, nothing below them). */
export function createRoot(spec: RootSpec, now: Date = new Date()): { keyPem: string; certPem: string } {
    const key = generateCaKey(spec.keyAlgorithm);
    const subject = {
        commonName: spec.commonName,
        ...(spec.organization ? { organization: [spec.organization] } : {}),
    };
    const certDer = x509.createCertificate(
        {
            serial: serial(),
            subject,
            notBefore: now,
            notAfter: new Date(now.getTime() + spec.validityDays * DAY_MS),
            allowedUses: [...CA_USES],
            isCa: true,
            maxPathLength: 1,
            setSubjectKeyId: true,
            setAuthorityKeyId: true,
            altNames: { dnsNames: [], ipAddresses: [], uris: [] },
            publicKey: x509.keyInfo(key),
        },
        "self",
        key,
    );
    return {
        keyPem: key.export({ type: "pkcs8", format: "pem" }) as string,
        certPem: pemEncode(certDer, "CERTIFICATE"),
    };
}

/** A CSR's own signature must verify: the ceremony signs only what the key holder asked for. */
function verifyCsr(csrDer: Buffer): void {
    const [info, algorithm, signature] = der.children(der.readNode(csrDer));
    const spki = der.children(info)[2];
    const oid = der.decodeOid(der.children(algorithm)[0].content);
    const hash: Record<string, string | null> = {
        [x509.OID.sha256WithRsa]: "sha256",
        [x509.OID.ecdsaWithSha256]: "sha256",
        [x509.OID.ecdsaWithSha384]: "sha384",
        [x509.OID.ecdsaWithSha512]: "sha512",
        [x509.OID.ed25519]: null,
    };
    if (!(oid in hash)) throw new Error(`the CSR is signed with an unsupported algorithm (${oid})`);
    const publicKey = crypto.createPublicKey({ key: spki.raw, format: "der", type: "spki" });
    if (!crypto.verify(hash[oid], info.raw, { key: publicKey, dsaEncoding: "der" }, signature.content.subarray(1))) {
        throw new Error("the CSR's signature does not verify: it was altered or not made with its key");
    }
}

/** Sign an intermediate CA from its CSR: CA:TRUE pathlen 0, keyCertSign + cRLSign, SKI and AKI. */
export function signIntermediate(
    args: { rootKeyPem: string; rootCertPem: string; csrPem: string; validityDays: number },
    now: Date = new Date(),
): string {
    const rootKey = crypto.createPrivateKey(args.rootKeyPem);
    const root = x509.parseCertificate(pemDecode(args.rootCertPem, "CERTIFICATE"));
    if (!root.publicKey.spki.equals(x509.keyInfo(rootKey).spki))
        throw new Error("the root key does not belong to the root certificate");
    const csrDer = pemDecode(args.csrPem, "CERTIFICATE REQUEST");
    verifyCsr(csrDer);
    const request = x509.parseCertificateRequest(csrDer);
    const rootNotAfter = new Date(new crypto.X509Certificate(args.rootCertPem).validTo);
    const notAfter = new Date(now.getTime() + args.validityDays * DAY_MS);
    if (notAfter > rootNotAfter) {
        throw new Error(
            `an intermediate valid ${args.validityDays} days would outlive the root (until ${rootNotAfter.toISOString()}); sign for fewer days`,
        );
    }
    const certDer = x509.createCertificate(
        {
            serial: serial(),
            subject: request.subject,
            notBefore: now,
            notAfter,
            allowedUses: [...CA_USES],
            isCa: true,
            maxPathLength: 0,
            maxPathLenZero: true,
            setSubjectKeyId: true,
            setAuthorityKeyId: false,
            altNames: { dnsNames: [], ipAddresses: [], uris: [] },
            publicKey: request.publicKey,
        },
        { name: root.subjectName, subjectKeyId: root.subjectKeyId, privateKey: rootKey },
    );
    return pemEncode(certDer, "CERTIFICATE");
}
