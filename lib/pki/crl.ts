/**
 * Certificate revocation lists (RFC 5280 section 5), built by our code because @pulumi/tls has no
 * CRL resource: the CRL is an @peculiar/asn1-x509 CertificateList signed with Node's crypto (see
 * ./x509.ts), read back with @peculiar/x509. Deterministic for the same inputs: the time fields
 * come from a publication period or the issuer's validity (not the clock's second), the number
 * from the deployment record, and RSA PKCS#1 v1.5 signatures are deterministic, so a preview of
 * an unchanged stack within one period shows no change.
 */
import * as crypto from "crypto";
import {
    AuthorityKeyIdentifier,
    CertificateList,
    CRLNumber,
    CRLReason,
    id_ce_authorityKeyIdentifier,
    id_ce_cRLNumber,
    id_ce_cRLReasons,
    RevokedCertificate,
    TBSCertList,
    Time,
    Version,
} from "@peculiar/asn1-x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { X509Crl } from "@peculiar/x509";
import { berOptions } from "./der";
import { pemDecode, pemEncode } from "./pem";
import { authorityKeyIdExtensions, extension, parseCaCertificate, signatureAlgorithm, subjectKeyIdOf } from "./asn1";
import { inX509Years, serialNumber, sign, toDer } from "./x509";

/** RFC 5280 CRLReason, by the names used in config. */
export const CRL_REASONS: Readonly<Record<string, number>> = {
    unspecified: 0,
    keyCompromise: 1,
    cACompromise: 2,
    affiliationChanged: 3,
    superseded: 4,
    cessationOfOperation: 5,
    certificateHold: 6,
    privilegeWithdrawn: 9,
    aACompromise: 10,
};

export interface RevokedEntry {
    /** Serial number as hex (as `openssl x509 -serial` and `expiry` print it). */
    readonly serialHex: string;
    readonly revokedAt: Date;
    readonly reason: keyof typeof CRL_REASONS | string;
}

