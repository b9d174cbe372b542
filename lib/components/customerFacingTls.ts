import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KeyAlgorithm } from "../config/types";
import { customerFacingSecretName, MAX_HOSTNAME_LENGTH } from "../config/values";
import { customerFacingSubject, HTTPS_PORT, leafKey, rotatedName } from "../plan/plan";
import { pemBlocks, pemTextProblem, runTogetherPemBlock, runTogetherProblem } from "../pki/pem";
import {
    nameCovering,
    outOfOrderProblem,
    publicChainOf,
    publicRootDateProblem,
    publicRootsAnchor,
    servedChainProblems,
} from "../pki/publicCert";
import { trustBundleProblem } from "../pki/trustBundle";
import { expiredAt, isSelfSigned, subjectOf } from "../pki/x509";
import { spkiPin } from "../pki/pins";
import {
    afterCheck,
    argumentError,
    checkArgs,
    checkListEntries,
    checkSignedFor,
    choice,
    InputNames,
    keyAndRequest,
    listArgument,
    refusePastedKey,
} from "./keys";
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
import { joinPem } from "./pem";

/** One customer-facing host. */
export interface CustomerFacingHost {
    /** The host customers reach; the CSR's CN and only DNS SAN. */
    readonly host: string;
    /**
     * Short name (a DNS label) that child resources and the Secret derive from.
     * Default: the host with its dots turned into '-'.
     * @default the host with its dots turned into '-'
     */
    readonly id?: string;
    /**
     * Key generation whose CSR is requested: raise it by one for a new key and CSR (renewal).
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Key generation the certificate certifies: the requested one, or the one before it while the
     * new CSR is being signed (its key is kept until then).
     * Default: epoch.
     * @default epoch
     */
    readonly certificateEpoch?: number;
    /**
     * The public CA's certificate, then its chain (PEM).
     * Default: none (only the key and CSR exist, nothing is served).
     * @default none (only the key and CSR exist, nothing is served)
     */
    readonly certificatePem?: pulumi.Input<string>;
    /**
     * Name of the `kubernetes.io/tls` Secret; not ending in `-cacert`, which Istio reads as another
     * Secret's client CA, and not `cacerts`, istiod's plug-in CA.
     * Default: `public-tls-<id>`.
     * @default `public-tls-<id>`
     */
    readonly secretName?: string;
}

const CUSTOMER_FACING_HOST_INPUTS: InputNames<CustomerFacingHost> = {
    host: "required",
    id: "optional",
    epoch: "optional",
    certificateEpoch: "optional",
    certificatePem: "optional",
    secretName: "optional",
};

export interface CustomerFacingTlsArgs {
    /** The hosts, each with its key epoch and, once a public CA has signed its CSR, its certificate; one at least. */
    readonly hosts: CustomerFacingHost[];
    /**
     * Namespace of the ingress gateway, where the Secrets and the Gateway live.
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
     * Key algorithm: RSA (2048-bit) or ECDSA (P-256).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Subject O of the CSRs.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
    /**
     * Roots browsers trust besides Node's Mozilla store (PEM); the stack passes
     * pki:frontEnd.publicRoots, and it is refused as that key is: unless it holds CA certificates
     * only (no private key, no other PEM block), each a self-signed root, none expired nor not valid
     * yet (browsers refuse a chain that ends at such a root). Checked before any host's key is made: plain
     * text at once, an output once it resolves, whether or not a host has a certificate. Given, a
     * chain must reach one of them or a Mozilla root and ends there, as the stack ends it: a
     * cross-signed copy of the root after it is not checked. Without it, a chain that reaches no
     * Mozilla root nor a self-signed root it serves has every certificate after the leaf checked as
     * an intermediate.
     * Default: none (only Node's Mozilla store).
     * @default none (only Node's Mozilla store)
     */
    readonly publicRootsPem?: pulumi.Input<string>;
}

const CUSTOMER_FACING_TLS_INPUTS: InputNames<CustomerFacingTlsArgs> = {
    hosts: "required",
    namespace: "optional",
    gatewayName: "optional",
    selector: "optional",
    keyAlgorithm: "optional",
    organization: "optional",
    publicRootsPem: "optional",
};

