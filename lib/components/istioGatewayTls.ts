import { isIP } from "net";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KeyAlgorithm } from "../config/types";
import { Json, MAX_HOSTNAME_LENGTH, showJson } from "../config/values";
import { gatewayEndpointResourceName, gatewayServer, gatewayServerCert } from "../plan/plan";
import {
    afterCheck,
    argumentError,
    certificateSettings,
    checkedIssuer,
    checkArgs,
    checkInputNames,
    checkListEntries,
    InputNames,
    issueCertificate,
    ISSUING_CA_INPUTS,
    IssuingCa,
    listArgument,
    subjectSignedName,
    refuseOutlivingIssuer,
} from "./keys";
import { pastedKeyProblem, pastedPrivateKey } from "../pki/pem";
import { canonicalSpkiPin } from "../pki/pins";
import {
    epochArgument,
    gatewayArguments,
    hostArgument,
    idArgument,
    isGiven,
    isLater,
    kubernetesNameArgument,
    refuseCaSecretName,
    refuseLongSecretName,
    refuseShared,
} from "./arguments";
import { checkClock } from "./checkClock";
import { chainCertificatesOf, checkedTrustBundle, joinPemOutputs, withCrls } from "./pem";

/** The refusal of an endpoint's identities that are no list, or none: `shown`, what it got. */
const identitiesProblem = (endpoint: GatewayEndpoint, shown: string): string =>
    `IstioGatewayTls endpoint "${endpoint.id}" clientSubjectAltNames must list the client identities it accepts (the APIC client's URI SAN), each text or an output, or be an output of such a list; got ${shown}: with none, any certificate under ca.crt would get in`;

/** The refusal of an endpoint's pins that are no list: `shown`, what it got. */
const pinsProblem = (endpoint: GatewayEndpoint, shown: string): string =>
    `IstioGatewayTls endpoint "${endpoint.id}" verifyCertificateSpki must be a list of pins (ApicClientBundle.spkiPin), each text or an output, or an output of such a list; got ${shown}`;

/** What a refusal shows of a list or value that came as an output and resolved to nothing (undefined or null). */
const RESOLVED_TO_NOTHING = "an output that resolved to nothing (a stack reference's missing output?)";

/**
 * The endpoints' lists as other languages may send them: a list, not text (which would be taken
 * character by character); identities present (with none, any certificate under ca.crt gets in);
 * each endpoint its own secret and id. A list given as one output is checked once it resolves.
 */
function checkEndpointLists(endpoints: readonly GatewayEndpoint[], resource: pulumi.Resource): void {
    for (const [i, endpoint] of endpoints.entries()) {
        // The id names children, the port and the Secret; the host goes into the certificate.
        idArgument(endpoint.id, `IstioGatewayTls endpoints[${i}].id`, resource);
        const where = `IstioGatewayTls endpoint "${endpoint.id}"`;
        hostArgument(endpoint.host, `${where} host`, resource);
        if (isGiven(endpoint.secretName)) {
            const secretName = kubernetesNameArgument(endpoint.secretName, `${where} secretName`, resource);
            refuseCaSecretName(
                secretName,
                `${where} secretName "${secretName}"`,
                "give a secretName that does not end in -cacert",
                resource,
            );
        } else {
            refuseLongSecretName(
                `apic-mtls-${endpoint.id}`,
                endpoint.id,
                `IstioGatewayTls endpoints[${i}].id`,
                '"apic-mtls-<id>"',
                `give an id of at most ${MAX_HOSTNAME_LENGTH - "apic-mtls-".length} characters, or a secretName`,
                resource,
            );
            refuseCaSecretName(
                `apic-mtls-${endpoint.id}`,
                `IstioGatewayTls endpoint id "${endpoint.id}" names the Secret "apic-mtls-${endpoint.id}", which`,
                "give another id, or a secretName that does not end in -cacert",
                resource,
            );
        }
        epochArgument(endpoint.epoch, `${where} epoch`, resource);
        // A list that comes as one output is checked once it resolves (checkedValues).
        const identities: unknown = endpoint.clientSubjectAltNames;
        if (!isLater(identities) && (!Array.isArray(identities) || identities.length === 0)) {
            throw argumentError(identitiesProblem(endpoint, showJson(identities as Json | undefined)), resource);
        }
        const pins: unknown = endpoint.verifyCertificateSpki;
        if (isGiven(pins) && !isLater(pins) && !Array.isArray(pins)) {
            throw argumentError(pinsProblem(endpoint, showJson(pins as Json)), resource);
        }
    }
    refuseShared(
        endpoints,
        (endpoint) => endpoint.secretName ?? `apic-mtls-${endpoint.id}`,
        (first, second, secretName) =>
            `IstioGatewayTls endpoints "${first.id}" and "${second.id}" both name the secret "${secretName}"; give each endpoint its own secretName`,
        resource,
    );
    refuseShared(
        endpoints,
        (endpoint) => endpoint.id,
        (_, __, id) => `IstioGatewayTls endpoint id "${id}" is used twice; ids must be unique`,
        resource,
    );
    // Istio takes one of two servers for one host on one port: one certificate and one client
    // check for both endpoints' callers, whichever it picks. (hostArgument takes lower case only.)
    refuseShared(
        endpoints,
        (endpoint) => endpoint.host,
        (first, second, host) =>
            `IstioGatewayTls endpoints "${first.id}" and "${second.id}" both serve the host "${host}": the gateway would use one of their certificates and client checks for both; give each endpoint its own host`,
        resource,
    );
}

