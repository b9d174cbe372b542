/**
 * Pure validation of raw stack config (keys without the `pki:` prefix, values as YAML or
 * `pulumi config` gives them). Every problem is collected, so one run shows them all; each
 * message names the key, shows the bad value and says the fix.
 */
import {
    ClientPhase,
    ClusterConfig,
    DEFAULTS,
    EndpointRotation,
    DomainConfig,
    HostnameOption,
    LeafKeyAlgorithm,
    PkiConfig,
    RevocationConfig,
    RotationConfig,
    ValidityDays,
} from "./types";
import { CA_SLOTS, CaPosition, CaRotationConfig, PHASES, rotationConflicts, RotationPhase } from "../plan/caRotation";
import { caSlots, isRootSlot, TrustDomains } from "../plan/hierarchy";
import { CRL_REASONS } from "../pki/crl";
import { validateOfflineRoots, validateTrustDomains } from "./validateTrust";

export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

export const KNOWN_KEYS = [
    "environment",
    "option",
    "baseDomain",
    "organization",
    "domains",
    "clusters",
    "meshStrictMtls",
    "gatewayNamespace",
    "trustDomains",
    "keyAlgorithm",
    "caKeyAlgorithm",
    "validityDays",
    "earlyRenewalDays",
    "rotation",
    "caRotation",
    "revocations",
    "crlPeriodDays",
    "offlineRoots",
    "pkcs12Profile",
] as const;

/** Keys of earlier versions, refused with a message of their own that says where they went. */
const RENAMED_KEYS = ["offlineRoot"];

/** RFC 1123 label as Kubernetes uses it: lower case, digits, '-', 1-63 characters. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** A microservice name as the inventory spells it (seed 000 has upper case); its host label is lower-cased. */
const SERVICE_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

export const MAX_HOSTNAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

const show = (value: unknown): string => (value === undefined ? "nothing" : JSON.stringify(value));

