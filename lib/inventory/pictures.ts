/**
 * Pictures of a stack's PKI as Mermaid text (pure), which GitHub draws in pull-request comments
 * and READMEs: the trust hierarchy (who signs what, where each key and certificate is delivered,
 * which root each relying party trusts as its anchor) and the expiry and renewal timeline.
 * Both are drawn from the inventory rows and the plan alone, so a role, CA or destination the
 * plan gains appears without a change here. Every text from config goes through `mermaidText`,
 * so no stack name, subject or host can end a label or start a statement.
 */
import { crlWindow, DAY_MS } from "../pki/crl";
import { PkiPlan } from "../plan/plan";
import { IssuedCertificate } from "./issued";
import { PlannedCertificate, plannedCertificates } from "./planned";

/** What a change does to a certificate; also the class its node carries in the trust picture. */
export const CHANGE_KINDS = ["added", "replaced", "removed"] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** The certificate ids a diff adds, replaces and removes (lib/inventory/diff.ts CertDiff has this shape). */
export interface ChangedCertificates {
    readonly added: readonly { readonly id: string }[];
    readonly replaced: readonly { readonly id: string }[];
    readonly removed: readonly { readonly id: string }[];
}

/** Endpoints drawn one by one; the others fold into one node (or one bar per role), so that large stacks stay within what Mermaid and GitHub draw. */
export const DEFAULT_MAX_ENDPOINTS = 10;

/** Characters that mean nothing to Mermaid's flowchart and gantt grammars, inside or outside a quoted label. */
const PLAIN = /^[A-Za-z0-9 .,/=_()-]$/;

/**
 * Text for a Mermaid label: every character but letters, digits, space and `.,/=_()-` as a Mermaid
 * entity code (`#35;` for `#`), which Mermaid turns back into the character after parsing. So
 * quotes, brackets, `;`, `%%`, `:`, `#`, backticks, HTML and line breaks cannot close a label,
 * start a statement or directive, or reach the SVG as markup.
 */
export function mermaidText(text: string): string {
    return Array.from(text, (ch) => (PLAIN.test(ch) ? ch : `#${ch.codePointAt(0)};`)).join("");
}

/**
 * A Mermaid id from any text: letters and digits kept, every other character as `_<hex>_`.
 * Stable across runs and distinct for distinct texts (an `_` of the text is encoded too).
 */
export function mermaidId(prefix: string, text: string): string {
    const body = Array.from(text, (ch) =>
        /^[A-Za-z0-9]$/.test(ch) ? ch : `_${(ch.codePointAt(0) as number).toString(16)}_`,
    ).join("");
    return `${prefix}_${body}`;
}

/** A gantt task name: its first character encoded too, so that no name reads as a keyword (`click`, `section`, a date). */
const ganttText = (text: string): string => {
    const [first = "", ...rest] = Array.from(text);
    return `#${first.codePointAt(0) ?? 32};${mermaidText(rest.join(""))}`;
};

const isCa = (c: PlannedCertificate): boolean => c.uses.includes("cert_signing");
const isSelfSigned = (c: PlannedCertificate): boolean => c.issuer === c.id;

/** `k8s/dev-east/istio-system/secret-x (tls.crt, tls.key)` -> the place and what of it the certificate is. */
function destination(goesTo: string): { place: string; detail: string } {
    const match = /^(.*?) \(([^()]*)\)$/.exec(goesTo);
    return match ? { place: match[1], detail: match[2] } : { place: goesTo, detail: "" };
}

/** The place's first two path segments (`k8s/<cluster>`, `apic/<endpoint>`) group it; the rest names it. */
function placeGroup(place: string): { group?: string; name: string } {
    const segments = place.split("/");
    return segments.length > 2
        ? { group: segments.slice(0, 2).join("/"), name: segments.slice(2).join("/") }
        : { name: place };
}

/**
 * The endpoints drawn one by one: changed ones first, then in plan order, up to `max`.
 * Certificates of no endpoint (CAs) are always drawn.
 */
