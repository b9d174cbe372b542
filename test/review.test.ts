import * as assert from "assert";
import * as crypto from "crypto";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { diffPlans } from "../lib/inventory/diff";
import { plannedCertificates } from "../lib/inventory/planned";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { planFromRawConfig } from "../lib/plan/plan";
import { runWithStandIn } from "../lib/engine/standIn";
import { buildPki } from "../lib/stack";
import {
    cli,
    gitRepo,
    loadStackFileValues,
    OPTION_FILES,
    renderStackFile,
    ROOT,
    sharedState,
    tempDir,
} from "./helpers";

const plan = (raw: Record<string, unknown>) => planFromRawConfig(raw);
const option = (n: 1 | 2 | 3) => loadStackFileValues(OPTION_FILES[n]);
type Domains = Record<string, { services: string[]; groups?: Record<string, string[]> }>;

describe("inventory", function () {
    this.timeout(30_000);

    it("has one row per certificate for each option on the seed lists", () => {
        const counts = ([1, 2, 3] as const).map((n) => {
            const rows = plannedCertificates(plan(option(n)));
            return [
                rows.length,
                rows.filter((r) => r.role === "gateway-server").length,
                rows.filter((r) => r.role === "apic-client").length,
            ];
        });
        // 3 roots (mesh, gateway server, APIC client) + 2 intermediates + 1 mesh CA, then a server and a client cert per endpoint
        assert.deepStrictEqual(counts, [
            [6 + 2 * 2, 2, 2],
            [6 + 2 * 24, 24, 24],
            [6 + 2 * 7, 7, 7],
        ]);
    });

    it("prints role, issuer, key, validity, renewal point and where it goes, without key or certificate bodies", async () => {
        for (const format of ["table", "markdown", "json"]) {
            const { status, out } = await cli(
                "inventory",
                "--config",
                path.join(ROOT, OPTION_FILES[2]),
                "--format",
                format,
            );
            assert.strictEqual(status, 0);
            assert.doesNotMatch(out, /-----BEGIN/);
            assert.match(out, /accounts\.ob\.example\.api\.bank\.example/);
        }
        const { out } = await cli("inventory", "--config", path.join(ROOT, OPTION_FILES[1]), "--format", "json");
        const row = (JSON.parse(out).certificates as Record<string, unknown>[]).find((r) => r.id === "ob/server");
        assert.deepStrictEqual(row, {
            id: "ob/server",
            role: "gateway-server",
            endpoint: "ob",
            subject: "O=Example Bank, CN=ob.example.api.bank.example",
            dnsNames: ["ob.example.api.bank.example"],
            uris: [],
            issuer: "gateway-server-ca",
            key: "RSA 2048",
            uses: ["digital_signature", "key_encipherment", "server_auth"],
            validityDays: 365,
            renewAfterDays: 244,
            epoch: 0,
            goesTo: ["k8s/example/istio-system/secret-apic-mtls-ob (tls.crt, tls.key)"],
        });
        const table = (await cli("inventory", "--stack", "dev")).out.split("\n");
        assert.match(
            table[0],
            /^role +certificate +hosts \/ identity +issuer +key +validity +renew after +epoch +goes to$/,
        );
        assert.strictEqual(table.filter((l) => /^(gateway-server|apic-client) /.test(l)).length, 4);
    });

    it("shows each certificate's rotation epoch in the table and in Markdown, the epoch a revocation of it names", async () => {
        const dir = tempDir("inventory-epoch");
        const dev = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8");
        const file = path.join(dir, "Pulumi.dev.yaml");
        fs.writeFileSync(
            file,
            `${dev}\n  pki:rotation: { leafEpoch: 1, endpoints: { ob: { clientEpoch: 2, clientPhase: switch } } }\n`,
        );
        const cell = (line: string, header: string, column: string): string => {
            const at = header.indexOf(column);
            return line.slice(at, line.indexOf("  ", at)).trim();
        };
        const [header, , ...rows] = (await cli("inventory", "--config", file)).out.split("\n");
        const epochs = Object.fromEntries(
            rows.filter((l) => l !== "").map((l) => [cell(l, header, "certificate"), cell(l, header, "epoch")]),
        );
        assert.deepStrictEqual(
            [
                epochs["client-root"],
                epochs["apic-client-ca"],
                epochs["dp/client"],
                epochs["ob/server"],
                epochs["ob/client"],
            ],
            ["0", "0", "1", "1", "3"],
        );
        const markdown = (await cli("inventory", "--config", file, "--format", "markdown")).out.split("\n");
        assert.strictEqual(
            markdown[0],
            "| role | certificate | hosts / identity | issuer | key | validity | renew after | epoch | goes to |",
        );
        assert.match(
            markdown.find((l) => l.startsWith("| apic-client | ob/client |")) ?? "",
            /\| 365 d \| 244 d \| 3 \| /,
        );
        const json = JSON.parse((await cli("inventory", "--config", file, "--format", "json")).out) as {
            certificates: { id: string; epoch: number }[];
        };
        assert.strictEqual(json.certificates.find((c) => c.id === "ob/client")?.epoch, 3);
    });

    it("is exported by the stack program as the output `inventory`, with what was issued", async () => {
        const p = plan(option(1));
        const { outputs } = await runWithStandIn(() => buildPki(p).outputs, { state: sharedState });
        const planned = plannedCertificates(p);
        assert.deepStrictEqual(
            outputs.inventory.map(({ id, role, issuer, goesTo }) => ({ id, role, issuer, goesTo })),
            planned.map(({ id, role, issuer, goesTo }) => ({ id, role, issuer, goesTo })),
        );
        // The issued facts are the real certificates': the APIC client's serial and fingerprint.
        const client = outputs.inventory.find((c) => c.id === "ob/client");
        const cert = new crypto.X509Certificate(outputs.apicBundles.ob.certPem);
        assert.deepStrictEqual(
            [client?.serial, client?.sha256, client?.notAfter],
            [cert.serialNumber, cert.fingerprint256, new Date(cert.validTo).toISOString()],
        );
        assert.doesNotMatch(JSON.stringify(outputs.inventory), /PRIVATE KEY|BEGIN CERTIFICATE/);
    });

    it("refuses a bad --format with the usage and exit 2", async () => {
        const { status, err } = await cli("inventory", "--stack", "dev", "--format", "xml");
        assert.strictEqual(status, 2);
        assert.strictEqual(
            err,
            'error: --format must be one of table, markdown, json, mermaid; got "xml"\nsee apic-istio-pki inventory --help\n',
        );
    });
});

