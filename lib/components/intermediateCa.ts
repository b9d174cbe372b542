import * as pulumi from "@pulumi/pulumi";
import { caKey, SubjectSpec } from "../plan/plan";
import { LeafKeyAlgorithm } from "../config/types";
import { defaultEarlyRenewalDays } from "../config/validate";
import { issueCaCertificate, IssuingCa } from "./keys";
import { joinPemOutputs } from "./pem";
import { RootCa } from "./rootCa";

/** A CA that already exists, given as PEM (e.g. a root kept outside this stack). */
export interface ExistingCa {
    readonly certPem: pulumi.Input<string>;
    readonly privateKeyPem: pulumi.Input<string>;
    /** The self-signed root above it; the CA itself when it is the root. */
    readonly rootCertPem: pulumi.Input<string>;
    /**
     * The CA's own certificate and any CA between it and the root, as a leaf would send them;
     * empty when the CA is itself the root.
     * @default ""
     */
    readonly chainPem?: pulumi.Input<string>;
}

/** Who signs a CA: a RootCa of the program or an existing CA as PEM, exactly one of them. */
export interface SignerArgs {
    /** The root that signs this CA. Give exactly one of `rootCa` and `issuer`. */
    readonly rootCa?: RootCa;
    /** An existing CA, as PEM, that signs this CA. Give exactly one of `rootCa` and `issuer`. */
    readonly issuer?: ExistingCa;
}

export function signerOf(args: SignerArgs, component: string, resource: pulumi.Resource): ExistingCa {
    if (args.rootCa !== undefined && args.issuer === undefined) {
        return {
            certPem: args.rootCa.certPem,
            privateKeyPem: args.rootCa.privateKeyPem,
            rootCertPem: args.rootCa.certPem,
        };
    }
    if (args.issuer !== undefined && args.rootCa === undefined) return args.issuer;
    throw new pulumi.ResourceError(
        `${component} needs exactly one of rootCa (a RootCa of this program) and issuer (an existing CA as PEM); got ${args.rootCa ? "both" : "neither"}`,
        resource,
    );
}

export interface IntermediateCaArgs extends SignerArgs {
    /** Subject of the intermediate certificate; a CA needs at least a common name. */
    readonly subject: SubjectSpec;
    /**
     * Key algorithm: RSA (4096-bit) or ECDSA (P-384).
     * @default "RSA"
     */
    readonly keyAlgorithm?: LeafKeyAlgorithm;
    /**
     * Validity in days; keep it shorter than the issuer's.
     * @default 1095
     */
    readonly validityDays?: number;
    /**
     * Days before expiry at which the provider marks the certificate for renewal.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
}

/**
 * An issuing CA signed by a RootCa or by an existing CA. It carries no path length of its own
 * (@pulumi/tls cannot write pathlen 0); the root's pathlen 1 is what forbids CAs below it.
 */
export class IntermediateCa extends pulumi.ComponentResource implements IssuingCa {
    public readonly certPem: pulumi.Output<string>;
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
        const signer = signerOf(args, "IntermediateCa", this);
        const keyAlgorithm = args.keyAlgorithm ?? "RSA";
        const validityDays = args.validityDays ?? 1095;

        const earlyRenewalDays = args.earlyRenewalDays ?? defaultEarlyRenewalDays(validityDays);
        const { key, cert } = issueCaCertificate(
            this,
            name,
            { subject: args.subject, key: caKey(keyAlgorithm), validityDays, earlyRenewalDays, epoch: 0 },
            signer,
        );

        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.chainPem = joinPemOutputs(cert.certPem, signer.chainPem ?? "");
        this.rootCertPem = pulumi.output(signer.rootCertPem);
        this.trustBundlePem = joinPemOutputs(this.chainPem, this.rootCertPem);
        this.registerOutputs({
            certPem: this.certPem,
            privateKeyPem: this.privateKeyPem,
            chainPem: this.chainPem,
            rootCertPem: this.rootCertPem,
            trustBundlePem: this.trustBundlePem,
        });
    }
}
