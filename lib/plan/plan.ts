/**
 * The pure planning step: validated config -> every certificate, endpoint and Kubernetes object
 * the stack creates. Components, render and inventory all read this plan; nothing here touches
 * Pulumi, so it is cheap to call and easy to test.
 */
import * as crypto from "crypto";
import * as der from "../engine/der";
import * as x509 from "../engine/x509";
import { ConfigError, dnsNameProblems, validateConfig } from "../config/validate";
import { HostnameOption, LeafKeyAlgorithm, PkiConfig } from "../config/types";

export type CertRole = "root" | "intermediate" | "mesh-ca" | "gateway-server" | "apic-client";
/** "root", "gateway-server-ca", "apic-client-ca" or "mesh-ca-<cluster>". */
export type CaId = string;

export interface KeySpec {
    readonly algorithm: LeafKeyAlgorithm;
    /** Set for RSA. */
    readonly rsaBits?: number;
    /** Set for ECDSA (the provider would default to P224). */
    readonly ecdsaCurve?: "P256" | "P384";
}

export interface SubjectSpec {
    readonly commonName: string;
    readonly organization?: string;
    readonly organizationalUnit?: string;
}

export interface CaPlan {
    readonly id: CaId;
    readonly role: "root" | "intermediate" | "mesh-ca";
    /** Mesh CAs only: the cluster whose istiod signs with it. */
    readonly cluster?: string;
    readonly subject: SubjectSpec;
    readonly key: KeySpec;
    readonly validityDays: number;
    /** The provider marks the certificate for renewal this many days before it expires. */
    readonly earlyRenewalDays: number;
    /** Rotation epoch (mesh CAs); a new value means a new key and certificate. */
    readonly epoch: number;
    /** Issuing CA; undefined for the self-signed root. */
    readonly issuer?: CaId;
    /** Root only: 1 allows intermediates but no CA below them (0 would mean "no limit" in @pulumi/tls). */
    readonly maxPathLength?: number;
}

export interface LeafPlan {
    readonly role: "gateway-server" | "apic-client";
    readonly subject: SubjectSpec;
    readonly dnsNames: readonly string[];
    readonly uris: readonly string[];
    /** @pulumi/tls allowed_uses, in the order they are written. */
    readonly allowedUses: readonly string[];
    readonly key: KeySpec;
    readonly validityDays: number;
    /** The provider marks the certificate for renewal this many days before it expires. */
    readonly earlyRenewalDays: number;
    /** Rotation epoch; a new value means a new key and certificate. */
    readonly epoch: number;
    readonly issuer: "gateway-server-ca" | "apic-client-ca";
}

export interface EndpointPlan {
    /** Unique, DNS-label-shaped: resource names, secret names and bundle names derive from it. */
    readonly id: string;
    readonly domain: string;
    readonly host: string;
    /** Microservices behind this host (routing inside the mesh stays with the VirtualServices). */
    readonly services: readonly string[];
    readonly serviceNamespace: string;
    readonly server: LeafPlan;
    readonly client: LeafPlan;
    /** The URI SAN of the APIC client cert, pinned in the Gateway's `subjectAltNames`. */
    readonly clientIdentity: string;
    /** The `kubernetes.io/tls` secret the Gateway reads (`credentialName`). */
    readonly gatewaySecret: { readonly namespace: string; readonly name: string };
    /** The Istio Gateway holding this endpoint's `servers` entry. */
    readonly gatewayName: string;
}

export interface GatewayPlan {
    readonly name: string;
    readonly namespace: string;
    readonly domain: string;
    readonly endpointIds: readonly string[];
}

/** Istio reads its plug-in CA from this secret at start-up. */
export const MESH_CA_SECRET = { namespace: "istio-system", name: "cacerts" } as const;

export interface PkiPlan {
    readonly config: PkiConfig;
    /** With pki:offlineRoot: the CAs whose CSR still waits for the ceremony's signature. */
    readonly pendingIntermediates: readonly CaId[];
    /** Root first, then the gateway-server, APIC-client and per-cluster mesh CAs. */
    readonly cas: readonly CaPlan[];
    readonly endpoints: readonly EndpointPlan[];
    readonly gateways: readonly GatewayPlan[];
}

