/** ceremony init-root | sign: the offline root's two jobs, on a machine that never runs Pulumi. */
import * as fs from "fs";
import * as path from "path";
import { createRoot, signIntermediate } from "../pki/ceremony";
import { Command, oneOf, parse, UsageError } from "./stackSource";

const USAGE = `usage: ceremony init-root --out DIR --cn NAME [--org ORG] [--days 7300] [--key RSA|ECDSA]
       ceremony sign --root DIR --csr FILE [--days 1095] [--out FILE]

init-root  makes DIR/root.key (mode 0600: keep it on the offline machine) and DIR/root.crt
           (pathlen 1, keyCertSign + cRLSign, subject and authority key ids).
sign       signs an intermediate CSR exported by a stack (pathlen 0, keyCertSign + cRLSign,
           subject and authority key ids) after checking the CSR's own signature; writes the
           certificate to --out (default: the CSR's name with .crt) to paste into the stack config.`;

function readFile(file: string, what: string): string {
    if (!fs.existsSync(file)) throw new UsageError(`${what} ${file}: no such file`);
    return fs.readFileSync(file, "utf8");
}

function days(value: string | undefined, fallback: number): number {
    const n = Number(value ?? fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--days must be a whole number >= 1; got "${value}"`);
    return n;
}

export const ceremonyCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const [action, ...rest] = argv;
        if (action === "init-root") {
            const v = parse<{ out?: string; cn?: string; org?: string; days?: string; key?: string }>(rest, {
                out: { type: "string" },
                cn: { type: "string" },
                org: { type: "string" },
                days: { type: "string" },
                key: { type: "string" },
            });
            if (v.out === undefined || v.cn === undefined)
                throw new UsageError("init-root needs --out DIR and --cn NAME");
            if (fs.existsSync(path.join(v.out, "root.key"))) {
                throw new UsageError(`${path.join(v.out, "root.key")} exists; refusing to replace a root key`);
            }
            const root = createRoot({
                commonName: v.cn,
                organization: v.org,
                validityDays: days(v.days, 7300),
                keyAlgorithm: oneOf(v.key ?? "RSA", "--key", ["RSA", "ECDSA"]),
            });
            fs.mkdirSync(v.out, { recursive: true, mode: 0o700 });
            fs.writeFileSync(path.join(v.out, "root.key"), root.keyPem, { mode: 0o600 });
            fs.writeFileSync(path.join(v.out, "root.crt"), root.certPem, { mode: 0o644 });
            out(`wrote ${path.join(v.out, "root.crt")} and ${path.join(v.out, "root.key")} (keep the key offline)\n`);
            return 0;
        }
        if (action === "sign") {
            const v = parse<{ root?: string; csr?: string; days?: string; out?: string }>(rest, {
                root: { type: "string" },
                csr: { type: "string" },
                days: { type: "string" },
                out: { type: "string" },
            });
            if (v.root === undefined || v.csr === undefined)
                throw new UsageError("sign needs --root DIR and --csr FILE");
            const certPem = signIntermediate({
                rootKeyPem: readFile(path.join(v.root, "root.key"), "root key"),
                rootCertPem: readFile(path.join(v.root, "root.crt"), "root certificate"),
                csrPem: readFile(v.csr, "--csr"),
                validityDays: days(v.days, 1095),
            });
            const target = v.out ?? v.csr.replace(/\.csr$/, "") + ".crt";
            fs.writeFileSync(target, certPem, { mode: 0o644 });
            out(`wrote ${target}\n`);
            return 0;
        }
        throw new UsageError(
            `ceremony needs init-root or sign; got ${action === undefined ? "nothing" : `"${action}"`}`,
        );
    },
};