function shownEndpoints(
    rows: readonly PlannedCertificate[],
    max: number,
    changes: ReadonlyMap<string, ChangeKind>,
): Set<string> {
    const endpoints = [...new Set(rows.flatMap((r) => (r.endpoint !== undefined ? [r.endpoint] : [])))];
    const changed = new Set(rows.filter((r) => changes.has(r.id)).flatMap((r) => r.endpoint ?? []));
    return new Set(
        [...endpoints.filter((e) => changed.has(e)), ...endpoints.filter((e) => !changed.has(e))].slice(0, max),
    );
}

function counted(n: number, one: string, many = `${one}s`): string {
    return `${n} ${n === 1 ? one : many}`;
}

const CLASS_DEFS = [
    "classDef added fill:#dafbe1,stroke:#1a7f37,stroke-width:3px",
    "classDef replaced fill:#fff8c5,stroke:#9a6700,stroke-width:3px",
    "classDef removed fill:#ffebe9,stroke:#cf222e,stroke-width:3px,stroke-dasharray:6 3",
    "classDef touched stroke:#9a6700,stroke-width:3px",
];

/**
 * What the ceremony holds, whatever the change: a root kept offline (no key in the stack; it signs
 * only at the ceremony) and a CA whose CSR waits for its signature. Each class is drawn, and its
 * text added to the node's label, only where a node has it.
 */
const CEREMONY_MARKS = {
    offline: {
        label: "offline root, signs at the ceremony",
        // A thicker border alone: the colours stay the change's (a new ceremony's root is replaced).
        classDef: "classDef offline stroke-width:4px",
    },
    waiting: {
        label: "CSR waits for the ceremony",
        classDef: "classDef waiting fill:#ddf4ff,stroke:#0969da,stroke-width:3px,stroke-dasharray:4 4",
    },
} as const;
type CeremonyMark = keyof typeof CEREMONY_MARKS;

export interface TrustPictureOptions {
    /** The change of each certificate id (a pull request's diff): its node carries the kind as its class, and places it is delivered to carry `touched`. */
    readonly changes?: ReadonlyMap<string, ChangeKind>;
    /** Ids of roots kept offline (pki:offlineRoots): class `offline`, said in their label. */
    readonly offlineRoots?: ReadonlySet<string>;
    /** Ids of CAs whose CSR waits for the ceremony (PkiPlan.pendingIntermediates): class `waiting`, said in their label, a dotted arrow from their issuer. */
    readonly waiting?: ReadonlySet<string>;
    /** @default DEFAULT_MAX_ENDPOINTS */
    readonly maxEndpoints?: number;
}

/** The offline roots and the CAs waiting for the ceremony of a plan, as the trust picture marks them. */
export function ceremonyMarks(plan: PkiPlan): Pick<TrustPictureOptions, "offlineRoots" | "waiting"> {
    return {
        offlineRoots: new Set(plan.cas.filter((ca) => ca.offline && ca.role === "root").map((ca) => ca.id)),
        waiting: new Set(plan.pendingIntermediates),
    };
}

/**
 * The trust hierarchy as a Mermaid flowchart, from inventory rows: each CA (roots as stadiums)
 * signs the certificates below it (solid arrows); each certificate goes to the places of its
 * `goesTo` (cylinders, grouped by `k8s/<cluster>` or `apic/<endpoint>`), labelled with what of
 * the place it is; a self-signed root's deliveries are the relying parties' trust anchors
 * (dotted arrows: the gateway's `ca.crt`, APIC's truststore, istiod's `root-cert.pem`).
 * Endpoint certificates are grouped per endpoint. An offline root and a CA whose CSR waits for
 * the ceremony carry a class and a label line saying so (CEREMONY_MARKS); the CSR's arrow from
 * its issuer is dotted, as it is not signed yet.
 */