describe("diff", function () {
    this.timeout(30_000);
    const summary = (d: ReturnType<typeof diffPlans>) => ({
        added: d.added.map((c) => c.id),
        removed: d.removed.map((c) => c.id),
        replaced: d.replaced.map((c) => `${c.id}: ${c.reasons.join("; ")} => ${c.forces.join("; ")}`),
        routing: d.routing.map((r) => `${r.endpoint}: ${r.before.join(",")} -> ${r.after.join(",")}`),
    });

    it("Option 2, a service added: one new server and one new client certificate, nothing else", () => {
        const base = option(2);
        const domains = base.domains as Domains;
        const head = {
            ...base,
            domains: { ...domains, dp: { ...domains.dp, services: [...domains.dp.services, "limits-canonical"] } },
        };
        const d = diffPlans(plan(base), plan(head));
        assert.deepStrictEqual(summary(d), {
            added: ["dp-limits-canonical/server", "dp-limits-canonical/client"],
            removed: [],
            replaced: [],
            routing: [],
        });
        assert.deepStrictEqual(d.added[0].forces, [
            "new key",
            "new certificate",
            "create secret k8s/example/istio-system/secret-apic-mtls-dp-limits-canonical",
        ]);
        assert.deepStrictEqual(d.added[1].forces, ["new key", "new certificate", "create APIC keystore"]);
    });

    it("Option 2, a service removed: its two certificates go, with the secret and the APIC keystore", () => {
        const base = option(2);
        const domains = base.domains as Domains;
        const head = {
            ...base,
            domains: { ...domains, ob: { services: domains.ob.services.filter((s) => s !== "wiremock") } },
        };
        const d = diffPlans(plan(base), plan(head));
        assert.deepStrictEqual(summary(d), {
            added: [],
            removed: ["ob-wiremock/server", "ob-wiremock/client"],
            replaced: [],
            routing: [],
        });
        assert.deepStrictEqual(d.removed[0].forces, [
            "delete secret k8s/example/istio-system/secret-apic-mtls-ob-wiremock",
        ]);
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.change]),
            [["pki:domains.ob", "drops 1 host: wiremock.ob.example.api.bank.example"]],
        );
    });

    it("Option 2, services moved to a new domain under their endpoint ids: new server keys, and a risk: their Secrets already exist", () => {
        const base = option(2);
        const domains = base.domains as Domains;
        const cdr = ["ob-cdr-dh-cache", "ob-cdr-cache"];
        const head = {
            ...base,
            domains: {
                ...domains,
                ob: { services: domains.ob.services.filter((s) => !cdr.includes(s)) },
                "ob-cdr": { namespace: "ob", services: cdr },
            },
        };
        const d = diffPlans(plan(base), plan(head));
        const host = (id: string, domain: string) => `${id}.${domain}.example.api.bank.example`;
        assert.deepStrictEqual(
            summary(d).replaced,
            cdr.map(
                (id) =>
                    `${id}/server: hosts changed: ${host(id, "ob")} -> ${host(id, "ob-cdr")}; subject changed: O=Example Bank, CN=${host(id, "ob")} -> O=Example Bank, CN=${host(id, "ob-cdr")}; ` +
                    `domain changed: ob -> ob-cdr (new resource names for its key, certificate and Secret) => new key; new certificate; update secret k8s/example/istio-system/secret-apic-mtls-${id}`,
            ),
        );
        assert.deepStrictEqual(
            d.places.map((p) => [p.place, p.change, p.items]),
            cdr.map((id) => [
                `k8s/example/istio-system/secret-apic-mtls-${id}`,
                "update",
                [
                    { item: "tls.crt", change: "re-issued with a new key" },
                    { item: "tls.key", change: "new key" },
                ],
            ]),
        );
        // One risk, the move's: the hosts it drops are not added elsewhere first, as droppedHosts would advise.
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.change, r.breaks, r.instead]),
            [
                [
                    "pki:domains.ob, pki:domains.ob-cdr",
                    "moves endpoints ob-cdr-dh-cache and ob-cdr-cache from domain ob to ob-cdr under the same ids (the domain is in their hosts): " +
                        "to Pulumi their server keys, certificates and Secrets are removed from ob's gateway and added to ob-cdr's, the Secrets with the same names in the same namespace",
                    "pulumi up makes new server keys and certificates for them, then fails creating istio-system/apic-mtls-ob-cdr-dh-cache and istio-system/apic-mtls-ob-cdr-cache, " +
                        "which already exist under ob's gateway resources: the update stops half-way (the preview does not show it)",
                    "keep them in domain ob (the domain names the gateway's resources; the endpoint id names the Secret), " +
                        "or remove them from pki:domains.ob in one change (APIC's calls to their hosts fail from then on) and add them to pki:domains.ob-cdr in the next, " +
                        "then move APIC's API definitions and TLS client profiles to the new hosts",
                ],
            ],
        );
        // One endpoint moved: in the singular.
        const one = {
            ...base,
            domains: {
                ...domains,
                ob: { services: domains.ob.services.filter((s) => s !== "ob-cdr-cache") },
                "ob-cdr": { services: ["ob-cdr-cache"] },
            },
        };
        assert.deepStrictEqual(
            diffPlans(plan(base), plan(one)).risks.map((r) => [r.change, r.breaks]),
            [
                [
                    "moves endpoint ob-cdr-cache from domain ob to ob-cdr under the same id (the domain is in its host): " +
                        "to Pulumi its server key, certificate and Secret are removed from ob's gateway and added to ob-cdr's, the Secret with the same name in the same namespace",
                    "pulumi up makes a new server key and certificate for it, then fails creating istio-system/apic-mtls-ob-cdr-cache, " +
                        "which already exists under ob's gateway resources: the update stops half-way (the preview does not show it)",
                ],
            ],
        );
    });

    it("Option 3, a service moved between groups: no certificate changes, only routing", () => {
        const base = option(3);
        const domains = base.domains as Domains;
        const groups = domains.ob.groups as Record<string, string[]>;
        const head = {
            ...base,
            domains: {
                ...domains,
                ob: {
                    ...domains.ob,
                    groups: { ...groups, core: [...groups.core, "wiremock"], "test-support": undefined },
                },
            },
        };
        delete (head.domains.ob.groups as Record<string, unknown>)["test-support"];
        const d = diffPlans(plan(base), plan(head));
        assert.deepStrictEqual(summary(d), {
            added: [],
            removed: ["ob-test-support/server", "ob-test-support/client"],
            replaced: [],
            routing: [
                "ob-core: accounts,ob-payee,ob-scheduled-payments,ob-direct-debits,ob-common-customers -> accounts,ob-payee,ob-scheduled-payments,ob-direct-debits,ob-common-customers,wiremock",
            ],
        });
        const moveOnly = {
            ...base,
            domains: {
                ...domains,
                dp: {
                    ...domains.dp,
                    groups: {
                        accounts: ["accounts-canonical", "debits-canonical", "payees-canonical", "scheduled-payments"],
                        reference: ["party-canonical", "products-canonical", "transaction-canonical"],
                    },
                },
            },
        };
        const moved = diffPlans(plan(base), plan(moveOnly));
        assert.deepStrictEqual(
            summary(moved).added.length + summary(moved).removed.length + summary(moved).replaced.length,
            0,
        );
        assert.deepStrictEqual(
            moved.routing.map((r) => r.endpoint),
            ["dp-accounts", "dp-reference"],
        );
    });

    it("base domain renamed: every server certificate re-issued with the same key, client identities untouched", () => {
        const base = option(1);
        const d = diffPlans(plan(base), plan({ ...base, baseDomain: "example.apis.bank.example" }));
        assert.deepStrictEqual(summary(d).replaced, [
            "dp/server: hosts changed: dp.example.api.bank.example -> dp.example.apis.bank.example; subject changed: O=Example Bank, CN=dp.example.api.bank.example -> O=Example Bank, CN=dp.example.apis.bank.example => new certificate (same key); update secret k8s/example/istio-system/secret-apic-mtls-dp",
            "ob/server: hosts changed: ob.example.api.bank.example -> ob.example.apis.bank.example; subject changed: O=Example Bank, CN=ob.example.api.bank.example -> O=Example Bank, CN=ob.example.apis.bank.example => new certificate (same key); update secret k8s/example/istio-system/secret-apic-mtls-ob",
        ]);
        assert.strictEqual(d.added.length + d.removed.length, 0);
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.change]),
            [["pki:baseDomain", "drops 2 hosts: dp.example.api.bank.example and ob.example.api.bank.example"]],
        );
    });

    it("Option 1 -> 2: the two domain endpoints go, 24 per-service endpoints come", () => {
        const d = diffPlans(plan(option(1)), plan(option(2)));
        assert.deepStrictEqual(summary(d).removed, ["dp/server", "dp/client", "ob/server", "ob/client"]);
        assert.strictEqual(d.added.length, 48);
        assert.strictEqual(d.replaced.length, 0);
        assert.strictEqual(d.unchanged, 6, "the CAs stay");
        assert.deepStrictEqual(
            d.places.filter((p) => p.change !== "create").map((p) => `${p.change} ${p.place}`),
            [
                "delete k8s/example/istio-system/secret-apic-mtls-dp",
                "delete k8s/example/istio-system/secret-apic-mtls-ob",
                "delete APIC keystore of dp",
                "delete APIC truststore of dp",
                "delete APIC keystore of ob",
                "delete APIC truststore of ob",
            ],
        );
    });

    it("leaf key algorithm changed: every leaf gets a new key and certificate, the CAs stay", () => {
        const base = option(1);
        const d = diffPlans(plan(base), plan({ ...base, keyAlgorithm: "ECDSA" }));
        assert.deepStrictEqual(
            d.replaced.map((c) => c.id),
            ["dp/server", "dp/client", "ob/server", "ob/client"],
        );
        for (const c of d.replaced) {
            assert.match(c.reasons[0], /^key algorithm changed: RSA 2048 -> ECDSA P-256$/);
            assert.deepStrictEqual(c.forces.slice(0, 2), ["new key", "new certificate"]);
        }
        assert.strictEqual(d.unchanged, 6);
    });

    it("an issuing CA replaced: its leaves are re-issued, and APIC's truststore takes the re-issued gateway-server CA", () => {
        const base = option(1);
        const d = diffPlans(plan(base), plan({ ...base, validityDays: { root: 3650, intermediate: 730, leaf: 365 } }));
        assert.deepStrictEqual(summary(d).replaced, [
            "gateway-server-ca: validity changed: 1095 -> 730 days => new certificate (same key); update secret k8s/example/istio-system/secret-apic-mtls-dp, k8s/example/istio-system/secret-apic-mtls-ob; new APIC truststore (2 endpoints)",
            "apic-client-ca: validity changed: 1095 -> 730 days => new certificate (same key); new APIC keystore (2 endpoints)",
            "mesh-ca-example: validity changed: 1095 -> 730 days => new certificate (same key); update secret k8s/example/istio-system/secret-cacerts; istiod of example reloads cacerts; workloads get certificates of the new CA within their TTL",
            "dp/server: issuer replaced: gateway-server-ca => new certificate (same key); update secret k8s/example/istio-system/secret-apic-mtls-dp",
            "dp/client: issuer replaced: apic-client-ca => new certificate (same key); new APIC keystore",
            "ob/server: issuer replaced: gateway-server-ca => new certificate (same key); update secret k8s/example/istio-system/secret-apic-mtls-ob",
            "ob/client: issuer replaced: apic-client-ca => new certificate (same key); new APIC keystore",
        ]);
    });

    it("reads the base from a git ref, and prints Markdown for the PR comment", async () => {
        const { dir: repo, git: run } = gitRepo("git");
        fs.mkdirSync(path.join(repo, "stacks"));
        const file = path.join(repo, "stacks", "Pulumi.dev.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), file);
        run("add", ".");
        run("commit", "-qm", "base");
        fs.writeFileSync(
            file,
            fs
                .readFileSync(file, "utf8")
                .replace("- wiremock\n", "- wiremock\n        - ob-consents\n")
                .replace("pki:option: 1", "pki:option: 2"),
        );
        const { status, out } = await cli("diff", "--base", "main", "--head", file);
        assert.strictEqual(status, 0);
        assert.match(
            out,
            /^## Certificate changes: dev \(Option 1 -> Option 2\)\n\n### Risks\n\n- \*\*pki:option, pki:domains\.ob: drops 2 hosts: dp\.dev\.api\.bank\.example and ob\.dev\.api\.bank\.example\.\*\*\n[^]*\n\*\*50 added, 4 removed, 0 replaced, 6 unchanged\.\*\*\n/,
        );
        assert.match(
            out,
            /\| ob-consents\/server \| gateway-server \| ob-consents\.ob\.dev\.api\.bank\.example \| new key; new certificate; create secret k8s\/dev-east\/istio-system\/secret-apic-mtls-ob-consents \|/,
        );
        assert.strictEqual(
            (await cli("diff", "--base", "main", "--head", file, "--fail-on", "risky")).status,
            1,
            "a dropped host fails the PR check",
        );
        assert.match(out, /### Removed\n\n\| certificate \| role \| hosts \/ identity \| forces \|\n/);
        const unchanged = await cli("diff", "--base", file, "--head", file);
        assert.match(unchanged.out, /No certificate changes\./);
        const newStack = path.join(repo, "stacks", "Pulumi.sit.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.sit.yaml"), newStack);
        const fresh = await cli("diff", "--base", "main", "--head", newStack, "--format", "json");
        const created = JSON.parse(fresh.out);
        assert.deepStrictEqual([created.newStack, created.added.length, created.risks], [true, 10, []]);
        const freshMarkdown = await cli("diff", "--base", "main", "--head", newStack);
        assert.match(
            freshMarkdown.out,
            /^## Certificate changes: sit \(Option 1\)\n\n\*\*New stack: 10 certificates created\.\*\*\n\n### Created\n/,
        );
        const bad = await cli("diff", "--base", "no-such-ref", "--head", file);
        assert.strictEqual(bad.status, 2);
        assert.match(bad.err, /^error: --base no-such-ref is neither a file nor a git ref\n/);
        const outside = path.join(tempDir("no-repo"), "Pulumi.dev.yaml");
        fs.copyFileSync(file, outside);
        const noRepo = await cli("diff", "--base", "main", "--head", outside);
        assert.strictEqual(noRepo.status, 2);
        assert.ok(
            noRepo.err.startsWith(
                `error: --base main is not a file, and --head ${outside} is not in a git work tree where it could be a ref; give --base as a file\n`,
            ),
            noRepo.err,
        );
    });

    it("names the base revision's file when that is the one refused (a rule newer than the base)", async () => {
        const { dir: repo, git } = gitRepo("git-invalid-base");
        fs.mkdirSync(path.join(repo, "stacks"));
        const file = path.join(repo, "stacks", "Pulumi.dev.yaml");
        const valid = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8");
        fs.writeFileSync(file, valid.replace("pki:option: 1", "pki:option: 4"));
        git("add", ".");
        git("commit", "-qm", "a value this version refuses");
        fs.writeFileSync(file, valid);
        assert.deepStrictEqual(await cli("diff", "--base", "main", "--head", file), {
            status: 1,
            out: "",
            err: "invalid stack configuration in --base main (stacks/Pulumi.dev.yaml at that revision):\n  - pki:option must be 1, 2 or 3; got 4\n",
        });
    });

    it("refuses a stack file reached through a symbolic link at either revision, or a base both a file and a ref", async () => {
        const { dir: repo, git } = gitRepo("git-link");
        fs.mkdirSync(path.join(repo, "stacks"));
        const file = path.join(repo, "stacks", "Pulumi.dev.yaml");
        const epoch = (n: number) =>
            `${fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8")}  pki:rotation: { leafEpoch: ${n} }\n`;
        fs.writeFileSync(file, epoch(3));
        git("add", ".");
        git("commit", "-qm", "epoch 3");
        const diff = (base: string) => cli("diff", "--base", base, "--head", file, "--fail-on", "risky");
        fs.writeFileSync(file, epoch(1));
        assert.strictEqual((await diff("main")).status, 1, "a lowered epoch is refused");

        // The lowered epoch moved behind a link: before, the diff read the link's target at the base
        // (absent there) and reported a new stack, exit 0.
        fs.mkdirSync(path.join(repo, "shared"));
        fs.renameSync(file, path.join(repo, "shared", "dev.yaml"));
        fs.symlinkSync("../shared/dev.yaml", file);
        const linkMessage = `error: --head ${path.relative(process.cwd(), file)} is reached through a symbolic link; a stack file must be a regular file of the repository, so that every change to it shows in the pull request: replace the link by the file\n`;
        assert.deepStrictEqual(await diff("main"), { status: 1, out: "", err: linkMessage });
        // The same through a linked folder.
        fs.rmSync(file);
        fs.renameSync(path.join(repo, "stacks"), path.join(repo, "stacks-real"));
        fs.renameSync(path.join(repo, "shared", "dev.yaml"), path.join(repo, "stacks-real", "Pulumi.dev.yaml"));
        fs.symlinkSync("stacks-real", path.join(repo, "stacks"));
        assert.deepStrictEqual(await diff("main"), { status: 1, out: "", err: linkMessage });

        // A base where the stack file was a link.
        git("add", "-A");
        git("commit", "-qm", "stacks linked");
        const linked = git("rev-parse", "HEAD");
        fs.rmSync(path.join(repo, "stacks"));
        fs.renameSync(path.join(repo, "stacks-real"), path.join(repo, "stacks"));
        assert.deepStrictEqual(await diff(linked), {
            status: 1,
            out: "",
            err: `error: ${linked}:stacks is a symbolic link; the diff compares stack files that are regular files of the repository at both revisions: compare against a revision where stacks/Pulumi.dev.yaml is the file itself\n`,
        });
        assert.strictEqual((await diff("main")).status, 1, "the file itself again: the lowered epoch is refused");

        // A file named after the base commit (as a pull request could add) would stand in for it.
        const baseCommit = git("rev-parse", "main");
        fs.copyFileSync(file, path.join(repo, baseCommit));
        const inRepo = (base: string) =>
            spawnSync(
                process.execPath,
                [
                    path.join(ROOT, "dist/lib/cli/main.js"),
                    "diff",
                    "--base",
                    base,
                    "--head",
                    "stacks/Pulumi.dev.yaml",
                    "--fail-on",
                    "risky",
                ],
                { cwd: repo, encoding: "utf8" },
            );
        const ambiguous = inRepo(baseCommit);
        assert.deepStrictEqual(
            [ambiguous.status, ambiguous.stdout, ambiguous.stderr.split("\n")[0]],
            [
                2,
                "",
                `error: --base ${baseCommit} is both a file and a git ref; give the file as ./${baseCommit} or the ref as ${baseCommit}^{commit}`,
            ],
        );
        assert.strictEqual(inRepo(`${baseCommit}^{commit}`).status, 1, "the ref: the lowered epoch is refused");
        assert.strictEqual(inRepo(`./${baseCommit}`).status, 0, "the file: the same stack, no change");
    });
});

