/** ceremony init-root | sign | crl: the offline root's jobs, on a machine that never runs Pulumi. */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    ENVIRONMENT_NAME,
    isIsoTime,
    MAX_COMMON_NAME_LENGTH,
    MAX_ENVIRONMENT_LENGTH,
    MAX_ORGANIZATION_LENGTH,
} from "../config/validate";
import { characterCount, hasControlCharacter, json, LABEL_RULE } from "../config/values";
import { codeOf, entryAt, PRIVATE_FILE, PUBLIC_FILE, readRegularFile, shellWord, writeNewFile } from "../files";
import {
    createRoot,
    crlSeriesWindows,
    crlsOutlivedBy,
    CsrReview,
    decryptRootKey,
    encryptRootKey,
    intermediateNotAfter,
    loggedSpkiSha256s,
    reviewCsr,
    ROOT_KEY_ENCRYPTION,
    ROOT_KEY_OPENSSL_PKCS8,
    signCrlSeries,
    signIntermediate,
    spkiSha256,
} from "../pki/ceremony";
import { CRL_REASONS, RevokedEntry } from "../pki/crl";
import { bindingProblem, rootBinding } from "../pki/rootBinding";
import { normalSerial } from "../plan/caRotation";
import { ROOT_TRUST_DOMAIN_NAMES, RootTrustDomain } from "../plan/hierarchy";
import { undoUnlessDone } from "../interrupt";
import { isSelfSigned, nameOnOneLine } from "../pki/x509";
import {
    Prompter,
    refuseRehearsalConfirmationOnTerminal,
    refuseRehearsalPassphraseOnTerminal,
    ROOT_PASSPHRASE_VARIABLE,
    rootPassphrase,
} from "./prompt";
import {
    CertificateRecord,
    CrlRecord,
    ISSUANCE_LOG,
    IssuanceLog,
    LogChangedError,
    LogRecord,
    NewRootFolder,
    ROOT_CERT,
    ROOT_KEY,
    RootFolder,
    WHERE_THE_KEY_IS,
} from "./rootFolder";
import { Command, oneOf, parse, UsageError } from "./stackSource";

/**
 * How many hex characters of the SPKI SHA-256 the confirmation asks for: 128 bits, so that no key
 * can be searched for whose SPKI begins as the change request's does (8 characters, 32 bits, are a
 * search of about four billion keys: hours of rented computing). The names a root signs bind it to
 * a domain, not to a key: whoever holds any key (the mesh CA's, from a cluster's cacerts) can make
 * a CSR under the right name.
 */
const FINGERPRINT_PREFIX = 32;

const USAGE = `usage: ceremony init-root --out DIR --environment ENV --trust-domain DOMAIN --cn NAME [--org ORG] [--days 7300] [--key RSA|ECDSA]
       ceremony sign --root DIR --csr FILE [--csr FILE ...] [--days 1095] [--out FILE] [--reissue SERIAL ...] --log-sha256 HEX [--yes]
       ceremony crl --root DIR --period-days N --periods K [--from DATE] [--revoke SERIAL:REASON:REVOKED_AT ...] --out FILE --log-sha256 HEX [--yes]
       (each also takes --allow-git-work-tree)

init-root  makes the root folder DIR (0700; refused inside a git work tree): DIR/root.key, the
           key encrypted with a passphrase (PKCS#8, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC,
           0600), DIR/root.crt (pathlen 1, keyCertSign + cRLSign, key ids; its subject binds it to
           ENV and DOMAIN as OU=apic-istio-pki ENV DOMAIN) and DIR/issuance.log. DOMAIN is the
           root's trust domain, as the stack's pki:offlineRoots key says: mesh (meshRoot),
           gateway-server (serverRoot), apic-client (clientRoot), ui-client (uiClientRoot) or shared
           (root, with pki:trustDomains shared).
sign       shows each CSR exported by a stack (subject, key, SPKI SHA-256, validity, what the
           certificate will be) and signs it once confirmed: pathlen 0, keyCertSign + cRLSign, key
           ids. Refused: a CSR whose signature fails, a key below RSA 3072 / ECDSA P-256, an RSA
           exponent other than 65537, a key in another form than the stack writes (an EC point
           compressed, RSA without NULL parameters), any attribute or extension request, the
           root's own subject, control characters in the subject (or in a file's name), a name
           that is not a CA of the root's environment and trust domain, a CSR or key given twice,
           a key the root's CRLs revoked for keyCompromise or cACompromise, a key the root certified
           under another subject, or in a certificate still valid and not revoked unless --reissue
           names its serial (from the log; crl then signs no series until one revokes it); a clock
           before the root's notBefore. Writes
           --out (default: the CSR's name with .crt); every file is checked before anything is
           signed.
crl        signs the root's CRL series: K CRLs, one per period of N days from DATE (default now),
           each valid for two periods, numbered on from the last CRL in the log, listing every
           --revoke (a serial this root signed, a reason such as superseded or keyCompromise, and
           when: not before the certificate was issued, unless it is dated ahead and not valid yet,
           nor before the root was made, nor in the future, nor after the series starts; a time an
           earlier CRL gave the serial is taken). A serial an earlier CRL revoked must be listed
           again until it expires, with the same reason and time (a certificateHold may become a
           permanent reason). Refused while a certificate that sign --reissue replaced is valid
           and no CRL revokes it. DATE is not before the root was made. Paste FILE into
           pki:offlineRoots.<root>.crls.

The passphrase is asked on the terminal without echo (twice by init-root, at least 16
characters, 8 of them different, not a shorter string repeated), or read from ${ROOT_PASSPHRASE_VARIABLE} in scripted rehearsals. sign and crl ask
for confirmation (for a CSR, the first ${FINGERPRINT_PREFIX} characters of its SPKI SHA-256 typed
from the change request; "yes" for a series); --yes skips it in scripted rehearsals, and is
refused on a terminal. They warn first of a root.key encrypted more weakly than init-root
encrypts it (openssl pkcs8's defaults), naming the openssl command that re-encrypts it, which
also changes its passphrase (README, "Changing the root key's passphrase"). Everything
signed is appended to DIR/${ISSUANCE_LOG} (JSON lines: serial or CRL number, subject, SPKI SHA-256,
notBefore and notAfter or thisUpdate and nextUpdate, time, environment, trust domain, the
serial of the root that signed it); sign and crl refuse a folder whose log begins with, or later
holds, another root's record, naming the line, and a root.crt its own key does not verify or
dated otherwise than the log's root record. Each command shows the log's record count and
SHA-256 before its questions and once it has appended to it (record that in the change request);
sign and crl --log-sha256 HEX (the SHA-256 the change request recorded) refuse a log changed since;
on a terminal they refuse to start without it, since a log rolled back on the medium shows a
SHA-256 an earlier change request records (scripted rehearsals, without a terminal, may omit it).
Files are created exclusively, never through a link,
and never replaced. On Linux each refuses to start while the process may write a core file, which
would hold the passphrase and the key: run "ulimit -c 0" in the ceremony's shell first.`;

function wholeNumber(value: string | undefined, option: string, fallback: number | undefined, max: number): number {
    if (value === undefined && fallback !== undefined) return fallback;
    const n = /^[1-9][0-9]*$/.test(value ?? "") ? Number(value) : NaN;
    if (!(n >= 1 && n <= max)) {
        throw new UsageError(
            `${option} must be a whole number from 1 to ${max}; got ${value === undefined ? "nothing" : `"${value}"`}`,
        );
    }
    return n;
}

