/** Shared test harness: one engine state per run (CA keys made once), render, openssl and TLS helpers. */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import * as YAML from "yaml";
import { rawConfigFromStackFile } from "../lib/config/load";
import { main } from "../lib/cli/main";
import { buildCrl } from "../lib/pki/crl";
import { pemBlocks as pemBlocksOf } from "../lib/pki/pem";
import { EngineState, saveStackOutputs } from "../lib/engine/standIn";
import { IstioGatewayTls } from "../lib/components/istioGatewayTls";
import * as pulumi from "@pulumi/pulumi";
import { seededState, suiteKeyFile } from "./engineKeys";
import { TEST_ONLY_RSA_KEY_PEMS } from "./fixtures/testOnlyPki";
import { RUN_TEMP_VARIABLE, tempDir } from "./runTemp";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { PkiPlan, planFromRawConfig, PlanOptions } from "../lib/plan/plan";
import { ConfigError } from "../lib/config/validate";
import { deployedRecordOf, renderPlan, RenderResult } from "../lib/render/render";
import { createRoot } from "../lib/pki/ceremony";

export const ROOT = path.resolve(__dirname, "../..");

/**
 * Kept for the whole mocha run: a resource re-registered with the same inputs gets its old
 * outputs. It starts with the suite's RSA keys (./engineKeys.ts).
 */
export const sharedState: EngineState = seededState();

/**
 * The shared state, with the suite's RSA keys put back where a test registered a key of the same
 * name with other inputs (an ECDSA stack, say), so that the next RSA render finds its key instead
 * of generating one (the certificates kept in the state stay).
 */
export function sharedStateWithSuiteKeys(): EngineState {
    for (const [key, seed] of seededState()) {
        if (sharedState.get(key)?.inputsJson !== seed.inputsJson) sharedState.set(key, seed);
    }
    return sharedState;
}

/** The code of the first fenced block of `language` under the README heading `heading` (e.g. "## A complete program"). */
export function readmeBlock(heading: string, language: string): string {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.indexOf(`\n${heading}\n`);
    if (section < 0) throw new Error(`README has no heading "${heading}"`);
    const block = readme.slice(section).match(new RegExp("```" + language + "\\n([\\s\\S]*?)```"));
    if (!block) throw new Error(`README has no ${language} block under "${heading}"`);
    return block[1];
}

export { RUN_TEMP_VARIABLE, tempDir };

/**
 * A new git repository (branch main, a committer set) in a temp folder, and `git` run in it: it
 * fails the test on a non-zero exit and returns the trimmed standard output.
 */
