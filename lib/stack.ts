/**
 * The stack program: plan -> components. Root -> gateway-server and APIC-client intermediates ->
 * per endpoint one server certificate (on the gateway) and one client certificate (for APIC).
 */
import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApicClientBundle } from "./components/apicClientBundle";
import { IntermediateCa } from "./components/intermediateCa";
import { IstioGatewayTls } from "./components/istioGatewayTls";
import { MeshPluginCa } from "./components/meshPluginCa";
import { RootCa } from "./components/rootCa";
import { PlannedCertificate, plannedCertificates } from "./inventory/planned";
import { joinPemOutputs } from "./components/pem";
import { CA_SLOTS, RotationRecord } from "./plan/caRotation";
import { buildCrl, crlWindow, RevokedEntry } from "./pki/crl";
import { activeCa, CaId, CaPlan, PkiPlan } from "./plan/plan";

export interface ApicBundleOutput {
    host: string;
    identity: string;
    certPem: pulumi.Output<string>;
    /** Secret. */
    privateKeyPem: pulumi.Output<string>;
    caChainPem: pulumi.Output<string>;
    truststorePem: pulumi.Output<string>;
    /** CRLs of the truststore's CAs, once a staged rotation has retired one (else undefined). */
    truststoreCrlPem?: pulumi.Output<string>;
    /** Secret: key, certificate and chain as PKCS#12, base64. */
    pkcs12Base64: pulumi.Output<string>;
    /** Secret. */
    pkcs12Password: pulumi.Output<string>;
}

export interface PkiStackOutputs {
    /** The root that signs the CAs in use. */
    rootCertPem: pulumi.Output<string>;
    /** Every root verifiers trust, the one in use first (two during a root rotation). */
    trustedRootsPem: pulumi.Output<string>;
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
    /** Every CA certificate by CA id (old and new generation during a staged rotation). */
    caCertPems: Record<string, pulumi.Output<string>>;
    /** Every certificate, where it goes and when to renew it; no key material (`pulumi stack output inventory`). */
    inventory: PlannedCertificate[];
    /** What the next update reads back: rotation phases, CA serials, retired CAs (lib/plan/caRotation.ts). */
    caRotation: pulumi.Output<RotationRecord>;
}

export interface PkiStack {
    readonly plan: PkiPlan;
    /** The root in use; undefined with an offline root. */
    readonly root?: RootCa;
    /** The gateway-server and APIC-client CAs in use. */
    readonly gatewayServerCa: IntermediateCa;
    readonly apicClientCa: IntermediateCa;
    readonly gateways: readonly IstioGatewayTls[];
    readonly apicBundles: Readonly<Record<string, ApicClientBundle>>;
    /** Per cluster name: the mesh CA istiod uses. */
    readonly meshCas: Readonly<Record<string, MeshPluginCa>>;
    readonly outputs: PkiStackOutputs;
}

/** Reason in the root's CRL for an intermediate a staged rotation retired (RFC 5280). */
const RETIRED_REASON = "superseded";

/** What a CRL is built from: a CA's certificate and key. */
interface CrlSigner {
    readonly certPem: pulumi.Input<string>;
    readonly privateKeyPem: pulumi.Input<string>;
}

/**
 * One CRL per CA, concatenated (what Envoy's and istiod's CRL files hold). Computed at deploy
 * time and identical within one publication period (pki:crlPeriodDays).
 */
function crlBundle(
    plan: PkiPlan,
    entries: readonly { signer: CrlSigner; revoked: readonly RevokedEntry[] }[],
): pulumi.Output<string> {
    const window = crlWindow(new Date(), plan.config.crlPeriodDays);
    return pulumi.unsecret(
        pulumi
            .all(entries.map((e) => pulumi.all([e.signer.certPem, e.signer.privateKeyPem])))
            .apply((pairs) => pairs.map(([cert, key], i) => buildCrl(cert, key, entries[i].revoked, window)).join("")),
    );
}

/** The retired intermediates a root revokes. */
function retiredBy(plan: PkiPlan, rootId: CaId): RevokedEntry[] {
    return plan.retired
        .filter((r) => r.issuer === rootId)
        .map((r) => ({ serialHex: r.serialHex, revokedAt: new Date(r.revokedAt), reason: RETIRED_REASON }));
}

/** A value to be given later (the mesh CAs' CRL bundle needs every mesh CA, each of which takes it). */
function deferred<T>(): { output: pulumi.Output<T>; resolve(value: pulumi.Output<T>): void } {
    let resolve!: (value: pulumi.Output<T>) => void;
    const promise = new Promise<pulumi.Output<T>>((r) => (resolve = r));
    return { output: pulumi.output(promise) as pulumi.Output<T>, resolve };
}

