import * as assert from "assert";
import * as crypto from "crypto";
import { SubjectKeyIdentifierExtension, X509Certificate } from "@peculiar/x509";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { createRoot, signIntermediate } from "../lib/pki/ceremony";
import { buildCrl, crlDigest, CrlRecord, parseCrl, RevokedEntry, signCrl } from "../lib/pki/crl";
import { buildPkcs12, Pkcs12Input } from "../lib/pki/pkcs12";
import { openssl, opensslText } from "./helpers";
import {
    TEST_ONLY_CA_CERT_PEM,
    TEST_ONLY_CA_KEY_PEM,
    TEST_ONLY_LEAF_CERT_PEM,
    TEST_ONLY_LEAF_KEY_PEM,
    TEST_ONLY_SUB_CA_KEY_PEM,
} from "./fixtures/testOnlyPki";

const sha256 = (data: string | Buffer): string => crypto.createHash("sha256").update(data).digest("hex");

/** Unsorted, an odd-length serial, one with the high bit set, a revocation time with milliseconds. */
const REVOKED: RevokedEntry[] = [
    {
        serialHex: "FF00112233445566778899AABBCCDDEE",
        revokedAt: new Date("2026-03-01T12:34:56.789Z"),
        reason: "superseded",
    },
    { serialHex: "ABC", revokedAt: new Date("2026-02-01T00:00:00Z"), reason: "keyCompromise" },
    { serialHex: "0A1B", revokedAt: new Date("2026-01-15T08:00:00Z"), reason: "cessationOfOperation" },
];

/**
 * Modern profile with a short friendly name; legacy with a long one (its bag attributes sort the
 * other way). 2048 iterations, the count of the stand-in-era encoder these bytes were pinned with.
 */
const PKCS12_INPUTS: Record<"modern" | "legacy", Pkcs12Input> = {
    modern: {
        keyPem: TEST_ONLY_LEAF_KEY_PEM,
        certPems: [TEST_ONLY_LEAF_CERT_PEM, TEST_ONLY_CA_CERT_PEM],
        password: "test-only-password",
        friendlyName: "ob",
        profile: "modern",
        iterations: 2048,
    },
    legacy: {
        keyPem: TEST_ONLY_LEAF_KEY_PEM,
        certPems: [TEST_ONLY_LEAF_CERT_PEM, TEST_ONLY_CA_CERT_PEM],
        password: "test-only-password",
        friendlyName: "ob-productsv2-payments",
        profile: "legacy",
        iterations: 2048,
    },
};

const PKCS12_SHA256 = {
    modern: "d700e5dd01ff304576d3c46a30f8b6027f5a620ecc968a81547ab8751ea86389",
    legacy: "b0a77ea5768ba2fbf62a4bbb874089403ff7a637d1430223bf02d29326d54db3",
};

