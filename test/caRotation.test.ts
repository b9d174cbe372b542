/**
 * Staged CA rotation (pki:caRotation): every phase of every CA is deployed in order on one engine
 * state, as successive `pulumi up`s would, and checked against what each phase rendered under
 * Envoy's rules (BoringSSL and OpenSSL: partial chain, CRL check all, SAN and key pins) and with
 * Node's handshakes: the gateway (ca.crt, ca.crl, pins), APIC (truststore and its CRLs) and
 * sidecars (root-cert.pem, ca-crl.pem).
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { EngineStandIn, EngineState, saveStackOutputs, stackOutputsOf } from "../lib/engine/standIn";
import { diffPlans } from "../lib/inventory/diff";
import { pemBlocks as pemBlocksOf } from "../lib/pki/pem";
import { CLOCK_SKEW_MS, parseCrl, periodStart } from "../lib/pki/crl";
import { settingDigests } from "../lib/config/settings";
import { validateConfig } from "../lib/config/validate";
import { deployedRecordOf } from "../lib/render/render";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide as decideLifecycle } from "../lib/lifecycle/rules";
import { lifecycleMarkdown } from "../lib/cli/lifecycle";
import { CaSlot, INITIAL_RECORD, parseRecord, retiredAfter, RotationRecord } from "../lib/plan/caRotation";
import { PIN_MISMATCH } from "./envoyVerifier";
import {
    apicCheck,
    apicSends,
    assertAllAccepted,
    decide,
    gatewayCheck,
    istiodReloadRefusal,
    sidecarCheck,
    summary,
    uiSidecarCheck,
    valcredCheck,
    ValcredMode,
} from "./consumers";
import { planFromRawConfig } from "../lib/plan/plan";
import { updateWarnings } from "../lib/stack";
import {
    apicCredentials,
    cacerts,
    caOf,
    cli,
    gatewayServerConfig,
    handshake,
    mintLeaf,
    opensslRoot,
    opensslSpkiPin,
    pemBlocks,
    renderNext,
    Rendered,
    sidecars,
    tempDir,
    TestCa,
    workload,
    WORKLOAD_USES,
    writeTemp,
} from "./helpers";
import { seededState, writeSeededStateFile } from "./engineKeys";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as x509 from "@peculiar/x509";
import * as fs from "fs";
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

type Slot = CaSlot;
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
        const state = seededState();
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
        // The phases are deployed seconds apart, as in an incident with every workload restarted:
        // the mesh's wait before finish (pki:meshFinishAfterHours) has tests of its own below.
        const now = phase === "finish" ? { meshFinishAfterHours: "0" } : {};
        phases[phase] = await renderNext({ ...at(slot, 1, phase), ...pick(base), ...now }, `${slot}-${phase}`, state);
    }
    return phases;
}

/** The base keys that differ from BASE (e.g. caKeyAlgorithm, trustDomains), kept in every phase. */
const pick = (base: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(base).filter(([k, v]) => (BASE as Record<string, unknown>)[k] !== v));

const crls = (bundle: string): string[] => pemBlocksOf(bundle, "X509 CRL");
const subjectOfCrl = (pem: string): string => new x509.X509Crl(pem).issuerName.getField("CN")[0];
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

const PHASE_ORDER = ["g0", "prepare", "switch", "finish"];

/** DataPower's validation credential modes, each building the chain from the truststore alone. */
const VALCRED_MODES: readonly ValcredMode[] = ["pkix", "legacy"];
const NO_ISSUER = "unable to get local issuer certificate";

describe("Staged rotation of the APIC-client CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("apicClientCa");
    });

    it("prepare: the gateway's ca.crt keeps only the client root; APIC keeps its old certificate", async () => {
        for (const phase of PHASE_ORDER) {
            assert.deepStrictEqual(pemBlocks(gatewayServerConfig(p[phase], "ob").caCrt).map(subjectOf), [
                "CN=rot APIC client root CA",
            ]);
        }
        assert.strictEqual(p.prepare.read("apic/ob/client.crt"), p.g0.read("apic/ob/client.crt"));
        // The new CA is in no chain and no bundle yet: the gateway trusts the root, clients send their CA.
        assert.deepStrictEqual(p.prepare.inventory.find((c) => c.id === "apic-client-ca-g1")?.goesTo, []);
        for (const client of [p.g0, p.prepare]) {
            const result = await call(p.prepare, client);
            assert.deepStrictEqual([result.accepted, result.reason], [true, ""]);
        }
    });

    it("switch: APIC gets a new key and a certificate of the new CA; the gateway pins both keys", async () => {
        const cert = p.switch.read("apic/ob/client.crt");
        assert.strictEqual(issuerOf(cert), "CN=rot APIC client CA G1");
        assert.notStrictEqual(p.switch.read("apic/ob/client.key"), p.prepare.read("apic/ob/client.key"));
        assert.deepStrictEqual(gatewayServerConfig(p.switch, "ob").verifyCertificateSpki, [
            opensslSpkiPin(cert),
            opensslSpkiPin(p.prepare.read("apic/ob/client.crt")),
        ]);
        for (const client of [p.prepare, p.switch]) {
            const result = await call(p.switch, client);
            assert.deepStrictEqual([result.accepted, result.reason], [true, ""]);
        }
    });

    it("finish: the old CA is revoked in the client root's CRL and unpinned; each barrier alone refuses its client", async () => {
        const config = gatewayServerConfig(p.finish, "ob");
        const oldCa = p.g0.inventory.find((c) => c.id === "apic-client-ca");
        assert.deepStrictEqual(
            crls(config.caCrl ?? "").map((crl) => [subjectOfCrl(crl), parseCrl(crl).revokedSerials]),
            [
                ["rot APIC client CA G1", []],
                ["rot APIC client root CA", [oldCa?.serial]],
            ],
        );
        assert.strictEqual(p.finish.read("apic/ob/client.crt"), p.switch.read("apic/ob/client.crt"));
        const verdicts = decide([
            ["current client", gatewayCheck(p.finish, "ob", apicSends(p.finish, "ob"))],
            ["old client", gatewayCheck(p.finish, "ob", apicSends(p.prepare, "ob"))],
            ["old client, no CRL", { ...gatewayCheck(p.finish, "ob", apicSends(p.prepare, "ob")), caCrl: undefined }],
            [
                "old client, no CRL and no key pin",
                {
                    ...gatewayCheck(p.finish, "ob", apicSends(p.prepare, "ob")),
                    caCrl: undefined,
                    verifyCertificateSpki: [],
                },
            ],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["current client", { boringssl: "ok", openssl: "ok" }],
                // CRL check all: the old leaf's own CA publishes no CRL any more (it is gone), so the chain
                // fails at the leaf, before the root's CRL that revokes the old CA is even reached.
                [
                    "old client",
                    { boringssl: "unable to get certificate CRL", openssl: "unable to get certificate CRL" },
                ],
                ["old client, no CRL", { boringssl: PIN_MISMATCH, openssl: PIN_MISMATCH }],
                ["old client, no CRL and no key pin", { boringssl: "ok", openssl: "ok" }],
            ],
        );
        const old = await call(p.finish, p.prepare);
        assert.deepStrictEqual([old.accepted, old.reason], [false, "CERT_REVOKED"]);
        assert.ok(!p.finish.inventory.some((c) => c.id === "apic-client-ca"), "the old CA is gone");
    });

    it("accepts every correct client in every phase and rollout order under Envoy's rules", () => {
        // APIC's keystore of a phase exists only once that phase is deployed, so a gateway meets
        // clients of its own phase and earlier ones; from finish on only the current key passes.
        const checks: [string, ReturnType<typeof gatewayCheck>][] = [];
        for (const [g, gateway] of PHASE_ORDER.entries()) {
            for (const client of PHASE_ORDER.slice(0, g + 1)) {
                const stale = gateway === "finish" && (client === "g0" || client === "prepare");
                if (stale) continue;
                for (const e of ["ob", "dp"]) {
                    checks.push([
                        `${gateway} gateway, ${client} client, ${e}`,
                        gatewayCheck(p[gateway], e, apicSends(p[client], e)),
                    ]);
                }
            }
        }
        assert.strictEqual(checks.length, 2 * (1 + 2 + 3 + 2));
        assertAllAccepted(decide(checks));
    });

    it("prepare changes only the new CA's own resources", async () => {
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
        assert.deepStrictEqual(changed, []);
    });

    it("the diff names each phase, and the switch shows the client certificates re-issued by the new CA", () => {
        const prepare = diffPlans(p.g0.plan, p.prepare.plan);
        assert.deepStrictEqual(prepare.caRotation, [
            {
                slot: "apicClientCa",
                from: "generation 0 phase finish",
                to: "generation 1 phase prepare",
                effect: "prepare: new CA apic-client-ca-g1 created and added to no bundle (the gateway trusts the client root, which stays); nothing is issued by it yet",
            },
        ]);
        assert.deepStrictEqual(
            prepare.added.map((c) => c.id),
            ["apic-client-ca-g1"],
        );
        const change = diffPlans(p.prepare.plan, p.switch.plan);
        assert.strictEqual(
            change.caRotation[0].effect,
            "switch: every APIC client certificate (upload the new keystores; old and new keys stay pinned until finish) re-issued by apic-client-ca-g1; apic-client-ca still trusted",
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
        assert.strictEqual(
            finish.caRotation[0].effect,
            "finish: apic-client-ca removed from every bundle and deleted; revoked in its root's CRL (CRLs are published from now on); the old APIC keys are no longer pinned",
        );
    });
});

