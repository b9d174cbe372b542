/**
 * The checks of an issuer's path (its CA certificate up to the root) that need its certificates
 * alone: signature algorithms, name encoding, path length, extended key usage, critical extensions
 * and name constraints, each against the verifiers of the chains it signs (Envoy's BoringSSL and
 * OpenSSL, Go for istiod). Each returns why the chains would not verify, or undefined.
 */
import * as crypto from "crypto";
import { showJson } from "../config/values";
import { CLOCK_SKEW_MS } from "./crl";
import { caFlags } from "./trustBundle";
import { nameConstraintsOf } from "./asn1";
import {
    brokenSignatureHashOf,
    criticalExtensionsOf,
    expiredAt,
    goSignatureRefusalOf,
    isRootCopy,
    isSelfSigned,
    issuerDerOf,
    issuerOf,
    isVersion1,
    notYetValidAt,
    subjectDerOf,
    subjectOf,
    TypedName,
} from "./x509";

/** A name a component puts in the certificates it signs, and the input it comes from, for a refusal. */
export interface SignedName extends TypedName {
    /** A SAN, or the subject (DirName), which Envoy's BoringSSL and OpenSSL hold against DirName subtrees. */
    readonly type: "DNS" | "URI" | "DirName";
    /** The input it comes from, as the refusal names it: `endpoints[0].host`, `identity`. */
    readonly input: string;
    /** The fix, when it is not another name for that input. */
    readonly fix?: string;
}

/** The extended key usages this package's leaves carry, by name and OID (RFC 5280 section 4.2.1.12). */
export const LEAF_PURPOSES = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;
export type LeafPurpose = keyof typeof LEAF_PURPOSES;
export const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";

/** Names of the extended key usages a CA may list, by OID, for a refusal; any other shows as its OID. */
const EKU_NAMES: Readonly<Record<string, string>> = Object.fromEntries(
    Object.entries({
        ...LEAF_PURPOSES,
        codeSigning: "1.3.6.1.5.5.7.3.3",
        emailProtection: "1.3.6.1.5.5.7.3.4",
        timeStamping: "1.3.6.1.5.5.7.3.8",
        OCSPSigning: "1.3.6.1.5.5.7.3.9",
        anyExtendedKeyUsage: ANY_EXTENDED_KEY_USAGE,
    }).map(([name, oid]) => [oid, name]),
);

/** Where a certificate of the issuer's path (pathOf) is, as a refusal names it. */
const placeOnPath = (i: number, cert: crypto.X509Certificate, root: crypto.X509Certificate | undefined): string =>
    i === 0
        ? `certPem (${subjectOf(cert)})`
        : isRootCertPem(cert, root)
          ? `rootCertPem (${subjectOf(cert)})`
          : `${subjectOf(cert)} in chainPem`;

/** Names a certificate of the issuer's path in a refusal, by its place on it: placeOnPath, or another input's words. */
export type PlaceOf = (i: number, cert: crypto.X509Certificate, root: crypto.X509Certificate | undefined) => string;

/** Whether a certificate of the path is rootCertPem: by its bytes, as pathOf may give chainPem's copy of it. */
export const isRootCertPem = (cert: crypto.X509Certificate, root: crypto.X509Certificate | undefined): boolean =>
    root !== undefined && cert.raw.equals(root.raw);

/**
 * The extensions each verifier of this package's chains handles when critical; any other critical
 * extension on a CA makes it refuse every certificate below ("unhandled critical extension").
 * BoringSSL (Envoy): X509_supported_extension in crypto/x509/v3_purp.cc. OpenSSL 3: the same
 * function in crypto/x509/v3_purp.c. Go (istiod, 1.22 and later): parseCertificate's extension
 * switch in crypto/x509/parser.go (AIA is refused there when critical, whatever the verifier).
 */
