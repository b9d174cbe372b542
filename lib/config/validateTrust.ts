/** Validation of the trust layout: `pki:trustDomains` and the roots kept offline (`pki:offlineRoots`). */
import * as crypto from "crypto";
import { OfflineRootConfig, RootSlot, TrustDomains } from "./types";
import { ROOT_SLOTS, ROOT_TITLES, ROOT_TRUST_DOMAINS, rootSlots, TRUST_DOMAINS, TrustLayout } from "../plan/hierarchy";
import { pastedKeyProblem, pastedPrivateKey, pemBlocks, pemEncode } from "../pki/pem";
import { spkiPin } from "../pki/pins";
import { rootBinding } from "../pki/rootBinding";
import { isSelfSigned, isVersion1, signedBy, subjectOf, VERSION_1_CA } from "../pki/x509";
import { json, Json, memberPath } from "./values";

type Fail = (message: string) => void;

const show = (value: unknown): string => (value === undefined ? "nothing" : json(value as Json));
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function validateTrustDomains(value: unknown, fallback: TrustDomains, fail: Fail): TrustDomains {
    if (value === undefined) return fallback;
    if (!(TRUST_DOMAINS as readonly unknown[]).includes(value)) {
        fail(
            `pki:trustDomains must be separate (a mesh root, a gateway server root and an APIC client root: a key in a cluster can mint nothing the edge trusts) ` +
                `or shared (one root for everything, the weaker guarantee); got ${show(value)}`,
        );
        return fallback;
    }
    return value as TrustDomains;
}

function parseCertificate(pem: unknown): crypto.X509Certificate | undefined {
    try {
        return typeof pem === "string" ? new crypto.X509Certificate(pem) : undefined;
    } catch {
        return undefined;
    }
}

const OFFLINE_ROOT_MEMBERS = ["certificate", "intermediates", "crls"];

/**
 * The refusal of a private key pasted into the ceremony's public material (cat root.crt root.key),
 * or undefined. Node parses the certificate in front of the key and ignores the rest, so the text,
 * key and all, was taken, and refused by a component only after the ceremony had signed, naming
 * no config key.
 */
function pastedKey(value: unknown, key: string, give: string): string | undefined {
    const found = typeof value === "string" ? pastedPrivateKey(value) : undefined;
    return found === undefined
        ? undefined
        : `${key} ${pastedKeyProblem(found, "the stack configuration is kept in clear and this text is handed out wherever the root is trusted", give)}`;
}

/** A bad PEM value, without echoing a whole certificate back. */
const describeGiven = (value: unknown): string =>
    value === undefined ? "nothing" : typeof value === "string" ? "text that is not a PEM certificate" : show(value);

/**
 * Why a root the ceremony bound (OU=apic-istio-pki <environment> <trust domain>) cannot be the
 * stack's `slot`: bound to another environment (one root reused by two environments would let
 * either's CA keys mint what the other trusts), to another trust domain (a root that signs mesh
 * CAs as gateway-server root would let a key from a cluster's cacerts mint server certificates
 * APIC accepts), or by an earlier init-root, to no trust domain. A root with no such OU was not
 * made by the ceremony, and is taken as it is.
 */
function slotBindingProblem(
    rootKey: string,
    pem: string,
    slot: RootSlot,
    environment: string | undefined,
): string | undefined {
    const binding = rootBinding(pem);
    if (binding === undefined) return undefined;
    const key = `${rootKey}.certificate`;
    const domain = ROOT_TRUST_DOMAINS[slot];
    const make = `make one with "npx apic-istio-pki ceremony init-root --environment ${environment ?? "<pki:environment>"} --trust-domain ${domain}" and set ${rootKey} to it`;
    if (binding.kind === "unreadable") {
        return `${key} has OU=${binding.unit}, which is not a binding the ceremony writes (one OU=apic-istio-pki <environment> <trust domain>); ${make}`;
    }
    if (environment !== undefined && binding.environment !== environment) {
        return (
            `${key} is the root of environment "${binding.environment}" (its subject has OU=${binding.unit}), not of this stack's pki:environment "${environment}"; ` +
            `each environment needs its own root: ${make}`
        );
    }
    if (binding.kind === "environment only") {
        return (
            `${key} is bound to environment "${binding.environment}" but to no trust domain (its subject has OU=${binding.unit}): an earlier version of the ceremony made it, ` +
            `which signs a CA of any trust domain with it; ${make}`
        );
    }
    if (binding.trustDomain !== domain) {
        return (
            `${key} is the root of trust domain ${binding.trustDomain} (its subject has OU=${binding.unit}), not of ${domain}, the domain of ${rootKey}; ` +
            `each trust domain needs its own root, or a CA of one could be made with another's key: ${make}`
        );
    }
    return undefined;
}

