/** Running the real ceremony command: in-process for scripted rehearsals, or as a process on a pipe or a pseudo-terminal. */
import { spawn, spawnSync } from "child_process";
import * as path from "path";
import { ROOT_PASSPHRASE_VARIABLE } from "../lib/cli/prompt";
import { cli, ROOT } from "./helpers";

/** TEST-ONLY passphrase of the roots the tests make. */
export const PASSPHRASE = "test-only passphrase, never a real one";

const MAIN = path.join(ROOT, "dist", "lib", "cli", "main.js");

/** `npx apic-istio-pki ceremony ...` in-process, the passphrase given as a scripted rehearsal gives it (the environment). */
export async function ceremony(
    passphrase: string | undefined,
    ...argv: string[]
): Promise<{ status: number; out: string; err: string }> {
    const before = process.env[ROOT_PASSPHRASE_VARIABLE];
    if (passphrase === undefined) delete process.env[ROOT_PASSPHRASE_VARIABLE];
    else process.env[ROOT_PASSPHRASE_VARIABLE] = passphrase;
    // A scripted rehearsal has no terminal, also when mocha itself runs on one.
    const tty = Object.getOwnPropertyDescriptor(process.stdin, "isTTY");
    Object.defineProperty(process.stdin, "isTTY", { value: undefined, configurable: true });
    try {
        return await cli("ceremony", ...argv);
    } finally {
        if (tty === undefined) delete (process.stdin as { isTTY?: boolean }).isTTY;
        else Object.defineProperty(process.stdin, "isTTY", tty);
        if (before === undefined) delete process.env[ROOT_PASSPHRASE_VARIABLE];
        else process.env[ROOT_PASSPHRASE_VARIABLE] = before;
    }
}

/** The environment of a child process, with or without the passphrase variable. */
function childEnv(passphrase: string | undefined): NodeJS.ProcessEnv {
    const env = { ...process.env };
    delete env[ROOT_PASSPHRASE_VARIABLE];
    return passphrase === undefined ? env : { ...env, [ROOT_PASSPHRASE_VARIABLE]: passphrase };
}

/** The ceremony as a process whose standard input is `input` (a pipe, not a terminal). */
export function ceremonyPiped(
    passphrase: string | undefined,
    input: string,
    ...argv: string[]
): { status: number; out: string; err: string } {
    return ceremonyPipedAs(undefined, passphrase, input, ...argv);
}

