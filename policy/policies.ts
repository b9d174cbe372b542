/**
 * Guardrails for stacks built with this package (or any program using @pulumi/tls and
 * Kubernetes Secrets and ConfigMaps): stop unsafe keys and certificates before they are created. Pure policy
 * objects, so they can be tested without a policy host; policy/index.ts makes them a pack.
 */
import * as crypto from "crypto";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { AsnConvert } from "@peculiar/asn1-schema";
import * as policy from "@pulumi/policy";
import { DEFAULT_KEY_SECRET_NAMESPACES, ISTIO_CA_SECRET_SUFFIX, MESH_CA_SECRET } from "../lib/config/values";
import { holdsPrivateKey, privateKeyPaths } from "../lib/pki/keyMaterial";
import { pastedKeyProblem, pastedPrivateKey, pemBlocks, pemBlocksInOrder, pemDecode } from "../lib/pki/pem";
import { mozillaRootCertificates, publicRootsAnchor } from "../lib/pki/publicCert";
import { CLOCK_SKEW_MS, DAY_MS, parseCrl } from "../lib/pki/crl";
import { signedNoCrl } from "../lib/pki/crlSeries";
import { CERTIFICATE_LABELS, certificateDerOf, PRIVATE_KEY_FORMS } from "../lib/pki/der";
import {
    ANY_EXTENDED_KEY_USAGE,
    issuerDatesProblem,
    LEAF_PURPOSES,
    pathLengthProblem,
    signatureProblem,
    signingCaProblem,
} from "../lib/pki/issuerChecks";
import { caFlags, crlBundleProblem, rootsWithCrlProblem } from "../lib/pki/trustBundle";
import {
    expiredAt,
    isRootCopy,
    isSelfSigned,
    issuerDerOf,
    notYetValidAt,
    signedBy,
    subjectDerOf,
    subjectOf,
} from "../lib/pki/x509";
import { spkiPin } from "../lib/pki/pins";

/** Pack-wide settings, overridable per policy with `pulumi preview --policy-pack-config`. */
export const DEFAULTS = {
    leafMaxDays: 398,
    keySecretNamespaces: [...DEFAULT_KEY_SECRET_NAMESPACES],
    allowSharedRoot: false,
};

const KEY = "tls:index/privateKey:PrivateKey";
const SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert";
const LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert";
const CSR = "tls:index/certRequest:CertRequest";
/** A Secret, and the server-side-apply patch of one (@pulumi/kubernetes 4): a patch writes its keys into the Secret. */
const SECRETS = ["kubernetes:core/v1:Secret", "kubernetes:core/v1:SecretPatch"];
/** A ConfigMap, and the server-side-apply patch of one (@pulumi/kubernetes 4). */
const CONFIG_MAPS = ["kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ConfigMapPatch"];

type Props = Record<string, unknown>;
const isCert = (type: string): boolean => type === SELF_SIGNED || type === LOCALLY_SIGNED;
const uses = (props: Props): string[] => (Array.isArray(props.allowedUses) ? (props.allowedUses as string[]) : []);
/**
 * A certificate's allowedUses (uses), or undefined while a preview does not know them or one of them:
 * read bare in a stack rule, the SDK would turn the whole rule into "can't run". Spread: each element
 * read, so one not known yet reads as the whole not known.
 */
const knownUses = (props: Props): string[] | undefined => known(() => [...uses(props)]) as string[] | undefined;
/**
 * The usages with which a TLS peer may accept a certificate as a leaf, isCaCertificate or not:
 * server_auth or client_auth, and the key usages a TLS key needs (to sign the handshake, or for an
 * RSA or DH key exchange). With no extended key usage at all, Envoy and OpenSSL accept one with
 * digital_signature as a server and a client leaf: no extended key usage is no restriction.
 */
const TLS_USES = ["digital_signature", "key_encipherment", "key_agreement", "server_auth", "client_auth"];
const tlsUses = (props: Props): string[] => uses(props).filter((x) => TLS_USES.includes(x));

/**
 * A key's strength as RSA bits, with what the provider does with an unset rsaBits/ecdsaCurve (2048,
 * and P224!). An algorithm the pack does not know has none: it is refused, not taken on trust.
 */
function keyStrength(props: Props): { bits: number; text: string } {
    if (props.algorithm === "RSA") {
        const bits = Number(props.rsaBits ?? 2048);
        return { bits, text: `RSA ${bits}` };
    }
    if (props.algorithm === "ECDSA") {
        const curve = String(props.ecdsaCurve ?? "P224");
        // Symmetric-equivalent strength mapped onto RSA sizes (NIST SP 800-57): P256 ~ 3072.
        const bits: Record<string, number> = { P224: 2048, P256: 3072, P384: 7680, P521: 15360 };
        return { bits: curve === "P224" ? 0 : (bits[curve] ?? 0), text: `ECDSA ${curve}` };
    }
    // As strong as RSA 3072 (NIST SP 800-186); ca-key-strength refuses it all the same.
    if (props.algorithm === "ED25519") return { bits: 3072, text: "ED25519" };
    return { bits: 0, text: `${String(props.algorithm)} (an algorithm the pack does not know)` };
}

/** Node's names of the curves @pulumi/tls offers, as it names them. */
const CURVES: Record<string, string> = { secp224r1: "P224", prime256v1: "P256", secp384r1: "P384", secp521r1: "P521" };

/** keyStrength of a key given as PEM, as Node reads it. */
function pemKeyStrength(key: crypto.KeyObject): { bits: number; text: string } {
    const details = key.asymmetricKeyDetails;
    if (key.asymmetricKeyType === "rsa") return keyStrength({ algorithm: "RSA", rsaBits: details?.modulusLength });
    if (key.asymmetricKeyType === "ed25519") return keyStrength({ algorithm: "ED25519" });
    if (key.asymmetricKeyType === "ec") {
        const curve = CURVES[details?.namedCurve ?? ""];
        if (curve !== undefined) return keyStrength({ algorithm: "ECDSA", ecdsaCurve: curve });
        return {
            bits: 0,
            text: `ECDSA ${details?.namedCurve ?? "(explicit parameters)"} (a curve the pack does not know)`,
        };
    }
    return { bits: 0, text: `${String(key.asymmetricKeyType).toUpperCase()} (an algorithm the pack does not know)` };
}

/** A private key given as PEM, or undefined while unknown or unreadable (the provider refuses that itself). */
function pemPrivateKey(pem: unknown): crypto.KeyObject | undefined {
    if (typeof pem !== "string") return undefined;
    try {
        return crypto.createPrivateKey(pem);
    } catch {
        return undefined;
    }
}

export const keyStrengthPolicy: policy.ResourceValidationPolicy = {
    name: "private-key-strength",
    description:
        "RSA keys have at least 2048 bits; ECDSA keys use P-256 or stronger (the provider's default is P-224): a tls.PrivateKey, a key given as PEM to a CertRequest or SelfSignedCert (privateKeyPem or the write-only privateKeyPemWo), and the key of a CSR given as PEM to a LocallySignedCert.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (args.type === KEY) {
            const { bits, text } = keyStrength(args.props);
            // The provider's default curve is the weak one: say so where it was left to the default.
            const defaultCurve = args.props.algorithm === "ECDSA" && args.props.ecdsaCurve === undefined;
            if (bits < 2048)
                report(
                    `${args.name}: ${text} is too weak; use RSA 2048+ or ECDSA P256+${defaultCurve ? " (set ecdsaCurve: the default is P224)" : ""}`,
                );
            return;
        }
        if (args.type === LOCALLY_SIGNED) {
            // A CSR given as PEM (from a file, config or a StackReference): its key is in no resource of the stack.
            // One a tls.CertRequest makes is unknown in a preview, and its key is checked as that request's.
            const given = givenKey(args);
            const strength = given && pemKeyStrength(given.key);
            if (given !== undefined && strength !== undefined && strength.bits < 2048) {
                report(
                    `${args.name}: the key in ${given.where} is ${strength.text}, too weak; use RSA 2048+ or ECDSA P256+`,
                );
            }
            return;
        }
        if (args.type !== CSR && args.type !== SELF_SIGNED) return;
        // A key from config, a file or a StackReference; a tls.PrivateKey's is unknown in a preview until it exists.
        const { pem, input } = keyInputOf(args);
        const key = pemPrivateKey(pem);
        if (key === undefined) return;
        const { bits, text } = pemKeyStrength(key);
        if (bits < 2048)
            report(`${args.name}: the key in its ${input} is ${text}, too weak; use RSA 2048+ or ECDSA P256+`);
    },
};

/**
 * The inputs by which a SelfSignedCert or CertRequest is given its key: privateKeyPem, or the
 * write-only privateKeyPemWo (@pulumi/tls 5.6, never kept in state), exactly one of them.
 */
const KEY_INPUTS = ["privateKeyPem", "privateKeyPemWo"] as const;

/**
 * The key PEM a SelfSignedCert or CertRequest is given (privateKeyPem, else privateKeyPemWo, as
 * the provider reads it), with the input's name; `pem` undefined while a preview does not know it.
 */
function keyInputOf(r: Pick<policy.PolicyResource, "props">): { pem: unknown; input: string } {
    for (const input of KEY_INPUTS) {
        const pem = known(() => r.props[input]);
        if (pem !== undefined) return { pem, input };
    }
    return { pem: undefined, input: KEY_INPUTS[0] };
}

/** The resource a SelfSignedCert's or CertRequest's key comes from, by either key input (KEY_INPUTS). */
const keyDependencyOf = (r: policy.PolicyResource): policy.PolicyResource | undefined =>
    KEY_INPUTS.map((input) => r.propertyDependencies[input]?.[0]).find((d) => d !== undefined);

/**
 * The tls.PrivateKey a certificate certifies: self-signed -> its key; locally signed -> its CSR's
 * key (by privateKeyPem or privateKeyPemWo). Not another resource a key's PEM may come from: its
 * props say nothing of the key.
 */
function keyOf(cert: policy.PolicyResource): policy.PolicyResource | undefined {
    const csr = cert.propertyDependencies.certRequestPem?.[0];
    const key =
        cert.type === SELF_SIGNED ? keyDependencyOf(cert) : csr?.type === CSR ? keyDependencyOf(csr) : undefined;
    return key?.type === KEY ? key : undefined;
}

/**
 * Whether a certificate resource is a CA (isCaCertificate true; unset is a leaf), or undefined while a
 * preview does not know it (an output, say): read bare, the SDK would turn the whole rule into
 * "can't run". A check that needs it leaves such a certificate to `pulumi up`; the others still run.
 */
function isCaOf(cert: { props: Props }): boolean | undefined {
    try {
        return cert.props.isCaCertificate === true;
    } catch (e) {
        if (e instanceof policy.UnknownValueError) return undefined;
        throw e;
    }
}

/** A property's value, or undefined while the preview does not know it (an output of a resource not yet made). */
function known(read: () => unknown): unknown {
    try {
        return read();
    } catch (e) {
        if (e instanceof policy.UnknownValueError) return undefined;
        throw e;
    }
}

/**
 * The public key of a certificate (a CA's, or a leaf's CSR) given as PEM rather than by a
 * tls.PrivateKey (from config, a file, a StackReference): a self-signed one's privateKeyPem (or
 * privateKeyPemWo: keyInputOf), a locally signed one's CSR's, or its certRequestPem (read as such when
 * `propertyDependencies` are not known, as a resource rule has them). With where it is, for the
 * message; undefined while unknown, or unreadable (the provider refuses that itself).
 */
function givenKey(
    cert: Pick<policy.PolicyResource, "type" | "props"> & Partial<Pick<policy.PolicyResource, "propertyDependencies">>,
): { key: crypto.KeyObject; where: string } | undefined {
    const csr = cert.propertyDependencies?.certRequestPem?.[0];
    const given = cert.type === SELF_SIGNED ? keyInputOf(cert) : csr?.type === CSR ? keyInputOf(csr) : undefined;
    const [pem, where, isCsr] =
        cert.type === SELF_SIGNED
            ? [given?.pem, `its ${given?.input}`, false]
            : csr?.type === CSR
              ? [given?.pem, `the ${given?.input} of ${csr.name}`, false]
              : [known(() => cert.props.certRequestPem), "its certRequestPem", true];
    if (typeof pem !== "string") return undefined;
    try {
        const spki = () =>
            AsnConvert.serialize(
                AsnConvert.parse(pemDecode(pem, "CERTIFICATE REQUEST"), CertificationRequest).certificationRequestInfo
                    .subjectPKInfo,
            );
        const key = isCsr
            ? crypto.createPublicKey({ key: Buffer.from(spki()), format: "der", type: "spki" })
            : crypto.createPublicKey(pem);
        return { key, where };
    } catch {
        return undefined;
    }
}

/** What the CA rule finds wrong with a CA key given as PEM: the limits of a tls.PrivateKey's, and exponent 65537. */
function givenKeyProblem(key: crypto.KeyObject): string | undefined {
    const { bits, text } = pemKeyStrength(key);
    if (bits < 3072 || key.asymmetricKeyType === "ed25519")
        return `is ${text}; CA keys must be RSA 3072+ or ECDSA P256+`;
    const exponent = key.asymmetricKeyDetails?.publicExponent;
    // With exponent 1 a signature is the padded hash itself: anyone could sign as the CA (lib/pki/ceremony.ts).
    if (key.asymmetricKeyType === "rsa" && exponent !== 65537n)
        return (
            `is ${text} with public exponent ${exponent}; a CA's RSA key must have exponent 65537, ` +
            "what every key generator makes (with exponent 1 anyone could sign as the CA)"
        );
    return undefined;
}

/**
 * The certificate resource a certificate's caCertPem comes from, when the stack makes its issuer.
 * The engine records every resource caCertPem is made from: a component's checked issuer
 * (lib/components/keys.ts, checkedIssuer) depends on the issuer's chain and root too. Among several
 * certificates, the one whose certPem is the certificate of caCertPem, when both are known (pulumi up);
 * else (a preview) the first.
 */
function issuerOf(cert: policy.PolicyResource): policy.PolicyResource | undefined {
    const certs = cert.propertyDependencies.caCertPem?.filter((r) => isCert(r.type)) ?? [];
    if (certs.length < 2) return certs[0];
    const issuer = pemCertificate(known(() => cert.props.caCertPem));
    const made = (r: policy.PolicyResource) => pemCertificate(known(() => r.props.certPem));
    return (issuer && certs.find((r) => made(r)?.raw.equals(issuer.raw))) ?? certs[0];
}

/** A certificate given as PEM (its first), or undefined while unknown or unreadable. */
function pemCertificate(pem: unknown): crypto.X509Certificate | undefined {
    if (typeof pem !== "string") return undefined;
    try {
        return new crypto.X509Certificate(pem);
    } catch {
        return undefined;
    }
}

export const caKeyStrengthPolicy: policy.StackValidationPolicy = {
    name: "ca-key-strength",
    description:
        "CA keys are RSA 3072+ or ECDSA P-256+: not Ed25519, nor an algorithm the pack does not know; a key given as PEM also has RSA exponent 65537.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
        for (const cert of args.resources.filter((r) => isCert(r.type) && isCaOf(r) === true)) {
            const key = keyOf(cert);
            if (key === undefined) {
                // A key given as PEM; one the ceremony made offline has no certificate resource here.
                const given = givenKey(cert);
                const problem = given && givenKeyProblem(given.key);
                if (problem !== undefined) report(`${cert.name}: the CA key in ${given?.where} ${problem}`);
                continue;
            }
            // Its algorithm, rsaBits or ecdsaCurve not known yet in a preview: pulumi up checks this key, the rule the others.
            const strength = known(() => ({ ...keyStrength(key.props), algorithm: key.props.algorithm })) as
                { bits: number; text: string; algorithm: unknown } | undefined;
            if (strength === undefined) continue;
            const { bits, text, algorithm } = strength;
            // The CA rule admits RSA and ECDSA alone, as the offline ceremony does (lib/pki/ceremony.ts).
            if (bits < 3072 || algorithm === "ED25519")
                report(`${cert.name}: the CA key ${key.name} is ${text}; CA keys must be RSA 3072+ or ECDSA P256+`);
        }
        // The key that signs, where the issuer is no CA certificate of the stack (whose key is checked above): a
        // CA given as PEM (an external root, an offline-signed CA). Read from caCertPem, not the secret
        // caPrivateKeyPem: Go's x509.CreateCertificate refuses a key that is not its certificate's.
        for (const cert of args.resources.filter((r) => r.type === LOCALLY_SIGNED)) {
            const signer = issuerOf(cert);
            if (signer !== undefined && isCaOf(signer) === true) continue;
            const issuer = pemCertificate(known(() => cert.props.caCertPem));
            const problem = issuer && givenKeyProblem(issuer.publicKey);
            if (issuer !== undefined && problem !== undefined)
                report(`${cert.name}: the CA key that signs it, of its caCertPem (${subjectOf(issuer)}), ${problem}`);
        }
    },
};

/**
 * What is wrong with the CA certificate a certificate is signed under, by that certificate alone
 * (a CA given as PEM, whose path the pack does not see), as the components refuse it: expired, not
 * valid yet (a CA dated up to CLOCK_SKEW_MS ahead is only a clock ahead), no CA (CA:FALSE) or one
 * without keyCertSign, signed with a hash collisions have broken, or with a pathlen that allows no
 * CA below it when the certificate is a CA (`signsCa`). Then BoringSSL, OpenSSL or Go refuse every
 * certificate it signs.
 */
function issuingCaProblem(ca: crypto.X509Certificate, now: Date, signsCa: boolean): string | undefined {
    const where = `the CA of its caCertPem (${subjectOf(ca)})`;
    const placed = () => where;
    return (
        issuerDatesProblem({ certs: [ca] }, now, placed) ??
        signingCaProblem(ca, where) ??
        // A self-signed CA's own signature is checked by no verifier; the chain above one given as PEM is not seen.
        signatureProblem([ca], undefined, false, placed) ??
        // Its pathlen against the CA signed here; the CAs the stack makes below that, ca-path-length counts.
        pathLengthProblem([ca], undefined, signsCa, false, placed)
    );
}

export const issuingCaCertificatePolicy: policy.ResourceValidationPolicy = {
    name: "issuing-ca-certificate",
    description:
        "The CA certificate a LocallySignedCert is signed under (its caCertPem, when known: a CA given as PEM, or one the stack has made) is valid now (one dated up to 5 minutes ahead is allowed), a version 3 CA (CA:TRUE; not a version 1 root without basicConstraints, which Envoy would take) with keyCertSign, unless self-signed not signed with SHA-1 or MD5, and, when the LocallySignedCert is a CA (isCaCertificate), without a pathlen of 0: verifiers refuse every certificate it signs.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (args.type !== LOCALLY_SIGNED) return;
        const ca = pemCertificate(known(() => args.props.caCertPem));
        const problem = ca && issuingCaProblem(ca, new Date(), isCaOf(args) === true);
        if (problem !== undefined) report(`${args.name}: ${problem}`);
    },
};

export const leafValidityPolicy: policy.ResourceValidationPolicy = {
    name: "leaf-max-validity",
    description:
        "No leaf certificate (any with server_auth, client_auth, digital_signature, key_encipherment or key_agreement, even a CA) is valid longer than leafMaxDays (default 398, the CA/Browser Forum limit).",
    enforcementLevel: "mandatory",
    configSchema: { properties: { leafMaxDays: { type: "integer", minimum: 1, default: DEFAULTS.leafMaxDays } } },
    validateResource: (args, report) => {
        // A certificate with a TLS use is a leaf whatever isCaCertificate says; without one, a CA or one not known yet is left alone.
        if (!isCert(args.type) || (isCaOf(args) !== false && tlsUses(args.props).length === 0)) return;
        const max = leafMaxDaysOf(args);
        const days = Number(args.props.validityPeriodHours) / 24;
        if (days > max)
            report(
                `${args.name}: ${leafTooLong(days, max)}; lower its validityPeriodHours ` +
                    "(made by a component of this package, such as IstioGatewayTls or ApicClientBundle: the component's validityDays; " +
                    "by a stack of this package: pki:validityDays.leaf)",
            );
    },
};

/** leaf-max-validity's limit, as a rule's config sets it. */
const leafMaxDaysOf = (args: { getConfig<T extends object>(): T }): number =>
    args.getConfig<{ leafMaxDays?: number }>().leafMaxDays ?? DEFAULTS.leafMaxDays;
/** leaf-max-validity's refusal of a leaf valid `days` days, past `max`. */
const leafTooLong = (days: number, max: number): string => `a leaf valid ${days} days exceeds the ${max}-day maximum`;

export const rootPathLengthPolicy: policy.ResourceValidationPolicy = {
    name: "root-path-length",
    description:
        "A self-signed CA limits its path length (maxPathLength >= 1; 0 means no limit in @pulumi/tls); ca-path-length holds the limit against the CA levels below it.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (args.type !== SELF_SIGNED || isCaOf(args) !== true) return;
        const n = args.props.maxPathLength;
        if (typeof n !== "number" || n < 1) {
            report(
                `${args.name}: maxPathLength ${String(n)} sets no limit (0 and unset both mean none in @pulumi/tls); ` +
                    "set the number of CA levels below it, at least 1 (2 for a root above a policy CA above issuing CAs)",
            );
        }
    },
};

