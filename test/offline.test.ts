import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { IntermediateCa } from "../lib/components/intermediateCa";
import { IstioGatewayTls } from "../lib/components/istioGatewayTls";
import { MeshPluginCa } from "../lib/components/meshPluginCa";
import { UiApicClient } from "../lib/components/uiApicClient";
import { createRoot, crlSeriesWindows, signCrlSeries, signIntermediate } from "../lib/pki/ceremony";
import { crlWindow } from "../lib/pki/crl";
import { spkiPin } from "../lib/pki/pins";
import { INITIAL_RECORD, RotationRecord } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { diffPlans } from "../lib/inventory/diff";
import { diffMarkdown } from "../lib/cli/diff";
import { PendingSignaturesError } from "../lib/render/render";
import { expiredOfflineMessage } from "../lib/stack";
import { ConfigError, validateConfig } from "../lib/config/validate";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide as decideLifecycle } from "../lib/lifecycle/rules";
import { decide, summary } from "./consumers";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_LEAF_KEY_PEM } from "./fixtures/testOnlyPki";
import { seededState, writeSeededStateFile } from "./engineKeys";
import {
    apicCredentials,
    cacerts,
    cli,
    gatewayServerConfig,
    handshake,
    loadStackFile,
    loadStackFileValues,
    mintLeaf,
    openssl,
    opensslText,
    OPTION_FILES,
    pemBlocks,
    planProblems,
    refusalText,
    renderConfig,
    Rendered,
    renderNext,
    rootRemade,
    sharedState,
    tempDir,
    writeTemp,
} from "./helpers";

const CA_IDS = ["gateway-server-ca", "apic-client-ca", "mesh-ca-example"];
/** Which offline root signs each CA (separate trust domains). */
const ROOT_OF: Record<string, "serverRoot" | "apicClientRoot" | "meshRoot"> = {
    "gateway-server-ca": "serverRoot",
    "apic-client-ca": "apicClientRoot",
    "mesh-ca-example": "meshRoot",
};

/** A new P-256 key in `dir`/root.key (PKCS#8 PEM), for openssl to make a root with. */
const rootKeyFile = (dir: string): string =>
    writeTemp(
        dir,
        "root.key",
        crypto
            .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    );

/**
 * What `root` signs, as `ceremony sign` does for 1095 days, for the CSR of CA `id` that a render
 * stopped with (`stop`, the PendingSignaturesError naming the folder it wrote the CSRs to).
 */
function signWaiting(stop: unknown, root: { keyPem: string; certPem: string }, id: string): string {
    assert.ok(stop instanceof PendingSignaturesError, String(stop));
    const csrDir = stop.message.split("CSRs written to ")[1];
    return signIntermediate({
        rootKeyPem: root.keyPem,
        rootCertPem: root.certPem,
        csrPem: fs.readFileSync(path.join(csrDir, `${id}.csr`), "utf8"),
        validityDays: 1095,
    });
}

/**
 * The certificates, Secrets and Gateways a render made in `engine` that were not in `registered`,
 * sorted: what an update creates, to compare with what diff says it creates.
 */
const madeSince = (engine: EngineState, registered: ReadonlySet<string>): string[] =>
    [...engine.keys()]
        .filter((k) => !registered.has(k) && /LocallySignedCert|core\/v1:Secret|Gateway::/.test(k))
        .sort();

/** The option-1 stack's gateways, their Secrets and the leaves they and APIC hold: what a CA's signature lets an update create. */
const GATEWAYS_AND_LEAVES = [
    "kubernetes:core/v1:Secret::dp-gateway-dp-tls",
    "kubernetes:core/v1:Secret::ob-gateway-ob-tls",
    "kubernetes:networking.istio.io/v1:Gateway::dp-gateway-gateway",
    "kubernetes:networking.istio.io/v1:Gateway::ob-gateway-gateway",
    "tls:index/locallySignedCert:LocallySignedCert::dp-apic-client-cert",
    "tls:index/locallySignedCert:LocallySignedCert::dp-gateway-dp-server-cert",
    "tls:index/locallySignedCert:LocallySignedCert::ob-apic-client-cert",
    "tls:index/locallySignedCert:LocallySignedCert::ob-gateway-ob-server-cert",
];

