import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as tlsProvider from "../lib/engine/tlsProvider";
import {
    gatewayServerConfig,
    justIssued,
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

/** openssl verify's arguments: `files` against a root, with intermediates as untrusted, plus `extra`. */
function verifyArgs(dir: string, root: string, chain: string, extra: string[], files: string[]): string[] {
    return [
        "verify",
        "-x509_strict",
        "-CAfile",
        writeTemp(dir, "root.pem", root),
        ...(chain ? ["-untrusted", writeTemp(dir, "chain.pem", chain)] : []),
        ...extra,
        ...files,
    ];
}

/** openssl verify of a leaf against a root, with intermediates as untrusted, for a purpose. */
function verify(
    dir: string,
    root: string,
    chain: string,
    leaf: string,
    extra: string[],
): { status: number; output: string } {
    return openssl(verifyArgs(dir, root, chain, extra, [writeTemp(dir, "leaf.pem", leaf)]));
}

/**
 * The same, for several leaves sharing a chain and options, in one openssl run (it verifies each
 * file on its own: "FILE: OK" on stdout, or its errors then "error FILE: verification failed" on
 * stderr): each leaf's verdict and openssl's words about it.
 */
function verifyEach(
    dir: string,
    root: string,
    chain: string,
    leaves: readonly string[],
    extra: string[],
): { ok: boolean; output: string }[] {
    const files = leaves.map((leaf, i) => writeTemp(dir, `leaf-${i}.pem`, leaf));
    // stdout and stderr apart: openssl says OK on one and each failure on the other.
    const result = spawnSync("openssl", verifyArgs(dir, root, chain, extra, files), { encoding: "utf8" });
    const passed = new Set(result.stdout.split("\n").flatMap((line) => /^(.+): OK$/.exec(line)?.[1] ?? []));
    const failed = new Map<string, string>();
    let said: string[] = [];
    for (const line of result.stderr.split("\n")) {
        const end = /^error (.+): verification failed$/.exec(line);
        if (end) {
            failed.set(end[1], said.join("\n"));
            said = [];
        } else if (line !== "") said.push(line);
    }
    const verdicts = files.map((file) => {
        if (passed.has(file) === failed.has(file)) {
            throw new Error(`openssl verify gave no single verdict on ${file}:\n${result.stdout}${result.stderr}`);
        }
        return { ok: passed.has(file), output: failed.get(file) ?? "OK" };
    });
    assert.strictEqual(
        result.status === 0,
        verdicts.every((v) => v.ok),
        "openssl's exit status agrees",
    );
    return verdicts;
}

/** Items grouped by their chain (each group verified in one openssl run). */
function byChain<T extends { chain: string }>(items: readonly T[]): T[][] {
    const groups = new Map<string, T[]>();
    for (const item of items) groups.set(item.chain, [...(groups.get(item.chain) ?? []), item]);
    return [...groups.values()];
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
            serverRoot = truststore[0]; // then the gateway-server CA
            clientRoot = gatewayServerConfig(rendered, rendered.plan.endpoints[0].id).caCrt;
        });

        it("verifies each gateway server cert for sslserver and its host name, chain in tls.crt order", () => {
            const servers = rendered.plan.endpoints.map((e) => {
                const [leaf, ...chain] = pemBlocks(gatewayServerConfig(rendered, e.id).tlsCrt);
                assert.ok(chain.length >= 1, "tls.crt carries the issuing chain");
                return { host: e.host, leaf, chain: chain.join("") };
            });
            for (const { host, leaf, chain } of servers) {
                const result = verify(dir, serverRoot, chain, leaf, [
                    "-purpose",
                    "sslserver",
                    "-verify_hostname",
                    host,
                ]);
                assert.strictEqual(result.status, 0, `${host}: ${result.output}`);
                const wrongHost = verify(dir, serverRoot, chain, leaf, [
                    "-purpose",
                    "sslserver",
                    "-verify_hostname",
                    `x.${host}`,
                ]);
                assert.notStrictEqual(wrongHost.status, 0, "another host name must not verify");
            }
            for (const group of byChain(servers)) {
                const asClient = verifyEach(
                    dir,
                    serverRoot,
                    group[0].chain,
                    group.map((s) => s.leaf),
                    ["-purpose", "sslclient"],
                );
                group.forEach(({ host }, i) => {
                    assert.strictEqual(asClient[i].ok, false, `${host}: a server cert must not verify as a client`);
                    assert.match(asClient[i].output, /unsuitable certificate purpose/);
                });
            }
        });

        it("verifies each APIC client cert for sslclient with its ca-chain, and never as a server", () => {
            const clients = rendered.plan.endpoints.map((e) => ({
                id: e.id,
                leaf: rendered.read(`apic/${e.id}/client.crt`),
                chain: rendered.read(`apic/${e.id}/ca-chain.pem`),
            }));
            for (const group of byChain(clients)) {
                const leaves = group.map((c) => c.leaf);
                const ok = verifyEach(dir, clientRoot, group[0].chain, leaves, ["-purpose", "sslclient"]);
                const asServer = verifyEach(dir, clientRoot, group[0].chain, leaves, ["-purpose", "sslserver"]);
                // Separate trust domains: APIC's client chain does not reach the root APIC trusts for servers.
                const underServerRoot = verifyEach(dir, serverRoot, group[0].chain, leaves, ["-purpose", "sslclient"]);
                group.forEach(({ id }, i) => {
                    assert.strictEqual(ok[i].ok, true, `${id}: ${ok[i].output}`);
                    assert.strictEqual(asServer[i].ok, false, `${id} must not verify as a server`);
                    assert.match(asServer[i].output, /unsuitable certificate purpose/);
                    assert.strictEqual(underServerRoot[i].ok, false);
                    assert.match(underServerRoot[i].output, /unable to get local issuer certificate/);
                });
            }
        });

        it("gives leaves their profile: 1 year, EKU, SANs, critical CA:FALSE, key ids", () => {
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
        const leaf = tlsProvider.locallySignedCert(
            {
                certRequestPem: leafCsr.state.certRequestPem,
                caCertPem: subCa.certPem,
                caPrivateKeyPem: subCa.keyPem,
                allowedUses: ["digital_signature", "server_auth"],
                validityPeriodHours: 24,
            },
            { now: justIssued },
        );
        const dir = tempDir("subca");
        const root = rendered.engine.resources.find((r) => r.name === "server-root-ca-cert")?.state.certPem as string;
        const result = verify(dir, root, caCertPem + subCa.certPem, leaf.state.certPem as string, [
            "-purpose",
            "sslserver",
        ]);
        assert.notStrictEqual(result.status, 0, result.output);
        assert.match(result.output, /path length constraint exceeded/);
        // Control: the same leaf signed directly by the intermediate verifies, so the failure above is the pathlen.
        const direct = tlsProvider.locallySignedCert(
            {
                certRequestPem: leafCsr.state.certRequestPem,
                caCertPem,
                caPrivateKeyPem: caKeyPem,
                allowedUses: ["digital_signature", "server_auth"],
                validityPeriodHours: 24,
            },
            { now: justIssued },
        );
        assert.strictEqual(
            verify(dir, root, caCertPem, direct.state.certPem as string, ["-purpose", "sslserver"]).status,
            0,
        );
    });
});
