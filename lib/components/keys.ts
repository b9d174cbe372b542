/** Key and certificate children shared by the components: always a key, a CSR and a signed cert. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { KeyAlgorithm } from "../config/types";
import { characterCount, hasControlCharacter, isMap, Json, showJson, typographicQuoteProblem } from "../config/values";
import { defaultEarlyRenewalDays, MAX_COMMON_NAME_LENGTH, MAX_VALIDITY_DAYS } from "../config/validate";
import { CA_USES, KeySpec, LeafPlan, RequestSubjectSpec, rotatedName, SubjectSpec } from "../plan/plan";
import { PRIVATE_KEY_FORMS, PrivateKeyLabel, privateKeyLabelOf } from "../pki/der";
import {
    pastedKeyProblem,
    pastedPrivateKey,
    pemBlocks,
    pemDecode,
    pemEncode,
    pemTextProblem,
    privateKeyLabel,
    providerPem,
    runTogetherPemBlock,
    runTogetherProblem,
} from "../pki/pem";
import {
    DatedPath,
    issuerDatesProblem,
    LeafPurpose,
    nameBytesProblem,
    nameConstraintProblem,
    nameList,
    pathLengthProblem,
    pathOf,
    purposeProblem,
    signatureProblem,
    SignedName,
    signingCaProblem,
    unhandledExtensionProblem,
} from "../pki/issuerChecks";
import { caFlags } from "../pki/trustBundle";
import { caSubject, dirName } from "../pki/asn1";
import { isRootCopy, isSelfSigned, isVersion1, signedBy, subjectOf, VERSION_1_CA } from "../pki/x509";

import { isGiven, isLater, refuseOutput } from "./arguments";
import { CheckClock, checkClock } from "./checkClock";
import { argumentError } from "./errors";
import { chainCertificatesOf, joinPemOutputs } from "./pem";

export { argumentError, isGiven };
// The components import these of the issuer checks from here, with the rest.
export type { LeafPurpose, SignedName } from "../pki/issuerChecks";

/** The key and validity settings of a component's certificate, as its args give them. */
export interface CertificateSettings {
    readonly keyAlgorithm?: KeyAlgorithm;
    readonly validityDays?: number;
    readonly earlyRenewalDays?: number;
}

/**
 * Those settings with the defaults every component documents: RSA, the component's own validity,
 * and the last third of the validity as the early-renewal window. Out-of-range days are refused
 * here, naming the component and the argument, rather than by the provider at `pulumi up` in its
 * own terms (hours).
 */
export function certificateSettings(
    args: CertificateSettings,
    defaultValidityDays: number,
    component: string,
    resource: pulumi.Resource,
): Required<CertificateSettings> {
    refuseOutput(args.validityDays, `${component} validityDays`, resource);
    refuseOutput(args.earlyRenewalDays, `${component} earlyRenewalDays`, resource);
    const validityDays = args.validityDays ?? defaultValidityDays;
    const refuse = (problem: string) => {
        throw argumentError(`${component} ${problem}`, resource);
    };
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
        refuse(
            `validityDays must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}; got ${showJson(validityDays as Json)}. Set it within that range or leave it unset (${defaultValidityDays})`,
        );
    }
    const earlyRenewalDays = args.earlyRenewalDays ?? defaultEarlyRenewalDays(validityDays);
    if (!Number.isInteger(earlyRenewalDays) || earlyRenewalDays < 0 || earlyRenewalDays >= validityDays) {
        refuse(
            `earlyRenewalDays must be a whole number of days from 0 to ${validityDays - 1} (below validityDays); got ${showJson(earlyRenewalDays as Json)}. Lower it or leave it unset (a third of validityDays)`,
        );
    }
    const keyAlgorithm = choice(
        args.keyAlgorithm,
        Object.values(KeyAlgorithm),
        "RSA",
        `${component} keyAlgorithm`,
        resource,
    );
    return { keyAlgorithm, validityDays, earlyRenewalDays };
}

/**
 * An argument that must be one of `allowed` (or unset, for `fallback`). TypeScript checks it at
 * compile time; a program in another language (through the component provider) may pass any
 * string, and "rsa" must not quietly become the other algorithm.
 */
export function choice<T extends string>(
    value: T | undefined,
    allowed: readonly T[],
    fallback: T,
    what: string,
    resource: pulumi.Resource,
): T {
    if (!isGiven(value)) return fallback;
    refuseOutput(value, what, resource);
    if (!allowed.includes(value)) {
        throw argumentError(
            `${what} must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}; got ${showJson(value as Json)}`,
            resource,
        );
    }
    return value;
}

