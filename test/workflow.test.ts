/**
 * The GitHub workflows, checked as a security reviewer would: parsed, every job's secrets and
 * token permissions against what its trigger lets reach it, no expression inside a shell line,
 * actions pinned; then their shell steps replayed with bash on a repository holding hostile file
 * names, and the comment script run against real and hostile artifacts and a fake GitHub API.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { diffPlans } from "../lib/inventory/diff";
import { trustPictureForDiff } from "../lib/inventory/pictures";
import { planFromRawConfig } from "../lib/plan/plan";
import { TEST_ONLY_LEAF_KEY_PEM } from "./fixtures/testOnlyPki";
import { cli, gitRepo, loadStackFileValues, renderStackFile, ROOT, tempDir, writeTemp } from "./helpers";

interface Step {
    name?: string;
    id?: string;
    uses?: string;
    run?: string;
    if?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
}
interface Job {
    name?: string;
    needs?: string | string[];
    if?: string;
    environment?: string;
    permissions?: Record<string, string>;
    env?: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    outputs?: Record<string, string>;
    steps: Step[];
    "timeout-minutes"?: number;
}
interface Workflow {
    file: string;
    text: string;
    name: string;
    on: Record<string, unknown>;
    permissions: Record<string, string>;
    concurrency?: { group: string; "cancel-in-progress": boolean };
    jobs: Record<string, Job>;
}

const WORKFLOWS = path.join(ROOT, ".github/workflows");
const workflows: Workflow[] = fs
    .readdirSync(WORKFLOWS)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((file) => {
        const text = fs.readFileSync(path.join(WORKFLOWS, file), "utf8");
        return { file, text, ...YAML.parse(text) };
    });
const workflow = (file: string): Workflow => {
    const found = workflows.find((w) => w.file === file);
    assert.ok(found, `.github/workflows/${file} exists`);
    return found;
};
const jobsOf = (w: Workflow) => Object.entries(w.jobs);
const allSteps = () =>
    workflows.flatMap((w) => jobsOf(w).flatMap(([name, job]) => job.steps.map((s) => ({ w, name, s }))));

/** Every string inside a value (a job: its if, env, steps, with...). */
const strings = (value: unknown): string[] =>
    typeof value === "string"
        ? [value]
        : Array.isArray(value)
          ? value.flatMap(strings)
          : typeof value === "object" && value !== null
            ? Object.values(value).flatMap(strings)
            : [];
