/**
 * Validation of `pki:frontEnd`: the UI microservices, which of them call APIC with mutual TLS,
 * the APIC host(s) they call, and the customer-facing hosts whose certificates a public CA signs.
 */
import * as crypto from "crypto";
import { CustomerFacingConfig, CustomerFacingGatewayConfig, DEFAULTS, FrontEndConfig, UiServiceConfig } from "./types";
import { pastedPrivateKey, pemBlocks, runTogetherPemBlock, runTogetherProblem } from "../pki/pem";
import { NO_CERTIFICATE, publicChainOf, publicRootDateProblem } from "../pki/publicCert";
import { trustBundleProblem } from "../pki/trustBundle";
import { isSelfSigned, subjectOf } from "../pki/x509";
import {
    APIC_UI_FILES,
    BACKEND_GATEWAY_POD_LABELS,
    caSecretProblem,
    customerFacingSecretName,
    dnsNameProblems,
    Fail,
    GATEWAY_SELECTOR,
    isMap,
    Json,
    JsonMap,
    labelKeyProblem,
    labelValueProblem,
    MAX_KUBERNETES_NAME_LENGTH,
    MAX_LABEL_LENGTH,
    memberPath,
    MESH_CA_SECRET,
    namespaceName,
    NUMBER_LIKE_NAME,
    quoteNumberHint,
    SERVICE_NAME,
    showJson,
    uiClientSecretName,
    unknownMembers,
    wholeNumber,
} from "./values";

const KEY = "pki:frontEnd";
const MEMBERS = [
    "namespace",
    "services",
    "callers",
    "apicHosts",
    "apicServerCa",
    "customerFacing",
    "customerFacingGateway",
    "publicRoots",
];
const MAX_EPOCH = 9_999;

function certificates(pem: string): crypto.X509Certificate[] | undefined {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
        return blocks.length === 0 ? undefined : blocks.map((b) => new crypto.X509Certificate(b));
    } catch {
        return undefined;
    }
}

const isSelfSignedCa = (c: crypto.X509Certificate): boolean => c.ca && isSelfSigned(c);

/** A PEM bundle of self-signed CA certificates (a root the stack should trust). */
function rootsPem(value: Json | undefined, key: string, what: string, fail: Fail, now: Date): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
        fail(`${key} must be ${what} in PEM; got ${showJson(value)}`);
        return undefined;
    }
    const certs = certificates(value);
    if (certs === undefined) {
        // A private key, or a block that is no certificate: the bundle's check names which, never quoting it.
        const named =
            pastedPrivateKey(value) !== undefined || pemBlocks(value, "CERTIFICATE").length > 0
                ? trustBundleProblem(value, now)
                : undefined;
        fail(
            named !== undefined ? `${key} ${named}` : `${key} must be ${what} in PEM; got text with no PEM certificate`,
        );
        return undefined;
    }
    const notRoot = certs.find((c) => !isSelfSignedCa(c));
    if (notRoot !== undefined) {
        fail(`${key} holds ${subjectOf(notRoot)}, which is not a self-signed CA certificate; give the root`);
        return undefined;
    }
    // The text is used as it is given (apicServerCa becomes every calling UI service's ca.crt): a
    // private key pasted after the root would go with it.
    const problem = trustBundleProblem(value, now);
    if (problem !== undefined) {
        fail(`${key} ${problem}`);
        return undefined;
    }
    return value;
}

