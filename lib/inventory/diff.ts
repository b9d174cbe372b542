/**
 * What a config change does to the certificates, to every secret and APIC bundle that carries
 * them, and what it risks. Pure: two plans in, a diff out. Certificate reasons follow @pulumi/tls
 * replacement rules (terraform-provider-tls common_cert.go): a new key when the key's own
 * inputs change or a rotation epoch renames it; a new certificate when its request (subject, SANs),
 * usages, validity or issuing CA changes. The early-renewal window is updated in place, never a change.
 */
import * as crypto from "crypto";
import { ClusterConfig, PkiConfig, RevocationConfig } from "../config/types";
import { EPOCHS } from "../config/validate";
import type { OtherSetting } from "../config/load";
import {
    characterCount,
    DEFAULT_KEY_SECRET_NAMESPACES,
    describedValue,
    endpointIdOf,
    GATEWAY_SELECTOR,
    apicGatewayName,
    ownMember,
    show,
    shownName,
    SHOWN_CHARACTERS,
    MESH_CA_SECRET,
} from "../config/values";
import { CaSlot, describeTransitions, normalSerial, PHASES } from "../plan/caRotation";
import { caSlots, isRootSlot, RootSlot, rootOf, rootSlotOf } from "../plan/hierarchy";
import {
    CaPlan,
    clientOverlap,
    clientOverlapCause,
    clientPhaseOf,
    clientSwitchSetting,
    CRL_SET_SLOT,
    CrlSet,
    CustomerFacingPlan,
    ecdsaClusterRemovalProblem,
    EndpointPlan,
    endpointResourceName,
    holderOf,
    layoutOf,
    meshEpochChangeProblem,
    meshEpochDuringRotation,
    meshRootReplacement,
    oversizedGateway,
    PkiPlan,
    UiClientPlan,
    uiClientOfRecordKey,
    uiClientRecordKey,
    unpinnedUnderWay,
} from "../plan/plan";
import { CLOCK_SKEW_MS, DAY_MS, parseCrl } from "../pki/crl";
import { seriesPeriodMs } from "../pki/crlSeries";
import { pkcs12FriendlyName } from "../pki/pkcs12";
import { CA_CAUSES, RESTART_ISTIOD, rootBreaks, ROOTS_KEPT_BREAKS } from "../plan/reissue";
import {
    Content,
    crlsPublished,
    isSecret,
    meshCasRevokedSince,
    meshCrls,
    Place,
    PlaceKind,
    placesOf,
    waitingForCeremony,
    WaitingForCeremony,
} from "./deliveries";
import {
    APIC_UI_DIR,
    customerFacingCsrFile,
    describeKey,
    describeSubject,
    gatewayPath,
    PlannedCertificate,
    plannedCertificates,
    secretPath,
    uiClientCertId,
} from "./planned";

export interface CertChange {
    id: string;
    role: PlannedCertificate["role"];
    /** Why it changes; empty for additions and removals. */
    reasons: string[];
    /** What the change forces: new key, new certificate, created, updated or deleted secrets and APIC material. */
    forces: string[];
    before?: PlannedCertificate;
    after?: PlannedCertificate;
    /**
     * The base waits for the ceremony (a CSR pending): its update made only CAs, so what is deployed
     * is what the last update that ran whole made, which no stack file shows. This update creates it
     * unless that update made it already.
     */
    unlessDeployed?: true;
}

/** A server of a Gateway this package writes: the host it serves and the Secret it serves it with. */
export interface GatewayServer {
    host: string;
    credentialName: string;
}

/** A Gateway created, deleted or given other servers. */
export interface GatewayChange {
    /** Its file in a render: `k8s/<cluster>/<namespace>/gateway-<name>` (gatewayPath). */
    gateway: string;
    change: "create" | "update" | "delete";
    added: GatewayServer[];
    removed: GatewayServer[];
}

export interface RoutingChange {
    endpoint: string;
    host: string;
    before: readonly string[];
    after: readonly string[];
}

/**
 * The APIC keys an endpoint's Gateway server entry pins (`verifyCertificateSpki`), named by the
 * client epoch they were issued under, as far as two stack files tell.
 */
export interface PinChange {
    endpoint: string;
    before: string[];
    after: string[];
}

/** A change `diff` refuses (exit 1): `pulumi up` would refuse it, or it breaks something with no way back. */
export interface RefusedChange {
    key: string;
    problem: string;
}

/** A change that is allowed but can break consumers: what it does, what it breaks, and the safe way. */
export interface Risk {
    /** The config keys whose change causes it. */
    key: string;
    change: string;
    breaks: string;
    instead: string;
    /** Every host it is about, in full: its sentences name four at most (names()). */
    hosts?: string[];
    /** Every UI service it is about, in full. */
    uiServices?: string[];
}

/** A secret or APIC bundle created, updated or deleted, with what changes in each of its items. */
export interface PlaceChange {
    place: string;
    kind: PlaceKind;
    owner: string;
    change: "create" | "update" | "delete";
    items: { item: string; change: string }[];
    /**
     * The base waits for the ceremony (a CSR pending): this change is against the base's stack file,
     * as if its update had made only CAs; the last update that ran whole may have made it already.
     */
    unlessDeployed?: true;
}

/** A revocation added or removed, naming the client as pki:revocations does. */
export interface RevocationChange {
    change: "added" | "removed";
    /** The endpoint whose APIC client certificate is revoked... */
    endpoint?: string;
    /** ...or the UI service (Kubernetes name) whose client certificate is revoked. */
    uiClient?: string;
    serial: string;
    /** The client epoch the revoked certificate was issued under. */
    epoch: number;
    reason: string;
    revokedAt: string;
    /** The endpoint's host (APIC clients). */
    host?: string;
    /** The client's epoch before and after (a revocation re-issues the client). */
    clientEpoch?: { before: number; after: number };
}

/** The certificate a customer-facing host serves: the public CA's, for one key generation of the stack. */
export interface ServedCertificate {
    /** The key generation it certifies (pki:frontEnd.customerFacing.<host>.certificateEpoch). */
    certificateEpoch: number;
    serial: string;
    /** ISO 8601. */
    notAfter: string;
}

/** A customer-facing host whose key request or served certificate changes. */
export interface CustomerFacingChange {
    host: string;
    /** The Secret the gateway serves it from. */
    secret: string;
    /** The key generation whose CSR is out for the public CA to sign, before and after (undefined: no such host). */
    epoch: { before?: number; after?: number };
    /** The certificate served, before and after (undefined: none, the host has no Secret). */
    served: { before?: ServedCertificate; after?: ServedCertificate };
    /**
     * The CSR of the requested key generation changes under the same epoch: a new key (newKey:
     * pki:keyAlgorithm changed) or another subject (pki:organization), and why.
     */
    request?: { newKey: boolean; why: string[] };
}

/**
 * A change to a stack file outside its `pki:` keys: a top-level key (`secretsprovider`) or a config
 * key of another namespace (`kubernetes:kubeconfig`). Values as messages show them (show); a
 * secret's (`secure:`, `encryptedkey`, `encryptionsalt`) never.
 */
export interface OtherSettingChange {
    key: string;
    change: "added" | "removed" | "changed";
    /**
     * The values as messages show them (show), private keys left out; kubernetes:kubeconfig's, and
     * a value longer than SHOWN_CHARACTERS, only by its length and a SHA-256 prefix (describedValue).
     */
    before?: string;
    after?: string;
    /** The project file (Pulumi.yaml) the value before or after comes from, the stack file not setting it. */
    beforeFrom?: string;
    afterFrom?: string;
    /** A secret on either side: no value shown. */
    secret?: true;
}

export interface CertDiff {
    base: { environment: string; option: number };
    head: { environment: string; option: number };
    /** The stack file does not exist in the base: everything is created. */
    newStack: boolean;
    /** Allowed changes that can break consumers; `diff --fail-on risky` fails on them. */
    risks: Risk[];
    /** Changes refused (exit 1), besides refused CA rotation phases (caRotation[].refused). */
    refused: RefusedChange[];
    /** CAs whose staged rotation moves (pki:caRotation): the phase, what it does, or why it is refused. */
    caRotation: ReturnType<typeof describeTransitions>;
    added: CertChange[];
    removed: CertChange[];
    replaced: CertChange[];
    /** The CAs whose key and CSR this update registers for the ceremony (a head whose CSRs wait): no certificate yet. */
    csrs: string[];
    unchanged: number;
    /** Every secret and APIC bundle that is created, updated or deleted. */
    places: PlaceChange[];
    revocations: RevocationChange[];
    /** Customer-facing hosts with a new key and CSR, a new certificate, or added or removed. */
    customerFacing: CustomerFacingChange[];
    /** Endpoints whose pinned APIC keys change. */
    pins: PinChange[];
    /** Endpoints whose certificates stay but whose routed services change (e.g. Option 3 regrouping). */
    routing: RoutingChange[];
    /** The Gateways whose servers change (none for a new stack, or a head waiting for the ceremony). */
    gateways: GatewayChange[];
    /** Changes to the stack file outside pki: (when the stack files were given: DiffOptions.otherSettings). */
    otherSettings?: OtherSettingChange[];
    /**
     * What to do before and after `pulumi up`, in order; `notes`: what holds only in a case stack
     * files cannot show (no step to take otherwise).
     */
    steps: { before: string[]; after: string[]; notes?: string[] };
}

export interface DiffOptions {
    /** More replaced certificates than this is a risk. */
    maxReplaced?: number;
    /** The stack files' settings outside pki: (stackFileForDiff), base ({} for a new stack) and head. */
    otherSettings?: { base: Readonly<Record<string, OtherSetting>>; head: Readonly<Record<string, OtherSetting>> };
}

/** The longest value the report shows (in characters): a longer one would crowd out the rest of it. */
export { SHOWN_CHARACTERS };

/**
 * Whether a kubeconfig setting is a file's path (`~/.kube/prod`), which holds no secret and which
 * a reviewer must see: one short line with a folder separator, no YAML or JSON, no base64 run.
 */