export interface CrlWindow {
    readonly thisUpdate: Date;
    readonly nextUpdate: Date;
    /** The CRL number (RFC 5280 5.2.3): it never goes down for one CA (see crlNumber). */
    readonly number: number;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * How long a periodic CRL stays valid after the start of its publication period: four periods,
 * and at least 28 days. Published (pulumi up) early in each period, a CRL still has three
 * periods, and at least three weeks, to run when a re-publication is missed.
 */
export const crlValidityDays = (periodDays: number): number => Math.max(4 * periodDays, 28);

/** The longest publication period pki:crlPeriodDays allows (the shortest is a day). */
export const MAX_CRL_PERIOD_DAYS = 90;

/**
 * How far the clock of a node that loads a CRL may lag the clock of the machine that signed or
 * picked it. BoringSSL checks a CRL's thisUpdate at the node's clock with no allowance
 * (x509_vfy.cc check_crl_time): a CRL dated after it refuses every peer whose chain the CRL
 * covers. Five minutes: Kerberos' default tolerance, more than the two minutes Istio backdates its
 * workload certificates by (security/pkg/pki/util/generate_cert.go ClockSkewGracePeriod).
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Whether a CRL is valid at `now` as BoringSSL checks it at the node's clock (check_crl_time):
 * from its thisUpdate on, until its nextUpdate.
 */
export const crlValidAt = (crl: Pick<CrlInfo, "thisUpdate" | "nextUpdate">, now: Date): boolean =>
    crl.thisUpdate <= now && now < crl.nextUpdate;

/** The start of the publication period containing `now`: periods of `periodDays` counted from 1970-01-01 UTC. */
export function periodStart(now: Date, periodDays: number): Date {
    const period = periodDays * DAY_MS;
    return new Date(Math.floor(now.getTime() / period) * period);
}

/**
 * A periodic CRL's window at `now` without a record of earlier numbers: thisUpdate the start of
 * the period, nextUpdate crlValidityDays later, the number the period's index (monotonic only
 * while the period length stays the same; the stack numbers its CRLs with crlNumber). The period
 * is the one that began CLOCK_SKEW_MS before `now`: in a period's first minutes the CRL is still
 * the previous period's (it has three more to run), not one dated seconds ago.
 */
export function crlWindow(now: Date, periodDays: number): CrlWindow {
    const start = periodStart(new Date(now.getTime() - CLOCK_SKEW_MS), periodDays);
    return {
        thisUpdate: start,
        nextUpdate: new Date(start.getTime() + crlValidityDays(periodDays) * DAY_MS),
        number: Math.floor(start.getTime() / (periodDays * DAY_MS)),
    };
}

/**
 * How a CRL is kept fresh:
 * - "period": re-signed in every publication period (pki:crlPeriodDays) and valid for
 *   crlValidityDays: the CRLs of the issuing CAs at the edge, which list revoked APIC clients;
 * - "issuer": valid until its issuer expires, re-signed only when what it lists changes: the
 *   CRLs of roots (which list only retired CAs) and of mesh CAs (which list nothing), so that
 *   istiod's ca-crl.pem never goes stale (Envoy then refuses every peer, and Istio cannot clear
 *   a CRL once published, istio/istio#61073).
 */
export type CrlRenewal = "period" | "issuer";

/** The last CRL a CA signed, as the deployment record keeps it for the next update. */
export interface CrlRecord {
    /** Never goes down for this CA. */
    readonly number: number;
    /** SHA-256 of what the CRL says without its number, at its renewal rule's times (crlDigest, crlDigestTimes). */
    readonly digest: string;
    /** ISO 8601. */
    readonly thisUpdate: string;
    /** ISO 8601. */
    readonly nextUpdate: string;
    /**
     * How it is kept fresh (CrlRenewal), or "series": an offline root's CRL, picked from the
     * ceremony's series (pki:offlineRoots.<root>.crls), which the next update moves along.
     */
    readonly renewal: CrlRenewal | "series";
    /** Published by the deployment that wrote the record (false: kept only for its number). */
    readonly published: boolean;
    /**
     * A series CRL's: the pin (spkiPin) of the offline root's key that signed it; the stack publishes
     * no CRL of that key numbered below it. Absent in records of earlier versions, and for the
     * stack's own CRLs.
     */
    readonly signer?: string;
}

/**
 * thisUpdate and nextUpdate of a CRL at `now`. thisUpdate is never before a listed revocation
 * (the plan refuses one less than CLOCK_SKEW_MS before `now`), nor after CLOCK_SKEW_MS before
 * `now`: a CA that `pulumi up` makes is dated when the provider creates it, after the program read
 * its clock, and a CRL dated then would not be valid yet at the time the stack signs for, nor one
 * dated at that time on a node whose clock lags (the components refuse both).
 */
export function crlTimes(args: {
    renewal: CrlRenewal;
    now: Date;
    periodDays: number;
    issuer: { notBefore: Date; notAfter: Date };
    revoked: readonly RevokedEntry[];
}): { thisUpdate: Date; nextUpdate: Date } {
    const latest = Math.max(...args.revoked.map((r) => r.revokedAt.getTime()), -Infinity);
    if (args.renewal === "issuer") {
        return {
            thisUpdate: new Date(
                Math.max(Math.min(args.issuer.notBefore.getTime(), args.now.getTime() - CLOCK_SKEW_MS), latest),
            ),
            nextUpdate: args.issuer.notAfter,
        };
    }
    const window = crlWindow(args.now, args.periodDays);
    return { thisUpdate: new Date(Math.max(window.thisUpdate.getTime(), latest)), nextUpdate: window.nextUpdate };
}

/**
 * The times a CA's CRL is known by in its digest (crlDigest): its rule's (crlTimes), without the
 * clock's part. An "issuer" CRL of a CA less than CLOCK_SKEW_MS old is dated CLOCK_SKEW_MS before
 * the clock, later at every update until the CA is that old: known by that date, it would take a
 * new number and new bytes at each of those updates and once more after them (gateway Secrets and
 * istiod's cacerts changing again hours after a rotation's prepare). Known by the date it takes
 * once its CA is that old, it is dated once, when first signed or when its list changes, and
 * re-published as it was (crlThisUpdate).
 */
export function crlDigestTimes(args: Parameters<typeof crlTimes>[0]): { thisUpdate: Date; nextUpdate: Date } {
    if (args.renewal === "period") return crlTimes(args);
    const settled = Math.max(args.now.getTime(), args.issuer.notBefore.getTime() + CLOCK_SKEW_MS);
    return crlTimes({ ...args, now: new Date(settled) });
}

/**
 * What a CRL says, without its number: the issuer's certificate, its times and its entries, each
 * entry's reason as buildCrl writes it (an unspecified one as none: CRLs that carried reasonCode 0
 * before cff312c get the next number with the bytes that leave it out, never the same number twice).
 */
export function crlDigest(
    caCertPem: string,
    times: { thisUpdate: Date; nextUpdate: Date },
    revoked: readonly RevokedEntry[],
): string {
    const content = {
        issuer: new crypto.X509Certificate(caCertPem).fingerprint256,
        thisUpdate: times.thisUpdate.toISOString(),
        nextUpdate: times.nextUpdate.toISOString(),
        revoked: revoked
            .map((r) => [
                r.serialHex.toUpperCase(),
                r.revokedAt.toISOString(),
                r.reason === "unspecified" ? "" : r.reason,
            ])
            .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    };
    return crypto.createHash("sha256").update(JSON.stringify(content)).digest("hex");
}

/**
 * The number of a CA's CRL (RFC 5280 5.2.3): the previous one's when nothing changed (an
 * unchanged update re-publishes the same bytes), the next one when anything did (a new period,
 * a revocation, another period length). A CA's first CRL continues above `floor` (every number
 * the stack used before, so numbers also rise across CA generations) and the day's index since
 * 1970 (above the period indexes earlier versions used).
 */
export function crlNumber(previous: CrlRecord | undefined, digest: string, now: Date, floor: number): number {
    if (previous === undefined) return Math.max(Math.floor(now.getTime() / DAY_MS), floor);
    return previous.digest === digest ? previous.number : previous.number + 1;
}

/**
 * A CA's CRL's thisUpdate: the one its renewal rule gives (`ruled`), never before the CA's
 * previous CRL's. A CRL with a higher number and an older thisUpdate says it was issued before
 * the CRL it replaces; the rule's goes back when an entry leaves the list (a retired CA that
 * expired: a root's CRL then dates from the root's start again) or the period length changes.
 * Unchanged content (`digest`, crlDigestTimes) re-publishes the previous CRL's as it was;
 * changed content takes at least the previous one's, though not after `now` (a clock behind
 * the last update's), where the CRL would not be valid yet.
 */
export function crlThisUpdate(previous: CrlRecord | undefined, digest: string, ruled: Date, now: Date): Date {
    if (previous === undefined) return ruled;
    const before = Date.parse(previous.thisUpdate);
    if (previous.digest === digest) return new Date(before);
    return new Date(Math.max(ruled.getTime(), Math.min(before, now.getTime())));
}

/**
 * A CA's CRL at `now` and its record: times by its renewal rule (thisUpdate never before the
 * previous CRL's, crlThisUpdate), the number from the CA's previous record. Equal inputs give
 * equal bytes (RSA signatures are deterministic).
 */
export function signCrl(args: {
    caCertPem: string;
    caKeyPem: string;
    revoked: readonly RevokedEntry[];
    renewal: CrlRenewal;
    now: Date;
    periodDays: number;
    previous?: CrlRecord;
    /** The lowest number a CA's first CRL may take. */
    floor: number;
}): { pem: string; record: CrlRecord } {
    const cert = new crypto.X509Certificate(args.caCertPem);
    const rule = { ...args, issuer: { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) } };
    const ruled = crlTimes(rule);
    const digest = crlDigest(args.caCertPem, crlDigestTimes(rule), args.revoked);
    const number = crlNumber(args.previous, digest, args.now, args.floor);
    const times = { ...ruled, thisUpdate: crlThisUpdate(args.previous, digest, ruled.thisUpdate, args.now) };
    return {
        pem: signedCrl(args.caCertPem, args.caKeyPem, args.revoked, { ...times, number }, false),
        record: {
            number,
            digest,
            thisUpdate: times.thisUpdate.toISOString(),
            nextUpdate: times.nextUpdate.toISOString(),
            renewal: args.renewal,
            published: true,
        },
    };
}