/**
 * A CA's path length limit: its maxPathLength, when it sets one (0 and unset set none in @pulumi/tls).
 * Undefined too while a preview does not know it: pulumi up checks that CA, the rule the others.
 */
function pathLengthLimitOf(cert: policy.PolicyResource): number | undefined {
    const n = known(() => cert.props.maxPathLength);
    return isCaOf(cert) === true && typeof n === "number" && n >= 1 ? n : undefined;
}

/**
 * The deepest line of CA certificates the stack makes below a CA (`issuedBy`: the certificates
 * each signs, by URN), from the one it signs down: its length is the CAs between it and the
 * leaves at the bottom, what its pathlen must allow. Empty for a CA that signs no CA.
 */
function deepestCasBelow(
    ca: policy.PolicyResource,
    issuedBy: ReadonlyMap<string, policy.PolicyResource[]>,
    seen: ReadonlySet<string> = new Set(),
): policy.PolicyResource[] {
    let deepest: policy.PolicyResource[] = [];
    for (const child of issuedBy.get(ca.urn) ?? []) {
        if (isCaOf(child) !== true || seen.has(child.urn)) continue;
        const line = [child, ...deepestCasBelow(child, issuedBy, new Set([...seen, ca.urn, child.urn]))];
        if (line.length > deepest.length) deepest = line;
    }
    return deepest;
}

export const caPathLengthPolicy: policy.StackValidationPolicy = {
    name: "ca-path-length",
    description:
        "A CA that limits its path length (maxPathLength, a root's or another CA's) allows as many CA levels below it as the stack puts there: OpenSSL and Go refuse every certificate signed below the limit.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
        const issuedBy = new Map<string, policy.PolicyResource[]>();
        for (const cert of args.resources.filter((r) => isCert(r.type))) {
            const issuer = issuerOf(cert)?.urn;
            if (issuer !== undefined) issuedBy.set(issuer, [...(issuedBy.get(issuer) ?? []), cert]);
        }
        for (const ca of args.resources.filter((r) => isCert(r.type))) {
            const limit = pathLengthLimitOf(ca);
            const below = deepestCasBelow(ca, issuedBy);
            if (limit === undefined || below.length <= limit) continue;
            // The CA one level past the limit: a certificate it or a CA below it signs has too many CAs above.
            const first = below[limit].name;
            const refusers =
                ca.type === SELF_SIGNED
                    ? `OpenSSL and Go (istiod) would refuse every certificate ${first} or a CA below it signs ("path length constraint exceeded"; Envoy's BoringSSL alone ignores a trust anchor's pathlen)`
                    : `OpenSSL, Go (istiod) and Envoy's BoringSSL would refuse every certificate ${first} or a CA below it signs ("path length constraint exceeded")`;
            report(
                `${ca.name}: maxPathLength ${limit} allows ${limit === 1 ? "1 CA level" : `${limit} CA levels`} below it, but the stack puts ${below.length} there ` +
                    `(${below.map((r) => r.name).join(" above ")}): ${refusers}; set its maxPathLength to ${below.length} or more, or sign ${first} higher up`,
            );
        }
    },
};

/** The key usages of @pulumi/tls' allowedUses: any of them makes a certificate's key usage extension. */
const KEY_USAGES = [
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "cert_signing",
    "crl_signing",
    "encipher_only",
    "decipher_only",
];

/**
 * The key usage a TLS peer needs in a leaf that has any: digital_signature, server and client alike.
 * BoringSSL's handshake (Envoy's) refuses a leaf without it (KEY_USAGE_BIT_INCORRECT): in TLS 1.3
 * every leaf signs the handshake, an RSA key exchange is gone, and a client refuses key_agreement
 * alone in TLS 1.2 too. The X.509 purpose check (check_purpose_ssl_client and _server) is looser: it
 * takes key_agreement for a client, key_encipherment or key_agreement for a server.
 */
const PEER_KEY_USAGE = "digital_signature";

/** Why a CA needs each signing usage, as certificate-usages says it. */
const CA_USAGE_REASONS: Record<string, string> = {
    cert_signing: "without cert_signing (keyCertSign) verifiers refuse every certificate it signs",
    crl_signing:
        "without crl_signing (cRLSign) verifiers refuse the CRLs it signs, and Envoy, which checks the CRL of every CA of a chain when given any, then refuses every certificate it issued",
};

/** Why a leaf must not have each signing usage, as certificate-usages says it. */
const LEAF_SIGNING_REASONS: Record<string, string> = {
    cert_signing:
        "RFC 5280 allows cert_signing (keyCertSign) only with CA:TRUE, and OpenSSL's strict check refuses a leaf with it",
    crl_signing:
        "crl_signing (cRLSign) is deliberately refused though RFC 5280 allows an indirect CRL issuer: each CA here signs its own CRLs, and Envoy reads no indirect CRL",
};

export const certificateUsagePolicy: policy.ResourceValidationPolicy = {
    name: "certificate-usages",
    description:
        "CA certificates have cert_signing and crl_signing, and no usage with which a TLS peer may accept them as a leaf (server_auth, client_auth, digital_signature, key_encipherment, key_agreement); leaves have neither signing usage, exactly one of server_auth and client_auth, and, with any key usage, digital_signature (TLS 1.3 peers refuse a leaf without it, server or client).",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!isCert(args.type)) return;
        const u = uses(args.props);
        const isCa = isCaOf(args);
        // Every check below is a CA's or a leaf's: one a preview does not know yet, pulumi up judges.
        if (isCa === undefined) return;
        if (isCa) {
            const missing = ["cert_signing", "crl_signing"].filter((x) => !u.includes(x));
            if (missing.length > 0) {
                report(
                    `${args.name}: a CA certificate needs ${missing.join(" and ")}; its allowedUses are ${u.join(", ") || "none"}. ` +
                        missing.map((x) => CA_USAGE_REASONS[x]).join("; ") +
                        `; add ${missing.join(" and ")} to its allowedUses`,
                );
            }
            const tls = tlsUses(args.props);
            if (tls.length > 0) {
                report(
                    `${args.name}: a CA certificate must not have ${tls.join(" or ")}, with which TLS peers may accept it as a leaf; ` +
                        "set its allowedUses to cert_signing and crl_signing alone",
                );
            }
            return;
        }
        const signing = u.filter((x) => x === "cert_signing" || x === "crl_signing");
        if (signing.length > 0) {
            report(
                `${args.name}: a leaf (isCaCertificate not set) must not have ${signing.join(" or ")}; its allowedUses are ${u.join(", ")}. ` +
                    signing.map((x) => LEAF_SIGNING_REASONS[x]).join("; ") +
                    `; remove ${signing.join(" and ")} from its allowedUses, or set isCaCertificate if it is meant to be a CA`,
            );
        }
        const ekus = u.filter((x) => x === "server_auth" || x === "client_auth" || x === "any_extended");
        if (ekus.length !== 1 || ekus[0] === "any_extended") {
            report(
                `${args.name}: a leaf needs exactly one of server_auth and client_auth; has ${ekus.join(", ") || "none"}. ` +
                    "Deliberately stricter than Istio, whose workload certificates carry both: each leaf here is a server's " +
                    "(a gateway host, APIC's UI-facing host) or a client's (APIC's, a UI service's), so that its stolen key cannot " +
                    "also act in the other role; keep server_auth for a server or client_auth for a client, and issue another certificate for the other role",
            );
        }
        // With no key usage there is no extension, and no restriction; with some, TLS peers need digital_signature.
        const keyUsages = u.filter((x) => KEY_USAGES.includes(x));
        for (const eku of ["server_auth", "client_auth"]) {
            if (!u.includes(eku) || keyUsages.length === 0 || keyUsages.includes(PEER_KEY_USAGE)) continue;
            report(
                `${args.name}: TLS peers refuse a ${eku} leaf whose key usages (${keyUsages.join(", ")}) lack ${PEER_KEY_USAGE}, ` +
                    `which the leaf needs to sign the TLS 1.3 handshake (BoringSSL's KEY_USAGE_BIT_INCORRECT); add ${PEER_KEY_USAGE}`,
            );
        }
    },
};

/**
 * The entries of a Secret's or ConfigMap's map that hold a private key. `base64` maps (a Secret's
 * `data`, a ConfigMap's `binaryData`) are read both as the bytes they encode (DER) and as the text
 * those bytes are (PEM, or base64 once more); text maps as text. Entries a preview does not know yet
 * are skipped (knownPart): one unknown entry must not keep a known key beside it from being found.
 */
function keyEntries(map: unknown, encoding: "text" | "base64"): string[] {
    const entries = knownPart(map);
    if (typeof entries !== "object" || entries === null) return [];
    return Object.entries(entries)
        .filter(
            ([, v]) =>
                typeof v === "string" &&
                (holdsPrivateKey(v) ||
                    (encoding === "base64" && holdsPrivateKey(Buffer.from(v, "base64").toString("utf8")))),
        )
        .map(([k]) => k);
}

/**
 * The namespace a Kubernetes provider puts objects in that name none: its `namespace` setting. Without
 * one, its kubeconfig context's namespace (or "default") applies, which the engine does not send.
 * `notKnown`: set, but a preview does not know it yet (an output of a resource not yet made).
 */
function providerNamespace(provider: policy.PolicyProviderResource | undefined): {
    namespace: string | undefined;
    notKnown: boolean;
} {
    if (provider?.type !== "pulumi:providers:kubernetes") return { namespace: undefined, notKnown: false };
    // knownPart keeps a setting a preview does not know, without its value: reading it would throw.
    const settings = knownPart(provider.props) as Props;
    const namespace = settings.namespace;
    if (notKnownIn(settings, "namespace")) return { namespace: undefined, notKnown: true };
    return { namespace: typeof namespace === "string" && namespace !== "" ? namespace : undefined, notKnown: false };
}

/** Its provider's URN: objects of one name under two providers (two clusters) are two. */
const providerUrnOf = (r: { provider?: policy.PolicyProviderResource }): string => r.provider?.urn ?? "";

/** How a finding shows a namespace that is set but that a preview does not know yet (an auto-named Namespace's). */
const NAMESPACE_NOT_KNOWN = "(a namespace not known until the update)";

/**
 * Whether a Secret's metadata.name and namespace are istiod's cacerts (MESH_CA_SECRET): istiod reads
 * its plug-in CA there alone. By metadata.name, not the resource's name: without it Kubernetes names
 * the Secret cacerts-<random>, which istiod never reads. A part a preview does not know yet
 * (`notKnown`) may be cacerts's.
 */
function isMeshCaName(
    metadataName: unknown,
    namespace: string | undefined,
    notKnown: { name: boolean; namespace: boolean } = { name: false, namespace: false },
): boolean {
    return (
        (notKnown.name || metadataName === MESH_CA_SECRET.name) &&
        (notKnown.namespace || namespace === MESH_CA_SECRET.namespace)
    );
}

/**
 * A Kubernetes object's name (metadata.name, else its resource's) and namespace: metadata.namespace,
 * else its provider's (providerNamespace); undefined when neither is known, `unknownNamespace` telling
 * a namespace set but not known yet in a preview from one not given. `shown`: namespace/name, as a finding shows it.
 */
function objectNameOf(r: { name: string; props: Props; provider?: policy.PolicyProviderResource }): {
    name: string;
    namespace: string | undefined;
    unknownNamespace: boolean;
    shown: string;
} {
    const metadata = fieldsOf(knownPart(known(() => r.props.metadata)));
    const name = typeof metadata.name === "string" ? metadata.name : r.name;
    const fromProvider = providerNamespace(r.provider);
    // knownPart keeps a field a preview does not know, without its value; without one, the provider's may not be known.
    const unknownNamespace = "namespace" in metadata ? notKnownIn(metadata, "namespace") : fromProvider.notKnown;
    const namespace =
        typeof metadata.namespace === "string"
            ? metadata.namespace
            : unknownNamespace
              ? undefined
              : fromProvider.namespace;
    const shownNamespace = namespace ?? (unknownNamespace ? NAMESPACE_NOT_KNOWN : "(its provider's namespace)");
    return { name, namespace, unknownNamespace, shown: `${shownNamespace}/${name}` };
}

/**
 * keySecretNamespaces as a policy's config gives it: a list of namespaces where any Secret may hold a
 * key, or a map of namespace to the Secret names admitted there (`*` matches any characters; `["*"]`
 * admits any), so that a namespace shared with others (a customer-facing gateway's, a UI service's)
 * can be kept from the backend gateway's keys.
 */
type KeySecretNamespacesSetting = readonly string[] | Readonly<Record<string, readonly string[]>>;

/** The schema of keySecretNamespaces, in each policy that reads it. */
const KEY_SECRET_NAMESPACES_SCHEMA = {
    anyOf: [
        // A name "" is no namespace nor Secret name: it would admit nothing, and garble the messages.
        { type: "array" as const, items: { type: "string" as const, minLength: 1 } },
        {
            type: "object" as const,
            additionalProperties: {
                type: "array" as const,
                items: { type: "string" as const, minLength: 1 },
                minItems: 1,
            },
        },
    ],
    default: DEFAULTS.keySecretNamespaces,
};

/** Whether `value` is a list of names, none empty (KEY_SECRET_NAMESPACES_SCHEMA's items). */
const isNameList = (value: unknown): value is readonly string[] =>
    Array.isArray(value) && value.every((name) => typeof name === "string" && name !== "");

/**
 * The namespaces keySecretNamespaces lists, and the Secret names it admits in each (undefined: any).
 * `malformed` says what is wrong with a setting KEY_SECRET_NAMESPACES_SCHEMA refuses, should the
 * policy host not hold it to the schema; the namespaces are then those of its well-formed part.
 */
function keySecretPlaces(setting: KeySecretNamespacesSetting | undefined): {
    namespaces: string[];
    namesIn: (namespace: string) => readonly string[] | undefined;
    malformed?: string;
} {
    const given: unknown = setting ?? DEFAULTS.keySecretNamespaces;
    const forms =
        'a list of namespaces (e.g. ["istio-system"]) or a map of each namespace to the Secret names it admits ' +
        '(e.g. {"istio-system": ["*"]}; * matches any characters, ["*"] admits any)';
    if (Array.isArray(given)) {
        const namespaces = given.filter((namespace) => isNameList([namespace]));
        if (namespaces.length === given.length) return { namespaces, namesIn: () => undefined };
        const malformed = `it is ${JSON.stringify(given)}, whose namespaces must be names, none empty; give it ${forms}`;
        return { namespaces, namesIn: () => undefined, malformed };
    }
    if (typeof given !== "object" || given === null)
        return {
            namespaces: [],
            namesIn: () => undefined,
            malformed: `it is ${JSON.stringify(given)}; give it ${forms}`,
        };
    const map = given as Readonly<Record<string, unknown>>;
    const bad = Object.entries(map).find(([, names]) => !isNameList(names) || names.length === 0);
    return {
        namespaces: Object.keys(map),
        namesIn: (namespace) => {
            const names = map[namespace];
            return !isNameList(names) || names.includes("*") ? undefined : names;
        },
        ...(bad && {
            malformed:
                `its namespace ${bad[0]} has ${JSON.stringify(bad[1])}, not a list of the Secret names it admits; ` +
                `give ${bad[0]} a list of one or more names, none empty (e.g. {"${bad[0]}": ["*"]} to admit any)`,
        }),
    };
}

/** Whether `name` matches `pattern`, whose `*` matches any characters (none too). */
const matchesName = (name: string, pattern: string): boolean =>
    new RegExp(
        `^${pattern
            .split("*")
            .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
            .join(".*")}$`,
    ).test(name);

/** The namespaces of keySecretPlaces as a message shows them: each with the names it admits, if not any. */
const shownPlaces = (places: ReturnType<typeof keySecretPlaces>): string =>
    places.namespaces
        .map((namespace) => {
            const names = places.namesIn(namespace);
            return names === undefined ? namespace : `${namespace} (${names.join(", ")} alone)`;
        })
        .join(", ");

export const keySecretPolicy: policy.ResourceValidationPolicy = {
    name: "private-key-secrets",
    description:
        "A Kubernetes Secret holding a private key (PEM, base64 DER, PKCS#12, a Java keystore or a JWK) is a kubernetes.io/tls secret or the Istio cacerts secret (metadata.name cacerts in istio-system), in the expected namespaces.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { keySecretNamespaces: KEY_SECRET_NAMESPACES_SCHEMA } },
    validateResource: (args, report) => {
        if (!SECRETS.includes(args.type)) return;
        // Read without what a preview does not know yet (knownPart): a wholly unknown map or namespace must not
        // keep a known key in the other map from being found.
        const props = knownPart(args.props) as {
            type?: string;
            data?: unknown;
            stringData?: unknown;
            metadata?: { name?: string; namespace?: string };
        };
        const entries = [...new Set([...keyEntries(props.data, "base64"), ...keyEntries(props.stringData, "text")])];
        if (entries.length === 0) return;
        const places = keySecretPlaces(
            args.getConfig<{ keySecretNamespaces?: KeySecretNamespacesSetting }>().keySecretNamespaces,
        );
        const namespaces = places.namespaces;
        const fromProvider = providerNamespace(args.provider);
        const [nameNotKnown, namespaceNotKnown, typeNotKnown] = [
            notKnownIn(props, "metadata") || notKnownIn(props.metadata, "name"),
            notKnownIn(props, "metadata") ||
                notKnownIn(props.metadata, "namespace") ||
                (props.metadata?.namespace === undefined && fromProvider.notKnown),
            notKnownIn(props, "type"),
        ];
        const namespace = namespaceNotKnown ? undefined : (props.metadata?.namespace ?? fromProvider.namespace);
        const name = props.metadata?.name ?? args.name;
        const key = `a private key (${entries.join(", ")})`;
        const belong = `keys belong only in ${shownPlaces(places)} (the pack's keySecretNamespaces)`;
        const admitted = namespace === undefined ? undefined : places.namesIn(namespace);
        // Whether keySecretNamespaces admits this Secret where it is: its namespace listed, and its name if names are.
        const admits =
            namespace !== undefined &&
            namespaces.includes(namespace) &&
            (admitted === undefined || admitted.some((pattern) => matchesName(name, pattern)));
        if (places.malformed !== undefined) {
            // Not judged on a setting the pack cannot read: refused until it is fixed.
            report(
                `${name}: ${key}, and the policy config's keySecretNamespaces (private-key-secrets) is malformed, so no Secret may hold a key: ` +
                    places.malformed,
            );
        } else if (namespaces.length === 0) {
            // Set so on purpose, to keep keys out of the clusters: there is no namespace to move it to.
            report(
                `${name}: ${key}${namespace === undefined ? "" : ` in namespace ${namespace}`}, and the pack's keySecretNamespaces is empty: no Secret may hold a key. ` +
                    "Take the key out, or list in keySecretNamespaces the namespaces where a gateway or sidecar must read one (its default is istio-system)",
            );
        } else if (namespaceNotKnown) {
            // The update, which knows it, checks it.
        } else if (namespace === undefined) {
            report(
                `${name}: ${key} with no metadata.namespace, under a provider that sets none (its kubeconfig context's applies, which the pack cannot see); ` +
                    `set metadata.namespace: ${belong}`,
            );
        } else if (isMeshCaName(props.metadata?.name, namespace) && !admits) {
            // istiod reads its plug-in CA in istio-system alone: there is nowhere to move it.
            const listed = namespaces.includes(namespace);
            report(
                `${name}: ${key} in istiod's plug-in CA Secret in ${namespace}` +
                    (listed
                        ? `, where the pack's keySecretNamespaces admits only Secrets named ${admitted?.join(", ")}`
                        : "") +
                    `; ${belong}. istiod reads ${MESH_CA_SECRET.name} in ${MESH_CA_SECRET.namespace} alone, so it cannot move: ` +
                    (listed
                        ? `add ${MESH_CA_SECRET.name} (or *) to keySecretNamespaces' ${MESH_CA_SECRET.namespace}`
                        : `add ${MESH_CA_SECRET.namespace} to keySecretNamespaces`),
            );
        } else if (!namespaces.includes(namespace)) {
            // The pack cannot see a stack's config: a gateway moved out of istio-system is known by its Secrets alone.
            report(
                `${name}: ${key} in namespace ${namespace}; ${belong}. Move it there, or, if a gateway or sidecar must read it in ${namespace} ` +
                    `(a stack's pki:gatewayNamespace, pki:frontEnd.customerFacingGateway.namespace or front-end UI namespace, or such a namespace of your program's), add ${namespace} to keySecretNamespaces`,
            );
        } else if (!admits) {
            // A namespace shared with others' keys (a customer-facing gateway's): its Secrets by name, so that
            // the backend gateway's keys (apic-mtls-*) cannot sit where the internet-facing gateway reads them.
            report(
                `${name}: ${key} in namespace ${namespace}, where the pack's keySecretNamespaces admits only Secrets named ${admitted?.join(", ")}; ` +
                    `${belong}. Move it to the namespace where its gateway or sidecar reads it, or, if one must read it in ${namespace}, ` +
                    `add its name (or a pattern, * for any characters) to keySecretNamespaces' ${namespace}`,
            );
        }
        // A patch that leaves out the type keeps the Secret's own, which the preview cannot see.
        const patchKeepsType = args.type.endsWith("Patch") && props.type === undefined;
        // istiod's plug-in CA (MeshPluginCa writes it) is an Opaque Secret, whose keys are no kubernetes.io/tls Secret's.
        // Named so, not by its resource name: without metadata.name Kubernetes gets cacerts-<random>, which istiod never reads.
        // Checked by the update too when the preview cannot tell whether it is, or what type it has.
        const mayBeIstiodCa = isMeshCaName(props.metadata?.name, namespace, {
            name: nameNotKnown,
            namespace: namespaceNotKnown,
        });
        if (props.type !== "kubernetes.io/tls" && !mayBeIstiodCa && !patchKeepsType && !typeNotKnown) {
            report(
                `${name}: ${key} in a secret of type ${props.type ?? "Opaque"}; use kubernetes.io/tls ` +
                    `(or Istio's cacerts: metadata.name ${MESH_CA_SECRET.name} in ${MESH_CA_SECRET.namespace})`,
            );
        }
    },
};

