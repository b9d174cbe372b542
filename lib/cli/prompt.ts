/**
 * The ceremony's questions to the people at the offline machine: the root key's passphrase (typed
 * on a terminal, never echoed) and the confirmation of what is about to be signed (a line from a
 * terminal or, in a scripted rehearsal, from standard input). Questions go to standard error, so
 * that standard output holds only what the ceremony reports.
 */
import * as readline from "readline";
import { StringDecoder } from "string_decoder";
import { untilDone } from "../interrupt";
import { checkNewPassphrase } from "../pki/ceremony";

export const ROOT_PASSPHRASE_VARIABLE = "APIC_ISTIO_PKI_ROOT_PASSPHRASE";

const CTRL_C = "\u0003";
const CTRL_D = "\u0004";
const CTRL_U = "\u0015";
const BACKSPACE = ["\u007f", "\b"];
const TAB = "\t";

/**
 * A key a terminal sends as a control character, other than those the prompt handles: in raw mode
 * Ctrl-W, Ctrl-Z or an arrow key (ESC [ A) would otherwise become part of the passphrase, and a
 * custodian would only learn of it from "wrong passphrase", or make a key openssl's prompt cannot open.
 */
const isControlKey = (char: string): boolean => char !== TAB && (char < " " || char === "\u007f");

/** How a control character is named to the person at the terminal: Ctrl-W, ESC. */
const keyName = (char: string): string =>
    char === "\u001b" ? "ESC (an arrow or function key)" : `Ctrl-${String.fromCharCode(char.charCodeAt(0) + 64)}`;

export class Prompter {
    private lines?: { reader: readline.Interface; iterator: AsyncIterator<string> };

    /** One line of standard input, or undefined when it has ended. */
    async line(question: string): Promise<string | undefined> {
        process.stderr.write(question);
        if (this.lines === undefined) {
            const reader = readline.createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
            this.lines = { reader, iterator: reader[Symbol.asyncIterator]() };
        }
        const next = await this.lines.iterator.next();
        // A terminal echoes the answer and its newline; piped input leaves the question's line open.
        if (process.stdin.isTTY !== true) process.stderr.write("\n");
        return next.done === true ? undefined : next.value;
    }

    /**
     * A secret typed on the terminal with echo off (raw mode): Backspace deletes a character,
     * Ctrl-U the whole line, as at a sudo or ssh prompt; Ctrl-C or Ctrl-D cancels, and any other
     * control key is refused rather than taken into the secret.
     */
    async hidden(question: string): Promise<string> {
        this.close();
        const input = process.stdin;
        // Echo off before the question shows, so that an answer typed at once is not echoed either.
        input.setRawMode(true);
        // A signal meanwhile (SIGTERM, SIGHUP: the ceremony's undoUnlessDone) gives the terminal its
        // echo back before the process ends: the shell the people return to must show what they type.
        const restored = untilDone(() => input.setRawMode(false));
        input.resume();
        process.stderr.write(question);
        // One decoder for the whole answer: a character's UTF-8 bytes may arrive in two reads (a
        // serial console, a slow ssh link), and decoding each read alone would make them U+FFFD.
        const decoder = new StringDecoder("utf8");
        return new Promise((resolve, reject) => {
            let answer = "";
            const finish = (error?: Error): void => {
                input.off("data", onData);
                input.setRawMode(false);
                restored();
                input.pause();
                process.stderr.write("\n");
                if (error !== undefined) reject(error);
                else resolve(answer);
            };
            const onData = (chunk: Buffer): void => {
                for (const char of decoder.write(chunk)) {
                    if (char === "\r" || char === "\n") return finish();
                    // Bytes that are no UTF-8 (a terminal set to Latin-1): different characters would
                    // all become U+FFFD, a passphrase nobody typed, which openssl's prompt cannot give.
                    if (char === "\uFFFD") {
                        return finish(
                            new Error(
                                "the terminal sent bytes that are not UTF-8 at the passphrase prompt (is it set to another encoding, such as Latin-1?); nothing was signed or written: set it to UTF-8 and run the command again",
                            ),
                        );
                    }
                    if (char === CTRL_C || char === CTRL_D) {
                        return finish(new Error("cancelled at the passphrase prompt; nothing was signed or written"));
                    }
                    if (char === CTRL_U) answer = "";
                    else if (BACKSPACE.includes(char)) answer = [...answer].slice(0, -1).join("");
                    else if (isControlKey(char)) {
                        return finish(
                            new Error(
                                `${keyName(char)} at the passphrase prompt: it takes only the passphrase, Backspace, Ctrl-U (clear) and Enter; nothing was signed or written: run the command again`,
                            ),
                        );
                    } else answer += char;
                }
            };
            input.on("data", onData);
        });
    }

    /** Stops reading standard input, so that the process can end. */
    close(): void {
        this.lines?.reader.close();
        this.lines = undefined;
    }
}

/**
 * The root key's passphrase: from ROOT_PASSPHRASE_VARIABLE (scripted rehearsals), else asked on
 * the terminal, twice when it protects a new key.
 */
export async function rootPassphrase(prompter: Prompter, options: { newKey: boolean }): Promise<string> {
    const given = process.env[ROOT_PASSPHRASE_VARIABLE];
    if (given === "") {
        throw new Error(
            `${ROOT_PASSPHRASE_VARIABLE} is set but empty; set it to the root key's passphrase, or unset it to be asked on the terminal`,
        );
    }
    if (given !== undefined) {
        if (options.newKey) checkNewPassphrase(given);
        return given;
    }
    if (process.stdin.isTTY !== true) {
        throw new Error(
            `no terminal to ask the root key's passphrase on; run the ceremony on a terminal, or set ${ROOT_PASSPHRASE_VARIABLE} for a scripted rehearsal`,
        );
    }
    const passphrase = await prompter.hidden("Passphrase of the root key: ");
    if (options.newKey) {
        checkNewPassphrase(passphrase);
        if ((await prompter.hidden("The same passphrase again: ")) !== passphrase) {
            throw new Error("the two passphrases differ; nothing was written: run init-root again");
        }
    }
    return passphrase;
}

/**
 * Refuses ROOT_PASSPHRASE_VARIABLE on a terminal, before anything is shown or asked: one left set
 * from a rehearsal (a profile, an export in the shell) would otherwise let a real ceremony make or
 * use a root with no passphrase typed, init-root and --yes without a single question. Scripted
 * rehearsals have no terminal (their input is a pipe or a file).
 */
export function refuseRehearsalPassphraseOnTerminal(): void {
    if (process.env[ROOT_PASSPHRASE_VARIABLE] === undefined || process.stdin.isTTY !== true) return;
    throw new Error(
        `${ROOT_PASSPHRASE_VARIABLE} is set, but the ceremony runs on a terminal, where people type the passphrase; nothing was read or written: ` +
            `unset it and run the command again (the variable is for scripted rehearsals alone)`,
    );
}

/**
 * Refuses --yes on a terminal, before anything is shown or asked, as the passphrase variable is
 * refused there: left in a command copied from a rehearsal's script, it would have a real
 * ceremony sign what no one confirmed, the SPKI SHA-256 from the change request never typed.
 * Scripted rehearsals have no terminal (their input is a pipe or a file).
 */
export function refuseRehearsalConfirmationOnTerminal(): void {
    if (process.stdin.isTTY !== true) return;
    throw new Error(
        `--yes is given, but the ceremony runs on a terminal, where people read the review and type the confirmation; nothing was read or written: ` +
            `run the command again without --yes (it is for scripted rehearsals alone)`,
    );
}
