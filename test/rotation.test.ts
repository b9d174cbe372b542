import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import { RootCa } from "../lib/components/rootCa";
import { buildInventory, IssuedCertificate } from "../lib/inventory/issued";
import { plannedCertificates } from "../lib/inventory/planned";
import { INITIAL_RECORD, parseRecord, RotationRecord } from "../lib/plan/caRotation";
import { spkiPin } from "../lib/pki/pins";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf } from "../lib/render/render";
import { buildPki } from "../lib/stack";
import { main } from "../lib/cli/main";
import { diffPlans } from "../lib/inventory/diff";
import {
    apicCredentials,
    gatewayServerConfig,
    handshake,
    loadStackFile,
    mintRoot,
    newStackState,
    OPTION_FILES,
    opensslSpkiPin,
    pemBlocks,
    renderConfig,
    renderNext,
    Rendered,
    sharedState,
    tempDir,
    cli,
    planProblems,
} from "./helpers";

type Inputs = Map<string, string>;

/** Every registered resource's inputs, by type and name, after running the stack program. */
async function registered(raw: Record<string, unknown>): Promise<Inputs> {
    const { engine } = await runWithStandIn(() => buildPki(planFromRawConfig(raw)).outputs, { state: sharedState });
    return new Map(engine.resources.map((r) => [`${r.type.split(":").pop()} ${r.name}`, JSON.stringify(r.inputs)]));
}

/** What a second run adds, removes and changes compared with the first. */
function compare(before: Inputs, after: Inputs): { added: string[]; removed: string[]; changed: string[] } {
    return {
        added: [...after.keys()].filter((k) => !before.has(k)).sort(),
        removed: [...before.keys()].filter((k) => !after.has(k)).sort(),
        changed: [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)).sort(),
    };
}

const triple = (name: string): string[] => [
    `CertRequest ${name}-csr`,
    `LocallySignedCert ${name}-cert`,
    `PrivateKey ${name}-key`,
];
/** An APIC client's: its key, CSR and certificate, and its PKCS#12 password (a new key, a new password). */
const apicClient = (name: string): string[] => [...triple(name), `RandomPassword ${name}-p12-password`];

describe("Rotation epochs replace exactly what they name", function () {
    this.timeout(120_000);
    const option1 = loadStackFile(OPTION_FILES[1]);
    let base: Inputs;
    before(async () => {
        base = await registered(option1);
    });

    it("an endpoint's serverEpoch: its server key, CSR and certificate, and its gateway secret", async () => {
        const option2 = loadStackFile(OPTION_FILES[2]);
        const before2 = await registered(option2);
        const after2 = await registered({ ...option2, rotation: { endpoints: { "ob-accounts": { serverEpoch: 1 } } } });
        assert.deepStrictEqual(compare(before2, after2), {
            added: triple("ob-gateway-ob-accounts-server-r1"),
            removed: triple("ob-gateway-ob-accounts-server"),
            changed: ["Secret ob-gateway-ob-accounts-tls"],
        });
    });

    it("apicClientEpoch: every APIC client key and certificate, and on the gateway only the key pins", async () => {
        const after = await registered({ ...option1, rotation: { apicClientEpoch: 1 } });
        assert.deepStrictEqual(compare(base, after), {
            added: [...apicClient("dp-apic-client-r1"), ...apicClient("ob-apic-client-r1")].sort(),
            removed: [...apicClient("dp-apic-client"), ...apicClient("ob-apic-client")].sort(),
            changed: ["Gateway dp-gateway-gateway", "Gateway ob-gateway-gateway"],
        });
    });

    it("leafEpoch: every leaf and every gateway secret; the CAs stay", async () => {
        const after = await registered({ ...option1, rotation: { leafEpoch: 2 } });
        const clients = ["dp-apic-client", "ob-apic-client"];
        const servers = ["dp-gateway-dp-server", "ob-gateway-ob-server"];
        assert.deepStrictEqual(compare(base, after), {
            added: [
                ...clients.flatMap((l) => apicClient(`${l}-r2`)),
                ...servers.flatMap((l) => triple(`${l}-r2`)),
            ].sort(),
            removed: [...clients.flatMap(apicClient), ...servers.flatMap(triple)].sort(),
            changed: [
                "Gateway dp-gateway-gateway",
                "Gateway ob-gateway-gateway",
                "Secret dp-gateway-dp-tls",
                "Secret ob-gateway-ob-tls",
            ],
        });
    });

    it("meshEpoch: the mesh CA's key and certificate and its cacerts secret", async () => {
        const after = await registered({ ...option1, rotation: { meshEpoch: 1 } });
        assert.deepStrictEqual(compare(base, after), {
            added: triple("mesh-ca-example-r1"),
            removed: triple("mesh-ca-example"),
            changed: ["Secret mesh-ca-example-cacerts"],
        });
    });

    it("refuses an epoch for an endpoint the stack does not have, naming the endpoints it has", () => {
        assert.throws(
            () => planFromRawConfig({ ...option1, rotation: { endpoints: { accounts: { serverEpoch: 1 } } } }),
            /pki:rotation\.endpoints\.accounts is not an endpoint of this stack; its endpoints are dp, ob/,
        );
        assert.throws(
            () => planFromRawConfig({ ...option1, rotation: { leafEpoch: -1 } }),
            /pki:rotation\.leafEpoch must be a whole number from 0 to 9999 \(raise it by one to rotate\); got -1/,
        );
    });

    it("shows in the certificate diff as a forced rotation with a new key, and the pins added and removed", async () => {
        const base = planFromRawConfig(option1);
        const switched = planFromRawConfig({
            ...option1,
            rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase: "switch" } } },
        });
        const finished = planFromRawConfig({ ...option1, rotation: { endpoints: { ob: { clientEpoch: 1 } } } });
        const d = diffPlans(base, switched);
        assert.deepStrictEqual(
            d.replaced.map((c) => [c.id, c.reasons, c.forces]),
            [["ob/client", ["rotation forced: epoch 0 -> 1"], ["new key", "new certificate", "new APIC keystore"]]],
        );
        assert.deepStrictEqual(d.pins, [
            { endpoint: "ob", before: ["key of epoch 0"], after: ["key of epoch 1", "key of epoch 0"] },
        ]);
        assert.deepStrictEqual(d.refused, []);
        assert.deepStrictEqual(diffPlans(switched, finished).pins, [
            { endpoint: "ob", before: ["key of epoch 1", "the key before epoch 1"], after: ["key of epoch 1"] },
        ]);
        const jump = diffPlans(base, finished);
        assert.deepStrictEqual(jump.refused, [
            {
                key: "pki:rotation.endpoints.ob",
                problem:
                    'the APIC client of endpoint "ob" moves from epoch 0 to 1 with no overlap: the gateway would stop accepting the key APIC holds at once. ' +
                    "Set pki:rotation.endpoints.ob.clientPhase (or pki:rotation.apicClientPhase) to switch for this change, upload the new keystore, then set it to finish",
            },
        ]);
    });
});

