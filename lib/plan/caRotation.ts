/**
 * Staged CA rotation (pure): where each CA stands (`pki:caRotation`), which moves from the
 * deployed position are allowed, and what a deployment hands to the next one (the stack output
 * `deploymentRecord`: positions, CA serials, retired CAs, ...).
 *
 * A rotation of one CA goes prepare -> switch -> finish, one reviewed config change each:
 * - prepare: the new CA exists and every trust bundle holds old and new; leaves still come from the old;
 * - switch:  leaves (and istiod's cacerts) come from the new CA; the old one is still trusted;
 * - finish:  the old CA leaves every bundle and the stack; an intermediate is also revoked in the
 *            root's CRL, because the root stays a trust anchor and would still vouch for it.
 */
import * as crypto from "crypto";
import { memberPath, ownMember } from "../config/values";
import { CrlRecord, crlWindow } from "../pki/crl";
import type { CaPlan } from "./plan";
import { CA_SLOTS, CaSlot, INTERMEDIATE_SLOTS, IntermediateSlot, isRootSlot, rootOf, TrustDomains } from "./hierarchy";
import { normalSerial } from "../pki/x509";

export { CA_SLOTS, CaSlot };
export const PHASES = ["prepare", "switch", "finish"] as const;
export type RotationPhase = (typeof PHASES)[number];

export interface CaPosition {
    /** 0 is the CA the stack started with; each rotation raises it by one. */
    readonly generation: number;
    readonly phase: RotationPhase;
}

export type CaRotationConfig = Readonly<Record<CaSlot, CaPosition>>;

/** Where every CA of a new stack stands: its first generation, no rotation under way. */
export const INITIAL_POSITION: CaPosition = { generation: 0, phase: "finish" };
export const INITIAL_ROTATION: CaRotationConfig = Object.fromEntries(
    CA_SLOTS.map((slot) => [slot, INITIAL_POSITION]),
) as Record<CaSlot, CaPosition>;

/** The positions in order: 0 = generation 0 finished, 1 = generation 1 prepare, 2 = switch, 3 = finish, ... */
export function stepOf(position: CaPosition): number {
    return 3 * (position.generation - 1) + PHASES.indexOf(position.phase) + 1;
}

export function positionAt(step: number): CaPosition {
    if (step <= 0) return INITIAL_POSITION;
    return { generation: Math.floor((step - 1) / 3) + 1, phase: PHASES[(step - 1) % 3] };
}

export const describePosition = (p: CaPosition): string => `generation ${p.generation} phase ${p.phase}`;
const asConfig = (p: CaPosition): string => `{ generation: ${p.generation}, phase: ${p.phase} }`;

/** Days a rotation phase stays deployed before the lifecycle proposes the next, unless told otherwise (--soak-days). */
export const DEFAULT_SOAK_DAYS = 7;

/**
 * The shortest renewal window of a CA (pki:earlyRenewalDays): its staged rotation keeps the CA it
 * replaces through prepare and switch, each deployed a soak time before the next.
 */
export const MIN_CA_RENEWAL_DAYS = 2 * DEFAULT_SOAK_DAYS;

/** True while old and new CA both exist (prepare and switch). */
export const inRotation = (p: CaPosition): boolean => p.phase !== "finish";

/** The generation that signs leaves (and that istiod uses): the old one until switch. */
export const activeGeneration = (p: CaPosition): number => (p.phase === "prepare" ? p.generation - 1 : p.generation);

/**
 * Why moving one CA from its deployed position to the configured one is refused (undefined when
 * it is one phase forward or stays put, as re-running an update does), with the phase that comes next.
 */
function transitionProblem(slot: CaSlot, deployed: CaPosition, next: CaPosition): string | undefined {
    const from = stepOf(deployed);
    const to = stepOf(next);
    if (to === from || to === from + 1) return undefined;
    const following = positionAt(from + 1);
    const key = `pki:caRotation.${slot}`;
    return to > from
        ? `${key} jumps from ${describePosition(deployed)} (deployed) to ${describePosition(next)}; ` +
              `phases go one at a time, so ${describePosition(following)} comes next: set ${key} to ${asConfig(following)} and deploy it first`
        : `${key} goes back from ${describePosition(deployed)} (deployed) to ${describePosition(next)}; ` +
              `phases only go forward: keep ${asConfig(deployed)} or set the next phase, ${asConfig(following)}`;
}

