/**
 * What a config change does to the certificates, to every secret and APIC bundle that carries
 * them, and what it risks. Pure: two plans in, a diff out. Certificate reasons follow @pulumi/tls
 * replacement rules (shared/reference/tls-provider.md section 3): a new key when the key's own
 * inputs change or a rotation epoch renames it; a new certificate when its request (subject, SANs),
 * usages, validity or issuing CA changes. The early-renewal window is updated in place, never a change.
 */
import { PkiConfig, RevocationConfig } from "../config/types";
import { CaSlot, describeTransitions, normalSerial, PHASES } from "../plan/caRotation";
import { isRootSlot, RootSlot, rootOf } from "../plan/hierarchy";
import { CaPlan, clientOverlap, EndpointPlan, PkiPlan } from "../plan/plan";
import { Content, crlsPublished, Place, PlaceKind, placesOf } from "./deliveries";
import { PlannedCertificate, plannedCertificates } from "./planned";

export interface CertChange {
    id: string;
    role: PlannedCertificate["role"];
    /** Why it changes; empty for additions and removals. */
    reasons: string[];
    /** What the change forces: new key, new certificate, created, updated or deleted secrets and APIC material. */
    forces: string[];
    before?: PlannedCertificate;
    after?: PlannedCertificate;
}

export interface RoutingChange {
    endpoint: string;
    host: string;
    before: readonly string[];
    after: readonly string[];
}

/**
 * The APIC keys an endpoint's Gateway server entry pins (`verifyCertificateSpki`), named by the
 * client epoch they were issued under, as far as two stack files tell.
 */
export interface PinChange {
    endpoint: string;
    before: string[];
    after: string[];
}

/** A change `diff` refuses (exit 1): `pulumi up` would refuse it, or it breaks something with no way back. */
export interface RefusedChange {
    key: string;
    problem: string;
}

/** A change that is allowed but can break consumers: what it does, what it breaks, and the safe way. */
export interface Risk {
    /** The config keys whose change causes it. */
    key: string;
    change: string;
    breaks: string;
    instead: string;
}

/** A secret or APIC bundle created, updated or deleted, with what changes in each of its items. */
export interface PlaceChange {
    place: string;
    kind: PlaceKind;
    owner: string;
    change: "create" | "update" | "delete";
    items: { item: string; change: string }[];
}

export interface RevocationChange {
    change: "added" | "removed";
    endpoint: string;
    serial: string;
    /** The client epoch the revoked certificate was issued under. */
    epoch: number;
    reason: string;
    revokedAt: string;
    host?: string;
    /** The endpoint's APIC client epoch before and after (a revocation re-issues the client). */
    clientEpoch?: { before: number; after: number };
}

export interface CertDiff {
    base: { environment: string; option: number };
    head: { environment: string; option: number };
    /** The stack file does not exist in the base: everything is created. */
    newStack: boolean;
    /** Allowed changes that can break consumers; `diff --fail-on risky` fails on them. */
    risks: Risk[];
    /** Changes refused (exit 1), besides refused CA rotation phases (caRotation[].refused). */
    refused: RefusedChange[];
    /** CAs whose staged rotation moves (pki:caRotation): the phase, what it does, or why it is refused. */
    caRotation: ReturnType<typeof describeTransitions>;
    added: CertChange[];
    removed: CertChange[];
    replaced: CertChange[];
    unchanged: number;
    /** Every secret and APIC bundle that is created, updated or deleted. */
    places: PlaceChange[];
    revocations: RevocationChange[];
    /** Endpoints whose pinned APIC keys change. */
    pins: PinChange[];
    /** Endpoints whose certificates stay but whose routed services change (e.g. Option 3 regrouping). */
    routing: RoutingChange[];
    /** What to do before and after `pulumi up`, in order. */
    steps: { before: string[]; after: string[] };
}

export interface DiffOptions {
    /** More replaced certificates than this is a risk. */
    maxReplaced?: number;
}

export const DEFAULT_MAX_REPLACED = 10;

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x, i) => x === b[i]);

const identities = (c: PlannedCertificate): string[] => [...c.dnsNames, ...c.uris];

const list = (items: readonly string[]): string =>
    items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;

/** "1 certificate", "2 certificates". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A list short enough for a sentence: in full up to four, else the first three and how many more. */
const names = (items: readonly string[]): string =>
    items.length <= 4 ? list(items) : `${items.slice(0, 3).join(", ")} and ${items.length - 3} more`;