function services(value: Json | undefined, namespace: string, fail: Fail): UiServiceConfig[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
        fail(
            `${KEY}.services must be a list of UI service names or { name, namespace, labels } maps; got ${showJson(value)}`,
        );
        return [];
    }
    const byKubernetesName = new Map<string, string>();
    return value.flatMap((entry, i): UiServiceConfig[] => {
        const key = `${KEY}.services[${i}]`;
        const spec: JsonMap | undefined =
            typeof entry === "string" ? { name: entry } : isMap(entry) ? entry : undefined;
        if (spec === undefined) {
            fail(
                `${key} must be a UI service name or { name, namespace, labels }; got ${showJson(entry)}${quoteNumberHint(entry, NUMBER_LIKE_NAME)}`,
            );
            return [];
        }
        if (isMap(entry))
            unknownMembers(
                entry,
                key,
                ["name", "namespace", "labels"],
                "a UI service has name, namespace and labels",
                fail,
            );
        const name = spec.name;
        if (typeof name !== "string" || !SERVICE_NAME.test(name)) {
            fail(
                `${key} must name the service with letters, digits and '-' (as the inventory lists it); got ${showJson(name)}${quoteNumberHint(name, NUMBER_LIKE_NAME)}`,
            );
            return [];
        }
        const kubernetesName = name.toLowerCase();
        if (kubernetesName.length > MAX_LABEL_LENGTH) {
            fail(
                `${key} "${name}" is ${name.length} characters; a Kubernetes name has at most ${MAX_LABEL_LENGTH}. Use a shorter name`,
            );
            return [];
        }
        const twin = byKubernetesName.get(kubernetesName);
        if (twin !== undefined) {
            fail(
                `${key} "${name}" and "${twin}" are one Kubernetes name, "${kubernetesName}" (names are lower-cased); list the service once`,
            );
            return [];
        }
        byKubernetesName.set(kubernetesName, name);
        let labels: Record<string, string> = { app: kubernetesName };
        if (spec.labels !== undefined) {
            if (!isMap(spec.labels) || Object.keys(spec.labels).length === 0) {
                fail(
                    `${key}.labels must be a non-empty map of pod labels, e.g. { app: ${kubernetesName} }; got ${showJson(spec.labels)}`,
                );
            } else {
                labels = labelMap(spec.labels, `${key}.labels`, fail).labels;
            }
        }
        return [
            {
                name,
                kubernetesName,
                namespace: namespaceName(spec.namespace, `${key}.namespace`, namespace, fail),
                labels,
            },
        ];
    });
}

/**
 * The Kubernetes labels of `given` (the map at `where`), each key or value Kubernetes refuses
 * failed and left out; `complete` when none was.
 */
function labelMap(given: JsonMap, where: string, fail: Fail): { labels: Record<string, string>; complete: boolean } {
    const labels: Record<string, string> = {};
    let complete = true;
    for (const [k, v] of Object.entries(given)) {
        const keyProblem = labelKeyProblem(k);
        if (keyProblem !== undefined) {
            fail(`${where}: the key ${showJson(k)} ${keyProblem}`);
            complete = false;
        } else if (typeof v === "string" && labelValueProblem(v) === undefined) {
            labels[k] = v;
        } else {
            fail(`${memberPath(where, k)} ${labelValueProblem(v)}`);
            complete = false;
        }
    }
    return { labels, complete };
}

function callers(value: Json | undefined, known: readonly UiServiceConfig[], fail: Fail): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
        fail(`${KEY}.callers must be a list of the UI services that call APIC; got ${showJson(value)}`);
        return [];
    }
    const chosen: string[] = [];
    value.forEach((entry, i) => {
        // Named as listed, or by its Kubernetes name: both lower-case to the same service.
        const service =
            typeof entry === "string" ? known.find((s) => s.kubernetesName === entry.toLowerCase()) : undefined;
        if (service === undefined) {
            fail(
                `${KEY}.callers[${i}] ${showJson(entry)} is not in ${KEY}.services; name one of ${known.map((s) => s.name).join(", ") || "the UI services (list them first)"}${quoteNumberHint(entry, NUMBER_LIKE_NAME)}`,
            );
        } else if (chosen.includes(service.kubernetesName)) {
            fail(`${KEY}.callers lists "${service.name}" twice; list each caller once`);
        } else {
            chosen.push(service.kubernetesName);
        }
    });
    return chosen;
}

/** Where `pki:frontEnd.services` (the raw list) lists the service `name`. */
const serviceIndex = (entries: Json | undefined, name: string): number =>
    Array.isArray(entries)
        ? entries.findIndex((e) => (typeof e === "string" ? e : isMap(e) ? e.name : undefined) === name)
        : -1;

/**
 * A caller whose client Secret ends in -cacert: Istio would read it as the client CA of another
 * Secret of its namespace (caSecretProblem), and UiApicClient, which the stack renders it with,
 * refuses it only after other resources were made.
 */
function callerSecretProblems(
    listed: readonly UiServiceConfig[],
    chosen: readonly string[],
    entries: Json | undefined,
    fail: Fail,
): void {
    for (const caller of listed.filter((s) => chosen.includes(s.kubernetesName))) {
        const secretName = uiClientSecretName(caller.kubernetesName);
        const shadows = caSecretProblem(secretName);
        if (shadows === undefined) continue;
        fail(
            `${KEY}.services[${serviceIndex(entries, caller.name)}] "${caller.name}", a caller, names its client Secret "${secretName}", which ends in -cacert: ${shadows}. ` +
                `List it under a name that does not end in -cacert, with labels ${showJson(caller.labels)} to keep selecting its pods, or leave it out of ${KEY}.callers`,
        );
    }
}