const KEY_USAGE = "2.5.29.15";
const SUBJECT_ALT_NAME = "2.5.29.17";
const BASIC_CONSTRAINTS = "2.5.29.19";
const NAME_CONSTRAINTS = "2.5.29.30";
const CRL_DISTRIBUTION_POINTS = "2.5.29.31";
const CERTIFICATE_POLICIES = "2.5.29.32";
const POLICY_MAPPINGS = "2.5.29.33";
const POLICY_CONSTRAINTS = "2.5.29.36";
const EXTENDED_KEY_USAGE = "2.5.29.37";
const INHIBIT_ANY_POLICY = "2.5.29.54";
const NETSCAPE_CERT_TYPE = "2.16.840.1.113730.1.1";
/** The extensions of RFC 5280's certificate profile that all three handle when critical. */
const HANDLED_BY_ALL = [
    KEY_USAGE,
    SUBJECT_ALT_NAME,
    BASIC_CONSTRAINTS,
    NAME_CONSTRAINTS,
    CERTIFICATE_POLICIES,
    POLICY_MAPPINGS,
    POLICY_CONSTRAINTS,
    EXTENDED_KEY_USAGE,
    INHIBIT_ANY_POLICY,
] as const;
/**
 * Each verifier's handled extensions, and whether it checks those of the trust anchor too:
 * BoringSSL's check_chain_extensions goes over the certificates the peer sends only. Go's
 * entry counts only where Go verifies the chains (`verifiedByGo`).
 */
const CRITICAL_EXTENSIONS_HANDLED: readonly {
    readonly verifier: string;
    readonly handled: readonly string[];
    readonly checksAnchor: boolean;
    readonly go?: true;
}[] = [
    { verifier: "Envoy's BoringSSL", handled: [...HANDLED_BY_ALL, NETSCAPE_CERT_TYPE], checksAnchor: false },
    {
        verifier: "OpenSSL",
        handled: [
            ...HANDLED_BY_ALL,
            NETSCAPE_CERT_TYPE,
            CRL_DISTRIBUTION_POINTS,
            "1.3.6.1.5.5.7.1.7", // RFC 3779 IP address blocks
            "1.3.6.1.5.5.7.1.8", // RFC 3779 AS identifiers
            "1.3.6.1.5.5.7.1.14", // proxy certificate information
        ],
        checksAnchor: true,
    },
    {
        verifier: "Go (istiod)",
        handled: [
            ...HANDLED_BY_ALL,
            "2.5.29.14", // subject key identifier
            CRL_DISTRIBUTION_POINTS,
            "2.5.29.35", // authority key identifier
        ],
        checksAnchor: true,
        go: true,
    },
];

/** The name types Go's crypto/x509 reads in nameConstraints (parseNameConstraintsExtension). */
const GO_CONSTRAINED_TYPES: readonly TypedName["type"][] = ["DNS", "IP", "email", "URI"];

/** Subtrees as refusals show them: "DNS:.bank.example, DirName:O=Bank". */
const showSubtrees = (subtrees: readonly TypedName[]): string =>
    subtrees.map((subtree) => (subtree.type === "other" ? "other" : `${subtree.type}:${subtree.value}`)).join(", ");

/**
 * Why a CA of the issuer's path (pathOf) has a critical extension a verifier of the chains below
 * it does not handle, or undefined: a verifier counts where it checks that certificate (BoringSSL
 * no trust anchor's, Go only when `verifiedByGo`). When
 * `verifiedByGo`, that includes a critical nameConstraints with subtrees of a type Go does not
 * read (a DirName): Go marks the extension unhandled, where BoringSSL and OpenSSL apply it.
 */
