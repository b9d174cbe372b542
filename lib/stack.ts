/**
 * The stack program: plan -> components. Roots (lib/plan/hierarchy.ts) -> the gateway-server,
 * APIC-client and per-cluster mesh CAs -> per endpoint one server certificate (on the gateway) and
 * one client certificate (for APIC), pinned by its key at the gateway.
 */
import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApicClientBundle } from "./components/apicClientBundle";
import { IntermediateCa } from "./components/intermediateCa";
import { IstioGatewayTls } from "./components/istioGatewayTls";
import { MeshPluginCa } from "./components/meshPluginCa";
import { RootCa } from "./components/rootCa";
import { ApicServerCertificate } from "./components/apicServerCertificate";
import { CustomerFacingTls } from "./components/customerFacingTls";
import { atPlanClock } from "./components/checkClock";
import { offlineSignerFromStackFile } from "./components/keys";
import { ApicEgress, hostLabel, UiApicClient } from "./components/uiApicClient";
import { reissuedInPlaceConsequences, rootsReissuedInPlace } from "./plan/reissue";
import { buildInventory, IssuedCertificate, keysOf } from "./inventory/issued";
import { joinPemOutputs } from "./components/pem";
import {
    CA_SLOTS,
    clientPhasesAfter,
    clientsAfter,
    crlNumberFloor,
    deployedCa,
    DeployedClient,
    DeployedServer,
    INITIAL_RECORD,
    normalSerial,
    positionsSinceAfter,
    RECORD_VERSION,
    rootKeysAfter,
    RotationRecord,
    serversAfter,
    stepOf,
} from "./plan/caRotation";
import { intermediateSlots, ROOT_IDS, ROOT_SLOTS, ROOT_TITLES, RootSlot, rootOf, rootSlotOf } from "./plan/hierarchy";
import { CrlRecord, RevokedEntry, signCrl } from "./pki/crl";
import { seriesCrlRecord } from "./pki/crlSeries";
import { spkiPin } from "./pki/pins";
import { OwnCa, ownCaChainProblem, ownCaPublicRootsProblems } from "./pki/publicCert";
import { unexpiredCertificates } from "./pki/trustBundle";
import { expiredAt } from "./pki/x509";
import { settingDigests } from "./config/settings";
import { ClusterConfig, PkiConfig } from "./config/types";
import { apicServerCaInStateProblems, StackRoot } from "./config/validateTrust";
import { ownMember } from "./config/values";
import {
    activeCa,
    caInstanceId,
    CaId,
    CaPlan,
    clientPhaseOf,
    gatewayComponentName,
    layoutOf,
    leafOptionsOf,
    LeafOptions,
    LeafPlan,
    PkiPlan,
    slotRoots,
    apicServerRecordKey,
    uiClientOfRecordKey,
    uiClientRecordKey,
} from "./plan/plan";
import { apicServerCertId, customerFacingCertId, customerFacingCsrFile, uiClientCertId } from "./inventory/planned";

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
    /** The gateway's pin of this client key (`verifyCertificateSpki`). */
    spkiPin: pulumi.Output<string>;
    /** Secret: key, certificate and chain as PKCS#12, base64. */
    pkcs12Base64: pulumi.Output<string>;
    /** Secret. */
    pkcs12Password: pulumi.Output<string>;
}

/** What each relying party trusts: exactly what the package writes into its trust store. */
export interface TrustAnchors {
    /** The gateway's `ca.crt`: the root(s) of APIC's client certificates, nothing else. */
    gatewayClients: pulumi.Output<string>;
    /**
     * APIC's truststore: the root(s) of the gateway's server certificates, then every generation of
     * the gateway-server CA in use (DataPower builds the chain from its validation credentials only).
     */
    apicTruststore: pulumi.Output<string>;
    /** istiod's `root-cert.pem`: the mesh root(s). */
    mesh: pulumi.Output<string>;
}

/** What the front end gets (pki:frontEnd); empty when no UI service calls APIC and no customer-facing host is set. */
export interface FrontEndOutputs {
    /** Per UI service calling APIC (Kubernetes name): its Secret and identity. */
    uiClients: Record<
        string,
        { namespace: string; secretName: string; identity: string; certPem: pulumi.Output<string> }
    >;
    /** What APIC's UI-facing TLS server profile needs. */
    apic: {
        /**
         * The UI client root(s) and every UI client CA in use: the truststore that makes APIC demand
         * and check the UI services' certificates.
         */
        truststorePem?: pulumi.Output<string>;
        /** CRLs of the UI client CAs and root, once one was revoked (for a DataPower that takes CRLs). */
        truststoreCrlPem?: pulumi.Output<string>;
        /** Per APIC host, its server certificate when issued here (keystore of the TLS server profile). */
        servers: Record<
            string,
            { certPem: pulumi.Output<string>; caChainPem: pulumi.Output<string>; privateKeyPem: pulumi.Output<string> }
        >;
    };
    /** Per customer-facing host: the CSR of the requested key, for the public CA. */
    customerFacingCsrs: Record<string, pulumi.Output<string>>;
    /** Customer-facing hosts whose certificate is not given yet. */
    pendingCustomerFacing: string[];
}

export interface PkiStackOutputs {
    /** What the gateway, APIC and the mesh trust (during a root rotation the root in use first). */
    trustAnchors: TrustAnchors;
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
    /**
     * Every certificate: where it goes, its serial, validity and fingerprint, and when to renew it;
     * no key material (`pulumi stack output inventory`, what `lifecycle` and `expiry` read).
     */
    inventory: pulumi.Output<IssuedCertificate[]>;
    /** UI services calling APIC, APIC's UI-facing TLS server profile, customer-facing hosts. */
    frontEnd: FrontEndOutputs;
    /**
     * What the next update reads back: rotation phases, CA serials, retired CAs, the client
     * certificates issued and the customer-facing keys' pins (lib/plan/caRotation.ts).
     */
    deploymentRecord: pulumi.Output<RotationRecord>;
}

