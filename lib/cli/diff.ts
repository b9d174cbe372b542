/**
 * diff --base FILE|GIT_REF --head FILE [--format markdown|json|mermaid] [--fail-on refused|risky] [--max-replaced N]:
 * what a change of stack file does to the certificates, secrets and APIC bundles, and what it risks.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { OtherSetting, stackFileForDiff, StackFileSource } from "../config/load";
import { ConfigError } from "../config/validate";
import { codeOf, physicalPath, utf8Text } from "../files";
import { isSecret, PlaceKind } from "../inventory/deliveries";
import {
    CertChange,
    CertDiff,
    CustomerFacingChange,
    DEFAULT_MAX_REPLACED,
    diffPlans,
    GatewayChange,
    GatewayServer,
    isRefused,
    names,
    PlaceChange,
    plural,
    RevocationChange,
    ServedCertificate,
    settingChangeText,
} from "../inventory/diff";
import { trustPictureForDiff } from "../inventory/pictures";
import { APIC_UI_DIR } from "../inventory/planned";
import { ceremonyRecord, PkiPlan, planFromRawConfig } from "../plan/plan";
import { markdownStrings, markdownTable, markdownText } from "./format";
import { Command, oneOf, parse, requireStackFile, statGiven, UsageError } from "./stackSource";

const USAGE = `usage: diff --base FILE|GIT_REF --head FILE [--format markdown|json|mermaid] [--fail-on refused|risky] [--max-replaced N]

Compares what two versions of a stack file make: refused changes first (epochs or generations
going down, phases skipped, an APIC key cut off with no overlap), then risks (CAs re-issued
outside a staged rotation, hosts dropped, more than --max-replaced certificates replaced, default
${DEFAULT_MAX_REPLACED}); then what to do before and after pulumi up, every Kubernetes secret and APIC bundle
created, updated or deleted and what changes in it, revocations, certificates added, removed and
replaced with the reason, pinned APIC keys, Gateway servers added or removed and routing; the front
end's too (UI services' Secrets, APIC's UI-facing keystores and truststore, customer-facing hosts
and their CSRs), and every change outside pki:, Pulumi.yaml's config: included (secretsprovider,
encryptedkey and encryptionsalt, and kubernetes: provider settings are risks; a new stack's are
listed, no risk). --format mermaid
prints the trust hierarchy after the change as Mermaid text (no Markdown around it), with what the
change adds, replaces and removes highlighted, offline roots and CAs whose CSR waits for the
ceremony marked (while a CSR waits: the stack once signed, no change highlighted). A --base that is not a file is read as a git ref:
the --head file's path at that ref (a stack new at HEAD diffs against nothing).

Exit status: 0 clean (or only risks, unless --fail-on risky), 1 a refused change (or, with
--fail-on risky, any risk) or an invalid stack file, 2 wrong usage.`;

/** The largest file diff reads at a git revision (a stack or project file): far beyond any real one. */
const GIT_SHOW_MAX_BYTES = 256 * 2 ** 20;

function git(args: string[], cwd: string): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * `file`'s path below the work tree `top` (a real path), "/"-separated, as written: undefined when
 * the file or a folder on its way below `top` is a symbolic link (folders above `top` may be links).
 */
function pathInWorkTree(file: string, top: string): string | undefined {
    const names: string[] = [];
    let folder = path.resolve(file);
    while (fs.realpathSync(path.dirname(folder)) !== top) {
        if (path.dirname(folder) === folder) return undefined;
        names.unshift(path.basename(folder));
        folder = path.dirname(folder);
    }
    names.unshift(path.basename(folder));
    const relative = names.join("/");
    return fs.realpathSync(file) === path.join(top, ...names) ? relative : undefined;
}