export function unhandledExtensionProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    verifiedByGo: boolean,
    place: PlaceOf = placeOnPath,
): string | undefined {
    const path = pathOf(chain, root);
    for (const [i, cert] of path.entries()) {
        const constraints = nameConstraintsOf(cert);
        const unread = [...(constraints?.permitted ?? []), ...(constraints?.excluded ?? [])].filter(
            (subtree) => !GO_CONSTRAINED_TYPES.includes(subtree.type),
        );
        if (verifiedByGo && unread.length > 0 && criticalExtensionsOf(cert).includes(NAME_CONSTRAINTS)) {
            return (
                `${place(i, cert, root)} has a critical nameConstraints with ${showSubtrees(unread)}, a name type Go reads no constraints of (only DNS, IP, email and URI): ` +
                `Go (istiod) would refuse every certificate under it ("unhandled critical extension"); ` +
                `re-issue ${subjectOf(cert)} without those subtrees or with nameConstraints non-critical, or give another CA`
            );
        }
        const unhandled = unhandledCriticalExtensionOf(cert, i === path.length - 1 && isSelfSigned(cert), verifiedByGo);
        if (unhandled === undefined) continue;
        const { oid, refusers } = unhandled;
        return (
            `${place(i, cert, root)} has the critical extension ${oid}, which ${nameList(refusers)} ${refusers.length === 1 ? "does" : "do"} not handle: ` +
            `${refusers.length === 1 ? "it" : "they"} would refuse every certificate under it ("unhandled critical extension"); ` +
            `re-issue ${subjectOf(cert)} without that extension or with it non-critical, or give another CA`
        );
    }
    return undefined;
}

/**
 * A certificate's first critical extension a verifier does not handle (CRITICAL_EXTENSIONS_HANDLED),
 * and the verifiers that would refuse it, or undefined; a CA's or a leaf's alike. `anchor`: whether
 * it is the self-signed top of its path, which BoringSSL does not check; Go counts when `verifiedByGo`.
 */
export function unhandledCriticalExtensionOf(
    cert: crypto.X509Certificate,
    anchor: boolean,
    verifiedByGo: boolean,
): { oid: string; refusers: string[] } | undefined {
    for (const oid of criticalExtensionsOf(cert)) {
        const refusers = CRITICAL_EXTENSIONS_HANDLED.filter(
            ({ handled, checksAnchor, go }) =>
                (verifiedByGo || go !== true) && (checksAnchor || !anchor) && !handled.includes(oid),
        ).map(({ verifier }) => verifier);
        if (refusers.length > 0) return { oid, refusers };
    }
    return undefined;
}

/**
 * Whether a DNS name is within a DNS subtree, as BoringSSL's nc_dns matches them (Go agrees):
 * ".bank.example" holds its subdomains only, "bank.example" itself and its subdomains, "" all.
 */
function dnsWithin(name: string, base: string): boolean {
    const [host, subtree] = [name.toLowerCase(), base.toLowerCase()];
    if (subtree === "") return true;
    if (subtree.startsWith(".")) return host.endsWith(subtree);
    return host === subtree || host.endsWith(`.${subtree}`);
}

/**
 * The host of a URI as BoringSSL's nc_uri takes it, or undefined when it has none (a URN): what
 * follows "scheme://" up to the first ":" after it, or else the first "/".
 */
function uriHost(uri: string): string | undefined {
    const after = /^[^:]*:\/\/(.*)$/s.exec(uri)?.[1];
    if (after === undefined) return undefined;
    const end = after.includes(":") ? after.indexOf(":") : after.includes("/") ? after.indexOf("/") : after.length;
    return end === 0 ? undefined : after.slice(0, end);
}

/**
 * Whether a URI is within a URI subtree, as BoringSSL's nc_uri matches them: the subtree is a host,
 * or a domain when it starts with "." (its subdomains only). A URI without a host matches none.
 */
function uriWithin(uri: string, base: string): boolean {
    const host = uriHost(uri)?.toLowerCase();
    const subtree = base.toLowerCase();
    if (host === undefined) return false;
    return subtree.startsWith(".") ? host.length > subtree.length && host.endsWith(subtree) : host === subtree;
}