/**
 * A caller's pod labels are its DestinationRules' workloadSelector; the labels of any listed service
 * are carried by its pods. When a caller's labels are among another service's of its namespace, its
 * DestinationRules select those pods too: Istio applies one rule per pod and host, so they would
 * call APIC with the caller's certificate (their accounts can read its Secret: Istio needs them to
 * list the namespace's Secrets).
 */
function overlappingSelectors(
    listed: readonly UiServiceConfig[],
    chosen: readonly string[],
    entries: Json | undefined,
    fail: Fail,
): void {
    const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
        Object.entries(selector).every(([k, v]) => labels[k] === v);
    for (const caller of listed.filter((s) => chosen.includes(s.kubernetesName))) {
        const others = listed.filter(
            (s) => s !== caller && s.namespace === caller.namespace && selects(caller.labels, s.labels),
        );
        if (others.length === 0) continue;
        fail(
            `${KEY}.services[${serviceIndex(entries, caller.name)}].labels ${showJson(caller.labels)} of "${caller.name}" also select the pods of ${others.map((s) => `"${s.name}" (${showJson(s.labels)})`).join(", ")} in ${caller.namespace}: ` +
                `its DestinationRule would apply to them too (Istio applies one per pod), and they would call APIC with ${caller.name}'s certificate. Give ${caller.name} labels only its pods carry`,
        );
    }
}

/**
 * Why an APIC host cannot be a DestinationRule's host next to the ServiceEntry's, as the end of a
 * sentence that starts with the key, or undefined. Istio's ResolveShortnameToFQDN expands a
 * DestinationRule's dotless host to its namespace's service name; a ServiceEntry's stays as written.
 */
export function shortHostProblem(host: string): string | undefined {
    return host.includes(".")
        ? undefined
        : `"${host}" is a short name: Istio reads a DestinationRule's short host as ${host}.<its namespace>.svc.cluster.local, ` +
              `not as the ServiceEntry's "${host}", so the UI sidecars would not originate mutual TLS to it. Give APIC's fully qualified host name`;
}

/**
 * A host's name in Kubernetes objects and APIC payloads: its dots turned into '-' (lib/plan/plan.ts
 * hostId, lib/components/uiApicClient.ts hostLabel), so two hosts may share it.
 */
const hostNameForm = (host: string): string => host.replace(/\./g, "-");

/** The DestinationRule by which `service`'s sidecar originates mutual TLS to APIC's `host` (UiApicClient). */
export const apicDestinationRuleName = (service: string, host: string): string =>
    `apic-mtls-${service}-${hostNameForm(host)}`;

/** The ServiceEntry that declares APIC's `host` to the mesh (ApicEgress). */
export const apicServiceEntryName = (host: string): string => `apic-${hostNameForm(host)}`;

/** `name` with the host part shown as its form, so that a message need not quote 250 characters. */
const nameShape = (name: string, host: string): string => name.replace(hostNameForm(host), "<host, dots as '-'>");

/**
 * The names the stack derives from the callers and APIC hosts, each of which calls every host: a
 * name over Kubernetes' limit, or one that two caller-host pairs share in one namespace (ui with
 * x-apic.example and ui-x with apic.example), would be refused by the cluster or have one
 * DestinationRule replace the other, after the program made the keys.
 */