export interface PkiStack {
    readonly plan: PkiPlan;
    /** The roots made in this stack, by CA id (none for roots kept offline). */
    readonly roots: Readonly<Record<CaId, RootCa>>;
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

/** A CA's CRL: signed here with its key, or (an offline root) signed by the ceremony and given in config. */
type CrlSource = { ca: CaPlan; signer: CrlSigner } | { ca: CaPlan; pem: string };

/** The CRLs of one deployment: each CA signs at most one, whichever bundles carry it. */
interface CrlPublisher {
    /** One CRL per CA, concatenated (what Envoy's and istiod's CRL files hold). */
    bundle(sources: readonly CrlSource[]): pulumi.Output<string>;
    /**
     * For the deployment record: the CRLs signed now, the offline roots' CRLs published now (so
     * that the pipeline re-publishes when their series moves on), and the earlier ones of CAs
     * still here (for their numbers).
     */
    records(): pulumi.Output<Record<CaId, CrlRecord>>;
}

/**
 * What a CA's CRL lists: a root the intermediates it retired, the APIC-client CA the revoked APIC
 * clients, the UI client CA the revoked UI clients.
 */
function revokedBy(plan: PkiPlan, ca: CaPlan): RevokedEntry[] {
    if (ca.role === "root") return retiredBy(plan, ca.id);
    const kind = ca.slot === "apicClientCa" ? "apic" : ca.slot === "uiClientCa" ? "ui" : undefined;
    return plan.revoked
        .filter((r) => r.kind === kind && (r.issuer === undefined || r.issuer === ca.id))
        .map((r) => ({ serialHex: r.serialHex, revokedAt: new Date(r.revokedAt), reason: r.reason }));
}

/**
 * CRLs computed at deploy time, identical within an unchanged update. The edge's issuing CAs,
 * whose CRLs list revoked APIC clients, re-sign theirs every publication period; roots and mesh
 * CAs sign one valid until they expire (lib/pki/crl.ts CrlRenewal).
 */
function crlPublisher(plan: PkiPlan): CrlPublisher {
    const signed = new Map<CaId, pulumi.Output<{ pem: string; record: CrlRecord }>>();
    /** Offline roots' CRLs as the ceremony signed them, by CA id, with the root's certificate. */
    const given = new Map<CaId, { pem: string; rootCertPem: string }>();
    const floor = crlNumberFloor(plan.deployed);
    const sign = (ca: CaPlan, signer: CrlSigner) => {
        const known = signed.get(ca.id);
        if (known !== undefined) return known;
        const crl = pulumi.unsecret(
            pulumi.all([signer.certPem, signer.privateKeyPem]).apply(([caCertPem, caKeyPem]) =>
                signCrl({
                    caCertPem,
                    caKeyPem,
                    revoked: revokedBy(plan, ca),
                    renewal: ca.role === "intermediate" ? "period" : "issuer",
                    now: plan.now,
                    periodDays: plan.config.crlPeriodDays,
                    previous: plan.deployed?.crls?.[ca.id],
                    floor,
                }),
            ),
        );
        signed.set(ca.id, crl);
        return crl;
    };
    return {
        bundle: (sources) => {
            for (const s of sources) {
                const root = plan.config.offlineRoots[rootSlotOfCa(plan, s.ca)];
                if ("pem" in s && s.pem !== "" && root !== undefined)
                    given.set(s.ca.id, { pem: s.pem, rootCertPem: root.certificate });
            }
            return pulumi
                .all(sources.map((s) => ("pem" in s ? pulumi.output(s.pem) : sign(s.ca, s.signer).apply((c) => c.pem))))
                .apply((crls) => crls.join(""));
        },
        records: () => {
            const ids = [...signed.keys()];
            const series = [...given].map(([id, crl]): [CaId, CrlRecord] => [
                id,
                seriesCrlRecord(crl.pem, crl.rootCertPem),
            ]);
            return pulumi.all(ids.map((id) => signed.get(id) as pulumi.Output<{ record: CrlRecord }>)).apply((crls) => {
                const earlier = Object.entries(plan.deployed?.crls ?? {})
                    .filter(([id]) => plan.cas.some((ca) => ca.id === id) && !ids.includes(id) && !given.has(id))
                    .map(([id, record]): [CaId, CrlRecord] => [id, { ...record, published: false }]);
                return Object.fromEntries([
                    ...earlier,
                    ...series,
                    ...ids.map((id, i): [CaId, CrlRecord] => [id, crls[i].record]),
                ]);
            });
        },
    };
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
    /** By CA id; roots kept offline have none. */
    readonly roots: Readonly<Record<CaId, RootCa>>;
    /** By CA id: every root, intermediate and mesh CA certificate. */
    readonly caCertPems: Record<CaId, pulumi.Output<string>>;
    /** By root slot: every certificate of that root to trust, oldest first in every phase (slotRoots). */
    readonly trustedRoots: (slot: RootSlot) => pulumi.Output<string>;
    /**
     * A DataPower truststore (validation credentials) for the leaves of an issuing CA slot: its
     * root(s), then every generation of the CA, oldest first (as lib/inventory/deliveries.ts
     * dataPowerTrust models it).
     */
    readonly dataPowerTrust: (slotId: CaId) => pulumi.Output<string>;
    /**
     * By issuing CA slot: the CRLs of every generation of it and of its root, one for every CA of
     * the chains its leaves present (what a relying party checks under CRL_CHECK_ALL).
     */
    readonly issuingCrls: (slotId: CaId) => CrlSource[];
    readonly crls: CrlPublisher;
    /** By CA id: the gateway-server and APIC-client CAs (both generations during a rotation). */
    readonly intermediates: Readonly<Record<CaId, IntermediateCa>>;
    /** By CA id, every mesh CA. */
    readonly meshCas: Readonly<Record<CaId, MeshPluginCa>>;
    readonly providers: k8s.Provider[];
}

/** `root-ca` for the shared root (its name since the start), `client-root-ca`, ..., `-g<n>` after a rotation. */
function rootResourceName(id: CaId): string {
    const [, stem, generation] = /^(.*?root)(-g\d+)?$/.exec(id) ?? [id, id, ""];
    return `${stem}-ca${generation ?? ""}`;
}

/** The root slot of a CA of the plan. */
const rootSlotOfCa = (plan: PkiPlan, ca: CaPlan): RootSlot => rootSlotOf(ca.slot, plan.config.trustDomains);

/**
 * The Kubernetes provider of a cluster, through its kubeconfig context. With enableSecretMutable a
 * Secret whose data changes is updated in place: by default pulumi-kubernetes replaces it, and a
 * named Secret is deleted before it is created again (provider/pkg/provider/diff.go and Diff's
 * deleteBeforeReplace), so every renewal, CRL and rotation step would leave the gateway, istiod's
 * cacerts or a sidecar without its Secret in between.
 */
export function clusterProvider(cluster: ClusterConfig): k8s.Provider {
    return new k8s.Provider(cluster.name, {
        ...(cluster.context !== undefined ? { context: cluster.context } : {}),
        enableSecretMutable: true,
    });
}

/**
 * The early-renewal window the stack gives @pulumi/tls: none. Inside a window the provider
 * re-issues a certificate on whatever `pulumi up` runs, in place, with the same key, and every
 * certificate a CA signed with it; it does so without the staged rotation a CA needs (istiod keeps
 * its loaded mesh root until restarted), without the upload of APIC's keystores, and without a new
 * key. Renewal is the lifecycle's (`pki:earlyRenewalDays` is its renewal point, in the plan and the
 * inventory); the provider still re-issues a certificate that has expired, at the next update.
 */
export const PROVIDER_EARLY_RENEWAL_DAYS = 0;

/** The leaves' options as the stack gives them to the components: the config's, with no provider window. */
const providerLeafOptions = (config: PkiConfig): LeafOptions => ({
    ...leafOptionsOf(config),
    earlyRenewalDays: PROVIDER_EARLY_RENEWAL_DAYS,
});

function buildCas(plan: PkiPlan): CaLayer {
    const { config } = plan;
    const crls = crlPublisher(plan);
    const rootPlans = plan.cas.filter((c) => c.role === "root");
    const roots: Record<CaId, RootCa> = {};
    const caCertPems: Record<CaId, pulumi.Output<string>> = {};
    for (const p of rootPlans) {
        const offline = config.offlineRoots[rootSlotOfCa(plan, p)];
        caCertPems[p.id] = offline
            ? pulumi.output(offline.certificate)
            : (roots[p.id] = new RootCa(rootResourceName(p.id), {
                  subject: p.subject,
                  keyAlgorithm: p.key.algorithm,
                  validityDays: p.validityDays,
                  earlyRenewalDays: PROVIDER_EARLY_RENEWAL_DAYS,
                  maxPathLength: p.maxPathLength,
              })).certPem;
    }
    const rootsOf = (slot: RootSlot): CaPlan[] => slotRoots(plan.cas, slot);
    const trustedRoots = (slot: RootSlot) => joinPemOutputs(...rootsOf(slot).map((p) => caCertPems[p.id]));
    const rootCrls = (slot: RootSlot): CrlSource[] =>
        rootsOf(slot).map((p) =>
            roots[p.id] !== undefined
                ? { ca: p, signer: roots[p.id] }
                : { ca: p, pem: plan.crls.offlineRootCrls[p.id] ?? "" },
        );
    /** Signed by its root in this stack, or by the offline ceremony (certificate from config). */
    const signer = (ca: CaPlan) => {
        const offline = config.offlineRoots[rootSlotOfCa(plan, ca)];
        return offline
            ? {
                  offlineRoot: offlineSignerFromStackFile(
                      { rootCertPem: offline.certificate, signedCertPem: offline.intermediates[ca.id] },
                      `pki:offlineRoots.${rootSlotOfCa(plan, ca)}.intermediates.${ca.id}`,
                  ),
              }
            : { rootCa: roots[ca.issuer ?? ""] };
    };

    const intermediates: Record<CaId, IntermediateCa> = {};
    for (const p of plan.cas.filter((c) => c.role === "intermediate")) {
        intermediates[p.id] = new IntermediateCa(p.id, {
            ...signer(p),
            subject: p.subject,
            keyAlgorithm: p.key.algorithm,
            validityDays: p.validityDays,
            earlyRenewalDays: PROVIDER_EARLY_RENEWAL_DAYS,
        });
        caCertPems[p.id] = intermediates[p.id].certPem;
    }

    const providers = config.clusters.map(clusterProvider);
    // Once a CA under the mesh root was retired, istiod gets the mesh root's CRLs (ca-crl.pem) and,
    // since it insists on one signed by its own CA (istio/istio#61075), every mesh CA's CRL too.
    const meshRoot = rootOf("meshCa", config.trustDomains);
    const meshCrl = plan.crls.mesh ? deferred<string>() : undefined;
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
                earlyRenewalDays: PROVIDER_EARLY_RENEWAL_DAYS,
                epoch: p.epoch,
                strictMtls: config.meshStrictMtls,
                installed: p.active,
                trustedRootsPem: trustedRoots(meshRoot),
                crlPem: meshCrl?.output,
            },
            { providers: { kubernetes: providers[clusterIndex] } },
        );
        caCertPems[p.id] = meshCas[p.id].certPem;
    }
    const meshCaPlans = plan.cas.filter((c) => c.role === "mesh-ca");
    meshCrl?.resolve(
        crls.bundle([...rootCrls(meshRoot), ...meshCaPlans.map((ca) => ({ ca, signer: meshCas[ca.id] }))]),
    );
    // DataPower builds the chain from its validation credentials alone (legacy mode wants the leaf's
    // issuer there, PKIX mode the whole chain), not from what the peer sends; with no CRL in its
    // profile, dropping a retired generation from here is what makes it refuse that CA's leaves.
    // A CA that expired (a root rotation begun after it did) is left out: it verifies nothing any
    // more, and DataPower takes validation credentials holding an expired certificate down
    // (ApicClientBundle refuses one). The inventory still lists it there; only this emergency differs.
    const unexpired = (pem: string): string => unexpiredCertificates(pem, plan.now);
    // Oldest first, roots as their CAs: the file changes when a generation comes (prepare) or goes
    // (finish), not at a switch (DataPower's list is a set, so order asks for no upload).
    const byGeneration = (cas: readonly CaPlan[]) => [...cas].sort((a, b) => a.generation - b.generation);
    const dataPowerTrust = (slotId: CaId) => {
        const generations = byGeneration(plan.cas.filter((c) => c.slotId === slotId));
        const rootSlot = rootSlotOfCa(plan, generations[0]);
        return joinPemOutputs(
            ...rootsOf(rootSlot).map((p) => caCertPems[p.id]),
            ...generations.map((ca) => caCertPems[ca.id]),
        ).apply(unexpired);
    };
    const issuingCrls = (slotId: CaId): CrlSource[] => {
        const generations = plan.cas.filter((c) => c.slotId === slotId);
        return [
            ...generations.map((ca) => ({ ca, signer: intermediates[ca.id] })),
            ...rootCrls(rootSlotOfCa(plan, generations[0])),
        ];
    };
    return { roots, caCertPems, trustedRoots, dataPowerTrust, issuingCrls, crls, intermediates, meshCas, providers };
}

