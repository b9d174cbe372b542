/**
 * Certificate revocation lists (RFC 5280 section 5), built by our code because @pulumi/tls has no
 * CRL resource. Deterministic for the same inputs: the time fields come from a publication period
 * (not the clock's second) and RSA PKCS#1 v1.5 signatures are deterministic, so a preview of an
 * unchanged stack within one period shows no change.
 */
import * as crypto from "crypto";
import * as der from "../engine/der";
import { pemDecode, pemEncode } from "./pem";
import * as x509 from "../engine/x509";

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

/** A DER CRL signed by the CA, revoked entries sorted by serial so equal inputs give equal bytes. */
export function buildCrl(
    caCertPem: string,
    caKeyPem: string,
    revoked: readonly RevokedEntry[],
    window: CrlWindow,
): string {
    const ca = x509.parseCertificate(pemDecode(caCertPem, "CERTIFICATE"));
    const key = crypto.createPrivateKey(caKeyPem);
    if (x509.keyInfo(key).algorithm !== "RSA") {
        throw new Error(
            "CRLs are signed only with RSA CA keys here: ECDSA signatures are random, so the CRL would change on every run",
        );
    }
    const entries = [...revoked]
        .map((r) => ({ ...r, serial: Buffer.from(r.serialHex.length % 2 ? `0${r.serialHex}` : r.serialHex, "hex") }))
        .sort((a, b) => Buffer.compare(a.serial, b.serial))
        .map((r) => {
            const reason = CRL_REASONS[r.reason];
            if (reason === undefined) throw new Error(`unknown revocation reason "${r.reason}"`);
            const reasonExt = der.sequence(der.oid("2.5.29.21"), der.octetString(der.tlv(0x0a, Buffer.from([reason]))));
            return der.sequence(der.unsignedInteger(r.serial), der.time(r.revokedAt), der.sequence(reasonExt));
        });
    const extensions = [
        ...(ca.subjectKeyId
            ? [
                  der.sequence(
                      der.oid("2.5.29.35"),
                      der.octetString(der.sequence(der.implicitPrimitive(0, ca.subjectKeyId))),
                  ),
              ]
            : []),
        der.sequence(der.oid("2.5.29.20"), der.octetString(der.integer(window.number))),
    ];
    const tbs = der.sequence(
        der.integer(1),
        x509.signatureAlgorithmOf(key),
        ca.subjectName,
        der.time(window.thisUpdate),
        der.time(window.nextUpdate),
        ...(entries.length > 0 ? [der.sequence(...entries)] : []),
        der.explicit(0, der.sequence(...extensions)),
    );
    return pemEncode(x509.signed(tbs, key), "X509 CRL");
}

export interface CrlInfo {
    issuerName: Buffer;
    thisUpdate: Date;
    nextUpdate: Date;
    revokedSerials: string[];
}

function decodeTime(node: der.Node): Date {
    const text = node.content.toString("ascii");
    const full = node.tag === der.TAG.utcTime ? (Number(text.slice(0, 2)) >= 50 ? "19" : "20") + text : text;
    return new Date(
        Date.UTC(
            +full.slice(0, 4),
            +full.slice(4, 6) - 1,
            +full.slice(6, 8),
            +full.slice(8, 10),
            +full.slice(10, 12),
            +full.slice(12, 14),
        ),
    );
}

/** What `expiry` and the tests need from a CRL. */
export function parseCrl(pem: string): CrlInfo {
    const [tbs] = der.children(der.readNode(pemDecode(pem, "X509 CRL")));
    const [, , issuer, thisUpdate, nextUpdate, maybeRevoked] = der.children(tbs);
    const revokedSerials =
        maybeRevoked && maybeRevoked.tag === der.TAG.sequence
            ? der
                  .children(maybeRevoked)
                  .map((entry) => der.children(entry)[0].content.toString("hex").replace(/^00/, "").toUpperCase())
            : [];
    return {
        issuerName: issuer.raw,
        thisUpdate: decodeTime(thisUpdate),
        nextUpdate: decodeTime(nextUpdate),
        revokedSerials,
    };
}
