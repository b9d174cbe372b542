/**
 * The lifecycle rules (pure): from a stack's config, what is deployed (the issued inventory and
 * the deployment record) and the time, decide what is due:
 *
 * - a leaf inside its renewal window (inventory `renewAt`: the last third of its validity by
 *   default, pki:earlyRenewalDays) gets its epoch raised; an APIC client in two steps, `switch`
 *   then, after the soak time, `finish` (README "Rotating certificates and CAs"); the front end's
 *   UI clients and APIC UI-facing servers by their one epoch each; a customer-facing host by a new
 *   key and CSR, which a human has a public CA sign;
 * - a CA inside its renewal window starts a staged rotation (`prepare`), and a phase deployed for
 *   the soak time moves to the next one; a root's rotation goes first and re-issues the CAs
 *   below it, and CAs of one trust domain never rotate together (plan/caRotation.ts);
 * - CRLs re-signed every period are re-published (a `pulumi up`, no config change) once a new
 *   period has begun;
 * - what the pipeline cannot do needs a human: anything expired (but a CA generation that a
 *   deployed switch superseded), a change of the stack file still not deployed near its
 *   certificate's end, an offline root near the end of its life or of its CRL series, CSRs waiting
 *   for the ceremony, a stack file the deployed stack would refuse.
 *
 * Nothing is proposed for a certificate or CA whose config is ahead of what is deployed (the
 * change waits for its `pulumi up`), so that running again before the update changes nothing.
 */
import * as crypto from "crypto";
import { changesCrlsAlone, recordedSetting, settingDigest, settingsOf, settingWritten } from "../config/settings";
import { PkiConfig } from "../config/types";
import { ConfigError } from "../config/validate";
import { Json, ownMember, showJson } from "../config/values";
import { reissuedInPlaceConsequences, rootsReissuedInPlace } from "../plan/reissue";
import { IssuedCertificate } from "../inventory/issued";
import {
    APIC_UI_DIR,
    apicServerCertId,
    customerFacingCertId,
    customerFacingCsrFile,
    plannedCertificates,
    uiClientCertId,
} from "../inventory/planned";
import { apicUiKeystoreName } from "../pki/apic";
import { seriesCrlDue } from "../pki/crlSeries";
import { CLOCK_SKEW_MS, CrlInfo, CrlRecord, crlValidityDays, crlWindow, DAY_MS, MAX_CRL_PERIOD_DAYS } from "../pki/crl";
import { pemBlocks } from "../pki/pem";
import { PUBLIC_CA_LEAD_DAYS } from "../pki/publicCert";
import {
    CaPosition,
    CaSlot,
    describePosition,
    inRotation,
    positionAt,
    RetiredCa,
    RotationRecord,
    stepOf,
} from "../plan/caRotation";
import {
    caSlots,
    INTERMEDIATE_SLOTS,
    IntermediateSlot,
    isMeshSlot,
    isRootSlot,
    ROOT_IDS,
    RootSlot,
    rootOf,
    rootSlotOf,
} from "../plan/hierarchy";
import {
    caInstanceId,
    clientPhaseOf,
    CRL_SET_SLOT,
    CrlSet,
    layoutOf,
    LeafPlan,
    meshFinishFrom,
    offlineSeries,
    offlineSeriesSpan,
    PkiPlan,
    planPki,
} from "../plan/plan";

/** How long before the end a human is asked to act on what the pipeline cannot do (seed 001: alert 30 days ahead). */
export const HUMAN_LEAD_DAYS = 30;

const day = (iso: string | Date): string => (typeof iso === "string" ? iso : iso.toISOString()).slice(0, 10);

/**
 * An issued certificate as lifecycle reads it: its dates parsed once (readDeployed checks them), so
 * that no rule parses inventory text. keySince is missing from inventories of earlier versions.
 */
export interface DeployedCertificate extends Omit<
    IssuedCertificate,
    "notBefore" | "notAfter" | "keySince" | "renewAt"
> {
    readonly notBefore: Date;
    readonly notAfter: Date;
    readonly keySince?: Date;
    readonly renewAt: Date;
}

/** What is deployed: the stack outputs `inventory` and `deploymentRecord` (or a render's inventory.json and deployment.json). */
export interface Deployed {
    readonly inventory: readonly DeployedCertificate[];
    readonly record: RotationRecord;
}

/** One value set in the stack file, below its `config:` map. */
export interface ConfigEdit {
    /** e.g. ["pki:rotation", "endpoints", "ob", "serverEpoch"]. */
    readonly path: readonly string[];
    /** The value the stack file gives now (undefined: not set, the default applies); equal to `to`: set explicitly so that it stays. */
    readonly from: number | string | undefined;
    /** undefined: the key is removed, so that the default or a wider setting applies again. */
    readonly to: number | string | undefined;
}

export type ProposalKind =
    | "renew-server"
    | "rotate-client"
    | "finish-client"
    | "prepare-ca"
    | "advance-ca"
    | "renew-ui-clients"
    | "renew-apic-ui-servers"
    | "renew-customer-facing";

export interface Proposal {
    readonly kind: ProposalKind;
    /** The certificate (inventory id) or the `pki:caRotation` slot it is about. */
    readonly subject: string;
    readonly why: string;
    readonly edits: readonly ConfigEdit[];
    /** What the operator makes sure of before merging the pull request. */
    readonly beforeMerge?: string;
    /** What the operator does once the update that deploys it has run. */
    readonly afterDeploy?: string;
}

/** A step after a CRL re-publication that no update does, and the time it must be done by. */
export interface HandStep {
    readonly step: string;
    /**
     * ISO time: the earliest nextUpdate of the CRLs that DataPower's copy, loaded last, holds (due
     * or not), past which it refuses every peer it checks.
     */
    readonly before: string;
}

export interface LifecycleDecision {
    readonly proposals: readonly Proposal[];
    /** A `pulumi up` with no config change re-signs CRLs that are due. */
    readonly republishCrls: boolean;
    readonly republishWhy: readonly string[];
    /**
     * What a person does by hand once the update that re-publishes the due CRLs has run (no update
     * reaches DataPower's validation credentials), each step with its deadline: the earliest next
     * update of the CRLs published now that the copy loaded last holds, when it lapses. Empty when
     * nothing is due.
     */
    readonly afterRepublish: readonly HandStep[];
    /**
     * While CRLs are due, what keeps the update that re-publishes them from changing CRLs alone:
     * the stack file's changes not deployed yet (a new pki:crlPeriodDays aside: it changes CRLs
     * alone), settings a record of an earlier version cannot tell, or a stack file the deployed
     * stack refuses. The lifecycle workflow re-publishes only when this is empty; otherwise the
     * CRLs go with the update that deploys those changes.
     */
    readonly republishBlockedBy: readonly string[];
    readonly needsHuman: readonly string[];
    /**
     * Changes in the stack file not deployed yet: certificates and CA positions (nothing more is
     * proposed for them), and every setting changed, by its key (pki:meshStrictMtls).
     */
    readonly pending: readonly string[];
    /** What is due but waits for something else, and why. */
    readonly waiting: readonly string[];
}

export interface LifecycleInput {
    readonly config: PkiConfig;
    readonly deployed: Deployed;
    readonly now: Date;
    readonly soakDays: number;
    /**
     * The settings the stack file writes (settingsWritten of its raw config): one it does not
     * write is this version's default, which an upgrade of the package may have changed. Absent:
     * every setting counts as written.
     */
    readonly written?: ReadonlySet<string>;
    /**
     * The subjects of CA proposals (`pki:caRotation.<slot>`) whose edit a run found it cannot make
     * (the stack refuses it): left out, and not counted on, so that the leaves they would have
     * re-issued are renewed at once rather than held back for a switch that never comes.
     */
    readonly unmade?: ReadonlySet<string>;
}

/** The path of a `pki:caRotation` slot's field. */
const caPath = (slot: CaSlot, field: "generation" | "phase") => ["pki:caRotation", slot, field];
const endpointPath = (id: string, field: "serverEpoch" | "clientEpoch" | "clientPhase") => [
    "pki:rotation",
    "endpoints",
    id,
    field,
];

/** Where a customer-facing host's CSR is: what a human sends to the public CA. */
const csrOf = (host: string): string =>
    `${customerFacingCsrFile(host)} of a render, or the stack output frontEnd.customerFacingCsrs["${host}"]`;

/** The root slot kept offline whose root has this CA id, if any. */
const offlineSlotOf = (config: PkiConfig, id: string): RootSlot | undefined =>
    (Object.keys(config.offlineRoots) as RootSlot[]).find((s) => ROOT_IDS[s] === id);

/**
 * For the offline root `id`, whose published CRL is `crl`: its slot, and the CRL of its series
 * that `pulumi up` at `now` would publish instead (seriesCrlDue), requiring the revocations the
 * plan does (`retired`: the plan's, or the record's when the stack file is refused); undefined
 * when `id` is no offline root of the stack file.
 */
function offlineCrlDue(
    config: PkiConfig,
    record: RotationRecord,
    retired: readonly RetiredCa[],
    id: string,
    crl: CrlRecord,
    now: Date,
): { slot: RootSlot; next: CrlInfo | undefined } | undefined {
    const slot = offlineSlotOf(config, id);
    const series = slot === undefined ? undefined : offlineSeries(config, slot, id, retired, record);
    if (slot === undefined || series === undefined) return undefined;
    return { slot, next: seriesCrlDue({ ...series, published: crl, now }) };
}

/**
 * Certificates and published CRLs that are past their end: nothing the pipeline proposes fixes them
 * in time. `renewal`: how a certificate of the stack gets renewed, as this run found (a proposal,
 * the stack file's change not deployed yet, or nothing yet). `superseded`: the CAs left out (and
 * their CRLs), whose end refuses nothing in use (supersededCas). `retired`: the CAs an offline
 * root's CRL must revoke (offlineCrlDue).
 */