export const HTTPS_PORT = 443;
export const GATEWAY_SELECTOR = { istio: "ingressgateway" } as const;
/** X.509 upper bound for a common name (RFC 5280 ub-common-name). */
const MAX_COMMON_NAME = 64;

export function leafKey(algorithm: LeafKeyAlgorithm): KeySpec {
    return algorithm === "RSA" ? { algorithm, rsaBits: 2048 } : { algorithm, ecdsaCurve: "P256" };
}

export function caKey(algorithm: LeafKeyAlgorithm): KeySpec {
    return algorithm === "RSA" ? { algorithm, rsaBits: 4096 } : { algorithm, ecdsaCurve: "P384" };
}

/** keyEncipherment only makes sense for RSA (TLS 1.2 RSA key exchange); ECDSA keys only sign. */
export function leafUses(algorithm: LeafKeyAlgorithm, eku: "server_auth" | "client_auth"): string[] {
    return algorithm === "RSA" ? ["digital_signature", "key_encipherment", eku] : ["digital_signature", eku];
}

/**
 * The resource name of a rotated key, CSR or certificate: unchanged at epoch 0, so existing
 * stacks keep their state; `<name>-r<epoch>` after, so a new epoch creates a new key and
 * certificate before the old ones are deleted.
 */
export function rotatedName(name: string, epoch: number): string {
    return epoch === 0 ? name : `${name}-r${epoch}`;
}

export const CA_USES = ["cert_signing", "crl_signing"] as const;

/**
 * The identity APIC presents. A URN, so that no CA under the root ever issues it by accident:
 * istiod issues only `spiffe://<trustDomain>/ns/<ns>/sa/<sa>` URIs and our gateway CA only DNS
 * names with serverAuth.
 */
export function apicClientIdentity(environment: string, endpointId: string): string {
    return `urn:apic-istio-pki:${environment}:apic-client:${endpointId}`;
}

/** `<domain>-<name>`, without doubling a domain prefix the name already has ("ob-payee", not "ob-ob-payee"). */
function endpointIdOf(domain: string, name: string): string {
    return name.startsWith(`${domain}-`) ? name : `${domain}-${name}`;
}

interface Grouping {
    readonly id: string;
    readonly hostLabel?: string;
    readonly services: readonly string[];
    /** The config key that named this endpoint, for error messages. */
    readonly configKey: string;
}

function groupings(option: HostnameOption, domain: string, config: PkiConfig): Grouping[] {
    const d = config.domains[domain];
    const key = `pki:domains.${domain}`;
    switch (option) {
        case 1:
            return [{ id: domain, services: d.services, configKey: key }];
        case 2:
            return d.services.map((service, i) => ({
                id: endpointIdOf(domain, service.toLowerCase()),
                hostLabel: service.toLowerCase(),
                services: [service],
                configKey: `${key}.services[${i}]`,
            }));
        case 3:
            return Object.entries(d.groups).map(([group, services]) => ({
                id: endpointIdOf(domain, group),
                hostLabel: group,
                services,
                configKey: `${key}.groups.${group}`,
            }));
    }
}

/** What every leaf of a stack shares. */
export interface LeafOptions {
    readonly keyAlgorithm: LeafKeyAlgorithm;
    readonly validityDays: number;
    readonly earlyRenewalDays: number;
    readonly organization?: string;
}

/** The gateway's server certificate for one host: SAN = the host, EKU serverAuth only. */
export function gatewayServerCert(args: LeafOptions & { endpointId: string; host: string; epoch: number }): LeafPlan {
    return {
        role: "gateway-server",
        subject: subject(args.host.length <= MAX_COMMON_NAME ? args.host : args.endpointId, args.organization),
        dnsNames: [args.host],
        uris: [],
        allowedUses: leafUses(args.keyAlgorithm, "server_auth"),
        key: leafKey(args.keyAlgorithm),
        validityDays: args.validityDays,
        earlyRenewalDays: args.earlyRenewalDays,
        epoch: args.epoch,
        issuer: "gateway-server-ca",
    };
}