const isPath = (text: string): boolean =>
    /[/\\]/.test(text) && !/[\r\n]|apiVersion|:\s|^\s*[{[]/.test(text) && !/[A-Za-z0-9+/=]{40}/.test(text);

/**
 * A setting's value as the report shows it: a kubeconfig's contents (client keys, tokens) never,
 * nor a value too long to read, the rest (a kubeconfig's path too) as messages show config text
 * (show: private keys left out).
 */
const shownValue = (key: string, text: string): string =>
    characterCount(text) > SHOWN_CHARACTERS || (key === "kubernetes:kubeconfig" && !isPath(text))
        ? describedValue(text)
        : show(text);

/** Words that name a secret, alone (`dbPassword`, `api_token`, `sentryDsn`), with plurals. */
const SECRET_WORDS = new Set(
    [
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "secret",
        "token",
        "credential",
        "jwt",
        "hmac",
        "salt",
        "dsn",
        // Written as one word.
        "privatekey",
        "apikey",
        "accesskey",
        "secretkey",
        "signingkey",
        "encryptionkey",
    ].flatMap((word) => [word, `${word}s`]),
);
/** Words that name a secret before "key" (`privateKey`, `signing_key`). */
const KEY_KINDS = new Set(["private", "api", "access", "secret", "signing", "encryption"]);
/** Last words that name something about a secret, not the secret (`tlsSecretName`, `privateKeyAlgorithm`). */
const ABOUT_A_SECRET = new Set(
    [
        "name",
        "namespace",
        "algorithm",
        "header",
        // Where it is kept or fetched, and rules for it: a reviewer must see them.
        "file",
        "path",
        "url",
        "uri",
        "endpoint",
        "arn",
        "ref",
        "ttl",
        "expiry",
        "issuer",
        "audience",
        "policy",
        "length",
        "capacity",
        "limit",
    ].flatMap((word) => [word, `${word}s`]),
);

/** A name's words, lower-cased: split at camelCase humps, digits and "_", "-", ".", " ". */
const wordsOf = (name: string): string[] =>
    name
        .replace(/([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])/g, "$1$3 $2$4")
        .toLowerCase()
        .split(/[^a-z]+/)
        .filter((word) => word !== "");

/** Whether a name is a secret's by its words (SECRET_WORDS, KEY_KINDS), not one about a secret (ABOUT_A_SECRET). */
const secretName = (name: string): boolean => {
    const words = wordsOf(name);
    if (words.length === 0 || ABOUT_A_SECRET.has(words[words.length - 1])) return false;
    return words.some(
        (word, at) =>
            // "pass" names one last (`dbPass`), not first (`passThrough`).
            (SECRET_WORDS.has(word) && ((word !== "pass" && word !== "passs") || at === words.length - 1)) ||
            (word === "key" && at > 0 && KEY_KINDS.has(words[at - 1])),
    );
};

/** A true/false or a number: no secret, whatever its name (`skipCredentialsValidation`), and one a reviewer must see. */
const holdsNoSecret = (value: unknown): boolean => typeof value === "boolean" || typeof value === "number";

/** Whether a value read from JSON is a map with a member named as a secret, at any depth. */
const holdsSecretMember = (value: unknown): boolean =>
    typeof value === "object" &&
    value !== null &&
    (Array.isArray(value)
        ? value.some(holdsSecretMember)
        : Object.entries(value).some(
              ([member, inner]) => (secretName(member) && !holdsNoSecret(inner)) || holdsSecretMember(inner),
          ));

/** A connection string's password (`Server=db;User Id=app;Password=...`, `pwd=...`). */
const CONNECTION_PASSWORD = /(?:^|[;\s"'])(?:password|pwd)\s*=/i;

/**
 * Whether a provider's or program's setting (`aws:secretKey`, `myapp:dbPassword`) is named as a
 * secret, or holds one by its value (a map with such a member, a connection string's Password=):
 * one set in clear (not `secure:`) is reported as a secret is, only as changed: the report goes
 * into a pull request's comment. Whole words only: `myapp:tokenizer`, `tlsSecretName` and
 * `apiKeyHeader` are no secrets, nor a credentials file's path, which a reviewer must see. Not
 * the stack file's own settings (`secretsprovider`), which a reviewer must read. `text` is the
 * value as JSON (OtherSetting) on one side of the change, undefined on a side without it.
 */
const namedSecret = (key: string, text: string | undefined): boolean => {
    // A side without the setting: the other side's value decides.
    if (!key.includes(":") || text === undefined) return false;
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        value = text;
    }
    if (holdsNoSecret(value)) return false;
    if (typeof value === "string" && CONNECTION_PASSWORD.test(value)) return true;
    if (holdsSecretMember(value)) return true;
    const name = key.slice(key.indexOf(":") + 1);
    if (!secretName(name)) return false;
    // A credentials file's path: what a reviewer must see, no secret.
    const credentialsPath = wordsOf(name).some((word) => word.startsWith("credential"));
    return !(credentialsPath && typeof value === "string" && isPath(value));
};

/**
 * The changes of settings outside pki:, in the head's order, then those removed: of the value
 * Pulumi uses, the stack file's, else its project's (a value moved between them unchanged is none).
 */
export function otherSettingChanges(
    base: Readonly<Record<string, OtherSetting>>,
    head: Readonly<Record<string, OtherSetting>>,
): OtherSettingChange[] {
    const keys = [...new Set([...Object.keys(head), ...Object.keys(base)])];
    return keys.flatMap((key): OtherSettingChange[] => {
        const [before, after] = [ownMember(base, key), ownMember(head, key)];
        if (before?.text === after?.text && before?.secret === after?.secret) return [];
        // Named as a secret though set in clear: not even its length and SHA-256 (a guess would check against them).
        const secret =
            before?.secret === true ||
            after?.secret === true ||
            namedSecret(key, before?.text) ||
            namedSecret(key, after?.text);
        const change = before === undefined ? "added" : after === undefined ? "removed" : "changed";
        return [
            {
                key: shownName(key),
                change,
                ...(before !== undefined && !secret ? { before: shownValue(key, before.text) } : {}),
                ...(after !== undefined && !secret ? { after: shownValue(key, after.text) } : {}),
                ...(before?.from !== undefined ? { beforeFrom: before.from } : {}),
                ...(after?.from !== undefined ? { afterFrom: after.from } : {}),
                ...(secret ? { secret: true as const } : {}),
            },
        ];
    });
}

/** Settings that decide who can decrypt the stack's state, which holds every private key. */
const ENCRYPTION_SETTINGS = new Set(["secretsprovider", "encryptedkey", "encryptionsalt"]);

/** Settings that decide which cluster a Kubernetes provider writes Secrets to. */
const redirectsSecrets = (key: string): boolean =>
    key.startsWith("kubernetes:") || key === "pulumi:disable-default-providers";

/** What a new stack's setting cluster or namespace decides, and what to check of it. */
const CLUSTER_CHECK =
    "which cluster a Kubernetes provider given none of its own writes Secrets to; check it is the new stack's";
const NEW_STACK_CHECKS: Readonly<Record<string, string>> = {
    "kubernetes:context": CLUSTER_CHECK,
    "kubernetes:cluster": CLUSTER_CHECK,
    "kubernetes:kubeconfig": CLUSTER_CHECK,
    "kubernetes:namespace":
        "which namespace a Kubernetes provider given none of its own puts resources that name none in; check it is the new stack's",
    "pulumi:disable-default-providers":
        "whether default providers may be used (a resource given no provider of its own gets one from the stack's settings); check it is what the new stack's owners chose",
};

/** What a new stack's provider setting decides (the other kubernetes: settings: how the default provider behaves), if one. */
const newStackCheck = (key: string): string | undefined =>
    ownMember(NEW_STACK_CHECKS, key) ??
    (key.startsWith("kubernetes:")
        ? "how a default Kubernetes provider (the one a resource given no provider of its own gets) behaves; check it is meant for the new stack"
        : undefined);

/** A value and, when Pulumi takes it from the project file, that file. */
const valueFrom = (value: string | undefined, from: string | undefined): string =>
    from === undefined ? `${value}` : `${value} from ${from}`;

/**
 * A change of a setting outside pki: as the report says it: the values when they may be shown.
 * In a new stack (`newStack`), each setting as set, with what to check of it.
 */
export function settingChangeText(c: OtherSettingChange, newStack = false): string {
    if (newStack) {
        const value = c.secret === true ? "set (a secret: its value is not shown)" : valueFrom(c.after, c.afterFrom);
        return ENCRYPTION_SETTINGS.has(c.key)
            ? `${value}: who can decrypt the new stack's state (which holds every private key); check it is the secrets provider its owners chose`
            : newStackCheck(c.key) !== undefined
              ? `${value}: ${newStackCheck(c.key)}`
              : value;
    }
    return c.secret === true
        ? `${c.change} (a secret: its value is not shown)`
        : c.change === "changed"
          ? `${valueFrom(c.before, c.beforeFrom)} -> ${valueFrom(c.after, c.afterFrom)}`
          : c.change === "added"
            ? `added: ${valueFrom(c.after, c.afterFrom)}`
            : `removed (was ${valueFrom(c.before, c.beforeFrom)})`;
}

/**
 * The risks of changes outside pki: where the stack's private keys are encrypted, or written. The
 * values are shown once, under the settings (otherSettings). A new stack has none: it is reviewed
 * whole (its outcome in the pull-request check is "new"), its settings with it.
 */
function otherSettingRisks(changes: readonly OtherSettingChange[]): Risk[] {
    const change = (c: OtherSettingChange): string =>
        c.secret === true
            ? settingChangeText(c)
            : `${c.change} (the values are under the stack file settings outside pki:)`;
    return changes.flatMap((c): Risk[] => {
        if (ENCRYPTION_SETTINGS.has(c.key)) {
            return [
                {
                    key: c.key,
                    change: change(c),
                    breaks:
                        "the stack's state holds every CA's and certificate's private key, encrypted under the secrets provider and data key these settings name: " +
                        "from the next pulumi up whoever holds that provider's key can read them all, and a wrong one leaves the stack unable to decrypt its state",
                    instead:
                        "leave the secrets provider to the stack's owners, who change it with pulumi stack change-secrets-provider (which also writes encryptedkey and encryptionsalt) as a reviewed change of key custody; " +
                        "undo this change if it was not meant",
                },
            ];
        }
        if (redirectsSecrets(c.key)) {
            return [
                {
                    key: c.key,
                    change: change(c),
                    breaks:
                        "it decides which cluster, context or namespace a Kubernetes provider given none of its own writes to (the providers of pki:clusters take only a context): " +
                        "Secrets with private keys in them could go to another cluster",
                    instead:
                        "choose clusters with pki:clusters (a context for each) and leave the kubernetes: provider settings out of the stack file and Pulumi.yaml; undo this change if it was not meant",
                },
            ];
        }
        return [];
    });
}

export const DEFAULT_MAX_REPLACED = 10;

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
    a.length === b.length && a.every((x, i) => x === b[i]);

const identities = (c: PlannedCertificate): string[] => [...c.dnsNames, ...c.uris];

const list = (items: readonly string[]): string =>
    items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;

/** "1 certificate", "2 certificates". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * A list short enough for a sentence: in full up to four, else the first three and how many more.
 * For text only: a risk carries its full list beside (Risk.hosts, Risk.uiServices) for JSON readers.
 */
export const names = (items: readonly string[]): string =>
    items.length <= 4 ? list(items) : `${items.slice(0, 3).join(", ")} and ${items.length - 3} more`;

function reasonsFor(
    before: PlannedCertificate,
    after: PlannedCertificate,
    replacedIssuers: Set<string>,
    firstSigned: boolean,
): string[] {
    const reasons: string[] = [];
    const what = after.role === "apic-client" ? "identity" : "hosts";
    if (!sameList(identities(before), identities(after))) {
        reasons.push(
            `${what} changed: ${identities(before).join(", ") || "none"} -> ${identities(after).join(", ") || "none"}`,
        );
    }
    if (before.subject !== after.subject) reasons.push(`subject changed: ${before.subject} -> ${after.subject}`);
    if (before.key !== after.key) reasons.push(`key algorithm changed: ${before.key} -> ${after.key}`);
    if (before.epoch !== after.epoch) {
        reasons.push(
            after.role === "customer-facing"
                ? `served key: epoch ${before.epoch} -> ${after.epoch} (certificateEpoch)`
                : `rotation forced: epoch ${before.epoch} -> ${after.epoch}`,
        );
    }
    if (!sameList(before.uses, after.uses))
        reasons.push(`usages changed: ${before.uses.join(", ")} -> ${after.uses.join(", ")}`);
    // A CSR that waited for the ceremony had no certificate of the lifetime the plan assumed for it.
    if (before.validityDays !== after.validityDays && !firstSigned) {
        reasons.push(`validity changed: ${before.validityDays} -> ${after.validityDays} days`);
    }
    if (before.issuer !== after.issuer) reasons.push(`issuer changed: ${before.issuer} -> ${after.issuer}`);
    else if (after.issuer !== after.id && replacedIssuers.has(after.issuer))
        reasons.push(`issuer replaced: ${after.issuer}`);
    return reasons;
}

/** A customer-facing certificate the public CA signed anew: a new serial in config. */
function publicCertificateReasons(base: PkiPlan, head: PkiPlan, row: PlannedCertificate): string[] {
    if (row.role !== "customer-facing") return [];
    const serial = (plan: PkiPlan): string | undefined => {
        const given = plan.frontEnd.customerFacing.find((c) => c.host === row.host);
        return given !== undefined ? servedOf(given)?.serial : undefined;
    };
    const [before, after] = [serial(base), serial(head)];
    return before !== after ? [`the public CA's certificate given: serial ${before} -> ${after}`] : [];
}

/** The certificate the ceremony signed for a CA under an offline root, as config gives it; none while its CSR waits. */
const ceremonyCertificate = (plan: PkiPlan, id: string): string | undefined =>
    Object.values(plan.config.offlineRoots)
        .map((root) => root?.intermediates[id])
        .find((pem) => pem !== undefined);

/**
 * A CA under an offline root the ceremony signed anew (a new serial, whatever its lifetime): the
 * engine re-issues every certificate under it, as their issuer's certificate changed (caCertPem).
 * The first signature of a CSR that waited for the ceremony replaces no certificate.
 */
function ceremonyReasons(base: PkiPlan, head: PkiPlan, row: PlannedCertificate, firstSigned: boolean): string[] {
    const after = ceremonyCertificate(head, row.id);
    if (after === undefined) return [];
    const serial = (pem: string): string => new crypto.X509Certificate(pem).serialNumber;
    if (firstSigned) return [`signed: the ceremony signed its CSR, serial ${serial(after)}`];
    const before = ceremonyCertificate(base, row.id);
    return before !== undefined && serial(before) !== serial(after)
        ? [`the ceremony's certificate: serial ${serial(before)} -> ${serial(after)}`]
        : [];
}

/**
 * What a new or replaced certificate makes: a new key (or the same one) and a new certificate; a
 * customer-facing certificate comes from the public CA, for the key the stack made with its CSR.
 */
function newMaterial(row: PlannedCertificate, rekeyed: boolean, base: PkiPlan): string[] {
    if (row.role !== "customer-facing")
        return rekeyed ? ["new key", "new certificate"] : ["new certificate (same key)"];
    const requested = base.frontEnd.customerFacing.find((c) => c.host === row.host);
    const made = requested !== undefined && (requested.epoch === row.epoch || requested.certificateEpoch === row.epoch);
    const key = !rekeyed ? "same key" : made ? `the key of epoch ${row.epoch}, made with its CSR` : "new key";
    return [key, "the public CA's certificate"];
}

const keyOfEpoch = (epoch: number): string => `key of epoch ${epoch}`;

/** The client epoch of endpoint `id` in `plan`; undefined for an endpoint it does not have. */
const clientEpochOf = (plan: PkiPlan, id: string | undefined): number | undefined =>
    plan.endpoints.find((e) => e.id === id)?.client.epoch;

/**
 * Endpoints whose APIC client gets a new key under the same epoch (pki:keyAlgorithm changed): the
 * gateway pins only the new key, which no previous epoch's record names, so the key APIC holds is
 * refused from the update on, whatever the phase.
 */
function rekeyedInPlace(base: PkiPlan, head: PkiPlan): EndpointPlan[] {
    const before = new Map(base.endpoints.map((e) => [e.id, e]));
    return head.endpoints.filter((e) => {
        const old = before.get(e.id);
        return (
            old !== undefined &&
            old.client.epoch === e.client.epoch &&
            describeKey(old.client.key) !== describeKey(e.client.key)
        );
    });
}

/**
 * A switch entered again at the epoch the base finished (a roll-back while APIC lacks the new
 * keystore): pulumi up pins again the newest deployed key below that epoch unless it is revoked.
 * Diff has no record, so it takes that key to be the previous epoch's: it cannot know whether that
 * certificate expired (the record drops it, and pulumi up pins an older one still valid, or none),
 * nor, after a skipped epoch, that the newest key below is an older one, which its revocation unpins.
 */
function keyBeforeRepinned(head: PkiPlan, e: EndpointPlan): string[] {
    return e.client.epoch === 0 ? [] : keyBeforePinned(head, e.id, e.client.epoch);
}

/**
 * The key before `epoch` that a switch pins beside it, unless `plan` revokes the previous epoch's
 * (pulumi up unpins a revoked key at once, and revoking the previous key makes no new one, as the
 * client's epoch is already past it). As in keyBeforeRepinned, diff takes that key to be the
 * previous epoch's.
 */
function keyBeforePinned(plan: PkiPlan, id: string, epoch: number): string[] {
    const revoked = plan.config.revocations.some((r) => holderOf(r) === id && r.epoch === epoch - 1);
    return revoked ? [] : [`the key before epoch ${epoch}`];
}

/**
 * The pins of each endpoint in base and head. The head's previous key is the base's current one
 * when the head raised the epoch; a switch phase carried over keeps whatever the base pinned, and
 * one entered again at the same epoch pins the key before it again; either drops that key once the
 * previous epoch is revoked. A client re-keyed under the same epoch pins a new key of that epoch.
 */
function pinChanges(
    base: PkiPlan,
    head: PkiPlan,
): { pins: PinChange[]; refused: RefusedChange[]; headPins: Map<string, string[]> } {
    const baseEndpoints = new Map(base.endpoints.map((e) => [e.id, e]));
    const revokedEpochs = (plan: PkiPlan, id: string): number[] =>
        plan.config.revocations.filter((r) => holderOf(r) === id).map((r) => r.epoch);
    const rekeyed = new Set(rekeyedInPlace(base, head).map((e) => e.id));
    const pins: PinChange[] = [];
    const refused: RefusedChange[] = [];
    const headPinsOf = new Map<string, string[]>();
    for (const e of head.endpoints) {
        const old = baseEndpoints.get(e.id);
        if (old === undefined) continue;
        const basePins = [
            keyOfEpoch(old.client.epoch),
            ...(clientOverlap(base.config, e.id) ? keyBeforePinned(base, e.id, old.client.epoch) : []),
        ];
        const raised = e.client.epoch > old.client.epoch;
        const baseKeyRevoked = revokedEpochs(head, e.id).includes(old.client.epoch);
        const reentered = e.client.epoch === old.client.epoch && !clientOverlap(base.config, e.id);
        const previous = !clientOverlap(head.config, e.id)
            ? []
            : raised
              ? baseKeyRevoked
                  ? []
                  : [keyOfEpoch(old.client.epoch)]
              : reentered
                ? keyBeforeRepinned(head, e)
                : basePins.length > 1
                  ? keyBeforePinned(head, e.id, e.client.epoch)
                  : [];
        const current = rekeyed.has(e.id)
            ? `new ${describeKey(e.client.key)} ${keyOfEpoch(e.client.epoch)}`
            : keyOfEpoch(e.client.epoch);
        const headPins = [current, ...previous];
        headPinsOf.set(e.id, headPins);
        if (!sameList(basePins, headPins)) pins.push({ endpoint: e.id, before: basePins, after: headPins });
        if (raised && previous.length === 0 && !baseKeyRevoked) {
            refused.push({
                key: `pki:rotation.endpoints.${e.id}`,
                problem:
                    `the APIC client of endpoint "${e.id}" moves from epoch ${old.client.epoch} to ${e.client.epoch} with no overlap: the gateway would stop accepting the key APIC holds at once. ` +
                    `Set ${clientSwitchSetting(head.config, e.id)} to switch for this change, upload the new keystore, then set it to finish`,
            });
        }
        // The base pins two keys already: a new one would push out the one before, as pulumi up
        // refuses, unless a revocation ends one of those two anyway (pulumi up checks their
        // serials): the base's key, or the one pinned before it. Which epoch that was, stack files
        // do not say (epochs may jump: 0, then 2), so a revocation this change adds of any earlier
        // epoch may be it; one the base already carried frees no pin.
        const baseOverlap = clientOverlapCause(
            base.config,
            e.id,
            clientPhaseOf(base.config, e.id),
            base.config.caRotation,
        );
        const carried = new Set(revokedEpochs(base, e.id));
        const pinRevoked = revokedEpochs(head, e.id).some(
            (epoch) => epoch === old.client.epoch || (epoch < old.client.epoch && !carried.has(epoch)),
        );
        if (raised && baseOverlap !== undefined && !pinRevoked) {
            refused.push({
                key: `pki:rotation.endpoints.${e.id}`,
                problem: unpinnedUnderWay(e.id, undefined, old.client, e.client.epoch, baseOverlap),
            });
        }
    }
    return { pins, refused, headPins: headPinsOf };
}

/**
 * Domains whose Gateway the head would make too large for etcd with the keys it pins: the head's
 * plan, made with no record, counts one per endpoint, while a switch pins the base's key as well.
 */
function oversizedGateways(head: PkiPlan, headPins: ReadonlyMap<string, readonly string[]>): RefusedChange[] {
    return Object.keys(head.config.domains).flatMap((domain) => {
        const served = head.endpoints.filter((e) => e.domain === domain);
        const refusal = oversizedGateway(head.config, domain, served, (e) => headPins.get(e.id)?.length ?? 1);
        return refusal === undefined ? [] : [refusal];
    });
}

/**
 * Endpoints that keep their id in another domain (Option 2 and 3 drop a domain prefix the name
 * has: ob-cdr-cache in ob or in ob-cdr). Their gateway server key, certificate and Secret are
 * named after the domain's gateway (endpointResourceName): to Pulumi, new resources.
 */
function movedEndpoints(base: PkiPlan, head: PkiPlan): { before: EndpointPlan; after: EndpointPlan }[] {
    const before = new Map(base.endpoints.map((e) => [e.id, e]));
    return head.endpoints.flatMap((after) => {
        const old = before.get(after.id);
        return old !== undefined && endpointResourceName(old) !== endpointResourceName(after)
            ? [{ before: old, after }]
            : [];
    });
}

/** Endpoints that keep their id under another host (pki:baseDomain, an Option 3 group "ob-payee" renamed "payee"). */
function rehostedEndpoints(base: PkiPlan, head: PkiPlan): { before: EndpointPlan; after: EndpointPlan }[] {
    const before = new Map(base.endpoints.map((e) => [e.id, e]));
    return head.endpoints.flatMap((after) => {
        const old = before.get(after.id);
        return old !== undefined && old.host !== after.host ? [{ before: old, after }] : [];
    });
}

function routing(base: PkiPlan, head: PkiPlan): RoutingChange[] {
    const before = new Map<string, EndpointPlan>(base.endpoints.map((e) => [e.id, e]));
    return head.endpoints.flatMap((e) => {
        const old = before.get(e.id);
        return old && old.host === e.host && !sameList([...old.services].sort(), [...e.services].sort())
            ? [{ endpoint: e.id, host: e.host, before: old.services, after: e.services }]
            : [];
    });
}

/**
 * The endpoint of `head` serving `service`, which was in `domain`: its own domain's, else one the base
 * serves already in another domain (a name may be in several), else any.
 */
function homeOf(base: PkiPlan, head: PkiPlan, service: string, domain: string): EndpointPlan | undefined {
    const homes = head.endpoints.filter((h) => h.services.includes(service));
    const served = (h: EndpointPlan) => base.endpoints.some((b) => b.host === h.host);
    return homes.find((h) => h.domain === domain) ?? homes.find(served) ?? homes[0];
}

/**
 * Each Gateway the render writes, with its servers: apic-mtls-<domain> serves one per endpoint of its
 * domain; the customer-facing one each customer-facing host with a certificate (none: no Gateway).
 */
function gatewaysOf(plan: PkiPlan): { namespace: string; name: string; servers: GatewayServer[] }[] {
    const customer = plan.frontEnd.customerFacing
        .filter((c) => c.certificate !== undefined)
        .map((c) => ({ host: c.host, credentialName: c.secret.name }));
    return [
        ...plan.gateways.map((g) => ({
            namespace: g.namespace,
            name: g.name,
            servers: plan.endpoints
                .filter((e) => e.gatewayName === g.name)
                .map((e) => ({ host: e.host, credentialName: e.gatewaySecret.name })),
        })),
        ...(customer.length > 0
            ? [{ namespace: plan.frontEnd.gatewayNamespace, name: plan.frontEnd.gatewayName, servers: customer }]
            : []),
    ];
}

/**
 * Each Gateway's servers (gatewaysOf) by its file (gatewayPath: the cluster too, so a Gateway moved
 * to another cluster is one deleted and one created). All are in the gateway's cluster, the first
 * (lib/stack.ts).
 */
function gatewayServers(plan: PkiPlan): Map<string, GatewayServer[]> {
    const cluster = plan.config.clusters[0].name;
    return new Map(gatewaysOf(plan).map((g) => [gatewayPath(cluster, g.namespace, g.name), g.servers]));
}

/** The Gateways whose servers a change adds or removes (its pins are in CertDiff.pins). */
function gatewayChanges(base: PkiPlan, head: PkiPlan): GatewayChange[] {
    const before = gatewayServers(base);
    const after = gatewayServers(head);
    const key = (s: GatewayServer) => `${s.host} ${s.credentialName}`;
    const without = (a: readonly GatewayServer[], b: readonly GatewayServer[]) =>
        a.filter((s) => !b.some((t) => key(t) === key(s)));
    const changes: GatewayChange[] = [];
    for (const [gateway, servers] of after) {
        const old = before.get(gateway);
        const added = without(servers, old ?? []);
        const removed = without(old ?? [], servers);
        if (old === undefined) changes.push({ gateway, change: "create", added, removed });
        else if (added.length + removed.length > 0) changes.push({ gateway, change: "update", added, removed });
    }
    for (const [gateway, servers] of before) {
        if (!after.has(gateway)) changes.push({ gateway, change: "delete", added: [], removed: servers });
    }
    return changes;
}

/** Services that move together from one host to another. */
interface ServicesMoved {
    readonly from: string;
    readonly to: string;
    readonly services: string[];
}

/**
 * Services that leave a host the change keeps (the same endpoint serves it) for another host, of
 * their domain or another, often one the change adds: no certificate of the host they leave changes (the
 * diff lists them under routing), but APIC's endpoint URL for them does, and APIC can call them at a new host only
 * once the update has made its Secret and Gateway server.
 */
function servicesMoved(base: PkiPlan, head: PkiPlan): ServicesMoved[] {
    const kept = new Map(head.endpoints.map((e) => [`${e.id} ${e.host}`, e]));
    const moves = new Map<string, ServicesMoved>();
    for (const b of base.endpoints) {
        const after = kept.get(`${b.id} ${b.host}`);
        if (after === undefined) continue;
        for (const service of b.services.filter((s) => !after.services.includes(s))) {
            const to = homeOf(base, head, service, b.domain);
            if (to === undefined) continue;
            const pair = `${b.host} ${to.host}`;
            const move = moves.get(pair) ?? { from: b.host, to: to.host, services: [] };
            move.services.push(service);
            moves.set(pair, move);
        }
    }
    return [...moves.values()];
}

/** Every epoch the config sets, by config key (an endpoint without an entry is at 0). */
function configuredEpochs(
    config: PkiConfig,
    endpointIds: readonly string[],
    customerFacingHosts: readonly string[],
): Map<string, number> {
    const { rotation } = config;
    const epochs = new Map<string, number>(EPOCHS.map((key) => [`pki:rotation.${key}`, rotation[key]]));
    for (const id of endpointIds) {
        epochs.set(`pki:rotation.endpoints.${id}.serverEpoch`, ownMember(rotation.endpoints, id)?.serverEpoch ?? 0);
        epochs.set(`pki:rotation.endpoints.${id}.clientEpoch`, ownMember(rotation.endpoints, id)?.clientEpoch ?? 0);
    }
    for (const host of customerFacingHosts) {
        const { epoch, certificateEpoch } = config.frontEnd.customerFacing[host];
        epochs.set(`pki:frontEnd.customerFacing.${host}.epoch`, epoch);
        epochs.set(`pki:frontEnd.customerFacing.${host}.certificateEpoch`, certificateEpoch);
    }
    return epochs;
}

/**
 * A client certificate's holder, an endpoint's APIC client or a UI service calling APIC: what
 * revocations and epochs need to know of it.
 */
interface Client {
    /** Its key in the deployment record and in revocations (holderOf): the endpoint id, or `ui/<name>`. */
    readonly holder: string;
    /** Who holds it, and what it is, for sentences: `endpoint "ob"`, `APIC client`. */
    readonly whose: string;
    readonly what: string;
    readonly epoch: number;
    /** The config key that raises its epoch (a UI service's raises every UI service's), and its value. */
    readonly epochKey: string;
    readonly configured: number;
    /** What else raising that key renews, if anything. */
    readonly sharedEpoch: string;
    /** What taking its epoch back breaks. */
    readonly goingBack: string;
}

/** Every client certificate holder of a plan, by holder. */
function clientsOf(plan: PkiPlan): Map<string, Client> {
    const { rotation } = plan.config;
    const apic = plan.endpoints.map((e): Client => ({
        holder: e.id,
        whose: `endpoint "${e.id}"`,
        what: "APIC client",
        epoch: e.client.epoch,
        epochKey: `pki:rotation.endpoints.${e.id}.clientEpoch`,
        configured: ownMember(rotation.endpoints, e.id)?.clientEpoch ?? 0,
        sharedEpoch: "",
        goingBack: "a new key would replace the one APIC holds, with no overlap",
    }));
    const ui = plan.frontEnd.uiClients.map((c): Client => ({
        holder: uiClientRecordKey(c.name),
        whose: `UI service "${c.name}"`,
        what: "client certificate",
        epoch: c.leaf.epoch,
        epochKey: "pki:rotation.uiClientEpoch",
        configured: rotation.uiClientEpoch,
        sharedEpoch: " (which renews the other UI services' keys too)",
        goingBack:
            "the revoked certificate would leave the CRL and pass again, and a new key would replace the one in its Secret under a name an earlier key had",
    }));
    return new Map([...apic, ...ui].map((c) => [c.holder, c]));
}

const sameRevocation = (a: RevocationConfig, b: RevocationConfig): boolean =>
    holderOf(a) === holderOf(b) && normalSerial(a.serial) === normalSerial(b.serial);

/** The revocations of `plan` that `other` does not have. */
const revocationsNotIn = (plan: PkiPlan, other: PkiPlan): readonly RevocationConfig[] =>
    plan.config.revocations.filter((r) => !other.config.revocations.some((o) => sameRevocation(o, r)));

/**
 * Epochs that go down: refused, since an epoch names the keys it made (`<name>-r<epoch>`) and the
 * APIC certificates on record, and going back cannot bring an old key back. Removing a revocation
 * lowers the client's epoch too (a revocation raises it past the revoked one).
 */
function loweredEpochs(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    const baseEndpoints = new Set(base.endpoints.map((e) => e.id));
    const shared = head.endpoints.map((e) => e.id).filter((id) => baseEndpoints.has(id));
    const hosts = Object.keys(head.config.frontEnd.customerFacing).filter(
        (host) => ownMember(base.config.frontEnd.customerFacing, host) !== undefined,
    );
    const before = configuredEpochs(base.config, shared, hosts);
    const after = configuredEpochs(head.config, shared, hosts);
    const refused: RefusedChange[] = [];
    for (const [key, from] of before) {
        const to = after.get(key) ?? 0;
        if (to < from) {
            const named = key.startsWith("pki:frontEnd.customerFacing.")
                ? "the key it made (<name>-r<epoch>) and the pin on record that a public CA's certificate is checked against, " +
                  "so going back would make a new key under a name already used, whose CSR no public CA signed"
                : "the keys it made (<name>-r<epoch>) and the APIC certificates on record, " +
                  "so going back would make a new key under a name already used and pin the wrong history at the gateway";
            refused.push({
                key,
                problem: `goes down from ${from} to ${to}; epochs only go up: an epoch names ${named}, and never brings the old key back. Keep ${from}, or raise it to ${from + 1} to rotate again`,
            });
        }
    }
    const lowered = new Set(refused.map((r) => r.key));
    const baseClients = clientsOf(base);
    for (const client of clientsOf(head).values()) {
        const old = baseClients.get(client.holder);
        const dropped = revocationsNotIn(base, head).filter((r) => holderOf(r) === client.holder);
        if (old === undefined || dropped.length === 0) continue;
        if (client.epoch >= old.epoch) {
            refused.push(...stillValidRevocations(base, head, client, dropped));
            continue;
        }
        if (lowered.has(client.epochKey)) continue;
        const keep = client.configured + old.epoch - client.epoch;
        refused.push({
            key: "pki:revocations",
            problem:
                `removing the revocation of serial ${list(dropped.map((r) => r.serial))} (${client.whose}) takes its ${client.what} back from epoch ${old.epoch} to ${client.epoch}: ` +
                `${client.goingBack}. Keep the entry until the certificate would have expired (pulumi up refuses dropping it while the certificate is valid, whatever the epochs); only then drop it, setting ${client.epochKey} to ${keep} in the same change${client.sharedEpoch}`,
        });
    }
    return refused;
}

/**
 * The revocations whose certificates may still be valid at `now`, each with the latest day it may
 * be: a diff has no record of the certificate, so it bounds its life by the revocation's date plus
 * the leaf validity and CLOCK_SKEW_MS (pulumi up knows it from the record). That bound holds only
 * for a revocation an update took: the update refuses a revokedAt more than CLOCK_SKEW_MS before
 * the certificate's notBefore (planPki), and a base that was never deployed is not checked here;
 * and for a leaf validity not shortened since the certificate was issued (the README says so).
 */
const mayStillBeValid = (revocations: readonly RevocationConfig[], validityDays: number, now: Date) =>
    revocations
        .map((r) => ({ r, until: new Date(Date.parse(r.revokedAt) + validityDays * DAY_MS + CLOCK_SKEW_MS) }))
        .filter(({ until }) => until.getTime() > now.getTime());

/**
 * Revocations removed with the client's epoch kept whose certificates may still be valid: their
 * serials would leave the CRL, and pulumi up refuses that until the certificate expires (the
 * deployment record knows when; the diff bounds it as mayStillBeValid does).
 */
function stillValidRevocations(
    base: PkiPlan,
    head: PkiPlan,
    client: Client,
    dropped: readonly RevocationConfig[],
): RefusedChange[] {
    const now = head.now;
    const uiService = uiClientOfRecordKey(client.holder);
    const leafOf = (plan: PkiPlan) =>
        uiService !== undefined
            ? plan.frontEnd.uiClients.find((c) => c.name === uiService)?.leaf
            : plan.endpoints.find((e) => e.id === client.holder)?.client;
    const validityDays = Math.max(leafOf(base)?.validityDays ?? 0, leafOf(head)?.validityDays ?? 0);
    return mayStillBeValid(dropped, validityDays, now).map(({ r, until }) => ({
        key: "pki:revocations",
        problem:
            `removing the revocation of serial ${r.serial} (${client.whose}) takes it out of the CRL while the certificate may still be valid (revoked ${r.revokedAt}; its certificates live ${validityDays} days): ` +
            `the leaked certificate would pass again wherever the CRL is checked, and pulumi up refuses it while the certificate is valid. Keep the entry until ${until.toISOString().slice(0, 10)} at least`,
    }));
}

/**
 * Revocations of a UI service the head removes from pki:frontEnd.callers, whose certificates may
 * still be valid and whose issuing CA is not retired by the head (it keeps that CA, or no UI client
 * CA at all, leaving APIC's truststore as it is): APIC accepts every certificate of the UI client
 * CA, so the serial leaving the CRL lets the leaked certificate in again. pulumi up refuses it
 * (from the deployment record); the diff bounds the certificate's life as stillValidRevocations does.
 */
function removedCallersRevocations(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    const now = head.now;
    const uiLegLeft = !head.cas.some((ca) => ca.slot === "uiClientCa");
    return goneCallers(base, head).flatMap((name) => {
        const leaf = base.frontEnd.uiClients.find((c) => c.name === name)?.leaf;
        if (leaf === undefined || !(uiLegLeft || head.cas.some((ca) => ca.id === leaf.issuer))) return [];
        const revoked = base.config.revocations.filter((r) => r.uiClient === name);
        return mayStillBeValid(revoked, leaf.validityDays, now).map(({ r, until }) => ({
            key: "pki:frontEnd.callers",
            problem:
                `removing UI service "${name}" takes its revocation of serial ${r.serial} out of the CRL while the certificate may still be valid (revoked ${r.revokedAt}; its certificates live ${leaf.validityDays} days): ` +
                `APIC accepts every certificate of the UI client CA, so where it checks that CRL the leaked certificate would pass again, and pulumi up refuses it while the certificate is valid. ` +
                `Keep "${name}" in pki:frontEnd.callers with its revocation until ${until.toISOString().slice(0, 10)} at least, or first take pki:caRotation.uiClientCa through its finish`,
        }));
    });
}

function revocationChanges(base: PkiPlan, head: PkiPlan): RevocationChange[] {
    const epochs = { base: clientsOf(base), head: clientsOf(head) };
    const change = (kind: RevocationChange["change"], r: RevocationConfig, plan: PkiPlan): RevocationChange => {
        const before = epochs.base.get(holderOf(r))?.epoch;
        const after = epochs.head.get(holderOf(r))?.epoch;
        const host = plan.endpoints.find((e) => e.id === r.endpoint)?.host;
        return {
            change: kind,
            ...(r.endpoint !== undefined ? { endpoint: r.endpoint } : { uiClient: r.uiClient }),
            serial: r.serial,
            epoch: r.epoch,
            reason: r.reason,
            revokedAt: r.revokedAt,
            ...(host !== undefined ? { host } : {}),
            ...(before !== undefined && after !== undefined && before !== after
                ? { clientEpoch: { before, after } }
                : {}),
        };
    };
    return [
        ...revocationsNotIn(head, base).map((r) => change("added", r, head)),
        ...revocationsNotIn(base, head).map((r) => change("removed", r, base)),
    ];
}

/**
 * The CAs whose CRL a revocation changes: the one that issued the certificate (lib/stack.ts
 * revokedBy), which the stack files tell only in part. The base's client of the revoked epoch was
 * issued by its CA; an earlier certificate by a generation of that slot in use by the base, so not
 * by one the base only prepared (it has issued nothing yet).
 */
function revokedIssuers(base: PkiPlan, r: RevocationChange): string[] {
    const endpoint = base.endpoints.find((e) => e.id === r.endpoint);
    const uiClient = base.frontEnd.uiClients.find((c) => c.name === r.uiClient);
    const client = endpoint?.client ?? uiClient?.leaf;
    if (client?.issuer === undefined) return [];
    if (client.epoch === r.epoch) return [client.issuer];
    const active = base.cas.find((c) => c.id === client.issuer);
    if (active === undefined) return [client.issuer];
    return base.cas.filter((c) => c.slotId === active.slotId && c.generation <= active.generation).map((c) => c.id);
}

/** How a certificate id changed between the plans, for the items that carry it. */
interface Changes {
    replaced: ReadonlySet<string>;
    newKey: Set<string>;
    /** CA id -> what its CRL now lists differently. */
    crlNews: Map<string, string[]>;
}

/** A content as a place's row names it: the place's own leaf and key need no name. */
function contentName(c: Content, leaf: string | undefined): string {
    const own = c.id === leaf;
    if (c.kind === "cert") return own ? "its certificate" : c.id;
    if (c.kind === "key") return own ? "its key" : `key of ${c.id}`;
    return `CRL of ${c.id}`;
}

const contentKey = (c: Content): string => `${c.kind}:${c.id}`;

function newsOf(c: Content, changes: Changes): string[] {
    return c.kind === "crl" ? (changes.crlNews.get(c.id) ?? []) : [];
}

/** What changed in one item (a secret key or bundle file) of an existing place; undefined when nothing did. */
function describeItem(
    before: readonly Content[] | undefined,
    after: readonly Content[] | undefined,
    leaf: string | undefined,
    changes: Changes,
): string | undefined {
    const name = (c: Content) => contentName(c, leaf);
    const withNews = (c: Content): string => {
        const news = newsOf(c, changes);
        return news.length > 0 ? `${name(c)} (${news.join("; ")})` : name(c);
    };
    if (after === undefined) return before === undefined ? undefined : "removed";
    if (before === undefined) return `new: ${after.map(withNews).join(", ")}`;
    const beforeKeys = before.map(contentKey);
    const afterKeys = after.map(contentKey);
    const parts: string[] = [];
    const added = after.filter((c) => !beforeKeys.includes(contentKey(c)));
    const removed = before.filter((c) => !afterKeys.includes(contentKey(c)));
    if (added.length === 1 && removed.length === 1) {
        parts.push(`${name(removed[0])} -> ${withNews(added[0])}`);
    } else {
        if (added.length > 0) parts.push(`+ ${added.map(withNews).join(", ")}`);
        if (removed.length > 0) parts.push(`- ${removed.map(name).join(", ")}`);
    }
    const kept = after.filter((c) => beforeKeys.includes(contentKey(c)));
    if (added.length + removed.length === 0 && !sameList(beforeKeys, afterKeys)) {
        parts.push(`now ${after.map(name).join(", ")} (the first is in use)`);
    }
    for (const c of kept) {
        const replaced = changes.replaced.has(c.id);
        if (c.kind === "cert" && replaced) {
            const how = changes.newKey.has(c.id) ? "re-issued with a new key" : "re-issued (same key)";
            parts.push(name(c) === "its certificate" ? how : `${name(c)} ${how}`);
        } else if (c.kind === "key" && changes.newKey.has(c.id)) {
            parts.push(`new ${name(c).replace(/^its /, "")}`);
        } else if (c.kind === "crl") {
            const news = newsOf(c, changes);
            if (replaced) parts.push(`${name(c)} signed by the re-issued CA`);
            if (news.length > 0) parts.push(`${name(c)} ${news.join("; ")}`);
        }
    }
    return parts.length > 0 ? [...new Set(parts)].join("; ") : undefined;
}

function placeChanges(basePlaces: readonly Place[], headPlaces: readonly Place[], changes: Changes): PlaceChange[] {
    const before = new Map(basePlaces.map((p) => [p.id, p]));
    const after = new Map(headPlaces.map((p) => [p.id, p]));
    const out: PlaceChange[] = [];
    for (const p of headPlaces) {
        const old = before.get(p.id);
        if (old === undefined) {
            // What a new place holds is in the certificates added; its items are enough here.
            const items = Object.keys(p.items).map((item) => ({ item, change: "new" }));
            out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "create", items });
            continue;
        }
        const names = [...new Set([...Object.keys(old.items), ...Object.keys(p.items)])];
        const items = names.flatMap((item) => {
            const change = describeItem(old.items[item], p.items[item], p.leaf, changes);
            return change !== undefined ? [{ item, change }] : [];
        });
        // A file written another way is new bytes to load, though it holds the same key and certificates;
        // one written the same way holds whatever its place's items now hold (a client.p12 the new key).
        const changedItems = items.map((i) => i.item);
        for (const [item, how] of Object.entries(p.written ?? {})) {
            const was = old.written?.[item];
            if (was !== undefined && was !== how) items.push({ item, change: `rewritten: ${was} -> ${how}` });
            else if (changedItems.length > 0)
                items.push({ item, change: `written again with the new ${list(changedItems)}` });
        }
        if (items.length > 0) out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "update", items });
    }
    for (const p of basePlaces) {
        if (!after.has(p.id)) out.push({ place: p.id, kind: p.kind, owner: p.owner, change: "delete", items: [] });
    }
    return out;
}

