/** expiry (--dir RENDER_DIR | --pem FILE...) [--warn-days 30]: days to expiry of real certificates. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { defaultEarlyRenewalDays } from "../config/validate";
import { pemBlocks } from "../pki/pem";
import { parseCrl } from "../pki/crl";
import { textTable } from "./format";
import { Command, parse, UsageError } from "./stackSource";

const USAGE = `usage: expiry (--dir RENDER_DIR | --pem FILE [--pem FILE...]) [--warn-days 30]

Reads every certificate and CRL in the files (PEM blocks anywhere in them, so rendered secrets
count too) and reports the days left (a CRL's: to its next update) and the renewal point (from the render's inventory.json, else the
default: after two thirds of the lifetime). Status "renew due" past the renewal point. Exit
status 1 when any certificate expires within --warn-days (default: alert 30 days ahead) or
has expired; 0 otherwise.`;

const DAY_MS = 86_400_000;

export interface ExpiryRow {
    subject: string;
    serial: string;
    notAfter: string;
    renewAt: string;
    daysLeft: number;
    status: "ok" | "renew due" | "renew soon" | "expired";
    files: string[];
}

function filesBelow(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? filesBelow(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Renewal points a render recorded in inventory.json, by SHA-256 fingerprint. */
function recordedRenewals(dir: string | undefined): Map<string, string> {
    const file = dir === undefined ? undefined : path.join(dir, "inventory.json");
    if (file === undefined || !fs.existsSync(file)) return new Map();
    const inventory = JSON.parse(fs.readFileSync(file, "utf8")) as {
        certificates?: { sha256: string; renewAt: string }[];
    };
    return new Map((inventory.certificates ?? []).map((c) => [c.sha256, c.renewAt]));
}

/** One row per distinct certificate (by fingerprint), soonest expiry first. */
export function expiryReport(
    files: readonly string[],
    warnDays: number,
    now: Date = new Date(),
    renewals: ReadonlyMap<string, string> = new Map(),
): ExpiryRow[] {
    const rows = new Map<string, ExpiryRow>();
    for (const file of files) {
        // Rendered Secrets hold PEMs as YAML block scalars, indented; strip the indentation first.
        // JSON payloads escape their newlines as \n: undo that too.
        const text = fs
            .readFileSync(file, "utf8")
            .replace(/\\n/g, "\n")
            .replace(/^[ \t]+/gm, "");
        /** One row per distinct certificate or CRL; a second sighting only adds its file. */
        const add = (
            fingerprint: string,
            describe: () => { subject: string; serial: string; notAfter: Date; renewAt: Date },
        ): void => {
            const known = rows.get(fingerprint);
            if (known) {
                known.files.push(file);
                return;
            }
            const { subject, serial, notAfter, renewAt } = describe();
            const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
            rows.set(fingerprint, {
                subject,
                serial,
                notAfter: notAfter.toISOString(),
                renewAt: renewAt.toISOString(),
                daysLeft,
                status:
                    notAfter <= now
                        ? "expired"
                        : daysLeft < warnDays
                          ? "renew soon"
                          : renewAt <= now
                            ? "renew due"
                            : "ok",
                files: [file],
            });
        };
        for (const pem of pemBlocks(text, "X509 CRL")) {
            add(crypto.createHash("sha256").update(pem).digest("hex"), () => {
                const crl = parseCrl(pem);
                const issuer = crl.issuerCommonName ?? "unknown CA";
                return {
                    subject: `CRL of ${issuer} (${crl.revokedSerials.length} revoked)`,
                    serial: "-",
                    notAfter: crl.nextUpdate,
                    // Publish again half-way: the CRL stays valid one more period after its own.
                    renewAt: new Date((crl.thisUpdate.getTime() + crl.nextUpdate.getTime()) / 2),
                };
            });
        }
        for (const pem of pemBlocks(text, "CERTIFICATE")) {
            const cert = new crypto.X509Certificate(pem);
            add(cert.fingerprint256, () => {
                const notBefore = new Date(cert.validFrom);
                const notAfter = new Date(cert.validTo);
                const lifetimeDays = Math.round((notAfter.getTime() - notBefore.getTime()) / DAY_MS);
                const renewAfterDays = lifetimeDays - defaultEarlyRenewalDays(lifetimeDays);
                const recorded = renewals.get(cert.fingerprint256);
                return {
                    subject: cert.subject.replace(/\n/g, ", "),
                    serial: cert.serialNumber,
                    notAfter,
                    renewAt: recorded ? new Date(recorded) : new Date(notBefore.getTime() + renewAfterDays * DAY_MS),
                };
            });
        }
    }
    return [...rows.values()].sort((a, b) => a.daysLeft - b.daysLeft);
}

export const expiryCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{ dir?: string; pem?: string[]; "warn-days"?: string }>(argv, {
            dir: { type: "string" },
            pem: { type: "string", multiple: true },
            "warn-days": { type: "string" },
        });
        const warnDays = Number(values["warn-days"] ?? "30");
        if (!Number.isInteger(warnDays) || warnDays < 0) {
            throw new UsageError(`--warn-days must be a whole number of days >= 0; got "${values["warn-days"]}"`);
        }
        if ((values.dir === undefined) === (values.pem === undefined))
            throw new UsageError("give either --dir or --pem");
        const files = values.dir !== undefined ? filesBelow(values.dir) : (values.pem as string[]);
        for (const f of files) if (!fs.existsSync(f)) throw new UsageError(`${f}: no such file`);
        const rows = expiryReport(files, warnDays, new Date(), recordedRenewals(values.dir));
        if (rows.length === 0) throw new Error(`no certificates found in ${values.dir ?? files.join(", ")}`);
        out(
            textTable(
                ["status", "days left", "not after", "renew at", "subject", "serial"],
                rows.map((r) => ({
                    status: r.status,
                    "days left": String(r.daysLeft),
                    "not after": r.notAfter,
                    "renew at": r.renewAt,
                    subject: r.subject,
                    serial: r.serial,
                })),
            ),
        );
        const due = rows.filter((r) => r.status === "renew soon" || r.status === "expired").length;
        out(
            due === 0
                ? `${rows.length} certificates, none expires within ${warnDays} days\n`
                : `${due} of ${rows.length} certificates expire within ${warnDays} days or have expired\n`,
        );
        return due === 0 ? 0 : 1;
    },
};