function apicObjectNameProblems(
    listed: readonly UiServiceConfig[],
    chosen: readonly string[],
    apicHosts: readonly string[],
    fail: Fail,
): void {
    const callers = listed.filter((s) => chosen.includes(s.kubernetesName));
    if (callers.length === 0) return;
    const tooLong = new Set<string>();
    // The caller with the longest name has the longest DestinationRule name for every host.
    const longest = callers.reduce((a, b) => (b.kubernetesName.length > a.kubernetesName.length ? b : a));
    apicHosts.forEach((host, i) => {
        const names = [
            { kind: "DestinationRule", name: apicDestinationRuleName(longest.kubernetesName, host) },
            { kind: "ServiceEntry", name: apicServiceEntryName(host) },
        ].filter((o) => o.name.length > MAX_KUBERNETES_NAME_LENGTH);
        if (names.length === 0) return;
        tooLong.add(host);
        const room = MAX_KUBERNETES_NAME_LENGTH - (names[0].name.length - host.length);
        fail(
            `${KEY}.apicHosts[${i}] "${host}" is ${host.length} characters: the stack would name ${names.map((o) => `the ${o.kind} ${nameShape(o.name, host)} with ${o.name.length}`).join(" and ")}, ` +
                `over Kubernetes' ${MAX_KUBERNETES_NAME_LENGTH} for an object name. Give APIC a host of at most ${room} characters, or a shorter name to the caller "${longest.name}"`,
        );
    });
    const byName = new Map<string, { caller: UiServiceConfig; host: string; index: number }>();
    for (const caller of callers) {
        apicHosts.forEach((host, index) => {
            if (tooLong.has(host)) return;
            const name = `${caller.namespace}/${apicDestinationRuleName(caller.kubernetesName, host)}`;
            const twin = byName.get(name);
            if (twin === undefined) {
                byName.set(name, { caller, host, index });
                return;
            }
            fail(
                `${KEY}.callers "${twin.caller.name}" with ${KEY}.apicHosts[${twin.index}] "${twin.host}" and "${caller.name}" with ${KEY}.apicHosts[${index}] "${host}" ` +
                    `would both name their DestinationRule "${apicDestinationRuleName(caller.kubernetesName, host)}" in the namespace ${caller.namespace} (every caller calls every host; dots become '-'), so one would replace the other. ` +
                    `Keep one of the two callers in ${KEY}.callers, or one of the two hosts in ${KEY}.apicHosts`,
            );
        });
    }
}

/**
 * The DNS names of list `value` at `key`, each one refused named by its index in the list; `reserved`
 * says why a valid name may not be used here, if it may not.
 */
function dnsNames(
    value: Json | undefined,
    key: string,
    fail: Fail,
    reserved: (host: string) => string | undefined = () => undefined,
): string[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
        fail(`${key} must be a list of DNS names; got ${showJson(value)}`);
        return [];
    }
    const byName = new Map<string, { host: string; index: number }>();
    return value.flatMap((host, i) => {
        if (typeof host !== "string") {
            fail(`${key}[${i}] must be a DNS name; got ${showJson(host)}`);
            return [];
        }
        const problems = dnsNameProblems(host);
        for (const p of problems) fail(`${key}[${i}] ${showJson(host)} ${p}`);
        if (problems.length > 0) return [];
        const short = shortHostProblem(host);
        if (short !== undefined) {
            fail(`${key}[${i}] ${short}`);
            return [];
        }
        const twin = byName.get(hostNameForm(host));
        if (twin?.host === host) {
            fail(`${key} lists "${host}" twice; list each host once`);
            return [];
        }
        if (twin !== undefined) {
            fail(
                `${key}[${i}] "${host}" and ${key}[${twin.index}] "${twin.host}" have the same name in Kubernetes objects and APIC payloads, "${hostNameForm(host)}" (dots become '-'), so one would replace the other's; give the UI services that call one of them a stack of their own`,
            );
            return [];
        }
        const why = reserved(host);
        if (why !== undefined) {
            fail(`${key}[${i}] "${host}" ${why}`);
            return [];
        }
        byName.set(hostNameForm(host), { host, index: i });
        return [host];
    });
}

