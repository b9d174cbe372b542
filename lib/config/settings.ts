/**
 * A stack's settings one by one: each `pki:` key, and each member of a key whose value is a map
 * (pki:frontEnd.callers, pki:domains.ob), by what the deployment reads of its validated value. The
 * deployment record keeps a digest of each (lib/stack.ts recordOfDeployment), so that lifecycle
 * sees every change of the stack file not deployed yet, also one that changes no certificate.
 */
import * as crypto from "crypto";
import { DomainConfig, HostnameOption, PkiConfig } from "./types";

const isMap = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);

/** Stable JSON: sorted keys and members without a value left out, so that equal values have one text. */
function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (isMap(value)) {
        const members = Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

/** A list whose order the deployment does not read, in one order. */
const asSet = <T>(list: readonly T[]): T[] =>
    [...list].sort((a, b) => {
        const [x, y] = [canonicalJson(a), canonicalJson(b)];
        return x < y ? -1 : x > y ? 1 : 0;
    });

const mapValues = <T, U>(map: Readonly<Record<string, T>>, f: (value: T) => U): Record<string, U> =>
    Object.fromEntries(Object.entries(map).map(([k, v]) => [k, f(v)]));

/**
 * A domain as its endpoints read it. Its namespace reaches no resource or output. Under Option 1 its
 * services are its one endpoint's, in the stack output `endpoints` (a service added is a change);
 * under Option 2 each is an endpoint, and their order is that of the Gateway's servers; under
 * Option 3 each group is an endpoint (any service list is the groups' services together).
 */
function domainAsDeployed(domain: DomainConfig, option: HostnameOption): unknown {
    switch (option) {
        case 1:
            return { services: asSet(domain.services) };
        case 2:
            return { services: domain.services };
        case 3:
            return { groups: mapValues(domain.groups, asSet) };
    }
}

/** A key whose value reaches no resource and no stack output: it is not recorded, so it is never pending. */
interface DeploysNothing {
    readonly deploysNothing: string;
}

/**
 * What the deployment reads of each key, so what `pulumi up` changes when it changes: Kubernetes
 * objects and other resources, and the stack outputs but the deployment record, each read as what
 * it means (the inventory's certificates, and the services of an endpoint of Option 1 or 3, are
 * sets). The record keeps a digest of this rather than of the value as written, so that what the
 * deployment cannot tell apart (an order-free list reordered, one time written two ways, a default
 * written out inside a map) is no change. Every key is listed, so that a new one is decided here;
 * test/lifecycle.test.ts deploys such changes on the engine stand-in and finds nothing changed but
 * the record.
 */
const AS_DEPLOYED: {
    readonly [K in keyof PkiConfig]-?: ((value: PkiConfig[K], config: PkiConfig) => unknown) | DeploysNothing;
} = {
    environment: (v) => v,
    option: (v) => v,
    baseDomain: (v) => v,
    organization: (v) => v,
    domains: (domains, config) => mapValues(domains, (d) => domainAsDeployed(d, config.option)),
    clusters: (v) => v, // in order: the first cluster gets the Gateway objects
    meshStrictMtls: (v) => v,
    gatewayNamespace: (v) => v,
    trustDomains: (v) => v,
    keyAlgorithm: (v) => v,
    caKeyAlgorithm: (v) => v,
    validityDays: (v) => v,
    // Only the inventory's renewAt, a stack output, reads it.
    earlyRenewalDays: (v) => v,
    // An endpoint with both epochs 0 and no phase of its own is the same as none.
    rotation: (rotation) => ({
        ...rotation,
        endpoints: Object.fromEntries(
            Object.entries(rotation.endpoints).filter(
                ([, e]) => e.serverEpoch !== 0 || e.clientEpoch !== 0 || e.clientPhase !== undefined,
            ),
        ),
    }),
    caRotation: (v) => v,
    // A CRL lists them by serial (lib/pki/crl.ts), each time as the instant it is.
    revocations: (revocations) =>
        asSet(revocations.map((r) => ({ ...r, revokedAt: new Date(r.revokedAt).toISOString() }))),
    crlPeriodDays: (v) => v,
    meshFinishAfterHours: {
        deploysNothing:
            "it only says when a mesh CA's finish may be deployed: the plan refuses one sooner (plan.ts earlyMeshFinish) and lifecycle waits for it",
    },
    pkcs12Profile: (v) => v,
    pkcs12Iterations: (v) => v,
    // Sets: the UI clients follow pki:frontEnd.services, whose order only orders the inventory.
    // Its namespace reaches resources only as that of each service, which services holds.
    frontEnd: ({ namespace: _namespace, ...frontEnd }) => ({
        ...frontEnd,
        services: asSet(frontEnd.services),
        callers: asSet(frontEnd.callers),
        apicHosts: asSet(frontEnd.apicHosts),
    }),
    // The ceremony's CRL series (in any order) is a setting of its own: it changes CRLs alone.
    offlineRoots: (roots) =>
        Object.fromEntries(
            Object.entries(roots).flatMap(([slot, { crls, ...root }]) => [
                [slot, root],
                [`${slot}.crls`, asSet(crls)],
            ]),
        ),
};

/**
 * Settings whose change alters CRLs alone, which the lifecycle workflow's re-publication may deploy:
 * pki:crlPeriodDays (the edge's CRLs re-signed for periods of another length) and an offline root's
 * CRL series (the CRL published moves along the new one).
 */
export const changesCrlsAlone = (name: string): boolean =>
    name === "crlPeriodDays" || /^offlineRoots\.[^.]+\.crls$/.test(name);

/** Whether a setting's name is one this version records (a key that deploys nothing is not). */
export function recordedSetting(name: string): boolean {
    const key = name.split(".")[0];
    const reading = Object.prototype.hasOwnProperty.call(AS_DEPLOYED, key)
        ? AS_DEPLOYED[key as keyof PkiConfig]
        : undefined;
    return typeof reading === "function";
}

/** Each setting's value as deployed, by its name without `pki:` ("meshStrictMtls", "frontEnd.callers"); settings not set are absent. */
export function settingsOf(config: PkiConfig): Map<string, unknown> {
    const settings = new Map<string, unknown>();
    for (const [key, given] of Object.entries(config) as [keyof PkiConfig, unknown][]) {
        const reading = AS_DEPLOYED[key] as ((value: unknown, config: PkiConfig) => unknown) | DeploysNothing;
        if (given === undefined || typeof reading !== "function") continue;
        const value = reading(given, config);
        if (!isMap(value)) {
            settings.set(key, value);
            continue;
        }
        for (const [member, memberValue] of Object.entries(value)) {
            if (memberValue !== undefined) settings.set(`${key}.${member}`, memberValue);
        }
    }
    return settings;
}

/** The digest of a setting's value that the deployment record keeps: base64 SHA-256 of its stable JSON. */
export const settingDigest = (value: unknown): string =>
    crypto.createHash("sha256").update(canonicalJson(value)).digest("base64");

/** The deployment record's `settings`: each setting's digest, by its name. */
export const settingDigests = (config: PkiConfig): Record<string, string> =>
    Object.fromEntries([...settingsOf(config)].map(([name, value]) => [name, settingDigest(value)]));

/**
 * The settings a stack file (with its project's config) writes, from its raw `pki:` config: a key
 * given, and each member given of a key that is a map; every other setting is this version's
 * default. A setting's name is found by its key and its first member (settingWritten): no member
 * name holds a "." (domains and groups are host labels; the rest are fixed names).
 */
export function settingsWritten(raw: Readonly<Record<string, string>>): Set<string> {
    const written = new Set<string>();
    for (const [key, text] of Object.entries(raw)) {
        written.add(key);
        let value: unknown;
        try {
            value = JSON.parse(text);
        } catch {
            continue; // a plain value
        }
        if (isMap(value)) for (const member of Object.keys(value)) written.add(`${key}.${member}`);
    }
    return written;
}

/** Whether a setting (settingsOf's name) is among those the stack file writes (settingsWritten). */
export function settingWritten(written: ReadonlySet<string>, name: string): boolean {
    const [key, member] = name.split(".");
    return written.has(member === undefined ? key : `${key}.${member}`);
}
