/**
 * Pure, strict validation of the `pki:` config strings, as `pulumi up` passes them to the
 * program and as the stack-file loader (load.ts) produces them: numbers and booleans as their
 * text, lists and maps as JSON. Nothing is coerced: "true" is not 1, "[2]" is not 2, a JSON
 * string "3650" is not a number. Every problem found here is collected, so that one run shows
 * them all, the endpoint names pki:revocations and pki:rotation.endpoints give included (checked
 * once pki:option and pki:domains are valid, which make the endpoints); each message names the key,
 * shows the bad value, says what is allowed or how to fix it. The plan's own checks (planPki: the
 * hosts and resource names the endpoints make, which may be too long or clash, the offline roots'
 * certificates, and everything against the deployed stack's record) run on a valid config only:
 * their problems show in the run after these are fixed.
 */
import {
    ClientPhase,
    ClusterConfig,
    DEFAULTS,
    DomainConfig,
    EndpointRotation,
    HostnameOption,
    LeafKeyAlgorithm,
    PkiConfig,
    RevocationConfig,
    RotationConfig,
    ValidityDays,
} from "./types";
import {
    CA_SLOTS,
    CaPosition,
    CaRotationConfig,
    DEFAULT_SOAK_DAYS,
    MIN_CA_RENEWAL_DAYS,
    PHASES,
    rotationConflicts,
    RotationPhase,
} from "../plan/caRotation";
import { groupings } from "../plan/endpoints";
import { caSlots, isRootSlot, ROOT_TITLES, TrustLayout } from "../plan/hierarchy";
import {
    apicServerCaProblems,
    sharedRootNoLongerDefault,
    validateOfflineRoots,
    validateTrustDomains,
} from "./validateTrust";
import {
    apicGatewayName,
    characterCount,
    endpointIdOf,
    Fail,
    hasControlCharacter,
    isMap,
    Json,
    JsonMap,
    LABEL,
    LABEL_CHARACTERS,
    LABEL_RULE,
    MAX_DOMAIN_NAME_LENGTH,
    MAX_LABEL_LENGTH,
    memberPath,
    namespaceName,
    isListOrMap,
    NUMBER_LIKE_NAME,
    quoteNumberHint,
    SERVICE_NAME,
    show,
    showJson,
    shownName,
    typographicQuoteProblem,
    unknownMembers,
    roundedIntegers,
    wholeNumber,
    withoutPrivateKeys,
} from "./values";
import { CLOCK_SKEW_MS, CRL_REASONS, DAY_MS, MAX_CRL_PERIOD_DAYS } from "../pki/crl";
import { PKCS12_MAX_MODERN_ITERATIONS, PKCS12_MIN_ITERATIONS, pkcs12IterationsProblem } from "../pki/pkcs12";
import { inX509Years, normalSerial } from "../pki/x509";
import { daysInMonth } from "./goYaml";
import { javascriptValueText, SecureValue, UnpassableValue } from "./pulumiText";

export class ConfigError extends Error {
    /**
     * Each problem with any private key in it not shown. Most messages show values through `show`,
     * but some quote text that was never meant to be a value: a key file committed as a stack
     * file, or pasted as a config key. The messages reach logs, artifacts and pull-request comments.
     */
    readonly problems: readonly string[];
    /** `source`: which stack file, when a command reads more than one (diff's --base and --head). */
    constructor(problems: readonly string[], source?: string) {
        const shown = problems.map(withoutPrivateKeys);
        super(
            `invalid stack configuration${source === undefined ? "" : ` in ${source}`}:\n${shown.map((p) => `  - ${p}`).join("\n")}`,
        );
        this.name = "ConfigError";
        this.problems = shown;
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
    "meshFinishAfterHours",
    "offlineRoots",
    "pkcs12Profile",
    "pkcs12Iterations",
    "frontEnd",
] as const;
type Key = (typeof KNOWN_KEYS)[number];

/** Keys of earlier versions, refused with a message of their own that says where they went. */
const RENAMED_KEYS = ["offlineRoot"];

export { dnsNameProblems, MAX_HOSTNAME_LENGTH, MAX_LABEL_LENGTH } from "./values";
import { dnsNameProblems } from "./values";
import { validateFrontEnd } from "./validateFrontEnd";
/** RFC 5280 ub-common-name and ub-organization-name. */
export const MAX_COMMON_NAME_LENGTH = 64;
export const MAX_ORGANIZATION_LENGTH = 64;
/**
 * 100 years: from any issue date this century notAfter stays far inside what X.509
 * GeneralizedTime (year 9999), Go's time and JavaScript's Date write, and no CA of a private PKI
 * needs longer. (10,000,000 days used to pass validation and fail in the stand-in.)
 */
export const MAX_VALIDITY_DAYS = 36_500;
/** Epochs are raised by one per forced rotation and end up in resource names (`-r<epoch>`). */
export const MAX_EPOCH = 9_999;
/** CA generations are raised by one per staged rotation and end up in CA common names (` G<n>`). */
export const MAX_GENERATION = 99;

/**
 * The longest CA common names lib/plan/plan.ts (planCas) writes, at the largest generations:
 * "<env> <the longest root title> G99" (a root: its own generation) and "<env> mesh CA <cluster>
 * G198" (an intermediate counts its own and its root's generations). test/configCases.test.ts
 * builds them with planCas at these limits and checks they fit exactly.
 */
const LONGEST_ROOT_TITLE = Object.values(ROOT_TITLES).reduce((a, b) => (b.length > a.length ? b : a));
const ROOT_CA_NAME = (environment: string): string => `${environment} ${LONGEST_ROOT_TITLE} G${MAX_GENERATION}`;
const MESH_CA_NAME = (environment: string, cluster: string): string =>
    `${environment} mesh CA ${cluster} G${2 * MAX_GENERATION}`;
export const MAX_ENVIRONMENT_LENGTH = MAX_COMMON_NAME_LENGTH - ROOT_CA_NAME("").length;
/** pki:environment: LABEL_RULE, of any length (MAX_ENVIRONMENT_LENGTH is checked apart). */
export const ENVIRONMENT_NAME = LABEL_CHARACTERS;
/** pki:environment and a cluster name together (mesh CA common names). */
export const MAX_ENVIRONMENT_AND_CLUSTER_LENGTH = MAX_COMMON_NAME_LENGTH - MESH_CA_NAME("", "").length;

/** How to fix a key set to nothing: what it takes and what leaving it out means. */
const SETTING: Record<Key, { allowed: string; unset?: string }> = {
    environment: { allowed: `the environment name, e.g. "dev"` },
    option: { allowed: "1 (one host per domain), 2 (one per microservice) or 3 (one per group)" },
    baseDomain: { allowed: `the DNS name under which the hosts live, e.g. "dev.api.bank.example"` },
    organization: { allowed: `the subject O, e.g. "Example Bank"`, unset: "to leave O out" },
    domains: { allowed: "a map of domain -> { services: [...] }" },
    clusters: { allowed: "a list of cluster names, e.g. [east]", unset: "for one cluster named default" },
    meshStrictMtls: { allowed: "true or false", unset: "for false" },
    gatewayNamespace: { allowed: "a Kubernetes namespace name", unset: "for istio-system" },
    trustDomains: { allowed: "separate or shared", unset: "for separate roots" },
    keyAlgorithm: { allowed: "RSA or ECDSA", unset: "for RSA" },
    caKeyAlgorithm: { allowed: "RSA or ECDSA", unset: "for RSA" },
    validityDays: { allowed: "a map such as { leaf: 365 }", unset: "for the defaults" },
    earlyRenewalDays: { allowed: "a map such as { leaf: 121 }", unset: "for the defaults" },
    rotation: { allowed: "a map such as { leafEpoch: 1 }", unset: "for epoch 0 everywhere" },
    caRotation: {
        allowed: "a map such as { apicClientCa: { generation: 1, phase: prepare } }",
        unset: "for generation 0",
    },
    revocations: {
        allowed: "a list of { endpoint (or uiClient), serial, epoch, reason, revokedAt }",
        unset: "for none",
    },
    crlPeriodDays: { allowed: `a whole number of days from 1 to ${MAX_CRL_PERIOD_DAYS}`, unset: "for 7" },
    meshFinishAfterHours: { allowed: "a whole number of hours from 0 to 2160", unset: "for 24" },
    frontEnd: {
        allowed: "a map such as { services: [...], callers: [], apicHosts: [...] }",
        unset: "for no UI services and no customer-facing hosts",
    },
    offlineRoots: {
        allowed: "a map of root -> { certificate, intermediates, crls }",
        unset: "to make the roots in the stack",
    },
    pkcs12Profile: { allowed: "modern or legacy", unset: "for modern" },
    pkcs12Iterations: {
        allowed: `a whole number from ${PKCS12_MIN_ITERATIONS} to ${PKCS12_MAX_MODERN_ITERATIONS}`,
        unset: `for ${PKCS12_MIN_ITERATIONS}`,
    },
};

/**
 * The text Pulumi passes for each key. Strings are taken as they are; a caller that gives
 * JavaScript values (numbers, lists, maps: a program, or a test) gets them converted exactly
 * as the stack file holding those values would be (pulumiText.ts).
 */
function configStrings(raw: Readonly<Record<string, unknown>>, fail: Fail): Record<string, string> {
    const strings: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
        if (value === undefined) continue;
        try {
            strings[key] = javascriptValueText(value, `pki:${shownName(key)}`);
        } catch (err) {
            if (err instanceof SecureValue) {
                fail(
                    `${err.message} is a secret ({ secure: ... }); no pki: key needs to be one: give it in plain text`,
                );
            } else if (err instanceof UnpassableValue) {
                fail(err.message);
            } else {
                throw err;
            }
        }
    }
    return strings;
}

