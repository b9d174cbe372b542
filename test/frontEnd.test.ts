/**
 * The front-end leg (pki:frontEnd): UI services calling APIC with mutual TLS, checked under the
 * same rules as the gateway (test/envoyVerifier.ts) with APIC configured as its TLS server profile
 * says (the UI client root as truststore, a client certificate required, no key pins: APIC cannot
 * pin); the Kubernetes objects against their schemas; and the customer-facing hosts from CSR to
 * the SIMPLE gateway server.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { ConfigError, validateConfig } from "../lib/config/validate";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide as decideLifecycle } from "../lib/lifecycle/rules";
import { CLOCK_SKEW_MS, crlWindow } from "../lib/pki/crl";
import { publicCertificateProblems } from "../lib/pki/publicCert";
import { clientsAfter } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf } from "../lib/render/render";
import { ExpiryRow } from "../lib/cli/expiry";
import { subjectOf } from "../lib/pki/x509";
import { PeerCheck, SAN_MISMATCH } from "./envoyVerifier";
import { apicSends, apicUiCheck, assertAllAccepted, decide, summary, uiSidecarCheck } from "./consumers";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { writeSeededStateFile } from "./engineKeys";
import {
    cacerts,
    caOf,
    cli,
    justIssued,
    loadStackFile,
    loadStackFileValues,
    mintLeaf,
    mintRoot,
    mintSubCa,
    newStackState,
    openssl,
    opensslCa,
    opensslSpkiPin,
    pemBlocks,
    refusalText,
    Rendered,
    renderNext,
    tempDir,
    TestCa,
    workload,
    writeTemp,
    crossSign,
} from "./helpers";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import { CustomerFacingTls } from "../lib/components/customerFacingTls";

const FRONT_END = "examples/front-end/Pulumi.front-end.yaml";
const APIC_HOST = "apic.example.api.bank.example";
const CUSTOMER_HOST = "www.example.bank.example";
const NO_ISSUER = "unable to get local issuer certificate";
const both = (error: string) => ({ boringssl: error, openssl: error });

/** BoringSSL's and OpenSSL's verdicts (summary) on each [title, chain], checked as a browser holding `caCrt` checks it for CUSTOMER_HOST. */
const browserVerdicts = (caCrt: string, chains: [string, string][]) =>
    decide(
        chains.map(([title, chain]): [string, PeerCheck] => [
            title,
            { caCrt, chain, purpose: "sslserver", subjectAltNames: [CUSTOMER_HOST], partialChain: false },
        ]),
    ).map(([title, verdict]) => [title, summary(verdict)]);

/** The fields of the rendered Kubernetes objects these tests read. */
interface KubeObject {
    type?: string;
    metadata: { name: string; namespace: string };
    stringData: Record<string, string>;
    spec: {
        host: string;
        hosts: string[];
        location: string;
        workloadSelector: { matchLabels: Record<string, string> };
        trafficPolicy: { portLevelSettings: { tls: { mode: string; credentialName: string } }[] };
        servers: unknown[];
        selector: Record<string, string>;
    };
}

/** A Kubernetes object the render wrote. */
function object(rendered: Rendered, file: string): KubeObject {
    return YAML.parse(rendered.read(file)) as KubeObject;
}

/** A UI service's Secret as the render wrote it. */
const uiSecret = (rendered: Rendered, name: string) =>
    object(rendered, `k8s/example/ob-ui/secret-apic-client-${name}.yaml`).stringData as Record<string, string>;