function customerFacing(value: Json | undefined, fail: Fail): Record<string, CustomerFacingConfig> {
    if (value === undefined) return {};
    if (!isMap(value)) {
        fail(
            `${KEY}.customerFacing must map customer-facing hosts to { epoch, certificate, certificateEpoch }; got ${showJson(value)}`,
        );
        return {};
    }
    const hosts: Record<string, CustomerFacingConfig> = {};
    const byName = new Map<string, string>();
    for (const [host, entry] of Object.entries(value)) {
        const key = memberPath(`${KEY}.customerFacing`, host);
        const problems = dnsNameProblems(host);
        for (const p of problems) fail(`${KEY}.customerFacing: the host ${showJson(host)} ${p}`);
        const twin = byName.get(hostNameForm(host));
        const clash = problems.length === 0 && twin !== undefined;
        if (clash) {
            fail(
                `${KEY}.customerFacing: the hosts "${twin}" and "${host}" have the same name in Kubernetes objects, "${hostNameForm(host)}" (dots become '-'), so one's Secret public-tls-${hostNameForm(host)} would replace the other's; serve one of them from another stack`,
            );
        }
        if (problems.length === 0 && !clash) byName.set(hostNameForm(host), host);
        const secretName = customerFacingSecretName(hostNameForm(host));
        const tooLong = problems.length === 0 && secretName.length > MAX_KUBERNETES_NAME_LENGTH;
        if (tooLong) {
            fail(
                `${KEY}.customerFacing: the host "${host}" is ${host.length} characters: its Secret ${nameShape(secretName, host)} would be ${secretName.length}, ` +
                    `over Kubernetes' ${MAX_KUBERNETES_NAME_LENGTH} for an object name. A customer-facing host has at most ${MAX_KUBERNETES_NAME_LENGTH - (secretName.length - host.length)} characters here`,
            );
        }
        // Istio would read it as the client CA of the Secret public-tls-<host without -cacert>.
        const shadows = problems.length === 0 ? caSecretProblem(secretName) : undefined;
        if (shadows !== undefined) {
            fail(
                `${KEY}.customerFacing: the host "${host}" would have the Secret "${secretName}", which ends in -cacert: ${shadows}. ` +
                    `Serve it with the CustomerFacingTls component and a secretName that does not end in -cacert`,
            );
        }
        if (!isMap(entry)) {
            fail(
                `${key} must be { epoch, certificate, certificateEpoch } (or {} for a first CSR); got ${showJson(entry)}`,
            );
            continue;
        }
        const given = entry;
        unknownMembers(
            given,
            key,
            ["epoch", "certificate", "certificateEpoch"],
            "a customer-facing host has epoch, certificate and certificateEpoch",
            fail,
        );
        const epochMustBe = `a whole number from 0 to ${MAX_EPOCH} (raise it by one for a new key and CSR)`;
        const epoch =
            given.epoch === undefined
                ? 0
                : (wholeNumber(given.epoch, `${key}.epoch`, 0, MAX_EPOCH, epochMustBe, fail) ?? 0);
        const certificateEpoch =
            given.certificateEpoch === undefined
                ? epoch
                : (wholeNumber(
                      given.certificateEpoch,
                      `${key}.certificateEpoch`,
                      Math.max(0, epoch - 1),
                      epoch,
                      `${epoch === 0 ? "0" : `${epoch - 1} or ${epoch}`} (the key generation the certificate is for: the requested one, or the one before it while the new CSR is being signed)`,
                      fail,
                  ) ?? epoch);
        let certificate: string | undefined;
        const pastedKey = typeof given.certificate === "string" ? pastedPrivateKey(given.certificate) : undefined;
        // The leaf and its chain joined by cat without a line break: each block still parses apart, but Envoy refuses the text.
        const joined = typeof given.certificate === "string" ? runTogetherPemBlock(given.certificate) : undefined;
        if (pastedKey !== undefined) {
            // Stack configuration is stored in clear; never quote the text.
            fail(
                `${key}.certificate holds a private key (${pastedKey}): the stack configuration is kept in clear, so take the key out ` +
                    `(and, if it is this host's key, raise ${key}.epoch for a new key and CSR); give the public CA's certificate and its chain only`,
            );
        } else if (joined !== undefined) {
            fail(`${key}.certificate has ${runTogetherProblem(joined)}`);
        } else if (given.certificate !== undefined) {
            // Read as CustomerFacingTls reads it, so that both name the same block.
            const chain = typeof given.certificate === "string" ? publicChainOf(given.certificate) : NO_CERTIFICATE;
            if (chain === NO_CERTIFICATE) {
                fail(
                    `${key}.certificate must be the public CA's certificate in PEM (the leaf, then its chain); got ${typeof given.certificate === "string" ? "text with no PEM certificate" : showJson(given.certificate)}`,
                );
            } else if (typeof chain === "string") {
                fail(`${key}.certificate ${chain}; give the public CA's certificate in PEM (the leaf, then its chain)`);
            } else {
                certificate = given.certificate as string;
            }
        }
        if (problems.length === 0 && !clash && !tooLong && shadows === undefined) {
            hosts[host] = { epoch, certificateEpoch, ...(certificate !== undefined ? { certificate } : {}) };
        }
    }
    return hosts;
}

