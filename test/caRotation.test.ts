/**
 * Staged CA rotation (pki:caRotation): every phase of every CA is deployed in order on one engine
 * state, as successive `pulumi up`s would, and checked with real handshakes against what each
 * phase rendered: the gateway (ca.crt, ca.crl, pin), APIC (truststore and its CRLs) and sidecars
 * (root-cert.pem, ca-crl.pem).
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { EngineStandIn, EngineState, saveStackOutputs } from "../lib/engine/standIn";
import { diffPlans } from "../lib/inventory/diff";
import { pemBlocks as pemBlocksOf } from "../lib/engine/der";
import { parseCrl } from "../lib/pki/crl";
import { INITIAL_RECORD, RotationRecord } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import {
    apicCredentials,
    cacerts,
    cli,
    gatewayServerConfig,
    handshake,
    pemBlocks,
    renderNext,
    Rendered,
    sidecars,
    tempDir,
    workload,
    writeTemp,
} from "./helpers";
import * as crypto from "crypto";
import * as path from "path";
import * as YAML from "yaml";

const BASE = {
    environment: "rot",
    option: 1,
    baseDomain: "rot.api.bank.example",
    domains: { ob: { services: ["accounts", "ob-payee"] }, dp: { services: ["party-canonical"] } },
    clusters: ["east"],
    keyAlgorithm: "ECDSA",
};

type Slot = "root" | "gatewayServerCa" | "apicClientCa" | "meshCa";
const at = (slot: Slot, generation: number, phase: string) => ({
    ...BASE,
    caRotation: { [slot]: { generation, phase } },
});

/** Generation 0 of a base config, deployed once per run; each rotation starts from a copy of its state. */
const firstDeployments = new Map<string, Promise<{ rendered: Rendered; state: EngineState }>>();
function deployedG0(base: Record<string, unknown>): Promise<{ rendered: Rendered; state: EngineState }> {
    const key = JSON.stringify(base);
    let first = firstDeployments.get(key);
    if (first === undefined) {
        const state: EngineState = new Map();
        first = renderNext(base, "g0", state).then((rendered) => ({ rendered, state }));
        firstDeployments.set(key, first);
    }
    return first;
}

/** Generation 0, then prepare, switch and finish of one CA, each deployed on the state the previous left. */
async function rotate(slot: Slot, base: Record<string, unknown> = BASE): Promise<Record<string, Rendered>> {
    const first = await deployedG0(base);
    const state: EngineState = new Map(first.state);
    const phases: Record<string, Rendered> = { g0: first.rendered };
    for (const phase of ["prepare", "switch", "finish"]) {
        phases[phase] = await renderNext({ ...at(slot, 1, phase), ...pick(base) }, `${slot}-${phase}`, state);
    }
    return phases;
}

/** The base keys that differ from BASE (e.g. caKeyAlgorithm), kept in every phase. */
const pick = (base: Record<string, unknown>) => (base === BASE ? {} : { caKeyAlgorithm: base.caKeyAlgorithm });

const crls = (bundle: string): string[] => pemBlocksOf(bundle, "X509 CRL");
const subjectOf = (pem: string): string => new crypto.X509Certificate(pem).subject.replace(/\n/g, ", ");
const issuerOf = (pem: string): string => new crypto.X509Certificate(pem).issuer.replace(/\n/g, ", ");

/** The APIC client of `client`'s phase calling the gateway of `gateway`'s phase, on endpoint "ob". */
function call(gateway: Rendered, client: Rendered) {
    return handshake(gatewayServerConfig(gateway, "ob"), apicCredentials(client, "ob"));
}

/** The gateway serving `server`'s certificate with `gateway`'s trust, called by `client`'s APIC material. */
function callServedBy(server: Rendered, gateway: Rendered, client: Rendered) {
    const served = gatewayServerConfig(server, "ob");
    return handshake(
        { ...gatewayServerConfig(gateway, "ob"), tlsCrt: served.tlsCrt, tlsKey: served.tlsKey },
        apicCredentials(client, "ob"),
    );
}

type Workload = Awaited<ReturnType<typeof workload>>;