describe("Leaf rotation without downtime: the previous APIC key stays pinned until finish", function () {
    this.timeout(120_000);
    const option1 = loadStackFile(OPTION_FILES[1]);
    let old: Rendered;
    let switched: Rendered;
    let finished: Rendered;
    before(async () => {
        const state = newStackState();
        old = await renderNext(option1, "before-rotation", state);
        switched = await renderNext(
            { ...option1, rotation: { leafEpoch: 1, apicClientPhase: "switch" } },
            "switch",
            state,
        );
        finished = await renderNext({ ...option1, rotation: { leafEpoch: 1 } }, "finish", state);
    });

    it("issues new keys, not just new certificates, in the switch phase", () => {
        for (const e of old.plan.endpoints) {
            assert.notStrictEqual(old.read(`apic/${e.id}/client.key`), switched.read(`apic/${e.id}/client.key`));
            assert.notStrictEqual(gatewayServerConfig(old, e.id).tlsKey, gatewayServerConfig(switched, e.id).tlsKey);
            assert.strictEqual(finished.read(`apic/${e.id}/client.key`), switched.read(`apic/${e.id}/client.key`));
        }
    });

    it("switch: the gateway pins the new and the previous key, so APIC works before and after its upload", async () => {
        const ok = { accepted: true, reason: "", clientAuthorized: true, clientError: "" };
        for (const e of old.plan.endpoints) {
            assert.deepStrictEqual(gatewayServerConfig(switched, e.id).verifyCertificateSpki, [
                opensslSpkiPin(switched.read(`apic/${e.id}/client.crt`)),
                opensslSpkiPin(old.read(`apic/${e.id}/client.crt`)),
            ]);
            for (const apic of [old, switched]) {
                assert.deepStrictEqual(
                    await handshake(gatewayServerConfig(switched, e.id), apicCredentials(apic, e.id)),
                    ok,
                );
            }
            // APIC trusts the gateway-server CA, not a certificate: the gateway's new server certificate passes.
            assert.strictEqual(switched.read(`apic/${e.id}/truststore.pem`), old.read(`apic/${e.id}/truststore.pem`));
            assert.strictEqual(gatewayServerConfig(switched, e.id).caCrt, gatewayServerConfig(old, e.id).caCrt);
        }
    });

    it("finish: only the new key is pinned, and the previous APIC key is refused at once", async () => {
        for (const e of old.plan.endpoints) {
            const gateway = gatewayServerConfig(finished, e.id);
            assert.deepStrictEqual(gateway.verifyCertificateSpki, [
                opensslSpkiPin(finished.read(`apic/${e.id}/client.crt`)),
            ]);
            assert.strictEqual((await handshake(gateway, apicCredentials(finished, e.id))).accepted, true);
            const previous = await handshake(gateway, apicCredentials(old, e.id));
            assert.deepStrictEqual(
                [previous.accepted, previous.reason],
                [false, `verifyCertificateSpki mismatch: ${opensslSpkiPin(old.read(`apic/${e.id}/client.crt`))}`],
            );
        }
    });

    it("refuses a client rotation without the switch phase, which would lock APIC out until it uploads", async () => {
        const state = newStackState();
        const deployed = await renderNext(option1, "deployed", state);
        const serial = new crypto.X509Certificate(deployed.read("apic/ob/client.crt")).serialNumber;
        await assert.rejects(
            renderNext({ ...option1, rotation: { endpoints: { ob: { clientEpoch: 1 } } } }, "jump", state),
            {
                message:
                    "invalid stack configuration:\n" +
                    `  - the APIC client of endpoint "ob" moves from epoch 0 (deployed, serial ${serial}) to epoch 1 with no overlap: ` +
                    "the gateway would stop accepting the key APIC holds at once, and APIC would fail until it uploads the new keystore. " +
                    "Rotate in two steps: set pki:rotation.endpoints.ob.clientPhase (or pki:rotation.apicClientPhase) to switch and deploy, " +
                    "upload the new keystore, then set it to finish. To cut a leaked key off at once, revoke its certificate (pki:revocations)",
            },
        );
        // A clientPhase: finish left on the endpoint (by a human, or by the lifecycle pipeline while the
        // stack-wide phase was switch) wins over pki:rotation.apicClientPhase: advising that key would not help.
        const shadowed = {
            ...option1,
            rotation: { apicClientEpoch: 1, apicClientPhase: "switch", endpoints: { ob: { clientPhase: "finish" } } },
        };
        const advice =
            'the APIC client of endpoint "ob" moves from epoch 0 (deployed, serial ' +
            `${serial}) to epoch 1 with no overlap: the gateway would stop accepting the key APIC holds at once, and APIC would fail until it uploads the new keystore. ` +
            "Rotate in two steps: set pki:rotation.endpoints.ob.clientPhase (set to finish, it wins over pki:rotation.apicClientPhase) to switch and deploy, " +
            "upload the new keystore, then set it to finish. To cut a leaked key off at once, revoke its certificate (pki:revocations)";
        assert.throws(() => planFromRawConfig(shadowed, { deployed: deployedRecordOf(state) }), {
            message: `invalid stack configuration:\n  - ${advice}`,
        });
        const { endpoints: _phases, ...stackWide } = shadowed.rotation;
        assert.deepStrictEqual(
            diffPlans(
                planFromRawConfig({ ...option1, rotation: { endpoints: { ob: { clientPhase: "finish" } } } }),
                planFromRawConfig(shadowed),
            ).refused,
            [
                {
                    key: "pki:rotation.endpoints.ob",
                    problem:
                        'the APIC client of endpoint "ob" moves from epoch 0 to 1 with no overlap: the gateway would stop accepting the key APIC holds at once. ' +
                        "Set pki:rotation.endpoints.ob.clientPhase (set to finish, it wins over pki:rotation.apicClientPhase) to switch for this change, upload the new keystore, then set it to finish",
                },
            ],
        );
        // Without the endpoint's own phase, the stack-wide switch overlaps every endpoint.
        assert.doesNotThrow(() =>
            planFromRawConfig({ ...option1, rotation: stackWide }, { deployed: deployedRecordOf(state) }),
        );
    });
});