/** The host's id: children and the Secret are named after it. */
const idOf = (h: CustomerFacingHost): string => h.id ?? h.host.toLowerCase().replace(/\./g, "-");
/** The host's epochs: of its newest key, and of the key its certificate certifies (the one before, while it waits). */
const epochsOf = (h: CustomerFacingHost): { epoch: number; certificateEpoch: number } => {
    const epoch = h.epoch ?? 0;
    return { epoch, certificateEpoch: h.certificateEpoch ?? epoch };
};
/** The name of the host's `kubernetes.io/tls` Secret. */
const secretNameOf = (h: CustomerFacingHost): string => h.secretName ?? customerFacingSecretName(idOf(h));

/** The certificates to serve: the leaf and its intermediates, without a root the chain may end with. */
function servedChain(pem: string): string {
    const certs = pemBlocks(pem, "CERTIFICATE").filter((block, i) => {
        const cert = new crypto.X509Certificate(block);
        return i === 0 || !isSelfSigned(cert);
    });
    return joinPem(...certs);
}

/**
 * The public CA's certificate for `host` as a chain, refused by the checks that need no roots: no
 * text (an output that resolved to nothing), a private key pasted with it, not a certificate (an
 * empty value would be served as an empty tls.crt), two PEM blocks run together (which Envoy
 * refuses, and pemBlocks reads as one damaged block), or for another host. Plain text is checked so
 * before any key is made, even when the roots it is anchored at come later.
 */
function readPublicCertificate(
    component: string,
    host: string,
    pem: string,
    resource: pulumi.Resource,
): crypto.X509Certificate[] {
    const notText = pemTextProblem(pem, "the public CA's certificate, then its chain");
    if (notText !== undefined) {
        throw argumentError(
            `CustomerFacingTls ${component}: the certificatePem given for ${host} ${notText}; leave certificatePem out until the certificate comes`,
            resource,
        );
    }
    refusePastedKey(
        pem,
        `CustomerFacingTls ${component}: the certificatePem given for ${host}`,
        "the public CA's certificate and its intermediates only",
        resource,
    );
    const joined = runTogetherPemBlock(pem);
    if (joined !== undefined) {
        throw argumentError(
            `CustomerFacingTls ${component}: the certificatePem given for ${host} has ${runTogetherProblem(joined)}`,
            resource,
        );
    }
    const chain = publicChainOf(pem);
    if (typeof chain === "string") {
        throw argumentError(
            `CustomerFacingTls ${component}: the certificatePem given for ${host} ${chain}; give the public CA's certificate (leaf first, then its intermediates) or leave certificatePem out until it comes`,
            resource,
        );
    }
    const disordered = outOfOrderProblem(chain, host);
    if (disordered !== undefined) {
        throw argumentError(
            `CustomerFacingTls ${component}: the certificatePem given for ${host}: ${disordered}`,
            resource,
        );
    }
    const [cert] = chain;
    // The stack's rule (publicCertificateProblems): browsers match SAN DNS names alone, a wildcard
    // as a whole left-most label; Node's checkHost also takes the CN and partial wildcards (w*.).
    if (nameCovering(pem, host) === undefined) {
        throw argumentError(
            `CustomerFacingTls ${component}: the certificate given for ${host} is for ${cert.subjectAltName ?? subjectOf(cert)}, not for ${host}; give the certificate the public CA issued for this host's CSR`,
            resource,
        );
    }
    return chain;
}

/**
 * The public CA's certificate for `host`, refused when it could only fail every customer: as
 * readPublicCertificate refuses it, or as browsers refuse it as the stack does (servedChainProblems:
 * an expired intermediate or one that is no CA, SHA-1, a short RSA key, a leaf without
 * digitalSignature, a lifetime beyond the CA/B Forum's limit...), which depends on where the chain
 * ends. With `publicRoots` (the stack's pki:frontEnd.publicRoots) the chain must end at a trusted
 * root and ends where the stack ends it (publicRootsAnchor); without, at a Mozilla root or a
 * self-signed root it serves, else every certificate above the leaf is checked as an intermediate.
 * A leaf past its end is served with a warning: refusing it would block every other update (a CRL's
 * re-publication too), and expiry monitoring reports it.
 */
