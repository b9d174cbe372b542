import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { LeafKeyAlgorithm } from "../config/types";
import { defaultEarlyRenewalDays } from "../config/validate";
import { caKey, MESH_CA_SECRET, meshCaSubject } from "../plan/plan";
import { signerOf, SignerArgs } from "./intermediateCa";
import { issueCaCertificate } from "./keys";
import { joinPemOutputs } from "./pem";

export interface MeshPluginCaArgs extends SignerArgs {
    /** The cluster whose istiod signs with this CA; it goes into the CA's common name. */
    readonly cluster: string;
    /** Environment name, put before the cluster in the common name. */
    readonly environment?: string;
    /** Subject O of the CA certificate. */
    readonly organization?: string;
    /**
     * Key algorithm: RSA (4096-bit) or ECDSA (P-384).
     * @default "RSA"
     */
    readonly keyAlgorithm?: LeafKeyAlgorithm;
    /**
     * Validity in days; keep it shorter than the root's.
     * @default 1095
     */
    readonly validityDays?: number;
    /**
     * Days before expiry at which the provider marks the certificate for renewal.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
    /**
     * Rotation epoch: raise it by one to replace the key and certificate (then restart istiod).
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Also create a mesh-wide PeerAuthentication `default` in istio-system with mTLS mode STRICT.
     * @default false
     */
    readonly strictMtls?: boolean;
}

/**
 * Istio's plug-in CA for one cluster: an intermediate CA under the bank's root and the
 * `istio-system/cacerts` secret istiod reads at start-up (`ca-cert.pem`, `ca-key.pem`,
 * `root-cert.pem`, `cert-chain.pem` = intermediate then root). Give it the cluster's
 * Kubernetes provider through `opts.providers`.
 */
export class MeshPluginCa extends pulumi.ComponentResource {
    /** The mesh CA certificate (`ca-cert.pem`). */
    public readonly certPem: pulumi.Output<string>;
    /** The CSR: what the offline ceremony signs. */
    public readonly csrPem: pulumi.Output<string>;
    /** The mesh CA private key (`ca-key.pem`), a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** The root all workloads trust (`root-cert.pem`). */
    public readonly rootCertPem: pulumi.Output<string>;
    /** The mesh CA then every CA up to and including the root (`cert-chain.pem`). */
    public readonly certChainPem: pulumi.Output<string>;

    constructor(name: string, args: MeshPluginCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:MeshPluginCa", name, {}, opts);
        const signer = signerOf(args, "MeshPluginCa", this);
        const keyAlgorithm = args.keyAlgorithm ?? "RSA";
        const validityDays = args.validityDays ?? 1095;
        const strictMtls = args.strictMtls ?? false;
        const earlyRenewalDays = args.earlyRenewalDays ?? defaultEarlyRenewalDays(validityDays);
        const epoch = args.epoch ?? 0;

        const ca = issueCaCertificate(
            this,
            name,
            {
                subject: meshCaSubject(args.environment, args.cluster, args.organization),
                key: caKey(keyAlgorithm),
                validityDays,
                earlyRenewalDays,
                epoch,
            },
            signer,
        );

        this.certPem = ca.certPem;
        this.csrPem = ca.csrPem;
        this.privateKeyPem = ca.privateKeyPem;
        this.rootCertPem = ca.rootCertPem;
        this.certChainPem = joinPemOutputs(ca.chainPem, ca.rootCertPem);

        // With an offline root, istiod gets cacerts only once the ceremony has signed: a secret
        // without a certificate would make istiod fail instead of falling back.
        const pending = args.offlineRoot !== undefined && args.offlineRoot.signedCertPem === undefined;
        if (!pending) {
            new k8s.core.v1.Secret(
                `${name}-cacerts`,
                {
                    metadata: { ...MESH_CA_SECRET },
                    type: "Opaque",
                    stringData: {
                        "ca-cert.pem": this.certPem,
                        "ca-key.pem": this.privateKeyPem,
                        "root-cert.pem": this.rootCertPem,
                        "cert-chain.pem": this.certChainPem,
                    },
                },
                { parent: this },
            );
        }
        if (strictMtls) {
            new k8s.apiextensions.CustomResource(
                `${name}-peer-authentication`,
                {
                    apiVersion: "security.istio.io/v1",
                    kind: "PeerAuthentication",
                    metadata: { name: "default", namespace: MESH_CA_SECRET.namespace },
                    spec: { mtls: { mode: "STRICT" } },
                },
                { parent: this },
            );
        }
        this.registerOutputs({
            certPem: this.certPem,
            privateKeyPem: this.privateKeyPem,
            rootCertPem: this.rootCertPem,
            certChainPem: this.certChainPem,
        });
    }
}
