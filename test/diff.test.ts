import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CertDiff, diffPlans } from "../lib/inventory/diff";
import { planFromRawConfig } from "../lib/plan/plan";
import { cli, loadStackFileValues, OPTION_FILES, ROOT, tempDir } from "./helpers";

const DEV = "stacks/Pulumi.dev.yaml";
const dev = loadStackFileValues(DEV);
const plan = (raw: Record<string, unknown>) => planFromRawConfig(raw);
const at = (slot: string, generation: number, phase: string, raw = dev) => ({
    ...raw,
    caRotation: { [slot]: { generation, phase } },
});
/** Each changed secret or bundle as "<change> <place>: <what changes>". */
const places = (d: CertDiff) =>
    d.places.map((p) => `${p.change} ${p.place}: ${p.items.map((i) => `${i.item}: ${i.change}`).join("; ")}`);
const GATEWAY_SECRETS = ["dp", "ob"].map((id) => `k8s/dev-east/istio-system/secret-apic-mtls-${id}`);

/** A copy of a stack file with one line replaced, next to the real ones (so Pulumi.yaml is found). */
function stackVariant(dir: string, name: string, from: string, to: string): string {
    const text = fs.readFileSync(path.join(ROOT, DEV), "utf8");
    assert.ok(text.includes(from), `${DEV} holds ${from}`);
    fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    const file = path.join(dir, "stacks", `Pulumi.${name}.yaml`);
    fs.writeFileSync(file, text.replace(from, to));
    return file;
}