describe("Front end: UI services call APIC with mutual TLS, under the gateway's rules", function () {
    this.timeout(120_000);
    let state: EngineState;
    let deployed: Rendered;
    before(async () => {
        state = newStackState();
        deployed = await renderNext(loadStackFile(FRONT_END), "front-end", state);
    });

    it("gives each calling UI service a client certificate, a Secret and a DestinationRule; the others nothing", () => {
        for (const name of ["consumer-dashboard", "authentication-ui"]) {
            const secret = object(deployed, `k8s/example/ob-ui/secret-apic-client-${name}.yaml`);
            assert.strictEqual(secret.type, "kubernetes.io/tls");
            const [leaf] = pemBlocks(secret.stringData["tls.crt"]);
            const cert = new crypto.X509Certificate(leaf);
            assert.strictEqual(cert.subjectAltName, `URI:urn:apic-istio-pki:example:ui-client:${name}`);
            assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
            assert.strictEqual(cert.issuer.replace(/\n/g, ", "), "O=Example Bank, CN=example UI client CA");
        }
        const uiObjects = deployed.files.filter((f) => f.startsWith("k8s/example/ob-ui/"));
        for (const silent of ["outages-ui", "sample-app", "ob-ui-boilerplatemastercdr-data-usecase2-ui"]) {
            assert.ok(!uiObjects.some((f) => f.includes(silent)), `${silent} does not call APIC and gets nothing`);
        }
        assert.deepStrictEqual(uiObjects.sort(), [
            "k8s/example/ob-ui/destinationrule-apic-mtls-authentication-ui-apic-example-api-bank-example.yaml",
            "k8s/example/ob-ui/destinationrule-apic-mtls-consumer-dashboard-apic-example-api-bank-example.yaml",
            "k8s/example/ob-ui/secret-apic-client-authentication-ui.yaml",
            "k8s/example/ob-ui/secret-apic-client-consumer-dashboard.yaml",
            "k8s/example/ob-ui/serviceentry-apic-apic-example-api-bank-example.yaml",
        ]);
    });

    it("validates the DestinationRules, ServiceEntry and Secrets against Istio's and Kubernetes' schemas, and ties them together", async () => {
        // networking.istio.io/v1 is Istio's v1beta1 schema under a new version (see stack.test.ts).
        const { DestinationRule, ServiceEntry } = await import("@kubernetes-models/istio/networking.istio.io/v1beta1");
        const { Secret } = await import("kubernetes-models/v1");
        const strip = ({ apiVersion: _a, kind: _k, ...rest }: Record<string, unknown>) => rest;
        for (const name of ["consumer-dashboard", "authentication-ui"]) {
            const dr = object(
                deployed,
                `k8s/example/ob-ui/destinationrule-apic-mtls-${name}-apic-example-api-bank-example.yaml`,
            );
            new DestinationRule(strip({ ...dr }) as ConstructorParameters<typeof DestinationRule>[0]).validate();
            const secret = object(deployed, `k8s/example/ob-ui/secret-apic-client-${name}.yaml`);
            new Secret(strip({ ...secret }) as ConstructorParameters<typeof Secret>[0]).validate();
            const tls = dr.spec.trafficPolicy.portLevelSettings[0].tls;
            assert.deepStrictEqual(
                [
                    dr.spec.host,
                    dr.metadata.namespace,
                    tls.mode,
                    tls.credentialName,
                    dr.spec.workloadSelector.matchLabels,
                ],
                [APIC_HOST, secret.metadata.namespace, "MUTUAL", secret.metadata.name, { app: name }],
            );
        }
        const se = object(deployed, "k8s/example/ob-ui/serviceentry-apic-apic-example-api-bank-example.yaml");
        new ServiceEntry(strip({ ...se }) as ConstructorParameters<typeof ServiceEntry>[0]).validate();
        assert.deepStrictEqual([se.spec.hosts, se.spec.location], [[APIC_HOST], "MESH_EXTERNAL"]);
        // The checks can fail: a DestinationRule with a TLS mode Istio does not know.
        const broken = new DestinationRule({
            metadata: { name: "x" },
            spec: { host: APIC_HOST, trafficPolicy: { tls: { mode: "MUTUAL_TLS" as "MUTUAL" } } },
        });
        assert.throws(() => broken.validate(), /mode must be equal to one of the allowed values/);
    });

    it("lets APIC's UI-facing profile accept each calling UI service, and nothing minted by any other CA key", async () => {
        const callers = ["consumer-dashboard", "authentication-ui"].map(
            (name) => [name, apicUiCheck(deployed, uiSecret(deployed, name)["tls.crt"])] as const,
        );
        assertAllAccepted(decide(callers));

        const identity = "urn:apic-istio-pki:example:ui-client:consumer-dashboard";
        const mesh = cacerts(deployed, "example");
        const meshCa = { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] };
        const forge = async (ca: TestCa) =>
            (
                await mintLeaf(ca, {
                    commonName: "impostor",
                    uris: [identity],
                    allowedUses: ["digital_signature", "client_auth"],
                })
            ).cert + ca.certPem;
        const workloadCert = await workload(mesh, "spiffe://cluster.local/ns/ob-ui/sa/consumer-dashboard");
        const verdicts = decide([
            ["the backend APIC client certificate", apicUiCheck(deployed, apicSends(deployed, "ob"))],
            ["a mesh workload certificate", apicUiCheck(deployed, workloadCert.cert)],
            ["minted with the mesh CA key", apicUiCheck(deployed, await forge(meshCa))],
            [
                "minted with the gateway-server CA key",
                apicUiCheck(deployed, await forge(caOf(deployed, "gateway-server-ca"))),
            ],
            [
                "minted with the APIC-client CA key",
                apicUiCheck(deployed, await forge(caOf(deployed, "apic-client-ca"))),
            ],
            ["minted with the UI client CA key", apicUiCheck(deployed, await forge(caOf(deployed, "ui-client-ca")))],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["the backend APIC client certificate", both(NO_ISSUER)],
                ["a mesh workload certificate", both(NO_ISSUER)],
                ["minted with the mesh CA key", both(NO_ISSUER)],
                ["minted with the gateway-server CA key", both(NO_ISSUER)],
                ["minted with the APIC-client CA key", both(NO_ISSUER)],
                // APIC cannot pin keys: a holder of the UI client CA key itself gets in (README says so).
                ["minted with the UI client CA key", both("ok")],
            ],
        );
    });

    it("makes UI client certificates worthless at the backend gateway", () => {
        const gateway = object(deployed, "k8s/example/istio-system/secret-apic-mtls-ob.yaml").stringData;
        const [[, verdict]] = decide([
            [
                "a UI client at the gateway",
                {
                    caCrt: gateway["ca.crt"],
                    chain: uiSecret(deployed, "consumer-dashboard")["tls.crt"],
                    purpose: "sslclient",
                },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), both(NO_ISSUER));
    });

    it("lets the UI sidecar verify APIC's server certificate for the host, and refuse one minted with the mesh CA key", async () => {
        const caCrt = uiSecret(deployed, "consumer-dashboard")["ca.crt"];
        const served =
            deployed.read(`apic/ui/${APIC_HOST}/server.crt`) + deployed.read(`apic/ui/${APIC_HOST}/ca-chain.pem`);
        const mesh = cacerts(deployed, "example");
        const forged = await mintLeaf(
            { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] },
            { commonName: APIC_HOST, dnsNames: [APIC_HOST], allowedUses: ["digital_signature", "server_auth"] },
        );
        const check = (chain: string): PeerCheck => ({
            caCrt,
            chain,
            purpose: "sslserver",
            subjectAltNames: [APIC_HOST],
        });
        const verdicts = decide([
            ["APIC's certificate", check(served)],
            ["minted with the mesh CA key", check(forged.cert + mesh["ca-cert.pem"])],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["APIC's certificate", both("ok")],
                ["minted with the mesh CA key", both(NO_ISSUER)],
            ],
        );
        const profile = JSON.parse(deployed.read(`apic/ui/${APIC_HOST}/tls-server-profile.json`));
        assert.deepStrictEqual(
            [
                profile.mutual_authentication,
                profile.protocols,
                profile.truststore_url.endsWith("/truststores/example-ui-clients"),
            ],
            ["require", ["tls_v1.2", "tls_v1.3"], true],
        );
    });

    it("refuses the stack's own mesh, APIC client or UI client root as pki:frontEnd.apicServerCa once made: a CA key under it would pose as APIC to the UI services", async () => {
        // Each root as anyone can read it: istiod's cacerts, the gateway's ca.crt, APIC's UI truststore.
        const mesh = cacerts(deployed, "example");
        const clientRoot = object(deployed, "k8s/example/istio-system/secret-apic-mtls-ob.yaml").stringData["ca.crt"];
        const uiClientRoot = pemBlocks(deployed.read("apic/ui/truststore.pem"))[0];
        const forged = await mintLeaf(
            { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] },
            { commonName: APIC_HOST, dnsNames: [APIC_HOST], allowedUses: ["digital_signature", "server_auth"] },
        );
        const [[, verdict]] = decide([
            [
                "a UI sidecar trusting the mesh root for APIC",
                {
                    caCrt: mesh["root-cert.pem"],
                    chain: forged.cert + mesh["ca-cert.pem"],
                    purpose: "sslserver",
                    subjectAltNames: [APIC_HOST],
                },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), both("ok"));

        const raw = loadStackFile(FRONT_END);
        const withApicServerCa = (apicServerCa: string) => ({
            ...raw,
            frontEnd: { ...JSON.parse(raw.frontEnd), apicServerCa },
        });
        const refusal = (root: string, holders: string) =>
            `pki:frontEnd.apicServerCa holds this stack's ${root}; ${holders} could mint a certificate for APIC's hosts that the UI services' sidecars would take for APIC's. ` +
            "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root";
        const cases: [string, string, string][] = [
            [
                "mesh-root",
                mesh["root-cert.pem"],
                refusal(
                    "mesh root CA mesh-root (O=Example Bank, CN=example mesh root CA)",
                    "its key is in the Pulumi state, and every cluster's cacerts Secret holds the key of a mesh CA under it: whoever reads either (istiod, a cluster administrator)",
                ),
            ],
            [
                "client-root",
                clientRoot,
                refusal(
                    "APIC client root CA client-root (O=Example Bank, CN=example APIC client root CA)",
                    "its key and the APIC-client CA's under it are in the Pulumi state: whoever reads the state",
                ),
            ],
            [
                "ui-client-root",
                uiClientRoot,
                refusal(
                    "UI client root CA ui-client-root (O=Example Bank, CN=example UI client root CA)",
                    "its key and the UI client CA's under it are in the Pulumi state: whoever reads the state",
                ),
            ],
        ];
        for (const [id, pem, message] of cases) {
            const copy = new Map(state);
            await assert.rejects(renderNext(withApicServerCa(pem), `apic-server-ca-${id}`, copy), (err: unknown) => {
                // pulumi up prints a RunError without a stack trace; the SDK's prefixes say only where it met the refusal.
                assert.ok(err instanceof pulumi.RunError, `${id}: ${String(err)}`);
                assert.strictEqual(refusalText(err), message);
                return true;
            });
            const changed = [...copy].filter(([urn, r]) => JSON.stringify(state.get(urn)) !== JSON.stringify(r));
            assert.deepStrictEqual([copy.size, changed], [state.size, []], `${id}: nothing created or changed`);
        }
        // The server root, which signs APIC's UI-facing certificate here, is what the sidecars trust without it.
        const serverRoot = pemBlocks(uiSecret(deployed, "consumer-dashboard")["ca.crt"])[0];
        const allowed = await renderNext(withApicServerCa(serverRoot), "apic-server-ca-server-root", new Map(state));
        assert.strictEqual(uiSecret(allowed, "consumer-dashboard")["ca.crt"], serverRoot);
    });

    it("render prints the refusal of the mesh root as pki:frontEnd.apicServerCa alone, without the SDK's serializer prefix", async () => {
        const dir = tempDir("apic-server-ca-cli");
        const stateFile = path.join(dir, "state.json");
        const values = loadStackFileValues(FRONT_END);
        const file = (name: string, raw: Record<string, unknown>) =>
            writeTemp(
                dir,
                name,
                YAML.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
            );
        writeSeededStateFile(stateFile, "example");
        const first = await cli(
            "render",
            "--config",
            file("first.yaml", values),
            "--out",
            path.join(dir, "first"),
            "--state",
            stateFile,
        );
        assert.strictEqual(first.status, 0, first.err);
        const cacertsSecret = path.join(dir, "first", "k8s/example/istio-system/secret-cacerts.yaml");
        const meshRoot = YAML.parse(fs.readFileSync(cacertsSecret, "utf8")).stringData["root-cert.pem"];
        const frontEnd = { ...(values.frontEnd as object), apicServerCa: meshRoot };
        const config = file("mesh-root.yaml", { ...values, frontEnd });
        const refused = await cli(
            "render",
            "--config",
            config,
            "--out",
            path.join(dir, "refused"),
            "--state",
            stateFile,
        );
        assert.deepStrictEqual(
            [refused.status, refused.err],
            [
                1,
                "error: pki:frontEnd.apicServerCa holds this stack's mesh root CA mesh-root (O=Example Bank, CN=example mesh root CA); " +
                    "its key is in the Pulumi state, and every cluster's cacerts Secret holds the key of a mesh CA under it: whoever reads either (istiod, a cluster administrator) " +
                    "could mint a certificate for APIC's hosts that the UI services' sidecars would take for APIC's. " +
                    "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root\n",
            ],
        );
    });

    it("refuses as pki:frontEnd.apicServerCa an earlier certificate of the mesh root's key, and a mesh root a staged rotation retired", async () => {
        const raw = loadStackFile(FRONT_END);
        const withApicServerCa = (config: Record<string, string>, apicServerCa: string) => ({
            ...config,
            frontEnd: JSON.stringify({ ...JSON.parse(raw.frontEnd), apicServerCa }),
        });
        const tail =
            "could mint a certificate for APIC's hosts that the UI services' sidecars would take for APIC's. " +
            "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root";
        const refused = async (config: Record<string, unknown>, label: string, own: EngineState, message: string) => {
            const copy = new Map(own);
            await assert.rejects(renderNext(config, label, copy), (err: unknown) => {
                assert.ok(err instanceof pulumi.RunError, `${label}: ${String(err)}`);
                assert.strictEqual(refusalText(err), message);
                return true;
            });
            const changed = [...copy].filter(([urn, r]) => JSON.stringify(own.get(urn)) !== JSON.stringify(r));
            assert.deepStrictEqual([copy.size, changed], [own.size, []], `${label}: nothing created or changed`);
        };
        // A mesh CA's key, as every cluster's cacerts holds it, mints a certificate for APIC's host.
        const forgedUnder = async (rendered: Rendered) => {
            const mesh = cacerts(rendered, "example");
            const forged = await mintLeaf(
                { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] },
                { commonName: APIC_HOST, dnsNames: [APIC_HOST], allowedUses: ["digital_signature", "server_auth"] },
            );
            return forged.cert + mesh["ca-cert.pem"];
        };
        const sidecarTrusting = (caCrt: string, chain: string) =>
            summary(
                decide([["a UI sidecar", { caCrt, chain, purpose: "sslserver", subjectAltNames: [APIC_HOST] }]])[0][1],
            );

        // (a) The mesh root re-issued in place (its validity changed): a new certificate of the same key.
        const own = new Map(state);
        const reissued = await renderNext(
            { ...raw, validityDays: JSON.stringify({ root: 3000, intermediate: 1095, leaf: 365 }) },
            "apic-server-ca-reissued-mesh-root",
            own,
        );
        const earlier = cacerts(deployed, "example")["root-cert.pem"];
        const now = cacerts(reissued, "example")["root-cert.pem"];
        const [earlierCert, nowCert] = [earlier, now].map((pem) => new crypto.X509Certificate(pem));
        assert.deepStrictEqual(
            [earlierCert.fingerprint256 === nowCert.fingerprint256, opensslSpkiPin(earlier) === opensslSpkiPin(now)],
            [false, true],
        );
        // Trusted for APIC, the earlier certificate lets the mesh CA's key pose as APIC.
        assert.deepStrictEqual(sidecarTrusting(earlier, await forgedUnder(reissued)), both("ok"));
        await refused(
            withApicServerCa(
                { ...raw, validityDays: JSON.stringify({ root: 3000, intermediate: 1095, leaf: 365 }) },
                earlier,
            ),
            "apic-server-ca-earlier-mesh-root",
            own,
            "pki:frontEnd.apicServerCa holds this stack's mesh root CA mesh-root (O=Example Bank, CN=example mesh root CA), in another certificate of its key; " +
                "its key is in the Pulumi state, and every cluster's cacerts Secret holds the key of a mesh CA under it: whoever reads either (istiod, a cluster administrator) " +
                tail,
        );

        // (b) The mesh root rotated (prepare, switch, finish): generation 0's key is gone from the
        // state, but its mesh CAs' keys were in every cluster's cacerts.
        const rotated = new Map(state);
        const at = (phase: string) => ({
            ...raw,
            meshFinishAfterHours: "0",
            caRotation: JSON.stringify({ meshRoot: { generation: 1, phase } }),
        });
        for (const phase of ["prepare", "switch", "finish"]) await renderNext(at(phase), `mesh-root-${phase}`, rotated);
        const oldForged = await forgedUnder(deployed);
        assert.deepStrictEqual(sidecarTrusting(earlier, oldForged), both("ok"));
        await refused(
            withApicServerCa(at("finish"), earlier),
            "apic-server-ca-retired-mesh-root",
            rotated,
            "pki:frontEnd.apicServerCa holds this stack's retired mesh root CA mesh-root (O=Example Bank, CN=example mesh root CA); " +
                "its key was in the Pulumi state, and every cluster's cacerts Secret held the key of a mesh CA under it: whoever kept a copy of either (a backup, istiod, a cluster administrator) " +
                tail,
        );
        // A later update still knows it: the record keeps the retired root's key.
        await renderNext(at("finish"), "mesh-root-finished-again", rotated);
        await refused(
            withApicServerCa(at("finish"), earlier),
            "apic-server-ca-retired-mesh-root-later",
            rotated,
            "pki:frontEnd.apicServerCa holds this stack's retired mesh root CA mesh-root (O=Example Bank, CN=example mesh root CA); " +
                "its key was in the Pulumi state, and every cluster's cacerts Secret held the key of a mesh CA under it: whoever kept a copy of either (a backup, istiod, a cluster administrator) " +
                tail,
        );
    });

    it("gives each APIC host its own TLS server profile, whose keystore holds the certificate that host's callers accept", async () => {
        const second = "apic2.example.api.bank.example";
        const base = loadStackFile(FRONT_END);
        const frontEnd = { ...JSON.parse(base.frontEnd), apicHosts: [APIC_HOST, second] };
        const two = await renderNext(
            { ...base, frontEnd: JSON.stringify(frontEnd) },
            "front-end-two-hosts",
            new Map(state),
        );
        const url = "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}";
        const profiles = two.files
            .filter((f) => f.endsWith("tls-server-profile.json"))
            .sort()
            .map((f) => [f, JSON.parse(two.read(f))] as const);
        assert.deepStrictEqual(
            profiles.map(([f, p]) => [f, p.name, p.keystore_url, p.truststore_url, p.mutual_authentication]),
            [APIC_HOST, second].map((host) => {
                const label = host.replace(/\./g, "-");
                return [
                    `apic/ui/${host}/tls-server-profile.json`,
                    `example-ui-${label}-mtls`,
                    `${url}/keystores/example-ui-${label}-server`,
                    `${url}/truststores/example-ui-clients`,
                    "require",
                ];
            }),
        );
        // What APIC presents on each host with that profile: the keystore it names, as the UI
        // sidecar calling that host checks it (the server root, the host as subjectAltNames).
        const caCrt = uiSecret(two, "consumer-dashboard")["ca.crt"];
        const keystores = new Map(
            [APIC_HOST, second].map((host) => {
                const keystore = JSON.parse(two.read(`apic/ui/${host}/keystore.json`));
                return [`${url}/keystores/${keystore.name}`, keystore.keystore as string];
            }),
        );
        const verdicts = decide(
            profiles.map(([f, p]) => {
                const host = f.split("/")[2];
                const served = pemBlocks(keystores.get(p.keystore_url) ?? "").filter((b) => b.includes("CERTIFICATE"));
                const check: PeerCheck = {
                    caCrt,
                    chain: served.join(""),
                    purpose: "sslserver",
                    subjectAltNames: [host],
                };
                return [`${host}, with ${p.name}`, check] as const;
            }),
        );
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [APIC_HOST, second].map((host) => [
                `${host}, with example-ui-${host.replace(/\./g, "-")}-mtls`,
                both("ok"),
            ]),
        );
    });

    it("revokes a UI client (its successor accepted, the revoked one refused where CRLs are checked), keeps the revocation while its successor is deployed, and rotates them all", async () => {
        const own = new Map(state);
        const base = loadStackFile(FRONT_END);
        const serial = new crypto.X509Certificate(pemBlocks(uiSecret(deployed, "consumer-dashboard")["tls.crt"])[0])
            .serialNumber;
        // Issued in the before hook, revoked now: the latest time the plan takes, not before the issue.
        const lately = new Date(Date.now() - CLOCK_SKEW_MS).toISOString();
        const revokedConfig = {
            ...base,
            revocations: [
                { uiClient: "consumer-dashboard", serial, epoch: 0, reason: "keyCompromise", revokedAt: lately },
            ],
        };
        // Dated a year before the certificate was issued, the update refuses it as for an APIC client:
        // diff, which bounds a revoked certificate's life by revokedAt, would otherwise let the entry
        // (or the UI service, from pki:frontEnd.callers) go while the certificate is valid.
        const notBefore = new Date(
            new crypto.X509Certificate(pemBlocks(uiSecret(deployed, "consumer-dashboard")["tls.crt"])[0]).validFrom,
        ).toISOString();
        const mistyped = new Date(Date.parse(notBefore) - 365 * 86_400_000).toISOString();
        const backdated = { ...revokedConfig, revocations: [{ ...revokedConfig.revocations[0], revokedAt: mistyped }] };
        // A day after the issue: the earliest the update takes is then CLOCK_SKEW_MS before the notBefore.
        const dayOn = new Date(Date.parse(notBefore) + 86_400_000);
        assert.throws(() => planFromRawConfig(backdated, { deployed: deployedRecordOf(own), now: dayOn }), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:revocations[0].revokedAt ${mistyped} is before serial ${serial} was issued (notBefore ${notBefore}): ` +
                "the CRL would date its revocation before the certificate existed, and diff, which bounds the certificate's life by revokedAt, " +
                "would let the entry go while it is still valid; give the time its key was found compromised; " +
                `the earliest this update takes is ${new Date(Date.parse(notBefore) - CLOCK_SKEW_MS).toISOString()} (the certificate's notBefore, less five minutes for clock skew)`,
        });
        const revoked = await renderNext(revokedConfig, "front-end-revoked", own);
        assert.ok(revoked.files.includes("apic/ui/truststore.crl"));
        assert.ok(
            !revoked.files.some((f) => f.startsWith("k8s/example/istio-system/") && /ca\.crl/.test(revoked.read(f))),
            "the gateway gets no CRL for a UI client",
        );
        const verdicts = decide([
            ["re-issued", apicUiCheck(revoked, uiSecret(revoked, "consumer-dashboard")["tls.crt"])],
            ["revoked", apicUiCheck(revoked, uiSecret(deployed, "consumer-dashboard")["tls.crt"])],
            ["another UI service", apicUiCheck(revoked, uiSecret(revoked, "authentication-ui")["tls.crt"])],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["re-issued", both("ok")],
                ["revoked", both("certificate revoked")],
                ["another UI service", both("ok")],
            ],
        );
        // Removing the entry would take the serial out of APIC's UI CRL (the leaked key passing
        // again), with the client's epoch kept or not: refused while the certificate is valid, as
        // for an APIC client; once it would have expired, the epoch must still not go back.
        const successor = new crypto.X509Certificate(pemBlocks(uiSecret(revoked, "consumer-dashboard")["tls.crt"])[0]);
        const record = deployedRecordOf(own);
        const [leaked] = record.clients["ui/consumer-dashboard"];
        assert.deepStrictEqual([leaked.serialHex, leaked.revoked], [serial, true]);
        // The lifecycle, authentication-ui inside its window: one epoch for every UI client, which
        // consumer-dashboard's revocation already gave it, so it keeps its new certificate.
        const onRecord = readDeployed(revoked.dir);
        const inWindow = onRecord.inventory.map((c) =>
            c.id === "ui/authentication-ui/client" ? { ...c, renewAt: new Date(0) } : c,
        );
        assert.deepStrictEqual(
            decideLifecycle({
                config: validateConfig(revokedConfig),
                deployed: { ...onRecord, inventory: inWindow },
                now: new Date(),
                soakDays: 7,
            })
                .proposals.filter((p) => p.kind === "renew-ui-clients")
                .map((p) => [p.why.replace(/^.*? \(/, "("), p.edits]),
            [
                [
                    "(one epoch for every UI client: authentication-ui re-issued; consumer-dashboard keeps its certificate, already at that epoch since a revocation)",
                    [{ path: ["pki:rotation", "uiClientEpoch"], from: 0, to: 1 }],
                ],
            ],
        );
        for (const config of [base, { ...base, rotation: { uiClientEpoch: 1 } }]) {
            assert.throws(() => planFromRawConfig(config, { deployed: record }), {
                message:
                    "invalid stack configuration:\n" +
                    `  - pki:revocations no longer lists serial ${serial} of UI service "consumer-dashboard", which the deployed stack revoked and which is valid until ${leaked.notAfter}: ` +
                    "the CRL would stop listing it, and the leaked certificate would pass again wherever the CRL is checked. " +
                    `Keep its entry ({ uiClient: consumer-dashboard, serial: ${serial}, epoch: 0, ... }) until then`,
            });
        }
        const expired = new Date(Date.parse(leaked.notAfter) + 1000);
        assert.throws(() => planFromRawConfig(base, { deployed: record, now: expired }), {
            message:
                "invalid stack configuration:\n" +
                `  - the client certificate of UI service "consumer-dashboard" would go back from epoch 1 (deployed, serial ${successor.serialNumber}) to 0: ` +
                "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced); removing an entry of pki:revocations " +
                "lowers it too and takes the revoked serial out of APIC's UI truststore CRL. Keep the revocation until its certificate would have expired, " +
                "or set pki:rotation.uiClientEpoch to 1 (which also renews the other UI services' client certificates)",
        });
        // Removing the UI service takes its revocation with it, but APIC accepts any certificate of
        // the UI client CA (it knows no callers): refused too, with its revocation kept or dropped,
        // until the certificate expires or the CA that issued it leaves the stack.
        const frontEnd = JSON.parse(base.frontEnd);
        const withoutCaller = {
            ...base,
            frontEnd: JSON.stringify({ ...frontEnd, callers: ["authentication-ui"] }),
        };
        const removedCaller =
            "invalid stack configuration:\n" +
            `  - pki:frontEnd.callers no longer has UI service "consumer-dashboard", whose certificate serial ${serial} the deployed stack revoked and which is valid until ${leaked.notAfter}: ` +
            "its pki:revocations entry must go with it (an entry names a caller), and the CRL would stop listing the serial; APIC accepts every certificate of the UI client CA, so where it checks that CRL the leaked certificate would pass again. " +
            `Keep "consumer-dashboard" in pki:frontEnd.callers with its revocation until then, or first take pki:caRotation.uiClientCa through its finish, which ends trust in ui-client-ca, the CA that issued it`;
        for (const revocations of [[], revokedConfig.revocations]) {
            assert.throws(() => planFromRawConfig({ ...withoutCaller, revocations }, { deployed: record }), {
                message: removedCaller,
            });
        }
        assert.doesNotThrow(() => planFromRawConfig(withoutCaller, { deployed: record, now: expired }));
        const rotation = (phase: string) => ({
            ...withoutCaller,
            caRotation: { uiClientCa: { generation: 1, phase } },
        });
        assert.throws(() => planFromRawConfig(rotation("prepare"), { deployed: record }), { message: removedCaller });
        const finished = {
            ...record,
            positions: { ...record.positions, uiClientCa: { generation: 1, phase: "switch" as const } },
        };
        assert.doesNotThrow(() => planFromRawConfig(rotation("finish"), { deployed: finished }));
        // The last caller removed takes the UI client CA out of the stack, not out of the truststore
        // APIC holds: refused too, unless a finish retired the CA first.
        const noCallers = { ...base, frontEnd: JSON.stringify({ ...frontEnd, callers: [] }) };
        assert.throws(() => planFromRawConfig(noCallers, { deployed: record }), { message: removedCaller });
        const retired = {
            ...finished,
            retired: [{ ...record.cas["ui-client-ca"], id: "ui-client-ca", revokedAt: "2026-11-21" }],
        };
        assert.doesNotThrow(() => planFromRawConfig(noCallers, { deployed: retired }));
        // Once a drop was allowed, the next record no longer marks the certificate revoked.
        assert.deepStrictEqual(
            clientsAfter(record.clients, {}, new Date(), [])["ui/consumer-dashboard"].map((c) => [
                c.serialHex,
                c.revoked,
            ]),
            record.clients["ui/consumer-dashboard"].map((c) => [c.serialHex, undefined]),
        );
        const rotated = await renderNext(
            { ...base, rotation: { uiClientEpoch: 1 } },
            "front-end-rotated",
            new Map(state),
        );
        for (const name of ["consumer-dashboard", "authentication-ui"]) {
            assert.notStrictEqual(uiSecret(rotated, name)["tls.key"], uiSecret(deployed, name)["tls.key"], "a new key");
        }
        // APIC trusts the root, not a key: old and new UI clients both pass while the Secret rolls out.
        assertAllAccepted(
            decide([
                ["old", apicUiCheck(rotated, uiSecret(deployed, "consumer-dashboard")["tls.crt"])],
                ["new", apicUiCheck(rotated, uiSecret(rotated, "consumer-dashboard")["tls.crt"])],
            ]),
        );
    });

    it("has the lifecycle re-publish APIC's UI truststore CRL in each new period, before the CRL in place expires", async () => {
        // RSA CA keys (CRLs are signed with RSA only): this file's, made once.
        const own = new Map(state);
        const published = new Date();
        // Revoked just before the update (the plan refuses a time less than CLOCK_SKEW_MS before it,
        // and one more than CLOCK_SKEW_MS before the certificate was issued, in the before hook).
        const revokedAt = new Date(published.getTime() - CLOCK_SKEW_MS).toISOString();
        const serial = new crypto.X509Certificate(pemBlocks(uiSecret(deployed, "consumer-dashboard")["tls.crt"])[0])
            .serialNumber;
        const raw = {
            ...loadStackFile(FRONT_END),
            revocations: [{ uiClient: "consumer-dashboard", serial, epoch: 0, reason: "keyCompromise", revokedAt }],
        };
        const config = validateConfig(raw);
        const revoked = await renderNext(raw, "front-end-crl", own, published);
        const crl = readDeployed(revoked.dir).record.crls?.["ui-client-ca"];
        assert.deepStrictEqual([crl?.published, crl?.renewal], [true, "period"]);
        const lifecycle = (deployed: Rendered, now: Date) =>
            decideLifecycle({ config, deployed: readDeployed(deployed.dir), now, soakDays: 7 });

        const nextPeriod = new Date(crlWindow(published, config.crlPeriodDays).thisUpdate.getTime() + 7 * 86_400_000);
        // Due once the new period is CLOCK_SKEW_MS old: a CRL dated seconds ago refuses every client on a node whose clock lags.
        const dueAt = new Date(nextPeriod.getTime() + CLOCK_SKEW_MS);
        const before = lifecycle(revoked, new Date(dueAt.getTime() - 1));
        assert.deepStrictEqual([before.republishCrls, before.republishWhy], [false, []]);
        const due = lifecycle(revoked, dueAt);
        const day = (iso: string | Date) => new Date(iso).toISOString().slice(0, 10);
        assert.deepStrictEqual(
            [due.republishCrls, due.republishWhy],
            [
                true,
                [
                    `the CRL of ui-client-ca was signed for the period from ${day(crl?.thisUpdate ?? "")}; a new 7-day period began ${day(nextPeriod)} (valid until ${day(crl?.nextUpdate ?? "")}); ` +
                        "after the update load apic/ui/truststore.crl (stack output frontEnd.apic.truststoreCrlPem) where DataPower checks the UI clients' CRLs",
                ],
            ],
        );

        // The pipeline's pulumi up (no config change) re-signs it; then nothing is due.
        const republished = await renderNext(raw, "front-end-crl-republished", own, dueAt);
        const fresh = readDeployed(republished.dir).record.crls?.["ui-client-ca"];
        assert.ok((fresh?.number ?? 0) > (crl?.number ?? 0), "a higher CRL number");
        assert.deepStrictEqual(lifecycle(republished, dueAt).republishWhy, []);
        // The render's timeline draws the CRLs it signed: its period, not the one of the machine's clock.
        const crlBar = /:crl_\w*_UI_\w*_truststore_2e_crl, (\d{4}-\d{2}-\d{2}),/.exec(republished.read("timeline.mmd"));
        assert.strictEqual(crlBar?.[1], day(fresh?.thisUpdate ?? ""));

        // Once the old CRL passed its next update, APIC (checking CRLs) refuses every UI client with it, not with the new one.
        const expiredAt = new Date(Date.parse(crl?.nextUpdate ?? "") + 1000);
        assert.match(
            lifecycle(revoked, expiredAt).needsHuman.join("\n"),
            /the CRL of ui-client-ca passed its next update/,
        );
        const successor = uiSecret(revoked, "consumer-dashboard")["tls.crt"];
        const verdicts = decide([
            ["the CRL in place", apicUiCheck(revoked, successor, expiredAt)],
            ["the re-published CRL", apicUiCheck(republished, successor, expiredAt)],
            [
                "the revoked certificate",
                apicUiCheck(republished, uiSecret(deployed, "consumer-dashboard")["tls.crt"], expiredAt),
            ],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["the CRL in place", both("CRL has expired")],
                ["the re-published CRL", both("ok")],
                ["the revoked certificate", both("certificate revoked")],
            ],
        );
    });
});