function reasonsFor(before: PlannedCertificate, after: PlannedCertificate, replacedIssuers: Set<string>): string[] {
    const reasons: string[] = [];
    const what = after.role === "apic-client" ? "identity" : "hosts";
    if (!sameList(identities(before), identities(after))) {
        reasons.push(
            `${what} changed: ${identities(before).join(", ") || "none"} -> ${identities(after).join(", ") || "none"}`,
        );
    }
    if (before.subject !== after.subject) reasons.push(`subject changed: ${before.subject} -> ${after.subject}`);
    if (before.key !== after.key) reasons.push(`key algorithm changed: ${before.key} -> ${after.key}`);
    if (before.epoch !== after.epoch) reasons.push(`rotation forced: epoch ${before.epoch} -> ${after.epoch}`);
    if (!sameList(before.uses, after.uses))
        reasons.push(`usages changed: ${before.uses.join(", ")} -> ${after.uses.join(", ")}`);
    if (before.validityDays !== after.validityDays) {
        reasons.push(`validity changed: ${before.validityDays} -> ${after.validityDays} days`);
    }
    if (before.issuer !== after.issuer) reasons.push(`issuer changed: ${before.issuer} -> ${after.issuer}`);
    else if (after.issuer !== after.id && replacedIssuers.has(after.issuer))
        reasons.push(`issuer replaced: ${after.issuer}`);
    return reasons;
}

const keyOfEpoch = (epoch: number): string => `key of epoch ${epoch}`;

/**
 * The pins of each endpoint in base and head. The head's previous key is the base's current one
 * when the head raised the epoch; a switch phase carried over keeps whatever the base pinned.
 */
function pinChanges(base: PkiPlan, head: PkiPlan): { pins: PinChange[]; refused: RefusedChange[] } {
    const baseEndpoints = new Map(base.endpoints.map((e) => [e.id, e]));
    const revokedEpochs = (plan: PkiPlan, id: string): number[] =>
        apicRevocations(plan)
            .filter((r) => r.endpoint === id)
            .map((r) => r.epoch);
    const pins: PinChange[] = [];
    const refused: RefusedChange[] = [];
    for (const e of head.endpoints) {
        const old = baseEndpoints.get(e.id);
        if (old === undefined) continue;
        const basePins = [
            keyOfEpoch(old.client.epoch),
            ...(clientOverlap(base.config, e.id) ? [`the key before epoch ${old.client.epoch}`] : []),
        ];
        const raised = e.client.epoch > old.client.epoch;
        const baseKeyRevoked = revokedEpochs(head, e.id).includes(old.client.epoch);
        const previous = !clientOverlap(head.config, e.id)
            ? []
            : raised
              ? baseKeyRevoked
                  ? []
                  : [keyOfEpoch(old.client.epoch)]
              : basePins.slice(1);
        const headPins = [keyOfEpoch(e.client.epoch), ...previous];
        if (!sameList(basePins, headPins)) pins.push({ endpoint: e.id, before: basePins, after: headPins });
        if (raised && previous.length === 0 && !baseKeyRevoked) {
            refused.push({
                key: `pki:rotation.endpoints.${e.id}`,
                problem:
                    `the APIC client of endpoint "${e.id}" moves from epoch ${old.client.epoch} to ${e.client.epoch} with no overlap: the gateway would stop accepting the key APIC holds at once. ` +
                    `Set pki:rotation.endpoints.${e.id}.clientPhase (or pki:rotation.apicClientPhase) to switch for this change, upload the new keystore, then set it to finish`,
            });
        }
    }
    return { pins, refused };
}

function routing(base: PkiPlan, head: PkiPlan): RoutingChange[] {
    const before = new Map<string, EndpointPlan>(base.endpoints.map((e) => [e.id, e]));
    return head.endpoints.flatMap((e) => {
        const old = before.get(e.id);
        return old && old.host === e.host && !sameList([...old.services].sort(), [...e.services].sort())
            ? [{ endpoint: e.id, host: e.host, before: old.services, after: e.services }]
            : [];
    });
}

/** Every epoch the config sets, by config key (an endpoint without an entry is at 0). */
function configuredEpochs(config: PkiConfig, endpointIds: readonly string[]): Map<string, number> {
    const { rotation } = config;
    const epochs = new Map<string, number>([
        ["pki:rotation.leafEpoch", rotation.leafEpoch],
        ["pki:rotation.gatewayServerEpoch", rotation.gatewayServerEpoch],
        ["pki:rotation.apicClientEpoch", rotation.apicClientEpoch],
        ["pki:rotation.meshEpoch", rotation.meshEpoch],
    ]);
    for (const id of endpointIds) {
        epochs.set(`pki:rotation.endpoints.${id}.serverEpoch`, rotation.endpoints[id]?.serverEpoch ?? 0);
        epochs.set(`pki:rotation.endpoints.${id}.clientEpoch`, rotation.endpoints[id]?.clientEpoch ?? 0);
    }
    return epochs;
}

/**
 * Epochs that go down: refused, since an epoch names the keys it made (`<name>-r<epoch>`) and the
 * APIC certificates on record, and going back cannot bring an old key back. Removing a revocation
 * lowers the client's epoch too (a revocation raises it past the revoked one).
 */
