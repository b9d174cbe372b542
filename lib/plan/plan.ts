/**
 * The pure planning step: validated config -> every certificate, endpoint and Kubernetes object
 * the stack creates. Components, render and inventory all read this plan; nothing here touches
 * Pulumi, so it is cheap to call and easy to test.
 */
import * as crypto from "crypto";
import { X509Certificate } from "@peculiar/x509";
import { ConfigError, dnsNameProblems, validateConfig } from "../config/validate";
import {
    apicGatewayName,
    caSecretProblem,
    customerFacingSecretName,
    firstCharacters,
    GATEWAY_SELECTOR,
    memberPath,
    ownMember,
    showJson,
    uiClientSecretName,
} from "../config/values";
import { javascriptValueText } from "../config/pulumiText";
import { settingsWritten, settingWritten } from "../config/settings";
import { LeafKeyAlgorithm, OfflineRootConfig, PkiConfig, RevocationConfig } from "../config/types";
import {
    activeGeneration,
    CaPosition,
    CaRotationConfig,
    CaSlot,
    deployedCa,
    DeployedClient,
    DeployedServer,
    describePosition,
    inRotation,
    MIN_CA_RENEWAL_DAYS,
    normalSerial,
    positionAt,
    RetiredCa,
    retiredAfter,
    RotationRecord,
    stepOf,
    transitionProblems,
} from "./caRotation";
import { groupings } from "./endpoints";
import { CLOCK_SKEW_MS, DAY_MS, HOUR_MS } from "../pki/crl";
import { pickSeriesCrl, SeriesInput, seriesCrlRecord, seriesSpan } from "../pki/crlSeries";
import {
    nameCovering,
    outOfOrderProblem,
    OwnCa,
    ownCaPublicRootsProblems,
    publicCertificateProblems,
    publicChainOf,
} from "../pki/publicCert";
import {
    LeafPurpose,
    nameConstraintProblem,
    pathLengthProblem,
    PlaceOf,
    purposeProblem,
    signatureProblem,
    SignedName,
    unhandledExtensionProblem,
} from "../pki/issuerChecks";
import { caSubject, dirName } from "../pki/asn1";
import { expiredAt, notYetValidAt, subjectOf } from "../pki/x509";
import {
    caSlots,
    intermediateSlots,
    isMeshSlot,
    INTERMEDIATE_TITLES,
    IntermediateSlot,
    ROOT_IDS,
    ROOT_TITLES,
    RootSlot,
    rootOf,
    rootSlots,
    TrustLayout,
} from "./hierarchy";

export type CertRole =
    | "root"
    | "intermediate"
    | "mesh-ca"
    | "gateway-server"
    | "apic-client"
    | "ui-client"
    | "apic-server"
    | "customer-facing";
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

/** A CSR's subject, which may name no common name (customerFacingSubject). */
export type RequestSubjectSpec = Omit<SubjectSpec, "commonName"> & { readonly commonName?: string };

export interface CaPlan {
    /** Unique per CA certificate: the slot id, then `-g<generation>` from the first rotation on. */
    readonly id: CaId;
    /** The CA's place in the hierarchy, shared by its generations: "root", "gateway-server-ca", "apic-client-ca", "mesh-ca-<cluster>". */
    readonly slotId: CaId;
    /** Its `pki:caRotation` key. */
    readonly slot: CaSlot;
    /** Generation of this certificate (an intermediate's own generations plus its root's). */
    readonly generation: number;
    /**
     * It signs the leaves (mesh: istiod's cacerts holds it). During a staged rotation the slot's
     * other CA is still (prepare) or already (switch) only trusted.
     */
    readonly active: boolean;
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
    /**
     * Root only: 1 allows intermediates but no CA below them to OpenSSL and Go (istiod), not to
     * Envoy, whose BoringSSL ignores an anchor's pathlen (0 would mean "no limit" in @pulumi/tls).
     */
    readonly maxPathLength?: number;
    /** Signed by (or, for a root, kept on) the offline ceremony's machine: no root key in the stack. */
    readonly offline: boolean;
}

export interface LeafPlan {
    readonly role: "gateway-server" | "apic-client" | "ui-client" | "apic-server";
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
    /** Id of the issuing CA (its active generation). */
    readonly issuer: CaId;
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
    /**
     * APIC client keys the gateway pins (`verifyCertificateSpki`) beside the current one: during a
     * rotation's switch phase the previous key, so that APIC keeps working until it uploads the
     * new keystore. From the deployed record; never a revoked certificate's key.
     */
    readonly pinnedPreviousClients: readonly DeployedClient[];
}

/**
 * Where CRLs are published. A relying party gets CRLs (a CRL for every CA of the chains it
 * checks, since Envoy then checks them all) once a certificate under its root was revoked or an
 * issuing CA retired: the gateway's `ca.crl` (APIC clients), APIC's `truststore.crl` (gateway
 * servers), istiod's `ca-crl.pem` (mesh).
 */
export interface CrlPlan {
    readonly gateway: boolean;
    readonly apicTruststore: boolean;
    readonly mesh: boolean;
    /** APIC's UI-facing truststore (UI client CA and root), for a DataPower that takes CRLs. */
    readonly apicUiTruststore: boolean;
    /** Root CA id -> the ceremony-signed CRL to publish, for offline roots whose CRL is needed. */
    readonly offlineRootCrls: Readonly<Record<CaId, string>>;
}

/** A set of CRLs CrlPlan says is published (offline roots' CRLs aside). */
export type CrlSet = keyof Omit<CrlPlan, "offlineRootCrls">;

/** Each CRL set's issuing CA: the set holds the CRLs of its generations and of its root. */
export const CRL_SET_SLOT: Readonly<Record<CrlSet, IntermediateSlot>> = {
    gateway: "apicClientCa",
    apicTruststore: "gatewayServerCa",
    mesh: "meshCa",
    apicUiTruststore: "uiClientCa",
};

/** A revoked APIC client certificate, with the CA that issued it when the deployed record knows it. */
export interface RevokedClient {
    /** An endpoint's APIC client, or a UI service's client. */
    readonly kind: "apic" | "ui";
    /** Its key in the deployment record's clients: the endpoint id, or `ui/<name>`. */
    readonly holder: string;
    readonly serialHex: string;
    readonly revokedAt: string;
    readonly reason: string;
    /** Id of the issuing CA; undefined when planned without the deployed record (diff). */
    readonly issuer?: CaId;
}

export interface GatewayPlan {
    readonly name: string;
    readonly namespace: string;
    readonly domain: string;
    readonly endpointIds: readonly string[];
}

/** A UI service that calls APIC with mutual TLS: its client certificate, Secret and DestinationRules. */
export interface UiClientPlan {
    /** The service as the inventory lists it. */
    readonly service: string;
    /** Its Kubernetes name (lower-cased): Secret, DestinationRule and identity derive from it. */
    readonly name: string;
    readonly namespace: string;
    /** Pod labels its DestinationRules select (workloadSelector). */
    readonly labels: Readonly<Record<string, string>>;
    /** The URI SAN: urn:apic-istio-pki:<environment>:ui-client:<name>. */
    readonly identity: string;
    readonly leaf: LeafPlan;
    /** The `kubernetes.io/tls` Secret the sidecar reads (DestinationRule credentialName). */
    readonly secret: { readonly namespace: string; readonly name: string };
    /** The APIC hosts it calls: one DestinationRule each. */
    readonly apicHosts: readonly string[];
}

/** APIC's server certificate for a host UI services call, issued here (no pki:frontEnd.apicServerCa). */
export interface ApicServerPlan {
    readonly host: string;
    readonly leaf: LeafPlan;
}

/** A customer-facing host: key and CSR made here, the certificate signed by a public CA. */
export interface CustomerFacingPlan {
    readonly host: string;
    /** A DNS-label-shaped id for resource and Secret names. */
    readonly id: string;
    /** The key generation whose CSR is requested. */
    readonly epoch: number;
    /** The key generation the configured certificate certifies. */
    readonly certificateEpoch: number;
    /** The public CA's certificate and chain; undefined: pending (the CSR waits for signing). */
    readonly certificate?: string;
    readonly subject: RequestSubjectSpec;
    readonly key: KeySpec;
    readonly secret: { readonly namespace: string; readonly name: string };
}

export interface FrontEndPlan {
    readonly uiClients: readonly UiClientPlan[];
    readonly apicServers: readonly ApicServerPlan[];
    readonly customerFacing: readonly CustomerFacingPlan[];
    /** The Istio Gateway of the customer-facing hosts (mode SIMPLE). */
    readonly gatewayName: string;
    /**
     * Its namespace and its Secrets': the customer-facing gateway's pods' (Istio reads a
     * credentialName in the gateway workload's namespace). pki:frontEnd.customerFacingGateway, else
     * pki:gatewayNamespace.
     */
    readonly gatewayNamespace: string;
    /** Its selector: the customer-facing gateway's pod labels; by default the backend gateway's. */
    readonly gatewaySelector: Readonly<Record<string, string>>;
}

export { GATEWAY_SELECTOR, MESH_CA_SECRET } from "../config/values";

export interface PkiPlan {
    readonly config: PkiConfig;
    /**
     * The clock of this plan and of the deployment built from it: CRL periods, expired
     * retirements, the deployment record's times.
     */
    readonly now: Date;
    /**
     * The deployed stack's rotation record, when the caller read it (the program and render do):
     * moves between rotation phases were checked against it.
     */
    readonly deployed?: RotationRecord;
    /**
     * Intermediates retired by staged rotations, and mesh CAs of removed clusters, not yet expired:
     * the root CRLs list them.
     */
    readonly retired: readonly RetiredCa[];
    /** Revoked APIC client certificates (pki:revocations), checked against the deployed record. */
    readonly revoked: readonly RevokedClient[];
    /** CAs under an offline root whose CSR still waits for the ceremony's signature. */
    readonly pendingIntermediates: readonly CaId[];
    /** Where CRLs are published. */
    readonly crls: CrlPlan;
    /** Roots first, then the gateway-server, APIC-client and per-cluster mesh CAs; old generation before new. */
    readonly cas: readonly CaPlan[];
    readonly endpoints: readonly EndpointPlan[];
    readonly gateways: readonly GatewayPlan[];
    /** UI services calling APIC, and the customer-facing hosts. */
    readonly frontEnd: FrontEndPlan;
    /**
     * The text of each `pki:` key the stack file (or Pulumi.yaml) writes, without the prefix
     * (planFromRawConfig): what a change names, where `config` also holds values derived from others.
     */
    readonly written?: Readonly<Record<string, string>>;
}

/**
 * Where a render writes what APIC's UI-facing TLS server profile needs: beside the endpoints'
 * bundles (apic/<endpoint id>/), so no endpoint may be named "ui" while the front end has one.
 */
export const APIC_UI_DIR = "apic/ui";

export const HTTPS_PORT = 443;
/** X.509 upper bound for a common name (RFC 5280 ub-common-name). */
const MAX_COMMON_NAME = 64;

/**
 * The most a domain's Gateway may weigh as JSON: etcd refuses a request over 1.5 MiB by default
 * (--max-request-bytes), and the API server adds managedFields and the like to the object.
 */
const MAX_GATEWAY_BYTES = Math.round(1.4 * 2 ** 20);
/** The length of an SPKI pin (base64 SHA-256), as the Gateway's verifyCertificateSpki holds it. */
const SPKI_PIN_LENGTH = 44;

/**
 * One endpoint's entry of a Gateway's `servers`, as IstioGatewayTls writes it (and gatewayBytes
 * weighs it): mutual TLS on 443 with its Secret, the client identities it takes and, when given,
 * the client keys it pins. Values may be outputs.
 */
export function gatewayServer(server: {
    id: string;
    host: string;
    secretName: string;
    identities: unknown;
    pins?: unknown;
}): Record<string, unknown> {
    return {
        port: { number: HTTPS_PORT, name: `https-${server.id}`, protocol: "HTTPS" },
        hosts: [server.host],
        tls: {
            mode: "MUTUAL",
            credentialName: server.secretName,
            subjectAltNames: server.identities,
            ...(server.pins !== undefined ? { verifyCertificateSpki: server.pins } : {}),
            minProtocolVersion: "TLSV1_2",
        },
    };
}

/** The APIC keys the stack pins for an endpoint: its own and, in a switch, the previous one. */
const pinsOfPlan = (e: EndpointPlan): number => 1 + e.pinnedPreviousClients.length;

/**
 * The bytes of a domain's Gateway as IstioGatewayTls writes it for the stack, one server per
 * endpoint, with each pin written as so many characters: known before any key is made. `pinsOf`
 * counts the keys each endpoint pins (diff counts them from the base, which holds no record).
 */
export function gatewayBytes(
    name: string,
    namespace: string,
    endpoints: readonly EndpointPlan[],
    pinsOf: (e: EndpointPlan) => number = pinsOfPlan,
): number {
    const pin = "p".repeat(SPKI_PIN_LENGTH);
    const servers = endpoints.map((e) =>
        gatewayServer({
            id: e.id,
            host: e.host,
            secretName: e.gatewaySecret.name,
            identities: [e.clientIdentity],
            pins: Array.from({ length: pinsOf(e) }, () => pin),
        }),
    );
    const gateway = {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name, namespace },
        spec: { selector: GATEWAY_SELECTOR, servers },
    };
    return Buffer.byteLength(JSON.stringify(gateway));
}

/** MiB to two places, for a message. */
const mebibytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;

/**
 * Why a domain's Gateway, its endpoints pinning `pinsOf` APIC keys each, is too large for etcd, and
 * the fix; undefined when it fits. When only the previous keys an APIC client switch keeps pinned
 * push it over, that switch is the cause, and rotating fewer endpoints at a time the fix.
 */