/**
 * Validates the `pki:` config (keys without the prefix). Values are the strings Pulumi passes;
 * see configStrings for other JavaScript values. Roots given in the config must not all have
 * expired at `now` (the plan's clock).
 */
export function validateConfig(raw: Readonly<Record<string, unknown>>, now: Date = new Date()): PkiConfig {
    const problems: string[] = [];
    const fail: Fail = (message) => {
        problems.push(message);
    };
    const text = configStrings(raw, fail);

    for (const key of Object.keys(text)) {
        if ((KNOWN_KEYS as readonly string[]).includes(key) || RENAMED_KEYS.includes(key)) continue;
        const base = key.split(".")[0];
        const known = `known keys are ${KNOWN_KEYS.map((k) => `pki:${k}`).join(", ")}`;
        fail(
            (KNOWN_KEYS as readonly string[]).includes(base) && base !== key
                ? `pki:${shownName(key)} is not a known key; Pulumi passes a stack file key with "." as a key of its own, not as a member of pki:${base}. Write pki:${base} as one map with all its members`
                : `pki:${shownName(key)} is not a known key; ${known}. Fix the spelling or remove it`,
        );
    }

    /** A key's text; undefined when unset, null when set to nothing (reported). */
    const setting = (key: Key): string | undefined | null => {
        const value = text[key];
        if (value !== "") return value;
        const { allowed, unset } = SETTING[key];
        fail(
            `pki:${key} is empty (YAML null, ~ and "" all reach the program as ""); set it to ${allowed}` +
                (unset === undefined ? "" : `, or remove the line ${unset}`),
        );
        return null;
    };
    /** A list or map key parsed from its JSON; undefined when unset, null when invalid (reported). */
    const structured = (key: Key, shape: "list" | "map", mustBe: string): Json | undefined | null => {
        const value = setting(key);
        if (value === undefined || value === null) return value;
        let parsed: Json | undefined;
        try {
            parsed = JSON.parse(value) as Json;
        } catch {
            parsed = undefined;
        }
        if (!(shape === "map" ? isMap(parsed) : Array.isArray(parsed))) {
            fail(`pki:${key} must be ${mustBe}; got ${show(value)}`);
            return null;
        }
        const rounded = roundedIntegers(value);
        if (rounded.length > 0) {
            fail(
                `pki:${key} holds ${rounded.join(", ")}, which this program cannot read exactly (JavaScript rounds whole numbers beyond ±2^53 - 1); ` +
                    "no setting takes a number so large: write the one meant, or quote it if it is text (a serial)",
            );
            return null;
        }
        return parsed as Json;
    };

    const environment = setting("environment");
    let environmentOk = false;
    if (environment === undefined) {
        fail(`pki:environment is required; set it to the environment name, e.g. "dev"`);
    } else if (environment !== null) {
        if (!ENVIRONMENT_NAME.test(environment)) {
            fail(`pki:environment must be ${LABEL_RULE}; got ${show(environment)}`);
        } else if (environment.length > MAX_ENVIRONMENT_LENGTH) {
            fail(
                `pki:environment ${show(environment)} is ${environment.length} characters; it goes into CA common names such as "${ROOT_CA_NAME(environment)}", ` +
                    `which RFC 5280 limits to ${MAX_COMMON_NAME_LENGTH} characters, so it has at most ${MAX_ENVIRONMENT_LENGTH}. Use a shorter name`,
            );
        } else {
            environmentOk = true;
        }
    }

    let option: HostnameOption = 1;
    let optionValid = false;
    const rawOption = setting("option");
    if (rawOption === undefined) {
        fail(
            `pki:option is required; set it to 1 (one host per domain), 2 (one per microservice) or 3 (one per group)`,
        );
    } else if (rawOption !== null) {
        if (/^[123]$/.test(rawOption)) {
            option = Number(rawOption) as HostnameOption;
            optionValid = true;
        } else {
            fail(`pki:option must be 1, 2 or 3; got ${show(rawOption)}`);
        }
    }

    const baseDomain = setting("baseDomain");
    if (baseDomain === undefined) {
        fail(
            `pki:baseDomain is required; set it to the DNS name under which the hosts live, e.g. "dev.api.bank.example"`,
        );
    } else if (baseDomain !== null) {
        if (isListOrMap(baseDomain)) {
            fail(`pki:baseDomain must be a DNS name, not a list or map; got ${show(baseDomain)}`);
        } else {
            for (const p of dnsNameProblems(baseDomain)) fail(`pki:baseDomain ${show(baseDomain)} ${p}`);
        }
    }

    const organization = setting("organization");
    if (typeof organization === "string") {
        const problem = isListOrMap(organization)
            ? `must be text (the subject O), not a list or map; got ${show(organization)}. Write the name itself, e.g. "Example Bank"`
            : organizationProblem(organization, show(organization), "Remove it to leave O out");
        if (problem !== undefined) fail(`pki:organization ${problem}`);
    }

    const clusters = validateClusters(
        structured("clusters", "list", "a non-empty list of cluster names or { name, context } maps"),
        environmentOk ? (environment as string) : undefined,
        fail,
    );
    const meshStrictMtls = flag(setting("meshStrictMtls"), "pki:meshStrictMtls", DEFAULTS.meshStrictMtls, fail);
    const gatewayNamespace = namespaceName(
        setting("gatewayNamespace") ?? undefined,
        "pki:gatewayNamespace",
        DEFAULTS.gatewayNamespace,
        fail,
    );
    // Read once: setting() reports an empty value each time it is read.
    const trustSetting = setting("trustDomains") ?? undefined;
    const trustWritten = trustSetting !== undefined;
    const trustDomains = validateTrustDomains(trustSetting, DEFAULTS.trustDomains, fail);
    const frontEnd = validateFrontEnd(
        structured("frontEnd", "map", "a map such as { services: [...], callers: [], apicHosts: [...] }"),
        gatewayNamespace,
        fail,
        now,
    );
    const layout: TrustLayout = { trust: trustDomains, uiClients: frontEnd.callers.length > 0 };
    if (trustDomains === "shared" && frontEnd.callers.length > 0) {
        // APIC's UI-facing profile checks the chain only (no pins): its one root would be istiod's too.
        fail(
            `pki:trustDomains is shared, but pki:frontEnd.callers lists ${frontEnd.callers.join(", ")}: APIC's UI-facing truststore would hold the one root ` +
                `the mesh CAs are under, so every mesh workload's own certificate would pass it as a UI client (APIC cannot pin keys). ` +
                `Set pki:trustDomains to separate (or remove it), or empty pki:frontEnd.callers`,
        );
    }
    const keyAlgorithm = algorithm(
        setting("keyAlgorithm"),
        "pki:keyAlgorithm",
        DEFAULTS.keyAlgorithm,
        "RSA (2048-bit) or ECDSA (P-256)",
        fail,
    );
    const caKeyAlgorithm = algorithm(
        setting("caKeyAlgorithm"),
        "pki:caKeyAlgorithm",
        DEFAULTS.caKeyAlgorithm,
        "RSA (4096-bit) or ECDSA (P-384)",
        fail,
    );
    const validityDays = validity(
        structured("validityDays", "map", "a map such as { root: 3650, intermediate: 1095, leaf: 365 }"),
        fail,
    );
    const earlyRenewalDays = earlyRenewal(
        structured("earlyRenewalDays", "map", "a map such as { leaf: 121 }"),
        validityDays,
        fail,
    );
    const rotation = validateRotation(structured("rotation", "map", "a map such as { leafEpoch: 1 }"), fail);
    const caRotation = validateCaRotation(
        structured("caRotation", "map", "a map such as { apicClientCa: { generation: 1, phase: prepare } }"),
        layout,
        trustWritten,
        fail,
    );
    const revocationEntries = validateRevocations(
        structured("revocations", "list", "a list of { endpoint (or uiClient), serial, epoch, reason, revokedAt }"),
        now,
        fail,
    );
    const revocations = revocationEntries.filter((r) => r !== undefined);
    const rawPeriod = setting("crlPeriodDays");
    let crlPeriodDays: number = DEFAULTS.crlPeriodDays;
    if (typeof rawPeriod === "string") {
        const n = /^[1-9][0-9]?$/.test(rawPeriod) ? Number(rawPeriod) : NaN;
        if (n >= 1 && n <= MAX_CRL_PERIOD_DAYS) crlPeriodDays = n;
        else
            fail(
                `pki:crlPeriodDays must be a whole number of days from 1 to ${MAX_CRL_PERIOD_DAYS}; got ${show(rawPeriod)}`,
            );
    }
    const rawMeshFinish = setting("meshFinishAfterHours");
    let meshFinishAfterHours: number = DEFAULTS.meshFinishAfterHours;
    if (typeof rawMeshFinish === "string") {
        // 2160 h: Istio's longest workload certificate TTL by default (MAX_WORKLOAD_CERT_TTL, 90 days).
        const n = /^(0|[1-9][0-9]{0,3})$/.test(rawMeshFinish) ? Number(rawMeshFinish) : NaN;
        if (n >= 0 && n <= 2160) meshFinishAfterHours = n;
        else {
            fail(
                `pki:meshFinishAfterHours must be a whole number of hours from 0 to 2160 (istiod's workload certificate TTL; 0 only in an incident, every workload restarted); got ${show(rawMeshFinish)}`,
            );
        }
    }
    const offlineRoots = validateOfflineRoots(
        structured("offlineRoots", "map", "a map of root -> { certificate, intermediates, crls }") ?? undefined,
        text.offlineRoot,
        layout,
        trustWritten,
        environmentOk ? (environment as string) : undefined,
        fail,
    );
    problems.push(...apicServerCaProblems(frontEnd.apicServerCa, offlineRoots));
    const rawProfile = setting("pkcs12Profile");
    let pkcs12Profile: "modern" | "legacy" = DEFAULTS.pkcs12Profile;
    if (rawProfile === "modern" || rawProfile === "legacy") {
        pkcs12Profile = rawProfile;
    } else if (typeof rawProfile === "string") {
        fail(
            `pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got ${show(rawProfile)}`,
        );
    }
    const rawIterations = setting("pkcs12Iterations");
    let pkcs12Iterations: number = DEFAULTS.pkcs12Iterations;
    if (typeof rawIterations === "string") {
        // Digits only: "1e4", "10000.0" and quoted JSON are text, not a count.
        const problem = /^[1-9][0-9]{0,8}$/.test(rawIterations)
            ? pkcs12IterationsProblem(Number(rawIterations), pkcs12Profile, "pki:pkcs12Profile")
            : pkcs12IterationsProblem(NaN, pkcs12Profile, "pki:pkcs12Profile")?.replace(
                  /got NaN$/,
                  `got ${show(rawIterations)}`,
              );
        if (problem === undefined) pkcs12Iterations = Number(rawIterations);
        else fail(`pki:pkcs12Iterations ${problem}`);
    }
    if (revocations.length > 0 && caKeyAlgorithm === "ECDSA") {
        fail(
            `pki:revocations needs pki:caKeyAlgorithm RSA: CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview`,
        );
    }
    const rotated = CA_SLOTS.filter((slot) => caRotation[slot].generation > 0);
    for (const slot of rotated.filter((s) => isRootSlot(s) && s in offlineRoots)) {
        fail(
            `pki:caRotation.${slot} rotates a root kept offline (pki:offlineRoots.${slot}); a new offline root comes from a new ceremony: ` +
                `create it with "npx apic-istio-pki ceremony init-root" and replace pki:offlineRoots.${slot} in a reviewed change`,
        );
    }
    const rotatedIntermediates = rotated.filter((slot) => !isRootSlot(slot));
    if (rotatedIntermediates.length > 0 && caKeyAlgorithm === "ECDSA") {
        fail(
            `pki:caRotation.${rotatedIntermediates[0]} needs pki:caKeyAlgorithm RSA: finishing the rotation revokes the old CA in the root's CRL, ` +
                `and from then on a CRL of each CA of the chain is published, which the stack signs with the CA's key (the root's too, unless it is offline); ` +
                `CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview`,
        );
    }
    const problemsBeforeDomains = problems.length;
    const domains = validateDomains(
        structured("domains", "map", "a non-empty map of domain -> { namespace?, services, groups? }"),
        option,
        fail,
    );
    // The endpoints are known once pki:option and pki:domains are valid.
    if (optionValid && problems.length === problemsBeforeDomains) {
        const endpoints = Object.entries(domains).flatMap(([domain, d]) =>
            groupings(option, domain, d).map((g) => g.id),
        );
        refuseUnknownEndpoints(endpoints, revocationEntries, rotation, fail);
    }

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
        meshFinishAfterHours,
        pkcs12Profile,
        pkcs12Iterations,
        frontEnd,
        offlineRoots,
    };
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}))?$/;
/** Go's time.String() form: what Pulumi passes for a time YAML read unquoted (a timestamp). */
const GO_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? [+-]\d{4} /;
/** The end of a refusal of such a time where text was meant (`2026-11-20` written unquoted). */
const quoteTimeHint = (value: Json | undefined): string =>
    typeof value === "string" && GO_TIME.test(value)
        ? ". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes"
        : "";

