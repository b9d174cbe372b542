/** Validated stack configuration (namespace `pki`); see DESIGN.md "Stack configuration". */

export type HostnameOption = 1 | 2 | 3;
export type LeafKeyAlgorithm = "RSA" | "ECDSA";

export interface DomainConfig {
    /** Kubernetes namespace of the domain's services. */
    readonly namespace: string;
    /** Microservices, in the order given. */
    readonly services: readonly string[];
    /** Option 3 only: group name -> services of this domain. */
    readonly groups: Readonly<Record<string, readonly string[]>>;
}

export interface ValidityDays {
    readonly root: number;
    readonly intermediate: number;
    readonly leaf: number;
}

export interface PkiConfig {
    readonly environment: string;
    readonly option: HostnameOption;
    readonly baseDomain: string;
    /** Subject O of every certificate; omitted when not set. */
    readonly organization?: string;
    /** Domain name -> its services, in the order given. */
    readonly domains: Readonly<Record<string, DomainConfig>>;
    readonly clusters: readonly string[];
    readonly gatewayNamespace: string;
    /** Leaf keys: RSA 2048 or ECDSA P-256. */
    readonly keyAlgorithm: LeafKeyAlgorithm;
    /** CA keys: RSA 4096 or ECDSA P-384. */
    readonly caKeyAlgorithm: LeafKeyAlgorithm;
    readonly validityDays: ValidityDays;
}

export const DEFAULTS = {
    clusters: ["default"],
    gatewayNamespace: "istio-system",
    keyAlgorithm: "RSA",
    caKeyAlgorithm: "RSA",
    validityDays: { root: 3650, intermediate: 1095, leaf: 365 },
} as const;