/**
 * The texts of an object's entries a preview knows, from its maps `maps` names in order (a later
 * one's entry over an earlier one's): `text` maps as they are, `base64` maps decoded.
 */
function knownTexts(props: Props, maps: [string, "text" | "base64"][]): Record<string, string> {
    const texts: Record<string, string> = {};
    for (const [map, encoding] of maps) {
        const entries = knownPart(known(() => props[map]));
        if (typeof entries !== "object" || entries === null) continue;
        for (const [key, value] of Object.entries(entries))
            if (typeof value === "string")
                texts[key] = encoding === "base64" ? Buffer.from(value, "base64").toString("utf8") : value;
    }
    return texts;
}

/** The texts of a Secret's entries a preview knows: `stringData` as it is (over `data`), `data` decoded from base64. */
const knownSecretTexts = (props: Props): Record<string, string> =>
    knownTexts(props, [
        ["data", "base64"],
        ["stringData", "text"],
    ]);

/** The entries servedCertificateTexts reads the certificate Istio serves from. */
const SERVED_ENTRIES = ["cert", "key", "tls.crt"];

/**
 * Whether one of a Secret's entries `names` may be given but not known yet in a preview: given with
 * a value not known, or in a whole data or stringData map not known. knownSecretTexts leaves these
 * out, as if absent.
 */
function givenNotKnown(props: Props, names: readonly string[]): boolean {
    return ["data", "stringData"].some((map) => {
        // Given but not known yet: knownPart keeps the key, its value undefined (the engine sends no undefined).
        const entries = knownPart(known(() => props[map]));
        if (entries === undefined) return map in props;
        return (
            typeof entries === "object" &&
            entries !== null &&
            names.some((name) => name in entries && (entries as Record<string, unknown>)[name] === undefined)
        );
    });
}

/**
 * Whether a preview may hide the certificate Istio serves from a Secret (servedCertificateTexts):
 * cert, key or tls.crt not known yet. A Secret that seems to serve nothing may serve one.
 */
const servedNotKnown = (props: Props): boolean => givenNotKnown(props, SERVED_ENTRIES);

/**
 * Whether a Secret's data and stringData come from certificates this program makes for clientAuth
 * alone, so that the certificate it serves is a client's though a preview does not know it yet: they
 * depend on at least one tls certificate whose allowedUses (known in a preview) have client_auth and
 * neither server_auth nor any_extended (as servedServerUse judges a known one), on other tls
 * certificates only if they are CAs of its chain (isCaCertificate known true, allowedUses known with
 * none of those three), and on nothing else but tls private keys (its tls.key). The engine records
 * dependencies by property, not by entry: any other resource may be where the certificate comes from.
 */
function fromClientCertificatesAlone(r: Partial<Pick<policy.PolicyResource, "propertyDependencies">>): boolean {
    const sources = ["data", "stringData"].flatMap((map) => r.propertyDependencies?.[map] ?? []);
    // Spread: each element read, so one not known yet reads as the whole not known.
    const allowedOf = (cert: policy.PolicyResource) => knownUses(cert.props);
    const forClientAlone = (cert: policy.PolicyResource) => {
        const allowed = allowedOf(cert);
        return (
            allowed !== undefined &&
            allowed.includes("client_auth") &&
            !allowed.includes("server_auth") &&
            !allowed.includes("any_extended")
        );
    };
    // A chain's CA (tls.crt = leaf + intermediate): usable by no TLS peer as its own certificate.
    const caOfChain = (cert: policy.PolicyResource) => {
        const allowed = allowedOf(cert);
        return (
            isCaOf(cert) === true &&
            allowed !== undefined &&
            !["client_auth", "server_auth", "any_extended"].some((use) => allowed.includes(use))
        );
    };
    return (
        sources.some((s) => isCert(s.type) && forClientAlone(s)) &&
        sources.every((s) => s.type === KEY || (isCert(s.type) && (forClientAlone(s) || caOfChain(s))))
    );
}

/**
 * The texts of a ConfigMap's entries a preview knows: `data` as it is, `binaryData` decoded from
 * base64. Istio reads a ConfigMap's CA from `data` alone (ExtractRootFromString(cm.Data)); a bundle
 * in `binaryData` is judged too, on the safe side: moved to `data`, it would be trusted.
 */
const knownConfigMapTexts = (props: Props): Record<string, string> =>
    knownTexts(props, [
        ["binaryData", "base64"],
        ["data", "text"],
    ]);

/** A block of a trust entry Envoy reads as a certificate: its position among the text's PEM blocks, its label, and the certificate or why it cannot be read. */
interface TrustBlock {
    at: number;
    label: string;
    cert?: crypto.X509Certificate;
    unreadable?: string;
}

/**
 * Each block of a trust entry's text that Envoy reads as a certificate (a label of
 * CERTIFICATE_LABELS), in order: the certificate (of a TRUSTED CERTIFICATE, the one before its
 * trust settings), or why it cannot be read. Never quotes the text.
 */
function trustEntryCertificates(text: string): TrustBlock[] {
    return pemBlocksInOrder(text).flatMap(({ label, pem, ended }, i): TrustBlock[] => {
        if (!CERTIFICATE_LABELS.includes(label)) return [];
        const at = i + 1;
        if (!ended) return [{ at, label, unreadable: "it has no END line (a text cut short)" }];
        let der: Buffer;
        try {
            der = pemDecode(pem, label);
        } catch (e) {
            return [{ at, label, unreadable: (e as Error).message }];
        }
        try {
            const certificate = certificateDerOf(label, der);
            if (certificate === undefined) throw new Error("no certificate before the trust settings");
            return [{ at, label, cert: new crypto.X509Certificate(certificate) }];
        } catch {
            return [{ at, label, unreadable: "it is no certificate (damaged)" }];
        }
    });
}

/** The certificates of a PEM text, in order; undefined when one of its blocks is no certificate. */
function pemCertificates(text: string): crypto.X509Certificate[] | undefined {
    const certs = pemBlocks(text, "CERTIFICATE").map(pemCertificate);
    return certs.length === 0 || certs.some((cert) => cert === undefined)
        ? undefined
        : (certs as crypto.X509Certificate[]);
}

/** The entries of istiod's cacerts besides ca-key.pem: the label of their blocks, and what to give. */
const CACERTS_PUBLIC_ENTRIES: Record<string, { label: string; give: string }> = {
    "ca-cert.pem": { label: "CERTIFICATE", give: "the CA's certificate" },
    "cert-chain.pem": {
        label: "CERTIFICATE",
        give: "ca-cert.pem, then each CA above it, up to a root of root-cert.pem",
    },
    "root-cert.pem": { label: "CERTIFICATE", give: "the certificates of the roots the mesh trusts" },
    "ca-crl.pem": { label: "X509 CRL", give: "the CRLs of the mesh's CAs" },
};

/**
 * Why an entry of cacerts other than ca-key.pem (`entry`, its `text`) is refused, or undefined: a
 * private key in any of its blocks (a PEM key, or a key's DER under another label), as istiod
 * hands these entries to workloads in clear; else, for the certificate entries, no block, or a
 * block that is no readable certificate, by its position. Never quotes the text. ca-crl.pem's
 * CRLs are istiodCrlProblem's.
 */
function cacertsEntryProblem(entry: string, text: string): string | undefined {
    const { label, give } = CACERTS_PUBLIC_ENTRIES[entry];
    const blocks = pemBlocksInOrder(text);
    const base64Of = (pem: string) => pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "");
    const keyAt = blocks.findIndex(({ pem }) => holdsPrivateKey(pem) || holdsPrivateKey(base64Of(pem)));
    if (keyAt !== -1 || holdsPrivateKey(text)) {
        const where = keyAt === -1 ? "" : ` (its block ${keyAt + 1}, labelled "${blocks[keyAt].label}")`;
        return (
            `${entry} holds a private key${where}: only ca-key.pem may, as istiod hands the other entries to workloads in clear; ` +
            `take the key out (and replace it if the Secret has been shared), and give in ${entry} ${give}`
        );
    }
    if (label !== "CERTIFICATE") return undefined;
    const refused = `istiod reads certificates alone there; give in ${entry} ${give}`;
    if (blocks.length === 0) return `${entry} holds no PEM certificate: ${refused}`;
    for (const [i, block] of blocks.entries()) {
        const which = `${entry}: its block ${i + 1}`;
        if (block.label !== label) return `${which} is a "${block.label}" block, not a certificate: ${refused}`;
        if (!block.ended) return `${which} has no END line (a file cut short): ${refused}`;
        let der: Buffer;
        try {
            der = pemDecode(block.pem, label);
        } catch (e) {
            return `${which}: ${(e as Error).message}; ${refused}`;
        }
        try {
            new crypto.X509Certificate(der);
        } catch {
            return `${which} is no certificate that can be read (damaged): ${refused}`;
        }
    }
    return undefined;
}

/**
 * Why istiod cannot read ca-key.pem (`text`), or undefined: it takes the first PEM block, by its
 * label a PKCS#1, SEC1 or PKCS#8 key (ParsePemEncodedKey), and refuses the cacerts otherwise.
 * Never quotes the text.
 */
function caKeyProblem(text: string): string | undefined {
    const labels = Object.keys(PRIVATE_KEY_FORMS).map((label) => `"${label}"`);
    const refused = (why: string) =>
        `ca-key.pem is no key istiod can read: ${why}; give the key of ca-cert.pem as PEM, unencrypted (${labels.join(", ")})`;
    const [block] = pemBlocksInOrder(text);
    if (block === undefined) return refused("it holds no PEM block");
    // istiod reads the first block Go's reader finds, which must be the key: a byte order mark or
    // spaces before its BEGIN line, or the next BEGIN line glued to its END line, lose it there
    // while our reader finds it. What follows a whole key block (a certificate) Go leaves unread.
    const misplaced = misplacedBegin(text);
    if (misplaced?.block === 1)
        return refused(
            "its BEGIN line does not start a line (a byte order mark or spaces before it), and Go's PEM reader finds no block",
        );
    if (misplaced?.block === 2 && text.slice(0, misplaced.at + 1).endsWith("-----"))
        return refused(
            "its END line runs into the next block's BEGIN line (no newline between them), and Go's PEM reader then skips the key",
        );
    if (!(block.label in PRIVATE_KEY_FORMS)) return refused(`its first PEM block is a "${block.label}" block`);
    if (!block.ended) return refused(`its "${block.label}" block has no END line (a file cut short)`);
    try {
        pemDecode(block.pem, block.label);
    } catch (e) {
        return refused((e as Error).message);
    }
    if (pemPrivateKey(block.pem) === undefined)
        return refused(`its "${block.label}" block is no key that can be read (damaged)`);
    return undefined;
}

/**
 * What istiod would find wrong with its plug-in CA's entries: ca-key.pem not the key of
 * ca-cert.pem, or cert-chain.pem not ca-cert.pem first, then CAs that lead from it to a root of
 * root-cert.pem (istiodPathOf); a certificate of that path (ca-cert.pem alone while cert-chain.pem
 * is not known) expired or not valid yet at `now`; or, with ca-crl.pem, one of cert-chain.pem that
 * signed none of its CRLs. istiod checks them so (keycertbundle.go Verify) at start-up and on
 * every change, and refuses to sign with them; workloads get cert-chain.pem with every certificate.
 */
function istiodCaProblem(texts: Record<string, string>, now: Date): string | undefined {
    for (const [entry, text] of Object.entries(texts)) {
        const problem =
            entry === "ca-key.pem"
                ? caKeyProblem(text)
                : entry in CACERTS_PUBLIC_ENTRIES
                  ? cacertsEntryProblem(entry, text)
                  : undefined;
        if (problem !== undefined) return problem;
    }
    const caCert = pemCertificate(texts["ca-cert.pem"]);
    const caKey = pemPrivateKey(texts["ca-key.pem"]);
    if (caCert !== undefined && caKey !== undefined && !caCert.checkPrivateKey(caKey))
        return `ca-key.pem is not the key of ca-cert.pem (${subjectOf(caCert)}): istiod cannot sign with it; give the key of ca-cert.pem`;
    if (caCert === undefined) return undefined;
    const chain = texts["cert-chain.pem"] === undefined ? undefined : pemCertificates(texts["cert-chain.pem"]);
    const roots = texts["root-cert.pem"] === undefined ? undefined : pemCertificates(texts["root-cert.pem"]);
    if (chain === undefined) return istiodDatesProblem([caCert], [], now);
    // A certificate above none of ca-cert.pem's CAs (a file given by mistake, or two that sign
    // each other) is off every path: istiod would not go through it, but every workload's chain would carry it.
    if (!chain[0].raw.equals(caCert.raw) || !allAboveFirst(chain)) return istiodChainProblem(caCert, chain, roots);
    const search = istiodPathOf(chain, roots, now, true);
    if (search === GO_GAVE_UP) {
        return (
            `istiod's Go verifier gave up after ${GO_SIGNATURE_CHECKS} signature checks, finding no path from ca-cert.pem through cert-chain.pem ` +
            `to a root of root-cert.pem (${(roots ?? []).map(subjectOf).join("; ")}): istiod refuses the cacerts ("signature check attempts limit reached while verifying certificate chain"); ` +
            "give cert-chain.pem as ca-cert.pem, then each CA above it, once, up to a root of root-cert.pem"
        );
    }
    // No path Go takes: the first it could take, but for a certificate it skips, names that certificate.
    const refused = search ?? istiodPathOf(chain, roots, now, false);
    if (refused === undefined || refused === GO_GAVE_UP) return istiodChainProblem(caCert, chain, roots);
    return (
        istiodDatesProblem(refused, chain, now) ??
        istiodCaFlagsProblem(refused, roots) ??
        istiodCrlProblem(chain, texts["root-cert.pem"], texts["ca-crl.pem"], now)
    );
}

/**
 * What a path search reads of each certificate, parsed once, as it reads them often: its subject
 * and issuer as DER (subjectDerOf, issuerDerOf), and whether it is a CA (basicConstraints CA:TRUE).
 */
const parsedCerts = new WeakMap<crypto.X509Certificate, { subject: Buffer; issuer: Buffer; ca: boolean }>();
const parsedCert = (cert: crypto.X509Certificate): { subject: Buffer; issuer: Buffer; ca: boolean } => {
    let parsed = parsedCerts.get(cert);
    if (parsed === undefined) {
        parsed = { subject: subjectDerOf(cert), issuer: issuerDerOf(cert), ca: caFlags(cert).ca };
        parsedCerts.set(cert, parsed);
    }
    return parsed;
};

/** Whether Go looks at `upper` as the CA that signed `lower`: its subject is lower's issuer, byte for byte. */
const goIssuerName = (lower: crypto.X509Certificate, upper: crypto.X509Certificate): boolean =>
    parsedCert(lower).issuer.equals(parsedCert(upper).subject);

/**
 * Whether Go takes `upper` for the CA that signed `lower`: goIssuerName, and its key verifies
 * lower's signature. Unlike signedBy (OpenSSL's check), a keyUsage without keyCertSign does not
 * keep it out: Go ignores keyUsage, istiodCaFlagsProblem names it.
 */
const goSignedBy = (lower: crypto.X509Certificate, upper: crypto.X509Certificate): boolean =>
    goIssuerName(lower, upper) && lower.verify(upper.publicKey);

/**
 * Whether every certificate of cert-chain.pem (`chain`) is above its first, ca-cert.pem: it signed
 * ca-cert.pem, or a certificate above it. Compared by their bytes, so copies of one certificate
 * do not sign each other.
 */
function allAboveFirst(chain: crypto.X509Certificate[]): boolean {
    const above = [chain[0]];
    for (let i = 0; i < above.length; i++) {
        for (const cert of chain) {
            if (!above.some((known) => known.raw.equals(cert.raw)) && goSignedBy(above[i], cert)) above.push(cert);
        }
    }
    return chain.every((cert) => above.some((known) => known.raw.equals(cert.raw)));
}

/** Go's budget of signature checks while it builds a path (maxChainSignatureChecks, crypto/x509/verify.go). */
const GO_SIGNATURE_CHECKS = 100;
/** istiodPathOf's answer when Go would run out of its signature checks before it finds a path. */
const GO_GAVE_UP = "gave up";

/**
 * The certificates Go's Certificate.Verify goes through in istiod from ca-cert.pem (`chain`'s
 * first) to a root of root-cert.pem (`roots`), or as far up as cert-chain.pem goes while
 * root-cert.pem is not known; undefined when none reaches a root. keycertbundle.go Verify gives Go
 * cert-chain.pem as a pool of intermediates: their order does not matter, nor a certificate off
 * the path, such as the cross-certificate of the root from an older root that MeshPluginCa keeps
 * before the root. Like Go (buildChains), it tries the roots first, then the pool, and stops at the
 * first path; with `asGo`, it skips a CA that Go refuses (out of its dates at `now`, or an
 * intermediate without CA:TRUE), and without, goes through it, for istiodCaProblem to name it.
 * Each signature tried counts against Go's budget: a pool whose CAs sign one another in many ways
 * (each CA certified twice) has paths beyond counting, where Go gives up (GO_GAVE_UP).
 */
function istiodPathOf(
    chain: crypto.X509Certificate[],
    roots: crypto.X509Certificate[] | undefined,
    now: Date,
    asGo: boolean,
): crypto.X509Certificate[] | typeof GO_GAVE_UP | undefined {
    let checks = 0;
    const climb = (path: crypto.X509Certificate[]): crypto.X509Certificate[] | typeof GO_GAVE_UP | undefined => {
        const top = path[path.length - 1];
        // Go takes ca-cert.pem that is itself a root of root-cert.pem as the whole path.
        if (path.length === 1 && roots?.some((root) => top.raw.equals(root.raw))) return path;
        let signed = false;
        const candidates = [
            ...(roots ?? []).map((cert) => ({ cert, isRoot: true })),
            ...chain.map((cert) => ({ cert, isRoot: false })),
        ];
        for (const { cert, isRoot } of candidates) {
            // Never a certificate with the subject and key of one on the path already (alreadyInChain):
            // a root's copy does not lead above the root.
            if (!goIssuerName(top, cert) || path.some((below) => isRootCopy(cert, below))) continue;
            if (++checks > GO_SIGNATURE_CHECKS) return GO_GAVE_UP;
            if (!goSignedBy(top, cert)) continue;
            signed = true;
            if (asGo && (istiodDatesProblem([cert], chain, now) !== undefined || (!isRoot && !parsedCert(cert).ca)))
                continue;
            const found = isRoot ? [...path, cert] : climb([...path, cert]);
            if (found !== undefined) return found;
        }
        return roots === undefined && !signed ? path : undefined;
    };
    return climb([chain[0]]);
}

/**
 * Why a certificate of istiod's `path` (istiodPathOf) is no CA, or undefined; a root of
 * root-cert.pem (`roots`), or the self-signed top while they are not known, is a trust anchor,
 * whose flags no verifier here checks. Go refuses an intermediate without CA:TRUE, so istiod the
 * cacerts; ca-cert.pem is Go's leaf there, and Go ignores keyUsage, so istiod signs with a
 * ca-cert.pem without CA:TRUE, or a path with a CA whose keyUsage lacks keyCertSign, but
 * workloads (Envoy's BoringSSL) refuse every certificate it signs.
 */
function istiodCaFlagsProblem(
    path: crypto.X509Certificate[],
    roots: crypto.X509Certificate[] | undefined,
): string | undefined {
    const workloadsRefuse =
        'istiod signs with the cacerts, but workloads refuse every certificate it signs (Envoy\'s BoringSSL: "invalid CA certificate")';
    const reissue = "re-issue it with CA:TRUE and keyCertSign, or give the CA that signed ca-cert.pem";
    for (const [i, cert] of path.entries()) {
        const top = i === path.length - 1;
        if (top && (roots !== undefined || isSelfSigned(cert))) return undefined;
        const { ca, certSign } = caFlags(cert);
        const which = i === 0 ? `ca-cert.pem (${subjectOf(cert)})` : `${subjectOf(cert)} in cert-chain.pem`;
        if (!ca) {
            const refusal =
                i === 0
                    ? workloadsRefuse
                    : 'istiod refuses the cacerts ("certificate is not authorized to sign other certificates")';
            return `${which} is not a CA certificate (CA:FALSE): ${refusal}; ${reissue}`;
        }
        if (!certSign)
            return `${which} is a CA certificate whose keyUsage lacks keyCertSign: ${workloadsRefuse}; re-issue it with keyCertSign (and cRLSign)`;
    }
    return undefined;
}

