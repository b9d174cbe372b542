/**
 * npm run bench: what the package costs at scale, printed as tables.
 * - construction of the stack program under a fast mock (no crypto), beside a hand-written
 *   baseline (bench/baseline.ts) registering the same @pulumi/tls, @pulumi/random and
 *   @pulumi/kubernetes resources directly and computing the same outputs: the ratio is the
 *   components' own overhead (target <= 1.2);
 * - plan, inventory and diff times; peak memory (each size runs in its own process);
 * - TLS handshakes per second on loopback for the leaf key profiles;
 * - a real render of stacks/Pulumi.dev.yaml (real keys and signatures, a fresh state) beside its
 *   key-generation floor: the same keys generated one after another, summed, divided by the cores
 *   (target: render <= 1.5x the floor). BENCH_RENDER_ROUNDS (default 3) rounds, medians compared.
 * Sizes: Option 2 with 24, 240, 1000 and 5000 services (BENCH_SIZES=24,240 to choose).
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as tlsNet from "tls";
import { textTable } from "../lib/cli/format";
import { resolve } from "../lib/engine/standIn";
import { diffPlans } from "../lib/inventory/diff";
import { plannedCertificates } from "../lib/inventory/planned";
import { planFromRawConfig } from "../lib/plan/plan";
import { rawConfigFromStackFile } from "../lib/config/load";
import { renderPlan } from "../lib/render/render";
import { buildPki } from "../lib/stack";
import { baseline } from "./baseline";
import { fastMocks, rawConfig, sameInputs, selfSigned } from "./parity";

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

/** A key the render made, as `tls.PrivateKey` was asked for it. */
interface KeySpec {
    algorithm: string;
    rsaBits?: number;
    ecdsaCurve?: string;
}

const DEV_STACK = path.resolve(__dirname, "../../stacks/Pulumi.dev.yaml");
const CURVES: Readonly<Record<string, string>> = { P256: "prime256v1", P384: "secp384r1", P521: "secp521r1" };

/** A real render of the dev stack into a temporary folder, from a fresh state: its time and its keys. */
async function renderDev(): Promise<{ ms: number; keys: KeySpec[] }> {
    const plan = planFromRawConfig(rawConfigFromStackFile(DEV_STACK));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "pki-bench-render-"));
    try {
        const started = process.hrtime.bigint();
        const { engine } = await renderPlan(plan, path.join(out, "out"), { state: new Map() });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const keys = engine.resources
            .filter((r) => r.type === "tls:index/privateKey:PrivateKey")
            .map((r) => r.inputs as unknown as KeySpec);
        return { ms, keys };
    } finally {
        fs.rmSync(out, { recursive: true, force: true });
    }
}

/** The same keys generated one after another on one core: the sum of their generation times. */
function keyGenerationMs(keys: KeySpec[]): number {
    let total = 0;
    for (const key of keys) {
        total += timeMs(() => {
            if (key.algorithm === "RSA") crypto.generateKeyPairSync("rsa", { modulusLength: key.rsaBits ?? 2048 });
            else if (key.algorithm === "ECDSA")
                crypto.generateKeyPairSync("ec", { namedCurve: CURVES[key.ecdsaCurve ?? "P224"] ?? "secp224r1" });
            else crypto.generateKeyPairSync("ed25519");
        });
    }
    return total;
}