/**
 * Refuses a file or folder option with control characters: the ceremony names its files in what
 * people read before signing, and an escape or line break in a name would have the terminal show
 * something else (another CSR's review).
 */
function checkFileNames(options: readonly (readonly [option: string, value: string | undefined])[]): void {
    for (const [option, value] of options) {
        if (value !== undefined && hasControlCharacter(value)) {
            throw new UsageError(
                `${option} must not contain control characters (the ceremony shows it to the people at the ceremony); got ${json(value)}: rename it`,
            );
        }
    }
}

/** A date or time option, on a real calendar day: "2026-11-20" (midnight UTC) or "2026-11-20T09:30:00Z". */
function isoTime(value: string, option: string): Date {
    if (!isIsoTime(value)) {
        throw new UsageError(
            `${option} must be an ISO 8601 date or time with its zone on a real calendar day, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "${value}"`,
        );
    }
    return new Date(value);
}

/**
 * Refuses to start a command that takes the root key's passphrase while this process may dump
 * core (Linux: a non-zero soft "Max core file size" in /proc/self/limits): a crash, or Ctrl-\ at
 * a question, would write the passphrase and the root key to a core file on the machine's disk.
 * Elsewhere (no /proc) nothing is checked.
 */
function refuseCoreDumps(): void {
    let limits: string;
    try {
        limits = fs.readFileSync("/proc/self/limits", "utf8");
    } catch {
        return;
    }
    const soft = /^Max core file size\s+(\S+)/m.exec(limits)?.[1];
    if (soft === undefined || soft === "0") return;
    throw new Error(
        `this process may write a core file (its soft limit "Max core file size" in /proc/self/limits is ${soft === "unlimited" ? soft : `${soft} bytes`}), ` +
            `which would hold the root key's passphrase and key should it crash or be sent Ctrl-\\; nothing was read or written: ` +
            `run "ulimit -c 0" in the ceremony's shell, then the command again`,
    );
}

/** `SERIAL:REASON:REVOKED_AT`, the time keeping its own colons. */
function revocation(value: string): RevokedEntry {
    const [serial, reason, ...time] = value.split(":");
    const revokedAt = time.join(":");
    if (!/^[0-9A-Fa-f]{1,40}$/.test(serial ?? "") || reason === undefined || revokedAt === "") {
        throw new UsageError(
            `--revoke must be SERIAL:REASON:REVOKED_AT, e.g. 5A3F...:superseded:2026-11-20T09:30:00Z (the serial in hex, as openssl prints it); got "${value}"`,
        );
    }
    // Own keys only: "constructor" or "__proto__" is in every object, and would sign a CRL with no reason code.
    if (!Object.hasOwn(CRL_REASONS, reason)) {
        throw new UsageError(
            `--revoke ${value}: the reason must be one of ${Object.keys(CRL_REASONS).join(", ")}; got "${reason}"`,
        );
    }
    return {
        serialHex: serial.toUpperCase(),
        reason,
        revokedAt: isoTime(revokedAt, `--revoke ${serial}:${reason}: the time`),
    };
}

/**
 * A file the ceremony is about to write: checked before anything is signed, since what is signed
 * is logged at once. Its folder must exist and take a new file (a missing one, or a read-only
 * medium, would otherwise fail only after signing), and nothing may be at its path, not even a
 * dangling link. `label` names it ("--out x.crt"), `elsewhere` says how to write it elsewhere.
 */
function checkTarget(file: string, label: string, elsewhere: string): void {
    const folder = path.dirname(path.resolve(file));
    let code: string | undefined;
    try {
        if (!fs.statSync(folder).isDirectory()) code = "ENOTDIR";
        else fs.accessSync(folder, fs.constants.W_OK | fs.constants.X_OK);
    } catch (error) {
        code = codeOf(error);
    }
    if (code === "ENOENT") throw new Error(`${label}: the folder ${folder} does not exist; create it or ${elsewhere}`);
    if (code === "ENOTDIR") throw new Error(`${label}: ${folder} is not a folder; ${elsewhere}`);
    if (code !== undefined) {
        throw new Error(`${label}: the folder ${folder} takes no new file (${code}); make it writable or ${elsewhere}`);
    }
    const existing = entryAt(file);
    if (existing?.isSymbolicLink()) {
        throw new Error(
            `${label} is a symbolic link; the ceremony never writes through a link: remove it or ${elsewhere}`,
        );
    }
    if (existing !== undefined) {
        throw new Error(`${label} exists; the ceremony never replaces a file: move it away or ${elsewhere}`);
    }
}

/**
 * A public file of the ceremony (a certificate, a CRL series), created exclusively and synced with
 * its folder, as the log record before it is: --out is most often on the removable medium, and
 * one pulled out right after "signed" must not keep the record without the file. It was checked
 * and logged already; should writing still fail (a medium pulled out, a full disk), its PEM is
 * shown so that what the log records as signed is not lost.
 */
function writePublic(file: string, content: string, label: string, out: (text: string) => void, after = ""): void {
    try {
        writeNewFile(file, content, PUBLIC_FILE, true);
    } catch (error) {
        out(content);
        throw new Error(
            `cannot write ${label} (${codeOf(error)}); it was logged in ${ISSUANCE_LOG} as signed: save its PEM from the output above${after}`,
        );
    }
}

/**
 * The root of a folder: its certificate, the environment and trust domain it is bound to, its
 * subject; the folder's issuance log must be this root's (checkLogOfRoot).
 */
function rootOf(
    folder: RootFolder,
    log: IssuanceLog,
): {
    certPem: string;
    serial: string;
    environment: string;
    trustDomain: RootTrustDomain;
    subject: string;
} {
    const certPem = folder.readCertificate();
    const binding = rootBinding(certPem);
    const problem = bindingProblem(binding, folder.path(ROOT_CERT));
    if (problem !== undefined || binding?.kind !== "bound") throw new Error(problem);
    const certificate = new crypto.X509Certificate(certPem);
    // Its dates and key identifier go into what the root signs: a root.crt changed since init-root
    // (a byte of its SKI, its notAfter) no longer verifies with its own key.
    if (!isSelfSigned(certificate)) {
        throw new Error(
            `${folder.path(ROOT_CERT)} is not signed by its own key, as init-root made it (its signature, issuer or key identifiers do not match its own key and subject): ` +
                `it was changed since, and what the root signs takes its dates and key identifier from it; nothing was signed or written: ` +
                `put ${ROOT_CERT} back from the ceremony's write-once archive`,
        );
    }
    const root = {
        certPem,
        serial: certificate.serialNumber,
        environment: binding.environment,
        trustDomain: binding.trustDomain,
        subject: nameOnOneLine(certificate.subject),
    };
    checkLogOfRoot(folder, log, root);
    return root;
}

/**
 * Refuses a folder whose issuance.log begins with another root's record (another folder's log
 * copied in, a backup mixed up): its CRLs would reuse numbers the real root used with other
 * content (RFC 5280 5.2.3), and the revocations and keys the real log records would go unseen.
 * So is a log with another root's records after the first (spliced from two logs): CRLs would be
 * numbered on from that root's, and its serials taken for this root's. Only a record's root serial
 * tells a root re-made under the same name from the old one; records of older logs have none.
 * Record times are not compared: a root made on a clock ahead, then set right, has later records
 * dated before its own.
 */