/**
 * Issuing CAs rotating while the root above them rotates: refused, since the root's new generation
 * re-issues every CA below it anyway.
 */
export function rotationConflicts(positions: CaRotationConfig, trust: TrustDomains): string[] {
    return INTERMEDIATE_SLOTS.filter(
        (slot) => inRotation(positions[slot]) && inRotation(positions[rootOf(slot, trust)]),
    ).map((slot: IntermediateSlot) => {
        const root = rootOf(slot, trust);
        return (
            `pki:caRotation.${slot} is in phase ${positions[slot].phase} while pki:caRotation.${root} is in phase ${positions[root].phase}; ` +
            `rotate one at a time: finish the ${slot} rotation before the ${root} one, or the ${root} one before the ${slot} one`
        );
    });
}

/**
 * Every refused move of the CAs the stack has now (`slots`), one message each. A CA that left
 * the stack (another pki:trustDomains, no UI caller any more) has no phase to go through: its
 * slot is no key of pki:caRotation, and it can be neither kept nor moved on.
 */
export function transitionProblems(
    deployed: CaRotationConfig,
    next: CaRotationConfig,
    slots: readonly CaSlot[],
): string[] {
    return slots.flatMap((slot) => transitionProblem(slot, deployed[slot], next[slot]) ?? []);
}

/** A CA certificate of a deployment, as the next deployment needs it to revoke that CA. */
export interface DeployedCa {
    readonly serialHex: string;
    /** ISO 8601; absent in records of earlier versions. */
    readonly notBefore?: string;
    /** ISO 8601. */
    readonly notAfter: string;
    /** Id of the CA that signed it; the root names itself. */
    readonly issuer: string;
}

/** A CA's entry in the record, read from its certificate; `issuer`: the id of the CA that signed it. */
export function deployedCa(certPem: string, issuer: string): DeployedCa {
    const cert = new crypto.X509Certificate(certPem);
    return {
        serialHex: cert.serialNumber,
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: new Date(cert.validTo).toISOString(),
        issuer,
    };
}

/** An intermediate retired by a finish phase or with its cluster: listed in its root's CRL until it expires. */
export interface RetiredCa extends DeployedCa {
    readonly id: string;
    /** ISO 8601; fixed when retired, so the CRL stays the same on every later run. */
    readonly revokedAt: string;
}

/**
 * An APIC client certificate a deployment issued to an endpoint. The next deployments pin its key
 * at the gateway while a rotation overlaps, and accept its serial in `pki:revocations`.
 */
export interface DeployedClient {
    /** The endpoint's client epoch it was issued under. */
    readonly epoch: number;
    readonly serialHex: string;
    /** Istio's `verifyCertificateSpki` value of its key: base64 SHA-256 of the SubjectPublicKeyInfo. */
    readonly spki: string;
    /**
     * ISO 8601; a revocation dated before it is refused. Absent in records of earlier versions
     * (a certificate they hold gets it when an update issues or keeps it as the current one).
     */
    readonly notBefore?: string;
    /** ISO 8601. */
    readonly notAfter: string;
    /** Id of the CA that signed it. */
    readonly issuer: string;
    /**
     * Set while the deployed config revokes it (pki:revocations). While it is valid its revocation
     * may not be removed: the CRL would stop listing it. Absent in records of earlier versions.
     */
    readonly revoked?: true;
}

/**
 * A server certificate a deployment issued: a gateway server certificate, or one of APIC's
 * UI-facing ones. The next deployments refuse an epoch below it, as for clients.
 */
export interface DeployedServer {
    /** The epoch it was issued under. */
    readonly epoch: number;
    readonly serialHex: string;
    /** ISO 8601. */
    readonly notAfter: string;
}

/** An endpoint's APIC client rotation phase as deployed (`pki:rotation`), and since when. */
export interface DeployedClientPhase {
    readonly phase: "switch" | "finish";
    /** The client epoch it was deployed with: a new epoch starts a new soak. */
    readonly epoch: number;
    /** ISO 8601. */
    readonly since: string;
}

/**
 * The stack output `deploymentRecord`: what the next update reads back from this stack's own
 * outputs (positions of the CA rotations, every CA's serial, retired CAs, issued APIC clients),
 * and what the lifecycle command reads to know since when each phase is deployed.
 */
