/**
 * lib/engine stands in for the Go-built @pulumi/tls provider (terraform-provider-tls) and must write
 * what it writes, byte for byte (docs: /work/shared/reference/tls-provider.md). test/engine.test.ts
 * checks it against values written down by hand; this file checks it against Go itself: it builds
 * test/tlsProviderOracle (Go's crypto/x509, driven as the provider's source drives it) and gives it
 * the stand-in's own inputs, clock and serial number. Certificates signed by RSA or Ed25519 keys
 * (deterministic signatures) must match whole; for ECDSA signers the signed part and the algorithm
 * must match and the stand-in's signature must verify.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as der from "../lib/engine/der";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { pemDecode } from "../lib/pki/pem";
import { ROOT, tempDir, testRsaKey } from "./helpers";

type Provided = Awaited<ReturnType<typeof tlsProvider.privateKey>>;

/** One result of test/tlsProviderOracle: what Go wrote, or the provider's error. */
interface GoResult {
    error?: string;
    der?: string;
    validityStartTime?: string;
    validityEndTime?: string;
    privateKeyPem?: string;
    privateKeyPemPkcs8?: string;
    publicKeyPem?: string;
}

/** The clock both sides use: milliseconds, so that the RFC 3339 times keep a fraction. */
const NOW = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
const at = { now: () => NOW };

/**
 * Go's default build cache when it can write there: from Go 1.20 the standard library is not
 * shipped compiled, so a fresh cache would rebuild crypto/x509 and its imports on every run. A
 * private cache only when the default one cannot be made (HOME unwritable, say).
 */
function goBuildCache(dir: string): Record<string, string> {
    const found = spawnSync("go", ["env", "GOCACHE"], { encoding: "utf8" });
    const cache = found.status === 0 ? found.stdout.trim() : "";
    try {
        if (cache === "" || cache === "off") throw new Error("no default cache");
        fs.mkdirSync(cache, { recursive: true });
        fs.accessSync(cache, fs.constants.W_OK);
        return {};
    } catch {
        return { GOCACHE: path.join(dir, "cache") };
    }
}

/** Builds the oracle once into a private temp folder: local toolchain only, no module proxy. */
function buildOracle(): string {
    const dir = tempDir("tls-oracle");
    const binary = path.join(dir, "oracle");
    const built = spawnSync("go", ["build", "-o", binary, "."], {
        cwd: path.join(ROOT, "test/tlsProviderOracle"),
        env: {
            ...process.env,
            GOTOOLCHAIN: "local",
            GOPROXY: "off",
            GOFLAGS: "",
            GOPATH: path.join(dir, "gopath"),
            ...goBuildCache(dir),
        },
        encoding: "utf8",
    });
    if (built.status !== 0) {
        throw new Error(
            `cannot build test/tlsProviderOracle (install golang-go, as .ci/run does):\n${built.error?.message ?? built.stderr}`,
        );
    }
    return binary;
}

const tbsOf = (bytes: Buffer): der.Node => der.children(der.readNode(bytes))[0];

/**
 * The oracle takes the stand-in's serial, so it cannot judge it; this does: the provider draws it
 * with rand.Int below 2^128 (a positive INTEGER of at most 16 value bytes, 17 with DER's leading
 * zero) and the resource id is that serial in decimal. Returns the serial.
 */
function assertProviderSerial(id: string, certPem: string): bigint {
    const content = der.children(tbsOf(pemDecode(certPem, "CERTIFICATE")))[1].content;
    assert.ok(content[0] < 0x80, `serial ${content.toString("hex")}: positive`);
    assert.ok(
        content.length === 1 || content[0] !== 0 || content[1] >= 0x80,
        `serial ${content.toString("hex")}: minimal DER`,
    );
    const serial = BigInt("0x" + content.toString("hex"));
    assert.ok(serial > 0n && serial < 1n << 128n, `serial ${serial}: in [1, 2^128)`);
    assert.strictEqual(id, serial.toString(), "the id is the serial in decimal");
    return serial;
}

/** The serial number's hex, as the oracle takes it (the stand-in draws it at random). */
const serialHexOf = (certPem: string): string =>
    der.children(tbsOf(pemDecode(certPem, "CERTIFICATE")))[1].content.toString("hex");

