import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { caKey } from "../plan/plan";
import { KeyAlgorithm } from "../config/types";
import {
    argumentError,
    CA_SIGNER_INPUTS,
    CaSigner,
    certificateSettings,
    CertificateSubject,
    checkCaSubject,
    checkedIssuer,
    LeafPurpose,
    SignedName,
    checkArgs,
    checkInputNames,
    isGiven,
    InputNames,
    issueCaCertificate,
    IssuingCa,
    OFFLINE_SIGNER_INPUTS,
    OfflineSigner,
    refusePastedKey,
    ROOT_CA_PEM_INPUTS,
    RootCaPem,
    SUBJECT_INPUTS,
    subjectSignedName,
    noteMadeCa,
    refuseOutlivingIssuer,
} from "./keys";
import { pemTextProblem } from "../pki/pem";
import { caSubject } from "../pki/asn1";
import { subjectDerOf, subjectOf, toDer } from "../pki/x509";
import { joinPemOutputs } from "./pem";

/** A CA that already exists, given as PEM with its key (e.g. a CA kept outside this stack). */
export type ExistingCa = CaSigner;

/** Who signs a CA: exactly one of a RootCa of the program, an existing CA as PEM, or the offline root. */
export interface SignerArgs {
    /**
     * The root that signs this CA: its certificate and key (in TypeScript also a RootCa of the program).
     * Default: none (give exactly one of rootCa, issuer and offlineRoot).
     * @default none (give exactly one of rootCa, issuer and offlineRoot)
     */
    readonly rootCa?: RootCaPem;
    /**
     * An existing CA, as PEM with its key, that signs this CA.
     * Default: none (give exactly one of rootCa, issuer and offlineRoot).
     * @default none (give exactly one of rootCa, issuer and offlineRoot)
     */
    readonly issuer?: ExistingCa;
    /**
     * The offline root: this CA's key and CSR are made here, the ceremony signs the CSR, and the
     * certificate comes back as `signedCertPem` (until then the CA has no certificate).
     * Default: none (give exactly one of rootCa, issuer and offlineRoot).
     * @default none (give exactly one of rootCa, issuer and offlineRoot)
     */
    readonly offlineRoot?: OfflineSigner;
}

export const SIGNER_INPUTS: InputNames<SignerArgs> = {
    rootCa: "optional",
    issuer: "optional",
    offlineRoot: "optional",
};

/**
 * Refuses names the signer given lacks (see checkInputNames). Returns the args to read the signer
 * from: a signer given as one output is checked once it resolves, before its members are read.
 */
export function checkSignerInputNames<T extends SignerArgs>(args: T, component: string, resource: pulumi.Resource): T {
    const rootCa = checkInputNames(args.rootCa, ROOT_CA_PEM_INPUTS, `${component} rootCa`, resource);
    const issuer = checkInputNames(args.issuer, CA_SIGNER_INPUTS, `${component} issuer`, resource);
    const offlineRoot = checkInputNames(args.offlineRoot, OFFLINE_SIGNER_INPUTS, `${component} offlineRoot`, resource);
    return {
        ...args,
        ...(rootCa === args.rootCa ? {} : { rootCa }),
        ...(issuer === args.issuer ? {} : { issuer }),
        ...(offlineRoot === args.offlineRoot ? {} : { offlineRoot }),
    };
}

export function signerOf(args: SignerArgs, component: string, resource: pulumi.Resource): CaSigner | OfflineSigner {
    const given = [args.rootCa, args.issuer, args.offlineRoot].filter(isGiven);
    if (given.length !== 1) {
        throw argumentError(
            `${component} needs exactly one of rootCa (a RootCa of this program), issuer (an existing CA as PEM) and offlineRoot (a CA signed by the offline ceremony); got ${given.length === 0 ? "none" : given.length}`,
            resource,
        );
    }
    if (isGiven(args.rootCa)) {
        const root = {
            certPem: args.rootCa.certPem,
            privateKeyPem: args.rootCa.privateKeyPem,
            rootCertPem: args.rootCa.certPem,
        };
        return root;
    }
    return (args.issuer ?? args.offlineRoot) as CaSigner | OfflineSigner;
}

/**
 * offlineRoot.rootCertPem, refused unless text and by refusePastedKey: at once when it is plain
 * text, else when the output resolves (to nothing, when a stack reference's output is missing).
 */
