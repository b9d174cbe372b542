/**
 * Clock skew between the machine that signs or picks a CRL (the offline ceremony, the one running
 * pulumi up) and the nodes whose Envoy loads it. BoringSSL checks every CRL's times at the
 * node's own clock, with no allowance (crypto/x509/x509_vfy.cc check_crl_time): a CRL dated a
 * second after the node's clock refuses every peer whose chain it covers.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { atPlanClock } from "../lib/components/checkClock";
import { CustomerFacingTls } from "../lib/components/customerFacingTls";
import { MeshPluginCa } from "../lib/components/meshPluginCa";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { createRoot, crlSeriesWindows, signCrlSeries, signIntermediate } from "../lib/pki/ceremony";
import { CLOCK_SKEW_MS, parseCrl, RevokedEntry, signCrl } from "../lib/pki/crl";
import { pickSeriesCrl, seriesCrlDue, seriesCrlRecord } from "../lib/pki/crlSeries";
import { pemBlocks } from "../lib/pki/pem";
import { crlBundleProblem, trustBundleProblem, unexpiredCertificates } from "../lib/pki/trustBundle";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf } from "../lib/render/render";
import { buildPki } from "../lib/stack";
import { apicSends, decide, gatewayCheck, summary } from "./consumers";
import { seededState } from "./engineKeys";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import {
    crlGateway,
    emptyCrlOf,
    justIssued,
    loadStackFile,
    mintLeaf,
    mintRoot,
    mintSubCa,
    newStackState,
    OPTION_FILES,
    planProblems,
    refusalText,
    renderNext,
    sharedState,
} from "./helpers";

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
    /**
     * A series of the root's one-day CRLs signed at `from` (the ceremony's default --from is its
     * clock): `periods` CRLs numbered from `firstNumber`, revoking `revoked`.
     */
    const seriesSignedAt = (from: Date, revoked: RevokedEntry[], periods: number, firstNumber: number) =>
        signCrlSeries({
            rootKeyPem: root.keyPem,
            rootCertPem: root.certPem,
            revoked,
            windows: crlSeriesWindows({
                rootCertPem: root.certPem,
                revoked,
                ...{ from, periodDays: 1, periods, firstNumber, now: from },
            }),
        });
    const series = seriesSignedAt(at(-86_400), [], 3, 1);
    /** The CRL of `pems` the stack takes for pki:offlineRoots.clientRoot.crls at `now`, or why none. */
    const pickAt = (pems: string[], now: Date, required: string[] = []) =>
        pickSeriesCrl({
            key: "pki:offlineRoots.clientRoot.crls",
            series: pems,
            rootCertPem: root.certPem,
            now,
            required,
            why: "a test",
            command: "npx apic-istio-pki ceremony crl ...",
        });

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
        const picked = pickAt(
            series.map((c) => c.pem),
            at(1),
        );
        assert.ok("crl" in picked);
        assert.strictEqual(picked.crl.thisUpdate.toISOString(), at(-86_400).toISOString());
        // The lifecycle asks for the new one only once the deployment would take it.
        const due = (seconds: number) =>
            seriesCrlDue({
                series: series.map((c) => c.pem),
                rootCertPem: root.certPem,
                published: seriesCrlRecord(series[0].pem, root.certPem),
                now: at(seconds),
                required: [],
            })?.thisUpdate.toISOString();
        assert.deepStrictEqual([due(1), due(CLOCK_SKEW_MS / 1000)], [undefined, T.toISOString()]);
    });

    it("takes no CRL of a series less than CLOCK_SKEW_MS old, not even the only one valid or the only one revoking a serial, and says from when it does", async () => {
        // A new series from T (the ceremony's default --from is its clock), alone or after the
        // old one, revoking a retired CA the old one does not.
        const retired = { serialHex: "0ABC", revokedAt: at(-3600), reason: "superseded" };
        const newSeries = (revoked: RevokedEntry[]) => seriesSignedAt(T, revoked, 2, 4).map((c) => c.pem);
        const pick = (pems: string[], seconds: number, required: string[]) => {
            const picked = pickAt(pems, at(seconds), required);
            return "crl" in picked
                ? `CRL ${picked.crl.number} from ${picked.crl.thisUpdate.toISOString()}`
                : picked.problem;
        };
        const alone = newSeries([]);
        const revoking = [...series.map((c) => c.pem), ...newSeries([retired])];
        const young = (revokes: string) =>
            `pki:offlineRoots.clientRoot.crls: its CRL valid from ${T.toISOString()} is less than 5 minutes old (now is ${at(30).toISOString()}) ` +
            `and no older one of the series ${revokes}is valid now: Envoy checks a CRL's thisUpdate against the node's clock with no allowance, ` +
            "so a node whose clock lags would refuse it, and with it every peer under this root (a test); run the update again from 2027-01-04T00:05:00.000Z";
        assert.deepStrictEqual(
            [pick(alone, 30, []), pick(alone, 300, []), pick(revoking, 30, ["0ABC"]), pick(revoking, 300, ["0ABC"])],
            [young(""), `CRL 4 from ${T.toISOString()}`, young("revoking 0ABC "), `CRL 4 from ${T.toISOString()}`],
        );
        // What the refusal spares: a gateway whose clock lags a minute behind the update at T + 30 s.
        const client = await mintLeaf(
            { certPem: root.certPem, keyPem: root.keyPem },
            { commonName: "apic", allowedUses: ["digital_signature", "client_auth"] },
            at(-3600),
        );
        const [[, verdict]] = decide([
            [
                "CRL 4 (from T), node at T - 30 s",
                { caCrt: root.certPem, caCrl: alone[0], chain: client.cert, purpose: "sslclient", at: at(-30) },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), {
            boringssl: "CRL is not yet valid",
            openssl: "CRL is not yet valid",
        });
    });

    it("says, of a series that starts later (the offline machine's clock ahead), when it starts and from when the update passes; of one that ended, that every CRL of it has passed its next update", () => {
        const hour = 3_600_000;
        const retired = { serialHex: "0ABC", revokedAt: at(-7200), reason: "superseded" };
        // Signed on an offline machine whose clock is two hours ahead: the default --from is its clock.
        const signedAt = (from: Date, revoked: RevokedEntry[]) => seriesSignedAt(from, revoked, 2, 4).map((c) => c.pem);
        const pick = (pems: string[], now: Date, required: string[]) => {
            const picked = pickAt(pems, now, required);
            return "crl" in picked ? `CRL ${picked.crl.number}` : picked.problem;
        };
        const old = series.map((c) => c.pem); // valid until T + 3 days
        const later = new Date(T.getTime() + 2 * hour); // the offline machine's clock at the machine's T
        const run =
            'on the offline machine run "npx apic-istio-pki ceremony crl ..." and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes';
        const waits =
            "once that CRL is 5 minutes old (Envoy checks a CRL's thisUpdate against the node's clock with no allowance)";
        const afterOld = new Date(T.getTime() + 3 * 86_400_000 + hour); // an hour after the old series ended
        assert.deepStrictEqual(
            [
                pick(signedAt(later, []), T, []),
                pick(signedAt(later, [retired]), T, ["0ABC"]),
                pick([...old, ...signedAt(new Date(afterOld.getTime() + hour), [retired])], afterOld, ["0ABC"]),
                pick(old, afterOld, []),
                pick(signedAt(later, []), T, ["0ABC"]),
            ],
            [
                `pki:offlineRoots.clientRoot.crls has no CRL valid at ${T.toISOString()}: the series starts at 2027-01-04T02:00:00.000Z, later than now ` +
                    `(was the offline machine's clock ahead?), and a test; run the update again from 2027-01-04T02:05:00.000Z, ${waits}`,
                `pki:offlineRoots.clientRoot.crls has no CRL valid at ${T.toISOString()}: the series starts at 2027-01-04T02:00:00.000Z, later than now ` +
                    `(was the offline machine's clock ahead?), and a test; run the update again from 2027-01-04T02:05:00.000Z, ${waits}`,
                `pki:offlineRoots.clientRoot.crls has no CRL valid at 2027-01-07T01:00:00.000Z: its next CRL revoking 0ABC starts at 2027-01-07T02:00:00.000Z, later than now ` +
                    `(was the offline machine's clock ahead?), and a test; run the update again from 2027-01-07T02:05:00.000Z, ${waits}`,
                `pki:offlineRoots.clientRoot.crls has no CRL valid at 2027-01-07T01:00:00.000Z: every CRL of the series has passed its next update, and a test; ${run}`,
                `pki:offlineRoots.clientRoot.crls has no CRL valid at ${T.toISOString()}, and its CRL from 2027-01-04T02:00:00.000Z does not revoke 0ABC (a test); ${run}`,
            ],
        );
        // From the time it names on, the series' first CRL is taken.
        assert.strictEqual(pick(signedAt(later, []), new Date(later.getTime() + CLOCK_SKEW_MS), []), "CRL 4");
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

describe("The time the components check against: the machine's, or the plan's in a rehearsal", function () {
    this.timeout(120_000);
    const hour = 3_600_000;

    it("refuses a gateway CRL valid only from an hour on unless its CA's current CRL is beside it, as BoringSSL does", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const root = await mintRoot("Early CRL root");
        const client = await mintLeaf(
            { certPem: root.certPem, keyPem: root.keyPem },
            { commonName: "apic", uris: ["urn:example:apic"], allowedUses: ["digital_signature", "client_auth"] },
            new Date(now - 2 * hour),
        );
        // The early one signed by a machine whose clock is an hour ahead; the stale one is last period's.
        const stale = emptyCrlOf(root, now - 48 * hour, now - hour, 1);
        const current = emptyCrlOf(root, now - hour, now + 24 * hour, 2);
        const early = emptyCrlOf(root, now + hour, now + 48 * hour, 3);
        const cases: [string, string][] = [
            ["the early CRL alone", early],
            ["the stale CRL and the early one", stale + early],
            ["the current CRL and the early one", current + early],
        ];
        const gateway = (clientCrlPem: string) =>
            runWithStandIn(() => crlGateway("early", root, clientCrlPem).gatewayName, { state: sharedState }).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        const outcomes = [];
        for (const [, pem] of cases) outcomes.push(await gateway(pem));
        const from = new Date(now + hour).toISOString();
        const refusal =
            `IstioGatewayTls early: clientCrlPem holds a CRL of CN=Early CRL root valid only from ${from} ` +
            `(it is NOW) and no CRL of its CA valid now: Envoy checks a CRL's thisUpdate against the node's clock, ` +
            `so it would refuse every client whose chain has that CA until then; give that CA's current CRL beside it, or deploy after ${from} ` +
            "(was the signing machine's clock ahead?)";
        // The component reads the machine's clock a moment after `now`, and says so.
        const asRead = (outcome: string) =>
            outcome.replace(/\(it is ([^)]+)\)/, (text, time: string) =>
                Date.parse(time) >= now && Date.parse(time) <= Date.now() ? "(it is NOW)" : text,
            );
        assert.deepStrictEqual(outcomes.map(asRead), [refusal, refusal, "accepted"]);
        const verdicts = decide(
            cases.map(([label, pem]) => [
                label,
                {
                    caCrt: root.certPem,
                    caCrl: pem,
                    chain: client.cert,
                    purpose: "sslclient" as const,
                    at: new Date(now),
                },
            ]),
        );
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["the early CRL alone", { boringssl: "CRL is not yet valid", openssl: "CRL is not yet valid" }],
                [
                    "the stale CRL and the early one",
                    { boringssl: "CRL is not yet valid", openssl: "CRL is not yet valid" },
                ],
                ["the current CRL and the early one", { boringssl: "ok", openssl: "ok" }],
            ],
        );
    });

    it("refuses a gateway CRL less than CLOCK_SKEW_MS old unless an older CRL of its CA is beside it or its CA starts no earlier, as a gateway whose clock lags refuses it", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const [root, made] = [
            await mintRoot("Young CRL root", { issuedAt: new Date(now - 2 * hour) }),
            await mintRoot("Root made now", { issuedAt: new Date(now - 30_000) }),
        ];
        const clientOf = (ca: typeof root) =>
            mintLeaf(
                { certPem: ca.certPem, keyPem: ca.keyPem },
                { commonName: "apic", uris: ["urn:example:apic"], allowedUses: ["digital_signature", "client_auth"] },
                new Date(Math.max(now - hour, Date.parse(new X509Certificate(ca.certPem).validFrom))),
            );
        const young = emptyCrlOf(root, now - 30_000, now + 24 * hour, 2);
        const current = emptyCrlOf(root, now - hour, now + 24 * hour, 1);
        const atItsStart = emptyCrlOf(made, now - 30_000, now + 24 * hour);
        const cases: [string, typeof root, string][] = [
            ["a CRL 30 s old alone", root, young],
            ["the current CRL and one 30 s old", root, current + young],
            ["a CRL 30 s old of a root made then", made, atItsStart],
        ];
        const gateway = (ca: typeof root, clientCrlPem: string) =>
            runWithStandIn(() => atPlanClock(new Date(now), () => crlGateway("young", ca, clientCrlPem).gatewayName), {
                state: sharedState,
            }).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        const outcomes = [];
        for (const [, ca, pem] of cases) outcomes.push(await gateway(ca, pem));
        assert.deepStrictEqual(outcomes, [
            `IstioGatewayTls young: clientCrlPem holds a CRL of CN=Young CRL root valid from ${new Date(now - 30_000).toISOString()}, ` +
                `less than 5 minutes before now (${new Date(now).toISOString()}), and no older CRL of its CA valid now: Envoy checks a CRL's thisUpdate against the node's clock ` +
                "with no allowance, so a node whose clock lags would refuse every client whose chain has that CA; " +
                `give that CA's previous CRL beside it, or deploy from ${new Date(now + CLOCK_SKEW_MS - 30_000).toISOString()}`,
            "accepted",
            "accepted",
        ]);
        // A gateway a minute behind: the young CRL alone refuses every client; a root made 30 s
        // ago refuses its clients there with no CRL at all.
        const [client, clientOfMade] = [await clientOf(root), await clientOf(made)];
        const behind = (ca: typeof root, chain: string, caCrl?: string) =>
            ({
                caCrt: ca.certPem,
                ...(caCrl !== undefined ? { caCrl } : {}),
                chain,
                purpose: "sslclient",
                at: new Date(now - 60_000),
            }) as const;
        const verdicts = decide([
            ["a CRL 30 s old alone", behind(root, client.cert, young)],
            ["the current CRL and one 30 s old", behind(root, client.cert, current + young)],
            ["a root made 30 s ago, no CRL", behind(made, clientOfMade.cert)],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["a CRL 30 s old alone", { boringssl: "CRL is not yet valid", openssl: "CRL is not yet valid" }],
                ["the current CRL and one 30 s old", { boringssl: "ok", openssl: "ok" }],
                [
                    "a root made 30 s ago, no CRL",
                    { boringssl: "certificate is not yet valid", openssl: "certificate is not yet valid" },
                ],
            ],
        );
    });

    it("refuses a mesh CRL less than CLOCK_SKEW_MS old, but takes the mesh CA's own CRL dated at its start", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const root = await mintRoot("Young mesh root", { issuedAt: new Date(now - 2 * hour) });
        const state: EngineState = new Map();
        const meshCa = (crlPem?: string) =>
            runWithStandIn(
                () =>
                    atPlanClock(new Date(now), () => {
                        const mesh = new MeshPluginCa("young", {
                            issuer: { certPem: root.certPem, privateKeyPem: root.keyPem, rootCertPem: root.certPem },
                            cluster: "lab",
                            keyAlgorithm: "ECDSA",
                            ...(crlPem !== undefined ? { crlPem } : {}),
                        });
                        return { certPem: mesh.certPem, keyPem: mesh.privateKeyPem };
                    }),
                { state, now: () => new Date(now - 20_000) },
            );
        // The mesh CA, made 20 s ago and kept in `state`; a program signs its CRL once it exists, dated at its start.
        const ca = (await meshCa()).outputs;
        const start = Date.parse(new X509Certificate(ca.certPem).validFrom);
        const ownCrl = emptyCrlOf(ca, start, now + 24 * hour);
        const outcome = (crlPem: string) =>
            meshCa(crlPem).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        assert.deepStrictEqual(
            [
                await outcome(emptyCrlOf(root, now - hour, now + 24 * hour) + ownCrl),
                await outcome(emptyCrlOf(root, now - 30_000, now + 24 * hour) + ownCrl),
            ],
            [
                "accepted",
                `MeshPluginCa young: crlPem holds a CRL of CN=Young mesh root valid from ${new Date(now - 30_000).toISOString()}, ` +
                    `less than 5 minutes before now (${new Date(now).toISOString()}), and no older CRL of its CA valid now: Envoy checks a CRL's thisUpdate against the node's clock ` +
                    "with no allowance, so a node whose clock lags would refuse every workload whose chain has that CA; " +
                    `give that CA's previous CRL beside it, or deploy from ${new Date(now + CLOCK_SKEW_MS - 30_000).toISOString()}`,
            ],
        );
    });

    it("holds a young CRL of a CA it has no certificate of to the clock-lag rule unless told that CA may start later", async () => {
        // MeshPluginCa checks plain crlPem before its CA is made (unlistedCaStart Infinity): a CRL of
        // that CA, not known yet, waits for the check against its certificate once it is.
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const root = await mintRoot("Lag root");
        const intermediate = await mintSubCa(root, "Lag intermediate");
        const caCrl = emptyCrlOf(root, now - hour, now + hour) + emptyCrlOf(intermediate, now - 60_000, now + hour);
        const names = { bundle: "trustedRootsPem", refused: "every workload" };
        const young =
            `holds a CRL of CN=Lag intermediate valid from ${new Date(now - 60_000).toISOString()}, less than 5 minutes before now (${new Date(now).toISOString()}), ` +
            "and no older CRL of its CA valid now: Envoy checks a CRL's thisUpdate against the node's clock with no allowance, so a node whose clock lags " +
            `would refuse every workload whose chain has that CA; give that CA's previous CRL beside it, or deploy from ${new Date(now + CLOCK_SKEW_MS - 60_000).toISOString()}`;
        assert.deepStrictEqual(
            [
                crlBundleProblem(caCrl, root.certPem, new Date(now), names),
                crlBundleProblem(caCrl, root.certPem, new Date(now), names, [], Infinity),
            ],
            [young, undefined],
        );
    });

    it("tells two CAs of one name apart by key, as BoringSSL does: the current CRL of one does not cover the other's early one", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        // The same root re-keyed under its name (a renewal that keeps the subject), each with a client.
        const roots = [await mintRoot("Renewed root"), await mintRoot("Renewed root")];
        const [old, renewed] = roots;
        const client = await mintLeaf(
            { certPem: renewed.certPem, keyPem: renewed.keyPem },
            { commonName: "apic", uris: ["urn:example:apic"], allowedUses: ["digital_signature", "client_auth"] },
            new Date(now - hour),
        );
        const caCrt = old.certPem + renewed.certPem;
        const caCrl = emptyCrlOf(old, now - hour, now + hour) + emptyCrlOf(renewed, now + hour, now + 2 * hour);
        const names = { bundle: "clientTrustBundlePem", refused: "every client" };
        const from = new Date(now + hour).toISOString();
        assert.strictEqual(
            crlBundleProblem(caCrl, caCrt, new Date(now), names),
            `holds a CRL of CN=Renewed root valid only from ${from} (it is ${new Date(now).toISOString()}) and no CRL of its CA valid now: Envoy checks a CRL's thisUpdate ` +
                `against the node's clock, so it would refuse every client whose chain has that CA until then; ` +
                `give that CA's current CRL beside it, or deploy after ${from} (was the signing machine's clock ahead?)`,
        );
        const [[, verdict]] = decide([
            [
                "the renewed root's client",
                { caCrt, caCrl, chain: client.cert, purpose: "sslclient", at: new Date(now) },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), {
            boringssl: "CRL is not yet valid",
            openssl: "CRL is not yet valid",
        });
    });

    it("says a stale CRL of a CA the bundle does not hold may be taken out once no chain has that CA, as Envoy then accepts", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const root = await mintRoot("Bundle root");
        const retired = await mintSubCa(root, "Retired intermediate");
        const uses = ["digital_signature", "client_auth"] as const;
        const below = (ca: typeof root) =>
            mintLeaf(
                { certPem: ca.certPem, keyPem: ca.keyPem },
                { commonName: "apic", uris: ["urn:example:apic"], allowedUses: [...uses] },
                new Date(now - hour),
            );
        const direct = (await below(root)).cert;
        const throughRetired = (await below(retired)).cert + retired.certPem; // the client sends its CA
        const rootCrl = emptyCrlOf(root, now - hour, now + hour);
        const staleCrl = emptyCrlOf(retired, now - 48 * hour, now - hour);
        const names = { bundle: "clientTrustBundlePem", refused: "every client" };
        assert.strictEqual(
            crlBundleProblem(rootCrl + staleCrl, root.certPem, new Date(now), names),
            `holds a CRL of CN=Retired intermediate past its next update (${new Date(now - hour).toISOString()}) and no newer one of its CA: ` +
                "Envoy would refuse every client whose chain has that CA; give its CRL re-signed for now, or take it out if no peer's chain has that CA any more",
        );
        assert.strictEqual(crlBundleProblem(rootCrl, root.certPem, new Date(now), names), undefined);
        // A root of the bundle needs its CRL: its stale CRL gets no such advice.
        assert.strictEqual(
            crlBundleProblem(emptyCrlOf(root, now - 48 * hour, now - hour), root.certPem, new Date(now), names),
            `holds a CRL of CN=Bundle root past its next update (${new Date(now - hour).toISOString()}) and no newer one of its CA: ` +
                "Envoy would refuse every client whose chain has that CA; give its CRL re-signed for now",
        );
        const check = (caCrl: string, chain: string) =>
            ({ caCrt: root.certPem, caCrl, chain, purpose: "sslclient", at: new Date(now) }) as const;
        const verdicts = decide([
            ["stale CRL kept: a client through that CA", check(rootCrl + staleCrl, throughRetired)],
            ["stale CRL taken out: a client through that CA", check(rootCrl, throughRetired)],
            ["stale CRL taken out: a client of the root", check(rootCrl, direct)],
        ]);
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                [
                    "stale CRL kept: a client through that CA",
                    { boringssl: "CRL has expired", openssl: "CRL has expired" },
                ],
                [
                    "stale CRL taken out: a client through that CA",
                    { boringssl: "unable to get certificate CRL", openssl: "unable to get certificate CRL" },
                ],
                ["stale CRL taken out: a client of the root", { boringssl: "ok", openssl: "ok" }],
            ],
        );
    });

    it("checks a CRL that a program signs during the update when it resolves, not at the gateway's construction", async () => {
        const root = await mintRoot("Signed during the update");
        let constructed = 0;
        let signed = "";
        const outcome = await runWithStandIn(
            () => {
                let sign: (pem: string) => void = () => undefined;
                const clientCrlPem = pulumi.output(new Promise<string>((resolve) => (sign = resolve)));
                const gateway = crlGateway("signed-during", root, clientCrlPem);
                constructed = Date.now();
                // The program signs the CRL once its root exists, in the next second here (CRLs
                // count whole ones), dated CLOCK_SKEW_MS before the time it signs, as the stack
                // dates a new CA's: checked at the construction, it would be too recent. 50 ms past
                // that second's start: a timer may fire a millisecond before its delay by Date.now().
                setTimeout(
                    () => {
                        const from = Math.floor(Date.now() / 1000) * 1000;
                        signed = new Date(from).toISOString();
                        sign(emptyCrlOf(root, from - CLOCK_SKEW_MS, from + hour));
                    },
                    1050 - (constructed % 1000),
                );
                return gateway.gatewayName;
            },
            { state: sharedState },
        ).then(
            () => "accepted",
            (error: Error) => error.message,
        );
        assert.ok(Date.parse(signed) > constructed, `signed ${signed}, after the construction at ${constructed}`);
        assert.strictEqual(outcome, "accepted");
    });

    it("takes its own CRL of a root that a pulumi up makes while a revocation is in force: dated CLOCK_SKEW_MS before the plan's clock, not at the root's later start", async () => {
        // RSA CAs (the suite's keys): the stack signs CRLs with RSA only. ECDSA leaves keep it cheap.
        const base = {
            environment: "up",
            option: 1,
            baseDomain: "up.api.bank.example",
            domains: { ob: { services: ["accounts"] }, dp: { services: ["party-canonical"] } },
            clusters: ["east"],
            keyAlgorithm: "ECDSA",
        };
        const state = seededState();
        const first = await renderNext(base, "up-g0", state, new Date(Date.now() - 24 * hour));
        const serial = new X509Certificate(first.read("apic/ob/client.crt")).serialNumber;
        const revokedAt = new Date(Date.now() - hour).toISOString();
        const raw = {
            ...base,
            revocations: JSON.stringify([{ endpoint: "ob", serial, epoch: 0, reason: "keyCompromise", revokedAt }]),
            caRotation: JSON.stringify({ clientRoot: { generation: 1, phase: "prepare" } }),
        };
        // As pulumi up runs it: the program plans at the machine's clock, and @pulumi/tls makes the
        // new root when the engine creates it, here a minute later.
        const plan = planFromRawConfig(raw, { deployed: deployedRecordOf(state) });
        const planned = plan.now ?? assert.fail("planPki sets the plan's clock");
        const outcome = await runWithStandIn(() => buildPki(plan).outputs, {
            state,
            now: () => new Date(planned.getTime() + 60_000),
        }).then(
            ({ engine }) =>
                engine
                    .byType("kubernetes:core/v1:Secret")
                    .map((r) => (r.inputs.stringData as Record<string, string | undefined>)["ca.crl"])
                    .filter((crls): crls is string => crls !== undefined)
                    .flatMap((crls) => pemBlocks(crls, "X509 CRL").map(parseCrl))
                    .filter((crl) => crl.issuerCommonName?.endsWith("root CA G1"))
                    .map((crl) => [crl.issuerCommonName, crl.thisUpdate.toISOString()]),
            (error: Error) => error.message,
        );
        const thisUpdate = new Date(Math.floor((planned.getTime() - CLOCK_SKEW_MS) / 1000) * 1000).toISOString();
        assert.deepStrictEqual(outcome, [
            ["up APIC client root CA G1", thisUpdate],
            ["up APIC client root CA G1", thisUpdate],
        ]);
    });

    it("renders a revocation at a clock 40 days back and 40 days on: the stack's CRLs are checked at that clock, and the gateway then takes them", async () => {
        const results = [];
        for (const days of [-40, 40]) {
            const at = new Date(Date.now() + days * 86_400_000);
            // Certificates issued at that clock too: a CRL never starts before its CA's certificate.
            const state = newStackState(new Map());
            const first = await renderNext(loadStackFile(OPTION_FILES[1]), `clock-${days}`, state, at);
            const serial = new X509Certificate(first.read("apic/ob/client.crt")).serialNumber;
            const revoked = {
                ...loadStackFile(OPTION_FILES[1]),
                revocations: [
                    {
                        endpoint: "ob",
                        serial,
                        epoch: 0,
                        reason: "keyCompromise",
                        // The certificate was issued at that clock: no earlier than CLOCK_SKEW_MS before it.
                        revokedAt: new Date(at.getTime() - CLOCK_SKEW_MS).toISOString(),
                    },
                ],
            };
            const after = await renderNext(revoked, `clock-${days}-revoked`, state, at);
            const verdicts = decide([
                ["the revoked APIC client", gatewayCheck(after, "ob", apicSends(first, "ob"), at)],
                ["the other endpoint's client", gatewayCheck(after, "dp", apicSends(after, "dp"), at)],
            ]);
            results.push([days, ...verdicts.map(([label, v]) => [label, summary(v)])]);
        }
        const verdicts = [
            ["the revoked APIC client", { boringssl: "certificate revoked", openssl: "certificate revoked" }],
            ["the other endpoint's client", { boringssl: "ok", openssl: "ok" }],
        ];
        assert.deepStrictEqual(results, [
            [-40, ...verdicts],
            [40, ...verdicts],
        ]);
    });

    it("renders a stack with an offline root at a clock 40 days on and 40 days back: the roots it makes are checked at that clock, while it waits for the ceremony and after", async () => {
        const results = [];
        for (const days of [40, -40]) {
            const at = new Date(Date.now() + days * 86_400_000);
            // The ceremony's machine at that clock too: its root a day older, the CA it signs dated then.
            const offline = createRoot(
                {
                    commonName: "Example Bank APIC Client Offline Root",
                    organization: "Example Bank",
                    binding: { environment: "example", trustDomain: "apic-client" },
                    validityDays: 7300,
                    keyAlgorithm: "ECDSA",
                },
                new Date(at.getTime() - 86_400_000),
            );
            const raw = (intermediates: Record<string, string>) => ({
                ...loadStackFile(OPTION_FILES[1]),
                offlineRoots: { clientRoot: { certificate: offline.certPem, intermediates } },
            });
            const state = newStackState(new Map());
            const [waiting, csrs] = await renderNext(raw({}), `offline-clock-${days}`, state, at).then(
                () => ["rendered", undefined],
                (error: Error) => [
                    `${error.constructor.name}: ${error.message.split("\n")[0]}`,
                    error.message.split("CSRs written to ")[1],
                ],
            );
            if (csrs === undefined) {
                results.push([days, waiting]);
                continue;
            }
            const csrPem = fs.readFileSync(path.join(csrs, "apic-client-ca.csr"), "utf8");
            const signed = signIntermediate(
                { rootKeyPem: offline.keyPem, rootCertPem: offline.certPem, csrPem, validityDays: 1095 },
                at,
            );
            const after = await renderNext(
                raw({ "apic-client-ca": signed }),
                `offline-clock-${days}-signed`,
                state,
                at,
            );
            // The roots the stack made (the mesh's, the gateway server's), dated at the run's clock.
            const madeRoots = after.inventory
                .filter((c) => c.role === "root" && c.serial !== new X509Certificate(offline.certPem).serialNumber)
                .map((c) => [c.id, new Date(c.notBefore).getTime() === Math.floor(at.getTime() / 1000) * 1000]);
            const [[, verdict]] = decide([["APIC", gatewayCheck(after, "ob", apicSends(after, "ob"), at)]]);
            results.push([days, waiting, madeRoots, summary(verdict)]);
        }
        const waiting =
            "PendingSignaturesError: the offline roots have not signed apic-client-ca (pki:offlineRoots.clientRoot.intermediates.apic-client-ca) yet: " +
            'on the offline machine sign each CSR (pulumi stack output intermediateCsrs, or csr/<id>.csr of a render) with "npx apic-istio-pki ceremony sign --root <that root\'s dir> --csr <id>.csr" and put each certificate where its name says';
        const made = [
            ["mesh-root", true],
            ["server-root", true],
        ];
        assert.deepStrictEqual(results, [
            [40, waiting, made, { boringssl: "ok", openssl: "ok" }],
            [-40, waiting, made, { boringssl: "ok", openssl: "ok" }],
        ]);
    });

    it("checks the roots given in the config at the plan's clock", async () => {
        const root = await mintRoot("APIC UI root", { validityHours: 10 * 24 });
        const expiredOn = new Date(new X509Certificate(root.certPem).validTo);
        const raw = { ...loadStackFile(OPTION_FILES[1]), frontEnd: JSON.stringify({ apicServerCa: root.certPem }) };
        const day = 86_400_000;
        assert.deepStrictEqual(
            [
                planProblems(raw, { now: new Date(expiredOn.getTime() - day) }),
                planProblems(raw, { now: new Date(expiredOn.getTime() + day) }),
            ],
            [
                [],
                [
                    `pki:frontEnd.apicServerCa holds CN=APIC UI root, which expired on ${expiredOn.toISOString()}, so every certificate under it is refused; give the CA that replaced it`,
                ],
            ],
        );
    });

    it("warns of a customer-facing certificate past its end at the plan's clock, not only at the machine's", async () => {
        const host = "www.bank.example";
        const state = new Map();
        const customerFacing = (certificatePem?: string) =>
            new CustomerFacingTls("public", {
                hosts: [{ host, ...(certificatePem !== undefined ? { certificatePem } : {}) }],
                keyAlgorithm: "ECDSA",
            });
        const { outputs } = await runWithStandIn(() => ({ csr: customerFacing().csrPems[host] }), { state });
        const publicCa = await mintRoot("Public CA");
        const issued = justIssued();
        const certificate = tlsProvider.locallySignedCert(
            {
                certRequestPem: outputs.csr,
                caCertPem: publicCa.certPem,
                caPrivateKeyPem: publicCa.keyPem,
                allowedUses: ["digital_signature", "server_auth"],
                validityPeriodHours: 24,
            },
            { now: () => issued },
        ).state.certPem as string;
        const warningsAt = async (clock?: Date) => {
            const warnings: string[] = [];
            const warn = console.warn;
            console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
            try {
                await runWithStandIn(
                    () => {
                        const build = () => ({ served: customerFacing(certificate).servedCertPems[host] });
                        return clock === undefined ? build() : atPlanClock(clock, build);
                    },
                    { state },
                );
            } finally {
                console.warn = warn;
            }
            return warnings;
        };
        const expiredOn = new Date(new X509Certificate(certificate).validTo).toISOString();
        assert.deepStrictEqual(
            // At its notAfter exactly: expired from then on, as BoringSSL counts it.
            [await warningsAt(), await warningsAt(new Date(expiredOn))],
            [
                [],
                [
                    `warning: [runtime] CustomerFacingTls public: the certificate given for ${host} expired on ${expiredOn}; customers are refused until a new one is given`,
                ],
            ],
        );
    });

    it("counts a CA as expired from its notAfter on, to the second, as BoringSSL does", async () => {
        const root = await mintRoot("Ending root", { validityHours: 24 });
        const client = await mintLeaf(
            { certPem: root.certPem, keyPem: root.keyPem },
            { commonName: "apic", allowedUses: ["digital_signature", "client_auth"] },
        );
        const end = Date.parse(new X509Certificate(root.certPem).validTo);
        const times = [end - 1000, end];
        assert.deepStrictEqual(
            times.map((t) => [
                trustBundleProblem(root.certPem, new Date(t)),
                unexpiredCertificates(root.certPem, new Date(t)) === root.certPem,
            ]),
            [
                [undefined, true],
                [
                    `holds CN=Ending root, which expired on ${new Date(end).toISOString()}, so every certificate under it is refused; give the CA that replaced it`,
                    false,
                ],
            ],
        );
        const verdicts = decide(
            times.map((t) => [
                new Date(t).toISOString(),
                { caCrt: root.certPem, chain: client.cert, purpose: "sslclient" as const, at: new Date(t) },
            ]),
        );
        assert.deepStrictEqual(
            verdicts.map(([, v]) => summary(v)),
            [
                { boringssl: "ok", openssl: "ok" },
                { boringssl: "certificate has expired", openssl: "certificate has expired" },
            ],
        );
    });
});
