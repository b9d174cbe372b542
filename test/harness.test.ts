/** The test harness itself: what a run of the suite leaves on the machine. */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ROOT, RUN_TEMP_VARIABLE, tempDir } from "./helpers";
import { SHM_FREE_BYTES } from "./runTemp";

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
});
