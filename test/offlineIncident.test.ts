import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { createRoot, crlSeriesWindows, signCrlSeries } from "../lib/pki/ceremony";
import { CLOCK_SKEW_MS, CrlRecord, crlWindow, parseCrl } from "../lib/pki/crl";
import { pickSeriesCrl, seriesCrlDue, seriesCrlRecord, seriesSpan } from "../lib/pki/crlSeries";
import { validateConfig } from "../lib/config/validate";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide as lifecycleDecide } from "../lib/lifecycle/rules";
import { pemBlocks, pemDecode } from "../lib/pki/pem";
import { spkiPin } from "../lib/pki/pins";
import { ExpiryRow } from "../lib/cli/expiry";
import { planFromRawConfig } from "../lib/plan/plan";
import { ceremony, PASSPHRASE } from "./ceremonyTools";
import { addSeededKeys } from "./engineKeys";
import { apicSends, decide, gatewayCheck, summary } from "./consumers";
import {
    cli,
    gatewayServerConfig,
    loadStackFileValues,
    newStackState,
    openssl,
    opensslText,
    OPTION_FILES,
    Rendered,
    tempDir,
    writeTemp,
} from "./helpers";

const both = (verdict: string) => ({ boringssl: verdict, openssl: verdict });
const serialOf = (pem: string): string => new crypto.X509Certificate(pem).serialNumber;

/** The CRL numbers and times of a series, as openssl reads them. */
function opensslSeries(pem: string): { number: number; thisUpdate: number; nextUpdate: number }[] {
    return pemBlocks(pem, "X509 CRL").map((block) => {
        const fields = Object.fromEntries(
            openssl(["crl", "-noout", "-crlnumber", "-lastupdate", "-nextupdate"], block)
                .output.trim()
                .split("\n")
                .map((line) => line.split("=")),
        );
        return {
            number: parseInt(fields.crlNumber, 16),
            thisUpdate: Date.parse(fields.lastUpdate),
            nextUpdate: Date.parse(fields.nextUpdate),
        };
    });
}

/** The key of the series pickForTest picks from: the client root's. */
const SERIES_KEY = "pki:offlineRoots.clientRoot.crls";

/** pickSeriesCrl as these tests ask it: the client root's series, "a test" its reason, the ceremony's command elided. */
const pickForTest = (args: Omit<Parameters<typeof pickSeriesCrl>[0], "key" | "why" | "command">) =>
    pickSeriesCrl({ key: SERIES_KEY, why: "a test", command: "npx apic-istio-pki ceremony crl ...", ...args });

/**
 * A root of the tests (ECDSA, bound to apic-client) valid `validityDays`, and a signer of its weekly
 * CRL series, each CRL valid two periods, dated from `now`: `sign(from, periods, firstNumber,
 * serials)` revokes `serials` for `reason` at `now`, as the ceremony's crl does.
 */
function weeklySeries(commonName: string, validityDays: number, now: Date, reason: string) {
    const root = createRoot({
        commonName,
        binding: { environment: "example", trustDomain: "apic-client" },
        validityDays,
        keyAlgorithm: "ECDSA",
    });
    const sign = (from: Date, periods: number, firstNumber: number, serials: string[] = []): string[] => {
        const revoked = serials.map((serialHex) => ({ serialHex, revokedAt: now, reason }));
        const windows = crlSeriesWindows({
            rootCertPem: root.certPem,
            revoked,
            from,
            periodDays: 7,
            periods,
            firstNumber,
            now,
        });
        return signCrlSeries({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, revoked, windows }).map(
            (c) => c.pem,
        );
    };
    return { root, sign };
}