/** The repository or environment secrets a job reads (`secrets.X`, GITHUB_TOKEN aside). */
const secretsOf = (job: Job): string[] => [
    ...new Set(
        strings(job)
            .flatMap((s) => [...s.matchAll(/\$\{\{[^}]*\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))
            .filter((name) => name !== "GITHUB_TOKEN"),
    ),
];
/**
 * A GitHub Actions expression, evaluated as "Evaluate expressions in workflows and actions"
 * (docs.github.com) documents it, as far as the workflows' conditions use it: literals, property
 * paths (a missing property is null), `!`, `==`, `!=`, `&&`, `||`, `( )`, `format()` and the status
 * functions. Anything else throws: a condition this cannot read fails the test, never passes it.
 */
type ExpressionValue = null | boolean | number | string | object;
/** Falsy: false, 0, -0, '', null (and NaN); anything else is truthy. */
const truthy = (v: ExpressionValue) => v !== false && v !== 0 && v !== "" && v !== null && !Number.isNaN(v);
/** GitHub's cast to a string: null is '', booleans and numbers as written; objects are not cast. */
const toText = (v: ExpressionValue): string => {
    assert.ok(typeof v !== "object" || v === null, `${JSON.stringify(v)} is not converted to a string`);
    return v === null ? "" : String(v);
};
function evaluate(expression: string, context: Record<string, unknown>, status: { success: boolean }): ExpressionValue {
    const tokens = [
        ...expression.matchAll(
            /\s*(?:('(?:[^']|'')*')|(-?\d+(?:\.\d+)?)|(==|!=|&&|\|\||[!().,])|([A-Za-z_][\w-]*)|(\S))/gy,
        ),
    ];
    assert.strictEqual(expression, expression.trim());
    let at = 0;
    const peek = () => tokens[at]?.[0].trim();
    const expect = (token: string) => {
        assert.strictEqual(peek(), token, `${expression}: ${token} expected`);
        at++;
    };
    // Loosely typed as GitHub documents: a type mismatch compares as numbers, strings ignore case.
    const toNumber = (v: ExpressionValue): number =>
        v === null || typeof v === "boolean" || typeof v === "number"
            ? Number(v)
            : typeof v === "string"
              ? v === ""
                  ? 0
                  : /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(v)
                    ? Number(v)
                    : NaN
              : NaN;
    const equal = (a: ExpressionValue, b: ExpressionValue): boolean =>
        typeof a === "string" && typeof b === "string"
            ? a.toLowerCase() === b.toLowerCase()
            : typeof a === typeof b && (a === null) === (b === null)
              ? a === b
              : toNumber(a) === toNumber(b);
    const functions: Record<string, (...args: ExpressionValue[]) => ExpressionValue> = {
        always: () => true,
        success: () => status.success,
        failure: () => !status.success,
        cancelled: () => false,
        format: (template, ...args) =>
            toText(template).replace(/\{\{|\}\}|\{(\d+)\}/g, (m, i: string | undefined) => {
                if (i === undefined) return m[0];
                assert.ok(Number(i) < args.length, `${expression}: format has no argument {${i}}`);
                return toText(args[Number(i)]);
            }),
    };
    const primary = (): ExpressionValue => {
        const [, text, number, operator, name, other] = tokens[at++] ?? [];
        assert.strictEqual(other, undefined, `${expression}: ${other} is not read here`);
        if (text !== undefined) return text.slice(1, -1).replace(/''/g, "'");
        if (number !== undefined) return Number(number);
        if (operator === "(") {
            const value = or();
            expect(")");
            return value;
        }
        assert.ok(name, `${expression}: a value expected`);
        if (peek() === "(") {
            assert.ok(name in functions, `${expression}: the function ${name} is not read here`);
            at++;
            const args: ExpressionValue[] = [];
            while (peek() !== ")") {
                if (args.length > 0) expect(",");
                args.push(or());
            }
            at++;
            return functions[name](...args);
        }
        if (name === "true" || name === "false") return name === "true";
        if (name === "null") return null;
        let value = (context[name] ?? null) as ExpressionValue;
        while (peek() === ".") {
            at++;
            const property = tokens[at++]?.[4];
            assert.ok(property, `${expression}: a property name expected`);
            const object = value as Record<string, ExpressionValue> | null;
            value = typeof object === "object" && object !== null ? (object[property] ?? null) : null;
        }
        return value;
    };
    const not = (): ExpressionValue => (peek() === "!" ? (at++, !truthy(not())) : primary());
    const comparison = (): ExpressionValue => {
        let value = not();
        while (peek() === "==" || peek() === "!=") {
            const negate = tokens[at++][0].trim() === "!=";
            value = equal(value, not()) !== negate;
        }
        return value;
    };
    /**
     * `operand (operator operand)*`, left to right, each step keeping the left value when
     * `keepsLeft` of it (GitHub's && and || give an operand, not a boolean).
     */
    const chain =
        (operand: () => ExpressionValue, operator: string, keepsLeft: (left: ExpressionValue) => boolean) =>
        (): ExpressionValue => {
            let value = operand();
            while (peek() === operator) {
                at++;
                const right = operand();
                value = keepsLeft(value) ? value : right;
            }
            return value;
        };
    const and = chain(comparison, "&&", (left) => !truthy(left));
    // Defined before the first read: primary reads parentheses and arguments with it.
    const or = chain(and, "||", truthy);
    const value = or();
    assert.strictEqual(at, tokens.length, `${expression}: read to the end`);
    assert.strictEqual(tokens.map((t) => t[0]).join(""), expression, `${expression}: every character read`);
    return value;
}

/** Whether a job or step runs: its `if`, behind GitHub's default `success()` unless it calls a status function. */
function conditionHolds(
    condition: string | undefined,
    context: Record<string, unknown>,
    status: { success: boolean },
): boolean {
    const expression = (condition ?? "success()")
        .trim()
        .replace(/^\$\{\{([^]*)\}\}$/, "$1")
        .trim();
    const checked = /\b(success|failure|cancelled|always)\s*\(/.test(expression)
        ? expression
        : `success() && (${expression})`;
    return truthy(evaluate(checked, context, status));
}
/** Whether a job runs: success() is true when every job it needs succeeded. */
const jobRuns = (job: Job, context: RunContext): boolean =>
    conditionHolds(job.if, context, {
        success: [job.needs ?? []].flat().every((need) => context.needs?.[need]?.result === "success"),
    });
/** A value with its `${{ }}` expressions evaluated, as GitHub writes it into env. */
const interpolate = (template: string, context: RunContext): string =>
    template.replace(/\$\{\{([^}]*)\}\}/g, (_, expression: string) =>
        toText(evaluate(expression.trim(), context, { success: true })),
    );

/**
 * The contexts of a run as GitHub documents them ("Events that trigger workflows", "Contexts"):
 * github.ref is the branch or tag the run is on, for a schedule always the default branch (main
 * here); github.event is the event's payload, which names the repository for push,
 * workflow_dispatch, workflow_run and pull_request. For a schedule GitHub documents no payload
 * ("Not applicable"), and runs have had no repository in it (ossf/scorecard-action#73,
 * letsencrypt/boulder#6209, github/codeql-action#1211).
 */
interface RunContext extends Record<string, unknown> {
    github: { event_name: string; ref: string; ref_name: string; event: Record<string, unknown> };
    needs?: Record<string, { result: string; outputs?: Record<string, string> }>;
}
const REPOSITORY = { full_name: "bank/pki", default_branch: "main" };
const runContext = (
    event: string,
    ref: string,
    payload: Record<string, unknown> = { repository: REPOSITORY },
): RunContext => ({
    github: { event_name: event, ref, ref_name: ref.replace(/^refs\/(heads|tags|pull)\//, ""), event: payload },
});
const SCHEDULED = runContext("schedule", "refs/heads/main", { schedule: "23 5 * * *" });
const STACK_STEP = "changed stacks";

describe("workflows: who may touch what", function () {
    it("every workflow parses, names itself, sets its token's permissions at the top and limits each job's time", () => {
        assert.deepStrictEqual(
            workflows.map((w) => [w.file, w.name]),
            [
                ["cert-comment.yml", "certificate comment"],
                ["cert-diff.yml", "certificate diff"],
                ["lifecycle.yml", "PKI lifecycle"],
                ["preview.yml", "certificate preview"],
            ],
        );
        for (const w of workflows) {
            assert.ok(w.permissions !== undefined, `${w.file}: top-level permissions`);
            for (const [name, job] of jobsOf(w)) {
                assert.ok((job["timeout-minutes"] ?? 0) > 0, `${w.file} ${name}: timeout-minutes`);
            }
        }
    });

    it("pull_request_target is used nowhere; pull requests reach only the certificate diff", () => {
        assert.deepStrictEqual(
            workflows.map((w) => [w.file, Object.keys(w.on)]),
            [
                ["cert-comment.yml", ["workflow_run"]],
                ["cert-diff.yml", ["pull_request"]],
                ["lifecycle.yml", ["schedule", "workflow_dispatch"]],
                ["preview.yml", ["push", "workflow_dispatch"]],
            ],
        );
        assert.ok(workflows.every((w) => !w.text.includes("pull_request_target")));
        // On every pull request: a required check that a path filter skips stays pending, and blocks the merge.
        assert.deepStrictEqual(workflow("cert-diff.yml").on, { pull_request: null });
    });

    it("every job reachable from a pull request holds no secret, no token with write access and no environment", () => {
        const reachable = workflows.filter((w) => "pull_request" in w.on);
        assert.deepStrictEqual(
            reachable.map((w) => w.file),
            ["cert-diff.yml"],
        );
        for (const w of reachable) {
            assert.deepStrictEqual(w.permissions, { contents: "read" });
            for (const [name, job] of jobsOf(w)) {
                assert.deepStrictEqual(secretsOf(job), [], `${name} reads no secret`);
                assert.ok(!strings(job).some((s) => /github\.token|GITHUB_TOKEN/.test(s)), `${name} passes no token`);
                assert.strictEqual(job.permissions, undefined, `${name} keeps the read-only token`);
                assert.strictEqual(job.environment, undefined);
                for (const step of job.steps.filter((s) => s.uses?.startsWith("actions/checkout@"))) {
                    assert.strictEqual(step.with?.["persist-credentials"], false, "no token left in .git/config");
                }
            }
        }
    });

    it("no ${{ }} expression is written into a shell line or a github-script script: values go through env", () => {
        const offenders = allSteps()
            .filter(({ s }) => (s.run ?? "").includes("${{") || String(s.with?.script ?? "").includes("${{"))
            .map(({ w, name, s }) => `${w.file} ${name}: ${s.name ?? s.uses}`);
        assert.deepStrictEqual(offenders, []);
        // The values the diff job takes from the pull request reach its shell only through env.
        const diff = workflow("cert-diff.yml").jobs.diff;
        assert.deepStrictEqual(diff.env, {
            DIFF_HEAD: "${{ github.sha }}",
            EVERY_STACK_WHEN_PROGRAM_CHANGES: "true",
            PR_NUMBER: "${{ github.event.pull_request.number }}",
            PR_HEAD_SHA: "${{ github.event.pull_request.head.sha }}",
        });
        assert.ok(
            workflows.every(
                (w) => !/github\.(head_ref|event\.pull_request\.(title|body|head\.ref|head\.label))/.test(w.text),
            ),
            "no branch name, title or body is used at all",
        );
    });

    it("every action is pinned to a full commit SHA, with its version in a comment, the same one everywhere", () => {
        const pins = new Map<string, string>();
        for (const w of workflows) {
            for (const line of w.text.split("\n").filter((l) => /^\s*(- )?uses:/.test(l))) {
                const m = /uses: ([\w.-]+\/[\w./-]+)@([0-9a-f]{40}) # (v\d+(?:\.\d+)*)$/.exec(line);
                assert.ok(m, `${w.file}: ${line.trim()} is pinned by SHA with # vX.Y.Z`);
                const [, action, sha, version] = m;
                assert.strictEqual(
                    pins.get(action) ?? `${sha} ${version}`,
                    `${sha} ${version}`,
                    `${action} pinned once`,
                );
                pins.set(action, `${sha} ${version}`);
            }
        }
        assert.deepStrictEqual([...pins.keys()].sort(), [
            "actions/checkout",
            "actions/download-artifact",
            "actions/github-script",
            "actions/setup-node",
            "actions/upload-artifact",
            "pulumi/actions",
        ]);
    });

    it("every job that installs the Pulumi CLI pins it to the SDK version of package-lock.json", () => {
        // Unpinned, pulumi/actions installs the newest CLI: the jobs holding the backend token and
        // the passphrase would run a binary no one reviewed or tested, chosen on the day.
        const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
            packages: Record<string, { version: string }>;
        };
        const sdk = lock.packages["node_modules/@pulumi/pulumi"].version;
        const installs = allSteps().filter(({ s }) => s.uses?.startsWith("pulumi/actions@"));
        assert.deepStrictEqual(
            installs.map(({ w, name, s }) => `${w.file} ${name}: ${String(s.with?.["pulumi-version"])}`),
            [`lifecycle.yml decide: ${sdk}`, `lifecycle.yml republish: ${sdk}`, `preview.yml preview: ${sdk}`],
        );
    });

    it("the jobs that hold secrets run only on default-branch events, in a protected environment, from the default branch's code", () => {
        const privileged = workflows.flatMap((w) =>
            jobsOf(w)
                .filter(([, job]) => secretsOf(job).length > 0)
                .map(([name, job]) => ({ w, name, job })),
        );
        assert.deepStrictEqual(
            privileged.map(({ w, name, job }) => [w.file, name, job.environment, secretsOf(job).sort()]),
            [
                ["lifecycle.yml", "decide", "pulumi-read", ["PULUMI_ACCESS_TOKEN"]],
                [
                    "lifecycle.yml",
                    "republish",
                    "pulumi-deploy",
                    ["KUBECONFIG", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"],
                ],
                [
                    "preview.yml",
                    "preview",
                    "pulumi-preview",
                    ["KUBECONFIG", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"],
                ],
            ],
        );
        for (const { w, name, job } of privileged) {
            const where = `${w.file} ${name}`;
            assert.ok(
                Object.keys(w.on).every((t) => ["push", "schedule", "workflow_dispatch"].includes(t)),
                where,
            );
            if ("push" in w.on) assert.deepStrictEqual((w.on.push as { branches: string[] }).branches, ["main"]);
            // Each event it listens to, on the default branch (a schedule runs there only); never another
            // branch, a tag named like it or a pull request's merge ref.
            const needs = { decide: { result: "success", outputs: { republish: '["prod"]' } } };
            for (const event of Object.keys(w.on)) {
                const context = event === "schedule" ? SCHEDULED : runContext(event, "refs/heads/main");
                assert.ok(jobRuns(job, { ...context, needs }), `${where} runs on ${event} of the default branch`);
            }
            for (const [event, ref] of [
                ["push", "refs/heads/feature"],
                ["workflow_dispatch", "refs/heads/feature"],
                ["workflow_dispatch", "refs/tags/main"],
                ["pull_request", "refs/pull/7/merge"],
            ]) {
                assert.ok(
                    !jobRuns(job, { ...runContext(event, ref), needs }),
                    `${where} skipped on ${event} of ${ref}`,
                );
            }
            // Reads only (decide also lists this workflow's runs: actions: read).
            assert.strictEqual(job.permissions?.contents, "read", where);
            assert.deepStrictEqual(
                Object.entries(job.permissions).filter(([, access]) => access !== "read"),
                [],
                `${where} cannot write with its token`,
            );
            for (const step of job.steps) {
                if (step.uses?.startsWith("actions/checkout@")) {
                    // The commit of its own event; republish, which may start days after its run, the
                    // default branch as it is then (github.ref: the job's if admits no other branch).
                    assert.strictEqual(
                        step.with?.ref,
                        name === "republish" ? "${{ github.ref }}" : undefined,
                        `${where} checks out the default branch's code`,
                    );
                    assert.strictEqual(step.with?.["persist-credentials"], false);
                }
                // A pull request's commits may be fetched (to read its stack files), never checked out.
                assert.doesNotMatch(
                    step.run ?? "",
                    /git (checkout|switch|reset|merge|worktree|restore|rebase)(?=\s)[^\n]*(pr\/head|DIFF_HEAD|refs\/pull)/,
                );
                assert.doesNotMatch(step.run ?? "", /--show-secrets/);
            }
            // Secrets are handed to the one step that needs them, never to the whole job.
            assert.deepStrictEqual(secretsOf({ ...job, steps: [] }), [], `${where}: no job-level secret`);
        }
        const prFiles = workflow("preview.yml").jobs.preview.steps.find((s) =>
            s.name?.startsWith("the pull request's stack files"),
        );
        assert.match(
            prFiles?.run ?? "",
            /git show "\$DIFF_HEAD:stacks\/Pulumi\.\$stack\.yaml" > "stacks\/Pulumi\.\$stack\.yaml"/,
        );
    });

    it("the comment workflow checks out only the default branch's script, runs no shell, and may only write comments", () => {
        const w = workflow("cert-comment.yml");
        assert.deepStrictEqual(w.on, {
            workflow_run: { workflows: ["certificate diff", "certificate preview"], types: ["completed"] },
        });
        assert.deepStrictEqual(w.permissions, {});
        const job = w.jobs.comment;
        assert.deepStrictEqual(job.permissions, { actions: "read", contents: "read", "pull-requests": "write" });
        assert.deepStrictEqual(secretsOf(job), []);
        assert.deepStrictEqual(
            job.steps.filter((s) => s.run !== undefined),
            [],
        );
        assert.deepStrictEqual(job.steps[0].with, {
            ref: "${{ github.event.repository.default_branch }}",
            "sparse-checkout": ".github/scripts",
            "persist-credentials": false,
        });
        assert.match(
            String(job.steps.find((s) => s.uses?.startsWith("actions/github-script@"))?.with?.script),
            /require\(`\$\{process\.env\.GITHUB_WORKSPACE\}\/\.github\/scripts\/cert-comment\.js`\)/,
        );
    });

    it("downloads each run's artifact into the folder the comment script reads, as download-artifact lays it out", () => {
        const job = workflow("cert-comment.yml").jobs.comment;
        const downloads = job.steps.filter((s) => s.uses?.startsWith("actions/download-artifact@"));
        const script = job.steps.find((s) => s.uses?.startsWith("actions/github-script@"));
        assert.ok(script?.env?.ARTIFACT_DIR);
        for (const [file, artifact] of [
            ["cert-diff.yml", "cert-diff"],
            ["preview.yml", "cert-preview"],
        ]) {
            const uploaded = jobsOf(workflow(file))
                .flatMap(([, j]) => j.steps)
                .filter((s) => s.uses?.startsWith("actions/upload-artifact@"))
                .map((s) => String(s.with?.name));
            assert.deepStrictEqual(uploaded, [artifact], `${file}: the one artifact its run uploads`);
            const runPath = `.github/workflows/${file}`;
            const steps = downloads.filter(
                (s) => s.if === undefined || s.if === `github.event.workflow_run.path == '${runPath}'`,
            );
            // download-artifact v8 (src/download-artifact.ts): an artifact asked for by name, or the only
            // one a run has, is extracted straight into `path`; several go into `path/<name>` each.
            const folders = steps.flatMap((s) => {
                const taken = s.with?.name !== undefined ? [String(s.with.name)] : uploaded;
                const direct = s.with?.name !== undefined || taken.length === 1;
                return taken.map((name) => `${s.with?.path}${direct ? "" : `/${name}`}`);
            });
            // commentDiff and commentPreview read <ARTIFACT_DIR>/cert-diff and <ARTIFACT_DIR>/cert-preview.
            assert.deepStrictEqual(folders, [`${script.env.ARTIFACT_DIR}/${artifact}`], runPath);
        }
    });

    it("the lifecycle workflow runs daily and on demand, proposes pull requests without merging them, and runs pulumi up only in pulumi-deploy", () => {
        const w = workflow("lifecycle.yml");
        assert.deepStrictEqual(w.on, { schedule: [{ cron: "23 5 * * *" }], workflow_dispatch: null });
        assert.deepStrictEqual(w.permissions, {});
        assert.deepStrictEqual(
            jobsOf(w).map(([name, job]) => [name, job.permissions, job.environment ?? null]),
            [
                ["decide", { contents: "read", actions: "read" }, "pulumi-read"],
                ["propose", { contents: "write", "pull-requests": "write" }, null],
                ["attention", { issues: "write" }, null],
                ["republish", { contents: "read" }, "pulumi-deploy"],
                ["run-failure", { issues: "write" }, null],
            ],
        );
        const runs = (name: string) => w.jobs[name].steps.map((s) => s.run ?? "").join("\n");
        // The token reads the outputs in a step that runs pulumi alone; node runs in one without it.
        const decide = (id: string) => w.jobs.decide.steps.find((s) => s.id === id);
        assert.match(
            decide("decide")?.run ?? "",
            /\n\s*node dist\/lib\/cli\/main\.js lifecycle --config "\$file" --deployed "\$deployed" --now "\$now" --write --format json/,
        );
        assert.strictEqual(decide("decide")?.env, undefined);
        assert.match(decide("deployed")?.run ?? "", /pulumi stack output --stack "\$stack" --json --non-interactive/);
        assert.doesNotMatch(decide("deployed")?.run ?? "", /\bnode\b/);
        assert.doesNotMatch(w.text, /\bmerge\b[^\n]*(gh|pr)|gh pr merge|pulls\.merge/);
        assert.deepStrictEqual(
            jobsOf(w)
                .filter(([name]) => /pulumi up/.test(runs(name)))
                .map(([name]) => name),
            ["republish"],
        );
        assert.match(
            runs("republish"),
            /pulumi preview --stack "\$STACK" --json[^]*kubernetes:core\/v1:Secret[^]*pulumi up --stack "\$STACK"/,
        );
        assert.match(
            runs("propose"),
            /branch="pki-lifecycle\/\$stack"[^]*git push --quiet --force origin "HEAD:refs\/heads\/\$branch"/,
        );
    });

    it("the lifecycle workflow runs every job on the schedule, its event naming the repository or not, and by hand on the default branch only", () => {
        const w = workflow("lifecycle.yml");
        const every = ["decide", "propose", "attention", "republish", "run-failure"];
        const jobsRun = (context: RunContext, republish = '["prod"]', propose = "success") =>
            jobsOf(w)
                .filter(([, job]) =>
                    jobRuns(job, {
                        ...context,
                        needs: {
                            decide: { result: "success", outputs: { republish } },
                            propose: { result: propose },
                            attention: { result: "success" },
                            republish: { result: "success" },
                        },
                    }),
                )
                .map(([name]) => name);
        const byHand = runContext("workflow_dispatch", "refs/heads/main");
        // A schedule's event as GitHub documents it (no payload), and with the repository in it.
        assert.deepStrictEqual(jobsRun(SCHEDULED), every);
        assert.deepStrictEqual(
            jobsRun(runContext("schedule", "refs/heads/main", { schedule: "23 5 * * *", repository: REPOSITORY })),
            every,
        );
        assert.deepStrictEqual(jobsRun(byHand), every);
        assert.deepStrictEqual(jobsRun(runContext("workflow_dispatch", "refs/heads/feature")), []);
        assert.deepStrictEqual(jobsRun(runContext("workflow_dispatch", "refs/tags/main")), []);
        // Nothing to re-publish: no republish job; a failed propose: run-failure reports it.
        assert.deepStrictEqual(jobsRun(SCHEDULED, "[]"), ["decide", "propose", "attention", "run-failure"]);
        assert.deepStrictEqual(jobsRun(SCHEDULED, '["prod"]', "failure"), every);
        // The pull requests' base and the runs decide looks at: the default branch, on a schedule too.
        const defaultBranch = jobsOf(w).flatMap(([, job]) =>
            job.steps.flatMap((s) => (s.env?.DEFAULT_BRANCH === undefined ? [] : [s.env.DEFAULT_BRANCH])),
        );
        assert.strictEqual(defaultBranch.length, 2);
        for (const context of [SCHEDULED, byHand]) {
            assert.deepStrictEqual(
                defaultBranch.map((value) => interpolate(value, context)),
                ["main", "main"],
            );
        }
    });

    it("reads conditions as GitHub documents its expressions: loose equality, null as '' in format, && and || returning an operand, success() unless a status function is called", () => {
        const context = { github: { ref: "refs/heads/main", event: { schedule: "23 5 * * *" } } };
        const value = (expression: string) => evaluate(expression, context, { success: true });
        assert.strictEqual(value("format('refs/heads/{0}', github.event.repository.default_branch)"), "refs/heads/");
        assert.strictEqual(value("format('{{x}} {0} {1}', 'It''s', true)"), "{x} It's true");
        assert.strictEqual(value("github.ref == 'REFS/HEADS/MAIN'"), true);
        // Types that differ compare as numbers: null and '' are both 0, a branch name is NaN.
        assert.strictEqual(value("github.event.repository == ''"), true);
        assert.strictEqual(value("github.event.repository != 'main'"), true);
        assert.strictEqual(value("github.event.repository.default_branch || github.ref"), "refs/heads/main");
        assert.strictEqual(value("!github.event.repository && 'none'"), "none");
        assert.strictEqual(conditionHolds("github.ref == 'refs/heads/main'", context, { success: false }), false);
        assert.strictEqual(
            conditionHolds("always() && github.ref == 'refs/heads/main'", context, { success: false }),
            true,
        );
        assert.strictEqual(conditionHolds("${{ github.ref != 'refs/heads/main' }}", context, { success: true }), false);
        assert.throws(() => value("contains(github.ref, 'main')"), /the function contains is not read here/);
        assert.throws(() => value("github.ref < 'x'"), /github\.ref < 'x': read to the end/);
    });

    it("the lifecycle workflow serialises the jobs that write, each with the same job of other runs, not whole runs", () => {
        const w = workflow("lifecycle.yml");
        // A whole run held by republish, waiting up to 30 days for a reviewer, would hold back the next runs' issues.
        assert.strictEqual(w.concurrency, undefined);
        assert.deepStrictEqual(
            jobsOf(w).map(([name, job]) => [name, job.concurrency ?? null]),
            [
                ["decide", null],
                ["propose", { group: "pki-lifecycle-propose", "cancel-in-progress": false }],
                ["attention", { group: "pki-lifecycle-attention", "cancel-in-progress": false }],
                // Per stack: in one group, the matrix's own stacks waiting for their turn would replace each other.
                ["republish", { group: "pki-lifecycle-republish-${{ matrix.stack }}", "cancel-in-progress": false }],
                ["run-failure", { group: "pki-lifecycle-run-failure", "cancel-in-progress": false }],
            ],
        );
        assert.strictEqual(w.jobs.attention.needs, "decide");
        assert.ok(
            workflows.every((other) => other === w || !other.text.includes("pki-lifecycle-")),
            "no other workflow shares their groups",
        );
    });

    it("every pulumi preview and pulumi up the workflows run applies the policy pack", () => {
        const commands = allSteps()
            .flatMap(({ s }) => (s.run ?? "").split("\n"))
            .filter((line) => /^\s*pulumi (preview|up)\b/.test(line));
        assert.strictEqual(commands.length, 3, commands.join("\n"));
        for (const line of commands) assert.match(line, / --policy-pack policy\b/, line);
    });

    it("runs no node code before a step that holds a secret, unless that step runs the program (node) with it anyway", () => {
        // Every step of a job runs as the same user, and GitHub ends the processes a step leaves
        // behind only when the job ends: one npm ci's scripts or the build left running could read
        // a later step's environment (/proc/<pid>/environ) or the credentials pulumi writes.
        const runsNode = (s: Step) =>
            Boolean(s.uses?.startsWith("actions/setup-node@")) ||
            /(^|[\s;&|(])(npm|npx|node|tsc)(?=\s|$)/m.test(s.run ?? "");
        const seen: string[] = [];
        for (const w of workflows) {
            for (const [name, job] of jobsOf(w)) {
                job.steps.forEach((s, i) => {
                    if (secretsOf({ steps: [s] }).length === 0) return;
                    const where = `${w.file} ${name}: step ${s.id ?? s.name}`;
                    // pulumi preview and up run the program, this package and its dependencies, with the secrets.
                    if (/^\s*pulumi (preview|up)\b/m.test(s.run ?? "")) {
                        seen.push(`${where}: runs the program`);
                        return;
                    }
                    const before = job.steps.slice(0, i).filter(runsNode);
                    assert.deepStrictEqual(
                        before.map((b) => b.name ?? b.uses),
                        [],
                        `${where} holds a secret after node code ran`,
                    );
                    assert.ok(!runsNode(s), `${where} runs node with a secret`);
                    seen.push(where);
                });
            }
        }
        assert.deepStrictEqual(seen, [
            "lifecycle.yml decide: step deployed",
            "lifecycle.yml republish: step deployed",
            "lifecycle.yml republish: step pulumi up, if it changes nothing but the secrets that carry CRLs: runs the program",
            "preview.yml preview: step pulumi preview of each stack: runs the program",
        ]);
    });

    it("the README documents each environment, secret and permission the workflows use", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const section = readme.slice(readme.indexOf("### Pull requests and scheduled renewals: the workflows"));
        const used = new Set<string>();
        for (const w of workflows) {
            used.add(w.file);
            for (const [, job] of jobsOf(w)) {
                if (job.environment) used.add(job.environment);
                secretsOf(job).forEach((s) => used.add(s));
                Object.entries(job.permissions ?? {}).forEach(([k, v]) => used.add(`${k}: ${v}`));
            }
        }
        const missing = [...used].filter((term) => !section.includes(term));
        assert.deepStrictEqual(missing, []);
    });
});

/** A git repository with base and head commits, the head adding hostile file names. */
function hostileRepo(): { dir: string; base: string; head: string; git: (...args: string[]) => string } {
    const { dir, git } = gitRepo("workflow-repo");
    fs.mkdirSync(path.join(dir, "stacks"));
    fs.mkdirSync(path.join(dir, "lib"));
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    for (const stack of ["dev", "sit", "prod"]) {
        fs.copyFileSync(path.join(ROOT, `stacks/Pulumi.${stack}.yaml`), path.join(dir, `stacks/Pulumi.${stack}.yaml`));
    }
    fs.writeFileSync(path.join(dir, "lib/program.ts"), "export {};\n");
    git("add", ".");
    git("commit", "-qm", "base");
    const base = git("rev-parse", "HEAD");
    for (const name of HOSTILE) fs.writeFileSync(path.join(dir, name), "config: {}\n");
    fs.appendFileSync(path.join(dir, "stacks/Pulumi.dev.yaml"), "# touched\n");
    git("add", ".");
    git("commit", "-qm", "head");
    return { dir, base, head: git("rev-parse", "HEAD"), git };
}

const HOSTILE = [
    "stacks/Pulumi.$(touch${IFS}PWNED).yaml",
    "stacks/Pulumi.a`touch PWNED2`;touch PWNED3;b.yaml",
    "stacks/Pulumi.x\n$(touch PWNED4).yaml",
];

/** The shell of a workflow step, run as GitHub runs `run:` (bash -e -o pipefail), in `cwd`. */
function replay(script: string, cwd: string, env: Record<string, string>) {
    return spawnSync("bash", ["--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script], {
        cwd,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    });
}

/**
 * cert-diff.yml's diff job on the repository `dir` (the built tool linked in as dist/), its steps
 * that list the changed stacks and write each one's diff and inventory replayed from `base` to
 * `head`, as a pull request's run: its RUNNER_TEMP (`temp`, the artifact in cert-diff/), the job
 * and the environment, for its later steps.
 */
function replayCertDiffSteps(dir: string, base: string, head: string) {
    fs.symlinkSync(path.join(ROOT, "dist"), path.join(dir, "dist"));
    const temp = tempDir("workflow-runner");
    const job = workflow("cert-diff.yml").jobs.diff;
    const env = {
        DIFF_BASE: base,
        DIFF_HEAD: head,
        EVERY_STACK_WHEN_PROGRAM_CHANGES: "true",
        PR_NUMBER: "7",
        PR_HEAD_SHA: head,
        RUNNER_TEMP: temp,
    };
    for (const name of [STACK_STEP, "certificate diff and inventory of each stack"]) {
        const r = replay(job.steps.find((s) => s.name === name)?.run ?? "exit 9", dir, env);
        assert.strictEqual(r.status, 0, `${name}: ${r.stderr}`);
    }
    return { temp, job, env };
}

/**
 * The shell of one of lifecycle.yml's issue steps (attention, run-failure), replayed as its run 9
 * with the fakes of `fakeDir` (gh) on the PATH and `runnerTemp` as RUNNER_TEMP; `env` adds the
 * jobs' results (or another run).
 */
function replayIssueStep(script: string, fakeDir: string, runnerTemp: string, env: Record<string, string>) {
    return replay(script, tempDir("workflow-runner"), {
        PATH: `${fakeDir}:${process.env.PATH}`,
        FAKE: fakeDir,
        RUNNER_TEMP: runnerTemp,
        RUN_NUMBER: "9",
        RUN_URL: "https://github.example/bank/pki/actions/runs/9",
        ...env,
    });
}

/**
 * For a fake `pulumi`: what the CLI does with the token it is given, on login and any command that
 * reaches the backend (pulumi/pulumi's StoreAccount): it writes it to $PULUMI_HOME/credentials.json.
 */
const STORES_TOKEN =
    'home="${PULUMI_HOME:-$HOME/.pulumi}"; mkdir -p "$home"; ' +
    `printf '{"accessTokens":{"https://api.pulumi.com":"%s"}}' "$PULUMI_ACCESS_TOKEN" > "$home/credentials.json"\n`;

/**
 * A fake `node` that starts only where it could not find the token: in its environment, in that of
 * each process above it (/proc/<pid>/environ, which a process may read for its parents: the step's
 * shell, and up to the runner), or on disk.
 */
const NODE_WITHOUT_TOKEN =
    '#!/bin/sh\nif [ -n "${PULUMI_ACCESS_TOKEN+set}" ]; then echo "node saw PULUMI_ACCESS_TOKEN" >&2; exit 97; fi\n' +
    'pid=$PPID\nwhile [ -n "$pid" ] && [ "$pid" -gt 1 ]; do\n' +
    '  if grep -qa token-of-test "/proc/$pid/environ" 2>/dev/null; then echo "node could read the token in the environment of process $pid ($(cat "/proc/$pid/comm"))" >&2; exit 95; fi\n' +
    '  pid=$(sed -n "s/^PPid:[[:space:]]*//p" "/proc/$pid/status" 2>/dev/null)\ndone\n' +
    'if found=$(grep -rls token-of-test "$HOME" "$RUNNER_TEMP" 2>/dev/null); then echo "node could read the token in $found" >&2; exit 96; fi\n' +
    `exec ${JSON.stringify(process.execPath)} "$@"\n`;

/**
 * Steps of a job replayed in turn, as GitHub runs them: each with the runner's environment
 * (`runner`) and the keys its own `env:` names, taking their values from `values` (a secret only
 * where the step's `env:` has it); the first that fails ends the job.
 */
function replaySteps(
    job: Job,
    ids: readonly string[],
    cwd: string,
    runner: Record<string, string>,
    values: Record<string, string>,
) {
    let stdout = "";
    let stderr = "";
    for (const id of ids) {
        const step = job.steps.find((s) => s.id === id);
        assert.ok(step?.run, `step ${id}`);
        const env = Object.fromEntries(Object.keys(step.env ?? {}).map((key) => [key, values[key] ?? ""]));
        const r = replay(step.run, cwd, { ...runner, ...env });
        stdout += r.stdout;
        stderr += r.stderr;
        if (r.status !== 0) return { status: r.status, stdout, stderr };
    }
    return { status: 0, stdout, stderr };
}

/** Files a hostile name's `touch PWNED...` would have made. */
const noPwned = (...dirs: string[]) =>
    dirs
        .flatMap((d) => fs.readdirSync(d, { recursive: true }).map(String))
        .filter((f) => /^PWNED\d*$/.test(path.basename(f)));

describe("workflows: the changed-stacks step, replayed", function () {
    this.timeout(30_000);
    const step = (file: string, job: string) => {
        const found = workflow(file).jobs[job].steps.find((s) => s.name === STACK_STEP);
        assert.ok(found?.run, `${file} has a "${STACK_STEP}" step`);
        return found.run;
    };

    it("is the same shell in the diff and the preview workflows", () => {
        assert.strictEqual(step("cert-diff.yml", "diff"), step("preview.yml", "preview"));
    });

    it("runs nothing a hostile file name holds: the name is skipped with a message, the real stacks are listed", () => {
        const { dir, base, head } = hostileRepo();
        const temp = tempDir("workflow-runner");
        const r = replay(step("cert-diff.yml", "diff"), dir, {
            DIFF_BASE: base,
            DIFF_HEAD: head,
            EVERY_STACK_WHEN_PROGRAM_CHANGES: "true",
            RUNNER_TEMP: temp,
        });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(noPwned(dir, temp), [], "no command of a file name ran");
        assert.strictEqual(fs.readFileSync(path.join(temp, "stacks.txt"), "utf8"), "dev\n");
        assert.strictEqual(fs.readFileSync(path.join(temp, "program-changed"), "utf8"), "false\n");
        const rule = ': a stack file is stacks/Pulumi.<name>.yaml, the name of letters, digits, ".", "_" or "-"';
        assert.deepStrictEqual(
            r.stdout.split("\n").filter((l) => l.startsWith("Skipped")),
            [
                `Skipped stacks/Pulumi.\\$\\(touch\\$\\{IFS\\}PWNED\\).yaml${rule}`,
                `Skipped stacks/Pulumi.a\\\`touch\\ PWNED2\\\`\\;touch\\ PWNED3\\;b.yaml${rule}`,
                `Skipped $'stacks/Pulumi.x\\n$(touch PWNED4).yaml'${rule}`,
            ],
        );
        assert.match(r.stdout, /^Stacks: dev $/m);
    });

    it("takes a change to documents alone for no program change, and one to an example's build settings or beside the stacks for one", () => {
        const { dir, git } = hostileRepo();
        const changed = (file: string, [workflow, job] = ["cert-diff.yml", "diff"]) => {
            const before = git("rev-parse", "HEAD");
            fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
            fs.writeFileSync(path.join(dir, file), `changed for ${workflow}\n`);
            git("add", ".");
            git("commit", "-qm", file);
            const temp = tempDir("workflow-runner");
            const r = replay(step(workflow, job), dir, {
                DIFF_BASE: before,
                DIFF_HEAD: git("rev-parse", "HEAD"),
                EVERY_STACK_WHEN_PROGRAM_CHANGES: "true",
                RUNNER_TEMP: temp,
            });
            assert.strictEqual(r.status, 0, r.stderr);
            return fs.readFileSync(path.join(temp, "program-changed"), "utf8");
        };
        assert.strictEqual(changed("README.md"), "false\n");
        assert.strictEqual(changed("docs/notes.md"), "false\n");
        assert.strictEqual(changed("examples/own-pki/tsconfig.json"), "true\n");
        assert.strictEqual(changed(".github/workflows/cert-diff.yml"), "true\n");
        // A project file beside the stacks would be the project of a pulumi run there (diff refuses the pair).
        for (const workflow of [
            ["cert-diff.yml", "diff"],
            ["preview.yml", "preview"],
        ] as [string, string][]) {
            assert.strictEqual(changed("stacks/Pulumi.yaml", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("stacks/notes.txt", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("stacks/README.md", workflow), "false\n", workflow[0]);
            // In a folder under stacks/, named like a stack file or not: a project file there too.
            assert.strictEqual(changed("stacks/Pulumi.a/b.yaml", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("stacks/Pulumi.x/Pulumi.yaml", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("stacks/Pulumi.x/notes.md", workflow), "false\n", workflow[0]);
            assert.strictEqual(changed("lib/evil.md/main.ts", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("lib/x.md/y.md", workflow), "true\n", workflow[0]);
            assert.strictEqual(changed("docs/a.md/b.ts", workflow), "false\n", workflow[0]);
        }
    });

    it("lists every stack when the program changes, and only changed stack files when told not to", () => {
        const { dir, git } = hostileRepo();
        const before = git("rev-parse", "HEAD");
        fs.appendFileSync(path.join(dir, "lib/program.ts"), "// changed\n");
        git("commit", "-qam", "program");
        const after = git("rev-parse", "HEAD");
        for (const [every, expected] of [
            ["true", "dev\nprod\nsit\n"],
            ["false", ""],
        ]) {
            const temp = tempDir("workflow-runner");
            const r = replay(step("preview.yml", "preview"), dir, {
                DIFF_BASE: before,
                DIFF_HEAD: after,
                EVERY_STACK_WHEN_PROGRAM_CHANGES: every,
                RUNNER_TEMP: temp,
            });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(fs.readFileSync(path.join(temp, "stacks.txt"), "utf8"), expected);
            assert.strictEqual(fs.readFileSync(path.join(temp, "program-changed"), "utf8"), "true\n");
            assert.deepStrictEqual(noPwned(dir, temp), []);
            assert.strictEqual(
                r.stdout.split("\n").filter((l) => l.startsWith("Skipped")).length,
                every === "true" ? 3 : 0,
            );
        }
    });
});

describe("workflows: the diff's base, replayed", function () {
    it("diffs the merge commit against the base GitHub made it on, so what others merged since is not this change", () => {
        const { dir, git } = hostileRepo();
        const eventBase = git("rev-parse", "HEAD");
        git("checkout", "-q", "-b", "feature");
        fs.appendFileSync(path.join(dir, "stacks/Pulumi.sit.yaml"), "# the pull request's change\n");
        git("commit", "-qam", "sit changed");
        git("checkout", "-q", "-");
        fs.appendFileSync(path.join(dir, "stacks/Pulumi.dev.yaml"), "# merged by someone else after the event\n");
        git("commit", "-qam", "dev changed");
        const newerBase = git("rev-parse", "HEAD");
        git("merge", "-q", "--no-ff", "-m", "the merge commit GitHub makes", "feature");
        const merge = git("rev-parse", "HEAD");
        assert.notStrictEqual(newerBase, eventBase);

        const temp = tempDir("workflow-runner");
        const githubEnv = path.join(temp, "github-env");
        fs.writeFileSync(githubEnv, "");
        const steps = workflow("cert-diff.yml").jobs.diff.steps;
        const baseStep = steps.find((s) => s.name === "the base the merge commit was made on")?.run ?? "exit 9";
        const found = replay(baseStep, dir, { DIFF_HEAD: merge, GITHUB_ENV: githubEnv });
        assert.strictEqual(found.status, 0, found.stderr);
        assert.strictEqual(fs.readFileSync(githubEnv, "utf8"), `DIFF_BASE=${newerBase}\n`);
        // The base step comes before the steps that use DIFF_BASE, which the job's env no longer sets.
        const names = steps.map((s) => s.name);
        assert.ok(names.indexOf("the base the merge commit was made on") < names.indexOf(STACK_STEP));
        const listed = replay(steps.find((s) => s.name === STACK_STEP)?.run ?? "exit 9", dir, {
            DIFF_BASE: newerBase,
            DIFF_HEAD: merge,
            EVERY_STACK_WHEN_PROGRAM_CHANGES: "true",
            RUNNER_TEMP: temp,
        });
        assert.strictEqual(listed.status, 0, listed.stderr);
        assert.strictEqual(fs.readFileSync(path.join(temp, "stacks.txt"), "utf8"), "sit\n");
    });
});

describe("workflows: the preview's commits, replayed", function () {
    this.timeout(30_000);

    it("previews only the pull request's commit the maintainer read: a push after the run was started is refused", () => {
        const step = workflow("preview.yml").jobs.preview.steps.find((s) => s.name === "commits to compare");
        assert.ok(step?.run);
        assert.strictEqual(step.env?.PR_SHA, "${{ inputs.sha }}");
        // The repository on GitHub: the default branch, and the pull request's head under refs/pull.
        const { dir: origin, git } = gitRepo("preview-origin");
        fs.writeFileSync(path.join(origin, "README.md"), "base\n");
        git("add", ".");
        git("commit", "-qm", "base");
        const base = git("rev-parse", "HEAD");
        const pullRequestAt = (message: string) => {
            const commit = git("commit-tree", "HEAD^{tree}", "-p", base, "-m", message);
            git("update-ref", "refs/pull/7/head", commit);
            return commit;
        };
        const read = pullRequestAt("the stack file change the maintainer read");
        const work = tempDir("preview-checkout");
        assert.strictEqual(spawnSync("git", ["clone", "-q", origin, work]).status, 0);
        const run = (sha: string) => {
            const githubEnv = path.join(tempDir("preview-env"), "env");
            fs.writeFileSync(githubEnv, "");
            const r = replay(step.run ?? "exit 9", work, {
                PR: "7",
                PR_SHA: sha,
                BEFORE: "",
                GH_TOKEN: "unused",
                GITHUB_ENV: githubEnv,
                GITHUB_EVENT_NAME: "workflow_dispatch",
            });
            // The mask GitHub is told of (the token's header) aside.
            const stdout = r.stdout.replace(/^::add-mask::.*\n/m, "");
            return { status: r.status, stdout, env: fs.readFileSync(githubEnv, "utf8") };
        };
        assert.deepStrictEqual(run(read), {
            status: 0,
            stdout: "",
            env: `DIFF_BASE=${base}\nDIFF_HEAD=${read}\nEVERY_STACK_WHEN_PROGRAM_CHANGES=false\nPR_NUMBER=7\n`,
        });
        // The author pushes while the run waits for a reviewer's approval.
        const pushed = pullRequestAt("pushed after the maintainer read it");
        assert.deepStrictEqual(run(read), {
            status: 1,
            stdout: `Pull request #7 is at ${pushed} now, not at ${read}, the commit given as sha: read its stack file change again, then run the workflow with the new commit\n`,
            env: "",
        });
        assert.strictEqual(run("").status, 2, "a pull request without the commit read is refused");
    });
});

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the script is CommonJS, run by actions/github-script
const comment = require(path.join(ROOT, ".github/scripts/cert-comment.js"));

/** The certificate diff job's steps, replayed once on a repository: the artifact folder and the check's verdict. */
let diffJob: ReturnType<typeof replayDiffJobNow> | undefined;
const replayDiffJob = () => (diffJob ??= replayDiffJobNow());
function replayDiffJobNow(): { artifact: string; head: string; failStep: ReturnType<typeof replay> } {
    const { dir, git } = hostileRepo();
    const base = git("rev-parse", "HEAD");
    const dev = path.join(dir, "stacks/Pulumi.dev.yaml");
    fs.writeFileSync(
        dev,
        fs.readFileSync(dev, "utf8").replace("pki:organization: Example Bank", "pki:organization: Example Bank plc"),
    );
    const sit = path.join(dir, "stacks/Pulumi.sit.yaml");
    fs.writeFileSync(sit, fs.readFileSync(sit, "utf8").replace("pki:option: 1", "pki:option: 4"));
    fs.rmSync(path.join(dir, "stacks/Pulumi.prod.yaml"));
    git("commit", "-qam", "dev renamed, sit broken, prod deleted");
    const head = git("rev-parse", "HEAD");
    const { temp, job, env } = replayCertDiffSteps(dir, base, head);
    const failStep = replay(job.steps.find((s) => s.name?.startsWith("fail the check"))?.run ?? "exit 9", dir, env);
    return { artifact: path.join(temp, "cert-diff"), head, failStep };
}

describe("workflows: the certificate diff step, replayed with the real tool", function () {
    this.timeout(60_000);

    it("records every outcome in the artifact: a risk, an invalid stack file, a deleted stack; and fails the check", () => {
        const { artifact, head, failStep } = replayDiffJob();
        const read = (stack: string) =>
            JSON.parse(fs.readFileSync(path.join(artifact, "stacks", `${stack}.json`), "utf8"));
        assert.deepStrictEqual(fs.readdirSync(path.join(artifact, "stacks")).sort(), [
            "dev.json",
            "prod.json",
            "sit.json",
        ]);
        const dev = read("dev");
        assert.deepStrictEqual([dev.outcome, dev.exitCode, dev.message], ["risky", 1, ""]);
        assert.match(
            dev.markdown,
            /^## Certificate changes: dev \(Option 1\)\n\n### Risks\n\n- \*\*pki:organization: re-issues 3 roots/,
        );
        assert.match(dev.inventory, /^\| role \| certificate \| hosts \/ identity \|/);
        // The trust hierarchy after the change, raw Mermaid, every re-issued certificate highlighted.
        const base = planFromRawConfig(loadStackFileValues("stacks/Pulumi.dev.yaml"));
        const renamed = planFromRawConfig({
            ...loadStackFileValues("stacks/Pulumi.dev.yaml"),
            organization: "Example Bank plc",
        });
        assert.strictEqual(dev.mermaid, trustPictureForDiff(base, renamed, diffPlans(base, renamed)));
        assert.match(dev.mermaid, /^flowchart LR\n/);
        assert.strictEqual(dev.mermaid.match(/^ {4}class (\S+) replaced$/m)?.[1].split(",").length, 10);
        const sit = read("sit");
        assert.deepStrictEqual([sit.outcome, sit.exitCode, sit.markdown], ["invalid", 1, ""]);
        assert.match(sit.message, /pki:option must be 1, 2 or 3/);
        assert.deepStrictEqual(read("prod"), { stack: "prod", outcome: "removed", exitCode: 0 });
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(artifact, "meta.json"), "utf8")), {
            schema: 1,
            pr: 7,
            headSha: head,
            baseSha: JSON.parse(fs.readFileSync(path.join(artifact, "meta.json"), "utf8")).baseSha,
            programChanged: false,
        });
        assert.strictEqual(failStep.status, 1);
        assert.match(
            failStep.stdout,
            /^Needs a reviewer \(see the comment on the pull request\):\ndev: risky\nprod: removed\nsit: invalid\n$/,
        );
        // What the comment workflow reads from it: every result accepted, nothing refused.
        const read2 = comment.readDiffArtifact(artifact);
        assert.deepStrictEqual(
            [[...read2.results.keys()], read2.problems, read2.meta.pr],
            [["dev", "prod", "sit"], [], 7],
        );
    });
    it("keeps a private key out of the message the comment shows: a key committed as a stack file, as its config, or as a config key", async () => {
        // The message (standard error of the diff) goes into the artifact and the pull request's comment.
        const dir = tempDir("key-as-stack");
        const base = path.join(ROOT, "stacks/Pulumi.dev.yaml");
        const keyLines = TEST_ONLY_LEAF_KEY_PEM.trim().split("\n");
        const indented = keyLines.map((l) => `  ${l}`).join("\n");
        const messages: string[] = [];
        for (const [name, text] of [
            ["Pulumi.whole.yaml", TEST_ONLY_LEAF_KEY_PEM],
            ["Pulumi.config.yaml", `config:\n${indented}\n`],
            ["Pulumi.key.yaml", `config:\n  ${JSON.stringify(`pki:${TEST_ONLY_LEAF_KEY_PEM}`)}: 1\n`],
        ]) {
            const head = path.join(dir, name);
            fs.writeFileSync(head, text);
            const { status, out, err } = await cli("diff", "--base", base, "--head", head, "--fail-on", "risky");
            assert.deepStrictEqual([status, out], [1, ""]);
            assert.deepStrictEqual(
                keyLines.filter((line) => err.includes(line)),
                [],
                `${name}: no line of the key in the message`,
            );
            messages.push(err.split("\n")[1]);
        }
        assert.deepStrictEqual(messages, [
            `  - stack file ${dir}/Pulumi.whole.yaml must be a map holding "config:" (config: { pki:option: 2, ... }); it is a text of 240 characters`,
            `  - stack file ${dir}/Pulumi.config.yaml: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got a text of 240 characters`,
            // The key's name is shown as a value is (JSON, the key taken out), and the message goes on.
            `  - pki:"(a private key, not shown)\\n" is not a known key; known keys are pki:environment, pki:option, pki:baseDomain, pki:organization, ` +
                "pki:domains, pki:clusters, pki:meshStrictMtls, pki:gatewayNamespace, pki:trustDomains, pki:keyAlgorithm, pki:caKeyAlgorithm, pki:validityDays, " +
                "pki:earlyRenewalDays, pki:rotation, pki:caRotation, pki:revocations, pki:crlPeriodDays, pki:meshFinishAfterHours, pki:offlineRoots, " +
                "pki:pkcs12Profile, pki:pkcs12Iterations, pki:frontEnd. Fix the spelling or remove it",
        ]);
    });
});

/**
 * A stack on Option 2 that gains 200 services: its diff's Markdown (over 100,000 characters) runs
 * past what the comment holds inside the "Added" table, with the Istio Gateways table after it.
 */
function bigStackChange(): { dir: string; base: string; head: string } {
    const { dir, git } = gitRepo("workflow-big");
    fs.mkdirSync(path.join(dir, "stacks"));
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    const file = path.join(dir, "stacks/Pulumi.big.yaml");
    const text = fs
        .readFileSync(path.join(ROOT, "stacks/Pulumi.sit.yaml"), "utf8")
        .replace("pki:option: 1", "pki:option: 2");
    fs.writeFileSync(file, text);
    git("add", ".");
    git("commit", "-qm", "base");
    const base = git("rev-parse", "HEAD");
    const extra = Array.from({ length: 200 }, (_, i) => `        - extra-${i}\n`).join("");
    fs.writeFileSync(file, text.replace("        - wiremock\n", `        - wiremock\n${extra}`));
    git("commit", "-qam", "200 services");
    return { dir, base, head: git("rev-parse", "HEAD") };
}

describe("workflows: the certificate diff step of a large change, replayed with the real tool", function () {
    this.timeout(120_000);

    it("puts the whole texts in full/<stack>/ of the artifact, and the comment cuts the diff at a line's end and names the sections it cuts short and leaves out", () => {
        const { dir, base, head } = bigStackChange();
        const { temp } = replayCertDiffSteps(dir, base, head);
        const tool = (...args: string[]) => {
            const r = spawnSync(process.execPath, ["dist/lib/cli/main.js", ...args], { cwd: dir, encoding: "utf8" });
            return r.stdout;
        };
        const diffArgs = ["diff", "--base", base, "--head", "stacks/Pulumi.big.yaml"];
        const markdown = tool(...diffArgs, "--format", "markdown");
        const artifact = path.join(temp, "cert-diff");
        const full = (file: string) => fs.readFileSync(path.join(artifact, "full/big", file), "utf8");
        // The whole texts, not the cut ones of stacks/big.json.
        assert.ok(markdown.length > 100_000, `${markdown.length} characters`);
        assert.strictEqual(full("diff.md"), markdown);
        assert.strictEqual(full("diff.json"), tool(...diffArgs, "--format", "json", "--fail-on", "risky"));
        assert.strictEqual(full("picture.mmd"), tool(...diffArgs, "--format", "mermaid"));
        assert.strictEqual(
            full("inventory.md"),
            tool("inventory", "--config", "stacks/Pulumi.big.yaml", "--format", "markdown"),
        );
        assert.deepStrictEqual(fs.readdirSync(path.join(artifact, "full/big")).sort(), [
            "diff.json",
            "diff.md",
            "error.txt",
            "inventory.md",
            "picture.mmd",
        ]);
        const result = JSON.parse(fs.readFileSync(path.join(artifact, "stacks/big.json"), "utf8"));
        const headings = markdown
            .split("\n")
            .filter((l) => l.startsWith("### "))
            .map((l) => l.slice(4));
        assert.deepStrictEqual(result.sections, headings);
        assert.deepStrictEqual(headings, [
            "What to do, in order",
            "Kubernetes secrets and APIC bundles",
            "Added",
            "Istio Gateways (each server added or removed)",
        ]);
        assert.deepStrictEqual(
            [result.markdown.length, result.markdownLength, result.inventoryLength, result.mermaidLength],
            [60000, markdown.length, full("inventory.md").length, full("picture.mmd").length],
        );

        // The comment: the diff up to the end of its last whole line within the limit, then the note.
        const shown = comment.readDiffArtifact(artifact).results.get("big").markdown as string;
        const note =
            `*The diff's Markdown (${markdown.length} characters) is cut here, at the end of a line, to fit this comment. ` +
            "Cut short: `Added`. Left out: `Istio Gateways (each server added or removed)`. " +
            "The whole text is `full/big/diff.md` in the run's `cert-diff` artifact.*";
        assert.ok(shown.endsWith(`\n\n${note}`), shown.slice(-600));
        const kept = shown.slice(0, -note.length - 2);
        assert.ok(kept.length <= comment.LIMITS.markdown && kept.length > comment.LIMITS.markdown - 300);
        // Rendered as text, its "[" escaped: otherwise a whole-line prefix of the diff.
        assert.ok(markdown.startsWith(`${kept.replace(/\\\[/g, "[")}\n`), "a whole-line prefix of the diff");
        assert.match(kept.split("\n").at(-1) ?? "", /^\| ob-extra-\d+\/(server|client) \| .* \|$/);
        assert.ok(!kept.includes("### Istio Gateways"));
    });
});

interface FakeComment {
    id: number;
    issue: number;
    body: string;
    user: { login: string; type: string };
}

/** The head of the diff runs' pull requests unless a test says otherwise: a contributor's fork and branch. */
const FORK_HEAD = { repository: "alice/pki", branch: "prod-certs" };

/** A pull request as the fake has it: open, from FORK_HEAD, against main, unless it says otherwise. */
interface FakePullRequest {
    number: number;
    /** Its head commit. */
    head: string;
    state?: "open" | "closed";
    headRepository?: string;
    headBranch?: string;
    base?: string;
}

/**
 * GitHub's REST API as the comment script uses it, in memory, recording every write. As GitHub
 * does, pulls.get reads a pull request whether open or closed and counts its files
 * (changed_files), pulls.list (state "open") lists the open ones without counting, and
 * pulls.listFiles lists at most 3000 files.
 */
function fakeGitHub(state: {
    prs: FakePullRequest[];
    /** A pull request's files: a path, or a file as GitHub lists a renamed one. */
    files: Record<number, (string | { filename: string; status: "renamed"; previous_filename: string })[]>;
    comments: FakeComment[];
    /** The status pulls.get fails with (GitHub not answering), if it does. */
    getFailsWith?: number;
    /** What happens as pulls.listFiles is called, before it answers (a push). */
    onListFiles?: () => void;
}) {
    const writes: string[] = [];
    let nextId = 1000;
    const pr = (p: FakePullRequest) => ({
        number: p.number,
        state: p.state ?? "open",
        head: {
            sha: p.head,
            ref: p.headBranch ?? FORK_HEAD.branch,
            repo: { full_name: p.headRepository ?? FORK_HEAD.repository },
        },
        base: { ref: p.base ?? "main", repo: { full_name: "bank/pki" } },
    });
    const filesOf = (number: number) =>
        (state.files[number] ?? []).map((f) => (typeof f === "string" ? { filename: f } : f));
    const github = {
        paginate: async (fn: (p: object) => Promise<{ data: unknown[] }>, params: object) => (await fn(params)).data,
        rest: {
            pulls: {
                get: async ({ pull_number }: { pull_number: number }) => {
                    if (state.getFailsWith !== undefined) {
                        throw Object.assign(new Error("Server Error"), { status: state.getFailsWith });
                    }
                    const found = state.prs.find((p) => p.number === pull_number);
                    if (found === undefined) throw Object.assign(new Error("Not Found"), { status: 404 });
                    return { data: { ...pr(found), changed_files: filesOf(found.number).length } };
                },
                list: async ({ state: wanted }: { state: string }) => {
                    assert.strictEqual(wanted, "open");
                    return { data: state.prs.map(pr).filter((p) => p.state === "open") };
                },
                listFiles: async ({ pull_number }: { pull_number: number }) => {
                    state.onListFiles?.();
                    return { data: filesOf(pull_number).slice(0, 3000) };
                },
            },
            issues: {
                listComments: async ({ issue_number }: { issue_number: number }) => ({
                    data: state.comments.filter((c) => c.issue === issue_number),
                }),
                createComment: async ({ issue_number, body }: { issue_number: number; body: string }) => {
                    writes.push(`create #${issue_number}`);
                    state.comments.push({
                        id: nextId++,
                        issue: issue_number,
                        body,
                        user: { login: "github-actions[bot]", type: "Bot" },
                    });
                    return { data: {} };
                },
                updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
                    writes.push(`update ${comment_id}`);
                    const found = state.comments.find((c) => c.id === comment_id);
                    assert.ok(found, `comment ${comment_id} exists`);
                    found.body = body;
                    return { data: {} };
                },
            },
        },
    };
    return { github, writes };
}

/** The "certificate comment" workflow's context for a finished run: a diff run's head is FORK_HEAD unless it says otherwise. */
const context = (workflowRun: Record<string, unknown>) => ({
    payload: {
        workflow_run: {
            head_repository: { full_name: FORK_HEAD.repository },
            head_branch: FORK_HEAD.branch,
            ...workflowRun,
        },
        repository: { full_name: "bank/pki", default_branch: "main" },
    },
    repo: { owner: "bank", repo: "pki" },
    serverUrl: "https://github.example",
});
const core = { info: () => undefined };
const sha = (c: string) => c.repeat(40);

/** The dev stack with `organization`, in stacks/ of a new folder (`dir`), as a pull request's head. */
function devStackOf(organization: string, name: string): { dir: string; head: string } {
    const dir = tempDir(name);
    fs.mkdirSync(path.join(dir, "stacks"));
    const text = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8");
    const head = path.join(dir, "stacks/Pulumi.dev.yaml");
    fs.writeFileSync(head, text.replace("pki:organization: Example Bank", `pki:organization: '${organization}'`));
    return { dir, head };
}

/**
 * `diff` (from the committed dev stack) and `inventory --format markdown` of the dev stack with
 * `organization` (devStackOf), each exiting 0, and what the comment reads of them as the diff
 * job's artifact, its Markdown the diff's followed by `extra`.
 */
async function commentOfDevStack(organization: string, name: string, extra = "") {
    const { dir, head } = devStackOf(organization, name);
    const diff = await cli("diff", "--base", path.join(ROOT, "stacks/Pulumi.dev.yaml"), "--head", head);
    assert.strictEqual(diff.status, 0);
    const inventory = await cli("inventory", "--config", head, "--format", "markdown");
    assert.strictEqual(inventory.status, 0);
    fs.mkdirSync(path.join(dir, "artifact/stacks"), { recursive: true });
    fs.writeFileSync(
        path.join(dir, "artifact/stacks/dev.json"),
        JSON.stringify({
            stack: "dev",
            outcome: "risky",
            exitCode: 1,
            markdown: diff.out + extra,
            inventory: inventory.out,
        }),
    );
    return { diff, inventory, read: comment.readDiffArtifact(path.join(dir, "artifact")).results.get("dev") };
}

describe("workflows: the comment script", function () {
    this.timeout(60_000);

    it("counts every change but stack files and documents as a program change (a build setting, a workflow or a file beside the stacks changes what runs)", () => {
        assert.deepStrictEqual(
            [
                ["stacks/Pulumi.dev.yaml", "README.md", "docs/pictures/dev-trust.png", "examples/own-pki/README.md"],
                ["stacks/Pulumi.dev.yaml", "examples/own-pki/tsconfig.json"],
                [".github/workflows/cert-diff.yml"],
                ["lib/program.ts"],
                ["scripts/test.mjs"],
                // Under stacks/ but no stack file: a project file there is read by diff and pulumi alike.
                ["stacks/Pulumi.yaml"],
                ["stacks/policy.json"],
                ["stacks/README.md", "stacks/Pulumi.prod-eu.yaml"],
                // A folder named like a document or a stack file holds files of the program.
                ["lib/evil.md/main.ts"],
                ["stacks/Pulumi.prod.yaml/x.ts"],
                ["stacks/Pulumi.a/b.yaml"],
                ["stacks/Pulumi.x/Pulumi.yaml"],
                ["lib/x.md/y.md"],
                ["docs/a.md/b.png", "stacks/Pulumi.x/notes.md"],
            ].map((files) => comment.programChangedIn(files)),
            [false, true, true, true, true, true, true, false, true, true, true, true, true, false],
        );
    });

    it("the README's CODEOWNERS example owns exactly the files counted as the program: a tsconfig.json, Pulumi.yaml or new folder too", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const block = /```\n(# \.github\/CODEOWNERS[^]*?)```/.exec(readme)?.[1];
        assert.ok(block, "the README shows a CODEOWNERS example");
        // GitHub's CODEOWNERS rules (gitignore's), as far as the example uses them: a "/" at the
        // start or in the middle anchors at the root, else the pattern matches at any level; "*"
        // stays within a folder; a pattern matches a folder and so every file in it, a trailing
        // "/" only a folder; the last match wins. Any other syntax fails here, never passes.
        const rules = block
            .split("\n")
            .filter((line) => line.trim() !== "" && !line.startsWith("#"))
            .map((line) => {
                const [pattern, ...owners] = line.trim().split(/\s+/);
                assert.doesNotMatch(pattern, /\*\*|[?[\]\\!]|\/\*$/, `${pattern}: syntax this test does not model`);
                const bare = pattern.replace(/\/$/, "");
                const body = bare
                    .replace(/^\//, "")
                    .replace(/[.+^${}()|]/g, "\\$&")
                    .replace(/\*/g, "[^/]*");
                const start = bare.includes("/") ? "^" : "^(?:.*/)?";
                const end = pattern.endsWith("/") ? "/.*$" : "(?:/.*)?$";
                return { match: new RegExp(start + body + end), owned: owners.length > 0 };
            });
        const owned = (file: string) => rules.filter((r) => r.match.test(file)).at(-1)?.owned ?? false;
        const files = [
            ...["stacks/Pulumi.dev.yaml", "stacks/Pulumi.prod-eu.yaml", "README.md", "docs/pictures/dev-trust.png"],
            ...["examples/own-pki/README.md", "stacks/README.md", "lib/README.md"],
            ...["tsconfig.json", "Pulumi.yaml", "PulumiPlugin.yaml", "index.ts", "package.json", "package-lock.json"],
            ...["bench/plan.bench.ts", "test/plan.test.ts", "zz/lib/cli/main.ts", "lib/program.ts", "policy/index.ts"],
            ...[
                "scripts/test.mjs",
                ".github/workflows/cert-diff.yml",
                ".github/CODEOWNERS",
                "examples/own-pki/tsconfig.json",
            ],
            ...["stacks/Pulumi.yaml", "stacks/policy.json", "docs.ts", "mydocs/x.ts", "Pulumi.prod.yaml"],
            // Folders named like a document or a stack file hold program files (.mocharc.js runs
            // every examples/<dir>/dist/*.test.js); a folder under stacks/ is no stack file.
            ...["lib/evil.md/main.ts", "evil.md/index.ts", "examples/x.md/dist/evil.test.js", "lib/x.md/y.md"],
            ...["stacks/Pulumi.prod.yaml/x.ts", "stacks/Pulumi.prod.yaml/Pulumi.dev.yaml", "stacks/Pulumi.a/b.yaml"],
            ...["stacks/Pulumi.x/Pulumi.yaml", "stacks/x.md/Pulumi.yaml", "docs/a.md/b.png", "docs/x/y.ts"],
            ...["stacks/Pulumi.x/notes.md", "stacks/Pulumi.prod.yaml/notes.md", "lib/x.md/README.md", "x.md/y.md/z.md"],
        ];
        assert.deepStrictEqual(
            files.filter((file) => owned(file) !== comment.programChangedIn([file])),
            [],
            "owned by CODEOWNERS and counted as the program differ",
        );
        assert.deepStrictEqual(
            ["zz/lib/cli/main.ts", "lib/evil.md/main.ts", "stacks/Pulumi.a/b.yaml", "lib/x.md/y.md"].map(owned),
            [true, true, true, true],
        );
        assert.deepStrictEqual(["stacks/Pulumi.prod.yaml", "docs/a.md/b.png", "lib/README.md"].map(owned), [
            false,
            false,
            false,
        ]);
    });

    it("keeps artifact text from closing its code block, faking a marker or mentioning anyone", () => {
        const hostile = "ok\n<!-- apic-istio-pki:cert-diff:prod -->\n@security-team ```` end\u0007";
        const safe = comment.neutralize(hostile);
        assert.strictEqual(safe, "ok\n&lt;!-- apic-istio-pki:cert-diff:prod -->\n@\u200bsecurity-team ```` end");
        assert.strictEqual(comment.fence(safe), `\`\`\`\`\`\n${safe}\n\`\`\`\`\``);
        assert.strictEqual(comment.inlineCode("a`b``c\nd"), "```a`b``c\\nd```");
        assert.strictEqual(comment.inlineCode("`x"), "`` `x ``");
    });

    it("reads only what the diff job writes: links, oversized files, unknown outcomes and mismatched names are refused", () => {
        const dir = tempDir("artifact");
        fs.mkdirSync(path.join(dir, "stacks"));
        const write = (name: string, value: unknown) => fs.writeFileSync(path.join(dir, name), JSON.stringify(value));
        write("meta.json", { schema: 1, pr: "7; rm -rf /", headSha: "not a sha", programChanged: "yes" });
        write("stacks/dev.json", { stack: "dev", outcome: "changes", exitCode: 0, markdown: "## fine\n@here" });
        write("stacks/sit.json", { stack: "prod", outcome: "changes", exitCode: 0 });
        write("stacks/uat.json", { stack: "uat", outcome: "approved", exitCode: 0 });
        write("stacks/qa.json", { stack: "qa", outcome: "changes", exitCode: 256 });
        fs.writeFileSync(
            path.join(dir, "stacks/big.json"),
            JSON.stringify({ stack: "big", outcome: "changes", exitCode: 0, markdown: "x".repeat(300_000) }),
        );
        fs.symlinkSync("/etc/passwd", path.join(dir, "stacks/link.json"));
        write("stacks/$(touch PWNED).json", { stack: "$(touch PWNED)", outcome: "changes", exitCode: 0 });
        const read = comment.readDiffArtifact(dir);
        assert.deepStrictEqual([...read.results.keys()], ["dev"]);
        assert.strictEqual(read.results.get("dev").markdown, "## fine\n@\u200bhere");
        assert.deepStrictEqual(read.meta, {}, "a PR number, commit or flag of the wrong type is dropped");
        assert.deepStrictEqual(read.problems, [
            "stacks/big.json is larger than 262144 bytes",
            "stacks/link.json is not a regular file",
            "stacks/qa.json has no exit status from 0 to 255",
            "stacks/sit.json names another stack",
            "stacks/uat.json has an unknown outcome",
        ]);
        assert.deepStrictEqual(comment.readDiffArtifact(path.join(dir, "none")).problems, ["the run left no artifact"]);
    });

    it("keeps a hostile organization inside the trust picture's mermaid block, and leaves out a picture too long to draw", async () => {
        const hostile = "Bank ```` </details> <!-- apic-istio-pki:cert-diff:dev --> @team";
        const { dir, head } = devStackOf(hostile, "hostile-picture");
        fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        const { status, out } = await cli(
            "diff",
            "--base",
            path.join(ROOT, "stacks/Pulumi.dev.yaml"),
            "--head",
            head,
            "--format",
            "mermaid",
        );
        assert.strictEqual(status, 0);
        const result = { stack: "dev", outcome: "risky", exitCode: 1, markdown: "", message: "", inventory: "" };
        const args = {
            stack: "dev",
            changed: true,
            programChanged: false,
            runUrl: "https://github.example/r/1",
            conclusion: "failure",
            headSha: sha("a"),
            preview: "P",
        };
        const body: string = comment.diffBody({ ...args, result: { ...result, mermaid: comment.neutralize(out) } });
        const [, block, after] = /\n```mermaid\n([^]*?)\n```\n([^]*)$/.exec(body) ?? [];
        assert.strictEqual(block, out.trimEnd(), "the whole picture, unchanged, in one mermaid block");
        assert.strictEqual(
            after,
            "\n</details>\n\n<sub>Commit aaaaaaa · [certificate diff run](https://github.example/r/1)</sub>\n\nP",
        );
        for (const raw of ["````", "</details> <", "@team"]) {
            assert.ok(!body.includes(raw), `${raw} appears in the comment as written`);
        }
        assert.strictEqual(body.split("<!-- apic-istio-pki:cert-diff:").length, 2, "no second marker");
        assert.ok(
            block.includes(
                "O=Bank #96;#96;#96;#96; #60;/details#62; #60;#33;-- apic-istio-pki#58;cert-diff#58;dev --#62; #64;team, CN=",
            ),
            "shown as Mermaid entity codes",
        );

        const huge = `flowchart LR\n${"    a --> b\n".repeat(comment.MAX_PICTURE / 12)}`;
        const left = comment.diffBody({ ...args, result: { ...result, mermaid: huge } });
        assert.ok(!left.includes("```mermaid"), "a picture Mermaid would refuse to draw is not cut: it is left out");
        assert.match(
            left,
            /\n\n\*The trust picture \(\d+ characters or more\) is too long for this comment, so it is left out\. The run's `cert-diff` artifact does not hold the whole picture \(no `full\/dev\/picture\.mmd`\)\.\*\n\n/,
        );
        const large = `flowchart LR\n${"    a --> b\n".repeat(2500)}`;
        assert.ok(comment.diffBody({ ...args, result: { ...result, mermaid: large } }).includes("```mermaid\n"));
        const crowded = comment.diffBody({
            ...args,
            result: { ...result, mermaid: large, markdown: "x".repeat(45000) },
        });
        assert.ok(!crowded.includes("```mermaid"), "left out where the comment would be longer than GitHub takes");
        assert.ok(crowded.length < 65536);
    });

    it("cuts a diff too long for the comment at a line's end and says exactly which sections it cuts short and leaves out, and where the whole text is", () => {
        const dir = tempDir("artifact-cut");
        fs.mkdirSync(path.join(dir, "stacks"));
        const rows = (what: string, n: number) =>
            Array.from(
                { length: n },
                (_, i) => `| ${what}-${i}/server | gateway-server | ${what}-${i}.ob.example | new key |`,
            );
        const table = ["| certificate | role | hosts / identity | forces |", "| --- | --- | --- | --- |"];
        const markdown = [
            "## Certificate changes: dev (Option 2)\n",
            "### Added\n",
            ...table,
            ...rows("added", 800),
            "\n### Removed\n",
            ...table,
            ...rows("removed", 3),
            "\n### Istio Gateways (each server added or removed)\n",
            "| gateway | change | server | host | credentialName |",
            "",
        ].join("\n");
        const inventory = [...table, ...rows("inventory", 200), ""].join("\n");
        const sections = ["Added", "Removed", "Istio Gateways (each server added or removed)"];
        const read = (extra: object) => {
            fs.writeFileSync(
                path.join(dir, "stacks/dev.json"),
                JSON.stringify({ stack: "dev", outcome: "changes", exitCode: 0, markdown, inventory, ...extra }),
            );
            return comment.readDiffArtifact(dir).results.get("dev");
        };
        const whole = { sections, markdownLength: markdown.length, inventoryLength: inventory.length };
        fs.mkdirSync(path.join(dir, "full/dev"), { recursive: true });
        fs.writeFileSync(path.join(dir, "full/dev/diff.md"), markdown);
        fs.writeFileSync(path.join(dir, "full/dev/inventory.md"), inventory);
        const result = read(whole);
        const note =
            `*The diff's Markdown (${markdown.length} characters) is cut here, at the end of a line, to fit this comment. ` +
            "Cut short: `Added`. Left out: `Removed`, `Istio Gateways (each server added or removed)`. " +
            "The whole text is `full/dev/diff.md` in the run's `cert-diff` artifact.*";
        const [kept, after] = result.markdown.split("\n\n*");
        assert.strictEqual(`*${after}`, note);
        assert.ok(markdown.startsWith(`${kept}\n`) && kept.length <= comment.LIMITS.markdown, "whole lines only");
        assert.match(
            kept.split("\n").at(-1),
            /^\| added-\d+\/server \| gateway-server \| added-\d+\.ob\.example \| new key \|$/,
        );
        const inventoryKept = result.inventory.split("\n\n*")[0];
        assert.ok(inventory.startsWith(`${inventoryKept}\n`) && inventoryKept.length <= comment.LIMITS.inventory);
        assert.strictEqual(
            result.inventory.slice(inventoryKept.length),
            `\n\n*The inventory (${inventory.length} characters) is cut here, at the end of a line, to fit this comment. ` +
                "The whole table is `full/dev/inventory.md` in the run's `cert-diff` artifact.*",
        );

        // A run of an older workflow (no sections, no lengths, no full/): the headings its text shows,
        // and that there may be more; and that the artifact does not hold the whole text.
        fs.rmSync(path.join(dir, "full"), { recursive: true });
        const older =
            `*The diff's Markdown (${markdown.length} characters or more) is cut here, at the end of a line, to fit this comment. ` +
            "Cut short: `Added`. Left out: `Removed`, `Istio Gateways (each server added or removed)`, and maybe more (the artifact lists no sections). " +
            "The run's `cert-diff` artifact does not hold the whole text (no `full/dev/diff.md`).*";
        const cut = {};
        assert.strictEqual(read(cut).markdown.split("\n\n*")[1], older.slice(1));
        // Its text cut by the workflow inside "Added": what follows is unknown.
        assert.strictEqual(
            read({ markdown: markdown.slice(0, 46000) }).markdown.split("\n\n*")[1],
            "The diff's Markdown (46000 characters or more) is cut here, at the end of a line, to fit this comment. " +
                "Cut short: `Added`. Left out: any sections after the cut (the artifact lists none). " +
                "The run's `cert-diff` artifact does not hold the whole text (no `full/dev/diff.md`).*",
        );
        // A list of sections too long, or of other than short texts, is not taken.
        for (const bad of [
            Array(comment.MAX_SECTIONS + 1).fill("Added"),
            ["x".repeat(comment.MAX_SECTION_LENGTH + 1)],
            [1],
        ]) {
            assert.strictEqual(read({ ...cut, sections: bad }).markdown.split("\n\n*")[1], older.slice(1));
        }
        // A heading is named as inline code, neutralised.
        const hostile = read({ ...whole, sections: ["Added", "@team <!-- x --> `"] }).markdown;
        assert.ok(
            hostile.endsWith(
                "Left out: `` @\u200bteam &lt;!-- x --> ` ``. The run's `cert-diff` artifact does not hold the whole text (no `full/dev/diff.md`).*",
            ),
            hostile.slice(-200),
        );

        // At most: every text cut, the longest list of the longest names, a picture left out.
        const worst = read({
            markdown: "x\n".repeat(40000),
            message: "m\n".repeat(3000),
            inventory: "i\n".repeat(8000),
            sections: Array(comment.MAX_SECTIONS).fill("@a".repeat(comment.MAX_SECTION_LENGTH / 2)),
            mermaid: `flowchart LR\n${"    a --> b\n".repeat(2500)}`,
        });
        const body = comment.diffBody({
            stack: "dev",
            result: { ...worst, outcome: "crash", exitCode: 134 },
            changed: true,
            programChanged: true,
            runUrl: "https://github.example/r/1",
            conclusion: "failure",
            headSha: sha("a"),
            preview: comment.previewSection(undefined, {
                serverUrl: "https://github.example",
                repository: "bank/pki",
                headSha: sha("a"),
            }),
        });
        assert.ok(body.length <= 65536 - 1000, `${body.length} characters`);
    });

    it("renders a hostile organization in the diff's Markdown and the inventory as text: no HTML, link or image reaches the comment", async () => {
        // Within the 64 characters of a subject O.
        const hostile = "B </details> [ok](https://e.x) ![x](https://e.x/i) <img>";
        const { dir, head } = devStackOf(hostile, "hostile-markdown");
        const base = path.join(ROOT, "stacks/Pulumi.dev.yaml");
        const { status, out } = await cli("diff", "--base", base, "--head", head);
        assert.strictEqual(status, 0);
        // The diff and the inventory escape the "<" of the values they insert (lib/cli/format.ts markdownText).
        assert.ok(out.includes(hostile.replace(/</g, "\\<")), "the diff names the new organization");
        fs.mkdirSync(path.join(dir, "artifact/stacks"), { recursive: true });
        // The inventory's table goes into the comment too, inside <details>.
        const inventory = await cli("inventory", "--config", head, "--format", "markdown");
        assert.strictEqual(inventory.status, 0);
        assert.ok(inventory.out.includes(hostile.replace(/</g, "\\<")), "the inventory names the new organization");
        fs.writeFileSync(
            path.join(dir, "artifact/stacks/dev.json"),
            JSON.stringify({ stack: "dev", outcome: "risky", exitCode: 1, markdown: out, inventory: inventory.out }),
        );
        const read = comment.readDiffArtifact(path.join(dir, "artifact")).results.get("dev");
        for (const [field, text] of [
            ["markdown", read.markdown as string],
            ["inventory", read.inventory as string],
        ]) {
            assert.ok(!text.includes("<"), `${field}: no raw HTML`);
            assert.ok(!/(^|[^\\])\[/.test(text), `${field}: no unescaped [ that could open a link or an image`);
            assert.ok(
                text.includes("B &lt;/details> \\[ok](https:\u200b//e.x) !\\[x](https:\u200b//e.x/i) &lt;img>"),
                field,
            );
        }
    });

    it("renders a hostile organization's URLs, references and emphasis as text, and the diff's own Markdown as Markdown", async () => {
        const hostile = "Bank https://e.x www.e.x #1 GH-2 a/b#3 **OK** _u_ ~~s~~ `c`";
        const { diff, inventory, read } = await commentOfDevStack(hostile, "hostile-links");
        // The tool escapes the emphasis characters of the values it inserts...
        const escaped = "Bank https://e.x www.e.x #1 GH-2 a/b#3 \\*\\*OK\\*\\* \\_u\\_ \\~\\~s\\~\\~ \\`c\\`";
        assert.ok(diff.out.includes(`-> O=${escaped}, CN=dev mesh root CA |`), diff.out);
        assert.ok(inventory.out.includes(`| O=${escaped}, CN=dev mesh root CA |`), inventory.out);
        // ...and the comment breaks what GitHub would link in rendered text with a zero-width space.
        const shown =
            "Bank https:\u200b//e.x www\u200b.e.x #\u200b1 GH-\u200b2 a/b#\u200b3 \\*\\*OK\\*\\* \\_u\\_ \\~\\~s\\~\\~ \\`c\\`";
        assert.ok(read.markdown.includes(`-> O=${shown}, CN=dev mesh root CA |`), read.markdown);
        assert.ok(read.inventory.includes(`| O=${shown}, CN=dev mesh root CA |`), read.inventory);
        // The diff's own headings, bold and tables are left as they are.
        assert.ok(
            read.markdown.startsWith(
                "## Certificate changes: dev (Option 1)\n\n### Risks\n\n- **pki:organization: re-issues 3 roots (mesh-root, server-root, client-root)",
            ),
            read.markdown,
        );
        assert.ok(
            read.markdown.includes(
                "### Replaced\n\n| certificate | role | why | forces |\n| --- | --- | --- | --- |\n",
            ),
        );
        assert.strictEqual(
            read.inventory.split("\n").slice(0, 2).join("\n"),
            inventory.out.split("\n").slice(0, 2).join("\n"),
        );
    });

    it("shows a hostile organization's character references as written, in the diff, the inventory and a Markdown renderer", async () => {
        // "&#x6c;" would be shown as "l" (an old and a new subject that look the same), "&#x202E;" as a
        // right-to-left override; the certificates get the characters as written.
        const hostile = "Examp&#x6c;e &amp; Bank&#x202E;";
        // The comment writes an "&" nothing escaped as "&amp;": text that did not come through the diff.
        const unescaped = "\n\nby hand: &#x202E; \\\\&#x6c; \\&#x6c; <!-- x\n";
        const { diff, inventory, read } = await commentOfDevStack(hostile, "hostile-references", unescaped);
        const escaped = "Examp\\&#x6c;e \\&amp; Bank\\&#x202E;";
        assert.ok(diff.out.includes(`-> O=${escaped}, CN=dev mesh root CA |`), diff.out);
        assert.ok(inventory.out.includes(`| O=${escaped}, CN=dev mesh root CA |`), inventory.out);
        assert.ok(read.markdown.includes(`-> O=${escaped}, CN=dev mesh root CA |`), read.markdown);
        assert.ok(
            read.markdown.endsWith("\n\nby hand: &amp;#x202E; \\\\&amp;#x6c; \\&#x6c; &lt;!-- x\n"),
            read.markdown,
        );
        const { marked } = await import("marked");
        const html = (markdown: string) => marked.parse(markdown, { async: false, gfm: true });
        const shownSubject = "O=Examp&amp;#x6c;e &amp;amp; Bank&amp;#x202E;, CN=dev mesh root CA</td>";
        for (const [what, markdown] of [
            ["the diff", read.markdown],
            ["the inventory", read.inventory],
        ]) {
            const shown = html(markdown);
            assert.ok(shown.includes(shownSubject), `${what}: ${shown}`);
            assert.ok(!shown.includes("\u202e") && !/Example &(amp;)? Bank/.test(shown), what);
        }
        assert.ok(
            html(read.markdown).includes("<p>by hand: &amp;#x202E; \\&amp;#x6c; &amp;#x6c; &lt;!-- x</p>"),
            html(read.markdown),
        );
    });

    it("finds only its own bot comment with the stack's marker on the first line", () => {
        const bot = { login: "github-actions[bot]", type: "Bot" };
        const comments = [
            { id: 1, body: `${comment.marker("dev")}\nforged by a person`, user: { login: "mallory", type: "User" } },
            { id: 2, body: `quoting ${comment.marker("dev")}\n`, user: bot },
            { id: 3, body: `${comment.marker("dev-eu")}\n`, user: bot },
            { id: 4, body: `${comment.marker("dev")}\nthe one`, user: bot },
        ];
        assert.strictEqual(comment.findComment(comments, comment.marker("dev"))?.id, 4);
        assert.strictEqual(comment.findComment(comments.slice(0, 3), comment.marker("dev")), undefined);
    });

    it("says what happened in every outcome, with the exit status and the message where there is one", () => {
        const base = {
            changed: true,
            programChanged: false,
            runUrl: "https://github.example/r/1",
            conclusion: "failure",
            headSha: sha("a"),
            preview: "P",
        };
        const result = (outcome: string, extra: object = {}) => ({
            stack: "dev",
            outcome,
            exitCode: 0,
            markdown: "",
            message: "",
            inventory: "",
            mermaid: "",
            ...extra,
        });
        const lines = (args: object) => comment.diffBody({ ...base, stack: "dev", ...args }).split("\n\n");
        assert.deepStrictEqual(lines({ result: result("changes", { markdown: "## Certificate changes: dev" }) }), [
            "<!-- apic-istio-pki:cert-diff:dev -->\n### Certificate review: stack `dev`",
            "## Certificate changes: dev",
            "<sub>Commit aaaaaaa · [certificate diff run](https://github.example/r/1)</sub>",
            "P",
        ]);
        assert.strictEqual(
            lines({ result: result("new") })[1],
            "**New stack.** Everything below is created by its first `pulumi up`.",
        );
        assert.match(lines({ result: result("risky", { exitCode: 1 }) })[1], /^\*\*Risky: the check fails\*\*/);
        assert.match(lines({ result: result("refused", { exitCode: 1 }) })[1], /^\*\*Refused\*\* \(`diff` exited 1\)/);
        assert.deepStrictEqual(
            lines({ result: result("invalid", { exitCode: 1, message: "pki:option must be 1, 2 or 3; got 4" }) }).slice(
                1,
                3,
            ),
            [
                "**Invalid stack file** (exit 1): `pulumi up` would stop with:",
                "```\npki:option must be 1, 2 or 3; got 4\n```",
            ],
        );
        assert.strictEqual(
            lines({ result: result("removed") })[1],
            "**Stack file deleted: the check fails.** No workflow runs `pulumi destroy`, and once this is merged the scheduled lifecycle stops watching stack `dev`, which stays deployed: its renewals, CRL re-publication and expiry alerts end, and its CRLs lapse within the CRL validity after their last re-publication; from then on the gateway refuses every client. Destroy the stack first (`pulumi destroy --stack dev`), then delete its file; or keep the file. Approve this only knowingly.",
        );
        assert.deepStrictEqual(lines({ result: result("crash", { exitCode: 134, message: "Aborted" }) }).slice(1, 3), [
            "**The diff failed** (exit 134):",
            "```\nAborted\n```",
        ]);
        assert.strictEqual(
            lines({ problems: ["meta.json is missing"] })[1],
            "**No result for this stack.** The certificate diff run ended (failure) without one: see [the run](https://github.example/r/1). What the artifact lacked: meta.json is missing.",
        );
        assert.match(
            lines({ result: result("changes"), programChanged: true })[1],
            /^> This pull request also changes the program/,
        );
        assert.match(lines({ changed: false })[1], /^This pull request no longer changes this stack/);
    });

    it("keeps one comment per stack across pushes, ignores an outdated run, and a preview run fills in its link", async () => {
        const { artifact, head } = replayDiffJob();
        const artifactDir = path.dirname(artifact); // as download-artifact lays it out: <path>/cert-diff/...
        const state = {
            prs: [{ number: 7, head }],
            files: {
                7: [
                    "stacks/Pulumi.dev.yaml",
                    "stacks/Pulumi.sit.yaml",
                    "stacks/Pulumi.prod.yaml",
                    "stacks/Pulumi.$(touch PWNED).yaml",
                ],
            },
            comments: [
                { id: 1, issue: 7, body: `${comment.marker("dev")}\nforged`, user: { login: "mallory", type: "User" } },
            ] as FakeComment[],
        };
        const { github, writes } = fakeGitHub(state);
        const diffRun = (id: number, headSha: string) =>
            context({
                id,
                path: ".github/workflows/cert-diff.yml",
                event: "pull_request",
                head_sha: headSha,
                pull_requests: [],
                conclusion: "failure",
            });
        await comment.run({ github, context: diffRun(11, head), core, artifactDir });
        assert.deepStrictEqual(writes, ["create #7", "create #7", "create #7", "create #7"]);
        const body = (stack: string) =>
            state.comments.find((c) => c.user.type === "Bot" && c.body.startsWith(`${comment.marker(stack)}\n`))
                ?.body ?? "";
        assert.match(
            body("dev"),
            /^<!-- apic-istio-pki:cert-diff:dev -->\n### Certificate review: stack `dev`\n\n\*\*Risky: the check fails\*\*[^]*## Certificate changes: dev \(Option 1\)\n\n### Risks\n/,
        );
        assert.match(body("dev"), /<details><summary>Every certificate of the stack after this change<\/summary>/);
        const picture = JSON.parse(fs.readFileSync(path.join(artifact, "stacks/dev.json"), "utf8")).mermaid as string;
        assert.ok(
            body("dev").includes(
                "<details open><summary>Trust hierarchy after this change: added, replaced and removed certificates highlighted</summary>\n\n" +
                    `\`\`\`mermaid\n${picture.trimEnd()}\n\`\`\`\n\n</details>\n\n<details><summary>Every certificate`,
            ),
            "the dev comment shows the artifact's trust picture in a mermaid block, before the inventory",
        );
        assert.match(body("dev"), /\*\*Preview:\*\* not run\. [^\n]*\n<!-- \/apic-istio-pki:preview -->$/);
        assert.match(
            body("sit"),
            /\*\*Invalid stack file\*\* \(exit 1\): `pulumi up` would stop with:\n\n```\n[^`]*pki:option must be 1, 2 or 3/,
        );
        assert.match(body("prod"), /\*\*Stack file deleted: the check fails\.\*\* .* stops watching stack `prod`/);
        assert.match(
            state.comments.at(-1)?.body ?? "",
            /^<!-- apic-istio-pki:skipped-stack-files -->\n[^]*\n- `stacks\/Pulumi\.\$\(touch PWNED\)\.yaml`$/,
        );
        assert.strictEqual(
            state.comments[0].body,
            `${comment.marker("dev")}\nforged`,
            "a person's comment is never touched",
        );

        await comment.run({ github, context: diffRun(11, head), core, artifactDir });
        assert.deepStrictEqual(writes.slice(4), [], "the same run again changes nothing");

        // The privileged preview of this pull request's head, for dev.
        const previewDir = tempDir("preview-artifact");
        fs.mkdirSync(path.join(previewDir, "cert-preview"));
        fs.writeFileSync(
            path.join(previewDir, "cert-preview/meta.json"),
            JSON.stringify({ schema: 1, pr: 7, headSha: head, stacks: { dev: { outcome: "ok", exitCode: 0 } } }),
        );
        const previewRun = context({
            id: 22,
            path: ".github/workflows/preview.yml",
            event: "workflow_dispatch",
            head_branch: "main",
            head_repository: { full_name: "bank/pki" },
        });
        const devId = state.comments.find((c) => c.body === body("dev"))?.id;
        await comment.run({ github, context: previewRun, core, artifactDir: previewDir });
        assert.deepStrictEqual(writes.slice(4), [`update ${devId}`]);
        assert.match(
            body("dev"),
            new RegExp(
                `\\*\\*Preview:\\*\\* \\[pulumi preview of commit ${head.slice(0, 7)}\\]\\(https://github\\.example/bank/pki/actions/runs/22\\) succeeded\\.\\n<!-- /apic-istio-pki:preview -->$`,
            ),
        );

        // A push that reverts sit and the hostile file: dev keeps its comment and its preview link.
        state.prs[0].head = sha("b");
        state.files[7] = ["stacks/Pulumi.dev.yaml"];
        const before = body("dev");
        await comment.run({ github, context: diffRun(33, sha("b")), core, artifactDir: tempDir("no-artifact") });
        assert.strictEqual(state.comments.filter((c) => c.user.type === "Bot").length, 4, "no new comment");
        assert.match(
            body("dev"),
            /\*\*No result for this stack\.\*\* The certificate diff run ended \(failure\) without one/,
        );
        assert.match(
            body("dev"),
            /succeeded\. The pull request has changed since \(now at bbbbbbb\)\.\n<!-- \/apic-istio-pki:preview -->$/,
        );
        assert.notStrictEqual(body("dev"), before);
        assert.match(body("sit"), /This pull request no longer changes this stack \(as of commit bbbbbbb/);
        assert.match(state.comments.at(-1)?.body ?? "", /None any more/);

        // The first run arriving late: its commit is no longer the head, so nothing is written.
        const count = writes.length;
        await comment.run({ github, context: diffRun(11, head), core, artifactDir });
        assert.strictEqual(writes.length, count);
    });

    it("comments on the stack a renamed stack file leaves as deleted, and on the new name as new", async () => {
        const artifact = tempDir("rename-artifact");
        const head = sha("c");
        fs.mkdirSync(path.join(artifact, "cert-diff/stacks"), { recursive: true });
        const write = (file: string, value: object) =>
            fs.writeFileSync(path.join(artifact, "cert-diff", file), JSON.stringify(value));
        // What the diff job writes for git mv stacks/Pulumi.prod.yaml stacks/Pulumi.prod2.yaml (git diff --no-renames).
        write("meta.json", { schema: 1, pr: 7, headSha: head, programChanged: false });
        write("stacks/prod.json", { stack: "prod", outcome: "removed", exitCode: 0 });
        write("stacks/prod2.json", { stack: "prod2", outcome: "new", exitCode: 0, markdown: "## Certificate changes" });
        const state = {
            prs: [{ number: 7, head }],
            files: {
                7: [
                    {
                        filename: "stacks/Pulumi.prod2.yaml",
                        status: "renamed" as const,
                        previous_filename: "stacks/Pulumi.prod.yaml",
                    },
                ],
            },
            comments: [] as FakeComment[],
        };
        const { github } = fakeGitHub(state);
        const diffRun = context({
            id: 44,
            path: ".github/workflows/cert-diff.yml",
            event: "pull_request",
            head_sha: head,
            pull_requests: [],
            conclusion: "success",
        });
        await comment.run({ github, context: diffRun, core, artifactDir: artifact });
        assert.deepStrictEqual(
            state.comments.map((c) => c.body.split("\n").slice(0, 4)),
            [
                [
                    comment.marker("prod"),
                    "### Certificate review: stack `prod`",
                    "",
                    "**Stack file deleted: the check fails.** No workflow runs `pulumi destroy`, and once this is merged the scheduled lifecycle stops watching stack `prod`, which stays deployed: its renewals, CRL re-publication and expiry alerts end, and its CRLs lapse within the CRL validity after their last re-publication; from then on the gateway refuses every client. Destroy the stack first (`pulumi destroy --stack prod`), then delete its file; or keep the file. Approve this only knowingly.",
                ],
                [
                    comment.marker("prod2"),
                    "### Certificate review: stack `prod2`",
                    "",
                    "**New stack.** Everything below is created by its first `pulumi up`.",
                ],
            ],
        );
    });

    /**
     * The prod comment of pull request 7 whose files GitHub lists as `files`, from an artifact
     * saying `programChanged` whose prod diff shows no certificate change (what a forged CLI prints).
     */
    async function prodCommentOf(files: string[], programChanged: boolean) {
        const artifact = tempDir("program-artifact");
        const head = sha("d");
        fs.mkdirSync(path.join(artifact, "cert-diff/stacks"), { recursive: true });
        const write = (file: string, value: object) =>
            fs.writeFileSync(path.join(artifact, "cert-diff", file), JSON.stringify(value));
        write("meta.json", { schema: 1, pr: 7, headSha: head, programChanged });
        write("stacks/prod.json", {
            stack: "prod",
            outcome: "changes",
            exitCode: 0,
            markdown: "No certificate is created, replaced or removed.",
        });
        const state = { prs: [{ number: 7, head }], files: { 7: files }, comments: [] as FakeComment[] };
        const diffRun = context({
            id: 55,
            path: ".github/workflows/cert-diff.yml",
            event: "pull_request",
            head_sha: head,
            pull_requests: [{ number: 7 }],
            conclusion: "success",
        });
        await comment.run({ github: fakeGitHub(state).github, context: diffRun, core, artifactDir: artifact });
        assert.deepStrictEqual(
            state.comments.map((c) => c.body.split("\n")[0]),
            [comment.marker("prod")],
        );
        return state.comments[0].body.split("\n\n");
    }

    it("warns of a program change hidden past the 3000 files GitHub lists: the list was truncated, so the program could not be checked", async () => {
        // 2999 documents, the stack file (file 3000), then a tsconfig.json and the forged CLI that
        // `tsc -b .` would build into dist/lib/cli/main.js: files 3001 and 3002, never listed.
        const docs = Array.from({ length: 2999 }, (_, i) => `docs/${String(i).padStart(4, "0")}.md`);
        const files = [...docs, "stacks/Pulumi.prod.yaml", "tsconfig.json", "zz/lib/cli/main.ts"];
        assert.deepStrictEqual([...files].sort(), files, "in the path order GitHub lists them");
        assert.strictEqual(comment.programChangedIn(files.slice(0, 3000)), false, "the listed files are no program");
        assert.deepStrictEqual((await prodCommentOf(files, false)).slice(1, 3), [
            "> This pull request may also change the program: GitHub listed only 3000 of its 3002 files, so the file list was truncated and the program could not be checked. Take it as changed: the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.",
            "No certificate is created, replaced or removed.",
        ]);
        // Exactly 3000 files: GitHub's count agrees, but a list that long may be a cut one.
        assert.strictEqual(
            (await prodCommentOf(files.slice(0, 3000), false))[1],
            "> This pull request may also change the program: GitHub listed 3000 files, the most it lists, so the file list was truncated and the program could not be checked. Take it as changed: the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.",
        );
    });

    it("warns of a program change the diff job's git diff found, even when GitHub's list shows the stack file alone", async () => {
        const warning =
            "> This pull request also changes the program (a file other than stack files and documents): the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.";
        assert.deepStrictEqual((await prodCommentOf(["stacks/Pulumi.prod.yaml"], true)).slice(1, 3), [
            warning,
            "No certificate is created, replaced or removed.",
        ]);
        assert.deepStrictEqual((await prodCommentOf(["stacks/Pulumi.prod.yaml"], false)).slice(1, 2), [
            "No certificate is created, replaced or removed.",
        ]);
    });

    /**
     * The diff job's artifact for commit `headSha` saying `meta` (whatever the pull request's code
     * writes), its prod diff showing no certificate change; and the run of commit `headSha` on the
     * branch `head`, as GitHub reports it for a fork (no pull request named).
     */
    function prodRun(id: number, headSha: string, meta: object, head = FORK_HEAD) {
        const artifactDir = tempDir("prod-artifact");
        fs.mkdirSync(path.join(artifactDir, "cert-diff/stacks"), { recursive: true });
        fs.writeFileSync(path.join(artifactDir, "cert-diff/meta.json"), JSON.stringify(meta));
        fs.writeFileSync(
            path.join(artifactDir, "cert-diff/stacks/prod.json"),
            JSON.stringify({
                stack: "prod",
                outcome: "changes",
                exitCode: 0,
                markdown: "No certificate is created, replaced or removed.",
            }),
        );
        const runContext = context({
            id,
            path: ".github/workflows/cert-diff.yml",
            event: "pull_request",
            head_sha: headSha,
            head_repository: { full_name: head.repository },
            head_branch: head.branch,
            pull_requests: [],
            conclusion: "success",
        });
        return { context: runContext, artifactDir };
    }
    const PROGRAM_WARNING =
        "> This pull request also changes the program (a file other than stack files and documents): the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.";

    it("finds the pull request by the run's commit: a fork's artifact naming another pull request cannot keep a warning-free comment", async () => {
        // The attacker's fork, pull request 9: commit A changes the prod stack file alone (an honest
        // comment, no warning); commit B also changes tsconfig.json, and B's own cert-diff.yml writes
        // "pr": 5, another open pull request (bob's), into meta.json.
        const state = {
            prs: [
                { number: 9, head: sha("a") },
                { number: 5, head: sha("e"), headRepository: "bob/pki", headBranch: "docs" },
            ],
            files: { 9: ["stacks/Pulumi.prod.yaml"], 5: ["README.md"] } as Record<number, string[]>,
            comments: [] as FakeComment[],
        };
        const { github, writes } = fakeGitHub(state);
        await comment.run({ github, core, ...prodRun(61, sha("a"), { schema: 1, pr: 9, headSha: sha("a") }) });
        assert.deepStrictEqual(writes, ["create #9"]);
        assert.ok(!state.comments[0].body.includes("changes the program"));

        state.prs[0].head = sha("d");
        state.files[9] = ["stacks/Pulumi.prod.yaml", "tsconfig.json"];
        const forged = { schema: 1, pr: 5, headSha: sha("d"), programChanged: false };
        await comment.run({ github, core, ...prodRun(62, sha("d"), forged) });
        assert.deepStrictEqual(
            writes,
            ["create #9", `update ${state.comments[0].id}`],
            "pull request 5 is not touched",
        );
        assert.deepStrictEqual(state.comments[0].body.split("\n\n").slice(1, 3), [
            PROGRAM_WARNING,
            "No certificate is created, replaced or removed.",
        ]);
        assert.match(state.comments[0].body, /<sub>Commit ddddddd /);

        // A run of a commit no open pull request has as its head still writes nothing, whatever it names.
        await comment.run({ github, core, ...prodRun(63, sha("f"), { schema: 1, pr: 9, headSha: sha("f") }) });
        assert.strictEqual(writes.length, 2);
    });

    /** A core whose log the test reads. */
    function loggingCore() {
        const logs: string[] = [];
        return { logs, core: { info: (message: string) => void logs.push(message) } };
    }

    it("ties the pull request to the run's fork and branch: a closed pull request at a copy of another's commit cannot write to theirs", async () => {
        // The victim's fork pull request 5 has commit S as its head. Mallory pushes S to her fork,
        // opens pull request 9 at S against release-1 and closes it while its diff runs: her run's
        // head is S, but on her fork's branch, and her artifact (diffed against release-1, or none)
        // names 9, or 5.
        const S = sha("5");
        const victim = { repository: "victim/pki", branch: "fix-prod" };
        const mallory = { repository: "mallory/pki", branch: "copy" };
        const state = {
            prs: [
                { number: 5, head: S, headRepository: victim.repository, headBranch: victim.branch },
                {
                    number: 9,
                    head: S,
                    headRepository: mallory.repository,
                    headBranch: mallory.branch,
                    base: "release-1",
                    state: "closed" as const,
                },
            ],
            files: { 5: ["stacks/Pulumi.prod.yaml"], 9: ["stacks/Pulumi.prod.yaml"] },
            comments: [] as FakeComment[],
        };
        const { github, writes } = fakeGitHub(state);
        const { logs, core: logging } = loggingCore();
        await comment.run({ github, core: logging, ...prodRun(91, S, { schema: 1, pr: 5, headSha: S }, victim) });
        assert.deepStrictEqual(writes, ["create #5"]);
        const victimComment = state.comments[0].body;

        await comment.run({ github, core: logging, ...prodRun(92, S, { schema: 1, pr: 9, headSha: S }, mallory) });
        const noArtifact = { ...prodRun(93, S, {}, mallory), artifactDir: tempDir("no-artifact") };
        await comment.run({ github, core: logging, ...noArtifact });
        await comment.run({ github, core: logging, ...prodRun(94, S, { schema: 1, pr: 5, headSha: S }, mallory) });
        // A run GitHub names no head repository for (a fork deleted) is tied to no pull request either.
        const victimRun = prodRun(95, S, { schema: 1, pr: 5, headSha: S }, victim);
        const headless = context({ ...victimRun.context.payload.workflow_run, head_repository: null });
        await comment.run({ github, core: logging, artifactDir: victimRun.artifactDir, context: headless });
        assert.deepStrictEqual(
            writes,
            ["create #5"],
            "neither the victim's pull request nor the closed one is written",
        );
        assert.strictEqual(state.comments[0].body, victimComment);
        assert.deepStrictEqual(logs, [
            "Pull request #5: 1 stack comments up to date.",
            `Pull request #9 of the run's head mallory/pki:copy at ${S} is closed: nothing to comment.`,
            `No open pull request has the run's head mallory/pki:copy at ${S}: nothing to comment.`,
            `No open pull request has the run's head mallory/pki:copy at ${S}: nothing to comment.`,
            "The run names no head repository and branch: nothing to comment.",
        ]);
    });

    it("writes each run's result to its own pull request when two forks' open pull requests have the same commit, whatever their artifacts name", async () => {
        // Alice's and Bob's forks, both on a branch named prod-certs, both at commit S; each
        // artifact names the other's pull request.
        const S = sha("c");
        const bob = { repository: "bob/pki", branch: FORK_HEAD.branch };
        const state = {
            prs: [
                { number: 5, head: S },
                { number: 6, head: S, headRepository: bob.repository },
            ],
            files: { 5: ["stacks/Pulumi.prod.yaml"], 6: ["stacks/Pulumi.prod.yaml"] },
            comments: [] as FakeComment[],
        };
        const { github, writes } = fakeGitHub(state);
        await comment.run({ github, core, ...prodRun(101, S, { schema: 1, pr: 6, headSha: S }) });
        await comment.run({ github, core, ...prodRun(102, S, { schema: 1, pr: 5, headSha: S }, bob) });
        assert.deepStrictEqual(writes, ["create #5", "create #6"]);
        assert.deepStrictEqual(
            state.comments.map((c) => [c.issue, /\/actions\/runs\/(\d+)\)/.exec(c.body)?.[1]]),
            [
                [5, "101"],
                [6, "102"],
            ],
        );
    });

    it("writes nothing when the run's branch has two open pull requests, or its artifact names a closed one of that branch: the run cannot tell which it was for", async () => {
        const S = sha("7");
        const state = {
            prs: [{ number: 5, head: S }, { number: 8, head: S, base: "release-1" } as FakePullRequest],
            files: { 5: ["stacks/Pulumi.prod.yaml"], 8: ["stacks/Pulumi.prod.yaml"] },
            comments: [] as FakeComment[],
        };
        const { github, writes } = fakeGitHub(state);
        const { logs, core: logging } = loggingCore();
        await comment.run({ github, core: logging, ...prodRun(111, S, { schema: 1, pr: 5, headSha: S }) });
        // Pull request 8 closed while its run went on: that run's result is not pull request 5's.
        state.prs[1].state = "closed";
        await comment.run({ github, core: logging, ...prodRun(112, S, { schema: 1, pr: 8, headSha: S }) });
        assert.deepStrictEqual(writes, []);
        assert.deepStrictEqual(logs, [
            `Pull requests #5, #8 all have the run's head alice/pki:prod-certs at ${S}: which one the run was for is unknown, so nothing is written.`,
            `Pull request #8 of the run's head alice/pki:prod-certs at ${S} is closed: nothing to comment.`,
        ]);
    });

    it("warns that the file list could not be checked when GitHub does not answer for the pull request's file count", async () => {
        // Commit A: the prod stack file alone, a warning-free comment. Commit B adds tsconfig.json
        // and GitHub's pulls.get fails (502): the pull request is found through pulls.list.
        const state = {
            prs: [{ number: 7, head: sha("a") }],
            files: { 7: ["stacks/Pulumi.prod.yaml"] } as Record<number, string[]>,
            comments: [] as FakeComment[],
            getFailsWith: undefined as number | undefined,
        };
        const { github, writes } = fakeGitHub(state);
        await comment.run({ github, core, ...prodRun(71, sha("a"), { schema: 1, pr: 7, headSha: sha("a") }) });
        assert.deepStrictEqual(writes, ["create #7"]);
        const unchecked = (listed: number) =>
            `> This pull request may also change the program: GitHub listed ${listed} files but did not say how many it has, so the file list could not be checked, nor the program. Take it as changed: the diff below comes from the pull request's own code, so review that code too. The privileged preview runs the default branch's program.`;

        state.prs[0].head = sha("b");
        state.files[7] = ["stacks/Pulumi.prod.yaml", "tsconfig.json"];
        state.getFailsWith = 502;
        await comment.run({ github, core, ...prodRun(72, sha("b"), { schema: 1, pr: 7, headSha: sha("b") }) });
        assert.deepStrictEqual(writes, ["create #7", `update ${state.comments[0].id}`]);
        assert.deepStrictEqual(state.comments[0].body.split("\n\n").slice(1, 3), [
            unchecked(2),
            "No certificate is created, replaced or removed.",
        ]);
        // The stack file alone listed: the list is no less unchecked.
        state.files[7] = ["stacks/Pulumi.prod.yaml"];
        await comment.run({ github, core, ...prodRun(73, sha("b"), { schema: 1, pr: 7, headSha: sha("b") }) });
        assert.strictEqual(state.comments[0].body.split("\n\n")[1], unchecked(1));
    });

    it("writes nothing when the pull request moves on while its files are listed: the newer commit's run comments", async () => {
        const state = {
            prs: [{ number: 7, head: sha("b") }],
            files: { 7: ["stacks/Pulumi.prod.yaml"] } as Record<number, string[]>,
            comments: [] as FakeComment[],
            onListFiles: undefined as (() => void) | undefined,
        };
        const { github, writes } = fakeGitHub(state);
        // Commit C, pushed as B's run lists the files: it adds tsconfig.json.
        state.onListFiles = () => {
            state.prs[0].head = sha("c");
            state.files[7] = ["stacks/Pulumi.prod.yaml", "tsconfig.json"];
        };
        await comment.run({ github, core, ...prodRun(81, sha("b"), { schema: 1, pr: 7, headSha: sha("b") }) });
        assert.deepStrictEqual(writes, [], "B's comment is not built from C's files");
        state.onListFiles = undefined;
        await comment.run({ github, core, ...prodRun(82, sha("c"), { schema: 1, pr: 7, headSha: sha("c") }) });
        assert.deepStrictEqual(writes, ["create #7"]);
        assert.strictEqual(state.comments[0].body.split("\n\n")[1], PROGRAM_WARNING);
        assert.match(state.comments[0].body, /<sub>Commit ccccccc /);
    });
});

describe("workflows: the lifecycle decision step, replayed", function () {
    this.timeout(60_000);

    it("records what each stack needs in the contract's shape, marked failed when reading the deployed outputs or the command fails, restores the stack files, and keeps the token from node", async () => {
        const { dir } = hostileRepo();
        // What `pulumi stack output --json` gives for dev once it is deployed.
        const devRender = await renderStackFile("stacks/Pulumi.dev.yaml");
        const devOutputs = writeTemp(
            tempDir("dev-outputs"),
            "outputs.json",
            JSON.stringify({
                inventory: JSON.parse(devRender.read("inventory.json")).certificates,
                deploymentRecord: JSON.parse(devRender.read("deployment.json")),
            }),
        );
        fs.symlinkSync(path.join(ROOT, "dist"), path.join(dir, "dist"));
        // The Pulumi CLI, as far as this step uses it (with the token only): dev is deployed, prod never
        // was, and sit's outputs come back as what no lifecycle command can read.
        const bin = tempDir("fake-pulumi");
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            `#!/bin/sh\n[ "$PULUMI_ACCESS_TOKEN" = token-of-test ] || { echo "pulumi: no token" >&2; exit 98; }\n${STORES_TOKEN}case "$1" in\n  login) exit 0 ;;\n  stack) if [ "$4" = sit ]; then echo "not json"; exit 0; fi; if [ "$4" != dev ]; then echo "error: no stack named '$4' found" >&2; exit 255; fi; cat ${JSON.stringify(devOutputs)} ;;\nesac\n`,
            { mode: 0o755 },
        );
        // node, as the step runs it, refuses to start when it sees the token.
        fs.writeFileSync(path.join(bin, "node"), NODE_WITHOUT_TOKEN, { mode: 0o755 });
        const temp = tempDir("workflow-runner");
        const output = path.join(temp, "github-output");
        const devBefore = fs.readFileSync(path.join(dir, "stacks/Pulumi.dev.yaml"), "utf8");
        const r = replaySteps(
            workflow("lifecycle.yml").jobs.decide,
            ["deployed", "decide"],
            dir,
            {
                PATH: `${bin}:${process.env.PATH}`,
                RUNNER_TEMP: temp,
                GITHUB_OUTPUT: output,
                HOME: tempDir("runner-home"),
            },
            { PULUMI_BACKEND_URL: "", PULUMI_ACCESS_TOKEN: "token-of-test" },
        );
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(noPwned(dir, temp), []);
        assert.strictEqual(r.stdout.split("\n").filter((l) => l.startsWith("Skipped")).length, 3);
        const result = (stack: string) =>
            JSON.parse(fs.readFileSync(path.join(temp, "lifecycle", stack, "lifecycle.json"), "utf8"));
        // Both failures are marked: no decision was made, so the pull request step leaves the stack alone.
        assert.deepStrictEqual(result("prod"), {
            failed: true,
            changed: false,
            republishCrls: false,
            markdown: "",
            needsHuman: ["could not read the deployed outputs of stack prod: error: no stack named 'prod' found\n"],
        });
        assert.deepStrictEqual(result("sit"), {
            failed: true,
            changed: false,
            republishCrls: false,
            markdown: "",
            needsHuman: [
                `the lifecycle command failed on stack sit (exit 2): error: --deployed ${temp}/deployed/sit.json: it is not JSON; give the JSON of "pulumi stack output --json" or a render's folder (inventory.json and deployment.json)\n`,
            ],
        });
        const dev = result("dev");
        assert.deepStrictEqual(
            [typeof dev.changed, typeof dev.republishCrls, Array.isArray(dev.needsHuman)],
            ["boolean", "boolean", true],
        );
        // The command ran (a failed one's record has no report).
        assert.match(dev.markdown, /^## Lifecycle of dev at \d{4}-\d\d-\d\d\n/, JSON.stringify(dev.needsHuman));
        assert.strictEqual(
            fs.readFileSync(path.join(dir, "stacks/Pulumi.dev.yaml"), "utf8"),
            devBefore,
            "the checkout is left as it was",
        );
        assert.match(fs.readFileSync(output, "utf8"), /^republish=\[("[a-z]+"(,"[a-z]+")*)?\]\n$/);
        assert.deepStrictEqual(
            fs.readdirSync(temp).filter((f) => f.startsWith("deployed")),
            [],
            "the deployed outputs are not kept",
        );
    });

    /**
     * A default branch holding dev's stack file as deployed, and twice with a change merged and not
     * deployed yet; a fake Pulumi CLI (it needs the token) and a node that refuses to start with it.
     * The CLI gives the outputs of the file $DEPLOYED_OUTPUTS: dev as deployed with a CRL of the
     * APIC-client CA that nothing revoked needs any more (due now: the next update removes it, CRLs
     * alone), or as rendered (nothing due).
     */
    async function crlsDue(): Promise<{
        dir: string;
        bin: string;
        crlDue: string;
        rendered: string;
        handDue: string;
        handBefore: string;
    }> {
        const { dir, git } = gitRepo("workflow-republish");
        fs.mkdirSync(path.join(dir, "stacks"));
        const devText = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8");
        fs.writeFileSync(path.join(dir, "stacks/Pulumi.dev.yaml"), devText);
        // The same stack file with ob's server renewed, merged but not deployed yet.
        fs.writeFileSync(
            path.join(dir, "stacks/Pulumi.dev-held.yaml"),
            `${devText}  pki:rotation: { endpoints: { ob: { serverEpoch: 1 } } }\n`,
        );
        // With mesh-wide strict mTLS merged, not deployed yet: no certificate changes, a PeerAuthentication does.
        fs.writeFileSync(path.join(dir, "stacks/Pulumi.dev-strict.yaml"), `${devText}  pki:meshStrictMtls: true\n`);
        git("add", ".");
        git("commit", "-qm", "stacks");
        fs.symlinkSync(path.join(ROOT, "dist"), path.join(dir, "dist"));
        const devRender = await renderStackFile("stacks/Pulumi.dev.yaml");
        const now = Date.now();
        const outputs = tempDir("dev-outputs");
        const rendered = {
            inventory: JSON.parse(devRender.read("inventory.json")).certificates,
            deploymentRecord: JSON.parse(devRender.read("deployment.json")),
        };
        const published = (nextUpdateDays: number) => ({
            number: 1,
            digest: "",
            thisUpdate: new Date(now - 10 * 86_400_000).toISOString(),
            nextUpdate: new Date(now + nextUpdateDays * 86_400_000).toISOString(),
            renewal: "period",
            published: true,
        });
        const crlDue = writeTemp(
            outputs,
            "crl-due.json",
            JSON.stringify({
                ...rendered,
                deploymentRecord: { ...rendered.deploymentRecord, crls: { "apic-client-ca": published(18) } },
            }),
        );
        // Also a CRL of the gateway-server CA that nothing revoked needs any more: loaded into
        // DataPower by hand, it is to be taken out by hand before its next update.
        const handDue = writeTemp(
            outputs,
            "hand-due.json",
            JSON.stringify({
                ...rendered,
                deploymentRecord: {
                    ...rendered.deploymentRecord,
                    crls: { "apic-client-ca": published(18), "gateway-server-ca": published(12) },
                },
            }),
        );
        const bin = tempDir("fake-pulumi");
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            `#!/bin/sh\n[ "$PULUMI_ACCESS_TOKEN" = token-of-test ] || { echo "pulumi: no token" >&2; exit 98; }\n${STORES_TOKEN}case "$1" in\n  login) exit 0 ;;\n  stack) cat "$DEPLOYED_OUTPUTS" ;;\nesac\n`,
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(bin, "node"), NODE_WITHOUT_TOKEN, { mode: 0o755 });
        return {
            dir,
            bin,
            crlDue,
            rendered: writeTemp(outputs, "rendered.json", JSON.stringify(rendered)),
            handDue,
            handBefore: new Date(now + 12 * 86_400_000).toISOString(),
        };
    }

    it("lists a stack for republish only when its due CRLs can be re-published alone, not beside changes not deployed yet", async () => {
        const { dir, bin, crlDue } = await crlsDue();
        const temp = tempDir("workflow-runner");
        const output = path.join(temp, "github-output");
        const r = replaySteps(
            workflow("lifecycle.yml").jobs.decide,
            ["deployed", "decide"],
            dir,
            {
                PATH: `${bin}:${process.env.PATH}`,
                RUNNER_TEMP: temp,
                GITHUB_OUTPUT: output,
                HOME: tempDir("runner-home"),
                DEPLOYED_OUTPUTS: crlDue,
            },
            { PULUMI_BACKEND_URL: "", PULUMI_ACCESS_TOKEN: "token-of-test" },
        );
        assert.strictEqual(r.status, 0, r.stderr);
        const result = (stack: string) =>
            JSON.parse(fs.readFileSync(path.join(temp, "lifecycle", stack, "lifecycle.json"), "utf8"));
        assert.deepStrictEqual(
            ["dev", "dev-held", "dev-strict"].map((stack) => [
                result(stack).republishCrls,
                result(stack).republishBlockedBy,
            ]),
            [
                [true, []],
                [
                    true,
                    [
                        "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
                        'pki:rotation.endpoints: {"ob":{"serverEpoch":1,"clientEpoch":0}} in the stack file, another value deployed',
                    ],
                ],
                [true, ["pki:meshStrictMtls: true in the stack file, another value deployed"]],
            ],
        );
        assert.strictEqual(fs.readFileSync(output, "utf8"), 'republish=["dev"]\n');
    });

    it("re-publishes, when the job starts, only CRLs still due that can go alone, decided again from the default branch and what is deployed then", async () => {
        const job = workflow("lifecycle.yml").jobs.republish;
        // Approved days after its run, the job checks out the default branch as it is then (not the
        // run's commit, whose program would roll back what was deployed since), and decides again.
        assert.deepStrictEqual(
            job.steps.map((s) => s.id ?? s.name ?? s.uses?.split("@")[0]),
            [
                "actions/checkout",
                "install the Pulumi CLI",
                "deployed",
                "actions/setup-node",
                "install and build",
                "recheck",
                "pulumi up, if it changes nothing but the secrets that carry CRLs",
                "hand-steps",
                "actions/upload-artifact",
            ],
        );
        assert.deepStrictEqual(job.steps[0].with, { ref: "${{ github.ref }}", "persist-credentials": false });
        assert.deepStrictEqual(
            job.steps.slice(6).map((s) => s.if),
            Array(3).fill("steps.recheck.outputs.due == 'true'"),
        );
        // The token reads the outputs, in a step that runs pulumi alone before any node code; node
        // decides in one with no secret; the passphrase and the kubeconfig stay with pulumi up.
        assert.deepStrictEqual(
            [job.steps[2], job.steps[5]].map((s) => s.env),
            [
                {
                    STACK: "${{ matrix.stack }}",
                    PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}",
                    PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL }}",
                },
                { STACK: "${{ matrix.stack }}" },
            ],
        );
        assert.doesNotMatch(job.steps[2].run ?? "", /\bnode\b/);
        const { dir, bin, crlDue, rendered } = await crlsDue();
        const run = (stack: string, outputs: string) => {
            const temp = tempDir("workflow-runner");
            const output = path.join(temp, "github-output");
            const r = replaySteps(
                job,
                ["deployed", "recheck"],
                dir,
                {
                    PATH: `${bin}:${process.env.PATH}`,
                    RUNNER_TEMP: temp,
                    GITHUB_OUTPUT: output,
                    HOME: tempDir("runner-home"),
                    DEPLOYED_OUTPUTS: outputs,
                },
                { STACK: stack, PULUMI_BACKEND_URL: "", PULUMI_ACCESS_TOKEN: "token-of-test" },
            );
            assert.ok(!fs.existsSync(path.join(temp, "deployed.json")), "the deployed outputs are not kept");
            assert.ok(!fs.existsSync(path.join(temp, "pulumi-home")), "nor pulumi's credentials");
            return {
                status: r.status,
                stdout: r.stdout,
                output: fs.existsSync(output) ? fs.readFileSync(output, "utf8") : null,
            };
        };
        assert.deepStrictEqual(run("dev", crlDue), { status: 0, stdout: "", output: "due=true\n" });
        // Another update published them since: nothing to do, and nothing failed.
        assert.deepStrictEqual(run("dev", rendered), {
            status: 0,
            stdout: "Nothing to re-publish: no CRL of stack dev is due any more (an update published them since this run decided).\n",
            output: "due=false\n",
        });
        // A change merged since, not deployed yet: the CRLs go with its update.
        assert.deepStrictEqual(run("dev-held", crlDue), {
            status: 1,
            stdout:
                "Not re-publishing: pulumi up of dev-held would now deploy more than its CRLs:\n" +
                "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed\n" +
                'pki:rotation.endpoints: {"ob":{"serverEpoch":1,"clientEpoch":0}} in the stack file, another value deployed\n' +
                "Deploy the reviewed changes of the default branch first: the CRLs go with that update.\n",
            output: null,
        });
        // No decision: nothing is published.
        assert.deepStrictEqual(run("dev", path.join(dir, "stacks/Pulumi.dev.yaml")), {
            status: 1,
            stdout: "Not re-publishing: the lifecycle command failed on stack dev (exit 2), as its message above says.\n",
            output: null,
        });
    });

    it("after a re-publication, opens one issue per stack of what a person does by hand and by when, updates it on the next, and leaves its closing to a person", async () => {
        const w = workflow("lifecycle.yml");
        const { dir, bin, handDue, handBefore } = await crlsDue();
        // republish: decided again from what is deployed, pulumi up (not replayed here), then the hand steps kept.
        const temp = tempDir("workflow-runner");
        const output = path.join(temp, "github-output");
        const republished = replaySteps(
            w.jobs.republish,
            ["deployed", "recheck", "hand-steps"],
            dir,
            {
                PATH: `${bin}:${process.env.PATH}`,
                RUNNER_TEMP: temp,
                GITHUB_OUTPUT: output,
                HOME: tempDir("runner-home"),
                DEPLOYED_OUTPUTS: handDue,
            },
            { STACK: "dev", PULUMI_BACKEND_URL: "", PULUMI_ACCESS_TOKEN: "token-of-test" },
        );
        assert.strictEqual(republished.status, 0, republished.stderr);
        assert.strictEqual(fs.readFileSync(output, "utf8"), "due=true\n");
        const takeOut =
            "take apic/<endpoint>/truststore.crl out of the DataPower validation credentials that check the gateway's CRLs, where you loaded it (there is no new one to load)";
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(temp, "hand-steps/dev.json"), "utf8")), {
            afterRepublish: [{ step: takeOut, before: handBefore }],
        });
        // The artifact, as run-failure downloads it (merge-multiple: each stack's file in one folder).
        const upload = w.jobs.republish.steps.at(-1);
        assert.deepStrictEqual(upload?.with, {
            name: "hand-steps-${{ matrix.stack }}",
            path: "${{ runner.temp }}/hand-steps/${{ matrix.stack }}.json",
            overwrite: true,
        });
        const job = w.jobs["run-failure"];
        const download = job.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"));
        assert.deepStrictEqual(download?.with, {
            pattern: "hand-steps-*",
            "merge-multiple": true,
            path: "${{ runner.temp }}/hand-steps",
        });
        const step = job.steps.find(
            (s) => s.name === "open or update the issue of the hand steps after a re-publication, per stack",
        );
        assert.ok(step?.run);
        // After the run's issue, whether that step failed or not.
        assert.deepStrictEqual([download?.if, step.if], ["always()", "always()"]);
        const { dir: fake, calls } = fakes({
            gh: [
                'case "$1 $2" in',
                '  "issue list") if [[ " $* " == *" --app github-actions "* ]]; then jq "[.[] | select(.app)]" "$FAKE/issues.json"; else cat "$FAKE/issues.json"; fi ;;',
                '  "issue create") cp "$6" "$FAKE/body-new" ;;',
                '  "issue edit") cp "$5" "$FAKE/body-$3" ;;',
                `  "issue view") jq --argjson n "$3" '.[] | select(.number == $n) | {body}' "$FAKE/issues.json" ;;`,
                "esac",
            ].join("\n"),
        });
        const runnerTemp = tempDir("workflow-temp");
        fs.mkdirSync(path.join(runnerTemp, "hand-steps"));
        fs.copyFileSync(path.join(temp, "hand-steps/dev.json"), path.join(runnerTemp, "hand-steps/dev.json"));
        // A stack re-published with nothing to do by hand (the gateway's own ca.crl): no issue.
        fs.writeFileSync(path.join(runnerTemp, "hand-steps/sit.json"), JSON.stringify({ afterRepublish: [] }));
        const title = "PKI lifecycle: stack dev: load the re-published CRLs into DataPower";
        /** The issue's body listing `steps`: each as Markdown shows it ("<endpoint>" no tag), then all as JSON for the next run. */
        const bodyOf = (steps: { step: string; before: string }[]) =>
            "The PKI lifecycle run https://github.example/bank/pki/actions/runs/9 re-published the CRLs of stack `dev`. " +
            "These steps reach DataPower only by hand: do each before its date, when the CRL loaded there now passes its next update and DataPower refuses every peer it checks:\n\n" +
            steps
                .map(({ step, before }) => `- before ${before.slice(0, 10)}: ${step.replace(/[\\`*_~&<]/g, "\\$&")}\n`)
                .join("") +
            "\nClose this issue once the steps are done: no run closes it. A later re-publication while it is open updates it, and says so in a comment: " +
            "each step keeps the earliest date it was given, and a step the later one does not list stays listed.\n" +
            `\n<!-- hand-steps: ${JSON.stringify({ steps }).replace(/>/g, "\\u003e")} -->\n`;
        const body = bodyOf([{ step: takeOut, before: handBefore }]);
        // The step as GitHub is to show it: '<' escaped, or it drops "<endpoint>" as a tag.
        assert.ok(
            body.includes(
                `- before ${handBefore.slice(0, 10)}: take apic/\\<endpoint>/truststore.crl out of the DataPower validation credentials that check the gateway's CRLs, where you loaded it (there is no new one to load)\n`,
            ),
            body,
        );
        const run = (issues: object[]) => {
            fs.writeFileSync(path.join(fake, "issues.json"), JSON.stringify(issues));
            fs.rmSync(path.join(fake, "calls"), { force: true });
            const r = replayIssueStep(step.run!, fake, runnerTemp, {});
            assert.strictEqual(r.status, 0, r.stderr);
            return calls().filter((c) => !c.startsWith("gh issue list"));
        };
        // None open (one of the same title someone else opened does not count): one is opened.
        assert.deepStrictEqual(run([{ number: 5, title, app: false }]), [
            `gh issue create --title ${title} --body-file ${runnerTemp}/hand-steps.md`,
        ]);
        assert.strictEqual(fs.readFileSync(path.join(fake, "body-new"), "utf8"), body);
        // Still open at the next re-publication: updated, and a comment says so; no second issue.
        const again =
            "gh issue comment 6 --body The run https://github.example/bank/pki/actions/runs/9 re-published the CRLs of stack dev again while this issue is open: " +
            "the steps above list its CRLs too, each step by the earliest date it was given since the issue was opened " +
            "(a step not done since leaves DataPower with the CRL loaded before, which lapses then). Do each step with the CRLs published now, then close this issue.";
        // (An issue with no steps of its own to read: opened by hand, or edited.)
        assert.deepStrictEqual(run([{ number: 6, title, app: true, body: "steps <!-- hand-steps: {steps: -->" }]), [
            `gh issue view 6 --json body`,
            `gh issue edit 6 --body-file ${runnerTemp}/hand-steps.md`,
            again,
        ]);
        assert.strictEqual(fs.readFileSync(path.join(fake, "body-6"), "utf8"), body);
        // Still open, from an earlier re-publication whose steps lapse earlier: the person may not have
        // done them, and DataPower then holds the CRL loaded before. Each step keeps its earliest
        // date; the UI truststore's step, not listed by this run, stays (still to do) until the issue is closed.
        const earlier = new Date(Date.parse(handBefore) - 5 * 86_400_000).toISOString();
        const later = new Date(Date.parse(handBefore) + 5 * 86_400_000).toISOString();
        const ui =
            "load apic/ui/truststore.crl (stack output frontEnd.apic.truststoreCrlPem) where DataPower checks the UI clients' CRLs";
        const open = (steps: { step: string; before: string }[]) => [
            { number: 6, title, app: true, body: bodyOf(steps) },
        ];
        assert.deepStrictEqual(
            run(
                open([
                    { step: ui, before: later },
                    { step: takeOut, before: earlier },
                ]),
            ),
            [`gh issue view 6 --json body`, `gh issue edit 6 --body-file ${runnerTemp}/hand-steps.md`, again],
        );
        assert.strictEqual(
            fs.readFileSync(path.join(fake, "body-6"), "utf8"),
            bodyOf([
                { step: takeOut, before: earlier },
                { step: ui, before: later },
            ]),
        );
        // A later date in the issue gives way to this run's earlier one.
        run(open([{ step: takeOut, before: later }]));
        assert.strictEqual(fs.readFileSync(path.join(fake, "body-6"), "utf8"), body);
        // The daily attention job, with nothing needing a human on dev, closes the stack's other issue, never this one.
        fs.rmSync(path.join(runnerTemp, "hand-steps"), { recursive: true });
        fs.mkdirSync(path.join(runnerTemp, "lifecycle/dev"), { recursive: true });
        fs.writeFileSync(
            path.join(runnerTemp, "lifecycle/dev/lifecycle.json"),
            JSON.stringify({ changed: false, republishCrls: true, markdown: "", needsHuman: [] }),
        );
        const attention = w.jobs.attention.steps.find((s) => s.name === "open, update or close the issues")?.run;
        assert.ok(attention);
        fs.writeFileSync(
            path.join(fake, "issues.json"),
            JSON.stringify([
                { number: 6, title, app: true },
                { number: 7, title: "PKI lifecycle: stack dev needs a human", app: true },
            ]),
        );
        fs.rmSync(path.join(fake, "calls"), { force: true });
        const r = replayIssueStep(attention, fake, runnerTemp, { DECIDED: "success" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(
            calls().filter((c) => !c.startsWith("gh issue list")),
            [
                "gh issue close 7 --comment Nothing needs a human on stack dev any more (https://github.example/bank/pki/actions/runs/9).",
            ],
        );
    });
});

