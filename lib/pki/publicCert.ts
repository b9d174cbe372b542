/**
 * Checks of a certificate a public CA signed for a customer-facing host, before it goes into a
 * gateway Secret: it certifies the key this stack made, covers the host, chains to a publicly
 * trusted root (not to this PKI), is valid now, and is no longer-lived than public CAs may issue
 * (CA/Browser Forum ballot SC-081v3).
 */
import * as crypto from "crypto";
import * as tls from "tls";
import { CLOCK_SKEW_MS } from "./crl";
import {
    isRootCertPem,
    nameConstraintProblem,
    nameList,
    pathLengthProblem,
    pathOf,
    purposeProblem,
    SignedName,
    unhandledCriticalExtensionOf,
    unhandledExtensionProblem,
    LEAF_PURPOSES,
} from "./issuerChecks";
import { pemBlocks, pemDecode } from "./pem";
import { spkiPin } from "./pins";
import { caFlags } from "./trustBundle";
import {
    brokenSignatureHashOf,
    expiredAt,
    isRootCopy,
    isSelfSigned,
    keyVerifies,
    notYetValidAt,
    readableCertificates,
    signedBy,
    subjectOf,
} from "./x509";

const DAY_SECONDS = 86_400;

/** A lifetime in seconds as a refusal shows it: "398 days, 10 hours and 1 second". */
function showDuration(seconds: number): string {
    const parts = (
        [
            ["day", Math.floor(seconds / DAY_SECONDS)],
            ["hour", Math.floor((seconds % DAY_SECONDS) / 3600)],
            ["minute", Math.floor((seconds % 3600) / 60)],
            ["second", seconds % 60],
        ] as const
    )
        .filter(([, count]) => count > 0)
        .map(([unit, count]) => `${count} ${unit}${count === 1 ? "" : "s"}`);
    return nameList(parts);
}

/**
 * The longest lifetime a public CA may give a TLS server certificate issued on `notBefore`
 * (CA/Browser Forum Baseline Requirements, ballot SC-081v3): 398 days, 200 from 2026-03-15,
 * 100 from 2027-03-15, 47 from 2029-03-15.
 */
export function publicMaxLifetimeDays(notBefore: Date): number {
    const from = (iso: string): boolean => notBefore.getTime() >= Date.parse(iso);
    if (from("2029-03-15T00:00:00Z")) return 47;
    if (from("2027-03-15T00:00:00Z")) return 100;
    if (from("2026-03-15T00:00:00Z")) return 200;
    return 398;
}

/**
 * The least time, in days, between proposing a customer-facing host's new CSR and its certificate's
 * end: two reviewed updates (the new key and CSR; the signed certificate in config) and the public
 * CA's own validation, which for OV or EV certificates takes days.
 */
export const PUBLIC_CA_LEAD_DAYS = 14;

/**
 * The renewal window of a publicly signed certificate, in days before its end: the last third of its
 * own lifetime, as for this stack's certificates, but never less than PUBLIC_CA_LEAD_DAYS (nor more
 * than the lifetime).
 */
export const publicRenewalWindowDays = (lifetimeDays: number): number =>
    Math.min(lifetimeDays, Math.max(Math.floor(lifetimeDays / 3), PUBLIC_CA_LEAD_DAYS));

/** Whether a DNS SAN covers the host: exactly, or as a wildcard for one left-most label. */
export function dnsNameCovers(san: string, host: string): boolean {
    const a = san.toLowerCase();
    const b = host.toLowerCase();
    if (a === b) return true;
    if (!a.startsWith("*.")) return false;
    const dot = b.indexOf(".");
    return dot > 0 && b.slice(dot + 1) === a.slice(2);
}

/** The DNS names of a certificate's subjectAltName. */
const dnsNamesOf = (cert: crypto.X509Certificate): string[] =>
    (cert.subjectAltName ?? "")
        .split(", ")
        .filter((s) => s.startsWith("DNS:"))
        .map((s) => s.slice(4));

/** What publicChainOf says of a text with no CERTIFICATE block. */
export const NO_CERTIFICATE = "holds no certificate";