/**
 * Why cert-chain.pem (`chain`) does not lead from ca-cert.pem (`caCert`) to a root of root-cert.pem
 * (`roots`; istiodPathOf found no path), or holds a certificate that signed none of its others:
 * said of its certificates in the order given, each to be signed by the next, up to a root of
 * root-cert.pem, as the fix writes them.
 */
function istiodChainProblem(
    caCert: crypto.X509Certificate,
    chain: crypto.X509Certificate[],
    roots: crypto.X509Certificate[] | undefined,
): string {
    const fix = "give cert-chain.pem as ca-cert.pem, then each CA above it, up to a root of root-cert.pem";
    if (!chain[0].raw.equals(caCert.raw))
        return `cert-chain.pem starts with ${subjectOf(chain[0])}, not ca-cert.pem (${subjectOf(caCert)}): ${fix}`;
    for (let i = 0; i + 1 < chain.length; i++) {
        if (!signedBy(chain[i], chain[i + 1]))
            return `in cert-chain.pem, ${subjectOf(chain[i])} is not signed by ${subjectOf(chain[i + 1])}, the certificate after it: ${fix}`;
    }
    const top = chain[chain.length - 1];
    const rootsShown = (roots ?? []).map(subjectOf).join("; ");
    return (
        `cert-chain.pem ends with ${subjectOf(top)}, which is no root of root-cert.pem (${rootsShown}) nor signed by one: ` +
        `workloads trusting root-cert.pem would refuse the certificates istiod signs; ${fix}`
    );
}

/**
 * The first certificate of istiod's `path` (istiodPathOf: ca-cert.pem first) expired at `now` or
 * not valid yet (one dated up to CLOCK_SKEW_MS ahead is only a clock ahead): Go's
 * Certificate.Verify refuses it, and istiod the whole cacerts. One off the path is not dated: Go
 * does not go through it. `chain`: cert-chain.pem, where a certificate is named, else in root-cert.pem.
 */
function istiodDatesProblem(
    path: crypto.X509Certificate[],
    chain: crypto.X509Certificate[],
    now: Date,
): string | undefined {
    const refusal = 'istiod refuses the cacerts ("certificate has expired or is not yet valid")';
    for (const [i, cert] of path.entries()) {
        const file = chain.some((given) => given.raw.equals(cert.raw)) ? "cert-chain.pem" : "root-cert.pem";
        const which = i === 0 ? `ca-cert.pem (${subjectOf(cert)})` : `${subjectOf(cert)} in ${file}`;
        if (expiredAt(cert, now))
            return `${which} expired on ${new Date(cert.validTo).toISOString()}: ${refusal}; renew it`;
        if (notYetValidAt(cert, new Date(now.getTime() + CLOCK_SKEW_MS))) {
            return (
                `${which} is not valid before ${new Date(cert.validFrom).toISOString()}: ${refusal} until then; ` +
                "give the current CA, or wait until then (if it was issued today, the issuing machine's clock is ahead)"
            );
        }
    }
    return undefined;
}

/** Whether a PEM CRL block can be read at all. */
function readsAsCrl(pem: string): boolean {
    try {
        parseCrl(pem);
        return true;
    } catch {
        return false;
    }
}

/**
 * What is wrong with ca-crl.pem (`crlText`), when it is known and holds a CRL: a certificate of
 * cert-chain.pem (`chain`) that signed none of its CRLs, whence istiod refuses the cacerts, as
 * MeshPluginCa does (withChainCrls); else what MeshPluginCa's check of its crlPem beside
 * root-cert.pem (`rootsText`) finds (crlBundleProblem, with cert-chain.pem's CAs as the issuers):
 * sidecars get both as Envoy's ca.crt and ca.crl, and refuse every workload when a root of
 * root-cert.pem has no CRL, or a CA none valid now (or for a node whose clock lags).
 */
function istiodCrlProblem(
    chain: crypto.X509Certificate[],
    rootsText: string | undefined,
    crlText: string | undefined,
    now: Date,
): string | undefined {
    const crls = crlText === undefined ? [] : pemBlocks(crlText, "X509 CRL");
    if (crlText === undefined || crls.length === 0) return undefined;
    const pems = chain.map((cert) => cert.toString());
    // A block that cannot be read signs nothing: crlBundleProblem names it, rather than a CRL "missing".
    const readable = crls.every(readsAsCrl);
    const missing = readable ? signedNoCrl(crls, pems).map((pem) => subjectOf(new crypto.X509Certificate(pem))) : [];
    if (missing.length > 0) {
        return (
            `ca-crl.pem holds no CRL signed by ${missing.join(", ")} (in cert-chain.pem): istiod refuses the cacerts ("missing CRL signed by certificates"), ` +
            "and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; add to ca-crl.pem the CRL of each CA of cert-chain.pem"
        );
    }
    const names = { bundle: "root-cert.pem", refused: "every workload" };
    const problem = crlBundleProblem(crlText, rootsText ?? "", now, names, pems);
    return problem === undefined ? undefined : `ca-crl.pem ${problem}`;
}

/**
 * Where a PEM text has a BEGIN line that does not start a line (after spaces, or glued to an END
 * line): Go's pem.Decode, which istiod reads with, finds a block only at the text's start or after
 * a newline, and loses it (and, glued, the one before), where our reader and OpenSSL take both.
 * `at` is the index of the character before it; `block` its place among the BEGIN lines.
 */
function misplacedBegin(text: string): { at: number; block: number } | undefined {
    const match = /[^\n]-----BEGIN /.exec(text);
    if (match === null) return undefined;
    return { at: match.index, block: text.slice(0, match.index + 1).split("-----BEGIN ").length };
}

/** Why istiod's Go reader loses a block of `entry` (misplacedBegin), as the end of a sentence. */
const misplacedBeginProblem = (entry: string, where: { block: number } | undefined): string =>
    `${entry} has a BEGIN line (its block ${where?.block ?? "?"}) that does not start a line: Go's PEM reader, which istiod reads it with, ` +
    "skips that block (and, glued to an END line, the one before it); put each BEGIN line at the start of a line";

/**
 * The entries istiod reads from cacerts laid out as a kubernetes.io/tls Secret, as cert-manager
 * writes one, by the name of the entry of its own layout each stands for. With a tls.crt entry
 * istiod takes this layout and no other entry (pilot/pkg/bootstrap/istio_ca.go,
 * detectSigningCABundle): it signs with tls.crt and tls.key, trusts ca.crt, hands out tls.crt then
 * ca.crt as the chain, and reads no CRL.
 */
const TLS_LAYOUT = { "ca-cert.pem": "tls.crt", "ca-key.pem": "tls.key", "root-cert.pem": "ca.crt" } as const;

/**
 * Why cacerts is refused for a private key in an entry istiod reads no key from (`keyed`: the
 * entries holding one; `tls`: it has the kubernetes.io/tls layout), or undefined. Such a key (a
 * root's, kept beside its mesh CA's) serves nothing, and is one more copy of a CA key for whoever
 * reads the Secret. The entries istiod reads certificates or CRLs from are cacertsEntryProblem's.
 */
function cacertsStrayKeyProblem(keyed: readonly string[], tls: boolean): string | undefined {
    const read: string[] = tls ? Object.values(TLS_LAYOUT) : ["ca-key.pem", ...Object.keys(CACERTS_PUBLIC_ENTRIES)];
    const stray = keyed.filter((entry) => !read.includes(entry)).sort();
    if (stray.length === 0) return undefined;
    const keyEntry = tls ? `${TLS_LAYOUT["ca-key.pem"]} (the cacerts has ${TLS_LAYOUT["ca-cert.pem"]})` : "ca-key.pem";
    const [holds, them] = stray.length === 1 ? ["holds a private key", "it"] : ["hold private keys", "them"];
    return (
        `${stray.join(", ")} ${holds}, which istiod never reads (it reads its signing key from ${keyEntry} alone): ` +
        `a key there (a root's, say) is one more copy of a CA key for whoever can read the Secret; take ${them} out, ` +
        "keep a root's key offline, and replace the key if the Secret has been shared"
    );
}

/**
 * istiodCaProblem of a cacerts with the kubernetes.io/tls layout (TLS_LAYOUT), its entries read as
 * the ones of istiod's own layout they stand for, and cert-chain.pem as tls.crt then ca.crt; the
 * message says so first.
 */
function istiodTlsLayoutProblem(texts: Record<string, string>, now: Date): string | undefined {
    const [cert, root] = [texts[TLS_LAYOUT["ca-cert.pem"]], texts[TLS_LAYOUT["root-cert.pem"]]];
    const read: Record<string, string> = {};
    for (const [own, entry] of Object.entries(TLS_LAYOUT)) if (texts[entry] !== undefined) read[own] = texts[entry];
    // istiod appends the two files' bytes as they are (keycertbundle.go): a tls.crt without its
    // final newline glues its END line to ca.crt's BEGIN, and Go's PEM reader then loses the last
    // block of tls.crt and every block of ca.crt (ours reads such text more leniently, so it is
    // refused here as such).
    const joined = cert !== undefined && root !== undefined ? misplacedBegin(cert + root) : undefined;
    if (cert !== undefined && root !== undefined) read["cert-chain.pem"] = cert + root;
    const problem =
        joined === undefined
            ? istiodCaProblem(read, now)
            : joined.at === (cert as string).length - 1
              ? `${TLS_LAYOUT["ca-cert.pem"]} does not end with a newline, and istiod appends ${TLS_LAYOUT["root-cert.pem"]} to it byte for byte ` +
                `as its chain: the last END line runs into the next BEGIN line, and Go's PEM reader loses the certificates on both sides of it ` +
                `(with an intermediate in ${TLS_LAYOUT["ca-cert.pem"]}, istiod refuses the cacerts: "cannot verify the cert with the provided root chain"); ` +
                `end ${TLS_LAYOUT["ca-cert.pem"]} with a newline`
              : misplacedBeginProblem(
                    joined.at < (cert as string).length ? TLS_LAYOUT["ca-cert.pem"] : TLS_LAYOUT["root-cert.pem"],
                    misplacedBegin(joined.at < (cert as string).length ? (cert as string) : (root as string)),
                );
    if (problem === undefined) return undefined;
    const as = Object.entries(TLS_LAYOUT).map(([own, entry]) => `${entry} as ${own}`);
    return (
        `istiod reads this cacerts as a kubernetes.io/tls Secret, since it has ${TLS_LAYOUT["ca-cert.pem"]} ` +
        `(${as.join(", ")}, and ${TLS_LAYOUT["ca-cert.pem"]} then ${TLS_LAYOUT["root-cert.pem"]} as cert-chain.pem): ${problem}`
    );
}

/**
 * Why istiod would not start with this cacerts Secret (a whole Secret, not a patch of one) for a
 * missing entry, or undefined: with any of its layout's files mounted, istiod needs the signing
 * key, the signing certificate, the roots and a chain file, else "incomplete signing CA bundle
 * detected" (pilot/pkg/bootstrap/istio_ca.go, checkCABundleCompleteness). Not told while the
 * entries are unknown (a preview).
 */
function incompleteCacertsProblem(props: { data?: unknown; stringData?: unknown }, tls: boolean): string | undefined {
    const maps = (["data", "stringData"] as const).filter((name) => name in props).map((name) => props[name]);
    if (maps.some((map) => typeof map !== "object" || map === null)) return undefined;
    // A value not known yet (a preview): what the engine shows of the map may not be all of it.
    if (maps.some((map) => Object.values(map as object).some((value) => value === undefined))) return undefined;
    const entries = new Set(maps.flatMap((map) => Object.keys(map as object)));
    // The TLS layout's chain files are tls.crt, then ca.crt: tls.crt, required anyway, is one.
    const required = tls ? Object.values(TLS_LAYOUT) : ["ca-key.pem", "ca-cert.pem", "root-cert.pem", "cert-chain.pem"];
    const missing = required.filter((entry) => !entries.has(entry));
    if (missing.length === 0 || missing.length === required.length) return undefined;
    return (
        `has ${required.filter((entry) => entries.has(entry)).join(", ")} but no ${missing.join(", ")}: istiod 1.27+ refuses to start ` +
        `with an incomplete signing CA bundle ("incomplete signing CA bundle detected"), and an earlier one ` +
        (missing.includes(tls ? TLS_LAYOUT["ca-key.pem"] : "ca-key.pem")
            ? "signs with a self-signed CA of its own that nothing else trusts"
            : "fails to load it") +
        `; add ${missing.join(", ")}` +
        (tls ? " (cert-manager writes ca.crt for a CA issuer only: give it from the issuer's root)" : "")
    );
}

export const istiodCaPolicy: policy.ResourceValidationPolicy = {
    name: "istiod-cacerts",
    description:
        "istiod's plug-in CA Secret (metadata.name cacerts in istio-system), when its entries are known, holds in ca-key.pem the key of ca-cert.pem, and in cert-chain.pem ca-cert.pem first, then CAs that lead from it to a root of root-cert.pem within the 100 signature checks Go tries, each above ca-cert.pem (in any order, as istiod's Go verifier takes them, so a root's cross-certificate from an older root may stay off the path); each certificate of that path valid now (one dated up to 5 minutes ahead is allowed) and, below the root, a CA (CA:TRUE, keyCertSign); and, with ca-crl.pem, a CRL signed by each certificate of cert-chain.pem and by each root of root-cert.pem, each CA's valid now (as MeshPluginCa checks its crlPem). Only ca-key.pem holds a private key, one istiod can read; the certificate entries hold readable certificates alone. A cacerts with tls.crt, which istiod reads as a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt), is held to the same, and only tls.key holds a private key; its tls.crt ends with a newline (istiod appends ca.crt to it byte for byte). A whole Secret holds all of its layout's entries or none (istiod 1.27+ refuses to start with an incomplete signing CA bundle; an earlier one fails to load it, or signs with a self-signed CA of its own when the key is missing).",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!SECRETS.includes(args.type)) return;
        const metadata = knownPart(known(() => args.props.metadata)) as { name?: unknown } | undefined;
        // Its namespace as objectNameOf reads it: one a preview does not know yet is checked by the update.
        const { namespace } = objectNameOf(args);
        if (!isMeshCaName(metadata?.name, namespace)) return;
        const props = knownPart(args.props) as { data?: unknown; stringData?: unknown };
        const maps = [props.data, props.stringData].filter((map) => typeof map === "object" && map !== null);
        const tls = maps.some((map) => TLS_LAYOUT["ca-cert.pem"] in (map as object));
        const keyed = [...new Set([...keyEntries(props.data, "base64"), ...keyEntries(props.stringData, "text")])];
        const texts = knownSecretTexts(args.props);
        const misplaced = tls
            ? undefined
            : Object.keys(CACERTS_PUBLIC_ENTRIES).find(
                  (entry) => texts[entry] !== undefined && misplacedBegin(texts[entry]),
              );
        const problem =
            cacertsStrayKeyProblem(keyed, tls) ??
            (args.type === SECRETS[0] ? incompleteCacertsProblem(props, tls) : undefined) ??
            (misplaced !== undefined
                ? misplacedBeginProblem(misplaced, misplacedBegin(texts[misplaced]))
                : undefined) ??
            (tls ? istiodTlsLayoutProblem(texts, new Date()) : istiodCaProblem(texts, new Date()));
        if (problem !== undefined) report(`${MESH_CA_SECRET.namespace}/${MESH_CA_SECRET.name}: ${problem}`);
    },
};

/**
 * Whether a Kubernetes provider updates Secrets in place: `enableSecretMutable` set (the engine
 * sends a provider's settings as text). Else pulumi-kubernetes replaces a Secret whose data
 * changes, and deletes a named one before it creates it again (provider/pkg/provider/diff.go).
 */
function updatesSecretsInPlace(provider: policy.PolicyProviderResource | undefined): boolean {
    // Set but not known in a preview: what it will be is not known either, and the update tells.
    const settings = provider?.type === "pulumi:providers:kubernetes" ? (knownPart(provider.props) as Props) : {};
    const mutable = settings.enableSecretMutable;
    return notKnownIn(settings, "enableSecretMutable") || mutable === true || mutable === "true";
}

export const secretsInPlacePolicy: policy.ResourceValidationPolicy = {
    name: "secrets-updated-in-place",
    description:
        "A Secret holding a private key is updated in place when it changes: its Kubernetes provider sets enableSecretMutable. Otherwise every renewal deletes the Secret and creates it again, and the gateway, istiod or sidecar reading it is without it in between.",
    // Advisory: the setting may come from PULUMI_K8S_ENABLE_SECRET_MUTABLE where pulumi runs, which the pack cannot see.
    enforcementLevel: "advisory",
    validateResource: (args, report) => {
        if (args.type !== "kubernetes:core/v1:Secret" || updatesSecretsInPlace(args.provider)) return;
        const props = args.props as { data?: unknown; stringData?: unknown; metadata?: { name?: string } };
        if (keyEntries(props.data, "base64").length + keyEntries(props.stringData, "text").length === 0) return;
        report(
            `${props.metadata?.name ?? args.name}: its Kubernetes provider ${args.provider?.name ?? "(the default)"} does not set enableSecretMutable, ` +
                "so each renewal deletes this Secret and creates it again, leaving whoever reads it without it in between; " +
                "set enableSecretMutable: true on the provider (or PULUMI_K8S_ENABLE_SECRET_MUTABLE=true where pulumi runs)",
        );
    },
};

/** Where the key rules send a key found elsewhere. */
const KEEP_KEYS = "keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)";

export const keyConfigMapPolicy: policy.ResourceValidationPolicy = {
    name: "no-private-key-configmaps",
    description:
        "No ConfigMap holds a private key (PEM, base64 DER, PKCS#12, a Java keystore or a JWK) in its data or binaryData: a ConfigMap is not secret.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!CONFIG_MAPS.includes(args.type)) return;
        // Read without what a preview does not know yet: a wholly unknown map must not keep a known key in the other from being found.
        const props = knownPart(args.props) as { data?: unknown; binaryData?: unknown; metadata?: { name?: string } };
        const entries = [
            ...keyEntries(props.data, "text").map((k) => `data ${k}`),
            ...keyEntries(props.binaryData, "base64").map((k) => `binaryData ${k}`),
        ];
        if (entries.length === 0) return;
        report(
            `${props.metadata?.name ?? args.name}: a private key in a ConfigMap (${entries.join(", ")}), which is not secret; ` +
                KEEP_KEYS,
        );
    },
};

/**
 * `value` as plain data, without what a preview does not know yet (reading it throws): the rest
 * is still checked, where a walk of the SDK's proxy would stop at the first unknown.
 */
function knownPart(value: unknown): unknown {
    if (typeof value !== "object" || value === null) return value;
    const read = (key: string) => knownPart(known(() => (value as Record<string, unknown>)[key]));
    const keys = Object.keys(value);
    return Array.isArray(value) ? keys.map(read) : Object.fromEntries(keys.map((key) => [key, read(key)]));
}

/**
 * Whether `object` (a knownPart) gives `key` but a preview does not know it yet: knownPart keeps the
 * key, its value undefined (the engine sends no undefined).
 */
function notKnownIn(object: object | undefined, key: string): boolean {
    return object !== undefined && key in object && (object as Record<string, unknown>)[key] === undefined;
}

/** A Kubernetes object's metadata maps where a program may put a key by mistake: neither is secret. */
const METADATA_MAPS = ["annotations", "labels"];

/**
 * The entries of an annotations or labels map that hold a key, by name: a text, or a value given
 * as an object (a JWK, a map of texts), by its path below the entry. Kubernetes takes texts alone,
 * but a program may give more, and this rule alone reports what is below these maps (see
 * METADATA_MAP_PATH).
 */
function metadataMapEntries(map: unknown): string[] {
    if (typeof map !== "object" || map === null) return [];
    return Object.entries(map).flatMap(([name, value]) => privateKeyPaths(value, name));
}

/**
 * The metadata maps' entries holding a key, in the object's own metadata and in every metadata
 * below it (a Deployment's or Job's pod template, a CronJob's job template), by path.
 */
function metadataKeyEntries(value: unknown, at: string): string[] {
    if (typeof value !== "object" || value === null) return [];
    return Object.entries(value).flatMap(([key, member]) => {
        const path = at === "" ? key : `${at}.${key}`;
        const own =
            key === "metadata" && typeof member === "object" && member !== null
                ? METADATA_MAPS.flatMap((map) =>
                      metadataMapEntries((member as Record<string, unknown>)[map]).map((k) => `${path}.${map} ${k}`),
                  )
                : [];
        return [...own, ...metadataKeyEntries(member, path)];
    });
}

export const keyMetadataPolicy: policy.ResourceValidationPolicy = {
    name: "no-private-key-metadata",
    description:
        "No Kubernetes object holds a private key (PEM, base64 DER, PKCS#12, a Java keystore or a JWK) in the annotations or labels of its metadata or of a pod template's: neither is secret.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!args.type.startsWith("kubernetes:")) return;
        const inputs = knownPart(args.props) as { metadata?: { name?: unknown } };
        const entries = metadataKeyEntries(inputs, "");
        if (entries.length === 0) return;
        report(
            `${String(inputs.metadata?.name ?? args.name)}: a private key in metadata (${entries.join(", ")}), which is not secret; ` +
                KEEP_KEYS,
        );
    },
};