describe("diff of a staged CA rotation", function () {
    this.timeout(30_000);

    it("APIC-client CA, prepare: the new CA is created and no secret or APIC bundle changes", () => {
        const d = diffPlans(plan(dev), plan(at("apicClientCa", 1, "prepare")));
        assert.deepStrictEqual(
            d.added.map((c) => [c.id, c.forces]),
            [["apic-client-ca-g1", ["new key", "new certificate"]]],
        );
        assert.deepStrictEqual([d.places, d.pins, d.risks, d.refused], [[], [], [], []]);
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "Then, in a later change, the next phase: pki:caRotation.apicClientCa: { generation: 1, phase: switch }.",
            ],
        });
    });

    it("APIC-client CA, switch: every APIC keystore gets a new key and the new chain, the gateway pins old and new keys", () => {
        const d = diffPlans(plan(at("apicClientCa", 1, "prepare")), plan(at("apicClientCa", 1, "switch")));
        assert.deepStrictEqual(places(d), [
            "update APIC keystore of dp: client.crt: re-issued with a new key; client.key: new key; ca-chain.pem: apic-client-ca -> apic-client-ca-g1",
            "update APIC keystore of ob: client.crt: re-issued with a new key; client.key: new key; ca-chain.pem: apic-client-ca -> apic-client-ca-g1",
        ]);
        assert.deepStrictEqual(d.pins, [
            { endpoint: "dp", before: ["key of epoch 0"], after: ["key of epoch 1", "key of epoch 0"] },
            { endpoint: "ob", before: ["key of epoch 0"], after: ["key of epoch 1", "key of epoch 0"] },
        ]);
        assert.deepStrictEqual(d.steps.after, [
            "Upload the APIC keystore of dp and ob (apic keystores:update, same name); the gateway accepts the old and the new key until the rotation finishes.",
            "Then, in a later change, the next phase: pki:caRotation.apicClientCa: { generation: 1, phase: finish }.",
        ]);
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
    });

    it("APIC-client CA, finish: every gateway secret gains ca.crl, the client root's CRL revoking the old CA, and the old keys are unpinned", () => {
        const d = diffPlans(plan(at("apicClientCa", 1, "switch")), plan(at("apicClientCa", 1, "finish")));
        assert.deepStrictEqual(
            places(d),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: new: CRL of apic-client-ca-g1, CRL of client-root (revokes apic-client-ca, retired)`,
            ),
        );
        assert.deepStrictEqual(
            d.removed.map((c) => [c.id, c.forces]),
            [["apic-client-ca", []]],
            "the old CA was in no bundle since the switch",
        );
        assert.deepStrictEqual(d.steps, {
            before: [
                "Check that APIC uses the newest keystore of dp and ob: the older keys stop working with this update.",
            ],
            after: [
                "From now on CRLs must be re-published at least every 7 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
            ],
        });
    });

    it("a root's prepare and finish update every gateway secret's ca.crt, never creating or deleting one", () => {
        const prepare = diffPlans(plan(dev), plan(at("clientRoot", 1, "prepare")));
        assert.deepStrictEqual(
            places(prepare),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crt: + client-root-g1`),
        );
        assert.deepStrictEqual(prepare.added[0].forces, [
            "new key",
            "new certificate",
            `update secret ${GATEWAY_SECRETS.join(", ")}`,
        ]);
        const switched = diffPlans(plan(at("clientRoot", 1, "prepare")), plan(at("clientRoot", 1, "switch")));
        assert.deepStrictEqual(places(switched).slice(0, 2), [
            ...GATEWAY_SECRETS.map((s) => `update ${s}: ca.crt: now client-root-g1, client-root (the first is in use)`),
        ]);
        const finish = diffPlans(plan(at("clientRoot", 1, "switch")), plan(at("clientRoot", 1, "finish")));
        assert.deepStrictEqual(
            places(finish),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crt: - client-root`),
        );
        assert.deepStrictEqual(
            finish.removed.map((c) => [c.id, c.forces]),
            [
                ["client-root", [`update secret ${GATEWAY_SECRETS.join(", ")}`]],
                ["apic-client-ca", []],
            ],
        );
    });

    it("gateway-server CA: the switch re-keys every server certificate with the new chain, the finish publishes truststore.crl", () => {
        const switched = diffPlans(plan(at("gatewayServerCa", 1, "prepare")), plan(at("gatewayServerCa", 1, "switch")));
        assert.deepStrictEqual(
            places(switched),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: tls.crt: gateway-server-ca -> gateway-server-ca-g1; re-issued with a new key; tls.key: new key`,
            ),
        );
        const finish = diffPlans(plan(at("gatewayServerCa", 1, "switch")), plan(at("gatewayServerCa", 1, "finish")));
        assert.deepStrictEqual(
            places(finish),
            ["dp", "ob"].map(
                (id) =>
                    `update APIC truststore of ${id}: truststore.crl: new: CRL of gateway-server-ca-g1, CRL of server-root (revokes gateway-server-ca, retired)`,
            ),
        );
        assert.match(finish.steps.after[0], /^Give the TLS client profiles of dp and ob the new truststore\.crl/);
    });

    it("mesh root: ISTIO_MULTIROOT_MESH before the prepare, renewed workloads before the finish, cacerts updated each time", () => {
        const prepare = diffPlans(plan(dev), plan(at("meshRoot", 1, "prepare")));
        assert.deepStrictEqual(places(prepare), [
            "update k8s/dev-east/istio-system/secret-cacerts: root-cert.pem: + mesh-root-g1",
        ]);
        assert.match(prepare.steps.before[0], /^Set ISTIO_MULTIROOT_MESH=true on istiod/);
        const switched = diffPlans(plan(at("meshRoot", 1, "prepare")), plan(at("meshRoot", 1, "switch")));
        assert.deepStrictEqual(places(switched), [
            "update k8s/dev-east/istio-system/secret-cacerts: ca-cert.pem: mesh-ca-dev-east -> mesh-ca-dev-east-g1; ca-key.pem: key of mesh-ca-dev-east -> key of mesh-ca-dev-east-g1; " +
                "cert-chain.pem: + mesh-ca-dev-east-g1, mesh-root-g1; - mesh-ca-dev-east, mesh-root; root-cert.pem: now mesh-root-g1, mesh-root (the first is in use)",
        ]);
        const finish = diffPlans(plan(at("meshRoot", 1, "switch")), plan(at("meshRoot", 1, "finish")));
        assert.match(finish.steps.before[0], /^Check that every workload was restarted or renewed since the switch/);
        assert.deepStrictEqual(places(finish), [
            "update k8s/dev-east/istio-system/secret-cacerts: root-cert.pem: - mesh-root",
        ]);
    });

    it("a skipped or reversed phase and a lowered generation are refused (exit 1), with the phase that comes next", async () => {
        const skip = diffPlans(plan(dev), plan(at("apicClientCa", 1, "switch")));
        assert.match(
            skip.caRotation[0].refused ?? "",
            /jumps from generation 0 phase finish \(deployed\) to generation 1 phase switch/,
        );
        const back = diffPlans(plan(at("apicClientCa", 2, "prepare")), plan(at("apicClientCa", 1, "finish")));
        assert.match(
            back.caRotation[0].refused ?? "",
            /goes back from generation 2 phase prepare \(deployed\) to generation 1 phase finish; phases only go forward/,
        );
        const dir = tempDir("diff-skip");
        const base = stackVariant(
            dir,
            "base",
            "  pki:domains:",
            "  pki:caRotation: { apicClientCa: { generation: 2, phase: prepare } }\n  pki:domains:",
        );
        const head = stackVariant(
            dir,
            "head",
            "  pki:domains:",
            "  pki:caRotation: { apicClientCa: { generation: 1, phase: finish } }\n  pki:domains:",
        );
        const { status, out } = await cli("diff", "--base", base, "--head", head);
        assert.strictEqual(status, 1);
        assert.match(
            out,
            /^## Certificate changes: dev \(Option 1\)\n\n### Refused\n\n- \*\*CA rotation, pki:caRotation\.apicClientCa: generation 2 phase prepare -> generation 1 phase finish\.\*\* Refused: /,
        );
    });
});