/**
 * Whether a distinguished name is within a DirName subtree: the subtree's RDNs start it (RFC 5280
 * section 7.1). BoringSSL's nc_dn compares a prefix of the two names' canonical encodings, where
 * each value is UTF-8 with its ASCII letters lowercased, spaces trimmed and runs of whitespace
 * collapsed; comparing RDNs by attribute type and so-normalized text is close enough for the
 * subjects this package signs (PrintableString or UTF8String text).
 */
function dirNameWithin(name: TypedName, base: TypedName): boolean {
    const canonical = (rdn: readonly (readonly [string, string])[]): string =>
        rdn
            .map(([type, text]) => {
                const collapsed = text.replace(/[ \t\n\v\f\r]+/g, " ").trim();
                return `${type}=${collapsed.replace(/[A-Z]/g, (letter) => letter.toLowerCase())}`;
            })
            .sort()
            .join("+");
    const [rdns, subtree] = [name.rdns ?? [], base.rdns ?? []];
    return subtree.length <= rdns.length && subtree.every((rdn, i) => canonical(rdn) === canonical(rdns[i]));
}

function within(name: SignedName, base: TypedName): boolean {
    if (name.type === "DNS") return dnsWithin(name.value, base.value);
    return name.type === "URI" ? uriWithin(name.value, base.value) : dirNameWithin(name, base);
}

/**
 * Why a name the issuer signs is outside the nameConstraints of a CA of its path (pathOf), or
 * undefined. RFC 5280 section 4.2.1.10, as Envoy's BoringSSL applies it (NAME_CONSTRAINTS_check;
 * OpenSSL and Go agree for DNS names; Go matches URI subtrees otherwise, a host subtree holding
 * its subdomains too, and ignores DirName subtrees, so those refusals name BoringSSL and OpenSSL
 * alone): a name must be within one of the permitted subtrees of its type, when there are any
 * (those of other types do not restrict it), and within none of the excluded ones, which win.
 * Every CA's constraints count, the root's too.
 */
export function nameConstraintProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    names: readonly SignedName[],
    place: PlaceOf = placeOnPath,
): string | undefined {
    if (names.length === 0) return undefined;
    const path = pathOf(chain, root);
    for (const [i, cert] of path.entries()) {
        const constraints = nameConstraintsOf(cert);
        if (constraints === undefined) continue;
        for (const name of names) {
            const shown = `${name.input} ${showJson(name.value)}`;
            const refusers =
                name.type === "DNS" ? "Envoy's BoringSSL, OpenSSL and Go" : "Envoy's BoringSSL and OpenSSL";
            // A subject's CN is the component's to choose; its O is the organization input.
            const fix = (subtrees: readonly TypedName[], place: "within" | "outside"): string =>
                name.fix ??
                (name.type === "DirName"
                    ? `give an organization that puts the subject ${place} ${showSubtrees(subtrees)}, or a CA whose nameConstraints allow it`
                    : `give a name ${place} ${showSubtrees(subtrees)}, or a CA whose nameConstraints allow it`);
            // A URI without a host (a URN) cannot be matched: BoringSSL and OpenSSL refuse it under any URI subtree.
            const uriSubtrees = [...constraints.permitted, ...constraints.excluded].filter(
                (subtree) => subtree.type === "URI",
            );
            if (name.type === "URI" && uriHost(name.value) === undefined && uriSubtrees.length > 0) {
                return (
                    `${shown} has no host to match the URI nameConstraints of ${place(i, cert, root)} (${showSubtrees(uriSubtrees)}) against: ` +
                    `Envoy's BoringSSL and OpenSSL would refuse the certificate signed for it ("unsupported or invalid name syntax"); ` +
                    `${name.fix ?? "give a URI with a host within them (scheme://host/...), or a CA whose nameConstraints have no URI subtrees"}`
                );
            }
            const excluded = constraints.excluded.filter(
                (subtree) => subtree.type === name.type && within(name, subtree),
            );
            if (excluded.length > 0) {
                return (
                    `${shown} is excluded by the nameConstraints of ${place(i, cert, root)}, which exclude ${showSubtrees(excluded)}: ` +
                    `${refusers} would refuse the certificate signed for it ("excluded subtree violation"); ${fix(excluded, "outside")}`
                );
            }
            const permitted = constraints.permitted.filter((subtree) => subtree.type === name.type);
            if (permitted.length > 0 && !permitted.some((subtree) => within(name, subtree))) {
                return (
                    `${shown} is outside the nameConstraints of ${place(i, cert, root)}, which permit only ${showSubtrees(permitted)} for ${name.type} names: ` +
                    `${refusers} would refuse the certificate signed for it ("permitted subtree violation"); ${fix(permitted, "within")}`
                );
            }
        }
    }
    return undefined;
}