/** The inventory with what was issued: every certificate of the plan, by its inventory id. */
function issuedInventory(
    plan: PkiPlan,
    caCertPems: Record<CaId, pulumi.Output<string>>,
    gateways: readonly IstioGatewayTls[],
    bundles: Readonly<Record<string, ApicClientBundle>>,
    frontEnd: FrontEndLayer,
): pulumi.Output<IssuedCertificate[]> {
    const pems: Record<string, pulumi.Output<string>> = { ...caCertPems };
    for (const gateway of gateways) {
        for (const [id, pem] of Object.entries(gateway.serverCertPems)) pems[`${id}/server`] = pem;
    }
    for (const [id, bundle] of Object.entries(bundles)) pems[`${id}/client`] = bundle.certPem;
    for (const [name, client] of Object.entries(frontEnd.uiClients)) pems[uiClientCertId(name)] = client.certPem;
    for (const [host, server] of Object.entries(frontEnd.apicServers)) pems[apicServerCertId(host)] = server.certPem;
    for (const [host, pem] of Object.entries(frontEnd.customerFacing?.servedCertPems ?? {})) {
        pems[customerFacingCertId(host)] = pem;
    }
    return pulumi.all(pems).apply((issued) => buildInventory(plan, issued));
}

/** The stack output `endpoints`: each endpoint's host, services, gateway secret and APIC identity. */
export function endpointOutputs(plan: PkiPlan): PkiStackOutputs["endpoints"] {
    return plan.endpoints.map((e) => ({
        id: e.id,
        host: e.host,
        services: e.services,
        credentialName: e.gatewaySecret.name,
        clientIdentity: e.clientIdentity,
    }));
}

/** A client certificate this deployment issued, by its record key (an endpoint id, or `ui/<name>`). */
export interface IssuedClient {
    readonly key: string;
    readonly leaf: Pick<LeafPlan, "epoch" | "issuer">;
    readonly certPem: string;
    readonly spkiPin: string;
}

/** A server certificate this deployment issued, by its record key (an endpoint id, or `apic/<host>`). */
export interface IssuedServer {
    readonly key: string;
    readonly epoch: number;
    readonly certPem: string;
}

/** What a deployment issued, as plain values: the CAs' certificates in `plan.cas` order, clients, servers, key pins, CRLs. */
export interface DeploymentFacts {
    readonly caCertPems: readonly string[];
    readonly clients: readonly IssuedClient[];
    readonly servers: readonly IssuedServer[];
    readonly customerFacingKeys: RotationRecord["customerFacingKeys"];
    readonly crls: Readonly<Record<CaId, CrlRecord>>;
    /** The issued inventory: the keys it certifies, and since when, go on to the next update. */
    readonly inventory: readonly IssuedCertificate[];
}

