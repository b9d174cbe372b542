import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import nodeCrypto from "crypto";
import nodeFs from "fs";
import { createReplacement, othersPathRefusal } from "../lib/files";
import { PRIVATE_FILE, writeNewFile } from "../lib/render/files";
import { decryptState, encryptState } from "../lib/render/stateFile";
import { lockOutputFolder, lockStateFile } from "../lib/render/stateLock";
import { planFromRawConfig } from "../lib/plan/plan";
import { updateWarnings } from "../lib/stack";
import { AS_USER, cli, patched, ROOT, tempDir } from "./helpers";

const PASSPHRASE_VARIABLE = "APIC_ISTIO_PKI_STATE_PASSPHRASE";

const mode = (file: string): number => fs.lstatSync(file).mode & 0o777;

/** A stack file with ECDSA keys (the files are under test here, not RSA key generation). */
function stackFile(dir: string, name: string, pki: Record<string, unknown>): string {
    const file = path.join(dir, `Pulumi.${name}.yaml`);
    const config = {
        environment: "files",
        baseDomain: "files.example",
        keyAlgorithm: "ECDSA",
        caKeyAlgorithm: "ECDSA",
        ...pki,
    };
    fs.writeFileSync(
        file,
        YAML.stringify({ config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`pki:${k}`, v])) }),
    );
    return file;
}

/**
 * What render warns of last for every stack here, whose CA keys are ECDSA (the files are under
 * test, not RSA key generation): that the lifecycle cannot rotate its issuing CAs (the warning's
 * text is pinned by test/caRotation.test.ts).
 */
const ECDSA_CAS = `${updateWarnings(
    planFromRawConfig({
        environment: "files",
        baseDomain: "files.example",
        option: 1,
        caKeyAlgorithm: "ECDSA",
        domains: { ob: { services: ["a"] } },
    }),
)
    .map((warning) => `warning: ${warning}\n`)
    .join("")}`;

const option1 = (dir: string): string =>
    stackFile(dir, "option-1", { option: 1, domains: { ob: { services: ["a", "b"] }, dp: { services: ["d"] } } });

/** Every entry under `folder`, relative to it, folders marked with a trailing slash. */
function entries(folder: string, base = folder): string[] {
    return fs.readdirSync(folder, { withFileTypes: true }).flatMap((e) => {
        const full = path.join(folder, e.name);
        const relative = path.relative(base, full);
        return e.isDirectory() ? [`${relative}/`, ...entries(full, base)] : [relative];
    });
}

/** Files that hold a private key or a password: everything else a render writes is public. */
const SECRET_FILE = /(^|\/)(client\.key|client\.p12|client\.p12\.password|keystore\.json|secret-[^/]+\.yaml)$/;

