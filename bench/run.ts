/**
 * npm run bench: the figures issue #8 asks for, printed as a table.
 * - construction of the stack program under a fast mock (no crypto), beside a hand-written
 *   baseline registering the same @pulumi/tls, @pulumi/random and @pulumi/kubernetes resources
 *   directly: the ratio is the components' own overhead (target <= 1.2);
 * - plan, inventory and diff times; peak memory (each size runs in its own process);
 * - TLS handshakes per second on loopback for the leaf key profiles.
 * Sizes: Option 2 with 24, 240, 1000 and 5000 services (BENCH_SIZES=24,240 to choose).
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as os from "os";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import * as tlsNet from "tls";
import { textTable } from "../lib/cli/format";
import { resolve } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { diffPlans } from "../lib/inventory/diff";
import { plannedCertificates } from "../lib/inventory/planned";
import { PkiPlan, planFromRawConfig } from "../lib/plan/plan";
import { buildPki } from "../lib/stack";

function rawConfig(services: number, extra = 0): Record<string, unknown> {
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-svc-${i}`);
    const half = Math.floor(services / 2);
    return {
        environment: "bench",
        option: 2,
        baseDomain: "bench.api.bank.example",
        domains: { ob: { services: names("ob", half + extra) }, dp: { services: names("dp", services - half) } },
    };
}

/** A self-signed certificate for a key, made by the engine stand-in (usable as server and client). */
function selfSigned(keyPem: string): string {
    return tlsProvider.selfSignedCert({
        privateKeyPem: keyPem,
        subject: { commonName: "bench" },
        allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
        validityPeriodHours: 24,
    }).state.certPem as string;
}

/** One real ECDSA key and certificate handed back for every tls resource: fast, and valid PEM for the code that parses it. */
function fastMocks(): pulumi.runtime.Mocks & { count: number } {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyPem = privateKey.export({ type: "sec1", format: "pem" }) as string;
    const certPem = selfSigned(keyPem);
    const mocks = {
        count: 0,
        newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
            mocks.count++;
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type.startsWith("tls:"))
                Object.assign(state, { privateKeyPem: keyPem, publicKeyPem: "", certPem, certRequestPem: "" });
            if (args.type.startsWith("random:")) state.result = "benchpassword";
            return { id: `${args.name}-id`, state };
        },
        call: () => ({}),
    };
    return mocks;
}

/** The same resources, registered directly: what the components would cost if they were free. */
function baseline(plan: PkiPlan): Record<string, unknown> {
    const key = (name: string, bits: number) => new tls.PrivateKey(`${name}-key`, { algorithm: "RSA", rsaBits: bits });
    const signed = (
        name: string,
        bits: number,
        ca: { certPem: pulumi.Output<string>; key: tls.PrivateKey },
        isCa: boolean,
    ) => {
        const k = key(name, bits);
        const csr = new tls.CertRequest(`${name}-csr`, {
            privateKeyPem: k.privateKeyPem,
            subject: { commonName: name },
        });
        const cert = new tls.LocallySignedCert(`${name}-cert`, {
            certRequestPem: csr.certRequestPem,
            caCertPem: ca.certPem,
            caPrivateKeyPem: ca.key.privateKeyPem,
            allowedUses: ["digital_signature"],
            validityPeriodHours: 8760,
            isCaCertificate: isCa,
        });
        return { certPem: cert.certPem, key: k };
    };
    const rootKey = key("root-ca", 4096);
    const root = new tls.SelfSignedCert("root-ca-cert", {
        privateKeyPem: rootKey.privateKeyPem,
        subject: { commonName: "root" },
        isCaCertificate: true,
        allowedUses: ["cert_signing"],
        validityPeriodHours: 87600,
    });
    const rootCa = { certPem: root.certPem, key: rootKey };
    const serverCa = signed("gateway-server-ca", 4096, rootCa, true);
    const clientCa = signed("apic-client-ca", 4096, rootCa, true);
    const provider = new k8s.Provider(plan.config.clusters[0].name, {});
    const mesh = signed("mesh-ca", 4096, rootCa, true);
    new k8s.core.v1.Secret(
        "cacerts",
        { metadata: { name: "cacerts" }, stringData: { "ca-cert.pem": mesh.certPem } },
        { provider },
    );
    for (const e of plan.endpoints) {
        const server = signed(`${e.id}-server`, 2048, serverCa, false);
        signed(`${e.id}-client`, 2048, clientCa, false);
        new random.RandomPassword(`${e.id}-p12-password`, { length: 32, special: false });
        new k8s.core.v1.Secret(
            `${e.id}-tls`,
            {
                metadata: { name: e.gatewaySecret.name },
                stringData: { "tls.crt": server.certPem, "tls.key": server.key.privateKeyPem },
            },
            { provider },
        );
    }
    for (const g of plan.gateways) {
        new k8s.apiextensions.CustomResource(
            `${g.name}-gateway`,
            { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: g.name }, spec: {} },
            { provider },
        );
    }
    return { root: root.certPem };
}