/**
 * The places after the update of a head whose CSRs still wait for the ceremony: the base's, as it
 * deployed them (nothing is deleted or rewritten), with the cacerts of every mesh CA signed by then
 * (MeshPluginCa holds back only a pending CA's).
 */
function placesWhileWaiting(basePlaces: readonly Place[], head: WaitingForCeremony): Place[] {
    const cacerts = new Map(head.places.map((p) => [p.id, p]));
    const kept = basePlaces.map((p) => cacerts.get(p.id) ?? p);
    const ids = new Set(kept.map((p) => p.id));
    return [...kept, ...[...cacerts.values()].filter((p) => !ids.has(p.id))];
}

/** Why diff cannot tell whether istiod's cacerts carries ca-crl.pem: the record knows, not the stack file. */
const removedCluster = (when: "ever" | "before this change"): string =>
    `if a cluster was ${when === "ever" ? "ever removed from pki:clusters" : "removed from pki:clusters before this change"}, ` +
    "every cluster's cacerts carries ca-crl.pem from then on (stack files cannot show it)";

/**
 * ca-crl.pem of every cluster's cacerts, where the base's config does not show it published: once
 * a cluster was removed, it is published from the deployed record (crlsPublished), whatever the
 * stack files say. An item the head publishes is "new" only if no cluster was ever removed; one
 * it does not publish may change all the same, when the mesh's CRLs (meshCrls) come or go. Adds that to
 * the cacerts rows; returns what changes in ca-crl.pem, if it may change unseen.
 */
function unseenMeshCrls(base: PkiPlan, head: PkiPlan, places: PlaceChange[], changes: Changes): string | undefined {
    if (crlsPublished(base).mesh) return undefined;
    const [before, after] = [meshCrls(base), meshCrls(head)];
    const change = describeItem(before, after, undefined, changes);
    const cacerts = places.filter((p) => p.kind === "istiod cacerts" && p.change !== "delete");
    if (crlsPublished(head, base).mesh) {
        for (const i of cacerts.filter((p) => p.change === "update").flatMap((p) => p.items)) {
            if (i.item === "ca-crl.pem" && i.change.startsWith("new: ")) {
                i.change += `; or, ${removedCluster("before this change")}: ${change ?? "unchanged"}`;
            }
        }
        return undefined;
    }
    // Clusters added, removed or renamed, mesh CA or root generations come or go: the CRLs it holds change.
    if (change === undefined || sameList(before.map(contentKey), after.map(contentKey))) return undefined;
    for (const p of cacerts) {
        const written = p.change === "create" ? describeItem(undefined, after, undefined, changes) : change;
        p.items.push({ item: "ca-crl.pem", change: `may also change: ${removedCluster("ever")}: ${written}` });
    }
    return change;
}

/** The places that carry each certificate or key id. */
function carriersById(places: readonly Place[]): Map<string, Place[]> {
    const byId = new Map<string, Place[]>();
    for (const p of places) {
        for (const c of new Set(Object.values(p.items).flatMap((items) => items.map((x) => x.id)))) {
            const carriers = byId.get(c);
            if (carriers === undefined) byId.set(c, [p]);
            else carriers.push(p);
        }
    }
    return byId;
}

/**
 * The cacerts (place ids) whose update a running istiod refuses to load: istiod compares the new
 * root-cert.pem with the one it loaded and, unless one holds every certificate of the other (and
 * ISTIO_MULTIROOT_MESH is set), logs "updating new ROOT-CA not supported" and keeps signing with
 * the CA it has until it restarts (istio/istio pilot/pkg/bootstrap/istio_ca.go, handleEvent). A
 * re-issued root is another certificate, even with its key and subject.
 */
function cacertsIstiodKeepsOld(
    basePlaces: readonly Place[],
    headPlaces: readonly Place[],
    replaced: ReadonlySet<string>,
): Set<string> {
    const rootsOf = (p: Place | undefined): string[] => (p?.items["root-cert.pem"] ?? []).map((c) => c.id);
    const holds = (bundle: readonly string[], other: readonly string[]) =>
        other.every((id) => bundle.includes(id) && !replaced.has(id));
    const refused = new Set<string>();
    for (const p of headPlaces.filter((h) => h.kind === "istiod cacerts")) {
        const before = rootsOf(basePlaces.find((b) => b.id === p.id));
        const after = rootsOf(p);
        if (before.length > 0 && !holds(before, after) && !holds(after, before)) refused.add(p.id);
    }
    return refused;
}

/** What is uploaded to APIC, and what one of each serves. */
const APIC_KINDS: readonly (readonly [PlaceKind, string])[] = [
    ["APIC keystore", "endpoints"],
    ["APIC truststore", "endpoints"],
    ["APIC UI-facing keystore", "hosts"],
    ["APIC UI truststore", "truststores"],
];

/** The forces of one certificate: the places that carry it, with their verb ("new" for an APIC bundle updated). */
function deliveryForces(
    carrying: readonly Place[],
    verbs: ReadonlyMap<string, PlaceChange["change"]>,
    istiodKeepsOld: ReadonlySet<string>,
    newIstiodCa: ReadonlySet<string>,
): string[] {
    const verbOf = (p: Place): PlaceChange["change"] => verbs.get(p.id) ?? "update";
    const out: string[] = [];
    for (const verb of ["create", "update", "delete"] as const) {
        const mine = carrying
            .filter((p) => isSecret(p.kind))
            .filter((p) => verbOf(p) === verb)
            .map((p) => p.id);
        if (mine.length > 0)
            out.push(mine.length <= 3 ? `${verb} secret ${mine.join(", ")}` : `${verb} ${mine.length} secrets`);
    }
    for (const [kind, owners] of APIC_KINDS) {
        for (const verb of ["create", "update", "delete"] as const) {
            const n = carrying.filter((p) => p.kind === kind && verbOf(p) === verb).length;
            if (n > 0) out.push(`${verb === "update" ? "new" : verb} ${kind}${n > 1 ? ` (${n} ${owners})` : ""}`);
        }
    }
    const cacerts = carrying.filter((p) => p.kind === "istiod cacerts" && verbOf(p) === "update");
    const reloaded = cacerts.filter((p) => !istiodKeepsOld.has(p.id));
    const restarted = cacerts.filter((p) => istiodKeepsOld.has(p.id));
    // Only a new ca-cert.pem makes istiod sign with another CA; a new root alone changes what it trusts.
    const signing = reloaded.filter((p) => newIstiodCa.has(p.id)).map((p) => p.owner);
    const trusting = reloaded.filter((p) => !newIstiodCa.has(p.id)).map((p) => p.owner);
    if (signing.length > 0) {
        out.push(
            `istiod of ${list(signing)} reloads cacerts; workloads get certificates of the new CA within their TTL`,
        );
    }
    if (trusting.length > 0) out.push(`istiod of ${list(trusting)} reloads cacerts`);
    if (restarted.length > 0) {
        out.push(
            `restart istiod of ${list(restarted.map((p) => p.owner))}, which keeps the root it loaded until then, and then the workloads`,
        );
    }
    return out;
}

/**
 * CAs re-issued, added or removed outside a staged rotation (pki:caRotation), with what that
 * breaks: a root whose key or subject changes is a new trust anchor for its whole domain at once.
 */
function caRisks(
    base: PkiPlan,
    head: PkiPlan,
    certs: { added: CertChange[]; removed: CertChange[]; replaced: CertChange[] },
    rotating: ReadonlySet<CaSlot>,
): Risk[] {
    const cas = new Map<string, CaPlan>([...base.cas, ...head.cas].map((c) => [c.id, c]));
    const rootSlotOfCa = (ca: CaPlan): RootSlot =>
        rootSlotOf(ca.slot, (head.cas.includes(ca) ? head : base).config.trustDomains);
    const staged = (ca: CaPlan): boolean => rotating.has(ca.slot) || rotating.has(rootSlotOfCa(ca));
    const clusters = (plan: PkiPlan) => plan.config.clusters.map((c) => c.name);
    const risks: Risk[] = [];
    const droppedClusters = clusters(base).filter((c) => !clusters(head).includes(c));
    // A cluster renamed on the same context is clusterRisks' (it fails, rather than removes).
    const renamedAway = new Set(renamedClusters(base, head).map(({ before }) => before.name));
    const removedClusters = droppedClusters.filter((c) => !renamedAway.has(c));
    if (removedClusters.length > 0) {
        // Revoked, since their keys were in the cluster's cacerts: under a root the head keeps (planPki's leavingMeshCas).
        const revoked = meshCasRevokedSince(base, head).filter((c) => removedClusters.includes(c.cluster ?? ""));
        const roots = [...new Set(revoked.map((c) => c.issuer ?? ""))];
        risks.push({
            key: "pki:clusters",
            change:
                `removes ${plural(removedClusters.length, "cluster")} ${list(removedClusters)}: its mesh CA and istiod's cacerts secret are deleted` +
                (revoked.length > 0
                    ? `; ${list(revoked.map((c) => c.id))} revoked in the CRL of ${list(roots)}, which every other cluster's cacerts carries (ca-crl.pem): ` +
                      "sidecars refuse them, but not istiod, which checks its clients (port 15012: certificate signing, SDS) against root-cert.pem with no CRL"
                    : ""),
            breaks: "istiod there falls back to a self-signed CA at its next restart: its workloads and the rest of the mesh then refuse each other",
            instead:
                "remove the cluster's workloads and istiod first, then the cluster from pki:clusters" +
                // istiod's port 15012 reads no CRL: only a new mesh root ends that key there (meshRootReplacement).
                (revoked.length > 0
                    ? `; if a copy of its cacerts may outlive it (etcd backups), replace the mesh root too (${meshRootReplacement(head.config)}): ` +
                      "until then that key gets certificates of the current mesh CA, and as the ingress gateway its credentials (server keys) through SDS, from the other clusters' istiod"
                    : ""),
        });
    }
    const isCa = (c: CertChange) => cas.has(c.id);
    const caOf = (c: CertChange) => cas.get(c.id) as CaPlan;
    const inCluster = (c: CertChange, names: readonly string[]) => names.includes(caOf(c).cluster ?? "");
    const newClusters = clusters(head).filter((c) => !clusters(base).includes(c));
    // The UI client root and CA come with the first UI service calling APIC and go with the last:
    // nothing trusted them before, nothing needs them after (frontEndRisks says what a caller removed breaks).
    const uiLeg = (c: CertChange, plan: PkiPlan) =>
        (caOf(c).slot === "uiClientCa" || caOf(c).slot === "uiClientRoot") && plan.frontEnd.uiClients.length === 0;
    const outside = [
        // A mesh CA epoch (pki:rotation.meshEpoch) re-keys in one step on purpose: the mesh trusts the root.
        // The ceremony's first signature of a CA's CSR re-issues nothing: no certificate was made before.
        ...certs.replaced.filter(
            (c) => isCa(c) && !c.reasons.every((r) => r.startsWith("rotation forced") || r.startsWith("signed:")),
        ),
        ...certs.added.filter((c) => isCa(c) && !staged(caOf(c)) && !inCluster(c, newClusters) && !uiLeg(c, base)),
        ...certs.removed.filter(
            (c) => isCa(c) && !staged(caOf(c)) && !inCluster(c, droppedClusters) && !uiLeg(c, head),
        ),
    ];
    if (outside.length === 0) return risks;
    const causes = CA_CAUSES.filter((c) => c.changed(base.config, head.config));
    const newAnchor = (c: CertChange): boolean =>
        c.role === "root" &&
        (c.before === undefined ||
            c.after === undefined ||
            c.before.subject !== c.after.subject ||
            c.before.key !== c.after.key);
    const anchorSlots = [...new Set(outside.filter(newAnchor).map((c) => rootSlotOfCa(caOf(c))))];
    const roots = outside.filter((c) => c.role === "root").map((c) => c.id);
    const others = outside.filter((c) => c.role !== "root").map((c) => c.id);
    const what = [
        roots.length > 0 ? `${plural(roots.length, "root")} (${roots.join(", ")})` : "",
        others.length > 0 ? `${plural(others.length, "issuing CA")} (${others.join(", ")})` : "",
    ].filter((p) => p !== "");
    const leaves = certs.replaced.filter((c) => !isCa(c) && c.reasons.some((r) => r.startsWith("issuer"))).length;
    risks.push({
        key: causes.map((c) => c.key).join(", ") || changedKeys(base, head).join(", "),
        change:
            `re-issues ${list(what)} at once, outside a staged rotation (pki:caRotation)` +
            (leaves > 0 ? `, and with them ${plural(leaves, "leaf certificate")}` : ""),
        breaks:
            anchorSlots.length > 0
                ? anchorSlots.includes("root") || base.config.trustDomains !== head.config.trustDomains
                    ? rootBreaks(["root"], head)
                    : rootBreaks(anchorSlots, head)
                : roots.length > 0
                  ? ROOTS_KEPT_BREAKS
                  : "nothing at once, since peers trust the root, which stays; but every certificate these CAs signed is re-issued in the same update, and the old CA is never revoked in its root's CRL as a staged rotation's finish does",
        instead:
            causes.map((c) => `${c.key}: ${c.instead}`).join(" ") ||
            "rotate CAs in stages (pki:caRotation: prepare, switch, finish), one reviewed change each",
    });
    return risks;
}

