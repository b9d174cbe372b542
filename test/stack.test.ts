import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { EngineState, runWithStandIn, saveStackOutputs, stackOutputsOf } from "../lib/engine/standIn";
import { planFromRawConfig } from "../lib/plan/plan";
import { buildPki } from "../lib/stack";
import { loadStackFile, newStackState, OPTION_FILES, renderNext, renderStackFile, sharedState } from "./helpers";

const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

describe("The stack program", function () {
    this.timeout(120_000);

    it("wraps every private key it hands out in pulumi.secret (components and stack outputs)", async () => {
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[1]));
        const { returned } = await runWithStandIn(() => buildPki(plan), { state: sharedState });
        assert.deepStrictEqual(Object.keys(returned.roots), ["mesh-root", "server-root", "client-root"]);
        const keys: [string, pulumi.Output<string>][] = [
            ...Object.entries(returned.roots).map(([id, root]): [string, pulumi.Output<string>] => [
                id,
                root.privateKeyPem,
            ]),
            ["gateway-server-ca", returned.gatewayServerCa.privateKeyPem],
            ["apic-client-ca", returned.apicClientCa.privateKeyPem],
            ...Object.entries(returned.meshCas).map(([c, ca]): [string, pulumi.Output<string>] => [
                `mesh ${c}`,
                ca.privateKeyPem,
            ]),
            ...returned.gateways.flatMap((g) => Object.entries(g.serverPrivateKeyPems)),
            ...Object.entries(returned.outputs.apicBundles).map(([id, b]): [string, pulumi.Output<string>] => [
                id,
                b.privateKeyPem,
            ]),
        ];
        assert.strictEqual(keys.length, 3 + 2 + 1 + 2 + 2);
        for (const [name, key] of keys)
            assert.strictEqual(await pulumi.isSecret(key), true, `${name} key is not secret`);
        for (const cert of [returned.outputs.trustAnchors.gatewayClients, returned.outputs.apicBundles.ob.certPem]) {
            assert.strictEqual(await pulumi.isSecret(cert), false, "certificates stay readable");
        }
    });

    it("puts no private key in plain stack outputs or in inventory.json", async () => {
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[3]));
        const { outputs } = await runWithStandIn(() => buildPki(plan).outputs, { state: sharedState });
        const { apicBundles, ...plain } = outputs;
        assert.doesNotMatch(JSON.stringify(plain), PRIVATE_KEY);
        for (const bundle of Object.values(apicBundles)) {
            const { privateKeyPem, ...rest } = bundle;
            assert.match(privateKeyPem, PRIVATE_KEY);
            assert.doesNotMatch(JSON.stringify(rest), PRIVATE_KEY);
        }
        const rendered = await renderStackFile(OPTION_FILES[3]);
        const inventory = rendered.read("inventory.json");
        assert.doesNotMatch(inventory, PRIVATE_KEY);
        assert.doesNotMatch(inventory, /-----BEGIN/);
    });

    it("registers identical inputs when run twice on the same config (a preview shows no change)", async () => {
        // One clock for both runs, as one preview has: a CRL period may start between two clock reads.
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[3]), { now: new Date() });
        const state = new Map(sharedState); // CA keys from earlier tests; the two runs below share one state
        const first = await runWithStandIn(() => buildPki(plan).outputs, { state });
        const second = await runWithStandIn(() => buildPki(plan).outputs, { state });
        const inputs = (run: typeof first): Record<string, unknown> =>
            Object.fromEntries(run.engine.resources.map((r) => [`${r.type}::${r.name}`, r.inputs]));
        assert.strictEqual(first.engine.resources.length, second.engine.resources.length);
        assert.deepStrictEqual(inputs(second), inputs(first));
    });

    it("changes no stack output at a second update of the same config an hour later (deploymentRecord included)", async () => {
        const raw = loadStackFile("stacks/Pulumi.dev.yaml");
        const state = newStackState();
        const first = new Date("2027-03-02T09:00:00Z");
        await renderNext(raw, "outputs-first", state, first);
        const outputsAfterFirst = structuredClone(stackOutputsOf(state));
        await renderNext(raw, "outputs-second", state, new Date(first.getTime() + 3_600_000));
        assert.ok(Object.keys(outputsAfterFirst).includes("deploymentRecord"));
        assert.deepStrictEqual(stackOutputsOf(state), outputsAfterFirst);
    });

    it("registers for every leaf exactly the certificate the plan (and so inventory and diff) describes", async () => {
        const plan = planFromRawConfig({
            ...loadStackFile(OPTION_FILES[3]),
            rotation: { endpoints: { "ob-core": { serverEpoch: 2 } } },
        });
        const { engine } = await runWithStandIn(() => buildPki(plan), { state: sharedState });
        const byName = new Map(engine.resources.map((r) => [r.name, r.inputs]));
        for (const e of plan.endpoints) {
            for (const [leaf, prefix] of [
                [e.server, `${e.domain}-gateway-${e.id}-server`],
                [e.client, `${e.id}-apic-client`],
            ] as const) {
                const name = leaf.epoch === 0 ? prefix : `${prefix}-r${leaf.epoch}`;
                const csr = byName.get(`${name}-csr`);
                const cert = byName.get(`${name}-cert`);
                const key = byName.get(`${name}-key`);
                assert.ok(csr && cert && key, `${name} registered`);
                assert.deepStrictEqual(csr.subject, { ...leaf.subject });
                assert.deepStrictEqual(csr.dnsNames ?? [], leaf.dnsNames);
                assert.deepStrictEqual(csr.uris ?? [], leaf.uris);
                assert.deepStrictEqual(cert.allowedUses, leaf.allowedUses);
                assert.strictEqual(cert.validityPeriodHours, leaf.validityDays * 24);
                // The renewal point is the lifecycle's; the provider is given no window of its own.
                assert.strictEqual(cert.earlyRenewalHours, 0);
                assert.strictEqual(leaf.earlyRenewalDays, 121);
                assert.strictEqual(key.rsaBits, leaf.key.rsaBits);
            }
        }
        assert.ok(byName.has("ob-gateway-ob-core-server-r2-cert"));
        // No certificate of the stack, CAs included, is re-issued by the provider ahead of its expiry.
        const certs = engine.resources.filter((r) => /^tls:index\/(selfSigned|locallySigned)Cert:/.test(r.type));
        assert.deepStrictEqual(
            certs.filter((r) => r.inputs.earlyRenewalHours !== 0).map((r) => r.name),
            [],
        );
        assert.ok(certs.some((r) => r.inputs.isCaCertificate === true && r.type.includes("selfSigned")));
    });

    it("pins child resource names, types and parents' type tokens (renames break state)", async () => {
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[1]));
        const { engine } = await runWithStandIn(() => buildPki(plan), { state: sharedState });
        const names = engine.resources.map((r) => `${r.type} ${r.name}`).sort();
        assert.deepStrictEqual(names, [
            "apic-istio-pki:index:ApicClientBundle dp-apic-client",
            "apic-istio-pki:index:ApicClientBundle ob-apic-client",
            "apic-istio-pki:index:IntermediateCa apic-client-ca",
            "apic-istio-pki:index:IntermediateCa gateway-server-ca",
            "apic-istio-pki:index:IstioGatewayTls dp-gateway",
            "apic-istio-pki:index:IstioGatewayTls ob-gateway",
            "apic-istio-pki:index:MeshPluginCa mesh-ca-example",
            "apic-istio-pki:index:RootCa client-root-ca",
            "apic-istio-pki:index:RootCa mesh-root-ca",
            "apic-istio-pki:index:RootCa server-root-ca",
            "kubernetes:core/v1:Secret dp-gateway-dp-tls",
            "kubernetes:core/v1:Secret mesh-ca-example-cacerts",
            "kubernetes:core/v1:Secret ob-gateway-ob-tls",
            "kubernetes:networking.istio.io/v1:Gateway dp-gateway-gateway",
            "kubernetes:networking.istio.io/v1:Gateway ob-gateway-gateway",
            "pulumi:providers:kubernetes example",
            "random:index/randomPassword:RandomPassword dp-apic-client-p12-password",
            "random:index/randomPassword:RandomPassword ob-apic-client-p12-password",
            "tls:index/certRequest:CertRequest apic-client-ca-csr",
            "tls:index/certRequest:CertRequest dp-apic-client-csr",
            "tls:index/certRequest:CertRequest dp-gateway-dp-server-csr",
            "tls:index/certRequest:CertRequest gateway-server-ca-csr",
            "tls:index/certRequest:CertRequest mesh-ca-example-csr",
            "tls:index/certRequest:CertRequest ob-apic-client-csr",
            "tls:index/certRequest:CertRequest ob-gateway-ob-server-csr",
            "tls:index/locallySignedCert:LocallySignedCert apic-client-ca-cert",
            "tls:index/locallySignedCert:LocallySignedCert dp-apic-client-cert",
            "tls:index/locallySignedCert:LocallySignedCert dp-gateway-dp-server-cert",
            "tls:index/locallySignedCert:LocallySignedCert gateway-server-ca-cert",
            "tls:index/locallySignedCert:LocallySignedCert mesh-ca-example-cert",
            "tls:index/locallySignedCert:LocallySignedCert ob-apic-client-cert",
            "tls:index/locallySignedCert:LocallySignedCert ob-gateway-ob-server-cert",
            "tls:index/privateKey:PrivateKey apic-client-ca-key",
            "tls:index/privateKey:PrivateKey client-root-ca-key",
            "tls:index/privateKey:PrivateKey dp-apic-client-key",
            "tls:index/privateKey:PrivateKey dp-gateway-dp-server-key",
            "tls:index/privateKey:PrivateKey gateway-server-ca-key",
            "tls:index/privateKey:PrivateKey mesh-ca-example-key",
            "tls:index/privateKey:PrivateKey mesh-root-ca-key",
            "tls:index/privateKey:PrivateKey ob-apic-client-key",
            "tls:index/privateKey:PrivateKey ob-gateway-ob-server-key",
            "tls:index/privateKey:PrivateKey server-root-ca-key",
            "tls:index/selfSignedCert:SelfSignedCert client-root-ca-cert",
            "tls:index/selfSignedCert:SelfSignedCert mesh-root-ca-cert",
            "tls:index/selfSignedCert:SelfSignedCert server-root-ca-cert",
        ]);
        const kube = engine.kubernetesObjects();
        assert.ok(
            kube.every((r) => r.providerName === "example"),
            "every Kubernetes object goes through the cluster's provider",
        );
    });

    it("sends the key inputs the real provider needs: CA keys RSA 4096, leaves RSA 2048, ECDSA never P-224", async () => {
        const raw = { ...loadStackFile(OPTION_FILES[1]), keyAlgorithm: "ECDSA", caKeyAlgorithm: "ECDSA" };
        const { engine } = await runWithStandIn(() => buildPki(planFromRawConfig(raw)), { state: new Map() });
        const keys = engine.byType("tls:index/privateKey:PrivateKey");
        for (const key of keys) {
            assert.strictEqual(key.inputs.algorithm, "ECDSA");
            assert.strictEqual(key.inputs.ecdsaCurve, /ca(-example)?-key$/.test(key.name) ? "P384" : "P256", key.name);
        }
        const leafCert = engine.resources.find((r) => r.name === "ob-gateway-ob-server-cert");
        assert.deepStrictEqual(
            leafCert?.inputs.allowedUses,
            ["digital_signature", "server_auth"],
            "no keyEncipherment on ECDSA",
        );
        const rsa = await runWithStandIn(() => buildPki(planFromRawConfig(loadStackFile(OPTION_FILES[1]))), {
            state: sharedState,
        });
        const bits = Object.fromEntries(
            rsa.engine.byType("tls:index/privateKey:PrivateKey").map((k) => [k.name, k.inputs.rsaBits]),
        );
        for (const root of ["mesh-root-ca-key", "server-root-ca-key", "client-root-ca-key"])
            assert.strictEqual(bits[root], 4096, root);
        assert.strictEqual(bits["apic-client-ca-key"], 4096);
        assert.strictEqual(bits["ob-apic-client-key"], 2048);
        const root = rsa.engine.resources.find((r) => r.name === "client-root-ca-cert");
        assert.strictEqual(root?.inputs.maxPathLength, 1);
        assert.strictEqual(root?.inputs.isCaCertificate, true);
    });
});