describe("Engine stand-in: byte for byte what Go's crypto/x509 writes when driven as terraform-provider-tls drives it", function () {
    this.timeout(60_000);
    let oracleBinary: string;
    let rsa: Provided;
    let p256: Provided;
    let p384: Provided;
    let ed25519: Provided;

    before(async () => {
        oracleBinary = buildOracle();
        rsa = await testRsaKey();
        p256 = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        p384 = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P384" });
        ed25519 = await tlsProvider.privateKey({ algorithm: "ED25519" });
    });

    const oracle = (...requests: Record<string, unknown>[]): GoResult[] =>
        JSON.parse(execFileSync(oracleBinary, { input: JSON.stringify(requests), encoding: "utf8" })) as GoResult[];

    /** Self-signed or locally signed by the stand-in and by Go, from the same inputs, clock and serial. */
    function certificate(kind: "self" | "local", inputs: Record<string, unknown>) {
        const made =
            kind === "self" ? tlsProvider.selfSignedCert(inputs, at) : tlsProvider.locallySignedCert(inputs, at);
        const certPem = made.state.certPem as string;
        assertProviderSerial(made.id, certPem);
        const [go] = oracle({ ...inputs, kind, serialHex: serialHexOf(certPem), notBeforeMs: NOW.getTime() });
        return { made, certPem, go };
    }

    /** The same bytes as Go's: whole for a deterministic signer, else the signed part and algorithm. */
    function assertSameCertificate(ours: Buffer, go: GoResult, signer: string, what: string): void {
        assert.strictEqual(go.error, undefined, `${what}: Go refused it`);
        const theirs = Buffer.from(go.der as string, "hex");
        if (crypto.createPrivateKey(signer).asymmetricKeyType !== "ec") {
            assert.strictEqual(ours.toString("hex"), theirs.toString("hex"), what);
            return;
        }
        assert.strictEqual(tbsOf(ours).raw.toString("hex"), tbsOf(theirs).raw.toString("hex"), `${what}: signed part`);
        const algorithm = (bytes: Buffer) => der.children(der.readNode(bytes))[1].raw.toString("hex");
        assert.strictEqual(algorithm(ours), algorithm(theirs), `${what}: signature algorithm`);
    }

    function assertSameState(made: { id: string; state: Record<string, unknown> }, go: GoResult): void {
        assert.strictEqual(made.state.validityStartTime, go.validityStartTime);
        assert.strictEqual(made.state.validityEndTime, go.validityEndTime);
    }

    const fullSubject = {
        commonName: "Bank Root CA",
        organization: "Bank & Co",
        organizationalUnit: "PKI",
        streetAddresses: ["2 Main St", "1 Side_Rd"],
        locality: "Zürich",
        province: "ZH",
        country: "CH",
        postalCode: "8000",
        serialNumber: "42",
        emailAddress: "pki@bank.example",
    };

    const rsaCa = () =>
        certificate("self", {
            privateKeyPem: rsa.state.privateKeyPem,
            subject: fullSubject,
            isCaCertificate: true,
            maxPathLength: 1,
            setAuthorityKeyId: true,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: 87_600,
        });

    /** A self-signed P-384 CA: pathlen 0 (Go writes no limit), valid until 2056 (GeneralizedTime). */
    const ecCa = () =>
        certificate("self", {
            privateKeyPem: p384.state.privateKeyPem,
            subject: { commonName: "Bank EC Root", organization: "Bank" },
            isCaCertificate: true,
            maxPathLength: 0,
            allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            validityPeriodHours: 30 * 8766,
        });

    it("writes each key type's private_key_pem, private_key_pem_pkcs8 and public_key_pem as Go does", () => {
        const keys = { rsa, p256, p384, ed25519 };
        const go = oracle(...Object.values(keys).map((k) => ({ kind: "key", privateKeyPem: k.state.privateKeyPem })));
        Object.entries(keys).forEach(([name, key], i) => {
            for (const field of ["privateKeyPem", "privateKeyPemPkcs8", "publicKeyPem"] as const) {
                assert.strictEqual(key.state[field], go[i][field], `${name} ${field}`);
            }
        });
    });

    it("self-signs an RSA CA with the full subject, pathlen, SKI and AKI as Go does", () => {
        const { made, certPem, go } = rsaCa();
        assertSameCertificate(pemDecode(certPem, "CERTIFICATE"), go, rsa.state.privateKeyPem as string, "RSA CA");
        assertSameState(made, go);
    });

    it("self-signs an ECDSA P-384 CA valid past 2050 as Go does", () => {
        const { made, certPem, go } = ecCa();
        const ours = pemDecode(certPem, "CERTIFICATE");
        assertSameCertificate(ours, go, p384.state.privateKeyPem as string, "P-384 CA");
        assertSameState(made, go);
        assert.ok(new crypto.X509Certificate(ours).verify(crypto.createPublicKey(p384.state.privateKeyPem as string)));
        assert.strictEqual(made.state.validityEndTime, "2056-01-02T15:04:05.678Z");
    });

    it("writes a CSR and an RSA-signed leaf with DNS, IPv4, IPv6 and SPIFFE SANs and EKUs as Go does", () => {
        const csrInputs = {
            privateKeyPem: p256.state.privateKeyPem,
            subject: { commonName: "gateway.bank.example", organization: "Bank" },
            dnsNames: ["gateway.bank.example", "*.mesh.bank.example"],
            ipAddresses: ["10.1.2.3", "2001:db8::1"],
            uris: ["spiffe://cluster.local/ns/istio-system/sa/gateway"],
        };
        const csr = tlsProvider.certRequest(csrInputs);
        const csrDer = pemDecode(csr.state.certRequestPem as string, "CERTIFICATE REQUEST");
        const [goCsr] = oracle({ ...csrInputs, kind: "csr" });
        assertSameCertificate(csrDer, goCsr, p256.state.privateKeyPem as string, "CSR");
        assert.ok(
            crypto.verify(
                "sha256",
                tbsOf(csrDer).raw,
                p256.state.privateKeyPem as string,
                der.children(der.readNode(csrDer))[2].content.subarray(1),
            ),
        );

        const ca = rsaCa();
        const { made, certPem, go } = certificate("local", {
            caPrivateKeyPem: rsa.state.privateKeyPem,
            caCertPem: ca.certPem,
            certRequestPem: csr.state.certRequestPem,
            allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            validityPeriodHours: 24,
        });
        assertSameCertificate(pemDecode(certPem, "CERTIFICATE"), go, rsa.state.privateKeyPem as string, "leaf");
        assertSameState(made, go);
    });

    it("writes a CSR whose subject has an organization and no common name (a customer-facing host over 64 characters) as Go does", () => {
        const host = `customer-payments-portal.${"x".repeat(50)}.bank.example`;
        for (const subject of [{ organization: "Bank" }, {}]) {
            const csrInputs = { privateKeyPem: p256.state.privateKeyPem, subject, dnsNames: [host] };
            const csr = tlsProvider.certRequest(csrInputs);
            const [goCsr] = oracle({ ...csrInputs, kind: "csr" });
            const csrDer = pemDecode(csr.state.certRequestPem as string, "CERTIFICATE REQUEST");
            assertSameCertificate(
                csrDer,
                goCsr,
                p256.state.privateKeyPem as string,
                `CSR of ${JSON.stringify(subject)}`,
            );
        }
    });

    it("signs an Ed25519 CSR with an empty subject and a DNS SAN (SAN critical) under an ECDSA CA as Go does", () => {
        const csrInputs = { privateKeyPem: ed25519.state.privateKeyPem, dnsNames: ["no-subject.bank.example"] };
        const csr = tlsProvider.certRequest(csrInputs);
        const [goCsr] = oracle({ ...csrInputs, kind: "csr" });
        const csrDer = pemDecode(csr.state.certRequestPem as string, "CERTIFICATE REQUEST");
        assertSameCertificate(csrDer, goCsr, ed25519.state.privateKeyPem as string, "Ed25519 CSR");

        const ca = ecCa();
        const { certPem, go } = certificate("local", {
            caPrivateKeyPem: p384.state.privateKeyPem,
            caCertPem: ca.certPem,
            certRequestPem: csr.state.certRequestPem,
            allowedUses: ["digital_signature", "client_auth"],
            validityPeriodHours: 1,
        });
        const ours = pemDecode(certPem, "CERTIFICATE");
        assertSameCertificate(ours, go, p384.state.privateKeyPem as string, "leaf without subject");
        assert.ok(new crypto.X509Certificate(ours).verify(crypto.createPublicKey(p384.state.privateKeyPem as string)));
    });

    it("writes an IPv4-mapped IPv6 address as 4 bytes, as Go's To4 does, and an IPv4-compatible one as 16", () => {
        const { certPem, go } = certificate("self", {
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "mapped" },
            ipAddresses: ["::ffff:1.2.3.4", "::FFFF:a01:203", "::1.2.3.4"],
            allowedUses: [],
            validityPeriodHours: 1,
        });
        assertSameCertificate(pemDecode(certPem, "CERTIFICATE"), go, rsa.state.privateKeyPem as string, "mapped IPs");
        assert.deepStrictEqual(
            new crypto.X509Certificate(certPem).subjectAltName,
            "IP Address:1.2.3.4, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:102:304",
        );
    });

    it("refuses an IPv6 address with a zone, as Go's net.ParseIP does, in a certificate and a request", () => {
        const inputs = {
            privateKeyPem: p256.state.privateKeyPem,
            subject: { commonName: "zoned" },
            ipAddresses: ["fe80::1%eth0"],
            allowedUses: [],
            validityPeriodHours: 1,
        };
        const [goCert, goCsr] = oracle(
            { ...inputs, kind: "self", serialHex: "01", notBeforeMs: NOW.getTime() },
            { ...inputs, kind: "csr" },
        );
        assert.strictEqual(goCert.error, 'Invalid IP address: Failed to parse "fe80::1%eth0"');
        assert.strictEqual(goCsr.error, goCert.error);
        const refusal = (error: Error) => error.message.startsWith(goCert.error as string);
        assert.throws(() => tlsProvider.selfSignedCert(inputs, at), refusal);
        assert.throws(() => tlsProvider.certRequest(inputs), refusal);
    });

    it("draws serials as the provider does: positive, below 2^128, using all 16 bytes, the id in decimal", () => {
        const bits = Array.from({ length: 16 }, () => {
            const { id, state } = tlsProvider.selfSignedCert(
                {
                    privateKeyPem: ed25519.state.privateKeyPem,
                    subject: { commonName: "serial" },
                    validityPeriodHours: 1,
                },
                at,
            );
            return assertProviderSerial(id, state.certPem as string).toString(2).length;
        });
        // 16 uniform draws below 2^128 all under 2^120: probability 2^-128. A shorter serial fails here.
        assert.ok(Math.max(...bits) > 120, `serial bit lengths ${bits.join(", ")}`);
    });

    it("self-signs an Ed25519 CA with SKI and AKI (the SKI over the key in an OCTET STRING) as Go does", () => {
        const { certPem, go } = certificate("self", {
            privateKeyPem: ed25519.state.privateKeyPem,
            subject: { commonName: "Bank Ed25519 Root" },
            isCaCertificate: true,
            setAuthorityKeyId: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 24,
        });
        assertSameCertificate(
            pemDecode(certPem, "CERTIFICATE"),
            go,
            ed25519.state.privateKeyPem as string,
            "Ed25519 CA",
        );
    });

    it("writes a two-byte keyUsage (decipher_only) and a non-CA's SKI when set_subject_key_id asks, as Go does", () => {
        const { certPem, go } = certificate("self", {
            privateKeyPem: ed25519.state.privateKeyPem,
            subject: { commonName: "leaf" },
            setSubjectKeyId: true,
            allowedUses: ["decipher_only", "digital_signature"],
            validityPeriodHours: 1,
        });
        const ours = pemDecode(certPem, "CERTIFICATE");
        assertSameCertificate(ours, go, ed25519.state.privateKeyPem as string, "decipher_only leaf with SKI");
        assert.ok(ours.includes(Buffer.from("0603551d0f0101ff04050303078080", "hex")), "keyUsage bits 0 and 8");
        assert.ok(ours.includes(Buffer.from("0603551d0e04160414", "hex")), "SKI");
    });

    it("refuses max_path_length on a non-CA with the provider's diagnostic", () => {
        const inputs = {
            privateKeyPem: ed25519.state.privateKeyPem,
            subject: { commonName: "leaf" },
            maxPathLength: 2,
            allowedUses: [],
            validityPeriodHours: 1,
        };
        const [go] = oracle({ ...inputs, kind: "self", serialHex: "01", notBeforeMs: NOW.getTime() });
        assert.strictEqual(go.error, "Failed to create certificate: x509: only CAs are allowed to specify MaxPathLen");
        assert.throws(
            () => tlsProvider.selfSignedCert(inputs, at),
            (error: Error) => error.message === go.error,
        );
    });

    it("writes an emailAddress beyond ASCII as its UTF-8 bytes in an IA5String, as the provider does, and both refuse to sign its CSR", () => {
        const subject = { commonName: "mail", emailAddress: "pkï@bank.example" };
        const { certPem, go } = certificate("self", {
            privateKeyPem: rsa.state.privateKeyPem,
            subject,
            allowedUses: [],
            validityPeriodHours: 1,
        });
        const ours = pemDecode(certPem, "CERTIFICATE");
        assertSameCertificate(ours, go, rsa.state.privateKeyPem as string, "non-ASCII emailAddress");
        assert.ok(ours.includes(Buffer.from("1611706bc3af4062616e6b2e6578616d706c65", "hex")), "IA5String of UTF-8");

        const csrInputs = { privateKeyPem: ed25519.state.privateKeyPem, subject };
        const csr = tlsProvider.certRequest(csrInputs);
        const [goCsr] = oracle({ ...csrInputs, kind: "csr" });
        const csrDer = pemDecode(csr.state.certRequestPem as string, "CERTIFICATE REQUEST");
        assertSameCertificate(csrDer, goCsr, ed25519.state.privateKeyPem as string, "non-ASCII emailAddress CSR");

        // Go's ParseCertificateRequest refuses such an IA5String: LocallySignedCert cannot take it.
        const inputs = {
            caPrivateKeyPem: rsa.state.privateKeyPem,
            caCertPem: rsaCa().certPem,
            certRequestPem: csr.state.certRequestPem,
            allowedUses: [],
            validityPeriodHours: 1,
        };
        const [goLocal] = oracle({ ...inputs, kind: "local", serialHex: "01", notBeforeMs: NOW.getTime() });
        assert.strictEqual(goLocal.error, "asn1: syntax error: IA5String contains invalid character");
        assert.throws(
            () => tlsProvider.locallySignedCert(inputs, at),
            (error: Error) =>
                error.message === `cert_request_pem: failed to parse certificate request: ${goLocal.error as string}`,
        );
    });

    it("makes a CA from a CSR whose subject holds only an emailAddress, as the provider (a non-empty pkix.Name) does", () => {
        const csr = tlsProvider.certRequest({
            privateKeyPem: p256.state.privateKeyPem,
            subject: { emailAddress: "pki@bank.example" },
        });
        const ca = rsaCa();
        const inputs = {
            caPrivateKeyPem: rsa.state.privateKeyPem,
            caCertPem: ca.certPem,
            certRequestPem: csr.state.certRequestPem,
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 24,
        };
        const { certPem, go } = certificate("local", inputs);
        assertSameCertificate(
            pemDecode(certPem, "CERTIFICATE"),
            go,
            rsa.state.privateKeyPem as string,
            "email-only CA",
        );
        const subjectName = der.children(tbsOf(pemDecode(certPem, "CERTIFICATE")))[5].raw.toString("hex");
        assert.strictEqual(subjectName, "3000", "Go writes only the parsed name's fields: an empty subject");

        // A CSR whose subject is empty is still refused, by both.
        const empty = tlsProvider.certRequest({ privateKeyPem: p256.state.privateKeyPem, dnsNames: ["x.example"] });
        const emptyInputs = { ...inputs, certRequestPem: empty.state.certRequestPem };
        const [goEmpty] = oracle({ ...emptyInputs, kind: "local", serialHex: "01", notBeforeMs: NOW.getTime() });
        assert.match(goEmpty.error as string, /^Invalid Certificate Subject: /);
        assert.throws(
            () => tlsProvider.locallySignedCert(emptyInputs, at),
            (error: Error) => error.message.startsWith("Invalid Certificate Subject: "),
        );
    });
});
