/**
 * CRLs signed elsewhere: the offline root's ceremony signs a series of CRLs, one per publication
 * period, and hands them back in config. The stack checks each (signed by that root) and
 * publishes the one whose period contains now. Parsed with @peculiar/x509 and @peculiar/asn1-x509
 * (the raw to-be-signed bytes), verified with Node's crypto.
 */
import * as crypto from "crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificateList } from "@peculiar/asn1-x509";
import * as x509 from "@peculiar/x509";
import { normalSerial } from "./x509";
import { CLOCK_SKEW_MS, CrlInfo, CrlRecord, crlValidAt, parseCrl } from "./crl";
import { berOptions } from "./der";
import { pemDecode } from "./pem";
import { spkiPin } from "./pins";
import { SIGNATURE_HASHES } from "./x509";

/** A CRL of the series, with its PEM. */
export interface SeriesCrl extends CrlInfo {
    readonly pem: string;
}

/**
 * An offline root's series as the stack reads it (lib/plan/plan.ts offlineSeries builds it): the
 * CRLs pasted (pki:offlineRoots.<root>.crls), the root's certificate, the serials a CRL must list
 * to be published (the CAs it retired), and the record of the CRL the stack last published from
 * it (the deployment record's crls), if any: none numbered below that one is published again.
 */
export interface SeriesInput {
    readonly series: readonly string[];
    readonly rootCertPem: string;
    readonly required: readonly string[];
    readonly published?: CrlRecord;
}

/**
 * The number below which the stack publishes no CRL of the root: the one it last published from
 * the root's key (`published`, a record seriesCrlRecord wrote for this root certificate). A lower
 * one may lack a revocation the later one made that the stack does not know (a key revoked for
 * keyCompromise by "ceremony crl --revoke"). Undefined when the record does not say: none, one of
 * another key (a root made again numbers from 1), or one of an earlier version, without `signer`.
 */
function publishedFloor(published: CrlRecord | undefined, rootCertPem: string): number | undefined {
    if (published?.renewal !== "series" || published.signer === undefined) return undefined;
    return published.signer === spkiPin(rootCertPem) ? published.number : undefined;
}

/** Whether the CRL is numbered at or above `floor` (publishedFloor; one without a number counts as 0, as its record says). */
const notBelow = (crl: CrlInfo, floor: number | undefined): boolean =>
    floor === undefined || (crl.number ?? 0) >= floor;

/** The CRLs of the series signed by the root, parsed; one that cannot be read or another key signed counts for nothing. */
function signedCrls(series: readonly string[], rootCertPem: string): CrlInfo[] {
    return series.flatMap((pem) => {
        try {
            return crlSignedBy(pem, rootCertPem) ? [parseCrl(pem)] : [];
        } catch {
            return [];
        }
    });
}

/**
 * Whether the CRL's signature verifies with the certificate's key and names it as issuer. The CRL
 * is read as parseCrl reads it (strict PEM, asn1js's limits for its size); throws when it cannot be.
 */
export function crlSignedBy(crlPem: string, certPem: string): boolean {
    const der = pemDecode(crlPem, "X509 CRL");
    const asn = AsnConvert.parse(der, CertificateList, { berOptions: berOptions(der) });
    const cert = new crypto.X509Certificate(certPem);
    if (new x509.X509Crl(asn).issuer !== new x509.X509Certificate(certPem).subject) return false;
    const digest = SIGNATURE_HASHES[asn.signatureAlgorithm.algorithm];
    if (digest === undefined || asn.tbsCertListRaw === undefined) return false;
    return crypto.verify(
        digest,
        Buffer.from(asn.tbsCertListRaw),
        { key: cert.publicKey, dsaEncoding: "der" },
        Buffer.from(asn.signature),
    );
}

/**
 * The certificates of `certPems` that signed none of `crlPems` (crlSignedBy), in their order: the
 * CAs of an istiod cert-chain.pem whose CRL its ca-crl.pem lacks. A CRL that cannot be read is
 * signed by none.
 */
export function signedNoCrl(crlPems: readonly string[], certPems: readonly string[]): string[] {
    const signs = (crl: string, cert: string): boolean => {
        try {
            return crlSignedBy(crl, cert);
        } catch {
            return false;
        }
    };
    return certPems.filter((cert) => !crlPems.some((crl) => signs(crl, cert)));
}