/**
 * Helm releases whose `values` a chart renders in the cluster, into objects this pack never sees: a
 * helm.sh/v3 Release (Helm installs it). A Chart (helm.sh/v3 or v4) renders on the client, like
 * `helm template`, and registers each object it renders, which the pack checks (CHECKED_ELSEWHERE).
 */
const HELM_RELEASES = ["kubernetes:helm.sh/v3:Release"];

export const keyHelmValuesPolicy: policy.ResourceValidationPolicy = {
    name: "no-private-key-helm-values",
    description:
        "No Helm Release (helm.sh/v3) is given a private key (PEM, base64 DER, PKCS#12, a Java keystore or a JWK) in its values: the chart writes it into objects (an Opaque Secret, a ConfigMap) that this pack never sees.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!HELM_RELEASES.includes(args.type)) return;
        const paths = privateKeyPaths(knownPart(known(() => args.props.values)));
        if (paths.length === 0) return;
        report(
            `${args.name}: a private key in Helm values (${paths.map((p) => `values ${p}`).join(", ")}), which the chart writes into objects this pack never sees; ` +
                `${KEEP_KEYS} and give the chart the Secret's name`,
        );
    },
};

/**
 * Kubernetes objects whose inputs other rules read: Secrets and ConfigMaps (their data; nothing
 * else in them holds a key), and what renders objects on the client and registers each as a
 * resource of its own, checked one by one (a kubernetes.io/tls Secret's key among them): a
 * ConfigGroup's `objs` and `yaml` (yaml and yaml/v2), a Helm Chart's `values` (helm.sh/v3 and v4).
 */
const CHECKED_ELSEWHERE = [
    ...SECRETS,
    ...CONFIG_MAPS,
    "kubernetes:yaml:ConfigGroup",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:helm.sh/v3:Chart",
    "kubernetes:helm.sh/v4:Chart",
];

/** The paths of annotations' and labels' entries, at any depth: no-private-key-metadata reports them. */
const METADATA_MAP_PATH = /(^|\.)metadata\.(annotations|labels)\./;

export const keyKubernetesObjectPolicy: policy.ResourceValidationPolicy = {
    name: "no-private-key-kubernetes-objects",
    description:
        "No Kubernetes object other than a Secret holds a private key (PEM, base64 DER, PKCS#12, a Java keystore or a JWK) anywhere in its inputs: an EnvoyFilter's inline_string (in every proxy's config dump), a container's env or args are not secret. ConfigMaps, annotations and labels, and Helm Release values have rules of their own; a ConfigGroup's or Helm Chart's objects are checked one by one.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
        if (!args.type.startsWith("kubernetes:") || CHECKED_ELSEWHERE.includes(args.type)) return;
        const inputs = knownPart(args.props) as Props & { metadata?: { name?: unknown } };
        // A Helm release's values are no-private-key-helm-values'.
        if (HELM_RELEASES.includes(args.type)) delete inputs.values;
        const paths = privateKeyPaths(inputs).filter((path) => !METADATA_MAP_PATH.test(path));
        if (paths.length === 0) return;
        report(
            `${String(inputs.metadata?.name ?? args.name)}: a private key in the ${args.type.split(":").pop()} (${paths.join(", ")}), which is not secret; ` +
                `${KEEP_KEYS} and refer to it by name (a volume, an env valueFrom.secretKeyRef, a Gateway's credentialName)`,
        );
    },
};

/**
 * A Kubernetes object as its cluster knows it: its kind (group and kind, any version: a
 * `networking.istio.io/v1` Gateway is the `v1beta1` one), namespace and name, in the cluster its
 * provider reaches; and how a message shows it. Undefined when Kubernetes names it (no
 * metadata.name), while a preview does not know its name or the namespace it sets, or for a patch (a SecretPatch): it
 * server-side applies its own fields with a field manager of its own, so patches of one object, or
 * a patch of a Secret the program makes, write side by side, and a field two of them set fails the
 * update as a conflict (@pulumi/kubernetes' SecretPatch docs) rather than being written over unseen.
 */
function objectOf(r: policy.PolicyResource): { id: string; shown: string } | undefined {
    if (r.type.endsWith("Patch")) return undefined;
    const [, apiVersion = "", kind = ""] = r.type.split(":");
    const metadata = knownPart(known(() => r.props.metadata)) as { name?: unknown; namespace?: unknown } | undefined;
    if (typeof metadata?.name !== "string") return undefined;
    // Set but not known yet (an auto-named Namespace's): not its provider's, and maybe another object's namespace.
    if (notKnownIn(metadata, "namespace")) return undefined;
    const group = apiVersion.split("/").slice(0, -1).join("/");
    const namespace =
        typeof metadata.namespace === "string" ? metadata.namespace : providerNamespace(r.provider).namespace;
    const where = `${namespace ?? "(its provider's namespace)"}/${metadata.name}`;
    return { id: [r.provider?.urn ?? "", group, kind, where].join("::"), shown: `${kind} ${where}` };
}

export const uniqueKubernetesObjectsPolicy: policy.StackValidationPolicy = {
    name: "unique-kubernetes-objects",
    description:
        "No two resources make one Kubernetes object: the same kind (a Secret, an Istio Gateway), namespace and name under one provider. Each would write over the other, istiod's cacerts or a gateway's Secret among them. A patch (a SecretPatch) is none: it applies its own fields, and a conflict fails the update.",
    enforcementLevel: "mandatory",
    validateStack: (args, report) => {
        const makers = new Map<string, { shown: string; names: string[] }>();
        for (const r of args.resources.filter((x) => x.type.startsWith("kubernetes:"))) {
            const object = objectOf(r);
            if (object === undefined) continue;
            const entry = makers.get(object.id) ?? { shown: object.shown, names: [] };
            entry.names.push(r.name);
            makers.set(object.id, entry);
        }
        for (const { shown, names } of makers.values()) {
            if (names.length < 2) continue;
            report(
                `${shown}: made by ${names.sort().join(" and ")} in one cluster, so each would replace what the other writes ` +
                    "(istiod reads its plug-in CA from istio-system/cacerts, a gateway its certificate from its credentialName's Secret). " +
                    "Give each its own metadata.name (a component's secretName, or another endpoint id: IstioGatewayTls names an endpoint's Secret apic-mtls-<id>)",
            );
        }
    },
};

/**
 * Whether `r` is the Secret `secret` of istiod's (or a patch of it), by its metadata.name and
 * namespace, never the resource's name: without metadata.name Kubernetes names the Secret
 * <name>-<random>, which istiod never reads.
 */
function isIstiodSecret(
    r: { type: string; name: string; props: Props; provider?: policy.PolicyProviderResource },
    secret: { readonly namespace: string; readonly name: string },
): boolean {
    if (!SECRETS.includes(r.type)) return false;
    const { name } = fieldsOf(knownPart(known(() => r.props.metadata)));
    return name === secret.name && objectNameOf(r).namespace === secret.namespace;
}

/** Whether `r` is istiod's cacerts (or a patch of it), as istiod-cacerts finds it (isMeshCaName). */
const isMeshCaSecret = (r: Parameters<typeof isIstiodSecret>[0]): boolean => isIstiodSecret(r, MESH_CA_SECRET);

/**
 * The Secret where istiod keeps its self-signed CA's key and certificate (ca-key.pem, ca-cert.pem) when
 * no plug-in CA (cacerts) is there: in its own namespace, istio-system (istio/istio
 * security/pkg/pki/ca/ca.go, CASecret).
 */
const ISTIO_SELF_SIGNED_CA_SECRET = { namespace: MESH_CA_SECRET.namespace, name: "istio-ca-secret" } as const;

/** Whether `r` is istiod's self-signed CA Secret (or a patch of it). */
const isSelfSignedCaSecret = (r: policy.PolicyResource): boolean => isIstiodSecret(r, ISTIO_SELF_SIGNED_CA_SECRET);

/** The names of `resources` by cluster (their provider's URN). */
function namesByCluster(resources: readonly policy.PolicyResource[]): Map<string, string[]> {
    const byCluster = new Map<string, string[]>();
    for (const r of resources) byCluster.set(providerUrnOf(r), [...(byCluster.get(providerUrnOf(r)) ?? []), r.name]);
    return byCluster;
}

/** gateway-keys-beside-cacerts' why and fix, after where the Secret is and the CA key beside it. */
const GATEWAY_READS_CA_KEY =
    "the gateway that reads this Secret gets from Istio's gateway chart a Role reading every Secret of its namespace (named after its service account), " +
    "so a compromised gateway pod can read ca-key.pem and mint any mesh identity";
const MOVE_THE_GATEWAY =
    "Run the gateway in a namespace of its own and keep its Secrets there (a stack of this package: set pki:gatewayNamespace to it, e.g. istio-ingress, " +
    `with the gateway deployed there first, and add it to keySecretNamespaces; README, "The gateway's namespace")`;

export const gatewayKeysBesideCacertsPolicy: policy.StackValidationPolicy = {
    name: "gateway-keys-beside-cacerts",
    description:
        "No Secret holding a private key (a gateway's: the stack's apic-mtls-* Secrets) sits in istio-system, beside istiod's CA key: its plug-in CA's cacerts (this program's, another's, or made by hand) or, without one, istio-ca-secret, its self-signed CA's. Istio's gateway chart gives a gateway's account a Role reading every Secret of its namespace (named after its service account), so a gateway running there can read ca-key.pem and mint any mesh identity; Istio recommends gateways in a namespace other than the control plane's.",
    // Advisory: istio-system is pki:gatewayNamespace's default, and moving it moves every gateway Secret (README, "The gateway's namespace").
    enforcementLevel: "advisory",
    validateStack: (args, report) => {
        const secrets = args.resources.filter((r) => SECRETS.includes(r.type));
        // By cluster, the resources that make or patch cacerts, and those that make istio-ca-secret.
        const meshCas = namesByCluster(secrets.filter(isMeshCaSecret));
        const selfSignedCas = namesByCluster(secrets.filter(isSelfSignedCaSecret));
        for (const r of secrets) {
            // The CA keys themselves are istiod's, not a gateway's.
            if (isMeshCaSecret(r) || isSelfSignedCaSecret(r)) continue;
            const { namespace, shown } = objectNameOf(r);
            if (namespace !== MESH_CA_SECRET.namespace) continue;
            const props = knownPart(r.props) as { data?: unknown; stringData?: unknown };
            const keyed = [...new Set([...keyEntries(props.data, "base64"), ...keyEntries(props.stringData, "text")])];
            if (keyed.length === 0) continue;
            const cluster = `(provider ${r.provider?.name ?? "(the default)"})`;
            const makers = meshCas.get(providerUrnOf(r));
            const selfSignedMakers = selfSignedCas.get(providerUrnOf(r));
            // Without a cacerts of this program's there, istiod's CA key is still there: another's cacerts, or its self-signed one.
            report(
                `${shown}: a private key (${keyed.sort().join(", ")}) ` +
                    (makers === undefined
                        ? `beside istiod's CA key (its plug-in CA's ${MESH_CA_SECRET.namespace}/${MESH_CA_SECRET.name}, or ` +
                          `${ISTIO_SELF_SIGNED_CA_SECRET.namespace}/${ISTIO_SELF_SIGNED_CA_SECRET.name} of Istio's self-signed CA` +
                          (selfSignedMakers === undefined
                              ? "), which this program does not make, "
                              : `, made by ${[...selfSignedMakers].sort().join(" and ")}) `) +
                          `in that cluster ${cluster}: ${GATEWAY_READS_CA_KEY}. `
                        : `beside istiod's cacerts (${MESH_CA_SECRET.namespace}/${MESH_CA_SECRET.name}, ` +
                          `the mesh CA key, made by ${[...makers].sort().join(" and ")}) in one cluster ${cluster}: ` +
                          `${GATEWAY_READS_CA_KEY} in every cluster. `) +
                    MOVE_THE_GATEWAY,
            );
        }
    },
};

/** The URN's parts: `urn:pulumi:<stack>::<project>::<parent types$...$type>::<name>`. */
const qualifiedTypeOf = (r: { urn: string }): string => r.urn.split("::")[2] ?? "";
const isMeshCa = (cert: policy.PolicyResource): boolean =>
    qualifiedTypeOf(cert).includes("apic-istio-pki:index:MeshPluginCa$");

interface TrustDomain {
    id: string;
    name: string;
    /** The components the CA is in, outermost first (`team:index:Edge$apic-istio-pki:index:IntermediateCa`). */
    components: string;
    /** For the leaves a root or CA given as PEM signs directly, their names (the domain's name in messages). */
    leaves?: string[];
}

/**
 * The trust domain of a CA's certificate, by its URN, so that two CAs of one name in different
 * components are two: the mesh for istiod's plug-in CAs (every cluster's), else the CA itself,
 * without rotation suffixes (`-g<n>` generations and `-r<n>` epochs of one CA are one domain).
 * `name` for messages: the CA's name, with its components where another domain has that name too.
 */
function trustDomainOf(cert: policy.PolicyResource): TrustDomain {
    if (isMeshCa(cert)) return { id: "the mesh", name: "the mesh", components: "" };
    const name = cert.name.replace(/(-r\d+)?-cert$/, "").replace(/-g\d+$/, "");
    const components = qualifiedTypeOf(cert).split("$").slice(0, -1).join("$");
    return { id: `${components}::${name}`, name, components };
}

/** A certificate's public key's hash: one CA's however its certificate is given. */
const keyIdOf = (cert: crypto.X509Certificate): string => spkiPin(cert.publicKey);

/** keyIdOf a certificate resource's certPem: known once pulumi up has made it, undefined until then. */
function madeKeyIdOf(cert: policy.PolicyResource): string | undefined {
    const made = pemCertificate(known(() => cert.props.certPem));
    return made === undefined ? undefined : keyIdOf(made);
}

/** What signs at the top of a certificate's chain, as far as the stack shows it (rootOf). */
interface TopSigner {
    /** Its key's hash, or a root certificate resource's URN while its certPem is unknown. */
    id: string;
    name: string;
    /** Given as PEM, not made by the stack: named by its subject, where a resource is named by its name. */
    given: boolean;
    /** A root (self-signed), or a CA given as PEM: an offline root's CA, whose root the stack does not show. */
    kind: "root" | "CA";
}

/**
 * The root at the top of a certificate's chain of issuers, as far as the stack shows it: a
 * self-signed certificate of the stack, or the certificate given as PEM (config, a file, a
 * StackReference) in the caCertPem of the topmost certificate the stack makes. Known by its key:
 * the same root given to several CAs is one, and so is a RootCa of the stack whose certificate is
 * given as PEM elsewhere too (a stack root's certPem is known once pulumi up has made it; until
 * then it is known by its URN). The pack sees no further up than that: two CAs under two CAs
 * given as PEM are not known to share the root above them. Undefined while a preview does not
 * know it, or for an offline root (the ceremony signs its CAs: no certificate resource here).
 */
function rootOf(cert: policy.PolicyResource): TopSigner | undefined {
    const seen = new Set<string>();
    let top = cert;
    let issuer = issuerOf(cert);
    while (issuer?.type === LOCALLY_SIGNED && !seen.has(issuer.urn)) {
        seen.add(issuer.urn);
        top = issuer;
        issuer = issuerOf(issuer);
    }
    if (issuer !== undefined) {
        if (issuer.type !== SELF_SIGNED) return undefined;
        return { id: madeKeyIdOf(issuer) ?? issuer.urn, name: issuer.name, given: false, kind: "root" };
    }
    const given = pemCertificate(known(() => top.props.caCertPem));
    if (given === undefined) return undefined;
    const kind = isSelfSigned(given) ? "root" : "CA";
    return { id: keyIdOf(given), name: `the ${kind} given as PEM (${subjectOf(given)})`, given: true, kind };
}

/**
 * The kind of component a leaf is in: the innermost of this package's components, whichever of a
 * program's own components holds it (an ApicClientBundle's leaves are APIC's client identities,
 * in a team:index:Tenant or not), else the leaf's components as they are.
 */
function leafComponentOf(leaf: policy.PolicyResource): string {
    const components = qualifiedTypeOf(leaf).split("$").slice(0, -1);
    return components.filter((type) => type.startsWith("apic-istio-pki:index:")).pop() ?? components.join("$");
}

/**
 * The trust domain of a leaf signed by the top of its chain. A root's (a RootCa as IstioGatewayTls'
 * serverCa): the leaves of one kind of component (leafComponentOf) are one, named by their names. A
 * CA's given as PEM (an offline root's gateway server CA): the CA's own domain, whatever components
 * its leaves are in, as it would be were the CA made by the stack (it signs APIC's UI-facing server
 * certificate and the gateway's alike).
 */
function leafDomainOf(leaf: policy.PolicyResource, signer: TopSigner): TrustDomain {
    if (signer.kind === "CA") return { id: "its own leaves", name: "", components: "", leaves: [] };
    const components = leafComponentOf(leaf);
    return { id: `leaves of ${components}`, name: "", components, leaves: [] };
}

/**
 * The trust domain of a leaf a CA signs, by name, for the CA's leaves to be one: a server
 * certificate's (server_auth) is the CA's servers', whatever component holds it (the gateway server
 * CA signs the gateway's and APIC's UI-facing server certificates: clients check the host they
 * name); any other leaf's, its components', as leafDomainOf has it for a root (APIC's client
 * identities are not the UI's).
 */
function caLeafDomainOf(leaf: policy.PolicyResource): string | undefined {
    const allowed = knownUses(leaf.props);
    // Its allowedUses not known yet in a preview: pulumi up places this leaf, the rule the others.
    if (allowed === undefined) return undefined;
    if (allowed.includes("server_auth")) return "server certificates";
    return `leaves of ${leafComponentOf(leaf) || "no component"}`;
}

/** The CA that signs a leaf, as far as the stack shows it: a CA of the stack (a mesh plug-in CA among them), or one given as PEM. */
interface SigningCa {
    id: string;
    name: string;
    mesh: boolean;
}

/**
 * The signing CA of a leaf. `meshCas`: the MeshPluginCa certificates by key (keyIdOf), for a mesh
 * CA whose certificate is given as PEM to what it signs (config, a file, a StackReference): the
 * same CA, named by its resource, once pulumi up has made it (a preview of a new one does not know it).
 */
function signingCaOf(
    leaf: policy.PolicyResource,
    meshCas: ReadonlyMap<string, policy.PolicyResource>,
): SigningCa | undefined {
    const issuer = issuerOf(leaf);
    if (issuer?.type === LOCALLY_SIGNED) return { id: issuer.urn, name: issuer.name, mesh: isMeshCa(issuer) };
    // A root's own leaves are the root's domains; a CA given as PEM is the top the pack sees.
    const root = issuer === undefined ? rootOf(leaf) : undefined;
    if (root?.kind !== "CA") return undefined;
    const mesh = meshCas.get(root.id);
    return mesh === undefined
        ? { id: root.id, name: root.name, mesh: false }
        : { id: mesh.urn, name: mesh.name, mesh: true };
}

/** How a message names the leaves a root or a CA given as PEM signs directly. */
function leavesSigned(leaves: string[], kind: TopSigner["kind"]): string {
    const one = leaves.length === 1;
    const what =
        kind === "root" ? `${one ? "a leaf" : "leaves"} it signs directly` : `its own ${one ? "leaf" : "leaves"}`;
    return `${leaves.sort().join(", ")} (${what})`;
}