/** An ISO 8601 date, or date and time with a zone, on a real calendar day within X.509's years. */
export function isIsoTime(text: string): boolean {
    const m = ISO_TIME.exec(text);
    if (m === null) return false;
    const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
    const zone = m[8] ?? "Z";
    const offset =
        zone === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
    if (year < 1950 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
    if (hour > 23 || minute > 59 || second > 59 || Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4)) > 59) {
        return false;
    }
    return inX509Years(new Date(Date.UTC(year, month - 1, day, hour, minute - offset, second)));
}

/** Refuses the endpoint names in pki:revocations and pki:rotation.endpoints that are not among `endpoints`. */
function refuseUnknownEndpoints(
    endpoints: readonly string[],
    revocations: readonly (RevocationConfig | undefined)[],
    rotation: RotationConfig,
    fail: Fail,
): void {
    const known = `its endpoints are ${[...new Set(endpoints)].join(", ")}`;
    revocations.forEach((r, i) => {
        if (r?.endpoint !== undefined && !endpoints.includes(r.endpoint)) {
            fail(`pki:revocations[${i}].endpoint ${showJson(r.endpoint)} is not an endpoint of this stack; ${known}`);
        }
    });
    for (const id of Object.keys(rotation.endpoints).filter((id) => !endpoints.includes(id))) {
        fail(`${memberPath("pki:rotation.endpoints", id)} is not an endpoint of this stack; ${known}`);
    }
}