function expired(
    config: PkiConfig,
    deployed: Deployed,
    retired: readonly RetiredCa[],
    now: Date,
    renewal: (c: DeployedCertificate) => string,
    superseded: ReadonlyMap<string, string> = new Map(),
): string[] {
    const certificates = deployed.inventory
        .filter((c) => c.notAfter.getTime() <= now.getTime() && !superseded.has(c.id))
        .map((c) =>
            c.role === "customer-facing"
                ? `${c.id} (customer-facing) expired on ${day(c.notAfter)}: browsers refuse ${c.host} now, and the stack refuses the expired certificate in config; ` +
                  `have the public CA sign the host's CSR at once (${csrOf(c.host ?? "")}; raise pki:frontEnd.customerFacing.${c.host}.epoch first if no new CSR is pending) ` +
                  `and set its certificate and certificateEpoch`
                : `${c.id} (${c.role}) expired on ${day(c.notAfter)}: whatever checks it refuses it now; ${renewal(c)}`,
        );
    const crls = Object.entries(deployed.record.crls ?? {})
        .filter(([id, crl]) => crl.published && Date.parse(crl.nextUpdate) <= now.getTime() && !superseded.has(id))
        .map(([id, crl]) => {
            const lapsed = `the CRL of ${id} passed its next update on ${day(crl.nextUpdate)}: every peer whose chain it covers is refused`;
            // An offline root's CRL comes from the ceremony's series: pulumi up helps only if it holds a newer one valid now.
            const offline = offlineCrlDue(config, deployed.record, retired, id, crl, now);
            if (offline !== undefined && offline.next === undefined) {
                const { slot } = offline;
                return (
                    `${lapsed}; pki:offlineRoots.${slot}.crls holds no later CRL valid now: sign a new series on the offline machine ` +
                    `("npx apic-istio-pki ceremony crl"), replace pki:offlineRoots.${slot}.crls with it and run pulumi up at once`
                );
            }
            return `${lapsed}; run pulumi up now`;
        });
    return [...certificates, ...crls];
}

/**
 * CAs (and the CRLs they sign) that a deployed switch superseded, each with the slot at switch: an
 * older generation of a CA whose slot, or whose root's, is deployed at `switch`. The switch
 * re-issued all it signed under the new generation, and the finish only retires it: the staged
 * rotation (README) lets it expire in between, and its expiry refuses nothing the stack deploys.
 * Matched against the ids of the plan's own CAs' older generations (caInstanceId), not by parsing
 * `-g<n>` off an id: once the stack file is at finish, its plan holds the new generation alone.
 */
function supersededCas(plan: PkiPlan, deployed: Deployed): Map<string, CaSlot> {
    const { record } = deployed;
    /** The id of each generation of a planned CA older than its newest, with that CA's slot. */
    const older = new Map<string, CaSlot>();
    for (const ca of plan.cas) {
        for (let generation = 0; generation < ca.generation; generation++) {
            older.set(caInstanceId(ca.slotId, generation), ca.slot);
        }
    }
    const superseded = new Map<string, CaSlot>();
    for (const id of new Set([...deployed.inventory.map((c) => c.id), ...Object.keys(record.crls ?? {})])) {
        const own = older.get(id);
        if (own === undefined) continue;
        const slot = [own, rootSlotOf(own, plan.config.trustDomains)].find(
            (s) => record.positions[s].phase === "switch",
        );
        if (slot !== undefined) superseded.set(id, slot);
    }
    return superseded;
}

/**
 * A change of the stack file to a certificate (a leaf's epoch or issuer, or its CA's position), as
 * `pending` says it; or a CA's next phase, due but held up (`heldUp`), as Waiting says it.
 */
interface Undeployed {
    readonly line: string;
    /** When the change is proposed, on time, or the held-up phase was due (ms): see undeployedNearEnd. */
    readonly proposedAt: number;
    readonly heldUp?: boolean;
}

/**
 * Certificates the stack file changes (`changes`, by id) that come close to their end while that
 * is not deployed: nothing more is proposed for them meanwhile, and the lifecycle workflow opens an
 * issue only for what needs a human, so a merged renewal whose update failed or was forgotten would
 * first be heard of once the certificate has expired. A merged change waiting for its update is
 * normal for a while: as for a CRL blocked from re-publication (crlsBlocked), a human is asked once
 * half the time from when the change is proposed on time to the end is left (as much again as it
 * had to wait): a leaf's renewal and a CA's prepare at the renewal point; a CA's switch a soak time
 * later, so that a switch merged on time in a 14-day window (pki:earlyRenewalDays' least, two
 * soaks) is not asked about at once; the switch that re-issues a leaf (its issuer changes) with a
 * soak time to spare before the leaf's end (switchComing), so half a soak is then left. Any of them
 * at the renewal point when that comes at the end or after (a soak outlasting the CA, no soak).
 * Never earlier than HUMAN_LEAD_DAYS before the end (the expiry alert), which long windows would
 * pass. The same for a CA whose next phase is due but held up (Waiting: a switch of the APIC-client
 * CA behind the clients' own switches, a CA's prepare behind its root's rotation), counted from when
 * that phase was due: nothing is in the stack file yet, and the CA would expire unheard of.
 */
function undeployedNearEnd(
    inventory: readonly DeployedCertificate[],
    changes: ReadonlyMap<string, Undeployed>,
    now: Date,
): string[] {
    return inventory.flatMap((c) => {
        const change = changes.get(c.id);
        const end = c.notAfter.getTime();
        // Past its end it is expired()'s.
        if (change === undefined || now.getTime() >= end) return [];
        const proposed = change.proposedAt < end ? change.proposedAt : c.renewAt.getTime();
        if (now.getTime() < end - Math.min(HUMAN_LEAD_DAYS * DAY_MS, (end - proposed) / 2)) return [];
        if (change.heldUp) {
            return [
                `${c.id} (${c.role}) expires on ${day(c.notAfter)}, and its rotation's next step, due since ${day(new Date(change.proposedAt))}, ` +
                    `is held up (${change.line}); whatever still uses a certificate it signed is refused from then on: ` +
                    "have what holds it up deployed before then (merge what was proposed for it and run pulumi up from the default branch; " +
                    "if an update failed, fix what made it fail first)",
            ];
        }
        return [
            `${c.id} (${c.role}) expires on ${day(c.notAfter)}, and the stack file's change of it is not deployed yet (${change.line}); ` +
                "nothing more is proposed for it until it is: run pulumi up from the default branch before then " +
                "(if the update after the merge failed, fix what made it fail first)",
        ];
    });
}

const GATEWAY_SERVER_CA = /^gateway-server-ca(-g\d+)?$/;
const UI_CLIENT_CA = /^ui-client-ca(-g\d+)?$/;

/**
 * What else a re-signed CRL needs after the update: the UI client CA's and the gateway-server CA's
 * go into DataPower's validation credentials where they check CRLs (APIC's truststores and TLS
 * profiles take none), which no update reaches (a gateway's ca.crl is in its Secret). A CRL loaded
 * there and never replaced expires.
 */
const crlDeliveries = (caId: string, record: RotationRecord): string[] => {
    const ui = `load ${APIC_UI_DIR}/truststore.crl (stack output frontEnd.apic.truststoreCrlPem) where DataPower checks the UI clients' CRLs`;
    const gateway =
        "load each endpoint's new apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)";
    // A root's CRL (an offline root's, from its series) rides in the same files as its CAs' CRLs:
    // the shared root's only in those APIC has, whose issuing CA's CRL is published (a revoked APIC
    // client alone gives only the gateway's ca.crl, which the update itself reaches).
    const publishes = (ca: RegExp) =>
        Object.entries(record.crls ?? {}).some(([id, crl]) => crl.published && ca.test(id));
    return /^ui-client-(ca(-g\d+)?|root)$/.test(caId)
        ? [ui]
        : /^(gateway-server-ca(-g\d+)?|server-root)$/.test(caId)
          ? [gateway]
          : caId === "root"
            ? [...(publishes(GATEWAY_SERVER_CA) ? [gateway] : []), ...(publishes(UI_CLIENT_CA) ? [ui] : [])]
            : [];
};

/** The deliveries in words, after a reason: "; after the update load ...", or "". */
const afterTheUpdate = (deliveries: readonly string[]): string =>
    deliveries.length === 0 ? "" : `; after the update ${deliveries.join(", and ")}`;

/**
 * The CRL sets (PkiPlan.crls), each the CRLs of an issuing CA's generations and of its root: where
 * each is loaded, what the update itself takes away, and what only the operator can.
 */
const CRL_SET_RULES: readonly {
    readonly flag: CrlSet;
    readonly removedBy: (plan: PkiPlan) => string | undefined;
    readonly takeOut?: string;
}[] = [
    { flag: "gateway", removedBy: () => "ca.crl from every gateway secret" },
    {
        flag: "apicTruststore",
        removedBy: (plan) =>
            plan.frontEnd.uiClients.length > 0 && plan.config.frontEnd.apicServerCa === undefined
                ? "ca.crl from each calling UI service's Secret"
                : undefined,
        takeOut:
            "take apic/<endpoint>/truststore.crl out of the DataPower validation credentials that check the gateway's CRLs, where you loaded it",
    },
    { flag: "mesh", removedBy: () => "ca-crl.pem from istiod's cacerts" },
    {
        flag: "apicUiTruststore",
        removedBy: () => undefined,
        takeOut: `take ${APIC_UI_DIR}/truststore.crl out of the DataPower validation credentials that check the UI clients' CRLs, where you loaded it`,
    },
];
/** CRL_SET_RULES, each with its issuing CA (CRL_SET_SLOT). */
const CRL_SETS = CRL_SET_RULES.map((set) => ({ ...set, slot: CRL_SET_SLOT[set.flag] }));

/**
 * CRL sets published now that the next update publishes no more (nothing under their root is
 * revoked any more: a retired CA leaves once it expires). The update deletes its own copies, but
 * one loaded into APIC by hand stays there and, past its next update, breaks the peers it checks.
 * `gone`: the CAs whose CRL no set publishes any more, so none is re-signed.
 */
function crlsStopped(plan: PkiPlan, record: RotationRecord): { why: string[]; gone: Set<string>; steps: HandStep[] } {
    const trust = plan.config.trustDomains;
    const published = Object.entries(record.crls ?? {}).filter(([, crl]) => crl.published);
    const inSet = (slot: IntermediateSlot, id: string): boolean =>
        plan.cas.some((ca) => ca.id === id && (ca.slot === slot || ca.slot === rootOf(slot, trust)));
    const kept = CRL_SETS.filter((set) => plan.crls[set.flag]);
    const stopped = CRL_SETS.filter((set) => !plan.crls[set.flag])
        .map((set) => ({ set, crls: published.filter(([id]) => inSet(set.slot, id)) }))
        // Published while its issuing CA's CRL is (a shared root's CRL alone may be another set's).
        .filter(({ set, crls }) => crls.some(([id]) => plan.cas.some((ca) => ca.id === id && ca.slot === set.slot)));
    const gone = new Set(
        stopped.flatMap(({ crls }) => crls.map(([id]) => id)).filter((id) => !kept.some((set) => inSet(set.slot, id))),
    );
    const why = stopped.map(({ set, crls }) => {
        const [first] = [...crls].sort(([, a], [, b]) => Date.parse(a.nextUpdate) - Date.parse(b.nextUpdate));
        const removed = set.removedBy(plan);
        const steps = [
            removed === undefined ? undefined : `the update removes ${removed}`,
            set.takeOut === undefined
                ? "nothing to take out of APIC"
                : `before ${day(first[1].nextUpdate)}, when the CRL of ${first[0]} loaded there passes its next update, ${set.takeOut} (there is no new one to load)`,
        ].filter((step): step is string => step !== undefined);
        return (
            `the CRLs of ${crls.map(([id]) => id).join(", ")} are published no more (nothing under ${ROOT_IDS[rootOf(set.slot, trust)]} is revoked any more); ` +
            steps.join("; ")
        );
    });
    const handTaken = stopped.flatMap(({ set, crls }): HandStep[] => {
        if (set.takeOut === undefined) return [];
        const before = Math.min(...crls.map(([, crl]) => Date.parse(crl.nextUpdate)));
        return [{ step: `${set.takeOut} (there is no new one to load)`, before: new Date(before).toISOString() }];
    });
    return { why, gone, steps: handTaken };
}