/** Problems with a DNS name, or [] when it is valid. */
export function dnsNameProblems(name: string): string[] {
    const problems: string[] = [];
    if (name.length > MAX_HOSTNAME_LENGTH) {
        problems.push(`is ${name.length} characters long; a DNS name has at most ${MAX_HOSTNAME_LENGTH}`);
    }
    for (const label of name.split(".")) {
        if (label.length > MAX_LABEL_LENGTH) {
            problems.push(
                `has the label "${label}" of ${label.length} characters; a label has at most ${MAX_LABEL_LENGTH}`,
            );
        } else if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(label)) {
            problems.push(
                `has the label "${label}"; labels are lower-case letters, digits and '-', not starting or ending with '-'`,
            );
        }
    }
    return problems;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function validateConfig(raw: Readonly<Record<string, unknown>>): PkiConfig {
    const problems: string[] = [];
    const fail = (message: string): void => {
        problems.push(message);
    };

    for (const key of Object.keys(raw)) {
        if (!(KNOWN_KEYS as readonly string[]).includes(key) && !RENAMED_KEYS.includes(key)) {
            fail(
                `pki:${key} is not a known key; known keys are ${KNOWN_KEYS.map((k) => `pki:${k}`).join(", ")}. Fix the spelling or remove it`,
            );
        }
    }

    const environment = raw.environment;
    if (environment === undefined || environment === "") {
        fail(`pki:environment is required; set it to the environment name, e.g. "dev"`);
    } else if (typeof environment !== "string" || !LABEL.test(environment)) {
        fail(`pki:environment must be lower-case letters, digits and '-' (at most 63); got ${show(environment)}`);
    }

    let option: HostnameOption = 1;
    const rawOption = raw.option;
    if (rawOption === undefined) {
        fail(
            `pki:option is required; set it to 1 (one host per domain), 2 (one per microservice) or 3 (one per group)`,
        );
    } else if (![1, 2, 3].includes(Number(rawOption)) || String(rawOption).trim() !== String(Number(rawOption))) {
        fail(`pki:option must be 1, 2 or 3; got ${show(rawOption)}`);
    } else {
        option = Number(rawOption) as HostnameOption;
    }

    const baseDomain = raw.baseDomain;
    if (baseDomain === undefined || baseDomain === "") {
        fail(
            `pki:baseDomain is required; set it to the DNS name under which the hosts live, e.g. "dev.api.bank.example"`,
        );
    } else if (typeof baseDomain !== "string") {
        fail(`pki:baseDomain must be a DNS name; got ${show(baseDomain)}`);
    } else {
        for (const p of dnsNameProblems(baseDomain)) fail(`pki:baseDomain ${show(baseDomain)} ${p}`);
    }

    const organization = raw.organization;
    if (organization !== undefined && (typeof organization !== "string" || organization.trim() === "")) {
        fail(
            `pki:organization must be a non-empty string (the subject O); got ${show(organization)}. Remove it to leave O out`,
        );
    }

    const clusters = validateClusters(raw.clusters, fail);
    const meshStrictMtls = flag(raw.meshStrictMtls, "pki:meshStrictMtls", DEFAULTS.meshStrictMtls, fail);
    const gatewayNamespace = label(raw.gatewayNamespace, "pki:gatewayNamespace", DEFAULTS.gatewayNamespace, fail);
    const trustDomains = validateTrustDomains(raw.trustDomains, DEFAULTS.trustDomains, fail);
    const keyAlgorithm = algorithm(
        raw.keyAlgorithm,
        "pki:keyAlgorithm",
        DEFAULTS.keyAlgorithm,
        "RSA (2048-bit) or ECDSA (P-256)",
        fail,
    );
    const caKeyAlgorithm = algorithm(
        raw.caKeyAlgorithm,
        "pki:caKeyAlgorithm",
        DEFAULTS.caKeyAlgorithm,
        "RSA (4096-bit) or ECDSA (P-384)",
        fail,
    );
    const validityDays = validity(raw.validityDays, fail);
    const earlyRenewalDays = earlyRenewal(raw.earlyRenewalDays, validityDays, fail);
    const rotation = validateRotation(raw.rotation, fail);
    const caRotation = validateCaRotation(raw.caRotation, trustDomains, fail);
    const revocations = validateRevocations(raw.revocations, fail);
    const crlPeriodDays = raw.crlPeriodDays === undefined ? DEFAULTS.crlPeriodDays : Number(raw.crlPeriodDays);
    if (!Number.isInteger(crlPeriodDays) || crlPeriodDays < 1 || crlPeriodDays > 90) {
        fail(`pki:crlPeriodDays must be a whole number of days from 1 to 90; got ${show(raw.crlPeriodDays)}`);
    }
    const offlineRoots = validateOfflineRoots(raw.offlineRoots, raw.offlineRoot, trustDomains, fail);
    const pkcs12Profile = raw.pkcs12Profile ?? DEFAULTS.pkcs12Profile;
    if (pkcs12Profile !== "modern" && pkcs12Profile !== "legacy") {
        fail(
            `pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got ${show(raw.pkcs12Profile)}`,
        );
    }
    if (revocations.length > 0 && raw.caKeyAlgorithm === "ECDSA") {
        fail(
            `pki:revocations needs pki:caKeyAlgorithm RSA: CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview`,
        );
    }
    const rotated = CA_SLOTS.filter((slot) => caRotation[slot].generation > 0);
    for (const slot of rotated.filter((s) => isRootSlot(s) && s in offlineRoots)) {
        fail(
            `pki:caRotation.${slot} rotates a root kept offline (pki:offlineRoots.${slot}); a new offline root comes from a new ceremony: ` +
                `create it with "apic-istio-pki ceremony init-root" and replace pki:offlineRoots.${slot} in a reviewed change`,
        );
    }
    const rotatedIntermediates = rotated.filter((slot) => !isRootSlot(slot));
    if (rotatedIntermediates.length > 0 && raw.caKeyAlgorithm === "ECDSA") {
        fail(
            `pki:caRotation.${rotatedIntermediates[0]} needs pki:caKeyAlgorithm RSA: finishing the rotation revokes the old CA in the root's CRL, ` +
                `and CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview`,
        );
    }
    const domains = validateDomains(raw.domains, option, fail);

    if (problems.length > 0) throw new ConfigError(problems);
    return {
        environment: environment as string,
        option,
        baseDomain: baseDomain as string,
        ...(organization !== undefined ? { organization: organization as string } : {}),
        domains,
        clusters,
        meshStrictMtls,
        gatewayNamespace,
        trustDomains,
        keyAlgorithm,
        caKeyAlgorithm,
        validityDays,
        earlyRenewalDays,
        rotation,
        caRotation,
        revocations,
        crlPeriodDays,
        pkcs12Profile: pkcs12Profile as "modern" | "legacy",
        offlineRoots,
    };
}