/** The subject of a certificate. */
export interface CertificateSubject {
    /** Common name (CN); a CA needs one. */
    readonly commonName: string;
    /**
     * Organization (O).
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
}

/** A CA that can sign: what a component needs of an IntermediateCa, or of a CA brought as PEM. */
export interface IssuingCa {
    /** The CA certificate. */
    readonly certPem: pulumi.Input<string>;
    /** The CA's private key (keep it a secret). */
    readonly privateKeyPem: pulumi.Input<string>;
    /** The CA certificate followed by any CA above it, without the self-signed root: what a leaf sends after itself. */
    readonly chainPem: pulumi.Input<string>;
}

export const SUBJECT_INPUTS: InputNames<CertificateSubject> = { commonName: "required", organization: "optional" };
export const ISSUING_CA_INPUTS: InputNames<IssuingCa> = {
    certPem: "required",
    privateKeyPem: "required",
    chainPem: "required",
};

export const HOURS_PER_DAY = 24;

export function privateKeyArgs(key: KeySpec): tls.PrivateKeyArgs {
    return key.algorithm === "RSA"
        ? { algorithm: "RSA", rsaBits: key.rsaBits }
        : { algorithm: "ECDSA", ecdsaCurve: key.ecdsaCurve };
}

/**
 * Refuses a CA subject that RFC 5280 cannot carry (ub-common-name and ub-organization-name: 64
 * characters) or that names nothing, as the stack's config does, naming the component.
 */
export function checkCaSubject(subject: CertificateSubject, component: string, resource: pulumi.Resource): void {
    refuseOutput(subject, `${component} subject`, resource);
    refuseNonMap(subject, SUBJECT_INPUTS, `${component} subject`, resource);
    const fields: [string, unknown][] = [["commonName", subject.commonName]];
    if (isGiven(subject.organization)) fields.push(["organization", subject.organization]);
    for (const [field, value] of fields) {
        refuseOutput(value, `${component} subject.${field}`, resource);
        // X.509 counts characters (code points, as OpenSSL does and as pki:organization is
        // checked), not JavaScript's UTF-16 units: an emoji is one character, not two.
        const characters = typeof value === "string" ? characterCount(value) : 0;
        if (typeof value !== "string" || value.trim() === "" || characters > MAX_COMMON_NAME_LENGTH) {
            throw argumentError(
                `${component} subject.${field} must be 1 to ${MAX_COMMON_NAME_LENGTH} characters (RFC 5280), not blank; got ${showJson(value as Json | undefined)}${typeof value === "string" ? ` (${characters})` : ""}`,
                resource,
            );
        }
        // As the stack's pki:organization: a line break or escape would forge what tools print of the name.
        if (hasControlCharacter(value)) {
            throw argumentError(
                `${component} subject.${field} must not contain control characters; got ${showJson(value)}`,
                resource,
            );
        }
        const quoted = typographicQuoteProblem(value, showJson(value), `the CA's subject ${field}`);
        if (quoted !== undefined) throw argumentError(`${component} subject.${field} ${quoted}`, resource);
    }
}

/** The provider's subject: a CSR's may name no CN (customerFacingSubject), a CA's always does. */
export function subjectArgs(subject: CertificateSubject | RequestSubjectSpec): tls.types.input.CertRequestSubject {
    return {
        ...(subject.commonName !== undefined ? { commonName: subject.commonName } : {}),
        ...(isGiven(subject.organization) ? { organization: subject.organization } : {}),
    };
}

/** What a key, CSR and certificate are made from. */
export type CertificateSpec = Pick<
    LeafPlan,
    "subject" | "dnsNames" | "uris" | "allowedUses" | "key" | "validityDays" | "earlyRenewalDays" | "epoch"
>;

/**
 * A private key, a CSR and a certificate signed by `ca` (a checkedIssuer's), as children
 * `<name>-key|-csr|-cert` of `parent` (`<name>-r<epoch>-...` once rotated, see rotatedName); the
 * key waits for the issuer's check and the component's other `checked` outputs (afterCheck). A
 * leaf gets a Subject Key Identifier (RFC 5280 section 4.2.1.2: SHOULD); a CA has one through
 * isCaCertificate, and not setting the flag on CAs keeps their inputs, so deployed CAs are not
 * replaced.
 */
export function issueCertificate(
    parent: pulumi.Resource,
    baseName: string,
    spec: CertificateSpec,
    ca: Pick<IssuingCa, "certPem" | "privateKeyPem">,
    extra: Pick<tls.LocallySignedCertArgs, "isCaCertificate" | "maxPathLength"> = {},
    checked: pulumi.Input<unknown>[] = [],
): { key: tls.PrivateKey; csr: tls.CertRequest; cert: tls.LocallySignedCert } {
    const { name, key, csr } = keyAndRequest(parent, baseName, spec, afterCheck(ca.certPem, ...checked));
    const cert = new tls.LocallySignedCert(`${name}-cert`, locallySignedCertArgs(csr.certRequestPem, spec, ca, extra), {
        parent,
    });
    return { key, csr, cert };
}

/** The inputs of the `tls` LocallySignedCert that issueCertificate registers (see there). */
export function locallySignedCertArgs(
    certRequestPem: pulumi.Input<string>,
    spec: Pick<CertificateSpec, "allowedUses" | "validityDays" | "earlyRenewalDays">,
    ca: Pick<IssuingCa, "certPem" | "privateKeyPem">,
    extra: Pick<tls.LocallySignedCertArgs, "isCaCertificate" | "maxPathLength"> = {},
): tls.LocallySignedCertArgs {
    return {
        certRequestPem,
        caCertPem: ca.certPem,
        caPrivateKeyPem: ca.privateKeyPem,
        allowedUses: [...spec.allowedUses],
        validityPeriodHours: spec.validityDays * HOURS_PER_DAY,
        earlyRenewalHours: spec.earlyRenewalDays * HOURS_PER_DAY,
        ...(extra.isCaCertificate ? {} : { setSubjectKeyId: true }),
        ...extra,
    };
}

/**
 * The key and CSR children (`<name>-key`, `<name>-csr`); the certificate comes from a CA here or
 * elsewhere. The key, and so the CSR, waits for `dependsOn`.
 */
export function keyAndRequest(
    parent: pulumi.Resource,
    baseName: string,
    spec: Pick<CertificateSpec, "dnsNames" | "uris" | "key" | "epoch"> & { readonly subject: RequestSubjectSpec },
    dependsOn?: pulumi.Input<pulumi.Resource[]>,
): { name: string; key: tls.PrivateKey; csr: tls.CertRequest } {
    // The epoch is part of the children's names: -1 or 1.5 would name resources, not rotate them.
    refuseOutput(spec.epoch, `${baseName}: epoch`, parent);
    if (!Number.isInteger(spec.epoch) || spec.epoch < 0) {
        throw argumentError(
            `${baseName}: epoch must be a whole number from 0 (raise it by one to rotate); got ${showJson(spec.epoch as Json)}`,
            parent,
        );
    }
    const name = rotatedName(baseName, spec.epoch);
    const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(spec.key), { parent, dependsOn });
    const csr = new tls.CertRequest(`${name}-csr`, certRequestArgs(key.privateKeyPem, spec), { parent });
    return { name, key, csr };
}

/** The inputs of the `tls` CertRequest that keyAndRequest registers: SANs only when there are some. */
export function certRequestArgs(
    privateKeyPem: pulumi.Input<string>,
    spec: Pick<CertificateSpec, "dnsNames" | "uris"> & { readonly subject: RequestSubjectSpec },
): tls.CertRequestArgs {
    return {
        privateKeyPem,
        subject: subjectArgs(spec.subject),
        ...(spec.dnsNames.length > 0 ? { dnsNames: [...spec.dnsNames] } : {}),
        ...(spec.uris.length > 0 ? { uris: [...spec.uris] } : {}),
    };
}

/**
 * A root CA that signs, as PEM: its certificate and private key. A RootCa of the program is one;
 * from other languages, pass its `certPem` and `privateKeyPem` outputs.
 */
export interface RootCaPem {
    /** The self-signed root certificate. */
    readonly certPem: pulumi.Input<string>;
    /** The root's private key (keep it a secret). */
    readonly privateKeyPem: pulumi.Input<string>;
}

export const ROOT_CA_PEM_INPUTS: InputNames<RootCaPem> = { certPem: "required", privateKeyPem: "required" };

/** An existing CA given as PEM, key included (e.g. a CA kept outside this stack). */
export interface CaSigner {
    /** The CA certificate. */
    readonly certPem: pulumi.Input<string>;
    /** The CA's private key (keep it a secret). */
    readonly privateKeyPem: pulumi.Input<string>;
    /** The self-signed root above it; the CA itself when it is the root. */
    readonly rootCertPem: pulumi.Input<string>;
    /**
     * The signer's own certificate and any CA up to the root, without the root; a signer below
     * the root must give it.
     * Default: "" (the signer is the root itself).
     * @default "" (the signer is the root itself)
     */
    readonly chainPem?: pulumi.Input<string>;
}

/** A CA signed on the offline machine: this program makes the key and CSR, the ceremony signs. */
export interface OfflineSigner {
    /** The offline root. */
    readonly rootCertPem: pulumi.Input<string>;
    /**
     * The certificate the ceremony signed from this CA's CSR.
     * Default: none (until the ceremony has signed: the CA has a key and CSR, no certificate).
     * @default none (until the ceremony has signed: the CA has a key and CSR, no certificate)
     */
    readonly signedCertPem?: pulumi.Input<string>;
}

export const CA_SIGNER_INPUTS: InputNames<CaSigner> = {
    certPem: "required",
    privateKeyPem: "required",
    rootCertPem: "required",
    chainPem: "optional",
};
export const OFFLINE_SIGNER_INPUTS: InputNames<OfflineSigner> = { rootCertPem: "required", signedCertPem: "optional" };

/**
 * The stack file's key of each offlineRoot the stack program builds (offlineSignerFromStackFile):
 * refusals of its signedCertPem name that key, which a stack user sets, beside the component's
 * input. Kept out of the inputs: a component's user (TypeScript, Python, YAML) has no stack file.
 */
const stackFileKeys = new WeakMap<OfflineSigner, string>();

