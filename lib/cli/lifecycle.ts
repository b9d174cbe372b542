/**
 * lifecycle (--stack NAME | --config FILE) --deployed FILE_OR_DIR [--now ISO] [--soak-days N] [--write] [--format markdown|json]:
 * what is due (lib/lifecycle/rules.ts), the stack file edit that does it, and its certificate diff.
 */
import * as fs from "fs";
import * as path from "path";
import { rawConfigFromStackFile, ReadFile, readFromDisk } from "../config/load";
import { settingsWritten } from "../config/settings";
import { PkiConfig } from "../config/types";
import { ConfigError, validateConfig } from "../config/validate";
import { ownMember } from "../config/values";
import {
    codeOf,
    createReplacement,
    entryAt,
    leftoverReplacements,
    readRegularFile,
    Replacement,
    unreadableReason,
} from "../files";
import { undoUnlessDone } from "../interrupt";
import { diffPlans } from "../inventory/diff";
import { DeployedInputError, readDeployed } from "../lifecycle/deployed";
import { decide, LifecycleDecision, Proposal } from "../lifecycle/rules";
import { DEFAULT_SOAK_DAYS } from "../plan/caRotation";
import { editStackText, StackEditError } from "../lifecycle/stackEdit";
import { planPki } from "../plan/plan";
import { diffMarkdown } from "./diff";
import { markdownTable, markdownText } from "./format";
import { Command, InputError, oneOf, parse, parseNow, stackFilePath, UsageError } from "./stackSource";

const MAX_SOAK_DAYS = 365;

const USAGE = `usage: lifecycle (--stack NAME | --config FILE) --deployed FILE_OR_DIR [--now ISO] [--soak-days ${DEFAULT_SOAK_DAYS}] [--write] [--format markdown|json]

Decides, at --now (default: now), what the stack needs from what is deployed: --deployed is the
JSON of "pulumi stack output --json" (outputs inventory and deploymentRecord) or a render's
folder (inventory.json and deployment.json). Proposes, as edits of the stack file:
  - a leaf inside its renewal window: its epoch raised (pki:rotation.endpoints.<id>.serverEpoch;
    an APIC client with clientEpoch and clientPhase switch, then, once the switch has been
    deployed --soak-days days, the finish (clientPhase removed; set to finish while
    pki:rotation.apicClientPhase is switch); UI clients pki:rotation.uiClientEpoch, APIC's
    UI-facing servers apicServerEpoch; a customer-facing host a new key and CSR,
    pki:frontEnd.customerFacing.<host>.epoch);
  - a CA inside its renewal window: a staged rotation (pki:caRotation.<slot>: generation n+1,
    phase prepare), and each phase deployed --soak-days days: the next phase;
and says whether CRLs must be re-published (a pulumi up from the default branch, no edit) and
what needs a human (anything expired, an offline root's renewal or CRL series, the ceremony, a
customer-facing CSR for the public CA).
--write edits the stack file in place (comments and layout kept) when something is due; the
output is a pull request body: what is due, why, and the certificate diff of the edit. --format
json prints { changed, markdown, republishCrls, republishBlockedBy, needsHuman, proposals,
afterRepublish, ... }: afterRepublish lists what a person does by hand once the update that
re-publishes the CRLs has run ({ step, before }: before, the time the CRL loaded now lapses).
Exit status: 0 ran (nothing due, or the edit written or proposed), 1 something needs a human,
2 wrong usage, unreadable input or any other failure (output it cannot write), never 1.`;

const day = (date: Date): string => date.toISOString().slice(0, 10);
const showValue = (value: number | string | undefined): string => (value === undefined ? "unset" : String(value));

/** A proposal's edits in words, e.g. "pki:rotation.endpoints.ob.clientEpoch: unset -> 1". */
const changeText = (proposal: Proposal): string =>
    proposal.edits
        .map((e) =>
            e.from === e.to
                ? `${e.path.join(".")}: ${e.to} (kept)`
                : `${e.path.join(".")}: ${showValue(e.from)} -> ${showValue(e.to)}`,
        )
        .join("; ");

/** The effective value at `keys` of a `pki:` config map, as the program receives it. */
function effectiveValue(raw: Record<string, string>, keys: readonly string[]): unknown {
    const [top, ...rest] = keys;
    const text = raw[top.replace(/^pki:/, "")];
    let value: unknown = text === undefined ? undefined : JSON.parse(text);
    // Own members only: an endpoint id such as "constructor" is no key of a map that lacks it.
    for (const key of rest) {
        value =
            value !== null && typeof value === "object" ? ownMember(value as Record<string, unknown>, key) : undefined;
    }
    return value;
}

