/** The test harness itself: what a run of the suite leaves on the machine, and its mocha hooks. */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ROOT, RUN_TEMP_VARIABLE, tempDir } from "./helpers";
import { detachError } from "./mochaHooks";
import { SHM_FREE_BYTES } from "./runTemp";

// Mocha's worker-to-main serializer (no types of its own).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { SerializableEvent } = require("mocha/lib/nodejs/serializer") as {
    SerializableEvent: { create(name: string, value: object, error: Error): { serialize(): object } };
};

describe("test harness", () => {
    it("makes every temp folder of a process in one folder of its own, removed when the process exits", () => {
        // A child process stands for a mocha worker: it makes two folders, writes a key-like file, exits.
        const machineTemp = tempDir("machine-temp");
        const script = `
            const fs = require("fs");
            const path = require("path");
            const { tempDir } = require(${JSON.stringify(path.join(ROOT, "dist/test/runTemp.js"))});
            const folders = [tempDir("first"), tempDir("second")];
            fs.writeFileSync(path.join(folders[0], "client.key"), "not a key", { mode: 0o600 });
            const modes = [path.dirname(folders[0]), ...folders].map((f) => (fs.statSync(f).mode & 0o777).toString(8));
            process.stdout.write(JSON.stringify({ folders, modes }));
        `;
        const child = spawnSync(process.execPath, ["-e", script], {
            encoding: "utf8",
            // As a process run without mocha's run folder (one test file, --no-config).
            env: { ...process.env, TMPDIR: machineTemp, [RUN_TEMP_VARIABLE]: undefined },
        });
        assert.strictEqual(child.status, 0, child.stderr);
        const { folders, modes } = JSON.parse(child.stdout) as { folders: string[]; modes: string[] };
        const runRoot = path.dirname(folders[0]);
        assert.strictEqual(path.dirname(folders[1]), runRoot);
        assert.strictEqual(path.dirname(runRoot), machineTemp);
        assert.match(path.basename(runRoot), /^pki-test-/);
        assert.match(path.basename(folders[0]), /^first-/);
        // The run's folder may be crossed (a child run as another user), not listed; each test's folder is private.
        assert.deepStrictEqual(modes, ["711", "700", "700"]);
        assert.deepStrictEqual(fs.readdirSync(machineTemp), []);

        // Without TMPDIR the run's folder goes to the tmpfs of /dev/shm where there is one: file
        // creation on the CI machines' disk costs thirty times the kernel time.
        const plain = spawnSync(process.execPath, ["-e", script], {
            encoding: "utf8",
            env: { ...process.env, TMPDIR: undefined, [RUN_TEMP_VARIABLE]: undefined },
        });
        assert.strictEqual(plain.status, 0, plain.stderr);
        const plainRoot = path.dirname((JSON.parse(plain.stdout) as { folders: string[] }).folders[0]);
        // ... with room for a run (a container's /dev/shm may be 64 MB).
        const shm = fs.existsSync("/dev/shm") ? fs.statfsSync("/dev/shm") : undefined;
        const roomy = shm !== undefined && shm.bavail * shm.bsize >= SHM_FREE_BYTES;
        assert.strictEqual(path.dirname(plainRoot), roomy ? "/dev/shm" : os.tmpdir());
        assert.strictEqual(fs.existsSync(plainRoot), false);
    });

    it("keeps a failed test's Outputs working while a parallel worker serializes its error (mochaHooks)", async () => {
        // Mocha's own serializer, as a worker runs it on a failure event: it deletes in place every
        // function it reaches. Without detachError the Output below loses its methods.
        const failure = (out: pulumi.Output<string>) =>
            Object.assign(
                new assert.AssertionError({ actual: { out, n: 1 }, expected: { n: 2 }, operator: "deepStrictEqual" }),
                {
                    resource: { urn: out },
                },
            );
        const mutilated = pulumi.output("ok");
        SerializableEvent.create("fail", { title: "t" }, failure(mutilated)).serialize();
        assert.throws(() => mutilated.apply((v) => v), { message: "this.allResources is not a function" });

        const kept = pulumi.output("ok");
        const error = failure(kept);
        const stack = error.stack;
        detachError(error);
        const sent = SerializableEvent.create("fail", { title: "t" }, error).serialize() as unknown as {
            error: Record<string, unknown>;
        };
        assert.strictEqual(await new Promise((resolve) => kept.apply(resolve)), "ok");
        // What the main process reports is unchanged: message, stack, the diff's two sides.
        assert.deepStrictEqual(
            [sent.error.message, sent.error.stack, sent.error.operator, sent.error.expected, "resource" in sent.error],
            [error.message, stack, "deepStrictEqual", { n: 2 }, false],
        );
        assert.strictEqual((sent.error.actual as { n: number }).n, 1);
        assert.strictEqual(typeof (sent.error.actual as { out: unknown }).out, "object");
    });
});
