import * as assert from "assert";
import { X509Certificate } from "crypto";
import {
    apicCredentials,
    mintLeaf,
    mintRoot,
    gatewayServerConfig,
    handshake,
    OPTION_FILES,
    pemBlocks,
    renderStackFile,
    Rendered,
    WORKLOAD_USES,
} from "./helpers";

function stateOf(rendered: Rendered, name: string, field: string): string {
    const resource = rendered.engine.resources.find((r) => r.name === name);
    assert.ok(resource, `resource ${name}`);
    return resource.state[field] as string;
}

for (const option of [1, 2, 3] as const) {
    describe(`Option ${option}: real mutual-TLS handshakes with the rendered material`, function () {
        this.timeout(120_000);
        let rendered: Rendered;
        before(async () => {
            rendered = await renderStackFile(OPTION_FILES[option]);
        });

        it("accepts each endpoint's APIC client cert, and the client verifies the server's host name", async () => {
            for (const e of rendered.plan.endpoints) {
                const result = await handshake(gatewayServerConfig(rendered, e.id), apicCredentials(rendered, e.id));
                assert.deepStrictEqual(
                    result,
                    { accepted: true, reason: "", clientAuthorized: true, clientError: "" },
                    e.id,
                );
            }
        });

        it("makes the client refuse a server reached under another host name", async () => {
            const [e] = rendered.plan.endpoints;
            const result = await handshake(gatewayServerConfig(rendered, e.id), {
                ...apicCredentials(rendered, e.id),
                servername: `other.${rendered.plan.config.baseDomain}`,
            });
            assert.strictEqual(result.clientAuthorized, false);
            assert.strictEqual(result.clientError, "ERR_TLS_CERT_ALTNAME_INVALID");
        });

        it("rejects a connection without a client certificate", async () => {
            const [e] = rendered.plan.endpoints;
            const { cert: _c, key: _k, ...noCert } = apicCredentials(rendered, e.id);
            const result = await handshake(gatewayServerConfig(rendered, e.id), noCert);
            assert.strictEqual(result.accepted, false);
            assert.strictEqual(result.reason, "no client certificate");
        });

        it("rejects a client cert from a foreign CA", async () => {
            const [e] = rendered.plan.endpoints;
            const foreignRoot = await mintRoot("foreign root");
            const foreign = await mintLeaf(foreignRoot, {
                commonName: "impostor",
                uris: [e.clientIdentity],
                allowedUses: ["digital_signature", "client_auth"],
            });
            const result = await handshake(gatewayServerConfig(rendered, e.id), {
                ...apicCredentials(rendered, e.id),
                cert: foreign.cert + foreignRoot.certPem,
                key: foreign.key,
            });
            assert.strictEqual(result.accepted, false);
            assert.strictEqual(result.reason, "SELF_SIGNED_CERT_IN_CHAIN");
        });

        it("rejects the gateway's own server cert presented as a client cert (EKU serverAuth only)", async () => {
            const [e] = rendered.plan.endpoints;
            const server = gatewayServerConfig(rendered, e.id);
            const result = await handshake(server, {
                ...apicCredentials(rendered, e.id),
                cert: server.tlsCrt,
                key: server.tlsKey,
            });
            assert.strictEqual(result.accepted, false);
            assert.strictEqual(result.reason, "INVALID_PURPOSE");
        });

        it("pins exactly one APIC client cert per Gateway server, and no other endpoint's cert passes", async () => {
            const clients = rendered.plan.endpoints.map((e) => ({
                id: e.id,
                credentials: apicCredentials(rendered, e.id),
            }));
            for (const e of rendered.plan.endpoints) {
                const pins = gatewayServerConfig(rendered, e.id).subjectAltNames;
                const matching = clients.filter((c) => {
                    const uri = new X509Certificate(pemBlocks(c.credentials.cert as string)[0]).subjectAltName;
                    return pins.some((pin) => uri === `URI:${pin}`);
                });
                assert.deepStrictEqual(
                    matching.map((c) => c.id),
                    [e.id],
                );
            }
            if (clients.length > 1) {
                const [first, second] = rendered.plan.endpoints;
                const result = await handshake(gatewayServerConfig(rendered, first.id), {
                    ...apicCredentials(rendered, second.id),
                    ca: apicCredentials(rendered, first.id).ca,
                    servername: first.host,
                });
                assert.strictEqual(result.accepted, false);
                assert.match(
                    result.reason,
                    /^subjectAltNames pin mismatch: URI:urn:apic-istio-pki:example:apic-client:/,
                );
            }
        });
    });
}