interface Edited {
    text: string;
    config: PkiConfig;
}

/** Reads the stack file as `text` (what this run read or is about to write), other files from disk. */
const readingStackAs =
    (file: string, text: string): ReadFile =>
    (f) =>
        path.resolve(f) === file ? text : readFromDisk(f);

/**
 * The stack file after the proposals' edits, checked as `pulumi up` would check it against what is
 * deployed, and checked to set exactly the values meant (a key from Pulumi.yaml the stack file
 * does not set would be shadowed by a partial one).
 */
function editStackFile(
    file: string,
    text: string,
    proposals: readonly Proposal[],
    now: Date,
    check: (config: PkiConfig) => void,
): Edited {
    const edits = proposals.flatMap((p) => p.edits);
    // A key the stack file does not set but Pulumi.yaml does: the stack file's own would replace
    // Pulumi.yaml's whole (Pulumi does not merge the two), dropping its other values unseen.
    const withProject = rawConfigFromStackFile(file, { read: readingStackAs(file, text) });
    const stackOnly = rawConfigFromStackFile(file, { read: (f) => (path.resolve(f) === file ? text : undefined) });
    for (const top of new Set(edits.map((e) => e.path[0].replace(/^pki:/, "")))) {
        if (withProject[top] !== undefined && stackOnly[top] === undefined) {
            throw new StackEditError(
                `pki:${top} is set in Pulumi.yaml, not in the stack file, and a pki:${top} in the stack file would replace it whole ` +
                    `(Pulumi does not merge the two): move pki:${top} from Pulumi.yaml into the stack file`,
            );
        }
    }
    const after = editStackText(
        text,
        edits.map((e) => ({ path: e.path, value: e.to })),
        `the stack file ${file}`,
    );
    let raw: Record<string, string>;
    try {
        raw = rawConfigFromStackFile(file, { read: readingStackAs(file, after) });
    } catch (error) {
        // What the edit of the stack file's text broke: a refusal, so that the stack's other decisions still go out.
        if (error instanceof ConfigError) throw error;
        const keys = edits.map((e) => e.path.join(".")).join(", ");
        throw new StackEditError(
            `the stack file ${file}, edited to set ${keys}, could not be read (${(error as Error).message}); make this change by hand`,
        );
    }
    const config = validateConfig(raw, now);
    for (const edit of edits) {
        const value = effectiveValue(raw, edit.path);
        // The stack file sets each key edited (a key only Pulumi.yaml sets is refused above): a value
        // other than the one meant is a layout of the stack file this editor gets wrong.
        if (value !== edit.to) {
            throw new StackEditError(
                `${edit.path.join(".")} would be ${JSON.stringify(value)} after the edit instead of ${edit.to === undefined ? "unset" : JSON.stringify(edit.to)}: ` +
                    `this editor gets the way the stack file ${file} writes ${edit.path[0]} wrong; make this change by hand`,
            );
        }
    }
    check(config);
    return { text: after, config };
}

/** A proposal whose edit cannot be made, and why, as Needs a human says it. */
interface Refused {
    readonly proposal: Proposal;
    readonly text: string;
}

/** An edit the deployed stack or the editor refuses, as opposed to a failure of this program. */
const isRefusal = (error: unknown): error is Error => error instanceof ConfigError || error instanceof StackEditError;

/**
 * The proposals' edit, or, when `pulumi up` would refuse it, the edit of as many as can be made:
 * each proposal in turn on top of those kept, so that one that needs a human (an offline root's
 * CA finish waits for the ceremony's CRLs) does not hold back the renewals due beside it.
 */
