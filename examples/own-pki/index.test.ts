import * as assert from "assert";
import * as crypto from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { certificates, kubernetesManifests, runProgram } from "apic-istio-pki/testing";

// Test-only RSA keys kept between runs in the project folder (this file runs from dist/): RSA 4096 takes seconds.
const keyFile = path.join(__dirname, "..", "test-keys.json");

describe("the payments PKI (index.ts)", function () {
    this.timeout(60_000); // a first run makes its RSA keys

    it("gives the gateway the client root only, and lets in the key of APIC's certificate alone", async () => {
        const { engine, outputs, returned } = await runProgram<typeof import("./index")>(require.resolve("./index"), {
            keyFile,
        });
        const cert = (name: string) => certificates(engine).find((c) => c.resourceName === name)!;
        const manifest = (kind: string) => kubernetesManifests(engine).find((o) => o.manifest.kind === kind)!.manifest;

        const secret = manifest("Secret").stringData as Record<string, string>;
        assert.strictEqual(secret["ca.crt"], cert("team-client-root-cert").pem);
        const apic = new crypto.X509Certificate(outputs.apicCertPem);
        const clientCa = cert("team-client-ca-cert").x509;
        assert.ok(apic.checkIssued(clientCa) && apic.verify(clientCa.publicKey));

        const spki = apic.publicKey.export({ type: "spki", format: "der" });
        const { servers } = manifest("Gateway").spec as { servers: { tls: { verifyCertificateSpki: string[] } }[] };
        assert.deepStrictEqual(servers[0].tls.verifyCertificateSpki, [
            crypto.createHash("sha256").update(spki).digest("base64"),
        ]);
        assert.strictEqual(await pulumi.isSecret(returned.apicKeyPem), true);
    });
});
