import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import nodeCrypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import nodeFs from "fs";
import * as path from "path";
import { CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, Name, SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import {
    ceremony,
    ceremonyKilledAtPrompt,
    ceremonyOnTerminal,
    ceremonyOnTerminalWithVariable,
    ceremonyPiped,
    ceremonyPipedAs,
    ceremonyWithCoreLimit,
    PASSPHRASE,
} from "./ceremonyTools";
import { ENGINE_KEYS_FILE } from "./engineKeys";
import { ROOT_PASSPHRASE_VARIABLE } from "../lib/cli/prompt";
import { readTestKeys } from "../lib/engine/testKeys";
import { ISSUANCE_LOG, ROOT_CERT, ROOT_KEY, STAGING_INSIDE } from "../lib/cli/rootFolder";
import { rawConfigFromStackFile } from "../lib/config/load";
import { MAX_ENVIRONMENT_LENGTH, organizationProblem, validateConfig } from "../lib/config/validate";
import { planCas } from "../lib/plan/plan";
import { signIntermediate } from "../lib/pki/ceremony";
import { parseCrl } from "../lib/pki/crl";
import { pickSeriesCrl } from "../lib/pki/crlSeries";
import { pemBlocks } from "../lib/pki/pem";
import { isStackCaName } from "../lib/pki/rootBinding";
import { IntermediateSlot, ROOT_TRUST_DOMAIN_NAMES, ROOT_TRUST_DOMAINS, rootOf } from "../lib/plan/hierarchy";
import { planFromRawConfig } from "../lib/plan/plan";
import {
    AS_USER,
    cliSignalledWhileWriting,
    loadStackFileValues,
    openssl,
    opensslText,
    OPTION_FILES,
    patched,
    readmeBlock,
    ROOT,
    rootRemade,
    tempDir,
    writeTemp,
} from "./helpers";

/** `init-root` of an APIC-client root for environment example into `out`, named `cn`; `extra` options after. */
const initRootArgs = (out: string, cn: string, ...extra: string[]): string[] => [
    ...["init-root", "--out", out, "--environment", "example", "--trust-domain", "apic-client", "--cn", cn],
    ...extra,
];

/** SHA-256 of a key's DER SubjectPublicKeyInfo, computed by openssl (independently of the ceremony's code). */
function opensslSpkiSha256(pem: string, kind: "csr" | "cert"): string {
    const publicKey = execFileSync(
        "openssl",
        kind === "csr" ? ["req", "-noout", "-pubkey"] : ["x509", "-noout", "-pubkey"],
        {
            input: pem,
        },
    );
    const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "DER"], { input: publicKey });
    return crypto.createHash("sha256").update(der).digest("hex");
}

/** A CSR made with openssl: the key as genpkey takes it, the subject as req -subj takes it (or from extra's -config), extra req arguments. */
function opensslCsr(
    dir: string,
    name: string,
    key: string[],
    subject: string | undefined,
    extra: string[] = [],
): string {
    const keyFile = path.join(dir, `${name}.key`);
    const csrFile = path.join(dir, `${name}.csr`);
    execFileSync("openssl", ["genpkey", ...key, "-out", keyFile], { stdio: "ignore" });
    execFileSync(
        "openssl",
        [
            "req",
            "-new",
            "-key",
            keyFile,
            ...(subject !== undefined ? ["-subj", subject] : []),
            ...extra,
            "-out",
            csrFile,
        ],
        {
            stdio: "ignore",
        },
    );
    return csrFile;
}

/**
 * A CSR with the stack's subject for an RSA public key no generator makes (modulus `n`, exponent
 * `e`), built by hand: no private key is needed, since with e = 1 a signature is the padded hash
 * itself (EMSA-PKCS1-v1_5 with SHA-256), which verifies.
 */
function handMadeRsaCsr(dir: string, name: string, n: Buffer, e: number): string {
    const eHex = e.toString(16);
    const jwk = {
        kty: "RSA",
        n: n.toString("base64url"),
        e: Buffer.from(eHex.padStart(eHex.length + (eHex.length % 2), "0"), "hex").toString("base64url"),
    };
    const spki = crypto.createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "der" });
    return stackCsr(dir, name, AsnConvert.parse(spki, SubjectPublicKeyInfo), (info) => {
        const hash = crypto.createHash("sha256").update(info).digest();
        const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), hash]);
        const padding = Buffer.alloc(n.length - digestInfo.length - 3, 0xff);
        return Buffer.concat([Buffer.from([0, 1]), padding, Buffer.from([0]), digestInfo]);
    });
}

/**
 * DIR/<name>.csr with the stack's subject for the key `spki`, as written (whatever its encoding),
 * signed sha256WithRSAEncryption by `sign` (given the DER CertificationRequestInfo).
 */