describe("diff of a revocation", function () {
    this.timeout(30_000);
    const revocation = {
        endpoint: "ob",
        serial: "F1D1E59E376EF775D55D309E3292F63C",
        epoch: 0,
        reason: "keyCompromise",
        revokedAt: "2026-01-20T09:30:00Z",
    };
    const revoked = { ...dev, revocations: [revocation] };

    it("adds ca.crl listing the serial to every gateway secret, re-issues the endpoint's client and unpins its key", () => {
        const d = diffPlans(plan(dev), plan(revoked));
        assert.deepStrictEqual(places(d), [
            ...GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: new: CRL of apic-client-ca (revokes serial F1D1E59E376EF775D55D309E3292F63C of ob), CRL of client-root`,
            ),
            "update APIC keystore of ob: client.crt: re-issued with a new key; client.key: new key",
        ]);
        assert.deepStrictEqual(d.revocations, [
            { change: "added", ...revocation, host: "ob.dev.api.bank.example", clientEpoch: { before: 0, after: 1 } },
        ]);
        assert.deepStrictEqual(d.pins, [{ endpoint: "ob", before: ["key of epoch 0"], after: ["key of epoch 1"] }]);
        assert.deepStrictEqual(d.steps.after, [
            "Upload the APIC keystore of ob (apic keystores:update, same name); at once for ob: APIC's calls to ob.dev.api.bank.example fail until then.",
            "From now on CRLs must be re-published at least every 7 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
        ]);
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
        const second = { ...revocation, endpoint: "dp", serial: "0A1B" };
        const more = diffPlans(plan(revoked), plan({ ...dev, revocations: [revocation, second] }));
        assert.deepStrictEqual(
            places(more).slice(0, 2),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crl: CRL of apic-client-ca revokes serial 0A1B of dp`),
        );
    });

    it("refuses removing it while that would take the client's epoch back, naming the way to drop it", () => {
        const d = diffPlans(plan(revoked), plan(dev));
        assert.deepStrictEqual(d.refused, [
            {
                key: "pki:revocations",
                problem:
                    'removing the revocation of serial F1D1E59E376EF775D55D309E3292F63C (endpoint "ob") takes its APIC client back from epoch 1 to 0: ' +
                    "a new key would replace the one APIC holds, with no overlap. Keep the entry until the certificate would have expired; to drop it, set pki:rotation.endpoints.ob.clientEpoch to 1 in the same change",
            },
        ]);
        const kept = diffPlans(plan(revoked), plan({ ...dev, rotation: { endpoints: { ob: { clientEpoch: 1 } } } }));
        assert.deepStrictEqual(kept.refused, []);
        assert.deepStrictEqual(
            kept.revocations.map((r) => [r.change, r.serial]),
            [["removed", revocation.serial]],
        );
    });
});