/** Whether `ref` names a commit in the git work tree of `dir` (false outside one). */
function isCommit(ref: string, dir: string): boolean {
    try {
        git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`], dir);
        return true;
    } catch {
        return false;
    }
}

/**
 * `load()`, with a refused configuration naming the side it came from: a base that a newer
 * version of this tool refuses is no fault of the pull request's own file.
 */
function planOf<T>(side: string, load: () => T): T {
    try {
        return load();
    } catch (error) {
        throw error instanceof ConfigError ? new ConfigError(error.problems, side) : error;
    }
}

/** Refusals of the head and of the base, each block under the side it came from. */
class BothSidesRefused extends ConfigError {
    constructor(head: ConfigError, base: ConfigError) {
        super([...head.problems, ...base.problems]);
        this.message = `${head.message}\n${base.message}`;
    }
}

/** A side of the diff: its plan, and its stack file's settings outside pki: (stackFileForDiff). */
interface Side {
    readonly plan: PkiPlan;
    readonly others: Record<string, OtherSetting>;
}

/**
 * A side's stack file read once (stackFileForDiff), `plan` making its plan of the pki: config;
 * refusals under the side's name (planOf).
 */
function sideOf(
    name: string,
    file: string,
    source: StackFileSource,
    plan: (raw: Record<string, string>) => PkiPlan,
): Side {
    return planOf(name, () => {
        const { raw, others } = stackFileForDiff(file, source);
        return { plan: plan(raw), others };
    });
}

/**
 * Whether --base names a file (else a git ref: nothing is there, or a file stands where its path
 * has a folder). One behind a folder the system will not let diff search, or a link that loops, is
 * refused: taken for a ref, it was said to be neither a file nor a git ref.
 */
function isBaseFile(base: string): boolean {
    return statGiven("--base", base, base, ["ENOTDIR"])?.isFile() === true;
}

/** The base side: a file, or the head file's path at a git ref; undefined when the file is new. */
function loadBase(base: string, headFile: string): Side | undefined {
    const dir = path.dirname(headFile);
    if (isBaseFile(base)) {
        // A file named like the ref would stand in for it: in CI the pull request decides which
        // files exist, and one named after the base commit would make the diff compare the head
        // with itself.
        if (isCommit(base, dir)) {
            throw new UsageError(
                `--base ${base} is both a file and a git ref; give the file as ./${base.replace(/^\.\//, "")} or the ref as ${base}^{commit}`,
            );
        }
        return sideOf(`--base ${base}`, base, {}, (raw) => planFromRawConfig(raw));
    }
    try {
        git(["rev-parse", "--is-inside-work-tree"], dir);
    } catch {
        throw new UsageError(
            `--base ${base} is not a file, and --head ${headFile} is not in a git work tree where it could be a ref; give --base as a file`,
        );
    }
    if (!isCommit(base, dir)) throw new UsageError(`--base ${base} is neither a file nor a git ref`);
    const top = fs.realpathSync(git(["rev-parse", "--show-toplevel"], dir).trim());
    const relative = pathInWorkTree(headFile, top);
    if (relative === undefined) {
        throw new Error(
            `--head ${path.relative(process.cwd(), headFile)} is reached through a symbolic link; a stack file must be a regular file of the repository, so that every change to it shows in the pull request: replace the link by the file`,
        );
    }
    // The path at the base: each of its folders and the file itself, by mode (120000: a link), one
    // ls-tree each (given together, ls-tree lists a folder's contents instead of the folder).
    const parts = relative.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    const modes = new Map<string, string>();
    for (const prefix of prefixes) {
        const entry = git(["ls-tree", "-z", `${base}^{commit}`, "--", prefix], top).split("\0")[0];
        if (entry === "") break; // absent: nothing below it either
        modes.set(prefix, entry.split(" ")[0]);
    }
    const linked = prefixes.find((prefix) => modes.get(prefix) === "120000");
    if (linked !== undefined) {
        throw new Error(
            `${base}:${linked} is a symbolic link; the diff compares stack files that are regular files of the repository at both revisions: compare against a revision where ${relative} is the file itself`,
        );
    }
    // Paths as on disk (the loader resolves them), read at the revision: outside the work tree, nothing.
    const read = (file: string): string | undefined => {
        const inTree = path.relative(top, file);
        if (inTree === "" || inTree.startsWith("..") || path.isAbsolute(inTree)) return undefined;
        const object = `${base}:${inTree.split(path.sep).join("/")}`;
        let bytes: Buffer;
        try {
            bytes = execFileSync("git", ["show", object], {
                cwd: top,
                stdio: ["ignore", "pipe", "pipe"],
                // Node's default (1 MiB) would cut a large file off: read as absent, its settings would vanish.
                maxBuffer: GIT_SHOW_MAX_BYTES,
                // git's own words, to tell a file absent at the revision from a failure.
                env: { ...process.env, LC_ALL: "C" },
            });
        } catch (error) {
            const stderr = String((error as { stderr?: unknown }).stderr ?? "");
            if (/does not exist in|exists on disk, but not in/.test(stderr)) return undefined;
            const reason =
                codeOf(error) === "ENOBUFS"
                    ? `it is larger than ${GIT_SHOW_MAX_BYTES / 2 ** 20} MiB`
                    : stderr.trim() || (error as Error).message;
            throw new Error(`cannot read ${object} (git show): ${reason}`);
        }
        // Strictly, as a file on disk is read: Pulumi refuses a stack file that is not UTF-8.
        try {
            return utf8Text(bytes);
        } catch (error) {
            throw new Error(`cannot read ${base}:${inTree}: ${(error as Error).message}`);
        }
    };
    // Absent at the base, and reached through no link there: a stack new in this change.
    if (!modes.has(relative)) return undefined;
    // The project file (Pulumi.yaml) is read at the same revision.
    return sideOf(
        `--base ${base} (${relative} at that revision)`,
        path.join(top, ...parts),
        { read, label: `${base}:${relative}` },
        (raw) => planFromRawConfig(raw),
    );
}