/**
 * The certificates of a public CA's chain (the leaf, then its intermediates) as pemBlocks reads
 * them, as the stack and CustomerFacingTls read it alike; or why not, as the end of a sentence
 * that starts with its name: NO_CERTIFICATE, or which block is no certificate, by its place (Node's
 * reader names neither, and a refusal of the whole text sends one looking at the good leaf).
 */
export function publicChainOf(pem: string): crypto.X509Certificate[] | string {
    const blocks = pemBlocks(pem, "CERTIFICATE");
    if (blocks.length === 0) return NO_CERTIFICATE;
    const chain: crypto.X509Certificate[] = [];
    for (const [i, block] of blocks.entries()) {
        try {
            chain.push(new crypto.X509Certificate(block));
        } catch {
            // pemDecode says which line is damaged, never quoting it (the block may be a key).
            let why = "";
            try {
                pemDecode(block, "CERTIFICATE");
            } catch (error) {
                why = ` (${(error as Error).message})`;
            }
            return `holds, as certificate ${i + 1} of ${blocks.length}, a block that is no certificate${why}`;
        }
    }
    return chain;
}

/**
 * The host's certificate pasted after its intermediates (`cat bundle.pem cert.pem`): certificate 1
 * is a CA or not for `host` while a later one, no CA, covers it. Every other check reads
 * certificate 1 as the host's (its key, names, lifetime), so this is said alone, first, as the end
 * of a sentence that starts with the key; undefined when certificate 1 is the host's or none is.
 */
export function outOfOrderProblem(chain: readonly crypto.X509Certificate[], host: string): string | undefined {
    const isHosts = (cert: crypto.X509Certificate): boolean =>
        !caFlags(cert).ca && dnsNamesOf(cert).some((san) => dnsNameCovers(san, host));
    const [first] = chain;
    if (first === undefined || isHosts(first)) return undefined;
    const at = chain.findIndex(isHosts);
    if (at < 0) return undefined;
    return (
        `the certificates are out of order: certificate ${at + 1} of ${chain.length} (${subjectOf(chain[at])}) is ${host}'s, ` +
        `and certificate 1 (${subjectOf(first)}) ${caFlags(first).ca ? "is a CA" : `is not for ${host}`}; put the host's certificate first, then its intermediates`
    );
}

/** The DNS name of a certificate (the first of a PEM chain) that covers `host`; undefined when none does. */
export function nameCovering(pem: string, host: string): string | undefined {
    const [leaf] = pemBlocks(pem, "CERTIFICATE");
    if (leaf === undefined) return undefined;
    return dnsNamesOf(new crypto.X509Certificate(leaf)).find((san) => dnsNameCovers(san, host));
}

/** The least RSA modulus a public CA may certify or sign with (CA/Browser Forum Baseline Requirements 6.1.5). */
const MIN_RSA_BITS = 2048;

/** An RSA key's size when it is below MIN_RSA_BITS, else undefined. */
function shortRsaBits(cert: crypto.X509Certificate): number | undefined {
    const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
    return cert.publicKey.asymmetricKeyType === "rsa" && bits !== undefined && bits < MIN_RSA_BITS ? bits : undefined;
}

/**
 * Why browsers refuse a certificate of the chain the public CA signed (`where` names it) for its
 * signature or key, with the fix for each, or undefined: a hash collisions have broken (SHA-1,
 * MD5; issuerChecks' signatureProblem rule, which browsers enforce outright) or an RSA key below
 * MIN_RSA_BITS.
 */
function signatureOrKeyProblem(
    where: string,
    cert: crypto.X509Certificate,
    fix: { signature: string; key: string },
): string | undefined {
    const hash = brokenSignatureHashOf(cert);
    if (hash !== undefined) {
        return `${where} is signed with ${hash}, whose collisions let a forged certificate carry the same signature, and browsers refuse it; ${fix.signature}`;
    }
    const bits = shortRsaBits(cert);
    if (bits !== undefined) {
        return `${where} has an RSA key of ${bits} bits, below the ${MIN_RSA_BITS} public CAs must use (CA/Browser Forum Baseline Requirements 6.1.5), and browsers refuse it; ${fix.key}`;
    }
    return undefined;
}