describe("Front end: customer-facing hosts, from the stack's CSR to the SIMPLE gateway server", function () {
    this.timeout(120_000);
    let state: EngineState;
    let pending: Rendered;
    let publicRoot: TestCa;
    let publicCa: TestCa;
    const base = loadStackFile(FRONT_END);
    /** The engine's key of the customer-facing host's Secret (the component customer-facing, the host's id). */
    const CUSTOMER_SECRET_URN = "kubernetes:core/v1:Secret::customer-facing-www-example-bank-example-tls";
    /** The config with the customer-facing host's certificate (and the test's public root). */
    const withCertificate = (certificate: string) => ({
        ...base,
        frontEnd: {
            ...(JSON.parse(base.frontEnd as string) as Record<string, unknown>),
            customerFacing: { [CUSTOMER_HOST]: { certificate } },
            publicRoots: publicRoot.certPem,
        },
    });
    /** What a public CA would sign from the stack's CSR (or, given names, from a CSR of another key). */
    const sign = async (
        csrPem: string,
        options: {
            hours?: number;
            backdateDays?: number;
            dnsNames?: string[];
            issuedAt?: Date;
            ca?: TestCa;
            allowedUses?: string[];
            isCaCertificate?: boolean;
        } = {},
    ): Promise<string> => {
        const otherKey = async () =>
            (await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" })).state.privateKeyPem;
        const csr = options.dnsNames
            ? tlsProvider.certRequest({
                  privateKeyPem: await otherKey(),
                  subject: { commonName: options.dnsNames[0] },
                  dnsNames: options.dnsNames,
              }).state.certRequestPem
            : csrPem;
        const now = options.backdateDays
            ? new Date(Date.now() - options.backdateDays * 86_400_000)
            : (options.issuedAt ?? justIssued());
        return tlsProvider.locallySignedCert(
            {
                certRequestPem: csr,
                caCertPem: (options.ca ?? publicCa).certPem,
                caPrivateKeyPem: (options.ca ?? publicCa).keyPem,
                allowedUses: options.allowedUses ?? ["digital_signature", "server_auth"],
                isCaCertificate: options.isCaCertificate,
                validityPeriodHours: options.hours ?? 90 * 24,
            },
            { now: () => now },
        ).state.certPem as string;
    };

    /** A CA certificate of `keyPem` named `commonName` (Example Bank), signed by the public root: a cross-certificate. */
    const crossSignedByPublicRoot = (keyPem: string, commonName: string): Promise<string> =>
        sign(
            tlsProvider.certRequest({ privateKeyPem: keyPem, subject: { commonName, organization: "Example Bank" } })
                .state.certRequestPem as string,
            { ca: publicRoot, isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing"] },
        );

    /** What a public CA would sign from the CSR with openssl: with SHA-1, which browsers refuse, or with more extensions. */
    const signWithOpenssl = (csr: string, digest: "sha1" | "sha256", extensions: readonly string[] = []): string => {
        const dir = tempDir("public-openssl");
        return execFileSync(
            "openssl",
            [
                "x509",
                "-req",
                "-CA",
                writeTemp(dir, "ca.crt", publicCa.certPem),
                "-CAkey",
                writeTemp(dir, "ca.key", publicCa.keyPem),
                `-${digest}`,
                "-days",
                "30",
                "-set_serial",
                "5",
                "-extfile",
                writeTemp(
                    dir,
                    "ext.cnf",
                    [
                        `subjectAltName = DNS:${CUSTOMER_HOST}`,
                        "keyUsage = critical, digitalSignature",
                        "extendedKeyUsage = serverAuth",
                        ...extensions,
                    ].join("\n") + "\n",
                ),
            ],
            { input: csr, encoding: "utf8", stdio: "pipe" },
        );
    };

    /**
     * CustomerFacingTls used directly for CUSTOMER_HOST, with `publicRootsPem` when given: its CSR, and
     * what serving a certificate for it gives, each from the state that made the CSR: the refusal, or
     * "served", and the Secrets created.
     */
    const customerFacingTls = async (publicRootsPem?: pulumi.Input<string>) => {
        const componentState: EngineState = new Map();
        const component = (certificatePem?: pulumi.Input<string>) =>
            new CustomerFacingTls("public", {
                hosts: [{ host: CUSTOMER_HOST, ...(certificatePem !== undefined ? { certificatePem } : {}) }],
                keyAlgorithm: "ECDSA",
                ...(publicRootsPem !== undefined ? { publicRootsPem } : {}),
            });
        const { outputs } = await runWithStandIn(() => ({ csr: component().csrPems[CUSTOMER_HOST] }), {
            state: componentState,
        });
        /** The refusal, or "served", and the Secrets the run created. */
        const serve = async (certificatePem: pulumi.Input<string>) => {
            const copy = new Map(componentState);
            const verdict = await runWithStandIn(
                () => ({ served: component(certificatePem).servedCertPems[CUSTOMER_HOST] }),
                {
                    state: copy,
                },
            ).then(() => "served", refusalText);
            return [verdict, [...copy.keys()].filter((urn) => urn.includes("kubernetes:core/v1:Secret")).length];
        };
        return { outputs, serve };
    };

    /** Asserts that the stack refuses each certificate with exactly these problems of its key, creating nothing. */
    const assertRefused = async (cases: [title: string, certificate: string, problems: string[]][]) => {
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        for (const [title, certificate, problems] of cases) {
            const copy = new Map(state);
            await assert.rejects(
                renderNext(withCertificate(certificate), `customer-${title.replace(/[^a-z0-9]+/gi, "-")}`, copy),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, `${title}: ${String(err)}`);
                    assert.deepStrictEqual(
                        err.problems.filter((p) => p.startsWith(key)),
                        problems,
                        title,
                    );
                    return true;
                },
            );
            assert.strictEqual(copy.size, state.size, `${title}: nothing created`);
        }
    };

    /** The customer-facing Gateway's server of CUSTOMER_HOST, with its certificate given. */
    const CUSTOMER_SERVER = {
        port: { number: 443, name: "https-www-example-bank-example", protocol: "HTTPS" },
        hosts: [CUSTOMER_HOST],
        tls: {
            mode: "SIMPLE",
            credentialName: "public-tls-www-example-bank-example",
            minProtocolVersion: "TLSV1_2",
        },
    };

    before(async () => {
        state = newStackState();
        pending = await renderNext(base, "customer-pending", state);
        publicRoot = await mintRoot("Test Public Root CA");
        publicCa = await mintSubCa(publicRoot, "Test Public Issuing CA");
    });

    it("makes the key and exports the CSR, and creates no Secret or Gateway until the certificate is given", () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
        assert.ok(!pending.files.some((f) => f.includes("public-tls") || f.includes("gateway-customer-facing")));
    });

    it("puts a valid certificate with its chain into the Secret of a SIMPLE Gateway server, which a browser accepts", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        await renderNext(withCertificate((await sign(csr)) + publicCa.certPem), "customer-signed", new Map(state)).then(
            (signed) => {
                const secret = object(
                    signed,
                    "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml",
                );
                const gateway = object(signed, "k8s/example/istio-ingress-public/gateway-customer-facing.yaml");
                assert.deepStrictEqual(gateway.spec.servers, [CUSTOMER_SERVER]);
                const [[, verdict]] = decide([
                    [
                        "a browser",
                        {
                            caCrt: publicRoot.certPem,
                            chain: secret.stringData["tls.crt"],
                            purpose: "sslserver",
                            subjectAltNames: [CUSTOMER_HOST],
                            partialChain: false,
                        },
                    ],
                ]);
                assert.deepStrictEqual(summary(verdict), both("ok"));
                assert.strictEqual(
                    crypto.createPublicKey(secret.stringData["tls.key"]).export({ type: "spki", format: "pem" }),
                    new crypto.X509Certificate(pemBlocks(secret.stringData["tls.crt"])[0]).publicKey.export({
                        type: "spki",
                        format: "pem",
                    }),
                );
                const row = signed.inventory.find((c) => c.id === `public/${CUSTOMER_HOST}`);
                assert.deepStrictEqual(
                    [row?.role, row?.issuer],
                    ["customer-facing", "public CA (CN=Test Public Issuing CA)"],
                );
            },
        );
    });

    it("refuses, once this stack's CAs resolve, a customer-facing chain that reaches one of them and a public root that is one of them, by key: the internet-facing key would be a backend gateway server certificate", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const serverCa = caOf(pending, "gateway-server-ca");
        const rootId = pending.plan.cas.find((ca) => ca.id === "gateway-server-ca")?.issuer as string;
        const serverRoot = caOf(pending, `${rootId}-ca`);
        const serverCaSubject = subjectOf(new crypto.X509Certificate(serverCa.certPem));
        const rootSubject = subjectOf(new crypto.X509Certificate(serverRoot.certPem));
        // A leaf for the host from the gateway-server CA's key, as the reviewer's repro signs it.
        const leaf = await sign(csr, { ca: serverCa });
        // The root re-issued with its key (other dates, other bytes), and the gateway-server CA's key certified by the public root.
        const reissued = tlsProvider.selfSignedCert({
            privateKeyPem: serverRoot.keyPem,
            subject: { commonName: "example gateway server root CA", organization: "Example Bank" },
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: 48,
        }).state.certPem as string;
        const crossSigned = await crossSignedByPublicRoot(serverCa.keyPem, "example gateway server CA");
        const valid = (await sign(csr)) + publicCa.certPem;
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const fix = `a customer-facing host needs a certificate from a public CA, whose chain ends at a publicly trusted root, not at this PKI: have a public CA sign the CSR for ${CUSTOMER_HOST}`;
        const rootRefusal = (shown: string) =>
            `pki:frontEnd.publicRoots holds this stack's gateway server root CA ${rootId} ${shown}: a customer-facing chain must end at a publicly trusted root, not at this PKI, whose keys the stack and its ceremony hold. ` +
            "Remove it, and give the root of the public CA that signs the customer-facing certificates";
        const cases: [string, string, string, string][] = [
            [
                "the repro: the gateway-server CA's leaf, the stack's root as public root",
                leaf + serverCa.certPem,
                serverRoot.certPem,
                `${key}: the certificate is signed by this stack's issuing CA gateway-server-ca (${serverCaSubject}); ${fix}`,
            ],
            [
                "a public root that is the stack's root, beside a public CA's",
                valid,
                publicRoot.certPem + serverRoot.certPem,
                rootRefusal(`(${rootSubject})`),
            ],
            [
                "a public root that is the stack's root re-issued with its key",
                valid,
                publicRoot.certPem + reissued,
                rootRefusal(`(${rootSubject}), in another certificate of its key`),
            ],
            [
                "a leaf under the gateway-server CA's key, certified by a public root",
                leaf + crossSigned,
                publicRoot.certPem,
                `${key}: the certificate is signed by this stack's issuing CA gateway-server-ca (${serverCaSubject}); ${fix}`,
            ],
        ];
        for (const [title, certificate, publicRoots, message] of cases) {
            const copy = new Map(state);
            const config = withCertificate(certificate);
            const frontEnd = { ...(config.frontEnd as Record<string, unknown>), publicRoots };
            await assert.rejects(renderNext({ ...config, frontEnd }, "customer-own-ca", copy), (err: unknown) => {
                assert.ok(err instanceof pulumi.RunError, `${title}: ${String(err)}`);
                assert.strictEqual(refusalText(err), message, title);
                return true;
            });
            const secrets = [...copy.keys()].filter((urn) => urn.endsWith(CUSTOMER_SECRET_URN));
            assert.deepStrictEqual(secrets, [], `${title}: no customer-facing Secret`);
        }
    });

    it("refuses, once a staged rotation retired a root, a public root and a customer-facing chain that hold that root's key, known by the pin the record keeps", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        // Generation 0 of the mesh root, with its key, as a copy of the state before the rotation has it.
        const oldRoot = caOf(pending, "mesh-root-ca");
        const rotated = new Map(state);
        const at = (phase: string) => ({
            ...base,
            meshFinishAfterHours: "0",
            caRotation: JSON.stringify({ meshRoot: { generation: 1, phase } }),
        });
        for (const phase of ["prepare", "switch", "finish"])
            await renderNext(at(phase), `customer-mesh-root-${phase}`, rotated);
        // The retired root's key certified by the public root: a chain under it ends at a public root.
        const crossSigned = await crossSignedByPublicRoot(oldRoot.keyPem, "example mesh root CA");
        const leaf = await sign(csr, { ca: { certPem: crossSigned, keyPem: oldRoot.keyPem } });
        const valid = (await sign(csr)) + publicCa.certPem;
        const oldSubject = subjectOf(new crypto.X509Certificate(oldRoot.certPem));
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const cases: [string, string, string, string][] = [
            [
                "a public root that is the retired mesh root",
                valid,
                publicRoot.certPem + oldRoot.certPem,
                `pki:frontEnd.publicRoots holds this stack's retired mesh root CA mesh-root (${oldSubject}): a customer-facing chain must end at a publicly trusted root, not at this PKI, whose keys the stack and its ceremony hold. ` +
                    "Remove it, and give the root of the public CA that signs the customer-facing certificates",
            ],
            [
                "a chain through the retired mesh root's key, certified by a public root",
                leaf + crossSigned,
                publicRoot.certPem,
                `${key}: ${subjectOf(new crypto.X509Certificate(crossSigned))} in its chain is this stack's retired mesh root CA mesh-root (${subjectOf(new crypto.X509Certificate(crossSigned))}); ` +
                    `a customer-facing host needs a certificate from a public CA, whose chain ends at a publicly trusted root, not at this PKI: have a public CA sign the CSR for ${CUSTOMER_HOST}`,
            ],
        ];
        for (const [title, certificate, publicRoots, message] of cases) {
            const copy = new Map(rotated);
            const frontEnd = { ...withCertificate(certificate).frontEnd, publicRoots };
            await assert.rejects(
                renderNext({ ...at("finish"), frontEnd }, "customer-retired-root", copy),
                (err: unknown) => {
                    assert.ok(err instanceof pulumi.RunError, `${title}: ${String(err)}`);
                    assert.strictEqual(refusalText(err), message, title);
                    return true;
                },
            );
            const secrets = [...copy.keys()].filter((urn) => urn.endsWith(CUSTOMER_SECRET_URN));
            assert.deepStrictEqual(secrets, [], `${title}: no customer-facing Secret`);
        }
        // A public CA's certificate still passes: the retired root's pin refuses only what holds its key.
        const copy = new Map(rotated);
        const served = await renderNext(
            { ...at("finish"), frontEnd: withCertificate(valid).frontEnd },
            "customer-retired-root-valid",
            copy,
        );
        assert.deepStrictEqual(
            [
                served.files.includes(
                    "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml",
                ),
                [...copy.keys()].filter((urn) => urn.endsWith(CUSTOMER_SECRET_URN)).length,
            ],
            [true, 1],
        );
    });

    it("serves the customer-facing hosts from the gateway pki:frontEnd.customerFacingGateway names: its Gateway and Secret in that gateway's namespace, selecting its pods, the APIC Gateways left on the backend gateway", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const config = withCertificate((await sign(csr)) + publicCa.certPem);
        const frontEnd = {
            ...(config.frontEnd as Record<string, unknown>),
            customerFacingGateway: { namespace: "public-gateway", selector: { istio: "public-ingressgateway" } },
        };
        const signed = await renderNext({ ...config, frontEnd }, "customer-own-gateway", new Map(state));
        const { metadata: gatewayMetadata, spec } = object(
            signed,
            "k8s/example/public-gateway/gateway-customer-facing.yaml",
        );
        assert.deepStrictEqual(
            [gatewayMetadata, spec],
            [
                { name: "customer-facing", namespace: "public-gateway" },
                {
                    selector: { istio: "public-ingressgateway" },
                    servers: [CUSTOMER_SERVER],
                },
            ],
        );
        const secret = object(signed, "k8s/example/public-gateway/secret-public-tls-www-example-bank-example.yaml");
        assert.deepStrictEqual(
            [secret.metadata, secret.type, Object.keys(secret.stringData)],
            [
                { name: "public-tls-www-example-bank-example", namespace: "public-gateway" },
                "kubernetes.io/tls",
                ["tls.crt", "tls.key"],
            ],
        );
        // Nothing of the customer-facing hosts stays on the backend gateway, whose Gateways keep its pods.
        assert.deepStrictEqual(
            signed.files.filter((f) => f.startsWith("k8s/example/") && /(secret|gateway)-/.test(f)).sort(),
            [
                "k8s/example/istio-system/gateway-apic-mtls-ob.yaml",
                "k8s/example/istio-system/secret-apic-mtls-ob.yaml",
                "k8s/example/istio-system/secret-cacerts.yaml",
                "k8s/example/ob-ui/secret-apic-client-authentication-ui.yaml",
                "k8s/example/ob-ui/secret-apic-client-consumer-dashboard.yaml",
                "k8s/example/public-gateway/gateway-customer-facing.yaml",
                "k8s/example/public-gateway/secret-public-tls-www-example-bank-example.yaml",
            ],
        );
        assert.deepStrictEqual(object(signed, "k8s/example/istio-system/gateway-apic-mtls-ob.yaml").spec.selector, {
            istio: "ingressgateway",
        });
        assert.deepStrictEqual(signed.inventory.find((c) => c.id === `public/${CUSTOMER_HOST}`)?.goesTo, [
            "k8s/example/public-gateway/secret-public-tls-www-example-bank-example (tls.crt, tls.key)",
        ]);
    });

    it("writes the public roots to front-end/public-roots.pem, certificates only, for expiry to name one before its end refuses the update", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const raw = withCertificate((await sign(csr)) + publicCa.certPem);
        // A note beside the root in the config is no certificate: the file holds the root alone.
        const frontEnd = {
            ...(raw.frontEnd as Record<string, unknown>),
            publicRoots: `# bought from Test\n${publicRoot.certPem}`,
        };
        const signed = await renderNext({ ...raw, frontEnd }, "customer-public-roots", new Map(state));
        const file = path.join(signed.dir, "front-end/public-roots.pem");
        assert.deepStrictEqual(
            [fs.readFileSync(file, "utf8"), fs.statSync(file).mode & 0o777],
            [new crypto.X509Certificate(publicRoot.certPem).toString(), 0o644],
        );
        // Its last day is inside --warn-days; once it has expired, the next update is refused.
        const root = new crypto.X509Certificate(publicRoot.certPem);
        const notAfter = new Date(root.validTo);
        const expiry = async (now: Date) => {
            const result = await cli("expiry", "--dir", signed.dir, "--now", now.toISOString(), "--format", "json");
            const rows = (JSON.parse(result.out) as { rows: ExpiryRow[] }).rows;
            const row = rows.find((r) => r.serial === root.serialNumber);
            return [result.status, row?.subject, row?.status, row?.due, row?.files];
        };
        const subject = "public root (pki:frontEnd.publicRoots): CN=Test Public Root CA";
        assert.deepStrictEqual(await expiry(new Date(notAfter.getTime() - 3_600_000)), [
            1,
            subject,
            "renew soon",
            true,
            [file],
        ]);
        assert.deepStrictEqual(await expiry(new Date(notAfter.getTime() + 1000)), [
            1,
            subject,
            "expired",
            true,
            [file],
        ]);
        const text = await cli(
            "expiry",
            "--dir",
            signed.dir,
            "--now",
            new Date(notAfter.getTime() + 1000).toISOString(),
        );
        assert.ok(text.out.includes(`${subject} (expired)`), text.out);
        await assert.rejects(
            renderNext(
                { ...raw, frontEnd },
                "customer-public-root-expired",
                new Map(state),
                new Date(notAfter.getTime() + 1000),
            ),
            (error: Error) => {
                const refused =
                    `pki:frontEnd.publicRoots holds CN=Test Public Root CA, which expired on ${notAfter.toISOString()}, ` +
                    "so every certificate under it is refused; give the CA that replaced it";
                assert.ok(refusalText(error).includes(refused), refusalText(error));
                return true;
            },
        );
    });

    it("asks for no common name for a host longer than a common name's 64 characters: a public CA takes a CN only as one of the SAN's names", async () => {
        // Before, the CN was the host's id cut to 64 characters, a name outside the SAN: Let's Encrypt
        // adds the CN to the names to issue for, and refused the CSR (Baseline Requirements 7.1.4.3).
        const long = `customer-payments-portal.${"x".repeat(50)}.bank.example`;
        assert.strictEqual(long.length, 88);
        const csrOf = async (organization?: string) => {
            const { outputs } = await runWithStandIn(
                () => ({
                    csr: new CustomerFacingTls("public", {
                        hosts: [{ host: long }, { host: CUSTOMER_HOST }],
                        keyAlgorithm: "ECDSA",
                        ...(organization !== undefined ? { organization } : {}),
                    }).csrPems,
                }),
                { state: new Map() },
            );
            return outputs.csr as Record<string, string>;
        };
        const subjectAndNames = (csr: string) => [
            openssl(["req", "-noout", "-subject"], csr),
            /X509v3 Subject Alternative Name: *\n *(.*)\n/.exec(openssl(["req", "-noout", "-text"], csr).output)?.[1],
        ];
        const plain = await csrOf();
        assert.deepStrictEqual(subjectAndNames(plain[long]), [{ status: 0, output: "subject=\n" }, `DNS:${long}`]);
        const named = await csrOf("Example Bank");
        assert.deepStrictEqual(subjectAndNames(named[long]), [
            { status: 0, output: "subject=O = Example Bank\n" },
            `DNS:${long}`,
        ]);
        // A host within 64 characters keeps its CN, the host itself.
        assert.deepStrictEqual(subjectAndNames(named[CUSTOMER_HOST]), [
            { status: 0, output: `subject=O = Example Bank, CN = ${CUSTOMER_HOST}\n` },
            `DNS:${CUSTOMER_HOST}`,
        ]);
        // The stack's plan (diff, inventory) says the same subject.
        const config = JSON.parse(base.frontEnd as string) as Record<string, unknown>;
        const plan = planFromRawConfig({ ...base, frontEnd: { ...config, customerFacing: { [long]: {} } } });
        assert.deepStrictEqual(
            plan.frontEnd.customerFacing.map((c) => [c.host, c.subject]),
            [[long, plan.config.organization === undefined ? {} : { organization: plan.config.organization }]],
        );
    });

    /** A CustomerFacingTls "public" for the host, given `publicRootsPem`: "created" or its refusal, and how many keys and CSRs it made. */
    const publicRootsVerdict = async (publicRootsPem: pulumi.Input<string>) => {
        const componentState: EngineState = new Map();
        const verdict = await runWithStandIn(
            () => ({
                csr: new CustomerFacingTls("public", { hosts: [{ host: CUSTOMER_HOST }], publicRootsPem }).csrPems[
                    CUSTOMER_HOST
                ],
            }),
            { state: componentState },
        ).then(() => "created", refusalText);
        return [verdict, [...componentState.keys()].filter((urn) => urn.includes("tls:index")).length];
    };

    it("refuses an expired public root beside a valid one, in pki:frontEnd.publicRoots and in CustomerFacingTls's publicRootsPem, creating nothing", async () => {
        // Before, one unexpired root was enough, and a chain ending at the expired one was served:
        // browsers refuse it ("certificate has expired"). The README and expiry's help promise this refusal.
        const day = 86_400_000;
        const oldRoot = await mintRoot("Test Old Public Root", {
            issuedAt: new Date(Date.now() - 10 * day),
            validityHours: 48,
        });
        const underOld = await mintSubCa(oldRoot, "Test CA Under Old Root", {
            issuedAt: new Date(Date.now() - 9 * day),
            validityHours: 300 * 24,
        });
        const roots = publicRoot.certPem + oldRoot.certPem;
        const expired = `holds CN=Test Old Public Root, which expired on ${new Date(new crypto.X509Certificate(oldRoot.certPem).validTo).toISOString()}: browsers refuse every chain that ends at it ("certificate has expired"); remove it, or give the root that replaced it`;
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const raw = withCertificate((await sign(csr, { ca: underOld })) + underOld.certPem);
        const copy = new Map(state);
        const stack = await renderNext(
            { ...raw, frontEnd: { ...(raw.frontEnd as Record<string, unknown>), publicRoots: roots } },
            "customer-expired-public-root",
            copy,
        ).then(
            () => "rendered",
            (err: unknown) => (err instanceof ConfigError ? err.problems : String(err)),
        );
        assert.deepStrictEqual(
            [
                stack,
                copy.size === state.size,
                await publicRootsVerdict(roots),
                await publicRootsVerdict(pulumi.output(roots)),
            ],
            [
                [`pki:frontEnd.publicRoots ${expired}`],
                true,
                [`CustomerFacingTls public: publicRootsPem ${expired}`, 0],
                [`CustomerFacingTls public: publicRootsPem ${expired}`, 0],
            ],
        );
    });

    it("refuses a public root not valid yet beside a valid one, as openssl does every chain that ends at it, in pki:frontEnd.publicRoots and in CustomerFacingTls's publicRootsPem, creating nothing", async () => {
        // Before, both took it: OpenSSL and browsers refuse every chain ending at it until its notBefore.
        const futureRoot = await mintRoot("Test Future Public Root", {
            issuedAt: new Date(Date.now() + 86_400_000),
            validityHours: 400 * 24,
        });
        const underFuture = await mintSubCa(futureRoot, "Test CA Under Future Root", { validityHours: 300 * 24 });
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const leaf = await sign(csr, { ca: underFuture });
        const dir = tempDir("public-future-root");
        const verified = openssl([
            "verify",
            "-CAfile",
            writeTemp(dir, "root.pem", futureRoot.certPem),
            "-untrusted",
            writeTemp(dir, "ca.pem", underFuture.certPem),
            writeTemp(dir, "leaf.pem", leaf),
        ]);
        const roots = publicRoot.certPem + futureRoot.certPem;
        const notBefore = new Date(new crypto.X509Certificate(futureRoot.certPem).validFrom).toISOString();
        const notYet = `holds CN=Test Future Public Root, which is not valid before ${notBefore}: browsers and OpenSSL refuse every chain that ends at it until then ("certificate is not yet valid"); remove it and add it back once it is valid by the clock the run checks with (this machine's, or the --now given)`;
        const raw = withCertificate(leaf + underFuture.certPem);
        const copy = new Map(state);
        const stack = await renderNext(
            { ...raw, frontEnd: { ...(raw.frontEnd as Record<string, unknown>), publicRoots: roots } },
            "customer-future-public-root",
            copy,
        ).then(
            () => "rendered",
            (err: unknown) => (err instanceof ConfigError ? err.problems : String(err)),
        );
        // A root dated within the clock skew allowed (as for an intermediate) is taken.
        const skewed = await mintRoot("Test Skewed Public Root", {
            issuedAt: new Date(Date.now() + CLOCK_SKEW_MS / 2),
        });
        assert.deepStrictEqual(
            [
                verified.status !== 0 &&
                    /error 9 at 2 depth lookup: certificate is not yet valid/.test(verified.output),
                stack,
                copy.size === state.size,
                await publicRootsVerdict(roots),
                await publicRootsVerdict(pulumi.output(roots)),
                await publicRootsVerdict(publicRoot.certPem + skewed.certPem),
            ],
            [
                true,
                [`pki:frontEnd.publicRoots ${notYet}`],
                true,
                [`CustomerFacingTls public: publicRootsPem ${notYet}`, 0],
                [`CustomerFacingTls public: publicRootsPem ${notYet}`, 0],
                ["created", 2],
            ],
            verified.output,
        );
    });

    it("serves a chain that ends in a cross-signed copy of a trusted root, which browsers holding that root accept", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        // The trusted root's subject and key, signed by a root browsers need not hold (Sectigo's USERTrust under AAA).
        const olderRoot = await mintRoot("Test Older Public Root");
        const crossSigned = crossSign(publicRoot, "Test Public Root CA", olderRoot);
        const chain = (await sign(csr)) + publicCa.certPem + crossSigned;
        const signed = await renderNext(withCertificate(chain), "customer-cross-signed", new Map(state));
        const served = object(
            signed,
            "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml",
        ).stringData["tls.crt"];
        assert.deepStrictEqual(pemBlocks(served), pemBlocks(chain), "served as given, the cross-certificate too");
        const browser = (caCrt: string): PeerCheck => ({
            caCrt,
            chain: served,
            purpose: "sslserver",
            subjectAltNames: [CUSTOMER_HOST],
            partialChain: false,
        });
        assert.deepStrictEqual(
            decide([
                ["a browser holding the root", browser(publicRoot.certPem)],
                ["a browser holding only the older root", browser(olderRoot.certPem)],
            ]).map(([label, verdict]) => [label, summary(verdict)]),
            [
                ["a browser holding the root", both("ok")],
                ["a browser holding only the older root", both("ok")],
            ],
        );
    });

    /**
     * The public root cross-signed by an older root (as USERTrust by AddTrust, expired since May
     * 2020), expired a day ago, and that older root.
     */
    const expiredCrossSigned = async () => {
        const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
        const olderRoot = await mintRoot("Test Older Public Root", { issuedAt: twoDaysAgo, validityHours: 96 });
        const expiredCross = crossSign(publicRoot, "Test Public Root CA", olderRoot, { issuedAt: twoDaysAgo });
        const expiredOn = new Date(new crypto.X509Certificate(expiredCross).validTo).toISOString();
        return { olderRoot, expiredCross, expiredOn };
    };

    /**
     * Renders the stack with `chain` (ending in the root cross-signed by `olderRoot`) as the host's
     * certificate, asserts it is served as given, and returns the verdicts of a browser holding the
     * root and of one holding only the older root.
     */
    const servedCrossSigned = async (chain: string, name: string, olderRoot: TestCa) => {
        const signed = await renderNext(withCertificate(chain), name, new Map(state));
        const served = object(
            signed,
            "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml",
        ).stringData["tls.crt"];
        assert.deepStrictEqual(pemBlocks(served), pemBlocks(chain), "served as given, the cross-certificate too");
        return [
            ...browserVerdicts(publicRoot.certPem, [["the root", served]]),
            ...browserVerdicts(olderRoot.certPem, [["only the older root", served]]),
        ];
    };

    it("serves, from the stack and from CustomerFacingTls given its roots, a chain ending in an expired cross-signed copy of the root, and still refuses an expired Issuing CA under it", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        // The component the stack creates refused what the stack's plan accepted.
        const { olderRoot, expiredCross } = await expiredCrossSigned();
        const chain = (await sign(csr)) + publicCa.certPem + expiredCross;
        assert.deepStrictEqual(await servedCrossSigned(chain, "customer-expired-cross", olderRoot), [
            ["the root", both("ok")],
            ["only the older root", both("certificate has expired")],
        ]);
        const { outputs, serve } = await customerFacingTls(publicRoot.certPem);
        const { expired, expiredOn } = await badIntermediates();
        assert.deepStrictEqual(
            [
                await serve((await sign(outputs.csr)) + publicCa.certPem + expiredCross),
                await serve((await sign(outputs.csr, { ca: expired })) + expired.certPem + expiredCross),
            ],
            [
                ["served", 1],
                [
                    `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}: CN=Test Expired Issuing CA (the leaf's issuer) expired on ${expiredOn}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
                    0,
                ],
            ],
        );
        await assertRefused([
            [
                "expired Issuing CA under an expired cross-signed root",
                (await sign(csr, { ca: expired })) + expired.certPem + expiredCross,
                [
                    `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate: CN=Test Expired Issuing CA (the leaf's issuer) expired on ${expiredOn}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
                ],
            ],
        ]);
    });

    it("renders a chain whose cross-signed copy of the root has pathlen:0, which browsers holding the root never use", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const olderRoot = await mintRoot("Test Older Public Root");
        // The root's key and subject under the older root, with pathlen:0: the stack's plan stops at it, and
        // the component it created held its pathlen against the Issuing CA below.
        const dir = tempDir("public-cross-pathlen");
        const crossCsr = execFileSync(
            "openssl",
            ["req", "-new", "-key", writeTemp(dir, "root.key", publicRoot.keyPem), "-subj", "/CN=Test Public Root CA"],
            { encoding: "utf8", stdio: "pipe" },
        );
        const crossPathlen0 = execFileSync(
            "openssl",
            [
                "x509",
                "-req",
                "-CA",
                writeTemp(dir, "older.crt", olderRoot.certPem),
                "-CAkey",
                writeTemp(dir, "older.key", olderRoot.keyPem),
                "-days",
                "1",
                "-set_serial",
                "77",
                "-extfile",
                writeTemp(
                    dir,
                    "ext.cnf",
                    "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n",
                ),
            ],
            { input: crossCsr, encoding: "utf8", stdio: "pipe" },
        );
        const chain = (await sign(csr)) + publicCa.certPem + crossPathlen0;
        assert.deepStrictEqual(await servedCrossSigned(chain, "customer-cross-pathlen-0", olderRoot), [
            ["the root", both("ok")],
            ["only the older root", both("path length constraint exceeded")],
        ]);
    });

    it("gives, from CustomerFacingTls given publicRootsPem, the plan's verdict on chains ending in an expired cross-signed copy of the root", async () => {
        const { olderRoot, expiredCross, expiredOn } = await expiredCrossSigned();
        // The older root cross-signed by a third, as a bundle may end in two cross-certificates.
        const oldestRoot = await mintRoot("Test Oldest Public Root");
        const olderCross = crossSign(olderRoot, "Test Older Public Root", oldestRoot);
        const given = `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}`;
        const withRoots = await customerFacingTls(publicRoot.certPem);
        const withOlderRootOnly = await customerFacingTls(pulumi.output(olderRoot.certPem));
        const withoutRoots = await customerFacingTls();
        // One CSR's key for every component: a public CA signs it once.
        const leaf = await sign(withRoots.outputs.csr);
        const rootLeaf = await sign(withRoots.outputs.csr, { ca: publicRoot });
        const chains: [string, string][] = [
            ["L,I,X", leaf + publicCa.certPem + expiredCross],
            ["L,X", rootLeaf + expiredCross],
            ["L,I,X,Y", leaf + publicCa.certPem + expiredCross + olderCross],
        ];
        /** The plan's problems (named as the component names the certificate) and the component's verdict. */
        const verdicts = async (roots: string, serve: (pem: string) => Promise<(string | number)[]>) => {
            const rows = [];
            for (const [title, pem] of chains) {
                const now = new Date();
                const plan = publicCertificateProblems({
                    key: given,
                    host: CUSTOMER_HOST,
                    pem,
                    now,
                    extraRoots: roots,
                });
                rows.push([title, plan, (await serve(pem))[0]]);
            }
            return rows;
        };
        const expiredCrossProblem = `${given}: CN=Test Public Root CA in the chain expired on ${expiredOn}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`;
        assert.deepStrictEqual(await verdicts(publicRoot.certPem, withRoots.serve), [
            ["L,I,X", [], "served"],
            ["L,X", [], "served"],
            ["L,I,X,Y", [], "served"],
        ]);
        // Given as an output, checked where the certificate is.
        assert.deepStrictEqual(await verdicts(olderRoot.certPem, withOlderRootOnly.serve), [
            ["L,I,X", [expiredCrossProblem], expiredCrossProblem],
            [
                "L,X",
                [expiredCrossProblem.replace("in the chain", "(the leaf's issuer)")],
                expiredCrossProblem.replace("in the chain", "(the leaf's issuer)"),
            ],
            ["L,I,X,Y", [expiredCrossProblem], expiredCrossProblem],
        ]);
        // Without the roots nothing tells that the cross-certificate is the root's: it is dated.
        assert.deepStrictEqual(
            (await verdicts(publicRoot.certPem, withoutRoots.serve)).map(([title, , component]) => [title, component]),
            [
                ["L,I,X", expiredCrossProblem],
                ["L,X", expiredCrossProblem.replace("in the chain", "(the leaf's issuer)")],
                ["L,I,X,Y", expiredCrossProblem],
            ],
        );
        // Roots as the stack takes pki:frontEnd.publicRoots: an intermediate is refused before any
        // key, given as text or, once it resolves, as an output.
        const refusedRoots = async (publicRootsPem: pulumi.Input<string>) => {
            const refusedState: EngineState = new Map();
            const refusal = await runWithStandIn(
                () => ({
                    csr: new CustomerFacingTls("public", { hosts: [{ host: CUSTOMER_HOST }], publicRootsPem }).csrPems[
                        CUSTOMER_HOST
                    ],
                }),
                { state: refusedState },
            ).then(() => "created", refusalText);
            return [refusal, [...refusedState.keys()].filter((urn) => urn.includes("tls:index")).length];
        };
        const notRoot = `CustomerFacingTls public: publicRootsPem holds CN=Test Public Issuing CA, which is not a self-signed CA certificate; give the root`;
        assert.deepStrictEqual(
            [await refusedRoots(publicCa.certPem), await refusedRoots(pulumi.output(publicCa.certPem))],
            [
                [notRoot, 0],
                [notRoot, 0],
            ],
        );
    });

    it("warns once of an expired leaf from CustomerFacingTls, the certificate and publicRootsPem each plain or an output", async () => {
        const warn = console.warn;
        const rows = [];
        for (const [rootsTitle, roots] of [
            ["no roots", undefined],
            ["plain roots", publicRoot.certPem],
            ["roots as an output", pulumi.output(publicRoot.certPem)],
        ] as const) {
            const { outputs, serve } = await customerFacingTls(roots);
            const expired = (await sign(outputs.csr, { hours: 24, backdateDays: 2 })) + publicCa.certPem;
            const expiredOn = new Date(new crypto.X509Certificate(expired).validTo).toISOString();
            const warning = `warning: [runtime] CustomerFacingTls public: the certificate given for ${CUSTOMER_HOST} expired on ${expiredOn}; customers are refused until a new one is given`;
            for (const [certificateTitle, certificate] of [
                ["plain certificate", expired],
                ["certificate as an output", pulumi.output(expired)],
            ] as const) {
                const warnings: string[] = [];
                console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
                try {
                    const [verdict] = await serve(certificate);
                    // Each warning printed, as the one expected or not.
                    rows.push([rootsTitle, certificateTitle, verdict, warnings.map((w) => w === warning || w)]);
                } finally {
                    console.warn = warn;
                }
            }
        }
        assert.deepStrictEqual(rows, [
            ["no roots", "plain certificate", "served", [true]],
            ["no roots", "certificate as an output", "served", [true]],
            ["plain roots", "plain certificate", "served", [true]],
            ["plain roots", "certificate as an output", "served", [true]],
            ["roots as an output", "plain certificate", "served", [true]],
            ["roots as an output", "certificate as an output", "served", [true]],
        ]);
    });

    it("checks, in CustomerFacingTls without publicRootsPem, the last certificate of a chain that reaches no known root as an intermediate, not as the root", async () => {
        const { outputs, serve } = await customerFacingTls();
        const { notCa } = await badIntermediates();
        const future = await mintSubCa(publicRoot, "Test Future CA", {
            issuedAt: new Date(Date.now() + 86_400_000),
        });
        const shortCa = await rsa1024Ca();
        const noMore = opensslCa(
            "Test Pathlen 0 CA",
            ["basicConstraints = critical, CA:TRUE, pathlen:0", "keyUsage = critical, keyCertSign, cRLSign"],
            publicRoot,
        );
        /** The leaf under an Issuing CA under `top`, and the chain up to `top`, without the root. */
        const under = async (top: TestCa) => {
            const issuing = await mintSubCa(top, "Test Issuing CA Below");
            return (await sign(outputs.csr, { ca: issuing })) + issuing.certPem + top.certPem;
        };
        const given = `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}`;
        const current = "ask the public CA for its current intermediate certificate";
        const notBefore = new Date(new crypto.X509Certificate(future.certPem).validFrom).toISOString();
        assert.deepStrictEqual(
            [
                await serve(await under(future)),
                await serve(await under(notCa)),
                await serve(await under(shortCa)),
                await serve(await under(noMore)),
            ],
            [
                [
                    `${given}: CN=Test Future CA in the chain is not valid before ${notBefore}: browsers refuse the certificate under it until then ("certificate is not yet valid"); ${current}`,
                    0,
                ],
                [
                    `${given}: CN=Test Not A CA in the chain is not a CA certificate (CA:FALSE): browsers refuse the certificate it signed ("invalid CA certificate"); ask the public CA for the intermediate certificate that signed this one`,
                    0,
                ],
                [
                    `${given}: CN=Test RSA-1024 CA in the chain has an RSA key of 1024 bits, below the 2048 public CAs must use (CA/Browser Forum Baseline Requirements 6.1.5), and browsers refuse it; ${current}`,
                    0,
                ],
                [
                    `${given}: CN=Test Pathlen 0 CA in the chain has pathlen:0, which allows no CA below it, but there is 1 down to CN=Test Issuing CA Below (the leaf's issuer): ` +
                        `OpenSSL, Go (istiod) and Envoy's BoringSSL would refuse every certificate it signs ("path length constraint exceeded"); give a CA higher up the chain, or re-issue CN=Test Pathlen 0 CA with pathlen:1 or more`,
                    0,
                ],
            ],
        );
    });

    it("refuses, before anything is created, a certificate for another key, another host, an incomplete chain, expired or too long-lived", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        // The day the message names is the certificate's notBefore (a minute back): one clock for both.
        const issued = justIssued();
        const issuedAt = issued.toISOString().slice(0, 10);
        const cases: [string, string, string][] = [
            [
                "another key",
                (await sign(csr, { dnsNames: [CUSTOMER_HOST] })) + publicCa.certPem,
                `${key} certifies another key than the one this stack made for ${CUSTOMER_HOST}: have the public CA sign this stack's CSR for ${CUSTOMER_HOST}`,
            ],
            [
                "another host",
                (await sign(csr, { dnsNames: ["shop.example.bank.example"] })) + publicCa.certPem,
                `${key}: the certificate's DNS names (shop.example.bank.example) do not cover ${CUSTOMER_HOST}; have it issued for ${CUSTOMER_HOST}`,
            ],
            [
                "no intermediate",
                await sign(csr),
                `${key}: the chain is incomplete: the leaf's issuer is missing; add the intermediate certificates after the leaf`,
            ],
            [
                "expired",
                (await sign(csr, { hours: 24, backdateDays: 2 })) + publicCa.certPem,
                `${key}: the certificate expired on `,
            ],
            [
                "398 days after SC-081v3",
                (await sign(csr, { hours: 398 * 24, issuedAt: issued })) + publicCa.certPem,
                `${key}: the certificate is valid 398 days and 1 second; a public CA may issue at most 200 days from ${issuedAt} (CA/Browser Forum SC-081v3), so browsers refuse it`,
            ],
        ];
        for (const [title, certificate, message] of cases) {
            const copy = new Map(state);
            const before = copy.size;
            await assert.rejects(
                renderNext(withCertificate(certificate), `customer-${title.replace(/ /g, "-")}`, copy),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, `${title}: ${String(err)}`);
                    const problems = err.problems.filter((p) => p.startsWith(key));
                    assert.ok(
                        problems.some((p) => p.startsWith(message)),
                        `${title}: ${problems.join(" | ")}`,
                    );
                    return true;
                },
            );
            assert.strictEqual(copy.size, before, `${title}: nothing created`);
        }
    });

    /** A public CA with an RSA key of 1024 bits, which browsers refuse. */
    const rsa1024Ca = async (): Promise<TestCa> => {
        const keyPem = (await tlsProvider.privateKey({ algorithm: "RSA", rsaBits: 1024 })).state
            .privateKeyPem as string;
        return { keyPem, certPem: crossSign({ keyPem }, "Test RSA-1024 CA", publicRoot) };
    };

    /** Two intermediates under the public root that browsers refuse: one expired (and when), one with CA:FALSE. */
    const badIntermediates = async () => {
        const expired = await mintSubCa(publicRoot, "Test Expired Issuing CA", {
            issuedAt: new Date(Date.now() - 2 * 86_400_000),
        });
        const expiredOn = new Date(new crypto.X509Certificate(expired.certPem).validTo).toISOString();
        const notCa = opensslCa(
            "Test Not A CA",
            ["basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature, keyCertSign"],
            publicRoot,
        );
        return { expired, expiredOn, notCa };
    };

    it("refuses a chain with an expired intermediate, one that is no CA, or one whose pathlen it exceeds, as browsers do", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const { expired, expiredOn, notCa } = await badIntermediates();
        const noMore = opensslCa(
            "Test Pathlen 0 CA",
            ["basicConstraints = critical, CA:TRUE, pathlen:0", "keyUsage = critical, keyCertSign, cRLSign"],
            publicRoot,
        );
        const below = await mintSubCa(noMore, "Test CA Below Pathlen 0");
        const served = (await sign(csr)) + publicCa.certPem;
        // What the reviewer saw: BoringSSL and OpenSSL refuse these chains, which the stack served.
        assert.deepStrictEqual(
            browserVerdicts(publicRoot.certPem, [
                ["expired", (await sign(csr, { ca: expired })) + expired.certPem],
                ["no CA", (await sign(csr, { ca: notCa })) + notCa.certPem],
                ["pathlen", (await sign(csr, { ca: below })) + below.certPem + noMore.certPem],
                ["sound", served],
            ]),
            [
                ["expired", both("certificate has expired")],
                ["no CA", both("invalid CA certificate")],
                ["pathlen", both("path length constraint exceeded")],
                ["sound", both("ok")],
            ],
        );
        await assertRefused([
            [
                "expired intermediate",
                (await sign(csr, { ca: expired })) + expired.certPem,
                [
                    `${key}: CN=Test Expired Issuing CA (the leaf's issuer) expired on ${expiredOn}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
                ],
            ],
            [
                "intermediate CA:FALSE",
                (await sign(csr, { ca: notCa })) + notCa.certPem,
                [
                    `${key}: CN=Test Not A CA (the leaf's issuer) is not a CA certificate (CA:FALSE): browsers refuse the certificate it signed ("invalid CA certificate"); ask the public CA for the intermediate certificate that signed this one`,
                ],
            ],
            [
                "pathlen exceeded",
                (await sign(csr, { ca: below })) + below.certPem + noMore.certPem,
                [
                    `${key}: CN=Test Pathlen 0 CA in the chain has pathlen:0, which allows no CA below it, but there is 1 down to CN=Test CA Below Pathlen 0 (the leaf's issuer): ` +
                        `OpenSSL, Go (istiod) and Envoy's BoringSSL would refuse every certificate it signs ("path length constraint exceeded"); give a CA higher up the chain, or re-issue CN=Test Pathlen 0 CA with pathlen:1 or more`,
                ],
            ],
        ]);
    });

    it("refuses a leaf without digitalSignature or with CA:TRUE, and a leaf or intermediate signed with SHA-1 or on an RSA key under 2048 bits", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const sha1Leaf = signWithOpenssl(csr, "sha1");
        const sha1Ca = opensslCa(
            "Test SHA-1 CA",
            ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign"],
            publicRoot,
            "sha1",
        );
        const shortCa = await rsa1024Ca();
        const current = "ask the public CA for its current intermediate certificate";
        await assertRefused([
            [
                "leaf without digitalSignature",
                (await sign(csr, { allowedUses: ["key_encipherment", "server_auth"] })) + publicCa.certPem,
                [
                    `${key}: the certificate's keyUsage lacks digitalSignature, with which a server signs the TLS handshake: browsers refuse it ("unsupported certificate purpose"); ask the public CA for a new certificate with digitalSignature`,
                ],
            ],
            [
                "leaf CA:TRUE",
                (await sign(csr, { isCaCertificate: true })) + publicCa.certPem,
                [
                    `${key}: the certificate is a CA certificate (CA:TRUE), which a public CA may not issue for a server (CA/Browser Forum Baseline Requirements 7.1.2.7.8); ask the public CA for a new certificate, with CA:FALSE`,
                ],
            ],
            [
                "leaf SHA-1",
                sha1Leaf + publicCa.certPem,
                [
                    `${key}: the certificate is signed with SHA-1, whose collisions let a forged certificate carry the same signature, and browsers refuse it; ask the public CA for a new certificate, signed with SHA-256 or better`,
                ],
            ],
            [
                "intermediate SHA-1",
                (await sign(csr, { ca: sha1Ca })) + sha1Ca.certPem,
                [
                    `${key}: CN=Test SHA-1 CA (the leaf's issuer) is signed with SHA-1, whose collisions let a forged certificate carry the same signature, and browsers refuse it; ${current}`,
                ],
            ],
            [
                "intermediate RSA-1024",
                (await sign(csr, { ca: shortCa })) + shortCa.certPem,
                [
                    `${key}: CN=Test RSA-1024 CA (the leaf's issuer) has an RSA key of 1024 bits, below the 2048 public CAs must use (CA/Browser Forum Baseline Requirements 6.1.5), and browsers refuse it; ${current}`,
                ],
            ],
        ]);
    });

    it("holds the lifetime to SC-081v3's limit to the second, both ends counted, as the Baseline Requirements count it", async () => {
        const csr = pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`);
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const ca = await mintSubCa(publicRoot, "Test Long-Lived Issuing CA", {
            issuedAt: new Date("2026-02-01T00:00:00Z"),
            validityHours: 800 * 24,
        });
        const problemsOf = async (issued: string, hours: number) => {
            const issuedAt = new Date(issued);
            return publicCertificateProblems({
                key,
                host: CUSTOMER_HOST,
                pem: (await sign(csr, { ca, issuedAt, hours })) + ca.certPem,
                now: new Date(issuedAt.getTime() + 86_400_000),
                extraRoots: publicRoot.certPem,
            });
        };
        const second = 1 / 3600;
        assert.deepStrictEqual(
            [
                await problemsOf("2026-03-01T00:00:00Z", 398 * 24 - second),
                await problemsOf("2026-03-01T00:00:00Z", 398 * 24 + 10),
                await problemsOf("2026-11-20T00:00:00Z", 200 * 24 - second),
                await problemsOf("2026-11-20T00:00:00Z", 200.45 * 24),
            ],
            [
                [],
                [
                    `${key}: the certificate is valid 398 days, 10 hours and 1 second; a public CA may issue at most 398 days from 2026-03-01 (CA/Browser Forum SC-081v3), so browsers refuse it`,
                ],
                [],
                [
                    `${key}: the certificate is valid 200 days, 10 hours, 48 minutes and 1 second; a public CA may issue at most 200 days from 2026-11-20 (CA/Browser Forum SC-081v3), so browsers refuse it`,
                ],
            ],
        );
    });

    it("has CustomerFacingTls itself refuse a leaf for its host by CN alone, or by a partial wildcard, as the stack and browsers do", async () => {
        const serve = async (certificatePem: string) =>
            runWithStandIn(
                () =>
                    new CustomerFacingTls("public", {
                        hosts: [{ host: CUSTOMER_HOST, certificatePem }],
                        keyAlgorithm: "ECDSA",
                    }).servedCertPems[CUSTOMER_HOST],
                { state: new Map() },
            ).then(() => "accepted", refusalText);
        const cnOnly = await mintLeaf(publicCa, { commonName: CUSTOMER_HOST, allowedUses: ["server_auth"] });
        const partial = await mintLeaf(publicCa, {
            commonName: "w*.example.bank.example",
            dnsNames: ["w*.example.bank.example"],
            allowedUses: ["server_auth"],
        });
        assert.deepStrictEqual(
            [await serve(cnOnly.cert + publicCa.certPem), await serve(partial.cert + publicCa.certPem)],
            [
                `CustomerFacingTls public: the certificate given for ${CUSTOMER_HOST} is for CN=${CUSTOMER_HOST}, not for ${CUSTOMER_HOST}; give the certificate the public CA issued for this host's CSR`,
                `CustomerFacingTls public: the certificate given for ${CUSTOMER_HOST} is for DNS:w*.example.bank.example, not for ${CUSTOMER_HOST}; give the certificate the public CA issued for this host's CSR`,
            ],
        );
    });

    it("has CustomerFacingTls itself refuse, creating nothing for the host, an expired or CA:FALSE intermediate and a SHA-1 leaf, as the stack does", async () => {
        // Used directly, the component checked the leaf's names alone and served chains browsers refuse.
        const { outputs, serve } = await customerFacingTls();
        const { expired, expiredOn, notCa } = await badIntermediates();
        const given = `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}`;
        assert.deepStrictEqual(
            [
                await serve((await sign(outputs.csr, { ca: expired })) + expired.certPem),
                await serve((await sign(outputs.csr, { ca: notCa })) + notCa.certPem),
                await serve(signWithOpenssl(outputs.csr, "sha1") + publicCa.certPem),
                await serve((await sign(outputs.csr)) + publicCa.certPem + publicRoot.certPem),
            ],
            [
                [
                    `${given}: CN=Test Expired Issuing CA (the leaf's issuer) expired on ${expiredOn}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
                    0,
                ],
                [
                    `${given}: CN=Test Not A CA (the leaf's issuer) is not a CA certificate (CA:FALSE): browsers refuse the certificate it signed ("invalid CA certificate"); ask the public CA for the intermediate certificate that signed this one`,
                    0,
                ],
                [
                    `${given}: the certificate is signed with SHA-1, whose collisions let a forged certificate carry the same signature, and browsers refuse it; ask the public CA for a new certificate, signed with SHA-256 or better`,
                    0,
                ],
                ["served", 1],
            ],
        );
    });

    it("has CustomerFacingTls refuse an intermediate for client authentication only, one whose nameConstraints exclude the host, and a leaf with an unknown critical extension, as browsers do", async () => {
        // The component wrote the Secret and the Gateway for these chains, which every customer refused.
        const { outputs, serve } = await customerFacingTls();
        const caExtensions = ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign"];
        const clientOnly = opensslCa(
            "Test Client Auth CA",
            [...caExtensions, "extendedKeyUsage = clientAuth"],
            publicRoot,
        );
        // A bank's technically constrained sub-CA, for another domain.
        const constrained = opensslCa(
            "Test Constrained CA",
            [...caExtensions, "nameConstraints = critical, permitted;DNS:other.example"],
            publicRoot,
        );
        const chains = {
            clientOnly: (await sign(outputs.csr, { ca: clientOnly })) + clientOnly.certPem,
            constrained: (await sign(outputs.csr, { ca: constrained })) + constrained.certPem,
            unknownExtension:
                signWithOpenssl(outputs.csr, "sha256", ["1.3.6.1.4.1.99999.1 = critical, ASN1:NULL"]) +
                publicCa.certPem,
        };
        assert.deepStrictEqual(browserVerdicts(publicRoot.certPem, Object.entries(chains)), [
            ["clientOnly", { boringssl: "unsupported certificate purpose", openssl: "unsuitable certificate purpose" }],
            ["constrained", both("permitted subtree violation")],
            ["unknownExtension", both("unhandled critical extension")],
        ]);
        const given = `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}`;
        assert.deepStrictEqual(
            [await serve(chains.clientOnly), await serve(chains.constrained), await serve(chains.unknownExtension)],
            [
                [
                    `${given}: CN=Test Client Auth CA (the leaf's issuer) has extendedKeyUsage clientAuth, without serverAuth, and verifiers hold a CA's extendedKeyUsage against the certificates below it: ` +
                        `OpenSSL ("unsuitable certificate purpose"), Envoy's BoringSSL ("unsupported certificate purpose") and Go ("incompatible key usage") would refuse the server certificates this CA signs; ` +
                        "give a CA whose extendedKeyUsage includes serverAuth, or that has none",
                    0,
                ],
                [
                    `${given}: the certificate's DNS name "${CUSTOMER_HOST}" is outside the nameConstraints of CN=Test Constrained CA (the leaf's issuer), which permit only DNS:other.example for DNS names: ` +
                        `Envoy's BoringSSL, OpenSSL and Go would refuse the certificate signed for it ("permitted subtree violation"); ask the public CA for a certificate from a CA whose nameConstraints allow it`,
                    0,
                ],
                [
                    `${given}: the certificate has the critical extension 1.3.6.1.4.1.99999.1, which Envoy's BoringSSL and OpenSSL do not handle: browsers refuse it ("unhandled critical extension"); ` +
                        "ask the public CA for a new certificate without that extension, or with it non-critical",
                    0,
                ],
            ],
        );
    });

    it("refuses, before anything is created, a certificate run into its chain on one line (cat of a file without its final newline), naming the line", async () => {
        // Each block still parsed apart in the config check, then planning failed with OpenSSL's "bad end line" alone.
        const leaf = await sign(pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`));
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const copy = new Map(state);
        await assert.rejects(
            renderNext(withCertificate(leaf.trimEnd() + publicCa.certPem), "customer-run-together", copy),
            {
                name: "ConfigError",
                problems: [
                    `${key} has two PEM blocks run together on line ${leaf.split("\n").length - 1}: the END of a CERTIFICATE block and the next BEGIN must be on separate lines ` +
                        "(cat joins them so when a file lacks its final newline); put a line break between them",
                ],
            },
        );
        assert.strictEqual(copy.size, state.size, "nothing created");
    });

    it("refuses a key's bare base64 after the chain and a CERTIFICATE block that is no certificate, naming it by place, never quoting the key; takes openssl's subject= lines", async () => {
        // The bare key was taken, and tls.crt went without it; the unreadable block was "text with no PEM certificate".
        const leaf = await sign(pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`));
        const keyPem = crypto
            .generateKeyPairSync("rsa", { modulusLength: 2048 })
            .privateKey.export({ type: "pkcs8", format: "pem" });
        const body = `${keyPem.toString().trim().split("\n").slice(1, -1).join("\n")}\n`;
        const keyAsCertificate = `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate`;
        const cases: [string, string, string[]][] = [
            [
                "bare key",
                leaf + publicCa.certPem + body,
                [
                    `${key} holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear, so take the key out ` +
                        `(and, if it is this host's key, raise pki:frontEnd.customerFacing.${CUSTOMER_HOST}.epoch for a new key and CSR); give the public CA's certificate and its chain only`,
                ],
            ],
            [
                "key as certificate",
                leaf + publicCa.certPem + keyAsCertificate,
                [
                    `${key} holds, as certificate 3 of 3, a block that is no certificate; give the public CA's certificate in PEM (the leaf, then its chain)`,
                ],
            ],
        ];
        for (const [title, certificate, problems] of cases) {
            const copy = new Map(state);
            await assert.rejects(
                renderNext(withCertificate(certificate), `customer-${title.replace(/ /g, "-")}`, copy),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, `${title}: ${String(err)}`);
                    assert.deepStrictEqual(
                        err.problems.filter((p) => p.startsWith(key)),
                        problems,
                        title,
                    );
                    for (const line of body.trim().split("\n"))
                        assert.ok(!err.message.includes(line), `${title}: the key is quoted`);
                    return true;
                },
            );
            assert.strictEqual(copy.size, state.size, `${title}: nothing created`);
        }
        // CustomerFacingTls reads the chain as the stack does, and refuses the same texts alike.
        const { serve } = await customerFacingTls();
        const given = `CustomerFacingTls public: the certificatePem given for ${CUSTOMER_HOST}`;
        assert.deepStrictEqual(await serve(leaf + publicCa.certPem + body), [
            `${given} holds a private key (its base64 without the BEGIN and END lines): certificates are handed out and stored in clear, ` +
                "so take the key out (and replace it if the text has been shared); give the public CA's certificate and its intermediates only",
            0,
        ]);
        assert.deepStrictEqual(await serve(leaf + publicCa.certPem + keyAsCertificate), [
            `${given} holds, as certificate 3 of 3, a block that is no certificate; give the public CA's certificate (leaf first, then its intermediates) or leave certificatePem out until it comes`,
            0,
        ]);
        // openssl's comment lines between the blocks are no key: taken, and left out of tls.crt.
        const subjectLine = (pem: string) =>
            `subject=${new crypto.X509Certificate(pem).subject.replace(/\n/g, ", ")}\n`;
        const commented = subjectLine(leaf) + leaf + subjectLine(publicCa.certPem) + publicCa.certPem;
        const signed = await renderNext(withCertificate(commented), "customer-commented", new Map(state));
        const secret = object(
            signed,
            "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml",
        );
        assert.strictEqual(secret.stringData["tls.crt"], leaf + publicCa.certPem);
    });

    it("refuses a customer-facing certificate that also covers APIC's host while the UI sidecars trust a CA outside this PKI: the edge's key would pose as APIC to them", async () => {
        // APIC's UI-facing endpoint serves a certificate of the same public CA (apicServerCa), and
        // the bank's order made the edge's certificate a wildcard that also covers APIC's host. The
        // attacker holds the customer-facing key, the most exposed one (the internet-facing gateway).
        const edgeKey = pending.engine.resources.find((r) => r.name === "customer-facing-www-example-bank-example-key")
            ?.state.privateKeyPem as string;
        const wildcard = "*.example.api.bank.example";
        const wide = tlsProvider.certRequest({
            privateKeyPem: edgeKey,
            subject: { commonName: CUSTOMER_HOST },
            dnsNames: [CUSTOMER_HOST, wildcard],
        }).state.certRequestPem as string;
        const wideChain = (await sign(wide)) + publicCa.certPem;
        const narrowChain = (await sign(pending.read(`front-end/csr/${CUSTOMER_HOST}.csr`))) + publicCa.certPem;
        const withApicServerCa = (certificate: string) => {
            const config = withCertificate(certificate);
            return { ...config, frontEnd: { ...config.frontEnd, apicServerCa: publicRoot.certPem } };
        };
        const narrow = await renderNext(withApicServerCa(narrowChain), "customer-apic-ca", new Map(state));
        const verdicts = decide([
            [
                "the edge's certificate for its host",
                uiSidecarCheck(narrow, "consumer-dashboard", APIC_HOST, narrowChain),
            ],
            ["the edge's wildcard", uiSidecarCheck(narrow, "consumer-dashboard", APIC_HOST, wideChain)],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["the edge's certificate for its host", both(SAN_MISMATCH)],
                ["the edge's wildcard", both("ok")],
            ],
        );
        const copy = new Map(state);
        const before = copy.size;
        const key = `pki:frontEnd.customerFacing.${CUSTOMER_HOST}`;
        await assert.rejects(renderNext(withApicServerCa(wideChain), "customer-covers-apic", copy), (err: unknown) => {
            assert.ok(err instanceof ConfigError, String(err));
            assert.deepStrictEqual(
                err.problems.filter((p) => p.startsWith(key)),
                [
                    `${key}.certificate also covers APIC's host ${APIC_HOST} (DNS name ${wildcard}), and the UI services' sidecars trust pki:frontEnd.apicServerCa, a CA outside this PKI, ` +
                        `for APIC: if it is the public CA's, whoever holds this key on the internet-facing gateway could pose as APIC to them. ` +
                        `Have the public CA revoke it, raise ${key}.epoch for a new key and CSR, and have it issued for ${CUSTOMER_HOST} alone`,
                ],
            );
            return true;
        });
        assert.strictEqual(copy.size, before, "nothing created");
    });
});

