/**
 * Four years of a small stack with nobody renewing anything by hand: every week the pipeline runs
 * `lifecycle --write --now <that day>` on what is deployed; whatever it edits (a merged pull
 * request) or says is due for CRL re-publication is deployed at once (a render on the same
 * engine state, as `pulumi up` on the same stack). At every step nothing deployed has expired,
 * every CRL is inside its validity, and the gateway, APIC and the sidecars accept each other under
 * Envoy's rules at that day (BoringSSL and OpenSSL, test/envoyVerifier.ts). On the day of each
 * deployment, so do the peers that lag behind it: APIC with the keystore and truststore of the
 * deployment before (its new ones are uploaded after the update), and sidecars and workloads on
 * either side of istiod's switch to the new cacerts.
 *
 * The timeline (what happened on which day) is written to out/lifecycle-simulation.txt.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { rawConfigFromStackFile } from "../lib/config/load";
import { EngineState } from "../lib/engine/standIn";
import { IssuedCertificate } from "../lib/inventory/issued";
import { pemBlocks } from "../lib/pki/pem";
import { parseCrl } from "../lib/pki/crl";
import { CA_SLOTS, CaSlot, describePosition, RotationRecord, stepOf } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf, renderPlan } from "../lib/render/render";
import { PeerCheck } from "./envoyVerifier";
import { apicCheck, apicSends, assertAllAccepted, decide, gatewayCheck, sidecarCheck } from "./consumers";
import {
    cacerts,
    cli,
    gatewayServerConfig,
    newStackState,
    pemTextsBelow,
    Rendered,
    ROOT,
    tempDir,
    workload,
} from "./helpers";

const DAY_MS = 86_400_000;
const START = new Date("2027-01-04T00:00:00Z");
const YEARS = 4;
const SOAK_DAYS = 7;

/**
 * Lives of months, not years, so that four years hold several leaf renewals, an intermediate and
 * a root rotation, and weeks of CRL re-publication; ECDSA leaves (fast keys) and RSA CAs (CRLs
 * are signed with RSA only; every new CA key costs about a second: the time goes there). The
 * intermediates' window is 90 days, not a third, so that their retired generation (and its CRLs)
 * lives three months, not eight.
 */
const VALIDITY = { root: 1460, intermediate: 730, leaf: 180 };
const STACK_FILE = `# The lifecycle simulation's stack: certificates that live months, not years.
config:
  pki:environment: sim
  pki:option: 1
  pki:baseDomain: sim.api.bank.example
  pki:clusters: [example]   # the examples' cluster name: its mesh CA key is shared with other tests
  pki:keyAlgorithm: ECDSA
  pki:caKeyAlgorithm: RSA
  pki:validityDays: { root: ${VALIDITY.root}, intermediate: ${VALIDITY.intermediate}, leaf: ${VALIDITY.leaf} }
  pki:earlyRenewalDays: { intermediate: 90 }
  pki:domains:
    ob:
      services: [accounts]
    dp:
      services: [party]
`;

interface Deployment {
    day: number;
    rendered: Rendered;
    record: RotationRecord;
    /** Every certificate and CRL in the rendered files, parsed once. */
    certificates: { subject: string; notBefore: Date; notAfter: Date }[];
    crls: { issuer: string; thisUpdate: Date; nextUpdate: Date; number: number | undefined }[];
}

/** Every certificate and CRL of a render (secrets' PEMs are indented YAML block scalars). */
function material(dir: string): Pick<Deployment, "certificates" | "crls"> {
    const certificates = new Map<string, Deployment["certificates"][number]>();
    const crls = new Map<string, Deployment["crls"][number]>();
    for (const text of pemTextsBelow(dir)) {
        for (const pem of pemBlocks(text, "CERTIFICATE")) {
            const cert = new crypto.X509Certificate(pem);
            certificates.set(cert.fingerprint256, {
                subject: cert.subject.replace(/\n/g, ", "),
                notBefore: new Date(cert.validFrom),
                notAfter: new Date(cert.validTo),
            });
        }
        for (const pem of pemBlocks(text, "X509 CRL")) {
            const crl = parseCrl(pem);
            crls.set(pem, {
                issuer: crl.issuerCommonName ?? "?",
                thisUpdate: crl.thisUpdate,
                nextUpdate: crl.nextUpdate,
                number: crl.number,
            });
        }
    }
    return { certificates: [...certificates.values()], crls: [...crls.values()] };
}

/** The workload whose certificates the sidecar checks stand for. */
const WORKLOAD = "spiffe://cluster.local/ns/ob/sa/accounts";

