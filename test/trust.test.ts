/**
 * Gateway trust under Envoy's own rules (test/envoyVerifier.ts: BoringSSL and OpenSSL, every
 * certificate of ca.crt an anchor, CRL check all once ca.crl exists, Istio's SAN matchers ANDed
 * with the key pins), on every option: only the endpoint's own APIC key gets in, whoever holds
 * which CA key, and APIC accepts only the gateway's server certificates; under separate roots no
 * edge CA key mints a mesh workload identity, under a shared one each does. Node's handshakes
 * (test/mtls.test.ts) are a second layer. Every verdict, per case and library, is written to
 * out/trust-matrix.txt.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { textTable } from "../lib/cli/format";
import { CLOCK_SKEW_MS } from "../lib/pki/crl";
import { PeerCheck, PeerVerdict, PIN_MISMATCH, SAN_MISMATCH } from "./envoyVerifier";
import {
    apicCheck,
    apicSends,
    assertAllAccepted,
    decide as verdictsOf,
    gatewayCheck,
    sidecarCheck,
    summary,
} from "./consumers";
import {
    cacerts,
    caOf,
    gatewayServerConfig,
    loadStackFile,
    mintLeaf,
    mintSelfIssuedCa,
    mintSubCa,
    newStackState,
    OPTION_FILES,
    opensslText,
    pemBlocks,
    renderNext,
    Rendered,
    renderStackFile,
    ROOT,
    TestCa,
    workload,
    WORKLOAD_USES,
} from "./helpers";

const CLIENT_USES = ["digital_signature", "client_auth"];
const NO_ISSUER = "unable to get local issuer certificate";
const both = (error: string) => ({ boringssl: error, openssl: error });

/**
 * Every verdict of this file, for out/trust-matrix.txt: per setting and case (endpoint ids
 * folded into "<endpoint>"), how many checks each library accepted or refused, and why.
 */
const matrix: { setting: string; label: string; verdict: PeerVerdict }[] = [];
let setting = "";
const endpointIds = new Set<string>();

/** The consumers' verdicts (test/consumers.ts), recorded for the matrix. */
function decide(checks: readonly (readonly [string, PeerCheck])[]): [string, PeerVerdict][] {
    const verdicts = verdictsOf(checks);
    for (const [label, verdict] of verdicts) matrix.push({ setting, label, verdict });
    return verdicts;
}