describe("Epochs only go up: pulumi up refuses one below the newest deployed", function () {
    this.timeout(120_000);
    const FRONT_END = loadStackFile("examples/front-end/Pulumi.front-end.yaml");
    const HOST = "www.example.bank.example";
    const APIC_HOST = "apic.example.api.bank.example";
    const frontEnd = (customerFacing: Record<string, unknown>) => ({
        frontEnd: { ...(JSON.parse(FRONT_END.frontEnd) as Record<string, unknown>), customerFacing },
    });
    /** Every epoch raised once; the customer-facing host renewing (its key of epoch 2 requested, epoch 1 served). */
    const raised = {
        ...FRONT_END,
        rotation: { gatewayServerEpoch: 1, apicServerEpoch: 1, uiClientEpoch: 1, meshEpoch: 1 },
        ...frontEnd({ [HOST]: { epoch: 2, certificateEpoch: 1 } }),
    };
    let deployed: Rendered;
    let record: RotationRecord;
    before(async () => {
        const state = newStackState();
        deployed = await renderNext(raised, "epochs-raised", state);
        record = deployedRecordOf(state);
    });
    const serialOf = (pem: string): string => new crypto.X509Certificate(pemBlocks(pem)[0]).serialNumber;
    const uiSerial = (name: string): string =>
        serialOf(YAML.parse(deployed.read(`k8s/example/ob-ui/secret-apic-client-${name}.yaml`)).stringData["tls.crt"]);
    const problemsOf = (raw: Record<string, unknown>, deployedRecord: RotationRecord): readonly string[] =>
        planProblems(raw, { deployed: deployedRecord });
    const GO_UP =
        "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced)";

    it("refuses each certificate's epoch going back, naming both epochs, the deployed serial and the config key that fixes it", () => {
        const server = serialOf(gatewayServerConfig(deployed, "ob").tlsCrt);
        const apicServer = serialOf(deployed.read(`apic/ui/${APIC_HOST}/server.crt`));
        const uiClient = (name: string) =>
            `the client certificate of UI service "${name}" would go back from epoch 1 (deployed, serial ${uiSerial(name)}) to 0: ${GO_UP}; ` +
            "removing an entry of pki:revocations lowers it too and takes the revoked serial out of APIC's UI truststore CRL. " +
            "Keep the revocation until its certificate would have expired, or set pki:rotation.uiClientEpoch to 1 (which also renews the other UI services' client certificates)";
        assert.deepStrictEqual(problemsOf(FRONT_END, record), [
            `the gateway server certificate of endpoint "ob" would go back from epoch 1 (deployed, serial ${server}) to 0: ${GO_UP}. ` +
                "Set back the epoch that went down: pki:rotation.gatewayServerEpoch to 1 if that one did, else pki:rotation.endpoints.ob.serverEpoch to 1" +
                " (diff refuses every epoch going down, so raising the other one instead is no fix)",
            uiClient("consumer-dashboard"),
            uiClient("authentication-ui"),
            `APIC's UI-facing server certificate for ${APIC_HOST} would go back from epoch 1 (deployed, serial ${apicServer}) to 0: ${GO_UP}. ` +
                "Set pki:rotation.apicServerEpoch to 1",
            `the certificate of customer-facing host ${HOST} would go back from the key of epoch 1 (deployed) to the key of epoch 0: ${GO_UP}, ` +
                "and the stack no longer holds that key, so no certificate for it can be served. " +
                `Set pki:frontEnd.customerFacing.${HOST}.certificateEpoch to 1 and pki:frontEnd.customerFacing.${HOST}.epoch to 2, with the certificate for the key of epoch 1`,
            `the mesh CAs would go back from epoch 1 (deployed) to 0: ${GO_UP}. Set pki:rotation.meshEpoch to 1, or to 2 to re-key them again`,
        ]);
        // A renewal taken back: the served key stays, the requested one goes.
        assert.deepStrictEqual(problemsOf({ ...raised, ...frontEnd({ [HOST]: { epoch: 1 } }) }, record), [
            `the customer-facing key of ${HOST} would go back from epoch 2 (deployed) to 1: ${GO_UP}, ` +
                `and a certificate the public CA signs for its CSR would not fit the key epoch 2 makes the next time. Set pki:frontEnd.customerFacing.${HOST}.epoch to 2`,
        ]);
    });

    it("refuses a server epoch lowered by as much as a CA switch raises the generation: the certificate of the new CA would keep the deployed key", () => {
        const server = serialOf(gatewayServerConfig(deployed, "ob").tlsCrt);
        const apicServer = serialOf(deployed.read(`apic/ui/${APIC_HOST}/server.crt`));
        // `raised` deployed with the gateway-server CA's generation 1 prepared: its certificates still of generation 0.
        const prepared: RotationRecord = {
            ...record,
            positions: { ...record.positions, gatewayServerCa: { generation: 1, phase: "prepare" } },
        };
        const switched = (epoch: number) => ({
            ...raised,
            rotation: { ...raised.rotation, gatewayServerEpoch: epoch, apicServerEpoch: epoch },
            caRotation: { gatewayServerCa: { generation: 1, phase: "switch" } },
        });
        const kept =
            "though a new gateway-server CA re-issues it: the epochs of pki:rotation add up to 0 for it, below the 1 deployed, and the CA's new generation makes up the difference";
        assert.deepStrictEqual(problemsOf(switched(0), prepared), [
            `the gateway server certificate of endpoint "ob" would keep its key of epoch 1 (deployed, serial ${server}) ${kept}; ${GO_UP}. ` +
                "Set back the epoch that went down: pki:rotation.gatewayServerEpoch to 1 if that one did, else pki:rotation.endpoints.ob.serverEpoch to 1" +
                " (diff refuses every epoch going down, so raising the other one instead is no fix)",
            `APIC's UI-facing server certificate for ${APIC_HOST} would keep its key of epoch 1 (deployed, serial ${apicServer}) ${kept}; ${GO_UP}. ` +
                "Set pki:rotation.apicServerEpoch to 1",
        ]);
        assert.deepStrictEqual(problemsOf(switched(1), prepared), []);
    });

    it("refuses a CA phase going back with the phase alone: the server epochs it lowers come back with the phase", () => {
        const switchedRecord: RotationRecord = {
            ...record,
            positions: { ...record.positions, gatewayServerCa: { generation: 1, phase: "switch" } },
            servers: Object.fromEntries(
                Object.entries(record.servers ?? {}).map(([id, s]) => [id, { ...s, epoch: s.epoch + 1 }]),
            ),
        };
        const back = { ...raised, caRotation: { gatewayServerCa: { generation: 1, phase: "prepare" } } };
        assert.deepStrictEqual(problemsOf(back, switchedRecord), [
            "pki:caRotation.gatewayServerCa goes back from generation 1 phase switch (deployed) to generation 1 phase prepare; " +
                "phases only go forward: keep { generation: 1, phase: switch } or set the next phase, { generation: 1, phase: finish }",
        ]);
    });

    /** `raised` with the APIC client epoch 1 too, and the client CAs at `phase` of generation 1 (none: not rotating). */
    const clientCas = (phase: string | undefined, epoch = 1) => ({
        ...raised,
        rotation: { ...raised.rotation, apicClientEpoch: epoch, uiClientEpoch: epoch },
        ...(phase === undefined
            ? {}
            : { caRotation: { apicClientCa: { generation: 1, phase }, uiClientCa: { generation: 1, phase } } }),
    });

    it("refuses a client epoch lowered by as much as a CA switch raises the generation: the certificate of the new CA would keep the deployed key", async () => {
        const state = newStackState();
        await renderNext(clientCas(undefined), "client-epochs-raised", state);
        const prepared = await renderNext(clientCas("prepare"), "client-cas-prepared", state);
        const apicClient = serialOf(prepared.read("apic/ob/client.crt"));
        const uiSerialOf = (name: string): string =>
            serialOf(
                YAML.parse(prepared.read(`k8s/example/ob-ui/secret-apic-client-${name}.yaml`)).stringData["tls.crt"],
            );
        const kept = (ca: string) =>
            `though a new ${ca} re-issues it: the epochs of pki:rotation add up to 0 for it, below the 1 deployed, and the CA's new generation makes up the difference; ${GO_UP}; ` +
            "removing an entry of pki:revocations lowers it too and takes the revoked serial out of";
        const uiClient = (name: string) =>
            `the client certificate of UI service "${name}" would keep its key of epoch 1 (deployed, serial ${uiSerialOf(name)}) ${kept("UI client CA")} APIC's UI truststore CRL. ` +
            "Keep the revocation until its certificate would have expired, or set pki:rotation.uiClientEpoch to 1 (which also renews the other UI services' client certificates)";
        assert.deepStrictEqual(problemsOf(clientCas("switch", 0), deployedRecordOf(state)), [
            `the APIC client of endpoint "ob" would keep its key of epoch 1 (deployed, serial ${apicClient}) ${kept("APIC-client CA")} the gateway's CRL. ` +
                "Keep the revocation until its certificate would have expired, or set back the epoch that went down: " +
                "pki:rotation.apicClientEpoch to 1 if that one did, else pki:rotation.endpoints.ob.clientEpoch to 1 (diff refuses every epoch going down, so raising the other one instead is no fix)",
            uiClient("consumer-dashboard"),
            uiClient("authentication-ui"),
        ]);
        assert.deepStrictEqual(problemsOf(clientCas("switch"), deployedRecordOf(state)), []);
    });

    it("refuses a client CA phase going back with the phase alone: the client epochs it lowers come back with the phase", async () => {
        const state = newStackState();
        await renderNext(clientCas(undefined), "client-epochs-raised", state);
        await renderNext(clientCas("prepare"), "client-cas-prepared", state);
        await renderNext(clientCas("switch"), "client-cas-switched", state);
        const back = (slot: string) =>
            `pki:caRotation.${slot} goes back from generation 1 phase switch (deployed) to generation 1 phase prepare; ` +
            "phases only go forward: keep { generation: 1, phase: switch } or set the next phase, { generation: 1, phase: finish }";
        assert.deepStrictEqual(problemsOf(clientCas("prepare"), deployedRecordOf(state)), [
            back("apicClientCa"),
            back("uiClientCa"),
        ]);
    });

    it("accepts the values it names, and a record of an earlier version (no server epochs, UI clients, mesh epoch or customer-facing keys) as unknown", () => {
        const fixed = {
            ...raised,
            rotation: { endpoints: { ob: { serverEpoch: 1 } }, uiClientEpoch: 1, apicServerEpoch: 1, meshEpoch: 1 },
        };
        assert.deepStrictEqual(problemsOf(fixed, record), []);
        const { servers: _servers, meshEpoch: _meshEpoch, ...earlier } = record;
        const apicClientsOnly = Object.fromEntries(
            Object.entries(record.clients).filter(([id]) => !id.startsWith("ui/")),
        );
        const read = parseRecord(
            JSON.parse(JSON.stringify({ ...earlier, clients: apicClientsOnly, customerFacingKeys: {} })),
        );
        assert.ok(read !== undefined, "an earlier version's record is still read");
        assert.deepStrictEqual(problemsOf(FRONT_END, read), []);
    });
});