describe("Offline roots: revocation and CA retirement with the ceremony, end to end with render --state", function () {
    this.timeout(120_000);
    const dir = tempDir("offline-incident");
    const clientRoot = path.join(dir, "client-root");
    const stateFile = path.join(dir, "state.json");
    const csrOf = (render: string, id: string): string => path.join(dir, render, "csr", `${id}.csr`);
    // Option 1 with ECDSA leaves to stay fast; CA keys stay RSA (their CRLs are signed online).
    const base = { ...loadStackFileValues(OPTION_FILES[1]), keyAlgorithm: "ECDSA" };
    let rootCertPem: string;
    let firstCa: string;
    let withRoot: Record<string, unknown>;
    let deployed: Rendered;

    /**
     * The deployments' clock: CLOCK_SKEW_MS ahead of the machine's, where the ceremony runs, as a
     * pipeline deploys a series at least that long after the ceremony signed it: the stack takes
     * no CRL of a series younger (a node whose clock lags would refuse it, and every peer with it).
     */
    const deployClock = (): Date => new Date(Date.now() + CLOCK_SKEW_MS);

    /** `raw` as the stack file DIR/Pulumi.<name>.yaml. */
    const stackFile = (name: string, raw: Record<string, unknown>): string =>
        writeTemp(
            dir,
            `Pulumi.${name}.yaml`,
            // JSON is YAML with every string quoted, as times must be (Pulumi reads an unquoted one as a timestamp).
            JSON.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
        );
    /**
     * `render --config <raw as a stack file> --out DIR/<name> --state DIR/state.json --now <now>`,
     * the way an operator runs it; `now` by default deployClock() (a test that computes what the
     * render prints from its clock gives it).
     */
    async function render(
        name: string,
        raw: Record<string, unknown>,
        now = deployClock(),
        state = stateFile,
        ...flags: string[]
    ) {
        const file = stackFile(name, raw);
        const out = path.join(dir, name);
        addSeededKeys(state);
        const result = await cli(
            "render",
            ...["--config", file, "--out", out, "--state", state, "--now", now.toISOString(), ...flags],
        );
        // What the consumers below read of a render: its plan (endpoints, clusters) and its files.
        const rendered = (): Rendered =>
            ({
                plan: planFromRawConfig(raw, { now }),
                dir: out,
                read: (f: string) => fs.readFileSync(path.join(out, f), "utf8"),
            }) as Rendered;
        return { ...result, rendered };
    }
    const offline = (intermediates: Record<string, string>, crls = "") => ({
        clientRoot: { certificate: rootCertPem, intermediates, ...(crls !== "" ? { crls } : {}) },
    });
    const sign = async (csr: string, out: string): Promise<string> => {
        const signed = await ceremony(PASSPHRASE, "sign", "--root", clientRoot, "--csr", csr, "--out", out, "--yes");
        assert.strictEqual(signed.status, 0, signed.err);
        return fs.readFileSync(out, "utf8");
    };
    /** Runs the `ceremony crl` command a stack's message names, with the root folder and output filled in. */
    async function runNamedCommand(message: string, out: string): Promise<string> {
        const command = /run "npx apic-istio-pki ceremony (crl [^"]+)"/.exec(message)?.[1];
        assert.ok(command, message);
        const argv = command
            .replace("<the clientRoot folder>", clientRoot)
            .replace("--out crls.pem", `--out ${out}`)
            .split(" ");
        const result = await ceremony(PASSPHRASE, ...argv, "--yes");
        assert.strictEqual(result.status, 0, result.err);
        return fs.readFileSync(out, "utf8");
    }

    before(async () => {
        const init = await ceremony(
            PASSPHRASE,
            ...["init-root", "--out", clientRoot, "--environment", "example", "--trust-domain", "apic-client"],
            ...["--key", "ECDSA"],
            ...["--cn", "Example Bank APIC Client Root", "--org", "Example Bank"],
        );
        assert.strictEqual(init.status, 0, init.err);
        rootCertPem = fs.readFileSync(path.join(clientRoot, "root.crt"), "utf8");
        // The run's engine state (CA keys made once), as a stack's state holds its keys between updates.
        writeTemp(dir, "state.json", JSON.stringify({ environment: "example", resources: [...newStackState()] }));
        const pending = await render("pending", { ...base, offlineRoots: offline({}) });
        assert.strictEqual(pending.status, 1, pending.err);
        assert.match(
            pending.err,
            /the offline roots have not signed apic-client-ca \(pki:offlineRoots\.clientRoot\.intermediates\.apic-client-ca\) yet/,
        );
        firstCa = await sign(csrOf("pending", "apic-client-ca"), path.join(dir, "apic-client-ca.crt"));
        withRoot = { ...base, offlineRoots: offline({ "apic-client-ca": firstCa }) };
        const first = await render("deployed", withRoot);
        assert.strictEqual(first.status, 0, first.err);
        deployed = first.rendered();
    });

    it("rehearses the ceremony in one output folder: the render with the signed CA is refused there without --force, and with a certificate beside its CSR even with --force; with --force it replaces the CSRs", async () => {
        // A state of its own that holds the CA key the ceremony signed, so that firstCa certifies it.
        const state = path.join(dir, "rehearsal.state.json");
        fs.copyFileSync(stateFile, state);
        const out = path.join(dir, "rehearsal");
        const waiting = await render("rehearsal", { ...base, offlineRoots: offline({}) }, deployClock(), state);
        assert.strictEqual(waiting.status, 1, waiting.err);
        assert.deepStrictEqual(fs.readdirSync(out).sort(), ["csr", "pending.json"]);
        assert.deepStrictEqual(fs.readdirSync(path.join(out, "csr")), ["apic-client-ca.csr"]);
        const stateBefore = fs.readFileSync(state);

        // What `ceremony sign --csr rehearsal/csr/apic-client-ca.csr` writes without --out.
        const besideCsr = path.join(out, "csr", "apic-client-ca.crt");
        fs.writeFileSync(besideCsr, firstCa);
        const foreign = await render("rehearsal", withRoot, deployClock(), state, "--force");
        assert.deepStrictEqual(
            [foreign.status, foreign.err],
            [
                1,
                `error: output folder ${out} holds files that are not a render's (csr/apic-client-ca.crt); --force only replaces an earlier render: choose another --out\n`,
            ],
        );
        fs.rmSync(besideCsr);
        const unforced = await render("rehearsal", withRoot, deployClock(), state);
        assert.deepStrictEqual(
            [unforced.status, unforced.err],
            [
                1,
                `error: output folder ${out} holds an earlier render; pass --force to replace it, or choose another --out\n`,
            ],
        );
        assert.ok(fs.readFileSync(state).equals(stateBefore), "a refused render leaves the state as it was");

        const forced = await render("rehearsal", withRoot, deployClock(), state, "--force");
        assert.strictEqual(forced.status, 0, forced.err);
        assert.ok(!fs.existsSync(path.join(out, "csr")), "the first render's CSRs are replaced");
        assert.ok(
            forced.rendered().read("apic/ob/ca-chain.pem").includes(firstCa.trim()),
            "the chain holds the signed CA",
        );
    });

    let revokedConfig: Record<string, unknown>;
    let revoked: Rendered;
    let firstSeries: string;

    it("revokes an APIC client under an offline client root: refused until the ceremony's CRL series is given, then the revoked client is rejected under Envoy's rules", async () => {
        const serial = serialOf(deployed.read("apic/ob/client.crt"));
        const revocations = [
            {
                endpoint: "ob",
                serial,
                epoch: 0,
                reason: "keyCompromise",
                // The latest the deployments' clock takes, and not before the certificate was issued.
                revokedAt: new Date(deployClock().getTime() - CLOCK_SKEW_MS).toISOString(),
            },
        ];
        const refused = await render("revoke-refused", { ...withRoot, revocations });
        assert.strictEqual(refused.status, 1);
        assert.strictEqual(
            refused.err,
            "invalid stack configuration:\n" +
                `  - pki:offlineRoots.clientRoot.crls is needed: pki:revocations revokes an APIC client (serial ${serial} of ob), ` +
                "so the gateway's ca.crl must hold a CRL of every CA of a client's chain, this root's included; " +
                'on the offline machine run "npx apic-istio-pki ceremony crl --root <the clientRoot folder> --period-days 7 --periods 13 --out crls.pem" ' +
                "and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes\n",
        );
        firstSeries = await runNamedCommand(refused.err, path.join(dir, "crls-1.pem"));
        revokedConfig = { ...withRoot, revocations, offlineRoots: offline({ "apic-client-ca": firstCa }, firstSeries) };
        const done = await render("revoked", revokedConfig);
        assert.strictEqual(done.status, 0, done.err);
        revoked = done.rendered();

        const caCrl = gatewayServerConfig(revoked, "ob").caCrl ?? "";
        assert.deepStrictEqual(
            pemBlocks(caCrl, "X509 CRL")
                .map((crl) => parseCrl(crl).issuerCommonName)
                .sort(),
            ["Example Bank APIC Client Root", "example APIC client CA"],
        );
        assert.ok(caCrl.includes(pemBlocks(firstSeries, "X509 CRL")[0]), "the root's CRL is the series' CRL valid now");
        const checkedAt = deployClock(); // after the render, whose clients are issued at its clock
        const [[, reissued], [, old], [, other]] = decide([
            ["re-issued", gatewayCheck(revoked, "ob", apicSends(revoked, "ob"), checkedAt)],
            [
                "revoked, were its key still pinned",
                {
                    ...gatewayCheck(revoked, "ob", apicSends(deployed, "ob"), checkedAt),
                    verifyCertificateSpki: gatewayServerConfig(deployed, "ob").verifyCertificateSpki ?? [],
                },
            ],
            ["another endpoint, with ca.crl", gatewayCheck(revoked, "dp", apicSends(revoked, "dp"), checkedAt)],
        ]);
        assert.deepStrictEqual(summary(reissued), both("ok"));
        assert.deepStrictEqual(summary(old), both("certificate revoked"));
        assert.deepStrictEqual(summary(other), both("ok"));
    });

    it("records the series' CRL it published, so that the pipeline re-publishes once the series holds the next one", async () => {
        const published = pemBlocks(firstSeries, "X509 CRL")[0];
        const { thisUpdate, nextUpdate } = parseCrl(published);
        const deployedRevoked = readDeployed(revoked.dir);
        assert.deepStrictEqual(deployedRevoked.record.crls?.["client-root"], {
            number: 1,
            digest: crypto.createHash("sha256").update(pemDecode(published, "X509 CRL")).digest("hex"),
            thisUpdate: thisUpdate.toISOString(),
            nextUpdate: nextUpdate.toISOString(),
            renewal: "series",
            published: true,
            signer: spkiPin(rootCertPem),
        });
        const day = (d: Date) => d.toISOString().slice(0, 10);
        const week = new Date(thisUpdate.getTime() + 7 * 86_400_000);
        const due = lifecycleDecide({
            config: validateConfig(revokedConfig, deployClock()), // as the update took it
            deployed: deployedRevoked,
            now: new Date(week.getTime() + CLOCK_SKEW_MS), // once the week's CRL is CLOCK_SKEW_MS old
            soakDays: 7,
        });
        assert.deepStrictEqual(
            due.republishWhy.filter((why) => why.includes("client-root")),
            [
                `the CRL of client-root published is the one of pki:offlineRoots.clientRoot.crls from ${day(thisUpdate)} (valid until ${day(nextUpdate)}); ` +
                    `the series' CRL from ${day(week)} is valid now`,
            ],
        );
    });

    it("has expiry warn --warn-days before the CRL series ends, when a ceremony must sign the next, though each CRL of it is fine", async () => {
        // A rehearsal beside the incident: a copy of the root folder (its CRL numbers) and of the stack's state.
        const root = path.join(dir, "client-root-rehearsal");
        fs.cpSync(clientRoot, root, { recursive: true });
        const state = path.join(dir, "state-rehearsal.json");
        fs.copyFileSync(stateFile, state);
        const crlsFile = path.join(dir, "crls-short.pem");
        const signed = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", root, "--period-days", "7", "--periods", "5", "--out", crlsFile, "--yes"],
        );
        assert.strictEqual(signed.status, 0, signed.err);
        const pems = pemBlocks(fs.readFileSync(crlsFile, "utf8"), "X509 CRL");
        const series = pems.map(parseCrl);
        const ends = series[4].nextUpdate; // six weeks after the first CRL's thisUpdate
        // Rendered once the last CRL is CLOCK_SKEW_MS old: the stack publishes it, valid two weeks.
        const at = new Date(series[4].thisUpdate.getTime() + CLOCK_SKEW_MS);
        const raw = { ...revokedConfig, offlineRoots: offline({ "apic-client-ca": firstCa }, pems.join("")) };
        const done = await render("short-series", raw, at, state);
        assert.strictEqual(done.status, 0, done.err);
        const out = done.rendered().dir;
        const key = "pki:offlineRoots.clientRoot.crls";
        const inventory = path.join(out, "inventory.json");
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(inventory, "utf8")).crlSeries, [
            {
                key,
                issuer: "Example Bank APIC Client Root",
                from: series[0].thisUpdate.toISOString(),
                ends: ends.toISOString(),
            },
        ]);
        const expiry = async (...args: string[]) => {
            const result = await cli("expiry", "--dir", out, "--now", at.toISOString(), "--format", "json", ...args);
            const rows = (JSON.parse(result.out) as { rows: ExpiryRow[] }).rows;
            const row = (kind: string, subject: string) => {
                const r = rows.find((r) => r.kind === kind && r.subject === subject);
                return [r?.status, r?.daysLeft, r?.notAfter, r?.renewAt];
            };
            return {
                status: result.status,
                due: rows.filter((r) => r.due).map((r) => r.subject),
                series: row("crl series", `CRL series of Example Bank APIC Client Root (${key})`),
                crl: row("crl", "CRL of Example Bank APIC Client Root (0 revoked)"),
            };
        };
        const day = 86_400_000;
        // Two weeks left: the CRL published is not due (half its validity is left), the series is, 30 days ahead.
        assert.deepStrictEqual(await expiry(), {
            status: 1,
            due: [`CRL series of Example Bank APIC Client Root (${key})`],
            series: ["ceremony soon", 13, ends.toISOString(), new Date(ends.getTime() - 30 * day).toISOString()],
            crl: ["ok", 13, ends.toISOString(), new Date(ends.getTime() - 7 * day).toISOString()],
        });
        // A series is due within --warn-days of its end, as a certificate: not 13 days and 23 hours ahead with 13.
        assert.deepStrictEqual(await expiry("--warn-days", "13"), {
            status: 0,
            due: [],
            series: ["ok", 13, ends.toISOString(), new Date(ends.getTime() - 13 * day).toISOString()],
            crl: ["ok", 13, ends.toISOString(), new Date(ends.getTime() - 7 * day).toISOString()],
        });
        const text = await cli("expiry", "--dir", out, "--now", at.toISOString());
        assert.strictEqual(
            text.out.split("\n").at(-2),
            `0 of 10 certificates, 0 of 2 CRLs and 1 of 1 CRL series due: CRL series of Example Bank APIC Client Root (${key}) ends ${ends.toISOString()}: ceremony needed (ceremony crl)`,
        );
        // Once it has ended: named apart from the CRL that expired with it, which no re-publication replaces.
        const after = await cli("expiry", "--dir", out, "--now", new Date(ends.getTime() + 1000).toISOString());
        assert.strictEqual(after.status, 1);
        assert.ok(
            after.out.includes(
                `: CRL of Example Bank APIC Client Root (0 revoked) (expired); CRL series of Example Bank APIC Client Root (${key}) ended ${ends.toISOString()}: ceremony needed (ceremony crl)`,
            ),
            after.out,
        );
    });

    it("has expiry and lifecycle count the series' end at its first gap, where render refuses, not at the last CRL's", async () => {
        // A rehearsal beside the incident, as above: two series pasted together, the second from 5 weeks on.
        const root = path.join(dir, "client-root-gap");
        fs.cpSync(clientRoot, root, { recursive: true });
        const state = path.join(dir, "state-gap.json");
        fs.copyFileSync(stateFile, state);
        const signSeries = async (name: string, ...extra: string[]) => {
            const file = path.join(dir, name);
            const signed = await ceremony(
                PASSPHRASE,
                ...["crl", "--root", root, "--period-days", "7", "--periods", "2", "--out", file, "--yes", ...extra],
            );
            assert.strictEqual(signed.status, 0, signed.err);
            return pemBlocks(fs.readFileSync(file, "utf8"), "X509 CRL");
        };
        const first = await signSeries("crls-gap-1.pem");
        const start = parseCrl(first[0]).thisUpdate;
        const later = new Date(start.getTime() + 35 * 86_400_000).toISOString();
        const second = await signSeries("crls-gap-2.pem", "--from", later);
        const ends = parseCrl(first[1]).nextUpdate; // 3 weeks on; the second series ends 7 weeks on
        // Never before the state's last render (at the deployments' clock), which may have run later
        // in the CRL's whole second.
        const at = new Date(Math.max(start.getTime() + CLOCK_SKEW_MS, deployClock().getTime()));
        const raw = {
            ...revokedConfig,
            offlineRoots: offline({ "apic-client-ca": firstCa }, [...first, ...second].join("")),
        };
        const done = await render("gap-series", raw, at, state);
        assert.strictEqual(done.status, 0, done.err);
        const out = done.rendered().dir;
        const key = "pki:offlineRoots.clientRoot.crls";
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(out, "inventory.json"), "utf8")).crlSeries, [
            { key, issuer: "Example Bank APIC Client Root", from: start.toISOString(), ends: ends.toISOString() },
        ]);
        // Render refuses from that end on: the series' next CRL starts 2 weeks later.
        const refused = await render("gap-series-refused", raw, ends, state);
        assert.strictEqual(refused.status, 1);
        assert.ok(
            refused.err.includes(`${key} has no CRL valid at ${ends.toISOString()}: its next CRL starts at ${later}`),
            refused.err,
        );
        const expiry = await cli("expiry", "--dir", out, "--now", at.toISOString(), "--format", "json");
        const row = (JSON.parse(expiry.out) as { rows: ExpiryRow[] }).rows.find((r) => r.kind === "crl series");
        assert.strictEqual(expiry.status, 1);
        assert.deepStrictEqual(
            [row?.status, row?.due, row?.daysLeft, row?.notAfter],
            ["ceremony soon", true, 20, ends.toISOString()],
        );
        const decision = lifecycleDecide({
            config: validateConfig(raw, deployClock()),
            deployed: readDeployed(out),
            now: at,
            soakDays: 7,
        });
        assert.deepStrictEqual(
            decision.needsHuman.filter((need) => need.includes("CRL series")),
            [
                `the CRL series of the offline root ${key} ends on ${ends.toISOString().slice(0, 10)}: ` +
                    `sign a new series on the offline machine ("npx apic-istio-pki ceremony crl") and replace ${key} before then`,
            ],
        );
    });

    let secondSeries: string;
    let signedG1: string;
    let finishConfig: Record<string, unknown>;
    let finished: Rendered;

    it("rotates the APIC-client CA under the offline root: prepare waits for the ceremony, sign, switch, finish needs the root's CRL revoking the old CA, whose clients are then rejected", async () => {
        const at = (phase: string, intermediates: Record<string, string>, crls = firstSeries) => ({
            ...revokedConfig,
            caRotation: { apicClientCa: { generation: 1, phase } },
            offlineRoots: offline(intermediates, crls),
        });
        const waiting = await render("prepare-pending", at("prepare", { "apic-client-ca": firstCa }));
        assert.strictEqual(waiting.status, 1);
        assert.match(
            waiting.err,
            /^error: the offline roots have not signed apic-client-ca-g1 \(pki:offlineRoots\.clientRoot\.intermediates\.apic-client-ca-g1\) yet: /,
        );
        assert.deepStrictEqual(
            planFromRawConfig(at("prepare", { "apic-client-ca": firstCa }), { now: deployClock() })
                .pendingIntermediates,
            ["apic-client-ca-g1"],
        );
        const newCa = await sign(
            csrOf("prepare-pending", "apic-client-ca-g1"),
            path.join(dir, "apic-client-ca-g1.crt"),
        );
        assert.match(
            opensslText(newCa),
            /Subject: O = Example Bank, CN = example APIC client CA G1\n[\s\S]*CA:TRUE, pathlen:0\n/,
        );
        signedG1 = newCa;
        const signedCas = { "apic-client-ca": firstCa, "apic-client-ca-g1": newCa };
        const prepare = await render("prepare", at("prepare", signedCas));
        assert.strictEqual(prepare.status, 0, prepare.err);
        const switched = await render("switch", at("switch", signedCas));
        assert.strictEqual(switched.status, 0, switched.err);

        finishConfig = at("finish", { "apic-client-ca-g1": newCa });
        // The refusal's time comes from the render's clock: a second reading could lie in the next CRL period.
        const refusedAt = deployClock();
        const refused = await render("finish-refused", finishConfig, refusedAt);
        const oldSerial = serialOf(firstCa);
        // The CRL period's start, or the old CA's notBefore when it was signed in this period (as here).
        const retiredAt = new Date(
            Math.max(
                crlWindow(refusedAt, 7).thisUpdate.getTime(),
                Date.parse(new crypto.X509Certificate(firstCa).validFrom),
            ),
        ).toISOString();
        const serial = serialOf(deployed.read("apic/ob/client.crt"));
        assert.strictEqual(refused.status, 1);
        assert.strictEqual(
            refused.err,
            "invalid stack configuration:\n" +
                `  - pki:offlineRoots.clientRoot.crls: the CRL valid now does not revoke ${oldSerial} (pki:revocations revokes an APIC client (serial ${serial} of ob), ` +
                "so the gateway's ca.crl must hold a CRL of every CA of a client's chain, this root's included; " +
                `its retired CA apic-client-ca (serial ${oldSerial}) must be revoked by this root); ` +
                `on the offline machine run "npx apic-istio-pki ceremony crl --root <the clientRoot folder> --period-days 7 --periods 13 --revoke ${oldSerial}:superseded:${retiredAt} --out crls.pem" ` +
                "and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes\n",
        );
        secondSeries = await runNamedCommand(refused.err, path.join(dir, "crls-2.pem"));
        const finish = await render("finish", at("finish", { "apic-client-ca-g1": newCa }, secondSeries));
        assert.strictEqual(finish.status, 0, finish.err);

        const [p, s, f] = [prepare, switched, finish].map((r) => r.rendered());
        finished = f;
        const oldClient = apicSends(p, "dp");
        const pinnedBefore = { verifyCertificateSpki: gatewayServerConfig(p, "dp").verifyCertificateSpki ?? [] };
        // The old CA's own CRL, as the switch phase published it: with it, only the root's CRL can stop the old CA.
        const oldCaCrl = pemBlocks(gatewayServerConfig(s, "dp").caCrl ?? "", "X509 CRL").find(
            (crl) => parseCrl(crl).issuerCommonName === "example APIC client CA",
        );
        assert.ok(oldCaCrl);
        const checkedAt = deployClock(); // after the renders, whose clients are issued at their clocks
        const finishCheck = gatewayCheck(f, "dp", oldClient, checkedAt);
        const [[, inPrepare], [, inSwitch], [, current], [, oldCaClient], [, oldCaClientWithItsCrl]] = decide([
            ["the old CA's client during prepare", gatewayCheck(p, "dp", oldClient, checkedAt)],
            ["the new CA's client during switch", gatewayCheck(s, "dp", apicSends(s, "dp"), checkedAt)],
            ["the new CA's client after finish", gatewayCheck(f, "dp", apicSends(f, "dp"), checkedAt)],
            ["the old CA's client after finish, were its key still pinned", { ...finishCheck, ...pinnedBefore }],
            [
                "the same with the old CA's own CRL at hand",
                { ...finishCheck, ...pinnedBefore, caCrl: `${finishCheck.caCrl ?? ""}${oldCaCrl}` },
            ],
        ]);
        assert.deepStrictEqual([inPrepare, inSwitch, current].map(summary), [both("ok"), both("ok"), both("ok")]);
        assert.deepStrictEqual(summary(oldCaClient), both("unable to get certificate CRL"));
        assert.deepStrictEqual(summary(oldCaClientWithItsCrl), both("certificate revoked"));
        assert.deepStrictEqual(
            parseCrl(
                pemBlocks(finishCheck.caCrl ?? "", "X509 CRL").find(
                    (c) => parseCrl(c).issuerCommonName === "Example Bank APIC Client Root",
                ) ?? "",
            ).revokedSerials,
            [oldSerial],
        );
    });

    it("has diff refuse, as render does, a finish whose offline root's CRL series does not revoke the old CA, named by its serial in the base's stack file", async () => {
        // No revocation: the finish alone needs the root's CRL, which only the ceremony can sign.
        const at = (name: string, phase: string, intermediates: Record<string, string>, crls = "") =>
            stackFile(name, {
                ...withRoot,
                caRotation: { apicClientCa: { generation: 1, phase } },
                offlineRoots: offline(intermediates, crls),
            });
        const base = at("diff-switch", "switch", { "apic-client-ca": firstCa, "apic-client-ca-g1": signedG1 });
        const diff = (head: string) => cli("diff", "--base", base, "--head", head, "--fail-on", "risky");
        const oldSerial = serialOf(firstCa);
        const now = new Date(); // diff's clock
        const retiredAt = new Date(
            Math.max(crlWindow(now, 7).thisUpdate.getTime(), Date.parse(new crypto.X509Certificate(firstCa).validFrom)),
        ).toISOString();
        const crlsNeeded =
            `pki:offlineRoots.clientRoot.crls is needed: its retired CA apic-client-ca (serial ${oldSerial}) must be revoked by this root; ` +
            `on the offline machine run "npx apic-istio-pki ceremony crl --root <the clientRoot folder> --period-days 7 --periods 13 --revoke ${oldSerial}:superseded:${retiredAt} --out crls.pem" ` +
            "and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes";
        const finish = at("diff-finish", "finish", { "apic-client-ca-g1": signedG1 });
        const kept = at("diff-finish-kept", "finish", { "apic-client-ca": firstCa, "apic-client-ca-g1": signedG1 });
        const [refused, keptRefused] = [await diff(finish), await diff(kept)];
        assert.deepStrictEqual(
            [refused.status, refused.out, refused.err, keptRefused.status, keptRefused.err],
            [
                1,
                "",
                `invalid stack configuration in --head ${finish}:\n  - ${crlsNeeded}\n`,
                1,
                // One refusal asks for both, as render's does.
                `invalid stack configuration in --head ${kept}:\n` +
                    "  - pki:offlineRoots.clientRoot.intermediates.apic-client-ca is a CA generation this stack no longer has (the finish of its rotation retired it): " +
                    "remove it from pki:offlineRoots.clientRoot.intermediates; this root's CAs are apic-client-ca-g1\n" +
                    `  - ${crlsNeeded}\n`,
            ],
        );
        // The series revoking it, which the ceremony signed seconds ago (for the render at deployClock,
        // CLOCK_SKEW_MS ahead): diff, which has no --now, says to run diff again once it has settled.
        const youngFinish = at("diff-finish-young", "finish", { "apic-client-ca-g1": signedG1 }, secondSeries);
        const waiting = await diff(youngFinish);
        const from = parseCrl(pemBlocks(secondSeries, "X509 CRL")[0]).thisUpdate;
        const diffNow = /\(now is (\S+)\)/.exec(waiting.err)?.[1];
        assert.deepStrictEqual(
            [waiting.status, waiting.out, waiting.err],
            [
                1,
                "",
                `invalid stack configuration in --head ${youngFinish}:\n` +
                    `  - pki:offlineRoots.clientRoot.crls: its CRL valid from ${from.toISOString()} is less than 5 minutes old (now is ${diffNow}) ` +
                    `and no older one of the series revoking ${oldSerial} is valid now: Envoy checks a CRL's thisUpdate against the node's clock with no allowance, ` +
                    "so a node whose clock lags would refuse it, and with it every peer under this root " +
                    `(its retired CA apic-client-ca (serial ${oldSerial}) must be revoked by this root); ` +
                    `run diff again from ${new Date(from.getTime() + CLOCK_SKEW_MS).toISOString()}\n`,
            ],
        );
    });

    it("has expiry count the series' end where its CRLs stop revoking the retired CA, though an older series runs on", async () => {
        // A rehearsal: the first series (13 weeks, no retired CA) and a short one of 2 weeks revoking it.
        const root = path.join(dir, "client-root-short-revoking");
        fs.cpSync(clientRoot, root, { recursive: true });
        const state = path.join(dir, "state-short-revoking.json");
        fs.copyFileSync(stateFile, state);
        const [retired] = readDeployed(finished.dir).record.retired;
        const file = path.join(dir, "crls-short-revoking.pem");
        const signed = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", root, "--period-days", "7", "--periods", "2", "--out", file, "--yes"],
            ...["--revoke", `${retired.serialHex}:superseded:${retired.revokedAt}`],
        );
        assert.strictEqual(signed.status, 0, signed.err);
        const short = pemBlocks(fs.readFileSync(file, "utf8"), "X509 CRL");
        const ends = parseCrl(short[1]).nextUpdate; // 3 weeks on; the first series ends 14 weeks after it started
        // Once the short series may be taken, and never before the state's last render (at the
        // deployments' clock): the CRL's thisUpdate is in whole seconds, that render's clock is not.
        const at = new Date(Math.max(parseCrl(short[0]).thisUpdate.getTime() + CLOCK_SKEW_MS, deployClock().getTime()));
        const offlineRoots = finishConfig.offlineRoots as { clientRoot: Record<string, unknown> };
        const raw = {
            ...finishConfig,
            offlineRoots: { clientRoot: { ...offlineRoots.clientRoot, crls: firstSeries + short.join("") } },
        };
        const done = await render("short-revoking", raw, at, state);
        assert.strictEqual(done.status, 0, done.err);
        const out = done.rendered().dir;
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(out, "inventory.json"), "utf8")).crlSeries, [
            {
                key: "pki:offlineRoots.clientRoot.crls",
                issuer: "Example Bank APIC Client Root",
                from: parseCrl(pemBlocks(firstSeries, "X509 CRL")[0]).thisUpdate.toISOString(),
                ends: ends.toISOString(),
            },
        ]);
        const expiry = await cli("expiry", "--dir", out, "--now", at.toISOString(), "--format", "json");
        const row = (JSON.parse(expiry.out) as { rows: ExpiryRow[] }).rows.find((r) => r.kind === "crl series");
        assert.strictEqual(expiry.status, 1);
        assert.deepStrictEqual(
            [row?.status, row?.due, row?.daysLeft, row?.notAfter],
            ["ceremony soon", true, 20, ends.toISOString()],
        );
        // Render refuses from that end on: the first series' CRL valid then does not revoke the retired CA.
        const refused = await render("short-revoking-refused", raw, ends, state);
        assert.strictEqual(refused.status, 1);
        assert.ok(refused.err.includes(`the CRL valid now does not revoke ${retired.serialHex} (`), refused.err);
    });

    it("refuses a root bound to another environment, in the stack and in the ceremony", async () => {
        const sitRoot = path.join(dir, "sit-root");
        const init = await ceremony(
            PASSPHRASE,
            ...[
                "init-root",
                "--out",
                sitRoot,
                "--environment",
                "sit",
                "--trust-domain",
                "apic-client",
                "--cn",
                "Example Bank SIT Client Root",
                "--key",
                "ECDSA",
            ],
        );
        assert.strictEqual(init.status, 0, init.err);
        const sitCertPem = fs.readFileSync(path.join(sitRoot, "root.crt"), "utf8");
        assert.throws(() => planFromRawConfig({ ...base, offlineRoots: { clientRoot: { certificate: sitCertPem } } }), {
            message:
                "invalid stack configuration:\n" +
                '  - pki:offlineRoots.clientRoot.certificate is the root of environment "sit" (its subject has OU=apic-istio-pki sit apic-client), ' +
                'not of this stack\'s pki:environment "example"; each environment needs its own root: ' +
                'make one with "npx apic-istio-pki ceremony init-root --environment example --trust-domain apic-client" and set pki:offlineRoots.clientRoot to it',
        });
        const csr = csrOf("pending", "apic-client-ca");
        const refused = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            sitRoot,
            "--csr",
            csr,
            "--out",
            path.join(dir, "sit.crt"),
            "--yes",
        );
        assert.strictEqual(refused.status, 1);
        assert.strictEqual(
            refused.err,
            `error: ${csr}: the CSR's common name "example APIC client CA" is not a CA of environment "sit", the environment this root was made for ` +
                '(its subject has OU=apic-istio-pki sit apic-client): this root signs "sit APIC client CA", ' +
                "with \" G<n>\" after a rotation; sign another environment's CSR with that environment's own root\n",
        );
        assert.ok(!fs.existsSync(path.join(dir, "sit.crt")));
    });

    it("numbers the CRLs strictly increasing across ceremonies, leaves no gap, and refuses revocation dates that are not real, in the future or after the series starts", async () => {
        const [first, second] = [firstSeries, secondSeries].map(opensslSeries);
        const numbers = [...first, ...second].map((c) => c.number);
        assert.deepStrictEqual(
            numbers,
            Array.from({ length: 26 }, (_, i) => i + 1),
        );
        for (const series of [first, second]) {
            for (const [i, crl] of series.entries()) {
                assert.strictEqual(crl.nextUpdate - crl.thisUpdate, 14 * 86_400_000, "each CRL is valid two periods");
                if (i > 0) assert.strictEqual(crl.thisUpdate, series[i - 1].thisUpdate + 7 * 86_400_000);
                if (i > 0) assert.ok(crl.thisUpdate < series[i - 1].nextUpdate, "no gap");
            }
        }
        for (const crl of pemBlocks(secondSeries, "X509 CRL")) {
            const verified = openssl(["crl", "-noout", "-CAfile", path.join(clientRoot, "root.crt")], crl);
            assert.match(verified.output, /verify OK/);
        }
        const oldSerial = serialOf(firstCa);
        const crl = (...extra: string[]) =>
            ceremony(
                PASSPHRASE,
                "crl",
                "--root",
                clientRoot,
                "--period-days",
                "7",
                "--periods",
                "2",
                "--out",
                path.join(dir, "never.pem"),
                "--yes",
                ...extra,
            );
        const notReal = await crl("--revoke", `${oldSerial}:superseded:2026-02-30`);
        assert.strictEqual(notReal.status, 2);
        assert.strictEqual(
            notReal.err.split("\n")[0],
            `error: --revoke ${oldSerial}:superseded: the time must be an ISO 8601 date or time with its zone on a real calendar day, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-02-30"`,
        );
        const future = new Date(Date.now() + 86_400_000).toISOString();
        const inFuture = await crl("--revoke", `${oldSerial}:superseded:${future}`);
        assert.strictEqual(inFuture.status, 1);
        assert.match(
            inFuture.err,
            new RegExp(
                `^error: --revoke ${oldSerial}: revoked at ${future}, which is in the future \\(now \\S+\\); give the time it was revoked\n$`,
            ),
        );
        // Both times after the old CA was issued (and so after the root was made), one second apart.
        const issued = Date.parse(new crypto.X509Certificate(firstCa).validFrom);
        const [start, revokedAt] = [issued, issued + 1000].map((t) => new Date(t).toISOString());
        const afterStart = await crl("--revoke", `${oldSerial}:superseded:${revokedAt}`, "--from", start);
        assert.strictEqual(
            afterStart.err,
            `error: --revoke ${oldSerial}: revoked at ${revokedAt}, after the series starts (--from ${start}); ` +
                `a CRL never lists a revocation later than its thisUpdate: start the series at ${revokedAt} or later\n`,
        );
        // Named by the last CRL of the series that listed it (14 to 26), whose revocation the fix repeats.
        const dropped = await crl();
        assert.match(
            dropped.err,
            new RegExp(
                `^error: CRL 26 revoked serial ${oldSerial}, which is valid until \\S+; every later CRL must list it until then: add --revoke ${oldSerial}:superseded:\\S+\n$`,
            ),
        );
        const unknown = await crl("--revoke", "0BADC0DE:keyCompromise:2026-01-01");
        assert.strictEqual(
            unknown.err,
            `error: --revoke 0BADC0DE: this root never signed that serial (${path.join(clientRoot, "issuance.log")} has no certificate with it); copy the serial the stack's message names\n`,
        );
        assert.ok(!fs.existsSync(path.join(dir, "never.pem")), "nothing was written");
    });
});