/** A published CRL the next `pulumi up` re-signs or replaces, and why. */
interface CrlDue {
    readonly id: string;
    readonly crl: CrlRecord;
    readonly why: string;
    /** Where crlsBlocked counts its wait from (ms): its thisUpdate; a series CRL's, when the next one became valid. */
    readonly waitFrom: number;
    /** What a person loads after the update (crlDeliveries). */
    readonly deliveries: readonly string[];
}

/**
 * The hand steps after the update that re-publishes `due` and stops publishing `stopped`: each
 * delivery once, by the earliest next update of every CRL published now that reaches DataPower
 * by it. Not only the due ones: the copy loaded there holds them all (e.g. an offline root's
 * series CRL, not due yet, beside a periodic CRL due later), and the first to pass its next
 * update makes DataPower refuse the peers it checks. CRLs the update stops publishing count
 * too: DataPower holds them until the step is done.
 */
const handSteps = (record: RotationRecord, due: readonly CrlDue[], stopped: readonly HandStep[] = []): HandStep[] => {
    const steps = new Map<string, string>();
    const earliest = (step: string, before: string) => {
        const earlier = steps.get(step);
        if (earlier === undefined || Date.parse(before) < Date.parse(earlier)) steps.set(step, before);
    };
    for (const { crl, deliveries } of due) for (const step of deliveries) earliest(step, crl.nextUpdate);
    for (const { step, before } of stopped) earliest(step, before);
    // Every published CRL in a delivery that is done now, due or not.
    for (const [id, crl] of Object.entries(record.crls ?? {})) {
        if (!crl.published) continue;
        for (const step of crlDeliveries(id, record)) if (steps.has(step)) earliest(step, crl.nextUpdate);
    }
    return [...steps].map(([step, before]) => ({ step, before: new Date(Date.parse(before)).toISOString() }));
};

/**
 * The publication periods (day counts, each with the end of the period) a deployed periodic CRL
 * can have been signed in, read from its record alone, since pki:crlPeriodDays may have changed
 * after: those whose period start, plus crlValidityDays, gives its nextUpdate (crlWindow) and
 * which hold its thisUpdate (never before the period's start, never after the update in that
 * period that signed it, CLOCK_SKEW_MS into the next at the latest).
 */
function periodsSignedIn(crl: CrlRecord): { days: number; end: number }[] {
    const thisUpdate = Date.parse(crl.thisUpdate);
    const nextUpdate = Date.parse(crl.nextUpdate);
    const periods: { days: number; end: number }[] = [];
    for (let days = 1; days <= MAX_CRL_PERIOD_DAYS; days++) {
        const start = nextUpdate - crlValidityDays(days) * DAY_MS;
        const end = start + days * DAY_MS;
        if (start % (days * DAY_MS) === 0 && start <= thisUpdate && thisUpdate < end + CLOCK_SKEW_MS) {
            periods.push({ days, end });
        }
    }
    return periods;
}

/**
 * The stack file's pki:crlPeriodDays, as a change not deployed yet, when the published periodic
 * CRLs were signed in periods of another length (the deployed length too, when their records
 * allow only one). `gone`: as crlsDue's.
 */
function crlPeriodPending(config: PkiConfig, record: RotationRecord, gone: ReadonlySet<string>): string[] {
    const other = Object.entries(record.crls ?? {})
        .filter(([id, crl]) => crl.published && crl.renewal === "period" && !gone.has(id))
        .map(([id, crl]) => ({ id, crl, lengths: periodsSignedIn(crl).map((p) => p.days) }))
        .filter(({ lengths }) => !lengths.includes(config.crlPeriodDays));
    if (other.length === 0) return [];
    const shared = other[0].lengths.filter((days) => other.every(({ lengths }) => lengths.includes(days)));
    const signed = other.map(({ id, crl }) => `${id} from ${day(crl.thisUpdate)} until ${day(crl.nextUpdate)}`);
    return [
        `pki:crlPeriodDays: ${config.crlPeriodDays} in the stack file, ${shared.length === 1 ? shared[0] : "another"} deployed ` +
            `(the CRL${signed.length === 1 ? "" : "s"} of ${signed.join(", ")})`,
    ];
}

/** The longest stack file value a pending setting's line shows: a map or a PEM is only named. */
const SHOWN_SETTING_LENGTH = 60;

/** What a deployment record of an earlier version, which keeps no settings, cannot tell. */
const SETTINGS_UNKNOWN =
    "the settings deployed are not known: the deployed record, written by an earlier version, keeps none, so a change of the stack file " +
    "that alters no certificate (pki:meshStrictMtls, pki:gatewayNamespace, the front end's callers...) cannot be seen; " +
    "the next pulumi up from the default branch records them";

/** An empty list or map: what a list or map key not set defaults to. */
const isEmpty = (value: unknown): boolean =>
    Array.isArray(value)
        ? value.length === 0
        : typeof value === "object" && value !== null && Object.keys(value).length === 0;

/** A setting not deployed yet. */
interface PendingSetting {
    readonly line: string;
    /** It changes CRLs alone (changesCrlsAlone): the re-publication of due CRLs may deploy it. */
    readonly crlsAlone: boolean;
    /** Reverting the stack file undoes it; not so for this version's default, which only an update deploys. */
    readonly revertible: boolean;
}

/**
 * The settings (lib/config/settings.ts) whose value as deployed, from the stack file, is not the
 * one deployed, as the record's digests tell: the only sign of a change that alters no
 * certificate, such as pki:meshStrictMtls (a PeerAuthentication) or pki:pkcs12Iterations (the
 * APIC keystores). A setting a line of `named` names already (pki:caRotation.<slot>,
 * pki:crlPeriodDays) is not listed again; one this version does not record (it deploys nothing)
 * is not compared. A setting the stack file does not write (`written`) is this version's default:
 * a package upgrade that changed it needs an update, and there is nothing to revert. A record of
 * an earlier version keeps no settings: one line says that nothing can be compared, and keeps CRLs
 * from being re-published alone (that update could deploy a change). A setting that goes into the
 * certificate of the deployed roots made here (rootsReissuedInPlace) says that its update re-issues
 * them in place, and what that breaks: no routine update.
 */
function settingsPending(
    plan: PkiPlan,
    record: RotationRecord,
    named: readonly string[],
    written: ReadonlySet<string> | undefined,
): PendingSetting[] {
    const config = plan.config;
    const deployed = record.settings;
    if (deployed === undefined) {
        // Nothing deployed (no CA): every certificate is pending already.
        return Object.keys(record.cas).length === 0
            ? []
            : [{ line: SETTINGS_UNKNOWN, crlsAlone: false, revertible: false }];
    }
    const current = settingsOf(config);
    const pending: PendingSetting[] = [];
    const reissued = rootsReissuedInPlace(plan);
    // A setting of the certificate of the roots made here: its update re-issues them in place, no routine change.
    const inPlace = (name: string): string | undefined => {
        if (reissued === undefined || !reissued.settings.includes(name)) return undefined;
        const one = { ...reissued, settings: [name], newAnchor: name !== "validityDays.root" };
        const { reissues, breaks, instead, istiod } = reissuedInPlaceConsequences(plan, one);
        const restart = istiod === "" ? "" : ` ${istiod}`;
        return one.newAnchor
            ? `its update re-issues ${reissues}, outside a staged rotation, and breaks every chain through them at once: ${instead}.${restart}`
            : `its update re-issues ${reissues}: ${breaks}.${restart}`;
    };
    for (const name of new Set([...current.keys(), ...Object.keys(deployed).filter(recordedSetting)])) {
        const value = current.get(name);
        const digest = ownMember(deployed, name);
        if (value !== undefined && digest === settingDigest(value)) continue;
        const key = `pki:${name}`;
        if (named.some((line) => line.startsWith(`${key}:`) || line.startsWith(`${key}.`))) continue;
        const setting = (line: string, revertible = true) =>
            pending.push({ line, crlsAlone: changesCrlsAlone(name), revertible });
        const given = written === undefined || settingWritten(written, name);
        const reissues = inPlace(name);
        const then = reissues === undefined ? "" : `; ${reissues}`;
        // A default of nothing (no revocations, no customer-facing host) is no version's choice: the key was removed.
        if (value === undefined || (!given && isEmpty(value))) {
            setting(`${key}: deployed, no longer in the stack file${then}`);
            continue;
        }
        const text = showJson(value as Json);
        const shown = text.length <= SHOWN_SETTING_LENGTH ? text : undefined;
        const deployedValue = digest === undefined ? "not deployed yet" : "another value deployed";
        if (!given) {
            setting(
                `${key}: ${shown === undefined ? "" : `${shown}, `}this version's default (the stack file does not set it), ${deployedValue}; ` +
                    (reissues === undefined
                        ? "one pulumi up from the default branch deploys it"
                        : `${reissues}. To keep them, write the deployed value in the stack file`),
                false,
            );
        } else if (digest === undefined) {
            setting(`${key}: ${shown === undefined ? "" : `${shown} in the stack file, `}not deployed yet${then}`);
        } else {
            setting(
                (shown === undefined
                    ? `${key}: changed in the stack file, not deployed yet`
                    : `${key}: ${shown} in the stack file, another value deployed`) + then,
            );
        }
    }
    return pending;
}

/**
 * Periodic CRLs whose period has ended: the next `pulumi up` re-signs them. The period is the
 * stack file's pki:crlPeriodDays, or, for a CRL signed in periods of another length (a change of
 * it not deployed yet), the one its record was signed in: the earliest end of those it can have
 * been (none: due at once), so that it is re-signed in time whatever the stack file says now.
 * And an offline root's CRL whose series holds a newer one valid now: the next `pulumi up`
 * publishes that one (nothing else may run an update for it: the mesh's other CRLs are valid as
 * long as their CAs). `gone`: CAs whose CRL the next update publishes no more (crlsStopped says
 * so instead of re-signing). `retired`: the CAs an offline root's CRL must revoke (offlineCrlDue).
 */