describe("Istio Gateway objects", function () {
    this.timeout(120_000);

    it("validate against the Istio networking.istio.io/v1 Gateway schema, and the schema check can fail", async () => {
        // Istio serves networking.istio.io/v1 with the v1beta1 schema unchanged (Istio 1.22); the
        // last @kubernetes-models/istio that runs on Node 20 has that schema as v1beta1.
        const { Gateway } = await import("@kubernetes-models/istio/networking.istio.io/v1beta1");
        for (const option of [1, 2, 3] as const) {
            const rendered = await renderStackFile(OPTION_FILES[option]);
            const gateways = rendered.engine.byType("kubernetes:networking.istio.io/v1:Gateway");
            assert.strictEqual(gateways.length, 2);
            for (const g of gateways) {
                const { apiVersion: _a, kind: _k, ...rest } = g.inputs;
                new Gateway(rest as ConstructorParameters<typeof Gateway>[0]).validate();
            }
        }
        const broken = new Gateway({
            metadata: { name: "x" },
            spec: {
                servers: [
                    {
                        port: { number: 443, name: "https", protocol: "HTTPS" },
                        hosts: ["a.b"],
                        tls: { mode: "MUTUAL", minProtocolVersion: "TLS1_2" as "TLSV1_2" },
                    },
                ],
            },
        });
        assert.throws(() => broken.validate(), /minProtocolVersion must be equal to one of the allowed values/);
    });
});