/** What a refusal shows of a value that came as a secret: a pin list may be given the PKCS#12 password by mistake. */
const SECRET_VALUE = "a secret value (not shown)";

/**
 * Each value of a list, checked now when it is plain and once resolved when it is an output (a
 * problem then fails the update through the SDK's serialization error, which quotes it). A list
 * that is itself an output is checked once resolved: `listProblem` gets it and how to show it
 * (anything but a list is refused there), then each value as a secret when the list is one.
 * `problem` gets the value and how to show it: as JSON, SECRET_VALUE when it came as a secret, or
 * RESOLVED_TO_NOTHING when it came as an output that resolved to nothing.
 */
function checkedValues(
    values: unknown,
    listProblem: (list: unknown, shown: string) => string | undefined,
    problem: (value: unknown, index: number, shown: string, secret: boolean) => string | undefined,
    resource: pulumi.Resource,
): pulumi.Output<string[]> {
    const shown = (value: unknown, secret: boolean) => (secret ? SECRET_VALUE : showJson(value as Json));
    const shownResolved = (value: unknown, secret: boolean) =>
        value === undefined || value === null ? RESOLVED_TO_NOTHING : shown(value, secret);
    const check = (value: unknown, i: number, shownValue: string, secret: boolean) => {
        const found = problem(value, i, shownValue, secret);
        if (found !== undefined) throw argumentError(found, resource);
    };
    const checkedEach = (list: pulumi.Input<string>[], listSecret: boolean) =>
        pulumi.all(
            list.map((value, i) => {
                if (!isLater(value)) {
                    check(value, i, shown(value, listSecret), listSecret);
                    return pulumi.output(value);
                }
                // Each value's own secrecy: pulumi.all over the list would only say whether any is secret.
                const output = pulumi.output(value);
                return pulumi.all([output, pulumi.isSecret(output)]).apply(([resolved, secret]) => {
                    check(resolved, i, shownResolved(resolved, secret || listSecret), secret || listSecret);
                    return resolved;
                });
            }),
        );
    if (!isLater(values)) return checkedEach(values as pulumi.Input<string>[], false);
    const list = pulumi.output(values);
    return pulumi.all([list, pulumi.isSecret(list)]).apply(([resolved, secret]) => {
        const found = listProblem(resolved, shownResolved(resolved, secret));
        if (found !== undefined) throw argumentError(found, resource);
        return checkedEach(resolved as pulumi.Input<string>[], secret);
    });
}

/**
 * Why a list value that is nothing (a stack reference's missing output: a typo, a stack not yet
 * updated) is refused rather than sent on (as null) or dropped: the list would narrow to the others,
 * and with none left let in any client. `what` is the value ("pin"), `anyone` who would get in.
 */