function stackCsr(dir: string, name: string, spki: SubjectPublicKeyInfo, sign: (info: Buffer) => Buffer): string {
    const info = new CertificationRequestInfo({
        subject: AsnConvert.parse(
            new x509.Name([{ O: ["Example Bank"] }, { CN: ["example APIC client CA"] }]).toArrayBuffer(),
            Name,
        ),
        subjectPKInfo: spki,
    });
    const csr = new CertificationRequest({
        certificationRequestInfo: info,
        signatureAlgorithm: new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.11", parameters: null }),
        signature: new Uint8Array(sign(Buffer.from(AsnConvert.serialize(info)))).buffer,
    });
    const base64 = Buffer.from(AsnConvert.serialize(csr)).toString("base64");
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${base64.match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
    return writeTemp(dir, `${name}.csr`, pem);
}

/** A random 4096-bit modulus (top bit set), odd or not: no key of it exists. */
function randomModulus(odd: boolean): Buffer {
    const n = crypto.randomBytes(512);
    n[0] |= 0x80;
    n[511] = odd ? n[511] | 1 : n[511] & 0xfe;
    return n;
}

const P256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const STACK_SUBJECT = "/O=Example Bank/CN=example APIC client CA";
/** What the refusal of another user's root.key or root folder says that user may have done to the key. */
const READ_OR_REPLACED_KEY =
    'read root.key (with the passphrase within reach, it leaked: README, "When a key leaks") or replaced it (the ceremony checks it against root.crt when it unlocks it)';
/** The checks the refusal of another user's root folder names, from the README's ceremony section. */
const FOLDER_CHECKS =
    "Then check root.crt against the write-once archive's and issuance.log's SHA-256 against the one the change request records; " +
    `that user may also have ${READ_OR_REPLACED_KEY}`;

const lines = (file: string): string[] => fs.readFileSync(file, "utf8").trimEnd().split("\n");
const modeOf = (file: string): number => fs.lstatSync(file).mode & 0o777;

describe("The key ceremony: what a bank's key ceremony expects", function () {
    this.timeout(60_000);
    const dir = tempDir("ceremony");
    const root = path.join(dir, "root");
    let csr: string;

    before(async () => {
        const init = await ceremony(
            PASSPHRASE,
            ...initRootArgs(root, "Example Bank APIC Client Root", "--org", "Example Bank", "--key", "ECDSA"),
        );
        assert.strictEqual(init.status, 0, init.err);
        csr = opensslCsr(dir, "apic-client-ca", P256, STACK_SUBJECT);
    });

    it("keeps the root key only encrypted (PBES2: PBKDF2-HMAC-SHA256 at 600,000 iterations, AES-256-CBC), opened by openssl with the passphrase and no other", () => {
        const keyFile = path.join(root, "root.key");
        const keyPem = fs.readFileSync(keyFile, "utf8");
        assert.match(keyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
        const structure = openssl(["asn1parse", "-in", keyFile]).output;
        for (const part of [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"]) {
            assert.ok(structure.includes(part), `openssl asn1parse shows ${part}:\n${structure}`);
        }
        // 600,000 PBKDF2 iterations (0x0927C0), not OpenSSL's default 2048; a fresh 16-byte salt.
        assert.match(
            structure,
            /:PBKDF2\n.*\n.*OCTET STRING +\[HEX DUMP\]:[0-9A-F]{32}\n.*INTEGER +:0927C0\n/,
            structure,
        );
        const opened = openssl(["pkey", "-in", keyFile, "-passin", `pass:${PASSPHRASE}`, "-pubout"]);
        assert.strictEqual(opened.status, 0, opened.output);
        const certKey = execFileSync("openssl", ["x509", "-noout", "-pubkey", "-in", path.join(root, "root.crt")], {
            encoding: "utf8",
        });
        assert.strictEqual(opened.output, certKey, "the key opened is the root certificate's");
        const wrong = openssl(["pkey", "-in", keyFile, "-passin", "pass:not the passphrase at all", "-noout"]);
        assert.notStrictEqual(wrong.status, 0);
        assert.strictEqual(modeOf(keyFile), 0o600);
        assert.strictEqual(modeOf(root), 0o700);
        assert.match(
            opensslText(fs.readFileSync(path.join(root, "root.crt"), "utf8")),
            /Subject: O = Example Bank, OU = apic-istio-pki example apic-client, CN = Example Bank APIC Client Root\n[\s\S]*CA:TRUE, pathlen:1\n/,
        );
    });

    it("asks the passphrase twice on a terminal without echoing it, and refuses two that differ, one under 16 characters, one string repeated or one of fewer than 8 different characters", async () => {
        const made = path.join(dir, "terminal-root");
        const init = [...initRootArgs(made, "Terminal Root"), "--key", "ECDSA"];
        const differ = await ceremonyOnTerminal(
            [
                ["Passphrase of the root key: ", "first passphrase of twenty"],
                ["The same passphrase again: ", "second passphrase, another"],
            ],
            ...init,
        );
        assert.strictEqual(differ.status, 1, differ.transcript);
        assert.match(differ.transcript, /error: the two passphrases differ; nothing was written: run init-root again/);
        assert.ok(!fs.existsSync(made), "nothing was written");
        // The same rule for a passphrase from the environment (a scripted rehearsal).
        const short = await ceremony("too short", ...init);
        assert.strictEqual(short.status, 1);
        assert.strictEqual(
            short.err,
            "error: the root key's passphrase has 9 characters; it needs at least 16 (e.g. six random words), since it is all that protects the key on its medium\n",
        );
        assert.ok(!fs.existsSync(made), "nothing was written");
        // Long enough but one string repeated, or of few different characters: refused before a key is made.
        const diceware =
            "choose a diceware-style passphrase of several random words (e.g. six, rolled with dice from a word list)";
        const weak: [string, string][] = [
            [
                "aaaaaaaaaaaaaaaa",
                `the root key's passphrase is one string of 1 character repeated 16 times, which is no harder to guess than that string once: ${diceware}`,
            ],
            [
                "passwordpassword",
                `the root key's passphrase is one string of 8 characters repeated 2 times, which is no harder to guess than that string once: ${diceware}`,
            ],
            [
                "abcabcabcabcabcabc",
                `the root key's passphrase is one string of 3 characters repeated 6 times, which is no harder to guess than that string once: ${diceware}`,
            ],
            [
                "aabbccddaabbccdda",
                `the root key's passphrase has only 4 different characters; it needs at least 8, since few characters make few passphrases to try: ${diceware}`,
            ],
        ];
        for (const [passphrase, message] of weak) {
            const refused = await ceremony(passphrase, ...init);
            assert.deepStrictEqual([passphrase, refused.status, refused.err], [passphrase, 1, `error: ${message}\n`]);
            assert.ok(!fs.existsSync(made), "nothing was written");
        }
        const made2 = await ceremonyOnTerminal(
            [
                ["Passphrase of the root key: ", PASSPHRASE],
                ["The same passphrase again: ", PASSPHRASE],
            ],
            ...init,
        );
        assert.strictEqual(made2.status, 0, made2.transcript);
        for (const transcript of [differ.transcript, made2.transcript]) {
            for (const secret of [PASSPHRASE, "first passphrase", "second passphrase"]) {
                assert.ok(!transcript.includes(secret), `the terminal never shows the passphrase:\n${transcript}`);
            }
        }
        assert.strictEqual(
            openssl(["pkey", "-in", path.join(made, "root.key"), "-passin", `pass:${PASSPHRASE}`, "-noout"]).status,
            0,
        );
    });

    it("clears the typed passphrase on Ctrl-U, as a sudo or ssh prompt does, and refuses other control keys rather than taking them into it", async () => {
        const made = path.join(dir, "control-keys-root");
        const init = [...initRootArgs(made, "Control Keys Root"), "--key", "ECDSA"];
        const cleared = await ceremonyOnTerminal(
            [
                ["Passphrase of the root key: ", `a mistyped start\u0015${PASSPHRASE}`],
                ["The same passphrase again: ", PASSPHRASE],
            ],
            ...init,
        );
        assert.strictEqual(cleared.status, 0, cleared.transcript);
        // The key opens with the passphrase typed after Ctrl-U, as openssl's own prompt reads it.
        assert.strictEqual(
            openssl(["pkey", "-in", path.join(made, "root.key"), "-passin", `pass:${PASSPHRASE}`, "-noout"]).status,
            0,
        );
        const refusedKeys: [string, string][] = [
            ["\u0017", "Ctrl-W"],
            ["\u001a", "Ctrl-Z"],
            ["\u001b[A", "ESC (an arrow or function key)"],
        ];
        for (const [key, name] of refusedKeys) {
            const other = path.join(dir, "control-keys-refused");
            const run = await ceremonyOnTerminal(
                [["Passphrase of the root key: ", `${PASSPHRASE}${key}`]],
                ...initRootArgs(other, "Control Keys Refused"),
                ...["--key", "ECDSA"],
            );
            assert.strictEqual(run.status, 1, run.transcript);
            assert.ok(
                run.transcript.includes(
                    `error: ${name} at the passphrase prompt: it takes only the passphrase, Backspace, Ctrl-U (clear) and Enter; nothing was signed or written: run the command again`,
                ),
                run.transcript,
            );
            assert.ok(!fs.existsSync(other), "nothing was written");
        }
    });

    it("refuses the rehearsals' passphrase variable on a terminal before anything is shown or asked, init-root and --yes included; a scripted rehearsal without a terminal takes it", async () => {
        const made = path.join(dir, "variable-root");
        const refusal =
            "error: APIC_ISTIO_PKI_ROOT_PASSPHRASE is set, but the ceremony runs on a terminal, where people type the passphrase; nothing was read or written: " +
            "unset it and run the command again (the variable is for scripted rehearsals alone)";
        const logBefore = logOf(root);
        for (const argv of [
            [...initRootArgs(made, "Variable Root"), "--key", "ECDSA"],
            ["sign", "--root", root, "--csr", csr, "--out", path.join(dir, "variable.crt"), "--yes"],
        ]) {
            const run = await ceremonyOnTerminalWithVariable(PASSPHRASE, [], ...argv);
            assert.strictEqual(run.status, 1, run.transcript);
            assert.strictEqual(run.transcript.replace(/\r\n/g, "\n"), `${refusal}\n`);
        }
        assert.ok(!fs.existsSync(made) && !fs.existsSync(path.join(dir, "variable.crt")), "nothing was written");
        assert.strictEqual(logOf(root), logBefore, "nothing was logged");
        // Asking for help is not a ceremony.
        const help = await ceremonyOnTerminalWithVariable(PASSPHRASE, [], "init-root", "--help");
        assert.strictEqual(help.status, 0, help.transcript);
        const piped = ceremonyPiped(PASSPHRASE, "", ...initRootArgs(path.join(dir, "variable-piped"), "Piped Root"));
        assert.strictEqual(piped.status, 0, piped.err);
    });

    it("refuses --yes on a terminal before anything is shown or asked, in sign and crl: a real ceremony's people read the review and type the confirmation", async () => {
        const refusal =
            "error: --yes is given, but the ceremony runs on a terminal, where people read the review and type the confirmation; nothing was read or written: " +
            "run the command again without --yes (it is for scripted rehearsals alone)";
        const logBefore = logOf(root);
        const certificate = path.join(dir, "yes-on-terminal.crt");
        const series = path.join(dir, "yes-on-terminal.pem");
        for (const argv of [
            ["sign", "--root", root, "--csr", csr, "--out", certificate, "--yes"],
            ["crl", "--root", root, "--period-days", "7", "--periods", "1", "--out", series, "--yes"],
        ]) {
            const run = await ceremonyOnTerminal([], ...argv);
            assert.strictEqual(run.status, 1, run.transcript);
            assert.strictEqual(run.transcript.replace(/\r\n/g, "\n"), `${refusal}\n`);
        }
        assert.ok(!fs.existsSync(certificate) && !fs.existsSync(series), "nothing was written");
        assert.strictEqual(logOf(root), logBefore, "nothing was logged");
    });

    it("takes a passphrase character whose UTF-8 bytes arrive in two reads whole, as a serial console or a slow link delivers them, and refuses bytes that are no UTF-8 (a Latin-1 terminal) rather than taking them as U+FFFD", async () => {
        const made = path.join(dir, "split-utf8-root");
        const passphrase = `${PASSPHRASE} é`;
        const bytes = Buffer.from(passphrase, "utf8");
        // The two bytes of "é" (C3 A9) in reads of their own.
        const parts = [bytes.subarray(0, bytes.length - 1), bytes.subarray(bytes.length - 1)];
        const run = await ceremonyOnTerminal(
            [
                ["Passphrase of the root key: ", parts],
                ["The same passphrase again: ", parts],
            ],
            ...initRootArgs(made, "Split Root"),
            ...["--key", "ECDSA"],
        );
        assert.strictEqual(run.status, 0, run.transcript);
        assert.strictEqual(
            openssl(["pkey", "-in", path.join(made, "root.key"), "-passin", `pass:${passphrase}`, "-noout"]).status,
            0,
        );
        // A terminal set to Latin-1 sends "é" as the one byte E9, no UTF-8: refused, not taken as U+FFFD.
        const latin1 = path.join(dir, "latin1-root");
        const refused = await ceremonyOnTerminal(
            [["Passphrase of the root key: ", [Buffer.from(PASSPHRASE), Buffer.from([0x20, 0xe9])]]],
            ...initRootArgs(latin1, "Latin1 Root"),
            ...["--key", "ECDSA"],
        );
        assert.strictEqual(refused.status, 1, refused.transcript);
        assert.ok(
            refused.transcript.includes(
                "error: the terminal sent bytes that are not UTF-8 at the passphrase prompt (is it set to another encoding, such as Latin-1?); nothing was signed or written: set it to UTF-8 and run the command again",
            ),
            refused.transcript,
        );
        assert.ok(!fs.existsSync(latin1), "nothing was written");
    });

    it("gives the terminal its echo back when a signal ends it at the passphrase prompt (SIGTERM, SIGHUP; SIGQUIT, Ctrl-\\, ends it as SIGINT, never dumping core)", async () => {
        // Each signal and the number of the one that ends the process.
        const signals = [
            ["SIGTERM", 15],
            ["SIGHUP", 1],
            ["SIGQUIT", 2],
        ] as const;
        const outOf = (signal: string) => path.join(dir, `signalled-${signal}`);
        // Side by side, each on its own terminal.
        const runs = await Promise.all(
            signals.map(([signal]) =>
                ceremonyKilledAtPrompt(signal, ...initRootArgs(outOf(signal), "Signalled Root"), "--key", "ECDSA"),
            ),
        );
        for (const [i, [signal, number]] of signals.entries()) {
            const run = runs[i];
            const out = outOf(signal);
            assert.strictEqual(run.ended, 128 + number, `${signal}: ended by signal ${number}:\n${run.transcript}`);
            assert.deepStrictEqual(
                ["echo", "icanon"].filter((setting) => !run.settings.includes(setting)),
                [],
                `${signal}: the terminal echoes and reads lines again:\n${run.transcript}`,
            );
            assert.ok(!fs.existsSync(out), "nothing was written");
        }
    });

    it("refuses to start a command that takes the passphrase while the process may dump core (a non-zero soft core file size limit), naming the limit and ulimit -c 0", async () => {
        const made = path.join(dir, "core-root");
        const series = path.join(dir, "core.pem");
        const logBefore = logOf(root);
        for (const argv of [
            [...initRootArgs(made, "Core Root"), "--key", "ECDSA"],
            ["sign", "--root", root, "--csr", csr, "--out", path.join(dir, "core.crt"), "--yes"],
            ["crl", "--root", root, "--period-days", "7", "--periods", "1", "--out", series, "--yes"],
        ]) {
            const run = ceremonyWithCoreLimit("1024", PASSPHRASE, ...argv);
            assert.match(run.limit, /^[1-9][0-9]*$/);
            assert.deepStrictEqual(
                [argv[0], run.status, run.out, run.err],
                [
                    argv[0],
                    1,
                    "",
                    `error: this process may write a core file (its soft limit "Max core file size" in /proc/self/limits is ${run.limit} bytes), ` +
                        `which would hold the root key's passphrase and key should it crash or be sent Ctrl-\\; nothing was read or written: ` +
                        `run "ulimit -c 0" in the ceremony's shell, then the command again\n`,
                ],
            );
        }
        assert.ok(!fs.existsSync(made) && !fs.existsSync(series), "nothing was written");
        assert.strictEqual(logOf(root), logBefore, "nothing was logged");
        // With the limit at 0, as "ulimit -c 0" sets it, the same command runs.
        const run = ceremonyWithCoreLimit("0", PASSPHRASE, ...initRootArgs(made, "Core Root"), "--key", "ECDSA");
        assert.deepStrictEqual([run.limit, run.status, run.err], ["0", 0, ""]);
    });

    it("refuses a wrong passphrase or a key that is not the root certificate's with one clear line and no stack trace, and signs nothing", async () => {
        const logBefore = fs.readFileSync(path.join(root, "issuance.log"), "utf8");
        const wrong = await ceremony("not the passphrase at all", "sign", "--root", root, "--csr", csr, "--yes");
        assert.strictEqual(wrong.status, 1);
        assert.strictEqual(
            wrong.err,
            `error: the passphrase does not open ${path.join(root, "root.key")}: wrong passphrase, or the file was altered\n`,
        );
        assert.ok(!fs.existsSync(path.join(dir, "apic-client-ca.crt")));
        assert.strictEqual(fs.readFileSync(path.join(root, "issuance.log"), "utf8"), logBefore);
        const confirmed = `${opensslSpkiSha256(fs.readFileSync(csr, "utf8"), "csr").slice(0, 32)}\n`;
        const unset = ceremonyPiped(undefined, confirmed, "sign", "--root", root, "--csr", csr);
        assert.strictEqual(
            unset.err.split("\n").slice(-2).join("\n"),
            "error: no terminal to ask the root key's passphrase on; run the ceremony on a terminal, or set APIC_ISTIO_PKI_ROOT_PASSPHRASE for a scripted rehearsal\n",
        );
        // A folder whose root.crt was swapped for another root's: its key opens, but signs for nothing.
        const swapped = path.join(dir, "swapped-root");
        const init = [...initRootArgs(swapped, "Swapped"), "--key", "ECDSA"];
        assert.strictEqual((await ceremony(PASSPHRASE, ...init)).status, 0);
        fs.copyFileSync(path.join(root, "root.crt"), path.join(swapped, "root.crt"));
        fs.copyFileSync(path.join(root, ISSUANCE_LOG), path.join(swapped, ISSUANCE_LOG)); // the certificate's own log
        const mismatch = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            swapped,
            "--csr",
            csr,
            "--out",
            path.join(dir, "swapped.crt"),
            "--yes",
        );
        assert.strictEqual(
            mismatch.err,
            `error: ${path.join(swapped, "root.key")} is not the key of ${path.join(swapped, "root.crt")}; restore whichever was replaced: root.crt from the ceremony's archive, ` +
                `or root.key from the ceremony medium's backup (the write-once archive holds root.crt and issuance.log, never the key: README, "After each ceremony")\n`,
        );
        assert.ok(!fs.existsSync(path.join(dir, "swapped.crt")));
    });

    it("opens root.key only as one ENCRYPTED PRIVATE KEY block and nothing else: a plain key put before that BEGIN line does not open with any passphrase", async () => {
        const crafted = path.join(dir, "crafted-key-root");
        assert.strictEqual(
            (await ceremony(PASSPHRASE, ...initRootArgs(crafted, "Crafted"), "--key", "ECDSA")).status,
            0,
        );
        const keyFile = path.join(crafted, ROOT_KEY);
        const plain = openssl(["pkey", "-in", keyFile, "-passin", `pass:${PASSPHRASE}`]).output;
        assert.match(plain, /^-----BEGIN PRIVATE KEY-----\n/);
        fs.writeFileSync(keyFile, `${plain}-----BEGIN ENCRYPTED PRIVATE KEY-----\n`);
        const logBefore = logOf(crafted);
        const target = path.join(dir, "crafted.crt");
        const signed = await ceremony(
            "any passphrase at all",
            "sign",
            "--root",
            crafted,
            "--csr",
            csr,
            "--out",
            target,
            "--yes",
        );
        assert.deepStrictEqual(
            [signed.status, signed.err],
            [
                1,
                `error: ${keyFile} must hold one encrypted key (one ENCRYPTED PRIVATE KEY PEM block) and nothing else, but it holds 2 PEM blocks (PRIVATE KEY, then ENCRYPTED PRIVATE KEY): ` +
                    `the file was altered; restore it from the ceremony medium's backup\n`,
            ],
        );
        assert.ok(!fs.existsSync(target), "nothing was signed");
        assert.strictEqual(logOf(crafted), logBefore, "nothing was logged");

        // Cut short (a damaged medium): refused before the review is shown or anything asked.
        fs.writeFileSync(keyFile, fs.readFileSync(path.join(root, ROOT_KEY)).subarray(0, 100));
        const cut = ceremonyPiped(PASSPHRASE, "", "sign", "--root", crafted, "--csr", csr, "--out", target);
        assert.deepStrictEqual(
            [cut.status, cut.out, cut.err],
            [
                1,
                "",
                `error: ${keyFile} must hold one encrypted key (one ENCRYPTED PRIVATE KEY PEM block) and nothing else, but its ENCRYPTED PRIVATE KEY block has no END line: ` +
                    `the file was altered; restore it from the ceremony medium's backup\n`,
            ],
        );
        assert.ok(!fs.existsSync(target), "nothing was signed");
    });

    it("warns, before the review and questions, of a root.key re-encrypted more weakly than init-root does (OpenSSL's 2048 iterations, -v1 PBE-SHA1-3DES), with the command that re-encrypts it, and still signs with it", async () => {
        const weak = path.join(dir, "weak-key-root");
        assert.strictEqual((await ceremony(PASSPHRASE, ...initRootArgs(weak, "Weak Key"), "--key", "ECDSA")).status, 0);
        const keyFile = path.join(weak, ROOT_KEY);
        const fresh = `${keyFile}.new`;
        const crlArgs = (out: string): string[] => [
            "crl",
            "--root",
            weak,
            "--period-days",
            "7",
            "--periods",
            "1",
            "--out",
            out,
        ];
        // init-root's own key: no warning.
        const own = ceremonyPiped(PASSPHRASE, "", ...crlArgs(path.join(dir, "weak-own.pem")), "--yes");
        assert.deepStrictEqual([own.status, own.err], [0, ""]);
        const fix =
            `Re-encrypt it as init-root does, the plain key only in a pipe: (umask 077 && openssl pkey -in ${keyFile} | openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 600000 -out ${fresh}) ` +
            `asks its passphrase, then the new one twice; check that openssl pkey -in ${fresh} -noout opens it, then mv ${fresh} ${keyFile}, and replace the backup's copy likewise`;
        const warning = (encryption: string): string =>
            `warning: ${keyFile} is encrypted with ${encryption}, weaker than init-root encrypts it (PBKDF2-HMAC-SHA256, 600000 iterations, AES-256-CBC): ` +
            (encryption.endsWith("AES-128-CBC")
                ? "a stolen copy is no cheaper to guess the passphrase of, but its cipher is not the one init-root uses and vouches for. "
                : "a stolen copy is that much cheaper to guess the passphrase of. ") +
            `${fix}\n`;
        const plain = openssl(["pkey", "-in", keyFile, "-passin", `pass:${PASSPHRASE}`]).output;
        const reencrypt = (...options: string[]): void => {
            const written = execFileSync("openssl", ["pkcs8", "-topk8", ...options, "-passout", `pass:${PASSPHRASE}`], {
                input: plain,
                encoding: "utf8",
            });
            fs.writeFileSync(keyFile, written, { mode: 0o600 });
        };
        for (const [options, encryption] of [
            [["-v2", "aes-256-cbc"], "PBKDF2-HMAC-SHA256, 2048 iterations, AES-256-CBC"],
            [
                ["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1", "-iter", "600000"],
                "PBKDF2-HMAC-SHA1, 600000 iterations, AES-256-CBC",
            ],
            [["-v1", "PBE-SHA1-3DES"], "PBE-SHA1-3DES, 2048 iterations"],
            // Only the cipher differs: the passphrase search costs as much, which the warning says.
            [
                ["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA256", "-iter", "600000"],
                "PBKDF2-HMAC-SHA256, 600000 iterations, AES-128-CBC",
            ],
        ] as const) {
            reencrypt(...options);
            // Shown first: before the review (standard output) and the question (standard error).
            const series = path.join(dir, `weak-${options.join("")}.pem`);
            const crl = spawnSync(
                "sh",
                [
                    "-c",
                    'exec "$@" 2>&1',
                    "sh",
                    process.execPath,
                    path.join(ROOT, "dist", "lib", "cli", "main.js"),
                    "ceremony",
                    ...crlArgs(series),
                ],
                {
                    input: "yes\n",
                    env: { ...process.env, [ROOT_PASSPHRASE_VARIABLE]: PASSPHRASE },
                    encoding: "utf8",
                },
            );
            assert.strictEqual(crl.status, 0, crl.stdout);
            assert.ok(crl.stdout.startsWith(`${warning(encryption)}CRL series of `), crl.stdout);
            assert.ok(fs.existsSync(series), "the CRL was signed");
            const target = path.join(dir, `weak-${options.join("")}.crt`);
            // A key of its own for each: a root certifies a key once.
            const request = opensslCsr(dir, `weak-${options.join("")}`, P256, STACK_SUBJECT);
            const signed = ceremonyPiped(
                PASSPHRASE,
                "",
                "sign",
                "--root",
                weak,
                "--csr",
                request,
                "--out",
                target,
                "--yes",
            );
            assert.deepStrictEqual([signed.status, signed.err], [0, warning(encryption)]);
            assert.ok(fs.existsSync(target), "the certificate was signed");
        }
        // The command the warning names (its passphrases given here as options, not asked): as init-root encrypts, and no warning after.
        const newPassphrase = "another test-only passphrase, six words";
        const printed = /in a pipe: (\(.*\)) asks/.exec(fix)?.[1] ?? "";
        // The README's first step to change the passphrase is that command, in the root folder.
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const steps = readme
            .slice(readme.indexOf("**Changing the root key's passphrase**"))
            .match(/```sh\n([\s\S]*?)```/);
        assert.strictEqual(steps?.[1].split("\n")[0], printed.split(keyFile).join(ROOT_KEY));
        const command = printed
            .replace("openssl pkey -in", "openssl pkey -passin env:OLD -in")
            .replace("openssl pkcs8", "openssl pkcs8 -passout env:NEW");
        execFileSync("sh", ["-c", command], { env: { ...process.env, OLD: PASSPHRASE, NEW: newPassphrase } });
        assert.strictEqual(modeOf(fresh), 0o600);
        fs.renameSync(fresh, keyFile);
        const structure = openssl(["asn1parse", "-in", keyFile]).output;
        for (const part of [":PBES2", ":PBKDF2", ":hmacWithSHA256", ":aes-256-cbc"]) {
            assert.ok(structure.includes(part), `openssl asn1parse shows ${part}:\n${structure}`);
        }
        assert.match(structure, /:PBKDF2\n.*\n.*OCTET STRING +\[HEX DUMP\]:[0-9A-F]+\n.*INTEGER +:0927C0\n/, structure);
        const after = ceremonyPiped(newPassphrase, "", ...crlArgs(path.join(dir, "weak-fixed.pem")), "--yes");
        assert.deepStrictEqual([after.status, after.err], [0, ""]);
        // A block that is no EncryptedPrivateKeyInfo (how it is encrypted cannot be read): refused before anything is shown.
        fs.writeFileSync(keyFile, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        const damaged = ceremonyPiped(newPassphrase, "", ...crlArgs(path.join(dir, "weak-damaged.pem")), "--yes");
        assert.deepStrictEqual(
            [damaged.status, damaged.out, damaged.err],
            [
                1,
                "",
                `error: ${keyFile} must hold one encrypted key, but its ENCRYPTED PRIVATE KEY block is no encrypted PKCS#8 key: the file was altered; restore it from the ceremony medium's backup\n`,
            ],
        );
    });

    it("shows each CSR (subject, key, SPKI SHA-256, validity, the CA it becomes) and signs nothing unless the confirmation is typed", async () => {
        const csrPem = fs.readFileSync(csr, "utf8");
        const spki = opensslSpkiSha256(csrPem, "csr");
        const target = path.join(dir, "confirmed.crt");
        const args = ["sign", "--root", root, "--csr", csr, "--days", "730", "--out", target];
        // Eight characters (32 bits) once signed: a key whose SPKI begins alike is a search of hours.
        const refused = ceremonyPiped(PASSPHRASE, `${spki.slice(0, 8)}\n`, ...args);
        assert.strictEqual(refused.status, 1);
        assert.match(
            refused.out,
            new RegExp(
                `^issuance\\.log  \\d+ records?, SHA-256 [0-9a-f]{64} \\(compare it with the SHA-256 the change request recorded after the last ceremony\\)\\n` +
                    `CSR ${csr}\\n  subject       O=Example Bank, CN=example APIC client CA\\n  key           ECDSA P-256\\n  SPKI SHA-256  ${spki}\\n` +
                    "  validity      730 days, \\S+Z to \\S+Z\\n" +
                    "  certificate   a CA: basicConstraints CA:TRUE pathlen 0 and keyUsage keyCertSign \\+ cRLSign \\(both critical\\), subject and authority key ids\\n" +
                    "  issuer        O=Example Bank, OU=apic-istio-pki example apic-client, CN=Example Bank APIC Client Root\\n$",
            ),
        );
        assert.strictEqual(
            refused.err,
            `Sign apic-client-ca.csr? Type the first 32 characters of the SPKI SHA-256 the change request records for it: \n` +
                `error: ${csr} not signed: the answer is not the first 32 characters (or more) of its SPKI SHA-256, so its key may not be the one the change request records (a CSR can carry any key under a CA's name); nothing was signed or written\n`,
        );
        assert.ok(!fs.existsSync(target), "nothing was written");
        // More than 32 characters checks more: one wrong character after the 32nd is refused.
        const wrongTail = `${spki.slice(0, 32)}${spki[32] === "0" ? "1" : "0"}\n`;
        const overlong = ceremonyPiped(PASSPHRASE, wrongTail, ...args);
        assert.strictEqual(overlong.status, 1);
        assert.match(
            overlong.err,
            /not signed: the answer is not the first 32 characters \(or more\) of its SPKI SHA-256/,
        );
        assert.ok(!fs.existsSync(target), "nothing was written");
        const noAnswer = ceremonyPiped(PASSPHRASE, "", ...args);
        assert.strictEqual(noAnswer.status, 1);
        assert.match(noAnswer.err, /error: no answer \(standard input ended\); nothing was signed or written/);
    });

    it("signs on a terminal once the SPKI prefix and the passphrase are typed: a pathlen-0 CA for the CSR's key, never showing the passphrase", async () => {
        const spki = opensslSpkiSha256(fs.readFileSync(csr, "utf8"), "csr");
        const target = path.join(dir, "terminal.crt");
        const run = await ceremonyOnTerminal(
            [
                // As a change request may print it, all 64 characters grouped: case, spaces and colons do not matter.
                ["records for it: ", (spki.toUpperCase().match(/..../g) ?? []).join(" ")],
                ["Passphrase of the root key: ", PASSPHRASE],
            ],
            ...["sign", "--root", root, "--csr", csr, "--out", target],
            ...["--log-sha256", sha256sum(path.join(root, ISSUANCE_LOG))],
        );
        assert.strictEqual(run.status, 0, run.transcript);
        assert.ok(!run.transcript.includes(PASSPHRASE), run.transcript);
        assert.match(run.transcript, new RegExp(`signed ${csr}: serial [0-9A-F]+ -> ${target}`));
        const cert = fs.readFileSync(target, "utf8");
        assert.match(opensslText(cert), /Certificate Sign, CRL Sign\n[\s\S]*CA:TRUE, pathlen:0\n/);
        assert.strictEqual(opensslSpkiSha256(cert, "cert"), spki);
        const verified = openssl(["verify", "-x509_strict", "-CAfile", path.join(root, "root.crt"), target]);
        assert.strictEqual(verified.status, 0, verified.output);
    });

    it("refuses what a CA must not come from: weak or Ed25519 keys, the root's subject, extension requests, a challengePassword, another environment, an invented name, a tampered CSR", async () => {
        const cases: [string, string, string][] = [
            [
                "RSA-1024",
                opensslCsr(dir, "rsa1024", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], STACK_SUBJECT),
                "the CSR's key is RSA 1024; a CA key must be RSA 3072+ or ECDSA P-256, P-384 or P-521 (the policy pack's ca-key-strength rule): make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)",
            ],
            [
                "an RSA-2048 request from nowhere",
                opensslCsr(
                    dir,
                    "not-a-bank",
                    ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                    "/CN=anything at all/O=Not a bank",
                ),
                "the CSR's key is RSA 2048; a CA key must be RSA 3072+ or ECDSA P-256, P-384 or P-521 (the policy pack's ca-key-strength rule): make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)",
            ],
            [
                "Ed25519",
                opensslCsr(dir, "ed25519", ["-algorithm", "ED25519"], STACK_SUBJECT),
                "the CSR's key is Ed25519; a CA key must be RSA 3072+ or ECDSA P-256, P-384 or P-521 (the policy pack's ca-key-strength rule): make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)",
            ],
            [
                "the root's own subject",
                opensslCsr(
                    dir,
                    "root-subject",
                    P256,
                    "/O=Example Bank/OU=apic-istio-pki example apic-client/CN=Example Bank APIC Client Root",
                ),
                `the CSR's subject "O=Example Bank, OU=apic-istio-pki example apic-client, CN=Example Bank APIC Client Root" is the root's own subject; a CA below the root needs a name of its own (chains would confuse the two)`,
            ],
            [
                "a SAN extension request",
                opensslCsr(dir, "san", P256, STACK_SUBJECT, ["-addext", "subjectAltName=DNS:evil.example"]),
                "the CSR carries an extension request for subjectAltName, which a CA certificate of this ceremony never carries (it writes only CA:TRUE pathlen 0, keyCertSign + cRLSign and key ids); sign only the CSR the stack exported",
            ],
            [
                "a challengePassword",
                opensslCsr(dir, "challenge", P256, undefined, [
                    "-config",
                    writeTemp(
                        dir,
                        "challenge.cnf",
                        "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n" +
                            "[dn]\nO = Example Bank\nCN = example APIC client CA\n[attrs]\nchallengePassword = not-a-secret\n",
                    ),
                ]),
                "the CSR carries challengePassword, which a CA certificate of this ceremony never carries (it writes only CA:TRUE pathlen 0, keyCertSign + cRLSign and key ids); sign only the CSR the stack exported",
            ],
            [
                "another environment's CA",
                opensslCsr(dir, "sit", P256, "/O=Example Bank/CN=sit APIC client CA"),
                `the CSR's common name "sit APIC client CA" is not a CA of environment "example", the environment this root was made for (its subject has OU=apic-istio-pki example apic-client): this root signs "example APIC client CA", with " G<n>" after a rotation; sign another environment's CSR with that environment's own root`,
            ],
            [
                "an invented name",
                opensslCsr(dir, "invented", P256, "/CN=example payments signing CA"),
                `the CSR's common name "example payments signing CA" is not a CA of environment "example", the environment this root was made for (its subject has OU=apic-istio-pki example apic-client): this root signs "example APIC client CA", with " G<n>" after a rotation; sign another environment's CSR with that environment's own root`,
            ],
        ];
        // Flip one character of the signature (the last base64 line): the ceremony must refuse it.
        const lines = fs.readFileSync(csr, "utf8").split("\n");
        const last = lines.length - 3;
        lines[last] = (lines[last][0] === "A" ? "B" : "A") + lines[last].slice(1);
        cases.push([
            "a tampered CSR",
            writeTemp(dir, "tampered.csr", lines.join("\n")),
            "the CSR's signature does not verify: it was altered or not made with its key",
        ]);
        const logBefore = fs.readFileSync(path.join(root, "issuance.log"), "utf8");
        for (const [label, file, message] of cases) {
            const result = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", file, "--yes");
            assert.deepStrictEqual([label, result.status, result.err], [label, 1, `error: ${file}: ${message}\n`]);
            assert.ok(!fs.existsSync(file.replace(/\.csr$/, ".crt")), `${label}: nothing written`);
        }
        assert.strictEqual(fs.readFileSync(path.join(root, "issuance.log"), "utf8"), logBefore, "nothing logged");
    });

    it("refuses an RSA key no generator makes, whatever its size: exponent 1 (whose signatures anyone can make), 3, an even modulus", async () => {
        const exponentOne = handMadeRsaCsr(dir, "exponent-1", randomModulus(true), 1);
        // OpenSSL takes its signature for the key's own: as a CA, its certificates would be anyone's to make.
        assert.strictEqual(openssl(["req", "-verify", "-noout", "-in", exponentOne]).status, 0);
        const exponent =
            `a CA's RSA key must have exponent 65537, what every tool here makes (the stack, openssl genpkey, Node, Go), and one of exponent 1 lets anyone sign as the CA: ` +
            "make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)";
        const cases: [string, string][] = [
            [exponentOne, `the CSR's key is RSA 4096 with public exponent 1; ${exponent}`],
            [
                opensslCsr(
                    dir,
                    "exponent-3",
                    ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-pkeyopt", "rsa_keygen_pubexp:3"],
                    STACK_SUBJECT,
                ),
                `the CSR's key is RSA 3072 with public exponent 3; ${exponent}`,
            ],
            [
                handMadeRsaCsr(dir, "even-modulus", randomModulus(false), 65537),
                "the CSR's key is RSA 4096 with an even modulus, which no RSA key generator makes (it is the product of two odd primes): " +
                    "make the CA's key with pki:caKeyAlgorithm RSA (4096) or ECDSA (P-384)",
            ],
        ];
        const logBefore = logOf(root);
        for (const [file, message] of cases) {
            const result = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", file, "--yes");
            assert.deepStrictEqual([result.status, result.err], [1, `error: ${file}: ${message}\n`]);
            assert.ok(!fs.existsSync(file.replace(/\.csr$/, ".crt")), `${file}: nothing written`);
        }
        assert.strictEqual(logOf(root), logBefore, "nothing logged");
    });

    it("writes only new files, never through a link, into folders no one else may open", async () => {
        const nowhere = path.join(dir, "nowhere", "planted.crt");
        const link = path.join(dir, "dangling.crt");
        fs.symlinkSync(nowhere, link);
        // A key the root has not certified yet, so that only the file is refused.
        const fresh = opensslCsr(dir, "new-files", P256, STACK_SUBJECT);
        const throughLink = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", fresh, "--out", link, "--yes");
        assert.strictEqual(throughLink.status, 1);
        assert.strictEqual(
            throughLink.err,
            `error: --out ${link} is a symbolic link; the ceremony never writes through a link: remove it or choose another file\n`,
        );
        assert.ok(!fs.existsSync(path.dirname(nowhere)));
        const existing = writeTemp(dir, "existing.crt", "keep me\n");
        const replace = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", fresh, "--out", existing, "--yes");
        assert.strictEqual(
            replace.err,
            `error: --out ${existing} exists; the ceremony never replaces a file: move it away or choose another file\n`,
        );
        assert.strictEqual(fs.readFileSync(existing, "utf8"), "keep me\n");

        const again = await ceremony(PASSPHRASE, ...initRootArgs(root, "R"));
        assert.strictEqual(
            again.err,
            `error: --out ${root} already holds a root key (root.key); init-root never replaces one: choose a new folder\n`,
        );

        const open = path.join(dir, "open");
        fs.mkdirSync(open);
        fs.chmodSync(open, 0o777);
        const into = await ceremony(PASSPHRASE, ...initRootArgs(open, "R"), "--key", "ECDSA");
        assert.strictEqual(
            into.err,
            `error: --out ${open} has mode 0777: others may read or replace what it holds. The ceremony refuses rather than fixes it, since a chmod would not undo what they may have done: check its content, then run chmod 700 ${open}\n`,
        );
        assert.deepStrictEqual(fs.readdirSync(open), []);
        fs.chmodSync(root, 0o750);
        try {
            const loose = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", csr, "--yes");
            assert.match(loose.err, new RegExp(`^error: --root ${root} has mode 0750: others may read or replace`));
        } finally {
            fs.chmodSync(root, 0o700);
        }
        const rootLink = path.join(dir, "root-link");
        fs.symlinkSync(root, rootLink);
        // Named with a trailing slash or a "." part, a link is followed even by lstat: the same refusal.
        for (const named of [rootLink, `${rootLink}/`, `${rootLink}/.`]) {
            const linked = await ceremony(PASSPHRASE, "sign", "--root", named, "--csr", csr, "--yes");
            assert.strictEqual(
                linked.err,
                `error: --root ${named} is a symbolic link; the ceremony never works through a link: give the real folder\n`,
            );
        }
        const emptyFolder = path.join(dir, "empty-folder");
        fs.mkdirSync(emptyFolder, { mode: 0o700 });
        const emptyLink = path.join(dir, "empty-link");
        fs.symlinkSync(emptyFolder, emptyLink);
        const intoLink = await ceremony(PASSPHRASE, ...initRootArgs(`${emptyLink}/`, "R"), "--key", "ECDSA");
        assert.strictEqual(
            intoLink.err,
            `error: --out ${emptyLink}/ is a symbolic link; the ceremony never works through a link: give the real folder\n`,
        );
        assert.deepStrictEqual(fs.readdirSync(emptyFolder), [], "nothing was written through the link");

        const umask = process.umask(0);
        try {
            const made = path.join(dir, "umask-root");
            const init = await ceremony(PASSPHRASE, ...initRootArgs(made, "R"), "--key", "ECDSA");
            assert.strictEqual(init.status, 0, init.err);
            assert.deepStrictEqual(
                ["", "root.key", "root.crt", "issuance.log"].map((f) => modeOf(path.join(made, f))),
                [0o700, 0o600, 0o644, 0o600],
            );
        } finally {
            process.umask(umask);
        }
    });

    it("keeps the root folder out of git work trees unless --allow-git-work-tree is given for a rehearsal", async () => {
        const repository = path.join(dir, "repository");
        fs.mkdirSync(repository);
        execFileSync("git", ["init", "--quiet", repository]);
        const inside = path.join(repository, "root");
        const args = [...initRootArgs(inside, "R"), "--key", "ECDSA"];
        const refused = await ceremony(PASSPHRASE, ...args);
        assert.strictEqual(refused.status, 1);
        assert.strictEqual(
            refused.err,
            `error: --out ${inside} is inside the git work tree ${repository}: a root folder there is one "git add" away from leaving the offline machine; ` +
                `keep it on the ceremony's removable medium (e.g. /media/ceremony/example-client-root), or pass --allow-git-work-tree for a throw-away rehearsal\n`,
        );
        assert.ok(!fs.existsSync(inside));
        // A link from outside into the work tree leads there all the same: its real path is checked.
        const sub = path.join(repository, "sub");
        fs.mkdirSync(sub, { mode: 0o700 });
        const intoRepository = path.join(dir, "into-repository");
        fs.symlinkSync(sub, intoRepository);
        for (const [out, real] of [
            [`${intoRepository}/`, sub],
            [path.join(intoRepository, "root"), path.join(sub, "root")],
        ]) {
            const linked = await ceremony(PASSPHRASE, ...initRootArgs(out, "R"), "--key", "ECDSA");
            assert.deepStrictEqual(
                [linked.status, linked.err],
                [
                    1,
                    `error: --out ${out} is inside the git work tree ${repository} (through a link: it is ${real}): ` +
                        `a root folder there is one "git add" away from leaving the offline machine; ` +
                        `keep it on the ceremony's removable medium (e.g. /media/ceremony/example-client-root), or pass --allow-git-work-tree for a throw-away rehearsal\n`,
                ],
            );
        }
        assert.deepStrictEqual(fs.readdirSync(sub), [], "nothing was written into the work tree");
        assert.strictEqual((await ceremony(PASSPHRASE, ...args, "--allow-git-work-tree")).status, 0);
    });

    it("appends every certificate and CRL it signs to issuance.log, opened append-only and never rewritten", async () => {
        const logRoot = path.join(dir, "log-root");
        const log = path.join(logRoot, "issuance.log");
        await ceremony(PASSPHRASE, ...initRootArgs(logRoot, "Log Root"), "--key", "ECDSA");
        const afterInit = fs.readFileSync(log, "utf8");
        const target = path.join(dir, "logged.crt");
        const sign = await ceremony(PASSPHRASE, "sign", "--root", logRoot, "--csr", csr, "--out", target, "--yes");
        assert.strictEqual(sign.status, 0, sign.err);
        const crl = await ceremony(
            PASSPHRASE,
            "crl",
            "--root",
            logRoot,
            "--period-days",
            "30",
            "--periods",
            "2",
            "--out",
            path.join(dir, "logged.pem"),
            "--yes",
        );
        assert.strictEqual(crl.status, 0, crl.err);
        const text = fs.readFileSync(log, "utf8");
        assert.ok(text.startsWith(afterInit), "earlier records stay as they were");
        assert.strictEqual(modeOf(log), 0o600);
        const records = lines(log).map((line) => JSON.parse(line));
        const serialOf = (file: string): string =>
            execFileSync("openssl", ["x509", "-noout", "-serial", "-in", file], { encoding: "utf8" })
                .trim()
                .replace("serial=", "");
        // Each record names the root that signed it, by serial, but the root's own.
        const rootSerial = serialOf(path.join(logRoot, ROOT_CERT));
        assert.deepStrictEqual(
            records.map((r) => [r.event, r.environment, r.trustDomain, r.rootSerial]),
            [
                ["root", "example", "apic-client", undefined],
                ["certificate", "example", "apic-client", rootSerial],
                ["crl", "example", "apic-client", rootSerial],
                ["crl", "example", "apic-client", rootSerial],
            ],
        );
        const cert = new crypto.X509Certificate(fs.readFileSync(target, "utf8"));
        const { time, ...certificate } = records[1];
        assert.ok(Math.abs(Date.parse(time) - Date.now()) < 60_000);
        assert.deepStrictEqual(certificate, {
            event: "certificate",
            environment: "example",
            trustDomain: "apic-client",
            rootSerial,
            serial: serialOf(target),
            subject: "O=Example Bank, CN=example APIC client CA",
            spkiSha256: opensslSpkiSha256(fs.readFileSync(target, "utf8"), "cert"),
            notBefore: opensslNotBefore(target),
            notAfter: new Date(cert.validTo).toISOString(),
        });
        assert.deepStrictEqual(
            records.slice(2).map((r) => [r.crlNumber, r.issuer, Date.parse(r.nextUpdate) - Date.parse(r.thisUpdate)]),
            [
                [1, "OU=apic-istio-pki example apic-client, CN=Log Root", 60 * 86_400_000],
                [2, "OU=apic-istio-pki example apic-client, CN=Log Root", 60 * 86_400_000],
            ],
        );
        // A log replaced by a link is never written through.
        fs.renameSync(log, `${log}.moved`);
        fs.symlinkSync(`${log}.moved`, log);
        const linked = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            logRoot,
            "--csr",
            csr,
            "--out",
            path.join(dir, "l2.crt"),
            "--yes",
        );
        assert.strictEqual(linked.status, 1);
        assert.strictEqual(
            linked.err,
            `error: ${log} is a symbolic link; the ceremony never reads or writes through a link\n`,
        );
    });

    it("shows the issuance log's record count and SHA-256 (sha256sum's) before its questions and after appending, and refuses with --log-sha256 a log edited since", async () => {
        const hashed = path.join(dir, "hashed-root");
        const logFile = path.join(hashed, ISSUANCE_LOG);
        const sha256sum = (): string => execFileSync("sha256sum", [logFile], { encoding: "utf8" }).split(" ")[0];
        const recordThis = (records: number): string =>
            `${logFile} now has ${records} record${records === 1 ? "" : "s"}, SHA-256 ${sha256sum()}: record this in the change request`;
        const init = await ceremony(PASSPHRASE, ...initRootArgs(hashed, "Hashed Root"), "--key", "ECDSA");
        assert.strictEqual(init.status, 0, init.err);
        assert.strictEqual(init.out.split("\n").at(-2), recordThis(1));
        // sign, given the SHA-256 in capitals: reviewed before the CSR, and the new one after.
        const atInit = sha256sum();
        const signed = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", hashed, "--csr", csr, "--out", path.join(dir, "hashed.crt")],
            ...["--log-sha256", atInit.toUpperCase(), "--yes"],
        );
        assert.strictEqual(signed.status, 0, signed.err);
        assert.strictEqual(
            signed.out.split("\n")[0],
            `issuance.log  1 record, SHA-256 ${atInit} (as --log-sha256 gives)`,
        );
        assert.strictEqual(signed.out.split("\n").at(-2), recordThis(2));
        const { serial, notBefore } = JSON.parse(lines(logFile)[1]) as { serial: string; notBefore: string };
        // Revoked when it was issued: a second before now would be before a notBefore less than a second old.
        const revoke = `${serial}:keyCompromise:${notBefore}`;
        const crlArgs = (out: string) => [
            "crl",
            "--root",
            hashed,
            "--period-days",
            "7",
            "--periods",
            "1",
            "--out",
            path.join(dir, out),
        ];
        const atSign = sha256sum();
        const series = await ceremony(PASSPHRASE, ...crlArgs("hashed-1.pem"), "--revoke", revoke, "--yes");
        assert.strictEqual(series.status, 0, series.err);
        assert.ok(
            series.out.includes(
                `\nissuance.log  2 records, SHA-256 ${atSign} (compare it with the SHA-256 the change request recorded after the last ceremony)\n`,
            ),
            series.out,
        );
        assert.strictEqual(series.out.split("\n").at(-2), recordThis(3));
        // The CRL record's revocation emptied in place: without the check, the next series would drop it.
        const recorded = sha256sum();
        const edited = lines(logFile).map((line) => {
            const record = JSON.parse(line) as { event: string; revoked?: unknown[] };
            return JSON.stringify(record.event === "crl" ? { ...record, revoked: [] } : record);
        });
        fs.writeFileSync(logFile, `${edited.join("\n")}\n`);
        const changed = sha256sum();
        assert.notStrictEqual(changed, recorded);
        const refusal =
            `error: ${logFile} has SHA-256 ${changed} (3 records), not ${recorded} as --log-sha256 gives (the change request's): ` +
            `the log changed since the last ceremony; do not sign: compare it with its copies on the write-once archive to find what changed, and put the archived one back\n`;
        for (const args of [
            [...crlArgs("hashed-2.pem"), "--log-sha256", recorded, "--yes"],
            [
                "sign",
                "--root",
                hashed,
                "--csr",
                csr,
                "--out",
                path.join(dir, "hashed-2.crt"),
                "--log-sha256",
                recorded,
                "--yes",
            ],
        ]) {
            const refused = await ceremony(PASSPHRASE, ...args);
            assert.deepStrictEqual([args[0], refused.status, refused.out, refused.err], [args[0], 1, "", refusal]);
        }
        assert.ok(!fs.existsSync(path.join(dir, "hashed-2.pem")) && !fs.existsSync(path.join(dir, "hashed-2.crt")));
        assert.strictEqual(sha256sum(), changed, "nothing was logged");
        const short = await ceremony(
            PASSPHRASE,
            ...crlArgs("hashed-2.pem"),
            "--log-sha256",
            recorded.slice(0, 32),
            "--yes",
        );
        assert.deepStrictEqual(
            [short.status, short.err.split("\n")[0]],
            [
                2,
                `error: --log-sha256 must be the SHA-256 of issuance.log the change request recorded after the last ceremony, all 64 hex digits (as sha256sum prints it); got "${recorded.slice(0, 32)}"`,
            ],
        );
    });

    it("refuses sign and crl on a terminal without --log-sha256, before anything is read or asked: a log rolled back on the medium (its CRL record cut off) would have crl issue CRL 1 again without the revocation and sign certify the compromised key again", async () => {
        const rolled = await newRoot("rolled-back-root", "apic-client");
        const logFile = path.join(rolled, ISSUANCE_LOG);
        const compromisedCsr = opensslCsr(dir, "rolled-back", P256, STACK_SUBJECT);
        const { serial, issued } = await signedBy(rolled, compromisedCsr, path.join(dir, "rolled-back.crt"));
        const revoked = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", rolled, "--period-days", "7", "--periods", "1", "--from", issued],
            ...["--revoke", `${serial}:keyCompromise:${issued}`, "--out", path.join(dir, "rolled-back-1.pem"), "--yes"],
        );
        assert.strictEqual(revoked.status, 0, revoked.err);
        const recorded = sha256sum(logFile);
        // Rolled back on the medium as `head -2 issuance.log > t && cat t > issuance.log` leaves it:
        // the root's and the certificate's records, the CRL's cut off. Its SHA-256 is the one the
        // change request recorded after the sign, which no one comparing by eye tells from the latest.
        fs.writeFileSync(logFile, `${lines(logFile).slice(0, 2).join("\n")}\n`);
        const rolledBack = logOf(rolled);
        assert.strictEqual(lines(logFile).length, 2);
        const again = writeTemp(dir, "rolled-back-again.csr", fs.readFileSync(compromisedCsr, "utf8"));
        const spki = opensslSpkiSha256(fs.readFileSync(again, "utf8"), "csr");
        const series = path.join(dir, "rolled-back-2.pem");
        const certificate = path.join(dir, "rolled-back-again.crt");
        const commands = [
            {
                argv: ["crl", "--root", rolled, "--period-days", "7", "--periods", "1", "--out", series],
                question: 'Sign this series? Type "yes": ',
                answer: "yes",
                risk: "drop a revocation and reuse a CRL number",
            },
            {
                argv: ["sign", "--root", rolled, "--csr", again, "--out", certificate, "--reissue", serial],
                question: "records for it: ",
                answer: spki,
                risk: "certify a key revoked as compromised",
            },
        ];
        for (const { argv, question, answer, risk } of commands) {
            // The custodians would answer: nothing but the refusal may come before their answers are asked.
            const answers = [[question, answer] as const, ["Passphrase of the root key: ", PASSPHRASE] as const];
            const run = await ceremonyOnTerminal(answers, ...argv);
            assert.deepStrictEqual(
                [argv[0], run.status, run.transcript.replace(/\r\n/g, "\n")],
                [
                    argv[0],
                    2,
                    `error: ${argv[0]} runs on a terminal (a real ceremony) and needs --log-sha256 HEX: the SHA-256 of ${logFile} the change request recorded after the last ceremony ` +
                        `(init-root, sign and crl print it once they have appended to the log: "now has N records, SHA-256 HEX: record this in the change request"); ` +
                        `every check of what may be signed reads that log, and one rolled back on the medium (a CRL record cut off) would have ${argv[0]} ${risk}; nothing was read or written: ` +
                        `run the command again with --log-sha256 and the SHA-256 from the change request, never one sha256sum prints for the log as it is now (only scripted rehearsals, without a terminal, may omit it)\n` +
                        "see apic-istio-pki ceremony --help\n",
                ],
            );
            // With the SHA-256 the change request recorded after the crl, the rolled-back log is refused.
            const pinned = await ceremonyOnTerminal(answers, ...argv, "--log-sha256", recorded);
            assert.deepStrictEqual(
                [argv[0], pinned.status, pinned.transcript.replace(/\r\n/g, "\n")],
                [
                    argv[0],
                    1,
                    `error: ${logFile} has SHA-256 ${sha256sum(logFile)} (2 records), not ${recorded} as --log-sha256 gives (the change request's): ` +
                        "the log changed since the last ceremony; do not sign: compare it with its copies on the write-once archive to find what changed, and put the archived one back\n",
                ],
            );
        }
        assert.ok(!fs.existsSync(series) && !fs.existsSync(certificate), "nothing was written");
        assert.strictEqual(logOf(rolled), rolledBack, "nothing was logged");
    });

    it("refuses a root folder that is, or whose key, certificate or log is, another user's (the fix a copy or a chown, never sudo), has a second hard link, or a loose key mode, before showing or asking anything", async () => {
        const checkedRoot = await newRoot("checked-root", "apic-client");
        const crlArgs = ["crl", "--root", checkedRoot, "--period-days", "7", "--periods", "1"];
        /** A crl on a pipe with no answer: refused at once, or shown its review and then refused for the missing answer. */
        const refusal = (): string => {
            const run = ceremonyPiped(PASSPHRASE, "", ...crlArgs, "--out", path.join(dir, "checked.pem"));
            assert.strictEqual(run.status, 1);
            assert.strictEqual(run.out, "", "nothing is shown before the refusal");
            return run.err;
        };
        for (const name of ["root.key", "root.crt", "issuance.log"]) {
            const file = path.join(checkedRoot, name);
            // Another user's file: whoever owns it may change its mode or content at will.
            fs.chownSync(file, 65534, 65534);
            // The fix is a chown or, for what the ceremony's user reads, a copy in place: never the ceremony run as root or as that user.
            const checks: Record<string, string> = {
                "root.key": `That user may have ${READ_OR_REPLACED_KEY}`,
                "root.crt": "Then check root.crt against the write-once archive's",
                "issuance.log": "Then check issuance.log's SHA-256 against the one the change request records",
            };
            const copy = `rm -f ${file}.copy && (umask 077 && cp ${file} ${file}.copy) && mv ${file}.copy ${file}`;
            // Readable by others too, as a file the ceremony's user may copy is.
            fs.chmodSync(file, name === "root.key" ? 0o600 : 0o644);
            assert.strictEqual(
                refusal(),
                `error: ${file} belongs to another user (uid 65534), not to the ceremony's (uid 0). ` +
                    `Have an administrator of the medium give it to uid 0 (chown 0 ${file}), or put a copy in its place on the medium as uid 0 (${copy}); ` +
                    `never run the ceremony as that user or with sudo to get past this. ${checks[name]}\n`,
            );
            // The copy the refusal gives, under the usual umask, is the user's own and private.
            execFileSync("sh", ["-c", `umask 022; ${copy}`]);
            const copied = fs.statSync(file);
            assert.deepStrictEqual([copied.uid, copied.mode & 0o777], [0, 0o600]);
            // A hard link reaches the file from outside the 0700 folder.
            const outside = path.join(dir, `outside-${name}`);
            fs.linkSync(file, outside);
            assert.strictEqual(
                refusal(),
                `error: ${file} has 2 hard links, so it is reached from outside its folder too; find them (find "$(findmnt -fno TARGET -T ${file})" -xdev -samefile ${file}), check the file, and remove every other link\n`,
            );
            fs.unlinkSync(outside);
        }
        // A key others may read stops the ceremony before the review, not after the confirmation.
        const key = path.join(checkedRoot, "root.key");
        fs.chmodSync(key, 0o640);
        assert.strictEqual(
            refusal(),
            `error: ${key} has mode 0640; only its owner may read or write it: check it, then run chmod 600 ${key}\n`,
        );
        fs.chmodSync(key, 0o600);
        // Another user's folder its group may read, as one the ceremony's user may copy is.
        fs.chownSync(checkedRoot, 65534, 65534);
        fs.chmodSync(checkedRoot, 0o750);
        for (const name of fs.readdirSync(checkedRoot)) fs.chmodSync(path.join(checkedRoot, name), 0o640);
        const copy =
            `rm -rf ${checkedRoot}.copy && (umask 077 && cp -r ${checkedRoot} ${checkedRoot}.copy) && ` +
            `rm -rf ${checkedRoot} && mv ${checkedRoot}.copy ${checkedRoot}`;
        // A copy an earlier attempt left half made: the advice starts afresh instead of copying into it.
        fs.mkdirSync(`${checkedRoot}.copy`);
        fs.writeFileSync(path.join(`${checkedRoot}.copy`, "issuance.log"), "a partial copy\n");
        assert.strictEqual(
            refusal(),
            `error: --root ${checkedRoot} belongs to another user (uid 65534), not to the ceremony's (uid 0). ` +
                `Have an administrator of the medium give it to uid 0 (chown -R 0 ${checkedRoot}), or put a copy in its place on the medium as uid 0 ` +
                `(${copy}); never run the ceremony as that user or with sudo to get past this. ${FOLDER_CHECKS}\n`,
        );
        // Typed with a trailing slash, the folder is named as typed, its commands without it (D/.copy would be inside D).
        const slashed = ceremonyPiped(
            PASSPHRASE,
            "",
            ...["crl", "--root", `${checkedRoot}/`, "--period-days", "7", "--periods", "1"],
            ...["--out", path.join(dir, "checked.pem")],
        );
        assert.strictEqual(
            slashed.err,
            `error: --root ${checkedRoot}/ belongs to another user (uid 65534), not to the ceremony's (uid 0). ` +
                `Have an administrator of the medium give it to uid 0 (chown -R 0 ${checkedRoot}), or put a copy in its place on the medium as uid 0 ` +
                `(${copy}); never run the ceremony as that user or with sudo to get past this. ${FOLDER_CHECKS}\n`,
        );
        // The copy the refusal gives, under the usual umask, is a folder the ceremony takes.
        execFileSync("sh", ["-c", `umask 022; ${copy}`]);
        assert.deepStrictEqual(
            [fs.existsSync(`${checkedRoot}.copy`), fs.existsSync(path.join(checkedRoot, path.basename(checkedRoot)))],
            [false, false],
            "no copy left beside the folder or nested in it",
        );
        const signed = await ceremony(PASSPHRASE, ...crlArgs, "--out", path.join(dir, "checked.pem"), "--yes");
        assert.strictEqual(signed.status, 0, signed.err);
    });

    it("refuses another user's private root.key or 0700 root folder, which the ceremony's user cannot copy, with the administrator's chown alone", async () => {
        const privateRoot = await newRoot("private-root", "apic-client");
        // The ceremony's user is uid 1234 (the tests run as root, who reads everything); its folder is 0700.
        const user = 1234;
        for (const name of fs.readdirSync(privateRoot)) fs.chownSync(path.join(privateRoot, name), user, user);
        fs.chownSync(privateRoot, user, user);
        fs.chmodSync(dir, 0o711);
        const key = path.join(privateRoot, "root.key");
        const refusal = (): string => {
            const args = [
                "crl",
                "--root",
                privateRoot,
                "--period-days",
                "7",
                "--periods",
                "1",
                "--out",
                path.join(dir, "private.pem"),
            ];
            const run = ceremonyPipedAs(user, PASSPHRASE, "", ...args);
            assert.strictEqual(run.out, "", "nothing is shown before the refusal");
            assert.strictEqual(run.status, 1, run.err);
            return run.err;
        };
        try {
            // Another user's key, 0600: uid 1234 cannot read it, so no copy is offered, only the chown.
            fs.chownSync(key, 65534, 65534);
            assert.strictEqual(
                refusal(),
                `error: ${key} belongs to another user (uid 65534), not to the ceremony's (uid ${user}). ` +
                    `Have an administrator of the medium give it to uid ${user} (chown ${user} ${key}); ` +
                    `never run the ceremony as that user or with sudo to get past this. That user may have ${READ_OR_REPLACED_KEY}\n`,
            );
            fs.chownSync(key, user, user);
            // Another user's 0700 folder: uid 1234 cannot even list it.
            fs.chownSync(privateRoot, 65534, 65534);
            assert.strictEqual(
                refusal(),
                `error: --root ${privateRoot} belongs to another user (uid 65534), not to the ceremony's (uid ${user}). ` +
                    `Have an administrator of the medium give it to uid ${user} (chown -R ${user} ${privateRoot}); ` +
                    `never run the ceremony as that user or with sudo to get past this. ${FOLDER_CHECKS}\n`,
            );
        } finally {
            fs.chmodSync(dir, 0o700);
        }
    });

    it("refuses a root folder missing its key, naming the folder, root.key and the medium's backup it comes back from, not the archive that never holds it", async () => {
        const keyless = await newRoot("keyless-root", "apic-client");
        /** A crl of the keyless root on a pipe with no answer. */
        const crlOfKeyless = () =>
            ceremonyPiped(
                PASSPHRASE,
                "",
                "crl",
                "--root",
                keyless,
                "--period-days",
                "7",
                "--periods",
                "1",
                "--out",
                path.join(dir, "keyless.pem"),
            );
        fs.renameSync(path.join(keyless, "root.key"), path.join(dir, "keyless-root.key"));
        const run = crlOfKeyless();
        assert.deepStrictEqual(
            [run.status, run.out, run.err],
            [
                1,
                "",
                `error: ${path.join(keyless, "root.key")} is missing: init-root left the root's key, encrypted, in the root folder ${keyless} as root.key; ` +
                    `copy it back into ${keyless} from the ceremony medium's backup, as the ceremony's user, mode 0600 ` +
                    `(the write-once archive holds root.crt and issuance.log, never the key: README, "After each ceremony")\n`,
            ],
        );
        // root.crt, public, is what the archive gives back.
        fs.renameSync(path.join(dir, "keyless-root.key"), path.join(keyless, "root.key"));
        fs.renameSync(path.join(keyless, "root.crt"), path.join(dir, "keyless-root.crt"));
        const noCert = crlOfKeyless();
        assert.strictEqual(
            noCert.err,
            `error: ${path.join(keyless, "root.crt")} is missing; a root folder holds root.key, root.crt and issuance.log: restore it from the ceremony's archive\n`,
        );
    });

    it("says a --root folder holding none of root.key, root.crt and issuance.log holds no root, rather than asking for its log back", async () => {
        const none = path.join(dir, "no-root");
        fs.mkdirSync(none, { mode: 0o700 });
        const expected = `error: --root ${none} holds no root (none of root.key, root.crt, issuance.log): give the folder init-root made\n`;
        const empty = await ceremony(PASSPHRASE, "sign", "--root", none, "--csr", csr, "--yes");
        assert.deepStrictEqual([empty.status, empty.out, empty.err], [1, "", expected]);
        fs.writeFileSync(path.join(none, "notes.txt"), "not a root\n");
        const other = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", none, "--period-days", "7", "--periods", "1", "--out", path.join(dir, "none.pem")],
            "--yes",
        );
        assert.deepStrictEqual([other.status, other.out, other.err], [1, "", expected]);
    });

    /** A root of `trustDomain` for environment example, made by init-root in DIR/<name> (ECDSA: quick). */
    async function newRoot(name: string, trustDomain: string, ...extra: string[]): Promise<string> {
        const folder = path.join(dir, name);
        const init = await ceremony(
            PASSPHRASE,
            ...["init-root", "--out", folder, "--environment", "example", "--trust-domain", trustDomain],
            ...["--cn", `Example Bank ${name}`, "--org", "Example Bank", "--key", "ECDSA", ...extra],
        );
        assert.strictEqual(init.status, 0, init.err);
        return folder;
    }
    /**
     * `ceremony sign --yes` of `csrFile` by the root folder `folder` into `target` (with `extra`
     * options): the certificate's serial and its notBefore as openssl reads it.
     */
    async function signedBy(
        folder: string,
        csrFile: string,
        target: string,
        ...extra: string[]
    ): Promise<{ serial: string; issued: string }> {
        const signed = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", folder, "--csr", csrFile, "--out", target, ...extra, "--yes"],
        );
        assert.strictEqual(signed.status, 0, signed.err);
        const serial = new crypto.X509Certificate(fs.readFileSync(target, "utf8")).serialNumber;
        return { serial, issued: opensslNotBefore(target) };
    }
    const logOf = (folder: string): string => fs.readFileSync(path.join(folder, "issuance.log"), "utf8");
    /** The SHA-256 of `file`, as sha256sum prints it. */
    const sha256sum = (file: string): string => execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0];
    /** A certificate's notBefore as openssl reads it, in ISO 8601. */
    const opensslNotBefore = (file: string): string =>
        new Date(
            Date.parse(
                execFileSync("openssl", ["x509", "-noout", "-startdate", "-in", file], { encoding: "utf8" })
                    .trim()
                    .replace("notBefore=", ""),
            ),
        ).toISOString();

    it("binds a root to its trust domain in its subject and signs only that domain's CAs (the shared root: all), so a mesh CA's key cannot become a gateway server CA", async () => {
        const made = path.join(dir, "no-domain-root");
        const args = ["init-root", "--out", made, "--environment", "example", "--cn", "R", "--key", "ECDSA"];
        const missing = await ceremony(PASSPHRASE, ...args);
        assert.deepStrictEqual(
            [missing.status, missing.err.split("\n")[0]],
            [
                2,
                "error: init-root needs --out DIR, --environment ENV (the stack's pki:environment), --trust-domain mesh|gateway-server|apic-client|ui-client|shared (the stack's root it becomes) and --cn NAME",
            ],
        );
        // The environment follows the rule of every DNS-label name (LABEL_RULE), said the same way.
        const upper = args.map((a) => (a === "example" ? "Example" : a));
        const badEnvironment = await ceremony(PASSPHRASE, ...upper, "--trust-domain", "apic-client");
        assert.deepStrictEqual(
            [badEnvironment.status, badEnvironment.err.split("\n")[0]],
            [
                2,
                `error: --environment must be the stack's pki:environment: lower-case letters, digits and '-', not starting or ending with '-', at most ${MAX_ENVIRONMENT_LENGTH} characters; got "Example"`,
            ],
        );
        const unknown = await ceremony(PASSPHRASE, ...args, "--trust-domain", "gateway");
        assert.deepStrictEqual(
            [unknown.status, unknown.err.split("\n")[0]],
            [
                2,
                'error: --trust-domain must be one of mesh, gateway-server, apic-client, ui-client, shared; got "gateway"',
            ],
        );
        assert.ok(!fs.existsSync(made), "nothing was written");

        const serverRoot = await newRoot("server-root", "gateway-server");
        assert.match(
            opensslText(fs.readFileSync(path.join(serverRoot, "root.crt"), "utf8")),
            /Subject: O = Example Bank, OU = apic-istio-pki example gateway-server, CN = Example Bank server-root\n/,
        );
        // The mesh CA's key is in every cluster's cacerts: whoever can read those secrets can make this CSR.
        const meshCsr = opensslCsr(dir, "mesh-ca-east", P256, "/O=Example Bank/CN=example mesh CA east");
        const serverCsr = opensslCsr(dir, "gateway-server-ca", P256, "/O=Example Bank/CN=example gateway server CA");
        const logBefore = logOf(serverRoot);
        const refused = await ceremony(PASSPHRASE, "sign", "--root", serverRoot, "--csr", meshCsr, "--yes");
        assert.deepStrictEqual(
            [refused.status, refused.err],
            [
                1,
                `error: ${meshCsr}: the CSR's common name "example mesh CA east" is a CA of trust domain mesh, not of gateway-server, the trust domain this root was made for ` +
                    `(its subject has OU=apic-istio-pki example gateway-server): this root signs "example gateway server CA", with " G<n>" after a rotation; ` +
                    "sign it with the root of example made with --trust-domain mesh (or shared, under pki:trustDomains shared)\n",
            ],
        );
        assert.ok(!fs.existsSync(path.join(dir, "mesh-ca-east.crt")), "nothing was written");
        assert.strictEqual(logOf(serverRoot), logBefore, "nothing was logged");
        // Nor does the APIC client root sign the gateway server CA.
        const crossed = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", serverCsr, "--yes");
        assert.strictEqual(
            crossed.err,
            `error: ${serverCsr}: the CSR's common name "example gateway server CA" is a CA of trust domain gateway-server, not of apic-client, the trust domain this root was made for ` +
                `(its subject has OU=apic-istio-pki example apic-client): this root signs "example APIC client CA", with " G<n>" after a rotation; ` +
                "sign it with the root of example made with --trust-domain gateway-server (or shared, under pki:trustDomains shared)\n",
        );
        const signed = await ceremony(PASSPHRASE, "sign", "--root", serverRoot, "--csr", serverCsr, "--yes");
        assert.strictEqual(signed.status, 0, signed.err);
        const serverCa = path.join(dir, "gateway-server-ca.crt");
        assert.match(openssl(["verify", "-CAfile", path.join(serverRoot, "root.crt"), serverCa]).output, /: OK\n/);
        // The name binds a root to its domain, not to a key: the holder of the mesh CA's key asks for
        // it under the gateway server CA's name. Only the SPKI SHA-256 the change request records
        // (the stack's CSR's) refuses it; "yes" is no answer.
        const meshKeyCsr = path.join(dir, "mesh-key-as-server-ca.csr");
        execFileSync(
            "openssl",
            [
                "req",
                "-new",
                "-key",
                path.join(dir, "mesh-ca-east.key"),
                "-subj",
                "/O=Example Bank/CN=example gateway server CA",
            ],
            { stdio: ["ignore", fs.openSync(meshKeyCsr, "wx"), "ignore"] },
        );
        const logSigned = logOf(serverRoot);
        const changeRequest = opensslSpkiSha256(fs.readFileSync(serverCsr, "utf8"), "csr").slice(0, 32);
        for (const answer of ["yes", changeRequest]) {
            const substituted = ceremonyPiped(
                PASSPHRASE,
                `${answer}\n`,
                "sign",
                "--root",
                serverRoot,
                "--csr",
                meshKeyCsr,
            );
            assert.deepStrictEqual(
                [substituted.status, substituted.err.split("\n").at(-2)],
                [
                    1,
                    `error: ${meshKeyCsr} not signed: the answer is not the first 32 characters (or more) of its SPKI SHA-256, so its key may not be the one the change request records (a CSR can carry any key under a CA's name); nothing was signed or written`,
                ],
                answer,
            );
        }
        assert.ok(!fs.existsSync(path.join(dir, "mesh-key-as-server-ca.crt")), "nothing was written");
        assert.strictEqual(logOf(serverRoot), logSigned, "nothing was logged");

        const sharedRoot = await newRoot("shared-root", "shared");
        for (const [file, out] of [
            [meshCsr, "shared-mesh-ca.crt"],
            [serverCsr, "shared-server-ca.crt"],
        ]) {
            const result = await ceremony(
                PASSPHRASE,
                ...["sign", "--root", sharedRoot, "--csr", file, "--out", path.join(dir, out), "--yes"],
            );
            assert.strictEqual(result.status, 0, result.err);
        }
        assert.match(
            opensslText(fs.readFileSync(path.join(dir, "shared-mesh-ca.crt"), "utf8")),
            /Issuer: O = Example Bank, OU = apic-istio-pki example shared, CN = Example Bank shared-root\n[\s\S]*Subject: O = Example Bank, CN = example mesh CA east\n/,
        );
        assert.deepStrictEqual(
            lines(path.join(sharedRoot, "issuance.log")).map((line) => JSON.parse(line).trustDomain),
            ["shared", "shared", "shared"],
        );
    });

    it("refuses a root an earlier init-root bound to no trust domain, in the ceremony and in the stack, and a root of another trust domain in the stack", async () => {
        // A root as the earlier init-root made it (OU=apic-istio-pki example), made here with openssl.
        const earlier = path.join(dir, "earlier-root");
        fs.mkdirSync(earlier, { mode: 0o700 });
        const plainKey = path.join(dir, "earlier-root.key");
        execFileSync("openssl", [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            plainKey,
        ]);
        execFileSync("openssl", [
            ...["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "600000", "-in", plainKey],
            ...["-passout", `pass:${PASSPHRASE}`, "-out", path.join(earlier, "root.key")],
        ]);
        fs.chmodSync(path.join(earlier, "root.key"), 0o600);
        execFileSync("openssl", [
            ...["req", "-x509", "-new", "-key", plainKey, "-days", "3650", "-out", path.join(earlier, "root.crt")],
            ...["-subj", "/O=Example Bank/OU=apic-istio-pki example/CN=Earlier Root"],
            ...[
                "-addext",
                "basicConstraints=critical,CA:TRUE,pathlen:1",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]);
        const earlierPem = fs.readFileSync(path.join(earlier, "root.crt"), "utf8");
        const cert = new crypto.X509Certificate(earlierPem);
        const record = {
            time: new Date().toISOString(),
            event: "root",
            environment: "example",
            serial: cert.serialNumber,
            subject: "O=Example Bank, OU=apic-istio-pki example, CN=Earlier Root",
            spkiSha256: opensslSpkiSha256(earlierPem, "cert"),
            notAfter: new Date(cert.validTo).toISOString(),
        };
        fs.writeFileSync(path.join(earlier, "issuance.log"), `${JSON.stringify(record)}\n`, { mode: 0o600 });
        const logBefore = logOf(earlier);
        const refusal =
            `error: ${path.join(earlier, "root.crt")} is bound to environment "example" but to no trust domain (OU=apic-istio-pki example): ` +
            "an earlier version of init-root made it, and the ceremony cannot tell which of the environment's CAs it may sign; " +
            'make a new root with "ceremony init-root --environment example --trust-domain mesh|gateway-server|apic-client|ui-client|shared" ' +
            "and give the stack its root.crt instead\n";
        const target = path.join(dir, "earlier.crt");
        const sign = await ceremony(PASSPHRASE, "sign", "--root", earlier, "--csr", csr, "--out", target, "--yes");
        assert.deepStrictEqual([sign.status, sign.err], [1, refusal]);
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", earlier, "--period-days", "7", "--periods", "2", "--out", `${target}.pem`, "--yes"],
        );
        assert.deepStrictEqual([crl.status, crl.err], [1, refusal]);
        assert.ok(!fs.existsSync(target) && !fs.existsSync(`${target}.pem`), "nothing was written");
        assert.strictEqual(logOf(earlier), logBefore, "nothing was logged");

        const base = loadStackFileValues(OPTION_FILES[1]);
        const problems = (offlineRoots: Record<string, { certificate: string }>, extra = {}): string => {
            try {
                planFromRawConfig({ ...base, ...extra, offlineRoots });
                return "accepted";
            } catch (error) {
                return (error as Error).message;
            }
        };
        const clientRootPem = fs.readFileSync(path.join(root, "root.crt"), "utf8");
        assert.strictEqual(problems({ clientRoot: { certificate: clientRootPem } }), "accepted");
        assert.strictEqual(
            problems({ serverRoot: { certificate: clientRootPem } }),
            "invalid stack configuration:\n" +
                "  - pki:offlineRoots.serverRoot.certificate is the root of trust domain apic-client (its subject has OU=apic-istio-pki example apic-client), " +
                "not of gateway-server, the domain of pki:offlineRoots.serverRoot; each trust domain needs its own root, or a CA of one could be made with another's key: " +
                'make one with "npx apic-istio-pki ceremony init-root --environment example --trust-domain gateway-server" and set pki:offlineRoots.serverRoot to it',
        );
        assert.strictEqual(
            problems({ root: { certificate: clientRootPem } }, { trustDomains: "shared" }),
            "invalid stack configuration:\n" +
                "  - pki:offlineRoots.root.certificate is the root of trust domain apic-client (its subject has OU=apic-istio-pki example apic-client), " +
                "not of shared, the domain of pki:offlineRoots.root; each trust domain needs its own root, or a CA of one could be made with another's key: " +
                'make one with "npx apic-istio-pki ceremony init-root --environment example --trust-domain shared" and set pki:offlineRoots.root to it',
        );
        // A shared root signs every name: as the mesh root it would sign gateway server CAs too.
        const sharedPem = fs.readFileSync(path.join(await newRoot("shared-for-stack", "shared"), "root.crt"), "utf8");
        assert.match(
            problems({ meshRoot: { certificate: sharedPem } }),
            /^invalid stack configuration:\n {2}- pki:offlineRoots\.meshRoot\.certificate is the root of trust domain shared \(its subject has OU=apic-istio-pki example shared\), not of mesh, /,
        );
        assert.strictEqual(
            problems({ clientRoot: { certificate: earlierPem } }),
            "invalid stack configuration:\n" +
                '  - pki:offlineRoots.clientRoot.certificate is bound to environment "example" but to no trust domain (its subject has OU=apic-istio-pki example): ' +
                "an earlier version of the ceremony made it, which signs a CA of any trust domain with it; " +
                'make one with "npx apic-istio-pki ceremony init-root --environment example --trust-domain apic-client" and set pki:offlineRoots.clientRoot to it',
        );
        // An OU that looks like a binding but names no trust domain is refused, not guessed at.
        const oddPem = execFileSync(
            "openssl",
            [
                ...["req", "-x509", "-new", "-key", plainKey, "-days", "3650"],
                ...["-subj", "/OU=apic-istio-pki example gateway/CN=Odd Root"],
                ...["-addext", "basicConstraints=critical,CA:TRUE,pathlen:1"],
                ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ],
            { encoding: "utf8" },
        );
        assert.strictEqual(
            problems({ serverRoot: { certificate: oddPem } }),
            "invalid stack configuration:\n" +
                "  - pki:offlineRoots.serverRoot.certificate has OU=apic-istio-pki example gateway, which is not a binding the ceremony writes " +
                "(one OU=apic-istio-pki <environment> <trust domain>); " +
                'make one with "npx apic-istio-pki ceremony init-root --environment example --trust-domain gateway-server" and set pki:offlineRoots.serverRoot to it',
        );
    });

    it("checks every file it will write before signing anything: a missing folder, a path under a file, a CSR or a key given twice, two certificates bound for one file", async () => {
        const twin = opensslCsr(dir, "twin", P256, STACK_SUBJECT);
        const twinCopy = writeTemp(dir, "twin-copy.csr", fs.readFileSync(twin, "utf8"));
        const noExtension = path.join(dir, "twin");
        fs.copyFileSync(opensslCsr(dir, "other-key", P256, STACK_SUBJECT), noExtension);
        const missingFolder = path.join(dir, "missing");
        const spki = opensslSpkiSha256(fs.readFileSync(twin, "utf8"), "csr");
        const cases: [string, string[], number, string][] = [
            [
                "--out in a folder that does not exist",
                ["--csr", twin, "--out", path.join(missingFolder, "twin.crt")],
                1,
                `error: --out ${path.join(missingFolder, "twin.crt")}: the folder ${missingFolder} does not exist; create it or choose another file`,
            ],
            [
                "--out under a file",
                ["--csr", twin, "--out", path.join(twin, "twin.crt")],
                1,
                `error: --out ${path.join(twin, "twin.crt")}: ${twin} is not a folder; choose another file`,
            ],
            [
                "the same CSR twice",
                ["--csr", twin, "--csr", twin],
                2,
                `error: --csr ${twin} is given twice; list each CSR once`,
            ],
            [
                "the same key twice",
                ["--csr", twin, "--csr", twinCopy],
                1,
                `error: --csr ${twinCopy} is for the same key as --csr ${twin} (SPKI SHA-256 ${spki}); a key is signed once: give only one of them`,
            ],
            [
                "two certificates bound for one file",
                ["--csr", twin, "--csr", noExtension],
                1,
                `error: the certificates of --csr ${twin} and --csr ${noExtension} would both be written to ${noExtension}.crt; rename one of the CSRs`,
            ],
        ];
        const logBefore = logOf(root);
        for (const [label, args, status, message] of cases) {
            const result = await ceremony(PASSPHRASE, "sign", "--root", root, ...args, "--yes");
            assert.deepStrictEqual([label, result.status, result.err.split("\n")[0]], [label, status, message]);
            assert.strictEqual(logOf(root), logBefore, `${label}: nothing was signed`);
        }
        assert.ok(!fs.existsSync(missingFolder) && !fs.existsSync(`${noExtension}.crt`), "nothing was written");
        const series = path.join(missingFolder, "crls.pem");
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", root, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
        );
        assert.deepStrictEqual(
            [crl.status, crl.err],
            [
                1,
                `error: --out ${series}: the folder ${missingFolder} does not exist; create it or choose another file\n`,
            ],
        );
        assert.strictEqual(logOf(root), logBefore, "no CRL was signed");
    });

    it("finishes a root it has begun writing when a signal comes (SIGTERM between root.key and root.crt): never a key without its certificate and log", () => {
        const dir = tempDir("ceremony-signal");
        const out = path.join(dir, "root");
        // init-root sends itself SIGTERM as it starts writing root.crt, after root.key: the worst moment.
        const script = cliSignalledWhileWriting('String(content).includes("BEGIN CERTIFICATE")');
        const child = spawnSync(
            process.execPath,
            ["-e", script, "ceremony", ...initRootArgs(out, "Signal Root", "--key", "ECDSA")],
            { encoding: "utf8", timeout: 30_000, env: { ...process.env, [ROOT_PASSPHRASE_VARIABLE]: PASSPHRASE } },
        );
        // The signal waits for the writes; the command is done by then, so it ends as done.
        assert.deepStrictEqual([child.signal, child.status], [null, 0], child.stderr);
        assert.match(child.stdout, /^root of environment example, trust domain apic-client: /, "its fingerprint shown");
        assert.match(child.stdout, /\nended 0\n$/);
        assert.deepStrictEqual(fs.readdirSync(out).sort(), [ISSUANCE_LOG, ROOT_CERT, ROOT_KEY].sort());
        const cert = new crypto.X509Certificate(fs.readFileSync(path.join(out, ROOT_CERT)));
        assert.match(cert.subject, /CN=Signal Root/);
        assert.strictEqual(fs.readFileSync(path.join(out, ISSUANCE_LOG), "utf8").split("\n").length, 2, "one record");
    });

    it("leaves no key in the root folder when init-root is killed (kill -9) as it writes, and names what it left in or beside it until that is destroyed", async () => {
        const dir = tempDir("ceremony-killed");
        const fresh = path.join(dir, "fresh");
        const empty = path.join(dir, "empty");
        const moving = path.join(dir, "moving");
        for (const folder of [empty, moving]) fs.mkdirSync(folder, { mode: 0o700 });
        const emptyInode = fs.statSync(empty).ino;
        const killed = (out: string, script: string) => {
            const child = spawnSync(
                process.execPath,
                ["-e", script, "ceremony", ...initRootArgs(out, "Killed Root", "--key", "ECDSA")],
                { encoding: "utf8", timeout: 30_000, env: { ...process.env, [ROOT_PASSPHRASE_VARIABLE]: PASSPHRASE } },
            );
            assert.strictEqual(child.signal, "SIGKILL", child.stderr);
        };
        // Killed as it starts writing root.crt, after root.key: the worst moment of the writes.
        const writing = cliSignalledWhileWriting('String(content).includes("BEGIN CERTIFICATE")', "SIGKILL");
        killed(fresh, writing);
        killed(empty, writing);
        // Into an existing folder, killed as it moves root.key in, after root.crt and issuance.log.
        killed(
            moving,
            `const fs = require("fs");
            const renameSync = fs.renameSync;
            fs.renameSync = (from, to) => {
                if (String(to).endsWith("root.key")) process.kill(process.pid, "SIGKILL");
                return renameSync(from, to);
            };
            require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))}).main(process.argv.slice(1));`,
        );
        assert.ok(!fs.existsSync(fresh), "no root folder");
        // A new folder is staged beside it; an existing one inside it.
        assert.deepStrictEqual(
            fs.readdirSync(empty),
            [STAGING_INSIDE],
            "nothing in the existing folder but the staging",
        );
        assert.deepStrictEqual(
            fs.readdirSync(moving).sort(),
            [STAGING_INSIDE, ISSUANCE_LOG, ROOT_CERT],
            "no key without its certificate and log",
        );
        const besides = fs.readdirSync(dir).filter((name) => name.startsWith("."));
        assert.match(besides.join(" "), /^\.fresh\.[0-9a-f]{12}\.tmp$/);
        const freshLeftover = path.join(dir, besides[0]);
        const [emptyLeftover, movingLeftover] = [empty, moving].map((folder) => path.join(folder, STAGING_INSIDE));
        const leftovers = [freshLeftover, emptyLeftover, movingLeftover];
        assert.deepStrictEqual(fs.readdirSync(freshLeftover).sort(), [ROOT_CERT, ROOT_KEY]);
        assert.deepStrictEqual(fs.readdirSync(emptyLeftover).sort(), [ROOT_CERT, ROOT_KEY]);
        assert.deepStrictEqual(fs.readdirSync(movingLeftover), [ROOT_KEY]);
        assert.deepStrictEqual(leftovers.map(modeOf), [0o700, 0o700, 0o700]);

        const unfinished = (option: string, out: string, leftover: string, fix = "") =>
            `error: ${option} ${out}: an init-root into it was stopped before it finished (kill -9, a power cut) and left ${leftover}, ` +
            `with the key of a root that was never shown or used: destroy it (rm -r ${leftover})${fix}, then run init-root again\n`;
        const cases: [string[], string][] = [
            [initRootArgs(fresh, "R", "--key", "ECDSA"), unfinished("--out", fresh, freshLeftover)],
            [initRootArgs(empty, "R", "--key", "ECDSA"), unfinished("--out", empty, emptyLeftover)],
            [["sign", "--root", fresh, "--csr", csr, "--yes"], unfinished("--root", fresh, freshLeftover)],
            [["sign", "--root", empty, "--csr", csr, "--yes"], unfinished("--root", empty, emptyLeftover)],
            [
                initRootArgs(moving, "R", "--key", "ECDSA"),
                unfinished("--out", moving, movingLeftover, ` and empty ${moving}`),
            ],
            [
                ["sign", "--root", moving, "--csr", csr, "--yes"],
                unfinished("--root", moving, movingLeftover, ` and empty ${moving}`),
            ],
        ];
        for (const [args, message] of cases) {
            const result = await ceremony(PASSPHRASE, ...args);
            assert.deepStrictEqual([args[0], result.status, result.err], [args[0], 1, message]);
        }

        // A folder an earlier version's init-root left with its key alone, written first in place.
        const keyAlone = path.join(dir, "key-alone");
        fs.mkdirSync(keyAlone, { mode: 0o700 });
        fs.copyFileSync(path.join(freshLeftover, ROOT_KEY), path.join(keyAlone, ROOT_KEY));
        const alone = (option: string) =>
            `error: ${option} ${keyAlone} holds root.key without root.crt and issuance.log: an init-root of an earlier version that was stopped before it finished left that, ` +
            `and the key was never certified: destroy it (rm ${path.join(keyAlone, ROOT_KEY)}) and run init-root again; ` +
            "if this folder held a real root, restore it from the ceremony's archive instead\n";
        const again = await ceremony(PASSPHRASE, ...initRootArgs(keyAlone, "R", "--key", "ECDSA"));
        assert.deepStrictEqual([again.status, again.err], [1, alone("--out")]);
        const signed = await ceremony(PASSPHRASE, "sign", "--root", keyAlone, "--csr", csr, "--yes");
        assert.deepStrictEqual([signed.status, signed.err], [1, alone("--root")]);

        // Once destroyed, the root is made whole in both, the existing folder kept as it was.
        for (const leftover of leftovers) fs.rmSync(leftover, { recursive: true });
        for (const file of fs.readdirSync(moving)) fs.rmSync(path.join(moving, file));
        for (const out of [fresh, empty, moving]) {
            const made = await ceremony(PASSPHRASE, ...initRootArgs(out, "R", "--key", "ECDSA"));
            assert.strictEqual(made.status, 0, made.err);
            assert.deepStrictEqual(fs.readdirSync(out).sort(), [ISSUANCE_LOG, ROOT_CERT, ROOT_KEY], "no staging left");
            assert.deepStrictEqual(
                [modeOf(out), ...[ROOT_KEY, ROOT_CERT, ISSUANCE_LOG].map((name) => modeOf(path.join(out, name)))],
                [0o700, 0o600, 0o644, 0o600],
            );
        }
        assert.strictEqual(fs.statSync(empty).ino, emptyInode, "the existing folder is the same folder");
        assert.deepStrictEqual(
            fs.readdirSync(dir).filter((name) => name.startsWith(".")),
            [],
            "no staging folder left",
        );
    });

    it("passes over a staging-named folder another user made beside the root folder, and names one of the user's own beside a whole root as a stray to destroy alone, never the root, and one inside it as left by an init-root stopped before it showed the root", async () => {
        // A shared folder (sticky, as /tmp): any user may make a folder there.
        const shared = tempDir("ceremony-shared");
        fs.chmodSync(shared, 0o1777);
        const rootDir = path.join(shared, "root");
        const fresh = path.join(shared, "fresh");
        const others = [rootDir, fresh].map((folder) =>
            path.join(shared, `.${path.basename(folder)}.0123456789ab.tmp`),
        );
        fs.mkdirSync(rootDir, { mode: 0o700 });
        for (const stray of others) {
            fs.mkdirSync(stray, { mode: 0o700 });
            fs.chownSync(stray, 65534, 65534);
        }
        const series = path.join(shared, "crls.pem");
        const crlArgs = ["crl", "--root", rootDir, "--period-days", "7", "--periods", "2", "--out", series, "--yes"];
        // Neither init-root (into an existing folder, or a new one) nor crl takes it for its own leftover.
        for (const out of [rootDir, fresh]) {
            const made = await ceremony(PASSPHRASE, ...initRootArgs(out, "Shared Root", "--key", "ECDSA"));
            assert.strictEqual(made.status, 0, made.err);
        }
        const signed = await ceremony(PASSPHRASE, ...crlArgs);
        assert.strictEqual(signed.status, 0, signed.err);
        assert.deepStrictEqual(
            others.map((stray) => [fs.statSync(stray).uid, fs.readdirSync(stray)]),
            [
                [65534, []],
                [65534, []],
            ],
            "left as they were",
        );
        fs.rmSync(series);

        // One of the user's own inside the whole root: left by an init-root stopped before it showed
        // the root, to be made again unless the log says it signed since. Beside it: to go alone.
        const besides = path.join(shared, ".root.abcdef012345.tmp");
        const inside = path.join(rootDir, STAGING_INSIDE);
        const logBefore = fs.readFileSync(path.join(rootDir, ISSUANCE_LOG), "utf8");
        fs.mkdirSync(inside, { mode: 0o700 });
        const insideRefused = await ceremony(PASSPHRASE, ...crlArgs);
        const files = ["root.key", "root.crt", "issuance.log"].map((name) => path.join(rootDir, name)).join(" ");
        assert.deepStrictEqual(
            [insideRefused.status, insideRefused.out, insideRefused.err],
            [
                1,
                "",
                `error: --root ${rootDir} holds a whole root (root.key, root.crt, issuance.log) and ${inside}: an init-root into it was stopped (kill -9, a power cut) after it put the root in place and before it removed that staging folder and showed the root to the custodians, so no one recorded its serial or SPKI SHA-256. ` +
                    `If ${path.join(rootDir, ISSUANCE_LOG)} holds one line (the root's own record: it signed nothing), destroy that root (rm -r ${inside} ${files}) and run init-root again; ` +
                    `if it holds more, the root signed since: destroy that folder alone (rm -r ${inside}) and keep ${rootDir} as it is\n`,
            ],
        );
        fs.rmdirSync(inside);
        for (const stray of [besides]) {
            fs.mkdirSync(stray, { mode: 0o700 });
            const refused = await ceremony(PASSPHRASE, ...crlArgs);
            assert.deepStrictEqual(
                [refused.status, refused.out, refused.err],
                [
                    1,
                    "",
                    `error: --root ${rootDir} holds a whole root (root.key, root.crt, issuance.log), and an init-root stopped before it finished (kill -9, a power cut) left ${stray}, ` +
                        `a staging folder that is no part of that root (init-root puts a root in place only whole): destroy that folder alone (rm -r ${stray}), with any key of a root never shown or used it holds, and keep ${rootDir} as it is\n`,
                ],
            );
            fs.rmdirSync(stray);
        }
        // Beside a folder holding part of a root (its key moved away): what it holds is kept too.
        const keptKey = path.join(shared, "kept.key");
        fs.renameSync(path.join(rootDir, ROOT_KEY), keptKey);
        fs.mkdirSync(besides, { mode: 0o700 });
        const partial = await ceremony(PASSPHRASE, ...crlArgs);
        assert.deepStrictEqual(
            [partial.status, partial.out, partial.err],
            [
                1,
                "",
                `error: --root ${rootDir} holds ${fs.readdirSync(rootDir).join(", ")}, and an init-root stopped before it finished (kill -9, a power cut) left ${besides}, ` +
                    `a staging folder that is no part of what it holds (init-root renames it into place only where no folder is): destroy that folder alone (rm -r ${besides}), with any key of a root never shown or used it holds, and keep ${rootDir} as it is\n`,
            ],
        );
        fs.rmdirSync(besides);
        fs.renameSync(keptKey, path.join(rootDir, ROOT_KEY));
        assert.strictEqual(fs.readFileSync(path.join(rootDir, ISSUANCE_LOG), "utf8"), logBefore, "nothing was signed");
        assert.ok(!fs.existsSync(series), "nothing was written");
        const again = await ceremony(PASSPHRASE, ...crlArgs);
        assert.strictEqual(again.status, 0, again.err);
    });

    it("makes the root in an existing empty folder whose parent the user may not write to (a medium mounted under /media/<user>), staged inside it, and refuses a folder it could not write before asking the passphrase", () => {
        const dir = tempDir("ceremony-mounted");
        // As /media/<user>, which only root writes to, holding the user's medium, empty and 0700.
        const media = path.join(dir, "media");
        const medium = path.join(media, "LABEL");
        const readOnly = path.join(media, "READONLY");
        fs.mkdirSync(medium, { recursive: true, mode: 0o700 });
        fs.mkdirSync(readOnly, { mode: 0o500 });
        fs.chmodSync(media, 0o555);
        // Run as root, the ceremony is denied what a user is (AS_USER).
        // Each rename is shown: where the root was staged, and in which order its files came into place.
        const script = `const fs = require("fs");
            const renameSync = fs.renameSync;
            fs.renameSync = (from, to) => {
                process.stdout.write("rename " + from + " -> " + to + "\\n");
                return renameSync(from, to);
            };
            require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))})
                .main(process.argv.slice(1))
                .then((status) => (process.exitCode = status));`;
        const run = (passphrase: string | undefined, out: string) => {
            const [command, ...args] = [...AS_USER, process.execPath, "-e", script, "ceremony"];
            const env = { ...process.env };
            delete env[ROOT_PASSPHRASE_VARIABLE];
            const result = spawnSync(command, [...args, ...initRootArgs(out, "Medium Root", "--key", "ECDSA")], {
                encoding: "utf8",
                input: "",
                env: passphrase === undefined ? env : { ...env, [ROOT_PASSPHRASE_VARIABLE]: passphrase },
            });
            return { status: result.status, out: result.stdout, err: result.stderr };
        };
        try {
            const made = run(PASSPHRASE, medium);
            assert.strictEqual(made.status, 0, made.err);
            const staging = path.join(medium, STAGING_INSIDE);
            assert.deepStrictEqual(
                made.out.split("\n").filter((line) => line.startsWith("rename ")),
                [ROOT_CERT, ISSUANCE_LOG, ROOT_KEY].map(
                    (name) => `rename ${path.join(staging, name)} -> ${path.join(medium, name)}`,
                ),
                "staged inside the folder, moved up with root.key last",
            );
            assert.deepStrictEqual(fs.readdirSync(medium).sort(), [ISSUANCE_LOG, ROOT_CERT, ROOT_KEY]);
            assert.deepStrictEqual(
                [ROOT_KEY, ROOT_CERT, ISSUANCE_LOG].map((name) => modeOf(path.join(medium, name))),
                [0o600, 0o644, 0o600],
            );
            assert.deepStrictEqual(fs.readdirSync(media).sort(), ["LABEL", "READONLY"], "nothing beside it");

            // No passphrase is given: these are refused before it would be asked, and before any key is made.
            const notWritable = run(undefined, readOnly);
            assert.deepStrictEqual(
                [notWritable.status, notWritable.err],
                [
                    1,
                    `error: --out ${readOnly} takes no new file (EACCES); make it writable (chmod 700 ${readOnly}) or give --out another folder\n`,
                ],
            );
            const inMedia = path.join(media, "new-root");
            const notCreatable = run(undefined, inMedia);
            assert.deepStrictEqual(
                [notCreatable.status, notCreatable.err],
                [
                    1,
                    `error: --out ${inMedia}: the folder ${media} takes no new folder (EACCES); give --out an empty 0700 folder of yours ` +
                        "(such as a medium mounted for you) or a new one in a folder you can write to\n",
                ],
            );
            assert.deepStrictEqual(fs.readdirSync(readOnly), []);
            assert.deepStrictEqual(fs.readdirSync(media).sort(), ["LABEL", "READONLY"]);

            // The root folder made read-only: crl cannot take its lock there, and says how to fix it.
            fs.chmodSync(medium, 0o500);
            const [command, ...args] = [...AS_USER, process.execPath, "-e", script, "ceremony"];
            const crlArgs = ["crl", "--root", medium, "--period-days", "7", "--periods", "1", "--yes"];
            const locked = spawnSync(command, [...args, ...crlArgs, "--out", path.join(dir, "crl.pem")], {
                encoding: "utf8",
                input: "",
                env: { ...process.env, [ROOT_PASSPHRASE_VARIABLE]: PASSPHRASE },
            });
            assert.deepStrictEqual(
                [locked.status, locked.stderr],
                [
                    1,
                    `error: --root ${medium} takes no new file (EACCES creating its lock ${path.join(medium, ".ceremony.lock")}); make it writable (chmod 700 ${medium})\n`,
                ],
            );
            assert.deepStrictEqual(fs.readdirSync(medium).sort(), [ISSUANCE_LOG, ROOT_CERT, ROOT_KEY]);
        } finally {
            fs.chmodSync(medium, 0o700);
            fs.chmodSync(media, 0o755);
        }
    });

    it("says another init-root made the root when one did meanwhile, into a new folder or an existing empty one, keeping nothing of its own", async () => {
        const raced = path.join(dir, "raced-root");
        const emptyRaced = path.join(dir, "raced-empty-root");
        fs.mkdirSync(emptyRaced, { mode: 0o700 });
        const cases: [string, () => void, string][] = [
            // The other run's root lands at the path while this one asks the passphrase.
            [
                raced,
                () => (fs.mkdirSync(raced, { mode: 0o700 }), fs.writeFileSync(path.join(raced, "root.crt"), "")),
                "ENOTEMPTY",
            ],
            // Into an existing folder, the other run's staging folder is there first.
            [emptyRaced, () => fs.mkdirSync(path.join(emptyRaced, STAGING_INSIDE), { mode: 0o700 }), "EEXIST"],
        ];
        for (const [folder, otherRun, code] of cases) {
            const run = await ceremonyOnTerminal(
                [
                    ["Passphrase of the root key: ", PASSPHRASE, otherRun],
                    ["The same passphrase again: ", PASSPHRASE],
                ],
                ...initRootArgs(folder, "Raced Root"),
                ...["--key", "ECDSA"],
            );
            assert.strictEqual(run.status, 1, run.transcript);
            assert.ok(
                run.transcript.includes(
                    `error: cannot write the root folder ${folder} (${code}); nothing of the new root was kept: another init-root made a root there meanwhile, or is making one: look at ${folder} before anything else`,
                ),
                run.transcript,
            );
            assert.ok(
                !fs.readdirSync(dir).some((name) => name.startsWith(`.${path.basename(folder)}.`)),
                "no staging folder of its own",
            );
        }
        assert.deepStrictEqual(fs.readdirSync(raced), ["root.crt"], "the other run's root is untouched");
        assert.deepStrictEqual(fs.readdirSync(emptyRaced), [STAGING_INSIDE]);
    });

    it("shows the certificate's PEM when writing it fails after it was signed and logged (its folder went away while the passphrase was asked)", async () => {
        const logRoot = await newRoot("away-root", "apic-client");
        const away = path.join(dir, "going-away");
        fs.mkdirSync(away);
        const target = path.join(away, "apic-client-ca.crt");
        const run = await ceremonyOnTerminal(
            [
                ["records for it: ", opensslSpkiSha256(fs.readFileSync(csr, "utf8"), "csr").slice(0, 32)],
                ["Passphrase of the root key: ", PASSPHRASE, () => fs.rmdirSync(away)],
            ],
            ...["sign", "--root", logRoot, "--csr", csr, "--out", target],
            ...["--log-sha256", sha256sum(path.join(logRoot, ISSUANCE_LOG))],
        );
        const transcript = run.transcript.replace(/\r\n/g, "\n");
        assert.strictEqual(run.status, 1, transcript);
        assert.ok(
            transcript.includes(
                `error: cannot write --out ${target} (ENOENT); it was logged in issuance.log as signed: save its PEM from the output above. ` +
                    `${path.join(logRoot, ISSUANCE_LOG)} now has 2 records, SHA-256 ${sha256sum(path.join(logRoot, ISSUANCE_LOG))}: record this in the change request\n`,
            ),
            transcript,
        );
        const pem = /-----BEGIN CERTIFICATE-----\n[\s\S]+?\n-----END CERTIFICATE-----\n/.exec(transcript)?.[0];
        assert.ok(pem, transcript);
        const logged = JSON.parse(lines(path.join(logRoot, "issuance.log")).at(-1) ?? "");
        assert.deepStrictEqual(
            [logged.event, logged.serial, logged.spkiSha256],
            ["certificate", new crypto.X509Certificate(pem).serialNumber, opensslSpkiSha256(pem, "cert")],
        );
    });

    it('syncs each certificate and CRL series it writes, then its folder, as it syncs the log record: a medium pulled out after "signed" keeps the file the log records', async () => {
        const syncedRoot = await newRoot("synced-root", "apic-client");
        const log = path.join(syncedRoot, ISSUANCE_LOG);
        const out = path.join(dir, "synced");
        fs.mkdirSync(out);
        /** What each fsync of `run` flushed, by the path of its file descriptor, in order. */
        const fsynced = async (run: () => Promise<{ status: number; err: string }>): Promise<string[]> => {
            const flushed: string[] = [];
            const fsyncSync = nodeFs.fsyncSync;
            const result = await patched(
                nodeFs,
                "fsyncSync",
                (fd: number) => {
                    flushed.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
                    return fsyncSync(fd);
                },
                run,
            );
            assert.strictEqual(result.status, 0, result.err);
            return flushed;
        };
        const certificate = path.join(out, "synced.crt");
        assert.deepStrictEqual(
            await fsynced(() =>
                ceremony(PASSPHRASE, "sign", "--root", syncedRoot, "--csr", csr, "--out", certificate, "--yes"),
            ),
            [log, certificate, out],
        );
        const series = path.join(out, "synced.pem");
        assert.deepStrictEqual(
            await fsynced(() =>
                ceremony(
                    PASSPHRASE,
                    ...["crl", "--root", syncedRoot, "--period-days", "7", "--periods", "1", "--out", series, "--yes"],
                ),
            ),
            [log, series, out],
        );
    });

    it("leaves nothing half-written on a full medium: init-root keeps nothing of the new root, sign and crl cut their log records off again, and no partial certificate is left", async () => {
        /** Runs `run` with the ceremony's writes of `what` failing as on a full medium: after writing half of it, when `half`. */
        const full = <T>(what: RegExp, run: () => Promise<T>, half = false): Promise<T> => {
            const writeFileSync = nodeFs.writeFileSync;
            return patched(
                nodeFs,
                "writeFileSync",
                (file: fs.PathOrFileDescriptor, data: string, ...rest: []) => {
                    if (!what.test(String(data))) return writeFileSync(file, data, ...rest);
                    if (half && typeof file === "number") fs.writeSync(file, data.slice(0, data.length / 2));
                    throw Object.assign(new Error("ENOSPC: simulated"), { code: "ENOSPC" });
                },
                run,
            );
        };
        const made = path.join(dir, "full-root");
        const init = await full(/^-----BEGIN CERTIFICATE-----/, () =>
            ceremony(PASSPHRASE, ...initRootArgs(made, "Full Root", "--key", "ECDSA")),
        );
        assert.deepStrictEqual(init, {
            status: 1,
            out: "",
            err: `error: cannot write the root folder ${made} (ENOSPC); nothing of the new root was kept: free space on the medium or give --out a folder you can write to, then run init-root again\n`,
        });
        assert.strictEqual(fs.existsSync(made), false, "no root key without its certificate and log");
        assert.deepStrictEqual(
            fs.readdirSync(dir).filter((name) => name.startsWith(".full-root.")),
            [],
            "nor its staging folder",
        );

        const logBefore = logOf(root);
        const target = path.join(dir, "full.crt");
        const fullCsr = opensslCsr(dir, "full", P256, STACK_SUBJECT);
        const sign = () => ceremony(PASSPHRASE, "sign", "--root", root, "--csr", fullCsr, "--out", target, "--yes");
        const unlogged = await full(/^\{"time":/, sign, true);
        assert.deepStrictEqual(
            [unlogged.status, unlogged.err],
            [
                1,
                `error: cannot record the certificate of --csr ${fullCsr} in ${path.join(root, "issuance.log")} (ENOSPC); it was not written, and the log is as it was: free space on the medium, then sign ${fullCsr} again\n`,
            ],
        );
        assert.strictEqual(logOf(root), logBefore);
        assert.strictEqual(fs.existsSync(target), false);
        const series = path.join(dir, "full.pem");
        const crl = await full(
            /^\{"time":/,
            () =>
                ceremony(
                    PASSPHRASE,
                    ...["crl", "--root", root, "--period-days", "7", "--periods", "3", "--out", series, "--yes"],
                ),
            true,
        );
        assert.deepStrictEqual(
            [crl.status, crl.err],
            [
                1,
                `error: cannot record the CRL series in ${path.join(root, "issuance.log")} (ENOSPC); it was not written, and the log is as it was: free space on the medium, then run crl again\n`,
            ],
        );
        assert.strictEqual(logOf(root), logBefore, "no CRL of the series logged, nor part of one");
        assert.strictEqual(fs.existsSync(series), false);

        const unwritten = await full(/^-----BEGIN CERTIFICATE-----/, sign);
        assert.deepStrictEqual(
            [unwritten.status, unwritten.err],
            [
                1,
                `error: cannot write --out ${target} (ENOSPC); it was logged in issuance.log as signed: save its PEM from the output above. ` +
                    `${path.join(root, ISSUANCE_LOG)} now has ${lines(path.join(root, ISSUANCE_LOG)).length} records, SHA-256 ${sha256sum(path.join(root, ISSUANCE_LOG))}: record this in the change request\n`,
            ],
        );
        assert.match(
            unwritten.out,
            /^issuance\.log {2}\d+ records?, SHA-256 [0-9a-f]{64} \(.*\)\nCSR [\s\S]*-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/,
        );
        assert.strictEqual(fs.existsSync(target), false, "no empty or partial certificate at --out");
        assert.strictEqual(logOf(root).slice(logBefore.length).split("\n").length, 2, "one record more, whole");
    });

    it("names the log's new record count and SHA-256 when a sign or crl fails after appending to it, and tells a log that only grew since --log-sha256 from one changed", async () => {
        const grownRoot = await newRoot("grown-root", "apic-client");
        const logFile = path.join(grownRoot, ISSUANCE_LOG);
        const atInit = sha256sum(logFile);
        /** Runs `run` with `file` made by someone else as the ceremony opens the log to append: after its checks, before it writes. */
        const appearing = <T>(file: string, run: () => Promise<T>): Promise<T> => {
            const openSync = nodeFs.openSync;
            return patched(
                nodeFs,
                "openSync",
                (target: fs.PathLike, flags: number, ...rest: []) => {
                    if (String(target) === logFile && (flags & fs.constants.O_APPEND) !== 0 && !fs.existsSync(file)) {
                        fs.writeFileSync(file, "someone else's\n");
                    }
                    return openSync(target, flags, ...rest);
                },
                run,
            );
        };
        const csrs = ["grown-1", "grown-2"].map((name) => opensslCsr(dir, name, P256, STACK_SUBJECT));
        const second = csrs[1].replace(/\.csr$/, ".crt");
        const signed = await appearing(second, () =>
            ceremony(PASSPHRASE, "sign", "--root", grownRoot, ...csrs.flatMap((file) => ["--csr", file]), "--yes"),
        );
        const afterSign = sha256sum(logFile);
        assert.deepStrictEqual(
            [signed.status, signed.err],
            [
                1,
                `error: cannot write ${second} (the certificate of --csr ${csrs[1]}) (EEXIST); it was logged in issuance.log as signed: save its PEM from the output above. ` +
                    `${logFile} now has 3 records, SHA-256 ${afterSign}: record this in the change request\n`,
            ],
        );
        assert.strictEqual(lines(logFile).length, 3, "both certificates logged");
        const series = path.join(dir, "grown.pem");
        const crlArgs = ["crl", "--root", grownRoot, "--period-days", "7", "--periods", "1", "--out", series];
        /** The refusal of a log of `records` records whose first ones have the SHA-256 given, `given`: then `added`. */
        const grew = (sha256: string, records: number, given: string, added: string) =>
            `error: ${logFile} has SHA-256 ${sha256} (${records} records), not ${given.split(" ")[0]} as --log-sha256 gives (the change request's): ` +
            `the log only grew: ${given}, ${added}: that drops the record of what the root really signed\n`;
        // The change request kept the SHA-256 from before that sign: the log only grew since.
        const stale = await ceremony(PASSPHRASE, ...crlArgs, "--log-sha256", atInit, "--yes");
        assert.deepStrictEqual(
            [stale.status, stale.out, stale.err],
            [
                1,
                "",
                grew(
                    afterSign,
                    3,
                    `${atInit} is the SHA-256 of its first record`,
                    "and 2 records were added since (a ceremony that failed after signing shows its new SHA-256 only in its error); " +
                        "do not sign yet: check those records (lines 2 to 3) against the last ceremony's output, " +
                        `and if they are what it signed, record ${afterSign} in the change request and give it to --log-sha256; ` +
                        "never put the archived log back over them",
                ),
            ],
        );
        const crl = await appearing(series, () => ceremony(PASSPHRASE, ...crlArgs, "--log-sha256", afterSign, "--yes"));
        const afterCrl = sha256sum(logFile);
        assert.deepStrictEqual(
            [crl.status, crl.err],
            [
                1,
                `error: cannot write --out ${series} (EEXIST); it was logged in issuance.log as signed: save its PEM from the output above. ` +
                    `${logFile} now has 4 records, SHA-256 ${afterCrl}: record this in the change request\n`,
            ],
        );
        fs.rmSync(series);
        const staleAgain = await ceremony(PASSPHRASE, ...crlArgs, "--log-sha256", afterSign, "--yes");
        assert.deepStrictEqual(
            [staleAgain.status, staleAgain.out, staleAgain.err],
            [
                1,
                "",
                grew(
                    afterCrl,
                    4,
                    `${afterSign} is the SHA-256 of its first 3 records`,
                    "and 1 record was added since (a ceremony that failed after signing shows its new SHA-256 only in its error); " +
                        "do not sign yet: check that record (line 4) against the last ceremony's output, " +
                        `and if it is what it signed, record ${afterCrl} in the change request and give it to --log-sha256; ` +
                        "never put the archived log back over it",
                ),
            ],
        );
        const recorded = await ceremony(PASSPHRASE, ...crlArgs, "--log-sha256", afterCrl, "--yes");
        assert.strictEqual(recorded.status, 0, recorded.err);
    });

    it("checks the very bytes whose SHA-256 it shows, read once under its lock: a log swapped after that read is neither what it checks nor what it appends to", async () => {
        const swapRoot = await newRoot("swap-root", "apic-client");
        const logFile = path.join(swapRoot, ISSUANCE_LOG);
        const compromisedCsr = opensslCsr(dir, "swap-compromised", P256, STACK_SUBJECT);
        const { serial, issued } = await signedBy(swapRoot, compromisedCsr, path.join(dir, "swap-compromised.crt"));
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", swapRoot, "--period-days", "7", "--periods", "1", "--from", issued],
            ...["--revoke", `${serial}:keyCompromise:${issued}`, "--out", path.join(dir, "swap.pem"), "--yes"],
        );
        assert.strictEqual(crl.status, 0, crl.err);
        const genuine = fs.readFileSync(logFile, "utf8");
        const recorded = sha256sum(logFile);
        // The log with the CRL record's revocation emptied: its key no longer looks compromised.
        const forged = genuine.replace(/"revoked":\[[^\]]*\]/, '"revoked":[]');
        assert.notStrictEqual(forged, genuine);
        /**
         * Runs `run` with the log replaced by `forged` (a rename, as a swap would) as the ceremony
         * opens it the third time: once to check it as it opens the folder, then once under its
         * lock, the bytes it hashes; and counts the opens of the log.
         */
        const swapped = async (run: () => Promise<{ status: number; out: string; err: string }>) => {
            let opens = 0;
            const openSync = nodeFs.openSync;
            const result = await patched(
                nodeFs,
                "openSync",
                (target: fs.PathLike, ...rest: [number]) => {
                    if (String(target) === logFile && ++opens === 3) {
                        const forgery = path.join(swapRoot, "forged.log");
                        fs.writeFileSync(forgery, forged, { mode: 0o600 });
                        fs.renameSync(forgery, logFile);
                    }
                    return openSync(target, ...rest);
                },
                run,
            );
            return { ...result, opens };
        };
        const again = writeTemp(dir, "swap-again.csr", fs.readFileSync(compromisedCsr, "utf8"));
        const refused = await swapped(() =>
            ceremony(
                PASSPHRASE,
                ...["sign", "--root", swapRoot, "--csr", again, "--reissue", serial],
                ...["--log-sha256", recorded, "--yes"],
            ),
        );
        assert.deepStrictEqual(
            [refused.status, refused.err, refused.opens],
            [
                1,
                `error: --csr ${again} is for a key this root revoked as compromised: serial ${serial} (keyCompromise, revoked at ${issued} in CRL 1, ` +
                    `SPKI SHA-256 ${opensslSpkiSha256(fs.readFileSync(compromisedCsr, "utf8"), "csr")}); a compromised key is never certified again: ` +
                    "have the stack make the CA a new key (a staged rotation, pki:caRotation) and sign its CSR\n",
                2,
            ],
        );
        assert.ok(!fs.existsSync(again.replace(/\.csr$/, ".crt")), "nothing was written");
        assert.strictEqual(fs.readFileSync(logFile, "utf8"), genuine, "nor logged");
        // A key never revoked: its checks pass, and the log is swapped as it is opened to append.
        const freshCsr = opensslCsr(dir, "swap-fresh", P256, STACK_SUBJECT);
        const target = path.join(dir, "swap-fresh.crt");
        const unappended = await swapped(() =>
            ceremony(
                PASSPHRASE,
                "sign",
                "--root",
                swapRoot,
                "--csr",
                freshCsr,
                "--out",
                target,
                "--log-sha256",
                recorded,
                "--yes",
            ),
        );
        assert.deepStrictEqual(
            [unappended.status, unappended.err],
            [
                1,
                `error: ${logFile} changed while this command held it (SHA-256 ${sha256sum(logFile)}, read as ${recorded}); nothing was appended: ` +
                    "something other than the ceremony writes to the root folder: find it, compare the log with its copies on the write-once archive, and put the archived one back\n",
            ],
        );
        assert.strictEqual(fs.readFileSync(logFile, "utf8"), forged, "the forged log as it was");
        assert.ok(!fs.existsSync(target), "no certificate left the ceremony unrecorded");
    });

    it("names, when the log changes between two appends of one sign, the records this run appended and the SHA-256 of the log as it left it, never telling to drop them", async () => {
        const multiRoot = await newRoot("multi-root", "apic-client");
        const logFile = path.join(multiRoot, ISSUANCE_LOG);
        const archived = fs.readFileSync(logFile, "utf8");
        const recorded = sha256sum(logFile);
        const [first, second] = ["multi-a", "multi-b"].map((name) => opensslCsr(dir, name, P256, STACK_SUBJECT));
        let opens = 0;
        let leftAs = "";
        const openSync = nodeFs.openSync;
        // Opened to check the folder, under the lock, to append the first record, then the second:
        // then the archived log is put back over the one holding the first certificate's record.
        const result = await patched(
            nodeFs,
            "openSync",
            (target: fs.PathLike, ...rest: [number]) => {
                if (String(target) === logFile && ++opens === 4) {
                    leftAs = sha256sum(logFile);
                    const archive = path.join(multiRoot, "archived.log");
                    fs.writeFileSync(archive, archived, { mode: 0o600 });
                    fs.renameSync(archive, logFile);
                }
                return openSync(target, ...rest);
            },
            () =>
                ceremony(
                    PASSPHRASE,
                    ...["sign", "--root", multiRoot, "--csr", first, "--csr", second],
                    ...["--log-sha256", recorded, "--yes"],
                ),
        );
        const serial = new crypto.X509Certificate(fs.readFileSync(first.replace(/\.csr$/, ".crt"), "utf8"))
            .serialNumber;
        const line = archived.split("\n").length;
        assert.deepStrictEqual(
            [result.status, result.err],
            [
                1,
                `error: ${logFile} changed while this command held it: its SHA-256 is ${recorded}, not ${leftAs} as this command left it (${line} records, the last 1 appended by this command: line ${line} (certificate serial ${serial})); nothing more was appended: ` +
                    `something other than the ceremony writes to the root folder: find it, then restore the log to the one this command left, SHA-256 ${leftAs}, with the records it appended ` +
                    `(never put back an archived log without them: they record certificates really issued), and record that SHA-256 in the change request; then sign ${second} again\n`,
            ],
        );
        assert.notStrictEqual(leftAs, recorded);
        assert.strictEqual(fs.readFileSync(logFile, "utf8"), archived, "nothing more appended");
        assert.ok(!fs.existsSync(second.replace(/\.csr$/, ".crt")), "the second CSR was not signed");
    });

    it("makes a root with the README's init-root command as written (its folder put in a temporary one), which signs the walkthrough's APIC client CA", async () => {
        const command = readmeBlock("## Keeping the root offline", "sh").replace(/\\\n/g, " ").trim();
        const words = [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
        assert.deepStrictEqual(words.slice(0, 5), ["node", "dist/lib/cli/main.js", "ceremony", "init-root", "--out"]);
        const made = path.join(dir, path.basename(words[5]));
        // The command makes an RSA 4096 key, one to six seconds of CPU here: as the stand-in does
        // (test/engineKeys.ts), init-root is given one of the suite's test-only keys of that size
        // once it has asked for exactly that key.
        const asked: unknown[][] = [];
        const testKey = readTestKeys(ENGINE_KEYS_FILE).find((k) => k.inputs.rsaBits === 4096)!.pkcs8;
        const init = await patched(
            nodeCrypto,
            "generateKeyPairSync",
            (...args: unknown[]) => {
                asked.push(args);
                const privateKey = crypto.createPrivateKey(testKey);
                return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
            },
            () => ceremony(PASSPHRASE, "init-root", "--out", made, ...words.slice(6)),
        );
        assert.strictEqual(init.status, 0, init.err);
        assert.deepStrictEqual(asked, [["rsa", { modulusLength: 4096 }]]);
        assert.match(opensslText(fs.readFileSync(path.join(made, "root.crt"), "utf8")), /Public-Key: \(4096 bit\)/);
        const signed = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", made, "--csr", csr, "--out", path.join(dir, "walkthrough.crt"), "--yes"],
        );
        assert.strictEqual(signed.status, 0, signed.err);
    });

    it("refuses control characters in the root's common name and organization, as the stack refuses them in pki:organization", async () => {
        const made = path.join(dir, "control-root");
        const init = ["init-root", "--out", made, "--environment", "example", "--trust-domain", "apic-client"];
        const cases: [string[], string][] = [
            [
                ["--cn", "a\nb"],
                `error: --cn must not contain control characters (it becomes the root's subject CN); got "a\\nb": remove them`,
            ],
            [
                ["--cn", "Root", "--org", "Example\u001b[2J Bank"],
                `error: --org must not contain control characters (it becomes the root's subject O); got "Example\\u001b[2J Bank": remove them`,
            ],
            [
                ["--cn", "Root\u0085"],
                `error: --cn must not contain control characters (it becomes the root's subject CN); got "Root\\u0085": remove them`,
            ],
            [
                // A right-to-left override: the name would show reordered (Trojan Source).
                ["--cn", "Root \u202eAC tooR"],
                `error: --cn must not contain control characters (it becomes the root's subject CN); got "Root \\u202eAC tooR": remove them`,
            ],
        ];
        for (const [names, message] of cases) {
            const result = await ceremony(PASSPHRASE, ...init, ...names, "--key", "ECDSA");
            assert.deepStrictEqual([result.status, result.err.split("\n")[0]], [2, message]);
            assert.ok(!fs.existsSync(made), "nothing was written");
        }
    });

    it("counts --cn and --org in characters, as the stack counts pki:organization: 64 bank emoji make a root, 65 or a blank are refused", async () => {
        const bank = "\u{1f3e6}"; // one character, two UTF-16 units
        const made = path.join(dir, "emoji-root");
        const init = await ceremony(
            PASSPHRASE,
            ...initRootArgs(made, bank.repeat(64), "--org", bank.repeat(64), "--key", "ECDSA"),
        );
        assert.strictEqual(init.status, 0, init.err);
        assert.strictEqual(
            new crypto.X509Certificate(fs.readFileSync(path.join(made, ROOT_CERT))).subject,
            `O=${bank.repeat(64)}\nOU=apic-istio-pki example apic-client\nCN=${bank.repeat(64)}`,
        );
        const refused = path.join(dir, "emoji-refused");
        const refusals: [string[], string][] = [
            [
                ["--cn", bank.repeat(65)],
                `error: --cn must be 1 to 64 characters (RFC 5280's upper bound), not blank; got "${bank.repeat(65)}" (65)`,
            ],
            [
                ["--cn", "Root", "--org", bank.repeat(65)],
                `error: --org must be 1 to 64 characters (RFC 5280's upper bound), not blank; got "${bank.repeat(65)}" (65)`,
            ],
            [["--cn", " "], `error: --cn must be 1 to 64 characters (RFC 5280's upper bound), not blank; got " " (1)`],
        ];
        for (const [names, message] of refusals) {
            const args = ["init-root", "--out", refused, "--environment", "example", "--trust-domain", "apic-client"];
            const result = await ceremony(PASSPHRASE, ...args, ...names, "--key", "ECDSA");
            assert.deepStrictEqual([result.status, result.err.split("\n")[0]], [2, message]);
            assert.ok(!fs.existsSync(refused), "nothing was written");
        }
        // The stack's pki:organization takes the same 64 and refuses the same 65.
        assert.deepStrictEqual(
            [64, 65].map((n) => organizationProblem(bank.repeat(n), "(shown)", "Remove it")),
            [undefined, "is 65 characters; the subject O has at most 64 (RFC 5280 ub-organization-name). Shorten it"],
        );
    });

    it("writes the root's common name and organization exactly as typed (quotes, backslashes, a leading #), typed as Go types the stack's CA names", async () => {
        const utf8 = "utf8String";
        const printable = "printableString";
        // --org and --cn, each with the string type Go gives it: text that RFC 4514 parsing would
        // change (the quoted part alone, backslashes dropped, \0a a line feed, "#..." hex DER).
        const cases: [org: string, orgType: string, cn: string, cnType: string][] = [
            ['Bank "Zürich" AG', utf8, "C:\\Bank\\Root", utf8],
            ["#1 Bank", utf8, "#0c024142", utf8],
            ["Example Bank, Zürich+Co", utf8, "Bank\\0aRoot", utf8],
            ["Example Bank", printable, "Example Bank Root, G2+(test)", printable],
        ];
        for (const [i, [org, orgType, cn, cnType]] of cases.entries()) {
            const made = path.join(dir, `typed-root-${i}`);
            const result = await ceremony(PASSPHRASE, ...initRootArgs(made, cn, "--org", org, "--key", "ECDSA"));
            assert.strictEqual(result.status, 0, result.err);
            const der = new crypto.X509Certificate(fs.readFileSync(path.join(made, ROOT_CERT))).raw;
            const subject = [...AsnConvert.parse(der, Certificate).tbsCertificate.subject];
            const attributes = subject.flatMap((rdn) =>
                rdn.map(({ type, value }) => [
                    type,
                    ...Object.entries(value).filter(([, v]) => typeof v === "string")[0],
                ]),
            );
            assert.deepStrictEqual(attributes, [
                ["2.5.4.10", orgType, org],
                ["2.5.4.11", printable, "apic-istio-pki example apic-client"],
                ["2.5.4.3", cnType, cn],
            ]);
        }
    });

    it("refuses control characters in a CSR's subject and in the names of the files it reads and writes, so that the review shows what is signed", async () => {
        // What the terminal would show of O: "Example Bank" on the review line, then a made-up line.
        const organization = "Evil Corp\u001b[2K\rExample Bank\n  subject       fine";
        const forged = opensslCsr(dir, "forged-subject", P256, `/O=${organization}/CN=example APIC client CA`);
        const logBefore = logOf(root);
        const refused = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", forged, "--yes");
        assert.deepStrictEqual(
            [refused.status, refused.out, refused.err],
            [
                1,
                "",
                `error: ${forged}: the CSR's subject O is "Evil Corp\\u001b[2K\\rExample Bank\\n  subject       fine", with control characters, ` +
                    "which would make the terminal show another name than the one signed; a CA's name never has them " +
                    "(the stack refuses them in pki:organization): sign only the CSR the stack exported\n",
            ],
        );
        assert.ok(!fs.existsSync(forged.replace(/\.csr$/, ".crt")), "nothing was written");
        const escaped = writeTemp(dir, "apic-client-ca\u001b[1A.csr", fs.readFileSync(csr, "utf8"));
        const series = path.join(dir, "crls\r.pem");
        const cases: [string[], string][] = [
            [
                ["sign", "--root", root, "--csr", escaped, "--yes"],
                `error: --csr must not contain control characters (the ceremony shows it to the people at the ceremony); got ${JSON.stringify(escaped)}: rename it`,
            ],
            [
                ["sign", "--root", root, "--csr", csr, "--out", `${escaped}.crt`, "--yes"],
                `error: --out must not contain control characters (the ceremony shows it to the people at the ceremony); got ${JSON.stringify(`${escaped}.crt`)}: rename it`,
            ],
            [
                ["crl", "--root", root, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
                `error: --out must not contain control characters (the ceremony shows it to the people at the ceremony); got ${JSON.stringify(series)}: rename it`,
            ],
        ];
        for (const [args, message] of cases) {
            const result = await ceremony(PASSPHRASE, ...args);
            assert.deepStrictEqual([args[0], result.status, result.err.split("\n")[0]], [args[0], 2, message]);
        }
        assert.ok(!fs.existsSync(`${escaped}.crt`) && !fs.existsSync(series), "nothing was written");
        assert.strictEqual(logOf(root), logBefore, "nothing was signed");
    });

    it("refuses a --revoke reason that is not one of RFC 5280's, the names every object has (constructor, toString, __proto__) included", async () => {
        const target = path.join(dir, "reasons.crt");
        const reasonsCsr = opensslCsr(dir, "reasons", P256, STACK_SUBJECT);
        const { serial, issued } = await signedBy(root, reasonsCsr, target);
        const series = path.join(dir, "reasons.pem");
        const logBefore = logOf(root);
        for (const reason of ["constructor", "toString", "__proto__", "hasOwnProperty", "compromised"]) {
            const revoke = `${serial}:${reason}:${issued}`;
            const result = await ceremony(
                PASSPHRASE,
                ...["crl", "--root", root, "--period-days", "7", "--periods", "2", "--revoke", revoke],
                ...["--from", issued, "--out", series, "--yes"],
            );
            assert.deepStrictEqual(
                [reason, result.status, result.err.split("\n")[0]],
                [
                    reason,
                    2,
                    `error: --revoke ${revoke}: the reason must be one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, ` +
                        `cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise; got "${reason}"`,
                ],
            );
        }
        assert.ok(!fs.existsSync(series), "nothing was written");
        assert.strictEqual(logOf(root), logBefore, "nothing was signed");
    });

    it("never certifies again a key whose certificate the root revoked for keyCompromise or cACompromise, as its issuance log records", async () => {
        const compromiseRoot = await newRoot("compromise-root", "apic-client");
        const reasons = ["keyCompromise", "cACompromise", "superseded"];
        const csrs = reasons.map((reason) => opensslCsr(dir, `revoked-${reason}`, P256, STACK_SUBJECT));
        const signed = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", compromiseRoot, ...csrs.flatMap((file) => ["--csr", file]), "--yes"],
        );
        assert.strictEqual(signed.status, 0, signed.err);
        const certs = csrs.map((file) => fs.readFileSync(file.replace(/\.csr$/, ".crt"), "utf8"));
        const serials = certs.map((pem) => new crypto.X509Certificate(pem).serialNumber);
        const issued = opensslNotBefore(csrs[0].replace(/\.csr$/, ".crt"));
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", compromiseRoot, "--period-days", "7", "--periods", "2", "--from", issued],
            ...serials.flatMap((serial, i) => ["--revoke", `${serial}:${reasons[i]}:${issued}`]),
            ...["--out", path.join(dir, "compromise.pem"), "--yes"],
        );
        assert.strictEqual(crl.status, 0, crl.err);
        // The same CSRs under other names, as a stale copy would come back to a later ceremony.
        const again = csrs.map((file, i) => writeTemp(dir, `again-${reasons[i]}.csr`, fs.readFileSync(file, "utf8")));
        const logBefore = logOf(compromiseRoot);
        for (const [i, reason] of reasons.slice(0, 2).entries()) {
            const refused = await ceremony(PASSPHRASE, "sign", "--root", compromiseRoot, "--csr", again[i], "--yes");
            assert.deepStrictEqual(
                [reason, refused.status, refused.err],
                [
                    reason,
                    1,
                    `error: --csr ${again[i]} is for a key this root revoked as compromised: serial ${serials[i]} (${reason}, revoked at ${issued} in CRL 1, ` +
                        `SPKI SHA-256 ${opensslSpkiSha256(certs[i], "cert")}); a compromised key is never certified again: ` +
                        "have the stack make the CA a new key (a staged rotation, pki:caRotation) and sign its CSR\n",
                ],
            );
            assert.ok(!fs.existsSync(again[i].replace(/\.csr$/, ".crt")), `${reason}: nothing was written`);
        }
        assert.strictEqual(logOf(compromiseRoot), logBefore, "nothing was signed");
        // A key whose certificate was superseded is not in other hands: it may be certified again.
        const superseded = await ceremony(PASSPHRASE, "sign", "--root", compromiseRoot, "--csr", again[2], "--yes");
        assert.strictEqual(superseded.status, 0, superseded.err);
    });

    it("never certifies a key written in another form than the stack writes it (an EC point compressed, explicit curve parameters, RSA without NULL parameters): a key revoked for keyCompromise does not come back in another form", async () => {
        const formsRoot = await newRoot("forms-root", "apic-client");
        /** A CSR under the stack's subject for the key DIR/<name>.key as `openssl ec <ecArgs>` rewrites it: the same key in another form. */
        const rewritten = (name: string, form: string, ...ecArgs: string[]): string => {
            const key = path.join(dir, `${name}-${form}.key`);
            const file = path.join(dir, `${name}-${form}.csr`);
            execFileSync("openssl", ["ec", "-in", path.join(dir, `${name}.key`), ...ecArgs, "-out", key], {
                stdio: "ignore",
            });
            execFileSync("openssl", ["req", "-new", "-key", key, "-subj", STACK_SUBJECT, "-out", file]);
            return file;
        };
        // A key signed and revoked for keyCompromise, then brought back in another form.
        const ecCsr = opensslCsr(dir, "forms-ec", P256, STACK_SUBJECT);
        const compressed = rewritten("forms-ec", "compressed", "-conv_form", "compressed");
        const explicit = rewritten("forms-ec", "explicit", "-param_enc", "explicit");
        const rsaCsr = opensslCsr(
            dir,
            "forms-rsa",
            ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            STACK_SUBJECT,
        );
        const rsaKey = crypto.createPrivateKey(fs.readFileSync(path.join(dir, "forms-rsa.key")));
        const withoutNull = AsnConvert.parse(
            crypto.createPublicKey(rsaKey).export({ type: "spki", format: "der" }),
            SubjectPublicKeyInfo,
        );
        withoutNull.algorithm = new AlgorithmIdentifier({ algorithm: "1.2.840.113549.1.1.1" });
        const noNull = stackCsr(dir, "forms-rsa-no-null", withoutNull, (info) => crypto.sign("sha256", info, rsaKey));
        const spkiOf = (file: string): SubjectPublicKeyInfo => {
            const der = Buffer.from(fs.readFileSync(file, "utf8").replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
            return AsnConvert.parse(der, CertificationRequest).certificationRequestInfo.subjectPKInfo;
        };
        const firstByte = (bytes: ArrayBuffer | null | undefined): number | undefined =>
            bytes === undefined || bytes === null ? undefined : new Uint8Array(bytes)[0];
        assert.deepStrictEqual(
            [
                firstByte(spkiOf(ecCsr).subjectPublicKey),
                firstByte(spkiOf(compressed).subjectPublicKey) === 0x02 ||
                    firstByte(spkiOf(compressed).subjectPublicKey) === 0x03,
                firstByte(spkiOf(explicit).algorithm.parameters),
                spkiOf(noNull).algorithm.parameters,
            ],
            [0x04, true, 0x30, undefined],
            "the point uncompressed, then compressed; the curve's parameters a SEQUENCE, not its OID; no RSA parameters",
        );

        const signed = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            formsRoot,
            "--csr",
            ecCsr,
            "--csr",
            rsaCsr,
            "--yes",
        );
        assert.strictEqual(signed.status, 0, signed.err);
        const certs = [ecCsr, rsaCsr].map((file) => file.replace(/\.csr$/, ".crt"));
        const issued = opensslNotBefore(certs[0]);
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", formsRoot, "--period-days", "7", "--periods", "2", "--from", issued],
            ...certs.flatMap((file) => [
                "--revoke",
                `${new crypto.X509Certificate(fs.readFileSync(file)).serialNumber}:keyCompromise:${issued}`,
            ]),
            ...["--out", path.join(dir, "forms.pem"), "--yes"],
        );
        assert.strictEqual(crl.status, 0, crl.err);
        const logBefore = logOf(formsRoot);
        const ecRefused = (file: string, how: string) =>
            `error: ${file}: the CSR's key is ECDSA P-256 with ${how}; a CA's key must be written as the stack writes it (a named curve, the point uncompressed), ` +
            "the only form Go reads in a certificate (istiod, the Pulumi TLS provider): sign only the CSR the stack exported\n";
        const twice = opensslCsr(dir, "forms-twice", P256, STACK_SUBJECT);
        const twiceCompressed = rewritten("forms-twice", "compressed", "-conv_form", "compressed");
        const cases: [string[], string][] = [
            [["--csr", compressed], ecRefused(compressed, "its point in compressed form")],
            [["--csr", explicit], ecRefused(explicit, "its curve given by explicit parameters")],
            [
                ["--csr", noNull],
                `error: ${noNull}: the CSR's key is RSA 3072 encoded otherwise than the stack encodes it (RFC 3279: NULL parameters, minimal integers); ` +
                    "Go would not read the certificate (istiod, the Pulumi TLS provider): sign only the CSR the stack exported\n",
            ],
            // A key never signed, given twice in two forms.
            [["--csr", twice, "--csr", twiceCompressed], ecRefused(twiceCompressed, "its point in compressed form")],
        ];
        for (const [args, message] of cases) {
            const refused = await ceremony(PASSPHRASE, "sign", "--root", formsRoot, ...args, "--yes");
            assert.deepStrictEqual([args, refused.status, refused.err], [args, 1, message]);
        }
        assert.strictEqual(logOf(formsRoot), logBefore, "nothing was signed");
        assert.deepStrictEqual(
            [compressed, explicit, noNull, twice].filter((file) => fs.existsSync(file.replace(/\.csr$/, ".crt"))),
            [],
            "nothing was written",
        );
    });

    it("never certifies again a key revoked for keyCompromise in a log written before keys were hashed canonically, whose certificate carried the key compressed or with explicit parameters", async () => {
        const oldLogRoot = await newRoot("old-log-root", "apic-client");
        // Certificates as the ceremony signed them before it refused such CSRs (openssl x509 -req
        // signs one alike), each logged with the SHA-256 of its key as encoded, which
        // `openssl pkey -pubin -outform DER` keeps: an old log, appended here as that version wrote it.
        const forms = [
            ["compressed", "-conv_form", "compressed"],
            ["explicit", "-param_enc", "explicit"],
        ];
        const csrs = forms.map(([form]) => opensslCsr(dir, `old-log-${form}`, P256, STACK_SUBJECT));
        const oldCerts = forms.map(([form, ...ecArgs], i) => {
            const key = path.join(dir, `old-log-${form}-rewritten.key`);
            const cert = path.join(dir, `old-log-${form}-rewritten.crt`);
            execFileSync("openssl", ["ec", "-in", path.join(dir, `old-log-${form}.key`), ...ecArgs, "-out", key], {
                stdio: "ignore",
            });
            const csr = execFileSync("openssl", ["req", "-new", "-key", key, "-subj", STACK_SUBJECT]);
            execFileSync(
                "openssl",
                [
                    ...["x509", "-req", "-days", "1095", "-set_serial", `0x4F1D0C0000000000000000000000000${i}`],
                    ...["-CA", path.join(oldLogRoot, ROOT_CERT), "-CAkey", path.join(oldLogRoot, ROOT_KEY)],
                    ...["-passin", `pass:${PASSPHRASE}`, "-out", cert],
                ],
                { input: csr, stdio: ["pipe", "ignore", "ignore"] },
            );
            return fs.readFileSync(cert, "utf8");
        });
        const serials = oldCerts.map((pem) => new crypto.X509Certificate(pem).serialNumber);
        const oldHashes = oldCerts.map((pem) => opensslSpkiSha256(pem, "cert"));
        const canonicalHashes = csrs.map((file) => opensslSpkiSha256(fs.readFileSync(file, "utf8"), "csr"));
        assert.deepStrictEqual(
            oldHashes.map((hash, i) => hash === canonicalHashes[i]),
            [false, false],
            "the old log's hash is not the canonical one",
        );
        // Revoked once both were issued (openssl may have signed them a second apart).
        const issued = forms
            .map(([form]) => opensslNotBefore(path.join(dir, `old-log-${form}-rewritten.crt`)))
            .reduce((a, b) => (a > b ? a : b));
        for (const [i, pem] of oldCerts.entries()) {
            const cert = new crypto.X509Certificate(pem);
            const record = {
                ...{ time: issued, event: "certificate", environment: "example", trustDomain: "apic-client" },
                ...{
                    serial: serials[i],
                    subject: "O=Example Bank, CN=example APIC client CA",
                    spkiSha256: oldHashes[i],
                },
                ...{
                    notBefore: new Date(cert.validFrom).toISOString(),
                    notAfter: new Date(cert.validTo).toISOString(),
                },
            };
            fs.appendFileSync(path.join(oldLogRoot, ISSUANCE_LOG), `${JSON.stringify(record)}\n`);
        }
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", oldLogRoot, "--period-days", "7", "--periods", "2", "--from", issued],
            ...serials.flatMap((serial) => ["--revoke", `${serial}:keyCompromise:${issued}`]),
            ...["--out", path.join(dir, "old-log.pem"), "--yes"],
        );
        assert.strictEqual(crl.status, 0, crl.err);

        // The same keys, uncompressed under their curve's name as the stack writes them.
        const logBefore = logOf(oldLogRoot);
        for (const [i, csr] of csrs.entries()) {
            const refused = await ceremony(PASSPHRASE, "sign", "--root", oldLogRoot, "--csr", csr, "--yes");
            assert.deepStrictEqual(
                [forms[i][0], refused.status, refused.err],
                [
                    forms[i][0],
                    1,
                    `error: --csr ${csr} is for a key this root revoked as compromised: serial ${serials[i]} (keyCompromise, revoked at ${issued} in CRL 1, ` +
                        `SPKI SHA-256 ${canonicalHashes[i]}); a compromised key is never certified again: ` +
                        "have the stack make the CA a new key (a staged rotation, pki:caRotation) and sign its CSR\n",
                ],
            );
            assert.ok(!fs.existsSync(csr.replace(/\.csr$/, ".crt")), `${forms[i][0]}: nothing was written`);
        }
        assert.strictEqual(logOf(oldLogRoot), logBefore, "nothing was signed");
    });

    it("refuses a root folder whose issuance.log is another root's (copied in from another folder) or holds another root's records after its own (spliced), before signing anything", async () => {
        const other = await newRoot("other-log-root", "gateway-server");
        const mixed = path.join(dir, "mixed-root");
        fs.mkdirSync(mixed, { mode: 0o700 });
        for (const name of [ROOT_KEY, ROOT_CERT]) fs.copyFileSync(path.join(root, name), path.join(mixed, name));
        fs.copyFileSync(path.join(other, ISSUANCE_LOG), path.join(mixed, ISSUANCE_LOG));
        for (const name of [ROOT_KEY, ISSUANCE_LOG]) fs.chmodSync(path.join(mixed, name), 0o600);
        const certOf = (folder: string): string => fs.readFileSync(path.join(folder, ROOT_CERT), "utf8");
        const serialOf = (folder: string): string => new crypto.X509Certificate(certOf(folder)).serialNumber;
        const message =
            `error: ${path.join(mixed, ISSUANCE_LOG)} is the log of another root than ${path.join(mixed, ROOT_CERT)}: its root record has ` +
            `serial ${serialOf(other)} where root.crt has ${serialOf(root)}, ` +
            `SPKI SHA-256 ${opensslSpkiSha256(certOf(other), "cert")} where root.crt has ${opensslSpkiSha256(certOf(root), "cert")}, ` +
            `subject "O=Example Bank, OU=apic-istio-pki example gateway-server, CN=Example Bank other-log-root" where root.crt has "O=Example Bank, OU=apic-istio-pki example apic-client, CN=Example Bank APIC Client Root", ` +
            "trust domain gateway-server where root.crt has apic-client; signing with it would reuse the real root's CRL numbers and miss what its log records: " +
            "put the folder's own issuance.log back (from the ceremony's archive), never another root's\n";
        const logBefore = logOf(mixed);
        const series = path.join(dir, "mixed.pem");
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", mixed, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
        );
        const mixedCsr = opensslCsr(dir, "mixed", P256, STACK_SUBJECT);
        const sign = await ceremony(PASSPHRASE, "sign", "--root", mixed, "--csr", mixedCsr, "--yes");
        assert.deepStrictEqual([crl.status, crl.err, sign.status, sign.err], [1, message, 1, message]);
        assert.strictEqual(logOf(mixed), logBefore, "nothing was signed");
        assert.ok(!fs.existsSync(series) && !fs.existsSync(mixedCsr.replace(/\.csr$/, ".crt")), "nothing was written");

        // The folder's own root record, then the other root's CRLs (spliced), or a copy of them
        // claiming this root's trust domain: its issuer still tells.
        const otherCrls = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", other, "--period-days", "7", "--periods", "2", "--out", path.join(dir, "other.pem")],
            "--yes",
        );
        assert.strictEqual(otherCrls.status, 0, otherCrls.err);
        const [crlRecord] = lines(path.join(other, ISSUANCE_LOG)).slice(1);
        const otherIssuer =
            '"O=Example Bank, OU=apic-istio-pki example gateway-server, CN=Example Bank other-log-root"';
        const ownIssuer = '"O=Example Bank, OU=apic-istio-pki example apic-client, CN=Example Bank APIC Client Root"';
        const otherSerial = `root serial ${serialOf(other)} where root.crt has ${serialOf(root)}`;
        // A root re-made under the same name (environment, trust domain, CN, O): only the root
        // serial in its records tells them from the folder's root's.
        const remade = path.join(dir, "remade-root");
        const remadeInit = await ceremony(
            PASSPHRASE,
            ...initRootArgs(remade, "Example Bank APIC Client Root", "--org", "Example Bank", "--key", "ECDSA"),
        );
        assert.strictEqual(remadeInit.status, 0, remadeInit.err);
        const remadeCrt = path.join(dir, "remade.crt");
        const remadeSign = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            remade,
            "--csr",
            csr,
            "--out",
            remadeCrt,
            "--yes",
        );
        assert.strictEqual(remadeSign.status, 0, remadeSign.err);
        const remadeCert = new crypto.X509Certificate(fs.readFileSync(remadeCrt));
        const remadeCrls = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", remade, "--period-days", "7", "--periods", "1", "--out", path.join(dir, "remade.pem")],
            ...[
                "--revoke",
                `${remadeCert.serialNumber}:superseded:${new Date(remadeCert.validFrom).toISOString()}`,
                "--yes",
            ],
        );
        assert.strictEqual(remadeCrls.status, 0, remadeCrls.err);
        const [remadeCertificate, remadeCrl] = lines(path.join(remade, ISSUANCE_LOG)).slice(1);
        const remadeDifference = `root serial ${serialOf(remade)} where root.crt has ${serialOf(root)}`;
        const spliced: [string, string][] = [
            [
                crlRecord,
                `${otherSerial}, trust domain gateway-server where root.crt has apic-client, issuer ${otherIssuer} where root.crt has ${ownIssuer}`,
            ],
            [
                JSON.stringify({ ...JSON.parse(crlRecord), trustDomain: "apic-client" }),
                `${otherSerial}, issuer ${otherIssuer} where root.crt has ${ownIssuer}`,
            ],
            [lines(path.join(other, ISSUANCE_LOG))[0], ""],
            [remadeCertificate, remadeDifference],
            [remadeCrl, remadeDifference],
        ];
        for (const [record, differences] of spliced) {
            fs.writeFileSync(path.join(mixed, ISSUANCE_LOG), `${lines(path.join(root, ISSUANCE_LOG))[0]}\n${record}\n`);
            const splicedLog = logOf(mixed);
            const refused = await ceremony(
                PASSPHRASE,
                ...["crl", "--root", mixed, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
            );
            const expected =
                differences === ""
                    ? `error: ${path.join(mixed, ISSUANCE_LOG)} line 2 is the record of a root again; a log holds one root's records: ` +
                      "put the folder's own issuance.log back (from the ceremony's archive), never another root's\n"
                    : `error: ${path.join(mixed, ISSUANCE_LOG)} line 2 is a record of another root than ${path.join(mixed, ROOT_CERT)}: it has ${differences}; ` +
                      "signing with it would number CRLs on from that root's and take its serials for this root's: " +
                      "put the folder's own issuance.log back (from the ceremony's archive), never another root's\n";
            assert.deepStrictEqual([refused.status, refused.err], [1, expected]);
            assert.strictEqual(logOf(mixed), splicedLog, "nothing was signed");
            assert.ok(!fs.existsSync(series), "nothing was written");
        }
        // After a blank line, the spliced record is named by its line in the file.
        fs.writeFileSync(
            path.join(mixed, ISSUANCE_LOG),
            `${lines(path.join(root, ISSUANCE_LOG))[0]}\n\n${lines(path.join(other, ISSUANCE_LOG))[0]}\n`,
        );
        const blank = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", mixed, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
        );
        assert.deepStrictEqual(
            [blank.status, blank.err],
            [
                1,
                `error: ${path.join(mixed, ISSUANCE_LOG)} line 3 is the record of a root again; a log holds one root's records: ` +
                    "put the folder's own issuance.log back (from the ceremony's archive), never another root's\n",
            ],
        );
    });

    it("refuses a root.crt changed since init-root (a byte of its key identifier; a notAfter its log does not record) before signing anything, and names the root's key by its own hash in what it signs", async () => {
        /** A copy of the root folder whose root.crt is `certPem`. */
        const copyWith = (name: string, certPem: string): string => {
            const copy = path.join(dir, name);
            fs.mkdirSync(copy, { mode: 0o700 });
            for (const file of [ROOT_KEY, ISSUANCE_LOG]) {
                fs.copyFileSync(path.join(root, file), path.join(copy, file));
                fs.chmodSync(path.join(copy, file), 0o600);
            }
            fs.writeFileSync(path.join(copy, ROOT_CERT), certPem, { mode: 0o644 });
            return copy;
        };
        const realPem = fs.readFileSync(path.join(root, ROOT_CERT), "utf8");
        const real = new crypto.X509Certificate(realPem);
        /** SHA-1 of the root key's subjectPublicKey bits (RFC 5280 4.2.1.2 method 1), in hex. */
        const keyId = crypto
            .createHash("sha1")
            .update(
                Buffer.from(
                    AsnConvert.parse(real.publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo)
                        .subjectPublicKey,
                ),
            )
            .digest("hex");
        /** The keyid of a certificate's extension `ext` (subjectKeyIdentifier, authorityKeyIdentifier), as openssl prints it. */
        const keyIdIn = (pem: string, ext: string): string =>
            execFileSync("openssl", ["x509", "-noout", "-ext", ext], { input: pem, encoding: "utf8" })
                .split("\n")[1]
                .trim()
                .replace(/^keyid:/, "")
                .replace(/:/g, "")
                .toLowerCase();
        assert.strictEqual(keyIdIn(realPem, "subjectKeyIdentifier"), keyId);

        // A byte of the SKI flipped: its self-signature breaks. Signed, the CA would name a key no root has.
        const der = Buffer.from(real.raw);
        const at = der.indexOf(Buffer.from("0603551d0e04160414", "hex")) + 9;
        der[at] ^= 0x01;
        const flippedPem = `-----BEGIN CERTIFICATE-----\n${der
            .toString("base64")
            .match(/.{1,64}/g)
            ?.join("\n")}\n-----END CERTIFICATE-----\n`;
        const flipped = copyWith("flipped-ski-root", flippedPem);
        const logBefore = logOf(flipped);
        const flippedCsr = opensslCsr(dir, "flipped-ski", P256, STACK_SUBJECT);
        const series = path.join(dir, "flipped-ski.pem");
        const sign = await ceremony(PASSPHRASE, "sign", "--root", flipped, "--csr", flippedCsr, "--yes");
        const crl = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", flipped, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
        );
        const notSelfSigned =
            `error: ${path.join(flipped, ROOT_CERT)} is not signed by its own key, as init-root made it (its signature, issuer or key identifiers do not match its own key and subject): ` +
            "it was changed since, and what the root signs takes its dates and key identifier from it; nothing was signed or written: " +
            "put root.crt back from the ceremony's write-once archive\n";
        assert.deepStrictEqual([sign.status, sign.err, crl.status, crl.err], [1, notSelfSigned, 1, notSelfSigned]);
        assert.strictEqual(logOf(flipped), logBefore, "nothing was signed");
        assert.ok(
            !fs.existsSync(flippedCsr.replace(/\.csr$/, ".crt")) && !fs.existsSync(series),
            "nothing was written",
        );
        // Nor does the library copy such an SKI into the AKI: it names the key by its hash.
        const rootKeyPem = execFileSync(
            "openssl",
            ["pkey", "-in", path.join(root, ROOT_KEY), "-passin", `pass:${PASSPHRASE}`],
            { encoding: "utf8" },
        );
        const csrPem = fs.readFileSync(flippedCsr, "utf8");
        const flippedId = Buffer.from(keyId, "hex");
        flippedId[0] ^= 0x01; // the SKI's first byte, as flipped in root.crt
        assert.throws(() => signIntermediate({ rootKeyPem, rootCertPem: flippedPem, csrPem, validityDays: 365 }), {
            message:
                `the root certificate's subject key identifier (${flippedId.toString("hex")}) is not the SHA-1 of its key (${keyId}) as init-root writes it, ` +
                "so a certificate it signs would name a key identifier its verifiers find in no root: sign with the root init-root made",
        });

        // The root key's own root.crt again (its serial, subject, notBefore), valid 3 years longer
        // than the one init-root made and its log records: CAs signed under it would outlive the root.
        const longer = rootRemade(realPem, rootKeyPem, "Example Bank APIC Client Root", 7300 + 3 * 365);
        assert.strictEqual(new crypto.X509Certificate(longer).subject, real.subject);
        const relabelled = copyWith("longer-root", longer);
        const longerCsr = opensslCsr(dir, "longer-root", P256, STACK_SUBJECT);
        const outliving = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", relabelled, "--csr", longerCsr, "--days", "8000", "--yes"],
        );
        const isoOf = (time: string): string => new Date(time).toISOString();
        assert.deepStrictEqual(
            [outliving.status, outliving.err],
            [
                1,
                `error: ${path.join(relabelled, ROOT_CERT)} is not the certificate init-root made for this root: the root record of ${path.join(relabelled, ISSUANCE_LOG)} has ` +
                    `notAfter ${isoOf(real.validTo)} where root.crt has ${isoOf(new crypto.X509Certificate(longer).validTo)}; ` +
                    "the root's certificates and CRLs take their dates from it, and its verifiers hold the one init-root made; nothing was signed or written: " +
                    "put root.crt back from the ceremony's write-once archive\n",
            ],
        );
        assert.ok(!fs.existsSync(longerCsr.replace(/\.csr$/, ".crt")), "nothing was written");

        // The root.crt init-root made: the CA's AKI is the hash of the root's key, and openssl chains it.
        const target = path.join(dir, "chained.crt");
        await signedBy(root, longerCsr, target);
        const signedPem = fs.readFileSync(target, "utf8");
        assert.strictEqual(keyIdIn(signedPem, "authorityKeyIdentifier"), keyId);
        const verified = openssl(["verify", "-x509_strict", "-CAfile", path.join(root, ROOT_CERT), target]);
        assert.strictEqual(verified.output, `${target}: OK\n`);
    });

    it("never certifies a key the root certified under another name, nor again while its certificate is in force unless --reissue names it", async () => {
        const first = opensslCsr(dir, "certified", P256, STACK_SUBJECT);
        const signed = await ceremony(PASSPHRASE, "sign", "--root", root, "--csr", first, "--yes");
        assert.strictEqual(signed.status, 0, signed.err);
        const firstPem = fs.readFileSync(path.join(dir, "certified.crt"), "utf8");
        const serial = new crypto.X509Certificate(firstPem).serialNumber;
        const spki = opensslSpkiSha256(firstPem, "cert");
        const until = new Date(new crypto.X509Certificate(firstPem).validTo).toISOString();
        // The same key under the name of the CA's next generation, and the same CSR again, as a later ceremony may get them.
        const renamed = path.join(dir, "renamed.csr");
        execFileSync("openssl", [
            "req",
            "-new",
            "-key",
            path.join(dir, "certified.key"),
            "-subj",
            `${STACK_SUBJECT} G2`,
            "-out",
            renamed,
        ]);
        const again = writeTemp(dir, "certified-again.csr", fs.readFileSync(first, "utf8"));
        const logBefore = logOf(root);
        const cases: [string, string[], string][] = [
            [
                "another name",
                ["--csr", renamed],
                `error: --csr ${renamed} is for a key this root certified as another CA: serial ${serial} ("O=Example Bank, CN=example APIC client CA", SPKI SHA-256 ${spki}); ` +
                    `a key is one CA's and is never certified under another name: sign the CSR the stack exported for "O=Example Bank, CN=example APIC client CA G2", with a key of its own`,
            ],
            [
                "the same name",
                ["--csr", again],
                `error: --csr ${again} is for a key this root certified already: serial ${serial} (O=Example Bank, CN=example APIC client CA, valid ${opensslNotBefore(path.join(dir, "certified.crt"))} to ${until}, not revoked); ` +
                    "a second certificate of it would stay trusted when a rotation revokes the one in use: deploy that one (if writing it failed, the ceremony showed its PEM). " +
                    `To sign the key again (that one dated on a wrong clock), add --reissue ${serial}, then revoke it with the next CRL series (--revoke ${serial}:superseded:TIME, TIME when that series is signed; crl signs none until one revokes it)`,
            ],
            [
                "--reissue of another serial",
                ["--csr", again, "--reissue", serial, "--reissue", "01"],
                `error: --reissue 01: ${path.join(root, ISSUANCE_LOG)} has no certificate with that serial, still valid and not revoked, of the key of a --csr given; name only the serial the refusal names`,
            ],
        ];
        for (const [label, args, expected] of cases) {
            const refused = await ceremony(PASSPHRASE, "sign", "--root", root, ...args, "--yes");
            assert.deepStrictEqual([label, refused.status, refused.err.split("\n")[0]], [label, 1, expected]);
        }
        assert.strictEqual(logOf(root), logBefore, "nothing was signed");
        const reissued = await ceremony(
            PASSPHRASE,
            "sign",
            "--root",
            root,
            "--csr",
            again,
            "--reissue",
            serial,
            "--yes",
        );
        assert.strictEqual(reissued.status, 0, reissued.err);
        const second = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certified-again.crt"), "utf8"));
        assert.notStrictEqual(second.serialNumber, serial);
        assert.strictEqual(opensslSpkiSha256(second.toString(), "cert"), spki);
        // The review the custodians confirm names the certificate replaced, and the end says to revoke it.
        const revoke = `revoke it with the next CRL series (--revoke ${serial}:superseded:TIME, TIME when that series is signed; crl signs none until one revokes it)`;
        const log = path.join(root, ISSUANCE_LOG);
        const logSha256 = crypto.createHash("sha256").update(fs.readFileSync(log)).digest("hex");
        assert.deepStrictEqual(reissued.out.split("\n").slice(-6), [
            `  replaces      serial ${serial}, valid ${opensslNotBefore(path.join(dir, "certified.crt"))} to ${until} (--reissue): it stays trusted until revoked`,
            `                ${revoke}`,
            `signed ${again}: serial ${second.serialNumber} -> ${path.join(dir, "certified-again.crt")}`,
            `serial ${serial} is replaced by serial ${second.serialNumber}: ${revoke}`,
            `${log} now has ${lines(log).length} records, SHA-256 ${logSha256}: record this in the change request`,
            "",
        ]);
    });

    /** A Date class whose clock (new Date(), Date.now()) says `at`, to patch into globalThis. */
    function clockAt(at: number): DateConstructor {
        const RealDate = Date;
        return class extends RealDate {
            constructor(...args: unknown[]) {
                super(...((args.length === 0 ? [at] : args) as [number]));
            }
            static now(): number {
                return at;
            }
        } as DateConstructor;
    }

    it("revokes at once a certificate signed on a clock ahead that --reissue replaced, and signs no CRL series until one revokes it", async () => {
        const aheadRoot = await newRoot("ahead-root", "apic-client");
        const aheadCsr = opensslCsr(dir, "ahead", P256, STACK_SUBJECT);
        const aheadSigned = await patched(globalThis, "Date", clockAt(Date.now() + 30 * 86_400_000), () =>
            ceremony(PASSPHRASE, "sign", "--root", aheadRoot, "--csr", aheadCsr, "--yes"),
        );
        assert.strictEqual(aheadSigned.status, 0, aheadSigned.err);
        const aheadCert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "ahead.crt"), "utf8"));
        const serial = aheadCert.serialNumber;
        const datedAhead = opensslNotBefore(path.join(dir, "ahead.crt"));
        const until = new Date(aheadCert.validTo).toISOString();
        const again = writeTemp(dir, "ahead-again.csr", fs.readFileSync(aheadCsr, "utf8"));
        const refused = await ceremony(PASSPHRASE, "sign", "--root", aheadRoot, "--csr", again, "--yes");
        assert.deepStrictEqual(
            [refused.status, refused.err.split("\n")[0]],
            [
                1,
                `error: --csr ${again} is for a key this root certified already: serial ${serial} (O=Example Bank, CN=example APIC client CA, valid ${datedAhead} to ${until}, not revoked); ` +
                    "a second certificate of it would stay trusted when a rotation revokes the one in use: deploy that one (if writing it failed, the ceremony showed its PEM). " +
                    `To sign the key again (that one dated on a wrong clock), add --reissue ${serial}, then revoke it with the next CRL series (--revoke ${serial}:superseded:TIME, TIME when that series is signed; crl signs none until one revokes it)`,
            ],
        );
        const reissued = await ceremony(
            PASSPHRASE,
            ...["sign", "--root", aheadRoot, "--csr", again, "--reissue", serial, "--yes"],
        );
        assert.strictEqual(reissued.status, 0, reissued.err);
        const replacement = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "ahead-again.crt"), "utf8"));
        const record = JSON.parse(lines(path.join(aheadRoot, ISSUANCE_LOG)).at(-1) ?? "");
        assert.deepStrictEqual([record.serial, record.replaces], [replacement.serialNumber, [serial]]);

        // The CRL ceremony an hour later; the certificate dated ahead is still not valid.
        const at = Math.floor(Date.now() / 1000) * 1000 + 3_600_000;
        const now = new Date(at).toISOString();
        const series = path.join(dir, "ahead.pem");
        const crl = (...revoke: string[]) =>
            patched(globalThis, "Date", clockAt(at), () =>
                ceremony(
                    PASSPHRASE,
                    ...["crl", "--root", aheadRoot, "--period-days", "7", "--periods", "2", "--out", series, "--yes"],
                    ...revoke,
                ),
            );
        const rootMade = opensslNotBefore(path.join(aheadRoot, ROOT_CERT));
        const beforeRoot = new Date(Date.parse(rootMade) - 1000).toISOString();
        const logBefore = logOf(aheadRoot);
        const cases: [string, string[], string][] = [
            [
                "no --revoke",
                [],
                `error: serial ${serial} was replaced by serial ${replacement.serialNumber} (sign --reissue, ${record.time}) and no CRL of this root revokes it: ` +
                    `both certificates of the key stay trusted until ${until}; add --revoke ${serial}:superseded:${now}\n`,
            ],
            [
                "revoked from its notBefore",
                ["--revoke", `${serial}:superseded:${datedAhead}`],
                `error: --revoke ${serial}: revoked at ${datedAhead}, which is in the future (now ${now}); give the time it was revoked\n`,
            ],
            [
                "revoked before the root was made",
                ["--revoke", `${serial}:superseded:${beforeRoot}`],
                `error: --revoke ${serial}: revoked at ${beforeRoot}, before the root was made (notBefore ${rootMade}); give the time it was revoked, ${rootMade} or later\n`,
            ],
        ];
        for (const [label, args, expected] of cases) {
            const crlRefused = await crl(...args);
            assert.deepStrictEqual([label, crlRefused.status, crlRefused.err], [label, 1, expected]);
        }
        assert.strictEqual(logOf(aheadRoot), logBefore, "nothing was signed");
        assert.ok(!fs.existsSync(series), "nothing was written");
        // Revoked now, before its notBefore (a month on): the advice the refusals give, accepted.
        const revoked = await crl("--revoke", `${serial}:superseded:${now}`);
        assert.strictEqual(revoked.status, 0, revoked.err);
        assert.match(
            openssl(["crl", "-noout", "-text", "-in", series]).output,
            new RegExp(`Serial Number: ${serial}\\n`),
        );
        // Once its notBefore passed, a later series repeats the revocation as the first dated it.
        const later = path.join(dir, "ahead-later.pem");
        const repeated = await patched(globalThis, "Date", clockAt(at + 31 * 86_400_000), () =>
            ceremony(
                PASSPHRASE,
                ...["crl", "--root", aheadRoot, "--period-days", "7", "--periods", "1", "--out", later, "--yes"],
                ...["--revoke", `${serial}:superseded:${now}`],
            ),
        );
        assert.strictEqual(repeated.status, 0, repeated.err);
        assert.match(
            openssl(["crl", "-noout", "-text", "-in", later]).output,
            new RegExp(`Serial Number: ${serial}\\n`),
        );
    });

    it("signs nothing on a clock before the root was made, whose certificate could be expired when it reaches the stack", async () => {
        const RealDate = Date;
        const behind = RealDate.parse("2020-01-01T00:00:00Z");
        class ClockBehind extends RealDate {
            constructor(...args: unknown[]) {
                super(...((args.length === 0 ? [behind] : args) as [number]));
            }
            static now(): number {
                return behind;
            }
        }
        const behindCsr = opensslCsr(dir, "behind", P256, STACK_SUBJECT);
        const logBefore = logOf(root);
        const refused = await patched(globalThis, "Date", ClockBehind, () =>
            ceremony(PASSPHRASE, "sign", "--root", root, "--csr", behindCsr, "--yes"),
        );
        const rootMade = opensslNotBefore(path.join(root, ROOT_CERT));
        assert.deepStrictEqual(
            [refused.status, refused.err],
            [
                1,
                `error: the clock says 2020-01-01T00:00:00.000Z, before the root was made (notBefore ${rootMade}); ` +
                    "a certificate is dated from this clock and never before its issuer existed: set the offline machine's clock right, then sign again\n",
            ],
        );
        assert.strictEqual(logOf(root), logBefore, "nothing was signed");
        assert.ok(!fs.existsSync(path.join(dir, "behind.crt")), "nothing was written");
    });

    it("refuses a CRL series dated before the root was made or valid after it expires, and a revocation dated before its certificate was issued", async () => {
        const datesRoot = await newRoot("dates-root", "apic-client", "--days", "90");
        const target = path.join(dir, "dates.crt");
        const { serial, issued } = await signedBy(datesRoot, csr, target, "--days", "30");
        const rootMade = opensslNotBefore(path.join(datesRoot, "root.crt"));
        const series = path.join(dir, "dates.pem");
        const crl = (periodDays: string, ...extra: string[]) =>
            ceremony(
                PASSPHRASE,
                "crl",
                "--root",
                datesRoot,
                "--period-days",
                periodDays,
                "--periods",
                "2",
                "--out",
                series,
                "--yes",
                ...extra,
            );
        const logBefore = logOf(datesRoot);
        const early = await crl("7", "--from", "1970-01-01");
        assert.strictEqual(
            early.err,
            `error: --from 1970-01-01T00:00:00.000Z is before the root was made (notBefore ${rootMade}); a CRL is never dated before its issuer existed: start the series at ${rootMade} or later\n`,
        );
        const late = await crl("31");
        assert.match(
            late.err,
            /^error: the series would be valid until \S+Z, after the root expires \(\S+Z\); sign fewer --periods\n$/,
        );
        const dayBefore = new Date(Date.parse(issued) - 86_400_000).toISOString();
        const beforeIssued = await crl("7", "--revoke", `${serial}:keyCompromise:${dayBefore}`);
        assert.strictEqual(
            beforeIssued.err,
            `error: --revoke ${serial}: revoked at ${dayBefore}, before the certificate was issued (notBefore ${issued} in issuance.log); give the time it was revoked, ${issued} or later\n`,
        );
        assert.strictEqual(logOf(datesRoot), logBefore, "nothing was signed");
        assert.ok(!fs.existsSync(series), "nothing was written");
        // Revoked when it was issued, in a series from then on: accepted.
        const accepted = await crl("7", "--revoke", `${serial}:keyCompromise:${issued}`, "--from", issued);
        assert.strictEqual(accepted.status, 0, accepted.err);
        assert.match(
            openssl(["crl", "-noout", "-text", "-in", series]).output,
            new RegExp(`Serial Number: ${serial}\\n`),
        );
    });

    it("warns before signing a series that revokes what an earlier series' CRLs still valid do not, and the stack publishes the later series' CRL, by its number, where OpenSSL given both takes the earlier by its date", async () => {
        const overlapRoot = await newRoot("overlap-root", "apic-client");
        const rootCrt = path.join(overlapRoot, "root.crt");
        const target = path.join(dir, "overlap.crt");
        const { serial, issued } = await signedBy(overlapRoot, csr, target);
        const series = async (name: string, ...extra: string[]) => {
            const file = path.join(dir, `${name}.pem`);
            const signedSeries = await ceremony(
                PASSPHRASE,
                ...["crl", "--root", overlapRoot, "--period-days", "7", "--periods", "3", "--out", file, "--yes"],
                ...extra,
            );
            assert.strictEqual(signedSeries.status, 0, signedSeries.err);
            const pem = fs.readFileSync(file, "utf8");
            return { review: signedSeries.out, pem, crls: pemBlocks(pem, "X509 CRL").map((c) => parseCrl(c)) };
        };
        // CRLs 1 to 3 and 4 to 6, nothing revoked; then 7 to 9 from three days on, revoking the CA.
        const first = await series("overlap-1");
        const second = await series("overlap-2");
        assert.ok(!first.review.includes("warning") && !second.review.includes("warning"), second.review);
        const from = new Date(first.crls[0].thisUpdate.getTime() + 3 * 86_400_000).toISOString();
        const revoking = await series("overlap-3", "--from", from, "--revoke", `${serial}:keyCompromise:${issued}`);
        assert.deepStrictEqual(
            revoking.crls.map((c) => [c.number, c.thisUpdate.toISOString(), c.revokedSerials]),
            [0, 1, 2].map((i) => [7 + i, new Date(Date.parse(from) + i * 7 * 86_400_000).toISOString(), [serial]]),
        );
        assert.ok(
            revoking.review.includes(
                `  warning       earlier CRLs 1 to 6 do not revoke ${serial} and stay valid until ${second.crls[2].nextUpdate.toISOString()}, after this series starts\n` +
                    "                this stack publishes the valid CRL with the highest number, but a relying party given both series that\n" +
                    "                picks by date, as OpenSSL does, takes an earlier CRL dated later than this series' one and misses the revocation:\n" +
                    "                replace pki:offlineRoots.<root>.crls with the crls.pem written now, never append it to the earlier series\n",
            ),
            revoking.review,
        );
        // A custodian appends the new series to the config value of the first: a week on, CRL 2
        // (nothing revoked) is dated after CRL 7, both valid.
        const appended = first.pem + revoking.pem;
        const at = new Date(first.crls[1].thisUpdate.getTime() + 3_600_000);
        const picked = pickSeriesCrl({
            key: "pki:offlineRoots.clientRoot.crls",
            series: pemBlocks(appended, "X509 CRL"),
            rootCertPem: fs.readFileSync(rootCrt, "utf8"),
            now: at,
            required: [],
            why: "a test",
            command: "npx apic-istio-pki ceremony crl ...",
        });
        assert.ok("crl" in picked, JSON.stringify(picked));
        assert.deepStrictEqual([picked.crl.number, picked.crl.revokedSerials], [7, [serial]]);
        const verify = (name: string, crls: string): string =>
            openssl([
                ...["verify", "-crl_check", "-attime", `${Math.floor(at.getTime() / 1000)}`],
                ...["-CAfile", rootCrt, "-CRLfile", writeTemp(dir, name, crls), target],
            ]).output;
        assert.match(verify("overlap-picked.pem", picked.crl.pem), /error 23 at 0 depth lookup: certificate revoked/);
        // What the warning is for: OpenSSL, given both series, takes CRL 2 by its date.
        assert.match(verify("overlap-appended.pem", appended), /: OK\n$/);
    });

    it("locks the root folder from before a sign or crl reads its log until it appends what it signed: another on the folder is refused at once, writing nothing", async () => {
        const lockedRoot = await newRoot("locked-root", "apic-client");
        const lock = path.join(lockedRoot, ".ceremony.lock");
        const series = (name: string) => [
            "crl",
            "--root",
            lockedRoot,
            "--period-days",
            "7",
            "--periods",
            "2",
            "--out",
            path.join(dir, name),
        ];
        const lockedCsr = opensslCsr(dir, "locked", P256, STACK_SUBJECT);
        const logBefore = logOf(lockedRoot);
        let holder = undefined as { pid: number; started: string } | undefined;
        const others: { status: number; out: string; err: string }[] = [];
        // While the first series waits for its "yes", a second series and a sign are started.
        const first = await ceremonyOnTerminal(
            [
                [
                    'Sign this series? Type "yes": ',
                    "yes",
                    () => {
                        holder = fs.existsSync(lock) ? JSON.parse(fs.readFileSync(lock, "utf8")) : undefined;
                        others.push(ceremonyPiped(PASSPHRASE, "", ...series("second.pem"), "--yes"));
                        others.push(
                            ceremonyPiped(PASSPHRASE, "", "sign", "--root", lockedRoot, "--csr", lockedCsr, "--yes"),
                        );
                    },
                ],
                ["Passphrase of the root key: ", PASSPHRASE],
            ],
            ...series("first.pem"),
            ...["--log-sha256", sha256sum(path.join(lockedRoot, ISSUANCE_LOG))],
        );
        assert.ok(holder !== undefined, "the first holds the lock while it asks");
        const { pid, started } = holder;
        const held = `error: --root ${lockedRoot} is in use: its lock ${lock} is held by pid ${pid} on ${os.hostname()} since ${started}; wait for that ceremony command to end, or if none is running, remove ${lock}\n`;
        assert.deepStrictEqual(others, [
            { status: 1, out: "", err: held },
            { status: 1, out: "", err: held },
        ]);
        assert.ok(!fs.existsSync(path.join(dir, "second.pem")) && !fs.existsSync(path.join(dir, "locked.crt")));
        assert.strictEqual(first.status, 0, first.transcript);
        assert.match(first.transcript, /signed CRLs 1 to 2 -> /);
        const crlNumbers = lines(path.join(lockedRoot, ISSUANCE_LOG))
            .slice(1)
            .map((line) => JSON.parse(line).crlNumber);
        assert.deepStrictEqual(crlNumbers, [1, 2], "the first series alone was logged");
        assert.ok(logOf(lockedRoot).startsWith(logBefore));
        assert.ok(!fs.existsSync(lock), "released once done");
        const after = await ceremony(PASSPHRASE, ...series("second.pem"), "--yes");
        assert.strictEqual(after.status, 0, after.err);
        assert.match(after.out, /signed CRLs 3 to 4 -> /);
    });

    it("never changes an earlier CRL's revocation, its reason or its time, but a certificateHold that becomes a permanent reason at the same time", async () => {
        const permRoot = await newRoot("permanent-root", "apic-client");
        const serials: string[] = [];
        for (const name of ["compromised", "held"]) {
            const target = path.join(dir, `${name}.crt`);
            const signed = await ceremony(
                PASSPHRASE,
                ...["sign", "--root", permRoot, "--csr", opensslCsr(dir, name, P256, STACK_SUBJECT), "--yes"],
            );
            assert.strictEqual(signed.status, 0, signed.err);
            serials.push(new crypto.X509Certificate(fs.readFileSync(target, "utf8")).serialNumber);
        }
        const [compromised, held] = serials;
        // The CRL ceremonies an hour later: revocations dated from then are not in the future.
        const at = Math.floor(Date.now() / 1000) * 1000 + 3_600_000;
        const first = new Date(at - 1_800_000).toISOString();
        const later = new Date(at - 600_000).toISOString();
        let n = 0;
        const crl = (...revoke: string[]) =>
            patched(globalThis, "Date", clockAt(at), () =>
                ceremony(
                    PASSPHRASE,
                    ...["crl", "--root", permRoot, "--period-days", "7", "--periods", "1", "--yes"],
                    ...["--out", path.join(dir, `permanent-${++n}.pem`)],
                    ...revoke.flatMap((r) => ["--revoke", r]),
                ),
            );
        const revoked = await crl(`${compromised}:keyCompromise:${first}`, `${held}:certificateHold:${first}`);
        assert.strictEqual(revoked.status, 0, revoked.err);
        const logBefore = logOf(permRoot);
        const refusal = (serial: string, was: string, given: string, at: string) =>
            `error: --revoke ${serial}: CRL 1 revoked it for ${was} at ${first}, and this gives ${given} at ${at}; ` +
            `a revocation never changes (only a certificateHold may become a permanent reason, at the same time): ` +
            `give the same reason and time as CRL 1, --revoke ${serial}:${was}:${first}\n`;
        const heldAsIs = `${held}:certificateHold:${first}`;
        const cases: [string, string[], string][] = [
            [
                "keyCompromise become a hold",
                [`${compromised}:certificateHold:${first}`, heldAsIs],
                refusal(compromised, "keyCompromise", "certificateHold", first),
            ],
            [
                "keyCompromise moved later",
                [`${compromised}:keyCompromise:${later}`, heldAsIs],
                refusal(compromised, "keyCompromise", "keyCompromise", later),
            ],
            [
                "keyCompromise become superseded",
                [`${compromised}:superseded:${first}`, heldAsIs],
                refusal(compromised, "keyCompromise", "superseded", first),
            ],
            [
                "a hold moved later",
                [`${compromised}:keyCompromise:${first}`, `${held}:certificateHold:${later}`],
                refusal(held, "certificateHold", "certificateHold", later),
            ],
            [
                "a hold become permanent later",
                [`${compromised}:keyCompromise:${first}`, `${held}:keyCompromise:${later}`],
                refusal(held, "certificateHold", "keyCompromise", later),
            ],
        ];
        for (const [label, revoke, expected] of cases) {
            const refused = await crl(...revoke);
            assert.deepStrictEqual([label, refused.status, refused.err], [label, 1, expected]);
        }
        assert.strictEqual(logOf(permRoot), logBefore, "nothing was signed");
        // The same again, and the hold become a permanent revocation from its time: accepted, and then kept.
        const kept = await crl(`${compromised}:keyCompromise:${first}`, `${held}:cessationOfOperation:${first}`);
        assert.strictEqual(kept.status, 0, kept.err);
        const unheld = await crl(`${compromised}:keyCompromise:${first}`, heldAsIs);
        assert.deepStrictEqual(
            [unheld.status, unheld.err],
            [
                1,
                `error: --revoke ${held}: CRL 2 revoked it for cessationOfOperation at ${first}, and this gives certificateHold at ${first}; ` +
                    `a revocation never changes (only a certificateHold may become a permanent reason, at the same time): ` +
                    `give the same reason and time as CRL 2, --revoke ${held}:cessationOfOperation:${first}\n`,
            ],
        );
        // Left out, the held serial is asked for as CRL 2 made it permanent, not as CRL 1 held it.
        const omitted = await crl(`${compromised}:keyCompromise:${first}`);
        assert.deepStrictEqual(
            [omitted.status, omitted.err.replace(/valid until \S+;/, "valid until <notAfter>;")],
            [
                1,
                `error: CRL 2 revoked serial ${held}, which is valid until <notAfter>; every later CRL must list it until then: ` +
                    `add --revoke ${held}:cessationOfOperation:${first}\n`,
            ],
        );
    });

    it("refuses an issuance.log line that parses but is not shaped as a record (a list of revocations missing, a CRL number as text) as it refuses one that does not parse", async () => {
        const shapeRoot = await newRoot("shape-root", "apic-client");
        const log = path.join(shapeRoot, ISSUANCE_LOG);
        const rootRecord = JSON.parse(lines(log)[0]);
        const now = new Date().toISOString();
        const crlRecord = {
            time: now,
            event: "crl",
            environment: "example",
            trustDomain: "apic-client",
            rootSerial: rootRecord.serial,
            crlNumber: 1,
            issuer: rootRecord.subject,
            thisUpdate: now,
            nextUpdate: now,
            revoked: [] as unknown,
        };
        const certificateRecord = { ...rootRecord, event: "certificate", rootSerial: rootRecord.serial };
        const written = fs.readFileSync(log, "utf8");
        const series = path.join(dir, "shape.pem");
        const target = path.join(dir, "shape.crt");
        const shapeCsr = opensslCsr(dir, "shape", P256, STACK_SUBJECT);
        const altered = `error: ${log} line 2 is not a record of this ceremony; the log was altered: restore it from the ceremony's archive\n`;
        const bad: [string, unknown][] = [
            ["a CRL without revocations", { ...crlRecord, revoked: undefined }],
            ["revocations not a list", { ...crlRecord, revoked: { serial: "01" } }],
            ["a revocation without a serial", { ...crlRecord, revoked: [{ reason: "superseded", revokedAt: now }] }],
            ["a CRL number as text", { ...crlRecord, crlNumber: "7" }],
            ["replaces not a list", { ...certificateRecord, replaces: "01" }],
            ["a serial as a number", { ...certificateRecord, serial: 1 }],
            ["an unknown event", { ...certificateRecord, event: "key" }],
            ["null", null],
            ["a list", []],
        ];
        for (const [label, record] of bad) {
            fs.writeFileSync(log, `${written}${JSON.stringify(record)}\n`);
            const crl = await ceremony(
                PASSPHRASE,
                ...["crl", "--root", shapeRoot, "--period-days", "7", "--periods", "1", "--out", series, "--yes"],
            );
            const sign = await ceremony(PASSPHRASE, "sign", "--root", shapeRoot, "--csr", shapeCsr, "--yes");
            assert.deepStrictEqual(
                [label, crl.status, crl.err, sign.status, sign.err],
                [label, 1, altered, 1, altered],
            );
            assert.ok(!fs.existsSync(series) && !fs.existsSync(target), `${label}: nothing was written`);
        }
        // The same record, well shaped: taken.
        fs.writeFileSync(log, `${written}${JSON.stringify(crlRecord)}\n`);
        const accepted = await ceremony(
            PASSPHRASE,
            ...["crl", "--root", shapeRoot, "--period-days", "7", "--periods", "1", "--out", series, "--yes"],
        );
        assert.strictEqual(accepted.status, 0, accepted.err);
        assert.match(accepted.out, /signed CRLs 2 to 2 -> /);
    });

    it("names a last issuance.log line without its newline: a cut one to remove with the whole records of its crl run before it, a whole one to look up and keep or remove; each line as the file counts it, blank lines included", async () => {
        const cutRoot = await newRoot("cut-root", "apic-client");
        const log = path.join(cutRoot, ISSUANCE_LOG);
        const series = path.join(dir, "cut.pem");
        const crlArgs = (periods: number) => [
            "crl",
            "--root",
            cutRoot,
            "--period-days",
            "7",
            "--periods",
            `${periods}`,
            "--out",
            series,
            "--yes",
        ];
        const signed = await ceremony(PASSPHRASE, ...crlArgs(1));
        assert.strictEqual(signed.status, 0, signed.err);
        fs.rmSync(series);
        const written = fs.readFileSync(log, "utf8");
        // The records of a later run of three CRLs (2, 3 and 4), in one write as crl appends them.
        const later = await ceremony(PASSPHRASE, ...crlArgs(3));
        assert.strictEqual(later.status, 0, later.err);
        fs.rmSync(series);
        const [, , crl2, crl3, crl4] = lines(log);
        const time2 = (JSON.parse(crl2) as { time: string }).time;
        const never = "then run the command again; never restore the log from the archive over it\n";
        const cut = (line: number) =>
            `error: ${log} line ${line}, its last, has no newline and is no whole record: it is a record whose writing was cut (a power cut), and what it records was never written out. `;
        const alone = (line: number) =>
            `${cut(line)}Remove that partial last line alone (keep every line before it: they record what the root really signed), ${never}`;
        const whole = (line: number, what: string, also: string, before: string) =>
            `error: ${log} line ${line}, its last, is a whole record of ${what} without its newline: either an editor saved the log without its final newline (and ${what} was written out), or a power cut stopped the crl that appended it just before its newline (and ${what} was never written out). ` +
            `Look for ${what} in the --out file the crl that logged it wrote, or on the ceremony's archive: if it is there, add the newline back (echo >> ${log}); ` +
            `if it is not, remove that line${also} (keep every line before ${before}: they record what the root really signed); ${never}`;
        const altered = (line: number) =>
            `error: ${log} line ${line} is not a record of this ceremony; the log was altered: restore it from the ceremony's archive\n`;
        const cases: [string, string][] = [
            // The first record of a run cut mid-way: it alone.
            [`${written}${crl2.slice(0, 40)}`, alone(3)],
            [`${written}\n\n${crl2.slice(0, 40)}`, alone(5)],
            // The third cut: the two whole records before it, of the same write, recorded CRLs never written out.
            [
                `${written}${crl2}\n${crl3}\n${crl4.slice(0, 40)}`,
                `${cut(5)}Remove it together with line 3 (CRL 2), line 4 (CRL 3): whole records the same crl run appended in the same write (time ${time2}), whose CRLs were never written out either ` +
                    `(keep every line before them: they record what the root really signed), ${never}`,
            ],
            // Cut inside its time: the crl records before it may be of its run.
            [
                `${written}${crl2.slice(0, 20)}`,
                `${cut(3)}Remove that partial last line; line 2 (CRL 1) may be of the same crl run (the line is cut before its time, which would tell): ` +
                    `look for CRL 1 in the --out file of the crl that logged it, or on the ceremony's archive: if it is not there, remove those lines too, as a crl writes its CRLs only once all its records are whole ` +
                    `(keep every line before them: they record what the root really signed); ${never}`,
            ],
            // A whole record without its newline: an editor's, or a cut just before the newline.
            [`${written}${crl2}`, whole(3, "CRL 2", "", "it")],
            [
                `${written}${crl2}\n${crl3}\n${crl4}`,
                whole(
                    5,
                    "CRL 4",
                    ` together with line 3 (CRL 2), line 4 (CRL 3), whole records of the same crl run (time ${time2}), whose CRLs were not written out either`,
                    "them",
                ),
            ],
            // An altered line after blank ones: named by its line in the file.
            [`${written}\n{}\n`, altered(4)],
        ];
        for (const [content, expected] of cases) {
            fs.writeFileSync(log, content);
            const refused = await ceremony(PASSPHRASE, ...crlArgs(1));
            assert.deepStrictEqual([refused.status, refused.out, refused.err], [1, "", expected]);
            assert.ok(!fs.existsSync(series), "nothing was written");
        }
        // A whole last record whose CRL exists, its newline added back: the next CRL takes the next number.
        fs.writeFileSync(log, `${written}${crl2}\n${crl3}\n${crl4}`);
        fs.appendFileSync(log, "\n");
        const next = await ceremony(PASSPHRASE, ...crlArgs(1));
        assert.strictEqual(next.status, 0, next.err);
        assert.match(next.out, /signed CRLs 5 to 5 -> /);
        fs.rmSync(series);
        // A cut run's lines removed, the log is the one the last whole ceremony left.
        fs.writeFileSync(log, written);
        const again = await ceremony(PASSPHRASE, ...crlArgs(1));
        assert.strictEqual(again.status, 0, again.err);
        assert.match(again.out, /signed CRLs 2 to 2 -> /);
    });
});