export interface RotationRecord {
    /**
     * The record's format (RECORD_VERSION of the version that wrote it). Absent in records of
     * earlier versions, which read as version 1.
     */
    readonly version?: number;
    readonly positions: CaRotationConfig;
    /** Every CA certificate of the deployment, by CA id. */
    readonly cas: Readonly<Record<string, DeployedCa>>;
    readonly retired: readonly RetiredCa[];
    /**
     * Per client, every certificate issued and not yet expired, oldest first: endpoints' APIC
     * clients by endpoint id, UI services' by `ui/<name>`.
     */
    readonly clients: Readonly<Record<string, readonly DeployedClient[]>>;
    /**
     * Per customer-facing host, the pin of each key generation the stack made (`verifyCertificateSpki`
     * form), so that a certificate the public CA signed is checked against its key before it is used.
     */
    readonly customerFacingKeys: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /**
     * Per CA slot: since when its position (`positions`) is deployed, ISO 8601. Absent in records
     * of earlier versions, as are the fields below. (No field records when an update ran: the
     * record changes only when what it describes does, so an unchanged stack's outputs stay put.)
     */
    readonly positionsSince?: Readonly<Partial<Record<CaSlot, string>>>;
    /** Per endpoint id: its APIC client rotation phase. */
    readonly clientPhases?: Readonly<Record<string, DeployedClientPhase>>;
    /** Per CA id: the last CRL it signed; its number never goes down (RFC 5280 5.2.3). */
    readonly crls?: Readonly<Record<string, CrlRecord>>;
    /** The highest CRL number the stack ever used: a new CA's first CRL continues above it. */
    readonly highestCrlNumber?: number;
    /**
     * Since when istiod's cacerts carries ca-crl.pem (ISO 8601). Istio cannot clear a CRL once
     * published (istio/istio#61073), so from then on it is always published.
     */
    readonly meshCrlSince?: string;
    /**
     * The deployment's pki:rotation.meshEpoch. A mesh CA re-keyed by its epoch keeps its name, so
     * once ca-crl.pem is published the epoch stays (planPki refuses a change; absent in records
     * of earlier versions).
     */
    readonly meshEpoch?: number;
    /**
     * Per server certificate, the newest issued and not yet expired: gateway servers by endpoint
     * id, APIC's UI-facing servers by `apic/<host>` (absent in records of earlier versions).
     */
    readonly servers?: Readonly<Record<string, DeployedServer>>;
    /**
     * Per inventory id (customer-facing hosts aside), the key its certificate certifies and since
     * when the stack has deployed certificates for that key (absent in records of earlier versions).
     */
    readonly keys?: Readonly<Record<string, DeployedKey>>;
    /**
     * Per setting (lib/config/settings.ts: each pki: key, each member of a map), the digest of the
     * value deployed: lifecycle compares the stack file's with it, so that a change that alters no
     * certificate (pki:meshStrictMtls) is seen too. Absent in records of earlier versions: then
     * no such change can be seen until the next update records them.
     */
    readonly settings?: Readonly<Record<string, string>>;
    /**
     * The key of every root the stack's deployments had (CA id and pin), kept once a staged rotation
     * or a new key retires it: keys under it were in the state and a mesh root's in every cluster's
     * cacerts, so pki:frontEnd.apicServerCa may not hold it (absent in records of earlier versions).
     */
    readonly rootKeys?: readonly RootKey[];
}

/** A root's key as the record keeps it: its CA id and its pin (`verifyCertificateSpki` form). */
export interface RootKey {
    readonly id: string;
    readonly spki: string;
}

/**
 * The root keys after a deployment whose roots' keys are `current`: the deployed record's, and the
 * roots of its `keys` (a record of an earlier version lists no rootKeys), then the current ones.
 */
export function rootKeysAfter(deployed: RotationRecord, current: readonly RootKey[]): RootKey[] {
    const deployedRoots = Object.entries(deployed.keys ?? {})
        .filter(([id]) => deployed.cas[id]?.issuer === id)
        .map(([id, key]) => ({ id, spki: key.spki }));
    const known = new Map<string, RootKey>();
    for (const key of [...(deployed.rootKeys ?? []), ...deployedRoots, ...current])
        if (!known.has(key.spki)) known.set(key.spki, key);
    return [...known.values()];
}

/**
 * A key in use: its pin (`verifyCertificateSpki` form) and the notBefore of the first certificate
 * the stack deployed for it. A certificate re-issued with the same key (as @pulumi/tls does once
 * one has expired) keeps the key's age, so the key's renewal point does not move with it.
 */