const missingValueProblem = (what: string, anyone: string): string =>
    `taken as no ${what}, it would let in ${anyone} were it the only one, else lock out the client it stands for; give the ${what}, or leave the entry out`;

/** A URI SAN as @pulumi/tls writes one and Envoy matches it: scheme:..., no space or control character. */
const URI_SAN = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\p{Cc}]+$/u;
/**
 * A DNS SAN: labels of letters, digits, '-' and '_' (a leading "*." for a wildcard certificate's).
 * '_' is no host name's, but internal CAs write it and Envoy matches the SAN exactly. A last label
 * of digits alone ("10.0.0") is no name: a mistyped IP address.
 */
const DNS_SAN = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;
const NUMERIC_LAST_LABEL = /(^|\.)[0-9]+$/;
/**
 * An e-mail SAN, or a UPN (otherName 1.3.6.1.4.1.311.20.2.3, as AD CS issues client certificates):
 * Istio matches each entry against both. local@domain, the local part RFC 5321's dot-atom.
 */
const EMAIL_SAN = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[^@\s]+$/;
const CLIENT_IDENTITY = "the APIC client's identity, its URI SAN (pass apic.identity)";

/**
 * Why `identity`, `where` names it, is no SAN value a client certificate carries (a URI, a DNS name
 * or an IP address), or undefined. The list goes in clear into the Gateway's spec, which is no
 * Secret: a private key given there by mistake (apic.privateKeyPem for apic.identity) would be
 * published, and would match no client either. Never quotes a key.
 */
function sanValueProblem(identity: string, where: string, shown: string): string | undefined {
    const key = pastedPrivateKey(identity);
    if (key !== undefined) {
        return `${where} ${pastedKeyProblem(key, "the Gateway's spec is stored and shown in clear", CLIENT_IDENTITY)}`;
    }
    const mustBe = `${where} must be a client identity (a URI, DNS name, IP address or e-mail address of the client certificate's SAN)`;
    const block = /-----BEGIN ([^-\n]*)-----/.exec(identity);
    if (block !== null) return `${mustBe}, not a PEM block ("${block[1]}"); give ${CLIENT_IDENTITY}`;
    const isName = (name: string) =>
        name.length <= MAX_HOSTNAME_LENGTH && DNS_SAN.test(name) && !NUMERIC_LAST_LABEL.test(name);
    const email = EMAIL_SAN.test(identity) && isName(identity.slice(identity.lastIndexOf("@") + 1));
    // An IP SAN carries no zone ("fe80::1%eth0", which net.isIP takes, and URI_SAN would read as a
    // URI of scheme "fe80"): nothing a certificate carries.
    const zoned = isIP(identity.split("%")[0]) !== 0 && identity.includes("%");
    const accepted = URI_SAN.test(identity) || isName(identity) || isIP(identity) !== 0 || email;
    if (accepted && !zoned) return undefined;
    return `${mustBe}; got ${shown}: give ${CLIENT_IDENTITY}`;
}

/** The endpoint's identities: each non-blank text, one at least. */
const checkedIdentities = (endpoint: GatewayEndpoint, resource: pulumi.Resource): pulumi.Output<string[]> =>
    checkedValues(
        endpoint.clientSubjectAltNames,
        (list, shown) => (!Array.isArray(list) || list.length === 0 ? identitiesProblem(endpoint, shown) : undefined),
        (identity, i, shown) => {
            const where = `IstioGatewayTls endpoint "${endpoint.id}" clientSubjectAltNames[${i}]`;
            if (typeof identity === "string" && identity.trim() !== "") return sanValueProblem(identity, where, shown);
            const refusal = `${where} must be a client identity (non-blank text); got ${shown}`;
            return identity === undefined || identity === null
                ? `${refusal}: ${missingValueProblem("identity", "any certificate under ca.crt")}`
                : refusal;
        },
        resource,
    );

/**
 * The endpoint's key pins, each as Envoy takes it (base64 of 32 bytes, nothing set after them):
 * else the gateway's whole listener would fail. None (undefined) for an empty list, as for none given;
 * an output that resolves to nothing is refused.
 */