function validateRevocations(value: unknown, fail: (m: string) => void): RevocationConfig[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
        fail(`pki:revocations must be a list of { endpoint, serial, epoch, reason, revokedAt }; got ${show(value)}`);
        return [];
    }
    const reasons = Object.keys(CRL_REASONS);
    return value.flatMap((entry, i): RevocationConfig[] => {
        const key = `pki:revocations[${i}]`;
        if (!isRecord(entry)) {
            fail(`${key} must be { endpoint, serial, epoch, reason, revokedAt }; got ${show(entry)}`);
            return [];
        }
        for (const k of Object.keys(entry)) {
            if (!["endpoint", "serial", "epoch", "reason", "revokedAt"].includes(k)) {
                fail(`${key}.${k} is not a known key; a revocation has endpoint, serial, epoch, reason and revokedAt`);
            }
        }
        const serial = String(entry.serial ?? "").replace(/:/g, "");
        if (!/^[0-9A-Fa-f]{1,40}$/.test(serial)) {
            fail(
                `${key}.serial must be the certificate's serial number in hex (as expiry prints it); got ${show(entry.serial)}`,
            );
        }
        if (typeof entry.endpoint !== "string")
            fail(
                `${key}.endpoint must name the endpoint whose APIC client certificate is revoked; got ${show(entry.endpoint)}`,
            );
        const reason = entry.reason ?? "unspecified";
        if (typeof reason !== "string" || !reasons.includes(reason)) {
            fail(`${key}.reason must be one of ${reasons.join(", ")}; got ${show(entry.reason)}`);
        }
        const revokedAt = String(entry.revokedAt ?? "");
        if (!/^\d{4}-\d{2}-\d{2}/.test(revokedAt) || Number.isNaN(Date.parse(revokedAt))) {
            fail(
                `${key}.revokedAt must be an ISO 8601 date such as "2026-11-20T09:30:00Z"; got ${show(entry.revokedAt)}`,
            );
        }
        return [
            {
                endpoint: String(entry.endpoint),
                serial: serial.toUpperCase(),
                epoch: epoch(entry.epoch, `${key}.epoch`, fail),
                reason: String(reason),
                revokedAt,
            },
        ];
    });
}

/** Seed 001: renew at two thirds of the lifetime, i.e. a window of the last third. */
export const defaultEarlyRenewalDays = (validityDays: number): number => Math.floor(validityDays / 3);

function earlyRenewal(value: unknown, validity: ValidityDays, fail: (m: string) => void): ValidityDays {
    const days: Record<keyof ValidityDays, number> = {
        root: defaultEarlyRenewalDays(validity.root),
        intermediate: defaultEarlyRenewalDays(validity.intermediate),
        leaf: defaultEarlyRenewalDays(validity.leaf),
    };
    if (value === undefined) return days;
    if (!isRecord(value)) {
        fail(`pki:earlyRenewalDays must be a map such as { leaf: 121 }; got ${show(value)}`);
        return days;
    }
    for (const [tier, raw] of Object.entries(value)) {
        if (!(tier in days)) {
            fail(`pki:earlyRenewalDays.${tier} is not a known tier; the tiers are root, intermediate and leaf`);
            continue;
        }
        const v = Number(raw);
        const limit = validity[tier as keyof ValidityDays];
        if (!Number.isInteger(v) || v < 1 || v >= limit) {
            fail(
                `pki:earlyRenewalDays.${tier} must be a whole number of days from 1 to ${limit - 1} (below pki:validityDays.${tier}); got ${show(raw)}`,
            );
        } else {
            days[tier as keyof ValidityDays] = v;
        }
    }
    return days;
}

function epoch(value: unknown, key: string, fail: (m: string) => void): number {
    if (value === undefined) return 0;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) {
        fail(`${key} must be a whole number >= 0 (raise it by one to rotate); got ${show(value)}`);
        return 0;
    }
    return n;
}

const CLIENT_PHASES = ["switch", "finish"] as const;

function clientPhase(value: unknown, key: string, fail: (m: string) => void): ClientPhase | undefined {
    if (value === undefined) return undefined;
    if (!(CLIENT_PHASES as readonly unknown[]).includes(value)) {
        fail(
            `${key} must be switch (the new APIC key is issued and the previous one stays pinned at the gateway until APIC uploads the new keystore) ` +
                `or finish (only the newest key is pinned); got ${show(value)}`,
        );
        return undefined;
    }
    return value as ClientPhase;
}

