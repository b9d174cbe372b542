import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import * as pulumi from "@pulumi/pulumi";
import { ApicClientBundle, ApicClientBundleArgs } from "../lib/components/apicClientBundle";
import { IntermediateCa } from "../lib/components/intermediateCa";
import { RootCa } from "../lib/components/rootCa";
import { IstioGatewayTls } from "../lib/components/istioGatewayTls";
import { UiApicClient } from "../lib/components/uiApicClient";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { pkcs12PasswordName } from "../lib/plan/plan";
import { apicPayloads, apicUiPayloads, APIC_MAX_INTERMEDIATES } from "../lib/pki/apic";
import {
    buildPkcs12,
    cachedPkcs12,
    pkcs12Cache,
    Pkcs12Input,
    PKCS12_CACHE_SIZE,
    PKCS12_MAX_LEGACY_ITERATIONS,
    PKCS12_MIN_ITERATIONS,
} from "../lib/pki/pkcs12";
import { unexpiredCertificates } from "../lib/pki/trustBundle";
import {
    TEST_ONLY_CA_CERT_PEM,
    TEST_ONLY_CA_KEY_PEM,
    TEST_ONLY_LEAF_CERT_PEM,
    TEST_ONLY_LEAF_KEY_PEM,
} from "./fixtures/testOnlyPki";
import {
    gatewayServerConfig,
    justIssued,
    loadStackFile,
    mintRoot,
    mintSubCa,
    openssl,
    OPTION_FILES,
    pemBlocks,
    refusalText,
    renderConfig,
    Rendered,
    sharedState,
    tempDir,
} from "./helpers";

/** Every cipher name IBM's CLI reference lists for `apic tls-client-profiles:create` (clidocs v1210). */
const IBM_DOCUMENTED_CIPHERS = [
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
    "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "DHE_DSS_WITH_AES_256_GCM_SHA384",
    "DHE_RSA_WITH_AES_256_GCM_SHA384",
    "DHE_RSA_WITH_AES_256_CBC_SHA256",
    "DHE_DSS_WITH_AES_256_CBC_SHA256",
    "DHE_RSA_WITH_AES_256_CBC_SHA",
    "DHE_DSS_WITH_AES_256_CBC_SHA",
    "RSA_WITH_AES_256_GCM_SHA384",
    "RSA_WITH_AES_256_CBC_SHA256",
    "RSA_WITH_AES_256_CBC_SHA",
    "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "DHE_DSS_WITH_AES_128_GCM_SHA256",
    "DHE_RSA_WITH_AES_128_GCM_SHA256",
    "DHE_RSA_WITH_AES_128_CBC_SHA256",
    "DHE_DSS_WITH_AES_128_CBC_SHA256",
    "DHE_RSA_WITH_AES_128_CBC_SHA",
    "DHE_DSS_WITH_AES_128_CBC_SHA",
    "RSA_WITH_AES_128_GCM_SHA256",
    "RSA_WITH_AES_128_CBC_SHA256",
    "RSA_WITH_AES_128_CBC_SHA",
    "ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    "ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "DHE_DSS_WITH_3DES_EDE_CBC_SHA",
    "RSA_WITH_3DES_EDE_CBC_SHA",
];

/**
 * APIC's names of the suites we emit, as OpenSSL spells them (TLS 1.3 suites keep their RFC 8446
 * names). A test checks each against the standard name OpenSSL reports after a handshake.
 */
const OPENSSL_NAMES: Readonly<Record<string, string>> = {
    TLS_AES_256_GCM_SHA384: "TLS_AES_256_GCM_SHA384",
    TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
    TLS_AES_128_GCM_SHA256: "TLS_AES_128_GCM_SHA256",
    ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
    ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
    ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
    ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
};
const opensslList = (apicNames: readonly string[]): string =>
    apicNames
        .map((name) => {
            const openssl = OPENSSL_NAMES[name];
            assert.ok(openssl, `no OpenSSL name for ${name}`);
            return openssl;
        })
        .join(":");

/**
 * Envoy's default TLS 1.2 suites (envoyproxy/envoy source/common/tls/server_context_config_impl.cc,
 * DEFAULT_CIPHER_SUITES in OpenSSL's spelling; ClientContextConfigImpl's is the same list): what an
 * Istio Gateway without cipherSuites accepts and what a sidecar offers upstream. BoringSSL's TLS 1.3
 * suites are fixed, and are these three. Its default curves are X25519 and P-256.
 */
const ENVOY_TLS12 = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];
const BORINGSSL_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];
const ENVOY_CIPHERS = [...ENVOY_TLS12, ...BORINGSSL_TLS13].join(":");

/** An ECDSA P-256 key and certificate (a test-only client leaf: only its key type matters to a cipher). */
const ecdsaKey = { cert: TEST_ONLY_LEAF_CERT_PEM, key: TEST_ONLY_LEAF_KEY_PEM };

type Version = "TLSv1.2" | "TLSv1.3";
type Negotiated = { version: string; suite: string } | { refused: string };

/**
 * One TLS handshake over loopback: a server with `key` offering `serverCiphers` (TLS 1.2 to 1.3, its
 * own order first, Envoy's curves, as Envoy serves), a client offering `clientCiphers` at `version`
 * only. What is negotiated, by its standard name; the chain is not checked (other tests do that).
 */
function negotiate(
    key: { cert: string; key: string },
    serverCiphers: string,
    clientCiphers: string,
    version: Version,
): Promise<Negotiated> {
    return new Promise((resolve) => {
        let serverError = "";
        const server = tls.createServer({
            ...key,
            ciphers: serverCiphers,
            honorCipherOrder: true,
            ecdhCurve: "X25519:P-256",
            minVersion: "TLSv1.2",
            maxVersion: "TLSv1.3",
        });
        server.on("tlsClientError", (error) => (serverError = error.message));
        server.on("secureConnection", (socket) => socket.end());
        server.listen(0, "127.0.0.1", () => {
            let result: Negotiated | undefined;
            const socket = tls.connect({
                host: "127.0.0.1",
                port: (server.address() as { port: number }).port,
                rejectUnauthorized: false,
                ciphers: clientCiphers,
                minVersion: version,
                maxVersion: version,
            });
            socket.on("secureConnect", () => {
                const cipher = socket.getCipher();
                result = { version: cipher.version, suite: cipher.standardName };
                socket.end();
            });
            socket.on("error", () => undefined);
            socket.on("close", () => {
                server.close();
                setImmediate(() =>
                    resolve(result ?? { refused: serverError.match(/:SSL routines:[^:]*:([^:]+):/)?.[1] ?? "closed" }),
                );
            });
        });
    });
}