export function trustPicture(rows: readonly PlannedCertificate[], options: TrustPictureOptions = {}): string {
    const changes = options.changes ?? new Map<string, ChangeKind>();
    const maxEndpoints = options.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    const offlineRoots = options.offlineRoots ?? new Set<string>();
    const waiting = options.waiting ?? new Set<string>();
    const marksOf = (id: string): CeremonyMark[] => [
        ...(offlineRoots.has(id) ? (["offline"] as const) : []),
        ...(waiting.has(id) ? (["waiting"] as const) : []),
    ];
    const endpointsShown = shownEndpoints(rows, maxEndpoints, changes);
    const shown = rows.filter((r) => r.endpoint === undefined || endpointsShown.has(r.endpoint));
    const folded = rows.filter((r) => r.endpoint !== undefined && !endpointsShown.has(r.endpoint));
    const foldedEndpoints = new Set(folded.map((r) => r.endpoint as string));
    const certId = (id: string): string => mermaidId("cert", id);
    const placeId = (place: string): string => mermaidId("to", place);

    // A place belongs to the endpoints whose certificates go there or whose id is one of its path
    // segments (`apic/<endpoint>/truststore.pem`); it folds away with them.
    const owners = new Map<string, Set<string>>();
    for (const row of rows) {
        for (const { place } of row.goesTo.map(destination)) {
            const set = owners.get(place) ?? new Set<string>();
            if (row.endpoint !== undefined) set.add(row.endpoint);
            for (const segment of place.split("/"))
                if (foldedEndpoints.has(segment) || endpointsShown.has(segment)) set.add(segment);
            owners.set(place, set);
        }
    }
    const placeShown = (place: string): boolean => {
        const set = owners.get(place) as Set<string>;
        return set.size === 0 || [...set].some((e) => endpointsShown.has(e));
    };

    const lines = ["flowchart LR"];
    const label = (parts: readonly string[]): string => `"${parts.map(mermaidText).join("<br>")}"`;
    const certNode = (row: PlannedCertificate): string => {
        const change = changes.get(row.id);
        const text = label([
            row.id,
            isCa(row) ? row.subject : [...row.dnsNames, ...row.uris].join(", ") || row.subject,
            `${row.key}, ${row.validityDays} days`,
            ...marksOf(row.id).map((mark) => CEREMONY_MARKS[mark].label),
            ...(change !== undefined ? [change] : []),
        ]);
        const [open, close] = isSelfSigned(row) ? ["([", "])"] : isCa(row) ? ["[", "]"] : ["(", ")"];
        return `${certId(row.id)}${open}${text}${close}`;
    };
    for (const row of shown.filter((r) => r.endpoint === undefined)) lines.push(`    ${certNode(row)}`);
    for (const endpoint of endpointsShown) {
        lines.push(`    subgraph ${mermaidId("ep", endpoint)} [${label([`endpoint ${endpoint}`])}]`);
        for (const row of shown.filter((r) => r.endpoint === endpoint)) lines.push(`        ${certNode(row)}`);
        lines.push("    end");
    }
    const foldId = "folded_endpoints";
    if (folded.length > 0) {
        const changedKinds = CHANGE_KINDS.map(
            (kind) => [kind, folded.filter((r) => changes.get(r.id) === kind).length] as const,
        ).filter(([, n]) => n > 0);
        lines.push(
            `    ${foldId}[${label([
                `and ${counted(foldedEndpoints.size, "more endpoint")}`,
                `${counted(folded.length, "certificate")} and their places, drawn like the ones above`,
                ...changedKinds.map(([kind, n]) => `${n} ${kind}`),
            ])}]`,
        );
    }

    // Places, grouped; each drawn once.
    const places = [...new Set(rows.flatMap((r) => r.goesTo.map((g) => destination(g).place)))].filter(placeShown);
    const groups = new Map<string | undefined, string[]>();
    for (const place of places) {
        const { group } = placeGroup(place);
        groups.set(group, [...(groups.get(group) ?? []), place]);
    }
    for (const [group, members] of groups) {
        const indent = group === undefined ? "    " : "        ";
        if (group !== undefined) lines.push(`    subgraph ${mermaidId("at", group)} [${label([group])}]`);
        for (const place of members) lines.push(`${indent}${placeId(place)}[(${label([placeGroup(place).name])})]`);
        if (group !== undefined) lines.push("    end");
    }

    // Edges: issuer -> certificate (dotted for a CSR not signed yet), certificate -> place (dotted
    // for a root: a trust anchor).
    const drawn = new Set(shown.map((r) => r.id));
    for (const row of shown) {
        if (isSelfSigned(row) || !drawn.has(row.issuer)) continue;
        lines.push(
            waiting.has(row.id)
                ? `    ${certId(row.issuer)} -.->|${label(["CSR to sign"])}| ${certId(row.id)}`
                : `    ${certId(row.issuer)} --> ${certId(row.id)}`,
        );
    }
    for (const issuer of new Set(folded.map((r) => r.issuer))) {
        if (drawn.has(issuer)) lines.push(`    ${certId(issuer)} --> ${foldId}`);
    }
    for (const row of shown) {
        for (const { place, detail } of row.goesTo.map(destination)) {
            if (!placeShown(place)) continue;
            if (isSelfSigned(row)) {
                lines.push(
                    `    ${certId(row.id)} -.->|${label([`trust anchor${detail !== "" ? `: ${detail}` : ""}`])}| ${placeId(place)}`,
                );
            } else if (detail !== "") lines.push(`    ${certId(row.id)} -->|${label([detail])}| ${placeId(place)}`);
            else lines.push(`    ${certId(row.id)} --> ${placeId(place)}`);
        }
    }

    if (changes.size > 0) {
        lines.push(...CLASS_DEFS.map((d) => `    ${d}`));
        // The folded node carries the strongest change among its certificates.
        const foldedKind = (["removed", "replaced", "added"] as const).find((kind) =>
            folded.some((r) => changes.get(r.id) === kind),
        );
        for (const kind of CHANGE_KINDS) {
            const ids = [
                ...shown.filter((r) => changes.get(r.id) === kind).map((r) => certId(r.id)),
                ...(foldedKind === kind ? [foldId] : []),
            ];
            if (ids.length > 0) lines.push(`    class ${ids.join(",")} ${kind}`);
        }
        const touched = places.filter((place) =>
            rows.some((r) => changes.has(r.id) && r.goesTo.some((g) => destination(g).place === place)),
        );
        if (touched.length > 0) lines.push(`    class ${touched.map(placeId).join(",")} touched`);
    }
    // After the change classes, so that a CA both added and waiting is drawn dashed.
    for (const mark of Object.keys(CEREMONY_MARKS) as CeremonyMark[]) {
        const ids = shown.filter((r) => marksOf(r.id).includes(mark)).map((r) => certId(r.id));
        if (ids.length > 0) lines.push(`    ${CEREMONY_MARKS[mark].classDef}`, `    class ${ids.join(",")} ${mark}`);
    }
    return lines.join("\n") + "\n";
}