function crlsDue(
    config: PkiConfig,
    record: RotationRecord,
    retired: readonly RetiredCa[],
    now: Date,
    gone: ReadonlySet<string> = new Set(),
): CrlDue[] {
    const start = crlWindow(now, config.crlPeriodDays).thisUpdate; // the period the next update signs for
    const periodic = Object.entries(record.crls ?? {})
        .filter(([id, crl]) => crl.published && crl.renewal === "period" && !gone.has(id))
        .flatMap(([id, crl]): CrlDue[] => {
            const deliveries = crlDeliveries(id, record);
            const delivery = afterTheUpdate(deliveries);
            if (Date.parse(crl.thisUpdate) < start.getTime()) {
                const why = `the CRL of ${id} was signed for the period from ${day(crl.thisUpdate)}; a new ${config.crlPeriodDays}-day period began ${day(start)} (valid until ${day(crl.nextUpdate)})${delivery}`;
                return [{ id, crl, why, waitFrom: Date.parse(crl.thisUpdate), deliveries }];
            }
            const periods = periodsSignedIn(crl);
            if (periods.some((p) => p.days === config.crlPeriodDays)) return [];
            // As in crlWindow, a period is over CLOCK_SKEW_MS after its end.
            const end = periods.length === 0 ? undefined : Math.min(...periods.map((p) => p.end));
            if (end !== undefined && end > now.getTime() - CLOCK_SKEW_MS) return [];
            const why =
                `the CRL of ${id} was signed ${end === undefined ? `in no period of 1 to ${MAX_CRL_PERIOD_DAYS} days` : `for a period that ended ${day(new Date(end))}`} ` +
                `(valid from ${day(crl.thisUpdate)} until ${day(crl.nextUpdate)}); the update re-signs it for the stack file's ${config.crlPeriodDays}-day periods ` +
                `(pki:crlPeriodDays, not deployed yet)${delivery}`;
            return [{ id, crl, why, waitFrom: Date.parse(crl.thisUpdate), deliveries }];
        });
    const series = Object.entries(record.crls ?? {})
        .filter(([, crl]) => crl.published && crl.renewal === "series")
        .flatMap(([id, crl]): CrlDue[] => {
            const offline = offlineCrlDue(config, record, retired, id, crl, now);
            if (offline === undefined) return [];
            const { slot, next } = offline;
            const deliveries = crlDeliveries(id, record);
            return next === undefined
                ? []
                : [
                      {
                          id,
                          crl,
                          why:
                              `the CRL of ${id} published is the one of pki:offlineRoots.${slot}.crls from ${day(crl.thisUpdate)} (valid until ${day(crl.nextUpdate)}); ` +
                              `the series' CRL from ${day(next.thisUpdate)} is valid now${afterTheUpdate(deliveries)}`,
                          waitFrom: next.thisUpdate.getTime(),
                          deliveries,
                      },
                  ];
        });
    return [...periodic, ...series];
}

/**
 * CRLs due for re-publication that the lifecycle workflow cannot re-publish: its job runs
 * `pulumi up` only when that changes nothing but CRLs, and the stack file's changes not deployed
 * yet (`pending`, none of which changes CRLs alone) would go with it. Blocked for a while is
 * normal: a merged change waits for its own reviewed update. A human is asked once half the time
 * from a CRL's waitFrom to its nextUpdate has passed. A periodic CRL's is its thisUpdate: it is
 * valid four periods (at least 28 days) from the start of the period its thisUpdate lies in, so
 * at least a period and a half (10.5 days or more) is then left to deploy or revert the changes,
 * after a period or more of waiting. An offline root's series CRL (each valid two series periods)
 * is due once the next one is valid, a period after its own thisUpdate: half its validity would
 * be that very moment, so its time counts from then, and half a series period is left (3.5 days
 * for a 7-day series) after as much of waiting. One past its nextUpdate is `expired`'s.
 * `notRevertible`: lines of `pending` that no revert of the stack file undoes (this version's
 * defaults, the settings an earlier record cannot tell), which only their update takes away.
 */
function crlsBlocked(
    due: readonly CrlDue[],
    pending: readonly string[],
    notRevertible: ReadonlySet<string>,
    now: Date,
): string[] {
    if (pending.length === 0) return [];
    const late = due
        .map(({ id, crl, waitFrom }) => ({ id, from: waitFrom, to: Date.parse(crl.nextUpdate) }))
        .filter(({ from, to }) => now.getTime() >= from + (to - from) / 2 && now.getTime() < to);
    if (late.length === 0) return [];
    const first = Math.min(...late.map(({ to }) => to));
    const revertible = pending.filter((line) => !notRevertible.has(line));
    const revert =
        revertible.length === 0
            ? ""
            : revertible.length === pending.length
              ? " or revert them"
              : ", or revert those the stack file sets,";
    return [
        `the CRL${late.length === 1 ? " of" : "s of"} ${late.map(({ id, to }) => `${id} (next update ${day(new Date(to))})`).join(", ")} ` +
            `${late.length === 1 ? "is" : "are"} due for re-publication, and past its next update a CRL refuses every peer whose chain it covers; ` +
            `the lifecycle workflow re-publishes CRLs only by an update that changes nothing else, and the ${revertible.length === pending.length ? "stack file" : "default branch"} holds changes not deployed yet ` +
            `(${pending.join("; ")}): deploy them (pulumi up from the default branch)${revert} before ${day(new Date(first))}`,
    ];
}

/** Offline roots near the end of their life or of their CRL series, and CSRs waiting for the ceremony. */
function offlineRootNeeds(plan: PkiPlan, deployed: Deployed, now: Date): string[] {
    const needs: string[] = [];
    const horizon = now.getTime() + HUMAN_LEAD_DAYS * DAY_MS;
    for (const slot of Object.keys(plan.config.offlineRoots) as RootSlot[]) {
        const row = deployed.inventory.find((c) => c.id === ROOT_IDS[slot]);
        if (row !== undefined && row.renewAt.getTime() <= now.getTime()) {
            needs.push(
                `the offline root pki:offlineRoots.${slot} is inside its renewal window since ${day(row.renewAt)} and expires on ${day(row.notAfter)}: ` +
                    `hold a ceremony for a new root ("npx apic-istio-pki ceremony init-root") and replace pki:offlineRoots.${slot} in a reviewed change`,
            );
        }
        if (plan.crls.offlineRootCrls[ROOT_IDS[slot]] === undefined) continue;
        // The plan published a CRL of the series, so the stack has one to take now.
        const last = offlineSeriesSpan(plan, slot)?.ends.getTime() ?? now.getTime();
        if (last <= horizon) {
            needs.push(
                `the CRL series of the offline root pki:offlineRoots.${slot}.crls ends on ${day(new Date(last))}: ` +
                    `sign a new series on the offline machine ("npx apic-istio-pki ceremony crl") and replace pki:offlineRoots.${slot}.crls before then`,
            );
        }
    }
    if (plan.pendingIntermediates.length > 0) {
        needs.push(
            `the offline root has not signed ${plan.pendingIntermediates.join(", ")} yet: sign each CSR (pulumi stack output intermediateCsrs) ` +
                `with "npx apic-istio-pki ceremony sign" and put the certificates under pki:offlineRoots.<root>.intermediates`,
        );
    }
    return needs;
}

const soaked = (since: string | undefined, now: Date, soakDays: number): boolean =>
    since !== undefined && now.getTime() - Date.parse(since) >= soakDays * DAY_MS;

/** What the operator does around each phase, as README "Staged CA rotation" and "The front end" say. */
function phaseNotes(slot: CaSlot, to: CaPosition, plan: PkiPlan): Pick<Proposal, "beforeMerge" | "afterDeploy"> {
    const apicClients = slot === "apicClientCa" || slot === "clientRoot" || slot === "root";
    const serverRoot = slot === "serverRoot" || slot === "root";
    const meshRoot = slot === "meshRoot" || slot === "root";
    const mesh = meshRoot || slot === "meshCa";
    // APIC's truststores hold the roots and the issuing CAs (DataPower builds chains from them
    // alone): the gateway-server CA's for the gateway, the UI client CA's for the UI services.
    // Its UI-facing keystores hold certificates of the gateway-server CA.
    const uiRoot = plan.frontEnd.uiClients.length > 0 && (slot === "uiClientRoot" || slot === "root");
    const serverTrust = serverRoot || slot === "gatewayServerCa";
    const uiTrust = uiRoot || (plan.frontEnd.uiClients.length > 0 && slot === "uiClientCa");
    const leaving = isRootSlot(slot) ? "root" : "CA";
    const apicUiServers = plan.frontEnd.apicServers.length > 0 && (slot === "gatewayServerCa" || serverRoot);
    const notes = (field: "beforeMerge" | "afterDeploy", ...parts: (string | false)[]) => {
        const text = parts.filter((p): p is string => p !== false).join("; ");
        return text === "" ? {} : { [field]: text };
    };
    switch (to.phase) {
        case "prepare":
            return {
                ...notes(
                    "beforeMerge",
                    meshRoot &&
                        "istiod runs with ISTIO_MULTIROOT_MESH=true (README, Rotating the mesh root); otherwise only the first root of root-cert.pem is trusted",
                ),
                ...notes(
                    "afterDeploy",
                    serverTrust && "upload the new APIC truststores (apic/<endpoint>/truststore.json)",
                    uiTrust && `upload APIC's new UI truststore (${APIC_UI_DIR}/truststore.json)`,
                ),
            };
        case "switch":
            return {
                ...notes(
                    "beforeMerge",
                    serverTrust && "APIC holds the new truststores",
                    uiTrust && "APIC holds the new UI truststore",
                    meshRoot && "every istio-ca-root-cert ConfigMap carries both roots",
                    isRootSlot(slot) && "every gateway pod and istiod has the new root bundle",
                ),
                ...notes(
                    "afterDeploy",
                    apicClients &&
                        "upload every endpoint's new APIC keystore (apic keystores:update, README, Loading the APIC bundles)",
                    apicUiServers && `upload APIC's new UI-facing keystores (${APIC_UI_DIR}/<host>/keystore.json)`,
                    mesh &&
                        "istiod reloads cacerts by itself; workloads renew within their certificate TTL (24 h by default)",
                ),
            };
        case "finish":
            return {
                ...notes(
                    "beforeMerge",
                    apicClients &&
                        "APIC uses the new keystores of every endpoint: the old keys are unpinned by this update",
                    apicUiServers && "APIC serves its new UI-facing keystores",
                    mesh && "no workload still holds a certificate of the old CA",
                ),
                ...notes(
                    "afterDeploy",
                    serverTrust && `upload the APIC truststores again (the old ${leaving} leaves them)`,
                    uiTrust && `upload APIC's UI truststore again (the old UI client ${leaving} leaves it)`,
                ),
            };
    }
}

/**
 * The deployed certificate of the CA a rotation under way replaces (its older generation; of the
 * mesh CAs, one per cluster, the one that expires first). Undefined: none on record.
 */
