import * as assert from "assert";
import * as path from "path";
import * as YAML from "yaml";
import { X509Certificate } from "crypto";
import { gatewayBytes } from "../lib/plan/plan";
import {
    loadStackFile,
    newStackState,
    OPTION_FILES,
    opensslSpkiPin,
    renderConfig,
    renderNext,
    renderStackFile,
    Rendered,
} from "./helpers";

const OB = 17;
const DP = 7;

/** What each option implies on the seed 000 lists (OB 17, DP 7; Option 3 example: 5 OB + 2 DP groups). */
const EXPECTED = {
    1: { endpoints: 2, hosts: ["ob.example.api.bank.example", "dp.example.api.bank.example"] },
    2: {
        endpoints: OB + DP,
        hosts: ["ob-productsv2.ob.example.api.bank.example", "transaction-canonical.dp.example.api.bank.example"],
    },
    3: { endpoints: 7, hosts: ["core.ob.example.api.bank.example", "reference.dp.example.api.bank.example"] },
} as const;

function objects(rendered: Rendered, kind: string): Record<string, unknown>[] {
    return rendered.files
        .filter((f) => f.startsWith("k8s/") && path.basename(f).startsWith(`${kind}-`))
        .map((f) => YAML.parse(rendered.read(f)));
}

/** Each rendered Gateway weighs what the plan estimated, with `pins` keys pinned per server. */
function assertGatewaysEstimated(rendered: Rendered, pins: number): void {
    const { plan } = rendered;
    const gateways = objects(rendered, "gateway") as {
        metadata: { name: string; namespace: string };
        spec: { servers: { tls: { verifyCertificateSpki: string[] } }[] };
    }[];
    assert.deepStrictEqual(
        gateways.flatMap((g) => g.spec.servers.map((s) => s.tls.verifyCertificateSpki.length)),
        plan.endpoints.map(() => pins),
    );
    assert.deepStrictEqual(
        gateways.map((g) => Buffer.byteLength(JSON.stringify(g))),
        gateways.map(({ metadata }) =>
            gatewayBytes(
                metadata.name,
                metadata.namespace,
                plan.endpoints.filter((e) => e.gatewayName === metadata.name),
            ),
        ),
    );
    assert.strictEqual(gateways.length, plan.gateways.length);
}

for (const option of [1, 2, 3] as const) {
    describe(`Option ${option} on the seed service lists`, function () {
        this.timeout(120_000);
        let rendered: Rendered;
        before(async () => {
            rendered = await renderStackFile(OPTION_FILES[option]);
        });

        it(`plans exactly ${EXPECTED[option].endpoints} endpoints with unique hosts`, () => {
            const hosts = rendered.plan.endpoints.map((e) => e.host);
            assert.strictEqual(hosts.length, EXPECTED[option].endpoints);
            assert.strictEqual(new Set(hosts).size, hosts.length);
            for (const host of EXPECTED[option].hosts) assert.ok(hosts.includes(host), `missing host ${host}`);
        });

        it("estimates each domain's Gateway at the bytes of its rendered JSON, which the plan holds under etcd's limit", () => {
            assertGatewaysEstimated(rendered, 1);
        });

        it("routes every seed service through exactly one endpoint", () => {
            const routed = rendered.plan.endpoints.flatMap((e) => e.services);
            assert.strictEqual(routed.length, OB + DP);
            assert.strictEqual(new Set(routed).size, OB + DP, "no service routed twice");
        });

        it("creates one kubernetes.io/tls secret per endpoint, with tls.crt, tls.key and ca.crt", () => {
            const secrets = objects(rendered, "secret").filter(
                (s) => (s as { type: string }).type === "kubernetes.io/tls",
            ) as {
                type: string;
                metadata: { name: string; namespace: string };
                stringData: Record<string, string>;
            }[];
            assert.strictEqual(secrets.length, EXPECTED[option].endpoints);
            for (const secret of secrets) {
                assert.strictEqual(secret.type, "kubernetes.io/tls");
                assert.strictEqual(secret.metadata.namespace, "istio-system");
                assert.deepStrictEqual(Object.keys(secret.stringData).sort(), ["ca.crt", "tls.crt", "tls.key"]);
            }
            assert.deepStrictEqual(
                secrets.map((s) => s.metadata.name).sort(),
                rendered.plan.endpoints.map((e) => e.gatewaySecret.name).sort(),
            );
        });

        it("gives every endpoint one Gateway server entry: MUTUAL, its own secret, the pin and TLS 1.2", () => {
            const gateways = objects(rendered, "gateway") as {
                apiVersion: string;
                spec: { servers: { hosts: string[]; tls: Record<string, unknown> }[] };
            }[];
            assert.strictEqual(gateways.length, 2, "one Gateway per domain");
            const servers = gateways.flatMap((g) => g.spec.servers);
            assert.strictEqual(servers.length, EXPECTED[option].endpoints);
            for (const endpoint of rendered.plan.endpoints) {
                const matching = servers.filter((s) => s.hosts.includes(endpoint.host));
                assert.strictEqual(matching.length, 1, `${endpoint.host} in exactly one server entry`);
                assert.deepStrictEqual(matching[0].tls, {
                    mode: "MUTUAL",
                    credentialName: endpoint.gatewaySecret.name,
                    subjectAltNames: [endpoint.clientIdentity],
                    verifyCertificateSpki: [opensslSpkiPin(rendered.read(`apic/${endpoint.id}/client.crt`))],
                    minProtocolVersion: "TLSV1_2",
                });
                assert.deepStrictEqual(matching[0].hosts, [endpoint.host]);
            }
            const credentials = servers.map((s) => s.tls.credentialName);
            assert.strictEqual(
                new Set(credentials).size,
                credentials.length,
                "no certificate shared by two server entries",
            );
            for (const g of gateways) assert.strictEqual(g.apiVersion, "networking.istio.io/v1");
        });

        it("creates the mesh plug-in CA secret cacerts in istio-system of the cluster, and nothing else", () => {
            const others = objects(rendered, "secret").filter(
                (s) => (s as { type: string }).type !== "kubernetes.io/tls",
            );
            assert.deepStrictEqual(
                others.map((s) => (s as { metadata: unknown }).metadata),
                [{ name: "cacerts", namespace: "istio-system" }],
            );
            assert.ok(rendered.files.includes("k8s/example/istio-system/secret-cacerts.yaml"));
        });

        it("writes one APIC bundle per endpoint and an inventory row per certificate", () => {
            for (const e of rendered.plan.endpoints) {
                for (const f of ["client.crt", "client.key", "ca-chain.pem", "truststore.pem"]) {
                    assert.ok(rendered.files.includes(`apic/${e.id}/${f}`), `apic/${e.id}/${f}`);
                }
            }
            const inventory = JSON.parse(rendered.read("inventory.json")) as { certificates: { role: string }[] };
            const count = (role: string): number => inventory.certificates.filter((c) => c.role === role).length;
            assert.strictEqual(count("root"), 3, "mesh, gateway server and APIC client roots");
            assert.strictEqual(count("intermediate"), 2);
            assert.strictEqual(count("mesh-ca"), 1);
            assert.strictEqual(count("gateway-server"), EXPECTED[option].endpoints);
            assert.strictEqual(count("apic-client"), EXPECTED[option].endpoints);
        });
    });
}

