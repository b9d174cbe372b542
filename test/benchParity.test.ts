/**
 * The bench's baseline stays a fair one: `npm run bench` compares the stack's construction with a
 * hand-written baseline registering the same resources, and refuses to print the ratio when they
 * differ. The suite runs the same check at a small size, so that a change to what the stack
 * registers or outputs cannot leave the baseline behind unnoticed until the next bench.
 */
import * as assert from "assert";
import { sameInputs } from "../bench/parity";

describe("bench: the baseline registers the stack's resources and outputs", function () {
    this.timeout(60_000);

    it("registers the same non-component resources with the same inputs, and computes the same outputs, at 2 services", async () => {
        assert.deepStrictEqual(await sameInputs(2), { same: true, resources: 35, differences: [] });
    });
});