/** Namespaces whose Secrets hold keys no UI service may read: a namespace and what of it is at stake. */
function guardedNamespaces(
    gatewayNamespace: string | undefined,
    gateway: CustomerFacingGatewayConfig | undefined,
): Map<string, string[]> {
    const guarded = new Map<string, string[]>();
    const add = (namespace: string, holds: string): void => {
        guarded.set(namespace, [...(guarded.get(namespace) ?? []), holds]);
    };
    add(MESH_CA_SECRET.namespace, `istiod's plug-in CA key (the Secret ${MESH_CA_SECRET.name})`);
    if (gatewayNamespace !== undefined)
        add(gatewayNamespace, "the ingress gateway's server keys (pki:gatewayNamespace)");
    if (gateway !== undefined)
        add(gateway.namespace, `the customer-facing hosts' keys (${KEY}.customerFacingGateway.namespace)`);
    add("kube-system", "the cluster's own credentials");
    return guarded;
}

/**
 * What the backend gateway's namespace (pki:gatewayNamespace) holds besides its own server keys
 * (istiod's plug-in CA key in istio-system, the cluster's credentials in kube-system), or undefined:
 * the internet-facing gateway may not run there, so customer-facing hosts may be served from the
 * backend gateway only when this is undefined.
 */
const backendNamespaceKeys = (gatewayNamespace: string): string[] | undefined =>
    guardedNamespaces(undefined, undefined).get(gatewayNamespace);

/** The "or leave customerFacingGateway out" of a refusal, offered only where serving from the backend gateway is allowed. */
const leaveOut = (gatewayNamespace: string, what: string, separator = ","): string =>
    backendNamespaceKeys(gatewayNamespace) === undefined
        ? `${separator} or leave ${KEY}.customerFacingGateway out ${what}`
        : "";

/**
 * Customer-facing hosts served from the backend gateway (pki:frontEnd.customerFacingGateway left
 * out) while pki:gatewayNamespace holds keys beside the gateway's own (istio-system: istiod's
 * cacerts): the gateway's account reads every Secret of its namespace, so the internet-facing pods
 * could read the mesh CA key, as customerFacingGateway refuses for a namespace of its own.
 */
function backendServesCustomerFacingProblem(hosts: readonly string[], gatewayNamespace: string, fail: Fail): void {
    const holds = backendNamespaceKeys(gatewayNamespace);
    if (hosts.length === 0 || holds === undefined) return;
    fail(
        `${KEY}.customerFacing serves ${hosts.map((h) => `"${h}"`).join(", ")} from the backend gateway (${KEY}.customerFacingGateway is not set), whose namespace, pki:gatewayNamespace "${gatewayNamespace}", is the namespace of ${holds.join(" and ")}: ` +
            `an ingress gateway's account reads every Secret of its namespace (it serves its credentialName Secrets from there), so the internet-facing gateway could read them. ` +
            `Give ${KEY}.customerFacingGateway a namespace of its own and its pods' labels, e.g. { namespace: istio-ingress-public, selector: { istio: public-ingressgateway } }, or move pki:gatewayNamespace out of ${gatewayNamespace}`,
    );
}

/**
 * A caller's sidecar reads its client Secret from its namespace, so its account must be allowed to
 * list that namespace's Secrets, which RBAC cannot narrow to one Secret: in a namespace of keys
 * (istiod's cacerts, a gateway's server keys, the cluster's own) that grant would hand them to the
 * UI service.
 */
function callerNamespaceProblems(
    listed: readonly UiServiceConfig[],
    chosen: readonly string[],
    entries: Json | undefined,
    guarded: ReadonlyMap<string, readonly string[]>,
    fail: Fail,
): void {
    // Grouped by the key that named the namespace: a service's own, or pki:frontEnd.namespace.
    const byKey = new Map<string, { namespace: string; names: string[]; own: boolean }>();
    for (const caller of listed.filter((s) => chosen.includes(s.kubernetesName))) {
        if (!guarded.has(caller.namespace)) continue;
        const i = serviceIndex(entries, caller.name);
        const entry = Array.isArray(entries) ? entries[i] : undefined;
        const own = isMap(entry) && entry.namespace !== undefined;
        const key = own ? `${KEY}.services[${i}].namespace` : `${KEY}.namespace`;
        const group = byKey.get(key) ?? { namespace: caller.namespace, names: [], own };
        group.names.push(caller.name);
        byKey.set(key, group);
    }
    for (const [key, { namespace, names, own }] of byKey) {
        const one = names.length === 1;
        const quoted = names.map((n) => `"${n}"`).join(", ");
        fail(
            `${key} "${namespace}" puts the caller${one ? "" : "s"} ${quoted} in the namespace of ${guarded.get(namespace)?.join(" and ")}: ` +
                `a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so ${one ? "it" : "they"} could read them. ` +
                (own
                    ? `Give ${names[0]} a namespace of its own`
                    : `Set ${KEY}.namespace to a namespace of the UI services' own (default ${DEFAULTS.frontEndNamespace})`),
        );
    }
}