/** A UI service that calls APIC's UI-facing host, whose certificate the gateway-server CA signs. */
const APIC_UI_HOST = "apic.rot.api.bank.example";
const WITH_UI_CALLER = {
    ...BASE,
    frontEnd: {
        namespace: "ob-ui",
        services: ["consumer-dashboard"],
        callers: ["consumer-dashboard"],
        apicHosts: [APIC_UI_HOST],
    },
};

/** What APIC serves on its UI-facing host: its keystore's certificate and chain. */
const apicUiServes = (apic: Rendered): string =>
    apic.read(`apic/ui/${APIC_UI_HOST}/server.crt`) + apic.read(`apic/ui/${APIC_UI_HOST}/ca-chain.pem`);

describe("Staged rotation of the gateway-server CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("gatewayServerCa", WITH_UI_CALLER);
    });

    it("APIC's truststore holds the server root and every CA generation in use: prepare adds G1, finish drops G0", () => {
        assert.deepStrictEqual(
            PHASE_ORDER.map((phase) => [phase, pemBlocks(p[phase].read("apic/ob/truststore.pem")).map(subjectOf)]),
            [
                ["g0", ["CN=rot gateway server root CA", "CN=rot gateway server CA"]],
                [
                    "prepare",
                    ["CN=rot gateway server root CA", "CN=rot gateway server CA", "CN=rot gateway server CA G1"],
                ],
                [
                    "switch",
                    ["CN=rot gateway server root CA", "CN=rot gateway server CA", "CN=rot gateway server CA G1"],
                ],
                ["finish", ["CN=rot gateway server root CA", "CN=rot gateway server CA G1"]],
            ],
        );
    });

    it("a root-only truststore, which chains only with the CA the gateway sends, is refused by DataPower's validation credentials in both modes", () => {
        const truststore = p.g0.read("apic/ob/truststore.pem");
        const [rootOnly] = pemBlocks(truststore);
        const served = gatewayServerConfig(p.g0, "ob").tlsCrt;
        const verdicts = decide([
            [
                "root only, Envoy's rules (the former stand-in)",
                { caCrt: rootOnly, chain: served, purpose: "sslserver" },
            ],
            ...VALCRED_MODES.map(
                (mode) => [`root only, ${mode}`, valcredCheck(rootOnly, undefined, served, "sslserver", mode)] as const,
            ),
            ...VALCRED_MODES.map(
                (mode) =>
                    [`as rendered, ${mode}`, valcredCheck(truststore, undefined, served, "sslserver", mode)] as const,
            ),
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v).openssl, summary(v).boringssl]),
            [
                ["root only, Envoy's rules (the former stand-in)", "ok", "ok"],
                ["root only, pkix", NO_ISSUER, NO_ISSUER],
                ["root only, legacy", NO_ISSUER, NO_ISSUER],
                ["as rendered, pkix", "ok", "ok"],
                ["as rendered, legacy", "ok", "ok"],
            ],
        );
    });

    it("prepare and switch: old and new server certificates pass in every order once APIC has the prepare's truststore", async () => {
        assert.strictEqual(
            issuerOf(pemBlocks(gatewayServerConfig(p.switch, "ob").tlsCrt)[0]),
            "CN=rot gateway server CA G1",
        );
        // Every order of rollout: the gateway's new certificate before or after APIC's new truststore.
        const orders = [
            [p.g0, p.prepare],
            [p.switch, p.prepare],
            [p.prepare, p.switch],
            [p.switch, p.switch],
        ];
        for (const [server, apic] of orders) {
            const result = await callServedBy(server, server, apic);
            assert.deepStrictEqual([result.clientAuthorized, result.clientError, result.accepted], [true, "", true]);
        }
        assertAllAccepted(
            decide(
                orders.flatMap(([server, apic], i) =>
                    VALCRED_MODES.map(
                        (mode) =>
                            [
                                `order ${i}, ${mode}`,
                                apicCheck(apic, "ob", gatewayServerConfig(server, "ob").tlsCrt, undefined, mode),
                            ] as const,
                    ),
                ),
            ),
        );
        // Why the truststore is uploaded at prepare: without it APIC refuses the switch's certificates.
        const [[, stale]] = decide([
            ["g0's truststore", apicCheck(p.g0, "ob", gatewayServerConfig(p.switch, "ob").tlsCrt)],
        ]);
        assert.deepStrictEqual(summary(stale), { boringssl: NO_ISSUER, openssl: NO_ISSUER });
    });

    it("finish: the old CA leaves APIC's truststore, so its server certificates are refused in both modes (its CRLs too, where loaded)", async () => {
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
        const verdicts = decide(
            VALCRED_MODES.flatMap((mode) => [
                [
                    `current server, ${mode}`,
                    apicCheck(p.finish, "ob", gatewayServerConfig(p.finish, "ob").tlsCrt, undefined, mode),
                ] as const,
                [
                    `old server, ${mode}`,
                    apicCheck(p.finish, "ob", gatewayServerConfig(p.prepare, "ob").tlsCrt, undefined, mode),
                ] as const,
            ]),
        );
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["current server, pkix", { boringssl: "ok", openssl: "ok" }],
                ["old server, pkix", { boringssl: NO_ISSUER, openssl: NO_ISSUER }],
                ["current server, legacy", { boringssl: "ok", openssl: "ok" }],
                ["old server, legacy", { boringssl: NO_ISSUER, openssl: NO_ISSUER }],
            ],
        );
    });

    it("finish: a UI service's sidecar refuses APIC's certificate of the old CA, and one a holder of the old CA's key mints; until then it accepts old and new", async () => {
        const sidecar = (phase: string, served: string) =>
            uiSidecarCheck(p[phase], "consumer-dashboard", APIC_UI_HOST, served);
        // Every rollout order: the sidecar's Secret of a phase meets APIC's keystore of that phase or an earlier one.
        const overlap: [string, ReturnType<typeof sidecar>][] = [];
        for (const [s, phase] of ["prepare", "switch"].entries()) {
            for (const apic of PHASE_ORDER.slice(0, s + 2)) {
                overlap.push([`${phase} sidecar, ${apic} APIC`, sidecar(phase, apicUiServes(p[apic]))]);
            }
        }
        assertAllAccepted(decide(overlap));
        const oldCa = p.g0.engine.resources.find((r) => r.name === "gateway-server-ca-key")?.state.privateKeyPem;
        const oldCaCert = p.g0.read(`apic/ui/${APIC_UI_HOST}/ca-chain.pem`);
        const forged = await mintLeaf(
            { certPem: oldCaCert, keyPem: oldCa as string },
            { commonName: APIC_UI_HOST, dnsNames: [APIC_UI_HOST], allowedUses: ["digital_signature", "server_auth"] },
        );
        const finished = decide([
            ["APIC's current certificate", sidecar("finish", apicUiServes(p.finish))],
            ["APIC's certificate of the old CA", sidecar("finish", apicUiServes(p.prepare))],
            ["minted with the old CA's key", sidecar("finish", forged.cert + oldCaCert)],
        ]);
        const noCrl = "unable to get certificate CRL";
        assert.deepStrictEqual(
            finished.map(([label, v]) => [label, summary(v)]),
            [
                ["APIC's current certificate", { boringssl: "ok", openssl: "ok" }],
                ["APIC's certificate of the old CA", { boringssl: noCrl, openssl: noCrl }],
                ["minted with the old CA's key", { boringssl: noCrl, openssl: noCrl }],
            ],
        );
    });

    it("has the lifecycle re-publish the gateway-server CA's CRL each period, saying to give APIC's TLS client profiles the new truststore.crl", () => {
        const config = validateConfig({ ...at("gatewayServerCa", 1, "finish"), ...pick(WITH_UI_CALLER) });
        const deployed = readDeployed(p.finish.dir);
        const crl = deployed.record.crls?.["gateway-server-ca-g1"];
        assert.deepStrictEqual([crl?.published, crl?.renewal], [true, "period"]);
        const period = config.crlPeriodDays * 86_400_000;
        const nextPeriod = new Date(
            periodStart(new Date(crl?.thisUpdate ?? ""), config.crlPeriodDays).getTime() + period,
        );
        const day = (iso: string | Date) => new Date(iso).toISOString().slice(0, 10);
        const dueAt = new Date(nextPeriod.getTime() + CLOCK_SKEW_MS); // the new period's CRL, once no node's clock lags it
        const due = decideLifecycle({ config, deployed, now: dueAt, soakDays: 7 });
        const load =
            "load each endpoint's new apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)";
        assert.deepStrictEqual(due.republishWhy, [
            `the CRL of gateway-server-ca-g1 was signed for the period from ${day(crl?.thisUpdate ?? "")}; a new 7-day period began ${day(nextPeriod)} (valid until ${day(crl?.nextUpdate ?? "")}); ` +
                `after the update ${load}`,
        ]);
        // The same step apart, by when: the next update of the CRL loaded now.
        assert.deepStrictEqual(due.afterRepublish, [
            { step: load, before: new Date(crl?.nextUpdate ?? "").toISOString() },
        ]);
        // In the pull request's Markdown, "<endpoint>" escaped: GitHub would take it for a tag and drop it.
        const markdown = lifecycleMarkdown({
            environment: "dev",
            stackFile: "stacks/Pulumi.dev.yaml",
            now: dueAt,
            decision: due,
            written: false,
        });
        assert.ok(
            markdown.includes(
                `\n### By hand after the re-publication\n\n- before ${day(crl?.nextUpdate ?? "")}: load each endpoint's new apic/\\<endpoint>/truststore.crl (stack output apicBundles.\\<endpoint>.truststoreCrlPem) into`,
            ),
            markdown,
        );
        assert.ok(markdown.includes("(valid until"), markdown);
        assert.doesNotMatch(markdown, /[^\\]<endpoint>/);
    });

    it("has the lifecycle say when the retired CA has expired that the update publishes its root's CRLs no more, and that APIC's TLS client profiles drop truststore.crl before its next update", () => {
        const config = validateConfig({ ...at("gatewayServerCa", 1, "finish"), ...pick(WITH_UI_CALLER) });
        const deployed = readDeployed(p.finish.dir);
        const crl = deployed.record.crls?.["gateway-server-ca-g1"];
        const period = config.crlPeriodDays * 86_400_000;
        const nextPeriod = new Date(
            periodStart(new Date(crl?.thisUpdate ?? ""), config.crlPeriodDays).getTime() + period,
        );
        const dueAt = new Date(nextPeriod.getTime() + CLOCK_SKEW_MS);
        // The retired gateway-server CA expires as the new period begins: nothing under server-root is revoked any more.
        assert.deepStrictEqual(
            deployed.record.retired.map((r) => r.id),
            ["gateway-server-ca"],
        );
        const record = {
            ...deployed.record,
            retired: [{ ...deployed.record.retired[0], notAfter: dueAt.toISOString() }],
        };
        const day = (iso: string | Date) => new Date(iso).toISOString().slice(0, 10);
        const decision = decideLifecycle({ config, deployed: { ...deployed, record }, now: dueAt, soakDays: 7 });
        assert.deepStrictEqual(
            [decision.republishCrls, decision.republishWhy],
            [
                true,
                [
                    "the CRLs of gateway-server-ca-g1, server-root are published no more (nothing under server-root is revoked any more); " +
                        "the update removes ca.crl from each calling UI service's Secret; " +
                        `before ${day(crl?.nextUpdate ?? "")}, when the CRL of gateway-server-ca-g1 loaded there passes its next update, ` +
                        "take apic/<endpoint>/truststore.crl out of the DataPower validation credentials that check the gateway's CRLs, where you loaded it (there is no new one to load)",
                ],
            ],
        );
        assert.deepStrictEqual(decision.afterRepublish, [
            {
                step: "take apic/<endpoint>/truststore.crl out of the DataPower validation credentials that check the gateway's CRLs, where you loaded it (there is no new one to load)",
                before: new Date(crl?.nextUpdate ?? "").toISOString(),
            },
        ]);
    });
});

