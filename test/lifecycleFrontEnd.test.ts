/**
 * The lifecycle pipeline on the front end (examples/front-end, with ECDSA CAs: the algorithm is
 * irrelevant to what is due, and ECDSA keys cost nothing): UI clients and APIC's UI-facing server
 * renewed by their epochs inside their windows and not before, a customer-facing host's new key and
 * CSR proposed in time and its certificate left to a human (reminded, never proposed twice), the
 * waits for CA switches; then two years of it, weekly, with the consumers' verdicts all along.
 * The UI truststore CRL's re-publication is in test/frontEnd.test.ts (it needs RSA CA keys, made
 * there once).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { rawConfigFromStackFile } from "../lib/config/load";
import { PkiConfig } from "../lib/config/types";
import { validateConfig } from "../lib/config/validate";
import { EngineState } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide, DeployedCertificate } from "../lib/lifecycle/rules";
import { editStackText } from "../lib/lifecycle/stackEdit";
import { publicMaxLifetimeDays } from "../lib/pki/publicCert";
import { RotationRecord } from "../lib/plan/caRotation";
import { diffPlans } from "../lib/inventory/diff";
import { planFromRawConfig, planPki } from "../lib/plan/plan";
import { deployedRecordOf, renderPlan } from "../lib/render/render";
import { PeerCheck } from "./envoyVerifier";
import { apicUiCheck, assertAllAccepted, decide as verdictsOf, uiSidecarCheck } from "./consumers";
import { cli, mintRoot, mintSubCa, newStackState, Rendered, ROOT, TestCa, tempDir } from "./helpers";

const DAY_MS = 86_400_000;
const T0 = new Date("2027-01-04T00:00:00Z");
const at = (days: number): Date => new Date(T0.getTime() + days * DAY_MS);
const iso = (days: number): string => at(days).toISOString();

const APIC_HOST = "apic.example.api.bank.example";
const HOST = "www.example.bank.example";
const CALLERS = ["consumer-dashboard", "authentication-ui"];
const CSR_FILE = `front-end/csr/${HOST}.csr`;
const HOST_KEY = `pki:frontEnd.customerFacing.${HOST}`;
const CSR_WHERE = `${CSR_FILE} of a render, or the stack output frontEnd.customerFacingCsrs["${HOST}"]`;

/** The example's stack file with ECDSA CAs and the given leaf validity (its comments and layout kept). */
function exampleStack(leafDays: number): string {
    const text = fs.readFileSync(path.join(ROOT, "examples/front-end/Pulumi.front-end.yaml"), "utf8");
    const changed = text.replace(
        "  pki:keyAlgorithm: ECDSA\n",
        "  pki:keyAlgorithm: ECDSA\n  pki:caKeyAlgorithm: ECDSA\n" +
            `  pki:validityDays: { root: 3650, intermediate: 1460, leaf: ${leafDays} }\n`,
    );
    assert.notStrictEqual(changed, text);
    return changed;
}

const indented = (pem: string, indent: string): string =>
    pem
        .trimEnd()
        .split("\n")
        .map((line) => `${indent}${line}\n`)
        .join("");

/** The stack file with the host's first certificate (a block scalar, as people paste them) and the test's public root. */
function withFirstCertificate(text: string, certificate: string, publicRoot: string): string {
    const changed = text
        .replace(
            `      ${HOST}: {}\n`,
            `      ${HOST}:\n        certificate: |\n${indented(certificate, "          ")}`,
        )
        .replace("    apicHosts:", `    publicRoots: |\n${indented(publicRoot, "      ")}    apicHosts:`);
    assert.ok(changed.includes("certificate: |") && changed.includes("publicRoots: |"));
    return changed;
}

/** What a human does with the public CA's answer: the certificate replaced, certificateEpoch set. */
function withRenewedCertificate(text: string, old: string, certificate: string, certificateEpoch: number): string {
    const changed = text.replace(indented(old, "          "), indented(certificate, "          "));
    assert.notStrictEqual(changed, text, "the old certificate is in the stack file");
    return editStackText(changed, [
        { path: ["pki:frontEnd", "customerFacing", HOST, "certificateEpoch"], value: certificateEpoch },
    ]);
}

/** The test's public CA: a root and an issuing CA, valid for years from `issuedAt`. */
async function publicCa(issuedAt: Date): Promise<{ root: TestCa; issuing: TestCa }> {
    const options = { issuedAt, validityHours: 6 * 365 * 24 };
    const root = await mintRoot("Test Public Root CA", options);
    return { root, issuing: await mintSubCa(root, "Test Public Issuing CA", options) };
}

