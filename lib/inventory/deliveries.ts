/**
 * Where a plan's keys, certificates and CRLs end up, item by item: each Kubernetes secret key,
 * each APIC keystore and truststore file, for the backend (gateway, APIC, istiod) and the front
 * end (UI services' Secrets, APIC's UI-facing keystores and truststore, customer-facing hosts).
 * Pure, from the plan alone, mirroring what lib/stack.ts and the components write; `diff`
 * compares two of these to say which secret or bundle is created, updated or deleted, and what
 * changes inside it.
 */
import * as crypto from "crypto";
import { intermediateSlots, IntermediateSlot, INTERMEDIATE_SLOTS, rootOf } from "../plan/hierarchy";
import { activeCa, CaPlan, CrlPlan, layoutOf, MESH_CA_SECRET, PkiPlan, slotRoots } from "../plan/plan";
import { stepOf } from "../plan/caRotation";
import { pemBlocks } from "../pki/pem";
import { pkcs12FriendlyName } from "../pki/pkcs12";
import { subjectOf } from "../pki/x509";
import { APIC_UI_DIR, apicServerCertId, customerFacingCertId, secretPath, uiClientCertId } from "./planned";

export type PlaceKind =
    | "gateway secret"
    | "istiod cacerts"
    | "UI client secret"
    | "customer-facing secret"
    | "APIC keystore"
    | "APIC truststore"
    | "APIC UI-facing keystore"
    | "APIC UI truststore";

const SECRET_KINDS: readonly PlaceKind[] = [
    "gateway secret",
    "istiod cacerts",
    "UI client secret",
    "customer-facing secret",
];

/** A Kubernetes secret (pulumi up writes it, its readers reload it), not APIC material uploaded by hand. */
export const isSecret = (kind: PlaceKind): boolean => SECRET_KINDS.includes(kind);

/** What an item holds: a certificate, a private key or a CRL, each named by its certificate id. */
export interface Content {
    readonly kind: "cert" | "key" | "crl";
    readonly id: string;
}

export interface Place {
    /** A secret's render path (`k8s/<cluster>/<namespace>/secret-<name>`), or `APIC keystore of <endpoint>`. */
    readonly id: string;
    readonly kind: PlaceKind;
    /**
     * Whom it serves: the endpoint (gateway secrets, APIC bundles), the cluster (cacerts), the UI
     * service (its Secret), the host (APIC's UI-facing keystores, customer-facing secrets), or
     * `apic/ui` (APIC's UI truststore, for every UI service).
     */
    readonly owner: string;
    /** The id of the certificate the place exists for (its items call it "its certificate"), if one. */
    readonly leaf?: string;
    /** Secret key or file -> what it holds, in order. */
    readonly items: Readonly<Record<string, readonly Content[]>>;
    /**
     * File -> how it is written, for a file whose bytes also depend on that (a PKCS#12's
     * encryption, iterations and alias): rewritten when this changes, whatever it holds.
     */
    readonly written?: Readonly<Record<string, string>>;
}

/** The algorithms of each PKCS#12 profile (lib/pki/pkcs12.ts). */
const PKCS12_ALGORITHMS = {
    modern: "AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC",
    legacy: "3DES, SHA-1 MAC",
} as const;

/** How an endpoint's client.p12 is written: profile, algorithms, iterations and alias (never its password). */
const pkcs12Written = (plan: PkiPlan, endpoint: string): string =>
    `PKCS#12 ${plan.config.pkcs12Profile} (${PKCS12_ALGORITHMS[plan.config.pkcs12Profile]}; ` +
    `${plan.config.pkcs12Iterations} iterations; alias ${pkcs12FriendlyName(endpoint, plan.config.pkcs12Profile)})`;

const cert = (id: string): Content => ({ kind: "cert", id });
const key = (id: string): Content => ({ kind: "key", id });
const crl = (id: string): Content => ({ kind: "crl", id });

/** The roots of a root slot's domain as a trust bundle holds them (slotRoots: old generation first). */
const rootsOf = (plan: PkiPlan, slot: ReturnType<typeof rootOf>): CaPlan[] => slotRoots(plan.cas, slot);

/** The first position at which a staged rotation has retired a CA. */
const FIRST_FINISH = stepOf({ generation: 1, phase: "finish" });

/**
 * Where CRLs are published, as far as the config tells, by the flags of PkiPlan.crls (planCrls in
 * lib/plan/plan.ts): once a client of that relying party is revoked (APIC clients: the gateway's
 * ca.crl; UI clients: APIC's UI truststore), or once an issuing CA under the same root was retired
 * (its rotation reached a finish, or, for mesh CAs, its cluster left since `base`). The deployed
 * record, which `pulumi up` reads, also drops a retired CA once it expires; a diff of two stack
 * files cannot know that, so a CRL stays published here as long as the config shows a finished
 * rotation (and a removed cluster's CAs only in the diff that removes it).
 */