/**
 * The certificates of the issuer's path (pathOf) whose signatures verifiers check, with their
 * places on it: all but a self-signed anchor at its top, whose signature none checks.
 */
function signaturesCheckedOn(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
): [number, crypto.X509Certificate][] {
    const path = pathOf(chain, root);
    return [...path.entries()].filter(([i, cert]) => !(i === path.length - 1 && isSelfSigned(cert)));
}

/**
 * Why a certificate of the issuer's path (pathOf), the self-signed anchor at its top aside (no
 * verifier checks that signature), is signed in a way that may not be used, or undefined: first
 * with a hash collisions have broken (SHA-1, MD5), for any issuer: Go refuses SHA-1 since 1.18
 * (istiod); Envoy's BoringSSL still takes it, but a chain a bank hands out must not rest on a
 * signature that can be forged. Then, when `verifiedByGo`, with an algorithm Go's crypto/x509 does
 * not verify (goSignatureRefusalOf): istiod refuses the cacerts. OpenSSL and Envoy's BoringSSL
 * verify more (SHA-224, RSA-PSS with other parameters), so only what Go verifies is held to it.
 */
export function signatureProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    verifiedByGo: boolean,
    place: PlaceOf = placeOnPath,
): string | undefined {
    const checked = signaturesCheckedOn(chain, root);
    for (const [i, cert] of checked) {
        const hash = brokenSignatureHashOf(cert);
        if (hash === undefined) continue;
        // "insecure algorithm" for the SHA-1 and MD5 ones Go knows; it knows no MD2, nor RSA-PSS on these hashes.
        const goError = goSignatureRefusalOf(cert)?.error ?? "insecure algorithm";
        return (
            `${place(i, cert, root)} is signed with ${hash}, whose collisions let a forged certificate carry the same signature, and Go (istiod) refuses it ("${goError}"); ` +
            `re-issue ${subjectOf(cert)} signed with SHA-256 or better`
        );
    }
    if (!verifiedByGo) return undefined;
    for (const [i, cert] of checked) {
        const refusal = goSignatureRefusalOf(cert);
        if (refusal === undefined) continue;
        return (
            `${place(i, cert, root)} is signed with ${refusal.algorithm}, which Go (istiod) refuses ("x509: cannot verify signature: ${refusal.error}"); ` +
            `re-issue ${subjectOf(cert)} signed with SHA-256 or better (in RSA-PSS, with MGF1 on the same hash and a salt as long as the hash)`
        );
    }
    return undefined;
}

/**
 * Why a certificate of the issuer's path (pathOf) names its issuer in other bytes than the subject
 * of the CA above it has (a UTF8String for a PrintableString, another case or spacing), or
 * undefined. OpenSSL and BoringSSL match names in a canonical form; Go looks the CA above up by the
 * issuer's raw bytes, and refuses the chain ("certificate signed by unknown authority").
 */
