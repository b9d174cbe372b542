import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import { register } from "module";
import * as path from "path";
import { pathToFileURL } from "url";
import * as util from "util";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as YAML from "yaml";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import { readTestKeys, writeTestKeys } from "../lib/engine/testKeys";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { runProgram, runWithStandIn as runInRootStack } from "../lib/testing";
import { ApicClientBundle } from "../lib/components/apicClientBundle";
import { ApicServerCertificate } from "../lib/components/apicServerCertificate";
import { CustomerFacingTls } from "../lib/components/customerFacingTls";
import { atPlanClock } from "../lib/components/checkClock";
import { ExistingCa, IntermediateCa } from "../lib/components/intermediateCa";
import { GatewayEndpoint, IstioGatewayTls } from "../lib/components/istioGatewayTls";
import { MeshPluginCa } from "../lib/components/meshPluginCa";
import { RootCa } from "../lib/components/rootCa";
import { UiApicClient } from "../lib/components/uiApicClient";
import { buildCrl } from "../lib/pki/crl";
import { expiredAt } from "../lib/pki/x509";
import {
    crlGateway,
    emptyCrlOf,
    mintLeaf,
    mintRoot,
    mintSelfIssuedCa,
    mintSubCa,
    opensslCa,
    opensslRoot,
    opensslSpkiPin,
    readmeBlock,
    refusalText,
    ROOT,
    sharedState,
    tempDir,
    TestCa,
    writeTemp,
} from "./helpers";
import { PIN_MISMATCH, verifyPeer } from "./envoyVerifier";

/** How a run ended, for tables of cases: "accepted", or the message it was refused with. */
/** A root of the gateway's server certificates, none of a test's client CA's: ApicClientBundle's serverTrustBundlePem. */
const gatewayServerRootPem: Promise<string> = mintRoot("Gateway server root").then((root) => root.certPem);
const accepted = (): string => "accepted";
/** A refusal's own text (refusalText). */
const messageOf = refusalText;

/** A program run on a fresh state: "accepted", or its refusal (messageOf). */
const run = (make: () => unknown): Promise<string> =>
    runWithStandIn(make, { state: new Map() }).then(accepted, messageOf);

/**
 * A program making IstioGatewayTls "g" with one endpoint (api.bank.example, identity
 * urn:example:apic) under the server CA `ca` with `chainPem` (its certificate alone by default),
 * trusting `trustPem`: the gateway the issuer-check cases give each CA they try.
 */
const oneEndpointGateway =
    (ca: { certPem: string; keyPem: string }, trustPem: string, chainPem = ca.certPem) =>
    () =>
        new IstioGatewayTls("g", {
            serverCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem },
            clientTrustBundlePem: trustPem,
            endpoints: [{ id: "e", host: "api.bank.example", clientSubjectAltNames: ["urn:example:apic"] }],
            keyAlgorithm: "ECDSA",
        });

/**
 * An IstioGatewayTls "pins" with one endpoint ob (identity urn:example:apic) under a RootCa of its
 * own, `endpoint` overriding its members (values of any type, as another language may send them).
 */
const pinsGateway = (endpoint: Partial<Record<keyof GatewayEndpoint, unknown>>) =>
    runWithStandIn(
        () => {
            const root = new RootCa("pins-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
            const ca = { certPem: root.certPem, privateKeyPem: root.privateKeyPem, chainPem: root.certPem };
            new IstioGatewayTls("pins", {
                serverCa: ca,
                clientTrustBundlePem: root.certPem,
                endpoints: [
                    {
                        id: "ob",
                        host: "ob.bank.example",
                        clientSubjectAltNames: ["urn:example:apic"],
                        ...endpoint,
                    } as GatewayEndpoint,
                ],
                keyAlgorithm: "ECDSA",
            });
        },
        { state: sharedState },
    );

/**
 * The unhandled rejections raised while `body` runs and for 50 ms after it: node:test and vitest
 * count each against the running test (mocha swallows them), so a run must leave none.
 */
async function unhandledRejectionsDuring(body: () => Promise<void>): Promise<string[]> {
    const unhandled: string[] = [];
    const listener = (reason: unknown) => unhandled.push(String(reason));
    process.on("unhandledRejection", listener);
    try {
        await body();
        await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
        process.off("unhandledRejection", listener);
    }
    return unhandled;
}

/**
 * lib/testing loaded anew with a require.cache that behaves as `handler` says (a Proxy of Node's),
 * as a test runner's module registry may: Jest's ignores delete. Node still loads through its own.
 */
function testingWithRequireCache(handler: ProxyHandler<NodeJS.Dict<NodeModule>>): typeof import("../lib/testing") {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loader = require("module") as { _cache: NodeJS.Dict<NodeModule> };
    const nodeCache = loader._cache;
    const testingFile = require.resolve("../lib/testing");
    const loaded = nodeCache[testingFile];
    delete nodeCache[testingFile];
    // A module's require.cache is what Module._cache was when the module was loaded.
    loader._cache = new Proxy(nodeCache, handler);
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(testingFile) as typeof import("../lib/testing");
    } finally {
        loader._cache = nodeCache;
        nodeCache[testingFile] = loaded;
    }
}

const OWN_PKI = path.join(ROOT, "examples/own-pki");

describe("examples/own-pki: the README's complete program as a Pulumi project", () => {
    it('is the README\'s "A complete program", word for word', () => {
        assert.strictEqual(
            readmeBlock("## A complete program", "ts"),
            fs.readFileSync(path.join(OWN_PKI, "index.ts"), "utf8"),
        );
    });

    it("has the README's consumer unit test as its test, word for word", () => {
        assert.strictEqual(
            readmeBlock("### Unit tests with the stand-in", "ts"),
            fs.readFileSync(path.join(OWN_PKI, "index.test.ts"), "utf8"),
        );
    });

    it("is a Pulumi project whose main is the compiled program, and that program's test is part of this suite", () => {
        const project = YAML.parse(fs.readFileSync(path.join(OWN_PKI, "Pulumi.yaml"), "utf8"));
        assert.deepStrictEqual(project.runtime, { name: "nodejs", options: { typescript: false } });
        const main = path.resolve(OWN_PKI, project.main);
        assert.strictEqual(main, path.join(OWN_PKI, "dist/index.js"));
        assert.ok(fs.existsSync(main), `${project.main} is built`);
        assert.ok(fs.existsSync(path.join(path.dirname(main), "index.test.js")), "its test is built beside it");
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mocha = require(path.join(ROOT, ".mocharc.js")) as { spec: string[] };
        assert.ok(mocha.spec.includes("examples/own-pki/dist/index.test.js"), ".mocharc.js runs the examples' tests");
    });

    it("runs its test with the README's command in its own folder, which this suite's mocha configuration leaves alone", () => {
        // Mocha finds the repository's .mocharc.js from there too: it must not run this suite's files.
        const run = spawnSync(path.join(ROOT, "node_modules/.bin/mocha"), ["dist/index.test.js"], {
            cwd: OWN_PKI,
            encoding: "utf8",
        });
        assert.strictEqual(run.status, 0, run.stderr);
        assert.match(run.stdout, /^ {2}1 passing \(\d+m?s\)$/m);
    });
});

/** Client roots A and B, each with an empty CRL valid from an hour ago for a day (`now`: whole seconds, as CRLs take). */
async function twoClientRoots() {
    const [a, b] = [await mintRoot("Client root A"), await mintRoot("Client root B")];
    const hour = 3_600_000;
    const now = Math.floor(Date.now() / 1000) * 1000;
    const fresh = { a: emptyCrlOf(a, now - hour, now + 24 * hour), b: emptyCrlOf(b, now - hour, now + 24 * hour) };
    return { a, b, fresh, now, hour };
}

/**
 * IstioGatewayTls `name`, endpoint ob, with A as its server CA, trusting A and B with their CRLs
 * (twoClientRoots); `parts` replaces any of these.
 */