/** Node's bundled Mozilla store, parsed once: every plan of a stack with customer-facing certificates checks them against it. */
let mozillaRoots: crypto.X509Certificate[] | undefined;

/** The publicly trusted roots: Node's bundled Mozilla store (tls.rootCertificates), parsed once. */
export function mozillaRootCertificates(): readonly crypto.X509Certificate[] {
    mozillaRoots ??= tls.rootCertificates.map((pem) => new crypto.X509Certificate(pem));
    return mozillaRoots;
}

/** The roots a customer-facing chain may end at: Node's bundled Mozilla store and the configured extra roots. */
function publicRoots(extra: string | undefined): crypto.X509Certificate[] {
    return [
        ...mozillaRootCertificates(),
        ...(extra === undefined ? [] : pemBlocks(extra, "CERTIFICATE").map((pem) => new crypto.X509Certificate(pem))),
    ];
}

/**
 * Why the extra public roots (pki:frontEnd.publicRoots, CustomerFacingTls's publicRootsPem) cannot
 * be used at `now`, as the end of a sentence that starts with their name, or undefined: one of them
 * has expired, or is not valid yet beyond CLOCK_SKEW_MS (as the issuer checks date a CA: its
 * signer's clock may run ahead). Unlike other trust bundles (trustBundleProblem), not only when
 * every one has: browsers and OpenSSL refuse a chain that ends at such a root ("certificate has
 * expired", "certificate is not yet valid"), which the check against these roots would take, and
 * expiry help and the README promise the refusal. The stack and CustomerFacingTls both refuse so.
 */
export function publicRootDateProblem(pem: string, now: Date): string | undefined {
    const roots = pemBlocks(pem, "CERTIFICATE").map((block) => new crypto.X509Certificate(block));
    const expired = roots.find((root) => expiredAt(root, now));
    if (expired !== undefined) {
        return `holds ${subjectOf(expired)}, which expired on ${new Date(expired.validTo).toISOString()}: browsers refuse every chain that ends at it ("certificate has expired"); remove it, or give the root that replaced it`;
    }
    const later = new Date(now.getTime() + CLOCK_SKEW_MS);
    const early = roots.find((root) => notYetValidAt(root, later));
    return early === undefined
        ? undefined
        : `holds ${subjectOf(early)}, which is not valid before ${new Date(early.validFrom).toISOString()}: browsers and OpenSSL refuse every chain that ends at it until then ("certificate is not yet valid"); remove it and add it back once it is valid by the clock the run checks with (this machine's, or the --now given)`;
}

export interface PublicCertificateCheck {
    /** The config key of the certificate, for messages. */
    readonly key: string;
    readonly host: string;
    /** The leaf, then its chain (PEM). */
    readonly pem: string;
    readonly now: Date;
    /** Extra roots besides the Mozilla store (pki:frontEnd.publicRoots). */
    readonly extraRoots?: string;
    /** The pin of the key this stack made for it, when known: the certificate must certify it. */
    readonly expectedSpki?: string;
    /** This PKI's own CAs known when it is checked: the chain must not reach one of them (ownCaChainProblem). */
    readonly ownCas?: readonly OwnCa[];
}

/**
 * A CA of this PKI: how a refusal names it ("gateway server root CA server-root"), and its
 * certificate (PEM), or only its key's pin (`verifyCertificateSpki` form) for a root a staged
 * rotation retired, of which the deployed record keeps the pin alone (rootKeysAfter).
 */
export type OwnCa = { readonly name: string } & ({ readonly certPem: string } | { readonly spki: string });

/** An own CA read once: its certificate when known (undefined for a retired root's pin), and its key's pin. */
interface ReadOwnCa {
    readonly ca: OwnCa;
    readonly caCert: crypto.X509Certificate | undefined;
    readonly pin: string;
}

