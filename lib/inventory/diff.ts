/**
 * Which certificates a config change adds, removes or replaces, why, and what that forces.
 * Pure: two plans in, a diff out. The reasons follow @pulumi/tls replacement rules
 * (shared/reference/tls-provider.md section 3): a new key when the key's own inputs change or a
 * rotation epoch renames it; a new certificate when its request (subject, SANs), usages,
 * validity or issuing CA changes. The early-renewal window is updated in place, never a change.
 */
import { describeTransitions } from "../plan/caRotation";
import { clientOverlap, EndpointPlan, PkiPlan } from "../plan/plan";
import { PlannedCertificate, plannedCertificates } from "./planned";

export interface CertChange {
    id: string;
    role: PlannedCertificate["role"];
    /** Why it changes; empty for additions and removals. */
    reasons: string[];
    /** What the change forces: new key, new certificate, updated secrets and APIC material. */
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

/** A change `pulumi up` would refuse, or that breaks something, with the safe way instead. */
export interface RefusedChange {
    key: string;
    problem: string;
}

export interface CertDiff {
    base: { environment: string; option: number };
    head: { environment: string; option: number };
    added: CertChange[];
    removed: CertChange[];
    replaced: CertChange[];
    unchanged: number;
    /** Endpoints whose certificates stay but whose routed services change (e.g. Option 3 regrouping). */
    routing: RoutingChange[];
    /** CAs whose staged rotation moves (pki:caRotation): the phase, what it does, or why it is refused. */
    caRotation: ReturnType<typeof describeTransitions>;
    /** Endpoints whose pinned APIC keys change. */
    pins: PinChange[];
    /** APIC client rotations that would lock APIC out (a new key with no switch phase). */
    refused: RefusedChange[];
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x, i) => x === b[i]);

const identities = (c: PlannedCertificate): string[] => [...c.dnsNames, ...c.uris];

/** Deliveries as reviewers think of them: secrets to update, APIC keystores and truststores to upload. */
function deliveries(c: PlannedCertificate, verb: "update" | "create" | "delete"): string[] {
    const secrets = [...new Set(c.goesTo.filter((g) => g.startsWith("k8s/")).map((g) => g.replace(/ \(.*\)$/, "")))];
    const truststores = c.goesTo.filter((g) => g.endsWith("/truststore.pem")).length;
    const keystores = c.goesTo.filter((g) => g.includes("APIC keystore") || g.endsWith("/ca-chain.pem")).length;
    const out: string[] = [];
    if (secrets.length > 0) {
        out.push(secrets.length <= 3 ? `${verb} secret ${secrets.join(", ")}` : `${verb} ${secrets.length} secrets`);
    }
    if (keystores > 0)
        out.push(
            `${verb === "update" ? "new" : verb} APIC keystore${keystores > 1 ? ` (${keystores} endpoints)` : ""}`,
        );
    if (truststores > 0)
        out.push(
            `${verb === "update" ? "new" : verb} APIC truststore${truststores > 1 ? ` (${truststores} endpoints)` : ""}`,
        );
    if (c.role === "mesh-ca" && verb === "update") out.push(`restart istiod and the workloads of ${c.cluster}`);
    return out;
}

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
        plan.config.revocations.filter((r) => r.endpoint === id).map((r) => r.epoch);
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

export function diffPlans(base: PkiPlan, head: PkiPlan): CertDiff {
    const baseCerts = new Map(plannedCertificates(base).map((c) => [c.id, c]));
    const headCerts = plannedCertificates(head); // CAs first, so issuers are decided before their leaves
    const replacedIssuers = new Set<string>();
    const diff: CertDiff = {
        base: { environment: base.config.environment, option: base.config.option },
        head: { environment: head.config.environment, option: head.config.option },
        added: [],
        removed: [],
        replaced: [],
        unchanged: 0,
        routing: routing(base, head),
        caRotation: describeTransitions(base.config.caRotation, head.config.caRotation),
        ...pinChanges(base, head),
    };
    for (const after of headCerts) {
        const before = baseCerts.get(after.id);
        if (before === undefined) {
            replacedIssuers.add(after.id);
            diff.added.push({
                id: after.id,
                role: after.role,
                reasons: [],
                forces: ["new key", "new certificate", ...deliveries(after, "create")],
                after,
            });
            continue;
        }
        const reasons = reasonsFor(before, after, replacedIssuers);
        if (reasons.length === 0) {
            diff.unchanged++;
            continue;
        }
        replacedIssuers.add(after.id);
        const newKey = before.key !== after.key || before.epoch !== after.epoch;
        diff.replaced.push({
            id: after.id,
            role: after.role,
            reasons,
            forces: [
                ...(newKey ? ["new key", "new certificate"] : ["new certificate (same key)"]),
                ...deliveries(after, "update"),
            ],
            before,
            after,
        });
    }
    const headIds = new Set(headCerts.map((c) => c.id));
    for (const before of baseCerts.values()) {
        if (!headIds.has(before.id)) {
            diff.removed.push({
                id: before.id,
                role: before.role,
                reasons: [],
                forces: deliveries(before, "delete"),
                before,
            });
        }
    }
    return diff;
}