export function crlsPublished(plan: PkiPlan, base?: PkiPlan): Omit<CrlPlan, "offlineRootCrls"> {
    const { caRotation, trustDomains, revocations } = plan.config;
    const meshCasRevoked = meshCasRevokedSince(base, plan).length > 0;
    // Under a shared root a mesh CA retired is under every slot's root, as planCrls counts it.
    const retiredUnder = (slot: IntermediateSlot): boolean =>
        INTERMEDIATE_SLOTS.some(
            (other) =>
                rootOf(other, trustDomains) === rootOf(slot, trustDomains) &&
                (stepOf(caRotation[other]) >= FIRST_FINISH || (other === "meshCa" && meshCasRevoked)),
        );
    return {
        gateway: revocations.some((r) => r.endpoint !== undefined) || retiredUnder("apicClientCa"),
        apicTruststore: retiredUnder("gatewayServerCa"),
        mesh: retiredUnder("meshCa"),
        // No UI truststore without UI callers, though a shared root's retired CA is under its root too.
        apicUiTruststore:
            intermediateSlots(layoutOf(plan.config)).includes("uiClientCa") &&
            (revocations.some((r) => r.uiClient !== undefined) || retiredUnder("uiClientCa")),
    };
}

/**
 * The mesh CAs of `base` (the stack file before) that `plan` no longer has, under a root it keeps:
 * a removed cluster's, every generation, and the old generation of a mesh CA rotation that
 * finishes. The plan's root CRL revokes them, as pulumi up does (leavingMeshCas in lib/plan/plan.ts).
 */
export function meshCasRevokedSince(base: PkiPlan | undefined, plan: PkiPlan): CaPlan[] {
    const ids = new Set(plan.cas.map((c) => c.id));
    return (base?.cas ?? []).filter((c) => c.role === "mesh-ca" && !ids.has(c.id) && ids.has(c.issuer ?? ""));
}

/** What the update of a plan whose CSRs wait for the ceremony makes (waitingForCeremony). */
export interface WaitingForCeremony {
    /** The CSRs the offline roots have not signed yet (PkiPlan.pendingIntermediates). */
    pending: readonly string[];
    /** The cacerts of the mesh CAs signed by then, the only places it writes. */
    places: Place[];
}

/**
 * What the update of a plan whose CSRs wait for the ceremony (PkiPlan.pendingIntermediates) makes:
 * while any CSR is pending, it registers only the CAs (their keys and CSRs) and the cacerts of the
 * mesh CAs already signed (requestOfflineSignatures in lib/stack.ts; MeshPluginCa holds back a
 * pending CA's cacerts), deletes nothing and stops. No leaf, gateway Secret or APIC bundle: what
 * is deployed besides is what the last update that ran whole made, which no stack file shows.
 * `base`: the plan it follows (placesOf). Undefined: nothing waits.
 */
export function waitingForCeremony(plan: PkiPlan, base?: PkiPlan): WaitingForCeremony | undefined {
    const pending = new Set<string>(plan.pendingIntermediates);
    if (pending.size === 0) return undefined;
    const places = placesOf(plan, base).filter(
        (p) => p.kind === "istiod cacerts" && !pending.has(p.items["ca-cert.pem"][0].id),
    );
    return { pending: [...pending], places };
}

/** What every cluster's cacerts ca-crl.pem holds once published: the CRL of each mesh root, then of each mesh CA. */
export function meshCrls(plan: PkiPlan): Content[] {
    return [
        ...rootsOf(plan, rootOf("meshCa", plan.config.trustDomains)),
        ...plan.cas.filter((c) => c.role === "mesh-ca"),
    ].map((c) => crl(c.id));
}

/** The CA certificates of pki:frontEnd.apicServerCa, each named by its subject and serial. */
function givenCas(pem: string): Content[] {
    return pemBlocks(pem, "CERTIFICATE").map((block) => {
        const ca = new crypto.X509Certificate(block);
        const cn = /(?:^|\n)CN=([^\n]*)/.exec(ca.subject ?? "")?.[1] ?? subjectOf(ca);
        return cert(`pki:frontEnd.apicServerCa ${cn} (serial ${ca.serialNumber})`);
    });
}

/**
 * Every place the plan delivers to, in a stable order: gateway secrets, cacerts, UI services'
 * Secrets, customer-facing secrets, then APIC's bundles (per endpoint, then UI-facing). `base`:
 * the plan it follows, whose mesh CAs it no longer has are revoked (crlsPublished).
 */