const identity = (c: CertChange): string => {
    const cert = c.after ?? c.before;
    return cert ? [...cert.dnsNames, ...cert.uris].join(", ") || cert.subject : "";
};

/** A change the base's pending CSRs leave unsure (PlaceChange.unlessDeployed). */
const MAY = { create: "be created", update: "be updated", delete: "be deleted" } as const;

/** Places with the same change side by side (e.g. every gateway secret gaining ca.crl) as one row. */
function placeRows(places: readonly PlaceChange[]): Record<string, string>[] {
    const rows = new Map<string, { places: string[]; change: string; what: string }>();
    for (const p of places) {
        const what =
            p.change === "create"
                ? [
                      p.items
                          .filter((i) => i.change === "new")
                          .map((i) => i.item)
                          .join(", "),
                      // An item it may also hold (ca-crl.pem, if a cluster was ever removed): said in full.
                      ...p.items.filter((i) => i.change !== "new").map((i) => `${i.item}: ${i.change}`),
                  ].join("; ")
                : p.items.map((i) => `${i.item}: ${i.change}`).join("; ");
        const change = p.unlessDeployed === true ? `may ${MAY[p.change]} (the base waits for the ceremony)` : p.change;
        const key = `${p.kind}|${change}|${what}`;
        const row = rows.get(key) ?? { places: [], change, what };
        row.places.push(p.place);
        rows.set(key, row);
    }
    return [...rows.values()].map((r) => ({ where: r.places.join(", "), change: r.change, what: r.what }));
}

/** What APIC gets by hand, per kind of bundle: the stack output that holds it. */
const APIC_OUTPUTS: readonly { kind: PlaceKind; output: string }[] = [
    { kind: "APIC keystore", output: "apicBundles" },
    { kind: "APIC truststore", output: "apicBundles" },
    { kind: "APIC UI-facing keystore", output: "frontEnd.apic" },
    { kind: "APIC UI truststore", output: "frontEnd.apic" },
];