/**
 * Refuses what buildCrl would encode wrongly rather than sign it: a number that is not a whole
 * number JavaScript holds exactly (2**60 came out as an empty INTEGER, -1 negative, 1.5 as 1),
 * a time outside 1950-9999 (asn1-x509 writes a year before 1950 as UTCTime, read back as 20xx),
 * times out of order, and serials that are not hex, longer than RFC 5280's 20 octets (4.1.2.2)
 * or listed twice, however written ("01" and "0001").
 */
function checkCrlInput(revoked: readonly RevokedEntry[], window: CrlWindow): void {
    if (!Number.isSafeInteger(window.number) || window.number < 0) {
        throw new Error(
            `buildCrl: window.number ${window.number} is not a CRL number; give a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`,
        );
    }
    const times: [string, Date][] = [
        ["window.thisUpdate", window.thisUpdate],
        ["window.nextUpdate", window.nextUpdate],
        ...revoked.map((r, i): [string, Date] => [`revoked[${i}].revokedAt`, r.revokedAt]),
    ];
    for (const [name, time] of times) {
        if (!inX509Years(time)) {
            throw new Error(
                `buildCrl: ${name} ${String(Number.isNaN(time.getTime()) ? time : time.toISOString())} is not a time this package's X.509 dates carry; give one from 1950 to 9999`,
            );
        }
    }
    if (window.thisUpdate >= window.nextUpdate) {
        throw new Error(
            `buildCrl: window.thisUpdate ${window.thisUpdate.toISOString()} is not before window.nextUpdate ${window.nextUpdate.toISOString()}; a CRL is valid from one to the other: give a nextUpdate after the thisUpdate`,
        );
    }
    const serials = new Map<bigint, number>();
    revoked.forEach((r, i) => {
        const name = `revoked[${i}].serialHex`;
        if (!/^[0-9A-Fa-f]+$/.test(r.serialHex)) {
            throw new Error(
                `buildCrl: ${name} "${r.serialHex}" is not a serial number in hex; give it as \`openssl x509 -serial\` prints it`,
            );
        }
        const octets = serialNumber(r.serialHex).byteLength;
        if (octets > 20) {
            throw new Error(
                `buildCrl: ${name} ${r.serialHex} takes ${octets} octets, and a serial number takes at most 20 (RFC 5280 4.1.2.2); give the serial of a certificate`,
            );
        }
        const serial = BigInt(`0x${r.serialHex}`);
        const first = serials.get(serial);
        if (first !== undefined) {
            throw new Error(
                `buildCrl: ${name} ${r.serialHex} is the serial of revoked[${first}] (${revoked[first].serialHex}) again; list each revoked certificate once`,
            );
        }
        serials.set(serial, i);
    });
}