export function nameBytesProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
): string | undefined {
    const path = pathOf(chain, root);
    for (let i = 0; i + 1 < path.length; i++) {
        const upper = path[i + 1];
        if (issuerDerOf(path[i]).equals(subjectDerOf(upper))) continue;
        return (
            `${placeOnPath(i, path[i], root)} names its issuer ${issuerOf(path[i])} encoded otherwise than ${placeOnPath(i + 1, path[i + 1], root)} writes its subject ` +
            `(another string type, case or spacing): OpenSSL and Envoy's BoringSSL match the two, but Go (istiod) compares their bytes and refuses the chain ("certificate signed by unknown authority"); ` +
            `re-issue ${subjectOf(path[i])} under ${subjectOf(upper)} as it is given here, or give the copy of ${subjectOf(upper)} that signed it`
        );
    }
    return undefined;
}

/**
 * Why a CA of the issuer's path (pathOf: certPem up to the root) lists extended key usages without
 * one of `purposes`, or undefined: OpenSSL and Go hold every CA's extendedKeyUsage, the root's too,
 * against the certificates below it, Envoy's BoringSSL that of every CA below its trust anchor.
 * Only Go takes anyExtendedKeyUsage for a purpose: OpenSSL and BoringSSL look for the purpose
 * itself. `signsCa`: the leaves are signed by the CA made here, not by the issuer.
 */
export function purposeProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    purposes: readonly LeafPurpose[],
    signsCa: boolean,
    place: PlaceOf = placeOnPath,
): string | undefined {
    if (purposes.length === 0) return undefined;
    const path = pathOf(chain, root);
    for (const [i, cert] of path.entries()) {
        const listed = caFlags(cert).extendedKeyUsage;
        const missing = purposes.filter((purpose) => !listed?.includes(LEAF_PURPOSES[purpose]));
        if (listed === undefined || missing.length === 0) continue;
        const where = place(i, cert, root);
        const roles = nameList(missing.map((purpose) => (purpose === "clientAuth" ? "client" : "server")));
        const anchor = i === path.length - 1 && isSelfSigned(cert);
        const anyUsage = listed.includes(ANY_EXTENDED_KEY_USAGE);
        const refusers = [
            'OpenSSL ("unsuitable certificate purpose")',
            ...(anchor ? [] : [`Envoy's BoringSSL ("unsupported certificate purpose")`]),
            ...(anyUsage ? [] : ['Go ("incompatible key usage")']),
        ];
        const notes: string[] = [];
        if (anyUsage) {
            notes.push(
                anchor
                    ? "anyExtendedKeyUsage is not enough for OpenSSL, though Go accepts it"
                    : "anyExtendedKeyUsage is not enough for OpenSSL and BoringSSL; Go alone accepts it",
            );
        }
        if (anchor) notes.push("Envoy's BoringSSL ignores a trust anchor's extendedKeyUsage");
        const spared = notes.length === 0 ? "" : ` (${notes.join("; ")})`;
        return (
            `${where} has extendedKeyUsage ${listed.map((oid) => EKU_NAMES[oid] ?? oid).join(", ")}, without ${nameList(missing)}, and verifiers hold a CA's extendedKeyUsage against the certificates below it: ` +
            `${nameList(refusers)} would refuse the ${roles} certificates ${signsCa ? "the CA made here signs" : "this CA signs"}${spared}; ` +
            `give a CA ${anchor && i > 0 ? "under a root " : ""}whose extendedKeyUsage includes ${nameList([...purposes])}, or that has none`
        );
    }
    return undefined;
}

/**
 * The certificates a verifier holding `root` goes through from certPem (`chain`'s first) to it:
 * the chain up to the root, or to a copy of it with the same key and subject (a root renewed with
 * its key, whose older copy chainPem still ends in), which the trusted root stands in for.
 */
export function pathOf(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
): readonly crypto.X509Certificate[] {
    if (root === undefined) return chain;
    const copy = chain.findIndex((cert) => isRootCopy(cert, root));
    if (copy === -1) return [...chain, root];
    return chain[copy].raw.equals(root.raw) ? chain.slice(0, copy + 1) : [...chain.slice(0, copy), root];
}

