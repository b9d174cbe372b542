/**
 * What IBM API Connect uploads, as payloads of the `apic` toolkit CLI (clidocs, `keystores:create`,
 * `truststores:create`, `tls-client-profiles:create`, `tls-server-profiles:create`):
 * - per endpoint, APIC as a client of the gateway: a keystore (certificate, chain and key in one
 *   PEM string), a truststore (the gateway server root and CA) and a TLS client profile that binds them,
 *   TLS 1.2 and 1.3 with AEAD suites only (APIC_CIPHERS), SNI on, server verification on;
 * - for the UI services calling APIC: a truststore (the UI client root and CA) and per APIC host a TLS
 *   server profile that requires client certificates, with that host's keystore when it is issued here.
 */

import * as crypto from "crypto";
import { spkiPin } from "./pins";
import { isSelfSigned, keyVerifies, readableCertificates, subjectOf } from "./x509";

/** APIC accepts at most 10 intermediate certificates in a keystore. */
export const APIC_MAX_INTERMEDIATES = 10;

/**
 * The cipher suites of every TLS profile here, in APIC's names (IBM's CLI reference,
 * `tls-client-profiles:create`): TLS 1.3's AEAD suites, then ECDHE with AES-GCM for TLS 1.2.
 * Without a list DataPower offers its default one, which holds CBC and finite-field DHE suites.
 * The TLS 1.3 suites are listed on purpose: with TLS 1.3 and none of its suites, APIC adds all of
 * them, TLS_AES_128_CCM_8_SHA256 (a truncated tag) included. Both ECDSA and RSA suites stay: in
 * TLS 1.2 the suite must fit the server's key, which follows pki:keyAlgorithm (or is APIC's own
 * with pki:frontEnd.apicServerCa) and changes at an update while the profile uploaded before
 * stays; neither family is weaker than the other. Every suite is in Envoy's default lists, what
 * an Istio Gateway without cipherSuites accepts and a sidecar offers.
 */
export const APIC_CIPHERS: readonly string[] = [
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE_RSA_WITH_AES_128_GCM_SHA256",
];

/** The protocols of every TLS profile here. */
const APIC_PROTOCOLS: readonly string[] = ["tls_v1.2", "tls_v1.3"];

/** What every TLS profile here says first: its names, and the protocols and suites all of them offer. */
export interface ApicTlsProfileHead {
    name: string;
    title: string;
    version: string;
    summary: string;
    protocols: string[];
    ciphers: string[];
}

const tlsProfileHead = (name: string, title: string, summary: string): ApicTlsProfileHead => ({
    name,
    title,
    version: "1.0.0",
    summary,
    protocols: [...APIC_PROTOCOLS],
    ciphers: [...APIC_CIPHERS],
});

/** Placeholders the operator fills in (e.g. with envsubst) before `apic tls-client-profiles:create`. */
export const MANAGEMENT_URL_PLACEHOLDER = "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}";

export interface ApicPayloads {
    keystore: { name: string; title: string; summary: string; keystore: string };
    truststore: { name: string; title: string; summary: string; truststore: string };
    tlsClientProfile: ApicTlsProfileHead & {
        keystore_url: string;
        truststore_url: string;
        insecure_server_connections: boolean;
        server_name_indication: boolean;
    };
}

