import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { buildPkcs12 } from "../lib/pki/pkcs12";
import { apicPayloads, APIC_MAX_INTERMEDIATES } from "../lib/pki/apic";
import { loadStackFile, OPTION_FILES, openssl, pemBlocks, renderConfig, Rendered, sharedState } from "./helpers";
import { EngineState } from "../lib/engine/standIn";

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
            { ...loadStackFile(OPTION_FILES[1]), pkcs12Profile: "legacy" },
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
        assert.match(info, /^MAC: sha256, Iteration 2048$/m);
        assert.match(info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
        assert.match(info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256/);
        const certs = pemBlocks(pems).filter((b) => b.includes("CERTIFICATE"));
        assert.deepStrictEqual(certs, [modern.read("apic/ob/client.crt"), modern.read("apic/ob/ca-chain.pem")]);
        const key = pems.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/)?.[0];
        assert.ok(key, "the key is inside");
        const keySpki = crypto.createPublicKey(key).export({ type: "spki", format: "der" });
        const certSpki = new crypto.X509Certificate(certs[0]).publicKey.export({ type: "spki", format: "der" });
        assert.ok(keySpki.equals(certSpki), "the key matches the leaf");
        assert.notStrictEqual(openP12(file, "wrong-password").status, 0, "a wrong password does not open it");
    });

    it("also opens in the legacy profile (3DES, SHA-1 MAC)", () => {
        const file = path.join(legacy.dir, "apic/ob/client.p12");
        const { info, pems, status } = openP12(file, legacy.read("apic/ob/client.p12.password"));
        assert.strictEqual(status, 0, pems);
        assert.match(info, /^MAC: sha1, Iteration 2048$/m);
        assert.match(info, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
        assert.match(info, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048/);
        assert.strictEqual(pemBlocks(pems).filter((b) => b.includes("CERTIFICATE")).length, 2);
    });

    it("gives identical bytes for the same inputs, different bytes for another password", async () => {
        const again = await renderConfig(loadStackFile(OPTION_FILES[1]), "p12-again", state);
        const bytes = (r: Rendered) => fs.readFileSync(path.join(r.dir, "apic/ob/client.p12"));
        assert.ok(bytes(again).equals(bytes(modern)), "same inputs, same PKCS#12");
        const input = {
            keyPem: modern.read("apic/ob/client.key"),
            certPems: [modern.read("apic/ob/client.crt")],
            password: "one",
            friendlyName: "ob",
            profile: "modern" as const,
        };
        assert.ok(buildPkcs12(input).equals(buildPkcs12(input)));
        assert.ok(!buildPkcs12(input).equals(buildPkcs12({ ...input, password: "two" })));
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