/** Child process: one measurement, printed as JSON with the process's peak memory. */
async function child(what: string, size: number): Promise<void> {
    let result: Record<string, unknown>;
    if (what === "render") {
        const render = await renderDev();
        result = { renderMs: render.ms, keys: render.keys, keyGenerationMs: keyGenerationMs(render.keys) };
    } else if (what === "stack" || what === "baseline") {
        result = await construct(what, size);
    } else if (what === "parity") {
        const parity = await sameInputs(size);
        for (const d of parity.differences.slice(0, 10)) process.stderr.write(`${d}\n`);
        result = { same: parity.same ? 1 : 0, resources: parity.resources };
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
    // A 16 GB heap cap (not an allocation): at 5000 services the SDK holds ~8.6 GB, and an 8 GB cap
    // made the run GC-bound (47 ms per service instead of 30).
    const measure = (what: string, size: number): Record<string, number> =>
        JSON.parse(
            execFileSync(process.execPath, ["--max-old-space-size=16384", __filename, "--child", what, String(size)], {
                encoding: "utf8",
                maxBuffer: 1 << 20,
            }),
        );
    const parity = measure("parity", 24);
    if (parity.same !== 1)
        throw new Error(
            "the baseline no longer registers the stack's resources and inputs or returns its outputs; fix bench/baseline.ts",
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
    console.log(
        `Option 2, fast mock (no key generation or signing), Node ${process.version}, ${os.cpus().length} cores`,
    );
    console.log(
        `baseline: the same ${parity.resources} non-component resources with identical inputs and the same outputs (APIC's PEM and PKCS#12, trust anchors, inventory, deployment record) at 24 services (checked)\n`,
    );
    console.log(textTable(Object.keys(rows[0]), rows));
    const handshakeRows = [];
    for (const profile of ["RSA 2048", "RSA 3072", "ECDSA P-256"] as const) {
        handshakeRows.push({
            "leaf key": profile,
            "mutual-TLS handshakes / s (one core, loopback)": (await handshakesPerSecond(profile, 2)).toFixed(0),
        });
    }
    console.log(textTable(Object.keys(handshakeRows[0]), handshakeRows));
    renderAgainstFloor();
}

/** Render of the dev stack against its key-generation floor, each round in a fresh process. */
function renderAgainstFloor(): void {
    const rounds = Number(process.env.BENCH_RENDER_ROUNDS ?? "3");
    const cores = os.cpus().length;
    const measured: { renderMs: number; keys: KeySpec[]; keyGenerationMs: number }[] = [];
    for (let round = 0; round < rounds; round++) {
        const output = execFileSync(process.execPath, [__filename, "--child", "render", "0"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "inherit"],
        });
        measured.push(JSON.parse(output));
        process.stderr.write(`measured render round ${round + 1}\n`);
    }
    const median = (values: number[]): number => {
        const sorted = [...values].sort((a, b) => a - b);
        const middle = Math.floor(sorted.length / 2);
        return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    };
    const keyKinds = new Map<string, number>();
    for (const key of measured[0].keys) {
        const kind = key.algorithm === "RSA" ? `RSA ${key.rsaBits}` : `${key.algorithm} ${key.ecdsaCurve ?? ""}`.trim();
        keyKinds.set(kind, (keyKinds.get(kind) ?? 0) + 1);
    }
    const rows = measured.map((m, i) => ({
        round: String(i + 1),
        "render ms": m.renderMs.toFixed(0),
        "key generation ms (sum)": m.keyGenerationMs.toFixed(0),
        [`floor ms (sum / ${cores} cores)`]: (m.keyGenerationMs / cores).toFixed(0),
        "render / floor": (m.renderMs / (m.keyGenerationMs / cores)).toFixed(2),
    }));
    const renderMs = median(measured.map((m) => m.renderMs));
    const floorMs = median(measured.map((m) => m.keyGenerationMs)) / cores;
    rows.push({
        round: "median",
        "render ms": renderMs.toFixed(0),
        "key generation ms (sum)": (floorMs * cores).toFixed(0),
        [`floor ms (sum / ${cores} cores)`]: floorMs.toFixed(0),
        "render / floor": (renderMs / floorMs).toFixed(2),
    });
    console.log(
        `\nrender of stacks/Pulumi.dev.yaml (in-process, fresh state, real keys and signatures) against its key-generation floor;` +
            `\nits keys: ${[...keyKinds].map(([kind, n]) => `${n} x ${kind}`).join(", ")}; target: render / floor <= 1.5\n`,
    );
    console.log(textTable(Object.keys(rows[0]), rows));
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