/** APIC's client certificate for one endpoint: SAN = the pinned URI identity, EKU clientAuth only. */
export function apicClientCert(args: LeafOptions & { endpointId: string; identity: string; epoch: number }): LeafPlan {
    return {
        role: "apic-client",
        subject: subject(`apic-client ${args.endpointId}`.slice(0, MAX_COMMON_NAME), args.organization),
        dnsNames: [],
        uris: [args.identity],
        allowedUses: leafUses(args.keyAlgorithm, "client_auth"),
        key: leafKey(args.keyAlgorithm),
        validityDays: args.validityDays,
        earlyRenewalDays: args.earlyRenewalDays,
        epoch: args.epoch,
        issuer: "apic-client-ca",
    };
}

function subject(commonName: string, organization: string | undefined): SubjectSpec {
    return organization === undefined ? { commonName } : { commonName, organization };
}

export const meshCaId = (cluster: string): string => `mesh-ca-${cluster}`;

/** The cluster is in the CN, so that certificates from two clusters' CAs are told apart at a glance. */
export function meshCaSubject(environment: string | undefined, cluster: string, organization?: string): SubjectSpec {
    return subject([environment, "mesh CA", cluster].filter((p) => p !== undefined).join(" "), organization);
}

/** Subject, key and lifetime of a certificate made elsewhere (the offline root). */
function describeCertificate(pem: string): { subject: SubjectSpec; key: KeySpec; validityDays: number } {
    const cert = new crypto.X509Certificate(pem);
    const name = x509.decodeName(der.readNode(x509.parseCertificate(cert.raw).subjectName));
    const details = cert.publicKey.asymmetricKeyDetails;
    const key: KeySpec =
        cert.publicKey.asymmetricKeyType === "rsa"
            ? { algorithm: "RSA", rsaBits: details?.modulusLength }
            : { algorithm: "ECDSA", ecdsaCurve: details?.namedCurve === "prime256v1" ? "P256" : "P384" };
    return {
        subject: subject(name.commonName ?? "offline root", name.organization?.[0]),
        key,
        validityDays: Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000),
    };
}

export function planCas(config: PkiConfig): CaPlan[] {
    const key = caKey(config.caKeyAlgorithm);
    const intermediate = (id: "gateway-server-ca" | "apic-client-ca", purpose: string): CaPlan => ({
        id,
        role: "intermediate",
        subject: subject(`${config.environment} ${purpose} CA`, config.organization),
        key,
        validityDays: config.validityDays.intermediate,
        earlyRenewalDays: config.earlyRenewalDays.intermediate,
        epoch: 0,
        issuer: "root",
    });
    const offline = config.offlineRoot ? describeCertificate(config.offlineRoot.certificate) : undefined;
    return [
        {
            id: "root",
            role: "root",
            subject: offline?.subject ?? subject(`${config.environment} API platform root CA`, config.organization),
            key: offline?.key ?? key,
            validityDays: offline?.validityDays ?? config.validityDays.root,
            earlyRenewalDays: config.earlyRenewalDays.root,
            epoch: 0,
            maxPathLength: 1,
        },
        intermediate("gateway-server-ca", "gateway server"),
        intermediate("apic-client-ca", "APIC client"),
        ...config.clusters.map((cluster): CaPlan => ({
            id: meshCaId(cluster.name),
            role: "mesh-ca",
            cluster: cluster.name,
            subject: meshCaSubject(config.environment, cluster.name, config.organization),
            key,
            validityDays: config.validityDays.intermediate,
            earlyRenewalDays: config.earlyRenewalDays.intermediate,
            epoch: config.rotation.meshEpoch,
            issuer: "root",
        })),
    ];
}

/**
 * The APIC client epoch of an endpoint: the configured one, but always past every revoked
 * certificate's epoch, so that revoking a certificate also issues its successor.
 */
function clientEpoch(config: PkiConfig, endpointId: string): number {
    const { rotation } = config;
    const configured =
        rotation.leafEpoch + rotation.apicClientEpoch + (rotation.endpoints[endpointId]?.clientEpoch ?? 0);
    const revoked = config.revocations.filter((r) => r.endpoint === endpointId).map((r) => r.epoch + 1);
    return Math.max(configured, ...revoked);
}