describe("An edge CA's key under one shared root (pki:trustDomains shared): the mesh side, through rotations", function () {
    this.timeout(180_000);
    const SHARED = { ...BASE, trustDomains: "shared" };
    const identity = "spiffe://cluster.local/ns/ob/sa/accounts";
    const OK = { boringssl: "ok", openssl: "ok" };
    const NO_CRL = { boringssl: "unable to get certificate CRL", openssl: "unable to get certificate CRL" };
    const EDGE_CAS = [
        ["apicClientCa", "apic-client-ca"],
        ["gatewayServerCa", "gateway-server-ca"],
    ] as const;

    /** The sidecars of each phase checking a workload identity its holder minted with `ca`'s key. */
    async function sidecarVerdicts(p: Record<string, Rendered>, ca: TestCa, phases: readonly string[]) {
        const leaf = await mintLeaf(ca, { commonName: "", uris: [identity], allowedUses: WORKLOAD_USES });
        const chain = leaf.cert + ca.certPem;
        return decide(phases.map((phase) => [phase, sidecarCheck(cacerts(p[phase], "east"), chain, identity)])).map(
            ([phase, v]) => [phase, summary(v)],
        );
    }

    /** Who signed each CRL of a cacerts' ca-crl.pem, and the serials it revokes. */
    const caCrlOf = (rendered: Rendered) =>
        crls(cacerts(rendered, "east")["ca-crl.pem"] ?? "").map((crl) => [
            subjectOfCrl(crl),
            parseCrl(crl).revokedSerials,
        ]);

    for (const [slot, id] of EDGE_CAS) {
        it(`${id}: sidecars accept a workload identity minted with its key until its rotation's finish publishes ca-crl.pem, which holds no CRL of an edge CA; from then on, needing a CRL of every CA of the chain, they refuse the old and the new generation's key alike`, async () => {
            const p = await rotate(slot, SHARED);
            assert.deepStrictEqual(await sidecarVerdicts(p, caOf(p.g0, id), PHASE_ORDER), [
                ["g0", OK],
                ["prepare", OK],
                ["switch", OK],
                ["finish", NO_CRL],
            ]);
            // The new CA, which no CRL revokes, is refused the same way: not revocation, a missing CRL.
            assert.deepStrictEqual(
                await sidecarVerdicts(p, caOf(p.prepare, `${id}-g1`), ["prepare", "switch", "finish"]),
                [
                    ["prepare", OK],
                    ["switch", OK],
                    ["finish", NO_CRL],
                ],
            );
            // ca-crl.pem: the root's CRL and the mesh CA's, none of an edge CA's.
            const oldCa = p.g0.inventory.find((c) => c.id === id);
            assert.deepStrictEqual(caCrlOf(p.finish), [
                ["rot API platform root CA", [oldCa?.serial]],
                ["rot mesh CA east", []],
            ]);
        });
    }

    it("a mesh CA rotation's finish ends the unrotated edge CA keys' workload identities the same way: its ca-crl.pem holds no CRL of theirs", async () => {
        const p = await rotate("meshCa", SHARED);
        for (const [, id] of EDGE_CAS) {
            assert.deepStrictEqual(
                await sidecarVerdicts(p, caOf(p.g0, id), PHASE_ORDER),
                [
                    ["g0", OK],
                    ["prepare", OK],
                    ["switch", OK],
                    ["finish", NO_CRL],
                ],
                id,
            );
        }
        const oldMeshCa = p.g0.inventory.find((c) => c.id === "mesh-ca-east");
        assert.deepStrictEqual(caCrlOf(p.finish), [
            ["rot API platform root CA", [oldMeshCa?.serial]],
            ["rot mesh CA east G1", []],
        ]);
    });
});