export function oversizedGateway(
    config: PkiConfig,
    domain: string,
    served: readonly EndpointPlan[],
    pinsOf: (e: EndpointPlan) => number = pinsOfPlan,
): { key: string; problem: string } | undefined {
    const name = apicGatewayName(domain);
    const bytes = gatewayBytes(name, config.gatewayNamespace, served, pinsOf);
    if (bytes <= MAX_GATEWAY_BYTES) return undefined;
    const size =
        `its Istio Gateway ${name} would be about ${mebibytes(bytes)} (${bytes} bytes of JSON for ${served.length} endpoints), ` +
        `over the ${mebibytes(MAX_GATEWAY_BYTES)} allowed here: ` +
        `etcd refuses an object over 1.5 MiB by default, so pulumi up would fail after the certificates and Secrets are made. `;
    const split = "the domain's services into two domains, or with pki:option 3 serve them as fewer groups";
    const key = memberPath("pki:domains", domain);
    const rotating = served.filter((e) => pinsOf(e) > 1);
    const onePin = gatewayBytes(name, config.gatewayNamespace, served, () => 1);
    if (rotating.length === 0 || onePin > MAX_GATEWAY_BYTES) {
        return { key, problem: `${size}Split ${split}` };
    }
    const extraPins = rotating.reduce((n, e) => n + pinsOf(e) - 1, 0);
    const perPin = (bytes - onePin) / extraPins;
    const pinned =
        `${rotating.length} of its endpoints pin APIC's previous client key beside the new one, ` +
        `and without those ${extraPins} pins it would be ${onePin} bytes. `;
    // A CA's switch re-issues every client at once: no smaller rotation exists, only a smaller domain.
    const caSwitch = clientOverlapCause(config, rotating[0].id, undefined, config.caRotation);
    if (caSwitch !== undefined) {
        return {
            key,
            problem: `${size}In ${caSwitch.why}, ${pinned}Before that switch, split ${split}`,
        };
    }
    const fit = Math.floor((MAX_GATEWAY_BYTES - onePin) / perPin);
    const phase =
        config.rotation.apicClientPhase === "switch"
            ? "pki:rotation.apicClientPhase: switch"
            : "their pki:rotation.endpoints.<id>.clientPhase: switch";
    const batches =
        fit === 0
            ? ""
            : `Rotate at most ${fit} of this domain's APIC clients at a time: raise pki:rotation.endpoints.<id>.clientEpoch with clientPhase: switch ` +
              `for those endpoints only (not pki:rotation.apicClientEpoch for all), upload their keystores, set them to finish, then the next ones; or `;
    return {
        key,
        problem: `${size}In the APIC client switch (${phase}), ${pinned}${batches}${fit === 0 ? "Split" : "split"} ${split}`,
    };
}

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

/**
 * The RandomPassword of an APIC client's PKCS#12 (ApicClientBundle `name`), per client epoch as its
 * key and certificate are: a new key gets a new password. Epoch 0 keeps `<name>-p12-password`.
 */
export const pkcs12PasswordName = (name: string, epoch: number): string => `${rotatedName(name, epoch)}-p12-password`;

/** The IstioGatewayTls of a domain (lib/stack.ts); its name begins every child's. */
export const gatewayComponentName = (domain: string): string => `${domain}-gateway`;

/**
 * What an endpoint's children in the IstioGatewayTls named `component` are named after:
 * `<it>-server` (key, CSR and certificate, by rotatedName) and `<it>-tls` (its Secret). The
 * stack's gateways are named after their domain, so an endpoint that keeps its id in another
 * domain (Option 2 and 3 drop a domain prefix its name has) gets new resources: a new key, and
 * a Secret of the same name created before the old one is deleted.
 */
export const gatewayEndpointResourceName = (component: string, endpointId: string): string =>
    `${component}-${endpointId}`;

/** The stack's name for an endpoint's gateway children (gatewayEndpointResourceName). */
export const endpointResourceName = (e: Pick<EndpointPlan, "domain" | "id">): string =>
    gatewayEndpointResourceName(gatewayComponentName(e.domain), e.id);

export const CA_USES = ["cert_signing", "crl_signing"] as const;

/**
 * The identity APIC presents. A URN, so that no CA under the root ever issues it by accident:
 * istiod issues only `spiffe://<trustDomain>/ns/<ns>/sa/<sa>` URIs and our gateway CA only DNS
 * names with serverAuth.
 */
export function apicClientIdentity(environment: string, endpointId: string): string {
    return `urn:apic-istio-pki:${environment}:apic-client:${endpointId}`;
}

/** What every leaf of a stack shares. */
export interface LeafOptions {
    readonly keyAlgorithm: LeafKeyAlgorithm;
    readonly validityDays: number;
    readonly earlyRenewalDays: number;
    readonly organization?: string;
}

/** The key, validity and subject settings every leaf of the stack takes from config. */
export function leafOptionsOf(config: PkiConfig): LeafOptions {
    return {
        keyAlgorithm: config.keyAlgorithm,
        validityDays: config.validityDays.leaf,
        earlyRenewalDays: config.earlyRenewalDays.leaf,
        organization: config.organization,
    };
}

/** The gateway's server certificate for one host: SAN = the host, EKU serverAuth only. */
export function gatewayServerCert(
    args: LeafOptions & { endpointId: string; host: string; epoch: number; issuer?: CaId },
): LeafPlan {
    return {
        role: "gateway-server",
        // A host too long for a common name (RFC 5280: 64) is in the SAN alone; the CN names the endpoint.
        subject: subject(
            args.host.length <= MAX_COMMON_NAME ? args.host : firstCharacters(args.endpointId, MAX_COMMON_NAME),
            args.organization,
        ),
        dnsNames: [args.host],
        uris: [],
        allowedUses: leafUses(args.keyAlgorithm, "server_auth"),
        key: leafKey(args.keyAlgorithm),
        validityDays: args.validityDays,
        earlyRenewalDays: args.earlyRenewalDays,
        epoch: args.epoch,
        issuer: args.issuer ?? "gateway-server-ca",
    };
}

/** A client certificate: SAN = a URI identity, EKU clientAuth only. */
function clientCert(
    args: LeafOptions & {
        role: "apic-client" | "ui-client";
        name: string;
        identity: string;
        epoch: number;
        issuer: CaId;
    },
): LeafPlan {
    return {
        role: args.role,
        subject: subject(firstCharacters(`${args.role} ${args.name}`, MAX_COMMON_NAME), args.organization),
        dnsNames: [],
        uris: [args.identity],
        allowedUses: leafUses(args.keyAlgorithm, "client_auth"),
        key: leafKey(args.keyAlgorithm),
        validityDays: args.validityDays,
        earlyRenewalDays: args.earlyRenewalDays,
        epoch: args.epoch,
        issuer: args.issuer,
    };
}

/** APIC's client certificate for one endpoint: SAN = the pinned URI identity, EKU clientAuth only. */
export function apicClientCert(
    args: LeafOptions & { endpointId: string; identity: string; epoch: number; issuer?: CaId },
): LeafPlan {
    return clientCert({ ...args, role: "apic-client", name: args.endpointId, issuer: args.issuer ?? "apic-client-ca" });
}

/** A UI service's client certificate for calling APIC: URI SAN = its identity, EKU clientAuth only. */
export function uiClientCert(
    args: LeafOptions & { name: string; identity: string; epoch: number; issuer?: CaId },
): LeafPlan {
    return clientCert({ ...args, role: "ui-client", issuer: args.issuer ?? "ui-client-ca" });
}

/** APIC's server certificate for a host the UI services call: SAN = the host, EKU serverAuth only. */
export function apicServerCert(args: LeafOptions & { host: string; epoch: number; issuer?: CaId }): LeafPlan {
    return {
        ...gatewayServerCert({ ...args, endpointId: hostId(args.host) }),
        role: "apic-server",
    };
}

/** The identity a UI service presents to APIC; a URN no other CA of the stack issues. */
export const uiClientIdentity = (environment: string, name: string): string =>
    `urn:apic-istio-pki:${environment}:ui-client:${name}`;

const UI_RECORD_PREFIX = "ui/";

/** Where a client's certificates are kept in the deployment record: endpoints by id, UI services as `ui/<name>`. */
export const uiClientRecordKey = (name: string): string => `${UI_RECORD_PREFIX}${name}`;

/** The UI service a deployment record key names (uiClientRecordKey's inverse); undefined for an endpoint's. */
export const uiClientOfRecordKey = (holder: string): string | undefined =>
    holder.startsWith(UI_RECORD_PREFIX) ? holder.slice(UI_RECORD_PREFIX.length) : undefined;

/** Where a server certificate is kept in the deployment record: gateway servers by endpoint id, APIC's UI-facing ones as `apic/<host>`. */
export const apicServerRecordKey = (host: string): string => `apic/${host}`;

function subject(commonName: string, organization: string | undefined): SubjectSpec {
    return organization === undefined ? { commonName } : { commonName, organization };
}

/**
 * The subject of a customer-facing host's CSR: CN the host, or no CN once the host is longer than a
 * common name's 64 characters (RFC 5280). A public CA takes a CN only as one of the SAN's names
 * (CA/Browser Forum Baseline Requirements 7.1.4.3; Let's Encrypt adds it to the names to issue
 * for), so a CN cut from the host, or its id, would have the CSR refused; the SAN names the host.
 */
export function customerFacingSubject(host: string, organization: string | undefined): RequestSubjectSpec {
    if (host.length <= MAX_COMMON_NAME) return subject(host, organization);
    return organization === undefined ? {} : { organization };
}

export const meshCaId = (cluster: string): string => `mesh-ca-${cluster}`;

/** The cluster is in the CN, so that certificates from two clusters' CAs are told apart at a glance. */
export function meshCaSubject(environment: string | undefined, cluster: string, organization?: string): SubjectSpec {
    return subject(
        [environment, INTERMEDIATE_TITLES.meshCa, cluster].filter((p) => p !== undefined).join(" "),
        organization,
    );
}

/** Subject, key and lifetime of a certificate made elsewhere (the offline root). */
function describeCertificate(pem: string): { subject: SubjectSpec; key: KeySpec; validityDays: number } {
    const cert = new crypto.X509Certificate(pem);
    const name = new X509Certificate(cert.raw).subjectName;
    const details = cert.publicKey.asymmetricKeyDetails;
    const key: KeySpec =
        cert.publicKey.asymmetricKeyType === "rsa"
            ? { algorithm: "RSA", rsaBits: details?.modulusLength }
            : { algorithm: "ECDSA", ecdsaCurve: details?.namedCurve === "prime256v1" ? "P256" : "P384" };
    return {
        subject: subject(name.getField("CN")[0] ?? "offline root", name.getField("O")[0]),
        key,
        validityDays: Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS),
    };
}

/**
 * Lifetime and renewal window of a CA the offline ceremony signed, from that certificate: the
 * ceremony may sign for fewer days than pki:validityDays.intermediate (it must when the root has
 * less left), and the CA is renewed before its own end. The window keeps the configured share of
 * the lifetime (a third by default), as the plan's does for the full one, but never below the
 * days a staged rotation needs (MIN_CA_RENEWAL_DAYS; all of a shorter lifetime).
 */
function signedCaLifetime(pem: string, config: PkiConfig): Pick<CaPlan, "validityDays" | "earlyRenewalDays"> {
    const { validityDays } = describeCertificate(pem);
    const share = Math.floor((config.earlyRenewalDays.intermediate * validityDays) / config.validityDays.intermediate);
    return { validityDays, earlyRenewalDays: Math.max(share, Math.min(MIN_CA_RENEWAL_DAYS, validityDays)) };
}

/** `<slot id>` for the first generation, `<slot id>-g<n>` after (also the resource names). */
export const caInstanceId = (slotId: CaId, generation: number): CaId =>
    generation === 0 ? slotId : `${slotId}-g${generation}`;

/** A later generation says so in its common name, so that old and new CA are told apart (and chains never mix them up). */
const generationSuffix = (generation: number): string => (generation === 0 ? "" : ` G${generation}`);

interface Instance {
    readonly generation: number;
    readonly rootGeneration: number;
    readonly active: boolean;
}

/** A root's certificates: one, or old and new while it rotates (the active one signs the intermediates in use). */
function rootInstances(root: CaPosition): Instance[] {
    if (!inRotation(root)) return [{ generation: root.generation, rootGeneration: root.generation, active: true }];
    const active = activeGeneration(root);
    return [root.generation - 1, root.generation].map((g) => ({
        generation: g,
        rootGeneration: g,
        active: g === active,
    }));
}

/**
 * An intermediate's certificates: one, or old and new while it or its root rotates. Its
 * generation counts its own rotations and its root's, since a new root re-issues every CA below it.
 */
function intermediateInstances(own: CaPosition, root: CaPosition): Instance[] {
    const current = own.generation + root.generation;
    if (inRotation(root)) {
        const active = activeGeneration(root);
        return [
            { generation: current - 1, rootGeneration: root.generation - 1, active: active === root.generation - 1 },
            { generation: current, rootGeneration: root.generation, active: active === root.generation },
        ];
    }
    if (inRotation(own)) {
        const active = activeGeneration(own) + root.generation;
        return [current - 1, current].map((g) => ({
            generation: g,
            rootGeneration: root.generation,
            active: g === active,
        }));
    }
    return [{ generation: current, rootGeneration: root.generation, active: true }];
}

/** The trust layout of a config: its trust domains, and whether UI services call APIC. */
export const layoutOf = (config: PkiConfig): TrustLayout => ({
    trust: config.trustDomains,
    uiClients: config.frontEnd.callers.length > 0,
});

export function planCas(config: PkiConfig): CaPlan[] {
    const key = caKey(config.caKeyAlgorithm);
    const { caRotation, trustDomains } = config;
    const layout = layoutOf(config);
    const roots = rootSlots(layout).flatMap((slot) => {
        const offline = config.offlineRoots[slot];
        const described = offline ? describeCertificate(offline.certificate) : undefined;
        return rootInstances(caRotation[slot]).map((instance): CaPlan => ({
            id: caInstanceId(ROOT_IDS[slot], instance.generation),
            slotId: ROOT_IDS[slot],
            slot,
            generation: instance.generation,
            active: instance.active,
            role: "root",
            subject:
                described?.subject ??
                subject(
                    `${config.environment} ${ROOT_TITLES[slot]}${generationSuffix(instance.generation)}`,
                    config.organization,
                ),
            key: described?.key ?? key,
            validityDays: described?.validityDays ?? config.validityDays.root,
            earlyRenewalDays: config.earlyRenewalDays.root,
            epoch: 0,
            maxPathLength: 1,
            offline: offline !== undefined,
        }));
    });
    const intermediates = (
        slot: IntermediateSlot,
        slotId: CaId,
        base: Omit<CaPlan, "id" | "slotId" | "slot" | "generation" | "active" | "issuer" | "subject" | "offline">,
        commonName: string,
    ): CaPlan[] => {
        const rootSlot = rootOf(slot, trustDomains);
        return intermediateInstances(caRotation[slot], caRotation[rootSlot]).map((instance) => {
            const id = caInstanceId(slotId, instance.generation);
            const signed = config.offlineRoots[rootSlot]?.intermediates[id];
            return {
                ...base,
                ...(signed !== undefined ? signedCaLifetime(signed, config) : {}),
                id,
                slotId,
                slot,
                generation: instance.generation,
                active: instance.active,
                subject: subject(`${commonName}${generationSuffix(instance.generation)}`, config.organization),
                issuer: caInstanceId(ROOT_IDS[rootSlot], instance.rootGeneration),
                offline: rootSlot in config.offlineRoots,
            };
        });
    };
    const caName = (slot: IntermediateSlot): string => `${config.environment} ${INTERMEDIATE_TITLES[slot]}`;
    const intermediateBase = {
        role: "intermediate" as const,
        key,
        validityDays: config.validityDays.intermediate,
        earlyRenewalDays: config.earlyRenewalDays.intermediate,
        epoch: 0,
    };
    return [
        ...roots,
        ...intermediates("gatewayServerCa", "gateway-server-ca", intermediateBase, caName("gatewayServerCa")),
        ...intermediates("apicClientCa", "apic-client-ca", intermediateBase, caName("apicClientCa")),
        ...config.clusters.flatMap((cluster) =>
            intermediates(
                "meshCa",
                meshCaId(cluster.name),
                { ...intermediateBase, role: "mesh-ca", cluster: cluster.name, epoch: config.rotation.meshEpoch },
                meshCaSubject(config.environment, cluster.name).commonName,
            ),
        ),
        ...(layout.uiClients
            ? intermediates("uiClientCa", "ui-client-ca", intermediateBase, caName("uiClientCa"))
            : []),
    ];
}