describe("Front end: names as the bank's inventory spells them", () => {
    it("maps a UI service with upper case to its lower-cased Kubernetes name and identity", () => {
        const plan = planFromRawConfig({
            ...loadStackFile(FRONT_END),
            frontEnd: {
                services: ["ob-ui-boilerplatemasterCDR-data-usecase2-UI"],
                callers: ["ob-ui-boilerplatemasterCDR-data-usecase2-UI"],
                apicHosts: [APIC_HOST],
            },
        });
        assert.deepStrictEqual(
            plan.frontEnd.uiClients.map((c) => [c.service, c.name, c.namespace, c.secret.name, c.identity]),
            [
                [
                    "ob-ui-boilerplatemasterCDR-data-usecase2-UI",
                    "ob-ui-boilerplatemastercdr-data-usecase2-ui",
                    "ui",
                    "apic-client-ob-ui-boilerplatemastercdr-data-usecase2-ui",
                    "urn:apic-istio-pki:example:ui-client:ob-ui-boilerplatemastercdr-data-usecase2-ui",
                ],
            ],
        );
    });

    it("refuses an endpoint named ui beside UI callers: its APIC bundle and APIC's UI truststore would both be apic/ui/", () => {
        // Render failed half-way with EEXIST, blaming the disk; diff passed the change.
        const raw = loadStackFile(FRONT_END);
        const domains = JSON.parse(raw.domains) as Record<string, unknown>;
        const renamed = { ...raw, domains: JSON.stringify({ ui: domains.ob }) };
        assert.throws(() => planFromRawConfig(renamed), {
            message:
                "invalid stack configuration:\n" +
                '  - pki:domains.ui gives the endpoint name "ui", whose APIC bundle would go to apic/ui/, where APIC\'s UI truststore for pki:frontEnd.callers goes. Rename the domain',
        });
        const noCallers = JSON.stringify({ ...JSON.parse(raw.frontEnd), callers: [] });
        assert.doesNotThrow(() => planFromRawConfig({ ...renamed, frontEnd: noCallers }), "no UI truststore, no clash");
    });
});