/** One offline root: a self-signed CA certificate, the CAs it signed, and its CRL series. */
function validateOfflineRoot(
    key: string,
    slot: RootSlot,
    value: unknown,
    environment: string | undefined,
    fail: Fail,
): OfflineRootConfig | undefined {
    if (!isRecord(value)) {
        fail(`${key} must be { certificate, intermediates, crls }; got ${show(value)}`);
        return undefined;
    }
    for (const k of Object.keys(value)) {
        if (!OFFLINE_ROOT_MEMBERS.includes(k))
            fail(`${memberPath(key, k)} is not a known key; an offline root has ${OFFLINE_ROOT_MEMBERS.join(", ")}`);
    }
    const rootKey = pastedKey(value.certificate, `${key}.certificate`, "root.crt of the ceremony alone");
    if (rootKey !== undefined) {
        fail(rootKey);
        return undefined;
    }
    const root = parseCertificate(value.certificate);
    if (root === undefined) {
        fail(
            `${key}.certificate must be the root certificate in PEM (root.crt of the ceremony); got ${describeGiven(value.certificate)}`,
        );
        return undefined;
    }
    const found = pemBlocks(value.certificate as string, "CERTIFICATE");
    if (found.length > 1) {
        // The checks read the first certificate alone: another root pasted after it (another
        // trust domain's) is refused, not dropped unseen, as it was once trusted as this root.
        const what = found.map((block) => {
            const cert = parseCertificate(block);
            return cert === undefined ? "a block that is not a certificate" : subjectOf(cert);
        });
        fail(
            `${key}.certificate holds ${found.length} certificates (${what.join("; ")}), and each would be a trust anchor wherever this root is trusted; ` +
                "give the root alone (root.crt of the ceremony)",
        );
    }
    if (isVersion1(root)) {
        fail(`${key}.certificate holds ${subjectOf(root)}, ${VERSION_1_CA}`);
    } else if (!root.ca || !isSelfSigned(root)) {
        fail(
            `${key}.certificate must be a self-signed CA certificate (subject ${subjectOf(root)}); give the root alone (root.crt of the ceremony)`,
        );
    }
    // The root as the provider writes PEM, as the ceremony's CAs are taken (caCertificateAlone):
    // this text is every trust bundle's anchor, so nothing pasted around it goes on.
    const certificate = pemEncode(root.raw, "CERTIFICATE");
    const binding = slotBindingProblem(key, certificate, slot, environment);
    if (binding !== undefined) fail(binding);
    // Built as entries, as pki:rotation.endpoints is: an id "__proto__" assigned to a plain object
    // would set its prototype, unseen; as a member, the plan refuses it by name.
    const accepted: [string, string][] = [];
    const given = value.intermediates === undefined ? {} : value.intermediates;
    if (!isRecord(given)) {
        fail(`${key}.intermediates must map CA ids to the certificates the ceremony signed; got ${show(given)}`);
    } else {
        for (const [id, pem] of Object.entries(given)) {
            const idKey = memberPath(`${key}.intermediates`, id);
            const cert = parseCertificate(pem);
            const intermediateKey = pastedKey(pem, idKey, "the certificate the ceremony signed alone");
            if (intermediateKey !== undefined) {
                fail(intermediateKey);
            } else if (cert === undefined) {
                fail(`${idKey} must be the certificate the ceremony signed, in PEM; got ${describeGiven(pem)}`);
            } else if (pemBlocks(pem as string, "CERTIFICATE").length > 1) {
                // The text becomes this CA's chain, which APIC's keystore gets as it is: no root, no second CA.
                fail(
                    `${idKey} holds ${pemBlocks(pem as string, "CERTIFICATE").length} certificates; give the certificate the ceremony signed alone (the file ceremony sign wrote), not a chain`,
                );
            } else if (!cert.ca || !cert.verify(root.publicKey)) {
                fail(
                    `${idKey} is not a CA certificate signed by ${key}.certificate; sign this stack's CSR with that root`,
                );
            } else if (!signedBy(cert, root)) {
                // Signed by the root's key, but its issuer or authority key identifier names another
                // certificate: verifiers look the issuer up by those, and would find no root.
                fail(
                    `${idKey} is signed by the key of ${key}.certificate, but its issuer or authority key identifier does not name that certificate, so no verifier chains it to the root: ` +
                        `sign this stack's CSR again with ceremony sign --reissue ${cert.serialNumber}, from the root folder init-root made`,
                );
            } else if (new Date(cert.validTo) > new Date(root.validTo)) {
                // Verifiers stop trusting the CA with its root: its notAfter would tell the stack the
                // CA is good while nothing chains to it any more.
                fail(
                    `${idKey} is valid until ${new Date(cert.validTo).toISOString()}, after ${key}.certificate (valid until ${new Date(root.validTo).toISOString()}); ` +
                        `a CA never outlives its root: sign this stack's CSR again with ceremony sign --reissue ${cert.serialNumber} ` +
                        `and --days small enough to end by the root's notAfter`,
                );
            } else {
                accepted.push([id, pem as string]);
            }
        }
    }
    const intermediates: Record<string, string> = Object.fromEntries(accepted);
    const crls = value.crls === undefined ? "" : value.crls;
    if (typeof crls !== "string") {
        fail(`${key}.crls must be the ceremony's CRL series as PEM text (crls.pem); got ${show(crls)}`);
        return { certificate, intermediates, crls: [] };
    }
    const crlsKey = pastedKey(crls, `${key}.crls`, "crls.pem of the ceremony alone");
    const blocks = crls.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n?/g) ?? [];
    if (crlsKey !== undefined) {
        fail(crlsKey);
    } else if (crls.trim() !== "" && blocks.length === 0) {
        fail(`${key}.crls holds no PEM CRL ("-----BEGIN X509 CRL-----"); paste crls.pem of the ceremony`);
    }
    return {
        certificate,
        intermediates,
        crls: blocks.map((b) => (b.endsWith("\n") ? b : `${b}\n`)),
    };
}

