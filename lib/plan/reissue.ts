/**
 * What a deployed root made here, re-issued in place, breaks: a setting of its certificate changed
 * since the deployment record, outside a staged rotation. Pure, and shared by the update's warnings
 * (lib/stack.ts), the lifecycle and diff, which words the same breakage for a change between two
 * stack files.
 */
import { PkiConfig } from "../config/types";
import { settingDigest, settingsOf } from "../config/settings";
import { ownMember } from "../config/values";
import { RootSlot, rootSlotOf } from "./hierarchy";
import { CaPlan, PkiPlan } from "./plan";

/** How to restart istiod, which refuses a cacerts whose root it did not load until then. */
export const RESTART_ISTIOD = "kubectl -n istio-system rollout restart deployment/istiod";

const ROOT_BREAKS: Readonly<Record<RootSlot, string>> = {
    clientRoot:
        "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded",
    serverRoot:
        "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded",
    meshRoot:
        "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate",
    uiClientRoot:
        "the UI services' sidecars present client certificates under the new UI client root from this update on (their Secrets are updated at once), while APIC's UI truststore holds only the old one: every UI call to APIC is refused until the UI truststore is uploaded",
    root: "every trust anchor changes at once: the gateway refuses APIC's client certificates until each keystore is uploaded, APIC refuses the gateway until each truststore is uploaded, and workloads under the old and the new root refuse each other",
};

/** What a new server root also breaks where APIC's UI-facing certificate is issued here. */
const APIC_SERVER_BREAKS =
    "the UI services' sidecars trust only the new server root (ca.crt of their Secrets), while APIC presents its UI-facing certificate under the old one: every UI call to APIC fails until each APIC UI-facing keystore is uploaded";

/** What new anchors of these root slots break at once, the front end's consumers included when the stack has them. */
export function rootBreaks(slots: readonly RootSlot[], head: PkiPlan): string {
    const { uiClients, apicServers } = head.frontEnd;
    const frontEnd = (slot: RootSlot): string[] => [
        ...(slot === "root" && uiClients.length > 0 ? [ROOT_BREAKS.uiClientRoot] : []),
        ...((slot === "root" || slot === "serverRoot") && apicServers.length > 0 ? [APIC_SERVER_BREAKS] : []),
    ];
    return slots.flatMap((slot) => [ROOT_BREAKS[slot], ...frontEnd(slot)]).join("; ");
}

/** What re-issuing roots with their keys and subjects kept (a new validity) breaks. */
export const ROOTS_KEPT_BREAKS =
    "the roots keep their keys and subjects, so existing chains still verify; but every CA and leaf under them is re-issued in one update, and APIC holds the old chain until its keystores and truststores are uploaded";

/** Config keys that re-issue CAs when changed, and the safe way for each. */
export const CA_CAUSES: readonly { key: string; changed: (a: PkiConfig, b: PkiConfig) => boolean; instead: string }[] =
    [
        {
            key: "pki:organization",
            changed: (a, b) => a.organization !== b.organization,
            instead:
                "no staged rotation avoids it, since every generation's subject carries the organization: keep the deployed value, or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore, restart istiod, and then the mesh workloads)",
        },
        {
            key: "pki:environment",
            changed: (a, b) => a.environment !== b.environment,
            instead:
                "the environment names every CA, identity and secret: create a new stack for the new name and move APIC and the workloads over, then retire this one",
        },
        {
            key: "pki:caKeyAlgorithm",
            changed: (a, b) => a.caKeyAlgorithm !== b.caKeyAlgorithm,
            instead:
                "every generation of every CA takes the new algorithm at once, so no staged rotation avoids it: schedule a maintenance window, or build the new hierarchy as a new stack and move consumers over",
        },
        {
            key: "pki:trustDomains",
            changed: (a, b) => a.trustDomains !== b.trustDomains,
            instead:
                "changing trust domains replaces roots: treat it as a new trust set-up (a new stack, or a maintenance window in which every APIC keystore and truststore is uploaded and every workload restarted)",
        },
        {
            key: "pki:validityDays",
            changed: (a, b) =>
                a.validityDays.root !== b.validityDays.root ||
                a.validityDays.intermediate !== b.validityDays.intermediate,
            instead:
                "the CAs keep their keys and subjects, so peers keep verifying: make the change on purpose, then upload the APIC keystores and truststores, which carry the re-issued chain; to get a fresh CA key instead, rotate it in stages (pki:caRotation: prepare, switch, finish)",
        },
        {
            key: "pki:offlineRoots",
            changed: (a, b) =>
                JSON.stringify(Object.entries(a.offlineRoots).map(([s, r]) => [s, r?.certificate])) !==
                JSON.stringify(Object.entries(b.offlineRoots).map(([s, r]) => [s, r?.certificate])),
            instead:
                "a new offline root is a new trust anchor: run the ceremony for the new root while the old one still signs, and move consumers over in a planned window",
        },
    ];