/**
 * The CRLs of `crls` valid at `now`, the highest CRL number first (then the latest thisUpdate; a
 * CRL without a number last). Not the latest thisUpdate first, as OpenSSL picks: two series overlap
 * (each CRL stays valid until its nextUpdate), and an earlier series' CRL can have a later
 * thisUpdate than a later series' one, which revokes what it does not; the number increases
 * monotonically (RFC 5280 5.2.3), and the ceremony numbers across series.
 */
const validAt = <C extends CrlInfo>(crls: readonly C[], now: Date): C[] =>
    crls
        .filter((c) => crlValidAt(c, now))
        .sort((a, b) => (b.number ?? -1) - (a.number ?? -1) || b.thisUpdate.getTime() - a.thisUpdate.getTime());

/** Whether two PEM CRLs are the same CRL (the same DER). */
const sameCrl = (a: string, b: string): boolean => pemDecode(a, "X509 CRL").equals(pemDecode(b, "X509 CRL"));

/** Whether the CRL lists every serial in `required`. */
const lists = (crl: CrlInfo, required: readonly string[]): boolean =>
    required.every((s) => crl.revokedSerials.some((r) => normalSerial(r) === normalSerial(s)));

/**
 * The CRL of `crls` to publish at `now`: of those valid now, the one with the highest number
 * (validAt) that is CLOCK_SKEW_MS old and not yet superseded by a higher-numbered one in effect
 * (takenAt), lists every serial in `required` and is not numbered below `floor`
 * (publishedFloor); undefined when there is none. Never a younger one, even the only one
 * valid: a node whose clock lags sees it dated in its future, and its Envoy refuses every peer the
 * CRL covers.
 */
function seriesCrlAt<C extends CrlInfo>(
    crls: readonly C[],
    now: Date,
    required: readonly string[],
    floor: number | undefined,
): C | undefined {
    return validAt(crls, now).find((c) => takenAt(c, crls, now) && lists(c, required) && notBelow(c, floor));
}

/** When the stack may first take the CRL: CLOCK_SKEW_MS after its thisUpdate (a node whose clock lags sees a younger one dated in its future). */
const settledFrom = (crl: CrlInfo): number => crl.thisUpdate.getTime() + CLOCK_SKEW_MS;

/**
 * The CRL of `crls` numbered highest of those in effect at `now` (CLOCK_SKEW_MS past their
 * thisUpdate, settledFrom), valid still or not; undefined when none is.
 */
function inEffect<C extends CrlInfo>(crls: readonly C[], now: Date): C | undefined {
    return crls.filter((c) => settledFrom(c) <= now.getTime()).sort((a, b) => (b.number ?? 0) - (a.number ?? 0))[0];
}

/**
 * Until when the stack may take `crl` of the series `crls`: its next update, or, if sooner, when a
 * CRL of `crls` numbered above it comes in effect (settledFrom), even one that has ended since: a
 * root's CRL numbers only go up, and a lower one may lack a revocation the higher one made (a key
 * revoked for keyCompromise by "ceremony crl --revoke"). One rule for the pick (seriesCrlAt), the
 * CRL due (seriesCrlDue) and the span (seriesSpan), with or without a deployment record.
 */
function takenUntil(crl: CrlInfo, crls: readonly CrlInfo[]): number {
    const above = crls.filter((c) => (c.number ?? 0) > (crl.number ?? 0)).map(settledFrom);
    return Math.min(crl.nextUpdate.getTime(), ...above);
}

/** Whether the stack may take `crl` of `crls` at `now` as to time: settled (settledFrom) and not past takenUntil. */
const takenAt = (crl: CrlInfo, crls: readonly CrlInfo[], now: Date): boolean =>
    settledFrom(crl) <= now.getTime() && now.getTime() < takenUntil(crl, crls);

/**
 * The CRL of a series to publish at `now`: signed by the root, valid at `now` (the highest
 * numbered, seriesCrlAt), listing every serial in `required`, not numbered below the one the stack
 * last published from the root (`published`). Two different CRLs with one number are refused: a
 * root numbers each CRL once. A problem (for the key `key`) when there is none, saying `why` the
 * root's CRL is needed and the ceremony `command` that signs a series that fits, or, when the
 * series has one that fits but is not valid yet or not CLOCK_SKEW_MS old, from when `rerun`
 * (default: the update) passes if run again, or, when the one that fits is numbered below the one
 * published or below a CRL of the series in effect (takenUntil), that it goes back.
 */
