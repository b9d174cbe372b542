/**
 * Checks of the components' plain arguments as other languages send them through the component
 * provider: untyped, so text where a flag belongs, an output where a plain value belongs. Each
 * refusal names the component and argument (`what`), the value and the fix, before any child is
 * registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { organizationProblem } from "../config/validate";
import {
    caSecretProblem,
    dnsNameProblems,
    hasControlCharacter,
    ISTIO_CA_SECRET_SUFFIX,
    Json,
    labelKeyProblem,
    LABEL_CHARACTERS,
    LABEL_RULE,
    LABEL_VALUE,
    MAX_HOSTNAME_LENGTH,
    MAX_LABEL_LENGTH,
    namespaceName,
    showJson,
} from "../config/values";
import { GATEWAY_SELECTOR, MESH_CA_SECRET } from "../plan/plan";
import { uriHostProblem, uriRewriteProblem } from "../pki/uri";
import { argumentError } from "./errors";

/**
 * Whether an input is given: null (a Python None, a YAML `~`) is not, as undefined is not, so an
 * optional input set to null takes its default.
 */
export const isGiven = <T>(input: T | null | undefined): input is T => input !== undefined && input !== null;

/**
 * Whether a value is known only once it resolves: an output or a promise. Other languages' SDKs
 * type lists Input<Sequence<Input<str>>>, so a whole list (an endpoint's pins) may come as one output.
 */
export const isLater = (value: unknown): value is pulumi.Output<unknown> | Promise<unknown> =>
    pulumi.Output.isInstance(value) || value instanceof Promise;

/**
 * Refuses an output (or promise) where a plain value belongs: a Python program passing a stack
 * reference's output. Its members or text are not known while the component is made, and showing
 * it would print Pulumi's warning about calling toJSON instead of the value.
 */
export function refuseOutput(value: unknown, what: string, resource: pulumi.Resource): void {
    if (isLater(value)) {
        throw argumentError(
            `${what} must be a plain value, not an output: it shapes the resources made, so it must be known before they are; give the value itself (from config, for example)`,
            resource,
        );
    }
}

/**
 * A flag: true, false or unset (`fallback`). Anything else is refused: text "false" (YAML, a
 * Python string) or an output is truthy, and would turn the flag on.
 */
export function flagArgument(value: unknown, fallback: boolean, what: string, resource: pulumi.Resource): boolean {
    if (!isGiven(value)) return fallback;
    refuseOutput(value, what, resource);
    if (typeof value !== "boolean") {
        throw argumentError(
            `${what} must be true or false; got ${showJson(value as Json)}. Write the boolean without quotes, or leave it unset (${fallback})`,
            resource,
        );
    }
    return value;
}

/**
 * Pod labels: a non-empty map of Kubernetes label keys to values, as the stack's pki:frontEnd
 * checks them, or `fallback` when unset. Text spread into a selector would make one label per
 * character ({ "0": "a", ... }), which selects no pod; no label at all selects every pod.
 */