function replacedCa(
    plan: PkiPlan,
    rows: ReadonlyMap<string, DeployedCertificate>,
    slot: CaSlot,
): DeployedCertificate | undefined {
    const instances = plan.cas.filter((c) => c.slot === slot);
    const oldest = Math.min(...instances.map((c) => c.generation));
    return instances
        .filter((c) => c.generation === oldest)
        .map((c) => rows.get(c.id))
        .filter((row): row is DeployedCertificate => row !== undefined)
        .sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
}

/** "expired on <day>" or "expires on <day>", as `c` stands at `now`. */
const expiresOn = (c: DeployedCertificate, now: Date): string =>
    `${c.notAfter.getTime() <= now.getTime() ? "expired" : "expires"} on ${day(c.notAfter)}`;

/**
 * The CA rotations that are due: prepares of CAs in their window, and phases that soaked, or whose
 * old CA expires first. `finishEarly` gets the APIC clients in their switch whose finish, which a
 * due switch of the APIC-client CA waits for, is due at once (its soak would leave that switch too
 * little time before that CA's end), with why. `heldUp` gets, by CA id, the CAs whose next phase is
 * due but waits (undeployedNearEnd).
 */
function caProposals(
    plan: PkiPlan,
    input: LifecycleInput,
    pendingSlots: ReadonlySet<CaSlot>,
    clientsInSwitch: readonly string[],
    needsHuman: string[],
    waiting: string[],
    finishEarly: Map<string, string>,
    heldUp: Map<string, Undeployed>,
): Proposal[] {
    const { config, deployed, now, soakDays } = input;
    const { record } = deployed;
    const trust = config.trustDomains;
    const rows = new Map(deployed.inventory.map((c) => [c.id, c]));
    const advances: Proposal[] = [];
    const candidates = new Map<CaSlot, DeployedCertificate>();
    for (const slot of caSlots(layoutOf(config))) {
        if (pendingSlots.has(slot)) continue;
        const position = record.positions[slot];
        if (inRotation(position)) {
            const since = record.positionsSince?.[slot];
            if (since === undefined) {
                needsHuman.push(
                    `the deployed record does not say since when pki:caRotation.${slot} is at ${describePosition(position)} (deployed by an earlier version): run pulumi up once so that it is recorded`,
                );
                continue;
            }
            const to = positionAt(stepOf(position) + 1);
            // The CA this rotation replaces may expire before the soak ends (a longer --soak-days, a
            // late prepare): its switch is due at once, and its finish once it has expired.
            const replaced = replacedCa(plan, rows, slot);
            const soakEnds = Date.parse(since) + soakDays * DAY_MS;
            const expiresFirst = replaced !== undefined && replaced.notAfter.getTime() < soakEnds;
            const cutShort = expiresFirst && (to.phase === "switch" || replaced.notAfter.getTime() <= now.getTime());
            if (!soaked(since, now, soakDays) && !cutShort) {
                waiting.push(
                    `pki:caRotation.${slot} moves to ${to.phase} once ${describePosition(position)} has been deployed ${soakDays} days (since ${day(since)})` +
                        (expiresFirst ? `, or once ${replaced.id} expires on ${day(replaced.notAfter)}` : ""),
                );
                continue;
            }
            // pulumi up refuses a mesh finish before pki:meshFinishAfterHours (plan.ts earlyMeshFinish), whatever the soak.
            const meshReady = meshFinishFrom(config, since);
            if (to.phase === "finish" && isMeshSlot(slot, trust) && now < meshReady) {
                waiting.push(
                    `pki:caRotation.${slot} moves to finish once its switch has been deployed ${config.meshFinishAfterHours} hours, pki:meshFinishAfterHours (from ${meshReady.toISOString()})`,
                );
                continue;
            }
            const reissuesClients =
                to.phase === "switch" && (slot === "apicClientCa" || slot === rootOf("apicClientCa", trust));
            if (reissuesClients && clientsInSwitch.length > 0) {
                // pulumi up refuses the switch's new APIC key while a client switch pins two (plan.ts
                // unpinnedUnderWay). Before the replaced CA's end, the client's finish and then this
                // switch (which re-issues the clients under the new CA) must each be merged and
                // deployed: a soak time is left for that, as switchComing leaves a switch to come, so
                // a client soak whose end comes less than a soak before the CA's ends now.
                for (const id of clientsInSwitch) {
                    const since = ownMember(record.clientPhases, id)?.since;
                    if (replaced === undefined || since === undefined) continue;
                    const switchDeployedBy = Date.parse(since) + 2 * soakDays * DAY_MS;
                    if (switchDeployedBy < replaced.notAfter.getTime()) continue;
                    finishEarly.set(
                        id,
                        `${replaced.id}, the CA the switch of pki:caRotation.${slot} replaces, ${expiresOn(replaced, now)}, ` +
                            `and that switch waits for this finish`,
                    );
                }
                const line = `pki:caRotation.${slot} moves to switch once the APIC client rotations of ${clientsInSwitch.join(", ")} finish`;
                waiting.push(line);
                if (replaced !== undefined) {
                    // Due at the soak's end, or at once when the CA ends first (cutShort).
                    const dueAt = cutShort ? Date.parse(since) : soakEnds;
                    heldUp.set(replaced.id, { line, proposedAt: dueAt, heldUp: true });
                }
                continue;
            }
            const notes = phaseNotes(slot, to, plan);
            if (!cutShort || soaked(since, now, soakDays)) {
                advances.push({
                    kind: "advance-ca",
                    subject: `pki:caRotation.${slot}`,
                    why: `${describePosition(position)} deployed since ${day(since)}, ${soakDays} days or more`,
                    edits: [{ path: caPath(slot, "phase"), from: position.phase, to: to.phase }],
                    ...notes,
                });
                continue;
            }
            const ends = `${replaced.id}, the CA it replaces, ${expiresOn(replaced, now)}`;
            const warning =
                to.phase === "switch"
                    ? `URGENT, the soak cut short: ${ends}, and whatever still uses a certificate it signed is refused from then on: ` +
                      "deploy this switch, and do what it needs after the update, before then"
                    : `the soak cut short: ${ends}, so nothing it signed passes any more`;
            advances.push({
                kind: "advance-ca",
                subject: `pki:caRotation.${slot}`,
                why: `${describePosition(position)} deployed since ${day(since)}, less than ${soakDays} days, but ${ends}, before the soak ends on ${day(new Date(soakEnds))}`,
                edits: [{ path: caPath(slot, "phase"), from: position.phase, to: to.phase }],
                ...notes,
                beforeMerge: [warning, notes.beforeMerge].filter((n) => n !== undefined).join("; "),
            });
            continue;
        }
        const active = plan.cas.filter((c) => c.slot === slot && c.active).map((c) => rows.get(c.id));
        const due = active
            .filter((c): c is DeployedCertificate => c !== undefined)
            .sort((a, b) => a.renewAt.getTime() - b.renewAt.getTime())[0];
        if (due === undefined || due.renewAt.getTime() > now.getTime()) continue;
        if (isRootSlot(slot) && slot in config.offlineRoots) continue; // offlineRootNeeds asks for a ceremony
        candidates.set(slot, due);
    }
    const rotating = (slot: CaSlot): boolean =>
        inRotation(record.positions[slot]) || candidates.has(slot) || pendingSlots.has(slot);
    const prepares: Proposal[] = [];
    for (const [slot, due] of candidates) {
        if (!isRootSlot(slot)) {
            const root = rootOf(slot as IntermediateSlot, trust);
            if (rotating(root)) {
                const line = `pki:caRotation.${slot} is due (since ${day(due.renewAt)}) but waits for the rotation of pki:caRotation.${root}, which re-issues it`;
                waiting.push(line);
                heldUp.set(due.id, { line, proposedAt: due.renewAt.getTime(), heldUp: true });
                continue;
            }
        } else {
            const below = INTERMEDIATE_SLOTS.filter(
                (s) => rootOf(s, trust) === slot && (inRotation(record.positions[s]) || pendingSlots.has(s)),
            );
            if (below.length > 0) {
                const line = `pki:caRotation.${slot} is due (since ${day(due.renewAt)}) but waits for the rotation of ${below.map((s) => `pki:caRotation.${s}`).join(", ")} to finish`;
                waiting.push(line);
                heldUp.set(due.id, { line, proposedAt: due.renewAt.getTime(), heldUp: true });
                continue;
            }
        }
        const position = record.positions[slot];
        const to: CaPosition = { generation: position.generation + 1, phase: "prepare" };
        // (A root kept offline is never a candidate: offlineRootNeeds asks for its ceremony.)
        const offlineRoot = rootSlotOf(slot, trust) in config.offlineRoots;
        const notes = phaseNotes(slot, to, plan);
        prepares.push({
            kind: "prepare-ca",
            subject: `pki:caRotation.${slot}`,
            why: `its CA (generation ${position.generation}) is ${dueSince(due)} and expires on ${day(due.notAfter)}`,
            edits: [
                { path: caPath(slot, "generation"), from: position.generation, to: to.generation },
                { path: caPath(slot, "phase"), from: position.phase, to: to.phase },
            ],
            ...notes,
            ...(offlineRoot
                ? {
                      afterDeploy:
                          "the update stops after making the new CA's key and CSR: sign it at the ceremony " +
                          '("npx apic-istio-pki ceremony sign") and put the certificate under pki:offlineRoots.<root>.intermediates',
                  }
                : {}),
        });
    }
    return [...prepares, ...advances];
}

/**
 * Why a leaf of `slot`'s CA, due now, is better left to a CA switch that re-issues it anyway: one
 * proposed in this edit, or one that follows a prepare (deployed or proposed now) a soak time
 * later, with another soak time to spare before the leaf expires. Undefined: renew it now.
 */
function switchComing(
    slot: IntermediateSlot,
    leaf: DeployedCertificate,
    input: LifecycleInput,
    proposals: readonly Proposal[],
): string | undefined {
    const { now, soakDays, deployed } = input;
    const slots: CaSlot[] = [slot, rootOf(slot, input.config.trustDomains)];
    const proposed = (s: CaSlot, phase: string) =>
        proposals.some((p) => p.subject === `pki:caRotation.${s}` && p.edits.some((e) => e.to === phase));
    const switching = slots.find((s) => proposed(s, "switch"));
    if (switching !== undefined) return `re-issued by the switch of pki:caRotation.${switching} proposed with it`;
    for (const s of slots) {
        const preparedAt = proposed(s, "prepare")
            ? now.getTime()
            : deployed.record.positions[s].phase === "prepare"
              ? Date.parse(deployed.record.positionsSince?.[s] ?? "")
              : NaN;
        const switchAt = Math.max(now.getTime(), preparedAt + soakDays * DAY_MS);
        if (switchAt + soakDays * DAY_MS < leaf.notAfter.getTime()) {
            return `re-issued by the switch of pki:caRotation.${s}, due from ${day(new Date(switchAt))}`;
        }
    }
    return undefined;
}