/** `signer`, noted as given from the stack file's `key` (pki:offlineRoots.<root>.intermediates.<id>). */
export function offlineSignerFromStackFile(signer: OfflineSigner, key: string): OfflineSigner {
    stackFileKeys.set(signer, key);
    return signer;
}

/** Where a CA's offline signature came from and which CSR it must sign, as its refusals word them. */
interface SignatureSource {
    /** The input (and, from the stack program, the stack file's key) that gave it. */
    readonly what: string;
    /** The CSR, as its user gets it: the component's csrPem output, or the stack's CSR resource. */
    readonly csr: string;
}

function signatureSource(component: string, name: string, signer: OfflineSigner | undefined): SignatureSource {
    const input = `${component} offlineRoot.signedCertPem of ${name}`;
    const stackFileKey = signer === undefined ? undefined : stackFileKeys.get(signer);
    return stackFileKey === undefined
        ? { what: input, csr: `the CSR in the csrPem output of ${component} ${name}` }
        : { what: `${input} (in a stack file: ${stackFileKey})`, csr: `the CSR ${name}-csr of this stack` };
}

export interface CaCertificate {
    readonly privateKeyPem: pulumi.Output<string>;
    /** The CSR (what the ceremony signs when the root is offline). */
    readonly csrPem: pulumi.Output<string>;
    /** The CA certificate; "" while an offline signature is pending. */
    readonly certPem: pulumi.Output<string>;
    /** The certificate and any CA between it and the root. */
    readonly chainPem: pulumi.Output<string>;
    readonly rootCertPem: pulumi.Output<string>;
}

/**
 * A CA certificate (keyCertSign, cRLSign, CA:TRUE): issued here by `signer` (no path length of
 * its own: @pulumi/tls cannot write 0), or, with an offline root, taken from the ceremony after a
 * check that it certifies this CA's own key. `component` names the component in its refusals, and
 * `given`, the offlineRoot as given, tells whether the stack program gave it (signatureSource).
 * The key waits for the component's other `checked` outputs too (afterCheck).
 */
export function issueCaCertificate(
    parent: pulumi.Resource,
    name: string,
    spec: Pick<CertificateSpec, "subject" | "key" | "validityDays" | "earlyRenewalDays" | "epoch">,
    signer: CaSigner | OfflineSigner,
    component: string,
    given?: OfflineSigner,
    checked: pulumi.Input<unknown>[] = [],
): CaCertificate {
    const full = { ...spec, dnsNames: [], uris: [], allowedUses: [...CA_USES] };
    if ("privateKeyPem" in signer) {
        const { key, csr, cert } = issueCertificate(parent, name, full, signer, { isCaCertificate: true }, checked);
        return {
            privateKeyPem: pulumi.secret(key.privateKeyPem),
            csrPem: csr.certRequestPem,
            certPem: cert.certPem,
            // Without the root a signer's chainPem may end in (as leaves take it: chainCertificatesOf),
            // which trustBundlePem adds once.
            chainPem: joinPemOutputs(cert.certPem, chainCertificatesOf(signer.chainPem)),
            rootCertPem: pulumi.output(signer.rootCertPem),
        };
    }
    const rootCertPem = pulumi.output(signer.rootCertPem).apply((pem) => offlineRootAlone(name, pem, parent));
    // Not before the offline root passes its checks (given as an output, it is checked in applies).
    const { key, csr } = keyAndRequest(parent, name, full, afterCheck(rootCertPem, ...checked));
    const certPem = pulumi
        .all([signer.signedCertPem ?? "", key.publicKeyPem, rootCertPem])
        .apply(([signed, publicKeyPem, rootPem]) => {
            const source = signatureSource(component, name, given);
            const checked = checkSignedFor(source.what, source.csr, signed, publicKeyPem, parent, strayCaAdvice);
            if (checked === "") return "";
            refuseUnlessCaOf(source, checked, rootPem, parent);
            return caCertificateAlone(source, checked, parent);
        });
    return {
        privateKeyPem: pulumi.secret(key.privateKeyPem),
        csrPem: csr.certRequestPem,
        certPem,
        chainPem: joinPemOutputs(certPem),
        rootCertPem,
    };
}

/**
 * Why `text`, given as a CA's rootCertPem, is not one self-signed root CA certificate Node reads,
 * or undefined; `give` is the fix, as the input's refusals word it. What follows the first
 * certificate would be a trust anchor too wherever the CA's rootCertPem goes (istiod's
 * root-cert.pem, a truststore), and checks of the root read the first alone; two run together on
 * one line count as one block, so they are looked for first. Node also reads an "X509
 * CERTIFICATE" or "TRUSTED CERTIFICATE" block, which Go does not: it is read as it goes on
 * (issuerCertPem re-encodes a CERTIFICATE block, and fails on anything else).
 */
function rootCertificateProblem(text: string, give: string): string | undefined {
    const joined = runTogetherPemBlock(text);
    if (joined !== undefined) return `has ${runTogetherProblem(joined)}; ${give}`;
    const count = pemBlocks(text, "CERTIFICATE").length;
    if (count > 1) {
        return `holds ${count} certificates, and each would be a trust anchor wherever this CA's rootCertPem is trusted; ${give}`;
    }
    let root: crypto.X509Certificate;
    try {
        root = new crypto.X509Certificate(issuerCertPem(text));
    } catch {
        return `is not a certificate in PEM; ${give}`;
    }
    if (isVersion1(root)) return `(${subjectOf(root)}) is ${VERSION_1_CA}`;
    return root.ca && isSelfSigned(root) ? undefined : `is not a self-signed root CA certificate; ${give}`;
}

/**
 * offlineRoot.rootCertPem of CA `name`, refused unless it is one self-signed root CA certificate
 * (rootCertificateProblem). Given on as the provider writes PEM (issuerCertPem), as the config's
 * offline roots are: a byte order mark before it (Notepad), which Go and BoringSSL would take for
 * no BEGIN line in root-cert.pem, or CRLF, is dropped.
 */
function offlineRootAlone(name: string, rootCertPem: string, resource: pulumi.Resource): string {
    const problem = rootCertificateProblem(
        rootCertPem,
        "give the offline root's certificate alone (root.crt of the ceremony)",
    );
    if (problem !== undefined) throw argumentError(`offlineRoot.rootCertPem of ${name} ${problem}`, resource);
    return issuerCertPem(rootCertPem);
}

/**
 * The ceremony's certificate for a CA (`source` names its input and CSR) as its one CERTIFICATE block,
 * as the provider writes PEM: it is this CA's certPem and chain, which istiod's cacerts and APIC's
 * keystore get as they are, so text pasted around it (an `openssl x509 -text` dump, "Bag
 * Attributes", CRLF) is dropped and a chain (the root appended) is refused.
 */
function caCertificateAlone(source: SignatureSource, signedCertPem: string, resource: pulumi.Resource): string {
    const count = pemBlocks(signedCertPem.replace(/\r\n/g, "\n"), "CERTIFICATE").length;
    if (count > 1) {
        throw argumentError(
            `${source.what} holds ${count} certificates; give only the certificate signed for ${source.csr} (the file ceremony sign wrote), not a chain`,
            resource,
        );
    }
    return pemEncode(new crypto.X509Certificate(signedCertPem).raw, "CERTIFICATE");
}