/** Two sidecars, each with its own certificate and root-cert.pem, accept each other in both directions. */
async function interoperate(a: { workload: Workload; trust: string }, b: { workload: Workload; trust: string }) {
    for (const [server, client] of [
        [a, b],
        [b, a],
    ]) {
        const result = await sidecars(server.workload, client.workload, { server: server.trust, client: client.trust });
        assert.deepStrictEqual(
            [result.accepted, result.clientAuthorized],
            [true, true],
            result.reason + result.clientError,
        );
    }
}

/** The root certificates of a bundle, by subject. */
const bundleRoots = (pem: string): string[] =>
    pemBlocks(pem)
        .map(subjectOf)
        .filter((s) => s.includes("root CA"));

describe("Staged rotation of the APIC-client CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("apicClientCa");
    });

    it("prepare: the gateway trusts old and new CA; APIC keeps its old certificate", async () => {
        const caCrt = gatewayServerConfig(p.prepare, "ob").caCrt;
        assert.deepStrictEqual(pemBlocks(caCrt).map(subjectOf), [
            "CN=rot APIC client CA",
            "CN=rot APIC client CA G1",
            "CN=rot API platform root CA",
        ]);
        assert.strictEqual(p.prepare.read("apic/ob/client.crt"), p.g0.read("apic/ob/client.crt"));
        // The inventory says where the new CA goes: only into ca.crt, in no chain yet.
        assert.deepStrictEqual(p.prepare.inventory.find((c) => c.id === "apic-client-ca-g1")?.goesTo, [
            "k8s/east/istio-system/secret-apic-mtls-dp (ca.crt)",
            "k8s/east/istio-system/secret-apic-mtls-ob (ca.crt)",
        ]);
        for (const client of [p.g0, p.switch]) {
            const result = await call(p.prepare, client);
            assert.deepStrictEqual([result.accepted, result.reason], [true, ""]);
        }
    });

    it("switch: APIC gets a new key and a certificate of the new CA; both clients are accepted", async () => {
        const cert = p.switch.read("apic/ob/client.crt");
        assert.strictEqual(issuerOf(cert), "CN=rot APIC client CA G1");
        assert.notStrictEqual(p.switch.read("apic/ob/client.key"), p.prepare.read("apic/ob/client.key"));
        for (const client of [p.prepare, p.switch]) {
            const result = await call(p.switch, client);
            assert.deepStrictEqual([result.accepted, result.reason], [true, ""]);
        }
    });

    it("finish: the old CA leaves ca.crt, is revoked in the root's CRL, and its client is rejected", async () => {
        const config = gatewayServerConfig(p.finish, "ob");
        assert.deepStrictEqual(pemBlocks(config.caCrt).map(subjectOf), [
            "CN=rot APIC client CA G1",
            "CN=rot API platform root CA",
        ]);
        const oldCa = p.g0.inventory.find((c) => c.id === "apic-client-ca");
        const rootCrl = crls(config.caCrl ?? "").find((crl) => parseCrl(crl).revokedSerials.length > 0);
        assert.deepStrictEqual(parseCrl(rootCrl ?? "").revokedSerials, [oldCa?.serial]);
        assert.strictEqual(p.finish.read("apic/ob/client.crt"), p.switch.read("apic/ob/client.crt"));
        const current = await call(p.finish, p.finish);
        assert.deepStrictEqual([current.accepted, current.reason], [true, ""]);
        const old = await call(p.finish, p.prepare);
        assert.deepStrictEqual([old.accepted, old.reason], [false, "CERT_REVOKED"]);
        // The control: the same old client against finish's ca.crt without the CRL would pass,
        // so it is the root's CRL that shuts the old CA out (the root is still the anchor).
        const withoutCrl = await handshake({ ...config, caCrl: undefined }, apicCredentials(p.prepare, "ob"));
        assert.strictEqual(withoutCrl.accepted, true);
        assert.ok(!p.finish.inventory.some((c) => c.id === "apic-client-ca"), "the old CA is gone");
    });

    it("prepare changes only the new CA and the gateway secrets' ca.crt", async () => {
        const g0 = new Set(p.g0.engine.resources.map((r) => `${r.type} ${r.name}`));
        const added = p.prepare.engine.resources.map((r) => `${r.type} ${r.name}`).filter((r) => !g0.has(r));
        assert.deepStrictEqual(added.sort(), [
            "apic-istio-pki:index:IntermediateCa apic-client-ca-g1",
            "tls:index/certRequest:CertRequest apic-client-ca-g1-csr",
            "tls:index/locallySignedCert:LocallySignedCert apic-client-ca-g1-cert",
            "tls:index/privateKey:PrivateKey apic-client-ca-g1-key",
        ]);
        const inputs = (r: Rendered) =>
            new Map(r.engine.resources.map((x) => [`${x.type} ${x.name}`, JSON.stringify(x.inputs)]));
        const before = inputs(p.g0);
        const changed = [...inputs(p.prepare)].filter(([k, v]) => before.has(k) && before.get(k) !== v).map(([k]) => k);
        assert.deepStrictEqual(changed.sort(), [
            "kubernetes:core/v1:Secret dp-gateway-dp-tls",
            "kubernetes:core/v1:Secret ob-gateway-ob-tls",
        ]);
    });

    it("the diff names each phase, and the switch shows the client certificates re-issued by the new CA", () => {
        const prepare = diffPlans(p.g0.plan, p.prepare.plan);
        assert.deepStrictEqual(prepare.caRotation, [
            {
                slot: "apicClientCa",
                from: "generation 0 phase finish",
                to: "generation 1 phase prepare",
                effect: "prepare: new generation 1 created and added to the gateway's ca.crt; nothing is issued by it yet",
            },
        ]);
        assert.deepStrictEqual(
            prepare.added.map((c) => c.id),
            ["apic-client-ca-g1"],
        );
        const change = diffPlans(p.prepare.plan, p.switch.plan);
        assert.strictEqual(
            change.caRotation[0].effect,
            "switch: every APIC client certificate (upload the new keystores) re-issued by generation 1; generation 0 still trusted",
        );
        assert.deepStrictEqual(
            change.replaced.map((c) => [c.id, c.reasons.join("; ")]),
            [
                ["dp/client", "rotation forced: epoch 0 -> 1; issuer changed: apic-client-ca -> apic-client-ca-g1"],
                ["ob/client", "rotation forced: epoch 0 -> 1; issuer changed: apic-client-ca -> apic-client-ca-g1"],
            ],
        );
        const finish = diffPlans(p.switch.plan, p.finish.plan);
        assert.deepStrictEqual(
            finish.removed.map((c) => c.id),
            ["apic-client-ca"],
        );
        assert.match(
            finish.caRotation[0].effect,
            /^finish: generation 0 removed from every bundle and deleted; revoked in the root's CRL/,
        );
    });
});

