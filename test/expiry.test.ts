/**
 * expiry for monitoring: certificates and CRLs judged by their own thresholds, exit 0 healthy,
 * 1 due, 2 wrong usage or unreadable input, JSON, and Secrets as `kubectl get secret -o yaml`
 * exports them (base64 data).
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createPrivateKey, X509Certificate } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { id_data, id_encryptedData, id_signedData } from "@peculiar/asn1-cms";
import { id_pbeWithSHAAnd3_KeyTripleDES_CBC } from "@peculiar/asn1-pfx";
import { id_sha256 } from "@peculiar/asn1-rsa";
import { X509Certificate as PeculiarCertificate, X509Certificates } from "@peculiar/x509";
import * as asn1js from "asn1js";
import * as YAML from "yaml";
import { ExpiryRow } from "../lib/cli/expiry";
import { main } from "../lib/cli/main";
import { pemBlocks, pemDecode, pemEncode, privateKeyLabel } from "../lib/pki/pem";
import { buildCrl, CLOCK_SKEW_MS, parseCrl } from "../lib/pki/crl";
import { buildPkcs12, PKCS12_MAX_ITERATIONS, PKCS12_MIN_ITERATIONS } from "../lib/pki/pkcs12";
import {
    AS_USER,
    cli,
    crossSign,
    emptyCrlOf,
    gatewayServerConfig,
    loadStackFile,
    mintRoot,
    mintSubCa,
    newStackState,
    OPTION_FILES,
    Rendered,
    renderNext,
    ROOT,
    tempDir,
    TestCa,
} from "./helpers";
import { TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";

const DAY_MS = 86_400_000;

/** What expiry tells to give instead of a --pem file without any certificate or CRL. */
const NOTHING_FOUND_FIX =
    "; give each --pem a file that holds some (a certificate such as tls.crt or ca.crt, a CA bundle, a CRL, a PKCS#7 bundle, a PKCS#12 keystore with its password, a Secret or ConfigMap), not a key or another file";

/**
 * A PKCS#7 bundle byte for byte as `openssl crl2pkcs7` writes one: SignedData without signers,
 * the certificates under [0] and the CRLs under [1].
 */
function pkcs7(certificates: Buffer[], crls: Buffer[]): Buffer {
    const tagged = (tagNumber: number, ders: Buffer[]) =>
        new asn1js.Constructed({
            idBlock: { tagClass: 3, tagNumber },
            value: ders.map((der) => asn1js.fromBER(der).result),
        });
    const signedData = new asn1js.Sequence({
        value: [
            new asn1js.Integer({ value: 1 }),
            new asn1js.Set(),
            new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: id_data })] }),
            tagged(0, certificates),
            tagged(1, crls),
            new asn1js.Set(),
        ],
    });
    const contentInfo = new asn1js.Sequence({
        value: [
            new asn1js.ObjectIdentifier({ value: id_signedData }),
            new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [signedData] }),
        ],
    });
    return Buffer.from(contentInfo.toBER());
}
const CLI = path.join(ROOT, "dist/lib/cli/main.js");

/**
 * A PKCS#12 keystore (PFX) that asks for this work: a SHA-256 MAC of `macIterations` (none when
 * undefined) and encrypted parts (3DES) of these counts. Its MAC and parts are zeros, which neither
 * match nor decrypt: the reader's limits are checked before it derives any key, so counts of
 * millions cost nothing here.
 */
function keystoreAsking(macIterations: number | undefined, partIterations: number[]): Buffer {
    const sequence = (...value: asn1js.BaseBlock[]) => new asn1js.Sequence({ value });
    const oid = (value: string) => new asn1js.ObjectIdentifier({ value });
    const integer = (value: number) => new asn1js.Integer({ value });
    const zeros = (length: number) => new asn1js.OctetString({ valueHex: new Uint8Array(length) });
    const tagged = (value: asn1js.BaseBlock) =>
        new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [value] });
    // ContentInfo of EncryptedData: version, then EncryptedContentInfo (type, algorithm, [0] content).
    const encryptedPart = (iterations: number) =>
        sequence(
            oid(id_encryptedData),
            tagged(
                sequence(
                    integer(0),
                    sequence(
                        oid(id_data),
                        sequence(oid(id_pbeWithSHAAnd3_KeyTripleDES_CBC), sequence(zeros(8), integer(iterations))),
                        new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: new Uint8Array(8) }),
                    ),
                ),
            ),
        );
    const authenticatedSafe = sequence(...partIterations.map(encryptedPart)).toBER();
    const macData =
        macIterations === undefined
            ? []
            : [
                  sequence(
                      sequence(sequence(oid(id_sha256), new asn1js.Null()), zeros(32)),
                      zeros(8),
                      integer(macIterations),
                  ),
              ];
    const pfx = sequence(
        integer(3),
        sequence(oid(id_data), tagged(new asn1js.OctetString({ valueHex: authenticatedSafe }))),
        ...macData,
    );
    return Buffer.from(pfx.toBER());
}

interface ExpiryJson {
    healthy: boolean;
    due: number;
    rows: ExpiryRow[];
}

