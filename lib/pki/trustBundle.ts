/**
 * What a trust bundle given from outside (APIC's truststore, a sidecar's `ca.crt`) may hold: CA
 * certificates and nothing else. Both consumers trust every certificate of the bundle as itself:
 * DataPower's validation credentials accept a peer whose certificate is in the list in each of
 * their validation modes (legacy, pkix and exact-match), and Envoy makes every certificate of
 * `ca.crt` an anchor (X509_V_FLAG_PARTIAL_CHAIN). A leaf there is therefore a pin on that one
 * certificate, which stops working at its renewal; this package's peers are renewed on its own
 * schedule, so a leaf in a bundle is always a mistake here, not a pin someone meant.
 */
import * as crypto from "crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
    BasicConstraints,
    Certificate,
    ExtendedKeyUsage,
    id_ce_basicConstraints,
    id_ce_extKeyUsage,
    id_ce_keyUsage,
    KeyUsage,
    KeyUsageFlags,
} from "@peculiar/asn1-x509";
import { CLOCK_SKEW_MS, crlValidAt, parseCrl } from "./crl";
import { crlSignedBy } from "./crlSeries";
import { byteOrderMarkProblem, pastedKeyProblem, pastedPrivateKey, pemBlocks, pemDecode, pemTextProblem } from "./pem";
import { expiredAt, isSelfSigned, isVersion1, subjectOf, VERSION_1_CA } from "./x509";

/**
 * A PEM header: a block whose END line is missing or mangled still counts, and so does one inside
 * a line, which pemBlocks (as OpenSSL) does not read: each is refused rather than dropped unseen.
 */
const PEM_HEADER = /-----BEGIN ([^-\r\n]*)-----/g;

/**
 * What the certificate says of itself as a CA: basicConstraints cA, whether its keyUsage allows
 * signing certificates (RFC 5280: no keyUsage, no limit), its pathLenConstraint and its
 * extendedKeyUsage OIDs (undefined: no limit); and, for a leaf, whether its keyUsage allows
 * digitalSignature. Node's X509Certificate.ca folds the first two into
 * one flag, and the fix differs.
 */
export function caFlags(cert: crypto.X509Certificate): {
    ca: boolean;
    certSign: boolean;
    /** Whether its keyUsage allows digitalSignature (none at all allows every use). */
    digitalSignature: boolean;
    pathLen?: number;
    extendedKeyUsage?: string[];
} {
    const extensions = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions ?? [];
    const value = <T>(id: string, type: new () => T): T | undefined => {
        const extension = extensions.find((e) => e.extnID === id);
        return extension === undefined ? undefined : AsnConvert.parse(extension.extnValue, type);
    };
    const keyUsage = value(id_ce_keyUsage, KeyUsage);
    const constraints = value(id_ce_basicConstraints, BasicConstraints);
    const extendedKeyUsage = value(id_ce_extKeyUsage, ExtendedKeyUsage);
    return {
        ca: constraints?.cA === true,
        certSign: keyUsage === undefined || (keyUsage.toNumber() & KeyUsageFlags.keyCertSign) !== 0,
        digitalSignature: keyUsage === undefined || (keyUsage.toNumber() & KeyUsageFlags.digitalSignature) !== 0,
        ...(constraints?.cA === true && constraints.pathLenConstraint !== undefined
            ? { pathLen: constraints.pathLenConstraint }
            : {}),
        ...(extendedKeyUsage === undefined ? {} : { extendedKeyUsage: [...extendedKeyUsage] }),
    };
}

/**
 * Why `pem` cannot be a trust bundle at `now`, as the end of a sentence that starts with the
 * argument's name ("... holds CN=x, which is not a CA certificate ..."), or undefined. Never
 * quotes the text: a private key pasted by mistake must not reach a log.
 */