function checkLogOfRoot(
    folder: RootFolder,
    issuanceLog: IssuanceLog,
    root: { certPem: string; serial: string; environment: string; trustDomain: RootTrustDomain; subject: string },
): void {
    const [first, ...rest] = issuanceLog.records;
    const log = issuanceLog.file;
    const restore = `put the folder's own ${ISSUANCE_LOG} back (from the ceremony's archive), never another root's`;
    if (first?.event !== "root") {
        throw new Error(`${log} does not begin with the record of a root, as init-root writes it: ${restore}`);
    }
    const cert = new crypto.X509Certificate(root.certPem);
    /** A field of a record: its name, as logged, as root.crt has it, and whether the two agree. */
    type Field = readonly [what: string, logged: unknown, actual: unknown, same: boolean];
    /** The fields that differ, as "<what> <logged> where root.crt has <actual>". */
    const shown = (differing: readonly Field[]): string =>
        differing.map(([what, logged, actual]) => `${what} ${logged} where ${ROOT_CERT} has ${actual}`).join(", ");
    const differences = [
        ["serial", first.serial, cert.serialNumber, normalSerial(first.serial) === normalSerial(cert.serialNumber)],
        // An older log holds the hash of the key as Node re-exported it: each such hash matches.
        [
            "SPKI SHA-256",
            first.spkiSha256,
            spkiSha256(cert.publicKey),
            loggedSpkiSha256s(cert.publicKey).includes(first.spkiSha256),
        ],
        ["subject", json(first.subject), json(root.subject), first.subject === root.subject],
        ["environment", first.environment, root.environment, first.environment === root.environment],
        ["trust domain", first.trustDomain, root.trustDomain, first.trustDomain === root.trustDomain],
    ] as const;
    const differing = differences.filter(([, , , same]) => !same);
    if (differing.length > 0) {
        throw new Error(
            `${log} is the log of another root than ${folder.path(ROOT_CERT)}: its root record has ${shown(differing)}; ` +
                `signing with it would reuse the real root's CRL numbers and miss what its log records: ${restore}`,
        );
    }
    // The root's dates too, so that --log-sha256 vouches for them: the root key can sign another
    // root.crt of its serial and subject with a later notAfter, and CAs signed under it would
    // outlive the root every verifier holds. An older log's root record has no notBefore.
    const date = (what: string, logged: string | undefined, actual: string): Field => {
        const time = new Date(actual);
        return [what, logged, time.toISOString(), logged === undefined || Date.parse(logged) === time.getTime()];
    };
    const dates = [
        date("notBefore", first.notBefore as string | undefined, cert.validFrom),
        date("notAfter", first.notAfter, cert.validTo),
    ].filter(([, , , same]) => !same);
    if (dates.length > 0) {
        throw new Error(
            `${folder.path(ROOT_CERT)} is not the certificate init-root made for this root: the root record of ${log} has ${shown(dates)}; ` +
                `the root's certificates and CRLs take their dates from it, and its verifiers hold the one init-root made; nothing was signed or written: ` +
                `put ${ROOT_CERT} back from the ceremony's write-once archive`,
        );
    }
    for (const [i, record] of rest.entries()) {
        const line = `${log} line ${issuanceLog.lineOf(i + 1)}`;
        if (record.event === "root") {
            throw new Error(`${line} is the record of a root again; a log holds one root's records: ${restore}`);
        }
        // A CRL record names its issuer too; a record of an older log names no root serial.
        const issuer = record.event === "crl" && typeof record.issuer === "string" ? record.issuer : root.subject;
        const rootSerial = record.rootSerial ?? root.serial;
        const fields: readonly Field[] = [
            [
                "root serial",
                rootSerial,
                root.serial,
                typeof rootSerial === "string" && normalSerial(rootSerial) === normalSerial(root.serial),
            ],
            ["environment", record.environment, root.environment, record.environment === root.environment],
            ["trust domain", record.trustDomain, root.trustDomain, record.trustDomain === root.trustDomain],
            ["issuer", json(issuer), json(root.subject), issuer === root.subject],
        ];
        const differing = fields.filter(([, , , same]) => !same);
        if (differing.length > 0) {
            throw new Error(
                `${line} is a record of another root than ${folder.path(ROOT_CERT)}: it has ${shown(differing)}; ` +
                    `signing with it would number CRLs on from that root's and take its serials for this root's: ${restore}`,
            );
        }
    }
}

/** --log-sha256: the SHA-256 the change request recorded for the log, 64 hex digits, in lower case. */
function logSha256Option(value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    if (!/^[0-9A-Fa-f]{64}$/.test(value)) {
        throw new UsageError(
            `--log-sha256 must be the SHA-256 of ${ISSUANCE_LOG} the change request recorded after the last ceremony, all 64 hex digits (as sha256sum prints it); got ${json(value)}`,
        );
    }
    return value.toLowerCase();
}

/**
 * --log-sha256 as a real ceremony must give it: on a terminal (where --yes and the passphrase
 * variable are refused too) sign and crl are refused without it, before anything is read or asked.
 * Every check of what may be signed (a key revoked as compromised, the revocations each CRL must
 * repeat, the CRL numbers) reads the log on the medium, and a log rolled back to an earlier state
 * (a CRL record cut off) passes them all; the SHA-256 it shows is then one an earlier change request
 * really records, which no one comparing by eye tells from the latest. Scripted rehearsals (no
 * terminal) may omit it.
 */
function logSha256OnTerminal(given: string | undefined, command: "sign" | "crl", root: string): string | undefined {
    if (given !== undefined || process.stdin.isTTY !== true) return given;
    throw new UsageError(
        `${command} runs on a terminal (a real ceremony) and needs --log-sha256 HEX: the SHA-256 of ${path.join(root, ISSUANCE_LOG)} the change request recorded after the last ceremony ` +
            `(init-root, sign and crl print it once they have appended to the log: "now has N records, SHA-256 HEX: record this in the change request"); ` +
            `every check of what may be signed reads that log, and one rolled back on the medium (a CRL record cut off) would have ${command} ` +
            `${command === "sign" ? "certify a key revoked as compromised" : "drop a revocation and reuse a CRL number"}; nothing was read or written: ` +
            `run the command again with --log-sha256 and the SHA-256 from the change request, never one sha256sum prints for the log as it is now (only scripted rehearsals, without a terminal, may omit it)`,
    );
}

const recordCount = (n: number): string => `${n} record${n === 1 ? "" : "s"}`;

/**
 * The log's record count and SHA-256 as the review shows them, before any question; refused when
 * --log-sha256 (`expected`) gives another SHA-256: the log was changed since the last ceremony
 * (a CRL record's revocations emptied would have crl drop them, sign certify a compromised key),
 * or it only grew, by the records of a ceremony whose new SHA-256 the change request missed.
 */