/**
 * The record of a deployment (pure): positions and since when, every CA's serial (for a later
 * finish), retired CAs, the client certificates (for later pins and revocations) and phases, the
 * server certificates' epochs (which only go up), the CRLs' numbers, and a digest of each setting
 * (what lifecycle compares the stack file with). It changes only when what it describes does.
 */
export function recordOfDeployment(plan: PkiPlan, facts: DeploymentFacts): RotationRecord {
    const now = plan.now;
    const deployed = plan.deployed ?? INITIAL_RECORD;
    const issued: Record<string, DeployedClient> = Object.fromEntries(
        facts.clients.map((c) => {
            const cert = new crypto.X509Certificate(c.certPem);
            const client: DeployedClient = {
                epoch: c.leaf.epoch,
                serialHex: cert.serialNumber,
                spki: c.spkiPin,
                notBefore: new Date(cert.validFrom).toISOString(),
                notAfter: new Date(cert.validTo).toISOString(),
                issuer: c.leaf.issuer,
            };
            return [c.key, client];
        }),
    );
    const servers: Record<string, DeployedServer> = Object.fromEntries(
        facts.servers.map((s) => {
            const cert = new crypto.X509Certificate(s.certPem);
            return [
                s.key,
                { epoch: s.epoch, serialHex: cert.serialNumber, notAfter: new Date(cert.validTo).toISOString() },
            ];
        }),
    );
    const meshCrlSince = plan.crls.mesh ? (deployed.meshCrlSince ?? now.toISOString()) : undefined;
    return {
        version: RECORD_VERSION,
        positions: plan.config.caRotation,
        cas: Object.fromEntries(plan.cas.map((ca, i) => [ca.id, deployedCa(facts.caCertPems[i], ca.issuer ?? ca.id)])),
        retired: [...plan.retired],
        clients: clientsAfter(
            deployed.clients,
            issued,
            now,
            plan.revoked.map((r) => ({ holder: r.holder, serialHex: r.serialHex })),
            (holder) => uiClientOfRecordKey(holder) === undefined && !plan.endpoints.some((e) => e.id === holder),
        ),
        customerFacingKeys: facts.customerFacingKeys,
        positionsSince: positionsSinceAfter(deployed, plan.config.caRotation, now),
        clientPhases: clientPhasesAfter(
            deployed,
            Object.fromEntries(
                plan.endpoints.map((e) => [e.id, { phase: clientPhaseOf(plan.config, e.id), epoch: e.client.epoch }]),
            ),
            now,
        ),
        crls: facts.crls,
        highestCrlNumber: Math.max(crlNumberFloor(deployed) - 1, ...Object.values(facts.crls).map((c) => c.number)),
        ...(meshCrlSince !== undefined ? { meshCrlSince } : {}),
        meshEpoch: plan.config.rotation.meshEpoch,
        servers: serversAfter(deployed.servers ?? {}, servers, now),
        keys: keysOf(facts.inventory),
        settings: settingDigests(plan.config),
        rootKeys: rootKeysAfter(
            deployed,
            plan.cas.flatMap((ca, i) =>
                ca.issuer === undefined ? [{ id: ca.id, spki: spkiPin(facts.caCertPems[i]) }] : [],
            ),
        ),
    };
}

/** The deployment record as a stack output, once every certificate it names is issued. */
function deploymentRecord(
    plan: PkiPlan,
    caCertPems: Record<CaId, pulumi.Output<string>>,
    bundles: Readonly<Record<string, ApicClientBundle>>,
    gateways: readonly IstioGatewayTls[],
    frontEnd: FrontEndLayer,
    crls: pulumi.Output<Record<CaId, CrlRecord>>,
    inventory: pulumi.Output<IssuedCertificate[]>,
): pulumi.Output<RotationRecord> {
    /** Every client certificate of this deployment, by its record key: endpoints' APIC clients and UI services'. */
    const holders = [
        ...plan.endpoints.map((e) => ({ key: e.id, leaf: e.client, issued: bundles[e.id] })),
        ...plan.frontEnd.uiClients.map((c) => ({
            key: uiClientRecordKey(c.name),
            leaf: c.leaf,
            issued: frontEnd.uiClients[c.name],
        })),
    ];
    const clients = pulumi.all(holders.map((h) => pulumi.all([h.issued.certPem, h.issued.spkiPin])));
    /** Every server certificate, by its record key: the gateway's by endpoint id, APIC's UI-facing ones by `apic/<host>`. */
    const gatewayCertPems = Object.fromEntries(gateways.flatMap((g) => Object.entries(g.serverCertPems)));
    const servers = [
        ...plan.endpoints.map((e) => ({ key: e.id, epoch: e.server.epoch, certPem: gatewayCertPems[e.id] })),
        ...plan.frontEnd.apicServers.map((s) => ({
            key: apicServerRecordKey(s.host),
            epoch: s.leaf.epoch,
            certPem: frontEnd.apicServers[s.host].certPem,
        })),
    ];
    return pulumi
        .all([
            pulumi.all(plan.cas.map((ca) => caCertPems[ca.id])),
            clients,
            pulumi.all(servers.map((s) => s.certPem)),
            pulumi.all(frontEnd.customerFacing?.keyPins ?? {}),
            crls,
            inventory,
        ])
        .apply(([caCertPems, clientPems, serverPems, customerFacingKeys, crlRecords, issued]) =>
            recordOfDeployment(plan, {
                caCertPems,
                clients: holders.map((h, i) => ({
                    key: h.key,
                    leaf: h.leaf,
                    certPem: clientPems[i][0],
                    spkiPin: clientPems[i][1],
                })),
                servers: servers.map((s, i) => ({ key: s.key, epoch: s.epoch, certPem: serverPems[i] })),
                customerFacingKeys,
                crls: crlRecords,
                inventory: issued,
            }),
        );
}

/** The message for a stack whose offline-root CSRs still wait for the ceremony. */
export function pendingSignaturesMessage(plan: PkiPlan): string {
    const where = plan.pendingIntermediates.map((id) => {
        const ca = plan.cas.find((c) => c.id === id);
        return `${id} (pki:offlineRoots.${ca === undefined ? "?" : rootSlotOfCa(plan, ca)}.intermediates.${id})`;
    });
    return (
        `the offline roots have not signed ${where.join(", ")} yet: ` +
        `on the offline machine sign each CSR (pulumi stack output intermediateCsrs, or csr/<id>.csr of a render) with ` +
        `"npx apic-istio-pki ceremony sign --root <that root's dir> --csr <id>.csr" and put each certificate where its name says`
    );
}

/** The customer-facing hosts whose public CA's certificate is not given yet. */
function pendingCustomerFacingHosts(plan: PkiPlan): string[] {
    return plan.frontEnd.customerFacing.filter((c) => c.certificate === undefined).map((c) => c.host);
}

