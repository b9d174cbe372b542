import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KeyAlgorithm } from "../config/types";
import { apicDestinationRuleName, apicServiceEntryName, shortHostProblem } from "../config/validateFrontEnd";
import { uiClientSecretName } from "../config/values";
import { uiClientCert } from "../plan/plan";
import { spkiPin } from "../pki/pins";
import {
    afterCheck,
    argumentError,
    certificateSettings,
    checkedIssuer,
    checkArgs,
    checkInputNames,
    InputNames,
    issueCertificate,
    ISSUING_CA_INPUTS,
    IssuingCa,
    listArgument,
    subjectSignedName,
    refuseOutlivingIssuer,
} from "./keys";
import {
    epochArgument,
    hostArgument,
    identityArgument,
    isGiven,
    kubernetesNameArgument,
    labelsArgument,
    namespaceArgument,
    organizationArgument,
    refuseCaSecretName,
    refuseShared,
    serviceNameArgument,
} from "./arguments";
import { checkClock } from "./checkClock";
import { chainCertificatesOf, checkedTrustBundle, joinPemOutputs, withCrls } from "./pem";

/** How a refused ca.crt names UiApicClient's arguments and peer. */
const UI_CRL_ARGUMENTS = {
    bundle: "apicTrustPem",
    crl: "apicCrlPem",
    refused: "APIC",
    sender: "APIC sends its issuing CA",
} as const;

/** The port a UI service calls APIC on in plain HTTP; its sidecar originates mutual TLS to 443. */
export const APIC_EGRESS_PORT = { plain: 80, tls: 443 } as const;

/** A host as a DNS-label-shaped suffix for Kubernetes names. */
export const hostLabel = (host: string): string => host.toLowerCase().replace(/\./g, "-");

/**
 * The refusal of two hosts of `what` with one hostLabel, which names the `object` made for each
 * host: the same host twice, or two whose dots and dashes fall alike (a-b.example, a.b-example).
 */
const sharedHostName =
    (what: string, object: string) =>
    (first: string, second: string, label: string): string =>
        first === second
            ? `${what} lists "${first}" twice; list each host once`
            : `${what} "${first}" and "${second}" would both name their ${object} after "${label}" (dots turned into '-'); give only one of them here`;

export interface UiApicClientArgs {
    /** The CA that signs UI client certificates (the UI client CA, under a root only APIC's UI truststore trusts). */
    readonly clientCa: IssuingCa;
    /** The UI service's Kubernetes name: the Secret, DestinationRules and certificate subject derive from it. */
    readonly service: string;
    /** Its identity, the certificate's URI SAN (e.g. urn:apic-istio-pki:<environment>:ui-client:<service>). */
    readonly identity: string;
    /** Namespace of the UI service's pods: the Secret and the DestinationRules live there. */
    readonly namespace: string;
    /** The APIC hosts it calls; one DestinationRule each. */
    readonly apicHosts: string[];
    /**
     * `ca.crt`: the root(s) of APIC's server certificate for these hosts; the sidecar verifies APIC
     * against it. Refused unless it holds CA certificates (keyCertSign) only, one unexpired at least: Envoy
     * makes every certificate of `ca.crt` an anchor, so a leaf there would be a pin on itself.
     */
    readonly apicTrustPem: pulumi.Input<string>;
    /**
     * CRLs of every CA of APIC's server certificate chains (its issuing CA's and the root's),
     * written as `ca.crl`, so that the sidecar refuses a CA retired by a rotation. Once set, Envoy
     * checks a CRL for every certificate of the chain and refuses APIC without one: keep them
     * re-published, and give only self-signed roots in `apicTrustPem`.
     * Default: none (no `ca.crl`: no revocation check).
     * @default none (no `ca.crl`: no revocation check)
     */
    readonly apicCrlPem?: pulumi.Input<string>;
    /**
     * Pod labels of the UI service (the DestinationRules' workloadSelector: Istio applies
     * `credentialName` at a sidecar only with one).
     * Default: { app: service }.
     * @default { app: service }
     */
    readonly workloadLabels?: Record<string, string>;
    /**
     * Name of the `kubernetes.io/tls` Secret; not ending in `-cacert`, which Istio reads as another
     * Secret's client CA, and not `cacerts`, istiod's plug-in CA.
     * Default: `apic-client-<service>`.
     * @default `apic-client-<service>`
     */
    readonly secretName?: string;
    /**
     * Rotation epoch: raise it by one for a new key and certificate.
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Key algorithm: RSA (2048-bit) or ECDSA (P-256).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
     * the issuer is a RootCa, or an IntermediateCa signed in this program, with fewer validityDays;
     * with a CA given as PEM or signed by the ceremony, keep it within that CA's validity.
     * Default: 365.
     * @default 365
     */
    readonly validityDays?: number;
    /**
     * Days before expiry from which the tls provider re-issues the certificate in place, with the
     * same key, on any update (0: once it has expired). The stack gives 0 and renews by rotation.
     * Default: a third of validityDays.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
    /**
     * Subject O of the certificate.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
}

const UI_APIC_CLIENT_INPUTS: InputNames<UiApicClientArgs> = {
    clientCa: "required",
    service: "required",
    identity: "required",
    namespace: "required",
    apicHosts: "required",
    apicTrustPem: "required",
    apicCrlPem: "optional",
    workloadLabels: "optional",
    secretName: "optional",
    epoch: "optional",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    organization: "optional",
};

/**
 * A UI service calling APIC with mutual TLS without handling certificates itself: a client
 * certificate (EKU clientAuth, URI SAN = identity), a `kubernetes.io/tls` Secret in its namespace
 * (`tls.crt` with the chain, `tls.key`, `ca.crt` = APIC's server root), and per APIC host an Istio
 * DestinationRule selecting its pods, so that its sidecar originates the mutual TLS from that
 * Secret (`credentialName`: Istio 1.14+, sidecars only with a `workloadSelector`). The service
 * calls `http://<apic host>` (port 80); its sidecar connects to 443. Apps doing TLS themselves
 * mount the Secret instead. An `ApicEgress` must declare the hosts to the mesh.
 */
export class UiApicClient extends pulumi.ComponentResource {
    /** The client certificate. */
    public readonly certPem: pulumi.Output<string>;
    /** The client private key, a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** The identity (URI SAN). */
    public readonly identity: string;
    /** The pin of the client key (base64 SHA-256 of its SubjectPublicKeyInfo). */
    public readonly spkiPin: pulumi.Output<string>;
    /** The Secret's name (the DestinationRules' `credentialName`). */
    public readonly secretName: string;