describe("ceremony: the names it signs are the stack's", () => {
    it("accepts the common name of every issuing CA the stack plans (front end, two clusters, rotated CAs) under the root of its trust domain or the shared one only, and no other environment's", () => {
        const raw = rawConfigFromStackFile(path.join(ROOT, "examples/front-end/Pulumi.front-end.yaml"));
        const config = validateConfig({
            ...raw,
            clusters: JSON.stringify([
                { name: "east", context: "east" },
                { name: "west-2", context: "west-2" },
            ]),
            caRotation: JSON.stringify({
                apicClientCa: { generation: 1, phase: "prepare" },
                uiClientCa: { generation: 2, phase: "switch" },
            }),
        });
        const cas = planCas(config).filter((ca) => ca.role !== "root");
        const names = cas.map((ca) => ca.subject.commonName);
        // Which roots sign each name, against the roots the stack's separate layout puts above each CA.
        assert.deepStrictEqual(
            cas.map((ca) => [
                ca.subject.commonName,
                ROOT_TRUST_DOMAIN_NAMES.filter((domain) =>
                    isStackCaName(ca.subject.commonName, config.environment, domain),
                ),
            ]),
            cas.map((ca) => [
                ca.subject.commonName,
                [ROOT_TRUST_DOMAINS[rootOf(ca.slot as IntermediateSlot, "separate")], "shared"],
            ]),
        );
        for (const slot of [
            "gateway server CA",
            "APIC client CA",
            "APIC client CA G1",
            "UI client CA G2",
            "mesh CA east",
            "mesh CA west-2",
        ])
            assert.ok(names.includes(`${config.environment} ${slot}`), slot);
        assert.deepStrictEqual(
            names.filter((name) => isStackCaName(name, "other", "shared")),
            [],
        );
    });
});