const readOwnCas = (own: readonly OwnCa[]): ReadOwnCa[] =>
    own.map((ca) => {
        if ("spki" in ca) return { ca, caCert: undefined, pin: ca.spki };
        const caCert = new crypto.X509Certificate(ca.certPem);
        return { ca, caCert, pin: spkiPin(caCert.publicKey) };
    });

/** The own CA whose key `cert` holds. */
const ownCaOfKey = (cert: crypto.X509Certificate, own: readonly ReadOwnCa[]): ReadOwnCa | undefined => {
    const pin = spkiPin(cert.publicKey);
    return own.find((ca) => ca.pin === pin);
};

/** How a refusal shows the own CA whose key `given` holds: a retired root by the subject `given` gives it. */
const ownCaShown = (ca: OwnCa, caCert: crypto.X509Certificate | undefined, given: crypto.X509Certificate): string =>
    caCert === undefined
        ? `${ca.name} (${subjectOf(given)})`
        : `${ca.name} (${subjectOf(caCert)})${given.fingerprint256 === caCert.fingerprint256 ? "" : ", in another certificate of its key"}`;

/**
 * A customer-facing certificate (`pem`, the leaf then its chain) that reaches one of this PKI's CAs
 * (`own`): a certificate of the chain holds the key of one (the CA itself, or a re-issued or
 * cross-signed certificate of its key), or is signed with it. Its key is in the Pulumi state or the
 * offline ceremony's hands, and a leaf under the gateway-server CA is a server certificate the
 * backend gateway's callers trust: on the internet-facing gateway, its key would pose as the backend.
 * Compared by key, so that no re-issued certificate of the CA passes. Undefined when none is.
 */
export function ownCaChainProblem(key: string, host: string, pem: string, own: readonly OwnCa[]): string | undefined {
    if (own.length === 0) return undefined;
    const cas = readOwnCas(own);
    const chain = readableCertificates(pem);
    const fix = `a customer-facing host needs a certificate from a public CA, whose chain ends at a publicly trusted root, not at this PKI: have a public CA sign the CSR for ${host}`;
    for (const [i, cert] of chain.entries()) {
        const which = i === 0 ? "the certificate" : `${subjectOf(cert)} in its chain`;
        const holder = ownCaOfKey(cert, cas);
        if (holder !== undefined) {
            return `${key}: ${which} is this stack's ${ownCaShown(holder.ca, holder.caCert, cert)}; ${fix}`;
        }
        // A retired root's key is known by its pin alone: a certificate of it is refused above, one it signed is
        // not (its chain ends at a root the anchor check finds in no public list, or at that retired root, refused).
        for (const { ca, caCert } of cas) {
            if (caCert !== undefined && keyVerifies(cert, caCert.publicKey)) {
                return `${key}: ${which} is signed by this stack's ${ca.name} (${subjectOf(caCert)}); ${fix}`;
            }
        }
    }
    return undefined;
}

/**
 * `pki:frontEnd.publicRoots` (or CustomerFacingTls's publicRootsPem, `key`) holding one of this
 * PKI's CAs, by key: a re-issued root of the same key is the root. Every chain under it would pass
 * for a public CA's. One refusal per such root.
 */
export function ownCaPublicRootsProblems(key: string, rootsPem: string, own: readonly OwnCa[]): string[] {
    const cas = readOwnCas(own);
    return pemBlocks(rootsPem, "CERTIFICATE").flatMap((block) => {
        const cert = new crypto.X509Certificate(block);
        const holder = ownCaOfKey(cert, cas);
        return holder === undefined
            ? []
            : [
                  `${key} holds this stack's ${ownCaShown(holder.ca, holder.caCert, cert)}: a customer-facing chain must end at a publicly trusted root, not at this PKI, whose keys the stack and its ceremony hold. ` +
                      "Remove it, and give the root of the public CA that signs the customer-facing certificates",
              ];
    });
}