function validateRotation(value: unknown, fail: (m: string) => void): RotationConfig {
    if (value === undefined) return DEFAULTS.rotation;
    if (!isRecord(value)) {
        fail(`pki:rotation must be a map such as { leafEpoch: 1 }; got ${show(value)}`);
        return DEFAULTS.rotation;
    }
    const known = ["leafEpoch", "gatewayServerEpoch", "apicClientEpoch", "meshEpoch", "apicClientPhase", "endpoints"];
    for (const k of Object.keys(value)) {
        if (!known.includes(k)) fail(`pki:rotation.${k} is not a known key; known keys are ${known.join(", ")}`);
    }
    const endpoints: Record<string, EndpointRotation> = {};
    if (value.endpoints !== undefined && !isRecord(value.endpoints)) {
        fail(
            `pki:rotation.endpoints must map endpoint ids to { serverEpoch, clientEpoch, clientPhase }; got ${show(value.endpoints)}`,
        );
    }
    for (const [id, entry] of Object.entries(isRecord(value.endpoints) ? value.endpoints : {})) {
        const key = `pki:rotation.endpoints.${id}`;
        if (!isRecord(entry)) {
            fail(`${key} must be { serverEpoch, clientEpoch, clientPhase }; got ${show(entry)}`);
            continue;
        }
        for (const k of Object.keys(entry)) {
            if (!["serverEpoch", "clientEpoch", "clientPhase"].includes(k))
                fail(`${key}.${k} is not a known key; use serverEpoch, clientEpoch or clientPhase`);
        }
        const phase = clientPhase(entry.clientPhase, `${key}.clientPhase`, fail);
        endpoints[id] = {
            serverEpoch: epoch(entry.serverEpoch, `${key}.serverEpoch`, fail),
            clientEpoch: epoch(entry.clientEpoch, `${key}.clientEpoch`, fail),
            ...(phase !== undefined ? { clientPhase: phase } : {}),
        };
    }
    return {
        leafEpoch: epoch(value.leafEpoch, "pki:rotation.leafEpoch", fail),
        gatewayServerEpoch: epoch(value.gatewayServerEpoch, "pki:rotation.gatewayServerEpoch", fail),
        apicClientEpoch: epoch(value.apicClientEpoch, "pki:rotation.apicClientEpoch", fail),
        meshEpoch: epoch(value.meshEpoch, "pki:rotation.meshEpoch", fail),
        apicClientPhase:
            clientPhase(value.apicClientPhase, "pki:rotation.apicClientPhase", fail) ??
            DEFAULTS.rotation.apicClientPhase,
        endpoints,
    };
}

/**
 * `pki:caRotation`: per CA `{ generation, phase }`. Generation 0 (the first CA) has no phases;
 * while the root rotates, no other CA may, because the root's new generation re-issues them all.
 */
function validateCaRotation(value: unknown, trust: TrustDomains, fail: (m: string) => void): CaRotationConfig {
    if (value === undefined) return DEFAULTS.caRotation;
    if (!isRecord(value)) {
        fail(
            `pki:caRotation must be a map such as { apicClientCa: { generation: 1, phase: prepare } }; got ${show(value)}`,
        );
        return DEFAULTS.caRotation;
    }
    const slots = caSlots(trust);
    for (const k of Object.keys(value)) {
        if (!(slots as readonly string[]).includes(k)) {
            const why = (CA_SLOTS as readonly string[]).includes(k) ? ` with pki:trustDomains ${trust}` : "";
            fail(`pki:caRotation.${k} is not a CA of this stack${why}; its CAs are ${slots.join(", ")}`);
        }
    }
    const positions = { ...DEFAULTS.caRotation } as Record<(typeof CA_SLOTS)[number], CaPosition>;
    for (const slot of slots) {
        const entry = value[slot];
        if (entry === undefined) continue;
        const key = `pki:caRotation.${slot}`;
        if (!isRecord(entry)) {
            fail(`${key} must be { generation, phase }, e.g. { generation: 1, phase: prepare }; got ${show(entry)}`);
            continue;
        }
        for (const k of Object.keys(entry)) {
            if (k !== "generation" && k !== "phase") fail(`${key}.${k} is not a known key; use generation and phase`);
        }
        const generation = Number(entry.generation);
        if (!Number.isInteger(generation) || generation < 0) {
            fail(
                `${key}.generation must be a whole number >= 0 (1 for the first rotation); got ${show(entry.generation)}`,
            );
            continue;
        }
        if (!(PHASES as readonly unknown[]).includes(entry.phase)) {
            fail(`${key}.phase must be one of ${PHASES.join(", ")} (in that order); got ${show(entry.phase)}`);
            continue;
        }
        const phase = entry.phase as RotationPhase;
        if (generation === 0 && phase !== "finish") {
            fail(
                `${key} is { generation: 0, phase: ${phase} }, but generation 0 is the stack's first CA and has no phases; a rotation starts with { generation: 1, phase: prepare }`,
            );
            continue;
        }
        positions[slot] = { generation, phase };
    }
    rotationConflicts(positions, trust).forEach(fail);
    return positions;
}