describe("Offline roots: no root key enters the stack", function () {
    this.timeout(120_000);
    const offlineRoot = (commonName: string) =>
        createRoot({ commonName, organization: "Example Bank", validityDays: 7300, keyAlgorithm: "ECDSA" });
    const roots = {
        meshRoot: offlineRoot("Example Bank Mesh Offline Root"),
        serverRoot: offlineRoot("Example Bank Gateway Server Offline Root"),
        // Bound to the stack's environment and trust domain (an OU), as the ceremony's init-root makes a root.
        apicClientRoot: createRoot({
            commonName: "Example Bank APIC Client Offline Root",
            organization: "Example Bank",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays: 7300,
            keyAlgorithm: "ECDSA",
        }),
    };
    const root = roots.apicClientRoot;
    const config = (intermediates: Record<string, string> = {}) => ({
        meshRoot: { certificate: roots.meshRoot.certPem, intermediates: pick(intermediates, "meshRoot") },
        serverRoot: { certificate: roots.serverRoot.certPem, intermediates: pick(intermediates, "serverRoot") },
        clientRoot: { certificate: roots.apicClientRoot.certPem, intermediates: pick(intermediates, "apicClientRoot") },
    });
    const pick = (all: Record<string, string>, slot: string) =>
        Object.fromEntries(Object.entries(all).filter(([id]) => ROOT_OF[id.replace(/-g\d+$/, "")] === slot));
    const base = { ...loadStackFile(OPTION_FILES[1]), offlineRoots: config() };
    let state: EngineState;
    let csrs: Record<string, string>;
    let stage1Error: unknown;
    let stage1Dir: string;
    let rendered: Rendered;
    /** What the ceremony signed for this stack, by CA id. */
    let signed: Record<string, string>;

    before(async () => {
        state = new Map(sharedState);
        try {
            await renderConfig(base, "offline-stage1", state);
        } catch (err) {
            stage1Error = err;
        }
        stage1Dir = (stage1Error as Error).message.split("CSRs written to ")[1];
        csrs = Object.fromEntries(CA_IDS.map((id) => [id, fs.readFileSync(path.join(stage1Dir, `${id}.csr`), "utf8")]));
        signed = Object.fromEntries(
            CA_IDS.map((id) => [
                id,
                signIntermediate({
                    rootKeyPem: roots[ROOT_OF[id]].keyPem,
                    rootCertPem: roots[ROOT_OF[id]].certPem,
                    csrPem: csrs[id],
                    validityDays: 1095,
                }),
            ]),
        );
        rendered = await renderConfig({ ...base, offlineRoots: config(signed) }, "offline-stage2", state);
    });

    it("stops at first with a message naming each CSR to sign, and writes the CSRs", () => {
        assert.ok(stage1Error instanceof PendingSignaturesError, String(stage1Error));
        assert.match(
            (stage1Error as Error).message,
            /^the offline roots have not signed gateway-server-ca \(pki:offlineRoots\.serverRoot\.intermediates\.gateway-server-ca\), apic-client-ca \(pki:offlineRoots\.clientRoot\.intermediates\.apic-client-ca\), mesh-ca-example \(pki:offlineRoots\.meshRoot\.intermediates\.mesh-ca-example\) yet: on the offline machine sign each CSR .* with "npx apic-istio-pki ceremony sign --root <that root's dir> --csr <id>\.csr"/,
        );
        for (const id of CA_IDS) assert.match(csrs[id], /^-----BEGIN CERTIFICATE REQUEST-----\n/);
        assert.deepStrictEqual(planFromRawConfig(base).pendingIntermediates, CA_IDS);
        // Beside them, the environment they are of: render --force from another environment is refused on it.
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(stage1Dir, "../pending.json"), "utf8")), {
            environment: "example",
            unsigned: CA_IDS,
        });
    });

    it("plans the root from the offline certificate: its subject, key and lifetime", () => {
        const planned = planFromRawConfig(base).cas.filter((c) => c.role === "root");
        assert.deepStrictEqual(
            planned.map((p) => ({ id: p.id, subject: p.subject, key: p.key, validityDays: p.validityDays })),
            [
                ["mesh-root", "Example Bank Mesh Offline Root"],
                ["server-root", "Example Bank Gateway Server Offline Root"],
                ["client-root", "Example Bank APIC Client Offline Root"],
            ].map(([id, commonName]) => ({
                id,
                subject: { commonName, organization: "Example Bank" },
                key: { algorithm: "ECDSA", ecdsaCurve: "P384" },
                validityDays: 7300,
            })),
        );
    });

    it("gives a root in the inventory as the ceremony issued it: its subject, OU included, as its CAs' issuer", () => {
        const issued =
            "O=Example Bank, OU=apic-istio-pki example apic-client, CN=Example Bank APIC Client Offline Root";
        assert.deepStrictEqual(
            rendered.inventory
                .filter((c) => c.id === "client-root" || c.id === "apic-client-ca")
                .map((c) => [c.id, c.subject, c.issuerSubject]),
            [
                ["client-root", issued, issued],
                ["apic-client-ca", "O=Example Bank, CN=example APIC client CA", issued],
            ],
        );
    });

    it("then builds everything from the signed intermediates, with no root key anywhere", () => {
        const everything =
            JSON.stringify(rendered.engine.resources) + rendered.files.map((f) => rendered.read(f)).join("\n");
        for (const r of Object.values(roots)) {
            assert.ok(!everything.includes(r.keyPem.split("\n")[1]), "no root key appears anywhere");
        }
        assert.ok(!rendered.engine.resources.some((r) => r.type.includes("RootCa")), "no RootCa resources");
        assert.strictEqual(pemBlocks(rendered.read("apic/ob/truststore.pem"))[0], roots.serverRoot.certPem);
        assert.strictEqual(gatewayServerConfig(rendered, "ob").caCrt, roots.apicClientRoot.certPem);
        const cacerts = rendered.read("k8s/example/istio-system/secret-cacerts.yaml");
        assert.ok(cacerts.includes(roots.meshRoot.certPem.split("\n")[1]), "root-cert.pem is the mesh's offline root");
    });

    it("chains every leaf to the external root, through intermediates with pathlen 0", async () => {
        const dir = tempDir("offline-verify");
        const gateway = gatewayServerConfig(rendered, "dp");
        const [leaf, ...chain] = pemBlocks(gateway.tlsCrt);
        const result = openssl([
            "verify",
            "-x509_strict",
            "-CAfile",
            writeTemp(dir, "root.pem", roots.serverRoot.certPem),
            "-untrusted",
            writeTemp(dir, "chain.pem", chain.join("")),
            "-purpose",
            "sslserver",
            writeTemp(dir, "leaf.pem", leaf),
        ]);
        assert.strictEqual(result.status, 0, result.output);
        assert.match(opensslText(chain[0]), /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
        assert.deepStrictEqual(await handshake(gateway, apicCredentials(rendered, "dp")), {
            accepted: true,
            reason: "",
            clientAuthorized: true,
            clientError: "",
        });
    });

    it("refuses another trust domain's offline root as pki:frontEnd.apicServerCa: any cluster's mesh CA key would pose as APIC to the UI services", async () => {
        // The UI sidecars' ca.crt is apicServerCa as given, and they check APIC's chain and host name only.
        const apicHost = "apic.example.api.bank.example";
        const mesh = cacerts(rendered, "example");
        const forged = await mintLeaf(
            { certPem: mesh["ca-cert.pem"], keyPem: mesh["ca-key.pem"] },
            { commonName: apicHost, dnsNames: [apicHost], allowedUses: ["digital_signature", "server_auth"] },
        );
        const [[, verdict]] = decide([
            [
                "a UI sidecar trusting the mesh root for APIC",
                {
                    caCrt: roots.meshRoot.certPem,
                    chain: forged.cert + mesh["ca-cert.pem"],
                    purpose: "sslserver",
                    subjectAltNames: [apicHost],
                },
            ],
        ]);
        assert.deepStrictEqual(summary(verdict), { boringssl: "ok", openssl: "ok" });
        const frontEnd = (apicServerCa: string) => ({
            ...base,
            frontEnd: {
                services: ["consumer-dashboard"],
                callers: ["consumer-dashboard"],
                apicHosts: [apicHost],
                apicServerCa,
            },
        });
        assert.throws(
            () => validateConfig(frontEnd(roots.meshRoot.certPem)),
            (err: unknown) => {
                assert.ok(err instanceof ConfigError, String(err));
                assert.deepStrictEqual(err.problems, [
                    "pki:frontEnd.apicServerCa holds pki:offlineRoots.meshRoot (O=Example Bank, CN=Example Bank Mesh Offline Root): the UI services' sidecars would take as APIC " +
                        "any certificate for its hosts from a CA under that root (another trust domain's, whose CA keys this stack or its clusters hold). " +
                        "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root",
                ]);
                return true;
            },
        );
        // The gateway server root is what the sidecars trust without apicServerCa: giving it is the switch's first step.
        assert.strictEqual(
            validateConfig(frontEnd(roots.serverRoot.certPem)).frontEnd.apicServerCa,
            roots.serverRoot.certPem,
        );
    });

    it("refuses at plan time an offline root in pki:frontEnd.publicRoots (a re-issued one too) and a customer-facing certificate it signed, by key", () => {
        const host = "www.example.bank.example";
        const serverRootSubject = "O=Example Bank, CN=Example Bank Gateway Server Offline Root";
        const withFrontEnd = (certificate: string | undefined, publicRoots: string) => ({
            ...base,
            // The test-only leaf key's algorithm: the plan refuses a certificate for a key of another.
            keyAlgorithm: "ECDSA",
            frontEnd: {
                services: ["consumer-dashboard"],
                callers: ["consumer-dashboard"],
                apicHosts: ["apic.example.api.bank.example"],
                customerFacing: { [host]: certificate === undefined ? {} : { certificate } },
                customerFacingGateway: {
                    namespace: "istio-ingress-public",
                    selector: { istio: "public-ingressgateway" },
                },
                publicRoots,
            },
        });
        const refused = (config: Record<string, unknown>, problems: string[]) =>
            assert.throws(
                () => planFromRawConfig(config),
                (err: unknown) => {
                    assert.ok(err instanceof ConfigError, String(err));
                    assert.deepStrictEqual(err.problems, problems);
                    return true;
                },
            );
        const rootRefusal = (shown: string) =>
            `pki:frontEnd.publicRoots holds this stack's gateway server root CA pki:offlineRoots.serverRoot (${serverRootSubject})${shown}: ` +
            "a customer-facing chain must end at a publicly trusted root, not at this PKI, whose keys the stack and its ceremony hold. " +
            "Remove it, and give the root of the public CA that signs the customer-facing certificates";
        refused(withFrontEnd(undefined, TEST_ONLY_CA_CERT_PEM + roots.serverRoot.certPem), [rootRefusal("")]);
        // The ceremony's root made again with its key (another serial, other bytes): the same root.
        const reissued = createRoot(
            {
                commonName: "Example Bank Gateway Server Offline Root",
                organization: "Example Bank",
                validityDays: 3650,
                keyAlgorithm: "ECDSA",
            },
            new Date(),
            crypto.createPrivateKey(roots.serverRoot.keyPem),
        ).certPem;
        refused(withFrontEnd(undefined, reissued), [rootRefusal(", in another certificate of its key")]);
        // A leaf for the host that the offline root signed, behind a public root: the chain reaches the root by its signature.
        const csr = tlsProvider.certRequest({
            privateKeyPem: TEST_ONLY_LEAF_KEY_PEM,
            subject: { commonName: host },
            dnsNames: [host],
        }).state.certRequestPem as string;
        const leaf = tlsProvider.locallySignedCert({
            certRequestPem: csr,
            caCertPem: roots.serverRoot.certPem,
            caPrivateKeyPem: roots.serverRoot.keyPem,
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: 90 * 24,
        }).state.certPem as string;
        refused(withFrontEnd(leaf, TEST_ONLY_CA_CERT_PEM), [
            `pki:frontEnd.customerFacing.${host}.certificate: the certificate is signed by this stack's gateway server root CA pki:offlineRoots.serverRoot (${serverRootSubject}); ` +
                `a customer-facing host needs a certificate from a public CA, whose chain ends at a publicly trusted root, not at this PKI: have a public CA sign the CSR for ${host}`,
        ]);
    });

    it("refuses an intermediate given with more certificates than the one the ceremony signed (a chain with its root)", () => {
        const signed = signIntermediate({
            rootKeyPem: root.keyPem,
            rootCertPem: root.certPem,
            csrPem: csrs["apic-client-ca"],
            validityDays: 365,
        });
        const withRoot = {
            ...base,
            offlineRoots: {
                ...base.offlineRoots,
                clientRoot: { certificate: root.certPem, intermediates: { "apic-client-ca": signed + root.certPem } },
            },
        };
        // Its text becomes the APIC client CA's chain, which APIC's keystore would get with the root.
        assert.throws(() => planFromRawConfig(withRoot), {
            message:
                "invalid stack configuration:\n  - pki:offlineRoots.clientRoot.intermediates.apic-client-ca holds 2 certificates; give the certificate the ceremony signed alone (the file ceremony sign wrote), not a chain",
        });
    });

    it("refuses at pki:offlineRoots.<root>.certificate a version 1 root and a CA that is no root, each with its fix", () => {
        const dir = tempDir("offline-v1");
        const key = rootKeyFile(dir);
        const csr = spawnSync("openssl", ["req", "-new", "-key", key, "-subj", "/O=Example Bank/CN=V1 Root"], {
            encoding: "utf8",
        }).stdout;
        // Self-signed with no extensions: a version 1 certificate, which OpenSSL's strict checks refuse as a CA.
        const v1Root = spawnSync("openssl", ["x509", "-req", "-in", writeTemp(dir, "v1.csr", csr), "-signkey", key], {
            encoding: "utf8",
        }).stdout;
        const withCertificate = (certificate: string) => ({
            ...base,
            offlineRoots: { ...base.offlineRoots, serverRoot: { certificate } },
        });
        const refusal = (problem: string) => ({ message: `invalid stack configuration:\n  - ${problem}` });
        assert.throws(
            () => planFromRawConfig(withCertificate(v1Root)),
            refusal(
                "pki:offlineRoots.serverRoot.certificate holds O=Example Bank, CN=V1 Root, a version 1 certificate (no basicConstraints), " +
                    `which OpenSSL's strict checks (-x509_strict) refuse as a CA ("invalid CA certificate"): re-issue it as v3 with CA:TRUE`,
            ),
        );
        const intermediate = spawnSync(
            "openssl",
            [
                "x509",
                "-req",
                "-in",
                writeTemp(dir, "ca.csr", csr),
                "-CA",
                writeTemp(dir, "root.crt", roots.serverRoot.certPem),
                "-CAkey",
                writeTemp(dir, "ca.key", roots.serverRoot.keyPem),
                "-extfile",
                writeTemp(
                    dir,
                    "ext.cnf",
                    "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n",
                ),
            ],
            { encoding: "utf8" },
        ).stdout;
        assert.throws(
            () => planFromRawConfig(withCertificate(intermediate)),
            refusal(
                "pki:offlineRoots.serverRoot.certificate must be a self-signed CA certificate (subject O=Example Bank, CN=V1 Root); give the root alone (root.crt of the ceremony)",
            ),
        );
    });

    it("refuses a root given with another certificate after it: the whole text would be the anchor APIC trusts", () => {
        // Only the first certificate was checked; APIC's truststores took both, so the mesh root's
        // CAs (a key in every cluster's cacerts) could mint a server certificate APIC accepts.
        const withMeshRoot = {
            ...base,
            offlineRoots: {
                ...base.offlineRoots,
                serverRoot: { certificate: roots.serverRoot.certPem + roots.meshRoot.certPem },
            },
        };
        assert.throws(() => planFromRawConfig(withMeshRoot), {
            message:
                "invalid stack configuration:\n" +
                "  - pki:offlineRoots.serverRoot.certificate holds 2 certificates (O=Example Bank, CN=Example Bank Gateway Server Offline Root; " +
                "O=Example Bank, CN=Example Bank Mesh Offline Root), and each would be a trust anchor wherever this root is trusted; " +
                "give the root alone (root.crt of the ceremony)",
        });
    });

    it("passes on each root as its certificate alone, however it was pasted: APIC's truststore, the gateway's ca.crt, istiod's root-cert.pem", async () => {
        const pasted = (pem: string) =>
            `subject=${new crypto.X509Certificate(pem).subject.replace(/\n/g, ", ")}\n${pem}`.replace(/\n/g, "\r\n");
        const offlineRoots = Object.fromEntries(
            Object.entries(config(signed)).map(([slot, r]) => [slot, { ...r, certificate: pasted(r.certificate) }]),
        );
        const again = await renderConfig({ ...base, offlineRoots }, "offline-pasted-roots", new Map(state));
        assert.strictEqual(again.read("apic/ob/truststore.pem"), rendered.read("apic/ob/truststore.pem"));
        assert.strictEqual(pemBlocks(again.read("apic/ob/truststore.pem"))[0], roots.serverRoot.certPem);
        assert.strictEqual(gatewayServerConfig(again, "ob").caCrt, roots.apicClientRoot.certPem);
        assert.strictEqual(cacerts(again, "example")["root-cert.pem"], roots.meshRoot.certPem);
    });

    it("refuses one root for two trust domains however its text is written: after openssl x509's subject= line, with CRLF", () => {
        // Compared as text, either passed: the server root was then also the client root, and APIC's
        // client CA key could mint what APIC takes for the gateway.
        const withSubjectLine = `subject=O = Example Bank, CN = Example Bank Gateway Server Offline Root\n${roots.serverRoot.certPem}`;
        const withCrlf = roots.serverRoot.certPem.replace(/\n/g, "\r\n");
        for (const certificate of [withSubjectLine, withCrlf]) {
            assert.throws(
                () =>
                    planFromRawConfig({ ...base, offlineRoots: { ...base.offlineRoots, clientRoot: { certificate } } }),
                {
                    message:
                        "invalid stack configuration:\n" +
                        "  - pki:offlineRoots.serverRoot and pki:offlineRoots.clientRoot are the same certificate; each trust domain needs its own root (or set pki:trustDomains shared)",
                },
            );
        }
    });

    it("refuses one root key for two trust domains, in another certificate of it: a verifier trusts the key, not the certificate", () => {
        // Before: compared by certificate only, a certificate the server root's key made again for the
        // client domain planned, and the gateway's ca.crt then took what the server CAs sign.
        const sameKey = rootRemade(
            roots.serverRoot.certPem,
            roots.serverRoot.keyPem,
            "Example Bank APIC Client Offline Root",
            7300,
        );
        const pin = spkiPin(new crypto.X509Certificate(roots.serverRoot.certPem).publicKey);
        assert.throws(
            () =>
                planFromRawConfig({
                    ...base,
                    offlineRoots: { ...base.offlineRoots, clientRoot: { certificate: sameKey } },
                }),
            {
                message:
                    "invalid stack configuration:\n" +
                    `  - pki:offlineRoots.serverRoot and pki:offlineRoots.clientRoot are two certificates of one key (SPKI pin ${pin}): a verifier trusting either accepts what the other's CAs sign; make pki:offlineRoots.serverRoot a root of its own key with "npx apic-istio-pki ceremony init-root --environment example --trust-domain gateway-server" (or set pki:trustDomains shared)`,
            },
        );
    });

    it("refuses a CA the root signed to outlive it (under a root.crt the root key re-made with a later notAfter), naming the key, both dates and the reissue", () => {
        const made = new crypto.X509Certificate(root.certPem);
        // The root key's own certificate again: its serial, subject and notBefore, 3 years longer.
        const longer = rootRemade(root.certPem, root.keyPem, "Example Bank APIC Client Offline Root", 7300 + 3 * 365);
        const outliving = signIntermediate({
            rootKeyPem: root.keyPem,
            rootCertPem: longer,
            csrPem: csrs["apic-client-ca"],
            validityDays: 7300 + 365,
        });
        const cert = new crypto.X509Certificate(outliving);
        assert.ok(cert.verify(made.publicKey) && cert.checkIssued(made), "the CA chains to the root the stack holds");
        const clientRoot = { certificate: root.certPem, intermediates: { "apic-client-ca": outliving } };
        const iso = (time: string): string => new Date(time).toISOString();
        assert.throws(() => planFromRawConfig({ ...base, offlineRoots: { ...base.offlineRoots, clientRoot } }), {
            name: "ConfigError",
            message:
                "invalid stack configuration:\n" +
                `  - pki:offlineRoots.clientRoot.intermediates.apic-client-ca is valid until ${iso(cert.validTo)}, after pki:offlineRoots.clientRoot.certificate (valid until ${iso(made.validTo)}); ` +
                `a CA never outlives its root: sign this stack's CSR again with ceremony sign --reissue ${cert.serialNumber} and --days small enough to end by the root's notAfter`,
        });
    });

    it("refuses a CA the root's key signed under another key identifier (a root.crt made again with another SKI), which no verifier chains", () => {
        const dir = tempDir("offline-other-aki");
        const keyFile = path.join(dir, "root.key");
        fs.writeFileSync(keyFile, root.keyPem, { mode: 0o600 });
        const made = new crypto.X509Certificate(root.certPem);
        const subject = `/${made.subject.split("\n").join("/")}`;
        // The root key's certificate again, its subject the same, its SKI not the SHA-1 of the key.
        const otherSki = path.join(dir, "other-ski.crt");
        const signed = (args: string[]) => assert.strictEqual(openssl(args).status, 0, args.join(" "));
        signed([
            "req",
            "-x509",
            "-new",
            "-key",
            keyFile,
            "-subj",
            subject,
            "-days",
            "3650",
            "-addext",
            "subjectKeyIdentifier=0102030405060708090a0b0c0d0e0f1011121314",
            "-out",
            otherSki,
        ]);
        const csrFile = path.join(dir, "ca.csr");
        fs.writeFileSync(csrFile, csrs["apic-client-ca"]);
        const caFile = path.join(dir, "ca.crt");
        const extensions = path.join(dir, "ca.ext");
        fs.writeFileSync(
            extensions,
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nauthorityKeyIdentifier=keyid:always\n",
        );
        signed([
            "x509",
            "-req",
            "-in",
            csrFile,
            "-CA",
            otherSki,
            "-CAkey",
            keyFile,
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            extensions,
            "-out",
            caFile,
        ]);
        const pem = fs.readFileSync(caFile, "utf8");
        const cert = new crypto.X509Certificate(pem);
        assert.ok(cert.verify(made.publicKey), "the root's key signed it");
        assert.strictEqual(cert.checkIssued(made), false, "its AKI names no key identifier of the root");
        const clientRoot = { certificate: root.certPem, intermediates: { "apic-client-ca": pem } };
        assert.throws(() => planFromRawConfig({ ...base, offlineRoots: { ...base.offlineRoots, clientRoot } }), {
            name: "ConfigError",
            message:
                "invalid stack configuration:\n" +
                "  - pki:offlineRoots.clientRoot.intermediates.apic-client-ca is signed by the key of pki:offlineRoots.clientRoot.certificate, but its issuer or authority key identifier does not name that certificate, so no verifier chains it to the root: " +
                `sign this stack's CSR again with ceremony sign --reissue ${cert.serialNumber}, from the root folder init-root made`,
        });
    });

    it("refuses a certificate the ceremony signed for another key, and one signed by another root", async () => {
        const other = createRoot({ commonName: "Other Root", validityDays: 3650, keyAlgorithm: "ECDSA" });
        assert.throws(
            () =>
                planFromRawConfig({
                    ...base,
                    offlineRoots: {
                        ...base.offlineRoots,
                        clientRoot: {
                            certificate: root.certPem,
                            intermediates: {
                                "apic-client-ca": signIntermediate({
                                    rootKeyPem: other.keyPem,
                                    rootCertPem: other.certPem,
                                    csrPem: csrs["apic-client-ca"],
                                    validityDays: 365,
                                }),
                            },
                        },
                    },
                }),
            /pki:offlineRoots\.clientRoot\.intermediates\.apic-client-ca is not a CA certificate signed by pki:offlineRoots\.clientRoot\.certificate; sign this stack's CSR with that root/,
        );
        assert.throws(
            () =>
                planFromRawConfig({
                    ...base,
                    offlineRoots: { ...base.offlineRoots, clientRoot: { certificate: roots.serverRoot.certPem } },
                }),
            /pki:offlineRoots\.serverRoot and pki:offlineRoots\.clientRoot are the same certificate; each trust domain needs its own root \(or set pki:trustDomains shared\)/,
        );
        const swapped = Object.fromEntries(
            CA_IDS.map((id) => [
                id,
                signIntermediate({
                    rootKeyPem: roots[ROOT_OF[id]].keyPem,
                    rootCertPem: roots[ROOT_OF[id]].certPem,
                    csrPem: csrs[id === "gateway-server-ca" ? "apic-client-ca" : id],
                    validityDays: 1095,
                }),
            ]),
        );
        // The server root signed a CA for the APIC-client CA's key (whoever holds it can now serve
        // APIC): the refusal names the serial to revoke, not only the CSR to sign.
        const rogue = new crypto.X509Certificate(swapped["gateway-server-ca"]);
        const refusal =
            `: IntermediateCa offlineRoot.signedCertPem of gateway-server-ca (in a stack file: pki:offlineRoots.serverRoot.intermediates.gateway-server-ca) certifies another key: sign the CSR gateway-server-ca-csr of this stack. ` +
            `The root made that certificate (serial ${rogue.serialNumber}) a CA for a key this stack does not hold, and it stays one until ${new Date(rogue.validTo).toISOString()}: ` +
            `find out whose key it is, and revoke it in the root's next CRL series (ceremony crl ... --revoke ${rogue.serialNumber}:keyCompromise:${new Date(rogue.validFrom).toISOString()}); ` +
            `a relying party that reads no CRL (APIC) trusts it until the root is replaced`;
        await assert.rejects(
            renderConfig({ ...base, offlineRoots: config(swapped) }, "offline-swapped", state),
            (error: Error) => error.message.endsWith(refusal),
        );
    });

    it("refuses a root or an intermediate the ceremony made with its clock ahead until its notBefore, as Envoy allows no skew", () => {
        // An hour ahead of this machine's clock, as an offline machine's clock can be.
        const now = new Date();
        const ahead = new Date(now.getTime() + 3_600_000);
        const notBefore = new Date(Math.floor(ahead.getTime() / 1000) * 1000).toISOString();
        const meshRoot = createRoot(
            {
                commonName: "Example Bank Mesh Offline Root",
                organization: "Example Bank",
                validityDays: 7300,
                keyAlgorithm: "ECDSA",
            },
            ahead,
        );
        const sign = (root: { keyPem: string; certPem: string }, id: string, at: Date) =>
            signIntermediate(
                { rootKeyPem: root.keyPem, rootCertPem: root.certPem, csrPem: csrs[id], validityDays: 365 },
                at,
            );
        const serverCaAhead = sign(roots.serverRoot, "gateway-server-ca", ahead);
        // What a client of the gateway (BoringSSL, Envoy's rules) makes of the server's chain through it.
        const served = pemBlocks(gatewayServerConfig(rendered, "ob").tlsCrt)[0] + serverCaAhead;
        const verdictAt = (at: Date) =>
            summary(
                decide([
                    [
                        "the gateway's chain",
                        { caCrt: roots.serverRoot.certPem, chain: served, purpose: "sslserver", at },
                    ],
                ])[0][1],
            ).boringssl;
        assert.strictEqual(verdictAt(now), "certificate is not yet valid");
        assert.strictEqual(verdictAt(new Date(notBefore)), "ok");
        const raw = {
            ...base,
            offlineRoots: {
                ...config({
                    "gateway-server-ca": serverCaAhead,
                    "apic-client-ca": sign(roots.apicClientRoot, "apic-client-ca", now),
                }),
                meshRoot: {
                    certificate: meshRoot.certPem,
                    intermediates: { "mesh-ca-example": sign(meshRoot, "mesh-ca-example", ahead) },
                },
            },
        };
        const problemsAt = (when: Date): readonly string[] => planProblems(raw, { now: when });
        const early = (key: string, fix: string) =>
            `${key} is not valid before ${notBefore} (now is ${now.toISOString()}): Envoy refuses every chain through it until then, ` +
            `with no allowance for clock skew (was the offline machine's clock ahead?). Deploy after ${notBefore}, or ${fix}`;
        assert.deepStrictEqual(problemsAt(now), [
            early("pki:offlineRoots.meshRoot.certificate", "set that clock right before the root signs anything"),
            early(
                "pki:offlineRoots.meshRoot.intermediates.mesh-ca-example",
                "set that clock right and sign its CSR again",
            ),
            early(
                "pki:offlineRoots.serverRoot.intermediates.gateway-server-ca",
                "set that clock right and sign its CSR again",
            ),
        ]);
        // From its notBefore on, the same configuration is planned.
        assert.deepStrictEqual(problemsAt(new Date(notBefore)), []);
    });

    it("refuses in diff, inventory and render an intermediate whose root's nameConstraints leave out the stack's hosts, naming the config keys", async () => {
        const dir = tempDir("offline-nc");
        // A root whose nameConstraints permit another domain only, and the stack's CSR signed by it;
        // its name holds "certPem (", which a refusal quotes as it is, naming no config key.
        const rootKey = rootKeyFile(dir);
        const sslOut = (...args: string[]): string => spawnSync("openssl", args, { encoding: "utf8" }).stdout;
        const ncRoot = sslOut(
            ...["req", "-x509", "-new", "-key", rootKey, "-days", "30"],
            ...["-subj", "/O=Example Bank/CN=Example Bank Server Root certPem (NC)"],
            ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ...["-addext", "nameConstraints=critical,permitted;DNS:other.example"],
        );
        const extensions = [
            "basicConstraints = critical, CA:TRUE, pathlen:0",
            "keyUsage = critical, keyCertSign, cRLSign",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid",
        ];
        const serverCa = sslOut(
            ...["x509", "-req", "-in", writeTemp(dir, "ca.csr", csrs["gateway-server-ca"])],
            ...["-CA", writeTemp(dir, "root.crt", ncRoot), "-CAkey", rootKey, "-days", "20", "-set_serial", "7"],
            ...["-extfile", writeTemp(dir, "ext.cnf", extensions.join("\n"))],
        );
        const stackFile = (name: string, offlineRoots: unknown) =>
            writeTemp(
                dir,
                name,
                YAML.stringify({
                    config: Object.fromEntries(
                        Object.entries({ ...base, offlineRoots }).map(([k, v]) => [`pki:${k}`, v]),
                    ),
                }),
            );
        const signedFile = stackFile("signed.yaml", config(signed));
        const ncFile = stackFile("nc.yaml", {
            ...config(signed),
            serverRoot: { certificate: ncRoot, intermediates: { "gateway-server-ca": serverCa } },
        });
        const host = (id: string) =>
            `the gateway-server certificate of endpoint ${id}: its DNS name "${id}.example.api.bank.example"`;
        const refusal =
            `pki:offlineRoots.serverRoot.intermediates.gateway-server-ca: ${host("dp")} is outside the nameConstraints of ` +
            "pki:offlineRoots.serverRoot.certificate (O=Example Bank, CN=Example Bank Server Root certPem (NC)), which permit only DNS:other.example for DNS names: " +
            `Envoy's BoringSSL, OpenSSL and Go would refuse the certificate signed for it ("permitted subtree violation"); ` +
            "give a name within DNS:other.example, or a CA whose nameConstraints allow it";
        const inventory = await cli("inventory", "--config", ncFile);
        const diff = await cli("diff", "--base", signedFile, "--head", ncFile);
        // The suite's keys, which the CSRs above are for: render gets as far as the components' checks.
        const stateFile = path.join(dir, "state.json");
        writeSeededStateFile(stateFile, String((base as Record<string, unknown>).environment));
        const render = await cli("render", "--config", ncFile, "--out", path.join(dir, "out"), "--state", stateFile);
        assert.deepStrictEqual(
            [inventory.status, inventory.err, diff.status, diff.err, render.status, render.err],
            [
                1,
                `invalid stack configuration:\n  - ${refusal}\n`,
                1,
                `invalid stack configuration in --head ${ncFile}:\n  - ${refusal}\n`,
                1,
                `invalid stack configuration:\n  - ${refusal}\n`,
            ],
        );
        assert.strictEqual(fs.existsSync(path.join(dir, "out")), false);
        // The control: the same stack with the ceremony's own root is planned.
        assert.strictEqual((await cli("inventory", "--config", signedFile)).status, 0);
    });

    it("refuses an intermediate that expired before it was ever deployed (the offline machine's clock behind), and only warns of one the deployed record holds", () => {
        const now = new Date();
        // Signed for one day, so that two days on it has expired, as one dated from a clock years behind would have.
        const shortLived = signIntermediate(
            { rootKeyPem: root.keyPem, rootCertPem: root.certPem, csrPem: csrs["apic-client-ca"], validityDays: 1 },
            now,
        );
        const cert = new crypto.X509Certificate(shortLived);
        const later = new Date(now.getTime() + 2 * 86_400_000);
        const raw = { ...base, offlineRoots: config({ ...signed, "apic-client-ca": shortLived }) };
        assert.deepStrictEqual(planProblems(raw, { now: later, deployed: INITIAL_RECORD }), [
            `pki:offlineRoots.clientRoot.intermediates.apic-client-ca expired at ${new Date(cert.validTo).toISOString()} (now is ${later.toISOString()}), before it was ever deployed: ` +
                `Envoy, istiod and APIC refuse every chain through it (was the offline machine's clock behind? it was signed for ${new Date(cert.validFrom).toISOString()}). ` +
                "Set that clock right and sign its CSR again",
        ]);
        // In use (the deployed record holds its serial): its rotation must still run, so it is only warned of.
        const deployed: RotationRecord = {
            ...INITIAL_RECORD,
            cas: {
                "apic-client-ca": {
                    serialHex: cert.serialNumber,
                    notAfter: new Date(cert.validTo).toISOString(),
                    issuer: "client-root",
                },
            },
        };
        assert.deepStrictEqual(planProblems(raw, { now: later, deployed }), []);
        assert.match(
            expiredOfflineMessage(planFromRawConfig(raw, { now: later, deployed }), later) ?? "",
            /^pki:offlineRoots\.clientRoot\.intermediates\.apic-client-ca \(expired /,
        );
    });

    it("warns, at an update after they expired, of the ceremony's certificates in use: nothing here can re-issue them", () => {
        const plan = planFromRawConfig({ ...base, offlineRoots: config(signed) });
        const notAfter = (id: string) => new Date(new crypto.X509Certificate(signed[id]).validTo);
        const times = CA_IDS.map((id) => notAfter(id).getTime());
        assert.strictEqual(expiredOfflineMessage(plan, new Date(Math.min(...times) - 1000)), undefined);
        const on = (id: string) => notAfter(id).toISOString().slice(0, 10);
        assert.strictEqual(
            expiredOfflineMessage(plan, new Date(Math.max(...times))),
            `pki:offlineRoots.serverRoot.intermediates.gateway-server-ca (expired ${on("gateway-server-ca")}), ` +
                `pki:offlineRoots.clientRoot.intermediates.apic-client-ca (expired ${on("apic-client-ca")}), ` +
                `pki:offlineRoots.meshRoot.intermediates.mesh-ca-example (expired ${on("mesh-ca-example")}): ` +
                "every chain through them is refused, and only the ceremony can replace them. " +
                "Rotate each CA (pki:caRotation: a new generation whose CSR the ceremony signs); for a root, hold a ceremony for a new one (npx apic-istio-pki ceremony init-root)",
        );
        // The roots' own end, once each: every generation of a root is its one certificate.
        const rootsEnd = new Date(
            Math.max(...Object.values(roots).map((r) => Date.parse(new crypto.X509Certificate(r.certPem).validTo))),
        );
        assert.deepStrictEqual(
            expiredOfflineMessage(plan, rootsEnd)
                ?.split(": every chain")[0]
                .split(", ")
                .map((item) => item.split(" (")[0]),
            [
                "pki:offlineRoots.meshRoot.certificate",
                "pki:offlineRoots.serverRoot.certificate",
                "pki:offlineRoots.clientRoot.certificate",
                ...[
                    "serverRoot.intermediates.gateway-server-ca",
                    "clientRoot.intermediates.apic-client-ca",
                    "meshRoot.intermediates.mesh-ca-example",
                ].map((k) => `pki:offlineRoots.${k}`),
            ],
        );
    });

    it("renews a CA the ceremony signed for fewer days than pki:validityDays.intermediate by its certificate: inventory, expiry and the lifecycle", async () => {
        // The ceremony signs shorter when told to (--days), and must when the root has less time left.
        const short = { "mesh-ca-example": 60, "apic-client-ca": 90 };
        const resigned = { ...signed };
        for (const [id, validityDays] of Object.entries(short)) {
            resigned[id] = signIntermediate({
                rootKeyPem: roots[ROOT_OF[id]].keyPem,
                rootCertPem: roots[ROOT_OF[id]].certPem,
                csrPem: csrs[id],
                validityDays,
            });
        }
        const shorter = await renderConfig({ ...base, offlineRoots: config(resigned) }, "offline-short", state);
        // Renewed with the configured third of the lifetime the certificate has (not of 1095 days) left.
        const renewAt = (id: string, days: number) =>
            new Date(Date.parse(new crypto.X509Certificate(resigned[id]).validFrom) + days * 86_400_000).toISOString();
        const meshRenewAt = renewAt("mesh-ca-example", 40);
        assert.deepStrictEqual(
            shorter.inventory
                .filter((c) => c.role !== "root" && c.issuer.endsWith("root"))
                .map((c) => [c.id, c.validityDays, c.renewAfterDays, c.renewAt]),
            [
                ["gateway-server-ca", 1095, 730, renewAt("gateway-server-ca", 730)],
                ["apic-client-ca", 90, 60, renewAt("apic-client-ca", 60)],
                ["mesh-ca-example", 60, 40, meshRenewAt],
            ],
        );
        // expiry reads the renewal point from the render's inventory.json (warned of 20 days ahead, its window, only by it).
        const judged = async (now: string) => {
            const { out } = await cli(
                "expiry",
                "--dir",
                shorter.dir,
                "--now",
                now,
                "--warn-days",
                "1",
                "--format",
                "json",
            );
            const rows = (JSON.parse(out) as { rows: { subject: string; renewAt: string; status: string }[] }).rows;
            return rows.filter((r) => r.subject.includes("mesh CA")).map((r) => [r.renewAt, r.status]);
        };
        const before = new Date(Date.parse(meshRenewAt) - 1000).toISOString();
        assert.deepStrictEqual(await judged(before), [[meshRenewAt, "ok"]]);
        assert.deepStrictEqual(await judged(meshRenewAt), [[meshRenewAt, "renew due"]]);
        // The lifecycle proposes the mesh CA's rotation then, whose new CSR the ceremony signs.
        const deployed = readDeployed(shorter.dir);
        const proposed = (now: string) =>
            decideLifecycle({ config: shorter.plan.config, deployed, now: new Date(now), soakDays: 7 })
                .proposals.filter((p) => p.kind === "prepare-ca")
                .map((p) => [p.subject, p.why, p.afterDeploy]);
        assert.deepStrictEqual(proposed(before), []);
        // A window never shorter than a staged rotation's two soaks (MIN_CA_RENEWAL_DAYS), nor longer than the lifetime.
        const windowOf = (validityDays: number) => {
            const pem = signIntermediate({
                rootKeyPem: roots.meshRoot.keyPem,
                rootCertPem: roots.meshRoot.certPem,
                csrPem: csrs["mesh-ca-example"],
                validityDays,
            });
            const ca = planFromRawConfig({ ...base, offlineRoots: config({ ...signed, "mesh-ca-example": pem }) }).cas;
            return ca.filter((c) => c.id === "mesh-ca-example").map((c) => [c.validityDays, c.earlyRenewalDays]);
        };
        assert.deepStrictEqual([30, 10].map(windowOf), [[[30, 14]], [[10, 10]]]);
        const meshNotAfter = new Date(new crypto.X509Certificate(resigned["mesh-ca-example"]).validTo);
        assert.deepStrictEqual(proposed(meshRenewAt), [
            [
                "pki:caRotation.meshCa",
                `its CA (generation 0) is inside its renewal window since ${meshRenewAt.slice(0, 10)} and expires on ${meshNotAfter.toISOString().slice(0, 10)}`,
                "the update stops after making the new CA's key and CSR: sign it at the ceremony " +
                    '("npx apic-istio-pki ceremony sign") and put the certificate under pki:offlineRoots.<root>.intermediates',
            ],
        ]);
    });

    it("has diff replace a CA the ceremony signed anew, same lifetime or not, and every certificate under it, as the engine does; a CSR's first signature is signed", async () => {
        const resign = (id: string, validityDays: number) =>
            signIntermediate({
                rootKeyPem: roots[ROOT_OF[id]].keyPem,
                rootCertPem: roots[ROOT_OF[id]].certPem,
                csrPem: csrs[id],
                validityDays,
            });
        const serial = (pem: string) => new crypto.X509Certificate(pem).serialNumber;
        const planOf = (intermediates: Record<string, string>, more: Record<string, unknown> = {}) =>
            planFromRawConfig({ ...base, ...more, offlineRoots: config(intermediates) });
        const replacedBy = (from: Record<string, string>, to: Record<string, string>, more = {}) =>
            diffPlans(planOf(from, more), planOf(to, more)).replaced.map((c) => [c.id, c.reasons.join("; ")]);
        const again = resign("gateway-server-ca", 1095);
        const resigned = (pem: string) =>
            `the ceremony's certificate: serial ${serial(signed["gateway-server-ca"])} -> ${serial(pem)}`;
        const leaves = [
            ["dp/server", "issuer replaced: gateway-server-ca"],
            ["ob/server", "issuer replaced: gateway-server-ca"],
        ];
        const sameDays = replacedBy(signed, { ...signed, "gateway-server-ca": again });
        assert.deepStrictEqual(sameDays, [["gateway-server-ca", resigned(again)], ...leaves]);
        // The engine re-issues what diff says: each certificate whose serial a render on the same state changes.
        const engine = new Map(state);
        const first = await renderConfig({ ...base, offlineRoots: config(signed) }, "offline-resign-1", engine);
        const second = await renderConfig(
            { ...base, offlineRoots: config({ ...signed, "gateway-server-ca": again }) },
            "offline-resign-2",
            engine,
        );
        const serials = new Map(first.inventory.map((c) => [c.id, c.serial]));
        assert.deepStrictEqual(
            second.inventory.filter((c) => serials.get(c.id) !== c.serial).map((c) => c.id),
            sameDays.map(([id]) => id),
        );
        // Re-issued at once, as diff says of any CA outside a staged rotation.
        assert.deepStrictEqual(
            diffPlans(planOf(signed), planOf({ ...signed, "gateway-server-ca": again })).risks.map((r) => r.change),
            [
                "re-issues 1 issuing CA (gateway-server-ca) at once, outside a staged rotation (pki:caRotation), and with them 2 leaf certificates",
            ],
        );
        const shorter = resign("gateway-server-ca", 90);
        assert.deepStrictEqual(replacedBy(signed, { ...signed, "gateway-server-ca": shorter }), [
            ["gateway-server-ca", `validity changed: 1095 -> 90 days; ${resigned(shorter)}`],
            ...leaves,
        ]);
        // A staged rotation's new mesh CA waits for the ceremony, then is signed (for fewer days than
        // configured): no certificate of the lifetime the plan assumed while it waited was replaced.
        const prepare = { caRotation: JSON.stringify({ meshCa: { generation: 1, phase: "prepare" } }) };
        const g1 = resign("mesh-ca-example", 60);
        assert.deepStrictEqual(replacedBy(signed, { ...signed, "mesh-ca-example-g1": g1 }, prepare), [
            ["mesh-ca-example-g1", `signed: the ceremony signed its CSR, serial ${serial(g1)}`],
        ]);
        const signedNow = diffPlans(planOf(signed, prepare), planOf({ ...signed, "mesh-ca-example-g1": g1 }, prepare));
        // A first signature re-issues nothing: the one risk is that the base waited (its update made only CAs).
        assert.deepStrictEqual(
            signedNow.risks.map((r) => r.change.split(":")[0]),
            ["the base waits for the ceremony (CSR mesh-ca-example-g1)"],
        );
    });

    it("has diff say what a CSR's first signature may create (render creates it all on a new stack) and that the last whole update's diff holds the rest", async () => {
        // Only the APIC client root offline: the first render stops for apic-client-ca's CSR.
        const clientOnly = (intermediates: Record<string, string>) => ({
            ...loadStackFile(OPTION_FILES[1]),
            offlineRoots: { clientRoot: { certificate: root.certPem, intermediates } },
        });
        const engine = seededState();
        const stop = await renderConfig(clientOnly({}), "offline-first-signature-1", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const cert = signWaiting(stop, root, "apic-client-ca");
        const registered = new Set(engine.keys());
        const after = await renderConfig(clientOnly({ "apic-client-ca": cert }), "offline-first-signature-2", engine);
        const diff = diffPlans(
            planFromRawConfig(clientOnly({})),
            planFromRawConfig(clientOnly({ "apic-client-ca": cert })),
        );
        const leaves = ["dp/server", "dp/client", "ob/server", "ob/client"];
        // The base's update made only CAs: the two stack files cannot tell what an earlier one made.
        assert.deepStrictEqual(
            diff.added.map((c) => [c.id, c.unlessDeployed]),
            leaves.map((id) => [id, true]),
        );
        assert.deepStrictEqual(
            diff.risks.map((r) => r.change.split(":")[0]),
            ["the base waits for the ceremony (CSR apic-client-ca)"],
        );
        // What the render after the signature created, and the pending render had not: as diff says.
        assert.deepStrictEqual(madeSince(engine, registered), GATEWAYS_AND_LEAVES);
        assert.deepStrictEqual(
            after.inventory
                .filter((c) => c.role !== "root" && c.role !== "intermediate" && c.role !== "mesh-ca")
                .map((c) => c.id)
                .sort(),
            [...leaves].sort(),
        );
        assert.deepStrictEqual(
            diff.replaced.map((c) => [c.id, c.reasons.join("; ")]),
            [
                [
                    "apic-client-ca",
                    `signed: the ceremony signed its CSR, serial ${new crypto.X509Certificate(cert).serialNumber}`,
                ],
            ],
        );
        assert.strictEqual(diff.unchanged, 5);
        assert.deepStrictEqual(
            diff.places.map((p) => [p.place, p.change, p.unlessDeployed]),
            [
                ["k8s/example/istio-system/secret-apic-mtls-dp", "create", true],
                ["k8s/example/istio-system/secret-apic-mtls-ob", "create", true],
                ["APIC keystore of dp", "create", true],
                ["APIC truststore of dp", "create", true],
                ["APIC keystore of ob", "create", true],
                ["APIC truststore of ob", "create", true],
            ],
        );
        assert.deepStrictEqual(diff.steps.after, [
            "Unless the last update that ran whole made them: route each new host (their VirtualServices: hosts: [dp.example.api.bank.example], gateways: [istio-system/apic-mtls-dp]; hosts: [ob.example.api.bank.example], gateways: [istio-system/apic-mtls-ob]) before APIC calls them: the Gateway serves them from this update on, but routes a host only through a VirtualService that binds it.",
            "Unless the last update that ran whole made them: configure APIC for the new 2 hosts dp.example.api.bank.example and ob.example.api.bank.example: a TLS client profile with the endpoint's keystore and truststore.",
        ]);
    });

    it("has diff show an update whose head still waits for a CSR as render does it: the CAs and a signed mesh CA's cacerts, the rest waiting", async () => {
        // The mesh and gateway server roots offline: two CSRs; the ceremony signs the mesh CA's only.
        const twoRoots = (intermediates: Record<string, string>) => ({
            ...loadStackFile(OPTION_FILES[1]),
            offlineRoots: {
                meshRoot: { certificate: roots.meshRoot.certPem, intermediates: pick(intermediates, "meshRoot") },
                serverRoot: { certificate: roots.serverRoot.certPem, intermediates: pick(intermediates, "serverRoot") },
            },
        });
        const engine = seededState();
        const stop = await renderConfig(twoRoots({}), "offline-one-signed-1", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const meshCa = signWaiting(stop, roots.meshRoot, "mesh-ca-example");
        const registered = new Set(engine.keys());
        const again = await renderConfig(twoRoots({ "mesh-ca-example": meshCa }), "offline-one-signed-2", engine).catch(
            (e: Error) => e,
        );
        assert.ok(again instanceof PendingSignaturesError, String(again));
        assert.deepStrictEqual(madeSince(engine, registered), ["kubernetes:core/v1:Secret::mesh-ca-example-cacerts"]);
        const diff = diffPlans(
            planFromRawConfig(twoRoots({})),
            planFromRawConfig(twoRoots({ "mesh-ca-example": meshCa })),
        );
        assert.deepStrictEqual(diff.added, []);
        assert.deepStrictEqual(
            diff.replaced.map((c) => [c.id, c.reasons.join("; ")]),
            [
                [
                    "mesh-ca-example",
                    `signed: the ceremony signed its CSR, serial ${new crypto.X509Certificate(meshCa).serialNumber}`,
                ],
            ],
        );
        // It signs a CSR the base waited for: its cacerts may replace one the last whole update made (under
        // the online root an offline one replaced meanwhile), so it is a "may", and the base-waits risk holds.
        assert.deepStrictEqual(
            diff.places.map((p) => [p.place, p.change, p.unlessDeployed]),
            [["k8s/example/istio-system/secret-cacerts", "create", true]],
        );
        assert.deepStrictEqual(
            diff.risks.filter((r) => r.change.startsWith("the base waits for the ceremony")).map((r) => r.key),
            ["pki:offlineRoots"],
        );
        // Signing the gateway server CA alone while the mesh CA waits writes nothing beyond the CAs: no such risk.
        const serverCa = signWaiting(stop, roots.serverRoot, "gateway-server-ca");
        const serverOnly = diffPlans(
            planFromRawConfig(twoRoots({})),
            planFromRawConfig(twoRoots({ "gateway-server-ca": serverCa })),
        );
        assert.deepStrictEqual(
            [serverOnly.places, serverOnly.risks.filter((r) => r.change.startsWith("the base waits for the ceremony"))],
            [[], []],
        );
        assert.deepStrictEqual(diff.steps, {
            before: [],
            after: [
                "The rest waits for the ceremony: the offline roots have not signed gateway-server-ca yet, so this pulumi up registers only the CAs' keys and CSRs and the cacerts of the mesh CAs signed, deletes nothing and stops. " +
                    "Everything else this change makes (leaves, the gateway's Secrets, APIC's bundles) comes after it: sign the CSR (pulumi stack output intermediateCsrs), put the certificate under pki:offlineRoots and diff again.",
            ],
        });
    });

    it("has diff name no base-waits risk when the head waits too: its update deploys nothing the last update that ran whole made", async () => {
        // A deployed stack's CSR waits (D); endpoint cx is added before the ceremony signs it (D2).
        const stack = loadStackFileValues(OPTION_FILES[1]);
        const raw = (more: Record<string, unknown> = {}) => ({
            ...stack,
            ...more,
            offlineRoots: { meshRoot: { certificate: roots.meshRoot.certPem, intermediates: {} } },
        });
        const cx = { domains: { ...(stack.domains as object), cx: { namespace: "cx", services: ["cx-accounts"] } } };
        const engine = seededState();
        const stop = await renderConfig(raw(), "offline-both-wait-1", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const registered = new Set(engine.keys());
        const again = await renderNext(raw(cx), "offline-both-wait-2", engine).catch((e: Error) => e);
        assert.ok(again instanceof PendingSignaturesError, String(again));
        assert.deepStrictEqual(madeSince(engine, registered), [], "the update of a head that waits deploys nothing");
        const diff = diffPlans(planFromRawConfig(raw()), planFromRawConfig(raw(cx)));
        assert.deepStrictEqual([diff.added, diff.places, diff.risks.map((r) => r.change.split(":")[0])], [[], [], []]);
    });

    it("has diff say what a mesh CA's first signature may create: render creates the gateway after it, unless the last update that ran whole made it", async () => {
        // Only the mesh root offline: the first render stops for the mesh CA alone, and builds no gateway.
        const meshOnly = (intermediates: Record<string, string>) => ({
            ...loadStackFile(OPTION_FILES[1]),
            offlineRoots: { meshRoot: { certificate: roots.meshRoot.certPem, intermediates } },
        });
        const engine = seededState();
        const stop = await renderConfig(meshOnly({}), "offline-mesh-first-1", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const meshCa = signWaiting(stop, roots.meshRoot, "mesh-ca-example");
        const registered = new Set(engine.keys());
        await renderConfig(meshOnly({ "mesh-ca-example": meshCa }), "offline-mesh-first-2", engine);
        assert.deepStrictEqual(
            madeSince(engine, registered),
            [...GATEWAYS_AND_LEAVES, "kubernetes:core/v1:Secret::mesh-ca-example-cacerts"].sort(),
        );
        const diff = diffPlans(
            planFromRawConfig(meshOnly({})),
            planFromRawConfig(meshOnly({ "mesh-ca-example": meshCa })),
        );
        // The cacerts of the mesh CA signed now is written, created or replaced: the base's update cannot tell which.
        assert.deepStrictEqual(
            diff.replaced.map((c) => [c.id, c.forces.join("; ")]),
            [
                [
                    "mesh-ca-example",
                    "new certificate (same key); may create secret k8s/example/istio-system/secret-cacerts",
                ],
            ],
        );
        const maybe = "may be created by this update (unless the last update that ran whole made it)";
        assert.deepStrictEqual(
            diff.added.map((c) => [c.id, c.forces.join("; ")]),
            ["dp/server", "dp/client", "ob/server", "ob/client"].map((id) => [id, maybe]),
        );
        assert.deepStrictEqual(
            diff.places.map((p) => [p.place, p.change, p.unlessDeployed === true]),
            [
                ["k8s/example/istio-system/secret-apic-mtls-dp", "create", true],
                ["k8s/example/istio-system/secret-apic-mtls-ob", "create", true],
                ["k8s/example/istio-system/secret-cacerts", "create", true],
                ["APIC keystore of dp", "create", true],
                ["APIC truststore of dp", "create", true],
                ["APIC keystore of ob", "create", true],
                ["APIC truststore of ob", "create", true],
            ],
        );
        const report = diffMarkdown(diff, "mesh CA signed");
        assert.ok(
            report.includes(
                "1. **pulumi up:** re-issues 1 certificate; may create 4 certificates and change 7 Kubernetes secrets and APIC bundles " +
                    "(unless the last update that ran whole did: the base waits for the ceremony, see its risk).\n" +
                    "2. **After:** Unless the last update that ran whole made them: route each new host (their VirtualServices: hosts: [dp.example.api.bank.example], gateways: [istio-system/apic-mtls-dp]; " +
                    "hosts: [ob.example.api.bank.example], gateways: [istio-system/apic-mtls-ob]) before APIC calls them: " +
                    "the Gateway serves them from this update on, but routes a host only through a VirtualService that binds it.\n" +
                    "3. **After:** Unless the last update that ran whole made them: configure APIC for the new 2 hosts dp.example.api.bank.example and ob.example.api.bank.example: " +
                    "a TLS client profile with the endpoint's keystore and truststore.\n",
            ),
            report,
        );
        assert.ok(
            report.includes(
                "| k8s/example/istio-system/secret-apic-mtls-dp, k8s/example/istio-system/secret-apic-mtls-ob | may be created (the base waits for the ceremony) | tls.crt, tls.key, ca.crt |",
            ),
            report,
        );
    });

    it("refuses removing a cluster with ECDSA CA keys under an offline mesh root for the kept mesh CAs' CRLs, and its way out works: RSA with the ceremony's new signatures, then the removal with the root's next CRL series", async () => {
        const start = new Date(Date.now() + 60_000);
        const day = (n: number) => new Date(start.getTime() + n * 86_400_000);
        const two = (caKeyAlgorithm: string, intermediates: Record<string, string>, crls = "") => ({
            ...loadStackFile(OPTION_FILES[1]),
            caKeyAlgorithm,
            clusters: [
                { name: "east", context: "bank-east" },
                { name: "west", context: "bank-west" },
            ],
            offlineRoots: {
                meshRoot: {
                    certificate: roots.meshRoot.certPem,
                    intermediates,
                    ...(crls !== "" ? { crls } : {}),
                },
            },
        });
        // The removal takes the cluster's CA out of the root's intermediates too.
        const eastOnly = (raw: ReturnType<typeof two>) => {
            const { meshRoot } = raw.offlineRoots;
            const intermediates = { "mesh-ca-east": meshRoot.intermediates["mesh-ca-east"] };
            return {
                ...raw,
                clusters: raw.clusters.slice(0, 1),
                offlineRoots: { meshRoot: { ...meshRoot, intermediates } },
            };
        };
        const signAll = (dir: string, ids: string[]) =>
            Object.fromEntries(
                ids.map((id) => [
                    id,
                    signIntermediate({
                        rootKeyPem: roots.meshRoot.keyPem,
                        rootCertPem: roots.meshRoot.certPem,
                        csrPem: fs.readFileSync(path.join(dir, `${id}.csr`), "utf8"),
                        validityDays: 1095,
                    }),
                ]),
            );
        const serial = (pem: string) => new crypto.X509Certificate(pem).serialNumber;
        const engine = seededState();
        const pending = (raw: Record<string, unknown>, label: string, now: Date) =>
            renderNext(raw, label, engine, now).then(
                () => "rendered",
                (e: Error) =>
                    e instanceof PendingSignaturesError ? e.message.split("CSRs written to ")[1] : e.message,
            );
        const ids = ["mesh-ca-east", "mesh-ca-west"];
        const ecdsa = signAll(await pending(two("ECDSA", {}), "offline-ecdsa-removal-1", day(0)), ids);
        await renderNext(two("ECDSA", ecdsa), "offline-ecdsa-removal-2", engine, day(0));
        // Removing west with ECDSA keys: refused, by pulumi up and diff alike, for the kept mesh CAs' CRLs.
        const problem =
            "removes cluster west, whose mesh CA mesh-ca-west must be revoked in the mesh root's CRL: " +
            "until then its key (in that cluster's cacerts and its backups) can mint any workload identity the other clusters' sidecars accept " +
            "(istiod, which applies no CRL to its clients, accepts it until the mesh root is replaced: a new ceremony's root as pki:offlineRoots.meshRoot). " +
            "The ceremony signs that CRL (pki:offlineRoots.meshRoot.crls), but from then on every cluster's cacerts carries ca-crl.pem, with the CRL of each kept mesh CA, " +
            "which the stack signs with that CA's key on every run: that needs pki:caKeyAlgorithm RSA, as CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview; " +
            "keep the cluster, set pki:caKeyAlgorithm RSA in a change of its own first (every CA the stack makes is re-issued at once: see what diff says it breaks; " +
            "pki:offlineRoots.meshRoot stays, so the old ECDSA mesh CA still chains to it: note its serial first, " +
            "with openssl x509 -noout -serial on the PEM at pki:offlineRoots.meshRoot.intermediates.mesh-ca-west or from the ceremony's issuance.log; " +
            "in that change take the old ECDSA certificates out of pki:offlineRoots.meshRoot.intermediates, as they certify the old keys: the stack then waits for the CAs' new CSRs, which the ceremony signs), " +
            "then remove the cluster: the refusal then names the ceremony crl command that revokes its mesh CA in the mesh root's next CRL series; add --revoke <serial>:superseded:<time> for the old ECDSA one";
        assert.deepStrictEqual(
            [
                await pending(eastOnly(two("ECDSA", ecdsa)), "-", day(1)),
                diffPlans(planFromRawConfig(two("ECDSA", ecdsa)), planFromRawConfig(eastOnly(two("ECDSA", ecdsa))))
                    .refused,
            ],
            [`invalid stack configuration:\n  - pki:clusters ${problem}`, [{ key: "pki:clusters", problem }]],
        );
        // The way out: RSA in a change of its own, the ceremony signing the mesh CAs' new CSRs.
        const staleOf = (c: string) =>
            `  - pki:offlineRoots.meshRoot.intermediates.mesh-ca-${c} (serial ${serial(ecdsa[`mesh-ca-${c}`])}) certifies an ECDSA key, but pki:caKeyAlgorithm is RSA: ` +
            `the stack makes mesh-ca-${c} a new RSA key, which that certificate does not certify. ` +
            "Remove it from pki:offlineRoots.meshRoot.intermediates (note its serial first: it stays a CA under the root until revoked or expired); " +
            "the stack then writes the CSR of the new key (pulumi stack output intermediateCsrs) for the ceremony to sign";
        // RSA with the ECDSA certificates kept: refused by the plan, before any key or CSR changes.
        const states = () => new Map([...engine].map(([urn, r]) => [urn, JSON.stringify(r)]));
        const deployed = states();
        const stale = await pending(two("RSA", ecdsa), "-", day(2));
        const after = states();
        assert.deepStrictEqual(
            [...new Set([...deployed.keys(), ...after.keys()])].filter((urn) => deployed.get(urn) !== after.get(urn)),
            [],
            "the refused update changes no resource",
        );
        // diff and inventory plan it as render does: the same refusal.
        assert.deepStrictEqual(
            planProblems(two("RSA", ecdsa), { now: day(2) }),
            ["east", "west"].map(staleOf).map((p) => p.slice(4)),
        );
        const csrDir = await pending(two("RSA", {}), "offline-ecdsa-removal-3", day(2));
        const rsa = signAll(csrDir, ids);
        const switched = await renderNext(two("RSA", rsa), "offline-ecdsa-removal-4", engine, day(2));
        // Then the removal: refused until the root's series revokes the new CA, then published.
        const refused = await pending(eastOnly(two("RSA", rsa)), "-", day(3));
        // diff refuses it alike, reading the mesh CA's serial from the base's stack file, and dating
        // its retirement by its own clock (now: the start of its CRL period, or the CA's notBefore).
        const diffDir = tempDir("offline-ecdsa-removal-diff");
        const stackFile = (name: string, raw: Record<string, unknown>) =>
            writeTemp(
                diffDir,
                name,
                JSON.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
            );
        const [baseFile, headFile] = [
            stackFile("two.yaml", two("RSA", rsa)),
            stackFile("east.yaml", eastOnly(two("RSA", rsa))),
        ];
        const diff = await cli("diff", "--base", baseFile, "--head", headFile);
        const ecdsaHead = stackFile("east-ecdsa.yaml", eastOnly(two("ECDSA", ecdsa)));
        const ecdsaDiff = await cli(
            "diff",
            "--base",
            stackFile("two-ecdsa.yaml", two("ECDSA", ecdsa)),
            "--head",
            ecdsaHead,
        );
        const diffRetiredAt = new Date(
            Math.max(
                crlWindow(new Date(), 7).thisUpdate.getTime(),
                Date.parse(new crypto.X509Certificate(rsa["mesh-ca-west"]).validFrom),
            ),
        ).toISOString();
        assert.deepStrictEqual(
            [ecdsaDiff.status, ecdsaDiff.err, diff.status, diff.out, diff.err],
            [
                // With ECDSA keys, the removal's own refusal, as render's.
                1,
                `invalid stack configuration in --head ${ecdsaHead}:\n  - pki:clusters ${problem}\n`,
                1,
                "",
                `invalid stack configuration in --head ${headFile}:\n` +
                    `  - pki:offlineRoots.meshRoot.crls is needed: its retired CA mesh-ca-west (serial ${serial(rsa["mesh-ca-west"])}) must be revoked by this root; ` +
                    `on the offline machine run "npx apic-istio-pki ceremony crl --root <the meshRoot folder> --period-days 7 --periods 13 ` +
                    `--revoke ${serial(rsa["mesh-ca-west"])}:superseded:${diffRetiredAt} --out crls.pem" and set pki:offlineRoots.meshRoot.crls to the crls.pem it writes\n`,
            ],
        );
        // The ceremony runs the command it names, with the old ECDSA CA of west added as the refusal said.
        const retiredAt = new Date(/:superseded:(\S+) /.exec(refused)?.[1] ?? "");
        const revoked = [
            { serialHex: serial(rsa["mesh-ca-west"]), revokedAt: retiredAt, reason: "superseded" },
            { serialHex: serial(ecdsa["mesh-ca-west"]), revokedAt: retiredAt, reason: "superseded" },
        ];
        const series = signCrlSeries({
            rootKeyPem: roots.meshRoot.keyPem,
            rootCertPem: roots.meshRoot.certPem,
            revoked,
            windows: crlSeriesWindows({
                rootCertPem: roots.meshRoot.certPem,
                revoked,
                ...{ from: day(3), periodDays: 7, periods: 13, firstNumber: 1, now: day(3) },
            }),
        })
            .map((c) => c.pem)
            .join("");
        const removed = await renderNext(eastOnly(two("RSA", rsa, series)), "offline-ecdsa-removal-5", engine, day(4));
        // What a sidecar of east checks a peer's CA against: root-cert.pem and ca-crl.pem, every CRL.
        const east = cacerts(removed, "east");
        const caCrl = east["ca-crl.pem"] ?? "";
        const dir = tempDir("offline-ecdsa-removal-verify");
        const verdict = (ca: string) => {
            const file = writeTemp(dir, "ca.pem", ca);
            return openssl([
                ...["verify", "-crl_check_all", "-attime", `${Math.floor(day(4).getTime() / 1000)}`],
                ...["-CAfile", writeTemp(dir, "root.pem", east["root-cert.pem"])],
                ...["-CRLfile", writeTemp(dir, "crls.pem", caCrl)],
                file,
            ])
                .output.replaceAll(file, "ca.pem")
                .trim();
        };
        assert.deepStrictEqual(
            {
                stale,
                refused,
                switched: serial(cacerts(switched, "east")["ca-cert.pem"]),
                crlSigners: caCrl
                    .split(/(?<=-----END X509 CRL-----\n)/)
                    .map((crl) => openssl(["crl", "-noout", "-issuer"], crl).output.trim()),
                verdicts: [ecdsa["mesh-ca-west"], rsa["mesh-ca-west"], rsa["mesh-ca-east"]].map(verdict),
            },
            {
                stale: `invalid stack configuration:\n${["east", "west"].map(staleOf).join("\n")}`,
                refused:
                    "invalid stack configuration:\n" +
                    `  - pki:offlineRoots.meshRoot.crls is needed: its retired CA mesh-ca-west (serial ${revoked[0].serialHex}) must be revoked by this root; ` +
                    `on the offline machine run "npx apic-istio-pki ceremony crl --root <the meshRoot folder> --period-days 7 --periods 13 ` +
                    `--revoke ${revoked[0].serialHex}:superseded:${retiredAt.toISOString()} --out crls.pem" and set pki:offlineRoots.meshRoot.crls to the crls.pem it writes`,
                switched: serial(rsa["mesh-ca-east"]),
                crlSigners: [
                    "issuer=O = Example Bank, CN = Example Bank Mesh Offline Root",
                    "issuer=O = Example Bank, CN = example mesh CA east",
                ],
                verdicts: [
                    ...Array(2).fill(
                        "O = Example Bank, CN = example mesh CA west\nerror 23 at 0 depth lookup: certificate revoked\nerror ca.pem: verification failed",
                    ),
                    "ca.pem: OK",
                ],
            },
        );
    });

    it("has diff say, while the CSR of an offline root added to a deployed stack waits, only what render makes, and at its signature that the last whole update's diff holds the rest", async () => {
        // A deployed stack (A) takes an offline server root (B: its CSR waits), then the signature (C).
        const online = loadStackFile(OPTION_FILES[1]);
        const withRoot = (intermediates: Record<string, string>) => ({
            ...online,
            offlineRoots: { serverRoot: { certificate: roots.serverRoot.certPem, intermediates } },
        });
        const engine = seededState();
        const a = await renderConfig(online, "offline-added-root-a", engine);
        const registered = new Set(engine.keys());
        const stop = await renderNext(withRoot({}), "offline-added-root-b", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const madeByB = [...engine.keys()].filter((k) => !registered.has(k));
        assert.deepStrictEqual(
            madeByB.filter((k) => /LocallySignedCert|SelfSignedCert|core\/v1:Secret|Gateway::/.test(k)),
            [],
        );
        const cert = signWaiting(stop, roots.serverRoot, "gateway-server-ca");
        const c = await renderNext(withRoot({ "gateway-server-ca": cert }), "offline-added-root-c", engine);
        const serials = new Map(a.inventory.map((x) => [x.id, x.serial]));
        const reissued = c.inventory.filter((x) => serials.get(x.id) !== x.serial).map((x) => x.id);
        assert.deepStrictEqual(reissued.sort(), ["dp/server", "gateway-server-ca", "ob/server", "server-root"]);
        const [planA, planB, planC] = [online, withRoot({}), withRoot({ "gateway-server-ca": cert })].map((raw) =>
            planFromRawConfig(raw),
        );

        // A -> B: the update registers the CA's key and CSR, and changes nothing render did not.
        const ab = diffPlans(planA, planB);
        assert.deepStrictEqual(
            [ab.csrs, ab.added, ab.replaced, ab.removed, ab.places],
            [["gateway-server-ca"], [], [], [], []],
        );
        // Its risks warn ahead of what the signature's update does.
        assert.ok(
            ab.risks.some((r) => r.change.includes("server-root")),
            JSON.stringify(ab.risks),
        );
        const abReport = diffMarkdown(ab, "server root offline");
        assert.ok(
            abReport.includes(
                "1. **pulumi up:** registers the key and CSR of 1 CA for the ceremony (gateway-server-ca).\n2. **After:** The rest waits for the ceremony",
            ),
            abReport,
        );

        // B -> C: B's update made only the CA: what is deployed (A's) is not in these stack files.
        const bc = diffPlans(planB, planC);
        const waits = bc.risks.find((r) => r.change.startsWith("the base waits"));
        assert.deepStrictEqual(waits, {
            key: "pki:offlineRoots",
            change: "the base waits for the ceremony (CSR gateway-server-ca): this update also deploys what the changes since the last update that ran whole made, their risks included, which two stack files cannot show",
            breaks:
                "what this diff calls created may exist already, and what those changes replace, delete or re-issue (a root made offline, an endpoint added, a CA rotation's phase) is not listed here: " +
                "if they made a root offline, this update deletes the online root it replaces and re-issues the certificates under it, with APIC's uploads and istiod's restart that takes",
            instead:
                "review their diff, and take its steps with this update's: npx apic-istio-pki diff --base <the commit, or a copy of the stack file, of the last update that ran whole> --head <this stack file> (npm run diff -- ... in this repository)",
        });
        assert.deepStrictEqual(
            bc.added.map((x) => [x.id, x.unlessDeployed]),
            ["dp/server", "dp/client", "ob/server", "ob/client"].map((id) => [id, true]),
        );
        assert.ok(bc.places.length > 0 && bc.places.every((p) => p.unlessDeployed === true));
        // The command the risk names: A's file against C's shows the root replaced, the leaves re-issued, and its risk.
        const ac = diffPlans(planA, planC);
        assert.deepStrictEqual(ac.replaced.map((x) => x.id).sort(), [
            "dp/server",
            "gateway-server-ca",
            "ob/server",
            "server-root",
        ]);
        assert.ok(
            ac.risks.some((r) => r.change.includes("server-root")),
            JSON.stringify(ac.risks),
        );
    });

    it("has diff say the same of an offline mesh root added to a deployed stack: its CSR registered, then the last whole update's diff", async () => {
        const online = loadStackFile(OPTION_FILES[1]);
        const withRoot = (intermediates: Record<string, string>) => ({
            ...online,
            offlineRoots: { meshRoot: { certificate: roots.meshRoot.certPem, intermediates } },
        });
        const engine = seededState();
        const a = await renderConfig(online, "offline-added-mesh-a", engine);
        const stop = await renderNext(withRoot({}), "offline-added-mesh-b", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        const cert = signWaiting(stop, roots.meshRoot, "mesh-ca-example");
        const c = await renderNext(withRoot({ "mesh-ca-example": cert }), "offline-added-mesh-c", engine);
        const cacertsOf = (r: Rendered) => r.read("k8s/example/istio-system/secret-cacerts.yaml");
        assert.notStrictEqual(cacertsOf(c), cacertsOf(a), "render C writes the new mesh CA's cacerts");
        const [planA, planB, planC] = [online, withRoot({}), withRoot({ "mesh-ca-example": cert })].map((raw) =>
            planFromRawConfig(raw),
        );
        const ab = diffPlans(planA, planB);
        assert.deepStrictEqual(
            [ab.csrs, ab.added, ab.replaced, ab.removed, ab.places],
            [["mesh-ca-example"], [], [], [], []],
        );
        const bc = diffPlans(planB, planC);
        assert.deepStrictEqual(
            bc.risks.map((r) => r.key),
            ["pki:offlineRoots"],
        );
        assert.deepStrictEqual(
            bc.places.map((p) => [p.place, p.change, p.unlessDeployed]),
            [
                ["k8s/example/istio-system/secret-apic-mtls-dp", "create", true],
                ["k8s/example/istio-system/secret-apic-mtls-ob", "create", true],
                ["k8s/example/istio-system/secret-cacerts", "create", true],
                ["APIC keystore of dp", "create", true],
                ["APIC truststore of dp", "create", true],
                ["APIC keystore of ob", "create", true],
                ["APIC truststore of ob", "create", true],
            ],
        );
        const ac = diffPlans(planA, planC);
        assert.ok(
            ac.steps.after.some((s) => s.startsWith("Restart istiod of example")),
            JSON.stringify(ac.steps),
        );
    });

    it("has diff show an endpoint added while a CA rotation's CSR waits: not by the pending update, and at the signature as something that may be created", async () => {
        // A deployed stack under an offline server root (C) starts a rotation and adds endpoint cx (D: g1's CSR waits), then g1 is signed (E).
        const stack = loadStackFileValues(OPTION_FILES[1]);
        const domains = stack.domains as Record<string, unknown>;
        const raw = (intermediates: Record<string, string>, more: Record<string, unknown> = {}) => ({
            ...stack,
            ...more,
            offlineRoots: { serverRoot: { certificate: roots.serverRoot.certPem, intermediates } },
        });
        const engine = seededState();
        const first = await renderConfig(raw({}), "offline-rotation-cx-0", engine).catch((e: Error) => e);
        assert.ok(first instanceof PendingSignaturesError, String(first));
        const signCsr = (stop: Error, id: string) => signWaiting(stop, roots.serverRoot, id);
        const g0 = { "gateway-server-ca": signCsr(first, "gateway-server-ca") };
        await renderNext(raw(g0), "offline-rotation-cx-c", engine);
        const prepare = {
            caRotation: { gatewayServerCa: { generation: 1, phase: "prepare" } },
            domains: { ...domains, cx: { namespace: "cx", services: ["cx-accounts"] } },
        };
        const registered = new Set(engine.keys());
        const stop = await renderNext(raw(g0, prepare), "offline-rotation-cx-d", engine).catch((e: Error) => e);
        assert.ok(stop instanceof PendingSignaturesError, String(stop));
        assert.deepStrictEqual(
            [...engine.keys()].filter((k) => !registered.has(k) && /-cx-|cx-gateway/.test(k)),
            [],
            "the pending update makes nothing of cx",
        );
        const g1 = { ...g0, "gateway-server-ca-g1": signCsr(stop, "gateway-server-ca-g1") };
        await renderNext(raw(g1, prepare), "offline-rotation-cx-e", engine);
        const cx = [...engine.keys()].filter(
            (k) => !registered.has(k) && /LocallySignedCert|core\/v1:Secret/.test(k) && /cx/.test(k),
        );
        assert.deepStrictEqual(cx.sort(), [
            "kubernetes:core/v1:Secret::cx-gateway-cx-tls",
            "tls:index/locallySignedCert:LocallySignedCert::cx-apic-client-cert",
            "tls:index/locallySignedCert:LocallySignedCert::cx-gateway-cx-server-cert",
        ]);
        const [planC, planD, planE] = [raw(g0), raw(g0, prepare), raw(g1, prepare)].map((r) => planFromRawConfig(r));
        const cd = diffPlans(planC, planD);
        assert.deepStrictEqual([cd.csrs, cd.added, cd.places], [["gateway-server-ca-g1"], [], []]);
        const de = diffPlans(planD, planE);
        assert.deepStrictEqual(
            de.added.filter((x) => x.id.startsWith("cx/")).map((x) => [x.id, x.unlessDeployed]),
            [
                ["cx/server", true],
                ["cx/client", true],
            ],
        );
        assert.deepStrictEqual(
            de.places.filter((p) => p.owner === "cx").map((p) => [p.place, p.change, p.unlessDeployed]),
            [
                ["k8s/example/istio-system/secret-apic-mtls-cx", "create", true],
                ["APIC keystore of cx", "create", true],
                ["APIC truststore of cx", "create", true],
            ],
        );
        assert.ok(
            de.steps.after.some(
                (s) =>
                    s.startsWith(
                        "Unless the last update that ran whole made them: configure APIC for the new 3 hosts",
                    ) && s.includes("cx.example.api.bank.example"),
            ),
            JSON.stringify(de.steps.after),
        );
        assert.ok(de.risks.some((r) => r.key === "pki:offlineRoots"));
    });

    it("makes the Pulumi entry point create only the CAs' keys and CSRs, export them and report an error", async () => {
        pulumi.runtime.setAllConfig(
            Object.fromEntries(
                Object.entries(base).map(([k, v]) => [`pki:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
            ),
            [],
        );
        const errors: string[] = [];
        const originalError = console.error;
        console.error = (...args: unknown[]) => errors.push(args.join(" "));
        try {
            const { engine, outputs } = await runWithStandIn(
                () => {
                    const modulePath = require.resolve("../lib/program");
                    delete require.cache[modulePath];
                    // eslint-disable-next-line @typescript-eslint/no-require-imports
                    return (require(modulePath) as () => Promise<{ intermediateCsrs: Record<string, string> }>)();
                },
                { state: new Map(state) },
            );
            assert.deepStrictEqual(Object.keys(outputs.intermediateCsrs), CA_IDS);
            for (const id of CA_IDS) assert.match(outputs.intermediateCsrs[id], /^-----BEGIN CERTIFICATE REQUEST-----/);
            const types = new Set(engine.resources.map((r) => r.type));
            assert.ok(!types.has("tls:index/locallySignedCert:LocallySignedCert"), "no certificate is issued");
            assert.ok(!types.has("kubernetes:core/v1:Secret"), "no secret without certificates");
            assert.ok(
                errors.some((e) => e.includes("the offline roots have not signed gateway-server-ca")),
                errors.join("\n"),
            );
        } finally {
            console.error = originalError;
            pulumi.runtime.setAllConfig({}, []);
        }
    });
});

describe("IntermediateCa and MeshPluginCa with an offline root, used alone", function () {
    this.timeout(60_000);

    it("take from the ceremony only a CA certificate the offline root signed for their own key", async () => {
        const root = createRoot({ commonName: "Ceremony Root", validityDays: 3650, keyAlgorithm: "ECDSA" });
        const other = createRoot({ commonName: "Other Root", validityDays: 3650, keyAlgorithm: "ECDSA" });
        const state: EngineState = new Map();
        // Each component alone, as a program of its own; its key stays in `state` between runs.
        const run = (component: "lone-ca" | "lone-mesh", signedCertPem?: string, rootCertPem = root.certPem) =>
            runWithStandIn(
                () => {
                    const offlineRoot = { rootCertPem, signedCertPem };
                    const ca =
                        component === "lone-ca"
                            ? new IntermediateCa(component, {
                                  offlineRoot,
                                  subject: { commonName: "Lone CA" },
                                  keyAlgorithm: "ECDSA",
                              })
                            : new MeshPluginCa(component, { offlineRoot, cluster: "lab", keyAlgorithm: "ECDSA" });
                    return { csrPem: ca.csrPem, certPem: ca.certPem };
                },
                { state },
            );
        // Stage one: the CSRs.
        const csr = (await run("lone-ca")).outputs.csrPem;
        const meshCsr = (await run("lone-mesh")).outputs.csrPem;
        const asLeaf = (csrPem: string) =>
            tlsProvider.locallySignedCert({
                certRequestPem: csrPem,
                caCertPem: root.certPem,
                caPrivateKeyPem: root.keyPem,
                allowedUses: ["digital_signature", "client_auth"],
                validityPeriodHours: 24,
            }).state.certPem as string;
        const signedBy = (by: { keyPem: string; certPem: string }, csrPem: string) =>
            signIntermediate({ rootKeyPem: by.keyPem, rootCertPem: by.certPem, csrPem, validityDays: 365 });
        // An output refused once it resolves reaches the program through the SDK's serializer, which
        // prefixes its own words (twice for the mesh CA: cacerts' stringData holds the certificate).
        const verdict = (component: "lone-ca" | "lone-mesh", signed: string | undefined, rootCertPem?: string) =>
            run(component, signed, rootCertPem).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
        const verify = (cert: string) =>
            openssl(
                ["verify", "-CAfile", writeTemp(tempDir("lone-root"), "root.pem", root.certPem), "-purpose", "any"],
                cert,
            ).output.trim();
        const notCa = asLeaf(csr);
        const foreign = signedBy(other, csr);
        const good = signedBy(root, csr);
        assert.deepStrictEqual(
            [
                await verdict("lone-ca", notCa),
                await verdict("lone-ca", foreign),
                await verdict("lone-ca", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                await verdict("lone-mesh", signedBy(other, meshCsr)),
                // Another root after it would be a trust anchor too (istiod's root-cert.pem), signed or pending.
                await verdict("lone-mesh", signedBy(root, meshCsr), root.certPem + other.certPem),
                await verdict("lone-ca", undefined, root.certPem + other.certPem),
                // Joined by cat with no newline between them, or damaged: still refused by name.
                await verdict("lone-ca", undefined, root.certPem.trimEnd() + other.certPem),
                await verdict("lone-ca", good, root.certPem.replace(/\n(.)/, "\n*$1")),
                // A label Node reads and Go (istiod's root-cert.pem) does not.
                await verdict("lone-ca", good, root.certPem.replace(/ CERTIFICATE-----/g, " X509 CERTIFICATE-----")),
                // A CA below the root: the CA's rootCertPem, and every trust bundle of its chains, would lack the root.
                await verdict("lone-ca", undefined, signedBy(root, meshCsr)),
                await verdict("lone-ca", good),
                await verdict("lone-mesh", signedBy(root, meshCsr)),
            ],
            [
                "IntermediateCa offlineRoot.signedCertPem of lone-ca is not a CA certificate (CA:FALSE), so verifiers would accept nothing it signs: " +
                    "sign the CSR in the csrPem output of IntermediateCa lone-ca as a CA (keyCertSign, cRLSign, CA:TRUE)",
                "IntermediateCa offlineRoot.signedCertPem of lone-ca is not signed by offlineRoot.rootCertPem (CN=Ceremony Root), so the chains it hands out would not verify: " +
                    "sign the CSR in the csrPem output of IntermediateCa lone-ca with that root",
                "IntermediateCa offlineRoot.signedCertPem of lone-ca is not a certificate in PEM; give the certificate signed for the CSR in the csrPem output of IntermediateCa lone-ca",
                "MeshPluginCa offlineRoot.signedCertPem of lone-mesh is not signed by offlineRoot.rootCertPem (CN=Ceremony Root), so the chains it hands out would not verify: " +
                    "sign the CSR in the csrPem output of MeshPluginCa lone-mesh with that root",
                "offlineRoot.rootCertPem of lone-mesh holds 2 certificates, and each would be a trust anchor wherever this CA's rootCertPem is trusted; " +
                    "give the offline root's certificate alone (root.crt of the ceremony)",
                "offlineRoot.rootCertPem of lone-ca holds 2 certificates, and each would be a trust anchor wherever this CA's rootCertPem is trusted; " +
                    "give the offline root's certificate alone (root.crt of the ceremony)",
                `offlineRoot.rootCertPem of lone-ca has two PEM blocks run together on line ${root.certPem.trimEnd().split("\n").length}: ` +
                    "the END of a CERTIFICATE block and the next BEGIN must be on separate lines (cat joins them so when a file lacks its final newline); " +
                    "put a line break between them; give the offline root's certificate alone (root.crt of the ceremony)",
                "offlineRoot.rootCertPem of lone-ca is not a certificate in PEM; give the offline root's certificate alone (root.crt of the ceremony)",
                "offlineRoot.rootCertPem of lone-ca is not a certificate in PEM; give the offline root's certificate alone (root.crt of the ceremony)",
                "offlineRoot.rootCertPem of lone-ca is not a self-signed root CA certificate; give the offline root's certificate alone (root.crt of the ceremony)",
                "accepted",
                "accepted",
            ],
        );
        // What a verifier makes of them against the root (the leaf's own purpose check aside).
        assert.deepStrictEqual(
            [foreign, good].map((cert) => verify(cert).split("\n").at(-1)),
            ["error stdin: verification failed", "stdin: OK"],
        );
    });

    it("keep the ceremony's certificate as its PEM block alone (istiod's cacerts, APIC's chain), and refuse it with the root appended", async () => {
        const root = createRoot({ commonName: "Ceremony Root", validityDays: 3650, keyAlgorithm: "ECDSA" });
        const state: EngineState = new Map();
        const run = (signedCertPem?: string, rootCertPem = root.certPem) =>
            runWithStandIn(
                () => {
                    const ca = new MeshPluginCa("lone-mesh", {
                        offlineRoot: { rootCertPem, signedCertPem },
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                    });
                    return {
                        csrPem: ca.csrPem,
                        certPem: ca.certPem,
                        certChainPem: ca.certChainPem,
                        rootCertPem: ca.rootCertPem,
                    };
                },
                { state },
            );
        const csrPem = (await run()).outputs.csrPem;
        const signed = signIntermediate({
            rootKeyPem: root.keyPem,
            rootCertPem: root.certPem,
            csrPem,
            validityDays: 365,
        });
        // Pasted as `openssl x509 -text` prints it, with CRLF line ends: before, ca-cert.pem held the dump.
        const dump = openssl(["x509", "-text"], signed);
        assert.strictEqual(dump.status, 0, dump.output);
        assert.match(dump.output, /^Certificate:\n {4}Data:/);
        const { outputs } = await run(dump.output.replace(/\n/g, "\r\n"));
        assert.strictEqual(outputs.certPem, signed);
        assert.strictEqual(outputs.certChainPem, signed + root.certPem);
        // The root saved by Notepad (a byte order mark, which Go and BoringSSL take for no BEGIN
        // line: istiod would find no root) with CRLF: root-cert.pem gets it as the ceremony wrote it.
        const pasted = await run(signed, "\uFEFF" + root.certPem.replace(/\n/g, "\r\n"));
        const cacerts = pasted.engine.kubernetesObjects().find((r) => r.type === "kubernetes:core/v1:Secret");
        assert.deepStrictEqual(
            [pasted.outputs.rootCertPem, (cacerts?.inputs.stringData as Record<string, string>)["root-cert.pem"]],
            [root.certPem, root.certPem],
        );
        const withRoot = await run(signed + root.certPem).then(
            () => "accepted",
            (error: Error) => refusalText(error),
        );
        assert.strictEqual(
            withRoot,
            "MeshPluginCa offlineRoot.signedCertPem of lone-mesh holds 2 certificates; give only the certificate signed for the CSR in the csrPem output of MeshPluginCa lone-mesh (the file ceremony sign wrote), not a chain",
        );
    });

    it("give istiod's cacerts and the Secrets' tls.crt the ceremony's certificate alone, however it was pasted", async () => {
        const root = createRoot({ commonName: "Ceremony Root", validityDays: 3650, keyAlgorithm: "ECDSA" });
        const state: EngineState = new Map();
        // The CAs, and what each hands out, as a program of its own; the keys stay in `state` between runs.
        const run = (signed: { ca?: string; mesh?: string }) =>
            runWithStandIn(
                () => {
                    const ca = new IntermediateCa("lone-ca", {
                        offlineRoot: { rootCertPem: root.certPem, signedCertPem: signed.ca },
                        subject: { commonName: "Lone CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    const mesh = new MeshPluginCa("lone-mesh", {
                        offlineRoot: { rootCertPem: root.certPem, signedCertPem: signed.mesh },
                        cluster: "lab",
                        keyAlgorithm: "ECDSA",
                    });
                    if (signed.ca !== undefined) {
                        new IstioGatewayTls("edge", {
                            serverCa: ca,
                            clientTrustBundlePem: root.certPem,
                            endpoints: [
                                { id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:example:apic"] },
                            ],
                            keyAlgorithm: "ECDSA",
                        });
                        new UiApicClient("web", {
                            clientCa: ca,
                            service: "web",
                            identity: "urn:example:ui-client:web",
                            namespace: "ui",
                            apicHosts: ["apic.bank.example"],
                            apicTrustPem: root.certPem,
                            keyAlgorithm: "ECDSA",
                        });
                    }
                    return { caCsr: ca.csrPem, meshCsr: mesh.csrPem };
                },
                { state },
            );
        const { caCsr, meshCsr } = (await run({})).outputs;
        const [ca, mesh] = [caCsr, meshCsr].map((csrPem) =>
            signIntermediate({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, csrPem, validityDays: 365 }),
        );
        // `openssl x509 -text` output, and the certificate with CRLF line ends (the root after it is refused).
        const { engine } = await run({
            ca: `${opensslText(ca)}${ca}`,
            mesh: mesh.replace(/\n/g, "\r\n"),
        });
        const secret = (name: string) =>
            engine.kubernetesObjects().find((r) => (r.inputs.metadata as { name?: string }).name === name)?.inputs
                .stringData as Record<string, string>;
        const leafOf = (pem: string) => pemBlocks(pem)[0];
        const cacerts = secret("cacerts");
        assert.deepStrictEqual(
            {
                "ca-cert.pem": cacerts["ca-cert.pem"],
                "cert-chain.pem": cacerts["cert-chain.pem"],
                gateway: secret("apic-mtls-ob")["tls.crt"],
                ui: secret("apic-client-web")["tls.crt"],
            },
            {
                "ca-cert.pem": mesh,
                "cert-chain.pem": mesh + root.certPem,
                gateway: leafOf(secret("apic-mtls-ob")["tls.crt"]) + ca,
                ui: leafOf(secret("apic-client-web")["tls.crt"]) + ca,
            },
        );
    });
});