/** Endpoints of the base whose host the head no longer has. */
function droppedEndpoints(base: PkiPlan, head: PkiPlan): EndpointPlan[] {
    const hosts = new Set(head.endpoints.map((e) => e.host));
    return base.endpoints.filter((e) => !hosts.has(e.host));
}

/**
 * The settings that changed which endpoint serves which host: pki:baseDomain, pki:option, and
 * those of `domains` that changed.
 */
function layoutKeys(base: PkiPlan, head: PkiPlan, domains: readonly string[]): string {
    const domainChanged = (d: string) =>
        JSON.stringify(ownMember(base.config.domains, d)) !== JSON.stringify(ownMember(head.config.domains, d));
    return [
        ...(base.config.baseDomain !== head.config.baseDomain ? ["pki:baseDomain"] : []),
        ...(base.config.option !== head.config.option ? ["pki:option"] : []),
        ...[...new Set(domains)].filter(domainChanged).map((d) => `pki:domains.${d}`),
    ].join(", ");
}

/** The head's endpoints of a dropped endpoint's domain that serve one of its services at a host the base does not serve. */
function newHomes(base: PkiPlan, head: PkiPlan, e: EndpointPlan): EndpointPlan[] {
    const served = new Set(base.endpoints.map((b) => b.host));
    return head.endpoints.filter(
        (h) => h.domain === e.domain && !served.has(h.host) && h.services.some((s) => e.services.includes(s)),
    );
}

/** The Option 3 group whose endpoint `e` is, if any. */
function groupOf(plan: PkiPlan, e: EndpointPlan): string | undefined {
    if (plan.config.option !== 3) return undefined;
    const groups = Object.keys(ownMember(plan.config.domains, e.domain)?.groups ?? {});
    return groups.find((g) => endpointIdOf(e.domain, g) === e.id);
}

/** The service a group is named after, which it must hold: it takes that service's endpoint name (validateGroups). */
function namesakeOf(plan: PkiPlan, domain: string, group: string): string | undefined {
    return (ownMember(plan.config.domains, domain)?.services ?? []).find(
        (s) => s.toLowerCase() === group || endpointIdOf(domain, s.toLowerCase()) === endpointIdOf(domain, group),
    );
}

/** A dropped host that cannot be served beside its new one, why, and what to keep instead. */
interface Blocked {
    readonly endpoint: EndpointPlan;
    /** Its Option 3 group, when that is what stops it (not an endpoint name kept under another host). */
    readonly group?: string;
    readonly why: string;
    readonly keep: string;
}

/**
 * Within one layout (pki:option and pki:baseDomain kept), what stops the dropped endpoint `e` from
 * being served beside the new hosts of its services: an endpoint name serves one host, and a new
 * Option 3 group comes only with the services moved into it, which the old group holds until then
 * (a service is in exactly one group), however many it holds. Undefined when nothing does: the
 * new endpoints can be added first.
 */
function notBeside(base: PkiPlan, head: PkiPlan, e: EndpointPlan): Blocked | undefined {
    const homes = newHomes(base, head, e);
    if (homes.length === 0) return undefined;
    const group = groupOf(base, e);
    const keep = group !== undefined ? `group ${group}` : `service ${e.services[0]}`;
    const sameName = homes.find((h) => h.id === e.id);
    if (sameName !== undefined) {
        return {
            endpoint: e,
            why: `endpoint ${e.id} would serve both ${e.host} and ${sameName.host}, and an endpoint serves one host`,
            keep,
        };
    }
    if (group === undefined) return undefined;
    const newGroups = homes.map((h) => groupOf(head, h) ?? h.id);
    return {
        endpoint: e,
        group,
        why:
            e.services.length === 1
                ? `group ${group} of pki:domains.${e.domain} holds only ${e.services[0]}, which can be in one group only, and a group holds at least one service`
                : `group ${group} of pki:domains.${e.domain} holds ${list(e.services)}, each of which can be in one group only: ` +
                  `their new ${newGroups.length === 1 ? "group" : "groups"} ${list(newGroups)} ${newGroups.length === 1 ? "comes" : "each come"} ` +
                  `with the first of them moved into it, and ${group} goes with the last`,
        keep,
    };
}

/** A service kept in its blocked group while the rest of the change is made first, and its new endpoint. */
interface KeptBack {
    readonly blocked: Blocked;
    readonly service: string;
    readonly to: EndpointPlan;
}

/**
 * For each blocked Option 3 group, a service to keep in it while the rest of the change is made
 * first: the group's host then stays beside the new ones until APIC has moved, and moving that
 * service last drops it with nothing new to wait for, if the service's new group holds a service
 * not kept back, so that the first change serves its host too. A host the base serves is no
 * exception: left empty, its group would be dropped by the first change and come back with the
 * second. A group named after a service must hold it, so only that one can stay in it, and none
 * can stay out of a group named after it (validateGroups): a service of the head's domain, which
 * the first change holds, whether or not the base's held it. Undefined when some blocked host has
 * no such service.
 */
function keptBack(head: PkiPlan, blocked: readonly Blocked[]): KeptBack[] | undefined {
    const kept: KeptBack[] = [];
    const servedBy = (service: string, to: EndpointPlan): boolean =>
        namesakeOf(head, to.domain, groupOf(head, to) ?? "") !== service &&
        to.services.some((s) => s !== service && !kept.some((k) => k.to.domain === to.domain && k.service === s));
    for (const b of blocked) {
        const { endpoint: e, group } = b;
        if (group === undefined) return undefined;
        const namesake = namesakeOf(head, e.domain, group);
        const home = (s: string) => head.endpoints.find((h) => h.domain === e.domain && h.services.includes(s));
        const service = (namesake !== undefined ? [namesake] : e.services).find((s) => {
            const to = home(s);
            return to !== undefined && servedBy(s, to);
        });
        if (service === undefined) return undefined;
        kept.push({ blocked: b, service, to: home(service) as EndpointPlan });
    }
    // A later one may have kept back the only service an earlier one's new host was left with.
    return kept.every((k) => servedBy(k.service, k.to)) ? kept : undefined;
}

/** A service kept back (keptBack's), and the group it passes through when the first change cannot add its new one. */
interface KeptThrough extends KeptBack {
    readonly via?: EndpointPlan;
}

/**
 * The change in three, where keptBack finds none in two and no group of the domain stays to pass
 * services through (bridgeOf), as when a single group is split into groups of one. The first
 * change keeps one service in each blocked group and adds the head's other groups, whose services
 * come from hosts it keeps; the second moves each kept service into a group the first serves
 * (`via`, unless that is its own new group), which drops these hosts; the third moves them on to
 * their new groups, from hosts it keeps. So a group of the first change holds a service not kept
 * back, is not named after a kept one (it would have to hold it: validateGroups) and does not take
 * a kept group's endpoint name; a new group holding only kept services waits for the third change,
 * and no group the base serves may. Undefined when some domain has no group to pass through.
 */
function keptBackThrough(base: PkiPlan, head: PkiPlan, blocked: readonly Blocked[]): KeptThrough[] | undefined {
    const kept: KeptBack[] = [];
    const home = (domain: string, s: string) =>
        head.endpoints.find((h) => h.domain === domain && h.services.includes(s));
    const namedAfter = (h: EndpointPlan) => namesakeOf(head, h.domain, groupOf(head, h) ?? "");
    for (const b of blocked) {
        const { endpoint: e, group } = b;
        if (group === undefined) return undefined;
        const namesake = namesakeOf(head, e.domain, group);
        // A service whose new group is not named after it, if any: that group need not wait for it.
        const candidates = (namesake !== undefined ? [namesake] : e.services).filter((s) => home(e.domain, s));
        const service = candidates.find((s) => namedAfter(home(e.domain, s) as EndpointPlan) !== s) ?? candidates[0];
        if (service === undefined) return undefined;
        kept.push({ blocked: b, service, to: home(e.domain, service) as EndpointPlan });
    }
    const isKept = (domain: string, s: string | undefined) =>
        kept.some((k) => k.to.domain === domain && k.service === s);
    const inFirst = (h: EndpointPlan) => h.services.some((s) => !isKept(h.domain, s));
    const first = head.endpoints.filter(inFirst);
    const keptHosts = head.endpoints.filter((h) => base.endpoints.some((b) => b.id === h.id && b.host === h.host));
    if (
        first.some((h) => isKept(h.domain, namedAfter(h))) ||
        first.some((h) => kept.some((k) => k.blocked.endpoint.id === h.id)) ||
        !keptHosts.every(inFirst)
    )
        return undefined;
    const through = kept.map((k): KeptThrough => {
        if (inFirst(k.to)) return k;
        const groups = first.filter((h) => h.domain === k.to.domain && groupOf(head, h) !== undefined);
        return { ...k, via: groups.find((h) => keptHosts.includes(h)) ?? groups[0] };
    });
    return through.every((k) => inFirst(k.to) || k.via !== undefined) ? through : undefined;
}

/** A group of `domain` whose endpoint and host the change keeps, so that services can pass through it. */
function bridgeOf(base: PkiPlan, head: PkiPlan, domain: string): string | undefined {
    const kept = new Set(head.endpoints.map((h) => `${h.id} ${h.host}`));
    const bridge = base.endpoints.find((b) => b.domain === domain && kept.has(`${b.id} ${b.host}`));
    return bridge !== undefined ? groupOf(base, bridge) : undefined;
}

const MAINTENANCE_WINDOW =
    "make the change in a maintenance window: before it, check that the new hosts resolve to the ingress gateway; " +
    "in it, run pulumi up, then at once route the new hosts (their VirtualServices) and configure APIC for them as the steps after the update say and point its API definitions at them";

/**
 * What routes `hosts` (each served by the head): this package writes each host's TLS server on a
 * Gateway, an APIC host's on its domain's (apic-mtls-<domain>), a customer-facing host's on
 * customer-facing, but Istio routes a host only through a VirtualService that lists it and binds
 * that Gateway, and the VirtualServices are the bank's. One clause per Gateway, naming its hosts.
 */
function viaVirtualService(head: PkiPlan, hosts: readonly string[]): string {
    // The Gateway whose servers hold the host (gatewaysOf), as the render writes them.
    const gateways = gatewaysOf(head);
    const gatewayOf = (host: string): string => {
        const gateway = gateways.find((g) => g.servers.some((s) => s.host === host));
        return gateway !== undefined
            ? `${gateway.namespace}/${gateway.name}`
            : `${head.config.gatewayNamespace}/${apicGatewayName("<domain>")}`;
    };
    const byGateway = new Map<string, string[]>();
    for (const host of hosts) {
        const gateway = gatewayOf(host);
        byGateway.set(gateway, [...(byGateway.get(gateway) ?? []), host]);
    }
    const clauses = [...byGateway].map(([gateway, served]) => `hosts: [${served.join(", ")}], gateways: [${gateway}]`);
    return `${clauses.length === 1 ? "its VirtualService" : "their VirtualServices"}: ${clauses.join("; ")}`;
}

const SIDE_BY_SIDE = "these hosts and their new ones cannot be served side by side";

/**
 * The way to drop hosts for a new pki:option or pki:baseDomain, one value each for the whole
 * stack, so that their new hosts cannot be added first: between Options 2 and 3 one group per
 * service, named as the service, keeps every endpoint and host; otherwise a maintenance window.
 */
function layoutChangeInstead(base: PkiPlan, head: PkiPlan, blocked: readonly EndpointPlan[]): string {
    const keys = [
        ...(base.config.baseDomain !== head.config.baseDomain ? ["pki:baseDomain"] : []),
        ...(base.config.option !== head.config.option ? ["pki:option"] : []),
    ];
    const service = blocked[0].services[0];
    const perService = `one group per service, named exactly as the service, a domain prefix included (${service.toLowerCase()}: [${service}])`;
    const options = keys.join() === "pki:option" ? `${base.config.option} -> ${head.config.option}` : "";
    if (options === "2 -> 3") {
        return `pki:option is one value for the whole stack, so ${SIDE_BY_SIDE}; the two-step way: first switch to Option 3 with ${perService}, which keeps every endpoint and host, then regroup in later changes, each diffed on its own; or ${MAINTENANCE_WINDOW}`;
    }
    if (options === "3 -> 2") {
        // Regrouping moves services to new hosts, with the same limits as any regroup (notBeside).
        return (
            `pki:option is one value for the whole stack, so ${SIDE_BY_SIDE}; the way in steps: first regroup into ${perService}, ` +
            "in changes each diffed on its own (where one moves a service to a new host, its diff says how APIC keeps calling it, or that it takes a maintenance window), " +
            `then switch to Option 2, which keeps every endpoint and host; or ${MAINTENANCE_WINDOW}`
        );
    }
    const one = keys.length === 1;
    return `${list(keys)} ${one ? "is one value" : "are one value each"} for the whole stack, so ${SIDE_BY_SIDE} and no order of changes keeps APIC's calls working: keep ${one ? "it as it is" : "them as they are"}, or ${MAINTENANCE_WINDOW}`;
}

/**
 * The way to drop hosts that notBeside keeps from being served beside their new ones, with its
 * reasons: the change in two, a service kept back in each group (keptBack); else their services
 * passed through a group the change keeps; else the change in three (keptBackThrough); or the
 * hosts kept, or a maintenance window.
 */
function sameLayoutInstead(base: PkiPlan, head: PkiPlan, blocked: readonly Blocked[]): string {
    const whys = blocked.map((b) => b.why).join("; ");
    const domains = [...new Set(blocked.map((b) => b.endpoint.domain))];
    const bridges = domains.map((d) => bridgeOf(base, head, d));
    const bridged = bridges.every((g) => g !== undefined);
    const kept: readonly KeptThrough[] | undefined =
        keptBack(head, blocked) ?? (bridged ? undefined : keptBackThrough(base, head, blocked));
    if (kept !== undefined) {
        const group = (e: EndpointPlan) => `group ${groupOf(head, e) ?? e.id}`;
        // A group may be named after a service the change moves into its domain, which it must hold.
        const stays = kept.map((k) =>
            k.blocked.endpoint.services.includes(k.service)
                ? `${k.service} in group ${k.blocked.group}`
                : `group ${k.blocked.group} with only ${k.service}, which it is named after`,
        );
        const groups = kept.map((k) => `${k.blocked.group}: [${k.service}]`);
        const first = `first make this change but keep ${list(stays)} (${groups.join(", ")}), so that these hosts stay beside the new ones, and after its update move APIC's calls to the new hosts`;
        const through = kept.filter((k) => k.via !== undefined);
        if (through.length === 0) {
            const moves = kept.map((k) => `${k.service} to ${groupOf(head, k.to) ?? k.to.id}`);
            return `${whys}: ${first}; then, in a later change, move ${list(moves)}, which drops these hosts; each change diffed on its own; or ${MAINTENANCE_WINDOW}`;
        }
        const second = kept.map((k) => `${k.service} to ${group(k.via ?? k.to)}`);
        const one = new Set(kept.map((k) => k.via ?? k.to)).size === 1;
        return (
            `${whys}: in three changes, ${first}; ` +
            `then, in a second change, move ${list(second)}, whose ${one ? "host" : "hosts"} the first change serves, APIC's calls to ${them(kept)} moved there first, which drops these hosts; ` +
            `then, in a third, move ${list(through.map((k) => `${k.service} to ${group(k.to)}`))}; each change diffed on its own; or ${MAINTENANCE_WINDOW}`
        );
    }
    const keep = [...new Set(blocked.map((b) => b.keep))];
    const newHosts = blocked.flatMap((b) => newHomes(base, head, b.endpoint));
    const services = blocked.flatMap((b) => b.endpoint.services);
    const it = them(services);
    const through = bridged
        ? `, or pass ${names(services)} through ${list(bridges.map((g, i) => `group ${g} of pki:domains.${domains[i]}`))}, ` +
          `whose ${bridges.length === 1 ? "host stays" : "hosts stay"}: move ${it} there in one change, APIC's calls to ${it} moved to ${bridges.length === 1 ? "that host" : "those hosts"} first, ` +
          `and to ${services.length === 1 ? "its new group" : "their new groups"} in a later change;`
        : ",";
    return (
        `${whys}: ${blocked.length === 1 ? `the old host and its new ${newHosts.length === 1 ? "one" : "ones"} cannot be served side by side` : SIDE_BY_SIDE} in one change; ` +
        `keep ${list(keep)} as ${keep.length === 1 ? "it is" : "they are"}${through} or ${MAINTENANCE_WINDOW}`
    );
}

/**
 * The hosts the head no longer serves, split: those whose new hosts can be added first (or that
 * have none), and those whose new hosts cannot (the option or base domain changed, notBeside),
 * with the way that works for these.
 */
function droppedSplit(
    base: PkiPlan,
    head: PkiPlan,
): { free: EndpointPlan[]; blocked: EndpointPlan[]; instead: string } {
    // An endpoint moved to another domain under its id is movedEndpointRisks' (it fails, rather than moves).
    const moved = new Set(movedEndpoints(base, head).map(({ before }) => before.id));
    const dropped = droppedEndpoints(base, head).filter((e) => !moved.has(e.id));
    // All of them when the option or the base domain changes, which changes every host of the layout in one update.
    if (base.config.option !== head.config.option || base.config.baseDomain !== head.config.baseDomain) {
        const blocked = dropped.filter((e) => newHomes(base, head, e).length > 0);
        return {
            free: dropped.filter((e) => !blocked.includes(e)),
            blocked,
            instead: blocked.length > 0 ? layoutChangeInstead(base, head, blocked) : "",
        };
    }
    const blocked = dropped.flatMap((e) => notBeside(base, head, e) ?? []);
    return {
        free: dropped.filter((e) => !blocked.some((b) => b.endpoint === e)),
        blocked: blocked.map((b) => b.endpoint),
        instead: blocked.length > 0 ? sameLayoutInstead(base, head, blocked) : "",
    };
}

const ADD_FIRST =
    "add the new endpoints first, move APIC's API definitions and TLS client profiles to them, and remove the old hosts in a later change";

/**
 * The way to drop hosts none of whose services needs a new host of its domain (droppedSplit's free
 * ones), from where each service goes. To a host the base serves already, in any domain, as in the
 * second of two advised changes (the new host came with the first), a group passed through (the old
 * group cannot stay beside, holding no service) or a domain whose copy came first: APIC's calls
 * move there before. Nowhere: they stop before. To another domain's new host: it can be added first.
 */