const checkedPins = (endpoint: GatewayEndpoint, resource: pulumi.Resource): pulumi.Output<string[] | undefined> =>
    checkedValues(
        endpoint.verifyCertificateSpki ?? [],
        (list, shown) => {
            if (Array.isArray(list)) return undefined;
            if (list !== undefined && list !== null) return pinsProblem(endpoint, shown);
            // Not taken as no pins, as plain undefined is: a stack reference's missing output (a
            // typo, a stack not yet updated) would drop the pins unseen and widen who gets in.
            return (
                `${pinsProblem(endpoint, shown)}: taken as no pins, any client key under clientTrustBundlePem with an accepted identity would get in; ` +
                "leave verifyCertificateSpki out (or give []) to pin no key"
            );
        },
        (pin, i, shown, secret) => {
            const refusal = `IstioGatewayTls endpoint "${endpoint.id}" verifyCertificateSpki[${i}] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got ${shown}`;
            // Not compared with its canonical form: canonicalSpkiPin(undefined) is undefined too.
            if (pin === undefined || pin === null) {
                return `${refusal}: ${missingValueProblem("pin", "any client key under clientTrustBundlePem with an accepted identity")}`;
            }
            const canonical = typeof pin === "string" ? canonicalSpkiPin(pin) : undefined;
            if (canonical === pin) return undefined;
            const stray =
                canonical === undefined || secret
                    ? ""
                    : ` (its 43rd character carries bits beyond the 32 bytes; the same pin written as Envoy reads it is "${canonical}")`;
            return `${refusal}: Envoy would refuse the gateway's configuration${stray}`;
        },
        resource,
    ).apply((pins) => (pins.length > 0 ? pins : undefined));

/** One host of the gateway: its own certificate, secret and `servers` entry. */
export interface GatewayEndpoint {
    /** Short unique name (a DNS label); children and the port name derive from it. */
    readonly id: string;
    /** The host APIC calls; the server certificate's only SAN. */
    readonly host: string;
    /**
     * Client identities (SAN values) accepted on this host: the endpoint's APIC client identity
     * (ApicClientBundle.identity), each a URI, DNS name, IP address or e-mail address (a UPN too).
     * At least one: with none, any
     * certificate under the client trust bundle would get in. They go in clear into the Gateway.
     */
    readonly clientSubjectAltNames: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * The client keys accepted on this host (`verifyCertificateSpki`: base64 SHA-256 of each
     * SubjectPublicKeyInfo, e.g. ApicClientBundle.spkiPin): only these keys get in, whichever CA
     * signed them. During a client rotation the previous and the new key.
     * Default: [] (no key pin: any key under the client trust bundle with an accepted identity).
     * @default [] (no key pin: any key under the client trust bundle with an accepted identity)
     */
    readonly verifyCertificateSpki?: pulumi.Input<pulumi.Input<string>[]>;
    /**
     * Rotation epoch of the server certificate: raise it by one for a new key and certificate.
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Name of the `kubernetes.io/tls` secret (`credentialName`); not ending in `-cacert`, which
     * Istio reads as another Secret's client CA, and not `cacerts`, istiod's plug-in CA.
     * Default: `apic-mtls-<id>`.
     * @default `apic-mtls-<id>`
     */
    readonly secretName?: string;
}

const GATEWAY_ENDPOINT_INPUTS: InputNames<GatewayEndpoint> = {
    id: "required",
    host: "required",
    clientSubjectAltNames: "required",
    verifyCertificateSpki: "optional",
    epoch: "optional",
    secretName: "optional",
};

/** The earlier name of GatewayEndpoint (the schema's name drops "Args": other languages' SDKs append it). */
export type GatewayEndpointArgs = GatewayEndpoint;

