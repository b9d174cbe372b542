/**
 * CRLs that cannot silently expire: their times (a period's CRL lasts four periods, at least 28
 * days; a root's or mesh CA's lasts as long as its CA), their numbers (RFC 5280 5.2.3: never down
 * for a CA, across periods, config changes and CA generations; the same bytes while nothing
 * changes), thisUpdate never before a listed revocation, and refused revocation dates.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { X509Crl } from "@peculiar/x509";
import { runWithStandIn } from "../lib/engine/standIn";
import {
    buildCrl,
    crlDigestTimes,
    crlNumber,
    crlThisUpdate,
    crlTimes,
    crlValidityDays,
    CrlWindow,
    parseCrl,
    RevokedEntry,
} from "../lib/pki/crl";
import { pemBlocks } from "../lib/pki/pem";
import { RotationRecord } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf, renderPlan } from "../lib/render/render";
import { buildPki } from "../lib/stack";
import { decide, summary } from "./consumers";
import { seededState } from "./engineKeys";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import {
    cacerts,
    gatewayServerConfig,
    loadStackFile,
    mintLeaf,
    newStackState,
    openssl,
    planProblems,
    Rendered,
    renderNext,
    tempDir,
} from "./helpers";

const DAY_MS = 86_400_000;
const T0 = new Date("2027-01-04T00:00:00Z");
const day = (n: number): Date => new Date(T0.getTime() + n * DAY_MS);

describe("CRL times: a period's CRL lasts four periods, a root's or mesh CA's as long as its CA", () => {
    const issuer = { notBefore: new Date("2026-01-01T00:00:00Z"), notAfter: new Date("2036-01-01T00:00:00Z") };
    const revoked = (iso: string): RevokedEntry[] => [
        { serialHex: "0A", revokedAt: new Date(iso), reason: "keyCompromise" },
    ];

    it("starts a period's CRL at the period's start, or at a later revocation, and ends it four periods (at least 28 days) after the start", () => {
        const now = new Date("2027-01-05T12:00:00Z"); // 7-day periods from 1970-01-01 (a Thursday): this one began 2026-12-31
        assert.deepStrictEqual(crlTimes({ renewal: "period", now, periodDays: 7, issuer, revoked: [] }), {
            thisUpdate: new Date("2026-12-31T00:00:00Z"),
            nextUpdate: new Date("2027-01-28T00:00:00Z"),
        });
        assert.deepStrictEqual(
            crlTimes({ renewal: "period", now, periodDays: 7, issuer, revoked: revoked("2027-01-02T09:30:00Z") }),
            {
                thisUpdate: new Date("2027-01-02T09:30:00Z"),
                nextUpdate: new Date("2027-01-28T00:00:00Z"),
            },
        );
        assert.deepStrictEqual([1, 7, 30, 90].map(crlValidityDays), [28, 28, 120, 360]);
    });

    it("lets a root's or mesh CA's CRL run from its CA's start (or the latest revocation) to its CA's end", () => {
        const now = new Date("2027-01-05T12:00:00Z");
        assert.deepStrictEqual(crlTimes({ renewal: "issuer", now, periodDays: 7, issuer, revoked: [] }), {
            thisUpdate: issuer.notBefore,
            nextUpdate: issuer.notAfter,
        });
        assert.deepStrictEqual(
            crlTimes({ renewal: "issuer", now, periodDays: 7, issuer, revoked: revoked("2026-12-31T00:00:00Z") })
                .thisUpdate,
            new Date("2026-12-31T00:00:00Z"),
        );
        // A CA pulumi up makes starts after the program read its clock: its CRL is valid at that
        // clock, and on a node whose clock lags it by up to CLOCK_SKEW_MS.
        const later = { notBefore: new Date(now.getTime() + 60_000), notAfter: issuer.notAfter };
        assert.deepStrictEqual(crlTimes({ renewal: "issuer", now, periodDays: 7, issuer: later, revoked: [] }), {
            thisUpdate: new Date("2027-01-05T11:55:00Z"),
            nextUpdate: issuer.notAfter,
        });
        // Its digest takes the CA's start, not the clock: later updates find it unchanged and keep its date.
        assert.deepStrictEqual(crlDigestTimes({ renewal: "issuer", now, periodDays: 7, issuer: later, revoked: [] }), {
            thisUpdate: later.notBefore,
            nextUpdate: issuer.notAfter,
        });
    });

    it("never dates a CA's changed CRL before its previous one, nor after now; an unchanged one keeps its thisUpdate", () => {
        const previous = {
            number: 20_500,
            digest: "a",
            thisUpdate: "2027-03-03T00:00:00.000Z",
            nextUpdate: "2031-01-03T00:00:00.000Z",
            renewal: "issuer" as const,
            published: true,
        };
        const now = new Date("2028-01-10T00:00:00Z");
        // A retired CA left the root's list: the rule dates the CRL from the root's start again.
        const rootStart = new Date("2027-01-04T00:00:00Z");
        assert.deepStrictEqual(
            [
                crlThisUpdate(previous, "b", rootStart, now),
                crlThisUpdate(previous, "b", new Date("2028-01-09T00:00:00Z"), now),
                crlThisUpdate(previous, "a", rootStart, now),
                crlThisUpdate(previous, "b", rootStart, new Date("2027-02-01T00:00:00Z")),
                crlThisUpdate(undefined, "b", rootStart, now),
            ],
            [
                new Date("2027-03-03T00:00:00Z"),
                new Date("2028-01-09T00:00:00Z"),
                new Date("2027-03-03T00:00:00Z"),
                new Date("2027-02-01T00:00:00Z"),
                rootStart,
            ],
        );
    });

    it("numbers a CA's CRLs from its record: the same while unchanged, one up on any change, a first one above the stack's and the day's", () => {
        const previous = {
            number: 20_500,
            digest: "a",
            thisUpdate: "",
            nextUpdate: "",
            renewal: "period" as const,
            published: true,
        };
        const now = new Date("2027-01-05T12:00:00Z");
        assert.strictEqual(crlNumber(previous, "a", now, 0), 20_500);
        assert.strictEqual(crlNumber(previous, "b", now, 0), 20_501);
        assert.strictEqual(crlNumber(undefined, "a", now, 0), 20_823, "the day's index since 1970");
        assert.strictEqual(crlNumber(undefined, "a", now, 30_000), 30_000);
    });
});

describe("CRL numbers over a sequence of deployments and config changes", function () {
    this.timeout(180_000);
    const base = {
        environment: "crl",
        option: 1,
        baseDomain: "crl.api.bank.example",
        domains: { ob: { services: ["accounts"] }, dp: { services: ["party"] } },
        clusters: ["example"],
        keyAlgorithm: "ECDSA",
        validityDays: { root: 1460, intermediate: 365, leaf: 90 },
    };
    /** Each deployment: its label and every CRL it publishes, by issuer (gateway, APIC truststore, mesh). */
    const deployments: { label: string; rendered: Rendered; crls: Map<string, string> }[] = [];

    const crlsOf = (rendered: Rendered): Map<string, string> => {
        const bundles = [
            gatewayServerConfig(rendered, "ob").caCrl ?? "",
            fs.existsSync(path.join(rendered.dir, "apic/ob/truststore.crl"))
                ? rendered.read("apic/ob/truststore.crl")
                : "",
            cacerts(rendered, "example")["ca-crl.pem"] ?? "",
        ];
        return new Map(
            bundles.flatMap((b) => pemBlocks(b, "X509 CRL")).map((pem) => [parseCrl(pem).issuerCommonName ?? "", pem]),
        );
    };

    before(async () => {
        const state = newStackState();
        const dir = tempDir("crl-numbers");
        const deploy = async (label: string, raw: Record<string, unknown>, now: Date) => {
            const plan = planFromRawConfig(raw, { deployed: deployedRecordOf(state), now });
            const out = path.join(dir, String(deployments.length));
            const result = await renderPlan(plan, out, { state });
            const rendered: Rendered = {
                ...result,
                plan,
                dir: out,
                read: (f) => fs.readFileSync(path.join(out, f), "utf8"),
            };
            deployments.push({ label, rendered, crls: crlsOf(rendered) });
            return rendered;
        };
        const first = await deploy("first update", base, day(0));
        const serial = (id: string) => first.inventory.find((c) => c.id === `${id}/client`)?.serial;
        const ob = {
            endpoint: "ob",
            serial: serial("ob"),
            epoch: 0,
            reason: "keyCompromise",
            // Revoked just before the update that publishes it (at least CLOCK_SKEW_MS before, as the plan asks).
            revokedAt: new Date(day(1).getTime() - 10 * 60_000).toISOString(),
        };
        const dp = {
            endpoint: "dp",
            serial: serial("dp"),
            epoch: 0,
            reason: "cessationOfOperation",
            revokedAt: "2027-01-05T10:00:00Z",
        };
        await deploy("ob's client revoked", { ...base, revocations: [ob] }, day(1));
        await deploy("unchanged, same period", { ...base, revocations: [ob] }, day(2));
        await deploy("dp's client revoked in the same period", { ...base, revocations: [ob, dp] }, day(2));
        await deploy("pki:crlPeriodDays 7 -> 30", { ...base, revocations: [ob, dp], crlPeriodDays: 30 }, day(2));
        await deploy("a later period", { ...base, revocations: [ob, dp], crlPeriodDays: 30 }, day(45));
        for (const [i, phase] of ["prepare", "switch", "finish"].entries()) {
            await deploy(
                `APIC-client CA generation 1 ${phase}`,
                {
                    ...base,
                    revocations: [ob, dp],
                    crlPeriodDays: 30,
                    caRotation: { apicClientCa: { generation: 1, phase } },
                },
                day(52 + 7 * i),
            );
        }
        const rotated = { ...base, revocations: [ob, dp], crlPeriodDays: 30 };
        for (const [i, phase] of ["prepare", "switch", "finish"].entries()) {
            await deploy(
                `mesh CA generation 1 ${phase}`,
                {
                    ...rotated,
                    caRotation: { apicClientCa: { generation: 1, phase: "finish" }, meshCa: { generation: 1, phase } },
                },
                day(80 + 7 * i),
            );
        }
        const done = {
            ...rotated,
            caRotation: {
                apicClientCa: { generation: 1, phase: "finish" },
                meshCa: { generation: 1, phase: "finish" },
            },
        };
        await deploy("after the retired mesh CA expired", done, day(370));
    });

    const number = (pem: string): number => parseCrl(pem).number ?? NaN;

    const thisUpdate = (pem: string): string => parseCrl(pem).thisUpdate.toISOString();

    it("re-publishes the same bytes while nothing changes, and a higher number and no older thisUpdate on every change", () => {
        const seen = new Map<string, { label: string; pem: string }>();
        const steps: string[] = [];
        for (const d of deployments) {
            for (const [issuer, pem] of d.crls) {
                const before = seen.get(issuer);
                if (before !== undefined) {
                    if (before.pem === pem) steps.push(`${d.label}: ${issuer} unchanged`);
                    else {
                        assert.ok(
                            number(pem) > number(before.pem),
                            `${d.label}: ${issuer} #${number(before.pem)} -> #${number(pem)}`,
                        );
                        assert.ok(
                            thisUpdate(pem) >= thisUpdate(before.pem),
                            `${d.label}: ${issuer} thisUpdate ${thisUpdate(before.pem)} -> ${thisUpdate(pem)}`,
                        );
                        steps.push(`${d.label}: ${issuer} up`);
                    }
                }
                seen.set(issuer, { label: d.label, pem });
            }
        }
        for (const expected of [
            "unchanged, same period: crl APIC client CA unchanged",
            "dp's client revoked in the same period: crl APIC client CA up",
            "dp's client revoked in the same period: crl APIC client root CA unchanged",
            "pki:crlPeriodDays 7 -> 30: crl APIC client CA up",
            "a later period: crl APIC client CA up",
        ])
            assert.ok(steps.includes(expected), `${expected}\n${steps.join("\n")}`);
    });

    it("gives a new CA generation's first CRL a number above every number the stack used before", () => {
        const prepare = deployments.findIndex((d) => d.label === "APIC-client CA generation 1 prepare");
        const before = deployments.slice(0, prepare).flatMap((d) => [...d.crls.values()].map(number));
        const g1 = deployments[prepare].crls.get("crl APIC client CA G1");
        assert.ok(g1 !== undefined);
        assert.ok(number(g1) > Math.max(...before), `#${number(g1)} after #${Math.max(...before)}`);
        const record = JSON.parse(deployments.at(-1)?.rendered.read("deployment.json") ?? "{}") as RotationRecord;
        const numbers = deployments.flatMap((d) => [...d.crls.values()].map(number));
        assert.strictEqual(record.highestCrlNumber, Math.max(...numbers));
    });

    it("never dates a CRL before a revocation it lists, keeps accepting revocations of expired certificates, and publishes the mesh's ca-crl.pem for as long as its CAs", () => {
        for (const d of deployments) {
            for (const [issuer, pem] of d.crls) {
                const crl = new X509Crl(pem);
                for (const entry of crl.entries)
                    assert.ok(entry.revocationDate <= crl.thisUpdate, `${d.label}: ${issuer} ${entry.serialNumber}`);
            }
        }
        // The revoked certificates expired before the last deployment: their entries are still known, not refused.
        assert.deepStrictEqual(
            deployments.at(-1)?.rendered.plan.revoked.map((r) => [r.holder, r.issuer]),
            [
                ["ob", "apic-client-ca"],
                ["dp", "apic-client-ca"],
            ],
        );
        // Istio cannot clear ca-crl.pem (istio/istio#61073): once a mesh CA was retired it stays published,
        // valid as long as each CA, also after the retired CA expired and left the root's CRL.
        const meshCrls = (label: string) => {
            const d = deployments.find((x) => x.label === label) as (typeof deployments)[number];
            return pemBlocks(cacerts(d.rendered, "example")["ca-crl.pem"] ?? "", "X509 CRL").map((pem) => {
                const crl = parseCrl(pem);
                return [crl.issuerCommonName, crl.revokedSerials.length, crl.nextUpdate.toISOString()];
            });
        };
        const ends = (id: string) => deployments.at(-1)?.rendered.inventory.find((c) => c.id === id)?.notAfter;
        assert.deepStrictEqual(meshCrls("mesh CA generation 1 switch"), []);
        assert.deepStrictEqual(meshCrls("mesh CA generation 1 finish"), [
            ["crl mesh root CA", 1, ends("mesh-root")],
            ["crl mesh CA example G1", 0, ends("mesh-ca-example-g1")],
        ]);
        assert.deepStrictEqual(meshCrls("after the retired mesh CA expired"), [
            ["crl mesh root CA", 0, ends("mesh-root")],
            ["crl mesh CA example G1", 0, ends("mesh-ca-example-g1")],
        ]);
    });
});

