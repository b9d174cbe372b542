import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CLOCK_SKEW_MS } from "../lib/pki/crl";
import { PASSPHRASE_VARIABLE } from "../lib/render/stateFile";
import { writeSeededStateFile } from "./engineKeys";
import { cli, loadStackFileValues, ROOT, tempDir, writeTemp } from "./helpers";

const CLI = path.join(ROOT, "dist/lib/cli/main.js");

/** `npm run render` as a user runs it: the compiled CLI in a process of its own. */
function renderProcess(args: string[]): { status: number; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [CLI, "render", ...args], { cwd: ROOT, encoding: "utf8" });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The same command run in-process (main()), for the cases past the first: no second Node start each. */
async function render(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
    const { status, out, err } = await cli("render", ...args);
    return { status, stdout: out, stderr: err };
}

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

/** The committed dev stack with ECDSA keys (fast to make), as Pulumi.ecdsa.yaml in `dir`. */
function ecdsaDevStack(dir: string): string {
    const stackFile = path.join(dir, "Pulumi.ecdsa.yaml");
    fs.writeFileSync(
        stackFile,
        fs.readFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), "utf8").replace(/: RSA$/gm, ": ECDSA"),
    );
    return stackFile;
}

describe("npm run render", function () {
    this.timeout(120_000);

    it("renders a stack into the layout the README shows, keys 0600 in 0700 folders", async () => {
        // The prod stack with ECDSA keys: the CLI is under test here, not RSA key generation.
        const dir = tempDir("cli");
        const stackFile = path.join(dir, "Pulumi.prod-ecdsa.yaml");
        const prod = fs.readFileSync(path.join(ROOT, "stacks/Pulumi.prod.yaml"), "utf8");
        fs.writeFileSync(stackFile, prod.replace(/: RSA$/gm, ": ECDSA"));
        const out = path.join(dir, "out");
        const result = renderProcess(["--config", stackFile, "--out", out]);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(
            result.stdout,
            /^rendered .*Pulumi\.prod-ecdsa\.yaml \(Option 1\): 2 endpoints, 10 certificates, 5 Kubernetes objects/,
        );
        const files = (folder: string): string[] =>
            fs
                .readdirSync(folder, { withFileTypes: true })
                .flatMap((e) =>
                    e.isDirectory()
                        ? files(path.join(folder, e.name))
                        : [path.relative(out, path.join(folder, e.name))],
                );
        assert.deepStrictEqual(files(out).sort(), [
            "apic/dp/ca-chain.pem",
            "apic/dp/client.crt",
            "apic/dp/client.key",
            "apic/dp/client.p12",
            "apic/dp/client.p12.password",
            "apic/dp/keystore.json",
            "apic/dp/tls-client-profile.json",
            "apic/dp/truststore.json",
            "apic/dp/truststore.pem",
            "apic/ob/ca-chain.pem",
            "apic/ob/client.crt",
            "apic/ob/client.key",
            "apic/ob/client.p12",
            "apic/ob/client.p12.password",
            "apic/ob/keystore.json",
            "apic/ob/tls-client-profile.json",
            "apic/ob/truststore.json",
            "apic/ob/truststore.pem",
            "deployment.json",
            "inventory.json",
            "k8s/prod-east/istio-system/gateway-apic-mtls-dp.yaml",
            "k8s/prod-east/istio-system/gateway-apic-mtls-ob.yaml",
            "k8s/prod-east/istio-system/secret-apic-mtls-dp.yaml",
            "k8s/prod-east/istio-system/secret-apic-mtls-ob.yaml",
            "k8s/prod-east/istio-system/secret-cacerts.yaml",
            "timeline.mmd",
            "trust.mmd",
        ]);
        assert.strictEqual(mode(path.join(out, "k8s/prod-east/istio-system/secret-cacerts.yaml")), 0o600);
        for (const secret of ["client.key", "client.p12", "client.p12.password", "keystore.json"]) {
            assert.strictEqual(mode(path.join(out, "apic/ob", secret)), 0o600, secret);
        }
        assert.strictEqual(mode(path.join(out, "k8s/prod-east/istio-system/secret-apic-mtls-ob.yaml")), 0o600);
        for (const dir of [
            out,
            path.join(out, "apic"),
            path.join(out, "apic/ob"),
            path.join(out, "k8s/prod-east/istio-system"),
        ]) {
            assert.strictEqual(mode(dir), 0o700, dir);
        }
        const inventory = JSON.parse(fs.readFileSync(path.join(out, "inventory.json"), "utf8"));
        assert.deepStrictEqual(
            inventory.certificates.map((c: { id: string; role: string; dnsNames: string[] }) => [
                c.id,
                c.role,
                c.dnsNames.join(","),
            ]),
            [
                ["mesh-root", "root", ""],
                ["server-root", "root", ""],
                ["client-root", "root", ""],
                ["gateway-server-ca", "intermediate", ""],
                ["apic-client-ca", "intermediate", ""],
                ["mesh-ca-prod-east", "mesh-ca", ""],
                ["dp/server", "gateway-server", "dp.api.bank.example"],
                ["dp/client", "apic-client", ""],
                ["ob/server", "gateway-server", "ob.api.bank.example"],
                ["ob/client", "apic-client", ""],
            ],
        );

        const again = await render(["--config", stackFile, "--out", out]);
        assert.strictEqual(again.status, 1);
        assert.strictEqual(
            again.stderr,
            `error: output folder ${out} holds an earlier render; pass --force to replace it, or choose another --out\n`,
        );
        assert.strictEqual((await render(["--config", stackFile, "--out", out, "--force"])).status, 0);
    });

    it("keeps keys and certificates between renders with --state, as the engine's state would", async () => {
        const dir = tempDir("cli-state");
        const stackFile = ecdsaDevStack(dir);
        const state = path.join(dir, "state.json");
        for (const out of ["one", "two"]) {
            const result = await render(["--config", stackFile, "--out", path.join(dir, out), "--state", state]);
            assert.strictEqual(result.status, 0, result.stderr);
        }
        assert.strictEqual(fs.statSync(state).mode & 0o777, 0o600);
        const read = (out: string) => fs.readFileSync(path.join(dir, out, "apic/ob/client.crt"), "utf8");
        assert.strictEqual(read("two"), read("one"));
        assert.strictEqual((await render(["--config", stackFile, "--out", path.join(dir, "three")])).status, 0);
        assert.notStrictEqual(read("three"), read("one"), "without --state every render makes new keys");
    });

    it("fails with one refusal when the issuer of two gateways is refused, leaving no lock and no key printed", () => {
        // The offline ceremony with a server root whose nameConstraints hold neither domain's
        // host: the plan refuses the signed intermediate once, naming the first host, before the
        // ob and dp gateways would each refuse it in an apply of their own.
        const dir = tempDir("cli-two-refusals");
        // Valid two days, so that the CA it signs below for one day ends before it (a CA never outlives its root).
        const rootKeyPem = crypto
            .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const rootCertPem = execFileSync(
            "openssl",
            [
                ...["req", "-x509", "-new", "-key", writeTemp(dir, "root-key.pem", rootKeyPem)],
                ...["-subj", "/CN=Server Root NC", "-days", "2"],
                ...[
                    "-addext",
                    "basicConstraints = critical, CA:TRUE",
                    "-addext",
                    "keyUsage = critical, keyCertSign, cRLSign",
                ],
                ...["-addext", "nameConstraints = critical, permitted;DNS:other.example"],
            ],
            { encoding: "utf8" },
        );
        const root = { certPem: rootCertPem, keyPem: rootKeyPem };
        const indented = (pem: string) => pem.trim().replace(/^/gm, "        ");
        const stack = (intermediates: string) =>
            fs.readFileSync(ecdsaDevStack(dir), "utf8") +
            `  pki:offlineRoots:\n    serverRoot:\n      certificate: |\n${indented(root.certPem)}\n${intermediates}`;
        const stackFile = writeTemp(dir, "Pulumi.nc.yaml", stack(""));
        const state = path.join(dir, "state.json");
        const first = renderProcess(["--config", stackFile, "--out", path.join(dir, "one"), "--state", state]);
        assert.match(first.stderr, /the offline roots have not signed gateway-server-ca/);
        const signed = execFileSync(
            "openssl",
            [
                "x509",
                "-req",
                "-in",
                path.join(dir, "one/csr/gateway-server-ca.csr"),
                "-CA",
                writeTemp(dir, "root.crt", root.certPem),
                "-CAkey",
                writeTemp(dir, "root.key", root.keyPem),
                "-days",
                "1",
                "-set_serial",
                "2",
                "-extfile",
                writeTemp(
                    dir,
                    "ext.cnf",
                    "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n",
                ),
            ],
            { encoding: "utf8", stdio: "pipe" },
        );
        writeTemp(
            dir,
            "Pulumi.nc.yaml",
            stack(`      intermediates:\n        gateway-server-ca: |\n${indented(signed).replace(/^/gm, "  ")}\n`),
        );
        const before = fs.readdirSync(dir).sort();
        const second = renderProcess(["--config", stackFile, "--out", path.join(dir, "two"), "--state", state]);
        assert.deepStrictEqual(
            [second.status, second.stdout, second.stderr],
            [
                1,
                "",
                "invalid stack configuration:\n  - pki:offlineRoots.serverRoot.intermediates.gateway-server-ca: " +
                    'the gateway-server certificate of endpoint dp: its DNS name "dp.dev.api.bank.example" is outside the nameConstraints of ' +
                    "pki:offlineRoots.serverRoot.certificate (CN=Server Root NC), which permit only DNS:other.example for DNS names: " +
                    "Envoy's BoringSSL, OpenSSL and Go would refuse the certificate signed for it " +
                    '("permitted subtree violation"); give a name within DNS:other.example, or a CA whose nameConstraints allow it\n',
            ],
        );
        assert.doesNotMatch(second.stderr, /PRIVATE KEY/);
        // No lock, temporary folder or state file left: the next render may run.
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), before);
    });

    it("refuses a --now before the latest time its --state holds, naming both and the fix, and leaves the state as it was", async () => {
        const dir = tempDir("cli-state-back");
        const stackFile = ecdsaDevStack(dir);
        const state = path.join(dir, "state.json");
        const at = (now: string, out: string) =>
            render(["--config", stackFile, "--out", path.join(dir, out), "--state", state, "--now", now]);
        assert.strictEqual((await at("2030-02-01T00:00:00Z", "first")).status, 0);
        const stored = fs.readFileSync(state, "utf8");
        // A second earlier, it would issue certificates dated before those the state keeps.
        assert.deepStrictEqual(await at("2030-01-31T23:59:59Z", "back"), {
            status: 2,
            stdout: "",
            stderr:
                `error: --now 2030-01-31T23:59:59.000Z is before 2030-02-01T00:00:00.000Z, the notBefore of its certificate apic-client-ca-cert in --state ${state}: ` +
                `its last render ran then or later, and a render may not go back in time (it would issue certificates dated before those the state keeps). ` +
                `Give a --now at or after 2030-02-01T00:00:00.000Z, or a new --state file to start over\n`,
        });
        assert.strictEqual(fs.readFileSync(state, "utf8"), stored);
        assert.strictEqual(fs.existsSync(path.join(dir, "back")), false);
        assert.strictEqual((await at("2030-02-01T00:00:00Z", "same")).status, 0, "the same time again is fine");
    });

    it("names the machine's clock, not a --now, when a render without --now would go back before its --state", async () => {
        // A state last rendered on a machine whose clock ran ahead, or with a --now in the future.
        const dir = tempDir("cli-state-clock");
        const stackFile = ecdsaDevStack(dir);
        const state = path.join(dir, "state.json");
        const future = ["--config", stackFile, "--state", state];
        assert.strictEqual(
            (await render([...future, "--out", path.join(dir, "first"), "--now", "2999-01-01T00:00:00Z"])).status,
            0,
        );
        const result = await render([...future, "--out", path.join(dir, "today")]);
        const clock = /^error: this machine's clock \((\d{4}-\d\d-\d\dT[\d:.]+Z); no --now given\) is before /.exec(
            result.stderr,
        );
        assert.ok(clock !== null, result.stderr);
        assert.ok(Math.abs(Date.parse(clock[1]) - Date.now()) < 60_000, clock[1]);
        assert.deepStrictEqual(
            { ...result, stderr: result.stderr.replace(clock[1], "NOW") },
            {
                status: 2,
                stdout: "",
                stderr:
                    `error: this machine's clock (NOW; no --now given) is before 2999-01-01T00:00:00.000Z, the notBefore of its certificate apic-client-ca-cert in --state ${state}: ` +
                    `its last render ran then or later, and a render may not go back in time (it would issue certificates dated before those the state keeps). ` +
                    `Set the clock right, give a --now at or after 2999-01-01T00:00:00.000Z, or a new --state file to start over\n`,
            },
        );
        assert.strictEqual(fs.existsSync(path.join(dir, "today")), false);
    });

    it("fails with the config message, exit 1 and nothing written, on a bad stack file", async () => {
        const dir = tempDir("bad");
        const file = path.join(dir, "Pulumi.bad.yaml");
        fs.writeFileSync(
            file,
            "config:\n  pki:environment: dev\n  pki:option: 4\n  pki:baseDomain: x.example\n  pki:domains: { ob: { services: [a] } }\n",
        );
        const out = path.join(dir, "out");
        const result = await render(["--config", file, "--out", out]);
        assert.strictEqual(result.status, 1);
        assert.strictEqual(result.stderr, "invalid stack configuration:\n  - pki:option must be 1, 2 or 3; got 4\n");
        assert.strictEqual(fs.existsSync(out), false);
    });

    it("explains its usage with exit 2 when called wrongly", async () => {
        const result = await render(["--stack", "nope"]);
        assert.strictEqual(result.status, 2);
        assert.strictEqual(
            result.stderr,
            "error: --stack nope: no stacks/Pulumi.nope.yaml; known stacks: dev, prod, sit\nsee apic-istio-pki render --help\n",
        );
        assert.strictEqual((await render(["--stack", "dev", "--config", "x"])).status, 2);
    });
});