export const separateTrustDomainsPolicy: policy.StackValidationPolicy = {
    name: "separate-trust-domains",
    description:
        "Each root signs for one trust domain, through CAs or directly: the mesh's plug-in CAs, the gateway's server CA and APIC's client CA under roots of their own; a CA given as PEM (an offline root's), the top of its chain the pack sees, is one domain with every leaf it signs. One root for several needs allowSharedRoot, and then sidecars trust that root too: the APIC-client and gateway-server CA keys (online even under an offline root) can mint any mesh workload identity sidecars accept, until istiod's cacerts carries ca-crl.pem (Istio 1.27+; published by the finish of a mesh, APIC-client or gateway-server CA rotation, or a cluster's removal): sidecars then refuse what those keys mint, old or new, for want of a CRL of their CA in ca-crl.pem; older sidecars, until a new root (pki:caRotation.root). Each CA signs leaves of one trust domain: server certificates, or one kind of component's other leaves; a mesh plug-in CA (given as PEM too, known by its key) signs none outside MeshPluginCa, allowSharedRoot or not.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { allowSharedRoot: { type: "boolean", default: DEFAULTS.allowSharedRoot } },
    },
    validateStack: (args, report) => {
        const meshCas = new Map<string, policy.PolicyResource>();
        for (const cert of args.resources.filter((r) => isCert(r.type) && isMeshCa(r))) {
            const keyId = isCaOf(cert) === true ? madeKeyIdOf(cert) : undefined;
            if (keyId !== undefined) meshCas.set(keyId, cert);
        }
        // The leaves each CA signs, by their domains (caLeafDomainOf).
        const leavesByCa = new Map<string, { ca: SigningCa; domains: Map<string, string[]> }>();
        for (const leaf of args.resources.filter((r) => r.type === LOCALLY_SIGNED && isCaOf(r) === false)) {
            const ca = signingCaOf(leaf, meshCas);
            // istiod's own certificates, were the component to sign any, are the mesh's.
            if (ca === undefined || (ca.mesh && isMeshCa(leaf))) continue;
            // A leaf whose allowedUses a preview does not know yet: pulumi up places it among its CA's domains,
            // the rule the others. Any leaf a mesh CA signs is refused, whatever its domain.
            const domain = caLeafDomainOf(leaf) ?? (ca.mesh ? "allowedUses not known yet" : undefined);
            if (domain === undefined) continue;
            const entry = leavesByCa.get(ca.id) ?? { ca, domains: new Map<string, string[]>() };
            entry.domains.set(domain, [...(entry.domains.get(domain) ?? []), leaf.name]);
            leavesByCa.set(ca.id, entry);
        }
        // Whatever the root: the mesh CA's key is in every cluster's cacerts, so any cluster could mint them.
        for (const { ca, domains } of leavesByCa.values()) {
            if (!ca.mesh) continue;
            const outside = [...domains.values()].flat().sort();
            report(
                `${ca.name}: a mesh plug-in CA signs ${outside.join(", ")}, outside MeshPluginCa; its key is in every cluster's cacerts, ` +
                    "so any cluster could mint them. Sign them with a CA of their own under a root of their own (an IntermediateCa as " +
                    "IstioGatewayTls' serverCa or ApicClientBundle's clientCa), never a MeshPluginCa's certificate and key",
            );
        }
        if (args.getConfig<{ allowSharedRoot?: boolean }>().allowSharedRoot ?? DEFAULTS.allowSharedRoot) return;
        for (const { ca, domains } of leavesByCa.values()) {
            if (ca.mesh || domains.size < 2) continue;
            const names = [...domains].map(([domain, leaves]) => `${leaves.sort().join(", ")} (${domain})`);
            report(
                `${ca.name}: one CA signs for ${names.sort().join(", ")}, so its key mints certificates for several trust domains. ` +
                    "Give each its own CA under a root of its own (in a program of your own, an IntermediateCa for IstioGatewayTls' serverCa, " +
                    "another for ApicClientBundle's clientCa), or accept the weaker guarantee with allowSharedRoot: true",
            );
        }
        const issuedBy = new Map<string, policy.PolicyResource[]>();
        for (const cert of args.resources.filter((r) => isCert(r.type))) {
            const issuer = issuerOf(cert)?.urn;
            if (issuer !== undefined) issuedBy.set(issuer, [...(issuedBy.get(issuer) ?? []), cert]);
        }
        const domainsByRoot = new Map<string, { root: TopSigner; domains: Map<string, TrustDomain> }>();
        for (const cert of args.resources.filter((r) => r.type === LOCALLY_SIGNED)) {
            const root = rootOf(cert);
            if (root === undefined) continue;
            let domain: TrustDomain;
            const isCa = isCaOf(cert);
            // A CA or a leaf: one a preview does not know yet, pulumi up places.
            if (isCa === undefined) continue;
            if (isCa) {
                // A CA that signs CAs alone is a tier of theirs (a policy CA above issuing CAs), no domain of its own.
                const issued = issuedBy.get(cert.urn) ?? [];
                if (!isMeshCa(cert) && issued.length > 0 && issued.every((r) => isCaOf(r) === true)) continue;
                domain = trustDomainOf(cert);
            } else {
                // A leaf under a CA of the stack is in that CA's domain; one the top of its chain signs, in leafDomainOf's.
                if (issuerOf(cert)?.type === LOCALLY_SIGNED) continue;
                domain = leafDomainOf(cert, root);
            }
            const entry = domainsByRoot.get(root.id) ?? { root, domains: new Map() };
            // A root both made by the stack and given as PEM is named by its resource.
            if (entry.root.given && !root.given) entry.root = root;
            const found = entry.domains.get(domain.id) ?? domain;
            found.leaves?.push(cert.name);
            entry.domains.set(domain.id, found);
            domainsByRoot.set(root.id, entry);
        }
        for (const { root, domains } of domainsByRoot.values()) {
            if (domains.size < 2) continue;
            const all = [...domains.values()];
            const names = all.map((d) =>
                d.leaves !== undefined
                    ? leavesSigned(d.leaves, root.kind)
                    : all.some((other) => other !== d && other.name === d.name)
                      ? `${d.name} (in ${d.components})`
                      : d.name,
            );
            report(
                `${root.name}: one ${root.kind} signs for ${names.sort().join(", ")}, so a key of one trust domain (e.g. the mesh CA key in every cluster's cacerts) ` +
                    "could mint certificates the others trust. Give each its own root (in a stack, pki:trustDomains: separate; in a program of your own, " +
                    "a RootCa of its own as each CA's rootCa or at the top of its issuer's chain), or accept the weaker guarantee with allowSharedRoot: true",
            );
        }
    },
};

/** The names Istio reads a TLS credential's trust and CRLs under: a kubernetes.io/tls Secret's, and a generic Secret's. */
const TRUST_ENTRIES = ["ca.crt", "cacert"];
/** The CRL entry Istio reads with each of TRUST_ENTRIES, index for index (pilot/pkg/credentials/kube: ExtractRoot). */
const CRL_ENTRIES = ["ca.crl", "crl"];
const { serverAuth: SERVER_AUTH, clientAuth: CLIENT_AUTH } = LEAF_PURPOSES;

/**
 * A Secret an Envoy (a gateway's, a sidecar's) reads as a TLS credential, or a ConfigMap a gateway
 * reads its client trust from, with the texts of its entries a preview knows.
 */
interface CredentialObject {
    kind: "Secret" | "ConfigMap";
    /** Its provider's URN, its name and namespace (undefined: its provider's), as namersOf matches references to it. */
    provider: string;
    name: string;
    namespace: string | undefined;
    /** Its provider's URN and where it is shown: which object it is (Istio reads <name>-cacert beside <name>). */
    place: string;
    shown: string;
    tls: boolean;
    texts: Record<string, string>;
    /** Whether an IstioGatewayTls made it (its URN's parent types), whose client trust is its clientTrustBundlePem. */
    madeByIstioGatewayTls: boolean;
    /** Whether a UiApicClient made it (its URN's parent types), whose served certificate is for clientAuth alone. */
    madeByUiApicClient: boolean;
    /** Whether the certificate it serves may be one a preview does not know yet (servedNotKnown), not absent. */
    servesNotKnown: boolean;
    /** Whether its key entry may be given but not known yet: a known cert may then be what it serves. */
    keyNotKnown: boolean;
    /** Whether its entries come from certificates this program makes for clientAuth alone (fromClientCertificatesAlone). */
    fromClientCertificates: boolean;
}

/**
 * Why the certificate Istio serves from a Secret could be a server's (a gateway's), or undefined when
 * it serves none or a client's alone (clientAuth, and neither serverAuth nor anyExtendedKeyUsage,
 * which Go and Java take for a server too): a sidecar's credential for calling out. Istio serves
 * cert and key when both are set and not empty, else tls.crt and tls.key (ExtractCertInfo).
 */
function servedServerUse(texts: Record<string, string>, keyNotKnown = false): string | undefined {
    for (const served of servedCertificateTexts(texts, keyNotKnown)) {
        const leaf = pemCertificate(served);
        if (leaf === undefined) return "cannot be read, so it may be a server's";
        const uses = caFlags(leaf).extendedKeyUsage;
        const which = `(${subjectOf(leaf)})`;
        if (uses === undefined) return `${which} has no extended key usage: it serves any purpose, a server's too`;
        if (uses.includes(SERVER_AUTH)) return `${which} is for serverAuth`;
        if (uses.includes(ANY_EXTENDED_KEY_USAGE))
            return `${which} is for anyExtendedKeyUsage, which Go and Java take for a server's`;
        if (!uses.includes(CLIENT_AUTH)) return `${which} is not for clientAuth`;
    }
    return undefined;
}

/** A name without Istio's -cacert suffix: the Secret a <name>-cacert twin stands beside, the ConfigMap Istio reads. */
const withoutCaSuffix = (name: string): string =>
    name.endsWith(ISTIO_CA_SECRET_SUFFIX) ? name.slice(0, -ISTIO_CA_SECRET_SUFFIX.length) : name;

/**
 * The DestinationRules (as credentialUsersOf shows them) naming `secret`, sorted, and, when a gateway
 * may trust it for its clients all the same, why and the fix (`lost`): a Gateway names it too; it is a
 * `<name>-cacert` twin with no `<name>` in the program (a Gateway outside it naming `<name>` reads the
 * twin's CA); or it (or the Secret a twin stands beside) serves a certificate that could be a
 * server's, or one a preview does not know yet (unless UiApicClient made it: for clientAuth alone).
 * A Secret serving nothing (a CA for egress TLS origination) or a client certificate alone, and its
 * twin, verify the server a sidecar calls. `merged` holds each Secret's entries as Istio reads them,
 * its patches applied. A DestinationRule alone would let any Secret out.
 */
function sidecarUseOf(
    secret: CredentialObject,
    merged: ReadonlyMap<string, MergedSecret>,
    users: CredentialUsers,
    objects: readonly CredentialObject[],
): { rules: string[]; lost?: { why: string; fix: string } } {
    const rules = [
        ...new Set(namersOf(secret, users.DestinationRule, objects).map(({ use }) => use.namer.shown)),
    ].sort();
    const gateways = namersOf(secret, users.Gateway, objects);
    if (gateways.length > 0)
        return {
            rules,
            lost: {
                why: `${namersShown(gateways)} names it too`,
                fix: "give the DestinationRule a Secret of its own, which no Gateway names",
            },
        };
    // Merged as Istio reads it, and each resource alone: which of two patches applies last is not certain.
    const at = (place: string): MergedSecret =>
        merged.get(place) ?? { texts: {}, tls: false, keyNotKnown: false, each: [] };
    // The Secret itself, and the one a <name>-cacert twin stands beside, which must be in the program: a MUTUAL
    // Gateway outside it naming <name> would serve its own <name> and read the twin as client trust.
    const base = withoutCaSuffix(secret.place);
    if (base !== secret.place && !merged.has(base))
        return {
            rules,
            lost: {
                why:
                    `its name ends in ${ISTIO_CA_SECRET_SUFFIX} and no Secret ${withoutCaSuffix(secret.shown)} is in the program, ` +
                    `so a Gateway outside it naming ${withoutCaSuffix(secret.name)} would read it as client trust`,
                fix: `name in the DestinationRule a Secret holding this CA whose name does not end in ${ISTIO_CA_SECRET_SUFFIX}`,
            },
        };
    for (const place of [...new Set([base, secret.place])]) {
        const why = [at(place), ...at(place).each]
            .map((s) => servedServerUse(s.texts, s.keyNotKnown))
            .find((w) => w !== undefined);
        const which = place === secret.place ? "it serves" : `${withoutCaSuffix(secret.shown)} serves`;
        const fix =
            "give the sidecar a client certificate for clientAuth alone (neither serverAuth nor anyExtendedKeyUsage)";
        if (why !== undefined) return { rules, lost: { why: `the certificate ${which} ${why}`, fix } };
        // Not known yet is not absent: a preview's unknown certificate may be a server's, unless it comes from
        // certificates of the program for clientAuth alone (their allowedUses are known), or UiApicClient's.
        const mayServeServer = (o: CredentialObject) =>
            o.place === place && o.servesNotKnown && !o.fromClientCertificates && !o.madeByUiApicClient;
        if (objects.some(mayServeServer))
            return {
                rules,
                lost: {
                    why: `the certificate ${which} is not known yet in this preview and may be a server's`,
                    fix:
                        "make its certificate in this program a tls.LocallySignedCert (or tls.SelfSignedCert) whose allowedUses have " +
                        "digital_signature and client_auth (neither server_auth nor any_extended), and its data and stringData " +
                        "depend on no other resource than that certificate, its tls.PrivateKey and the CA certificates of its chain (isCaCertificate, none of those uses); " +
                        "or make its Secret with UiApicClient, whose certificate is for clientAuth alone",
                },
            };
    }
    return { rules };
}

/** A Secret as Istio reads it: the entries of its resources (the Secret, its patches) merged in order. */
interface MergedSecret {
    texts: Record<string, string>;
    tls: boolean;
    /** Whether a resource's key entry may be given but not known yet (a preview). */
    keyNotKnown: boolean;
    /** Each resource's own entries, in the order merged. */
    each: { texts: Record<string, string>; keyNotKnown: boolean }[];
}

/**
 * The certificate Istio serves from a Secret's entries: cert when it and key are set and not empty,
 * else tls.crt. With key given but not known yet (`keyNotKnown`, in a preview), a known cert may be
 * served, and tls.crt too if key turns out empty: both.
 */
const servedCertificateTexts = (texts: Record<string, string>, keyNotKnown = false): string[] =>
    (texts.cert && texts.key
        ? [texts.cert]
        : [...(texts.cert && keyNotKnown ? [texts.cert] : []), texts["tls.crt"]]
    ).filter((text): text is string => Boolean(text));

/**
 * A Secret Envoy reads as a TLS credential (Istio's credentialName) whatever names it: a
 * kubernetes.io/tls Secret, or one holding ca.crt (or cacert) that Istio reads as a client CA (its
 * name ends in -cacert) or that sits in a namespace of `namespaces` (keySecretNamespaces: the
 * gateway's and the sidecars' with keys); not istiod's cacerts, istiod-cacerts' own. Undefined for
 * any other Secret, and for a ConfigMap (a gateway's client trust when one names it: credential-trust).
 */
function credentialSecretOf(
    r: { urn: string; type: string; name: string; props: Props; provider?: policy.PolicyProviderResource },
    namespaces: readonly string[],
): CredentialObject | undefined {
    const object = credentialObjectOf(r)?.credential;
    return object !== undefined && isCredential(object, namespaces) ? object : undefined;
}

/** Whether Envoy reads a Secret as a TLS credential (credentialSecretOf): kubernetes.io/tls, or a CA where Istio looks for one. */
function isCredential(object: CredentialObject, namespaces: readonly string[]): boolean {
    const hasTrust = TRUST_ENTRIES.some((entry) => entry in object.texts);
    return (
        object.kind === "Secret" &&
        (object.tls ||
            (hasTrust && (object.name.endsWith(ISTIO_CA_SECRET_SUFFIX) || namespaces.includes(object.namespace ?? ""))))
    );
}

/**
 * Whether a Secret, or a patch of one, is a kubernetes.io/tls Secret: of that type; or a patch that
 * leaves out the type (a server-side-apply patch writes only what it gives: the Secret keeps its
 * own type, as private-key-secrets reads it) and writes both tls.crt and tls.key, known yet or not.
 * A type-less patch that writes tls.crt alone may be putting a CA bundle or an application's
 * certificate into an Opaque Secret: no leaf Envoy serves, so not judged as one. One that writes
 * tls.key alone outside keySecretNamespaces, private-key-secrets refuses.
 */
function isTlsSecret(r: { type: string; props: Props }): boolean {
    if (known(() => r.props.type) === "kubernetes.io/tls") return true;
    // Given but not known yet, knownPart keeps it (the engine sends no undefined): the update judges it.
    const props = knownPart(r.props) as { type?: unknown; data?: unknown; stringData?: unknown };
    if (r.type !== SECRETS[1] || "type" in props) return false;
    const written = [props.data, props.stringData].flatMap((map) =>
        typeof map === "object" && map !== null ? Object.keys(map) : [],
    );
    return written.includes("tls.crt") && written.includes("tls.key");
}

/**
 * Any Secret or ConfigMap (or a patch of one) as a CredentialObject, with whether it is a patch;
 * not istiod's cacerts. A ConfigMap is shown with its kind: a Secret may have its name.
 */
function credentialObjectOf(r: {
    urn: string;
    type: string;
    name: string;
    props: Props;
    provider?: policy.PolicyProviderResource;
    propertyDependencies?: Record<string, policy.PolicyResource[]>;
}): { patch: boolean; credential: CredentialObject } | undefined {
    const [kind, types] = SECRETS.includes(r.type)
        ? (["Secret", SECRETS] as const)
        : CONFIG_MAPS.includes(r.type)
          ? (["ConfigMap", CONFIG_MAPS] as const)
          : [];
    if (kind === undefined) return undefined;
    const { name, namespace, shown: where } = objectNameOf(r);
    // By metadata.name: a Secret named cacerts by its resource name alone is cacerts-<random>, a credential like any other.
    if (kind === "Secret" && isMeshCaSecret(r)) return undefined;
    const shown = `${kind === "ConfigMap" ? "ConfigMap " : ""}${where}`;
    const provider = providerUrnOf(r);
    const credential = {
        kind,
        provider,
        name,
        namespace,
        place: `${provider}::${shown}`,
        shown,
        tls: kind === "Secret" && isTlsSecret(r),
        texts: kind === "Secret" ? knownSecretTexts(r.props) : knownConfigMapTexts(r.props),
        madeByIstioGatewayTls: qualifiedTypeOf(r).includes("apic-istio-pki:index:IstioGatewayTls$"),
        madeByUiApicClient: qualifiedTypeOf(r).includes("apic-istio-pki:index:UiApicClient$"),
        servesNotKnown: kind === "Secret" && servedNotKnown(r.props),
        keyNotKnown: kind === "Secret" && givenNotKnown(r.props, ["key"]),
        fromClientCertificates: kind === "Secret" && fromClientCertificatesAlone(r),
    };
    return { patch: r.type !== types[0], credential };
}

/**
 * A Secret or ConfigMap an Istio object or a Kubernetes Gateway API Gateway (or ListenerSet) names,
 * as Istio resolves the reference, and the object naming it under its provider.
 */
interface CredentialUse {
    provider: string;
    kind: "Secret" | "ConfigMap";
    name: string;
    /** Where Istio reads it from, when the reference fixes it; undefined: any namespace. */
    namespace: string | undefined;
    /**
     * For a Gateway's reference without a fixed namespace: where Istio most likely reads it (an Istio
     * Gateway's own namespace and keySecretNamespaces; none besides a namespace not known yet, for a
     * preview's unknown namespace), and how a finding says which namespace it took instead when none
     * of this name is there. Undefined: every namespace alike (a DestinationRule's, read in each client's).
     */
    likely?: { namespaces: readonly string[]; assuming: (namespace: string) => string };
    /** Whether the naming Gateway verifies its clients with its ca.crt (or cacert). */
    clientTrust: boolean;
    /** Whether Istio also matches the client certificate's SANs (an Istio server's subjectAltNames); never for the Gateway API. */
    sanChecked: boolean;
    /** The field naming it, as a finding shows it: `caCertificateRefs`, `credentialName (MUTUAL)`... */
    field: string;
    /** The object naming it, as a finding shows it: its kind, and its namespace/name. */
    namer: { kind: string; shown: string };
    /** Whether an Istio object (networking.istio.io) names it; else a Gateway API one. */
    istio: boolean;
}
type CredentialRef = Omit<CredentialUse, "provider" | "namer" | "istio">;
type CredentialUsers = Record<"Gateway" | "DestinationRule", CredentialUse[]>;

/** A use naming an object, with (`assumed`) how a finding says which namespace it took the use to read it in. */
interface Naming {
    use: CredentialUse;
    assumed?: string;
}

/** Whether `use` may name `object`: a Secret's name names its `<name>-cacert` twin as well, where Istio looks for the CA first. */
const mayName = (use: CredentialUse, object: CredentialObject): boolean =>
    use.provider === object.provider &&
    use.kind === object.kind &&
    (use.namespace === undefined || object.namespace === undefined || use.namespace === object.namespace) &&
    (object.name === use.name || (use.kind === "Secret" && object.name === `${use.name}${ISTIO_CA_SECRET_SUFFIX}`));

/**
 * The uses of `uses` naming `object` (client trust alone with `clientTrustOnly`), namespaces compared
 * where both are known. A use without a fixed namespace but with `likely` ones names an object there
 * (or in a namespace not known), and one elsewhere only when no object of `objects` it may name is
 * there: then with the namespace it is assumed to read. Another team's object of the same name is
 * not taken for a Gateway's own, and one it may read is never let out.
 */
function namersOf(
    object: CredentialObject,
    uses: readonly CredentialUse[],
    objects: readonly CredentialObject[],
    { clientTrustOnly = false }: { clientTrustOnly?: boolean } = {},
): Naming[] {
    return uses.flatMap((use): Naming[] => {
        if ((clientTrustOnly && !use.clientTrust) || !mayName(use, object)) return [];
        const { likely } = use;
        if (use.namespace !== undefined || likely === undefined) return [{ use }];
        const isLikely = (o: CredentialObject) => o.namespace === undefined || likely.namespaces.includes(o.namespace);
        if (isLikely(object)) return [{ use }];
        if (objects.some((o) => mayName(use, o) && isLikely(o))) return [];
        return [{ use, assumed: likely.assuming(object.namespace ?? "") }];
    });
}

/** DestinationRules as a finding names them: `DestinationRule a`, `DestinationRules a, b`. */
const destinationRulesShown = (rules: readonly string[]): string =>
    `DestinationRule${rules.length > 1 ? "s" : ""} ${rules.join(", ")}`;