after(() => {
    const folded = (label: string): string =>
        label
            .split(/(, |: |'s client at | at )/)
            .map((part) => (endpointIds.has(part) ? "<endpoint>" : part))
            .join("");
    const rows = new Map<
        string,
        { setting: string; case: string; checks: number; boringssl: Map<string, number>; openssl: Map<string, number> }
    >();
    for (const { setting: where, label, verdict } of matrix) {
        const key = `${where}\u0000${folded(label)}`;
        let row = rows.get(key);
        if (!row)
            rows.set(
                key,
                (row = { setting: where, case: folded(label), checks: 0, boringssl: new Map(), openssl: new Map() }),
            );
        row.checks++;
        const { boringssl, openssl } = summary(verdict);
        row.boringssl.set(boringssl, (row.boringssl.get(boringssl) ?? 0) + 1);
        row.openssl.set(openssl, (row.openssl.get(openssl) ?? 0) + 1);
    }
    const counted = (m: Map<string, number>): string => [...m].map(([verdict, n]) => `${n} ${verdict}`).join("; ");
    const table = textTable(
        ["setting", "case", "checks", "BoringSSL", "OpenSSL 3"],
        [...rows.values()].map((r) => ({
            setting: r.setting,
            case: r.case,
            checks: String(r.checks),
            BoringSSL: counted(r.boringssl),
            "OpenSSL 3": counted(r.openssl),
        })),
    );
    const text = `Gateway, APIC and sidecar trust under Envoy's rules (test/trust.test.ts): ${matrix.length} checks, each by BoringSSL and by OpenSSL 3; "ok" = accepted.\n\n${table}\n`;
    fs.mkdirSync(path.join(ROOT, "out"), { recursive: true });
    fs.writeFileSync(path.join(ROOT, "out", "trust-matrix.txt"), text);
});

/** A certificate with `identity` (by default a client's, as the endpoint's pinned one), minted by `ca`; sent with `chain`. */
async function impostor(ca: TestCa, identity: string, chain: string, allowedUses = CLIENT_USES): Promise<string> {
    const leaf = await mintLeaf(ca, { commonName: "impostor", uris: [identity], allowedUses });
    return leaf.cert + chain;
}

/** A mesh workload's identity, such as a backend's AuthorizationPolicy admits. */
const MESH_IDENTITY = "spiffe://cluster.local/ns/ob/sa/accounts";

/**
 * What a holder of the APIC-client or the gateway-server CA key (both in Pulumi state, online even
 * under an offline root) presents in the mesh: a workload certificate for MESH_IDENTITY, as istiod
 * issues them, checked by a sidecar of `rendered`'s first cluster as a caller and as a server.
 */
async function edgeKeysInTheMesh(rendered: Rendered): Promise<[string, PeerCheck][]> {
    const mesh = cacerts(rendered, rendered.plan.config.clusters[0].name);
    const checks: [string, PeerCheck][] = [];
    for (const [holder, id] of [
        ["APIC-client", "apic-client-ca"],
        ["gateway-server", "gateway-server-ca"],
    ]) {
        const ca = caOf(rendered, id);
        const calling = sidecarCheck(mesh, await impostor(ca, MESH_IDENTITY, ca.certPem, WORKLOAD_USES), MESH_IDENTITY);
        checks.push(
            [`a workload minted with the ${holder} CA key, calling a sidecar`, calling],
            [`a workload minted with the ${holder} CA key, serving a sidecar`, { ...calling, purpose: "sslserver" }],
        );
    }
    return checks;
}

for (const option of [1, 2, 3] as const) {
    describe(`Option ${option}: only the endpoint's own APIC key gets through the gateway (Envoy's rules)`, function () {
        this.timeout(180_000);
        let deployed: Rendered;
        let revoked: Rendered;
        let revokedId: string;
        let revokedSerial: string;
        beforeEach(() => {
            setting = `Option ${option}`;
        });
        before(async () => {
            const state = newStackState();
            const raw = loadStackFile(OPTION_FILES[option]);
            deployed = await renderNext(raw, `trust-${option}`, state);
            for (const e of deployed.plan.endpoints) endpointIds.add(e.id);
            revokedId = deployed.plan.endpoints[0].id;
            revokedSerial = new crypto.X509Certificate(deployed.read(`apic/${revokedId}/client.crt`)).serialNumber;
            revoked = await renderNext(
                {
                    ...raw,
                    revocations: [
                        {
                            endpoint: revokedId,
                            serial: revokedSerial,
                            epoch: 0,
                            reason: "keyCompromise",
                            // Issued by the render above: the latest time the plan takes, not before the issue.
                            revokedAt: new Date(Date.now() - CLOCK_SKEW_MS).toISOString(),
                        },
                    ],
                },
                `trust-${option}-revoked`,
                state,
            );
        });

        it("accepts each endpoint's own APIC client, with no CRL and with one after another endpoint's revocation", () => {
            assert.strictEqual(gatewayServerConfig(deployed, revokedId).caCrl, undefined);
            assert.ok(gatewayServerConfig(revoked, revokedId).caCrl, "the revocation publishes ca.crl");
            const checks = deployed.plan.endpoints.flatMap((e) => [
                [`${e.id}, no CRL`, gatewayCheck(deployed, e.id, apicSends(deployed, e.id))] as const,
                [`${e.id}, with ca.crl`, gatewayCheck(revoked, e.id, apicSends(revoked, e.id))] as const,
            ]);
            assertAllAccepted(decide(checks));
        });

        it("rejects the revoked client (its key unpinned, and listed in the CRL) and accepts the re-issued one", () => {
            const [[, current], [, old], [, oldUnpinned]] = decide([
                ["re-issued", gatewayCheck(revoked, revokedId, apicSends(revoked, revokedId))],
                ["revoked", gatewayCheck(revoked, revokedId, apicSends(deployed, revokedId))],
                [
                    "revoked, were its key still pinned",
                    {
                        ...gatewayCheck(revoked, revokedId, apicSends(deployed, revokedId)),
                        verifyCertificateSpki: gatewayServerConfig(deployed, revokedId).verifyCertificateSpki,
                    },
                ],
            ]);
            assert.deepStrictEqual(summary(current), both("ok"));
            assert.deepStrictEqual(summary(old), both("certificate revoked"));
            assert.deepStrictEqual(summary(oldUnpinned), both("certificate revoked"));
            assert.notStrictEqual(
                revoked.read(`apic/${revokedId}/client.crt`),
                deployed.read(`apic/${revokedId}/client.crt`),
            );
        });

        it("rejects at every gateway what any other key holder could present with the pinned identity", async () => {
            const mesh = cacerts(deployed, deployed.plan.config.clusters[0].name);
            const meshCa = { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] };
            const serverCa = caOf(deployed, "gateway-server-ca");
            const clientCa = caOf(deployed, "apic-client-ca");
            const clientRoot = caOf(deployed, "client-root-ca");
            const subject = new crypto.X509Certificate(clientCa.certPem).subject.split("\n");
            const organization = subject.find((s) => s.startsWith("O="))?.slice(2);
            // A holder of the APIC-client CA key minting CAs below it; a sibling environment's CA
            // under a root shared with this one (one offline root for several environments).
            const selfIssued = await mintSelfIssuedCa(clientCa);
            const selfIssuedCert = new crypto.X509Certificate(selfIssued.certPem);
            assert.strictEqual(selfIssuedCert.subject, selfIssuedCert.issuer);
            assert.match(opensslText(selfIssued.certPem), /X509v3 Authority Key Identifier/);
            const subCa = await mintSubCa(clientCa, "rogue sub-CA");
            const sibling = await mintSubCa(clientRoot, "sit APIC client CA", { organization });
            const other = await renderStackFile("stacks/Pulumi.dev.yaml");
            const otherClient = apicSends(other, "ob");
            const workloadCert = await workload(mesh, "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway");

            const expected: [string, { boringssl: string; openssl: string }][] = [
                ["minted with the mesh CA key (cacerts in the cluster)", both(NO_ISSUER)],
                ["minted with the gateway-server CA key", both(NO_ISSUER)],
                ["minted by a sibling environment's CA under the same root", both(PIN_MISMATCH)],
                // Self-issued CAs do not count towards path length (RFC 5280): both libraries build
                // this chain, and only the key pin refuses it (the row below shows it unpinned).
                ["minted by a self-issued sub-CA of the APIC-client CA", both(PIN_MISMATCH)],
                ["the same, were the key not pinned", both("ok")],
                // BoringSSL ignores the anchor's pathlen:1 (only certificates the peer sent are checked):
                // without the key pin, the gateway would accept this sub-CA's client.
                [
                    "minted by a sub-CA of the APIC-client CA",
                    { boringssl: PIN_MISMATCH, openssl: "path length constraint exceeded" },
                ],
                ["minted with the APIC-client CA key itself", both(PIN_MISMATCH)],
                ["another environment's APIC client", both(NO_ISSUER)],
                ["the gateway's own server certificate", both(NO_ISSUER)],
                ["a mesh workload certificate", both(NO_ISSUER)],
            ];
            for (const e of deployed.plan.endpoints) {
                const id = e.clientIdentity;
                const chains = [
                    await impostor(meshCa, id, meshCa.certPem),
                    await impostor(serverCa, id, serverCa.certPem),
                    await impostor(sibling, id, sibling.certPem),
                    await impostor(selfIssued, id, selfIssued.certPem + clientCa.certPem),
                    await impostor(selfIssued, id, selfIssued.certPem + clientCa.certPem),
                    await impostor(subCa, id, subCa.certPem + clientCa.certPem),
                    await impostor(clientCa, id, clientCa.certPem),
                    otherClient,
                    gatewayServerConfig(deployed, e.id).tlsCrt,
                    workloadCert.cert,
                ];
                const unpinned = expected.findIndex(([label]) => label.includes("not pinned"));
                const verdicts = decide(
                    chains.map((chain, i) => {
                        const check = gatewayCheck(deployed, e.id, chain);
                        return [expected[i][0], i === unpinned ? { ...check, verifyCertificateSpki: [] } : check];
                    }),
                );
                assert.deepStrictEqual(
                    verdicts.map(([label, v]) => [label, summary(v)]),
                    expected,
                    e.id,
                );
            }
        });

        it("rejects another endpoint's APIC client and the previous client once its rotation finished", async () => {
            const endpoints = deployed.plan.endpoints;
            const checks = endpoints.map((e, i) => {
                const neighbour = endpoints[(i + 1) % endpoints.length].id;
                return [
                    `${neighbour}'s client at ${e.id}`,
                    gatewayCheck(deployed, e.id, apicSends(deployed, neighbour)),
                ] as const;
            });
            for (const [label, verdict] of decide(checks))
                assert.deepStrictEqual(summary(verdict), both(SAN_MISMATCH), label);
            const previous = decide([
                [
                    "the revoked endpoint's previous client",
                    gatewayCheck(revoked, revokedId, apicSends(deployed, revokedId)),
                ],
            ]);
            // Both libraries must refuse: \`accepted\` is false as soon as one of them does.
            assert.deepStrictEqual(summary(previous[0][1]), both("certificate revoked"));
        });

        it("lets APIC accept only the gateway's server certificates: one minted with the mesh or APIC-client CA key fails", async () => {
            const mesh = cacerts(deployed, deployed.plan.config.clusters[0].name);
            const meshCa = { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] };
            const clientCa = caOf(deployed, "apic-client-ca");
            const checks = [];
            for (const e of deployed.plan.endpoints) {
                const forged = async (ca: TestCa) =>
                    (
                        await mintLeaf(ca, {
                            commonName: e.host,
                            dnsNames: [e.host],
                            allowedUses: ["digital_signature", "server_auth"],
                        })
                    ).cert + ca.certPem;
                checks.push(
                    [
                        `${e.id}: APIC, the gateway's server certificate`,
                        apicCheck(deployed, e.id, gatewayServerConfig(deployed, e.id).tlsCrt),
                    ] as const,
                    [
                        `${e.id}: APIC, a server certificate minted with the mesh CA key`,
                        apicCheck(deployed, e.id, await forged(meshCa), undefined, "pkix-sent"),
                    ] as const,
                    [
                        `${e.id}: APIC, a server certificate minted with the APIC-client CA key`,
                        apicCheck(deployed, e.id, await forged(clientCa), undefined, "pkix-sent"),
                    ] as const,
                );
            }
            const verdicts = decide(checks);
            for (const [label, verdict] of verdicts) {
                assert.deepStrictEqual(
                    summary(verdict),
                    label.endsWith("the gateway's server certificate") ? both("ok") : both(NO_ISSUER),
                    label,
                );
            }
        });

        it("keeps the APIC-client and gateway-server CA keys out of the mesh: sidecars refuse a workload identity they mint", async () => {
            const verdicts = decide(await edgeKeysInTheMesh(deployed));
            assert.strictEqual(verdicts.length, 4);
            for (const [label, verdict] of verdicts) assert.deepStrictEqual(summary(verdict), both(NO_ISSUER), label);
        });
    });
}