/**
 * Why `key` (pki:caRotation.root or pki:offlineRoots.root) is refused when pki:trustDomains is not
 * written: the stack file of a stack deployed with the shared root, earlier versions' default.
 */
export function sharedRootNoLongerDefault(key: string, separate: string): string {
    return (
        `${key} names the shared root, but pki:trustDomains is not set, and its default is now separate (one root per trust domain), no longer shared as in earlier versions. ` +
        `Set pki:trustDomains: shared to keep the deployed shared root; with separate roots, ${separate}`
    );
}

/**
 * `pki:offlineRoots`: per root of the trust layout, the ceremony's material. `trustWritten`: the
 * stack file sets pki:trustDomains (else the shared root's entry is refused as a stale default).
 */
export function validateOfflineRoots(
    value: unknown,
    legacy: unknown,
    layout: TrustLayout,
    trustWritten: boolean,
    environment: string | undefined,
    fail: Fail,
): Partial<Record<RootSlot, OfflineRootConfig>> {
    const trust = layout.trust;
    const allowed = rootSlots(layout);
    if (legacy !== undefined) {
        fail(
            `pki:offlineRoot is now pki:offlineRoots, one entry per root: ${allowed.map((r) => `pki:offlineRoots.${r}`).join(", ")} ` +
                `(pki:trustDomains ${trust}); move { certificate, intermediates } under the root it belongs to`,
        );
    }
    if (value === undefined) return {};
    if (!isRecord(value)) {
        fail(
            `pki:offlineRoots must map roots (${allowed.join(", ")}) to { certificate, intermediates, crls }; got ${show(value)}`,
        );
        return {};
    }
    const roots: Partial<Record<RootSlot, OfflineRootConfig>> = {};
    for (const [slot, entry] of Object.entries(value)) {
        if (!(allowed as readonly string[]).includes(slot)) {
            if (slot === "root" && !trustWritten) {
                fail(sharedRootNoLongerDefault("pki:offlineRoots.root", `the roots are ${allowed.join(", ")}`));
                continue;
            }
            const why = (ROOT_SLOTS as readonly string[]).includes(slot)
                ? `with pki:trustDomains ${trust} the roots are ${allowed.join(", ")}`
                : `the roots are ${allowed.join(", ")}`;
            fail(`${memberPath("pki:offlineRoots", slot)} is not a root of this stack; ${why}`);
            continue;
        }
        const root = validateOfflineRoot(`pki:offlineRoots.${slot}`, slot as RootSlot, entry, environment, fail);
        if (root !== undefined) roots[slot as RootSlot] = root;
    }
    // Compared as certificates, not as text: the same root with an `openssl x509` subject= line
    // before it, or with CRLF line ends, is still one root in two trust domains. And by key: another
    // certificate of the same key (renewed, or made again with another subject) is the same trust
    // anchor to a verifier, so whatever one domain's CAs sign would pass in the other's.
    const identities = Object.entries(roots).map(([slot, r]) => {
        const cert = parseCertificate(r.certificate);
        return {
            slot,
            fingerprint: cert?.fingerprint256,
            key: cert === undefined ? undefined : spkiPin(cert.publicKey),
        };
    });
    for (const [i, { slot, fingerprint, key }] of identities.entries()) {
        const earlier = identities.slice(0, i);
        const sameCertificate = earlier.find((other) => fingerprint !== undefined && other.fingerprint === fingerprint);
        const sameKey = earlier.find((other) => key !== undefined && other.key === key);
        if (sameCertificate !== undefined) {
            fail(
                `pki:offlineRoots.${slot} and pki:offlineRoots.${sameCertificate.slot} are the same certificate; each trust domain needs its own root (or set pki:trustDomains shared)`,
            );
        } else if (sameKey !== undefined) {
            fail(
                `pki:offlineRoots.${slot} and pki:offlineRoots.${sameKey.slot} are two certificates of one key (SPKI pin ${key}): a verifier trusting either accepts what the other's CAs sign; make pki:offlineRoots.${slot} a root of its own key with "npx apic-istio-pki ceremony init-root --environment ${environment ?? "<pki:environment>"} --trust-domain ${ROOT_TRUST_DOMAINS[slot as RootSlot]}" (or set pki:trustDomains shared)`,
            );
        }
    }
    return roots;
}