function loweredEpochs(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    const baseEndpoints = new Map(base.endpoints.map((e) => [e.id, e]));
    const shared = head.endpoints.map((e) => e.id).filter((id) => baseEndpoints.has(id));
    const before = configuredEpochs(base.config, shared);
    const after = configuredEpochs(head.config, shared);
    const refused: RefusedChange[] = [];
    for (const [key, from] of before) {
        const to = after.get(key) ?? 0;
        if (to < from) {
            refused.push({
                key,
                problem:
                    `goes down from ${from} to ${to}; epochs only go up: an epoch names the keys it made (<name>-r<epoch>) and the APIC certificates on record, ` +
                    `so going back would make a new key under a name already used and pin the wrong history at the gateway, and never brings the old key back. Keep ${from}, or raise it to ${from + 1} to rotate again`,
            });
        }
    }
    const lowered = new Set(refused.map((r) => r.key));
    for (const e of head.endpoints) {
        const old = baseEndpoints.get(e.id);
        const key = `pki:rotation.endpoints.${e.id}.clientEpoch`;
        if (old === undefined || e.client.epoch >= old.client.epoch || lowered.has(key)) continue;
        const dropped = apicRevocations(base).filter(
            (r) => r.endpoint === e.id && !apicRevocations(head).some((h) => sameRevocation(h, r)),
        );
        if (dropped.length === 0) continue;
        refused.push({
            key: "pki:revocations",
            problem:
                `removing the revocation of serial ${list(dropped.map((r) => r.serial))} (endpoint "${e.id}") takes its APIC client back from epoch ${old.client.epoch} to ${e.client.epoch}: ` +
                `a new key would replace the one APIC holds, with no overlap. Keep the entry until the certificate would have expired; to drop it, set ${key} to ${old.client.epoch} in the same change`,
        });
    }
    return refused;
}

/** Revocations of APIC clients (those of UI clients name `uiClient` instead of `endpoint`). */
const apicRevocations = (plan: PkiPlan): (RevocationConfig & { endpoint: string })[] =>
    plan.config.revocations.filter((r): r is RevocationConfig & { endpoint: string } => r.endpoint !== undefined);

const sameRevocation = (a: { endpoint: string; serial: string }, b: { endpoint: string; serial: string }): boolean =>
    a.endpoint === b.endpoint && normalSerial(a.serial) === normalSerial(b.serial);

function revocationChanges(base: PkiPlan, head: PkiPlan): RevocationChange[] {
    const endpoint = (plan: PkiPlan, id: string) => plan.endpoints.find((e) => e.id === id);
    const change = (
        kind: RevocationChange["change"],
        r: RevocationConfig & { endpoint: string },
        other: PkiPlan,
        plan: PkiPlan,
    ): RevocationChange => {
        const before = endpoint(kind === "added" ? other : plan, r.endpoint)?.client.epoch;
        const after = endpoint(kind === "added" ? plan : other, r.endpoint)?.client.epoch;
        return {
            change: kind,
            endpoint: r.endpoint,
            serial: r.serial,
            epoch: r.epoch,
            reason: r.reason,
            revokedAt: r.revokedAt,
            ...(endpoint(plan, r.endpoint) !== undefined ? { host: endpoint(plan, r.endpoint)?.host } : {}),
            ...(before !== undefined && after !== undefined && before !== after
                ? { clientEpoch: { before, after } }
                : {}),
        };
    };
    return [
        ...apicRevocations(head)
            .filter((r) => !apicRevocations(base).some((b) => sameRevocation(b, r)))
            .map((r) => change("added", r, base, head)),
        ...apicRevocations(base)
            .filter((r) => !apicRevocations(head).some((h) => sameRevocation(h, r)))
            .map((r) => change("removed", r, head, base)),
    ];
}

/** How a certificate id changed between the plans, for the items that carry it. */
interface Changes {
    replaced: ReadonlySet<string>;
    newKey: Set<string>;
    /** CA id -> what its CRL now lists differently. */
    crlNews: Map<string, string[]>;
    /** CA slot id -> the same, for every generation of the slot (revoked APIC clients). */
    slotCrlNews: Map<string, string[]>;
    slotOf: (caId: string) => string | undefined;
}

/** A content as a place's row names it: its own leaf and key need no endpoint name. */
function contentName(c: Content, owner: string): string {
    const own = c.id === `${owner}/server` || c.id === `${owner}/client`;
    if (c.kind === "cert") return own ? "its certificate" : c.id;
    if (c.kind === "key") return own ? "its key" : `key of ${c.id}`;
    return `CRL of ${c.id}`;
}

const contentKey = (c: Content): string => `${c.kind}:${c.id}`;

