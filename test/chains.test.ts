import * as assert from "assert";
import * as crypto from "crypto";
import * as tlsProvider from "../lib/engine/tlsProvider";
import {
    gatewayServerConfig,
    mintSubCa,
    OPTION_FILES,
    openssl,
    opensslText,
    pemBlocks,
    renderStackFile,
    Rendered,
    tempDir,
    writeTemp,
} from "./helpers";

/** openssl verify of a leaf against a root, with intermediates as untrusted, for a purpose. */
function verify(
    dir: string,
    root: string,
    chain: string,
    leaf: string,
    extra: string[],
): { status: number; output: string } {
    return openssl([
        "verify",
        "-x509_strict",
        "-CAfile",
        writeTemp(dir, "root.pem", root),
        ...(chain ? ["-untrusted", writeTemp(dir, "chain.pem", chain)] : []),
        ...extra,
        writeTemp(dir, "leaf.pem", leaf),
    ]);
}

for (const option of [1, 2, 3] as const) {
    describe(`Option ${option}: every certificate chain verifies with openssl`, function () {
        this.timeout(120_000);
        let rendered: Rendered;
        let dir: string;
        /** The root APIC trusts for the gateway's server certificates, and the one the gateway trusts for APIC. */
        let serverRoot: string;
        let clientRoot: string;
        before(async () => {
            rendered = await renderStackFile(OPTION_FILES[option]);
            dir = tempDir("verify");
            const truststore = pemBlocks(rendered.read(`apic/${rendered.plan.endpoints[0].id}/truststore.pem`));
            serverRoot = truststore[truststore.length - 1];
            clientRoot = gatewayServerConfig(rendered, rendered.plan.endpoints[0].id).caCrt;
        });

        it("verifies each gateway server cert for sslserver and its host name, chain in tls.crt order", () => {
            for (const e of rendered.plan.endpoints) {
                const [leaf, ...chain] = pemBlocks(gatewayServerConfig(rendered, e.id).tlsCrt);
                assert.ok(chain.length >= 1, "tls.crt carries the issuing chain");
                const result = verify(dir, serverRoot, chain.join(""), leaf, [
                    "-purpose",
                    "sslserver",
                    "-verify_hostname",
                    e.host,
                ]);
                assert.strictEqual(result.status, 0, `${e.host}: ${result.output}`);
                const wrongHost = verify(dir, serverRoot, chain.join(""), leaf, [
                    "-purpose",
                    "sslserver",
                    "-verify_hostname",
                    `x.${e.host}`,
                ]);
                assert.notStrictEqual(wrongHost.status, 0, "another host name must not verify");
                const asClient = verify(dir, serverRoot, chain.join(""), leaf, ["-purpose", "sslclient"]);
                assert.notStrictEqual(asClient.status, 0, "a server cert must not verify as a client");
                assert.match(asClient.output, /unsuitable certificate purpose/);
            }
        });

        it("verifies each APIC client cert for sslclient with its ca-chain, and never as a server", () => {
            for (const e of rendered.plan.endpoints) {
                const leaf = rendered.read(`apic/${e.id}/client.crt`);
                const chain = rendered.read(`apic/${e.id}/ca-chain.pem`);
                const ok = verify(dir, clientRoot, chain, leaf, ["-purpose", "sslclient"]);
                assert.strictEqual(ok.status, 0, `${e.id}: ${ok.output}`);
                const asServer = verify(dir, clientRoot, chain, leaf, ["-purpose", "sslserver"]);
                assert.notStrictEqual(asServer.status, 0);
                // Separate trust domains: APIC's client chain does not reach the root APIC trusts for servers.
                const underServerRoot = verify(dir, serverRoot, chain, leaf, ["-purpose", "sslclient"]);
                assert.match(underServerRoot.output, /unable to get local issuer certificate/);
            }
        });

        it("gives leaves the profile of DESIGN.md: 1 year, EKU, SANs, critical CA:FALSE, key ids", () => {
            const e = rendered.plan.endpoints[rendered.plan.endpoints.length - 1];
            const client = new crypto.X509Certificate(rendered.read(`apic/${e.id}/client.crt`));
            const days = (Date.parse(client.validTo) - Date.parse(client.validFrom)) / 86_400_000;
            assert.strictEqual(days, 365);
            assert.deepStrictEqual(client.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
            assert.strictEqual(client.subjectAltName, `URI:${e.clientIdentity}`);
            assert.strictEqual(client.ca, false);
            const text = opensslText(client.toString());
            assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
            assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
            assert.match(text, /X509v3 Authority Key Identifier/);
            assert.match(text, /Public-Key: \(2048 bit\)/);
        });

        it("gives CAs keyCertSign and cRLSign, critical CA:TRUE, subject and authority key ids; the roots pathlen 1", () => {
            const truststore = pemBlocks(rendered.read(`apic/${rendered.plan.endpoints[0].id}/truststore.pem`));
            const clientChain = pemBlocks(rendered.read(`apic/${rendered.plan.endpoints[0].id}/ca-chain.pem`));
            for (const pem of [...truststore, ...clientChain, clientRoot]) {
                const text = opensslText(pem);
                assert.match(text, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
                assert.match(text, /X509v3 Subject Key Identifier/);
                assert.match(text, /X509v3 Authority Key Identifier/);
                assert.match(text, /Public-Key: \(4096 bit\)/);
            }
            for (const root of [serverRoot, clientRoot]) {
                assert.match(opensslText(root), /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:1\n/);
            }
            assert.match(opensslText(clientChain[0]), /X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
        });
    });
}

describe("No CA below an intermediate, by X.509 rules (openssl verify with the root as anchor)", function () {
    this.timeout(60_000);

    // What a gateway does is another matter: Envoy's BoringSSL ignores an anchor's pathlen, which is
    // why the gateway also pins APIC's keys (test/trust.test.ts).
    it("a sub-CA minted with an intermediate's key cannot issue anything that verifies (root pathlen 1)", async () => {
        const rendered = await renderStackFile(OPTION_FILES[1]);
        const { engine } = rendered;
        const intermediateKey = engine.resources.find((r) => r.name === "gateway-server-ca-key");
        const intermediateCert = engine.resources.find((r) => r.name === "gateway-server-ca-cert");
        assert.ok(intermediateKey && intermediateCert);
        const caKeyPem = intermediateKey.state.privateKeyPem as string;
        const caCertPem = intermediateCert.state.certPem as string;

        // The sub-CA: the best a holder of the intermediate key can do with @pulumi/tls semantics.
        const subCa = await mintSubCa({ certPem: caCertPem, keyPem: caKeyPem }, "rogue sub-CA");
        const leafKey = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const leafCsr = tlsProvider.certRequest({
            privateKeyPem: leafKey.state.privateKeyPem,
            subject: { commonName: "ob.example.api.bank.example" },
            dnsNames: ["ob.example.api.bank.example"],
        });
        const leaf = tlsProvider.locallySignedCert({
            certRequestPem: leafCsr.state.certRequestPem,
            caCertPem: subCa.certPem,
            caPrivateKeyPem: subCa.keyPem,
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: 24,
        });
        const dir = tempDir("subca");
        const root = rendered.engine.resources.find((r) => r.name === "server-root-ca-cert")?.state.certPem as string;
        const result = verify(dir, root, caCertPem + subCa.certPem, leaf.state.certPem as string, [
            "-purpose",
            "sslserver",
        ]);
        assert.notStrictEqual(result.status, 0, result.output);
        assert.match(result.output, /path length constraint exceeded/);
        // Control: the same leaf signed directly by the intermediate verifies, so the failure above is the pathlen.
        const direct = tlsProvider.locallySignedCert({
            certRequestPem: leafCsr.state.certRequestPem,
            caCertPem,
            caPrivateKeyPem: caKeyPem,
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: 24,
        });
        assert.strictEqual(
            verify(dir, root, caCertPem, direct.state.certPem as string, ["-purpose", "sslserver"]).status,
            0,
        );
    });
});