/**
 * The settings (lib/config/settings.ts) that go into the certificate of a root made here: its
 * subject, its key and its validity. A change of one re-issues the root in place, under its own id.
 */
const ROOT_CERTIFICATE_SETTINGS = ["organization", "environment", "caKeyAlgorithm", "validityDays.root"] as const;

/** A setting of a root's certificate changed since the deployed record, and the deployed roots made here it re-issues in place. */
export interface RootsReissuedInPlace {
    /** The settings changed, by name without `pki:` ("organization", "validityDays.root"). */
    readonly settings: readonly string[];
    /** The deployed roots made here (not offline) that the plan re-issues under their own ids. */
    readonly roots: readonly CaPlan[];
    /** A new key or subject (not only a new validity): a new trust anchor, so every chain through it breaks at once. */
    readonly newAnchor: boolean;
}

/**
 * What a change of a root certificate's settings since the last update re-issues in place, as the
 * deployment record's setting digests tell (its serials cannot: a root made here gets its serial
 * when created); undefined: none, or a record of an earlier version, which keeps no settings. Only
 * the roots deployed under the same id count: an offline root is the ceremony's certificate, and a
 * new generation of a staged rotation is not deployed yet.
 */
export function rootsReissuedInPlace(plan: PkiPlan): RootsReissuedInPlace | undefined {
    const deployed = plan.deployed?.settings;
    if (deployed === undefined) return undefined;
    const current = settingsOf(plan.config);
    // A setting not set has no digest (pki:organization, whose subject then has no O).
    const settings = ROOT_CERTIFICATE_SETTINGS.filter((name) => {
        const value = current.get(name);
        return ownMember(deployed, name) !== (value === undefined ? undefined : settingDigest(value));
    });
    const record = plan.deployed?.cas ?? {};
    const roots = plan.cas.filter(
        (ca) =>
            ca.role === "root" &&
            plan.config.offlineRoots[rootSlotOf(ca.slot, plan.config.trustDomains)] === undefined &&
            ownMember(record, ca.id)?.issuer === ca.id,
    );
    if (settings.length === 0 || roots.length === 0) return undefined;
    return { settings, roots, newAnchor: settings.some((name) => name !== "validityDays.root") };
}

/**
 * What re-issuing these roots in place does (`reissues`: "the root CAs mesh-root, ... in place, ..."),
 * what it breaks (diff's wording of a root re-issued) and the safe way for each setting.
 */
export function reissuedInPlaceConsequences(
    plan: PkiPlan,
    reissued: RootsReissuedInPlace,
): { reissues: string; breaks: string; instead: string; istiod: string } {
    const ids = reissued.roots.map((ca) => ca.id);
    const one = ids.length === 1;
    const changed = [
        ...(reissued.settings.includes("caKeyAlgorithm") ? ["key"] : []),
        ...(reissued.settings.some((name) => name === "organization" || name === "environment") ? ["subject"] : []),
    ];
    const keys = reissued.settings.map((name) => `pki:${name.split(".")[0]}`);
    const slots = [...new Set(reissued.roots.map((ca) => rootSlotOf(ca.slot, plan.config.trustDomains)))];
    return {
        reissues:
            `the root ${one ? "CA" : "CAs"} ${ids.join(", ")} in place, under ${one ? "its" : "their"} own ${one ? "id" : "ids"}, ` +
            `with ${reissued.newAnchor ? `a new ${changed.join(" and ")}` : "the same key and subject and a new serial"}, ` +
            `and every CA and certificate below ${one ? "it" : "them"}`,
        breaks: reissued.newAnchor ? rootBreaks(slots.includes("root") ? ["root"] : slots, plan) : ROOTS_KEPT_BREAKS,
        instead: CA_CAUSES.filter((c) => keys.includes(c.key))
            .map((c) => `${c.key}: ${c.instead}`)
            .join(" "),
        // As cacertsIstiodKeepsOld: a re-issued root is another certificate, even with its key and subject.
        istiod: slots.some((slot) => slot === "meshRoot" || slot === "root")
            ? `Restart istiod of every cluster (${RESTART_ISTIOD}), then every workload: the re-issued mesh root is another certificate, ` +
              'even with its key and subject, so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts.'
            : "",
    };
}