function keyless(pem: pulumi.Input<string>, label: string, resource: pulumi.Resource): pulumi.Input<string> {
    const check = (text: string): string => {
        const notText = pemTextProblem(text, "the offline root's certificate (root.crt of the ceremony)");
        if (notText !== undefined) throw argumentError(`${label} ${notText}`, resource);
        refusePastedKey(text, label, "the root's certificate only", resource);
        return text;
    };
    return typeof pem === "string" ? check(pem) : pulumi.output(pem).apply(check);
}

/** The CA's own subject, and what to do when it is its issuer's (see namedApart). */
export interface OwnSubject {
    readonly subject: CertificateSubject;
    /** How the component's inputs give the CA another name. */
    readonly fix: string;
}

/** Why a CA signed here may not carry its signer's subject: Go leaves the AKI out when the names match. */
const SIGNED_HERE =
    "the CA would carry no authority key identifier (@pulumi/tls leaves it out when subject and issuer are the same name), " +
    'and OpenSSL and BoringSSL would take it for a self-signed certificate and refuse every chain through it ("self signed certificate in certificate chain")';

/** Why a CA the offline root signs may not carry the root's subject. */
const SIGNED_OFFLINE = "the ceremony would refuse to sign its CSR (a CA below the root needs a name of its own)";

/**
 * `issuerPem` (the certificate `label` names), refused when its subject is byte for byte the
 * subject the CA will carry (built as @pulumi/tls encodes it), for the reason `why`. At once when
 * plain text, else when the output resolves.
 */
function namedApart(
    issuerPem: pulumi.Input<string>,
    own: OwnSubject,
    why: string,
    component: string,
    label: string,
    resource: pulumi.Resource,
): pulumi.Input<string> {
    const subject = toDer(caSubject(own.subject));
    const check = (pem: string): string => {
        let issuer: crypto.X509Certificate;
        try {
            issuer = new crypto.X509Certificate(pem);
            if (!subjectDerOf(issuer).equals(subject)) return pem;
        } catch {
            return pem; // not a certificate: the issuer checks name that (offlineRootAlone after this)
        }
        const { organization, commonName } = own.subject;
        const name = [...(isGiven(organization) ? [`O=${organization}`] : []), `CN=${commonName}`].join(", ");
        throw argumentError(
            `${component} subject (${name}) is the subject of ${label} (${subjectOf(issuer)}), which signs it: ${why}; ${own.fix}`,
            resource,
        );
    };
    // A missing output (null) is the issuer checks' to name.
    return typeof issuerPem === "string"
        ? check(issuerPem)
        : pulumi.output(issuerPem).apply((pem) => (pem == null ? pem : check(pem)));
}

/**
 * The signer with its parts checked against each other (checkedIssuer), and against the CA's own
 * subject (namedApart), before it signs: called after the component's own argument checks, so
 * that those speak first. `verifiedByGo`: Go verifies the chains below the CA made (istiod a
 * MeshPluginCa's), and counts self-issued CAs. `signsNames`: the SANs and subjects (as DirNames)
 * of what the CA made signs, which the nameConstraints above it must allow; its own subject is
 * added. `signsFor`: the extended key usages of the leaves the CA made signs, which every CA above
 * must allow.
 */
export function checkedSigner(
    args: SignerArgs,
    signer: CaSigner | OfflineSigner,
    own: OwnSubject,
    component: string,
    resource: pulumi.Resource,
    verifiedByGo = false,
    signsNames: readonly SignedName[] = [],
    signsFor: readonly LeafPurpose[] = [],
): CaSigner | OfflineSigner {
    if (isGiven(args.offlineRoot)) {
        const offline = signer as OfflineSigner;
        const label = `${component} offlineRoot.rootCertPem`;
        const rootCertPem = keyless(offline.rootCertPem, label, resource);
        return { ...offline, rootCertPem: namedApart(rootCertPem, own, SIGNED_OFFLINE, component, label, resource) };
    }
    // BoringSSL and OpenSSL hold the subject of every CA below a DirName subtree against it, as a leaf's.
    const ownName = subjectSignedName(own.subject, "the CA's subject");
    const options = { signsCa: true, verifiedByGo, signsNames: [...signsNames, ownName], signsFor };
    const label = `${component} ${isGiven(args.rootCa) ? "rootCa" : "issuer"}`;
    const checked = isGiven(args.rootCa)
        ? checkedIssuer(signer as CaSigner, label, resource, { ...options, root: true })
        : checkedIssuer(signer as CaSigner, label, resource, options);
    return {
        ...checked,
        certPem: namedApart(checked.certPem, own, SIGNED_HERE, component, `${label}.certPem`, resource),
    };
}