/** The CA of a slot that signs (mesh: that istiod uses). */
export function activeCa(cas: readonly CaPlan[], slotId: CaId): CaPlan {
    const ca = cas.find((c) => c.slotId === slotId && c.active);
    if (ca === undefined) throw new Error(`plan has no active CA for "${slotId}"`);
    return ca;
}

/**
 * The roots of a root slot as every trust bundle holds them: old generation first, in every phase.
 * istiod 1.20 to 1.29 takes a changed root-cert.pem only when one file's bytes hold the other's
 * (istio_ca.go handleEvent, bytes.Contains; 1.30 compares sets), so a rotation's switch must not
 * reorder what its prepare wrote, and its finish drops the old root from the front.
 */
export function slotRoots(cas: readonly CaPlan[], slot: RootSlot): CaPlan[] {
    return cas.filter((c) => c.role === "root" && c.slot === slot).sort((a, b) => a.generation - b.generation);
}

/**
 * Intermediates whose rotation finishes in this update (deployed one phase earlier): their old CA is
 * retired. Not a cluster's mesh CA when the previous phase did not deploy that cluster (added at the
 * finish, or added back): neither generation is in the record, and there is nothing to revoke. (A
 * record with none of the mesh's CAs was not written by the previous phase: retiredAfter refuses it.)
 */
function finishingRotations(
    config: PkiConfig,
    cas: readonly CaPlan[],
    deployed: Pick<RotationRecord, "positions" | "cas">,
): { slotKey: string; outgoingId: CaId }[] {
    const recorded = (id: CaId): boolean => deployed.cas[id] !== undefined;
    const outgoingOf = (ca: CaPlan): CaId => caInstanceId(ca.slotId, ca.generation - 1);
    const meshRecorded = cas.some((ca) => ca.role === "mesh-ca" && recorded(ca.id));
    return cas
        .filter((ca) => ca.role !== "root" && ca.active)
        .filter((ca) => {
            const position = config.caRotation[ca.slot];
            return (
                position.phase === "finish" &&
                position.generation > 0 &&
                stepOf(deployed.positions[ca.slot]) === stepOf(position) - 1
            );
        })
        .filter((ca) => !(ca.role === "mesh-ca" && meshRecorded && !recorded(ca.id) && !recorded(outgoingOf(ca))))
        .map((ca) => ({ slotKey: `pki:caRotation.${ca.slot}`, outgoingId: outgoingOf(ca) }));
}

/**
 * The deployed mesh CAs this plan no longer has, under a root it keeps: those of a cluster removed
 * from pki:clusters (every generation), and the old generation of a mesh CA rotation that finishes
 * (which finishingRotations names too). Retired, so that the root's CRL revokes them: their keys
 * were in a cluster's cacerts (and stay in its backups), and a mesh CA's key mints any workload
 * identity the other clusters accept while the mesh root vouches for it. (A root's finish deletes
 * the CAs under it with the root, which nothing trusts any more.)
 */
function leavingMeshCas(cas: readonly CaPlan[], deployed: Pick<RotationRecord, "cas">): CaId[] {
    const kept = new Set(cas.map((c) => c.id));
    const liveRoots = new Set(cas.filter((c) => c.role === "root").map((c) => c.id));
    return Object.entries(deployed.cas)
        .filter(([id, ca]) => id.startsWith(meshCaId("")) && !kept.has(id) && liveRoots.has(ca.issuer))
        .map(([id]) => id);
}

/**
 * The cluster a deployed mesh CA served, from its id: `mesh-ca-<cluster>`, then `-g<n>` from its
 * first rotation on (caInstanceId; a cluster's own name may not end so).
 */
const clusterOfMeshCa = (id: CaId): string => id.slice(meshCaId("").length).replace(/-g[0-9]+$/, "");

/**
 * What ends a mesh CA key at istiod too (a removed cluster's, a retired generation's): istiod
 * checks the clients of its port 15012 (certificate signing, SDS) against root-cert.pem with no
 * CRL, so a key the mesh root's CRL revokes still gets certificates of the current mesh CA there
 * until that root is replaced (an offline one by a new ceremony's).
 */
export function meshRootReplacement(config: Pick<PkiConfig, "offlineRoots" | "trustDomains">): string {
    const slot = rootOf("meshCa", config.trustDomains);
    return config.offlineRoots[slot] === undefined
        ? `pki:caRotation.${slot}`
        : `a new ceremony's root as pki:offlineRoots.${slot}`;
}

/**
 * Why the stack cannot revoke the mesh CAs of the clusters it removes (`removed`: their names, and
 * their CAs' ids) with pki:caKeyAlgorithm ECDSA, whose signatures are random: a mesh root the stack
 * makes signs the CRL that revokes them on every run; an offline one's CRL is the ceremony's, signed
 * once, but from then on every cluster's cacerts carries ca-crl.pem, with the CRL of each kept mesh
 * CA, which the stack signs on every run. Each with its way out. Shared by the plan and diff, which
 * name pki:clusters before it.
 */
export function ecdsaClusterRemovalProblem(
    config: Pick<PkiConfig, "caKeyAlgorithm" | "offlineRoots" | "trustDomains">,
    removed: { clusters: readonly string[]; caIds: readonly string[] },
): string | undefined {
    if (config.caKeyAlgorithm !== "ECDSA" || removed.caIds.length === 0) return undefined;
    const [clusters, cas] = [removed.clusters, removed.caIds].map((names) => names.join(", "));
    const one = removed.caIds.length === 1;
    const why =
        `removes ${removed.clusters.length === 1 ? "cluster" : "clusters"} ${clusters}, whose mesh ${one ? "CA" : "CAs"} ${cas} must be revoked in the mesh root's CRL: ` +
        `until then ${one ? "its key" : "their keys"} (in that cluster's cacerts and its backups) can mint any workload identity the other clusters' sidecars accept ` +
        `(istiod, which applies no CRL to its clients, accepts ${one ? "it" : "them"} until the mesh root is replaced: ${meshRootReplacement(config)}). `;
    const churn = "CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview";
    const meshRoot = rootOf("meshCa", config.trustDomains);
    if (config.offlineRoots[meshRoot] === undefined) {
        return (
            why +
            `That needs pki:caKeyAlgorithm RSA: the stack signs that CRL with the mesh root's key, and ${churn}; ` +
            `keep the cluster, set pki:caKeyAlgorithm RSA in a change of its own first (every CA is re-issued at once, the mesh root too, so the cluster's old mesh CA chains to a root nothing trusts any more; ` +
            `the mesh and APIC are down until istiod restarts and APIC's keystores and truststores are uploaded: see what diff says it breaks), then remove the cluster`
        );
    }
    const signed = (Object.keys(config.offlineRoots) as RootSlot[]).map(
        (slot) => `pki:offlineRoots.${slot}.intermediates`,
    );
    const where = removed.caIds.map((id) => memberPath(`pki:offlineRoots.${meshRoot}.intermediates`, id)).join(", ");
    return (
        why +
        `The ceremony signs that CRL (pki:offlineRoots.${meshRoot}.crls), but from then on every cluster's cacerts carries ca-crl.pem, with the CRL of each kept mesh CA, ` +
        `which the stack signs with that CA's key on every run: that needs pki:caKeyAlgorithm RSA, as ${churn}; ` +
        `keep the cluster, set pki:caKeyAlgorithm RSA in a change of its own first (every CA the stack makes is re-issued at once: see what diff says it breaks; ` +
        `pki:offlineRoots.${meshRoot} stays, so the old ECDSA mesh ${one ? "CA" : "CAs"} still ${one ? "chains" : "chain"} to it: note ${one ? "its serial" : "their serials"} first, ` +
        `with openssl x509 -noout -serial on the PEM at ${where} or from the ceremony's issuance.log; ` +
        `in that change take the old ECDSA certificates out of ${signed.join(" and ")}, as they certify the old keys: the stack then waits for the CAs' new CSRs, which the ceremony signs), ` +
        `then remove the cluster: the refusal then names the ceremony crl command that revokes ${one ? "its mesh CA" : "their mesh CAs"} in the mesh root's next CRL series; add --revoke <serial>:superseded:<time> for the old ECDSA ${one ? "one" : "ones"}`
    );
}

/**
 * The APIC client epoch of an endpoint: the configured one, but always past every revoked
 * certificate's epoch, so that revoking a certificate also issues its successor.
 */
function clientEpoch(config: PkiConfig, endpointId: string): number {
    return pastRevoked(config, endpointId, configuredClientEpoch(config, endpointId));
}

/** An endpoint's APIC client epoch as configured, before revocations push it past theirs. */
const configuredClientEpoch = ({ rotation }: PkiConfig, endpointId: string): number =>
    rotation.leafEpoch + rotation.apicClientEpoch + (ownMember(rotation.endpoints, endpointId)?.clientEpoch ?? 0);

/** The UI clients' epoch as configured, before revocations push one past theirs. */
const configuredUiClientEpoch = ({ rotation }: PkiConfig): number => rotation.leafEpoch + rotation.uiClientEpoch;

/**
 * Why every epoch only goes up: an epoch names the key it made (`<name>-r<epoch>`) and the
 * certificates on record. Going back, pulumi up (which deleted the earlier key) makes a new key
 * under that name; render --state (whose state keeps every resource it made) brings back the very
 * key a rotation or revocation replaced.
 */
const EPOCHS_ONLY_GO_UP =
    "epochs only go up (an epoch names the key it made: going back would give its name to a new key, or bring back the key that was replaced)";

/**
 * An endpoint's APIC client going below the newest one deployed (loweredEpoch); removing a
 * pki:revocations entry lowers the epoch too, and takes the revoked serial out of the gateway's CRL.
 */
function loweredClientEpoch(
    config: PkiConfig,
    endpointId: string,
    newest: DeployedClient,
    client: IssuedEpoch,
    deployedPart: number,
): string | undefined {
    const lowered = loweredEpoch(
        `the APIC client of endpoint "${endpointId}"`,
        "APIC-client CA",
        newest,
        client,
        deployedPart,
    );
    if (lowered === undefined) return undefined;
    const own = ownMember(config.rotation.endpoints, endpointId)?.clientEpoch ?? 0;
    return loweredRevocableEpoch(
        lowered.why,
        "the gateway's CRL",
        whicheverWentDown(
            `pki:rotation.apicClientEpoch to ${config.rotation.apicClientEpoch + lowered.raise}`,
            `pki:rotation.endpoints.${endpointId}.clientEpoch to ${own + lowered.raise}`,
        ),
    );
}

/**
 * The advice for an endpoint's epoch lowered: the setting that went down back where it was. The
 * record keeps only the sum, so both are named, the stack-wide one first; raising the other one
 * instead would do for pulumi up, but diff refuses every epoch of pki:rotation going down.
 */
const whicheverWentDown = (stackWide: string, own: string): string =>
    `back the epoch that went down: ${stackWide} if that one did, else ${own} (diff refuses every epoch going down, so raising the other one instead is no fix)`;

/**
 * A client certificate's epoch (APIC's or a UI service's) going below the newest deployed, `why`
 * as loweredEpoch says it: a revocation pushes the epoch past the revoked one (pastRevoked), so
 * removing one lowers it too and takes the revoked serial out of `crl`. `fix`: the setting and
 * value that keep the epoch.
 */
const loweredRevocableEpoch = (why: string, crl: string, fix: string): string =>
    `${why}; removing an entry of pki:revocations lowers it too and takes the revoked serial out of ${crl}. ` +
    `Keep the revocation until its certificate would have expired, or set ${fix}`;

/** The newest of a holder's certificates on record (highest epoch); undefined when the record lists none. */
const newestOf = <T extends { readonly epoch: number }>(issued: readonly T[]): T | undefined =>
    issued.reduce<T | undefined>(
        (newest, c) => (newest === undefined || c.epoch > newest.epoch ? c : newest),
        undefined,
    );

/** A leaf's epoch, which counts the generation of the CA that signs it, in its parts (loweredEpoch). */
interface IssuedEpoch {
    readonly epoch: number;
    /** The epoch less that generation: what pki:rotation sets, for a client moved past its revoked ones (pastRevoked). */
    readonly part: number;
    /** What pki:rotation sets alone, which the raise of the fix must make up. */
    readonly configured: number;
}

/**
 * Why a leaf (a gateway's server certificate, APIC's UI-facing one, an APIC or UI client) goes
 * below the newest deployed, as the start of a refusal, with the raise of its epoch that keeps it;
 * undefined: it does not. Compared is the part of the epoch that is not its CA's generation with
 * the deployed one (`deployedPart`: its epoch less the generation of the CA that signed it): a
 * switch of `ca` raises the generation by one, so an epoch lowered by one with it would keep the
 * deployed key's name, and the new CA would certify the old key.
 */