describe("Staged rotation of the mesh CA", function () {
    this.timeout(180_000);
    let p: Record<string, Rendered>;
    before(async () => {
        p = await rotate("meshCa");
    });

    it("refuses finish sooner than pki:meshFinishAfterHours (24 h) after the switch was deployed: workloads not yet renewed would lose mesh mTLS", () => {
        const { record } = readDeployed(p.switch.dir);
        const since = record.positionsSince?.meshCa ?? "";
        assert.match(since, /^\d{4}-\d\d-\d\dT/);
        const finish = (now: Date, extra: Record<string, unknown> = {}) =>
            planFromRawConfig({ ...at("meshCa", 1, "finish"), ...extra }, { deployed: record, now });
        const after = (hours: number) => new Date(Date.parse(since) + hours * 3_600_000);
        const ready = after(24).toISOString();
        assert.throws(() => finish(after(23.5)), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:caRotation.meshCa moves to finish 23 h after its switch was deployed (${since}): workloads keep certificates of the old CA until they renew them ` +
                "(within pki:meshFinishAfterHours, 24 h), and at finish ca-crl.pem revokes the old mesh CAs, so mesh mutual TLS fails for every workload not yet renewed. " +
                `Deploy the finish from ${ready}; in an incident, restart every workload first and set pki:meshFinishAfterHours to 0 for this update`,
        });
        assert.doesNotThrow(() => finish(after(24)));
        // A longer workload certificate TTL waits longer; 0, the incident, not at all.
        assert.throws(() => finish(after(30), { meshFinishAfterHours: "48" }), /finish 30 h after its switch/);
        assert.doesNotThrow(() => finish(after(0.1), { meshFinishAfterHours: "0" }));
    });

    it("refuses raising pki:rotation.meshEpoch while the rotation is under way: its finish's CRL would be the re-keyed CA's only", () => {
        const { record } = readDeployed(p.switch.dir);
        const raised = (phase: string) => ({ ...at("meshCa", 1, phase), rotation: { meshEpoch: 1 } });
        const problem =
            "is 1, but 0 is deployed and pki:caRotation.meshCa is at generation 1 phase switch: " +
            "re-keyed now, the new mesh CA keeps its name and at finish its CRL (ca-crl.pem) is the new key's only, " +
            'so every sidecar would refuse the workloads istiod signed with the earlier key ("unable to get certificate CRL"), ' +
            "though pki:meshFinishAfterHours counts from the switch, not from the re-key. " +
            "Set pki:rotation.meshEpoch back to 0; if the mesh CAs still need a new key after the finish of pki:caRotation.meshCa, " +
            "rotate them again in stages with pki:caRotation.meshCa ({ generation: 2, phase: prepare }): " +
            "once istiod's cacerts carries ca-crl.pem, which a mesh CA's finish publishes, pki:rotation.meshEpoch may not change either";
        assert.throws(() => planFromRawConfig(raised("switch"), { deployed: record }), {
            message: `invalid stack configuration:\n  - pki:rotation.meshEpoch ${problem}`,
        });
        const prepared = readDeployed(p.prepare.dir).record;
        assert.throws(() => planFromRawConfig(raised("prepare"), { deployed: prepared }), {
            message:
                "invalid stack configuration:\n" +
                "  - pki:rotation.meshEpoch is 1, but 0 is deployed and pki:caRotation.meshCa is at generation 1 phase prepare: " +
                "the rotation gives every mesh CA a new key anyway. " +
                "Set pki:rotation.meshEpoch back to 0; if the mesh CAs still need a new key after the finish of pki:caRotation.meshCa, " +
                "rotate them again in stages with pki:caRotation.meshCa ({ generation: 2, phase: prepare }): " +
                "once istiod's cacerts carries ca-crl.pem, which a mesh CA's finish publishes, pki:rotation.meshEpoch may not change either",
        });
        // The diff of the pull request refuses it the same way, from the two stack files alone.
        assert.deepStrictEqual(
            diffPlans(planFromRawConfig(at("meshCa", 1, "switch")), planFromRawConfig(raised("switch"))).refused,
            [{ key: "pki:rotation.meshEpoch", problem }],
        );
        // After the finish, raising it is refused too: the way out is the staged rotation advised above.
        assert.match(
            diffPlans(planFromRawConfig(at("meshCa", 1, "finish")), planFromRawConfig(raised("finish"))).refused[0]
                .problem,
            /Set pki:rotation.meshEpoch back to 0 and rotate the mesh CAs in stages with pki:caRotation.meshCa \(next: \{ generation: 2, phase: prepare \}\)/,
        );
    });

    it("prepare keeps istiod's CA; switch installs the new one under the same mesh root", () => {
        assert.strictEqual(cacerts(p.prepare, "east")["ca-cert.pem"], cacerts(p.g0, "east")["ca-cert.pem"]);
        const installed = cacerts(p.switch, "east");
        assert.strictEqual(subjectOf(installed["ca-cert.pem"]), "CN=rot mesh CA east G1");
        assert.strictEqual(installed["root-cert.pem"], cacerts(p.g0, "east")["root-cert.pem"]);
        assert.strictEqual(subjectOf(installed["root-cert.pem"]), "CN=rot mesh root CA");
        // One cacerts secret, taken over by the new generation in place.
        const secrets = p.switch.engine
            .kubernetesObjects()
            .filter((r) => r.inputs.metadata && (r.inputs.metadata as { name: string }).name === "cacerts");
        assert.deepStrictEqual(
            secrets.map((s) => s.name),
            ["mesh-ca-east-cacerts"],
        );
    });

    it("workloads of the old and the new CA interoperate in every phase until finish (Envoy's rules and Node)", async () => {
        const old = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
        const renewed = await workload(cacerts(p.switch, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const trust = cacerts(p.switch, "east")["root-cert.pem"];
        await interoperate({ workload: old, trust }, { workload: renewed, trust });
        const checks: [string, ReturnType<typeof sidecarCheck>][] = [];
        for (const phase of ["prepare", "switch"]) {
            for (const peer of [old, renewed]) {
                checks.push([
                    `${phase} sidecar, ${peer.identity}`,
                    sidecarCheck(cacerts(p[phase], "east"), peer.cert, peer.identity),
                ]);
            }
        }
        assertAllAccepted(decide(checks));
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
        const verdicts = decide([
            ["new workload", sidecarCheck(finished, b.cert, b.identity)],
            ["old workload", sidecarCheck(finished, stale.cert, stale.identity)],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["new workload", { boringssl: "ok", openssl: "ok" }],
                [
                    "old workload",
                    { boringssl: "unable to get certificate CRL", openssl: "unable to get certificate CRL" },
                ],
            ],
        );
    });
});

/** A root rotation, and the roots of each bundle in its prepare phase: the shared root reaches all three. */
const ROOT_ROTATIONS = [
    {
        slot: "root" as const,
        label: "the shared root (pki:trustDomains shared)",
        base: { ...BASE, caKeyAlgorithm: "ECDSA", trustDomains: "shared" },
        names: ["CN=rot API platform root CA", "CN=rot API platform root CA G1"],
        prepared: {
            gateway: ["CN=rot API platform root CA", "CN=rot API platform root CA G1"],
            apic: ["CN=rot API platform root CA", "CN=rot API platform root CA G1"],
            mesh: ["CN=rot API platform root CA", "CN=rot API platform root CA G1"],
        },
    },
    {
        slot: "clientRoot" as const,
        label: "the APIC client root",
        base: { ...BASE, caKeyAlgorithm: "ECDSA" },
        names: ["CN=rot APIC client root CA", "CN=rot APIC client root CA G1"],
        prepared: {
            gateway: ["CN=rot APIC client root CA", "CN=rot APIC client root CA G1"],
            apic: ["CN=rot gateway server root CA"],
            mesh: ["CN=rot mesh root CA"],
        },
    },
];

for (const rotation of ROOT_ROTATIONS) {
    const reachesMesh = rotation.prepared.mesh.length > 1;
    const reachesApic = rotation.prepared.apic.length > 1;
    describe(`Staged rotation of ${rotation.label}`, function () {
        this.timeout(180_000);
        let p: Record<string, Rendered>;
        // ECDSA CAs keep this fast; a root rotation publishes no CRL (the old root simply stops being trusted).
        before(async () => {
            p = await rotate(rotation.slot, rotation.base);
        });
        const newRoot = rotation.names[1];

        it("prepare: the bundles it reaches hold both roots (the one in use first); nothing is re-issued", () => {
            assert.deepStrictEqual(
                {
                    gateway: bundleRoots(gatewayServerConfig(p.prepare, "ob").caCrt),
                    apic: bundleRoots(p.prepare.read("apic/ob/truststore.pem")),
                    mesh: bundleRoots(cacerts(p.prepare, "east")["root-cert.pem"]),
                },
                rotation.prepared,
            );
            assert.strictEqual(p.prepare.read("apic/ob/client.crt"), p.g0.read("apic/ob/client.crt"));
            assert.strictEqual(cacerts(p.prepare, "east")["ca-cert.pem"], cacerts(p.g0, "east")["ca-cert.pem"]);
        });

        if (reachesMesh) {
            it("a running istiod takes each phase's cacerts with ISTIO_MULTIROOT_MESH, and refuses prepare without it", () => {
                const phases = [p.g0, p.prepare, p.switch, p.finish].map((r) => cacerts(r, "east"));
                const steps = phases.slice(1).map((next, i) => [phases[i], next] as const);
                assert.deepStrictEqual(
                    steps.map(([loaded, next]) => istiodReloadRefusal(loaded, next, true)),
                    [undefined, undefined, undefined],
                );
                assert.strictEqual(
                    istiodReloadRefusal(phases[0], phases[1], false),
                    "Multi root is disabled, updating new ROOT-CA not supported",
                );
            });
        }

        it("switch leaves APIC's truststore as prepare wrote it: DataPower's list is a set, so a switch asks for no upload", () => {
            assert.strictEqual(p.switch.read("apic/ob/truststore.pem"), p.prepare.read("apic/ob/truststore.pem"));
            assert.strictEqual(p.switch.read("apic/ob/truststore.json"), p.prepare.read("apic/ob/truststore.json"));
        });

        it("prepare and switch: gateway and APIC accept old-root and new-root certificates in every rollout order", async () => {
            // [server certificate, gateway trust, APIC material]. APIC's material of a phase exists only
            // once that phase is deployed, so it never runs ahead of the gateway's pins; the gateway's
            // secret and its Gateway object may roll out in either order.
            const orders = [
                [p.g0, p.prepare, p.prepare],
                [p.switch, p.prepare, p.prepare],
                [p.switch, p.switch, p.prepare],
                [p.prepare, p.switch, p.switch],
                [p.switch, p.switch, p.switch],
            ];
            for (const [server, gateway, apic] of orders) {
                const result = await callServedBy(server, gateway, apic);
                assert.deepStrictEqual(
                    [result.accepted, result.reason, result.clientAuthorized, result.clientError],
                    [true, "", true, ""],
                );
            }
            assertAllAccepted(
                decide(
                    orders.flatMap(([server, gateway, apic], i) => [
                        [`order ${i}: gateway`, gatewayCheck(gateway, "ob", apicSends(apic, "ob"))],
                        [`order ${i}: APIC`, apicCheck(apic, "ob", gatewayServerConfig(server, "ob").tlsCrt)],
                    ]),
                ),
            );
        });

        it("finish: the old root leaves every bundle, and certificates under it are rejected where it reached", async () => {
            assert.deepStrictEqual(bundleRoots(gatewayServerConfig(p.finish, "ob").caCrt), [newRoot]);
            const oldClient = await call(p.finish, p.prepare);
            assert.deepStrictEqual(
                [oldClient.accepted, oldClient.reason],
                [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
            );
            const current = await call(p.finish, p.finish);
            assert.deepStrictEqual([current.accepted, current.clientAuthorized], [true, true]);
            const verdict = decide([["old client", gatewayCheck(p.finish, "ob", apicSends(p.prepare, "ob"))]])[0][1];
            assert.deepStrictEqual(summary(verdict), {
                boringssl: "unable to get local issuer certificate",
                openssl: "unable to get local issuer certificate",
            });
            if (reachesMesh) {
                const trust = cacerts(p.finish, "east")["root-cert.pem"];
                const renewed = await workload(cacerts(p.finish, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
                const stale = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
                const refused = await sidecars(renewed, stale, { server: trust, client: trust });
                assert.deepStrictEqual(
                    [refused.accepted, refused.reason],
                    [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
                );
            }
            if (reachesApic) {
                const oldServer = await callServedBy(p.prepare, p.finish, p.finish);
                assert.deepStrictEqual(
                    [oldServer.clientAuthorized, oldServer.clientError],
                    [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
                );
            }
        });

        if (reachesMesh) {
            it("switch: workloads under the old and the new root interoperate (multi-root trust)", async () => {
                const old = await workload(cacerts(p.prepare, "east"), "spiffe://cluster.local/ns/ob/sa/accounts");
                const renewed = await workload(cacerts(p.switch, "east"), "spiffe://cluster.local/ns/ob/sa/ob-payee");
                const trust = {
                    old: cacerts(p.prepare, "east")["root-cert.pem"],
                    renewed: cacerts(p.switch, "east")["root-cert.pem"],
                };
                await interoperate({ workload: old, trust: trust.old }, { workload: renewed, trust: trust.renewed });
            });
        }
    });
}

/** A stack whose last update left `apicClientCa` at `deployed`. */
function deployedAt(deployed: { generation: number; phase: string }): EngineState {
    const record = {
        ...INITIAL_RECORD,
        positions: { ...INITIAL_RECORD.positions, apicClientCa: deployed },
    } as RotationRecord;
    const state = seededState();
    saveStackOutputs(state, { deploymentRecord: record });
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
        writeSeededStateFile(stateFile, BASE.environment); // the suite's keys (./engineKeys.ts), no deployment yet
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

    it("names only the skipped phase, not the APIC clients' cut-over that skipping it would make", async () => {
        // What the prepare's update records: generation 0's clients (epoch 0), the CA at prepare.
        const { state } = await deployedG0(BASE);
        const record = stackOutputsOf(state).deploymentRecord as RotationRecord;
        assert.ok(Object.keys(record.clients).length > 0, "the record holds the APIC clients' certificates");
        const deployed: RotationRecord = {
            ...record,
            positions: { ...record.positions, apicClientCa: { generation: 1, phase: "prepare" } },
        };
        // Before, each APIC endpoint was also told it "moves from epoch 0 to epoch 1 with no overlap",
        // with advice (its clientPhase) that would not have made the skip go through.
        assert.throws(() => planFromRawConfig(at("apicClientCa", 1, "finish"), { deployed }), {
            message: message(
                "pki:caRotation.apicClientCa jumps from generation 1 phase prepare (deployed) to generation 1 phase finish; " +
                    "phases go one at a time, so generation 1 phase switch comes next: set pki:caRotation.apicClientCa to { generation: 1, phase: switch } and deploy it first",
            ),
        });
        // The pull request's diff the same: the refused phase, and no client refusals beside it.
        const diff = diffPlans(
            planFromRawConfig(at("apicClientCa", 1, "prepare")),
            planFromRawConfig(at("apicClientCa", 1, "finish")),
        );
        assert.deepStrictEqual([diff.refused, diff.caRotation.map((t) => t.refused !== undefined)], [[], [true]]);
    });

    it("lets a CA that leaves the stack go at any phase: its slot is no key of pki:caRotation any more", () => {
        // The UI client CA was rotated; then no UI service calls APIC any more, so the stack has no UI CAs.
        const withUi = { ...WITH_UI_CALLER, caRotation: { uiClientCa: { generation: 1, phase: "finish" } } };
        const deployed = {
            ...INITIAL_RECORD,
            positions: { ...INITIAL_RECORD.positions, uiClientCa: { generation: 1, phase: "finish" } },
        } as RotationRecord;
        const withoutUi = planFromRawConfig(BASE, { deployed });
        assert.ok(!withoutUi.cas.some((c) => c.slot === "uiClientCa"));
        assert.deepStrictEqual(diffPlans(planFromRawConfig(withUi), withoutUi).caRotation, []);
        // The same after a mesh root rotation, for a move to one shared root (the diff names that risk).
        const rotatedRoot = {
            ...INITIAL_RECORD,
            positions: { ...INITIAL_RECORD.positions, meshRoot: { generation: 1, phase: "finish" } },
        } as RotationRecord;
        const shared = planFromRawConfig({ ...BASE, trustDomains: "shared" }, { deployed: rotatedRoot });
        assert.deepStrictEqual(
            shared.cas.filter((c) => c.role === "root").map((c) => c.id),
            ["root"],
        );
    });

    it("is caught by config checks too: a phase at generation 0, a CA rotating with its root, ECDSA CAs", () => {
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
                        meshRoot: { generation: 1, phase: "prepare" },
                        meshCa: { generation: 1, phase: "prepare" },
                        apicClientCa: { generation: 1, phase: "prepare" },
                    },
                }),
            {
                message: message(
                    "pki:caRotation.meshCa is in phase prepare while pki:caRotation.meshRoot is in phase prepare; rotate one at a time: finish the meshCa rotation before the meshRoot one, or the meshRoot one before the meshCa one",
                ),
            },
        );
        const rootRotation = { root: { generation: 1, phase: "prepare" } };
        assert.throws(() => planFromRawConfig({ ...BASE, trustDomains: "separate", caRotation: rootRotation }), {
            message: message(
                "pki:caRotation.root is not a CA of this stack with pki:trustDomains separate; its CAs are meshRoot, serverRoot, clientRoot, gatewayServerCa, apicClientCa, meshCa",
            ),
        });
        assert.throws(
            () => planFromRawConfig({ ...at("apicClientCa", 1, "prepare"), caKeyAlgorithm: "ECDSA" }),
            /pki:caRotation.apicClientCa needs pki:caKeyAlgorithm RSA/,
        );
    });

    it("warns, from the first update, a stack with ECDSA CA keys that the lifecycle cannot rotate its issuing CAs, and what to do", () => {
        const ecdsa = (rotations: string) =>
            "pki:caKeyAlgorithm is ECDSA: the lifecycle cannot renew this stack's issuing CAs, since their staged rotations " +
            `(${rotations}) need RSA CA keys (a rotation publishes CRLs, which ECDSA signatures would change on every run), ` +
            "and their prepare is refused once one is due. Set pki:caKeyAlgorithm RSA: on a stack not deployed yet, now; " +
            "on a deployed one, in a change of its own well before the first issuing CA's renewal window opens " +
            "(pki:earlyRenewalDays.intermediate days before it expires), which re-issues every CA at once: see what diff says that breaks";
        const slots = "pki:caRotation.gatewayServerCa, pki:caRotation.apicClientCa, pki:caRotation.meshCa";
        assert.deepStrictEqual(updateWarnings(planFromRawConfig({ ...BASE, caKeyAlgorithm: "ECDSA" })), [ecdsa(slots)]);
        // A root's rotation is accepted with ECDSA keys: the warning names the issuing CAs only.
        assert.deepStrictEqual(
            updateWarnings(planFromRawConfig({ ...at("clientRoot", 1, "prepare"), caKeyAlgorithm: "ECDSA" })),
            [ecdsa(slots)],
        );
        assert.deepStrictEqual(updateWarnings(planFromRawConfig({ ...BASE, caKeyAlgorithm: "RSA" })), []);
    });
});

describe("A stack deployed with one shared root, the default before separate roots", function () {
    this.timeout(60_000);
    const message = (problem: string) => `invalid stack configuration:\n  - ${problem}`;
    // What those versions recorded (under the output's earlier name, caRotation): every CA under the root.
    const ca = (serialHex: string, issuer = "root") => ({ serialHex, notAfter: "2036-11-22T20:24:07.000Z", issuer });
    const sharedRootRecord = {
        positions: Object.fromEntries(
            ["root", "gatewayServerCa", "apicClientCa", "meshCa"].map((slot) => [
                slot,
                { generation: 0, phase: "finish" },
            ]),
        ),
        cas: {
            root: ca("5D3E7BFE74C2A88BDA8908598AED995F"),
            "gateway-server-ca": ca("2EDDD07E11813539C01C705EFB16DD3A"),
            "apic-client-ca": ca("4F59B4B3CA194626DE412D696B9BECE3"),
            "mesh-ca-east": ca("2253E1A11CE54381FB2DD0298DE3B5FE"),
        },
        retired: [],
    };
    const deployedSharedRoot = (): EngineState => {
        const state = seededState();
        saveStackOutputs(state, { caRotation: sharedRootRecord });
        return state;
    };
    const refusal =
        "pki:trustDomains is not set, so this version's default, separate, applies; but the deployed stack has one shared root (root), " +
        "the default of earlier versions, which this update would replace with 3 roots (mesh-root, server-root, client-root), " +
        "re-issuing every CA and certificate under it at once, outside a staged rotation " +
        "(the gateway would refuse the keystores APIC holds, and istiod's root would change with no overlap). " +
        "Set pki:trustDomains: shared to keep the deployed root; or, to move to separate roots, " +
        'set pki:trustDomains: separate and follow README "Moving a deployed stack to separate roots"';

    it("is refused by `pulumi up` when the stack file leaves pki:trustDomains to this version's default, before anything is registered", async () => {
        const { error, types } = await programOn(BASE, deployedSharedRoot());
        assert.strictEqual(error, message(refusal));
        assert.deepStrictEqual(types, ["pulumi:pulumi:StackReference"]);
    });

    it("is refused by render --state, whose state keeps the record under its earlier name, and nothing is written", async () => {
        const dir = tempDir("shared-root");
        const stateFile = path.join(dir, "state.json");
        const resources = [...deployedSharedRoot()];
        fs.writeFileSync(stateFile, JSON.stringify({ environment: BASE.environment, resources }), { mode: 0o600 });
        const before = fs.readFileSync(stateFile, "utf8");
        const config = writeTemp(
            dir,
            "dev.yaml",
            YAML.stringify({ config: Object.fromEntries(Object.entries(BASE).map(([k, v]) => [`pki:${k}`, v])) }),
        );
        const out = path.join(dir, "out");
        const refused = await cli("render", "--config", config, "--out", out, "--state", stateFile);
        assert.strictEqual(refused.status, 1);
        assert.ok(refused.err.includes(message(refusal)), refused.err);
        assert.deepStrictEqual([fs.existsSync(out), fs.readFileSync(stateFile, "utf8") === before], [false, true]);
    });

    it("has the lifecycle say that the stack file is refused, instead of nothing to change", () => {
        const decision = decideLifecycle({
            config: validateConfig(BASE),
            deployed: { inventory: [], record: parseRecord(sharedRootRecord) },
            now: new Date(),
            soakDays: 7,
            written: new Set(Object.keys(BASE)),
        });
        assert.deepStrictEqual(decision.needsHuman, [`the stack file is refused against what is deployed: ${refusal}`]);
    });

    it("refuses its stack file's rotation of the shared root, saying the default changed and how to keep the root", () => {
        // Such a stack rotated its shared root under the old default; the stack file names root but not the trust domains.
        const refused = (raw: Record<string, unknown>) =>
            assert.throws(() => planFromRawConfig(raw, { deployed: parseRecord(sharedRootRecord) }), {
                message: message(
                    "pki:caRotation.root names the shared root, but pki:trustDomains is not set, and its default is now separate (one root per trust domain), no longer shared as in earlier versions. " +
                        "Set pki:trustDomains: shared to keep the deployed shared root; with separate roots, its CAs are meshRoot, serverRoot, clientRoot, gatewayServerCa, apicClientCa, meshCa",
                ),
            });
        refused({ ...BASE, caRotation: { root: { generation: 1, phase: "prepare" } } });
        // As that message says: with the key written, the shared root's rotation goes on.
        const kept = planFromRawConfig(
            { ...BASE, trustDomains: "shared", caRotation: { root: { generation: 1, phase: "prepare" } } },
            { deployed: parseRecord(sharedRootRecord) },
        );
        assert.deepStrictEqual(
            kept.cas.filter((c) => c.role === "root").map((c) => c.id),
            ["root", "root-g1"],
        );
    });

    it("goes through with pki:trustDomains written: shared keeps the deployed root, separate moves on purpose", () => {
        const roots = (raw: Record<string, unknown>, record: unknown) =>
            planFromRawConfig(raw, { deployed: parseRecord(record) })
                .cas.filter((c) => c.role === "root")
                .map((c) => c.id);
        assert.deepStrictEqual(
            [
                roots({ ...BASE, trustDomains: "shared" }, sharedRootRecord),
                roots({ ...BASE, trustDomains: "separate" }, sharedRootRecord),
            ],
            [["root"], ["mesh-root", "server-root", "client-root"]],
        );
        // Separate roots deployed: this version's default is what is deployed.
        const separateRecord = { ...sharedRootRecord, cas: { "mesh-root": ca("01", "mesh-root") } };
        assert.deepStrictEqual(roots(BASE, separateRecord), ["mesh-root", "server-root", "client-root"]);
    });

    it("warns of a deployed root that leaves outside a staged rotation, but not of the one a root's finish retires", () => {
        const moved = planFromRawConfig(
            { ...BASE, trustDomains: "separate" },
            { deployed: parseRecord(sharedRootRecord) },
        );
        assert.deepStrictEqual(updateWarnings(moved), [
            "the deployed root CA root is replaced at this update, outside a staged rotation (pki:caRotation): every trust bundle drops it at once, " +
                "so whatever still holds a certificate under it, or only a bundle with it, is refused until it gets the new one. " +
                "Upload APIC's new keystores and truststores (apic/) as soon as it is gone, and restart istiod and roll the workloads (root is the mesh's root)",
        ]);
        // The mesh root's switch deployed (both generations on record), its finish planned: G0 goes as planned.
        const switched = parseRecord({
            ...sharedRootRecord,
            positions: { meshRoot: { generation: 1, phase: "switch" } },
            cas: { "mesh-root": ca("01", "mesh-root"), "mesh-root-g1": ca("02", "mesh-root-g1") },
        });
        const finish = { ...at("meshRoot", 1, "finish"), meshFinishAfterHours: 0 };
        assert.deepStrictEqual(updateWarnings(planFromRawConfig(finish, { deployed: switched })), []);
    });
});

describe("A deployed root replaced or removed outside a staged rotation", () => {
    const root = (serialHex: string, id: string) => [
        id,
        { serialHex, notAfter: "2036-11-22T20:24:07.000Z", issuer: id },
    ];
    const separateRecord = (...roots: string[]) =>
        parseRecord({ ...INITIAL_RECORD, cas: Object.fromEntries(roots.map((id, i) => root(`0${i + 1}`, id))) });

    it("warns, with the serials, of a root made here that an offline root of the same id replaces, and says only istiod needs it", () => {
        // The mesh root made by the stack (serial 01) deployed; then the ceremony's mesh root set in its place.
        const ceremony = opensslRoot(
            "rot mesh root CA",
            crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
            "0x1F",
        );
        const plan = planFromRawConfig(
            { ...BASE, offlineRoots: { meshRoot: { certificate: ceremony.certPem } } },
            { deployed: separateRecord("mesh-root", "server-root", "client-root") },
        );
        assert.deepStrictEqual(updateWarnings(plan), [
            "the deployed root CA mesh-root (deployed serial 1, now 1F) is replaced at this update, outside a staged rotation (pki:caRotation): " +
                "every trust bundle drops it at once, so whatever still holds a certificate under it, or only a bundle with it, is refused until it gets the new one. " +
                "As soon as it is gone, restart istiod and roll the workloads (mesh-root is the mesh's root)",
        ]);
        // The same certificate deployed: nothing is replaced.
        const serial = new crypto.X509Certificate(ceremony.certPem).serialNumber;
        const same = parseRecord({
            ...INITIAL_RECORD,
            cas: Object.fromEntries([root(serial, "mesh-root"), root("02", "server-root"), root("03", "client-root")]),
        });
        const kept = planFromRawConfig(
            { ...BASE, offlineRoots: { meshRoot: { certificate: ceremony.certPem } } },
            { deployed: same },
        );
        assert.deepStrictEqual(updateWarnings(kept), []);
    });

    it("says what to remove from APIC, not what to upload, when the UI client root leaves with the last UI caller", () => {
        const plan = planFromRawConfig(
            { ...BASE, frontEnd: { services: ["ui"], callers: [], apicHosts: ["apic.rot.api.bank.example"] } },
            { deployed: separateRecord("mesh-root", "server-root", "client-root", "ui-client-root") },
        );
        assert.deepStrictEqual(updateWarnings(plan), [
            "the deployed UI client root CA ui-client-root leaves the stack at this update with no root in its place: " +
                "no UI service calls APIC any more (pki:frontEnd.callers), so the UI client CA and its certificates go too. " +
                "Remove APIC's UI truststore and its TLS server profiles' client certificate requirement once it is deployed: this stack no longer renders them",
        ]);
    });
});

describe("A deployed root made here re-issued in place by a setting of its certificate", function () {
    this.timeout(120_000);
    const REISSUES = "in place, under their own ids";
    const BELOW = "and every CA and certificate below them, outside a staged rotation (pki:caRotation)";
    const MESH_BREAKS =
        "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate";
    const SERVER_BREAKS =
        "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded";
    const CLIENT_BREAKS =
        "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded";
    const ORGANIZATION_INSTEAD =
        "pki:organization: no staged rotation avoids it, since every generation's subject carries the organization: keep the deployed value, " +
        "or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore, restart istiod, and then the mesh workloads)";
    const RESTART_ISTIOD =
        "Restart istiod of every cluster (kubectl -n istio-system rollout restart deployment/istiod), then every workload: " +
        'the re-issued mesh root is another certificate, even with its key and subject, so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts.';
    /** The update after generation 0 of BASE with `change`: its warnings, then the render (real certificates) on a copy of the state. */
    const updateWith = async (change: Record<string, unknown>, label: string) => {
        const first = await deployedG0(BASE);
        const state: EngineState = new Map(first.state);
        const raw = { ...BASE, ...change };
        const warnings = updateWarnings(planFromRawConfig(raw, { deployed: deployedRecordOf(state) }));
        return { first: first.rendered, warnings, rendered: await renderNext(raw, label, state) };
    };
    const serials = (r: Rendered) =>
        ["mesh-root", "server-root", "client-root"].map(
            (id) => r.inventory.find((c) => c.id === id)?.serial ?? "absent",
        );

    it("warns, naming the setting, the roots and what breaks, when pki:organization changes, and the new gateway refuses APIC's keystore", async () => {
        const { first, warnings, rendered } = await updateWith(
            { organization: "Example Bank Pty Ltd" },
            "org-in-place",
        );
        assert.deepStrictEqual(warnings, [
            "pki:organization differs from the deployed value, and goes into the certificate of every root made here: " +
                `this update re-issues the root CAs mesh-root, server-root, client-root ${REISSUES}, with a new subject, ${BELOW}. ` +
                `What breaks at once: ${MESH_BREAKS}; ${SERVER_BREAKS}; ${CLIENT_BREAKS}. ${ORGANIZATION_INSTEAD}. ${RESTART_ISTIOD}`,
        ]);
        // What the warning says: the same ids, new certificates, and the gateway's new ca.crt refuses APIC's keystore.
        assert.ok(serials(rendered).every((serial, i) => serial !== serials(first)[i] && serial !== "absent"));
        const refused = await call(rendered, first);
        assert.deepStrictEqual(
            [refused.clientAuthorized, refused.clientError],
            [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"],
        );
    });

    it("says less of a new root validity alone: same key and subject, new serials, and the chains still verify", async () => {
        const { first, warnings, rendered } = await updateWith(
            { validityDays: { root: 3000, intermediate: 1095, leaf: 365 } },
            "root-validity-in-place",
        );
        assert.deepStrictEqual(warnings, [
            "pki:validityDays.root differs from the deployed value, and goes into the certificate of every root made here: " +
                `this update re-issues the root CAs mesh-root, server-root, client-root ${REISSUES}, with the same key and subject and a new serial, ${BELOW}. ` +
                "The roots keep their keys and subjects, so existing chains still verify; but every CA and leaf under them is re-issued in one update, " +
                `and APIC holds the old chain until its keystores and truststores are uploaded. ${RESTART_ISTIOD}`,
        ]);
        assert.ok(serials(rendered).every((serial, i) => serial !== serials(first)[i] && serial !== "absent"));
        const accepted = await call(rendered, first);
        assert.deepStrictEqual([accepted.clientAuthorized, accepted.clientError], [true, ""]);
    });

    it("leaves out an offline root, and a root's new generation that its staged rotation creates", () => {
        const ceremony = opensslRoot(
            "rot mesh root CA",
            crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
            "0x2F",
        );
        const offline = { meshRoot: { certificate: ceremony.certPem } };
        const deployedCa = (id: string, serialHex: string) => ({
            serialHex,
            notAfter: "2036-11-22T20:24:07.000Z",
            issuer: id,
        });
        const record = parseRecord({
            ...INITIAL_RECORD,
            cas: {
                "mesh-root": deployedCa("mesh-root", new crypto.X509Certificate(ceremony.certPem).serialNumber),
                "server-root": deployedCa("server-root", "02"),
                "client-root": deployedCa("client-root", "03"),
            },
            settings: settingDigests(validateConfig({ ...BASE, offlineRoots: offline })),
        });
        const warnings = (change: Record<string, unknown>) =>
            updateWarnings(planFromRawConfig({ ...BASE, offlineRoots: offline, ...change }, { deployed: record }));
        assert.deepStrictEqual(warnings({}), []);
        // The client root's prepare makes client-root-g1 under the new subject: expected, so not named.
        assert.deepStrictEqual(
            warnings({
                organization: "Example Bank Pty Ltd",
                caRotation: { clientRoot: { generation: 1, phase: "prepare" } },
            }),
            [
                "pki:organization differs from the deployed value, and goes into the certificate of every root made here: " +
                    `this update re-issues the root CAs server-root, client-root ${REISSUES}, with a new subject, ${BELOW}. ` +
                    `What breaks at once: ${SERVER_BREAKS}; ${CLIENT_BREAKS}. ${ORGANIZATION_INSTEAD}.`,
            ],
        );
    });
});

describe("render --state of a deployed stack", function () {
    this.timeout(120_000);
    /** A folder, render's --state file there after a first render of BASE, and `render` of other config on it. */
    const deployed = async (label: string) => {
        const dir = tempDir(label);
        const stackFile = (raw: Record<string, unknown>) =>
            writeTemp(
                dir,
                "dev.yaml",
                YAML.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
            );
        const stateFile = path.join(dir, "state.json");
        writeSeededStateFile(stateFile, BASE.environment); // the suite's keys (./engineKeys.ts), no deployment yet
        const render = (raw: Record<string, unknown>, out: string) =>
            cli("render", "--config", stackFile(raw), "--out", path.join(dir, out), "--state", stateFile);
        const first = await render(BASE, "out1");
        assert.deepStrictEqual([first.status, first.err], [0, ""]);
        return { dir, stateFile, render };
    };

    it("warns on stderr that a new pki:organization re-issues the deployed roots in place, and still renders", async () => {
        const { dir, stateFile } = await deployed("render-org-in-place");
        const config = writeTemp(
            dir,
            "renamed.yaml",
            YAML.stringify({
                config: Object.fromEntries(
                    Object.entries({ ...BASE, organization: "Example Bank Pty Ltd" }).map(([k, v]) => [`pki:${k}`, v]),
                ),
            }),
        );
        // As an operator runs it: render writes its warnings to the process's stderr.
        const main = path.join(__dirname, "../lib/cli/main.js");
        const args = ["render", "--config", config, "--out", path.join(dir, "out2"), "--state", stateFile];
        const renamed = spawnSync(process.execPath, [main, ...args], { encoding: "utf8" });
        assert.strictEqual(renamed.status, 0, renamed.stderr);
        assert.match(
            renamed.stderr,
            /^warning: pki:organization differs from the deployed value, and goes into the certificate of every root made here: this update re-issues the root CAs mesh-root, server-root, client-root in place, under their own ids, with a new subject, /,
        );
        assert.strictEqual(renamed.stderr.split("\n").filter((line) => line !== "").length, 1);
    });

    it("says only to restore the state file's previous copy of a record whose version is damaged, and writes nothing", async () => {
        const { dir, stateFile, render } = await deployed("render-damaged-version");
        const content = JSON.parse(fs.readFileSync(stateFile, "utf8")) as { resources: [string, unknown][] };
        const state: EngineState = new Map(content.resources as [string, never][]);
        const { deploymentRecord } = stackOutputsOf(state) as { deploymentRecord: Record<string, unknown> };
        saveStackOutputs(state, { deploymentRecord: { ...deploymentRecord, version: 1.5 } });
        fs.writeFileSync(stateFile, JSON.stringify({ ...content, resources: [...state] }), { mode: 0o600 });
        const before = fs.readFileSync(stateFile, "utf8");
        const refused = await render(BASE, "out2");
        assert.deepStrictEqual(
            [refused.status, refused.err],
            [
                2,
                `error: --state ${stateFile}: its deploymentRecord.version holds a number, not an integer; restore the state file's previous copy\n`,
            ],
        );
        assert.deepStrictEqual(
            [fs.existsSync(path.join(dir, "out2")), fs.readFileSync(stateFile, "utf8") === before],
            [false, true],
        );
    });
});