/** What the public CA signs from the stack's CSR: the certificate and its chain (without the root). */
function signCsr(ca: TestCa, csrPem: string, issuedAt: Date, days: number): string {
    const cert = tlsProvider.locallySignedCert(
        {
            certRequestPem: csrPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.keyPem,
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: days * 24,
        },
        { now: () => issuedAt },
    ).state.certPem as string;
    return cert + ca.certPem;
}

/** A stack file and engine state that `pulumi up` (a render at a given day) deploys. */
class TestStack {
    readonly file: string;
    readonly state: EngineState = newStackState(new Map());
    constructor(
        readonly dir: string,
        text: string,
    ) {
        this.file = path.join(dir, "Pulumi.front-end.yaml");
        fs.writeFileSync(this.file, text);
    }
    get text(): string {
        return fs.readFileSync(this.file, "utf8");
    }
    set text(text: string) {
        fs.writeFileSync(this.file, text);
    }
    async deploy(now: Date, label: string): Promise<Rendered> {
        const plan = planFromRawConfig(rawConfigFromStackFile(this.file), {
            deployed: deployedRecordOf(this.state),
            now,
        });
        const dir = path.join(this.dir, label);
        const result = await renderPlan(plan, dir, { force: true, state: this.state });
        return { ...result, plan, dir, read: (f) => fs.readFileSync(path.join(dir, f), "utf8") };
    }
}

interface LifecycleJson {
    changed: boolean;
    markdown: string;
    republishCrls: boolean;
    needsHuman: string[];
    proposals: {
        kind: string;
        subject: string;
        why: string;
        edits: { key: string; from: unknown; to: unknown }[];
        afterDeploy?: string;
    }[];
    pending: string[];
    waiting: string[];
}

async function lifecycle(
    stack: TestStack,
    deployed: Rendered,
    now: Date,
    ...args: string[]
): Promise<{ status: number; json: LifecycleJson }> {
    const run = await cli(
        "lifecycle",
        "--config",
        stack.file,
        "--deployed",
        deployed.dir,
        "--now",
        now.toISOString(),
        "--format",
        "json",
        ...args,
    );
    assert.strictEqual(run.err, "");
    return { status: run.status, json: JSON.parse(run.out) as LifecycleJson };
}

const tlsCrtOf = (rendered: Rendered, file: string): string =>
    (YAML.parse(rendered.read(file)) as { stringData: Record<string, string> }).stringData["tls.crt"];
const uiSecretFile = (name: string) => `k8s/example/ob-ui/secret-apic-client-${name}.yaml`;
const publicSecretFile = "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example.yaml";
const apicServes = (rendered: Rendered): string =>
    rendered.read(`apic/ui/${APIC_HOST}/server.crt`) + rendered.read(`apic/ui/${APIC_HOST}/ca-chain.pem`);
const serialOf = (rendered: Rendered, id: string): string | undefined =>
    rendered.inventory.find((c) => c.id === id)?.serial;
const FRONT_END_KINDS = ["renew-ui-clients", "renew-apic-ui-servers", "renew-customer-facing"];
/** The proposals about the front end (the example's backend endpoint ob has leaves of the same lifetime). */
const frontEndOnly = (json: LifecycleJson) => json.proposals.filter((p) => FRONT_END_KINDS.includes(p.kind));

describe("Stack file edits reach customer-facing hosts, whose keys hold dots", () => {
    it("finds a host key plain or quoted, adds to its flow or block map (after a block scalar), and keeps the comments", () => {
        const text = `config:
  pki:frontEnd:
    customerFacing:
      # the shop
      "shop.example.bank.example": {}   # first CSR pending
      www.example.bank.example:
        certificate: |
          -----BEGIN CERTIFICATE-----
          -----END CERTIFICATE-----
      # the end of the hosts
`;
        const host = (name: string, key: string) => ["pki:frontEnd", "customerFacing", name, key];
        assert.strictEqual(
            editStackText(text, [
                { path: host("shop.example.bank.example", "epoch"), value: 1 },
                { path: host("www.example.bank.example", "epoch"), value: 1 },
                { path: host("www.example.bank.example", "certificateEpoch"), value: 0 },
            ]),
            text
                .replace('": {}   #', '": { epoch: 1 }   #')
                .replace(
                    "-----END CERTIFICATE-----\n",
                    "-----END CERTIFICATE-----\n        epoch: 1\n        certificateEpoch: 0\n",
                ),
        );
    });
});