    constructor(name: string, args: UiApicClientArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:UiApicClient", name, {}, opts);
        checkArgs(args, UI_APIC_CLIENT_INPUTS, "UiApicClient", this);
        args = { ...args, clientCa: checkInputNames(args.clientCa, ISSUING_CA_INPUTS, "UiApicClient clientCa", this) };
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(args, 365, "UiApicClient", this);
        refuseOutlivingIssuer(args.clientCa, validityDays, "UiApicClient", this);
        const service = serviceNameArgument(args.service, "UiApicClient service", this);
        const secretName = !isGiven(args.secretName)
            ? uiClientSecretName(service)
            : kubernetesNameArgument(args.secretName, "UiApicClient secretName", this);
        refuseCaSecretName(
            secretName,
            isGiven(args.secretName)
                ? `UiApicClient secretName "${secretName}"`
                : `UiApicClient service "${service}" names the Secret "${secretName}", which`,
            isGiven(args.secretName)
                ? "give a secretName that does not end in -cacert"
                : "give another service, or a secretName that does not end in -cacert",
            this,
        );
        const namespace = namespaceArgument(args.namespace, "", "UiApicClient namespace", this);
        const organization = organizationArgument(args.organization, "UiApicClient organization", this);
        const identity = identityArgument(args.identity, "UiApicClient identity", this);
        const labels = labelsArgument(args.workloadLabels, { app: service }, "UiApicClient workloadLabels", this);
        const epoch = epochArgument(args.epoch, "UiApicClient epoch", this);
        const apicHosts = listArgument(args.apicHosts, "UiApicClient apicHosts", this);
        if (apicHosts.length === 0) {
            throw argumentError(`UiApicClient ${name} needs at least one APIC host in apicHosts`, this);
        }
        apicHosts.forEach((host, i) => {
            hostArgument(host, `UiApicClient ${name} apicHosts[${i}]`, this);
            const short = shortHostProblem(host);
            if (short !== undefined) throw argumentError(`UiApicClient ${name} apicHosts[${i}] ${short}`, this);
        });
        refuseShared(apicHosts, hostLabel, sharedHostName(`UiApicClient ${name} apicHosts`, "DestinationRule"), this);
        apicHosts.forEach((host, i) =>
            kubernetesNameArgument(
                apicDestinationRuleName(service, host),
                `UiApicClient ${name} the DestinationRule's name for apicHosts[${i}]`,
                this,
                "Give a shorter host or service",
            ),
        );
        const clock = checkClock();
        const trusted = checkedTrustBundle(args.apicTrustPem, "UiApicClient apicTrustPem", this, clock);
        const crlNames = { component: `UiApicClient ${name}`, ...UI_CRL_ARGUMENTS };
        const { caCrt: apicTrustPem, caCrl: apicCrlPem } = withCrls(trusted, args.apicCrlPem, crlNames, this, clock);
        const spec = uiClientCert({
            name: service,
            identity,
            epoch,
            keyAlgorithm,
            validityDays,
            earlyRenewalDays,
            organization,
        });
        const clientCa = checkedIssuer(args.clientCa, "UiApicClient clientCa", this, {
            signsFor: "clientAuth",
            signsNames: [{ type: "URI", value: identity, input: "identity" }, subjectSignedName(spec.subject)],
        });
        // Checked in applies when given as outputs: no key or DestinationRule before they pass.
        const checked = [apicTrustPem, apicCrlPem];
        const { key, cert } = issueCertificate(this, name, spec, clientCa, {}, checked);
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.identity = identity;
        this.spkiPin = key.publicKeyPem.apply(spkiPin);
        this.secretName = secretName;

        new k8s.core.v1.Secret(
            `${name}-tls`,
            {
                metadata: { name: secretName, namespace },
                type: "kubernetes.io/tls",
                stringData: {
                    "tls.crt": joinPemOutputs(cert.certPem, chainCertificatesOf(args.clientCa.chainPem)),
                    "tls.key": this.privateKeyPem,
                    "ca.crt": apicTrustPem,
                    ...(apicCrlPem !== undefined ? { "ca.crl": apicCrlPem } : {}),
                },
            },
            { parent: this },
        );
        for (const host of args.apicHosts) {
            new k8s.apiextensions.CustomResource(
                `${name}-${hostLabel(host)}-dr`,
                {
                    apiVersion: "networking.istio.io/v1",
                    kind: "DestinationRule",
                    metadata: { name: apicDestinationRuleName(service, host), namespace },
                    spec: {
                        host,
                        exportTo: ["."],
                        workloadSelector: { matchLabels: { ...labels } },
                        trafficPolicy: {
                            portLevelSettings: [
                                {
                                    port: { number: APIC_EGRESS_PORT.plain },
                                    tls: {
                                        mode: "MUTUAL",
                                        credentialName: secretName,
                                        sni: host,
                                        subjectAltNames: [host],
                                    },
                                },
                            ],
                        },
                    },
                },
                // Not before clientCa and the Secret's ca.crt and ca.crl pass their checks: else a
                // refused one would leave a rule naming a Secret never made.
                { parent: this, dependsOn: afterCheck(clientCa.certPem, ...checked) },
            );
        }
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem, spkiPin: this.spkiPin });
    }
}