/**
 * Refuses the ceremony's certificate for a CA (`source` names its input and CSR) unless it is a CA that
 * may sign certificates, signed by the offline root: else every chain this CA hands out would fail
 * to verify (as the stack's own check of pki:offlineRoots says before anything is made).
 */
function refuseUnlessCaOf(
    source: SignatureSource,
    signedCertPem: string,
    rootCertPem: string,
    resource: pulumi.Resource,
): void {
    const cert = new crypto.X509Certificate(signedCertPem);
    const root = new crypto.X509Certificate(rootCertPem); // one certificate: offlineRootAlone
    const { ca, certSign } = caFlags(cert);
    if (!ca || !certSign) {
        throw argumentError(
            `${source.what} is not a CA certificate (${!ca ? "CA:FALSE" : "its keyUsage lacks keyCertSign"}), so verifiers would accept nothing it signs: ` +
                `sign ${source.csr} as a CA (keyCertSign, cRLSign, CA:TRUE)`,
            resource,
        );
    }
    if (!signedBy(cert, root)) {
        throw argumentError(
            `${source.what} is not signed by offlineRoot.rootCertPem (${subjectOf(root)}), so the chains it hands out would not verify: ` +
                `sign ${source.csr} with that root`,
            resource,
        );
    }
}

/**
 * The ceremony's certificate for a CA certifies another key: a CA of the root all the same, whose
 * key this stack does not hold (a substituted or stale CSR). It stays trusted until revoked, so
 * the refusal names what to revoke, not only what to sign.
 */
const strayCaAdvice = (cert: crypto.X509Certificate): string =>
    `The root made that certificate (serial ${cert.serialNumber}) a CA for a key this stack does not hold, and it stays one until ${new Date(cert.validTo).toISOString()}: ` +
    `find out whose key it is, and revoke it in the root's next CRL series (ceremony crl ... --revoke ${cert.serialNumber}:keyCompromise:${new Date(cert.validFrom).toISOString()}); ` +
    `a relying party that reads no CRL (APIC) trusts it until the root is replaced`;

/**
 * Why certificate text `what` names may not be used, when a private key was pasted with it (cat
 * root.crt root.key): the text would go on as it is, in clear, into outputs, Secrets' tls.crt,
 * trust bundles and chains. Undefined: no key in it.
 */
function pastedKeyIn(text: string, what: string, give: string): string | undefined {
    const found = pastedPrivateKey(text);
    return found === undefined
        ? undefined
        : `${what} ${pastedKeyProblem(found, "certificates are handed out and stored in clear", give)}`;
}

/** Refuses certificate text with a private key pasted in it (pastedKeyIn). */
export function refusePastedKey(text: string, what: string, give: string, resource: pulumi.Resource): void {
    const problem = pastedKeyIn(text, what, give);
    if (problem !== undefined) throw argumentError(problem, resource);
}

/**
 * A certificate signed elsewhere (the ceremony, a public CA) must certify this key, else the CSR
 * it signed (`csr` names it as its user gets it) was another one. `what` names the input it came
 * as, as refusals of the other arguments do; `advice(cert)`, when given, is added to the refusal.
 */
export function checkSignedFor(
    what: string,
    csr: string,
    signedCertPem: string,
    publicKeyPem: string,
    resource: pulumi.Resource,
    advice?: (cert: crypto.X509Certificate) => string,
): string {
    if (signedCertPem === "") return "";
    refusePastedKey(signedCertPem, what, "the certificate only", resource);
    let cert: crypto.X509Certificate;
    try {
        cert = new crypto.X509Certificate(signedCertPem);
    } catch {
        throw argumentError(`${what} is not a certificate in PEM; give the certificate signed for ${csr}`, resource);
    }
    if (cert.publicKey.export({ type: "spki", format: "pem" }) !== publicKeyPem) {
        throw argumentError(
            `${what} certifies another key: sign ${csr}` + (advice === undefined ? "" : `. ${advice(cert)}`),
            resource,
        );
    }
    return signedCertPem;
}

/** The parts of a CA that signs in this program, as its caller gives them (all PEM). */
interface IssuerParts {
    readonly certPem: string;
    readonly privateKeyPem: string;
    /**
     * The CA's certificate and any CA above it ("" for a root); it may end in the root, or in a
     * copy of it (pathOf).
     */
    readonly chainPem?: string;
    /** The self-signed root at the top. */
    readonly rootCertPem?: string;
    /** The CA must be that root itself (a RootCa argument). */
    readonly root?: boolean;
    /**
     * It signs a CA (IntermediateCa, MeshPluginCa), which counts against every pathlen above it,
     * and which hands rootCertPem on as its own (checkedIssuer requires it).
     */
    readonly signsCa?: boolean;
    /**
     * The extended key usages of the leaves it signs, or that the CA it makes signs (a MeshPluginCa's
     * workloads: serverAuth and clientAuth), which every CA above them must allow.
     */
    readonly signsFor?: LeafPurpose | readonly LeafPurpose[];
    /**
     * Go verifies the chains below it (istiod, a MeshPluginCa's): Go counts self-issued CAs against
     * a pathlen, where OpenSSL and BoringSSL skip them (RFC 5280 section 6.1.4 (l)).
     */
    readonly verifiedByGo?: boolean;
    /** The names the certificates it signs carry, which every CA above them must allow (nameConstraintProblem). */
    readonly signsNames?: readonly SignedName[];
}

/** The subject of a leaf as @pulumi/tls writes it (caSubject: Go's order and string types), as a SignedName. */
export const subjectSignedName = (subject: SubjectSpec, input = "the subject"): SignedName => ({
    ...dirName(caSubject(subject)),
    type: "DirName",
    input,
});

const spkiOf = (key: crypto.KeyObject): Buffer => key.export({ type: "spki", format: "der" });

/** The curves Go's crypto/x509 parses EC keys on (namedCurveFromOID), by OpenSSL's names. */
const GO_CURVES = ["secp224r1", "prime256v1", "secp384r1", "secp521r1"];

/**
 * Why @pulumi/tls cannot sign with a CA key (Go's parsers take RSA, ECDSA on the NIST curves and
 * Ed25519 keys only: a brainpool key fails with "x509: unknown elliptic curve"), or undefined.
 * A weak key it can sign with (RSA-1024, P-224, Ed25519) is no problem here: every consumer accepts
 * the chains it signs (Envoy's BoringSSL and OpenSSL under Envoy's rules, istiod's Go; Java opens
 * keystores holding them), so the bank's strength rule is the policy pack's (ca-key-strength).
 */
function signingKeyProblem(key: crypto.KeyObject): string | undefined {
    const type = key.asymmetricKeyType ?? "unknown";
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const give = "give a CA whose key is RSA, Ed25519 or ECDSA on P-224, P-256, P-384 or P-521";
    if (type === "ec" && !GO_CURVES.includes(curve ?? "")) {
        return `privateKeyPem holds an ECDSA key on ${curve ?? "explicit curve parameters"}, which @pulumi/tls cannot sign with (Go's crypto/x509: "unknown elliptic curve"); ${give}`;
    }
    if (!["rsa", "ec", "ed25519"].includes(type)) {
        return `privateKeyPem holds a key of type ${type.toUpperCase()}, which @pulumi/tls cannot sign with (Go's crypto/x509 parses RSA, ECDSA and Ed25519 keys only); ${give}`;
    }
    return undefined;
}

