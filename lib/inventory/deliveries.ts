/**
 * Where a plan's keys, certificates and CRLs end up, item by item: each Kubernetes secret key,
 * each APIC keystore and truststore file. Pure, from the plan alone, mirroring what lib/stack.ts
 * writes; `diff` compares two of these to say which secret or bundle is created, updated or
 * deleted, and what changes inside it.
 */
import { rootOf } from "../plan/hierarchy";
import { activeCa, CaPlan, MESH_CA_SECRET, PkiPlan } from "../plan/plan";
import { stepOf } from "../plan/caRotation";
import { secretPath } from "./planned";

export type PlaceKind = "gateway secret" | "istiod cacerts" | "APIC keystore" | "APIC truststore";

/** What an item holds: a certificate, a private key or a CRL, each named by its certificate id. */
export interface Content {
    readonly kind: "cert" | "key" | "crl";
    readonly id: string;
}

export interface Place {
    /** A secret's render path (`k8s/<cluster>/<namespace>/secret-<name>`), or `APIC keystore of <endpoint>`. */
    readonly id: string;
    readonly kind: PlaceKind;
    /** The endpoint (gateway secrets, APIC bundles) or the cluster (cacerts) it serves. */
    readonly owner: string;
    /** Secret key or file -> what it holds, in order. */
    readonly items: Readonly<Record<string, readonly Content[]>>;
}

const cert = (id: string): Content => ({ kind: "cert", id });
const key = (id: string): Content => ({ kind: "key", id });
const crl = (id: string): Content => ({ kind: "crl", id });

/** The roots of a root slot's domain as a trust bundle holds them: the one in use first. */
function rootsOf(plan: PkiPlan, slot: ReturnType<typeof rootOf>): CaPlan[] {
    const all = plan.cas.filter((c) => c.role === "root" && c.slot === slot);
    return [...all.filter((c) => c.active), ...all.filter((c) => !c.active)];
}

/**
 * Where CRLs are published, as far as the config tells: once an APIC client is revoked, or once an
 * issuing CA under the same root was retired (its rotation reached a finish). The deployed record,
 * which `pulumi up` reads, also drops a retired CA once it expires; a diff of two stack files cannot
 * know that, so a CRL stays published here as long as the config shows a finished rotation.
 */
export function crlsPublished(plan: PkiPlan): { gateway: boolean; apicTruststore: boolean; mesh: boolean } {
    const { caRotation, trustDomains, revocations } = plan.config;
    const retiredUnder = (slot: "apicClientCa" | "gatewayServerCa" | "meshCa"): boolean =>
        (["apicClientCa", "gatewayServerCa", "meshCa"] as const).some(
            (other) =>
                rootOf(other, trustDomains) === rootOf(slot, trustDomains) &&
                stepOf(caRotation[other]) >= stepOf({ generation: 1, phase: "finish" }),
        );
    return {
        gateway: revocations.length > 0 || retiredUnder("apicClientCa"),
        apicTruststore: retiredUnder("gatewayServerCa"),
        mesh: retiredUnder("meshCa"),
    };
}

/** Every place the plan delivers to, in a stable order: gateway secrets, cacerts, then APIC bundles. */
export function placesOf(plan: PkiPlan): Place[] {
    const { config } = plan;
    if (plan.cas.length === 0) return []; // the base of a new stack
    const trust = config.trustDomains;
    const published = crlsPublished(plan);
    const gatewayCluster = config.clusters[0].name;
    const serverCa = activeCa(plan.cas, "gateway-server-ca");
    const clientCa = activeCa(plan.cas, "apic-client-ca");
    const clientRoots = rootsOf(plan, rootOf("apicClientCa", trust));
    const serverRoots = rootsOf(plan, rootOf("gatewayServerCa", trust));
    const meshRoots = rootsOf(plan, rootOf("meshCa", trust));
    const generations = (slotId: string) => plan.cas.filter((c) => c.slotId === slotId);
    const crlsOf = (cas: readonly CaPlan[]): Content[] => cas.map((c) => crl(c.id));

    const gatewaySecrets = plan.endpoints.map((e): Place => ({
        id: secretPath(gatewayCluster, e.gatewaySecret.namespace, e.gatewaySecret.name),
        kind: "gateway secret",
        owner: e.id,
        items: {
            "tls.crt": [cert(`${e.id}/server`), cert(serverCa.id)],
            "tls.key": [key(`${e.id}/server`)],
            "ca.crt": clientRoots.map((r) => cert(r.id)),
            ...(published.gateway ? { "ca.crl": crlsOf([...generations("apic-client-ca"), ...clientRoots]) } : {}),
        },
    }));
    const meshCas = plan.cas.filter((c) => c.role === "mesh-ca");
    const cacerts = meshCas
        .filter((c) => c.active)
        .map((ca): Place => ({
            id: secretPath(ca.cluster ?? "", MESH_CA_SECRET.namespace, MESH_CA_SECRET.name),
            kind: "istiod cacerts",
            owner: ca.cluster ?? "",
            items: {
                "ca-cert.pem": [cert(ca.id)],
                "ca-key.pem": [key(ca.id)],
                "cert-chain.pem": [cert(ca.id), cert(ca.issuer ?? "")],
                "root-cert.pem": meshRoots.map((r) => cert(r.id)),
                ...(published.mesh ? { "ca-crl.pem": crlsOf([...meshRoots, ...meshCas]) } : {}),
            },
        }));
    const apic = plan.endpoints.flatMap((e): Place[] => [
        {
            id: `APIC keystore of ${e.id}`,
            kind: "APIC keystore",
            owner: e.id,
            items: {
                "client.crt": [cert(`${e.id}/client`)],
                "client.key": [key(`${e.id}/client`)],
                "ca-chain.pem": [cert(clientCa.id)],
            },
        },
        {
            id: `APIC truststore of ${e.id}`,
            kind: "APIC truststore",
            owner: e.id,
            items: {
                "truststore.pem": serverRoots.map((r) => cert(r.id)),
                ...(published.apicTruststore
                    ? { "truststore.crl": crlsOf([...generations("gateway-server-ca"), ...serverRoots]) }
                    : {}),
            },
        },
    ]);
    return [...gatewaySecrets, ...cacerts, ...apic];
}
