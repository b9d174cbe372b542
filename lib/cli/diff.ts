/**
 * diff --base FILE|GIT_REF --head FILE [--format markdown|json] [--fail-on refused|risky] [--max-replaced N]:
 * what a change of stack file does to the certificates, secrets and APIC bundles, and what it risks.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { rawConfigFromStackFile } from "../config/load";
import {
    CertChange,
    CertDiff,
    DEFAULT_MAX_REPLACED,
    diffPlans,
    isRefused,
    PlaceChange,
    plural,
} from "../inventory/diff";
import { PkiPlan, planFromRawConfig } from "../plan/plan";
import { markdownTable } from "./format";
import { Command, oneOf, parse, UsageError } from "./stackSource";

const USAGE = `usage: diff --base FILE|GIT_REF --head FILE [--format markdown|json] [--fail-on refused|risky] [--max-replaced N]

Compares what two versions of a stack file make: risks first (CAs re-issued outside a staged
rotation, hosts dropped, more than --max-replaced certificates replaced, default ${DEFAULT_MAX_REPLACED}) and
refused changes (epochs or generations going down, phases skipped, an APIC key cut off with no
overlap); then what to do before and after pulumi up, every Kubernetes secret and APIC bundle
created, updated or deleted and what changes in it, revocations, certificates added, removed and
replaced with the reason, pinned APIC keys and routing. A --base that is not a file is read as a
git ref: the --head file's path at that ref (a stack new at HEAD diffs against nothing).

Exit status: 0 clean (or only risks, unless --fail-on risky), 1 a refused change (or, with
--fail-on risky, any risk) or an invalid stack file, 2 wrong usage.`;

function git(args: string[], cwd: string): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The base plan: a file, or the head file's path at a git ref; undefined when the file is new. */
function loadBase(base: string, headFile: string): PkiPlan | undefined {
    if (fs.existsSync(base) && fs.statSync(base).isFile()) return planFromRawConfig(rawConfigFromStackFile(base));
    const dir = path.dirname(headFile);
    try {
        git(["rev-parse", "--verify", "--quiet", `${base}^{commit}`], dir);
    } catch {
        throw new UsageError(`--base ${base} is neither a file nor a git ref`);
    }
    const top = git(["rev-parse", "--show-toplevel"], dir).trim();
    const relative = path.relative(top, fs.realpathSync(headFile)).split(path.sep).join("/");
    const read = (file: string): string | undefined => {
        try {
            return git(["show", `${base}:${file}`], top);
        } catch {
            return undefined;
        }
    };
    if (read(relative) === undefined) return undefined;
    // The project file (Pulumi.yaml) is read at the same revision.
    return planFromRawConfig(rawConfigFromStackFile(relative, { read, label: `${base}:${relative}` }));
}

const identity = (c: CertChange): string => {
    const cert = c.after ?? c.before;
    return cert ? [...cert.dnsNames, ...cert.uris].join(", ") || cert.subject : "";
};

/** Places with the same change side by side (e.g. every gateway secret gaining ca.crl) as one row. */
function placeRows(places: readonly PlaceChange[]): Record<string, string>[] {
    const rows = new Map<string, { places: string[]; change: string; what: string }>();
    for (const p of places) {
        const what =
            p.change === "create"
                ? p.items.map((i) => i.item).join(", ")
                : p.items.map((i) => `${i.item}: ${i.change}`).join("; ");
        const key = `${p.kind}|${p.change}|${what}`;
        const row = rows.get(key) ?? { places: [], change: p.change, what };
        row.places.push(p.place);
        rows.set(key, row);
    }
    return [...rows.values()].map((r) => ({ where: r.places.join(", "), change: r.change, what: r.what }));
}