function reviewLog(log: IssuanceLog, expected: string | undefined): string {
    const records = log.records.length;
    const sha256 = log.sha256;
    if (expected !== undefined && sha256 !== expected) {
        const given = `${log.file} has SHA-256 ${sha256} (${recordCount(records)}), not ${expected} as --log-sha256 gives (the change request's): `;
        const before = log.recordsBefore(expected);
        if (before !== undefined) {
            const added = records - before;
            throw new Error(
                given +
                    `the log only grew: ${expected} is the SHA-256 of its first ${before === 1 ? "record" : `${before} records`}, and ${added === 1 ? "1 record was" : `${added} records were`} added since ` +
                    `(a ceremony that failed after signing shows its new SHA-256 only in its error); do not sign yet: check ${added === 1 ? `that record (line ${records})` : `those records (lines ${before + 1} to ${records})`} ` +
                    `against the last ceremony's output, and if ${added === 1 ? "it is" : "they are"} what it signed, record ${sha256} in the change request and give it to --log-sha256; ` +
                    `never put the archived log back over ${added === 1 ? "it" : "them"}: that drops the record of what the root really signed`,
            );
        }
        throw new Error(
            given +
                `the log changed since the last ceremony; do not sign: compare it with its copies on the write-once archive to find what changed, and put the archived one back`,
        );
    }
    const compared =
        expected !== undefined
            ? "as --log-sha256 gives"
            : "compare it with the SHA-256 the change request recorded after the last ceremony";
    return `${ISSUANCE_LOG}  ${recordCount(records)}, SHA-256 ${sha256} (${compared})\n`;
}

/** The log's record count and SHA-256 once the ceremony appended to it (or made it), for the change request. */
function loggedNow(log: IssuanceLog): string {
    return `${log.file} now has ${recordCount(log.records.length)}, SHA-256 ${log.sha256}: record this in the change request\n`;
}

/**
 * `error` of a ceremony that appended to the log already (`log`, as it is now): it names the log's
 * new count and SHA-256 too, which the next ceremony's --log-sha256 takes.
 */
function withLoggedNow(error: unknown, log: IssuanceLog): Error {
    const message = error instanceof Error ? error.message : String(error);
    return new Error(`${message}. ${loggedNow(log).trimEnd()}`);
}

/**
 * Warns on standard error, before anything is shown or asked, of a root key encrypted more weakly
 * than init-root encrypts it (RootFolder.open read it: weakRootKeyEncryption), with the command that re-encrypts it as
 * init-root does, the plain key only in a pipe (openssl asks both passphrases on the terminal).
 * A warning, not a refusal: an emergency CRL must still be signable with the key as it is.
 */
function warnOfWeakRootKey(folder: RootFolder): void {
    const file = folder.path(ROOT_KEY);
    const weak = folder.weakKeyEncryption;
    if (weak === undefined) return;
    const [key, fresh] = [shellWord(file), shellWord(`${file}.new`)];
    process.stderr.write(
        `warning: ${file} is encrypted with ${weak.description}, weaker than init-root encrypts it (${ROOT_KEY_ENCRYPTION}): ` +
            (weak.cheaperSearch
                ? "a stolen copy is that much cheaper to guess the passphrase of. "
                : "a stolen copy is no cheaper to guess the passphrase of, but its cipher is not the one init-root uses and vouches for. ") +
            `Re-encrypt it as init-root does, the plain key only in a pipe: (umask 077 && openssl pkey -in ${key} | openssl pkcs8 ${ROOT_KEY_OPENSSL_PKCS8} -out ${fresh}) ` +
            `asks its passphrase, then the new one twice; check that openssl pkey -in ${fresh} -noout opens it, then mv ${fresh} ${key}, and replace the backup's copy likewise\n`,
    );
}

/** The root key, decrypted, once it is shown to be the key of the folder's root certificate. */
async function unlockRootKey(folder: RootFolder, prompter: Prompter, rootCertPem: string): Promise<string> {
    const encrypted = folder.readEncryptedKey();
    const keyPem = decryptRootKey(encrypted, await rootPassphrase(prompter, { newKey: false }), folder.path(ROOT_KEY));
    const spki = (key: crypto.KeyObject): Buffer => key.export({ type: "spki", format: "der" });
    if (!spki(crypto.createPublicKey(keyPem)).equals(spki(new crypto.X509Certificate(rootCertPem).publicKey))) {
        throw new Error(
            `${folder.path(ROOT_KEY)} is not the key of ${folder.path(ROOT_CERT)}; restore whichever was replaced: ${ROOT_CERT} from the ceremony's archive, ` +
                `or ${ROOT_KEY} from the ceremony medium's backup (${WHERE_THE_KEY_IS})`,
        );
    }
    return keyPem;
}

/** Asks for the confirmation; anything but an accepted answer refuses the whole command. */
async function confirm(
    prompter: Prompter,
    question: string,
    accepted: (answer: string) => boolean,
    refusal: string,
): Promise<void> {
    const answer = await prompter.line(question);
    if (answer === undefined) {
        throw new Error(
            `no answer (standard input ended); nothing was signed or written: answer on the terminal, or pass --yes in a scripted rehearsal`,
        );
    }
    if (!accepted(answer.trim().toLowerCase())) throw new Error(`${refusal}; nothing was signed or written`);
}

/**
 * Whether `typed` is the start of `fingerprint`, at least FINGERPRINT_PREFIX characters of it: a
 * custodian who copies the whole SPKI SHA-256 from the change request checks more, not less.
 */
function startsTheFingerprint(typed: string, fingerprint: string): boolean {
    return typed.length >= FINGERPRINT_PREFIX && fingerprint.startsWith(typed);
}

/** What a certificate the ceremony signed records in the log; `root.serial` is absent for the root itself. */
function certificateRecord(
    event: "root" | "certificate",
    certPem: string,
    root: { environment: string; trustDomain: RootTrustDomain; serial?: string },
    now: Date,
): CertificateRecord {
    const cert = new crypto.X509Certificate(certPem);
    return {
        time: now.toISOString(),
        event,
        environment: root.environment,
        trustDomain: root.trustDomain,
        ...(root.serial !== undefined ? { rootSerial: root.serial } : {}),
        serial: cert.serialNumber,
        subject: nameOnOneLine(cert.subject),
        spkiSha256: spkiSha256(cert.publicKey),
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: new Date(cert.validTo).toISOString(),
    };
}

/** An error of a system call (ENOSPC, EIO...), not a refusal the ceremony worded. */
const isSystemError = (error: unknown): boolean => (error as NodeJS.ErrnoException).code !== undefined;

/**
 * Writes the new root (`write`) and puts it in place as the root folder `dir`; when that fails (a
 * full or read-only medium), removes what it wrote, and throws one line naming the folder, the
 * error and the fix: no root is left half-made, with a key whose certificate was never shown.
 */
function makeRoot(dir: string, target: { make(): NewRootFolder }, write: (root: NewRootFolder) => void): RootFolder {
    let root: NewRootFolder | undefined;
    try {
        root = target.make();
        write(root);
        return root.commit();
    } catch (error) {
        root?.remove();
        const code = codeOf(error);
        // Two init-root runs on one folder: the other one's root (or staging folder) is in the way.
        const fix =
            code === "EEXIST" || code === "ENOTEMPTY"
                ? `another init-root made a root there meanwhile, or is making one: look at ${dir} before anything else`
                : "free space on the medium or give --out a folder you can write to, then run init-root again";
        throw new Error(`cannot write the root folder ${dir} (${code}); nothing of the new root was kept: ${fix}`);
    }
}