/** The change of each certificate id a diff names. */
export function changesOf(diff: ChangedCertificates): Map<string, ChangeKind> {
    return new Map(CHANGE_KINDS.flatMap((kind) => diff[kind].map((c) => [c.id, kind] as const)));
}

/**
 * The trust hierarchy a pull request leads to, with what it changes highlighted: the head plan's
 * certificates and the base's removed ones; nodes of added, replaced and removed certificates
 * carry the classes `added`, `replaced` and `removed` (and say so in their label), the places
 * they are delivered to carry `touched`. `diff` is `diffPlans(base, head)` (lib/inventory/diff.ts),
 * so the picture and the diff's tables agree on what changes. No base: a new stack, everything added.
 * The head's offline roots and the CAs whose CSR waits for the ceremony are marked as such
 * (`offline`, `waiting`): while a CSR waits, the diff highlights no change, and pulumi up makes
 * only the CA keys, the CSRs and the cacerts of mesh CAs already signed.
 */
export function trustPictureForDiff(
    base: PkiPlan | undefined,
    head: PkiPlan,
    diff: ChangedCertificates,
    options: Omit<TrustPictureOptions, "changes"> = {},
): string {
    const headRows = plannedCertificates(head);
    const removed = new Set(diff.removed.map((c) => c.id));
    const rows = [
        ...headRows,
        ...(base !== undefined ? plannedCertificates(base) : []).filter((r) => removed.has(r.id)),
    ];
    return trustPicture(rows, { ...options, ...ceremonyMarks(head), changes: changesOf(diff) });
}

/** One certificate on the timeline. */
export interface TimelineCertificate {
    readonly id: string;
    readonly role: string;
    readonly endpoint?: string;
    readonly notBefore: Date;
    /** Start of the early-renewal window. */
    readonly renewAt: Date;
    readonly notAfter: Date;
}