function publicCertificateFor(
    component: string,
    host: string,
    pem: string,
    now: Date,
    resource: pulumi.Resource,
    publicRoots: string | undefined,
): string {
    const chain = readPublicCertificate(component, host, pem, resource);
    const [cert] = chain;
    const key = `CustomerFacingTls ${component}: the certificatePem given for ${host}`;
    const [problem] = servedChainProblems({
        key,
        host,
        chain,
        now,
        refuseExpiredLeaf: false,
        ...(publicRoots !== undefined ? { anchor: () => publicRootsAnchor(key, chain, publicRoots) } : {}),
    });
    // One refusal at a time, as the checks above make them.
    if (problem !== undefined) throw argumentError(problem, resource);
    if (expiredAt(cert, now)) {
        pulumi.log.warn(
            `CustomerFacingTls ${component}: the certificate given for ${host} expired on ${new Date(cert.validTo).toISOString()}; customers are refused until a new one is given`,
            resource,
        );
    }
    return pem;
}

/**
 * `publicRootsPem`, refused as the stack refuses pki:frontEnd.publicRoots: unless it holds CA
 * certificates only (trustBundleProblem), each a self-signed root, none expired nor not valid yet
 * (publicRootDateProblem).
 */
function publicRootsProblem(pem: unknown, now: Date): string | undefined {
    const problem = trustBundleProblem(pem, now);
    if (problem !== undefined) return problem;
    const notRoot = pemBlocks(pem as string, "CERTIFICATE")
        .map((block) => new crypto.X509Certificate(block))
        .find((cert) => !isSelfSigned(cert));
    return notRoot === undefined
        ? publicRootDateProblem(pem as string, now)
        : `holds ${subjectOf(notRoot)}, which is not a self-signed CA certificate; give the root`;
}

/**
 * Customer-facing hosts on the Istio ingress gateway, with certificates a public CA signs: per host
 * a key and CSR made here (export `csrPems` and have them signed), and, once the certificate is
 * given, a `kubernetes.io/tls` Secret and a Gateway `servers` entry with mode SIMPLE. The
 * certificate must certify the key of `certificateEpoch`, else the update fails.
 */