describe("expiry: exit statuses and JSON for monitoring", function () {
    this.timeout(120_000);
    let rendered: Rendered;
    let dir: string;

    before(async () => {
        const state = newStackState();
        const first = await renderNext(loadStackFile(OPTION_FILES[1]), "expiry-first", state);
        const serial = new X509Certificate(first.read("apic/ob/client.crt")).serialNumber;
        // Issued just now: a revocation is dated no earlier than CLOCK_SKEW_MS before that.
        const revokedAt = new Date(Date.now() - CLOCK_SKEW_MS).toISOString();
        rendered = await renderNext(
            {
                ...loadStackFile(OPTION_FILES[1]),
                revocations: [{ endpoint: "ob", serial, epoch: 0, reason: "keyCompromise", revokedAt }],
            },
            "expiry-crls",
            state,
        );
        dir = tempDir("expiry-files");
    });

    const json = async (...args: string[]) => {
        const result = await cli("expiry", ...args, "--format", "json");
        return {
            status: result.status,
            err: result.err,
            report: result.out === "" ? undefined : (JSON.parse(result.out) as ExpiryJson),
        };
    };

    it("exits 0 on a fresh render with CRLs, each CRL judged by its own validity, not the certificates' 30 days", async () => {
        const { status, report } = await json("--dir", rendered.dir, "--warn-days", "30");
        assert.strictEqual(status, 0);
        assert.strictEqual(report?.healthy, true);
        const crls = report?.rows.filter((r) => r.kind === "crl") ?? [];
        assert.deepStrictEqual(crls.map((r) => [r.subject, r.status, r.due]).sort(), [
            ["CRL of example APIC client CA (1 revoked)", "ok", false],
            ["CRL of example APIC client root CA (0 revoked)", "ok", false],
        ]);
        // The periodic CRL expires within 30 days, yet is not due: half its validity is left.
        const periodic = crls.find((r) => r.subject.startsWith("CRL of example APIC client CA"));
        assert.ok(periodic !== undefined && periodic.daysLeft < 30, JSON.stringify(periodic));
        assert.strictEqual(report?.rows.filter((r) => r.kind === "certificate").length, 10);
    });

    it("judges a CRL that lasts as long as its CA like that CA, also without the CA's certificate", async () => {
        const rootCrl = pemBlocks(gatewayServerConfig(rendered, "ob").caCrl ?? "", "X509 CRL")[1];
        const file = path.join(dir, "root.crl");
        fs.writeFileSync(file, rootCrl);
        const ends = parseCrl(rootCrl).nextUpdate.getTime();
        const at = (daysLeft: number) => new Date(ends - daysLeft * DAY_MS).toISOString();
        // Far less than half its validity (ten years) is left, but more than the 30 days of a certificate.
        const quiet = await json("--pem", file, "--now", at(31));
        assert.deepStrictEqual(
            [quiet.status, quiet.report?.rows.map((r) => [r.subject, r.status, r.daysLeft])],
            [0, [["CRL of example APIC client root CA (0 revoked)", "ok", 31]]],
        );
        const due = await json("--pem", file, "--now", at(29));
        assert.deepStrictEqual(
            [due.status, due.report?.rows.map((r) => [r.status, r.daysLeft])],
            [1, [["publish soon", 29]]],
        );
        // The boundary, as README says and as for a certificate: due when less than --warn-days is
        // left. Exactly 30 days left is not due; a millisecond later it is.
        const exactly = await json("--pem", file, "--now", at(30));
        assert.deepStrictEqual(
            [exactly.status, exactly.report?.rows.map((r) => [r.status, r.daysLeft, r.renewAt])],
            [0, [["ok", 30, at(30)]]],
        );
        const justUnder = await json("--pem", file, "--now", new Date(Date.parse(at(30)) + 1).toISOString());
        assert.deepStrictEqual(
            [justUnder.status, justUnder.report?.rows.map((r) => [r.status, r.daysLeft])],
            [1, [["publish soon", 29]]],
        );
    });

    it("exits 1 with the due rows when a certificate is inside the window (and a CRL past its next update)", async () => {
        const leaf = rendered.inventory.find((c) => c.id === "ob/server");
        const now = new Date(Date.parse(leaf?.notAfter ?? "") - 20 * DAY_MS).toISOString();
        const { status, report } = await json("--dir", rendered.dir, "--now", now);
        assert.strictEqual(status, 1);
        assert.strictEqual(report?.healthy, false);
        assert.deepStrictEqual(
            report?.rows
                .filter((r) => r.due)
                .map((r) => [r.kind, r.subject, r.status])
                .sort(),
            [
                ["certificate", "O=Example Bank, CN=apic-client dp", "renew soon"],
                ["certificate", "O=Example Bank, CN=apic-client ob", "renew soon"],
                ["certificate", "O=Example Bank, CN=dp.example.api.bank.example", "renew soon"],
                ["certificate", "O=Example Bank, CN=ob.example.api.bank.example", "renew soon"],
                ["crl", "CRL of example APIC client CA (1 revoked)", "expired"],
            ],
        );
        assert.strictEqual(report?.due, 5);
    });

    it("counts a certificate's days to the CA of its chain that ends first, naming it, as a verifier refuses it then", async () => {
        // A root that ends in 10 days above CAs issued for a year and for 200 days: OpenSSL's
        // verify -attime past the root's end fails "certificate has expired" at the root's depth.
        const root = await mintRoot("short root", { validityHours: 10 * 24 });
        const mid = await mintSubCa(root, "long CA", { validityHours: 365 * 24 });
        const inner = await mintSubCa(mid, "inner CA", { validityHours: 200 * 24 });
        const folder = tempDir("expiry-chain-end");
        fs.writeFileSync(path.join(folder, "chain.pem"), inner.certPem + mid.certPem + root.certPem);
        const rootEnd = new X509Certificate(root.certPem).validTo;
        const at = (days: number) => new Date(Date.parse(rootEnd) - days * DAY_MS).toISOString();
        const { status, report } = await json("--dir", folder, "--now", at(9.5), "--warn-days", "5");
        assert.deepStrictEqual(
            [status, report?.due],
            [0, 0],
            "9 days left to every row: none inside 5 days, though the root ends first",
        );
        const rows = (r: ExpiryJson | undefined) =>
            r?.rows.map((row) => [row.subject, row.daysLeft, row.status, row.effectiveNotAfter, row.endsFirst]);
        const rootEndIso = new Date(rootEnd).toISOString();
        assert.deepStrictEqual(rows(report), [
            ["CN=inner CA", 9, "ok", rootEndIso, { subject: "CN=short root", depth: 2 }],
            ["CN=long CA", 9, "ok", rootEndIso, { subject: "CN=short root", depth: 1 }],
            ["CN=short root", 9, "ok", undefined, undefined],
        ]);
        // notAfter stays each certificate's own.
        assert.deepStrictEqual(
            report?.rows.map((r) => r.notAfter),
            [inner, mid, root].map((c) => new Date(new X509Certificate(c.certPem).validTo).toISOString()),
        );
        // Inside the window by the root's end, not their own: exit 1, each named with the CA that ends first.
        const late = await cli("expiry", "--dir", folder, "--now", at(3.5), "--warn-days", "5");
        assert.strictEqual(late.status, 1);
        assert.deepStrictEqual(
            late.out
                .split("\n")
                .map((line) => line.split(/ {2,}/))
                // By the subject column: the serial's hex may hold "CA" too.
                .filter((columns) => columns[0] === "renew soon" && /^CN=.* CA$/.test(columns[4] ?? ""))
                .map((columns) => columns.slice(0, 2)),
            [
                ["renew soon", "3 (short root, above its issuer, ends first)"],
                ["renew soon", "3 (its issuer short root ends first)"],
            ],
        );
        assert.match(
            late.out,
            /due: CN=inner CA \(renew soon: short root, above its issuer, ends first\); CN=long CA \(renew soon: its issuer short root ends first\); CN=short root \(renew soon\)\n$/,
        );
        // Past the root's end the CAs under it are expired too, though within their own validity.
        const after = await json("--dir", folder, "--now", new Date(Date.parse(rootEnd) + DAY_MS).toISOString());
        assert.deepStrictEqual(
            after.report?.rows.map((r) => [r.subject, r.status]),
            [
                ["CN=inner CA", "expired"],
                ["CN=long CA", "expired"],
                ["CN=short root", "expired"],
            ],
        );
    });

    it("counts a certificate's days along the path that lasts longest when its CA is also cross-signed or re-issued with its key, whatever the files' order", async () => {
        // Root Two self-signed for 3000 days beside Root Two cross-signed (11 days) by Root One (10
        // days, so that on that path Root One ends first, to the second): a verifier trusting Root
        // Two accepts the leaf past Root One's end, so the leaf is ok.
        const rootOne = await mintRoot("Root One", { validityHours: 10 * 24 });
        const rootTwo = await mintRoot("Root Two", { validityHours: 3000 * 24 });
        const crossed = crossSign(rootTwo, "Root Two", rootOne, { validityHours: 11 * 24 });
        const inter = await mintSubCa(rootTwo, "Inter", { validityHours: 1000 * 24 });
        const leaf = await mintSubCa(inter, "leaf", { validityHours: 365 * 24 });
        const folder = tempDir("expiry-cross-signed");
        const file = (name: string, pem: string) => {
            fs.writeFileSync(path.join(folder, name), pem);
            return path.join(folder, name);
        };
        const in20Days = String(Math.floor(Date.now() / 1000) + 20 * 86_400);
        const verified = spawnSync(
            "openssl",
            ["verify", "-CAfile", file("r2.crt", rootTwo.certPem), "-untrusted", file("i.crt", inter.certPem)].concat([
                "-attime",
                in20Days,
                file("l.crt", leaf.certPem),
            ]),
            { encoding: "utf8" },
        );
        assert.deepStrictEqual([verified.status, verified.stdout.trim()], [0, `${path.join(folder, "l.crt")}: OK`]);
        const rowsOf = async (pems: string[], name: string) => {
            const dir = tempDir(`expiry-order-${name}`);
            fs.writeFileSync(path.join(dir, "all.pem"), pems.join(""));
            const result = await cli("expiry", "--dir", dir, "--format", "json");
            const report = JSON.parse(result.out) as ExpiryJson;
            return report.rows
                .filter((r) => r.subject === "CN=leaf" || r.subject === "CN=Inter")
                .map((r) => [r.subject, r.daysLeft, r.status, r.effectiveNotAfter, r.endsFirst]);
        };
        const expected = [
            ["CN=leaf", 364, "ok", undefined, undefined],
            ["CN=Inter", 999, "ok", undefined, undefined],
        ];
        const L = leaf.certPem;
        const I = inter.certPem;
        assert.deepStrictEqual(
            await rowsOf([L, I, crossed, rootTwo.certPem, rootOne.certPem], "cross-first"),
            expected,
        );
        assert.deepStrictEqual(await rowsOf([L, I, rootTwo.certPem, crossed, rootOne.certPem], "self-first"), expected);
        // With Root Two's self-signed certificate absent, the cross-signed path is the only one.
        assert.deepStrictEqual(await rowsOf([L, I, crossed, rootOne.certPem], "cross-only"), [
            [
                "CN=leaf",
                9,
                "renew soon",
                new Date(new X509Certificate(rootOne.certPem).validTo).toISOString(),
                { subject: "CN=Root One", depth: 3 },
            ],
            [
                "CN=Inter",
                9,
                "renew soon",
                new Date(new X509Certificate(rootOne.certPem).validTo).toISOString(),
                { subject: "CN=Root One", depth: 2 },
            ],
        ]);

        // A CA re-issued with its key for 1000 days beside its first certificate for 10: the leaf
        // verifies under the new one past the old one's end.
        const root = await mintRoot("Root", { validityHours: 3000 * 24 });
        const old = await mintSubCa(root, "Inter", { validityHours: 10 * 24 });
        const renewed = crossSign(old, "Inter", root, { validityHours: 1000 * 24 });
        const underOld = await mintSubCa(old, "leaf", { validityHours: 365 * 24 });
        const reissued = [
            ["CN=Inter", 9, "renew soon", undefined, undefined],
            ["CN=leaf", 364, "ok", undefined, undefined],
            ["CN=Inter", 999, "ok", undefined, undefined],
        ];
        assert.deepStrictEqual(
            await rowsOf([underOld.certPem, old.certPem, renewed, root.certPem], "old-first"),
            reissued,
        );
        assert.deepStrictEqual(
            await rowsOf([underOld.certPem, renewed, old.certPem, root.certPem], "new-first"),
            reissued,
        );
        // --help says so, as README does.
        const help = await cli("expiry", "--help");
        assert.strictEqual(help.status, 0);
        assert.ok(
            help.out.includes(
                "A certificate's days left count to the CA above it that ends first among the certificates read (a\n" +
                    "verifier refuses it past that CA's end), on the path that lasts longest when a CA is also\n" +
                    'cross-signed or re-issued with its key; the row names that CA ("its issuer <CN> ends first").\n',
            ),
            help.out,
        );
    });

    it("exits 2 on a file it cannot read or a certificate it cannot parse, not 1", async () => {
        const missing = await cli("expiry", "--pem", path.join(dir, "nothing.pem"));
        assert.deepStrictEqual(
            [missing.status, missing.err],
            [2, `error: ${path.join(dir, "nothing.pem")}: no such file\n`],
        );
        const corrupt = path.join(dir, "corrupt.pem");
        fs.writeFileSync(corrupt, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        const bad = await cli("expiry", "--pem", corrupt);
        assert.strictEqual(bad.status, 2);
        assert.match(bad.err, /^error: .*corrupt\.pem: a CERTIFICATE block cannot be read: /);
        // A CRL with a stray character in its base64, which Node's decoder skipped and Envoy refuses.
        const crlCa = await mintRoot("damaged CRL CA");
        const crl = emptyCrlOf(crlCa, Date.now() - DAY_MS, Date.now() + DAY_MS).split("\n");
        crl[2] = `${crl[2].slice(0, 10)}*${crl[2].slice(10)}`;
        const damaged = path.join(dir, "damaged.crl.pem");
        fs.writeFileSync(damaged, crl.join("\n"));
        assert.deepStrictEqual(await cli("expiry", "--pem", damaged), {
            status: 2,
            out: "",
            err: `error: ${damaged}: an X509 CRL block cannot be read: its line 3 holds a character other than base64 and white space, which Envoy's BoringSSL and Go refuse\n`,
        });
        // Repaired, with a blank line put before that line: Node's decoder skipped it, and Envoy's
        // BoringSSL reads the line above it as a PEM header.
        crl.splice(2, 1, "", crl[2].slice(0, 10) + crl[2].slice(11));
        const blank = path.join(dir, "blank.crl.pem");
        fs.writeFileSync(blank, crl.join("\n"));
        assert.deepStrictEqual(await cli("expiry", "--pem", blank), {
            status: 2,
            out: "",
            err: `error: ${blank}: an X509 CRL block cannot be read: its line 3 is blank, which Envoy's BoringSSL refuses: it reads the lines above a blank line as PEM headers, so only the line after BEGIN may be blank\n`,
        });
        const empty = path.join(dir, "empty.txt");
        fs.writeFileSync(empty, "nothing here\n");
        assert.deepStrictEqual(
            [(await cli("expiry", "--pem", empty)).status, (await cli("expiry", "--pem", empty)).err],
            [2, `error: no certificates or CRLs found in ${empty}${NOTHING_FOUND_FIX}\n`],
        );
        // A .yaml that is not YAML: what the parser found and where, never its message, which quotes the text.
        for (const [name, text, problem] of [
            ["password.yaml", "*Tr0ub4dor&3xyz\n", "an alias (*name) with no anchor before it, or copied too often"],
            [
                "escape.yaml",
                'password: "\\qTr0ub4dor&3"\n',
                "an invalid escape (\\) in double-quoted text at line 1, column 12",
            ],
        ]) {
            const file = path.join(dir, name);
            fs.writeFileSync(file, text);
            const result = await cli("expiry", "--pem", file);
            assert.deepStrictEqual([result.status, result.err], [2, `error: ${file} is not YAML: ${problem}\n`]);
        }
        const usage = await cli("expiry", "--dir", rendered.dir, "--crl-warn-fraction", "2");
        assert.strictEqual(usage.status, 2);
        assert.strictEqual(
            usage.err,
            `error: --crl-warn-fraction must be a fraction of a CRL's validity from 0 to below 1, e.g. 0.5; got "2"\nsee apic-istio-pki expiry --help\n`,
        );
    });

    it("exits 2 on a file larger than 16 MiB (a core dump in --dir), told by its size before it is read", async () => {
        const folder = tempDir("expiry-large");
        fs.writeFileSync(path.join(folder, "client.crt"), rendered.read("apic/ob/client.crt"));
        // Sparse: no memory or disk taken. 700 MiB of it gave exit 1 and V8's "Cannot create a string longer than ...".
        const dump = path.join(folder, "core.dump");
        fs.writeFileSync(dump, "");
        fs.truncateSync(dump, 16 * 1024 * 1024 + 1);
        assert.deepStrictEqual(await cli("expiry", "--dir", folder), {
            status: 2,
            out: "",
            err:
                `error: cannot read ${dump}: it is 16777217 bytes, more than the 16777216 (16 MiB) expiry reads, far more than ` +
                "certificates, CRLs and keystores take; leave it out of what expiry watches\n",
        });
    });

    it("puts the default renewal point before the end of a certificate living less than three days (Istio's 24 hours)", async () => {
        const folder = tempDir("expiry-short-lived");
        const hours = [12, 24, 36, 48, 69, 72, 100 * 24];
        const files = await Promise.all(
            hours.map(async (validityHours) => {
                const file = path.join(folder, `${validityHours}h.crt`);
                fs.writeFileSync(file, (await mintRoot(`lives ${validityHours}h`, { validityHours })).certPem);
                return ["--pem", file];
            }),
        );
        const { status, report } = await json(...files.flat(), "--warn-days", "0");
        // Hours from notBefore to the renewal point: two thirds, or a window of whole days from three days on.
        const renewal = (r: ExpiryRow) => (Date.parse(r.renewAt) - Date.parse(r.notBefore)) / 3_600_000;
        assert.deepStrictEqual(
            [status, report?.rows.map((r) => [r.subject, renewal(r)]).sort((a, b) => Number(a[1]) - Number(b[1]))],
            [
                0,
                [
                    ["CN=lives 12h", 8],
                    ["CN=lives 24h", 16],
                    ["CN=lives 36h", 24],
                    ["CN=lives 48h", 32],
                    ["CN=lives 69h", 46],
                    ["CN=lives 72h", 48],
                    ["CN=lives 2400h", 67 * 24],
                ],
            ],
        );
    });

    it("names a certificate with an empty subject (Istio's workload certificates) by its SAN; any failure exits 2, never 1", async () => {
        const folder = tempDir("expiry-empty-subject");
        const certificate = (name: string, ...extensions: string[]) => {
            const file = path.join(folder, name);
            execFileSync(
                "openssl",
                [
                    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
                    ...["-keyout", path.join(folder, `${name}.key`), "-out", file, "-days", "90", "-subj", "/"],
                    ...extensions.flatMap((extension) => ["-addext", extension]),
                ],
                { stdio: ["ignore", "ignore", "pipe"] },
            );
            return file;
        };
        const workload = certificate("workload.crt", "subjectAltName=URI:spiffe://cluster.local/ns/apic/sa/gateway");
        const bare = certificate("bare.crt");
        const { status, err, report } = await json("--pem", workload, "--pem", bare);
        assert.deepStrictEqual(
            [status, err, report?.rows.map((r) => [r.subject, r.status]).sort()],
            [
                0,
                "",
                [
                    ["(empty subject) URI:spiffe://cluster.local/ns/apic/sa/gateway", "ok"],
                    ["(empty subject)", "ok"],
                ],
            ],
        );
        // A failure expiry did not foresee, which it read as "something due" (1): exit 2, naming the file, not quoting the error.
        const subjectAltName = Object.getOwnPropertyDescriptor(X509Certificate.prototype, "subjectAltName");
        Object.defineProperty(X509Certificate.prototype, "subjectAltName", {
            configurable: true,
            get: () => {
                throw new TypeError("Tr0ub4dor&3");
            },
        });
        try {
            assert.deepStrictEqual(await cli("expiry", "--pem", workload), {
                status: 2,
                out: "",
                err: `error: cannot read ${workload}: expiry failed on it (TypeError; the message is not shown, as it may quote the file); report this defect\n`,
            });
        } finally {
            Object.defineProperty(X509Certificate.prototype, "subjectAltName", subjectAltName ?? {});
        }
        let written = "";
        const failedWrite = await main(
            ["expiry", "--pem", workload],
            () => {
                throw new TypeError("Tr0ub4dor&3");
            },
            (text) => (written += text),
        );
        assert.deepStrictEqual(
            [failedWrite, written],
            [
                2,
                "error: expiry failed (TypeError; the message is not shown, as it may quote a file); report this defect\n",
            ],
        );
    });

    it("reads a mounted Secret volume once, in kubelet's ..<timestamp> folder, its keystore with the password; skips a FIFO", async () => {
        // The layout kubelet gives a Secret mounted into a monitoring pod: the files sit in a
        // timestamped folder, ..data links to it, and each key is a link through ..data.
        const mount = tempDir("expiry-mount");
        const timestamped = path.join(mount, "..2026_11_24_10_00_00.123456789");
        fs.mkdirSync(timestamped);
        fs.symlinkSync(path.basename(timestamped), path.join(mount, "..data"));
        for (const [key, file] of [
            ["tls.crt", "client.crt"],
            ["client.p12", "client.p12"],
            ["client.p12.password", "client.p12.password"],
        ]) {
            fs.copyFileSync(path.join(rendered.dir, "apic/ob", file), path.join(timestamped, key));
            fs.symlinkSync(`..data/${key}`, path.join(mount, key));
        }
        const mkfifo = spawnSync("mkfifo", [path.join(mount, "pipe")], { encoding: "utf8" });
        assert.deepStrictEqual(mkfifo.status, 0, mkfifo.stderr);
        const client = new X509Certificate(rendered.read("apic/ob/client.crt")).serialNumber;
        const { status, err, report } = await json("--dir", mount);
        const inFolder = (...names: string[]) => names.map((name) => path.join(timestamped, name));
        assert.deepStrictEqual(
            [status, err, report?.rows.find((r) => r.serial === client)?.files.sort()],
            [0, "", inFolder("client.p12", "tls.crt")],
        );
        assert.deepStrictEqual(
            [...new Set(report?.rows.flatMap((r) => r.files))].sort(),
            inFolder("client.p12", "tls.crt"),
        );
        // A key given as --pem: its password is read through its link too, which leads beside the keystore's real file.
        const p12 = await json("--pem", path.join(mount, "client.p12"));
        assert.deepStrictEqual([p12.status, p12.err, p12.report?.rows.some((r) => r.serial === client)], [0, "", true]);
        // Mounted with the default mode (0644): the fix is the volume's defaultMode, as the mount cannot be changed.
        fs.chmodSync(path.join(timestamped, "client.p12.password"), 0o644);
        assert.deepStrictEqual(await cli("expiry", "--pem", path.join(mount, "client.p12")), {
            status: 2,
            out: "",
            err:
                `error: ${mount}/client.p12.password has mode 0644: it holds the password of ${mount}/client.p12, so only its owner ` +
                "may read it (render writes it 0600); run chmod 600 on the file it links to, or for a mounted Secret set defaultMode: 0400 on its volume\n",
        });
    });

    it("reads a Secret as kubectl get secret -o yaml exports it (base64 data), alone or in a List", async () => {
        const gateway = gatewayServerConfig(rendered, "ob");
        const b64 = (text: string) => Buffer.from(text).toString("base64");
        const secret = {
            apiVersion: "v1",
            kind: "Secret",
            type: "kubernetes.io/tls",
            metadata: { name: "apic-mtls-ob", namespace: "istio-system" },
            data: {
                "tls.crt": b64(gateway.tlsCrt),
                "tls.key": b64(gateway.tlsKey),
                "ca.crt": b64(gateway.caCrt),
                "ca.crl": b64(gateway.caCrl ?? ""),
            },
        };
        const file = path.join(dir, "secret.yaml");
        fs.writeFileSync(file, YAML.stringify(secret));
        const { status, report } = await json("--pem", file);
        assert.strictEqual(status, 0);
        const expected = [
            ...pemBlocks(gateway.tlsCrt + gateway.caCrt, "CERTIFICATE").map(
                (pem) => new X509Certificate(pem).serialNumber,
            ),
            ...pemBlocks(gateway.caCrl ?? "", "X509 CRL").map((pem) => `#${parseCrl(pem).number}`),
        ];
        assert.deepStrictEqual(report?.rows.map((r) => r.serial).sort(), expected.sort());
        assert.ok(report?.rows.every((r) => r.files.length === 1 && r.files[0] === file));
        assert.deepStrictEqual(
            report?.rows.filter((r) => r.kind === "crl").map((r) => r.fields),
            pemBlocks(gateway.caCrl ?? "", "X509 CRL").map(() => [
                `${file}: data key "ca.crl" of Secret "apic-mtls-ob"`,
            ]),
        );
        const list = path.join(dir, "secrets.yaml");
        fs.writeFileSync(
            list,
            YAML.stringify({
                apiVersion: "v1",
                kind: "List",
                items: [secret, { ...secret, metadata: { name: "other" } }],
            }),
        );
        const fromList = await json("--pem", list);
        assert.deepStrictEqual(fromList.report?.rows.map((r) => r.serial).sort(), expected.sort());
    });

    it("reads every document of a YAML file holding a Secret: a ConfigMap's certificate after it is judged too", async () => {
        const gateway = gatewayServerConfig(rendered, "ob");
        const leafPem = rendered.read("apic/ob/client.crt");
        const leaf = new X509Certificate(leafPem);
        const secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "apic-mtls-ob" },
            data: { "ca.crt": Buffer.from(gateway.caCrt).toString("base64") },
        };
        const configMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "ca" },
            data: { "ca.crt": leafPem },
        };
        const folder = tempDir("expiry-documents");
        fs.writeFileSync(
            path.join(folder, "all.yaml"),
            `${YAML.stringify({ apiVersion: "v1", kind: "List", items: [secret] })}---\n${YAML.stringify(configMap)}`,
        );
        // The ConfigMap's certificate has 29 days left: due, while the Secret's CA certificates are not.
        const now = new Date(Date.parse(leaf.validTo) - 29 * DAY_MS - 60_000).toISOString();
        const { status, report } = await json("--dir", folder, "--now", now);
        assert.strictEqual(status, 1);
        assert.deepStrictEqual(
            report?.rows.map((r) => [r.serial, r.status]),
            [
                [leaf.serialNumber, "renew soon"],
                ...pemBlocks(gateway.caCrt, "CERTIFICATE").map((pem) => [new X509Certificate(pem).serialNumber, "ok"]),
            ],
        );
    });

    it("exits 2 on a Secret whose base64 data is damaged, naming the file, the Secret and the key, also beside a valid Secret", async () => {
        const gateway = gatewayServerConfig(rendered, "ob");
        const b64 = Buffer.from(gateway.caCrt).toString("base64");
        const secret = (name: string, value: string) => ({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name },
            data: { "ca.crt": value },
        });
        const folder = tempDir("expiry-base64");
        const fix = "export the Secret again with kubectl get secret -o yaml, or give the text under stringData";
        // Node's decoder skips the "@" (the certificate would be read as if nothing were wrong)...
        const file = path.join(folder, "secrets.yaml");
        const damaged = `${b64.slice(0, 20)}@@@${b64.slice(20)}`;
        fs.writeFileSync(
            file,
            YAML.stringify({ apiVersion: "v1", kind: "List", items: [secret("good", b64), secret("d9", damaged)] }),
        );
        const beside = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            [beside.status, beside.out, beside.err],
            [
                2,
                "",
                `error: ${file}: data key "ca.crt" of Secret "d9" is not valid base64 ("@" at character 21); ${fix}\n`,
            ],
        );
        // ...and stops at a stray "=", so the certificate would vanish.
        fs.writeFileSync(file, YAML.stringify(secret("d9", `${b64.slice(0, 20)}=${b64.slice(20)}`)));
        const alone = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            [alone.status, alone.out, alone.err],
            [
                2,
                "",
                `error: ${file}: data key "ca.crt" of Secret "d9" is not valid base64 (cut short, or "=" other than at its end); ${fix}\n`,
            ],
        );
        // Line breaks in the value (YAML may fold it) are not damage.
        fs.writeFileSync(file, YAML.stringify(secret("d9", (b64.match(/.{1,76}/g) ?? []).join("\n"))));
        const folded = await json("--dir", folder);
        assert.deepStrictEqual(
            [folded.status, folded.report?.rows.length],
            [0, pemBlocks(gateway.caCrt, "CERTIFICATE").length],
        );
    });

    it("exits 2 on a damaged certificate under a Secret's stringData or a ConfigMap's data, naming the object, the key and the fix, as under data", async () => {
        const folder = tempDir("expiry-string-data");
        const file = path.join(folder, "secret.yaml");
        // Decodes to DER whose first length runs past its end; a password beside it is never quoted.
        const damaged = "-----BEGIN CERTIFICATE-----\nSECRETSECRETSECRETSECRET\n-----END CERTIFICATE-----\n";
        const refusal = async (document: object) => {
            fs.writeFileSync(file, YAML.stringify(document));
            const result = await cli("expiry", "--pem", file);
            return [result.status, result.out, result.err];
        };
        const object = (kind: string, name: string, values: object) => ({
            apiVersion: "v1",
            kind,
            metadata: { name },
            ...values,
        });
        const cannotRead = "a CERTIFICATE block cannot be read: its DER is malformed (too long)";
        const exported = (kind: string) => `export the ${kind} again with kubectl get ${kind.toLowerCase()} -o yaml`;
        assert.deepStrictEqual(
            [
                await refusal(
                    object("Secret", "broken", { stringData: { "tls.crt": damaged, password: "hunter2hunter2" } }),
                ),
                await refusal(
                    object("Secret", "broken", { data: { "tls.crt": Buffer.from(damaged).toString("base64") } }),
                ),
                await refusal({
                    apiVersion: "v1",
                    kind: "List",
                    items: [object("ConfigMap", "trust", { data: { "ca.crt": damaged } })],
                }),
                await refusal({ truststore: { pem: damaged } }),
            ],
            [
                [
                    2,
                    "",
                    `error: ${file}: stringData key "tls.crt" of Secret "broken": ${cannotRead}; ${exported("Secret")}\n`,
                ],
                [
                    2,
                    "",
                    `error: ${file}: data key "tls.crt" of Secret "broken": ${cannotRead}; ${exported("Secret")}, or give the text under stringData\n`,
                ],
                [
                    2,
                    "",
                    `error: ${file}: data key "ca.crt" of ConfigMap "trust": ${cannotRead}; ${exported("ConfigMap")}\n`,
                ],
                [2, "", `error: ${file}: the string at .truststore.pem: ${cannotRead}; copy the file again, whole\n`],
            ],
        );
        // A valid one is listed with its field, as one under data is.
        fs.writeFileSync(
            file,
            YAML.stringify(
                object("Secret", "good", { stringData: { "ca.crt": gatewayServerConfig(rendered, "ob").caCrt } }),
            ),
        );
        const { status, report } = await json("--pem", file);
        assert.deepStrictEqual(
            [status, report?.rows.map((r) => r.fields)],
            [0, [[`${file}: stringData key "ca.crt" of Secret "good"`]]],
        );
    });

    it("exits 2 on a --dir it cannot walk, naming the path and what to do: a file, a link that loops or leads nowhere", async () => {
        const file = path.join(dir, "not-a-folder.pem");
        fs.writeFileSync(file, rendered.read("apic/ob/client.crt"));
        const missing = path.join(dir, "nothing-here");
        assert.deepStrictEqual(await cli("expiry", "--dir", missing), {
            status: 2,
            out: "",
            err: `error: --dir ${missing}: no such folder; give the folder that holds the certificates (a render, or a Secret mounted into a pod)\n`,
        });
        const notFolder = await cli("expiry", "--dir", file);
        assert.deepStrictEqual(
            [notFolder.status, notFolder.out, notFolder.err],
            [2, "", `error: --dir ${file} is not a folder; give the folder that holds the files, or --pem ${file}\n`],
        );
        const folder = tempDir("expiry-loop");
        fs.copyFileSync(file, path.join(folder, "client.crt"));
        fs.symlinkSync("loop", path.join(folder, "loop"));
        const loop = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            [loop.status, loop.out, loop.err],
            [
                2,
                "",
                `error: cannot read ${path.join(folder, "loop")}: it is a link that loops (ELOOP); remove the link or point it at a file\n`,
            ],
        );
        // A link to nothing (a certificate removed, its link left): what it should show would go unwatched.
        const dangling = tempDir("expiry-dangling");
        fs.copyFileSync(file, path.join(dangling, "client.crt"));
        fs.symlinkSync("gone.crt", path.join(dangling, "server.crt"));
        assert.deepStrictEqual(await cli("expiry", "--dir", dangling), {
            status: 2,
            out: "",
            err: `error: cannot read ${path.join(dangling, "server.crt")}: it is a link to gone.crt, which does not exist; remove the link or restore what it points to\n`,
        });
        // The same links given as --pem (a loop was "no such file").
        assert.deepStrictEqual(
            [
                (await cli("expiry", "--pem", path.join(folder, "loop"))).err,
                (await cli("expiry", "--pem", path.join(dangling, "server.crt"))).err,
            ],
            [
                loop.err,
                `error: cannot read ${path.join(dangling, "server.crt")}: it is a link to gone.crt, which does not exist; remove the link or restore what it points to\n`,
            ],
        );
    });

    it("reads a PKCS#12 keystore's certificates with its password beside it, as render writes client.p12, or legacy", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const certPems = pemBlocks(client + rendered.read("apic/ob/ca-chain.pem"), "CERTIFICATE");
        const serials = certPems.map((pem) => new X509Certificate(pem).serialNumber).sort();
        // The render: client.p12 is one of the files of the client certificate and of its CAs.
        const p12 = path.join(rendered.dir, "apic/ob/client.p12");
        const render = await json("--dir", rendered.dir);
        assert.deepStrictEqual(
            [
                render.status,
                render.err,
                render.report?.rows
                    .filter((r) => r.files.includes(p12))
                    .map((r) => r.serial)
                    .sort(),
            ],
            [0, "", serials],
        );
        // A legacy keystore (3DES, SHA-1 MAC) named .pfx, its password written by hand (with a line end).
        const folder = tempDir("expiry-pkcs12");
        const password = "correct horse battery staple";
        const pfx = path.join(folder, "client.pfx");
        fs.writeFileSync(
            pfx,
            buildPkcs12({
                keyPem: rendered.read("apic/ob/client.key"),
                certPems,
                password,
                friendlyName: "ob",
                profile: "legacy",
                iterations: PKCS12_MIN_ITERATIONS,
            }),
        );
        fs.writeFileSync(`${pfx}.password`, `${password}\n`, { mode: 0o600 });
        const legacy = await json("--pem", pfx);
        assert.deepStrictEqual(
            [legacy.status, legacy.err, legacy.report?.rows.map((r) => r.serial).sort()],
            [0, "", serials],
        );
        assert.deepStrictEqual(
            legacy.report?.rows.map((r) => r.files),
            serials.map(() => [pfx]),
        );
    });

    it("exits 2 on a PKCS#12 keystore it cannot open (no password for --pem, a wrong one, a loose mode, a link); --dir warns", async () => {
        const folder = tempDir("expiry-pkcs12-refused");
        const p12 = path.join(folder, "client.p12");
        const passwordFile = `${p12}.password`;
        const password = rendered.read("apic/ob/client.p12.password");
        fs.copyFileSync(path.join(rendered.dir, "apic/ob/client.p12"), p12);
        fs.writeFileSync(path.join(folder, "client.crt"), rendered.read("apic/ob/client.crt"));
        const refused = (why: string) => ({ status: 2, out: "", err: `error: ${why}\n` });
        assert.deepStrictEqual(
            await cli("expiry", "--pem", p12),
            refused(
                `${p12} is a PKCS#12 keystore; expiry reads one with its password in ${passwordFile} beside it (mode 0600, as render writes client.p12), or give the PEM`,
            ),
        );
        // --dir names it on standard error, and its exit status still says whether anything is due.
        const run = spawnSync(process.execPath, [CLI, "expiry", "--dir", folder, "--format", "json"], {
            encoding: "utf8",
        });
        assert.deepStrictEqual(
            [run.status, (JSON.parse(run.stdout) as ExpiryJson).rows.map((r) => r.files), run.stderr],
            [
                0,
                [[path.join(folder, "client.crt")]],
                `warning: ${p12} is a PKCS#12 keystore without ${passwordFile} beside it: its certificates are not watched; put its password there (mode 0600), or watch its PEM\n`,
            ],
        );
        fs.writeFileSync(passwordFile, "not the password", { mode: 0o600 });
        const wrong = await cli("expiry", "--pem", p12);
        assert.deepStrictEqual(
            wrong,
            refused(
                `${p12}: the password in ${passwordFile} does not open this PKCS#12 keystore: its MAC does not match (a wrong password, or a damaged file); put its password there, or give the PEM`,
            ),
        );
        fs.writeFileSync(passwordFile, password);
        fs.chmodSync(passwordFile, 0o644);
        const loose = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            loose,
            refused(
                `${passwordFile} has mode 0644: it holds the password of ${p12}, so only its owner may read it (render writes it 0600); run chmod 600 ${passwordFile}`,
            ),
        );
        fs.renameSync(passwordFile, path.join(folder, "password"));
        fs.chmodSync(path.join(folder, "password"), 0o600);
        fs.symlinkSync("password", passwordFile);
        const link = await cli("expiry", "--pem", p12);
        assert.deepStrictEqual(
            link,
            refused(
                `${passwordFile} is a symbolic link to ${path.join(folder, "password")}, not to the file beside the keystore's own file (${passwordFile}); ` +
                    `expiry reads the password of ${p12} from a file beside it, as render writes it, or through a link to that one, as in a mounted Secret: put it there as a file of mode 0600`,
            ),
        );
        // A link that leads nowhere: named as any other such link, not as a file removed while expiry ran.
        fs.rmSync(passwordFile);
        fs.symlinkSync("/nonexistent", passwordFile);
        assert.deepStrictEqual(
            await cli("expiry", "--pem", p12),
            refused(
                `cannot read ${passwordFile}: it is a link to /nonexistent, which does not exist; remove the link or restore what it points to`,
            ),
        );
        for (const output of [wrong, loose, link]) assert.ok(!`${output.out}${output.err}`.includes(password));
    });

    it("exits 2 on a password file over 1 KiB (a key given by mistake) or no regular file, by its name, before reading it", async () => {
        const folder = tempDir("expiry-pkcs12-password-file");
        const p12 = path.join(folder, "client.p12");
        const passwordFile = `${p12}.password`;
        fs.copyFileSync(path.join(rendered.dir, "apic/ob/client.p12"), p12);
        const refused = (why: string) => ({ status: 2, out: "", err: `error: ${why}\n` });
        const tooLarge = (size: number) =>
            refused(
                `cannot read ${passwordFile}: it is ${size} bytes, more than the 1024 (1 KiB) a password file may hold (render writes 32 letters); put the password of ${p12} there, and nothing else (mode 0600)`,
            );
        // 1 KiB is read and tried as the password; a byte more is refused by its size.
        fs.writeFileSync(passwordFile, "x".repeat(1024), { mode: 0o600 });
        assert.deepStrictEqual(
            await cli("expiry", "--pem", p12),
            refused(
                `${p12}: the password in ${passwordFile} does not open this PKCS#12 keystore: its MAC does not match (a wrong password, or a damaged file); put its password there, or give the PEM`,
            ),
        );
        fs.appendFileSync(passwordFile, "x");
        assert.deepStrictEqual(await cli("expiry", "--pem", p12), tooLarge(1025));
        // A private key put there by mistake: never quoted. And a file of 4 GiB is not read at all (sparse: no disk used).
        fs.writeFileSync(passwordFile, TEST_ONLY_CA_KEY_PEM);
        const keyRefused = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(keyRefused, tooLarge(Buffer.byteLength(TEST_ONLY_CA_KEY_PEM)));
        fs.truncateSync(passwordFile, 4 * 1024 ** 3);
        assert.deepStrictEqual(await cli("expiry", "--pem", p12), tooLarge(4 * 1024 ** 3));
        // A FIFO there is no password file: refused without waiting for a writer.
        fs.rmSync(passwordFile);
        execFileSync("mkfifo", ["-m", "600", passwordFile]);
        assert.deepStrictEqual(
            await cli("expiry", "--pem", p12),
            refused(`${passwordFile} is not a regular file; put the password of ${p12} there (mode 0600)`),
        );
    });

    it("exits 2 on a PKCS#12 keystore that asks for more work than Java opens (more than render writes), before deriving a key", async () => {
        const folder = tempDir("expiry-pkcs12-work");
        const p12 = path.join(folder, "client.p12");
        fs.writeFileSync(`${p12}.password`, "changeit", { mode: 0o600 });
        const expiry = async (macIterations: number | undefined, partIterations: number[]) => {
            fs.writeFileSync(p12, keystoreAsking(macIterations, partIterations));
            return cli("expiry", "--pem", p12);
        };
        const refused = (why: string) => ({
            status: 2,
            out: "",
            err: `error: ${p12}: a PKCS#12 keystore cannot be read: ${why}\n`,
        });
        const reexport = "export it again with OpenSSL 3 (openssl pkcs12 -export), or give the PEM";
        // Render's encrypted part four times at 5,000,000 iterations, its MAC removed, took 52.6 s to read.
        assert.deepStrictEqual(
            await expiry(undefined, [PKCS12_MAX_ITERATIONS]),
            refused(
                "it has no MAC (openssl pkcs12 -nomac), so its integrity cannot be checked, nor the password before its parts are decrypted; " +
                    "export it again with OpenSSL 3 (openssl pkcs12 -export, without -nomac), or give the PEM",
            ),
        );
        assert.deepStrictEqual(
            await expiry(1, [1, 1, 1]),
            refused(
                `it has 3 encrypted parts, more than the 2 this package reads (render, OpenSSL 3 and Java write one); ${reexport}`,
            ),
        );
        assert.deepStrictEqual(
            await expiry(PKCS12_MAX_ITERATIONS, [PKCS12_MAX_ITERATIONS, 1]),
            refused(
                "its MAC and encrypted parts ask for 10000001 iterations in all, more than the 10000000 this package reads " +
                    `(a MAC and one encrypted part at 5000000 each, the most Java opens); ${reexport}`,
            ),
        );
        // Up to the limit it is opened: its MAC, of one iteration, is checked (and does not match).
        assert.deepStrictEqual(await expiry(1, [PKCS12_MAX_ITERATIONS, PKCS12_MAX_ITERATIONS - 1]), {
            status: 2,
            out: "",
            err: `error: ${p12}: the password in ${p12}.password does not open this PKCS#12 keystore: its MAC does not match (a wrong password, or a damaged file); put its password there, or give the PEM\n`,
        });
    });

    it("exits 2 on a PEM block cut short (no END line), naming the file, the label and the line, never the text", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const chain = rendered.read("apic/ob/ca-chain.pem");
        const key = rendered.read("apic/ob/client.key");
        const lines = client.split("\n").length - 1;
        const folder = tempDir("expiry-cut-short");
        const fix = "copy the file again, whole";
        // { cat client.crt; head -c 800 ca-chain.pem; } > cut.pem: Envoy refuses it, expiry said "none due".
        const cut = path.join(folder, "cut.pem");
        const unended = (label: string, line: number) =>
            `the ${label} block that begins at line ${line} has no END line (cut short?)`;
        fs.writeFileSync(cut, client + chain.slice(0, 800));
        assert.deepStrictEqual(await cli("expiry", "--pem", cut), {
            status: 2,
            out: "",
            err: `error: ${cut}: ${unended("CERTIFICATE", lines + 1)}; ${fix}\n`,
        });
        // Cut before the next block begins, and a key cut short (its label named, none of its text).
        fs.writeFileSync(cut, chain.slice(0, 800) + client);
        assert.strictEqual(
            (await cli("expiry", "--pem", cut)).err,
            `error: ${cut}: ${unended("CERTIFICATE", 1)}; ${fix}\n`,
        );
        fs.writeFileSync(cut, client + key.slice(0, key.length / 2));
        const keyCut = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            [keyCut.status, keyCut.err],
            [2, `error: ${cut}: ${unended(privateKeyLabel(key) ?? "", lines + 1)}; ${fix}\n`],
        );
        // In a Secret's data: the line is the value's.
        fs.writeFileSync(
            cut,
            YAML.stringify({
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: "apic-mtls-ob" },
                data: { "ca.crt": Buffer.from(client + chain.slice(0, 800)).toString("base64") },
            }),
        );
        assert.deepStrictEqual(await cli("expiry", "--pem", cut), {
            status: 2,
            out: "",
            err:
                `error: ${cut}: data key "ca.crt" of Secret "apic-mtls-ob": the CERTIFICATE block that begins at line ${lines + 1} ` +
                "of its value has no END line (cut short?); export the Secret again with kubectl get secret -o yaml, or give the text under stringData\n",
        });
    });

    it("exits 2 on two PEM blocks run together on one line (cat of a file without its final newline), naming the file and the line", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const chain = rendered.read("apic/ob/ca-chain.pem");
        const key = rendered.read("apic/ob/client.key");
        const line = client.split("\n").length - 1; // the client's END line, which the chain's BEGIN now follows
        const folder = tempDir("expiry-run-together");
        const joined = (label: string, within = "") =>
            `two PEM blocks run together on line ${line}${within}: the END of a ${label} block and the next BEGIN must be on separate lines ` +
            "(cat joins them so when a file lacks its final newline); put a line break between them";
        const check = async (name: string, content: string, message: string) => {
            const file = path.join(folder, name);
            fs.writeFileSync(file, content);
            assert.deepStrictEqual(await cli("expiry", "--pem", file), {
                status: 2,
                out: "",
                err: `error: ${file}: ${message}\n`,
            });
            fs.rmSync(file);
        };
        // OpenSSL and Envoy refuse it ("bad end line"); expiry said the first block had no END line (cut short?).
        await check("bundle.pem", client.trimEnd() + chain, joined("CERTIFICATE"));
        // A key run into after the certificate: its label is not even named, nor any of its text.
        await check("client.pem", client.trimEnd() + key, joined("CERTIFICATE"));
        await check(
            "secret.yaml",
            YAML.stringify({
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: "apic-mtls-ob" },
                data: { "ca.crt": Buffer.from(client.trimEnd() + chain).toString("base64") },
            }),
            `data key "ca.crt" of Secret "apic-mtls-ob": ${joined("CERTIFICATE", " of its value")}`,
        );
        // As kubectl get -o json writes an APIC payload: the chain's certificates went unwatched, the client's alone was read.
        await check(
            "cm-payload.json",
            JSON.stringify({
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: "apic-payloads" },
                data: { "keystore.json": JSON.stringify({ name: "ob", certificate_chain: client.trimEnd() + chain }) },
            }),
            joined("CERTIFICATE", ' of the string at .data["keystore.json"] (each \\n counted as a line break)'),
        );
        // Outside a block (a script that greps for both markers) it is no PEM to OpenSSL, and read past.
        fs.writeFileSync(
            path.join(folder, "check.sh"),
            "#!/bin/sh\n-----END CERTIFICATE----------BEGIN CERTIFICATE-----\n",
        );
        fs.writeFileSync(path.join(folder, "client.crt"), client);
        const { status, err, report } = await json("--dir", folder);
        assert.deepStrictEqual(
            [status, err, report?.rows.map((r) => r.serial)],
            [0, "", [new X509Certificate(client).serialNumber]],
        );
    });

    it("takes BEGIN and END lines as OpenSSL does, at the start of a line: a marker inside a line is no PEM block", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const chain = rendered.read("apic/ob/ca-chain.pem");
        const folder = tempDir("expiry-marker-in-line");
        // A script that counts the certificates of a bundle: OpenSSL reads past the marker, expiry refused the folder.
        const script =
            "#!/bin/sh\n# count the CA certificates in the bundle\nn=$(grep -c -- '-----BEGIN CERTIFICATE-----' /etc/ssl/certs/ca-certificates.crt) " +
            "ends=$(grep -c -- '-----END CERTIFICATE-----' /etc/ssl/certs/ca-certificates.crt)\necho \"$n CAs\"\n";
        fs.writeFileSync(path.join(folder, "check-ca.sh"), script);
        fs.writeFileSync(path.join(folder, "client.crt"), client);
        // In JSON and YAML, each string as parsed: a command that mentions the marker beside a certificate.
        const payload = path.join(folder, "payload.json");
        fs.writeFileSync(
            payload,
            JSON.stringify({
                check: "grep -- '-----BEGIN CERTIFICATE-----\\|-----END CERTIFICATE-----' ca.pem",
                client,
            }),
        );
        const { status, err, report } = await json("--dir", folder);
        assert.deepStrictEqual(
            [status, err, report?.rows.map((r) => [r.serial, [...r.files].sort()])],
            [0, "", [[new X509Certificate(client).serialNumber, [path.join(folder, "client.crt"), payload]]]],
        );
        // A block cut short at the start of a line is still refused, CRLF line ends and all, on the line it begins.
        const cut = path.join(folder, "cut.sh");
        fs.writeFileSync(cut, (script + chain.slice(0, 800)).replace(/\n/g, "\r\n"));
        assert.deepStrictEqual(await cli("expiry", "--dir", folder), {
            status: 2,
            out: "",
            err: `error: ${cut}: the CERTIFICATE block that begins at line 5 has no END line (cut short?); copy the file again, whole\n`,
        });
        fs.rmSync(cut);
        // And in a string of a JSON or YAML document, its line counted in the string, which is named.
        fs.writeFileSync(
            payload,
            [{ kind: "ConfigMap" }, { kind: "Secret", stringData: { "tls.crt": client + chain.slice(0, 800) } }]
                .map((document) => YAML.stringify(document))
                .join("---\n"),
        );
        assert.deepStrictEqual(await cli("expiry", "--dir", folder), {
            status: 2,
            out: "",
            err:
                `error: ${payload}: the CERTIFICATE block that begins at line ${client.split("\n").length} of the string at ` +
                `.stringData["tls.crt"] in document 2 has no END line (cut short?); copy the file again, whole\n`,
        });
    });

    it("reads a text of many BEGIN markers without an END in time linear in its length, not quadratic", async () => {
        // Markers inside a line, then at a line's start but trailed by text: a lazy match from each
        // BEGIN to the next END scanned the rest of the text again for every one (4.6 MB: 4 min 41 s).
        const folder = tempDir("expiry-many-markers");
        for (const [name, line] of [
            ["inside.txt", "x-----BEGIN CERTIFICATE-----\n"],
            ["trailed.txt", "-----BEGIN CERTIFICATE-----x\n"],
        ]) {
            const file = path.join(folder, name);
            fs.writeFileSync(file, line.repeat(30_000)); // 870 KB, which took seconds
            const started = performance.now();
            const result = await cli("expiry", "--pem", file);
            const elapsed = performance.now() - started;
            assert.deepStrictEqual(result, {
                status: 2,
                out: "",
                err: `error: no certificates or CRLs found in ${file}${NOTHING_FOUND_FIX}\n`,
            });
            assert.ok(elapsed < 1000, `${name}: ${Math.round(elapsed)} ms`);
        }
    });

    it("exits 2 on a PEM block cut short in the text as read: indented (a Helm template), in a JSON string inside a string", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const chain = rendered.read("apic/ob/ca-chain.pem");
        const lines = client.split("\n").length - 1;
        const folder = tempDir("expiry-cut-as-read");
        const fix = "copy the file again, whole";
        const counted = " (each \\n counted as a line break)";
        // The script that only mentions the marker stays beside them, read past.
        fs.writeFileSync(path.join(folder, "check-ca.sh"), "n=$(grep -c -- '-----BEGIN CERTIFICATE-----' ca.pem)\n");
        // A truststore cut 400 bytes into its second certificate, and an APIC payload holding it.
        const truststore = client + chain.slice(0, 400);
        const payload = (pem: string) => JSON.stringify({ name: "ob-truststore", truststore: pem }, null, 2);
        const configMap = (json: string) => ({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "apic-payloads" },
            data: { "truststore.json": json },
        });
        const check = async (name: string, content: string, message: string) => {
            const file = path.join(folder, name);
            fs.writeFileSync(file, content);
            assert.deepStrictEqual(await cli("expiry", "--dir", folder), {
                status: 2,
                out: "",
                err: `error: ${file}: ${message}; ${fix}\n`,
            });
            fs.rmSync(file);
        };
        // The payload in a YAML block scalar: its \n escapes are line breaks to expiry, which found one certificate.
        const atLine = (line: number, within = "") =>
            `the CERTIFICATE block that begins at line ${line}${within} has no END line (cut short?)`;
        const inString = ` of the string at .data["truststore.json"]${counted}`;
        await check("cm-truststore.yaml", YAML.stringify(configMap(payload(truststore))), atLine(3 + lines, inString));
        // As kubectl get -o json writes it: the payload on one line, escaped twice; cut in its first certificate too.
        const kubectlJson = (pem: string) =>
            JSON.stringify(configMap(JSON.stringify({ name: "ob", certificate_chain: pem })));
        await check("cm-payload.json", kubectlJson(truststore), atLine(1 + lines, inString));
        await check("cm-payload.json", kubectlJson(chain.slice(0, 400)), atLine(1, inString));
        // A Helm template, no YAML until rendered: read as text, indentation undone, its lines as written.
        const template =
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-ca}\ndata:\n  ca.crt: |\n" +
            truststore.replace(/^/gm, "    ");
        await check("helm-tpl.txt", template, atLine(6 + lines));
        // Whole, the same payloads are read, a string ending right after its END marker too.
        fs.writeFileSync(path.join(folder, "cm-truststore.yaml"), YAML.stringify(configMap(payload(client))));
        fs.writeFileSync(path.join(folder, "cm-payload.json"), kubectlJson(client.trimEnd()));
        const { status, err, report } = await json("--dir", folder);
        assert.deepStrictEqual(
            [status, err, report?.rows.map((r) => [r.serial, [...r.files].sort()])],
            [
                0,
                "",
                [
                    [
                        new X509Certificate(client).serialNumber,
                        ["cm-payload.json", "cm-truststore.yaml"].map((name) => path.join(folder, name)),
                    ],
                ],
            ],
        );
    });

    it("reads a JSON payload whatever standard escapes it uses: CRLF line ends, \\/, \\u", async () => {
        const client = rendered.read("apic/ob/client.crt");
        const serial = new X509Certificate(client).serialNumber;
        const folder = tempDir("expiry-json-escapes");
        const payload = (keystore: string) => JSON.stringify({ name: "dev-ob-keystore", keystore }, null, 2);
        const files = {
            // As a Windows tool writes the PEM into the payload.
            "crlf.json": payload(client.replace(/\n/g, "\r\n")),
            // As PHP's json_encode writes it: every "/" escaped (base64 has them).
            "slash.json": payload(client).replace(/\//g, "\\/"),
            "unicode.json": payload(client).replace(/\+/g, "\\u002b"),
        };
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
        assert.ok(files["slash.json"].includes("\\/") && files["unicode.json"].includes("\\u002b"));
        const { status, err, report } = await json("--dir", folder);
        assert.deepStrictEqual(
            [status, err, report?.rows.map((r) => [r.serial, [...r.files].sort()])],
            [0, "", [[serial, Object.keys(files).map((name) => path.join(folder, name))]]],
        );
    });

    it("exits 2 on a --pem path the system will not search (ENOTDIR, ENAMETOOLONG), naming it and the fix, not 1", async () => {
        const file = path.join(dir, "path-part.pem");
        fs.writeFileSync(file, rendered.read("apic/ob/client.crt"));
        const under = path.join(file, "client.crt");
        assert.deepStrictEqual(await cli("expiry", "--pem", under), {
            status: 2,
            out: "",
            err: `error: cannot read ${under}: part of its path is not a folder (ENOTDIR); check the path\n`,
        });
        const long = path.join(dir, `${"a".repeat(300)}.pem`);
        assert.deepStrictEqual(await cli("expiry", "--pem", long), {
            status: 2,
            out: "",
            err: `error: cannot read ${long}: its path or a name in it is longer than the system allows (ENAMETOOLONG); check the path\n`,
        });
    });

    it("exits 2, never 1, when its report or its error cannot be written (a full disk); lifecycle too", () => {
        const shell = (command: string): [number | null, string] => {
            const result = spawnSync("bash", ["-c", `"$0" "$1" ${command}`, process.execPath, CLI, rendered.dir], {
                encoding: "utf8",
            });
            return [result.status, result.stderr];
        };
        const full = "error: cannot write the output (ENOSPC)\n";
        // Nothing due (exit 0): exit 1 would tell monitoring that something is.
        assert.deepStrictEqual(shell('expiry --dir "$2" > /dev/null'), [0, ""]);
        assert.deepStrictEqual(shell('expiry --dir "$2" > /dev/full'), [2, full]);
        assert.deepStrictEqual(shell("expiry --pem nope 2> /dev/null"), [2, ""]);
        assert.strictEqual(shell("expiry --pem nope 2> /dev/full")[0], 2);
        // lifecycle's 1 says something needs a human.
        assert.deepStrictEqual(shell("lifecycle --help > /dev/full"), [2, full]);
    });

    it("exits 2 on each --pem file without a certificate or CRL (a key given for its certificate), also beside one with; --dir skips it", async () => {
        const folder = tempDir("expiry-nothing");
        const ca = path.join(folder, "ca.pem");
        fs.copyFileSync(path.join(rendered.dir, "apic/ob/ca-chain.pem"), ca);
        const key = path.join(rendered.dir, "apic/ob/client.key");
        const empty = path.join(folder, "empty.txt");
        fs.writeFileSync(empty, "");
        assert.deepStrictEqual(await cli("expiry", "--pem", ca, "--pem", key, "--pem", empty, "--pem", key), {
            status: 2,
            out: "",
            err: `error: no certificates or CRLs found in ${key}, ${empty}${NOTHING_FOUND_FIX}\n`,
        });
        assert.strictEqual((await cli("expiry", "--pem", ca)).status, 0);
        fs.copyFileSync(key, path.join(folder, "client.key"));
        const dir = await cli("expiry", "--dir", folder);
        assert.deepStrictEqual(
            [dir.status, dir.err, dir.out.split("\n").at(-2)],
            [
                0,
                "",
                "1 certificates and 0 CRLs: none due (within 30 days; CRLs also with less than 0.5 of their validity left)",
            ],
        );
    });

    it("exits 2 on a subfolder or file it may not read (EACCES), also when the tests run as root", () => {
        const folder = tempDir("expiry-denied");
        const client = rendered.read("apic/ob/client.crt");
        fs.writeFileSync(path.join(folder, "client.crt"), client);
        const locked = path.join(folder, "locked");
        fs.mkdirSync(locked);
        fs.writeFileSync(path.join(locked, "server.crt"), client);
        const lockedFile = path.join(folder, "locked.crt");
        fs.writeFileSync(lockedFile, client);
        fs.chmodSync(locked, 0o000);
        fs.chmodSync(lockedFile, 0o000);
        // Root reads whatever the mode says; AS_USER holds it to the mode like any user, so the run
        // gets a real EACCES either way.
        const run = (...argv: string[]) => {
            const [command, ...args] = [...AS_USER, process.execPath, CLI, "expiry", ...argv];
            const result = spawnSync(command, args, { encoding: "utf8" });
            return [result.status, result.stdout, result.stderr];
        };
        const fix = "permission denied (EACCES); run expiry as a user who may read it";
        try {
            assert.deepStrictEqual(run("--dir", folder), [2, "", `error: cannot read ${locked}: ${fix}\n`]);
            assert.deepStrictEqual(run("--pem", lockedFile), [2, "", `error: cannot read ${lockedFile}: ${fix}\n`]);
            // A file in a folder it may not search: lstat itself is refused (was exit 1, "something due").
            const inLocked = path.join(locked, "server.crt");
            assert.deepStrictEqual(run("--pem", inLocked), [2, "", `error: cannot read ${inLocked}: ${fix}\n`]);
        } finally {
            fs.chmodSync(locked, 0o700);
            fs.chmodSync(lockedFile, 0o600);
        }
    });

    it("exits 2 on an inventory.json it cannot use, naming the key, the value and the fix, not 1 with a JavaScript error", async () => {
        const folder = tempDir("expiry-inventory");
        fs.writeFileSync(path.join(folder, "client.crt"), rendered.read("apic/ob/client.crt"));
        const leaf = new X509Certificate(rendered.read("apic/ob/client.crt"));
        const file = path.join(folder, "inventory.json");
        const fix =
            "render again, which writes it anew, or restore the inventory.json the render wrote, or remove it (renewal points then fall back to two thirds of each lifetime, and the offline roots' CRL series go unwatched)";
        const notAnInstant = (i: number, of: string, got: string) =>
            `${file}: certificates[${i}].renewAt${of} must be an ISO 8601 time with its zone (or a date), as render writes it, e.g. 2027-01-31T00:00:00.000Z; got ${got}; ${fix}`;
        const withRenewAt = (renewAt: string) =>
            JSON.stringify({ certificates: [{ id: "mesh-ca-example", sha256: leaf.fingerprint256, renewAt }] });
        const cases: [string, string][] = [
            ["{bad", `${file} is not JSON (broken at character 2); ${fix}`],
            // A password file copied over it: Node's own message would quote it.
            ["s3cretPassw0rd", `${file} is not JSON; ${fix}`],
            ['{"certificates":5}', `${file}: certificates must be a list of { sha256, renewAt }; got 5; ${fix}`],
            ["[]", `${file}: certificates must be a list of { sha256, renewAt }; got nothing; ${fix}`],
            [
                '{"certificates":[{"renewAt":"2027-01-31T00:00:00.000Z"}]}',
                `${file}: certificates[0].sha256 must be a certificate's SHA-256 fingerprint; got nothing; ${fix}`,
            ],
            [
                JSON.stringify({ certificates: [{ sha256: leaf.fingerprint256, renewAt: "not a date" }] }),
                notAnInstant(0, "", '"not a date"'),
            ],
            // Date.parse takes "1" for 2001-01-01, and a time without its zone in the local one (due or not by TZ).
            [withRenewAt("1"), notAnInstant(0, " (of mesh-ca-example)", '"1"')],
            [withRenewAt("2026-12-10T12:00:00"), notAnInstant(0, " (of mesh-ca-example)", '"2026-12-10T12:00:00"')],
            [withRenewAt("2026-02-30T00:00:00Z"), notAnInstant(0, " (of mesh-ca-example)", '"2026-02-30T00:00:00Z"')],
            [
                '{"certificates":[],"crlSeries":{}}',
                `${file}: crlSeries must be a list of { key, issuer, from, ends }; got {}; ${fix}`,
            ],
            [
                '{"certificates":[],"crlSeries":[{"key":"pki:offlineRoots.clientRoot.crls","from":"2026-11-25T00:00:00Z"}]}',
                `${file}: crlSeries[0].issuer must be text; got nothing; ${fix}`,
            ],
            [
                JSON.stringify({
                    certificates: [],
                    crlSeries: [{ key: "k", issuer: "root", from: "2026-11-25T00:00:00Z", ends: "in a month" }],
                }),
                `${file}: crlSeries[0].ends must be an ISO 8601 time with its zone (or a date), as render writes it, e.g. 2027-01-31T00:00:00.000Z; got "in a month"; ${fix}`,
            ],
        ];
        for (const [content, message] of cases) {
            fs.writeFileSync(file, content);
            const result = await cli("expiry", "--dir", folder);
            assert.deepStrictEqual(
                [content, result.status, result.out, result.err],
                [content, 2, "", `error: ${message}\n`],
            );
        }
        // The renewal point it records is still used, also without crlSeries (a render before it was recorded).
        fs.writeFileSync(
            file,
            JSON.stringify({ certificates: [{ sha256: leaf.fingerprint256, renewAt: "2020-01-01T00:00:00.000Z" }] }),
        );
        const recorded = await json("--dir", folder);
        assert.deepStrictEqual(
            [recorded.status, recorded.report?.rows.map((r) => [r.renewAt, r.status])],
            [0, [["2020-01-01T00:00:00.000Z", "renew due"]]],
        );
    });
});

