/**
 * Every certificate the plan will issue, as plain data: what `inventory` prints, what the stack
 * exports as `inventory`, and what `diff` compares. No key or certificate body, ever.
 */
import {
    CA_USES,
    CaPlan,
    CertRole,
    EndpointPlan,
    KeySpec,
    LeafPlan,
    MESH_CA_SECRET,
    PkiPlan,
    SubjectSpec,
} from "../plan/plan";
import { IntermediateSlot, ROOT_IDS, rootOf } from "../plan/hierarchy";

export interface PlannedCertificate {
    /** Stable identity across plans: a CA id, or "<endpoint>/server" and "<endpoint>/client". */
    id: string;
    role: CertRole;
    endpoint?: string;
    cluster?: string;
    subject: string;
    dnsNames: string[];
    uris: string[];
    /** Id of the issuing CA; the root names itself. */
    issuer: string;
    /** e.g. "RSA 2048", "ECDSA P-256". */
    key: string;
    /** @pulumi/tls allowed_uses. */
    uses: string[];
    validityDays: number;
    /** Days after issue at which the certificate enters its early-renewal window. */
    renewAfterDays: number;
    /** Rotation epoch; raising it replaces the key and certificate. */
    epoch: number;
    /** Where the certificate is delivered (Kubernetes secrets as render paths, APIC bundles). */
    goesTo: string[];
}

export function describeKey(key: KeySpec): string {
    return key.algorithm === "RSA" ? `RSA ${key.rsaBits}` : `ECDSA ${key.ecdsaCurve === "P384" ? "P-384" : "P-256"}`;
}

export function describeSubject(subject: SubjectSpec): string {
    return [subject.organization !== undefined ? `O=${subject.organization}` : "", `CN=${subject.commonName}`]
        .filter((p) => p !== "")
        .join(", ");
}

/** `k8s/<cluster>/<namespace>/secret-<name>`, the render path and a readable location at once. */
export const secretPath = (cluster: string, namespace: string, name: string): string =>
    `k8s/${cluster}/${namespace}/secret-${name}`;

function caDestinations(plan: PkiPlan): Record<string, string[]> {
    const gatewayCluster = plan.config.clusters[0].name;
    const gatewaySecrets = plan.endpoints.map((e) =>
        secretPath(gatewayCluster, e.gatewaySecret.namespace, e.gatewaySecret.name),
    );
    const cacerts = plan.config.clusters.map((c) => secretPath(c.name, MESH_CA_SECRET.namespace, MESH_CA_SECRET.name));
    const truststores = plan.endpoints.map((e) => `apic/${e.id}/truststore.pem`);
    const trust = plan.config.trustDomains;
    const rootPlaces: Record<IntermediateSlot, string[]> = {
        apicClientCa: gatewaySecrets.map((s) => `${s} (ca.crt)`),
        gatewayServerCa: truststores,
        meshCa: cacerts.map((s) => `${s} (root-cert.pem, cert-chain.pem)`),
    };
    const roots: Record<string, string[]> = {};
    for (const slot of ["apicClientCa", "gatewayServerCa", "meshCa"] as const) {
        const id = ROOT_IDS[rootOf(slot, trust)];
        roots[id] = [...(roots[id] ?? []), ...rootPlaces[slot]];
    }
    return {
        ...roots,
        "gateway-server-ca": gatewaySecrets.map((s) => `${s} (tls.crt chain)`),
        "apic-client-ca": plan.endpoints.map((e) => `apic/${e.id}/ca-chain.pem`),
    };
}

function caRow(ca: CaPlan, goesTo: Record<string, string[]>): PlannedCertificate {
    // A CA that is only trusted (the other side of a staged rotation) is in no chain and not installed.
    const inChain = (place: string) => place.includes("tls.crt chain") || place.endsWith("/ca-chain.pem");
    const delivered =
        ca.cluster !== undefined
            ? ca.active
                ? [
                      `${secretPath(ca.cluster, MESH_CA_SECRET.namespace, MESH_CA_SECRET.name)} (ca-cert.pem, cert-chain.pem)`,
                  ]
                : []
            : (goesTo[ca.slotId] ?? []).filter((place) => ca.active || !inChain(place));
    return {
        id: ca.id,
        role: ca.role,
        ...(ca.cluster !== undefined ? { cluster: ca.cluster } : {}),
        subject: describeSubject(ca.subject),
        dnsNames: [],
        uris: [],
        issuer: ca.issuer ?? ca.id,
        key: describeKey(ca.key),
        uses: [...CA_USES],
        validityDays: ca.validityDays,
        renewAfterDays: ca.validityDays - ca.earlyRenewalDays,
        epoch: ca.epoch,
        goesTo: delivered,
    };
}

function leafRow(plan: PkiPlan, endpoint: EndpointPlan, leaf: LeafPlan): PlannedCertificate {
    const kind = leaf.role === "gateway-server" ? "server" : "client";
    const gatewayCluster = plan.config.clusters[0].name;
    return {
        id: `${endpoint.id}/${kind}`,
        role: leaf.role,
        endpoint: endpoint.id,
        subject: describeSubject(leaf.subject),
        dnsNames: [...leaf.dnsNames],
        uris: [...leaf.uris],
        issuer: leaf.issuer,
        key: describeKey(leaf.key),
        uses: [...leaf.allowedUses],
        validityDays: leaf.validityDays,
        renewAfterDays: leaf.validityDays - leaf.earlyRenewalDays,
        epoch: leaf.epoch,
        goesTo:
            kind === "server"
                ? [
                      `${secretPath(gatewayCluster, endpoint.gatewaySecret.namespace, endpoint.gatewaySecret.name)} (tls.crt, tls.key)`,
                  ]
                : [`apic/${endpoint.id}/client.crt, client.key (APIC keystore)`],
    };
}

/** Root first, then the other CAs, then per endpoint its server and client certificate. */
export function plannedCertificates(plan: PkiPlan): PlannedCertificate[] {
    const goesTo = caDestinations(plan);
    return [
        ...plan.cas.map((ca) => caRow(ca, goesTo)),
        ...plan.endpoints.flatMap((e) => [leafRow(plan, e, e.server), leafRow(plan, e, e.client)]),
    ];
}
