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
import { normalSerial } from "../plan/caRotation";
import { CrlInfo, parseCrl } from "./crl";
import { SIGNATURE_HASHES } from "./x509";

/** A CRL of the series, with its PEM. */
export interface SeriesCrl extends CrlInfo {
    readonly pem: string;
}

/** Whether the CRL's signature verifies with the certificate's key and names it as issuer. */
export function crlSignedBy(crlPem: string, certPem: string): boolean {
    const crl = new x509.X509Crl(crlPem);
    const cert = new crypto.X509Certificate(certPem);
    if (crl.issuer !== new x509.X509Certificate(certPem).subject) return false;
    const asn = AsnConvert.parse(crl.rawData, CertificateList);
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
 * The CRL of a series to publish at `now`: signed by the root, valid at `now` (the latest such
 * period), listing every serial in `required`. A problem (for the key `key`) when there is none,
 * saying `why` the root's CRL is needed and the ceremony `command` that signs a series that fits.
 */
export function pickSeriesCrl(args: {
    key: string;
    series: readonly string[];
    rootCertPem: string;
    now: Date;
    required: readonly string[];
    why: string;
    command: string;
}): { crl: SeriesCrl } | { problem: string } {
    const { key, now } = args;
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
        parsed.push({ ...parseCrl(pem), pem });
    }
    const current = parsed
        .filter((c) => c.thisUpdate <= now && now < c.nextUpdate)
        .sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime())[0];
    const run = `on the offline machine run "${args.command}" and set ${key} to the crls.pem it writes`;
    if (current === undefined) {
        const last = parsed
            .map((c) => c.nextUpdate.toISOString())
            .sort()
            .at(-1);
        return {
            problem:
                parsed.length === 0
                    ? `${key} is needed: ${args.why}; ${run}`
                    : `${key} has no CRL valid at ${now.toISOString()} (the series ends ${last}), and ${args.why}; ${run}`,
        };
    }
    const listed = current.revokedSerials.map(normalSerial);
    const missing = args.required.filter((s) => !listed.includes(normalSerial(s)));
    if (missing.length > 0) {
        return {
            problem: `${key}: the CRL valid now does not revoke ${missing.join(", ")} (${args.why}); ${run}`,
        };
    }
    return { crl: current };
}