async function initRoot(argv: string[], out: (text: string) => void): Promise<number> {
    const v = parse<{
        out?: string;
        environment?: string;
        "trust-domain"?: string;
        cn?: string;
        org?: string;
        days?: string;
        key?: string;
        "allow-git-work-tree"?: boolean;
    }>(argv, {
        out: { type: "string" },
        environment: { type: "string" },
        "trust-domain": { type: "string" },
        cn: { type: "string" },
        org: { type: "string" },
        days: { type: "string", number: true },
        key: { type: "string" },
        "allow-git-work-tree": { type: "boolean" },
    });
    if (v.out === undefined || v.cn === undefined || v.environment === undefined || v["trust-domain"] === undefined) {
        throw new UsageError(
            `init-root needs --out DIR, --environment ENV (the stack's pki:environment), --trust-domain ${ROOT_TRUST_DOMAIN_NAMES.join("|")} (the stack's root it becomes) and --cn NAME`,
        );
    }
    if (!ENVIRONMENT_NAME.test(v.environment) || v.environment.length > MAX_ENVIRONMENT_LENGTH) {
        throw new UsageError(
            `--environment must be the stack's pki:environment: ${LABEL_RULE}, at most ${MAX_ENVIRONMENT_LENGTH} characters; got "${v.environment}"`,
        );
    }
    checkFileNames([["--out", v.out]]);
    const trustDomain = oneOf(v["trust-domain"], "--trust-domain", ROOT_TRUST_DOMAIN_NAMES);
    for (const [option, value, field, most] of [
        ["--cn", v.cn, "CN", MAX_COMMON_NAME_LENGTH],
        ["--org", v.org, "O", MAX_ORGANIZATION_LENGTH],
    ] as const) {
        // As the stack refuses them in pki:organization: a line break or escape would forge what tools print.
        if (value !== undefined && hasControlCharacter(value)) {
            throw new UsageError(
                `${option} must not contain control characters (it becomes the root's subject ${field}); got ${json(value)}: remove them`,
            );
        }
        // Characters, as the stack counts pki:organization: "🏦" is one, not two UTF-16 units.
        if (value !== undefined && (value.trim() === "" || characterCount(value) > most)) {
            throw new UsageError(
                `${option} must be 1 to ${most} characters (RFC 5280's upper bound), not blank; got ${json(value)} (${characterCount(value)})`,
            );
        }
    }
    const validityDays = wholeNumber(v.days, "--days", 7300, 36500);
    const keyAlgorithm = oneOf(v.key ?? "RSA", "--key", ["RSA", "ECDSA"]);
    const target = RootFolder.checkNew(v.out, v["allow-git-work-tree"] === true);
    const prompter = new Prompter();
    let passphrase: string;
    try {
        passphrase = await rootPassphrase(prompter, { newKey: true });
    } finally {
        prompter.close();
    }
    const now = new Date();
    const binding = { environment: v.environment, trustDomain };
    const root = createRoot({ commonName: v.cn, organization: v.org, binding, validityDays, keyAlgorithm }, now);
    const encryptedKey = encryptRootKey(root.keyPem, passphrase);
    const record = certificateRecord("root", root.certPem, binding, now);
    const folder = makeRoot(v.out, target, (made) => {
        made.writeNew(ROOT_KEY, encryptedKey, PRIVATE_FILE);
        made.writeNew(ROOT_CERT, root.certPem, PUBLIC_FILE);
        made.startLog(record);
    });
    out(
        `root of environment ${v.environment}, trust domain ${trustDomain}: ${record.subject}\n` +
            `  serial ${record.serial}, SPKI SHA-256 ${record.spkiSha256}, until ${record.notAfter}\n` +
            `wrote ${folder.path(ROOT_CERT)} (public: paste it into pki:offlineRoots.<root>.certificate), ` +
            `${folder.path(ROOT_KEY)} (encrypted; it never leaves this machine) and ${folder.path(ISSUANCE_LOG)}\n` +
            loggedNow(IssuanceLog.started(folder.path(ISSUANCE_LOG), record)),
    );
    return 0;
}

/** A revocation by this root's CRLs, as its issuance log records it. */
interface LoggedRevocation {
    readonly serial: string;
    readonly reason: string;
    readonly revokedAt: string;
    readonly crlNumber: number;
}

/** The one revocation reason that may change, to a permanent one (RFC 5280 5.3.1). */
const HOLD = "certificateHold";

/** Ascending CRL numbers as runs: [1, 2, 3, 5] is "1 to 3, 5". */
function numberRuns(numbers: readonly number[]): string {
    const runs: [number, number][] = [];
    for (const n of numbers) {
        const run = runs.at(-1);
        if (run !== undefined && n === run[1] + 1) run[1] = n;
        else runs.push([n, n]);
    }
    return runs.map(([a, b]) => (a === b ? `${a}` : `${a} to ${b}`)).join(", ");
}

/** Revocation reasons that say the key itself is in other hands: it is never certified again. */
const COMPROMISE_REASONS = ["keyCompromise", "cACompromise"];

/** The keys (by the SPKI SHA-256 the log records for them) of certificates this root's CRLs revoked as compromised, each with its first such revocation. */
function compromisedKeys(log: readonly LogRecord[]): Map<string, LoggedRevocation> {
    const keys = new Map(
        log.flatMap((r) => (r.event === "certificate" ? [[normalSerial(r.serial), r.spkiSha256] as const] : [])),
    );
    const compromised = new Map<string, LoggedRevocation>();
    for (const record of log) {
        if (record.event !== "crl") continue;
        for (const r of record.revoked) {
            const key = keys.get(normalSerial(r.serial));
            if (key !== undefined && COMPROMISE_REASONS.includes(r.reason) && !compromised.has(key)) {
                compromised.set(key, { ...r, crlNumber: record.crlNumber });
            }
        }
    }
    return compromised;
}

/** What must follow a --reissue: the replaced certificate's revocation, which crl insists on. */
const revokeReplaced = (serial: string): string =>
    `revoke it with the next CRL series (--revoke ${serial}:superseded:TIME, TIME when that series is signed; crl signs none until one revokes it)`;

function describeCsr(
    file: string,
    review: CsrReview,
    days: number,
    notBefore: Date,
    notAfter: Date,
    issuer: string,
    replaced: readonly CertificateRecord[],
): string {
    return [
        `CSR ${file}`,
        `  subject       ${review.subject}`,
        `  key           ${review.key}`,
        `  SPKI SHA-256  ${review.spkiSha256}`,
        `  validity      ${days} days, ${notBefore.toISOString()} to ${notAfter.toISOString()}`,
        `  certificate   a CA: basicConstraints CA:TRUE pathlen 0 and keyUsage keyCertSign + cRLSign (both critical), subject and authority key ids`,
        `  issuer        ${issuer}`,
        // The custodians confirm the replacement too: the old certificate stays trusted until revoked.
        ...replaced.flatMap((r) => [
            `  replaces      serial ${r.serial}, valid ${r.notBefore} to ${r.notAfter} (--reissue): it stays trusted until revoked`,
            `                ${revokeReplaced(r.serial)}`,
        ]),
        "",
    ].join("\n");
}