const twoRootGateway = (
    name: string,
    { a, b, fresh }: Awaited<ReturnType<typeof twoClientRoots>>,
    parts: { certPem?: string; chainPem?: string; clientTrustBundlePem?: string; clientCrlPem?: string },
) =>
    runWithStandIn(
        () =>
            new IstioGatewayTls(name, {
                serverCa: {
                    certPem: parts.certPem ?? a.certPem,
                    privateKeyPem: a.keyPem,
                    chainPem: parts.chainPem ?? a.certPem,
                },
                clientTrustBundlePem: parts.clientTrustBundlePem ?? a.certPem + b.certPem,
                clientCrlPem: parts.clientCrlPem ?? fresh.a + fresh.b,
                endpoints: [{ id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:example:apic"] }],
                keyAlgorithm: "ECDSA",
            }).gatewayName,
        { state: sharedState },
    );

describe("Components used alone", function () {
    this.timeout(60_000);

    it("refuses an IntermediateCa without a signer, naming the three kinds", async () => {
        await assert.rejects(
            runWithStandIn(() => new IntermediateCa("x", { subject: { commonName: "x" } }), { state: sharedState }),
            /IntermediateCa needs exactly one of rootCa \(a RootCa of this program\), issuer \(an existing CA as PEM\) and offlineRoot \(a CA signed by the offline ceremony\); got none/,
        );
    });

    it("refuses a RootCa maxPathLength of 0, which @pulumi/tls would write as no limit, or one that is no whole number", async () => {
        // From another language anything may arrive: text or NaN passed "< 1" and made a root with no limit.
        for (const [given, shown] of [
            [0, "0"],
            ["abc", '"abc"'],
            [NaN, "null"],
            [1.5, "1.5"],
            [true, "true"],
        ] as const) {
            await assert.rejects(
                runWithStandIn(
                    () => new RootCa("r", { subject: { commonName: "r" }, maxPathLength: given as unknown as number }),
                    { state: sharedState },
                ),
                {
                    message: `RootCa maxPathLength must be a whole number >= 1; got ${shown}. @pulumi/tls writes 0 as "no limit", so 0 cannot forbid sub-CAs`,
                },
            );
        }
    });

    it("refuses validity days out of range, naming the component, the argument and the default", async () => {
        const root = (args: { validityDays?: number; earlyRenewalDays?: number }) =>
            runWithStandIn(() => new RootCa("r", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA", ...args }), {
                state: sharedState,
            }).then(accepted, messageOf);
        assert.deepStrictEqual(
            [
                await root({ validityDays: -5 }),
                await root({ validityDays: 1.5 }),
                await root({ validityDays: 36_501 }),
                await root({ validityDays: 30, earlyRenewalDays: 30 }),
                await root({ validityDays: 30, earlyRenewalDays: -1 }),
            ],
            [
                "RootCa validityDays must be a whole number of days from 1 to 36500; got -5. Set it within that range or leave it unset (3650)",
                "RootCa validityDays must be a whole number of days from 1 to 36500; got 1.5. Set it within that range or leave it unset (3650)",
                "RootCa validityDays must be a whole number of days from 1 to 36500; got 36501. Set it within that range or leave it unset (3650)",
                "RootCa earlyRenewalDays must be a whole number of days from 0 to 29 (below validityDays); got 30. Lower it or leave it unset (a third of validityDays)",
                "RootCa earlyRenewalDays must be a whole number of days from 0 to 29 (below validityDays); got -1. Lower it or leave it unset (a third of validityDays)",
            ],
        );
        assert.strictEqual(
            await root({ validityDays: 1 }),
            "accepted",
            "one day, renewed from its start (a third of 1 is 0)",
        );
    });

    it("refuses a certificate longer-lived than the RootCa or IntermediateCa of the program that issues it, as the stack's config refuses its tiers", async () => {
        // Before, a RootCa of 10 days signed an IntermediateCa of 1095, and that a leaf of 3000 ending years after both.
        const chain = (rootDays: number, caDays: number | undefined, leaf: (ca: IntermediateCa) => void) =>
            run(() => {
                const root = new RootCa("short-root", {
                    subject: { commonName: "r" },
                    keyAlgorithm: "ECDSA",
                    validityDays: rootDays,
                });
                const ca = new IntermediateCa("short-ca", {
                    rootCa: root,
                    subject: { commonName: "c" },
                    keyAlgorithm: "ECDSA",
                    ...(caDays !== undefined ? { validityDays: caDays } : {}),
                });
                leaf(ca);
            });
        const server = (validityDays: number) => (ca: IntermediateCa) =>
            new ApicServerCertificate("apic-ui", {
                serverCa: ca,
                host: "apic.bank.example",
                keyAlgorithm: "ECDSA",
                validityDays,
            });
        const gateway = (validityDays: number) => (ca: IntermediateCa) =>
            new IstioGatewayTls("g", {
                // Its outputs, not the component: still known as the IntermediateCa's.
                serverCa: { certPem: ca.certPem, privateKeyPem: ca.privateKeyPem, chainPem: ca.chainPem },
                clientTrustBundlePem: ca.rootCertPem,
                endpoints: [{ id: "e", host: "api.bank.example", clientSubjectAltNames: ["urn:example:apic"] }],
                keyAlgorithm: "ECDSA",
                validityDays,
            });
        const none = () => undefined;
        assert.deepStrictEqual(
            [
                await chain(10, undefined, none),
                await chain(3650, undefined, server(3000)),
                await chain(3650, 30, gateway(365)),
                await chain(3650, 1095, server(1095)),
                await chain(1095, 1095, gateway(30)),
            ],
            [
                'IntermediateCa validityDays (1095) is longer than the validityDays of its issuer RootCa "short-root" (10); a certificate cannot outlive its issuer. Lower validityDays or raise the issuer\'s',
                'ApicServerCertificate validityDays (3000) is longer than the validityDays of its issuer IntermediateCa "short-ca" (1095); a certificate cannot outlive its issuer. Lower validityDays or raise the issuer\'s',
                'IstioGatewayTls validityDays (365) is longer than the validityDays of its issuer IntermediateCa "short-ca" (30); a certificate cannot outlive its issuer. Lower validityDays or raise the issuer\'s',
                "accepted",
                "accepted",
            ],
        );
    });

    it("refuses two resources of one type and name in a run, as pulumi up refuses a duplicate URN", async () => {
        const hosts = (names: string[]) => () => {
            for (const name of names) new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" });
        };
        await assert.rejects(runWithStandIn(hosts(["www.example", "www.example"]), { state: new Map() }), {
            message:
                'stand-in failed on tls:index/privateKey:PrivateKey "www.example-key": duplicate resource: a tls:index/privateKey:PrivateKey named "www.example-key" is registered twice in this run, which pulumi up refuses (duplicate URN); give each a unique name',
        });
        const distinct = await runWithStandIn(hosts(["www.example", "api.example"]), { state: new Map() });
        assert.strictEqual(distinct.engine.resources.length, 2);
    });

    it("refuses a CA subject that RFC 5280 cannot carry, or an empty common name", async () => {
        const PASTED_KEY = crypto
            .generateKeyPairSync("ec", { namedCurve: "P-256" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const outcome = (make: () => unknown) => runWithStandIn(make, { state: sharedState }).then(accepted, messageOf);
        const long = "x".repeat(65);
        assert.deepStrictEqual(
            [
                await outcome(() => new RootCa("r", { subject: { commonName: long }, keyAlgorithm: "ECDSA" })),
                await outcome(() => new RootCa("r", { subject: { commonName: " " }, keyAlgorithm: "ECDSA" })),
                // A key pasted into the wrong argument stays out of the message (it reaches pulumi's log).
                await outcome(() => new RootCa("r", { subject: { commonName: PASTED_KEY }, keyAlgorithm: "ECDSA" })),
                await outcome(() => new RootCa("r", { subject: { commonName: "bank\nroot" }, keyAlgorithm: "ECDSA" })),
                await outcome(
                    () =>
                        new RootCa("r", {
                            subject: { commonName: "root", organization: "“Example Bank”" },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
                // MeshPluginCa builds its subject from the environment, the cluster and the generation.
                ...(await Promise.all(
                    (
                        [
                            { cluster: "east-with-a-cluster-name-long-enough-to-pass-the-limit", generation: 3 },
                            { cluster: "east", organization: "" },
                            { cluster: "" },
                        ] as const
                    ).map((args) =>
                        outcome(
                            () =>
                                new MeshPluginCa("m", {
                                    issuer: { certPem: "x", privateKeyPem: "x", rootCertPem: "x" },
                                    environment: "dev",
                                    keyAlgorithm: "ECDSA",
                                    ...args,
                                }),
                        ),
                    ),
                )),
                await outcome(
                    () =>
                        new IntermediateCa("i", {
                            issuer: { certPem: "x", privateKeyPem: "x", rootCertPem: "x" },
                            subject: { commonName: "i", organization: long },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
                await outcome(
                    () =>
                        new IntermediateCa("i", {
                            issuer: { certPem: "x", privateKeyPem: "x", rootCertPem: "x" },
                            subject: { commonName: "‘Issuing CA’" },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
            ],
            [
                `RootCa subject.commonName must be 1 to 64 characters (RFC 5280), not blank; got "${long}" (65)`,
                'RootCa subject.commonName must be 1 to 64 characters (RFC 5280), not blank; got " " (1)',
                `RootCa subject.commonName must be 1 to 64 characters (RFC 5280), not blank; got "(a private key, not shown)\\n" (${PASTED_KEY.length})`,
                'RootCa subject.commonName must not contain control characters; got "bank\\nroot"',
                'RootCa subject.organization starts or ends with a typographic quote (“ ” ‘ ’), which would go into the CA\'s subject organization; got "“Example Bank”". Remove the quotes; YAML needs none around this value, or use straight quotes',
                'MeshPluginCa subject.commonName must be 1 to 64 characters (RFC 5280), not blank; got "dev mesh CA east-with-a-cluster-name-long-enough-to-pass-the-limit G3" (69)',
                'MeshPluginCa organization must be a non-empty string (the subject O); got "". Leave it unset to leave O out',
                "MeshPluginCa cluster must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-', at most 63); got \"\"",
                `IntermediateCa subject.organization must be 1 to 64 characters (RFC 5280), not blank; got "${long}" (65)`,
                'IntermediateCa subject.commonName starts or ends with a typographic quote (“ ” ‘ ’), which would go into the CA\'s subject commonName; got "‘Issuing CA’". Remove the quotes; YAML needs none around this value, or use straight quotes',
            ],
        );
    });

    it("refuses an issuer whose parts do not belong together, before signing a chain that would not verify", async () => {
        const rootA = await mintRoot("root A");
        const rootB = await mintRoot("root B");
        const caA = await mintSubCa(rootA, "CA under A");
        const leaf = await mintLeaf(caA, { commonName: "leaf.example", allowedUses: ["digital_signature"] });
        // RFC 5280 forbids an empty subject where it matters; a certificate someone pastes may still have one.
        const nameless = await mintLeaf(caA, { commonName: "", allowedUses: ["digital_signature"] });
        const sign = (make: () => unknown) => runWithStandIn(make, { state: new Map() }).then(accepted, messageOf);
        const intermediate = (signer: Record<string, unknown>) => () =>
            new IntermediateCa("i", { ...signer, subject: { commonName: "i" }, keyAlgorithm: "ECDSA" });
        const issuer = (
            parts: Partial<{ certPem: string; privateKeyPem: string; chainPem: string; rootCertPem: string }>,
        ) =>
            intermediate({
                issuer: {
                    certPem: caA.certPem,
                    privateKeyPem: caA.keyPem,
                    chainPem: caA.certPem,
                    rootCertPem: rootA.certPem,
                    ...parts,
                },
            });
        const bundle = (chainPem: string) => () =>
            new ApicClientBundle("b", {
                clientCa: { certPem: caA.certPem, privateKeyPem: caA.keyPem, chainPem },
                serverTrustBundlePem: gatewayServerRootPem,
                endpointId: "ob",
                identity: "urn:example:apic",
                keyAlgorithm: "ECDSA",
            });
        assert.deepStrictEqual(
            [
                await sign(intermediate({ rootCa: { certPem: leaf.cert, privateKeyPem: leaf.key } })),
                await sign(intermediate({ rootCa: { certPem: nameless.cert, privateKeyPem: nameless.key } })),
                await sign(intermediate({ rootCa: { certPem: caA.certPem, privateKeyPem: caA.keyPem } })),
                await sign(issuer({ privateKeyPem: rootB.keyPem })),
                await sign(issuer({ rootCertPem: rootB.certPem })),
                await sign(issuer({ chainPem: rootB.certPem })),
                await sign(issuer({ chainPem: rootA.certPem + caA.certPem })),
                await sign(issuer({ chainPem: rootB.certPem + caA.certPem })),
                await sign(issuer({ chainPem: caA.certPem + caA.certPem })),
                await sign(issuer({ chainPem: caA.certPem + rootB.certPem + caA.certPem })),
                await sign(issuer({ rootCertPem: rootA.certPem + rootB.certPem })),
                await sign(issuer({ rootCertPem: caA.certPem })),
                await sign(issuer({ rootCertPem: rootA.certPem.trimEnd() + rootB.certPem })),
                await sign(
                    issuer({ rootCertPem: rootA.certPem.replace(/ CERTIFICATE-----/g, " X509 CERTIFICATE-----") }),
                ),
                await sign(bundle("")),
                await sign(bundle(caA.keyPem)),
                await sign(issuer({})),
                await sign(bundle(caA.certPem)),
            ],
            [
                "IntermediateCa rootCa: certPem (CN=leaf.example) is not a CA certificate (CA:FALSE), so verifiers accept nothing it signs; " +
                    "give a CA certificate instead, or reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                "IntermediateCa rootCa: certPem (an empty subject) is not a CA certificate (CA:FALSE), so verifiers accept nothing it signs; " +
                    "give a CA certificate instead, or reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                "IntermediateCa rootCa: certPem (CN=CA under A) is not a self-signed root; give a root here, or this CA as issuer with its chainPem and rootCertPem",
                "IntermediateCa issuer: privateKeyPem is not the key of certPem",
                "IntermediateCa issuer: the chain does not lead to rootCertPem: CN=CA under A is not signed by it",
                "IntermediateCa issuer: chainPem does not start with certPem",
                "IntermediateCa issuer: chainPem is in reverse order: certPem (CN=CA under A) is the last of its 2 certificates; give certPem first, then each issuer upward",
                "IntermediateCa issuer: chainPem has certPem (CN=CA under A) as certificate 2 of 2, where it must be the first; give certPem first, then each issuer upward",
                "IntermediateCa issuer: chainPem holds CN=CA under A twice (certificates 1 and 2); remove the repeated CN=CA under A",
                "IntermediateCa issuer: chainPem holds CN=CA under A twice (certificates 1 and 3); remove the repeated CN=CA under A",
                "IntermediateCa issuer: rootCertPem holds 2 certificates, and each would be a trust anchor wherever this CA's rootCertPem is trusted; give the root alone",
                "IntermediateCa issuer: rootCertPem is not a self-signed root CA certificate; give the root alone",
                `IntermediateCa issuer: rootCertPem has two PEM blocks run together on line ${rootA.certPem.trimEnd().split("\n").length}: ` +
                    "the END of a CERTIFICATE block and the next BEGIN must be on separate lines (cat joins them so when a file lacks its final newline); put a line break between them; give the root alone",
                "IntermediateCa issuer: rootCertPem is not a certificate in PEM; give the root alone",
                "ApicClientBundle clientCa: chainPem holds no certificate; give the CA's certificate and every CA above it, up to the root",
                'ApicClientBundle clientCa: chainPem holds a private key (a "EC PRIVATE KEY" PEM block): certificates are handed out and stored in clear, so take the key out (and replace it if the text has been shared); give certificates only',
                "accepted",
                "accepted",
            ],
        );
        // A root saved by Notepad (a byte order mark: Go and BoringSSL would see no BEGIN line) with
        // CRLF goes on as the provider writes it, as certPem does (MeshPluginCa's root-cert.pem takes it).
        const notepad = "\uFEFF" + rootA.certPem.replace(/\n/g, "\r\n");
        for (const rootCertPem of [notepad, pulumi.output(notepad)]) {
            const { outputs } = await runWithStandIn(() => {
                const issuer = { certPem: caA.certPem, privateKeyPem: caA.keyPem, chainPem: caA.certPem, rootCertPem };
                const ca = new IntermediateCa("i", { issuer, subject: { commonName: "i" }, keyAlgorithm: "ECDSA" });
                return { rootCertPem: ca.rootCertPem };
            });
            assert.strictEqual(outputs.rootCertPem, rootA.certPem);
        }
    });

    it("refuses a version 1 root (no basicConstraints) as rootCa, an issuer's rootCertPem and in a trust bundle, saying to re-issue it as v3", async () => {
        // openssl x509 -req without extensions writes a version 1 certificate, as old CA tooling did.
        const dir = tempDir("v1-root");
        const keyPem = crypto
            .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const keyFile = writeTemp(dir, "root.key", keyPem);
        const csr = spawnSync("openssl", ["req", "-new", "-key", keyFile, "-subj", "/CN=Corp v1 root"], {
            encoding: "utf8",
        }).stdout;
        const v1Root = {
            certPem: spawnSync("openssl", ["x509", "-req", "-signkey", keyFile, "-days", "1"], {
                encoding: "utf8",
                input: csr,
            }).stdout,
            keyPem,
        };
        const ca = await mintSubCa(v1Root, "Corp CA under v1 root");
        const leaf = await mintLeaf(ca, { commonName: "c", allowedUses: ["digital_signature", "client_auth"] });
        // A leaf the v1 root signs itself: BoringSSL and OpenSSL (Envoy's rules) take it; the components still refuse the root as rootCa.
        const direct = await mintLeaf(v1Root, { commonName: "d", allowedUses: ["digital_signature", "client_auth"] });
        // OpenSSL's strict checks refuse it as a CA; Envoy's rules take it.
        const strict = spawnSync(
            "openssl",
            [
                ...["verify", "-x509_strict", "-CAfile", writeTemp(dir, "root.crt", v1Root.certPem)],
                ...["-untrusted", writeTemp(dir, "ca.crt", ca.certPem), writeTemp(dir, "leaf.crt", leaf.cert)],
            ],
            { encoding: "utf8" },
        );
        fs.rmSync(dir, { recursive: true });
        const v1 =
            'a version 1 certificate (no basicConstraints), which OpenSSL\'s strict checks (-x509_strict) refuse as a CA ("invalid CA certificate"): re-issue it as v3 with CA:TRUE';
        assert.deepStrictEqual(
            [
                /Version: 1 \(0x0\)/.test(
                    spawnSync("openssl", ["x509", "-noout", "-text"], { encoding: "utf8", input: v1Root.certPem })
                        .stdout,
                ),
                strict.status,
                /invalid CA certificate/.test(strict.stdout + strict.stderr),
                verifyPeer({ caCrt: v1Root.certPem, chain: leaf.cert + ca.certPem, purpose: "sslclient" }).accepted,
                verifyPeer({ caCrt: v1Root.certPem, chain: direct.cert, purpose: "sslclient" }).accepted,
                await run(
                    () =>
                        new IntermediateCa("i", {
                            rootCa: { certPem: v1Root.certPem, privateKeyPem: v1Root.keyPem },
                            subject: { commonName: "i" },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
                await run(
                    () =>
                        new IntermediateCa("i", {
                            issuer: {
                                certPem: ca.certPem,
                                privateKeyPem: ca.keyPem,
                                chainPem: ca.certPem,
                                rootCertPem: v1Root.certPem,
                            },
                            subject: { commonName: "i" },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
                await run(oneEndpointGateway(ca, v1Root.certPem)),
            ],
            [
                true,
                2,
                true,
                true,
                true,
                "IntermediateCa rootCa: certPem (CN=Corp v1 root) has no basicConstraints extension (a version 1 certificate): " +
                    "Envoy's BoringSSL and OpenSSL accept the leaves it signs as a root, but OpenSSL's strict checks (-x509_strict) refuse it as a CA " +
                    '("invalid CA certificate"), and this package signs under no CA without CA:TRUE; ' +
                    "reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                `IntermediateCa issuer: rootCertPem (CN=Corp v1 root) is ${v1}`,
                `IstioGatewayTls clientTrustBundlePem holds CN=Corp v1 root, ${v1}`,
            ],
        );
    });

    it("refuses a CA's issuer without rootCertPem, given as text as given as outputs: the CA hands it on as its own", async () => {
        const root = await mintRoot("root A");
        // An object of a class of its own, as a JavaScript program may give: input names are checked
        // on plain objects only.
        class HeldCa {
            constructor(
                readonly certPem: pulumi.Input<string>,
                readonly privateKeyPem: pulumi.Input<string>,
            ) {}
        }
        const sign = (issuer: HeldCa) =>
            runWithStandIn(
                () => {
                    const ca = new IntermediateCa("i", {
                        issuer: issuer as unknown as ExistingCa,
                        subject: { commonName: "i" },
                        keyAlgorithm: "ECDSA",
                    });
                    return { rootCertPem: ca.rootCertPem, trustBundlePem: ca.trustBundlePem };
                },
                { state: new Map() },
            ).then(accepted, messageOf);
        const refusal =
            "IntermediateCa issuer: rootCertPem must be PEM text of a certificate; got undefined (a stack reference's missing output?)";
        assert.deepStrictEqual(
            [
                await sign(new HeldCa(root.certPem, root.keyPem)),
                await sign(new HeldCa(pulumi.output(root.certPem), pulumi.secret(root.keyPem))),
            ],
            [refusal, refusal],
        );
    });

    it("refuses an issuer with a certificate expired or not valid yet at the component's clock, naming the input and the date", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const past = { issuedAt: hours(-48), validityHours: 24 };
        const root = await mintRoot("Corp root");
        const expiredRoot = await mintRoot("Corp expired root", past);
        const expired = await mintSubCa(root, "Corp expired CA", past);
        const underExpired = await mintSubCa(expired, "Corp CA under the expired CA");
        const underExpiredRoot = await mintSubCa(expiredRoot, "Corp CA under the expired root");
        const early = await mintSubCa(root, "Corp early CA", { issuedAt: hours(2) });
        const current = await mintSubCa(root, "Corp current CA");
        const intermediate =
            (signer: TestCa, chainPem: pulumi.Input<string>, top = root) =>
            () =>
                new IntermediateCa("i", {
                    issuer: {
                        certPem: signer.certPem,
                        privateKeyPem: signer.keyPem,
                        chainPem,
                        rootCertPem: top.certPem,
                    },
                    subject: { commonName: "i" },
                    keyAlgorithm: "ECDSA",
                });
        const notAfter = (ca: TestCa) => new Date(new crypto.X509Certificate(ca.certPem).validTo).toISOString();
        const notBefore = (ca: TestCa) => new Date(new crypto.X509Certificate(ca.certPem).validFrom).toISOString();
        const refused = `BoringSSL, OpenSSL and Go refuse every certificate under it`;
        assert.deepStrictEqual(
            [
                await run(intermediate(expired, expired.certPem)),
                await run(intermediate(underExpired, underExpired.certPem + expired.certPem)),
                await run(intermediate(underExpiredRoot, underExpiredRoot.certPem, expiredRoot)),
                await run(intermediate(early, early.certPem)),
                // Once the output resolves, as a stack reference's does.
                await run(intermediate(expired, pulumi.output(expired.certPem))),
                // At a plan's clock (render --now): a day on, the current CA has expired too.
                await run(() => atPlanClock(hours(25), intermediate(current, current.certPem))),
                await run(intermediate(current, current.certPem)),
            ],
            [
                `IntermediateCa issuer: certPem (CN=Corp expired CA) expired on ${notAfter(expired)}: ${refused} ("certificate has expired"); renew it, or give the current CA`,
                `IntermediateCa issuer: CN=Corp expired CA in chainPem expired on ${notAfter(expired)}: ${refused} ("certificate has expired"); renew it, or give the current CA`,
                `IntermediateCa issuer: rootCertPem (CN=Corp expired root) expired on ${notAfter(expiredRoot)}: ${refused} ("certificate has expired"); renew it, or give the current root`,
                `IntermediateCa issuer: certPem (CN=Corp early CA) is not valid before ${notBefore(early)}: ${refused} until then ("certificate is not yet valid"); ` +
                    "give the current CA, or wait until then (if it was issued today, the issuing machine's clock is ahead)",
                `IntermediateCa issuer: certPem (CN=Corp expired CA) expired on ${notAfter(expired)}: ${refused} ("certificate has expired"); renew it, or give the current CA`,
                `IntermediateCa issuer: certPem (CN=Corp current CA) expired on ${notAfter(current)}: ${refused} ("certificate has expired"); renew it, or give the current CA`,
                "accepted",
            ],
        );
    });

    it("refuses an issuer signed with SHA-1, and for a MeshPluginCa one that names its issuer in other bytes than that CA's subject, as Go does", async () => {
        const root = await mintRoot("Corp root");
        const sha1 = opensslCa("Corp SHA-1 CA", ["basicConstraints = critical, CA:TRUE"], root, "sha1");
        const sha1Root = opensslCa("Corp SHA-1 root", ["basicConstraints = critical, CA:TRUE"], undefined, "sha1");
        const underSha1Root = opensslCa(
            "Corp CA under the SHA-1 root",
            ["basicConstraints = critical, CA:TRUE"],
            sha1Root,
        );
        const underSha1 = opensslCa("Corp CA under the SHA-1 CA", ["basicConstraints = critical, CA:TRUE"], sha1);
        // RSA-PSS names its hash in its parameters, not in its OID.
        const rsaRoot = await mintRoot("Corp RSA root", { rsa: true });
        const pssSha1 = opensslCa("Corp PSS SHA-1 CA", ["basicConstraints = critical, CA:TRUE"], rsaRoot, "sha1", true);
        const pss = opensslCa("Corp PSS CA", ["basicConstraints = critical, CA:TRUE"], rsaRoot, "sha256", true);
        // One root key and name, twice: OpenSSL matches "Corp Root" with "corp  root", Go does not.
        const rootKey = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
        const signingCopy = opensslRoot("Corp Root", rootKey, "0x1");
        const givenCopy = opensslRoot("corp  root", rootKey, "0x2");
        const underCopy = opensslCa(
            "Corp CA under the root copy",
            ["basicConstraints = critical, CA:TRUE"],
            signingCopy,
        );
        const issuer = (signer: TestCa, top: TestCa, chainPem = signer.certPem) => ({
            issuer: { certPem: signer.certPem, privateKeyPem: signer.keyPem, chainPem, rootCertPem: top.certPem },
        });
        const mesh = (args: Record<string, unknown>) => () =>
            new MeshPluginCa("m", { ...args, cluster: "c", environment: "dev", keyAlgorithm: "ECDSA" });
        const bundle = (signer: TestCa, chainPem: string) => () =>
            new ApicClientBundle("b", {
                clientCa: { certPem: signer.certPem, privateKeyPem: signer.keyPem, chainPem },
                serverTrustBundlePem: root.certPem,
                endpointId: "ob",
                identity: "urn:example:apic",
                keyAlgorithm: "ECDSA",
            });
        const weak = (where: string, hash: string, subject: string) =>
            `${where} is signed with ${hash}, whose collisions let a forged certificate carry the same signature, and Go (istiod) refuses it ("insecure algorithm"); ` +
            `re-issue ${subject} signed with SHA-256 or better`;
        assert.deepStrictEqual(
            [
                await run(bundle(sha1, sha1.certPem)),
                await run(bundle(underSha1, underSha1.certPem + sha1.certPem)),
                await run(bundle(pssSha1, pssSha1.certPem)),
                await run(mesh(issuer(sha1, root))),
                await run(mesh(issuer(underCopy, givenCopy))),
                // Controls: the self-signed SHA-1 root is a trust anchor, whose signature no one checks;
                // the two copies of the root are one to OpenSSL and BoringSSL.
                await run(bundle(underSha1Root, underSha1Root.certPem + sha1Root.certPem)),
                await run(bundle(underCopy, underCopy.certPem + givenCopy.certPem)),
                await run(bundle(pss, pss.certPem)),
            ],
            [
                `ApicClientBundle clientCa: ${weak("certPem (CN=Corp SHA-1 CA)", "SHA-1", "CN=Corp SHA-1 CA")}`,
                `ApicClientBundle clientCa: ${weak("CN=Corp SHA-1 CA in chainPem", "SHA-1", "CN=Corp SHA-1 CA")}`,
                // Go has no RSA-PSS on SHA-1 at all.
                `ApicClientBundle clientCa: ${weak("certPem (CN=Corp PSS SHA-1 CA)", "SHA-1", "CN=Corp PSS SHA-1 CA").replace("insecure algorithm", "algorithm unimplemented")}`,
                `MeshPluginCa issuer: ${weak("certPem (CN=Corp SHA-1 CA)", "SHA-1", "CN=Corp SHA-1 CA")}`,
                "MeshPluginCa issuer: certPem (CN=Corp CA under the root copy) names its issuer CN=Corp Root encoded otherwise than rootCertPem (CN=corp  root) writes its subject " +
                    `(another string type, case or spacing): OpenSSL and Envoy's BoringSSL match the two, but Go (istiod) compares their bytes and refuses the chain ("certificate signed by unknown authority"); ` +
                    "re-issue CN=Corp CA under the root copy under CN=corp  root as it is given here, or give the copy of CN=corp  root that signed it",
                "accepted",
                "accepted",
                "accepted",
            ],
        );
    });

    it("refuses for a MeshPluginCa an issuer signed with an algorithm Go does not verify: SHA-224, RSA-PSS with another MGF1 hash or salt", async () => {
        const rsaRoot = await mintRoot("Corp RSA root", { rsa: true });
        const ca = (name: string, digest: string, pss: boolean | string[] = false) =>
            opensslCa(name, ["basicConstraints = critical, CA:TRUE"], rsaRoot, digest, pss);
        const sha224 = ca("Corp SHA-224 CA", "sha224");
        const mgf1Sha1 = ca("Corp PSS MGF1 SHA-1 CA", "sha256", ["rsa_mgf1_md:sha1", "rsa_pss_saltlen:digest"]);
        const salt20 = ca("Corp PSS salt 20 CA", "sha256", ["rsa_pss_saltlen:20"]);
        const pss384 = ca("Corp PSS SHA-384 CA", "sha384", ["rsa_pss_saltlen:digest"]);
        const underMgf1Sha1 = opensslCa(
            "Corp CA under the MGF1 CA",
            ["basicConstraints = critical, CA:TRUE"],
            mgf1Sha1,
        );
        const mesh =
            (signer: TestCa, chainPem = signer.certPem) =>
            () =>
                new MeshPluginCa("m", {
                    issuer: {
                        certPem: signer.certPem,
                        privateKeyPem: signer.keyPem,
                        chainPem,
                        rootCertPem: rsaRoot.certPem,
                    },
                    cluster: "c",
                    environment: "dev",
                    keyAlgorithm: "ECDSA",
                });
        const gateway = (signer: TestCa) => oneEndpointGateway(signer, rsaRoot.certPem);
        const refused = (where: string, algorithm: string, subject: string) =>
            `MeshPluginCa issuer: ${where} is signed with ${algorithm}, which Go (istiod) refuses ("x509: cannot verify signature: algorithm unimplemented"); ` +
            `re-issue ${subject} signed with SHA-256 or better (in RSA-PSS, with MGF1 on the same hash and a salt as long as the hash)`;
        assert.deepStrictEqual(
            [
                await run(mesh(sha224)),
                await run(mesh(mgf1Sha1)),
                await run(mesh(salt20)),
                await run(mesh(underMgf1Sha1, underMgf1Sha1.certPem + mgf1Sha1.certPem)),
                // Controls: Envoy's BoringSSL verifies all three; Go verifies RSA-PSS with its parameters matched.
                await run(gateway(sha224)),
                await run(gateway(mgf1Sha1)),
                await run(gateway(salt20)),
                await run(mesh(pss384)),
            ],
            [
                refused("certPem (CN=Corp SHA-224 CA)", "sha224WithRSAEncryption", "CN=Corp SHA-224 CA"),
                refused(
                    "certPem (CN=Corp PSS MGF1 SHA-1 CA)",
                    "RSA-PSS (SHA-256, MGF1 with SHA-1, salt length 32)",
                    "CN=Corp PSS MGF1 SHA-1 CA",
                ),
                refused(
                    "certPem (CN=Corp PSS salt 20 CA)",
                    "RSA-PSS (SHA-256, MGF1 with SHA-256, salt length 20)",
                    "CN=Corp PSS salt 20 CA",
                ),
                refused(
                    "CN=Corp PSS MGF1 SHA-1 CA in chainPem",
                    "RSA-PSS (SHA-256, MGF1 with SHA-1, salt length 32)",
                    "CN=Corp PSS MGF1 SHA-1 CA",
                ),
                "accepted",
                "accepted",
                "accepted",
                "accepted",
            ],
        );
    });

    it("takes a chainPem that ends in the root cross-signed by an older root, and hands out chains Envoy's rules accept", async () => {
        const g1 = await mintRoot("Corp root G1");
        const g2Key = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
        const g2 = opensslRoot("Corp root G2", g2Key, "0x2");
        // G2's subject and key, signed by G1: what a root migration hands to peers that trust G1 only.
        const dir = tempDir("cross-signed");
        const g2KeyFile = writeTemp(dir, "g2.key", g2Key.export({ type: "pkcs8", format: "pem" }) as string);
        const csr = spawnSync("openssl", ["req", "-new", "-key", g2KeyFile, "-subj", "/CN=Corp root G2"], {
            encoding: "utf8",
        }).stdout;
        const extensions = [
            "basicConstraints = critical, CA:TRUE",
            "keyUsage = critical, keyCertSign, cRLSign",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ];
        const crossSigned = spawnSync(
            "openssl",
            [
                ...["x509", "-req", "-CA", writeTemp(dir, "g1.crt", g1.certPem)],
                ...["-CAkey", writeTemp(dir, "g1.key", g1.keyPem), "-days", "1", "-set_serial", "3"],
                ...["-extfile", writeTemp(dir, "ext.cnf", extensions.join("\n"))],
            ],
            { encoding: "utf8", input: csr },
        ).stdout;
        fs.rmSync(dir, { recursive: true });
        const ca = opensslCa("Corp CA under G2", ["basicConstraints = critical, CA:TRUE"], g2);
        const chainPem = ca.certPem + crossSigned;
        const outcome = await runWithStandIn(
            () =>
                new MeshPluginCa("m", {
                    issuer: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem, rootCertPem: g2.certPem },
                    cluster: "c",
                    environment: "dev",
                    keyAlgorithm: "ECDSA",
                }),
            { state: new Map() },
        ).then(accepted, messageOf);
        assert.strictEqual(outcome, "accepted");
        // A client sending the cross-signed copy after its CA: OpenSSL and BoringSSL stop at the trusted G2.
        const leaf = await mintLeaf(ca, { commonName: "c", allowedUses: ["digital_signature", "client_auth"] });
        const verdict = verifyPeer({
            caCrt: g2.certPem,
            chain: leaf.cert + chainPem,
            purpose: "sslclient",
            partialChain: false,
        });
        assert.deepStrictEqual(
            [verdict.accepted, verdict.boringssl.chain],
            [true, ["c", "Corp CA under G2", "Corp root G2"]],
        );
    });

    it("takes a chainPem that ends in an expired copy of the root, self-signed or cross-signed: verifiers stop at the root", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const yesterday = { now: () => hours(-48) };
        const oldRoot = await mintRoot("Corp root G1", { issuedAt: hours(-48), validityHours: 24 });
        const root = await mintRoot("Corp root G2");
        const caUses = { isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing"], validityPeriodHours: 24 };
        const subject = { commonName: "Corp root G2" };
        // G2's key and subject, both expired: renewed since, and cross-signed by the expired G1
        // (the Let's Encrypt ISRG Root X1 under DST Root CA X3 case).
        const expiredCopy = tlsProvider.selfSignedCert({ privateKeyPem: root.keyPem, subject, ...caUses }, yesterday)
            .state.certPem as string;
        const csr = tlsProvider.certRequest({ privateKeyPem: root.keyPem, subject }).state.certRequestPem;
        const expiredCross = tlsProvider.locallySignedCert(
            { certRequestPem: csr, caCertPem: oldRoot.certPem, caPrivateKeyPem: oldRoot.keyPem, ...caUses },
            yesterday,
        ).state.certPem as string;
        const ca = await mintSubCa(root, "Corp CA under G2");
        const leaf = await mintLeaf(ca, { commonName: "c", allowedUses: ["digital_signature", "client_auth"] });
        for (const copy of [expiredCopy, expiredCross]) {
            assert.ok(expiredAt(new crypto.X509Certificate(copy), new Date()));
            const chainPem = ca.certPem + copy;
            const outcome = await runWithStandIn(
                () =>
                    new IntermediateCa("i", {
                        issuer: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem, rootCertPem: root.certPem },
                        subject: { commonName: "i" },
                        keyAlgorithm: "ECDSA",
                    }),
                { state: new Map() },
            ).then(accepted, messageOf);
            const verdict = verifyPeer({
                caCrt: root.certPem,
                chain: leaf.cert + chainPem,
                purpose: "sslclient",
                partialChain: false,
            });
            assert.deepStrictEqual(
                [outcome, verdict.accepted, verdict.boringssl.chain],
                ["accepted", true, ["c", "Corp CA under G2", "Corp root G2"]],
            );
        }
    });

    it("refuses a leaf signer whose chainPem ends in an expired cross-certificate, saying it breaks only verifiers trusting the older root", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const yesterday = { now: () => hours(-48) };
        const oldRoot = await mintRoot("Corp root G1", { issuedAt: hours(-48), validityHours: 24 });
        const root = await mintRoot("Corp root G2");
        const caUses = { isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing"], validityPeriodHours: 24 };
        const csr = tlsProvider.certRequest({ privateKeyPem: root.keyPem, subject: { commonName: "Corp root G2" } })
            .state.certRequestPem;
        const expiredCross = tlsProvider.locallySignedCert(
            { certRequestPem: csr, caCertPem: oldRoot.certPem, caPrivateKeyPem: oldRoot.keyPem, ...caUses },
            yesterday,
        ).state.certPem as string;
        const ca = await mintSubCa(root, "Corp CA under G2");
        const expiry = new Date(new crypto.X509Certificate(expiredCross).validTo).toISOString();
        const gateway = (chainPem: string) => oneEndpointGateway(ca, root.certPem, chainPem);
        const bundle = () =>
            new ApicClientBundle("b", {
                clientCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem + expiredCross },
                serverTrustBundlePem: root.certPem,
                endpointId: "ob",
                identity: "urn:example:apic",
                keyAlgorithm: "ECDSA",
            });
        const refusal = (label: string) =>
            `${label}: CN=Corp root G2 in chainPem, signed by CN=Corp root G1, expired on ${expiry}: ` +
            `BoringSSL, OpenSSL and Go trusting CN=Corp root G1 refuse every certificate under it ("certificate has expired"); ` +
            "if it is the cross-certificate of a root CN=Corp root G2 the peers trust, it breaks only verifiers that trust the older root: " +
            "remove it from chainPem; else renew it";
        assert.deepStrictEqual(
            [await run(gateway(ca.certPem + expiredCross)), await run(bundle), await run(gateway(ca.certPem))],
            [refusal("IstioGatewayTls serverCa"), refusal("ApicClientBundle clientCa"), "accepted"],
        );
        // What the message says, under Envoy's rules: the certificate the gateway serves, sent with
        // the expired cross-certificate, verifies for a peer trusting G2 and not for one trusting G1.
        const { outputs } = await runWithStandIn(
            () => ({ served: (gateway(ca.certPem)() as IstioGatewayTls).serverCertPems.e }),
            { state: new Map() },
        );
        const sent = (outputs.served as string) + ca.certPem + expiredCross;
        const verdict = (caCrt: string) => {
            const v = verifyPeer({ caCrt, chain: sent, purpose: "sslserver", partialChain: false });
            return [v.boringssl.error || "ok", v.openssl.error || "ok"];
        };
        assert.deepStrictEqual(
            [verdict(root.certPem), verdict(oldRoot.certPem)],
            [
                ["ok", "ok"],
                ["certificate has expired", "certificate has expired"],
            ],
        );
    });

    it("refuses an issuer @pulumi/tls cannot read or sign with: a brainpool or Ed448 key, a key under another form's label, a negative serial", async () => {
        const ec = (namedCurve: string) => crypto.generateKeyPairSync("ec", { namedCurve }).privateKey;
        const sign = (root: TestCa) =>
            runWithStandIn(
                () =>
                    new IntermediateCa("i", {
                        issuer: { certPem: root.certPem, privateKeyPem: root.keyPem, rootCertPem: root.certPem },
                        subject: { commonName: "i" },
                        keyAlgorithm: "ECDSA",
                    }),
                { state: new Map() },
            ).then(accepted, messageOf);
        const give = "give a CA whose key is RSA, Ed25519 or ECDSA on P-224, P-256, P-384 or P-521";
        // Node reads a PKCS#8 key under any label; the provider picks Go's parser by the label.
        const p256 = ec("prime256v1");
        const p256Root = opensslRoot("Corp P-256 Root", p256, "0x5A17");
        const relabelled = (keyPem: string, label: string) => ({
            ...p256Root,
            keyPem: keyPem.replace(/(BEGIN|END) [A-Z ]*PRIVATE KEY/g, `$1 ${label}`),
        });
        const sec1 = p256.export({ type: "sec1", format: "pem" }) as string;
        const mislabelled = (form: string, label: string, readAs: string, holds: string) =>
            `IntermediateCa issuer: privateKeyPem holds a ${form} key under the PEM label "${label}", which @pulumi/tls reads as ${readAs} ` +
            `(it picks Go's parser by the label: "x509: failed to parse private key"); label it as its form: -----BEGIN ${holds}----- and -----END ${holds}-----`;
        assert.deepStrictEqual(
            [
                await sign(relabelled(p256Root.keyPem, "RSA PRIVATE KEY")),
                await sign(relabelled(p256Root.keyPem, "EC PRIVATE KEY")),
                await sign(relabelled(sec1, "PRIVATE KEY")),
                await sign(relabelled(sec1, "EC PRIVATE KEY")),
                await sign(opensslRoot("Corp Brainpool Root", ec("brainpoolP384r1"), "0x5A17")),
                await sign(opensslRoot("Corp Ed448 Root", crypto.generateKeyPairSync("ed448").privateKey, "0x5A17")),
                await sign(opensslRoot("Corp ADCS Root", ec("prime256v1"), "-0x5A17")),
                await sign(opensslRoot("Corp P-384 Root", ec("secp384r1"), "0x5A17")),
            ],
            [
                mislabelled("PKCS#8", "RSA PRIVATE KEY", "PKCS#1", "PRIVATE KEY"),
                mislabelled("PKCS#8", "EC PRIVATE KEY", "SEC1", "PRIVATE KEY"),
                mislabelled("SEC1", "PRIVATE KEY", "PKCS#8", "EC PRIVATE KEY"),
                "accepted",
                `IntermediateCa issuer: privateKeyPem holds an ECDSA key on brainpoolP384r1, which @pulumi/tls cannot sign with (Go's crypto/x509: "unknown elliptic curve"); ${give}`,
                `IntermediateCa issuer: privateKeyPem holds a key of type ED448, which @pulumi/tls cannot sign with (Go's crypto/x509 parses RSA, ECDSA and Ed25519 keys only); ${give}`,
                `IntermediateCa issuer: certPem (CN=Corp ADCS Root) has a negative serial number (-5A17), which @pulumi/tls cannot read (Go's crypto/x509: "negative serial number"; RFC 5280 requires a positive one); re-issue the CA certificate with a positive serial, or give another CA`,
                "accepted",
            ],
        );
    });

    it("refuses an issuer whose certificates forbid what it would sign: no keyCertSign, a pathlen used up, another extended key usage", async () => {
        const root = await mintRoot("Corp root");
        const ca = (name: string, extensions: string[], issuer?: TestCa) =>
            opensslCa(name, ["basicConstraints = critical, " + extensions[0], ...extensions.slice(1)], issuer);
        const noCertSign = ca("Corp no-certsign CA", ["CA:TRUE", "keyUsage = critical, cRLSign"], root);
        const issuing = ca("Corp issuing CA", ["CA:TRUE, pathlen:0"], root);
        const below = ca("Corp sub-CA", ["CA:TRUE"], issuing);
        const rootPathlen0 = ca("Corp pathlen-0 root", ["CA:TRUE, pathlen:0"]);
        const rootPathlen2 = await mintRoot("Corp pathlen-2 root", { maxPathLength: 2 });
        const serverOnly = ca("Corp server-only CA", ["CA:TRUE", "extendedKeyUsage = serverAuth"], root);
        const clientOnly = ca("Corp client-only CA", ["CA:TRUE", "extendedKeyUsage = clientAuth"], root);
        const anyUsage = ca("Corp any-usage CA", ["CA:TRUE", "extendedKeyUsage = anyExtendedKeyUsage"], root);
        const serverOnlyRoot = ca("Corp server-only root", ["CA:TRUE", "extendedKeyUsage = serverAuth"]);
        const underServerOnlyRoot = ca("Corp CA under the server-only root", ["CA:TRUE"], serverOnlyRoot);
        const underPathlen2 = await mintSubCa(rootPathlen2, "Corp CA under pathlen-2 root");
        // A pathlen-2 root renewed with its key, and a CA issued under its older copy.
        const rootKey = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
        const oldRoot = opensslRoot("Corp renewed root", rootKey, "0x1", "critical,CA:TRUE,pathlen:2");
        const renewedRoot = opensslRoot("Corp renewed root", rootKey, "0x2", "critical,CA:TRUE,pathlen:2");
        const underOldRoot = ca("Corp CA under the old root", ["CA:TRUE"], oldRoot);
        // Self-issued CAs (the subject of the CA above, a new key), which only Go counts for a pathlen.
        const issuingSelfIssued = await mintSelfIssuedCa(issuing);
        const pathlen1 = ca("Corp pathlen-1 CA", ["CA:TRUE, pathlen:1"], root);
        const pathlen1SelfIssued = await mintSelfIssuedCa(pathlen1);
        const issuer = (signer: TestCa, top: TestCa = root, chainPem = signer.certPem) => ({
            certPem: signer.certPem,
            privateKeyPem: signer.keyPem,
            chainPem,
            rootCertPem: top.certPem,
        });
        const overSelfIssued = issuer(pathlen1SelfIssued, root, pathlen1SelfIssued.certPem + pathlen1.certPem);
        const intermediate = (args: Record<string, unknown>) => () =>
            new IntermediateCa("i", { ...args, subject: { commonName: "i" }, keyAlgorithm: "ECDSA" });
        const mesh = (args: Record<string, unknown>) => () =>
            new MeshPluginCa("m", { ...args, cluster: "c", environment: "dev", keyAlgorithm: "ECDSA" });
        const bundle =
            (signer: TestCa, chainPem = signer.certPem) =>
            () =>
                new ApicClientBundle("b", {
                    clientCa: { certPem: signer.certPem, privateKeyPem: signer.keyPem, chainPem },
                    serverTrustBundlePem: gatewayServerRootPem,
                    endpointId: "ob",
                    identity: "urn:example:apic",
                    keyAlgorithm: "ECDSA",
                });
        // The package's defaults: a RootCa (pathlen 1), an IntermediateCa, then a CA under that one.
        const underDefaults = () => {
            const rootCa = new RootCa("r", { subject: { commonName: "Bank root" }, keyAlgorithm: "ECDSA" });
            const first = new IntermediateCa("a", { rootCa, subject: { commonName: "a" }, keyAlgorithm: "ECDSA" });
            return new IntermediateCa("b", {
                issuer: {
                    certPem: first.certPem,
                    privateKeyPem: first.privateKeyPem,
                    chainPem: first.chainPem,
                    rootCertPem: first.rootCertPem,
                },
                subject: { commonName: "b" },
                keyAlgorithm: "ECDSA",
            });
        };
        const sends = `OpenSSL, Go (istiod) and Envoy's BoringSSL would refuse every certificate`;
        const anchors = `OpenSSL and Go (istiod) would refuse every certificate`;
        const exceeded = `("path length constraint exceeded"`;
        const eku =
            "and verifiers hold a CA's extendedKeyUsage against the certificates below it: " +
            `OpenSSL ("unsuitable certificate purpose"), Envoy's BoringSSL ("unsupported certificate purpose") and Go ("incompatible key usage") would refuse`;
        assert.deepStrictEqual(
            [
                await run(intermediate({ issuer: issuer(noCertSign) })),
                await run(intermediate({ issuer: issuer(issuing) })),
                await run(mesh({ issuer: issuer(issuing) })),
                await run(
                    intermediate({ rootCa: { certPem: rootPathlen0.certPem, privateKeyPem: rootPathlen0.keyPem } }),
                ),
                await run(bundle(below, below.certPem + issuing.certPem)),
                await run(underDefaults),
                await run(bundle(serverOnly)),
                await run(
                    () =>
                        new ApicServerCertificate("s", {
                            serverCa: {
                                certPem: clientOnly.certPem,
                                privateKeyPem: clientOnly.keyPem,
                                chainPem: clientOnly.certPem,
                            },
                            host: "apic.bank.example",
                        }),
                ),
                await run(bundle(anyUsage)),
                await run(mesh({ issuer: overSelfIssued })),
                await run(bundle(underServerOnlyRoot, underServerOnlyRoot.certPem + serverOnlyRoot.certPem)),
                // Controls: a leaf right under the pathlen-0 CA; a CA under a root with room for two.
                await run(bundle(issuing)),
                await run(intermediate({ issuer: issuer(underPathlen2, rootPathlen2) })),
                // chainPem ends in the root's older copy: verifiers go from the CA to the renewed root.
                await run(
                    intermediate({
                        issuer: issuer(underOldRoot, renewedRoot, underOldRoot.certPem + oldRoot.certPem),
                    }),
                ),
                // Under self-issued CAs, for OpenSSL and Envoy's BoringSSL (which skip them).
                await run(bundle(issuingSelfIssued, issuingSelfIssued.certPem + issuing.certPem)),
                await run(intermediate({ issuer: overSelfIssued })),
                await run(bundle(clientOnly)),
            ],
            [
                "IntermediateCa issuer: certPem (CN=Corp no-certsign CA) is a CA certificate whose keyUsage lacks keyCertSign, so verifiers accept nothing it signs; re-issue it with keyCertSign (and cRLSign), or give another CA",
                `IntermediateCa issuer: certPem (CN=Corp issuing CA) has pathlen:0, which allows no CA below it, and with the CA made here there would be 1: ${sends} that CA signs ${exceeded}); ` +
                    "sign this CA with a CA higher up the chain, or re-issue CN=Corp issuing CA with pathlen:1 or more",
                `MeshPluginCa issuer: certPem (CN=Corp issuing CA) has pathlen:0, which allows no CA below it, and with the CA made here there would be 1: ${sends} that CA signs ${exceeded}); ` +
                    "sign this CA with a CA higher up the chain, or re-issue CN=Corp issuing CA with pathlen:1 or more",
                `IntermediateCa rootCa: certPem (CN=Corp pathlen-0 root) has pathlen:0, which allows no CA below it, and with the CA made here there would be 1: ${anchors} that CA signs ${exceeded}; Envoy's BoringSSL alone ignores a trust anchor's pathlen); ` +
                    "give a root that allows CAs below it, or re-issue CN=Corp pathlen-0 root with pathlen:1 or more",
                `ApicClientBundle clientCa: CN=Corp issuing CA in chainPem has pathlen:0, which allows no CA below it, but there is 1 down to certPem (CN=Corp sub-CA): ${sends} it signs ${exceeded}); ` +
                    "give a CA higher up the chain, or re-issue CN=Corp issuing CA with pathlen:1 or more",
                // Checked once the outputs resolve, as the signing resource's input (caCertPem) serializes.
                `IntermediateCa issuer: rootCertPem (CN=Bank root) has pathlen:1, which allows 1 CA below it, and with the CA made here there would be 2: ${anchors} that CA signs ${exceeded}; Envoy's BoringSSL alone ignores a trust anchor's pathlen); ` +
                    "sign this CA with a CA higher up the chain, or re-issue CN=Bank root with pathlen:2 or more",
                `ApicClientBundle clientCa: certPem (CN=Corp server-only CA) has extendedKeyUsage serverAuth, without clientAuth, ${eku} the client certificates this CA signs; ` +
                    "give a CA whose extendedKeyUsage includes clientAuth, or that has none",
                `ApicServerCertificate serverCa: certPem (CN=Corp client-only CA) has extendedKeyUsage clientAuth, without serverAuth, ${eku} the server certificates this CA signs; ` +
                    "give a CA whose extendedKeyUsage includes serverAuth, or that has none",
                "ApicClientBundle clientCa: certPem (CN=Corp any-usage CA) has extendedKeyUsage anyExtendedKeyUsage, without clientAuth, " +
                    "and verifiers hold a CA's extendedKeyUsage against the certificates below it: " +
                    `OpenSSL ("unsuitable certificate purpose") and Envoy's BoringSSL ("unsupported certificate purpose") would refuse the client certificates this CA signs ` +
                    "(anyExtendedKeyUsage is not enough for OpenSSL and BoringSSL; Go alone accepts it); give a CA whose extendedKeyUsage includes clientAuth, or that has none",
                "MeshPluginCa issuer: CN=Corp pathlen-1 CA in chainPem has pathlen:1, which allows 1 CA below it, and with the CA made here there would be 2: " +
                    'Go (istiod) would refuse every certificate that CA signs ("too many intermediates for path length constraint"), counting the self-issued CN=Corp pathlen-1 CA, ' +
                    "which OpenSSL and Envoy's BoringSSL skip; sign this CA with a CA higher up the chain, or re-issue CN=Corp pathlen-1 CA with pathlen:2 or more",
                "ApicClientBundle clientCa: CN=Corp server-only root in chainPem has extendedKeyUsage serverAuth, without clientAuth, " +
                    "and verifiers hold a CA's extendedKeyUsage against the certificates below it: " +
                    `OpenSSL ("unsuitable certificate purpose") and Go ("incompatible key usage") would refuse the client certificates this CA signs ` +
                    "(Envoy's BoringSSL ignores a trust anchor's extendedKeyUsage); give a CA under a root whose extendedKeyUsage includes clientAuth, or that has none",
                "accepted",
                "accepted",
                "accepted",
                "accepted",
                "accepted",
                "accepted",
            ],
        );
        // Envoy's rules take a client certificate below the pathlen-0 CA's self-issued CA.
        const underSelfIssued = await mintLeaf(issuingSelfIssued, {
            commonName: "c",
            allowedUses: ["digital_signature", "client_auth"],
        });
        assert.strictEqual(
            verifyPeer({
                caCrt: root.certPem,
                chain: underSelfIssued.cert + issuingSelfIssued.certPem + issuing.certPem,
                purpose: "sslclient",
            }).accepted,
            true,
        );
        // Envoy's rules refuse a client certificate under the server-only root: OpenSSL does, BoringSSL does not.
        const underRootLimited = await mintLeaf(underServerOnlyRoot, {
            commonName: "c",
            allowedUses: ["digital_signature", "client_auth"],
        });
        const limitedVerdict = verifyPeer({
            caCrt: serverOnlyRoot.certPem,
            chain: underRootLimited.cert + underServerOnlyRoot.certPem,
            purpose: "sslclient",
        });
        assert.deepStrictEqual(
            [limitedVerdict.accepted, limitedVerdict.boringssl.error, limitedVerdict.openssl.error],
            [false, "", "unsuitable certificate purpose"],
        );
        // What Envoy's rules say of a client certificate under the server-only CA, the reverse, and under the any-usage CA.
        const verdict = async (signer: TestCa, use: string, purpose: "sslclient" | "sslserver") => {
            const leaf = await mintLeaf(signer, { commonName: "c", allowedUses: ["digital_signature", use] });
            const { boringssl, openssl } = verifyPeer({
                caCrt: root.certPem,
                chain: leaf.cert + signer.certPem,
                purpose,
            });
            return [boringssl.error, openssl.error];
        };
        const unsuitable = ["unsupported certificate purpose", "unsuitable certificate purpose"];
        assert.deepStrictEqual(
            [
                await verdict(serverOnly, "client_auth", "sslclient"),
                await verdict(clientOnly, "server_auth", "sslserver"),
                await verdict(anyUsage, "client_auth", "sslclient"),
            ],
            [unsuitable, unsuitable, unsuitable],
        );
    });

    it("refuses a MeshPluginCa issuer whose extendedKeyUsage leaves out serverAuth or clientAuth, which istiod's workload certificates carry", async () => {
        const root = await mintRoot("Corp root");
        const ca = (name: string, usages: string) =>
            opensslCa(name, ["basicConstraints = critical, CA:TRUE", `extendedKeyUsage = ${usages}`], root);
        const anyUsage = ca("Corp any-usage CA", "anyExtendedKeyUsage");
        const serverOnly = ca("Corp server-only CA", "serverAuth");
        const both = ca("Corp TLS CA", "serverAuth, clientAuth");
        const mesh = (signer: TestCa) => () =>
            new MeshPluginCa("m", {
                issuer: {
                    certPem: signer.certPem,
                    privateKeyPem: signer.keyPem,
                    chainPem: signer.certPem,
                    rootCertPem: root.certPem,
                },
                cluster: "c",
                environment: "dev",
                keyAlgorithm: "ECDSA",
            });
        const eku = "and verifiers hold a CA's extendedKeyUsage against the certificates below it: ";
        assert.deepStrictEqual(
            [await run(mesh(anyUsage)), await run(mesh(serverOnly)), await run(mesh(both))],
            [
                `MeshPluginCa issuer: certPem (CN=Corp any-usage CA) has extendedKeyUsage anyExtendedKeyUsage, without serverAuth and clientAuth, ${eku}` +
                    `OpenSSL ("unsuitable certificate purpose") and Envoy's BoringSSL ("unsupported certificate purpose") would refuse the server and client certificates the CA made here signs ` +
                    "(anyExtendedKeyUsage is not enough for OpenSSL and BoringSSL; Go alone accepts it); give a CA whose extendedKeyUsage includes serverAuth and clientAuth, or that has none",
                `MeshPluginCa issuer: certPem (CN=Corp server-only CA) has extendedKeyUsage serverAuth, without clientAuth, ${eku}` +
                    `OpenSSL ("unsuitable certificate purpose"), Envoy's BoringSSL ("unsupported certificate purpose") and Go ("incompatible key usage") would refuse the client certificates the CA made here signs; ` +
                    "give a CA whose extendedKeyUsage includes serverAuth and clientAuth, or that has none",
                "accepted",
            ],
        );
        // What Envoy's rules say of a workload certificate (both usages, as istiod issues) under the
        // mesh CA each would make: refused under the any-usage CA, accepted under the one made.
        const workload = async (meshCa: TestCa, chainPem: string) => {
            const leaf = await mintLeaf(meshCa, {
                commonName: "w",
                uris: ["spiffe://cluster.local/ns/default/sa/default"],
                allowedUses: ["digital_signature", "server_auth", "client_auth"],
            });
            return (["sslclient", "sslserver"] as const).map((purpose) => {
                const v = verifyPeer({ caCrt: root.certPem, chain: leaf.cert + meshCa.certPem + chainPem, purpose });
                return [v.boringssl.error || "ok", v.openssl.error || "ok"];
            });
        };
        const { outputs } = await runWithStandIn(
            () => {
                const made = mesh(both)() as MeshPluginCa;
                return { certPem: made.certPem, keyPem: made.privateKeyPem };
            },
            { state: new Map() },
        );
        const made = { certPem: outputs.certPem as string, keyPem: outputs.keyPem as string };
        const underAnyUsage = opensslCa("Corp mesh CA", ["basicConstraints = critical, CA:TRUE"], anyUsage);
        const unsuitable = ["unsupported certificate purpose", "unsuitable certificate purpose"];
        assert.deepStrictEqual(
            [await workload(made, both.certPem), await workload(underAnyUsage, anyUsage.certPem)],
            [
                [
                    ["ok", "ok"],
                    ["ok", "ok"],
                ],
                [unsuitable, unsuitable],
            ],
        );
    });

    it("refuses an issuer with a CA on its path whose critical extension Envoy or OpenSSL does not handle", async () => {
        const root = await mintRoot("Corp root");
        const crit = opensslCa(
            "Corp private-extension CA",
            ["basicConstraints = critical, CA:TRUE", "1.3.6.1.4.1.99999.1 = critical, ASN1:NULL"],
            root,
        );
        const below = opensslCa("Corp CA under it", ["basicConstraints = critical, CA:TRUE"], crit);
        const policies = opensslCa(
            "Corp policy CA",
            [
                "basicConstraints = critical, CA:TRUE",
                "certificatePolicies = 2.5.29.32.0",
                "policyConstraints = critical, requireExplicitPolicy:0",
            ],
            root,
        );
        const server =
            (signer: TestCa, chainPem = signer.certPem) =>
            () =>
                new ApicServerCertificate("s", {
                    serverCa: {
                        certPem: signer.certPem,
                        privateKeyPem: signer.keyPem,
                        chainPem,
                    },
                    host: "apic.bank.example",
                });
        const refusal = (where: string) =>
            `ApicServerCertificate serverCa: ${where} has the critical extension 1.3.6.1.4.1.99999.1, which Envoy's BoringSSL and OpenSSL do not handle: ` +
            `they would refuse every certificate under it ("unhandled critical extension"); re-issue CN=Corp private-extension CA without that extension or with it non-critical, or give another CA`;
        assert.deepStrictEqual(
            [
                await run(server(crit)),
                await run(server(below, below.certPem + crit.certPem)),
                await run(server(policies)),
            ],
            [
                refusal("certPem (CN=Corp private-extension CA)"),
                refusal("CN=Corp private-extension CA in chainPem"),
                "accepted",
            ],
        );
        // What Envoy's rules make of the leaves either would sign.
        const verdict = async (ca: TestCa) => {
            const leaf = await mintLeaf(ca, {
                commonName: "c",
                dnsNames: ["apic.bank.example"],
                allowedUses: ["digital_signature", "server_auth"],
            });
            const v = verifyPeer({ caCrt: root.certPem, chain: leaf.cert + ca.certPem, purpose: "sslserver" });
            return [v.boringssl.error || "ok", v.openssl.error || "ok"];
        };
        assert.deepStrictEqual(
            [await verdict(crit), await verdict(policies)],
            [
                ["unhandled critical extension", "unhandled critical extension"],
                ["ok", "ok"],
            ],
        );
    });

    it("holds a critical extension against the verifiers that check that CA: BoringSSL no trust anchor's, Go only a MeshPluginCa's chains", async () => {
        const root = await mintRoot("Corp root");
        const ca = (name: string, extension: string, issuer?: TestCa) =>
            opensslCa(
                name,
                ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign", extension],
                issuer,
            );
        const cdp = "crlDistributionPoints = critical, URI:http://pki.bank.example/root.crl";
        const cdpRoot = ca("Corp CDP root", cdp);
        const underCdpRoot = opensslCa("Corp CA under CDP root", ["basicConstraints = critical, CA:TRUE"], cdpRoot);
        const cdpCa = ca("Corp CDP CA", cdp, root);
        const netscapeCa = ca("Corp Netscape CA", "nsCertType = critical, sslCA", root);
        const issuer = (signer: TestCa, top: TestCa) => ({
            certPem: signer.certPem,
            privateKeyPem: signer.keyPem,
            chainPem: signer.certPem,
            rootCertPem: top.certPem,
        });
        const intermediate = (signer: TestCa, top: TestCa) => () =>
            new IntermediateCa("i", {
                issuer: issuer(signer, top),
                subject: { commonName: "i" },
                keyAlgorithm: "ECDSA",
            });
        const mesh = (signer: TestCa, top: TestCa) => () =>
            new MeshPluginCa("m", {
                issuer: issuer(signer, top),
                cluster: "c",
                environment: "dev",
                keyAlgorithm: "ECDSA",
            });
        const gateway = (signer: TestCa) => oneEndpointGateway(signer, root.certPem);
        const refusal = (component: string, subject: string, oid: string, refusers: string) =>
            `${component} issuer: certPem (${subject}) has the critical extension ${oid}, which ${refusers} does not handle: ` +
            `it would refuse every certificate under it ("unhandled critical extension"); re-issue ${subject} without that extension or with it non-critical, or give another CA`;
        assert.deepStrictEqual(
            [
                await run(intermediate(underCdpRoot, cdpRoot)),
                await run(mesh(underCdpRoot, cdpRoot)),
                await run(intermediate(cdpCa, root)),
                await run(gateway(netscapeCa)),
                await run(intermediate(netscapeCa, root)),
                await run(mesh(netscapeCa, root)),
            ],
            [
                "accepted",
                "accepted",
                refusal("IntermediateCa", "CN=Corp CDP CA", "2.5.29.31", "Envoy's BoringSSL"),
                "accepted",
                "accepted",
                refusal("MeshPluginCa", "CN=Corp Netscape CA", "2.16.840.1.113730.1.1", "Go (istiod)"),
            ],
        );
        // Envoy's rules accept what the accepted ones hand out: a leaf under the CA made below the
        // CDP root, the gateway's certificate under the Netscape CA; and refuse a leaf under the CDP CA.
        const { outputs } = await runWithStandIn(
            () => {
                const made = intermediate(underCdpRoot, cdpRoot)() as IntermediateCa;
                const served = gateway(netscapeCa)() as IstioGatewayTls;
                return { certPem: made.certPem, keyPem: made.privateKeyPem, served: served.serverCertPems.e };
            },
            { state: new Map() },
        );
        const made = { certPem: outputs.certPem as string, keyPem: outputs.keyPem as string };
        const client = await mintLeaf(made, { commonName: "c", allowedUses: ["digital_signature", "client_auth"] });
        const underCdp = await mintLeaf(cdpCa, { commonName: "c", allowedUses: ["digital_signature", "client_auth"] });
        const verdict = (caCrt: string, chain: string, purpose: "sslclient" | "sslserver") => {
            const v = verifyPeer({ caCrt, chain, purpose });
            return [v.boringssl.error || "ok", v.openssl.error || "ok"];
        };
        assert.deepStrictEqual(
            [
                verdict(cdpRoot.certPem, client.cert + made.certPem + underCdpRoot.certPem, "sslclient"),
                verdict(root.certPem, (outputs.served as string) + netscapeCa.certPem, "sslserver"),
                verdict(root.certPem, underCdp.cert + cdpCa.certPem, "sslclient"),
            ],
            [
                ["ok", "ok"],
                ["ok", "ok"],
                ["unhandled critical extension", "ok"],
            ],
        );
    });

    it("holds the subjects a component signs against directoryName nameConstraints, and refuses a critical one to a MeshPluginCa, as Go does", async () => {
        const root = await mintRoot("Corp root");
        const constrained = (name: string, constraints: string, dn: string[]) =>
            opensslCa(
                name,
                ["basicConstraints = critical, CA:TRUE", `nameConstraints = ${constraints}`, "[dn]", ...dn],
                root,
            );
        const bankOnly = constrained("Corp bank-subjects CA", "critical, permitted;dirName:dn", ["O = Bank"]);
        const notTest = constrained("Corp no-test CA", "critical, excluded;dirName:dn", [
            "O = Bank",
            "CN = api.test.bank.example",
        ]);
        const bankOnlyLax = constrained("Corp lax bank-subjects CA", "permitted;dirName:dn", ["O = Bank"]);
        const issuer = (signer: TestCa) => ({
            certPem: signer.certPem,
            privateKeyPem: signer.keyPem,
            chainPem: signer.certPem,
        });
        const server = (signer: TestCa, organization?: string) => () =>
            new ApicServerCertificate("s", { serverCa: issuer(signer), host: "apic.bank.example", organization });
        const gateway = (signer: TestCa, hosts: string[]) => () =>
            new IstioGatewayTls("g", {
                serverCa: issuer(signer),
                clientTrustBundlePem: root.certPem,
                endpoints: hosts.map((host, i) => ({ id: `e${i}`, host, clientSubjectAltNames: ["urn:example:apic"] })),
                organization: "Bank",
                keyAlgorithm: "ECDSA",
            });
        const bundle = (signer: TestCa, organization: string) => () =>
            new ApicClientBundle("b", {
                clientCa: issuer(signer),
                serverTrustBundlePem: root.certPem,
                endpointId: "ob",
                identity: "urn:example:apic",
                organization,
                keyAlgorithm: "ECDSA",
            });
        const mesh = (signer: TestCa, organization?: string) => () =>
            new MeshPluginCa("m", {
                issuer: { ...issuer(signer), rootCertPem: root.certPem },
                cluster: "c",
                environment: "dev",
                organization,
                keyAlgorithm: "ECDSA",
            });
        const refusers = `Envoy's BoringSSL and OpenSSL would refuse the certificate signed for it`;
        assert.deepStrictEqual(
            [
                await run(server(bankOnly)),
                await run(bundle(bankOnly, "Other Bank")),
                await run(gateway(notTest, ["api.bank.example", "api.test.bank.example"])),
                await run(mesh(bankOnly, "Bank")),
                await run(mesh(bankOnlyLax)),
                // Controls: O=BANK is O=Bank to BoringSSL; Go ignores a non-critical extension.
                await run(server(bankOnly, "BANK")),
                await run(gateway(notTest, ["api.bank.example"])),
                await run(mesh(bankOnlyLax, "Bank")),
            ],
            [
                `ApicServerCertificate serverCa: the subject "CN=apic.bank.example" is outside the nameConstraints of certPem (CN=Corp bank-subjects CA), which permit only DirName:O=Bank for DirName names: ` +
                    `${refusers} ("permitted subtree violation"); give an organization that puts the subject within DirName:O=Bank, or a CA whose nameConstraints allow it`,
                `ApicClientBundle clientCa: the subject "O=Other Bank, CN=apic-client ob" is outside the nameConstraints of certPem (CN=Corp bank-subjects CA), which permit only DirName:O=Bank for DirName names: ` +
                    `${refusers} ("permitted subtree violation"); give an organization that puts the subject within DirName:O=Bank, or a CA whose nameConstraints allow it`,
                `IstioGatewayTls serverCa: the subject for endpoints[1] "O=Bank, CN=api.test.bank.example" is excluded by the nameConstraints of certPem (CN=Corp no-test CA), which exclude DirName:O=Bank, CN=api.test.bank.example: ` +
                    `${refusers} ("excluded subtree violation"); give an organization that puts the subject outside DirName:O=Bank, CN=api.test.bank.example, or a CA whose nameConstraints allow it`,
                "MeshPluginCa issuer: certPem (CN=Corp bank-subjects CA) has a critical nameConstraints with DirName:O=Bank, a name type Go reads no constraints of (only DNS, IP, email and URI): " +
                    `Go (istiod) would refuse every certificate under it ("unhandled critical extension"); ` +
                    "re-issue CN=Corp bank-subjects CA without those subtrees or with nameConstraints non-critical, or give another CA",
                `MeshPluginCa issuer: the CA's subject "CN=dev mesh CA c" is outside the nameConstraints of certPem (CN=Corp lax bank-subjects CA), which permit only DirName:O=Bank for DirName names: ` +
                    `${refusers} ("permitted subtree violation"); give an organization that puts the subject within DirName:O=Bank, or a CA whose nameConstraints allow it`,
                ...Array<string>(3).fill("accepted"),
            ],
        );
        // Envoy's rules agree: the certificate the component signs with O=BANK passes, one without O does not.
        const { outputs } = await runWithStandIn(
            () => ({ certPem: (server(bankOnly, "BANK")() as ApicServerCertificate).certPem }),
            {
                state: new Map(),
            },
        );
        const noOrganization = await mintLeaf(bankOnly, {
            commonName: "apic.bank.example",
            dnsNames: ["apic.bank.example"],
            allowedUses: ["digital_signature", "server_auth"],
        });
        const verdict = (leafPem: string) => {
            const v = verifyPeer({ caCrt: root.certPem, chain: leafPem + bankOnly.certPem, purpose: "sslserver" });
            return [v.boringssl.error || "ok", v.openssl.error || "ok"];
        };
        assert.deepStrictEqual(
            [verdict(outputs.certPem as string), verdict(noOrganization.cert)],
            [
                ["ok", "ok"],
                ["permitted subtree violation", "permitted subtree violation"],
            ],
        );
    });

    it("refuses an issuer whose nameConstraints exclude a name the component would sign", async () => {
        const root = await mintRoot("Corp root");
        const constrained = (name: string, constraints: string) =>
            opensslCa(
                name,
                ["basicConstraints = critical, CA:TRUE", `nameConstraints = critical, ${constraints}`],
                root,
            );
        const subdomains = constrained("Corp subdomains CA", "permitted;DNS:.bank.example");
        const domain = constrained("Corp domain CA", "permitted;DNS:bank.example, excluded;DNS:test.bank.example");
        const uris = constrained("Corp URI CA", "permitted;URI:.bank.example");
        const uriHost = constrained("Corp URI host CA", "permitted;URI:apic.bank.example");
        const meshOnly = constrained("Corp mesh CA", "permitted;DNS:.svc, permitted;URI:cluster.local");
        const issuer = (signer: TestCa) => ({
            certPem: signer.certPem,
            privateKeyPem: signer.keyPem,
            chainPem: signer.certPem,
        });
        const server = (signer: TestCa, host: string) => () =>
            new ApicServerCertificate("s", { serverCa: issuer(signer), host });
        const gateway = (signer: TestCa, hosts: string[]) => () =>
            new IstioGatewayTls("g", {
                serverCa: issuer(signer),
                clientTrustBundlePem: root.certPem,
                endpoints: hosts.map((host, i) => ({ id: `e${i}`, host, clientSubjectAltNames: ["urn:example:apic"] })),
                keyAlgorithm: "ECDSA",
            });
        const bundle = (signer: TestCa, identity: string) => () =>
            new ApicClientBundle("b", {
                clientCa: issuer(signer),
                serverTrustBundlePem: gatewayServerRootPem,
                endpointId: "ob",
                identity,
                keyAlgorithm: "ECDSA",
            });
        const mesh = (signer: TestCa) => () =>
            new MeshPluginCa("m", {
                issuer: { ...issuer(signer), rootCertPem: root.certPem },
                cluster: "c",
                environment: "dev",
                keyAlgorithm: "ECDSA",
            });
        const refusers = `Envoy's BoringSSL, OpenSSL and Go would refuse the certificate signed for it`;
        // Go matches URI subtrees otherwise (URI:apic.bank.example holds x.apic.bank.example too).
        const uriRefusers = `Envoy's BoringSSL and OpenSSL would refuse the certificate signed for it`;
        assert.deepStrictEqual(
            [
                await run(server(subdomains, "bank.example")),
                await run(gateway(subdomains, ["api.bank.example", "api.other.example"])),
                await run(server(domain, "api.test.bank.example")),
                await run(bundle(uris, "urn:example:apic")),
                await run(mesh(uris)),
                await run(bundle(uriHost, "spiffe://x.apic.bank.example/x")),
                // Controls: within the subtrees; a URI under DNS subtrees only, and the reverse.
                await run(server(subdomains, "apic.bank.example")),
                await run(server(domain, "bank.example")),
                await run(bundle(uris, "https://apic.bank.example/client")),
                await run(bundle(subdomains, "urn:example:apic")),
                await run(server(uris, "apic.other.example")),
                await run(mesh(meshOnly)),
                // istiod signs its own serving certificate with the plug-in CA: DNS subtrees must hold it.
                await run(mesh(subdomains)),
            ],
            [
                `ApicServerCertificate serverCa: host "bank.example" is outside the nameConstraints of certPem (CN=Corp subdomains CA), which permit only DNS:.bank.example for DNS names: ` +
                    `${refusers} ("permitted subtree violation"); give a name within DNS:.bank.example, or a CA whose nameConstraints allow it`,
                `IstioGatewayTls serverCa: endpoints[1].host "api.other.example" is outside the nameConstraints of certPem (CN=Corp subdomains CA), which permit only DNS:.bank.example for DNS names: ` +
                    `${refusers} ("permitted subtree violation"); give a name within DNS:.bank.example, or a CA whose nameConstraints allow it`,
                `ApicServerCertificate serverCa: host "api.test.bank.example" is excluded by the nameConstraints of certPem (CN=Corp domain CA), which exclude DNS:test.bank.example: ` +
                    `${refusers} ("excluded subtree violation"); give a name outside DNS:test.bank.example, or a CA whose nameConstraints allow it`,
                `ApicClientBundle clientCa: identity "urn:example:apic" has no host to match the URI nameConstraints of certPem (CN=Corp URI CA) (URI:.bank.example) against: ` +
                    `Envoy's BoringSSL and OpenSSL would refuse the certificate signed for it ("unsupported or invalid name syntax"); ` +
                    "give a URI with a host within them (scheme://host/...), or a CA whose nameConstraints have no URI subtrees",
                `MeshPluginCa issuer: the workload identities istiod signs in its trust domain cluster.local (Istio's default), such as "spiffe://cluster.local/ns/default/sa/default" ` +
                    `is outside the nameConstraints of certPem (CN=Corp URI CA), which permit only URI:.bank.example for URI names: ` +
                    `${uriRefusers} ("permitted subtree violation"); give a CA whose nameConstraints permit URI:cluster.local, or that has no URI subtrees`,
                `ApicClientBundle clientCa: identity "spiffe://x.apic.bank.example/x" is outside the nameConstraints of certPem (CN=Corp URI host CA), which permit only URI:apic.bank.example for URI names: ` +
                    `${uriRefusers} ("permitted subtree violation"); give a name within URI:apic.bank.example, or a CA whose nameConstraints allow it`,
                ...Array<string>(6).fill("accepted"),
                `MeshPluginCa issuer: istiod's serving certificate, which it signs with this CA and every proxy verifies, for "istiod.istio-system.svc" ` +
                    `is outside the nameConstraints of certPem (CN=Corp subdomains CA), which permit only DNS:.bank.example for DNS names: ` +
                    `${refusers} ("permitted subtree violation"); give a CA whose nameConstraints permit DNS:istiod.istio-system.svc (DNS:.svc holds it), or that has no DNS subtrees`,
            ],
        );
        // Envoy's rules agree on each side of the line.
        const verdict = async (ca: TestCa, san: { dnsNames?: string[]; uris?: string[] }) => {
            const use = san.dnsNames ? "server_auth" : "client_auth";
            const leaf = await mintLeaf(ca, { commonName: "c", ...san, allowedUses: ["digital_signature", use] });
            const v = verifyPeer({
                caCrt: root.certPem,
                chain: leaf.cert + ca.certPem,
                purpose: san.dnsNames ? "sslserver" : "sslclient",
            });
            return [v.boringssl.error || "ok", v.openssl.error || "ok"];
        };
        const permitted = ["permitted subtree violation", "permitted subtree violation"];
        assert.deepStrictEqual(
            [
                await verdict(subdomains, { dnsNames: ["bank.example"] }),
                await verdict(domain, { dnsNames: ["api.test.bank.example"] }),
                await verdict(uris, { uris: ["urn:example:apic"] }),
                await verdict(uris, { uris: ["spiffe://cluster.local/ns/default/sa/default"] }),
                await verdict(uriHost, { uris: ["spiffe://x.apic.bank.example/x"] }),
                await verdict(subdomains, { dnsNames: ["apic.bank.example"] }),
                await verdict(domain, { dnsNames: ["bank.example"] }),
                await verdict(uris, { uris: ["https://apic.bank.example/client"] }),
                await verdict(subdomains, { uris: ["urn:example:apic"] }),
                await verdict(subdomains, { dnsNames: ["istiod.istio-system.svc"] }),
                await verdict(meshOnly, { dnsNames: ["istiod.istio-system.svc"] }),
                await verdict(meshOnly, { uris: ["spiffe://cluster.local/ns/default/sa/default"] }),
            ],
            [
                permitted,
                ["excluded subtree violation", "excluded subtree violation"],
                ["unsupported or invalid name syntax", "unsupported or invalid name syntax"],
                permitted,
                permitted,
                ...Array(4).fill(["ok", "ok"]),
                permitted,
                ...Array(2).fill(["ok", "ok"]),
            ],
        );
        // A root's constraints count too; given also at the end of chainPem, it is named as rootCertPem.
        const excludingRoot = opensslCa("Corp excluding root", [
            "basicConstraints = critical, CA:TRUE",
            "nameConstraints = critical, excluded;DNS:.svc",
        ]);
        const underIt = opensslCa(
            "Corp CA under the excluding root",
            ["basicConstraints = critical, CA:TRUE"],
            excludingRoot,
        );
        assert.strictEqual(
            await run(
                () =>
                    new MeshPluginCa("m", {
                        issuer: {
                            ...issuer(underIt),
                            chainPem: underIt.certPem + excludingRoot.certPem,
                            rootCertPem: excludingRoot.certPem,
                        },
                        cluster: "c",
                        environment: "dev",
                        keyAlgorithm: "ECDSA",
                    }),
            ),
            `MeshPluginCa issuer: istiod's serving certificate, which it signs with this CA and every proxy verifies, for "istiod.istio-system.svc" ` +
                `is excluded by the nameConstraints of rootCertPem (CN=Corp excluding root), which exclude DNS:.svc: ` +
                `${refusers} ("excluded subtree violation"); give a CA whose nameConstraints permit DNS:istiod.istio-system.svc (DNS:.svc holds it), or that has no DNS subtrees`,
        );
    });

    it("refuses a CA whose subject is its issuer's: it would carry no authority key identifier, and verifiers take it for self-signed", async () => {
        const bankCa = await mintRoot("Bank CA");
        const meshNamed = await mintRoot("dev mesh CA c");
        const intermediate =
            (args: Record<string, unknown>, commonName = "Bank CA") =>
            () =>
                new IntermediateCa("i", { ...args, subject: { commonName }, keyAlgorithm: "ECDSA" });
        const signer = (ca: TestCa) => ({ certPem: ca.certPem, privateKeyPem: ca.keyPem, rootCertPem: ca.certPem });
        const why =
            "which signs it: the CA would carry no authority key identifier (@pulumi/tls leaves it out when subject and issuer are the same name), " +
            'and OpenSSL and BoringSSL would take it for a self-signed certificate and refuse every chain through it ("self signed certificate in certificate chain"); ';
        const fix = 'give subject a name of its own, e.g. commonName "Bank CA issuing CA"';
        assert.deepStrictEqual(
            [
                // A RootCa of the program: checked once its certificate resolves.
                await run(() => {
                    const rootCa = new RootCa("r", { subject: { commonName: "Bank CA" }, keyAlgorithm: "ECDSA" });
                    return intermediate({ rootCa })();
                }),
                await run(intermediate({ issuer: signer(bankCa) })),
                await run(intermediate({ offlineRoot: { rootCertPem: bankCa.certPem } })),
                await run(() => new MeshPluginCa("m", { issuer: signer(meshNamed), cluster: "c", environment: "dev" })),
                // Controls: another name; another organization makes another name too.
                await run(intermediate({ issuer: signer(bankCa) }, "Bank CA issuing CA")),
                await run(
                    () =>
                        new IntermediateCa("i", {
                            issuer: signer(bankCa),
                            subject: { commonName: "Bank CA", organization: "Bank" },
                            keyAlgorithm: "ECDSA",
                        }),
                ),
            ],
            [
                `IntermediateCa subject (CN=Bank CA) is the subject of IntermediateCa rootCa.certPem (CN=Bank CA), ${why}${fix}`,
                `IntermediateCa subject (CN=Bank CA) is the subject of IntermediateCa issuer.certPem (CN=Bank CA), ${why}${fix}`,
                "IntermediateCa subject (CN=Bank CA) is the subject of IntermediateCa offlineRoot.rootCertPem (CN=Bank CA), " +
                    `which signs it: the ceremony would refuse to sign its CSR (a CA below the root needs a name of its own); ${fix}`,
                `MeshPluginCa subject (CN=dev mesh CA c) is the subject of MeshPluginCa issuer.certPem (CN=dev mesh CA c), ${why}` +
                    "give it a name of its own: another environment, organization or generation, or a root named otherwise",
                "accepted",
                "accepted",
            ],
        );
    });

    it("refuses an encrypted CA key as encrypted, with a fix that leaves the decrypted key in no clear file", async () => {
        const root = await mintRoot("Corp root");
        const key = crypto.createPrivateKey(root.keyPem);
        const encrypted = { cipher: "aes-256-cbc", passphrase: "ceremony passphrase" } as const;
        const sign = (privateKeyPem: string) =>
            runWithStandIn(
                () =>
                    new IntermediateCa("i", {
                        issuer: { certPem: root.certPem, privateKeyPem, rootCertPem: root.certPem },
                        subject: { commonName: "i" },
                        keyAlgorithm: "ECDSA",
                    }),
                { state: new Map() },
            ).then(accepted, messageOf);
        const fix =
            "and @pulumi/tls takes no password to sign with it; give it decrypted, as a secret: (umask 077; openssl pkey -in ca.key -out ca.key.dec), " +
            "then pulumi config set --secret <name> < ca.key.dec (read it with requireSecret), and delete ca.key.dec";
        assert.deepStrictEqual(
            [
                await sign(key.export({ type: "pkcs8", format: "pem", ...encrypted }) as string),
                await sign(key.export({ type: "sec1", format: "pem", ...encrypted }) as string),
                await sign("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"),
            ],
            [
                `IntermediateCa issuer: privateKeyPem is encrypted (a "ENCRYPTED PRIVATE KEY" PEM block), ${fix}`,
                `IntermediateCa issuer: privateKeyPem is encrypted (a "EC PRIVATE KEY" PEM block with Proc-Type: 4,ENCRYPTED), ${fix}`,
                "IntermediateCa issuer: privateKeyPem is not a private key in PEM",
            ],
        );
    });

    it("refuses a customer-facing certificate that is empty, run into its chain, for another host, with a key pasted in or with a damaged block, instead of serving it", async () => {
        const ca = await mintRoot("public CA");
        const evil = await mintLeaf(ca, {
            commonName: "evil.example",
            dnsNames: ["evil.example"],
            allowedUses: ["server_auth"],
        });
        const www = await mintLeaf(ca, {
            commonName: "www.bank.example",
            dnsNames: ["www.bank.example"],
            allowedUses: ["server_auth"],
        });
        const serve = (certificatePem: string) =>
            runWithStandIn(
                () =>
                    new CustomerFacingTls("public", {
                        hosts: [{ host: "www.bank.example", certificatePem }],
                        keyAlgorithm: "ECDSA",
                    }).servedCertPems["www.bank.example"],
                { state: new Map() },
            ).then(accepted, messageOf);
        const outcomes = [
            await serve(""),
            // The leaf and its chain joined by cat, the leaf's file without its final newline: it said "holds no certificate".
            await serve(www.cert.trimEnd() + ca.certPem),
            await serve(evil.cert),
            await serve(www.cert + www.key),
            // A damaged intermediate after a sound leaf: it threw the parser's own error.
            await serve(`${www.cert}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`),
        ];
        const expected = [
            "CustomerFacingTls public: the certificatePem given for www.bank.example holds no certificate; give the public CA's certificate (leaf first, then its intermediates) or leave certificatePem out until it comes",
            `CustomerFacingTls public: the certificatePem given for www.bank.example has two PEM blocks run together on line ${www.cert.split("\n").length - 1}: ` +
                "the END of a CERTIFICATE block and the next BEGIN must be on separate lines (cat joins them so when a file lacks its final newline); put a line break between them",
            "CustomerFacingTls public: the certificate given for www.bank.example is for DNS:evil.example, not for www.bank.example; give the certificate the public CA issued for this host's CSR",
            'CustomerFacingTls public: the certificatePem given for www.bank.example holds a private key (a "EC PRIVATE KEY" PEM block): certificates are handed out and stored in clear, ' +
                "so take the key out (and replace it if the text has been shared); give the public CA's certificate and its intermediates only",
            "CustomerFacingTls public: the certificatePem given for www.bank.example holds, as certificate 2 of 2, a block that is no certificate; give the public CA's certificate (leaf first, then its intermediates) or leave certificatePem out until it comes",
        ];
        assert.deepStrictEqual(outcomes, expected);
    });

    it("refuses a gateway endpoint that would let any client in or that Envoy would refuse, as another language may send it", async () => {
        const gateway = (endpoints: unknown[]) =>
            runWithStandIn(
                () => {
                    const root = new RootCa("pins-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
                    const ca = { certPem: root.certPem, privateKeyPem: root.privateKeyPem, chainPem: root.certPem };
                    return new IstioGatewayTls("pins", {
                        serverCa: ca,
                        clientTrustBundlePem: root.certPem,
                        endpoints: endpoints as GatewayEndpoint[],
                        keyAlgorithm: "ECDSA",
                    }).gatewayName;
                },
                { state: sharedState },
            ).then(accepted, messageOf);
        const pin = crypto.createHash("sha256").update("key").digest("base64");
        // The same 32 bytes with a stray bit after them: Node decodes it, Envoy's Base64::decode refuses it.
        const sloppy = `${pin.slice(0, 42)}${String.fromCharCode(pin.charCodeAt(42) + 1)}=`;
        const ob = { id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:example:apic"] };
        assert.deepStrictEqual(
            [
                await gateway([{ ...ob, clientSubjectAltNames: [] }]),
                await gateway([{ ...ob, clientSubjectAltNames: "urn:example:apic" }]),
                await gateway([{ ...ob, clientSubjectAltNames: [""] }]),
                await gateway([{ ...ob, verifyCertificateSpki: "pin=" }]),
                await gateway([{ ...ob, verifyCertificateSpki: [pin, "not a pin"] }]),
                await gateway([{ ...ob, verifyCertificateSpki: [sloppy] }]),
                await gateway([ob, { ...ob, id: "dp", host: "dp.bank.example", secretName: "apic-mtls-ob" }]),
                await gateway([ob, { ...ob, id: "dp" }]),
                // An output is checked once resolved; the SDK reports it as pulumi up does.
                await gateway([{ ...ob, clientSubjectAltNames: [pulumi.output(" ")] }]),
                await gateway([{ ...ob, verifyCertificateSpki: [pin] }]),
            ],
            [
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames must list the client identities it accepts (the APIC client\'s URI SAN), each text or an output, or be an output of such a list; got []: with none, any certificate under ca.crt would get in',
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames must list the client identities it accepts (the APIC client\'s URI SAN), each text or an output, or be an output of such a list; got "urn:example:apic": with none, any certificate under ca.crt would get in',
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames[0] must be a client identity (non-blank text); got ""',
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki must be a list of pins (ApicClientBundle.spkiPin), each text or an output, or an output of such a list; got "pin="',
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki[1] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got "not a pin": Envoy would refuse the gateway\'s configuration',
                `IstioGatewayTls endpoint "ob" verifyCertificateSpki[0] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got "${sloppy}": Envoy would refuse the gateway's configuration (its 43rd character carries bits beyond the 32 bytes; the same pin written as Envoy reads it is "${pin}")`,
                'IstioGatewayTls endpoints "ob" and "dp" both name the secret "apic-mtls-ob"; give each endpoint its own secretName',
                'IstioGatewayTls endpoints "ob" and "dp" both serve the host "ob.bank.example": the gateway would use one of their certificates and client checks for both; give each endpoint its own host',
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames[0] must be a client identity (non-blank text); got " "',
                "accepted",
            ],
        );
    });

    it("refuses an identity that is a private key, a PEM block or free text, which would go in clear into the Gateway's spec, before any child is registered", async () => {
        // apic.privateKeyPem for apic.identity: the Gateway (no Secret) published the key and matched no client.
        const gateway = (identity: (apic: ApicClientBundle) => pulumi.Input<string>) => {
            const state = new Map();
            return runWithStandIn(
                () => {
                    const root = new RootCa("san-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
                    const ca = new IntermediateCa("san-ca", {
                        rootCa: root,
                        subject: { commonName: "c" },
                        keyAlgorithm: "ECDSA",
                    });
                    const apic = new ApicClientBundle("san-apic", {
                        clientCa: ca,
                        identity: "urn:bank:apic",
                        serverTrustBundlePem: gatewayServerRootPem,
                        keyAlgorithm: "ECDSA",
                    });
                    new IstioGatewayTls("san", {
                        serverCa: ca,
                        clientTrustBundlePem: root.certPem,
                        endpoints: [{ id: "pay", host: "pay.bank.example", clientSubjectAltNames: [identity(apic)] }],
                        keyAlgorithm: "ECDSA",
                    });
                },
                { state },
            ).then(
                () => "accepted",
                (error: Error) => ({
                    message: messageOf(error),
                    children: [...state.keys()].filter((key: string) => /::san-(pay|gateway)/.test(key)),
                }),
            );
        };
        const fix = "give the APIC client's identity, its URI SAN (pass apic.identity)";
        const mustBe =
            'IstioGatewayTls endpoint "pay" clientSubjectAltNames[0] must be a client identity (a URI, DNS name, IP address or e-mail address of the client certificate\'s SAN)';
        const refused = (message: string) => ({ message, children: [] });
        assert.deepStrictEqual(
            [
                await gateway((apic) => apic.privateKeyPem),
                await gateway((apic) => apic.certPem),
                await gateway(() => pulumi.output("the APIC client")),
                await gateway(() => "the APIC client"),
                await gateway((apic) => apic.identity),
                await gateway(() => "apic.bank.example"),
                await gateway(() => "10.0.0.7"),
                await gateway(() => "spiffe://cluster.local/ns/apic/sa/client"),
                // Istio matches each entry as e-mail and UPN too (AD CS client certificates).
                await gateway(() => "apic-gw@bank.example"),
                await gateway(() => "apic_gw.bank.internal"),
                // Nothing a client certificate carries: an IP SAN has no zone, a name no numeric last label.
                await gateway(() => "fe80::1%eth0"),
                await gateway(() => "10.0.7"),
                await gateway(() => "apic@10.0.0"),
            ],
            [
                refused(
                    `IstioGatewayTls endpoint "pay" clientSubjectAltNames[0] holds a private key (a "EC PRIVATE KEY" PEM block): the Gateway's spec is stored and shown in clear, so take the key out (and replace it if the text has been shared); ${fix}`,
                ),
                refused(`${mustBe}, not a PEM block ("CERTIFICATE"); ${fix}`),
                refused(`${mustBe}; got "the APIC client": ${fix}`),
                refused(`${mustBe}; got "the APIC client": ${fix}`),
                "accepted",
                "accepted",
                "accepted",
                "accepted",
                "accepted",
                "accepted",
                refused(`${mustBe}; got "fe80::1%eth0": ${fix}`),
                refused(`${mustBe}; got "10.0.7": ${fix}`),
                refused(`${mustBe}; got "apic@10.0.0": ${fix}`),
            ],
        );
    });

    it("refuses a pin or identity that came as a secret without quoting it: a PKCS#12 password given where a pin belongs", async () => {
        const password = "Q7rT9mK2pL4vX8nB3cF6hJ1dS5gW0zYa";
        const gateway = (endpoint: Partial<GatewayEndpoint>) => pinsGateway(endpoint).then(accepted, messageOf);
        const pin = crypto.createHash("sha256").update("key").digest("base64");
        const sloppy = `${pin.slice(0, 42)}${String.fromCharCode(pin.charCodeAt(42) + 1)}=`;
        assert.deepStrictEqual(
            [
                await gateway({ verifyCertificateSpki: [pin, pulumi.secret(password)] }),
                // Not even the pin Envoy would read: it is made from the secret.
                await gateway({ verifyCertificateSpki: [pulumi.secret(sloppy)] }),
                await gateway({ clientSubjectAltNames: [pulumi.secret(" ")] }),
            ],
            [
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki[1] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got a secret value (not shown): Envoy would refuse the gateway\'s configuration',
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki[0] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got a secret value (not shown): Envoy would refuse the gateway\'s configuration',
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames[0] must be a client identity (non-blank text); got a secret value (not shown)',
            ],
        );
    });

    it("takes an endpoint's pins and identities as an output of a list, and refuses an output of anything else (nothing too) by its input's name", async () => {
        // Another language's SDK types these lists Input<Sequence<Input<str>>>: a whole list may come as one output.
        const gateway = (endpoint: Partial<Record<keyof GatewayEndpoint, unknown>>) =>
            pinsGateway(endpoint).then(({ engine }) => {
                const gatewayResource = engine.resources.find((r) => r.name === "pins-gateway");
                const [server] = (gatewayResource?.inputs.spec as { servers: { tls: Record<string, unknown> }[] })
                    .servers;
                return JSON.stringify([server.tls.subjectAltNames, server.tls.verifyCertificateSpki]);
            }, messageOf);
        const pin = crypto.createHash("sha256").update("key").digest("base64");
        const pins = (got: string) =>
            `IstioGatewayTls endpoint "ob" verifyCertificateSpki must be a list of pins (ApicClientBundle.spkiPin), each text or an output, or an output of such a list; got ${got}`;
        const identities = (got: string) =>
            `IstioGatewayTls endpoint "ob" clientSubjectAltNames must list the client identities it accepts (the APIC client's URI SAN), each text or an output, or be an output of such a list; got ${got}: with none, any certificate under ca.crt would get in`;
        const nothing = "an output that resolved to nothing (a stack reference's missing output?)";
        const missingPins =
            `${pins(nothing)}: taken as no pins, any client key under clientTrustBundlePem with an accepted identity would get in; ` +
            "leave verifyCertificateSpki out (or give []) to pin no key";
        assert.deepStrictEqual(
            [
                await gateway({ verifyCertificateSpki: pulumi.output([pin]) }),
                await gateway({ verifyCertificateSpki: pulumi.output([]) }),
                await gateway({ clientSubjectAltNames: pulumi.output(["urn:example:apic", pulumi.output("urn:x")]) }),
                // A single pin's output where a list of them belongs: ApicClientBundle.spkiPin without its brackets.
                await gateway({ verifyCertificateSpki: pulumi.output(pin) }),
                await gateway({ verifyCertificateSpki: pulumi.secret("Q7rT9mK2pL4vX8nB3cF6hJ1dS5gW0zYa") }),
                await gateway({ verifyCertificateSpki: pulumi.output(["not a pin"]) }),
                // A secret in the list makes the whole list secret once resolved: no value of it is quoted.
                await gateway({ verifyCertificateSpki: pulumi.output([pin, pulumi.secret("not a pin")]) }),
                await gateway({ clientSubjectAltNames: pulumi.output("urn:example:apic") }),
                await gateway({ clientSubjectAltNames: pulumi.output([]) }),
                await gateway({ clientSubjectAltNames: pulumi.output([" "]) }),
                // A stack reference's missing output: no pins would let in any key, so it is refused.
                await gateway({ verifyCertificateSpki: pulumi.output(undefined) }),
                await gateway({ verifyCertificateSpki: pulumi.output(null) }),
                await gateway({ clientSubjectAltNames: pulumi.output(undefined) }),
            ],
            [
                JSON.stringify([["urn:example:apic"], [pin]]),
                JSON.stringify([["urn:example:apic"], undefined]),
                JSON.stringify([["urn:example:apic", "urn:x"], undefined]),
                pins(JSON.stringify(pin)),
                pins("a secret value (not shown)"),
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki[0] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got "not a pin": Envoy would refuse the gateway\'s configuration',
                'IstioGatewayTls endpoint "ob" verifyCertificateSpki[1] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got a secret value (not shown): Envoy would refuse the gateway\'s configuration',
                identities('"urn:example:apic"'),
                identities("[]"),
                'IstioGatewayTls endpoint "ob" clientSubjectAltNames[0] must be a client identity (non-blank text); got " "',
                missingPins,
                missingPins,
                identities(nothing),
            ],
        );
        // What the pins hold back: a key of the same identity under the same root, which gets in without them.
        const root = await mintRoot("Client root");
        const apicClient = {
            commonName: "apic",
            uris: ["urn:example:apic"],
            allowedUses: ["digital_signature", "client_auth"],
        };
        const [pinned, other] = [await mintLeaf(root, apicClient), await mintLeaf(root, apicClient)];
        const withPins = (verifyCertificateSpki?: string[]) =>
            verifyPeer({
                caCrt: root.certPem,
                chain: other.cert,
                purpose: "sslclient",
                subjectAltNames: ["urn:example:apic"],
                ...(verifyCertificateSpki !== undefined ? { verifyCertificateSpki } : {}),
            }).boringssl.error || "ok";
        assert.deepStrictEqual([withPins([opensslSpkiPin(pinned.cert)]), withPins()], [PIN_MISMATCH, "ok"]);
    });

    it("refuses a pin or identity whose output resolves to nothing, a stack reference's missing output, instead of sending null to the Gateway", async () => {
        // clients.getOutput("paymentsSpkiPn") (a typo) resolves to undefined: the Gateway got
        // verifyCertificateSpki: [null], the pin it stood for dropped.
        const gateway = (endpoint: Partial<Record<keyof GatewayEndpoint, unknown>>) =>
            pinsGateway(endpoint).then(accepted, messageOf);
        const pin = crypto.createHash("sha256").update("key").digest("base64");
        const pinRefusal = (i: number, got: string) =>
            `IstioGatewayTls endpoint "ob" verifyCertificateSpki[${i}] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got ${got}: ` +
            "taken as no pin, it would let in any client key under clientTrustBundlePem with an accepted identity were it the only one, else lock out the client it stands for; give the pin, or leave the entry out";
        const identityRefusal = (i: number, got: string) =>
            `IstioGatewayTls endpoint "ob" clientSubjectAltNames[${i}] must be a client identity (non-blank text); got ${got}: ` +
            "taken as no identity, it would let in any certificate under ca.crt were it the only one, else lock out the client it stands for; give the identity, or leave the entry out";
        const nothing = "an output that resolved to nothing (a stack reference's missing output?)";
        assert.deepStrictEqual(
            [
                await gateway({ verifyCertificateSpki: [pulumi.output(undefined)] }),
                await gateway({ verifyCertificateSpki: [pin, pulumi.output(null)] }),
                // Nothing to hide in nothing: said as such, though it came as a secret.
                await gateway({ verifyCertificateSpki: [pulumi.secret(undefined)] }),
                await gateway({ verifyCertificateSpki: pulumi.output([pin, null]) }),
                await gateway({ clientSubjectAltNames: [pulumi.output(undefined)] }),
                await gateway({ clientSubjectAltNames: ["urn:example:apic", pulumi.output(null)] }),
            ],
            [
                pinRefusal(0, nothing),
                pinRefusal(1, nothing),
                pinRefusal(0, nothing),
                pinRefusal(1, "null"),
                identityRefusal(0, nothing),
                identityRefusal(1, nothing),
            ],
        );
    });

    it("refuses a clientCrlPem with which Envoy would refuse every client: no CRL, none of a root of ca.crt, a stale one, a key", async () => {
        const roots = await twoClientRoots();
        const { a, b, fresh, now, hour } = roots;
        const gateway = (clientCrlPem: string) =>
            twoRootGateway("crl", roots, { clientCrlPem }).then(accepted, messageOf);
        const refusal = (problem: string) => `IstioGatewayTls crl: clientCrlPem ${problem}`;
        assert.deepStrictEqual(
            [
                await gateway("x"),
                await gateway(fresh.a),
                await gateway(emptyCrlOf(a, now - 48 * hour, now - hour) + fresh.b),
                await gateway(fresh.a + a.keyPem),
                await gateway(emptyCrlOf(a, now - 48 * hour, now - hour) + fresh.a + fresh.b),
            ],
            [
                refusal(
                    `holds no PEM CRL; give the CRLs ("X509 CRL" blocks) of every CA of the peer's chains, or leave it unset for no revocation check`,
                ),
                refusal(
                    "holds no CRL signed by CN=Client root B of clientTrustBundlePem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, " +
                        "the root's included (CRL_CHECK_ALL), so every client would be refused; add that root's CRL",
                ),
                refusal(
                    `holds a CRL of CN=Client root A past its next update (${new Date(now - hour).toISOString()}) and no newer one of its CA: Envoy would refuse every client whose chain has that CA; give its CRL re-signed for now`,
                ),
                refusal(
                    'holds a private key (a "EC PRIVATE KEY" PEM block): ca.crl is copied in clear into every Secret that carries it, so take the key out (and replace it if the text has been shared); give CRLs only',
                ),
                // A stale CRL beside a newer one of the same CA: the verifier takes the newer.
                "accepted",
            ],
        );
        // A UI sidecar's ca.crl (UiApicClient apicCrlPem) is held to the same rules.
        const sidecar = await runWithStandIn(
            () =>
                new UiApicClient("ui", {
                    clientCa: { certPem: a.certPem, privateKeyPem: a.keyPem, chainPem: a.certPem },
                    service: "web",
                    identity: "urn:example:ui-client:web",
                    namespace: "ui",
                    apicHosts: ["apic.bank.example"],
                    apicTrustPem: a.certPem + b.certPem,
                    apicCrlPem: fresh.a,
                    keyAlgorithm: "ECDSA",
                }).secretName,
            { state: sharedState },
        ).then(accepted, messageOf);
        assert.strictEqual(
            sidecar,
            "UiApicClient ui: apicCrlPem holds no CRL signed by CN=Client root B of apicTrustPem: " +
                "once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so APIC would be refused; add that root's CRL",
        );
    });

    it("refuses a CRL or CA certificate whose PEM block was damaged (a stray character, a cut line), which Envoy's BoringSSL refuses whole, naming the argument and the block", async () => {
        const roots = await twoClientRoots();
        const { a, fresh } = roots;
        // `text` with its third line (the second of base64) edited: a stray character in it, its first character cut.
        const onLine3 = (text: string, edit: (line: string) => string) =>
            text
                .split("\n")
                .map((line, i) => (i === 2 ? edit(line) : line))
                .join("\n");
        const damaged = (text: string, stray: string) =>
            onLine3(text, (line) => line.slice(0, 10) + stray + line.slice(10));
        const cut = (text: string) => onLine3(text, (line) => line.slice(1));
        const gateway = (args: { certPem?: string; chainPem?: string; clientCrlPem?: string }) =>
            twoRootGateway("damaged", roots, args).then(accepted, messageOf);
        const unreadable = (block: number, why: string) =>
            `IstioGatewayTls damaged: clientCrlPem holds a CRL that cannot be read (X509 CRL block ${block}: ${why}, ` +
            "which Envoy's BoringSSL and Go refuse); give the CRLs as their CAs signed them";
        const strayCharacter = "its line 3 holds a character other than base64 and white space";
        const notCertificate = (n: number) =>
            `IstioGatewayTls serverCa: chainPem holds, as certificate ${n}, a PEM block that is not an X.509 certificate; ` +
            "give the CA's certificate and every CA above it, up to the root, in PEM";
        assert.deepStrictEqual(
            [
                await gateway({ clientCrlPem: damaged(fresh.a, "*") + fresh.b }),
                await gateway({ clientCrlPem: fresh.a + damaged(fresh.b, "*") }),
                // Node's base64 decoder skipped the stray character: the bundle passed, and Envoy refused it whole.
                await gateway({ clientCrlPem: fresh.a + fresh.b + damaged(fresh.b, "*") }),
                await gateway({ clientCrlPem: fresh.a + damaged(fresh.b, "\u00a0") }),
                await gateway({ clientCrlPem: cut(fresh.a) + fresh.b }),
                await gateway({ chainPem: a.certPem + damaged(a.certPem, "*") }),
                await gateway({ certPem: damaged(a.certPem, "*").replace(/\n/g, "\r\n") }),
            ],
            [
                unreadable(1, strayCharacter),
                unreadable(2, strayCharacter),
                unreadable(3, strayCharacter),
                unreadable(2, strayCharacter),
                unreadable(
                    1,
                    'its base64 is cut short or padded wrongly (whole groups of 4 characters, "=" only at the end)',
                ),
                notCertificate(2),
                "IstioGatewayTls serverCa: certPem is not a certificate in PEM",
            ],
        );
        // What Envoy's loader says of such a ca.crl: no PEM it can read, so no CRL and no client.
        assert.throws(
            () =>
                verifyPeer({
                    caCrt: a.certPem,
                    caCrl: fresh.a + damaged(fresh.b, "*"),
                    chain: a.certPem,
                    purpose: "sslclient",
                }),
            /^Error: the boringssl verifier failed \(status 2\): envoyVerifier: unreadable PEM\n$/,
        );
    });

    it("refuses a CRL or CA certificate with a blank line inside its PEM block, which Envoy's BoringSSL reads as PEM headers; one right after BEGIN is taken", async () => {
        const roots = await twoClientRoots();
        const { a, b, fresh } = roots;
        // `text` with `line` (blank unless given) put in as its line `at`, counted from 1 (the BEGIN line).
        const withLine = (text: string, at: number, line = "") => {
            const lines = text.split("\n");
            lines.splice(at - 1, 0, line);
            return lines.join("\n");
        };
        const beforeEnd = fresh.b.split("\n").length - 1; // the END line's number, the text ending in a newline
        const gateway = (args: { clientTrustBundlePem?: string; clientCrlPem: string }) =>
            twoRootGateway("blank", roots, args).then(accepted, messageOf);
        const blank = (line: number) =>
            `its line ${line} is blank, which Envoy's BoringSSL refuses: it reads the lines above a blank line as PEM headers, so only the line after BEGIN may be blank`;
        const unreadable = (block: number, line: number) =>
            `IstioGatewayTls blank: clientCrlPem holds a CRL that cannot be read (X509 CRL block ${block}: ${blank(line)}); ` +
            "give the CRLs as their CAs signed them";
        assert.deepStrictEqual(
            [
                await gateway({ clientCrlPem: withLine(fresh.a, 3) + fresh.b }),
                // White space alone (spaces, the CR of a CRLF line end) is a blank line too, and so is one before END.
                await gateway({ clientCrlPem: fresh.a + withLine(fresh.b, 4, " \r") }),
                await gateway({ clientCrlPem: fresh.a + withLine(fresh.b, beforeEnd) }),
                await gateway({
                    clientTrustBundlePem: a.certPem + withLine(b.certPem, 3),
                    clientCrlPem: fresh.a + fresh.b,
                }),
                // Right after BEGIN a blank line ends no headers: every reader takes it.
                await gateway({ clientCrlPem: withLine(fresh.a, 2) + fresh.b }),
            ],
            [
                unreadable(1, 3),
                unreadable(2, 4),
                unreadable(2, beforeEnd),
                `IstioGatewayTls clientTrustBundlePem holds, as certificate 2, a PEM block that cannot be read (${blank(3)}); give the CA certificates in PEM`,
                "accepted",
            ],
        );
        // What Envoy's loader says of them: no PEM it can read, so no client gets in; right after BEGIN, the client does.
        const client = await mintLeaf(a, {
            commonName: "apic",
            uris: ["urn:example:apic"],
            allowedUses: ["digital_signature", "client_auth"],
        });
        const verify = (caCrt: string, caCrl: string) =>
            verifyPeer({
                caCrt,
                caCrl,
                chain: client.cert,
                purpose: "sslclient",
                subjectAltNames: ["urn:example:apic"],
            });
        const unreadablePem = /^Error: the boringssl verifier failed \(status 2\): envoyVerifier: unreadable PEM\n$/;
        assert.throws(() => verify(a.certPem + b.certPem, withLine(fresh.a, 3) + fresh.b), unreadablePem);
        assert.throws(() => verify(a.certPem + withLine(b.certPem, 3), fresh.a + fresh.b), unreadablePem);
        assert.strictEqual(verify(a.certPem + b.certPem, withLine(fresh.a, 2) + fresh.b).accepted, true);
    });

    it("refuses a trust bundle or CRL with a byte order mark before a BEGIN line, whose block Envoy's BoringSSL skips; a CA certificate it re-encodes loses it", async () => {
        const roots = await twoClientRoots();
        const { a, b, fresh } = roots;
        const BOM = "\uFEFF"; // what Notepad writes at the start of a UTF-8 file
        // The gateway's Secret as made, or the refusal.
        const gateway = (args: { certPem?: string; chainPem?: string; bundle?: string; crls?: string }) =>
            twoRootGateway("bom", roots, {
                certPem: args.certPem,
                chainPem: args.chainPem,
                clientTrustBundlePem: args.bundle,
                clientCrlPem: args.crls,
            }).then(({ engine }) => {
                const [secret] = engine.byType("kubernetes:core/v1:Secret");
                return secret.inputs.stringData as Record<string, string>;
            }, messageOf);
        const bom = (line: number) =>
            `has a byte order mark (U+FEFF, which Notepad writes at the start of a UTF-8 file) before the BEGIN line on line ${line}: ` +
            "Envoy's BoringSSL and Go see no BEGIN line there and skip that block; remove the byte order mark (save the file as UTF-8 without BOM)";
        const crlLines = fresh.a.split("\n").length - 1;
        assert.deepStrictEqual(
            [
                await gateway({ bundle: BOM + a.certPem + b.certPem }),
                await gateway({ crls: BOM + fresh.a + fresh.b }),
                // Two files joined by cat, the second saved by Notepad.
                await gateway({ crls: fresh.a + BOM + fresh.b }),
            ],
            [
                `IstioGatewayTls clientTrustBundlePem ${bom(1)}`,
                `IstioGatewayTls bom: clientCrlPem ${bom(1)}`,
                `IstioGatewayTls bom: clientCrlPem ${bom(crlLines + 1)}`,
            ],
        );
        // The CA that signs the server certificates, and its chain, are written anew: the mark goes.
        const made = await gateway({ certPem: BOM + a.certPem, chainPem: BOM + a.certPem });
        assert.ok(typeof made !== "string", made as string);
        assert.deepStrictEqual(
            [made["tls.crt"].includes(BOM), new crypto.X509Certificate(made["tls.crt"]).issuer],
            [false, "CN=Client root A"],
        );
        // What Envoy would do with such a ca.crt or ca.crl: refuse every client, while OpenSSL takes them.
        const client = await mintLeaf(a, {
            commonName: "apic",
            uris: ["urn:example:apic"],
            allowedUses: ["digital_signature", "client_auth"],
        });
        const verdict = (caCrt: string, caCrl?: string) => {
            const { boringssl, openssl } = verifyPeer({
                caCrt,
                ...(caCrl !== undefined ? { caCrl } : {}),
                chain: client.cert,
                purpose: "sslclient",
                subjectAltNames: ["urn:example:apic"],
            });
            return { boringssl: boringssl.error || "ok", openssl: openssl.error || "ok" };
        };
        assert.deepStrictEqual(
            [verdict(a.certPem), verdict(BOM + a.certPem), verdict(a.certPem, BOM + fresh.a)],
            [
                { boringssl: "ok", openssl: "ok" },
                { boringssl: "unable to get local issuer certificate", openssl: "ok" },
                { boringssl: "unable to get certificate CRL", openssl: "ok" },
            ],
        );
    });

    it("takes a clientCrlPem of thousands of revocations, past asn1js's default count of nodes", async () => {
        const root = await mintRoot("Busy client root");
        const now = Math.floor(Date.now() / 1000) * 1000;
        const revoked = Array.from({ length: 3400 }, (_, i) => ({
            serialHex: (i + 1).toString(16),
            revokedAt: new Date(now - 7_200_000),
            reason: "superseded",
        }));
        const window = { thisUpdate: new Date(now - 3_600_000), nextUpdate: new Date(now + 86_400_000), number: 1 };
        const clientCrlPem = buildCrl(root.certPem, root.keyPem, revoked, window, { signedOnce: true });
        const outcome = await runWithStandIn(() => crlGateway("busy", root, clientCrlPem).gatewayName, {
            state: sharedState,
        }).then(accepted, messageOf);
        assert.strictEqual(outcome, "accepted");
    });

    it("refuses a short APIC host in UiApicClient, which Istio would read as a service of the UI namespace", async () => {
        const root = await mintRoot("UI client root");
        const outcome = await runWithStandIn(
            () =>
                new UiApicClient("ui", {
                    clientCa: { certPem: root.certPem, privateKeyPem: root.keyPem, chainPem: root.certPem },
                    service: "web",
                    identity: "urn:example:ui-client:web",
                    namespace: "ui",
                    apicHosts: ["apic.bank.example", "apic"],
                    apicTrustPem: root.certPem,
                    keyAlgorithm: "ECDSA",
                }).secretName,
            { state: sharedState },
        ).then(accepted, messageOf);
        assert.strictEqual(
            outcome,
            'UiApicClient ui apicHosts[1] "apic" is a short name: Istio reads a DestinationRule\'s short host as apic.<its namespace>.svc.cluster.local, ' +
                "not as the ServiceEntry's \"apic\", so the UI sidecars would not originate mutual TLS to it. Give APIC's fully qualified host name",
        );
    });

    it("refuses an epoch or generation that would name resources instead of rotating them", async () => {
        const outcome = (
            make: (ca: { certPem: pulumi.Output<string>; privateKeyPem: pulumi.Output<string> }) => unknown,
        ) =>
            runWithStandIn(
                () => {
                    const root = new RootCa("epoch-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
                    return make({ certPem: root.certPem, privateKeyPem: root.privateKeyPem });
                },
                { state: sharedState },
            ).then(accepted, messageOf);
        assert.deepStrictEqual(
            [
                await outcome(
                    (ca) =>
                        new IstioGatewayTls("epochs", {
                            serverCa: { ...ca, chainPem: ca.certPem },
                            clientTrustBundlePem: ca.certPem,
                            endpoints: [
                                {
                                    id: "ob",
                                    host: "ob.bank.example",
                                    clientSubjectAltNames: ["urn:example:apic"],
                                    verifyCertificateSpki: [],
                                    epoch: 1.5,
                                },
                            ],
                            keyAlgorithm: "ECDSA",
                        }),
                ),
                await outcome(
                    (ca) =>
                        new MeshPluginCa("epochs", {
                            rootCa: ca,
                            cluster: "c",
                            environment: "dev",
                            keyAlgorithm: "ECDSA",
                            generation: -1,
                        }),
                ),
                // Each refused by the input's name, not by the child it would have named.
                await outcome((ca) => new MeshPluginCa("epochs", { rootCa: ca, cluster: "c", epoch: -1 })),
                await outcome(
                    (ca) =>
                        new ApicClientBundle("epochs", {
                            clientCa: { ...ca, chainPem: ca.certPem },
                            identity: "urn:example:apic",
                            serverTrustBundlePem: ca.certPem,
                            epoch: "1" as unknown as number,
                        }),
                ),
                await outcome(
                    (ca) =>
                        new UiApicClient("epochs", {
                            clientCa: { ...ca, chainPem: ca.certPem },
                            service: "web",
                            identity: "urn:example:ui-client:web",
                            namespace: "ui",
                            apicHosts: ["apic.bank.example"],
                            apicTrustPem: ca.certPem,
                            epoch: 0.5,
                        }),
                ),
                await outcome(
                    () =>
                        new CustomerFacingTls("epochs", {
                            hosts: [{ host: "www.bank.example" }, { host: "shop.bank.example", epoch: -1 }],
                        }),
                ),
                await outcome(
                    () =>
                        new CustomerFacingTls("epochs", {
                            hosts: [
                                { host: "www.bank.example" },
                                { host: "shop.bank.example", epoch: 2, certificateEpoch: 0 },
                            ],
                        }),
                ),
            ],
            [
                'IstioGatewayTls endpoint "ob" epoch must be a whole number from 0 (raise it by one to rotate); got 1.5',
                "MeshPluginCa generation must be a whole number from 0 (one more for each staged rotation); got -1",
                "MeshPluginCa epoch must be a whole number from 0 (raise it by one to rotate); got -1",
                'ApicClientBundle epoch must be a whole number from 0 (raise it by one to rotate); got "1"',
                "UiApicClient epoch must be a whole number from 0 (raise it by one to rotate); got 0.5",
                "CustomerFacingTls hosts[1].epoch must be a whole number from 0 (raise it by one to rotate); got -1",
                "CustomerFacingTls epochs: shop.bank.example's certificateEpoch must be its epoch (2) or the one before; got 0",
            ],
        );
    });

    it("signs an intermediate with an existing CA given as PEM and chains it to that root", async () => {
        const { outputs } = await runWithStandIn(
            () => {
                const root = new RootCa("pem-root", { subject: { commonName: "PEM root" }, keyAlgorithm: "ECDSA" });
                const ca = new IntermediateCa("pem-issued", {
                    issuer: { certPem: root.certPem, privateKeyPem: root.privateKeyPem, rootCertPem: root.certPem },
                    subject: { commonName: "issued from PEM" },
                    keyAlgorithm: "ECDSA",
                });
                return { chain: ca.chainPem, bundle: ca.trustBundlePem, root: root.certPem };
            },
            { state: sharedState },
        );
        assert.strictEqual((outputs.chain.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
        assert.ok(outputs.bundle.endsWith(outputs.root));
    });

    it("signs with the new issuer after a switch from PEM with a Bag Attributes preamble or CRLF: @pulumi/tls gets each block alone, as it writes PEM", async () => {
        const rootA = await mintRoot("root A", { rsa: true });
        const rootB = await mintRoot("root B");
        const pkcs8 = crypto.createPrivateKey(rootB.keyPem).export({ type: "pkcs8", format: "pem" }) as string;
        const bagged = (pem: string) => `Bag Attributes\n    localKeyID: 01 02 03 \nsubject=CN = root\n${pem}`;
        const crlf = (pem: string) => pem.replace(/\n/g, "\r\n");
        /** IntermediateCa "i" signed by rootA, then rootB (PKCS#8 key), given as `given`: its CA inputs and issuer each time. */
        const switched = async (given: (pem: string) => pulumi.Input<string>) => {
            const state = new Map();
            const sign = async (ca: TestCa) => {
                const { engine, outputs } = await runWithStandIn(
                    () =>
                        new IntermediateCa("i", {
                            issuer: {
                                certPem: given(ca.certPem),
                                privateKeyPem: given(ca.keyPem),
                                rootCertPem: ca.certPem,
                            },
                            subject: { commonName: "i" },
                            keyAlgorithm: "ECDSA",
                        }).certPem,
                    { state },
                );
                const [cert] = engine.byType("tls:index/locallySignedCert:LocallySignedCert");
                return [cert.inputs.caCertPem, cert.inputs.caPrivateKeyPem, new crypto.X509Certificate(outputs).issuer];
            };
            return [await sign(rootA), await sign({ certPem: rootB.certPem, keyPem: pkcs8 })];
        };
        const expected = [
            [rootA.certPem, rootA.keyPem, "CN=root A"],
            [rootB.certPem, pkcs8, "CN=root B"],
        ];
        assert.deepStrictEqual(await switched(bagged), expected);
        assert.deepStrictEqual(await switched((pem) => pulumi.secret(crlf(pem))), expected);
        assert.match(rootA.keyPem, /^-----BEGIN RSA PRIVATE KEY-----\n/, "PKCS#1 stays PKCS#1");
        // PEM alone already (without its last newline): passed on as given, so that no deployed input changes.
        const [[certPem, keyPem]] = await switched((pem) => pem.trimEnd());
        assert.deepStrictEqual([certPem, keyPem], [rootA.certPem.trimEnd(), rootA.keyPem.trimEnd()]);
        // So is more than one block the pattern matches (a certificate file holding the chain, a key
        // file holding the certificate after the key): @pulumi/tls reads the first block.
        const other = await mintRoot("other");
        const [[chainPem, keyAndCertPem]] = await switched((pem) => pem + other.certPem);
        assert.deepStrictEqual(
            [chainPem, keyAndCertPem],
            [rootA.certPem + other.certPem, rootA.keyPem + other.certPem],
        );
    });
});

describe("The stand-in harness (runWithStandIn)", function () {
    this.timeout(60_000);

    it("runs the program without stack traces unless asked, keeps every error's message, and restores the limit", async () => {
        const before = Error.stackTraceLimit;
        const seen: number[] = [];
        await runWithStandIn(() => seen.push(Error.stackTraceLimit), { state: sharedState });
        await runWithStandIn(() => seen.push(Error.stackTraceLimit), { state: sharedState, stackTraces: true });
        assert.deepStrictEqual(seen, [0, before]);
        assert.strictEqual(Error.stackTraceLimit, before);

        // A failing run: the message says what failed; the stack (asked for) says where.
        const failing = (stackTraces: boolean) =>
            runWithStandIn(() => new RootCa("r", { subject: { commonName: "r" }, maxPathLength: 0 }), {
                state: sharedState,
                stackTraces,
            }).then(
                () => assert.fail("the run should have failed"),
                (error: Error) => error,
            );
        const quiet = await failing(false);
        const traced = await failing(true);
        assert.strictEqual(
            quiet.message,
            'RootCa maxPathLength must be a whole number >= 1; got 0. @pulumi/tls writes 0 as "no limit", so 0 cannot forbid sub-CAs',
        );
        assert.strictEqual(traced.message, quiet.message);
        assert.doesNotMatch(quiet.stack ?? "", /\n\s+at /);
        assert.match(traced.stack ?? "", /\n\s+at new RootCa \(.*rootCa\.js:\d+:\d+\)/);
        assert.strictEqual(Error.stackTraceLimit, before);
    });

    it("ends a failed run cleanly: no unhandled rejection after it, nothing left for the SDK's leak report", async () => {
        // The SDK re-raises a failed registration as an unhandled rejection (for its CLI to report),
        // which node:test and vitest count against the caller's test; mocha swallows it.
        const unhandled = await unhandledRejectionsDuring(async () => {
            // A provider error (the components check their issuers first): a CA key that is no key.
            await assert.rejects(
                runWithStandIn(
                    () => {
                        const key = new tls.PrivateKey("bad-issuer-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
                        const csr = new tls.CertRequest("bad-issuer-csr", {
                            privateKeyPem: key.privateKeyPem,
                            subject: { commonName: "i" },
                        });
                        return new tls.LocallySignedCert("bad-issuer-cert", {
                            certRequestPem: csr.certRequestPem,
                            caCertPem: "x",
                            caPrivateKeyPem: "not a key",
                            validityPeriodHours: 24,
                            allowedUses: ["cert_signing"],
                        }).certPem;
                    },
                    { state: new Map() },
                ),
                {
                    message:
                        'stand-in failed on tls:index/locallySignedCert:LocallySignedCert "bad-issuer-cert": ca_private_key_pem: failed to decode PEM block: unsupported private key type "none"',
                },
            );
        });
        assert.deepStrictEqual(unhandled, []);
        // What the SDK lists (and fails the process for) at exit: promises still waiting.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const sdkState = require("@pulumi/pulumi/runtime/state") as { getStore(): { leakCandidates: Set<unknown> } };
        assert.strictEqual(sdkState.getStore().leakCandidates.size, 0);
    });

    it("fails a run whose returned output's apply threw with that error, and leaves no unhandled rejection", async () => {
        // The harness resolves the outputs through an Output of its own, whose isKnown and
        // isSecret reject with the same error: nothing awaits them, so they must be handled.
        const unhandled = await unhandledRejectionsDuring(async () => {
            await assert.rejects(
                runWithStandIn(
                    () => {
                        const root = new RootCa("apply-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
                        return {
                            fine: root.certPem,
                            failed: root.certPem.apply((): string => {
                                throw new Error("boom in apply");
                            }),
                        };
                    },
                    { state: new Map() },
                ),
                { message: "boom in apply" },
            );
        });
        assert.deepStrictEqual(unhandled, []);
    });

    it("lets the SDK finish a program that threw before the next run starts, so nothing leaks into that run", async () => {
        // A component that refuses its arguments throws after the SDK began registering it; its
        // own outputs must reach this run's mocks, not the next run's ("unknown resource").
        const unhandled = await unhandledRejectionsDuring(async () => {
            await assert.rejects(
                runWithStandIn(
                    () => {
                        const root = new RootCa("threw-root", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA" });
                        const ca = { certPem: root.certPem, privateKeyPem: root.privateKeyPem, chainPem: root.certPem };
                        return new ApicClientBundle("threw", {
                            clientCa: ca,
                            identity: "urn:example:apic",
                            serverTrustBundlePem: root.certPem,
                            keyAlgorithm: "ECDSA",
                            epoch: -1,
                        });
                    },
                    { state: new Map() },
                ),
                { message: "ApicClientBundle epoch must be a whole number from 0 (raise it by one to rotate); got -1" },
            );
            const next = await runWithStandIn(
                () => new RootCa("next-root", { subject: { commonName: "n" }, keyAlgorithm: "ECDSA" }).certPem,
                { state: new Map() },
            );
            assert.match(next.outputs, /^-----BEGIN CERTIFICATE-----/);
        });
        assert.deepStrictEqual(unhandled, []);
    });

    it("fails a run at once when an apply that feeds a resource's input throws, leaving nothing pending", async () => {
        // The SDK cannot register such a resource, and its outputs never resolve: the run must end
        // on the error (as `pulumi up` does), not wait for outputs that never come. The SDK raises
        // the error again as an unhandled rejection for each such resource, which node:test and
        // vitest would count against the test file although the test expected the run's rejection.
        // What the program returns: the certificate, the failed step itself, or nothing (and no
        // resource depends on the certificate: its registration then fails after the program settled).
        const program = (returns: "certificate" | "failed step" | "nothing") => () => {
            const key = new tls.PrivateKey("apply-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const commonName = key.publicKeyPem.apply((): string => {
                throw new Error("refused in apply");
            });
            const cert = new tls.SelfSignedCert("apply-cert", {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName },
                validityPeriodHours: 24,
                allowedUses: ["cert_signing"],
            });
            if (returns === "nothing") return {};
            new tls.SelfSignedCert("apply-dependent", {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: cert.id },
                validityPeriodHours: 24,
                allowedUses: ["cert_signing"],
            });
            return returns === "failed step" ? commonName : cert.certPem;
        };
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const sdkState = require("@pulumi/pulumi/runtime/state") as { getStore(): { leakCandidates: Set<unknown> } };
        // Returned or not, the failed step reaches the SDK's registration of "apply-cert" first.
        const message = 'error serializing property "subject": refused in apply';
        for (const returns of ["certificate", "failed step", "nothing"] as const) {
            const unhandled = await unhandledRejectionsDuring(async () => {
                const started = performance.now();
                await assert.rejects(runWithStandIn(program(returns), { state: new Map(), timeoutMs: 8_000 }), {
                    message,
                });
                const elapsed = performance.now() - started;
                assert.ok(elapsed < 1_000, `the failed run took ${Math.round(elapsed)} ms to reject`);
            });
            assert.deepStrictEqual(unhandled, [], returns);
            assert.strictEqual(sdkState.getStore().leakCandidates.size, 0);
        }
        const next = await runWithStandIn(
            () => new RootCa("after-apply", { subject: { commonName: "a" }, keyAlgorithm: "ECDSA" }).certPem,
            { state: new Map() },
        );
        assert.match(next.outputs, /^-----BEGIN CERTIFICATE-----/);
    });

    it("passes on to the process's other listeners a bug in the run after its error, and drops the run's own again and its other refusals", async () => {
        const listenersBefore = process.rawListeners("unhandledRejection");
        const unhandled = await unhandledRejectionsDuring(async () => {
            await assert.rejects(
                runWithStandIn(
                    () => {
                        const error = new Error("the run's error");
                        void Promise.reject(error);
                        // As the SDK raises it again: the same error, and under a property's prefix.
                        void Promise.reject(error);
                        void Promise.reject(new Error(`error serializing property "subject": ${error.message}`));
                        // Another component's refusal, and a bug.
                        void Promise.reject(new Error("another refusal"));
                        void Promise.reject(new TypeError("a bug"));
                    },
                    { state: new Map() },
                ),
                { message: "the run's error" },
            );
        });
        // Mocha's listener emits each again to the others: "a bug" arrives twice.
        assert.deepStrictEqual([...new Set(unhandled)], ["TypeError: a bug"]);
        const listenersAfter = process.rawListeners("unhandledRejection");
        assert.strictEqual(listenersAfter.length, listenersBefore.length);
        assert.ok(listenersBefore.every((listener) => listenersAfter.includes(listener)));
    });

    it("fails a run in which two components refuse, each with its own message, with the first refusal alone", async () => {
        // The issuers come as outputs, so each gateway refuses its own in an apply, both after the program returned.
        const root = await mintRoot("Corp root");
        const other = opensslCa("Corp other.example CA", [
            "basicConstraints = critical, CA:TRUE",
            "nameConstraints = critical, permitted;DNS:other.example",
        ]);
        const gateway = (name: string, host: string) =>
            new IstioGatewayTls(name, {
                serverCa: {
                    certPem: pulumi.output(other.certPem),
                    privateKeyPem: pulumi.output(other.keyPem),
                    chainPem: pulumi.output(other.certPem),
                },
                clientTrustBundlePem: root.certPem,
                endpoints: [{ id: name, host, clientSubjectAltNames: ["urn:example:apic"] }],
                keyAlgorithm: "ECDSA",
            });
        const refusal = (host: string) =>
            `IstioGatewayTls serverCa: endpoints[0].host "${host}" is outside the nameConstraints of certPem (CN=Corp other.example CA), ` +
            "which permit only DNS:other.example for DNS names: Envoy's BoringSSL, OpenSSL and Go would refuse the certificate signed for it " +
            '("permitted subtree violation"); give a name within DNS:other.example, or a CA whose nameConstraints allow it';
        const unhandled = await unhandledRejectionsDuring(async () => {
            const error = await runWithStandIn(
                () => {
                    gateway("dp", "dp.bank.example");
                    gateway("ob", "ob.bank.example");
                },
                { state: new Map() },
            ).then(() => assert.fail("the run should have failed"), messageOf);
            assert.strictEqual(error, refusal("dp.bank.example"));
        });
        assert.deepStrictEqual(unhandled, []);
    });

    it("passes on at once an unhandled rejection made outside a run while it lasts (another test's), and does not fail the run with it", async () => {
        const unhandled = new Set<string>();
        const listener = (reason: unknown) => unhandled.add(String(reason));
        process.on("unhandledRejection", listener);
        try {
            const run = runWithStandIn(
                async () => {
                    await new Promise((resolve) => setTimeout(resolve, 300));
                    return { done: true };
                },
                { state: new Map() },
            );
            await new Promise((resolve) => setTimeout(resolve, 50));
            void Promise.reject(new Error("another test's error"));
            await new Promise((resolve) => setImmediate(resolve));
            // Mocha's listener emits it again to the others: it arrives twice.
            const whileRunning = [...unhandled];
            assert.deepStrictEqual((await run).outputs, { done: true });
            assert.deepStrictEqual(whileRunning, ["Error: another test's error"]);
        } finally {
            process.off("unhandledRejection", listener);
        }
    });

    it("leaves node:test nothing to report of a run that an apply's refusal failed", function () {
        this.timeout(30_000);
        const file = path.join(tempDir("node-test"), "refused.test.js");
        fs.writeFileSync(
            file,
            `const { test } = require("node:test");\nconst assert = require("assert");\n` +
                `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                `const { runWithStandIn } = require(${JSON.stringify(require.resolve("../lib/engine/standIn"))});\n` +
                `test("the refusal fails the run", async () => {\n` +
                `    const program = () => {\n` +
                `        const key = new tls.PrivateKey("key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `        const refused = () => key.publicKeyPem.apply(() => { throw new Error("refused in apply"); });\n` +
                `        const cert = (name, args) => new tls.SelfSignedCert(name, { privateKeyPem: key.privateKeyPem, subject: {}, validityPeriodHours: 1, allowedUses: ["cert_signing"], ...args });\n` +
                `        // Applies that each throw the refusal, in one property and in another.\n` +
                `        cert("a", { subject: { commonName: refused() } });\n` +
                `        cert("b", { subject: { commonName: refused() } });\n` +
                `        cert("c", { dnsNames: [refused()] });\n` +
                `    };\n` +
                `    await assert.rejects(runWithStandIn(program), { message: 'error serializing property "subject": refused in apply' });\n` +
                `});\n`,
        );
        const result = spawnSync(process.execPath, ["--test", "--test-reporter=tap", file], { encoding: "utf8" });
        assert.deepStrictEqual(
            [result.status, result.stdout.match(/^# (pass|fail) \d+$/gm), result.stdout.match(/^# Error: .*$/gm)],
            [0, ["# pass 1", "# fail 0"], null],
            result.stdout,
        );
    });

    it("hands on a refusal that mocha --parallel reports as a failure: its resource readable, out of the serializer's reach", async function () {
        this.timeout(60_000);
        const refusal =
            'RootCa maxPathLength must be a whole number >= 1; got 0. @pulumi/tls writes 0 as "no limit", so 0 cannot forbid sub-CAs';
        // Mocha's worker-to-main serializer deletes, in place, the functions of what a failed test's
        // error leads to: a ResourceError's `resource` led to the SDK's outputs, which then broke.
        const error = await runInRootStack(() => new RootCa("r", { subject: { commonName: "r" }, maxPathLength: 0 }), {
            state: new Map(),
        }).then(
            () => assert.fail("the run should have failed"),
            (refused: pulumi.ResourceError) => refused,
        );
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { SerializableEvent } = require("mocha/lib/nodejs/serializer") as {
            SerializableEvent: { create(name: string, value: object, error: Error): { serialize(): object } };
        };
        const sent = SerializableEvent.create("fail", { title: "t" }, error).serialize() as unknown as {
            error: Record<string, unknown>;
        };
        assert.deepStrictEqual([sent.error.message, "resource" in sent.error], [refusal, false]);
        assert.ok(error.resource instanceof RootCa);
        assert.strictEqual(
            await new Promise((resolve) => error.resource?.urn.apply(resolve)),
            "urn:pulumi:dev::apic-istio-pki::apic-istio-pki:index:RootCa::r",
        );

        // Two files failing so in two workers: mocha used to exit 0 with no summary, each worker dead.
        const folder = tempDir("mocha-parallel");
        const files = ["one", "two"].map((name) => {
            const file = path.join(folder, `${name}.test.js`);
            fs.writeFileSync(
                file,
                `const { RootCa } = require(${JSON.stringify(require.resolve("../lib"))});\n` +
                    `const { runWithStandIn } = require(${JSON.stringify(require.resolve("../lib/testing"))});\n` +
                    `it("is refused", () => runWithStandIn(() => new RootCa("r", { subject: { commonName: "r" }, maxPathLength: 0 })));\n`,
            );
            return file;
        });
        const mocha = [path.join(ROOT, "node_modules/.bin/mocha"), "--no-config", "--parallel", "--jobs", "2"];
        const result = spawnSync(mocha[0], [...mocha.slice(1), "--timeout", "60000", ...files], { encoding: "utf8" });
        assert.deepStrictEqual(
            [
                result.status,
                result.stdout.match(/^ {2}\d+ (passing|failing)/gm),
                result.stdout.split(refusal).length - 1,
            ],
            [2, ["  0 passing", "  2 failing"], 2],
            result.stdout + result.stderr,
        );
    });

    it("leaves a process with no unhandledRejection listener running after two refusals, and prints no key of a bug", function () {
        this.timeout(30_000);
        // As a script or the render CLI runs a program: no test runner's listener. The root's key
        // is in its certificate's inputs; the applies refuse once the root is made.
        const script = (second: string) =>
            `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
            `const { runWithStandIn } = require(${JSON.stringify(require.resolve("../lib/engine/standIn"))});\n` +
            `const program = () => {\n` +
            `    const key = new tls.PrivateKey("key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
            `    const root = new tls.SelfSignedCert("root", { privateKeyPem: key.privateKeyPem, subject: { commonName: "r" }, validityPeriodHours: 1, allowedUses: ["cert_signing"], isCaCertificate: true });\n` +
            `    const refused = (fail) => root.certPem.apply(fail);\n` +
            `    const cert = (name, commonName) => new tls.SelfSignedCert(name, { privateKeyPem: key.privateKeyPem, subject: { commonName }, validityPeriodHours: 1, allowedUses: ["cert_signing"] });\n` +
            `    cert("a", refused(() => { throw new Error("first refusal"); }));\n` +
            `    cert("b", refused(() => { ${second} }));\n` +
            `};\n` +
            `runWithStandIn(program).then(() => console.log("accepted"), (error) => console.log("caught: " + error.message));\n`;
        const node = (second: string) => spawnSync(process.execPath, ["-e", script(second)], { encoding: "utf8" });
        const refusals = node('throw new Error("second refusal");');
        assert.deepStrictEqual(
            [refusals.status, refusals.stdout, refusals.stderr],
            [0, 'caught: error serializing property "subject": first refusal\n', ""],
        );
        // A bug is not swallowed: it ends the process as Node's default does, without the run's state.
        const bug = node("return null.commonName;");
        assert.strictEqual(bug.status, 1);
        assert.strictEqual(bug.stdout, "");
        assert.match(
            bug.stderr,
            /\[TypeError: error serializing property "subject": Cannot read properties of null \(reading 'commonName'\)\]/,
        );
        assert.doesNotMatch(bug.stderr, /PRIVATE KEY|inputsJson/);
    });

    it("prints no private key of the state when an error or Output of a run is inspected, or a refused run is left unawaited", async function () {
        this.timeout(60_000);
        // A CA key that is not the root certificate's: IntermediateCa refuses it (a ResourceError).
        const refused = () => {
            const rootKey = new tls.PrivateKey("root-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const otherKey = new tls.PrivateKey("other-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });
            const rootCert = new tls.SelfSignedCert("root-cert", {
                privateKeyPem: rootKey.privateKeyPem,
                isCaCertificate: true,
                allowedUses: ["cert_signing"],
                validityPeriodHours: 24,
                subject: { commonName: "Root" },
            });
            const ca = new IntermediateCa("ca", {
                rootCa: { certPem: rootCert.certPem, privateKeyPem: otherKey.privateKeyPem },
                subject: { commonName: "Intermediate" },
            });
            return { caKey: ca.privateKeyPem };
        };
        // The run's async context (which every promise of the run carries) holds the engine, and its state the keys.
        const error = await runWithStandIn(refused, { state: new Map() }).then(
            () => assert.fail("the run was not refused"),
            (reason: unknown) => reason,
        );
        const REFUSAL =
            'error serializing property "caCertPem": IntermediateCa rootCa: privateKeyPem is not the key of certPem';
        assert.strictEqual((error as Error).message, REFUSAL);
        assert.strictEqual(/PRIVATE KEY/.test(util.inspect(error, { depth: Infinity })), false);
        const { returned, engine } = await runWithStandIn(
            () => new RootCa("root", { subject: { commonName: "Root" }, keyAlgorithm: "ECDSA" }).certPem,
            { state: new Map() },
        );
        assert.strictEqual(/PRIVATE KEY/.test(util.inspect(returned, { depth: Infinity })), false);
        assert.strictEqual(util.inspect(engine), "[EngineStandIn: 3 resources]");

        // A forgotten await: Node prints the unhandled rejection (inspected, no custom inspect) and exits.
        const folder = tempDir("unawaited");
        fs.writeFileSync(
            path.join(folder, "refused.js"),
            `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                `const { IntermediateCa } = require(${JSON.stringify(require.resolve("../lib/components/intermediateCa"))});\n` +
                `const rootKey = new tls.PrivateKey("root-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `const otherKey = new tls.PrivateKey("other-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `const rootCert = new tls.SelfSignedCert("root-cert", { privateKeyPem: rootKey.privateKeyPem, isCaCertificate: true, allowedUses: ["cert_signing"], validityPeriodHours: 24, subject: { commonName: "Root" } });\n` +
                `const ca = new IntermediateCa("ca", { rootCa: { certPem: rootCert.certPem, privateKeyPem: otherKey.privateKeyPem }, subject: { commonName: "Intermediate" } });\n` +
                `exports.caKey = ca.privateKeyPem;\n`,
        );
        const unawaited = {
            "runProgram.js":
                `const { runProgram } = require(${JSON.stringify(require.resolve("../lib/testing"))});\n` +
                `runProgram(require.resolve("./refused"), { state: new Map() });\n`,
            // The engine's own runWithStandIn, which chains each run after the last one ended.
            "runWithStandIn.js":
                `const { runWithStandIn } = require(${JSON.stringify(require.resolve("../lib/engine/standIn"))});\n` +
                `runWithStandIn(() => require("./refused"), { state: new Map() });\n`,
        };
        for (const [name, script] of Object.entries(unawaited)) {
            const file = path.join(folder, name);
            fs.writeFileSync(file, script);
            const result = spawnSync(process.execPath, [file], { encoding: "utf8" });
            assert.strictEqual(result.status, 1, `${name}: ${result.stderr}`);
            assert.ok(
                result.stderr.includes(`[ResourceError: ${REFUSAL}] {`),
                `${name}: ${result.stderr.slice(0, 2_000)}`,
            );
            assert.strictEqual(/PRIVATE KEY/.test(result.stderr), false, name);
        }
    });

    it("runs a program of several files afresh each time, as a new process would: all its resources, this run's outputs", async () => {
        const project = tempDir("program-files");
        const tlsModule = JSON.stringify(require.resolve("@pulumi/tls"));
        fs.mkdirSync(path.join(project, "node_modules", "counter"), { recursive: true });
        fs.writeFileSync(
            path.join(project, "node_modules", "counter", "index.js"),
            "globalThis.counterLoads = (globalThis.counterLoads ?? 0) + 1;\n",
        );
        fs.writeFileSync(
            path.join(project, "network.js"),
            `const tls = require(${tlsModule});\n` +
                `const key = new tls.PrivateKey("network-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `exports.networkKey = key.publicKeyPem;\n`,
        );
        fs.writeFileSync(
            path.join(project, "index.js"),
            `require("counter");\nconst tls = require(${tlsModule});\nconst network = require("./network");\n` +
                `const key = new tls.PrivateKey("main-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `exports.networkKey = network.networkKey;\nexports.mainKey = key.publicKeyPem;\n`,
        );
        const globals = globalThis as { counterLoads?: number };
        delete globals.counterLoads;
        const runs = [];
        for (let run = 0; run < 2; run++) {
            const { engine, outputs } = await runProgram<{ networkKey: string; mainKey: string }>(
                path.join(project, "index.js"),
                { state: new Map() },
            );
            const keys = new Map(
                engine.byType("tls:index/privateKey:PrivateKey").map((r) => [r.name, String(r.state.publicKeyPem)]),
            );
            assert.deepStrictEqual([...keys.keys()].sort(), ["main-key", "network-key"]);
            assert.strictEqual(outputs.networkKey, keys.get("network-key"), "the output is this run's key");
            assert.strictEqual(outputs.mainKey, keys.get("main-key"));
            runs.push(outputs);
        }
        assert.notStrictEqual(runs[1].networkKey, runs[0].networkKey, "a new state makes a new key");
        assert.strictEqual(globals.counterLoads, 1, "a package of the program's node_modules loads once");
        const missing = path.join(project, "bin", "index.js");
        await assert.rejects(runProgram(missing), {
            message: `runProgram: no program module at ${missing}; give the file your Pulumi.yaml main names`,
        });
    });

    it("runs afresh a file of the program's folder that the test file loaded first, so that its state does not leak into the next run", async () => {
        // The README's layout: index.test.js beside the program imports a helper the program uses too.
        const project = tempDir("program-shared-file");
        fs.writeFileSync(
            path.join(project, "names.js"),
            "const used = new Set();\n" +
                "exports.endpointName = (team) => {\n" +
                "    if (used.has(team)) throw new Error(`endpoint ${team} defined twice`);\n" +
                "    used.add(team);\n" +
                "    return `${team}-key`;\n" +
                "};\n",
        );
        fs.writeFileSync(
            path.join(project, "index.js"),
            `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                `const { endpointName } = require("./names");\n` +
                `new tls.PrivateKey(endpointName("payments"), { algorithm: "ECDSA", ecdsaCurve: "P256" });\n`,
        );
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const testsNames = require(path.join(project, "names.js")) as { endpointName(team: string): string };
        for (let run = 0; run < 2; run++) {
            const { engine } = await runProgram(path.join(project, "index.js"), { state: new Map() });
            assert.deepStrictEqual(
                engine.resources.map((r) => r.name),
                ["payments-key"],
            );
        }
        // What the test holds stays the instance it loaded: the runs did not use it.
        assert.strictEqual(testsNames.endpointName("payments"), "payments-key");
    });

    it("gives the test back its own modules of the program's folder after a run, so that a shared EngineState keeps its keys between tests", async () => {
        // The README's layout: a fixtures file beside the program holds one state for the whole
        // suite, so that each key is made once; each test loads it (`await import("./fixtures")`).
        const project = tempDir("program-test-fixtures");
        fs.writeFileSync(path.join(project, "fixtures.js"), "exports.state = new Map();\n");
        fs.writeFileSync(
            path.join(project, "index.js"),
            `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                `exports.publicKey = new tls.PrivateKey("root-key", { algorithm: "ECDSA", ecdsaCurve: "P256" }).publicKeyPem;\n`,
        );
        const tests: { state: EngineState; publicKey: unknown }[] = [];
        for (let test = 0; test < 2; test++) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const { state } = require(path.join(project, "fixtures.js")) as { state: EngineState };
            tests.push({
                state,
                publicKey: (await runProgram(path.join(project, "index.js"), { state })).outputs.publicKey,
            });
        }
        assert.strictEqual(tests[1].state, tests[0].state, "the second test's fixtures are the first one's");
        assert.strictEqual(tests[1].publicKey, tests[0].publicKey, "the key the first run made");
        // A run that fails gives them back too.
        fs.writeFileSync(path.join(project, "broken.js"), 'throw new Error("broken program");\n');
        await assert.rejects(runProgram(path.join(project, "broken.js"), { state: new Map() }), {
            message: "broken program",
        });
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const afterFailure = require(path.join(project, "fixtures.js")) as { state: EngineState };
        assert.strictEqual(afterFailure.state, tests[0].state);
    });

    it("refuses a program the module loader keeps (Jest's require.cache ignores delete), rather than succeed with none of its resources", async () => {
        const project = tempDir("program-kept");
        const program = path.join(project, "index.js");
        fs.writeFileSync(
            program,
            `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                `exports.publicKey = new tls.PrivateKey("kept-key", { algorithm: "ECDSA", ecdsaCurve: "P256" }).publicKeyPem;\n`,
        );
        const fix = "reset the test runner's modules before each runProgram (under Jest: jest.resetModules())";
        // Jest's: delete does nothing.
        const jest = testingWithRequireCache({ deleteProperty: () => true });
        const first = await jest.runProgram(program, { state: new Map() });
        assert.deepStrictEqual(
            first.engine.resources.map((r) => r.name),
            ["kept-key"],
        );
        await assert.rejects(jest.runProgram(program, { state: new Map() }), {
            message: `runProgram: ${program} stays in require.cache after its removal (Jest's require.cache ignores delete), so it would not run again: this run would register none of the resources it makes as it loads and give the last run's outputs; ${fix}`,
        });
        // A loader that hides what it keeps: delete seems to work, the next require gives the same module.
        const hidden = new Set<string | symbol>();
        const hiding = testingWithRequireCache({
            deleteProperty: (_, key) => hidden.add(key) !== undefined,
            get: (cache, key) => (hidden.has(key) ? undefined : Reflect.get(cache, key)),
        });
        delete require.cache[program];
        await hiding.runProgram(program, { state: new Map() });
        await assert.rejects(hiding.runProgram(program, { state: new Map() }), {
            message: `runProgram: ${program} gave this run an earlier run's exports and registered nothing: the module loader did not run it again, and keeps it where require.cache does not show it; ${fix}`,
        });
        delete require.cache[program];
    });

    it("runs again a program that exports a library's object and registers nothing: its module ran again", async () => {
        // module.exports = require("<shared library>").payments: the same object at every run.
        const folder = tempDir("program-library-export");
        fs.mkdirSync(path.join(folder, "shared"));
        fs.mkdirSync(path.join(folder, "program"));
        fs.writeFileSync(path.join(folder, "shared", "index.js"), "exports.payments = { enabled: false };\n");
        const program = path.join(folder, "program", "index.js");
        fs.writeFileSync(
            program,
            'globalThis.libraryExportRuns = (globalThis.libraryExportRuns ?? 0) + 1;\nmodule.exports = require("../shared").payments;\n',
        );
        const runs = globalThis as { libraryExportRuns?: number };
        for (const expected of [1, 2]) {
            const result = await runProgram(program, { state: new Map() });
            assert.deepStrictEqual(
                { runs: runs.libraryExportRuns, resources: result.engine.resources, outputs: result.outputs },
                { runs: expected, resources: [], outputs: { enabled: false } },
            );
        }
        delete runs.libraryExportRuns;
    });

    it("runs an ES module program as the language host does: afresh each time, its default export called", async () => {
        const project = tempDir("program-esm");
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ type: "module" }));
        const tlsUrl = JSON.stringify(pathToFileURL(require.resolve("@pulumi/tls")).href);
        fs.writeFileSync(
            path.join(project, "index.js"),
            `import tls from ${tlsUrl};\n` +
                `const top = new tls.PrivateKey("top-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `export default async () => {\n` +
                `    const key = new tls.PrivateKey("esm-key", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
                `    return { esmKey: key.publicKeyPem, topKey: top.publicKeyPem };\n` +
                `};\n`,
        );
        const keys = [];
        for (let run = 0; run < 2; run++) {
            const { engine, outputs, returned } = await runProgram<{ esmKey: string; topKey: string }>(
                path.join(project, "index.js"),
                { state: new Map() },
            );
            const made = new Map(
                engine.byType("tls:index/privateKey:PrivateKey").map((r) => [r.name, String(r.state.publicKeyPem)]),
            );
            assert.deepStrictEqual([...made.keys()].sort(), ["esm-key", "top-key"]);
            assert.strictEqual(outputs.esmKey, made.get("esm-key"));
            assert.strictEqual(outputs.topKey, made.get("top-key"));
            assert.ok(pulumi.Output.isInstance(returned.esmKey), "returned: what the exported function resolved to");
            keys.push(outputs.esmKey);
        }
        assert.notStrictEqual(keys[1], keys[0]);
        fs.writeFileSync(path.join(project, "both.mjs"), "export default () => ({});\nexport const extra = 1;\n");
        await assert.rejects(runProgram(path.join(project, "both.mjs"), { state: new Map() }), {
            message: "expected entrypoint module to have either a default export or named exports but not both",
        });
    });

    it("counts no time an ES module program takes to load as idle, until it registers: a loader may compile it for seconds off the main thread", async () => {
        // As ts-node/esm type-checking a TypeScript program under Node 20: the hook runs on its own
        // thread, this one waits. It holds back each module named slow-to-load for 1.5 s.
        const hooks =
            "export async function load(url, context, next) {\n" +
            '    if (url.includes("slow-to-load")) await new Promise((resolve) => setTimeout(resolve, 1_500));\n' +
            "    return next(url, context);\n" +
            "}\n";
        register(`data:text/javascript,${encodeURIComponent(hooks)}`);
        const project = tempDir("program-esm-loader");
        const tlsUrl = JSON.stringify(pathToFileURL(require.resolve("@pulumi/tls")).href);
        const key = `import tls from ${tlsUrl};\nexport const publicKey = new tls.PrivateKey("slow-key", { algorithm: "ED25519" }).publicKeyPem;\n`;
        fs.writeFileSync(path.join(project, "slow-to-load.mjs"), key);
        const started = performance.now();
        // Loading is not idle for 3 idle limits (1.8 s here): the 1.5 s load needs no more than 600 ms.
        const { engine } = await runProgram(path.join(project, "slow-to-load.mjs"), { timeoutMs: 600 });
        assert.deepStrictEqual(
            engine.resources.map((r) => r.name),
            ["slow-key"],
        );
        const elapsed = performance.now() - started;
        assert.ok(
            elapsed > 1_500,
            `loaded in ${Math.round(elapsed)} ms, under the hook's 1.5 s: this test proves nothing`,
        );
        // Once it registers, the module runs: a top-level await on what never comes is a hang.
        fs.writeFileSync(
            path.join(project, "slow-to-load-then-hangs.mjs"),
            `${key}await new Promise(() => undefined);\n`,
        );
        await assert.rejects(runProgram(path.join(project, "slow-to-load-then-hangs.mjs"), { timeoutMs: 600 }), {
            message:
                "stand-in run made no progress for 600 ms (no resource registering, none began or finished): " +
                "a mock failed in a way the SDK swallowed, or the program waits on something that never comes " +
                "(if it waits on slow work of its own, raise the run's timeoutMs)",
        });
        // A module that waits at its top level before it registers anything is loading for 3 idle
        // limits, then idle: a hang all the same, not a run that never ends (after 1.2 s, less up to
        // a tick of the idle clock, where at once without the grace).
        fs.writeFileSync(
            path.join(project, "waits-as-it-loads.mjs"),
            "await new Promise(() => undefined);\nexport const x = 1;\n",
        );
        const waitStarted = performance.now();
        await assert.rejects(runProgram(path.join(project, "waits-as-it-loads.mjs"), { timeoutMs: 300 }), {
            message:
                "stand-in run made no progress for 300 ms (no resource registering, none began or finished): " +
                "a mock failed in a way the SDK swallowed, or the program waits on something that never comes " +
                "(if it waits on slow work of its own, raise the run's timeoutMs)",
        });
        const waited = performance.now() - waitStarted;
        assert.ok(waited >= 1_000 && waited < 3_000, `failed as hung after ${Math.round(waited)} ms`);
    });

    it("types the outputs of a program that exports a function, or an ES module's default, as what the function returns", async () => {
        const project = tempDir("program-typed");
        const tlsModule = JSON.stringify(require.resolve("@pulumi/tls"));
        const entry = (name: string) =>
            `async () => {\n` +
            `    const key = new tls.PrivateKey("${name}", { algorithm: "ECDSA", ecdsaCurve: "P256" });\n` +
            `    return { publicKey: key.publicKeyPem };\n` +
            `};\n`;
        fs.writeFileSync(
            path.join(project, "function.js"),
            `const tls = require(${tlsModule});\nmodule.exports = ${entry("function-key")}`,
        );
        fs.writeFileSync(
            path.join(project, "default.mjs"),
            `import tls from ${JSON.stringify(pathToFileURL(require.resolve("@pulumi/tls")).href)};\n` +
                `export default ${entry("default-key")}`,
        );
        // What `typeof import("./function")` and `typeof import("./default")` are for these modules:
        // the compiler refuses `outputs.publicKey` below unless runProgram unwraps them.
        type Entry = () => Promise<{ publicKey: pulumi.Output<string> }>;
        const runs = [
            ["function-key", await runProgram<Entry>(path.join(project, "function.js"), { state: new Map() })],
            [
                "default-key",
                await runProgram<{ default: Entry }>(path.join(project, "default.mjs"), { state: new Map() }),
            ],
        ] as const;
        for (const [name, { engine, outputs, returned }] of runs) {
            const publicKey: string = outputs.publicKey;
            assert.strictEqual(publicKey, engine.resources.find((r) => r.name === name)?.state.publicKeyPem);
            assert.ok(
                pulumi.Output.isInstance(returned.publicKey),
                `${name}: returned is what the function resolved to`,
            );
        }
    });

    it("refuses a CommonJS program whose only export is `default`, a function or any value, whose one output under pulumi up would be `default`", async () => {
        // TypeScript's `export default ...` compiled with "module": "commonjs".
        const project = tempDir("program-commonjs-default");
        const program = (name: string, body: string) => {
            fs.writeFileSync(
                path.join(project, name),
                `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                    `Object.defineProperty(exports, "__esModule", { value: true });\n` +
                    `const key = new tls.PrivateKey("${path.basename(name, ".js")}", { algorithm: "ECDSA" });\n` +
                    body,
            );
            return path.join(project, name);
        };
        const refusal = (file: string, neverCalled: string) =>
            `runProgram: ${file} is a CommonJS module whose only export is \`default\` (TypeScript's \`export default\` compiled to CommonJS): pulumi up takes a CommonJS module's exports as the stack outputs, so its one output would be \`default\`${neverCalled}; write \`export =\` in place of \`export default\` (or compile the program as an ES module, "type": "module")`;
        // A program that creates its resources at its top level and exports a helper by default.
        const helper = program("helper.js", "exports.default = (team) => `team-${team}`;\n");
        await assert.rejects(runProgram(helper, { state: new Map() }), {
            message: refusal(
                helper,
                " and that function would never be called: what it would create and return never happens",
            ),
        });
        const value = program("value.js", "exports.default = { publicKey: key.publicKeyPem };\n");
        await assert.rejects(runProgram(value, { state: new Map() }), { message: refusal(value, "") });
        // With named exports beside it, `default` is one output among others, as the types say.
        const named = program("named.js", "exports.default = 1;\nexports.publicKey = key.publicKeyPem;\n");
        const { engine, outputs } = await runProgram<{ default: number; publicKey: pulumi.Output<string> }>(named, {
            state: new Map(),
        });
        assert.deepStrictEqual(outputs, { default: 1, publicKey: engine.resources[0].state.publicKeyPem });
    });

    it("runs a program inside the stack's root resource as pulumi up does: its stack transformations apply, resource transforms are refused", async () => {
        const project = tempDir("program-transforms");
        const program = (name: string, body: string) => {
            fs.writeFileSync(
                path.join(project, name),
                `const pulumi = require(${JSON.stringify(require.resolve("@pulumi/pulumi"))});\n` +
                    `const tls = require(${JSON.stringify(require.resolve("@pulumi/tls"))});\n` +
                    body,
            );
            return path.join(project, name);
        };
        const p384 =
            "pulumi.runtime.registerStackTransformation((a) =>\n" +
            '    a.type === "tls:index/privateKey:PrivateKey" ? { props: { ...a.props, ecdsaCurve: "P384" }, opts: a.opts } : undefined,\n' +
            ");\n";
        const key = (name: string, options = "") =>
            `exports.${name} = new tls.PrivateKey("${name}", { algorithm: "ECDSA", ecdsaCurve: "P256" }${options}).urn;\n`;
        const transformed = await runProgram(program("transformed.js", p384 + key("transformed")), {
            state: new Map(),
        });
        const plain = await runProgram(program("plain.js", key("plain")), { state: new Map() });
        // The stack is no resource of the program's, and not in its children's URNs, as the engine makes them.
        assert.deepStrictEqual(
            [transformed, plain].map(({ engine, outputs }) => [
                engine.resources.map((r) => [r.name, r.inputs.ecdsaCurve]),
                outputs,
            ]),
            [
                [
                    [["transformed", "P384"]],
                    { transformed: "urn:pulumi:dev::apic-istio-pki::tls:index/privateKey:PrivateKey::transformed" },
                ],
                // The transformation was the last run's stack's.
                [
                    [["plain", "P256"]],
                    { plain: "urn:pulumi:dev::apic-istio-pki::tls:index/privateKey:PrivateKey::plain" },
                ],
            ],
        );
        const refusal =
            "the stand-in cannot apply resource transforms (pulumi.runtime.registerResourceTransform, the transforms resource option): the engine calls them back through the Pulumi CLI, which a test run has none of; test the program without them, or use pulumi.runtime.registerStackTransformation or the transformations resource option, which the SDK applies itself";
        const registered = program(
            "registered.js",
            "pulumi.runtime.registerResourceTransform(async () => undefined);\n",
        );
        await assert.rejects(runProgram(registered, { state: new Map() }), { message: refusal });
        const option = program("option.js", key("optioned", ", { transforms: [async () => undefined] }"));
        await assert.rejects(runProgram(option, { state: new Map() }), { message: refusal });
    });

    it("runs a program in the project of the nearest Pulumi.yaml above it: its config namespace and getProject()", async () => {
        const project = tempDir("program-project");
        const pulumiModule = JSON.stringify(require.resolve("@pulumi/pulumi"));
        fs.writeFileSync(
            path.join(project, "Pulumi.yaml"),
            "name: payments-pki\nruntime: nodejs\nmain: bin/index.js\n",
        );
        fs.mkdirSync(path.join(project, "bin"));
        const program = path.join(project, "bin", "index.js");
        fs.writeFileSync(
            program,
            `const pulumi = require(${pulumiModule});\n` +
                `exports.organization = new pulumi.Config().require("organization");\n` +
                `exports.project = pulumi.getProject();\nexports.stack = pulumi.getStack();\n`,
        );
        pulumi.runtime.setAllConfig(
            { "payments-pki:organization": "Example Bank", "billing:organization": "Billing Bank" },
            [],
        );
        try {
            const found = await runProgram(program, { state: new Map() });
            assert.deepStrictEqual(found.outputs, {
                organization: "Example Bank",
                project: "payments-pki",
                stack: "dev",
            });
            const given = await runProgram(program, { state: new Map(), project: "billing", stack: "prod" });
            assert.deepStrictEqual(given.outputs, { organization: "Billing Bank", project: "billing", stack: "prod" });
        } finally {
            pulumi.runtime.setAllConfig({}, []);
        }

        // Read as Pulumi's YAML reader reads it: lone CR line breaks, and \' in double quotes.
        const classicMac = tempDir("program-cr");
        fs.writeFileSync(
            path.join(classicMac, "Pulumi.yaml"),
            `name: payments-pki\rdescription: "the bank\\'s PKI"\rruntime: nodejs\r`,
        );
        fs.copyFileSync(program, path.join(classicMac, "index.js"));
        pulumi.runtime.setAllConfig({ "payments-pki:organization": "Example Bank" }, []);
        try {
            const found = await runProgram(path.join(classicMac, "index.js"), { state: new Map() });
            assert.strictEqual(found.outputs.project, "payments-pki");
        } finally {
            pulumi.runtime.setAllConfig({}, []);
        }

        const nameless = tempDir("program-nameless");
        fs.writeFileSync(path.join(nameless, "Pulumi.yml"), "runtime: nodejs\n");
        fs.copyFileSync(program, path.join(nameless, "index.js"));
        await assert.rejects(runProgram(path.join(nameless, "index.js")), {
            message: `runProgram: the Pulumi project file ${path.join(nameless, "Pulumi.yml")} has no name (name: as text); its name is the project the program runs in (the namespace of its config, pulumi.getProject()): fix it, or give the project option`,
        });
    });

    it("runs a program with the config option as its config alone, and puts back the config set before", async () => {
        const project = tempDir("program-config");
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: payments-pki\nruntime: nodejs\n");
        const program = path.join(project, "index.js");
        fs.writeFileSync(
            program,
            `const pulumi = require(${JSON.stringify(require.resolve("@pulumi/pulumi"))});\n` +
                `const config = new pulumi.Config();\n` +
                `exports.organization = config.require("organization");\nexports.region = config.get("region");\n`,
        );
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const sdkConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };
        const setBefore = { "payments-pki:organization": "Set Before", "payments-pki:region": "eu" };
        pulumi.runtime.setAllConfig(setBefore, ["payments-pki:organization"]);
        try {
            const outputsOf = async (config?: Record<string, string>) =>
                (await runProgram(program, { state: new Map(), config })).outputs;
            // Only the option's config: the region set before is not.
            assert.deepStrictEqual(await outputsOf({ organization: "Bank A" }), {
                organization: "Bank A",
                region: undefined,
            });
            const namespaced = { "payments-pki:organization": "Bank B", "payments-pki:region": "us" };
            assert.deepStrictEqual(await outputsOf(namespaced), { organization: "Bank B", region: "us" });
            assert.deepStrictEqual(await outputsOf(), { organization: "Set Before", region: "eu" });
            // A run that fails puts it back too.
            await assert.rejects(outputsOf({ region: "us" }), {
                message: /^Missing required configuration variable 'payments-pki:organization'/,
            });
            assert.deepStrictEqual(pulumi.runtime.allConfig(), setBefore);
            assert.strictEqual(sdkConfig.isConfigSecret("payments-pki:organization"), true);

            for (const [config, message] of [
                [
                    { ":organization": "x" },
                    `the config option's key ":organization" is no config key: give <namespace>:<name>, or a name alone for the run's project`,
                ],
                [
                    { "payments-pki:replicas": 3 },
                    `the config option's "payments-pki:replicas" must be text, as Pulumi keeps config (a structured value as JSON text); got a number`,
                ],
                [
                    { "payments-pki:tags": ["a"] },
                    `the config option's "payments-pki:tags" must be text, as Pulumi keeps config (a structured value as JSON text); got an array`,
                ],
            ] as const) {
                await assert.rejects(outputsOf(config as unknown as Record<string, string>), { message });
            }
            assert.deepStrictEqual(pulumi.runtime.allConfig(), setBefore);
        } finally {
            pulumi.runtime.setAllConfig({}, []);
        }
    });

    it("lets runs started together take turns, each with its own engine, and refuses a run started from a program", async () => {
        const oneKey = (name: string) => () =>
            new tls.PrivateKey(name, { algorithm: "ECDSA", ecdsaCurve: "P256" }).publicKeyPem;
        const [first, second] = await Promise.all([
            runWithStandIn(oneKey("first-key"), { state: new Map() }),
            runWithStandIn(oneKey("second-key"), { state: new Map() }),
        ]);
        assert.deepStrictEqual(
            first.engine.resources.map((r) => r.name),
            ["first-key"],
        );
        assert.deepStrictEqual(
            second.engine.resources.map((r) => r.name),
            ["second-key"],
        );
        assert.strictEqual(first.outputs, first.engine.resources[0].state.publicKeyPem);
        // A refused run ends its turn: the run after it goes on.
        const [refused, after] = await Promise.allSettled([
            runWithStandIn(() => {
                throw new Error("refused by the program");
            }),
            runWithStandIn(oneKey("after-refusal"), { state: new Map() }),
        ]);
        assert.deepStrictEqual(
            [
                refused.status === "rejected" && (refused.reason as Error).message,
                after.status === "fulfilled" && after.value.engine.resources.map((r) => r.name),
            ],
            ["refused by the program", ["after-refusal"]],
        );
        await assert.rejects(
            runWithStandIn(() => runWithStandIn(oneKey("nested-key")), { state: new Map() }),
            {
                message:
                    "runWithStandIn was called from inside the program of another run: runs take turns (the SDK has one engine per process), so it would wait for itself; start it after that run",
            },
        );
    });

    it("issues every certificate of a run at the second the run started, even one made a second later", async () => {
        const selfSigned = (name: string) => {
            const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" });
            return new tls.SelfSignedCert(name, {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: name },
                allowedUses: ["digital_signature"],
                validityPeriodHours: 1,
            }).certPem;
        };
        const started = Math.floor(Date.now() / 1000) * 1000;
        const { outputs } = await runWithStandIn(async () => {
            const first = selfSigned("issued-first");
            await new Promise<void>((resolve) => first.apply(() => setTimeout(resolve, 1005 - (Date.now() % 1000))));
            // Now in a later second than the first certificate's creation.
            return { first, second: selfSigned("issued-a-second-later") };
        });
        const [first, second] = [outputs.first, outputs.second].map((pem) =>
            Date.parse(new crypto.X509Certificate(pem).validFrom),
        );
        assert.strictEqual(second, first);
        assert.ok(first === started || first === started + 1000, `notBefore ${new Date(first).toISOString()}`);
    });

    it("keeps in a shared state every key any run registered, until told to delete what a run did not register, as pulumi up does", async () => {
        /** A run that registers an ECDSA key for each name and returns their PEMs. */
        const keys =
            (...names: string[]) =>
            () =>
                Object.fromEntries(
                    names.map((name) => [name, new tls.PrivateKey(name, { algorithm: "ECDSA" }).privateKeyPem]),
                );
        const state = new Map();
        const first = (await runWithStandIn(keys("kept", "dropped"), { state })).outputs;
        await runWithStandIn(keys("kept"), { state });
        const back = (await runWithStandIn(keys("kept", "dropped"), { state })).outputs;
        assert.deepStrictEqual(back, first, "without the delete step, a key that comes back is the old one");

        const { engine } = await runWithStandIn(keys("kept"), { state });
        engine.deleteUnregistered();
        assert.deepStrictEqual([...state.keys()], ["tls:index/privateKey:PrivateKey::kept"]);
        const recreated = (await runWithStandIn(keys("kept", "dropped"), { state })).outputs;
        assert.strictEqual(recreated.kept, first.kept);
        assert.notStrictEqual(recreated.dropped, first.dropped, "created anew, with a new key");
    });
});

describe("The stand-in's key file (keyFile): test-only RSA keys kept between runs", function () {
    this.timeout(60_000);

    /** A program with one RSA and one ECDSA key; resolves to their PEMs. */
    const twoKeys = () => {
        const rsa = new tls.PrivateKey("kept-rsa", { algorithm: "RSA", rsaBits: 2048 });
        const ecdsa = new tls.PrivateKey("fresh-ecdsa", { algorithm: "ECDSA", ecdsaCurve: "P256" });
        return { rsa: rsa.privateKeyPem, ecdsa: ecdsa.privateKeyPem };
    };

    it("writes the RSA keys a run made (0600) and gives them back to the next run; ECDSA keys are made anew", async () => {
        const keyFile = path.join(tempDir("keyfile"), "test-keys.json");
        const first = await runWithStandIn(twoKeys, { keyFile });
        assert.strictEqual(fs.statSync(keyFile).mode & 0o777, 0o600);
        assert.deepStrictEqual(
            readTestKeys(keyFile).map((k) => [k.name, k.inputs]),
            [["kept-rsa", { algorithm: "RSA", rsaBits: 2048 }]],
        );
        const second = await runWithStandIn(twoKeys, { keyFile });
        assert.strictEqual(second.outputs.rsa, first.outputs.rsa);
        assert.notStrictEqual(second.outputs.ecdsa, first.outputs.ecdsa);
    });

    it("gives a key that deleteUnregistered removed and that comes back a new key, kept in the file for the next test run", async () => {
        const keyFile = path.join(tempDir("keyfile-comeback"), "test-keys.json");
        const program = (withKey: boolean) => () =>
            withKey ? new tls.PrivateKey("comeback", { algorithm: "RSA", rsaBits: 2048 }).privateKeyPem : undefined;
        /** A test run: the key registered, dropped and deleted, registered again. */
        const comeback = async () => {
            const state = new Map();
            const pems: (string | undefined)[] = [];
            for (const withKey of [true, false, true]) {
                const { engine, outputs } = await runWithStandIn(program(withKey), { state, keyFile });
                engine.deleteUnregistered();
                pems.push(outputs);
            }
            return pems;
        };
        const [first, , back] = await comeback();
        assert.notStrictEqual(back, first, "a new key, as pulumi up creates one");
        assert.deepStrictEqual(
            readTestKeys(keyFile).map((k) => [k.name, k.generation]),
            [
                ["comeback", undefined],
                ["comeback", 2],
            ],
        );
        assert.deepStrictEqual(
            await comeback(),
            [first, undefined, back],
            "the next test run takes both from the file",
        );
    });

    it("counts the keys a state held when a run took it, of the generation it records, as made: one deleted and registered again in a state read back from a file is the next generation, never one before", async () => {
        const keyFile = path.join(tempDir("keyfile-held"), "test-keys.json");
        const program = (withKey: boolean) => () =>
            withKey ? new tls.PrivateKey("held", { algorithm: "RSA", rsaBits: 2048 }).privateKeyPem : undefined;
        /** Runs with the key registered or not, in `state`, each deleting what it did not register. */
        const runs = async (state: EngineState, ...withKey: boolean[]) => {
            const pems: (string | undefined)[] = [];
            for (const registered of withKey) {
                const { engine, outputs } = await runWithStandIn(program(registered), { state, keyFile });
                engine.deleteUnregistered();
                pems.push(outputs);
            }
            return pems;
        };
        /** The state read back from a file, as a test keeps one between runs: no run has made a key in it. */
        const readBack = (state: EngineState): EngineState => new Map(JSON.parse(JSON.stringify([...state])));
        const made: EngineState = new Map();
        const [first] = await runs(made, true);
        const held = readBack(made);
        const [kept, , second] = await runs(held, true, false, true);
        const [third] = await runs(readBack(held), false, true).then((pems) => pems.slice(1));
        assert.deepStrictEqual(
            [kept === first, new Set([first, second, third]).size],
            [true, 3],
            "the state's key kept; each key that comes back a new one",
        );
        assert.deepStrictEqual(
            readTestKeys(keyFile).map((k) => [k.name, k.generation]),
            [
                ["held", undefined],
                ["held", 2],
                ["held", 3],
            ],
        );
    });

    it("gives a key that comes back its own key, not that of a resource named like a second generation (k#2)", async () => {
        const keyFile = path.join(tempDir("keyfile-generation-name"), "test-keys.json");
        const state = new Map();
        /** A run registering an RSA key of each name, then deleting what it did not register. */
        const run = async (names: string[]) => {
            const { engine, outputs } = await runWithStandIn(
                () =>
                    Object.fromEntries(
                        names.map((n) => [n, new tls.PrivateKey(n, { algorithm: "RSA", rsaBits: 2048 }).privateKeyPem]),
                    ),
                { state, keyFile },
            );
            engine.deleteUnregistered();
            return outputs;
        };
        const first = await run(["k", "k#2"]);
        await run(["k#2"]);
        const back = await run(["k", "k#2"]);
        assert.strictEqual(back["k#2"], first["k#2"], "k#2 was never deleted");
        assert.notStrictEqual(back.k, back["k#2"], "k came back as a new key of its own");
        assert.notStrictEqual(back.k, first.k);
        assert.deepStrictEqual(
            readTestKeys(keyFile).map((k) => [k.name, k.generation]),
            [
                ["k", undefined],
                ["k", 2],
                ["k#2", undefined],
            ],
        );
    });

    it("gives a key replaced by other inputs and then given its first inputs again a new key, as pulumi up replaces it", async () => {
        const keyFile = path.join(tempDir("keyfile-replaced"), "test-keys.json");
        /** A test run: one state, the key's size changed from 2048 to 3072 bits and back. */
        const resized = async () => {
            const state = new Map();
            const pems: string[] = [];
            for (const rsaBits of [2048, 3072, 2048]) {
                const { outputs } = await runWithStandIn(
                    () => new tls.PrivateKey("resized", { algorithm: "RSA", rsaBits }).privateKeyPem,
                    { state, keyFile },
                );
                pems.push(outputs);
            }
            return pems;
        };
        const pems = await resized();
        assert.strictEqual(new Set(pems).size, 3, "each replacement made a new key");
        assert.deepStrictEqual(
            readTestKeys(keyFile).map((k) => [k.name, k.generation, k.inputs.rsaBits]),
            [
                ["resized", undefined, 2048],
                ["resized", undefined, 3072],
                ["resized", 2, 2048],
            ],
        );
        assert.deepStrictEqual(await resized(), pems, "the next test run takes all three from the file");
    });

    it("refuses a link at keyFile, a file its group or others may write, or a file another user owns, before the program runs: its keys would be theirs", async () => {
        const dir = tempDir("keyfile-link");
        const target = path.join(dir, "elsewhere.json");
        fs.writeFileSync(target, JSON.stringify({ about: "", keys: [] }));
        const keyFile = path.join(dir, "test-keys.json");
        fs.symlinkSync(target, keyFile);
        let ran = false;
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile }),
            {
                message: `keyFile ${keyFile} is a symbolic link; its keys become the CA keys of the test run, so it is never read through a link: give the real file`,
            },
        );
        assert.strictEqual(ran, false);
        assert.strictEqual(fs.readFileSync(target, "utf8"), JSON.stringify({ about: "", keys: [] }));
        assert.ok(fs.lstatSync(keyFile).isSymbolicLink());
        // A file anyone may write: another user may have put their keys in it.
        const writable = path.join(dir, "writable.json");
        fs.writeFileSync(writable, JSON.stringify({ about: "", keys: [] }));
        fs.chmodSync(writable, 0o646);
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile: writable }),
            {
                message: `keyFile ${writable} has mode 0646: its keys become the CA keys of the test run, so only its owner may write it; run chmod go-w ${writable}`,
            },
        );
        assert.strictEqual(ran, false);
        // Another user's file (the suite runs as root, which may give a file away).
        const uid = process.getuid?.();
        if (uid !== 0) return;
        // Written by its group: refused where others are in it (nogroup: nobody), taken where the
        // group is the owner's alone (root's here; a checkout under umask 002 gives such a 0664).
        fs.chmodSync(writable, 0o664);
        fs.chownSync(writable, 0, 65534);
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile: writable }),
            {
                // The members are the machine's (getent): nobody is nogroup's on Debian.
                message: new RegExp(
                    `^keyFile ${writable.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} has mode 0664, and its group nogroup \\(65534\\) has members besides you: [^:]*nobody \\(uid 65534\\)[^:]*: its keys become the CA keys of the test run, so only its owner may write it; run chmod go-w `,
                ),
            },
        );
        assert.strictEqual(ran, false);
        fs.chownSync(writable, 0, 0);
        // The group the owner's alone, but an access control list lets nobody write it: the mode's
        // group bits, 0664, are then the list's mask (it was taken as a user private group's file).
        const acl = spawnSync("setfacl", ["-m", "u:nobody:rw", writable], { encoding: "utf8" });
        assert.strictEqual(acl.status, 0, `setfacl: ${acl.stderr}`);
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile: writable }),
            {
                message: `keyFile ${writable} has mode 0664, and it has an access control list (ls -ld shows -rw-rw-r--+), whose mask the group bits of its mode show, so the users and groups the list names may write it too: its keys become the CA keys of the test run, so only its owner may write it; run chmod go-w ${writable}`,
            },
        );
        assert.strictEqual(ran, false);
        assert.strictEqual(spawnSync("setfacl", ["-b", writable]).status, 0);
        await runWithStandIn(() => (ran = true), { keyFile: writable });
        assert.strictEqual(ran, true);
        ran = false;
        const theirs = path.join(dir, "theirs.json");
        fs.writeFileSync(theirs, JSON.stringify({ about: "", keys: [] }));
        fs.chownSync(theirs, 4242, 4242);
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile: theirs }),
            {
                message: `keyFile ${theirs} belongs to user 4242, not to the user running the tests (0): its keys become the CA keys of the test run, which that user would then have chosen; run the tests as its owner, or give keyFile a file of your own`,
            },
        );
        assert.strictEqual(ran, false);
    });

    it("refuses a FIFO or a folder at keyFile without hanging on it, naming the file and the fix", () => {
        const dir = tempDir("keyfile-special");
        const fifo = path.join(dir, "fifo.json");
        const mkfifo = spawnSync("mkfifo", [fifo], { encoding: "utf8" });
        assert.strictEqual(mkfifo.status, 0, mkfifo.stderr);
        // Opened without O_NONBLOCK, the FIFO hung the suite here (no writer ever comes).
        for (const special of [fifo, dir]) {
            assert.throws(() => readTestKeys(special), {
                message: `keyFile ${special} is not a regular file; give a file`,
            });
        }
    });

    it("fails a write whose new file cannot be renamed over keyFile, naming the file and the fix", () => {
        const keyFile = path.join(tempDir("keyfile-rename"), "test-keys.json");
        // A folder, not empty, at the path (put there after the run read it): the rename over it fails.
        fs.mkdirSync(keyFile);
        fs.writeFileSync(path.join(keyFile, "x"), "");
        assert.throws(() => writeTestKeys(keyFile, []), {
            message: `keyFile ${keyFile}: cannot replace it with the RSA keys this run made (EISDIR writing a new file and renaming it over ${keyFile}); give keyFile a path of your own, where no folder or other user's file stands, in a folder you can write to`,
        });
        assert.deepStrictEqual(fs.readdirSync(path.dirname(keyFile)), ["test-keys.json"], "no new file left beside it");
    });

    it("refuses a file that is not a key file, naming it and the fix, before the program runs", async () => {
        const keyFile = path.join(tempDir("keyfile-bad"), "test-keys.json");
        fs.writeFileSync(keyFile, '{"keys": [{"name": "x"}]}');
        let ran = false;
        await assert.rejects(
            runWithStandIn(() => (ran = true), { keyFile }),
            (error: Error) =>
                error.message ===
                `keyFile ${keyFile}: not a file of test keys ({ "about", "keys": [{ "name", "generation" (from 2), "inputs", "pkcs8" }] }); delete it and the next run writes a new one`,
        );
        assert.strictEqual(ran, false);
    });

    it("fails a run whose new keys cannot be written, naming the file and the fix", async () => {
        const keyFile = path.join(tempDir("keyfile-missing"), "no-such-folder", "test-keys.json");
        await assert.rejects(runWithStandIn(twoKeys, { keyFile }), {
            message: `keyFile ${keyFile}: cannot write the RSA keys this run made (ENOENT creating a file in ${path.dirname(keyFile)}); give keyFile a path in a folder you can write to`,
        });
        // A file a crashed process left under the name a pid-named temporary file would take does not block the write.
        const beside = path.join(tempDir("keyfile-leftover"), "test-keys.json");
        fs.writeFileSync(`${beside}.${process.pid}.tmp`, "left over\n");
        await runWithStandIn(twoKeys, { keyFile: beside });
        assert.strictEqual(readTestKeys(beside).length, 1, "the RSA key");
    });

    it("holds every RSA key of examples/own-pki, so that its test makes none", async () => {
        const copy = path.join(tempDir("own-pki-keys"), "test-keys.json");
        fs.copyFileSync(path.join(OWN_PKI, "test-keys.json"), copy);
        const before = fs.readFileSync(copy, "utf8");
        const { engine } = await runProgram(path.join(OWN_PKI, "dist/index.js"), { keyFile: copy });
        assert.strictEqual(engine.byType("tls:index/privateKey:PrivateKey").length, 6);
        assert.strictEqual(fs.readFileSync(copy, "utf8"), before, "the run added no key");
    });
});