/**
 * A DER CRL signed by the CA, revoked entries sorted by serial so equal inputs give equal bytes.
 * `signedOnce`: the CRL is signed once, possibly ahead for a later period, and handed over as it
 * is (the offline ceremony's series), so a random ECDSA signature is fine there, and so is a
 * thisUpdate after `now`. Otherwise the CRL is signed for `now` (default: the machine's clock) and
 * a thisUpdate after it is refused: every node would refuse the CRL as not yet valid until then,
 * and with it every peer whose chain has the CA. Input it would encode wrongly is refused too
 * (checkCrlInput). A thisUpdate less than CLOCK_SKEW_MS before the CRL is loaded is signed as
 * given, but a node whose clock lags refuses it, and so do the components (crlBundleProblem):
 * crlWindow gives a window that is never so.
 */
export function buildCrl(
    caCertPem: string,
    caKeyPem: string,
    revoked: readonly RevokedEntry[],
    window: CrlWindow,
    options: { signedOnce?: boolean; now?: Date } = {},
): string {
    const now = options.now ?? new Date();
    if (options.signedOnce !== true && window.thisUpdate > now) {
        throw new Error(
            `buildCrl: window.thisUpdate ${window.thisUpdate.toISOString()} is after the time the CRL is signed for (${now.toISOString()}): ` +
                `Envoy would refuse it as not yet valid until then, and with it every peer whose chain has its CA; ` +
                `give a thisUpdate at the latest ${now.toISOString()} (crlWindow gives one), or options.signedOnce for a CRL signed ahead for a later period`,
        );
    }
    return signedCrl(caCertPem, caKeyPem, revoked, window, options.signedOnce === true);
}

/**
 * buildCrl's CRL, whatever its thisUpdate: signCrl's never passes `now` (crlTimes,
 * crlThisUpdate) but when it re-publishes the previous CRL as it was on a clock that went back.
 */
function signedCrl(
    caCertPem: string,
    caKeyPem: string,
    revoked: readonly RevokedEntry[],
    window: CrlWindow,
    signedOnce: boolean,
): string {
    checkCrlInput(revoked, window);
    const ca = parseCaCertificate(caCertPem);
    const key = crypto.createPrivateKey(caKeyPem);
    if (key.asymmetricKeyType !== "rsa" && !signedOnce) {
        throw new Error(
            "CRLs are signed only with RSA CA keys here: ECDSA signatures are random, so the CRL would change on every run",
        );
    }
    const entries = [...revoked]
        .map((r) => ({
            ...r,
            serialBytes: Buffer.from(r.serialHex.length % 2 ? `0${r.serialHex}` : r.serialHex, "hex"),
        }))
        .sort((a, b) => Buffer.compare(a.serialBytes, b.serialBytes))
        .map((r) => {
            const reason = Object.hasOwn(CRL_REASONS, r.reason) ? CRL_REASONS[r.reason] : undefined;
            if (reason === undefined) throw new Error(`unknown revocation reason "${r.reason}"`);
            return new RevokedCertificate({
                userCertificate: serialNumber(r.serialHex),
                revocationDate: new Time(r.revokedAt),
                // RFC 5280 5.3.1: no reasonCode rather than unspecified (0), which means the same.
                crlEntryExtensions:
                    reason === CRL_REASONS.unspecified
                        ? undefined
                        : [extension(id_ce_cRLReasons, false, new CRLReason(reason))],
            });
        });
    const { algorithm, hash } = signatureAlgorithm(key);
    const tbsCertList = new TBSCertList({
        version: Version.v2,
        signature: algorithm,
        issuer: ca.tbsCertificate.subject,
        thisUpdate: new Time(window.thisUpdate),
        nextUpdate: new Time(window.nextUpdate),
        revokedCertificates: entries.length > 0 ? entries : undefined,
        crlExtensions: [
            ...authorityKeyIdExtensions(subjectKeyIdOf(ca)),
            extension(id_ce_cRLNumber, false, new CRLNumber(window.number)),
        ],
    });
    const crl = new CertificateList({
        tbsCertList,
        signatureAlgorithm: algorithm,
        signature: sign(tbsCertList, key, hash),
    });
    return pemEncode(toDer(crl), "X509 CRL");
}

