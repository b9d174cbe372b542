/**
 * Which certificates a config change adds, removes or replaces, why, and what that forces.
 * Pure: two plans in, a diff out. The reasons follow @pulumi/tls replacement rules
 * (shared/reference/tls-provider.md section 3): a new key when the key's own inputs change or a
 * rotation epoch renames it; a new certificate when its request (subject, SANs), usages,
 * validity or issuing CA changes. The early-renewal window is updated in place, never a change.
 */
import { describeTransitions } from "../plan/caRotation";
import { EndpointPlan, PkiPlan } from "../plan/plan";
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