export interface DeployedKey {
    readonly spki: string;
    readonly since: string;
}

/** The lowest number a CA's first CRL may take after this record: above every number the stack used. */
export const crlNumberFloor = (record: RotationRecord | undefined): number =>
    1 + Math.max(record?.highestCrlNumber ?? 0, ...Object.values(record?.crls ?? {}).map((c) => c.number));

/** What a stack that was never deployed hands over. */
export const INITIAL_RECORD: RotationRecord = {
    positions: INITIAL_ROTATION,
    cas: {},
    retired: [],
    clients: {},
    customerFacingKeys: {},
};

/**
 * The format of the records this version writes, and the newest it reads. Raise it with every field
 * added: a version before would read the record without it and write its next record without it,
 * losing what it holds (retired roots' pins, key ages, settings), so it must refuse the record instead.
 */
export const RECORD_VERSION = 1;

/**
 * A record that a hand-edited state (`pulumi stack import`), a truncated deployment.json or a
 * record of another version made unreadable. Its message names the first bad field and what it
 * holds, never the value (`deploymentRecord.clients.dp[1].notAfter holds null, not an ISO 8601 time`);
 * each reader adds where the record came from and how to restore it.
 */
export class RecordError extends Error {}

/** A record a newer version of the package wrote: its message says to upgrade, not to repair the record. */
export class NewerRecordError extends RecordError {}

/**
 * A record only a restore repairs: its format version damaged, or the record itself no map.
 * Removing the damaged entry would have the record read as one of an earlier version (the very
 * downgrade the version stops), or the stack as a new one, deployed with no check against it.
 */
export class RestoreOnlyRecordError extends RecordError {}

/** How to repair the record of a RecordError, after restoring it (`restore`): removing the damaged entry, where that is safe. */
export const recordRepair = (error: RecordError, restore: string): string =>
    error instanceof NewerRecordError
        ? ""
        : `; ${restore}${error instanceof RestoreOnlyRecordError ? "" : ", or remove the damaged entry"}`;

/**
 * The shape of a record's field as the code reads it: a leaf, one of some values, a map (any
 * keys) or list of one shape, or an object of named fields ("name?" when records of earlier
 * versions may lack it).
 */
type Shape =
    | "integer"
    | "string"
    | "time"
    | "boolean"
    | { readonly oneOf: readonly (string | boolean)[] }
    | { readonly map: Shape }
    | { readonly list: Shape }
    | { readonly fields: Readonly<Record<string, Shape>> };

const LEAF_SHAPES = {
    integer: { expected: "an integer", holds: (v: unknown) => Number.isInteger(v) },
    string: { expected: "a string", holds: (v: unknown) => typeof v === "string" },
    time: {
        expected: "an ISO 8601 time",
        holds: (v: unknown) => typeof v === "string" && !Number.isNaN(Date.parse(v)),
    },
    boolean: { expected: "true or false", holds: (v: unknown) => typeof v === "boolean" },
};

const DEPLOYED_CA = { serialHex: "string", "notBefore?": "time", notAfter: "time", issuer: "string" } as const;
const RECORD_SHAPE: Shape = {
    fields: {
        "version?": "integer",
        // Records of earlier versions lack the slots added since: those start at INITIAL_POSITION.
        positions: {
            fields: Object.fromEntries(
                CA_SLOTS.map((slot) => [`${slot}?`, { fields: { generation: "integer", phase: { oneOf: PHASES } } }]),
            ),
        },
        cas: { map: { fields: DEPLOYED_CA } },
        retired: { list: { fields: { ...DEPLOYED_CA, id: "string", revokedAt: "time" } } },
        "clients?": {
            map: {
                list: {
                    fields: {
                        epoch: "integer",
                        serialHex: "string",
                        spki: "string",
                        "notBefore?": "time",
                        notAfter: "time",
                        issuer: "string",
                        "revoked?": { oneOf: [true] },
                    },
                },
            },
        },
        "customerFacingKeys?": { map: { map: "string" } },
        "positionsSince?": { map: "time" },
        "clientPhases?": {
            map: { fields: { phase: { oneOf: ["switch", "finish"] }, epoch: "integer", since: "time" } },
        },
        "crls?": {
            map: {
                fields: {
                    number: "integer",
                    digest: "string",
                    thisUpdate: "time",
                    nextUpdate: "time",
                    renewal: { oneOf: ["period", "issuer", "series"] },
                    published: "boolean",
                    "signer?": "string",
                },
            },
        },
        "highestCrlNumber?": "integer",
        "meshCrlSince?": "time",
        "meshEpoch?": "integer",
        "servers?": { map: { fields: { epoch: "integer", serialHex: "string", notAfter: "time" } } },
        "keys?": { map: { fields: { spki: "string", since: "time" } } },
        "settings?": { map: "string" },
        "rootKeys?": { list: { fields: { id: "string", spki: "string" } } },
    },
};