function freeInstead(base: PkiPlan, head: PkiPlan, free: readonly EndpointPlan[]): string {
    const served = new Set(base.endpoints.map((e) => e.host));
    const movesTo = new Map<string, string[]>();
    const gone: string[] = [];
    let elsewhere = false;
    for (const e of free) {
        for (const service of e.services) {
            const home = homeOf(base, head, service, e.domain);
            if (home !== undefined && served.has(home.host))
                movesTo.set(home.host, [...(movesTo.get(home.host) ?? []), service]);
            else if (home !== undefined) elsewhere = true;
            else gone.push(service);
        }
    }
    const hosts = [...movesTo.keys()];
    const services = [...movesTo.values()].flat();
    const one = hosts.length === 1;
    return [
        ...(hosts.length > 0
            ? [
                  `before this change, move APIC's calls to ${list(hosts.map((h) => `${names(movesTo.get(h) ?? [])} to ${h}`))}, ${one ? "a host" : "hosts"} the stack serves already: ` +
                      `route ${them(services)} there, then point ${its(services)} API definitions at ${one ? "that host" : "those hosts"}, with ${one ? "the host's TLS client profile" : "the hosts' TLS client profiles"}`,
              ]
            : []),
        ...(gone.length > 0
            ? [
                  `before this change, remove APIC's API definitions that call ${names(gone)}: this change serves ${them(gone)} nowhere`,
              ]
            : []),
        ...(elsewhere ? [ADD_FIRST] : []),
    ].join("; ");
}

/** Hosts the head no longer serves: one risk for those whose new hosts can be added first, one for those whose cannot. */
function droppedHosts(base: PkiPlan, head: PkiPlan): Risk[] {
    const { free, blocked, instead } = droppedSplit(base, head);
    const risk = (endpoints: readonly EndpointPlan[], breaks: string, way: string): Risk => ({
        key: layoutKeys(
            base,
            head,
            endpoints.map((e) => e.domain),
        ),
        change: `drops ${plural(endpoints.length, "host")}: ${names(endpoints.map((e) => e.host))}`,
        breaks,
        instead: way,
        hosts: endpoints.map((e) => e.host),
    });
    return [
        ...(free.length > 0
            ? [
                  risk(
                      free,
                      "APIC calls to these hosts fail from this update on: their Gateway server entries and secrets are deleted",
                      freeInstead(base, head, free),
                  ),
              ]
            : []),
        ...(blocked.length > 0
            ? [
                  risk(
                      blocked,
                      "APIC calls to these hosts fail from this update on, and the new hosts of their services exist only from the same update on, so APIC cannot move to them beforehand",
                      instead,
                  ),
              ]
            : []),
    ];
}

/**
 * Hosts kept by the change but served by another endpoint (a new id: pki:baseDomain and the option
 * or the domains changed together): the gateway then accepts only the new endpoint's APIC client,
 * of another identity and key, while APIC still presents the old one's keystore for that host.
 */
function rehomedHosts(base: PkiPlan, head: PkiPlan): Risk[] {
    const before = new Map(base.endpoints.map((e) => [e.host, e]));
    const rehomed = head.endpoints.flatMap((after) => {
        const was = before.get(after.host);
        return was !== undefined && was.id !== after.id ? [{ was, after }] : [];
    });
    if (rehomed.length === 0) return [];
    return [
        {
            key: layoutKeys(
                base,
                head,
                rehomed.flatMap(({ was, after }) => [was.domain, after.domain]),
            ),
            change: `serves ${plural(rehomed.length, "host")} from another endpoint: ${names(rehomed.map(({ was, after }) => `${after.host} (${was.id} -> ${after.id})`))}`,
            breaks: "the gateway accepts only the new endpoint's APIC client for these hosts (another identity and key), while APIC still presents the old endpoint's keystore: its calls fail until it uploads the new keystores; during the update both gateways list the host",
            instead:
                "keep each host's endpoint (its domain and service names as they were); if the change is intended, upload the new endpoints' keystores to APIC right after the update, in a maintenance window",
            hosts: rehomed.map(({ after }) => after.host),
        },
    ];
}

/** Clusters removed and added through the same kubeconfig context: one cluster, renamed. */
function renamedClusters(base: PkiPlan, head: PkiPlan): { before: ClusterConfig; after: ClusterConfig }[] {
    const has = (plan: PkiPlan, name: string) => plan.config.clusters.some((c) => c.name === name);
    const added = head.config.clusters.filter((c) => !has(base, c.name));
    return base.config.clusters
        .filter((c) => !has(head, c.name))
        .flatMap((before) => {
            const after = added.find((c) => c.context === before.context);
            return after === undefined ? [] : [{ before, after }];
        });
}

/**
 * Endpoints moved to another domain under the same id (movedEndpoints), per pair of domains: Pulumi
 * creates the new gateway's Secret, of the same name in the same namespace, before it deletes the
 * old one's, and the create fails (pulumi-kubernetes does not take over an existing object).
 */
function movedEndpointRisks(base: PkiPlan, head: PkiPlan): Risk[] {
    const moves = new Map<string, { from: string; to: string; endpoints: EndpointPlan[] }>();
    for (const { before, after } of movedEndpoints(base, head)) {
        const pair = `${before.domain} ${after.domain}`;
        const move = moves.get(pair) ?? { from: before.domain, to: after.domain, endpoints: [] };
        move.endpoints.push(after);
        moves.set(pair, move);
    }
    return [...moves.values()].map(({ from, to, endpoints }) => {
        const one = endpoints.length === 1;
        const ids = list(endpoints.map((e) => e.id));
        const secrets = list(endpoints.map((e) => `${e.gatewaySecret.namespace}/${e.gatewaySecret.name}`));
        return {
            key: `pki:domains.${from}, pki:domains.${to}`,
            change:
                `moves ${one ? "endpoint" : "endpoints"} ${ids} from domain ${from} to ${to} under the same ${one ? "id" : "ids"} (the domain is in ${its(endpoints)} ${one ? "host" : "hosts"}): ` +
                `to Pulumi ${its(endpoints)} server ${one ? "key, certificate and Secret are" : "keys, certificates and Secrets are"} removed from ${from}'s gateway and added to ${to}'s, ` +
                `the Secret${one ? "" : "s"} with the same ${one ? "name" : "names"} in the same namespace`,
            breaks:
                `pulumi up makes ${one ? "a new server key and certificate" : "new server keys and certificates"} for ${them(endpoints)}, then fails creating ${secrets}, ` +
                `which already ${one ? "exists" : "exist"} under ${from}'s gateway resources: the update stops half-way (the preview does not show it)`,
            instead:
                `keep ${them(endpoints)} in domain ${from} (the domain names the gateway's resources; the endpoint id names the Secret), ` +
                `or remove ${them(endpoints)} from pki:domains.${from} in one change (APIC's calls to ${its(endpoints)} ${one ? "host" : "hosts"} fail from then on) ` +
                `and add ${them(endpoints)} to pki:domains.${to} in the next, then move APIC's API definitions and TLS client profiles to the new ${one ? "host" : "hosts"}`,
        };
    });
}

/**
 * What a change of pki:clusters does beyond certificates. Pulumi moves a cluster's objects only
 * when pulumi-kubernetes replaces its provider, which it does when it can tell from the kubeconfig
 * it is given that the cluster changed (DiffConfig): offline, the diff cannot know.
 * - A cluster renamed (removed and added through the same context): the same objects in the same
 *   cluster under new resource names, created before the old are deleted: "already exists".
 * - The gateway's cluster (the first) changed: its Secrets and Gateways move.
 * - A cluster reached through another context: its objects may move, or the state stop matching.
 */
function clusterRisks(base: PkiPlan, head: PkiPlan): Risk[] {
    const context = (c: ClusterConfig) => (c.context === undefined ? "the current context" : `context ${c.context}`);
    const named = (plan: PkiPlan, name: string) => plan.config.clusters.find((c) => c.name === name);
    const risks: Risk[] = renamedClusters(base, head).map(({ before, after }) => ({
        key: "pki:clusters",
        change: `renames cluster ${before.name} to ${after.name} (both through ${context(after)}): to Pulumi one cluster removed and one added, whose objects have the same names in the same cluster`,
        breaks: `pulumi up makes ${after.name}'s mesh CA, then fails creating its cacerts and other objects, which already exist under ${before.name}'s resources: the update stops half-way (the preview does not show it)`,
        instead: `keep the name ${before.name} (it names the mesh CA, the provider and the render folder; the context says where the cluster is), or remove the cluster in one change and add it under the new name in the next`,
    }));
    // Where the gateway is: the first cluster, reached through its context (a rename keeps it there).
    const [baseGateway, headGateway] = [base.config.clusters[0], head.config.clusters[0]];
    if (baseGateway.name !== headGateway.name && baseGateway.context !== headGateway.context) {
        risks.push({
            key: "pki:clusters",
            change: `moves the gateway's Secrets and Gateways from cluster ${baseGateway.name} to ${headGateway.name}, now the first of pki:clusters`,
            breaks: `if Pulumi can tell the clusters apart from the kubeconfig it is given, it creates them in ${headGateway.name} and deletes them from ${baseGateway.name}, whose ingress gateway then serves no APIC host; if not, it moves nothing and its state no longer matches the clusters`,
            instead: `keep the gateway's cluster first in pki:clusters; to move the gateway, serve the hosts from the new cluster first (another stack), move APIC's calls to it, then remove them here`,
        });
    }
    for (const after of head.config.clusters) {
        const before = named(base, after.name);
        if (before === undefined || before.context === after.context) continue;
        risks.push({
            key: "pki:clusters",
            change: `reaches cluster ${after.name} through ${context(after)} instead of ${context(before)}`,
            breaks:
                `if that is another cluster, Pulumi either replaces ${after.name}'s Kubernetes provider, creating ${objectsOf(head, after.name)} there and deleting them from the cluster they are in now (whose istiod loses its plug-in CA), ` +
                "or, when the kubeconfig it is given does not tell the clusters apart, moves nothing and its state no longer matches the clusters; " +
                "and if it is the same cluster through another kubeconfig entry, the replacement fails creating objects that already exist",
            instead:
                "if the new context reaches the same cluster through the same kubeconfig entry, say so in the review and check that pulumi preview replaces nothing; to use another cluster, add it under a new name, deploy, move the traffic, then remove the old one",
        });
    }
    return risks;
}

/** The hosts the backend gateway serves from its Secrets: every APIC host. */
const backendHosts = (plan: PkiPlan): string[] => plan.endpoints.map((e) => e.host);
/** The hosts the customer-facing gateway serves from its Secrets: each customer-facing host with a certificate. */
const customerHosts = (plan: PkiPlan): string[] =>
    plan.frontEnd.customerFacing.filter((c) => c.certificate !== undefined).map((c) => c.host);

/**
 * The namespaces, of those a change puts key Secrets in, that the policy pack's keySecretNamespaces
 * may not hold yet: not its default, and holding none of the base's key Secrets (the gateways', the
 * UI services'), which the pack admitted.
 */
function newKeySecretNamespaces(base: PkiPlan, namespaces: readonly string[]): string[] {
    const admitted = [
        ...DEFAULT_KEY_SECRET_NAMESPACES,
        ...(backendHosts(base).length > 0 ? [base.config.gatewayNamespace] : []),
        ...(customerHosts(base).length > 0 ? [base.frontEnd.gatewayNamespace] : []),
        ...base.frontEnd.uiClients.map((c) => c.namespace),
    ];
    return [...new Set(namespaces)].filter((ns) => !admitted.includes(ns));
}

/**
 * A gateway moved: its Secrets and Gateways to another namespace, or (the customer-facing one) its
 * Gateway to other pods of its namespace; by the key that moved it, to the pods of `selector`.
 */
interface GatewayMove {
    readonly key: string;
    readonly from: string;
    readonly to: string;
    /** The pods' labels before and after. */
    readonly selectorBefore: Readonly<Record<string, string>>;
    readonly selector: Readonly<Record<string, string>>;
    /** The hosts it serves in the head. */
    readonly hosts: string[];
    /** Its Gateways' names: the bank's VirtualServices bind each as <namespace>/<name>. */
    readonly gateways: string[];
}

const sameSelector = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

/**
 * The gateways a change moves: the backend's when pki:gatewayNamespace changes, the customer-facing
 * one's when its namespace or selector does (pki:frontEnd.customerFacingGateway, else with the
 * backend's); one move when both go together, each only while it serves a host before and after.
 */
function gatewayMoves(base: PkiPlan, head: PkiPlan): GatewayMove[] {
    const ownGateway =
        base.config.frontEnd.customerFacingGateway !== undefined ||
        head.config.frontEnd.customerFacingGateway !== undefined;
    const [customerFrom, customerTo] = [base.frontEnd.gatewayNamespace, head.frontEnd.gatewayNamespace];
    const moves = [
        {
            key: "pki:gatewayNamespace",
            from: base.config.gatewayNamespace,
            to: head.config.gatewayNamespace,
            selectorBefore: GATEWAY_SELECTOR,
            selector: GATEWAY_SELECTOR,
            served: backendHosts(base).length > 0,
            hosts: backendHosts(head),
            gateways: head.gateways.map((g) => g.name),
        },
        {
            key: !ownGateway
                ? "pki:gatewayNamespace"
                : customerFrom !== customerTo
                  ? "pki:frontEnd.customerFacingGateway.namespace"
                  : "pki:frontEnd.customerFacingGateway.selector",
            from: customerFrom,
            to: customerTo,
            selectorBefore: base.frontEnd.gatewaySelector,
            selector: head.frontEnd.gatewaySelector,
            served: customerHosts(base).length > 0,
            hosts: customerHosts(head),
            gateways: [head.frontEnd.gatewayName],
        },
    ].filter((m) => (m.from !== m.to || !sameSelector(m.selectorBefore, m.selector)) && m.served && m.hosts.length > 0);
    // Both gateways moved by one key between the same namespaces: one move of their hosts and Gateways.
    const merged = new Map<string, GatewayMove>();
    for (const { served: _served, ...move } of moves) {
        const id = `${move.key} ${move.from} ${move.to}`;
        const prior = merged.get(id);
        merged.set(
            id,
            prior === undefined
                ? move
                : { ...prior, hosts: [...prior.hosts, ...move.hosts], gateways: [...prior.gateways, ...move.gateways] },
        );
    }
    return [...merged.values()];
}

const selectorText = (selector: Readonly<Record<string, string>>): string =>
    Object.entries(selector)
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");
const selectorFlag = (selector: Readonly<Record<string, string>>): string =>
    Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
const getsNoTls = (hosts: readonly string[]): string => `${names(hosts)} ${hosts.length === 1 ? "gets" : "get"} no TLS`;

/**
 * A gateway moved (gatewayMoves). To another namespace: its Secrets and Gateways are created in
 * the new namespace and deleted from the old; Istio reads a Gateway's credentialName in the
 * namespace of the gateway's pods, not the Gateway's, so the Secrets only serve where those pods
 * run; the Gateways are new objects, which the bank's VirtualServices must bind anew. To other
 * pods: they serve the hosts from this update on. Either way the hosts' traffic must reach the new
 * pods' Service.
 */
function gatewayNamespaceRisks(base: PkiPlan, head: PkiPlan): Risk[] {
    return gatewayMoves(base, head).map(({ key, from, to, selectorBefore, selector, hosts, gateways }): Risk => {
        const dns = `DNS or the load balancer for ${names(hosts)}`;
        if (from === to) {
            return {
                key,
                change: `points the Gateway ${to}/${gateways.join(`, ${to}/`)} at the pods labelled ${selectorText(selector)} instead of ${selectorText(selectorBefore)}`,
                breaks: `the pods labelled ${selectorText(selectorBefore)} stop serving ${names(hosts)} with this update: unless pods labelled ${selectorText(selector)} run in ${to} and ${dns} points at their Service, ${getsNoTls(hosts)} from then on`,
                instead: `keep ${key} { ${selectorText(selectorBefore)} }; to change it, run the new gateway's pods in ${to} first, labelled ${selectorText(selector)}, point ${dns} at their Service, then change it`,
                hosts,
            };
        }
        const unlisted = newKeySecretNamespaces(base, [to]).length > 0;
        const customer = key !== "pki:gatewayNamespace";
        const bound = gateways.map((g) => `${from}/${g}`);
        return {
            key,
            change: `moves ${customer ? "the customer-facing gateway's Secrets and Gateway" : "every gateway Secret and Gateway"} from namespace ${from} to ${to}: Pulumi creates them in ${to} and deletes them from ${from}`,
            breaks:
                `the ingress gateway reads its Secrets in its own namespace: unless its pods already run in ${to}, ${getsNoTls(hosts)} from this update on` +
                (customer ? " (the APIC hosts stay on the backend gateway)" : "") +
                `; VirtualServices that bind ${names(bound)} stop routing when Pulumi deletes ${bound.length === 1 ? "it" : "them"}, and ${dns} must point at the new gateway's Service` +
                (unlisted
                    ? `; the policy pack's private-key-secrets refuses the new Secrets unless keySecretNamespaces holds ${to}`
                    : ""),
            instead: gatewayMoveInstead(
                key,
                from,
                to,
                `${customer ? "Gateway selects" : "Gateways select"} ${selectorText(selector)}`,
                unlisted,
            ),
            hosts,
        };
    });
}

/**
 * What to do instead of a gateway's move in one step. Out of istiod's namespace the move is what
 * README ("The gateway's namespace") and the policy pack's advisory gateway-keys-beside-cacerts
 * recommend, in order; into it, the gateway's account could read the mesh CA key.
 */
function gatewayMoveInstead(key: string, from: string, to: string, selects: string, unlisted: boolean): string {
    const order = `run the ingress gateway's pods in ${to} first (the ${selects}), ${unlisted ? `add ${to} to keySecretNamespaces, ` : ""}then change it`;
    const cacerts = `${MESH_CA_SECRET.namespace}/${MESH_CA_SECRET.name}, the mesh CA key`;
    if (from === MESH_CA_SECRET.namespace)
        return (
            `move the gateway out of ${from}, but in this order: ${order}; until then keep ${key} ${from}. ` +
            `The move is worth it: in ${from} the gateway's account can read istiod's cacerts (${cacerts}; the policy pack's advisory gateway-keys-beside-cacerts, README "The gateway's namespace")`
        );
    if (to === MESH_CA_SECRET.namespace)
        return `keep ${key} ${from}: in ${to} the gateway's account could read istiod's cacerts (${cacerts}); to move the gateway anyway, ${order}`;
    return `keep ${key} ${from}; to move the gateway, ${order}`;
}

/** The steps before `pulumi up` of a gateway's move (gatewayMoves): its pods, its traffic, the VirtualServices that bind it. */
function gatewayMoveSteps(base: PkiPlan, head: PkiPlan): string[] {
    return gatewayMoves(base, head).flatMap(({ from, to, selectorBefore, selector, hosts, gateways }) => {
        const pods = `kubectl -n ${to} get pods -l ${selectorFlag(selector)}`;
        const traffic = `Point DNS or the load balancer for ${names(hosts)} at the Service of the gateway pods labelled ${selectorText(selector)} in ${to}`;
        if (from === to) {
            return [
                `Check that the gateway's pods labelled ${selectorText(selector)} run in ${to} (${pods}): this change points the Gateway ${to}/${gateways.join(`, ${to}/`)} at them instead of the pods labelled ${selectorText(selectorBefore)}.`,
                `${traffic}: the pods labelled ${selectorText(selectorBefore)} stop serving them with this update.`,
            ];
        }
        const one = gateways.length === 1;
        return [
            `Check that the ingress gateway's pods run in ${to} (${pods})` +
                (newKeySecretNamespaces(base, [to]).length > 0
                    ? ` and that the policy pack's keySecretNamespaces holds ${to}`
                    : "") +
                ": " +
                `this change creates the gateway's Secrets and Gateways there and deletes them from ${from}.`,
            `${traffic}: the gateway in ${from} loses their certificates with this update.`,
            `Update the VirtualServices that bind the Gateway${one ? "" : "s"} ${names(gateways.map((g) => `${from}/${g}`))} to bind ${names(gateways.map((g) => `${to}/${g}`))}: this change re-creates ${one ? "it" : "them"} in ${to} and deletes ${one ? "it" : "them"} from ${from}, and Istio routes a host only through the Gateways its VirtualService binds.`,
        ];
    });
}

/** A cluster's objects as a reviewer knows them: the gateway's are in the first cluster only (lib/stack.ts). */
const objectsOf = (plan: PkiPlan, name: string): string =>
    name === plan.config.clusters[0].name
        ? "its gateway Secrets and Gateways, cacerts and every other object"
        : "its cacerts and every other object";

/** The mesh-wide STRICT PeerAuthentication (pki:meshStrictMtls) made or deleted in every cluster. */
function strictMtlsRisks(base: PkiPlan, head: PkiPlan): Risk[] {
    if (base.config.meshStrictMtls === head.config.meshStrictMtls) return [];
    return [
        head.config.meshStrictMtls
            ? {
                  key: "pki:meshStrictMtls",
                  change: "turns on mutual TLS required mesh-wide: a STRICT PeerAuthentication istio-system/default in every cluster",
                  breaks: "every workload with a sidecar refuses plaintext at once: callers without a sidecar (jobs, pods outside the mesh, other clusters' gateways) fail",
                  instead:
                      "check that every caller has a sidecar (istioctl x describe, or the mesh's telemetry for plaintext traffic), or make namespaces STRICT one by one first",
              }
            : {
                  key: "pki:meshStrictMtls",
                  change: "turns off mutual TLS required mesh-wide: the STRICT PeerAuthentication istio-system/default is deleted in every cluster",
                  breaks: "workloads accept plaintext from anything in the cluster again: nothing requires a peer to present a mesh certificate",
                  instead:
                      "keep it on; a workload that must take plaintext gets a PeerAuthentication of its own (PERMISSIVE) in its namespace",
              },
    ];
}