function newsOf(c: Content, changes: Changes): string[] {
    if (c.kind !== "crl") return [];
    const slot = changes.slotOf(c.id);
    return [...(changes.crlNews.get(c.id) ?? []), ...(slot !== undefined ? (changes.slotCrlNews.get(slot) ?? []) : [])];
}

/** What changed in one item (a secret key or bundle file) of an existing place; undefined when nothing did. */
function describeItem(
    before: readonly Content[] | undefined,
    after: readonly Content[] | undefined,
    owner: string,
    changes: Changes,
): string | undefined {
    const name = (c: Content) => contentName(c, owner);
    const withNews = (c: Content): string => {
        const news = newsOf(c, changes);
        return news.length > 0 ? `${name(c)} (${news.join("; ")})` : name(c);
    };
    if (after === undefined) return before === undefined ? undefined : "removed";
    if (before === undefined) return `new: ${after.map(withNews).join(", ")}`;
    const beforeKeys = before.map(contentKey);
    const afterKeys = after.map(contentKey);
    const parts: string[] = [];
    const added = after.filter((c) => !beforeKeys.includes(contentKey(c)));
    const removed = before.filter((c) => !afterKeys.includes(contentKey(c)));
    if (added.length === 1 && removed.length === 1) {
        parts.push(`${name(removed[0])} -> ${withNews(added[0])}`);
    } else {
        if (added.length > 0) parts.push(`+ ${added.map(withNews).join(", ")}`);
        if (removed.length > 0) parts.push(`- ${removed.map(name).join(", ")}`);
    }
    const kept = after.filter((c) => beforeKeys.includes(contentKey(c)));
    if (added.length + removed.length === 0 && !sameList(beforeKeys, afterKeys)) {
        parts.push(`now ${after.map(name).join(", ")} (the first is in use)`);
    }
    for (const c of kept) {
        const replaced = changes.replaced.has(c.id);
        if (c.kind === "cert" && replaced) {
            const how = changes.newKey.has(c.id) ? "re-issued with a new key" : "re-issued (same key)";
            parts.push(name(c) === "its certificate" ? how : `${name(c)} ${how}`);
        } else if (c.kind === "key" && changes.newKey.has(c.id)) {
            parts.push(`new ${name(c).replace(/^its /, "")}`);
        } else if (c.kind === "crl") {
            const news = newsOf(c, changes);
            if (replaced) parts.push(`${name(c)} signed by the re-issued CA`);
            if (news.length > 0) parts.push(`${name(c)} ${news.join("; ")}`);
        }
    }
    return parts.length > 0 ? [...new Set(parts)].join("; ") : undefined;
}

function placeChanges(basePlaces: readonly Place[], headPlaces: readonly Place[], changes: Changes): PlaceChange[] {
    const before = new Map(basePlaces.map((p) => [p.id, p]));
    const after = new Map(headPlaces.map((p) => [p.id, p]));
    const out: PlaceChange[] = [];
    for (const p of headPlaces) {
        const old = before.get(p.id);
        if (old === undefined) {
            // What a new place holds is in the certificates added; its items are enough here.
            const items = Object.keys(p.items).map((item) => ({ item, change: "new" }));
            out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "create", items });
            continue;
        }
        const names = [...new Set([...Object.keys(old.items), ...Object.keys(p.items)])];
        const items = names.flatMap((item) => {
            const change = describeItem(old.items[item], p.items[item], p.owner, changes);
            return change !== undefined ? [{ item, change }] : [];
        });
        if (items.length > 0) out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "update", items });
    }
    for (const p of basePlaces) {
        if (!after.has(p.id)) out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "delete", items: [] });
    }
    return out;
}

const isSecret = (kind: PlaceKind): boolean => kind === "gateway secret" || kind === "istiod cacerts";

/** The places that carry each certificate or key id. */
function carriersById(places: readonly Place[]): Map<string, Place[]> {
    const byId = new Map<string, Place[]>();
    for (const p of places) {
        for (const c of new Set(Object.values(p.items).flatMap((items) => items.map((x) => x.id)))) {
            const carriers = byId.get(c);
            if (carriers === undefined) byId.set(c, [p]);
            else carriers.push(p);
        }
    }
    return byId;
}

/** The forces of one certificate: the places that carry it, with their verb ("new" for an APIC bundle updated). */
function deliveryForces(carrying: readonly Place[], verbs: ReadonlyMap<string, PlaceChange["change"]>): string[] {
    const verbOf = (p: Place): PlaceChange["change"] => verbs.get(p.id) ?? "update";
    const out: string[] = [];
    for (const verb of ["create", "update", "delete"] as const) {
        const mine = carrying
            .filter((p) => isSecret(p.kind))
            .filter((p) => verbOf(p) === verb)
            .map((p) => p.id);
        if (mine.length > 0)
            out.push(mine.length <= 3 ? `${verb} secret ${mine.join(", ")}` : `${verb} ${mine.length} secrets`);
    }
    for (const kind of ["APIC keystore", "APIC truststore"] as const) {
        for (const verb of ["create", "update", "delete"] as const) {
            const n = carrying.filter((p) => p.kind === kind && verbOf(p) === verb).length;
            if (n > 0) out.push(`${verb === "update" ? "new" : verb} ${kind}${n > 1 ? ` (${n} endpoints)` : ""}`);
        }
    }
    const cacerts = carrying.filter((p) => p.kind === "istiod cacerts" && verbOf(p) === "update");
    if (cacerts.length > 0) {
        out.push(
            `istiod of ${list(cacerts.map((p) => p.owner))} reloads cacerts; workloads get certificates of the new CA within their TTL`,
        );
    }
    return out;
}

