/**
 * expiry (--dir DIR | --pem FILE...) [--warn-days 30] [--crl-warn-fraction 0.5] [--now ISO] [--format text|json]:
 * days to expiry of real certificates and CRLs, for monitoring.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { PFX } from "@peculiar/asn1-pfx";
import * as YAML from "yaml";
import { defaultEarlyRenewalMs } from "../config/validate";
import { json, shownText } from "../config/values";
import {
    FileTooLarge,
    jsonBreak,
    readRegularBytes,
    unreadableReason,
    utf8Text,
    withRegularFileNoFollow,
    yamlProblem,
} from "../files";
import {
    pemBlocks,
    pemDecode,
    runTogetherPemBlock,
    runTogetherProblem,
    unendedPemBlock,
    withArticle,
} from "../pki/pem";
import { crlInDer, CrlInfo, crlValidAt, DAY_MS, parseCrl } from "../pki/crl";
import { CERTIFICATE_LABELS, certificateDerOf, derSequences } from "../pki/der";
import { pkcs7Contents } from "../pki/pkcs7";
import { pfxOf, pkcs12Certificates, Pkcs12PasswordError } from "../pki/pkcs12";
import { expiredAt, isSelfSigned, notYetValidAt, signedBy } from "../pki/x509";
import { PUBLIC_ROOTS_FILE } from "../inventory/planned";
import { inventoryTimeProblem } from "../inventory/issued";
import type { RecordedCrlSeries } from "../render/render";
import { textTable } from "./format";
import { Command, InputError, oneOf, parse, parseNow, UsageError } from "./stackSource";

const USAGE = `usage: expiry (--dir DIR | --pem FILE [--pem FILE...]) [--warn-days 30] [--crl-warn-fraction 0.5] [--now ISO] [--format text|json]

Reads every certificate and CRL in the files: PEM blocks anywhere in them (CERTIFICATE, TRUSTED
CERTIFICATE, X509 CRL, and PKCS7 or CMS bundles; rendered files, JSON payloads; in JSON and YAML,
the values of every document as parsed, escapes undone), files that are DER (a .cer or .crl as
CAs hand them out, a .p7b or .p7c bundle), and the base64 values, PEM or DER, of Kubernetes
objects: Secrets (data), ConfigMaps (binaryData), and the caBundle of webhook configurations,
CRDs' conversion webhooks and APIServices, as "kubectl get -o yaml" exports them (in a List too,
beside other documents; as JSON too, from kubectl get -o json or the API server's lists), and
PKCS#12 keystores with their password in FILE.password beside them (mode 0600, as render writes
client.p12; without it --pem refuses a keystore and --dir warns of it). Each --pem file must
hold a certificate or CRL (a key given for its certificate is refused); --dir skips those without. Kubernetes YAML and JSON are told
by their content, whatever the file is called; a .yaml or .yml file must be YAML. Each certificate
or CRL once, however encoded; --format json lists its files and the Kubernetes fields holding it.
--dir also takes a Secret mounted into a pod: read once, in kubelet's ..<timestamp> folder (not
through ..data; a keystore's password link leading beside its real file counts as beside it);
other links to files are read, links to folders not followed, FIFOs, sockets and devices skipped; a file or folder it may not
read, a file over 16 MiB (a core dump), or a link that loops or leads nowhere, is an error, as is a PEM block without its END line
(BEGIN and END lines as OpenSSL takes them: at the start of a line; in JSON and YAML, of a string;
also with indentation undone and \\n escapes read as line breaks, as expiry reads the text).
Reports the days left (a CRL's: to its next update) and the renewal point
(from the render's inventory.json, else after two thirds of the lifetime; "renew due" once past it).
Due: a certificate that expires within --warn-days (default: alert 30 days ahead) or has
expired; a certificate or CRL not valid yet (before its notBefore or thisUpdate: Envoy refuses
it until then); a CRL past its next update, or with less than --crl-warn-fraction of its
validity left and less than --warn-days: a CRL re-signed every period and valid four periods is due after two
missed re-publications (14 days ahead with 7-day periods; 10.5 to 14 for one signed mid-period
for a revocation, valid less), one valid as long as its CA (roots' and mesh CAs') when that CA's certificate is.
A certificate's days left count to the CA above it that ends first among the certificates read (a
verifier refuses it past that CA's end), on the path that lasts longest when a CA is also
cross-signed or re-issued with its key; the row names that CA ("its issuer <CN> ends first").
With --dir, also the CRL series of each offline root that the render recorded in inventory.json: due
within --warn-days of its end, as a certificate, since past it the stack has no CRL of that root to
publish: a ceremony must sign a new series ("npx apic-istio-pki ceremony crl").
The roots of pki:frontEnd.publicRoots, which render writes to front-end/public-roots.pem, are
named "public root (pki:frontEnd.publicRoots)": once one has expired, the stack refuses updates.
--now judges at another time (a rehearsal). --format json prints { healthy, due, rows }.
Exit status: 0 nothing due, 1 something due, 2 wrong usage, unreadable input or any other failure.`;

export interface ExpiryRow {
    kind: "certificate" | "crl" | "crl series";
    subject: string;
    /** A certificate's notBefore; a CRL's thisUpdate; a CRL series' first thisUpdate. */
    notBefore: string;
    /** A certificate's serial (hex); a CRL's number. */
    serial: string;
    /** A CRL's next update; a CRL series' last. */
    notAfter: string;
    /** A certificate's renewal point; when a CRL or a CRL series becomes due. */
    renewAt: string;
    daysLeft: number;
    status: "ok" | "renew due" | "renew soon" | "publish soon" | "ceremony soon" | "expired" | "not yet valid";
    /** Inside the warning window, expired or not valid yet: what exits 1. */
    due: boolean;
    /**
     * A certificate whose chain holds a CA that ends before it (a leaf issued late in its CA's
     * life): that CA's notAfter, when the chain stops verifying (OpenSSL: "certificate has
     * expired" at that depth), which daysLeft and status count from; notAfter stays its own.
     */
    effectiveNotAfter?: string;
    /** That CA, as certificateName names it, and how far up the chain (1: the issuer). */
    endsFirst?: { subject: string; depth: number };
    files: string[];
    /** The Kubernetes fields of those files it was read from: `file: data key "ca.crt" of Secret "x"`. */
    fields: string[];
}

export interface ExpiryThresholds {
    /** Certificates: due within this many days of their end; CRLs: never earlier. */
    readonly warnDays: number;
    /** CRLs: due when less than this fraction of their validity (and less than warnDays) remains. */
    readonly crlWarnFraction: number;
}

/** Input error for a path that cannot be read: one line, the system's code kept, never its raw message. */
function cannotRead(file: string, error: unknown): InputError {
    return new InputError(`cannot read ${file}: ${unreadableReason(error, "expiry")}`);
}

/**
 * The files below `dir` that may hold PEM: regular files and links to them. A link to a folder is
 * not followed (a mounted Kubernetes Secret links ..data to a folder that is walked anyway, and a
 * link may loop); a FIFO, socket or device is not read (a FIFO would hang the monitoring job).
 * A subfolder it may not read or a looping link is an error: certificates there would go unwatched.
 * In a mounted Secret or ConfigMap (kubeletMount) the links of its keys through ..data are not
 * read: each file is read once, in its real folder, beside its own keystore password.
 */