/** The CAs and the clusters' providers: what both the full build and the offline-signature stage make. */
interface CaLayer {
    /** By CA id; empty with an offline root. */
    readonly roots: Readonly<Record<CaId, RootCa>>;
    /** By CA id: every root, intermediate and mesh CA certificate. */
    readonly caCertPems: Record<CaId, pulumi.Output<string>>;
    /** The root in use, and every root to trust (in use first). */
    readonly rootCertPem: pulumi.Output<string>;
    readonly trustedRootsPem: pulumi.Output<string>;
    /** By CA id: the gateway-server and APIC-client CAs (both generations during a rotation). */
    readonly intermediates: Readonly<Record<CaId, IntermediateCa>>;
    /** By CA id, every mesh CA. */
    readonly meshCas: Readonly<Record<CaId, MeshPluginCa>>;
    readonly providers: k8s.Provider[];
    /** What each root's CRL is built from: its key and the intermediates it retired (unused with an offline root). */
    readonly rootCrls: readonly { signer: CrlSigner; revoked: readonly RevokedEntry[] }[];
}

/** `root-ca` for the first root (its name since the start), `root-ca-g<n>` after. */
const rootResourceName = (id: CaId): string => id.replace(/^root/, "root-ca");

function buildCas(plan: PkiPlan): CaLayer {
    const { config } = plan;
    const offline = config.offlineRoot;
    const rootPlans = plan.cas.filter((c) => c.role === "root");
    const roots: Record<CaId, RootCa> = {};
    const caCertPems: Record<CaId, pulumi.Output<string>> = {};
    for (const p of rootPlans) {
        caCertPems[p.id] = offline
            ? pulumi.output(offline.certificate)
            : (roots[p.id] = new RootCa(rootResourceName(p.id), {
                  subject: p.subject,
                  keyAlgorithm: p.key.algorithm,
                  validityDays: p.validityDays,
                  earlyRenewalDays: p.earlyRenewalDays,
                  maxPathLength: p.maxPathLength,
              })).certPem;
    }
    const rootCrls = rootPlans.map((r) => ({ signer: roots[r.id], revoked: retiredBy(plan, r.id) }));
    const activeRoot = rootPlans.find((p) => p.active) ?? rootPlans[0];
    const trustedRootsPem = joinPemOutputs(
        ...[activeRoot, ...rootPlans.filter((p) => p !== activeRoot)].map((p) => caCertPems[p.id]),
    );
    /** Signed by its root in this stack, or by the offline ceremony (certificate from config). */
    const signer = (ca: CaPlan) =>
        offline
            ? { offlineRoot: { rootCertPem: offline.certificate, signedCertPem: offline.intermediates[ca.id] } }
            : { rootCa: roots[ca.issuer ?? "root"] };

    const intermediates: Record<CaId, IntermediateCa> = {};
    for (const p of plan.cas.filter((c) => c.role === "intermediate")) {
        intermediates[p.id] = new IntermediateCa(p.id, {
            ...signer(p),
            subject: p.subject,
            keyAlgorithm: p.key.algorithm,
            validityDays: p.validityDays,
            earlyRenewalDays: p.earlyRenewalDays,
        });
        caCertPems[p.id] = intermediates[p.id].certPem;
    }

    const providers = config.clusters.map(
        (cluster) => new k8s.Provider(cluster.name, cluster.context !== undefined ? { context: cluster.context } : {}),
    );
    // Once a staged rotation retired an intermediate, istiod gets the root CRLs (ca-crl.pem) and,
    // since it insists on one signed by its own CA (istio/istio#61075), every mesh CA's CRL too.
    const meshCrl = plan.retired.length > 0 ? deferred<string>() : undefined;
    const meshCas: Record<CaId, MeshPluginCa> = {};
    for (const p of plan.cas.filter((c) => c.role === "mesh-ca")) {
        const clusterIndex = config.clusters.findIndex((c) => c.name === p.cluster);
        meshCas[p.id] = new MeshPluginCa(
            p.id,
            {
                ...signer(p),
                cluster: p.cluster ?? "",
                environment: config.environment,
                organization: config.organization,
                generation: p.generation,
                keyAlgorithm: p.key.algorithm,
                validityDays: p.validityDays,
                earlyRenewalDays: p.earlyRenewalDays,
                epoch: p.epoch,
                strictMtls: config.meshStrictMtls,
                installed: p.active,
                trustedRootsPem,
                crlPem: meshCrl?.output,
            },
            { providers: { kubernetes: providers[clusterIndex] } },
        );
        caCertPems[p.id] = meshCas[p.id].certPem;
    }
    meshCrl?.resolve(
        crlBundle(plan, [...rootCrls, ...Object.values(meshCas).map((ca) => ({ signer: ca, revoked: [] }))]),
    );
    return {
        roots,
        caCertPems,
        rootCertPem: caCertPems[activeRoot.id],
        trustedRootsPem,
        intermediates,
        meshCas,
        providers,
        rootCrls,
    };
}