/** What `pulumi up` does, counted: certificates, Kubernetes secrets, APIC material, pins, CSRs for the public CA. */
function pulumiUpSummary(diff: CertDiff): string {
    const { added, removed, replaced, places, pins } = diff;
    const sure = added.filter((c) => c.unlessDeployed !== true).length;
    const unsure = places.filter((p) => p.unlessDeployed === true).length;
    const maybe = [
        ...(sure < added.length ? [`create ${plural(added.length - sure, "certificate")}`] : []),
        ...(unsure > 0
            ? [`change ${plural(unsure, "Kubernetes secret or APIC bundle", "Kubernetes secrets and APIC bundles")}`]
            : []),
    ];
    const certs = [
        sure > 0 ? `creates ${plural(sure, "certificate")}` : "",
        replaced.length > 0 ? `re-issues ${plural(replaced.length, "certificate")}` : "",
        removed.length > 0 ? `deletes ${plural(removed.length, "certificate")}` : "",
    ];
    const secrets = places.filter((p) => isSecret(p.kind));
    const apic = (kind: PlaceKind, written: boolean) =>
        places.filter((p) => p.kind === kind && (p.change !== "delete") === written && p.unlessDeployed !== true)
            .length;
    const bundles = (written: boolean, kinds: readonly { kind: PlaceKind }[]) =>
        kinds
            .filter(({ kind }) => apic(kind, written) > 0)
            .map(({ kind }) => plural(apic(kind, written), kind))
            .join(" and ");
    const written = [...new Set(APIC_OUTPUTS.map((o) => o.output))]
        .map((output) => [
            bundles(
                true,
                APIC_OUTPUTS.filter((o) => o.output === output),
            ),
            output,
        ])
        .filter(([text]) => text !== "")
        .map(([text, output]) => `${text} (stack output ${output})`);
    const verbs = { create: "creates", update: "updates", delete: "deletes" } as const;
    const secretParts = (["create", "update", "delete"] as const).flatMap((verb) => {
        const n = secrets.filter((p) => p.change === verb && p.unlessDeployed !== true).length;
        return n > 0 ? [`${verbs[verb]} ${plural(n, "Kubernetes secret")}`] : [];
    });
    const requests = diff.customerFacing.filter(
        (c) => c.epoch.after !== undefined && (c.epoch.after !== c.epoch.before || c.request?.newKey === true),
    );
    return [
        diff.csrs.length > 0
            ? `registers the key and CSR of ${plural(diff.csrs.length, "CA")} for the ceremony (${names(diff.csrs)})`
            : "",
        ...certs,
        ...secretParts,
        maybe.length > 0
            ? `may ${maybe.join(" and ")} (unless the last update that ran whole did: the base waits for the ceremony, see its risk)`
            : "",
        written.length > 0 ? `writes the new material of ${written.join(" and ")}` : "",
        bundles(false, APIC_OUTPUTS) !== "" ? `drops ${bundles(false, APIC_OUTPUTS)}` : "",
        pins.length > 0 ? `changes the APIC keys pinned for ${plural(pins.length, "endpoint")}` : "",
        requests.length > 0
            ? `makes ${plural(requests.length, "key and CSR", "keys and CSRs")} for the public CA (${names(requests.map((c) => c.host))})`
            : "",
    ]
        .filter((p) => p !== "")
        .join("; ");
}

/** A revocation as the report lists it: which CRL, where it is published, what is re-issued. */
function revocationLine(r: RevocationChange): string {
    const client = r.endpoint ?? `UI service ${r.uiClient}`;
    if (r.change === "removed") return `- **${client}, serial ${r.serial}:** no longer listed in the CRL.`;
    const reissued =
        r.clientEpoch === undefined
            ? "."
            : r.endpoint !== undefined
              ? `; the APIC client of ${r.endpoint} is re-issued (epoch ${r.clientEpoch.before} -> ${r.clientEpoch.after}): APIC's calls to ${r.host} fail until its new keystore is uploaded.`
              : `; the client of ${r.uiClient} is re-issued (epoch ${r.clientEpoch.before} -> ${r.clientEpoch.after}) into its Secret, which its sidecars take by themselves.`;
    return r.endpoint !== undefined
        ? `- **${client}, serial ${r.serial}** (${r.reason}, ${r.revokedAt}): listed in the APIC-client CA's CRL, ` +
              `published as ca.crl in every gateway secret; the gateway stops pinning its key at once${reissued}`
        : `- **${client}, serial ${r.serial}** (${r.reason}, ${r.revokedAt}): listed in the UI client CA's CRL, published as APIC's UI truststore.crl ` +
              `(${APIC_UI_DIR}/truststore.crl); APIC keeps accepting the certificate until that CRL is in DataPower's validation credentials (APIC's TLS server profile cannot load it)${reissued}`;
}