function loweredEpoch(
    what: string,
    ca: string,
    newest: DeployedServer | DeployedClient,
    issued: IssuedEpoch,
    deployedPart: number,
): { why: string; raise: number } | undefined {
    // A generation going down alone is a CA phase going back, refused on its own: no epoch fixes it.
    if (issued.part >= deployedPart) return undefined;
    const deployed = `(deployed, serial ${newest.serialHex})`;
    const part =
        issued.part > issued.configured
            ? `pki:revocations moves its epoch to ${issued.part}, past its revoked certificates'`
            : `the epochs of pki:rotation add up to ${issued.part} for it`;
    const why =
        issued.epoch < newest.epoch
            ? `${what} would go back from epoch ${newest.epoch} ${deployed} to ${issued.epoch}: ${EPOCHS_ONLY_GO_UP}`
            : `${what} would keep its key of epoch ${newest.epoch} ${deployed} though a new ${ca} re-issues it: ` +
              `${part}, below the ${deployedPart} deployed, and the CA's new generation makes up the difference; ${EPOCHS_ONLY_GO_UP}`;
    return { why, raise: deployedPart - issued.configured };
}

/** The gateway server certificate of an endpoint going below the newest one deployed (loweredEpoch). */
function loweredServerEpoch(
    config: PkiConfig,
    endpointId: string,
    newest: DeployedServer,
    server: IssuedEpoch,
    deployedPart: number,
): string | undefined {
    const what = `the gateway server certificate of endpoint "${endpointId}"`;
    const lowered = loweredEpoch(what, "gateway-server CA", newest, server, deployedPart);
    if (lowered === undefined) return undefined;
    const own = ownMember(config.rotation.endpoints, endpointId)?.serverEpoch ?? 0;
    const fix = whicheverWentDown(
        `pki:rotation.gatewayServerEpoch to ${config.rotation.gatewayServerEpoch + lowered.raise}`,
        `pki:rotation.endpoints.${endpointId}.serverEpoch to ${own + lowered.raise}`,
    );
    return `${lowered.why}. Set ${fix}`;
}

/** The generation of a slot's CA that signs, with the CA rotations at `positions` (a plan's CaPlan.generation). */
const signingGeneration = (config: PkiConfig, positions: CaRotationConfig, slot: IntermediateSlot): number =>
    intermediateInstances(positions[slot], positions[rootOf(slot, config.trustDomains)]).find((i) => i.active)
        ?.generation ?? 0;

/**
 * Front-end certificates (UI clients, APIC's UI-facing servers) going below the newest deployed.
 * A UI client's epoch is pushed past its revoked certificates' (pastRevoked), so removing a
 * revocation lowers it too, and takes the revoked serial out of APIC's UI truststore CRL.
 */
function loweredFrontEndEpochs(
    config: PkiConfig,
    frontEnd: FrontEndPlan,
    cas: readonly CaPlan[],
    deployed: RotationRecord,
    dropped: ReadonlyMap<string, readonly DeployedClient[]>,
): string[] {
    const { rotation } = config;
    const generationOf = (issuer: CaId): number => cas.find((c) => c.id === issuer)?.generation ?? 0;
    const deployedUiClientCa = signingGeneration(config, deployed.positions, "uiClientCa");
    const clients = frontEnd.uiClients.flatMap((c) => {
        const newest = newestOf(deployed.clients[uiClientRecordKey(c.name)] ?? []);
        if (newest === undefined || dropped.has(uiClientRecordKey(c.name))) return [];
        const what = `the client certificate of UI service "${c.name}"`;
        const part = c.leaf.epoch - generationOf(c.leaf.issuer);
        const client = { epoch: c.leaf.epoch, part, configured: configuredUiClientEpoch(config) };
        const lowered = loweredEpoch(what, "UI client CA", newest, client, newest.epoch - deployedUiClientCa);
        if (lowered === undefined) return [];
        return [
            loweredRevocableEpoch(
                lowered.why,
                "APIC's UI truststore CRL",
                `pki:rotation.uiClientEpoch to ${rotation.uiClientEpoch + lowered.raise}` +
                    (frontEnd.uiClients.length > 1
                        ? " (which also renews the other UI services' client certificates)"
                        : ""),
            ),
        ];
    });
    const deployedServerCa = signingGeneration(config, deployed.positions, "gatewayServerCa");
    const servers = frontEnd.apicServers.flatMap((s) => {
        const newest = deployed.servers?.[apicServerRecordKey(s.host)];
        const what = `APIC's UI-facing server certificate for ${s.host}`;
        const part = s.leaf.epoch - generationOf(s.leaf.issuer);
        const server = { epoch: s.leaf.epoch, part, configured: part };
        const lowered =
            newest === undefined
                ? undefined
                : loweredEpoch(what, "gateway-server CA", newest, server, newest.epoch - deployedServerCa);
        if (lowered === undefined) return [];
        return [
            `${lowered.why}. Set pki:rotation.apicServerEpoch to ${rotation.apicServerEpoch + lowered.raise}` +
                (frontEnd.apicServers.length > 1
                    ? " (which also renews the other APIC hosts' server certificates)"
                    : ""),
        ];
    });
    return [...clients, ...servers];
}

/**
 * Customer-facing key generations going below the deployed ones (the record's key pins). Below
 * the served key: the stack no longer holds that key, so a certificate for it fails the update
 * half-way, and without one the host leaves the gateway. Below the requested key (a renewal
 * taken back): its CSR may be with the public CA, whose certificate would not fit the key that
 * epoch makes the next time.
 */
function loweredCustomerFacingEpochs(frontEnd: FrontEndPlan, deployed: RotationRecord): string[] {
    return frontEnd.customerFacing.flatMap((c) => {
        const generations = Object.keys(ownMember(deployed.customerFacingKeys, c.host) ?? {}).map(Number);
        if (generations.length === 0) return [];
        const [served, requested] = [Math.min(...generations), Math.max(...generations)];
        const key = `pki:frontEnd.customerFacing.${c.host}`;
        if (c.certificateEpoch < served) {
            return [
                `the certificate of customer-facing host ${c.host} would go back from the key of epoch ${served} (deployed) to the key of epoch ${c.certificateEpoch}: ` +
                    `${EPOCHS_ONLY_GO_UP}, and the stack no longer holds that key, so no certificate for it can be served. ` +
                    `Set ${key}.certificateEpoch to ${served} and ${key}.epoch to ${requested}, with the certificate for the key of epoch ${served}`,
            ];
        }
        if (c.epoch < requested) {
            return [
                `the customer-facing key of ${c.host} would go back from epoch ${requested} (deployed) to ${c.epoch}: ${EPOCHS_ONLY_GO_UP}, ` +
                    `and a certificate the public CA signs for its CSR would not fit the key epoch ${requested} makes the next time. Set ${key}.epoch to ${requested}`,
            ];
        }
        return [];
    });
}

/** The mesh CAs' epoch going below the deployed one (once ca-crl.pem is published, meshEpochProblem refuses any change). */
function loweredMeshEpoch(config: PkiConfig, deployed: RotationRecord): string | undefined {
    const before = deployed.meshEpoch;
    const epoch = config.rotation.meshEpoch;
    if (before === undefined || epoch >= before) return undefined;
    return (
        `the mesh CAs would go back from epoch ${before} (deployed) to ${epoch}: ${EPOCHS_ONLY_GO_UP}. ` +
        `Set pki:rotation.meshEpoch to ${before}, or to ${before + 1} to re-key them again`
    );
}

/** The deployment record's key of a revocation's holder: the endpoint id, or `ui/<name>`. */
export const holderOf = (r: Pick<RevocationConfig, "endpoint" | "uiClient">): string =>
    r.endpoint ?? uiClientRecordKey(r.uiClient ?? "");

/** A client's configured epoch, moved past every revoked certificate's epoch, so that revoking also re-issues. */
function pastRevoked(config: PkiConfig, holder: string, configured: number): number {
    const revoked = config.revocations.filter((r) => holderOf(r) === holder).map((r) => r.epoch + 1);
    return Math.max(configured, ...revoked);
}

export interface PlanOptions {
    /**
     * The deployed stack's record (its output `deploymentRecord`; INITIAL_RECORD for a new stack).
     * Given, moves between rotation phases are checked, finished rotations retire their old CA,
     * revoked serials must be certificates the stack issued, and rotating APIC clients keep their
     * previous key pinned.
     */
    readonly deployed?: RotationRecord;
    /**
     * With no deployed record (diff): what the stack file before this one shows of it
     * (ceremonyRecord of its plan). A finish that follows it retires the old CA the ceremony
     * signed, and a cluster removed its mesh CA the ceremony signed, which the offline root's CRL
     * series must revoke, as pulumi up's refusal says. Ignored when `deployed` is given: the record
     * is what was deployed.
     */
    readonly before?: Pick<RotationRecord, "positions" | "cas">;
    /** The clock, for CRL periods, expired retirements and the record's times; default: now. */
    readonly now?: Date;
    /**
     * What a refusal of an offline root's CRL series that is not valid yet, or not CLOCK_SKEW_MS
     * old, says to run again once it is: diff, which has no clock to set, says "diff".
     * @default "the update"
     */
    readonly rerun?: "the update" | "diff";
    /**
     * The settings the stack file writes (settingsWritten of its raw config): one it does not write
     * is this version's default, which an upgrade of the package may have changed under a deployed
     * stack. Absent: every setting counts as written.
     */
    readonly written?: ReadonlySet<string>;
}

/**
 * The refusal of a stack file that leaves pki:trustDomains to this version's default (separate
 * roots) while the deployed stack has the default of earlier versions, one shared root: the update
 * would replace that root and every CA and certificate under it at once, outside a staged
 * rotation, with nothing in the stack file to show for it.
 */
function defaultedLayoutChange(config: PkiConfig, options: PlanOptions): string | undefined {
    const { deployed, written } = options;
    if (deployed === undefined || written === undefined || settingWritten(written, "trustDomains")) return undefined;
    const sharedRoots = Object.entries(deployed.cas)
        .filter(([id, ca]) => ca.issuer === id && (id === ROOT_IDS.root || id.startsWith(`${ROOT_IDS.root}-g`)))
        .map(([id]) => id);
    if (sharedRoots.length === 0) return undefined;
    const separate = rootSlots(layoutOf(config)).map((slot) => ROOT_IDS[slot]);
    return (
        `pki:trustDomains is not set, so this version's default, separate, applies; but the deployed stack has one shared root ` +
        `(${sharedRoots.join(", ")}), the default of earlier versions, which this update would replace with ${separate.length} roots ` +
        `(${separate.join(", ")}), re-issuing every CA and certificate under it at once, outside a staged rotation ` +
        `(the gateway would refuse the keystores APIC holds, and istiod's root would change with no overlap). ` +
        `Set pki:trustDomains: shared to keep the deployed root; or, to move to separate roots, ` +
        `set pki:trustDomains: separate and follow README "Moving a deployed stack to separate roots"`
    );
}

/**
 * Config (and the deployed rotation record) -> plan. Throws ConfigError (naming the keys) for
 * anything the config alone could not reveal.
 */