export function trustBundleProblem(pem: unknown, now: Date, options: { dataPower?: boolean } = {}): string | undefined {
    if (typeof pem !== "string") return pemTextProblem(pem, "CA certificates");
    const pasted = pastedPrivateKey(pem);
    if (pasted !== undefined) {
        return pastedKeyProblem(
            pasted,
            "a trust bundle is copied in clear to wherever it is used",
            "CA certificates only",
        );
    }
    const labels = [...pem.matchAll(PEM_HEADER)].map((m) => m[1]);
    const other = labels.find((label) => label !== "CERTIFICATE");
    if (other !== undefined) {
        return other.includes("PRIVATE KEY")
            ? pastedKeyProblem(
                  `a "${other}" PEM block`,
                  "a trust bundle is copied in clear to wherever it is used",
                  "CA certificates only",
              )
            : `holds a "${other}" PEM block; a trust bundle takes CA certificates only`;
    }
    const bom = byteOrderMarkProblem(pem);
    if (bom !== undefined) return bom;
    // As pemBlocks reads them, so that what is checked here is what the bundle's users are given.
    const blocks = pemBlocks(pem, "CERTIFICATE");
    if (blocks.length === 0) return "holds no PEM certificate; give the PEM certificate(s) of the CA(s) to trust";
    if (blocks.length !== labels.length)
        return "holds a CERTIFICATE block without its END line, or a BEGIN or END marker inside a line; give whole PEM certificates, each marker at the start of a line of its own";
    const expired: crypto.X509Certificate[] = [];
    for (const [i, block] of blocks.entries()) {
        let cert: crypto.X509Certificate;
        try {
            cert = new crypto.X509Certificate(block);
        } catch {
            // Node's reader refuses a damaged block without saying where: pemDecode says which line.
            let why = "is not an X.509 certificate";
            try {
                pemDecode(block, "CERTIFICATE");
            } catch (error) {
                why = `cannot be read (${(error as Error).message})`;
            }
            return `holds, as certificate ${i + 1}, a PEM block that ${why}; give the CA certificates in PEM`;
        }
        const { ca, certSign } = caFlags(cert);
        if (isVersion1(cert)) return `holds ${subjectOf(cert)}, ${VERSION_1_CA}`;
        if (!ca) {
            return (
                `holds ${subjectOf(cert)}, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, ` +
                `a pin that breaks when it is renewed; give the root CA that issued it instead`
            );
        }
        if (!certSign) {
            return `holds ${subjectOf(cert)}, a CA certificate whose keyUsage lacks keyCertSign, so verifiers accept nothing it signed; give the root CA that issued the peer's certificates`;
        }
        if (expiredAt(cert, now)) expired.push(cert);
    }
    // DataPower (an APIC truststore) takes a validation credential that holds an expired
    // certificate down at its next reboot or change, and every TLS profile that uses it (IBM
    // technote "One expired certificate brings down all certificates in the DataPower Validation
    // Credential"): there an expired CA is refused even beside a valid one.
    if (options.dataPower === true && expired.length > 0) {
        return (
            `holds ${subjectOf(expired[0])}, which expired on ${new Date(expired[0].validTo).toISOString()}: DataPower takes a truststore (validation credentials) ` +
            `that holds an expired certificate down at its next reboot or change, and every TLS profile that uses it; leave the expired CA out`
        );
    }
    // Envoy: an expired CA beside a valid one is left alone: a root rotation started after the old
    // root expired (an outage already) puts both in the bundle, and refusing it would block the way out.
    if (expired.length === blocks.length) {
        return `holds ${subjectOf(expired[0])}, which expired on ${new Date(expired[0].validTo).toISOString()}, so every certificate under it is refused; give the CA that replaced it`;
    }
    return undefined;
}

/**
 * Why `caCrt` cannot be an Envoy `ca.crt` beside a `ca.crl`, or undefined: it holds a certificate
 * that is no self-signed root. With a CRL Envoy makes every certificate of `ca.crt` a trust anchor,
 * stops the chain there and finds no CRL for it (envoyproxy/envoy#29197), so every peer is
 * refused. `names`: the bundle's and the CRLs' names, who would be refused, and what peers send.
 */
export function rootsWithCrlProblem(
    caCrt: string,
    names: { bundle: string; crl: string; refused: string; sender: string },
): string | undefined {
    for (const pem of pemBlocks(caCrt, "CERTIFICATE")) {
        const cert = new crypto.X509Certificate(pem);
        if (!isSelfSigned(cert)) {
            return (
                `${names.bundle} holds ${subjectOf(cert)}, which is not a self-signed root, ` +
                `and ${names.crl} is set: Envoy makes every certificate of ca.crt a trust anchor, stops the chain there and then finds no CRL for it, ` +
                `so ${names.refused} would be refused (envoyproxy/envoy#29197). Give only the root(s) in ${names.bundle}; ${names.sender}`
            );
        }
    }
    return undefined;
}

