import * as assert from "assert";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { EngineState, runWithStandIn, saveStackOutputs } from "../lib/engine/standIn";
import { MeshPluginCa } from "../lib/components/meshPluginCa";
import { RootCa } from "../lib/components/rootCa";
import { parseCrl } from "../lib/pki/crl";
import { pemBlocks as pemBlocksOf } from "../lib/pki/pem";
import { INITIAL_RECORD, RotationRecord } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf, renderPlan } from "../lib/render/render";
import { diffMarkdown } from "../lib/cli/diff";
import { diffPlans } from "../lib/inventory/diff";
import { decide, istiodRefusal, istiodReloadRefusal, sidecarCheck, summary } from "./consumers";
import { seededState } from "./engineKeys";
import {
    Cacerts,
    cacerts,
    emptyCrlOf,
    gatewayServerConfig,
    mintLeaf,
    mintRoot,
    mintSubCa,
    openssl,
    pemBlocks,
    refusalText,
    Rendered,
    renderNext,
    renderStackFile,
    sharedState,
    sidecars,
    tempDir,
    workload,
    writeTemp,
} from "./helpers";

const MULTI = "examples/multi-cluster/Pulumi.multi-cluster.yaml";

describe("MeshPluginCa: istiod plug-in CA per cluster", function () {
    this.timeout(120_000);
    let rendered: Rendered;
    let east: Cacerts;
    let west: Cacerts;
    before(async () => {
        rendered = await renderStackFile(MULTI);
        east = cacerts(rendered, "east");
        west = cacerts(rendered, "west");
    });

    it("writes cacerts with exactly the four keys Istio reads, in each cluster's folder", () => {
        for (const ca of [east, west]) {
            assert.deepStrictEqual(Object.keys(ca).sort(), [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem",
            ]);
        }
        const secret = YAML.parse(rendered.read("k8s/west/istio-system/secret-cacerts.yaml"));
        assert.deepStrictEqual(secret.metadata, { name: "cacerts", namespace: "istio-system" });
        assert.strictEqual(secret.type, "Opaque");
    });

    it("puts a key that matches the certificate, and cert-chain.pem = intermediate then root", () => {
        for (const ca of [east, west]) {
            const certKey = new crypto.X509Certificate(ca["ca-cert.pem"]).publicKey.export({
                type: "spki",
                format: "der",
            });
            const privateKey = crypto.createPublicKey(ca["ca-key.pem"]).export({ type: "spki", format: "der" });
            assert.ok(certKey.equals(privateKey), "ca-key.pem matches ca-cert.pem");
            assert.deepStrictEqual(pemBlocks(ca["cert-chain.pem"]), [ca["ca-cert.pem"], ca["root-cert.pem"]]);
        }
    });

    it("verifies ca-cert.pem against root-cert.pem with openssl, as a CA with the cluster in its name", () => {
        const dir = tempDir("mesh");
        for (const [cluster, ca] of [
            ["east", east],
            ["west", west],
        ] as const) {
            const result = openssl([
                "verify",
                "-x509_strict",
                "-CAfile",
                writeTemp(dir, "root.pem", ca["root-cert.pem"]),
                writeTemp(dir, "ca.pem", ca["ca-cert.pem"]),
            ]);
            assert.strictEqual(result.status, 0, result.output);
            const cert = new crypto.X509Certificate(ca["ca-cert.pem"]);
            assert.strictEqual(cert.ca, true);
            assert.strictEqual(cert.subject, `O=Example Bank\nCN=example mesh CA ${cluster}`);
        }
    });

    it("gives two clusters different intermediates under the same mesh root, which the edge does not trust", () => {
        assert.notStrictEqual(east["ca-cert.pem"], west["ca-cert.pem"]);
        assert.notStrictEqual(east["ca-key.pem"], west["ca-key.pem"]);
        assert.strictEqual(east["root-cert.pem"], west["root-cert.pem"]);
        assert.match(new crypto.X509Certificate(east["root-cert.pem"]).subject, /CN=example mesh root CA/);
        const edgeTrust = [
            ...pemBlocks(rendered.read("apic/ob/truststore.pem")),
            ...pemBlocks(gatewayServerConfig(rendered, "ob").caCrt),
        ];
        assert.ok(!edgeTrust.includes(east["root-cert.pem"]), "neither APIC nor the gateway trusts the mesh root");
    });

    it("runs mutual TLS between two workloads of one cluster and of two clusters, with istiod's certificates", async () => {
        const accounts = await workload(east, "spiffe://cluster.local/ns/ob/sa/accounts");
        const payee = await workload(east, "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const party = await workload(west, "spiffe://cluster.local/ns/dp/sa/party-canonical");
        const ok = { accepted: true, reason: "", clientAuthorized: true, clientError: "" };
        assert.deepStrictEqual(
            await sidecars(accounts, payee, { server: east["root-cert.pem"], client: east["root-cert.pem"] }),
            ok,
        );
        assert.deepStrictEqual(
            await sidecars(accounts, party, { server: east["root-cert.pem"], client: west["root-cert.pem"] }),
            ok,
        );
        assert.deepStrictEqual(
            await sidecars(party, accounts, { server: west["root-cert.pem"], client: east["root-cert.pem"] }),
            ok,
        );
    });

    it("rejects a workload whose certificate comes from a different root", async () => {
        const otherRoot = await mintRoot("istiod self-signed root");
        const foreign = await mintLeaf(otherRoot, {
            commonName: "",
            uris: ["spiffe://cluster.local/ns/ob/sa/accounts"],
            allowedUses: ["digital_signature", "server_auth", "client_auth"],
        });
        const accounts = await workload(east, "spiffe://cluster.local/ns/ob/sa/ob-payee");
        const intruder = { ...foreign, identity: "spiffe://cluster.local/ns/ob/sa/accounts" };
        const asClient = await sidecars(accounts, intruder, {
            server: east["root-cert.pem"],
            client: east["root-cert.pem"],
        });
        assert.strictEqual(asClient.accepted, false);
        assert.strictEqual(asClient.reason, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        const asServer = await sidecars(intruder, accounts, {
            server: east["root-cert.pem"],
            client: east["root-cert.pem"],
        });
        assert.strictEqual(asServer.clientAuthorized, false);
        assert.strictEqual(asServer.clientError, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        // And under a sidecar's own rules (Envoy's, through BoringSSL and OpenSSL).
        const [[, verdict]] = decide([
            ["another root's workload", sidecarCheck(east, foreign.cert, intruder.identity)],
        ]);
        const noIssuer = "unable to get local issuer certificate";
        assert.deepStrictEqual(summary(verdict), { boringssl: noIssuer, openssl: noIssuer });
    });

    it("lets a holder of ca-key.pem get a sub-CA's workloads into sidecars (BoringSSL ignores the root's pathlen 1; OpenSSL refuses), no more than it mints directly", async () => {
        const identity = "spiffe://cluster.local/ns/ob/sa/accounts";
        const meshCa = { certPem: east["ca-cert.pem"], keyPem: east["ca-key.pem"] };
        const subCa = await mintSubCa(meshCa, "rogue");
        const uses = ["digital_signature", "client_auth"];
        const viaSubCa = await mintLeaf(subCa, { commonName: "", uris: [identity], allowedUses: uses });
        const direct = await mintLeaf(meshCa, { commonName: "", uris: [identity], allowedUses: uses });
        const verdicts = decide([
            ["via a sub-CA", sidecarCheck(east, viaSubCa.cert + subCa.certPem + east["ca-cert.pem"], identity)],
            ["minted with ca-key.pem itself", sidecarCheck(east, direct.cert + east["ca-cert.pem"], identity)],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["via a sub-CA", { boringssl: "ok", openssl: "path length constraint exceeded" }],
                ["minted with ca-key.pem itself", { boringssl: "ok", openssl: "ok" }],
            ],
        );
    });

    it("creates each cluster's objects through its own provider and context, Secrets mutable, and STRICT PeerAuthentication when asked", () => {
        const providers = rendered.engine.byType("pulumi:providers:kubernetes");
        // enableSecretMutable: a Secret whose data changes is updated, not deleted and created again.
        assert.deepStrictEqual(
            providers.map((p) => [p.name, p.inputs.context, p.inputs.enableSecretMutable]),
            [
                ["east", "bank-east", "true"],
                ["west", "bank-west", "true"],
            ],
        );
        const peer = YAML.parse(rendered.read("k8s/west/istio-system/peerauthentication-default.yaml"));
        assert.deepStrictEqual(peer, {
            apiVersion: "security.istio.io/v1",
            kind: "PeerAuthentication",
            metadata: { name: "default", namespace: "istio-system" },
            spec: { mtls: { mode: "STRICT" } },
        });
        assert.ok(rendered.files.includes("k8s/east/istio-system/peerauthentication-default.yaml"));
        assert.ok(
            rendered.files.includes("k8s/east/istio-system/gateway-apic-mtls-ob.yaml"),
            "the gateway is in the first cluster",
        );
        assert.ok(!rendered.files.some((f) => f.startsWith("k8s/west/") && f.includes("apic-mtls")));
    });

    it("lists each mesh CA with its cluster in inventory.json, without key material", () => {
        const inventory = JSON.parse(rendered.read("inventory.json")) as {
            certificates: { role: string; cluster?: string; goesTo: string[] }[];
        };
        const mesh = inventory.certificates.filter((c) => c.role === "mesh-ca");
        assert.deepStrictEqual(
            mesh.map((c) => [c.cluster, c.goesTo]),
            [
                ["east", ["k8s/east/istio-system/secret-cacerts (ca-cert.pem, cert-chain.pem)"]],
                ["west", ["k8s/west/istio-system/secret-cacerts (ca-cert.pem, cert-chain.pem)"]],
            ],
        );
        assert.doesNotMatch(rendered.read("inventory.json"), /PRIVATE KEY/);
    });
});

describe("The mesh CA's later life: what istiod loads, and what would lock every sidecar out", function () {
    this.timeout(60_000);
    const SHARED = {
        environment: "rot",
        option: 1,
        baseDomain: "rot.api.bank.example",
        domains: { ob: { services: ["accounts"] } },
        clusters: ["east"],
        keyAlgorithm: "ECDSA",
        trustDomains: "shared",
    };
    const finish = { ...SHARED, caRotation: { meshCa: { generation: 1, phase: "finish" } } };
    const OLD_SERIAL = "4EDFB46A10835504BC95978F2DB89AE3";
    const both = (verdict: string) => ({ boringssl: verdict, openssl: verdict });
    let state: EngineState;
    let finished: Rendered;
    before(async () => {
        // What `pulumi up` reads back: the mesh CA rotation at switch under the one shared root.
        const day = 86_400_000;
        const switched: RotationRecord = {
            ...INITIAL_RECORD,
            positions: { ...INITIAL_RECORD.positions, meshCa: { generation: 1, phase: "switch" } },
            cas: {
                "mesh-ca-east": {
                    serialHex: OLD_SERIAL,
                    notBefore: new Date(Date.now() - 30 * day).toISOString(),
                    notAfter: new Date(Date.now() + 1000 * day).toISOString(),
                    issuer: "root",
                },
            },
        };
        state = seededState();
        saveStackOutputs(state, { deploymentRecord: switched });
        finished = await renderNext(finish, "mesh-shared-finish", state);
    });

    it("finishes a mesh CA rotation under one shared root: istiod loads cacerts with its ca-crl.pem, and no UI truststore CRL is made without UI callers", async () => {
        const ca = cacerts(finished, "east");
        assert.deepStrictEqual(
            pemBlocksOf(ca["ca-crl.pem"] ?? "", "X509 CRL")
                .map(parseCrl)
                .map((c) => [c.issuerCommonName, c.revokedSerials]),
            [
                ["rot API platform root CA", [OLD_SERIAL]],
                ["rot mesh CA east G1", []],
            ],
        );
        assert.strictEqual(istiodRefusal(ca), undefined);
        const peer = await workload(ca, "spiffe://cluster.local/ns/ob/sa/accounts");
        const [[, verdict]] = decide([["a workload of the new mesh CA", sidecarCheck(ca, peer.cert, peer.identity)]]);
        assert.deepStrictEqual(summary(verdict), both("ok"));
        assert.deepStrictEqual(finished.plan.crls, {
            gateway: true,
            apicTruststore: true,
            mesh: true,
            apicUiTruststore: false,
            offlineRootCrls: {},
        });
        assert.deepStrictEqual(
            finished.files.filter((f) => f.startsWith("apic/ui/")),
            [],
        );
    });

    it("refuses raising pki:rotation.meshEpoch once cacerts carries ca-crl.pem: sidecars would refuse every workload of the old key", async () => {
        const record = deployedRecordOf(state);
        assert.deepStrictEqual([record.meshEpoch, typeof record.meshCrlSince], [0, "string"]);
        const rekeyed = { ...finish, rotation: { meshEpoch: 1 } };
        assert.throws(() => planFromRawConfig(rekeyed, { deployed: record }), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:rotation.meshEpoch is 1, but 0 is deployed and istiod's cacerts carries ca-crl.pem (since ${record.meshCrlSince?.slice(0, 10)}): ` +
                "a mesh CA re-keyed by its epoch keeps its name and its CRL replaces the old key's, so every sidecar would refuse the workloads " +
                'still holding a certificate of the old key ("unable to get certificate CRL") until they renew (up to the workload certificate TTL, 24 h by default). ' +
                "Set pki:rotation.meshEpoch back to 0 and rotate the mesh CAs in stages with pki:caRotation.meshCa " +
                "(next: { generation: 2, phase: prepare }), which keeps the old CA and its CRL until finish",
        });
        // Why: a CA of the same name with another key under the same root, as the epoch would make it,
        // and a workload it signed, against the ca-crl.pem that holds the CRL of the other key only.
        const ca = cacerts(finished, "east");
        const rootKey = finished.engine.resources.find((r) => r.name === "root-ca-key")?.state.privateKeyPem as string;
        const sameName = await mintSubCa({ certPem: ca["root-cert.pem"], keyPem: rootKey }, "rot mesh CA east G1");
        const identity = "spiffe://cluster.local/ns/ob/sa/accounts";
        const peer = await mintLeaf(sameName, {
            commonName: "",
            uris: [identity],
            allowedUses: ["digital_signature", "server_auth", "client_auth"],
        });
        const [[, verdict]] = decide([
            ["a workload of the re-keyed CA", sidecarCheck(ca, peer.cert + sameName.certPem, identity)],
        ]);
        assert.deepStrictEqual(summary(verdict), both("unable to get certificate CRL"));
        // Without ca-crl.pem the epoch stays free (no CRL: nothing keys on the old CA's name).
        const plan = planFromRawConfig(
            { ...SHARED, rotation: { meshEpoch: 1 } },
            { deployed: { ...INITIAL_RECORD, meshEpoch: 0 } },
        );
        assert.strictEqual(plan.cas.find((c) => c.id === "mesh-ca-east")?.epoch, 1);
    });
});

describe("A cluster removed from pki:clusters: its mesh CAs are revoked", function () {
    this.timeout(120_000);
    const TWO = {
        environment: "rot",
        option: 1,
        baseDomain: "rot.api.bank.example",
        domains: { ob: { services: ["accounts"] } },
        clusters: [
            { name: "east", context: "bank-east" },
            { name: "west", context: "bank-west" },
        ],
        keyAlgorithm: "ECDSA",
    };
    const ONE = { ...TWO, clusters: TWO.clusters.slice(0, 1) };
    const meshCa = (generation: number, phase: string) => ({ caRotation: { meshCa: { generation, phase } } });
    const day = 86_400_000;
    const start = new Date("2031-03-01T00:00:00.000Z");
    const dayAfter = (n: number) => new Date(start.getTime() + n * day);
    /** Each CRL of the remaining cluster's ca-crl.pem: who signed it and what it revokes (serials sorted as text). */
    const eastCrls = (r: Rendered) =>
        pemBlocksOf(cacerts(r, "east")["ca-crl.pem"] ?? "", "X509 CRL")
            .map(parseCrl)
            .map((c) => [c.issuerCommonName, [...c.revokedSerials].sort()]);
    const serialOf = (r: Rendered, id: string) => r.inventory.find((c) => c.id === id)?.serial;
    const retiredOf = (state: EngineState) =>
        deployedRecordOf(state).retired.map((r) => [r.id, r.serialHex, r.revokedAt]);

    it("outside a rotation: the mesh root's CRL in the other clusters' cacerts revokes it, and the record keeps it", async () => {
        const state = seededState();
        const two = await renderNext(TWO, "cluster-two", state, start);
        assert.strictEqual(cacerts(two, "east")["ca-crl.pem"], undefined);
        const one = await renderNext(ONE, "cluster-one", state, dayAfter(10));
        const west = serialOf(two, "mesh-ca-west");
        assert.deepStrictEqual(eastCrls(one), [
            ["rot mesh root CA", [west]],
            ["rot mesh CA east", []],
        ]);
        // Revoked from the start of the CRL period (pki:crlPeriodDays 7) the removal is deployed in.
        const revoked = [["mesh-ca-west", west, "2031-03-06T00:00:00.000Z"]];
        assert.deepStrictEqual(retiredOf(state), revoked);
        // The next update keeps the revocation, though the record no longer lists west's CA.
        const again = await renderNext(ONE, "cluster-one-again", state, dayAfter(11));
        assert.deepStrictEqual(eastCrls(again), eastCrls(one));
        assert.deepStrictEqual(retiredOf(state), revoked);
    });

    it("at a mesh CA rotation's finish: both generations of its CA are revoked with the old CA of the cluster that stays", async () => {
        const state = seededState();
        const g0 = await renderNext(TWO, "cluster-rot-g0", state, start);
        const prepared = await renderNext(
            { ...TWO, ...meshCa(1, "prepare") },
            "cluster-rot-prepare",
            state,
            dayAfter(1),
        );
        await renderNext({ ...TWO, ...meshCa(1, "switch") }, "cluster-rot-switch", state, dayAfter(2));
        const finished = await renderNext({ ...ONE, ...meshCa(1, "finish") }, "cluster-rot-finish", state, dayAfter(3));
        const [east, west, westG1] = [
            serialOf(g0, "mesh-ca-east"),
            serialOf(g0, "mesh-ca-west"),
            serialOf(prepared, "mesh-ca-west-g1"),
        ];
        assert.deepStrictEqual(eastCrls(finished), [
            ["rot mesh root CA", [east, west, westG1].sort()],
            ["rot mesh CA east G1", []],
        ]);
        // Each was issued in the CRL period of the finish: revoked from its notBefore, never before it existed.
        assert.deepStrictEqual(retiredOf(state), [
            ["mesh-ca-east", east, start.toISOString()],
            ["mesh-ca-west", west, start.toISOString()],
            ["mesh-ca-west-g1", westG1, dayAfter(1).toISOString()],
        ]);
    });

    it("added back: every cluster's ca-crl.pem, published since it left, gains its new CA's CRL, which diff says may change, as two stack files cannot show it", async () => {
        const state = seededState();
        const two = await renderNext(TWO, "cluster-again-two", state, start);
        // As pulumi up, the removal deletes west's CAs (renderNext deletes nothing): it comes back with a new one.
        const leaving = planFromRawConfig(ONE, { deployed: deployedRecordOf(state), now: dayAfter(1) });
        await renderPlan(leaving, tempDir("cluster-again-one"), { force: true, state, prune: true });
        const back = await renderNext(TWO, "cluster-again-back", state, dayAfter(2));
        const west = serialOf(two, "mesh-ca-west");
        assert.notStrictEqual(serialOf(back, "mesh-ca-west"), west);
        const published = [
            ["rot mesh root CA", [west]],
            ["rot mesh CA east", []],
            ["rot mesh CA west", []],
        ];
        assert.deepStrictEqual(eastCrls(back), published);
        assert.strictEqual(cacerts(back, "west")["ca-crl.pem"], cacerts(back, "east")["ca-crl.pem"]);
        const ever =
            "if a cluster was ever removed from pki:clusters, every cluster's cacerts carries ca-crl.pem from then on (stack files cannot show it)";
        const addedBack = diffPlans(planFromRawConfig(ONE), planFromRawConfig(TWO));
        assert.deepStrictEqual(
            addedBack.places.map((p) => [p.change, p.place, p.items.map((i) => `${i.item}: ${i.change}`)]),
            [
                [
                    "create",
                    "k8s/west/istio-system/secret-cacerts",
                    [
                        "ca-cert.pem: new",
                        "ca-key.pem: new",
                        "cert-chain.pem: new",
                        "root-cert.pem: new",
                        `ca-crl.pem: may also change: ${ever}: new: CRL of mesh-root, CRL of mesh-ca-east, CRL of mesh-ca-west`,
                    ],
                ],
            ],
        );
        // Not a step to take: a note that holds only if a cluster was ever removed.
        assert.deepStrictEqual(addedBack.steps.after, []);
        assert.deepStrictEqual(addedBack.steps.notes, [
            "Only if a cluster was ever removed from pki:clusters (stack files cannot show it; if none was, ignore this): every cluster's cacerts carries ca-crl.pem, " +
                "this change also changes it (+ CRL of mesh-ca-west), and istiod of east takes that by itself (it reloads cacerts, Istio 1.18+, and sends the new ca-crl.pem to the sidecars, Istio 1.27+).",
        ]);
        assert.ok(!/^\d+\. .*cluster was ever removed/m.test(diffMarkdown(addedBack, "rot")), "no numbered step");
        assert.ok(
            diffMarkdown(addedBack, "rot").includes(
                "\n| k8s/west/istio-system/secret-cacerts | create | ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem; " +
                    `ca-crl.pem: may also change: ${ever}: new: CRL of mesh-root, CRL of mesh-ca-east, CRL of mesh-ca-west |\n`,
            ),
        );
        // A later mesh CA rotation's finish: ca-crl.pem was published before it, so it is not new.
        await renderNext({ ...TWO, ...meshCa(1, "prepare") }, "cluster-again-prepare", state, dayAfter(3));
        const switched = await renderNext(
            { ...TWO, ...meshCa(1, "switch") },
            "cluster-again-switch",
            state,
            dayAfter(4),
        );
        assert.notStrictEqual(cacerts(switched, "east")["ca-crl.pem"], undefined);
        const finish = diffPlans(
            planFromRawConfig({ ...TWO, ...meshCa(1, "switch") }),
            planFromRawConfig({ ...TWO, ...meshCa(1, "finish") }),
        );
        const crls =
            "new: CRL of mesh-root (revokes mesh-ca-east, retired; revokes mesh-ca-west, retired), CRL of mesh-ca-east-g1, CRL of mesh-ca-west-g1; " +
            "or, if a cluster was removed from pki:clusters before this change, every cluster's cacerts carries ca-crl.pem from then on (stack files cannot show it): " +
            "- CRL of mesh-ca-east, CRL of mesh-ca-west; CRL of mesh-root revokes mesh-ca-east, retired; revokes mesh-ca-west, retired";
        assert.deepStrictEqual(
            finish.places.map(
                (p) => `${p.change} ${p.place}: ${p.items.map((i) => `${i.item}: ${i.change}`).join("; ")}`,
            ),
            ["east", "west"].map((c) => `update k8s/${c}/istio-system/secret-cacerts: ca-crl.pem: ${crls}`),
        );
        // As the finish renders it: the old generations' CRLs go, the root's revokes them.
        const finished = await renderNext(
            { ...TWO, ...meshCa(1, "finish") },
            "cluster-again-finish",
            state,
            dayAfter(5),
        );
        assert.deepStrictEqual(eastCrls(finished), [
            ["rot mesh root CA", [west, serialOf(two, "mesh-ca-east"), serialOf(back, "mesh-ca-west")].sort()],
            ["rot mesh CA east G1", []],
            ["rot mesh CA west G1", []],
        ]);
    });

    it("added back at a mesh CA rotation's finish: it plans, the switch having deployed no CA of it to revoke", async () => {
        const state = seededState();
        const g0 = await renderNext(TWO, "cluster-back-g0", state, start);
        const prepared = await renderNext(
            { ...TWO, ...meshCa(1, "prepare") },
            "cluster-back-prepare",
            state,
            dayAfter(1),
        );
        // As pulumi up, the switch deletes west's CAs (renderNext deletes nothing): it comes back with a new one.
        const leaving = planFromRawConfig(
            { ...ONE, ...meshCa(1, "switch") },
            { deployed: deployedRecordOf(state), now: dayAfter(2) },
        );
        await renderPlan(leaving, tempDir("cluster-back-switch"), { force: true, state, prune: true });
        const finished = await renderNext(
            { ...TWO, ...meshCa(1, "finish") },
            "cluster-back-finish",
            state,
            dayAfter(3),
        );
        const [east, west, westG1] = [
            serialOf(g0, "mesh-ca-east"),
            serialOf(g0, "mesh-ca-west"),
            serialOf(prepared, "mesh-ca-west-g1"),
        ];
        // West's CAs were revoked when it left at the switch, and not the one it is back with.
        assert.notStrictEqual(serialOf(finished, "mesh-ca-west-g1"), westG1);
        assert.deepStrictEqual(eastCrls(finished), [
            ["rot mesh root CA", [east, west, westG1].sort()],
            ["rot mesh CA east G1", []],
            ["rot mesh CA west G1", []],
        ]);
        assert.deepStrictEqual(retiredOf(state), [
            ["mesh-ca-west", west, start.toISOString()],
            ["mesh-ca-west-g1", westG1, dayAfter(1).toISOString()],
            ["mesh-ca-east", east, start.toISOString()],
        ]);
    });

    it("with ECDSA CA keys, shared or separate roots: refused before anything is made, naming the cluster; with RSA keys first, it revokes", async () => {
        const refusal = (cluster: string, rootSlot: string) =>
            "invalid stack configuration:\n" +
            `  - pki:clusters removes cluster ${cluster}, whose mesh CA mesh-ca-${cluster} must be revoked in the mesh root's CRL: ` +
            "until then its key (in that cluster's cacerts and its backups) can mint any workload identity the other clusters' sidecars accept " +
            `(istiod, which applies no CRL to its clients, accepts it until the mesh root is replaced: pki:caRotation.${rootSlot}). ` +
            "That needs pki:caKeyAlgorithm RSA: the stack signs that CRL with the mesh root's key, and CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview; " +
            "keep the cluster, set pki:caKeyAlgorithm RSA in a change of its own first (every CA is re-issued at once, the mesh root too, so the cluster's old mesh CA chains to a root nothing trusts any more; " +
            "the mesh and APIC are down until istiod restarts and APIC's keystores and truststores are uploaded: see what diff says it breaks), then remove the cluster";
        const results = [];
        for (const [trustDomains, removed] of [
            ["shared", "west"],
            ["separate", "west"],
        ]) {
            const two = {
                ...TWO,
                trustDomains,
                caKeyAlgorithm: "ECDSA",
                clusters: [TWO.clusters[0], { name: removed, context: "bank-west" }],
            };
            const state = new Map();
            await renderNext(two, `cluster-ecdsa-${trustDomains}`, state, start);
            const before = JSON.stringify([...state]);
            const refused = await renderNext(
                { ...two, clusters: two.clusters.slice(0, 1) },
                "-",
                state,
                dayAfter(10),
            ).then(
                () => "rendered",
                (error: Error) => error.message,
            );
            results.push([
                trustDomains,
                refused,
                JSON.stringify([...state]) === before ? "state untouched" : "state changed",
            ]);
        }
        assert.deepStrictEqual(results, [
            ["shared", refusal("west", "root"), "state untouched"],
            ["separate", refusal("west", "meshRoot"), "state untouched"],
        ]);
        // The way the refusal gives: RSA CA keys in a change of their own, then the cluster removed.
        const state = seededState();
        const ecdsa = { ...TWO, trustDomains: "shared", caKeyAlgorithm: "ECDSA" };
        await renderNext(ecdsa, "cluster-ecdsa-then-rsa", state, start);
        const rsa = await renderNext({ ...ecdsa, caKeyAlgorithm: "RSA" }, "cluster-rsa", state, dayAfter(5));
        const one = await renderNext(
            { ...ecdsa, caKeyAlgorithm: "RSA", clusters: ONE.clusters },
            "cluster-rsa-one",
            state,
            dayAfter(10),
        );
        assert.deepStrictEqual(eastCrls(one), [
            ["rot API platform root CA", [serialOf(rsa, "mesh-ca-west")]],
            ["rot mesh CA east", []],
        ]);
    });
});

describe("A mesh root re-issued outside a staged rotation: what a running istiod does", function () {
    this.timeout(60_000);
    const LAB = {
        environment: "lab",
        option: 1,
        baseDomain: "lab.api.bank.example",
        organization: "Example Bank",
        domains: { ob: { services: ["accounts"] } },
        clusters: ["east"],
        keyAlgorithm: "ECDSA",
        caKeyAlgorithm: "ECDSA",
    };

    it("refuses the new cacerts until istiod restarts, and the diff says to restart istiod rather than that it reloads", async () => {
        const state = seededState();
        const before = await renderNext(LAB, "mesh-org-before", state);
        const after = await renderNext({ ...LAB, organization: "Example Bank plc" }, "mesh-org-after", state);
        const [loaded, next] = [cacerts(before, "east"), cacerts(after, "east")];
        // The same key and a new subject: a new certificate, so neither root-cert.pem holds the other.
        assert.deepStrictEqual(
            [false, true].map((multiRoot) => istiodReloadRefusal(loaded, next, multiRoot)),
            ["Multi root is disabled, updating new ROOT-CA not supported", "Updating new ROOT-CA not supported"],
        );
        assert.strictEqual(istiodRefusal(next), undefined, "a restarted istiod loads it");
        const d = diffPlans(before.plan, after.plan);
        assert.deepStrictEqual(
            d.steps.after.filter((s) => s.includes("istiod")),
            [
                "Restart istiod of east (kubectl -n istio-system rollout restart deployment/istiod), then every workload: the new root-cert.pem neither holds nor is held by the one istiod loaded, " +
                    'so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts, whenever that is.',
            ],
        );
        assert.deepStrictEqual(
            d.replaced.filter((c) => c.id === "mesh-root" || c.role === "mesh-ca").map((c) => [c.id, c.forces.at(-1)]),
            ["mesh-root", "mesh-ca-east"].map((id) => [
                id,
                "restart istiod of east, which keeps the root it loaded until then, and then the workloads",
            ]),
        );
    });
});

describe("MeshPluginCa used alone", function () {
    this.timeout(60_000);

    it("keeps its key a secret and creates no PeerAuthentication by default", async () => {
        const { engine, returned } = await runWithStandIn(
            () => {
                const root = new RootCa("solo-root", { subject: { commonName: "solo root" }, keyAlgorithm: "ECDSA" });
                return new MeshPluginCa("solo-mesh", { rootCa: root, cluster: "lab", keyAlgorithm: "ECDSA" });
            },
            { state: sharedState },
        );
        assert.strictEqual(await pulumi.isSecret(returned.privateKeyPem), true);
        assert.deepStrictEqual(
            engine.kubernetesObjects().map((r) => `${r.type} ${r.name}`),
            ["kubernetes:core/v1:Secret mesh-ca-lab-cacerts"],
        );
        const cert = engine.resources.find((r) => r.name === "solo-mesh-cert");
        assert.strictEqual(new crypto.X509Certificate(cert?.state.certPem as string).subject, "CN=mesh CA lab");
    });

    it("refuses an environment or organization the CA's subject cannot carry, naming the input", async () => {
        // The environment went into the common name unchecked: a map as "[object Object] mesh CA lab".
        const refusal = (args: Record<string, unknown>) =>
            runWithStandIn(
                () =>
                    new MeshPluginCa("named", {
                        issuer: { certPem: "x", privateKeyPem: "x", rootCertPem: "x" },
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                        ...args,
                    }),
                { state: new Map() },
            ).then(
                () => "accepted",
                (error: Error) => error.message,
            );
        const text = `must be non-blank text (it starts the CA's common name, e.g. "prod")`;
        const leaveOut = 'Leave it unset for a common name without it ("mesh CA lab")';
        assert.deepStrictEqual(
            [
                await refusal({ environment: { a: 1 } }),
                await refusal({ environment: ["prod", "x"] }),
                await refusal({ environment: true }),
                await refusal({ environment: " " }),
                await refusal({ environment: "prod\u001b[2K" }),
                await refusal({ environment: "“prod”" }),
                await refusal({ environment: "p".repeat(56) }),
                await refusal({ environment: "p".repeat(53), generation: 2 }),
                await refusal({ organization: 5 }),
                await refusal({ organization: "Bank\nO=Other" }),
                await refusal({ organization: "Bank’" }),
            ],
            [
                `MeshPluginCa environment ${text}; got {"a":1}. ${leaveOut}`,
                `MeshPluginCa environment ${text}; got ["prod","x"]. ${leaveOut}`,
                `MeshPluginCa environment ${text}; got true. ${leaveOut}`,
                `MeshPluginCa environment ${text}; got " ". ${leaveOut}`,
                `MeshPluginCa environment must not contain control characters (it starts the CA's common name); got "prod\\u001b[2K"`,
                'MeshPluginCa environment starts or ends with a typographic quote (“ ” ‘ ’), which would go into the CA\'s common name; got "“prod”". Remove the quotes; YAML needs none around this value, or use straight quotes',
                `MeshPluginCa environment "${"p".repeat(56)}" makes the CA's common name "${"p".repeat(56)} mesh CA lab" 68 characters, more than the 64 RFC 5280 allows; shorten it to at most 52 (or shorten the cluster name)`,
                `MeshPluginCa environment "${"p".repeat(53)}" makes the CA's common name "${"p".repeat(53)} mesh CA lab G2" 68 characters, more than the 64 RFC 5280 allows; shorten it to at most 49 (or shorten the cluster name)`,
                'MeshPluginCa organization must be text (the subject O), e.g. "Example Bank"; got 5',
                'MeshPluginCa organization must not contain control characters (it becomes the subject O of every certificate); got "Bank\\nO=Other"',
                'MeshPluginCa organization starts or ends with a typographic quote (“ ” ‘ ’), which would go into the subject O of every certificate; got "Bank’". Remove the quotes; YAML needs none around this value, or use straight quotes',
            ],
        );
    });

    it("gives istiod no cacerts while the ceremony's signature is pending, also when it comes as empty text", async () => {
        const root = await mintRoot("Offline mesh root");
        const secretsFor = (signedCertPem: unknown) =>
            runWithStandIn(
                () =>
                    new MeshPluginCa("pending", {
                        offlineRoot: { rootCertPem: root.certPem, signedCertPem: signedCertPem as string },
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                    }),
                { state: new Map() },
            ).then(
                ({ engine }) => engine.kubernetesObjects().map((r) => r.name),
                (error: Error) => refusalText(error),
            );
        // Before, "" made a cacerts whose ca-cert.pem was empty, on which istiod fails.
        assert.deepStrictEqual(
            [
                await secretsFor(undefined),
                await secretsFor(null),
                await secretsFor(""),
                await secretsFor(pulumi.output("")),
            ],
            [
                [],
                [],
                [],
                "MeshPluginCa offlineRoot.signedCertPem came as empty text: istiod would fail on a cacerts without its CA certificate; leave signedCertPem out until the ceremony has signed this CA's CSR",
            ],
        );
    });

    it("refuses a root-cert.pem or ca-crl.pem with which istiod or the sidecars would refuse every workload", async () => {
        const [root, other] = [await mintRoot("Mesh root"), await mintRoot("Other root")];
        const hour = 3_600_000;
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const state: EngineState = new Map();
        const meshCa = (cacertsArgs: { trustedRootsPem?: string; crlPem?: string }) =>
            runWithStandIn(
                () => {
                    const issuer = { certPem: root.certPem, privateKeyPem: root.keyPem, rootCertPem: root.certPem };
                    const mesh = new MeshPluginCa("guarded", {
                        issuer,
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                        ...cacertsArgs,
                    });
                    return { certPem: mesh.certPem, keyPem: mesh.privateKeyPem, chainPem: mesh.certChainPem };
                },
                { state },
            );
        // The mesh CA, its key and certificate kept in `state` for the runs below: its own CRL.
        const ca = (await meshCa({})).outputs;
        const fresh = {
            root: emptyCrlOf(root, now - hour, now + 24 * hour),
            other: emptyCrlOf(other, now - hour, now + 24 * hour),
            ca: emptyCrlOf(ca, now - hour, now + 24 * hour),
        };
        const verdict = (cacertsArgs: { trustedRootsPem?: string; crlPem?: string }) =>
            meshCa(cacertsArgs).then(
                ({ engine }) =>
                    `accepted: ${Object.keys(engine.kubernetesObjects()[0].inputs.stringData as object).join(" ")}`,
                (error: Error) => refusalText(error),
            );
        assert.deepStrictEqual(
            [
                await verdict({ trustedRootsPem: root.certPem + root.keyPem }),
                await verdict({ trustedRootsPem: other.certPem }),
                await verdict({ crlPem: "hello" }),
                await verdict({ crlPem: emptyCrlOf(root, now - 48 * hour, now - hour) + fresh.ca }),
                await verdict({ crlPem: fresh.ca }),
                await verdict({ crlPem: fresh.root }),
                await verdict({ trustedRootsPem: root.certPem + other.certPem, crlPem: fresh.root + fresh.ca }),
                await verdict({
                    trustedRootsPem: root.certPem + other.certPem,
                    crlPem: fresh.root + fresh.other + fresh.ca,
                }),
            ],
            [
                'MeshPluginCa trustedRootsPem holds a private key (a "EC PRIVATE KEY" PEM block): a trust bundle is copied in clear to wherever it is used, ' +
                    "so take the key out (and replace it if the text has been shared); give CA certificates only",
                "MeshPluginCa guarded: trustedRootsPem does not hold CN=Mesh root, the root this CA chains to: istiod would refuse cacerts " +
                    "(its cert-chain.pem does not verify against root-cert.pem) and workloads would not trust what it signs; give that root in trustedRootsPem, after the roots it held before (istiod up to 1.29 takes a changed root-cert.pem only when one holds the other's bytes)",
                `MeshPluginCa guarded: crlPem holds no PEM CRL; give the CRLs ("X509 CRL" blocks) of every CA of the peer's chains, or leave it unset for no revocation check`,
                `MeshPluginCa guarded: crlPem holds a CRL of CN=Mesh root past its next update (${new Date(now - hour).toISOString()}) and no newer one of its CA: ` +
                    "Envoy would refuse every workload whose chain has that CA; give its CRL re-signed for now",
                "MeshPluginCa guarded: crlPem holds no CRL signed by CN=Mesh root of trustedRootsPem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, " +
                    "the root's included (CRL_CHECK_ALL), so every workload would be refused; add that root's CRL",
                "MeshPluginCa guarded: crlPem holds no CRL signed by this mesh CA (CN=mesh CA lab): istiod would not load the new cacerts (istio/istio#61075), " +
                    "and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; add this CA's CRL",
                "MeshPluginCa guarded: crlPem holds no CRL signed by CN=Other root of trustedRootsPem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, " +
                    "the root's included (CRL_CHECK_ALL), so every workload would be refused; add that root's CRL",
                "accepted: ca-cert.pem ca-crl.pem ca-key.pem cert-chain.pem root-cert.pem",
            ],
        );
        // What istiod and a sidecar say of the cacerts these would have made (the accepted one last).
        const consumers = async (trustedRootsPem: string, crlPem: string) => {
            const made: Cacerts = {
                "ca-cert.pem": ca.certPem,
                "ca-key.pem": ca.keyPem,
                "root-cert.pem": trustedRootsPem,
                "cert-chain.pem": ca.chainPem,
                "ca-crl.pem": crlPem,
            };
            const peer = await workload(made, "spiffe://cluster.local/ns/ob/sa/accounts");
            const [[, sidecar]] = decide([["sidecar", sidecarCheck(made, peer.cert, peer.identity)]]);
            return { istiod: istiodRefusal(made) ?? "ok", sidecar: summary(sidecar).boringssl };
        };
        const stale = emptyCrlOf(root, now - 48 * hour, now - hour);
        assert.deepStrictEqual(
            [
                await consumers(other.certPem, fresh.other + fresh.ca),
                await consumers(root.certPem, stale + fresh.ca),
                await consumers(root.certPem, fresh.ca),
                await consumers(root.certPem, fresh.root),
                await consumers(root.certPem, fresh.root + fresh.ca),
            ],
            [
                {
                    istiod: "cannot verify the cert with the provided root chain and cert pool with error: x509: certificate signed by unknown authority",
                    sidecar: "unable to get local issuer certificate",
                },
                { istiod: "ok", sidecar: "CRL has expired" },
                {
                    istiod: "missing CRL signed by certificates: [CN=Mesh root]",
                    sidecar: "unable to get certificate CRL",
                },
                {
                    istiod: "missing CRL signed by certificates: [CN=mesh CA lab]",
                    sidecar: "unable to get certificate CRL",
                },
                { istiod: "ok", sidecar: "ok" },
            ],
        );
    });
    it("refuses a ca-crl.pem without the CRL of an intermediate of cert-chain.pem, which istiod and the sidecars want too", async () => {
        const root = await mintRoot("Mesh root");
        const intermediate = await mintSubCa(root, "Mesh intermediate");
        const hour = 3_600_000;
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const state: EngineState = new Map();
        const meshCa = (crlPem?: string) =>
            runWithStandIn(
                () => {
                    const issuer = {
                        certPem: intermediate.certPem,
                        privateKeyPem: intermediate.keyPem,
                        rootCertPem: root.certPem,
                        chainPem: intermediate.certPem,
                    };
                    const mesh = new MeshPluginCa("layered", {
                        issuer,
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                        ...(crlPem !== undefined ? { crlPem } : {}),
                    });
                    return { certPem: mesh.certPem, keyPem: mesh.privateKeyPem, chainPem: mesh.certChainPem };
                },
                { state },
            );
        // The mesh CA, its key and certificate kept in `state` for the runs below: its own CRL.
        const ca = (await meshCa()).outputs;
        const fresh = {
            root: emptyCrlOf(root, now - hour, now + 24 * hour),
            intermediate: emptyCrlOf(intermediate, now - hour, now + 24 * hour),
            ca: emptyCrlOf(ca, now - hour, now + 24 * hour),
        };
        const refusal = (crlPem: string) =>
            meshCa(crlPem).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        const consequences =
            "istiod would not load the new cacerts (istio/istio#61075), and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; ";
        assert.deepStrictEqual(
            [await refusal(fresh.root + fresh.ca), await refusal(fresh.root)],
            [
                "MeshPluginCa layered: crlPem holds no CRL signed by CN=Mesh intermediate (its issuer in cert-chain.pem): " +
                    consequences +
                    "add that CA's CRL",
                "MeshPluginCa layered: crlPem holds no CRL signed by this mesh CA (CN=mesh CA lab) nor by CN=Mesh intermediate (its issuer in cert-chain.pem): " +
                    consequences +
                    "add the CRL of each of these CAs",
            ],
        );
        // What istiod and a sidecar say of the cacerts made without, then with the intermediate's CRL.
        const consumers = async (made: Cacerts) => {
            const peer = await workload(made, "spiffe://cluster.local/ns/ob/sa/accounts");
            const [[, sidecar]] = decide([["sidecar", sidecarCheck(made, peer.cert, peer.identity)]]);
            return {
                chain: pemBlocksOf(made["cert-chain.pem"], "CERTIFICATE").length,
                istiod: istiodRefusal(made) ?? "ok",
                sidecar: summary(sidecar),
            };
        };
        const without: Cacerts = {
            "ca-cert.pem": ca.certPem,
            "ca-key.pem": ca.keyPem,
            "root-cert.pem": root.certPem,
            "cert-chain.pem": ca.chainPem,
            "ca-crl.pem": fresh.root + fresh.ca,
        };
        const { engine } = await meshCa(fresh.root + fresh.intermediate + fresh.ca);
        const made = engine.kubernetesObjects()[0].inputs.stringData as Cacerts;
        assert.deepStrictEqual(
            [await consumers(without), await consumers(made)],
            [
                {
                    chain: 3,
                    istiod: "missing CRL signed by certificates: [CN=Mesh intermediate]",
                    sidecar: { boringssl: "unable to get certificate CRL", openssl: "unable to get certificate CRL" },
                },
                { chain: 3, istiod: "ok", sidecar: { boringssl: "ok", openssl: "ok" } },
            ],
        );
    });
});