/**
 * Why a CA key that does not read is refused when it is encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY",
 * or OpenSSL's legacy Proc-Type: 4,ENCRYPTED header), or undefined: @pulumi/tls takes no password.
 * The fix decrypts it into a file only its owner can read, which goes into the stack's config as a
 * secret and is then deleted: a decrypted CA key must not be left in clear on disk or in git.
 */
function encryptedKeyProblem(text: string): string | undefined {
    const label = privateKeyLabel(text);
    const legacy = /^Proc-Type:[^\S\n]*4,ENCRYPTED/m.test(text);
    if (label !== "ENCRYPTED PRIVATE KEY" && !legacy) return undefined;
    return (
        `privateKeyPem is encrypted (a "${label ?? "PRIVATE KEY"}" PEM block${legacy ? " with Proc-Type: 4,ENCRYPTED" : ""}), and @pulumi/tls takes no password to sign with it; ` +
        "give it decrypted, as a secret: (umask 077; openssl pkey -in ca.key -out ca.key.dec), then " +
        "pulumi config set --secret <name> < ca.key.dec (read it with requireSecret), and delete ca.key.dec"
    );
}

/**
 * Why privateKeyPem's PEM label names another form than its DER holds (a PKCS#8 key under "RSA
 * PRIVATE KEY"), or undefined: @pulumi/tls picks Go's parser by the label and fails at the first
 * certificate it signs, where OpenSSL and Node read a PKCS#8 key under any label.
 */
function keyLabelProblem(text: string): string | undefined {
    const label = privateKeyLabel(text);
    if (label === undefined || !Object.hasOwn(PRIVATE_KEY_FORMS, label)) return undefined;
    let holds: PrivateKeyLabel | undefined;
    try {
        holds = privateKeyLabelOf(pemDecode(text, label));
    } catch {
        return undefined; // not read here either: refused below as no key
    }
    if (holds === undefined || holds === label) return undefined;
    return (
        `privateKeyPem holds a ${PRIVATE_KEY_FORMS[holds]} key under the PEM label "${label}", which @pulumi/tls reads as ${PRIVATE_KEY_FORMS[label as PrivateKeyLabel]} ` +
        `(it picks Go's parser by the label: "x509: failed to parse private key"); label it as its form: -----BEGIN ${holds}----- and -----END ${holds}-----`
    );
}

/**
 * An issuer's certificate and key as the signing resources get them (providerPem: the key keeps
 * its PEM type). Given as they came, a change of issuer after a "Bag Attributes" preamble (openssl
 * pkcs12 -nodes) or CRLF line ends would be an in-place update to @pulumi/tls: the certificates
 * would stay signed by the old CA while the outputs name the new one. Throw when there is no block.
 */
const issuerCertPem = (text: string): string => providerPem(text, "CERTIFICATE");
const issuerKeyPem = (text: string): string => providerPem(text, privateKeyLabel(text) ?? "PRIVATE KEY");

/** The certificates of an issuer: certPem first, then those above it in chainPem; and rootCertPem. */
interface IssuerCertificates {
    readonly chain: readonly crypto.X509Certificate[];
    readonly root?: crypto.X509Certificate;
}

/**
 * The certificates of an issuer whose parts make one CA that can sign, or why they do not (the
 * provider would sign with them anyway, or fail with Go's message, and the chains handed out would
 * not verify): certPem a CA certificate, privateKeyPem its key (each as the provider gets it, and
 * one Go's crypto/x509 reads), chainPem starting with it and each certificate signed by the next,
 * up to rootCertPem, a self-signed root.
 */
function issuerCertificatesOf(parts: IssuerParts): IssuerCertificates | string {
    // A key pasted with the certificates (a combined file) would go wherever they go in clear,
    // the signing resources' caCertPem input in the state included.
    for (const name of ["certPem", "chainPem", "rootCertPem"] as const) {
        const pasted = pastedKeyIn(parts[name] ?? "", name, "certificates only");
        if (pasted !== undefined) return pasted;
    }
    const cert = signingCertificateOf(parts.certPem);
    if (typeof cert === "string") return cert;
    const keyProblem = issuerKeyProblem(parts.privateKeyPem, cert);
    if (keyProblem !== undefined) return keyProblem;
    const chain = chainOf(parts, cert);
    if (typeof chain === "string") return chain;
    const root = parts.rootCertPem === undefined ? undefined : rootAbove(chain, parts.rootCertPem);
    if (typeof root === "string") return root;
    const problem =
        signatureProblem(chain, root, parts.verifiedByGo === true) ??
        (parts.verifiedByGo === true ? nameBytesProblem(chain, root) : undefined) ??
        pathLengthProblem(chain, root, parts.signsCa === true, parts.verifiedByGo === true) ??
        purposeProblem(chain, root, [parts.signsFor ?? []].flat(), parts.signsCa === true) ??
        unhandledExtensionProblem(chain, root, parts.verifiedByGo === true) ??
        nameConstraintProblem(chain, root, parts.signsNames ?? []);
    return problem ?? { chain, root };
}

/** certPem as the provider gets it, or why it cannot sign: no CA certificate, or one Go does not read. */
function signingCertificateOf(certPem: string): crypto.X509Certificate | string {
    let cert: crypto.X509Certificate;
    try {
        cert = new crypto.X509Certificate(issuerCertPem(certPem));
    } catch {
        return "certPem is not a certificate in PEM";
    }
    const notCa = signingCaProblem(cert, `certPem (${subjectOf(cert)})`);
    if (notCa !== undefined) return notCa;
    // Go 1.23 and later refuse to parse it (pulumi-tls sets no x509negativeserial GODEBUG).
    if (cert.serialNumber.startsWith("-")) {
        return `certPem (${subjectOf(cert)}) has a negative serial number (${cert.serialNumber}), which @pulumi/tls cannot read (Go's crypto/x509: "negative serial number"; RFC 5280 requires a positive one); re-issue the CA certificate with a positive serial, or give another CA`;
    }
    return cert;
}

/** Why privateKeyPem, as the provider gets it, is not a key it can sign with, or not the key of `cert`. */
function issuerKeyProblem(privateKeyPem: string, cert: crypto.X509Certificate): string | undefined {
    const mislabelled = keyLabelProblem(privateKeyPem);
    if (mislabelled !== undefined) return mislabelled;
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey(issuerKeyPem(privateKeyPem));
    } catch {
        return encryptedKeyProblem(privateKeyPem) ?? "privateKeyPem is not a private key in PEM";
    }
    const unusable = signingKeyProblem(key);
    if (unusable !== undefined) return unusable;
    if (!spkiOf(crypto.createPublicKey(key)).equals(spkiOf(cert.publicKey))) {
        return "privateKeyPem is not the key of certPem";
    }
    return undefined;
}

/**
 * The issuer's chain, `cert` (certPem) first, then each certificate above it in chainPem, or why
 * chainPem is no such chain (or, for a RootCa argument, certPem no root).
 */