/** The customer-facing hosts still waiting for a public CA's certificate, and what to do; undefined: none. */
export function pendingCustomerFacingMessage(plan: PkiPlan): string | undefined {
    const pending = pendingCustomerFacingHosts(plan);
    if (pending.length === 0) return undefined;
    return (
        `customer-facing ${pending.length === 1 ? "host" : "hosts"} ${pending.join(", ")} ${pending.length === 1 ? "waits" : "wait"} for a public CA's certificate: ` +
        `have the CSR signed (pulumi stack output frontEnd, customerFacingCsrs; or ${customerFacingCsrFile("<host>")} of a render) and put the certificate and its chain ` +
        `under pki:frontEnd.customerFacing.<host>.certificate; until then the host has no Secret and no Gateway server`
    );
}

/**
 * The certificates on the deployed record that have expired while this update keeps them at their
 * epoch (a CA: still planned, signed here), and what to do; undefined: none. @pulumi/tls re-issues
 * each at this update, in place with the same key, a CA with every certificate below it: nothing
 * outside the cluster learns of it. (The inventory keeps each key's age, so the lifecycle then
 * proposes the new keys.)
 */
export function expiredReissueMessage(plan: PkiPlan, now: Date): string | undefined {
    const record = plan.deployed;
    if (record === undefined) return undefined;
    const expiredOn = (notAfter: string | undefined) =>
        notAfter !== undefined && expiredAt(notAfter, now) ? notAfter.slice(0, 10) : undefined;
    const newest = (issued: readonly DeployedClient[] | undefined, epoch: number) =>
        issued?.filter((c) => c.epoch === epoch).at(-1)?.notAfter;
    const server = (key: string, epoch: number) => {
        const deployed = ownMember(record.servers, key);
        return deployed?.epoch === epoch ? deployed.notAfter : undefined;
    };
    const cas = plan.cas
        .filter((ca) => plan.config.offlineRoots[rootSlotOfCa(plan, ca)] === undefined)
        .map((ca) => [`CA ${ca.id}`, expiredOn(record.cas[ca.id]?.notAfter)] as const);
    const leaves = [
        ...plan.endpoints.flatMap((e) => [
            [`${e.id}/server`, expiredOn(server(e.id, e.server.epoch))] as const,
            [`${e.id}/client`, expiredOn(newest(ownMember(record.clients, e.id), e.client.epoch))] as const,
        ]),
        ...plan.frontEnd.uiClients.map(
            (c) =>
                [
                    uiClientCertId(c.name),
                    expiredOn(newest(record.clients[uiClientRecordKey(c.name)], c.leaf.epoch)),
                ] as const,
        ),
        ...plan.frontEnd.apicServers.map(
            (a) => [apicServerCertId(a.host), expiredOn(server(apicServerRecordKey(a.host), a.leaf.epoch))] as const,
        ),
    ];
    const expired = [...cas, ...leaves].filter(([, on]) => on !== undefined).map(([id, on]) => `${id} (expired ${on})`);
    if (expired.length === 0) return undefined;
    return (
        `${expired.join(", ")}: @pulumi/tls re-issues ${expired.length === 1 ? "it" : "them"} at this update, in place with the same key` +
        `${cas.some(([, on]) => on !== undefined) ? ", and every certificate below a CA" : ""}. ` +
        "Then upload APIC's new keystores and truststores (apic/), restart istiod if a mesh CA or root is among them, " +
        "and give each a new key (raise its epoch in pki:rotation, or a CA's pki:caRotation): " +
        (record.keys !== undefined
            ? "the lifecycle proposes it"
            : "the deployed record, of an earlier version, does not say how old the keys are, so the lifecycle will not propose it")
    );
}

/**
 * The offline ceremony's certificates in use that have expired, and what to do; undefined: none.
 * Nothing here can re-issue them, and every chain through them is refused (Envoy, istiod and
 * DataPower check each certificate's validity). Not refused: the rotation that replaces a CA must
 * still be able to run.
 */
export function expiredOfflineMessage(plan: PkiPlan, now: Date): string | undefined {
    const found = plan.cas.flatMap((ca) => {
        const slot = rootSlotOfCa(plan, ca);
        const offline = plan.config.offlineRoots[slot];
        if (offline === undefined) return [];
        const [key, pem] =
            ca.role === "root"
                ? [`pki:offlineRoots.${slot}.certificate`, offline.certificate]
                : [`pki:offlineRoots.${slot}.intermediates.${ca.id}`, offline.intermediates[ca.id]];
        if (pem === undefined) return [];
        const cert = new crypto.X509Certificate(pem);
        return expiredAt(cert, now) ? [`${key} (expired ${new Date(cert.validTo).toISOString().slice(0, 10)})`] : [];
    });
    // A root is planned once per generation: each generation of an offline root is its one certificate.
    const expired = [...new Set(found)];
    if (expired.length === 0) return undefined;
    return (
        `${expired.join(", ")}: every chain through ${expired.length === 1 ? "it" : "them"} is refused, and only the ceremony can replace ${expired.length === 1 ? "it" : "them"}. ` +
        "Rotate each CA (pki:caRotation: a new generation whose CSR the ceremony signs); for a root, hold a ceremony for a new one (npx apic-istio-pki ceremony init-root)"
    );
}

/** The root slot of a deployed root's CA id (e.g. mesh-root-g1: meshRoot). */
function slotOfRootId(id: string): RootSlot | undefined {
    return ROOT_SLOTS.find((slot) => id === ROOT_IDS[slot] || id.startsWith(`${ROOT_IDS[slot]}-g`));
}

/**
 * The serial number a planned root will have, where the plan knows it: an offline root's is its
 * certificate's (every generation of it is that certificate); a root made here gets one when created.
 */
function plannedRootSerial(plan: PkiPlan, root: CaPlan): string | undefined {
    const offline = plan.config.offlineRoots[rootSlotOfCa(plan, root)];
    return offline === undefined ? undefined : new crypto.X509Certificate(offline.certificate).serialNumber;
}

/**
 * The deployed roots this update drops outside a staged rotation (whose finish retires only the
 * generation before), and what to do, one text per cause; empty: none. Every trust bundle drops
 * such a root at once, with no phase in which old and new are both trusted. A root is replaced
 * when pki:trustDomains changed, or a root of the same id gets another certificate (e.g. an
 * offline root set in place of the one made here); the UI client root leaves with nothing in its
 * place with the last UI caller.
 */
function rootsLeavingMessages(plan: PkiPlan): string[] {
    const record = plan.deployed;
    if (record === undefined) return [];
    const planned = new Map(plan.cas.filter((ca) => ca.role === "root").map((ca) => [ca.id, ca]));
    const retiredByFinish = ROOT_SLOTS.flatMap((slot) => {
        const position = plan.config.caRotation[slot];
        const finishing =
            position.phase === "finish" &&
            position.generation > 0 &&
            stepOf(record.positions[slot]) === stepOf(position) - 1;
        return finishing ? [caInstanceId(ROOT_IDS[slot], position.generation - 1)] : [];
    });
    const deployedRoots = Object.entries(record.cas)
        .filter(([id, ca]) => ca.issuer === id && !retiredByFinish.includes(id))
        .sort(([a], [b]) => a.localeCompare(b));
    const hasUiClientRoot = [...planned.values()].some((ca) => rootSlotOfCa(plan, ca) === "uiClientRoot");
    const removed: string[] = [];
    const replaced: { id: string; shown: string }[] = [];
    for (const [id, ca] of deployedRoots) {
        const root = planned.get(id);
        if (root === undefined) {
            // Only the UI client root can go with no root in its place: the other roots' trust domains always have one.
            if (slotOfRootId(id) === "uiClientRoot" && !hasUiClientRoot) removed.push(id);
            else replaced.push({ id, shown: id });
            continue;
        }
        const serial = plannedRootSerial(plan, root);
        if (serial !== undefined && normalSerial(serial) !== normalSerial(ca.serialHex))
            replaced.push({
                id,
                shown: `${id} (deployed serial ${normalSerial(ca.serialHex)}, now ${normalSerial(serial)})`,
            });
    }
    return [removedRootsMessage(removed), replacedRootsMessage(replaced)].filter(
        (message): message is string => message !== undefined,
    );
}