export interface IstioGatewayTlsArgs {
    /** The CA that signs the gateway's server certificates. */
    readonly serverCa: IssuingCa;
    /**
     * The root(s) that anchor APIC client certificates, written as `ca.crt`; clients send their
     * issuing CA. Envoy makes every certificate of `ca.crt` a trust anchor, so an intermediate
     * here would accept anything it signs and, with `clientCrlPem`, lock every client out
     * (envoyproxy/envoy#29197): with a CRL only self-signed roots are accepted. Refused unless it
     * holds CA certificates (keyCertSign) only, one unexpired at least: a leaf there would be a pin
     * on itself, and a private key would go into the Secret with it.
     */
    readonly clientTrustBundlePem: pulumi.Input<string>;
    /**
     * CRLs of every CA of the client chains (the APIC-client CA's and its root's), written as
     * `ca.crl`. Once set, Envoy checks a CRL for every certificate of the chain and refuses
     * clients without one: keep them re-published. Refused unless it holds CRLs only, one signed
     * by each root of `clientTrustBundlePem`, and for each CA one valid now and five minutes before
     * (a gateway whose clock lags refuses a younger one), or from the CA's start when its
     * certificate is a root of `clientTrustBundlePem`.
     * Default: none (no `ca.crl`: no revocation check).
     * @default none (no `ca.crl`: no revocation check)
     */
    readonly clientCrlPem?: pulumi.Input<string>;
    /** The hosts; one server certificate, secret and `servers` entry each (never a shared cert: istio/istio#13589). */
    readonly endpoints: GatewayEndpoint[];
    /**
     * Namespace of the ingress gateway, where the secrets and the Gateway live.
     * Default: "istio-system".
     * @default "istio-system"
     */
    readonly namespace?: string;
    /**
     * Name of the Istio Gateway object: one DNS label (lower-case letters, digits and '-', at most
     * 63 characters; Istio refuses dots).
     * Default: the component's name.
     * @default the component's name
     */
    readonly gatewayName?: string;
    /**
     * Pod labels of the ingress gateway deployment.
     * Default: { istio: "ingressgateway" }.
     * @default { istio: "ingressgateway" }
     */
    readonly selector?: Record<string, string>;
    /**
     * Server key algorithm: RSA (2048-bit) or ECDSA (P-256).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Server certificate validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
     * the issuer is a RootCa, or an IntermediateCa signed in this program, with fewer validityDays;
     * with a CA given as PEM or signed by the ceremony, keep it within that CA's validity.
     * Default: 365.
     * @default 365
     */
    readonly validityDays?: number;
    /**
     * Days before expiry from which the tls provider re-issues each server certificate in place,
     * with the same key, on any update (0: once it has expired). The stack gives 0 and renews by
     * rotation.
     * Default: a third of validityDays.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
    /**
     * Subject O of the server certificates.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
}

const ISTIO_GATEWAY_TLS_INPUTS: InputNames<IstioGatewayTlsArgs> = {
    serverCa: "required",
    clientTrustBundlePem: "required",
    clientCrlPem: "optional",
    endpoints: "required",
    namespace: "optional",
    gatewayName: "optional",
    selector: "optional",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    organization: "optional",
};

/**
 * Mutual TLS on an Istio ingress gateway: per host a server certificate, a `kubernetes.io/tls`
 * secret (`tls.crt` with chain, `tls.key`, `ca.crt`), and a `servers` entry with mode MUTUAL,
 * the client identity pinned in `subjectAltNames` and TLS 1.2 as the floor.
 */
export class IstioGatewayTls extends pulumi.ComponentResource {
    /** Server certificate PEM per endpoint id. */
    public readonly serverCertPems: Record<string, pulumi.Output<string>>;
    /** Server private key PEM per endpoint id, secrets. */
    public readonly serverPrivateKeyPems: Record<string, pulumi.Output<string>>;
    /** The Gateway's name. */
    public readonly gatewayName: pulumi.Output<string>;

