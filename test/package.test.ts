/**
 * The package as a developer gets it: `npm pack`, then the tarball installed into a new Pulumi
 * TypeScript project next to the oldest versions of its peer ranges (this repository builds and
 * tests against the newest it pins), type-checked with Pulumi's project template settings, and the
 * README's complete program run under the package's testing harness.
 *
 * Needs the npm registry or a warm npm cache, and about 20 s (see README "Testing"), so it is not
 * part of `npm test` (.mocharc.js leaves it out): run it with `npm run test:package`.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { POLICIES } from "../policy/policies";
import { ROOT, tempDir } from "./helpers";
import { servedPolicyPack } from "./policyPack";

interface Manifest {
    name: string;
    version: string;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
    devDependencies: Record<string, string>;
}
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as Manifest;
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");

/** The lowest version of each required peer range (`^3.142.0` -> 3.142.0): the other end from our pins. */
function lowestOf(name: string): string {
    const range = PACKAGE.peerDependencies[name];
    const lowest = range?.match(/^\^(\d+\.\d+\.\d+)$/)?.[1];
    assert.ok(lowest, `peer range of ${name} is ^x.y.z; got ${range}`);
    return lowest;
}
const OLDEST_PEERS = Object.keys(PACKAGE.peerDependencies)
    .filter((name) => PACKAGE.peerDependenciesMeta[name]?.optional !== true)
    .map((name) => ({ name, version: lowestOf(name) }));

function run(command: string, args: string[], cwd: string): string {
    const result = spawnSync(command, args, { cwd, encoding: "utf8" });
    assert.strictEqual(result.status, 0, `${command} ${args.join(" ")}\n${result.stdout}${result.stderr}`);
    return result.stdout;
}

/** Pulumi's TypeScript project template (pulumi new typescript), with node's types taken from this repository. */
const TEMPLATE_TSCONFIG = {
    compilerOptions: {
        strict: true,
        outDir: "bin",
        target: "es2020",
        module: "commonjs",
        moduleResolution: "node",
        sourceMap: true,
        experimentalDecorators: true,
        noFallthroughCasesInSwitch: true,
        noImplicitReturns: true,
        forceConsistentCasingInFileNames: true,
        typeRoots: [path.join(ROOT, "node_modules/@types")],
        types: ["node"],
    },
    files: ["index.ts", "run.ts"],
};

/** Runs the program with the harness from the installed package and reports what a test would check. */
const RUNNER = `import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { certificates, kubernetesManifests, runProgram } from "apic-istio-pki/testing";

runProgram<typeof import("./index")>(require.resolve("./index")).then(
    async ({ engine, outputs, returned }) => {
        const report = {
            sdk: require.resolve("@pulumi/pulumi"),
            sdkOfPackage: require.resolve("@pulumi/pulumi", { paths: [path.dirname(require.resolve("apic-istio-pki"))] }),
            apicCertPem: outputs.apicCertPem,
            apicKeyIsSecret: await pulumi.isSecret(returned.apicKeyPem),
            kinds: kubernetesManifests(engine).map((o) => o.manifest.kind),
            certificates: certificates(engine).map((c) => c.resourceName),
        };
        process.stdout.write(JSON.stringify(report));
    },
    (error: unknown) => {
        process.stderr.write(String(error));
        process.exit(1);
    },
);
`;