describe("The stack's pick from a ceremony's CRL series", () => {
    it("names a missing serial as the record spells it, a leading zero included", () => {
        const root = createRoot({
            commonName: "Pick Root",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays: 30,
            keyAlgorithm: "ECDSA",
        });
        const now = new Date();
        const windows = crlSeriesWindows({
            rootCertPem: root.certPem,
            revoked: [],
            from: now,
            periodDays: 1,
            periods: 2,
            firstNumber: 1,
            now,
        });
        const series = signCrlSeries({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, revoked: [], windows });
        const pick = (required: string[]) =>
            pickForTest({
                series: series.map((c) => c.pem),
                rootCertPem: root.certPem,
                now: new Date(now.getTime() + CLOCK_SKEW_MS), // the first CRL is taken once that old
                required,
            });
        assert.deepStrictEqual(pick(["0ABC"]), {
            problem:
                'pki:offlineRoots.clientRoot.crls: the CRL valid now does not revoke 0ABC (a test); on the offline machine run "npx apic-istio-pki ceremony crl ..." and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes',
        });
        assert.deepStrictEqual(pick([]), { crl: { ...parseCrl(series[0].pem), pem: series[0].pem } });
    });

    it("refuses a series CRL numbered past 2**53 - 1 (another tool's, RFC 5280 allows 20 octets), whose order it cannot tell", () => {
        const root = createRoot({
            commonName: "Big Number Root",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays: 30,
            keyAlgorithm: "ECDSA",
        });
        // openssl ca numbers the CRL from its crlnumber file: 2**56, and 2**56 + 1 reads as the same number.
        const dir = tempDir("big-crl-number");
        const config = writeTemp(
            dir,
            "ca.cnf",
            `[ca]\ndefault_ca = own\n[own]\ndatabase = ${writeTemp(dir, "index.txt", "")}\ncrlnumber = ${writeTemp(dir, "crlnumber", "0100000000000001\n")}\n` +
                "default_md = sha256\ndefault_crl_days = 7\n",
        );
        const made = openssl([
            ..."ca -gencrl -batch".split(" "),
            ...[
                "-config",
                config,
                "-keyfile",
                writeTemp(dir, "root.key", root.keyPem),
                "-cert",
                writeTemp(dir, "root.crt", root.certPem),
            ],
        ]);
        const crl = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n/.exec(made.output)?.[0];
        assert.ok(crl !== undefined, made.output);
        assert.deepStrictEqual(
            pickForTest({
                series: [crl],
                rootCertPem: root.certPem,
                now: new Date(parseCrl(crl).thisUpdate.getTime() + CLOCK_SKEW_MS),
                required: [],
            }),
            {
                problem:
                    "pki:offlineRoots.clientRoot.crls: CRL 1 of the series has a CRL number past 2**53 - 1, which the stack cannot order exactly; sign the series with the ceremony, which numbers CRLs from 1",
            },
        );
    });

    it("ends a series' span where the stack can take no CRL: at a gap between two series, or where its CRLs stop revoking a required serial", () => {
        const now = new Date();
        const day = 86_400_000;
        const { root, sign } = weeklySeries("Span Root", 120, now, "superseded");
        const at = new Date(now.getTime() + CLOCK_SKEW_MS); // the first CRL is taken once that old
        const span = (series: string[], required: string[] = []) =>
            seriesSpan({ series, rootCertPem: root.certPem, now: at, required });
        const nextUpdate = (pem: string) => parseCrl(pem).nextUpdate;
        const picks = (series: string[], when: Date, required: string[] = []) =>
            "crl" in
            pickForTest({
                series,
                rootCertPem: root.certPem,
                now: when,
                required,
            });
        // Two series pasted together, the second from 5 weeks on: the first ends 3 weeks on, and the stack with it.
        const first = sign(now, 2, 1);
        const from = parseCrl(first[0]).thisUpdate;
        const gapped = [...first, ...sign(new Date(now.getTime() + 35 * day), 2, 3)];
        assert.deepStrictEqual(span(gapped), { from, ends: nextUpdate(first[1]) });
        assert.strictEqual(nextUpdate(first[1]).getTime(), from.getTime() + 21 * day);
        assert.deepStrictEqual(
            [-1000, 0].map((ms) => picks(gapped, new Date(nextUpdate(first[1]).getTime() + ms))),
            [true, false],
        );

        // An old series of 13 weeks, then a short one revoking a retired CA: 3 weeks, as long as the short one.
        const old = sign(now, 13, 1);
        const revoking = sign(now, 2, 14, ["0ABC"]);
        const both = [...old, ...revoking];
        assert.deepStrictEqual(span(both, ["0ABC"]), { from, ends: nextUpdate(revoking[1]) });
        assert.strictEqual(nextUpdate(revoking[1]).getTime(), from.getTime() + 21 * day);
        assert.deepStrictEqual(
            [-1000, 0].map((ms) => picks(both, new Date(nextUpdate(revoking[1]).getTime() + ms), ["0ABC"])),
            [true, false],
        );
        // Without the revocation required, too: the old series' CRLs are numbered below CRL 15, in effect once it starts.
        assert.deepStrictEqual(span(both), { from, ends: nextUpdate(revoking[1]) });
        // Nothing the stack can take now: no span.
        assert.strictEqual(span(old, ["0ABC"]), undefined);
    });

    it("takes the valid CRL with the highest number when two series overlap, not the latest thisUpdate, re-publishes by it, and refuses two different CRLs with one number", () => {
        const now = new Date(Math.floor(Date.now() / 1000) * 1000);
        const day = 86_400_000;
        const weekly = weeklySeries("Overlap Root", 120, now, "keyCompromise");
        const root = weekly.root;
        const sign = (from: Date, firstNumber: number, serials: string[] = []) =>
            weekly.sign(from, 3, firstNumber, serials);
        // CRLs 1 to 3 revoke nothing; 7 to 9, from three days on, revoke 0ABC: a week on, CRL 2 is dated after CRL 7.
        const first = sign(now, 1);
        const revoking = sign(new Date(now.getTime() + 3 * day), 7, ["0ABC"]);
        const both = [...first, ...revoking];
        const at = new Date(parseCrl(first[1]).thisUpdate.getTime() + CLOCK_SKEW_MS);
        assert.ok(parseCrl(first[1]).thisUpdate > parseCrl(revoking[0]).thisUpdate);
        const pick = (series: string[], when: Date, required: string[] = []) => {
            const picked = pickForTest({
                series,
                rootCertPem: root.certPem,
                now: when,
                required,
            });
            return "crl" in picked ? [picked.crl.number, picked.crl.revokedSerials] : picked.problem;
        };
        assert.deepStrictEqual(pick(both, at), [7, ["0ABC"]]);
        assert.deepStrictEqual(pick(both, at, ["0ABC"]), [7, ["0ABC"]]);
        // Its span ends with the later series, where the stack has none to take.
        const ends = parseCrl(revoking[2]).nextUpdate;
        assert.deepStrictEqual(seriesSpan({ series: both, rootCertPem: root.certPem, now: at, required: ["0ABC"] }), {
            from: parseCrl(first[0]).thisUpdate,
            ends,
        });
        assert.deepStrictEqual(
            [pick(both, new Date(ends.getTime() - 1000), ["0ABC"]), pick(both, ends, ["0ABC"])],
            [
                [9, ["0ABC"]],
                `pki:offlineRoots.clientRoot.crls has no CRL valid at ${ends.toISOString()}: every CRL of the series has passed its next update, and a test; ` +
                    'on the offline machine run "npx apic-istio-pki ceremony crl ..." and set pki:offlineRoots.clientRoot.crls to the crls.pem it writes',
            ],
        );
        // A deployment that published CRL 2 (dated later than CRL 7) re-publishes: CRL 7 is due.
        const due = (published: string) =>
            seriesCrlDue({
                series: both,
                rootCertPem: root.certPem,
                required: [],
                published: seriesCrlRecord(published, root.certPem),
                now: at,
            })?.number;
        assert.deepStrictEqual([due(first[1]), due(revoking[0])], [7, undefined]);
        // Another series numbered from 1 (a copy of the root folder signed it): refused, naming both.
        const copied = sign(new Date(now.getTime() + 1000), 1);
        assert.strictEqual(
            pick([...first, ...copied], at),
            "pki:offlineRoots.clientRoot.crls: CRLs 1 and 4 of the series are two different CRLs numbered 1; a root numbers each CRL once (its issuance.log), " +
                "so they come from two copies of the root folder, and the stack could not tell which is the later: " +
                "set pki:offlineRoots.clientRoot.crls to the crls.pem of the latest ceremony alone",
        );
        // The same CRL pasted twice is the same CRL.
        assert.deepStrictEqual(pick([...first, first[1]], at), [2, []]);
    });

    it("never goes back below the highest-numbered CRL of the series in effect, ended or not, without a deployment record: pick, due and span agree", () => {
        const now = new Date(Math.floor(Date.now() / 1000) * 1000);
        const day = 86_400_000;
        const at = (days: number) => new Date(now.getTime() + days * day);
        const { root, sign } = weeklySeries("Back Root", 400, now, "keyCompromise");
        // CRLs 1 to 13 weekly from day 0, each valid 14 days, revoking nothing; 14 and 15 from day 20 revoke 0ABC.
        const old = sign(now, 13, 1);
        const revoking = sign(at(20), 2, 14, ["0ABC"]);
        const series = [...old, ...revoking];
        const ends = parseCrl(revoking[1]).nextUpdate;
        assert.strictEqual(ends.getTime(), at(41).getTime());
        const key = SERIES_KEY;
        const pick = (when: Date) => {
            const picked = pickForTest({
                series,
                rootCertPem: root.certPem,
                now: when,
                required: [],
            });
            return "crl" in picked ? [picked.crl.number, picked.crl.revokedSerials] : picked.problem;
        };
        const refused = (when: Date, back: number) =>
            `${key} has no CRL to publish at ${when.toISOString()}: CRL 15 of the series, in effect since ${new Date(at(27).getTime() + CLOCK_SKEW_MS).toISOString()}, ` +
            `passed its next update on ${ends.toISOString()}, and the stack never goes back to a lower number (CRL ${back}): it may lack a revocation made since ` +
            `(a key revoked for keyCompromise with "ceremony crl --revoke"); a test; on the offline machine run "npx apic-istio-pki ceremony crl ..." and set ${key} to the crls.pem it writes`;
        assert.deepStrictEqual(
            [pick(at(30)), pick(new Date(ends.getTime() - 1000)), pick(at(41)), pick(at(60))],
            [[15, ["0ABC"]], [15, ["0ABC"]], refused(at(41), 6), refused(at(60), 9)],
        );
        // With a CRL 16 from day 45 pasted too, the update waits for it, not for a lower one.
        const sixteen = sign(at(45), 1, 16, ["0ABC"]);
        const waiting = pickForTest({
            series: [...series, ...sixteen],
            rootCertPem: root.certPem,
            now: at(41),
            required: [],
        });
        assert.deepStrictEqual(waiting, {
            problem:
                `${key}: no CRL valid now and may be published (a test); its next CRL that does starts at ${at(45).toISOString()}: ` +
                `run the update again from ${new Date(at(45).getTime() + CLOCK_SKEW_MS).toISOString()}`,
        });
        // A stack that last published CRL 2 (no update ran while 14 and 15 were valid) is proposed none of the lower ones.
        const due = (when: Date) =>
            seriesCrlDue({
                series,
                rootCertPem: root.certPem,
                required: [],
                published: seriesCrlRecord(old[1], root.certPem),
                now: when,
            })?.number;
        assert.deepStrictEqual([at(30), at(41), at(60)].map(due), [15, undefined, undefined]);
        // The span ends with CRL 15, not with CRL 13 in February; before CRL 14 is in effect, with it.
        const span = (when: Date) => seriesSpan({ series, rootCertPem: root.certPem, now: when, required: [] })?.ends;
        assert.deepStrictEqual([at(1), at(30), at(41)].map(span), [ends, ends, undefined]);
        // Pick, due and span agree at each boundary: the stack takes a CRL exactly while the span runs.
        const moments = series.flatMap((pem) => {
            const crl = parseCrl(pem);
            return [crl.thisUpdate.getTime() + CLOCK_SKEW_MS, crl.nextUpdate.getTime()].flatMap((t) => [t - 1000, t]);
        });
        for (const t of moments) {
            const when = new Date(t);
            assert.strictEqual(Array.isArray(pick(when)), span(when) !== undefined, when.toISOString());
        }
    });

    it("finds due, and spans, only what it would publish: the required revocations, never below the number published from the root's key", () => {
        const now = new Date(Math.floor(Date.now() / 1000) * 1000);
        const day = 86_400_000;
        const { root, sign } = weeklySeries("Span Root", 400, now, "superseded");
        // An old long series (CRLs 1 to 13) beside a newer short one (14, 15) revoking the retired CA 0A1B2C3D.
        const old = sign(now, 13, 1);
        const short = sign(new Date(now.getTime() + 3 * day), 2, 14, ["0A1B2C3D"]);
        const series = [...old, ...short];
        const required = ["0A1B2C3D"];
        const key = SERIES_KEY;
        const run = `on the offline machine run "npx apic-istio-pki ceremony crl ..." and set ${key} to the crls.pem it writes`;
        const pick = (pems: string[], when: Date, published?: string) => {
            const picked = pickForTest({
                series: pems,
                rootCertPem: root.certPem,
                now: when,
                required,
                published: published === undefined ? undefined : seriesCrlRecord(published, root.certPem),
            });
            return "crl" in picked ? picked.crl.number : picked.problem;
        };
        const due = (when: Date) =>
            seriesCrlDue({
                series,
                rootCertPem: root.certPem,
                required,
                published: seriesCrlRecord(short[0], root.certPem),
                now: when,
            })?.number;
        // Past the short series (CRL 15 ends 17 days on), nothing is due: the update would take no CRL.
        const at = (days: number) => new Date(now.getTime() + days * day);
        assert.deepStrictEqual(
            [10, 17, 25, 30].map((d) => [pick(series, at(d)), due(at(d))]),
            [
                [14, undefined],
                [15, 15],
                [`${key}: the CRL valid now does not revoke 0A1B2C3D (a test); ${run}`, undefined],
                [`${key}: the CRL valid now does not revoke 0A1B2C3D (a test); ${run}`, undefined],
            ],
        );
        // The old series pasted again over the short one, after CRL 15 was published: it goes back, refused.
        const oldRevoking = sign(now, 13, 1, ["0A1B2C3D"]);
        const back =
            `${key}: its CRL to publish now is number 3, below CRL 15, which the stack published from this root before (its deployment record); ` +
            `going back would drop every revocation made since that the stack does not know (a key revoked for keyCompromise with "ceremony crl --revoke"): ` +
            `set ${key} to the crls.pem of the latest ceremony, or, if its series has ended, ${run}`;
        assert.deepStrictEqual(
            [pick(oldRevoking, at(20), short[1]), pick(oldRevoking, at(20), short[0]), pick(oldRevoking, at(20))],
            [back, back.replace("CRL 15", "CRL 14"), 3],
        );
        // So its span ends where the CRLs numbered 15 and up do, and lifecycle warns before render refuses;
        // without the record too, CRL 15 being in effect (from day 10) at day 12.
        const span = (published?: CrlRecord) =>
            seriesSpan({
                series: [...oldRevoking, ...short],
                rootCertPem: root.certPem,
                now: at(12),
                required,
                published,
            })?.ends;
        assert.deepStrictEqual(
            [span(seriesCrlRecord(short[1], root.certPem)), span()],
            [parseCrl(short[1]).nextUpdate, parseCrl(short[1]).nextUpdate],
        );
        // A record of an earlier version (no signer), or of another root's key (made again, numbered from 1): no refusal.
        const { signer, ...earlier } = seriesCrlRecord(short[1], root.certPem);
        assert.ok(signer !== undefined);
        const other = createRoot({
            commonName: "Span Root",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays: 400,
            keyAlgorithm: "ECDSA",
        });
        const published = (record: CrlRecord) =>
            pickSeriesCrl({
                key,
                series: oldRevoking,
                rootCertPem: root.certPem,
                now: at(20),
                required,
                published: record,
                why: "a test",
                command: "c",
            });
        assert.deepStrictEqual(
            [earlier, seriesCrlRecord(short[1], other.certPem)].map((r) => {
                const picked = published(r);
                return "crl" in picked ? picked.crl.number : picked.problem;
            }),
            [3, 3],
        );
    });
});