describe("The CRL of a CA an update makes: dated once, then the same bytes while its list is unchanged", function () {
    this.timeout(180_000);
    const hour = 3_600_000;
    const base = {
        environment: "newca",
        option: 1,
        baseDomain: "newca.api.bank.example",
        domains: { ob: { services: ["accounts"] }, dp: { services: ["party"] } },
        clusters: ["example"],
        keyAlgorithm: "ECDSA",
    };
    /** The config with ob's APIC client revoked, so that the gateways publish ca.crl. */
    const revokingOb = (first: Rendered, revokedAt: Date) => ({
        ...base,
        revocations: [
            {
                endpoint: "ob",
                serial: first.inventory.find((c) => c.id === "ob/client")?.serial,
                epoch: 0,
                reason: "keyCompromise",
                revokedAt: revokedAt.toISOString(),
            },
        ],
    });
    /** The new CAs' CRLs in a CRL bundle: issuer, thisUpdate and number. */
    const newCaCrls = (bundle: string) =>
        pemBlocks(bundle, "X509 CRL")
            .map(parseCrl)
            .filter((crl) => /root CA G1|G2$/.test(crl.issuerCommonName ?? ""))
            .map((crl) => [crl.issuerCommonName, crl.thisUpdate.toISOString(), crl.number]);

    it("re-publishes a new root's and a new mesh CA's CRL as the prepare signed it, in the CAs' first five minutes and after", async () => {
        // Certificates issued at each render's clock: the new CAs start at 12:00.
        const state = newStackState(new Map());
        const first = await renderNext(base, "newca-0", state, new Date("2026-12-01T12:00:00Z"));
        const revoked = revokingOb(first, new Date("2026-12-01T13:00:00Z"));
        // A mesh CA retired: istiod's ca-crl.pem is published from then on.
        for (const [i, phase] of ["prepare", "switch", "finish"].entries()) {
            const raw = { ...revoked, caRotation: { meshCa: { generation: 1, phase } } };
            await renderNext(raw, `newca-mesh-${phase}`, state, new Date(Date.UTC(2026, 11, 2 + 7 * i, 12)));
        }
        const prepare = {
            ...revoked,
            caRotation: {
                clientRoot: { generation: 1, phase: "prepare" },
                meshCa: { generation: 2, phase: "prepare" },
            },
        };
        const published: [string, string, string][] = [];
        for (const time of ["12:00:00", "12:01:00", "12:02:30", "12:10:00", "12:20:00"]) {
            const rendered = await renderNext(prepare, `newca-${time}`, state, new Date(`2027-01-05T${time}Z`));
            const caCrl = gatewayServerConfig(rendered, "ob").caCrl ?? "";
            published.push([time, caCrl, cacerts(rendered, "example")["ca-crl.pem"] ?? ""]);
        }
        const [, firstCaCrl, firstMeshCrl] = published[0];
        assert.deepStrictEqual(
            [...newCaCrls(firstCaCrl), ...newCaCrls(firstMeshCrl)].map(([issuer, thisUpdate]) => [issuer, thisUpdate]),
            [
                ["newca APIC client root CA G1", "2027-01-05T11:55:00.000Z"],
                ["newca mesh CA example G2", "2027-01-05T11:55:00.000Z"],
            ],
        );
        // The same number and bytes at every later update: gateway Secrets and cacerts do not change.
        assert.deepStrictEqual(
            published.map(([time, caCrl, meshCrl]) => [
                time,
                newCaCrls(caCrl),
                newCaCrls(meshCrl),
                caCrl === firstCaCrl,
                meshCrl === firstMeshCrl,
            ]),
            published.map(([time]) => [time, newCaCrls(firstCaCrl), newCaCrls(firstMeshCrl), true, true]),
        );
    });

    it("re-publishes a new root's CRL as the prepare signed it when pulumi up makes the root a minute after the plan's clock", async () => {
        const state = seededState();
        const g0 = await renderNext(base, "newca-up-g0", state, new Date(Date.now() - 24 * hour));
        const revoked = revokingOb(g0, new Date(Date.now() - 23 * hour));
        await renderNext(revoked, "newca-up-revoked", state, new Date(Date.now() - 22 * hour));
        const prepare = { ...revoked, caRotation: { clientRoot: { generation: 1, phase: "prepare" } } };
        // As pulumi up runs it: the program plans at the machine's clock, and @pulumi/tls makes the
        // new root when the engine creates it, here a minute later.
        const up = async (planned: Date) => {
            const plan = planFromRawConfig(prepare, { deployed: deployedRecordOf(state), now: planned });
            const { engine } = await runWithStandIn(() => buildPki(plan).outputs, {
                state,
                now: () => new Date(planned.getTime() + 60_000),
            });
            const secret = engine
                .byType("kubernetes:core/v1:Secret")
                .find((r) => (r.inputs.metadata as { name: string }).name === "apic-mtls-ob");
            return (secret?.inputs.stringData as Record<string, string>)["ca.crl"];
        };
        const planned = new Date(Math.floor(Date.now() / 1000) * 1000 - 10 * hour);
        const updates = [await up(planned), await up(new Date(planned.getTime() + 2 * hour))];
        updates.push(await up(new Date(planned.getTime() + 4 * hour)));
        const first = newCaCrls(updates[0]);
        assert.deepStrictEqual(
            first.map(([issuer, thisUpdate]) => [issuer, thisUpdate]),
            [["newca APIC client root CA G1", new Date(planned.getTime() - 5 * 60_000).toISOString()]],
        );
        // The new root's CRL, byte for byte. Not the whole ca.crl: the issuing CAs' CRLs beside it
        // are re-signed at their own schedule's boundary, which these updates cross at some hours of
        // the day (the test runs on the machine's clock).
        const newRootCrl = (caCrl: string) => pemBlocks(caCrl, "X509 CRL").filter((pem) => newCaCrls(pem).length > 0);
        assert.deepStrictEqual(
            updates.map((caCrl) => [newCaCrls(caCrl), newRootCrl(caCrl)]),
            [
                [first, newRootCrl(updates[0])],
                [first, newRootCrl(updates[0])],
                [first, newRootCrl(updates[0])],
            ],
        );
        assert.strictEqual(newRootCrl(updates[0]).length, 1);
    });
});