/** `ceremonyPiped` as uid and gid `uid` (the tests run as root): a user who cannot read another's files. */
export function ceremonyPipedAs(
    uid: number | undefined,
    passphrase: string | undefined,
    input: string,
    ...argv: string[]
): { status: number; out: string; err: string } {
    const result = spawnSync(process.execPath, [MAIN, "ceremony", ...argv], {
        input,
        env: childEnv(passphrase),
        encoding: "utf8",
        ...(uid === undefined ? {} : { uid, gid: uid }),
    });
    return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

/**
 * The ceremony as a process on a pipe (`ceremonyPiped`), started by a shell that first sets its
 * soft core file size limit (`ulimit -S -c blocks`); `limit` is that limit as /proc/self/limits
 * then shows it ("1048576", "unlimited"), read by another process the same shell command starts.
 */
export function ceremonyWithCoreLimit(
    blocks: string,
    passphrase: string | undefined,
    ...argv: string[]
): { status: number; out: string; err: string; limit: string } {
    const shell = (command: string, args: readonly string[]) =>
        spawnSync("sh", ["-c", `ulimit -S -c ${blocks} && ${command}`, "sh", ...args], {
            input: "",
            env: childEnv(passphrase),
            encoding: "utf8",
        });
    const limits = shell("cat /proc/self/limits", []).stdout;
    const limit = /^Max core file size\s+(\S+)/m.exec(limits)?.[1] ?? `none in ${limits}`;
    const result = shell(`exec "$@"`, [process.execPath, MAIN, "ceremony", ...argv]);
    return { status: result.status ?? -1, out: result.stdout, err: result.stderr, limit };
}

const quote = (arg: string): string => `'${arg.replace(/'/g, "'\\''")}'`;

/** What is typed at a question: a line, or its bytes in parts that reach the ceremony 200 ms apart. */
export type Answer = string | readonly Buffer[];

/**
 * The ceremony on a real pseudo-terminal (util-linux `script`): each answer is typed once its
 * question has appeared, as a person would, then Enter; `meanwhile`, if given, runs just before
 * (what else may happen while a person reads). Returns everything the terminal showed.
 */
export function ceremonyOnTerminal(
    answers: readonly (readonly [question: string, answer: Answer, meanwhile?: () => void])[],
    ...argv: string[]
): Promise<{ status: number; transcript: string }> {
    return onTerminal(undefined, answers, argv);
}

/** ceremonyOnTerminal with the passphrase variable set, as a rehearsal may have left it in the shell. */
export function ceremonyOnTerminalWithVariable(
    passphrase: string,
    answers: readonly (readonly [question: string, answer: Answer, meanwhile?: () => void])[],
    ...argv: string[]
): Promise<{ status: number; transcript: string }> {
    return onTerminal(passphrase, answers, argv);
}

function onTerminal(
    passphrase: string | undefined,
    answers: readonly (readonly [question: string, answer: Answer, meanwhile?: () => void])[],
    argv: readonly string[],
): Promise<{ status: number; transcript: string }> {
    const command = [process.execPath, MAIN, "ceremony", ...argv].map(quote).join(" ");
    const child = spawn("script", ["--quiet", "--return", "--command", command, "/dev/null"], {
        env: childEnv(passphrase),
        stdio: ["pipe", "pipe", "pipe"],
    });
    return new Promise((resolve, reject) => {
        let transcript = "";
        let asked = 0;
        let searchFrom = 0;
        child.stdout.on("data", (chunk: Buffer) => {
            transcript += chunk.toString("utf8");
            const next = answers[asked];
            const at = next === undefined ? -1 : transcript.indexOf(next[0], searchFrom);
            if (next !== undefined && at >= 0) {
                searchFrom = at + next[0].length;
                asked += 1;
                next[2]?.();
                const answer = next[1];
                if (typeof answer === "string") child.stdin.write(`${answer}\r`);
                else {
                    // Each part in a read of its own, as a slow line delivers it.
                    answer.forEach((part, i) => setTimeout(() => child.stdin.write(part), i * 200));
                    setTimeout(() => child.stdin.write("\r"), answer.length * 200);
                }
            }
        });
        const timer = setTimeout(() => {
            child.kill();
            reject(new Error(`the ceremony on a terminal did not finish; it showed:\n${transcript}`));
        }, 30_000);
        child.on("error", reject);
        child.on("close", (status) => {
            clearTimeout(timer);
            child.stdin.end();
            resolve({ status: status ?? -1, transcript });
        });
    });
}

/**
 * The ceremony on a pseudo-terminal, sent `signal` once it asks for the passphrase; then, on the
 * same terminal, `stty -a`: how the ceremony ended (its shell exit status, 128 + the signal's number
 * when the signal ended it) and the terminal settings it left behind ("echo", "-echo", "icanon"...).
 */
export function ceremonyKilledAtPrompt(
    signal: NodeJS.Signals,
    ...argv: string[]
): Promise<{ ended: number; settings: string[]; transcript: string }> {
    const ceremony = [process.execPath, MAIN, "ceremony", ...argv].map(quote).join(" ");
    // In the background so that its pid is known; its input is still the terminal.
    const command = `${ceremony} < /dev/tty & echo "pid=$!"; wait $!; echo "ended=$?"; stty -a < /dev/tty`;
    const child = spawn("script", ["--quiet", "--return", "--command", command, "/dev/null"], {
        env: childEnv(undefined),
        stdio: ["pipe", "pipe", "pipe"],
    });
    return new Promise((resolve, reject) => {
        let transcript = "";
        let sent = false;
        child.stdout.on("data", (chunk: Buffer) => {
            transcript += chunk.toString("utf8");
            const pid = /pid=(\d+)/.exec(transcript)?.[1];
            if (!sent && pid !== undefined && transcript.includes("Passphrase of the root key: ")) {
                sent = true;
                process.kill(Number(pid), signal);
            }
        });
        const timer = setTimeout(() => {
            child.kill();
            reject(new Error(`the ceremony on a terminal did not end; it showed:\n${transcript}`));
        }, 30_000);
        child.on("error", reject);
        child.on("close", () => {
            clearTimeout(timer);
            child.stdin.end();
            const ended = Number(/ended=(\d+)/.exec(transcript)?.[1] ?? -1);
            const settings = transcript.slice(transcript.indexOf("ended=")).split(/[\s;]+/);
            resolve({ ended, settings, transcript });
        });
    });
}
