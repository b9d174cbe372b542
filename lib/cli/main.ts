#!/usr/bin/env node
/**
 * apic-istio-pki <command>: render, inventory, diff, expiry, lifecycle, ceremony; --version.
 * Exit status: 0 done; 1 failed (bad config; expiry: something due; lifecycle: needs a human);
 * 2 wrong usage or unreadable input (expiry, lifecycle: any other failure, never 1).
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../config/validate";
import { Command, InputError, UsageError } from "./stackSource";

/**
 * Each command loaded only when it runs: render pulls in the Pulumi SDK and the Kubernetes
 * provider (about 0.4 s), which diff, expiry, lifecycle and the ceremony never need.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
    render: async () => (await import("./render.js")).renderCommand,
    inventory: async () => (await import("./inventory.js")).inventoryCommand,
    diff: async () => (await import("./diff.js")).diffCommand,
    expiry: async () => (await import("./expiry.js")).expiryCommand,
    lifecycle: async () => (await import("./lifecycle.js")).lifecycleCommand,
    ceremony: async () => (await import("./ceremony.js")).ceremonyCommand,
};

/**
 * The exit status of a failure that is not the command's verdict (output it cannot write, a
 * defect): 1 by default, but 2 where 1 is a verdict monitoring acts on (expiry: something due;
 * lifecycle: something needs a human).
 */
export function failureStatus(command: string | undefined): number {
    return command === "expiry" || command === "lifecycle" ? 2 : 1;
}

const USAGE = `usage: apic-istio-pki <command> [options]   (each command takes --help)
       apic-istio-pki --version

  render     write what a stack creates, offline, with real keys and certificates
  inventory  list every certificate a stack plans, where it goes and when to renew it
  diff       show which certificates a change of stack config adds, removes or replaces, and why
  expiry     report days to expiry of rendered or exported certificates and CRLs
  lifecycle  propose the renewals, CA rotation phases and CRL re-publication that are due
  ceremony   on the offline machine: create the root, sign intermediate CSRs and the root's CRLs

--stack NAME reads Pulumi.NAME.yaml from the Pulumi project you run it in: the nearest Pulumi.yaml
at or above the current folder, in its stackConfigDir (else beside it); outside a project, ./stacks.
NAME is a Pulumi stack name, or org/project/NAME as pulumi takes it.

Exit status: 0 done, 1 failed (diff: a refused change; expiry: something is due; lifecycle:
something needs a human), 2 wrong usage (expiry, lifecycle: or unreadable input, or any other
failure, so that monitoring never takes one for something due).`;

/** The installed package's version (dist/lib/cli -> the package root). */
function packageVersion(): string {
    const manifest = path.join(__dirname, "..", "..", "..", "package.json");
    return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }).version;
}

export async function main(
    argv: string[],
    out: (text: string) => void = (t) => process.stdout.write(t),
    err: (text: string) => void = (t) => process.stderr.write(t),
): Promise<number> {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h") {
        out(USAGE + "\n");
        return name === undefined ? 2 : 0;
    }
    if (name === "--version") {
        out(`${packageVersion()}\n`);
        return 0;
    }
    const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    let command: Command | undefined;
    try {
        if (load === undefined) throw new UsageError(`unknown command "${name}"`);
        command = await load();
        // Only before "--": what follows it is an argument, even "-h".
        const options = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
        if (options.includes("--help") || options.includes("-h")) {
            out(command.usage + "\n");
            return 0;
        }
        return await command.run(rest, out);
    } catch (error) {
        if (error instanceof UsageError) {
            // The error and where the usage is, not the usage itself: some 35 lines that push the
            // one line that matters out of sight.
            err(`error: ${error.message}\nsee apic-istio-pki ${command === undefined ? "" : `${name} `}--help\n`);
            return 2;
        }
        if (error instanceof InputError) {
            err(`error: ${error.message}\n`);
            return 2;
        }
        if (error instanceof ConfigError) {
            err(`${error.message}\n`);
            return 1;
        }
        err(`error: ${(error as Error).message}\n`);
        return failureStatus(name);
    }
}

/** The first failure to write the output (a full disk), but not a reader that stopped reading (EPIPE: `| head`). */
let writeFailure: string | undefined;
const watchWrites = (stream: NodeJS.WriteStream, failed: number): void =>
    void stream.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EPIPE") return;
        writeFailure ??= error.code ?? error.message;
        process.exitCode = failed;
    });

/**
 * Exits with `code` once standard output and error have taken everything written to them: Node
 * writes to a pipe asynchronously, and process.exit at once would cut `expiry --format json | jq`
 * at 64 KiB. The status is set first, so that it holds however the process ends. A stream still
 * holding output gets an empty write, whose callback runs after the writes before it; one holding
 * none is not written to (an empty write fails on a full device too). A report that could not be
 * written fails the command, with its status `failed`.
 */
function exitWhenWritten(code: number, failed: number): void {
    process.exitCode = writeFailure === undefined ? code : failed;
    // After the streams' pending events: a write to a file fails at once, but says so on a later tick.
    setImmediate(() => {
        const holding = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0);
        let open = holding.length;
        const exit = (): void => {
            if (writeFailure === undefined) process.exit(code);
            process.stderr.write(`error: cannot write the output (${writeFailure})\n`, () => process.exit(failed));
        };
        if (open === 0) return exit();
        for (const stream of holding) {
            stream.write("", () => {
                open -= 1;
                if (open === 0) exit();
            });
        }
    });
}

if (require.main === module) {
    const failed = failureStatus(process.argv[2]);
    watchWrites(process.stdout, failed);
    watchWrites(process.stderr, failed);
    main(process.argv.slice(2)).then(
        (code) => exitWhenWritten(code, failed),
        (err: unknown) => {
            process.stderr.write(`error: ${String(err)}\n`);
            exitWhenWritten(failed, failed);
        },
    );
}
