import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ROOT } from "./helpers";

interface Step {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, string>;
}

describe(".github/workflows/preview.yml", () => {
    const workflow = YAML.parse(fs.readFileSync(path.join(ROOT, ".github/workflows/preview.yml"), "utf8"));
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const steps: Step[] = workflow.jobs.preview.steps;

    it("runs on pull requests that touch stacks or the program, and may comment", () => {
        assert.deepStrictEqual(Object.keys(workflow.on), ["pull_request"]);
        assert.ok(workflow.on.pull_request.paths.includes("stacks/**"));
        assert.ok(workflow.on.pull_request.paths.includes("lib/**"));
        assert.strictEqual(workflow.permissions["pull-requests"], "write");
    });

    it("previews each changed stack with the Pulumi action, commenting on the PR", () => {
        assert.strictEqual(workflow.jobs.preview.needs, "changed-stacks");
        assert.strictEqual(
            workflow.jobs.preview.strategy.matrix.stack,
            "${{ fromJSON(needs.changed-stacks.outputs.stacks) }}",
        );
        const preview = steps.find((s) => s.uses?.startsWith("pulumi/actions@"));
        assert.ok(preview, "a pulumi/actions step");
        assert.deepStrictEqual(
            {
                command: preview.with?.command,
                stack: preview.with?.["stack-name"],
                comment: preview.with?.["comment-on-pr"],
            },
            { command: "preview", stack: "${{ matrix.stack }}", comment: true },
        );
        assert.ok(preview.env && "PULUMI_ACCESS_TOKEN" in preview.env);
        const build = steps.findIndex((s) => s.run === "npm ci && npm run build");
        assert.ok(
            build >= 0 && build < steps.indexOf(preview),
            "the program is built before Pulumi runs dist/lib/program.js",
        );
        assert.strictEqual(
            YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")).main,
            "dist/lib/program.js",
        );
    });

    it("posts our certificate diff of the same stack file as a second comment", () => {
        const diff = steps.find((s) => s.run?.includes("npm run -s diff --"));
        assert.ok(diff, "a diff step");
        assert.match(
            diff.run ?? "",
            /--base "origin\/\$\{\{ github\.base_ref \}\}" --head "stacks\/Pulumi\.\$\{\{ matrix\.stack \}\}\.yaml"\s+--format markdown > cert-diff\.md/,
        );
        assert.match(pkg.scripts.diff, /node dist\/lib\/cli\/main\.js diff$/, "npm run diff is the real command");
        const comment = steps[steps.indexOf(diff) + 1];
        assert.match(comment.run ?? "", /^gh pr comment .* --body-file cert-diff\.md$/);
        assert.strictEqual(comment.env?.GH_TOKEN, "${{ secrets.GITHUB_TOKEN }}");
    });

    it("finds changed stacks by their file names, and every stack when the program changes", () => {
        const find = workflow.jobs["changed-stacks"].steps.find((s: Step) => s.name?.startsWith("list stacks"));
        assert.match(find.run, /git diff --name-only "\$base"\.\.\.HEAD/);
        assert.match(find.run, /ls stacks\/Pulumi\.\*\.yaml/);
        assert.match(find.run, /s\/\^Pulumi\\\.\(\.\+\)\\\.yaml\$\/\\1\//);
        for (const stack of ["dev", "sit", "prod"]) {
            assert.strictEqual(`Pulumi.${stack}.yaml`.replace(/^Pulumi\.(.+)\.yaml$/, "$1"), stack);
            assert.ok(fs.existsSync(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`)));
        }
    });
});