async function construct(which: "stack" | "baseline", size: number): Promise<{ ms: number; resources: number }> {
    const mocks = fastMocks();
    await pulumi.runtime.setMocks(mocks, "bench", "bench", false);
    const plan = planFromRawConfig(rawConfig(size));
    const started = process.hrtime.bigint();
    const outputs = which === "stack" ? buildPki(plan).outputs : baseline(plan);
    await resolve(outputs as pulumi.Input<unknown>);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, resources: mocks.count };
}

function timeMs(f: () => unknown): number {
    const started = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Child process: one measurement, printed as JSON with the process's peak memory. */
async function child(what: string, size: number): Promise<void> {
    let result: Record<string, number>;
    if (what === "stack" || what === "baseline") {
        result = await construct(what, size);
    } else {
        const base = planFromRawConfig(rawConfig(size));
        const head = planFromRawConfig(rawConfig(size, 1));
        result = {
            planMs: timeMs(() => planFromRawConfig(rawConfig(size))),
            inventoryMs: timeMs(() => plannedCertificates(base)),
            diffMs: timeMs(() => diffPlans(base, head)),
        };
    }
    process.stdout.write(JSON.stringify({ ...result, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

async function handshakesPerSecond(profile: "RSA 2048" | "RSA 3072" | "ECDSA P-256", seconds: number): Promise<number> {
    const keyPair =
        profile === "ECDSA P-256"
            ? crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            : crypto.generateKeyPairSync("rsa", { modulusLength: profile === "RSA 2048" ? 2048 : 3072 });
    const keyPem = keyPair.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const certPem = selfSigned(keyPem);
    const server = tlsNet.createServer({
        key: keyPem,
        cert: certPem,
        ca: certPem,
        requestCert: true,
        rejectUnauthorized: true,
    });
    server.on("secureConnection", (s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    let count = 0;
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        await new Promise<void>((ok, fail) => {
            const socket = tlsNet.connect(
                {
                    host: "127.0.0.1",
                    port,
                    key: keyPem,
                    cert: certPem,
                    ca: certPem,
                    servername: "bench",
                    checkServerIdentity: () => undefined,
                },
                () => {
                    count++;
                    socket.end();
                },
            );
            socket.on("close", () => ok());
            socket.on("error", fail);
        });
    }
    server.close();
    return count / seconds;
}

async function parent(): Promise<void> {
    const sizes = (process.env.BENCH_SIZES ?? "24,240,1000,5000").split(",").map(Number);
    const measure = (what: string, size: number): Record<string, number> =>
        JSON.parse(
            execFileSync(process.execPath, ["--max-old-space-size=8192", __filename, "--child", what, String(size)], {
                encoding: "utf8",
                maxBuffer: 1 << 20,
            }),
        );
    const rows = [];
    for (const size of sizes) {
        const stack = measure("stack", size);
        const base = measure("baseline", size);
        const plan = measure("plan", size);
        rows.push({
            services: String(size),
            resources: `${stack.resources} / ${base.resources}`,
            "stack ms": stack.ms.toFixed(0),
            "baseline ms": base.ms.toFixed(0),
            ratio: (stack.ms / base.ms).toFixed(2),
            "ms / service": (stack.ms / size).toFixed(2),
            "plan ms": plan.planMs.toFixed(1),
            "inventory ms": plan.inventoryMs.toFixed(1),
            "diff ms": plan.diffMs.toFixed(1),
            "peak MB (stack/baseline/plan)": `${stack.maxRssMb} / ${base.maxRssMb} / ${plan.maxRssMb}`,
        });
        process.stderr.write(`measured ${size} services\n`);
    }
    console.log(`Option 2, fast mock (no crypto), Node ${process.version}, ${os.cpus().length} cores\n`);
    console.log(textTable(Object.keys(rows[0]), rows));
    const handshakeRows = [];
    for (const profile of ["RSA 2048", "RSA 3072", "ECDSA P-256"] as const) {
        handshakeRows.push({
            "leaf key": profile,
            "mutual-TLS handshakes / s (one core, loopback)": (await handshakesPerSecond(profile, 2)).toFixed(0),
        });
    }
    console.log(textTable(Object.keys(handshakeRows[0]), handshakeRows));
}

if (process.argv[2] === "--child") {
    child(process.argv[3], Number(process.argv[4])).catch((err) => {
        console.error((err as Error).message);
        process.exit(1);
    });
} else {
    parent().catch((err) => {
        console.error((err as Error).message);
        process.exit(1);
    });
}
