// @ts-check
/**
 * The sticky pull-request comments of the certificate review, run by the "certificate comment"
 * workflow (actions/github-script) from the default branch's copy of this file.
 *
 * It reads the artifact of a finished "certificate diff" run (pull request, unprivileged: its
 * content is whatever the pull request's code wrote) or "certificate preview" run (privileged,
 * default branch) as DATA: only the expected files, regular files under the artifact folder, of a
 * bounded size and the expected shape; text is neutralised before it goes into Markdown; nothing
 * in it is executed, used as a path or trusted to name the pull request without checking it
 * against GitHub. Which stacks a pull request changes comes from GitHub's list of its files, so a
 * run that failed before writing anything still gets a comment per stack. Whether it changes the
 * program comes from that list and the artifact: either one saying so is enough (the artifact can
 * only add the warning), and a list GitHub cut short counts as a change.
 *
 * One comment per stack and pull request, found by a hidden marker on its first line among the
 * comments of this workflow's bot, and edited in place.
 */
"use strict";
const fs = require("fs");
const path = require("path");

const STACK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const STACK_FILE = /^stacks\/Pulumi\.([^]*)\.yaml$/;
/**
 * Files that are not the program: stack files (diffed one by one) and documentation (docs/, and
 * .md files in no folder named *.md). Any other file may change what runs: under stacks/ too,
 * where a Pulumi.yaml would be a project of its own, also in a folder (stacks/Pulumi.a/Pulumi.yaml);
 * and in a folder named like a document (lib/x.md/main.ts). The README's CODEOWNERS example owns
 * every file but these (workflow.test checks they agree).
 */
const NOT_PROGRAM_FILE = /^stacks\/Pulumi\.[^/]*\.yaml$|^docs\/|^(?![^]*\.md\/)[^]*\.md$/;

/** Whether a change to these files (paths in the repository) changes the program, not only stacks or documents. */
const programChangedIn = (filenames) => filenames.some((f) => !NOT_PROGRAM_FILE.test(f));
const SHA = /^[0-9a-f]{40}$/;
/** The most files GitHub lists for a pull request (pulls.listFiles, in path order): the rest are left out. */
const MAX_LISTED_FILES = 3000;
const DIFF_OUTCOMES = ["changes", "new", "risky", "refused", "invalid", "removed", "crash"];
const PREVIEW_OUTCOMES = ["ok", "failed", "removed"];
const MAX_FILE_BYTES = 256 * 1024;
const MAX_STACKS = 200;
/** Characters of each text kept in a comment (GitHub refuses comments over 65,536); cut beyond, with a note. */
const LIMITS = { markdown: 45000, message: 3000, inventory: 8000 };
/** GitHub's limit on a comment's length, less room for a longer preview part later (withPreview). */
const COMMENT_MAX = 65536 - 1000;
/**
 * The longest trust picture shown (Mermaid's default maxTextSize: it refuses to draw a longer
 * text). A picture is never cut, since a cut one does not draw: one too long is left out.
 */
const MAX_PICTURE = 50000;
/**
 * The most section headings of the diff's Markdown a result may list (`sections`), and their
 * longest: the diff writes about a dozen, each shorter. Bounded, since the comment names them.
 */
const MAX_SECTIONS = 30;
const MAX_SECTION_LENGTH = 80;
/** Where a result's whole texts are, in the artifact (cert-diff.yml copies them there). */
const FULL_FILES = { markdown: "diff.md", message: "error.txt", inventory: "inventory.md", mermaid: "picture.mmd" };
const DIFF_WORKFLOW = ".github/workflows/cert-diff.yml";
const PREVIEW_WORKFLOW = ".github/workflows/preview.yml";
/** The author of comments made with the workflow's GITHUB_TOKEN. */
const BOT = "github-actions[bot]";

const marker = (/** @type {string} */ stack) => `<!-- apic-istio-pki:cert-diff:${stack} -->`;
const SKIPPED_MARKER = "<!-- apic-istio-pki:skipped-stack-files -->";
const PREVIEW_OPEN = /<!-- apic-istio-pki:preview(?: sha=([0-9a-f]{40}) outcome=([a-z]+) run=([0-9]+))? -->/;
const PREVIEW_CLOSE = "<!-- /apic-istio-pki:preview -->";

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Text from the artifact made safe to place in Markdown: no control characters, no HTML comment
 * (so it cannot fake this workflow's markers), no @mention (so it cannot ping people).
 * @param {string} text
 */
function neutralize(text) {
    return (
        text
            // eslint-disable-next-line no-control-regex -- stripping control characters is the point
            .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "")
            .replace(/<!--/g, "&lt;!--")
            .replace(/@(?=[A-Za-z0-9])/g, "@\u200b")
    );
}