/**
 * Why a certificate of the issuer's path (pathOf: certPem first, up to the root) forbids the CAs
 * below it, or undefined: a pathlen:n allows n CAs between it and a leaf, and the issuer's own CAs
 * below it count, with the CA it signs when `signsCa`. Go (istiod) and OpenSSL refuse such a leaf
 * wherever the certificate is; Envoy's BoringSSL does so only below its trust anchor, the root.
 * OpenSSL and BoringSSL skip self-issued CAs (subject and issuer the same; RFC 5280 section 6.1.4
 * (l)), Go counts them: they count when `verifiedByGo`, and only Go is named when only they make
 * the excess.
 */
export function pathLengthProblem(
    chain: readonly crypto.X509Certificate[],
    root: crypto.X509Certificate | undefined,
    signsCa: boolean,
    verifiedByGo: boolean,
    place: PlaceOf = placeOnPath,
): string | undefined {
    const path = pathOf(chain, root);
    for (const [i, cert] of path.entries()) {
        const { pathLen } = caFlags(cert);
        if (pathLen === undefined) continue;
        const made = signsCa ? 1 : 0;
        const selfIssued = path.slice(0, i).filter((lower) => lower.subject === lower.issuer);
        const skipping = i - selfIssued.length + made;
        const below = verifiedByGo ? i + made : skipping;
        if (pathLen >= below) continue;
        const subject = subjectOf(cert);
        const where = place(i, cert, root);
        const allows = pathLen === 0 ? "no CA" : pathLen === 1 ? "1 CA" : `${pathLen} CAs`;
        const refusers =
            skipping <= pathLen
                ? `Go (istiod) would refuse every certificate ${signsCa ? "that CA" : "it"} signs ("too many intermediates for path length constraint"), counting the self-issued ${nameList(selfIssued.map(subjectOf))}, which OpenSSL and Envoy's BoringSSL skip`
                : isSelfSigned(cert)
                  ? `OpenSSL and Go (istiod) would refuse every certificate ${signsCa ? "that CA" : "it"} signs ("path length constraint exceeded"; Envoy's BoringSSL alone ignores a trust anchor's pathlen)`
                  : `OpenSSL, Go (istiod) and Envoy's BoringSSL would refuse every certificate ${signsCa ? "that CA" : "it"} signs ("path length constraint exceeded")`;
        return signsCa
            ? `${where} has pathlen:${pathLen}, which allows ${allows} below it, and with the CA made here there would be ${below}: ${refusers}; ` +
                  `${path.length > 1 || !isSelfSigned(cert) ? "sign this CA with a CA higher up the chain" : "give a root that allows CAs below it"}, or re-issue ${subject} with pathlen:${below} or more`
            : `${where} has pathlen:${pathLen}, which allows ${allows} below it, but there ${below === 1 ? "is" : "are"} ${below} down to ${place(0, path[0], root)}: ${refusers}; ` +
                  `give a CA higher up the chain, or re-issue ${subject} with pathlen:${below} or more`;
    }
    return undefined;
}

/** The fix for a signing CA that does not say CA:TRUE. */
const REISSUE_AS_CA = "reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign";

/**
 * Why `cert` (a refusal names it `where`) is refused as the CA that signs here, or undefined: a
 * version 1 certificate (no basicConstraints at all), no CA (CA:FALSE), or a CA whose keyUsage lacks
 * keyCertSign. BoringSSL, OpenSSL and Go refuse every certificate a CA:FALSE certificate or a CA
 * without keyCertSign signs. A version 1 root is stricter than they are: BoringSSL and OpenSSL take
 * it as a trust anchor and accept the leaves it signs, but OpenSSL's strict checks refuse it, and
 * this package signs under no CA that does not say CA:TRUE (Node's X509Certificate.ca is false for
 * all three, and the fix differs).
 */