/** An error as a system call throws it. */
const systemError = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: simulated`), { code });

async function withPassphrase<T>(passphrase: string | undefined, run: () => Promise<T>): Promise<T> {
    const before = process.env[PASSPHRASE_VARIABLE];
    if (passphrase === undefined) delete process.env[PASSPHRASE_VARIABLE];
    else process.env[PASSPHRASE_VARIABLE] = passphrase;
    try {
        return await run();
    } finally {
        if (before === undefined) delete process.env[PASSPHRASE_VARIABLE];
        else process.env[PASSPHRASE_VARIABLE] = before;
    }
}

/**
 * Each `render ARGS` of `runs`, one after the other in one child process given 30 s (Node and the
 * CLI load once): its exit status, what it wrote to standard error and how long it took. A render
 * that hangs (a read blocked on a FIFO, which no signal but SIGKILL ends) fails the test instead of
 * the suite.
 */
function rendersInChild(...runs: string[][]): { status: number; err: string; cpuMs: number }[] {
    // cpuMs: the CPU time each render used (all its threads: keys are made on libuv's pool), which a
    // crowded machine does not stretch as it stretches the time on the clock.
    const script = `
        const { main } = require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))});
        (async () => {
            const results = [];
            for (const args of JSON.parse(process.argv[1])) {
                let err = "";
                const started = process.cpuUsage();
                const status = await main(["render", ...args], () => undefined, (t) => (err += t));
                const used = process.cpuUsage(started);
                results.push({ status, err, cpuMs: Math.round((used.user + used.system) / 1000) });
            }
            process.stdout.write(JSON.stringify(results));
        })();`;
    const child = spawnSync(process.execPath, ["-e", script, JSON.stringify(runs)], {
        encoding: "utf8",
        timeout: 30_000,
        killSignal: "SIGKILL",
    });
    assert.strictEqual(child.signal, null, "the renders did not end within 30 s");
    return JSON.parse(child.stdout) as { status: number; err: string; cpuMs: number }[];
}

describe("render's files: keys on disk", function () {
    this.timeout(60_000);

    it("creates each file exclusively: a file or a link (even a dangling one) at its path is refused and left alone", () => {
        const dir = tempDir("files-exclusive");
        const victim = path.join(dir, "victim.txt");
        fs.writeFileSync(victim, "not for keys\n");
        fs.symlinkSync(victim, path.join(dir, "link.key"));
        fs.symlinkSync(path.join(dir, "absent.txt"), path.join(dir, "dangling.key"));
        for (const name of ["victim.txt", "link.key", "dangling.key"]) {
            assert.throws(() => writeNewFile(path.join(dir, name), "KEY", PRIVATE_FILE), { code: "EEXIST" }, name);
        }
        assert.strictEqual(fs.readFileSync(victim, "utf8"), "not for keys\n");
        assert.strictEqual(fs.existsSync(path.join(dir, "absent.txt")), false);
        const previous = process.umask(0o077);
        try {
            writeNewFile(path.join(dir, "public.pem"), "CERT", 0o644);
        } finally {
            process.umask(previous);
        }
        assert.strictEqual(mode(path.join(dir, "public.pem")), 0o644, "exactly the mode asked for, whatever the umask");
    });

    it("refuses an output folder that is a symbolic link, and leaves the folder it points to untouched", async () => {
        const dir = tempDir("files-link-out");
        const elsewhere = path.join(dir, "elsewhere");
        fs.mkdirSync(elsewhere);
        const out = path.join(dir, "out");
        fs.symlinkSync(elsewhere, out);
        const result = await cli("render", "--config", option1(dir), "--out", out);
        assert.strictEqual(
            result.err,
            `error: output folder ${out} is a symbolic link; render never writes keys through a link: give the real folder as --out\n`,
        );
        assert.strictEqual(result.status, 1);
        assert.deepStrictEqual(fs.readdirSync(elsewhere), []);
        assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, "--force"), result);
        assert.deepStrictEqual(fs.readdirSync(elsewhere), []);
    });

    it("never writes through a symbolic link planted in an earlier render's folder, and --force removes the link", async () => {
        const dir = tempDir("files-planted");
        const out = path.join(dir, "out");
        assert.strictEqual((await cli("render", "--config", option1(dir), "--out", out)).status, 0);
        // An attacker who could write the folder replaces a key file and a whole endpoint folder with links.
        const victimFile = path.join(dir, "victim.txt");
        fs.writeFileSync(victimFile, "not for keys\n");
        const victimFolder = path.join(dir, "victim");
        fs.mkdirSync(victimFolder);
        fs.rmSync(path.join(out, "apic/ob/client.key"));
        fs.symlinkSync(victimFile, path.join(out, "apic/ob/client.key"));
        fs.rmSync(path.join(out, "apic/dp"), { recursive: true });
        fs.symlinkSync(victimFolder, path.join(out, "apic/dp"));

        const result = await cli("render", "--config", option1(dir), "--out", out, "--force");
        assert.strictEqual(result.status, 0, result.err);
        assert.strictEqual(fs.readFileSync(victimFile, "utf8"), "not for keys\n");
        assert.deepStrictEqual(fs.readdirSync(victimFolder), []);
        assert.ok(fs.lstatSync(path.join(out, "apic/ob/client.key")).isFile());
        assert.strictEqual(mode(path.join(out, "apic/ob/client.key")), 0o600);
        assert.ok(fs.lstatSync(path.join(out, "apic/dp")).isDirectory());
        assert.match(
            fs.readFileSync(path.join(out, "apic/dp/client.key"), "utf8"),
            /^-----BEGIN [A-Z ]*PRIVATE KEY-----\n/,
        );
    });

    it("replaces an Option 2 render with an Option 3 render under --force, leaving no stale endpoint folder", async () => {
        const dir = tempDir("files-stale");
        const services = { ob: ["a", "b", "c"], dp: ["d"] };
        const option2 = stackFile(dir, "option-2", {
            option: 2,
            domains: { ob: { services: services.ob }, dp: { services: services.dp } },
        });
        const option3 = stackFile(dir, "option-3", {
            option: 3,
            domains: {
                ob: { services: services.ob, groups: { core: ["a", "b"], edge: ["c"] } },
                dp: { services: services.dp, groups: { all: ["d"] } },
            },
        });
        const out = path.join(dir, "out");
        assert.strictEqual((await cli("render", "--config", option2, "--out", out)).status, 0);
        assert.deepStrictEqual(fs.readdirSync(path.join(out, "apic")).sort(), ["dp-d", "ob-a", "ob-b", "ob-c"]);

        const result = await cli("render", "--config", option3, "--out", out, "--force");
        assert.strictEqual(result.status, 0, result.err);
        assert.deepStrictEqual(fs.readdirSync(path.join(out, "apic")).sort(), ["dp-all", "ob-core", "ob-edge"]);
        const fresh = path.join(dir, "fresh");
        assert.strictEqual((await cli("render", "--config", option3, "--out", fresh)).status, 0);
        assert.deepStrictEqual(entries(out).sort(), entries(fresh).sort());
        assert.deepStrictEqual(
            fs.readdirSync(dir).sort(),
            ["Pulumi.option-2.yaml", "Pulumi.option-3.yaml", "fresh", "out"],
            "no temporary or old folder is left beside the output",
        );
    });

    it("makes every key file 0600, every other file 0644 and every folder 0700, even where they were 0777 before", async () => {
        const dir = tempDir("files-modes");
        const out = path.join(dir, "out");
        fs.mkdirSync(out);
        fs.chmodSync(out, 0o777);
        assert.strictEqual((await cli("render", "--config", option1(dir), "--out", out)).status, 0);
        for (const entry of entries(out)) fs.chmodSync(path.join(out, entry), 0o777);
        fs.chmodSync(out, 0o777);

        const result = await cli("render", "--config", option1(dir), "--out", out, "--force");
        assert.strictEqual(result.status, 0, result.err);
        const modes = Object.fromEntries(entries(out).map((e) => [e, mode(path.join(out, e))]));
        const expected = Object.fromEntries(
            Object.keys(modes).map((e) => [e, e.endsWith("/") ? 0o700 : SECRET_FILE.test(e) ? 0o600 : 0o644]),
        );
        assert.deepStrictEqual(modes, expected);
        assert.strictEqual(mode(out), 0o700);
        assert.deepStrictEqual(
            Object.keys(modes).filter((e) => SECRET_FILE.test(e)),
            [
                "apic/dp/client.key",
                "apic/dp/client.p12",
                "apic/dp/client.p12.password",
                "apic/dp/keystore.json",
                "apic/ob/client.key",
                "apic/ob/client.p12",
                "apic/ob/client.p12.password",
                "apic/ob/keystore.json",
                "k8s/default/istio-system/secret-apic-mtls-dp.yaml",
                "k8s/default/istio-system/secret-apic-mtls-ob.yaml",
                "k8s/default/istio-system/secret-cacerts.yaml",
            ],
        );
    });

    it("refuses an earlier render holding files of someone else's at any depth, even with --force, deleting nothing", async () => {
        // Notes beside a bundle, a folder of one's own under k8s/, the certificate `ceremony sign`
        // writes beside the CSR it signed: --force replaced the whole folder and they were gone.
        const dir = tempDir("files-nested");
        const out = path.join(dir, "out");
        assert.strictEqual((await cli("render", "--config", option1(dir), "--out", out)).status, 0);
        const theirs = {
            "apic/ob/NOTES.txt": "my notes\n",
            "k8s/mine/keep.txt": "precious\n",
            "csr/apic-client-ca.crt": "-----BEGIN CERTIFICATE-----\n",
            "apic/ob/backup/client.key": "old key\n",
        };
        for (const [file, content] of Object.entries(theirs)) {
            fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
            fs.writeFileSync(path.join(out, file), content);
        }
        const before = entries(out).sort();
        assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, "--force"), {
            status: 1,
            out: "",
            err:
                `error: output folder ${out} holds files that are not a render's (apic/ob/NOTES.txt, apic/ob/backup/, csr/apic-client-ca.crt, 1 more); ` +
                "--force only replaces an earlier render: choose another --out\n",
        });
        assert.deepStrictEqual(entries(out).sort(), before);
        for (const [file, content] of Object.entries(theirs)) {
            assert.strictEqual(fs.readFileSync(path.join(out, file), "utf8"), content, file);
        }
    });

    it("refuses a folder that is not an earlier render, with or without --force, deleting nothing", async () => {
        const dir = tempDir("files-not-render");
        const cases: [string, Record<string, string>, string][] = [
            ["home", { "notes.txt": "mine\n" }, "holds files that are not a render's (notes.txt)"],
            // A render's file name alone does not make a render: --force would have deleted notes.txt and src/.
            [
                "project",
                { "inventory.json": "{}\n", "notes.txt": "mine\n", "src/a.ts": "x\n" },
                "holds files that are not a render's (inventory.json, notes.txt, src/)",
            ],
            ["inventory", { "inventory.json": "{}\n" }, "holds files that are not a render's (inventory.json)"],
            [
                "many",
                { "a.txt": "", "b.txt": "", "c.txt": "", "d.txt": "", "k8s/x.yaml": "" },
                "holds files that are not a render's (a.txt, b.txt, c.txt, 2 more)",
            ],
            [
                "no-mark",
                { "k8s/east/istio-system/secret-x.yaml": "", "trust.mmd": "" },
                "holds files that are not a render (it has no inventory.json or csr/)",
            ],
        ];
        for (const [name, files, problem] of cases) {
            const out = path.join(dir, name);
            for (const [file, content] of Object.entries(files)) {
                fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
                fs.writeFileSync(path.join(out, file), content);
            }
            const before = entries(out).sort();
            for (const force of [["--force"], []]) {
                const result = await cli("render", "--config", option1(dir), "--out", out, ...force);
                assert.strictEqual(
                    result.err,
                    `error: output folder ${out} ${problem}; --force only replaces an earlier render: choose another --out\n`,
                );
                assert.strictEqual(result.status, 1);
                assert.deepStrictEqual(entries(out).sort(), before);
            }
        }
    });

    it("says what it rendered in words that count: 1 endpoint, not 1 endpoints", async () => {
        const dir = tempDir("files-one");
        const one = stackFile(dir, "one", { option: 1, domains: { ob: { services: ["a"] } } });
        const result = await cli("render", "--config", one, "--out", path.join(dir, "out"));
        assert.strictEqual(result.status, 0);
        assert.match(result.out, /\(Option 1\): 1 endpoint, 8 certificates, 3 Kubernetes objects -> /);
    });

    it("refuses an --out that is a file, or below one, in one line naming it", async () => {
        const dir = tempDir("files-out-file");
        const file = path.join(dir, "notes.txt");
        fs.writeFileSync(file, "mine\n");
        for (const [out, problem] of [
            [file, "is not a folder; choose another --out"],
            [path.join(file, "out"), "cannot be used (a file is on its path, not a folder); choose another --out"],
            [path.join(file, "a", "b"), "cannot be used (a file is on its path, not a folder); choose another --out"],
        ]) {
            assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, "--force"), {
                status: 1,
                out: "",
                err: `error: output folder ${out} ${problem}\n`,
            });
        }
        assert.strictEqual(fs.readFileSync(file, "utf8"), "mine\n");
    });

    it("fails at once, before any key is made, when the output folder cannot be written (--out /proc/nope)", () => {
        // In a child process with a time limit: Node's recursive mkdir spins forever on /proc.
        // "Before any key": this render's CA keys alone (six RSA 4096, no suite keys in a new process)
        // take eight to ten seconds of CPU; a refusal under one (loading the program, reading the
        // config), so 3 s of CPU tells the two apart, however crowded the machine.
        const dir = tempDir("files-proc");
        const [outside, state] = rendersInChild(
            ["--config", option1(dir), "--out", "/proc/nope"],
            ["--config", option1(dir), "--out", path.join(dir, "out"), "--state", "/proc/nope.json"],
        );
        assert.deepStrictEqual(
            { status: outside.status, err: outside.err },
            {
                status: 1,
                err: "error: cannot write to /proc/nope (ENOENT creating a folder in /proc); give --out a folder you can write to\n",
            },
        );
        assert.ok(outside.cpuMs < 3000, `took ${outside.cpuMs} ms of CPU`);
        assert.deepStrictEqual(
            { status: state.status, err: state.err },
            {
                status: 1,
                err: "error: cannot write the state /proc/nope.json (ENOENT creating a file in /proc); give --state a file in a folder you can write to\n",
            },
        );
        assert.ok(state.cpuMs < 3000, `took ${state.cpuMs} ms of CPU`);
        assert.strictEqual(fs.existsSync(path.join(dir, "out")), false, "nothing rendered");
    });

    it("takes a link at inventory.json for no render's inventory: never followed, so a link to a FIFO cannot hang the render", () => {
        const dir = tempDir("files-inventory-link");
        const fifo = path.join(dir, "fifo");
        const mkfifo = spawnSync("mkfifo", [fifo], { encoding: "utf8" });
        assert.strictEqual(mkfifo.status, 0, mkfifo.stderr);
        const inventory = path.join(dir, "inventory.json");
        fs.writeFileSync(inventory, JSON.stringify({ environment: "files", option: 1, certificates: [] }));
        // An output folder for each, rendered into in one child process.
        const targets = [fifo, inventory];
        const outs = targets.map((target) => path.join(dir, `out-${path.basename(target)}`));
        targets.forEach((target, i) => {
            fs.mkdirSync(outs[i]);
            fs.symlinkSync(target, path.join(outs[i], "inventory.json"));
        });
        // Read through the link, the FIFO hung the render (holding its locks) until SIGKILL.
        const results = rendersInChild(...outs.map((out) => ["--config", option1(dir), "--out", out, "--force"]));
        targets.forEach((target, i) => {
            assert.deepStrictEqual(
                { status: results[i].status, err: results[i].err },
                {
                    status: 1,
                    err: `error: output folder ${outs[i]} holds files that are not a render's (inventory.json); --force only replaces an earlier render: choose another --out\n`,
                },
                target,
            );
            assert.strictEqual(
                fs.readlinkSync(path.join(outs[i], "inventory.json")),
                target,
                "the link is left as it was",
            );
        });
    });

    it("refuses a FIFO at --state, at the state's lock or at inventory.json without hanging on it", () => {
        const dir = tempDir("files-fifos");
        const mkfifo = (file: string): void => {
            const made = spawnSync("mkfifo", [file], { encoding: "utf8" });
            assert.strictEqual(made.status, 0, made.stderr);
        };
        const fifoState = path.join(dir, "fifo-state.json");
        mkfifo(fifoState);
        const state = path.join(dir, "state.json");
        fs.writeFileSync(state, "[]", { mode: 0o600 });
        const lock = `${state}.lock`;
        mkfifo(lock);
        const out = path.join(dir, "out-fifo");
        fs.mkdirSync(out);
        mkfifo(path.join(out, "inventory.json"));
        // In a child process: a read blocked on a FIFO hangs until SIGKILL, with the render's locks held.
        const [atState, atLock, atInventory] = rendersInChild(
            ["--config", option1(dir), "--out", path.join(dir, "out-state"), "--state", fifoState],
            ["--config", option1(dir), "--out", path.join(dir, "out-lock"), "--state", state],
            ["--config", option1(dir), "--out", out, "--force"],
        );
        assert.deepStrictEqual(
            [atState, atLock, atInventory].map(({ status, err }) => ({ status, err })),
            [
                { status: 1, err: `error: --state ${fifoState} is not a regular file; give a file\n` },
                {
                    status: 1,
                    err: `error: --state ${state} cannot be locked: ${lock} is not a file (a render's lock is a file it creates); remove ${lock}\n`,
                },
                {
                    status: 1,
                    err: `error: output folder ${out} holds files that are not a render's (inventory.json); --force only replaces an earlier render: choose another --out\n`,
                },
            ],
        );
        assert.strictEqual(fs.readFileSync(state, "utf8"), "[]");
        assert.ok(fs.lstatSync(lock).isFIFO(), "the FIFO at the lock is left as it was");
    });

    it("keeps its keys out of git: refuses an output folder or state file in a work tree that git does not ignore", async () => {
        const dir = tempDir("files-git");
        const repository = path.join(dir, "repository");
        fs.mkdirSync(path.join(repository, "stacks"), { recursive: true });
        spawnSync("git", ["init", "--quiet", repository]);
        fs.writeFileSync(path.join(repository, ".gitignore"), "out/\n");
        fs.mkdirSync(path.join(repository, "out"));
        const config = option1(path.join(repository, "stacks"));
        const workTree = fs.realpathSync(repository);
        const render = (out: string, state: string) =>
            cli("render", "--config", config, "--out", out, "--state", state);
        const at = (relative: string): string => path.join(repository, relative);
        fs.symlinkSync(at("stacks"), path.join(dir, "link"));
        const fix = (option: string, what: string, relative: string): string =>
            `give ${option} ${what} git ignores (e.g. under out/, with out/ in .gitignore), or add ${relative} to .gitignore\n`;
        const cases: [string, string, string][] = [
            [
                at("stacks/dev-render"),
                at("stacks/dev.state"),
                `error: --out ${at("stacks/dev-render")} is inside the git work tree ${workTree}, and git does not ignore it: the render writes private keys there, which one "git add -A" would commit; ` +
                    fix("--out", "a folder", "stacks/dev-render/"),
            ],
            [
                at("out/dev"),
                at("stacks/dev.state"),
                `error: --state ${at("stacks/dev.state")} is inside the git work tree ${workTree}, and git does not ignore it: it holds every private key, which one "git add -A" would commit; ` +
                    fix("--state", "a file", "stacks/dev.state"),
            ],
            // Its real path is checked: a link from outside leads into the work tree all the same.
            [
                path.join(dir, "link", "dev-render"),
                at("out/dev.state.json"),
                `error: --out ${path.join(dir, "link", "dev-render")} is inside the git work tree ${workTree}, and git does not ignore it: the render writes private keys there, which one "git add -A" would commit; ` +
                    fix("--out", "a folder", "stacks/dev-render/"),
            ],
        ];
        for (const [out, state, err] of cases) {
            assert.deepStrictEqual(await render(out, state), { status: 1, out: "", err }, out);
        }
        assert.deepStrictEqual(entries(at("stacks")), ["Pulumi.option-1.yaml"], "nothing made");
        assert.deepStrictEqual(entries(at("out")), [], "nothing made");

        // The work tree itself is never ignored; where git is not installed that is not checked either.
        assert.deepStrictEqual(await render(repository, path.join(dir, "top.state.json")), {
            status: 1,
            out: "",
            err: `error: --out ${repository} is the git work tree ${workTree}: the render writes private keys there, which one "git add -A" would commit; give --out a folder git ignores (e.g. under out/, with out/ in .gitignore)\n`,
        });
        const topWithoutGit = await patched(process.env, "PATH", dir, () =>
            render(repository, path.join(dir, "top.state.json")),
        );
        assert.match(topWithoutGit.err, /^error: output folder .* holds files that are not a render's/);

        const ignored = await render(at("out/dev"), at("out/dev.state.json"));
        assert.strictEqual(ignored.status, 0, ignored.err);
        // Where git is not installed, nothing is checked.
        const withoutGit = await patched(process.env, "PATH", dir, () =>
            render(at("stacks/dev-render"), path.join(dir, "state.json")),
        );
        assert.strictEqual(withoutGit.status, 0, withoutGit.err);
    });

    it("keeps its working files out of git too: refuses a .gitignore that names only the exact output folder or state file", async () => {
        const dir = tempDir("files-git-beside");
        const repository = path.join(dir, "repository");
        fs.mkdirSync(path.join(repository, "stacks"), { recursive: true });
        spawnSync("git", ["init", "--quiet", repository]);
        const config = option1(path.join(repository, "stacks"));
        const workTree = fs.realpathSync(repository);
        const out = path.join(repository, "stacks/dev-render");
        const state = path.join(repository, "stacks/dev.state");
        const render = () => cli("render", "--config", config, "--out", out, "--state", state);
        const ignoring = (...patterns: string[]) =>
            fs.writeFileSync(path.join(repository, ".gitignore"), `${patterns.join("\n")}\n`);

        ignoring("stacks/dev-render/", "stacks/dev.state");
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err:
                `error: --out ${out} is inside the git work tree ${workTree}, and git ignores it but not stacks/.dev-render.render-a1B2c3/ beside it, where the render stages its files while it runs: ` +
                `the render writes private keys there, which one "git add -A" during a render would commit; ` +
                `give --out a folder under one git ignores (e.g. under out/, with out/ in .gitignore), or add stacks/.dev-render.render-*/ to .gitignore\n`,
        });
        // The old output, moved aside while the new one takes its place, is beside it too.
        ignoring("stacks/dev-render/", "stacks/.dev-render.render-??????/", "stacks/dev.state");
        assert.match(
            (await render()).err,
            /and git ignores it but not stacks\/\.dev-render\.render-a1B2c3-old\/ beside it, where the render stages/,
        );
        // A pattern that un-ignores them counts: they are not ignored.
        ignoring(
            "stacks/dev-render/",
            "stacks/.dev-render.render-*/",
            "stacks/*.state",
            "stacks/.*.tmp",
            "!stacks/.dev.state.*",
        );
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err:
                `error: --state ${state} is inside the git work tree ${workTree}, and git ignores it but not stacks/.dev.state.0123456789ab.tmp beside it, where the render writes the next state before it replaces the file: ` +
                `it holds every private key, which one "git add -A" during a render would commit; ` +
                `give --state a file in a folder git ignores (e.g. under out/, with out/ in .gitignore), or add stacks/.dev.state.*.tmp to .gitignore\n`,
        });
        assert.deepStrictEqual(entries(path.join(repository, "stacks")), ["Pulumi.option-1.yaml"], "nothing made");

        ignoring("stacks/dev-render/", "stacks/.dev-render.render-*/", "stacks/dev.state", "stacks/.dev.state.*.tmp");
        const ignored = await render();
        assert.strictEqual(ignored.status, 0, ignored.err);
    });

    it("refuses an output folder in a work tree git cannot read (a checkout another user owns, a broken .git), naming git's reason", async () => {
        const dir = tempDir("files-git-unreadable");
        const repository = path.join(dir, "repository");
        fs.mkdirSync(repository);
        // What git says of it is as it says of a checkout it finds of "dubious ownership": exit 128.
        fs.writeFileSync(path.join(repository, ".git"), "gitdir: /nonexistent/.git\n");
        const workTree = fs.realpathSync(repository);
        const out = path.join(repository, "keys");
        const result = await cli("render", "--config", option1(dir), "--out", out);
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err:
                `error: --out ${out} is inside the git work tree ${workTree}, and git cannot say whether it ignores it (git check-ignore: fatal: not a git repository: /nonexistent/.git): ` +
                `the render writes private keys there, which one "git add -A" there would commit; give --out a folder outside that work tree, or mend what git reports (for "dubious ownership", render as the work tree's owner)\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(repository), [".git"], "nothing made");
    });
});

/** What `run` writes to standard error (render's warnings), and its result. */
async function stderrOf<T>(run: () => Promise<T>): Promise<{ result: T; stderr: string }> {
    let stderr = "";
    const result = await patched(
        process.stderr,
        "write",
        (text: string) => {
            stderr += text;
            return true;
        },
        run,
    );
    return { result, stderr };
}

describe("render --state: the state holds every private key", function () {
    this.timeout(60_000);

    it("writes the state 0600 by replacing the file, never keeping an earlier mode", async () => {
        const dir = tempDir("state-mode");
        const state = path.join(dir, "state.json");
        fs.writeFileSync(state, "[]");
        fs.chmodSync(state, 0o700);
        const result = await cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state);
        assert.strictEqual(result.status, 0, result.err);
        assert.strictEqual(mode(state), 0o600);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out", "state.json"]);
    });

    it("refuses to read a state file that others can read, naming its mode and the fix", async () => {
        const dir = tempDir("state-0644");
        const state = path.join(dir, "state.json");
        const first = await cli("render", "--config", option1(dir), "--out", path.join(dir, "one"), "--state", state);
        assert.strictEqual(first.status, 0, first.err);
        const before = fs.readFileSync(state);
        fs.chmodSync(state, 0o644);
        const result = await cli("render", "--config", option1(dir), "--out", path.join(dir, "two"), "--state", state);
        assert.strictEqual(
            result.err,
            `error: --state ${state} has mode 0644: it holds every private key, so only its owner may read or write it; run chmod 600 ${state}\n`,
        );
        assert.strictEqual(result.status, 1);
        assert.deepStrictEqual(fs.readFileSync(state), before);
        assert.strictEqual(fs.existsSync(path.join(dir, "two")), false);
    });

    it("makes the missing folders of --state 0700, and removes them again when the render is refused", async () => {
        const dir = tempDir("state-folder");
        const state = path.join(dir, "keys", "dev", "state.json");
        const made = await cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state);
        assert.strictEqual(made.status, 0, made.err);
        assert.deepStrictEqual(
            [mode(path.join(dir, "keys")), mode(path.dirname(state)), mode(state)],
            [0o700, 0o700, 0o600],
        );

        const bad = stackFile(dir, "bad", { option: 4, domains: { ob: { services: ["a"] } } });
        const other = path.join(dir, "other", "state.json");
        const refused = await cli("render", "--config", bad, "--out", path.join(dir, "out-bad"), "--state", other);
        assert.strictEqual(refused.status, 1);
        assert.strictEqual(refused.err, "invalid stack configuration:\n  - pki:option must be 1, 2 or 3; got 4\n");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.bad.yaml", "Pulumi.option-1.yaml", "keys", "out"]);
    });

    it("refuses a state file that is a symbolic link", async () => {
        const dir = tempDir("state-link");
        const real = path.join(dir, "real.json");
        fs.writeFileSync(real, "[]", { mode: 0o600 });
        const state = path.join(dir, "state.json");
        fs.symlinkSync(real, state);
        const result = await cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state);
        assert.strictEqual(
            result.err,
            `error: --state ${state} is a symbolic link; the state holds every private key and is never read or written through a link: give the real file\n`,
        );
        assert.strictEqual(result.status, 1);
        assert.strictEqual(fs.readFileSync(real, "utf8"), "[]");
    });

    it("encrypts the state with the passphrase of APIC_ISTIO_PKI_STATE_PASSPHRASE and reads it back", async () => {
        const dir = tempDir("state-encrypted");
        const state = path.join(dir, "state.json");
        const render = (out: string) =>
            cli("render", "--config", option1(dir), "--out", path.join(dir, out), "--state", state);
        await withPassphrase("correct horse battery staple", async () => {
            assert.strictEqual((await render("one")).status, 0);
            const stored = fs.readFileSync(state, "utf8");
            assert.ok(!stored.includes("PRIVATE KEY"), "no key in the clear");
            const envelope = JSON.parse(stored);
            const bytes = (base64: string): number => Buffer.from(base64, "base64").length;
            assert.deepStrictEqual(Object.keys(envelope), [
                "format",
                "version",
                "kdf",
                "cipher",
                "iv",
                "tag",
                "ciphertext",
            ]);
            assert.deepStrictEqual(
                {
                    ...envelope,
                    kdf: { ...envelope.kdf, salt: bytes(envelope.kdf.salt) },
                    iv: bytes(envelope.iv),
                    tag: bytes(envelope.tag),
                    ciphertext: "",
                },
                {
                    format: "apic-istio-pki-state",
                    version: 1,
                    kdf: { name: "scrypt", N: 131072, r: 8, p: 1, salt: 16 },
                    cipher: "aes-256-gcm",
                    iv: 12,
                    tag: 16,
                    ciphertext: "",
                },
            );
            assert.strictEqual(mode(state), 0o600);
            assert.strictEqual((await render("two")).status, 0);
            const resealed = JSON.parse(fs.readFileSync(state, "utf8"));
            assert.deepStrictEqual(
                [resealed.kdf, resealed.iv === envelope.iv, resealed.ciphertext === envelope.ciphertext],
                [envelope.kdf, false, false],
                "the second save keeps the file's salt (the key that opened it, one scrypt per render) with a fresh IV",
            );
        });
        const read = (out: string) => fs.readFileSync(path.join(dir, out, "apic/ob/client.key"), "utf8");
        assert.strictEqual(read("two"), read("one"), "the second render used the keys of the first");
    });

    it("re-keys a state sealed with weaker scrypt parameters: this version's parameters and a new salt", async () => {
        const dir = tempDir("state-rekeyed");
        const state = path.join(dir, "state.json");
        // A state written by an earlier version with N = 2^14, sealed here by hand as the envelope's format says.
        const header = {
            format: "apic-istio-pki-state",
            version: 1,
            kdf: { name: "scrypt", N: 16384, r: 8, p: 1, salt: crypto.randomBytes(16).toString("base64") },
            cipher: "aes-256-gcm",
        };
        const key = crypto.scryptSync("old passphrase", Buffer.from(header.kdf.salt, "base64"), 32, { N: 16384 });
        const iv = crypto.randomBytes(12);
        const cipher = crypto.createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(JSON.stringify(header)));
        const ciphertext = Buffer.concat([cipher.update("[]"), cipher.final()]);
        const old = { ...header, iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64") };
        fs.writeFileSync(state, JSON.stringify({ ...old, ciphertext: ciphertext.toString("base64") }), { mode: 0o600 });

        const result = await withPassphrase("old passphrase", () =>
            cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state),
        );
        assert.strictEqual(result.status, 0, result.err);
        const envelope = JSON.parse(fs.readFileSync(state, "utf8"));
        assert.deepStrictEqual(
            [envelope.kdf.N, envelope.kdf.salt === header.kdf.salt],
            [131072, false],
            "sealed anew under N = 2^17 with a new salt",
        );
        const keys = (JSON.parse(decryptState(envelope, "old passphrase")).resources as [string, unknown][]).length;
        assert.ok(keys > 0, "the re-keyed state holds the render's resources");
    });

    it("fails to decrypt a state whose scrypt parameters were weakened, as with a wrong passphrase", () => {
        const envelope = JSON.parse(encryptState("[]", "right"));
        assert.strictEqual(decryptState(envelope, "right"), "[]");
        assert.throws(() => decryptState({ ...envelope, kdf: { ...envelope.kdf, N: 1024 } }, "right"), {
            message: "Unsupported state or unable to authenticate data",
        });
    });

    it("refuses an encrypted state without the passphrase, or with a wrong one, in one clear line", async () => {
        const dir = tempDir("state-wrong");
        const state = path.join(dir, "state.json");
        const render = () => cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state);
        assert.strictEqual((await withPassphrase("right", render)).status, 0);
        fs.rmSync(path.join(dir, "out"), { recursive: true });
        const stored = fs.readFileSync(state);

        assert.deepStrictEqual(await withPassphrase(undefined, render), {
            status: 1,
            out: "",
            err: `error: --state ${state} is encrypted; set APIC_ISTIO_PKI_STATE_PASSPHRASE to its passphrase\n`,
        });
        assert.deepStrictEqual(await withPassphrase("wrong", render), {
            status: 1,
            out: "",
            err: `error: --state ${state} cannot be decrypted with APIC_ISTIO_PKI_STATE_PASSPHRASE: wrong passphrase, or the file was altered\n`,
        });
        assert.deepStrictEqual(fs.readFileSync(state), stored, "the state is left as it was");
        assert.strictEqual(fs.existsSync(path.join(dir, "out")), false);
    });

    it("refuses a plain state while a passphrase is set (nothing authenticates it) unless told once to encrypt it", async () => {
        const dir = tempDir("state-plain");
        const state = path.join(dir, "state.json");
        const render = (out: string, ...extra: string[]) =>
            cli("render", "--config", option1(dir), "--out", path.join(dir, out), "--state", state, ...extra);
        assert.strictEqual((await withPassphrase(undefined, () => render("plain"))).status, 0);
        const plain = fs.readFileSync(state);

        // A plain file put where the encrypted one was brings keys someone else knows.
        assert.deepStrictEqual(await withPassphrase("correct horse battery staple", () => render("refused")), {
            status: 1,
            out: "",
            err: `error: --state ${state} is not encrypted, but APIC_ISTIO_PKI_STATE_PASSPHRASE is set: a plain state is not authenticated, so its keys may not be the ones your renders made; if it is the plain state your own renders wrote, encrypt it by rendering once with --encrypt-plain-state\n`,
        });
        assert.deepStrictEqual(fs.readFileSync(state), plain, "the state is left as it was");
        assert.strictEqual(fs.existsSync(path.join(dir, "refused")), false);
        const usage = await withPassphrase(undefined, () => render("no-passphrase", "--encrypt-plain-state"));
        assert.deepStrictEqual(usage, {
            status: 2,
            out: "",
            err: "error: --encrypt-plain-state encrypts the plain state of --state FILE with APIC_ISTIO_PKI_STATE_PASSPHRASE: give both\nsee apic-istio-pki render --help\n",
        });

        await withPassphrase("correct horse battery staple", async () => {
            assert.strictEqual((await render("sealed", "--encrypt-plain-state")).status, 0);
            assert.strictEqual(JSON.parse(fs.readFileSync(state, "utf8")).format, "apic-istio-pki-state");
            // Encrypted now: the flag is no longer needed, and harmless when given again.
            assert.strictEqual((await render("again")).status, 0);
            assert.strictEqual((await render("again-flag", "--encrypt-plain-state")).status, 0);
        });
        const key = (out: string) => fs.readFileSync(path.join(dir, out, "apic/ob/client.key"), "utf8");
        assert.strictEqual(key("sealed"), key("plain"), "the plain state's keys, now sealed");
        assert.strictEqual(key("again-flag"), key("plain"));
    });

    it("refuses a state written for another pki:environment before any key is made, plain or encrypted, and leaves it as it was", async () => {
        const dir = tempDir("state-environment");
        const other = stackFile(dir, "prod", { option: 1, environment: "prod", domains: { ob: { services: ["a"] } } });
        for (const passphrase of [undefined, "correct horse battery staple"]) {
            const state = path.join(dir, passphrase === undefined ? "plain.json" : "sealed.json");
            await withPassphrase(passphrase, async () => {
                const first = await cli(
                    "render",
                    "--config",
                    option1(dir),
                    "--out",
                    path.join(dir, "files"),
                    "--state",
                    state,
                );
                assert.strictEqual(first.status, 0, first.err);
                fs.rmSync(path.join(dir, "files"), { recursive: true });
                const content = fs.readFileSync(state, "utf8");
                const plaintext = passphrase === undefined ? content : decryptState(JSON.parse(content), passphrase);
                assert.strictEqual(
                    JSON.parse(plaintext).environment,
                    "files",
                    "recorded where the envelope authenticates it",
                );
                const before = fs.readFileSync(state);
                assert.deepStrictEqual(
                    await cli("render", "--config", other, "--out", path.join(dir, "prod"), "--state", state),
                    {
                        status: 1,
                        out: "",
                        err:
                            `error: --state ${state} was written for pki:environment files, not for prod (${other}): it holds files's keys (its root's, CAs' and clients') and .p12 passwords, which prod must not be given; ` +
                            `give --state prod's own state file, or a new file to start prod's state\n`,
                    },
                );
                assert.deepStrictEqual(fs.readFileSync(state), before, "the state is left as it was, nothing pruned");
                assert.deepStrictEqual(fs.readdirSync(dir).sort(), [
                    "Pulumi.option-1.yaml",
                    "Pulumi.prod.yaml",
                    ...(passphrase === undefined ? ["plain.json"] : ["plain.json", "sealed.json"]),
                ]);
            });
        }
    });

    it("takes a state an earlier version wrote (no environment) for the stack's, says so once, and records it", async () => {
        const dir = tempDir("state-earlier");
        const state = path.join(dir, "state.json");
        const render = (config: string, out: string) =>
            cli("render", "--config", config, "--out", path.join(dir, out), "--state", state);
        assert.strictEqual((await render(option1(dir), "one")).status, 0);
        // As an earlier version wrote it: the bare list of resources.
        const { resources } = JSON.parse(fs.readFileSync(state, "utf8"));
        fs.writeFileSync(state, JSON.stringify(resources));

        const { result, stderr } = await stderrOf(() => render(option1(dir), "two"));
        assert.strictEqual(result.status, 0, result.err);
        assert.strictEqual(
            stderr,
            `warning: --state ${state} was written by an earlier version, which did not record the environment its keys are for: it is taken for pki:environment files (${option1(dir)}), and a render of another environment will be refused\n` +
                ECDSA_CAS,
        );
        assert.strictEqual(JSON.parse(fs.readFileSync(state, "utf8")).environment, "files");
        const key = (out: string) => fs.readFileSync(path.join(dir, out, "apic/ob/client.key"), "utf8");
        assert.strictEqual(key("two"), key("one"), "its keys kept");
        const prod = stackFile(dir, "prod", { option: 1, environment: "prod", domains: { ob: { services: ["a"] } } });
        assert.match(
            (await render(prod, "prod")).err,
            /^error: --state .* was written for pki:environment files, not for prod/,
        );
    });

    it("refuses a --state that is the output folder or inside it, links resolved, before anything is made", async () => {
        const dir = tempDir("state-in-out");
        const config = option1(dir);
        // Not there yet: the state would be saved as the file `fresh`, then renamed aside and deleted by the swap.
        const fresh = path.join(dir, "fresh");
        const out = path.join(dir, "out");
        fs.mkdirSync(out);
        fs.symlinkSync(out, path.join(dir, "link"));
        const cases: [string, string, string][] = [
            [fresh, fresh, "the output folder itself"],
            [path.join(out, "state.json"), out, `inside the output folder ${out}`],
            // The folder is found through the link all the same.
            [path.join(dir, "link", "keys", "state.json"), `${out}/`, `inside the output folder ${out}/`],
        ];
        for (const [state, given, where] of cases) {
            assert.deepStrictEqual(
                await cli("render", "--config", config, "--out", given, "--state", state),
                {
                    status: 1,
                    out: "",
                    err:
                        `error: --state ${state} is ${where}: a render replaces that folder whole, and the state, with every private key, would be deleted with it; ` +
                        `give --state a file outside it, e.g. ${path.resolve(given)}.state.json\n`,
                },
                state,
            );
            assert.deepStrictEqual(entries(dir).sort(), ["Pulumi.option-1.yaml", "link", "out/"], "nothing made");
        }
    });

    it("refuses a --state inside a folder named as a render's working folder beside the output (.out.render-XXXXXX), before anything is made; such a folder holding anything else is never removed", async () => {
        const dir = tempDir("state-in-staging");
        const config = option1(dir);
        const out = path.join(dir, "dev");
        const states = path.join(dir, ".dev.render-states");
        const state = path.join(states, "dev.json");
        const made = path.join(dir, "dev.json");
        assert.strictEqual(
            (await cli("render", "--config", config, "--out", path.join(dir, "one"), "--state", made)).status,
            0,
        );
        fs.mkdirSync(states, { mode: 0o700 });
        fs.renameSync(made, state);
        const kept = fs.readFileSync(state);
        const refused = (target: string) => ({
            status: 1,
            out: "",
            err:
                `error: --state ${state} is inside ${states}, named as a folder a render of ${out} works in (.dev.render-XXXXXX): a render removes such a folder as a killed render's leftover, and the state, with every private key, would be deleted with it; ` +
                `give --state a file outside it, e.g. ${target}.state.json\n`,
        });
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--state", state), refused(out));
        // An output folder's lock, which the save would replace.
        const lock = path.join(dir, ".dev.render.lock");
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--state", lock), {
            status: 1,
            out: "",
            err: `error: --state ${lock} is named as an output folder's lock (.<name>.render.lock), which renders take, replace and remove; give --state another file, e.g. ${out}.state.json\n`,
        });
        // Whatever the output folder: a render of dev would remove it all the same.
        const one = path.join(dir, "one");
        assert.deepStrictEqual(
            await cli("render", "--config", config, "--out", one, "--force", "--state", state),
            refused(one),
        );
        // Without --state, the render that would take the folder for a leftover finds the state in it.
        const { result, stderr } = await stderrOf(() => cli("render", "--config", config, "--out", out));
        assert.deepStrictEqual(
            [result, stderr],
            [
                {
                    status: 1,
                    out: "",
                    err: `error: output folder ${out} cannot be used: ${states} beside it, named as a render's leftover, holds files that are not a render's (dev.json), which render would remove with it; move them out of it, or give another --out\n`,
                },
                "",
            ],
        );
        assert.deepStrictEqual(fs.readFileSync(state), kept, "the state is kept");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [".dev.render-states", "Pulumi.option-1.yaml", "one"]);
    });

    it("refuses a malformed state, plain or encrypted, naming the entry by number and never quoting it", async () => {
        const dir = tempDir("state-malformed");
        const state = path.join(dir, "state.json");
        const passphrase = "correct horse battery staple";
        const resource = { inputsJson: "{}", id: "id", state: {} };
        // Sealed once with encryptState under `passphrase` (each sealing is a scrypt at N = 2^17, 0.3 s):
        // '[["a::b",{}]]' (its entry is no resource) and "SECRETPASSWORD123" (no state at all).
        const sealed = (salt: string, iv: string, tag: string, ciphertext: string): string =>
            JSON.stringify({
                format: "apic-istio-pki-state",
                version: 1,
                kdf: { name: "scrypt", N: 131072, r: 8, p: 1, salt },
                cipher: "aes-256-gcm",
                iv,
                tag,
                ciphertext,
            }) + "\n";
        const entryRefused = (n: number) =>
            `error: --state ${state} is not a render state: its entry ${n} is not a resource as a render writes it (["<type>::<name>", { inputsJson, id, state }], and a key's keyGeneration, when there, a whole number from 2); give the file an earlier render wrote\n`;
        const cases: [string | undefined, string, string][] = [
            [undefined, '["SECRETPASSWORD123"]', entryRefused(1)],
            [undefined, '[["SECRETPASSWORD123"]]', entryRefused(1)],
            [undefined, '[["tls:index/privateKey:PrivateKey::server-root-ca-key",null]]', entryRefused(1)],
            // A key's generation (EngineState's keyGeneration) is a whole number from 2 when present.
            [
                undefined,
                JSON.stringify({ environment: "files", resources: [["a::b", { ...resource, keyGeneration: "5" }]] }),
                entryRefused(1),
            ],
            [
                undefined,
                JSON.stringify({
                    environment: "files",
                    resources: [["a::b", resource], ["c::d", { ...resource, state: "SECRETPASSWORD123" }], 3],
                }),
                entryRefused(2),
            ],
            [
                passphrase,
                sealed(
                    "sFiz1J4DK/PMoCj/6G/wug==",
                    "xrfig7DAdY0lkxoC",
                    "nX+ZjCJ/v66jmB6+/h8S+w==",
                    "CMhd82bAzWe32uOB3g==",
                ),
                entryRefused(1),
            ],
            [
                passphrase,
                sealed(
                    "9G05g/PZ5OnM2B36vGJb0Q==",
                    "alcpcdilX+EOdkzd",
                    "jN0LvG12cVE8jBzUk0y0Fg==",
                    "efQNvkw5zcSwVI3T8WPKdyM=",
                ),
                `error: --state ${state} is not a render state; give the file an earlier render wrote\n`,
            ],
        ];
        for (const [key, content, err] of cases) {
            fs.writeFileSync(state, content, { mode: 0o600 });
            const result = await withPassphrase(key, () =>
                cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state),
            );
            assert.deepStrictEqual(result, { status: 1, out: "", err }, content);
            assert.strictEqual(fs.readFileSync(state, "utf8"), content, "the state is left as it was");
            assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "state.json"]);
        }
    });

    it("refuses a state file another user owns, even at mode 0600 (a render run as root included)", async () => {
        const dir = tempDir("state-owner");
        let state = path.join(dir, "state.json");
        const uid = process.getuid!();
        if (uid === 0) {
            assert.strictEqual(
                (await cli("render", "--config", option1(dir), "--out", path.join(dir, "one"), "--state", state))
                    .status,
                0,
            );
            fs.chownSync(state, 65534, 65534);
        } else {
            state = "/etc/hostname"; // root's, and readable: refused for its owner before its mode
        }
        const owner = fs.statSync(state).uid;
        const before = fs.readFileSync(state);
        assert.deepStrictEqual(
            await cli("render", "--config", option1(dir), "--out", path.join(dir, "two"), "--state", state),
            {
                status: 1,
                out: "",
                err: `error: --state ${state} belongs to user ${owner}, not to the user rendering (${uid}): the state holds every private key, and a file another user owns may hold keys they chose; render as its owner or give a state file of your own\n`,
            },
        );
        assert.deepStrictEqual(fs.readFileSync(state), before);
        assert.strictEqual(fs.existsSync(path.join(dir, "two")), false);
    });
});