async function sign(argv: string[], out: (text: string) => void): Promise<number> {
    const v = parse<{
        root?: string;
        csr?: string[];
        days?: string;
        out?: string;
        reissue?: string[];
        "log-sha256"?: string;
        yes?: boolean;
        "allow-git-work-tree"?: boolean;
    }>(argv, {
        root: { type: "string" },
        csr: { type: "string", multiple: true },
        days: { type: "string", number: true },
        out: { type: "string" },
        reissue: { type: "string", multiple: true },
        "log-sha256": { type: "string" },
        yes: { type: "boolean" },
        "allow-git-work-tree": { type: "boolean" },
    });
    if (v.yes === true) refuseRehearsalConfirmationOnTerminal();
    const csrFiles = v.csr ?? [];
    if (v.root === undefined || csrFiles.length === 0) throw new UsageError("sign needs --root DIR and --csr FILE");
    checkFileNames([["--root", v.root], ...csrFiles.map((file) => ["--csr", file] as const), ["--out", v.out]]);
    if (v.out !== undefined && csrFiles.length > 1) {
        throw new UsageError(
            "--out names the certificate of one CSR; with several, each is written beside its CSR (<name>.crt)",
        );
    }
    for (const [i, file] of csrFiles.entries()) {
        if (csrFiles.slice(0, i).some((earlier) => path.resolve(earlier) === path.resolve(file))) {
            throw new UsageError(`--csr ${file} is given twice; list each CSR once`);
        }
    }
    const validityDays = wholeNumber(v.days, "--days", 1095, 36500);
    const logSha256 = logSha256OnTerminal(logSha256Option(v["log-sha256"]), "sign", v.root);
    // By serial as compared (normalSerial), to the serial as given.
    const reissues = new Map(
        (v.reissue ?? []).map((serial) => {
            if (!/^[0-9A-Fa-f]{1,40}$/.test(serial)) {
                throw new UsageError(
                    `--reissue must be the serial of the earlier certificate, in hex as the refusal names it; got "${serial}"`,
                );
            }
            return [normalSerial(serial), serial] as const;
        }),
    );
    const folder = RootFolder.open(v.root, v["allow-git-work-tree"] === true);
    warnOfWeakRootKey(folder);
    // Before the log is read and any question asked: see RootFolder.lock.
    const lock = folder.lock();
    try {
        // The log as read under the lock, once: its SHA-256 and every check below are of these bytes.
        const logReview = reviewLog(lock.log, logSha256);
        const root = rootOf(folder, lock.log);
        const now = new Date();
        const notAfter = intermediateNotAfter(root.certPem, validityDays, now);
        const requests = csrFiles.map((file) => {
            const csrPem = readCsr(file);
            let review: CsrReview;
            try {
                review = reviewCsr(csrPem, root.certPem).review;
            } catch (error) {
                throw new Error(`${file}: ${(error as Error).message}`);
            }
            const target = v.out ?? `${file.replace(/\.csr$/, "")}.crt`;
            const label = v.out !== undefined ? `--out ${target}` : `${target} (the certificate of --csr ${file})`;
            return { file, csrPem, review, target, label };
        });
        // Everything that would stop the run half-way is checked now: once signed, a certificate is logged.
        const log = lock.log.records;
        const compromised = compromisedKeys(log);
        const revokedSerials = new Set(
            log.flatMap((r) => (r.event === "crl" ? r.revoked.map((revoked) => normalSerial(revoked.serial)) : [])),
        );
        const reissuable = new Set<string>();
        // The certificates each request's certificate replaces (--reissue), as the log records them.
        const replaces: CertificateRecord[][] = [];
        for (const [i, request] of requests.entries()) {
            // An older log holds the hash of the key as its CSR encoded it (an EC point compressed...): every such hash is looked up.
            const [revocation] = request.review.loggedSpkiSha256s
                .flatMap((hash) => compromised.get(hash) ?? [])
                .sort((a, b) => a.crlNumber - b.crlNumber);
            if (revocation !== undefined) {
                throw new Error(
                    `--csr ${request.file} is for a key this root revoked as compromised: serial ${revocation.serial} (${revocation.reason}, revoked at ${revocation.revokedAt} in CRL ${revocation.crlNumber}, SPKI SHA-256 ${request.review.spkiSha256}); ` +
                        `a compromised key is never certified again: have the stack make the CA a new key (a staged rotation, pki:caRotation) and sign its CSR`,
                );
            }
            const certifiedBefore = log.filter(
                (r): r is CertificateRecord =>
                    r.event === "certificate" && request.review.loggedSpkiSha256s.includes(r.spkiSha256),
            );
            // A key is one CA's: the mesh CA's, under the gateway server CA's name, would mint what the edge trusts.
            const otherCa = certifiedBefore.find((r) => r.subject !== request.review.subject);
            if (otherCa !== undefined) {
                throw new Error(
                    `--csr ${request.file} is for a key this root certified as another CA: serial ${otherCa.serial} (${json(otherCa.subject)}, SPKI SHA-256 ${request.review.spkiSha256}); ` +
                        `a key is one CA's and is never certified under another name: sign the CSR the stack exported for ${json(request.review.subject)}, with a key of its own`,
                );
            }
            // A second certificate of a key in use stays trusted when a rotation revokes the one deployed.
            const inForce = certifiedBefore.filter(
                (r) => !revokedSerials.has(normalSerial(r.serial)) && Date.parse(r.notAfter) > now.getTime(),
            );
            for (const r of inForce) reissuable.add(normalSerial(r.serial));
            replaces[i] = inForce;
            const unnamed = inForce.find((r) => !reissues.has(normalSerial(r.serial)));
            if (unnamed !== undefined) {
                throw new Error(
                    `--csr ${request.file} is for a key this root certified already: serial ${unnamed.serial} (${unnamed.subject}, valid ${unnamed.notBefore} to ${unnamed.notAfter}, not revoked); ` +
                        `a second certificate of it would stay trusted when a rotation revokes the one in use: deploy that one (if writing it failed, the ceremony showed its PEM). ` +
                        `To sign the key again (that one dated on a wrong clock), add --reissue ${unnamed.serial}, then ${revokeReplaced(unnamed.serial)}`,
                );
            }
            for (const earlier of requests.slice(0, i)) {
                if (earlier.review.spkiSha256 === request.review.spkiSha256) {
                    throw new Error(
                        `--csr ${request.file} is for the same key as --csr ${earlier.file} (SPKI SHA-256 ${request.review.spkiSha256}); a key is signed once: give only one of them`,
                    );
                }
                if (path.resolve(earlier.target) === path.resolve(request.target)) {
                    throw new Error(
                        `the certificates of --csr ${earlier.file} and --csr ${request.file} would both be written to ${request.target}; rename one of the CSRs`,
                    );
                }
            }
        }
        for (const [serial, given] of reissues) {
            if (!reissuable.has(serial)) {
                throw new Error(
                    `--reissue ${given}: ${folder.path(ISSUANCE_LOG)} has no certificate with that serial, still valid and not revoked, of the key of a --csr given; name only the serial the refusal names`,
                );
            }
        }
        for (const { target, label } of requests) {
            checkTarget(target, label, v.out !== undefined ? "choose another file" : "copy the CSR to another folder");
        }
        out(logReview);
        const prompter = new Prompter();
        let rootKeyPem: string;
        try {
            for (const [i, { file, review }] of requests.entries()) {
                out(describeCsr(file, review, validityDays, now, notAfter, root.subject, replaces[i]));
                if (v.yes === true) continue;
                await confirm(
                    prompter,
                    `Sign ${path.basename(file)}? Type the first ${FINGERPRINT_PREFIX} characters of the SPKI SHA-256 the change request records for it: `,
                    (answer) => startsTheFingerprint(answer.replace(/[:\s]/g, ""), review.spkiSha256),
                    `${file} not signed: the answer is not the first ${FINGERPRINT_PREFIX} characters (or more) of its SPKI SHA-256, so its key may not be the one the change request records (a CSR can carry any key under a CA's name)`,
                );
            }
            rootKeyPem = await unlockRootKey(folder, prompter, root.certPem);
        } finally {
            prompter.close();
        }
        let logged = lock.log;
        try {
            for (const [i, { file, csrPem, target, label }] of requests.entries()) {
                const certPem = signIntermediate({ rootKeyPem, rootCertPem: root.certPem, csrPem, validityDays }, now);
                // Logged before it is written: no certificate leaves the ceremony unrecorded.
                const record: CertificateRecord = {
                    ...certificateRecord("certificate", certPem, root, now),
                    ...(replaces[i].length > 0 ? { replaces: replaces[i].map((r) => r.serial) } : {}),
                };
                const unsigned = requests.slice(i + 1).map((r) => r.file);
                try {
                    logged = folder.appendLog(logged, record);
                } catch (error) {
                    if (error instanceof LogChangedError && logged !== lock.log) {
                        throw new LogChangedError(
                            `${error.message}; then sign ${[file, ...unsigned].join(", ")} again`,
                        );
                    }
                    if (!isSystemError(error)) throw error; // a refusal of the log, worded already
                    throw new Error(
                        `cannot record the certificate of --csr ${file} in ${folder.path(ISSUANCE_LOG)} (${codeOf(error)}); it was not written, and the log is as it was: free space on the medium, then sign ${[file, ...unsigned].join(", ")} again`,
                    );
                }
                writePublic(
                    target,
                    certPem,
                    label,
                    out,
                    unsigned.length > 0 ? `; ${unsigned.join(", ")} not signed: sign them again` : "",
                );
                out(`signed ${file}: serial ${record.serial} -> ${target}\n`);
                for (const r of replaces[i]) {
                    out(`serial ${r.serial} is replaced by serial ${record.serial}: ${revokeReplaced(r.serial)}\n`);
                }
            }
        } catch (error) {
            // Once a record is appended, the error names the log's new SHA-256, which the next --log-sha256 takes.
            // A log changed under it says itself which SHA-256 to record: not the file's.
            throw logged === lock.log || error instanceof LogChangedError ? error : withLoggedNow(error, logged);
        }
        out(loggedNow(logged));
        return 0;
    } finally {
        lock.release();
    }
}