/**
 * pki:frontEnd.customerFacingGateway: the internet-facing ingress gateway, when it is not the
 * backend's. Its namespace is its own: the gateway's account reads every Secret of its namespace
 * (it serves the credentialName Secrets from there), so beside the backend gateway, istiod or the
 * cluster's credentials the internet-facing pods could read their keys. Istio applies a Gateway's
 * selector to gateway pods of every namespace (unless istiod runs with
 * PILOT_SCOPE_GATEWAY_TO_NAMESPACE), so pods carrying the backend's labels would serve the APIC
 * hosts on the internet: such a selector is refused too.
 */
function customerFacingGateway(
    value: Json | undefined,
    gatewayNamespace: string,
    fail: Fail,
): CustomerFacingGatewayConfig | undefined {
    const key = `${KEY}.customerFacingGateway`;
    if (value === undefined) return undefined;
    if (!isMap(value)) {
        fail(
            `${key} must be { namespace, selector }: the namespace and pod labels of the ingress gateway that serves the customer-facing hosts; got ${showJson(value)}`,
        );
        return undefined;
    }
    unknownMembers(
        value,
        key,
        ["namespace", "selector"],
        "the customer-facing gateway has namespace and selector",
        fail,
    );
    // A namespace of its own is required: the one-gateway default is the key left out.
    const guarded = guardedNamespaces(gatewayNamespace, undefined);
    const refused = [...guarded.keys()];
    const ownNamespace = `of its own (not ${refused.slice(0, -1).join(", ")} or ${refused[refused.length - 1]}), e.g. istio-ingress-public`;
    const namespace =
        value.namespace === undefined ? undefined : namespaceName(value.namespace, `${key}.namespace`, "", fail);
    let bad = namespace === undefined || namespace === "";
    if (namespace === undefined) {
        fail(
            `${key}.namespace is required: the namespace where the internet-facing gateway's pods run, one ${ownNamespace}${leaveOut(gatewayNamespace, "to serve the customer-facing hosts from the backend gateway", ";")}`,
        );
    }
    const holds = namespace === undefined ? undefined : guarded.get(namespace);
    if (holds !== undefined) {
        fail(
            `${key}.namespace "${namespace}" is the namespace of ${holds.join(" and ")}: an ingress gateway's account reads every Secret of its namespace (it serves its credentialName Secrets from there), ` +
                `so the internet-facing gateway could read them. Give the customer-facing gateway a namespace ${ownNamespace}${leaveOut(gatewayNamespace, "to serve the customer-facing hosts from the backend gateway")}`,
        );
        bad = true;
    }
    const given = value.selector;
    if (given === undefined) {
        fail(
            `${key}.selector is required: the pod labels of the ingress gateway that serves the customer-facing hosts, e.g. { istio: public-ingressgateway }`,
        );
        return undefined;
    }
    if (!isMap(given) || Object.keys(given).length === 0) {
        fail(
            `${key}.selector must be a non-empty map of the gateway's pod labels, e.g. { istio: public-ingressgateway }; got ${showJson(given)}`,
        );
        return undefined;
    }
    const { labels: selector, complete } = labelMap(given, `${key}.selector`, fail);
    if (!complete) bad = true;
    const backend = Object.entries(GATEWAY_SELECTOR);
    if (backend.every(([k, v]) => selector[k] === v)) {
        fail(
            `${key}.selector ${showJson(selector)} holds the backend gateway's labels (${backend.map(([k, v]) => `${k}: ${v}`).join(", ")}), which the APIC Gateways select: ` +
                `Istio applies a Gateway's selector to gateway pods in every namespace (unless istiod runs with PILOT_SCOPE_GATEWAY_TO_NAMESPACE), so the customer-facing gateway's pods would serve the APIC hosts too. ` +
                `Give the customer-facing gateway's pods labels of their own, e.g. { istio: public-ingressgateway }${leaveOut(gatewayNamespace, "for one gateway")}`,
        );
        return undefined;
    }
    // The other way round: a selector the backend's pods satisfy sends the customer-facing hosts,
    // and their keys, to the backend gateway.
    const shared = Object.entries(selector);
    if (complete && shared.every(([k, v]) => BACKEND_GATEWAY_POD_LABELS[k] === v)) {
        fail(
            `${key}.selector ${showJson(selector)} selects the backend ingress gateway's pods too: Istio's default ingress gateway carries ${shared.map(([k, v]) => `${k}: ${v}`).join(", ")} ` +
                `beside ${backend.map(([k, v]) => `${k}: ${v}`).join(", ")}, so the backend gateway would serve the customer-facing hosts and hold their keys. ` +
                `Select the customer-facing gateway's pods by a label of their own, e.g. { istio: public-ingressgateway }${leaveOut(gatewayNamespace, "for one gateway")}`,
        );
        return undefined;
    }
    return bad || namespace === undefined ? undefined : { namespace, selector };
}