/** What `pulumi up` does, counted: certificates, Kubernetes secrets, APIC material, pins. */
function pulumiUpSummary(diff: CertDiff): string {
    const { added, removed, replaced, places, pins } = diff;
    const certs = [
        added.length > 0 ? `creates ${plural(added.length, "certificate")}` : "",
        replaced.length > 0 ? `re-issues ${plural(replaced.length, "certificate")}` : "",
        removed.length > 0 ? `deletes ${plural(removed.length, "certificate")}` : "",
    ];
    const secrets = places.filter((p) => p.kind === "gateway secret" || p.kind === "istiod cacerts");
    const apic = (kind: PlaceChange["kind"], written: boolean) =>
        places.filter((p) => p.kind === kind && (p.change !== "delete") === written).length;
    const bundles = (written: boolean) =>
        [
            apic("APIC keystore", written) > 0 ? plural(apic("APIC keystore", written), "APIC keystore") : "",
            apic("APIC truststore", written) > 0 ? plural(apic("APIC truststore", written), "APIC truststore") : "",
        ]
            .filter((p) => p !== "")
            .join(" and ");
    const verbs = { create: "creates", update: "updates", delete: "deletes" } as const;
    const secretParts = (["create", "update", "delete"] as const).flatMap((verb) => {
        const n = secrets.filter((p) => p.change === verb).length;
        return n > 0 ? [`${verbs[verb]} ${plural(n, "Kubernetes secret")}`] : [];
    });
    return [
        ...certs,
        ...secretParts,
        bundles(true) !== "" ? `writes the new material of ${bundles(true)} (stack output apicBundles)` : "",
        bundles(false) !== "" ? `drops ${bundles(false)}` : "",
        pins.length > 0 ? `changes the APIC keys pinned for ${plural(pins.length, "endpoint")}` : "",
    ]
        .filter((p) => p !== "")
        .join("; ");
}