/**
 * The CA slot (an issuing CA's, or its root's) whose switch is deployed or pending now: it
 * re-issues the CA's leaves, so they wait for it. Undefined: none.
 */
function switchUnderWay(
    slot: IntermediateSlot,
    input: LifecycleInput,
    pendingSlots: ReadonlySet<CaSlot>,
): CaSlot | undefined {
    const slots: CaSlot[] = [slot, rootOf(slot, input.config.trustDomains)];
    return slots.find((s) => input.deployed.record.positions[s].phase === "switch" || pendingSlots.has(s));
}

/**
 * The stack file's changes to the set of certificates that the trackers of decide() do not see:
 * certificates planned and not deployed (a new endpoint, cluster or UI service, under any
 * option), deployed and planned no more (an endpoint, cluster or host removed, an option
 * switched), and hosts (DNS names) or identities (URIs) that changed (pki:baseDomain, a
 * regroup). Left out, as the trackers say it: leaves whose epoch or issuer changed
 * (`pendingCerts`), CAs of a rotation not deployed yet, CSRs waiting for the offline root, and
 * customer-facing hosts the stack file still names (their key and certificate). Not seen here,
 * so not pending: settings that change no certificate's id, hosts or identities
 * (pki:meshStrictMtls, pki:gatewayNamespace, the front end's callers and namespaces); the
 * republish job's preview refuses those, and the run fails until they are deployed.
 */
function inventoryPending(
    plan: PkiPlan,
    rows: ReadonlyMap<string, DeployedCertificate>,
    pendingCerts: ReadonlySet<string>,
    pendingSlots: ReadonlySet<CaSlot>,
): string[] {
    const planned = plannedCertificates(plan);
    const plannedIds = new Set(planned.map((c) => c.id));
    // A CA's generations share its id but for -g<n>: a rotation not deployed yet adds or drops one.
    const base = (id: string) => id.replace(/-g\d+$/, "");
    const rotating = new Set(plan.cas.filter((ca) => pendingSlots.has(ca.slot)).map((ca) => base(ca.id)));
    const covered = (id: string, role: string): boolean =>
        pendingCerts.has(id) ||
        plan.pendingIntermediates.includes(id) ||
        (role === "customer-facing" && plan.frontEnd.customerFacing.some((c) => customerFacingCertId(c.host) === id)) ||
        (!ISSUED_LEAF_ROLES.includes(role) && role !== "customer-facing" && rotating.has(base(id)));
    const names = (list: readonly string[] | undefined): string =>
        list === undefined || list.length === 0 ? "none" : [...list].sort().join(", ");
    const lines: string[] = [];
    for (const c of planned) {
        if (covered(c.id, c.role)) continue;
        const row = rows.get(c.id);
        if (row === undefined) {
            lines.push(`${c.id}: not deployed yet`);
            continue;
        }
        const changed = (
            [
                ["hosts", c.dnsNames, row.dnsNames],
                ["identities", c.uris, row.uris],
            ] as const
        ).filter(([, now, then]) => names(now) !== names(then));
        if (changed.length > 0) {
            lines.push(
                `${c.id}: ${changed.map(([what, now]) => `${what} ${names(now)}`).join(", ")} in the stack file, ` +
                    `${changed.map(([what, , then]) => `${what} ${names(then)}`).join(", ")} deployed`,
            );
        }
    }
    for (const row of rows.values()) {
        if (!plannedIds.has(row.id) && !covered(row.id, row.role)) {
            lines.push(`${row.id}: deployed, no longer in the stack file`);
        }
    }
    return lines;
}

/** Leaves this stack issues, each renewed by an epoch of pki:rotation. */
const ISSUED_LEAF_ROLES: readonly string[] = ["gateway-server", "apic-client", "ui-client", "apic-server"];

/** The due rows among `ids` (deployed, not pending), the one that expires first first. */
function dueRows(
    ids: readonly string[],
    rows: ReadonlyMap<string, DeployedCertificate>,
    pendingCerts: ReadonlySet<string>,
    now: Date,
): DeployedCertificate[] {
    return ids
        .map((id) => rows.get(id))
        .filter(
            (row): row is DeployedCertificate =>
                row !== undefined && !pendingCerts.has(row.id) && row.renewAt.getTime() <= now.getTime(),
        )
        .sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
}

/**
 * How a due certificate is due: inside its renewal window, or, when it was issued again for a key
 * older than itself (as @pulumi/tls re-issues one that has expired), by the age of that key.
 */
const dueSince = (row: DeployedCertificate): string =>
    keyOlderThanCertificate(row)
        ? `due since ${day(row.renewAt)}, as its key dates from ${day(row.keySince)} (the certificate of ${day(row.notBefore)} was issued again for that key)`
        : `inside its renewal window since ${day(row.renewAt)}`;

/**
 * A certificate issued again for a key older than itself: its renewal point counts from the key.
 * Inventories of earlier versions have no keySince.
 */
const keyOlderThanCertificate = (row: DeployedCertificate): row is DeployedCertificate & { keySince: Date } =>
    row.keySince !== undefined && row.keySince.getTime() < row.notBefore.getTime();

/**
 * A leaf's epoch without its CA's generation, which the plan adds: the part pki:rotation sets (a
 * revocation may have pushed it past the configured value).
 */
const epochBeyondGeneration = (plan: PkiPlan, leaf: Pick<LeafPlan, "epoch" | "issuer">): number =>
    leaf.epoch - (plan.cas.find((ca) => ca.id === leaf.issuer)?.generation ?? 0);

/** Why leaves due (as dueRows sorts them) are renewed together. */
const windowWhy = (due: readonly DeployedCertificate[]): string => {
    if (due.length === 1) return `${dueSince(due[0])}; expires on ${day(due[0].notAfter)}`;
    const since = day(new Date(Math.min(...due.map((c) => c.renewAt.getTime()))));
    const oldKeys = due.filter(keyOlderThanCertificate);
    const how =
        oldKeys.length === 0
            ? `inside their renewal window since ${since}`
            : `due since ${since}, counted from their keys: ${oldKeys.map((c) => `${c.id}'s key dates from ${day(c.keySince)} (its certificate of ${day(c.notBefore)} was issued again for that key)`).join(", ")}`;
    return `${how}; the first expires on ${day(due[0].notAfter)}`;
};

/**
 * The UI clients due: one raise of pki:rotation.uiClientEpoch re-issues them all. No overlap
 * phase: APIC's UI-facing profile trusts the UI client root, not keys (it cannot pin), and each
 * sidecar reads its new Secret through SDS (credentialName) without a restart.
 */
function uiClientProposal(
    plan: PkiPlan,
    input: LifecycleInput,
    due: readonly DeployedCertificate[],
    pendingSlots: ReadonlySet<CaSlot>,
    earlier: readonly Proposal[],
    waiting: string[],
): Proposal | undefined {
    const { config } = input;
    if (due.length === 0) return undefined;
    const subject = due.map((c) => c.id).join(", ");
    const coming = switchComing("uiClientCa", due[0], input, earlier);
    const switching = switchUnderWay("uiClientCa", input, pendingSlots);
    if (coming !== undefined || switching !== undefined) {
        waiting.push(
            `${subject} ${due.length === 1 ? "is" : "are"} due but ${coming ?? `${due.length === 1 ? "waits" : "wait"} for the rotation of pki:caRotation.${switching} under way (its switch re-issues the UI clients)`}`,
        );
        return undefined;
    }
    // The configured epoch the plan adds to the CA generation; a revocation may have pushed a client's past it.
    const { leafEpoch, uiClientEpoch } = config.rotation;
    const effective = Math.max(
        ...plan.frontEnd.uiClients
            .filter((c) => due.some((row) => row.id === uiClientCertId(c.name)))
            .map((c) => epochBeyondGeneration(plan, c.leaf)),
    );
    const to = uiClientEpoch + (effective - (leafEpoch + uiClientEpoch)) + 1;
    // A client whose revocation already pushed its epoch to the new one keeps its (newer) certificate.
    const reissued = (c: (typeof plan.frontEnd.uiClients)[number]): boolean =>
        epochBeyondGeneration(plan, c.leaf) < leafEpoch + to;
    const renewed = plan.frontEnd.uiClients.filter(reissued).map((c) => c.name);
    const kept = plan.frontEnd.uiClients.filter((c) => !reissued(c)).map((c) => c.name);
    const keptWhy =
        kept.length === 0
            ? ""
            : `; ${kept.join(", ")} ${kept.length === 1 ? "keeps its certificate" : "keep their certificates"}, already at that epoch since a revocation`;
    const secrets = plan.frontEnd.uiClients.map((c) => c.secret.name);
    return {
        kind: "renew-ui-clients",
        subject,
        why: `${windowWhy(due)} (one epoch for every UI client: ${renewed.join(", ")} re-issued${keptWhy})`,
        edits: [{ path: ["pki:rotation", "uiClientEpoch"], from: uiClientEpoch, to }],
        afterDeploy:
            "nothing to upload to APIC: its UI truststore trusts the UI client CA and root, not keys, so the new certificates pass as the old ones did; " +
            `each sidecar reads its new Secret (${secrets.join(", ")}) through SDS without a restart; ` +
            "only a UI service that mounts its Secret and does TLS itself must reload it (or restart its pods)",
    };
}

/** APIC's UI-facing server certificates due: one raise of pki:rotation.apicServerEpoch re-issues them all. */
function apicServerProposal(
    plan: PkiPlan,
    input: LifecycleInput,
    due: readonly DeployedCertificate[],
    earlier: readonly Proposal[],
    waiting: string[],
): Proposal | undefined {
    if (due.length === 0) return undefined;
    const subject = due.map((c) => c.id).join(", ");
    const coming = switchComing("gatewayServerCa", due[0], input, earlier);
    if (coming !== undefined) {
        waiting.push(`${subject} ${due.length === 1 ? "is" : "are"} due but ${coming}`);
        return undefined;
    }
    const { apicServerEpoch } = input.config.rotation;
    const keystores = plan.frontEnd.apicServers.map(
        (a) =>
            `${APIC_UI_DIR}/${a.host}/keystore.json (keystore ${apicUiKeystoreName(input.config.environment, a.host)})`,
    );
    return {
        kind: "renew-apic-ui-servers",
        subject,
        why: windowWhy(due),
        edits: [{ path: ["pki:rotation", "apicServerEpoch"], from: apicServerEpoch, to: apicServerEpoch + 1 }],
        afterDeploy:
            `upload the new keystore to APIC: apic keystores:update with ${keystores.join(", ")}; APIC's UI-facing TLS server profile names it, so it serves the new certificate ` +
            `(the same in PEM: ${APIC_UI_DIR}/<host>/server.crt, ca-chain.pem and server.key; stack output frontEnd.apic.servers). ` +
            "The UI sidecars trust the gateway server root and check the host name, so they accept the old certificate until the upload and the new one after it",
    };
}