/**
 * lifecycle.yml's step "open or update the pull requests", replayed: an origin with the stacks dev and
 * sit on main, a clone (`work`) at the decided commit, a fake gh (one open pull request per head
 * branch, every call logged; `pr create` of pki-lifecycle/fails fails) and the decide job's artifact,
 * written by `result`.
 */
function proposeReplay() {
    const root = tempDir("lifecycle-propose");
    const origin = path.join(root, "origin.git");
    const work = path.join(root, "work");
    const run = (cwd: string, ...args: string[]) => {
        const r = spawnSync("git", args, { cwd, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
        return r.stdout.trim();
    };
    run(root, "init", "-q", "--bare", "-b", "main", origin);
    run(root, "clone", "-q", origin, work);
    fs.mkdirSync(path.join(work, "stacks"));
    for (const stack of ["dev", "sit"]) {
        fs.copyFileSync(path.join(ROOT, `stacks/Pulumi.${stack}.yaml`), path.join(work, `stacks/Pulumi.${stack}.yaml`));
    }
    run(work, "add", ".");
    run(work, "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "commit", "-qm", "stacks");
    run(work, "push", "-q", "origin", "HEAD:refs/heads/main");
    const decided = run(work, "rev-parse", "HEAD");
    // gh, as far as this step uses it: one open pull request per head branch, every call logged.
    const fake = path.join(root, "fake");
    fs.mkdirSync(fake);
    fs.writeFileSync(
        path.join(fake, "gh"),
        [
            "#!/bin/bash",
            'printf "%s\\n" "$*" >> "$FAKE/calls"',
            'open="$FAKE/open-${4//\\//_}"',
            'case "$1 $2" in',
            // "number author": with --app, GitHub lists only what that app opened (a fork's pull request is not).
            '  "pr list") [ -f "$open" ] && read -r n who < "$open" && { [[ " $* " != *" --app "* ]] || [ "$who" = app ]; } && echo "$n"; exit 0 ;;',
            // A pull request GitHub refuses to open (a failure of the API): pki-lifecycle/fails.
            '  "pr create") [ "$6" != pki-lifecycle/fails ] || { echo "HTTP 502: Bad Gateway" >&2; exit 1; }',
            '    echo "5 app" > "$FAKE/open-${6//\\//_}"; cp "${10}" "$FAKE/body"; cp "${10}" "$FAKE/body-${6//\\//_}" ;;',
            '  "pr edit") cp "$5" "$FAKE/body" ;;',
            '  "pr close") rm -f "$FAKE"/open-* ;;',
            "esac",
        ].join("\n") + "\n",
        { mode: 0o755 },
    );
    const temp = path.join(root, "runner");
    const result = (stack: string, value: object, stackFile?: string) => {
        fs.mkdirSync(path.join(temp, "lifecycle", stack), { recursive: true });
        fs.writeFileSync(path.join(temp, "lifecycle", stack, "lifecycle.json"), JSON.stringify(value));
        if (stackFile !== undefined) fs.writeFileSync(path.join(temp, "lifecycle", stack, "stack.yaml"), stackFile);
    };
    const step = workflow("lifecycle.yml").jobs.propose.steps.find(
        (s) => s.name === "open or update the pull requests",
    );
    const propose = () =>
        replay(step?.run ?? "exit 9", work, {
            PATH: `${fake}:${process.env.PATH}`,
            FAKE: fake,
            RUNNER_TEMP: temp,
            GITHUB_SHA: decided,
            GH_TOKEN: "unused",
            // As GitHub sets it on a scheduled run.
            DEFAULT_BRANCH: interpolate(step?.env?.DEFAULT_BRANCH ?? "", SCHEDULED),
            RUN_URL: "https://github.example/bank/pki/actions/runs/9",
        });
    const calls = () => fs.readFileSync(path.join(fake, "calls"), "utf8").trim().split("\n");
    return { origin, work, run, fake, temp, decided, result, propose, calls };
}

describe("workflows: the lifecycle pull-request step, replayed", function () {
    this.timeout(30_000);

    it("opens one pull request per stack on a fixed branch, updates it without a new push when nothing changed, keeps it when the decision failed, and closes it when nothing is due", () => {
        const { origin, work, run, fake, temp, decided, result, calls, ...replayed } = proposeReplay();
        const propose = () => {
            const r = replayed.propose();
            assert.strictEqual(r.status, 0, r.stderr);
            return r;
        };
        const edited =
            fs.readFileSync(path.join(work, "stacks/Pulumi.dev.yaml"), "utf8") +
            "  pki:rotation: { leafEpoch: 1, apicClientPhase: switch }\n";
        result(
            "dev",
            { changed: true, markdown: "## Due on dev\n\nleaf certificates", republishCrls: false, needsHuman: [] },
            edited,
        );
        result("sit", { changed: false, markdown: "", republishCrls: false, needsHuman: [] });
        result("$(touch PWNED)", { changed: true, markdown: "x", republishCrls: false, needsHuman: [] }, "x");
        const branchHead = () => run(origin, "rev-parse", "refs/heads/pki-lifecycle/dev");

        // Someone's fork has a pull request from a branch of the same name: it is not the workflow's.
        fs.writeFileSync(path.join(fake, "open-pki-lifecycle_dev"), "7 fork\n");
        propose();
        assert.deepStrictEqual(calls(), [
            "pr list --head pki-lifecycle/dev --base main --state open --app github-actions --json number --jq .[0].number // empty",
            `pr create --base main --head pki-lifecycle/dev --title PKI lifecycle: what is due on stack dev --body-file ${temp}/body.md`,
            "pr list --head pki-lifecycle/sit --base main --state open --app github-actions --json number --jq .[0].number // empty",
        ]);
        assert.strictEqual(run(origin, "show", "pki-lifecycle/dev:stacks/Pulumi.dev.yaml") + "\n", edited);
        assert.strictEqual(
            run(origin, "rev-parse", "pki-lifecycle/dev^"),
            decided,
            "one commit on top of the decided one",
        );
        assert.match(
            fs.readFileSync(path.join(fake, "body"), "utf8"),
            /^## Due on dev\n\nleaf certificates\n\n<sub>Proposed by the scheduled \[PKI lifecycle run\]\(https:\/\/github\.example\/bank\/pki\/actions\/runs\/9\)/,
        );
        assert.deepStrictEqual(noPwned(work, temp), []);

        const pushed = branchHead();
        const again = propose();
        assert.match(again.stdout, /^dev: pki-lifecycle\/dev already holds this edit$/m);
        assert.strictEqual(branchHead(), pushed, "the same edit is not pushed again");
        assert.strictEqual(calls()[4], `pr edit 5 --body-file ${temp}/body.md`);

        // The decision failed (e.g. a TLS timeout reading the outputs): the reviewed pull request stays.
        result("dev", {
            failed: true,
            changed: false,
            markdown: "",
            republishCrls: false,
            needsHuman: ["could not read the deployed outputs of stack dev: net/http: TLS handshake timeout\n"],
        });
        const failed = propose();
        assert.deepStrictEqual(calls().slice(6), [
            "pr list --head pki-lifecycle/sit --base main --state open --app github-actions --json number --jq .[0].number // empty",
        ]);
        assert.match(failed.stdout, /^dev: no decision, pki-lifecycle\/dev is left as it is$/m);
        assert.strictEqual(branchHead(), pushed, "the branch is kept");

        result("dev", { changed: false, markdown: "", republishCrls: false, needsHuman: [] });
        propose();
        assert.strictEqual(
            calls().at(-2),
            "pr close 5 --delete-branch --comment Nothing is due on stack dev any more (https://github.example/bank/pki/actions/runs/9).",
        );
        assert.ok(
            calls().every((c) => !/merge/.test(c)),
            "nothing merges",
        );
    });

    it("goes on past a stack that fails (a name git takes for no branch, a pull request GitHub refuses), names each, and fails at the end", () => {
        const { origin, work, run, fake, temp, decided, result, calls, propose } = proposeReplay();
        const due = (stack: string, markdown: string) =>
            result(stack, { changed: true, markdown, republishCrls: false, needsHuman: [] }, `# ${stack}, edited\n`);
        // Names the stack file pattern admits and git takes for no branch.
        due("a..b", "## Due on a..b");
        due("prod.", "## Due on prod.");
        due("fails", "## Due on fails");
        due("zz", "## Due on zz");
        const r = propose();
        const url = "https://github.example/bank/pki/actions/runs/9";
        const refused = (stack: string) =>
            `::error title=PKI lifecycle: stack ${stack}::git takes no branch named pki-lifecycle/${stack} (no '..', no '.lock' or '.' at the end, see git check-ref-format): no pull request can carry its edits; rename stacks/Pulumi.${stack}.yaml (and the stack) to a name git takes as a branch`;
        assert.deepStrictEqual(
            { status: r.status, stdout: r.stdout.split("\n") },
            {
                status: 1,
                stdout: [
                    refused("a..b"),
                    "::error title=PKI lifecycle: stack fails::opening the pull request of pki-lifecycle/fails failed (exit 1); the other stacks went on",
                    refused("prod."),
                    "::error title=PKI lifecycle::the pull requests of stack(s) a..b fails prod. failed (the errors above say what); the other stacks' are done",
                    "",
                ],
            },
        );
        const list = (stack: string) =>
            `pr list --head pki-lifecycle/${stack} --base main --state open --app github-actions --json number --jq .[0].number // empty`;
        const create = (stack: string) =>
            `pr create --base main --head pki-lifecycle/${stack} --title PKI lifecycle: what is due on stack ${stack} --body-file ${temp}/body.md`;
        assert.deepStrictEqual(
            calls(),
            ["fails", "zz"].flatMap((stack) => [list(stack), create(stack)]),
        );
        // The stack after the failed one: its branch holds its own edit alone, on the decided commit.
        assert.strictEqual(run(origin, "rev-parse", "pki-lifecycle/zz^"), decided);
        assert.strictEqual(run(origin, "diff", "--name-only", decided, "pki-lifecycle/zz"), "stacks/Pulumi.zz.yaml");
        assert.strictEqual(run(work, "status", "--porcelain"), "");
        assert.strictEqual(
            fs.readFileSync(path.join(fake, "body-pki-lifecycle_zz"), "utf8"),
            `## Due on zz\n\n<sub>Proposed by the scheduled [PKI lifecycle run](${url}). Review and merge like any change; nothing merges it by itself.</sub>\n`,
        );
    });

    it("cuts a report too long for a pull request's body after its last whole line, closes its code block, says where the whole report is, and goes on to the next stack", () => {
        const { fake, result, calls, propose } = proposeReplay();
        const due = (stack: string, markdown: string) =>
            result(stack, { changed: true, markdown, republishCrls: false, needsHuman: [] }, `# ${stack}, edited\n`);
        // Over 60,000 characters: whole lines of a code block (its emoji and é take 4 and 2 bytes),
        // then one long line of emoji alone.
        const line = "😀é" + "x".repeat(95) + "\n";
        const head = "## Due on big\n\n```mermaid\n";
        due("big", head + line.repeat(1000) + "```\n");
        due("long", "😀".repeat(70_000));
        due("zz", "## Due on zz");
        const r = propose();
        assert.deepStrictEqual(
            { status: r.status, stdout: r.stdout, stderr: r.stderr },
            { status: 0, stdout: "", stderr: "" },
        );
        const url = "https://github.example/bank/pki/actions/runs/9";
        assert.deepStrictEqual(
            calls()
                .filter((c) => c.startsWith("pr create"))
                .map((c) => c.split(" ")[5]),
            ["pki-lifecycle/big", "pki-lifecycle/long", "pki-lifecycle/zz"],
        );
        const body = (stack: string) => fs.readFileSync(path.join(fake, `body-pki-lifecycle_${stack}`), "utf8");
        // jq ends the report with a line break.
        const footer = `\n\n<sub>Proposed by the scheduled [PKI lifecycle run](${url}). Review and merge like any change; nothing merges it by itself.</sub>\n`;
        const cut = (stack: string, more: number) =>
            `\n**(cut: ${more} more characters; the whole report is \`.markdown\` in \`${stack}/lifecycle.json\` of the artifact \`lifecycle\` of ${url}, kept 14 days)**`;
        assert.strictEqual(body("zz"), "## Due on zz" + footer);
        // The whole lines before the 60,000th character, the code block closed; every character whole.
        const lines = Math.floor((60_000 - head.length) / Array.from(line).length);
        const kept = head + line.repeat(lines);
        const whole = Array.from(head + line.repeat(1000) + "```\n").length;
        assert.strictEqual(body("big"), kept + "```\n" + cut("big", whole - Array.from(kept).length) + footer);
        assert.strictEqual(body("long"), "😀".repeat(60_000) + cut("long", 10_000) + footer);
        for (const stack of ["big", "long"]) {
            // GitHub's limit: 65,536 characters (code points).
            assert.ok(Array.from(body(stack)).length <= 65_536, stack);
        }
    });
});

/** A folder of fake commands (bash scripts) that log their arguments to `calls`. */
function fakes(scripts: Record<string, string>): { dir: string; calls: () => string[] } {
    const dir = tempDir("workflow-fakes");
    for (const [name, body] of Object.entries(scripts)) {
        fs.writeFileSync(path.join(dir, name), `#!/bin/bash\nprintf '%s\\n' "${name} $*" >> "$FAKE/calls"\n${body}\n`, {
            mode: 0o755,
        });
    }
    const calls = () =>
        fs.existsSync(path.join(dir, "calls"))
            ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n")
            : [];
    return { dir, calls };
}

/**
 * preview.yml's step "pulumi preview of each stack", replayed in `repo` as the run for pull request 7
 * with the fakes of `fakeDir` (pulumi) on the PATH and `temp` as RUNNER_TEMP.
 */
function replayPreview(script: string, repo: string, temp: string, fakeDir: string) {
    return replay(script, repo, {
        PATH: `${fakeDir}:${process.env.PATH}`,
        FAKE: fakeDir,
        RUNNER_TEMP: temp,
        GITHUB_STEP_SUMMARY: path.join(temp, "summary.md"),
        KUBECONFIG_CONTENT: "kubeconfig-of-test",
        DIFF_HEAD: sha("e"),
        PR_NUMBER: "7",
    });
}

describe("workflows: the preview step, replayed", function () {
    this.timeout(30_000);

    it("removes the kubeconfig however the step ends: previews run, or the login fails", () => {
        const step = workflow("preview.yml").jobs.preview.steps.find((s) => s.name === "pulumi preview of each stack");
        assert.ok(step?.run);
        const run = (login: string) => {
            const { dir, calls } = fakes({
                // Each call notes whether the kubeconfig is there, to see pulumi had it.
                pulumi: `[ -f "$KUBECONFIG" ] && echo "kubeconfig $(cat "$KUBECONFIG")" >> "$FAKE/calls"\n${login}`,
            });
            const repo = tempDir("workflow-repo");
            fs.mkdirSync(path.join(repo, "stacks"));
            fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), path.join(repo, "stacks/Pulumi.dev.yaml"));
            const temp = tempDir("workflow-temp");
            fs.writeFileSync(path.join(temp, "stacks.txt"), "dev\n");
            fs.writeFileSync(path.join(temp, "refused.txt"), "");
            const r = replayPreview(step.run!, repo, temp, dir);
            return { status: r.status, calls: calls(), left: fs.readdirSync(temp).sort() };
        };
        assert.deepStrictEqual(run("exit 0"), {
            status: 0,
            calls: [
                "pulumi login --non-interactive",
                "kubeconfig kubeconfig-of-test",
                "pulumi preview --stack dev --diff --non-interactive --policy-pack policy",
                "kubeconfig kubeconfig-of-test",
            ],
            left: ["cert-preview", "refused.txt", "stacks.txt", "summary.md"],
        });
        assert.deepStrictEqual(run('[ "$1" != login ]'), {
            status: 1,
            calls: ["pulumi login --non-interactive", "kubeconfig kubeconfig-of-test"],
            left: ["refused.txt", "stacks.txt"],
        });
    });

    it("gives pulumi preview the stack's policy pack settings, policy/config/<stack>.json of the default branch, when that file exists", () => {
        const step = workflow("preview.yml").jobs.preview.steps.find((s) => s.name === "pulumi preview of each stack");
        assert.ok(step?.run);
        const { dir, calls } = fakes({ pulumi: "exit 0" });
        const repo = tempDir("workflow-repo");
        fs.mkdirSync(path.join(repo, "stacks"));
        fs.mkdirSync(path.join(repo, "policy/config"), { recursive: true });
        for (const stack of ["dev", "sit"])
            fs.copyFileSync(
                path.join(ROOT, `stacks/Pulumi.${stack}.yaml`),
                path.join(repo, `stacks/Pulumi.${stack}.yaml`),
            );
        fs.writeFileSync(path.join(repo, "policy/config/dev.json"), "{}\n");
        const temp = tempDir("workflow-temp");
        fs.writeFileSync(path.join(temp, "stacks.txt"), "dev\nsit\n");
        fs.writeFileSync(path.join(temp, "refused.txt"), "");
        const r = replayPreview(step.run, repo, temp, dir);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(calls(), [
            "pulumi login --non-interactive",
            "pulumi preview --stack dev --diff --non-interactive --policy-pack policy --policy-pack-config policy/config/dev.json",
            "pulumi preview --stack sit --diff --non-interactive --policy-pack policy",
        ]);
    });

    it("never gives pulumi a stack file the program refuses: one importing ESC environments is not previewed", () => {
        const steps = workflow("preview.yml").jobs.preview.steps;
        const names = steps.map((s) => s.name);
        const checkName = "the stack files, checked by the default branch's program without a secret";
        const check = steps.find((s) => s.name === checkName);
        const preview = steps.find((s) => s.name === "pulumi preview of each stack");
        assert.ok(check?.run && preview?.run);
        assert.deepStrictEqual(check.env, undefined, "the check holds no secret");
        assert.ok(names.indexOf("install and build the default branch's program") < names.indexOf(checkName));
        assert.ok(names.indexOf(checkName) < names.indexOf("pulumi preview of each stack"));
        // The default branch's program, built; the pull request's stack files as data.
        const repo = tempDir("workflow-repo");
        fs.symlinkSync(path.join(ROOT, "dist"), path.join(repo, "dist"));
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
        fs.mkdirSync(path.join(repo, "stacks"));
        const dev = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8");
        fs.writeFileSync(path.join(repo, "stacks/Pulumi.dev.yaml"), `environment:\n  - bank/prod-cluster\n${dev}`);
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.sit.yaml"), path.join(repo, "stacks/Pulumi.sit.yaml"));
        const temp = tempDir("workflow-temp");
        fs.writeFileSync(path.join(temp, "stacks.txt"), "dev\nprod\nsit\n");
        const checked = replay(check.run, repo, { RUNNER_TEMP: temp });
        assert.strictEqual(checked.status, 0, checked.stderr);
        assert.match(
            checked.stderr,
            /stack file \S+Pulumi\.dev\.yaml imports Pulumi ESC environments \(environment:\)/,
        );
        assert.strictEqual(fs.readFileSync(path.join(temp, "refused.txt"), "utf8"), "dev\n");

        const { dir, calls } = fakes({ pulumi: "exit 0" });
        const r = replayPreview(preview.run, repo, temp, dir);
        assert.strictEqual(r.status, 1, r.stderr);
        assert.deepStrictEqual(calls(), [
            "pulumi login --non-interactive",
            "pulumi preview --stack sit --diff --non-interactive --policy-pack policy",
        ]);
        assert.match(r.stdout, /stacks\/Pulumi\.dev\.yaml: refused by the program's check of the stack files/);
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(temp, "cert-preview/meta.json"), "utf8")).stacks, {
            dev: { outcome: "failed", exitCode: 1 },
            prod: { outcome: "removed", exitCode: 0 },
            sit: { outcome: "ok", exitCode: 0 },
        });
    });
});

