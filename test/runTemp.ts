/**
 * The test run's one temp folder, shared by mocha's main process (.mocharc.js) and test/helpers.ts
 * (a process run without mocha's folder). Nothing here loads the library, so mocha's configuration
 * can require the compiled file cheaply.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The variable through which mocha's main process hands its run folder to the workers. */
export const RUN_TEMP_VARIABLE = "APIC_ISTIO_PKI_TEST_TMP";

/**
 * Free space /dev/shm must have to hold a run: a run peaks at about 45 MB there, and Chromium (the
 * pictures' test) uses /dev/shm too; a container's default /dev/shm is 64 MB.
 */
export const SHM_FREE_BYTES = 512 * 1024 * 1024;

/**
 * Where a run's folder goes: TMPDIR when the user set one; otherwise /dev/shm where it is a
 * writable folder with SHM_FREE_BYTES free, else the machine's temp folder. A run creates some
 * thousands of files (renders, keys, git repositories): on the CI machines' ext4 disk each costs
 * about 0.3 ms of kernel time, on the tmpfs of /dev/shm 0.01 ms, which takes about 4 s of CPU off a run.
 */
export function runTempBase(): string {
    if (process.env.TMPDIR) return os.tmpdir();
    try {
        fs.accessSync("/dev/shm", fs.constants.W_OK | fs.constants.X_OK);
        const { bavail, bsize } = fs.statfsSync("/dev/shm");
        if (fs.statSync("/dev/shm").isDirectory() && bavail * bsize >= SHM_FREE_BYTES) return "/dev/shm";
    } catch {
        // no /dev/shm here (macOS) or not ours to write
    }
    return os.tmpdir();
}

/**
 * Makes a `pki-test-*` folder for the run, removed with everything in it when this process exits.
 * It is 0711 so that a child run as another user (tests that need EACCES as root) reaches a folder
 * a test opened to it, while no one else may list the run's folders.
 */
export function makeRunTempRoot(): string {
    const root = fs.mkdtempSync(path.join(runTempBase(), "pki-test-"));
    fs.chmodSync(root, 0o711);
    process.on("exit", () => {
        try {
            fs.rmSync(root, { recursive: true, force: true });
        } catch (error) {
            process.stderr.write(`could not remove the tests' temp folder ${root}: ${(error as Error).message}\n`);
        }
    });
    return root;
}

let runTempRoot: string | undefined;

/**
 * A new folder (0700) for one test. All of a run's folders sit in one `pki-test-*` folder,
 * removed when the run ends: the folders hold keys, and runs that left them behind filled a shared
 * runner's /tmp (tens of thousands of entries after a few hundred runs). Under `npm test` mocha's
 * main process makes that folder (.mocharc.js) and removes it as it exits, whatever became of its
 * workers; a process run without it (one file, `--no-config`) makes its own and removes it at its
 * exit. (test/helpers.ts re-exports it.)
 */
export function tempDir(prefix: string): string {
    if (runTempRoot === undefined) {
        const shared = process.env[RUN_TEMP_VARIABLE];
        runTempRoot = shared !== undefined && fs.existsSync(shared) ? shared : makeRunTempRoot();
    }
    return fs.mkdtempSync(path.join(runTempRoot, `${prefix}-`));
}