const ROOT_BREAKS: Readonly<Record<RootSlot, string>> = {
    clientRoot:
        "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded",
    serverRoot:
        "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded",
    meshRoot:
        "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate",
    uiClientRoot:
        "APIC's UI-facing truststore holds the old UI client root, while the UI services' sidecars present client certificates under the new one: every UI call to APIC is refused until the truststore is uploaded",
    root: "every trust anchor changes at once: the gateway refuses APIC's client certificates until each keystore is uploaded, APIC refuses the gateway until each truststore is uploaded, and workloads under the old and the new root refuse each other",
};

/** Config keys that re-issue CAs when changed, and the safe way for each. */
const CA_CAUSES: readonly { key: string; changed: (a: PkiConfig, b: PkiConfig) => boolean; instead: string }[] = [
    {
        key: "pki:organization",
        changed: (a, b) => a.organization !== b.organization,
        instead:
            "no staged rotation avoids it, since every generation's subject carries the organization: keep the current value, or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore and restart the mesh workloads)",
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
            a.validityDays.root !== b.validityDays.root || a.validityDays.intermediate !== b.validityDays.intermediate,
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
 * CAs re-issued, added or removed outside a staged rotation (pki:caRotation), with what that
 * breaks: a root whose key or subject changes is a new trust anchor for its whole domain at once.
 */
function caRisks(
    base: PkiPlan,
    head: PkiPlan,
    certs: { added: CertChange[]; removed: CertChange[]; replaced: CertChange[] },
    rotating: ReadonlySet<CaSlot>,
): Risk[] {
    const cas = new Map<string, CaPlan>([...base.cas, ...head.cas].map((c) => [c.id, c]));
    const rootSlotOf = (ca: CaPlan): RootSlot =>
        isRootSlot(ca.slot) ? ca.slot : rootOf(ca.slot, (head.cas.includes(ca) ? head : base).config.trustDomains);
    const staged = (ca: CaPlan): boolean => rotating.has(ca.slot) || rotating.has(rootSlotOf(ca));
    const clusters = (plan: PkiPlan) => plan.config.clusters.map((c) => c.name);
    const risks: Risk[] = [];
    const droppedClusters = clusters(base).filter((c) => !clusters(head).includes(c));
    if (droppedClusters.length > 0) {
        risks.push({
            key: "pki:clusters",
            change: `removes ${plural(droppedClusters.length, "cluster")} ${list(droppedClusters)}: its mesh CA and istiod's cacerts secret are deleted`,
            breaks: "istiod there falls back to a self-signed CA at its next restart: its workloads and the rest of the mesh then refuse each other",
            instead: "remove the cluster's workloads and istiod first, then the cluster from pki:clusters",
        });
    }
    const isCa = (c: CertChange) => cas.has(c.id);
    const caOf = (c: CertChange) => cas.get(c.id) as CaPlan;
    const inCluster = (c: CertChange, names: readonly string[]) => names.includes(caOf(c).cluster ?? "");
    const newClusters = clusters(head).filter((c) => !clusters(base).includes(c));
    const outside = [
        // A mesh CA epoch (pki:rotation.meshEpoch) re-keys in one step on purpose: the mesh trusts the root.
        ...certs.replaced.filter((c) => isCa(c) && !c.reasons.every((r) => r.startsWith("rotation forced"))),
        ...certs.added.filter((c) => isCa(c) && !staged(caOf(c)) && !inCluster(c, newClusters)),
        ...certs.removed.filter((c) => isCa(c) && !staged(caOf(c)) && !inCluster(c, droppedClusters)),
    ];
    if (outside.length === 0) return risks;
    const causes = CA_CAUSES.filter((c) => c.changed(base.config, head.config));
    const newAnchor = (c: CertChange): boolean =>
        c.role === "root" &&
        (c.before === undefined ||
            c.after === undefined ||
            c.before.subject !== c.after.subject ||
            c.before.key !== c.after.key);
    const anchorSlots = [...new Set(outside.filter(newAnchor).map((c) => rootSlotOf(caOf(c))))];
    const roots = outside.filter((c) => c.role === "root").map((c) => c.id);
    const others = outside.filter((c) => c.role !== "root").map((c) => c.id);
    const what = [
        roots.length > 0 ? `${plural(roots.length, "root")} (${roots.join(", ")})` : "",
        others.length > 0 ? `${plural(others.length, "issuing CA")} (${others.join(", ")})` : "",
    ].filter((p) => p !== "");
    const leaves = certs.replaced.filter((c) => !isCa(c) && c.reasons.some((r) => r.startsWith("issuer"))).length;
    risks.push({
        key: causes.map((c) => c.key).join(", ") || changedKeys(base.config, head.config).join(", "),
        change:
            `re-issues ${list(what)} at once, outside a staged rotation (pki:caRotation)` +
            (leaves > 0 ? `, and with them ${plural(leaves, "leaf certificate")}` : ""),
        breaks:
            anchorSlots.length > 0
                ? anchorSlots.includes("root") || base.config.trustDomains !== head.config.trustDomains
                    ? ROOT_BREAKS.root
                    : anchorSlots.map((slot) => ROOT_BREAKS[slot]).join("; ")
                : roots.length > 0
                  ? "the roots keep their keys and subjects, so existing chains still verify; but every CA and leaf under them is re-issued in one update, and APIC holds the old chain until its keystores and truststores are uploaded"
                  : "nothing at once, since peers trust the root, which stays; but every certificate these CAs signed is re-issued in the same update, and the old CA is never revoked in its root's CRL as a staged rotation's finish does",
        instead:
            causes.map((c) => `${c.key}: ${c.instead}`).join(" ") ||
            "rotate CAs in stages (pki:caRotation: prepare, switch, finish), one reviewed change each",
    });
    return risks;
}

function droppedHosts(base: PkiPlan, head: PkiPlan): Risk[] {
    const hosts = new Set(head.endpoints.map((e) => e.host));
    const dropped = base.endpoints.filter((e) => !hosts.has(e.host));
    if (dropped.length === 0) return [];
    const domainChanged = (d: string) =>
        JSON.stringify(base.config.domains[d]) !== JSON.stringify(head.config.domains[d]);
    const keys = [
        ...(base.config.baseDomain !== head.config.baseDomain ? ["pki:baseDomain"] : []),
        ...(base.config.option !== head.config.option ? ["pki:option"] : []),
        ...[...new Set(dropped.map((e) => e.domain))].filter(domainChanged).map((d) => `pki:domains.${d}`),
    ];
    return [
        {
            key: keys.join(", "),
            change: `drops ${plural(dropped.length, "host")}: ${names(dropped.map((e) => e.host))}`,
            breaks: "APIC calls to these hosts fail from this update on: their Gateway server entries and secrets are deleted",
            instead:
                "add the new endpoints first, move APIC's API definitions and TLS client profiles to them, and remove the old hosts in a later change",
        },
    ];
}

/** The `pki:` keys whose value differs between two configs. */
function changedKeys(base: PkiConfig, head: PkiConfig): string[] {
    const keys = [...new Set([...Object.keys(base), ...Object.keys(head)])] as (keyof PkiConfig)[];
    return keys.filter((k) => JSON.stringify(base[k]) !== JSON.stringify(head[k])).map((k) => `pki:${k}`);
}

/** A stack file that does not exist in the base: every certificate is new. */
function emptyPlan(head: PkiPlan): PkiPlan {
    return {
        config: head.config,
        retired: [],
        revoked: [],
        cas: [],
        endpoints: [],
        gateways: [],
        pendingIntermediates: [],
        crls: { gateway: false, apicTruststore: false, mesh: false, apicUiTruststore: false, offlineRootCrls: {} },
        frontEnd: { uiClients: [], apicServers: [], customerFacing: [], gatewayName: head.frontEnd.gatewayName },
    };
}

/** What to do around `pulumi up`, in order, from what changes. */
function stepsFor(diff: Omit<CertDiff, "steps">, base: PkiPlan, head: PkiPlan): CertDiff["steps"] {
    const before: string[] = [];
    const after: string[] = [];
    const endpointsOf = (kind: PlaceKind, verbs: PlaceChange["change"][]) =>
        diff.places.filter((p) => p.kind === kind && verbs.includes(p.change)).map((p) => p.owner);
    const hostOf = (id: string) => head.endpoints.find((e) => e.id === id)?.host ?? id;
    for (const r of diff.risks.filter((r) => r.change.startsWith("drops "))) {
        before.push(
            `Make sure APIC no longer calls the hosts this change ${r.change.replace(/^drops [^:]*: /, "drops: ")}.`,
        );
    }
    for (const t of diff.caRotation.filter((t) => t.refused === undefined)) {
        const to = head.config.caRotation[t.slot];
        if (t.slot !== "meshRoot" && t.slot !== "root") continue;
        if (to.phase === "prepare") {
            before.push(
                "Set ISTIO_MULTIROOT_MESH=true on istiod (and PROXY_CONFIG_XDS_AGENT), so that the mesh trusts both roots (README, Staged CA rotation).",
            );
        }
        if (to.phase === "finish") {
            before.push(
                "Check that every workload was restarted or renewed since the switch: certificates under the old root are refused after this update.",
            );
        }
    }
    const unpinned = diff.pins.filter((p) => p.before.some((k) => !p.after.includes(k)));
    const revoked = new Set(diff.revocations.filter((r) => r.change === "added").map((r) => r.endpoint));
    const dropping = unpinned.filter((p) => !revoked.has(p.endpoint)).map((p) => p.endpoint);
    if (dropping.length > 0) {
        before.push(
            `Check that APIC uses the newest keystore of ${list(dropping)}: the older keys stop working with this update.`,
        );
    }
    const created = endpointsOf("APIC keystore", ["create"]);
    const keystores = endpointsOf("APIC keystore", ["update"]);
    const switching = diff.pins.filter((p) => p.after.length > 1).map((p) => p.endpoint);
    if (keystores.length > 0) {
        const now = keystores.filter((id) => revoked.has(id));
        after.push(
            `Upload the APIC keystore of ${names(keystores)} (apic keystores:update, same name)` +
                (now.length > 0
                    ? `; at once for ${list(now)}: APIC's calls to ${list(now.map(hostOf))} fail until then`
                    : keystores.every((id) => switching.includes(id))
                      ? "; the gateway accepts the old and the new key until the rotation finishes"
                      : "") +
                ".",
        );
    }
    const updated = (item: string) =>
        diff.places
            .filter(
                (p) => p.kind === "APIC truststore" && p.change === "update" && p.items.some((i) => i.item === item),
            )
            .map((p) => p.owner);
    if (updated("truststore.pem").length > 0) {
        after.push(`Upload the APIC truststore of ${names(updated("truststore.pem"))} (truststore.json).`);
    }
    if (updated("truststore.crl").length > 0) {
        after.push(
            `Give the TLS client profiles of ${names(updated("truststore.crl"))} the new truststore.crl, if your DataPower set-up takes a CRL.`,
        );
    }
    if (created.length > 0 && !diff.newStack) {
        after.push(
            `Configure APIC for the new ${plural(created.length, "host")} ${names(created.map(hostOf))}: a TLS client profile with the endpoint's keystore and truststore.`,
        );
    }
    const cacerts = diff.places.filter((p) => p.kind === "istiod cacerts" && p.change === "update");
    const touching = (item: string) => cacerts.filter((p) => p.items.some((i) => i.item === item)).map((p) => p.owner);
    if (touching("ca-cert.pem").length > 0) {
        after.push(
            `istiod of ${list(touching("ca-cert.pem"))} reloads cacerts (Istio 1.18+) and signs with the new CA; workloads get new certificates within their TTL (24 h by default), or restart them.`,
        );
    } else if (touching("root-cert.pem").length > 0) {
        after.push(
            `istiod of ${list(touching("root-cert.pem"))} reloads cacerts (Istio 1.18+): check that the istio-ca-root-cert ConfigMaps carry the new root bundle.`,
        );
    } else if (cacerts.length > 0) {
        after.push(
            `istiod of ${list(cacerts.map((p) => p.owner))} reloads cacerts (Istio 1.18+) and sends ca-crl.pem to the sidecars (Istio 1.27+).`,
        );
    }
    const wasPublished = crlsPublished(base);
    const nowPublished = crlsPublished(head);
    const firstCrls = (["gateway", "apicTruststore", "mesh"] as const).filter(
        (k) => nowPublished[k] && !wasPublished[k],
    );
    if (firstCrls.length > 0 && !diff.newStack) {
        after.push(
            `From now on CRLs must be re-published at least every ${head.config.crlPeriodDays} days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.`,
        );
    }
    for (const t of diff.caRotation.filter((t) => t.refused === undefined)) {
        const to = head.config.caRotation[t.slot];
        const next = PHASES[PHASES.indexOf(to.phase) + 1];
        if (next === undefined) continue;
        if (to.phase === "prepare" && isRootSlot(t.slot)) {
            after.push("Wait until every gateway pod and istiod has the new trust bundle.");
        }
        after.push(
            `Then, in a later change, the next phase: pki:caRotation.${t.slot}: { generation: ${to.generation}, phase: ${next} }.`,
        );
    }
    return { before, after };
}

export function diffPlans(base: PkiPlan | undefined, head: PkiPlan, options: DiffOptions = {}): CertDiff {
    const maxReplaced = options.maxReplaced ?? DEFAULT_MAX_REPLACED;
    const from = base ?? emptyPlan(head);
    const baseCerts = new Map(plannedCertificates(from).map((c) => [c.id, c]));
    const headCerts = plannedCertificates(head); // CAs first, so issuers are decided before their leaves
    const replacedIssuers = new Set<string>();
    const added: CertChange[] = [];
    const removed: CertChange[] = [];
    const replaced: CertChange[] = [];
    const newKey = new Set<string>();
    let unchanged = 0;
    for (const after of headCerts) {
        const before = baseCerts.get(after.id);
        if (before === undefined) {
            replacedIssuers.add(after.id);
            added.push({ id: after.id, role: after.role, reasons: [], forces: ["new key", "new certificate"], after });
            continue;
        }
        const reasons = reasonsFor(before, after, replacedIssuers);
        if (reasons.length === 0) {
            unchanged++;
            continue;
        }
        replacedIssuers.add(after.id);
        const rekeyed = before.key !== after.key || before.epoch !== after.epoch;
        if (rekeyed) newKey.add(after.id);
        replaced.push({
            id: after.id,
            role: after.role,
            reasons,
            forces: rekeyed ? ["new key", "new certificate"] : ["new certificate (same key)"],
            before,
            after,
        });
    }
    const headIds = new Set(headCerts.map((c) => c.id));
    for (const before of baseCerts.values()) {
        if (!headIds.has(before.id))
            removed.push({ id: before.id, role: before.role, reasons: [], forces: [], before });
    }

    const caRotation = describeTransitions(from.config.caRotation, head.config.caRotation);
    const rotating = new Set(caRotation.map((t) => t.slot));
    const revocations = base === undefined ? [] : revocationChanges(from, head);
    const cas = new Map<string, CaPlan>([...from.cas, ...head.cas].map((c) => [c.id, c]));
    const crlNews = new Map<string, string[]>();
    // A finish retires the old issuing CA: its root's CRL lists it from now on.
    for (const c of removed) {
        const ca = cas.get(c.id);
        if (ca?.issuer !== undefined && ca.role !== "root" && rotating.has(ca.slot)) {
            crlNews.set(ca.issuer, [...(crlNews.get(ca.issuer) ?? []), `revokes ${ca.id}, retired`]);
        }
    }
    const slotCrlNews = new Map<string, string[]>([
        [
            "apic-client-ca",
            revocations.map((r) =>
                r.change === "added"
                    ? `revokes serial ${r.serial} of ${r.endpoint}`
                    : `no longer lists serial ${r.serial}`,
            ),
        ],
    ]);
    const basePlaces = placesOf(from);
    const headPlaces = placesOf(head);
    const places = placeChanges(basePlaces, headPlaces, {
        replaced: new Set(replaced.map((c) => c.id)),
        newKey,
        crlNews,
        slotCrlNews,
        slotOf: (id) => cas.get(id)?.slotId,
    });
    const verbs = new Map(places.map((p) => [p.place, p.change]));
    const headCarriers = carriersById(headPlaces);
    const baseCarriers = carriersById(basePlaces);
    for (const c of [...added, ...replaced]) c.forces.push(...deliveryForces(headCarriers.get(c.id) ?? [], verbs));
    for (const c of removed) c.forces.push(...deliveryForces(baseCarriers.get(c.id) ?? [], verbs));

    const { pins, refused: pinRefusals } = base === undefined ? { pins: [], refused: [] } : pinChanges(from, head);
    const certs = { added, removed, replaced };
    const risks = [
        ...(base === undefined ? [] : caRisks(from, head, certs, rotating)),
        ...droppedHosts(from, head),
        ...(replaced.length > maxReplaced
            ? [
                  {
                      key: changedKeys(from.config, head.config).join(", "),
                      change: `replaces ${replaced.length} certificates in one update (more than ${maxReplaced})`,
                      breaks: `every consumer must take the new material in the same window (${plural(places.filter((p) => p.change === "update").length, "secret or APIC bundle")} updated), and a mistake reaches every endpoint at once`,
                      instead:
                          "split the change: raise epochs per endpoint (pki:rotation.endpoints.<id>) or per kind in several reviewed changes; if one update is intended, say so in the review",
                  },
              ]
            : []),
    ];
    const diff: Omit<CertDiff, "steps"> = {
        base: { environment: from.config.environment, option: from.config.option },
        head: { environment: head.config.environment, option: head.config.option },
        newStack: base === undefined,
        risks,
        refused: [...(base === undefined ? [] : loweredEpochs(from, head)), ...pinRefusals],
        caRotation,
        added,
        removed,
        replaced,
        unchanged,
        places,
        revocations,
        pins,
        routing: routing(from, head),
    };
    return { ...diff, steps: stepsFor(diff, from, head) };
}

/** Whether a diff holds a refused change (exit 1). */
export const isRefused = (diff: CertDiff): boolean =>
    diff.refused.length > 0 || diff.caRotation.some((t) => t.refused !== undefined);