/**
 * The RFC 5280 reasons (CRL_REASONS) pki:revocations refuses, and why: each entry revokes a leaf,
 * an endpoint's APIC client certificate or a UI service's. The ceremony's --revoke, which revokes
 * CAs, takes them all.
 */
const NOT_FOR_A_LEAF: Readonly<Record<string, string>> = {
    certificateHold:
        "a hold is meant to be lifted, but here it is permanent: the stack refuses to drop the entry while the certificate is valid, and gives the holder a new key at once",
    cACompromise:
        "it revokes a CA certificate whose key leaked, and this entry revokes a client certificate (a leaked CA key is replaced by pki:caRotation)",
    aACompromise: "it is for attribute certificates, and this entry revokes a public-key client certificate",
};

/** Each entry of `pki:revocations`, or undefined where one is refused (the list keeps their indexes). */
function validateRevocations(value: Json | undefined | null, now: Date, fail: Fail): (RevocationConfig | undefined)[] {
    if (!Array.isArray(value)) return [];
    const reasons = Object.keys(CRL_REASONS).filter((r) => !Object.hasOwn(NOT_FOR_A_LEAF, r));
    const seen = new Map<string, string>();
    return value.map((entry, i): RevocationConfig | undefined => {
        const key = `pki:revocations[${i}]`;
        if (!isMap(entry)) {
            fail(`${key} must be { endpoint (or uiClient), serial, epoch, reason, revokedAt }; got ${showJson(entry)}`);
            return undefined;
        }
        unknownMembers(
            entry,
            key,
            ["endpoint", "uiClient", "serial", "epoch", "reason", "revokedAt"],
            "a revocation has endpoint (or uiClient), serial, epoch, reason and revokedAt",
            fail,
        );
        let ok = true;
        const problem = (message: string): void => {
            ok = false;
            fail(message);
        };
        const serial = typeof entry.serial === "string" ? entry.serial.replace(/:/g, "").toUpperCase() : "";
        if (!/^[0-9A-F]{1,40}$/.test(serial)) {
            problem(
                `${key}.serial must be the certificate's serial number in hex (as expiry prints it); got ${showJson(entry.serial)}` +
                    quoteNumberHint(entry.serial, "a serial of digits only"),
            );
        }
        const holder = entry.uiClient !== undefined && entry.endpoint === undefined ? "uiClient" : "endpoint";
        if (entry.uiClient !== undefined && entry.endpoint !== undefined) {
            problem(
                `${key} names both an endpoint and a uiClient; a revocation is of one certificate: keep the one it was issued to`,
            );
        } else if (typeof entry[holder] !== "string" || entry[holder] === "") {
            problem(
                holder === "endpoint"
                    ? `${key}.endpoint must name the endpoint whose APIC client certificate is revoked (or uiClient the UI service whose certificate is); got ${showJson(entry.endpoint)}`
                    : `${key}.uiClient must name the UI service whose client certificate is revoked; got ${showJson(entry.uiClient)}`,
            );
        }
        const reason = entry.reason === undefined ? "unspecified" : entry.reason;
        if (typeof reason === "string" && Object.hasOwn(NOT_FOR_A_LEAF, reason)) {
            problem(
                `${key}.reason ${showJson(reason)} is not for a client certificate: ${NOT_FOR_A_LEAF[reason]}; ` +
                    `give one of ${reasons.join(", ")} (keyCompromise if its key may have leaked)`,
            );
        } else if (typeof reason !== "string" || !reasons.includes(reason)) {
            problem(`${key}.reason must be one of ${reasons.join(", ")}; got ${showJson(entry.reason)}`);
        }
        const revokedAt = entry.revokedAt;
        if (typeof revokedAt !== "string" || !isIsoTime(revokedAt)) {
            problem(
                `${key}.revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, ` +
                    `such as "2026-11-20" or "2026-11-20T09:30:00Z"; got ${showJson(revokedAt)}${quoteTimeHint(revokedAt)}`,
            );
        } else {
            const late = revokedAtProblem(key, revokedAt, holder, now);
            if (late !== undefined) fail(late);
        }
        const epochOf = entry.epoch === undefined ? 0 : epoch(entry.epoch, `${key}.epoch`, fail);
        if (!ok || epochOf === undefined) return undefined;
        // The same certificate as the plan and the CRL compare it: a serial is a number (normalSerial:
        // "003F" is "3F"), a UI service's name is taken in lower case.
        const name = holder === "uiClient" ? (entry.uiClient as string).toLowerCase() : (entry.endpoint as string);
        const identity = `${holder} ${name} ${normalSerial(serial)}`;
        const earlier = seen.get(identity);
        if (earlier !== undefined) {
            fail(
                `${key} revokes the same certificate as ${earlier} (${holder} ${shownName(entry[holder] as string)}, serial ${serial}); list it once`,
            );
            return undefined;
        }
        seen.set(identity, key);
        return {
            ...(holder === "endpoint" ? { endpoint: entry.endpoint as string } : { uiClient: name }),
            serial,
            epoch: epochOf,
            reason: reason as string,
            revokedAt: revokedAt as string,
        };
    });
}

