import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { EngineState } from "../lib/engine/standIn";
import { planFromRawConfig } from "../lib/plan/plan";
import { heapShortfall } from "../lib/render/heap";
import { renderPlan } from "../lib/render/render";
import { tempDir } from "./helpers";

const MB = 2 ** 20;

function option2(services: number): Record<string, unknown> {
    const names = (domain: string, n: number) => Array.from({ length: n }, (_, i) => `${domain}-svc-${i}`);
    return {
        environment: "scale",
        option: 2,
        baseDomain: "scale.api.bank.example",
        domains: { ob: { services: names("ob", services / 2) }, dp: { services: names("dp", services / 2) } },
    };
}

describe("render at scale", () => {
    it("refuses an Option 2 stack too large for the heap before making any key, saying what it needs and the way forward", async () => {
        const plan = planFromRawConfig(option2(300));
        const state: EngineState = new Map();
        const dir = tempDir("scale");
        const started = Date.now();
        await assert.rejects(renderPlan(plan, path.join(dir, "out"), { state, heapLimitBytes: 512 * MB }), {
            message:
                "Option 2 with 300 endpoints needs about 0.8 GB of heap to render (2700 resources at about 200 KB each under the Pulumi SDK's mocks); " +
                "this process may use 0.5 GB. Run with NODE_OPTIONS=--max-old-space-size=1024 on a machine with that much free memory, " +
                "or split the stack into several (e.g. one per domain)",
        });
        assert.ok(Date.now() - started < 1000, "refused at once (rendering 2700 resources takes minutes)");
        assert.strictEqual(state.size, 0, "no resource, so no key, was made");
        assert.deepStrictEqual(fs.readdirSync(dir), [], "nothing written");
    });

    it("tells a 10,000-service stack in Node's default heap (4 GB) the heap it needs, and lets 2,000 services through", () => {
        const defaultHeap = 4144 * MB;
        assert.strictEqual(
            heapShortfall(10_000, 2, defaultHeap),
            "Option 2 with 10000 endpoints needs about 17.4 GB of heap to render (90000 resources at about 200 KB each under the Pulumi SDK's mocks); " +
                "this process may use 4.0 GB. Run with NODE_OPTIONS=--max-old-space-size=18432 on a machine with that much free memory, " +
                "or split the stack into several (e.g. one per domain)",
        );
        assert.strictEqual(heapShortfall(2000, 2, defaultHeap), undefined);
    });
});