export function gitRepo(prefix: string): { dir: string; git: (...args: string[]) => string } {
    const dir = tempDir(prefix);
    const git = (...args: string[]): string => {
        const r = spawnSync("git", args, { cwd: dir, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stderr);
        return r.stdout.trim();
    };
    git("init", "-q", "-b", "main");
    git("config", "user.email", "ci@example.invalid");
    git("config", "user.name", "ci");
    return { dir, git };
}

/**
 * A script for `node -e SCRIPT <cli args>`: runs the CLI on the arguments and sends itself `signal`
 * inside the first fs.writeFileSync for which `when` (a JavaScript expression over `file` and
 * `content`) is true, the worst moment for a command to be stopped; prints "ended <status>" if
 * the CLI returns.
 */
export function cliSignalledWhileWriting(when: string, signal: NodeJS.Signals = "SIGTERM"): string {
    return `
            const fs = require("fs");
            const writeFileSync = fs.writeFileSync;
            let sent = false;
            fs.writeFileSync = (file, content, ...rest) => {
                if (!sent && (${when})) {
                    sent = true;
                    process.kill(process.pid, ${JSON.stringify(signal)});
                }
                return writeFileSync(file, content, ...rest);
            };
            const { main } = require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))});
            main(process.argv.slice(1)).then((status) => process.stdout.write("ended " + status + "\\n"));`;
}

/** The `pki:` config strings of a stack file, exactly as `pulumi up` would pass them. */
export function loadStackFile(relative: string): Record<string, string> {
    return rawConfigFromStackFile(path.join(ROOT, relative));
}

/** The same with lists and maps parsed, for a test that edits a member (validateConfig writes them back as Pulumi would). */
export function loadStackFileValues(relative: string): Record<string, unknown> {
    return Object.fromEntries(
        Object.entries(loadStackFile(relative)).map(([k, v]) => [k, /^[[{]/.test(v) ? JSON.parse(v) : v]),
    );
}

export interface Rendered extends RenderResult {
    plan: PkiPlan;
    dir: string;
    read(relative: string): string;
}

const renders = new Map<string, Promise<Rendered>>();

/**
 * Render raw `pki:` config into a temp folder. By default it shares the run's state (CA keys made
 * once); a test that compares two renders passes its own copy, so that no other test's run
 * replaces a resource between the two.
 */
export async function renderConfig(
    raw: Record<string, unknown>,
    label: string,
    state: EngineState = sharedStateWithSuiteKeys(),
): Promise<Rendered> {
    return renderInto(planFromRawConfig(raw), label, state);
}

/** Render a plan into a new temp folder. */
async function renderInto(plan: PkiPlan, label: string, state: EngineState): Promise<Rendered> {
    const dir = tempDir(label);
    const result = await renderPlan(plan, dir, { force: true, state, keyFile: suiteKeyFile() });
    return { ...result, plan, dir, read: (f: string) => fs.readFileSync(path.join(dir, f), "utf8") };
}

/**
 * The next "update" of a stack whose engine state is `state`: CA rotation phases are checked
 * against the record the previous render left there, as `pulumi up` checks them against the
 * stack's own last outputs. `now`: the update's clock (default: now). Unlike `pulumi up` and
 * `render --state`, it deletes nothing from `state`: the suite's keys stay for the next render
 * (pruning them costs RSA key generation, and no test here needs a dropped key to be gone; the
 * delete step is tested through render --state in render.test.ts).
 */
export async function renderNext(
    raw: Record<string, unknown>,
    label: string,
    state: EngineState,
    now?: Date,
): Promise<Rendered> {
    return renderInto(planFromRawConfig(raw, { deployed: deployedRecordOf(state), now }), label, state);
}

/**
 * The engine state of a new stack: the run's shared state (CA keys made once), without the
 * deployment record an earlier render left in it, so that the next render is the stack's first.
 * Pass `new Map()` for a stack that shares no certificate (each issued at its plan's clock).
 */
export function newStackState(from: EngineState = sharedState): EngineState {
    // The suite's RSA keys (no certificates) win over entries of the same name another test replaced.
    const state: EngineState = new Map([...from, ...seededState()]);
    saveStackOutputs(state, {});
    return state;
}

/** The problems planning `raw` reports (none: it plans); any other failure is thrown. */
export function planProblems(raw: Record<string, unknown>, options: PlanOptions = {}): readonly string[] {
    try {
        planFromRawConfig(raw, options);
        return [];
    } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return error.problems;
    }
}

/** Render a stack file once per run and share the result between test files. */
export function renderStackFile(relative: string): Promise<Rendered> {
    let rendered = renders.get(relative);
    if (!rendered) {
        rendered = renderConfig(loadStackFile(relative), path.basename(relative, ".yaml"));
        renders.set(relative, rendered);
    }
    return rendered;
}

export const OPTION_FILES = {
    1: "examples/option-1/Pulumi.option-1.yaml",
    2: "examples/option-2/Pulumi.option-2.yaml",
    3: "examples/option-3/Pulumi.option-3.yaml",
} as const;

/** Runs openssl; returns its exit status and combined output (never throws on a non-zero status). */
export function openssl(args: string[], input?: string): { status: number; output: string } {
    const result = spawnSync("openssl", args, { input, encoding: "utf8" });
    return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

export function writeTemp(dir: string, name: string, content: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
}

/**
 * Istio's verifyCertificateSpki value of a certificate's key, computed by openssl (independently of
 * the package's own code): base64 of the SHA-256 of the DER SubjectPublicKeyInfo.
 */
export function opensslSpkiPin(certPem: string): string {
    // openssl extracts the SubjectPublicKeyInfo (its PEM body is the DER, base64); only the hash is Node's.
    const publicKey = execFileSync("openssl", ["x509", "-noout", "-pubkey"], { input: certPem, encoding: "utf8" });
    const body = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(publicKey);
    if (!body) throw new Error(`openssl printed no public key: ${publicKey}`);
    return crypto.createHash("sha256").update(Buffer.from(body[1], "base64")).digest("base64");
}

export function opensslText(pem: string): string {
    return execFileSync("openssl", ["x509", "-noout", "-text"], { input: pem, encoding: "utf8" });
}

/** Every file below `dir`, as paths. */
function filesBelow(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? filesBelow(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/**
 * The text of every file below `dir` with JSON's `\n` escapes and YAML's indentation undone, so
 * that pemBlocks finds each PEM of a render: files, JSON payloads and Secret manifests alike.
 */
export function pemTextsBelow(dir: string): string[] {
    return filesBelow(dir).map((file) =>
        fs
            .readFileSync(file, "utf8")
            .replace(/\\n/g, "\n")
            .replace(/^[ \t]+/gm, ""),
    );
}

/** The PEM blocks of a bundle, in order. */
export function pemBlocks(bundle: string): string[] {
    return bundle.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n/g) ?? [];
}

/** What a gateway server is configured with: one endpoint's secret and its Gateway `servers` entry. */
export interface GatewayServerConfig {
    tlsCrt: string;
    tlsKey: string;
    caCrt: string;
    /** `subjectAltNames` of the Gateway server entry: the identity pin. */
    subjectAltNames: string[];
    /** `verifyCertificateSpki` of the Gateway server entry: the key pins (none: no key check). */
    verifyCertificateSpki?: string[];
    /** `ca.crl`, when the secret has one. */
    caCrl?: string;
}

export interface ClientCredentials {
    cert?: string;
    key?: string;
    /** CAs the client trusts for the server (APIC's truststore). */
    ca: string;
    /** CRLs the client checks the server's chain against (every CA of it then needs one). */
    crl?: string;
    servername: string;
    /** The client's identity check of the server; default: the host name (RFC 6125) against `servername`. */
    checkServer?: (peer: tls.PeerCertificate) => Error | undefined;
}

export interface HandshakeResult {
    accepted: boolean;
    /** Why the server refused, or "" when accepted. */
    reason: string;
    /** The client's own verdict on the server (host name and chain). */
    clientAuthorized: boolean;
    clientError: string;
}

/**
 * One real mutual-TLS handshake over loopback, with the checks an Istio gateway configured by
 * the Gateway's `servers` entry makes: OpenSSL chain verification against `ca.crt` (with the
 * ssl_client purpose, i.e. EKU clientAuth), then the `subjectAltNames` pin on the client cert.
 */
export async function handshake(server: GatewayServerConfig, client: ClientCredentials): Promise<HandshakeResult> {
    return new Promise((resolve, reject) => {
        let serverVerdict: { accepted: boolean; reason: string } | undefined;
        const tlsServer = tls.createServer({
            cert: server.tlsCrt,
            key: server.tlsKey,
            ca: server.caCrt,
            // Envoy loads every CRL of ca.crl; Node's `crl` takes one PEM per array element.
            ...(server.caCrl !== undefined ? { crl: pemBlocksOf(server.caCrl, "X509 CRL") } : {}),
            requestCert: true,
            rejectUnauthorized: false, // decided below, so the reason can be reported
            minVersion: "TLSv1.2",
        });
        tlsServer.on("secureConnection", (socket) => {
            const peer = socket.getPeerCertificate();
            let verdict: { accepted: boolean; reason: string };
            if (!peer || Object.keys(peer).length === 0) verdict = { accepted: false, reason: "no client certificate" };
            else if (!socket.authorized) verdict = { accepted: false, reason: String(socket.authorizationError) };
            else {
                const sans = (peer.subjectaltname ?? "")
                    .split(", ")
                    .map((s) => s.replace(/^(DNS|URI|email|IP Address):/, ""));
                const keyPins = server.verifyCertificateSpki ?? [];
                const peerPin = crypto
                    .createHash("sha256")
                    .update(new crypto.X509Certificate(peer.raw).publicKey.export({ type: "spki", format: "der" }))
                    .digest("base64");
                verdict = !server.subjectAltNames.some((pin) => sans.includes(pin))
                    ? { accepted: false, reason: `subjectAltNames pin mismatch: ${peer.subjectaltname ?? "(none)"}` }
                    : keyPins.length > 0 && !keyPins.includes(peerPin)
                      ? { accepted: false, reason: `verifyCertificateSpki mismatch: ${peerPin}` }
                      : { accepted: true, reason: "" };
            }
            serverVerdict = verdict;
            socket.end(verdict.accepted ? "ok" : "");
        });
        tlsServer.on("tlsClientError", (err) => {
            serverVerdict = { accepted: false, reason: err.message };
        });
        tlsServer.listen(0, "127.0.0.1", () => {
            const port = (tlsServer.address() as { port: number }).port;
            const socket = tls.connect({
                host: "127.0.0.1",
                port,
                servername: client.servername,
                ca: client.ca,
                ...(client.crl !== undefined ? { crl: pemBlocksOf(client.crl, "X509 CRL") } : {}),
                cert: client.cert,
                key: client.key,
                rejectUnauthorized: false,
                // A custom identity check runs below, after the chain verdict.
                checkServerIdentity: client.checkServer ? () => undefined : tls.checkServerIdentity,
            });
            let clientAuthorized = false;
            let clientError = "";
            socket.on("secureConnect", () => {
                clientAuthorized = socket.authorized;
                clientError = socket.authorized ? "" : String(socket.authorizationError);
                if (socket.authorized) {
                    const peer = socket.getPeerCertificate();
                    const identityError = client.checkServer
                        ? client.checkServer(peer)
                        : tls.checkServerIdentity(client.servername, peer);
                    if (identityError) {
                        clientAuthorized = false;
                        clientError = identityError.message;
                    }
                }
            });
            socket.on("data", () => undefined);
            const finish = (): void => {
                tlsServer.close();
                setImmediate(() =>
                    resolve({
                        accepted: serverVerdict?.accepted ?? false,
                        reason: serverVerdict?.reason ?? "connection closed before the handshake finished",
                        clientAuthorized,
                        clientError,
                    }),
                );
            };
            socket.on("close", finish);
            socket.on("error", () => undefined);
            socket.setTimeout(10_000, () => {
                socket.destroy();
                reject(new Error("handshake timed out"));
            });
        });
    });
}

/** The gateway configuration of one endpoint, read from the rendered secret and Gateway. */
/** A rendered YAML file, parsed once per render (a render's folder never changes; Gateways are long). */
const parsedFiles = new WeakMap<Rendered, Map<string, unknown>>();
function renderedYaml<T>(rendered: Rendered, file: string): T {
    let files = parsedFiles.get(rendered);
    if (!files) parsedFiles.set(rendered, (files = new Map()));
    if (!files.has(file)) files.set(file, YAML.parse(rendered.read(file)));
    return files.get(file) as T;
}

export function gatewayServerConfig(rendered: Rendered, endpointId: string): GatewayServerConfig {
    const endpoint = rendered.plan.endpoints.find((e) => e.id === endpointId);
    if (!endpoint) throw new Error(`no endpoint ${endpointId}`);
    const cluster = rendered.plan.config.clusters[0].name;
    const ns = endpoint.gatewaySecret.namespace;
    const secret = renderedYaml<{ stringData: Record<string, string> }>(
        rendered,
        `k8s/${cluster}/${ns}/secret-${endpoint.gatewaySecret.name}.yaml`,
    );
    const gateway = renderedYaml<{
        spec: {
            servers: {
                hosts: string[];
                tls: { credentialName: string; subjectAltNames: string[]; verifyCertificateSpki?: string[] };
            }[];
        };
    }>(rendered, `k8s/${cluster}/${ns}/gateway-${endpoint.gatewayName}.yaml`);
    const server = gateway.spec.servers.find((s) => s.tls.credentialName === endpoint.gatewaySecret.name);
    if (!server) throw new Error(`Gateway ${endpoint.gatewayName} has no server for ${endpointId}`);
    return {
        tlsCrt: secret.stringData["tls.crt"],
        tlsKey: secret.stringData["tls.key"],
        caCrt: secret.stringData["ca.crt"],
        caCrl: secret.stringData["ca.crl"],
        subjectAltNames: server.tls.subjectAltNames,
        verifyCertificateSpki: server.tls.verifyCertificateSpki,
    };
}

export function apicCredentials(rendered: Rendered, endpointId: string): ClientCredentials {
    const endpoint = rendered.plan.endpoints.find((e) => e.id === endpointId);
    if (!endpoint) throw new Error(`no endpoint ${endpointId}`);
    return {
        cert: rendered.read(`apic/${endpointId}/client.crt`) + rendered.read(`apic/${endpointId}/ca-chain.pem`),
        key: rendered.read(`apic/${endpointId}/client.key`),
        ca: rendered.read(`apic/${endpointId}/truststore.pem`),
        ...(fs.existsSync(path.join(rendered.dir, `apic/${endpointId}/truststore.crl`))
            ? { crl: rendered.read(`apic/${endpointId}/truststore.crl`) }
            : {}),
        servername: endpoint.host,
    };
}

/**
 * When a certificate the tests mint "now" is issued: a minute ago. OpenSSL, BoringSSL and GnuTLS
 * read the time with time(2), the kernel's coarse clock, which lags Date.now() by up to a tick
 * (5 ms measured here): a certificate issued in the first milliseconds of a second is "not yet
 * valid" to a verifier that runs in those same milliseconds (a CI run failed that way, with
 * CERT_NOT_YET_VALID). @pulumi/tls issues at time.Now() too; its certificates are simply used later.
 */
export function justIssued(): Date {
    return new Date(Date.now() - 60_000);
}

/** A leaf for the tests, signed by the given CA with @pulumi/tls semantics, valid 24 hours from `now` (default justIssued()). */
export async function mintLeaf(
    ca: { certPem: string; keyPem: string },
    spec: { commonName: string; uris?: string[]; dnsNames?: string[]; ipAddresses?: string[]; allowedUses: string[] },
    now?: Date,
): Promise<{ cert: string; key: string }> {
    const key = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
    const csr = tlsProvider.certRequest({
        privateKeyPem: key.state.privateKeyPem,
        subject: { commonName: spec.commonName },
        uris: spec.uris,
        dnsNames: spec.dnsNames,
        ipAddresses: spec.ipAddresses,
    });
    const cert = tlsProvider.locallySignedCert(
        {
            certRequestPem: csr.state.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.keyPem,
            allowedUses: spec.allowedUses,
            validityPeriodHours: 24,
        },
        { now: () => now ?? justIssued() },
    );
    return { cert: cert.state.certPem as string, key: key.state.privateKeyPem as string };
}

/** Runs the command-line tool in-process; returns its exit status, standard output and standard error. */
export async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const status = await main(
        argv,
        (t) => (out += t),
        (t) => (err += t),
    );
    return { status, out, err };
}

/** A CA certificate and key as the tests pass them around. */
export interface TestCa {
    certPem: string;
    keyPem: string;
}

/** A CA of a render (`<id>-cert`, `<id>-key`), with its key, as a holder of that key has it. */
export function caOf(rendered: Rendered, id: string): TestCa {
    const state = (name: string, field: string): string => {
        const resource = rendered.engine.resources.find((r) => r.name === name);
        if (resource === undefined) throw new Error(`no resource ${name}`);
        return resource.state[field] as string;
    };
    return { certPem: state(`${id}-cert`, "certPem"), keyPem: state(`${id}-key`, "privateKeyPem") };
}

/**
 * A CRL of `ca` that lists nothing, valid from `from` until `to` (milliseconds, whole seconds: CRL
 * times are), numbered `number`: signed once, so an ECDSA test CA may sign it.
 */
export function emptyCrlOf(ca: TestCa, from: number, to: number, number = 1): string {
    const window = { thisUpdate: new Date(from), nextUpdate: new Date(to), number };
    return buildCrl(ca.certPem, ca.keyPem, [], window, { signedOnce: true });
}

/**
 * The gateway of the CRL tests: one endpoint, its server certificate signed by `ca`, which is also
 * its clients' trust bundle, and `clientCrlPem` for those clients (to be called inside a run).
 */
export function crlGateway(name: string, ca: TestCa, clientCrlPem: pulumi.Input<string>): IstioGatewayTls {
    return new IstioGatewayTls(name, {
        serverCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem },
        clientTrustBundlePem: ca.certPem,
        clientCrlPem,
        endpoints: [{ id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:example:apic"] }],
        keyAlgorithm: "ECDSA",
    });
}

/** How a test CA differs from the default (ECDSA P-256, no path length, valid 24 hours from justIssued()). */
export interface TestCaOptions {
    /** An RSA-2048 key: CRLs (lib/pki/crl.ts) are signed only with RSA. */
    rsa?: boolean;
    maxPathLength?: number;
    validityHours?: number;
    /** Issued at this instant instead of justIssued() (a test that runs on a simulated clock). */
    issuedAt?: Date;
    /** Subject O, e.g. to copy a real CA's subject. */
    organization?: string;
}

/** The committed test-only RSA-2048 keys not yet handed out in this process. */
const unusedRsaKeys = [...TEST_ONLY_RSA_KEY_PEMS];

/**
 * An RSA-2048 @pulumi/tls PrivateKey (its id and state) for a test that needs an RSA key but not a
 * new one: a committed test-only key (./fixtures/testOnlyPki.ts) that no other test of this
 * process was given, so that no two test CAs share a key; generated once those run out.
 */
export async function testRsaKey(): Promise<Awaited<ReturnType<typeof tlsProvider.privateKey>>> {
    const inputs = { algorithm: "RSA", rsaBits: 2048 };
    const pem = unusedRsaKeys.shift();
    return pem === undefined
        ? tlsProvider.privateKey(inputs)
        : tlsProvider.privateKeyResource(inputs, crypto.createPrivateKey(pem));
}

const testCaKey = (options: TestCaOptions) =>
    options.rsa ? testRsaKey() : tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });

const issuedAtOf = (options: TestCaOptions) => ({ now: () => options.issuedAt ?? justIssued() });

/** A self-signed root outside the stack's hierarchy (a "foreign" CA). */
export async function mintRoot(commonName: string, options: TestCaOptions = {}): Promise<TestCa> {
    const key = await testCaKey(options);
    const cert = tlsProvider.selfSignedCert(
        {
            privateKeyPem: key.state.privateKeyPem,
            subject: { commonName },
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            maxPathLength: options.maxPathLength,
            validityPeriodHours: options.validityHours ?? 24,
        },
        issuedAtOf(options),
    );
    return { certPem: cert.state.certPem as string, keyPem: key.state.privateKeyPem as string };
}

/**
 * A self-signed CA that @pulumi/tls cannot make, by openssl: a `key` of any type openssl has (a
 * brainpool or Ed448 key) and any `serial` ("-0x5A17": a negative one, as some CAs issue); the same
 * key and name with another serial make the root renewed with its key.
 */
export function opensslRoot(
    commonName: string,
    key: crypto.KeyObject,
    serial: string,
    basicConstraints = "critical,CA:TRUE",
): TestCa {
    const dir = tempDir("openssl-root");
    const keyPem = key.export({ type: "pkcs8", format: "pem" }) as string;
    const certFile = path.join(dir, "root.crt");
    execFileSync("openssl", [
        "req",
        "-x509",
        "-new",
        "-key",
        writeTemp(dir, "root.key", keyPem),
        "-subj",
        `/CN=${commonName}`,
        "-days",
        "1",
        "-set_serial",
        serial,
        "-addext",
        `basicConstraints=${basicConstraints}`,
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        certFile,
    ]);
    return { certPem: fs.readFileSync(certFile, "utf8"), keyPem };
}

/** A CA signed by `ca` with @pulumi/tls semantics: what a holder of `ca`'s key could mint. */
export async function mintSubCa(ca: TestCa, commonName: string, options: TestCaOptions = {}): Promise<TestCa> {
    const key = await testCaKey(options);
    const subject =
        options.organization === undefined ? { commonName } : { commonName, organization: options.organization };
    const csr = tlsProvider.certRequest({ privateKeyPem: key.state.privateKeyPem, subject });
    const cert = tlsProvider.locallySignedCert(
        {
            certRequestPem: csr.state.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.keyPem,
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            maxPathLength: options.maxPathLength,
            validityPeriodHours: options.validityHours ?? 24,
        },
        issuedAtOf(options),
    );
    return { certPem: cert.state.certPem as string, keyPem: key.state.privateKeyPem as string };
}

/**
 * A CA certificate for `holder`'s key under `commonName`, signed by `signer` with @pulumi/tls
 * semantics: of a root, a cross-certificate (its subject and key under another root, as a public CA
 * hands out its chain); of any key, a CA a holder of `signer`'s key could mint for it.
 */
export function crossSign(
    holder: { keyPem: string },
    commonName: string,
    signer: TestCa,
    options: TestCaOptions = {},
): string {
    const csr = tlsProvider.certRequest({ privateKeyPem: holder.keyPem, subject: { commonName } });
    return tlsProvider.locallySignedCert(
        {
            certRequestPem: csr.state.certRequestPem,
            caCertPem: signer.certPem,
            caPrivateKeyPem: signer.keyPem,
            isCaCertificate: true,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: options.validityHours ?? 24,
        },
        issuedAtOf(options),
    ).state.certPem as string;
}

/** openssl's output as text, its stderr kept from the test's output. */
const QUIET = { encoding: "utf8", stdio: "pipe" } as const;

/**
 * A CA that @pulumi/tls cannot make, by openssl: `extensions` as openssl's config lines (pathlen 0,
 * a keyUsage without keyCertSign, an extendedKeyUsage), signed by `issuer`, else by its own key,
 * with the `digest` openssl names ("sha1": a signature Go refuses), in RSA-PSS when `pss` (an RSA
 * issuer), with these further -sigopt values when it lists them ("rsa_pss_saltlen:20"). Its key is
 * ECDSA P-256, as PKCS#8.
 */
export function opensslCa(
    commonName: string,
    extensions: string[],
    issuer?: TestCa,
    digest = "sha256",
    pss: boolean | readonly string[] = false,
): TestCa {
    const dir = tempDir("openssl-ca");
    const keyPem = crypto
        .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
        .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const key = writeTemp(dir, "ca.key", keyPem);
    const lines = ["subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid:always", ...extensions];
    const csr = execFileSync("openssl", ["req", "-new", "-key", key, "-subj", `/CN=${commonName}`], QUIET);
    const signer =
        issuer === undefined
            ? ["-signkey", key]
            : [
                  "-CA",
                  writeTemp(dir, "issuer.crt", issuer.certPem),
                  "-CAkey",
                  writeTemp(dir, "issuer.key", issuer.keyPem),
              ];
    const certPem = execFileSync(
        "openssl",
        [
            "x509",
            "-req",
            ...signer,
            `-${digest}`,
            ...(pss ? ["-sigopt", "rsa_padding_mode:pss"] : []),
            ...(Array.isArray(pss) ? pss.flatMap((option) => ["-sigopt", option]) : []),
            "-days",
            "1",
            "-extfile",
            writeTemp(dir, "ext.cnf", lines.join("\n")),
            "-set_serial",
            "9",
        ],
        { ...QUIET, input: csr },
    );
    fs.rmSync(dir, { recursive: true });
    return { certPem, keyPem };
}

/**
 * A CA below `ca` whose subject is `ca`'s own (a self-issued CA), signed by openssl with an
 * authority key identifier as an attacker's tool would: @pulumi/tls (and mintSubCa) leave that
 * identifier out when subject and issuer are equal, and without it verifiers take the certificate
 * for a self-signed one and stop the chain there.
 */
export async function mintSelfIssuedCa(ca: TestCa): Promise<TestCa> {
    const key = await testCaKey({});
    const dir = tempDir("self-issued");
    const caKey = writeTemp(dir, "ca.key", ca.keyPem);
    const caCert = writeTemp(dir, "ca.crt", ca.certPem);
    const extensions = writeTemp(
        dir,
        "ext.cnf",
        [
            "basicConstraints = critical, CA:true",
            "keyUsage = critical, keyCertSign, cRLSign",
            "subjectKeyIdentifier = hash",
            "authorityKeyIdentifier = keyid:always",
        ].join("\n"),
    );
    const subject = execFileSync("openssl", ["x509", "-noout", "-subject", "-nameopt", "compat"], {
        ...QUIET,
        input: ca.certPem,
    }).replace(/^subject=\s*/, "");
    const subKey = writeTemp(dir, "sub.key", key.state.privateKeyPem as string);
    const csr = execFileSync("openssl", ["req", "-new", "-key", subKey, "-subj", subject.trim()], QUIET);
    const certPem = execFileSync(
        "openssl",
        ["x509", "-req", "-CA", caCert, "-CAkey", caKey, "-days", "1", "-extfile", extensions, "-set_serial", "7"],
        { ...QUIET, input: csr },
    );
    fs.rmSync(dir, { recursive: true });
    return { certPem, keyPem: key.state.privateKeyPem as string };
}

/** istiod's `cacerts` secret as rendered. */
export interface Cacerts {
    "ca-cert.pem": string;
    "ca-key.pem": string;
    "root-cert.pem": string;
    "cert-chain.pem": string;
    "ca-crl.pem"?: string;
}

export function cacerts(rendered: Rendered, cluster: string): Cacerts {
    const secret = YAML.parse(rendered.read(`k8s/${cluster}/istio-system/secret-cacerts.yaml`));
    return secret.stringData as Cacerts;
}

/** The usages istiod gives every workload certificate: it serves and calls with the same one. */
export const WORKLOAD_USES = ["digital_signature", "key_encipherment", "server_auth", "client_auth"];

/** What istiod does with `cacerts`: sign a short-lived SPIFFE workload certificate with ca-key.pem. */
export async function workload(
    ca: Cacerts,
    identity: string,
    now?: Date,
): Promise<{ cert: string; key: string; identity: string }> {
    const leaf = await mintLeaf(
        { certPem: ca["ca-cert.pem"], keyPem: ca["ca-key.pem"] },
        {
            commonName: "",
            uris: [identity],
            allowedUses: WORKLOAD_USES,
        },
        now,
    );
    // istiod hands the workload its certificate followed by cert-chain.pem without the root.
    return { cert: leaf.cert + pemBlocks(ca["cert-chain.pem"]).slice(0, -1).join(""), key: leaf.key, identity };
}

/**
 * Two sidecars: each presents its workload chain, trusts root-cert.pem (and checks ca-crl.pem,
 * when its cluster has one) and checks the peer's SPIFFE id.
 */
export function sidecars(
    server: { cert: string; key: string; identity: string },
    client: { cert: string; key: string; identity: string },
    trust: { server: string; client: string; serverCrl?: string; clientCrl?: string },
): Promise<HandshakeResult> {
    return handshake(
        {
            tlsCrt: server.cert,
            tlsKey: server.key,
            caCrt: trust.server,
            subjectAltNames: [client.identity],
            ...(trust.serverCrl !== undefined ? { caCrl: trust.serverCrl } : {}),
        },
        {
            cert: client.cert,
            key: client.key,
            ca: trust.client,
            ...(trust.clientCrl !== undefined ? { crl: trust.clientCrl } : {}),
            servername: "outbound_.8080_._.accounts.ob.svc.cluster.local",
            checkServer: (peer) =>
                peer.subjectaltname === `URI:${server.identity}`
                    ? undefined
                    : new Error(`unexpected server identity ${peer.subjectaltname}`),
        },
    );
}

/**
 * Runs `run` with `module[name]` (a function of Node's own fs or crypto, which the compiled lib
 * calls through) replaced by `replacement`, putting it back after.
 */
export async function patched<T>(
    module: object,
    name: string,
    replacement: unknown,
    run: () => T | Promise<T>,
): Promise<T> {
    const functions = module as Record<string, unknown>;
    const original = functions[name];
    functions[name] = replacement;
    try {
        return await run();
    } finally {
        functions[name] = original;
    }
}

/**
 * A command prefix that holds a process run as root to file modes like any user (setpriv drops
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so a test gets a real EACCES; none when not root.
 */
export const AS_USER: readonly string[] =
    process.getuid?.() === 0
        ? ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
        : [];

/**
 * A refusal's own text: its message without the SDK's `error serializing property "x": ` prefixes,
 * which say only which input's serialization met it first (that depends on which work completes first).
 */
export const refusalText = (error: Error): string =>
    error.message.replace(/^(error serializing property "\w+": )+/, "");

/**
 * An APIC-client root of environment example (as init-root makes it, ECDSA) made again by its own
 * key: its serial, subject and notBefore those of `certPem`, valid `validityDays`. What the root key
 * can sign that its issuance log does not record (a root.crt re-made to last longer).
 */
export function rootRemade(certPem: string, keyPem: string, commonName: string, validityDays: number): string {
    const made = new crypto.X509Certificate(certPem);
    return createRoot(
        {
            commonName,
            organization: "Example Bank",
            binding: { environment: "example", trustDomain: "apic-client" },
            validityDays,
            keyAlgorithm: "ECDSA",
        },
        new Date(made.validFrom),
        crypto.createPrivateKey(keyPem),
        Buffer.from(made.serialNumber, "hex"),
    ).certPem;
}