export function diffMarkdown(diff: CertDiff, title: string): string {
    const { added, removed, replaced, unchanged, routing } = diff;
    const heading =
        diff.base.option === diff.head.option
            ? `Option ${diff.head.option}`
            : `Option ${diff.base.option} -> Option ${diff.head.option}`;
    const parts = [`## Certificate changes: ${title} (${heading})\n`];
    const refusedRotations = diff.caRotation.filter((r) => r.refused !== undefined);
    if (refusedRotations.length + diff.refused.length > 0) {
        parts.push(
            "### Refused\n\n" +
                [
                    ...refusedRotations.map(
                        (r) =>
                            `- **CA rotation, pki:caRotation.${r.slot}: ${r.from} -> ${r.to}.** Refused: ${r.refused}.`,
                    ),
                    ...diff.refused.map((r) => `- **Refused, ${r.key}:** ${r.problem}.`),
                ].join("\n") +
                "\n",
        );
    }
    if (diff.risks.length > 0) {
        parts.push(
            "### Risks\n\n" +
                diff.risks
                    .map((r) => `- **${r.key}: ${r.change}.**\n  Breaks: ${r.breaks}.\n  Instead: ${r.instead}.`)
                    .join("\n") +
                "\n",
        );
    }
    parts.push(
        ...diff.caRotation
            .filter((r) => r.refused === undefined)
            .map((r) => `**CA rotation, pki:caRotation.${r.slot}: ${r.from} -> ${r.to}.** ${r.effect}.\n`),
    );
    const certChanges = added.length + removed.length + replaced.length;
    parts.push(
        diff.newStack
            ? `**New stack: ${added.length} certificates created.**\n`
            : certChanges === 0 && diff.places.length === 0
              ? "No certificate changes.\n"
              : `**${added.length} added, ${removed.length} removed, ${replaced.length} replaced, ${unchanged} unchanged.**\n`,
    );
    const steps = [
        ...diff.steps.before.map((s) => `**Before pulumi up:** ${s}`),
        ...(certChanges + diff.places.length + diff.pins.length > 0
            ? [`**pulumi up:** ${pulumiUpSummary(diff)}.`]
            : []),
        ...diff.steps.after.map((s) => `**After:** ${s}`),
    ];
    if (!diff.newStack && steps.length > 0) {
        parts.push(`### What to do, in order\n\n${steps.map((s, i) => `${i + 1}. ${s}`).join("\n")}\n`);
    }
    const table = (heading: string, columns: string[], rows: Record<string, string>[]): void => {
        if (rows.length > 0) parts.push(`### ${heading}\n\n${markdownTable(columns, rows)}`);
    };
    if (!diff.newStack) {
        table("Kubernetes secrets and APIC bundles", ["where", "change", "what"], placeRows(diff.places));
    }
    if (diff.revocations.length > 0) {
        parts.push(
            "### Revocations\n\n" +
                diff.revocations
                    .map((r) =>
                        r.change === "added"
                            ? `- **${r.endpoint}, serial ${r.serial}** (${r.reason}, ${r.revokedAt}): listed in the APIC-client CA's CRL, ` +
                              "published as ca.crl in every gateway secret; the gateway stops pinning its key at once" +
                              (r.clientEpoch !== undefined
                                  ? `; the APIC client of ${r.endpoint} is re-issued (epoch ${r.clientEpoch.before} -> ${r.clientEpoch.after}): APIC's calls to ${r.host} fail until its new keystore is uploaded.`
                                  : ".")
                            : `- **${r.endpoint}, serial ${r.serial}:** no longer listed in the CRL.`,
                    )
                    .join("\n") +
                "\n",
        );
    }
    table(
        "Replaced",
        ["certificate", "role", "why", "forces"],
        replaced.map((c) => ({
            certificate: c.id,
            role: c.role,
            why: c.reasons.join("; "),
            forces: c.forces.join("; "),
        })),
    );
    const certRows = (changes: CertChange[]): Record<string, string>[] =>
        changes.map((c) => ({
            certificate: c.id,
            role: c.role,
            "hosts / identity": identity(c),
            forces: c.forces.join("; "),
        }));
    table(diff.newStack ? "Created" : "Added", ["certificate", "role", "hosts / identity", "forces"], certRows(added));
    table("Removed", ["certificate", "role", "hosts / identity", "forces"], certRows(removed));
    table(
        "APIC keys pinned at the gateway",
        ["endpoint", "pinned before", "pinned after"],
        diff.pins.map((p) => ({
            endpoint: p.endpoint,
            "pinned before": p.before.join(", "),
            "pinned after": p.after.join(", "),
        })),
    );
    table(
        "Routing only (no certificate change)",
        ["endpoint", "host", "services added", "services removed"],
        routing.map((r) => ({
            endpoint: r.endpoint,
            host: r.host,
            "services added": r.after.filter((x) => !r.before.includes(x)).join(", "),
            "services removed": r.before.filter((x) => !r.after.includes(x)).join(", "),
        })),
    );
    return parts.join("\n");
}

export const diffCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{
            base?: string;
            head?: string;
            format?: string;
            "fail-on"?: string;
            "max-replaced"?: string;
        }>(argv, {
            base: { type: "string" },
            head: { type: "string" },
            format: { type: "string" },
            "fail-on": { type: "string" },
            "max-replaced": { type: "string" },
        });
        if (values.base === undefined || values.head === undefined) throw new UsageError("give both --base and --head");
        if (!fs.existsSync(values.head)) throw new UsageError(`--head ${values.head}: no such file`);
        const format = oneOf(values.format ?? "markdown", "--format", ["markdown", "json"]);
        const failOn = oneOf(values["fail-on"] ?? "refused", "--fail-on", ["refused", "risky"]);
        if (!/^\d{1,6}$/.test(values["max-replaced"] ?? "0")) {
            throw new UsageError(
                `--max-replaced must be a whole number of certificates; got "${values["max-replaced"]}"`,
            );
        }
        const maxReplaced = Number(values["max-replaced"] ?? DEFAULT_MAX_REPLACED);
        const head = planFromRawConfig(rawConfigFromStackFile(values.head));
        const base = loadBase(values.base, path.resolve(values.head));
        const diff = diffPlans(base, head, { maxReplaced });
        out(format === "json" ? JSON.stringify(diff, null, 2) + "\n" : diffMarkdown(diff, head.config.environment));
        return isRefused(diff) || (failOn === "risky" && diff.risks.length > 0) ? 1 : 0;
    },
};