describe("Option 1 in an APIC client switch", function () {
    this.timeout(120_000);
    // Option 1's two endpoints: the other options' servers are written by the same code, and cost seconds of new keys.
    it("estimates each domain's Gateway byte for byte, where each server pins APIC's new key and the one before", async () => {
        const state = newStackState();
        const raw = loadStackFile(OPTION_FILES[1]);
        await renderNext(raw, "option-1-finish", state);
        const switched = await renderNext(
            { ...raw, rotation: JSON.stringify({ apicClientEpoch: 1, apicClientPhase: "switch" }) },
            "option-1-switch",
            state,
        );
        assertGatewaysEstimated(switched, 2);
    });
});

describe("Hosts too long for a common name keep every certificate's CN within RFC 5280's 64 characters", function () {
    this.timeout(120_000);
    // The bank's longest UI service name as a backend service of a long domain, and an APIC host of 67 characters.
    const SERVICE = "ob-ui-boilerplatemasterCDR-data-usecase2-UI";
    const DOMAIN = "openbanking-consumer-data-right";
    const APIC_HOST = "apic-consumer-gateway.openbanking.production.api.examplebank.com.au";
    let rendered: Rendered;
    before(async () => {
        rendered = await renderConfig(
            {
                environment: "example",
                option: "2",
                baseDomain: "example.api.bank.example",
                keyAlgorithm: "ECDSA",
                caKeyAlgorithm: "ECDSA",
                domains: { [DOMAIN]: { services: [SERVICE] } },
                frontEnd: { services: ["consumer-dashboard"], callers: ["consumer-dashboard"], apicHosts: [APIC_HOST] },
            },
            "long-names",
            new Map(),
        );
    });

    const subjectAndSans = (file: string): [string, string | undefined] => {
        const cert = new X509Certificate(rendered.read(file));
        return [cert.subject, cert.subjectAltName];
    };

    it("names the endpoint, cut to 64, in the gateway server certificate's CN; its SAN is the host alone", () => {
        const [endpoint] = rendered.plan.endpoints;
        const secret = YAML.parse(rendered.read(`k8s/default/istio-system/secret-apic-mtls-${endpoint.id}.yaml`)) as {
            stringData: Record<string, string>;
        };
        const cert = new X509Certificate(secret.stringData["tls.crt"]);
        assert.deepStrictEqual(
            [endpoint.id, endpoint.host, cert.subject, cert.subjectAltName],
            [
                "openbanking-consumer-data-right-ob-ui-boilerplatemastercdr-data-usecase2-ui",
                "ob-ui-boilerplatemastercdr-data-usecase2-ui.openbanking-consumer-data-right.example.api.bank.example",
                "CN=openbanking-consumer-data-right-ob-ui-boilerplatemastercdr-data-",
                "DNS:ob-ui-boilerplatemastercdr-data-usecase2-ui.openbanking-consumer-data-right.example.api.bank.example",
            ],
        );
    });

    it("names the APIC host, with '-' for its dots and cut to 64, in APIC's UI-facing certificate's CN; its SAN is the host alone", () => {
        assert.deepStrictEqual(subjectAndSans(`apic/ui/${APIC_HOST}/server.crt`), [
            "CN=apic-consumer-gateway-openbanking-production-api-examplebank-com",
            `DNS:${APIC_HOST}`,
        ]);
    });
});
