import * as assert from "assert";
import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import * as der from "../lib/engine/der";
import { ADJECTIVES, ADVERBS, NAMES } from "../lib/engine/petNames";
import { RootCa } from "../lib/components/rootCa";
import { RunOptions, runWithStandIn } from "../lib/engine/standIn";
import { pemDecode, withArticle } from "../lib/pki/pem";
import * as testing from "../lib/testing";
import { certificates, kubernetesManifests, runProgram } from "../lib/testing";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { mintRoot, openssl, opensslRoot, opensslText, TestCa, testRsaKey } from "./helpers";

/** The extension OIDs of a certificate, in order, with their critical flags. */
function extensions(certPem: string): { oid: string; critical: boolean; value: Buffer }[] {
    const [tbs] = der.children(der.readNode(pemDecode(certPem, "CERTIFICATE")));
    const field = der.children(tbs).find((f) => f.tag === 0xa3);
    if (!field) return [];
    return der.children(der.children(field)[0]).map((ext) => {
        const parts = der.children(ext);
        return {
            oid: der.decodeOid(parts[0].content),
            critical: parts.length === 3 && parts[1].content[0] === 0xff,
            value: der.readNode(parts[parts.length - 1].content).raw,
        };
    });
}

describe("Engine stand-in: faithful to @pulumi/tls (terraform-provider-tls 4.x, as lib/engine/tlsProvider.ts cites it)", function () {
    this.timeout(60_000);
    let rsa: Awaited<ReturnType<typeof tlsProvider.privateKey>>;
    before(async () => {
        rsa = await testRsaKey();
    });

    it("defaults ECDSA to P224 with empty SSH outputs, as the provider does", async () => {
        const key = await tlsProvider.privateKey({ algorithm: "ECDSA" });
        assert.strictEqual(key.state.ecdsaCurve, "P224");
        assert.strictEqual(
            crypto.createPrivateKey(key.state.privateKeyPem as string).asymmetricKeyDetails?.namedCurve,
            "secp224r1",
        );
        assert.strictEqual(key.state.publicKeyOpenssh, "");
        assert.strictEqual(key.state.privateKeyOpenssh, "");
        assert.strictEqual(key.state.publicKeyFingerprintSha256, "");
    });

    it("marks no provider output secret of its own accord, as the README says: only what the program wraps", async () => {
        const { returned } = await runWithStandIn(() => {
            const key = new tls.PrivateKey("bare-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const password = new random.RandomPassword("bare-password", { length: 20 });
            return {
                bare: key.privateKeyPem,
                password: password.result,
                wrapped: pulumi.secret(key.privateKeyPem),
                derived: pulumi.secret(password.result).apply((p) => p.length),
            };
        });
        assert.match(await new Promise<string>((ok) => returned.bare.apply(ok)), /^-----BEGIN EC PRIVATE KEY-----\n/);
        assert.strictEqual(await pulumi.isSecret(returned.bare), false);
        assert.strictEqual(await pulumi.isSecret(returned.password), false);
        assert.strictEqual(await pulumi.isSecret(returned.wrapped), true);
        assert.strictEqual(await pulumi.isSecret(returned.derived), true);
    });

    it("writes PKCS#1, SEC1 and PKCS#8 PEMs, an SSH public key and the ids the provider writes", async () => {
        assert.match(rsa.state.privateKeyPem as string, /^-----BEGIN RSA PRIVATE KEY-----\n/);
        assert.match(rsa.state.privateKeyPemPkcs8 as string, /^-----BEGIN PRIVATE KEY-----\n/);
        assert.match(rsa.state.publicKeyOpenssh as string, /^ssh-rsa AAAAB3NzaC1yc2E[A-Za-z0-9+/=]+\n$/);
        assert.match(rsa.state.publicKeyFingerprintMd5 as string, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
        assert.match(rsa.state.publicKeyFingerprintSha256 as string, /^SHA256:[A-Za-z0-9+/]{43}$/);
        assert.strictEqual(rsa.state.rsaBits, 2048);
        assert.strictEqual(rsa.state.ecdsaCurve, "P224", "rsaBits and ecdsaCurve both land in state");
        const spki = crypto.createPublicKey(rsa.state.privateKeyPem as string).export({ type: "spki", format: "der" });
        assert.strictEqual(rsa.id, crypto.createHash("sha1").update(spki).digest("hex"));
        for (const line of (rsa.state.privateKeyPem as string).split("\n").slice(1, -3))
            assert.strictEqual(line.length, 64);
        const ec = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        assert.match(ec.state.privateKeyPem as string, /^-----BEGIN EC PRIVATE KEY-----\n/);
        assert.match(ec.state.publicKeyOpenssh as string, /^ecdsa-sha2-nistp256 /);
    });

    it("makes ids as Go's hashForState: strings.TrimSpace, which trims Unicode white space once a side ends in a byte >= 0x80", () => {
        const trimmed = (hex: string) =>
            tlsProvider.goTrimSpace(Buffer.from(hex.replace(/ /g, ""), "hex")).toString("hex");
        assert.deepStrictEqual(
            [
                trimmed("30 03 16 c2 85"), // U+0085: the DER of ~1 in 32768 EC or Ed25519 keys ends so
                trimmed("30 03 01 c2 a0"), // U+00A0
                trimmed("30 01 20 e3 80 80 0a"), // "\n" (ASCII), then U+3000 and " " decoded backwards
                trimmed("e2 80 a8 20 30 01 09"), // U+2028 and " " at the start, "\t" at the end
                trimmed("30 01 e1 9a 80"), // U+1680
                trimmed("30 01 20 0b"), // ASCII only
                trimmed("30 01 a0"), // a lone continuation byte: no rune, kept
                trimmed("30 01 ed a0 80"), // an encoded surrogate: invalid UTF-8, kept
                trimmed("30 01 e2 80 8b"), // U+200B is no white space to Go
                trimmed("c2 a0 20"), // all white space
            ],
            ["300316", "300301", "3001", "3001", "3001", "3001", "3001a0", "3001eda080", "3001e2808b", ""],
        );
        const der = Buffer.from("300316c285", "hex");
        assert.strictEqual(
            tlsProvider.hashForState(der),
            crypto.createHash("sha1").update(der.subarray(0, 3)).digest("hex"),
        );
        assert.strictEqual(tlsProvider.hashForState(Buffer.alloc(0)), "");
    });

    it("writes 0 for maxPathLength as no limit, and N as pathlen N", () => {
        const make = (maxPathLength?: number) =>
            tlsProvider.selfSignedCert({
                privateKeyPem: rsa.state.privateKeyPem,
                subject: { commonName: "CA" },
                isCaCertificate: true,
                maxPathLength,
                allowedUses: ["cert_signing"],
                validityPeriodHours: 1,
            }).state.certPem as string;
        assert.match(opensslText(make(0)), /CA:TRUE\n/);
        assert.match(opensslText(make(undefined)), /CA:TRUE\n/);
        assert.match(opensslText(make(2)), /CA:TRUE, pathlen:2\n/);
    });

    it("writes a critical, empty basicConstraints on leaves and orders extensions like Go", () => {
        const cert = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "leaf" },
            dnsNames: ["a.example"],
            allowedUses: ["server_auth", "digital_signature", "client_auth"],
            setSubjectKeyId: true,
            validityPeriodHours: 1,
        });
        const exts = extensions(cert.state.certPem as string);
        assert.deepStrictEqual(
            exts.map((e) => [e.oid, e.critical]),
            [
                ["2.5.29.15", true],
                ["2.5.29.37", false],
                ["2.5.29.19", true],
                ["2.5.29.14", false],
                ["2.5.29.17", false],
            ],
        );
        assert.strictEqual(exts[2].value.toString("hex"), "3000", "empty SEQUENCE: cA absent");
        assert.strictEqual(exts[0].value.toString("hex"), "03020780", "digitalSignature only, minimal BIT STRING");
        assert.strictEqual(
            exts[1].value.toString("hex"),
            "301406082b0601050507030106082b06010505070302",
            "EKUs in list order",
        );
    });

    it("encodes subjects in Go's order and string types, and drops CSR attributes it does not model", () => {
        const cert = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: {
                commonName: "*.example",
                organization: "Bank & Co",
                country: "AU",
                organizationalUnit: "Platform",
            },
            allowedUses: [],
            validityPeriodHours: 1,
        });
        const text = openssl(
            ["x509", "-noout", "-subject", "-nameopt", "RFC2253,show_type"],
            cert.state.certPem as string,
        ).output;
        assert.strictEqual(
            text.trim(),
            "subject=CN=UTF8STRING:*.example,OU=PRINTABLESTRING:Platform,O=UTF8STRING:Bank & Co,C=PRINTABLESTRING:AU",
        );
        const csr = tlsProvider.certRequest({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "x", emailAddress: "ops@bank.example" },
        });
        assert.match(
            openssl(["req", "-noout", "-subject"], csr.state.certRequestPem as string).output,
            /emailAddress = ops@bank.example/,
        );
        const ca = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "CA" },
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 1,
        });
        const signed = tlsProvider.locallySignedCert({
            certRequestPem: csr.state.certRequestPem,
            caCertPem: ca.state.certPem,
            caPrivateKeyPem: rsa.state.privateKeyPem,
            allowedUses: [],
            validityPeriodHours: 1,
        });
        assert.strictEqual(
            new crypto.X509Certificate(signed.state.certPem as string).subject,
            "CN=x",
            "emailAddress dropped",
        );
    });

    it("refuses a DNS name or URI beyond ASCII, as Go's x509 does (it does not transcribe it)", () => {
        for (const [names, shown] of [
            [{ dnsNames: ["bänk.example"] }, "bänk.example"],
            [{ uris: ["urn:bänk:apic"] }, "urn:bänk:apic"],
        ] as const) {
            assert.throws(
                () =>
                    tlsProvider.certRequest({
                        privateKeyPem: rsa.state.privateKeyPem,
                        subject: { commonName: "x" },
                        ...names,
                    }),
                { message: `x509: "${shown}" cannot be encoded as an IA5String` },
            );
        }
    });

    it("writes a URI SAN only where Go's url package gives it back as it is, and signs no request whose URI host Go's x509 refuses", () => {
        const ca = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "CA" },
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 1,
        });
        /** The URI SANs of a certificate signed for a request with `uris`, as its DER holds them. */
        const sign = (uris: string[]) => {
            const certPem = tlsProvider.locallySignedCert({
                certRequestPem: tlsProvider.certRequest({
                    privateKeyPem: rsa.state.privateKeyPem,
                    subject: { commonName: "x" },
                    uris,
                }).state.certRequestPem,
                caCertPem: ca.state.certPem,
                caPrivateKeyPem: rsa.state.privateKeyPem,
                allowedUses: [],
                validityPeriodHours: 1,
            }).state.certPem as string;
            const san = extensions(certPem).find((e) => e.oid === "2.5.29.17")?.value ?? Buffer.alloc(0);
            return der.children(der.readNode(san)).map((name) => name.content.toString("ascii"));
        };
        const outcome = (uris: string[]) => {
            try {
                return sign(uris);
            } catch (error) {
                return (error as Error).message;
            }
        };
        const canonical = "urn:bank:apic-client:pay%7Bments%7D";
        const spiffe = "spiffe://cluster.local:15012/ns/a-b/sa/c_d~e!$&'()*+,;=:@";
        assert.deepStrictEqual(
            [
                outcome([canonical, spiffe]),
                outcome(["URN:Bank:apic-client:payments"]),
                outcome(["spiffe://bank/clients/{payments}"]),
                outcome(["https://apic.bank.example./clients/payments"]),
                outcome(["https://apic..example/clients/payments"]),
            ],
            [
                [canonical, spiffe],
                'URI "URN:Bank:apic-client:payments" has an upper-case scheme, which @pulumi/tls writes in lower case (Go\'s url package): the certificate would say "urn:Bank:apic-client:payments"; the stand-in writes only URIs that Go\'s url package gives back as they are',
                'URI "spiffe://bank/clients/{payments}" holds "{", "}", which @pulumi/tls escapes, splits off or refuses (Go\'s url package): the certificate would not say it as given; the stand-in writes only URIs that Go\'s url package gives back as they are',
                'x509: cannot parse URI "https://apic.bank.example./clients/payments": invalid domain',
                'x509: cannot parse URI "https://apic..example/clients/payments": invalid domain',
            ],
        );
    });

    it("adds AKI to locally-signed certs from the CA's SKI, and to self-signed only when asked", () => {
        const selfSigned = (setAuthorityKeyId: boolean) =>
            tlsProvider.selfSignedCert({
                privateKeyPem: rsa.state.privateKeyPem,
                subject: { commonName: "CA" },
                isCaCertificate: true,
                setAuthorityKeyId,
                allowedUses: ["cert_signing"],
                validityPeriodHours: 1,
            }).state.certPem as string;
        assert.ok(!extensions(selfSigned(false)).some((e) => e.oid === "2.5.29.35"));
        const withAki = extensions(selfSigned(true));
        const ski = withAki.find((e) => e.oid === "2.5.29.14")?.value;
        const aki = withAki.find((e) => e.oid === "2.5.29.35")?.value;
        assert.ok(ski && aki);
        assert.strictEqual(aki.subarray(4).toString("hex"), ski.subarray(2).toString("hex"));
        assert.throws(
            () =>
                tlsProvider.selfSignedCert({
                    privateKeyPem: rsa.state.privateKeyPem,
                    subject: { commonName: "leaf" },
                    setAuthorityKeyId: true,
                    allowedUses: [],
                    validityPeriodHours: 1,
                }),
            /Could not determine Authority Key Identifier/,
        );
    });

    it("writes a locally-signed certificate's SKI only with setSubjectKeyId or isCaCertificate: SHA-1 of the key's bits", async () => {
        const ca = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "CA" },
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 1,
        }).state.certPem;
        const ec = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const csr = tlsProvider.certRequest({ privateKeyPem: ec.state.privateKeyPem, subject: { commonName: "leaf" } });
        const signed = (flags: { setSubjectKeyId?: boolean; isCaCertificate?: boolean }) =>
            extensions(
                tlsProvider.locallySignedCert({
                    certRequestPem: csr.state.certRequestPem,
                    caCertPem: ca,
                    caPrivateKeyPem: rsa.state.privateKeyPem,
                    allowedUses: [],
                    validityPeriodHours: 1,
                    ...flags,
                }).state.certPem as string,
            ).find((e) => e.oid === "2.5.29.14")?.value;
        const jwk = crypto.createPublicKey(ec.state.privateKeyPem as string).export({ format: "jwk" });
        const point = Buffer.concat([
            Buffer.from([4]),
            Buffer.from(jwk.x ?? "", "base64url"),
            Buffer.from(jwk.y ?? "", "base64url"),
        ]);
        const expected = `0414${crypto.createHash("sha1").update(point).digest("hex")}`;
        assert.strictEqual(signed({}), undefined);
        assert.strictEqual(signed({ setSubjectKeyId: false }), undefined);
        assert.strictEqual(signed({ setSubjectKeyId: true })?.toString("hex"), expected);
        assert.strictEqual(signed({ isCaCertificate: true })?.toString("hex"), expected);
    });

    it("refuses what the provider refuses: a CA key that does not match, pathlen on a leaf, a subject-less CA", async () => {
        const other = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const ca = tlsProvider.selfSignedCert({
            privateKeyPem: rsa.state.privateKeyPem,
            subject: { commonName: "CA" },
            isCaCertificate: true,
            allowedUses: ["cert_signing"],
            validityPeriodHours: 1,
        });
        const csr = tlsProvider.certRequest({ privateKeyPem: other.state.privateKeyPem, subject: { commonName: "x" } });
        const sign = (extra: Record<string, unknown>) =>
            tlsProvider.locallySignedCert({
                certRequestPem: csr.state.certRequestPem,
                caCertPem: ca.state.certPem,
                caPrivateKeyPem: rsa.state.privateKeyPem,
                allowedUses: [],
                validityPeriodHours: 1,
                ...extra,
            });
        assert.throws(
            () => sign({ caPrivateKeyPem: other.state.privateKeyPem }),
            /provided PrivateKey doesn't match parent's PublicKey/,
        );
        assert.throws(() => sign({ maxPathLength: 1 }), /only CAs are allowed to specify MaxPathLen/);
        assert.throws(
            () =>
                tlsProvider.selfSignedCert({
                    privateKeyPem: rsa.state.privateKeyPem,
                    isCaCertificate: true,
                    allowedUses: [],
                    validityPeriodHours: 1,
                }),
            /Invalid Certificate Subject/,
        );
        assert.strictEqual(sign({}).state.caKeyAlgorithm, "RSA");
    });

    it("refuses CA material Go's crypto/x509 cannot read, with its words: a brainpool or Ed448 key, a key under another form's label, a negative serial", async () => {
        const brainpool = crypto.generateKeyPairSync("ec", { namedCurve: "brainpoolP384r1" }).privateKey;
        const ed448 = crypto.generateKeyPairSync("ed448").privateKey;
        const p256 = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
        const csr = tlsProvider.certRequest({ privateKeyPem: rsa.state.privateKeyPem, subject: { commonName: "x" } });
        const refusal = (ca: TestCa) => {
            try {
                tlsProvider.locallySignedCert({
                    certRequestPem: csr.state.certRequestPem,
                    caCertPem: ca.certPem,
                    caPrivateKeyPem: ca.keyPem,
                    allowedUses: [],
                    validityPeriodHours: 1,
                });
                return "accepted";
            } catch (error) {
                return (error as Error).message;
            }
        };
        const brainpoolRoot = opensslRoot("brainpool root", brainpool, "0x5A17");
        const p256Root = opensslRoot("P-256 root", p256, "0x5A17");
        // The provider picks Go's parser by the label; OpenSSL (so Node) reads PKCS#8 under any.
        const relabelled = (keyPem: string, label: string) => ({
            ...p256Root,
            keyPem: keyPem.replace(/(BEGIN|END) [A-Z ]*PRIVATE KEY/g, `$1 ${label}`),
        });
        const sec1 = p256.export({ type: "sec1", format: "pem" }) as string;
        const parse = "x509: failed to parse private key (use";
        assert.deepStrictEqual(
            [
                refusal(brainpoolRoot),
                refusal({ ...brainpoolRoot, keyPem: brainpool.export({ type: "sec1", format: "pem" }) as string }),
                refusal(opensslRoot("Ed448 root", ed448, "0x5A17")),
                refusal(relabelled(p256Root.keyPem, "EC PRIVATE KEY")),
                refusal(relabelled(p256Root.keyPem, "RSA PRIVATE KEY")),
                refusal(relabelled(sec1, "PRIVATE KEY")),
                refusal(opensslRoot("ADCS root", p256, "-0x5A17")),
                refusal(p256Root),
                refusal(relabelled(sec1, "EC PRIVATE KEY")),
            ],
            [
                "ca_private_key_pem: failed to parse private key given PEM preamble 'PRIVATE KEY': x509: failed to parse EC private key embedded in PKCS#8: x509: unknown elliptic curve",
                "ca_private_key_pem: failed to parse private key given PEM preamble 'EC PRIVATE KEY': x509: unknown elliptic curve",
                "ca_private_key_pem: failed to parse private key given PEM preamble 'PRIVATE KEY': x509: PKCS#8 wrapping contained private key with unknown algorithm: 1.3.101.113",
                `ca_private_key_pem: failed to parse private key given PEM preamble 'EC PRIVATE KEY': ${parse} ParsePKCS8PrivateKey instead for this key format)`,
                `ca_private_key_pem: failed to parse private key given PEM preamble 'RSA PRIVATE KEY': ${parse} ParsePKCS8PrivateKey instead for this key format)`,
                `ca_private_key_pem: failed to parse private key given PEM preamble 'PRIVATE KEY': ${parse} ParseECPrivateKey instead for this key format)`,
                "ca_cert_pem: failed to parse certificate: x509: negative serial number",
                "accepted",
                "accepted",
            ],
        );
    });

    it("marks a certificate ready for renewal at creation when early renewal covers its whole validity", () => {
        const make = (validityPeriodHours: number, earlyRenewalHours: number) =>
            tlsProvider.selfSignedCert({
                privateKeyPem: rsa.state.privateKeyPem,
                subject: { commonName: "x" },
                allowedUses: [],
                validityPeriodHours,
                earlyRenewalHours,
            }).state.readyForRenewal;
        assert.strictEqual(make(10, 0), false);
        assert.strictEqual(make(10, 10), true);
        assert.strictEqual(make(0, 0), true);
    });

    it("re-issues a certificate for another CA only when its CA PEMs in state were PEM alone; else updates them in place and keeps it", async () => {
        const [rootA, rootB] = [await mintRoot("root A"), await mintRoot("root B")];
        // What `openssl pkcs12 -nodes` writes before each block.
        const bagged = (pem: string) => `Bag Attributes\n    localKeyID: 01 02 03 \nsubject=CN = root\n${pem}`;
        const crlf = (pem: string) => pem.replace(/\n/g, "\r\n");
        /** A leaf signed with `ca` given as `given` makes it, then with rootB: whom the leaf is then signed by. */
        const issuerAfterSwitch = async (given: (pem: string) => string) => {
            const state = new Map();
            const sign = (ca: TestCa) =>
                runWithStandIn(
                    () => {
                        const key = new tls.PrivateKey("leaf-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
                        const csr = new tls.CertRequest("leaf-csr", {
                            privateKeyPem: key.privateKeyPem,
                            subject: { commonName: "leaf" },
                        });
                        return new tls.LocallySignedCert("leaf", {
                            certRequestPem: csr.certRequestPem,
                            caCertPem: given(ca.certPem),
                            caPrivateKeyPem: given(ca.keyPem),
                            allowedUses: ["digital_signature"],
                            validityPeriodHours: 1,
                        }).certPem;
                    },
                    { state },
                );
            await sign(rootA);
            const { engine, outputs } = await sign(rootB);
            const [cert] = engine.byType("tls:index/locallySignedCert:LocallySignedCert");
            assert.strictEqual(cert.state.caCertPem, given(rootB.certPem), "the inputs go into the state either way");
            return new crypto.X509Certificate(outputs).issuer;
        };
        assert.deepStrictEqual(
            [await issuerAfterSwitch((pem) => pem), await issuerAfterSwitch(bagged), await issuerAfterSwitch(crlf)],
            ["CN=root B", "CN=root A", "CN=root A"],
        );
    });

    it("uses a 128-bit random serial as the resource id and whole-second UTC validity", () => {
        const now = new Date("2026-03-01T12:00:00.750Z");
        const cert = tlsProvider.selfSignedCert(
            {
                privateKeyPem: rsa.state.privateKeyPem,
                subject: { commonName: "x" },
                allowedUses: [],
                validityPeriodHours: 24,
            },
            { now: () => now },
        );
        const parsed = new crypto.X509Certificate(cert.state.certPem as string);
        assert.strictEqual(BigInt("0x" + parsed.serialNumber).toString(), cert.id);
        assert.ok(BigInt(cert.id) < 2n ** 128n);
        assert.strictEqual(parsed.validFrom, "Mar  1 12:00:00 2026 GMT");
        assert.strictEqual(parsed.validTo, "Mar  2 12:00:00 2026 GMT");
        assert.strictEqual(cert.state.validityStartTime, "2026-03-01T12:00:00.75Z");
    });
});