function chainOf(parts: IssuerParts, cert: crypto.X509Certificate): crypto.X509Certificate[] | string {
    const isRoot = isSelfSigned(cert);
    if (parts.root === true && !isRoot) {
        return `certPem (${subjectOf(cert)}) is not a self-signed root; give a root here, or this CA as issuer with its chainPem and rootCertPem`;
    }
    // Left out, chainPem is "" (a root signs): a CA below the root would hand out chains that
    // stop at it, which no verifier holding only the root can complete.
    if (parts.chainPem === undefined) {
        return isRoot
            ? [cert]
            : `chainPem is missing and certPem (${subjectOf(cert)}) is not a root; give its certificate and every CA above it, up to the root`;
    }
    const blocks: crypto.X509Certificate[] = [];
    for (const [i, pem] of pemBlocks(parts.chainPem, "CERTIFICATE").entries()) {
        try {
            blocks.push(new crypto.X509Certificate(pem));
        } catch {
            return `chainPem holds, as certificate ${i + 1}, a PEM block that is not an X.509 certificate; give the CA's certificate and every CA above it, up to the root, in PEM`;
        }
    }
    if (blocks.length === 0 && !isRoot) {
        return "chainPem holds no certificate; give the CA's certificate and every CA above it, up to the root";
    }
    // A repeated certificate or one out of place is refused, not mended: it is a sign that the file
    // was put together by hand, and its owner should see what else it holds.
    for (let i = 1; i < blocks.length; i++) {
        const first = blocks.findIndex((earlier) => earlier.raw.equals(blocks[i].raw));
        if (first < i) {
            return `chainPem holds ${subjectOf(blocks[i])} twice (certificates ${first + 1} and ${i + 1}); remove the repeated ${subjectOf(blocks[i])}`;
        }
    }
    const place = blocks.findIndex((block) => block.raw.equals(cert.raw));
    if (place > 0) {
        const reversed = [...blocks].reverse();
        const upsideDown =
            place === blocks.length - 1 && reversed.every((b, i) => i === 0 || signedBy(reversed[i - 1], b));
        const where = upsideDown
            ? `is in reverse order: certPem (${subjectOf(cert)}) is the last of its ${blocks.length} certificates`
            : `has certPem (${subjectOf(cert)}) as certificate ${place + 1} of ${blocks.length}, where it must be the first`;
        return `chainPem ${where}; give certPem first, then each issuer upward`;
    }
    if (blocks.length > 0 && !blocks[0].raw.equals(cert.raw)) return "chainPem does not start with certPem";
    for (let i = 1; i < blocks.length; i++) {
        if (!signedBy(blocks[i - 1], blocks[i])) {
            return `chainPem is not a chain: ${subjectOf(blocks[i - 1])} is not signed by the certificate after it`;
        }
    }
    return [cert, ...blocks.slice(1)];
}

/** rootCertPem as the provider gets it, or why it is no root (rootCertificateProblem) or not the one `chain` leads to. */
function rootAbove(chain: readonly crypto.X509Certificate[], rootCertPem: string): crypto.X509Certificate | string {
    const notRoot = rootCertificateProblem(rootCertPem, "give the root alone");
    if (notRoot !== undefined) return `rootCertPem ${notRoot}`;
    const root = new crypto.X509Certificate(issuerCertPem(rootCertPem));
    // A copy of the root with its key and subject (renewed, or cross-signed by an older root)
    // reaches it: verifiers holding the root stop there (pathOf).
    const top = chain[chain.length - 1];
    if (!isRootCopy(top, root) && !signedBy(top, root)) {
        return `the chain does not lead to rootCertPem: ${subjectOf(top)} is not signed by it`;
    }
    return root;
}

/** The DatedPath of a sound issuer's certificates: certPem and the rest of its path (pathOf). */
function datedPathOf({ chain, root }: IssuerCertificates): DatedPath {
    const path = pathOf(chain, root);
    // certPem is dated even when it is a copy of the root that rootCertPem stands in for: it signs.
    return { certs: path[0] === chain[0] ? path : [chain[0], ...path], root };
}

/** What each part of an issuer must be PEM text of, for the refusal of one that is no text. */
const PART_HOLDS = {
    certPem: "a certificate",
    privateKeyPem: "a private key",
    chainPem: "certificates",
    rootCertPem: "a certificate",
} as const;
type IssuerPart = keyof typeof PART_HOLDS;

/** Refuses a part of the issuer `label` names that is no text, naming it and what it must hold. */
function refuseNotText(parts: Partial<Record<IssuerPart, unknown>>, label: string, resource: pulumi.Resource): void {
    for (const [part, value] of Object.entries(parts)) {
        const notText = pemTextProblem(value, PART_HOLDS[part as IssuerPart]);
        if (notText !== undefined) throw argumentError(`${label}: ${part} ${notText}`, resource);
    }
}

/** What an issuer is used for, which issuerCertificatesOf holds its parts against (see IssuerParts). */
type IssuerUse = Pick<IssuerParts, "root" | "signsCa" | "signsFor" | "verifiedByGo" | "signsNames">;

/**
 * An issuer's parts, as given or as their outputs resolved, for issuerCertificatesOf: each is
 * refused by name when it is no text, a required one when it is missing or resolved to nothing (a
 * StackReference's missing output) too. Required are certPem and privateKeyPem, and a CA
 * signer's rootCertPem (`signsCa`): the CA hands it on as its own rootCertPem and trust bundle,
 * which would fail on nothing with a TypeError. An optional part left out or resolved to nothing
 * is left out.
 */
function issuerParts(
    given: Record<IssuerPart, unknown>,
    use: IssuerUse,
    label: string,
    resource: pulumi.Resource,
): IssuerParts {
    const { certPem, privateKeyPem, chainPem, rootCertPem } = given;
    refuseNotText(
        {
            certPem,
            privateKeyPem,
            ...(isGiven(chainPem) ? { chainPem } : {}),
            ...(isGiven(rootCertPem) || use.signsCa === true ? { rootCertPem } : {}),
        },
        label,
        resource,
    );
    return {
        certPem: certPem as string,
        privateKeyPem: privateKeyPem as string,
        chainPem: (chainPem ?? undefined) as string | undefined,
        rootCertPem: (rootCertPem ?? undefined) as string | undefined,
        ...use,
    };
}

/**
 * Issuers checked already, by a SHA-256 of their parts, with the certificates whose dates each use
 * checks again: a stack's CAs sign many certificates, and are read once.
 */
const soundIssuers = new Map<string, DatedPath>();

/**
 * Refuses an issuer's parts, naming it as `label` does, unless they make one CA that can sign
 * (issuerCertificatesOf, once for each issuer) whose certificates are valid at `clock`'s time.
 */
function checkIssuer(parts: IssuerParts, clock: CheckClock, label: string, resource: pulumi.Resource): void {
    const id = crypto.hash("sha256", JSON.stringify(parts), "hex");
    let dated = soundIssuers.get(id);
    if (dated === undefined) {
        const certificates = issuerCertificatesOf(parts);
        if (typeof certificates === "string") throw argumentError(`${label}: ${certificates}`, resource);
        dated = datedPathOf(certificates);
        soundIssuers.set(id, dated);
    }
    // The dates at each use: the clock moves on, and a plan's may read another time.
    const late = issuerDatesProblem(dated, clock());
    if (late !== undefined) throw argumentError(`${label}: ${late}`, resource);
}

/**
 * The issuer with its certPem checked against its other parts (issuerCertificatesOf) before anything
 * signs with it: at once when every part is plain text (a program in another language passes
 * PEM so), else once the outputs resolve. `label` names the component and argument. Its certPem
 * and privateKeyPem are as the signing resources must get them (issuerCertPem, issuerKeyPem).
 * `use`: what it signs and who verifies that (IssuerParts); one that signs a CA (`signsCa`) needs
 * rootCertPem as it needs certPem (issuerParts).
 */
