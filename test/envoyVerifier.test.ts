import * as assert from "assert";
import { createPublicKey, X509Certificate } from "crypto";
import { buildCrl, crlWindow } from "../lib/pki/crl";
import { spkiPin } from "../lib/pki/pins";
import { PeerCheck, PIN_MISMATCH, SAN_MISMATCH, verifierVersions, verifyPeer, verifyPeers } from "./envoyVerifier";
import { mintLeaf, mintRoot, mintSubCa, TestCa } from "./helpers";

const CLIENT_USES = ["digital_signature", "key_encipherment", "client_auth"];
const URI = "spiffe://apic.bank.example/env/prod/endpoint/payments";
const HOUR_MS = 3_600_000;

/** Both libraries give this verdict. */
const both = (ok: boolean, error: string, extra: { depth?: number; chain?: string[] } = {}) => ({
    accepted: ok,
    boringssl: { ok, error, ...extra },
    openssl: { ok, error, ...extra },
});

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;
/** The "PUBLIC KEY" PEM of a certificate, as @pulumi/tls's `publicKeyPem` gives it. */
const publicKeyPem = (cert: string): string => createPublicKey(cert).export({ type: "spki", format: "pem" }) as string;

describe("The Envoy-mode verifier (BoringSSL and OpenSSL 3, Envoy's default_validator rules)", function () {
    this.timeout(60_000);
    /** RSA, so that lib/pki/crl.ts can sign their CRLs; valid a year, so `at` can move a day ahead. */
    let root: TestCa;
    let intermediate: TestCa;
    let client: { cert: string; key: string };
    /** What the client sends: its certificate, then its issuing CA. */
    let sent: string;
    let crlOfRoot: string;
    let crlOfIntermediate: string;
    let crlRevokingClient: string;

    before(async () => {
        root = await mintRoot("verifier root", { rsa: true, validityHours: 24 * 365 });
        intermediate = await mintSubCa(root, "verifier intermediate", { rsa: true, validityHours: 24 * 365 });
        client = await mintLeaf(intermediate, { commonName: "apic client", uris: [URI], allowedUses: CLIENT_USES });
        sent = client.cert + intermediate.certPem;
        const window = crlWindow(new Date(), 7);
        crlOfRoot = buildCrl(root.certPem, root.keyPem, [], window);
        crlOfIntermediate = buildCrl(intermediate.certPem, intermediate.keyPem, [], window);
        crlRevokingClient = buildCrl(
            intermediate.certPem,
            intermediate.keyPem,
            [{ serialHex: serialOf(client.cert), revokedAt: new Date(), reason: "keyCompromise" }],
            window,
        );
    });

    const gateway = (check: Partial<PeerCheck>): PeerCheck => ({
        caCrt: root.certPem,
        chain: sent,
        purpose: "sslclient",
        ...check,
    });

    it("is compiled twice: once linked with Debian's Android BoringSSL, once with the system OpenSSL 3", () => {
        const versions = verifierVersions();
        assert.strictEqual(versions.boringssl.flavour, "BoringSSL");
        assert.strictEqual(versions.boringssl.version, "BoringSSL");
        assert.match(versions.boringssl.library, /^\/usr\/lib\/[a-z0-9_-]+\/android\/libcrypto\.so\.0$/);
        assert.strictEqual(versions.openssl.flavour, "OpenSSL");
        assert.match(versions.openssl.version, /^OpenSSL 3\./);
        assert.match(versions.openssl.library, /\/libcrypto\.so\.3$/);
    });

    it("accepts a client sending its issuing CA when ca.crt holds only the root, without CRLs", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({})),
            both(true, "", { chain: ["apic client", "verifier intermediate", "verifier root"] }),
        );
    });

    it("accepts it with ca.crl holding a CRL of every CA of the chain (CRL_CHECK_ALL)", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrl: crlOfIntermediate + crlOfRoot })),
            both(true, "", { chain: ["apic client", "verifier intermediate", "verifier root"] }),
        );
    });

    it("rejects it when the intermediate's CRL lists the client's serial", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrl: crlRevokingClient + crlOfRoot })),
            both(false, "certificate revoked", { depth: 0 }),
        );
    });

    it("rejects every client when ca.crl lacks the CRL of one CA of the chain (the root's here)", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrl: crlOfIntermediate })),
            both(false, "unable to get certificate CRL", { depth: 1 }),
        );
    });

    it("issue 12 trap: ca.crt = intermediate + root with a ca.crl: OpenSSL stops at the intermediate anchor and finds no CRL for it; this BoringSSL builds the longer chain and accepts", () => {
        const caCrt = intermediate.certPem + root.certPem;
        const toRoot = ["apic client", "verifier intermediate", "verifier root"];
        // Without CRLs both accept, but the chains differ: the first anchor found ends OpenSSL's.
        assert.deepStrictEqual(verifyPeer(gateway({ caCrt })), {
            accepted: true,
            boringssl: { ok: true, error: "", chain: toRoot },
            openssl: { ok: true, error: "", chain: ["apic client", "verifier intermediate"] },
        });
        // The intermediate's CRL is issued by the root, outside OpenSSL's chain: CRL_CHECK_ALL fails there.
        assert.deepStrictEqual(verifyPeer(gateway({ caCrt, caCrl: crlOfIntermediate + crlOfRoot })), {
            accepted: false,
            boringssl: { ok: true, error: "", chain: toRoot },
            openssl: { ok: false, error: "unable to get certificate CRL", depth: 1 },
        });
    });

    it("accepts a client against an intermediate-only ca.crt without CRL (every ca.crt certificate is an anchor)", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrt: intermediate.certPem })),
            both(true, "", { chain: ["apic client", "verifier intermediate"] }),
        );
    });

    it("rejects every client against an intermediate-only ca.crt once ca.crl exists, under both libraries", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrt: intermediate.certPem, caCrl: crlOfIntermediate + crlOfRoot })),
            both(false, "unable to get certificate CRL", { depth: 1 }),
        );
    });

    it("rejects that client when partial chains are off (a verifier that needs a self-signed anchor)", () => {
        assert.deepStrictEqual(
            verifyPeer(gateway({ caCrt: intermediate.certPem, partialChain: false })),
            both(false, "unable to get issuer certificate", { depth: 1 }),
        );
    });

    it("root pathlen:1 in ca.crt against a sub-CA minted below its intermediate: BoringSSL ignores the anchor's pathLen, OpenSSL enforces it", async () => {
        const limitedRoot = await mintRoot("pathlen-1 root", { maxPathLength: 1 });
        const issuing = await mintSubCa(limitedRoot, "issuing CA");
        const rogue = await mintSubCa(issuing, "rogue sub-CA");
        const impostor = await mintLeaf(rogue, { commonName: "impostor", uris: [URI], allowedUses: CLIENT_USES });
        const verdict = verifyPeer({
            caCrt: limitedRoot.certPem,
            chain: impostor.cert + rogue.certPem + issuing.certPem,
            purpose: "sslclient",
            subjectAltNames: [URI],
        });
        assert.deepStrictEqual(verdict, {
            accepted: false,
            boringssl: { ok: true, error: "", chain: ["impostor", "rogue sub-CA", "issuing CA", "pathlen-1 root"] },
            openssl: { ok: false, error: "path length constraint exceeded", depth: 3 },
        });
    });

    it("applies Istio's subjectAltNames as exact matchers: the pinned URI passes, another URI or a prefix fails", () => {
        assert.strictEqual(verifyPeer(gateway({ subjectAltNames: [URI] })).accepted, true);
        assert.strictEqual(verifyPeer(gateway({ subjectAltNames: ["spiffe://other/x", URI] })).accepted, true);
        for (const pin of [`${URI}/x`, URI.slice(0, -1), URI.toUpperCase()]) {
            assert.deepStrictEqual(
                verifyPeer(gateway({ subjectAltNames: [pin] })),
                both(false, SAN_MISMATCH, { chain: ["apic client", "verifier intermediate", "verifier root"] }),
                pin,
            );
        }
    });

    it("matches a wildcard DNS SAN with Envoy's DNS rules (one label, case-insensitive) and IP SANs by their text", async () => {
        const wildcard = await mintLeaf(intermediate, {
            commonName: "wildcard",
            dnsNames: ["*.api.bank.example"],
            ipAddresses: ["10.1.2.3", "2001:db8::1"],
            allowedUses: CLIENT_USES,
        });
        const names = [
            "orders.api.bank.example",
            "ORDERS.Api.bank.example",
            "api.bank.example",
            "a.b.api.bank.example",
            "10.1.2.3",
            "2001:db8::1",
            "2001:DB8::1",
        ];
        const verdicts = verifyPeers(
            names.map((san) => gateway({ chain: wildcard.cert + intermediate.certPem, subjectAltNames: [san] })),
        );
        assert.deepStrictEqual(
            Object.fromEntries(names.map((san, i) => [san, [verdicts[i].boringssl.error, verdicts[i].openssl.error]])),
            {
                "orders.api.bank.example": ["", ""],
                "ORDERS.Api.bank.example": ["", ""],
                "api.bank.example": [SAN_MISMATCH, SAN_MISMATCH],
                "a.b.api.bank.example": [SAN_MISMATCH, SAN_MISMATCH],
                "10.1.2.3": ["", ""],
                "2001:db8::1": ["", ""],
                "2001:DB8::1": [SAN_MISMATCH, SAN_MISMATCH],
            },
        );
    });

    it("accepts the client's SPKI pin (from its certificate or its public key) and rejects another key's, ANDed with the SAN matchers", async () => {
        const other = await mintLeaf(intermediate, { commonName: "other", uris: [URI], allowedUses: CLIENT_USES });
        const chain = ["apic client", "verifier intermediate", "verifier root"];
        assert.deepStrictEqual(
            verifyPeer(gateway({ verifyCertificateSpki: [spkiPin(client.cert)] })),
            both(true, "", { chain }),
        );
        assert.deepStrictEqual(
            verifyPeer(gateway({ verifyCertificateSpki: [spkiPin(other.cert), spkiPin(publicKeyPem(client.cert))] })),
            both(true, "", { chain }),
        );
        assert.deepStrictEqual(
            verifyPeer(gateway({ verifyCertificateSpki: [spkiPin(other.cert)] })),
            both(false, PIN_MISMATCH, { chain }),
        );
        assert.deepStrictEqual(
            verifyPeer(
                gateway({ subjectAltNames: ["spiffe://other/x"], verifyCertificateSpki: [spkiPin(client.cert)] }),
            ),
            both(false, SAN_MISMATCH, { chain }),
        );
    });

    it("accepts the certificate hash colon-separated or plain, and ORs the hash list with the SPKI list as Envoy does", async () => {
        const other = await mintLeaf(intermediate, { commonName: "other", uris: [URI], allowedUses: CLIENT_USES });
        const fingerprint = new X509Certificate(client.cert).fingerprint256; // AA:BB:... (95 characters)
        const plain = fingerprint.replaceAll(":", "").toLowerCase();
        const otherFingerprint = new X509Certificate(other.cert).fingerprint256;
        const verdicts = verifyPeers([
            gateway({ verifyCertificateHash: [fingerprint] }),
            gateway({ verifyCertificateHash: [plain] }),
            gateway({ verifyCertificateHash: [otherFingerprint] }),
            gateway({ verifyCertificateHash: [otherFingerprint], verifyCertificateSpki: [spkiPin(client.cert)] }),
            gateway({ verifyCertificateHash: [fingerprint], verifyCertificateSpki: [spkiPin(other.cert)] }),
        ]);
        assert.deepStrictEqual(
            verdicts.map((v) => [v.boringssl.error, v.openssl.error]),
            [
                ["", ""],
                ["", ""],
                [PIN_MISMATCH, PIN_MISMATCH],
                ["", ""],
                ["", ""],
            ],
        );
    });

    it("refuses malformed pins as Envoy refuses the configuration", () => {
        assert.throws(
            () => verifyPeer(gateway({ verifyCertificateHash: ["AB:CD"] })),
            /^Error: verifyCertificateHash "AB:CD" is not a hex SHA-256 \(Envoy rejects the configuration\)$/,
        );
        assert.throws(
            () => verifyPeer(gateway({ verifyCertificateSpki: ["not base64"] })),
            /^Error: verifyCertificateSpki "not base64" is not a base64 SHA-256 \(Envoy rejects the configuration\)$/,
        );
        // Envoy's Base64::decode refuses set bits after the last byte, which Node's decoder drops.
        const pin = spkiPin(client.cert);
        const sloppy = `${pin.slice(0, 42)}${String.fromCharCode(pin.charCodeAt(42) + 1)}=`;
        assert.strictEqual(Buffer.from(sloppy, "base64").length, 32);
        assert.throws(
            () => verifyPeer(gateway({ verifyCertificateSpki: [sloppy] })),
            (e: Error) =>
                e.message ===
                `verifyCertificateSpki "${sloppy}" is not a base64 SHA-256 (Envoy rejects the configuration)`,
        );
    });

    it("rejects a serverAuth-only leaf as a client (purpose ssl_client) and accepts it as a server", async () => {
        const server = await mintLeaf(intermediate, {
            commonName: "server only",
            dnsNames: ["api.bank.example"],
            allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        });
        const chain = server.cert + intermediate.certPem;
        // The two libraries word X509_V_ERR_INVALID_PURPOSE differently.
        const wrongPurpose = {
            accepted: false,
            boringssl: { ok: false, error: "unsupported certificate purpose", depth: 0 },
            openssl: { ok: false, error: "unsuitable certificate purpose", depth: 0 },
        };
        assert.deepStrictEqual(verifyPeer(gateway({ chain })), wrongPurpose);
        assert.deepStrictEqual(
            verifyPeer(gateway({ chain, purpose: "sslserver" })),
            both(true, "", { chain: ["server only", "verifier intermediate", "verifier root"] }),
        );
        assert.deepStrictEqual(verifyPeer(gateway({ purpose: "sslserver" })), wrongPurpose);
    });

    it("rejects the client once its certificate has expired (verified a day and an hour later)", () => {
        const later = new Date(Date.now() + 25 * HOUR_MS);
        assert.deepStrictEqual(
            verifyPeer(gateway({ at: later })),
            both(false, "certificate has expired", { depth: 0 }),
        );
    });
});