/**
 * Customer-facing hosts: a certificate in its window gets a new key and CSR (its epoch raised,
 * its certificateEpoch kept so that the current certificate is served meanwhile); a human has the
 * public CA sign the CSR, and is reminded while it is pending.
 */
function customerFacingProposals(
    plan: PkiPlan,
    input: LifecycleInput,
    rows: ReadonlyMap<string, DeployedCertificate>,
    needsHuman: string[],
    pending: string[],
): Proposal[] {
    const { deployed, now } = input;
    const proposals: Proposal[] = [];
    for (const c of plan.frontEnd.customerFacing) {
        const id = customerFacingCertId(c.host);
        const key = `pki:frontEnd.customerFacing.${c.host}`;
        const keyEpochs = Object.keys(ownMember(deployed.record.customerFacingKeys, c.host) ?? {}).map(Number);
        const deployedKey = keyEpochs.length > 0 ? Math.max(...keyEpochs) : undefined;
        if (deployedKey !== c.epoch) {
            pending.push(
                `${id}: key epoch ${c.epoch} in the stack file, ${deployedKey === undefined ? "none" : `epoch ${deployedKey}`} deployed`,
            );
            continue;
        }
        if (c.certificate === undefined) {
            needsHuman.push(
                `${c.host} has no certificate yet (first issuance): send ${csrOf(c.host)} to the public CA, then set ${key}.certificate to the certificate and its chain`,
            );
            continue;
        }
        const row = rows.get(id);
        const [leaf] = pemBlocks(c.certificate, "CERTIFICATE");
        if (row === undefined || row.sha256 !== new crypto.X509Certificate(leaf).fingerprint256) {
            pending.push(
                `${id}: the certificate for key epoch ${c.certificateEpoch} in the stack file is not deployed yet`,
            );
            continue;
        }
        const left = Math.floor((row.notAfter.getTime() - now.getTime()) / DAY_MS);
        if (left < 0) continue; // expired(): needs a human at once
        if (c.epoch > c.certificateEpoch) {
            needsHuman.push(
                `${left <= PUBLIC_CA_LEAD_DAYS / 2 ? "URGENT: " : ""}the new CSR of ${c.host} (key epoch ${c.epoch}) waits for the public CA: send ${csrOf(c.host)} to the public CA, ` +
                    `then set ${key}.certificate to what it returns and ${key}.certificateEpoch to ${c.epoch}; the certificate served now expires on ${day(row.notAfter)} (${left} days left)`,
            );
            continue;
        }
        if (row.renewAt.getTime() > now.getTime()) continue;
        const next = c.epoch + 1;
        proposals.push({
            kind: "renew-customer-facing",
            subject: id,
            why: `inside its renewal window since ${day(row.renewAt)}; expires on ${day(row.notAfter)} (a public CA's certificate: the last third of its lifetime, at least ${PUBLIC_CA_LEAD_DAYS} days)`,
            edits: [
                { path: ["pki:frontEnd", "customerFacing", c.host, "epoch"], from: c.epoch, to: next },
                // Set explicitly: unset it follows epoch, and the current certificate is for this key.
                {
                    path: ["pki:frontEnd", "customerFacing", c.host, "certificateEpoch"],
                    from: c.certificateEpoch,
                    to: c.certificateEpoch,
                },
            ],
            afterDeploy: `the update makes the new key and CSR and keeps serving the current certificate; send the CSR to the public CA (a human: see Needs a human)`,
        });
        needsHuman.push(
            `once the update of ${key}.epoch ${next} has run, send ${csrOf(c.host)} to the public CA, then set ${key}.certificate to what it returns and ${key}.certificateEpoch to ${next}; ` +
                `the certificate served now expires on ${day(row.notAfter)} (${left} days left)`,
        );
    }
    return proposals;
}