/** The UI client roots that leave with the last UI caller: APIC's UI truststore is the bank's to remove. */
function removedRootsMessage(removed: readonly string[]): string | undefined {
    if (removed.length === 0) return undefined;
    const one = removed.length === 1;
    return (
        `the deployed UI client root ${one ? "CA" : "CAs"} ${removed.join(", ")} ${one ? "leaves" : "leave"} the stack at this update with no root in ${one ? "its" : "their"} place: ` +
        "no UI service calls APIC any more (pki:frontEnd.callers), so the UI client CA and its certificates go too. " +
        "Remove APIC's UI truststore and its TLS server profiles' client certificate requirement once it is deployed: this stack no longer renders them"
    );
}

/** Roots another root replaces at once: what holds their certificates or bundles needs the new ones. */
function replacedRootsMessage(replaced: readonly { id: string; shown: string }[]): string | undefined {
    if (replaced.length === 0) return undefined;
    const one = replaced.length === 1;
    const [them, they] = one ? ["it", "it is"] : ["them", "they are"];
    // istiod holds only the mesh's root (the shared root is the mesh's too); APIC holds the others' keystores and truststores.
    const mesh = replaced.filter((r) => ["root", "meshRoot"].includes(slotOfRootId(r.id) ?? "")).map((r) => r.id);
    const edge = replaced.some((r) => slotOfRootId(r.id) !== "meshRoot");
    const restart = `restart istiod and roll the workloads (${mesh.join(", ")} ${mesh.length === 1 ? "is" : "are"} the mesh's root)`;
    const todo = edge
        ? `Upload APIC's new keystores and truststores (apic/) as soon as ${they} gone${mesh.length > 0 ? `, and ${restart}` : ""}`
        : `As soon as ${they} gone, ${restart}`;
    return (
        `the deployed root ${one ? "CA" : "CAs"} ${replaced.map((r) => r.shown).join(", ")} ${one ? "is" : "are"} replaced at this update, ` +
        `outside a staged rotation (pki:caRotation): every trust bundle drops ${them} at once, so whatever still holds a certificate under ${them}, ` +
        `or only a bundle with ${them}, is refused until it gets the new one. ${todo}`
    );
}

/**
 * The deployed roots made here that this update re-issues in place, under their own ids, since a
 * setting of their certificate changed (rootsReissuedInPlace), and what that breaks; undefined: none.
 */
function reissuedInPlaceMessage(plan: PkiPlan): string | undefined {
    const reissued = rootsReissuedInPlace(plan);
    if (reissued === undefined) return undefined;
    const { reissues, breaks, instead, istiod } = reissuedInPlaceConsequences(plan, reissued);
    const settings = reissued.settings.map((name) => `pki:${name}`);
    return (
        `${settings.join(", ")} ${settings.length === 1 ? "differs from the deployed value, and goes" : "differ from the deployed values, and go"} into the certificate of every root made here: ` +
        `this update re-issues ${reissues}, outside a staged rotation (pki:caRotation). ` +
        (reissued.newAnchor
            ? `What breaks at once: ${breaks}. ${instead}.`
            : `${breaks[0].toUpperCase()}${breaks.slice(1)}.`) +
        (istiod === "" ? "" : ` ${istiod}`)
    );
}

/**
 * With pki:caKeyAlgorithm ECDSA, that the lifecycle cannot renew the issuing CAs: their staged
 * rotation is refused (validateConfig: it publishes CRLs, which ECDSA would re-sign differently on
 * every run), only once one is due, when the lifecycle's prepare is. Undefined with RSA CA keys.
 */
function ecdsaCaRotationMessage(plan: PkiPlan): string | undefined {
    if (plan.config.caKeyAlgorithm !== "ECDSA") return undefined;
    const slots = intermediateSlots(layoutOf(plan.config)).map((slot) => `pki:caRotation.${slot}`);
    return (
        `pki:caKeyAlgorithm is ECDSA: the lifecycle cannot renew this stack's issuing CAs, since their staged rotations (${slots.join(", ")}) ` +
        "need RSA CA keys (a rotation publishes CRLs, which ECDSA signatures would change on every run), and their prepare is refused once one is due. " +
        "Set pki:caKeyAlgorithm RSA: on a stack not deployed yet, now; on a deployed one, in a change of its own well before the first issuing CA's " +
        "renewal window opens (pki:earlyRenewalDays.intermediate days before it expires), which re-issues every CA at once: see what diff says that breaks"
    );
}

/**
 * What an update warns of, at the plan's clock: deployed roots it removes outside a staged
 * rotation, deployed roots it re-issues in place (a setting of their certificate changed), customer-facing hosts still waiting for a public CA's certificate, certificates
 * @pulumi/tls re-issues after they expired, expired offline certificates in use, and issuing CAs
 * the lifecycle cannot rotate (ECDSA CA keys). `pulumi up` logs each, `render` prints each.
 */
export function updateWarnings(plan: PkiPlan): string[] {
    const now = plan.now;
    return [
        ecdsaCaRotationMessage(plan),
        ...rootsLeavingMessages(plan),
        reissuedInPlaceMessage(plan),
        pendingCustomerFacingMessage(plan),
        expiredReissueMessage(plan, now),
        expiredOfflineMessage(plan, now),
    ].filter((warning): warning is string => warning !== undefined);
}

/**
 * With an offline root whose signatures are still pending: only the CAs' keys and CSRs (so the
 * ceremony has something to sign), and nothing that would need their certificates. The CAs
 * check what they are given at the plan's clock, as buildPki's do: a root made here is dated at
 * it, and a rehearsal's (`render --now`) may be days ahead of the machine's.
 */
export function requestOfflineSignatures(plan: PkiPlan): { intermediateCsrs: Record<string, pulumi.Output<string>> } {
    const cas = atPlanClock(plan.now, () => buildCas(plan));
    return {
        intermediateCsrs: Object.fromEntries(
            Object.entries({ ...cas.intermediates, ...cas.meshCas }).map(([id, ca]) => [id, ca.csrPem]),
        ),
    };
}

/**
 * Creates every resource of the plan. Each cluster of `pki:clusters` gets a Kubernetes provider
 * named after it (its kubeconfig context, or the current one) and its own mesh plug-in CA; the
 * gateway's secrets and Gateways go to the first cluster. The components check what they are
 * given at the plan's clock, the time its CRLs and truststores are made for.
 */
export function buildPki(plan: PkiPlan): PkiStack {
    return atPlanClock(plan.now, () => buildPlannedPki(plan));
}