describe("A CA switch and an APIC client rotation under way together", () => {
    // What the deployed record says of endpoint ob's APIC keys: epoch 0 (what APIC may still hold) and epoch 1.
    const key = (epoch: number, serialHex: string, spki: string) => ({
        epoch,
        serialHex,
        spki,
        notAfter: "2099-01-01T00:00:00.000Z",
        issuer: "apic-client-ca",
    });
    const clients = { ob: [key(0, "0A", "key-of-epoch-0="), key(1, "0B", "key-of-epoch-1=")] };
    const since = "2026-11-02T00:00:00.000Z";
    const clientSwitch = { ob: { clientEpoch: 1, clientPhase: "switch" } };
    const record = (apicClientCa: { generation: number; phase: string }, ob: "switch" | "finish") =>
        ({
            ...INITIAL_RECORD,
            positions: { ...INITIAL_RECORD.positions, apicClientCa },
            clients,
            clientPhases: { ob: { phase: ob, epoch: 1, since } },
        }) as RotationRecord;
    const refusal = (why: string, step: string) =>
        `invalid stack configuration:\n  - the APIC client of endpoint "ob" would get a new key (epoch 2) while the deployed update pins two of its keys, ` +
        `epoch 0 (serial 0A) and epoch 1, for ${why}: the gateway pins only the new key and the one before it, so the key of epoch 0, ` +
        `which APIC may still use, would be refused at once. Finish that first: once APIC uses the keystore of epoch 1, deploy ${step}; then make the new key`;

    it("refuses a new APIC key that would unpin the one a rotation under way keeps for APIC, in either order", () => {
        // The CA's switch re-issues ob's client while ob's own switch still pins its key of epoch 0.
        assert.throws(
            () =>
                planFromRawConfig(
                    { ...at("apicClientCa", 1, "switch"), rotation: { endpoints: clientSwitch } },
                    { deployed: record({ generation: 1, phase: "prepare" }, "switch") },
                ),
            {
                message: refusal(
                    "its switch phase (pki:rotation.endpoints.ob.clientPhase or pki:rotation.apicClientPhase)",
                    "its clientPhase at finish",
                ),
            },
        );
        // ob's own rotation starts while the CA's switch pins the key of the CA it replaces.
        assert.throws(
            () =>
                planFromRawConfig(
                    { ...at("apicClientCa", 1, "switch"), rotation: { endpoints: clientSwitch } },
                    { deployed: record({ generation: 1, phase: "switch" }, "finish") },
                ),
            {
                message: refusal(
                    "the switch of pki:caRotation.apicClientCa",
                    "pki:caRotation.apicClientCa at phase finish",
                ),
            },
        );
        // In order: ob's rotation finished (APIC holds epoch 1), then the CA's switch pins epochs 1 and 2.
        const plan = planFromRawConfig(
            { ...at("apicClientCa", 1, "switch"), rotation: { endpoints: { ob: { clientEpoch: 1 } } } },
            { deployed: record({ generation: 1, phase: "prepare" }, "finish") },
        );
        const ob = plan.endpoints.find((e) => e.id === "ob");
        assert.deepStrictEqual([ob?.client.epoch, ob?.pinnedPreviousClients.map((c) => c.epoch)], [2, [1]]);
    });

    it("has the diff of the pull request refuse them too, from the stack files alone", () => {
        const refused = (base: Record<string, unknown>, head: Record<string, unknown>) =>
            diffPlans(planFromRawConfig(base), planFromRawConfig(head)).refused;
        const problem = (why: string, step: string) =>
            `the APIC client of endpoint "ob" would get a new key (epoch 2) while the deployed update may pin two of its keys, ` +
            `epoch 1 and the one before it, for ${why}: the gateway pins only the new key and the one before it, so the key before epoch 1, ` +
            `which APIC may still use, would be refused at once. Finish that first: once APIC uses the keystore of epoch 1, deploy ${step}; then make the new key. ` +
            "The stack files cannot tell whether it has that key: an endpoint added since that began has none, and pulumi up, which reads the deployment record, takes its new key";
        const obSwitch = (phase: string) => ({
            ...at("apicClientCa", 1, phase),
            rotation: { endpoints: clientSwitch },
        });
        assert.deepStrictEqual(refused(obSwitch("prepare"), obSwitch("switch")), [
            {
                key: "pki:rotation.endpoints.ob",
                problem: problem(
                    "its switch phase (pki:rotation.endpoints.ob.clientPhase or pki:rotation.apicClientPhase)",
                    "its clientPhase at finish",
                ),
            },
        ]);
        assert.deepStrictEqual(refused(at("apicClientCa", 1, "switch"), obSwitch("switch")), [
            {
                key: "pki:rotation.endpoints.ob",
                problem: problem(
                    "the switch of pki:caRotation.apicClientCa",
                    "pki:caRotation.apicClientCa at phase finish",
                ),
            },
        ]);
        const finished = (phase: string) => ({
            ...at("apicClientCa", 1, phase),
            rotation: { endpoints: { ob: { clientEpoch: 1 } } },
        });
        assert.deepStrictEqual(refused(finished("prepare"), finished("switch")), []);
    });
});