describe("lifecycle on the front end: UI clients, APIC's UI-facing server and customer-facing hosts", function () {
    this.timeout(120_000);
    let stack: TestStack;
    let ca: { root: TestCa; issuing: TestCa };
    /** Day 0 without a customer-facing certificate; then with one (120 days), the UI clients and APIC server renewed on day 60, the host's new CSR on day 80. */
    let pending: Rendered;
    /** The stack file of day 0, before the certificate was set. */
    let pendingFile: TestStack;
    let deployed: Rendered;
    let firstCertificate: string;
    /** The stack file's config deployed on day 0, and that deployment (later tests edit and deploy again). */
    let dayZeroConfig: PkiConfig;
    let dayZero: Rendered;

    before(async () => {
        stack = new TestStack(tempDir("lifecycle-front"), exampleStack(90));
        pending = await stack.deploy(at(0), "day-0-pending");
        pendingFile = new TestStack(tempDir("lifecycle-front-pending"), stack.text);
        ca = await publicCa(at(-1));
        firstCertificate = signCsr(ca.issuing, pending.read(CSR_FILE), at(0), 120);
        stack.text = withFirstCertificate(stack.text, firstCertificate, ca.root.certPem);
        deployed = await stack.deploy(at(0), "day-0");
        dayZeroConfig = validateConfig(rawConfigFromStackFile(stack.file), at(0));
        dayZero = deployed;
    });

    it("asks a human for a customer-facing host's first certificate, and proposes nothing for it", async () => {
        const { status, json } = await lifecycle(pendingFile, pending, at(1));
        assert.deepStrictEqual(
            [status, json.proposals, json.needsHuman],
            [
                1,
                [],
                [
                    `${HOST} has no certificate yet (first issuance): send ${CSR_WHERE} to the public CA, then set ${HOST_KEY}.certificate to the certificate and its chain`,
                ],
            ],
        );
    });

    it("checks the stack file's roots at --now: a public root that has expired by then is refused", async () => {
        const shortRoot = await mintRoot("Short public root", { issuedAt: at(-1), validityHours: 30 * 24 });
        const expiring = new TestStack(
            tempDir("lifecycle-front-short-root"),
            withFirstCertificate(pendingFile.text, firstCertificate, shortRoot.certPem),
        );
        const run = await cli(
            "lifecycle",
            ...["--config", expiring.file, "--deployed", dayZero.dir, "--now", iso(31), "--format", "json"],
        );
        assert.deepStrictEqual(
            [run.status, run.out, run.err],
            [
                2,
                "",
                `error: cannot use the stack file ${expiring.file}: invalid stack configuration:\n` +
                    `  - pki:frontEnd.publicRoots holds CN=Short public root, which expired on ${iso(29)}, so every certificate under it is refused; give the CA that replaced it\n`,
            ],
        );
    });

    it("proposes nothing for the front end before its windows open", async () => {
        const { status, json } = await lifecycle(stack, deployed, new Date(at(60).getTime() - 1));
        assert.deepStrictEqual([status, json.proposals, json.needsHuman, json.waiting], [0, [], [], []]);
    });

    it("renews the UI clients and APIC's UI-facing server inside their window, one epoch each, and says what the operator does (nothing for the UI clients)", async () => {
        const before = stack.text;
        const { status, json } = await lifecycle(stack, deployed, at(60), "--write");
        assert.strictEqual(status, 0);
        assert.deepStrictEqual(
            json.proposals.map((p) => [p.kind, p.subject]),
            [
                ["renew-server", "ob/server"],
                ["rotate-client", "ob/client"],
                ["renew-ui-clients", "ui/consumer-dashboard/client, ui/authentication-ui/client"],
                ["renew-apic-ui-servers", `apic-ui/${APIC_HOST}/server`],
            ],
        );
        assert.deepStrictEqual(
            frontEndOnly(json).map((p) => [p.kind, p.subject, p.why, p.edits]),
            [
                [
                    "renew-ui-clients",
                    "ui/consumer-dashboard/client, ui/authentication-ui/client",
                    "inside their renewal window since 2027-03-05; the first expires on 2027-04-04 (one epoch for every UI client: consumer-dashboard, authentication-ui re-issued)",
                    [{ key: "pki:rotation.uiClientEpoch", from: 0, to: 1 }],
                ],
                [
                    "renew-apic-ui-servers",
                    `apic-ui/${APIC_HOST}/server`,
                    "inside its renewal window since 2027-03-05; expires on 2027-04-04",
                    [{ key: "pki:rotation.apicServerEpoch", from: 0, to: 1 }],
                ],
            ],
        );
        assert.deepStrictEqual(
            frontEndOnly(json).map((p) => p.afterDeploy),
            [
                "nothing to upload to APIC: its UI truststore trusts the UI client CA and root, not keys, so the new certificates pass as the old ones did; " +
                    "each sidecar reads its new Secret (apic-client-consumer-dashboard, apic-client-authentication-ui) through SDS without a restart; " +
                    "only a UI service that mounts its Secret and does TLS itself must reload it (or restart its pods)",
                `upload the new keystore to APIC: apic keystores:update with apic/ui/${APIC_HOST}/keystore.json (keystore example-ui-apic-example-api-bank-example-server); ` +
                    "APIC's UI-facing TLS server profile names it, so it serves the new certificate " +
                    "(the same in PEM: apic/ui/<host>/server.crt, ca-chain.pem and server.key; stack output frontEnd.apic.servers). " +
                    "The UI sidecars trust the gateway server root and check the host name, so they accept the old certificate until the upload and the new one after it",
            ],
        );
        // Only the lines of the edit change: the comments of the example stay.
        assert.strictEqual(
            stack.text,
            `${before}  pki:rotation:\n    endpoints:\n      ob: { serverEpoch: 1, clientEpoch: 1, clientPhase: switch }\n` +
                "    uiClientEpoch: 1\n    apicServerEpoch: 1\n",
        );
        assert.match(json.markdown, /\*\*4 changes written to .*Pulumi\.front-end\.yaml\.\*\*/);
        assert.match(json.markdown, /## Certificate changes: example/);

        // Run again before the update: nothing more, the edit waits for its update.
        const again = await lifecycle(stack, deployed, at(60), "--write");
        assert.deepStrictEqual(
            [again.json.changed, again.json.proposals, again.json.pending],
            [
                false,
                [],
                [
                    "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
                    "ob/client: epoch 1 from apic-client-ca in the stack file, epoch 0 from apic-client-ca deployed",
                    "ui/consumer-dashboard/client: epoch 1 from ui-client-ca in the stack file, epoch 0 from ui-client-ca deployed",
                    "ui/authentication-ui/client: epoch 1 from ui-client-ca in the stack file, epoch 0 from ui-client-ca deployed",
                    `apic-ui/${APIC_HOST}/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed`,
                    "pki:rotation.uiClientEpoch: 1 in the stack file, another value deployed",
                    "pki:rotation.apicServerEpoch: 1 in the stack file, another value deployed",
                    "pki:rotation.endpoints: changed in the stack file, not deployed yet",
                ],
            ],
        );

        // Deployed: new keys; APIC accepts old and new UI clients, the sidecars old and new APIC certificates.
        const renewed = await stack.deploy(at(60), "day-60");
        for (const id of [...CALLERS.map((n) => `ui/${n}/client`), `apic-ui/${APIC_HOST}/server`]) {
            assert.notStrictEqual(serialOf(renewed, id), serialOf(deployed, id), `${id} re-issued`);
        }
        assertAllAccepted(
            verdictsOf(
                CALLERS.flatMap((name) => [
                    [
                        `APIC: ${name}'s new certificate`,
                        apicUiCheck(renewed, tlsCrtOf(renewed, uiSecretFile(name)), at(60)),
                    ],
                    [
                        `APIC: ${name}'s old certificate`,
                        apicUiCheck(renewed, tlsCrtOf(deployed, uiSecretFile(name)), at(60)),
                    ],
                    [
                        `${name}'s sidecar: APIC's new certificate`,
                        uiSidecarCheck(renewed, name, APIC_HOST, apicServes(renewed), at(60)),
                    ],
                    [
                        `${name}'s sidecar: APIC's old certificate`,
                        uiSidecarCheck(renewed, name, APIC_HOST, apicServes(deployed), at(60)),
                    ],
                ]),
            ),
        );
        deployed = renewed;
    });

    it("proposes the customer-facing host's new key and CSR inside its window, keeping the served certificate, and tells the human what to send", async () => {
        const early = await lifecycle(stack, deployed, new Date(at(80).getTime() - 1));
        assert.deepStrictEqual([early.status, frontEndOnly(early.json), early.json.needsHuman], [0, [], []]);

        const before = stack.text;
        const { status, json } = await lifecycle(stack, deployed, at(80), "--write");
        assert.strictEqual(status, 1, "a human sends the CSR");
        assert.deepStrictEqual(
            frontEndOnly(json).map((p) => [p.kind, p.subject, p.why, p.edits]),
            [
                [
                    "renew-customer-facing",
                    `public/${HOST}`,
                    "inside its renewal window since 2027-03-25; expires on 2027-05-04 (a public CA's certificate: the last third of its lifetime, at least 14 days)",
                    [
                        { key: `${HOST_KEY}.epoch`, from: 0, to: 1 },
                        { key: `${HOST_KEY}.certificateEpoch`, from: 0, to: 0 },
                    ],
                ],
            ],
        );
        assert.deepStrictEqual(json.needsHuman, [
            `once the update of ${HOST_KEY}.epoch 1 has run, send ${CSR_WHERE} to the public CA, then set ${HOST_KEY}.certificate to what it returns and ${HOST_KEY}.certificateEpoch to 1; ` +
                "the certificate served now expires on 2027-05-04 (40 days left)",
        ]);
        // The host's block map gets both keys after its certificate; certificateEpoch is written so that it stays 0.
        // (ob's APIC client finishes its switch of day 60 in the same edit: its clientPhase goes.)
        assert.strictEqual(
            stack.text,
            before
                .replace(
                    "          -----END CERTIFICATE-----\n    # The internet-facing gateway",
                    "          -----END CERTIFICATE-----\n        epoch: 1\n        certificateEpoch: 0\n    # The internet-facing gateway",
                )
                .replace("clientEpoch: 1, clientPhase: switch }", "clientEpoch: 1 }"),
        );
        assert.deepStrictEqual(
            json.proposals.filter((p) => p.kind === "finish-client").map((p) => p.edits),
            [[{ key: "pki:rotation.endpoints.ob.clientPhase", from: "switch", to: null }]],
        );
        assert.match(
            json.markdown,
            /\| ob\/client \| .* \| pki:rotation\.endpoints\.ob\.clientPhase: switch -> unset \|/,
        );
        assert.match(
            json.markdown,
            new RegExp(
                `\\| public/${HOST.replace(/\./g, "\\.")} \\| inside its renewal window since 2027-03-25; .* \\| ` +
                    `${HOST_KEY.replace(/\./g, "\\.")}\\.epoch: 0 -> 1; ${HOST_KEY.replace(/\./g, "\\.")}\\.certificateEpoch: 0 \\(kept\\) \\|`,
            ),
        );

        const requested = await stack.deploy(at(80), "day-80");
        assert.strictEqual(tlsCrtOf(requested, publicSecretFile), tlsCrtOf(deployed, publicSecretFile), "still served");
        assert.notStrictEqual(requested.read(CSR_FILE), deployed.read(CSR_FILE), "a new key's CSR");
        deployed = requested;
    });

    it("does not propose it again while the CSR waits for the public CA, reminds with urgency as expiry nears, and says what to do once expired", async () => {
        const reminder = (left: number) =>
            `the new CSR of ${HOST} (key epoch 1) waits for the public CA: send ${CSR_WHERE} to the public CA, ` +
            `then set ${HOST_KEY}.certificate to what it returns and ${HOST_KEY}.certificateEpoch to 1; ` +
            `the certificate served now expires on 2027-05-04 (${left} days left)`;
        const next = await lifecycle(stack, deployed, at(81), "--write");
        assert.deepStrictEqual(
            [next.status, next.json.changed, next.json.proposals, next.json.needsHuman],
            [1, false, [], [reminder(39)]],
        );
        assert.deepStrictEqual((await lifecycle(stack, deployed, at(112))).json.needsHuman, [reminder(8)]);
        assert.deepStrictEqual((await lifecycle(stack, deployed, at(113))).json.needsHuman, [`URGENT: ${reminder(7)}`]);
        const expired = (await lifecycle(stack, deployed, at(120))).json;
        assert.deepStrictEqual(expired.needsHuman.slice(0, 1), [
            `public/${HOST} (customer-facing) expired on 2027-05-04: browsers refuse ${HOST} now, and the stack refuses the expired certificate in config; ` +
                `have the public CA sign the host's CSR at once (${CSR_WHERE}; raise ${HOST_KEY}.epoch first if no new CSR is pending) and set its certificate and certificateEpoch`,
        ]);
        assert.match(
            expired.needsHuman[1] ?? "",
            new RegExp(
                `^the stack file is refused against what is deployed: .*${HOST_KEY.replace(/\./g, "\\.")}\\.certificate: the certificate expired on 2027-05-04`,
            ),
        );
    });

    it("serves the certificate the human set for the new key, and then proposes nothing", async () => {
        const renewed = signCsr(ca.issuing, deployed.read(CSR_FILE), at(82), 90);
        stack.text = withRenewedCertificate(stack.text, firstCertificate, renewed, 1);
        const served = await stack.deploy(at(82), "day-82");
        assert.strictEqual(tlsCrtOf(served, publicSecretFile), renewed);
        const row = served.inventory.find((c) => c.id === `public/${HOST}`);
        // 90 days from 2027-03-27: its window is the last 30.
        assert.deepStrictEqual([row?.epoch, row?.notAfter, row?.renewAt], [1, iso(172), iso(142)]);
        const { status, json } = await lifecycle(stack, served, at(82));
        assert.deepStrictEqual([status, json.proposals, json.needsHuman, json.pending], [0, [], [], []]);
        deployed = served;
    });

    it("says, of UI clients due together, which are due by the age of a key older than its certificate", () => {
        const { inventory, record } = readDeployed(dayZero.dir);
        // Day 25: consumer-dashboard's certificate of day 0 was issued again for a key of day -40
        // (as @pulumi/tls re-issues an expired one), due at day 20; authentication-ui's own window
        // opened at day 22.
        const due = inventory.map((c): DeployedCertificate => {
            if (c.id === "ui/consumer-dashboard/client") return { ...c, keySince: at(-40), renewAt: at(20) };
            if (c.id === "ui/authentication-ui/client") return { ...c, renewAt: at(22) };
            return c;
        });
        const decision = decide({
            config: dayZeroConfig,
            deployed: { inventory: due, record },
            now: at(25),
            soakDays: 7,
        });
        const ui = decision.proposals.find((p) => p.kind === "renew-ui-clients");
        assert.strictEqual(
            ui?.why,
            "due since 2027-01-24, counted from their keys: ui/consumer-dashboard/client's key dates from 2026-11-25 " +
                "(its certificate of 2027-01-04 was issued again for that key); the first expires on 2027-04-04 " +
                "(one epoch for every UI client: consumer-dashboard, authentication-ui re-issued)",
        );
    });

    it("lets front-end leaves wait for a CA switch that re-issues them, as the backend's do", () => {
        const config = validateConfig(rawConfigFromStackFile(stack.file), at(125));
        const { inventory, record } = readDeployed(deployed.dir);
        // Day 125: the day-60 leaves are due; the UI client root and the gateway-server CA too.
        const inWindow = inventory.map((c): DeployedCertificate =>
            ["ui-client-root", "gateway-server-ca"].includes(c.id) ? { ...c, renewAt: at(100) } : c,
        );
        const decision = decide({ config, deployed: { inventory: inWindow, record }, now: at(125), soakDays: 7 });
        assert.deepStrictEqual(
            decision.proposals.map((p) => [p.kind, p.subject]),
            [
                ["prepare-ca", "pki:caRotation.uiClientRoot"],
                ["prepare-ca", "pki:caRotation.gatewayServerCa"],
                ["rotate-client", "ob/client"],
            ],
        );
        assert.deepStrictEqual(
            decision.proposals.slice(0, 2).map((p) => p.afterDeploy),
            [
                "upload APIC's new UI truststore (apic/ui/truststore.json)",
                // DataPower builds the chain from its truststore alone: the new CA must be there before the switch.
                "upload the new APIC truststores (apic/<endpoint>/truststore.json)",
            ],
        );
        assert.deepStrictEqual(decision.waiting, [
            "ob/server is due but re-issued by the switch of pki:caRotation.gatewayServerCa, due from 2027-05-16",
            "ui/consumer-dashboard/client, ui/authentication-ui/client are due but re-issued by the switch of pki:caRotation.uiClientRoot, due from 2027-05-16",
            `apic-ui/${APIC_HOST}/server is due but re-issued by the switch of pki:caRotation.gatewayServerCa, due from 2027-05-16`,
        ]);
        // A UI client CA rotation in the stack file, not deployed yet: the UI clients wait for it.
        const rotating: RotationRecord["positions"] = {
            ...config.caRotation,
            uiClientCa: { generation: 1, phase: "prepare" },
        };
        const waiting = decide({
            config: { ...config, caRotation: rotating },
            deployed: { inventory, record },
            now: at(125),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            waiting.waiting.filter((w) => w.startsWith("ui/")),
            [
                "ui/consumer-dashboard/client, ui/authentication-ui/client are due but wait for the rotation of pki:caRotation.uiClientCa under way (its switch re-issues the UI clients)",
            ],
        );
        assert.ok(!waiting.proposals.some((p) => p.kind === "renew-ui-clients"));
        assert.ok(waiting.proposals.some((p) => p.kind === "renew-apic-ui-servers"));
    });

    it("asks for no APIC truststore upload at a root's switch, as the diff of the proposed edit does not, and pulumi up takes the edit", () => {
        const config = dayZeroConfig;
        const { inventory, record } = readDeployed(dayZero.dir);
        // Both roots whose certificates APIC checks have been in prepare for a week.
        const prepared: RotationRecord["positions"] = {
            ...record.positions,
            serverRoot: { generation: 1, phase: "prepare" },
            uiClientRoot: { generation: 1, phase: "prepare" },
        };
        const since = { ...record.positionsSince, serverRoot: iso(20), uiClientRoot: iso(20) };
        const rotating = { ...config, caRotation: prepared };
        const deployedRecord: RotationRecord = { ...record, positions: prepared, positionsSince: since };
        const decision = decide({
            config: rotating,
            deployed: { inventory, record: deployedRecord },
            now: at(27),
            soakDays: 7,
        });
        const switches = decision.proposals.filter((p) => p.kind === "advance-ca");
        assert.deepStrictEqual(
            switches.map((p) => [p.subject, p.edits.map((e) => e.to), p.afterDeploy]),
            [
                [
                    "pki:caRotation.serverRoot",
                    ["switch"],
                    "upload APIC's new UI-facing keystores (apic/ui/<host>/keystore.json)",
                ],
                ["pki:caRotation.uiClientRoot", ["switch"], undefined],
            ],
        );
        // pulumi up with the deployed record takes the edit, and its diff asks for no truststore
        // upload either: the truststores hold both roots from prepare on, in the same order.
        const base = planPki(rotating, { deployed: deployedRecord, now: at(27) });
        const head = planPki(
            {
                ...rotating,
                caRotation: {
                    ...prepared,
                    serverRoot: { generation: 1, phase: "switch" },
                    uiClientRoot: { generation: 1, phase: "switch" },
                },
            },
            { deployed: deployedRecord, now: at(27) },
        );
        assert.deepStrictEqual(
            diffPlans(base, head).steps.after.filter((s) => /truststore/.test(s)),
            [],
        );
    });
});

/**
 * Two years of the front end with nobody renewing by hand: every week the pipeline runs
 * `lifecycle --write`; its edit is deployed at once, and a human answers its customer-facing
 * requests the same day (the public CA signs the host's CSR with the longest lifetime SC-081v3
 * allows then). At every step nothing deployed has expired; APIC's UI-facing profile accepts each
 * UI client, each UI sidecar accepts APIC's UI-facing certificate and a browser accepts the
 * customer-facing host on each deployment's first and last day (material only ages in between, and
 * a certificate valid on both days is valid between them). The timeline goes to
 * out/lifecycle-front-end-simulation.txt.
 */
describe("Lifecycle: two years of the front end that nobody renews by hand", function () {
    this.timeout(120_000);
    const WEEKS = 104;
    const FRONT_END_IDS = [...CALLERS.map((n) => `ui/${n}/client`), `apic-ui/${APIC_HOST}/server`, `public/${HOST}`];
    const timeline: string[] = [];
    const replacements: { id: string; day: number; renewAt: Date; notAfter: Date }[] = [];
    const checks: [string, PeerCheck][] = [];
    /** On each deployment's day: APIC still holding the previous deployment's material. */
    const laggingChecks: [string, PeerCheck][] = [];
    const invalid: string[] = [];
    /** What the pipeline asked a human, by kind. */
    const needsHuman = new Set<string>();
    let customerFacingProposals = 0;
    let seconds = 0;

    before(async () => {
        const started = Date.now();
        const stack = new TestStack(tempDir("lifecycle-front-sim"), exampleStack(180));
        const ca = await publicCa(at(-1));
        let current = await stack.deploy(at(0), "day-0");
        timeline.push(
            `day    0 ${iso(0).slice(0, 10)}  deployed: the stack's first update (the host waits for its first certificate)`,
        );
        let served: string | undefined;
        /** Every certificate deployed is valid at `day`. */
        const valid = (day: number) => {
            const now = at(day).getTime();
            for (const row of current.inventory) {
                if (!(Date.parse(row.notBefore) <= now && now < Date.parse(row.notAfter)))
                    invalid.push(`day ${day}: ${row.id} valid ${row.notBefore} to ${row.notAfter}`);
            }
        };
        const check = (day: number) => {
            const now = at(day);
            for (const name of CALLERS) {
                checks.push([
                    `day ${day} APIC: ${name}`,
                    apicUiCheck(current, tlsCrtOf(current, uiSecretFile(name)), now),
                ]);
                checks.push([
                    `day ${day} ${name}'s sidecar: APIC`,
                    uiSidecarCheck(current, name, APIC_HOST, apicServes(current), now),
                ]);
            }
            if (current.files.includes(publicSecretFile)) {
                checks.push([
                    `day ${day} a browser: ${HOST}`,
                    {
                        caCrt: ca.root.certPem,
                        chain: tlsCrtOf(current, publicSecretFile),
                        purpose: "sslserver",
                        subjectAltNames: [HOST],
                        partialChain: false,
                        at: now,
                    },
                ]);
            }
        };
        /**
         * APIC lags behind a deployment until someone uploads its new UI truststore and UI-facing
         * keystore after the update: meanwhile it checks the UI clients' new certificates with the
         * previous truststore, and serves the previous certificate to sidecars with the new bundle.
         */
        const checkLagging = (day: number, previous: Rendered) => {
            const now = at(day);
            for (const name of CALLERS) {
                laggingChecks.push(
                    [
                        `day ${day} APIC with its previous UI truststore: ${name}'s new client`,
                        apicUiCheck(previous, tlsCrtOf(current, uiSecretFile(name)), now),
                    ],
                    [
                        `day ${day} ${name}'s new sidecar: APIC's previous UI-facing server`,
                        uiSidecarCheck(current, name, APIC_HOST, apicServes(previous), now),
                    ],
                );
            }
        };
        check(0);
        for (let day = 7; day <= WEEKS * 7; day += 7) {
            const now = at(day);
            valid(day);
            const { status, json } = await lifecycle(stack, current, now, "--soak-days", "7", "--write");
            assert.ok(status <= 1, `day ${day}: exit ${status}`);
            for (const need of json.needsHuman) {
                needsHuman.add(
                    need.replace(/^(URGENT: )?(the new CSR of|once the update of|\S+ has no certificate yet).*$/, "$2"),
                );
            }
            customerFacingProposals += json.proposals.filter((p) => p.kind === "renew-customer-facing").length;
            const what = json.proposals.map(
                (p) =>
                    `${p.kind} ${p.subject} (${p.edits.map((e) => `${e.key.replace(/^pki:(rotation\.(endpoints\.)?)?/, "")}=${e.to}`).join(", ")})`,
            );
            // The human: the public CA signs the CSR deployed (first issuance, or the one a reminder names).
            if (json.needsHuman.some((n) => /^(URGENT: )?the new CSR of |has no certificate yet/.test(n))) {
                const lifetime = publicMaxLifetimeDays(now);
                // The longest a public CA may issue: both ends counted, notAfter 1 s short of `lifetime` days later.
                const certificate = signCsr(ca.issuing, current.read(CSR_FILE), now, lifetime - 1 / 86_400);
                const { epoch } = validateConfig(rawConfigFromStackFile(stack.file), now).frontEnd.customerFacing[HOST];
                stack.text =
                    served === undefined
                        ? withFirstCertificate(stack.text, certificate, ca.root.certPem)
                        : withRenewedCertificate(stack.text, served, certificate, epoch);
                served = certificate;
                what.push(`a human sets ${HOST}'s certificate for key epoch ${epoch} (${lifetime} days)`);
            }
            if (what.length === 0 && !json.republishCrls) continue;
            check(day);
            const next = await stack.deploy(now, `day-${day}`);
            timeline.push(`day ${String(day).padStart(4)} ${iso(day).slice(0, 10)}  deployed: ${what.join("; ")}`);
            const before = new Map(current.inventory.map((c) => [c.id, c]));
            for (const c of next.inventory) {
                const old = before.get(c.id);
                if (old === undefined || old.serial === c.serial || !FRONT_END_IDS.includes(c.id)) continue;
                replacements.push({ id: c.id, day, renewAt: new Date(old.renewAt), notAfter: new Date(old.notAfter) });
            }
            const previous = current;
            current = next;
            valid(day);
            check(day);
            checkLagging(day, previous);
        }
        check(WEEKS * 7);
        seconds = (Date.now() - started) / 1000;
    });

    after(() => {
        const summary = [
            `Front-end lifecycle simulation: ${WEEKS} weekly lifecycle runs from ${iso(0).slice(0, 10)}, leaves 180 days, the public CA's longest lifetime;`,
            `${timeline.length} deployments, ${checks.length} verdicts, ${seconds.toFixed(1)} s.`,
            "",
            ...timeline,
            "",
        ].join("\n");
        fs.mkdirSync(path.join(ROOT, "out"), { recursive: true });
        fs.writeFileSync(path.join(ROOT, "out", "lifecycle-front-end-simulation.txt"), summary);
        process.stdout.write(
            `      timeline: out/lifecycle-front-end-simulation.txt (${timeline.length} deployments, ${seconds.toFixed(1)} s)\n`,
        );
    });

    it("renews every front-end certificate inside its window and never after it expired", () => {
        assert.deepStrictEqual(invalid, []);
        // A 180-day leaf is renewed about 120 days after its issue, a 100-day public certificate about 70.
        for (const id of FRONT_END_IDS) {
            const count = replacements.filter((r) => r.id === id).length;
            assert.ok(count >= 5, `${id} replaced ${count} times`);
        }
        for (const r of replacements) {
            const day = at(r.day).getTime();
            assert.ok(
                day < r.notAfter.getTime(),
                `${r.id} replaced on day ${r.day}, after it expired (${r.notAfter.toISOString()})`,
            );
            assert.ok(
                day >= r.renewAt.getTime(),
                `${r.id} replaced on day ${r.day}, before its window (${r.renewAt.toISOString()})`,
            );
        }
    });

    it("needs a human only to have the customer-facing CSRs signed, and proposes each new CSR once", () => {
        assert.deepStrictEqual([...needsHuman].sort(), [
            "once the update of",
            "the new CSR of",
            `${HOST} has no certificate yet`,
        ]);
        assert.strictEqual(customerFacingProposals, replacements.filter((r) => r.id === `public/${HOST}`).length);
    });

    it("has APIC accept every UI client, every UI sidecar accept APIC and a browser accept the host all along", () => {
        assert.ok(checks.length > 200, `${checks.length} verdicts`);
        assertAllAccepted(verdictsOf(checks));
    });

    it("has APIC, until its new truststore and keystore are uploaded, accept the new UI clients and be accepted by the new sidecars", () => {
        assert.ok(laggingChecks.length >= 4 * 10, `${laggingChecks.length} verdicts`);
        assertAllAccepted(verdictsOf(laggingChecks));
    });
});