/** The standard (RFC) name of an APIC cipher: APIC drops TLS 1.2's "TLS_" prefix. */
const standardName = (apicName: string): string => (apicName.startsWith("TLS_") ? apicName : `TLS_${apicName}`);

/** openssl pkcs12 on a file with a password: what it prints, and the PEMs it extracts. */
function openP12(file: string, password: string, extra: string[] = []): { info: string; pems: string; status: number } {
    const info = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-info", "-noout", ...extra]);
    const pems = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nodes", ...extra]);
    return { info: info.output, pems: pems.output, status: pems.status };
}

/** A root of the gateway's server certificates, none of the test-only CA's: APIC's truststore. */
const gatewayServerRootPem: Promise<string> = mintRoot("Gateway server root").then((root) => root.certPem);

/** An ApicClientBundle "ob" under the test-only CA with an ECDSA key, and `extra`. */
const testOnlyObBundle = (extra: Partial<ApicClientBundleArgs> = {}): ApicClientBundleArgs => ({
    clientCa: { certPem: TEST_ONLY_CA_CERT_PEM, privateKeyPem: TEST_ONLY_CA_KEY_PEM, chainPem: TEST_ONLY_CA_CERT_PEM },
    identity: "urn:example:apic-client:ob",
    serverTrustBundlePem: gatewayServerRootPem,
    keyAlgorithm: "ECDSA",
    ...extra,
});

/** The caChainPem of an ECDSA ApicClientBundle "ob" issued by `clientCa`, in a fresh state (refused: the run fails). */
const bundleChainOf = (clientCa: ApicClientBundleArgs["clientCa"], serverTrustBundlePem: string) =>
    runWithStandIn(
        () =>
            new ApicClientBundle("ob", {
                clientCa,
                identity: "urn:example:apic-client:ob",
                serverTrustBundlePem,
                keyAlgorithm: "ECDSA",
            }).caChainPem,
        { state: new Map() },
    );