export function planPki(config: PkiConfig, options: PlanOptions = {}): PkiPlan {
    const now = options.now ?? new Date();
    const problems: string[] = [];
    const cas = planCas(config);
    const gatewayServerCa = activeCa(cas, "gateway-server-ca");
    const apicClientCa = activeCa(cas, "apic-client-ca");
    // The CA generations that the deployed server and APIC client certificates' epochs count.
    const deployedGeneration = (slot: IntermediateSlot): number | undefined =>
        options.deployed === undefined ? undefined : signingGeneration(config, options.deployed.positions, slot);
    const deployedServerCa = deployedGeneration("gatewayServerCa");
    const deployedClientCa = deployedGeneration("apicClientCa");
    // A CA phase skipped or reversed is the one thing to fix: the leaves' checks against the
    // deployed record would describe a move that will not happen (a skipped switch as an APIC
    // client's cut-over with no overlap, whose advice would not help), so they wait for it.
    // A trust layout changed by a package upgrade alone is fixed first, for the same reason.
    const layoutChange = defaultedLayoutChange(config, options);
    const refusedPhases =
        options.deployed === undefined
            ? []
            : layoutChange !== undefined
              ? [layoutChange]
              : transitionProblems(options.deployed.positions, config.caRotation, caSlots(layoutOf(config)));
    const leavesAgainstDeployed = refusedPhases.length === 0;
    const endpoints: EndpointPlan[] = [];
    const hostOwner = new Map<string, string>();
    const idOwner = new Map<string, string>();
    const resourceOwner = new Map<string, string>();
    const leafOptions = leafOptionsOf(config);
    const { rotation } = config;

    const deployedClients = options.deployed?.clients ?? {};
    const revokedSerials = new Set(config.revocations.map((r) => `${holderOf(r)}/${normalSerial(r.serial)}`));
    const isRevoked = (holder: string, c: DeployedClient): boolean =>
        revokedSerials.has(`${holder}/${normalSerial(c.serialHex)}`);
    /** The deployed certificate a revocation names, if its holder ever had that serial. */
    const revokedCertificate = (r: RevocationConfig): DeployedClient | undefined =>
        (ownMember(deployedClients, holderOf(r)) ?? []).find(
            (c) => normalSerial(c.serialHex) === normalSerial(r.serial),
        );
    // A revocation naming a serial the holder never had is refused on its own; the epoch it raised
    // is not also a cutover to warn about (the advice would be to revoke, which the user just tried).
    const mistypedRevocation = new Set(
        config.revocations.filter((r) => revokedCertificate(r) === undefined).map(holderOf),
    );
    // Revocations the deployed stack made that the config dropped while the certificate is valid:
    // refused on their own (the epoch going back with them is the same mistake, named once).
    const dropped = droppedRevocations(deployedClients, isRevoked, now);

    for (const [domain, d] of Object.entries(config.domains)) {
        for (const g of groupings(config.option, domain, d)) {
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
            const secretName = `apic-mtls-${g.id}`;
            const shadows = caSecretProblem(secretName);
            if (shadows !== undefined) {
                problems.push(
                    `${g.configKey} ${showJson(g.name)} names the endpoint's Secret "${secretName}", which ends in -cacert: ${shadows}. Use a name that does not end in -cacert`,
                );
            }
            // Two domains and names can spell one resource name ("ob" + "q-gateway-ob-gateway-ob-q-t" and
            // "ob-gateway-ob-q" + "t"): Pulumi would refuse the second key only once every key before it was made.
            const resources = endpointResourceName({ domain, id: g.id });
            const resourceClash = resourceOwner.get(resources);
            if (resourceClash !== undefined && idClash === undefined && owner === undefined) {
                problems.push(
                    `${g.configKey} and ${resourceClash} both name their endpoint's server key, certificate and Secret "${resources}" in Pulumi ` +
                        `(<domain>-gateway-<endpoint name>), which cannot register a name twice. Rename one of them`,
                );
            }
            resourceOwner.set(resources, g.configKey);
            // The UI truststore's files go to apic/ui/, where this endpoint's bundle would go too.
            if (`apic/${g.id}` === APIC_UI_DIR && config.frontEnd.callers.length > 0) {
                problems.push(
                    `${g.configKey} gives the endpoint name "${g.id}", whose APIC bundle would go to ${APIC_UI_DIR}/, where APIC's UI truststore for pki:frontEnd.callers goes. Rename the domain`,
                );
            }

            const identity = apicClientIdentity(config.environment, g.id);
            const client = apicClientCert({
                endpointId: g.id,
                identity,
                epoch: clientEpoch(config, g.id) + apicClientCa.generation,
                issuer: apicClientCa.id,
                ...leafOptions,
            });
            // A new issuing CA (switch phase) means new leaves: its generation counts in the epoch.
            const server = gatewayServerCert({
                endpointId: g.id,
                host,
                epoch:
                    rotation.leafEpoch +
                    rotation.gatewayServerEpoch +
                    (ownMember(rotation.endpoints, g.id)?.serverEpoch ?? 0) +
                    gatewayServerCa.generation,
                issuer: gatewayServerCa.id,
                ...leafOptions,
            });
            const deployedServer = ownMember(options.deployed?.servers, g.id);
            if (leavesAgainstDeployed && deployedServer !== undefined && deployedServerCa !== undefined) {
                const part = server.epoch - gatewayServerCa.generation;
                const lowered = loweredServerEpoch(
                    config,
                    g.id,
                    deployedServer,
                    { epoch: server.epoch, part, configured: part },
                    deployedServer.epoch - deployedServerCa,
                );
                if (lowered !== undefined) problems.push(lowered);
            }
            // The key APIC holds now is the newest one deployed; a new epoch replaces it.
            const history = [...(ownMember(deployedClients, g.id) ?? [])].sort((a, b) => a.epoch - b.epoch);
            const replaced = history.filter((c) => c.epoch < client.epoch).at(-1);
            const previous = replaced !== undefined && !isRevoked(g.id, replaced) ? [replaced] : [];
            const newest = history.at(-1);
            if (leavesAgainstDeployed && newest !== undefined && deployedClientCa !== undefined && !dropped.has(g.id)) {
                const part = client.epoch - apicClientCa.generation;
                const lowered = loweredClientEpoch(
                    config,
                    g.id,
                    newest,
                    { epoch: client.epoch, part, configured: configuredClientEpoch(config, g.id) },
                    newest.epoch - deployedClientCa,
                );
                if (lowered !== undefined) problems.push(lowered);
            }
            const overlapping = clientOverlap(config, g.id);
            if (
                leavesAgainstDeployed &&
                !overlapping &&
                previous.length > 0 &&
                history.at(-1) === replaced &&
                !mistypedRevocation.has(g.id)
            ) {
                problems.push(unsafeCutover(config, g.id, previous[0], client.epoch));
            }
            // The deployed update pinned its key and, while a rotation overlapped, the one before it,
            // which APIC may still hold: a new key now would push that one out of the two pins.
            const deployedOverlap =
                options.deployed === undefined ? undefined : deployedClientOverlap(config, options.deployed, g.id);
            const keptForApic = history.filter((c) => newest !== undefined && c.epoch < newest.epoch).at(-1);
            if (
                leavesAgainstDeployed &&
                deployedOverlap !== undefined &&
                newest !== undefined &&
                keptForApic !== undefined &&
                client.epoch > newest.epoch &&
                !isRevoked(g.id, newest) &&
                !isRevoked(g.id, keptForApic) &&
                !mistypedRevocation.has(g.id)
            ) {
                problems.push(unpinnedUnderWay(g.id, keptForApic, newest, client.epoch, deployedOverlap));
            }
            endpoints.push({
                id: g.id,
                domain,
                host,
                services: g.services,
                serviceNamespace: d.namespace,
                server,
                client,
                clientIdentity: identity,
                gatewaySecret: { namespace: config.gatewayNamespace, name: secretName },
                gatewayName: apicGatewayName(domain),
                pinnedPreviousClients: overlapping ? previous : [],
            });
        }
    }
    // One Gateway per domain: one too large for etcd would fail pulumi up after its keys and Secrets.
    for (const domain of Object.keys(config.domains)) {
        const served = endpoints.filter((e) => e.domain === domain);
        const oversized = oversizedGateway(config, domain, served);
        if (oversized !== undefined) problems.push(`${oversized.key}: ${oversized.problem}`);
    }
    const frontEnd = planFrontEnd(config, cas, gatewayServerCa);
    problems.push(...frontEndHostProblems(config, endpoints, hostOwner));
    problems.push(...ownPublicRootProblems(config), ...customerFacingProblems(config, frontEnd, options));
    if (options.deployed !== undefined && leavesAgainstDeployed) {
        problems.push(...loweredFrontEndEpochs(config, frontEnd, cas, options.deployed, dropped));
        problems.push(...loweredCustomerFacingEpochs(frontEnd, options.deployed));
    }
    const uiCallers = frontEnd.uiClients.map((c) => c.name);
    const apicStillTrusts = (c: DeployedClient): boolean =>
        options.deployed !== undefined && stillTrustedAtApic(c, cas, options.deployed, now);
    // Each revocation's date and endpoint name were checked with the rest of the config (validateConfig).
    const revoked = config.revocations.map((r, i): RevokedClient => {
        const kind = r.endpoint !== undefined ? "apic" : "ui";
        const holder = holderOf(r);
        const base = { kind, holder, serialHex: r.serial, revokedAt: r.revokedAt, reason: r.reason } as const;
        const whose = kind === "apic" ? `endpoint "${r.endpoint}"` : `UI service "${r.uiClient}"`;
        if (kind === "ui" && !uiCallers.includes(r.uiClient ?? "")) {
            const kept = revokedCertificate(r);
            if (kept !== undefined && apicStillTrusts(kept)) {
                problems.push(removedCallerRevocation(r.uiClient ?? "", kept));
                return base;
            }
            problems.push(
                `pki:revocations[${i}].uiClient ${showJson(r.uiClient)} is not a UI service that calls APIC in this stack; its callers are ${uiCallers.join(", ") || "none"}`,
            );
            return base;
        }
        if (options.deployed === undefined) return base;
        const issued = ownMember(deployedClients, holder) ?? [];
        const match = revokedCertificate(r);
        if (match === undefined) {
            problems.push(
                `pki:revocations[${i}].serial ${r.serial} is not a certificate this stack issued to ${whose} ` +
                    `(a typo, or another environment's certificate?); ${describeIssued(issued)}. ` +
                    `Copy the serial of the leaked certificate from npx apic-istio-pki expiry --dir <render folder> or openssl x509 -noout -serial`,
            );
            return base;
        }
        if (match.epoch !== r.epoch) {
            problems.push(
                `pki:revocations[${i}].epoch is ${r.epoch}, but serial ${r.serial} was issued to ${whose} under epoch ${match.epoch}; set epoch: ${match.epoch}`,
            );
        }
        const beforeIssue = revokedBeforeIssue(r, match, now);
        if (beforeIssue !== undefined) problems.push(`pki:revocations[${i}].revokedAt ${r.revokedAt} ${beforeIssue}`);
        return { ...base, issuer: match.issuer };
    });
    for (const id of idOwner.keys()) {
        const cameBack =
            options.deployed?.clientPhases !== undefined && ownMember(options.deployed.clientPhases, id) === undefined;
        problems.push(
            ...(dropped.get(id) ?? []).map((c) =>
                cameBack
                    ? revocationOfEndpointBack(c, id)
                    : droppedRevocation(c, `endpoint "${id}"`, `endpoint: ${id}`),
            ),
        );
    }
    for (const name of uiCallers) {
        problems.push(
            ...(dropped.get(uiClientRecordKey(name)) ?? []).map((c) =>
                droppedRevocation(c, `UI service "${name}"`, `uiClient: ${name}`),
            ),
        );
    }
    for (const [holder, certificates] of dropped) {
        const name = uiClientOfRecordKey(holder);
        if (name === undefined || uiCallers.includes(name)) continue;
        problems.push(...certificates.filter(apicStillTrusts).map((c) => removedCallerRevocation(name, c)));
    }
    // Certificates of the ceremony this stack no longer uses do not stop a finish from working out
    // what it retires, so that one refusal asks for their removal and the root's CRL series at once.
    const offlineIssues: string[] = [];
    const pendingIntermediates = offlineProblems(config, cas, now, options.deployed, offlineIssues);
    // What render's components would refuse of the ceremony's certificates, refused here for diff and inventory.
    const plannedLeaves: PlannedLeaf[] = [
        ...endpoints.flatMap((e) => [e.server, e.client].map((leaf) => ({ leaf, whose: `endpoint ${e.id}` }))),
        ...frontEnd.uiClients.map((u) => ({ leaf: u.leaf, whose: `UI client ${u.name}` })),
        ...frontEnd.apicServers.map((a) => ({ leaf: a.leaf, whose: `APIC host ${a.host}` })),
    ];
    offlineIssues.push(...offlineChainProblems(config, cas, plannedLeaves));
    const offlineIssuesAt = problems.length;
    let retired: RetiredCa[] = [];
    if (options.deployed !== undefined) {
        problems.push(...refusedPhases);
        problems.push(...earlyMeshFinish(config, options.deployed, now));
    }
    // What this update retires: after the deployed record (pulumi up), or, with none (diff), after
    // what the stack file before this one shows of it: the CAs the ceremony signed alone, as an
    // online root's CRL is the stack's own, signed at pulumi up.
    const recorded = options.deployed ?? (options.before && { ...options.before, retired: [] });
    if (recorded !== undefined) {
        const leaving = leavingMeshCas(cas, recorded);
        const removedCas = leaving.filter((id) => !config.clusters.some((c) => c.name === clusterOfMeshCa(id)));
        const removedClusters = [...new Set(removedCas.map(clusterOfMeshCa))];
        const unrevokable = ecdsaClusterRemovalProblem(config, { clusters: removedClusters, caIds: removedCas });
        if (unrevokable !== undefined) problems.push(`pki:clusters ${unrevokable}`);
        if (problems.length === 0) {
            const finishing = finishingRotations(config, cas, recorded);
            const after = retiredAfter({
                deployed: recorded,
                // Without a record, an old CA the stack file does not show is an online one's.
                finishing:
                    options.deployed !== undefined
                        ? finishing
                        : finishing.filter((f) => recorded.cas[f.outgoingId] !== undefined),
                leaving,
                liveRootIds: cas.filter((c) => c.role === "root").map((c) => c.id),
                now,
                crlPeriodDays: config.crlPeriodDays,
            });
            retired = after.retired;
            problems.push(...after.problems);
        }
    }
    problems.splice(offlineIssuesAt, 0, ...offlineIssues);
    const crls = planCrls(config, cas, retired, revoked, now, options, problems);
    const meshEpochRotating = meshEpochDuringRotation(config, options.deployed?.meshEpoch);
    const meshEpochChange =
        (meshEpochRotating !== undefined ? `pki:rotation.meshEpoch ${meshEpochRotating}` : undefined) ??
        meshEpochProblem(config, crls, options.deployed) ??
        (options.deployed !== undefined ? loweredMeshEpoch(config, options.deployed) : undefined);
    if (meshEpochChange !== undefined) problems.push(meshEpochChange);
    if (problems.length > 0) throw new ConfigError(problems);

    const gateways = Object.keys(config.domains).map((domain) => ({
        name: apicGatewayName(domain),
        namespace: config.gatewayNamespace,
        domain,
        endpointIds: endpoints.filter((e) => e.domain === domain).map((e) => e.id),
    }));
    return {
        config,
        now,
        ...(options.deployed !== undefined ? { deployed: options.deployed } : {}),
        retired,
        revoked,
        cas,
        endpoints,
        gateways,
        pendingIntermediates,
        crls,
        frontEnd,
    };
}

/**
 * What a stack file shows of the record its pulumi up would write (PlanOptions.before): its CA
 * rotation positions and the intermediates the ceremony signed, by their certificates; an online
 * CA's serial is known only once deployed.
 */
export function ceremonyRecord(plan: PkiPlan): Pick<RotationRecord, "positions" | "cas"> {
    const signed = plan.cas.flatMap((ca) => {
        const pem = Object.values(plan.config.offlineRoots)
            .map((root) => root?.intermediates[ca.id])
            .find((p) => p !== undefined);
        return pem === undefined || ca.issuer === undefined ? [] : [[ca.id, deployedCa(pem, ca.issuer)] as const];
    });
    return { positions: plan.config.caRotation, cas: Object.fromEntries(signed) };
}

/** The Istio Gateway that serves the customer-facing hosts. */
export const CUSTOMER_FACING_GATEWAY = "customer-facing";

/** A host as a DNS-label-shaped id: "www.dev.bank.example" -> "www-dev-bank-example". */
const hostId = (host: string): string => host.toLowerCase().replace(/\./g, "-");

/**
 * The front end (pki:frontEnd): a client certificate, Secret and DestinationRules per UI service
 * that calls APIC; APIC's server certificate per host the UI services call, when it is issued
 * here; and the customer-facing hosts, whose certificates a public CA signs.
 */
