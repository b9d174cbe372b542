/**
 * Certificate revocation lists (RFC 5280 section 5), built by our code because @pulumi/tls has no
 * CRL resource: the CRL is an @peculiar/asn1-x509 CertificateList signed with Node's crypto (see
 * ./x509.ts), read back with @peculiar/x509. Deterministic for the same inputs: the time fields
 * come from a publication period (not the clock's second) and RSA PKCS#1 v1.5 signatures are
 * deterministic, so a preview of an unchanged stack within one period shows no change.
 */
import * as crypto from "crypto";
import {
    CertificateList,
    CRLNumber,
    CRLReason,
    id_ce_cRLNumber,
    id_ce_cRLReasons,
    RevokedCertificate,
    TBSCertList,
    Time,
    Version,
} from "@peculiar/asn1-x509";
import { X509Crl } from "@peculiar/x509";
import { pemDecode, pemEncode } from "./pem";
import {
    authorityKeyIdExtensions,
    extension,
    parseCaCertificate,
    serialNumber,
    sign,
    signatureAlgorithm,
    subjectKeyIdOf,
    toDer,
} from "./x509";

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
    /** Monotonic CRL number: the publication period's index. */
    readonly number: number;
}

const DAY_MS = 86_400_000;

/**
 * The publication window containing `now`: periods of `periodDays` counted from 1970-01-01 UTC.
 * nextUpdate is two periods after thisUpdate, so a CRL stays valid for a full period after the
 * one in which it was published: re-publish (pulumi up) at least once per period.
 */
export function crlWindow(now: Date, periodDays: number): CrlWindow {
    const period = periodDays * DAY_MS;
    const index = Math.floor(now.getTime() / period);
    return { thisUpdate: new Date(index * period), nextUpdate: new Date((index + 2) * period), number: index };
}

/**
 * A DER CRL signed by the CA, revoked entries sorted by serial so equal inputs give equal bytes.
 * `signedOnce`: the CRL is signed once and handed over as it is (the offline ceremony's series),
 * so a random ECDSA signature is fine there; a stack's CRL is re-signed on every run.
 */
export function buildCrl(
    caCertPem: string,
    caKeyPem: string,
    revoked: readonly RevokedEntry[],
    window: CrlWindow,
    options: { signedOnce?: boolean } = {},
): string {
    const ca = parseCaCertificate(caCertPem);
    const key = crypto.createPrivateKey(caKeyPem);
    if (key.asymmetricKeyType !== "rsa" && options.signedOnce !== true) {
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
            const reason = CRL_REASONS[r.reason];
            if (reason === undefined) throw new Error(`unknown revocation reason "${r.reason}"`);
            return new RevokedCertificate({
                userCertificate: serialNumber(r.serialHex),
                revocationDate: new Time(r.revokedAt),
                crlEntryExtensions: [extension(id_ce_cRLReasons, false, new CRLReason(reason))],
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
    issuerCommonName: string | undefined;
    thisUpdate: Date;
    nextUpdate: Date;
    /** Serial numbers as upper-case hex, as `openssl x509 -serial` prints them. */
    revokedSerials: string[];
}

/** What `expiry` and the tests need from a CRL. */
export function parseCrl(pem: string): CrlInfo {
    const crl = new X509Crl(pemDecode(pem, "X509 CRL"));
    if (crl.nextUpdate === undefined) throw new Error("the CRL has no nextUpdate: it never says when it goes stale");
    return {
        issuerName: Buffer.from(crl.issuerName.toArrayBuffer()),
        issuerCommonName: crl.issuerName.getField("CN")[0],
        thisUpdate: crl.thisUpdate,
        nextUpdate: crl.nextUpdate,
        revokedSerials: crl.entries.map((entry) => entry.serialNumber.replace(/^00/, "").toUpperCase()),
    };
}