/**
 * Why the revokedAt of the revocation `entryKey` (pki:revocations[i]) is refused, or undefined: in
 * the future, or less than CLOCK_SKEW_MS before now. A CRL is dated at its latest entry when that
 * is later than its period's start (crlTimes), and a node checks a CRL's thisUpdate at its own
 * clock with no allowance (BoringSSL check_crl_time): an entry dated a minute ago gives a CRL that
 * a node whose clock lags refuses as not yet valid, and with it (CRL_CHECK_ALL) every client of the
 * CA. The periods the stack dates its CRLs by keep the same distance from now (crlWindow).
 */
function revokedAtProblem(
    entryKey: string,
    revokedAt: string,
    holder: "endpoint" | "uiClient",
    now: Date,
): string | undefined {
    const key = `${entryKey}.revokedAt ${revokedAt}`;
    const skew = `${CLOCK_SKEW_MS / 60_000} minutes`;
    const latest = new Date(now.getTime() - CLOCK_SKEW_MS).toISOString();
    const at = Date.parse(revokedAt);
    if (at > now.getTime()) {
        return `${key} is in the future (now is ${now.toISOString()}); give the time the certificate was revoked, at the latest ${latest} (${skew} before now)`;
    }
    if (at <= now.getTime() - CLOCK_SKEW_MS) return undefined;
    const refused =
        holder === "endpoint"
            ? "a gateway whose clock lags would refuse the APIC-client CA's CRL dated then as not yet valid, and with it every APIC client"
            : "a DataPower whose clock lags would refuse the UI client CA's CRL dated then (apic/ui/truststore.crl) as not yet valid, and with it every UI service that calls APIC";
    return (
        `${key} is less than ${skew} before now (${now.toISOString()}): ${refused}; ` +
        `give a time at least ${skew} ago, at the latest ${latest}: the certificate is refused from the update that publishes the CRL on, not from this time`
    );
}

/**
 * Why `organization` cannot be the subject O of certificates, after its key, or undefined; `shown`
 * is how the caller shows it, `leaveOut` how it leaves O out. The stack's pki:organization and the
 * components' organization argument share it, so that both refuse alike.
 */
export function organizationProblem(organization: string, shown: string, leaveOut: string): string | undefined {
    if (organization.trim() === "") return `must be a non-empty string (the subject O); got ${shown}. ${leaveOut}`;
    // A line break or escape would forge what tools print of the name.
    if (hasControlCharacter(organization)) {
        return `must not contain control characters (it becomes the subject O of every certificate); got ${shown}`;
    }
    const quoted = typographicQuoteProblem(organization, shown, "the subject O of every certificate");
    if (quoted !== undefined) return quoted;
    const characters = characterCount(organization);
    if (characters > MAX_ORGANIZATION_LENGTH) {
        return `is ${characters} characters; the subject O has at most ${MAX_ORGANIZATION_LENGTH} (RFC 5280 ub-organization-name). Shorten it`;
    }
    return undefined;
}

/** Renew at two thirds of the lifetime, i.e. a window of the last third. */
export const defaultEarlyRenewalDays = (validityDays: number): number => Math.floor(validityDays / 3);

/**
 * defaultEarlyRenewalDays of a certificate that lives `lifetimeMs` (its notAfter less its notBefore,
 * not whole days), in milliseconds: in whole days as the stack's windows are, or, for one living less
 * than three days (Istio's 24-hour workload certificates), its last third exactly, so that its
 * renewal point never falls at or past its end.
 */
export function defaultEarlyRenewalMs(lifetimeMs: number): number {
    const lifetime = Math.max(0, lifetimeMs);
    const days = defaultEarlyRenewalDays(Math.floor(lifetime / DAY_MS));
    return days > 0 ? days * DAY_MS : Math.floor(lifetime / 3);
}

const TIERS = ["root", "intermediate", "leaf"] as const;

function earlyRenewal(value: Json | undefined | null, validity: ValidityDays, fail: Fail): ValidityDays {
    const days: Record<keyof ValidityDays, number> = {
        root: defaultEarlyRenewalDays(validity.root),
        intermediate: defaultEarlyRenewalDays(validity.intermediate),
        leaf: defaultEarlyRenewalDays(validity.leaf),
    };
    const given = isMap(value ?? undefined) ? (value as JsonMap) : {};
    const refused = new Set<string>();
    for (const [tier, raw] of Object.entries(given)) {
        if (!(TIERS as readonly string[]).includes(tier)) {
            fail(
                `${memberPath("pki:earlyRenewalDays", tier)} is not a known tier; the tiers are root, intermediate and leaf`,
            );
            continue;
        }
        const limit = validity[tier as keyof ValidityDays];
        const v = wholeNumber(
            raw,
            `pki:earlyRenewalDays.${tier}`,
            1,
            limit - 1,
            `a whole number of days from 1 to ${limit - 1} (below pki:validityDays.${tier})`,
            fail,
        );
        if (v !== undefined) days[tier as keyof ValidityDays] = v;
        else refused.add(tier);
    }
    // A CA inside its window starts a staged rotation, which needs the old CA until it is over.
    for (const tier of ["root", "intermediate"] as const) {
        const window = days[tier];
        if (refused.has(tier) || window >= MIN_CA_RENEWAL_DAYS) continue;
        const key = `pki:earlyRenewalDays.${tier}`;
        const shown =
            tier in given
                ? `${window}`
                : `unset, so ${window} (a third of pki:validityDays.${tier}, ${validity[tier]})`;
        fail(
            `${key} is ${shown}: a CA's staged rotation keeps the CA it replaces through prepare and switch, each deployed ${DEFAULT_SOAK_DAYS} days ` +
                `(the lifecycle's soak time) before the next, so a CA renewed ${window} days before its end would expire before its rotation is over. ` +
                `Set ${key} to at least ${MIN_CA_RENEWAL_DAYS}` +
                (validity[tier] <= MIN_CA_RENEWAL_DAYS ? `, with pki:validityDays.${tier} above it` : ""),
        );
    }
    return days;
}

