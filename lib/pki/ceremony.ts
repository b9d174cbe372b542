/**
 * The offline root ceremony, for a machine that never runs Pulumi: create the root, and sign the
 * intermediate CSRs a stack exported. Unlike @pulumi/tls, our own code can write pathlen 0, so
 * intermediates signed here cannot sign CAs themselves. Certificates are @peculiar/asn1-x509
 * TBSCertificates signed with Node's crypto (see ./x509.ts); CSRs are read with @peculiar/asn1-csr.
 */
import * as crypto from "crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
    BasicConstraints,
    Certificate,
    Extensions,
    id_ce_basicConstraints,
    id_ce_keyUsage,
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
import { CA_USES } from "../plan/plan";
import { pemDecode, pemEncode } from "./pem";
import {
    arrayBuffer,
    authorityKeyIdExtensions,
    extension,
    parseCaCertificate,
    serialNumber,
    sign,
    SIGNATURE_HASHES,
    signatureAlgorithm,
    subjectKeyIdOf,
    toDer,
} from "./x509";

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
    // @peculiar/x509's Name picks PrintableString or UTF8String per value as Go does; O before CN, Go's order.
    const name = new DistinguishedName([
        ...(spec.organization ? [{ O: [spec.organization] }] : []),
        { CN: [spec.commonName] },
    ]);
    const subject = AsnConvert.parse(name.toArrayBuffer(), Name);
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

/** The CSR, once its own signature verifies: the ceremony signs only what the key holder asked for. */
function verifiedCsr(csrPem: string): CertificationRequest {
    const csr = AsnConvert.parse(pemDecode(csrPem, "CERTIFICATE REQUEST"), CertificationRequest);
    const oid = csr.signatureAlgorithm.algorithm;
    if (!(oid in SIGNATURE_HASHES)) throw new Error(`the CSR is signed with an unsupported algorithm (${oid})`);
    const publicKey = crypto.createPublicKey({
        key: toDer(csr.certificationRequestInfo.subjectPKInfo),
        format: "der",
        type: "spki",
    });
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
    return csr;
}

/**
 * Sign an intermediate CA from its CSR: the CSR's subject and key, CA:TRUE pathlen 0,
 * keyCertSign + cRLSign, SKI and AKI. The serial is fixed only by tests.
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
    const request = verifiedCsr(args.csrPem).certificationRequestInfo;
    const rootNotAfter = root.tbsCertificate.validity.notAfter.getTime();
    const notAfter = new Date(now.getTime() + args.validityDays * DAY_MS);
    if (notAfter > rootNotAfter) {
        throw new Error(
            `an intermediate valid ${args.validityDays} days would outlive the root (until ${rootNotAfter.toISOString()}); sign for fewer days`,
        );
    }
    return caCertificate({
        serial,
        subject: request.subject,
        issuer: root.tbsCertificate.subject,
        subjectPublicKeyInfo: request.subjectPKInfo,
        notBefore: now,
        notAfter,
        pathLength: 0,
        authorityKeyId: subjectKeyIdOf(root),
        signer: rootKey,
    });
}