const isObject = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);

/** What a field holds, by kind alone: a record holds serials and pins, but a damaged one may hold anything. */
function kindOf(value: unknown): string {
    if (value === undefined) return "nothing";
    if (value === null || typeof value === "boolean") return String(value);
    if (Array.isArray(value)) return "a list";
    if (typeof value === "object") return "a map";
    return typeof value === "number" ? "a number" : "a string";
}

/** Throws a RecordError for the first field of `value` (at path `at`) that does not have `shape`. */
function checkShape(value: unknown, shape: Shape, at: string): void {
    function refuse(expected: string): never {
        throw new RecordError(`${at} holds ${kindOf(value)}, not ${expected}`);
    }
    if (typeof shape === "string") {
        if (!LEAF_SHAPES[shape].holds(value)) refuse(LEAF_SHAPES[shape].expected);
    } else if ("oneOf" in shape) {
        if (!shape.oneOf.includes(value as string | boolean))
            refuse(shape.oneOf.join(", ").replace(/, (?=[^,]*$)/, " or "));
    } else if ("list" in shape) {
        if (!Array.isArray(value)) refuse("a list");
        value.forEach((item, i) => checkShape(item, shape.list, `${at}[${i}]`));
    } else if ("map" in shape) {
        if (!isObject(value)) refuse("a map");
        for (const [key, member] of Object.entries(value)) checkShape(member, shape.map, memberPath(at, key));
    } else {
        if (!isObject(value)) refuse("a map");
        for (const [field, fieldShape] of Object.entries(shape.fields)) {
            const optional = field.endsWith("?");
            const name = optional ? field.slice(0, -1) : field;
            const member = ownMember(value, name);
            if (!optional || member !== undefined) checkShape(member, fieldShape, memberPath(at, name));
        }
    }
}

/**
 * A record read back from stack outputs (its name `output`), checked for shape (it crossed a
 * serialisation boundary, and a state can be edited by hand); a RecordError names the first bad
 * field; a NewerRecordError, a record of a newer format (RECORD_VERSION). Records of earlier
 * versions lack later slots, the clients and the times: those start from their initial value or
 * stay absent.
 */
export function parseRecord(value: unknown, output = "deploymentRecord"): RotationRecord {
    // Before the shape: a newer version's fields may have another.
    const version = isObject(value) ? ownMember(value, "version") : undefined;
    if (Number.isInteger(version) && (version as number) > RECORD_VERSION) {
        throw new NewerRecordError(
            `${output}.version is ${version as number}: a newer version of apic-istio-pki wrote it, and this one, which reads records ` +
                `up to version ${RECORD_VERSION}, would drop what it does not know (such as retired roots' pins); ` +
                "upgrade apic-istio-pki to the version that deployed the stack, or a later one",
        );
    }
    // Versions count from 1 (records without one are of earlier versions): anything else is damage.
    if (version !== undefined && !(Number.isInteger(version) && (version as number) >= 1)) {
        throw new RestoreOnlyRecordError(
            Number.isInteger(version)
                ? `${output}.version holds ${version as number}, not a format version (an integer from 1 up)`
                : `${output}.version holds ${kindOf(version)}, not an integer`,
        );
    }
    if (!isObject(value)) throw new RestoreOnlyRecordError(`${output} holds ${kindOf(value)}, not a map`);
    checkShape(value, RECORD_SHAPE, output);
    const record = value as unknown as RotationRecord;
    return {
        ...record,
        positions: Object.fromEntries(
            CA_SLOTS.map((slot) => [slot, ownMember(record.positions, slot) ?? INITIAL_POSITION]),
        ) as Record<CaSlot, CaPosition>,
        clients: record.clients ?? {},
        customerFacingKeys: record.customerFacingKeys ?? {},
    };
}

