/**
 * node --expose-gc dist/bench/renderHeap.js <services> [RSA|ECDSA]: the heap a real render of an
 * Option 2 stack takes under the stand-in (real keys and signatures), for the heap guard of
 * lib/render/heap.ts. Prints one JSON line: endpoints, resources registered, seconds, the peak
 * heap in use (sampled every 10 ms) and the heap still held after the render (after a full GC),
 * each also per resource. Run it with a large --max-old-space-size so the guard does not refuse.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as v8 from "v8";
import { planFromRawConfig } from "../lib/plan/plan";
import { renderPlan } from "../lib/render/render";

async function main(): Promise<void> {
    const services = Number(process.argv[2]);
    const keyAlgorithm = process.argv[3] ?? "ECDSA";
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-svc-${i}`);
    const half = Math.floor(services / 2);
    const plan = planFromRawConfig({
        environment: "bench",
        option: 2,
        baseDomain: "bench.api.bank.example",
        keyAlgorithm,
        caKeyAlgorithm: "ECDSA",
        domains: { ob: { services: names("ob", half) }, dp: { services: names("dp", services - half) } },
    });
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error("run with node --expose-gc");
    gc();
    const baseline = v8.getHeapStatistics().used_heap_size;
    let peak = baseline;
    const sampler = setInterval(() => {
        peak = Math.max(peak, v8.getHeapStatistics().used_heap_size);
    }, 10);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pki-heap-"));
    const started = Date.now();
    const result = await renderPlan(plan, path.join(dir, "out"), {});
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, v8.getHeapStatistics().used_heap_size);
    gc();
    const held = v8.getHeapStatistics().used_heap_size - baseline;
    const resources = result.engine.resources.length;
    fs.rmSync(dir, { recursive: true, force: true });
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    const kb = (bytes: number) => Math.round(bytes / 1024);
    process.stdout.write(
        JSON.stringify({
            services,
            keyAlgorithm,
            endpoints: plan.endpoints.length,
            resources,
            seconds,
            peakMb: mb(peak - baseline),
            heldMb: mb(held),
            peakKbPerResource: kb((peak - baseline) / resources),
            heldKbPerResource: kb(held / resources),
            heapLimitMb: mb(v8.getHeapStatistics().heap_size_limit),
        }) + "\n",
    );
}

main().catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
});