/**
 * `pki:frontEnd.apicServerCa` holding an offline root of another trust domain than the gateway
 * server root's: the UI sidecars check APIC's chain and host name only, so every CA under that root
 * (a mesh CA in each cluster's cacerts, the APIC-client or UI client CA in the state) could issue a
 * certificate for APIC's host that they take for APIC's. The server root itself is allowed: it is
 * what they trust without apicServerCa, and a switch to APIC's own CA starts by giving it with the new.
 * Compared by key: another certificate of the root's key (one signed earlier, or with other dates)
 * is the same trust anchor to a verifier.
 */
export function apicServerCaProblems(
    apicServerCa: string | undefined,
    offlineRoots: Partial<Record<RootSlot, OfflineRootConfig>>,
): string[] {
    if (apicServerCa === undefined) return [];
    const given = new Set(pemCertificates(apicServerCa).map((c) => spkiPin(c.publicKey)));
    return Object.entries(offlineRoots).flatMap(([slot, root]) => {
        if (slot === "serverRoot" || slot === "root") return [];
        const [cert] = pemCertificates(root.certificate);
        if (cert === undefined || !given.has(spkiPin(cert.publicKey))) return [];
        return [
            `pki:frontEnd.apicServerCa holds pki:offlineRoots.${slot} (${subjectOf(cert)}): the UI services' sidecars would take as APIC ` +
                "any certificate for its hosts from a CA under that root (another trust domain's, whose CA keys this stack or its clusters hold). " +
                "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root",
        ];
    });
}