/**
 * Since when each CA slot's position is deployed after a deployment at `now`: carried over from
 * the deployed record while unchanged (now when the record does not say), else now.
 */
export function positionsSinceAfter(
    deployed: RotationRecord,
    positions: CaRotationConfig,
    now: Date,
): Record<CaSlot, string> {
    return Object.fromEntries(
        CA_SLOTS.map((slot) => [
            slot,
            stepOf(deployed.positions[slot]) === stepOf(positions[slot])
                ? (deployed.positionsSince?.[slot] ?? now.toISOString())
                : now.toISOString(),
        ]),
    ) as Record<CaSlot, string>;
}

/** Each endpoint's client phase after a deployment at `now`: since carried over while phase and epoch stay. */
export function clientPhasesAfter(
    deployed: RotationRecord,
    phases: Readonly<Record<string, { phase: "switch" | "finish"; epoch: number }>>,
    now: Date,
): Record<string, DeployedClientPhase> {
    return Object.fromEntries(
        Object.entries(phases).map(([id, p]) => {
            const before = ownMember(deployed.clientPhases, id);
            const kept = before !== undefined && before.phase === p.phase && before.epoch === p.epoch;
            return [id, { ...p, since: kept ? before.since : now.toISOString() }];
        }),
    );
}

/**
 * The mark says what the deployed config revokes, for the next plan to compare. Once a plan allowed
 * dropping an entry (its CA retired, its UI service removed with it), the mark goes: kept, it would
 * be judged again by later plans, which may no longer see why it was allowed (a UI leg removed and
 * added again gives the old CA's id to a new one).
 */
function withRevokedMark(c: DeployedClient, revoked: boolean): DeployedClient {
    if (revoked) return { ...c, revoked: true };
    const { revoked: _dropped, ...unmarked } = c;
    return unmarked;
}

/**
 * The clients a deployment hands on: the deployed record's, minus expired ones (but those still
 * revoked in config, so that an entry kept after its certificate expired is not refused as
 * unknown), plus the ones it issued (replacing an entry of the same epoch, which a re-run of the
 * same update reissues only when its certificate changed). `removedEndpoint`: holders that are
 * endpoints the stack no longer has; their marks stay though the config cannot list their entries,
 * so that the endpoint added back under its id must list them again (else a switch phase would
 * pin the revoked key as the previous one, and the CRL would not list it).
 */
export function clientsAfter(
    deployed: Readonly<Record<string, readonly DeployedClient[]>>,
    issued: Readonly<Record<string, DeployedClient>>,
    now: Date,
    revoked: readonly { holder: string; serialHex: string }[] = [],
    removedEndpoint: (holder: string) => boolean = () => false,
): Record<string, DeployedClient[]> {
    const ids = [...new Set([...Object.keys(deployed), ...Object.keys(issued)])].sort();
    const isRevoked = (id: string, c: DeployedClient): boolean =>
        revoked.some((r) => r.holder === id && normalSerial(r.serialHex) === normalSerial(c.serialHex));
    return Object.fromEntries(
        ids.map((id) => {
            const current = ownMember(issued, id);
            const kept = (ownMember(deployed, id) ?? [])
                .filter(
                    (c) =>
                        (Date.parse(c.notAfter) > now.getTime() || isRevoked(id, c)) &&
                        c.serialHex !== current?.serialHex,
                )
                .map((c): DeployedClient =>
                    withRevokedMark(c, isRevoked(id, c) || (c.revoked === true && removedEndpoint(id))),
                );
            return [id, current === undefined ? kept : [...kept, current]];
        }),
    );
}

/**
 * The server certificates a deployment hands on: the ones it issued, and the deployed record's
 * others (a host or endpoint removed) until they expire, so that one brought back later does not
 * start again below the epoch it had.
 */
export function serversAfter(
    deployed: Readonly<Record<string, DeployedServer>>,
    issued: Readonly<Record<string, DeployedServer>>,
    now: Date,
): Record<string, DeployedServer> {
    const ids = [...new Set([...Object.keys(deployed), ...Object.keys(issued)])].sort();
    return Object.fromEntries(
        ids.flatMap((id) => {
            const current = ownMember(issued, id);
            if (current !== undefined) return [[id, current]];
            const kept = deployed[id]; // an id not issued is one of the deployed record's own
            return Date.parse(kept.notAfter) > now.getTime() ? [[id, kept]] : [];
        }),
    );
}