export function pickSeriesCrl(
    args: SeriesInput & { key: string; now: Date; why: string; command: string; rerun?: "the update" | "diff" },
): { crl: SeriesCrl } | { problem: string } {
    const { key, now } = args;
    const again = `run ${args.rerun ?? "the update"} again from`;
    const parsed: SeriesCrl[] = [];
    for (const [i, pem] of args.series.entries()) {
        let signed = false;
        try {
            signed = crlSignedBy(pem, args.rootCertPem);
        } catch {
            return {
                problem: `${key}: CRL ${i + 1} of the series cannot be read; paste crls.pem of the ceremony as it is`,
            };
        }
        if (!signed) {
            return {
                problem: `${key}: CRL ${i + 1} of the series is not signed by this root; sign the series with the root of ${key.replace(/\.crls$/, ".certificate")}`,
            };
        }
        const crl = { ...parseCrl(pem), pem };
        // Past 2**53 - 1 two numbers may read as one (RFC 5280 allows 20 octets): the order is lost.
        if (crl.number !== undefined && !Number.isSafeInteger(crl.number)) {
            return {
                problem: `${key}: CRL ${i + 1} of the series has a CRL number past 2**53 - 1, which the stack cannot order exactly; sign the series with the ceremony, which numbers CRLs from 1`,
            };
        }
        const twin = parsed.findIndex(
            (c) => c.number !== undefined && c.number === crl.number && !sameCrl(c.pem, crl.pem),
        );
        if (twin >= 0) {
            return {
                problem:
                    `${key}: CRLs ${twin + 1} and ${i + 1} of the series are two different CRLs numbered ${crl.number}; ` +
                    `a root numbers each CRL once (its issuance.log), so they come from two copies of the root folder, ` +
                    `and the stack could not tell which is the later: set ${key} to the crls.pem of the latest ceremony alone`,
            };
        }
        parsed.push(crl);
    }
    const floor = publishedFloor(args.published, args.rootCertPem);
    const current = seriesCrlAt(parsed, now, args.required, floor);
    if (current !== undefined) return { crl: current };
    const run = `on the offline machine run "${args.command}" and set ${key} to the crls.pem it writes`;
    // A series pasted again, or one whose later CRLs have ended: the stack would go back to a lower number.
    const goesBack = (what: string) => ({
        problem:
            `${key}: ${what}, below CRL ${floor ?? 0}, which the stack published from this root before (its deployment record); ` +
            `going back would drop every revocation made since that the stack does not know (a key revoked for keyCompromise with "ceremony crl --revoke"): ` +
            `set ${key} to the crls.pem of the latest ceremony, or, if its series has ended, ${run}`,
    });
    const older = floor === undefined ? undefined : seriesCrlAt(parsed, now, args.required, undefined);
    if (older !== undefined) return goesBack(`its CRL to publish now is number ${older.number ?? 0}`);
    const skew = `${CLOCK_SKEW_MS / 60_000} minutes`;
    const settledAt = (crl: CrlInfo) => new Date(settledFrom(crl)).toISOString();
    const missing = (crl: CrlInfo) => {
        const listed = crl.revokedSerials.map(normalSerial);
        return args.required.filter((s) => !listed.includes(normalSerial(s)));
    };
    // A CRL numbered above each one that would do is in effect, ended or lacking a required revocation (takenUntil).
    const top = inEffect(parsed, now);
    const below = (c: CrlInfo) => top !== undefined && (c.number ?? 0) < (top.number ?? 0);
    const usable = parsed.filter((c) => lists(c, args.required) && now < c.nextUpdate);
    if (top !== undefined && usable.length > 0 && usable.every(below)) {
        // The one it would go back to: valid now (the highest numbered), else the next to start.
        const back =
            validAt(usable, now).find((c) => settledFrom(c) <= now.getTime()) ??
            [...usable].sort((x, y) => x.thisUpdate.getTime() - y.thisUpdate.getTime())[0];
        const state =
            now < top.nextUpdate
                ? `does not revoke ${missing(top).join(", ")}`
                : `passed its next update on ${top.nextUpdate.toISOString()}`;
        return {
            problem:
                `${key} has no CRL to publish at ${now.toISOString()}: CRL ${top.number ?? 0} of the series, in effect since ${settledAt(top)}, ${state}, ` +
                `and the stack never goes back to a lower number (CRL ${back.number ?? 0}): it may lack a revocation made since (a key revoked for keyCompromise with "ceremony crl --revoke"); ` +
                `${args.why}; ${run}`,
        };
    }
    const valid = validAt(parsed, now);
    // Valid only later: signed on a clock ahead (the ceremony's default --from is its clock),
    // or with a --from to come. Signing again on that clock would not help; waiting does.
    const later = parsed
        .filter((c) => now < c.thisUpdate)
        .sort((a, b) => a.thisUpdate.getTime() - b.thisUpdate.getTime());
    const ahead = later.find((c) => lists(c, args.required) && !below(c));
    if (parsed.length === 0) return { problem: `${key} is needed: ${args.why}; ${run}` };
    if (valid.length === 0) {
        if (ahead !== undefined && !notBelow(ahead, floor))
            return goesBack(`its next CRL to publish is number ${ahead.number ?? 0}`);
        if (ahead !== undefined) {
            const from = ahead.thisUpdate.toISOString();
            const wholeSeries = ahead === later[0] && later.length === parsed.length;
            const starts = wholeSeries
                ? `the series starts at ${from}`
                : `its next CRL${args.required.length > 0 ? ` revoking ${args.required.join(", ")}` : ""} starts at ${from}`;
            return {
                problem:
                    `${key} has no CRL valid at ${now.toISOString()}: ${starts}, later than now (was the offline machine's clock ahead?), and ${args.why}; ` +
                    `${again} ${settledAt(ahead)}, once that CRL is ${skew} old (Envoy checks a CRL's thisUpdate against the node's clock with no allowance)`,
            };
        }
        if (later.length > 0) {
            return {
                problem: `${key} has no CRL valid at ${now.toISOString()}, and its CRL from ${later[0].thisUpdate.toISOString()} does not revoke ${missing(later[0]).join(", ")} (${args.why}); ${run}`,
            };
        }
        // No date: the latest next update of all may be a CRL's the stack could never take (seriesSpan).
        return {
            problem: `${key} has no CRL valid at ${now.toISOString()}: every CRL of the series has passed its next update, and ${args.why}; ${run}`,
        };
    }
    // Those that would do but are not CLOCK_SKEW_MS old yet: the first of them to be.
    const young = valid
        .filter((c) => lists(c, args.required) && !below(c))
        .sort((a, b) => a.thisUpdate.getTime() - b.thisUpdate.getTime())[0];
    if (young !== undefined && !notBelow(young, floor))
        return goesBack(`its CRL to publish next is number ${young.number ?? 0}`);
    if (young !== undefined) {
        const from = young.thisUpdate.toISOString();
        return {
            problem:
                `${key}: its CRL valid from ${from} is less than ${skew} old (now is ${now.toISOString()}) and no older one of the series ` +
                `${args.required.length > 0 ? `revoking ${args.required.join(", ")} ` : ""}is valid now: Envoy checks a CRL's thisUpdate against the node's clock ` +
                `with no allowance, so a node whose clock lags would refuse it, and with it every peer under this root (${args.why}); ` +
                `${again} ${settledAt(young)}`,
        };
    }
    // The CRL valid now lists them but a higher one in effect stops it (takenUntil): the next that may be published.
    if (ahead !== undefined && missing(valid[0]).length === 0 && !notBelow(ahead, floor))
        return goesBack(`its next CRL to publish is number ${ahead.number ?? 0}`);
    if (ahead !== undefined && missing(valid[0]).length === 0) {
        return {
            problem:
                `${key}: no CRL valid now ${args.required.length > 0 ? `revokes ${args.required.join(", ")} ` : ""}and may be published (${args.why}); ` +
                `its next CRL that does starts at ${ahead.thisUpdate.toISOString()}: ${again} ${settledAt(ahead)}`,
        };
    }
    return {
        problem: `${key}: the CRL valid now does not revoke ${missing(valid[0]).join(", ")} (${args.why}); ${run}`,
    };
}