/**
 * The diff's Markdown, which GitHub renders, carries config text from the pull request (e.g.
 * pki:organization): besides neutralize, no raw HTML (a `<details>` could hide the risks), no
 * link or image (a "[approve](https://...)" in the bot's name), and nothing GitHub links by
 * itself: a URL (`https://`, `www.`) or a reference to an issue or pull request (`#1`, `GH-1`,
 * `owner/repo#1`). GitHub finds those in the rendered text, where a backslash is gone: a
 * zero-width space breaks them (a reference the diff writes itself, such as istio/istio#61073,
 * stays readable, unlinked). No character reference either ("&#x202E;" would become a
 * right-to-left override): an "&" the diff has not escaped ("\\&") is written "&amp;". The diff
 * writes no HTML or link, and escapes the emphasis characters and "&" of the values it inserts.
 * @param {string} text
 */
function renderedMarkdown(text) {
    // "&" first: neutralize writes "<!--" as "&lt;!--", whose "&" is the comment's own. A "<" the
    // diff escaped with a backslash (lib/cli/format.ts markdownText) becomes "&lt;" too, the
    // backslash dropped: kept, it would escape the "&" of "&lt;", which GitHub would show as written.
    const escapedLess = /(?<=(?:^|[^\\])(?:\\\\)*)\\</g;
    return neutralize(text.replace(/(?<!(?:^|[^\\])(?:\\\\)*\\)&/g, "&amp;").replace(escapedLess, "&lt;"))
        .replace(/</g, "&lt;")
        .replace(/\[/g, "\\[")
        .replace(/:\/\//g, ":\u200b//")
        .replace(/www\./gi, "www\u200b.")
        .replace(/(#|\bGH-)(?=\d)/gi, "$1\u200b");
}

/**
 * The text up to the end of its last line that fits in `limit` characters (never mid-line, so
 * never mid-row of a table); the text itself when it fits.
 * @param {string} text @param {number} limit
 */
function cutAtLine(text, limit) {
    if (text.length <= limit) return text;
    const end = text.lastIndexOf("\n", limit);
    return end < 0 ? "" : text.slice(0, end);
}

/** The section headings of Markdown: its lines starting with "### ", without it. @param {string} text */
const headingsOf = (text) =>
    text
        .split("\n")
        .filter((line) => line.startsWith("### "))
        .map((line) => line.slice(4));

/** A heading the comment may name: text of bounded length. @param {unknown} h @returns {h is string} */
const isSectionName = (h) => typeof h === "string" && h.length <= MAX_SECTION_LENGTH;

/**
 * Where the artifact keeps the whole of a cut text, said in Markdown: `full/<stack>/<file>` when
 * it is there (a regular file inside the artifact), else that the artifact does not hold it.
 * @param {string} stack @param {string} file @param {boolean} present @param {string} what
 */
function wholeTextAt(stack, file, present, what) {
    return present
        ? `The whole ${what} is \`full/${stack}/${file}\` in the run's \`cert-diff\` artifact.`
        : `The run's \`cert-diff\` artifact does not hold the whole ${what} (no \`full/${stack}/${file}\`).`;
}

/** @param {number | undefined} length @param {string} text */
const lengthText = (length, text) =>
    length !== undefined ? `${length} characters` : `${text.length} characters or more`;

/**
 * The diff's Markdown (rendered) cut to `limit` at a line's end, and a note saying exactly what is
 * missing: the section cut short, the sections left out (from the result's `sections`, checked;
 * else the headings of the artifact's text, which may stop short), the whole length, and where
 * the whole text is.
 * @param {string} text @param {number} limit
 * @param {{ stack: string, length?: number, sections?: string[], full: boolean }} about
 */
function cutMarkdown(text, limit, about) {
    const kept = cutAtLine(text, limit);
    if (kept === text) return text;
    const shown = headingsOf(kept).length;
    const known = about.sections ?? headingsOf(text).filter(isSectionName).slice(0, MAX_SECTIONS);
    const name = (/** @type {string} */ h) => inlineCode(neutralize(h));
    const rest = text.slice(kept.length).replace(/^\n+/, "");
    const cutShort = shown > 0 && !rest.startsWith("### ") ? known[shown - 1] : undefined;
    const leftOut = known.slice(shown);
    // Without the list, the headings past what the artifact's stack file keeps are unknown.
    const more = about.sections === undefined;
    const note = [
        `*The diff's Markdown (${lengthText(about.length, text)}) is cut here, at the end of a line, to fit this comment.`,
        ...(cutShort !== undefined ? [`Cut short: ${name(cutShort)}.`] : []),
        leftOut.length > 0
            ? `Left out: ${leftOut.map(name).join(", ")}${more ? ", and maybe more (the artifact lists no sections)" : ""}.`
            : more
              ? "Left out: any sections after the cut (the artifact lists none)."
              : "No section is left out.",
        `${wholeTextAt(about.stack, FULL_FILES.markdown, about.full, "text")}*`,
    ].join(" ");
    return `${kept}\n\n${note}`;
}

/**
 * A fenced code block that the text cannot close: the fence is longer than any run of backticks in it.
 * @param {string} text @param {string} [info]
 */
function fence(text, info = "") {
    const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
    const bar = "`".repeat(Math.max(3, longest + 1));
    return `${bar}${info}\n${text.replace(/\n+$/, "")}\n${bar}`;
}

/**
 * Inline code that the text cannot close, on one line.
 * @param {string} text
 */
function inlineCode(text) {
    const line = text.replace(/\n/g, "\\n");
    const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length));
    const tick = "`".repeat(longest + 1);
    const pad = line.startsWith("`") || line.endsWith("`") ? " " : "";
    return `${tick}${pad}${line}${pad}${tick}`;
}

/**
 * A JSON file of the artifact: a regular file inside the folder (no link), of bounded size.
 * @param {string} root the artifact folder
 * @param {string} relative
 * @returns {{ value: unknown } | { problem: string }}
 */
function readJson(root, relative) {
    const file = path.join(root, relative);
    let stat;
    try {
        stat = fs.lstatSync(file);
    } catch {
        return { problem: `${relative} is missing` };
    }
    if (!stat.isFile()) return { problem: `${relative} is not a regular file` };
    if (stat.size > MAX_FILE_BYTES) return { problem: `${relative} is larger than ${MAX_FILE_BYTES} bytes` };
    const real = fs.realpathSync(file);
    if (!real.startsWith(fs.realpathSync(root) + path.sep)) return { problem: `${relative} is outside the artifact` };
    try {
        return { value: JSON.parse(fs.readFileSync(real, "utf8")) };
    } catch {
        return { problem: `${relative} is not JSON` };
    }
}

/**
 * A regular file inside the artifact folder (no link, nothing outside it): only looked for, never read.
 * @param {string} root @param {string} relative
 */
function isArtifactFile(root, relative) {
    const file = path.join(root, relative);
    const stat = fs.lstatSync(file, { throwIfNoEntry: false });
    return stat !== undefined && stat.isFile() && fs.realpathSync(file).startsWith(fs.realpathSync(root) + path.sep);
}

/**
 * `mermaidLength`: the whole picture's length; `full`: which whole texts the artifact holds
 * (full/<stack>/<FULL_FILES[key]>).
 * @typedef {{ stack: string, outcome: string, exitCode: number, markdown: string, message: string, inventory: string, mermaid: string,
 *   mermaidLength?: number, full?: Partial<Record<keyof typeof FULL_FILES, boolean>> }} DiffResult
 * @typedef {{ pr?: number, headSha?: string, programChanged?: boolean }} DiffMeta
 * @typedef {{ results: Map<string, DiffResult>, meta: DiffMeta, problems: string[] }} DiffArtifact
 */

/**
 * One stack's result, checked; undefined with a problem when it is not what the diff job writes.
 * `hasFull` says whether the artifact holds a whole text (full/<stack>/<file>). The lengths and
 * `sections` are optional (a run of an older workflow has none): one of the wrong shape is ignored.
 * @param {unknown} value @param {string} stack @param {(file: string) => boolean} [hasFull]
 * @returns {{ result: DiffResult } | { problem: string }}
 */
function checkDiffResult(value, stack, hasFull = () => false) {
    if (!isObject(value)) return { problem: `stacks/${stack}.json is not an object` };
    if (value.stack !== stack) return { problem: `stacks/${stack}.json names another stack` };
    if (typeof value.outcome !== "string" || !DIFF_OUTCOMES.includes(value.outcome)) {
        return { problem: `stacks/${stack}.json has an unknown outcome` };
    }
    const exitCode = value.exitCode;
    if (typeof exitCode !== "number" || !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
        return { problem: `stacks/${stack}.json has no exit status from 0 to 255` };
    }
    /** @param {string} key @returns {number | undefined} */
    const lengthOf = (key) => {
        const length = value[`${key}Length`];
        return typeof length === "number" && Number.isInteger(length) && length >= 0 ? length : undefined;
    };
    const full = Object.fromEntries(Object.entries(FULL_FILES).map(([key, file]) => [key, hasFull(file)]));
    const sections = value.sections;
    const about = {
        stack,
        length: lengthOf("markdown"),
        sections:
            Array.isArray(sections) && sections.length <= MAX_SECTIONS && sections.every(isSectionName)
                ? sections
                : undefined,
        full: full.markdown,
    };
    /** @type {Record<string, string>} */
    const texts = {};
    for (const key of /** @type {(keyof typeof LIMITS)[]} */ (Object.keys(LIMITS))) {
        const text = value[key] ?? "";
        if (typeof text !== "string") return { problem: `stacks/${stack}.json: ${key} is not text` };
        // The diff's Markdown and the inventory's table are rendered in the comment: no HTML, link
        // or image of theirs may reach it. The message goes into a code block: its note is plain text.
        if (key === "markdown") {
            texts[key] = cutMarkdown(renderedMarkdown(text), LIMITS[key], about);
            continue;
        }
        const shown = key === "message" ? neutralize(text) : renderedMarkdown(text);
        const kept = cutAtLine(shown, LIMITS[key]);
        const length = lengthText(lengthOf(key), text);
        texts[key] =
            kept === shown
                ? shown
                : key === "message"
                  ? `${kept}\n\n… (cut at the end of a line: the message is ${length}. ${full.message ? `The whole message is full/${stack}/${FULL_FILES.message} in the run's cert-diff artifact.` : `The run's cert-diff artifact does not hold the whole message (no full/${stack}/${FULL_FILES.message}).`})`
                  : `${kept}\n\n*The inventory (${length}) is cut here, at the end of a line, to fit this comment. ${wholeTextAt(stack, FULL_FILES.inventory, full.inventory, "table")}*`;
    }
    const mermaid = value.mermaid ?? "";
    if (typeof mermaid !== "string") return { problem: `stacks/${stack}.json: mermaid is not text` };
    return {
        result: {
            stack,
            outcome: value.outcome,
            exitCode,
            markdown: texts.markdown,
            message: texts.message,
            inventory: texts.inventory,
            // Neutralised like the rest, whole or not at all (diffBody says why it is left out).
            mermaid: neutralize(mermaid),
            ...(lengthOf("mermaid") !== undefined ? { mermaidLength: lengthOf("mermaid") } : {}),
            full,
        },
    };
}

/**
 * The "certificate diff" artifact (`<root>/meta.json`, `<root>/stacks/<stack>.json`), checked.
 * @param {string | undefined} root
 * @returns {DiffArtifact}
 */
function readDiffArtifact(root) {
    /** @type {DiffArtifact} */
    const artifact = { results: new Map(), meta: {}, problems: [] };
    if (root === undefined || !fs.existsSync(root)) {
        artifact.problems.push("the run left no artifact");
        return artifact;
    }
    const meta = readJson(root, "meta.json");
    if ("value" in meta && isObject(meta.value)) {
        const { pr, headSha, programChanged } = meta.value;
        if (typeof pr === "number" && Number.isInteger(pr) && pr > 0) artifact.meta.pr = pr;
        if (typeof headSha === "string" && SHA.test(headSha)) artifact.meta.headSha = headSha;
        if (typeof programChanged === "boolean") artifact.meta.programChanged = programChanged;
    } else {
        artifact.problems.push("problem" in meta ? meta.problem : "meta.json is not an object");
    }
    const stacksDir = path.join(root, "stacks");
    const dirStat = fs.lstatSync(stacksDir, { throwIfNoEntry: false });
    if (dirStat === undefined || !dirStat.isDirectory()) return artifact;
    const names = fs.readdirSync(stacksDir).sort();
    for (const name of names.slice(0, MAX_STACKS)) {
        const stack = name.replace(/\.json$/, "");
        if (!name.endsWith(".json") || !STACK_NAME.test(stack)) continue;
        const read = readJson(root, `stacks/${name}`);
        const hasFull = (/** @type {string} */ file) => isArtifactFile(root, `full/${stack}/${file}`);
        const checked = "value" in read ? checkDiffResult(read.value, stack, hasFull) : read;
        if ("result" in checked) artifact.results.set(stack, checked.result);
        else artifact.problems.push(checked.problem);
    }
    if (names.length > MAX_STACKS) artifact.problems.push(`more than ${MAX_STACKS} results; the rest were ignored`);
    return artifact;
}

/**
 * @typedef {{ stack: string, outcome: string, exitCode: number }} PreviewResult
 * @typedef {{ pr?: number, headSha?: string, results: PreviewResult[], problems: string[] }} PreviewArtifact
 */

/**
 * The "certificate preview" artifact (`<root>/meta.json` with pr, headSha and stacks), checked.
 * @param {string | undefined} root
 * @returns {PreviewArtifact}
 */
function readPreviewArtifact(root) {
    /** @type {PreviewArtifact} */
    const artifact = { results: [], problems: [] };
    const meta = root !== undefined && fs.existsSync(root) ? readJson(root, "meta.json") : { problem: "no artifact" };
    if (!("value" in meta) || !isObject(meta.value)) {
        artifact.problems.push("problem" in meta ? meta.problem : "meta.json is not an object");
        return artifact;
    }
    const { pr, headSha, stacks } = meta.value;
    if (typeof pr === "number" && Number.isInteger(pr) && pr > 0) artifact.pr = pr;
    if (typeof headSha === "string" && SHA.test(headSha)) artifact.headSha = headSha;
    if (!isObject(stacks)) return artifact;
    for (const [stack, value] of Object.entries(stacks).slice(0, MAX_STACKS)) {
        if (!STACK_NAME.test(stack) || !isObject(value)) continue;
        const { outcome, exitCode } = value;
        if (typeof outcome !== "string" || !PREVIEW_OUTCOMES.includes(outcome)) continue;
        if (typeof exitCode !== "number" || !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) continue;
        artifact.results.push({ stack, outcome, exitCode });
    }
    return artifact;
}

/**
 * This workflow's comment for a stack: made by the bot, the marker on its first line.
 * @template {{ body?: string | null, user?: { login?: string, type?: string } | null }} C
 * @param {readonly C[]} comments @param {string} firstLine
 * @returns {C | undefined}
 */
function findComment(comments, firstLine) {
    return comments.find(
        (c) =>
            c.user?.login === BOT &&
            c.user?.type === "Bot" &&
            typeof c.body === "string" &&
            c.body.startsWith(`${firstLine}\n`),
    );
}

/**
 * The preview part of a comment: what the last privileged preview of this stack said, kept
 * between updates of the diff part; its facts live in the opening marker.
 * @param {{ sha: string, outcome: string, runId: string } | undefined} preview
 * @param {{ serverUrl: string, repository: string, headSha: string }} where
 */
function previewSection(preview, where) {
    if (preview === undefined) {
        return [
            "<!-- apic-istio-pki:preview -->",
            "**Preview:** not run. A maintainer can run the *certificate preview* workflow with this pull request's number and the commit of its head they read: it previews that commit's stack files with the default branch's program, once a reviewer approves the `pulumi-preview` environment.",
            PREVIEW_CLOSE,
        ].join("\n");
    }
    const said = {
        ok: "succeeded",
        failed: "failed: see the run",
        removed: "not run, the stack file is deleted",
    }[preview.outcome];
    const older =
        preview.sha !== where.headSha
            ? ` The pull request has changed since (now at ${where.headSha.slice(0, 7)}).`
            : "";
    return [
        `<!-- apic-istio-pki:preview sha=${preview.sha} outcome=${preview.outcome} run=${preview.runId} -->`,
        `**Preview:** [pulumi preview of commit ${preview.sha.slice(0, 7)}](${where.serverUrl}/${where.repository}/actions/runs/${preview.runId}) ${said}.${older}`,
        PREVIEW_CLOSE,
    ].join("\n");
}

/** @param {string | undefined} body */
function previewOf(body) {
    const match = PREVIEW_OPEN.exec(body ?? "");
    return match?.[1] !== undefined && PREVIEW_OUTCOMES.includes(match[2])
        ? { sha: match[1], outcome: match[2], runId: match[3] }
        : undefined;
}

const STATUS = {
    changes: () => "",
    new: () => "**New stack.** Everything below is created by its first `pulumi up`.",
    risky: () => "**Risky: the check fails** (`diff --fail-on risky` exited 1). Read the risks below before approving.",
    refused: () =>
        "**Refused** (`diff` exited 1): `pulumi up` would refuse this change, or it breaks something with no way back. The reason and the way that works are below.",
    invalid: (/** @type {DiffResult} */ r) =>
        `**Invalid stack file** (exit ${r.exitCode}): \`pulumi up\` would stop with:\n\n${fence(r.message)}`,
    // The deployed stack is not touched by deleting its file, but the scheduled lifecycle
    // (lifecycle.yml) works only on the default branch's stack files: the diff job cannot know when
    // the stack's CRLs were last published (no state, no secret), so no date is given.
    removed: (/** @type {DiffResult} */ r) =>
        `**Stack file deleted: the check fails.** No workflow runs \`pulumi destroy\`, and once this is merged the scheduled lifecycle stops watching stack \`${r.stack}\`, which stays deployed: its renewals, CRL re-publication and expiry alerts end, and its CRLs lapse within the CRL validity after their last re-publication; from then on the gateway refuses every client. Destroy the stack first (\`pulumi destroy --stack ${r.stack}\`), then delete its file; or keep the file. Approve this only knowingly.`,
    crash: (/** @type {DiffResult} */ r) =>
        `**The diff failed** (exit ${r.exitCode}):\n\n${fence(r.message)}\n\nRe-run the workflow; if it fails again, report it as a bug of the diff.`,
};

/**
 * The whole comment for one stack. `listCut`: GitHub listed `listed` of the pull request's files,
 * fewer than its count (`total`), the most it lists, or with no count (`total` unknown: reading
 * the pull request failed), so the program is taken as changed.
 * @param {{ stack: string, result?: DiffResult, problems?: string[], changed: boolean, programChanged: boolean,
 *   listCut?: { listed: number, total?: number }, runUrl: string, conclusion: string, headSha: string, preview: string }} args
 */
function diffBody(args) {
    const { stack, result } = args;
    const parts = [`${marker(stack)}\n### Certificate review: stack \`${stack}\``];
    if (!args.changed) {
        parts.push(
            `This pull request no longer changes this stack (as of commit ${args.headSha.slice(0, 7)}, [run](${args.runUrl})).`,
        );
    } else if (result === undefined) {
        const problems = (args.problems ?? []).map(neutralize);
        parts.push(
            `**No result for this stack.** The certificate diff run ended (${args.conclusion}) without one: see [the run](${args.runUrl}).` +
                (problems.length > 0 ? ` What the artifact lacked: ${problems.join("; ")}.` : ""),
        );
    } else {
        const status = STATUS[/** @type {keyof typeof STATUS} */ (result.outcome)](result);
        if (status !== "") parts.push(status);
        if (args.listCut !== undefined) {
            const { listed, total } = args.listCut;
            const unchecked =
                total !== undefined && total > listed
                    ? `GitHub listed only ${listed} of its ${total} files, so the file list was truncated and the program could not be checked`
                    : listed >= MAX_LISTED_FILES
                      ? `GitHub listed ${listed} files, the most it lists, so the file list was truncated and the program could not be checked`
                      : `GitHub listed ${listed} files but did not say how many it has, so the file list could not be checked, nor the program`;
            parts.push(
                `> This pull request may also change the program: ${unchecked}. Take it as changed: the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.`,
            );
        } else if (args.programChanged) {
            parts.push(
                "> This pull request also changes the program (a file other than stack files and documents): the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.",
            );
        }
        if (result.markdown.trim() !== "") parts.push(result.markdown.trim());
        const inventory =
            result.inventory.trim() === ""
                ? []
                : [
                      `<details><summary>Every certificate of the stack after this change</summary>\n\n${result.inventory.trim()}\n\n</details>`,
                  ];
        if (result.mermaid.trim() !== "") {
            // Shown whole or left out: GitHub refuses a longer comment, and a cut picture does not draw.
            const picture = pictureSection(result.mermaid);
            const length = [...parts, picture, ...inventory, footer(args)].join("\n\n").length;
            const whole = lengthText(result.mermaidLength, result.mermaid);
            parts.push(
                result.mermaid.length <= MAX_PICTURE && length <= COMMENT_MAX
                    ? picture
                    : `*The trust picture (${whole}) is too long for this comment, so it is left out. ${wholeTextAt(stack, FULL_FILES.mermaid, result.full?.mermaid === true, "picture")}*`,
            );
        }
        parts.push(...inventory);
    }
    parts.push(footer(args));
    return parts.join("\n\n");
}

/**
 * The end of a stack's comment: the commit and run, then the preview part.
 * @param {{ headSha: string, runUrl: string, preview: string }} args
 */
function footer(args) {
    return `<sub>Commit ${args.headSha.slice(0, 7)} · [certificate diff run](${args.runUrl})</sub>\n\n${args.preview}`;
}

/**
 * The trust hierarchy after the change, drawn by GitHub from a mermaid block the text cannot close
 * (`fence`); what the change adds, replaces and removes is highlighted in it.
 * @param {string} mermaid
 */
function pictureSection(mermaid) {
    return `<details open><summary>Trust hierarchy after this change: added, replaced and removed certificates highlighted</summary>\n\n${fence(mermaid, "mermaid")}\n\n</details>`;
}

/**
 * The body of a comment with its preview part replaced.
 * @param {string} body @param {string} preview
 */
function withPreview(body, preview) {
    const start = body.search(PREVIEW_OPEN);
    const end = body.indexOf(PREVIEW_CLOSE);
    return start >= 0 && end > start
        ? body.slice(0, start) + preview + body.slice(end + PREVIEW_CLOSE.length)
        : `${body}\n\n${preview}`;
}

/**
 * @param {{ stack?: string, names: string[], runUrl: string }} args
 */
function skippedBody(args) {
    const list = args.names.map((name) => `- ${inlineCode(neutralize(name))}`);
    return [
        SKIPPED_MARKER,
        "### Certificate review: files skipped",
        list.length > 0
            ? `These files under \`stacks/\` are not named \`stacks/Pulumi.<stack>.yaml\` with a stack name of letters, digits, \`.\`, \`_\` or \`-\`, so no workflow reads them ([run](${args.runUrl})):\n\n${list.join("\n")}`
            : `None any more ([run](${args.runUrl})).`,
    ].join("\n\n");
}

/**
 * @typedef {{ sha: string, repository: string, branch: string }} RunHead
 * @typedef {{ pr: any } | { reason: string }} RunPullRequest
 */

/**
 * The pull request the run ran for: the one open pull request of this repository whose head is the
 * run's (GitHub's workflow_run head_sha, head_repository and head_branch, never the artifact's). A
 * commit alone does not tie a pull request to the run: anyone can push another's commit to a fork
 * and open a pull request at it. `candidates` (the run's pull requests, then the artifact's `pr`)
 * are checked, never trusted: one of another head cannot be the run's and is passed over; one of
 * the run's head that is closed or has moved on means the run's pull request is gone or outdated,
 * and another one of the same branch (against another base) must not get its result, so nothing
 * is written. Nor when several open pull requests have the run's head: the run cannot tell which.
 * @param {any} github @param {{ owner: string, repo: string }} repo @param {RunHead} head @param {number[]} candidates
 * @returns {Promise<RunPullRequest>}
 */
async function pullRequestOfRun(github, repo, head, candidates) {
    const ofRunHead = (/** @type {any} */ pr) =>
        pr.base?.repo?.full_name === `${repo.owner}/${repo.repo}` &&
        pr.head?.repo?.full_name === head.repository &&
        pr.head?.ref === head.branch;
    const atRun = (/** @type {any} */ pr) => pr.state === "open" && ofRunHead(pr) && pr.head?.sha === head.sha;
    const runHead = `${head.repository}:${head.branch} at ${head.sha}`;
    for (const number of new Set(candidates)) {
        let data;
        try {
            ({ data } = await github.rest.pulls.get({ ...repo, pull_number: number }));
        } catch {
            continue; // not a pull request of this repository, or GitHub did not answer: the search decides
        }
        if (ofRunHead(data) && !atRun(data)) {
            const now = data.state === "open" ? `now at ${String(data.head?.sha)}` : String(data.state);
            return { reason: `Pull request #${number} of the run's head ${runHead} is ${now}: nothing to comment.` };
        }
    }
    /** @type {any[]} */
    const open = await github.paginate(github.rest.pulls.list, { ...repo, state: "open", per_page: 100 });
    const matches = open.filter(atRun);
    if (matches.length === 1) return { pr: matches[0] };
    return {
        reason:
            matches.length === 0
                ? `No open pull request has the run's head ${runHead}: nothing to comment.`
                : `Pull requests ${matches.map((pr) => `#${Number(pr.number)}`).join(", ")} all have the run's head ${runHead}: which one the run was for is unknown, so nothing is written.`,
    };
}

/**
 * The pull request as GitHub has it now, read again after its files were listed: its head (a
 * push meanwhile makes the list another commit's) and how many files it changes (pulls.list
 * does not count them); undefined when GitHub does not answer.
 * @param {any} github @param {{ owner: string, repo: string }} repo @param {number} number
 * @returns {Promise<{ headSha: unknown, fileCount: number | undefined } | undefined>}
 */
async function pullRequestNow(github, repo, number) {
    let data;
    try {
        ({ data } = await github.rest.pulls.get({ ...repo, pull_number: number }));
    } catch {
        return undefined;
    }
    const count = data.changed_files;
    return {
        headSha: data.head?.sha,
        fileCount: typeof count === "number" && Number.isInteger(count) && count >= 0 ? count : undefined,
    };
}

/** @param {any} github @param {{ owner: string, repo: string }} repo @param {number} number */
async function botComments(github, repo, number) {
    /** @type {any[]} */
    const comments = await github.paginate(github.rest.issues.listComments, {
        ...repo,
        issue_number: number,
        per_page: 100,
    });
    return comments.filter((c) => c.user?.login === BOT);
}

/** @param {any} github @param {{ owner: string, repo: string }} repo @param {number} number @param {any} existing @param {string} body */
async function upsert(github, repo, number, existing, body) {
    if (existing === undefined) await github.rest.issues.createComment({ ...repo, issue_number: number, body });
    else if (existing.body !== body) await github.rest.issues.updateComment({ ...repo, comment_id: existing.id, body });
}

/**
 * The entry point the workflow calls.
 * @param {{ github: any, context: any, core: any, artifactDir: string }} args
 */
async function run({ github, context, core, artifactDir }) {
    const runEvent = context.payload.workflow_run;
    const repository = context.payload.repository;
    const repo = context.repo;
    const serverUrl = context.serverUrl ?? "https://github.com";
    const runUrl = `${serverUrl}/${repository.full_name}/actions/runs/${Number(runEvent.id)}`;
    if (runEvent.path === DIFF_WORKFLOW && runEvent.event === "pull_request") {
        return commentDiff({
            github,
            core,
            repo,
            runEvent,
            runUrl,
            serverUrl,
            artifactDir: path.join(artifactDir, "cert-diff"),
        });
    }
    if (
        runEvent.path === PREVIEW_WORKFLOW &&
        runEvent.event === "workflow_dispatch" &&
        runEvent.head_branch === repository.default_branch &&
        runEvent.head_repository?.full_name === repository.full_name
    ) {
        return commentPreview({
            github,
            core,
            repo,
            runEvent,
            serverUrl,
            artifactDir: path.join(artifactDir, "cert-preview"),
        });
    }
    core.info(`Nothing to comment for ${runEvent.path} on ${runEvent.event}.`);
}

/** @param {{ github: any, core: any, repo: { owner: string, repo: string }, runEvent: any, runUrl: string, serverUrl: string, artifactDir: string }} args */
async function commentDiff({ github, core, repo, runEvent, runUrl, serverUrl, artifactDir }) {
    const headSha = String(runEvent.head_sha);
    const headRepository = runEvent.head_repository?.full_name;
    const headBranch = runEvent.head_branch;
    if (typeof headRepository !== "string" || typeof headBranch !== "string") {
        core.info("The run names no head repository and branch: nothing to comment.");
        return;
    }
    const artifact = readDiffArtifact(artifactDir);
    const candidates = [...(runEvent.pull_requests ?? []).map((/** @type {any} */ p) => Number(p.number))];
    if (artifact.meta.pr !== undefined) candidates.push(artifact.meta.pr);
    const head = { sha: headSha, repository: headRepository, branch: headBranch };
    const found = await pullRequestOfRun(github, repo, head, candidates);
    if ("reason" in found) {
        core.info(found.reason);
        return;
    }
    const number = found.pr.number;
    /** @type {any[]} */
    const files = await github.paginate(github.rest.pulls.listFiles, { ...repo, pull_number: number, per_page: 100 });
    const now = await pullRequestNow(github, repo, number);
    if (now !== undefined && now.headSha !== headSha) {
        core.info(
            `Pull request #${number} moved on from ${headSha} while its files were listed: a newer run will comment.`,
        );
        return;
    }
    // GitHub lists a renamed file once, under its new name: its old path changed too (a stack file
    // renamed is one deleted, whose stack gets its comment).
    const paths = files.flatMap((f) =>
        [f.filename, ...(typeof f.previous_filename === "string" ? [f.previous_filename] : [])].map(String),
    );
    const stackFiles = paths.filter((f) => STACK_FILE.test(f));
    const named = stackFiles.map((f) => STACK_FILE.exec(f)?.[1] ?? "");
    const changedStacks = named.filter((s) => STACK_NAME.test(s));
    const skipped = stackFiles.filter((_, i) => !STACK_NAME.test(named[i]));
    // GitHub lists at most MAX_LISTED_FILES files: a program file past them is not in `paths`. A
    // list whose length GitHub did not confirm (no count, or no answer) may be such a cut one.
    const total = now?.fileCount;
    const listCut =
        total === undefined || files.length >= MAX_LISTED_FILES || files.length < total
            ? { listed: files.length, total }
            : undefined;
    // The diff job's own git diff (meta.programChanged) sees every file: it may only add the warning.
    const programChanged = programChangedIn(paths) || artifact.meta.programChanged === true || listCut !== undefined;
    // The artifact may add stacks only when the program changed (then every stack is checked).
    const stacks = [...new Set([...changedStacks, ...(programChanged ? artifact.results.keys() : [])])].sort();
    const comments = await botComments(github, repo, number);
    const where = { serverUrl, repository: `${repo.owner}/${repo.repo}`, headSha };
    for (const stack of stacks) {
        const existing = findComment(comments, marker(stack));
        const body = diffBody({
            stack,
            result: artifact.results.get(stack),
            problems: artifact.problems,
            changed: true,
            programChanged,
            listCut,
            runUrl,
            conclusion: String(runEvent.conclusion),
            headSha,
            preview: previewSection(previewOf(existing?.body), where),
        });
        await upsert(github, repo, number, existing, body);
    }
    for (const existing of comments) {
        const stack = /^<!-- apic-istio-pki:cert-diff:([A-Za-z0-9][A-Za-z0-9_.-]{0,62}) -->\n/.exec(
            existing.body ?? "",
        )?.[1];
        if (stack === undefined || stacks.includes(stack)) continue;
        const body = diffBody({
            stack,
            changed: false,
            programChanged,
            runUrl,
            conclusion: String(runEvent.conclusion),
            headSha,
            preview: previewSection(previewOf(existing.body), where),
        });
        await upsert(github, repo, number, existing, body);
    }
    const skippedComment = findComment(comments, SKIPPED_MARKER);
    if (skipped.length > 0 || skippedComment !== undefined) {
        await upsert(github, repo, number, skippedComment, skippedBody({ names: skipped, runUrl }));
    }
    core.info(`Pull request #${number}: ${stacks.length} stack comments up to date.`);
}

/** @param {{ github: any, core: any, repo: { owner: string, repo: string }, runEvent: any, serverUrl: string, artifactDir: string }} args */
async function commentPreview({ github, core, repo, runEvent, serverUrl, artifactDir }) {
    const artifact = readPreviewArtifact(artifactDir);
    if (artifact.pr === undefined || artifact.headSha === undefined) {
        core.info(
            `A preview of the default branch, or no artifact (${artifact.problems.join("; ")}): nothing to comment.`,
        );
        return;
    }
    const { data: pr } = await github.rest.pulls.get({ ...repo, pull_number: artifact.pr });
    const comments = await botComments(github, repo, pr.number);
    const where = { serverUrl, repository: `${repo.owner}/${repo.repo}`, headSha: String(pr.head.sha) };
    for (const result of artifact.results) {
        const preview = previewSection(
            { sha: artifact.headSha, outcome: result.outcome, runId: String(Number(runEvent.id)) },
            where,
        );
        const existing = findComment(comments, marker(result.stack));
        const body =
            existing !== undefined
                ? withPreview(existing.body, preview)
                : `${marker(result.stack)}\n### Certificate review: stack \`${result.stack}\`\n\nThe certificate diff has not been posted yet.\n\n${preview}`;
        await upsert(github, repo, pr.number, existing, body);
    }
    core.info(`Pull request #${pr.number}: preview of ${artifact.results.length} stacks noted.`);
}

module.exports = {
    run,
    programChangedIn,
    neutralize,
    fence,
    inlineCode,
    readDiffArtifact,
    readPreviewArtifact,
    findComment,
    diffBody,
    previewSection,
    previewOf,
    withPreview,
    skippedBody,
    marker,
    LIMITS,
    MAX_PICTURE,
    MAX_SECTIONS,
    MAX_SECTION_LENGTH,
};