/** APIC clients re-keyed under the same epoch: the gateway drops the key APIC holds at once. */
function rekeyedClients(base: PkiPlan, head: PkiPlan): Risk[] {
    const rekeyed = rekeyedInPlace(base, head);
    if (rekeyed.length === 0) return [];
    const algorithms = (plan: PkiPlan) => [...new Set(plan.endpoints.map((e) => describeKey(e.client.key)))].join(", ");
    return [
        {
            key: changedKeys(base, head).join(", "),
            change: `gives the APIC ${rekeyed.length === 1 ? "client" : "clients"} of ${names(rekeyed.map((e) => e.id))} a new key under the same epoch (${algorithms(base)} -> ${algorithms(head)}), with no overlap: the gateway pins only the new ${rekeyed.length === 1 ? "key" : "keys"}`,
            breaks: `APIC's calls to ${names(rekeyed.map((e) => e.host))} are refused from this update on until each new keystore is uploaded: APIC still presents the old key`,
            instead:
                "raise the clients' epoch in the same change (pki:rotation.apicClientEpoch, or pki:rotation.endpoints.<id>.clientEpoch) with pki:rotation.apicClientPhase switch, so that the gateway pins the old and the new key until the keystores are uploaded; then set the phase to finish",
            hosts: rekeyed.map((e) => e.host),
        },
    ];
}

/**
 * The APIC clients' PKCS#12 written legacy (pki:pkcs12Profile): 3DES and a SHA-1 MAC around each
 * client's private key, under an alias that says so. Iterations alone change no algorithm: a step.
 */
function pkcs12Risks(base: PkiPlan, head: PkiPlan): Risk[] {
    const endpoints = head.endpoints.filter((e) => base.endpoints.some((b) => b.id === e.id)).map((e) => e.id);
    if (endpoints.length === 0 || base.config.pkcs12Profile === head.config.pkcs12Profile) return [];
    if (head.config.pkcs12Profile !== "legacy") return [];
    return [
        {
            key: "pki:pkcs12Profile",
            change: `rewrites the client.p12 of ${names(endpoints)} legacy: 3DES and a SHA-1 MAC instead of AES-256-CBC, PBKDF2-HMAC-SHA256 and a SHA-256 MAC, under the alias <endpoint>-legacy-3des-sha1 instead of <endpoint>`,
            breaks:
                "the file that holds each APIC client's private key is encrypted with algorithms kept for compatibility, not strength (security scans flag them), " +
                "and whatever refers to the key by its alias (a Java or DataPower configuration, keytool -alias) no longer finds it",
            instead:
                "keep pki:pkcs12Profile modern: apic keystores:update loads keystore.json, which holds PEM, not the PKCS#12; use legacy only for a consumer that cannot open modern (old Java or DataPower firmware), " +
                "and point what names the key at its new alias in the same window",
        },
    ];
}

/** UI services of the base that no longer call APIC in the head. */
const goneCallers = (base: PkiPlan, head: PkiPlan): string[] =>
    base.frontEnd.uiClients.map((c) => c.name).filter((name) => !head.frontEnd.uiClients.some((c) => c.name === name));

/** UI services calling APIC in both plans whose pods are in another namespace in the head (pki:frontEnd.namespace, or a service's own). */
const movedCallers = (base: PkiPlan, head: PkiPlan): { before: UiClientPlan; after: UiClientPlan }[] =>
    head.frontEnd.uiClients.flatMap((after) => {
        const before = base.frontEnd.uiClients.find((c) => c.name === after.name);
        return before !== undefined && before.namespace !== after.namespace ? [{ before, after }] : [];
    });

/**
 * The keys that moved the UI services: pki:frontEnd.namespace for a service that follows it (in the
 * base's namespace before, the head's after), pki:frontEnd.services for one given its own namespace.
 */
function namespaceKeys(base: PkiPlan, head: PkiPlan, moved: ReturnType<typeof movedCallers>): string {
    const [from, to] = [base.config.frontEnd.namespace, head.config.frontEnd.namespace];
    const followed = moved.filter(({ before, after }) => before.namespace === from && after.namespace === to);
    return [
        ...(followed.length > 0 ? ["pki:frontEnd.namespace"] : []),
        ...(followed.length < moved.length ? ["pki:frontEnd.services"] : []),
    ].join(", ");
}

/** How this diff re-issues a UI service's client certificate: with a new key, the same key, or not at all. */
function reissued(replaced: readonly CertChange[], name: string): "new key" | "same key" | undefined {
    const change = replaced.find((c) => c.id === uiClientCertId(name));
    return change === undefined ? undefined : change.forces.includes("new key") ? "new key" : "same key";
}

/**
 * "the same client certificates", or what each group of moved UI services gets instead: a caller
 * re-issued in this diff (a uiClientCa switch, say) takes a new certificate to its new namespace.
 */
function movedCertificates(moved: ReturnType<typeof movedCallers>, replaced: readonly CertChange[]): string {
    const kinds = [undefined, "same key", "new key"] as const;
    const groups = kinds
        .map((kind) => ({ kind, names: moved.map((m) => m.after.name).filter((n) => reissued(replaced, n) === kind) }))
        .filter((g) => g.names.length > 0);
    return groups
        .map(({ kind, names: group }) => {
            const one = group.length === 1;
            const what =
                kind === undefined
                    ? `the same client ${one ? "certificate" : "certificates"}`
                    : kind === "new key"
                      ? `${one ? "a new client certificate and key" : "new client certificates and keys"}`
                      : `${one ? "a new client certificate" : "new client certificates"} (same key)`;
            return groups.length === 1 ? what : `${what} for ${names(group)}`;
        })
        .join(" and ");
}

/** "a (ob-ui -> ob-ui2)": where each moved UI service's pods go. */
const moves = (moved: ReturnType<typeof movedCallers>): string =>
    names(moved.map(({ before, after }) => `${after.name} (${before.namespace} -> ${after.namespace})`));

/** Customer-facing hosts the base serves (a certificate given) and the head does not. */
const stoppedHosts = (base: PkiPlan, head: PkiPlan): string[] => {
    const served = (plan: PkiPlan) =>
        plan.frontEnd.customerFacing.filter((c) => c.certificate !== undefined).map((c) => c.host);
    return served(base).filter((host) => !served(head).includes(host));
};

/** "its" or "their", "it" or "them", as many as there are. */
const its = (many: readonly unknown[]): string => (many.length === 1 ? "its" : "their");
const them = (many: readonly unknown[]): string => (many.length === 1 ? "it" : "them");

/** APIC hosts the UI services call in the base and no longer in the head (while some UI service still calls APIC). */
const goneApicHosts = (base: PkiPlan, head: PkiPlan): string[] =>
    base.frontEnd.uiClients.length > 0 && head.frontEnd.uiClients.length > 0
        ? base.config.frontEnd.apicHosts.filter((h) => !head.config.frontEnd.apicHosts.includes(h))
        : [];

/**
 * What the front end's consumers lose: a UI service calling APIC removed, an APIC host the UI
 * services call dropped, the CA their sidecars check APIC against changed, a customer-facing host
 * no longer served.
 */
function frontEndRisks(base: PkiPlan, head: PkiPlan, replaced: readonly CertChange[]): Risk[] {
    const before = base.config.frontEnd;
    const after = head.config.frontEnd;
    const changed = (...keys: (keyof typeof before)[]): string =>
        keys
            .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
            .map((k) => `pki:frontEnd.${k}`)
            .join(", ");
    const risks: Risk[] = [];
    const callers = goneCallers(base, head);
    if (callers.length > 0) {
        risks.push({
            key: changed("services", "callers"),
            change: `removes ${plural(callers.length, "UI service")} calling APIC: ${names(callers)}; ${its(callers)} ${callers.length === 1 ? "client certificate, Secret and DestinationRules are" : "client certificates, Secrets and DestinationRules are"} deleted`,
            breaks: `${its(callers)} calls to APIC fail from this update on: no sidecar originates the mutual TLS APIC requires any more`,
            // Deleting the resources ends no certificate: APIC trusts the UI client CA and reads no CRL.
            // With the last caller the stack drops the UI client CA, but not APIC's truststore holding it.
            instead:
                `stop ${them(callers)} calling APIC first, then remove ${them(callers)} from pki:frontEnd.callers in a later change; ` +
                `APIC accepts ${its(callers)} ${callers.length === 1 ? "certificate" : "certificates"} until ${callers.length === 1 ? "it expires" : "they expire"}, so if a key may have been copied, ` +
                (head.frontEnd.uiClients.length === 0
                    ? "rotate the UI client CA (pki:caRotation.uiClientCa) before this change, or remove APIC's UI truststore and its TLS server profiles' client certificate requirement once it is deployed: this stack no longer renders them"
                    : "rotate the UI client CA (pki:caRotation.uiClientCa) as well"),
            uiServices: callers,
        });
    }
    const moved = movedCallers(base, head);
    if (moved.length > 0) {
        const one = moved.length === 1;
        const unlisted = newKeySecretNamespaces(
            base,
            moved.map((m) => m.after.namespace),
        );
        // The Secret's and DestinationRules' namespace is the pods': Pulumi replaces them, the certificate stays unless re-issued.
        risks.push({
            key: namespaceKeys(base, head, moved),
            change: `moves ${plural(moved.length, "UI service")} calling APIC to another namespace: ${moves(moved)}; ${its(moved)} ${one ? "Secret and DestinationRules are" : "Secrets and DestinationRules are"} created there and deleted from the old one, with ${movedCertificates(moved, replaced)}`,
            breaks:
                `${its(moved)} pods left in the old namespace cannot call APIC from this update on: no sidecar there originates the mutual TLS APIC requires; ` +
                `those in the new one get ${its(moved)} client ${one ? "certificate" : "certificates"} from this update on, and only if ${its(moved)} service ${one ? "account" : "accounts"} may read Secrets there`,
            instead:
                `before this update, let ${its(moved)} service ${one ? "account" : "accounts"} read Secrets in the new namespace` +
                (unlisted.length > 0 ? `, add ${list(unlisted)} to the policy pack's keySecretNamespaces` : "") +
                ` and start ${its(moved)} pods there; ` +
                "take the old pods down once it is deployed (a UI service calls APIC from one namespace: its calls move with the update)",
            uiServices: moved.map((m) => m.after.name),
        });
    }
    const hosts = goneApicHosts(base, head);
    if (hosts.length > 0) {
        risks.push({
            key: "pki:frontEnd.apicHosts",
            change: `drops ${plural(hosts.length, "APIC host")} the UI services call: ${names(hosts)}; the DestinationRules and ServiceEntries for ${them(hosts)} are deleted`,
            breaks: `the UI services' calls to ${them(hosts)} fail from this update on: their sidecars no longer originate mutual TLS to ${them(hosts)}`,
            instead:
                "add the new host to pki:frontEnd.apicHosts first, set up APIC's UI-facing TLS server profile for it and move the UI services' calls to it, then remove the old host in a later change",
            hosts,
        });
    }
    const calling = base.frontEnd.uiClients.length > 0 && head.frontEnd.uiClients.length > 0;
    if (calling && before.apicServerCa !== after.apicServerCa) {
        const anchor = (pem: string | undefined) =>
            pem === undefined ? "the gateway server root (APIC's UI-facing certificate issued here)" : "APIC's own CA";
        risks.push({
            key: "pki:frontEnd.apicServerCa",
            change: `changes the CA the UI services' sidecars check APIC's certificate against (ca.crt of their Secrets): ${before.apicServerCa !== undefined && after.apicServerCa !== undefined ? "APIC's own CA is replaced" : `${anchor(before.apicServerCa)} -> ${anchor(after.apicServerCa)}`}`,
            breaks: "the sidecars check APIC against the new CA from this update on: every UI call to APIC fails unless APIC already presents a certificate under it",
            instead:
                "for the switch, give pki:frontEnd.apicServerCa the current CA and the new one together (the current one as PEM, even this PKI's server root), change APIC's UI-facing keystore, then drop the old CA in a later change",
        });
    }
    const stopped = stoppedHosts(base, head);
    if (stopped.length > 0) {
        risks.push({
            key: "pki:frontEnd.customerFacing",
            change: `stops serving ${plural(stopped.length, "customer-facing host")}: ${names(stopped)}; ${its(stopped)} ${stopped.length === 1 ? "Secret and Gateway server are" : "Secrets and Gateway servers are"} deleted`,
            breaks: "customers reaching these hosts get no TLS from this update on",
            instead:
                "move customers off a host (DNS) before removing it; to renew its certificate, raise the host's epoch and keep serving the current certificate (certificateEpoch: the epoch before) until the public CA has signed the new CSR",
            hosts: stopped,
        });
    }
    return risks;
}

/** What a customer-facing host serves under a plan: the public CA's certificate, if given. */
function servedOf(c: CustomerFacingPlan): ServedCertificate | undefined {
    if (c.certificate === undefined) return undefined;
    const x509 = new crypto.X509Certificate(c.certificate);
    return {
        certificateEpoch: c.certificateEpoch,
        serial: x509.serialNumber,
        notAfter: new Date(x509.validTo).toISOString(),
    };
}

/** { before, after } without a side that is undefined (so that JSON and deep equality see none). */
const sides = <T>(before: T | undefined, after: T | undefined): { before?: T; after?: T } => ({
    ...(before !== undefined ? { before } : {}),
    ...(after !== undefined ? { after } : {}),
});

/** How a customer-facing host's CSR changes under the same epoch (the stack makes its key and CSR anew); undefined: it does not. */
function requestChange(before: CustomerFacingPlan, after: CustomerFacingPlan): CustomerFacingChange["request"] {
    const [keyBefore, keyAfter] = [describeKey(before.key), describeKey(after.key)];
    const [subjectBefore, subjectAfter] = [describeSubject(before.subject), describeSubject(after.subject)];
    const why = [
        ...(keyBefore !== keyAfter ? [`key algorithm changed: ${keyBefore} -> ${keyAfter}`] : []),
        ...(subjectBefore !== subjectAfter ? [`subject changed: ${subjectBefore} -> ${subjectAfter}`] : []),
    ];
    return why.length > 0 ? { newKey: keyBefore !== keyAfter, why } : undefined;
}

/** Customer-facing hosts whose requested key or served certificate changes. */
function customerFacingChanges(base: PkiPlan, head: PkiPlan): CustomerFacingChange[] {
    const before = new Map(base.frontEnd.customerFacing.map((c) => [c.host, c]));
    const after = new Map(head.frontEnd.customerFacing.map((c) => [c.host, c]));
    return [...new Set([...after.keys(), ...before.keys()])].flatMap((host) => {
        const [b, a] = [before.get(host), after.get(host)];
        const { secret } = (a ?? b) as CustomerFacingPlan;
        const served = sides(b && servedOf(b), a && servedOf(a));
        const request = b !== undefined && a !== undefined && b.epoch === a.epoch ? requestChange(b, a) : undefined;
        if (
            b?.epoch === a?.epoch &&
            JSON.stringify(served.before) === JSON.stringify(served.after) &&
            request === undefined
        )
            return [];
        return [
            {
                host,
                secret: secretPath(
                    (a !== undefined ? head : base).config.clusters[0].name,
                    secret.namespace,
                    secret.name,
                ),
                epoch: sides(b?.epoch, a?.epoch),
                served,
                ...(request !== undefined ? { request } : {}),
            },
        ];
    });
}

/**
 * Clusters removed (or renamed) from a stack whose CA keys are ECDSA: their mesh CAs must be
 * revoked in the mesh root's CRL, which the stack signs only with RSA, so pulumi up refuses it
 * (the plan's ecdsaClusterRemovalProblem).
 */
function ecdsaClusterRemovals(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    const kept = new Set(head.config.clusters.map((c) => c.name));
    const revoked = meshCasRevokedSince(base, head).filter((c) => !kept.has(c.cluster ?? ""));
    const problem = ecdsaClusterRemovalProblem(head.config, {
        clusters: [...new Set(revoked.map((c) => c.cluster ?? ""))],
        caIds: revoked.map((c) => c.id),
    });
    return problem === undefined ? [] : [{ key: "pki:clusters", problem }];
}

/**
 * pki:rotation.meshEpoch moved while the mesh CAs or their root rotate, or while istiod's cacerts
 * carries ca-crl.pem, which pulumi up refuses (the plan's meshEpochDuringRotation, meshEpochProblem). Istio cannot clear ca-crl.pem, so the stack keeps publishing it
 * once published; a diff tells that from the config: a mesh CA rotation that reached a finish.
 */
function meshEpochRefusals(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    const before = base.config.rotation.meshEpoch;
    if (before === head.config.rotation.meshEpoch) return [];
    const duringRotation = meshEpochDuringRotation(head.config, before);
    if (duringRotation !== undefined) {
        return [{ key: "pki:rotation.meshEpoch", problem: duringRotation }];
    }
    const since = crlsPublished(base).mesh
        ? "since an earlier update"
        : crlsPublished(head, base).mesh
          ? "from this update on"
          : undefined;
    if (since === undefined) return [];
    return [{ key: "pki:rotation.meshEpoch", problem: meshEpochChangeProblem(head.config, before, since) }];
}

/** A customer-facing host's key generation moved while its certificate stays: the certificate is for the old key. */
function customerFacingRefusals(base: PkiPlan, head: PkiPlan): RefusedChange[] {
    return head.frontEnd.customerFacing.flatMap((a) => {
        const b = base.frontEnd.customerFacing.find((c) => c.host === a.host);
        if (
            b?.certificate === undefined ||
            a.certificate !== b.certificate ||
            a.certificateEpoch === b.certificateEpoch
        )
            return [];
        return [
            {
                key: `pki:frontEnd.customerFacing.${a.host}.certificateEpoch`,
                problem:
                    `moves from ${b.certificateEpoch} to ${a.certificateEpoch} (it is the epoch unless set) while the certificate stays the one for the key of epoch ${b.certificateEpoch}: ` +
                    `pulumi up would fail, since that certificate does not certify the key of epoch ${a.certificateEpoch}. Set certificateEpoch: ${b.certificateEpoch} to keep serving it ` +
                    `until the public CA has signed the CSR of epoch ${a.epoch}, then give the new certificate with certificateEpoch: ${a.epoch}`,
            },
        ];
    });
}

/**
 * The `pki:` keys whose value differs between two plans, of those whose text differs as written
 * when both plans know it (PkiPlan.written): a value derived from another (pki:earlyRenewalDays
 * from pki:validityDays) is no change of the stack file's.
 */
function changedKeys(base: PkiPlan, head: PkiPlan): string[] {
    const [from, to] = [base.config, head.config];
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])] as (keyof PkiConfig)[];
    return keys
        .filter((k) => JSON.stringify(from[k]) !== JSON.stringify(to[k]))
        .filter(
            (k) =>
                base.written === undefined ||
                head.written === undefined ||
                ownMember(base.written, k) !== ownMember(head.written, k),
        )
        .map((k) => `pki:${k}`);
}

/** A stack file that does not exist in the base: every certificate is new. */
function emptyPlan(head: PkiPlan): PkiPlan {
    return {
        config: head.config,
        now: head.now,
        retired: [],
        revoked: [],
        cas: [],
        endpoints: [],
        gateways: [],
        pendingIntermediates: [],
        crls: { gateway: false, apicTruststore: false, mesh: false, apicUiTruststore: false, offlineRootCrls: {} },
        frontEnd: { ...head.frontEnd, uiClients: [], apicServers: [], customerFacing: [] },
    };
}

/** The owners of the places of a kind that the diff creates, updates or deletes (touching `item`, if given). */
function ownersOf(
    places: readonly PlaceChange[],
    kind: PlaceKind,
    change: PlaceChange["change"],
    item?: string,
): string[] {
    return places
        .filter(
            (p) =>
                p.kind === kind && p.change === change && (item === undefined || p.items.some((i) => i.item === item)),
        )
        .map((p) => p.owner);
}

/**
 * The front end's steps around `pulumi up`: UI services that start or stop calling APIC, their
 * Secrets renewed, APIC's UI-facing keystores and truststore, and the public CA's part for the
 * customer-facing hosts.
 */
