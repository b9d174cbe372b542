/** Validated stack configuration (namespace `pki`); see README.md "Stack configuration". */
import { CaRotationConfig, INITIAL_ROTATION } from "../plan/caRotation";
import { RootSlot, TrustDomains } from "../plan/hierarchy";
import { PKCS12_MIN_ITERATIONS } from "../pki/pkcs12";

export type { CaRotationConfig, RootSlot, TrustDomains };

export type HostnameOption = 1 | 2 | 3;

/** Key algorithm of a certificate; `as const` so that Pulumi's schema inference reads it as an enum. */
export const KeyAlgorithm = {
    /** RSA: 2048 bits for leaves, 4096 for CAs. */
    RSA: "RSA",
    /** ECDSA: P-256 for leaves, P-384 for CAs (never the provider's own default, P-224). */
    ECDSA: "ECDSA",
} as const;
export type KeyAlgorithm = (typeof KeyAlgorithm)[keyof typeof KeyAlgorithm];
/** The earlier name of KeyAlgorithm. */
export type LeafKeyAlgorithm = KeyAlgorithm;

export interface DomainConfig {
    /** Kubernetes namespace of the domain's services. */
    readonly namespace: string;
    /** Microservices, in the order given (a list keeps its order). */
    readonly services: readonly string[];
    /** Option 3 only: group name -> services of this domain. */
    readonly groups: Readonly<Record<string, readonly string[]>>;
}

export interface ValidityDays {
    readonly root: number;
    readonly intermediate: number;
    readonly leaf: number;
}

export interface ClusterConfig {
    /** Cluster name: the render folder, the mesh CA's subject and the Kubernetes provider's name. */
    readonly name: string;
    /** kubeconfig context; undefined means the current context. */
    readonly context?: string;
}

/**
 * An APIC client rotation's phase. `switch`: the new key is issued and the gateway pins the
 * previous one beside it, so APIC keeps working until it uploads the new keystore; `finish`:
 * only the newest key is pinned.
 */
export type ClientPhase = "switch" | "finish";

/** Forced key rotation: bump a number and exactly the keys and certificates it names are replaced. */
export interface RotationConfig {
    /** Every leaf issued here (gateway servers, APIC and UI clients, APIC's UI-facing servers). */
    readonly leafEpoch: number;
    /** Every gateway server certificate. */
    readonly gatewayServerEpoch: number;
    /** Every APIC client certificate. */
    readonly apicClientEpoch: number;
    /** Every mesh plug-in CA (istiod must be restarted to pick up the new one). */
    readonly meshEpoch: number;
    /** Every UI service's client certificate (pki:frontEnd.callers). */
    readonly uiClientEpoch: number;
    /** Every APIC UI-facing server certificate issued here (pki:frontEnd.apicHosts). */
    readonly apicServerEpoch: number;
    /** Phase of every APIC client's rotation, unless an endpoint sets its own. */
    readonly apicClientPhase: ClientPhase;
    /** Per endpoint id. */
    readonly endpoints: Readonly<Record<string, EndpointRotation>>;
}

export interface EndpointRotation {
    readonly serverEpoch: number;
    readonly clientEpoch: number;
    /** Overrides RotationConfig.apicClientPhase for this endpoint. */
    readonly clientPhase?: ClientPhase;
}

/**
 * A revoked client certificate: an endpoint's APIC client or a UI service's; the holder gets a
 * fresh one (next epoch) automatically.
 */
export interface RevocationConfig {
    /** The endpoint whose APIC client certificate is revoked. */
    readonly endpoint?: string;
    /** Or the UI service (Kubernetes name) whose client certificate is revoked. */
    readonly uiClient?: string;
    /** Serial number in hex, as `expiry` and `openssl x509 -serial` print it. */
    readonly serial: string;
    /** Rotation epoch of the revoked certificate (0 until the endpoint's client was rotated). */
    readonly epoch: number;
    /** RFC 5280 reason, e.g. keyCompromise, superseded, cessationOfOperation. */
    readonly reason: string;
    /** When it was revoked (ISO 8601); fixed in config so the CRL is the same on every run. */
    readonly revokedAt: string;
}

/** A root kept offline: its certificate, and what its ceremony signed for this stack. */
export interface OfflineRootConfig {
    readonly certificate: string;
    /** CA id (gateway-server-ca, apic-client-ca, mesh-ca-<cluster>, with -g<n> after a rotation) -> signed certificate PEM. */
    readonly intermediates: Readonly<Record<string, string>>;
    /** The root's CRLs signed by the ceremony, one per publication period (PEM, in any order). */
    readonly crls: readonly string[];
}

/** A UI microservice of the front end (the bank's OB UI microservices). */
export interface UiServiceConfig {
    /** The name as the bank's inventory spells it (upper case allowed). */
    readonly name: string;
    /** Its Kubernetes name: the name lower-cased (the Secret, DestinationRule and identity use it). */
    readonly kubernetesName: string;
    /** Kubernetes namespace of its pods. */
    readonly namespace: string;
    /** Pod labels the DestinationRule's workloadSelector matches; default { app: <kubernetesName> }. */
    readonly labels: Readonly<Record<string, string>>;
}