export function placesOf(plan: PkiPlan, base?: PkiPlan): Place[] {
    const { config, frontEnd } = plan;
    if (plan.cas.length === 0) return []; // the base of a new stack
    const trust = config.trustDomains;
    const published = crlsPublished(plan, base);
    const gatewayCluster = config.clusters[0].name;
    const serverCa = activeCa(plan.cas, "gateway-server-ca");
    const clientCa = activeCa(plan.cas, "apic-client-ca");
    const clientRoots = rootsOf(plan, rootOf("apicClientCa", trust));
    const serverRoots = rootsOf(plan, rootOf("gatewayServerCa", trust));
    const meshRoots = rootsOf(plan, rootOf("meshCa", trust));
    const uiRoots = rootsOf(plan, rootOf("uiClientCa", trust));
    const generations = (slotId: string) => plan.cas.filter((c) => c.slotId === slotId);
    const crlsOf = (cas: readonly CaPlan[]): Content[] => cas.map((c) => crl(c.id));
    // An APIC truststore (DataPower validation credentials): the roots, then every generation of the
    // issuing CA, each oldest first, so that it changes when a generation comes (prepare) or goes
    // (finish), not at a switch (stack.ts dataPowerTrust).
    const oldestFirst = (cas: readonly CaPlan[]) => [...cas].sort((a, b) => a.generation - b.generation);
    const dataPowerTrust = (roots: readonly CaPlan[], slotId: string): Content[] =>
        [...oldestFirst(roots), ...oldestFirst(generations(slotId))].map((c) => cert(c.id));

    /** A `kubernetes.io/tls` Secret in the gateway's cluster: a leaf, its chain and key, and what else the reader takes. */
    const leafSecret = (
        kind: PlaceKind,
        owner: string,
        leaf: string,
        secret: { namespace: string; name: string },
        chain: readonly string[],
        more: Record<string, readonly Content[]> = {},
    ): Place => ({
        id: secretPath(gatewayCluster, secret.namespace, secret.name),
        kind,
        owner,
        leaf,
        items: { "tls.crt": [cert(leaf), ...chain.map(cert)], "tls.key": [key(leaf)], ...more },
    });

    const gatewaySecrets = plan.endpoints.map((e) =>
        leafSecret("gateway secret", e.id, `${e.id}/server`, e.gatewaySecret, [serverCa.id], {
            "ca.crt": clientRoots.map((r) => cert(r.id)),
            ...(published.gateway ? { "ca.crl": crlsOf([...generations("apic-client-ca"), ...clientRoots]) } : {}),
        }),
    );
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
                ...(published.mesh ? { "ca-crl.pem": meshCrls(plan) } : {}),
            },
        }));
    // The sidecars verify APIC's UI-facing certificate against this: the server root(s), or APIC's own CA.
    const apicAnchors =
        config.frontEnd.apicServerCa !== undefined
            ? givenCas(config.frontEnd.apicServerCa)
            : serverRoots.map((r) => cert(r.id));
    const uiSecrets = frontEnd.uiClients.map((c) =>
        leafSecret("UI client secret", c.name, uiClientCertId(c.name), c.secret, [c.leaf.issuer], {
            "ca.crt": apicAnchors,
            ...(published.apicTruststore && config.frontEnd.apicServerCa === undefined
                ? { "ca.crl": crlsOf([...generations("gateway-server-ca"), ...serverRoots]) }
                : {}),
        }),
    );
    // A customer-facing host has a Secret once the public CA's certificate is given.
    const customerFacing = frontEnd.customerFacing
        .filter((c) => c.certificate !== undefined)
        .map((c) => leafSecret("customer-facing secret", c.host, customerFacingCertId(c.host), c.secret, []));
    const apic = plan.endpoints.flatMap((e): Place[] => [
        {
            id: `APIC keystore of ${e.id}`,
            kind: "APIC keystore",
            owner: e.id,
            leaf: `${e.id}/client`,
            items: {
                "client.crt": [cert(`${e.id}/client`)],
                "client.key": [key(`${e.id}/client`)],
                "ca-chain.pem": [cert(clientCa.id)],
            },
            // The stack output's pkcs12Base64, render's client.p12; keystore.json holds the PEM.
            written: { "client.p12": pkcs12Written(plan, e.id) },
        },
        {
            id: `APIC truststore of ${e.id}`,
            kind: "APIC truststore",
            owner: e.id,
            items: {
                "truststore.pem": dataPowerTrust(serverRoots, "gateway-server-ca"),
                ...(published.apicTruststore
                    ? { "truststore.crl": crlsOf([...generations("gateway-server-ca"), ...serverRoots]) }
                    : {}),
            },
        },
    ]);
    const apicUiKeystores = frontEnd.apicServers.map((s): Place => {
        const id = apicServerCertId(s.host);
        return {
            id: `APIC UI-facing keystore of ${s.host}`,
            kind: "APIC UI-facing keystore",
            owner: s.host,
            leaf: id,
            items: { "server.crt": [cert(id)], "server.key": [key(id)], "ca-chain.pem": [cert(s.leaf.issuer)] },
        };
    });
    const apicUiTruststore: Place[] =
        frontEnd.uiClients.length === 0
            ? []
            : [
                  {
                      id: "APIC UI truststore",
                      kind: "APIC UI truststore",
                      owner: APIC_UI_DIR,
                      items: {
                          "truststore.pem": dataPowerTrust(uiRoots, "ui-client-ca"),
                          ...(published.apicUiTruststore
                              ? { "truststore.crl": crlsOf([...generations("ui-client-ca"), ...uiRoots]) }
                              : {}),
                      },
                  },
              ];
    return [
        ...gatewaySecrets,
        ...cacerts,
        ...uiSecrets,
        ...customerFacing,
        ...apic,
        ...apicUiKeystores,
        ...apicUiTruststore,
    ];
}