const dateOf = (day: number): Date => new Date(START.getTime() + day * DAY_MS);
const iso = (day: number): string => dateOf(day).toISOString().slice(0, 10);

describe("Lifecycle: four years of a stack that nobody renews by hand", function () {
    this.timeout(600_000);
    const timeline: string[] = [];
    /** Every certificate replacement: the old one's window and end, when and why it was replaced. */
    const replacements: { id: string; day: number; renewAt: Date; notAfter: Date; reissuedByCa: boolean }[] = [];
    /** Every CA rotation phase deployed: slot, position, day. */
    const phases: { slot: CaSlot; position: string; step: number; day: number }[] = [];
    const checks: [string, PeerCheck][] = [];
    /** On each deployment's day: peers still holding the material of the deployment before. */
    const laggingChecks: [string, PeerCheck][] = [];
    const crlNumbers = new Map<string, number[]>();
    let seconds = 0;
    let lifecycleRuns = 0;
    /** expiry on what is deployed, just before each later deployment. */
    const monitoring: { day: number; status: number; out: string }[] = [];

    before(async () => {
        const started = Date.now();
        const dir = tempDir("simulation");
        const stackFile = path.join(dir, "Pulumi.sim.yaml");
        fs.writeFileSync(stackFile, STACK_FILE);
        const state: EngineState = newStackState();

        const deploy = async (day: number, why: string): Promise<Deployment> => {
            const now = dateOf(day);
            const plan = planFromRawConfig(rawConfigFromStackFile(stackFile), {
                deployed: deployedRecordOf(state),
                now,
            });
            const out = path.join(dir, `day-${String(day).padStart(4, "0")}`);
            const result = await renderPlan(plan, out, { force: true, state });
            const rendered: Rendered = {
                ...result,
                plan,
                dir: out,
                read: (f) => fs.readFileSync(path.join(out, f), "utf8"),
            };
            const record = JSON.parse(rendered.read("deployment.json")) as RotationRecord;
            const deployment: Deployment = { day, rendered, record, ...material(out) };
            timeline.push(`day ${String(day).padStart(4)} ${iso(day)}  deployed: ${why}`);
            for (const [id, crl] of Object.entries(record.crls ?? {})) {
                if (crl.published) crlNumbers.set(id, [...(crlNumbers.get(id) ?? []), crl.number]);
            }
            return deployment;
        };

        /**
         * What the consumers decide at `day` with the deployed material (and APIC's previous keystore
         * during a switch). Returns the workload it had the mesh CA sign.
         */
        const addChecks = async (day: number, current: Deployment, previous: Deployment | undefined) => {
            const at = dateOf(day);
            const { rendered } = current;
            for (const endpoint of rendered.plan.endpoints) {
                const id = endpoint.id;
                const pinned = rendered.plan.endpoints.find((e) => e.id === id)?.pinnedPreviousClients ?? [];
                checks.push([
                    `day ${day} gateway ${id}: APIC's client`,
                    gatewayCheck(rendered, id, apicSends(rendered, id), at),
                ]);
                if (previous !== undefined && pinned.length > 0) {
                    checks.push([
                        `day ${day} gateway ${id}: APIC's previous client (switch)`,
                        gatewayCheck(rendered, id, apicSends(previous.rendered, id), at),
                    ]);
                }
                const served = gatewayServerConfig(rendered, id).tlsCrt;
                checks.push([`day ${day} APIC ${id}: the gateway's server`, apicCheck(rendered, id, served, at)]);
            }
            const mesh = cacerts(rendered, "example");
            const peer = await workload(mesh, WORKLOAD, at);
            checks.push([
                `day ${day} sidecar: a workload of the mesh CA`,
                sidecarCheck(mesh, peer.cert, peer.identity, at),
            ]);
            return peer;
        };

        /**
         * The peers that lag behind a deployment on its day: APIC keeps the previous keystore and
         * truststore until someone uploads the new ones after the update, and until istiod has
         * loaded the new cacerts and every proxy has its new bundle, workloads signed by the old
         * and by the new mesh CA meet sidecars holding either bundle. `newPeer`: a workload of the
         * new mesh CA (addChecks had it signed at `day`).
         */
        const addLaggingChecks = async (
            day: number,
            current: Deployment,
            previous: Deployment,
            newPeer: { cert: string },
        ) => {
            const at = dateOf(day);
            for (const endpoint of current.rendered.plan.endpoints) {
                const served = gatewayServerConfig(current.rendered, endpoint.id).tlsCrt;
                laggingChecks.push(
                    [
                        `day ${day} APIC ${endpoint.id} with its previous truststore: the gateway's new server`,
                        apicCheck(previous.rendered, endpoint.id, served, at),
                    ],
                    [
                        `day ${day} gateway ${endpoint.id}: APIC's client from its previous keystore`,
                        gatewayCheck(current.rendered, endpoint.id, apicSends(previous.rendered, endpoint.id), at),
                    ],
                );
            }
            const [before, after] = [cacerts(previous.rendered, "example"), cacerts(current.rendered, "example")];
            const oldPeer = await workload(before, WORKLOAD, at);
            laggingChecks.push(
                [
                    `day ${day} sidecar with the previous bundle: a workload of the new mesh CA`,
                    sidecarCheck(before, newPeer.cert, WORKLOAD, at),
                ],
                [
                    `day ${day} sidecar with the new bundle: a workload of the previous mesh CA`,
                    sidecarCheck(after, oldPeer.cert, WORKLOAD, at),
                ],
            );
        };

        /** Nothing deployed has expired or is not yet valid; every CRL is inside its validity. */
        const assertValid = (day: number, d: Deployment) => {
            const at = dateOf(day).getTime();
            for (const c of d.certificates) {
                assert.ok(
                    c.notBefore.getTime() <= at && at < c.notAfter.getTime(),
                    `day ${day}: ${c.subject} valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()}`,
                );
            }
            for (const c of d.crls) {
                assert.ok(
                    c.thisUpdate.getTime() <= at && at < c.nextUpdate.getTime(),
                    `day ${day}: CRL of ${c.issuer} valid ${c.thisUpdate.toISOString()} to ${c.nextUpdate.toISOString()}`,
                );
            }
        };

        let current = await deploy(0, "the stack's first update");
        for (const slot of CA_SLOTS)
            phases.push({ slot, position: describePosition(current.record.positions[slot]), step: 0, day: 0 });
        let previous: Deployment | undefined;
        await addChecks(0, current, undefined);
        for (let day = 7; day <= YEARS * 365 + 1; day += 7) {
            assertValid(day, current);
            const run = await cli(
                "lifecycle",
                "--config",
                stackFile,
                "--deployed",
                current.rendered.dir,
                "--now",
                dateOf(day).toISOString(),
                "--soak-days",
                String(SOAK_DAYS),
                "--write",
                "--format",
                "json",
            );
            lifecycleRuns++;
            const result = JSON.parse(run.out) as {
                changed: boolean;
                republishCrls: boolean;
                needsHuman: string[];
                waiting: string[];
                proposals: { kind: string; subject: string; edits: { key: string; to: string | number }[] }[];
            };
            assert.deepStrictEqual([run.status, result.needsHuman], [0, []], `day ${day}: ${run.err}${run.out}`);
            if (!result.changed && !result.republishCrls) {
                await addChecks(day, current, previous);
                continue;
            }
            // The material only ages between deployments: monitoring that stays quiet now, just before
            // the next one, stayed quiet since the last (expiry with the README's 30-day alert).
            const monitored = await cli("expiry", "--dir", current.rendered.dir, "--now", dateOf(day).toISOString());
            monitoring.push({ day, status: monitored.status, out: monitored.out + monitored.err });
            const what = [
                ...result.proposals.map(
                    (p) =>
                        `${p.kind} ${p.subject} (${p.edits.map((e) => `${e.key.replace(/^pki:(rotation\.endpoints\.|caRotation\.)?/, "")}=${e.to}`).join(", ")})`,
                ),
                ...(result.republishCrls && !result.changed ? ["CRLs re-published (pulumi up, no config change)"] : []),
            ];
            const next = await deploy(day, what.join("; "));
            for (const w of result.waiting) timeline.push(`              waiting: ${w}`);
            // Replacements: every leaf and CA whose serial changed, with the old one's window.
            const before = new Map(current.rendered.inventory.map((c) => [c.id, c]));
            const reissuing = result.proposals.some(
                (p) => p.kind === "advance-ca" && p.edits.some((e) => e.to === "switch"),
            );
            for (const c of next.rendered.inventory) {
                const old = before.get(c.id) as IssuedCertificate | undefined;
                if (
                    old === undefined ||
                    old.serial === c.serial ||
                    (c.role !== "gateway-server" && c.role !== "apic-client")
                )
                    continue;
                replacements.push({
                    id: c.id,
                    day,
                    renewAt: new Date(old.renewAt),
                    notAfter: new Date(old.notAfter),
                    reissuedByCa: reissuing,
                });
            }
            for (const slot of CA_SLOTS) {
                const position = next.record.positions[slot];
                if (stepOf(position) !== stepOf(current.record.positions[slot])) {
                    phases.push({ slot, position: describePosition(position), step: stepOf(position), day });
                }
            }
            previous = current;
            current = next;
            assertValid(day, current);
            const newPeer = await addChecks(day, current, previous);
            await addLaggingChecks(day, current, previous, newPeer);
        }
        seconds = (Date.now() - started) / 1000;
    });

    after(() => {
        const summary = [
            `Lifecycle simulation: ${YEARS} years from ${iso(0)} in weekly lifecycle runs (${lifecycleRuns}), soak ${SOAK_DAYS} days,`,
            `validity root ${VALIDITY.root} / intermediate ${VALIDITY.intermediate} (window 90) / leaf ${VALIDITY.leaf} days, CRL period 7 days;`,
            `${timeline.filter((l) => l.includes("deployed:")).length} deployments, ${checks.length} handshake checks, ${seconds.toFixed(1)} s.`,
            "",
            ...timeline,
            "",
        ].join("\n");
        fs.mkdirSync(path.join(ROOT, "out"), { recursive: true });
        fs.writeFileSync(path.join(ROOT, "out", "lifecycle-simulation.txt"), summary);
        process.stdout.write(
            `      timeline: out/lifecycle-simulation.txt (${timeline.length} lines, ${seconds.toFixed(1)} s)\n`,
        );
    });

    it("renews every leaf inside its renewal window and never after it expired", () => {
        for (const id of ["ob/server", "ob/client", "dp/server", "dp/client"]) {
            const count = replacements.filter((r) => r.id === id).length;
            assert.ok(count >= Math.floor((YEARS * 365) / VALIDITY.leaf), `${id} replaced ${count} times`);
        }
        for (const r of replacements) {
            const day = dateOf(r.day).getTime();
            assert.ok(
                day < r.notAfter.getTime(),
                `${r.id} replaced on day ${r.day}, after it expired on ${r.notAfter.toISOString()}`,
            );
            assert.ok(
                r.reissuedByCa || day >= r.renewAt.getTime(),
                `${r.id} replaced on day ${r.day}, before its window (${r.renewAt.toISOString()}) and not by a CA switch`,
            );
        }
    });

    it("rotates CAs through prepare, switch and finish, each phase deployed at least the soak time", () => {
        const rotated = new Set(phases.filter((p) => p.step > 0).map((p) => p.slot));
        for (const slot of [
            "gatewayServerCa",
            "apicClientCa",
            "meshCa",
            "serverRoot",
            "clientRoot",
            "meshRoot",
        ] as const)
            assert.ok(rotated.has(slot), `${slot} never rotated`);
        for (const slot of CA_SLOTS) {
            const of = phases.filter((p) => p.slot === slot);
            for (const [i, p] of of.entries()) {
                if (i === 0) continue;
                assert.strictEqual(p.step, of[i - 1].step + 1, `${slot}: ${of[i - 1].position} -> ${p.position}`);
                if (p.position.endsWith("prepare")) continue;
                assert.ok(
                    p.day - of[i - 1].day >= SOAK_DAYS,
                    `${slot}: ${p.position} on day ${p.day}, ${of[i - 1].position} on day ${of[i - 1].day}`,
                );
            }
        }
    });

    it("keeps every CRL number going up, for every CA", () => {
        assert.ok(crlNumbers.size > 0, "CRLs were published");
        for (const [id, numbers] of crlNumbers) {
            for (let i = 1; i < numbers.length; i++)
                assert.ok(numbers[i] >= numbers[i - 1], `${id}: ${numbers.join(", ")}`);
        }
    });

    it("keeps expiry's alert (certificates within 30 days, CRLs with less than half their validity) quiet all along", () => {
        assert.ok(monitoring.length >= 30, `${monitoring.length} runs`);
        for (const run of monitoring) assert.strictEqual(run.status, 0, `day ${run.day}: ${run.out}`);
    });

    it("has the gateway, APIC and the sidecars accept each other under Envoy's rules at every step", () => {
        assert.ok(checks.length > 3 * 200, `${checks.length} checks`);
        assertAllAccepted(decide(checks));
    });

    it("has the new gateway, APIC and sidecars work with the peers that lag behind each deployment on its day", () => {
        assert.ok(laggingChecks.length > 6 * 30, `${laggingChecks.length} checks`);
        assertAllAccepted(decide(laggingChecks));
    });
});
