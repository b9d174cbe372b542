/**
 * The shape of the CA hierarchy (pure): which roots a stack has and which root signs each issuing
 * CA. By default trust domains are separated by root, so that a CA key that lives in a cluster
 * (istiod's plug-in CA in `cacerts`) can mint nothing the edge trusts, in either direction:
 *
 *   mesh root   -> mesh plug-in CA per cluster -> istiod's workload certificates
 *   server root -> gateway-server CA           -> the gateway's server certificates (APIC trusts this root)
 *   client root -> APIC-client CA              -> APIC's client certificates (the gateway trusts this root)
 *   UI client root -> UI client CA             -> UI services' client certificates for calling APIC
 *                                                 (APIC's UI-facing TLS server profile trusts this root;
 *                                                 only when some UI service calls APIC)
 *
 * `pki:trustDomains: shared` puts all three issuing CAs under one root (the weaker guarantee: any
 * CA key under it, the mesh CA's included, can mint a certificate that chains to what the gateway
 * and APIC trust; only the gateway's key pins then keep impostors out). Config validation refuses
 * it with UI callers: APIC's UI-facing profile, which cannot pin, would accept every mesh workload.
 */

export const TRUST_DOMAINS = ["separate", "shared"] as const;
export type TrustDomains = (typeof TRUST_DOMAINS)[number];

export const ROOT_SLOTS = ["root", "meshRoot", "serverRoot", "clientRoot", "uiClientRoot"] as const;
export type RootSlot = (typeof ROOT_SLOTS)[number];

export const INTERMEDIATE_SLOTS = ["gatewayServerCa", "apicClientCa", "meshCa", "uiClientCa"] as const;
export type IntermediateSlot = (typeof INTERMEDIATE_SLOTS)[number];

/** Every `pki:caRotation` key: the roots first, since a root's rotation re-issues the CAs below it. */
export const CA_SLOTS = [...ROOT_SLOTS, ...INTERMEDIATE_SLOTS] as const;
export type CaSlot = (typeof CA_SLOTS)[number];

/** CA ids of the roots (also their resource names' stem and the inventory's ids). */
export const ROOT_IDS: Readonly<Record<RootSlot, string>> = {
    root: "root",
    meshRoot: "mesh-root",
    serverRoot: "server-root",
    clientRoot: "client-root",
    uiClientRoot: "ui-client-root",
};

/** What each root's common name says after the environment, e.g. "dev mesh root CA". */
export const ROOT_TITLES: Readonly<Record<RootSlot, string>> = {
    root: "API platform root CA",
    meshRoot: "mesh root CA",
    serverRoot: "gateway server root CA",
    clientRoot: "APIC client root CA",
    uiClientRoot: "UI client root CA",
};

/**
 * What each issuing CA's common name says after the environment, e.g. "dev APIC client CA"; the
 * mesh CA's is followed by its cluster. The offline-root ceremony signs only these names.
 */
export const INTERMEDIATE_TITLES: Readonly<Record<IntermediateSlot, string>> = {
    gatewayServerCa: "gateway server CA",
    apicClientCa: "APIC client CA",
    meshCa: "mesh CA",
    uiClientCa: "UI client CA",
};

/** What decides which CAs a stack has: its trust domains, and whether UI services call APIC. */
export interface TrustLayout {
    readonly trust: TrustDomains;
    /** Some UI service calls APIC with mutual TLS (`pki:frontEnd.callers`): the UI client CA exists. */
    readonly uiClients: boolean;
}

/** The roots a stack has. */
export function rootSlots(layout: TrustLayout): readonly RootSlot[] {
    if (layout.trust === "shared") return ["root"];
    return layout.uiClients
        ? ["meshRoot", "serverRoot", "clientRoot", "uiClientRoot"]
        : ["meshRoot", "serverRoot", "clientRoot"];
}

/** The issuing CAs a stack has. */
export function intermediateSlots(layout: TrustLayout): readonly IntermediateSlot[] {
    return INTERMEDIATE_SLOTS.filter((slot) => slot !== "uiClientCa" || layout.uiClients);
}

const SEPARATE_ROOT_OF: Readonly<Record<IntermediateSlot, RootSlot>> = {
    meshCa: "meshRoot",
    gatewayServerCa: "serverRoot",
    apicClientCa: "clientRoot",
    uiClientCa: "uiClientRoot",
};

/**
 * The trust domain an offline root is made for (`ceremony init-root --trust-domain`), by the root
 * slot that holds it: a root signs only the issuing CAs of its domain, so that a key of one domain
 * (the mesh CA's, in every cluster's `cacerts`) cannot be made a CA of another. The shared root
 * signs them all.
 */
export const ROOT_TRUST_DOMAINS = {
    meshRoot: "mesh",
    serverRoot: "gateway-server",
    clientRoot: "apic-client",
    uiClientRoot: "ui-client",
    root: "shared",
} as const satisfies Record<RootSlot, string>;
export type RootTrustDomain = (typeof ROOT_TRUST_DOMAINS)[RootSlot];
export const ROOT_TRUST_DOMAIN_NAMES: readonly RootTrustDomain[] = Object.values(ROOT_TRUST_DOMAINS);

/** Whether a root of `domain` signs the issuing CA of `slot`. */
export const domainSigns = (domain: RootTrustDomain, slot: IntermediateSlot): boolean =>
    domain === "shared" || ROOT_TRUST_DOMAINS[SEPARATE_ROOT_OF[slot]] === domain;

/** The trust domain of an issuing CA when domains are separate. */
export const trustDomainOf = (slot: IntermediateSlot): RootTrustDomain => ROOT_TRUST_DOMAINS[SEPARATE_ROOT_OF[slot]];

/** The root that signs an issuing CA. */
export function rootOf(slot: IntermediateSlot, trust: TrustDomains): RootSlot {
    return trust === "shared" ? "root" : SEPARATE_ROOT_OF[slot];
}

export const isRootSlot = (slot: CaSlot): slot is RootSlot => (ROOT_SLOTS as readonly string[]).includes(slot);

/** Whether a CA slot's rotation moves the mesh: its plug-in CAs, or the root above them. */
export const isMeshSlot = (slot: CaSlot, trust: TrustDomains): boolean =>
    slot === "meshCa" || slot === rootOf("meshCa", trust);

/** The root slot of a CA slot: a root's own, or the root that signs an issuing CA. */
export function rootSlotOf(slot: CaSlot, trust: TrustDomains): RootSlot {
    return isRootSlot(slot) ? slot : rootOf(slot, trust);
}

/** The CA slots a stack has: its roots, then the issuing CAs. */
export function caSlots(layout: TrustLayout): readonly CaSlot[] {
    return [...rootSlots(layout), ...intermediateSlots(layout)];
}