/** `pki:clusters`: names, or `{ name, context }` to choose the kubeconfig context. */
function validateClusters(value: unknown, fail: (m: string) => void): ClusterConfig[] {
    if (value === undefined) return DEFAULTS.clusters.map((c) => ({ ...c }));
    if (!Array.isArray(value) || value.length === 0) {
        fail(`pki:clusters must be a non-empty list of cluster names or { name, context } maps; got ${show(value)}`);
        return [];
    }
    const clusters: ClusterConfig[] = [];
    value.forEach((entry, i) => {
        const key = `pki:clusters[${i}]`;
        const cluster: ClusterConfig | undefined =
            typeof entry === "string"
                ? { name: entry }
                : isRecord(entry) && typeof entry.name === "string"
                  ? { name: entry.name, ...(entry.context !== undefined ? { context: String(entry.context) } : {}) }
                  : undefined;
        if (cluster === undefined || !LABEL.test(cluster.name)) {
            fail(
                `${key} must be a cluster name (lower-case letters, digits and '-', at most 63) or { name, context }; got ${show(entry)}`,
            );
            return;
        }
        if (isRecord(entry)) {
            for (const k of Object.keys(entry)) {
                if (k !== "name" && k !== "context")
                    fail(`${key}.${k} is not a known key; a cluster has name and context`);
            }
        }
        if (clusters.some((c) => c.name === cluster.name))
            fail(`${key} ${show(cluster.name)} is listed twice; list each cluster once`);
        clusters.push(cluster);
    });
    const onCurrentContext = clusters.filter((c) => c.context === undefined);
    if (clusters.length > 1 && onCurrentContext.length > 1) {
        fail(
            `pki:clusters: ${onCurrentContext.map((c) => show(c.name)).join(" and ")} would all use the current kubeconfig context and overwrite each other's cacerts; give each a context, e.g. { name: ${onCurrentContext[1].name}, context: ${onCurrentContext[1].name} }`,
        );
    }
    return clusters;
}

function flag(value: unknown, key: string, fallback: boolean, fail: (m: string) => void): boolean {
    if (value === undefined) return fallback;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    fail(`${key} must be true or false; got ${show(value)}`);
    return fallback;
}

function label(value: unknown, key: string, fallback: string, fail: (m: string) => void): string {
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !LABEL.test(value)) {
        fail(
            `${key} must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got ${show(value)}`,
        );
    }
    return value as string;
}

function algorithm(
    value: unknown,
    key: string,
    fallback: LeafKeyAlgorithm,
    allowed: string,
    fail: (m: string) => void,
): LeafKeyAlgorithm {
    if (value === undefined) return fallback;
    if (value !== "RSA" && value !== "ECDSA") {
        fail(`${key} must be ${allowed}; got ${show(value)}. Weaker keys (RSA < 2048, P-224) are not offered`);
        return fallback;
    }
    return value;
}

function validity(value: unknown, fail: (m: string) => void): ValidityDays {
    if (value === undefined) return { ...DEFAULTS.validityDays };
    if (!isRecord(value)) {
        fail(
            `pki:validityDays must be a map such as { root: 3650, intermediate: 1095, leaf: 365 }; got ${show(value)}`,
        );
        return { ...DEFAULTS.validityDays };
    }
    const days = { ...DEFAULTS.validityDays } as Record<keyof ValidityDays, number>;
    for (const key of Object.keys(value)) {
        if (!(key in days)) {
            fail(`pki:validityDays.${key} is not a known tier; the tiers are root, intermediate and leaf`);
            continue;
        }
        const v = Number(value[key]);
        if (!Number.isInteger(v) || v < 1) {
            fail(`pki:validityDays.${key} must be a whole number of days >= 1; got ${show(value[key])}`);
        } else {
            days[key as keyof ValidityDays] = v;
        }
    }
    if (days.leaf > days.intermediate) {
        fail(
            `pki:validityDays.leaf (${days.leaf}) is longer than pki:validityDays.intermediate (${days.intermediate}); a certificate cannot outlive its issuer. Lower leaf or raise intermediate`,
        );
    }
    if (days.intermediate > days.root) {
        fail(
            `pki:validityDays.intermediate (${days.intermediate}) is longer than pki:validityDays.root (${days.root}); a certificate cannot outlive its issuer. Lower intermediate or raise root`,
        );
    }
    return days;
}