export interface CrlInfo {
    /** DER of the issuer's name. */
    issuerName: Buffer;
    /** The issuer's key identifier (authorityKeyIdentifier, hex), when the CRL names it. */
    authorityKeyId: string | undefined;
    issuerCommonName: string | undefined;
    /** The issuer's name as a certificate's subject is shown: its attributes in order, RFC 4514 escapes. */
    issuer: string;
    thisUpdate: Date;
    nextUpdate: Date;
    /**
     * The CRL number, when the CRL has one, as a number: exact up to 2**53 - 1 (a series numbered
     * past it is refused, pickSeriesCrl); numberText holds it exact.
     */
    number: number | undefined;
    /** The CRL number in decimal, exact: RFC 5280 allows 20 octets, past what a number holds. */
    numberText: string | undefined;
    /** Serial numbers as upper-case hex, as `openssl x509 -serial` prints them. */
    revokedSerials: string[];
}

function authorityKeyIdOf(crl: X509Crl): string | undefined {
    const extension = crl.getExtension(id_ce_authorityKeyIdentifier);
    if (extension === null) return undefined;
    const keyId = AsnConvert.parse(extension.value, AuthorityKeyIdentifier).keyIdentifier;
    return keyId === undefined ? undefined : Buffer.from(keyId.buffer).toString("hex");
}

/** The CRL number (RFC 5280 5.2.3), exact. */
function numberOf(crl: X509Crl): bigint | undefined {
    const extension = crl.getExtension(id_ce_cRLNumber);
    if (extension === null) return undefined;
    // Typed a number, but asn1-schema gives an INTEGER of four octets or more as its exact decimal
    // text: compared as text, CRL 10000000 would come before CRL 9000000.
    const value: unknown = AsnConvert.parse(extension.value, CRLNumber).value;
    return BigInt(value as number | string);
}

/**
 * A CRL read from DER with asn1js's limits for its size: with its default count of nodes, a CRL of
 * some 1,400 revocations with reasons (as buildCrl writes them) would not parse.
 */
const x509Crl = (der: Buffer): X509Crl =>
    new X509Crl(AsnConvert.parse(der, CertificateList, { berOptions: berOptions(der) }));

/** What `expiry` and the tests need from a CRL. */
export function parseCrl(pem: string): CrlInfo {
    return crlInfo(x509Crl(pemDecode(pem, "X509 CRL")));
}

/**
 * The CRL that DER bytes hold, or undefined when they hold something else (a certificate, a key):
 * DER has no label that says what it is. A CRL that cannot be used (no nextUpdate) still throws.
 */
export function crlInDer(der: Buffer): CrlInfo | undefined {
    let crl: X509Crl;
    try {
        crl = x509Crl(der);
    } catch {
        return undefined;
    }
    return crlInfo(crl);
}

function crlInfo(crl: X509Crl): CrlInfo {
    if (crl.nextUpdate === undefined) throw new Error("the CRL has no nextUpdate: it never says when it goes stale");
    const number = numberOf(crl);
    return {
        issuerName: Buffer.from(crl.issuerName.toArrayBuffer()),
        authorityKeyId: authorityKeyIdOf(crl),
        issuerCommonName: crl.issuerName.getField("CN")[0],
        issuer: crl.issuerName.toString(),
        thisUpdate: crl.thisUpdate,
        nextUpdate: crl.nextUpdate,
        number: number === undefined ? undefined : Number(number),
        numberText: number?.toString(),
        revokedSerials: crl.entries.map((entry) => entry.serialNumber.replace(/^00/, "").toUpperCase()),
    };
}