describe("Engine stand-in: faithful to @pulumi/random (terraform-provider-random, as lib/engine/randomProvider.ts cites it)", function () {
    this.timeout(60_000);

    /** A program with resources of each emulated type, and their outputs. */
    const randoms = () => {
        const password = new random.RandomPassword("password", { length: 16, minSpecial: 4, overrideSpecial: "!#" });
        const text = new random.RandomString("text", { length: 40, special: false, minNumeric: 5, minUpper: 5 });
        // The provider draws each minimum from its class even when the class is off.
        const minimumsOnly = new random.RandomString("minimums-only", {
            length: 6,
            upper: false,
            lower: false,
            numeric: false,
            overrideSpecial: "é",
            minNumeric: 2,
        });
        const id = new random.RandomId("id", { byteLength: 8, prefix: "p-" });
        const die = new random.RandomInteger("die", { min: 1, max: 6 });
        const seeded = new random.RandomInteger("seeded", { min: 0, max: 1_000_000, seed: "payments" });
        return {
            password: password.result,
            text: text.result,
            minimumsOnly: minimumsOnly.result,
            id: { id: id.id, b64Url: id.b64Url, b64Std: id.b64Std, hex: id.hex, dec: id.dec },
            die: die.result,
            seeded: seeded.result,
            pet: new random.RandomPet("pet", {}).id,
            longPet: new random.RandomPet("long-pet", { length: 3, prefix: "App", separator: "_" }).id,
        };
    };

    it("makes RandomPassword, RandomString, RandomId, RandomInteger and RandomPet outputs as the provider does, kept by a state", async () => {
        const state = new Map();
        const { engine, outputs } = await runWithStandIn(randoms, { state });
        const idOf = (name: string) => engine.resources.find((r) => r.name === name)?.id;

        assert.match(outputs.password, /^[A-Za-z0-9!#]{16}$/);
        assert.ok(outputs.password.replace(/[^!#]/g, "").length >= 4, outputs.password);
        assert.strictEqual(idOf("password"), "none");
        assert.match(outputs.text, /^[A-Za-z0-9]{40}$/);
        assert.ok(outputs.text.replace(/[^0-9]/g, "").length >= 5, outputs.text);
        assert.ok(outputs.text.replace(/[^A-Z]/g, "").length >= 5, outputs.text);
        assert.strictEqual(idOf("text"), outputs.text);
        assert.deepStrictEqual([...outputs.minimumsOnly.replace(/[0-9]/g, "0")].sort(), ["0", "0", "é", "é", "é", "é"]);

        const bytes = Buffer.from(outputs.id.id, "base64url");
        assert.strictEqual(bytes.length, 8);
        assert.deepStrictEqual(outputs.id, {
            id: bytes.toString("base64url"),
            b64Url: `p-${outputs.id.id}`,
            b64Std: `p-${bytes.toString("base64")}`,
            hex: `p-${bytes.toString("hex")}`,
            dec: `p-${BigInt(`0x${bytes.toString("hex")}`)}`,
        });
        assert.strictEqual(idOf("id"), outputs.id.id);

        assert.ok(Number.isInteger(outputs.die) && outputs.die >= 1 && outputs.die <= 6, String(outputs.die));
        assert.strictEqual(idOf("die"), String(outputs.die));

        const [adjective, name] = outputs.pet.split("-");
        assert.ok(ADJECTIVES.includes(adjective) && NAMES.includes(name), outputs.pet);
        const [prefix, adverb, ...rest] = outputs.longPet.split("_");
        assert.deepStrictEqual(
            [prefix, ADVERBS.includes(adverb), ADJECTIVES.includes(rest[0]), NAMES.includes(rest[1])],
            ["App", true, true, true],
        );

        // As the engine's state: registered again with the same inputs, each keeps its outputs.
        assert.deepStrictEqual((await runWithStandIn(randoms, { state })).outputs, outputs);
        // Created anew, each is drawn again (but a seeded integer, which its seed decides).
        const anew = (await runWithStandIn(randoms, { state: new Map() })).outputs;
        assert.notStrictEqual(anew.password, outputs.password);
        assert.notStrictEqual(anew.text, outputs.text);
        assert.notStrictEqual(anew.id.id, outputs.id.id);
        assert.strictEqual(anew.seeded, outputs.seeded);
    });

    it("refuses what the provider refuses, naming the input, and names the random resources it emulates", async () => {
        const refusal = (make: () => unknown) =>
            runWithStandIn(make, { state: new Map() }).then(
                () => "accepted",
                (error: Error) => error.message,
            );
        assert.deepStrictEqual(
            [
                await refusal(() => new random.RandomString("short", { length: 3, minUpper: 2, minNumeric: 2 }).result),
                await refusal(
                    () => new random.RandomString("both", { length: 8, number: false, numeric: true }).result,
                ),
                await refusal(
                    () =>
                        new random.RandomPassword("none", {
                            length: 8,
                            upper: false,
                            lower: false,
                            numeric: false,
                            special: false,
                        }).result,
                ),
                await refusal(() => new random.RandomInteger("backwards", { min: 6, max: 1 }).result),
                await refusal(() => new random.RandomUuid("uuid").result),
            ],
            [
                'stand-in failed on random:index/randomString:RandomString "short": length must be a whole number >= 4; got 3',
                'stand-in failed on random:index/randomString:RandomString "both": number and numeric are given different values (false, true): give numeric only (number is its deprecated name)',
                'stand-in failed on random:index/randomPassword:RandomPassword "none": upper, lower, numeric and special are all false: at least one must be true',
                'stand-in failed on random:index/randomInteger:RandomInteger "backwards": min must be at most max; got min 6 and max 1',
                'stand-in failed on random:index/randomUuid:RandomUuid "uuid": the stand-in does not emulate random:index/randomUuid:RandomUuid; of @pulumi/random it emulates RandomPassword, RandomString, RandomId, RandomInteger, RandomPet',
            ],
        );
    });
});

describe("Engine stand-in: a run that hangs ends, a long one that makes progress does not", function () {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it("lets a run go on past timeoutMs while resources keep registering (a large render takes minutes)", async () => {
        const started = performance.now();
        const { outputs } = await runWithStandIn(
            async () => {
                const keys: tls.PrivateKey[] = [];
                for (let i = 0; i < 8; i++) {
                    keys.push(new tls.PrivateKey(`slow-${i}`, { algorithm: "ECDSA", ecdsaCurve: "P256" }));
                    await sleep(100);
                }
                return keys.length;
            },
            { timeoutMs: 400 },
        );
        assert.strictEqual(outputs, 8);
        assert.ok(performance.now() - started > 600, "the run outlasted timeoutMs");
    });

    it("ends a run whose program waits on what never comes, timeoutMs after its last registration", async () => {
        const started = performance.now();
        await assert.rejects(
            runWithStandIn(
                () => {
                    new tls.PrivateKey("before-the-hang", { algorithm: "ECDSA", ecdsaCurve: "P256" });
                    // An input that never resolves: the SDK waits for it, and never registers the certificate.
                    return new tls.SelfSignedCert("never", {
                        privateKeyPem: new Promise<string>(() => undefined),
                        subject: { commonName: "never" },
                        validityPeriodHours: 1,
                        allowedUses: ["digital_signature"],
                    }).certPem;
                },
                { timeoutMs: 300 },
            ),
            {
                message:
                    "stand-in run made no progress for 300 ms (no resource registering, none began or finished): " +
                    "a mock failed in a way the SDK swallowed, or the program waits on something that never comes " +
                    "(if it waits on slow work of its own, raise the run's timeoutMs)",
            },
        );
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 300 && elapsed < 2_000, `ended after ${Math.round(elapsed)} ms`);
    });

    it("rejects with a component's refusal as the component words it, without the stand-in's prefix (README)", async () => {
        await assert.rejects(
            runWithStandIn(() => {
                // Another language, or a cast, may send any text where TypeScript checks the union.
                new RootCa("typo", { subject: { commonName: "r" }, keyAlgorithm: "DSA" as "RSA" });
            }),
            { message: 'RootCa keyAlgorithm must be "RSA" or "ECDSA"; got "DSA"' },
        );
    });

    it("names a kind or a PEM label with the article it is said with (withArticle, of run options and PEM refusals alike)", () => {
        const names = [
            ...["object", "array", "Date", "Map", "RegExp", "Uint8Array", "Undefined", "HTMLElement"],
            ...[
                "CERTIFICATE",
                "X509 CRL",
                "RSA PRIVATE KEY",
                "EC PRIVATE KEY",
                "ENCRYPTED PRIVATE KEY",
                "OPENSSH PRIVATE KEY",
            ],
            ...[
                "SSH2 ENCRYPTED PRIVATE KEY",
                "SM2 PRIVATE KEY",
                "NEW CERTIFICATE REQUEST",
                "PKCS7",
                "DH PARAMETERS",
                "UUID",
            ],
        ];
        assert.deepStrictEqual(names.map(withArticle), [
            ...[
                "an object",
                "an array",
                "a Date",
                "a Map",
                "a RegExp",
                "a Uint8Array",
                "an Undefined",
                "an HTMLElement",
            ],
            ...[
                "a CERTIFICATE",
                "an X509 CRL",
                "an RSA PRIVATE KEY",
                "an EC PRIVATE KEY",
                "an ENCRYPTED PRIVATE KEY",
                "an OPENSSH PRIVATE KEY",
            ],
            ...[
                "an SSH2 ENCRYPTED PRIVATE KEY",
                "an SM2 PRIVATE KEY",
                "a NEW CERTIFICATE REQUEST",
                "a PKCS7",
                "a DH PARAMETERS",
                "a UUID",
            ],
        ]);
    });

    it("refuses a run option of the wrong kind, or one it does not take, before the run starts, naming the option, the value and what it takes (runWithStandIn and runProgram)", async () => {
        // Before: a timeoutMs of -1, 0 or "abc" failed the run as hung ("no progress for -1 ms")
        // while its program went on into the next run; now as a date failed with "this.options.now
        // is not a function", state {} with "state is not iterable"; stack "" and project 5 were taken.
        let ran = 0;
        const program = () => {
            ran++;
            return new tls.PrivateKey("never-made", { algorithm: "ECDSA", ecdsaCurve: "P256" }).publicKeyPem;
        };
        const timeoutMs = "the timeoutMs option must be a number of milliseconds above 0 (default 10000); got";
        const name = (option: string) =>
            `the ${option} option must be a Pulumi ${option} name: 1 to 100 letters, digits, "-", "_" or "."; got`;
        const cases: [unknown, string][] = [
            [{ timeoutMs: -1 }, `${timeoutMs} -1`],
            [{ timeoutMs: 0 }, `${timeoutMs} 0`],
            [{ timeoutMs: "abc" }, `${timeoutMs} "abc"`],
            [{ timeoutMs: NaN }, `${timeoutMs} NaN`],
            [
                { now: "2026-01-01" },
                'the now option must be a function returning the run\'s clock as a Date, e.g. () => new Date("2026-01-01T00:00:00Z"); got "2026-01-01"',
            ],
            [
                { state: {} },
                "the state option must be a Map (new Map()), given to each run that keeps the same resources; got an object",
            ],
            [
                { state: [] },
                "the state option must be a Map (new Map()), given to each run that keeps the same resources; got an array",
            ],
            // Said as it sounds: "a Uint8Array" (it was "an Uint8Array").
            [
                { state: new Uint8Array(1) },
                "the state option must be a Map (new Map()), given to each run that keeps the same resources; got a Uint8Array",
            ],
            [{ stack: "" }, `${name("stack")} ""`],
            [{ stack: "my stack" }, `${name("stack")} "my stack"`],
            [{ project: 5 }, `${name("project")} 5`],
            [{ stackTraces: "yes" }, 'the stackTraces option must be true or false; got "yes"'],
            [{ keyFile: "" }, 'the keyFile option must be the path of a JSON file of test-only keys; got ""'],
            [{ warn: true }, "the warn option must be a function taking each warning's text; got true"],
            // A misspelt option was ignored: the run went on without it.
            [
                { stackTrace: true },
                'the run options have no "stackTrace" (did you mean stackTraces?); the options are project, stack, config, timeoutMs, stackTraces, now, state, keyFile, warn',
            ],
            [
                { timeout: 5_000 },
                'the run options have no "timeout" (did you mean timeoutMs?); the options are project, stack, config, timeoutMs, stackTraces, now, state, keyFile, warn',
            ],
            [
                { force: true },
                'the run options have no "force"; the options are project, stack, config, timeoutMs, stackTraces, now, state, keyFile, warn',
            ],
            [5, "the run options must be an object ({ state, timeoutMs, ... }), or left out; got 5"],
            [null, "the run options must be an object ({ state, timeoutMs, ... }), or left out; got null"],
        ];
        for (const [options, message] of cases) {
            await assert.rejects(runWithStandIn(program, options as RunOptions), { message });
            await assert.rejects(runProgram(__filename, options as RunOptions), { message });
        }
        assert.strictEqual(ran, 0);
        // A run after them runs, and fails as its own program makes it.
        await assert.rejects(
            runWithStandIn(() => {
                throw new Error("the program's own failure");
            }),
            { message: "the program's own failure" },
        );
        const { outputs } = await runWithStandIn(() => "ran", {
            timeoutMs: 1_000,
            stack: "prod.eu-1",
            project: "payments_pki",
        });
        assert.strictEqual(outputs, "ran");
    });

    it("counts no time a key is being generated as idle: an RSA 4096 key takes seconds on a slow machine", async () => {
        const started = performance.now();
        const { outputs } = await runWithStandIn(
            () => new tls.PrivateKey("slow-rsa", { algorithm: "RSA", rsaBits: 4096 }).publicKeyPem,
            // Far below any RSA 4096 key's generation: a lucky one was seen to take 105 ms (1.6 s on average).
            { timeoutMs: 30 },
        );
        assert.match(outputs, /^-----BEGIN PUBLIC KEY-----/);
        const elapsed = performance.now() - started;
        assert.ok(
            elapsed > 60,
            `the key took ${Math.round(elapsed)} ms, no longer than timeoutMs: this test proves nothing`,
        );
    });

    it("ends a hung run after 10 s by default, within the README's test timeout (60 s), and holds up no later run or stack trace", async () => {
        const stackTraceLimit = Error.stackTraceLimit;
        const started = performance.now();
        // As a program whose apply awaits what never comes: every registration done, the output never resolves.
        const hung = runWithStandIn(() =>
            new tls.PrivateKey("hung", { algorithm: "ECDSA", ecdsaCurve: "P256" }).publicKeyPem.apply(async (pem) => {
                await new Promise(() => undefined);
                return pem;
            }),
        );
        const next = runWithStandIn(() => new tls.PrivateKey("after-the-hang", { algorithm: "ED25519" }).publicKeyPem);
        await assert.rejects(hung, {
            message:
                "stand-in run made no progress for 10000 ms (no resource registering, none began or finished): " +
                "a mock failed in a way the SDK swallowed, or the program waits on something that never comes " +
                "(if it waits on slow work of its own, raise the run's timeoutMs)",
        });
        const elapsed = performance.now() - started;
        // The idle clock counts a late tick as one tick: on a loaded machine 10 s of idle takes longer.
        assert.ok(elapsed >= 10_000 && elapsed < 20_000, `ended after ${Math.round(elapsed)} ms`);
        assert.match((await next).outputs, /^-----BEGIN PUBLIC KEY-----/);
        assert.ok(performance.now() - started < 13_000, "the next run took its turn at once");
        assert.strictEqual(Error.stackTraceLimit, stackTraceLimit);
    });
});

describe("Engine stand-in: what a program reads (Resource.get, a StackReference) is not its own", function () {
    it("keeps the id a get asks for, and marks the object read, which is no manifest the program applies", async () => {
        const { engine } = await runWithStandIn(() => {
            k8s.core.v1.Secret.get("old-cacerts", "istio-system/cacerts");
            new k8s.core.v1.Secret("cacerts", { metadata: { name: "cacerts", namespace: "istio-system" } });
            // Imported: adopted by the stack, which manages it from then on.
            new k8s.core.v1.Namespace(
                "istio-system",
                { metadata: { name: "istio-system" } },
                { import: "istio-system" },
            );
        });
        const recorded = (name: string) => engine.resources.find((r) => r.name === name);
        assert.deepStrictEqual(
            ["old-cacerts", "cacerts", "istio-system"].map((name) => [recorded(name)?.id, recorded(name)?.read]),
            [
                ["istio-system/cacerts", true],
                ["istio-system/cacerts", undefined],
                ["istio-system", undefined],
            ],
        );
        assert.deepStrictEqual(
            kubernetesManifests(engine)
                .map((m) => m.resourceName)
                .sort(),
            ["cacerts", "istio-system"],
        );
    });

    it("leaves a certificate the program reads (SelfSignedCert.get) out of certificates(engine), the ones it issued", async () => {
        const { engine } = await runWithStandIn(() => {
            const key = new tls.PrivateKey("root-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            new tls.SelfSignedCert("root", {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: "root" },
                validityPeriodHours: 24,
                allowedUses: ["cert_signing"],
                isCaCertificate: true,
            });
            // Read: the stand-in has no certificate for it, only what the program passed.
            tls.SelfSignedCert.get("old-root", "old-root-id");
        });
        assert.deepStrictEqual(engine.resources.map((r) => [r.name, r.read]).sort(), [
            ["old-root", true],
            ["root", undefined],
            ["root-key", undefined],
        ]);
        assert.deepStrictEqual(
            certificates(engine).map((c) => [c.resourceName, c.x509.subject]),
            [["root", "CN=root"]],
        );
    });

    it("gives a StackReference the state's outputs for the run's own stack alone, and refuses another as pulumi does", async () => {
        const state = new Map();
        await runWithStandIn(() => ({ deploymentRecord: "the payments record" }), { state, stack: "payments" });
        const reference = (name: string) => () => new pulumi.StackReference(name).getOutput("deploymentRecord");
        for (const name of ["payments", "organization/payments", "organization/apic-istio-pki/payments"]) {
            const { outputs } = await runWithStandIn(reference(name), { state, stack: "payments" });
            assert.strictEqual(outputs, "the payments record", name);
        }
        for (const [name, stack] of [
            ["bank/network/prod", "other"],
            ["organization/network/payments", "payments"],
            ["payments", "other"],
        ]) {
            await assert.rejects(runWithStandIn(reference(name), { state, stack }), {
                message: `stand-in failed on pulumi:pulumi:StackReference "${name}": unknown stack "${name}": the stand-in knows the run's own stack alone (organization/apic-istio-pki/${stack}; options project and stack name it)`,
            });
        }
    });
});

/** Whether `target` can be reached from `roots` through properties, array items, Map and Set entries (no closures). */
function reachable(target: object, roots: unknown[]): boolean {
    const seen = new Set<object>();
    const queue = roots.filter((root): root is object => typeof root === "object" && root !== null);
    while (queue.length > 0) {
        const next = queue.pop()!;
        if (next === target) return true;
        if (seen.has(next)) continue;
        seen.add(next);
        const values: unknown[] = [];
        if (next instanceof Map) for (const [key, value] of next) values.push(key, value);
        if (next instanceof Set) values.push(...next);
        for (const key of Reflect.ownKeys(next)) {
            const descriptor = Object.getOwnPropertyDescriptor(next, key);
            if (descriptor !== undefined && "value" in descriptor) values.push(descriptor.value);
        }
        for (const value of values) if (typeof value === "object" && value !== null) queue.push(value);
    }
    return false;
}

describe("Engine stand-in: a run leaves the SDK as it found it (a test file's own setMocks, in the same process)", function () {
    this.timeout(60_000);
    // A test file of the consumer's, written as Pulumi's docs show, run by mocha after a harness test.
    const mocks: pulumi.runtime.Mocks = {
        newResource: (args) => ({ id: `${args.name}-id`, state: { ...args.inputs } }),
        call: (args) => args.inputs,
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdkState = require("@pulumi/pulumi/runtime/state") as { getStore(): object };
    const sdkMonitor = () => (pulumi.runtime as unknown as { getMonitor(): { mocks?: unknown } }).getMonitor();
    const value = <T>(output: pulumi.Output<T>) => new Promise<T>((ok) => output.apply(ok));

    /** Registers a namespace as the consumer's test does, under the consumer's mocks. */
    async function consumerNamespace(name: string): Promise<{ id: string; urn: string }> {
        const namespace = new k8s.core.v1.Namespace(name, {});
        return { id: await value(namespace.id), urn: await value(namespace.urn) };
    }

    it("puts back the mocks, project, stack and config set before a run, and keeps none of the run's engine, its keys, in the SDK", async () => {
        await pulumi.runtime.setMocks(mocks, "myproj", "mystack");
        pulumi.runtime.setAllConfig({ "myproj:region": "eu-west" }, []);
        const { engine, outputs } = await testing.runWithStandIn(
            () => {
                assert.strictEqual(new pulumi.Config("payments-pki").get("organization"), "Example Bank");
                return new tls.PrivateKey("run-key", { algorithm: "ECDSA", ecdsaCurve: "P256" }).privateKeyPem;
            },
            { project: "payments-pki", config: { organization: "Example Bank" } },
        );
        assert.match(outputs, /^-----BEGIN EC PRIVATE KEY-----\n/);
        assert.deepStrictEqual([pulumi.getProject(), pulumi.getStack()], ["myproj", "mystack"]);
        assert.deepStrictEqual(
            [new pulumi.Config("myproj").get("region"), new pulumi.Config("payments-pki").get("organization")],
            ["eu-west", undefined],
        );
        assert.strictEqual(sdkMonitor().mocks, mocks);
        assert.deepStrictEqual(await consumerNamespace("ns"), {
            id: "ns-id",
            urn: "urn:pulumi:mystack::myproj::kubernetes:core/v1:Namespace::ns",
        });
        assert.strictEqual(
            reachable(engine, [sdkState.getStore(), (globalThis as { stackResource?: unknown }).stackResource]),
            false,
        );
    });

    it("puts them back after a run that fails too", async () => {
        await pulumi.runtime.setMocks(mocks, "myproj", "mystack");
        await assert.rejects(
            testing.runWithStandIn(
                () => {
                    new tls.PrivateKey("failed-run-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
                    throw new Error("the program's own failure");
                },
                { project: "payments-pki", stack: "prod" },
            ),
            { message: "the program's own failure" },
        );
        assert.deepStrictEqual([pulumi.getProject(), pulumi.getStack()], ["myproj", "mystack"]);
        assert.strictEqual(sdkMonitor().mocks, mocks);
        assert.deepStrictEqual(await consumerNamespace("ns-after-failure"), {
            id: "ns-after-failure-id",
            urn: "urn:pulumi:mystack::myproj::kubernetes:core/v1:Namespace::ns-after-failure",
        });
    });
});