/** Every problem with the certificate, each naming the key and the fix; [] when it may be used. */
export function publicCertificateProblems(check: PublicCertificateCheck): string[] {
    const { key, host, now } = check;
    const chain = pemBlocks(check.pem, "CERTIFICATE").map((pem) => new crypto.X509Certificate(pem));
    if (chain.length === 0) return [`${key} holds no PEM certificate; paste the public CA's certificate and its chain`];
    const [leaf] = chain;
    const problems: string[] = [];
    if (check.expectedSpki !== undefined && spkiPin(leaf.publicKey) !== check.expectedSpki) {
        problems.push(
            `${key} certifies another key than the one this stack made for ${host}: have the public CA sign this stack's CSR for ${host}`,
        );
    }
    const ownCa = ownCaChainProblem(key, host, check.pem, check.ownCas ?? []);
    if (ownCa !== undefined) return [...problems, ownCa];
    return [
        ...problems,
        ...servedChainProblems({
            key,
            host,
            chain,
            now,
            refuseExpiredLeaf: true,
            anchor: () => publicRootsAnchor(key, chain, check.extraRoots),
        }),
    ];
}

/**
 * Where browsers holding Node's Mozilla store and `extraRoots` (pki:frontEnd.publicRoots) end the
 * chain (anchorOf), or the stack's refusal of a chain that reaches none of them: the stack's anchor,
 * and CustomerFacingTls's when it is given the same roots, so that both give one verdict.
 */
export function publicRootsAnchor(
    key: string,
    chain: readonly crypto.X509Certificate[],
    extraRoots: string | undefined,
): Anchor | string {
    return (
        anchorOf(chain, publicRoots(extraRoots)) ??
        `${key}: the chain is incomplete: ${chain.length === 1 ? "the leaf's issuer is missing" : `${subjectOf(chain[chain.length - 1])} is not a publicly trusted root nor issued by one`}; add the intermediate certificates after the leaf`
    );
}

/**
 * Where browsers end a chain: the CAs above the leaf they check, up to the trusted `root` (their
 * own copy; undefined when the chain's root is unknown, and every CA it serves is checked).
 */
interface Anchor {
    readonly issuers: readonly crypto.X509Certificate[];
    readonly root: crypto.X509Certificate | undefined;
}

export interface ServedChainCheck {
    /** How a refusal names the certificate: its config key, or the component's words for it. */
    readonly key: string;
    readonly host: string;
    /** The leaf, then its chain. */
    readonly chain: readonly crypto.X509Certificate[];
    readonly now: Date;
    /**
     * Whether a leaf past its end is refused: by the stack, before anything is created; not by
     * CustomerFacingTls, which warns, as refusing it would block every other update.
     */
    readonly refuseExpiredLeaf: boolean;
    /**
     * Where browsers end the chain, given its last certificate, or why they cannot use it: the
     * stack's check against the trusted roots (publicRootsAnchor). Default: unknownRootsAnchor's,
     * as without pki:frontEnd.publicRoots nothing tells whether the chain's root is trusted.
     */
    readonly anchor?: (top: crypto.X509Certificate) => Anchor | string;
}

/**
 * What browsers refuse in a public CA's leaf and the chain it serves, up to where they end it
 * (`anchor`), each naming the key and the fix; [] when nothing is. The stack's checks and
 * CustomerFacingTls's both go through here, so the component refuses what the stack refuses of the
 * chain itself; whether it ends at a trusted root only an `anchor` with the roots checks.
 */
