/**
 * The stack program: plan -> components. Root -> gateway-server and APIC-client intermediates ->
 * per endpoint one server certificate (on the gateway) and one client certificate (for APIC).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApicClientBundle } from "./components/apicClientBundle";
import { IntermediateCa } from "./components/intermediateCa";
import { IstioGatewayTls } from "./components/istioGatewayTls";
import { MeshPluginCa } from "./components/meshPluginCa";
import { RootCa } from "./components/rootCa";
import { PlannedCertificate, plannedCertificates } from "./inventory/planned";
import { buildCrl, crlWindow } from "./pki/crl";
import { CaPlan, meshCaId, PkiPlan } from "./plan/plan";

export interface ApicBundleOutput {
    host: string;
    identity: string;
    certPem: pulumi.Output<string>;
    /** Secret. */
    privateKeyPem: pulumi.Output<string>;
    caChainPem: pulumi.Output<string>;
    truststorePem: pulumi.Output<string>;
    /** Secret: key, certificate and chain as PKCS#12, base64. */
    pkcs12Base64: pulumi.Output<string>;
    /** Secret. */
    pkcs12Password: pulumi.Output<string>;
}

export interface PkiStackOutputs {
    rootCertPem: pulumi.Output<string>;
    gatewayServerCaCertPem: pulumi.Output<string>;
    apicClientCaCertPem: pulumi.Output<string>;
    endpoints: {
        id: string;
        host: string;
        services: readonly string[];
        credentialName: string;
        clientIdentity: string;
    }[];
    /** Per endpoint id: what APIC uploads (keystore and truststore material). */
    apicBundles: Record<string, ApicBundleOutput>;
    /** Per cluster: the istiod plug-in CA certificate. */
    meshCaCertPems: Record<string, pulumi.Output<string>>;
    /** Every certificate, where it goes and when to renew it; no key material (`pulumi stack output inventory`). */
    inventory: PlannedCertificate[];
}

export interface PkiStack {
    readonly plan: PkiPlan;
    /** Undefined with an offline root. */
    readonly root?: RootCa;
    readonly gatewayServerCa: IntermediateCa;
    readonly apicClientCa: IntermediateCa;
    readonly gateways: readonly IstioGatewayTls[];
    readonly apicBundles: Readonly<Record<string, ApicClientBundle>>;
    /** Per cluster name. */
    readonly meshCas: Readonly<Record<string, MeshPluginCa>>;
    readonly outputs: PkiStackOutputs;
}

function caById(plan: PkiPlan, id: CaPlan["id"]): CaPlan {
    const ca = plan.cas.find((c) => c.id === id);
    if (!ca) throw new Error(`plan has no CA "${id}"`);
    return ca;
}

/**
 * `ca.crl` for the gateway: the APIC-client CA's CRL (the revoked client certificates) and the
 * root's (no intermediate revoked), because Envoy checks a CRL for every CA of the chain once any
 * is given. Computed from the CA keys at deploy time; identical within one publication period.
 */
function clientCrls(plan: PkiPlan, root: RootCa, clientCa: IntermediateCa): pulumi.Output<string> {
    const window = crlWindow(new Date(), plan.config.crlPeriodDays);
    const revoked = plan.config.revocations.map((r) => ({
        serialHex: r.serial,
        revokedAt: new Date(r.revokedAt),
        reason: r.reason,
    }));
    return pulumi.unsecret(
        pulumi
            .all([clientCa.certPem, clientCa.privateKeyPem, root.certPem, root.privateKeyPem])
            .apply(
                ([caCert, caKey, rootCert, rootKey]) =>
                    buildCrl(caCert, caKey, revoked, window) + buildCrl(rootCert, rootKey, [], window),
            ),
    );
}

/** The CAs and the clusters' providers: what both the full build and the offline-signature stage make. */
interface CaLayer {
    readonly root?: RootCa;
    readonly rootCertPem: pulumi.Output<string>;
    readonly gatewayServerCa: IntermediateCa;
    readonly apicClientCa: IntermediateCa;
    readonly meshCas: Record<string, MeshPluginCa>;
    readonly providers: k8s.Provider[];
}

function buildCas(plan: PkiPlan): CaLayer {
    const { config } = plan;
    const rootPlan = caById(plan, "root");
    const offline = config.offlineRoot;
    const root = offline
        ? undefined
        : new RootCa("root-ca", {
              subject: rootPlan.subject,
              keyAlgorithm: rootPlan.key.algorithm,
              validityDays: rootPlan.validityDays,
              earlyRenewalDays: rootPlan.earlyRenewalDays,
              maxPathLength: rootPlan.maxPathLength,
          });
    /** Signed by the root of this stack, or by the offline ceremony (certificate from config). */
    const signer = (id: string) =>
        root
            ? { rootCa: root }
            : { offlineRoot: { rootCertPem: offline?.certificate ?? "", signedCertPem: offline?.intermediates[id] } };
    const intermediate = (id: "gateway-server-ca" | "apic-client-ca"): IntermediateCa => {
        const p = caById(plan, id);
        return new IntermediateCa(id, {
            ...signer(id),
            subject: p.subject,
            keyAlgorithm: p.key.algorithm,
            validityDays: p.validityDays,
            earlyRenewalDays: p.earlyRenewalDays,
        });
    };
    const providers = config.clusters.map(
        (cluster) => new k8s.Provider(cluster.name, cluster.context !== undefined ? { context: cluster.context } : {}),
    );
    const meshCas: Record<string, MeshPluginCa> = {};
    config.clusters.forEach((cluster, i) => {
        const p = caById(plan, meshCaId(cluster.name));
        meshCas[cluster.name] = new MeshPluginCa(
            p.id,
            {
                ...signer(p.id),
                cluster: cluster.name,
                environment: config.environment,
                organization: config.organization,
                keyAlgorithm: p.key.algorithm,
                validityDays: p.validityDays,
                earlyRenewalDays: p.earlyRenewalDays,
                epoch: p.epoch,
                strictMtls: config.meshStrictMtls,
            },
            { providers: { kubernetes: providers[i] } },
        );
    });
    return {
        root,
        rootCertPem: root ? root.certPem : pulumi.output(offline?.certificate ?? ""),
        gatewayServerCa: intermediate("gateway-server-ca"),
        apicClientCa: intermediate("apic-client-ca"),
        meshCas,
        providers,
    };
}