// Re-exported for the plan's readers: serials compare as normalSerial says.
export { normalSerial };

/**
 * The retired intermediates after this deployment: the deployed record's, minus those expired or
 * under a root that is gone, plus the old CA of every intermediate rotation that finishes now
 * (`finishing`: each such rotation with the id of its old CA), plus the deployed CAs that leave the
 * stack without a rotation (`leaving`: the mesh CAs of a removed cluster, under a root it keeps).
 */
export function retiredAfter(args: {
    deployed: Pick<RotationRecord, "cas" | "retired">;
    finishing: readonly { slotKey: string; outgoingId: string }[];
    leaving?: readonly string[];
    liveRootIds: readonly string[];
    now: Date;
    crlPeriodDays: number;
}): { retired: RetiredCa[]; problems: string[] } {
    const { deployed, now } = args;
    const retired = deployed.retired.filter(
        (r) => Date.parse(r.notAfter) > now.getTime() && args.liveRootIds.includes(r.issuer),
    );
    const problems: string[] = [];
    const periodStart = crlWindow(now, args.crlPeriodDays).thisUpdate.getTime();
    const retire = (id: string, ca: DeployedCa): void => {
        // By serial too: a cluster removed and added again has a new CA of the same id, which a later
        // finish must still revoke.
        if (retired.some((r) => r.id === id && normalSerial(r.serialHex) === normalSerial(ca.serialHex))) return;
        // The start of the CRL period, the same on every run in it; but never before the CA was
        // issued (one signed in this very period): a certificate is not revoked before it exists.
        const revokedAt = new Date(Math.max(periodStart, Date.parse(ca.notBefore ?? "") || 0)).toISOString();
        retired.push({ id, ...ca, revokedAt });
    };
    for (const { slotKey, outgoingId } of args.finishing) {
        const ca = deployed.cas[outgoingId];
        if (ca === undefined) {
            problems.push(
                `${slotKey} finishes, but the deployed stack's output deploymentRecord has no certificate for ${outgoingId}, so it cannot be revoked; ` +
                    `run the previous phase again (pulumi up) so that its record is written, then finish`,
            );
            continue;
        }
        retire(outgoingId, ca);
    }
    for (const id of args.leaving ?? []) retire(id, deployed.cas[id]);
    return { retired, problems };
}

/**
 * Where a CA's new generation becomes visible, for reviewers: the trust bundles a prepare phase
 * extends. Gateways trust only roots (`ca.crt`) and clients send their issuing CA, so a new
 * issuing CA under the same root changes no gateway trust; APIC (DataPower) builds chains from
 * its truststores alone, so they hold the issuing CAs too.
 */
const BUNDLES: Readonly<Record<CaSlot, string>> = {
    root: "the gateway's ca.crt, every APIC truststore and the mesh's root-cert.pem",
    meshRoot: "the mesh's root-cert.pem",
    serverRoot: "every APIC truststore and the calling UI services' ca.crt (unless pki:frontEnd.apicServerCa is set)",
    clientRoot: "the gateway's ca.crt",
    uiClientRoot: "APIC's UI truststore",
    gatewayServerCa:
        "every APIC truststore (DataPower builds the chain from its truststore, not from what the gateway sends)",
    apicClientCa: "no bundle (the gateway trusts the client root, which stays)",
    meshCa: "no bundle (the mesh trusts the mesh root, which stays)",
    uiClientCa:
        "APIC's UI truststore (DataPower builds the chain from its truststore, not from what the UI services send)",
};

/**
 * What a CA's switch re-issues under the new issuing CA. A root's prepare has already issued the
 * new CAs below it (so that their CRLs exist in time), so its switch re-issues what they sign.
 */
const LEAVES: Readonly<Record<CaSlot, string>> = {
    root: "every leaf and istiod's cacerts",
    meshRoot: "istiod's cacerts (istiod reloads it; workloads renew within their certificate TTL)",
    serverRoot: "every gateway server certificate and APIC's UI-facing server certificates (upload their keystores)",
    clientRoot: "every APIC client certificate (upload the new keystores; old and new keys stay pinned until finish)",
    uiClientRoot: "every UI client certificate (their Secrets; sidecars pick them up)",
    gatewayServerCa:
        "every gateway server certificate and APIC's UI-facing server certificates (upload their keystores)",
    apicClientCa: "every APIC client certificate (upload the new keystores; old and new keys stay pinned until finish)",
    meshCa: "istiod's cacerts (istiod reloads it; workloads renew within their certificate TTL)",
    uiClientCa: "every UI client certificate (their Secrets; sidecars pick them up)",
};