export interface ApicEgressArgs {
    /** The APIC hosts the namespace's UI services call; one at least. */
    readonly hosts: string[];
    /** The UI services' namespace. */
    readonly namespace: string;
}

const APIC_EGRESS_INPUTS: InputNames<ApicEgressArgs> = { hosts: "required", namespace: "required" };

/**
 * Declares APIC's hosts to the mesh in one namespace (a mesh-external ServiceEntry per host): the
 * UI services call port 80, the sidecar connects to 443 with the DestinationRule's mutual TLS.
 */
export class ApicEgress extends pulumi.ComponentResource {
    constructor(name: string, args: ApicEgressArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:ApicEgress", name, {}, opts);
        checkArgs(args, APIC_EGRESS_INPUTS, "ApicEgress", this);
        const namespace = namespaceArgument(args.namespace, "", "ApicEgress namespace", this);
        const hosts = listArgument(args.hosts, "ApicEgress hosts", this);
        // As UiApicClient refuses an empty apicHosts: an empty list from config would delete every
        // ServiceEntry on the next update, without a word.
        if (hosts.length === 0) {
            throw argumentError(
                `ApicEgress ${name} needs at least one APIC host in hosts: with none it would declare none, and delete every ServiceEntry it made before; to declare no host, remove the component`,
                this,
            );
        }
        hosts.forEach((host, i) => hostArgument(host, `ApicEgress hosts[${i}]`, this));
        refuseShared(hosts, hostLabel, sharedHostName("ApicEgress hosts", "ServiceEntry"), this);
        hosts.forEach((host, i) =>
            kubernetesNameArgument(
                apicServiceEntryName(host),
                `ApicEgress the ServiceEntry's name for hosts[${i}]`,
                this,
                "Give a shorter host",
            ),
        );
        for (const host of hosts) {
            new k8s.apiextensions.CustomResource(
                `${name}-${hostLabel(host)}-se`,
                {
                    apiVersion: "networking.istio.io/v1",
                    kind: "ServiceEntry",
                    metadata: { name: apicServiceEntryName(host), namespace },
                    spec: {
                        hosts: [host],
                        exportTo: ["."],
                        location: "MESH_EXTERNAL",
                        resolution: "DNS",
                        ports: [
                            {
                                number: APIC_EGRESS_PORT.plain,
                                name: "http",
                                protocol: "HTTP",
                                targetPort: APIC_EGRESS_PORT.tls,
                            },
                            { number: APIC_EGRESS_PORT.tls, name: "https", protocol: "HTTPS" },
                        ],
                    },
                },
                { parent: this },
            );
        }
        this.registerOutputs({});
    }
}