// Pinned with the hand-written DER encoder these modules used before they moved onto
// @peculiar/asn1-*: the move must not change one byte for the same inputs.
describe("Production encoders: the same bytes for the same inputs", () => {
    it("writes the CRL pinned for a fixed CA, key, entries and a window across 2050 (UTCTime to GeneralizedTime)", () => {
        const window = {
            thisUpdate: new Date("2049-12-31T00:00:00Z"),
            nextUpdate: new Date("2050-01-02T00:00:00Z"),
            number: 29219,
        };
        const pem = buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, REVOKED, window, { now: window.thisUpdate });
        assert.strictEqual(sha256(pem), "fdc8918c21aa751e6ead6f078d8f999c992a3cd5399d5e8c581e0ddadb1eea98");
        assert.deepStrictEqual(parseCrl(pem), {
            issuerName: Buffer.from(new X509Certificate(TEST_ONLY_CA_CERT_PEM).subjectName.toArrayBuffer()),
            authorityKeyId: new X509Certificate(TEST_ONLY_CA_CERT_PEM).getExtension(SubjectKeyIdentifierExtension)
                ?.keyId,
            issuerCommonName: "Test-only CA",
            issuer: "O=Example Bank, CN=Test-only CA",
            thisUpdate: window.thisUpdate,
            nextUpdate: window.nextUpdate,
            number: 29219,
            numberText: "29219",
            revokedSerials: ["0A1B", "0ABC", "FF00112233445566778899AABBCCDDEE"],
        });
        const text = openssl(["crl", "-noout", "-text"], pem).output;
        assert.match(text, /Next Update: Jan {2}2 00:00:00 2050 GMT/);
        assert.match(
            text,
            /Serial Number: 0ABC\n\s+Revocation Date: Feb {2}1 00:00:00 2026 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: ?\n\s+Key Compromise/,
        );
    });

    it("leaves the reasonCode out of an unspecified revocation (RFC 5280 5.3.1), and gives a CRL signed with it before the next number", () => {
        const revoked: RevokedEntry[] = [
            { serialHex: "0A", revokedAt: new Date("2026-02-01T00:00:00Z"), reason: "unspecified" },
            { serialHex: "0B", revokedAt: new Date("2026-02-02T00:00:00Z"), reason: "keyCompromise" },
        ];
        const window = {
            thisUpdate: new Date("2026-11-19T00:00:00Z"),
            nextUpdate: new Date("2026-12-17T00:00:00Z"),
            number: 2968,
        };
        const text = openssl(
            ["crl", "-noout", "-text"],
            buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, revoked, window),
        ).output;
        assert.strictEqual(
            /Revoked Certificates:\n[\s\S]*?(?=\n\s+Signature Algorithm)/.exec(text)?.[0].replace(/ +\n/g, "\n"),
            [
                "Revoked Certificates:",
                "    Serial Number: 0A",
                "        Revocation Date: Feb  1 00:00:00 2026 GMT",
                "    Serial Number: 0B",
                "        Revocation Date: Feb  2 00:00:00 2026 GMT",
                "        CRL entry extensions:",
                "            X509v3 CRL Reason Code:",
                "                Key Compromise",
            ].join("\n"),
        );
        // A stack's record of this CRL as signed before cff312c (reasonCode 0 on 0A): its digest then.
        // Re-signed without the extension, its bytes change, so its number must too (RFC 5280 5.2.3).
        const previous: CrlRecord = {
            number: 2968,
            digest: "6585bef26de10f08a35a74f0a8f43340ae1e097fa692ba4ec81a876b68a11278",
            thisUpdate: window.thisUpdate.toISOString(),
            nextUpdate: window.nextUpdate.toISOString(),
            renewal: "period",
            published: true,
        };
        // 2026-11-23 with 7-day periods: the window above.
        const sign = (before: CrlRecord) =>
            signCrl({
                ...{ caCertPem: TEST_ONLY_CA_CERT_PEM, caKeyPem: TEST_ONLY_CA_KEY_PEM, revoked, renewal: "period" },
                ...{ now: new Date("2026-11-23T00:00:00Z"), periodDays: 7, previous: before, floor: 0 },
            });
        const resigned = sign(previous);
        const again = sign(resigned.record);
        assert.deepStrictEqual(
            [resigned.record.number, parseCrl(resigned.pem).number, resigned.record.thisUpdate],
            [2969, 2969, "2026-11-19T00:00:00.000Z"],
        );
        assert.deepStrictEqual(
            [again.record.number, again.pem],
            [2969, resigned.pem],
            "unchanged: same number, same bytes",
        );
        const named = revoked.map((r) => ({ ...r, reason: "keyCompromise" }));
        assert.notStrictEqual(
            crlDigest(TEST_ONLY_CA_CERT_PEM, window, named),
            crlDigest(TEST_ONLY_CA_CERT_PEM, window, revoked),
        );
    });

    it("writes the empty CRL pinned for a fixed CA, key and publication window", () => {
        // The window crlWindow gave for 2026-11-23 and 7-day periods before CRLs lasted four periods.
        const pem = buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, [], {
            thisUpdate: new Date("2026-11-19T00:00:00Z"),
            nextUpdate: new Date("2026-12-03T00:00:00Z"),
            number: 2968,
        });
        assert.strictEqual(sha256(pem), "b987cc78a123efd50c3170d01dc01ecb37ada0dbf32f450e8a66a5cb74969b52");
    });

    for (const profile of ["modern", "legacy"] as const) {
        it(`writes the PKCS#12 pinned for a fixed key, chain, password and friendly name (${profile} profile)`, () => {
            assert.strictEqual(sha256(buildPkcs12(PKCS12_INPUTS[profile])), PKCS12_SHA256[profile]);
        });
    }

    it("signs the ceremony's root and intermediates pinned for a fixed key, serial and time, with the same extensions", () => {
        const now = new Date("2026-11-23T10:11:12.345Z");
        const root = createRoot(
            {
                commonName: "Example Bank Offline Root",
                organization: "Example Bank & Co",
                validityDays: 7300,
                keyAlgorithm: "RSA",
            },
            now,
            crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM),
            Buffer.alloc(16, 0x9c),
        );
        assert.strictEqual(sha256(root.certPem), "a604bb3f5913cdfd35444c86ba121140881523b146b9d58b0676ec4917531fad");
        const csr = (privateKeyPem: string, subject: Record<string, string>): string =>
            tlsProvider.certRequest({ privateKeyPem, subject }).state.certRequestPem as string;
        const sign = (csrPem: string): string =>
            signIntermediate(
                { rootKeyPem: root.keyPem, rootCertPem: root.certPem, csrPem, validityDays: 1095 },
                now,
                Buffer.alloc(16, 0x5a),
            );
        const ecIntermediate = sign(
            csr(TEST_ONLY_LEAF_KEY_PEM, { commonName: "example gateway-server CA", organization: "Example Bank" }),
        );
        assert.strictEqual(sha256(ecIntermediate), "0fcac96900c6c77258ccd7be74db3eca9bab670ea8fc67e586378bbe94887483");
        const rsaIntermediate = sign(csr(TEST_ONLY_SUB_CA_KEY_PEM, { commonName: "example mesh CA *" }));
        assert.strictEqual(sha256(rsaIntermediate), "353dffa6790ce4d33d6d3a109b9d5a2ee8e93c2283b38a178c296b142fb3fa72");

        const rootKeyId = /Subject Key Identifier: ?\n\s+([0-9A-F:]+)\n/.exec(opensslText(root.certPem))?.[1];
        assert.ok(rootKeyId);
        const extensions = (pathLength: number, keyId: string) =>
            new RegExp(
                "X509v3 extensions:\\n\\s+X509v3 Key Usage: critical\\n\\s+Certificate Sign, CRL Sign\\n" +
                    `\\s+X509v3 Basic Constraints: critical\\n\\s+CA:TRUE, pathlen:${pathLength}\\n` +
                    `\\s+X509v3 Subject Key Identifier: ?\\n\\s+${keyId}\\n` +
                    `\\s+X509v3 Authority Key Identifier: ?\\n\\s+${rootKeyId}\\n\\s+Signature Algorithm`,
            );
        assert.match(opensslText(root.certPem), extensions(1, rootKeyId));
        assert.match(opensslText(ecIntermediate), extensions(0, "[0-9A-F:]{59}"));
        assert.match(opensslText(rsaIntermediate), extensions(0, "[0-9A-F:]{59}"));
        assert.match(opensslText(ecIntermediate), /Issuer: O = Example Bank & Co, CN = Example Bank Offline Root\n/);
    });
});