function frontEndSteps(diff: Omit<CertDiff, "steps">, base: PkiPlan, head: PkiPlan): CertDiff["steps"] {
    const before: string[] = [];
    const after: string[] = [];
    const owners = (kind: PlaceKind, change: PlaceChange["change"], item?: string) =>
        ownersOf(diff.places, kind, change, item);
    const gone = goneCallers(base, head);
    if (gone.length > 0) {
        before.push(
            `Make sure ${names(gone)} no longer ${gone.length === 1 ? "calls" : "call"} APIC: this change deletes ${its(gone)} ${gone.length === 1 ? "Secret" : "Secrets"} and DestinationRules.`,
        );
    }
    const hosts = goneApicHosts(base, head);
    if (hosts.length > 0) {
        before.push(
            `Make sure the UI services no longer call ${names(hosts)}: this change deletes the DestinationRules and ServiceEntries for ${them(hosts)}.`,
        );
    }
    const stopped = stoppedHosts(base, head);
    if (stopped.length > 0) {
        before.push(
            `Make sure customers no longer reach ${names(stopped)}: this change deletes ${its(stopped)} ${stopped.length === 1 ? "Secret and Gateway server" : "Secrets and Gateway servers"}.`,
        );
    }
    const finishing = diff.caRotation.filter(
        (t) =>
            t.refused === undefined &&
            (t.slot === "uiClientCa" || t.slot === "uiClientRoot") &&
            t.to.endsWith("finish"),
    );
    if (finishing.length > 0 && head.frontEnd.uiClients.length > 0) {
        before.push(
            "Check that every UI service took its Secret of the switch (restart those that mount it and do TLS themselves): APIC refuses the old generation's certificates once it has this update's UI truststore and its CRL.",
        );
    }
    // A caller new to its namespace (added, or moved there): its sidecars read its Secret there.
    const added = diff.newStack
        ? []
        : head.frontEnd.uiClients.filter(
              (c) => !base.frontEnd.uiClients.some((b) => b.name === c.name && b.namespace === c.namespace),
          );
    if (added.length > 0) {
        const namespaces = [...new Set(added.map((c) => c.namespace))];
        const newNamespaces = newKeySecretNamespaces(base, namespaces);
        before.push(
            `Let the service ${added.length === 1 ? "account" : "accounts"} of ${names(added.map((c) => c.name))} read Secrets in ${list(namespaces)} ` +
                `(a Role with get, list and watch on secrets, bound to ${added.length === 1 ? "it" : "them"}), so that ${its(added)} sidecars can take ${its(added)} client certificate from ` +
                `${names(added.map((c) => c.secret.name))} (README, The front end)` +
                (newNamespaces.length > 0
                    ? `; add ${list(newNamespaces)} to the policy pack's keySecretNamespaces, or it refuses the new ${added.length === 1 ? "Secret" : "Secrets"} (README, Policy pack).`
                    : "."),
        );
    }
    const moved = diff.newStack ? [] : movedCallers(base, head);
    if (moved.length > 0) {
        before.push(
            `Start the pods of ${moves(moved)} in ${its(moved)} new namespace: this change deletes ${its(moved)} ${moved.length === 1 ? "Secret" : "Secrets"} and DestinationRules in the old one, ` +
                "whose pods cannot call APIC from then on, and creates them in the new one.",
        );
    }
    const revoked = diff.revocations.filter((r) => r.change === "added").map((r) => r.uiClient);
    // A caller moved and given a new key has its Secret created, not updated: its sidecars take the new key all the same.
    const rekeyed = [
        ...owners("UI client secret", "update", "tls.key"),
        ...moved.map((m) => m.after.name).filter((name) => reissued(diff.replaced, name) === "new key"),
    ].filter((name) => !revoked.includes(name));
    if (rekeyed.length > 0) {
        after.push(
            `The sidecars of ${names(rekeyed)} take the new key from ${its(rekeyed)} Secret by themselves; APIC trusts the UI client CA and root, not a key, so the old and the new certificate pass meanwhile. Restart a service that mounts its Secret and does TLS itself.`,
        );
    }
    const createdKeystores = diff.newStack ? [] : owners("APIC UI-facing keystore", "create");
    if (createdKeystores.length > 0) {
        after.push(
            `Load APIC's UI-facing keystore of ${names(createdKeystores)} (${APIC_UI_DIR}/<host>/keystore.json, apic keystores:create) into the host's own TLS server profile (${APIC_UI_DIR}/<host>/tls-server-profile.json), at once: ` +
                `the UI services' sidecars accept only a certificate of this PKI for ${them(createdKeystores)} from this update on.`,
        );
    }
    const updatedKeystores = owners("APIC UI-facing keystore", "update");
    if (updatedKeystores.length > 0) {
        after.push(
            `Upload APIC's UI-facing keystore of ${names(updatedKeystores)} (${APIC_UI_DIR}/<host>/keystore.json, apic keystores:update, same name).`,
        );
    }
    if (!diff.newStack && owners("APIC UI truststore", "create").length > 0) {
        after.push(
            `Create APIC's UI truststore and, per APIC host, the TLS server profile that requires client certificates (${APIC_UI_DIR}/truststore.json, ${APIC_UI_DIR}/<host>/tls-server-profile.json; README, The front end): until then APIC does not check the UI services' certificates.`,
        );
    }
    if (owners("APIC UI truststore", "update", "truststore.pem").length > 0) {
        after.push(
            `Upload APIC's UI truststore (${APIC_UI_DIR}/truststore.json; ${TRUSTSTORES_UPDATE} and point the TLS server profile of each APIC host at it if an update does not take the content).`,
        );
    }
    if (owners("APIC UI truststore", "update", "truststore.crl").length > 0) {
        after.push(
            `Load the new ${APIC_UI_DIR}/truststore.crl into the validation credentials of APIC's UI-facing DataPower profile (APIC's TLS server profile cannot load a CRL): until then APIC still accepts what it revokes.`,
        );
    }
    for (const c of diff.customerFacing) {
        const epoch = c.epoch.after;
        if (epoch !== undefined && c.request?.newKey === true) {
            after.push(
                `Have the new CSR of ${c.host} (key epoch ${epoch}, ${c.request.why.join("; ")}) signed by the public CA: stack output frontEnd.customerFacingCsrs, or ${customerFacingCsrFile(c.host)} of a render. ` +
                    `A certificate signed from its CSR before this update certifies the old key, which this update replaces: the stack refuses it.`,
            );
        }
        if (epoch === undefined || epoch === c.epoch.before || diff.newStack) continue;
        const served = c.served.after;
        after.push(
            `Have the new CSR of ${c.host} (key epoch ${epoch}) signed by the public CA: stack output frontEnd.customerFacingCsrs, or ${customerFacingCsrFile(c.host)} of a render. ` +
                (served !== undefined
                    ? `The gateway keeps serving the certificate for the key of epoch ${served.certificateEpoch} (serial ${served.serial}, until ${served.notAfter.slice(0, 10)}) until certificateEpoch catches up: `
                    : "Until its certificate is given the host has no Secret and no Gateway server: ") +
                `in a later change, set pki:frontEnd.customerFacing.${c.host} to { epoch: ${epoch}, certificateEpoch: ${epoch}, certificate: <the signed certificate, then its chain> }.`,
        );
    }
    // Hosts the customer-facing Gateway serves from this update on (their first certificate given).
    const served = diff.newStack ? [] : customerHosts(head).filter((h) => !customerHosts(base).includes(h));
    if (served.length > 0) {
        const one = served.length === 1;
        after.push(
            `Route ${one ? `the customer-facing host ${served[0]}` : `the customer-facing hosts ${names(served)}`} (${viaVirtualService(head, served)}): ` +
                `the Gateway ${head.frontEnd.gatewayName} serves ${one ? "it" : "them"} from this update on, but routes a host only through a VirtualService that binds it.`,
        );
    }
    return { before, after };
}

/** The CRL sets, in CrlPlan's order. */
const CRL_SETS = Object.keys(CRL_SET_SLOT) as CrlSet[];
/** The CRL sets whose issuing CAs re-sign their CRLs every pki:crlPeriodDays: all but the mesh's. */
const EDGE_CRL_SETS = CRL_SETS.filter((k) => k !== "mesh");

/**
 * The step for cacerts' first ca-crl.pem under an offline mesh root: the mesh CAs' CRLs never
 * expire, but the root's is a CRL of the ceremony's series, re-published each time the series
 * moves on, every series period (README "CRLs that do not expire"). The period is the spacing of
 * the published CRL and the next (or previous) of its series in pki:offlineRoots.<root>.crls
 * (seriesPeriodMs), not read from one CRL's validity, which is two periods only for a series the
 * ceremony signs. Undefined when the mesh root is not offline, or its CRL was published before.
 */
function offlineSeriesStep(base: PkiPlan, head: PkiPlan): string | undefined {
    const slot = rootOf("meshCa", head.config.trustDomains);
    const offline = head.config.offlineRoots[slot];
    if (offline === undefined) return undefined;
    const root = head.cas.find((c) => c.role === "root" && c.slot === slot);
    const crl = root && head.crls.offlineRootCrls[root.id];
    if (root === undefined || crl === undefined || base.crls.offlineRootCrls[root.id] !== undefined) return undefined;
    const { thisUpdate, nextUpdate } = parseCrl(crl);
    const validityMs = nextUpdate.getTime() - thisUpdate.getTime();
    // A series of one CRL shows no spacing: half its validity, the period of a series the ceremony
    // signs (crlSeriesWindows: each CRL valid from its thisUpdate for two periods).
    const periodMs = seriesPeriodMs(offline.crls, offline.certificate, crl) ?? validityMs / 2;
    const periodDays = Math.round(periodMs / DAY_MS);
    const validityDays = Math.round(validityMs / DAY_MS);
    const overlap =
        validityMs === 2 * periodMs
            ? "each CRL is valid for two periods, so the one in place has one period to run"
            : `each CRL is valid for ${validityDays} days, so the one in place has ${validityDays - periodDays} days to run once the next is valid`;
    return (
        `From now on every cluster's cacerts carries the CRL of the offline root pki:offlineRoots.${slot}, from the ceremony's series: ` +
        `it must be re-published each time the series moves on, every ${periodDays} days (the series period; ${overlap}): ` +
        `run pulumi up, or let the scheduled lifecycle workflow do it, and sign the next series before pki:offlineRoots.${slot}.crls ends.`
    );
}

/** Why an upload of a truststore's new content may take a new truststore (README, Staged CA rotation). */
const TRUSTSTORES_UPDATE =
    "IBM documents apic truststores:update only for title and summary, so create a new truststore";

/**
 * What `istioctl proxy-config secret -o json` prints is Envoy's SecretsConfigDump in proto3 JSON names, the
 * certificates base64 PEM: the workload's chain in the `default` secret, the roots in `ROOTCA`. Its table
 * decodes only the first certificate of each secret (one pem.Decode), so it cannot show two roots.
 */
const MESH_CHAIN_JQ =
    "jq -r '.dynamicActiveSecrets[] | select(.name==\"default\") | .secret.tlsCertificate.certificateChain.inlineBytes'";
const ROOTCA_JQ =
    "jq -r '.dynamicActiveSecrets[] | select(.name==\"ROOTCA\") | .secret.validationContext.trustedCa.inlineBytes'";
/** The certificates of a base64 PEM bundle, listed. */
const LIST_CERTS = "base64 -d | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout";
/**
 * The ca.crt a gateway or sidecar has of a Secret named by credentialName: Istio names its SDS
 * resource kubernetes://<credentialName>-cacert.
 */
const cacertOf = (pod: string, namespace: string): string =>
    `istioctl proxy-config secret ${pod} -n ${namespace} -o json | jq -r '.dynamicActiveSecrets[] | select(.name=="kubernetes://<Secret>-cacert") | .secret.validationContext.trustedCa.inlineBytes' | ${LIST_CERTS} lists the roots of each Secret's ca.crt`;

/**
 * Before a mesh CA's finish: its ca-crl.pem revokes the old mesh CAs, so Istio 1.27+ sidecars refuse
 * every certificate they issued. pki:meshFinishAfterHours measures time only: an istiod that never
 * took the switch's cacerts still signs with the old CA.
 */
function meshCaFinishCheck(head: PkiPlan): string {
    const meshCas = head.cas.filter((c) => c.slot === "meshCa" && c.active).map((c) => c.id);
    return (
        "Check that every workload was restarted or renewed since the switch, with a certificate of the new mesh CA " +
        `(${names(meshCas)}): certificates of the old mesh CA are refused after this update (Istio 1.27+ sidecars read ca-crl.pem, which revokes it), ` +
        "and pki:meshFinishAfterHours measures only the time since the switch, not whether istiod took the switch's cacerts. " +
        "In each cluster, istioctl proxy-config secret <pod> -n <namespace> -o json has a workload's certificate chain in base64: " +
        `istioctl proxy-config secret <pod> -n <namespace> -o json | ${MESH_CHAIN_JQ} | base64 -d | openssl x509 -noout -issuer shows its issuer, which must be the new mesh CA; ` +
        "restart the workloads whose issuer is the old one, and istiod first if it still signs with the old one."
    );
}

/**
 * How the gateway's pods get the pins of `endpoints` (their Gateway's verifyCertificateSpki): istiod
 * pushes the Gateway to them. Until then they refuse a key they do not pin, APIC's new one.
 */
function pinsReached(endpoints: readonly string[], head: PkiPlan): string {
    const ns = head.config.gatewayNamespace;
    const gateways = [...new Set(head.endpoints.filter((e) => endpoints.includes(e.id)).map((e) => e.gatewayName))];
    return (
        `kubectl get gateways.networking.istio.io -n ${ns} ${gateways.join(" ")} -o yaml shows both pins in each host's tls.verifyCertificateSpki, ` +
        `and istiod pushes it to the pods (istioctl proxy-config listener <gateway pod> -n ${ns} -o json shows both pins in verifyCertificateSpki; ` +
        "until then the gateway refuses APIC's new key)"
    );
}

/**
 * After a root's prepare: who must hold the new root before the switch, and how it gets there.
 * APIC's truststores take a new server root, and its UI truststore a new UI client root, by the
 * uploads above, not by themselves.
 */
function rootBundleWait(slot: CaSlot, diff: Omit<CertDiff, "steps">, head: PkiPlan): string | undefined {
    if (!isRootSlot(slot)) return undefined;
    const ns = head.config.gatewayNamespace;
    const parts: string[] = [];
    if (slot === "clientRoot" || slot === "root") {
        parts.push(
            `the gateway pods in ${ns} have the new ca.crt of their Secrets (istiod pushes it to them: ${cacertOf("<gateway pod>", ns)})`,
        );
    }
    if (slot === "meshRoot" || slot === "root") {
        parts.push(
            `istiod of ${list(head.config.clusters.map((c) => c.name))} has the new root-cert.pem (it reloads cacerts and writes the istio-ca-root-cert ConfigMap of every namespace: ` +
                "kubectl get configmap istio-ca-root-cert -n <namespace> -o yaml shows both roots) and every proxy has both roots (its ROOTCA secret, in base64 in -o json; the table shows only a secret's first certificate: " +
                `istioctl proxy-config secret <pod> -n <namespace> -o json | ${ROOTCA_JQ} | ${LIST_CERTS} lists both)`,
        );
    }
    const uiCallers = ownersOf(diff.places, "UI client secret", "update", "ca.crt");
    if ((slot === "serverRoot" || slot === "root") && uiCallers.length > 0) {
        const namespaces = [
            ...new Set(
                head.frontEnd.uiClients.filter((c) => uiCallers.includes(c.name)).map((c) => c.secret.namespace),
            ),
        ];
        parts.push(
            `the sidecars of ${names(uiCallers)} have the new ca.crt of ${its(uiCallers)} ${uiCallers.length === 1 ? "Secret" : "Secrets"} ` +
                `(istiod pushes it to them: ${cacertOf("<pod>", namespaces.length === 1 ? namespaces[0] : "<namespace>")})`,
        );
    }
    return parts.length > 0 ? `Before the switch, wait until ${parts.join(", and until ")}.` : undefined;
}

/** What to do around `pulumi up`, in order, from what changes; `keepsOld`: cacertsIstiodKeepsOld's. */
function stepsFor(
    diff: Omit<CertDiff, "steps">,
    base: PkiPlan,
    head: PkiPlan,
    keepsOld: ReadonlySet<string>,
    unseenCrls?: string,
): CertDiff["steps"] {
    const before: string[] = [];
    const after: string[] = [];
    const hostOf = (id: string) => head.endpoints.find((e) => e.id === id)?.host ?? id;
    // Hosts whose new ones come with this update cannot be left beforehand: the risk's maintenance window.
    const blocked = droppedSplit(base, head).blocked;
    const dropped = droppedEndpoints(base, head).filter((e) => !blocked.includes(e));
    if (dropped.length > 0)
        before.push(
            `Make sure APIC no longer calls the hosts this change drops: ${names(dropped.map((e) => e.host))}.`,
        );
    if (blocked.length > 0) {
        before.push(
            `As it is, this change takes a maintenance window (its risks say why, and any way without one): APIC's calls to ${names(blocked.map((e) => e.host))} ` +
                "fail from this update on, and their new hosts come with it. Check that the new hosts resolve to the ingress gateway.",
        );
    }
    if (!diff.newStack) before.push(...gatewayMoveSteps(base, head));
    const frontEnd = frontEndSteps(diff, base, head);
    before.push(...frontEnd.before);
    for (const t of diff.caRotation.filter((t) => t.refused === undefined)) {
        const to = head.config.caRotation[t.slot];
        if (t.slot === "meshCa" && to.phase === "finish") {
            before.push(meshCaFinishCheck(head));
        }
        if (t.slot !== "meshRoot" && t.slot !== "root") continue;
        if (to.phase === "prepare") {
            before.push(
                "Set ISTIO_MULTIROOT_MESH=true on istiod (and PROXY_CONFIG_XDS_AGENT), so that the mesh trusts both roots (README, Staged CA rotation).",
            );
        }
        if (to.phase === "finish") {
            before.push(
                "Check that every workload was restarted or renewed since the switch: certificates under the old root are refused after this update.",
            );
        }
    }
    const unpinned = diff.pins.filter((p) => p.before.some((k) => !p.after.includes(k)));
    // Cut off at once: a revoked client's key, and one replaced under the same epoch.
    const revoked = new Set([
        ...diff.revocations.filter((r) => r.change === "added").map((r) => r.endpoint),
        ...(diff.newStack ? [] : rekeyedInPlace(base, head).map((e) => e.id)),
    ]);
    // A revoked key older than the client's epoch in a switch: no new key is made. The previous
    // epoch's is the key the switch pins beside the current one (keyBeforePinned, as the pins show),
    // so APIC must already use, or upload now, the keystore of the current epoch.
    const revokedOlder = diff.revocations.filter((r) => {
        const e = head.endpoints.find((h) => h.id === r.endpoint);
        return (
            r.change === "added" &&
            r.clientEpoch === undefined &&
            e !== undefined &&
            r.epoch < e.client.epoch &&
            clientOverlap(head.config, e.id)
        );
    });
    const epochOfClient = (id?: string) => clientEpochOf(head, id) ?? 0;
    const revokedPrevious = revokedOlder.filter((r) => r.epoch === epochOfClient(r.endpoint) - 1);
    for (const r of revokedPrevious) {
        before.push(
            `Check that APIC uses the keystore of epoch ${epochOfClient(r.endpoint)} of ${r.endpoint}, or upload it now (apic keystores:update, same name): ` +
                `the revoked key of epoch ${r.epoch} is refused from this update on, and no new key is made, so APIC's calls to ${r.host} fail while it holds that key.`,
        );
    }
    // An older epoch's: the key pinned beside the current one stays, as diff takes it to be the
    // previous epoch's; only if the epochs jumped past it is that key the revoked one.
    for (const r of revokedOlder.filter((o) => !revokedPrevious.includes(o))) {
        const epoch = epochOfClient(r.endpoint);
        before.push(
            `Only if the client of ${r.endpoint} came to epoch ${epoch} straight from ${r.epoch}: check that APIC uses the keystore of epoch ${epoch}, or upload it now (apic keystores:update, same name), ` +
                `as the key pinned beside it is then the revoked one of epoch ${r.epoch}, refused from this update on. Otherwise that pinned key is a later epoch's, and it stays.`,
        );
    }
    const dropping = unpinned
        .filter((p) => !revoked.has(p.endpoint) && !revokedPrevious.some((r) => r.endpoint === p.endpoint))
        .map((p) => p.endpoint);
    if (dropping.length > 0) {
        before.push(
            `Check that APIC uses the newest keystore of ${list(dropping)}: the older keys stop working with this update.`,
        );
    }
    const created = ownersOf(diff.places, "APIC keystore", "create");
    const rewritten = ownersOf(diff.places, "APIC keystore", "update", "client.p12");
    // A keystore whose client.p12 alone is rewritten keeps its keystore.json (apic keystores:update).
    const keystores = diff.places
        .filter(
            (p) => p.kind === "APIC keystore" && p.change === "update" && p.items.some((i) => i.item !== "client.p12"),
        )
        .map((p) => p.owner);
    const switching = diff.pins.filter((p) => p.after.length > 1).map((p) => p.endpoint);
    if (keystores.length > 0) {
        const now = keystores.filter((id) => revoked.has(id));
        const pinning = now.length === 0 && keystores.every((id) => switching.includes(id));
        after.push(
            `Upload the APIC keystore of ${names(keystores)} (apic keystores:update, same name)` +
                (now.length > 0
                    ? `; at once for ${list(now)}: APIC's calls to ${list(now.map(hostOf))} fail until then`
                    : pinning
                      ? `, once the gateway pods have the new Gateway that pins the old and the new key: ${pinsReached(keystores, head)}; ` +
                        "the gateway accepts the old and the new key from then until the rotation finishes"
                      : "") +
                ".",
        );
    }
    if (rewritten.length > 0) {
        const { pkcs12Profile, pkcs12Iterations } = head.config;
        // Each client epoch has its own PKCS#12 password (apicClientBundle): the password stays only
        // where the endpoint's client epoch does.
        const newPassword = rewritten.filter((id) => clientEpochOf(base, id) !== clientEpochOf(head, id));
        const samePassword = rewritten.filter((id) => !newPassword.includes(id));
        const NEW_PASSWORD =
            "render's apic/<endpoint>/client.p12.password, stack output apicBundles.<endpoint>.pkcs12Password";
        const password =
            newPassword.length === 0
                ? "same password"
                : samePassword.length === 0
                  ? `with its new password: ${NEW_PASSWORD}`
                  : `same password for ${names(samePassword)}; ${names(newPassword)} with a new password: ${NEW_PASSWORD}`;
        // How it is written changes for every endpoint at once (the profile and iterations are the stack's).
        const reformatted =
            base.config.pkcs12Profile !== pkcs12Profile || base.config.pkcs12Iterations !== pkcs12Iterations;
        const uploaded = rewritten.filter((id) => keystores.includes(id));
        const when =
            uploaded.length === 0
                ? "; keystore.json (apic keystores:update) does not change."
                : uploaded.length === rewritten.length
                  ? `${reformatted ? "; load it" : ","} when the keystore upload above is due.`
                  : `; for ${names(uploaded)}, when the keystore upload above is due.`;
        after.push(
            `Load the new client.p12 of ${names(rewritten)} wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, ` +
                `stack output apicBundles.<endpoint>.pkcs12Base64, ${password})` +
                (reformatted
                    ? `: it is now written ${pkcs12Profile}, ${pkcs12Iterations} iterations, under the alias ${pkcs12FriendlyName("<endpoint>", pkcs12Profile)}`
                    : "") +
                when,
        );
    }
    const updated = (item: string) => ownersOf(diff.places, "APIC truststore", "update", item);
    if (updated("truststore.pem").length > 0) {
        after.push(
            `Upload the APIC truststore of ${names(updated("truststore.pem"))} (truststore.json; ${TRUSTSTORES_UPDATE} and point the TLS client profile at it if an update does not take the content).`,
        );
    }
    if (updated("truststore.crl").length > 0) {
        after.push(
            `Load the new truststore.crl of ${names(updated("truststore.crl"))} into the DataPower validation credentials that check the gateway's CRLs, if you set them up (APIC's TLS client profiles take no CRL).`,
        );
    }
    // The hosts APIC has not called: new endpoints' need a TLS client profile each; an endpoint
    // that keeps its name under a new host keeps its profile, and only the host called changes.
    const rehosted = diff.newStack ? [] : rehostedEndpoints(base, head);
    const newHosts = [...created.map(hostOf), ...rehosted.map(({ after }) => after.host)];
    if (newHosts.length > 0 && !diff.newStack) {
        const both = created.length > 0 && rehosted.length > 0;
        const one = rehosted.length === 1;
        const forHosts = (hosts: string[]) => (both ? `for ${names(hosts)}, ` : "");
        const parts = [
            ...(created.length > 0
                ? [`${forHosts(created.map(hostOf))}a TLS client profile with the endpoint's keystore and truststore`]
                : []),
            ...(rehosted.length > 0
                ? [
                      forHosts(rehosted.map(({ after }) => after.host)) +
                          (one
                              ? `endpoint ${rehosted[0].after.id} keeps its name and TLS client profile: point the API definitions that call its old host (${rehosted[0].before.host}) at the new one`
                              : `endpoints ${names(rehosted.map(({ after }) => after.id))} keep their names and TLS client profiles: ` +
                                `point the API definitions that call their old hosts (${names(rehosted.map(({ before }) => before.host))}) at the new ones`),
                  ]
                : []),
        ];
        const maybe = diff.places.some((p) => p.kind === "APIC keystore" && p.unlessDeployed === true);
        const it = newHosts.length === 1 ? "it" : "them";
        after.push(
            `${maybe ? "Unless the last update that ran whole made them: route" : "Route"} ${newHosts.length === 1 ? "the new host" : "each new host"} (${viaVirtualService(head, newHosts)}) ` +
                `before APIC calls ${it}: the Gateway serves ${it} from this update on, but routes a host only through a VirtualService that binds it.`,
        );
        after.push(
            `${maybe ? "Unless the last update that ran whole made them: configure" : "Configure"} APIC for the new ${newHosts.length === 1 ? `host ${newHosts[0]}` : `${newHosts.length} hosts ${names(newHosts)}`}: ${parts.join("; ")}.`,
        );
    }
    const moved = diff.newStack ? [] : servicesMoved(base, head);
    if (moved.length > 0) {
        after.push(
            `Move APIC's calls to the services that leave a host this change keeps: ${names(moved.map((m) => `${names(m.services)} from ${m.from} to ${m.to}`))}. ` +
                `Route each at its new host (${viaVirtualService(head, [...new Set(moved.map((m) => m.to))])}), then point its API definitions there, with that host's TLS client profile; ` +
                "keep it routed at its old host until APIC no longer calls it there.",
        );
    }
    const cacerts = diff.places.filter(
        (p) => p.kind === "istiod cacerts" && p.change === "update" && !keepsOld.has(p.place),
    );
    const restarted = diff.places.filter((p) => keepsOld.has(p.place)).map((p) => p.owner);
    if (restarted.length > 0) {
        after.push(
            `Restart istiod of ${list(restarted)} (${RESTART_ISTIOD}), then every workload: the new root-cert.pem neither holds nor is held by the one istiod loaded, ` +
                'so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts, whenever that is.',
        );
    }
    const touching = (item: string) => cacerts.filter((p) => p.items.some((i) => i.item === item)).map((p) => p.owner);
    if (touching("ca-cert.pem").length > 0) {
        after.push(
            `istiod of ${list(touching("ca-cert.pem"))} reloads cacerts (Istio 1.18+) and signs with the new CA; workloads get new certificates within their TTL (24 h by default), or restart them.`,
        );
    } else if (touching("root-cert.pem").length > 0) {
        after.push(
            `istiod of ${list(touching("root-cert.pem"))} reloads cacerts (Istio 1.18+): check that the istio-ca-root-cert ConfigMaps carry the new root bundle.`,
        );
    } else if (cacerts.length > 0) {
        after.push(
            `istiod of ${list(cacerts.map((p) => p.owner))} reloads cacerts (Istio 1.18+) and sends ca-crl.pem to the sidecars (Istio 1.27+).`,
        );
    }
    // Existing cacerts only: a new one is written whole.
    const reloading = diff.places
        .filter((p) => p.kind === "istiod cacerts" && p.change === "update")
        .map((p) => p.owner);
    const kept = head.config.clusters
        .map((c) => c.name)
        .filter(
            (c) =>
                base.config.clusters.some((b) => b.name === c) &&
                (reloading.includes(c) || !diff.places.some((p) => p.owner === c && p.kind === "istiod cacerts")),
        );
    // Only if a cluster was ever removed, which stack files cannot show: a note, nothing to do.
    const notes =
        unseenCrls !== undefined && kept.length > 0
            ? [
                  `Only if a cluster was ever removed from pki:clusters (stack files cannot show it; if none was, ignore this): every cluster's cacerts carries ca-crl.pem, ` +
                      `this change also changes it (${unseenCrls}), and istiod of ${list(kept)} takes that by itself (it reloads cacerts, Istio 1.18+, and sends the new ca-crl.pem to the sidecars, Istio 1.27+).`,
              ]
            : [];
    after.push(...frontEnd.after);
    const wasPublished = crlsPublished(base);
    const nowPublished = crlsPublished(head, base);
    // Only the edge's sets are re-signed every pki:crlPeriodDays: the mesh CAs' CRLs in cacerts are
    // valid until their CAs expire (README "CRLs that do not expire"); the mesh set counts only for
    // an offline mesh root, whose ceremony-signed series has its own period (offlineSeriesStep).
    const periodic = EDGE_CRL_SETS.filter((k) => nowPublished[k]);
    const firstCrls = periodic.filter((k) => !wasPublished[k]);
    const periodChanged = base.config.crlPeriodDays !== head.config.crlPeriodDays && periodic.length > 0;
    if ((firstCrls.length > 0 || periodChanged) && !diff.newStack) {
        after.push(
            `From now on CRLs must be re-published at least every ${head.config.crlPeriodDays} days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.`,
        );
    }
    const series =
        nowPublished.mesh && !wasPublished.mesh && !diff.newStack ? offlineSeriesStep(base, head) : undefined;
    if (series !== undefined) after.push(series);
    for (const t of diff.caRotation.filter((t) => t.refused === undefined)) {
        const to = head.config.caRotation[t.slot];
        const next = PHASES[PHASES.indexOf(to.phase) + 1];
        if (next === undefined) continue;
        const waiting = to.phase === "prepare" ? rootBundleWait(t.slot, diff, head) : undefined;
        if (waiting !== undefined) after.push(waiting);
        after.push(
            `Then, in a later change, the next phase: pki:caRotation.${t.slot}: { generation: ${to.generation}, phase: ${next} }.`,
        );
    }
    return notes.length > 0 ? { before, after, notes } : { before, after };
}