describe("render --state keeps what the last render registered and nothing else, as pulumi up deletes the rest", function () {
    this.timeout(60_000);
    const dir = tempDir("state-prune");
    const state = path.join(dir, "state.json");
    // The dev stack with ECDSA leaves (cheap); its CA keys stay RSA, as CRLs need, and come from the suite's keys.
    const dev: Record<string, unknown> = { ...loadStackFileValues("stacks/Pulumi.dev.yaml"), keyAlgorithm: "ECDSA" };
    const { dp: _dp, ...withoutDp } = dev.domains as Record<string, unknown>;
    let revocations: Record<string, unknown>[];

    /** `render --config <raw> --out DIR/<name> --state DIR/state.json` (unencrypted: no scrypt, and readable here). */
    async function render(name: string, raw: Record<string, unknown>, ...extra: string[]) {
        const file = writeTemp(
            dir,
            `Pulumi.${name}.yaml`,
            JSON.stringify({ config: Object.fromEntries(Object.entries(raw).map(([k, v]) => [`pki:${k}`, v])) }),
        );
        return cli("render", "--config", file, "--out", path.join(dir, name), "--state", state, ...extra);
    }
    const read = (name: string, file: string): string => fs.readFileSync(path.join(dir, name, file), "utf8");
    const spki = (certPem: string): string =>
        new crypto.X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" }).toString("base64");

    before(async () => {
        writeSeededStateFile(state, dev.environment as string);
        const first = await render("first", dev);
        assert.strictEqual(first.status, 0, first.err);
        const serial = new crypto.X509Certificate(read("first", "apic/ob/client.crt")).serialNumber;
        // At least CLOCK_SKEW_MS before the render (the plan refuses a later time), and not more
        // than that before the certificate was issued by the first render (nor an earlier time).
        const revokedAt = new Date(Date.now() - CLOCK_SKEW_MS).toISOString();
        revocations = [{ endpoint: "ob", serial, epoch: 0, reason: "keyCompromise", revokedAt }];
        // The endpoint dp removed, and ob's client revoked for a compromised key.
        const second = await render("second", { ...dev, domains: withoutDp, revocations });
        assert.strictEqual(second.status, 0, second.err);
    });

    it("drops the keys of a removed endpoint and of a revoked client, and of the stacks it never registered", () => {
        const kept = new Map<string, { state: Record<string, unknown> }>(
            JSON.parse(fs.readFileSync(state, "utf8")).resources,
        );
        const keyNames = [...kept.keys()]
            .filter((key) => key.startsWith("tls:index/privateKey:PrivateKey::"))
            .map((key) => key.split("::")[1])
            .sort();
        assert.deepStrictEqual(keyNames, [
            "apic-client-ca-key",
            "client-root-ca-key",
            "gateway-server-ca-key",
            "mesh-ca-dev-east-key",
            "mesh-root-ca-key",
            "ob-apic-client-r1-key",
            "ob-gateway-ob-server-key",
            "server-root-ca-key",
        ]);
        const privateKeys = [...kept.values()].map((resource) => resource.state.privateKeyPem);
        assert.ok(privateKeys.includes(read("second", "apic/ob/client.key")), "the re-issued client's key is kept");
        assert.ok(!privateKeys.includes(read("first", "apic/ob/client.key")), "the revoked key is gone");
        assert.notStrictEqual(
            read("second", "apic/ob/client.p12.password"),
            read("first", "apic/ob/client.p12.password"),
            "the re-issued client's keystore has a new password",
        );
        assert.ok(!privateKeys.includes(read("first", "apic/dp/client.key")), "the removed endpoint's key is gone");
        assert.ok(kept.has("pulumi:pulumi:Stack::outputs"), "the deployment record the next render reads stays");
    });

    it("leaves the state byte for byte as it was when a render is refused, even one told to encrypt it", async () => {
        const stored = fs.readFileSync(state, "utf8");
        const passphrase = process.env[PASSPHRASE_VARIABLE];
        process.env[PASSPHRASE_VARIABLE] = "correct horse battery staple";
        try {
            assert.deepStrictEqual(await render("second", { ...dev, revocations }, "--encrypt-plain-state"), {
                status: 1,
                out: "",
                err: `error: output folder ${path.join(dir, "second")} holds an earlier render; pass --force to replace it, or choose another --out\n`,
            });
        } finally {
            if (passphrase === undefined) delete process.env[PASSPHRASE_VARIABLE];
            else process.env[PASSPHRASE_VARIABLE] = passphrase;
        }
        assert.strictEqual(fs.readFileSync(state, "utf8"), stored);
    });

    it("gives an endpoint removed and added again a new key, as pulumi up creates it anew", async () => {
        const third = await render("third", { ...dev, revocations });
        assert.strictEqual(third.status, 0, third.err);
        assert.notStrictEqual(spki(read("third", "apic/dp/client.crt")), spki(read("first", "apic/dp/client.crt")));
        assert.strictEqual(spki(read("third", "apic/ob/client.crt")), spki(read("second", "apic/ob/client.crt")));
    });
});