describe("Staged rotation of the gateway-server CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("gatewayServerCa");
    });

    it("prepare and switch: APIC's truststore holds both CAs, so old and new server certificates pass", async () => {
        assert.deepStrictEqual(pemBlocks(p.prepare.read("apic/ob/truststore.pem")).map(subjectOf), [
            "CN=rot gateway server CA",
            "CN=rot gateway server CA G1",
            "CN=rot API platform root CA",
        ]);
        assert.strictEqual(
            issuerOf(pemBlocks(gatewayServerConfig(p.switch, "ob").tlsCrt)[0]),
            "CN=rot gateway server CA G1",
        );
        // Every order of rollout: the gateway's new certificate before or after APIC's new truststore.
        for (const [server, apic] of [
            [p.g0, p.prepare],
            [p.switch, p.prepare],
            [p.prepare, p.switch],
            [p.switch, p.switch],
        ]) {
            const result = await callServedBy(server, server, apic);
            assert.deepStrictEqual([result.clientAuthorized, result.clientError, result.accepted], [true, "", true]);
        }
    });

    it("finish: APIC's truststore and its CRLs reject a server certificate of the old CA", async () => {
        assert.deepStrictEqual(pemBlocks(p.finish.read("apic/ob/truststore.pem")).map(subjectOf), [
            "CN=rot gateway server CA G1",
            "CN=rot API platform root CA",
        ]);
        const current = await callServedBy(p.finish, p.finish, p.finish);
        assert.deepStrictEqual([current.clientAuthorized, current.clientError], [true, ""]);
        const old = await callServedBy(p.prepare, p.finish, p.finish);
        assert.deepStrictEqual([old.clientAuthorized, old.clientError], [false, "CERT_REVOKED"]);
        const lists = crls(p.finish.read("apic/ob/truststore.crl")).map(parseCrl);
        const oldCa = p.g0.inventory.find((c) => c.id === "gateway-server-ca");
        assert.deepStrictEqual(
            lists.map((c) => c.revokedSerials),
            [[], [oldCa?.serial]],
        );
    });
});