function filesBelow(dir: string): string[] {
    let entries: fs.Dirent[];
    try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (error) {
        throw cannotRead(dir, error);
    }
    const mounted = kubeletMount(dir, entries);
    return entries.flatMap((e) => {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) return filesBelow(full);
        if (e.isFile()) return [full];
        if (!e.isSymbolicLink()) return [];
        // Checked even when not read: one that loops or leads nowhere is still an error.
        if (!linkTarget(full).isFile()) return [];
        return mounted && /^\.\.data\/[^/]+$/.test(linkText(full)) ? [] : [full];
    });
}

/** Where the link `file` points, as written in it. */
function linkText(file: string): string {
    try {
        return fs.readlinkSync(file);
    } catch (error) {
        throw cannotRead(file, error);
    }
}

/**
 * Whether `dir` is a Secret or ConfigMap volume as kubelet mounts it: its files in a folder named
 * ..<timestamp> beside them, ..data a link to that folder by its name (so inside the walked tree),
 * and each key a link through ..data, so that an update swaps ..data at once.
 */
function kubeletMount(dir: string, entries: fs.Dirent[]): boolean {
    const data = entries.find((e) => e.name === "..data" && e.isSymbolicLink());
    if (data === undefined) return false;
    const target = linkText(path.join(dir, data.name));
    return /^\.\.[^/]+$/.test(target) && entries.some((e) => e.name === target && e.isDirectory());
}

/** What `file` is, links followed; undefined when nothing is there (a loop or a refused search is an input error). */
function statOf(file: string): fs.Stats | undefined {
    try {
        return fs.statSync(file, { throwIfNoEntry: false });
    } catch (error) {
        throw cannotRead(file, error);
    }
}

/**
 * What is at `file` itself (a link not followed); undefined when nothing is there. A path the system
 * refuses to search (a file where a folder should be, a folder it may not enter) is an input error.
 */
function entryOf(file: string): fs.Stats | undefined {
    try {
        return fs.lstatSync(file, { throwIfNoEntry: false });
    } catch (error) {
        throw cannotRead(file, error);
    }
}

/**
 * What `file` leads to, links followed. A link that loops, or leads to nothing (whatever it should
 * show would go unwatched), is an input error naming it, not a missing file.
 */
function linkTarget(file: string): fs.Stats {
    const target = statOf(file);
    if (target === undefined) {
        throw new InputError(
            `cannot read ${file}: it is a link to ${fs.readlinkSync(file)}, which does not exist; remove the link or restore what it points to`,
        );
    }
    return target;
}

/** The files of --dir, which must be a folder. */
function filesOfDir(dir: string): string[] {
    const stat = statOf(dir);
    if (stat === undefined) {
        throw new InputError(
            `--dir ${dir}: no such folder; give the folder that holds the certificates (a render, or a Secret mounted into a pod)`,
        );
    }
    if (!stat.isDirectory()) {
        throw new InputError(`--dir ${dir} is not a folder; give the folder that holds the files, or --pem ${dir}`);
    }
    return filesBelow(dir);
}

/** What expiry takes from a render's inventory.json. */
interface RecordedInventory {
    /** Renewal points, by SHA-256 fingerprint. */
    readonly renewals: Map<string, string>;
    /** The offline roots' CRL series (none in an inventory.json of a render before they were recorded). */
    readonly crlSeries: readonly RecordedCrlSeries[];
    /** The inventory.json read. */
    readonly file?: string;
}

/**
 * Renewal points and CRL series a render recorded in inventory.json. A damaged one is refused
 * rather than ignored, so that its renewal points do not silently turn into the default, nor a
 * series go unwatched.
 */
function recordedInventory(dir: string | undefined): RecordedInventory {
    const file = dir === undefined ? undefined : path.join(dir, "inventory.json");
    if (file === undefined || !fs.existsSync(file)) return { renewals: new Map(), crlSeries: [] };
    const fix =
        "render again, which writes it anew, or restore the inventory.json the render wrote, or remove it (renewal points then fall back to two thirds of each lifetime, and the offline roots' CRL series go unwatched)";
    const text = readBytes(file).toString("utf8");
    let inventory: unknown;
    try {
        inventory = JSON.parse(text);
    } catch (error) {
        throw new InputError(`${file} is not JSON${jsonBreak(error)}; ${fix}`);
    }
    const problem = inventoryProblem(inventory) ?? crlSeriesProblem(inventory);
    if (problem !== undefined) throw new InputError(`${file}: ${problem}; ${fix}`);
    const { certificates, crlSeries = [] } = inventory as {
        certificates: { sha256: string; renewAt: string }[];
        crlSeries?: RecordedCrlSeries[];
    };
    return { renewals: new Map(certificates.map((c) => [c.sha256, c.renewAt])), crlSeries, file };
}

/** What in inventory.json's crlSeries (optional: older renders wrote none) is not what a render writes, or undefined. */
function crlSeriesProblem(inventory: unknown): string | undefined {
    const got = (value: unknown) => (value === undefined ? "nothing" : JSON.stringify(value));
    const series = (inventory as { crlSeries?: unknown }).crlSeries;
    if (series === undefined) return undefined;
    if (!Array.isArray(series)) return `crlSeries must be a list of { key, issuer, from, ends }; got ${got(series)}`;
    for (const [i, row] of series.entries()) {
        const fields = (row ?? {}) as Record<string, unknown>;
        for (const name of ["key", "issuer"]) {
            if (typeof fields[name] !== "string")
                return `crlSeries[${i}].${name} must be text; got ${got(fields[name])}`;
        }
        for (const name of ["from", "ends"]) {
            const problem = inventoryTimeProblem(`crlSeries[${i}].${name}`, fields[name]);
            if (problem !== undefined) return problem;
        }
    }
    return undefined;
}

/** What in a parsed inventory.json is not what a render writes (the fields expiry uses), or undefined. */
function inventoryProblem(inventory: unknown): string | undefined {
    const got = (value: unknown) => (value === undefined ? "nothing" : JSON.stringify(value));
    const certificates = (inventory as { certificates?: unknown } | null)?.certificates;
    if (!Array.isArray(certificates))
        return `certificates must be a list of { sha256, renewAt }; got ${got(certificates)}`;
    for (const [i, row] of certificates.entries()) {
        const { id, sha256, renewAt } = (row ?? {}) as { id?: unknown; sha256?: unknown; renewAt?: unknown };
        if (typeof sha256 !== "string")
            return `certificates[${i}].sha256 must be a certificate's SHA-256 fingerprint; got ${got(sha256)}`;
        const of = typeof id === "string" ? ` (of ${id})` : "";
        const problem = inventoryTimeProblem(`certificates[${i}].renewAt${of}`, renewAt);
        if (problem !== undefined) return problem;
    }
    return undefined;
}

/** Every string in a parsed YAML or JSON value, at any depth, with its path as jq writes it (.data["ca.crt"], .items[0]). */
function stringsIn(value: unknown, path = ""): { string: string; path: string }[] {
    if (typeof value === "string") return [{ string: value, path: path || "." }];
    if (value === null || typeof value !== "object") return [];
    return Object.entries(value).flatMap(([key, item]) => stringsIn(item, path + pathStep(key, Array.isArray(value))));
}