describe("The Pulumi entry point (lib/program.ts)", function () {
    this.timeout(120_000);

    /** Runs lib/program.ts on `raw` as `pulumi up` passes stack config, with the warnings it logs. */
    async function runEntryPoint(raw: Record<string, unknown>, state: EngineState) {
        pulumi.runtime.setAllConfig(
            Object.fromEntries(
                Object.entries(raw).map(([k, v]) => [`pki:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
            ),
            [],
        );
        // Without an engine (mocks), pulumi.log.warn writes "warning: [runtime] <message>" to console.warn.
        const warnings: string[] = [];
        const consoleWarn = console.warn;
        console.warn = (message: unknown) => warnings.push(String(message));
        try {
            const { outputs } = await runWithStandIn(
                () => {
                    const modulePath = require.resolve("../lib/program");
                    delete require.cache[modulePath];
                    // eslint-disable-next-line @typescript-eslint/no-require-imports
                    return (require(modulePath) as () => Promise<ReturnType<typeof buildPki>["outputs"]>)();
                },
                { state },
            );
            return { outputs, warnings };
        } finally {
            console.warn = consoleWarn;
            pulumi.runtime.setAllConfig({}, []);
        }
    }

    it("reads pki:* config the way `pulumi up` passes it and exports the endpoints", async () => {
        const { outputs } = await runEntryPoint(loadStackFile("stacks/Pulumi.dev.yaml"), sharedState);
        assert.deepStrictEqual(
            outputs.endpoints.map((e) => [e.host, e.credentialName]),
            [
                ["dp.dev.api.bank.example", "apic-mtls-dp"],
                ["ob.dev.api.bank.example", "apic-mtls-ob"],
            ],
        );
    });

    it("warns of certificates that expired while kept at their epoch, on the update that re-issues them", async () => {
        const raw = loadStackFile("stacks/Pulumi.dev.yaml");
        const state = newStackState();
        const first = await runEntryPoint(raw, state);
        assert.deepStrictEqual(first.warnings, []);
        // The deployed record as it stands once dp's client certificate and the APIC client CA have
        // passed their notAfter (the record is what the program reads back; its clock is real time).
        const { deploymentRecord } = stackOutputsOf(state) as {
            deploymentRecord: {
                cas: Record<string, { notAfter: string }>;
                clients: Record<string, { notAfter: string }[]>;
            };
        };
        const expired = (record: Record<string, unknown>) => {
            const tampered = structuredClone(record) as typeof deploymentRecord;
            tampered.cas["apic-client-ca"].notAfter = "2026-01-02T03:04:05.000Z";
            tampered.clients.dp[0].notAfter = "2026-01-03T03:04:05.000Z";
            saveStackOutputs(state, { deploymentRecord: tampered });
        };
        const warning =
            "warning: [runtime] CA apic-client-ca (expired 2026-01-02), dp/client (expired 2026-01-03): " +
            "@pulumi/tls re-issues them at this update, in place with the same key, and every certificate below a CA. " +
            "Then upload APIC's new keystores and truststores (apic/), restart istiod if a mesh CA or root is among them, " +
            "and give each a new key (raise its epoch in pki:rotation, or a CA's pki:caRotation): ";
        expired(deploymentRecord);
        assert.deepStrictEqual((await runEntryPoint(raw, state)).warnings, [`${warning}the lifecycle proposes it`]);
        // A record of an earlier version keeps no key ages: the lifecycle cannot tell, and the warning says so.
        const { keys: _keys, ...earlier } = deploymentRecord as Record<string, unknown>;
        expired(earlier);
        assert.deepStrictEqual((await runEntryPoint(raw, state)).warnings, [
            `${warning}the deployed record, of an earlier version, does not say how old the keys are, so the lifecycle will not propose it`,
        ]);
    });

    /**
     * The dev stack deployed once; `refusedWith(outputs)` saves those outputs as the deployed
     * stack's and returns the message of the RunError the next update stops with.
     */
    async function deployedDev() {
        const raw = loadStackFile("stacks/Pulumi.dev.yaml");
        const state = newStackState();
        await runEntryPoint(raw, state);
        const { deploymentRecord } = stackOutputsOf(state) as { deploymentRecord: Record<string, unknown> };
        const refusedWith = async (outputs: Record<string, unknown>): Promise<string> => {
            saveStackOutputs(state, outputs);
            const failure = await runEntryPoint(raw, state).then(
                () => undefined,
                (error: Error) => error,
            );
            assert.ok(pulumi.RunError.isInstance(failure), String(failure));
            return failure.message;
        };
        return { raw, state, deploymentRecord, refusedWith };
    }

    it("refuses a damaged deployment record by the field it damages, as Pulumi prints a RunError, not with a TypeError", async () => {
        const { deploymentRecord, refusedWith } = await deployedDev();
        // As `pulumi stack export`, a hand edit and `pulumi stack import` leave it.
        const refusalOf = (damage: (record: Record<string, Record<string, unknown>>) => void) => {
            const damaged = structuredClone(deploymentRecord) as Record<string, Record<string, unknown>>;
            damage(damaged);
            return refusedWith({ deploymentRecord: damaged });
        };
        const refusal = (problem: string) =>
            `the deployed stack's output deploymentRecord.${problem}; ` +
            "restore the stack's previous state (pulumi stack history), or remove the damaged entry, before the next update";
        assert.deepStrictEqual(
            [
                await refusalOf((r) => (r.positions = null as never)),
                await refusalOf((r) => (r.cas = null as never)),
                await refusalOf((r) => ((r.cas["mesh-root"] as Record<string, unknown>).notAfter = null)),
                await refusalOf((r) => ((r.clients.dp as Record<string, unknown>[])[0].notAfter = null)),
                await refusalOf((r) => ((r.clients.dp as unknown[])[0] = null)),
            ],
            [
                refusal("positions holds null, not a map"),
                refusal("cas holds null, not a map"),
                refusal("cas.mesh-root.notAfter holds null, not an ISO 8601 time"),
                refusal("clients.dp[0].notAfter holds null, not an ISO 8601 time"),
                refusal("clients.dp[0] holds null, not a map"),
            ],
        );
    });

    it("records its format version, and refuses a record of a newer one, saying to upgrade rather than to repair it", async () => {
        const { raw, state, deploymentRecord, refusedWith } = await deployedDev();
        assert.strictEqual(deploymentRecord.version, 1);
        // A newer format, with a field this version does not know and one it would read as damaged.
        assert.strictEqual(
            await refusedWith({
                deploymentRecord: { ...deploymentRecord, version: 2, retiredRoots: [], positions: "moved" },
            }),
            "the deployed stack's output deploymentRecord.version is 2: a newer version of apic-istio-pki wrote it, and this one, " +
                "which reads records up to version 1, would drop what it does not know (such as retired roots' pins); " +
                "upgrade apic-istio-pki to the version that deployed the stack, or a later one",
        );
        // A record without a version is one of an earlier version, read as before.
        const { version: _version, ...earlier } = deploymentRecord;
        saveStackOutputs(state, { deploymentRecord: earlier });
        await runEntryPoint(raw, state);
        assert.strictEqual((stackOutputsOf(state).deploymentRecord as Record<string, unknown>).version, 1);
    });

    it("refuses a record whose format version is not an integer from 1 up as damaged, saying only to restore it", async () => {
        const { deploymentRecord, refusedWith } = await deployedDev();
        const refusal = (version: unknown) => refusedWith({ deploymentRecord: { ...deploymentRecord, version } });
        // Removing the damaged version would read the record as one of an earlier version: only a restore repairs it.
        const damaged = (holds: string) =>
            `the deployed stack's output deploymentRecord.version holds ${holds}; ` +
            "restore the stack's previous state (pulumi stack history), before the next update";
        assert.deepStrictEqual(
            [await refusal(0), await refusal(-1), await refusal("1"), await refusal(1.5), await refusal(null)],
            [
                damaged("0, not a format version (an integer from 1 up)"),
                damaged("-1, not a format version (an integer from 1 up)"),
                damaged("a string, not an integer"),
                damaged("a number, not an integer"),
                damaged("null, not an integer"),
            ],
        );
    });

    it("refuses a deploymentRecord output that holds null as damaged, rather than deploying as a new stack", async () => {
        const { refusedWith } = await deployedDev();
        assert.strictEqual(
            await refusedWith({ deploymentRecord: null }),
            "the deployed stack's output deploymentRecord holds null, not a map; " +
                "restore the stack's previous state (pulumi stack history), before the next update",
        );
    });

    it("warns on the update that re-issues the deployed roots in place, under their own ids, since pki:organization changed", async () => {
        const raw = loadStackFile("stacks/Pulumi.dev.yaml");
        const state = newStackState();
        assert.deepStrictEqual((await runEntryPoint(raw, state)).warnings, []);
        const renamed = { ...raw, organization: "Example Bank Pty Ltd" };
        const { warnings } = await runEntryPoint(renamed, state);
        assert.deepStrictEqual(warnings, [
            "warning: [runtime] pki:organization differs from the deployed value, and goes into the certificate of every root made here: " +
                "this update re-issues the root CAs mesh-root, server-root, client-root in place, under their own ids, with a new subject, " +
                "and every CA and certificate below them, outside a staged rotation (pki:caRotation). What breaks at once: " +
                "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate; " +
                "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded; " +
                "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded. " +
                "pki:organization: no staged rotation avoids it, since every generation's subject carries the organization: keep the deployed value, " +
                "or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore, restart istiod, and then the mesh workloads). " +
                "Restart istiod of every cluster (kubectl -n istio-system rollout restart deployment/istiod), then every workload: " +
                'the re-issued mesh root is another certificate, even with its key and subject, so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts.',
        ]);
        // Deployed: the record holds the new value, and the next update says nothing.
        assert.deepStrictEqual((await runEntryPoint(renamed, state)).warnings, []);
    });

    it("stops on bad config with an error Pulumi prints as its message alone (a RunError), registering nothing", async () => {
        const raw = { ...loadStackFile("stacks/Pulumi.dev.yaml"), option: 4 };
        const state: EngineState = new Map();
        const failure = await runEntryPoint(raw, state).then(
            () => undefined,
            (error: Error) => error,
        );
        // What Pulumi's Node host checks to print the message without a stack trace.
        assert.ok(pulumi.RunError.isInstance(failure), String(failure));
        assert.strictEqual(failure.message, "invalid stack configuration:\n  - pki:option must be 1, 2 or 3; got 4");
        assert.deepStrictEqual([...state.keys()], []);
    });
});