describe("diff risks", function () {
    this.timeout(30_000);

    it("renaming pki:organization re-issues every root and CA at once: the risk comes first, with what breaks and why no staged rotation avoids it", async () => {
        const d = diffPlans(plan(dev), plan({ ...dev, organization: "Example Bank plc" }));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:organization",
                change: "re-issues 3 roots (mesh-root, server-root, client-root) and 3 issuing CAs (gateway-server-ca, apic-client-ca, mesh-ca-dev-east) at once, outside a staged rotation (pki:caRotation), and with them 4 leaf certificates",
                breaks:
                    "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate; " +
                    "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded; " +
                    "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded",
                instead:
                    "pki:organization: no staged rotation avoids it, since every generation's subject carries the organization: keep the current value, or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore and restart the mesh workloads)",
            },
        ]);
        assert.strictEqual(d.replaced.length, 10);
        const dir = tempDir("diff-org");
        const head = stackVariant(dir, "dev", "pki:organization: Example Bank", "pki:organization: Example Bank plc");
        const plain = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head);
        assert.strictEqual(plain.status, 0, "a risk alone passes");
        assert.match(
            plain.out,
            /^## Certificate changes: dev \(Option 1\)\n\n### Risks\n\n- \*\*pki:organization: re-issues 3 roots/,
        );
        const check = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head, "--fail-on", "risky");
        assert.deepStrictEqual(
            [check.status, check.out],
            [1, plain.out],
            "the PR check fails on it, with the same report",
        );
    });

    it("a CA's validity changed is a re-issue outside a staged rotation that breaks nothing at once, and says so", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, validityDays: { root: 3650, intermediate: 730, leaf: 365 } }));
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.change, r.breaks.slice(0, 55)]),
            [
                [
                    "pki:validityDays",
                    "re-issues 3 issuing CAs (gateway-server-ca, apic-client-ca, mesh-ca-dev-east) at once, outside a staged rotation (pki:caRotation), and with them 4 leaf certificates",
                    "nothing at once, since peers trust the root, which stay",
                ],
            ],
        );
    });

    it("changing trust domains, dropping a cluster, and replacing more than --max-replaced certificates are risks", () => {
        const shared = diffPlans(plan(dev), plan({ ...dev, trustDomains: "shared" }));
        assert.deepStrictEqual(
            shared.risks.map((r) => [r.key, r.breaks.slice(0, 38)]),
            [["pki:trustDomains", "every trust anchor changes at once: th"]],
        );
        const two = {
            ...dev,
            clusters: [
                { name: "dev-east", context: "east" },
                { name: "dev-west", context: "west" },
            ],
        };
        const one = { ...dev, clusters: [{ name: "dev-east", context: "east" }] };
        assert.deepStrictEqual(diffPlans(plan(one), plan(two)).risks, [], "a cluster added is no risk");
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(one)).risks.map((r) => [r.key, r.change]),
            [["pki:clusters", "removes 1 cluster dev-west: its mesh CA and istiod's cacerts secret are deleted"]],
        );
        const option2 = loadStackFileValues(OPTION_FILES[2]);
        const renewed = { ...option2, rotation: { leafEpoch: 1, apicClientPhase: "switch" } };
        const many = diffPlans(plan(option2), plan(renewed));
        assert.deepStrictEqual(
            many.risks.map((r) => [r.key, r.change]),
            [["pki:rotation", "replaces 48 certificates in one update (more than 10)"]],
        );
        assert.deepStrictEqual(diffPlans(plan(option2), plan(renewed), { maxReplaced: 48 }).risks, []);
    });

    it("an epoch that goes down is refused with the reason: epochs only go up", () => {
        const d = diffPlans(plan({ ...dev, rotation: { leafEpoch: 2 } }), plan({ ...dev, rotation: { leafEpoch: 1 } }));
        assert.deepStrictEqual(d.refused, [
            {
                key: "pki:rotation.leafEpoch",
                problem:
                    "goes down from 2 to 1; epochs only go up: an epoch names the keys it made (<name>-r<epoch>) and the APIC certificates on record, " +
                    "so going back would make a new key under a name already used and pin the wrong history at the gateway, and never brings the old key back. Keep 2, or raise it to 3 to rotate again",
            },
        ]);
        const dropped = diffPlans(plan({ ...dev, rotation: { endpoints: { ob: { serverEpoch: 1 } } } }), plan(dev));
        assert.deepStrictEqual(
            dropped.refused.map((r) => r.key),
            ["pki:rotation.endpoints.ob.serverEpoch"],
        );
    });
});