describe("Revocation dates that are refused", () => {
    const base = {
        environment: "crl",
        option: 1,
        baseDomain: "crl.api.bank.example",
        domains: { ob: { services: ["accounts"] } },
    };
    const attempt = (revokedAt: string, now: Date): string => {
        try {
            planFromRawConfig(
                {
                    ...base,
                    revocations: [{ endpoint: "ob", serial: "0A1B", epoch: 0, reason: "keyCompromise", revokedAt }],
                },
                { now },
            );
            return "";
        } catch (error) {
            return (error as Error).message;
        }
    };
    const invalid = (got: string, hint = "") =>
        "invalid stack configuration:\n  - pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, " +
        `such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "${got}"${hint}`;

    it("refuses a date in the future or less than 5 minutes ago (a CRL dated then is not valid yet where a clock lags) and accepts 5 minutes ago", () => {
        const now = new Date("2027-01-04T12:00:00Z");
        const future = (revokedAt: string) =>
            `invalid stack configuration:\n  - pki:revocations[0].revokedAt ${revokedAt} is in the future (now is 2027-01-04T12:00:00.000Z); ` +
            "give the time the certificate was revoked, at the latest 2027-01-04T11:55:00.000Z (5 minutes before now)";
        const tooRecent = (revokedAt: string) =>
            `invalid stack configuration:\n  - pki:revocations[0].revokedAt ${revokedAt} is less than 5 minutes before now (2027-01-04T12:00:00.000Z): ` +
            "a gateway whose clock lags would refuse the APIC-client CA's CRL dated then as not yet valid, and with it every APIC client; " +
            "give a time at least 5 minutes ago, at the latest 2027-01-04T11:55:00.000Z: the certificate is refused from the update that publishes the CRL on, not from this time";
        assert.strictEqual(attempt("2027-01-05", now), future("2027-01-05"));
        assert.strictEqual(attempt("2027-01-04T12:00:01Z", now), future("2027-01-04T12:00:01Z"));
        assert.strictEqual(attempt("2027-01-04T12:00:00Z", now), tooRecent("2027-01-04T12:00:00Z"));
        assert.strictEqual(attempt("2027-01-04T11:55:01Z", now), tooRecent("2027-01-04T11:55:01Z"));
        assert.strictEqual(attempt("2027-01-04T11:55:00Z", now), "");
        assert.strictEqual(attempt("2027-01-04T12:55:00+01:00", now), "", "the same instant in another zone");
        assert.strictEqual(attempt("2027-01-04T12:55:01+01:00", now), tooRecent("2027-01-04T12:55:01+01:00"));
    });

    it("refuses a UI client's revocation less than 5 minutes ago, naming the CRL APIC checks", () => {
        const now = new Date("2027-01-04T12:00:00Z");
        const revocation = { uiClient: "consumer-dashboard", serial: "0A1B", epoch: 0, reason: "keyCompromise" };
        const plan = (revokedAt: string) =>
            planProblems(
                {
                    ...loadStackFile("examples/front-end/Pulumi.front-end.yaml"),
                    revocations: [{ ...revocation, revokedAt }],
                },
                { now },
            );
        assert.deepStrictEqual(plan("2027-01-04T11:59:00Z"), [
            "pki:revocations[0].revokedAt 2027-01-04T11:59:00Z is less than 5 minutes before now (2027-01-04T12:00:00.000Z): " +
                "a DataPower whose clock lags would refuse the UI client CA's CRL dated then (apic/ui/truststore.crl) as not yet valid, and with it every UI service that calls APIC; " +
                "give a time at least 5 minutes ago, at the latest 2027-01-04T11:55:00.000Z: the certificate is refused from the update that publishes the CRL on, not from this time",
        ]);
        assert.deepStrictEqual(plan("2027-01-04T11:55:00Z"), []);
    });

    it("refuses impossible calendar days, times without a zone and the form YAML gives an unquoted time", () => {
        const now = new Date("2027-01-04T12:00:00Z");
        assert.strictEqual(attempt("2026-02-30", now), invalid("2026-02-30"));
        assert.strictEqual(attempt("2026-11-20T09:30:00", now), invalid("2026-11-20T09:30:00"));
        assert.strictEqual(
            attempt("2026-11-20 09:30:00 +0000 UTC", now),
            invalid(
                "2026-11-20 09:30:00 +0000 UTC",
                ". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes",
            ),
        );
    });
});