describe("render --state: one render at a time on a state file (its lock, FILE.lock)", function () {
    this.timeout(60_000);

    /** What the lock at `lock` says of its holder. */
    const holderIn = (lock: string): { pid: number; host: string; started: string } =>
        JSON.parse(fs.readFileSync(lock, "utf8"));

    it("refuses a second render at once while a render holds the lock, naming the state, the lock, its holder and the fix; nothing is read or written", async () => {
        const dir = tempDir("state-locked");
        const state = path.join(dir, "state.json");
        fs.writeFileSync(state, "[]", { mode: 0o600 });
        const config = option1(dir);
        // The render that got there first, here in this process: it has opened the state and is rendering.
        const first = lockStateFile(state);
        const lock = `${state}.lock`;
        assert.strictEqual(first.file, lock);
        assert.strictEqual(mode(lock), 0o600);
        const holder = holderIn(lock);
        assert.deepStrictEqual(
            { ...holder, started: typeof holder.started },
            { pid: process.pid, host: os.hostname(), started: "string" },
        );
        const second = await cli("render", "--config", config, "--out", path.join(dir, "out"), "--state", state);
        assert.deepStrictEqual(second, {
            status: 1,
            out: "",
            err: `error: --state ${state} is in use: its lock ${lock} is held by pid ${process.pid} on ${os.hostname()} since ${new Date(holder.started).toISOString()}; wait for that render to end, or if none is running, remove ${lock}\n`,
        });
        assert.strictEqual(fs.readFileSync(state, "utf8"), "[]", "the state is left as it was");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "state.json", "state.json.lock"]);

        // A lock a killed render left is never removed by the next: the message says what it can tell.
        first.release();
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "state.json"], "released");
        const render = () => cli("render", "--config", config, "--out", path.join(dir, "out"), "--state", state);
        const exited = spawnSync(process.execPath, ["-e", ""]).pid; // a pid that runs no more
        fs.writeFileSync(lock, JSON.stringify({ pid: exited, host: os.hostname(), started: "2031-05-06T07:08:09Z" }));
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err: `error: --state ${state} is in use: its lock ${lock} is held by pid ${exited} on ${os.hostname()} since 2031-05-06T07:08:09.000Z, but no process ${exited} runs on this host (a render killed before it could remove its lock?); if no other render uses this state, remove ${lock}\n`,
        });
        fs.writeFileSync(lock, JSON.stringify({ pid: exited, host: "ci-runner-7", started: "2031-05-06T07:08:09Z" }));
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err: `error: --state ${state} is in use: its lock ${lock} is held by pid ${exited} on ci-runner-7 since 2031-05-06T07:08:09.000Z; wait for that render to end, or if none is running, remove ${lock}\n`,
        });
        assert.strictEqual(fs.existsSync(lock), true, "another host's lock is left for a human to judge");
        assert.strictEqual(fs.readFileSync(state, "utf8"), "[]");
        assert.strictEqual(fs.existsSync(path.join(dir, "out")), false, "nothing rendered");
    });

    it("names the output folder's lock too when the render that holds the state's holds it (killed with kill -9, it left both)", async () => {
        const dir = tempDir("state-locks-left");
        const state = path.join(dir, "state.json");
        const out = path.join(dir, "out");
        const [lock, outLock] = [`${state}.lock`, path.join(dir, ".out.render.lock")];
        const exited = spawnSync(process.execPath, ["-e", ""]).pid;
        const holder = { pid: exited, host: os.hostname(), started: "2031-05-06T07:08:09Z" };
        fs.writeFileSync(lock, JSON.stringify(holder));
        fs.writeFileSync(outLock, JSON.stringify(holder));
        const render = () => cli("render", "--config", option1(dir), "--out", out, "--state", state);
        const held = `error: --state ${state} is in use: its lock ${lock} is held by pid ${exited} on ${os.hostname()} since 2031-05-06T07:08:09.000Z, but no process ${exited} runs on this host (a render killed before it could remove its lock?); if no other render uses this state, remove`;
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err: `${held} ${lock} and ${outLock} (the same render's lock of output folder ${out})\n`,
        });
        // Another render's lock of the output folder is not this one's to name.
        fs.writeFileSync(outLock, JSON.stringify({ ...holder, pid: process.pid }));
        assert.deepStrictEqual(await render(), { status: 1, out: "", err: `${held} ${lock}\n` });
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [
            ".out.render.lock",
            "Pulumi.option-1.yaml",
            "state.json.lock",
        ]);
    });

    it("holds the lock while it reads the state and releases it however the render ends: done, refused for its config, or failing to write the state", async () => {
        const dir = tempDir("state-released");
        const state = path.join(dir, "state.json");
        const lock = `${state}.lock`;
        /** Runs the render with every open of the state file noting whether the lock was there. */
        const render = async (config: string, out: string) => {
            const lockedWhenRead: boolean[] = [];
            const openSync = nodeFs.openSync;
            const result = await patched(
                nodeFs,
                "openSync",
                (...args: Parameters<typeof fs.openSync>) => {
                    if (args[0] === state) lockedWhenRead.push(fs.existsSync(lock));
                    return openSync(...args);
                },
                () => cli("render", "--config", config, "--out", path.join(dir, out), "--state", state),
            );
            return { ...result, lockedWhenRead };
        };

        const done = await render(option1(dir), "done");
        assert.deepStrictEqual([done.status, done.lockedWhenRead], [0, [true]], done.err);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "done", "state.json"]);
        const written = fs.readFileSync(state);

        const badConfig = await render(
            stackFile(dir, "bad", { option: 7, domains: { ob: { services: ["a"] } } }),
            "bad",
        );
        assert.deepStrictEqual(
            { status: badConfig.status, err: badConfig.err, lockedWhenRead: badConfig.lockedWhenRead },
            {
                status: 1,
                err: "invalid stack configuration:\n  - pki:option must be 1, 2 or 3; got 7\n",
                lockedWhenRead: [true],
            },
        );
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [
            "Pulumi.bad.yaml",
            "Pulumi.option-1.yaml",
            "done",
            "state.json",
        ]);
        assert.deepStrictEqual(fs.readFileSync(state), written);

        // The state's rename fails (a full or failing disk): the render fails, the lock and the new file go.
        const renameSync = nodeFs.renameSync;
        const failed = await patched(
            nodeFs,
            "renameSync",
            (from: fs.PathLike, to: fs.PathLike) => {
                if (to === state) throw systemError("EIO");
                renameSync(from, to);
            },
            () => render(option1(dir), "failed"),
        );
        assert.deepStrictEqual(
            { status: failed.status, err: failed.err, lockedWhenRead: failed.lockedWhenRead },
            {
                status: 1,
                err: `error: cannot save the state ${state} (EIO); it is left as it was and this render's output is not put in place: free space or fix the folder, then render again\n`,
                lockedWhenRead: [true],
            },
        );
        assert.deepStrictEqual(
            fs.readdirSync(dir).filter((name) => name.includes("failed")),
            [],
            "no output whose keys the state lacks, and no staging folder",
        );
        assert.deepStrictEqual(
            fs.readdirSync(dir).filter((name) => name.startsWith("state.json") || name.startsWith(".state.json")),
            ["state.json"],
            "no lock, no new state file left",
        );
        assert.deepStrictEqual(fs.readFileSync(state), written);
    });

    it("refuses a symbolic link at the lock's path, even a dangling one, and never follows it", async () => {
        const dir = tempDir("state-lock-link");
        const state = path.join(dir, "state.json");
        fs.writeFileSync(state, "[]", { mode: 0o600 });
        const lock = `${state}.lock`;
        const victim = path.join(dir, "victim.txt");
        fs.writeFileSync(victim, "not a lock\n", { mode: 0o644 });
        const absent = path.join(dir, "absent.txt");
        for (const target of [victim, absent]) {
            fs.symlinkSync(target, lock);
            assert.deepStrictEqual(
                await cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state),
                {
                    status: 1,
                    out: "",
                    err: `error: --state ${state} cannot be locked: ${lock} is a symbolic link (a render creates its lock itself, never through a link); remove ${lock}\n`,
                },
                target,
            );
            assert.strictEqual(fs.readlinkSync(lock), target, "the link is left as it was");
            fs.unlinkSync(lock);
        }
        assert.strictEqual(fs.readFileSync(victim, "utf8"), "not a lock\n");
        assert.strictEqual(mode(victim), 0o644);
        assert.strictEqual(fs.existsSync(absent), false, "nothing created where a dangling link pointed");
        assert.strictEqual(fs.readFileSync(state, "utf8"), "[]");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "state.json", "victim.txt"]);
    });

    it("releases the lock and removes its new state file when interrupted (SIGINT), then dies of the signal", () => {
        const dir = tempDir("state-interrupted");
        const state = path.join(dir, "state.json");
        const config = option1(dir);
        // The render signals itself when it reads the stack file, that is after taking the lock and
        // before making any key (which it does off the main thread, so the signal is handled then).
        const script = `
            const fs = require("fs");
            const [config, lock] = process.argv.slice(1);
            const openSync = fs.openSync;
            let sent = false;
            fs.openSync = (file, ...rest) => {
                if (file === config && !sent) {
                    sent = true;
                    process.stdout.write(fs.existsSync(lock) ? "locked\\n" : "not locked\\n");
                    process.kill(process.pid, "SIGINT");
                }
                return openSync(file, ...rest);
            };
            const { main } = require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))});
            main(["render", "--config", config, "--out", ${JSON.stringify(path.join(dir, "out"))}, "--state", ${JSON.stringify(state)}]).then(
                (status) => process.stdout.write("ended " + status + "\\n"),
            );`;
        const child = spawnSync(process.execPath, ["-e", script, config, `${state}.lock`], {
            encoding: "utf8",
            timeout: 30_000,
        });
        assert.deepStrictEqual([child.stdout, child.signal], ["locked\n", "SIGINT"], child.stderr);
        assert.deepStrictEqual(
            fs.readdirSync(dir).filter((name) => !name.startsWith(".out.render-")),
            ["Pulumi.option-1.yaml"],
            "no lock, no state file half-made",
        );
    });
});

