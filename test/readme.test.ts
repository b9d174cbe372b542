/**
 * The README against the program, where a claim is cheap to check: the commands it tells a user
 * to type exist, every option of the command line is documented, the help agrees with it, and what
 * the package ships points at nothing a user does not have.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { diffMarkdown } from "../lib/cli/diff";
import { DEFAULTS } from "../lib/config/types";
import { KNOWN_KEYS } from "../lib/config/validate";
import { diffPlans } from "../lib/inventory/diff";
import { planFromRawConfig } from "../lib/plan/plan";
import { cli, loadStackFileValues, ROOT } from "./helpers";

const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
const COMMANDS = ["render", "inventory", "diff", "expiry", "lifecycle", "ceremony"];

/** The lines of every ```sh block of the README. */
const shellLines = (): string[] =>
    [...README.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => block[1].split("\n"));

describe("README against the command line", () => {
    it("names every option of every command's usage", async () => {
        const undocumented: string[] = [];
        for (const command of COMMANDS) {
            const { out } = await cli(command, "--help");
            const usage = out.slice(0, out.indexOf("\n\n"));
            for (const option of new Set(usage.match(/--[a-z][a-z0-9-]*/g))) {
                if (!new RegExp(`${option}\\b`).test(README)) undocumented.push(`${command} ${option}`);
            }
        }
        assert.deepStrictEqual(undocumented, []);
    });

    it("runs the command line as it can be found: apic-istio-pki is on no PATH, npx finds it in this repository and in a project", () => {
        const bare = shellLines().filter((line) => /^\s*apic-istio-pki\b/.test(line));
        assert.deepStrictEqual(bare, []);
        // Nor in the text: a command in backquotes, or one the tools print (quoted in examples).
        const inText = README.match(
            /(?<!npx |[\w/-])apic-istio-pki (?:render|inventory|diff|expiry|lifecycle|ceremony)\b/g,
        );
        assert.deepStrictEqual(inText, null);
    });

    it("has diff --help name the report's parts in the order it prints them: refused changes, then risks", async () => {
        const dev = loadStackFileValues("stacks/Pulumi.dev.yaml");
        // An APIC client epoch going down (refused) and an organization renamed (a risk).
        const base = { ...dev, rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase: "switch" } } } };
        const head = { ...dev, organization: "Example Bank plc" };
        const report = diffMarkdown(diffPlans(planFromRawConfig(base), planFromRawConfig(head)), "dev");
        const printed = ["### Refused", "### Risks"].map((heading) => report.indexOf(heading));
        assert.ok(printed[0] >= 0 && printed[0] < printed[1], report);
        const { out } = await cli("diff", "--help");
        const description = out.slice(out.indexOf("\n\n")).toLowerCase();
        const described = ["refused", "risk"].map((word) => description.indexOf(word));
        assert.ok(described[0] < described[1], out);
    });
});

describe("README against the code", () => {
    /** The rows of the stack configuration table: key (without `pki:`) -> its default column. */
    const configRows = new Map(
        [...README.matchAll(/^\| `pki:(\w+)` \| [^|]* \| ([^|]*) \|/gm)].map((m) => [m[1], m[2].trim()]),
    );

    it("lists every stack config key the validation knows, and no other, in the configuration table", () => {
        assert.deepStrictEqual([...configRows.keys()].sort(), [...KNOWN_KEYS].sort());
    });

    it("shows pki:revocations entries the validation takes, of an APIC client and of a UI client", () => {
        const examples = [...README.matchAll(/```yaml\n {2}pki:revocations:\n((?: {4}- .*\n)+)/g)].map(
            (m) => YAML.parse(m[1].replace(/^ {4}/gm, "")) as Record<string, unknown>[],
        );
        assert.deepStrictEqual(
            examples.map((entries) => entries.map((e) => ("uiClient" in e ? "uiClient" : "endpoint"))),
            [["endpoint"], ["uiClient"]],
        );
        const stack = loadStackFileValues("examples/front-end/Pulumi.front-end.yaml");
        const now = new Date("2026-12-01T00:00:00Z");
        for (const revocations of examples) {
            const plan = planFromRawConfig({ ...stack, revocations: JSON.stringify(revocations) }, { now });
            assert.deepStrictEqual(
                plan.config.revocations.map((r) => r.endpoint ?? r.uiClient),
                revocations.map((r) => r.endpoint ?? r.uiClient),
            );
        }
    });

    it("gives in the configuration table the defaults the validation applies", () => {
        const scalar = (value: unknown): string => (typeof value === "string" ? `\`${value}\`` : String(value));
        const claimed = {
            meshStrictMtls: `\`${DEFAULTS.meshStrictMtls}\``,
            gatewayNamespace: scalar(DEFAULTS.gatewayNamespace),
            trustDomains: scalar(DEFAULTS.trustDomains),
            keyAlgorithm: scalar(DEFAULTS.keyAlgorithm),
            caKeyAlgorithm: scalar(DEFAULTS.caKeyAlgorithm),
            validityDays: `\`{ ${Object.entries(DEFAULTS.validityDays)
                .map(([tier, days]) => `${tier}: ${days}`)
                .join(", ")} }\``,
            crlPeriodDays: scalar(DEFAULTS.crlPeriodDays),
            meshFinishAfterHours: scalar(DEFAULTS.meshFinishAfterHours),
            pkcs12Profile: scalar(DEFAULTS.pkcs12Profile),
            pkcs12Iterations: scalar(DEFAULTS.pkcs12Iterations),
            clusters: `\`[${DEFAULTS.clusters.map((c) => c.name).join(", ")}]\``,
        };
        const table = Object.fromEntries(Object.keys(claimed).map((key) => [key, configRows.get(key)]));
        assert.deepStrictEqual(table, claimed);
        assert.ok(
            configRows.get("frontEnd")!.length > 0 &&
                README.includes(`\`namespace\` (default \`${DEFAULTS.frontEndNamespace}\`)`),
        );
    });

    it("has its programs give APIC's truststore the server CA's trust bundle (root and CA), as DataPower needs, in every language", () => {
        const truststores = [
            ...README.matchAll(/(?:serverTrustBundlePem|server_trust_bundle_pem)[:=] *([^,\n]+)/g),
        ].map((m) => m[1].trim());
        assert.deepStrictEqual(truststores, [
            "serverCa.trustBundlePem",
            "server_ca.trust_bundle_pem",
            "${serverCa.trustBundlePem}",
        ]);
    });
});

describe("the package as it ships", () => {
    it("points at no document it does not ship (internal notes), only at the README", () => {
        const shipped = ["dist/lib", "dist/policy"].flatMap((dir) =>
            fs
                .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" })
                .filter((file) => /\.(js|d\.ts)$/.test(file))
                .map((file) => path.join(dir, file)),
        );
        const mentions = shipped.flatMap((file) =>
            [...fs.readFileSync(path.join(ROOT, file), "utf8").matchAll(/[\w./-]+\.md\b/g)]
                .map((m) => m[0])
                .filter((name) => name !== "README.md")
                .map((name) => `${file}: ${name}`),
        );
        assert.deepStrictEqual(mentions, []);
    });
});