/** How a path in a parsed document goes on to `key`: `[0]`, `.data`, `["tls.crt"]`. */
const pathStep = (key: string, inArray: boolean): string =>
    inArray ? `[${key}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${json(key)}]`;

/** The documents of a YAML text; what the parser's first error found and where is thrown (yamlProblem: no text of the file). */
function yamlDocuments(text: string): unknown[] {
    return YAML.parseAllDocuments(text).map((doc) => {
        if (doc.errors.length > 0) throw new Error(yamlProblem(doc.errors[0]));
        try {
            return doc.toJS() as unknown;
        } catch (error) {
            throw new Error(yamlProblem(error));
        }
    });
}

/**
 * What parsed YAML or JSON documents hold: every string of every document (whatever its kind: a
 * ConfigMap beside a Secret counts), plus the base64 values of its Kubernetes objects
 * (base64Fields), decoded. The strings as parsed, so that every escape (\r\n, \/, \u002b) is undone;
 * a string holding a PEM block without its END line is refused, as what it is given to would.
 */
function documentContents(documents: unknown[], file: string): Content[] {
    const strings = documents.flatMap((document, i) => {
        const fields = textFields(kubernetesObjects(document));
        return stringsIn(document).map(({ string, path }): Content => {
            const at = `the string at ${path}${documents.length > 1 ? ` in document ${i + 1}` : ""}`;
            const read = unescaped(string);
            const problem = pemReadProblem(string, COPY_AGAIN, ` of ${at}`, read);
            if (problem !== undefined) throw new InputError(`${file}: ${problem}`);
            return { text: read, ...(fields.get(path) ?? { at, fix: COPY_AGAIN }) };
        });
    });
    return [...strings, ...documents.flatMap(kubernetesObjects).flatMap(({ object }) => base64Values(object, file))];
}

/**
 * The text values of Kubernetes objects (a Secret's stringData, a ConfigMap's data) by their path
 * in the document, named as base64Fields names a base64 value, with the same fix.
 */
function textFields(objects: { object: KubernetesObject; path: string }[]): Map<string, Placed> {
    const fields = new Map<string, Placed>();
    for (const { object, path } of objects) {
        const field = object.kind === "Secret" ? "stringData" : object.kind === "ConfigMap" ? "data" : undefined;
        if (field === undefined) continue;
        const map = (object as Record<string, unknown>)[field];
        for (const [key] of entriesOf(map)) {
            fields.set(`${path}${pathStep(field, false)}${pathStep(key, false)}`, {
                place: `${field} key "${key}" of ${objectName(object)}`,
                // Already text: exporting it again is the fix (damagedValueFix also offers text instead of base64).
                fix: exportedAgain(String(object.kind)),
            });
        }
    }
    return fields;
}