/** The CRLs published to one relying party, in the current publication period. */
export interface TimelineCrl {
    readonly name: string;
    readonly thisUpdate: Date;
    /**
     * Publish again from here on (the next period starts); the CRL stays valid until nextUpdate. At
     * nextUpdate itself for CRLs only their CA's renewal re-signs (the mesh's).
     */
    readonly republishAt: Date;
    readonly nextUpdate: Date;
}

/** What the issued inventory says (a render's inventory.json, the stack output `inventory`). */
export function issuedTimeline(rows: readonly IssuedCertificate[]): TimelineCertificate[] {
    return rows.map((r) => ({
        id: r.id,
        role: r.role,
        ...(r.endpoint !== undefined ? { endpoint: r.endpoint } : {}),
        notBefore: new Date(r.notBefore),
        renewAt: new Date(r.renewAt),
        notAfter: new Date(r.notAfter),
    }));
}

/** What the plan says, for certificates issued on `issuedOn` (no certificate exists yet). */
export function plannedTimeline(rows: readonly PlannedCertificate[], issuedOn: Date): TimelineCertificate[] {
    const after = (days: number): Date => new Date(issuedOn.getTime() + days * DAY_MS);
    return rows.map((r) => ({
        id: r.id,
        role: r.role,
        ...(r.endpoint !== undefined ? { endpoint: r.endpoint } : {}),
        notBefore: issuedOn,
        renewAt: after(r.renewAfterDays),
        notAfter: after(r.validityDays),
    }));
}

/** Where each published CRL set goes, by its `PkiPlan.crls` flag. */
const CRL_NAMES: Readonly<Record<string, string>> = {
    gateway: "CRLs in the gateway ca.crl",
    apicTruststore: "CRLs in the APIC truststore.crl",
    mesh: "CRLs in istiod ca-crl.pem",
    apicUiTruststore: "CRLs in the APIC UI truststore.crl",
};

/**
 * The CRL sets the plan publishes, at `now`. The edge's sets hold issuing CAs' CRLs, re-signed in
 * every period (pki:crlPeriodDays). istiod's ca-crl.pem holds only the mesh root's and the mesh
 * CAs' CRLs, each valid until its CA expires (lib/pki/crl.ts, CrlRenewal "issuer"): one bar from
 * when they were signed until the first of those CAs expires, when its successor's CRL replaces
 * it. Their dates come from `certificates` (the timeline's rows).
 */
export function plannedCrls(plan: PkiPlan, now: Date, certificates: readonly TimelineCertificate[]): TimelineCrl[] {
    const window = crlWindow(now, plan.config.crlPeriodDays);
    const republishAt = new Date(window.thisUpdate.getTime() + plan.config.crlPeriodDays * DAY_MS);
    return Object.entries(plan.crls)
        .filter(([, published]) => published === true)
        .map(([flag]) => ({
            name: CRL_NAMES[flag] ?? `CRLs: ${flag}`,
            ...(flag === "mesh" ? meshCrlWindow(plan, now, certificates) : { ...window, republishAt }),
        }));
}

/** The mesh's CRLs: signed when their CA was (or `now`, if later), valid until the first of their CAs expires. */
function meshCrlWindow(
    plan: PkiPlan,
    now: Date,
    certificates: readonly TimelineCertificate[],
): Omit<TimelineCrl, "name"> {
    const meshCas = plan.cas.filter((ca) => ca.role === "mesh-ca");
    const rootSlots = new Set(meshCas.map((ca) => plan.cas.find((root) => root.id === ca.issuer)?.slot));
    const signers = new Set(
        [...plan.cas.filter((ca) => ca.role === "root" && rootSlots.has(ca.slot)), ...meshCas].map((ca) => ca.id),
    );
    const rows = certificates.filter((c) => signers.has(c.id));
    const thisUpdate = new Date(Math.max(...rows.map((c) => Math.min(c.notBefore.getTime(), now.getTime()))));
    const nextUpdate = new Date(Math.min(...rows.map((c) => c.notAfter.getTime())));
    return { thisUpdate, republishAt: nextUpdate, nextUpdate };
}

