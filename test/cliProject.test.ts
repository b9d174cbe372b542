import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { stackConfigDir, stackFilePath } from "../lib/cli/stackSource";
import { AS_USER, cli, gitRepo, ROOT, tempDir } from "./helpers";

const CLI = path.join(ROOT, "dist/lib/cli/main.js");

/** A Pulumi project in a new folder: `Pulumi.yaml` (or another name) with `project`, and `dev` in `stacksIn`. */
function project(projectYaml: string, stacksIn: string, file = "Pulumi.yaml"): string {
    const dir = tempDir("project");
    fs.writeFileSync(path.join(dir, file), `name: consumer\nruntime: nodejs\n${projectYaml}`);
    fs.mkdirSync(path.join(dir, stacksIn), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), path.join(dir, stacksIn, "Pulumi.dev.yaml"));
    return dir;
}

describe("The command line in the user's project", () => {
    it("prints the package's version with --version", async () => {
        const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
        assert.deepStrictEqual(await cli("--version"), { status: 0, out: `${version}\n`, err: "" });
    });

    it("finds --stack files in the stackConfigDir of the nearest Pulumi.yaml at or above the current folder", () => {
        const dir = project("stackConfigDir: environments\n", "environments");
        assert.strictEqual(stackConfigDir(dir), path.join(dir, "environments"));
        assert.strictEqual(stackConfigDir(path.join(dir, "environments")), path.join(dir, "environments"));
        const legacy = project("config: settings\n", "settings", "Pulumi.yml");
        assert.strictEqual(stackConfigDir(legacy), path.join(legacy, "settings"));
        const plain = project("", ".");
        assert.strictEqual(stackConfigDir(plain), plain);
        const noProject = tempDir("no-project");
        assert.strictEqual(stackConfigDir(noProject), path.join(noProject, "stacks"));
        assert.strictEqual(stackConfigDir(ROOT), path.join(ROOT, "stacks"));
    });

    it("reads the project file as Pulumi's YAML reader does: lone CR line breaks, \\' in double quotes", () => {
        const dir = project("", "environments");
        fs.writeFileSync(
            path.join(dir, "Pulumi.yaml"),
            `name: consumer\rdescription: "the bank\\'s PKI"\rruntime: nodejs\rstackConfigDir: environments\r`,
        );
        assert.strictEqual(stackConfigDir(dir), path.join(dir, "environments"));
        const found = spawnSync(process.execPath, [CLI, "inventory", "--stack", "dev", "--format", "json"], {
            cwd: dir,
            encoding: "utf8",
        });
        assert.deepStrictEqual([found.status, found.stderr], [0, ""]);
        assert.strictEqual((JSON.parse(found.stdout) as { environment: string }).environment, "dev");
        // What that reader refuses is refused, in the loader's words.
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), 'name: consumer\ndescription: "a\\/b"\n');
        assert.throws(() => stackConfigDir(dir), {
            message: `the Pulumi project file ${path.join(dir, "Pulumi.yaml")} cannot be read (the escape (\\) at line 2, column 16 is not one of YAML 1.1's, the only ones Pulumi's YAML reader reads ("found unknown escape character"; \\/ is YAML 1.2's): write the character itself, or \\\\ for a backslash); --stack looks for stack files in its stackConfigDir: fix it, or give --config FILE`,
        });
    });

    it("reads the project's stack file, never the package's, and names what it looked for when it is missing", () => {
        const dir = project("stackConfigDir: environments\n", "environments");
        const found = spawnSync(process.execPath, [CLI, "inventory", "--stack", "dev", "--format", "json"], {
            cwd: path.join(dir, "environments"),
            encoding: "utf8",
        });
        assert.strictEqual(found.status, 0, found.stderr);
        const inventory = JSON.parse(found.stdout) as { environment: string; certificates: { dnsNames: string[] }[] };
        assert.strictEqual(inventory.environment, "dev");
        assert.ok(inventory.certificates.some((c) => c.dnsNames.includes("ob.dev.api.bank.example")));
        assert.throws(
            () => stackFilePath({ stack: "sit" }, path.join(dir, "environments")),
            /^Error: --stack sit: no Pulumi\.sit\.yaml; known stacks: dev$/,
        );
        assert.throws(
            () => stackFilePath({ stack: "sit" }, dir),
            /^Error: --stack sit: no environments\/Pulumi\.sit\.yaml;/,
        );
    });

    it("takes a Pulumi stack name, org/stack or org/project/stack as --stack, and refuses a path", () => {
        const dir = project("stackConfigDir: environments\n", "environments");
        const cwd = path.join(dir, "environments");
        for (const given of ["dev", "myorg/dev", "myorg/consumer/dev"]) {
            assert.deepStrictEqual(stackFilePath({ stack: given }, cwd), {
                file: path.join(cwd, "Pulumi.dev.yaml"),
                label: "dev",
            });
        }
        for (const given of ["../etc/passwd", "..", "dev/../dev", "a/b/c/dev", "dev prod"]) {
            assert.throws(() => stackFilePath({ stack: given }, cwd), {
                message: `--stack must be a Pulumi stack name (letters, digits, "-", "_", "."; or org/project/stack); got "${given}"`,
            });
        }
    });

    it("says to give --config (or --stack <x>) when --stack is given a stack file, in every command that takes --stack", async () => {
        const file = path.join(tempDir("stack-file"), "valid.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), file);
        const notAName = `error: --stack must be a Pulumi stack name (letters, digits, "-", "_", "."; or org/project/stack); got "${file}"; to read a stack file, give --config ${file}`;
        // Run from the package's folder (no Pulumi.yaml): stacks/ holds dev, prod and sit.
        const pulumiFile =
            "error: --stack Pulumi.dev.yaml: no stacks/Pulumi.Pulumi.dev.yaml.yaml; known stacks: dev, prod, sit; for stack dev, give --stack dev; to read a stack file, give --config Pulumi.dev.yaml";
        for (const command of [["render"], ["inventory"], ["lifecycle", "--deployed", file]]) {
            for (const [given, message] of [
                [file, notAName],
                ["Pulumi.dev.yaml", pulumiFile],
            ]) {
                const result = await cli(...command, "--stack", given);
                assert.deepStrictEqual([result.status, result.out, result.err.split("\n")[0]], [2, "", message]);
            }
        }
        // A stack name that only happens to be a file: the file's name is no stack file's.
        const named = path.join(path.dirname(file), "dev");
        fs.copyFileSync(file, named);
        assert.throws(() => stackFilePath({ stack: "dev" }, path.dirname(file)), {
            message: `--stack dev: no stacks/Pulumi.dev.yaml; known stacks: none (run in your Pulumi project, or give --config FILE); to read a stack file, give --config dev`,
        });
    });

    it("refuses another project's stack (org/project/stack) in one line (exit 2), as the Pulumi CLI does, instead of reading this project's file of that name", () => {
        const dir = project("stackConfigDir: environments\n", "environments");
        const result = spawnSync(process.execPath, [CLI, "inventory", "--stack", "myorg/payments/dev"], {
            cwd: path.join(dir, "environments"),
            encoding: "utf8",
        });
        assert.deepStrictEqual(
            [result.status, result.stdout, result.stderr.split("\n")[0]],
            [
                2,
                "",
                `error: --stack myorg/payments/dev is a stack of project "payments", but the command runs in project "consumer" (${path.join(dir, "Pulumi.yaml")}); run it in the folder of project "payments", or give --config FILE`,
            ],
        );
    });

    it("refuses an empty option value (an unset shell variable) before reading or writing anything", async () => {
        const dir = project("", ".");
        for (const argv of [
            ["render", "--stack", "dev", "--out", ""],
            ["inventory", "--stack", ""],
            ["expiry", "--pem", path.join(dir, "Pulumi.yaml"), "--pem", ""],
        ]) {
            const result = await cli(...argv);
            const option = argv[argv.lastIndexOf("") - 1];
            assert.deepStrictEqual(
                [result.status, result.out, result.err.split("\n")[0]],
                [2, "", `error: ${option} needs a value; got an empty one (an unset shell variable?)`],
            );
        }
    });

    it("refuses a --now that is no real day (Date would roll 2026-02-30 over to March 2) or that X.509 cannot date", async () => {
        const dir = project("", ".");
        const stackFile = path.join(dir, "Pulumi.dev.yaml");
        const message = (value: string) =>
            `error: --now must be an ISO 8601 date or time with its zone on a real calendar day from 1950 to 9999, e.g. 2027-03-01T00:00:00Z; got "${value}"`;
        for (const [argv, value] of [
            [["render", "--config", stackFile, "--out", path.join(dir, "out")], "2026-02-30"],
            [["lifecycle", "--config", stackFile, "--deployed", dir], "2027-02-29T10:00:00Z"],
            [["expiry", "--pem", path.join(dir, "Pulumi.yaml")], "2027-04-31"],
            [["expiry", "--pem", path.join(dir, "Pulumi.yaml")], "1949-12-31"],
            [["expiry", "--pem", path.join(dir, "Pulumi.yaml")], "9999-12-31T23:00:00-02:00"],
        ] as const) {
            const result = await cli(...argv, "--now", value);
            assert.deepStrictEqual([result.status, result.out, result.err.split("\n")[0]], [2, "", message(value)]);
        }
        const late = await cli("render", "--config", stackFile, "--out", path.join(dir, "out"), "--now", "9990-06-01");
        assert.deepStrictEqual(
            [late.status, late.out, late.err.split("\n")[0]],
            [
                2,
                "",
                "error: --now 9990-06-01: a certificate issued then for 3650 days (pki:validityDays) would end after 9999-12-31, the last date X.509 carries; give an earlier --now",
            ],
        );
        assert.strictEqual(fs.existsSync(path.join(dir, "out")), false);
    });

    it("names a project file it cannot read in one line (exit 2): YAML it cannot parse, a folder", async () => {
        const broken = project("stackConfigDir: [stacks\n", ".");
        const folder = tempDir("project-folder");
        fs.mkdirSync(path.join(folder, "Pulumi.yaml"));
        for (const [dir, reason] of [
            [broken, "indentation that does not line up, or a [ or { left open at line 4, column 1"],
            [folder, "it is a folder, not a file"],
        ]) {
            const result = spawnSync(process.execPath, [CLI, "inventory", "--stack", "dev"], {
                cwd: dir,
                encoding: "utf8",
            });
            assert.deepStrictEqual(
                [result.status, result.stdout, result.stderr],
                [
                    2,
                    "",
                    `error: the Pulumi project file ${path.join(dir, "Pulumi.yaml")} cannot be read (${reason}); --stack looks for stack files in its stackConfigDir: fix it, or give --config FILE\n`,
                ],
            );
        }
    });

    it("refuses an option given twice (the last would silently win), a value starting with a dash in one line, and an endless soak", async () => {
        const dir = project("", ".");
        const dev = path.join(dir, "Pulumi.dev.yaml");
        const other = tempDir("other");
        const cases: [string[], string][] = [
            [
                ["inventory", "--config", dev, "--config", path.join(dir, "other.yaml")],
                `error: --config is given twice (--config "${dev}", then --config "${path.join(dir, "other.yaml")}"); give it once`,
            ],
            [
                ["expiry", "--dir", dir, "--dir", other, "--warn-days", "30"],
                `error: --dir is given twice (--dir "${dir}", then --dir "${other}"); give it once`,
            ],
            [
                ["render", "--config", dev, "--force", "--force"],
                "error: --force is given twice (--force, then --force); give it once",
            ],
            [
                // A negative number given as the next argument is the option's value, refused by its own rule.
                ["lifecycle", "--config", dev, "--deployed", dir, "--soak-days", "-1"],
                'error: --soak-days must be a whole number of days from 0 to 365; got "-1"',
            ],
            [
                ["lifecycle", "--config", dev, "--deployed", dir, "--soak-days=-1"],
                'error: --soak-days must be a whole number of days from 0 to 365; got "-1"',
            ],
            [
                ["expiry", "--dir", dir, "--warn-days", "-5"],
                'error: --warn-days must be a whole number of days >= 0; got "-5"',
            ],
            [
                ["expiry", "--dir", dir, "--crl-warn-fraction", "-.5"],
                'error: --crl-warn-fraction must be a fraction of a CRL\'s validity from 0 to below 1, e.g. 0.5; got "-.5"',
            ],
            [
                ["diff", "--base", dev, "--head", dev, "--max-replaced", "-1"],
                'error: --max-replaced must be a whole number of certificates; got "-1"',
            ],
            [
                [
                    "ceremony",
                    "crl",
                    "--root",
                    dir,
                    "--period-days",
                    "-7",
                    "--periods",
                    "2",
                    "--out",
                    path.join(other, "c"),
                ],
                'error: --period-days must be a whole number from 1 to 366; got "-7"',
            ],
            // Any other option still refuses a value that starts with a dash, in one line.
            [
                ["inventory", "--config", "-x"],
                "error: Option '--config' argument is ambiguous. Did you forget to specify the option argument for '--config'? To specify an option argument starting with a dash use '--config=-XYZ'.",
            ],
            [
                ["lifecycle", "--config", dev, "--deployed", dir, "--soak-days", "99999999999999999999999"],
                'error: --soak-days must be a whole number of days from 0 to 365; got "99999999999999999999999"',
            ],
        ];
        for (const [argv, first] of cases) {
            const result = await cli(...argv);
            assert.strictEqual(result.status, 2, argv.join(" "));
            assert.strictEqual(result.out, "");
            // The error, then where the usage is: not the usage itself.
            assert.strictEqual(result.err, `${first}\nsee apic-istio-pki ${argv[0]} --help\n`, argv.join(" "));
        }
        // After "--" even -h is an argument, which no command takes (it printed the help).
        const dashDash = await cli("render", "--", "-h");
        assert.deepStrictEqual(
            [dashDash.status, dashDash.err.split("\n")[0]],
            [2, "error: Unexpected argument '-h'. This command does not take positional arguments"],
        );
        // Options a command takes several times still do.
        assert.strictEqual(
            (await cli("expiry", "--pem", dev, "--pem", dev)).err,
            `error: no certificates or CRLs found in ${dev}; give each --pem a file that holds some (a certificate such as tls.crt or ca.crt, a CA bundle, a CRL, a PKCS#7 bundle, a PKCS#12 keystore with its password, a Secret or ConfigMap), not a key or another file\n`,
        );
    });

    it("refuses a folder given as --config, naming the stack file to give instead", async () => {
        const dir = project("stackConfigDir: environments\n", "environments");
        const folder = path.join(dir, "environments");
        const result = await cli("inventory", "--config", folder);
        assert.deepStrictEqual(
            [result.status, result.out, result.err.split("\n").slice(0, 3)],
            [
                2,
                "",
                [
                    `error: --config ${folder} is a folder; give a stack file, e.g. ${path.join(folder, "Pulumi.dev.yaml")}, or --stack NAME`,
                    "see apic-istio-pki inventory --help",
                    "",
                ],
            ],
        );
    });

    it("refuses a stack file it may not read, or one in a folder it may not search, or a --base link that loops, in one line with the fix (EACCES, also as root; ELOOP)", () => {
        const dir = tempDir("cli-denied");
        const locked = path.join(dir, "locked");
        fs.mkdirSync(locked);
        const behind = path.join(locked, "x.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), behind);
        const unreadable = path.join(dir, "u.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), unreadable);
        const readable = path.join(dir, "ok.yaml");
        fs.copyFileSync(path.join(ROOT, "stacks/Pulumi.dev.yaml"), readable);
        fs.chmodSync(locked, 0o000);
        fs.chmodSync(unreadable, 0o000);
        // AS_USER holds root to the modes like any user, so that the run gets a real EACCES.
        const run = (...argv: string[]) => {
            const [command, ...args] = [...AS_USER, process.execPath, CLI, ...argv];
            const result = spawnSync(command, args, { encoding: "utf8" });
            return [result.status, result.stderr];
        };
        const fix = "permission denied (EACCES); run apic-istio-pki as a user who may read it";
        try {
            for (const command of ["inventory", "render"]) {
                const out = command === "render" ? ["--out", path.join(dir, "out")] : [];
                assert.deepStrictEqual(run(command, "--config", behind, ...out), [
                    2,
                    `error: --config ${behind}: cannot read it: ${fix}\n`,
                ]);
                assert.deepStrictEqual(run(command, "--config", unreadable, ...out), [
                    1,
                    `error: cannot read ${unreadable}: ${fix}\n`,
                ]);
            }
            assert.deepStrictEqual(run("diff", "--head", behind, "--base", readable), [
                2,
                `error: --head ${behind}: cannot read it: ${fix}\n`,
            ]);
            // Taken for a git ref, it was "not a file".
            assert.deepStrictEqual(run("diff", "--head", readable, "--base", behind), [
                2,
                `error: --base ${behind}: cannot read it: ${fix}\n`,
            ]);
            assert.deepStrictEqual(run("diff", "--head", readable, "--base", unreadable), [
                1,
                `error: cannot read ${unreadable}: ${fix}\n`,
            ]);
            // lifecycle said Node's "EACCES: permission denied, open ...".
            assert.deepStrictEqual(run("lifecycle", "--config", unreadable, "--deployed", dir), [
                2,
                `error: cannot use the stack file ${unreadable}: ${fix}\n`,
            ]);
            // A --base link that loops is no git ref: it was "neither a file nor a git ref".
            const loop = path.join(dir, "loop.yaml");
            fs.symlinkSync(loop, loop);
            assert.deepStrictEqual(run("diff", "--head", readable, "--base", loop), [
                2,
                `error: --base ${loop}: cannot read it: it is a link that loops (ELOOP); remove the link or point it at a file\n`,
            ]);
        } finally {
            fs.chmodSync(locked, 0o700);
            fs.chmodSync(unreadable, 0o600);
        }
    });

    it("refuses a stack file or --deployed file that is not UTF-8 in one line naming where, never quoting it", async () => {
        const { dir, git } = gitRepo("encoding");
        fs.mkdirSync(path.join(dir, "stacks"));
        const stack = path.join(dir, "stacks", "Pulumi.dev.yaml");
        // A Latin-1 "é" (0xE9) at offset 71, after a U+FFFD the file spells in UTF-8, which is no error.
        const latin1 = Buffer.concat([
            Buffer.from("config:\n  pki:environment: dev\n  # \ufffd is text\n  pki:organization: Soci"),
            Buffer.from("été Bank\n", "latin1"),
        ]);
        fs.writeFileSync(stack, latin1);
        const notUtf8 =
            "it is not UTF-8 text: the byte at offset 71 (line 4) is not UTF-8 (Latin-1 or Windows-1252 text, or no text at all?); save it as UTF-8";
        // A private key saved by Windows PowerShell 5: UTF-16 with a byte order mark. Its NULs hid it
        // from the key patterns, and its text was quoted whole as "not a map".
        const keyPem = crypto
            .generateKeyPairSync("ec", { namedCurve: "P-256" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const utf16Key = path.join(dir, "key.pem");
        fs.writeFileSync(utf16Key, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(keyPem, "utf16le")]));
        const utf16Json = path.join(dir, "outputs.json");
        fs.writeFileSync(utf16Json, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from("{}", "utf16le").swap16()]));
        const utf16 = `it is UTF-16 text (it starts with a UTF-16 byte order mark, as Windows PowerShell 5 and Notepad's "Unicode" write), not UTF-8; save it as UTF-8`;
        const out = path.join(dir, "out");
        const dev = path.join(ROOT, "stacks/Pulumi.dev.yaml");
        const cases: [string[], number, string][] = [
            [["inventory", "--config", stack], 1, `error: cannot read ${stack}: ${notUtf8}`],
            [["render", "--config", utf16Key, "--out", out], 1, `error: cannot read ${utf16Key}: ${utf16}`],
            [["diff", "--base", dev, "--head", stack], 1, `error: cannot read ${stack}: ${notUtf8}`],
            [
                ["lifecycle", "--config", stack, "--deployed", dir, "--write"],
                2,
                `error: cannot use the stack file ${stack}: ${notUtf8}`,
            ],
            [
                ["lifecycle", "--config", dev, "--deployed", utf16Json],
                2,
                `error: --deployed ${utf16Json}: cannot read it: ${utf16}`,
            ],
        ];
        for (const [argv, status, message] of cases) {
            const result = await cli(...argv);
            assert.deepStrictEqual(
                [result.status, result.out, result.err],
                [status, "", `${message}\n`],
                argv.join(" "),
            );
        }
        assert.deepStrictEqual(fs.readFileSync(stack), latin1, "lifecycle --write left the bytes as they were");
        assert.strictEqual(fs.existsSync(out), false);
        // The same file as the base of a diff, at a git ref.
        git("add", "stacks");
        git("commit", "-qm", "latin-1");
        fs.copyFileSync(dev, stack);
        const base = await cli("diff", "--base", "main", "--head", stack);
        assert.deepStrictEqual(
            [base.status, base.out, base.err],
            [1, "", `error: cannot read main:stacks/Pulumi.dev.yaml: ${notUtf8}\n`],
        );
    });

    it("refuses a FIFO given as a file in one line (exit 2) instead of waiting on it forever", () => {
        const dir = tempDir("fifo");
        const fifo = path.join(dir, "input.yaml");
        const mkfifo = spawnSync("mkfifo", [fifo], { encoding: "utf8" });
        assert.strictEqual(mkfifo.status, 0, mkfifo.stderr);
        const dev = path.join(ROOT, "stacks/Pulumi.dev.yaml");
        const cases = [
            ["inventory", "--config", fifo],
            ["diff", "--base", dev, "--head", fifo],
            ["expiry", "--pem", fifo],
            ["lifecycle", "--config", dev, "--deployed", fifo],
        ];
        // In a child with a time limit: were a FIFO opened for a plain read, this suite would hang.
        const script = `const { main } = require(${JSON.stringify(CLI)});
            (async () => {
                const results = [];
                for (const argv of JSON.parse(process.env.CASES)) {
                    let err = "";
                    const status = await main(argv, () => undefined, (t) => (err += t));
                    results.push([status, err.split("\\n")[0]]);
                }
                process.stdout.write(JSON.stringify(results));
            })();`;
        const child = spawnSync(process.execPath, ["-e", script], {
            env: { ...process.env, CASES: JSON.stringify(cases) },
            encoding: "utf8",
            timeout: 30_000,
        });
        assert.strictEqual(child.signal, null, "a command waited on the FIFO until the time limit");
        assert.deepStrictEqual(JSON.parse(child.stdout), [
            [2, `error: --config ${fifo} is not a regular file; give a stack file, or --stack NAME`],
            [2, `error: --head ${fifo} is not a regular file; give a stack file`],
            [2, `error: cannot read ${fifo}: it is not a regular file (a FIFO, socket or device)`],
            [2, `error: --deployed ${fifo}: cannot read it: it is not a regular file (a FIFO, socket or device)`],
        ]);
    });

    it("hands a pipe all of a long output before it exits, however slowly the pipe is read", () => {
        // Node writes to a pipe asynchronously: exiting at once cut `expiry --format json | jq` at 64 KiB.
        const dir = tempDir("cli-pipe");
        const file = path.join(dir, "Pulumi.wide.yaml");
        const services = Array.from({ length: 120 }, (_, i) => `service-${i}`);
        fs.writeFileSync(
            file,
            "config:\n  pki:environment: wide\n  pki:option: 2\n  pki:baseDomain: wide.example\n" +
                `  pki:domains: { ob: { services: [${services.join(", ")}] } }\n`,
        );
        // A shell pipe (64 KiB) to a reader that starts late, as jq does on a big document.
        const piped = spawnSync(
            "bash",
            [
                "-c",
                '"$0" "$1" inventory --config "$2" --format json | (sleep 0.3; cat); exit "${PIPESTATUS[0]}"',
                process.execPath,
                CLI,
                file,
            ],
            { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
        );
        const [status, text] = [piped.status, piped.stdout];
        assert.ok(text.length > 128 * 1024, `${text.length} characters: more than a pipe's buffer`);
        const inventory = JSON.parse(text) as { certificates: unknown[] };
        // Three roots, two issuing CAs and the mesh CA; a server and a client certificate per service.
        assert.deepStrictEqual([status, inventory.certificates.length], [0, 6 + 2 * services.length]);
    });

    it("fails when its report cannot be written (a full disk), and not when the reader stops early (| head)", () => {
        const shell = (redirect: string) =>
            spawnSync(
                "bash",
                ["-c", `"$0" "$1" inventory --stack dev ${redirect}; exit "\${PIPESTATUS[0]}"`, process.execPath, CLI],
                { encoding: "utf8", cwd: ROOT },
            );
        const full = shell("> /dev/full");
        assert.deepStrictEqual([full.status, full.stderr], [1, "error: cannot write the output (ENOSPC)\n"]);
        const head = shell("| head -c 4");
        assert.deepStrictEqual([head.status, head.stdout, head.stderr], [0, "role", ""]);
    });

    it("keeps its exit status when its last output waits behind a full pipe", () => {
        // Another writer filled the pipe (64 KiB) and the reader is busy: the refusal (exit 2) waits
        // in Node's buffer, too little for a 'drain'; Node then ended on its own with status 0.
        const piped = spawnSync(
            "bash",
            [
                "-c",
                '( head -c 65536 /dev/zero; "$0" "$1" render --config /nonexistent/Pulumi.x.yaml --out "$2" 2>&1; echo "status $?" >&2 ) | (sleep 1; wc -c)',
                process.execPath,
                CLI,
                path.join(tempDir("cli-full-pipe"), "out"),
            ],
            { encoding: "utf8" },
        );
        assert.deepStrictEqual([piped.status, piped.stderr], [0, "status 2\n"]);
        assert.ok(Number(piped.stdout) > 65536, piped.stdout);
    });
});