describe("The npm package, installed into a new project next to the oldest SDK it allows", function () {
    this.timeout(300_000);
    const project = tempDir("consumer");
    let files: string[];

    before(() => {
        const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", project], ROOT)) as {
            filename: string;
            files: { path: string }[];
        }[];
        files = packed.files.map((f) => f.path);
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
        run(
            "npm",
            [
                "install",
                "--prefer-offline",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                `./${packed.filename}`,
                ...OLDEST_PEERS.map((p) => `${p.name}@${p.version}`),
                // The optional peer the README installs for the policy pack, at the oldest of its range too.
                `@pulumi/policy@${lowestOf("@pulumi/policy")}`,
            ],
            project,
        );
    });

    it("holds the compiled JS, type declarations, README, LICENSE and the policy pack, and nothing else", () => {
        for (const file of [
            "package.json",
            "README.md",
            "LICENSE",
            "dist/lib/index.js",
            "dist/lib/index.d.ts",
            "dist/lib/testing.js",
            "dist/lib/testing.d.ts",
            "dist/lib/cli/main.js",
            "dist/lib/components/rootCa.d.ts",
            "dist/policy/index.js",
            "policy/package.json",
            "policy/PulumiPolicy.yaml",
        ])
            assert.ok(files.includes(file), file);
        const stray = files.filter(
            (f) =>
                !/^dist\/lib\/.+\.(js|js\.map|d\.ts)$/.test(f) &&
                !/^dist\/policy\/.+\.js(\.map)?$/.test(f) &&
                !["package.json", "README.md", "LICENSE", "policy/package.json", "policy/PulumiPolicy.yaml"].includes(
                    f,
                ),
        );
        assert.deepStrictEqual(stray, []);
        const main = JSON.parse(fs.readFileSync(path.join(ROOT, "policy/package.json"), "utf8")).main as string;
        assert.ok(files.includes(path.join("policy", main)), `the policy pack's main (${main}) is packed`);
    });

    it("ships the source map each packed script names, with the TypeScript inside it (no source is packed)", () => {
        const installed = path.join(project, "node_modules", "apic-istio-pki");
        const scripts = files.filter((f) => f.endsWith(".js"));
        const problems = scripts.flatMap((script) => {
            const named = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(
                fs.readFileSync(path.join(installed, script), "utf8"),
            );
            if (named === null) return [`${script}: names no source map`];
            const mapFile = path.posix.join(path.posix.dirname(script), named[1]);
            if (!files.includes(mapFile)) return [`${script}: names ${mapFile}, which is not packed`];
            const map = JSON.parse(fs.readFileSync(path.join(installed, mapFile), "utf8")) as {
                sources: string[];
                sourcesContent?: (string | null)[];
            };
            return map.sources.length > 0 &&
                map.sources.every((_, i) => typeof map.sourcesContent?.[i] === "string" && map.sourcesContent[i] !== "")
                ? []
                : [`${mapFile}: holds no source text for ${map.sources.join(", ")}`];
        });
        assert.ok(scripts.length > 50, `${scripts.length} scripts packed`);
        assert.deepStrictEqual(problems, []);
    });

    it("shares the project's @pulumi/pulumi: npm ls finds one copy, the oldest of the peer range (and @pulumi/policy's own, for the pack's process)", () => {
        assert.notStrictEqual(
            OLDEST_PEERS.find((p) => p.name === "@pulumi/pulumi")?.version,
            PACKAGE.devDependencies["@pulumi/pulumi"],
        );
        const copies = run("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable"], project).trim().split("\n");
        // @pulumi/policy 1.21 depends on @pulumi/pulumi ^3.204 itself: below that it brings its own copy,
        // loaded only in the policy pack's process, never in the program's.
        const policySdk = "node_modules/@pulumi/policy/node_modules/@pulumi/pulumi";
        assert.deepStrictEqual(copies, [
            path.join(fs.realpathSync(project), "node_modules/@pulumi/pulumi"),
            path.join(fs.realpathSync(project), policySdk),
        ]);
        for (const peer of OLDEST_PEERS) {
            const installed = JSON.parse(
                fs.readFileSync(path.join(project, "node_modules", peer.name, "package.json"), "utf8"),
            );
            assert.strictEqual(installed.version, peer.version, peer.name);
        }
    });

    it("type-checks the README's complete program and a harness run, with Pulumi's project template settings", () => {
        fs.copyFileSync(path.join(ROOT, "examples/own-pki/index.ts"), path.join(project, "index.ts"));
        fs.writeFileSync(path.join(project, "run.ts"), RUNNER);
        fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(TEMPLATE_TSCONFIG, null, 4));
        run(process.execPath, [TSC, "-p", "."], project);
        assert.ok(fs.existsSync(path.join(project, "bin/index.js")));
    });

    it("type-checks the same under module and moduleResolution node16, every declaration checked (no skipLibCheck)", () => {
        // node16 loads each declaration file as the module it is: one of ours that reached an ES module
        // (@peculiar/utils, through a @peculiar type in a public signature) stopped tsc with TS1479.
        const node16 = {
            compilerOptions: {
                ...TEMPLATE_TSCONFIG.compilerOptions,
                module: "node16",
                moduleResolution: "node16",
                skipLibCheck: false,
                noEmit: true,
            },
            files: TEMPLATE_TSCONFIG.files,
        };
        fs.writeFileSync(path.join(project, "tsconfig.node16.json"), JSON.stringify(node16, null, 4));
        assert.strictEqual(run(process.execPath, [TSC, "-p", "tsconfig.node16.json"], project), "");
    });

    it("runs the complete program under the stand-in with the installed package, on the project's own SDK", () => {
        const report = JSON.parse(run(process.execPath, ["bin/run.js"], project));
        const sdk = path.join(fs.realpathSync(project), "node_modules/@pulumi/pulumi/index.js");
        assert.strictEqual(report.sdk, sdk);
        assert.strictEqual(report.sdkOfPackage, sdk);
        assert.match(report.apicCertPem, /^-----BEGIN CERTIFICATE-----/);
        assert.strictEqual(report.apicKeyIsSecret, true);
        assert.deepStrictEqual([...report.kinds].sort(), ["Gateway", "Secret"]);
        assert.deepStrictEqual([...report.certificates].sort(), [
            "payments-apic-cert",
            "payments-gateway-payments-server-cert",
            "team-client-ca-cert",
            "team-client-root-cert",
            "team-server-ca-cert",
            "team-server-root-cert",
        ]);
    });

    it("runs the policy pack the README names (node_modules/apic-istio-pki/policy) as Pulumi runs it, on the project's SDK and @pulumi/policy", async () => {
        const served = await servedPolicyPack(path.join(project, "node_modules/apic-istio-pki/policy"), project);
        assert.deepStrictEqual(
            { name: served.name, version: served.version, policies: served.policies.length },
            { name: "apic-istio-pki", version: PACKAGE.version, policies: POLICIES.length },
        );
        assert.deepStrictEqual(
            served.weakKeyDiagnostics.map((d) => [d.policy, d.level, d.message.split("\n")[1]]),
            [
                [
                    "private-key-strength",
                    "mandatory",
                    "ob-apic-client-key: RSA 1024 is too weak; use RSA 2048+ or ECDSA P256+",
                ],
            ],
        );
    });

    it("runs its bin from the project: --version, and --stack read from the project's stackConfigDir", () => {
        const bin = path.join(project, "node_modules/.bin/apic-istio-pki");
        assert.strictEqual(run(bin, ["--version"], project), `${PACKAGE.version}\n`);
        fs.writeFileSync(
            path.join(project, "Pulumi.yaml"),
            "name: consumer\nruntime: nodejs\nstackConfigDir: environments\n",
        );
        fs.mkdirSync(path.join(project, "environments"));
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), path.join(project, "environments/Pulumi.dev.yaml"));
        assert.match(
            run(bin, ["inventory", "--stack", "dev"], path.join(project, "environments")),
            /ob\.dev\.api\.bank\.example/,
        );
    });
});