// The same cases under Envoy's own rules (BoringSSL and OpenSSL, partial chain, CRL check all) are in
// test/trust.test.ts; these are Node's handshakes, a second layer.
describe("Trust separation (Node handshakes): only the endpoint's APIC client passes the gateway's checks", function () {
    this.timeout(120_000);
    let rendered: Rendered;
    let endpointId: string;
    before(async () => {
        rendered = await renderStackFile(OPTION_FILES[2]);
        endpointId = rendered.plan.endpoints[0].id;
    });

    const attempt = async (leaf: { cert: string; key: string }, chain: string) =>
        handshake(gatewayServerConfig(rendered, endpointId), {
            ...apicCredentials(rendered, endpointId),
            cert: leaf.cert + chain,
            key: leaf.key,
        });

    it("rejects a clientAuth cert issued by the gateway-server CA: it is under another root", async () => {
        const ca = {
            certPem: stateOf(rendered, "gateway-server-ca-cert", "certPem"),
            keyPem: stateOf(rendered, "gateway-server-ca-key", "privateKeyPem"),
        };
        const leaf = await mintLeaf(ca, {
            commonName: rendered.plan.endpoints[0].host,
            dnsNames: [rendered.plan.endpoints[0].host],
            allowedUses: ["digital_signature", "server_auth", "client_auth"],
        });
        const result = await attempt(leaf, ca.certPem);
        assert.deepStrictEqual([result.accepted, result.reason], [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]);
    });

    it("rejects mesh workload identities signed by the stack's own mesh CA (istiod's cacerts): another root", async () => {
        const mesh = {
            certPem: stateOf(rendered, "mesh-ca-example-cert", "certPem"),
            keyPem: stateOf(rendered, "mesh-ca-example-key", "privateKeyPem"),
        };
        for (const identity of [
            "spiffe://cluster.local/ns/ob/sa/accounts",
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        ]) {
            // istiod's workload profile: serverAuth + clientAuth, SPIFFE URI SAN.
            const leaf = await mintLeaf(mesh, { commonName: "", uris: [identity], allowedUses: WORKLOAD_USES });
            const result = await attempt(leaf, mesh.certPem);
            assert.deepStrictEqual([result.accepted, result.reason], [false, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"]);
        }
    });

    it("rejects a cert of the APIC client CA for another endpoint's identity", async () => {
        const ca = {
            certPem: stateOf(rendered, "apic-client-ca-cert", "certPem"),
            keyPem: stateOf(rendered, "apic-client-ca-key", "privateKeyPem"),
        };
        const other = rendered.plan.endpoints[1];
        const leaf = await mintLeaf(ca, {
            commonName: "x",
            uris: [other.clientIdentity],
            allowedUses: ["digital_signature", "client_auth"],
        });
        const result = await attempt(leaf, ca.certPem);
        assert.strictEqual(result.reason, `subjectAltNames pin mismatch: URI:${other.clientIdentity}`);
    });

    it("rejects a cert of the APIC client CA with the endpoint's own identity but another key (the key pin)", async () => {
        const ca = {
            certPem: stateOf(rendered, "apic-client-ca-cert", "certPem"),
            keyPem: stateOf(rendered, "apic-client-ca-key", "privateKeyPem"),
        };
        const leaf = await mintLeaf(ca, {
            commonName: "x",
            uris: [rendered.plan.endpoints[0].clientIdentity],
            allowedUses: ["digital_signature", "client_auth"],
        });
        const result = await attempt(leaf, ca.certPem);
        assert.match(result.reason, /^verifyCertificateSpki mismatch: /);
    });

    it("never pins an identity istiod can issue (no spiffe:// and no DNS names in any pin)", () => {
        for (const e of rendered.plan.endpoints) {
            const pins = gatewayServerConfig(rendered, e.id).subjectAltNames;
            assert.deepStrictEqual(pins, [e.clientIdentity]);
            assert.match(pins[0], /^urn:apic-istio-pki:example:apic-client:[a-z0-9-]+$/);
        }
    });
});