describe("expiry", function () {
    this.timeout(30_000);

    async function certFile(dir: string, name: string, validityHours: number): Promise<string> {
        const key = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const cert = tlsProvider.selfSignedCert({
            privateKeyPem: key.state.privateKeyPem,
            subject: { commonName: name },
            allowedUses: [],
            validityPeriodHours: validityHours,
        });
        const file = path.join(dir, `${name}.pem`);
        fs.writeFileSync(file, cert.state.certPem as string);
        return file;
    }

    it("exits 0 when every certificate lies outside the window, 1 when one is inside, and says which", async () => {
        const dir = tempDir("expiry");
        const later = await certFile(dir, "later", 24 * 90);
        const soon = await certFile(dir, "soon", 24 * 10);
        const ok = await cli("expiry", "--pem", later, "--warn-days", "30");
        assert.strictEqual(ok.status, 0);
        assert.match(ok.out, /^ok +89 +/m);
        assert.match(ok.out, /\n1 certificates and 0 CRLs: none due \(within 30 days; /);
        const warn = await cli("expiry", "--pem", later, "--pem", soon);
        assert.strictEqual(warn.status, 1);
        assert.match(warn.out, /^renew soon +9 +\S+ +\S+ +CN=soon/m);
        assert.match(warn.out, /\n1 of 2 certificates and 0 of 0 CRLs due: CN=soon \(renew soon\)\n$/);
        assert.strictEqual((await cli("expiry", "--pem", soon, "--warn-days", "5")).status, 0);
        const expired = await certFile(dir, "expired", 0);
        const gone = await cli("expiry", "--pem", expired);
        assert.strictEqual(gone.status, 1);
        assert.match(gone.out, /^expired /m);
    });

    it("marks a certificate past its renewal point as renew due, without failing before the warning window", async () => {
        const dir = tempDir("renew-due");
        const key = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const issued = new Date(Date.now() - 100 * 86_400_000);
        const cert = tlsProvider.selfSignedCert(
            {
                privateKeyPem: key.state.privateKeyPem,
                subject: { commonName: "aging" },
                allowedUses: [],
                validityPeriodHours: 120 * 24,
            },
            { now: () => issued },
        );
        const file = path.join(dir, "aging.pem");
        fs.writeFileSync(file, cert.state.certPem as string);
        const { status, out } = await cli("expiry", "--pem", file, "--warn-days", "10");
        assert.strictEqual(status, 0);
        const renewAt = new Date(Math.floor(issued.getTime() / 1000) * 1000 + 80 * 86_400_000).toISOString();
        assert.match(out, new RegExp(`^renew due +19 +\\S+ +${renewAt.replace(/\./g, "\\.")} +CN=aging`, "m"));
    });

    it("reads every certificate of a render folder once, secrets included", async () => {
        const rendered = await renderStackFile(OPTION_FILES[1]);
        const { status, out } = await cli("expiry", "--dir", rendered.dir);
        assert.strictEqual(status, 0);
        assert.match(out, /^10 certificates and 0 CRLs: none due /m);
        assert.strictEqual((await cli("expiry", "--dir", rendered.dir, "--warn-days", "400")).status, 1);
        const usage = await cli("expiry");
        assert.strictEqual(usage.status, 2);
        assert.strictEqual(usage.err, "error: give either --dir or --pem\nsee apic-istio-pki expiry --help\n");
    });
});