describe("APIC bundles: PKCS#12 and the apic CLI payloads", function () {
    this.timeout(120_000);
    let state: EngineState;
    let modern: Rendered;
    let legacy: Rendered;

    before(async () => {
        state = new Map(sharedState);
        modern = await renderConfig(loadStackFile(OPTION_FILES[1]), "p12-modern", state);
        legacy = await renderConfig(
            // pki:pkcs12Iterations reaches the keystores through the stack program.
            { ...loadStackFile(OPTION_FILES[1]), pkcs12Profile: "legacy", pkcs12Iterations: 20_000 },
            "p12-legacy",
            state,
        );
    });

    it("opens with the generated password and holds the key, the leaf and the chain (modern profile)", () => {
        const file = path.join(modern.dir, "apic/ob/client.p12");
        const password = modern.read("apic/ob/client.p12.password");
        assert.match(password, /^[A-Za-z0-9]{32}$/);
        const { info, pems, status } = openP12(file, password);
        assert.strictEqual(status, 0, pems);
        assert.match(info, /^MAC: sha256, Iteration 10000$/m);
        assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256/);
        assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256/);
        assert.match(pems, /^\s+friendlyName: ob$/m);
        const certs = pemBlocks(pems).filter((b) => b.includes("CERTIFICATE"));
        assert.deepStrictEqual(certs, [modern.read("apic/ob/client.crt"), modern.read("apic/ob/ca-chain.pem")]);
        const key = pems.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)?.[0];
        assert.ok(key, "the key is inside");
        const keySpki = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
        const certSpki = new crypto.X509Certificate(certs[0]).publicKey.export({ type: "spki", format: "der" });
        assert.ok(keySpki.equals(certSpki), "the key matches the leaf");
        assert.notStrictEqual(openP12(file, "wrong-password").status, 0, "a wrong password does not open it");
    });

    it("also opens in the legacy profile (3DES, SHA-1 MAC), whose friendly name says so", () => {
        const file = path.join(legacy.dir, "apic/ob/client.p12");
        const { info, pems, status } = openP12(file, legacy.read("apic/ob/client.p12.password"));
        assert.strictEqual(status, 0, pems);
        assert.match(info, /^MAC: sha1, Iteration 20000$/m);
        assert.match(info, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 20000/);
        assert.match(info, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 20000/);
        assert.match(pems, /^\s+friendlyName: ob-legacy-3des-sha1$/m);
        assert.strictEqual(pemBlocks(pems).filter((b) => b.includes("CERTIFICATE")).length, 2);
    });

    it("opens in Java 17's keytool with the generated password (modern profile), as APIC's Java consumers read it", () => {
        const file = path.join(modern.dir, "apic/ob/client.p12");
        const list = (password: string) =>
            spawnSync("keytool", ["-list", "-v", "-storetype", "PKCS12", "-keystore", file, "-storepass", password], {
                encoding: "utf8",
            });
        const listed = list(modern.read("apic/ob/client.p12.password"));
        assert.strictEqual(listed.status, 0, listed.stdout + listed.stderr);
        assert.match(listed.stdout, /^Your keystore contains 1 entry$/m);
        assert.match(listed.stdout, /^Alias name: ob$/m);
        assert.match(listed.stdout, /^Entry type: PrivateKeyEntry$/m);
        assert.match(listed.stdout, /^Certificate chain length: 2$/m);
        assert.notStrictEqual(list("wrong-password").status, 0, "a wrong password does not open it");
    });

    it("writes the configured iteration count (openssl reads it back), keeps keystore, password and key secret, and refuses fewer than Java 17's 10000", async () => {
        const bundle = (pkcs12Iterations: number) =>
            runWithStandIn(
                () => {
                    const b = new ApicClientBundle("ob", testOnlyObBundle({ pkcs12Iterations }));
                    return { p12: b.pkcs12Base64, password: b.pkcs12Password, key: b.privateKeyPem };
                },
                { state: sharedState },
            );
        const { outputs, returned } = await bundle(12_345);
        // The stand-in, like mocks, marks nothing secret itself: the component's pulumi.secret must.
        for (const [name, output] of Object.entries(returned))
            assert.strictEqual(await pulumi.isSecret(output), true, `${name} is not secret`);
        const file = path.join(tempDir("p12-iterations"), "client.p12");
        fs.writeFileSync(file, Buffer.from(outputs.p12, "base64"), { mode: 0o600 });
        const { info, status } = openP12(file, outputs.password);
        assert.strictEqual(status, 0, info);
        assert.match(info, /^MAC: sha256, Iteration 12345$/m);
        assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 12345, PRF hmacWithSHA256/);
        assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 12345, PRF hmacWithSHA256/);
        for (const bad of [9_999, 10_000.5, 1_000_001, 5_000_001]) {
            await assert.rejects(
                bundle(bad),
                new RegExp(
                    `ApicClientBundle pkcs12Iterations must be a whole number from 10000 \\(Java 17's default\\) to 1000000 \\(its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more\\); got ${bad}\\. Set it within that range or leave it unset \\(10000\\)`,
                ),
            );
        }
    });

    it("protects each epoch's keystore with its own password, keeping epoch 0's resource name", async () => {
        // One state for both runs: a password of the same name would come back unchanged.
        const state: EngineState = new Map(sharedState);
        const bundle = (epoch: number) =>
            runWithStandIn(
                () => ({ password: new ApicClientBundle("ob", testOnlyObBundle({ epoch })).pkcs12Password }),
                {
                    state,
                },
            );
        const [zero, one] = [await bundle(0), await bundle(1)];
        const passwords = (run: typeof zero) =>
            run.engine.resources
                .filter((r) => r.type === "random:index/randomPassword:RandomPassword")
                .map((r) => r.name);
        assert.deepStrictEqual([passwords(zero), passwords(one)], [["ob-p12-password"], ["ob-r1-p12-password"]]);
        // The one name bench/baseline.ts gives its passwords too.
        assert.deepStrictEqual(
            [0, 1].map((epoch) => pkcs12PasswordName("ob", epoch)),
            ["ob-p12-password", "ob-r1-p12-password"],
        );
        assert.match(one.outputs.password, /^[A-Za-z0-9]{32}$/);
        assert.notStrictEqual(one.outputs.password, zero.outputs.password);
        assert.strictEqual((await bundle(0)).outputs.password, zero.outputs.password, "epoch 0 keeps its password");
    });

    /** The inputs of ob's keystore in the modern render, with a fixed password. */
    const obKeystoreInput = (iterations: number) => ({
        keyPem: modern.read("apic/ob/client.key"),
        certPems: [modern.read("apic/ob/client.crt")],
        password: "one",
        friendlyName: "ob",
        profile: "modern" as const,
        iterations,
    });

    it("gives identical bytes for the same inputs, different bytes for another password", async () => {
        const again = await renderConfig(loadStackFile(OPTION_FILES[1]), "p12-again", state);
        const bytes = (r: Rendered) => fs.readFileSync(path.join(r.dir, "apic/ob/client.p12"));
        assert.ok(bytes(again).equals(bytes(modern)), "same inputs, same PKCS#12");
        const input = obKeystoreInput(PKCS12_MIN_ITERATIONS);
        assert.ok(buildPkcs12(input).equals(buildPkcs12(input)));
        assert.ok(!buildPkcs12(input).equals(buildPkcs12({ ...input, password: "two" })));
    });

    it("reuses a keystore built earlier in the process only for the same inputs, as a copy, within a bounded cache", () => {
        // One round: the cache's behaviour does not depend on the count, and 257 keystores at 10,000 would take seconds.
        const input = obKeystoreInput(1);
        const first = cachedPkcs12(input);
        assert.ok(first.equals(buildPkcs12(input)), "the bytes buildPkcs12 gives");
        assert.ok(pkcs12Cache.holds(input));
        first.fill(0);
        assert.ok(cachedPkcs12(input).equals(buildPkcs12(input)), "the caller's buffer is a copy");
        for (const changed of [
            { password: "two" },
            { friendlyName: "dp" },
            { profile: "legacy" as const },
            { iterations: 2 },
            { certPems: [...input.certPems, modern.read("apic/ob/ca-chain.pem")] },
            { keyPem: modern.read("apic/dp/client.key"), certPems: [modern.read("apic/dp/client.crt")] },
        ]) {
            const other = { ...input, ...changed };
            const label = `changed ${Object.keys(changed).join(" and ")}`;
            assert.ok(!buildPkcs12(other).equals(buildPkcs12(input)), label);
            assert.ok(cachedPkcs12(other).equals(buildPkcs12(other)), label);
        }
        // Least recently used out first: `input`, used last before the fillers, stays for 255 of them.
        cachedPkcs12(input);
        const filler = (i: number) => ({ ...input, friendlyName: `filler-${i}` });
        for (let i = 1; i < PKCS12_CACHE_SIZE; i++) cachedPkcs12(filler(i));
        assert.ok(pkcs12Cache.holds(input));
        assert.strictEqual(pkcs12Cache.size(), PKCS12_CACHE_SIZE);
        cachedPkcs12(filler(PKCS12_CACHE_SIZE));
        assert.ok(!pkcs12Cache.holds(input), "dropped after 256 newer keystores");
        assert.strictEqual(pkcs12Cache.size(), PKCS12_CACHE_SIZE);
    });

    it("writes the keystore, truststore and TLS client profile payloads the apic CLI takes", () => {
        const keystore = JSON.parse(modern.read("apic/ob/keystore.json"));
        assert.deepStrictEqual(Object.keys(keystore), ["name", "title", "summary", "keystore"]);
        assert.strictEqual(keystore.name, "example-ob-keystore");
        assert.strictEqual(
            keystore.keystore,
            modern.read("apic/ob/client.crt") + modern.read("apic/ob/ca-chain.pem") + modern.read("apic/ob/client.key"),
        );
        const truststore = JSON.parse(modern.read("apic/ob/truststore.json"));
        assert.strictEqual(truststore.truststore, modern.read("apic/ob/truststore.pem"));
        const profile = JSON.parse(modern.read("apic/ob/tls-client-profile.json"));
        assert.deepStrictEqual(profile, {
            name: "example-ob-mtls",
            title: "example ob mTLS",
            version: "1.0.0",
            summary: "Mutual TLS to ob.example.api.bank.example",
            protocols: ["tls_v1.2", "tls_v1.3"],
            ciphers: [
                "TLS_AES_256_GCM_SHA384",
                "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_GCM_SHA256",
                "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            ],
            keystore_url: "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}/keystores/example-ob-keystore",
            truststore_url: "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}/truststores/example-ob-truststore",
            insecure_server_connections: false,
            server_name_indication: true,
        });
        assert.strictEqual(fs.statSync(path.join(modern.dir, "apic/ob/keystore.json")).mode & 0o777, 0o600);
    });

    /** The ciphers of APIC's client profile (rendered) and of its UI-facing server profile. */
    const profileCiphers = (): { client: string[]; server: string[] } => ({
        client: JSON.parse(modern.read("apic/ob/tls-client-profile.json")).ciphers,
        server: apicUiPayloads({ environment: "example", truststorePem: "", hosts: ["apic.example"], servers: {} })
            .tlsServerProfiles["apic.example"].ciphers,
    });

    it("names only AEAD suites IBM documents, ECDHE for TLS 1.2, and TLS 1.3's own so that APIC adds no CCM_8", () => {
        const { client, server } = profileCiphers();
        assert.deepStrictEqual(server, client, "both profiles offer the same suites");
        assert.deepStrictEqual(
            client.filter((c) => !IBM_DOCUMENTED_CIPHERS.includes(c)),
            [],
            "every name is one APIC documents",
        );
        assert.deepStrictEqual(
            client.filter(
                (c) =>
                    !/^(TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA|ECDHE_(ECDSA|RSA)_WITH_AES_(128|256)_GCM_SHA)/.test(
                        c,
                    ),
            ),
            [],
            "no CBC, 3DES, CCM, static-RSA or finite-field DHE suite",
        );
        // With tls_v1.3 and no TLS 1.3 suite, APIC would add them all (CCM_8 included).
        assert.ok(client.some((c) => c.startsWith("TLS_")));
        // In TLS 1.2 the suite must fit the server's key; pki:keyAlgorithm may change under an uploaded profile.
        assert.ok(client.some((c) => c.startsWith("ECDHE_ECDSA_")) && client.some((c) => c.startsWith("ECDHE_RSA_")));
    });

    it("spells each suite as OpenSSL does (the standard name it reports), and an Istio gateway's default list accepts each alone", async () => {
        const rsa = gatewayServerConfig(modern, "ob");
        const keys = { RSA: { cert: rsa.tlsCrt, key: rsa.tlsKey }, ECDSA: ecdsaKey };
        const { client } = profileCiphers();
        const negotiated = [];
        for (const name of client) {
            const version: Version = name.startsWith("TLS_") ? "TLSv1.3" : "TLSv1.2";
            const key = name.startsWith("ECDHE_RSA_") ? keys.RSA : keys.ECDSA;
            negotiated.push([name, await negotiate(key, ENVOY_CIPHERS, opensslList([name]), version)]);
        }
        assert.deepStrictEqual(
            negotiated,
            client.map((name) => [
                name,
                { version: name.startsWith("TLS_") ? "TLSv1.3" : "TLSv1.2", suite: standardName(name) },
            ]),
        );
    });

    it("lets APIC's client profile reach an Istio gateway with Envoy's default ciphers in TLS 1.2 and 1.3, whatever its key, and fails once no suite is shared", async () => {
        const rsa = gatewayServerConfig(modern, "ob");
        const rsaKey = { cert: rsa.tlsCrt, key: rsa.tlsKey };
        const { client } = profileCiphers();
        const offer = opensslList(client);
        const ours = new Set(offer.split(":"));
        const only = (prefix: string) => opensslList(client.filter((c) => c.startsWith(prefix)));
        const verdicts = {
            rsa12: await negotiate(rsaKey, ENVOY_CIPHERS, offer, "TLSv1.2"),
            rsa13: await negotiate(rsaKey, ENVOY_CIPHERS, offer, "TLSv1.3"),
            ecdsa12: await negotiate(ecdsaKey, ENVOY_CIPHERS, offer, "TLSv1.2"),
            ecdsa13: await negotiate(ecdsaKey, ENVOY_CIPHERS, offer, "TLSv1.3"),
            // The same handshakes against a server that shares none of our suites.
            unshared12: await negotiate(
                ecdsaKey,
                [...ENVOY_TLS12.filter((c) => !ours.has(c)), ...BORINGSSL_TLS13].join(":"),
                offer,
                "TLSv1.2",
            ),
            unshared13: await negotiate(ecdsaKey, "TLS_AES_128_CCM_SHA256", offer, "TLSv1.3"),
            // Why both families stay: each alone fails against the other key type.
            rsaKeyEcdsaSuites: await negotiate(rsaKey, ENVOY_CIPHERS, only("ECDHE_ECDSA_"), "TLSv1.2"),
            ecdsaKeyRsaSuites: await negotiate(ecdsaKey, ENVOY_CIPHERS, only("ECDHE_RSA_"), "TLSv1.2"),
        };
        assert.deepStrictEqual(verdicts, {
            rsa12: { version: "TLSv1.2", suite: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
            rsa13: { version: "TLSv1.3", suite: "TLS_AES_128_GCM_SHA256" },
            ecdsa12: { version: "TLSv1.2", suite: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
            ecdsa13: { version: "TLSv1.3", suite: "TLS_AES_128_GCM_SHA256" },
            unshared12: { refused: "no shared cipher" },
            unshared13: { refused: "no shared cipher" },
            rsaKeyEcdsaSuites: { refused: "no shared cipher" },
            ecdsaKeyRsaSuites: { refused: "no shared cipher" },
        });
    });

    it("lets APIC's UI-facing server profile accept what a UI sidecar offers by default (Envoy's upstream list, TLS 1.2)", async () => {
        const rsa = gatewayServerConfig(modern, "ob");
        const { server } = profileCiphers();
        const sidecar = ENVOY_TLS12.join(":");
        assert.deepStrictEqual(
            [
                await negotiate({ cert: rsa.tlsCrt, key: rsa.tlsKey }, opensslList(server), sidecar, "TLSv1.2"),
                await negotiate(ecdsaKey, opensslList(server), sidecar, "TLSv1.2"),
            ],
            [
                { version: "TLSv1.2", suite: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
                { version: "TLSv1.2", suite: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
            ],
        );
    });

    it("refuses a chain APIC would refuse (more than 10 intermediates), naming the output and the fix", () => {
        const chain = modern.read("apic/ob/ca-chain.pem").repeat(APIC_MAX_INTERMEDIATES + 1);
        assert.throws(
            () =>
                apicPayloads({
                    environment: "example",
                    endpointId: "ob",
                    host: "ob.example",
                    certPem: "",
                    chainPem: chain,
                    keyPem: "",
                    truststorePem: "",
                }),
            {
                message:
                    "apicBundles.ob.caChainPem holds 11 intermediate certificates, more than the 10 an APIC keystore takes (APIC refuses such a keystore). " +
                    "Issue that endpoint's APIC client certificates from a CA whose chain up to its root holds at most 10 CA certificates besides the root (ApicClientBundle's clientCa.chainPem; a root given is left out), then deploy and render again",
            },
        );
    });

    it("refuses a clientCa.chainPem of more than 10 intermediates, which APIC would refuse in the keystore, and takes 10", async () => {
        // A root and 11 CAs each under the one before (ECDSA: cheap to make).
        const root = await mintRoot("Long chain root");
        const serverRootPem = await gatewayServerRootPem;
        const cas = [await mintSubCa(root, "Long chain CA 1")];
        for (let i = 2; i <= APIC_MAX_INTERMEDIATES + 1; i++)
            cas.push(await mintSubCa(cas[i - 2], `Long chain CA ${i}`));
        // clientCa is the deepest of `depth` CAs; its chain holds it and every CA above it, and the root.
        const bundle = (depth: number) =>
            bundleChainOf(
                {
                    certPem: cas[depth - 1].certPem,
                    privateKeyPem: cas[depth - 1].keyPem,
                    chainPem: [...cas.slice(0, depth).reverse(), root].map((ca) => ca.certPem).join(""),
                },
                serverRootPem,
            ).then(
                ({ outputs }) => `accepted with ${pemBlocks(outputs).length} CAs`,
                (error: Error) => refusalText(error),
            );
        assert.deepStrictEqual(
            [await bundle(APIC_MAX_INTERMEDIATES + 1), await bundle(APIC_MAX_INTERMEDIATES)],
            [
                "ApicClientBundle clientCa.chainPem holds 11 intermediate certificates, more than the 10 an APIC keystore takes (APIC refuses such a keystore). " +
                    "Give the chain from clientCa up to its root, at most 10 CA certificates besides the root (a root given is left out); with a longer path, issue APIC's client certificates from a CA nearer the root",
                "accepted with 10 CAs",
            ],
        );
    });

    it("refuses pkcs12Iterations over 100000 with the legacy profile, whose key derivations run in JavaScript", async () => {
        const refusal = await runWithStandIn(
            () =>
                new ApicClientBundle(
                    "ob",
                    testOnlyObBundle({ pkcs12Profile: "legacy", pkcs12Iterations: PKCS12_MAX_LEGACY_ITERATIONS + 1 }),
                ).pkcs12Base64,
            { state: new Map() },
        ).then(
            () => "accepted",
            (error: Error) => refusalText(error),
        );
        assert.strictEqual(
            refusal,
            "ApicClientBundle pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 100000 with pkcs12Profile legacy " +
                "(its key derivations run in JavaScript: about 1 s per keystore at 100000; pkcs12Profile modern takes up to 1000000); got 100001. " +
                "Set it within that range or leave it unset (10000)",
        );
    });

    it("refuses to build a keystore its readers would refuse: an empty or non-ASCII password, a key that is not the first certificate's", () => {
        const input = obKeystoreInput(1);
        const refusal = (changed: Partial<Pkcs12Input>): string => {
            try {
                buildPkcs12({ ...input, ...changed });
                return "built";
            } catch (error) {
                return (error as Error).message;
            }
        };
        assert.deepStrictEqual(
            [
                refusal({ password: "" }),
                refusal({ password: "pässword" }),
                refusal({ password: "tab\there" }),
                refusal({ keyPem: modern.read("apic/dp/client.key") }),
                refusal({ certPems: [modern.read("apic/ob/ca-chain.pem"), modern.read("apic/ob/client.crt")] }),
                refusal({}),
            ],
            [
                "PKCS#12 password is empty, and gnutls certtool then fails the MAC; give a non-empty password",
                'PKCS#12 password holds a character outside printable ASCII, and keytool refuses it ("Password is not ASCII"); give one of letters, digits and punctuation',
                'PKCS#12 password holds a character outside printable ASCII, and keytool refuses it ("Password is not ASCII"); give one of letters, digits and punctuation',
                "PKCS#12 key does not match certPems[0], the certificate readers pair it with; give that certificate's key, or put the key's certificate first",
                "PKCS#12 key does not match certPems[0], the certificate readers pair it with; give that certificate's key, or put the key's certificate first",
                "built",
            ],
        );
    });
});

describe("Trust bundles given to APIC's truststore and the UI sidecars' ca.crt", function () {
    this.timeout(60_000);
    const clientCa = {
        certPem: TEST_ONLY_CA_CERT_PEM,
        privateKeyPem: TEST_ONLY_CA_KEY_PEM,
        chainPem: TEST_ONLY_CA_CERT_PEM,
    };
    /** ApicClientBundle's clientCa here: a CA of its own, as the test-only CA is in the bundles these tests give. */
    let apicClientCa: typeof clientCa;
    before(async () => {
        const ca = await mintRoot("Trust test APIC client CA");
        apicClientCa = { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem };
    });

    /** What refuses `bundle` as ApicClientBundle's serverTrustBundlePem and as UiApicClient's apicTrustPem (an output, as the stack passes it). */
    async function refusals(bundle: string): Promise<string[]> {
        // Refused in an apply, the message comes prefixed with the property Pulumi was serializing.
        const failure = (run: Promise<unknown>) =>
            run.then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        return [
            await failure(
                runWithStandIn(() => {
                    new ApicClientBundle("ob", {
                        clientCa: apicClientCa,
                        identity: "urn:example:apic-client:ob",
                        serverTrustBundlePem: bundle,
                        keyAlgorithm: "ECDSA",
                    });
                }),
            ),
            await failure(
                runWithStandIn(() => {
                    new UiApicClient("web", {
                        clientCa,
                        service: "web",
                        identity: "urn:example:ui-client:web",
                        namespace: "ui",
                        apicHosts: ["apic.bank.example"],
                        apicTrustPem: pulumi.output(bundle),
                        keyAlgorithm: "ECDSA",
                    });
                }),
            ),
        ];
    }

    it("refuses a leaf, which APIC's validation credentials and Envoy would trust as itself (a pin that breaks at its renewal), naming the argument and the certificate", async () => {
        const pin =
            "holds CN=apic-client test-only, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead";
        assert.deepStrictEqual(await refusals(TEST_ONLY_CA_CERT_PEM + TEST_ONLY_LEAF_CERT_PEM), [
            `ApicClientBundle serverTrustBundlePem ${pin}`,
            `UiApicClient apicTrustPem ${pin}`,
        ]);
    });

    it("refuses a private key pasted with the CA, without quoting it", async () => {
        const messages = await refusals(TEST_ONLY_CA_CERT_PEM + TEST_ONLY_CA_KEY_PEM);
        const key =
            'holds a private key (a "PRIVATE KEY" PEM block): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only';
        assert.deepStrictEqual(messages, [
            `ApicClientBundle serverTrustBundlePem ${key}`,
            `UiApicClient apicTrustPem ${key}`,
        ]);
        const keyLine = TEST_ONLY_CA_KEY_PEM.split("\n")[1];
        assert.ok(messages.every((m) => !m.includes(keyLine)));
    });

    it("refuses the CA's key pasted with clientCa's certificates, which caChainPem and the signing inputs carry in clear, without quoting it", async () => {
        // Whoever reads the stack's plain outputs or state (caChainPem, the certificate's caCertPem
        // input) would hold the APIC-client CA key and could mint clients the gateway trusts.
        const refusal = (pasted: Partial<typeof clientCa>) =>
            runWithStandIn(() => {
                const bundle = new ApicClientBundle("ob", {
                    clientCa: { ...clientCa, ...pasted },
                    identity: "urn:example:apic-client:ob",
                    serverTrustBundlePem: TEST_ONLY_CA_CERT_PEM,
                    keyAlgorithm: "ECDSA",
                });
                return { caChainPem: bundle.caChainPem };
            }).then(
                ({ outputs }) => `accepted; caChainPem holds a key: ${outputs.caChainPem.includes("PRIVATE KEY")}`,
                (error: Error) => error.message,
            );
        const withKey = TEST_ONLY_CA_CERT_PEM + TEST_ONLY_CA_KEY_PEM;
        const messages = [await refusal({ chainPem: withKey }), await refusal({ certPem: withKey })];
        const fix =
            'holds a private key (a "PRIVATE KEY" PEM block): certificates are handed out and stored in clear, so take the key out (and replace it if the text has been shared); give certificates only';
        assert.deepStrictEqual(messages, [
            `ApicClientBundle clientCa: chainPem ${fix}`,
            `ApicClientBundle clientCa: certPem ${fix}`,
        ]);
        const keyLine = TEST_ONLY_CA_KEY_PEM.split("\n")[1];
        assert.ok(messages.every((m) => !m.includes(keyLine)));
    });

    it("hands APIC its CA chain as certificates alone: no text around them, no CRLF, no root, however clientCa.chainPem came", async () => {
        const root = await mintRoot("Chain test root");
        const ca = await mintSubCa(root, "Chain test APIC client CA");
        // As `openssl pkcs12 -nodes` writes it, with CRLF line ends, and the root appended.
        const pasted =
            `Bag Attributes\r\n    friendlyName: apic-client-ca\r\nsubject=CN = Chain test APIC client CA\r\n` +
            ca.certPem.replace(/\n/g, "\r\n") +
            root.certPem;
        const { outputs } = await runWithStandIn(() => {
            const bundle = new ApicClientBundle("ob", {
                clientCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: pasted },
                identity: "urn:example:apic-client:ob",
                serverTrustBundlePem: TEST_ONLY_CA_CERT_PEM,
                keyAlgorithm: "ECDSA",
                pkcs12Iterations: PKCS12_MIN_ITERATIONS,
            });
            return { caChainPem: bundle.caChainPem, p12: bundle.pkcs12Base64, password: bundle.pkcs12Password };
        });
        assert.strictEqual(outputs.caChainPem, ca.certPem);
        // The keystore APIC imports: the leaf and the CA, nothing else (openssl reads its certificates out).
        const dir = tempDir("apic-chain");
        fs.writeFileSync(path.join(dir, "client.p12"), Buffer.from(outputs.p12, "base64"));
        const listed = openssl(
            ["pkcs12", "-in", path.join(dir, "client.p12"), "-nokeys", "-passin", "stdin"],
            outputs.password,
        );
        assert.strictEqual(listed.status, 0, listed.output);
        assert.deepStrictEqual(
            [...listed.output.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]),
            ["CN = apic-client ob", "CN = Chain test APIC client CA"],
        );
    });

    it("names a missing clientCa.chainPem that came as an output resolving to nothing (a StackReference's missing output)", async () => {
        const root = await mintRoot("Missing chain root");
        const ca = await mintSubCa(root, "Missing chain CA");
        const refusal = (chainPem: pulumi.Output<string | null | undefined>) =>
            bundleChainOf(
                { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: chainPem as pulumi.Output<string> },
                root.certPem,
            ).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        // Before, a TypeError: "Cannot read properties of undefined (reading 'replace')".
        const missing =
            "ApicClientBundle clientCa: chainPem is missing and certPem (CN=Missing chain CA) is not a root; give its certificate and every CA above it, up to the root";
        assert.deepStrictEqual(
            [await refusal(pulumi.output(undefined)), await refusal(pulumi.output(null))],
            [missing, missing],
        );
    });

    it("refuses a key pasted with an offline root's certificates (cat root.crt root.key), which rootCertPem and certPem would hand out in clear, without quoting it", async () => {
        // Before, IntermediateCa passed the text on: its plain rootCertPem and trustBundlePem outputs held the key.
        const withKey = TEST_ONLY_CA_CERT_PEM + TEST_ONLY_CA_KEY_PEM;
        const refusal = (offlineRoot: { rootCertPem: pulumi.Input<string>; signedCertPem?: pulumi.Input<string> }) =>
            runWithStandIn(() => {
                const ca = new IntermediateCa("offline-ca", {
                    offlineRoot,
                    subject: { commonName: "Offline CA" },
                    keyAlgorithm: "ECDSA",
                });
                return { rootCertPem: ca.rootCertPem, certPem: ca.certPem };
            }).then(
                ({ outputs }) => `accepted; rootCertPem holds a key: ${outputs.rootCertPem.includes("PRIVATE KEY")}`,
                // An output refused once it resolves reaches the program through the SDK's serializer, which prefixes its own words.
                (error: Error) => error.message.replace(/^error serializing property "outputs": /, ""),
            );
        const messages = [
            await refusal({ rootCertPem: withKey }),
            await refusal({ rootCertPem: pulumi.output(withKey) }),
            await refusal({ rootCertPem: TEST_ONLY_CA_CERT_PEM, signedCertPem: pulumi.output(withKey) }),
        ];
        const fix =
            'holds a private key (a "PRIVATE KEY" PEM block): certificates are handed out and stored in clear, so take the key out (and replace it if the text has been shared)';
        assert.deepStrictEqual(messages, [
            `IntermediateCa offlineRoot.rootCertPem ${fix}; give the root's certificate only`,
            `IntermediateCa offlineRoot.rootCertPem ${fix}; give the root's certificate only`,
            `IntermediateCa offlineRoot.signedCertPem of offline-ca ${fix}; give the certificate only`,
        ]);
        const keyLine = TEST_ONLY_CA_KEY_PEM.split("\n")[1];
        assert.ok(messages.every((m) => !m.includes(keyLine)));
    });

    it("refuses an expired CA and a CA certificate without keyCertSign, under which every peer would be refused", async () => {
        const expired = await mintRoot("Expired root", {
            issuedAt: new Date(justIssued().getTime() - 48 * 3_600_000),
            validityHours: 24,
        });
        const expiredOn = new Date(new crypto.X509Certificate(expired.certPem).validTo).toISOString();
        const key = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const noCertSign = tlsProvider.selfSignedCert(
            {
                privateKeyPem: key.state.privateKeyPem,
                subject: { commonName: "Signs nothing" },
                isCaCertificate: true,
                allowedUses: ["digital_signature"],
                validityPeriodHours: 24,
            },
            { now: justIssued },
        ).state.certPem as string;
        assert.deepStrictEqual(
            [...(await refusals(expired.certPem)), ...(await refusals(noCertSign))],
            [
                `ApicClientBundle serverTrustBundlePem holds CN=Expired root, which expired on ${expiredOn}: DataPower takes a truststore (validation credentials) ` +
                    "that holds an expired certificate down at its next reboot or change, and every TLS profile that uses it; leave the expired CA out",
                `UiApicClient apicTrustPem holds CN=Expired root, which expired on ${expiredOn}, so every certificate under it is refused; give the CA that replaced it`,
                "ApicClientBundle serverTrustBundlePem holds CN=Signs nothing, a CA certificate whose keyUsage lacks keyCertSign, so verifiers accept nothing it signed; give the root CA that issued the peer's certificates",
                "UiApicClient apicTrustPem holds CN=Signs nothing, a CA certificate whose keyUsage lacks keyCertSign, so verifiers accept nothing it signed; give the root CA that issued the peer's certificates",
            ],
        );
        // Beside a valid root (a root rotation begun after the old root expired), Envoy's ca.crt
        // accepts it (refusing it would block the rotation that ends the outage); APIC's truststore
        // does not: DataPower takes validation credentials holding an expired certificate down.
        assert.deepStrictEqual(await refusals(expired.certPem + TEST_ONLY_CA_CERT_PEM), [
            `ApicClientBundle serverTrustBundlePem holds CN=Expired root, which expired on ${expiredOn}: DataPower takes a truststore (validation credentials) ` +
                "that holds an expired certificate down at its next reboot or change, and every TLS profile that uses it; leave the expired CA out",
            "accepted",
        ]);
    });

    it("leaves an expired CA out of the truststores the stack renders for APIC, keeping the valid ones in order", async () => {
        const expired = await mintRoot("Expired root", {
            issuedAt: new Date(justIssued().getTime() - 48 * 3_600_000),
            validityHours: 24,
        });
        const valid = await mintRoot("Valid root");
        assert.strictEqual(
            unexpiredCertificates(expired.certPem + valid.certPem + TEST_ONLY_CA_CERT_PEM, new Date()),
            valid.certPem + TEST_ONLY_CA_CERT_PEM,
        );
        assert.strictEqual(unexpiredCertificates(expired.certPem, new Date()), "");
    });

    it("checks the gateway's client trust bundle (its Secret's ca.crt) the same way", async () => {
        const gateway = (bundle: string) =>
            runWithStandIn(() => {
                new IstioGatewayTls("edge", {
                    serverCa: clientCa,
                    clientTrustBundlePem: bundle,
                    endpoints: [{ id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:example:apic"] }],
                    keyAlgorithm: "ECDSA",
                });
            }).then(
                () => "accepted",
                (error: Error) => error.message,
            );
        assert.deepStrictEqual(
            [
                await gateway(TEST_ONLY_CA_CERT_PEM + TEST_ONLY_LEAF_CERT_PEM),
                await gateway(TEST_ONLY_CA_CERT_PEM + TEST_ONLY_CA_KEY_PEM),
                await gateway(TEST_ONLY_CA_CERT_PEM),
            ],
            [
                "IstioGatewayTls clientTrustBundlePem holds CN=apic-client test-only, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead",
                'IstioGatewayTls clientTrustBundlePem holds a private key (a "PRIVATE KEY" PEM block): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only',
                "accepted",
            ],
        );
    });

    it("refuses text with no certificate or a broken one, and accepts CA certificates", async () => {
        const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert.deepStrictEqual(
            [...(await refusals("my-ca")), ...(await refusals(TEST_ONLY_CA_CERT_PEM + broken))],
            [
                "ApicClientBundle serverTrustBundlePem holds no PEM certificate; give the PEM certificate(s) of the CA(s) to trust",
                "UiApicClient apicTrustPem holds no PEM certificate; give the PEM certificate(s) of the CA(s) to trust",
                "ApicClientBundle serverTrustBundlePem holds, as certificate 2, a PEM block that is not an X.509 certificate; give the CA certificates in PEM",
                "UiApicClient apicTrustPem holds, as certificate 2, a PEM block that is not an X.509 certificate; give the CA certificates in PEM",
            ],
        );
        assert.deepStrictEqual(await refusals(TEST_ONLY_CA_CERT_PEM), ["accepted", "accepted"]);
        // A BEGIN marker inside a line begins no block, to OpenSSL nor to the bundle's users: refused, not dropped unseen.
        assert.deepStrictEqual(await refusals(`${TEST_ONLY_CA_CERT_PEM}# x${TEST_ONLY_CA_CERT_PEM}`), [
            "ApicClientBundle serverTrustBundlePem holds a CERTIFICATE block without its END line, or a BEGIN or END marker inside a line; give whole PEM certificates, each marker at the start of a line of its own",
            "UiApicClient apicTrustPem holds a CERTIFICATE block without its END line, or a BEGIN or END marker inside a line; give whole PEM certificates, each marker at the start of a line of its own",
        ]);
    });

    it("refuses the APIC client CA's own trust as APIC's truststore, whose key would sign a server certificate APIC takes for the gateway's, and takes the gateway server CA's", async () => {
        // Real components under the stand-in: the client CA has no extendedKeyUsage, so a truststore
        // holding its key, or its root's, lets whoever holds that key (Pulumi state) pose as the gateway.
        type Pick = (cas: {
            clientRoot: RootCa;
            clientCa: IntermediateCa;
            serverRoot: RootCa;
            serverCa: IntermediateCa;
        }) => pulumi.Input<string>;
        const truststore = (pick: Pick, sharedRoot = false) =>
            runWithStandIn(
                () => {
                    const clientRoot = new RootCa("apic-client-root", {
                        subject: { commonName: "APIC client root" },
                        keyAlgorithm: "ECDSA",
                    });
                    const clientCa = new IntermediateCa("apic-client-ca", {
                        rootCa: clientRoot,
                        subject: { commonName: "APIC client CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    const serverRoot = sharedRoot
                        ? clientRoot
                        : new RootCa("gateway-server-root", {
                              subject: { commonName: "Gateway server root" },
                              keyAlgorithm: "ECDSA",
                          });
                    const serverCa = new IntermediateCa("gateway-server-ca", {
                        rootCa: serverRoot,
                        subject: { commonName: "Gateway server CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    const bundle = new ApicClientBundle("ob", {
                        clientCa,
                        identity: "urn:example:apic-client:ob",
                        serverTrustBundlePem: pick({ clientRoot, clientCa, serverRoot, serverCa }),
                        keyAlgorithm: "ECDSA",
                    });
                    return { truststorePem: bundle.truststorePem, server: serverCa.trustBundlePem };
                },
                { state: new Map() },
            ).then(
                ({ outputs }) =>
                    outputs.truststorePem === outputs.server ? "accepted" : "accepted, another truststore",
                (error: Error) => refusalText(error),
            );
        const fix =
            "APIC would accept, as the gateway, a server certificate for any host that the APIC client CA's key (in Pulumi state) signs, " +
            "as that CA has no extendedKeyUsage. Give the gateway server CA's trustBundlePem";
        const rootAlone =
            "ApicClientBundle serverTrustBundlePem holds CN=APIC client root, the root that issued clientCa's chain, and no CA it issued besides clientCa's: " +
            `${fix} (under a root shared with clientCa's, that bundle holds the gateway server CA too)`;
        assert.deepStrictEqual(
            [
                await truststore(({ clientRoot }) => clientRoot.certPem),
                await truststore(({ clientCa }) => clientCa.trustBundlePem),
                await truststore(({ clientRoot, serverCa }) =>
                    pulumi.concat(serverCa.trustBundlePem, clientRoot.certPem),
                ),
                await truststore(({ serverCa }) => serverCa.trustBundlePem),
                // One root for everything (pki:trustDomains: shared): the root beside the server CA it issued.
                await truststore(({ serverCa }) => serverCa.trustBundlePem, true),
                await truststore(({ serverRoot }) => serverRoot.certPem, true),
            ],
            [
                rootAlone,
                `ApicClientBundle serverTrustBundlePem holds CN=APIC client CA, which has clientCa's own key: ${fix}`,
                rootAlone,
                "accepted",
                "accepted",
                rootAlone,
            ],
        );
    });
});