/** A customer-facing host's change as the report lists it. */
function customerFacingLine(c: CustomerFacingChange): string {
    const { before, after } = c.served;
    const certificate = (s: ServedCertificate) =>
        `the certificate for the key of epoch ${s.certificateEpoch} (serial ${s.serial}, until ${s.notAfter.slice(0, 10)})`;
    const parts: string[] = [];
    if (c.epoch.after === undefined) parts.push("removed: its keys and CSR are deleted");
    else if (c.epoch.before === undefined) parts.push(`new: a key and CSR (epoch ${c.epoch.after}) for the public CA`);
    else if (c.epoch.after !== c.epoch.before)
        parts.push(`a new key and CSR (epoch ${c.epoch.before} -> ${c.epoch.after}) for the public CA`);
    else if (c.request !== undefined)
        parts.push(
            `${c.request.newKey ? "a new key and CSR" : "a new CSR (same key)"} of epoch ${c.epoch.after} for the public CA (${c.request.why.join("; ")})`,
        );
    if (after !== undefined && JSON.stringify(after) !== JSON.stringify(before)) {
        parts.push(
            `${certificate(after)} ${before !== undefined ? `replaces serial ${before.serial} in` : "goes into"} ${c.secret}` +
                (before !== undefined && before.certificateEpoch !== after.certificateEpoch
                    ? `; the key of epoch ${before.certificateEpoch} is deleted`
                    : "") +
                (before === undefined ? ", served by the Gateway customer-facing" : ""),
        );
    } else if (after !== undefined) {
        parts.push(`${certificate(after)} is still served until certificateEpoch catches up`);
    } else if (before !== undefined) {
        parts.push(`${c.secret} and its Gateway server are deleted`);
    } else if (c.epoch.after !== undefined) {
        parts.push("no Secret until the certificate is given");
    }
    return `- **${c.host}:** ${parts.join("; ")}.`;
}

/** The diff as a Markdown report, every value in it (config text among them) shown as text. */
export function diffMarkdown(diff: CertDiff, title: string): string {
    return markdownReport(markdownStrings(diff), markdownText(title));
}

