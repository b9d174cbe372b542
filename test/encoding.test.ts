import * as assert from "assert";
import * as crypto from "crypto";
import { buildCrl, crlWindow, parseCrl, RevokedEntry } from "../lib/pki/crl";
import { buildPkcs12, Pkcs12Input } from "../lib/pki/pkcs12";
import { openssl } from "./helpers";
import {
    TEST_ONLY_CA_CERT_PEM,
    TEST_ONLY_CA_KEY_PEM,
    TEST_ONLY_LEAF_CERT_PEM,
    TEST_ONLY_LEAF_KEY_PEM,
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

/** Modern profile with a short friendly name; legacy with a long one (its bag attributes sort the other way). */
const PKCS12_INPUTS: Record<"modern" | "legacy", Pkcs12Input> = {
    modern: {
        keyPem: TEST_ONLY_LEAF_KEY_PEM,
        certPems: [TEST_ONLY_LEAF_CERT_PEM, TEST_ONLY_CA_CERT_PEM],
        password: "test-only-password",
        friendlyName: "ob",
        profile: "modern",
    },
    legacy: {
        keyPem: TEST_ONLY_LEAF_KEY_PEM,
        certPems: [TEST_ONLY_LEAF_CERT_PEM, TEST_ONLY_CA_CERT_PEM],
        password: "test-only-password",
        friendlyName: "ob-productsv2-payments",
        profile: "legacy",
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
        const pem = buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, REVOKED, window);
        assert.strictEqual(sha256(pem), "fdc8918c21aa751e6ead6f078d8f999c992a3cd5399d5e8c581e0ddadb1eea98");
        assert.deepStrictEqual(parseCrl(pem), {
            issuerCommonName: "Test-only CA",
            thisUpdate: window.thisUpdate,
            nextUpdate: window.nextUpdate,
            revokedSerials: ["0A1B", "0ABC", "FF00112233445566778899AABBCCDDEE"],
        });
        const text = openssl(["crl", "-noout", "-text"], pem).output;
        assert.match(text, /Next Update: Jan {2}2 00:00:00 2050 GMT/);
        assert.match(
            text,
            /Serial Number: 0ABC\n\s+Revocation Date: Feb {2}1 00:00:00 2026 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: ?\n\s+Key Compromise/,
        );
    });

    it("writes the empty CRL pinned for a fixed CA, key and publication period", () => {
        const pem = buildCrl(
            TEST_ONLY_CA_CERT_PEM,
            TEST_ONLY_CA_KEY_PEM,
            [],
            crlWindow(new Date("2026-11-23T12:00:00Z"), 7),
        );
        assert.strictEqual(sha256(pem), "b987cc78a123efd50c3170d01dc01ecb37ada0dbf32f450e8a66a5cb74969b52");
    });

    for (const profile of ["modern", "legacy"] as const) {
        it(`writes the PKCS#12 pinned for a fixed key, chain, password and friendly name (${profile} profile)`, () => {
            assert.strictEqual(sha256(buildPkcs12(PKCS12_INPUTS[profile])), PKCS12_SHA256[profile]);
        });
    }
});