function planFrontEnd(config: PkiConfig, cas: readonly CaPlan[], apicServerCa: CaPlan): FrontEndPlan {
    const { frontEnd, rotation } = config;
    const leafOptions = leafOptionsOf(config);
    const uiClientCa = cas.find((c) => c.slotId === "ui-client-ca" && c.active);
    const uiClients = frontEnd.services
        .filter((s) => frontEnd.callers.includes(s.kubernetesName))
        .map((s): UiClientPlan => {
            const identity = uiClientIdentity(config.environment, s.kubernetesName);
            return {
                service: s.name,
                name: s.kubernetesName,
                namespace: s.namespace,
                labels: s.labels,
                identity,
                leaf: uiClientCert({
                    name: s.kubernetesName,
                    identity,
                    epoch:
                        pastRevoked(config, uiClientRecordKey(s.kubernetesName), configuredUiClientEpoch(config)) +
                        (uiClientCa?.generation ?? 0),
                    issuer: uiClientCa?.id,
                    ...leafOptions,
                }),
                secret: { namespace: s.namespace, name: uiClientSecretName(s.kubernetesName) },
                apicHosts: frontEnd.apicHosts,
            };
        });
    const apicServers =
        uiClients.length === 0 || frontEnd.apicServerCa !== undefined
            ? []
            : frontEnd.apicHosts.map((host) => ({
                  host,
                  leaf: apicServerCert({
                      host,
                      epoch: rotation.leafEpoch + rotation.apicServerEpoch + apicServerCa.generation,
                      issuer: apicServerCa.id,
                      ...leafOptions,
                  }),
              }));
    const gateway = frontEnd.customerFacingGateway ?? {
        namespace: config.gatewayNamespace,
        selector: GATEWAY_SELECTOR,
    };
    const customerFacing = Object.entries(frontEnd.customerFacing).map(([host, c]): CustomerFacingPlan => ({
        host,
        id: hostId(host),
        epoch: c.epoch,
        certificateEpoch: c.certificateEpoch,
        ...(c.certificate !== undefined ? { certificate: c.certificate } : {}),
        subject: customerFacingSubject(host, config.organization),
        // A public CA takes RSA 2048 and ECDSA P-256 alike; the stack's leaf algorithm decides.
        key: leafKey(config.keyAlgorithm),
        secret: { namespace: gateway.namespace, name: customerFacingSecretName(hostId(host)) },
    }));
    return {
        uiClients,
        apicServers,
        customerFacing,
        gatewayName: CUSTOMER_FACING_GATEWAY,
        gatewayNamespace: gateway.namespace,
        gatewaySelector: gateway.selector,
    };
}

/**
 * Each host is one party's: a gateway endpoint's (APIC calls it), APIC's (pki:frontEnd.apicHosts,
 * the UI services call it) or the customers' (pki:frontEnd.customerFacing). A host in two of these
 * would get two servers on the ingress gateway's port 443, of which Istio keeps one, or a second
 * certificate, held by another party, that the host's callers accept.
 */
function frontEndHostProblems(
    config: PkiConfig,
    endpoints: readonly EndpointPlan[],
    hostOwner: ReadonlyMap<string, string>,
): string[] {
    const problems: string[] = [];
    const endpointOf = (host: string): string | undefined => {
        const endpoint = endpoints.find((e) => e.host === host);
        return endpoint === undefined ? undefined : `${hostOwner.get(host)} (endpoint "${endpoint.id}")`;
    };
    config.frontEnd.apicHosts.forEach((host, i) => {
        const endpoint = endpointOf(host);
        if (endpoint !== undefined) {
            problems.push(
                `pki:frontEnd.apicHosts[${i}] "${host}" is the host ${endpoint} serves on the ingress gateway, not one of APIC's: ` +
                    `the UI services' calls would go to the gateway, which takes only APIC's client certificate there, and APIC's certificate for the host ` +
                    `would be a second one for the gateway's host. List the host(s) on which APIC receives the UI services' calls`,
            );
        }
    });
    for (const host of Object.keys(config.frontEnd.customerFacing)) {
        const endpoint = endpointOf(host);
        if (endpoint !== undefined) {
            problems.push(
                `pki:frontEnd.customerFacing.${host} is also the host ${endpoint} serves to APIC: the ingress gateway would have two servers for it on port 443 ` +
                    `(MUTUAL for APIC, SIMPLE for customers), and Istio keeps only one of them, refusing the other's callers. Give the customer-facing host a name of its own`,
            );
        }
        const apic = config.frontEnd.apicHosts.indexOf(host);
        if (apic >= 0) {
            problems.push(
                `pki:frontEnd.customerFacing.${host} is also pki:frontEnd.apicHosts[${apic}]: a host is either served to customers by the ingress gateway (a public CA's certificate) ` +
                    `or APIC's host the UI services call (a certificate of this PKI), not both. Remove it from one of them`,
            );
        }
    }
    return problems;
}

/**
 * Every customer-facing certificate given in config must be usable before anything is created:
 * the host covered, a complete chain to a public root, valid now, within public-CA lifetimes, and
 * (once the deployed record knows the key this stack made for it) certifying that key.
 */
function customerFacingProblems(config: PkiConfig, frontEnd: FrontEndPlan, options: PlanOptions): string[] {
    const now = options.now ?? new Date();
    return frontEnd.customerFacing.flatMap((c) => {
        if (c.certificate === undefined) return [];
        const expectedSpki = ownMember(
            ownMember(options.deployed?.customerFacingKeys, c.host),
            String(c.certificateEpoch),
        );
        // Before the key's algorithm: certificate 1 an intermediate's would compare the CA's key.
        const chain = publicChainOf(c.certificate);
        const disordered = typeof chain === "string" ? undefined : outOfOrderProblem(chain, c.host);
        if (disordered !== undefined) return [`pki:frontEnd.customerFacing.${c.host}.certificate: ${disordered}`];
        const certified = certifiedKey(c.certificate);
        if (certified !== undefined && keyName(certified) !== keyName(c.key)) {
            // The host's keys follow pki:keyAlgorithm: the key this certificate is for would be made anew.
            return [
                `pki:frontEnd.customerFacing.${c.host}.certificate certifies an ${keyName(certified)} key, but the host's keys follow pki:keyAlgorithm (${config.keyAlgorithm}: ${keyName(c.key)}): ` +
                    `pulumi up would replace the key of epoch ${c.certificateEpoch} and could not serve this certificate with the new one. ` +
                    `Keep pki:keyAlgorithm ${certified.algorithm} while ${c.host} serves a certificate for an ${certified.algorithm} key`,
            ];
        }
        return [
            ...apicHostsCovered(config, c.host, c.certificate),
            ...publicCertificateProblems({
                key: `pki:frontEnd.customerFacing.${c.host}.certificate`,
                host: c.host,
                pem: c.certificate,
                now,
                ...(config.frontEnd.publicRoots !== undefined ? { extraRoots: config.frontEnd.publicRoots } : {}),
                ...(expectedSpki !== undefined ? { expectedSpki } : {}),
                ownCas: offlineOwnCas(config),
            }),
        ];
    });
}

/**
 * The CAs of this PKI known before anything is made: the offline roots. Those the stack makes are
 * checked when they resolve (lib/stack.ts checkedAgainstOwnCas).
 */
const offlineOwnCas = (config: PkiConfig): OwnCa[] =>
    Object.entries(config.offlineRoots).map(([slot, root]) => ({
        name: `${ROOT_TITLES[slot as RootSlot]} pki:offlineRoots.${slot}`,
        certPem: root.certificate,
    }));

/** pki:frontEnd.publicRoots holding an offline root of this PKI (ownCaPublicRootsProblems). */
function ownPublicRootProblems(config: PkiConfig): string[] {
    const roots = config.frontEnd.publicRoots;
    return roots === undefined
        ? []
        : ownCaPublicRootsProblems("pki:frontEnd.publicRoots", roots, offlineOwnCas(config));
}

/**
 * A customer-facing certificate covering one of APIC's hosts (a wildcard, or the bank's order)
 * while the UI sidecars check APIC against pki:frontEnd.apicServerCa, a CA outside this PKI: if the
 * public CA chains there (or is cross-signed into it: the sidecars take any chain the server sends),
 * the key on the internet-facing gateway passes for APIC. Under this PKI's server root it cannot.
 */
function apicHostsCovered(config: PkiConfig, host: string, certificate: string): string[] {
    if (config.frontEnd.apicServerCa === undefined) return [];
    const key = `pki:frontEnd.customerFacing.${host}`;
    return config.frontEnd.apicHosts.flatMap((apicHost) => {
        const san = nameCovering(certificate, apicHost);
        return san === undefined
            ? []
            : [
                  `${key}.certificate also covers APIC's host ${apicHost} (DNS name ${san}), and the UI services' sidecars trust pki:frontEnd.apicServerCa, a CA outside this PKI, ` +
                      `for APIC: if it is the public CA's, whoever holds this key on the internet-facing gateway could pose as APIC to them. ` +
                      `Have the public CA revoke it, raise ${key}.epoch for a new key and CSR, and have it issued for ${host} alone`,
              ];
    });
}

/** The key a certificate (the first of a PEM chain) certifies; undefined when there is none to read. */
function certifiedKey(pem: string): KeySpec | undefined {
    try {
        return describeCertificate(pem).key;
    } catch {
        return undefined; // publicCertificateProblems says what is wrong with it
    }
}

/** "RSA 2048", "ECDSA P-256". */
const keyName = (key: KeySpec): string =>
    key.algorithm === "RSA" ? `RSA ${key.rsaBits}` : `ECDSA ${key.ecdsaCurve === "P384" ? "P-384" : "P-256"}`;

/** The root slot's CA ids, every generation: "client-root", "client-root-g1", ... */
const isUnderRoot = (caId: CaId, rootSlot: RootSlot): boolean =>
    caId === ROOT_IDS[rootSlot] || caId.startsWith(`${ROOT_IDS[rootSlot]}-g`);

/** The reason a CA retired by a staged rotation is revoked with, as the stack's own root CRLs say (lib/stack.ts). */
const RETIRED_REASON = "superseded";

/** The retired CAs that a root's CRL must revoke: those it issued. */
const retiredBy = (retired: readonly RetiredCa[], rootId: CaId): RetiredCa[] =>
    retired.filter((r) => r.issuer === rootId);

/**
 * The CRL series of the offline root of `slot` (CA id `rootId`) as the functions of
 * lib/pki/crlSeries.ts read it: the revocations it must carry (the CAs of `retired` it issued),
 * and the CRL the stack published from it (`deployed`'s record); undefined when the slot has no
 * offline root. One builder, so that what planCrls publishes, the span inventory and lifecycle
 * report and what lifecycle finds due agree.
 */
export function offlineSeries(
    config: PkiConfig,
    slot: RootSlot,
    rootId: CaId,
    retired: readonly RetiredCa[],
    deployed: RotationRecord | undefined,
): SeriesInput | undefined {
    const offline = config.offlineRoots[slot];
    if (offline === undefined) return undefined;
    return {
        series: offline.crls,
        rootCertPem: offline.certificate,
        required: retiredBy(retired, rootId).map((r) => r.serialHex),
        published: deployed?.crls?.[rootId],
    };
}

/**
 * The span of an offline root's CRL series at the plan's clock (seriesSpan): it ends when the stack,
 * requiring the revocations it requires when it picks the CRL to publish (planCrls), has none to
 * take, counting the CRL this update publishes as published (none below it comes after). Undefined
 * when it has none now, or the slot has no offline root.
 */
export function offlineSeriesSpan(plan: PkiPlan, slot: RootSlot): { from: Date; ends: Date } | undefined {
    const root = plan.cas.find((c) => c.role === "root" && c.slot === slot);
    const series = root && offlineSeries(plan.config, slot, root.id, plan.retired, plan.deployed);
    if (root === undefined || series === undefined) return undefined;
    const publishing = plan.crls.offlineRootCrls[root.id];
    const published = publishing === undefined ? series.published : seriesCrlRecord(publishing, series.rootCertPem);
    return seriesSpan({ ...series, published, now: plan.now });
}

function planCrls(
    config: PkiConfig,
    cas: readonly CaPlan[],
    retired: readonly RetiredCa[],
    revoked: readonly RevokedClient[],
    now: Date,
    { deployed, rerun }: Pick<PlanOptions, "deployed" | "rerun">,
    problems: string[],
): CrlPlan {
    const meshCrlPublished = deployed?.meshCrlSince !== undefined;
    const { trustDomains } = config;
    // The issuing CAs this stack has: no UI client CA (nor its truststore) unless UI services call APIC.
    const slots = intermediateSlots(layoutOf(config));
    const retiredUnder = (slot: IntermediateSlot): RetiredCa[] =>
        retired.filter((r) => isUnderRoot(r.issuer, rootOf(slot, trustDomains)));
    const publish = {
        gateway: revoked.some((r) => r.kind === "apic") || retiredUnder("apicClientCa").length > 0,
        apicTruststore: retiredUnder("gatewayServerCa").length > 0,
        // Istio cannot clear ca-crl.pem once published (istio/istio#61073): it stays, valid.
        mesh: retiredUnder("meshCa").length > 0 || meshCrlPublished,
        // Under a shared root every retired CA is under the UI client CA's root too; without UI
        // callers there is no UI truststore (and no UI client CA to sign its CRL).
        apicUiTruststore:
            slots.includes("uiClientCa") &&
            (revoked.some((r) => r.kind === "ui") || retiredUnder("uiClientCa").length > 0),
    };
    // Why each root's CRL is needed: a relying party that checks CRLs checks one for every CA of the chain.
    const why = new Map<RootSlot, string[]>();
    const need = (slot: IntermediateSlot, reason: string): void => {
        const root = rootOf(slot, trustDomains);
        const reasons = why.get(root) ?? [];
        // A shared root is every slot's root: one retired CA is one reason, not one per slot.
        if (!reasons.includes(reason)) why.set(root, [...reasons, reason]);
    };
    const revokedOf = (kind: RevokedClient["kind"]): string =>
        revoked
            .filter((r) => r.kind === kind)
            .map((r) => `serial ${r.serialHex} of ${r.holder}`)
            .join(", ");
    if (revokedOf("apic") !== "") {
        need(
            "apicClientCa",
            `pki:revocations revokes an APIC client (${revokedOf("apic")}), so the gateway's ca.crl must hold a CRL of every CA of a client's chain, this root's included`,
        );
    }
    if (revokedOf("ui") !== "") {
        need(
            "uiClientCa",
            `pki:revocations revokes a UI client (${revokedOf("ui")}), so APIC's UI truststore must hold a CRL of every CA of a client's chain, this root's included`,
        );
    }
    if (meshCrlPublished && retiredUnder("meshCa").length === 0) {
        need(
            "meshCa",
            "istiod's cacerts has carried ca-crl.pem since an earlier update and Istio cannot clear it (istio/istio#61073), so it keeps a CRL of every CA of the chain, this root's included",
        );
    }
    for (const slot of slots) {
        const gone = retiredUnder(slot);
        if (gone.length > 0) {
            need(
                slot,
                `its retired CA ${gone.map((r) => `${r.id} (serial ${r.serialHex})`).join(", ")} must be revoked by this root`,
            );
        }
    }
    const offlineRootCrls: Record<CaId, string> = {};
    for (const slot of Object.keys(config.offlineRoots) as RootSlot[]) {
        const reasons = why.get(slot);
        if (reasons === undefined) continue;
        const root = cas.find((c) => c.role === "root" && c.slot === slot);
        const series = root && offlineSeries(config, slot, root.id, retired, deployed);
        if (root === undefined || series === undefined) continue;
        const required = retiredBy(retired, root.id);
        const command = [
            `npx apic-istio-pki ceremony crl --root <the ${slot} folder> --period-days ${config.crlPeriodDays}`,
            `--periods ${Math.ceil(91 / config.crlPeriodDays)}`,
            ...required.map((r) => `--revoke ${r.serialHex}:${RETIRED_REASON}:${r.revokedAt}`),
            "--out crls.pem",
        ].join(" ");
        const picked = pickSeriesCrl({
            ...series,
            key: `pki:offlineRoots.${slot}.crls`,
            now,
            why: reasons.join("; "),
            command,
            rerun,
        });
        if ("problem" in picked) problems.push(picked.problem);
        else offlineRootCrls[root.id] = picked.crl.pem;
    }
    return { ...publish, offlineRootCrls };
}