function validateDomains(
    value: unknown,
    option: HostnameOption,
    fail: (m: string) => void,
): Record<string, DomainConfig> {
    if (value === undefined) {
        fail(`pki:domains is required; map each domain to its services, e.g. { ob: { services: [accounts] } }`);
        return {};
    }
    if (!isRecord(value) || Object.keys(value).length === 0) {
        fail(`pki:domains must be a non-empty map of domain -> { namespace?, services, groups? }; got ${show(value)}`);
        return {};
    }
    const domains: Record<string, DomainConfig> = {};
    for (const [name, domain] of Object.entries(value)) {
        const key = `pki:domains.${name}`;
        if (!LABEL.test(name)) {
            fail(
                `${key}: the domain name ${show(name)} must be lower-case letters, digits and '-' (it becomes a host label)`,
            );
        }
        if (!isRecord(domain)) {
            fail(`${key} must be a map with services (and optionally namespace, groups); got ${show(domain)}`);
            continue;
        }
        for (const k of Object.keys(domain)) {
            if (!["namespace", "services", "groups"].includes(k)) {
                fail(`${key}.${k} is not a known key; a domain has namespace, services and groups`);
            }
        }
        const namespace = label(domain.namespace, `${key}.namespace`, name, fail);
        const services = validateServices(domain.services, key, fail);
        // Groups of an empty domain would only repeat the services error.
        const groups = option === 3 && services.length > 0 ? validateGroups(domain.groups, services, key, fail) : {};
        domains[name] = { namespace, services, groups };
    }
    return domains;
}

function validateServices(value: unknown, key: string, fail: (m: string) => void): string[] {
    if (!Array.isArray(value) || value.length === 0) {
        fail(
            `${key}.services must list at least one microservice; got ${show(value)}. Add the domain's services or remove the domain`,
        );
        return [];
    }
    const seen = new Set<string>();
    value.forEach((service, i) => {
        if (typeof service !== "string" || !SERVICE_NAME.test(service)) {
            fail(`${key}.services[${i}] must be a service name (letters, digits and '-'); got ${show(service)}`);
        } else if (service.length > MAX_LABEL_LENGTH) {
            fail(
                `${key}.services[${i}] ${show(service)} is ${service.length} characters; a host label has at most ${MAX_LABEL_LENGTH}. Use a shorter name`,
            );
        } else if (seen.has(service)) {
            fail(`${key}.services lists ${show(service)} twice; list each service once`);
        }
        seen.add(service as string);
    });
    return value as string[];
}

function validateGroups(
    value: unknown,
    services: readonly string[],
    key: string,
    fail: (m: string) => void,
): Record<string, string[]> {
    if (!isRecord(value) || Object.keys(value).length === 0) {
        fail(
            `${key}.groups is required with pki:option 3; map each group to its services, e.g. { core: [${services[0] ?? "accounts"}] }`,
        );
        return {};
    }
    const groupOf = new Map<string, string>();
    for (const [group, members] of Object.entries(value)) {
        const groupKey = `${key}.groups.${group}`;
        if (!LABEL.test(group)) {
            fail(
                `${groupKey}: the group name ${show(group)} must be lower-case letters, digits and '-' (it becomes a host label)`,
            );
        }
        if (!Array.isArray(members) || members.length === 0) {
            fail(`${groupKey} must list at least one service of the domain; got ${show(members)}`);
            continue;
        }
        for (const member of members) {
            if (!services.includes(member as string)) {
                fail(
                    `${groupKey} names ${show(member)}, which is not in ${key}.services; add it there or fix the name`,
                );
            } else if (groupOf.has(member as string)) {
                fail(
                    `${key}.groups: ${show(member)} is in both ${show(groupOf.get(member as string))} and ${show(group)}; put each service in exactly one group`,
                );
            } else {
                groupOf.set(member as string, group);
            }
        }
    }
    const ungrouped = services.filter((s) => !groupOf.has(s));
    if (ungrouped.length > 0) {
        fail(
            `${key}.groups leaves ${ungrouped.map((s) => show(s)).join(", ")} in no group; with pki:option 3 every service must be in exactly one group`,
        );
    }
    return value as Record<string, string[]>;
}