describe("diff exit status", function () {
    this.timeout(30_000);

    it("is 0 clean, 1 refused or invalid, and 2 for wrong usage, with the usage text", async () => {
        const dir = tempDir("diff-exit");
        const same = path.join(ROOT, DEV);
        assert.strictEqual((await cli("diff", "--base", same, "--head", same, "--fail-on", "risky")).status, 0);
        const lowered = stackVariant(
            dir,
            "lowered",
            "  pki:domains:",
            "  pki:rotation: { leafEpoch: 1 }\n  pki:domains:",
        );
        const raised = stackVariant(
            dir,
            "raised",
            "  pki:domains:",
            "  pki:rotation: { leafEpoch: 2, apicClientPhase: switch }\n  pki:domains:",
        );
        const refused = await cli("diff", "--base", raised, "--head", lowered, "--format", "json");
        assert.strictEqual(refused.status, 1);
        assert.deepStrictEqual(
            (JSON.parse(refused.out) as CertDiff).refused.map((r) => r.key),
            ["pki:rotation.leafEpoch"],
            "the JSON still comes out, so that a PR comment can show the refusal",
        );
        const invalid = stackVariant(dir, "invalid", "pki:option: 1", "pki:option: 4");
        const bad = await cli("diff", "--base", same, "--head", invalid);
        assert.deepStrictEqual([bad.status, bad.out], [1, ""]);
        assert.match(bad.err, /pki:option must be 1, 2 or 3/);
        for (const [args, message] of [
            [["--fail-on", "warnings"], 'error: --fail-on must be one of refused, risky; got "warnings"'],
            [["--max-replaced", "ten"], 'error: --max-replaced must be a whole number of certificates; got "ten"'],
            [["--format", "html"], 'error: --format must be one of markdown, json; got "html"'],
        ]) {
            const usage = await cli("diff", "--base", same, "--head", same, ...args);
            assert.strictEqual(usage.status, 2);
            assert.ok(usage.err.startsWith(`${message}\n\nusage: diff --base`), usage.err);
        }
    });
});

describe("README, Reviewing certificate changes", function () {
    this.timeout(30_000);

    it("shows the real output of the diff it describes (pki:organization renamed on the dev stack)", async () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const example = /<!-- diff-example: (.*?) -->\n([^]*?)\n<!-- \/diff-example -->/.exec(readme);
        assert.ok(example, "README has a diff example between <!-- diff-example --> markers");
        const [from, to] = JSON.parse(`[${example[1]}]`) as [string, string];
        const head = stackVariant(tempDir("readme-diff"), "dev", from, to);
        const { out } = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head);
        // In the README the report sits two heading levels down.
        assert.strictEqual(example[2], out.replace(/^(#+) /gm, "$1## ").trimEnd());
        assert.ok(YAML.parse(fs.readFileSync(head, "utf8")), "the example's stack file is valid YAML");
    });
});
