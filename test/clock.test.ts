/**
 * Clock skew between the machine that signs or picks a CRL (the offline ceremony, the one running
 * pulumi up) and the nodes whose Envoy loads it. BoringSSL checks every CRL's times at the
 * node's own clock, with no allowance (crypto/x509/x509_vfy.cc check_crl_time): a CRL dated a
 * second after the node's clock refuses every peer whose chain it covers.
 */
import * as assert from "assert";
import { createRoot, crlSeriesWindows, signCrlSeries } from "../lib/pki/ceremony";
import { CLOCK_SKEW_MS, signCrl } from "../lib/pki/crl";
import { pickSeriesCrl, seriesCrlDue, seriesCrlRecord } from "../lib/pki/crlSeries";
import { decide, summary } from "./consumers";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import { mintLeaf } from "./helpers";

const T = new Date("2027-01-04T00:00:00Z");
const at = (seconds: number): Date => new Date(T.getTime() + seconds * 1000);

describe("Clock skew: a node whose clock is a little behind the one that picked the CRL", () => {
    // The offline root of a client CA, its daily series from a day before T (CRL 1 starts at T),
    // and an APIC client it signed an hour before.
    const root = createRoot(
        {
            commonName: "Skew Root",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays: 30,
            keyAlgorithm: "ECDSA",
        },
        at(-86_400),
    );
    const windows = crlSeriesWindows({
        rootCertPem: root.certPem,
        revoked: [],
        ...{ from: at(-86_400), periodDays: 1, periods: 3, firstNumber: 1, now: at(-86_400) },
    });
    const series = signCrlSeries({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, revoked: [], windows });

    it("refuses every client once the published CRL starts after its clock", async () => {
        const client = await mintLeaf(
            { certPem: root.certPem, keyPem: root.keyPem },
            { commonName: "apic", allowedUses: ["digital_signature", "client_auth"] },
            at(-3600),
        );
        const check = (crl: string, node: Date) => ({
            caCrt: root.certPem,
            caCrl: crl,
            chain: client.cert,
            purpose: "sslclient" as const,
            at: node,
        });
        const verdicts = decide([
            ["CRL 1 (from T), node at T - 1 s", check(series[1].pem, at(-1))],
            ["CRL 0 (from T - 1 day), node at T - 1 s", check(series[0].pem, at(-1))],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                [
                    "CRL 1 (from T), node at T - 1 s",
                    { boringssl: "CRL is not yet valid", openssl: "CRL is not yet valid" },
                ],
                ["CRL 0 (from T - 1 day), node at T - 1 s", { boringssl: "ok", openssl: "ok" }],
            ],
        );
    });

    it("picks, a second into a period, the CRL of the period before: the new one would refuse every client on a node a second behind", () => {
        const picked = pickSeriesCrl({
            key: "pki:offlineRoots.clientRoot.crls",
            series: series.map((c) => c.pem),
            rootCertPem: root.certPem,
            now: at(1),
            required: [],
            why: "a test",
            command: "apic-istio-pki ceremony crl ...",
        });
        assert.ok("crl" in picked);
        assert.strictEqual(picked.crl.thisUpdate.toISOString(), at(-86_400).toISOString());
        // The lifecycle asks for the new one only once the deployment would take it.
        const due = (seconds: number) =>
            seriesCrlDue({
                series: series.map((c) => c.pem),
                rootCertPem: root.certPem,
                published: seriesCrlRecord(series[0].pem),
                now: at(seconds),
            })?.thisUpdate.toISOString();
        assert.deepStrictEqual([due(1), due(CLOCK_SKEW_MS / 1000)], [undefined, T.toISOString()]);
    });

    it("signs a CA's periodic CRL, a second into a period, for the period before, which a node a second behind accepts", async () => {
        const ca = { certPem: TEST_ONLY_CA_CERT_PEM, keyPem: TEST_ONLY_CA_KEY_PEM }; // the stack signs its CRLs with RSA keys
        const client = await mintLeaf(
            ca,
            { commonName: "apic", allowedUses: ["digital_signature", "client_auth"] },
            at(-3600),
        );
        const signed = (now: Date) =>
            signCrl({
                caCertPem: ca.certPem,
                caKeyPem: ca.keyPem,
                revoked: [],
                renewal: "period",
                now,
                periodDays: 1,
                floor: 0,
            });
        const crl = signed(at(1));
        assert.strictEqual(crl.record.thisUpdate, at(-86_400).toISOString());
        assert.strictEqual(signed(at(CLOCK_SKEW_MS / 1000)).record.thisUpdate, T.toISOString());
        const [[, verdict]] = decide([
            [
                "node at T - 1 s",
                { caCrt: ca.certPem, caCrl: crl.pem, chain: client.cert, purpose: "sslclient", at: at(-1) },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), { boringssl: "ok", openssl: "ok" });
    });
});