    constructor(name: string, args: IstioGatewayTlsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:IstioGatewayTls", name, {}, opts);
        checkArgs(args, ISTIO_GATEWAY_TLS_INPUTS, "IstioGatewayTls", this);
        args = {
            ...args,
            serverCa: checkInputNames(args.serverCa, ISSUING_CA_INPUTS, "IstioGatewayTls serverCa", this),
        };
        checkListEntries(args.endpoints, GATEWAY_ENDPOINT_INPUTS, "IstioGatewayTls endpoints", this);
        const { namespace, gatewayName, organization, selector } = gatewayArguments(
            args,
            "IstioGatewayTls",
            name,
            this,
        );
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(
            args,
            365,
            "IstioGatewayTls",
            this,
        );
        refuseOutlivingIssuer(args.serverCa, validityDays, "IstioGatewayTls", this);
        listArgument(args.endpoints, "IstioGatewayTls endpoints", this);
        if (args.endpoints.length === 0) {
            throw argumentError("IstioGatewayTls needs at least one endpoint", this);
        }
        checkEndpointLists(args.endpoints, this);

        const clock = checkClock();
        const trusted = checkedTrustBundle(
            args.clientTrustBundlePem,
            "IstioGatewayTls clientTrustBundlePem",
            this,
            clock,
        );
        const crlNames = {
            component: `IstioGatewayTls ${name}`,
            bundle: "clientTrustBundlePem",
            crl: "clientCrlPem",
            refused: "every client",
            sender: "clients send their issuing CA",
        };
        const { caCrt, caCrl } = withCrls(trusted, args.clientCrlPem, crlNames, this, clock);
        const specs = args.endpoints.map((endpoint) =>
            gatewayServerCert({
                endpointId: endpoint.id,
                host: endpoint.host,
                keyAlgorithm,
                validityDays,
                earlyRenewalDays,
                epoch: endpoint.epoch ?? 0,
                organization,
            }),
        );
        const serverCa = checkedIssuer(args.serverCa, "IstioGatewayTls serverCa", this, {
            signsFor: "serverAuth",
            signsNames: args.endpoints.flatMap((endpoint, i) => [
                { type: "DNS" as const, value: endpoint.host, input: `endpoints[${i}].host` },
                subjectSignedName(specs[i].subject, `the subject for endpoints[${i}]`),
            ]),
        });
        this.serverCertPems = {};
        this.serverPrivateKeyPems = {};
        const identities = args.endpoints.map((endpoint) => checkedIdentities(endpoint, this));
        const pinLists = args.endpoints.map((endpoint) => {
            const pins = endpoint.verifyCertificateSpki;
            // A list given as one output is known to be empty only once it resolves (checkedPins).
            return isGiven(pins) && (isLater(pins) || pins.length > 0) ? checkedPins(endpoint, this) : undefined;
        });
        // Checked in applies when given as outputs: no key, Secret or Gateway before they pass.
        const checked = [caCrt, caCrl, ...identities, ...pinLists];
        const servers = args.endpoints.map((endpoint, i) => {
            const secretName = endpoint.secretName ?? `apic-mtls-${endpoint.id}`;
            const spec = specs[i];
            const resourceName = gatewayEndpointResourceName(name, endpoint.id);
            const { key, cert } = issueCertificate(this, `${resourceName}-server`, spec, serverCa, {}, checked);
            const privateKeyPem = pulumi.secret(key.privateKeyPem);
            this.serverCertPems[endpoint.id] = cert.certPem;
            this.serverPrivateKeyPems[endpoint.id] = privateKeyPem;

            new k8s.core.v1.Secret(
                `${resourceName}-tls`,
                {
                    metadata: { name: secretName, namespace },
                    type: "kubernetes.io/tls",
                    stringData: {
                        "tls.crt": joinPemOutputs(cert.certPem, chainCertificatesOf(args.serverCa.chainPem)),
                        "tls.key": privateKeyPem,
                        "ca.crt": caCrt,
                        ...(caCrl !== undefined ? { "ca.crl": caCrl } : {}),
                    },
                },
                { parent: this },
            );
            return gatewayServer({
                id: endpoint.id,
                host: endpoint.host,
                secretName,
                identities: identities[i],
                pins: pinLists[i],
            });
        });

        const gateway = new k8s.apiextensions.CustomResource(
            `${name}-gateway`,
            {
                apiVersion: "networking.istio.io/v1",
                kind: "Gateway",
                metadata: { name: gatewayName, namespace },
                spec: { selector: { ...selector }, servers },
            },
            // Not before serverCa and the Secrets' ca.crt and ca.crl pass their checks: else a refused
            // one would leave a Gateway naming Secrets never made.
            { parent: this, dependsOn: afterCheck(serverCa.certPem, ...checked) },
        );
        this.gatewayName = gateway.metadata.name;
        this.registerOutputs({
            serverCertPems: this.serverCertPems,
            serverPrivateKeyPems: this.serverPrivateKeyPems,
            gatewayName: this.gatewayName,
        });
    }
}