function editWhatCanBeMade(
    file: string,
    text: string,
    proposals: readonly Proposal[],
    now: Date,
    check: (config: PkiConfig) => void,
): { edited?: Edited; made: readonly Proposal[]; refused: readonly Refused[] } {
    if (proposals.length === 0) return { made: [], refused: [] };
    try {
        return { edited: editStackFile(file, text, proposals, now, check), made: proposals, refused: [] };
    } catch (error) {
        if (!isRefusal(error)) throw error;
    }
    let edited: Edited | undefined;
    const made: Proposal[] = [];
    const refused: Refused[] = [];
    for (const proposal of proposals) {
        try {
            edited = editStackFile(file, text, [...made, proposal], now, check);
            made.push(proposal);
        } catch (error) {
            if (!isRefusal(error)) throw error;
            // One line, its problems apart, as the refusal of the stack file itself reads (decide).
            const why =
                error instanceof ConfigError
                    ? `invalid stack configuration: ${error.problems.join("; ")}`
                    : error.message.replace(/\n\s*-?\s*/g, " ");
            refused.push({
                proposal,
                text: `the proposed edit of ${proposal.subject} (${changeText(proposal)}) cannot be made: ${why}`,
            });
        }
    }
    return { ...(edited !== undefined ? { edited } : {}), made, refused };
}

/**
 * Why --write may not replace the stack file, or undefined: a link (its target's changes would
 * not show as changes to the stack file in a pull request, and a rename would replace the link)
 * or a file its owner made read-only (a rename ignores the mode).
 */
function writeProblem(file: string): string | undefined {
    const entry = fs.lstatSync(file);
    if (entry.isSymbolicLink()) {
        return `the stack file ${file} is a symbolic link; lifecycle edits only a stack file that is the file itself: replace the link by the file`;
    }
    if ((entry.mode & 0o200) === 0) {
        return `the stack file ${file} is read-only (mode 0${(entry.mode & 0o777).toString(8)}); make it writable (chmod u+w) for lifecycle to edit it`;
    }
    return undefined;
}

/**
 * How old a new stack file must be to count as left by a killed run. A running lifecycle --write
 * holds its new file for milliseconds (it is made just before the rename, lib/files.ts), and no lock
 * stops a second run: a younger file may be that run's, which removing would make fail.
 */
const LEFTOVER_EDIT_AGE_MS = 60_000;

/**
 * Removes, naming each to `warn`, the new stack files (createReplacement's `.<name>.<12 hex
 * digits>.tmp`) of earlier runs killed (kill -9, a lost machine) between creating one and renaming
 * it over the stack file; younger ones wait for a later run (their random names block no write).
 */
function removeLeftoverEdits(file: string, warn: (message: string) => void): void {
    for (const leftover of leftoverReplacements(file)) {
        const modified = entryAt(leftover)?.mtimeMs;
        if (modified === undefined || Date.now() - modified < LEFTOVER_EDIT_AGE_MS) continue;
        fs.rmSync(leftover, { force: true });
        warn(
            `removed ${leftover}: the new stack file of a lifecycle --write that was killed before it could rename it over ${file}`,
        );
    }
}

/** What the stack file holds now, or undefined when it cannot be read as the regular file it was. */
function currentText(file: string): string | undefined {
    try {
        return fs.lstatSync(file).isFile() ? readRegularFile(file) : undefined;
    } catch {
        return undefined;
    }
}

/**
 * Replaces the file at once (a new file renamed over it), keeping its mode, unless it no longer
 * holds `read`, the text this run decided on: another lifecycle --write or an editor saved it
 * meanwhile, and the rename would drop that edit. (The check comes just before the write, which
 * narrows that window to the write itself; it cannot close it.) A signal (Ctrl-C, a cancelled CI
 * job) that comes meanwhile takes effect after the rename (lib/interrupt.ts): it never leaves the
 * new file beside the stack file.
 */
function writeInPlace(file: string, read: string, text: string): void {
    const mode = fs.statSync(file).mode & 0o777;
    const folder = path.dirname(file);
    const stopWatching = undoUnlessDone();
    try {
        let replacement: Replacement;
        try {
            replacement = createReplacement(file, mode);
        } catch (error) {
            throw new InputError(
                `--write cannot replace the stack file ${file} (${codeOf(error)} creating a file in ${folder}); run it where that folder is writable`,
            );
        }
        if (currentText(file) !== read) {
            replacement.discard();
            throw new InputError(
                `--write: the stack file ${file} changed while lifecycle ran (another lifecycle --write, or an editor, saved it); nothing was written: run lifecycle again on the file as it is now`,
            );
        }
        try {
            replacement.commit(text);
        } catch (error) {
            throw new InputError(`--write cannot replace the stack file ${file} (${codeOf(error)})`);
        }
    } finally {
        stopWatching();
    }
}

/**
 * The decision's texts as Markdown shows them (markdownText): "apic/<endpoint>/truststore.crl" is no
 * HTML tag for GitHub to drop.
 */
