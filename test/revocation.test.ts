import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import * as net from "net";
import { main } from "../lib/cli/main";
import { diffPlans } from "../lib/inventory/diff";
import { planFromRawConfig } from "../lib/plan/plan";
import { pemBlocks } from "../lib/pki/pem";
import { CLOCK_SKEW_MS, parseCrl, periodStart } from "../lib/pki/crl";
import { EngineState } from "../lib/engine/standIn";
import {
    apicCredentials,
    gatewayServerConfig,
    handshake,
    loadStackFile,
    newStackState,
    OPTION_FILES,
    openssl,
    opensslSpkiPin,
    renderNext,
    Rendered,
    tempDir,
    writeTemp,
} from "./helpers";
import { deployedRecordOf } from "../lib/render/render";
import { apicSends, decide, gatewayCheck, summary } from "./consumers";

/** The deployment record of `state` as it was before ob's client was revoked: only its epoch-0 certificate deployed. */
function recordBeforeRevoking(state: Parameters<typeof deployedRecordOf>[0]) {
    const deployed = deployedRecordOf(state);
    return {
        ...deployed,
        clients: { ...deployed.clients, ob: [{ ...deployed.clients.ob[0], revoked: undefined }] },
    };
}

const freePort = (): Promise<number> =>
    new Promise((resolve) => {
        const server = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });

/** openssl s_server with -crl_check_all as an independent TLS server; returns what s_client saw. */
async function opensslHandshake(
    server: { tlsCrt: string; tlsKey: string; caCrt: string; caCrl: string },
    client: { cert: string; key: string; ca: string },
): Promise<{ output: string }> {
    const dir = tempDir("s-server");
    const port = await freePort();
    const s = spawn(
        "openssl",
        [
            "s_server",
            "-accept",
            `127.0.0.1:${port}`,
            "-cert",
            writeTemp(dir, "tls.crt", server.tlsCrt),
            // -cert reads only the leaf of tls.crt; the gateway sends its issuing CA too.
            "-cert_chain",
            writeTemp(dir, "tls-chain.crt", pemBlocks(server.tlsCrt, "CERTIFICATE").slice(1).join("")),
            "-key",
            writeTemp(dir, "tls.key", server.tlsKey),
            // -CRL reads one CRL; a CAfile may carry certificates and every CRL, as Envoy's ca.crl does.
            "-CAfile",
            writeTemp(dir, "ca-and-crls.pem", server.caCrt + server.caCrl),
            "-crl_check_all",
            "-Verify",
            "1",
            "-verify_return_error",
        ],
        { stdio: ["pipe", "pipe", "pipe"] },
    );
    let serverOutput = "";
    const ready = new Promise<void>((resolve) => {
        s.stdout.on("data", (d) => {
            serverOutput += d;
            if (serverOutput.includes("ACCEPT")) resolve();
        });
    });
    s.stderr.on("data", (d) => (serverOutput += d));
    let startTimer: NodeJS.Timeout | undefined;
    try {
        await Promise.race([
            ready,
            new Promise((_, reject) => {
                startTimer = setTimeout(() => reject(new Error(`s_server did not start: ${serverOutput}`)), 10_000);
            }),
        ]);
        const c = spawnSync(
            "openssl",
            [
                "s_client",
                "-connect",
                `127.0.0.1:${port}`,
                "-brief",
                "-cert",
                writeTemp(dir, "client.crt", client.cert),
                // As APIC does, send the issuing CA after the certificate (the gateway trusts only the root).
                "-cert_chain",
                writeTemp(dir, "client-chain.crt", pemBlocks(client.cert, "CERTIFICATE").slice(1).join("")),
                "-key",
                writeTemp(dir, "client.key", client.key),
                "-CAfile",
                writeTemp(dir, "trust.pem", client.ca),
            ],
            { input: "ping\n", encoding: "utf8", timeout: 10_000 },
        );
        // Wait for the server's own verdict: "CIPHER is" after a completed handshake, or its error.
        for (let i = 0; i < 100 && !/CIPHER is|ERROR/.test(serverOutput); i++)
            await new Promise((r) => setTimeout(r, 20));
        const output = `${c.stdout}${c.stderr}\n${serverOutput}`;
        return { output };
    } finally {
        // A pending timer would keep the test process alive for 10 s after its last test.
        clearTimeout(startTimer);
        s.kill();
    }
}