const ids = (cas: readonly CaPlan[]): string[] => cas.map((c) => c.id);

const listed = (items: readonly string[]): string =>
    items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;

/**
 * One line per CA of the stack (`slots`) whose position changes: what the phase does (or why it is
 * refused). The CAs are named by their ids in the two plans (`cas`), as their resources are: an
 * intermediate's generation suffix also counts its root's rotations, so it may differ from the
 * generation in pki:caRotation. `crlsBefore`: the issuing CAs whose relying parties got CRLs
 * before this change already (a revocation, or another finish under the same root).
 */
export function describeTransitions(
    deployed: CaRotationConfig,
    next: CaRotationConfig,
    slots: readonly CaSlot[],
    cas: { before: readonly CaPlan[]; after: readonly CaPlan[] },
    crlsBefore: ReadonlySet<CaSlot> = new Set(),
): { slot: CaSlot; from: string; to: string; effect: string; refused?: string }[] {
    const beforeIds = new Set(cas.before.map((c) => c.id));
    const afterIds = new Set(cas.after.map((c) => c.id));
    // A refused move may create or remove nothing: then the generation stands for the CA.
    const named = (ids: readonly string[], generation: number): string =>
        ids.length > 0 ? listed(ids) : `generation ${generation}`;
    return slots
        .filter((slot) => stepOf(deployed[slot]) !== stepOf(next[slot]))
        .map((slot) => {
            const to = next[slot];
            const ofSlot = (plans: readonly CaPlan[]) => plans.filter((c) => c.slot === slot);
            // The rotation's new generation, which signs nothing yet: not the CA of a cluster added
            // with the prepare, which its istiod signs with at once.
            const created = ofSlot(cas.after).filter((c) => !beforeIds.has(c.id) && !c.active);
            const issuedBy = (issuers: readonly CaPlan[]) =>
                cas.after.filter((c) => issuers.some((i) => i.id === c.issuer)).map((c) => c.id);
            const active = ofSlot(cas.after).filter((c) => c.active);
            // Still trusted: the old generation deployed before, not one of a cluster added with this step.
            const old = ofSlot(cas.after).filter((c) => !c.active && beforeIds.has(c.id));
            const retired = ofSlot(cas.before).filter((c) => !afterIds.has(c.id));
            // A root's finish deletes the issuing CAs it signed with it (a new root re-issued them).
            const retiredBelow = cas.before
                .filter((c) => retired.some((r) => r.id === c.issuer) && c.issuer !== c.id && !afterIds.has(c.id))
                .map((c) => c.id);
            const below = issuedBy(created).filter((id) => !beforeIds.has(id));
            const effect =
                to.phase === "prepare"
                    ? `prepare: new CA ${named(ids(created), to.generation)} created and added to ${BUNDLES[slot]}; ` +
                      (isRootSlot(slot) && below.length > 0
                          ? `it already issues the new ${listed(below)} and ${below.length === 1 ? "its CRL" : "their CRLs"}, which nothing uses until switch`
                          : "nothing is issued by it yet")
                    : to.phase === "switch"
                      ? `switch: ${LEAVES[slot]} re-issued by ${named(isRootSlot(slot) ? issuedBy(active) : ids(active), to.generation)}` +
                        (isRootSlot(slot) ? `, under ${named(ids(active), to.generation)}` : "") +
                        `; ${named(ids(old), to.generation - 1)} still trusted`
                      : `finish: ${named(ids(retired), to.generation - 1)} removed from every bundle and deleted` +
                        (isRootSlot(slot)
                            ? retiredBelow.length > 0
                                ? `, with ${listed(retiredBelow)}, which it issued`
                                : ""
                            : `; revoked in its root's CRL (${crlsBefore.has(slot) ? "CRLs are published already" : "CRLs are published from now on"})` +
                              (slot === "apicClientCa" ? "; the old APIC keys are no longer pinned" : ""));
            const refused = transitionProblem(slot, deployed[slot], to);
            return {
                slot,
                from: describePosition(deployed[slot]),
                to: describePosition(to),
                effect,
                ...(refused !== undefined ? { refused } : {}),
            };
        });
}