const md = markdownText;

/** A section of `lines`, each a bullet; `lines` are Markdown (the decision's texts through md). */
function bullets(title: string, lines: readonly string[]): string {
    return lines.length === 0 ? "" : `### ${title}\n\n${lines.map((l) => `- ${l}`).join("\n")}\n`;
}

export function lifecycleMarkdown(args: {
    environment: string;
    stackFile: string;
    now: Date;
    decision: LifecycleDecision;
    written: boolean;
    diff?: string;
}): string {
    const { decision } = args;
    const { proposals } = decision;
    const summary =
        proposals.length === 0
            ? "Nothing to change in the stack file."
            : `**${proposals.length} change${proposals.length === 1 ? "" : "s"} ${args.written ? `written to ${args.stackFile}` : `proposed for ${args.stackFile} (run with --write to make the edit)`}.**`;
    const blockedBy = decision.republishBlockedBy;
    const crls = !decision.republishCrls
        ? "No CRL is due for re-publication."
        : blockedBy.length === 0
          ? "CRLs are due for re-publication: run `pulumi up` from the default branch (no config change)."
          : `CRLs are due for re-publication, but not alone: \`pulumi up\` from the default branch also takes ${blockedBy.map(md).join("; ")}; ` +
            "the lifecycle workflow re-publishes CRLs only by an update that changes nothing else.";
    const parts = [`## Lifecycle of ${args.environment} at ${day(args.now)}\n`, `${summary} ${crls}\n`];
    if (proposals.length > 0) {
        parts.push(
            `### Due\n\n${markdownTable(
                ["what", "why", "change"],
                proposals.map((p) => ({
                    what: md(p.subject),
                    why: md(p.why),
                    change: md(changeText(p)),
                })),
            )}`,
        );
    }
    const notes = (field: "beforeMerge" | "afterDeploy") =>
        proposals.flatMap((p) => (p[field] !== undefined ? [`**${md(p.subject)}**: ${md(p[field])}`] : []));
    parts.push(
        bullets("Before merging", notes("beforeMerge")),
        bullets("After the update", notes("afterDeploy")),
        bullets("Needs a human", decision.needsHuman.map(md)),
        bullets("CRLs to re-publish", decision.republishWhy.map(md)),
        bullets(
            "By hand after the re-publication",
            decision.afterRepublish.map(({ step, before }) => `before ${day(new Date(before))}: ${md(step)}`),
        ),
        bullets("Waiting", decision.waiting.map(md)),
        bullets("Changed in the stack file, not deployed yet", decision.pending.map(md)),
    );
    if (args.diff !== undefined) parts.push(args.diff);
    return parts.filter((p) => p !== "").join("\n");
}