function epoch(value: Json, key: string, fail: Fail): number | undefined {
    return wholeNumber(
        value,
        key,
        0,
        MAX_EPOCH,
        `a whole number from 0 to ${MAX_EPOCH} (raise it by one to rotate)`,
        fail,
    );
}

/** The stack-wide epochs of `pki:rotation`. */
export const EPOCHS = [
    "leafEpoch",
    "gatewayServerEpoch",
    "apicClientEpoch",
    "meshEpoch",
    "uiClientEpoch",
    "apicServerEpoch",
] as const;

const CLIENT_PHASES = ["switch", "finish"] as const;

/** An APIC client rotation phase; undefined when unset or invalid (reported). */
function clientPhase(value: Json | undefined, key: string, fail: Fail): ClientPhase | undefined {
    if (value === undefined) return undefined;
    if ((CLIENT_PHASES as readonly Json[]).includes(value)) return value as ClientPhase;
    fail(
        `${key} must be switch (the new APIC key is issued and the previous one stays pinned at the gateway until APIC uploads the new keystore) ` +
            `or finish (only the newest key is pinned); got ${showJson(value)}`,
    );
    return undefined;
}

function validateRotation(value: Json | undefined | null, fail: Fail): RotationConfig {
    if (!isMap(value ?? undefined)) return DEFAULTS.rotation;
    const rotation = value as JsonMap;
    const known = [...EPOCHS, "apicClientPhase", "endpoints"];
    for (const k of Object.keys(rotation)) {
        if (!known.includes(k))
            fail(`${memberPath("pki:rotation", k)} is not a known key; known keys are ${known.join(", ")}`);
    }
    // Built as entries: an id "__proto__" assigned to a plain object would set its prototype, unseen.
    const endpoints: [string, EndpointRotation][] = [];
    const given = rotation.endpoints === undefined ? {} : rotation.endpoints;
    if (!isMap(given)) {
        fail(
            `pki:rotation.endpoints must map endpoint ids to { serverEpoch, clientEpoch, clientPhase }; got ${showJson(given)}`,
        );
    }
    for (const [id, entry] of Object.entries(isMap(given) ? given : {})) {
        const key = memberPath("pki:rotation.endpoints", id);
        if (!isMap(entry)) {
            fail(`${key} must be { serverEpoch, clientEpoch, clientPhase }; got ${showJson(entry)}`);
            continue;
        }
        for (const k of Object.keys(entry)) {
            if (!["serverEpoch", "clientEpoch", "clientPhase"].includes(k))
                fail(`${memberPath(key, k)} is not a known key; use serverEpoch, clientEpoch or clientPhase`);
        }
        const phase = clientPhase(entry.clientPhase, `${key}.clientPhase`, fail);
        endpoints.push([
            id,
            {
                serverEpoch:
                    entry.serverEpoch === undefined ? 0 : (epoch(entry.serverEpoch, `${key}.serverEpoch`, fail) ?? 0),
                clientEpoch:
                    entry.clientEpoch === undefined ? 0 : (epoch(entry.clientEpoch, `${key}.clientEpoch`, fail) ?? 0),
                ...(phase !== undefined ? { clientPhase: phase } : {}),
            },
        ]);
    }
    const epochs = Object.fromEntries(
        EPOCHS.map((k) => [k, rotation[k] === undefined ? 0 : (epoch(rotation[k], `pki:rotation.${k}`, fail) ?? 0)]),
    ) as Record<(typeof EPOCHS)[number], number>;
    const apicClientPhase =
        clientPhase(rotation.apicClientPhase, "pki:rotation.apicClientPhase", fail) ??
        DEFAULTS.rotation.apicClientPhase;
    return { ...epochs, apicClientPhase, endpoints: Object.fromEntries(endpoints) };
}

/**
 * `pki:caRotation`: per CA of the trust layout `{ generation, phase }`. Generation 0 (the first
 * CA) has no phases; while a root rotates, the CAs below it may not, because the root's new
 * generation re-issues them all. `trustWritten`: the stack file sets pki:trustDomains (else the
 * shared root's entry is refused as a stale default).
 */