describe("createReplacement: a new file renamed over the old one", () => {
    it("writes exactly the mode asked for, whatever the umask or the old file's mode, and replaces a link instead of writing through it", () => {
        const dir = tempDir("replace-mode");
        const file = path.join(dir, "target.json");
        fs.writeFileSync(file, "old\n", { mode: 0o644 });
        const previous = process.umask(0o077);
        try {
            const replacement = createReplacement(file, 0o640);
            assert.strictEqual(path.dirname(replacement.temporary), dir, "beside the file, so the rename is atomic");
            assert.match(path.basename(replacement.temporary), /^\.target\.json\.[0-9a-f]{12}\.tmp$/);
            assert.strictEqual(mode(replacement.temporary), 0o640, "created with the mode, before any write");
            replacement.commit("new\n");
        } finally {
            process.umask(previous);
        }
        assert.strictEqual(fs.readFileSync(file, "utf8"), "new\n");
        assert.strictEqual(mode(file), 0o640);

        const victim = path.join(dir, "victim.txt");
        fs.writeFileSync(victim, "not this\n");
        const link = path.join(dir, "link.json");
        fs.symlinkSync(victim, link);
        createReplacement(link, PRIVATE_FILE).commit("replaced\n");
        assert.strictEqual(fs.lstatSync(link).isFile(), true, "the link itself is replaced by the file");
        assert.strictEqual(fs.readFileSync(victim, "utf8"), "not this\n");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["link.json", "target.json", "victim.txt"]);
    });

    it("creates the new file exclusively: a link or file already at its name is refused and left alone", async () => {
        const dir = tempDir("replace-exclusive");
        const file = path.join(dir, "target.json");
        fs.writeFileSync(file, "old\n");
        const victim = path.join(dir, "victim.txt");
        fs.writeFileSync(victim, "not this\n");
        // The name the next replacement will take, with randomBytes made predictable.
        const fixed = Buffer.from("0123456789ab", "hex");
        const planted = path.join(dir, ".target.json.0123456789ab.tmp");
        await patched(
            nodeCrypto,
            "randomBytes",
            () => fixed,
            () => {
                fs.symlinkSync(victim, planted);
                assert.throws(() => createReplacement(file, PRIVATE_FILE), { code: "EEXIST" });
                fs.unlinkSync(planted);
                fs.writeFileSync(planted, "a crashed run's\n");
                assert.throws(() => createReplacement(file, PRIVATE_FILE), { code: "EEXIST" });
            },
        );
        assert.strictEqual(fs.readFileSync(victim, "utf8"), "not this\n");
        assert.strictEqual(fs.readFileSync(planted, "utf8"), "a crashed run's\n");
        assert.strictEqual(fs.readFileSync(file, "utf8"), "old\n");
    });

    it("removes the new file when it cannot be written or renamed, leaving the target as it was, and throws the system error", async () => {
        const dir = tempDir("replace-failure");
        // rename(2) refuses to put a file over a folder: EISDIR.
        const folder = path.join(dir, "a-folder");
        fs.mkdirSync(folder);
        fs.writeFileSync(path.join(folder, "inside.txt"), "kept\n");
        assert.throws(() => createReplacement(folder, PRIVATE_FILE).commit("new\n"), { code: "EISDIR" });
        assert.deepStrictEqual(fs.readdirSync(dir), ["a-folder"]);
        assert.strictEqual(fs.readFileSync(path.join(folder, "inside.txt"), "utf8"), "kept\n");

        const file = path.join(dir, "target.json");
        fs.writeFileSync(file, "old\n");
        await patched(
            nodeFs,
            "fsyncSync",
            () => {
                throw systemError("EIO");
            },
            () => {
                assert.throws(() => createReplacement(file, PRIVATE_FILE).commit("new\n"), { code: "EIO" });
            },
        );
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["a-folder", "target.json"]);
        assert.strictEqual(fs.readFileSync(file, "utf8"), "old\n");

        // Nothing to create it in: the caller gets ENOENT to word, and nothing is made.
        assert.throws(() => createReplacement(path.join(dir, "absent", "x.json"), PRIVATE_FILE), { code: "ENOENT" });
        const unused = createReplacement(file, PRIVATE_FILE);
        unused.discard();
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["a-folder", "target.json"], "discard removes the new file");
    });
});

