/**
 * A staged rotation of the gateway-server CA under a gateway server root kept offline, with a UI
 * service calling APIC: every phase deployed on one engine state as successive `pulumi up`s, the
 * ceremony's signatures and CRL series put into config as an operator does. The UI service's
 * sidecar (its Secret's ca.crt and ca.crl) checks APIC's UI-facing certificate, which the
 * gateway-server CA signs, so after the finish it depends on the offline root's series too.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { EngineState } from "../lib/engine/standIn";
import { validateConfig } from "../lib/config/validate";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide as decideLifecycle, HUMAN_LEAD_DAYS } from "../lib/lifecycle/rules";
import { createRoot, crlSeriesWindows, SeriesCrl, signCrlSeries, signIntermediate } from "../lib/pki/ceremony";
import { CLOCK_SKEW_MS, crlWindow, parseCrl } from "../lib/pki/crl";
import { pemBlocks } from "../lib/pki/pem";
import { apicCheck, assertAllAccepted, decide, summary, uiSidecarCheck } from "./consumers";
import { seededState } from "./engineKeys";
import { cli, gatewayServerConfig, mintLeaf, renderNext, Rendered, tempDir } from "./helpers";

const APIC_UI_HOST = "apic.offrot.api.bank.example";
const BASE = {
    environment: "offrot",
    option: 1,
    baseDomain: "offrot.api.bank.example",
    domains: { ob: { services: ["accounts"] } },
    clusters: ["east"],
    keyAlgorithm: "ECDSA",
    frontEnd: {
        namespace: "ob-ui",
        services: ["consumer-dashboard"],
        callers: ["consumer-dashboard"],
        apicHosts: [APIC_UI_HOST],
    },
};
const DAY_MS = 86_400_000;
const PHASES = ["g0", "prepare", "switch", "finish", "week"] as const;
type Phase = (typeof PHASES)[number];

const subjectOf = (pem: string): string => new crypto.X509Certificate(pem).subject.replace(/\n/g, ", ");
const day = (d: Date): string => d.toISOString().slice(0, 10);

describe("Staged rotation of the gateway-server CA under an offline server root, with a UI service calling APIC", function () {
    this.timeout(120_000);
    const root = createRoot({
        commonName: "Offrot Gateway Server Offline Root",
        organization: "Example Bank",
        validityDays: 7300,
        keyAlgorithm: "ECDSA",
    });
    const state: EngineState = seededState();
    /** What the ceremony signed, by CA id. */
    const signed: Record<string, string> = {};
    const p = {} as Record<Phase, Rendered>;
    /** When each phase was deployed: the week after the finish runs on the lifecycle's clock. */
    const clock = {} as Record<Phase, Date>;
    let refusal: Error | undefined;
    /** The clock of the refused finish, which words the retirement time of its message. */
    let refusedAt: Date;
    let series: SeriesCrl[];
    let finishConfig: Record<string, unknown>;

    const configAt = (phase: Phase, crls?: string): Record<string, unknown> => {
        // From the finish on, the root signs only the new CA in this stack: the old one leaves the config.
        const finished = phase === "finish" || phase === "week";
        const intermediates = Object.fromEntries(
            Object.entries(signed).filter(([id]) => !finished || id !== "gateway-server-ca"),
        );
        return {
            ...BASE,
            ...(phase === "g0"
                ? {}
                : { caRotation: { gatewayServerCa: { generation: 1, phase: finished ? "finish" : phase } } }),
            offlineRoots: { serverRoot: { certificate: root.certPem, intermediates, ...(crls ? { crls } : {}) } },
        };
    };
    /** `pulumi up` of `phase`; when it stops for the ceremony, signs the CSRs it wrote and runs again. */
    async function deploy(phase: Phase, crls?: string): Promise<void> {
        // The finish deploys the series signed just before it once its first CRL is CLOCK_SKEW_MS
        // old: the stack refuses it earlier (a node whose clock lags would refuse it).
        const later = phase === "finish" ? CLOCK_SKEW_MS : 0;
        clock[phase] = phase === "week" ? new Date(clock.finish.getTime() + 8 * DAY_MS) : new Date(Date.now() + later);
        try {
            p[phase] = await renderNext(configAt(phase, crls), phase, state, clock[phase]);
        } catch (error) {
            const dir = /CSRs written to (.*)$/.exec((error as Error).message)?.[1];
            if (dir === undefined) throw error;
            for (const file of fs.readdirSync(dir)) {
                signed[path.basename(file, ".csr")] = signIntermediate({
                    rootKeyPem: root.keyPem,
                    rootCertPem: root.certPem,
                    csrPem: fs.readFileSync(path.join(dir, file), "utf8"),
                    validityDays: 1095,
                });
            }
            // The deployment that uses the ceremony's certificates runs after it: verifying at the first
            // attempt's clock would find a CA whose notBefore lies a second later.
            if (phase !== "week") clock[phase] = new Date();
            p[phase] = await renderNext(configAt(phase, crls), `${phase}-signed`, state, clock[phase]);
        }
    }

    before(async () => {
        for (const phase of ["g0", "prepare", "switch"] as const) await deploy(phase);
        refusedAt = new Date();
        try {
            // The lifecycle's finish edit: the phase alone, the old CA's certificate still in config.
            await renderNext(
                { ...configAt("switch"), caRotation: { gatewayServerCa: { generation: 1, phase: "finish" } } },
                "finish-refused",
                state,
                refusedAt,
            );
        } catch (error) {
            refusal = error as Error;
        }
        // The ceremony's answer to the refusal: 13 weekly CRLs revoking the old CA, each valid two weeks.
        const old = new crypto.X509Certificate(signed["gateway-server-ca"]);
        const revoked = [{ serialHex: old.serialNumber, revokedAt: new Date(old.validFrom), reason: "superseded" }];
        const now = new Date();
        const windows = crlSeriesWindows({
            rootCertPem: root.certPem,
            ...{ revoked, from: now, periodDays: 7, periods: 13, firstNumber: 1, now },
        });
        series = signCrlSeries({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, revoked, windows });
        finishConfig = configAt("finish", series.map((c) => c.pem).join(""));
        await deploy("finish", series.map((c) => c.pem).join(""));
        await deploy("week", series.map((c) => c.pem).join(""));
    });

    /** The UI service's Secret in a phase: its ca.crt and ca.crl. */
    const uiSecret = (phase: Phase): { "ca.crt": string; "ca.crl"?: string } => {
        const { namespace, name } = p[phase].plan.frontEnd.uiClients[0].secret;
        return YAML.parse(p[phase].read(`k8s/east/${namespace}/secret-${name}.yaml`)).stringData;
    };
    const apicUiServes = (phase: Phase): string =>
        p[phase].read(`apic/ui/${APIC_UI_HOST}/server.crt`) + p[phase].read(`apic/ui/${APIC_UI_HOST}/ca-chain.pem`);

    it("refuses the finish, before any resource, until the old CA leaves pki:offlineRoots.serverRoot.intermediates and its crls hold the ceremony's series revoking it", () => {
        const old = new crypto.X509Certificate(signed["gateway-server-ca"]);
        // Retired at the CRL period's start, or at the old CA's notBefore when it was signed in this period (as here).
        const retiredAt = new Date(
            Math.max(crlWindow(refusedAt, 7).thisUpdate.getTime(), Date.parse(old.validFrom)),
        ).toISOString();
        assert.strictEqual(
            refusal?.message,
            "invalid stack configuration:\n" +
                "  - pki:offlineRoots.serverRoot.intermediates.gateway-server-ca is a CA generation this stack no longer has (the finish of its rotation retired it): " +
                "remove it from pki:offlineRoots.serverRoot.intermediates; this root's CAs are gateway-server-ca-g1\n" +
                `  - pki:offlineRoots.serverRoot.crls is needed: its retired CA gateway-server-ca (serial ${old.serialNumber}) must be revoked by this root; ` +
                `on the offline machine run "npx apic-istio-pki ceremony crl --root <the serverRoot folder> --period-days 7 --periods 13 ` +
                `--revoke ${old.serialNumber}:superseded:${retiredAt} --out crls.pem" ` +
                "and set pki:offlineRoots.serverRoot.crls to the crls.pem it writes",
        );
    });

    it("puts the series' CRL valid at each update into the UI Secret's ca.crl, and the UI sidecar accepts APIC in every phase and refuses the old CA's key", async () => {
        // CRL issuer and number: the new CA's own, then the offline root's from the series (the first, a week later the second).
        const crlsOf = (phase: Phase) =>
            pemBlocks(uiSecret(phase)["ca.crl"] ?? "", "X509 CRL").map((pem) => {
                const crl = parseCrl(pem);
                return [crl.issuerCommonName, crl.issuerCommonName?.includes("Offline") ? crl.number : "signed online"];
            });
        assert.deepStrictEqual(
            PHASES.map((phase) => [phase, crlsOf(phase)]),
            [
                ["g0", []],
                ["prepare", []],
                ["switch", []],
                [
                    "finish",
                    [
                        ["offrot gateway server CA G1", "signed online"],
                        ["Offrot Gateway Server Offline Root", 1],
                    ],
                ],
                [
                    "week",
                    [
                        ["offrot gateway server CA G1", "signed online"],
                        ["Offrot Gateway Server Offline Root", 2],
                    ],
                ],
            ],
        );
        for (const phase of PHASES) assert.strictEqual(uiSecret(phase)["ca.crt"], root.certPem);
        const sidecar = (phase: Phase, served: string, at: Date = clock[phase]) =>
            uiSidecarCheck(p[phase], "consumer-dashboard", APIC_UI_HOST, served, at);
        assertAllAccepted(decide(PHASES.map((phase) => [phase, sidecar(phase, apicUiServes(phase))] as const)));

        const oldCaKey = p.g0.engine.resources.find((r) => r.name === "gateway-server-ca-key")?.state.privateKeyPem;
        const forged = await mintLeaf(
            { certPem: signed["gateway-server-ca"], keyPem: oldCaKey as string },
            { commonName: APIC_UI_HOST, dnsNames: [APIC_UI_HOST], allowedUses: ["digital_signature", "server_auth"] },
        );
        // The first series CRL's last day: the finish's Secret, were it not re-published, refuses APIC.
        const lastDay = new Date(series[0].nextUpdate.getTime() + 1000);
        const verdicts = decide([
            ["finish: APIC's certificate of the old CA", sidecar("finish", apicUiServes("prepare"))],
            ["finish: minted with the old CA's key", sidecar("finish", forged.cert + signed["gateway-server-ca"])],
            ["week: minted with the old CA's key", sidecar("week", forged.cert + signed["gateway-server-ca"])],
            ["finish's Secret after its series CRL", sidecar("finish", apicUiServes("finish"), lastDay)],
            ["week's Secret then", sidecar("week", apicUiServes("week"), lastDay)],
        ]);
        const noCrl = "unable to get certificate CRL";
        const both = (verdict: string) => ({ boringssl: verdict, openssl: verdict });
        assert.deepStrictEqual(
            verdicts.map(([label, v]) => [label, summary(v)]),
            [
                ["finish: APIC's certificate of the old CA", both(noCrl)],
                ["finish: minted with the old CA's key", both(noCrl)],
                ["week: minted with the old CA's key", both(noCrl)],
                ["finish's Secret after its series CRL", both("CRL has expired")],
                ["week's Secret then", both("ok")],
            ],
        );
    });

    it("gives APIC's truststore the offline root and every generation the ceremony signed, oldest first, and APIC accepts the gateway in every phase", () => {
        const [g0, g1] = [signed["gateway-server-ca"], signed["gateway-server-ca-g1"]];
        assert.deepStrictEqual(
            PHASES.map((phase) => [phase, pemBlocks(p[phase].read("apic/ob/truststore.pem"), "CERTIFICATE")]),
            [
                ["g0", [root.certPem, g0]],
                ["prepare", [root.certPem, g0, g1]],
                ["switch", [root.certPem, g0, g1]],
                ["finish", [root.certPem, g1]],
                ["week", [root.certPem, g1]],
            ],
        );
        assertAllAccepted(
            decide(
                PHASES.flatMap((phase) =>
                    (["pkix", "legacy"] as const).map(
                        (mode) =>
                            [
                                `${phase}, ${mode}`,
                                apicCheck(
                                    p[phase],
                                    "ob",
                                    gatewayServerConfig(p[phase], "ob").tlsCrt,
                                    clock[phase],
                                    mode,
                                ),
                            ] as const,
                    ),
                ),
            ),
        );
        assert.deepStrictEqual(
            pemBlocks(p.finish.read("apic/ob/truststore.crl"), "X509 CRL").map((c) => parseCrl(c).issuerCommonName),
            ["offrot gateway server CA G1", "Offrot Gateway Server Offline Root"],
        );
        assert.strictEqual(subjectOf(g1), "CN=offrot gateway server CA G1");
    });

    it("has the lifecycle write the renewals due beside the finish, which waits for the ceremony: pulumi up's refusal goes to a human", async () => {
        const dir = tempDir("offrot-lifecycle");
        const stackFile = path.join(dir, "Pulumi.offrot.yaml");
        const pki = Object.entries(configAt("switch")).map(([key, value]) => [`pki:${key}`, value]);
        fs.writeFileSync(stackFile, YAML.stringify({ config: Object.fromEntries(pki) }));
        // What the switch deployed, a week and a day later, with ob's server certificate inside its window.
        const deployed = path.join(dir, "deployed");
        fs.mkdirSync(deployed);
        const inventory = JSON.parse(p.switch.read("inventory.json")) as {
            certificates: { id: string; renewAt: string }[];
        };
        for (const c of inventory.certificates) if (c.id === "ob/server") c.renewAt = clock.switch.toISOString();
        fs.writeFileSync(path.join(deployed, "inventory.json"), JSON.stringify(inventory));
        fs.writeFileSync(path.join(deployed, "deployment.json"), p.switch.read("deployment.json"));
        const now = new Date(clock.switch.getTime() + 8 * DAY_MS);
        const run = await cli(
            ...["lifecycle", "--config", stackFile, "--deployed", deployed, "--now", now.toISOString()],
            ...["--format", "json", "--write"],
        );
        const json = JSON.parse(run.out) as {
            changed: boolean;
            needsHuman: string[];
            proposals: { kind: string; subject: string }[];
        };
        const old = new crypto.X509Certificate(signed["gateway-server-ca"]);
        const retiredAt = new Date(
            Math.max(crlWindow(now, 7).thisUpdate.getTime(), Date.parse(old.validFrom)),
        ).toISOString();
        assert.deepStrictEqual(
            [run.status, json.changed, json.proposals.map((p) => [p.kind, p.subject]), json.needsHuman],
            [
                1,
                true,
                [["renew-server", "ob/server"]],
                [
                    "the proposed edit of pki:caRotation.gatewayServerCa (pki:caRotation.gatewayServerCa.phase: switch -> finish) cannot be made: " +
                        "invalid stack configuration: " +
                        "pki:offlineRoots.serverRoot.intermediates.gateway-server-ca is a CA generation this stack no longer has (the finish of its rotation retired it): " +
                        "remove it from pki:offlineRoots.serverRoot.intermediates; this root's CAs are gateway-server-ca-g1; " +
                        `pki:offlineRoots.serverRoot.crls is needed: its retired CA gateway-server-ca (serial ${old.serialNumber}) must be revoked by this root; ` +
                        `on the offline machine run "npx apic-istio-pki ceremony crl --root <the serverRoot folder> --period-days 7 --periods 13 ` +
                        `--revoke ${old.serialNumber}:superseded:${retiredAt} --out crls.pem" ` +
                        "and set pki:offlineRoots.serverRoot.crls to the crls.pem it writes",
                ],
            ],
        );
        const written = YAML.parse(fs.readFileSync(stackFile, "utf8")) as { config: Record<string, unknown> };
        assert.deepStrictEqual(
            [written.config["pki:rotation"], written.config["pki:caRotation"]],
            [{ endpoints: { ob: { serverEpoch: 1 } } }, { gatewayServerCa: { generation: 1, phase: "switch" } }],
        );
    });

    it("has the lifecycle publish the series' next CRL once valid, and ask for a new series a lead time before it ends", () => {
        const config = validateConfig(finishConfig);
        const deployed = readDeployed(p.finish.dir);
        const at = (time: Date) => decideLifecycle({ config, deployed, now: time, soakDays: 7 });
        const [first, second] = series;
        const published = `the CRL of server-root published is the one of pki:offlineRoots.serverRoot.crls from ${day(first.thisUpdate)} (valid until ${day(first.nextUpdate)})`;
        assert.deepStrictEqual(
            // Due once the next CRL is CLOCK_SKEW_MS old: earlier, a node whose clock lags would refuse every peer with it.
            at(new Date(second.thisUpdate.getTime() + CLOCK_SKEW_MS - 1000)).republishWhy.filter((w) =>
                w.includes("server-root"),
            ),
            [],
        );
        assert.deepStrictEqual(
            at(new Date(second.thisUpdate.getTime() + CLOCK_SKEW_MS)).republishWhy.filter((w) =>
                w.includes("server-root"),
            ),
            [
                `${published}; the series' CRL from ${day(second.thisUpdate)} is valid now; after the update load each endpoint's new ` +
                    "apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)",
            ],
        );
        const end = series[series.length - 1].nextUpdate;
        const ask =
            `the CRL series of the offline root pki:offlineRoots.serverRoot.crls ends on ${day(end)}: ` +
            `sign a new series on the offline machine ("npx apic-istio-pki ceremony crl") and replace pki:offlineRoots.serverRoot.crls before then`;
        // Asked on the deployed record (the finish's), on the day the lead time begins.
        const leadBegins = new Date(end.getTime() - HUMAN_LEAD_DAYS * DAY_MS);
        assert.ok(!at(new Date(leadBegins.getTime() - DAY_MS)).needsHuman.includes(ask));
        assert.ok(at(leadBegins).needsHuman.includes(ask), JSON.stringify(at(leadBegins).needsHuman));
    });
});