/** The report of a diff whose strings are already Markdown text. */
function markdownReport(diff: CertDiff, title: string): string {
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
    const certChanges = added.length + removed.length + replaced.length + diff.csrs.length;
    parts.push(
        diff.newStack
            ? `**New stack: ${added.length} certificates created.**\n`
            : certChanges === 0 && diff.places.length === 0
              ? "No certificate changes.\n"
              : `**${added.length} added, ${removed.length} removed, ${replaced.length} replaced, ${unchanged} unchanged` +
                `${diff.csrs.length > 0 ? `, ${plural(diff.csrs.length, "CSR")} registered` : ""}.**\n`,
    );
    const settings = diff.otherSettings ?? [];
    if (settings.length > 0) {
        parts.push(
            "### Stack file settings outside pki:\n\n" +
                (diff.newStack
                    ? "The new stack's, to review with it (a new stack's are no risk: the whole stack is new, for its owners to review):\n\n"
                    : "") +
                settings.map((c) => `- **${c.key}:** ${settingChangeText(c, diff.newStack)}.`).join("\n") +
                "\n",
        );
    }
    const steps = [
        ...diff.steps.before.map((s) => `**Before pulumi up:** ${s}`),
        ...(certChanges + diff.places.length + diff.pins.length + diff.customerFacing.length > 0
            ? [`**pulumi up:** ${pulumiUpSummary(diff)}.`]
            : []),
        ...diff.steps.after.map((s) => `**After:** ${s}`),
    ];
    if (!diff.newStack && steps.length > 0) {
        parts.push(`### What to do, in order\n\n${steps.map((s, i) => `${i + 1}. ${s}`).join("\n")}\n`);
    }
    if (!diff.newStack && diff.steps.notes !== undefined) {
        parts.push(diff.steps.notes.map((n) => `**Note:** ${n}`).join("\n\n") + "\n");
    }
    const table = (heading: string, columns: string[], rows: Record<string, string>[]): void => {
        if (rows.length > 0) parts.push(`### ${heading}\n\n${markdownTable(columns, rows)}`);
    };
    if (!diff.newStack) {
        table("Kubernetes secrets and APIC bundles", ["where", "change", "what"], placeRows(diff.places));
    }
    if (diff.revocations.length > 0) {
        parts.push(`### Revocations\n\n${diff.revocations.map(revocationLine).join("\n")}\n`);
    }
    if (diff.customerFacing.length > 0 && !diff.newStack) {
        parts.push(`### Customer-facing hosts\n\n${diff.customerFacing.map(customerFacingLine).join("\n")}\n`);
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
    if (!diff.newStack) {
        // One row per server, every one listed: a Gateway may gain or lose dozens at once.
        const rows = (g: GatewayChange, server: "added" | "removed", list: readonly GatewayServer[]) =>
            list.map((s) => ({
                gateway: g.gateway,
                change: g.change,
                server,
                host: s.host,
                credentialName: s.credentialName,
            }));
        table(
            "Istio Gateways (each server added or removed)",
            ["gateway", "change", "server", "host", "credentialName"],
            diff.gateways.flatMap((g) => [...rows(g, "added", g.added), ...rows(g, "removed", g.removed)]),
        );
    }
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
            "max-replaced": { type: "string", number: true },
        });
        if (values.base === undefined || values.head === undefined) throw new UsageError("give both --base and --head");
        requireStackFile("--head", values.head, values.head);
        const format = oneOf(values.format ?? "markdown", "--format", ["markdown", "json", "mermaid"]);
        const failOn = oneOf(values["fail-on"] ?? "refused", "--fail-on", ["refused", "risky"]);
        if (!/^\d{1,6}$/.test(values["max-replaced"] ?? "0")) {
            throw new UsageError(
                `--max-replaced must be a whole number of certificates; got "${values["max-replaced"]}"`,
            );
        }
        const maxReplaced = Number(values["max-replaced"] ?? DEFAULT_MAX_REPLACED);
        // The file the disk reads: the base and the project are read beside it.
        const headFile = physicalPath(values.head);
        // With what the base shows of its deployment (ceremonyRecord): a finish under an offline
        // root is refused, as pulumi up refuses it, until the root's CRL series revokes the old CA.
        // A CRL series not old enough to publish yet: diff, which has no clock to set, says to run diff again.
        const loadHead = (base?: PkiPlan): Side =>
            sideOf(`--head ${values.head}`, headFile, { label: values.head }, (raw) =>
                planFromRawConfig(raw, { before: base && ceremonyRecord(base), rerun: "diff" }),
            );
        let loaded: ReturnType<typeof loadBase>;
        try {
            loaded = loadBase(values.base, headFile);
        } catch (baseError) {
            // The head's own refusal first: a base this version refuses is no fault of the change.
            try {
                loadHead();
            } catch (headError) {
                // Both refused: both blocks, so that one run shows every fix.
                if (headError instanceof ConfigError && baseError instanceof ConfigError) {
                    throw new BothSidesRefused(headError, baseError);
                }
                throw headError;
            }
            throw baseError;
        }
        const base = loaded?.plan;
        const { plan: head, others: headOthers } = loadHead(base);
        const diff = diffPlans(base, head, {
            maxReplaced,
            otherSettings: { base: loaded?.others ?? {}, head: headOthers },
        });
        out(
            format === "json"
                ? JSON.stringify(diff, null, 2) + "\n"
                : format === "mermaid"
                  ? trustPictureForDiff(base, head, diff)
                  : diffMarkdown(diff, head.config.environment),
        );
        return isRefused(diff) || (failOn === "risky" && diff.risks.length > 0) ? 1 : 0;
    },
};