describe("Early-renewal windows", function () {
    this.timeout(60_000);

    it("puts every certificate's renewal point at the last third of its validity by default, configurable per tier, and gives @pulumi/tls no window of its own", async () => {
        const option1 = loadStackFile(OPTION_FILES[1]);
        const renewAfter = (raw: Record<string, unknown>) =>
            Object.fromEntries(
                plannedCertificates(planFromRawConfig(raw)).map((c) => [c.id, [c.validityDays, c.renewAfterDays]]),
            );
        const byDefault = renewAfter(option1);
        assert.deepStrictEqual(byDefault["client-root"], [3650, 3650 - 1216]);
        assert.deepStrictEqual(byDefault["gateway-server-ca"], [1095, 1095 - 365]);
        assert.deepStrictEqual(byDefault["mesh-ca-example"], [1095, 1095 - 365]);
        assert.deepStrictEqual(byDefault["ob/server"], [365, 365 - 121]);
        assert.deepStrictEqual(byDefault["ob/client"], [365, 365 - 121]);
        assert.deepStrictEqual(renewAfter({ ...option1, earlyRenewalDays: { leaf: 30 } })["ob/client"], [365, 335]);
        assert.throws(
            () => planFromRawConfig({ ...option1, earlyRenewalDays: { leaf: 365 } }),
            /pki:earlyRenewalDays\.leaf must be a whole number of days from 1 to 364 \(below pki:validityDays\.leaf\); got 365/,
        );
        const { engine } = await runWithStandIn(
            () => buildPki(planFromRawConfig({ ...option1, earlyRenewalDays: { leaf: 30 } })).outputs,
            { state: sharedState },
        );
        const windows = Object.fromEntries(
            engine.resources
                .filter((r) => r.type.endsWith("Cert"))
                .map((r) => [r.name, [r.inputs.validityPeriodHours, r.inputs.earlyRenewalHours]]),
        );
        assert.deepStrictEqual(windows["client-root-ca-cert"], [3650 * 24, 0]);
        assert.deepStrictEqual(windows["mesh-ca-example-cert"], [1095 * 24, 0]);
        assert.deepStrictEqual(windows["ob-apic-client-cert"], [365 * 24, 0]);
        assert.deepStrictEqual(
            Object.entries(windows).filter(([, [, early]]) => early !== 0),
            [],
        );
    });

    const day = 86_400_000;
    /** Option 1 as a new stack deployed now, and a function deploying it again some days later (its resources). */
    const option1Stack = () => {
        const deployedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
        const state = newStackState();
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[1]));
        const deployAt = async (daysLater: number) =>
            (
                await runWithStandIn(() => buildPki(plan).outputs, {
                    state,
                    now: () => new Date(deployedAt.getTime() + daysLater * day),
                })
            ).engine.resources;
        return { deployedAt, state, deployAt };
    };

    it("keeps every certificate of a stack deployed again past its renewal point, and re-issues an expired one in place with its key, as @pulumi/tls does", async () => {
        const { deployedAt, deployAt } = option1Stack();
        const at = async (daysLater: number) => {
            const resources = await deployAt(daysLater);
            const cert = (name: string) => {
                const found = resources.find((r) => r.name === name);
                assert.ok(found, name);
                return new crypto.X509Certificate(String(found.state.certPem));
            };
            return { server: cert("ob-gateway-ob-server-cert"), ca: cert("gateway-server-ca-cert") };
        };
        const first = await at(0);
        // Past the leaf's renewal point (244 days) and the CA's (730): the lifecycle's to rotate, with
        // new keys; the provider, told no window, keeps both. Given the window, it re-issued them.
        const later = await at(300);
        assert.strictEqual(later.server.serialNumber, first.server.serialNumber);
        assert.strictEqual(later.ca.serialNumber, first.ca.serialNumber);
        // Expired: re-issued at this update, with the same key, as a last resort.
        const expired = await at(366);
        assert.notStrictEqual(expired.server.serialNumber, first.server.serialNumber);
        assert.strictEqual(Date.parse(expired.server.validFrom), deployedAt.getTime() + 366 * day);
        assert.ok(expired.server.publicKey.equals(first.server.publicKey));
        assert.strictEqual(expired.ca.serialNumber, first.ca.serialNumber);
    });

    it("keeps every certificate of a stack deployed with the provider's windows (earlier versions) on an update inside them: the window goes to 0 in place", async () => {
        const { state, deployAt } = option1Stack();
        const serialsAt = async (daysLater: number) =>
            Object.fromEntries(
                (await deployAt(daysLater))
                    .filter((r) => r.type.endsWith("Cert"))
                    .map((r) => [r.name, new crypto.X509Certificate(String(r.state.certPem)).serialNumber]),
            );
        const deployed = await serialsAt(0);
        // The state as an earlier version left it: every certificate with a window of the last third
        // of its validity (its renewal point), open on day 300 for the leaves (244 days).
        const windowed: string[] = [];
        for (const [key, entry] of state) {
            if (!key.startsWith("tls:index/") || !(key.split("::")[1] in deployed)) continue;
            const inputs = JSON.parse(entry.inputsJson) as { validityPeriodHours: number };
            const earlyRenewalHours = Math.floor(inputs.validityPeriodHours / 3);
            entry.inputsJson = JSON.stringify({ ...inputs, earlyRenewalHours });
            entry.state = { ...entry.state, earlyRenewalHours };
            windowed.push(key);
        }
        assert.strictEqual(windowed.length, Object.keys(deployed).length);
        // This version plans no window: @pulumi/tls updates early_renewal_hours in place and decides
        // on the planned value, so nothing is re-issued.
        assert.deepStrictEqual(await serialsAt(300), deployed);
        assert.deepStrictEqual(
            windowed.filter((key) => state.get(key)?.state.earlyRenewalHours !== 0),
            [],
        );
    });

    it("warns, at the update that re-issues them, of certificates that expired while kept at their epoch, and names what to do", async () => {
        const dir = tempDir("expired-reissue");
        const file = path.join(dir, "Pulumi.expiring.yaml");
        fs.writeFileSync(
            file,
            YAML.stringify({
                config: {
                    "pki:environment": "expiring",
                    "pki:option": 1,
                    "pki:baseDomain": "expiring.api.bank.example",
                    "pki:clusters": ["example"],
                    "pki:keyAlgorithm": "ECDSA",
                    "pki:caKeyAlgorithm": "ECDSA",
                    "pki:validityDays": { root: 1460, intermediate: 365, leaf: 10 },
                    "pki:domains": { ob: { services: ["accounts"] } },
                },
            }),
        );
        const state = path.join(dir, "state.json");
        const renderAt = async (day: number) => {
            const when = new Date(Date.UTC(2027, 0, 1) + day * 86_400_000).toISOString();
            const written: string[] = [];
            const write = process.stderr.write.bind(process.stderr);
            process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
            try {
                const { status } = await cli(
                    "render",
                    "--config",
                    file,
                    "--out",
                    path.join(dir, `day-${day}`),
                    "--state",
                    state,
                    "--now",
                    when,
                );
                assert.strictEqual(status, 0);
            } finally {
                process.stderr.write = write;
            }
            return written.filter((line) => line.includes("expired"));
        };
        assert.deepStrictEqual(await renderAt(0), []);
        assert.deepStrictEqual(await renderAt(9), []);
        assert.deepStrictEqual(await renderAt(11), [
            "warning: ob/server (expired 2027-01-11), ob/client (expired 2027-01-11): @pulumi/tls re-issues them at this update, in place with the same key. " +
                "Then upload APIC's new keystores and truststores (apic/), restart istiod if a mesh CA or root is among them, " +
                "and give each a new key (raise its epoch in pki:rotation, or a CA's pki:caRotation): the lifecycle proposes it\n",
        ]);
        // Re-issued at that update: the next one has nothing to say.
        assert.deepStrictEqual(await renderAt(12), []);

        // The key keeps its age: the inventory dates each re-issued certificate's key from its first
        // certificate, so both are due at once, on day 11 and on every update after it.
        const rows = (day: number) =>
            Object.fromEntries(
                (
                    JSON.parse(fs.readFileSync(path.join(dir, `day-${day}`, "inventory.json"), "utf8")) as {
                        certificates: IssuedCertificate[];
                    }
                ).certificates.map((c) => [c.id, c]),
            );
        const [first, reissued, next] = [rows(0), rows(11), rows(12)];
        for (const id of ["ob/server", "ob/client"]) {
            assert.strictEqual(first[id].keySince, first[id].notBefore, id);
            assert.strictEqual(
                Date.parse(first[id].renewAt),
                Date.parse(first[id].notBefore) + first[id].renewAfterDays * 86_400_000,
                id,
            );
            assert.notStrictEqual(reissued[id].serial, first[id].serial, id);
            assert.strictEqual(reissued[id].spki, first[id].spki, id);
            assert.deepStrictEqual(
                [reissued[id].keySince, reissued[id].renewAt, next[id].keySince, next[id].renewAt],
                [first[id].keySince, reissued[id].notBefore, first[id].keySince, reissued[id].notBefore],
                id,
            );
        }
        // The CA was not re-issued: its key's age is its certificate's.
        assert.deepStrictEqual(
            [next["gateway-server-ca"].keySince, next["gateway-server-ca"].renewAt],
            [first["gateway-server-ca"].keySince, first["gateway-server-ca"].renewAt],
        );
        const lifecycle = await cli(
            "lifecycle",
            "--config",
            file,
            "--deployed",
            path.join(dir, "day-12"),
            "--now",
            new Date(Date.UTC(2027, 0, 13)).toISOString(),
            "--format",
            "json",
        );
        assert.strictEqual(lifecycle.status, 0, lifecycle.err);
        const { proposals } = JSON.parse(lifecycle.out) as { proposals: { kind: string; why: string }[] };
        assert.deepStrictEqual(
            proposals.map((p) => [p.kind, p.why]),
            [
                [
                    "renew-server",
                    "due since 2027-01-12, as its key dates from 2027-01-01 (the certificate of 2027-01-12 was issued again for that key); expires on 2027-01-22",
                ],
                [
                    "rotate-client",
                    "due since 2027-01-12, as its key dates from 2027-01-01 (the certificate of 2027-01-12 was issued again for that key); expires on 2027-01-22",
                ],
            ],
        );
    });

    it("has a component's own window re-issue its certificate in place, with the same key, once the window opens (the stand-in as @pulumi/tls)", async () => {
        const madeAt = new Date(Math.floor(Date.now() / 1000) * 1000);
        const state: EngineState = new Map();
        const rootAt = async (daysLater: number) => {
            const { engine } = await runWithStandIn(
                () => {
                    new RootCa("windowed", {
                        subject: { commonName: "Windowed Root", organization: "Example Bank" },
                        keyAlgorithm: "ECDSA",
                        validityDays: 30,
                        earlyRenewalDays: 10,
                    });
                },
                { state, now: () => new Date(madeAt.getTime() + daysLater * day) },
            );
            const cert = engine.resources.find((r) => r.name === "windowed-cert");
            assert.ok(cert);
            return new crypto.X509Certificate(String(cert.state.certPem));
        };
        const first = await rootAt(0);
        assert.strictEqual((await rootAt(19)).serialNumber, first.serialNumber);
        const renewed = await rootAt(20);
        assert.notStrictEqual(renewed.serialNumber, first.serialNumber);
        assert.ok(renewed.publicKey.equals(first.publicKey));
        assert.strictEqual(Date.parse(renewed.validFrom), madeAt.getTime() + 20 * day);
    });

    it("dates a key from the record only back in time: a recorded since after the certificate (a hand-edited or stale record) never moves its renewal point later", async () => {
        // One real certificate stands for each planned one: buildInventory reads its dates and key.
        const { certPem } = await mintRoot("key age");
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[1]));
        const cert = new crypto.X509Certificate(certPem);
        const notBefore = new Date(cert.validFrom).toISOString();
        const spki = spkiPin(certPem);
        const inventoryWith = (since: string) =>
            buildInventory(
                { ...plan, deployed: { ...INITIAL_RECORD, keys: { "ob/server": { spki, since } } } },
                Object.fromEntries(plannedCertificates(plan).map((c) => [c.id, certPem])),
            ).find((c) => c.id === "ob/server")!;
        const ownRenewAt = new Date(Date.parse(notBefore) + inventoryWith(notBefore).renewAfterDays * 86_400_000);
        // A year after the certificate expires: its key would never be due before it expired.
        const later = inventoryWith("2099-01-01T00:00:00.000Z");
        assert.deepStrictEqual([later.keySince, later.renewAt], [notBefore, ownRenewAt.toISOString()]);
        // An older key still counts from its first certificate: due at once.
        const older = inventoryWith("2020-01-01T00:00:00.000Z");
        assert.deepStrictEqual([older.keySince, older.renewAt], ["2020-01-01T00:00:00.000Z", notBefore]);
    });

    it('records an empty issuer name as it records an empty subject: as "" (Node gives none for either)', () => {
        // A CA with an empty subject (RFC 5280 forbids it, yet a private CA may have one) and a leaf it signed.
        const folder = tempDir("inventory-empty-issuer");
        const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
        const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        const file = (name: string) => path.join(folder, name);
        openssl("req", "-x509", ...newKey, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-subj", "/");
        openssl("req", "-new", ...newKey, "-keyout", file("leaf.key"), "-out", file("leaf.csr"), "-subj", "/CN=leaf");
        openssl(
            ...["x509", "-req", "-in", file("leaf.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key")],
            ...["-set_serial", "2", "-days", "30", "-out", file("leaf.crt")],
        );
        const plan = planFromRawConfig(loadStackFile(OPTION_FILES[1]));
        const row = (pem: string) => {
            const pems = Object.fromEntries(plannedCertificates(plan).map((c) => [c.id, pem]));
            const { subject, issuerSubject } = buildInventory(plan, pems).find((c) => c.id === "ob/server")!;
            return [subject, issuerSubject];
        };
        assert.deepStrictEqual(
            [row(fs.readFileSync(file("leaf.crt"), "utf8")), row(fs.readFileSync(file("ca.crt"), "utf8"))],
            [
                ["CN=leaf", ""],
                ["", ""],
            ],
        );
    });

    it("shows the renewal point in the render inventory and in expiry", async () => {
        // A window other than the default, so expiry must read it from inventory.json.
        const rendered = await renderConfig(
            { ...loadStackFile(OPTION_FILES[1]), earlyRenewalDays: { leaf: 30 } },
            "renewal",
        );
        const inventory = JSON.parse(rendered.read("inventory.json")).certificates as {
            id: string;
            notBefore: string;
            renewAt: string;
        }[];
        const server = inventory.find((c) => c.id === "ob/server");
        assert.ok(server);
        assert.strictEqual(Date.parse(server.renewAt) - Date.parse(server.notBefore), 335 * 86_400_000);
        let out = "";
        const status = await main(["expiry", "--dir", rendered.dir], (t) => (out += t));
        assert.strictEqual(status, 0);
        const serverCert = new crypto.X509Certificate(pemBlocks(gatewayServerConfig(rendered, "ob").tlsCrt)[0]);
        const line = out.split("\n").find((l) => l.includes(serverCert.serialNumber));
        assert.ok(line, out);
        assert.ok(line.includes(`  ${server.renewAt}  `), `renew-at column from inventory.json: ${line}`);
    });
});