/** The message for a stack whose offline-root CSRs still wait for the ceremony. */
export function pendingSignaturesMessage(plan: PkiPlan): string {
    return (
        `pki:offlineRoot.intermediates has no certificate for ${plan.pendingIntermediates.join(", ")}: ` +
        `on the offline machine sign each CSR (pulumi stack output intermediateCsrs, or csr/<id>.csr of a render) with ` +
        `"apic-istio-pki ceremony sign --root <root dir> --csr <id>.csr" and put the certificate under pki:offlineRoot.intermediates.<id>`
    );
}

/**
 * With an offline root whose signatures are still pending: only the CAs' keys and CSRs (so the
 * ceremony has something to sign), and nothing that would need their certificates.
 */
export function requestOfflineSignatures(plan: PkiPlan): { intermediateCsrs: Record<string, pulumi.Output<string>> } {
    const cas = buildCas(plan);
    return {
        intermediateCsrs: {
            "gateway-server-ca": cas.gatewayServerCa.csrPem,
            "apic-client-ca": cas.apicClientCa.csrPem,
            ...Object.fromEntries(Object.entries(cas.meshCas).map(([cluster, ca]) => [meshCaId(cluster), ca.csrPem])),
        },
    };
}

/**
 * Creates every resource of the plan. Each cluster of `pki:clusters` gets a Kubernetes provider
 * named after it (its kubeconfig context, or the current one) and its own mesh plug-in CA; the
 * gateway's secrets and Gateways go to the first cluster.
 */
export function buildPki(plan: PkiPlan): PkiStack {
    const { config } = plan;
    if (plan.pendingIntermediates.length > 0) throw new Error(pendingSignaturesMessage(plan));
    const { root, rootCertPem, gatewayServerCa, apicClientCa, meshCas, providers } = buildCas(plan);
    const provider = providers[0];
    const leafOptions = {
        keyAlgorithm: config.keyAlgorithm,
        validityDays: config.validityDays.leaf,
        earlyRenewalDays: config.earlyRenewalDays.leaf,
        organization: config.organization,
    };

    // Revocations with an offline root are refused by validation: the root's CRL needs its key.
    const clientCrlPem = plan.config.revocations.length > 0 && root ? clientCrls(plan, root, apicClientCa) : undefined;
    const gateways = plan.gateways.map((gateway) => {
        const endpoints = plan.endpoints.filter((e) => e.gatewayName === gateway.name);
        return new IstioGatewayTls(
            `${gateway.domain}-gateway`,
            {
                serverCa: gatewayServerCa,
                clientTrustBundlePem: apicClientCa.trustBundlePem,
                clientCrlPem,
                namespace: gateway.namespace,
                gatewayName: gateway.name,
                endpoints: endpoints.map((e) => ({
                    id: e.id,
                    host: e.host,
                    clientSubjectAltNames: [e.clientIdentity],
                    secretName: e.gatewaySecret.name,
                    epoch: e.server.epoch,
                })),
                ...leafOptions,
            },
            { providers: { kubernetes: provider } },
        );
    });

    const apicBundles: Record<string, ApicClientBundle> = {};
    const bundleOutputs: Record<string, ApicBundleOutput> = {};
    for (const endpoint of plan.endpoints) {
        const bundle = new ApicClientBundle(`${endpoint.id}-apic-client`, {
            endpointId: endpoint.id,
            clientCa: apicClientCa,
            identity: endpoint.clientIdentity,
            serverTrustBundlePem: gatewayServerCa.trustBundlePem,
            epoch: endpoint.client.epoch,
            pkcs12Profile: config.pkcs12Profile,
            ...leafOptions,
        });
        apicBundles[endpoint.id] = bundle;
        bundleOutputs[endpoint.id] = {
            host: endpoint.host,
            identity: endpoint.clientIdentity,
            certPem: bundle.certPem,
            privateKeyPem: bundle.privateKeyPem,
            caChainPem: bundle.caChainPem,
            truststorePem: bundle.truststorePem,
            pkcs12Base64: bundle.pkcs12Base64,
            pkcs12Password: bundle.pkcs12Password,
        };
    }

    return {
        plan,
        root,
        gatewayServerCa,
        apicClientCa,
        gateways,
        apicBundles,
        meshCas,
        outputs: {
            rootCertPem,
            gatewayServerCaCertPem: gatewayServerCa.certPem,
            apicClientCaCertPem: apicClientCa.certPem,
            endpoints: plan.endpoints.map((e) => ({
                id: e.id,
                host: e.host,
                services: e.services,
                credentialName: e.gatewaySecret.name,
                clientIdentity: e.clientIdentity,
            })),
            apicBundles: bundleOutputs,
            inventory: plannedCertificates(plan),
            meshCaCertPems: Object.fromEntries(Object.entries(meshCas).map(([cluster, ca]) => [cluster, ca.certPem])),
        },
    };
}