function readCsr(file: string): string {
    try {
        return readRegularFile(file);
    } catch (error) {
        throw new UsageError(`--csr ${file}: cannot read it (${codeOf(error)})`);
    }
}

async function crl(argv: string[], out: (text: string) => void): Promise<number> {
    const v = parse<{
        root?: string;
        "period-days"?: string;
        periods?: string;
        from?: string;
        revoke?: string[];
        out?: string;
        "log-sha256"?: string;
        yes?: boolean;
        "allow-git-work-tree"?: boolean;
    }>(argv, {
        root: { type: "string" },
        "period-days": { type: "string", number: true },
        periods: { type: "string", number: true },
        from: { type: "string" },
        revoke: { type: "string", multiple: true },
        out: { type: "string" },
        "log-sha256": { type: "string" },
        yes: { type: "boolean" },
        "allow-git-work-tree": { type: "boolean" },
    });
    if (v.yes === true) refuseRehearsalConfirmationOnTerminal();
    if (v.root === undefined || v.out === undefined) {
        throw new UsageError("crl needs --root DIR, --period-days N, --periods K and --out FILE");
    }
    checkFileNames([
        ["--root", v.root],
        ["--out", v.out],
    ]);
    const periodDays = wholeNumber(v["period-days"], "--period-days", undefined, 366);
    const periods = wholeNumber(v.periods, "--periods", undefined, 1000);
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const from = v.from === undefined ? now : isoTime(v.from, "--from");
    const revoked = (v.revoke ?? []).map(revocation);
    const logSha256 = logSha256OnTerminal(logSha256Option(v["log-sha256"]), "crl", v.root);
    const folder = RootFolder.open(v.root, v["allow-git-work-tree"] === true);
    warnOfWeakRootKey(folder);
    // Before the log is read and any question asked: see RootFolder.lock.
    const lock = folder.lock();
    try {
        // The log as read under the lock, once: its SHA-256 and every check below are of these bytes.
        const logReview = reviewLog(lock.log, logSha256);
        const root = rootOf(folder, lock.log);
        const log = lock.log.records;
        const signed = new Map(
            log.flatMap((r) => (r.event === "certificate" ? [[normalSerial(r.serial), r] as const] : [])),
        );
        // When earlier CRLs revoked each serial: a later series repeats that time (below), which may be
        // before the notBefore of a certificate dated ahead, revoked before it was valid.
        const revokedEarlierAt = new Set(
            log.flatMap((r) =>
                r.event === "crl" ? r.revoked.map((x) => `${normalSerial(x.serial)} ${Date.parse(x.revokedAt)}`) : [],
            ),
        );
        // The latest revocation of each serial, which a later series repeats as it is (but a hold).
        const revokedBefore = new Map<string, LoggedRevocation>();
        for (const record of log) {
            if (record.event !== "crl") continue;
            for (const x of record.revoked)
                revokedBefore.set(normalSerial(x.serial), { ...x, crlNumber: record.crlNumber });
        }
        const seen = new Set<string>();
        for (const r of revoked) {
            const serial = normalSerial(r.serialHex);
            if (seen.has(serial)) throw new UsageError(`--revoke ${r.serialHex} is given twice; list each serial once`);
            seen.add(serial);
            const issued = signed.get(serial);
            if (issued === undefined) {
                throw new Error(
                    `--revoke ${r.serialHex}: this root never signed that serial (${folder.path(ISSUANCE_LOG)} has no certificate with it); ` +
                        `copy the serial the stack's message names`,
                );
            }
            // The log says when each certificate was issued; a revocation before it is a mistyped time.
            // Not so for one dated ahead (signed on a clock ahead), while its notBefore is still to
            // come: it is revoked now, before it is valid (the root's notBefore still bounds the time).
            const notBefore = Date.parse(issued.notBefore ?? "");
            const repeated = revokedEarlierAt.has(`${serial} ${r.revokedAt.getTime()}`);
            if (r.revokedAt.getTime() < notBefore && notBefore <= now.getTime() && !repeated) {
                throw new Error(
                    `--revoke ${r.serialHex}: revoked at ${r.revokedAt.toISOString()}, before the certificate was issued (notBefore ${issued.notBefore} in ${ISSUANCE_LOG}); ` +
                        `give the time it was revoked, ${issued.notBefore} or later`,
                );
            }
        }
        // A CRL lists a revoked certificate until it expires: a later series that left one out would un-revoke it.
        // The fix repeats its latest revocation, the one the check above holds a --revoke to.
        const listed = new Set(revoked.map((r) => normalSerial(r.serialHex)));
        for (const [serial, r] of revokedBefore) {
            const expires = signed.get(serial)?.notAfter ?? "";
            if (!listed.has(serial) && Date.parse(expires) > now.getTime()) {
                throw new Error(
                    `CRL ${r.crlNumber} revoked serial ${r.serial}, which is valid until ${expires}; every later CRL must list it until then: add --revoke ${r.serial}:${r.reason}:${r.revokedAt}`,
                );
            }
            listed.add(serial);
        }
        // A certificate --reissue replaced has a twin of its key: both stay trusted until it is revoked.
        for (const record of log) {
            if (record.event !== "certificate") continue;
            for (const serial of record.replaces ?? []) {
                const expires = signed.get(normalSerial(serial))?.notAfter ?? "";
                if (!listed.has(normalSerial(serial)) && Date.parse(expires) > now.getTime()) {
                    throw new Error(
                        `serial ${serial} was replaced by serial ${record.serial} (sign --reissue, ${record.time}) and no CRL of this root revokes it: ` +
                            `both certificates of the key stay trusted until ${expires}; add --revoke ${serial}:superseded:${now.toISOString()}`,
                    );
                }
            }
        }
        const lastNumber = Math.max(0, ...log.map((r) => (r.event === "crl" ? r.crlNumber : 0)));
        const windows = crlSeriesWindows({
            rootCertPem: root.certPem,
            revoked,
            from,
            periodDays,
            periods,
            firstNumber: lastNumber + 1,
            now,
        });
        for (const r of revoked) {
            // A revocation is never changed (a keyCompromise become a hold, or moved later, would
            // have relying parties trust what the certificate signed meanwhile); only a hold may
            // become a permanent revocation, from the same time. Checked once a time wrong in itself
            // (in the future, after the series starts) is refused as such.
            const before = revokedBefore.get(normalSerial(r.serialHex));
            if (
                before !== undefined &&
                (Date.parse(before.revokedAt) !== r.revokedAt.getTime() ||
                    (r.reason !== before.reason && (before.reason !== HOLD || r.reason === HOLD)))
            ) {
                throw new Error(
                    `--revoke ${r.serialHex}: CRL ${before.crlNumber} revoked it for ${before.reason} at ${before.revokedAt}, and this gives ${r.reason} at ${r.revokedAt.toISOString()}; ` +
                        `a revocation never changes (only a ${HOLD} may become a permanent reason, at the same time): ` +
                        `give the same reason and time as CRL ${before.crlNumber}, --revoke ${before.serial}:${before.reason}:${before.revokedAt}`,
                );
            }
        }
        checkTarget(v.out, `--out ${v.out}`, "choose another file");
        const last = windows[windows.length - 1];
        // Earlier CRLs stay signed and valid until their next update: a relying party that picks by date may take one.
        const outlived = crlsOutlivedBy({
            earlier: log.flatMap((r) =>
                r.event === "crl"
                    ? [
                          {
                              number: r.crlNumber,
                              nextUpdate: new Date(r.nextUpdate),
                              revokedSerials: r.revoked.map((x) => x.serial),
                          },
                      ]
                    : [],
            ),
            from,
            revoked,
        });
        out(
            [
                `CRL series of ${root.subject} (environment ${root.environment}, trust domain ${root.trustDomain})`,
                `  CRLs          ${periods}, numbers ${windows[0].number} to ${last.number}, one per ${periodDays} days`,
                `  valid         ${from.toISOString()} to ${last.nextUpdate.toISOString()} (each CRL two periods: no gap)`,
                ...(revoked.length === 0
                    ? ["  revokes       nothing (a relying party checking every CA's CRL still needs one)"]
                    : revoked.map(
                          (r, i) =>
                              `  ${i === 0 ? "revokes      " : "             "} ${r.serialHex} (${signed.get(normalSerial(r.serialHex))?.subject}), ${r.reason}, ${r.revokedAt.toISOString()}`,
                      )),
                ...outlived.map(
                    (o, i) =>
                        `  ${i === 0 ? "warning      " : "             "} earlier CRLs ${numberRuns(o.numbers)} do not revoke ${o.lacks.join(", ")} and stay valid until ${o.until.toISOString()}, after this series starts`,
                ),
                ...(outlived.length === 0
                    ? []
                    : [
                          "                this stack publishes the valid CRL with the highest number, but a relying party given both series that",
                          "                picks by date, as OpenSSL does, takes an earlier CRL dated later than this series' one and misses the revocation:",
                          "                replace pki:offlineRoots.<root>.crls with the crls.pem written now, never append it to the earlier series",
                      ]),
                "",
            ].join("\n") + logReview,
        );
        const prompter = new Prompter();
        let rootKeyPem: string;
        try {
            if (v.yes !== true) {
                await confirm(
                    prompter,
                    `Sign this series? Type "yes": `,
                    (answer) => answer === "yes",
                    `the series was not signed: the answer was not "yes"`,
                );
            }
            rootKeyPem = await unlockRootKey(folder, prompter, root.certPem);
        } finally {
            prompter.close();
        }
        const series = signCrlSeries({ rootKeyPem, rootCertPem: root.certPem, revoked, windows });
        // The time to the millisecond, taken once the key is unlocked: the records of one run share
        // it and no other run's, which a cut append's refusal tells them by (see IssuanceLog.parse).
        const time = new Date().toISOString();
        const records = series.map((c): CrlRecord => ({
            time,
            event: "crl",
            environment: root.environment,
            trustDomain: root.trustDomain,
            rootSerial: root.serial,
            crlNumber: c.number,
            issuer: root.subject,
            thisUpdate: c.thisUpdate.toISOString(),
            nextUpdate: c.nextUpdate.toISOString(),
            revoked: revoked.map((r) => ({
                serial: r.serialHex,
                reason: r.reason,
                revokedAt: r.revokedAt.toISOString(),
            })),
        }));
        let logged: IssuanceLog;
        try {
            logged = folder.appendLog(lock.log, ...records);
        } catch (error) {
            if (!isSystemError(error)) throw error; // a refusal of the log, worded already
            throw new Error(
                `cannot record the CRL series in ${folder.path(ISSUANCE_LOG)} (${codeOf(error)}); it was not written, and the log is as it was: free space on the medium, then run crl again`,
            );
        }
        try {
            writePublic(v.out, series.map((c) => c.pem).join(""), `--out ${v.out}`, out);
        } catch (error) {
            throw withLoggedNow(error, logged);
        }
        out(
            `signed CRLs ${series[0].number} to ${series[series.length - 1].number} -> ${v.out} (paste it into pki:offlineRoots.<root>.crls)\n` +
                loggedNow(logged),
        );
        return 0;
    } finally {
        lock.release();
    }
}

export const ceremonyCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const [action, ...rest] = argv;
        // A signal (Ctrl-C, Ctrl-\, SIGTERM, SIGHUP) is handled between the ceremony's steps, never
        // inside the writes of a root, a certificate and its log record: they land whole, then it ends.
        const stopWatching = undoUnlessDone();
        try {
            const asksHelp = rest.includes("--help") || rest.includes("-h");
            if (["init-root", "sign", "crl"].includes(action) && !asksHelp) {
                refuseRehearsalPassphraseOnTerminal();
                refuseCoreDumps();
            }
            if (action === "init-root") return await initRoot(rest, out);
            if (action === "sign") return await sign(rest, out);
            if (action === "crl") return await crl(rest, out);
        } finally {
            stopWatching();
        }
        throw new UsageError(
            `ceremony needs init-root, sign or crl; got ${action === undefined ? "nothing" : `"${action}"`}`,
        );
    },
};