export class CustomerFacingTls extends pulumi.ComponentResource {
    /** Per host: the CSR of the requested key generation, for the public CA. */
    public readonly csrPems: Record<string, pulumi.Output<string>>;
    /** Per host and key generation: the pin of the key (to check a certificate before it is used). */
    public readonly keyPins: Record<string, Record<string, pulumi.Output<string>>>;
    /** Per host with a certificate: what the gateway serves (leaf and intermediates). */
    public readonly servedCertPems: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: CustomerFacingTlsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:CustomerFacingTls", name, {}, opts);
        checkArgs(args, CUSTOMER_FACING_TLS_INPUTS, "CustomerFacingTls", this);
        checkListEntries(args.hosts, CUSTOMER_FACING_HOST_INPUTS, "CustomerFacingTls hosts", this);
        const { namespace, gatewayName, organization, selector } = gatewayArguments(
            args,
            "CustomerFacingTls",
            name,
            this,
        );
        const hosts = listArgument(args.hosts, "CustomerFacingTls hosts", this);
        // As IstioGatewayTls and UiApicClient refuse theirs: a list from config that came out empty
        // would delete every host's Secret and the Gateway on the next update, without a word.
        if (hosts.length === 0) {
            throw argumentError(
                `CustomerFacingTls ${name} needs at least one host in hosts: with none it would make nothing, and delete every host's key, Secret and Gateway entry it made before; to serve no host, remove the component`,
                this,
            );
        }
        const clock = checkClock();
        const checkedRoots = (pem: unknown): string => {
            const problem = publicRootsProblem(pem, clock());
            if (problem !== undefined)
                throw argumentError(`CustomerFacingTls ${name}: publicRootsPem ${problem}`, this);
            return pem as string;
        };
        // Plain text is checked before any key is made; an output once it resolves, and every
        // host's key waits for that check (below), certificate or not: else a refused one would
        // surface only once a certificate is given, weeks after the update that took it.
        const rootsLater = isGiven(args.publicRootsPem) && isLater(args.publicRootsPem);
        const plainRoots = isGiven(args.publicRootsPem) && !rootsLater ? checkedRoots(args.publicRootsPem) : undefined;
        /** The certificatePem given as plain text while the roots come as an output: checked against them once they resolve. */
        const awaitingRoots: { host: string; pem: string }[] = [];
        hosts.forEach((h, i) => {
            hostArgument(h.host, `CustomerFacingTls hosts[${i}].host`, this);
            if (isGiven(h.id)) idArgument(h.id, `CustomerFacingTls hosts[${i}].id`, this);
            const epoch = epochArgument(h.epoch, `CustomerFacingTls hosts[${i}].epoch`, this);
            // An epoch itself, checked before any host's key is made: -1 would pass as "the one before" 0.
            const certificateEpoch = isGiven(h.certificateEpoch)
                ? epochArgument(h.certificateEpoch, `CustomerFacingTls hosts[${i}].certificateEpoch`, this)
                : epoch;
            if (certificateEpoch !== epoch && certificateEpoch !== epoch - 1) {
                throw argumentError(
                    `CustomerFacingTls ${name}: ${h.host}'s certificateEpoch must be its epoch (${epoch}) or the one before; got ${certificateEpoch}`,
                    this,
                );
            }
            if (isGiven(h.secretName)) {
                const secretName = kubernetesNameArgument(
                    h.secretName,
                    `CustomerFacingTls hosts[${i}].secretName`,
                    this,
                );
                refuseCaSecretName(
                    secretName,
                    `CustomerFacingTls hosts[${i}].secretName "${secretName}"`,
                    "give a secretName that does not end in -cacert",
                    this,
                );
            } else {
                // The default public-tls-<id>, whose id is given or the host's.
                refuseLongSecretName(
                    secretNameOf(h),
                    idOf(h),
                    `CustomerFacingTls hosts[${i}].${isGiven(h.id) ? "id" : "host"}`,
                    isGiven(h.id) ? '"public-tls-<id>"' : `"public-tls-<host, dots as '-'>"`,
                    `give ${isGiven(h.id) ? "an id" : `hosts[${i}].id`} of at most ${MAX_HOSTNAME_LENGTH - customerFacingSecretName("").length} characters, or a secretName`,
                    this,
                );
                const from = isGiven(h.id) ? `id "${h.id}"` : `host "${h.host}"`;
                refuseCaSecretName(
                    secretNameOf(h),
                    `CustomerFacingTls hosts[${i}].${from} names the Secret "${secretNameOf(h)}", which`,
                    isGiven(h.id)
                        ? "give another id, or a secretName that does not end in -cacert"
                        : "give an id, or a secretName, that does not end in -cacert",
                    this,
                );
            }
            // Plain text is checked before any host's key is made, as far as it can be before the
            // roots it ends at are known (the rest once they resolve, below); an output once it resolves.
            if (isGiven(h.certificatePem) && !isLater(h.certificatePem)) {
                if (rootsLater) {
                    readPublicCertificate(name, h.host, h.certificatePem, this);
                    awaitingRoots.push({ host: h.host, pem: h.certificatePem });
                } else publicCertificateFor(name, h.host, h.certificatePem, clock(), this, plainRoots);
            }
        });
        // The roots given as an output, checked once they resolve with what depends on them of each
        // plain certificate (where its chain ends, and the CAs up to there): every host's key waits
        // for this (below), so a refusal leaves nothing made, as with plain roots.
        const laterRoots = rootsLater
            ? pulumi.output(args.publicRootsPem).apply((pem) => {
                  const roots = checkedRoots(pem);
                  for (const c of awaitingRoots) publicCertificateFor(name, c.host, c.pem, clock(), this, roots);
                  return roots;
              })
            : undefined;
        refuseShared(
            hosts,
            (h) => h.host,
            (_, __, host) => `CustomerFacingTls host "${host}" is listed twice; list each host once`,
            this,
        );
        refuseShared(
            hosts,
            idOf,
            (first, second, id) =>
                `CustomerFacingTls hosts "${first.host}" and "${second.host}" both have the id "${id}" (given, or the host with its dots turned into '-'), which names their keys and Secrets; give each host its own id`,
            this,
        );
        // A raised epoch adds "-r<epoch>" to a host's id in its key's name (rotatedName): id "pay" at
        // epoch 1 and id "pay-r1" would register one key twice, after the first host's children.
        refuseShared(
            hosts.flatMap((h) => {
                const { epoch, certificateEpoch } = epochsOf(h);
                // The generations the loop below makes keys for, in its order.
                return [...new Set([certificateEpoch, epoch])].map((e) => ({
                    host: h.host,
                    keyName: rotatedName(idOf(h), e),
                }));
            }),
            (k) => k.keyName,
            (first, second, keyName) =>
                `CustomerFacingTls hosts "${first.host}" and "${second.host}" would both name a key "${name}-${keyName}" (its id, with "-r<epoch>" once its epoch is raised); give one of them another id`,
            this,
        );
        refuseShared(
            hosts,
            secretNameOf,
            (first, second, secretName) =>
                `CustomerFacingTls hosts "${first.host}" and "${second.host}" both name the secret "${secretName}"; give each host its own secretName`,
            this,
        );
        const key = leafKey(
            choice(args.keyAlgorithm, Object.values(KeyAlgorithm), "RSA", "CustomerFacingTls keyAlgorithm", this),
        );
        this.csrPems = {};
        this.keyPins = {};
        this.servedCertPems = {};
        const servers: Record<string, unknown>[] = [];
        for (const h of hosts) {
            const id = idOf(h);
            // Both checked above, before any host's children.
            const { epoch, certificateEpoch } = epochsOf(h);
            const subject = customerFacingSubject(h.host, organization);
            const generations = [...new Set([certificateEpoch, epoch])].map((e) => ({
                epoch: e,
                ...keyAndRequest(
                    this,
                    `${name}-${id}`,
                    { subject, dnsNames: [h.host], uris: [], key, epoch: e },
                    laterRoots === undefined ? undefined : afterCheck(laterRoots),
                ),
            }));
            const requested = generations[generations.length - 1];
            const certified = generations[0];
            this.csrPems[h.host] = requested.csr.certRequestPem;
            this.keyPins[h.host] = Object.fromEntries(
                generations.map((g) => [String(g.epoch), g.key.publicKeyPem.apply(spkiPin)]),
            );
            if (!isGiven(h.certificatePem)) continue;
            const given = h.certificatePem;
            const served = pulumi
                .all([given, certified.key.publicKeyPem, laterRoots ?? plainRoots])
                .apply(([pem, publicKeyPem, roots]) =>
                    servedChain(
                        checkSignedFor(
                            `CustomerFacingTls ${name}: the certificatePem given for ${h.host}`,
                            `the CSR ${name}-${id}-csr of this stack`,
                            // A plain one was checked before any key (above); an output, once it resolves.
                            isLater(given) ? publicCertificateFor(name, h.host, pem, clock(), this, roots) : pem,
                            publicKeyPem,
                            this,
                        ),
                    ),
                );
            this.servedCertPems[h.host] = served;
            const secretName = secretNameOf(h);
            new k8s.core.v1.Secret(
                `${name}-${id}-tls`,
                {
                    metadata: { name: secretName, namespace },
                    type: "kubernetes.io/tls",
                    stringData: { "tls.crt": served, "tls.key": pulumi.secret(certified.key.privateKeyPem) },
                },
                { parent: this },
            );
            servers.push({
                port: { number: HTTPS_PORT, name: `https-${id}`, protocol: "HTTPS" },
                hosts: [h.host],
                tls: { mode: "SIMPLE", credentialName: secretName, minProtocolVersion: "TLSV1_2" },
            });
        }
        if (servers.length > 0) {
            new k8s.apiextensions.CustomResource(
                `${name}-gateway`,
                {
                    apiVersion: "networking.istio.io/v1",
                    kind: "Gateway",
                    metadata: { name: gatewayName, namespace },
                    spec: { selector: { ...selector }, servers },
                },
                // Not before every host's certificate passes its checks: else a refused one (given
                // as an output) would leave a Gateway naming a Secret never made.
                { parent: this, dependsOn: afterCheck(...Object.values(this.servedCertPems)) },
            );
        }
        this.registerOutputs({ csrPems: this.csrPems, keyPins: this.keyPins, servedCertPems: this.servedCertPems });
    }
}