function validateCaRotation(
    value: Json | undefined | null,
    layout: TrustLayout,
    trustWritten: boolean,
    fail: Fail,
): CaRotationConfig {
    if (!isMap(value ?? undefined)) return DEFAULTS.caRotation;
    const given = value as JsonMap;
    const trust = layout.trust;
    const slots = caSlots(layout);
    for (const k of Object.keys(given)) {
        if (k === "root" && !trustWritten) {
            fail(sharedRootNoLongerDefault("pki:caRotation.root", `its CAs are ${slots.join(", ")}`));
            continue;
        }
        if (!(slots as readonly string[]).includes(k)) {
            const why = (CA_SLOTS as readonly string[]).includes(k) ? ` with pki:trustDomains ${trust}` : "";
            fail(`${memberPath("pki:caRotation", k)} is not a CA of this stack${why}; its CAs are ${slots.join(", ")}`);
        }
    }
    const positions = { ...DEFAULTS.caRotation } as Record<(typeof CA_SLOTS)[number], CaPosition>;
    for (const slot of slots) {
        const entry = given[slot];
        if (entry === undefined) continue;
        const key = `pki:caRotation.${slot}`;
        if (!isMap(entry)) {
            fail(
                `${key} must be { generation, phase }, e.g. { generation: 1, phase: prepare }; got ${showJson(entry)}`,
            );
            continue;
        }
        for (const k of Object.keys(entry)) {
            if (k !== "generation" && k !== "phase")
                fail(`${memberPath(key, k)} is not a known key; use generation and phase`);
        }
        const generation = wholeNumber(
            entry.generation,
            `${key}.generation`,
            0,
            MAX_GENERATION,
            `a whole number from 0 to ${MAX_GENERATION} (1 for the first rotation)`,
            fail,
        );
        if (generation === undefined) continue;
        if (!(PHASES as readonly unknown[]).includes(entry.phase)) {
            fail(`${key}.phase must be one of ${PHASES.join(", ")} (in that order); got ${showJson(entry.phase)}`);
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
function validateClusters(
    value: Json | undefined | null,
    environment: string | undefined,
    fail: Fail,
): ClusterConfig[] {
    if (value === undefined) return DEFAULTS.clusters.map((c) => ({ ...c }));
    if (!Array.isArray(value)) return [];
    if (value.length === 0) {
        fail(`pki:clusters must be a non-empty list of cluster names or { name, context } maps; got []`);
        return [];
    }
    const clusters: ClusterConfig[] = [];
    const givenContext = new Set<string>();
    value.forEach((entry, i) => {
        const key = `pki:clusters[${i}]`;
        const name = typeof entry === "string" ? entry : isMap(entry) ? entry.name : undefined;
        if (typeof name !== "string" || !LABEL_CHARACTERS.test(name)) {
            fail(
                `${key} must be a cluster name (${LABEL_RULE}) or { name, context }; got ${showJson(entry)}${quoteNumberHint(name ?? entry, NUMBER_LIKE_NAME)}`,
            );
            return;
        }
        // Well written but long: the mesh CA's common name below bounds it more tightly (with
        // pki:environment, at most MAX_ENVIRONMENT_AND_CLUSTER_LENGTH together); without a usable
        // pki:environment, the label's own limit and that one.
        if (environment === undefined && name.length > MAX_LABEL_LENGTH) {
            fail(
                `${key} ${showJson(name)} is ${name.length} characters; a cluster name is one RFC 1123 label of at most ${MAX_LABEL_LENGTH}, ` +
                    `and with pki:environment at most ${MAX_ENVIRONMENT_AND_CLUSTER_LENGTH} characters together (the mesh CA's common name). Use a shorter name`,
            );
            return;
        }
        // The longest name the mesh CA's common name (or, without a usable pki:environment, the
        // label) allows; a longer one is refused for its length below, and only for that, so
        // that no rename suggested here is one the length check then refuses.
        const longest =
            environment === undefined ? MAX_LABEL_LENGTH : MAX_ENVIRONMENT_AND_CLUSTER_LENGTH - environment.length;
        // A cluster names its mesh CA (mesh-ca-<cluster>), and a rotated CA's id ends in -g<generation>.
        const generation = /^(.*)-g(\d+)$/.exec(name);
        if (generation !== null && name.length <= longest) {
            const [, stem, n] = generation;
            // -gen<n> where it fits, else -v<n>: as long as the name, which fits.
            const rename = `${stem}-gen${n}`.length <= longest ? `${stem}-gen${n}` : `${stem}-v${n}`;
            fail(
                `${key} ${showJson(name)} ends in -g and digits, as the ids of rotated CA generations do (<CA id>-g<n>): ` +
                    `its mesh CA "mesh-ca-${name}" would be taken for a generation of the mesh CA of a cluster ${showJson(stem)}, ` +
                    `whose resource names it could clash with. Rename the cluster, e.g. ${showJson(rename)}`,
            );
            return;
        }
        let context: string | undefined;
        if (isMap(entry)) {
            // A context given but refused is not the current context: its own refusal is the one to fix.
            if (entry.context !== undefined) givenContext.add(name);
            for (const k of Object.keys(entry)) {
                if (k !== "name" && k !== "context")
                    fail(`${memberPath(key, k)} is not a known key; a cluster has name and context`);
            }
            if (entry.context !== undefined) {
                if (typeof entry.context === "string" && GO_TIME.test(entry.context)) {
                    // Not a context anyone named: the Go form of a date written unquoted (context: 2026-01-01).
                    fail(
                        `${key}.context must be the name of a kubeconfig context; got ${showJson(entry.context)}${quoteTimeHint(entry.context)}`,
                    );
                } else if (
                    typeof entry.context !== "string" ||
                    entry.context === "" ||
                    hasControlCharacter(entry.context)
                ) {
                    fail(
                        `${key}.context must be the name of a kubeconfig context (non-empty text without control characters); got ${showJson(entry.context)}. Leave it out for the current context`,
                    );
                } else {
                    context = entry.context;
                }
            }
        }
        if (environment !== undefined && name.length > longest) {
            fail(
                `${key} ${showJson(name)} is ${name.length} characters; with pki:environment ${showJson(environment)} the mesh CA's common name ` +
                    `"${MESH_CA_NAME(environment, name)}" would be ${MESH_CA_NAME(environment, name).length} characters, over RFC 5280's ${MAX_COMMON_NAME_LENGTH}. ` +
                    `Use a cluster name of at most ${MAX_ENVIRONMENT_AND_CLUSTER_LENGTH - environment.length} characters`,
            );
        }
        // Kept once: the checks below would take a name listed twice for two clusters sharing a context.
        if (clusters.some((c) => c.name === name)) {
            fail(`${key} ${showJson(name)} is listed twice; list each cluster once`);
            return;
        }
        clusters.push(context === undefined ? { name } : { name, context });
    });
    const onCurrentContext = clusters.filter((c) => c.context === undefined && !givenContext.has(c.name));
    if (clusters.length > 1 && onCurrentContext.length > 1) {
        fail(
            `pki:clusters: ${onCurrentContext.map((c) => showJson(c.name)).join(" and ")} would all use the current kubeconfig context and overwrite each other's cacerts; give each a context, e.g. { name: ${onCurrentContext[1].name}, context: ${onCurrentContext[1].name} }`,
        );
    }
    // The same context twice is the same cluster (two names for one context cannot be told apart here).
    const firstOnContext = new Map<string, string>();
    for (const { name, context } of clusters) {
        if (context === undefined) continue;
        const first = firstOnContext.get(context);
        if (first === undefined) firstOnContext.set(context, name);
        else
            fail(
                `pki:clusters: ${showJson(first)} and ${showJson(name)} both use the kubeconfig context ${showJson(context)}, one cluster, and would overwrite each other's cacerts; give each cluster the context of its own cluster`,
            );
    }
    return clusters;
}

function flag(value: string | undefined | null, key: string, fallback: boolean, fail: Fail): boolean {
    if (value === "true") return true;
    if (value === "false") return false;
    if (typeof value === "string") fail(`${key} must be true or false; got ${show(value)}`);
    return fallback;
}

/** A Kubernetes namespace name; `value` is top-level text or a JSON member. */
function algorithm(
    value: string | undefined | null,
    key: string,
    fallback: LeafKeyAlgorithm,
    allowed: string,
    fail: Fail,
): LeafKeyAlgorithm {
    if (value === "RSA" || value === "ECDSA") return value;
    if (typeof value === "string") {
        fail(`${key} must be ${allowed}; got ${show(value)}. Weaker keys (RSA < 2048, P-224) are not offered`);
    }
    return fallback;
}

function validity(value: Json | undefined | null, fail: Fail): ValidityDays {
    const days = { ...DEFAULTS.validityDays } as Record<keyof ValidityDays, number>;
    if (!isMap(value ?? undefined)) return days;
    for (const [tier, raw] of Object.entries(value as JsonMap)) {
        if (!(TIERS as readonly string[]).includes(tier)) {
            fail(
                `${memberPath("pki:validityDays", tier)} is not a known tier; the tiers are root, intermediate and leaf`,
            );
            continue;
        }
        const v = wholeNumber(
            raw,
            `pki:validityDays.${tier}`,
            1,
            MAX_VALIDITY_DAYS,
            `a whole number of days from 1 to ${MAX_VALIDITY_DAYS} (100 years)`,
            fail,
        );
        if (v !== undefined) days[tier as keyof ValidityDays] = v;
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
    value: Json | undefined | null,
    option: HostnameOption,
    fail: Fail,
): Record<string, DomainConfig> {
    if (value === undefined) {
        fail(`pki:domains is required; map each domain to its services, e.g. { ob: { services: [accounts] } }`);
        return {};
    }
    if (!isMap(value)) return {};
    if (Object.keys(value).length === 0) {
        fail(`pki:domains must be a non-empty map of domain -> { namespace?, services, groups? }; got {}`);
        return {};
    }
    const domains: Record<string, DomainConfig> = {};
    for (const [name, domain] of Object.entries(value)) {
        const key = memberPath("pki:domains", name);
        if (!LABEL_CHARACTERS.test(name)) {
            fail(`${key}: the domain name ${showJson(name)} must be ${LABEL_RULE} (it becomes a host label)`);
        } else if (name.length > MAX_DOMAIN_NAME_LENGTH) {
            fail(
                `${key}: the domain name ${showJson(name)} is ${name.length} characters; a domain name has at most ${MAX_DOMAIN_NAME_LENGTH}, ` +
                    `because its Istio Gateway is ${apicGatewayName("<domain>")}, which Istio refuses over ${MAX_LABEL_LENGTH} characters. Use a shorter name`,
            );
        }
        if (!isMap(domain)) {
            fail(`${key} must be a map with services (and optionally namespace, groups); got ${showJson(domain)}`);
            continue;
        }
        for (const k of Object.keys(domain)) {
            if (!["namespace", "services", "groups"].includes(k)) {
                fail(`${memberPath(key, k)} is not a known key; a domain has namespace, services and groups`);
            }
        }
        const namespace = namespaceName(domain.namespace, `${key}.namespace`, name, fail);
        const services = validateServices(domain.services, key, fail);
        // Groups of an empty domain would only repeat the services error.
        const groups = services.length > 0 ? validateGroups(domain.groups, services, name, option, fail) : {};
        domains[name] = { namespace, services, groups: option === 3 ? groups : {} };
    }
    return domains;
}

function validateServices(value: Json | undefined, key: string, fail: Fail): string[] {
    if (!Array.isArray(value) || value.length === 0) {
        fail(
            `${key}.services must list at least one microservice; got ${showJson(value)}. Add the domain's services or remove the domain`,
        );
        return [];
    }
    const seen = new Set<string>();
    const services: string[] = [];
    value.forEach((service, i) => {
        if (typeof service !== "string" || !SERVICE_NAME.test(service)) {
            fail(
                `${key}.services[${i}] must be a service name (letters, digits and '-'); got ${showJson(service)}${quoteNumberHint(service, NUMBER_LIKE_NAME)}`,
            );
        } else if (service.length > MAX_LABEL_LENGTH) {
            fail(
                `${key}.services[${i}] ${showJson(service)} is ${service.length} characters; a host label has at most ${MAX_LABEL_LENGTH}. Use a shorter name`,
            );
        } else if (seen.has(service)) {
            fail(`${key}.services lists ${showJson(service)} twice; list each service once`);
        } else {
            seen.add(service);
            services.push(service);
        }
    });
    return services.length === value.length ? services : [];
}

/** Groups are read with pki:option 3 only, but their shape is checked whatever the option. */
function validateGroups(
    value: Json | undefined,
    services: readonly string[],
    domain: string,
    option: HostnameOption,
    fail: Fail,
): Record<string, string[]> {
    const key = memberPath("pki:domains", domain);
    const example = `{ core: [${services[0]}] }`;
    if (value === undefined) {
        if (option === 3) {
            fail(`${key}.groups is required with pki:option 3; map each group to its services, e.g. ${example}`);
        }
        return {};
    }
    if (!isMap(value) || Object.keys(value).length === 0) {
        fail(
            `${key}.groups must map each group to its services, e.g. ${example}; got ${showJson(value)}` +
                (option === 3 ? "" : ". Remove it: groups are used with pki:option 3 only"),
        );
        return {};
    }
    const groupOf = new Map<string, string>();
    for (const [group, members] of Object.entries(value)) {
        const groupKey = memberPath(`${key}.groups`, group);
        if (!LABEL_CHARACTERS.test(group)) {
            fail(`${groupKey}: the group name ${showJson(group)} must be ${LABEL_RULE} (it becomes a host label)`);
        } else if (group.length > MAX_LABEL_LENGTH) {
            fail(
                `${groupKey}: the group name ${showJson(group)} is ${group.length} characters; a host label has at most ${MAX_LABEL_LENGTH}. Use a shorter name`,
            );
        }
        if (!Array.isArray(members) || members.length === 0) {
            fail(`${groupKey} must list at least one service of the domain; got ${showJson(members)}`);
            continue;
        }
        const listed = new Set<Json>();
        for (const member of members) {
            if (listed.has(member)) {
                fail(`${groupKey} lists ${showJson(member)} twice; list each service once`);
                continue;
            }
            listed.add(member);
            if (typeof member !== "string" || !services.includes(member)) {
                fail(
                    `${groupKey} names ${showJson(member)}, which is not in ${key}.services; add it there or fix the name${quoteNumberHint(member, NUMBER_LIKE_NAME)}`,
                );
            } else if (groupOf.has(member)) {
                fail(
                    `${key}.groups: ${showJson(member)} is in both ${showJson(groupOf.get(member) as string)} and ${showJson(group)}; put each service in exactly one group`,
                );
            } else {
                groupOf.set(member, group);
            }
        }
    }
    // A group named after a service it does not hold would take that service's names: under
    // pki:option 2 the endpoint (Secret, APIC bundle and identity) and the host are the service's.
    for (const group of Object.keys(value)) {
        if (!LABEL.test(group)) continue;
        const members = (value as JsonMap)[group];
        for (const service of services) {
            const label = service.toLowerCase();
            const sameHost = label === group;
            if (!sameHost && endpointIdOf(domain, label) !== endpointIdOf(domain, group)) continue;
            if (Array.isArray(members) && members.includes(service)) continue;
            const where = groupOf.has(service) ? `group ${showJson(groupOf.get(service) as string)}` : "no group";
            fail(
                `${memberPath(`${key}.groups`, group)} is named after the service ${showJson(service)}, which it does not hold (${showJson(service)} is in ${where}): ` +
                    `both make the endpoint "${endpointIdOf(domain, group)}" (its Secret, APIC bundle and client identity)` +
                    (sameHost ? ` and the host ${group}.${domain}.<pki:baseDomain>` : "") +
                    `, which under pki:option 2 are that service's own. Rename the group, or put ${showJson(service)} in it`,
            );
        }
    }
    const ungrouped = services.filter((s) => !groupOf.has(s));
    if (option === 3 && ungrouped.length > 0) {
        fail(
            `${key}.groups leaves ${ungrouped.map((s) => showJson(s)).join(", ")} in no group; with pki:option 3 every service must be in exactly one group`,
        );
    }
    return value as Record<string, string[]>;
}