export function checkedIssuer<T extends { certPem: pulumi.Input<string>; privateKeyPem: pulumi.Input<string> }>(
    issuer: T & { chainPem?: pulumi.Input<string>; rootCertPem?: pulumi.Input<string> },
    label: string,
    resource: pulumi.Resource,
    use: IssuerUse = {},
): T {
    const clock: CheckClock = checkClock();
    warnPlainKey(issuer.privateKeyPem, label, resource);
    // Named one by one: an issuer given as one output (a secret object from another language) has
    // its members only as lifted properties, which a spread ({ ...issuer }) would drop.
    const members = {
        certPem: issuer.certPem,
        privateKeyPem: issuer.privateKeyPem,
        ...(isGiven(issuer.chainPem) ? { chainPem: issuer.chainPem } : {}),
        ...(isGiven(issuer.rootCertPem) ? { rootCertPem: issuer.rootCertPem } : {}),
    };
    // A part that is no text (a list, a number: a slip in YAML or Python) would fail as a TypeError
    // with its stack; given plain, it is refused at once.
    refuseNotText(Object.fromEntries(Object.entries(members).filter(([, value]) => !isLater(value))), label, resource);
    const values = [members.certPem, members.privateKeyPem, members.chainPem, members.rootCertPem] as const;
    if (values.every((v) => v === undefined || typeof v === "string")) {
        const [certPem, privateKeyPem, chainPem, rootCertPem] = values;
        const parts = issuerParts({ certPem, privateKeyPem, chainPem, rootCertPem }, use, label, resource);
        checkIssuer(parts, clock, label, resource);
        return {
            ...members,
            certPem: issuerCertPem(parts.certPem),
            privateKeyPem: issuerKeyPem(parts.privateKeyPem),
            ...(parts.rootCertPem !== undefined ? { rootCertPem: issuerCertPem(parts.rootCertPem) } : {}),
        } as unknown as T;
    }
    // The verdict alone (true) leaves the secret key's output, so that certPem stays as secret as
    // it was given: a certificate marked secret would hide its changes from previews.
    const verdict = pulumi.unsecret(
        pulumi
            .all([members.certPem, members.privateKeyPem, members.chainPem, members.rootCertPem])
            .apply(([certPem, privateKeyPem, chainPem, rootCertPem]) => {
                // An issuer given as one output has every member, given or not: resolved to nothing, an
                // optional one is left out (issuerParts).
                const parts = issuerParts({ certPem, privateKeyPem, chainPem, rootCertPem }, use, label, resource);
                checkIssuer(parts, clock, label, resource);
                return true;
            }),
    );
    const certPem = pulumi.all([members.certPem, verdict]).apply(([checked]) => issuerCertPem(checked));
    const privateKeyPem = pulumi.all([members.privateKeyPem, verdict]).apply(([checked]) => issuerKeyPem(checked));
    // rootCertPem goes on as the provider writes PEM too (one certificate: issuerCertificatesOf):
    // istiod's root-cert.pem takes it as it is, and Go skips a block after a byte order mark.
    const rootCertPem =
        members.rootCertPem === undefined
            ? {}
            : {
                  rootCertPem: pulumi
                      .all([members.rootCertPem, verdict])
                      .apply(([checked]) => (checked == null ? checked : issuerCertPem(checked))),
              };
    return { ...members, certPem, privateKeyPem, ...rootCertPem } as unknown as T;
}

/** The SDK's ComponentProvider file, whose construct() the plugin host calls for another language's program. */
let componentProviderFile: string | null | undefined;

/**
 * Whether the component is being constructed for a program in another language: the plugin host
 * (the SDK's ComponentProvider.construct) calls its constructor, which runs this synchronously.
 *
 * It reads the raw call sites, not the stack's text: source-map-support, which the plugin host
 * loads, and `node --enable-source-maps` both rewrite the SDK's frame in that text to the
 * provider.ts it was compiled from, so a match on the text never matched there.
 */
function constructedForAnotherLanguage(): boolean {
    if (componentProviderFile === undefined) {
        try {
            componentProviderFile = require.resolve("@pulumi/pulumi/provider/experimental/provider");
        } catch {
            componentProviderFile = null; // an SDK without it constructs nothing for another language
        }
    }
    const file = componentProviderFile;
    if (file === null) return false;
    // A run may keep no stack traces (runWithStandIn's default): this one needs its frames. A
    // prepareStackTrace set before (source-map-support's) is put back as it was, whatever happens.
    const limit = Error.stackTraceLimit;
    const prepare = Error.prepareStackTrace;
    Error.stackTraceLimit = 64;
    Error.prepareStackTrace = (_error, callSites) => callSites;
    try {
        const holder: { stack?: unknown } = {};
        Error.captureStackTrace(holder, constructedForAnotherLanguage);
        const callSites = holder.stack;
        // The SDK's own file, not any class of that name (a user's provider that makes these
        // components as children of its own records none of their inputs).
        return (
            Array.isArray(callSites) &&
            callSites.some(
                (site: NodeJS.CallSite) => site.getFileName() === file && site.getFunctionName() === "construct",
            )
        );
    } finally {
        Error.prepareStackTrace = prepare;
        Error.stackTraceLimit = limit;
    }
}

/**
 * Warns, naming the issuer `label` names and never the key, when its private key came from a
 * program in another language as no secret (a file it read itself: Python's open(), YAML's
 * fn::readFile): Pulumi records a remote component's inputs in that program's state as they come.
 * A TypeScript program's are not recorded (the component registers none), nor is the key, which
 * @pulumi/tls keeps secret.
 */
function warnPlainKey(key: unknown, label: string, resource: pulumi.Resource): void {
    if (!isGiven(key) || !constructedForAnotherLanguage()) return;
    const warn = (): void =>
        void pulumi.log.warn(
            `${label}.privateKeyPem came as plain text, not a secret: Pulumi records this component's inputs in the stack's state as they come, so the key is there in clear. ` +
                "Wrap it: pulumi.Output.secret(...) in Python, fn::secret in YAML",
            resource,
        );
    if (!isLater(key)) {
        warn();
        return;
    }
    pulumi
        .isSecret(pulumi.output(key))
        .then((secret) => (secret ? undefined : warn()))
        .catch(() => undefined); // a failed output is refused where it is used
}

/**
 * A dependsOn that holds a child back until every output of `checked` (a check raised in an apply:
 * checkedIssuer's certPem, checkedTrustBundle's, withCrls') has resolved, and fails with the first
 * refusal. A child that takes nothing from a checked value (a key and its CSR, a Gateway, a
 * DestinationRule) would be registered before the refusal: `pulumi up` would leave it made, a
 * Gateway naming a Secret that never is. An unknown value (a preview) holds nothing back: the SDK
 * takes an unknown dependsOn as the resources the value comes from.
 */
export function afterCheck(...checked: pulumi.Input<unknown>[]): pulumi.Output<pulumi.Resource[]> {
    return pulumi.all(checked).apply(() => []);
}

/** Every input name of T, once, and whether T requires it: the compiler refuses a list that differs. */
export type InputNames<T> = {
    readonly [K in keyof Required<T>]: Partial<Pick<T, K>> extends Pick<T, K> ? "optional" : "required";
};

/** The inputs as a reader writes such an object: `{ commonName, organization? }`, optional ones marked. */
const inputShape = <T>(known: InputNames<T>): string =>
    `{ ${Object.entries(known)
        .map(([name, need]) => (need === "required" ? name : `${name}?`))
        .sort()
        .join(", ")} }`;