const countCerts = (pem: string): number => (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

/**
 * Why APIC would refuse a keystore whose certificate comes with `chainPem` (the CA certificates
 * after the leaf), or undefined: it takes at most APIC_MAX_INTERMEDIATES. ApicClientBundle and
 * render both ask, each naming where the chain came from and the fix.
 */
export function apicChainProblem(chainPem: string): string | undefined {
    const count = countCerts(chainPem);
    if (count <= APIC_MAX_INTERMEDIATES) return undefined;
    return `holds ${count} intermediate certificates, more than the ${APIC_MAX_INTERMEDIATES} an APIC keystore takes (APIC refuses such a keystore)`;
}

/** Each certificate of `text` that Node reads, CRLF line ends taken as LF; none for no text. */
const certificatesIn = (text: string | null | undefined): crypto.X509Certificate[] =>
    typeof text === "string" ? readableCertificates(text.replace(/\r\n/g, "\n")) : [];

/**
 * Why APIC's truststore (`bundlePem`, the CAs it trusts for the gateway's server certificate) must
 * not be given, or undefined: it holds a certificate (compared by SPKI pin, so a re-issued or
 * cross-signed copy counts too) with the key of the APIC client CA (`clientCaCertPem`), of a CA of
 * its chain (`clientCaChainPem`), or of the root that issued that chain. The client CA carries no
 * extendedKeyUsage, so its key would sign a server certificate for any gateway host that APIC
 * accepts as the gateway. A root of the client CA's chain is let through only beside a CA it issued
 * that is none of the client CA's: the root shared with the gateway server CA
 * (`pki:trustDomains: shared`), whose weaker guarantee is documented there.
 */
export function clientCaInServerTrustProblem(
    bundlePem: string,
    clientCaCertPem: string | null | undefined,
    clientCaChainPem: string | null | undefined,
): string | undefined {
    const [clientCa] = certificatesIn(clientCaCertPem);
    const chain = certificatesIn(clientCaChainPem);
    // The client CA itself (even a root used as one) and every CA of its chain that is not a root.
    const own = new Map<string, crypto.X509Certificate>();
    if (clientCa !== undefined) own.set(spkiPin(clientCa.publicKey), clientCa);
    for (const cert of chain)
        if (!isSelfSigned(cert) && !own.has(spkiPin(cert.publicKey))) own.set(spkiPin(cert.publicKey), cert);
    const signed = [...own.values()].filter((cert) => !isSelfSigned(cert));
    const rootPins = new Set(chain.filter(isSelfSigned).map((cert) => spkiPin(cert.publicKey)));
    const trusted = certificatesIn(bundlePem);
    const fix =
        "APIC would accept, as the gateway, a server certificate for any host that the APIC client CA's key " +
        "(in Pulumi state) signs, as that CA has no extendedKeyUsage. Give the gateway server CA's trustBundlePem";
    for (const cert of trusted) {
        const pin = spkiPin(cert.publicKey);
        const same = own.get(pin);
        if (same !== undefined) {
            const whose =
                same === clientCa ? "clientCa's own key" : `the key of ${subjectOf(same)}, a CA of clientCa.chainPem`;
            return `holds ${subjectOf(cert)}, which has ${whose}: ${fix}`;
        }
        const isClientRoot = rootPins.has(pin) || signed.some((lower) => keyVerifies(lower, cert.publicKey));
        const issuesServerCa = trusted.some(
            (other) => !own.has(spkiPin(other.publicKey)) && !isSelfSigned(other) && keyVerifies(other, cert.publicKey),
        );
        if (isClientRoot && !issuesServerCa) {
            return (
                `holds ${subjectOf(cert)}, the root that issued clientCa's chain, and no CA it issued besides clientCa's: ${fix} ` +
                "(under a root shared with clientCa's, that bundle holds the gateway server CA too)"
            );
        }
    }
    return undefined;
}

export function apicPayloads(args: {
    environment: string;
    endpointId: string;
    host: string;
    certPem: string;
    chainPem: string;
    keyPem: string;
    truststorePem: string;
}): ApicPayloads {
    const chainProblem = apicChainProblem(args.chainPem);
    if (chainProblem !== undefined) {
        throw new Error(
            `apicBundles.${args.endpointId}.caChainPem ${chainProblem}. Issue that endpoint's APIC client certificates from a CA whose chain up to its root holds at most ${APIC_MAX_INTERMEDIATES} CA certificates besides the root (ApicClientBundle's clientCa.chainPem; a root given is left out), then deploy and render again`,
        );
    }
    const base = `${args.environment}-${args.endpointId}`;
    const names = { keystore: `${base}-keystore`, truststore: `${base}-truststore`, profile: `${base}-mtls` };
    return {
        keystore: {
            name: names.keystore,
            title: `${args.environment} ${args.endpointId} mTLS client`,
            summary: `APIC client identity for ${args.host}`,
            keystore: `${args.certPem}${args.chainPem}${args.keyPem}`,
        },
        truststore: {
            name: names.truststore,
            title: `${args.environment} ${args.endpointId} gateway CAs`,
            summary: `CAs of the Istio gateway serving ${args.host}`,
            truststore: args.truststorePem,
        },
        tlsClientProfile: {
            ...tlsProfileHead(
                names.profile,
                `${args.environment} ${args.endpointId} mTLS`,
                `Mutual TLS to ${args.host}`,
            ),
            keystore_url: `${MANAGEMENT_URL_PLACEHOLDER}/keystores/${names.keystore}`,
            truststore_url: `${MANAGEMENT_URL_PLACEHOLDER}/truststores/${names.truststore}`,
            insecure_server_connections: false,
            server_name_indication: true,
        },
    };
}

/** A TLS server profile of APIC's (`apic tls-server-profiles:create`). */
export interface ApicTlsServerProfile extends ApicTlsProfileHead {
    mutual_authentication: "require";
    limit_renegotiation: boolean;
    keystore_url: string;
    truststore_url: string;
}

/** What APIC's UI-facing TLS server profiles need (mutual authentication required). */
export interface ApicUiPayloads {
    truststore: { name: string; title: string; summary: string; truststore: string };
    /** One keystore per APIC host whose server certificate is issued here. */
    keystores: Record<string, { name: string; title: string; summary: string; keystore: string }>;
    /**
     * One TLS server profile per APIC host: a profile has one keystore, and each host's certificate
     * names that host alone, so each host's SNI entry needs the profile of its own keystore.
     */
    tlsServerProfiles: Record<string, ApicTlsServerProfile>;
}

/** The APIC keystore of the UI-facing server certificate for `host` (`apic keystores:update` names it). */
export const apicUiKeystoreName = (environment: string, host: string): string =>
    `${environment}-ui-${host.replace(/\./g, "-")}-server`;

/** The APIC TLS server profile of `host`, which its SNI entry selects. */
export const apicUiProfileName = (environment: string, host: string): string =>
    `${environment}-ui-${host.replace(/\./g, "-")}-mtls`;

export function apicUiPayloads(args: {
    environment: string;
    /** The UI client root(s). */
    truststorePem: string;
    /** Every APIC host the UI services call (pki:frontEnd.apicHosts). */
    hosts: readonly string[];
    /** Per APIC host issued here: its certificate, chain and key (none with pki:frontEnd.apicServerCa). */
    servers: Record<string, { certPem: string; chainPem: string; keyPem: string }>;
}): ApicUiPayloads {
    const truststoreName = `${args.environment}-ui-clients`;
    const keystoreName = (host: string): string => apicUiKeystoreName(args.environment, host);
    return {
        truststore: {
            name: truststoreName,
            title: `${args.environment} UI client root`,
            summary:
                "The root of the UI services' client certificates: only they pass APIC's UI-facing TLS server profiles",
            truststore: args.truststorePem,
        },
        keystores: Object.fromEntries(
            Object.entries(args.servers).map(([host, server]) => [
                host,
                {
                    name: keystoreName(host),
                    title: `${args.environment} ${host} server`,
                    summary: `APIC's server certificate for ${host}, which the UI services call`,
                    keystore: `${server.certPem}${server.chainPem}${server.keyPem}`,
                },
            ]),
        ),
        tlsServerProfiles: Object.fromEntries(
            args.hosts.map((host) => [
                host,
                {
                    ...tlsProfileHead(
                        apicUiProfileName(args.environment, host),
                        `${args.environment} UI services mTLS ${host}`,
                        `Serves ${host} and requires a client certificate under the UI client root`,
                    ),
                    mutual_authentication: "require",
                    limit_renegotiation: true,
                    // With a certificate from outside this PKI (pki:frontEnd.apicServerCa), point this at that keystore.
                    keystore_url: `${MANAGEMENT_URL_PLACEHOLDER}/keystores/${host in args.servers ? keystoreName(host) : "<your-keystore>"}`,
                    truststore_url: `${MANAGEMENT_URL_PLACEHOLDER}/truststores/${truststoreName}`,
                },
            ]),
        ),
    };
}