/**
 * Why pki:rotation.meshEpoch may not change now: once istiod's cacerts carries ca-crl.pem, a mesh
 * CA re-keyed by its epoch keeps its name and its CRL replaces the old key's, and a sidecar
 * checks a CRL for every CA of a peer's chain (CRL_CHECK_ALL): every workload still holding a
 * certificate of the old key is refused ("unable to get certificate CRL") until it renews. A
 * staged rotation keeps both CAs, and their CRLs, until finish.
 */
function meshEpochProblem(config: PkiConfig, crls: CrlPlan, deployed: RotationRecord | undefined): string | undefined {
    const before = deployed?.meshEpoch;
    if (!crls.mesh || before === undefined || before === config.rotation.meshEpoch) return undefined;
    const since =
        deployed?.meshCrlSince !== undefined ? `since ${deployed.meshCrlSince.slice(0, 10)}` : "from this update on";
    return `pki:rotation.meshEpoch ${meshEpochChangeProblem(config, before, since)}`;
}

/**
 * Why pki:rotation.meshEpoch may not change while the mesh CAs or their root rotate in stages
 * (prepare or switch; `before`: the deployed epoch); it follows the key's name, as
 * meshEpochChangeProblem's does. Re-keyed after its switch, the new mesh CA
 * keeps its name, and its finish publishes a CRL of the last key only: every workload istiod
 * signed with the earlier key is refused ("unable to get certificate CRL"), though the finish's
 * wait counts from the switch. A refusal rather than a wait counted from the re-key: it needs no
 * record of when the keys changed, diff can tell it from the stack files alone, and the rotation
 * gives the mesh CAs new keys anyway.
 */
export function meshEpochDuringRotation(config: PkiConfig, before: number | undefined): string | undefined {
    const epoch = config.rotation.meshEpoch;
    if (before === undefined || before === epoch) return undefined;
    const slot = caSlots(layoutOf(config)).find(
        (s) => isMeshSlot(s, config.trustDomains) && inRotation(config.caRotation[s]),
    );
    if (slot === undefined) return undefined;
    const position = config.caRotation[slot];
    const why =
        slot === "meshCa" && position.phase === "switch"
            ? `re-keyed now, the new mesh CA keeps its name and at finish its CRL (ca-crl.pem) is the new key's only, ` +
              `so every sidecar would refuse the workloads istiod signed with the earlier key ("unable to get certificate CRL"), ` +
              `though pki:meshFinishAfterHours counts from the switch, not from the re-key`
            : "the rotation gives every mesh CA a new key anyway";
    // Not "raise it after the finish": a mesh CA's finish publishes ca-crl.pem, after which
    // meshEpochChangeProblem refuses it too; a staged rotation is the way that always works.
    return (
        `is ${epoch}, but ${before} is deployed and pki:caRotation.${slot} is at ${describePosition(position)}: ${why}. ` +
        `Set pki:rotation.meshEpoch back to ${before}; if the mesh CAs still need a new key after the finish of pki:caRotation.${slot}, ` +
        `rotate them again in stages with pki:caRotation.meshCa ({ generation: ${config.caRotation.meshCa.generation + 1}, phase: prepare }): ` +
        `once istiod's cacerts carries ca-crl.pem, which a mesh CA's finish publishes, pki:rotation.meshEpoch may not change either`
    );
}

/**
 * What moving pki:rotation.meshEpoch from `before` to the config's breaks while istiod's cacerts
 * carries ca-crl.pem (`since`: since when, e.g. "since 2026-01-20"), and the way that works; it
 * follows the key's name: "is 1, but 0 is deployed and ...". For the plan and for `diff`.
 */
export function meshEpochChangeProblem(config: PkiConfig, before: number, since: string): string {
    const next = positionAt(stepOf(config.caRotation.meshCa) + 1);
    return (
        `is ${config.rotation.meshEpoch}, but ${before} is deployed and istiod's cacerts carries ca-crl.pem (${since}): ` +
        `a mesh CA re-keyed by its epoch keeps its name and its CRL replaces the old key's, so every sidecar would refuse the workloads ` +
        `still holding a certificate of the old key ("unable to get certificate CRL") until they renew (up to the workload certificate TTL, 24 h by default). ` +
        `Set pki:rotation.meshEpoch back to ${before} and rotate the mesh CAs in stages with pki:caRotation.meshCa ` +
        `(next: { generation: ${next.generation}, phase: ${next.phase} }), which keeps the old CA and its CRL until finish`
    );
}

/** An endpoint's configured APIC client phase: its own, else the stack's. */
export const clientPhaseOf = (config: PkiConfig, endpointId: string): "switch" | "finish" =>
    ownMember(config.rotation.endpoints, endpointId)?.clientPhase ?? config.rotation.apicClientPhase;

/**
 * The setting that puts an endpoint's APIC client in its switch phase, for advice: its own
 * clientPhase, or pki:rotation.apicClientPhase only while the endpoint sets none (an endpoint's own
 * phase wins: a human may leave `finish` there, as the lifecycle pipeline does while the stack-wide
 * phase is switch).
 */
export function clientSwitchSetting(config: PkiConfig, endpointId: string): string {
    const own = `pki:rotation.endpoints.${endpointId}.clientPhase`;
    const phase = ownMember(config.rotation.endpoints, endpointId)?.clientPhase;
    return phase === undefined
        ? `${own} (or pki:rotation.apicClientPhase)`
        : `${own} (set to ${phase}, it wins over pki:rotation.apicClientPhase)`;
}

/**
 * Whether an endpoint's APIC client rotation overlaps: the previous key stays pinned beside the
 * new one. It does in the switch phase of the endpoint's own rotation and of a rotation of the
 * APIC-client CA or of its root, which re-issue every client.
 */
export function clientOverlap(config: PkiConfig, endpointId: string): boolean {
    const phase = clientPhaseOf(config, endpointId);
    const caSlot = "apicClientCa";
    return (
        phase === "switch" ||
        config.caRotation[caSlot].phase === "switch" ||
        config.caRotation[rootOf(caSlot, config.trustDomains)].phase === "switch"
    );
}

/** When a mesh CA's or mesh root's finish may be deployed, its switch deployed `since` (ISO 8601). */
export const meshFinishFrom = (config: PkiConfig, since: string): Date =>
    new Date(Date.parse(since) + config.meshFinishAfterHours * HOUR_MS);

/**
 * A mesh CA's or mesh root's `finish` sooner than pki:meshFinishAfterHours after its `switch` was
 * deployed. Workloads keep certificates of the old CA until they renew them (24 h with istiod's
 * default TTL); at finish their peers stop trusting it (ca-crl.pem revokes an old mesh CA, an old
 * root leaves root-cert.pem), so mesh mutual TLS fails for every workload not yet renewed. The
 * lifecycle pipeline waits longer; this keeps a hand-edited stack file from finishing at once.
 */
function earlyMeshFinish(config: PkiConfig, deployed: RotationRecord, now: Date): string[] {
    return caSlots(layoutOf(config))
        .filter((slot) => isMeshSlot(slot, config.trustDomains))
        .flatMap((slot) => {
            const before = deployed.positions[slot];
            const after = config.caRotation[slot];
            const since = deployed.positionsSince?.[slot];
            if (before.phase !== "switch" || after.phase !== "finish" || after.generation !== before.generation)
                return [];
            if (since === undefined) return [];
            const ready = meshFinishFrom(config, since);
            if (now.getTime() >= ready.getTime()) return [];
            const hours = Math.floor((now.getTime() - Date.parse(since)) / HOUR_MS);
            const stops =
                slot === "meshCa" ? "ca-crl.pem revokes the old mesh CAs" : "the old root leaves root-cert.pem";
            return [
                `pki:caRotation.${slot} moves to finish ${hours} h after its switch was deployed (${since}): workloads keep certificates of the old CA until they renew them ` +
                    `(within pki:meshFinishAfterHours, ${config.meshFinishAfterHours} h), and at finish ${stops}, so mesh mutual TLS fails for every workload not yet renewed. ` +
                    `Deploy the finish from ${ready.toISOString()}; in an incident, restart every workload first and set pki:meshFinishAfterHours to 0 for this update`,
            ];
        });
}

/**
 * Per holder (deployment record key), the certificates the deployed stack revoked that the config
 * no longer revokes while they are valid. RFC 5280 keeps an entry until the certificate expires:
 * without it the CRL stops listing the certificate, and wherever the CRL is checked (the gateway's
 * ca.crl, APIC's UI truststore) the leaked certificate passes again. Refused for holders still in
 * the stack; a removed endpoint's or UI service's revocations cannot be listed any more.
 */
function droppedRevocations(
    deployedClients: Readonly<Record<string, readonly DeployedClient[]>>,
    isRevoked: (holder: string, c: DeployedClient) => boolean,
    now: Date,
): Map<string, DeployedClient[]> {
    const dropped = new Map<string, DeployedClient[]>();
    for (const [holder, issued] of Object.entries(deployedClients)) {
        const unrevoked = issued.filter(
            (c) => c.revoked === true && Date.parse(c.notAfter) > now.getTime() && !isRevoked(holder, c),
        );
        if (unrevoked.length > 0) dropped.set(holder, unrevoked);
    }
    return dropped;
}

/**
 * Why a revocation of the certificate `c` may not be dated `r.revokedAt`, or undefined: before the
 * certificate's notBefore (a mistyped year, say). The CRL would say it was revoked before it existed,
 * and diff, which has no record, bounds how long the certificate lives by revokedAt plus the leaf
 * validity, so it would let the entry go while the certificate is still valid. CLOCK_SKEW_MS is
 * allowed (diff adds it to its bound): a certificate issued less than that before the update can
 * only be revoked CLOCK_SKEW_MS before it (validateConfig). Records of earlier versions lack notBefore.
 */
function revokedBeforeIssue(r: RevocationConfig, c: DeployedClient, now: Date): string | undefined {
    if (c.notBefore === undefined) return undefined;
    const notBefore = Date.parse(c.notBefore);
    const earliest = Math.min(notBefore, now.getTime()) - CLOCK_SKEW_MS;
    if (Date.parse(r.revokedAt) >= earliest) return undefined;
    // A notBefore after this update's clock (the record written by a machine whose clock was ahead)
    // leaves only CLOCK_SKEW_MS ago, the latest time validateConfig takes too.
    const why =
        notBefore <= now.getTime()
            ? "the certificate's notBefore, less five minutes for clock skew"
            : "five minutes before this update, the latest it takes too: the certificate's notBefore is after this update's clock";
    return (
        `is before serial ${r.serial} was issued (notBefore ${c.notBefore}): the CRL would date its revocation before the certificate existed, ` +
        `and diff, which bounds the certificate's life by revokedAt, would let the entry go while it is still valid; ` +
        `give the time ${REVOKED_WHEN[r.reason] ?? REVOKED_WHEN.unspecified}; the earliest this update takes is ${new Date(earliest).toISOString()} (${why})`
    );
}

/** What revokedAt is, by the RFC 5280 reason (CRL_REASONS): the time the reason arose. */
const REVOKED_WHEN: Readonly<Record<string, string>> = {
    unspecified: "the reason to revoke it arose",
    keyCompromise: "its key was found compromised",
    cACompromise: "the issuing CA's key was found compromised",
    affiliationChanged: "its holder's affiliation changed",
    superseded: "it was superseded (its replacement was issued)",
    cessationOfOperation: "the service it identifies ceased operation",
    certificateHold: "it was put on hold",
    privilegeWithdrawn: "its holder's privilege was withdrawn",
    aACompromise: "the attribute authority's key was found compromised",
};

const droppedRevocation = (c: DeployedClient, whose: string, entry: string): string =>
    `pki:revocations no longer lists serial ${c.serialHex} of ${whose}, which the deployed stack revoked and which is valid until ${c.notAfter}: ` +
    `the CRL would stop listing it, and the leaked certificate would pass again wherever the CRL is checked. ` +
    `Keep its entry ({ ${entry}, serial: ${c.serialHex}, epoch: ${c.epoch}, ... }) until then`;

/**
 * An endpoint removed (its revocations went with it) and added back under its id: the record still
 * marks its revoked certificates, which must be listed again while they are valid. Without them the
 * CRL would not list the serial, and a client rotation's switch phase would pin the revoked key as
 * the previous one, so the gateway would accept the leaked certificate again.
 */
const revocationOfEndpointBack = (c: DeployedClient, id: string): string =>
    `endpoint "${id}" is back in the stack, but this stack revoked its certificate serial ${c.serialHex} (epoch ${c.epoch}) before the endpoint was removed, and it is valid until ${c.notAfter}: ` +
    `without its pki:revocations entry the CRL would not list it, and a switch phase would pin its key at the gateway again. ` +
    `List it again ({ endpoint: ${id}, serial: ${c.serialHex}, epoch: ${c.epoch}, ... }) until then`;

/**
 * Whether APIC's UI truststore may still accept a revoked UI client certificate once its serial
 * leaves the CRL: it is valid, and the CA that issued it was not retired by a rotation's finish
 * (whose upload takes that CA out of APIC's UI truststore), whether the stack still has that CA or
 * no UI client CA at all any more (the last caller removed: the truststore APIC holds is no longer
 * rendered, and still holds it).
 */
function stillTrustedAtApic(c: DeployedClient, cas: readonly CaPlan[], deployed: RotationRecord, now: Date): boolean {
    if (Date.parse(c.notAfter) <= now.getTime() || deployed.retired.some((r) => r.id === c.issuer)) return false;
    return cas.some((ca) => ca.id === c.issuer) || !cas.some((ca) => ca.slot === "uiClientCa");
}