/** Config -> plan. Throws ConfigError (naming the keys) for anything the config alone could not reveal. */
export function planPki(config: PkiConfig): PkiPlan {
    const problems: string[] = [];
    const endpoints: EndpointPlan[] = [];
    const hostOwner = new Map<string, string>();
    const idOwner = new Map<string, string>();
    const leafOptions: LeafOptions = {
        keyAlgorithm: config.keyAlgorithm,
        validityDays: config.validityDays.leaf,
        earlyRenewalDays: config.earlyRenewalDays.leaf,
        organization: config.organization,
    };
    const { rotation } = config;

    for (const [domain, d] of Object.entries(config.domains)) {
        for (const g of groupings(config.option, domain, config)) {
            const host = [g.hostLabel, domain, config.baseDomain].filter((p) => p !== undefined).join(".");
            for (const p of dnsNameProblems(host)) {
                problems.push(
                    `${g.configKey} makes the host "${host}", which ${p}. Use a shorter name or pki:baseDomain`,
                );
            }
            const owner = hostOwner.get(host);
            if (owner !== undefined) {
                problems.push(
                    `${g.configKey} and ${owner} both resolve to the host "${host}"; every endpoint needs its own host. Rename one of them`,
                );
            }
            hostOwner.set(host, g.configKey);
            const idClash = idOwner.get(g.id);
            if (idClash !== undefined && owner === undefined) {
                problems.push(
                    `${g.configKey} and ${idClash} both give the endpoint name "${g.id}" (used in secret and resource names). Rename one of them`,
                );
            }
            idOwner.set(g.id, g.configKey);

            const identity = apicClientIdentity(config.environment, g.id);
            endpoints.push({
                id: g.id,
                domain,
                host,
                services: g.services,
                serviceNamespace: d.namespace,
                server: gatewayServerCert({
                    endpointId: g.id,
                    host,
                    epoch:
                        rotation.leafEpoch + rotation.gatewayServerEpoch + (rotation.endpoints[g.id]?.serverEpoch ?? 0),
                    ...leafOptions,
                }),
                client: apicClientCert({
                    endpointId: g.id,
                    identity,
                    epoch: clientEpoch(config, g.id),
                    ...leafOptions,
                }),
                clientIdentity: identity,
                gatewaySecret: { namespace: config.gatewayNamespace, name: `apic-mtls-${g.id}` },
                gatewayName: `apic-mtls-${domain}`,
            });
        }
    }
    config.revocations.forEach((r, i) => {
        if (!idOwner.has(r.endpoint)) {
            problems.push(
                `pki:revocations[${i}].endpoint "${r.endpoint}" is not an endpoint of this stack; its endpoints are ${[...idOwner.keys()].join(", ")}`,
            );
        }
    });
    for (const id of Object.keys(config.rotation.endpoints)) {
        if (!idOwner.has(id)) {
            problems.push(
                `pki:rotation.endpoints.${id} is not an endpoint of this stack; its endpoints are ${[...idOwner.keys()].join(", ")}`,
            );
        }
    }
    const cas = planCas(config);
    const offlineSigned = Object.keys(config.offlineRoot?.intermediates ?? {});
    const intermediateIds = cas.filter((c) => c.id !== "root").map((c) => c.id);
    for (const id of offlineSigned) {
        if (!intermediateIds.includes(id)) {
            problems.push(
                `pki:offlineRoot.intermediates.${id} is not a CA of this stack; its CAs are ${intermediateIds.join(", ")}`,
            );
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);

    const gateways = Object.keys(config.domains).map((domain) => ({
        name: `apic-mtls-${domain}`,
        namespace: config.gatewayNamespace,
        domain,
        endpointIds: endpoints.filter((e) => e.domain === domain).map((e) => e.id),
    }));
    const pendingIntermediates = config.offlineRoot ? intermediateIds.filter((id) => !offlineSigned.includes(id)) : [];
    return { config, cas, endpoints, gateways, pendingIntermediates };
}

/** Raw `pki:` config -> plan, validating first. The one entry point callers need. */
export function planFromRawConfig(raw: Readonly<Record<string, unknown>>): PkiPlan {
    return planPki(validateConfig(raw));
}