/** The document of a JSON file, or undefined when its text is not JSON. */
function jsonDocument(text: string): unknown {
    if (!/^\s*[[{]/.test(text)) return undefined;
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return undefined;
    }
}

/**
 * The Kubernetes objects of a parsed document, each with its path in it (stringsIn's): the
 * document, or the items of a list: kubectl's List, whose items name their kind, or the API
 * server's SecretList or ConfigMapList (kubectl get --raw), whose items do not and take it from
 * the list's.
 */
function kubernetesObjects(document: unknown): { object: KubernetesObject; path: string }[] {
    if (document === null || typeof document !== "object") return [];
    const object = document as KubernetesObject & { items?: unknown };
    if (typeof object.kind !== "string" || !object.kind.endsWith("List") || !Array.isArray(object.items))
        return [{ object, path: "" }];
    const kind = object.kind === "List" ? undefined : object.kind.slice(0, -"List".length);
    return (object.items as unknown[]).flatMap((item, i) =>
        item !== null && typeof item === "object"
            ? [{ object: { kind, ...(item as KubernetesObject) }, path: `.items[${i}]` }]
            : [],
    );
}

interface KubernetesObject {
    kind?: unknown;
    metadata?: { name?: unknown };
    data?: unknown;
    binaryData?: unknown;
    webhooks?: unknown;
}

/** A value that Kubernetes keeps in base64 (a Go []byte), and what to do when it is not base64. */
interface Base64Field {
    /** How messages name it: `data key "ca.crt"`, `webhooks[0].clientConfig.caBundle`. */
    field: string;
    value: unknown;
    fix: string;
}

/** The entries of a map in a parsed document; none when it is no map. */
const entriesOf = (map: unknown): [string, unknown][] =>
    map !== null && typeof map === "object" && !Array.isArray(map) ? Object.entries(map) : [];

/** The value at `path` in a parsed document, or undefined. */
const valueAt = (value: unknown, path: readonly (string | number)[]): unknown =>
    path.reduce<unknown>(
        (v, key) => (v !== null && typeof v === "object" ? (v as Record<string | number, unknown>)[key] : undefined),
        value,
    );

/**
 * Where a kind keeps a CA bundle as caBundle (base64 of PEM, the API server refuses anything
 * else): each webhook of a webhook configuration, an aggregated API service, and a custom
 * resource's conversion webhook (apiextensions.k8s.io/v1, and v1beta1 as older exports hold it).
 */
function caBundlePaths(object: KubernetesObject): (string | number)[][] {
    switch (object.kind) {
        case "MutatingWebhookConfiguration":
        case "ValidatingWebhookConfiguration":
            return (Array.isArray(object.webhooks) ? object.webhooks : []).map((_, i) => [
                "webhooks",
                i,
                "clientConfig",
                "caBundle",
            ]);
        case "APIService":
            return [["spec", "caBundle"]];
        case "CustomResourceDefinition":
            return [
                ["spec", "conversion", "webhook", "clientConfig", "caBundle"],
                ["spec", "conversion", "webhookClientConfig", "caBundle"],
            ];
        default:
            return [];
    }
}

/** How to get a kind's object again, as `kubectl get -o yaml` exports it. */
const exportedAgain = (kind: string): string =>
    `export the ${kind} again with kubectl get ${kind.toLowerCase()} -o yaml`;

/** The fix for a damaged base64 value of a Secret or ConfigMap: export it again, or give the text. */
const damagedValueFix = (kind: string): string =>
    `${exportedAgain(kind)}, or give the text under ${kind === "Secret" ? "stringData" : "data"}`;

/** How messages name a Kubernetes object: `Secret "x"`. */
const objectName = (object: KubernetesObject): string =>
    typeof object.metadata?.name === "string"
        ? `${object.kind as string} "${object.metadata.name}"`
        : `a ${object.kind as string} without metadata.name`;

/** The values of a Kubernetes object that it keeps in base64 and that may hold certificates or CRLs. */
function base64Fields(object: KubernetesObject): Base64Field[] {
    const kind = String(object.kind);
    if (kind === "Secret") {
        const fix = damagedValueFix(kind);
        return entriesOf(object.data).map(([key, value]) => ({ field: `data key "${key}"`, value, fix }));
    }
    if (kind === "ConfigMap") {
        const fix = damagedValueFix(kind);
        return entriesOf(object.binaryData).map(([key, value]) => ({ field: `binaryData key "${key}"`, value, fix }));
    }
    return caBundlePaths(object).map((path) => ({
        field: path
            .map((key) => (typeof key === "number" ? `[${key}]` : `.${key}`))
            .join("")
            .slice(1),
        value: valueAt(object, path),
        fix: `${exportedAgain(kind)}, or put the base64 of the PEM CA bundle there`,
    }));
}

/**
 * A Kubernetes object's base64 values (a Secret's data, a ConfigMap's binaryData, a caBundle),
 * decoded (PEM or DER), each naming its place; a damaged value is refused, naming the object and field.
 */
function base64Values(object: KubernetesObject, file: string): Content[] {
    const name = objectName(object);
    return base64Fields(object).flatMap(({ field, value, fix }) => {
        if (typeof value !== "string") return [];
        const problem = base64Problem(value);
        if (problem !== undefined)
            throw new InputError(`${file}: ${field} of ${name} is not valid base64 (${problem}); ${fix}`);
        const bytes = Buffer.from(value, "base64");
        const content = bytesContent(bytes);
        const damaged = pemReadProblem(bytes.toString("utf8"), fix, " of its value", content.text);
        if (damaged !== undefined) throw new InputError(`${file}: ${field} of ${name}: ${damaged}`);
        return [{ ...content, place: `${field} of ${name}`, fix }];
    });
}

/** Padded base64 as Kubernetes writes a Secret's data, a ConfigMap's binaryData or a caBundle (line breaks allowed, as YAML may fold it). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * What is wrong with a base64 value, or undefined if it is base64. Node's decoder would
 * not say: it skips characters outside the alphabet and stops at a stray "=", so a damaged
 * certificate would silently vanish or be read from what is left.
 */
function base64Problem(value: string): string | undefined {
    if (BASE64.test(value.replace(/\s+/g, ""))) return undefined;
    const bad = /[^A-Za-z0-9+/=\s]/.exec(value);
    return bad !== null ? `${json(bad[0])} at character ${bad.index + 1}` : `cut short, or "=" other than at its end`;
}

/**
 * The largest file expiry reads, 16 MiB: far more than certificates, CRLs and keystores take, or a
 * kubectl export of them, while each byte read is held about ten times over (text, unescaped text,
 * parsed documents), and past 512 MiB Node cannot make it a string at all (a core dump in --dir).
 */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

function readBytes(file: string): Buffer {
    try {
        return readRegularBytes(file, MAX_FILE_BYTES);
    } catch (error) {
        if (error instanceof FileTooLarge) {
            throw new InputError(
                `cannot read ${file}: it is ${error.size} bytes, more than the ${MAX_FILE_BYTES} (16 MiB) expiry reads, far more than certificates, CRLs and keystores take; leave it out of what expiry watches`,
            );
        }
        throw cannotRead(file, error);
    }
}

/** How to get a file whose PEM block was cut short. */
const COPY_AGAIN = "copy the file again, whole";

/**
 * What is wrong with the PEM blocks of a text, as the end of a sentence that names the file, or
 * undefined: two blocks run together on one line, or a block without its END line (`fix`: how to
 * get it whole). What it holds would go unwatched, while the server given the file refuses it.
 * Names the label and line only, never the text (a key file cut short is no less secret).
 * `inString` as pemBlocks takes it; `note` follows where the line is (`within`).
 */
function pemProblem(text: string, fix: string, within = "", inString = false, note = ""): string | undefined {
    const joined = runTogetherPemBlock(text, inString);
    if (joined !== undefined) return runTogetherProblem(joined, `${within}${note}`);
    const block = unendedPemBlock(text, inString);
    if (block === undefined) return undefined;
    return `the ${block.label} block that begins at line ${block.line}${within}${note} has no END line (cut short?); ${fix}`;
}

/**
 * pemProblem of a text as written, then as expiry reads it (`read`: unescaped), where more blocks
 * begin a line: an indented one (a Helm template), or one in a JSON string held in the text (an
 * APIC payload in a ConfigMap). Its reader is given those, so one cut short or run into the next
 * goes unwatched just as well. The line is then the unescaped text's, said so when it has \n escapes.
 */
function pemReadProblem(text: string, fix: string, within = "", read = unescaped(text)): string | undefined {
    const note = text.includes("\\n") ? " (each \\n counted as a line break)" : "";
    return pemProblem(text, fix, within) ?? pemProblem(read, fix, within, true, note);
}

/** A text with JSON's \n escapes and indentation undone, so that a PEM block in a payload is whole. */
function unescaped(text: string): string {
    return text.replace(/\\n/g, "\n").replace(/^[ \t]+/gm, "");
}

/**
 * Where certificates and CRLs may sit: PEM blocks in a text, and DER in the bytes of a file or of a
 * decoded base64 value (a certificate or CRL file as a CA hands it out, or kept so in a Secret).
 */
interface Content extends Placed {
    text: string;
    bytes?: Buffer;
}

/** Where in a file a value was read, and how to get it whole: what a message about it names. */
interface Placed {
    /** Where in a Kubernetes object: `data key "ca.crt" of Secret "x"`, `stringData key "tls.crt" of Secret "x"`. */
    place?: string;
    /** Where else in a JSON or YAML document: `the string at .truststore`. Named in messages only. */
    at?: string;
    /** How to get the value whole again, said after a message about it. */
    fix?: string;
}

/** Bytes that may be PEM, or DER. */
const bytesContent = (bytes: Buffer): Content => ({ text: unescaped(bytes.toString("utf8")), bytes });

/** A Kubernetes manifest in YAML, whatever the file is called: a top-level apiVersion or kind. */
const MANIFEST = /^(?:apiVersion|kind):/m;

/**
 * What a file holds, told by its content: JSON (a payload, or Kubernetes objects as kubectl get -o
 * json or the API server's answer give them) or Kubernetes YAML (kubectl get -o yaml saved as .txt
 * or without extension), read as documentContents; else its text and bytes. A file named .yaml or .yml (in any case) must be YAML; one that only looks
 * like a manifest and is not YAML (a Helm template, notes) is read as text.
 */
function contentsOf(file: string): Content[] {
    const bytes = readBytes(file);
    const text = bytes.toString("utf8");
    // As written only: in JSON and YAML each string is checked as read (documentContents).
    const written = pemProblem(text, COPY_AGAIN);
    if (written !== undefined) throw new InputError(`${file}: ${written}`);
    const readContent = (): Content => {
        const content = bytesContent(bytes);
        const read = pemReadProblem(text, COPY_AGAIN, "", content.text);
        if (read !== undefined) throw new InputError(`${file}: ${read}`);
        return content;
    };
    if (/\.ya?ml$/i.test(file)) {
        let documents: unknown[];
        try {
            documents = yamlDocuments(text);
        } catch (error) {
            throw new InputError(`${file} is not YAML: ${(error as Error).message}`);
        }
        return documentContents(documents, file);
    }
    const json = jsonDocument(text);
    if (json !== undefined) return documentContents([json], file);
    if (!MANIFEST.test(text)) return [readContent()];
    let documents: unknown[];
    try {
        documents = yamlDocuments(text);
    } catch {
        return [readContent()]; // it only looks like a manifest
    }
    return documentContents(documents, file);
}

/** Where a certificate or CRL was found: a file, and where in it (place: in a Kubernetes object). */
interface Source extends Placed {
    file: string;
}

interface Found extends Source {
    /** What tells it apart from the others: see identity. */
    id: string;
    certificate?: crypto.X509Certificate;
    crl?: CrlInfo;
}

/**
 * What tells certificates and CRLs apart: the SHA-256 of their DER, as a certificate's fingerprint
 * is. So one CRL seen as PEM in one file and as DER in another, or wrapped or ended (CRLF) another
 * way, is one row, while two CRLs of one CA differ in their bytes (number, times, signature). Not
 * its issuer, number and thisUpdate: two CRLs that share those yet list different serials (a CA
 * re-signed without counting up) would be taken for one, and the other would go unwatched.
 */
const identity = (der: Buffer): string => crypto.createHash("sha256").update(der).digest("hex");

function parsed<T>(source: Source, what: string, read: () => T): T {
    try {
        return read();
    } catch (error) {
        const within = source.place ?? source.at;
        const where = within === undefined ? source.file : `${source.file}: ${within}`;
        const fix = source.fix === undefined ? "" : `; ${source.fix}`;
        throw new InputError(`${where}: ${what} cannot be read: ${readerProblem(error as Error)}${fix}`);
    }
}

/**
 * What a reader said, OpenSSL's error code left out ("error:0680009B:asn1 encoding routines::too
 * long" is "its DER is malformed (too long)"): a user can do nothing with the code.
 */
function readerProblem(error: Error): string {
    const openssl = /^error:[0-9A-F]{8}:[^:]*:[^:]*:(.+)$/.exec(error.message);
    return openssl === null ? error.message : `its DER is malformed (${openssl[1]})`;
}

/**
 * The certificate or CRL that a DER value is, or those a PKCS#7 bundle carries; none when it is
 * neither: a key is skipped, as text without PEM blocks is, since DER has no label that says what
 * it holds (a PKCS#12 keystore in a file is read by keystoreFound, in a Kubernetes value skipped).
 */
function derFound(der: Buffer, source: Source): Found[] {
    let certificate: crypto.X509Certificate | undefined;
    try {
        certificate = new crypto.X509Certificate(der);
    } catch {
        certificate = undefined;
    }
    if (certificate !== undefined) return [{ ...source, id: identity(der), certificate }];
    const crl = parsed(source, "a DER CRL", () => crlInDer(der));
    if (crl !== undefined) return [{ ...source, id: identity(der), crl }];
    const bundle = parsed(source, "a DER PKCS#7 bundle", () => pkcs7Contents(der));
    return (bundle ?? []).flatMap((element) => derFound(element, source));
}

/**
 * The largest password file expiry reads, 1 KiB: render writes 32 letters, and openssl's -passin
 * file: takes 1023 characters at most. A file given there by mistake (a key, an image, a dump) is
 * refused by its size before it is read, rather than read whole and tried as a password.
 */
const MAX_PASSWORD_BYTES = 1024;

/**
 * Where the password file `<file>.password` of the keystore `file` that is a link leads, when that
 * is the file beside the keystore's real file, as for every key of a mounted Secret (kubelet links
 * each through ..data into one folder). A link anywhere else is refused, so that no other file is
 * taken for the password.
 */
function linkedPasswordFile(file: string, passwordFile: string): string {
    let real: string;
    let beside: string;
    linkTarget(passwordFile); // one that leads nowhere is named as any such link is
    try {
        real = fs.realpathSync(passwordFile);
        beside = `${fs.realpathSync(file)}.password`;
    } catch (error) {
        throw cannotRead(passwordFile, error);
    }
    if (real !== beside) {
        throw new InputError(
            `${passwordFile} is a symbolic link to ${real}, not to the file beside the keystore's own file (${beside}); expiry reads the password of ${file} from a file beside it, as render writes it, or through a link to that one, as in a mounted Secret: put it there as a file of mode 0600`,
        );
    }
    return real;
}

/**
 * The password of the PKCS#12 keystore `file` from `<file>.password` beside it, read as render
 * writes it and as the package reads its other secrets: a regular file of its owner alone (mode
 * 0600), opened without following a link (withRegularFileNoFollow; a FIFO there must not hang the
 * monitoring job), or through one only to the file beside the keystore's real file
 * (linkedPasswordFile); a line end at its end is not part of it. Undefined when there is none.
 * Never quoted.
 */
function keystorePassword(file: string): string | undefined {
    const passwordFile = `${file}.password`;
    const notFile = (): never => {
        throw new InputError(`${passwordFile} is not a regular file; put the password of ${file} there (mode 0600)`);
    };
    const read =
        (linked: boolean) =>
        (fd: number, stat: fs.Stats): string => {
            if (stat.size > MAX_PASSWORD_BYTES) {
                throw new InputError(
                    `cannot read ${passwordFile}: it is ${stat.size} bytes, more than the ${MAX_PASSWORD_BYTES} (1 KiB) a password file may hold (render writes 32 letters); put the password of ${file} there, and nothing else (mode 0600)`,
                );
            }
            const mode = stat.mode & 0o777;
            if ((mode & 0o077) !== 0) {
                // A mounted Secret cannot be changed in place: its volume's defaultMode sets the mode.
                const fix = linked
                    ? `run chmod 600 on the file it links to, or for a mounted Secret set defaultMode: 0400 on its volume`
                    : `run chmod 600 ${passwordFile}`;
                throw new InputError(
                    `${passwordFile} has mode 0${mode.toString(8)}: it holds the password of ${file}, so only its owner may read it (render writes it 0600); ${fix}`,
                );
            }
            try {
                return utf8Text(fs.readFileSync(fd)).replace(/\r?\n$/, "");
            } catch (error) {
                throw new InputError(`cannot read ${passwordFile}: ${(error as Error).message}`);
            }
        };
    /** The refusal of `at` that cannot be opened, by the code of the open's error. */
    const cannotOpen =
        (at: string) =>
        (code: string): never => {
            throw cannotRead(at, { code });
        };
    return withRegularFileNoFollow<string | undefined>(
        passwordFile,
        {
            missing: () => undefined,
            link: () => {
                const real = linkedPasswordFile(file, passwordFile);
                const gone = cannotOpen(real);
                return withRegularFileNoFollow(
                    real,
                    { missing: () => gone("ENOENT"), link: () => gone("ELOOP"), unopenable: gone, notFile },
                    read(true),
                );
            },
            unopenable: cannotOpen(passwordFile),
            notFile,
        },
        read(false),
    );
}

/** What to do with a PKCS#12 keystore without its password beside it: --pem refuses it, --dir warns. */
export type UnreadKeystore = (file: string) => void;

/** What to do with files given that hold no certificate or CRL: --pem refuses them, --dir skips them. */
export type NothingFound = (files: readonly string[]) => void;

/**
 * The refusal of --pem files that hold no certificate or CRL, also beside one that does: a slip
 * (tls.key for tls.crt) would leave a certificate unwatched.
 */
const refuseNothingFound: NothingFound = (files) => {
    if (files.length === 0) return;
    throw new InputError(
        `no certificates or CRLs found in ${[...new Set(files)].join(", ")}; give each --pem a file that holds some (a certificate such as tls.crt or ca.crt, a CA bundle, a CRL, a PKCS#7 bundle, a PKCS#12 keystore with its password, a Secret or ConfigMap), not a key or another file`,
    );
};

/** The refusal of a PKCS#12 keystore given as --pem without its password beside it. */
const refuseKeystore: UnreadKeystore = (file) => {
    throw new InputError(
        `${file} is a PKCS#12 keystore; expiry reads one with its password in ${file}.password beside it (mode 0600, as render writes client.p12), or give the PEM`,
    );
};

/** The certificates of the PKCS#12 keystore that the file `source` is, opened with the password beside it. */
function keystoreFound(pfx: PFX, source: Source, unread: UnreadKeystore): Found[] {
    const password = keystorePassword(source.file);
    if (password === undefined) {
        unread(source.file);
        return [];
    }
    let certificates: Buffer[];
    try {
        certificates = pkcs12Certificates(pfx, password);
    } catch (error) {
        const why = (error as Error).message;
        throw new InputError(
            error instanceof Pkcs12PasswordError
                ? `${source.file}: the password in ${source.file}.password does not open this PKCS#12 keystore: ${why}; put its password there, or give the PEM`
                : `${source.file}: a PKCS#12 keystore cannot be read: ${why}`,
        );
    }
    return certificates.flatMap((der) => derFound(der, source));
}

/** PEM labels of PKCS#7 bundles: PKCS7 as OpenSSL writes it, and CMS, RFC 7468's name (@peculiar/x509 writes it). */
const PKCS7_LABELS = ["PKCS7", "CMS"];

/**
 * `read()`, an error other than an input error (a defect of expiry, or a file it did not foresee)
 * turned into one naming `file`: exit 2, never 1, which monitoring takes for "something due". Its
 * message is not shown: it may quote the file, which may be a key or a password file.
 */
function reading<T>(file: string, read: () => T): T {
    try {
        return read();
    } catch (error) {
        if (error instanceof InputError) throw error;
        throw new InputError(
            `cannot read ${file}: expiry failed on it (${(error as Error).name}; the message is not shown, as it may quote the file); report this defect`,
        );
    }
}

/** Every certificate and CRL of the files, unreadable ones refused; those with none are given to `nothingFound`. */
function findAll(files: readonly string[], unreadKeystore: UnreadKeystore, nothingFound: NothingFound): Found[] {
    const each = files.map((file) => ({ file, found: reading(file, () => foundIn(file, unreadKeystore)) }));
    nothingFound(each.filter((e) => e.found.length === 0).map((e) => e.file));
    return each.flatMap((e) => e.found);
}

/** Every certificate and CRL of one file. */
function foundIn(file: string, unreadKeystore: UnreadKeystore): Found[] {
    const found: Found[] = [];
    for (const { text, bytes, place, at, fix } of contentsOf(file)) {
        const source: Source = { file, place, at, fix };
        // The text as read (inString): a block may also begin a JSON string held in it, as pemReadProblem checks.
        for (const pem of pemBlocks(text, "CERTIFICATE", true)) {
            const x509 = parsed(source, "a CERTIFICATE block", () => new crypto.X509Certificate(pem));
            found.push({ ...source, id: identity(x509.raw), certificate: x509 });
        }
        // The other labels Envoy and OpenSSL read as certificates: a bundle may hold them among its blocks.
        for (const label of CERTIFICATE_LABELS.filter((other) => other !== "CERTIFICATE")) {
            for (const pem of pemBlocks(text, label, true)) {
                const x509 = parsed(source, `${withArticle(label)} block`, () => {
                    const certificate = certificateDerOf(label, pemDecode(pem, label));
                    if (certificate === undefined) throw new Error("it is no certificate followed by trust settings");
                    return new crypto.X509Certificate(certificate);
                });
                found.push({ ...source, id: identity(x509.raw), certificate: x509 });
            }
        }
        for (const pem of pemBlocks(text, "X509 CRL", true)) {
            const crl = parsed(source, "an X509 CRL block", () => parseCrl(pem));
            found.push({ ...source, id: identity(pemDecode(pem, "X509 CRL")), crl });
        }
        for (const label of PKCS7_LABELS) {
            for (const pem of pemBlocks(text, label, true)) {
                const bundle = parsed(source, `${withArticle(label)} block`, () => {
                    const contents = pkcs7Contents(pemDecode(pem, label));
                    if (contents === undefined) throw new Error("it is no PKCS#7 ContentInfo");
                    return contents;
                });
                found.push(...bundle.flatMap((der) => derFound(der, source)));
            }
        }
        for (const der of bytes === undefined ? [] : derSequences(bytes)) {
            const keystore = place === undefined ? pfxOf(der) : undefined;
            found.push(...(keystore ? keystoreFound(keystore, source, unreadKeystore) : derFound(der, source)));
        }
    }
    return found;
}

/**
 * How a row names a certificate: its subject, or, when that is empty (Istio's workload
 * certificates), its subjectAltName, which then says whom it identifies (RFC 5280 4.2.1.6).
 */
function certificateName(cert: crypto.X509Certificate): string {
    // Node gives no subject (undefined) for an empty one.
    if (cert.subject) return cert.subject.replace(/\n/g, ", ");
    return cert.subjectAltName ? `(empty subject) ${cert.subjectAltName}` : "(empty subject)";
}

/**
 * What a certificate or CRL is at `now`: its row without the files and fields it was found in. A
 * certificate's days left and status count to the end of its chain among the certificates found
 * (`ends`): the CA above it that ends first, when one ends before it does.
 */
function judged(
    f: Found,
    thresholds: ExpiryThresholds,
    now: Date,
    renewals: ReadonlyMap<string, string>,
    ends: ChainEnds,
): Omit<ExpiryRow, "files" | "fields"> {
    const daysLeft = (end: Date): number => Math.floor((end.getTime() - now.getTime()) / DAY_MS);
    if (f.certificate !== undefined) {
        const cert = f.certificate;
        const notBefore = new Date(cert.validFrom);
        const notAfter = new Date(cert.validTo);
        const recorded = renewals.get(cert.fingerprint256);
        const renewAt = recorded
            ? new Date(recorded)
            : new Date(notAfter.getTime() - defaultEarlyRenewalMs(notAfter.getTime() - notBefore.getTime()));
        const first = ends.of(cert).first;
        const end = first === undefined ? notAfter : new Date(first.ca.validTo);
        const left = daysLeft(end);
        const status = notYetValidAt(cert, now)
            ? "not yet valid"
            : expiredAt(cert, now) || (first !== undefined && end <= now)
              ? "expired"
              : left < thresholds.warnDays
                ? "renew soon"
                : renewAt <= now
                  ? "renew due"
                  : "ok";
        return {
            kind: "certificate",
            subject: certificateName(cert),
            notBefore: notBefore.toISOString(),
            serial: cert.serialNumber,
            notAfter: notAfter.toISOString(),
            renewAt: renewAt.toISOString(),
            daysLeft: left,
            status,
            due: status === "expired" || status === "renew soon" || status === "not yet valid",
            ...(first === undefined
                ? {}
                : {
                      effectiveNotAfter: end.toISOString(),
                      endsFirst: { subject: certificateName(first.ca), depth: first.depth },
                  }),
        };
    }
    const crl = f.crl as CrlInfo;
    // Half its validity for a CRL re-signed every period; as long as its CA (years): its CA's alert.
    const validity = crl.nextUpdate.getTime() - crl.thisUpdate.getTime();
    const lead = Math.min(thresholds.crlWarnFraction * validity, thresholds.warnDays * DAY_MS);
    const dueAt = new Date(crl.nextUpdate.getTime() - lead);
    // Dated after now (a signer's clock ahead): the node refuses every peer the CRL covers. Due once
    // less than the lead is left, as a certificate once less than --warn-days is (left < warnDays
    // above): at dueAt itself the lead is left exactly, not less.
    const status =
        crl.nextUpdate <= now
            ? "expired"
            : !crlValidAt(crl, now)
              ? "not yet valid"
              : dueAt < now
                ? "publish soon"
                : "ok";
    return {
        kind: "crl",
        subject: `CRL of ${crl.issuerCommonName ?? (crl.issuer === "" ? "a CA of empty name" : crl.issuer)} (${crl.revokedSerials.length} revoked)`,
        notBefore: crl.thisUpdate.toISOString(),
        serial: crl.numberText === undefined ? "-" : `#${crl.numberText}`,
        notAfter: crl.nextUpdate.toISOString(),
        renewAt: dueAt.toISOString(),
        daysLeft: daysLeft(crl.nextUpdate),
        status,
        due: status !== "ok",
    };
}

/**
 * The rows of the offline roots' CRL series a render recorded (`recorded`, from `file`): due like a
 * certificate, within warnDays of the end, when the ceremony must sign a new series. The CRL rows
 * cannot tell: each CRL is judged by its own validity, a period or two, and past the series' end
 * the stack has no CRL of the root to publish, so every peer under the root is refused.
 */
function crlSeriesRows(
    recorded: readonly RecordedCrlSeries[],
    file: string,
    thresholds: ExpiryThresholds,
    now: Date,
): ExpiryRow[] {
    return recorded.map((series, i) => {
        const ends = new Date(series.ends);
        const left = Math.floor((ends.getTime() - now.getTime()) / DAY_MS);
        const status = ends <= now ? "expired" : left < thresholds.warnDays ? "ceremony soon" : "ok";
        return {
            kind: "crl series",
            subject: `CRL series of ${series.issuer} (${series.key})`,
            notBefore: new Date(series.from).toISOString(),
            serial: "-",
            notAfter: ends.toISOString(),
            renewAt: new Date(ends.getTime() - thresholds.warnDays * DAY_MS).toISOString(),
            daysLeft: left,
            status,
            due: status !== "ok",
            files: [file],
            fields: [`${file}: crlSeries[${i}]`],
        };
    });
}

/** Where a certificate's chain stops verifying: its end, and the CA that sets it (none: its own end). */
interface ChainEnd {
    end: number;
    first?: { ca: crypto.X509Certificate; depth: number };
}

/**
 * The effective end of each certificate among those found: a verifier refuses it once every path
 * it could build holds a certificate that expired, so, over the paths through its candidate
 * issuers, the latest of each path's earliest notAfter, and the CA that sets it (`first`, with its
 * depth: 1 the issuer). Candidate issuers are looked up by subject and each result kept by
 * fingerprint, so that a render's thousand certificates are not each searched for among all the
 * others along every chain.
 */
class ChainEnds {
    private readonly bySubject = new Map<string, crypto.X509Certificate[]>();
    private readonly known = new Map<string, ChainEnd>();

    constructor(certificates: Iterable<crypto.X509Certificate>) {
        const seen = new Set<string>();
        for (const c of certificates) {
            // One copy of each (a certificate found in several files is one candidate issuer).
            if (seen.has(c.fingerprint256)) continue;
            seen.add(c.fingerprint256);
            const same = this.bySubject.get(c.subject ?? "");
            if (same === undefined) this.bySubject.set(c.subject ?? "", [c]);
            else same.push(c);
        }
    }

    /**
     * The certificates found that could have issued `cert` (its issuer's name and a key that
     * verifies its signature): more than one for a CA cross-signed beside its self-signed
     * certificate, or re-issued with its key (@pulumi/tls's early renewal).
     */
    private issuers(cert: crypto.X509Certificate): crypto.X509Certificate[] {
        return (this.bySubject.get(cert.issuer ?? "") ?? []).filter((c) => c !== cert && signedBy(cert, c));
    }

    /**
     * cert's effective end: its own notAfter for a self-signed certificate (an anchor, where a path
     * ends) or one whose issuer is not found; else the earlier of its own and the latest its
     * candidate issuers' paths reach, as a verifier picks the path that still verifies. `onPath`
     * holds the certificates above it on this path: one met again ends that path there (a loop of
     * cross-certificates), and a result cut so is not kept, since another path may reach it whole.
     */
    of(cert: crypto.X509Certificate, onPath: ReadonlySet<string> = new Set()): ChainEnd & { cut: boolean } {
        const kept = this.known.get(cert.fingerprint256);
        if (kept !== undefined) return { ...kept, cut: false };
        const own = new Date(cert.validTo).getTime();
        let result: ChainEnd = { end: own };
        let cut = false;
        if (!isSelfSigned(cert)) {
            const above = new Set(onPath).add(cert.fingerprint256);
            let best: { ca: crypto.X509Certificate; end: ChainEnd } | undefined;
            for (const ca of this.issuers(cert)) {
                if (above.has(ca.fingerprint256)) {
                    cut = true;
                    continue;
                }
                const reached = this.of(ca, above);
                cut ||= reached.cut;
                if (best === undefined || later(reached, ca, best.end, best.ca)) best = { ca, end: reached };
            }
            if (best !== undefined && best.end.end < own) {
                const first = best.end.first;
                result = {
                    end: best.end.end,
                    first: first === undefined ? { ca: best.ca, depth: 1 } : { ca: first.ca, depth: first.depth + 1 },
                };
            }
        }
        if (!cut) this.known.set(cert.fingerprint256, result);
        return { ...result, cut };
    }
}

/**
 * Whether the path through issuer `ca`, reaching `a`, beats the one through `bestCa`, reaching `b`:
 * it ends later; at the same end, it names a nearer CA, then the lower fingerprint, so that the
 * order of the files read changes nothing.
 */
function later(a: ChainEnd, ca: crypto.X509Certificate, b: ChainEnd, bestCa: crypto.X509Certificate): boolean {
    if (a.end !== b.end) return a.end > b.end;
    const depth = (e: ChainEnd) => e.first?.depth ?? 0;
    if (depth(a) !== depth(b)) return depth(a) < depth(b);
    return ca.fingerprint256 < bestCa.fingerprint256;
}

/** How the text report says which CA ends first: its common name, else its whole subject. */
function endsFirstText(endsFirst: { subject: string; depth: number }): string {
    const name = /(?:^|, )CN=([^,]*)/.exec(endsFirst.subject)?.[1] ?? endsFirst.subject;
    return endsFirst.depth === 1 ? `its issuer ${name} ends first` : `${name}, above its issuer, ends first`;
}

/**
 * One row per distinct certificate or CRL, soonest end first. A certificate's days left count to
 * the end of its chain among the certificates found (ChainEnds).
 */
export function expiryReport(
    files: readonly string[],
    thresholds: ExpiryThresholds,
    now: Date = new Date(),
    renewals: ReadonlyMap<string, string> = new Map(),
    unreadKeystore: UnreadKeystore = refuseKeystore,
    nothingFound: NothingFound = refuseNothingFound,
): ExpiryRow[] {
    const rows = new Map<string, ExpiryRow>();
    const found = findAll(files, unreadKeystore, nothingFound);
    // Every certificate first: a certificate's row counts to the end of its chain among them.
    const ends = new ChainEnds(found.flatMap((f) => (f.certificate === undefined ? [] : [f.certificate])));
    for (const f of found) {
        const field = f.place === undefined ? [] : [`${f.file}: ${f.place}`];
        const known = rows.get(f.id);
        if (known !== undefined) {
            if (!known.files.includes(f.file)) known.files.push(f.file);
            known.fields.push(...field.filter((p) => !known.fields.includes(p)));
            continue;
        }
        const row = reading(f.file, () => judged(f, thresholds, now, renewals, ends));
        rows.set(f.id, { ...row, files: [f.file], fields: field });
    }
    return [...rows.values()].sort((a, b) => a.daysLeft - b.daysLeft);
}

/**
 * A due row as the text report's last line says it: its subject and status, from when one not valid
 * yet is; for a CRL series, that its end needs a ceremony (no re-publication fixes it).
 */
function dueText(row: ExpiryRow): string {
    const subject = shownText(row.subject);
    if (row.kind === "crl series") {
        return `${subject} ${row.status === "expired" ? "ended" : "ends"} ${row.notAfter}: ceremony needed (ceremony crl)`;
    }
    const chain = row.endsFirst === undefined ? "" : `: ${shownText(endsFirstText(row.endsFirst))}`;
    return `${subject} (${row.status === "not yet valid" ? `not valid before ${row.notBefore}` : row.status}${chain})`;
}

function number(
    value: string | undefined,
    option: string,
    fallback: string,
    check: (n: number) => boolean,
    what: string,
): number {
    const text = value ?? fallback;
    const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
    if (!check(n)) throw new UsageError(`${option} must be ${what}; got "${text}"`);
    return n;
}

async function expiry(argv: string[], out: (text: string) => void): Promise<number> {
    const values = parse<{
        dir?: string;
        pem?: string[];
        "warn-days"?: string;
        "crl-warn-fraction"?: string;
        now?: string;
        format?: string;
    }>(argv, {
        dir: { type: "string" },
        pem: { type: "string", multiple: true },
        "warn-days": { type: "string", number: true },
        "crl-warn-fraction": { type: "string", number: true },
        now: { type: "string" },
        format: { type: "string" },
    });
    const warnDays = number(values["warn-days"], "--warn-days", "30", Number.isInteger, "a whole number of days >= 0");
    const crlWarnFraction = number(
        values["crl-warn-fraction"],
        "--crl-warn-fraction",
        "0.5",
        (n) => n >= 0 && n < 1,
        "a fraction of a CRL's validity from 0 to below 1, e.g. 0.5",
    );
    const format = oneOf(values.format ?? "text", "--format", ["text", "json"]);
    const now = values.now === undefined ? new Date() : parseNow(values.now);
    if ((values.dir === undefined) === (values.pem === undefined)) throw new UsageError("give either --dir or --pem");
    const files = values.dir !== undefined ? filesOfDir(values.dir) : (values.pem as string[]);
    for (const f of files) {
        if (entryOf(f) === undefined) throw new InputError(`${f}: no such file`);
        linkTarget(f);
    }
    // A keystore in a folder is named rather than skipped silently, without changing what the exit status means.
    const warnKeystore: UnreadKeystore = (file) =>
        void process.stderr.write(
            shownText(
                `warning: ${file} is a PKCS#12 keystore without ${file}.password beside it: its certificates are not watched; put its password there (mode 0600), or watch its PEM`,
            ) + "\n",
        );
    const thresholds = { warnDays, crlWarnFraction };
    const recorded = recordedInventory(values.dir);
    const found = expiryReport(
        files,
        thresholds,
        now,
        recorded.renewals,
        values.dir === undefined ? refuseKeystore : warnKeystore,
        values.dir === undefined ? refuseNothingFound : () => undefined,
    );
    // With --pem, each file without any is refused above.
    if (found.length === 0) throw new InputError(`no certificates or CRLs found in ${values.dir as string}`);
    // A render's copy of pki:frontEnd.publicRoots: named as such, since that key (not a renewal) replaces one.
    const publicRoots = values.dir === undefined ? undefined : path.join(values.dir, PUBLIC_ROOTS_FILE);
    for (const row of found) {
        if (publicRoots !== undefined && row.kind === "certificate" && row.files.includes(publicRoots))
            row.subject = `public root (pki:frontEnd.publicRoots): ${row.subject}`;
    }
    const series = recorded.file === undefined ? [] : crlSeriesRows(recorded.crlSeries, recorded.file, thresholds, now);
    const rows = [...found, ...series].sort((a, b) => a.daysLeft - b.daysLeft);
    const due = rows.filter((r) => r.due);
    // Subjects, CRL issuers and file names are shown escaped (shownText): a CRL's issuer may hold
    // ESC or CSI (U+009B) sequences, which a terminal would obey. In JSON, line by line: only
    // JSON's own line breaks are raw, and the values a parser reads stay as they are.
    if (format === "json") {
        out(
            JSON.stringify(
                {
                    healthy: due.length === 0,
                    due: due.length,
                    now: now.toISOString(),
                    warnDays,
                    crlWarnFraction,
                    rows,
                },
                null,
                2,
            )
                .split("\n")
                .map(shownText)
                .join("\n") + "\n",
        );
    } else {
        out(
            textTable(
                ["status", "days left", "not after", "renew at", "subject", "serial"],
                rows.map((r) => ({
                    status: r.status,
                    "days left":
                        r.endsFirst === undefined
                            ? String(r.daysLeft)
                            : `${r.daysLeft} (${shownText(endsFirstText(r.endsFirst))})`,
                    "not after": r.notAfter,
                    "renew at": r.renewAt,
                    subject: shownText(r.subject),
                    serial: r.serial,
                })),
            ),
        );
        // Each kind counted with its own due ones: "2 of 10 certificates" must not count two CRLs.
        const counted = (of: (kind: ExpiryRow["kind"]) => string): string =>
            series.length === 0
                ? `${of("certificate")} certificates and ${of("crl")} CRLs`
                : `${of("certificate")} certificates, ${of("crl")} CRLs and ${of("crl series")} CRL series`;
        const count = (kind: ExpiryRow["kind"], among: readonly ExpiryRow[] = rows): number =>
            among.filter((r) => r.kind === kind).length;
        out(
            due.length === 0
                ? `${counted((kind) => `${count(kind)}`)}: none due (within ${warnDays} days; CRLs also with less than ${crlWarnFraction} of their validity left)\n`
                : `${counted((kind) => `${count(kind, due)} of ${count(kind)}`)} due: ${due.map(dueText).join("; ")}\n`,
        );
    }
    return due.length === 0 ? 0 : 1;
}

export const expiryCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        try {
            return await expiry(argv, out);
        } catch (error) {
            // A file name, or a value from one, may hold terminal controls (ESC, CSI, bidi overrides).
            if (error instanceof InputError) throw new InputError(shownText(error.message));
            if (error instanceof UsageError) throw new UsageError(shownText(error.message));
            // Exit 1 tells monitoring that something is due: any other failure is exit 2, as an input error is.
            throw new InputError(
                `expiry failed (${(error as Error).name}; the message is not shown, as it may quote a file); report this defect`,
            );
        }
    },
};
