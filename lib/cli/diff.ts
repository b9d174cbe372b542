/** diff --base FILE|GIT_REF --head FILE [--format markdown|json]: certificate changes between two stack files. */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { rawConfigFromStackFile } from "../config/load";
import { CertChange, CertDiff, diffPlans } from "../inventory/diff";
import { PkiPlan, planFromRawConfig } from "../plan/plan";
import { markdownTable } from "./format";
import { Command, oneOf, parse, UsageError } from "./stackSource";

const USAGE = `usage: diff --base FILE|GIT_REF --head FILE [--format markdown|json]

Compares the certificates two versions of a stack file plan: added, removed and replaced, with
the reason (hosts, key algorithm, validity, issuer...) and what it forces (a new key, a new
certificate, updated secrets, new APIC keystore or truststore). A --base that is not a file is
read as a git ref: the --head file's path at that ref (a stack new at HEAD diffs against nothing).`;

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

export function diffMarkdown(diff: CertDiff, title: string): string {
    const { added, removed, replaced, unchanged, routing } = diff;
    const heading =
        diff.base.option === diff.head.option
            ? `Option ${diff.head.option}`
            : `Option ${diff.base.option} -> Option ${diff.head.option}`;
    const parts = [
        `## Certificate changes: ${title} (${heading})\n`,
        ...diff.caRotation.map(
            (r) =>
                `**CA rotation, pki:caRotation.${r.slot}: ${r.from} -> ${r.to}.** ` +
                (r.refused !== undefined ? `Refused: ${r.refused}\n` : `${r.effect}.\n`),
        ),
        ...diff.refused.map((r) => `**Refused, ${r.key}:** ${r.problem}.\n`),
        added.length + removed.length + replaced.length === 0
            ? "No certificate changes.\n"
            : `**${added.length} added, ${removed.length} removed, ${replaced.length} replaced, ${unchanged} unchanged.**\n`,
    ];
    const table = (heading: string, columns: string[], rows: Record<string, string>[]): void => {
        if (rows.length > 0) parts.push(`### ${heading}\n\n${markdownTable(columns, rows)}`);
    };
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
    table("Added", ["certificate", "role", "hosts / identity", "forces"], certRows(added));
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
        const values = parse<{ base?: string; head?: string; format?: string }>(argv, {
            base: { type: "string" },
            head: { type: "string" },
            format: { type: "string" },
        });
        if (values.base === undefined || values.head === undefined) throw new UsageError("give both --base and --head");
        if (!fs.existsSync(values.head)) throw new UsageError(`--head ${values.head}: no such file`);
        const format = oneOf(values.format ?? "markdown", "--format", ["markdown", "json"]);
        const head = planFromRawConfig(rawConfigFromStackFile(values.head));
        const base = loadBase(values.base, path.resolve(values.head)) ?? emptyPlan(head);
        const diff = diffPlans(base, head);
        out(format === "json" ? JSON.stringify(diff, null, 2) + "\n" : diffMarkdown(diff, head.config.environment));
        // A phase skipped or reversed would be refused by `pulumi up`: fail the review step too.
        return diff.caRotation.some((r) => r.refused !== undefined) || diff.refused.length > 0 ? 1 : 0;
    },
};

/** A stack file that does not exist at the base ref: every certificate is new. */
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