describe("buildCrl: input it would encode wrongly is refused, naming it", () => {
    const WINDOW: CrlWindow = {
        thisUpdate: new Date("2027-01-01T00:00:00Z"),
        nextUpdate: new Date("2027-01-29T00:00:00Z"),
        number: 7,
    };
    const entry = (serialHex: string, revokedAt = "2026-12-31T00:00:00Z"): RevokedEntry => ({
        serialHex,
        revokedAt: new Date(revokedAt),
        reason: "keyCompromise",
    });
    /** Signed for the window's own start: a thisUpdate after the signing time is refused too. */
    const build = (revoked: RevokedEntry[], window: Partial<CrlWindow>): string => {
        const signed = { ...WINDOW, ...window };
        return buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, revoked, signed, { now: signed.thisUpdate });
    };
    const refusal = (revoked: RevokedEntry[], window: Partial<CrlWindow>): string => {
        try {
            build(revoked, window);
            return "";
        } catch (error) {
            return (error as Error).message;
        }
    };

    it("refuses a CRL number that is not a whole number from 0 to 2**53 - 1 (2**60 was an empty INTEGER, -1 negative, 1.5 written as 1)", () => {
        for (const [number, shown] of [
            [2 ** 60, "1152921504606847000"],
            [2 ** 53, "9007199254740992"],
            [-1, "-1"],
            [1.5, "1.5"],
            [NaN, "NaN"],
        ] as const) {
            assert.strictEqual(
                refusal([], { number }),
                `buildCrl: window.number ${shown} is not a CRL number; give a whole number from 0 to 9007199254740991`,
            );
        }
    });

    it("refuses a time outside 1950-9999 (a year before 1950 was written as UTCTime, read back as 20xx), and a thisUpdate not before the nextUpdate", () => {
        const outside = (name: string, shown: string) =>
            `buildCrl: ${name} ${shown} is not a time this package's X.509 dates carry; give one from 1950 to 9999`;
        assert.strictEqual(
            refusal([entry("0A"), entry("0B", "1949-12-31T23:59:59Z")], {}),
            outside("revoked[1].revokedAt", "1949-12-31T23:59:59.000Z"),
        );
        assert.strictEqual(refusal([entry("0A", "not a time")], {}), outside("revoked[0].revokedAt", "Invalid Date"));
        assert.strictEqual(
            refusal([], { thisUpdate: new Date("1949-06-01T00:00:00Z") }),
            outside("window.thisUpdate", "1949-06-01T00:00:00.000Z"),
        );
        assert.strictEqual(
            refusal([], { nextUpdate: new Date("+010000-01-01T00:00:00Z") }),
            outside("window.nextUpdate", "+010000-01-01T00:00:00.000Z"),
        );
        for (const nextUpdate of [WINDOW.thisUpdate, new Date("2026-12-31T00:00:00Z")]) {
            assert.strictEqual(
                refusal([], { nextUpdate }),
                `buildCrl: window.thisUpdate 2027-01-01T00:00:00.000Z is not before window.nextUpdate ${nextUpdate.toISOString()}; a CRL is valid from one to the other: give a nextUpdate after the thisUpdate`,
            );
        }
    });

    it("refuses a serial that is not hex, takes more than 20 octets, or is listed twice however written", () => {
        assert.strictEqual(
            refusal([entry("5A:3F")], {}),
            'buildCrl: revoked[0].serialHex "5A:3F" is not a serial number in hex; give it as `openssl x509 -serial` prints it',
        );
        // 20 bytes with the top bit set take a 21st octet: the INTEGER's sign.
        assert.strictEqual(
            refusal([entry(`80${"00".repeat(19)}`)], {}),
            `buildCrl: revoked[0].serialHex 80${"00".repeat(19)} takes 21 octets, and a serial number takes at most 20 (RFC 5280 4.1.2.2); give the serial of a certificate`,
        );
        assert.strictEqual(
            refusal([entry("01"), entry("0A"), entry("0001")], {}),
            "buildCrl: revoked[2].serialHex 0001 is the serial of revoked[0] (01) again; list each revoked certificate once",
        );
        assert.strictEqual(
            refusal([entry("ab"), entry("AB")], {}),
            "buildCrl: revoked[1].serialHex AB is the serial of revoked[0] (ab) again; list each revoked certificate once",
        );
    });

    it("refuses a thisUpdate after the time the CRL is signed for, as Envoy refuses every client with it until then, unless it is signed once ahead", async () => {
        const now = Math.floor(Date.now() / 1000) * 1000; // CRL times are whole seconds
        const hour = 3_600_000;
        const ahead = { thisUpdate: new Date(now + hour), nextUpdate: new Date(now + 28 * 86_400_000), number: 7 };
        const sign = (options: { signedOnce?: boolean; now?: Date }): string => {
            try {
                const pem = buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, [], ahead, options);
                return `signed from ${parseCrl(pem).thisUpdate.toISOString()}`;
            } catch (error) {
                return (error as Error).message;
            }
        };
        const refused = (signedFor: string) =>
            `buildCrl: window.thisUpdate ${ahead.thisUpdate.toISOString()} is after the time the CRL is signed for (${signedFor}): ` +
            "Envoy would refuse it as not yet valid until then, and with it every peer whose chain has its CA; " +
            `give a thisUpdate at the latest ${signedFor} (crlWindow gives one), or options.signedOnce for a CRL signed ahead for a later period`;
        // Without options.now, the machine's clock, read a moment after `now`.
        const asRead = (message: string) =>
            message.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, (time) =>
                Date.parse(time) >= now && Date.parse(time) <= Date.now() ? "NOW" : time,
            );
        assert.deepStrictEqual(
            [
                asRead(sign({})),
                sign({ now: new Date(now) }),
                sign({ now: ahead.thisUpdate }),
                sign({ signedOnce: true }),
            ],
            [
                refused("NOW"),
                refused(new Date(now).toISOString()),
                `signed from ${ahead.thisUpdate.toISOString()}`,
                `signed from ${ahead.thisUpdate.toISOString()}`,
            ],
        );
        // What the refusal spares: a gateway loading that CRL now refuses a client of the CA.
        const ca = { certPem: TEST_ONLY_CA_CERT_PEM, keyPem: TEST_ONLY_CA_KEY_PEM };
        const client = await mintLeaf(ca, { commonName: "apic", allowedUses: ["digital_signature", "client_auth"] });
        const caCrl = buildCrl(ca.certPem, ca.keyPem, [], ahead, { signedOnce: true });
        const [[, verdict]] = decide([
            ["now", { caCrt: ca.certPem, caCrl, chain: client.cert, purpose: "sslclient", at: new Date(now) }],
        ]);
        assert.deepStrictEqual(summary(verdict), {
            boringssl: "CRL is not yet valid",
            openssl: "CRL is not yet valid",
        });
    });

    it("signs input at the edges as before: number 0 and 2**53 - 1, a 20-octet serial, times from 1950 to 9999", () => {
        const sign = (revoked: RevokedEntry[], window: Partial<CrlWindow>) =>
            openssl(["crl", "-noout", "-text"], build(revoked, window)).output;
        assert.match(sign([], { number: 0 }), /CRL Number: ?\n\s+0\n/);
        const text = sign(
            [entry(`7F${"FF".repeat(19)}`, "1950-01-01T00:00:00Z"), entry("01", "2049-12-31T23:59:59Z")],
            {
                thisUpdate: new Date("2050-01-01T00:00:00Z"),
                nextUpdate: new Date("9999-12-31T23:59:59Z"),
                number: Number.MAX_SAFE_INTEGER,
            },
        );
        assert.match(text, /Last Update: Jan {2}1 00:00:00 2050 GMT\n\s+Next Update: Dec 31 23:59:59 9999 GMT\n/);
        assert.match(text, /CRL Number: ?\n\s+9007199254740991\n/);
        // Read back as numbers, four octets and more too (asn1-schema gives those as text, which
        // compares 10000000 before 9000000).
        const numbers = [9_000_000, 10_000_000, 2 ** 40, Number.MAX_SAFE_INTEGER].map(
            (number) => parseCrl(build([], { number })).number,
        );
        assert.deepStrictEqual(numbers, [9_000_000, 10_000_000, 2 ** 40, Number.MAX_SAFE_INTEGER]);
        assert.ok((numbers[0] ?? 0) < (numbers[1] ?? 0));
        assert.match(text, /Serial Number: 01\n\s+Revocation Date: Dec 31 23:59:59 2049 GMT\n/);
        assert.match(
            text,
            new RegExp(`Serial Number: 7F${"FF".repeat(19)}\\n\\s+Revocation Date: Jan {2}1 00:00:00 1950 GMT\\n`),
        );
    });
});