function buildPlannedPki(plan: PkiPlan): PkiStack {
    const { config } = plan;
    if (plan.pendingIntermediates.length > 0) throw new Error(pendingSignaturesMessage(plan));
    const rotating = CA_SLOTS.some((slot) => config.caRotation[slot].generation > 0);
    if ((rotating || config.revocations.length > 0) && plan.deployed === undefined) {
        // Without the deployed record a finish could not revoke the old CA, a skipped phase would go
        // unnoticed, and a revoked serial could not be checked against what the stack issued.
        throw new Error(
            "pki:caRotation or pki:revocations is set, so the plan needs the deployed stack's record: plan with planPki(config, { deployed })",
        );
    }
    const cas = buildCas(plan);
    const { roots, caCertPems, intermediates, providers, trustedRoots } = cas;
    const provider = providers[0];
    const leafOptions = providerLeafOptions(config);
    const inUse = (slotId: CaId): IntermediateCa => intermediates[activeCa(plan.cas, slotId).id];
    const gatewayServerCa = inUse("gateway-server-ca");
    const apicClientCa = inUse("apic-client-ca");
    const clientRoot = rootOf("apicClientCa", config.trustDomains);

    // The gateway (Envoy) trusts the client root only, and APIC sends its issuing CA: with a CRL,
    // an intermediate in ca.crt would end the chain there (every certificate of it is an anchor
    // under partial-chain rules) and fail the CRL check of the whole chain. APIC (DataPower) does
    // not build chains from what the gateway sends, so its truststore holds the issuing CA too.
    const clientTrustBundlePem = trustedRoots(clientRoot);
    const serverTrustBundlePem = cas.dataPowerTrust("gateway-server-ca");
    const clientCrlPem = plan.crls.gateway ? cas.crls.bundle(cas.issuingCrls("apic-client-ca")) : undefined;
    const serverCrlPem = plan.crls.apicTruststore ? cas.crls.bundle(cas.issuingCrls("gateway-server-ca")) : undefined;

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
            pkcs12Iterations: config.pkcs12Iterations,
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
            spkiPin: bundle.spkiPin,
            pkcs12Base64: bundle.pkcs12Base64,
            pkcs12Password: bundle.pkcs12Password,
        };
    }

    const gateways = plan.gateways.map((gateway) => {
        const endpoints = plan.endpoints.filter((e) => e.gatewayName === gateway.name);
        return new IstioGatewayTls(
            gatewayComponentName(gateway.domain),
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
                    // Only this endpoint's APIC key (and, while a rotation overlaps, the previous one) gets in.
                    verifyCertificateSpki: [apicBundles[e.id].spkiPin, ...e.pinnedPreviousClients.map((c) => c.spki)],
                    secretName: e.gatewaySecret.name,
                    epoch: e.server.epoch,
                })),
                ...leafOptions,
            },
            { providers: { kubernetes: provider } },
        );
    });

    const frontEnd = buildFrontEnd(plan, cas, gatewayServerCa, provider);

    const meshCas = Object.fromEntries(
        plan.cas.filter((c) => c.role === "mesh-ca" && c.active).map((c) => [c.cluster ?? "", cas.meshCas[c.id]]),
    );
    const inventory = issuedInventory(plan, caCertPems, gateways, apicBundles, frontEnd);
    return {
        plan,
        roots,
        gatewayServerCa,
        apicClientCa,
        gateways,
        apicBundles,
        meshCas,
        outputs: {
            trustAnchors: {
                gatewayClients: clientTrustBundlePem,
                apicTruststore: serverTrustBundlePem,
                mesh: trustedRoots(rootOf("meshCa", config.trustDomains)),
            },
            gatewayServerCaCertPem: gatewayServerCa.certPem,
            apicClientCaCertPem: apicClientCa.certPem,
            endpoints: endpointOutputs(plan),
            apicBundles: bundleOutputs,
            meshCaCertPems: Object.fromEntries(Object.entries(meshCas).map(([cluster, ca]) => [cluster, ca.certPem])),
            caCertPems,
            frontEnd: frontEnd.outputs,
            inventory,
            deploymentRecord: deploymentRecord(
                plan,
                caCertPems,
                apicBundles,
                gateways,
                frontEnd,
                cas.crls.records(),
                inventory,
            ),
        },
    };
}

/**
 * pki:frontEnd.apicServerCa, refused once the roots this stack makes resolve when it holds one of
 * another trust domain than the server root's (apicServerCaInStateProblems), or the key of one an
 * earlier deployment had and this one has not (retired by a staged rotation or a new key; the
 * deployed record's rootKeys). As the components' late checks do, the output fails: the UI
 * services' Secrets, which take it as ca.crt, are not made, and pulumi up prints a RunError's
 * message without a stack trace, as render does.
 */
function checkedApicServerCa(plan: PkiPlan, cas: CaLayer, apicServerCa: string): pulumi.Output<string> {
    const serverRoot = rootOf("gatewayServerCa", plan.config.trustDomains);
    const roots = plan.cas.filter((ca) => ca.issuer === undefined);
    return pulumi.all(roots.map((ca) => cas.caCertPems[ca.id])).apply((certPems) => {
        const made: StackRoot[] = roots.flatMap((ca, i) =>
            cas.roots[ca.id] !== undefined && rootSlotOfCa(plan, ca) !== serverRoot
                ? [{ id: ca.id, slot: rootSlotOfCa(plan, ca), certPem: certPems[i] }]
                : [],
        );
        const retired: StackRoot[] = retiredRootKeys(plan, certPems).flatMap(({ id, slot, spki }) =>
            slot === undefined || slot === serverRoot ? [] : [{ id, slot, retiredSpki: spki }],
        );
        const problems = apicServerCaInStateProblems(apicServerCa, [...made, ...retired]);
        if (problems.length > 0) throw new pulumi.RunError(problems.join("\n"));
        return apicServerCa;
    });
}

/**
 * The keys of roots an earlier deployment had and this one has not (retired by a staged rotation, or
 * replaced by a new key): the deployed record's rootKeys, less the keys of this deployment's CAs
 * (`certPems`). The record keeps their pins alone; their keys were in the Pulumi state.
 */
function retiredRootKeys(
    plan: PkiPlan,
    certPems: readonly string[],
): { id: string; slot: RootSlot | undefined; spki: string }[] {
    const current = new Set(certPems.map((pem) => spkiPin(pem)));
    return rootKeysAfter(plan.deployed ?? INITIAL_RECORD, [])
        .filter(({ spki }) => !current.has(spki))
        .map(({ id, spki }) => ({ id, slot: rootSlotOfId(id), spki }));
}

/**
 * `text` (pki:frontEnd.publicRoots, or a customer-facing host's certificate), refused by `problems`
 * once this stack's CAs resolve: the roots, issuing and mesh CAs it makes exist only then, so the
 * plan can check the offline roots alone. As checkedApicServerCa, the output fails with a RunError
 * (pulumi up and render print it without a stack trace), and what takes it (the host's Secret and
 * Gateway server) is not made. During a preview of a new stack the CAs are unknown: nothing is refused.
 */