/** The certificates of a PEM bundle still valid at `now`, in order (for a DataPower truststore). */
export function unexpiredCertificates(pem: string, now: Date): string {
    return pemBlocks(pem, "CERTIFICATE")
        .filter((block) => !expiredAt(new crypto.X509Certificate(block), now))
        .join("");
}

/**
 * Why `crlPem` cannot be an Envoy `ca.crl` beside the roots of `caCrtPem` (a gateway's client
 * trust, a sidecar's trust in APIC) at `now`, as the end of a sentence that starts with the
 * argument's name, or undefined. Once `ca.crl` is set Envoy checks a CRL for every certificate of
 * the peer's chain (CRL_CHECK_ALL): a root of `ca.crt` without a CRL it signed, or a CA with no CRL
 * valid at `now` (all past their next update, or not valid yet), refuses every peer; so does, on
 * a node whose clock lags, a CA whose CRLs all became valid less than CLOCK_SKEW_MS ago, unless
 * the CA itself starts no earlier (`issuers`: CA certificates of the peers' chains the caller
 * has besides the roots, whose start counts as theirs do). `names`: the trust bundle's argument,
 * and who would be refused. `unlistedCaStart`: the start taken for a CA none of these certificates
 * is; Infinity for a check run before a CA of the chains is made, which holds its CRLs to the lag
 * rule only once its certificate is known (and checked again then). Never quotes the text.
 */