describe("render: what an interrupted, killed or failing render leaves behind", function () {
    this.timeout(60_000);

    /** Runs `run` with what the process writes to standard error (render's warnings) collected, not shown. */
    /**
     * Renders in one child process (Node and the SDK start once), one render after the other, each
     * sending itself `signal` `when` it has made its staging folder (it is then making keys, off
     * the main thread, so the signal is handled meanwhile) or when it opens its first key file in
     * it (it is then writing its files, synchronously). Prints "staged" or "writing" when it
     * signals, and "ended <status>" after each render that returns.
     */
    function renders(signal: NodeJS.Signals | "a bug", ...runs: { when: "staged" | "writing"; args: string[] }[]) {
        const script = `
            const fs = require("fs");
            const [signal, runs] = [process.argv[1], JSON.parse(process.argv[2])];
            let when;
            const mkdtempSync = fs.mkdtempSync;
            fs.mkdtempSync = (...rest) => {
                const folder = mkdtempSync(...rest);
                if (when === "staged") send();
                return folder;
            };
            const openSync = fs.openSync;
            fs.openSync = (file, ...rest) => {
                if (when === "writing" && /\\.render-[^/]+\\/apic\\/ob\\/client\\.key$/.test(file)) send();
                return openSync(file, ...rest);
            };
            function send() {
                process.stdout.write(when + "\\n");
                when = undefined;
                // "a bug": an exception no one catches ends the process, as a TypeError in the render would.
                if (signal === "a bug") setImmediate(() => { throw new TypeError("a bug in the render"); });
                else process.kill(process.pid, signal);
            }
            const { main } = require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))});
            (async () => {
                for (const run of runs) {
                    when = run.when;
                    const status = await main(["render", ...run.args], () => undefined);
                    process.stdout.write("ended " + status + "\\n");
                }
            })();`;
        return spawnSync(process.execPath, ["-e", script, signal, JSON.stringify(runs)], {
            encoding: "utf8",
            timeout: 30_000,
        });
    }

    it("interrupted (SIGTERM) while making keys, removes its staging folder and dies of the signal; while writing its files, finishes first: nothing is left beside the output", async () => {
        const dir = tempDir("interrupted-render");
        const out = path.join(dir, "out");
        const config = option1(dir);
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        const before = entries(out).sort();
        const key = () => fs.readFileSync(path.join(out, "apic/ob/client.key"), "utf8");
        const first = key();

        const child = renders(
            "SIGTERM",
            { when: "writing", args: ["--config", config, "--out", out, "--force"] },
            { when: "staged", args: ["--config", config, "--out", out, "--force"] },
        );
        assert.deepStrictEqual([child.stdout, child.signal], ["writing\nended 0\nstaged\n", "SIGTERM"], child.stderr);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
        assert.deepStrictEqual(entries(out).sort(), before);
        assert.notStrictEqual(key(), first, "the render signalled while writing was put in place");
    });

    it("with --state, interrupted (SIGHUP) while making keys, removes its staging folder, its new state file, its locks and the folder made for --out, and dies of the signal", () => {
        const dir = tempDir("interrupted-state");
        const out = path.join(dir, "deep", "out");
        const child = renders("SIGHUP", {
            when: "staged",
            args: ["--config", option1(dir), "--out", out, "--state", path.join(dir, "state.json")],
        });
        assert.deepStrictEqual([child.stdout, child.signal], ["staged\n", "SIGHUP"], child.stderr);
        assert.deepStrictEqual(fs.readdirSync(dir), ["Pulumi.option-1.yaml"]);
    });

    it("with --state, sent Ctrl-\\ (SIGQUIT) while making keys, removes its staging folder, its new state file, its locks and the folder made for --out, and ends as SIGINT does, with no core file", () => {
        const dir = tempDir("quit-state");
        const out = path.join(dir, "deep", "out");
        const child = renders("SIGQUIT", {
            when: "staged",
            args: ["--config", option1(dir), "--out", out, "--state", path.join(dir, "state.json")],
        });
        // SIGQUIT's own ending would dump core with the CA keys in memory, and leave the staging folder.
        assert.deepStrictEqual([child.stdout, child.signal], ["staged\n", "SIGINT"], child.stderr);
        assert.deepStrictEqual(fs.readdirSync(dir), ["Pulumi.option-1.yaml"]);
    });

    it("with --state, ended by a bug (an uncaught exception) while making keys, removes its staging folder, its new state file, its locks and the folder made for --out, and prints no key", () => {
        const dir = tempDir("crashed-state");
        const out = path.join(dir, "deep", "out");
        const child = renders("a bug", {
            when: "staged",
            args: ["--config", option1(dir), "--out", out, "--state", path.join(dir, "state.json")],
        });
        assert.deepStrictEqual([child.stdout, child.status], ["staged\n", 1], child.stderr);
        assert.match(child.stderr, /TypeError: a bug in the render/);
        assert.doesNotMatch(child.stderr, /PRIVATE KEY/);
        assert.deepStrictEqual(fs.readdirSync(dir), ["Pulumi.option-1.yaml"]);
    });

    /** A folder as a render leaves it, as far as render can tell (an inventory.json of a render). */
    function earlierRender(folder: string): void {
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(folder, "inventory.json"), '{ "environment": "files", "certificates": [] }\n');
    }

    it("lets one render at a time write to an output folder: a second is refused at once, naming the lock's holder, and one that finds a render there once it holds the lock needs --force", async () => {
        const dir = tempDir("out-locked");
        const out = path.join(dir, "out");
        const lock = path.join(dir, ".out.render.lock");
        const render = () => cli("render", "--config", option1(dir), "--out", out);
        // The render that got there first, here in this process: it holds the lock and is rendering.
        const first = lockOutputFolder(out);
        const holder = JSON.parse(fs.readFileSync(lock, "utf8"));
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err: `error: output folder ${out} is in use: its lock ${lock} is held by pid ${process.pid} on ${os.hostname()} since ${holder.started}; wait for that render to end, or if none is running, remove ${lock}\n`,
        });
        assert.deepStrictEqual(
            fs.readdirSync(dir).sort(),
            [".out.render.lock", "Pulumi.option-1.yaml"],
            "no staging folder left",
        );
        first.release();

        // A render killed with kill -9 left its lock: named, never removed.
        const exited = spawnSync(process.execPath, ["-e", ""]).pid;
        fs.writeFileSync(lock, JSON.stringify({ pid: exited, host: os.hostname(), started: "2031-05-06T07:08:09Z" }));
        assert.deepStrictEqual(await render(), {
            status: 1,
            out: "",
            err: `error: output folder ${out} is in use: its lock ${lock} is held by pid ${exited} on ${os.hostname()} since 2031-05-06T07:08:09.000Z, but no process ${exited} runs on this host (a render killed before it could remove its lock?); if no other render writes to this output folder, remove ${lock}\n`,
        });
        fs.unlinkSync(lock);

        // Another render puts its output in place while this one starts (after its first look, before its lock).
        const mkdtempSync = nodeFs.mkdtempSync;
        const raced = await patched(
            nodeFs,
            "mkdtempSync",
            (prefix: string) => {
                earlierRender(out);
                return mkdtempSync(prefix);
            },
            render,
        );
        assert.deepStrictEqual(raced, {
            status: 1,
            out: "",
            err: `error: output folder ${out} holds an earlier render; pass --force to replace it, or choose another --out\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
        assert.deepStrictEqual(fs.readdirSync(out), ["inventory.json"], "the other render's output is kept");
    });

    it("refuses to replace, even with --force, a render of another environment, finished or waiting for signatures: an --out mistyped would put this stack's keys where that environment's are looked for", async () => {
        const dir = tempDir("other-environment");
        const out = path.join(dir, "out");
        fs.mkdirSync(out);
        const inventory = '{ "environment": "prod", "option": 1, "certificates": [] }\n';
        fs.writeFileSync(path.join(out, "inventory.json"), inventory);
        fs.mkdirSync(path.join(out, "apic/ob"), { recursive: true });
        fs.writeFileSync(path.join(out, "apic/ob/client.key"), "prod's key\n", { mode: 0o600 });
        for (const force of [[], ["--force"]]) {
            assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, ...force), {
                status: 1,
                out: "",
                err: `error: output folder ${out} holds a render of environment "prod", not of this stack's pki:environment "files"; --force only replaces an earlier render of the same environment: choose another --out (or, when that render is no longer needed, remove it first)\n`,
            });
        }
        assert.deepStrictEqual(entries(out).sort(), ["apic/", "apic/ob/", "apic/ob/client.key", "inventory.json"]);
        assert.strictEqual(fs.readFileSync(path.join(out, "inventory.json"), "utf8"), inventory);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
        // The same environment's render is replaced.
        fs.writeFileSync(path.join(out, "inventory.json"), inventory.replace("prod", "files"));
        assert.strictEqual((await cli("render", "--config", option1(dir), "--out", out, "--force")).status, 0);

        // A render stopped for the offline roots' signatures (CSRs only) records its environment too:
        // its CSRs are where that environment's ceremony looks for them.
        fs.rmSync(out, { recursive: true });
        fs.mkdirSync(path.join(out, "csr"), { recursive: true });
        const pending = '{ "environment": "prod", "unsigned": ["apic-client-ca"] }\n';
        fs.writeFileSync(path.join(out, "pending.json"), pending);
        fs.writeFileSync(path.join(out, "csr/apic-client-ca.csr"), "prod's CSR\n");
        assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, "--force"), {
            status: 1,
            out: "",
            err: `error: output folder ${out} holds a render of environment "prod", not of this stack's pki:environment "files"; --force only replaces an earlier render of the same environment: choose another --out (or, when that render is no longer needed, remove it first)\n`,
        });
        assert.deepStrictEqual(entries(out).sort(), ["csr/", "csr/apic-client-ca.csr", "pending.json"]);
        fs.writeFileSync(path.join(out, "pending.json"), pending.replace("prod", "files"));
        assert.strictEqual((await cli("render", "--config", option1(dir), "--out", out, "--force")).status, 0);
        // A pending.json that is not a render's is not an earlier render's file.
        fs.writeFileSync(path.join(out, "pending.json"), "[]\n");
        assert.deepStrictEqual(await cli("render", "--config", option1(dir), "--out", out, "--force"), {
            status: 1,
            out: "",
            err: `error: output folder ${out} holds files that are not a render's (pending.json); --force only replaces an earlier render: choose another --out\n`,
        });
    });

    it("removes, under the lock, the staging folders and new state files of killed renders, naming each; refuses when the output itself is only in a swap's old folder", async () => {
        const dir = tempDir("leftovers");
        const out = path.join(dir, "out");
        const state = path.join(dir, "state.json");
        earlierRender(out);
        const staging = path.join(dir, ".out.render-AbC123");
        fs.mkdirSync(path.join(staging, "apic/ob"), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(staging, "apic/ob/client.key"), "a killed render's key\n", { mode: 0o600 });
        const old = path.join(dir, ".out.render-XyZ789-old");
        earlierRender(old);
        const newState = path.join(dir, ".state.json.0123456789ab.tmp");
        fs.writeFileSync(newState, "[]", { mode: 0o600 });
        // Not a render's: other names, a link (never followed), another output's staging folder.
        const victim = path.join(dir, "victim");
        earlierRender(victim);
        fs.symlinkSync(victim, path.join(dir, ".out.render-LnK000"));
        for (const name of [".out.render-short", ".other.render-AbC123", ".state.json.tmp"]) {
            fs.mkdirSync(path.join(dir, name));
        }

        const { result, stderr } = await stderrOf(() =>
            cli("render", "--config", option1(dir), "--out", out, "--force", "--state", state),
        );
        assert.strictEqual(result.status, 0, result.err);
        assert.strictEqual(
            stderr,
            `warning: removed ${newState}: the new state file of a render with --state ${state} that was killed (it may hold the state's private keys)\n` +
                `warning: removed ${staging}: the unfinished output of a render of ${out} that was killed (it held private keys)\n` +
                `warning: removed ${old}: the earlier output of ${out}, left beside it by a render that was killed or could not remove it (it held private keys)\n` +
                ECDSA_CAS,
        );
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [
            ".other.render-AbC123",
            ".out.render-LnK000",
            ".out.render-short",
            ".state.json.tmp",
            "Pulumi.option-1.yaml",
            "out",
            "state.json",
            "victim",
        ]);
        assert.deepStrictEqual(fs.readdirSync(victim), ["inventory.json"]);

        // Killed between the two renames of its swap: the output is only in the old folder.
        fs.rmSync(out, { recursive: true });
        earlierRender(old);
        const refused = await stderrOf(() => cli("render", "--config", option1(dir), "--out", out, "--force"));
        assert.deepStrictEqual(refused, {
            result: {
                status: 1,
                out: "",
                err: `error: output folder ${out} is missing, and ${old} holds the output that was in it (a render was killed while swapping its output in): move ${old} back to ${out} and render again with --force, or remove ${old}\n`,
            },
            stderr: "",
        });
        assert.deepStrictEqual(fs.readdirSync(old), ["inventory.json"], "left for a person to choose");
        assert.strictEqual(fs.readdirSync(dir).filter((name) => name.startsWith(".out.render")).length, 3);
    });

    it("fails in one line naming the file, the error and the fix when a key cannot be written (a full disk), leaving the earlier output, and no staging folder or lock", async () => {
        const dir = tempDir("render-enospc");
        const out = path.join(dir, "out");
        earlierRender(out);
        const writeFileSync = nodeFs.writeFileSync;
        const result = await patched(
            nodeFs,
            "writeFileSync",
            (file: fs.PathOrFileDescriptor, data: string | Buffer, ...rest: []) => {
                if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(String(data))) throw systemError("ENOSPC");
                return writeFileSync(file, data, ...rest);
            },
            () => cli("render", "--config", option1(dir), "--out", out, "--force"),
        );
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err: `error: cannot write apic/dp/client.key of the render (ENOSPC); ${out} is left as it was: free space, or give --out a folder you can write to\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
        assert.deepStrictEqual(fs.readdirSync(out), ["inventory.json"]);
    });

    it("gives no free-space advice when a file name is too long or already there", async () => {
        const dir = tempDir("render-name-errors");
        const out = path.join(dir, "out");
        const writeFileSync = nodeFs.writeFileSync;
        const failing = (code: string) =>
            patched(
                nodeFs,
                "writeFileSync",
                (file: fs.PathOrFileDescriptor, data: string | Buffer, ...rest: []) => {
                    if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(String(data))) throw systemError(code);
                    return writeFileSync(file, data, ...rest);
                },
                () => cli("render", "--config", option1(dir), "--out", out),
            );
        assert.deepStrictEqual(await failing("ENAMETOOLONG"), {
            status: 1,
            out: "",
            err: `error: cannot write apic/dp/client.key of the render (ENAMETOOLONG); ${out} is left as it was: give --out a shorter path\n`,
        });
        assert.deepStrictEqual(await failing("EEXIST"), {
            status: 1,
            out: "",
            err: `error: cannot write apic/dp/client.key of the render (EEXIST); ${out} is left as it was: the render wrote two objects to one file, a fault of this program; report it with the stack configuration\n`,
        });
    });

    it("keeps a file name within 255 bytes when an object's name is longer: cut, with a hash of the whole", async () => {
        // 230 characters: the DestinationRule apic-mtls-web-<host> has 244 (a valid name), its file 265 bytes.
        const host = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(30)}.example`;
        const dir = tempDir("render-long-names");
        const out = path.join(dir, "out");
        const config = stackFile(dir, "long-names", {
            option: 1,
            domains: { ob: { services: ["a"] } },
            frontEnd: { namespace: "ob-ui", services: ["web"], callers: ["web"], apicHosts: [host] },
        });
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        const stem = `destinationrule-apic-mtls-web-${host.replace(/\./g, "-")}`;
        const hash = crypto.createHash("sha256").update(stem).digest("hex").slice(0, 12);
        const files = fs.readdirSync(path.join(out, "k8s", "default", "ob-ui")).sort();
        assert.deepStrictEqual(files, [
            `${stem.slice(0, 255 - 18)}-${hash}.yaml`,
            "secret-apic-client-web.yaml",
            `serviceentry-apic-${host.replace(/\./g, "-")}.yaml`,
        ]);
        assert.strictEqual(files[0].length, 255);
    });

    /** fs.renameSync, failing with `code` when `fails` says so (of the source and how often it was renamed before). */
    const renameFailing = (code: string, fails: (from: string, earlier: number) => boolean) => {
        const renameSync = nodeFs.renameSync;
        const earlier = new Map<string, number>();
        return (from: fs.PathLike, to: fs.PathLike) => {
            const count = earlier.get(String(from)) ?? 0;
            earlier.set(String(from), count + 1);
            if (fails(String(from), count)) throw systemError(code);
            return renameSync(from, to);
        };
    };

    it("refuses at once an output folder the swap cannot rename (a mount point: EBUSY; another file system: EXDEV), before any key is made or the state is saved", async () => {
        const dir = tempDir("render-mount-point");
        const out = path.join(dir, "out");
        const state = path.join(dir, "state.json");
        earlierRender(out);
        const inside = `give --out a folder inside it, such as ${path.join(out, "render")}`;
        for (const [code, why] of [
            ["EBUSY", "is a mount point (a volume, a CI or Docker bind mount)"],
            ["EXDEV", "is on another file system than its parent (a mount point, or an image's folder on overlayfs)"],
            ["EACCES", "cannot be renamed"],
        ]) {
            const result = await patched(
                nodeFs,
                "renameSync",
                renameFailing(code, (from) => from === out),
                () => cli("render", "--config", option1(dir), "--out", out, "--force", "--state", state),
            );
            const fix = code === "EACCES" ? "give --out a folder you can rename" : inside;
            assert.deepStrictEqual(result, {
                status: 1,
                out: "",
                err: `error: output folder ${out} ${why}: render puts its output in place by renaming the folder aside, which fails with ${code} there; ${fix}\n`,
            });
            // No state file: a render that made keys saves them even when it fails.
            assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
            assert.deepStrictEqual(fs.readdirSync(out), ["inventory.json"]);
        }

        // Renamed aside but not back (as unlikely as it is): the folder is named for a person to move back.
        const result = await patched(
            nodeFs,
            "renameSync",
            renameFailing("EACCES", (from) => from.endsWith("-old")),
            () => cli("render", "--config", option1(dir), "--out", out, "--force"),
        );
        const [old] = fs.readdirSync(dir).filter((name) => name.endsWith("-old"));
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err: `error: output folder ${out} was renamed to ${path.join(dir, old)} to check that it can be replaced, and could not be renamed back (EACCES): move ${path.join(dir, old)} back to ${out}\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(path.join(dir, old)), ["inventory.json"]);
    });

    it("replaces an earlier output made read-only (chmod -R a-w); an old output that still cannot be removed is a warning, the render done", async () => {
        const dir = tempDir("read-only-output");
        const out = path.join(dir, "out");
        const config = option1(dir);
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        const readOnly = (folder: string): void => {
            for (const entry of entries(folder))
                fs.chmodSync(path.join(folder, entry), entry.endsWith("/") ? 0o555 : 0o444);
            fs.chmodSync(folder, 0o555);
        };
        readOnly(out);
        // Root may write anywhere; AS_USER holds it to the modes like any user.
        const render = (...argv: string[]) => {
            const [command, ...args] = [
                ...AS_USER,
                process.execPath,
                path.join(ROOT, "dist/lib/cli/main.js"),
                "render",
                ...argv,
            ];
            const result = spawnSync(command, args, { encoding: "utf8" });
            return [result.status, result.stderr];
        };
        assert.deepStrictEqual(render("--config", config, "--out", out, "--force"), [0, ECDSA_CAS]);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);

        // A folder that cannot be read is named, with its error.
        fs.chmodSync(out, 0o000);
        assert.deepStrictEqual(render("--config", config, "--out", out, "--force"), [
            1,
            `error: output folder ${out} cannot be read (EACCES); choose another --out\n`,
        ]);
        fs.chmodSync(out, 0o700);

        // The old output cannot be removed at all (EBUSY: something holds a file open on a mount).
        const rmSync = nodeFs.rmSync;
        const { result, stderr } = await stderrOf(() =>
            patched(
                nodeFs,
                "rmSync",
                (folder: string, ...rest: []) => {
                    if (folder.endsWith("-old")) throw systemError("EBUSY");
                    return rmSync(folder, ...rest);
                },
                () => cli("render", "--config", config, "--out", out, "--force"),
            ),
        );
        assert.strictEqual(result.status, 0, result.err);
        const [old] = fs.readdirSync(dir).filter((name) => name.endsWith("-old"));
        assert.strictEqual(
            stderr,
            `warning: the render is in place, but ${path.join(dir, old)}, the earlier output of ${out}, could not be removed (EBUSY); it holds private keys: remove it yourself; the next render into ${out} tries again, and is refused while it cannot\n` +
                ECDSA_CAS,
        );
        assert.deepStrictEqual(fs.readdirSync(out).sort(), fs.readdirSync(path.join(dir, old)).sort());
        // ... which the next render does, read-only or not.
        readOnly(path.join(dir, old));
        assert.deepStrictEqual(render("--config", config, "--out", out, "--force"), [
            0,
            `warning: removed ${path.join(dir, old)}: the earlier output of ${out}, left beside it by a render that was killed or could not remove it (it held private keys)\n` +
                ECDSA_CAS,
        ]);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
    });

    it("in a shared folder (mode 1777), removes none of another user's leftovers or new state files, nor takes their output folder, even as root, naming the owner and the fix", async () => {
        // Files of another user (nobody, 65534) are made by root alone; any other user meets root's
        // own shared folder, /tmp, as an output folder that is not theirs (without --force).
        const uid = process.getuid!();
        if (uid !== 0) {
            assert.deepStrictEqual(await cli("render", "--config", option1(tempDir("not-root")), "--out", "/tmp"), {
                status: 1,
                out: "",
                err: `error: output folder /tmp belongs to user 0, not to the user rendering (${uid}): that user could redirect or delete what render writes there, private keys included; render as user 0, or give --out a folder of your own outside it\n`,
            });
            return;
        }
        const dir = tempDir("shared-folder");
        const shared = path.join(dir, "shared");
        fs.mkdirSync(shared);
        fs.chmodSync(shared, 0o1777);
        const config = option1(dir);
        const theirs = (file: string): string => {
            fs.chownSync(file, 65534, 65534);
            return file;
        };
        const refusal = (what: string, leftover: string, option: string) =>
            `error: ${what} cannot be used: ${leftover} beside it, named as a ${option === "--out" ? "render's leftover" : "killed render's new state file"}, belongs to user 65534, not to the user rendering (0): render never removes another user's leftovers; as root, check what it holds first (its owner chose what is in it, and a render of theirs may still be using it), then remove it yourself; never chown it, move it into place or render through it; or give another ${option}\n`;
        const render = (...argv: string[]) => cli("render", "--config", config, ...argv);

        /** Their folder `leftover` beside the output folder `name`: the user's render of it is refused. */
        const refusedBeside = async (name: string, leftover: string) => {
            const output = path.join(shared, name);
            assert.deepStrictEqual(await render("--out", output), {
                status: 1,
                out: "",
                err: refusal(`output folder ${output}`, leftover, "--out"),
            });
        };

        const staging = path.join(shared, ".out.render-AAAAAA");
        fs.mkdirSync(staging);
        theirs(staging);
        fs.writeFileSync(path.join(staging, "x"), "");
        theirs(path.join(staging, "x"));
        await refusedBeside("out", staging);

        const empty = path.join(shared, ".out3.render-CCCCCC");
        fs.mkdirSync(empty);
        theirs(empty);
        await refusedBeside("out3", empty);

        // Their swap's old folder, with no out2: not the user's output to move back.
        const old = path.join(shared, ".out2.render-BBBBBB-old");
        fs.mkdirSync(old);
        theirs(old);
        await refusedBeside("out2", old);

        const state = path.join(shared, "a.state");
        const newState = path.join(shared, ".a.state.0123456789ab.tmp");
        fs.writeFileSync(newState, "");
        theirs(newState);
        assert.deepStrictEqual(await render("--out", path.join(dir, "mine"), "--state", state), {
            status: 1,
            out: "",
            err: refusal(`--state ${state}`, newState, "--state"),
        });

        // Their earlier output, even to root: its owner could swap a folder of it for a link while
        // --force deletes it, and have root delete anything.
        const output = path.join(shared, "theirs");
        assert.strictEqual((await render("--out", output)).status, 0);
        theirs(output);
        const before = entries(output).sort();
        assert.deepStrictEqual(await render("--out", output, "--force"), {
            status: 1,
            out: "",
            err: `error: output folder ${output} belongs to user 65534, not to the user rendering (0): that user could redirect or delete what render writes there, private keys included; render as user 65534, or give --out a folder of your own outside it\n`,
        });
        assert.strictEqual(fs.statSync(output).uid, 65534);
        assert.deepStrictEqual(entries(output).sort(), before);
        assert.deepStrictEqual(
            entries(shared).sort(),
            [
                ".a.state.0123456789ab.tmp",
                ".out.render-AAAAAA/",
                ".out.render-AAAAAA/x",
                ".out2.render-BBBBBB-old/",
                ".out3.render-CCCCCC/",
                ...entries(output).map((entry) => `theirs/${entry}`),
                "theirs/",
            ].sort(),
        );
    });

    it("keeps the earlier output, with a warning, when files that are not a render's were written into it during the render", async () => {
        // Checked when the folder is opened; a note written beside a bundle while the render ran
        // (by its owner, when root renders) went with the old output.
        const dir = tempDir("render-written-during");
        const out = path.join(dir, "out");
        const config = option1(dir);
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        const renameSync = nodeFs.renameSync;
        let written = false;
        const { result, stderr } = await stderrOf(() =>
            patched(
                nodeFs,
                "renameSync",
                (from: fs.PathLike, to: fs.PathLike) => {
                    // The check that the folder can be swapped, after the folder was checked.
                    if (String(from) === out && !written) {
                        written = true;
                        fs.writeFileSync(path.join(out, "notes.txt"), "written during the render\n");
                    }
                    return renameSync(from, to);
                },
                () => cli("render", "--config", config, "--out", out, "--force"),
            ),
        );
        assert.strictEqual(result.status, 0, result.err);
        const [old] = fs.readdirSync(dir).filter((name) => name.endsWith("-old"));
        assert.strictEqual(
            stderr,
            `warning: the render is in place, but ${path.join(dir, old)}, the earlier output of ${out}, was not removed: files that are not a render's were written into it during the render (notes.txt); it holds private keys: move those files out and remove it yourself; the next render into ${out} is refused while it is there\n` +
                ECDSA_CAS,
        );
        assert.strictEqual(fs.readFileSync(path.join(dir, old, "notes.txt"), "utf8"), "written during the render\n");
        assert.strictEqual(fs.existsSync(path.join(out, "notes.txt")), false);
    });

    it("names the mount point and the fix when the output folder still cannot be renamed once the render is done, leaving it as it was", async () => {
        const dir = tempDir("render-mounted-since");
        const out = path.join(dir, "out");
        earlierRender(out);
        // Renamed when the folder was opened, mounted on before the render is put in place.
        const result = await patched(
            nodeFs,
            "renameSync",
            renameFailing("EBUSY", (from, earlier) => from === out && earlier > 0),
            () => cli("render", "--config", option1(dir), "--out", out, "--force"),
        );
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err: `error: the render could not be put in place (${out} is left as it was): output folder ${out} is a mount point (a volume, a CI or Docker bind mount): render puts its output in place by renaming the folder aside, which fails with EBUSY there; give --out a folder inside it, such as ${path.join(out, "render")}\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "out"]);
        assert.deepStrictEqual(fs.readdirSync(out), ["inventory.json"]);
    });
});

describe("render: never writes into, or deletes a tree in, a place another user can change", function () {
    this.timeout(60_000);
    const uid = process.getuid!();
    /** Gives `file` (and what it holds) to nobody (65534), as only root can. */
    const toNobody = (file: string): void => {
        for (const entry of fs.statSync(file).isDirectory() ? entries(file) : []) {
            fs.lchownSync(path.join(file, entry), 65534, 65534);
        }
        fs.lchownSync(file, 65534, 65534);
    };
    const notOurs = (folder: string, owner: number, fix: string) =>
        `the folder ${folder} on its path belongs to user ${owner}, not to the user rendering (${uid}): that user could redirect or delete what render writes there, private keys included; ` +
        `render as user ${owner}, or give ${fix} a place of your own outside ${folder}`;

    it("refuses another user's output folder, empty or holding render-like files, even as root with --force: nothing is written beside it or deleted", async () => {
        if (uid !== 0) {
            // Only root makes folders of another user's; the user meets root's own, unchanged.
            const result = await cli("render", "--config", option1(tempDir("not-root")), "--out", "/tmp", "--force");
            assert.match(result.err, /^error: output folder \/tmp belongs to user 0, not to the user rendering/);
            return;
        }
        const dir = tempDir("others-output");
        const config = option1(dir);
        const theirs = path.join(dir, "theirs");
        const refusal = {
            status: 1,
            out: "",
            err: `error: output folder ${theirs} belongs to user 65534, not to the user rendering (0): that user could redirect or delete what render writes there, private keys included; render as user 65534, or give --out a folder of your own outside it\n`,
        };
        // Empty: its owner could still swap what render puts in it for a link (the old exemption).
        fs.mkdirSync(theirs);
        toNobody(theirs);
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", theirs), refusal);
        assert.deepStrictEqual(fs.readdirSync(theirs), []);
        // Filled with paths --force took for a render's (k8s/<cluster>/<namespace>/*.yaml): the owner
        // swapped one of those folders for a link while rmSync walked it, and root deleted outside.
        const victim = path.join(dir, "victim");
        fs.mkdirSync(victim);
        fs.writeFileSync(path.join(victim, "precious.yaml"), "kept\n");
        fs.writeFileSync(path.join(theirs, "inventory.json"), JSON.stringify({ environment: "x", certificates: [] }));
        fs.mkdirSync(path.join(theirs, "k8s/f01"), { recursive: true });
        fs.symlinkSync(victim, path.join(theirs, "k8s/f01/ns"));
        toNobody(theirs);
        const before = entries(theirs).sort();
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", theirs, "--force"), refusal);
        assert.deepStrictEqual(entries(theirs).sort(), before);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "theirs", "victim"]);
        assert.strictEqual(fs.readFileSync(path.join(victim, "precious.yaml"), "utf8"), "kept\n");
    });

    it("refuses an --out or --state in a folder another user owns (links followed), before anything is made in it", async () => {
        const dir = tempDir("others-parent");
        const config = option1(dir);
        if (uid !== 0) {
            // Only root makes a folder of another user's; root's own on the way (/) are trusted.
            return void assert.strictEqual(othersPathRefusal("output folder /x", "--out", "/x"), undefined);
        }
        const [theirs, owner] = [path.join(dir, "theirs"), 65534];
        fs.mkdirSync(theirs);
        toNobody(theirs);
        const mine = path.join(dir, "mine");
        for (const out of [path.join(theirs, "out"), path.join(theirs, "not/made/yet/out")]) {
            assert.deepStrictEqual(await cli("render", "--config", config, "--out", out), {
                status: 1,
                out: "",
                err: `error: output folder ${out} cannot be used: ${notOurs(theirs, owner, "--out")}\n`,
            });
        }
        // Through a link of the user's own to it: the folder the link leads to is named.
        fs.symlinkSync(theirs, path.join(dir, "link"));
        const linked = path.join(dir, "link/out");
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", linked), {
            status: 1,
            out: "",
            err: `error: output folder ${linked} cannot be used: ${notOurs(theirs, owner, "--out")}\n`,
        });
        // The state's lock and next version are made beside it, as the output's staging folder is.
        const state = path.join(theirs, "dev.state.json");
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", mine, "--state", state), {
            status: 1,
            out: "",
            err: `error: --state ${state} cannot be used: ${notOurs(theirs, owner, "--state")}\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(theirs), [], "no staging folder, lock or state was made in it");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "link", "theirs"]);
    });

    it("checks the folder a --state through `link/..` is written in, as the system resolves it (the parent of the link's target), not the one holding the link", async () => {
        const dir = tempDir("state-link-dotdot");
        const config = option1(dir);
        const [ok, open] = [path.join(dir, "ok"), path.join(dir, "open")];
        fs.mkdirSync(path.join(open, "target"), { recursive: true });
        fs.chmodSync(open, 0o777);
        fs.mkdirSync(ok);
        fs.symlinkSync(path.join(open, "target"), path.join(ok, "link"));
        const out = path.join(dir, "out");
        // path.resolve reads ok/link/.. as ok, but the system writes into open, which others may change.
        const state = `${ok}/link/../dev.state.json`;
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--state", state), {
            status: 1,
            out: "",
            err: `error: --state ${state} cannot be used: the folder ${open} on its path has mode 0777, writable by its group and others without the sticky bit: they could redirect or delete what render writes there, private keys included; give --state a place of your own outside ${open}, or take that write access away (chmod go-w ${open}) after checking what it holds\n`,
        });
        assert.deepStrictEqual(entries(open).sort(), ["target/"], "no state, lock or next state was made there");
        assert.deepStrictEqual(entries(ok).sort(), ["link"]);
        if (uid !== 0) return;
        // Another user's folder there: refused as such.
        fs.chmodSync(open, 0o755);
        toNobody(open);
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--state", state), {
            status: 1,
            out: "",
            err: `error: --state ${state} cannot be used: ${notOurs(open, 65534, "--state")}\n`,
        });
        assert.deepStrictEqual(entries(open).sort(), ["target/"]);
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "ok", "open"]);
    });

    it("checks the state's path again once its lock is taken: a folder on the way given to another user since the first check is refused, and the state is not read or written", async () => {
        if (uid !== 0) return void assert.ok(true, "only root can give a folder to another user");
        const dir = tempDir("state-recheck");
        const folder = path.join(dir, "states");
        fs.mkdirSync(folder);
        const state = path.join(folder, "dev.state.json");
        const openSync = nodeFs.openSync;
        // Between the check and the lock (e.g. a folder of the state's path made by another user in a
        // sticky shared folder meanwhile): at the lock's creation the folder is theirs.
        const result = await patched(
            nodeFs,
            "openSync",
            (file: fs.PathLike, ...rest: [number, number]) => {
                if (String(file) === `${state}.lock`) fs.chownSync(folder, 65534, 65534);
                return openSync(file, ...rest);
            },
            () => cli("render", "--config", option1(dir), "--out", path.join(dir, "out"), "--state", state),
        );
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err: `error: --state ${state} cannot be used: ${notOurs(folder, 65534, "--state")}\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(folder), [], "the lock released, no state or next state written");
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["Pulumi.option-1.yaml", "states"]);
    });

    it("tells a user who does not own a folder others may write to ask its owner to take that access away", async () => {
        if (uid !== 0)
            return void assert.ok(true, "only root can make such a folder and take another user's view of it");
        const dir = tempDir("ask-owner");
        const [open, team] = [path.join(dir, "open"), path.join(dir, "team")];
        for (const [folder, folderMode] of [
            [open, 0o777],
            [team, 0o775],
        ] as const) {
            fs.mkdirSync(folder);
            fs.chmodSync(folder, folderMode);
        }
        // As user 65534 sees root's folders: root's own are trusted, but not their write access.
        const refusals = await patched(
            process,
            "getuid",
            () => 65534,
            () => [
                othersPathRefusal(`--state ${open}/s`, "--state", `${open}/s`),
                othersPathRefusal(`--state ${team}/s`, "--state", `${team}/s`),
            ],
        );
        assert.deepStrictEqual(refusals, [
            `--state ${open}/s cannot be used: the folder ${open} on its path has mode 0777, writable by its group and others without the sticky bit: they could redirect or delete what render writes there, private keys included; give --state a place of your own outside ${open}, or take that write access away (chmod go-w ${open}; ask its owner) after checking what it holds`,
            `--state ${team}/s cannot be used: the folder ${team} on its path has mode 0775, writable by its group without the sticky bit: they could redirect or delete what render writes there, private keys included; give --state a place of your own outside ${team}, or take that write access away (chmod g-w ${team}; ask its owner) after checking what it holds`,
        ]);
    });

    it("refuses a folder on the way that others may write without the sticky bit, or another user's link in a sticky one; renders in a sticky folder of its own", async () => {
        // Writable by its group alone: the next test (whether that group is the user's alone).
        const dir = tempDir("others-writable");
        const config = option1(dir);
        for (const [mode, who] of [
            [0o757, "others"],
            [0o777, "its group and others"],
        ] as const) {
            const open = path.join(dir, `open-${mode.toString(8)}`);
            fs.mkdirSync(open);
            fs.chmodSync(open, mode);
            const out = path.join(open, "out");
            assert.deepStrictEqual(await cli("render", "--config", config, "--out", out), {
                status: 1,
                out: "",
                err: `error: output folder ${out} cannot be used: the folder ${open} on its path has mode 0${mode.toString(8)}, writable by ${who} without the sticky bit: they could redirect or delete what render writes there, private keys included; give --out a place of your own outside ${open}, or take that write access away (chmod go-w ${open}) after checking what it holds\n`,
            });
            assert.deepStrictEqual(fs.readdirSync(open), []);
        }
        // Sticky, as /tmp: others may not rename the user's entries, so its render goes ahead.
        const sticky = path.join(dir, "sticky");
        fs.mkdirSync(sticky);
        fs.chmodSync(sticky, 0o1777);
        const out = path.join(sticky, "out");
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        assert.strictEqual((await cli("render", "--config", config, "--out", out, "--force")).status, 0);
        assert.deepStrictEqual(fs.readdirSync(sticky), ["out"]);
        if (uid !== 0) return;
        // Another user's link there: its owner may rename it, or put another in its place.
        const link = path.join(sticky, "link");
        fs.symlinkSync(path.join(dir, "mine"), link);
        fs.lchownSync(link, 65534, 65534);
        fs.mkdirSync(path.join(dir, "mine"));
        const through = path.join(link, "out");
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", through), {
            status: 1,
            out: "",
            err: `error: output folder ${through} cannot be used: the link ${link} on its path belongs to user 65534, not to the user rendering (0): that user could redirect or delete what render writes there, private keys included; render as user 65534, or give --out a path that does not go through that link: the real path it leads to, when no other user can change that, or a place of your own; or remove the link (ask its owner)\n`,
        });
        assert.deepStrictEqual(fs.readdirSync(path.join(dir, "mine")), []);
    });

    it("takes a folder its group may write when that group is the user's alone (a user private group), as OpenSSH's StrictModes does; refuses it when anyone else belongs to it, or no one, or it is unknown", async () => {
        if (uid !== 0) return void assert.ok(true, "only root can make groups and give them members");
        const suffix = crypto.randomBytes(3).toString("hex");
        const [group, user] = [`apicpki${suffix}`, `apicpki${suffix}u`];
        const run = (...argv: string[]): void => {
            const result = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
            assert.strictEqual(result.status, 0, `${argv.join(" ")}: ${result.stderr}`);
        };
        const gidOf = (name: string): number => {
            const entry = spawnSync("getent", ["group", name], { encoding: "utf8" });
            assert.strictEqual(entry.status, 0, `getent group ${name}`);
            return Number(entry.stdout.split(":")[2]);
        };
        const dir = tempDir("private-group");
        const config = option1(dir);
        const team = path.join(dir, "team");
        const out = path.join(team, "out");
        const state = path.join(team, "dev.state.json");
        fs.mkdirSync(team);
        fs.chmodSync(team, 0o775);
        // The state is checked first; --out alone is refused the same way, naming the output folder.
        const refused = (why: string, option = "--state") => ({
            status: 1,
            out: "",
            err:
                `error: ${option === "--state" ? `--state ${state}` : `output folder ${out}`} cannot be used: the folder ${team} on its path has mode 0775, writable by its group without the sticky bit, and ${why}: they could redirect or delete what render writes there, private keys included; ` +
                `give ${option} a place of your own outside ${team}, or, after checking what it holds, take that write access away (chmod g-w ${team}) or make the folder's group one only you belong to\n`,
        });
        const render = (...more: string[]) =>
            cli("render", "--config", config, "--out", out, "--state", state, ...more);
        run("groupadd", group);
        try {
            const gid = gidOf(group);
            fs.chownSync(team, 0, gid);
            // No member at all, as groups made for setgid programs: not the user's.
            const none = `its group ${group} (${gid}) has no member, not even you`;
            assert.deepStrictEqual(await render(), refused(none));
            assert.deepStrictEqual(await cli("render", "--config", config, "--out", out), refused(none, "--out"));
            assert.deepStrictEqual(fs.readdirSync(team), []);
            // The user alone, in its member list: the user's own, as a user private group is.
            run("gpasswd", "-M", "root", group);
            const taken = await render();
            assert.deepStrictEqual([taken.status, taken.err], [0, ""]);
            assert.deepStrictEqual(fs.readdirSync(team).sort(), ["dev.state.json", "out"]);
            assert.strictEqual((await render("--force")).status, 0);
            // An access control list letting nobody write the folder: its mode still shows 0775 (the
            // list's mask), as a user private group's folder does, and was taken as one.
            run("setfacl", "-m", "u:nobody:rwx", team);
            assert.deepStrictEqual(
                await render("--force"),
                refused(
                    "it has an access control list (ls -ld shows drwxrwxr-x+), whose mask the group bits of its mode show, so the users and groups the list names may write it too",
                ),
            );
            run("setfacl", "-b", team);
            assert.strictEqual((await render("--force")).status, 0);
            // Another user listed beside the user: they may swap what render writes there.
            run("gpasswd", "-M", "root,nobody", group);
            const before = entries(team).sort();
            const nobody = refused(`its group ${group} (${gid}) has members besides you: nobody (uid 65534)`);
            assert.deepStrictEqual(await render(), nobody);
            // The same read from /etc/group and /etc/passwd where there is no getent.
            const withoutGetent = async <T>(act: () => Promise<T>): Promise<T> => {
                const pathVariable = process.env.PATH;
                process.env.PATH = tempDir("no-getent");
                try {
                    return await act();
                } finally {
                    process.env.PATH = pathVariable;
                }
            };
            assert.deepStrictEqual(await withoutGetent(render), nobody);
            run("gpasswd", "-M", "root", group);
            assert.strictEqual((await withoutGetent(() => render("--force"))).status, 0);
            // Another user whose primary group it is, the user alone listed: refused as well.
            run("useradd", "--no-create-home", "--no-user-group", "--gid", group, "--shell", "/usr/sbin/nologin", user);
            try {
                const theirUid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
                assert.deepStrictEqual(
                    await render(),
                    refused(`its group ${group} (${gid}) has members besides you: ${user} (uid ${theirUid})`),
                );
            } finally {
                run("userdel", user);
            }
            assert.deepStrictEqual(entries(team).sort(), before);
        } finally {
            run("groupdel", group);
        }
        // A group the system does not know (its gid now unused): refused, nothing guessed.
        const unknown = fs.statSync(team).gid;
        assert.strictEqual(spawnSync("getent", ["group", String(unknown)]).status, 2);
        assert.deepStrictEqual(
            await render(),
            refused(`its group ${unknown} is in no entry of the system's group database`),
        );
        // Writable by others too: refused whatever its group, as before.
        fs.chmodSync(team, 0o777);
        run("groupadd", group);
        try {
            fs.chownSync(team, 0, gidOf(group));
            run("gpasswd", "-M", "root", group);
            assert.deepStrictEqual(await render(), {
                status: 1,
                out: "",
                err: `error: --state ${state} cannot be used: the folder ${team} on its path has mode 0777, writable by its group and others without the sticky bit: they could redirect or delete what render writes there, private keys included; give --state a place of your own outside ${team}, or take that write access away (chmod go-w ${team}) after checking what it holds\n`,
            });
        } finally {
            run("groupdel", group);
        }
    });

    it("never takes a folder another user made on its way since it was checked, nor chmods it", async () => {
        if (uid !== 0) return void assert.ok(true, "only root can make a folder another user owns");
        const dir = tempDir("others-race");
        const made = path.join(dir, "made");
        const out = path.join(made, "out");
        const mkdirSync = nodeFs.mkdirSync;
        // They win the race in a sticky folder: their folder is there when render makes its own.
        const result = await patched(
            nodeFs,
            "mkdirSync",
            (folder: fs.PathLike, ...rest: [fs.MakeDirectoryOptions]) => {
                if (String(folder) === made && !fs.existsSync(made)) {
                    mkdirSync(made, { mode: 0o755 });
                    fs.chownSync(made, 65534, 65534);
                }
                return mkdirSync(folder, ...rest);
            },
            () => cli("render", "--config", option1(dir), "--out", out),
        );
        assert.deepStrictEqual(result, {
            status: 1,
            out: "",
            err: `error: cannot write to ${out} (EPERM creating a folder in ${dir}); give --out a folder you can write to\n`,
        });
        assert.deepStrictEqual([fs.statSync(made).uid, mode(made)], [65534, 0o755], "left as its owner made it");
        assert.deepStrictEqual(fs.readdirSync(made), []);
    });

    it("deletes no tree holding anything another user owns: an earlier output's folder under --force, a killed render's leftover", async () => {
        if (uid !== 0) return void assert.ok(true, "only root can give a folder to another user");
        const dir = tempDir("others-inside");
        const config = option1(dir);
        const out = path.join(dir, "out");
        assert.strictEqual((await cli("render", "--config", config, "--out", out)).status, 0);
        // A namespace folder of the earlier output given to another user, who may swap what is in it.
        const [cluster] = fs.readdirSync(path.join(out, "k8s"));
        const namespace = path.join(out, "k8s", cluster, fs.readdirSync(path.join(out, "k8s", cluster))[0]);
        toNobody(namespace);
        const before = entries(out).sort();
        const relative = path.relative(out, namespace);
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--force"), {
            status: 1,
            out: "",
            err: `error: output folder ${out} holds files that are not a render's (${relative}/ of user 65534); --force only replaces an earlier render: choose another --out\n`,
        });
        assert.deepStrictEqual(entries(out).sort(), before);
        // The same in a killed render's staging folder beside it: refused, not removed.
        const leftover = path.join(dir, ".out.render-AAAAAA");
        fs.cpSync(out, leftover, { recursive: true });
        toNobody(path.join(leftover, relative));
        fs.lchownSync(namespace, 0, 0);
        for (const entry of entries(namespace)) fs.lchownSync(path.join(namespace, entry), 0, 0);
        const kept = entries(leftover).sort();
        assert.deepStrictEqual(await cli("render", "--config", config, "--out", out, "--force"), {
            status: 1,
            out: "",
            err: `error: output folder ${out} cannot be used: ${leftover} beside it, named as a render's leftover, holds files that are not a render's (${relative}/ of user 65534), which render would remove with it; move them out of it, or give another --out\n`,
        });
        assert.deepStrictEqual(entries(leftover).sort(), kept);
        assert.deepStrictEqual(entries(out).sort(), before);
    });

    it("names, for a hard-linked state whose path holds spaces and quotes, a find command that lists its links when a shell runs it", async () => {
        const dir = path.join(tempDir("state-hard-link-quoted"), "it's a dir");
        fs.mkdirSync(dir);
        const config = option1(dir);
        const state = path.join(dir, "dev state.json");
        assert.strictEqual(
            (await cli("render", "--config", config, "--out", path.join(dir, "one"), "--state", state)).status,
            0,
        );
        const other = path.join(dir, "other's.json");
        fs.linkSync(state, other);
        const quoted = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
        const command = `find "$(findmnt -fno TARGET -T ${quoted(state)})" -xdev -samefile ${quoted(state)}`;
        // Given relative, the command names it absolute, so that it works from any folder.
        const relative = path.relative(process.cwd(), state);
        assert.deepStrictEqual(
            await cli("render", "--config", config, "--out", path.join(dir, "two"), "--state", relative),
            {
                status: 1,
                out: "",
                err: `error: --state ${relative} has 2 hard links: a render locks the state by its name (${relative}.lock), so a render through another link would run beside this one and the two would split the state; remove every other link (${command} lists them), or give --state a copy of its own\n`,
            },
        );
        const listed = spawnSync("sh", ["-c", command], { cwd: os.homedir(), encoding: "utf8" });
        assert.strictEqual(listed.status, 0, listed.stderr);
        assert.deepStrictEqual(listed.stdout.trim().split("\n").sort(), [state, other].sort());
    });

    it("refuses a state file with another hard link, whose render would take another lock: both left as they were", async () => {
        const dir = tempDir("state-hard-link");
        const config = option1(dir);
        const state = path.join(dir, "dev.state.json");
        assert.strictEqual(
            (await cli("render", "--config", config, "--out", path.join(dir, "one"), "--state", state)).status,
            0,
        );
        const other = path.join(dir, "other.state.json");
        fs.linkSync(state, other);
        const before = fs.readFileSync(state);
        for (const [file, also] of [
            [state, other],
            [other, state],
        ]) {
            assert.deepStrictEqual(
                await cli("render", "--config", config, "--out", path.join(dir, "two"), "--state", file),
                {
                    status: 1,
                    out: "",
                    err: `error: --state ${file} has 2 hard links: a render locks the state by its name (${file}.lock), so a render through another link would run beside this one and the two would split the state; remove every other link (find "$(findmnt -fno TARGET -T ${file})" -xdev -samefile ${file} lists them), or give --state a copy of its own\n`,
                },
            );
            assert.deepStrictEqual([fs.readFileSync(file), fs.readFileSync(also)], [before, before]);
        }
        assert.deepStrictEqual(fs.readdirSync(dir).sort(), [
            "Pulumi.option-1.yaml",
            "dev.state.json",
            "one",
            "other.state.json",
        ]);
    });
});