export interface IntermediateCaArgs extends SignerArgs {
    /** Subject of the intermediate certificate; a CA needs at least a common name. */
    readonly subject: CertificateSubject;
    /**
     * Key algorithm: RSA (4096-bit) or ECDSA (P-384).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
     * the issuer is a RootCa, or an IntermediateCa signed in this program, with fewer validityDays;
     * with a CA given as PEM or signed by the ceremony, keep it within that CA's validity.
     * Default: 1095.
     * @default 1095
     */
    readonly validityDays?: number;
    /**
     * Days before expiry from which the tls provider re-issues the certificate in place, with the
     * same key, on any update, with every certificate below it (0: once it has expired). The stack
     * gives 0 and renews by rotation.
     * Default: a third of validityDays.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
}

const INTERMEDIATE_CA_INPUTS: InputNames<IntermediateCaArgs> = {
    ...SIGNER_INPUTS,
    subject: "required",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
};

/**
 * An issuing CA signed by a RootCa or by an existing CA. It carries no path length of its own
 * (the TLS provider cannot write pathlen 0). The root's pathlen 1 forbids CAs below it to OpenSSL
 * and Go (istiod), not to Envoy: BoringSSL ignores a trust anchor's pathlen, so Envoy accepts a
 * chain through a sub-CA this CA's key signs.
 */
export class IntermediateCa extends pulumi.ComponentResource implements IssuingCa {
    /** The CA certificate; "" while an offline signature is pending. */
    public readonly certPem: pulumi.Output<string>;
    /** The CSR: what the offline ceremony signs. */
    public readonly csrPem: pulumi.Output<string>;
    /** The intermediate's private key, a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** This certificate and any CA between it and the root: what leaves send after themselves. */
    public readonly chainPem: pulumi.Output<string>;
    /** The self-signed root this intermediate chains to. */
    public readonly rootCertPem: pulumi.Output<string>;
    /** chainPem + rootCertPem: what a verifier of this CA's leaves must trust (Envoy needs the root). */
    public readonly trustBundlePem: pulumi.Output<string>;

    constructor(name: string, args: IntermediateCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:IntermediateCa", name, {}, opts);
        checkArgs(args, INTERMEDIATE_CA_INPUTS, "IntermediateCa", this);
        checkInputNames(args.subject, SUBJECT_INPUTS, "IntermediateCa subject", this);
        args = checkSignerInputNames(args, "IntermediateCa", this);
        const signer = signerOf(args, "IntermediateCa", this);
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(
            args,
            1095,
            "IntermediateCa",
            this,
        );
        checkCaSubject(args.subject, "IntermediateCa", this);
        refuseOutlivingIssuer(args.rootCa ?? args.issuer, validityDays, "IntermediateCa", this);
        const ca = issueCaCertificate(
            this,
            name,
            { subject: args.subject, key: caKey(keyAlgorithm), validityDays, earlyRenewalDays, epoch: 0 },
            checkedSigner(
                args,
                signer,
                {
                    subject: args.subject,
                    fix: `give subject a name of its own, e.g. commonName "${args.subject.commonName} issuing CA"`,
                },
                "IntermediateCa",
                this,
            ),
            "IntermediateCa",
            args.offlineRoot ?? undefined,
        );

        this.certPem = ca.certPem;
        this.privateKeyPem = ca.privateKeyPem;
        this.csrPem = ca.csrPem;
        this.chainPem = ca.chainPem;
        this.rootCertPem = ca.rootCertPem;
        this.trustBundlePem = joinPemOutputs(this.chainPem, this.rootCertPem);
        // Not a CA the ceremony signs: its validity is the ceremony's, which the stack reads from
        // its certificate and may be shorter than the leaves under it (the lifecycle renews it).
        if (!isGiven(args.offlineRoot)) noteMadeCa(this, `IntermediateCa "${name}"`, validityDays);
        this.registerOutputs({
            certPem: this.certPem,
            csrPem: this.csrPem,
            privateKeyPem: this.privateKeyPem,
            chainPem: this.chainPem,
            rootCertPem: this.rootCertPem,
            trustBundlePem: this.trustBundlePem,
        });
    }
}
