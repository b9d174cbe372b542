import * as assert from "assert";
import * as crypto from "crypto";
import { AuthorityKeyIdentifierExtension, SubjectKeyIdentifierExtension, X509Certificate } from "@peculiar/x509";
import { pemBlocks } from "../lib/pki/pem";
import { loadStackFile, OPTION_FILES, pemTextsBelow, renderConfig, Rendered, renderStackFile } from "./helpers";

/** Every distinct certificate anywhere in a render (PEM files, JSON payloads, Secret manifests). */
function certificatesOf(rendered: Rendered): crypto.X509Certificate[] {
    const byFingerprint = new Map<string, crypto.X509Certificate>();
    for (const text of pemTextsBelow(rendered.dir)) {
        for (const pem of pemBlocks(text, "CERTIFICATE")) {
            const cert = new crypto.X509Certificate(pem);
            byFingerprint.set(cert.fingerprint256, cert);
        }
    }
    return [...byFingerprint.values()];
}

/** RFC 5280 section 4.2.1.2 method 1, from Node's own key export: SHA-1 of RSAPublicKey DER, or of the EC point 04||X||Y. */
function expectedKeyId(cert: crypto.X509Certificate): string {
    const key = cert.publicKey;
    const material =
        key.asymmetricKeyType === "rsa"
            ? key.export({ type: "pkcs1", format: "der" })
            : Buffer.concat([
                  Buffer.from([4]),
                  Buffer.from(key.export({ format: "jwk" }).x ?? "", "base64url"),
                  Buffer.from(key.export({ format: "jwk" }).y ?? "", "base64url"),
              ]);
    return crypto.createHash("sha1").update(material).digest("hex");
}

/** The key identifiers as @peculiar/x509 reads them (lower-case hex). */
function keyIds(cert: crypto.X509Certificate): { subject?: string; authority?: string } {
    const parsed = new X509Certificate(cert.raw);
    return {
        subject: parsed.getExtension(SubjectKeyIdentifierExtension)?.keyId,
        authority: parsed.getExtension(AuthorityKeyIdentifierExtension)?.keyId,
    };
}

describe("Key identifiers: every leaf names its key (SKI) and its issuer's (AKI)", function () {
    this.timeout(120_000);

    for (const keyAlgorithm of ["RSA", "ECDSA"] as const) {
        it(`gives every leaf of a render an SKI computed from its ${keyAlgorithm} key and an AKI equal to its issuer's SKI`, async () => {
            const rendered =
                keyAlgorithm === "RSA"
                    ? await renderStackFile(OPTION_FILES[1])
                    : await renderConfig({ ...loadStackFile(OPTION_FILES[1]), keyAlgorithm }, "key-ids-ecdsa");
            const certificates = certificatesOf(rendered);
            const leaves = certificates.filter((c) => !c.ca);
            // Option 1 has 2 endpoints: a server and an APIC client certificate each.
            assert.strictEqual(leaves.length, 2 * rendered.plan.endpoints.length);
            for (const leaf of leaves) {
                assert.strictEqual(leaf.publicKey.asymmetricKeyType, keyAlgorithm === "RSA" ? "rsa" : "ec");
                const issuer = certificates.find((c) => c.ca && leaf.checkIssued(c) && leaf.verify(c.publicKey));
                assert.ok(issuer, `the issuer of ${leaf.subject} is in the render`);
                assert.deepStrictEqual(keyIds(leaf), {
                    subject: expectedKeyId(leaf),
                    authority: keyIds(issuer).subject,
                });
                assert.strictEqual(keyIds(issuer).subject, expectedKeyId(issuer));
            }
        });
    }
});