export const lifecycleCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{
            stack?: string;
            config?: string;
            deployed?: string;
            now?: string;
            "soak-days"?: string;
            write?: boolean;
            format?: string;
        }>(argv, {
            stack: { type: "string" },
            config: { type: "string" },
            deployed: { type: "string" },
            now: { type: "string" },
            "soak-days": { type: "string", number: true },
            write: { type: "boolean" },
            format: { type: "string" },
        });
        const { file } = stackFilePath(values);
        if (values.deployed === undefined)
            throw new UsageError("give --deployed: the stack's outputs (JSON) or a render's folder");
        const format = oneOf(values.format ?? "markdown", "--format", ["markdown", "json"]);
        const now = values.now === undefined ? new Date() : parseNow(values.now);
        const soakText = values["soak-days"] ?? String(DEFAULT_SOAK_DAYS);
        // A year at most: a phase soaked longer would outlive the certificates it rotates (and 1e23 days is a typo).
        if (!/^\d+$/.test(soakText) || Number(soakText) > MAX_SOAK_DAYS)
            throw new UsageError(
                `--soak-days must be a whole number of days from 0 to ${MAX_SOAK_DAYS}; got "${soakText}"`,
            );
        const soakDays = Number(soakText);

        let config: PkiConfig;
        let text: string;
        let settingsGiven: ReadonlySet<string>;
        try {
            text = readRegularFile(file);
        } catch (error) {
            // Its own words for a file it may not read (Node's quote the system call and path); a
            // file not UTF-8 says where.
            throw new InputError(`cannot use the stack file ${file}: ${unreadableReason(error, "apic-istio-pki")}`);
        }
        try {
            const raw = rawConfigFromStackFile(file, { read: readingStackAs(file, text) });
            config = validateConfig(raw, now);
            settingsGiven = settingsWritten(raw);
        } catch (error) {
            throw new InputError(`cannot use the stack file ${file}: ${(error as Error).message}`);
        }
        if (values.write === true) {
            const problem = writeProblem(file);
            if (problem !== undefined) throw new InputError(`--write: ${problem}`);
            removeLeftoverEdits(file, (message) => void process.stderr.write(`warning: ${message}\n`));
        }
        let deployed;
        try {
            deployed = readDeployed(values.deployed);
        } catch (error) {
            if (error instanceof DeployedInputError)
                throw new InputError(`--deployed ${values.deployed}: ${error.message}`);
            throw error;
        }
        // Another stack's: its renewals due would go unseen, and its records would be checked against this stack's.
        if (deployed.environment !== undefined && deployed.environment !== config.environment) {
            const environment = `environment "${deployed.environment}"`;
            const what =
                deployed.source === "render"
                    ? `a render of ${environment}`
                    : `the outputs of a stack of ${environment} (its inventory's client identities are urn:apic-istio-pki:${deployed.environment}:...)`;
            throw new InputError(
                `--deployed ${values.deployed} is ${what}, the stack file's is "${config.environment}": ` +
                    `give the outputs, or a render, of this stack file's stack`,
            );
        }

        const check = (after: PkiConfig) => planPki(after, { deployed: deployed.record, now, written: settingsGiven });
        let decided = decide({ config, deployed, now, soakDays, written: settingsGiven });
        let { edited, made, refused } = editWhatCanBeMade(file, text, decided.proposals, now, check);
        // A CA rotation refused (ECDSA CA keys, say, or a stack file this editor cannot edit there) is
        // one decide counted on: the leaves its switch would re-issue wait for it. Decided again
        // without it, they are renewed at once under the current CA, whatever the refusal: a due leaf
        // never waits on a person, even though the switch, once made by hand, re-issues it again.
        const unmade = new Set<string>();
        const refusedCas: Refused[] = [];
        for (;;) {
            const cas = refused.filter((r) => r.proposal.subject.startsWith("pki:caRotation."));
            if (cas.length === 0) break;
            for (const r of cas) unmade.add(r.proposal.subject);
            refusedCas.push(...cas);
            decided = decide({ config, deployed, now, soakDays, written: settingsGiven, unmade });
            ({ edited, made, refused } = editWhatCanBeMade(file, text, decided.proposals, now, check));
        }
        const refusals = [...refusedCas, ...refused].map((r) => r.text);
        const exposedKeys = (deployed.plainKeyOutputs ?? []).map(
            (output) =>
                `stack output ${output} holds a private key in plain text (read without --show-secrets, a secret shows as "[secret]"): ` +
                `anyone who can read the stack's outputs has it. Wrap it in pulumi.secret() in the program, and replace the key`,
        );
        const needsHuman = [...exposedKeys, ...decided.needsHuman, ...refusals];
        const decision: LifecycleDecision = { ...decided, proposals: made, needsHuman };
        const written = values.write === true && edited !== undefined;
        if (written && edited !== undefined) writeInPlace(file, text, edited.text);
        const diff =
            edited === undefined
                ? undefined
                : diffMarkdown(
                      diffPlans(planPki(config, { now }), planPki(edited.config, { now })),
                      config.environment,
                  );
        const markdown = lifecycleMarkdown({
            environment: config.environment,
            stackFile: path.relative(process.cwd(), file) || file,
            now,
            decision,
            written,
            ...(diff !== undefined ? { diff } : {}),
        });
        if (format === "json") {
            out(
                JSON.stringify(
                    {
                        changed: written,
                        markdown,
                        republishCrls: decision.republishCrls,
                        republishBlockedBy: decision.republishBlockedBy,
                        needsHuman,
                        proposals: decision.proposals.map((p) => ({
                            ...p,
                            edits: p.edits.map((e) => ({
                                key: e.path.join("."),
                                from: e.from ?? null,
                                to: e.to ?? null,
                            })),
                        })),
                        republishWhy: decision.republishWhy,
                        afterRepublish: decision.afterRepublish,
                        waiting: decision.waiting,
                        pending: decision.pending,
                    },
                    null,
                    2,
                ) + "\n",
            );
        } else {
            out(markdown);
        }
        return needsHuman.length > 0 ? 1 : 0;
    },
};