describe("pki:trustDomains shared: one root for everything, the weaker guarantee", function () {
    this.timeout(120_000);
    let shared: Rendered;
    beforeEach(() => {
        setting = "shared root (Option 1)";
    });
    before(async () => {
        shared = await renderNext(
            { ...loadStackFile(OPTION_FILES[1]), trustDomains: "shared" },
            "trust-shared",
            newStackState(),
        );
    });

    it("puts the mesh, the gateway and APIC under one root", () => {
        const root = gatewayServerConfig(shared, "ob").caCrt;
        assert.strictEqual(cacerts(shared, "example")["root-cert.pem"], root);
        // APIC's truststore: that root, then the gateway-server CA (DataPower builds chains from it alone).
        const [, gatewayServerCa] = pemBlocks(gatewayServerConfig(shared, "ob").tlsCrt);
        assert.deepStrictEqual(pemBlocks(shared.read("apic/ob/truststore.pem")), [...pemBlocks(root), gatewayServerCa]);
    });

    it("lets the mesh CA key mint a client that chains at the gateway: only the key pin stops it", async () => {
        const mesh = cacerts(shared, "example");
        const meshCa = { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] };
        const e = shared.plan.endpoints[0];
        const chain = await impostor(meshCa, e.clientIdentity, meshCa.certPem);
        const [[, pinned], [, unpinned]] = decide([
            ["a client minted with the mesh CA key, at the gateway", gatewayCheck(shared, e.id, chain)],
            ["the same, were the key not pinned", { ...gatewayCheck(shared, e.id, chain), verifyCertificateSpki: [] }],
        ]);
        assert.deepStrictEqual(summary(pinned), both(PIN_MISMATCH));
        assert.deepStrictEqual(summary(unpinned), both("ok"));
    });

    it("lets the mesh CA key and the APIC-client CA key mint a server certificate APIC accepts (what separate roots prevent)", async () => {
        const mesh = cacerts(shared, "example");
        const e = shared.plan.endpoints[0];
        for (const [holder, ca] of [
            ["the mesh CA key", { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] }],
            ["the APIC-client CA key", caOf(shared, "apic-client-ca")],
        ] as const) {
            const forged = await mintLeaf(ca, {
                commonName: e.host,
                dnsNames: [e.host],
                allowedUses: ["digital_signature", "server_auth"],
            });
            const chain = forged.cert + ca.certPem;
            // DataPower may build the chain with the CA it is sent: then the shared root vouches for it.
            const [[, sent], [, strict]] = decide([
                [
                    `APIC, a server certificate minted with ${holder}`,
                    apicCheck(shared, e.id, chain, undefined, "pkix-sent"),
                ],
                [
                    `the same (${holder}), DataPower building chains from its truststore alone`,
                    apicCheck(shared, e.id, chain),
                ],
            ]);
            assert.deepStrictEqual(summary(sent), both("ok"), holder);
            assert.deepStrictEqual(summary(strict), both(NO_ISSUER), holder);
        }
    });

    it("lets the APIC-client and gateway-server CA keys mint any mesh workload identity, which sidecars accept as caller and as server", async () => {
        const root = new crypto.X509Certificate(cacerts(shared, "example")["root-cert.pem"]).subject;
        const rootName = /^CN=(.+)$/m.exec(root)?.[1];
        assert.ok(rootName, root);
        const verdicts = decide(await edgeKeysInTheMesh(shared));
        assert.strictEqual(verdicts.length, 4);
        for (const [label, verdict] of verdicts) {
            assert.deepStrictEqual(summary(verdict), both("ok"), label);
            // The mesh's own anchor vouches for it: the shared root ends the chain.
            assert.strictEqual(verdict.boringssl.chain?.at(-1), rootName, label);
        }
    });
});