describe("Revocation: a CRL of the APIC-client CA in every gateway secret", function () {
    this.timeout(120_000);
    let original: Rendered;
    let after: Rendered;
    let revokedSerial: string;
    let state: EngineState;
    // One clock for every render of this stack: a render after a weekly CRL period boundary would
    // start a new period, and "byte-identical for the same inputs" holds only for the same period.
    const now = new Date();
    // The certificates are issued a week before they are revoked: a revocation is never dated
    // before the certificate it revokes was issued.
    const issuedAt = new Date(now.getTime() - 7 * 86_400_000);
    const revokedAt = new Date(now.getTime() - 6 * 86_400_000).toISOString();

    const revokedConfig = () => ({
        ...loadStackFile(OPTION_FILES[1]),
        revocations: [
            {
                endpoint: "ob",
                serial: revokedSerial,
                epoch: 0,
                reason: "keyCompromise",
                revokedAt,
            },
        ],
    });

    before(async () => {
        // No certificate of the run's shared state: another file's, issued now, would be kept as it
        // is, and the revocation would then be dated before its notBefore.
        state = newStackState(new Map());
        original = await renderNext(loadStackFile(OPTION_FILES[1]), "original", state, issuedAt);
        revokedSerial = new X509Certificate(original.read("apic/ob/client.crt")).serialNumber;
        after = await renderNext(revokedConfig(), "revoked", state, now);
    });

    it("publishes ca.crl with the APIC-client CA's CRL listing the serial and the root's, both verifying", () => {
        const gateway = gatewayServerConfig(after, "ob");
        assert.ok(gateway.caCrl, "ca.crl in the secret");
        const crls = pemBlocks(gateway.caCrl, "X509 CRL");
        assert.strictEqual(crls.length, 2);
        assert.deepStrictEqual(parseCrl(crls[0]).revokedSerials, [revokedSerial]);
        assert.deepStrictEqual(parseCrl(crls[1]).revokedSerials, []);
        const dir = tempDir("crl");
        const [root] = pemBlocks(gateway.caCrt, "CERTIFICATE");
        const [clientCa] = pemBlocks(after.read("apic/ob/ca-chain.pem"), "CERTIFICATE");
        for (const [crl, issuer] of [
            [crls[0], clientCa + root],
            [crls[1], root],
        ]) {
            const result = openssl([
                "crl",
                "-noout",
                "-CAfile",
                writeTemp(dir, "ca.pem", issuer),
                "-in",
                writeTemp(dir, "c.crl", crl),
            ]);
            assert.strictEqual(result.status, 0, result.output);
            assert.match(result.output, /verify OK/);
        }
        assert.match(openssl(["crl", "-noout", "-text"], crls[0]).output, /Key Compromise/);
        assert.strictEqual(gatewayServerConfig(original, "ob").caCrl, undefined, "no CRL without revocations");
    });

    it("re-issues the endpoint's client certificate with a new key, unpins the revoked key, and keeps the other endpoints", () => {
        assert.notStrictEqual(after.read("apic/ob/client.key"), original.read("apic/ob/client.key"));
        assert.strictEqual(after.read("apic/dp/client.crt"), original.read("apic/dp/client.crt"));
        // No overlap for a revoked key, even in a switch phase: only the new key is pinned.
        assert.deepStrictEqual(gatewayServerConfig(after, "ob").verifyCertificateSpki, [
            opensslSpkiPin(after.read("apic/ob/client.crt")),
        ]);
        assert.strictEqual(
            planFromRawConfig({
                ...loadStackFile(OPTION_FILES[1]),
                revocations: [
                    { endpoint: "ob", serial: "AB", epoch: 0, reason: "superseded", revokedAt: "2026-11-20" },
                ],
            }).endpoints.find((e) => e.id === "ob")?.client.epoch,
            1,
        );
    });

    it("makes a TLS server checking ca.crl (Node) reject the revoked certificate and accept the re-issued one", async () => {
        const gateway = gatewayServerConfig(after, "ob");
        // Without the key pin, to see what the CRL alone does (the pin would refuse it first).
        const revoked = await handshake(
            { ...gateway, verifyCertificateSpki: [] },
            { ...apicCredentials(original, "ob"), ca: apicCredentials(after, "ob").ca },
        );
        assert.strictEqual(revoked.accepted, false);
        assert.strictEqual(revoked.reason, "CERT_REVOKED");
        const fresh = await handshake(gateway, apicCredentials(after, "ob"));
        assert.deepStrictEqual(fresh, { accepted: true, reason: "", clientAuthorized: true, clientError: "" });
        const other = await handshake(gatewayServerConfig(after, "dp"), apicCredentials(after, "dp"));
        assert.strictEqual(other.accepted, true, "CRLs for the whole chain are present, so other clients pass");
    });

    it("makes openssl s_server -crl_check_all reject the revoked certificate and accept the re-issued one", async () => {
        const gateway = gatewayServerConfig(after, "ob");
        const server = {
            tlsCrt: gateway.tlsCrt,
            tlsKey: gateway.tlsKey,
            caCrt: gateway.caCrt,
            caCrl: gateway.caCrl as string,
        };
        const oldClient = apicCredentials(original, "ob");
        const revoked = await opensslHandshake(server, {
            cert: oldClient.cert as string,
            key: oldClient.key as string,
            ca: oldClient.ca,
        });
        assert.match(revoked.output, /verify error:num=23:certificate revoked/, revoked.output);
        const newClient = apicCredentials(after, "ob");
        const fresh = await opensslHandshake(server, {
            cert: newClient.cert as string,
            key: newClient.key as string,
            ca: newClient.ca,
        });
        assert.doesNotMatch(fresh.output, /certificate revoked|verify error/i, fresh.output);
        assert.match(fresh.output, /CIPHER is /, fresh.output);
    });

    it("gives a byte-identical CRL for the same inputs (no preview churn)", async () => {
        const again = await renderNext(revokedConfig(), "revoked-again", state, now);
        assert.strictEqual(gatewayServerConfig(again, "ob").caCrl, gatewayServerConfig(after, "ob").caCrl);
    });

    it("has expiry report each CRL's next update, and warn only once two re-publications were missed", async () => {
        const crls = pemBlocks(gatewayServerConfig(after, "ob").caCrl ?? "", "X509 CRL").map(parseCrl);
        const periodic = crls[0];
        // The period that began CLOCK_SKEW_MS before the run: in a period's first minutes the CRL is still the previous one's.
        const start = periodStart(new Date(now.getTime() - CLOCK_SKEW_MS), 7).getTime();
        assert.deepStrictEqual(
            [periodic.thisUpdate.getTime(), periodic.nextUpdate.getTime(), crls[1].nextUpdate.toISOString()],
            [
                Math.max(start, Date.parse(revokedAt)),
                start + 28 * 86_400_000,
                new Date(new X509Certificate(gatewayServerConfig(after, "ob").caCrt).validTo).toISOString(),
            ],
            "the APIC-client CA's CRL: from its period's start (never before the revocation) for four 7-day periods; the root's: as long as the root",
        );
        const at = (daysLeft: number) => new Date(periodic.nextUpdate.getTime() - daysLeft * 86_400_000).toISOString();
        let out = "";
        const fresh = await main(
            ["expiry", "--dir", after.dir, "--now", at(15)],
            (t) => (out += t),
            () => undefined,
        );
        assert.strictEqual(fresh, 0, out);
        assert.match(out, /^ok +15 +\S+ +\S+ +CRL of example APIC client CA \(1 revoked\) +#\d+$/m);
        assert.match(out, /^ok +\d{4} +\S+ +\S+ +CRL of example APIC client root CA \(0 revoked\) +#\d+$/m);
        out = "";
        const stale = await main(
            ["expiry", "--dir", after.dir, "--now", at(10)],
            (t) => (out += t),
            () => undefined,
        );
        assert.strictEqual(stale, 1, out);
        assert.match(out, /^publish soon +10 +\S+ +\S+ +CRL of example APIC client CA \(1 revoked\)/m);
    });

    it("refuses revocations of unknown endpoints, bad serials and unknown reasons, and with ECDSA CAs", () => {
        const base = loadStackFile(OPTION_FILES[1]);
        const attempt = (revocation: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
            try {
                planFromRawConfig({ ...base, ...extra, revocations: [revocation] });
                return "";
            } catch (err) {
                return (err as Error).message;
            }
        };
        const ok = { endpoint: "ob", serial: "0A1B", epoch: 0, reason: "superseded", revokedAt: "2026-11-20" };
        assert.match(
            attempt({ ...ok, endpoint: "payments" }),
            /pki:revocations\[0\]\.endpoint "payments" is not an endpoint of this stack; its endpoints are dp, ob/,
        );
        assert.match(
            attempt({ ...ok, serial: "xyz" }),
            /pki:revocations\[0\]\.serial must be the certificate's serial number in hex \(as expiry prints it\); got "xyz"/,
        );
        assert.match(
            attempt({ ...ok, reason: "lost" }),
            /pki:revocations\[0\]\.reason must be one of unspecified, keyCompromise/,
        );
        assert.match(
            attempt({ ...ok, revokedAt: "yesterday" }),
            /pki:revocations\[0\]\.revokedAt must be an ISO 8601 date/,
        );
        assert.match(attempt(ok, { caKeyAlgorithm: "ECDSA" }), /pki:revocations needs pki:caKeyAlgorithm RSA/);
        assert.strictEqual(attempt(ok), "");
    });

    it("refuses removing the revocation while the revoked certificate is valid, even with the client's epoch kept: the serial would leave the CRL", () => {
        const deployed = deployedRecordOf(state);
        const [revoked] = deployed.clients.ob;
        assert.deepStrictEqual([revoked.serialHex, revoked.revoked], [revokedSerial, true]);
        const current = new X509Certificate(after.read("apic/ob/client.crt")).serialNumber;
        const droppedProblem =
            `  - pki:revocations no longer lists serial ${revokedSerial} of endpoint "ob", which the deployed stack revoked and which is valid until ${revoked.notAfter}: ` +
            "the CRL would stop listing it, and the leaked certificate would pass again wherever the CRL is checked. " +
            `Keep its entry ({ endpoint: ob, serial: ${revokedSerial}, epoch: 0, ... }) until then`;
        // The entry removed: named once, as the dropped revocation (the epoch going back is the same mistake).
        assert.throws(() => planFromRawConfig(loadStackFile(OPTION_FILES[1]), { deployed, now }), {
            message: `invalid stack configuration:\n${droppedProblem}`,
        });
        // With the epoch kept, the leaked certificate would pass again all the same: refused.
        const kept = { ...loadStackFile(OPTION_FILES[1]), rotation: { endpoints: { ob: { clientEpoch: 1 } } } };
        assert.throws(() => planFromRawConfig(kept, { deployed, now }), {
            message: `invalid stack configuration:\n${droppedProblem}`,
        });
        // Once it would have expired, the entry may go with the epoch kept; removed alone, the epoch goes back.
        const expired = new Date(Date.parse(revoked.notAfter) + 1000);
        assert.doesNotThrow(() => planFromRawConfig(kept, { deployed, now: expired }));
        assert.throws(() => planFromRawConfig(loadStackFile(OPTION_FILES[1]), { deployed, now: expired }), {
            message:
                "invalid stack configuration:\n" +
                `  - the APIC client of endpoint "ob" would go back from epoch 1 (deployed, serial ${current}) to 0: ` +
                "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced); removing an entry of pki:revocations " +
                "lowers it too and takes the revoked serial out of the gateway's CRL. Keep the revocation until its certificate would have expired, " +
                "or set back the epoch that went down: pki:rotation.apicClientEpoch to 1 if that one did, else pki:rotation.endpoints.ob.clientEpoch to 1" +
                " (diff refuses every epoch going down, so raising the other one instead is no fix)",
        });
    });

    it("refuses the endpoint removed and added back without its revocation: a switch phase would pin the revoked key again", async () => {
        // The attacker holds ob's revoked epoch-0 key and certificate. Removing ob takes its
        // revocation out of the config (it names no endpoint any more); adding ob back in a switch
        // phase would pin the previous key, the revoked one, and no CRL would list it.
        const branch: EngineState = new Map(state);
        const { ob: _removed, ...otherDomains } = JSON.parse(loadStackFile(OPTION_FILES[1]).domains);
        await renderNext({ ...loadStackFile(OPTION_FILES[1]), domains: otherDomains }, "ob-removed", branch, now);
        const back = {
            ...loadStackFile(OPTION_FILES[1]),
            rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase: "switch" } } },
        };
        const [revoked] = deployedRecordOf(branch).clients.ob;
        assert.throws(() => planFromRawConfig(back, { deployed: deployedRecordOf(branch), now }), {
            message:
                "invalid stack configuration:\n" +
                `  - endpoint "ob" is back in the stack, but this stack revoked its certificate serial ${revokedSerial} (epoch 0) before the endpoint was removed, and it is valid until ${revoked.notAfter}: ` +
                "without its pki:revocations entry the CRL would not list it, and a switch phase would pin its key at the gateway again. " +
                `List it again ({ endpoint: ob, serial: ${revokedSerial}, epoch: 0, ... }) until then`,
        });
        // Listed again, the gateway pins only the current key and its CRL lists the serial: refused.
        const relisted = await renderNext(
            { ...back, revocations: revokedConfig().revocations },
            "ob-back",
            branch,
            now,
        );
        assert.deepStrictEqual(gatewayServerConfig(relisted, "ob").verifyCertificateSpki, [
            opensslSpkiPin(relisted.read("apic/ob/client.crt")),
        ]);
        const [verdict] = decide([["gateway", gatewayCheck(relisted, "ob", apicSends(original, "ob"))]]);
        assert.deepStrictEqual(summary(verdict[1]), {
            boringssl: "certificate revoked",
            openssl: "certificate revoked",
        });
    });

    it("refuses a mistyped serial as the only problem when it is the first revocation: no advice to revoke what the user just tried to revoke", () => {
        const beforeRevoking = recordBeforeRevoking(state);
        const [issued] = beforeRevoking.clients.ob;
        assert.strictEqual(issued.serialHex, revokedSerial);
        const mistyped = { ...revokedConfig(), revocations: [{ ...revokedConfig().revocations[0], serial: "0A1B" }] };
        assert.throws(() => planFromRawConfig(mistyped, { deployed: beforeRevoking, now }), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:revocations[0].serial 0A1B is not a certificate this stack issued to endpoint "ob" (a typo, or another environment's certificate?); ` +
                `its certificates on record are serial ${issued.serialHex} (epoch 0, until ${issued.notAfter.slice(0, 10)}). ` +
                "Copy the serial of the leaked certificate from npx apic-istio-pki expiry --dir <render folder> or openssl x509 -noout -serial",
        });
        // With the right serial, the same change is the revocation the stack made.
        assert.doesNotThrow(() => planFromRawConfig(revokedConfig(), { deployed: beforeRevoking, now }));
    });

    it("names the clientEpoch that keeps the client where it is when a revocation still left raises it", async () => {
        // The epoch-1 certificate revoked too: the client is at epoch 2.
        const own = new Map(state);
        const second = new X509Certificate(after.read("apic/ob/client.crt")).serialNumber;
        const twice = revokedConfig();
        twice.revocations.push({
            endpoint: "ob",
            serial: second,
            epoch: 1,
            reason: "keyCompromise",
            // Issued at this clock (by the render of `after`), so CLOCK_SKEW_MS before it: the
            // plan refuses a later time, and one before the certificate was issued.
            revokedAt: new Date(now.getTime() - CLOCK_SKEW_MS).toISOString(),
        });
        const third = await renderNext(twice, "revoked-twice", own, now);
        const newest = new X509Certificate(third.read("apic/ob/client.crt")).serialNumber;
        // The second entry removed once its certificate would have expired (before, the entry must
        // stay): the first one still raises the client past epoch 0, to 1, not to 2.
        const deployed = deployedRecordOf(own);
        const expired = new Date(Date.parse(deployed.clients.ob[1].notAfter) + 1000);
        assert.strictEqual(deployed.clients.ob[1].serialHex, second);
        assert.throws(() => planFromRawConfig(revokedConfig(), { deployed, now: expired }), {
            message:
                "invalid stack configuration:\n" +
                `  - the APIC client of endpoint "ob" would go back from epoch 2 (deployed, serial ${newest}) to 1: ` +
                "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced); removing an entry of pki:revocations " +
                "lowers it too and takes the revoked serial out of the gateway's CRL. Keep the revocation until its certificate would have expired, " +
                "or set back the epoch that went down: pki:rotation.apicClientEpoch to 2 if that one did, else pki:rotation.endpoints.ob.clientEpoch to 2" +
                " (diff refuses every epoch going down, so raising the other one instead is no fix)",
        });
        const named = { ...revokedConfig(), rotation: { endpoints: { ob: { clientEpoch: 2 } } } };
        assert.doesNotThrow(() => planFromRawConfig(named, { deployed, now: expired }));
        // At the APIC-client CA's switch (deployed: its prepare), whose new generation makes up the
        // difference: the new CA would certify the key of epoch 2, the epoch the revocation left moves it to 1.
        const prepared = {
            ...deployed,
            positions: { ...deployed.positions, apicClientCa: { generation: 1, phase: "prepare" as const } },
        };
        const switched = { caRotation: { apicClientCa: { generation: 1, phase: "switch" } } };
        assert.throws(
            () => planFromRawConfig({ ...revokedConfig(), ...switched }, { deployed: prepared, now: expired }),
            {
                message:
                    "invalid stack configuration:\n" +
                    `  - the APIC client of endpoint "ob" would keep its key of epoch 2 (deployed, serial ${newest}) though a new APIC-client CA re-issues it: ` +
                    "pki:revocations moves its epoch to 1, past its revoked certificates', below the 2 deployed, and the CA's new generation makes up the difference; " +
                    "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced); removing an entry of pki:revocations " +
                    "lowers it too and takes the revoked serial out of the gateway's CRL. Keep the revocation until its certificate would have expired, " +
                    "or set back the epoch that went down: pki:rotation.apicClientEpoch to 2 if that one did, else pki:rotation.endpoints.ob.clientEpoch to 2" +
                    " (diff refuses every epoch going down, so raising the other one instead is no fix)",
            },
        );
        assert.doesNotThrow(() => planFromRawConfig({ ...named, ...switched }, { deployed: prepared, now: expired }));
    });

    it("refuses a serial the stack never issued to that endpoint, naming the certificates it did issue", async () => {
        const deployed = deployedRecordOf(state);
        const issued = deployed.clients.ob;
        assert.deepStrictEqual(
            issued.map((c) => [c.epoch, c.serialHex]),
            [
                [0, revokedSerial],
                [1, new X509Certificate(after.read("apic/ob/client.crt")).serialNumber],
            ],
        );
        const dpSerial = new X509Certificate(after.read("apic/dp/client.crt")).serialNumber;
        for (const [serial, why] of [
            ["0A1B", "a typo"],
            [dpSerial, "another endpoint's certificate"],
        ]) {
            assert.throws(
                () =>
                    planFromRawConfig(
                        {
                            ...loadStackFile(OPTION_FILES[1]),
                            // The deployed revocation kept, a second one mistyped.
                            revocations: [
                                ...revokedConfig().revocations,
                                { endpoint: "ob", serial, epoch: 0, reason: "keyCompromise", revokedAt: "2026-11-20" },
                            ],
                        },
                        { deployed },
                    ),
                {
                    message:
                        "invalid stack configuration:\n" +
                        `  - pki:revocations[1].serial ${serial} is not a certificate this stack issued to endpoint "ob" (a typo, or another environment's certificate?); ` +
                        `its certificates on record are ${issued.map((c) => `serial ${c.serialHex} (epoch ${c.epoch}, until ${c.notAfter.slice(0, 10)})`).join(", ")}. ` +
                        "Copy the serial of the leaked certificate from npx apic-istio-pki expiry --dir <render folder> or openssl x509 -noout -serial",
                },
                why,
            );
        }
    });

    it("refuses a revocation dated before its certificate was issued (a year mistyped), naming the certificate's notBefore, and updates nothing", async () => {
        // The record as it was before the revocation, and the revoked certificate's own notBefore.
        const beforeRevoking = recordBeforeRevoking(state);
        const notBefore = new Date(new X509Certificate(original.read("apic/ob/client.crt")).validFrom).toISOString();
        assert.strictEqual(beforeRevoking.clients.ob[0].notBefore, notBefore);
        const mistyped = new Date(Date.parse(revokedAt) - 365 * 86_400_000).toISOString();
        const backdated = {
            ...revokedConfig(),
            revocations: [{ ...revokedConfig().revocations[0], revokedAt: mistyped }],
        };
        const earliest = new Date(Date.parse(notBefore) - CLOCK_SKEW_MS).toISOString();
        const refusal =
            "invalid stack configuration:\n" +
            `  - pki:revocations[0].revokedAt ${mistyped} is before serial ${revokedSerial} was issued (notBefore ${notBefore}): ` +
            "the CRL would date its revocation before the certificate existed, and diff, which bounds the certificate's life by revokedAt, " +
            "would let the entry go while it is still valid; give the time its key was found compromised; " +
            `the earliest this update takes is ${earliest} (the certificate's notBefore, less five minutes for clock skew)`;
        assert.throws(() => planFromRawConfig(backdated, { deployed: beforeRevoking, now }), { message: refusal });
        // Five minutes of clock skew are allowed, not a second more; the fix named is the reason's.
        const dated = (at: string, reason = "keyCompromise") => ({
            ...revokedConfig(),
            revocations: [{ ...revokedConfig().revocations[0], reason, revokedAt: at }],
        });
        assert.doesNotThrow(() => planFromRawConfig(dated(earliest), { deployed: beforeRevoking, now }));
        const secondEarlier = new Date(Date.parse(earliest) - 1000).toISOString();
        assert.throws(() => planFromRawConfig(dated(secondEarlier, "superseded"), { deployed: beforeRevoking, now }), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:revocations[0].revokedAt ${secondEarlier} is before serial ${revokedSerial} was issued (notBefore ${notBefore}): ` +
                "the CRL would date its revocation before the certificate existed, and diff, which bounds the certificate's life by revokedAt, " +
                "would let the entry go while it is still valid; give the time it was superseded (its replacement was issued); " +
                `the earliest this update takes is ${earliest} (the certificate's notBefore, less five minutes for clock skew)`,
        });
        // A record whose notBefore is after this update's clock (written by a machine whose clock was
        // ahead): the earliest time the update takes is CLOCK_SKEW_MS before its own clock.
        const behind = new Date(Date.parse(notBefore) - 60_000);
        assert.throws(() => planFromRawConfig(backdated, { deployed: beforeRevoking, now: behind }), {
            message:
                "invalid stack configuration:\n" +
                `  - pki:revocations[0].revokedAt ${mistyped} is before serial ${revokedSerial} was issued (notBefore ${notBefore}): ` +
                "the CRL would date its revocation before the certificate existed, and diff, which bounds the certificate's life by revokedAt, " +
                "would let the entry go while it is still valid; give the time its key was found compromised; " +
                `the earliest this update takes is ${new Date(behind.getTime() - CLOCK_SKEW_MS).toISOString()} ` +
                "(five minutes before this update, the latest it takes too: the certificate's notBefore is after this update's clock)",
        });
        // Any date is taken from a record of an earlier version, which lacks the notBefore.
        const earlierVersion = {
            ...beforeRevoking,
            clients: { ...beforeRevoking.clients, ob: [{ ...beforeRevoking.clients.ob[0], notBefore: undefined }] },
        };
        assert.doesNotThrow(() => planFromRawConfig(backdated, { deployed: earlierVersion, now }));
        // The update (render --state, as pulumi up) refuses it with the deployed stack as it was.
        const own = new Map(state);
        const kept = JSON.stringify([...own]);
        await assert.rejects(renderNext(backdated, "revoked-backdated", own, now), { message: refusal });
        assert.strictEqual(JSON.stringify([...own]), kept, "nothing created or written");
    });
    it("leaves diff no backdated revocation to trust: the base whose entry diff would let go early is refused by the update, and one dated from the certificate's issue keeps it", () => {
        const beforeRevoking = recordBeforeRevoking(state);
        const certificate = new X509Certificate(original.read("apic/ob/client.crt"));
        const notBefore = new Date(certificate.validFrom).toISOString();
        const dated = (at: string) => ({
            ...revokedConfig(),
            revocations: [{ ...revokedConfig().revocations[0], revokedAt: at }],
        });
        // The entry dropped in a pull request, with the client's epoch kept.
        const dropped = { ...loadStackFile(OPTION_FILES[1]), rotation: { endpoints: { ob: { clientEpoch: 1 } } } };
        const head = planFromRawConfig(dropped, { now });
        // A year mistyped: diff, with no record, bounds the certificate's life by revokedAt plus the
        // leaf validity, already past, and takes the removal; but pulumi up never deployed that base.
        const mistyped = new Date(Date.parse(notBefore) - 365 * 86_400_000).toISOString();
        assert.deepStrictEqual(diffPlans(planFromRawConfig(dated(mistyped), { now }), head).refused, []);
        assert.throws(() => planFromRawConfig(dated(mistyped), { deployed: beforeRevoking, now }), {
            message: new RegExp(
                `^invalid stack configuration:\\n  - pki:revocations\\[0\\]\\.revokedAt ${mistyped} is before serial ${revokedSerial} was issued \\(notBefore ${notBefore}\\)`,
            ),
        });
        // The earliest the update takes, CLOCK_SKEW_MS before the certificate's notBefore: diff keeps
        // the entry until the certificate expires, to the second (its bound adds CLOCK_SKEW_MS).
        const earliest = new Date(Date.parse(notBefore) - CLOCK_SKEW_MS).toISOString();
        assert.doesNotThrow(() => planFromRawConfig(dated(earliest), { deployed: beforeRevoking, now }));
        const validityDays = head.endpoints.find((e) => e.id === "ob")?.client.validityDays ?? 0;
        const validTo = Date.parse(certificate.validTo);
        assert.strictEqual(validTo, Date.parse(notBefore) + validityDays * 86_400_000);
        const removedAt = (at: number) =>
            diffPlans(planFromRawConfig(dated(earliest), { now }), planFromRawConfig(dropped, { now: new Date(at) }))
                .refused;
        assert.deepStrictEqual(removedAt(validTo - 1000), [
            {
                key: "pki:revocations",
                problem:
                    `removing the revocation of serial ${revokedSerial} (endpoint "ob") takes it out of the CRL while the certificate may still be valid (revoked ${earliest}; its certificates live ${validityDays} days): ` +
                    `the leaked certificate would pass again wherever the CRL is checked, and pulumi up refuses it while the certificate is valid. Keep the entry until ${new Date(validTo).toISOString().slice(0, 10)} at least`,
            },
        ]);
        assert.deepStrictEqual(removedAt(validTo), [], "once the certificate has expired");
    });
});