/** The rotation record of this deployment: positions, every CA's serial (for a later finish), retired CAs. */
function rotationRecord(plan: PkiPlan, caCertPems: Record<CaId, pulumi.Output<string>>): pulumi.Output<RotationRecord> {
    const ids = plan.cas.map((c) => c.id);
    return pulumi.all(ids.map((id) => caCertPems[id])).apply((pems) => ({
        positions: plan.config.caRotation,
        cas: Object.fromEntries(
            plan.cas.map((ca, i) => {
                const cert = new crypto.X509Certificate(pems[i]);
                return [
                    ca.id,
                    {
                        serialHex: cert.serialNumber,
                        notAfter: new Date(cert.validTo).toISOString(),
                        issuer: ca.issuer ?? ca.id,
                    },
                ];
            }),
        ),
        retired: [...plan.retired],
    }));
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
        intermediateCsrs: Object.fromEntries(
            Object.entries({ ...cas.intermediates, ...cas.meshCas }).map(([id, ca]) => [id, ca.csrPem]),
        ),
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
    const rotating = CA_SLOTS.some((slot) => config.caRotation[slot].generation > 0);
    if (rotating && plan.deployed === undefined) {
        // Without the deployed record a finish could not revoke the old CA, and a skipped phase would go unnoticed.
        throw new Error(
            "pki:caRotation is set, so the plan needs the deployed stack's rotation record: plan with planPki(config, { deployed })",
        );
    }
    const cas = buildCas(plan);
    const { roots, caCertPems, intermediates, providers, rootCrls } = cas;
    const provider = providers[0];
    const leafOptions = {
        keyAlgorithm: config.keyAlgorithm,
        validityDays: config.validityDays.leaf,
        earlyRenewalDays: config.earlyRenewalDays.leaf,
        organization: config.organization,
    };
    const slot = (slotId: CaId) => plan.cas.filter((c) => c.slotId === slotId);
    const inUse = (slotId: CaId): IntermediateCa => intermediates[activeCa(plan.cas, slotId).id];
    const gatewayServerCa = inUse("gateway-server-ca");
    const apicClientCa = inUse("apic-client-ca");
    /** A slot's CAs (both generations while it rotates) and then every root to trust. */
    const trustBundle = (slotId: CaId): pulumi.Output<string> =>
        joinPemOutputs(...slot(slotId).map((c) => caCertPems[c.id]), cas.trustedRootsPem);

    // Revocations and retired CAs need CRLs; with an offline root both are refused by validation.
    const revoked = config.revocations.map((r) => ({
        serialHex: r.serial,
        revokedAt: new Date(r.revokedAt),
        reason: r.reason,
    }));
    const clientCrlPem =
        config.revocations.length > 0 || plan.retired.length > 0
            ? crlBundle(plan, [
                  ...slot("apic-client-ca").map((c) => ({ signer: intermediates[c.id], revoked })),
                  ...rootCrls,
              ])
            : undefined;
    const serverCrlPem =
        plan.retired.length > 0
            ? crlBundle(plan, [
                  ...slot("gateway-server-ca").map((c) => ({ signer: intermediates[c.id], revoked: [] })),
                  ...rootCrls,
              ])
            : undefined;
    const clientTrustBundlePem = trustBundle("apic-client-ca");
    const serverTrustBundlePem = trustBundle("gateway-server-ca");

    const gateways = plan.gateways.map((gateway) => {
        const endpoints = plan.endpoints.filter((e) => e.gatewayName === gateway.name);
        return new IstioGatewayTls(
            `${gateway.domain}-gateway`,
            {
                serverCa: gatewayServerCa,
                clientTrustBundlePem,
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
            serverTrustBundlePem,
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
            ...(serverCrlPem !== undefined ? { truststoreCrlPem: serverCrlPem } : {}),
            pkcs12Base64: bundle.pkcs12Base64,
            pkcs12Password: bundle.pkcs12Password,
        };
    }

    const meshCas = Object.fromEntries(
        plan.cas.filter((c) => c.role === "mesh-ca" && c.active).map((c) => [c.cluster ?? "", cas.meshCas[c.id]]),
    );
    return {
        plan,
        root: roots[activeCa(plan.cas, "root").id],
        gatewayServerCa,
        apicClientCa,
        gateways,
        apicBundles,
        meshCas,
        outputs: {
            rootCertPem: cas.rootCertPem,
            trustedRootsPem: cas.trustedRootsPem,
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
            meshCaCertPems: Object.fromEntries(Object.entries(meshCas).map(([cluster, ca]) => [cluster, ca.certPem])),
            caCertPems,
            inventory: plannedCertificates(plan),
            caRotation: rotationRecord(plan, caCertPems),
        },
    };
}