const day = (date: Date): string => date.toISOString().slice(0, 10);

export interface TimelinePictureOptions {
    /** @default DEFAULT_MAX_ENDPOINTS */
    readonly maxEndpoints?: number;
}

/**
 * The expiry and renewal timeline as a Mermaid gantt: a section per role (in the order of the
 * rows), per certificate a bar from issue to its renewal point (none when it is due from issue)
 * and an `active` bar for its early-renewal window up to expiry; per published CRL set a bar for
 * its period and one up to its nextUpdate. Endpoints past `maxEndpoints` fold into one bar pair
 * per role and dates.
 */
export function timelinePicture(
    title: string,
    certificates: readonly TimelineCertificate[],
    crls: readonly TimelineCrl[] = [],
    options: TimelinePictureOptions = {},
): string {
    const maxEndpoints = options.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    const endpoints = [...new Set(certificates.flatMap((c) => (c.endpoint !== undefined ? [c.endpoint] : [])))];
    const endpointsShown = new Set(endpoints.slice(0, maxEndpoints));
    const lines = [
        // Room on the left for the role names of the sections.
        ...["---", "config:", "  gantt:", "    leftPadding: 140", "---"],
        "gantt",
        `    title ${mermaidText(title)}`,
        "    dateFormat YYYY-MM-DD",
        "    axisFormat %Y-%m",
    ];
    const bars = (name: string, id: string, start: Date, renewAt: Date, end: Date, renewal: string): void => {
        // A certificate issued again for an old key is due from its first day: no bar before that.
        if (day(start) < day(renewAt)) lines.push(`    ${ganttText(name)} :${id}, ${day(start)}, ${day(renewAt)}`);
        if (day(renewAt) < day(end))
            lines.push(`    ${ganttText(`${name} ${renewal}`)} :active, ${id}_r, ${day(renewAt)}, ${day(end)}`);
    };
    for (const role of new Set(certificates.map((c) => c.role))) {
        lines.push(`    section ${mermaidText(role)}`);
        const ofRole = certificates.filter((c) => c.role === role);
        for (const c of ofRole.filter((c) => c.endpoint === undefined || endpointsShown.has(c.endpoint))) {
            bars(c.id, mermaidId("cert", c.id), c.notBefore, c.renewAt, c.notAfter, "renewal window");
        }
        // Folded certificates: one bar pair per distinct (issue, renewal, expiry) days.
        const foldedByDays = new Map<string, TimelineCertificate[]>();
        for (const c of ofRole.filter((c) => c.endpoint !== undefined && !endpointsShown.has(c.endpoint))) {
            const key = [c.notBefore, c.renewAt, c.notAfter].map(day).join(" ");
            foldedByDays.set(key, [...(foldedByDays.get(key) ?? []), c]);
        }
        for (const [key, group] of foldedByDays) {
            const [first] = group;
            bars(
                `${counted(group.length, "more certificate")} of ${role}`,
                mermaidId("folded", `${role} ${key}`),
                first.notBefore,
                first.renewAt,
                first.notAfter,
                "renewal window",
            );
        }
    }
    if (crls.length > 0) {
        lines.push("    section CRL");
        for (const crl of crls)
            bars(
                crl.name,
                mermaidId("crl", crl.name),
                crl.thisUpdate,
                crl.republishAt,
                crl.nextUpdate,
                "until nextUpdate",
            );
    }
    return lines.join("\n") + "\n";
}

/** Both pictures of a stack: from what was issued when given, else from the plan as if issued on `now`. */
export function stackPictures(
    plan: PkiPlan,
    now: Date,
    issued?: readonly IssuedCertificate[],
): { trust: string; timeline: string } {
    const rows = issued ?? plannedCertificates(plan);
    const certificates = issued !== undefined ? issuedTimeline(issued) : plannedTimeline(rows, now);
    const title = `${plan.config.environment} (Option ${plan.config.option}): certificates from issue to expiry, renewal windows ${issued !== undefined ? "as issued" : `if issued on ${day(now)}`}`;
    return {
        trust: trustPicture(rows, ceremonyMarks(plan)),
        timeline: timelinePicture(title, certificates, plannedCrls(plan, now, certificates)),
    };
}