describe("Staged rotation of the mesh CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("meshCa");
    });

    it("prepare keeps istiod's CA; switch installs the new one under the same root", () => {
        assert.strictEqual(cacerts(p.prepare, "east")["ca-cert.pem"], cacerts(p.g0, "east")["ca-cert.pem"]);
        const installed = cacerts(p.switch, "east");
        assert.strictEqual(subjectOf(installed["ca-cert.pem"]), "CN=rot mesh CA east G1");
        assert.strictEqual(installed["root-cert.pem"], cacerts(p.g0, "east")["root-cert.pem"]);
        // One cacerts secret, taken over by the new generation in place.
        const secrets = p.switch.engine
            .kubernetesObjects()
            .filter((r) => r.inputs.metadata && (r.inputs.metadata as { name: string }).name === "cacerts");
        assert.deepStrictEqual(
            secrets.map((s) => s.name),
            ["mesh-ca-east-cacerts"],
        );
    });

    it("switch: workloads signed by the old and the new CA interoperate both ways", async () => {
        const old = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
        const renewed = await workload(cacerts(p.switch, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const trust = cacerts(p.switch, "east")["root-cert.pem"];
        await interoperate({ workload: old, trust }, { workload: renewed, trust });
    });

    it("finish: ca-crl.pem revokes the old CA, so its workloads are rejected; new ones still talk", async () => {
        const finished = cacerts(p.finish, "east");
        assert.ok(finished["ca-crl.pem"] !== undefined, "cacerts carries ca-crl.pem");
        const lists = crls(finished["ca-crl.pem"] ?? "").map(parseCrl);
        const oldCa = p.g0.inventory.find((c) => c.id === "mesh-ca-east");
        assert.deepStrictEqual(
            lists.map((c) => c.revokedSerials),
            [[oldCa?.serial], []],
        );
        const trust = {
            server: finished["root-cert.pem"],
            client: finished["root-cert.pem"],
            serverCrl: finished["ca-crl.pem"],
            clientCrl: finished["ca-crl.pem"],
        };
        const a = await workload(finished, "spiffe://cluster.local/ns/ob/sa/accounts");
        const b = await workload(finished, "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const ok = await sidecars(a, b, trust);
        assert.deepStrictEqual([ok.accepted, ok.clientAuthorized], [true, true], ok.reason + ok.clientError);
        const stale = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const refused = await sidecars(a, stale, trust);
        assert.deepStrictEqual([refused.accepted, refused.reason], [false, "CERT_REVOKED"]);
    });
});

describe("Staged rotation of the root", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    // ECDSA CAs keep this fast; a root rotation publishes no CRL (the old root simply stops being trusted).
    before(async () => {
        p = await rotate("root", { ...BASE, caKeyAlgorithm: "ECDSA" });
    });

    it("prepare: every trust bundle holds both roots (the one in use first); nothing is re-issued", () => {
        const roots = ["CN=rot API platform root CA", "CN=rot API platform root CA G1"];
        assert.deepStrictEqual(bundleRoots(gatewayServerConfig(p.prepare, "ob").caCrt), roots);
        assert.deepStrictEqual(bundleRoots(p.prepare.read("apic/ob/truststore.pem")), roots);
        assert.deepStrictEqual(bundleRoots(cacerts(p.prepare, "east")["root-cert.pem"]), roots);
        assert.strictEqual(p.prepare.read("apic/ob/client.crt"), p.g0.read("apic/ob/client.crt"));
        assert.strictEqual(cacerts(p.prepare, "east")["ca-cert.pem"], cacerts(p.g0, "east")["ca-cert.pem"]);
    });

    it("prepare and switch: gateway and APIC accept old-root and new-root certificates in every rollout order", async () => {
        for (const [server, gateway, apic] of [
            [p.g0, p.prepare, p.prepare],
            [p.prepare, p.prepare, p.switch],
            [p.switch, p.switch, p.prepare],
            [p.prepare, p.switch, p.switch],
            [p.switch, p.prepare, p.switch],
        ]) {
            const result = await callServedBy(server, gateway, apic);
            assert.deepStrictEqual(
                [result.accepted, result.reason, result.clientAuthorized, result.clientError],
                [true, "", true, ""],
            );
        }
        assert.strictEqual(
            issuerOf(pemBlocks(cacerts(p.switch, "east")["cert-chain.pem"])[0]),
            "CN=rot API platform root CA G1",
        );
    });

    it("switch: workloads under the old and the new root interoperate (multi-root trust)", async () => {
        const old = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
        const renewed = await workload(cacerts(p.switch, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const trust = {
            old: cacerts(p.prepare, "east")["root-cert.pem"],
            renewed: cacerts(p.switch, "east")["root-cert.pem"],
        };
        await interoperate({ workload: old, trust: trust.old }, { workload: renewed, trust: trust.renewed });
    });

    it("finish: the old root leaves every bundle, and certificates under it are rejected everywhere", async () => {
        const root = ["CN=rot API platform root CA G1"];
        assert.deepStrictEqual(bundleRoots(gatewayServerConfig(p.finish, "ob").caCrt), root);
        assert.deepStrictEqual(bundleRoots(p.finish.read("apic/ob/truststore.pem")), root);
        assert.deepStrictEqual(bundleRoots(cacerts(p.finish, "east")["root-cert.pem"]), root);
        const oldClient = await call(p.finish, p.prepare);
        assert.deepStrictEqual([oldClient.accepted, oldClient.reason], [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]);
        const oldServer = await callServedBy(p.prepare, p.finish, p.finish);
        assert.deepStrictEqual(
            [oldServer.clientAuthorized, oldServer.clientError],
            [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
        );
        const current = await call(p.finish, p.finish);
        assert.deepStrictEqual([current.accepted, current.clientAuthorized], [true, true]);
        const trust = cacerts(p.finish, "east")["root-cert.pem"];
        const renewed = await workload(cacerts(p.finish, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
        const stale = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const refused = await sidecars(renewed, stale, { server: trust, client: trust });
        assert.deepStrictEqual([refused.accepted, refused.reason], [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]);
    });
});

/** A stack whose last update left `apicClientCa` at `deployed`. */
function deployedAt(deployed: { generation: number; phase: string }): EngineState {
    const record = {
        ...INITIAL_RECORD,
        positions: { ...INITIAL_RECORD.positions, apicClientCa: deployed },
    } as RotationRecord;
    const state: EngineState = new Map();
    saveStackOutputs(state, { caRotation: record });
    return state;
}

/** Runs the Pulumi entry point on `raw` against a stand-in holding `state`; returns its error and what it registered. */
async function programOn(
    raw: Record<string, unknown>,
    state: EngineState,
): Promise<{ error: string; types: string[] }> {
    pulumi.runtime.setAllConfig(
        Object.fromEntries(
            Object.entries(raw).map(([k, v]) => [`pki:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
        ),
        [],
    );
    try {
        const modulePath = require.resolve("../lib/program");
        delete require.cache[modulePath];
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const program = require(modulePath) as () => Promise<unknown>;
        const engine = new EngineStandIn({ state });
        await pulumi.runtime.setMocks(engine, "apic-istio-pki", "dev", false, "organization");
        const error = await program().then(
            () => "",
            (err: Error) => err.message,
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { error, types: engine.resources.map((r) => r.type) };
    } finally {
        pulumi.runtime.setAllConfig({}, []);
    }
}

describe("A CA rotation that skips or reverses a phase", function () {
    this.timeout(60_000);
    const message = (problem: string) => `invalid stack configuration:\n  - ${problem}`;

    it("is refused by `pulumi up` with the phase that comes next, before anything but the read of its own outputs", async () => {
        const { error, types } = await programOn(
            at("apicClientCa", 1, "finish"),
            deployedAt({ generation: 1, phase: "prepare" }),
        );
        assert.strictEqual(
            error,
            message(
                "pki:caRotation.apicClientCa jumps from generation 1 phase prepare (deployed) to generation 1 phase finish; " +
                    "phases go one at a time, so generation 1 phase switch comes next: set pki:caRotation.apicClientCa to { generation: 1, phase: switch } and deploy it first",
            ),
        );
        assert.deepStrictEqual(types, ["pulumi:pulumi:StackReference"]);
    });

    it("refuses going back, and starting a rotation anywhere but prepare", async () => {
        const back = await programOn(at("apicClientCa", 1, "prepare"), deployedAt({ generation: 1, phase: "switch" }));
        assert.strictEqual(
            back.error,
            message(
                "pki:caRotation.apicClientCa goes back from generation 1 phase switch (deployed) to generation 1 phase prepare; " +
                    "phases only go forward: keep { generation: 1, phase: switch } or set the next phase, { generation: 1, phase: finish }",
            ),
        );
        assert.deepStrictEqual(back.types, ["pulumi:pulumi:StackReference"]);
        const fresh = await programOn(at("apicClientCa", 1, "switch"), new Map());
        assert.match(
            fresh.error,
            /jumps from generation 0 phase finish \(deployed\) to generation 1 phase switch; phases go one at a time, so generation 1 phase prepare comes next/,
        );
        assert.deepStrictEqual(fresh.types, ["pulumi:pulumi:StackReference"]);
    });

    it("is refused by render --state, and the diff of the pull request fails and says why", async () => {
        const dir = tempDir("skip");
        const stateFile = path.join(dir, "state.json");
        const file = (name: string, raw: Record<string, unknown>) =>
            writeTemp(
                dir,
                name,
                YAML.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
            );
        const g0 = file("g0.yaml", BASE);
        const skip = file("skip.yaml", at("gatewayServerCa", 1, "switch"));
        assert.strictEqual(
            (await cli("render", "--config", g0, "--out", path.join(dir, "g0"), "--state", stateFile)).status,
            0,
        );
        const refused = await cli("render", "--config", skip, "--out", path.join(dir, "skip"), "--state", stateFile);
        assert.notStrictEqual(refused.status, 0);
        assert.match(
            refused.err,
            /pki:caRotation.gatewayServerCa jumps from generation 0 phase finish \(deployed\) to generation 1 phase switch/,
        );
        const diff = await cli("diff", "--base", g0, "--head", skip);
        assert.strictEqual(diff.status, 1);
        assert.match(
            diff.out,
            /\*\*CA rotation, pki:caRotation.gatewayServerCa: generation 0 phase finish -> generation 1 phase switch.\*\* Refused: /,
        );
    });

    it("is caught by config checks too: a phase at generation 0, another CA rotating with the root, ECDSA CAs", () => {
        assert.throws(() => planFromRawConfig(at("meshCa", 0, "prepare")), {
            message: message(
                "pki:caRotation.meshCa is { generation: 0, phase: prepare }, but generation 0 is the stack's first CA and has no phases; a rotation starts with { generation: 1, phase: prepare }",
            ),
        });
        assert.throws(
            () =>
                planFromRawConfig({
                    ...BASE,
                    caRotation: {
                        root: { generation: 1, phase: "prepare" },
                        meshCa: { generation: 1, phase: "prepare" },
                    },
                }),
            {
                message: message(
                    "pki:caRotation.meshCa is in phase prepare while pki:caRotation.root is in phase prepare; rotate one at a time: finish the meshCa rotation before the root's, or the root's before the meshCa one",
                ),
            },
        );
        assert.throws(
            () => planFromRawConfig({ ...at("apicClientCa", 1, "prepare"), caKeyAlgorithm: "ECDSA" }),
            /pki:caRotation.apicClientCa needs pki:caKeyAlgorithm RSA/,
        );
    });
});