/**
 * The period of the series `crl` (a CRL of `series`) belongs to, in milliseconds: from its
 * thisUpdate to that of the CRL of `series` numbered next, or, when there is none, from that of
 * the one numbered before, as the ceremony numbers a series' CRLs in order, one per period
 * (crlSeriesWindows). A neighbour counts only when the root signed it, it is dated on its side of
 * `crl` and it is valid as long: a CRL of another series pasted beside it (signed with other
 * --period-days or --from) does not tell this one's period. Undefined when `crl` has no such
 * neighbour (a series of one CRL, or CRLs without a number).
 */
export function seriesPeriodMs(series: readonly string[], rootCertPem: string, crl: string): number | undefined {
    const of = parseCrl(crl);
    if (of.number === undefined) return undefined;
    const validity = of.nextUpdate.getTime() - of.thisUpdate.getTime();
    const signed = signedCrls(series, rootCertPem).filter(
        (c) => c.nextUpdate.getTime() - c.thisUpdate.getTime() === validity,
    );
    const spacing = (number: number, sign: 1 | -1): number | undefined =>
        signed
            .filter((c) => c.number === number)
            .map((c) => sign * (c.thisUpdate.getTime() - of.thisUpdate.getTime()))
            .find((ms) => ms > 0);
    return spacing(of.number + 1, 1) ?? spacing(of.number - 1, -1);
}