function checkedAgainstOwnCas(
    plan: PkiPlan,
    cas: CaLayer,
    text: string,
    problems: (own: readonly OwnCa[]) => readonly string[],
): pulumi.Output<string> {
    return pulumi.all(plan.cas.map((ca) => cas.caCertPems[ca.id])).apply((certPems) => {
        const own: OwnCa[] = plan.cas.map((ca, i) => ({
            name:
                ca.role === "root"
                    ? `${ROOT_TITLES[rootSlotOfCa(plan, ca)]} ${ca.id}`
                    : `${ca.role === "mesh-ca" ? "mesh CA" : "issuing CA"} ${ca.id}`,
            certPem: certPems[i],
        }));
        // A root a staged rotation retired (as checkedApicServerCa): its key was in the state.
        for (const { id, slot, spki } of retiredRootKeys(plan, certPems))
            own.push({ name: `retired ${slot === undefined ? "root CA" : ROOT_TITLES[slot]} ${id}`, spki });
        const found = problems(own);
        if (found.length > 0) throw new pulumi.RunError(found.join("\n"));
        return text;
    });
}

/** The root slot of a root's CA id: its slot's id, or that with a generation (`mesh-root-g1`). */
const rootSlotOfId = (id: string): RootSlot | undefined =>
    ROOT_SLOTS.find((slot) => id === ROOT_IDS[slot] || new RegExp(`^${ROOT_IDS[slot]}-g[0-9]+$`).test(id));

/** What the front end makes, for the outputs, the inventory and the record. */
interface FrontEndLayer {
    readonly uiClients: Readonly<Record<string, UiApicClient>>;
    readonly apicServers: Readonly<Record<string, ApicServerCertificate>>;
    readonly customerFacing?: CustomerFacingTls;
    readonly outputs: FrontEndOutputs;
}

/**
 * The front end (pki:frontEnd): the UI client CA's leaves with their Secrets and DestinationRules
 * (and the ServiceEntries of APIC's hosts per UI namespace), APIC's UI-facing server certificates
 * and truststore, and the customer-facing hosts.
 */
function buildFrontEnd(
    plan: PkiPlan,
    cas: CaLayer,
    gatewayServerCa: IntermediateCa,
    provider: k8s.Provider,
): FrontEndLayer {
    const { config, frontEnd } = plan;
    const leafOptions = providerLeafOptions(config);
    const inCluster = { providers: { kubernetes: provider } };
    const serverRoot = rootOf("gatewayServerCa", config.trustDomains);
    const apicTrustPem =
        config.frontEnd.apicServerCa !== undefined
            ? checkedApicServerCa(plan, cas, config.frontEnd.apicServerCa)
            : cas.trustedRoots(serverRoot);
    // APIC's UI-facing certificates come from the gateway-server CA: once a CA under its root was
    // retired, the sidecars check the CRLs APIC's truststore gets, or the retired CA's key (in
    // earlier checkpoints of the state) could still pose as APIC to them.
    const apicCrlPem =
        config.frontEnd.apicServerCa === undefined && plan.crls.apicTruststore
            ? cas.crls.bundle(cas.issuingCrls("gateway-server-ca"))
            : undefined;

    const uiClients: Record<string, UiApicClient> = {};
    if (frontEnd.uiClients.length > 0) {
        const uiClientCa = cas.intermediates[activeCa(plan.cas, "ui-client-ca").id];
        for (const c of frontEnd.uiClients) {
            uiClients[c.name] = new UiApicClient(
                `${c.name}-ui-client`,
                {
                    clientCa: uiClientCa,
                    service: c.name,
                    identity: c.identity,
                    namespace: c.namespace,
                    apicHosts: [...c.apicHosts],
                    apicTrustPem,
                    ...(apicCrlPem !== undefined ? { apicCrlPem } : {}),
                    workloadLabels: { ...c.labels },
                    secretName: c.secret.name,
                    epoch: c.leaf.epoch,
                    ...leafOptions,
                },
                inCluster,
            );
        }
        for (const namespace of [...new Set(frontEnd.uiClients.map((c) => c.namespace))]) {
            new ApicEgress(`${namespace}-apic-egress`, { hosts: [...config.frontEnd.apicHosts], namespace }, inCluster);
        }
    }
    const apicServers: Record<string, ApicServerCertificate> = {};
    for (const server of frontEnd.apicServers) {
        apicServers[server.host] = new ApicServerCertificate(`apic-ui-${hostLabel(server.host)}`, {
            serverCa: gatewayServerCa,
            host: server.host,
            epoch: server.leaf.epoch,
            ...leafOptions,
        });
    }
    const truststoreCrlPem = plan.crls.apicUiTruststore ? cas.crls.bundle(cas.issuingCrls("ui-client-ca")) : undefined;
    const customerFacing =
        frontEnd.customerFacing.length === 0
            ? undefined
            : new CustomerFacingTls(
                  "customer-facing",
                  {
                      hosts: frontEnd.customerFacing.map((c) => ({
                          host: c.host,
                          id: c.id,
                          epoch: c.epoch,
                          certificateEpoch: c.certificateEpoch,
                          ...(c.certificate !== undefined
                              ? {
                                    certificatePem: checkedAgainstOwnCas(plan, cas, c.certificate, (own) => {
                                        const key = `pki:frontEnd.customerFacing.${c.host}.certificate`;
                                        const problem = ownCaChainProblem(key, c.host, c.certificate ?? "", own);
                                        return problem === undefined ? [] : [problem];
                                    }),
                                }
                              : {}),
                          secretName: c.secret.name,
                      })),
                      // The customer-facing gateway's pods: Istio reads the Secrets in their namespace.
                      namespace: frontEnd.gatewayNamespace,
                      gatewayName: frontEnd.gatewayName,
                      selector: { ...frontEnd.gatewaySelector },
                      keyAlgorithm: config.keyAlgorithm,
                      organization: config.organization,
                      // The plan's roots: the component ends each chain where the plan's check did.
                      ...(config.frontEnd.publicRoots !== undefined
                          ? {
                                publicRootsPem: checkedAgainstOwnCas(plan, cas, config.frontEnd.publicRoots, (own) =>
                                    ownCaPublicRootsProblems(
                                        "pki:frontEnd.publicRoots",
                                        config.frontEnd.publicRoots ?? "",
                                        own,
                                    ),
                                ),
                            }
                          : {}),
                  },
                  inCluster,
              );
    return {
        uiClients,
        apicServers,
        customerFacing,
        outputs: {
            uiClients: Object.fromEntries(
                frontEnd.uiClients.map((c) => [
                    c.name,
                    {
                        namespace: c.namespace,
                        secretName: c.secret.name,
                        identity: c.identity,
                        certPem: uiClients[c.name].certPem,
                    },
                ]),
            ),
            apic: {
                ...(frontEnd.uiClients.length > 0 ? { truststorePem: cas.dataPowerTrust("ui-client-ca") } : {}),
                ...(truststoreCrlPem !== undefined ? { truststoreCrlPem } : {}),
                servers: Object.fromEntries(
                    Object.entries(apicServers).map(([host, server]) => [
                        host,
                        { certPem: server.certPem, caChainPem: server.caChainPem, privateKeyPem: server.privateKeyPem },
                    ]),
                ),
            },
            customerFacingCsrs: customerFacing?.csrPems ?? {},
            pendingCustomerFacing: pendingCustomerFacingHosts(plan),
        },
    };
}