export function crlBundleProblem(
    crlPem: unknown,
    caCrtPem: string,
    now: Date,
    names: { bundle: string; refused: string },
    issuers: readonly string[] = [],
    unlistedCaStart = -Infinity,
): string | undefined {
    if (typeof crlPem !== "string") return pemTextProblem(crlPem, "CRLs");
    // A key's bare base64 too: Envoy skips text between blocks, and the key would sit in ca.crl unseen.
    const pasted = pastedPrivateKey(crlPem);
    if (pasted !== undefined) {
        return pastedKeyProblem(pasted, "ca.crl is copied in clear into every Secret that carries it", "CRLs only");
    }
    const labels = [...crlPem.matchAll(PEM_HEADER)].map((m) => m[1]);
    const other = labels.find((label) => label !== "X509 CRL");
    if (other !== undefined) {
        return other.includes("PRIVATE KEY")
            ? pastedKeyProblem(
                  `a "${other}" PEM block`,
                  "ca.crl is copied in clear into every Secret that carries it",
                  "CRLs only",
              )
            : `holds a "${other}" PEM block; ca.crl takes CRLs ("X509 CRL" blocks) only`;
    }
    const bom = byteOrderMarkProblem(crlPem);
    if (bom !== undefined) return bom;
    const blocks = pemBlocks(crlPem, "X509 CRL");
    if (blocks.length === 0) {
        return 'holds no PEM CRL; give the CRLs ("X509 CRL" blocks) of every CA of the peer\'s chains, or leave it unset for no revocation check';
    }
    if (blocks.length !== labels.length)
        return "holds an X509 CRL block without its END line, or a BEGIN or END marker inside a line; give whole PEM CRLs, each marker at the start of a line of its own";
    const roots = pemBlocks(caCrtPem, "CERTIFICATE");
    const known = [...roots, ...issuers];
    const crls: {
        ca: string;
        name: string;
        thisUpdate: Date;
        nextUpdate: Date;
        roots: string[];
        caStart: number;
    }[] = [];
    for (const [i, pem] of blocks.entries()) {
        try {
            const info = parseCrl(pem);
            const { thisUpdate, nextUpdate } = info;
            // The certificates the caller has of the CA that signed it (read in this try too, so a
            // CRL one reader refuses is named here rather than failing unnamed below).
            const signers = known.filter((cert) => crlSignedBy(pem, cert));
            const starts = signers.map((cert) => Date.parse(new crypto.X509Certificate(cert).validFrom));
            // The CA that signed it: its name, and its key when the CRL names it. BoringSSL takes a
            // CRL for a CA only if its authorityKeyIdentifier matches (crl_akid_check): a CA
            // re-keyed under the same name is another CA.
            crls.push({
                ca: `${info.issuerName.toString("hex")}/${info.authorityKeyId ?? ""}`,
                name:
                    info.issuerCommonName === undefined ? "a CA without a common name" : `CN=${info.issuerCommonName}`,
                thisUpdate,
                nextUpdate,
                // The roots of caCrtPem that signed it.
                roots: roots.filter((root) => signers.includes(root)),
                // When known, the CA's earliest start (a renewal keeps the key): a node whose
                // clock is before it refuses the CA, CRL or not.
                caStart: starts.length > 0 ? Math.min(...starts) : unlistedCaStart,
            });
        } catch (error) {
            return `holds a CRL that cannot be read (X509 CRL block ${i + 1}: ${(error as Error).message}); give the CRLs as their CAs signed them`;
        }
    }
    // Per CA, BoringSSL takes a CRL valid at the node's clock when there is one (get_crl_score
    // scores the time), else one that then fails the time check and refuses every peer under it.
    const uncovered = crls.find((crl) => !crls.some((c) => c.ca === crl.ca && crlValidAt(c, now)));
    if (uncovered !== undefined) {
        const ofCa = crls.filter((c) => c.ca === uncovered.ca);
        const early = ofCa.filter((c) => c.thisUpdate > now).sort((x, y) => +x.thisUpdate - +y.thisUpdate)[0];
        if (early !== undefined) {
            const from = early.thisUpdate.toISOString();
            return (
                `holds a CRL of ${uncovered.name} valid only from ${from} (it is ${now.toISOString()}) and no CRL of its CA valid now: Envoy checks a CRL's thisUpdate ` +
                `against the node's clock, so it would refuse ${names.refused} whose chain has that CA until then; ` +
                `give that CA's current CRL beside it, or deploy after ${from} (was the signing machine's clock ahead?)`
            );
        }
        const latest = ofCa.reduce((x, y) => (y.nextUpdate > x.nextUpdate ? y : x));
        // A CA the bundle does not hold (an intermediate, or a CA gone from every chain) may be
        // left out of ca.crl once no peer's chain has it; a root of the bundle needs its CRL.
        return (
            `holds a CRL of ${uncovered.name} past its next update (${latest.nextUpdate.toISOString()}) and no newer one of its CA: Envoy would refuse ${names.refused} whose chain has that CA; give its CRL re-signed for now` +
            (latest.roots.length > 0 ? "" : ", or take it out if no peer's chain has that CA any more")
        );
    }
    // A node whose clock lags by up to CLOCK_SKEW_MS takes, per CA, a CRL valid at its own clock:
    // a CRL dated after it refuses every peer under the CA, as above. Not so for a CA that starts
    // no earlier than its CRL (one made by this very update): the node refuses the CA itself then.
    const settled = (c: (typeof crls)[number]) =>
        crlValidAt(c, now) && c.thisUpdate.getTime() <= Math.max(now.getTime() - CLOCK_SKEW_MS, c.caStart);
    const unsettled = crls.find((crl) => !crls.some((c) => c.ca === crl.ca && settled(c)));
    if (unsettled !== undefined) {
        // The CRL of that CA valid now that becomes acceptable first.
        const recent = crls
            .filter((c) => c.ca === unsettled.ca && crlValidAt(c, now))
            .reduce((x, y) => (y.thisUpdate < x.thisUpdate ? y : x));
        const from = recent.thisUpdate.toISOString();
        const skew = `${CLOCK_SKEW_MS / 60_000} minutes`;
        return (
            `holds a CRL of ${recent.name} valid from ${from}, less than ${skew} before now (${now.toISOString()}), and no older CRL of its CA valid now: ` +
            `Envoy checks a CRL's thisUpdate against the node's clock with no allowance, so a node whose clock lags would refuse ${names.refused} ` +
            `whose chain has that CA; give that CA's previous CRL beside it, or deploy from ${new Date(recent.thisUpdate.getTime() + CLOCK_SKEW_MS).toISOString()}`
        );
    }
    for (const root of roots) {
        if (!crls.some((crl) => crl.roots.includes(root))) {
            return (
                `holds no CRL signed by ${subjectOf(new crypto.X509Certificate(root))} of ${names.bundle}: once ca.crl is set Envoy checks a CRL ` +
                `for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so ${names.refused} would be refused; add that root's CRL`
            );
        }
    }
    return undefined;
}