export function labelsArgument(
    value: unknown,
    fallback: Record<string, string>,
    what: string,
    resource: pulumi.Resource,
): Record<string, string> {
    if (!isGiven(value)) return fallback;
    refuseOutput(value, what, resource);
    const example = Object.entries(fallback)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join(", ");
    if (
        typeof value !== "object" ||
        value === null ||
        Object.getPrototypeOf(value) !== Object.prototype ||
        Object.keys(value).length === 0
    ) {
        throw argumentError(
            `${what} must be a non-empty map of pod labels, e.g. { ${example} }; got ${showJson(value as Json)}`,
            resource,
        );
    }
    for (const [k, v] of Object.entries(value)) {
        refuseOutput(v, `${what}.${k}`, resource);
        if (labelKeyProblem(k) !== undefined || typeof v !== "string" || !LABEL_VALUE.test(v)) {
            throw argumentError(
                `${what} ${showJson({ [k]: v as Json })} is not a Kubernetes label: a key is [prefix/]name, the prefix a DNS name of at most 253 characters, a name or value at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
                resource,
            );
        }
    }
    return value as Record<string, string>;
}

/** Text, refused by `what` with `mustBe` when it is anything else (a number, a map, an output). */
function textArgument(value: unknown, mustBe: string, what: string, resource: pulumi.Resource): string {
    refuseOutput(value, what, resource);
    if (typeof value !== "string") {
        throw argumentError(`${what} must be ${mustBe}; got ${showJson(value as Json | undefined)}`, resource);
    }
    return value;
}

/**
 * A rotation epoch, or 0 when unset: a whole number from 0. It is part of the children's names,
 * so -1 or 1.5 would name resources instead of rotating them; refused here by the input's name
 * rather than later by the child's.
 */
export function epochArgument(value: unknown, what: string, resource: pulumi.Resource): number {
    if (!isGiven(value)) return 0;
    refuseOutput(value, what, resource);
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
        throw argumentError(
            `${what} must be a whole number from 0 (raise it by one to rotate); got ${showJson(value as Json)}`,
            resource,
        );
    }
    return value;
}

/** One DNS label in lower case (RFC 1123), of any length: an id, a service name. */
const DNS_LABEL = LABEL_CHARACTERS;

/**
 * An id that names children, ports and Secrets: DNS-label characters, as the stack's endpoint ids.
 * No length limit of its own: the stack's endpoint ids may pass 63 (certificates cut them to 64 in
 * the CN); the Secret named after it has one (refuseLongSecretName). `fix`, when given, is added
 * to the refusal.
 */
export function idArgument(value: unknown, what: string, resource: pulumi.Resource, fix?: string): string {
    const mustBe = `an id (${LABEL_RULE})`;
    const text = textArgument(value, mustBe, what, resource);
    if (!DNS_LABEL.test(text)) {
        throw argumentError(
            `${what} must be ${mustBe}; got ${showJson(text)}${fix === undefined ? "" : `. ${fix}`}`,
            resource,
        );
    }
    return text;
}

/**
 * A UI service's name as the stack passes it (lower-cased): the pods' `app` label value and part
 * of the Secret's and DestinationRules' names, so one DNS label of at most 63 characters.
 */
export function serviceNameArgument(value: unknown, what: string, resource: pulumi.Resource): string {
    const mustBe = `a Kubernetes service name (${LABEL_RULE}, at most ${MAX_LABEL_LENGTH})`;
    const text = textArgument(value, mustBe, what, resource);
    if (text.length > MAX_LABEL_LENGTH || !DNS_LABEL.test(text)) {
        throw argumentError(`${what} must be ${mustBe}; got ${showJson(text)}`, resource);
    }
    return text;
}

/** Kubernetes' DNS-1123 subdomain: no 63-character limit per label (the stack's Secret names pass it). */
const isKubernetesName = (text: string): boolean =>
    text.length <= MAX_HOSTNAME_LENGTH &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(text);

/**
 * A Kubernetes object name (a DNS-1123 subdomain, at most 253 characters). `fix`, when given, is
 * added to the refusal.
 */
export function kubernetesNameArgument(value: unknown, what: string, resource: pulumi.Resource, fix?: string): string {
    const mustBe =
        "a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)";
    const text = textArgument(value, mustBe, what, resource);
    if (!isKubernetesName(text)) {
        throw argumentError(
            `${what} must be ${mustBe}; got ${showJson(text)}${fix === undefined ? "" : `. ${fix}`}`,
            resource,
        );
    }
    return text;
}

/**
 * Refuses a Secret's default name (`secretName`, made from `given`: an id, or a host with its dots
 * as '-') over Kubernetes' 253 characters for an object name: the API server would refuse the Secret
 * at up, after its key and certificate are made. The id's characters are checked already; only
 * the length can fail. `shape` shows how the name is made, `fix` what to change.
 */
export function refuseLongSecretName(
    secretName: string,
    given: string,
    what: string,
    shape: string,
    fix: string,
    resource: pulumi.Resource,
): void {
    if (secretName.length <= MAX_HOSTNAME_LENGTH) return;
    throw argumentError(
        `${what} is ${given.length} characters: it names the Secret ${shape}, which would be ${secretName.length}, ` +
            `over Kubernetes' ${MAX_HOSTNAME_LENGTH} for an object name; ${fix}`,
        resource,
    );
}

/**
 * Refuses a Secret the component would make under `secretName` when Istio would read it as another
 * Secret's client CA (caSecretProblem), or as the mesh's plug-in CA (a name only a given secretName
 * can be: the defaults have prefixes). `what` says where the name comes from; `fix`, what to change.
 */
export function refuseCaSecretName(secretName: string, what: string, fix: string, resource: pulumi.Resource): void {
    if (secretName === MESH_CA_SECRET.name) {
        // In istiod's namespace it would replace the mesh CA, or MeshPluginCa's Secret would replace it.
        throw argumentError(
            `${what} is the name of the Secret istiod reads the mesh's plug-in CA from (ca-cert.pem, ca-key.pem), which MeshPluginCa ` +
                `writes in ${MESH_CA_SECRET.namespace}: in istiod's namespace the two would replace each other; give a secretName other than ${MESH_CA_SECRET.name}`,
            resource,
        );
    }
    const problem = caSecretProblem(secretName);
    if (problem !== undefined) {
        throw argumentError(`${what} ends in ${ISTIO_CA_SECRET_SUFFIX}: ${problem}; ${fix}`, resource);
    }
}

/**
 * Istio refuses a Gateway whose name is not one DNS-1123 label ("invalid gateway name",
 * istio/istio pkg/config/validation/validation.go): no dots, at most 63 characters.
 */
const isGatewayName = (text: string): boolean => text.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(text);

/**
 * The Gateway's name: `gatewayName`, or else the component's name, which Pulumi YAML and Python
 * programs often write in camelCase (paymentsGateway): refused here, before any child, rather than
 * by the API server or istiod at up, after the keys and Secrets are made.
 */
function gatewayNameArgument(value: unknown, component: string, name: string, resource: pulumi.Resource): string {
    const mustBe = `an Istio Gateway name (one DNS label: ${LABEL_RULE}, at most ${MAX_LABEL_LENGTH}; Istio refuses dots)`;
    const given = isGiven(value);
    const what = given ? `${component} gatewayName` : `${component} gatewayName, by default the component's name,`;
    const text = textArgument(given ? value : name, mustBe, what, resource);
    if (isGatewayName(text)) return text;
    const suggested = text
        .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-");
    const example = isGatewayName(suggested) ? `, e.g. ${JSON.stringify(suggested)}` : "";
    throw argumentError(`${what} must be ${mustBe}; got ${showJson(text)}. Set gatewayName to one${example}`, resource);
}

/** A namespace, checked as the stack checks pki:gatewayNamespace, or `fallback` when unset. */
export function namespaceArgument(value: unknown, fallback: string, what: string, resource: pulumi.Resource): string {
    refuseOutput(value, what, resource);
    return namespaceName(isGiven(value) ? (value as Json) : undefined, what, fallback, (message) => {
        throw argumentError(message, resource);
    });
}

/** A host name, checked as the stack checks its hosts (dnsNameProblems): the certificate's DNS SAN. */
export function hostArgument(value: unknown, what: string, resource: pulumi.Resource): string {
    const host = textArgument(value, "a DNS name", what, resource);
    const [problem] = dnsNameProblems(host);
    if (problem !== undefined) throw argumentError(`${what} ${showJson(host)} ${problem}`, resource);
    return host;
}

/** The subject O, checked as the stack checks pki:organization, or undefined when unset. */
export function organizationArgument(value: unknown, what: string, resource: pulumi.Resource): string | undefined {
    if (!isGiven(value)) return undefined;
    const organization = textArgument(value, 'text (the subject O), e.g. "Example Bank"', what, resource);
    const problem = organizationProblem(organization, showJson(organization), "Leave it unset to leave O out");
    if (problem !== undefined) throw argumentError(`${what} ${problem}`, resource);
    return organization;
}

/**
 * An absolute URI (scheme:...), the certificate's URI SAN and the identity a peer pins, refused
 * where @pulumi/tls would write another one into the certificate (a peer pinning the one given,
 * as Envoy matches URI SANs exactly, would refuse it) or fail to sign it.
 */
export function identityArgument(value: unknown, what: string, resource: pulumi.Resource): string {
    const mustBe = "an absolute URI (scheme:..., e.g. urn:bank:apic-client:payments), the certificate's URI SAN";
    const identity = textArgument(value, mustBe, what, resource);
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(identity) || hasControlCharacter(identity)) {
        throw argumentError(`${what} must be ${mustBe}; got ${showJson(identity)}`, resource);
    }
    const refused = uriRewriteProblem(identity) ?? uriHostProblem(identity);
    if (refused !== undefined) {
        throw argumentError(`${what} ${showJson(identity)} ${refused.problem}; ${refused.fix}`, resource);
    }
    return identity;
}

/**
 * Refuses two entries of a list that share a name which must be one per entry (a host, the id
 * children are named after, a Secret's name): the second would make the first's Kubernetes
 * object again, or pulumi up refuse a duplicate URN once the children before it are registered.
 * `refusal(first, second, name)` says which entries, the name and the fix.
 */
export function refuseShared<T>(
    entries: readonly T[],
    nameOf: (entry: T) => string,
    refusal: (first: T, second: T, name: string) => string,
    resource: pulumi.Resource,
): void {
    const seen = new Map<string, T>();
    for (const entry of entries) {
        const name = nameOf(entry);
        const first = seen.get(name);
        if (first !== undefined) throw argumentError(refusal(first, entry, name), resource);
        seen.set(name, entry);
    }
}

/**
 * An Istio Gateway's place and pods, and the O of its certificates, as IstioGatewayTls and
 * CustomerFacingTls take them: `namespace` (default istio-system), `gatewayName` (default the
 * component's name), `selector` (default the ingress gateway's labels), `organization`.
 */
export function gatewayArguments(
    args: { namespace?: unknown; gatewayName?: unknown; selector?: unknown; organization?: unknown },
    component: string,
    name: string,
    resource: pulumi.Resource,
): { namespace: string; gatewayName: string; selector: Record<string, string>; organization: string | undefined } {
    return {
        namespace: namespaceArgument(args.namespace, "istio-system", `${component} namespace`, resource),
        gatewayName: gatewayNameArgument(args.gatewayName, component, name, resource),
        organization: organizationArgument(args.organization, `${component} organization`, resource),
        selector: labelsArgument(args.selector, GATEWAY_SELECTOR, `${component} selector`, resource),
    };
}