describe("workflows: the CRL re-publication and the issues of the lifecycle workflow, replayed", function () {
    this.timeout(30_000);

    it("runs pulumi up only when the preview updates the CRLs of Secrets (inside components too) and the stack's outputs, nothing else", () => {
        const step = workflow("lifecycle.yml").jobs.republish.steps.find((s) => s.name?.startsWith("pulumi up,"));
        assert.ok(step?.run);
        const urn = (type: string, name: string) => `urn:pulumi:prod::apic-istio-pki::${type}::${name}`;
        const secret = (component: string, name: string) =>
            urn(`apic-istio-pki:index:${component}$kubernetes:core/v1:Secret`, name);
        // pulumi preview --json: detailedDiff names each changed key as the Kubernetes provider writes it.
        const changed = (...keys: string[]) =>
            Object.fromEntries(keys.map((k) => [k, { kind: "update", inputDiff: false }]));
        // CRLs re-published: the gateway's and a UI service's ca.crl, istiod's ca-crl.pem (the
        // Secrets are children of components), a CRL no longer published, and the stack's outputs.
        const crlSteps = [
            { op: "same", urn: urn("apic-istio-pki:index:RootCa$tls:index/privateKey:PrivateKey", "mesh-root-key") },
            { op: "update", urn: secret("IstioGatewayTls", "gw-ob-tls"), detailedDiff: changed('data["ca.crl"]') },
            { op: "update", urn: secret("MeshPluginCa", "cacerts-east"), detailedDiff: changed('data["ca-crl.pem"]') },
            {
                op: "update",
                urn: secret("UiApicClient", "consumer-dashboard-ui-client-tls"),
                detailedDiff: { 'data["ca.crl"]': { kind: "delete", inputDiff: true } },
            },
            { op: "update", urn: urn("pulumi:pulumi:Stack", "apic-istio-pki-prod"), detailedDiff: {} },
        ];
        // steps: the preview's list, or (an object) the whole preview.
        const run = (steps: object[] | object, packConfig?: string) => {
            const { dir, calls } = fakes({
                pulumi: 'if [ "$1" = preview ]; then cat "$FAKE/preview.json"; fi',
            });
            fs.writeFileSync(path.join(dir, "preview.json"), JSON.stringify(Array.isArray(steps) ? { steps } : steps));
            const runner = tempDir("workflow-runner");
            if (packConfig !== undefined) {
                fs.mkdirSync(path.join(runner, "policy/config"), { recursive: true });
                fs.writeFileSync(path.join(runner, "policy/config", packConfig), "{}\n");
            }
            const r = replay(step!.run!, runner, {
                PATH: `${dir}:${process.env.PATH}`,
                FAKE: dir,
                STACK: "prod",
                RUNNER_TEMP: tempDir("workflow-temp"),
                KUBECONFIG_CONTENT: "unused",
            });
            return {
                status: r.status,
                stdout: r.stdout,
                ups: calls().filter((c) => c.startsWith("pulumi up")),
                previews: calls().filter((c) => c.startsWith("pulumi preview")),
            };
        };
        assert.deepStrictEqual(run(crlSteps), {
            status: 0,
            stdout: "",
            ups: ["pulumi up --stack prod --yes --skip-preview --non-interactive --policy-pack policy"],
            previews: ["pulumi preview --stack prod --json --non-interactive --policy-pack policy"],
        });
        // A preview without its list of steps says nothing of what the update changes: no update.
        for (const preview of [{}, { steps: null }, { steps: {} }, { steps: "none" }]) {
            assert.deepStrictEqual(run(preview), {
                status: 1,
                stdout: "Not re-publishing: pulumi preview of prod gave no list of steps (.steps is not an array): what pulumi up would change is unknown. Run this workflow again; if it says so again, look at the preview of the stack by hand.\n",
                ups: [],
                previews: ["pulumi preview --stack prod --json --non-interactive --policy-pack policy"],
            });
        }
        // The stack's policy pack settings, when the default branch has them; another stack's are not its.
        const withConfig = " --policy-pack-config policy/config/prod.json";
        assert.deepStrictEqual(run(crlSteps, "prod.json"), {
            status: 0,
            stdout: "",
            ups: [`pulumi up --stack prod --yes --skip-preview --non-interactive --policy-pack policy${withConfig}`],
            previews: [`pulumi preview --stack prod --json --non-interactive --policy-pack policy${withConfig}`],
        });
        assert.deepStrictEqual(run(crlSteps, "dev.json").ups, [
            "pulumi up --stack prod --yes --skip-preview --non-interactive --policy-pack policy",
        ]);
        const uiSecret = secret("UiApicClient", "consumer-dashboard-ui-client-tls");
        const publicSecret = secret("CustomerFacingTls", "public-tls-api");
        for (const [other, line] of [
            [
                {
                    op: "replace",
                    urn: urn("apic-istio-pki:index:RootCa$tls:index/privateKey:PrivateKey", "mesh-root-key"),
                },
            ],
            [{ op: "delete", urn: secret("IstioGatewayTls", "gw-dp-tls") }],
            [
                {
                    op: "update",
                    urn: urn("apic-istio-pki:index:IstioGatewayTls$kubernetes:networking.istio.io/v1:Gateway", "gw"),
                },
            ],
            // A merged change of the front end's apicServerCa: the UI service's trust anchors, beside its CRL.
            [
                { op: "update", urn: uiSecret, detailedDiff: changed('data["ca.crt"]', 'data["ca.crl"]') },
                `update ${uiSecret} (not a CRL: data["ca.crt"])`,
            ],
            // A customer-facing certificate renewed on the same key.
            [
                { op: "update", urn: publicSecret, detailedDiff: changed('data["tls.crt"]') },
                `update ${publicSecret} (not a CRL: data["tls.crt"])`,
            ],
            [
                { op: "update", urn: publicSecret, detailedDiff: null },
                `update ${publicSecret} (the preview does not say which keys change)`,
            ],
        ] as [{ op: string; urn: string }, string?][]) {
            assert.deepStrictEqual(run([...crlSteps, other]), {
                status: 1,
                stdout: `Not re-publishing: pulumi up of prod would also change:\n${line ?? `${other.op} ${other.urn}`}\nDeploy the reviewed changes of the default branch first, then run this workflow again.\n`,
                ups: [],
                previews: ["pulumi preview --stack prod --json --non-interactive --policy-pack policy"],
            });
        }
    });

    it("leaves a stack to another scheduled or manual run's re-publication that has not finished, asks a human when it waits for a reviewer or for more than a day, and trusts no pull request's run", () => {
        const w = workflow("lifecycle.yml");
        const decide = w.jobs.decide;
        // After the decision, before the artifact: what it adds to needsHuman reaches the stacks' issues.
        assert.deepStrictEqual(
            decide.steps.slice(-3).map((s) => s.id ?? s.uses?.split("@")[0]),
            ["decide", "unfinished", "actions/upload-artifact"],
        );
        assert.deepStrictEqual(decide.outputs, { republish: "${{ steps.unfinished.outputs.republish }}" });
        // The name the step looks for among another run's jobs.
        assert.strictEqual(w.jobs.republish.name, "re-publish CRLs (${{ matrix.stack }})");
        const step = decide.steps.find((s) => s.id === "unfinished");
        assert.ok(step?.run);
        // decide runs only on the default branch: its ref is the default branch's name.
        assert.deepStrictEqual(step.env, {
            GH_TOKEN: "${{ github.token }}",
            GH_REPO: "${{ github.repository }}",
            DEFAULT_BRANCH: "${{ github.ref_name }}",
            REPUBLISH: "${{ steps.decide.outputs.republish }}",
        });
        // GitHub's API: the runs of each event (every page, one after the other), the jobs of each
        // run; no issue open yet, and the body of each issue opened kept.
        const { dir, calls } = fakes({
            gh: [
                'case "$1 $2" in',
                '  "api repos/bank/pki/actions/workflows/lifecycle.yml/runs") for a in "$@"; do case "$a" in event=*) cat "$FAKE/runs-${a#event=}.json" ;; esac; done ;;',
                '  "api repos/bank/pki/actions/runs/"*"/jobs?per_page=100") id=${2#repos/bank/pki/actions/runs/}; cat "$FAKE/jobs-${id%%/*}.json" ;;',
                '  "issue list") echo "[]" ;;',
                '  "issue create") cat "$6" >> "$FAKE/created.md" ;;',
                "  *) exit 1 ;;",
                "esac",
            ].join("\n"),
        });
        const runUrl = (id: number) => `https://github.example/bank/pki/actions/runs/${id}`;
        const hoursAgo = (hours: number) =>
            new Date(Date.now() - hours * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
        const run = (id: number, status: string, hours: number, other: object = {}) => ({
            id,
            status,
            created_at: hoursAgo(hours),
            html_url: runUrl(id),
            event: "schedule",
            head_branch: "main",
            head_repository: { full_name: "bank/pki" },
            ...other,
        });
        const pages = (total: number, ...list: object[][]) =>
            list.map((runs) => JSON.stringify({ total_count: total, workflow_runs: runs })).join("\n");
        // Scheduled, in two pages: this run (30), deciding; run 25's republish of sit waited nine days
        // for a reviewer, was approved and has run for ten minutes; run 23's of dev is done, its run-failure not yet; run 21's of prod waits for a reviewer;
        // run 19's of uat is queued for two days (no runner takes it); run 18 is over.
        const schedule = [
            [run(30, "in_progress", 0.1), run(25, "in_progress", 216), run(23, "in_progress", 72)],
            [run(21, "waiting", 216), run(19, "queued", 48), run(18, "completed", 240)],
        ];
        fs.writeFileSync(path.join(dir, "runs-schedule.json"), pages(6, ...schedule));
        // By hand: run 29 of the default branch, deciding. Were the API to list them, what jq leaves out:
        // a fork's pull request, from the fork's own main, whose edited workflow file names a job
        // "re-publish CRLs (dev)" that no runner takes, and a run of another branch with one too.
        const dispatch = [
            run(29, "in_progress", 0.5, { event: "workflow_dispatch" }),
            run(31, "queued", 20, { event: "pull_request", head_repository: { full_name: "mallory/pki" } }),
            run(28, "queued", 20, { event: "workflow_dispatch", head_branch: "feature" }),
        ];
        fs.writeFileSync(path.join(dir, "runs-workflow_dispatch.json"), pages(3, dispatch));
        const jobs = (...list: [string, string, number?][]) => ({
            jobs: [["decide what is due", "completed"] as [string, string, number?], ...list].map(
                ([name, status, startedHoursAgo]) => ({
                    name,
                    status,
                    started_at: startedHoursAgo === undefined ? null : hoursAgo(startedHoursAgo),
                }),
            ),
        });
        for (const [id, list] of [
            [25, jobs(["re-publish CRLs (sit)", "in_progress", 1 / 6], ["re-publish CRLs (dev)", "completed"])],
            [23, jobs(["re-publish CRLs (dev)", "completed"], ["an issue when the pull requests fail", "in_progress"])],
            [21, jobs(["re-publish CRLs (prod)", "waiting"])],
            [19, jobs(["re-publish CRLs (uat)", "queued"])],
            [29, jobs()],
            [31, jobs(["re-publish CRLs (dev)", "queued"])],
            [28, jobs(["re-publish CRLs (dev)", "queued"])],
        ] as const) {
            fs.writeFileSync(path.join(dir, `jobs-${id}.json`), JSON.stringify(list));
        }
        // The decide step's artifact: each stack's CRLs due and free to go alone; prod needs a human already.
        const temp = tempDir("workflow-temp");
        for (const stack of ["dev", "prod", "sit", "uat"]) {
            fs.mkdirSync(path.join(temp, "lifecycle", stack), { recursive: true });
            fs.writeFileSync(
                path.join(temp, "lifecycle", stack, "lifecycle.json"),
                JSON.stringify({
                    changed: false,
                    republishCrls: true,
                    republishBlockedBy: [],
                    markdown: "",
                    needsHuman: stack === "prod" ? ["the offline root's ceremony is due"] : [],
                }),
            );
        }
        const output = path.join(temp, "github-output");
        const replayed = (republish: string) => {
            fs.rmSync(path.join(dir, "calls"), { force: true });
            fs.rmSync(output, { force: true });
            const r = replay(step.run!, tempDir("workflow-runner"), {
                PATH: `${dir}:${process.env.PATH}`,
                FAKE: dir,
                GH_REPO: "bank/pki",
                DEFAULT_BRANCH: "main",
                GITHUB_RUN_ID: "30",
                GITHUB_OUTPUT: output,
                RUNNER_TEMP: temp,
                REPUBLISH: republish,
            });
            assert.strictEqual(r.status, 0, r.stderr);
            return { stdout: r.stdout, output: fs.readFileSync(output, "utf8"), calls: calls() };
        };
        // Nothing due: nothing to ask GitHub.
        assert.deepStrictEqual(replayed("[]"), { stdout: "", output: "republish=[]\n", calls: [] });
        // The runs created in the last 35 days: no run is older and unfinished (GitHub cancels it at 35).
        const from = new Date(Date.now() - 35 * 86_400_000).toISOString().slice(0, 10);
        const listed = (event: string) =>
            `gh api repos/bank/pki/actions/workflows/lifecycle.yml/runs --method GET --paginate -f event=${event} -f branch=main -f created=>=${from} -f per_page=100`;
        assert.deepStrictEqual(replayed('["dev","prod","sit","uat"]'), {
            stdout:
                `prod: left to the re-publication of ${runUrl(21)} (waiting)\n` +
                `sit: left to the re-publication of ${runUrl(25)} (in_progress)\n` +
                `uat: left to the re-publication of ${runUrl(19)} (queued)\n`,
            // dev is not left to the pull request's run, nor to the other branch's.
            output: 'republish=["dev"]\n',
            // Only the unfinished runs of others: not this run, not one completed, no pull request's.
            calls: [
                listed("schedule"),
                listed("workflow_dispatch"),
                ...[25, 23, 21, 19, 29].map(
                    (id) => `gh api repos/bank/pki/actions/runs/${id}/jobs?per_page=100 --paginate`,
                ),
            ],
        });
        const needsHuman = (stack: string) =>
            JSON.parse(fs.readFileSync(path.join(temp, "lifecycle", stack, "lifecycle.json"), "utf8")).needsHuman;
        const waiting = `the CRLs due on stack prod wait for a reviewer of pulumi-deploy since ${schedule[1][0].created_at}: approve or reject the re-publication of ${runUrl(21)} (approved, it decides again from the default branch and the outputs deployed then, and publishes only CRLs still due that can go alone)`;
        const stuck = `the CRLs due on stack uat are left to the re-publication of ${runUrl(19)}, queued since ${schedule[1][1].created_at}: not finished after a day; if nothing moves it, cancel that run, and the next run re-publishes them`;
        assert.deepStrictEqual(["dev", "prod", "sit", "uat"].map(needsHuman), [
            [],
            ["the offline root's ceremony is due", waiting],
            [],
            [stuck],
        ]);
        // More runs than GitHub lists so filtered (1,000): said, and what was listed still counts.
        fs.writeFileSync(path.join(dir, "runs-workflow_dispatch.json"), pages(1200, dispatch));
        assert.deepStrictEqual(
            replayed('["dev"]').stdout,
            `::warning::GitHub listed 3 of the 1200 workflow_dispatch runs since ${from}: a re-publication waiting in another is not seen, and one queued here cancels it\n`,
        );
        // What on-call reads: prod's issue asks for the approval, uat's to look at the job; no other stack has one.
        const attention = w.jobs.attention.steps.find((s) => s.name === "open, update or close the issues");
        fs.rmSync(path.join(dir, "calls"), { force: true });
        const r = replayIssueStep(attention?.run ?? "exit 9", dir, temp, {
            DECIDED: "success",
            RUN_NUMBER: "30",
            RUN_URL: runUrl(30),
        });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(
            calls().filter((c) => !c.startsWith("gh issue list")),
            ["prod", "uat"].map(
                (stack) =>
                    `gh issue create --title PKI lifecycle: stack ${stack} needs a human --body-file ${temp}/issue.md`,
            ),
        );
        const created = fs.readFileSync(path.join(dir, "created.md"), "utf8");
        for (const line of [waiting, stuck]) assert.ok(created.includes(`\n- ${line}\n`), line);
    });

    it("updates only the issues it opened: one opened by someone else under the same title is left alone", () => {
        // gh issue list: every open issue, or with --app only those the app opened (as GitHub filters).
        const { dir, calls } = fakes({
            gh: [
                'if [ "$1 $2" = "issue list" ]; then',
                '  if [[ " $* " == *" --app github-actions "* ]]; then jq "[.[] | select(.app)]" "$FAKE/issues.json"; else cat "$FAKE/issues.json"; fi',
                "fi",
            ].join("\n"),
        });
        fs.writeFileSync(
            path.join(dir, "issues.json"),
            JSON.stringify([{ number: 3, title: "PKI lifecycle: the scheduled run failed", app: false }]),
        );
        // attention reports a failed decision, run-failure a failed propose or republish.
        for (const [job, step, env] of [
            ["attention", "open, update or close the issues", { DECIDED: "failure" }],
            [
                "run-failure",
                "open, update or close the run's issue",
                {
                    DECIDED: "success",
                    PROPOSED: "failure",
                    ATTENDED: "success",
                    REPUBLISHED: "skipped",
                    REPUBLISH: "[]",
                },
            ],
        ] as const) {
            const script = workflow("lifecycle.yml").jobs[job].steps.find((s) => s.name === step)?.run;
            assert.ok(script, `${job}: ${step}`);
            fs.rmSync(path.join(dir, "calls"), { force: true });
            const temp = tempDir("workflow-temp");
            const r = replayIssueStep(script, dir, temp, env);
            assert.strictEqual(r.status, 1, `${job}: the failure fails the job`);
            // Which run wrote it, for run-failure of an earlier run that ends late (it leaves it open).
            assert.match(fs.readFileSync(path.join(temp, "issue.md"), "utf8"), /\n\n<!-- pki-lifecycle run 9 -->\n$/);
            assert.deepStrictEqual(calls(), [
                "gh issue list --state open --limit 500 --app github-actions --json number,title,body",
                `gh issue create --title PKI lifecycle: the scheduled run failed --body-file ${temp}/issue.md`,
            ]);
        }
    });

    it("opens the stacks' issues without waiting for the other jobs, and leaves the run's issue to run-failure once decide succeeded", () => {
        const job = workflow("lifecycle.yml").jobs.attention;
        // Not republish: a job waiting for pulumi-deploy's reviewer would hold back the stacks' issues.
        assert.strictEqual(job.needs, "decide");
        const step = job.steps.find((s) => s.name === "open, update or close the issues");
        assert.ok(step?.run);
        const { dir, calls } = fakes({ gh: 'if [ "$1 $2" = "issue list" ]; then cat "$FAKE/issues.json"; fi' });
        fs.writeFileSync(
            path.join(dir, "issues.json"),
            JSON.stringify([{ number: 4, title: "PKI lifecycle: the scheduled run failed" }]),
        );
        // The decide job's artifact: dev needs nothing, prod needs a human.
        const temp = tempDir("workflow-temp");
        for (const [stack, needsHuman] of [
            ["dev", []],
            [
                "prod",
                [
                    "the offline root's ceremony is due",
                    // The lifecycle's own texts name files with "<endpoint>", and config text may hold Markdown.
                    "before 2027-01-18 take apic/<endpoint>/truststore.crl out of DataPower; pki:organization is *R&D_bank* `x` \\",
                ],
            ],
        ] as const) {
            fs.mkdirSync(path.join(temp, "lifecycle", stack), { recursive: true });
            fs.writeFileSync(
                path.join(temp, "lifecycle", stack, "lifecycle.json"),
                JSON.stringify({ changed: false, republishCrls: stack === "prod", markdown: "", needsHuman }),
            );
        }
        const r = replayIssueStep(step.run, dir, temp, { DECIDED: "success" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(
            calls().filter((c) => !c.startsWith("gh issue list")),
            [`gh issue create --title PKI lifecycle: stack prod needs a human --body-file ${temp}/issue.md`],
        );
        // Each as Markdown shows it (GitHub would drop "<endpoint>" as a tag, and take "*R&D_bank*" for emphasis).
        assert.strictEqual(
            fs.readFileSync(path.join(temp, "issue.md"), "utf8"),
            "The scheduled PKI lifecycle run (https://github.example/bank/pki/actions/runs/9) found what it cannot do alone on stack `prod`:\n\n" +
                "- the offline root's ceremony is due\n" +
                "- before 2027-01-18 take apic/\\<endpoint>/truststore.crl out of DataPower; pki:organization is \\*R\\&D\\_bank\\* \\`x\\` \\\\\n" +
                "\nThe issue is updated by every run and closed when nothing needs a human any more.\n",
        );
    });

    it("goes on past a stack whose issue fails or whose decision cannot be read (closing none of its issues), names each, and fails at the end", () => {
        const step = workflow("lifecycle.yml").jobs.attention.steps.find(
            (s) => s.name === "open, update or close the issues",
        );
        assert.ok(step?.run);
        const { dir, calls } = fakes({
            gh: [
                'if [ "$1 $2" = "issue list" ]; then cat "$FAKE/issues.json"; fi',
                'if [ "$1 $2" = "issue create" ] && [[ $4 == *a-first* ]]; then echo "HTTP 502: Bad Gateway" >&2; exit 1; fi',
            ].join("\n"),
        });
        // broken's issue is open: a decision that cannot be read is no reason to close it.
        fs.writeFileSync(
            path.join(dir, "issues.json"),
            JSON.stringify([{ number: 8, title: "PKI lifecycle: stack broken needs a human" }]),
        );
        const temp = tempDir("workflow-temp");
        for (const stack of ["a-first", "broken", "prod"])
            fs.mkdirSync(path.join(temp, "lifecycle", stack), { recursive: true });
        for (const stack of ["a-first", "prod"]) {
            fs.writeFileSync(
                path.join(temp, "lifecycle", stack, "lifecycle.json"),
                JSON.stringify({
                    changed: false,
                    republishCrls: false,
                    markdown: "",
                    needsHuman: ["the offline root's ceremony is due"],
                }),
            );
        }
        const r = replayIssueStep(step.run, dir, temp, { DECIDED: "success" });
        assert.deepStrictEqual(
            { status: r.status, stdout: r.stdout.split("\n") },
            {
                status: 1,
                stdout: [
                    "::error title=PKI lifecycle: stack a-first::writing its issue failed (exit 1); the other stacks went on",
                    "::error title=PKI lifecycle: stack broken::reading its decision failed (exit 2); the other stacks went on",
                    "::error title=PKI lifecycle::the issues of stack(s) a-first broken failed (the errors above say what); the other stacks' are done",
                    "",
                ],
            },
        );
        assert.deepStrictEqual(
            calls().filter((c) => !c.startsWith("gh issue list")),
            ["a-first", "prod"].map(
                (stack) =>
                    `gh issue create --title PKI lifecycle: stack ${stack} needs a human --body-file ${temp}/issue.md`,
            ),
        );
    });

    it("gives attention and run-failure the same issue helpers (each job holds its own copy: neither checks out the repository)", () => {
        const helpers = (jobName: string) =>
            /\n# Only issues this workflow opened[^\n]*\nopen_issue\(\) \{[\s\S]*?\n\}\n[\s\S]*?\nupsert\(\) \{[\s\S]*?\n\}\nclose\(\) \{[\s\S]*?\n\}\n/.exec(
                workflow("lifecycle.yml")
                    .jobs[jobName].steps.map((s) => s.run ?? "")
                    .join("\n"),
            )?.[0];
        const attention = helpers("attention");
        assert.match(attention ?? "", /gh issue list --state open --limit 500 --app github-actions/);
        assert.strictEqual(helpers("run-failure"), attention);
    });

    it("opens the run's issue when the pull requests, the stacks' issues or the CRL re-publication fail, closes it when every job succeeds, and leaves a failed decision to attention", () => {
        const w = workflow("lifecycle.yml");
        const job = w.jobs["run-failure"];
        // Every other job, so that none fails or runs out of time unreported; without a job in
        // needs, its result would read as "" (a failure every day).
        assert.deepStrictEqual(job.needs, ["decide", "propose", "attention", "republish"]);
        assert.deepStrictEqual(
            Object.keys(w.jobs).filter((name) => name !== "run-failure"),
            job.needs,
        );
        // always(): also after a job failed or was cancelled (by hand, or at its time limit).
        const failed = {
            decide: { result: "success" },
            propose: { result: "failure" },
            attention: { result: "success" },
            republish: { result: "cancelled" },
        };
        assert.ok(jobRuns(job, { ...SCHEDULED, needs: failed }));
        assert.strictEqual(job["timeout-minutes"], 10);
        const step = job.steps.find((s) => s.name === "open, update or close the run's issue");
        assert.ok(step?.run);
        // gh: the issues the app opened, each edit's body kept.
        const { dir, calls } = fakes({
            gh: [
                'case "$1 $2" in',
                '  "issue list") cat "$FAKE/issues.json" ;;',
                '  "issue edit") cp "$5" "$FAKE/body-$3" ;;',
                '  "issue create") cp "$6" "$FAKE/body-new" ;;',
                "esac",
            ].join("\n"),
        });
        fs.writeFileSync(
            path.join(dir, "issues.json"),
            JSON.stringify([{ number: 4, title: "PKI lifecycle: the scheduled run failed" }]),
        );
        const temp = tempDir("workflow-temp");
        const run = (decided: string, proposed: string, republished: string, attended = "success") => {
            fs.rmSync(path.join(dir, "calls"), { force: true });
            const r = replayIssueStep(step.run!, dir, temp, {
                DECIDED: decided,
                PROPOSED: proposed,
                ATTENDED: attended,
                REPUBLISHED: republished,
                REPUBLISH: decided === "success" ? '["prod"]' : "",
            });
            return { status: r.status, calls: calls().filter((c) => !c.startsWith("gh issue list")) };
        };
        const runIssue = () => fs.readFileSync(path.join(dir, "body-4"), "utf8");
        const edited = `gh issue edit 4 --body-file ${temp}/issue.md`;
        const weeks =
            "\nThe edge CRLs are valid for four publication periods (at least 28 days), so a failure matters within weeks: fix it, then run the workflow again.\n" +
            "\n<!-- pki-lifecycle run 9 -->\n";
        /** The run's issue as run-failure writes it: one line per job that failed. */
        const failedIssue = (...failures: string[]) =>
            "The scheduled PKI lifecycle run decided what is due, then failed: see https://github.example/bank/pki/actions/runs/9.\n\n" +
            failures.map((failure) => `- ${failure}\n`).join("") +
            weeks;

        // pulumi up refused: the preview changes more than CRLs (a merged change not deployed yet).
        assert.deepStrictEqual(run("success", "success", "failure"), { status: 1, calls: [edited] });
        assert.strictEqual(
            runIssue(),
            failedIssue(
                "job `republish` (re-publishing the CRLs of `prod`): failure; it stops when the update would change more than the CRLs (a merged change not deployed yet): then deploy the reviewed changes of the default branch first",
            ),
        );
        // The pull requests could not be opened (e.g. the repository does not let workflows open them).
        assert.deepStrictEqual(run("success", "failure", "skipped"), { status: 1, calls: [edited] });
        assert.strictEqual(
            runIssue(),
            failedIssue("job `propose` (the pull requests of the stack file edits): failure"),
        );
        // Out of time: GitHub cancels a job at its timeout-minutes, so its result reads cancelled.
        assert.deepStrictEqual(run("success", "cancelled", "skipped", "cancelled"), { status: 1, calls: [edited] });
        assert.strictEqual(
            runIssue(),
            failedIssue(
                "job `propose` (the pull requests of the stack file edits): cancelled, by hand or at its time limit",
                "job `attention` (the issues of the stacks that need a human): cancelled, by hand or at its time limit",
            ),
        );
        // The stacks' issues could not be written (e.g. GitHub's API failed).
        assert.deepStrictEqual(run("success", "success", "success", "failure"), { status: 1, calls: [edited] });
        assert.strictEqual(
            runIssue(),
            failedIssue("job `attention` (the issues of the stacks that need a human): failure"),
        );
        // Out of time, or its concurrency group: another run that decided at once took its place.
        assert.deepStrictEqual(run("success", "success", "cancelled"), { status: 1, calls: [edited] });
        assert.strictEqual(
            runIssue(),
            failedIssue(
                "job `republish` (re-publishing the CRLs of `prod`): cancelled, by hand or at its time limit, or replaced by another run's that decided at the same time",
            ),
        );
        for (const republished of ["success", "skipped"]) {
            assert.deepStrictEqual(run("success", "success", republished), {
                status: 0,
                calls: ["gh issue close 4 --comment The run https://github.example/bank/pki/actions/runs/9 succeeded."],
            });
        }
        // Runs overlap: run 9 ending late (its republish approved days later) leaves the issue run 12
        // wrote about its own failure, and closes one an earlier run wrote, or one without a run.
        const closed = ["gh issue close 4 --comment The run https://github.example/bank/pki/actions/runs/9 succeeded."];
        for (const [body, calls] of [
            ["job `propose` failed\n\n<!-- pki-lifecycle run 12 -->\n", []],
            ["job `propose` failed\n\n<!-- pki-lifecycle run 8 -->\n", closed],
            ["job `propose` failed\n", closed],
        ] as const) {
            fs.writeFileSync(
                path.join(dir, "issues.json"),
                JSON.stringify([{ number: 4, title: "PKI lifecycle: the scheduled run failed", body }]),
            );
            assert.deepStrictEqual(run("success", "success", "success"), { status: 0, calls }, body);
        }
        // decide failed or ran out of time (propose and republish skipped): attention has written
        // the run's issue, and failed for it; the issue stays.
        for (const decided of ["failure", "cancelled"]) {
            assert.deepStrictEqual(run(decided, "skipped", "skipped", "failure"), { status: 0, calls: [] });
        }
    });

    it("adds the failure of an earlier run that ends late below the report a later run wrote, as a comment, never over it", () => {
        // gh: the issues the app opened, each edit's body and each comment kept.
        const { dir, calls } = fakes({
            gh: [
                'case "$1 $2" in',
                '  "issue list") cat "$FAKE/issues.json" ;;',
                '  "issue edit") cp "$5" "$FAKE/body-$3" ;;',
                '  "issue comment") cp "$5" "$FAKE/comment-$3" ;;',
                "esac",
            ].join("\n"),
        });
        // Run 9 fails late: its republish, approved days later, fails (run-failure), or its decide did (attention).
        for (const [job, step, env, report] of [
            [
                "run-failure",
                "open, update or close the run's issue",
                {
                    DECIDED: "success",
                    PROPOSED: "success",
                    ATTENDED: "success",
                    REPUBLISHED: "failure",
                    REPUBLISH: '["prod"]',
                },
                /^The scheduled PKI lifecycle run decided what is due, then failed: see https:\/\/github\.example\/bank\/pki\/actions\/runs\/9\.\n\n- job `republish` \(re-publishing the CRLs of `prod`\): failure;[^]*\n\n<!-- pki-lifecycle run 9 -->\n$/,
            ],
            [
                "attention",
                "open, update or close the issues",
                { DECIDED: "failure" },
                /^The scheduled PKI lifecycle run could not decide what is due \(job result: failure\)[^]*\n\n<!-- pki-lifecycle run 9 -->\n$/,
            ],
        ] as const) {
            const script = workflow("lifecycle.yml").jobs[job].steps.find((s) => s.name === step)?.run;
            assert.ok(script, `${job}: ${step}`);
            const temp = tempDir("workflow-temp");
            // The run's issue as a later run (12), an earlier one (8) or no run wrote it.
            for (const [body, written] of [
                ["job `propose` failed\n\n<!-- pki-lifecycle run 12 -->\n", "comment"],
                ["job `propose` failed\n\n<!-- pki-lifecycle run 8 -->\n", "edit"],
                ["job `propose` failed\n", "edit"],
            ] as const) {
                for (const f of ["calls", "body-4", "comment-4"]) fs.rmSync(path.join(dir, f), { force: true });
                fs.writeFileSync(
                    path.join(dir, "issues.json"),
                    JSON.stringify([{ number: 4, title: "PKI lifecycle: the scheduled run failed", body }]),
                );
                const r = replayIssueStep(script, dir, temp, env);
                assert.strictEqual(r.status, 1, `${job}: the failure fails the job`);
                assert.deepStrictEqual(
                    calls().filter((c) => !c.startsWith("gh issue list")),
                    [`gh issue ${written} 4 --body-file ${temp}/issue.md`],
                    `${job}, ${body}`,
                );
                const kept = path.join(dir, written === "comment" ? "comment-4" : "body-4");
                assert.match(fs.readFileSync(kept, "utf8"), report);
                assert.strictEqual(fs.existsSync(path.join(dir, "body-4")), written === "edit", "the body is kept");
            }
        }
    });
});