/**
 * A UI service removed from pki:frontEnd.callers cannot keep its pki:revocations entries, yet
 * APIC accepts every certificate of the UI client CA (it knows no list of callers), so its serials
 * must stay on the CRL until they expire, or until a rotation's finish retires the CA that issued them.
 */
const removedCallerRevocation = (name: string, c: DeployedClient): string =>
    `pki:frontEnd.callers no longer has UI service "${name}", whose certificate serial ${c.serialHex} the deployed stack revoked and which is valid until ${c.notAfter}: ` +
    `its pki:revocations entry must go with it (an entry names a caller), and the CRL would stop listing the serial; APIC accepts every certificate of the UI client CA, so where it checks that CRL the leaked certificate would pass again. ` +
    `Keep "${name}" in pki:frontEnd.callers with its revocation until then, or first take pki:caRotation.uiClientCa through its finish, which ends trust in ${c.issuer}, the CA that issued it`;

/** What made an update pin an endpoint's previous APIC key beside its current one, and what ends it. */
export interface ClientOverlapCause {
    readonly why: string;
    readonly finish: string;
}

/**
 * What makes an update pin an endpoint's previous APIC key beside its current one (as
 * clientOverlap), from its APIC client phase and the CA positions: the endpoint's switch phase, or
 * the switch of the APIC-client CA or of its root. Undefined: it pins one key.
 */
export function clientOverlapCause(
    config: PkiConfig,
    endpointId: string,
    phase: "switch" | "finish" | undefined,
    positions: CaRotationConfig,
): ClientOverlapCause | undefined {
    if (phase === "switch") {
        return {
            why: `its switch phase (pki:rotation.endpoints.${endpointId}.clientPhase or pki:rotation.apicClientPhase)`,
            finish: "its clientPhase at finish",
        };
    }
    const slot = (["apicClientCa", rootOf("apicClientCa", config.trustDomains)] as const).find(
        (s) => positions[s].phase === "switch",
    );
    return slot === undefined
        ? undefined
        : { why: `the switch of pki:caRotation.${slot}`, finish: `pki:caRotation.${slot} at phase finish` };
}

/** clientOverlapCause of the deployed update, from its record. */
const deployedClientOverlap = (
    config: PkiConfig,
    deployed: RotationRecord,
    endpointId: string,
): ClientOverlapCause | undefined =>
    clientOverlapCause(config, endpointId, ownMember(deployed.clientPhases, endpointId)?.phase, deployed.positions);

/**
 * A new APIC key while the deployed update pins two (`overlap`): the gateway would pin the new one
 * and `newest`, dropping the one before, which APIC may still use. `kept`: that key as the record
 * has it; undefined when only the stack files are known (diff).
 */
export function unpinnedUnderWay(
    endpointId: string,
    kept: DeployedClient | undefined,
    newest: { readonly epoch: number },
    epoch: number,
    overlap: ClientOverlapCause,
): string {
    // From the stack files alone (kept undefined), an endpoint added since the overlap began looks
    // the same as one that had a key before it: say so rather than claim a key it may never have had.
    const pinned =
        kept === undefined
            ? `may pin two of its keys, epoch ${newest.epoch} and the one before it`
            : `pins two of its keys, epoch ${kept.epoch} (serial ${kept.serialHex}) and epoch ${newest.epoch}`;
    const keptKey = kept === undefined ? `the key before epoch ${newest.epoch}` : `the key of epoch ${kept.epoch}`;
    const unknown =
        kept === undefined
            ? `. The stack files cannot tell whether it has that key: an endpoint added since that began has none, and pulumi up, which reads the deployment record, takes its new key`
            : "";
    return (
        `the APIC client of endpoint "${endpointId}" would get a new key (epoch ${epoch}) while the deployed update ${pinned}, for ${overlap.why}: ` +
        `the gateway pins only the new key and the one before it, so ${keptKey}, which APIC may still use, would be refused at once. ` +
        `Finish that first: once APIC uses the keystore of epoch ${newest.epoch}, deploy ${overlap.finish}; then make the new key${unknown}`
    );
}

const describeIssued = (issued: readonly DeployedClient[]): string =>
    issued.length === 0
        ? "the deployed record lists no certificate for it"
        : `its certificates on record are ${issued.map((c) => `serial ${c.serialHex} (epoch ${c.epoch}, until ${c.notAfter.slice(0, 10)})`).join(", ")}`;

function unsafeCutover(config: PkiConfig, endpointId: string, deployed: DeployedClient, epoch: number): string {
    return (
        `the APIC client of endpoint "${endpointId}" moves from epoch ${deployed.epoch} (deployed, serial ${deployed.serialHex}) to epoch ${epoch} ` +
        `with no overlap: the gateway would stop accepting the key APIC holds at once, and APIC would fail until it uploads the new keystore. ` +
        `Rotate in two steps: set ${clientSwitchSetting(config, endpointId)} to switch and deploy, ` +
        `upload the new keystore, then set it to finish. To cut a leaked key off at once, revoke its certificate (pki:revocations)`
    );
}

/**
 * A certificate of the ceremony whose notBefore is still ahead (the offline machine's clock was
 * ahead of the world's): BoringSSL (Envoy, istiod's peers) refuses every chain through it until
 * then, with no allowance for skew, so deploying it would cut the traffic it carries.
 */
function notYetValid(key: string, pem: string, now: Date, fix: string): string | undefined {
    const cert = new crypto.X509Certificate(pem);
    if (!notYetValidAt(cert, now)) return undefined;
    const notBefore = new Date(cert.validFrom);
    return (
        `${key} is not valid before ${notBefore.toISOString()} (now is ${now.toISOString()}): Envoy refuses every chain through it until then, ` +
        `with no allowance for clock skew (was the offline machine's clock ahead?). Deploy after ${notBefore.toISOString()}, or ${fix}`
    );
}

/**
 * A certificate of the ceremony that expired before it was ever deployed (the offline machine's
 * clock was behind): every chain through it is refused, so nothing is built under it. One the
 * deployed record holds is only warned of (expiredOfflineMessage): its rotation must still run.
 * Undefined when planned without the deployed record, which alone tells the two apart.
 */
function expiredUndeployed(
    key: string,
    id: string,
    pem: string,
    now: Date,
    deployed: RotationRecord | undefined,
): string | undefined {
    const cert = new crypto.X509Certificate(pem);
    const deployedSerial = deployed?.cas[id]?.serialHex;
    if (deployed === undefined || !expiredAt(cert, now)) return undefined;
    if (deployedSerial !== undefined && normalSerial(deployedSerial) === normalSerial(cert.serialNumber))
        return undefined;
    const [notBefore, notAfter] = [cert.validFrom, cert.validTo].map((t) => new Date(t).toISOString());
    return (
        `${key} expired at ${notAfter} (now is ${now.toISOString()}), before it was ever deployed: Envoy, istiod and APIC refuse every chain through it ` +
        `(was the offline machine's clock behind? it was signed for ${notBefore}). Set that clock right and sign its CSR again`
    );
}

/**
 * The ceremony's certificate for a CA whose key is of another algorithm than pki:caKeyAlgorithm
 * now makes (a change of pki:caKeyAlgorithm): it certifies the old key, so the component would
 * refuse it only after the new keys and CSRs were made. Refused by the plan, before anything.
 */
function staleKeyAlgorithm(parent: string, pem: string, ca: CaPlan, caKeyAlgorithm: string): string | undefined {
    const key = memberPath(parent, ca.id);
    const cert = new crypto.X509Certificate(pem);
    const type = cert.publicKey.asymmetricKeyType;
    const algorithm = type === "rsa" ? "RSA" : type === "ec" ? "ECDSA" : (type ?? "unknown").toUpperCase();
    if (algorithm === ca.key.algorithm) return undefined;
    return (
        `${key} (serial ${cert.serialNumber}) certifies an ${algorithm} key, but pki:caKeyAlgorithm is ${caKeyAlgorithm}: the stack makes ${ca.id} a new ${ca.key.algorithm} key, which that certificate does not certify. ` +
        `Remove it from ${parent} (note its serial first: it stays a CA under the root until revoked or expired); ` +
        `the stack then writes the CSR of the new key (pulumi stack output intermediateCsrs) for the ceremony to sign`
    );
}

/**
 * With roots kept offline: every certificate the ceremony signed must belong to a CA of this
 * stack under that root, be valid already, and not have expired before it was deployed. Returns
 * the CAs still waiting for a signature.
 */
function offlineProblems(
    config: PkiConfig,
    cas: readonly CaPlan[],
    now: Date,
    deployed: RotationRecord | undefined,
    problems: string[],
): CaId[] {
    const pending = new Set<CaId>();
    for (const [slot, offline] of Object.entries(config.offlineRoots) as [RootSlot, OfflineRootConfig][]) {
        const belowCas = cas.filter((c) => c.role !== "root" && c.issuer?.startsWith(ROOT_IDS[slot]));
        const below = belowCas.map((c) => c.id);
        const early = [
            notYetValid(
                `pki:offlineRoots.${slot}.certificate`,
                offline.certificate,
                now,
                "set that clock right before the root signs anything",
            ),
            ...Object.entries(offline.intermediates)
                .filter(([id]) => below.includes(id))
                .map(([id, pem]) =>
                    notYetValid(
                        `pki:offlineRoots.${slot}.intermediates.${id}`,
                        pem,
                        now,
                        "set that clock right and sign its CSR again",
                    ),
                ),
            ...Object.entries(offline.intermediates)
                .filter(([id]) => below.includes(id))
                .map(([id, pem]) =>
                    expiredUndeployed(`pki:offlineRoots.${slot}.intermediates.${id}`, id, pem, now, deployed),
                ),
        ];
        problems.push(...early.filter((problem) => problem !== undefined));
        for (const ca of belowCas.filter((c) => offline.intermediates[c.id] !== undefined)) {
            const problem = staleKeyAlgorithm(
                `pki:offlineRoots.${slot}.intermediates`,
                offline.intermediates[ca.id],
                ca,
                config.caKeyAlgorithm,
            );
            if (problem !== undefined) problems.push(problem);
        }
        for (const id of Object.keys(offline.intermediates)) {
            if (below.includes(id)) continue;
            // A generation older than any this stack still has: the finish of its rotation retired it.
            const retired = belowCas.some((c) =>
                Array.from({ length: c.generation }, (_, g) => caInstanceId(c.slotId, g)).includes(id),
            );
            const key = memberPath(`pki:offlineRoots.${slot}.intermediates`, id);
            problems.push(
                retired
                    ? `${key} is a CA generation this stack no longer has (the finish of its rotation retired it): remove it from pki:offlineRoots.${slot}.intermediates; this root's CAs are ${below.join(", ")}`
                    : `${key} is not a CA this root signs in this stack; its CAs are ${below.join(", ")}`,
            );
        }
        for (const id of below.filter((id) => offline.intermediates[id] === undefined)) pending.add(id);
    }
    return cas.map((c) => c.id).filter((id) => pending.has(id));
}

/** A leaf of the plan, and whose it is, as a refusal names it: "endpoint ob", "UI client outages-ui". */
interface PlannedLeaf {
    readonly leaf: LeafPlan;
    readonly whose: string;
}

/** A planned leaf's names, as the components' issuer checks hold them against nameConstraints. */
function leafNames({ leaf, whose }: PlannedLeaf): SignedName[] {
    const certificate = `the ${leaf.role} certificate of ${whose}`;
    return [
        ...leaf.dnsNames.map((value) => ({ type: "DNS" as const, value, input: `${certificate}: its DNS name` })),
        ...leaf.uris.map((value) => ({ type: "URI" as const, value, input: `${certificate}: its URI` })),
        { ...dirName(caSubject(leaf.subject)), type: "DirName" as const, input: `${certificate}: its subject` },
    ];
}

/**
 * The checks the components make, at apply time, of a leaf signer's chain that need its
 * certificates alone (lib/pki/issuerChecks), made here on the ceremony's: an intermediate of
 * pki:offlineRoots under its root, against the leaves this plan has it sign (signatures, path
 * length, extended key usage, critical extensions, the leaves' names against nameConstraints),
 * so that diff and inventory refuse what render and pulumi up would. The components' messages
 * call the two certificates certPem and rootCertPem; here they are named by their config keys.
 */
function offlineChainProblems(config: PkiConfig, cas: readonly CaPlan[], leaves: readonly PlannedLeaf[]): string[] {
    const problems: string[] = [];
    for (const [slot, offline] of Object.entries(config.offlineRoots) as [RootSlot, OfflineRootConfig][]) {
        const rootKey = `pki:offlineRoots.${slot}.certificate`;
        const root = new crypto.X509Certificate(offline.certificate);
        for (const [id, pem] of Object.entries(offline.intermediates)) {
            // A leaf signer of this stack (a mesh CA's checks need istiod's names: left to MeshPluginCa).
            const signed = leaves.filter((planned) => planned.leaf.issuer === id);
            if (!cas.some((c) => c.id === id && c.role === "intermediate") || signed.length === 0) continue;
            const key = memberPath(`pki:offlineRoots.${slot}.intermediates`, id);
            const chain = [new crypto.X509Certificate(pem)];
            const purposes = (["serverAuth", "clientAuth"] as const).filter((purpose: LeafPurpose) =>
                signed.some((planned) =>
                    planned.leaf.allowedUses.includes(purpose === "serverAuth" ? "server_auth" : "client_auth"),
                ),
            );
            // The path is the intermediate, then the root.
            const place: PlaceOf = (i, cert) => `${i === 0 ? key : rootKey} (${subjectOf(cert)})`;
            const problem =
                signatureProblem(chain, root, false, place) ??
                pathLengthProblem(chain, root, false, false, place) ??
                purposeProblem(chain, root, purposes, false, place) ??
                unhandledExtensionProblem(chain, root, false, place) ??
                nameConstraintProblem(chain, root, signed.flatMap(leafNames), place);
            if (problem !== undefined) problems.push(`${key}: ${problem}`);
        }
    }
    return problems;
}

/** Raw `pki:` config -> plan, validating first. The one entry point callers need. */
export function planFromRawConfig(raw: Readonly<Record<string, unknown>>, options: PlanOptions = {}): PkiPlan {
    const config = validateConfig(raw, options.now);
    // Valid, so each value given has the text Pulumi would pass for it.
    const texts = Object.fromEntries(
        Object.entries(raw)
            .filter(([, value]) => value !== undefined)
            .map(([key, value]) => [key, javascriptValueText(value, `pki:${key}`)]),
    );
    return { ...planPki(config, { written: settingsWritten(texts), ...options }), written: texts };
}