export function servedChainProblems(check: ServedChainCheck): string[] {
    const { key, host, chain, now } = check;
    const [leaf] = chain;
    const problems: string[] = [];
    const sans = dnsNamesOf(leaf);
    if (!sans.some((san) => dnsNameCovers(san, host))) {
        problems.push(
            `${key}: the certificate's DNS names (${sans.join(", ") || "none"}) do not cover ${host}; have it issued for ${host}`,
        );
    }
    if (leaf.keyUsage !== undefined && !leaf.keyUsage.includes(LEAF_PURPOSES.serverAuth)) {
        problems.push(
            `${key}: the certificate does not allow server authentication (EKU serverAuth); it cannot serve ${host}`,
        );
    }
    const leafFlags = caFlags(leaf);
    if (!leafFlags.digitalSignature) {
        problems.push(
            `${key}: the certificate's keyUsage lacks digitalSignature, with which a server signs the TLS handshake: browsers refuse it ("unsupported certificate purpose"); ask the public CA for a new certificate with digitalSignature`,
        );
    }
    if (leafFlags.ca) {
        problems.push(
            `${key}: the certificate is a CA certificate (CA:TRUE), which a public CA may not issue for a server (CA/Browser Forum Baseline Requirements 7.1.2.7.8); ask the public CA for a new certificate, with CA:FALSE`,
        );
    }
    const leafSignature = signatureOrKeyProblem(`${key}: the certificate`, leaf, {
        signature: "ask the public CA for a new certificate, signed with SHA-256 or better",
        // The key this stack makes is never so short: this certifies another.
        key: `have the public CA sign this stack's CSR for ${host}`,
    });
    if (leafSignature !== undefined) problems.push(leafSignature);
    // The CAs' table: BoringSSL and OpenSSL refuse a leaf's unhandled critical extension as they do a CA's.
    const unhandled = unhandledCriticalExtensionOf(leaf, false, false);
    if (unhandled !== undefined) {
        const { oid, refusers } = unhandled;
        problems.push(
            `${key}: the certificate has the critical extension ${oid}, which ${nameList(refusers)} ${refusers.length === 1 ? "does" : "do"} not handle: browsers refuse it ("unhandled critical extension"); ask the public CA for a new certificate without that extension, or with it non-critical`,
        );
    }
    const notBefore = new Date(leaf.validFrom);
    const notAfter = new Date(leaf.validTo);
    if (notYetValidAt(leaf, now))
        problems.push(`${key}: the certificate is not valid before ${notBefore.toISOString()}`);
    if (check.refuseExpiredLeaf && expiredAt(leaf, now)) {
        problems.push(
            `${key}: the certificate expired on ${notAfter.toISOString()}; renew it (raise the host's epoch for a new CSR)`,
        );
    }
    // To the second, both ends included (Baseline Requirements 6.3.2): 90 days is notAfter 1 s short of notBefore + 90 days.
    const lifetimeSeconds = (notAfter.getTime() - notBefore.getTime()) / 1000 + 1;
    const maxDays = publicMaxLifetimeDays(notBefore);
    if (lifetimeSeconds > maxDays * DAY_SECONDS) {
        problems.push(
            `${key}: the certificate is valid ${showDuration(lifetimeSeconds)}; a public CA may issue at most ${maxDays} days from ${notBefore.toISOString().slice(0, 10)} (CA/Browser Forum SC-081v3), so browsers refuse it`,
        );
    }
    for (let i = 0; i + 1 < chain.length; i++) {
        if (!signedBy(chain[i], chain[i + 1])) {
            problems.push(
                `${key}: ${subjectOf(chain[i])} is not signed by the next certificate of the chain, ${subjectOf(chain[i + 1])}; give the chain in order`,
            );
            return problems;
        }
    }
    const top = chain[chain.length - 1];
    const anchor = check.anchor?.(top) ?? unknownRootsAnchor(chain);
    if (typeof anchor === "string") return [...problems, anchor];
    return [...problems, ...issuerProblems(key, leaf, anchor.issuers, anchor.root, now)];
}

/**
 * Where browsers holding `roots` end the chain: at the first certificate that is a copy of a trusted
 * root (isRootCopy: the root itself, or it cross-signed by an older root, as Sectigo's bundles end
 * in USERTrust signed by AAA Certificate Services) or is issued by one, with that root; undefined
 * when none is. The chain is served as given, the certificates after that one too: a browser that
 * lacks the newer root needs its cross-certificate to reach the older one, and one that holds it
 * stops at its own copy, so what follows is neither checked here nor used by it.
 */
function anchorOf(
    chain: readonly crypto.X509Certificate[],
    roots: readonly crypto.X509Certificate[],
): Anchor | undefined {
    for (const [index, cert] of chain.entries()) {
        const root =
            roots.find((candidate) => isRootCopy(cert, candidate)) ??
            roots.find((candidate) => signedBy(cert, candidate));
        if (root !== undefined) return { issuers: chain.slice(1, index + 1), root };
    }
    return undefined;
}