/** What a value that is no map is, as a refusal names a secret one without showing it. */
const kindOf = (value: unknown): string =>
    typeof value === "string"
        ? "string"
        : Array.isArray(value)
          ? "list"
          : typeof value === "number" || typeof value === "boolean"
            ? typeof value
            : "value";

/**
 * Refuses input names `value` has and `known` lacks, then required ones it lacks. TypeScript
 * refuses both at compile time, but a program in another language (through the component
 * provider) sends what it is given: a misspelt `strictMTLS` or `validityDay` would leave the
 * default in force without a word, a missing `clientCa` fail as a JavaScript error, a missing
 * endpoint id name the secret "apic-mtls-undefined". A value given that is no object is refused
 * as such (refuseNonMap), before any resource: a PEM text given where the CA belongs (YAML
 * `issuer: ${caKeyPem}`) would else be refused for the certPem it lacks. Only plain objects have
 * their names checked: a RootCa or IntermediateCa given as an issuer has other members too.
 * Values are never shown: a misspelt name's value may be a private key. Returns the value to read
 * the members from: itself, or, given as one output, that output checked once it resolves.
 */
export function checkInputNames<T>(value: T, known: InputNames<T>, what: string, resource: pulumi.Resource): T {
    // Given as one output (YAML fn::secret, a Python apply returning a dict: the SDK wraps the whole
    // object when its top-level value is secret), its names are known only once it resolves: the
    // same check then, on the output its members are read from, so that a misspelt name is refused
    // as in a plain object, not as the required member it leaves unresolved. A resolved value that
    // is no map (pulumi.secret(keyPem), a list) is refused as no map, as a plain one is: read
    // member by member, it was "certPem must be PEM text...; got undefined". A secret one is shown
    // only by its kind (it may be the key itself).
    if (pulumi.Output.isInstance(value)) {
        return pulumi.all([value, pulumi.isSecret(value)]).apply(([resolved, secret]: [unknown, boolean]) => {
            if (isGiven(resolved) && !isMap(resolved as Json)) {
                const shown = secret ? `a secret ${kindOf(resolved)}, not shown` : showJson(resolved as Json);
                throw argumentError(`${what} must be ${inputShape(known)}; got ${shown}`, resource);
            }
            if (isMap(resolved as Json | undefined)) checkInputNames(resolved as T, known, what, resource);
            return resolved;
        }) as T;
    }
    if (!isGiven(value)) return value;
    refuseNonMap(value, known, what, resource);
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return value;
    const unknown = Object.entries(value)
        .filter(([name, member]) => !Object.hasOwn(known, name) && isGiven(member))
        .map(([name]) => showJson(name));
    const inputs = Object.keys(known).sort();
    if (unknown.length > 0) {
        throw argumentError(
            `${what} has no ${unknown.length === 1 ? "input" : "inputs"} ${unknown.join(", ")}; its inputs are ${nameList(inputs)}. Fix the spelling or remove it`,
            resource,
        );
    }
    const missing = inputs.filter(
        (name) => known[name as keyof T] === "required" && !isGiven((value as Record<string, unknown>)[name]),
    );
    if (missing.length > 0) {
        throw argumentError(
            `${what} needs ${nameList(missing)}; give ${missing.length === 1 ? "it" : "them"}`,
            resource,
        );
    }
    return value;
}

/**
 * Refuses a component's args unless they are an object, naming the component and its inputs: a
 * JavaScript program may leave them out or pass null, and reading a member of either is a
 * TypeError that names neither. Their value is not shown (text given by mistake may be a key or
 * a password), only what it is. Then checks their names (checkInputNames).
 */
export function checkArgs<T>(args: T, known: InputNames<T>, component: string, resource: pulumi.Resource): void {
    if (!isMap(args as Json | undefined)) {
        const got =
            args === undefined
                ? "nothing"
                : args === null
                  ? "null"
                  : Array.isArray(args)
                    ? "a list"
                    : typeof args === "string"
                      ? "text"
                      : `a ${typeof args}`;
        throw argumentError(`${component} arguments must be ${inputShape(known)}; got ${got}`, resource);
    }
    checkInputNames(args, known, component, resource);
}

/**
 * Each entry of a list of objects, when `list` is a list (listArgument refuses it otherwise): an
 * entry that is no object is refused by its place, as a Python None, a YAML `- ~` or a host given
 * as text where an endpoint belongs arrive; the others go through checkInputNames.
 */
export function checkListEntries<T>(
    list: readonly T[] | undefined,
    known: InputNames<T>,
    what: string,
    resource: pulumi.Resource,
): void {
    if (!Array.isArray(list)) return;
    list.forEach((entry: unknown, i) => {
        refuseNonMap(entry, known, `${what}[${i}]`, resource);
        checkInputNames(entry as T, known, `${what}[${i}]`, resource);
    });
}

/** Refuses a value that is no map where one of `known`'s shape belongs, showing it (keys hidden). */
function refuseNonMap<T>(
    value: unknown,
    known: InputNames<T>,
    what: string,
    resource: pulumi.Resource,
): asserts value is Record<string, unknown> {
    if (!isMap(value as Json | undefined)) {
        throw argumentError(
            `${what} must be ${inputShape(known)}; got ${showJson(value as Json | undefined)}`,
            resource,
        );
    }
}

/**
 * `value` as a list, refused by name when it is not one: another language may send text where a
 * list is expected, which a loop would take character by character.
 */
export function listArgument<T>(
    value: readonly T[] | undefined,
    what: string,
    resource: pulumi.Resource,
): readonly T[] {
    refuseOutput(value, what, resource);
    if (!Array.isArray(value)) {
        throw argumentError(`${what} must be a list; got ${showJson(value as Json | undefined)}`, resource);
    }
    return value;
}

/** A CA made in this program, as the certificates it signs see it: its component and validityDays. */
interface MadeCa {
    readonly component: string;
    readonly validityDays: number;
}

/** The CAs made in this program, by the component and by its certPem: an issuer given as either is known. */
const madeCas = new WeakMap<object, MadeCa>();

/** Notes `ca` (a RootCa or IntermediateCa made here, `component` its type and name) for refuseOutlivingIssuer. */
export function noteMadeCa(ca: { certPem: pulumi.Output<string> }, component: string, validityDays: number): void {
    const made = { component, validityDays };
    madeCas.set(ca, made);
    madeCas.set(ca.certPem, made);
}

/**
 * Refuses a certificate of `validityDays` that `issuer` (the argument `what` names) would sign,
 * when the issuer is a CA made and signed in this program (not by the ceremony) with a shorter
 * validityDays: the certificate would end after its issuer, as the stack's config refuses of its
 * tiers (pki:validityDays). Its validity is compared, not its end: a certificate issued late in
 * its CA's life may end after it (the CA's staged rotation re-issues it). Before any child.
 */
export function refuseOutlivingIssuer(
    issuer: unknown,
    validityDays: number,
    what: string,
    resource: pulumi.Resource,
): void {
    if (typeof issuer !== "object" || issuer === null) return;
    const made = madeCas.get(issuer) ?? madeCas.get((issuer as { certPem?: object }).certPem ?? {});
    if (made === undefined || validityDays <= made.validityDays) return;
    throw argumentError(
        `${what} validityDays (${validityDays}) is longer than the validityDays of its issuer ${made.component} (${made.validityDays}); ` +
            "a certificate cannot outlive its issuer. Lower validityDays or raise the issuer's",
        resource,
    );
}