/** What an update whose CSRs still wait does, and when the rest of the change comes. */
function ceremonyWaits(head: PkiPlan): string {
    const n = head.pendingIntermediates.length;
    return (
        `The rest waits for the ceremony: the offline roots have not signed ${names([...head.pendingIntermediates])} yet, so this pulumi up registers only the CAs' keys and CSRs ` +
        `and the cacerts of the mesh CAs signed, deletes nothing and stops. Everything else this change makes (leaves, the gateway's Secrets, APIC's bundles) comes after it: ` +
        `sign ${n === 1 ? "the CSR" : "each CSR"} (pulumi stack output intermediateCsrs), put the certificate${n === 1 ? "" : "s"} under pki:offlineRoots and diff again.`
    );
}

/**
 * The risk of a base whose CSRs wait: its update made only CAs, so this one also deploys whatever
 * the changes since the last update that ran whole made, their risks included.
 */
function baseWaits(base: PkiPlan): Risk {
    return {
        key: "pki:offlineRoots",
        change: `the base waits for the ceremony (CSR ${names([...base.pendingIntermediates])}): this update also deploys what the changes since the last update that ran whole made, their risks included, which two stack files cannot show`,
        breaks: "what this diff calls created may exist already, and what those changes replace, delete or re-issue (a root made offline, an endpoint added, a CA rotation's phase) is not listed here: if they made a root offline, this update deletes the online root it replaces and re-issues the certificates under it, with APIC's uploads and istiod's restart that takes",
        instead:
            "review their diff, and take its steps with this update's: npx apic-istio-pki diff --base <the commit, or a copy of the stack file, of the last update that ran whole> --head <this stack file> " +
            "(npm run diff -- ... in this repository)",
    };
}

export function diffPlans(base: PkiPlan | undefined, head: PkiPlan, options: DiffOptions = {}): CertDiff {
    const maxReplaced = options.maxReplaced ?? DEFAULT_MAX_REPLACED;
    const from = base ?? emptyPlan(head);
    const otherSettings =
        options.otherSettings === undefined
            ? undefined
            : otherSettingChanges(options.otherSettings.base, options.otherSettings.head);
    // A base whose CSRs waited for the ceremony: its update made only CAs (and the cacerts of the
    // mesh CAs signed). The rest deployed is what the last update that ran whole made, which no
    // stack file shows: compared as if nothing, each change beyond the CAs is one that "may" be.
    const waiting = waitingForCeremony(from);
    const baseCas = new Set(from.cas.map((c) => c.id));
    const baseCerts = new Map(
        plannedCertificates(from)
            .filter((c) => waiting === undefined || baseCas.has(c.id))
            .map((c) => [c.id, c]),
    );
    // A head whose CSRs still wait: its update registers the CAs (a pending CA's key and CSR; an
    // offline root is no resource, so the online one it replaces stays) and the cacerts of mesh CAs
    // signed by then, keeps every leaf and place as they are and deletes nothing.
    const headWaiting = waitingForCeremony(head, from);
    const headCas = new Set(head.cas.map((c) => c.id));
    const csrs = head.cas
        .filter((c) => head.pendingIntermediates.includes(c.id) && !from.pendingIntermediates.includes(c.id))
        .map((c) => c.id);
    const keptWhileWaiting = (c: PlannedCertificate) =>
        headWaiting !== undefined &&
        (!headCas.has(c.id) || head.cas.some((ca) => ca.id === c.id && ca.offline && ca.role === "root"));
    const headCerts =
        headWaiting === undefined
            ? plannedCertificates(head) // CAs first, so issuers are decided before their leaves
            : [
                  ...plannedCertificates(head).filter((c) => headCas.has(c.id) && !csrs.includes(c.id)),
                  ...[...baseCerts.values()].filter((c) => !headCas.has(c.id) || csrs.includes(c.id)),
              ];
    const replacedIssuers = new Set<string>();
    const added: CertChange[] = [];
    const removed: CertChange[] = [];
    const replaced: CertChange[] = [];
    const newKey = new Set<string>();
    // A server certificate of an endpoint moved to another domain: new resources, a new key.
    const movedServers = new Map(
        (base === undefined ? [] : movedEndpoints(from, head)).map(({ before, after }) => [
            `${after.id}/server`,
            `domain changed: ${before.domain} -> ${after.domain} (new resource names for its key, certificate and Secret)`,
        ]),
    );
    let unchanged = 0;
    for (const after of headCerts) {
        const before = baseCerts.get(after.id);
        if (before === undefined) {
            replacedIssuers.add(after.id);
            added.push({ id: after.id, role: after.role, reasons: [], forces: newMaterial(after, true, from), after });
            continue;
        }
        if (keptWhileWaiting(after) || csrs.includes(after.id)) {
            unchanged++;
            continue;
        }
        const moved = movedServers.get(after.id);
        const firstSigned =
            from.pendingIntermediates.includes(after.id) && !head.pendingIntermediates.includes(after.id);
        const reasons = [
            ...reasonsFor(before, after, replacedIssuers, firstSigned),
            ...ceremonyReasons(from, head, after, firstSigned),
            ...publicCertificateReasons(from, head, after),
            ...(moved !== undefined ? [moved] : []),
        ];
        if (reasons.length === 0) {
            unchanged++;
            continue;
        }
        // Nothing was issued under a CA whose CSR waited for the ceremony.
        if (!firstSigned) replacedIssuers.add(after.id);
        const rekeyed = before.key !== after.key || before.epoch !== after.epoch || moved !== undefined;
        if (rekeyed) newKey.add(after.id);
        replaced.push({
            id: after.id,
            role: after.role,
            reasons,
            forces: newMaterial(after, rekeyed, from),
            before,
            after,
        });
    }
    const headIds = new Set(headCerts.map((c) => c.id));
    for (const before of baseCerts.values()) {
        if (!headIds.has(before.id))
            removed.push({ id: before.id, role: before.role, reasons: [], forces: [], before });
    }

    // The issuing CAs whose relying parties checked CRLs before this change: a finish adds to those.
    const publishedBefore = crlsPublished(from);
    const caRotation = describeTransitions(
        from.config.caRotation,
        head.config.caRotation,
        caSlots(layoutOf(head.config)),
        { before: from.cas, after: head.cas },
        new Set(CRL_SETS.filter((set) => publishedBefore[set]).map((set) => CRL_SET_SLOT[set])),
    );
    const rotating = new Set(caRotation.map((t) => t.slot));
    const revocations = base === undefined ? [] : revocationChanges(from, head);
    const cas = new Map<string, CaPlan>([...from.cas, ...head.cas].map((c) => [c.id, c]));
    const crlNews = new Map<string, string[]>();
    // A finish retires the old issuing CA, and a removed cluster its mesh CAs: their root's CRL lists them from now on.
    const leavingMesh = new Set(meshCasRevokedSince(from, head).map((c) => c.id));
    for (const c of removed) {
        const ca = cas.get(c.id);
        if (ca?.issuer !== undefined && ca.role !== "root" && (rotating.has(ca.slot) || leavingMesh.has(ca.id))) {
            crlNews.set(ca.issuer, [...(crlNews.get(ca.issuer) ?? []), `revokes ${ca.id}, retired`]);
        }
    }
    // Issuing CAs re-sign their CRL every publication period (lib/pki/crl.ts): a new period length re-signs it.
    const periods = { before: from.config.crlPeriodDays, after: head.config.crlPeriodDays };
    if (base !== undefined && periods.before !== periods.after) {
        for (const ca of head.cas.filter((c) => c.role === "intermediate")) {
            crlNews.set(ca.id, [
                ...(crlNews.get(ca.id) ?? []),
                `re-signed for ${periods.after}-day periods (pki:crlPeriodDays ${periods.before} -> ${periods.after})`,
            ]);
        }
    }
    // A revocation changes the CRL of the CA that issued the certificate (lib/stack.ts revokedBy).
    for (const r of revocations) {
        const news =
            r.change === "added"
                ? `revokes serial ${r.serial} of ${holderOf(r)}`
                : `no longer lists serial ${r.serial}`;
        for (const issuer of revokedIssuers(from, r)) crlNews.set(issuer, [...(crlNews.get(issuer) ?? []), news]);
    }
    const basePlaces = waiting?.places ?? placesOf(from);
    const headPlaces = headWaiting === undefined ? placesOf(head, from) : placesWhileWaiting(basePlaces, headWaiting);
    const changes: Changes = { replaced: new Set(replaced.map((c) => c.id)), newKey, crlNews };
    // While the head waits, a place it keeps is as it was, whatever CA its items name.
    const kept = new Set(basePlaces.filter((p) => headPlaces.includes(p)).map((p) => p.id));
    const places = placeChanges(basePlaces, headPlaces, changes).filter((p) => !kept.has(p.place));
    // A waiting head that writes the cacerts of a mesh CA it signs writes them with whatever changed
    // since the last update that ran whole (a root made offline): what it does there is a "may" too.
    const writesWhileWaiting = headWaiting !== undefined && places.length > 0;
    const mayBe = waiting !== undefined && (headWaiting === undefined || writesWhileWaiting);
    if (mayBe) for (const p of places) p.unlessDeployed = true;
    const unseenCrls = base === undefined ? undefined : unseenMeshCrls(from, head, places, changes);
    const verbs = new Map(places.map((p) => [p.place, p.change]));
    const keepsOld = cacertsIstiodKeepsOld(basePlaces, headPlaces, new Set(replaced.map((c) => c.id)));
    const newIstiodCa = new Set(
        places.filter((p) => p.items.some((i) => i.item === "ca-cert.pem")).map((p) => p.place),
    );
    const headCarriers = carriersById(headPlaces);
    const baseCarriers = carriersById(basePlaces);
    for (const c of [...added, ...replaced])
        c.forces.push(...deliveryForces(headCarriers.get(c.id) ?? [], verbs, keepsOld, newIstiodCa));
    for (const c of removed)
        c.forces.push(...deliveryForces(baseCarriers.get(c.id) ?? [], verbs, keepsOld, newIstiodCa));
    for (const c of added.filter((c) => mayBe && !headCas.has(c.id))) {
        c.unlessDeployed = true;
        c.forces = [`may be created by this update (unless the last update that ran whole made it)`];
    }
    // After a base that waited, where a CA's certificate goes is known, not whether it was there before.
    const delivered = /^(create|update|delete) (secret |\d+ secrets)|^(create|delete|new) APIC /;
    if (mayBe) for (const c of replaced) c.forces = c.forces.map((f) => (delivered.test(f) ? `may ${f}` : f));

    const {
        pins,
        refused: pinRefusals,
        headPins,
    } = base === undefined || headWaiting !== undefined
        ? { pins: [], refused: [], headPins: new Map() }
        : pinChanges(from, head);
    // As the plan does: a CA phase skipped or reversed is the one thing to fix, and the APIC
    // clients' cut-over it would make (a skipped switch) is not named with advice that cannot help.
    const phaseRefused = caRotation.some((t) => t.refused !== undefined);
    const certs = { added, removed, replaced };
    // While the head waits, its risks are those of the whole change, ahead of the update that makes it;
    // not the base's waiting, unless it writes a cacerts: else it deploys nothing the last update that ran whole made.
    const risks =
        headWaiting !== undefined
            ? diffPlans(base, { ...head, pendingIntermediates: [] }, options).risks.filter(
                  (r) => waiting === undefined || writesWhileWaiting || r.change !== baseWaits(from).change,
              )
            : [
                  ...(base === undefined ? [] : caRisks(from, head, certs, rotating)),
                  ...droppedHosts(from, head),
                  ...(base === undefined ? [] : rehomedHosts(from, head)),
                  ...(base === undefined ? [] : clusterRisks(from, head)),
                  ...(base === undefined ? [] : gatewayNamespaceRisks(from, head)),
                  ...(base === undefined ? [] : movedEndpointRisks(from, head)),
                  ...(base === undefined ? [] : strictMtlsRisks(from, head)),
                  ...(base === undefined ? [] : rekeyedClients(from, head)),
                  ...(base === undefined ? [] : pkcs12Risks(from, head)),
                  ...frontEndRisks(from, head, replaced),
                  ...(mayBe ? [baseWaits(from)] : []),
                  ...(base === undefined ? [] : otherSettingRisks(otherSettings ?? [])),
                  ...(replaced.length > maxReplaced
                      ? [
                            {
                                key: changedKeys(from, head).join(", "),
                                change: `replaces ${replaced.length} certificates in one update (more than ${maxReplaced})`,
                                breaks: `every consumer must take the new material in the same window (${plural(places.filter((p) => p.change === "update").length, "secret or APIC bundle")} updated), and a mistake reaches every endpoint at once`,
                                instead:
                                    "split the change: raise epochs per endpoint (pki:rotation.endpoints.<id>) or per kind in several reviewed changes; if one update is intended, say so in the review",
                            },
                        ]
                      : []),
              ];
    const diff: Omit<CertDiff, "steps"> = {
        base: { environment: from.config.environment, option: from.config.option },
        head: { environment: head.config.environment, option: head.config.option },
        newStack: base === undefined,
        risks,
        refused: [
            ...(base === undefined
                ? []
                : [
                      ...loweredEpochs(from, head),
                      ...removedCallersRevocations(from, head),
                      ...meshEpochRefusals(from, head),
                      ...ecdsaClusterRemovals(from, head),
                      ...customerFacingRefusals(from, head),
                  ]),
            ...(phaseRefused ? [] : pinRefusals),
            ...oversizedGateways(head, headPins),
        ],
        caRotation,
        added,
        removed,
        replaced,
        csrs,
        unchanged,
        places,
        revocations,
        customerFacing: headWaiting === undefined ? customerFacingChanges(from, head) : [],
        pins,
        routing: headWaiting === undefined ? routing(from, head) : [],
        gateways: base === undefined || headWaiting !== undefined ? [] : gatewayChanges(from, head),
        ...(otherSettings !== undefined ? { otherSettings } : {}),
    };
    if (headWaiting !== undefined) return { ...diff, steps: { before: [], after: [ceremonyWaits(head)] } };
    return { ...diff, steps: stepsFor(diff, from, head, keepsOld, unseenCrls) };
}

/** Whether a diff holds a refused change (exit 1). */
export const isRefused = (diff: CertDiff): boolean =>
    diff.refused.length > 0 || diff.caRotation.some((t) => t.refused !== undefined);