describe("A CA retired by a finish phase", () => {
    it("is revoked at the start of the CRL period, or when it was issued if that is later, since the offline ceremony refuses a revocation dated before its certificate", () => {
        const now = new Date("2026-11-24T05:00:00Z"); // in the 7-day CRL period from 2026-11-19T00:00:00Z
        const revokedAt = (notBefore: string | undefined): string[] =>
            retiredAfter({
                deployed: {
                    ...INITIAL_RECORD,
                    cas: {
                        "apic-client-ca": {
                            serialHex: "0A",
                            ...(notBefore !== undefined ? { notBefore } : {}),
                            notAfter: "2029-11-20T00:00:00.000Z",
                            issuer: "client-root",
                        },
                    },
                },
                finishing: [{ slotKey: "pki:caRotation.apicClientCa", outgoingId: "apic-client-ca" }],
                liveRootIds: ["client-root"],
                now,
                crlPeriodDays: 7,
            }).retired.map((r) => r.revokedAt);
        assert.deepStrictEqual(revokedAt("2026-11-20T10:00:00.000Z"), ["2026-11-20T10:00:00.000Z"]);
        assert.deepStrictEqual(revokedAt("2026-01-05T00:00:00.000Z"), ["2026-11-19T00:00:00.000Z"]);
        // A record of an earlier version has no notBefore: the period's start, as before.
        assert.deepStrictEqual(revokedAt(undefined), ["2026-11-19T00:00:00.000Z"]);
    });

    it("is told from an earlier CA of the same id by its serial: a cluster removed (its mesh CA retired) and added again gets a new CA, which a finish revokes too", () => {
        const ca = (serialHex: string) => ({
            serialHex,
            notBefore: "2026-06-01T00:00:00.000Z",
            notAfter: "2029-06-01T00:00:00.000Z",
            issuer: "mesh-root",
        });
        const args = {
            liveRootIds: ["mesh-root"],
            now: new Date("2026-11-24T05:00:00Z"),
            crlPeriodDays: 7,
        };
        const removed = retiredAfter({
            ...args,
            deployed: { ...INITIAL_RECORD, cas: { "mesh-ca-west": ca("0A") } },
            finishing: [],
            leaving: ["mesh-ca-west"],
        }).retired;
        const finished = retiredAfter({
            ...args,
            deployed: { ...INITIAL_RECORD, cas: { "mesh-ca-west": ca("0B") }, retired: removed },
            finishing: [{ slotKey: "pki:caRotation.meshCa", outgoingId: "mesh-ca-west" }],
        }).retired;
        assert.deepStrictEqual(
            finished.map((r) => [r.id, r.serialHex, r.revokedAt]),
            [
                ["mesh-ca-west", "0A", "2026-11-19T00:00:00.000Z"],
                ["mesh-ca-west", "0B", "2026-11-19T00:00:00.000Z"],
            ],
        );
    });
});