/** A name's possessive: `payments'`, `ui-gw's`. */
const possessive = (name: string): string => (name.endsWith("s") ? `${name}'` : `${name}'s`);

/** How a finding names the namers of `namings`, each once, sorted: `<kind> <namespace/name>'s <field>`, with what it assumes. */
const namersShown = (namings: readonly Naming[]): string =>
    [
        ...new Set(
            namings.map(
                ({ use, assumed }) =>
                    `${use.namer.kind} ${possessive(use.namer.shown)} ${use.field}${assumed === undefined ? "" : ` (${assumed})`}`,
            ),
        ),
    ]
        .sort()
        .join(", ");

/** The TLS modes in which a server verifies its clients: an Istio server's `mode`, or Istio's option on a Gateway API listener. */
const MUTUAL_MODES = ["MUTUAL", "OPTIONAL_MUTUAL"];

/**
 * A credential name of an Istio object, as Istio resolves it (ParseResourceName):
 * `configmap://ns/name` is the ConfigMap ns/name (Istio reads it without a -cacert suffix); any
 * other a Secret, of its name alone (`kubernetes://name`, `kubernetes://ns/name`), and for a name
 * ending in -cacert the Secret without it too (GetCaCert falls back to it when the first is
 * missing). A Secret's namespace is not compared: Istio reads a Gateway's Secret from its
 * workload's namespace, not the Gateway object's, and a DestinationRule in the root namespace
 * applies to every client's.
 */
function istioCredentialRefsOf(text: string, use: Omit<CredentialRef, "kind" | "name" | "namespace">): CredentialRef[] {
    const configMap = /^configmap:\/\/([^/]+)\/([^/]+)$/.exec(text);
    if (configMap !== null)
        return [{ ...use, kind: "ConfigMap", name: withoutCaSuffix(configMap[2]), namespace: configMap[1] }];
    const name =
        text
            .replace(/^kubernetes:\/\//, "")
            .split("/")
            .pop() ?? text;
    return [...new Set([name, withoutCaSuffix(name)])].map((n) => ({
        ...use,
        kind: "Secret",
        name: n,
        namespace: undefined,
    }));
}

/**
 * The credentials an Istio object's spec names, at any depth: `credentialName` and each of
 * `credentialNames` (client trust beside a `mode` of MUTUAL_MODES: Istio reads its CA from
 * <name>-cacert, or ca.crt), and `caCertCredentialName` (a Gateway's client trust, Istio 1.28+);
 * each with whether its server also checks the client's subjectAltNames.
 */
function istioCredentialRefs(value: unknown): CredentialRef[] {
    if (Array.isArray(value)) return value.flatMap(istioCredentialRefs);
    if (typeof value !== "object" || value === null) return [];
    const fields = value as Record<string, unknown>;
    const mode = String(fields.mode);
    const mutual = MUTUAL_MODES.includes(mode);
    const sanChecked = Array.isArray(fields.subjectAltNames) && fields.subjectAltNames.length > 0;
    const inMode = (field: string) => (mutual ? `${field} (${mode})` : field);
    return Object.entries(fields).flatMap(([key, v]) =>
        key === "caCertCredentialName" && typeof v === "string"
            ? istioCredentialRefsOf(v, { clientTrust: true, sanChecked, field: key })
            : key === "credentialName" && typeof v === "string"
              ? istioCredentialRefsOf(v, { clientTrust: mutual, sanChecked, field: inMode(key) })
              : key === "credentialNames" && Array.isArray(v)
                ? v
                      .filter((n): n is string => typeof n === "string")
                      .flatMap((n) => istioCredentialRefsOf(n, { clientTrust: mutual, sanChecked, field: inMode(key) }))
                : istioCredentialRefs(v),
    );
}

/** Istio's option on a Gateway API listener: a mode of MUTUAL_MODES verifies clients with its certificate's CA. */
const TLS_TERMINATE_MODE = "gateway.istio.io/tls-terminate-mode";

type Fields = Record<string, unknown>;
const fieldsOf = (value: unknown): Fields =>
    typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Fields) : {};
const listOf = (value: unknown): Fields[] => (Array.isArray(value) ? value.map(fieldsOf) : []);

/**
 * The namespace a Gateway API reference (or a ListenerSet's parentRef) names: its own, else
 * `namespace` (its object's); undefined, any namespace, while a preview does not know its own
 * (knownPart keeps the field, without a value).
 */
const namespaceOf = (ref: Fields, namespace: string | undefined): string | undefined =>
    "namespace" in ref ? (typeof ref.namespace === "string" ? ref.namespace : undefined) : namespace;

/**
 * Where a Gateway API reference whose namespace a preview does not know (its own, or its object's)
 * most likely points: to an object whose namespace is not known yet either, rather than to another
 * team's of that name.
 */
const NOT_KNOWN_YET: CredentialUse["likely"] = {
    namespaces: [],
    assuming: (namespace) => `if the namespace not known until the update is ${namespace}`,
};

/**
 * The core objects (of `kinds`) a list of Gateway API references names, each in its own namespace
 * or `namespace` (its object's).
 */
function gatewayApiRefsIn(
    list: unknown,
    namespace: string | undefined,
    use: { kinds: string[]; defaultKind?: string; clientTrust: boolean; field: string },
): CredentialRef[] {
    return listOf(list).flatMap((ref) => {
        const { group = "", kind = use.defaultKind, name } = ref;
        return group === "" && use.kinds.includes(String(kind)) && typeof name === "string"
            ? [
                  {
                      kind: kind as CredentialRef["kind"],
                      name,
                      namespace: namespaceOf(ref, namespace),
                      likely: NOT_KNOWN_YET,
                      clientTrust: use.clientTrust,
                      sanChecked: false,
                      field: use.field,
                  },
              ]
            : [];
    });
}

/**
 * The Secrets Gateway API listeners (a Gateway's or a ListenerSet's) serve, as Istio converts them
 * (buildTLS): each listener's tls.certificateRefs, in `namespace` (the listeners' object's) unless a
 * reference gives its own; client trust with a TLS_TERMINATE_MODE option of MUTUAL_MODES.
 */
function listenerCredentialRefs(listeners: unknown, namespace: string | undefined): CredentialRef[] {
    return listOf(listeners).flatMap((listener) => {
        const tls = fieldsOf(listener.tls);
        const mode = String(fieldsOf(tls.options)[TLS_TERMINATE_MODE]);
        const mutual = MUTUAL_MODES.includes(mode);
        return gatewayApiRefsIn(tls.certificateRefs, namespace, {
            kinds: ["Secret"],
            defaultKind: "Secret",
            clientTrust: mutual,
            field: mutual ? `certificateRefs (${TLS_TERMINATE_MODE}: ${mode})` : "certificateRefs",
        });
    });
}

/**
 * The client trust a Gateway API Gateway's spec.tls.frontend names (default and perPort
 * validation's caCertificateRefs: ConfigMaps or Secrets), for listeners in `namespace`: Istio
 * resolves a reference without a namespace in the listener's object's (the Gateway's, or a
 * ListenerSet's that it parents).
 */
const frontendCredentialRefs = (spec: unknown, namespace: string | undefined): CredentialRef[] => {
    const frontend = fieldsOf(fieldsOf(fieldsOf(spec).tls).frontend);
    const validations = [frontend.default, ...listOf(frontend.perPort).map((port) => port.tls)];
    return validations.flatMap((tls) =>
        gatewayApiRefsIn(fieldsOf(fieldsOf(tls).validation).caCertificateRefs, namespace, {
            kinds: ["ConfigMap", "Secret"],
            clientTrust: true,
            field: "caCertificateRefs",
        }),
    );
};

/**
 * Why the Gateways of `namings` (each checking no SAN) check none: Istio sets none for a Gateway API
 * Gateway's listeners (buildTLS), and an Istio Gateway server sets none without subjectAltNames.
 */
function noSanCheckOf(namings: readonly Naming[]): string {
    const gatewayApi = namings.some(({ use }) => !use.istio);
    const istio = namings.some(({ use }) => use.istio);
    const why =
        gatewayApi && istio
            ? "Istio sets none for a Gateway API Gateway's listeners, nor for an Istio Gateway server without subjectAltNames"
            : gatewayApi
              ? "Istio sets none for a Gateway API Gateway's listeners"
              : "the Istio Gateway server gives no subjectAltNames";
    return `no SAN check (${why})`;
}

/** The ConfigMap istiod writes in every namespace, the mesh root under root-cert.pem: its workloads' trust, never a gateway's client trust. */
const MESH_ROOT_CONFIG_MAP = "istio-ca-root-cert";
const isMeshRootConfigMap = (use: CredentialUse): boolean =>
    use.kind === "ConfigMap" && use.name === MESH_ROOT_CONFIG_MAP;

/** How a finding says an Istio Gateway's Secret was taken from `namespace`, none of its name being in `likely`. */
const workloadIn =
    (likely: readonly string[]) =>
    (namespace: string): string =>
        `if its workload runs in ${namespace}: Istio reads the Secret in the gateway workload's namespace` +
        (likely.length > 0 ? `, and there is none of this name in ${likely.join(", ")}` : "");

/** The Kubernetes Gateway API's group (its Gateways, ListenerSets; core references have group ""). */
const GATEWAY_API = "gateway.networking.k8s.io";

/** A Kubernetes object's kind and API group, with its name and namespace (objectNameOf), as credentialUsersOf reads it. */
function namedObjectOf(r: policy.PolicyResource): { group: string; kind: string } & ReturnType<typeof objectNameOf> {
    const [, apiVersion = "", kind = ""] = r.type.split(":");
    return { group: apiVersion.split("/")[0], kind, ...objectNameOf(r) };
}

/**
 * What the Gateways (Istio's, and the Kubernetes Gateway API's, which Istio serves too, with their
 * ListenerSets) and Istio's DestinationRules name, each with the object naming it: a Gateway's
 * ca.crt verifies its clients, a DestinationRule's the server a sidecar calls. A ListenerSet's
 * listeners are its parent Gateway's (gateway_collection.go: buildListener with the ListenerSet and
 * the parent's spec): the parent's frontend references without a namespace resolve in the
 * ListenerSet's namespace too.
 */
function credentialUsersOf(
    resources: policy.PolicyResource[],
    keySecretNamespaces: readonly string[],
): CredentialUsers {
    const users: CredentialUsers = { Gateway: [], DestinationRule: [] };
    const gatewayApis: { r: policy.PolicyResource; namespace: string | undefined; name: string; shown: string }[] = [];
    const listenerSets: { r: policy.PolicyResource; namespace: string | undefined; shown: string }[] = [];
    for (const r of resources) {
        const { group, kind, namespace, name, shown } = namedObjectOf(r);
        const istio = group === "networking.istio.io" && (kind === "Gateway" || kind === "DestinationRule");
        const gatewayApi = group === GATEWAY_API && kind === "Gateway";
        const listenerSet =
            (group === GATEWAY_API && kind === "ListenerSet") ||
            (group === "gateway.networking.x-k8s.io" && kind === "XListenerSet");
        if (!istio && !gatewayApi && !listenerSet) continue;
        const spec = knownPart(known(() => r.props.spec));
        // Istio reads an Istio Gateway's Secret in its workload's namespace, which the pack does not know: most
        // likely the Gateway's own, or one where keys belong.
        const likely = [...new Set([...(namespace === undefined ? [] : [namespace]), ...keySecretNamespaces])];
        const refs = istio
            ? istioCredentialRefs(spec).map((ref) =>
                  kind === "Gateway" && ref.namespace === undefined
                      ? { ...ref, likely: { namespaces: likely, assuming: workloadIn(likely) } }
                      : ref,
              )
            : [
                  ...listenerCredentialRefs(fieldsOf(spec).listeners, namespace),
                  ...(gatewayApi ? frontendCredentialRefs(spec, namespace) : []),
              ];
        const namer = { kind, shown };
        users[istio ? (kind as keyof CredentialUsers) : "Gateway"].push(
            ...refs.map((ref) => ({ ...ref, provider: providerUrnOf(r), namer, istio })),
        );
        if (gatewayApi) gatewayApis.push({ r, namespace, name, shown });
        if (listenerSet) listenerSets.push({ r, namespace, shown: `${kind} ${shown}` });
    }
    for (const set of listenerSets) {
        const parentRef = fieldsOf(fieldsOf(knownPart(known(() => set.r.props.spec))).parentRef);
        const { group = GATEWAY_API, kind = "Gateway", name } = parentRef;
        if (group !== GATEWAY_API || kind !== "Gateway") continue;
        const namespace = namespaceOf(parentRef, set.namespace);
        // A parent not known yet (a preview's unknown name or namespace) may be any Gateway of the cluster.
        const parents = gatewayApis.filter(
            (gw) =>
                providerUrnOf(gw.r) === providerUrnOf(set.r) &&
                (typeof name !== "string" || gw.name === name) &&
                (namespace === undefined || gw.namespace === undefined || gw.namespace === namespace),
        );
        for (const parent of parents) {
            users.Gateway.push(
                ...frontendCredentialRefs(knownPart(known(() => parent.r.props.spec)), set.namespace).map((ref) => ({
                    ...ref,
                    field: `${ref.field} (for ${set.shown})`,
                    provider: providerUrnOf(parent.r),
                    namer: { kind: "Gateway", shown: parent.shown },
                    istio: false,
                })),
            );
        }
    }
    return users;
}

/**
 * How a private key is in a trust or CRL entry's text (pastedPrivateKey: PEM, a block without its
 * BEGIN line, bare base64; else a key's DER under another label, or in any encoding holdsPrivateKey
 * knows), or undefined. Never the key itself.
 */
function keyInText(text: string): string | undefined {
    const pasted = pastedPrivateKey(text);
    if (pasted !== undefined) return pasted;
    const base64Of = (pem: string) => pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "");
    const block = pemBlocksInOrder(text).find(({ pem }) => holdsPrivateKey(base64Of(pem)));
    if (block !== undefined) return `a key's DER in a "${block.label}" PEM block`;
    return holdsPrivateKey(text) ? "a key in another encoding" : undefined;
}

/**
 * Whether tls.crt's certificates (`chain`: the leaf, then its CAs) link up to a publicly trusted
 * root (Node's tls.rootCertificates), each signed by the next: its public CA sets the leaf's
 * lifetime under the CA/Browser Forum's limits (CustomerFacingTls checks them), not leafMaxDays.
 */
function publiclyIssued(chain: crypto.X509Certificate[]): boolean {
    const anchor = publicRootsAnchor("tls.crt", chain, undefined);
    if (typeof anchor === "string") return false;
    const path = [chain[0], ...anchor.issuers];
    return path.every((cert, i) => i === path.length - 1 || signedBy(cert, path[i + 1]));
}

/**
 * The publicly trusted root (Node's tls.rootCertificates) `cert` links up to, each certificate signed
 * by the next (publiclyIssued's check), through the CAs of `bundle` (its trust entry) where its
 * issuer is there; undefined when it links up to none.
 */
function publicRootAbove(
    cert: crypto.X509Certificate,
    bundle: readonly crypto.X509Certificate[],
): crypto.X509Certificate | undefined {
    const path = [cert];
    for (;;) {
        const anchor = publicRootsAnchor("ca.crt", path.slice(-1), undefined);
        if (typeof anchor !== "string" && anchor.root !== undefined) return anchor.root;
        const issuer = bundle.find((ca) => !path.includes(ca) && signedBy(path[path.length - 1], ca));
        if (issuer === undefined) return undefined;
        path.push(issuer);
    }
}

/** keyIdOf each publicly trusted root (Node's tls.rootCertificates), computed once. */
let publicRootKeys: Set<string> | undefined;

/**
 * Whether `cert`, in a trust entry whose CAs are `bundle`, is a public anchor: a publicly trusted root
 * (`{}`) or a public CA under one (`{ rootAbove }`); undefined when it is neither. Envoy takes every
 * certificate in ca.crt or cacert as an anchor.
 */
function publicAnchorOf(
    cert: crypto.X509Certificate,
    bundle: readonly crypto.X509Certificate[],
): { rootAbove?: crypto.X509Certificate } | undefined {
    publicRootKeys ??= new Set(mozillaRootCertificates().map(keyIdOf));
    if (publicRootKeys.has(keyIdOf(cert))) return {};
    const rootAbove = publicRootAbove(cert, bundle);
    return rootAbove === undefined ? undefined : { rootAbove };
}

/**
 * What is wrong with the leaf of tls.crt (its first certificate): a CA, no TLS use, too long
 * (unless `maxDays` is undefined: a publicly issued leaf), not the certificate of tls.key (`key`,
 * when known), expired or not valid yet at `now` (one dated up to CLOCK_SKEW_MS ahead is only a
 * clock ahead); [] when nothing is.
 */
function tlsLeafProblems(
    leaf: crypto.X509Certificate,
    maxDays: number | undefined,
    key: crypto.KeyObject | undefined,
    now: Date,
): string[] {
    const which = `tls.crt's leaf (${subjectOf(leaf)})`;
    const { ca, extendedKeyUsage } = caFlags(leaf);
    const problems: string[] = [];
    if (ca)
        problems.push(
            `${which} is a CA certificate (CA:TRUE): whoever reads tls.key could sign certificates that anyone trusting it accepts; ` +
                "give a leaf (CA:FALSE) issued by your CA",
        );
    if (extendedKeyUsage === undefined || !extendedKeyUsage.some((eku) => eku === SERVER_AUTH || eku === CLIENT_AUTH))
        problems.push(
            `${which} has ${extendedKeyUsage === undefined ? "no extended key usage, so it serves any purpose" : "neither serverAuth nor clientAuth in its extended key usage"}; ` +
                "give one issued with serverAuth (a gateway's server certificate) or clientAuth (a sidecar's client certificate)",
        );
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / DAY_MS;
    if (maxDays !== undefined && days > maxDays)
        problems.push(`${which}: ${leafTooLong(Math.round(days), maxDays)}; renew it for ${maxDays} days or less`);
    // As istiod-cacerts holds ca-key.pem to ca-cert.pem: Envoy loads tls.crt and tls.key as one pair.
    if (key !== undefined && !leaf.checkPrivateKey(key))
        problems.push(
            `tls.key is not the key of ${which}: Envoy's BoringSSL refuses the pair when it loads the Secret ("KEY_VALUES_MISMATCH"), ` +
                "so nothing is served with it; give the key of tls.crt's leaf, or the certificate of tls.key",
        );
    if (expiredAt(leaf, now))
        problems.push(
            `${which} expired on ${new Date(leaf.validTo).toISOString()}: peers refuse it ("certificate has expired"); renew it`,
        );
    else if (notYetValidAt(leaf, new Date(now.getTime() + CLOCK_SKEW_MS)))
        problems.push(
            `${which} is not valid before ${new Date(leaf.validFrom).toISOString()}: peers refuse it until then ("certificate is not yet valid"); ` +
                "give a current certificate, or wait until then (if it was issued today, the issuing machine's clock is ahead)",
        );
    return problems;
}

/**
 * The private keys in a TLS credential's trust and CRL entries (`texts`), each as "<entry> holds a
 * private key...": trust bundles and CRLs are public. Never the key itself.
 */
function trustKeyProblems(texts: Record<string, string>): string[] {
    const clear = "trust bundles and CRLs are public, shown by istioctl proxy-config secret and copied in clear";
    return (
        [
            [TRUST_ENTRIES, "CA certificates only"],
            [CRL_ENTRIES, "CRLs only"],
        ] as const
    ).flatMap(([entries, give]) =>
        entries.flatMap((entry) => {
            const found = entry in texts ? keyInText(texts[entry]) : undefined;
            return found === undefined ? [] : [`${entry} ${pastedKeyProblem(found, clear, give)}`];
        }),
    );
}

/**
 * What is wrong with the certificate blocks of a TLS credential's trust entries (`texts`): a CA
 * under another PEM label than CERTIFICATE, and with a CRL entry, a trust entry of more than
 * self-signed roots (envoyproxy/envoy#29197).
 */
function trustBlockProblems(texts: Record<string, string>): string[] {
    const problems: string[] = [];
    // Envoy's BoringSSL reads these as certificates to trust; Go and IstioGatewayTls, CERTIFICATE alone.
    for (const entry of TRUST_ENTRIES.filter((e) => e in texts)) {
        for (const { at, label } of trustEntryCertificates(texts[entry]).filter((b) => b.label !== "CERTIFICATE"))
            problems.push(
                `${entry} holds a "${label}" PEM block (its block ${at}), which Envoy's BoringSSL reads as a certificate to trust ` +
                    'while Go and IstioGatewayTls read "CERTIFICATE" blocks alone; give each CA certificate as a "CERTIFICATE" block',
            );
    }
    // Istio reads each trust entry with its own CRL entry (cacert with crl, ca.crt with ca.crl), whichever it picks: each is checked.
    for (const [trust, crl] of TRUST_ENTRIES.map((e, i) => [e, CRL_ENTRIES[i]])) {
        // Unreadable or holding a key: refused by trustKeyProblems, or by Envoy itself (a damaged ca.crt).
        if (
            !(trust in texts) ||
            !(crl in texts) ||
            keyInText(texts[trust]) !== undefined ||
            pemCertificates(texts[trust]) === undefined
        )
            continue;
        const problem = rootsWithCrlProblem(texts[trust], {
            bundle: trust,
            crl,
            refused: "every peer",
            sender: "peers send their issuing CA",
        });
        if (problem !== undefined) problems.push(problem);
    }
    return problems;
}