/** `pki:frontEnd` at `now`; unset: no UI services, no customer-facing hosts. */
export function validateFrontEnd(
    value: Json | undefined | null,
    gatewayNamespace: string,
    fail: Fail,
    now: Date,
): FrontEndConfig {
    if (value === undefined || value === null || !isMap(value)) return DEFAULTS.frontEnd;
    unknownMembers(value, KEY, MEMBERS, `known keys are ${MEMBERS.join(", ")}`, fail);
    const namespace = namespaceName(value.namespace, `${KEY}.namespace`, DEFAULTS.frontEndNamespace, fail);
    const listed = services(value.services, namespace, fail);
    const chosen = callers(value.callers, listed, fail);
    const gateway = customerFacingGateway(value.customerFacingGateway, gatewayNamespace, fail);
    callerNamespaceProblems(listed, chosen, value.services, guardedNamespaces(gatewayNamespace, gateway), fail);
    overlappingSelectors(listed, chosen, value.services, fail);
    callerSecretProblems(listed, chosen, value.services, fail);
    // A render writes each APIC host's files to apic/ui/<host>/, beside the UI truststore's.
    const apicHosts = dnsNames(value.apicHosts, `${KEY}.apicHosts`, fail, (host) =>
        Object.values(APIC_UI_FILES).some((file) => file === host.toLowerCase())
            ? "is the name of a file a render writes in apic/ui/ (APIC's UI truststore), where the host's own folder of APIC files would go. " +
              "List the host(s) on which APIC receives the UI services' calls, e.g. [apic.dev.api.bank.example]"
            : undefined,
    );
    apicObjectNameProblems(listed, chosen, apicHosts, fail);
    if (chosen.length > 0 && apicHosts.length === 0 && value.apicHosts === undefined) {
        fail(
            `${KEY}.apicHosts is required with ${KEY}.callers: list the APIC host(s) the UI services call, e.g. [apic.dev.api.bank.example]`,
        );
    } else if (chosen.length > 0 && Array.isArray(value.apicHosts) && value.apicHosts.length === 0) {
        fail(
            `${KEY}.apicHosts must list the APIC host(s) the UI services of ${KEY}.callers call, e.g. [apic.dev.api.bank.example]; got []. Or empty ${KEY}.callers`,
        );
    }
    const apicServerCa = rootsPem(
        value.apicServerCa,
        `${KEY}.apicServerCa`,
        "the root of APIC's UI-facing server certificate",
        fail,
        now,
    );
    const givenRoots = rootsPem(value.publicRoots, `${KEY}.publicRoots`, "one or more root certificates", fail, now);
    // Any expired or not yet valid root, not only all of them as for apicServerCa (publicRootDateProblem).
    const misdated = givenRoots === undefined ? undefined : publicRootDateProblem(givenRoots, now);
    if (misdated !== undefined) fail(`${KEY}.publicRoots ${misdated}`);
    const publicRoots = misdated === undefined ? givenRoots : undefined;
    const hosts = customerFacing(value.customerFacing, fail);
    if (value.customerFacingGateway === undefined)
        backendServesCustomerFacingProblem(Object.keys(hosts), gatewayNamespace, fail);
    return {
        namespace,
        services: listed,
        callers: chosen,
        apicHosts,
        ...(apicServerCa !== undefined ? { apicServerCa } : {}),
        customerFacing: hosts,
        ...(publicRoots !== undefined ? { publicRoots } : {}),
        ...(gateway !== undefined ? { customerFacingGateway: gateway } : {}),
    };
}