/**
 * Where browsers end a chain when the configured roots are not known (CustomerFacingTls without
 * publicRootsPem): as anchorOf ends it at a Mozilla root or at a self-signed root the chain serves;
 * else nowhere, and every certificate above the leaf is checked as an intermediate. Its last one is
 * not taken for a trusted root's copy: an ordinary intermediate would then go undated, and its
 * pathlen or extendedKeyUsage be held as a root's.
 */
function unknownRootsAnchor(chain: readonly crypto.X509Certificate[]): Anchor {
    return (
        anchorOf(chain, [...publicRoots(undefined), ...chain.slice(1).filter(isSelfSigned)]) ?? {
            issuers: chain.slice(1),
            root: undefined,
        }
    );
}

/** A certificate above the leaf, as a refusal of the chain names it (a PlaceOf). */
const placeInChain = (i: number, cert: crypto.X509Certificate, root: crypto.X509Certificate | undefined): string =>
    isRootCertPem(cert, root)
        ? `the root ${subjectOf(cert)}`
        : `${subjectOf(cert)}${i === 0 ? " (the leaf's issuer)" : " in the chain"}`;

/**
 * What browsers (BoringSSL, as Envoy's) and OpenSSL refuse in the CAs above the leaf (`issuers`, up
 * to the publicly trusted `root`): one expired, not valid yet, not a CA that may sign certificates,
 * whose pathlen the chain exceeds, whose extendedKeyUsage lacks serverAuth, whose nameConstraints
 * exclude a DNS name of the `leaf`, or with a critical extension they do not handle. The trusted
 * root is the browser's own copy: only what the chain serves is dated and held to CA:TRUE; with
 * no root known, every CA of `issuers` is.
 */
function issuerProblems(
    key: string,
    leaf: crypto.X509Certificate,
    issuers: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    now: Date,
): string[] {
    const path = pathOf(issuers, root);
    // As the issuer checks date a CA: not valid yet only beyond CLOCK_SKEW_MS, as its signer's clock may run ahead.
    const later = new Date(now.getTime() + CLOCK_SKEW_MS);
    for (const [i, cert] of path.entries()) {
        if (root !== undefined && i === path.length - 1) break; // the trusted root
        const where = `${key}: ${placeInChain(i, cert, root)}`;
        if (expiredAt(cert, now)) {
            return [
                `${where} expired on ${new Date(cert.validTo).toISOString()}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
            ];
        }
        if (notYetValidAt(cert, later)) {
            return [
                `${where} is not valid before ${new Date(cert.validFrom).toISOString()}: browsers refuse the certificate under it until then ("certificate is not yet valid"); ask the public CA for its current intermediate certificate`,
            ];
        }
        const { ca, certSign } = caFlags(cert);
        if (!ca || !certSign) {
            return [
                `${where} is not a CA certificate (${!ca ? "CA:FALSE" : "its keyUsage lacks keyCertSign"}): browsers refuse the certificate it signed ("invalid CA certificate"); ask the public CA for the intermediate certificate that signed this one`,
            ];
        }
        const current = "ask the public CA for its current intermediate certificate";
        const signature = signatureOrKeyProblem(where, cert, { signature: current, key: current });
        if (signature !== undefined) return [signature];
    }
    // Verifiers hold every DNS name of the leaf to the constraints, not only the host's.
    const names = dnsNamesOf(leaf).map((value): SignedName => ({
        type: "DNS",
        value,
        input: "the certificate's DNS name",
        fix: "ask the public CA for a certificate from a CA whose nameConstraints allow it",
    }));
    const problem =
        pathLengthProblem(issuers, root, false, false, placeInChain) ??
        purposeProblem(issuers, root, ["serverAuth"], false, placeInChain) ??
        nameConstraintProblem(issuers, root, names, placeInChain) ??
        unhandledExtensionProblem(issuers, root, false, placeInChain);
    return problem === undefined ? [] : [`${key}: ${problem}`];
}