/** A customer-facing host: a key and CSR made here, the certificate signed by a public CA. */
export interface CustomerFacingConfig {
    /** Key generation requested: raising it makes a new key and CSR (renewal). */
    readonly epoch: number;
    /** The public CA's certificate (leaf, then its chain) for the key of `certificateEpoch`; none yet: pending. */
    readonly certificate?: string;
    /** Which key generation `certificate` certifies; default `epoch`. */
    readonly certificateEpoch: number;
}

/** The front end: UI services that call APIC with mutual TLS, and the customer-facing hosts. */
export interface FrontEndConfig {
    /** pki:frontEnd.namespace: the namespace of a service that names none of its own. */
    readonly namespace: string;
    readonly services: readonly UiServiceConfig[];
    /** Kubernetes names of the UI services that call APIC (a decision the bank makes; default none). */
    readonly callers: readonly string[];
    /** The APIC host(s) the callers call. */
    readonly apicHosts: readonly string[];
    /** The root that signs APIC's UI-facing server certificate when it is not issued here (PEM). */
    readonly apicServerCa?: string;
    /** Customer-facing host -> its certificate request and the public CA's certificate. */
    readonly customerFacing: Readonly<Record<string, CustomerFacingConfig>>;
    /** Roots a customer-facing chain may end at besides the Mozilla store bundled with Node (PEM). */
    readonly publicRoots?: string;
    /** The ingress gateway that serves the customer-facing hosts; unset: the backend's (pki:gatewayNamespace, istio: ingressgateway). */
    readonly customerFacingGateway?: CustomerFacingGatewayConfig;
}

/** pki:frontEnd.customerFacingGateway: where the internet-facing gateway's pods run, and their labels. */
export interface CustomerFacingGatewayConfig {
    /** The gateway pods' namespace: its Gateway and Secrets go there (Istio reads credentialName there). */
    readonly namespace: string;
    /** The gateway pods' labels, the Gateway's selector. */
    readonly selector: Readonly<Record<string, string>>;
}

export interface PkiConfig {
    readonly environment: string;
    readonly option: HostnameOption;
    readonly baseDomain: string;
    /** Subject O of every certificate; omitted when not set. */
    readonly organization?: string;
    /** Domain name -> its services. Sorted by name: Pulumi passes a map as JSON with sorted keys. */
    readonly domains: Readonly<Record<string, DomainConfig>>;
    /** Mesh clusters: one plug-in CA each; Gateway objects go to the first. */
    readonly clusters: readonly ClusterConfig[];
    /** Mesh-wide PeerAuthentication STRICT in istio-system of every cluster. */
    readonly meshStrictMtls: boolean;
    readonly gatewayNamespace: string;
    /** Separate roots for the mesh, the gateway's server certificates and APIC's clients, or one shared root. */
    readonly trustDomains: TrustDomains;
    /** Leaf keys: RSA 2048 or ECDSA P-256. */
    readonly keyAlgorithm: LeafKeyAlgorithm;
    /** CA keys: RSA 4096 or ECDSA P-384. */
    readonly caKeyAlgorithm: LeafKeyAlgorithm;
    readonly validityDays: ValidityDays;
    /** Early-renewal window per tier: the provider marks a certificate for renewal this long before it expires. */
    readonly earlyRenewalDays: ValidityDays;
    readonly rotation: RotationConfig;
    /** Staged rotation of the root, the gateway-server CA, the APIC-client CA and the mesh CAs. */
    readonly caRotation: CaRotationConfig;
    readonly revocations: readonly RevocationConfig[];
    /** The edge's CRLs are re-signed once per period of this many days (lib/pki/crl.ts crlValidityDays). */
    readonly crlPeriodDays: number;
    /**
     * A mesh CA's or mesh root's staged rotation may move to finish only this many hours after its
     * switch was deployed: workloads keep certificates of the old CA until they renew them (24 h
     * with istiod's default workload certificate TTL). 0 only in an incident, workloads restarted.
     */
    readonly meshFinishAfterHours: number;
    /** PKCS#12 encryption of the APIC keystores. */
    readonly pkcs12Profile: "modern" | "legacy";
    /** PBKDF2 and MAC iterations of the APIC keystores. */
    readonly pkcs12Iterations: number;
    /** UI services calling APIC with mutual TLS, and customer-facing hosts. */
    readonly frontEnd: FrontEndConfig;
    /** Roots whose key is offline (ceremony); for them no root key exists in this stack. */
    readonly offlineRoots: Readonly<Partial<Record<RootSlot, OfflineRootConfig>>>;
}

export const DEFAULTS = {
    clusters: [{ name: "default" }],
    meshStrictMtls: false,
    gatewayNamespace: "istio-system",
    trustDomains: "separate",
    keyAlgorithm: "RSA",
    caKeyAlgorithm: "RSA",
    validityDays: { root: 3650, intermediate: 1095, leaf: 365 },
    crlPeriodDays: 7,
    meshFinishAfterHours: 24,
    pkcs12Profile: "modern",
    pkcs12Iterations: PKCS12_MIN_ITERATIONS,
    rotation: {
        leafEpoch: 0,
        gatewayServerEpoch: 0,
        apicClientEpoch: 0,
        meshEpoch: 0,
        uiClientEpoch: 0,
        apicServerEpoch: 0,
        apicClientPhase: "finish",
        endpoints: {},
    },
    caRotation: INITIAL_ROTATION,
    frontEnd: { namespace: "ui", services: [], callers: [], apicHosts: [], customerFacing: {} },
    frontEndNamespace: "ui",
} as const;