export const tlsSecretContentsPolicy: policy.ResourceValidationPolicy = {
    name: "tls-secret-contents",
    description:
        "A TLS credential Secret Envoy reads (a kubernetes.io/tls Secret, or a patch of one that writes tls.crt and tls.key and leaves the type out, or one with ca.crt or cacert named *-cacert or in keySecretNamespaces), when its entries are known: tls.key as strong as private-key-strength asks; tls.crt's leaf no CA, with serverAuth or clientAuth, valid no longer than leafMaxDays (unless a publicly trusted root's CA issued it: its CA's limits hold), the certificate of tls.key, and valid now (one dated up to 5 minutes ahead is allowed); no private key in ca.crt, cacert, ca.crl or crl, nor in an entry other than tls.key; no CA certificate under another PEM label than CERTIFICATE (BoringSSL trusts X509 CERTIFICATE and TRUSTED CERTIFICATE blocks too); with ca.crl (crl), self-signed roots alone in ca.crt (cacert) (envoyproxy/envoy#29197); no publicly trusted root nor public CA in ca.crt or cacert when the certificate it serves (cert when it and key are set and not empty, else tls.crt; in a preview, a known cert with key not known yet too) is not for clientAuth alone (credential-trust refuses it too, but only once the Secret is made). The other client trust a Gateway names (a ConfigMap, a Secret elsewhere), which this rule cannot tell from the resource alone, credential-trust holds to the same checks of its trust and CRL entries.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            leafMaxDays: { type: "integer", minimum: 1, default: DEFAULTS.leafMaxDays },
            keySecretNamespaces: KEY_SECRET_NAMESPACES_SCHEMA,
        },
    },
    validateResource: (args, report) => {
        const { namespaces } = keySecretPlaces(
            args.getConfig<{ keySecretNamespaces?: KeySecretNamespacesSetting }>().keySecretNamespaces,
        );
        const secret = credentialSecretOf(args, namespaces);
        if (secret === undefined) return;
        const { shown, texts } = secret;
        const key = pemPrivateKey(texts["tls.key"]);
        if (secret.tls && key !== undefined) {
            const { bits, text } = pemKeyStrength(key);
            if (bits < 2048) report(`${shown}: the key in tls.key is ${text}, too weak; use RSA 2048+ or ECDSA P256+`);
        }
        const leaf = secret.tls ? pemCertificate(texts["tls.crt"]) : undefined;
        const chain = leaf === undefined ? undefined : pemCertificates(texts["tls.crt"]);
        const maxDays = chain !== undefined && publiclyIssued(chain) ? undefined : leafMaxDaysOf(args);
        for (const problem of leaf === undefined ? [] : tlsLeafProblems(leaf, maxDays, key, new Date()))
            report(`${shown}: ${problem}`);
        for (const problem of trustKeyProblems(texts)) report(`${shown}: ${problem}`);
        if (secret.tls) {
            const props = knownPart(args.props) as { data?: unknown; stringData?: unknown };
            const others = [...new Set([...keyEntries(props.data, "base64"), ...keyEntries(props.stringData, "text")])]
                .filter((entry) => entry !== "tls.key" && ![...TRUST_ENTRIES, ...CRL_ENTRIES].includes(entry))
                .sort();
            if (others.length > 0)
                report(
                    `${shown}: a private key in ${others.join(", ")}, besides tls.key: Envoy reads its key from tls.key alone, ` +
                        "so the copy serves no one and goes wherever the Secret is read; take it out (and replace that key if the Secret has been shared)",
                );
        }
        for (const problem of trustBlockProblems(texts)) report(`${shown}: ${problem}`);
        // credential-trust refuses this in every set-up, but as a stack rule only once every resource is made:
        // here it is refused before the Secret is (a served certificate a preview does not know: credential-trust).
        const serverUse = servedServerUse(texts, secret.keyNotKnown);
        for (const entry of serverUse === undefined ? [] : TRUST_ENTRIES.filter((e) => e in texts)) {
            const bundle = trustEntryCertificates(texts[entry]).flatMap(({ cert }) =>
                cert === undefined ? [] : [cert],
            );
            for (const cert of bundle) {
                const anchor = publicAnchorOf(cert, bundle);
                if (anchor === undefined) continue;
                report(
                    `${shown}: the certificate it serves ${serverUse}, and ${entry} trusts ${subjectOf(cert)}, ` +
                        (anchor.rootAbove === undefined
                            ? "a publicly trusted root: "
                            : `a public CA (under ${subjectOf(anchor.rootAbove)}, a publicly trusted root): `) +
                        "a gateway serving it would let in any client certificate a public CA issues, to anyone; " +
                        `give in ${entry} only the root(s) of a private CA that issues these clients' certificates (for APIC, its client root), ` +
                        "or, for a sidecar's credential, a client certificate for clientAuth alone (neither serverAuth nor anyExtendedKeyUsage)",
                );
            }
        }
    },
};

/**
 * The keys a mesh plug-in CA signs under, by keyIdOf, with where each is found: a MeshPluginCa's
 * certificate and each CA above it (its caCertPem's certificates, where given as PEM), and the
 * certificates of each istiod cacerts Secret's ca-cert.pem, cert-chain.pem and root-cert.pem.
 * Every cluster's cacerts holds the key of a mesh CA: a trust in any of these takes what it signs.
 */
function meshKeysOf(resources: policy.PolicyResource[]): Map<string, string> {
    const keys = new Map<string, string>();
    const add = (cert: crypto.X509Certificate | undefined, where: string) => {
        if (cert !== undefined && !keys.has(keyIdOf(cert))) keys.set(keyIdOf(cert), where);
    };
    for (const mesh of resources.filter((r) => isCert(r.type) && isMeshCa(r) && isCaOf(r) === true)) {
        const seen = new Set<string>();
        for (let cert: policy.PolicyResource | undefined = mesh; cert !== undefined && !seen.has(cert.urn);) {
            seen.add(cert.urn);
            const where = cert === mesh ? `MeshPluginCa ${mesh.name}` : `${cert.name}, above MeshPluginCa ${mesh.name}`;
            add(pemCertificate(known(() => cert?.props.certPem)), where);
            const issuer = issuerOf(cert);
            if (issuer === undefined) {
                const given = known(() => cert?.props.caCertPem);
                for (const ca of typeof given === "string" ? (pemCertificates(given) ?? []) : [])
                    add(ca, `the caCertPem of ${cert.name}, above MeshPluginCa ${mesh.name}`);
            }
            cert = issuer;
        }
    }
    // By metadata.name: a Secret named cacerts by its resource name alone is cacerts-<random>, which istiod never reads.
    for (const r of resources.filter(isMeshCaSecret)) {
        const texts = knownSecretTexts(r.props);
        // Either layout istiod reads (the kubernetes.io/tls one when tls.crt is there: TLS_LAYOUT).
        const entries = [
            ...["root-cert.pem", "ca-cert.pem", "cert-chain.pem"],
            ...[TLS_LAYOUT["root-cert.pem"], TLS_LAYOUT["ca-cert.pem"]],
        ];
        for (const entry of entries) {
            const certs = texts[entry] === undefined ? undefined : pemCertificates(texts[entry]);
            for (const cert of certs ?? []) add(cert, `${entry} of ${MESH_CA_SECRET.namespace}/${MESH_CA_SECRET.name}`);
        }
    }
    return keys;
}

export const credentialTrustPolicy: policy.StackValidationPolicy = {
    name: "credential-trust",
    description:
        "A TLS credential Envoy reads, judged merged with its patches: a Secret as tls-secret-contents finds them, and any Secret or ConfigMap a Gateway names as its client trust (a ConfigMap's data, which Istio reads, and its binaryData, which Istio does not read but which is refused alike), an Istio Gateway (networking.istio.io) by caCertCredentialName (configmap://ns/name: a ConfigMap) or by credentialName(s) in MUTUAL or OPTIONAL_MUTUAL mode, a Kubernetes Gateway API Gateway (gateway.networking.k8s.io) by the caCertificateRefs of spec.tls.frontend (default or perPort) or by a listener's certificateRefs with Istio's option gateway.istio.io/tls-terminate-mode MUTUAL or OPTIONAL_MUTUAL, its ListenerSets' (ListenerSet, gateway.networking.x-k8s.io XListenerSet; by spec.parentRef) listeners as its own (a Gateway API reference in its own namespace, else its listener's object's: the Gateway's, or for the parent's caCertificateRefs, each ListenerSet's too; while a preview does not know it, one whose namespace is not known either, else any, saying which it took); an Istio Gateway's Secret (read in its workload's namespace, which the pack does not know) the one of its name in the Gateway's namespace or keySecretNamespaces, else any, saying which it took; an Istio name ending in -cacert names the Secret without the suffix as well (Istio falls back to it). A Gateway naming istiod's istio-ca-root-cert ConfigMap as client trust is refused, declared or not (the mesh root, under root-cert.pem, which Istio does not read). Such client trust that tls-secret-contents does not judge is held to its checks of trust and CRL entries (no private key; each CA under the CERTIFICATE label; with a CRL, self-signed roots alone). Each trusts in ca.crt or cacert (every block BoringSSL reads as a certificate, each an anchor) no publicly trusted root (Node's tls.rootCertificates) nor a public CA under one, unless it is a sidecar's credential (serving nothing, as a CA for egress TLS origination, or a certificate for clientAuth alone (cert when it and key are set and not empty, else tls.crt; in a preview, a known cert with key not known yet, and tls.crt), not one a preview does not know yet unless UiApicClient made the Secret or its data and stringData depend on certificates of the program whose allowedUses have client_auth and neither server_auth nor any_extended, on nothing else but tls private keys and CA certificates of their chain (isCaCertificate, none of those uses); or the <name>-cacert twin of such a Secret in the program) a DestinationRule names and no Gateway of either API does; and, unless allowSharedRoot is set, no certificate of a mesh CA's key or of one above it (a MeshPluginCa's and its issuers', or in istiod's cacerts, either layout), compared by key: every cluster's cacerts holds a mesh CA's key, and a public CA certifies anyone.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            allowSharedRoot: { type: "boolean", default: DEFAULTS.allowSharedRoot },
            keySecretNamespaces: KEY_SECRET_NAMESPACES_SCHEMA,
        },
    },
    validateStack: (args, report) => {
        const config = args.getConfig<{
            allowSharedRoot?: boolean;
            keySecretNamespaces?: KeySecretNamespacesSetting;
        }>();
        const { namespaces } = keySecretPlaces(config.keySecretNamespaces);
        const mesh = (config.allowSharedRoot ?? DEFAULTS.allowSharedRoot) ? new Map() : meshKeysOf(args.resources);
        const users = credentialUsersOf(args.resources, namespaces);
        // Every resource on its own (a Secret, its patches, a duplicate), each judged as part of the Secret
        // Istio reads: its resources' entries merged, a kubernetes.io/tls Secret whatever type a patch gives.
        const all = args.resources.map(credentialObjectOf).filter((s) => s !== undefined);
        const merged = new Map<string, MergedSecret>();
        // A patch applies to the Secret it patches, whatever order they are registered in: Secrets first.
        const patchesLast = [...all].sort((a, b) => Number(a.patch) - Number(b.patch));
        for (const { credential } of patchesLast) {
            const before = merged.get(credential.place);
            merged.set(credential.place, {
                texts: { ...before?.texts, ...credential.texts },
                tls: (before?.tls ?? false) || credential.tls,
                keyNotKnown: (before?.keyNotKnown ?? false) || credential.keyNotKnown,
                each: [...(before?.each ?? []), { texts: credential.texts, keyNotKnown: credential.keyNotKnown }],
            });
        }
        // Whatever a Gateway reads its client trust from is judged, a ConfigMap or a Secret in any namespace among them.
        const objects = all.map(({ credential }) => credential);
        const gatewaysTrusting = (credential: CredentialObject) =>
            namersOf(credential, users.Gateway, objects, { clientTrustOnly: true });
        const secrets = objects.filter(
            (credential) =>
                isCredential({ ...credential, tls: merged.get(credential.place)?.tls === true }, namespaces) ||
                gatewaysTrusting(credential).length > 0,
        );
        // One report per Secret and line: a Secret and a patch (or a duplicate) holding one root tell one thing;
        // the same Secret in two clusters (providers) is two.
        const reported = new Set<string>();
        const reportOnce = (place: string, line: string) => {
            if (!reported.has(`${place}\n${line}`)) report(line);
            reported.add(`${place}\n${line}`);
        };
        // Named, declared or not (istiod writes it in every namespace): the mesh root, in an entry Istio does not read.
        for (const use of users.Gateway.filter((u) => u.clientTrust && isMeshRootConfigMap(u)))
            reportOnce(
                use.provider,
                `${namersShown([{ use }])} names ConfigMap ${use.namespace ?? NAMESPACE_NOT_KNOWN}/${MESH_ROOT_CONFIG_MAP} as client trust: ` +
                    "istiod writes it in every namespace with the mesh root (root-cert.pem), which a gateway must not trust for its clients " +
                    "(every cluster's cacerts holds the key of a mesh CA under it), and Istio cannot read it (no ca.crt or cacert entry), " +
                    "so the listener verifying clients with it fails; name a ConfigMap or Secret whose ca.crt holds only the root(s) of a private CA " +
                    "that issues these clients' certificates (for APIC, its client root)",
            );
        for (const secret of secrets) {
            // tls-secret-contents judges a resource that is a credential by itself; the other trust a Gateway names, here.
            if (!isCredential(secret, namespaces))
                for (const problem of [...trustKeyProblems(secret.texts), ...trustBlockProblems(secret.texts)])
                    reportOnce(secret.place, `${secret.shown}: ${problem}`);
            // A sidecar's credential (UiApicClient's, a CA for egress TLS origination) verifies the server it calls,
            // whose name the sidecar checks (APIC's host): a server's certificate from a public CA is as it should be
            // there. Told by what it serves, nothing or a certificate for clientAuth alone that no gateway could
            // serve, and by a DestinationRule naming it that no Gateway does: a DestinationRule alone would let any
            // Secret out of the check.
            const sidecar = sidecarUseOf(secret, merged, users, objects);
            const calls = sidecar.rules.length > 0 && sidecar.lost === undefined ? sidecar.rules : undefined;
            // The Gateways verifying their clients with it, and whether each also checks their SANs (an Istio server's
            // subjectAltNames, as IstioGatewayTls sets them): Istio checks none for the Gateway API (buildTLS).
            const gateways = gatewaysTrusting(secret);
            // Judged as a TLS credential that no Gateway of the program reads as client trust: one outside it may.
            const unread = calls === undefined && gateways.length === 0;
            const sanChecked = gateways.length > 0 && gateways.every(({ use }) => use.sanChecked);
            const unchecked = gateways.filter(({ use }) => !use.sanChecked);
            const noSanCheck = noSanCheckOf(unchecked);
            // IstioGatewayTls' Secret (or a patch of it): its fix names that component's input.
            const madeByGatewayTls = objects.some((o) => o.place === secret.place && o.madeByIstioGatewayTls);
            // Why a DestinationRule naming it does not make it a sidecar's alone: named, with what loses the exemption.
            const ruleLost = sidecar.rules.length > 0 ? sidecar.lost : undefined;
            const ruleLostWhy =
                ruleLost === undefined
                    ? ""
                    : `${destinationRulesShown(sidecar.rules)} ${sidecar.rules.length > 1 ? "name" : "names"} it, but ${ruleLost.why}, ` +
                      "so it is judged as a gateway's credential, not a sidecar's alone: ";
            // Every trust entry: Istio reads cacert before ca.crt, and Envoy every block BoringSSL takes for a certificate.
            for (const entry of TRUST_ENTRIES.filter((e) => e in secret.texts)) {
                const blocks = trustEntryCertificates(secret.texts[entry]);
                const bundle = blocks.flatMap(({ cert }) => (cert === undefined ? [] : [cert]));
                for (const { at, label, cert, unreadable } of blocks) {
                    if (cert === undefined) {
                        reportOnce(
                            secret.place,
                            `${secret.shown}: ${entry}: its block ${at} ("${label}") cannot be read: ${unreadable}. Envoy refuses the whole ${entry}, ` +
                                "and the roots it trusts cannot be checked; give the CA certificates in PEM, each block whole",
                        );
                        continue;
                    }
                    const id = keyIdOf(cert);
                    const outside = `if a MUTUAL Gateway outside this program uses it, give there only the root(s) of a private CA that issues its clients' certificates (for APIC, its client root)`;
                    const fix =
                        calls !== undefined
                            ? `give in ${entry} only the root(s) of the CA that issues that server's certificate (UiApicClient's apicTrustPem: in a stack, the gateway server root, or pki:frontEnd.apicServerCa)`
                            : unread && ruleLost !== undefined
                              ? `${ruleLost.fix}; or, ${outside}`
                              : unread
                                ? `remove ${entry}, or, ${outside}`
                                : sanChecked
                                  ? `give in ${entry} only the root(s) of the CA that issues the peers' certificates (` +
                                    (madeByGatewayTls
                                        ? "IstioGatewayTls' clientTrustBundlePem: APIC's client root)"
                                        : "for APIC, its client root)")
                                  : `give in ${entry} only the root(s) of a private CA that issues these clients' certificates and no one else's (for APIC, its client root), ` +
                                    "never a public or mesh root" +
                                    (unchecked.some(({ use }) => use.istio)
                                        ? "; and give the Istio Gateway server subjectAltNames (the clients' SANs: APIC's URI SAN), as IstioGatewayTls does"
                                        : "");
                    // Without a SAN check, allowSharedRoot would let in every workload's certificate the mesh CA signs.
                    const weaker =
                        calls !== undefined || sanChecked
                            ? ", or accept the weaker guarantee with allowSharedRoot: true"
                            : "";
                    const trusts =
                        gateways.length > 0
                            ? `${secret.shown}: ${entry}, client trust of ${namersShown(gateways)}, trusts ${subjectOf(cert)}`
                            : `${secret.shown}: ${entry} trusts ${subjectOf(cert)}`;
                    const unreadWhy =
                        `${ruleLostWhy}no Gateway in the program reads this ${entry} as client trust (a SIMPLE server ignores it), ` +
                        "but a MUTUAL Gateway outside it may, and would take ";
                    if (mesh.has(id))
                        reportOnce(
                            secret.place,
                            `${trusts}, whose key is a mesh CA's or above one (${mesh.get(id)}); ` +
                                (unread
                                    ? `${unreadWhy}any certificate a cluster's cacerts, which holds the key of a mesh CA under it, could mint. `
                                    : "every cluster's cacerts holds the key of a mesh CA under it, so any cluster could mint a certificate " +
                                      (calls !== undefined
                                          ? `with the identity the sidecar expects of the server it calls (the subjectAltNames of ${destinationRulesShown(calls)}). `
                                          : sanChecked
                                            ? "with the identity the gateway accepts (APIC's URI SAN). "
                                            : `that the gateway accepts as any client's, with ${noSanCheck}. `)) +
                                `${fix[0].toUpperCase()}${fix.slice(1)}${weaker}`,
                        );
                    if (calls !== undefined) continue;
                    // A public root, or a public CA under one: Envoy takes every certificate in ca.crt as an anchor.
                    const anchor = publicAnchorOf(cert, bundle);
                    if (anchor === undefined) continue;
                    const { rootAbove } = anchor;
                    const issuers = rootAbove === undefined ? "a public CA under it" : "it, or a CA under it,";
                    reportOnce(
                        secret.place,
                        `${trusts}, ` +
                            (rootAbove === undefined
                                ? "a publicly trusted root (in Node's tls.rootCertificates): "
                                : `a public CA (under ${subjectOf(rootAbove)}, a publicly trusted root), which Envoy takes as a trust anchor ` +
                                  `as it takes every certificate in ${entry}, an intermediate too: `) +
                            (unread
                                ? `${unreadWhy}any client certificate ${issuers} issues, to anyone; `
                                : sanChecked
                                  ? `${issuers} could issue, to anyone, a client certificate Envoy accepts, which only the SAN check would then keep out; `
                                  : `every client certificate ${issuers} issues, to anyone, is let in, with ${noSanCheck}; `) +
                            fix,
                    );
                }
            }
        }
    },
};

export const POLICIES: policy.Policies = [
    keyStrengthPolicy,
    caKeyStrengthPolicy,
    leafValidityPolicy,
    rootPathLengthPolicy,
    caPathLengthPolicy,
    issuingCaCertificatePolicy,
    certificateUsagePolicy,
    keySecretPolicy,
    istiodCaPolicy,
    keyConfigMapPolicy,
    keyMetadataPolicy,
    secretsInPlacePolicy,
    keyHelmValuesPolicy,
    keyKubernetesObjectPolicy,
    separateTrustDomainsPolicy,
    uniqueKubernetesObjectsPolicy,
    gatewayKeysBesideCacertsPolicy,
    tlsSecretContentsPolicy,
    credentialTrustPolicy,
];