describe("expiry: certificates and CRLs however they are encoded, each counted once", () => {
    // Fixed times, so that the report is the same on every run: a CA valid 400 days, its CRLs 28.
    const NOW = "2030-01-10T00:00:00.000Z";
    let ca: TestCa;
    let serial: string;
    /** CRLs #1 and #2 of the CA, issued a week apart. */
    let crls: string[];

    before(async () => {
        ca = await mintRoot("expiry CA", { issuedAt: new Date("2030-01-01T00:00:00.000Z"), validityHours: 400 * 24 });
        serial = new X509Certificate(ca.certPem).serialNumber;
        const crl = (number: number, thisUpdate: string) =>
            buildCrl(
                ca.certPem,
                ca.keyPem,
                [],
                {
                    thisUpdate: new Date(thisUpdate),
                    nextUpdate: new Date(Date.parse(thisUpdate) + 28 * DAY_MS),
                    number,
                },
                { signedOnce: true },
            );
        crls = [crl(1, "2030-01-01T00:00:00.000Z"), crl(2, "2030-01-08T00:00:00.000Z")];
    });

    /** The text report of the CA's certificate and CRLs #1 and #2 at NOW, all ok. */
    const report = () => [
        `status  days left  not after                 renew at                  subject                       serial`,
        `------  ---------  ------------------------  ------------------------  ----------------------------  ${"-".repeat(serial.length)}`,
        `ok      19         2030-01-29T00:00:00.000Z  2030-01-15T00:00:00.000Z  CRL of expiry CA (0 revoked)  #1`,
        `ok      26         2030-02-05T00:00:00.000Z  2030-01-22T00:00:00.000Z  CRL of expiry CA (0 revoked)  #2`,
        `ok      391        2031-02-05T00:00:00.000Z  2030-09-25T00:00:00.000Z  CN=expiry CA                  ${serial}`,
        `1 certificates and 2 CRLs: none due (within 30 days; CRLs also with less than 0.5 of their validity left)`,
        ``,
    ];

    it("shows a CRL number of 20 octets exactly, and names a CRL whose issuer has no CN by the issuer's whole name", async () => {
        // openssl ca, as a CA outside the stack signs: a CRL number past 2**64, an issuer without CN.
        const folder = tempDir("expiry-crl-number");
        const at = (name: string) => path.join(folder, name);
        const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: folder, stdio: "pipe" });
        openssl(
            ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30"],
            ...["-keyout", at("ca.key"), "-out", at("ca.crt"), "-subj", "/C=GB/O=Example Bank/OU=Ops, Team"],
        );
        fs.writeFileSync(at("index.txt"), "");
        fs.writeFileSync(at("crlnumber"), "010000000000000001\n"); // 2**64 + 1
        fs.writeFileSync(
            at("ca.cnf"),
            "[ca]\ndefault_ca = c\n[c]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n",
        );
        openssl(
            "ca",
            "-config",
            at("ca.cnf"),
            "-gencrl",
            "-keyfile",
            at("ca.key"),
            "-cert",
            at("ca.crt"),
            "-out",
            at("ca.crl"),
        );
        const result = await cli("expiry", "--pem", at("ca.crl"), "--format", "json");
        const rows = (JSON.parse(result.out) as { rows: ExpiryRow[] }).rows;
        assert.deepStrictEqual(
            [result.status, rows.map((r) => [r.subject, r.serial])],
            [0, [["CRL of C=GB, O=Example Bank, OU=Ops\\, Team (0 revoked)", "#18446744073709551617"]]],
        );
    });

    it("shows terminal controls in a CRL's issuer, a subject or a file name escaped, in text and JSON alike", async () => {
        // ESC [2K clears the line, U+009B is CSI (a C1 control, which Node leaves raw in a subject), U+202E reverses the text.
        const name = "evil\u001b[2K\u009b31m\u202eCA";
        const evil = await mintRoot(name, {
            issuedAt: new Date("2030-01-01T00:00:00.000Z"),
            validityHours: 400 * 24,
        });
        const evilSerial = new X509Certificate(evil.certPem).serialNumber;
        const window = {
            thisUpdate: new Date("2030-01-01T00:00:00.000Z"),
            nextUpdate: new Date("2030-01-29T00:00:00.000Z"),
            number: 1,
        };
        const folder = tempDir("expiry-controls");
        fs.writeFileSync(path.join(folder, "ca.crt"), evil.certPem);
        fs.writeFileSync(
            path.join(folder, "ca.crl"),
            buildCrl(evil.certPem, evil.keyPem, [], window, { signedOnce: true }),
        );
        const raw = /[\p{Cc}\p{Cf}]/u;
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual(
            [text.status, text.err, text.out.split("\n")],
            [
                0,
                "",
                [
                    `status  days left  not after                 renew at                  subject                                            serial`,
                    `------  ---------  ------------------------  ------------------------  -------------------------------------------------  ${"-".repeat(evilSerial.length)}`,
                    `ok      19         2030-01-29T00:00:00.000Z  2030-01-15T00:00:00.000Z  CRL of evil\\u001b[2K\\u009b31m\\u202eCA (0 revoked)  #1`,
                    `ok      391        2031-02-05T00:00:00.000Z  2030-09-25T00:00:00.000Z  CN=evil\\1B[2K\\u009b31m\\u202eCA                     ${evilSerial}`,
                    `1 certificates and 1 CRLs: none due (within 30 days; CRLs also with less than 0.5 of their validity left)`,
                    ``,
                ],
            ],
        );
        // JSON escapes them too, so that jq or cat shows them escaped; a parser still reads the values as they are.
        const { out } = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            [raw.test(out.replace(/\n/g, "")), (JSON.parse(out) as ExpiryJson).rows.map((r) => r.subject)],
            [false, [`CRL of ${name} (0 revoked)`, "CN=evil\\1B[2K\u009b31m\u202eCA"]],
        );
        // A file name in a message, as the file is refused.
        const cut = path.join(tempDir("expiry-controls-name"), "cut\u001b[2K\u009b1A.pem");
        fs.writeFileSync(cut, "-----BEGIN CERTIFICATE-----\nAAAA\n");
        assert.deepStrictEqual(await cli("expiry", "--pem", cut), {
            status: 2,
            out: "",
            err: `error: ${path.dirname(cut)}/cut\\u001b[2K\\u009b1A.pem: the CERTIFICATE block that begins at line 1 has no END line (cut short?); copy the file again, whole\n`,
        });
    });

    it("counts one CRL once whatever its line length or line ends (CRLF), and two CRLs of one CA twice", async () => {
        const folder = tempDir("expiry-crl-identity");
        const [first, second] = crls;
        const base64 = pemDecode(first, "X509 CRL").toString("base64");
        const files = {
            "ca.crl": first,
            "windows.crl": first.replace(/\n/g, "\r\n"),
            "wrapped.pem": `-----BEGIN X509 CRL-----\n${(base64.match(/.{1,76}/g) ?? []).join("\n")}\n-----END X509 CRL-----\n`,
            "next.crl": second,
            "ca.crt": ca.certPem,
        };
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, [...r.files].sort()]),
            [
                ["#1", ["ca.crl", "windows.crl", "wrapped.pem"].map((f) => path.join(folder, f))],
                ["#2", [path.join(folder, "next.crl")]],
                [serial, [path.join(folder, "ca.crt")]],
            ],
        );
    });

    it("exits 1 on a certificate or CRL not valid yet (Envoy refuses it until then), from its notBefore or thisUpdate on ok", async () => {
        const folder = tempDir("expiry-not-yet-valid");
        const [first, second] = crls;
        fs.writeFileSync(path.join(folder, "ca.crt"), ca.certPem);
        fs.writeFileSync(path.join(folder, "ca.crl"), first + second);
        // CRL #2 is dated 2030-01-08: three days ahead, it would make the node refuse every peer of the CA.
        const text = await cli("expiry", "--dir", folder, "--now", "2030-01-05T00:00:00.000Z");
        assert.deepStrictEqual(
            [text.status, text.err, text.out.split("\n")],
            [
                1,
                "",
                [
                    `status         days left  not after                 renew at                  subject                       serial`,
                    `-------------  ---------  ------------------------  ------------------------  ----------------------------  ${"-".repeat(serial.length)}`,
                    `ok             24         2030-01-29T00:00:00.000Z  2030-01-15T00:00:00.000Z  CRL of expiry CA (0 revoked)  #1`,
                    `not yet valid  31         2030-02-05T00:00:00.000Z  2030-01-22T00:00:00.000Z  CRL of expiry CA (0 revoked)  #2`,
                    `ok             396        2031-02-05T00:00:00.000Z  2030-09-25T00:00:00.000Z  CN=expiry CA                  ${serial}`,
                    `0 of 1 certificates and 1 of 2 CRLs due: CRL of expiry CA (0 revoked) (not valid before 2030-01-08T00:00:00.000Z)`,
                    ``,
                ],
            ],
        );
        // A second before the CA's notBefore (and CRL #1's thisUpdate) both are not valid yet; from it on they are.
        const rows = async (now: string) => {
            const json = await cli("expiry", "--dir", folder, "--now", now, "--format", "json");
            const report = JSON.parse(json.out) as ExpiryJson;
            return [json.status, report.due, report.rows.map((r) => [r.serial, r.notBefore, r.status, r.due])];
        };
        assert.deepStrictEqual(await rows("2029-12-31T23:59:59.000Z"), [
            1,
            3,
            [
                ["#1", "2030-01-01T00:00:00.000Z", "not yet valid", true],
                ["#2", "2030-01-08T00:00:00.000Z", "not yet valid", true],
                [serial, "2030-01-01T00:00:00.000Z", "not yet valid", true],
            ],
        ]);
        assert.deepStrictEqual(await rows("2030-01-01T00:00:00.000Z"), [
            1,
            1,
            [
                ["#1", "2030-01-01T00:00:00.000Z", "ok", false],
                ["#2", "2030-01-08T00:00:00.000Z", "not yet valid", true],
                [serial, "2030-01-01T00:00:00.000Z", "ok", false],
            ],
        ]);
    });

    it("reads a CRL of thousands of revocations, past asn1js's default count of nodes, in DER beside a certificate", async () => {
        // CRL #1 with 3,400 revocations (3 nodes each), made with asn1js: signing it again is not
        // needed (expiry reads CRLs, it does not verify them) and buildCrl would take far longer.
        const crl = asn1js.fromBER(pemDecode(crls[0], "X509 CRL")).result as asn1js.Sequence;
        const tbsCertList = crl.valueBlock.value[0] as asn1js.Sequence;
        const revokedAt = new asn1js.UTCTime({ valueDate: new Date("2030-01-02T00:00:00.000Z") });
        const revoked = Array.from(
            { length: 3400 },
            (_, i) => new asn1js.Sequence({ value: [new asn1js.Integer({ value: i + 1 }), revokedAt] }),
        );
        // After version, signature, issuer, thisUpdate and nextUpdate; before the extensions.
        tbsCertList.valueBlock.value.splice(5, 0, new asn1js.Sequence({ value: revoked }));
        const folder = tempDir("expiry-big-crl");
        fs.writeFileSync(path.join(folder, "ca.crl"), Buffer.from(crl.toBER()));
        fs.writeFileSync(path.join(folder, "ca.crt"), ca.certPem);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            [json.status, json.err, (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.subject, r.serial])],
            [
                0,
                "",
                [
                    ["CRL of expiry CA (3400 revoked)", "#1"],
                    ["CN=expiry CA", serial],
                ],
            ],
        );
    });

    it("reads DER certificates and CRLs, in files (.cer, .crl) and in a Secret's data, the same one in PEM and DER once", async () => {
        const folder = tempDir("expiry-der");
        const [first, second] = crls;
        const certDer = pemDecode(ca.certPem, "CERTIFICATE");
        fs.writeFileSync(path.join(folder, "ca.crt"), ca.certPem);
        fs.writeFileSync(path.join(folder, "ca.cer"), certDer);
        fs.writeFileSync(path.join(folder, "ca.crl"), pemDecode(first, "X509 CRL"));
        // DER that is neither (here the CA's key) is skipped, as text without PEM blocks is.
        fs.writeFileSync(
            path.join(folder, "ca.key.der"),
            createPrivateKey(ca.keyPem).export({ type: "pkcs8", format: "der" }),
        );
        const secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "ca-der" },
            data: {
                "ca.der": certDer.toString("base64"),
                "ca.crl": pemDecode(second, "X509 CRL").toString("base64"),
            },
        };
        fs.writeFileSync(path.join(folder, "secret.yaml"), YAML.stringify(secret));
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, [...r.files].sort()]),
            [
                ["#1", [path.join(folder, "ca.crl")]],
                ["#2", [path.join(folder, "secret.yaml")]],
                [serial, ["ca.cer", "ca.crt", "secret.yaml"].map((f) => path.join(folder, f))],
            ],
        );
    });

    it("reads PKCS#7 bundles (PEM PKCS7 or CMS, DER .p7b) with their certificates and CRLs, each once beside the same in PEM", async () => {
        const folder = tempDir("expiry-pkcs7");
        const [first, second] = crls;
        const certDer = pemDecode(ca.certPem, "CERTIFICATE");
        const chain = new X509Certificates(new PeculiarCertificate(certDer));
        const files = {
            // As Windows exports a chain ("PKCS #7 Certificates (.P7B)"): DER, certificates only.
            "windows.p7b": Buffer.from(chain.export("raw")),
            // As @peculiar/x509 and openssl cms write it.
            "chain.cms": chain.toString("pem"),
            // As openssl crl2pkcs7 -certfile writes it, CRLs too.
            "apic.p7b": pemEncode(
                pkcs7(
                    [certDer],
                    [first, second].map((crl) => pemDecode(crl, "X509 CRL")),
                ),
                "PKCS7",
            ),
            "ca.crt": ca.certPem,
        };
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, [...r.files].sort()]),
            [
                ["#1", [path.join(folder, "apic.p7b")]],
                ["#2", [path.join(folder, "apic.p7b")]],
                [serial, ["apic.p7b", "ca.crt", "chain.cms", "windows.p7b"].map((f) => path.join(folder, f))],
            ],
        );
        // A PKCS7 block that holds no PKCS#7 is damaged, not skipped: what it holds would go unwatched.
        fs.writeFileSync(path.join(folder, "apic.p7b"), pemEncode(certDer.subarray(0, 40), "PKCS7"));
        assert.deepStrictEqual(await cli("expiry", "--dir", folder, "--now", NOW), {
            status: 2,
            out: "",
            err: `error: ${path.join(folder, "apic.p7b")}: a PKCS7 block cannot be read: it is no PKCS#7 ContentInfo\n`,
        });
    });

    it("reads OpenSSL's TRUSTED CERTIFICATE and X509 CERTIFICATE blocks (Envoy trusts both), the same certificate once, and refuses a damaged one", async () => {
        const folder = tempDir("expiry-trusted");
        const [first, second] = crls;
        const certDer = pemDecode(ca.certPem, "CERTIFICATE");
        // What openssl x509 -addtrust serverAuth appends: SEQUENCE { trust SEQUENCE { serverAuth } }.
        const trust = Buffer.from("300c300a06082b06010505070301", "hex");
        const files = {
            "trusted.pem": pemEncode(Buffer.concat([certDer, trust]), "TRUSTED CERTIFICATE"),
            "ca.crt": ca.certPem,
            "ca.crl": first,
            "next.crl": second,
            // The older label among other blocks: alone, a file of it would be refused as holding nothing.
            "legacy.pem": pemEncode(certDer, "X509 CERTIFICATE") + second,
        };
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, [...r.files].sort()]),
            [
                ["#1", [path.join(folder, "ca.crl")]],
                ["#2", ["legacy.pem", "next.crl"].map((f) => path.join(folder, f))],
                [serial, ["ca.crt", "legacy.pem", "trusted.pem"].map((f) => path.join(folder, f))],
            ],
        );
        fs.writeFileSync(path.join(folder, "trusted.pem"), pemEncode(certDer.subarray(0, 40), "TRUSTED CERTIFICATE"));
        assert.deepStrictEqual(await cli("expiry", "--dir", folder, "--now", NOW), {
            status: 2,
            out: "",
            err: `error: ${path.join(folder, "trusted.pem")}: a TRUSTED CERTIFICATE block cannot be read: it is no certificate followed by trust settings\n`,
        });
    });

    it("skips garbage and keys beside a certificate without echoing them, and refuses a PKCS#7 whose SignedData is damaged", async () => {
        const folder = tempDir("expiry-garbage");
        const certDer = pemDecode(ca.certPem, "CERTIFICATE");
        const keyDer = createPrivateKey(ca.keyPem).export({ type: "pkcs8", format: "der" });
        const files = {
            "ca.crt": ca.certPem,
            "ca.key": ca.keyPem,
            "ca.key.der": keyDer,
            "noise.bin": Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 151 + 7) % 256)),
            "cut.cer": certDer.subarray(0, certDer.length - 1),
            // A SEQUENCE holding a UniversalString of 3 bytes: asn1js throws on it, rather than saying it is no DER.
            "odd.der": Buffer.from("30051c03000000", "hex"),
        };
        for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(folder, name), content);
        const text = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            [text.status, text.err, (JSON.parse(text.out) as ExpiryJson).rows.map((r) => [r.serial, r.files])],
            [0, "", [[serial, [path.join(folder, "ca.crt")]]]],
        );
        // A PKCS#7 that says it is SignedData and holds only its version.
        const broken = new asn1js.Sequence({
            value: [
                new asn1js.ObjectIdentifier({ value: id_signedData }),
                new asn1js.Constructed({
                    idBlock: { tagClass: 3, tagNumber: 0 },
                    value: [new asn1js.Sequence({ value: [new asn1js.Integer({ value: 1 })] })],
                }),
            ],
        });
        fs.writeFileSync(path.join(folder, "chain.p7b"), Buffer.from(broken.toBER()));
        const refused = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual(refused, {
            status: 2,
            out: "",
            err: `error: ${path.join(folder, "chain.p7b")}: a DER PKCS#7 bundle cannot be read: its SignedData is not shaped as RFC 5652 says\n`,
        });
        const keyLines = [
            ...ca.keyPem.split("\n").filter((line) => /^[A-Za-z0-9+/=]{16,}$/.test(line)),
            keyDer.toString("base64"),
        ];
        for (const output of [text.out, refused.err]) assert.ok(keyLines.every((line) => !output.includes(line)));
    });

    it("reads a ConfigMap's binaryData: every certificate of a CA bundle, DER back to back, and CRLs; exits 1 on the one due", async () => {
        // A second CA that expires 11 days after NOW: in a bundle beside the first, in a ConfigMap.
        const soon = await mintRoot("expiry CA 2", {
            issuedAt: new Date("2030-01-01T00:00:00.000Z"),
            validityHours: 20 * 24,
        });
        const soonSerial = new X509Certificate(soon.certPem).serialNumber;
        const [first, second] = crls;
        const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString("base64");
        const configMap = {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "trust-bundle", namespace: "istio-system" },
            binaryData: {
                "ca-bundle.pem": b64(ca.certPem + soon.certPem),
                "ca.crl": b64(pemDecode(first, "X509 CRL")),
                "more.der": b64(Buffer.concat([pemDecode(soon.certPem, "CERTIFICATE"), pemDecode(second, "X509 CRL")])),
            },
        };
        // Beside a healthy certificate, as in a folder of exported manifests: nothing else would fail.
        const folder = tempDir("expiry-binary-data");
        fs.writeFileSync(path.join(folder, "ca.crt"), ca.certPem);
        fs.writeFileSync(path.join(folder, "trust-bundle.yaml"), YAML.stringify(configMap));
        const result = await cli("expiry", "--dir", folder, "--now", NOW);
        const rule = "-".repeat(Math.max(serial.length, soonSerial.length));
        assert.deepStrictEqual(
            [result.status, result.err, result.out.split("\n")],
            [
                1,
                "",
                [
                    `status      days left  not after                 renew at                  subject                       serial`,
                    `----------  ---------  ------------------------  ------------------------  ----------------------------  ${rule}`,
                    `renew soon  11         2030-01-21T00:00:00.000Z  2030-01-15T00:00:00.000Z  CN=expiry CA 2                ${soonSerial}`,
                    `ok          19         2030-01-29T00:00:00.000Z  2030-01-15T00:00:00.000Z  CRL of expiry CA (0 revoked)  #1`,
                    `ok          26         2030-02-05T00:00:00.000Z  2030-01-22T00:00:00.000Z  CRL of expiry CA (0 revoked)  #2`,
                    `ok          391        2031-02-05T00:00:00.000Z  2030-09-25T00:00:00.000Z  CN=expiry CA                  ${serial}`,
                    `1 of 2 certificates and 0 of 2 CRLs due: CN=expiry CA 2 (renew soon)`,
                    ``,
                ],
            ],
        );
    });

    it("tells YAML by its content: a Secret saved as .yaml.txt or without extension; notes that only look like YAML are text", async () => {
        const folder = tempDir("expiry-yaml-content");
        const [first, second] = crls;
        const secret = (name: string, crl: string) =>
            YAML.stringify({
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name },
                data: { "ca.crl": Buffer.from(crl).toString("base64") },
            });
        fs.writeFileSync(path.join(folder, "secret.yaml.txt"), secret("ca", first));
        // kubectl get secret ca-next -o yaml > ca-next
        fs.writeFileSync(path.join(folder, "ca-next"), secret("ca-next", second));
        // A kind: line, yet not YAML (a PEM block is no YAML value): read as text, its PEM block counted, no error.
        fs.writeFileSync(path.join(folder, "notes.txt"), `kind: the CA below\n\n${ca.certPem}`);
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, r.files, r.fields]),
            [
                [
                    "#1",
                    [path.join(folder, "secret.yaml.txt")],
                    [`${path.join(folder, "secret.yaml.txt")}: data key "ca.crl" of Secret "ca"`],
                ],
                [
                    "#2",
                    [path.join(folder, "ca-next")],
                    [`${path.join(folder, "ca-next")}: data key "ca.crl" of Secret "ca-next"`],
                ],
                [serial, [path.join(folder, "notes.txt")], []],
            ],
        );
    });

    it("reads the caBundle of webhook configurations, CRDs' conversion webhooks and API services, naming each object and field", async () => {
        const folder = tempDir("expiry-ca-bundle");
        const caBundle = Buffer.from(ca.certPem).toString("base64");
        const webhook = (name: string, bundle: string) => ({
            name,
            clientConfig: { service: { name: "istiod", namespace: "istio-system", path: "/inject" }, caBundle: bundle },
        });
        // kubectl get mutatingwebhookconfiguration istio-sidecar-injector -o yaml
        const mutating = {
            apiVersion: "admissionregistration.k8s.io/v1",
            kind: "MutatingWebhookConfiguration",
            metadata: { name: "istio-sidecar-injector" },
            webhooks: [
                webhook("rev.namespace.sidecar-injector.istio.io", caBundle),
                webhook("rev.object.sidecar-injector.istio.io", caBundle),
            ],
        };
        fs.writeFileSync(path.join(folder, "webhooks.yaml"), YAML.stringify(mutating));
        // kubectl get validatingwebhookconfigurations -o json
        const validating = {
            apiVersion: "v1",
            kind: "List",
            items: [
                {
                    apiVersion: "admissionregistration.k8s.io/v1",
                    kind: "ValidatingWebhookConfiguration",
                    metadata: { name: "istio-validator-istio-system" },
                    webhooks: [webhook("rev.validation.istio.io", caBundle)],
                },
            ],
        };
        fs.writeFileSync(path.join(folder, "validating.json"), JSON.stringify(validating, null, 4));
        // Conversion webhooks of custom resources, as apiextensions.k8s.io/v1 and v1beta1 keep them.
        const crd = (name: string, conversion: object) => ({
            apiVersion: "apiextensions.k8s.io/v1",
            kind: "CustomResourceDefinition",
            metadata: { name },
            spec: { group: "example.com", conversion: { strategy: "Webhook", ...conversion } },
        });
        fs.writeFileSync(
            path.join(folder, "crds.yaml"),
            [
                crd("widgets.example.com", { webhook: { clientConfig: { caBundle } } }),
                crd("gadgets.example.com", { webhookClientConfig: { caBundle } }),
            ]
                .map((document) => YAML.stringify(document))
                .join("---\n"),
        );
        // kubectl get --raw /apis/apiregistration.k8s.io/v1/apiservices: the items carry no kind.
        const apiServices = {
            kind: "APIServiceList",
            apiVersion: "apiregistration.k8s.io/v1",
            items: [{ metadata: { name: "v1beta1.metrics.k8s.io" }, spec: { caBundle } }],
        };
        fs.writeFileSync(path.join(folder, "apiservices"), JSON.stringify(apiServices));
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        const at = (file: string, field: string) => `${path.join(folder, file)}: ${field}`;
        assert.deepStrictEqual(
            [
                json.status,
                json.err,
                (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [
                    r.serial,
                    [...r.files].sort(),
                    [...r.fields].sort(),
                ]),
            ],
            [
                0,
                "",
                [
                    [
                        serial,
                        ["apiservices", "crds.yaml", "validating.json", "webhooks.yaml"].map((f) =>
                            path.join(folder, f),
                        ),
                        [
                            at("apiservices", 'spec.caBundle of APIService "v1beta1.metrics.k8s.io"'),
                            at(
                                "crds.yaml",
                                'spec.conversion.webhook.clientConfig.caBundle of CustomResourceDefinition "widgets.example.com"',
                            ),
                            at(
                                "crds.yaml",
                                'spec.conversion.webhookClientConfig.caBundle of CustomResourceDefinition "gadgets.example.com"',
                            ),
                            at(
                                "validating.json",
                                'webhooks[0].clientConfig.caBundle of ValidatingWebhookConfiguration "istio-validator-istio-system"',
                            ),
                            at(
                                "webhooks.yaml",
                                'webhooks[0].clientConfig.caBundle of MutatingWebhookConfiguration "istio-sidecar-injector"',
                            ),
                            at(
                                "webhooks.yaml",
                                'webhooks[1].clientConfig.caBundle of MutatingWebhookConfiguration "istio-sidecar-injector"',
                            ),
                        ],
                    ],
                ],
            ],
        );
        // A template's placeholder, never filled in: the webhook's CA would go unwatched.
        mutating.webhooks[1].clientConfig.caBundle = "${CA_BUNDLE}";
        fs.writeFileSync(path.join(folder, "webhooks.yaml"), YAML.stringify(mutating));
        assert.deepStrictEqual(await cli("expiry", "--dir", folder, "--now", NOW), {
            status: 2,
            out: "",
            err:
                `error: ${path.join(folder, "webhooks.yaml")}: webhooks[1].clientConfig.caBundle of MutatingWebhookConfiguration ` +
                `"istio-sidecar-injector" is not valid base64 ("$" at character 1); export the MutatingWebhookConfiguration ` +
                "again with kubectl get mutatingwebhookconfiguration -o yaml, or put the base64 of the PEM CA bundle there\n",
        });
    });

    it("exits 2 on a ConfigMap whose binaryData is damaged, naming the file, the ConfigMap, the key and the fix", async () => {
        const der = pemDecode(crls[0], "X509 CRL").toString("base64");
        const configMap = (name: string | undefined, value: string) => ({
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: name === undefined ? {} : { name },
            binaryData: { "ca.crl": value },
        });
        const file = path.join(tempDir("expiry-binary-damaged"), "trust.yaml");
        const fix = "export the ConfigMap again with kubectl get configmap -o yaml, or give the text under data";
        const cases: [ReturnType<typeof configMap>, string][] = [
            [
                configMap("trust", `${der.slice(0, 8)}%${der.slice(8)}`),
                `error: ${file}: binaryData key "ca.crl" of ConfigMap "trust" is not valid base64 ("%" at character 9); ${fix}\n`,
            ],
            [
                configMap(undefined, der.slice(0, -1)),
                `error: ${file}: binaryData key "ca.crl" of a ConfigMap without metadata.name is not valid base64 (cut short, or "=" other than at its end); ${fix}\n`,
            ],
        ];
        for (const [document, message] of cases) {
            fs.writeFileSync(file, YAML.stringify(document));
            assert.deepStrictEqual(await cli("expiry", "--pem", file, "--now", NOW), {
                status: 2,
                out: "",
                err: message,
            });
        }
    });

    it("reads Kubernetes objects as JSON whatever the file is called (kubectl get -o json, the API server's SecretList) and .YML", async () => {
        const [first, second] = crls;
        const b64 = (text: string) => Buffer.from(text).toString("base64");
        const folder = tempDir("expiry-json");
        // Beside a healthy certificate, as in a folder of exported manifests: nothing else would fail.
        fs.writeFileSync(path.join(folder, "ca.crt"), ca.certPem);
        // kubectl get secret ca -o json > secret.json
        const secret = {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "ca", namespace: "istio-system" },
            type: "Opaque",
            data: { "ca.crl": b64(first) },
        };
        fs.writeFileSync(path.join(folder, "secret.json"), JSON.stringify(secret, null, 4));
        // kubectl get --raw /api/v1/namespaces/istio-system/secrets > secrets: the items carry no kind.
        const secretList = {
            kind: "SecretList",
            apiVersion: "v1",
            metadata: { resourceVersion: "4711" },
            items: [{ metadata: { name: "ca-next", namespace: "istio-system" }, data: { "ca.crl": b64(second) } }],
        };
        fs.writeFileSync(path.join(folder, "secrets"), JSON.stringify(secretList));
        fs.writeFileSync(
            path.join(folder, "trust.YML"),
            YAML.stringify({ ...secret, metadata: { name: "trust" }, data: { "ca.crt": b64(ca.certPem) } }),
        );
        const text = await cli("expiry", "--dir", folder, "--now", NOW);
        assert.deepStrictEqual([text.status, text.err, text.out.split("\n")], [0, "", report()]);
        const json = await cli("expiry", "--dir", folder, "--now", NOW, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as ExpiryJson).rows.map((r) => [r.serial, [...r.files].sort()]),
            [
                ["#1", [path.join(folder, "secret.json")]],
                ["#2", [path.join(folder, "secrets")]],
                [serial, [path.join(folder, "ca.crt"), path.join(folder, "trust.YML")]],
            ],
        );
    });
});
