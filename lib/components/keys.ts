/** Key and certificate children shared by the components: always a key, a CSR and a signed cert. */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CA_USES, KeySpec, LeafPlan, rotatedName, SubjectSpec } from "../plan/plan";

/** A CA that can sign: what a component needs of an IntermediateCa, or of a CA brought as PEM. */
export interface IssuingCa {
    /** The CA certificate. */
    readonly certPem: pulumi.Input<string>;
    /** The CA's private key (keep it a secret). */
    readonly privateKeyPem: pulumi.Input<string>;
    /** The CA certificate followed by any CA above it, without the self-signed root: what a leaf sends after itself. */
    readonly chainPem: pulumi.Input<string>;
}

export const HOURS_PER_DAY = 24;

export function privateKeyArgs(key: KeySpec): tls.PrivateKeyArgs {
    return key.algorithm === "RSA"
        ? { algorithm: "RSA", rsaBits: key.rsaBits }
        : { algorithm: "ECDSA", ecdsaCurve: key.ecdsaCurve };
}

export function subjectArgs(subject: SubjectSpec): tls.types.input.CertRequestSubject {
    return subject.organization === undefined
        ? { commonName: subject.commonName }
        : { commonName: subject.commonName, organization: subject.organization };
}

/** What a key, CSR and certificate are made from. */
export type CertificateSpec = Pick<
    LeafPlan,
    "subject" | "dnsNames" | "uris" | "allowedUses" | "key" | "validityDays" | "earlyRenewalDays" | "epoch"
>;

/**
 * A private key, a CSR and a certificate signed by `ca`, as children `<name>-key|-csr|-cert` of
 * `parent` (`<name>-r<epoch>-...` once rotated, see rotatedName).
 */
export function issueCertificate(
    parent: pulumi.Resource,
    baseName: string,
    spec: CertificateSpec,
    ca: Pick<IssuingCa, "certPem" | "privateKeyPem">,
    extra: Pick<tls.LocallySignedCertArgs, "isCaCertificate" | "maxPathLength"> = {},
): { key: tls.PrivateKey; cert: tls.LocallySignedCert } {
    const name = rotatedName(baseName, spec.epoch);
    const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(spec.key), { parent });
    const csr = new tls.CertRequest(
        `${name}-csr`,
        {
            privateKeyPem: key.privateKeyPem,
            subject: subjectArgs(spec.subject),
            ...(spec.dnsNames.length > 0 ? { dnsNames: [...spec.dnsNames] } : {}),
            ...(spec.uris.length > 0 ? { uris: [...spec.uris] } : {}),
        },
        { parent },
    );
    const cert = new tls.LocallySignedCert(
        `${name}-cert`,
        {
            certRequestPem: csr.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.privateKeyPem,
            allowedUses: [...spec.allowedUses],
            validityPeriodHours: spec.validityDays * HOURS_PER_DAY,
            earlyRenewalHours: spec.earlyRenewalDays * HOURS_PER_DAY,
            ...extra,
        },
        { parent },
    );
    return { key, cert };
}

/** A CA certificate (keyCertSign, cRLSign, CA:TRUE, no path length of its own) issued by `signer`. */
export function issueCaCertificate(
    parent: pulumi.Resource,
    name: string,
    spec: Pick<CertificateSpec, "subject" | "key" | "validityDays" | "earlyRenewalDays" | "epoch">,
    signer: Pick<IssuingCa, "certPem" | "privateKeyPem">,
): { key: tls.PrivateKey; cert: tls.LocallySignedCert } {
    return issueCertificate(parent, name, { ...spec, dnsNames: [], uris: [], allowedUses: [...CA_USES] }, signer, {
        isCaCertificate: true,
    });
}
