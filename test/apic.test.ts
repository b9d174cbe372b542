import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ApicClientBundle } from "../lib/components/apicClientBundle";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import { apicPayloads, APIC_MAX_INTERMEDIATES } from "../lib/pki/apic";
import { buildPkcs12, cachedPkcs12, pkcs12Cache, PKCS12_CACHE_SIZE, PKCS12_MIN_ITERATIONS } from "../lib/pki/pkcs12";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import {
    loadStackFile,
    OPTION_FILES,
    openssl,
    pemBlocks,
    renderConfig,
    Rendered,
    sharedState,
    tempDir,
} from "./helpers";

/** openssl pkcs12 on a file with a password: what it prints, and the PEMs it extracts. */
function openP12(file: string, password: string, extra: string[] = []): { info: string; pems: string; status: number } {
    const info = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-info", "-noout", ...extra]);
    const pems = openssl(["pkcs12", "-in", file, "-passin", `pass:${password}`, "-nodes", ...extra]);
    return { info: info.output, pems: pems.output, status: pems.status };
}

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

    it("writes the configured iteration count (openssl reads it back) and refuses fewer than Java 17's 10000", async () => {
        const bundle = (pkcs12Iterations: number) =>
            runWithStandIn(
                () => {
                    const b = new ApicClientBundle("ob", {
                        clientCa: {
                            certPem: TEST_ONLY_CA_CERT_PEM,
                            privateKeyPem: TEST_ONLY_CA_KEY_PEM,
                            chainPem: TEST_ONLY_CA_CERT_PEM,
                        },
                        identity: "urn:example:apic-client:ob",
                        serverTrustBundlePem: TEST_ONLY_CA_CERT_PEM,
                        keyAlgorithm: "ECDSA",
                        pkcs12Iterations,
                    });
                    return { p12: b.pkcs12Base64, password: b.pkcs12Password };
                },
                { state: sharedState },
            );
        const { outputs } = await bundle(12_345);
        const file = path.join(tempDir("p12-iterations"), "client.p12");
        fs.writeFileSync(file, Buffer.from(outputs.p12, "base64"), { mode: 0o600 });
        const { info, status } = openP12(file, outputs.password);
        assert.strictEqual(status, 0, info);
        assert.match(info, /^MAC: sha256, Iteration 12345$/m);
        assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 12345, PRF hmacWithSHA256/);
        assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 12345, PRF hmacWithSHA256/);
        for (const bad of [9_999, 10_000.5, 5_000_001]) {
            await assert.rejects(
                bundle(bad),
                new RegExp(
                    `ApicClientBundle pkcs12Iterations must be a whole number from 10000 \\(Java 17's default\\) to 5000000 \\(the most Java opens\\); got ${bad}\\. Set it within that range or leave it unset \\(10000\\)`,
                ),
            );
        }
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
            keystore_url: "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}/keystores/example-ob-keystore",
            truststore_url: "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}/truststores/example-ob-truststore",
            insecure_server_connections: false,
            server_name_indication: true,
        });
        assert.strictEqual(fs.statSync(path.join(modern.dir, "apic/ob/keystore.json")).mode & 0o777, 0o600);
    });

    it("refuses a chain APIC would refuse (more than 10 intermediates)", () => {
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
            /APIC keystores take at most 10 intermediate certificates; ob has 11/,
        );
    });
});