export function signingCaProblem(cert: crypto.X509Certificate, where: string): string | undefined {
    const { ca, certSign } = caFlags(cert);
    if (isVersion1(cert)) {
        return (
            `${where} has no basicConstraints extension (a version 1 certificate): Envoy's BoringSSL and OpenSSL accept the leaves it signs as a root, ` +
            `but OpenSSL's strict checks (-x509_strict) refuse it as a CA ("invalid CA certificate"), and this package signs under no CA without CA:TRUE; ${REISSUE_AS_CA}`
        );
    }
    if (!ca) {
        return `${where} is not a CA certificate (CA:FALSE), so verifiers accept nothing it signs; give a CA certificate instead, or ${REISSUE_AS_CA}`;
    }
    if (!certSign) {
        return `${where} is a CA certificate whose keyUsage lacks keyCertSign, so verifiers accept nothing it signs; re-issue it with keyCertSign (and cRLSign), or give another CA`;
    }
    return undefined;
}

/** Names as a refusal lists them: "a", "a and b", "a, b and c". */
export const nameList = (names: readonly string[]): string =>
    names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;

/** The certificates of a sound issuer whose dates each use checks (issuerDatesProblem), and its root. */
export interface DatedPath {
    readonly certs: readonly crypto.X509Certificate[];
    readonly root?: crypto.X509Certificate;
}

/**
 * Why a certificate of a sound issuer (issuerCertificatesOf; its DatedPath) is expired or not
 * valid yet at `now`, or undefined (`place` names it): certPem and the rest of its path (pathOf),
 * up to rootCertPem. BoringSSL, OpenSSL and Go refuse every chain through one ("certificate has expired", "certificate is not yet valid"),
 * so all the issuer signs would be refused; an older copy of the root that chainPem ends in is off
 * the path (they stop at the trusted root), and is often expired (a cross-signed root whose
 * signer has expired). Not valid yet counts from `now` or the machine's clock, the later,
 * with CLOCK_SKEW_MS to spare: under a plan's clock (buildPki's), a CA that @pulumi/tls creates
 * during the update is dated when it is made, after the plan's time; a CA dated minutes ahead is
 * refused only for those minutes, one dated later for good.
 */
export function issuerDatesProblem(
    { certs, root }: DatedPath,
    now: Date,
    place: PlaceOf = placeOnPath,
): string | undefined {
    const later = new Date(Math.max(now.getTime(), Date.now()) + CLOCK_SKEW_MS);
    for (const [i, cert] of certs.entries()) {
        const where = place(i, cert, root);
        const current = i > 0 && isRootCertPem(cert, root) ? "the current root" : "the current CA";
        if (expiredAt(cert, now) && i > 0 && i === certs.length - 1 && root === undefined && !isSelfSigned(cert)) {
            // Often a root's cross-certificate from an older root, which verifiers trusting the
            // root itself never reach; a leaf signer has no rootCertPem, so which root its peers
            // trust (another component's trust bundle) is not known here.
            return (
                `${where}, signed by ${issuerOf(cert)}, expired on ${new Date(cert.validTo).toISOString()}: BoringSSL, OpenSSL and Go trusting ${issuerOf(cert)} refuse every certificate under it ("certificate has expired"); ` +
                `if it is the cross-certificate of a root ${subjectOf(cert)} the peers trust, it breaks only verifiers that trust the older root: remove it from chainPem; else renew it`
            );
        }
        if (expiredAt(cert, now)) {
            return (
                `${where} expired on ${new Date(cert.validTo).toISOString()}: BoringSSL, OpenSSL and Go refuse every certificate under it ("certificate has expired"); ` +
                `renew it, or give ${current}`
            );
        }
        if (notYetValidAt(cert, later)) {
            return (
                `${where} is not valid before ${new Date(cert.validFrom).toISOString()}: BoringSSL, OpenSSL and Go refuse every certificate under it until then ("certificate is not yet valid"); ` +
                `give ${current}, or wait until then (if it was issued today, the issuing machine's clock is ahead)`
            );
        }
    }
    return undefined;
}