/**
 * Who holds the keys under a root the stack made, for the refusal of it as apicServerCa: each
 * could mint a certificate for APIC's hosts that chains to it.
 */
const IN_STATE_ROOT_KEYS: Readonly<Partial<Record<RootSlot, string>>> = {
    meshRoot:
        "its key is in the Pulumi state, and every cluster's cacerts Secret holds the key of a mesh CA under it: whoever reads either (istiod, a cluster administrator)",
    clientRoot: "its key and the APIC-client CA's under it are in the Pulumi state: whoever reads the state",
    uiClientRoot: "its key and the UI client CA's under it are in the Pulumi state: whoever reads the state",
};

/** The same for a root a staged rotation retired: its keys were there, and copies may remain. */
const RETIRED_ROOT_KEYS: Readonly<Partial<Record<RootSlot, string>>> = {
    meshRoot:
        "its key was in the Pulumi state, and every cluster's cacerts Secret held the key of a mesh CA under it: whoever kept a copy of either (a backup, istiod, a cluster administrator)",
};

/** A root the stack made: one of this deployment (its certificate), or one an earlier deployment recorded (its key's pin). */
export type StackRoot = { readonly id: string; readonly slot: RootSlot } & (
    { readonly certPem: string } | { readonly retiredSpki: string }
);

/**
 * `pki:frontEnd.apicServerCa` holding a root this stack made (`roots`: those of another trust
 * domain than the server root, which signs APIC's UI-facing certificate), as apicServerCaProblems
 * refuses an offline one: anyone with a key under it could pose as APIC to the UI sidecars. Their
 * certificates exist only once the stack has made them, so the stack checks this when they resolve.
 * Compared by key, as apicServerCaProblems does: an earlier certificate of a root re-issued in place
 * (new dates, same key), or a root a staged rotation retired, is trusted as much as the root.
 */
export function apicServerCaInStateProblems(apicServerCa: string, roots: readonly StackRoot[]): string[] {
    const given = pemCertificates(apicServerCa);
    return roots.flatMap((root) => {
        const cert = "certPem" in root ? pemCertificates(root.certPem)[0] : undefined;
        const spki = "certPem" in root ? cert && spkiPin(cert.publicKey) : root.retiredSpki;
        const match = given.find((c) => spkiPin(c.publicKey) === spki);
        if (match === undefined) return [];
        const title = ROOT_TITLES[root.slot];
        const shown =
            cert === undefined
                ? `retired ${title} ${root.id} (${subjectOf(match)})`
                : `${title} ${root.id} (${subjectOf(cert)})` +
                  (match.fingerprint256 === cert.fingerprint256 ? "" : ", in another certificate of its key");
        const holders =
            (cert === undefined ? RETIRED_ROOT_KEYS[root.slot] : IN_STATE_ROOT_KEYS[root.slot]) ??
            (cert === undefined
                ? "its key and the keys under it were in the Pulumi state: whoever kept a copy of it"
                : "its key is in the Pulumi state: whoever reads it");
        return [
            `pki:frontEnd.apicServerCa holds this stack's ${shown}; ${holders} ` +
                "could mint a certificate for APIC's hosts that the UI services' sidecars would take for APIC's. " +
                "Give the root of APIC's UI-facing certificate, or leave pki:frontEnd.apicServerCa unset for this PKI's server root",
        ];
    });
}

const pemCertificates = (pem: string): crypto.X509Certificate[] =>
    pemBlocks(pem, "CERTIFICATE").map((block) => new crypto.X509Certificate(block));