export function decide(input: LifecycleInput): LifecycleDecision {
    const { config, deployed, now, soakDays } = input;
    const { record } = deployed;
    const needsHuman: string[] = [];
    const waiting: string[] = [];
    const pending: string[] = [];
    let plan: PkiPlan;
    try {
        plan = planPki(config, { deployed: record, now, written: input.written });
    } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const refused = () => "fix the stack file (refused, below), then deploy its renewal at once";
        needsHuman.push(
            ...expired(config, deployed, record.retired, now, refused),
            `the stack file is refused against what is deployed: ${error.problems.join("; ")}`,
        );
        const due = crlsDue(config, record, record.retired, now);
        const republishWhy = due.map((d) => d.why);
        return {
            proposals: [],
            republishCrls: republishWhy.length > 0,
            republishWhy,
            afterRepublish: handSteps(record, due),
            // pulumi up refuses the stack file as this run does.
            republishBlockedBy:
                republishWhy.length > 0 ? ["the stack file refused against what is deployed (Needs a human)"] : [],
            needsHuman,
            pending,
            waiting,
        };
    }
    const stopped = crlsStopped(plan, record);
    const crlDue = crlsDue(config, record, plan.retired, now, stopped.gone);
    const republishWhy = [...crlDue.map((d) => d.why), ...stopped.why];
    needsHuman.push(...offlineRootNeeds(plan, deployed, now));

    /** The stack file's changes not deployed yet of each CA slot and certificate (by id), as `pending` says them. */
    const slotChanges = new Map<CaSlot, string>();
    const certificateChanges = new Map<string, Undeployed>();
    const pendingSlots = new Set<CaSlot>();
    for (const slot of caSlots(layoutOf(config))) {
        if (stepOf(config.caRotation[slot]) !== stepOf(record.positions[slot])) {
            pendingSlots.add(slot);
            const line = `pki:caRotation.${slot}: ${describePosition(config.caRotation[slot])} in the stack file, ${describePosition(record.positions[slot])} deployed`;
            slotChanges.set(slot, line);
            pending.push(line);
        }
    }
    const rows = new Map(deployed.inventory.map((c) => [c.id, c]));
    const pendingCerts = new Set<string>();
    for (const planned of plannedCertificates(plan)) {
        const row = rows.get(planned.id);
        if (!ISSUED_LEAF_ROLES.includes(planned.role)) continue;
        if (row === undefined || row.epoch !== planned.epoch || row.issuer !== planned.issuer) {
            pendingCerts.add(planned.id);
            const line =
                row === undefined
                    ? `${planned.id}: not deployed yet`
                    : `${planned.id}: epoch ${planned.epoch} from ${planned.issuer} in the stack file, epoch ${row.epoch} from ${row.issuer} deployed`;
            if (row !== undefined) {
                const renewAt = row.renewAt.getTime();
                const switchAt = row.notAfter.getTime() - soakDays * DAY_MS;
                const proposedAt = row.issuer === planned.issuer ? renewAt : Math.max(renewAt, switchAt);
                certificateChanges.set(planned.id, { line, proposedAt });
            }
            pending.push(line);
        }
    }
    pending.push(...inventoryPending(plan, rows, pendingCerts, pendingSlots));
    const deployedPhase = (id: string) => ownMember(record.clientPhases, id);
    const clientsInSwitch = plan.endpoints.filter((e) => deployedPhase(e.id)?.phase === "switch").map((e) => e.id);

    const finishEarly = new Map<string, string>();
    const heldUp = new Map<string, Undeployed>();
    const proposals = caProposals(
        plan,
        input,
        pendingSlots,
        clientsInSwitch,
        needsHuman,
        waiting,
        finishEarly,
        heldUp,
    ).filter((p) => !(input.unmade?.has(p.subject) ?? false));
    const clientCaSwitch = switchUnderWay("apicClientCa", input, pendingSlots) !== undefined;
    const globalFinish: string[] = [];
    /** Endpoints finishing their switch in this run whose soak finishEarly cuts short, with why. */
    const cutShort = new Map<string, string>();
    let globalBlocked = false;
    /** Whether an endpoint's clientPhase can go: a non-zero epoch keeps its map from being left empty. */
    const removable = (id: string): boolean => {
        const own = ownMember(config.rotation.endpoints, id);
        return own !== undefined && (own.clientEpoch > 0 || own.serverEpoch > 0);
    };
    for (const e of plan.endpoints) {
        const rotation = ownMember(config.rotation.endpoints, e.id);
        const server = rows.get(`${e.id}/server`);
        if (server !== undefined && !pendingCerts.has(`${e.id}/server`) && server.renewAt.getTime() <= now.getTime()) {
            const coming = switchComing("gatewayServerCa", server, input, proposals);
            if (coming !== undefined) {
                waiting.push(`${e.id}/server is due but ${coming}`);
            } else {
                const epoch = rotation?.serverEpoch ?? 0;
                proposals.push({
                    kind: "renew-server",
                    subject: `${e.id}/server`,
                    why: `${dueSince(server)}; expires on ${day(server.notAfter)}`,
                    edits: [{ path: endpointPath(e.id, "serverEpoch"), from: rotation?.serverEpoch, to: epoch + 1 }],
                });
            }
        }
        const client = rows.get(`${e.id}/client`);
        const phase = deployedPhase(e.id);
        const configuredPhase = clientPhaseOf(config, e.id);
        if (client === undefined || pendingCerts.has(`${e.id}/client`)) continue;
        if (phase === undefined && configuredPhase === "switch") {
            needsHuman.push(
                `the deployed record does not say since when ${e.id}'s APIC client is in its switch phase (deployed by an earlier version): run pulumi up once so that it is recorded`,
            );
            continue;
        }
        if (phase !== undefined && phase.phase !== configuredPhase) {
            pending.push(`${e.id}/client: phase ${configuredPhase} in the stack file, ${phase.phase} deployed`);
            continue;
        }
        if (phase?.phase === "switch") {
            const early = soaked(phase.since, now, soakDays) ? undefined : finishEarly.get(e.id);
            if (early !== undefined) cutShort.set(e.id, early);
            if (!soaked(phase.since, now, soakDays) && early === undefined) {
                waiting.push(
                    `${e.id}/client moves to finish once its switch has been deployed ${soakDays} days (since ${day(phase.since)})`,
                );
                if (rotation?.clientPhase === undefined) globalBlocked = true;
                continue;
            }
            if (rotation?.clientPhase === "switch") {
                // Removing the endpoint's own phase finishes it as well when the stack-wide phase is
                // finish, and leaves nothing behind that would shadow the next stack-wide switch.
                const unset = config.rotation.apicClientPhase === "finish" && removable(e.id);
                const unpinned = `APIC uses the new keystore of ${e.id} (apic/${e.id}/keystore.json): the old key is unpinned by this update`;
                proposals.push({
                    kind: "finish-client",
                    subject: `${e.id}/client`,
                    why:
                        `its switch (epoch ${phase.epoch}) deployed since ${day(phase.since)}, ` +
                        (early === undefined ? `${soakDays} days or more` : `less than ${soakDays} days, but ${early}`),
                    edits: [
                        { path: endpointPath(e.id, "clientPhase"), from: "switch", to: unset ? undefined : "finish" },
                    ],
                    beforeMerge: early === undefined ? unpinned : `URGENT, the soak cut short: ${early}; ${unpinned}`,
                });
            } else {
                globalFinish.push(e.id);
            }
            continue;
        }
        if (client.renewAt.getTime() > now.getTime()) continue;
        const coming = switchComing("apicClientCa", client, input, proposals);
        if (coming !== undefined || clientCaSwitch) {
            waiting.push(
                `${e.id}/client is due but ${coming ?? "kept pinned by the switch of the APIC-client CA's rotation under way"}`,
            );
            continue;
        }
        // The configured epoch the plan adds to pki:rotation's own; a revocation may have pushed the plan's past it.
        const configured = config.rotation.leafEpoch + config.rotation.apicClientEpoch + (rotation?.clientEpoch ?? 0);
        const effective = epochBeyondGeneration(plan, e.client);
        const to = (rotation?.clientEpoch ?? 0) + (effective - configured) + 1;
        proposals.push({
            kind: "rotate-client",
            subject: `${e.id}/client`,
            why: `${dueSince(client)}; expires on ${day(client.notAfter)}`,
            edits: [
                { path: endpointPath(e.id, "clientEpoch"), from: rotation?.clientEpoch, to },
                ...(rotation?.clientPhase !== "switch"
                    ? [{ path: endpointPath(e.id, "clientPhase"), from: rotation?.clientPhase, to: "switch" }]
                    : []),
            ],
            afterDeploy: `upload the new keystore of ${e.id} to APIC (apic keystores:update with apic/${e.id}/keystore.json); the gateway accepts the old and the new key until the finish this pipeline proposes after ${soakDays} days`,
        });
    }
    if (globalFinish.length > 0 && !globalBlocked) {
        // Once the stack-wide phase is finish, an endpoint's own `clientPhase: finish` only shadows
        // the next stack-wide switch: it goes wherever it can (removable). An endpoint finishing its
        // own switch in this run joins this one proposal, so that its key is never removed while
        // the stack-wide phase stays switch.
        /** The endpoint whose own switch `p` finishes (its one edit removes that clientPhase), if it does. */
        const ownFinish = (p: Proposal): string | undefined =>
            p.kind === "finish-client" && p.edits.length === 1 && p.edits[0].path[1] === "endpoints"
                ? p.edits[0].path[2]
                : undefined;
        const joining = proposals.flatMap((proposal) => {
            const id = ownFinish(proposal);
            return id !== undefined && removable(id) ? [{ id, proposal }] : [];
        });
        const joined = joining.map((j) => j.id);
        const leftovers = plan.endpoints
            .filter((e) => ownMember(config.rotation.endpoints, e.id)?.clientPhase === "finish" && removable(e.id))
            .map((e) => ({ path: endpointPath(e.id, "clientPhase"), from: "finish", to: undefined }));
        proposals.splice(0, proposals.length, ...proposals.filter((p) => !joining.some((j) => j.proposal === p)));
        const finishing = [...globalFinish, ...joined];
        const cut = globalFinish.filter((id) => cutShort.has(id));
        const deployedFor =
            cut.length === 0
                ? `${soakDays} days or more`
                : `less than ${soakDays} days for ${cut.join(", ")}, but ${cutShort.get(cut[0])}`;
        const warnings = [...new Set(finishing.flatMap((id) => cutShort.get(id) ?? []))].map(
            (why) => `URGENT, the soak cut short: ${why}`,
        );
        proposals.push({
            kind: "finish-client",
            subject: finishing.map((id) => `${id}/client`).join(", "),
            why: `pki:rotation.apicClientPhase switch deployed ${deployedFor}${joined.length > 0 ? `; ${joining.map((j) => `${j.id}/client: ${j.proposal.why}`).join("; ")}` : ""}`,
            edits: [
                { path: ["pki:rotation", "apicClientPhase"], from: "switch", to: "finish" },
                ...joined.map((id) => ({ path: endpointPath(id, "clientPhase"), from: "switch", to: undefined })),
                ...leftovers,
            ],
            beforeMerge: [
                ...warnings,
                `APIC uses the new keystores of ${finishing.join(", ")}: the old keys are unpinned by this update`,
            ].join("; "),
        });
    }
    const { frontEnd } = plan;
    const due = (ids: readonly string[]) => dueRows(ids, rows, pendingCerts, now);
    const uiClients = uiClientProposal(
        plan,
        input,
        due(frontEnd.uiClients.map((c) => uiClientCertId(c.name))),
        pendingSlots,
        proposals,
        waiting,
    );
    const apicServers = apicServerProposal(
        plan,
        input,
        due(frontEnd.apicServers.map((a) => apicServerCertId(a.host))),
        proposals,
        waiting,
    );
    proposals.push(
        ...[uiClients, apicServers].filter((p): p is Proposal => p !== undefined),
        ...customerFacingProposals(plan, input, rows, needsHuman, pending),
    );
    const periodPending = crlPeriodPending(config, record, stopped.gone);
    const settings = settingsPending(plan, record, [...pending, ...periodPending], input.written);
    // A new period length or CRL series changes CRLs alone: listed last, and not among what blocks a re-publication.
    pending.push(...settings.filter((s) => !s.crlsAlone).map((s) => s.line));
    const notRevertible = new Set(settings.filter((s) => !s.revertible).map((s) => s.line));
    const renewal = (c: DeployedCertificate): string => {
        if (proposals.some((p) => renews(plan, p, c))) {
            return "deploy its renewal at once (merge the proposal and run pulumi up)";
        }
        const slot = plan.cas.find((ca) => ca.id === c.id)?.slot;
        if (pendingCerts.has(c.id) || (slot !== undefined && pendingSlots.has(slot))) {
            return "the stack file renews it, but that is not deployed yet: run pulumi up at once";
        }
        return (
            "no proposal of this run renews it (Waiting says why): renew it by hand at once " +
            "(its epoch in pki:rotation, or its CA's next phase in pki:caRotation) and run pulumi up"
        );
    };
    // A CA that a deployed switch superseded expires harmlessly while its finish is pending,
    // proposed or waiting: said under Waiting, not as needing a human, so no exit 1 every day
    // until the finish is deployed. Not in the stack file yet, the finish is proposed at once once
    // that CA has expired (caProposals: the soak cut short), and that pull request is the
    // operator's part, as for any proposal. One whose slot the stack file takes elsewhere than to
    // that finish stays a human's.
    const supersededSlots = supersededCas(plan, deployed);
    /** By CA id, how the finish retires a superseded CA (its CRL too). */
    const superseded = new Map<string, string>();
    for (const [id, slot] of supersededSlots) {
        const key = `pki:caRotation.${slot}`;
        const to = config.caRotation[slot];
        const retires = !pendingSlots.has(slot)
            ? proposals.some((p) => p.subject === key && p.edits.some((e) => e.to === "finish"))
                ? `the finish this run proposes (${key}) retires it`
                : `the finish of ${key} retires it (Waiting says when)`
            : to.phase === "finish" && to.generation === record.positions[slot].generation
              ? `the finish in the stack file (${key}), not deployed yet, retires it: run pulumi up`
              : undefined;
        if (retires !== undefined) superseded.set(id, retires);
    }
    /** `what` (an expiry) of `id` or its CRL, if `id` is superseded and its finish retires it, as a line of Waiting. */
    const supersededWhy = (id: string, what: string, it: string): string[] => {
        const slot = supersededSlots.get(id);
        const retires = superseded.get(id);
        if (slot === undefined || retires === undefined) return [];
        const since = record.positionsSince?.[slot];
        return [
            `${what}, which refuses nothing the stack deploys: ${it} was superseded by the switch of pki:caRotation.${slot}` +
                `${since === undefined ? "" : ` (deployed since ${day(since)})`}, which re-issued what it signed; ${retires}`,
        ];
    };
    waiting.push(
        ...deployed.inventory
            .filter((c) => c.notAfter.getTime() <= now.getTime())
            .flatMap((c) => supersededWhy(c.id, `${c.id} (${c.role}) expired on ${day(c.notAfter)}`, "it")),
        ...Object.entries(record.crls ?? {})
            .filter(([, crl]) => crl.published && Date.parse(crl.nextUpdate) <= now.getTime())
            .flatMap(([id, crl]) =>
                supersededWhy(id, `the CRL of ${id} passed its next update on ${day(crl.nextUpdate)}`, id),
            ),
    );
    const changes = new Map<string, Undeployed>([
        ...heldUp,
        ...certificateChanges,
        ...plan.cas.flatMap((ca): [string, Undeployed][] => {
            const line = slotChanges.get(ca.slot);
            const row = rows.get(ca.id);
            if (line === undefined || row === undefined) return [];
            const soak = config.caRotation[ca.slot].phase === "switch" ? soakDays * DAY_MS : 0;
            return [[ca.id, { line, proposedAt: row.renewAt.getTime() + soak }]];
        }),
    ]);
    return {
        proposals,
        republishCrls: republishWhy.length > 0,
        republishWhy,
        afterRepublish: handSteps(record, crlDue, stopped.steps),
        republishBlockedBy: republishWhy.length > 0 ? pending : [],
        needsHuman: [
            ...expired(config, deployed, plan.retired, now, renewal, superseded),
            ...undeployedNearEnd(deployed.inventory, changes, now),
            ...needsHuman,
            ...crlsBlocked(crlDue, pending, notRevertible, now),
        ],
        pending: [...pending, ...periodPending, ...settings.filter((s) => s.crlsAlone).map((s) => s.line)],
        waiting,
    };
}

/**
 * Whether a proposal renews a certificate: a leaf it names, a CA whose rotation it moves on, or a
 * leaf that the switch it proposes for the leaf's CA (or that CA's root) re-issues.
 */
function renews(plan: PkiPlan, proposal: Proposal, c: DeployedCertificate): boolean {
    if (proposal.subject.split(", ").includes(c.id)) return true;
    const ca = plan.cas.find((x) => x.id === c.id);
    if (ca !== undefined) return proposal.subject === `pki:caRotation.${ca.slot}`;
    const issuer = plan.cas.find((x) => x.id === c.issuer);
    if (issuer === undefined) return false;
    const slots = [issuer.slot, rootSlotOf(issuer.slot, plan.config.trustDomains)];
    return slots.some(
        (slot) => proposal.subject === `pki:caRotation.${slot}` && proposal.edits.some((e) => e.to === "switch"),
    );
}