/**
 * The span of a series at `now`: from the first CRL's thisUpdate to the first moment after `now`
 * when pickSeriesCrl, with the same `required` serials, has no CRL to take. Past that end the
 * ceremony must sign a new series. Not the last next update of all: a gap between two series
 * pasted together, or a CRL after `now` that lacks a required revocation (an old long series
 * beside a newer short one revoking a retired CA), ends the run the stack can publish from. A CRL
 * that cannot be read or is signed by another key counts for nothing, as the stack publishes none
 * of them, nor does one numbered below the CRL published (`published`, publishedFloor), nor one
 * once a higher-numbered CRL is in effect (takenUntil): once the later CRLs end, the stack refuses
 * to go back to it. Which CRL pickSeriesCrl takes when
 * several would do (the highest numbered) does not move the end: only whether it has one.
 * Undefined when the stack has no CRL to take at `now`.
 */
export function seriesSpan(args: SeriesInput & { now: Date }): { from: Date; ends: Date } | undefined {
    const floor = publishedFloor(args.published, args.rootCertPem);
    const signed = signedCrls(args.series, args.rootCertPem);
    // When pickSeriesCrl takes each CRL that lists the required serials: once CLOCK_SKEW_MS old, until takenUntil.
    const takable = signed
        .filter((c) => lists(c, args.required) && notBelow(c, floor))
        .map((c) => ({ from: settledFrom(c), to: takenUntil(c, signed) }))
        .filter((c) => c.from < c.to)
        .sort((a, b) => a.from - b.from);
    // Walk forward from now: the run goes on while the next CRL is takable by the time those before it end.
    let ends = args.now.getTime();
    for (const crl of takable) {
        if (crl.from > ends) break;
        ends = Math.max(ends, crl.to);
    }
    if (ends === args.now.getTime()) return undefined;
    return {
        from: new Date(Math.min(...signed.map((c) => c.thisUpdate.getTime()))),
        ends: new Date(ends),
    };
}

/**
 * The deployment record's entry for a series CRL the stack publishes (signed by the root
 * `rootCertPem`): its times and number, so that the pipeline re-publishes once the series holds a
 * newer CRL (seriesCrlDue) and reports it when it passes its next update, and the pin of the root's
 * key, so that no later update publishes a CRL of that key numbered below it (publishedFloor). The
 * digest is the SHA-256 of its DER.
 */
export function seriesCrlRecord(pem: string, rootCertPem: string): CrlRecord {
    const crl = parseCrl(pem);
    return {
        number: crl.number ?? 0,
        digest: crypto.createHash("sha256").update(pemDecode(pem, "X509 CRL")).digest("hex"),
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate.toISOString(),
        renewal: "series",
        published: true,
        signer: spkiPin(rootCertPem),
    };
}

/**
 * The CRL of a series that a deployment at `now` would publish instead of the one published
 * (`published`, its record): the one pickSeriesCrl takes at `now`, with the same `required`
 * serials and floor, and with a higher number or a later thisUpdate (a CRL of a later series may
 * be dated before the published one of an earlier series; a root made again numbers from 1);
 * undefined when the published one is still the one to publish, or the update would take none.
 */
export function seriesCrlDue(args: SeriesInput & { published: CrlRecord; now: Date }): CrlInfo | undefined {
    const floor = publishedFloor(args.published, args.rootCertPem);
    const due = seriesCrlAt(signedCrls(args.series, args.rootCertPem), args.now, args.required, floor);
    if (due === undefined) return undefined;
    const later =
        (due.number ?? 0) > args.published.number || due.thisUpdate.getTime() > Date.parse(args.published.thisUpdate);
    return later ? due : undefined;
}
