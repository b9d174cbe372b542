import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KeyAlgorithm } from "../config/types";
import {
    characterCount,
    hasControlCharacter,
    Json,
    LABEL,
    LABEL_RULE,
    showJson,
    typographicQuoteProblem,
} from "../config/values";
import { MAX_COMMON_NAME_LENGTH } from "../config/validate";
import { caKey, MESH_CA_SECRET, meshCaId, meshCaSubject } from "../plan/plan";
import { signedNoCrl } from "../pki/crlSeries";
import { pemBlocks } from "../pki/pem";
import { subjectOf } from "../pki/x509";
import { checkClock, CheckClock } from "./checkClock";
import { epochArgument, flagArgument, isGiven, isLater, organizationArgument, refuseOutput } from "./arguments";
import { argumentError } from "./errors";
import { checkedSigner, checkSignerInputNames, signerOf, SignerArgs, SIGNER_INPUTS } from "./intermediateCa";
import {
    afterCheck,
    CaSigner,
    certificateSettings,
    checkArgs,
    checkCaSubject,
    InputNames,
    issueCaCertificate,
    OfflineSigner,
    SignedName,
    refuseOutlivingIssuer,
} from "./keys";
import {
    certificatesOf,
    chainCertificatesOf,
    checkCrls,
    checkedTrustBundle,
    joinPemOutputs,
    onlyRootsWithCrl,
    withCrls,
} from "./pem";

export interface MeshPluginCaArgs extends SignerArgs {
    /** The cluster whose istiod signs with this CA; it goes into the CA's common name. */
    readonly cluster: string;
    /**
     * Environment name, put before the cluster in the common name.
     * Default: none (the common name is "mesh CA <cluster>").
     * @default none (the common name is "mesh CA <cluster>")
     */
    readonly environment?: string;
    /**
     * Subject O of the CA certificate.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
    /**
     * Key algorithm: RSA (4096-bit) or ECDSA (P-384).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
     * the issuer is a RootCa, or an IntermediateCa signed in this program, with fewer validityDays;
     * with a CA given as PEM or signed by the ceremony, keep it within that CA's validity.
     * Default: 1095.
     * @default 1095
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
     * Rotation epoch: raise it by one to replace the key and certificate; istiod reloads cacerts
     * by itself (Istio 1.18+). Not once cacerts carries ca-crl.pem: the new key's CRL would replace
     * the old one's, and sidecars would refuse the workloads still holding a certificate of the old
     * key until they renew; rotate in stages (`generation`, `installed`) then.
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Generation in a staged rotation; from 1 on it ends the common name (" G1"), so that old and
     * new CA are told apart.
     * Default: 0.
     * @default 0
     */
    readonly generation?: number;
    /**
     * Install this CA in istiod's `cacerts`. False for the CA of a staged rotation that is not
     * (prepare) or no longer (switch) the one istiod signs with. One MeshPluginCa per cluster may
     * be installed: the `cacerts` Secret's resource name follows the cluster, so two would register
     * it twice (pulumi up refuses the duplicate URN `mesh-ca-<cluster>-cacerts`); give
     * `installed: false` to every generation but one.
     * Default: true.
     * @default true
     */
    readonly installed?: boolean;
    /**
     * `root-cert.pem`: every root the mesh trusts (two during a root rotation; istiod needs
     * ISTIO_MULTIROOT_MESH to reload a changed root-cert.pem at all), oldest first in every phase, the switch
     * too: append a new root, never reorder. istiod up to 1.29 takes a changed root-cert.pem only
     * when one file's bytes hold the other's ("Updating new ROOT-CA not supported"). CA
     * certificates only, the signer's root among them.
     * Default: the signer's root.
     * @default the signer's root
     */
    readonly trustedRootsPem?: pulumi.Input<string>;
    /**
     * `ca-crl.pem` (Istio 1.27+): CRLs of every root of `root-cert.pem` and of every CA of
     * `cert-chain.pem` (this CA and any intermediate above it) at least, each CA's valid now and
     * five minutes before (a sidecar whose clock lags refuses a younger one), or from the CA's start
     * when the CA is in root-cert.pem or cert-chain.pem (istiod wants one of each CA of
     * cert-chain.pem; sidecars one of each CA of a workload's chain).
     * Default: none (cacerts has no `ca-crl.pem`).
     * @default none (cacerts has no `ca-crl.pem`)
     */
    readonly crlPem?: pulumi.Input<string>;
    /**
     * Also create a mesh-wide PeerAuthentication `default` in istio-system with mTLS mode STRICT.
     * Default: false.
     * @default false
     */
    readonly strictMtls?: boolean;
}

/**
 * A workload identity istiod signs under the plug-in CA: a SPIFFE URI in Istio's default trust
 * domain (meshConfig.trustDomain), which a URI name constraint above the CA must allow.
 */
const ISTIO_WORKLOAD_IDENTITY: SignedName = {
    type: "URI",
    value: "spiffe://cluster.local/ns/default/sa/default",
    input: "the workload identities istiod signs in its trust domain cluster.local (Istio's default), such as",
    fix: "give a CA whose nameConstraints permit URI:cluster.local, or that has no URI subtrees",
};

/**
 * istiod's own serving certificate, which it signs with the plug-in CA (PILOT_CERT_PROVIDER=istiod,
 * the default) and every proxy verifies on its xDS connection: a DNS name constraint above the CA
 * must allow it as it allows the workloads' URIs.
 */
const ISTIOD_SERVING_NAME: SignedName = {
    type: "DNS",
    value: "istiod.istio-system.svc",
    input: "istiod's serving certificate, which it signs with this CA and every proxy verifies, for",
    fix: "give a CA whose nameConstraints permit DNS:istiod.istio-system.svc (DNS:.svc holds it), or that has no DNS subtrees",
};

const MESH_PLUGIN_CA_INPUTS: InputNames<MeshPluginCaArgs> = {
    ...SIGNER_INPUTS,
    cluster: "required",
    environment: "optional",
    organization: "optional",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    epoch: "optional",
    generation: "optional",
    installed: "optional",
    trustedRootsPem: "optional",
    crlPem: "optional",
    strictMtls: "optional",
};

/**
 * Istio's plug-in CA for one cluster: an intermediate CA under the bank's root and the
 * `istio-system/cacerts` secret istiod reads at start-up (`ca-cert.pem`, `ca-key.pem`,
 * `root-cert.pem`, `cert-chain.pem` = intermediate then root). Give it the cluster's
 * Kubernetes provider through `opts.providers`.
 *
 * The secret's resource name follows the cluster (`mesh-ca-<cluster>-cacerts`), not this
 * component's name: when a staged rotation installs a new generation, the new component takes
 * the same secret over in place. (Two resource names for one Kubernetes object would make
 * Pulumi create the new one and then delete the object both point at.) So only one MeshPluginCa
 * of a cluster may be `installed` at a time; the others of a staged rotation take `installed: false`.
 */
export class MeshPluginCa extends pulumi.ComponentResource {
    /** The mesh CA certificate (`ca-cert.pem`). */
    public readonly certPem: pulumi.Output<string>;
    /** The CSR: what the offline ceremony signs. */
    public readonly csrPem: pulumi.Output<string>;
    /** The mesh CA private key (`ca-key.pem`), a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** The root all workloads trust (`root-cert.pem`). */
    public readonly rootCertPem: pulumi.Output<string>;
    /** The mesh CA then every CA up to and including the root (`cert-chain.pem`). */
    public readonly certChainPem: pulumi.Output<string>;

    constructor(name: string, args: MeshPluginCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:MeshPluginCa", name, {}, opts);
        checkArgs(args, MESH_PLUGIN_CA_INPUTS, "MeshPluginCa", this);
        args = checkSignerInputNames(args, "MeshPluginCa", this);
        const signer = signerOf(args, "MeshPluginCa", this);
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(args, 1095, "MeshPluginCa", this);
        const strictMtls = flagArgument(args.strictMtls, false, "MeshPluginCa strictMtls", this);
        const epoch = epochArgument(args.epoch, "MeshPluginCa epoch", this);
        refuseOutput(args.generation, "MeshPluginCa generation", this);
        refuseOutput(args.cluster, "MeshPluginCa cluster", this);
        const generation = args.generation ?? 0;
        if (!Number.isInteger(generation) || generation < 0) {
            throw argumentError(
                `MeshPluginCa generation must be a whole number from 0 (one more for each staged rotation); got ${showJson(generation as Json)}`,
                this,
            );
        }
        const installed = flagArgument(args.installed, true, "MeshPluginCa installed", this);
        // The cluster names the Secret's resource and ends the CA's common name: a Kubernetes-style label.
        if (typeof args.cluster !== "string" || !LABEL.test(args.cluster)) {
            throw argumentError(
                `MeshPluginCa cluster must be a cluster name (${LABEL_RULE}, at most 63); got ${showJson(args.cluster as Json | undefined)}`,
                this,
            );
        }
        const cluster = args.cluster;
        const organization = organizationArgument(args.organization, "MeshPluginCa organization", this);
        // With the generation's " G<n>", as the certificate will carry it.
        const commonName = (environment: string | undefined) =>
            `${meshCaSubject(environment, cluster).commonName}${generation === 0 ? "" : ` G${generation}`}`;
        const environment = environmentArgument(args.environment, commonName, this);
        const subject = { ...meshCaSubject(environment, cluster, organization), commonName: commonName(environment) };
        checkCaSubject(subject, "MeshPluginCa", this);
        refuseOutlivingIssuer(args.rootCa ?? args.issuer, validityDays, "MeshPluginCa", this);

        // istiod (Go) verifies the mesh's chains; the workload certificates it issues are both
        // server and client certificates, which Envoy's BoringSSL and OpenSSL check so.
        const checked = checkedSigner(
            args,
            signer,
            {
                subject,
                fix: "give it a name of its own: another environment, organization or generation, or a root named otherwise",
            },
            "MeshPluginCa",
            this,
            true,
            [ISTIO_WORKLOAD_IDENTITY, ISTIOD_SERVING_NAME],
            ["serverAuth", "clientAuth"],
        );
        // With an offline root, istiod gets cacerts only once the ceremony has signed: a secret
        // without a certificate would make istiod fail instead of falling back. Empty text is no
        // signature either (a YAML "", Python's `config.get(...) or ""`), as the CA takes it.
        const signed = isGiven(args.offlineRoot) ? args.offlineRoot.signedCertPem : undefined;
        const pending = isGiven(args.offlineRoot) && (!isGiven(signed) || signed === "");
        const makesCacerts = installed && !pending;
        const clock = checkClock();
        // Not the CA's key before trustedRootsPem passes, given as an output (a refusal left a CA made).
        const trustChecked = makesCacerts ? checkedCacertsTrustBeforeCa(args, checked, name, this, clock) : [];
        const ca = issueCaCertificate(
            this,
            name,
            {
                subject,
                key: caKey(keyAlgorithm),
                validityDays,
                earlyRenewalDays,
                epoch,
            },
            checked,
            "MeshPluginCa",
            args.offlineRoot ?? undefined,
            trustChecked,
        );

        // One certificate as the provider writes it: @pulumi/tls's, or the ceremony's (caCertificateAlone).
        this.certPem = ca.certPem;
        this.csrPem = ca.csrPem;
        this.privateKeyPem = ca.privateKeyPem;
        this.rootCertPem = ca.rootCertPem;
        this.certChainPem = joinPemOutputs(chainCertificatesOf(ca.chainPem), certificatesOf(ca.rootCertPem));

        const clusterResource = meshCaId(args.cluster);
        // cacerts' contents as checked in applies when given as outputs: the PeerAuthentication waits on them.
        const cacertsChecked: pulumi.Output<string>[] = [];
        if (makesCacerts) {
            const { rootCertPem, crlPem } = checkedCacertsTrust(
                args,
                this.rootCertPem,
                this.certPem,
                this.certChainPem,
                name,
                this,
                clock,
            );
            // An output that resolves to empty text is known too late to leave cacerts out.
            const caCertPem = this.certPem.apply((pem) => {
                if (pem !== "") return pem;
                throw argumentError(
                    "MeshPluginCa offlineRoot.signedCertPem came as empty text: istiod would fail on a cacerts without its CA certificate; leave signedCertPem out until the ceremony has signed this CA's CSR",
                    this,
                );
            });
            cacertsChecked.push(caCertPem, rootCertPem, ...(crlPem !== undefined ? [crlPem] : []));
            new k8s.core.v1.Secret(
                `${clusterResource}-cacerts`,
                {
                    metadata: { ...MESH_CA_SECRET },
                    type: "Opaque",
                    stringData: {
                        "ca-cert.pem": caCertPem,
                        "ca-key.pem": this.privateKeyPem,
                        "root-cert.pem": joinPemOutputs(rootCertPem),
                        "cert-chain.pem": this.certChainPem,
                        ...(crlPem !== undefined ? { "ca-crl.pem": crlPem } : {}),
                    },
                },
                { parent: this },
            );
        }
        if (strictMtls && installed) {
            new k8s.apiextensions.CustomResource(
                `${clusterResource}-peer-authentication`,
                {
                    apiVersion: "security.istio.io/v1",
                    kind: "PeerAuthentication",
                    metadata: { name: "default", namespace: MESH_CA_SECRET.namespace },
                    spec: { mtls: { mode: "STRICT" } },
                },
                // Not before the CA's certificate is made (or the ceremony's checked) and cacerts'
                // contents pass their checks: a refused issuer, signed certificate, trustedRootsPem
                // or crlPem, given as outputs, leaves no strict mTLS without the CA it needs.
                { parent: this, dependsOn: afterCheck(this.certPem, ...cacertsChecked) },
            );
        }
        this.registerOutputs({
            certPem: this.certPem,
            privateKeyPem: this.privateKeyPem,
            rootCertPem: this.rootCertPem,
            certChainPem: this.certChainPem,
        });
    }
}

/**
 * The environment that starts the CA's common name, or undefined when unset: non-blank text
 * without control characters, short enough that the common name `commonName(environment)` fits
 * the 64 characters X.509 allows. Unchecked, a map or a list went into the name as
 * "[object Object]" or "prod,x", and "" as a leading space.
 */
function environmentArgument(
    value: unknown,
    commonName: (environment: string | undefined) => string,
    resource: pulumi.Resource,
): string | undefined {
    if (!isGiven(value)) return undefined;
    refuseOutput(value, "MeshPluginCa environment", resource);
    if (typeof value !== "string" || value.trim() === "") {
        throw argumentError(
            `MeshPluginCa environment must be non-blank text (it starts the CA's common name, e.g. "prod"); got ${showJson(value as Json)}. Leave it unset for a common name without it ("${commonName(undefined)}")`,
            resource,
        );
    }
    if (hasControlCharacter(value)) {
        throw argumentError(
            `MeshPluginCa environment must not contain control characters (it starts the CA's common name); got ${showJson(value)}`,
            resource,
        );
    }
    const quoted = typographicQuoteProblem(value, showJson(value), "the CA's common name");
    if (quoted !== undefined) throw argumentError(`MeshPluginCa environment ${quoted}`, resource);
    // Characters as X.509 counts them (code points); a cluster too long by itself is checkCaSubject's.
    const name = commonName(value);
    const room = MAX_COMMON_NAME_LENGTH - characterCount(commonName(undefined)) - 1;
    if (characterCount(name) > MAX_COMMON_NAME_LENGTH && room > 0) {
        throw argumentError(
            `MeshPluginCa environment ${showJson(value)} makes the CA's common name ${showJson(name)} ${characterCount(name)} characters, more than the ${MAX_COMMON_NAME_LENGTH} RFC 5280 allows; shorten it to at most ${room} (or shorten the cluster name)`,
            resource,
        );
    }
    return value;
}

/** How a refused root-cert.pem or ca-crl.pem names MeshPluginCa's arguments and peers. */
const MESH_CRL_ARGUMENTS = {
    bundle: "trustedRootsPem",
    crl: "crlPem",
    refused: "every workload",
    sender: "workloads send their mesh CA",
};

/**
 * cacerts' `root-cert.pem` and `ca-crl.pem`. Both go to every sidecar of the cluster (the
 * istio-ca-root-cert and istio-ca-crl ConfigMaps), which checks peers as Envoy does: so they are
 * checked as the gateway's ca.crt and ca.crl are, and against this CA too, as istiod checks them.
 */
function checkedCacertsTrust(
    args: MeshPluginCaArgs,
    signerRootPem: pulumi.Output<string>,
    caPem: pulumi.Output<string>,
    chainPem: pulumi.Output<string>,
    name: string,
    resource: pulumi.Resource,
    clock: CheckClock,
): { rootCertPem: pulumi.Output<string>; crlPem?: pulumi.Output<string> } {
    const rootCertPem = !isGiven(args.trustedRootsPem)
        ? signerRootPem
        : pulumi
              .all([
                  checkedTrustBundle(args.trustedRootsPem, "MeshPluginCa trustedRootsPem", resource, clock),
                  signerRootPem,
              ])
              .apply(([roots, root]) => withSignerRoot(roots, root, name, resource));
    const names = { component: `MeshPluginCa ${name}`, ...MESH_CRL_ARGUMENTS };
    const { caCrt, caCrl } = withCrls(rootCertPem, args.crlPem, names, resource, clock, chainPem);
    if (caCrl === undefined) return { rootCertPem: caCrt };
    const crlPem = pulumi
        .all([caCrl, caPem, chainPem])
        .apply(([crls, ca, chain]) => withChainCrls(crls, ca, chain, name, resource));
    return { rootCertPem: caCrt, crlPem };
}

/**
 * checkedCacertsTrust's checks of trustedRootsPem and crlPem, run before the CA is made so that a
 * refusal leaves no key, CSR or certificate: at once when given as plain text, against the
 * signer's root when that is plain text too (an issuer given as PEM); else in an apply, once
 * trustedRootsPem and the signer's root resolve, which the CA's key waits on (the outputs
 * returned). Without this CA, whose certificate is not known yet (its CRLs are held to the
 * clock-lag rule once it is); a crlPem given as an output is checked after the CA is made, as it
 * may hold this CA's own CRL (the stack's does), which its key signs.
 */
function checkedCacertsTrustBeforeCa(
    args: MeshPluginCaArgs,
    signer: CaSigner | OfflineSigner,
    name: string,
    resource: pulumi.Resource,
    clock: CheckClock,
): pulumi.Output<unknown>[] {
    // An offline root is checked in an apply (offlineRootAlone): not read before that.
    const signerRoot = isGiven(args.offlineRoot) ? undefined : signer.rootCertPem;
    const chainPem = args.issuer?.chainPem;
    const crlPem = isLater(args.crlPem) ? undefined : args.crlPem;
    const check = (trustedRootsPem: unknown, root: unknown, chain: unknown) =>
        checkCacertsTrust(trustedRootsPem, crlPem, root, chain, name, resource, clock);
    check(args.trustedRootsPem, signerRoot, chainPem);
    if (![args.trustedRootsPem, signerRoot, chainPem].some(isLater)) return [];
    // Given plain, trustedRootsPem was checked alone above: again with the root, once it resolves.
    return [
        pulumi
            .all([args.trustedRootsPem, signerRoot, chainPem])
            .apply(([roots, root, chain]) => check(roots, root, chain)),
    ];
}

/**
 * The checks of checkedCacertsTrustBeforeCa of the values known (any output is skipped): the
 * trust bundle, the signer's root in it, and the CRLs against them.
 */
function checkCacertsTrust(
    trustedRootsPem: unknown,
    crlPem: unknown,
    signerRoot: unknown,
    chainPem: unknown,
    name: string,
    resource: pulumi.Resource,
    clock: CheckClock,
): void {
    const root = typeof signerRoot === "string" ? signerRoot : undefined;
    let roots = root;
    if (isGiven(trustedRootsPem)) {
        if (isLater(trustedRootsPem)) return;
        roots = trustedRootsPem as string;
        checkedTrustBundle(roots, "MeshPluginCa trustedRootsPem", resource, clock);
        if (root !== undefined) withSignerRoot(roots, root, name, resource);
    }
    if (roots === undefined || !isGiven(crlPem) || isLater(crlPem)) return;
    const names = { component: `MeshPluginCa ${name}`, ...MESH_CRL_ARGUMENTS };
    onlyRootsWithCrl(roots, names, resource);
    const chain = typeof chainPem === "string" ? pemBlocks(chainPem, "CERTIFICATE") : [];
    checkCrls(crlPem as string, roots, names, resource, clock, chain, Infinity);
}

/**
 * `roots` (root-cert.pem), refused unless it holds the root this CA chains to: istiod refuses a
 * cacerts whose cert-chain.pem does not verify against root-cert.pem, and workloads would not
 * trust the certificates it signs.
 */
function withSignerRoot(roots: string, root: string, name: string, resource: pulumi.Resource): string {
    const der = (pem: string) => new crypto.X509Certificate(pem).raw;
    const rootDer = der(root);
    if (!pemBlocks(roots, "CERTIFICATE").some((pem) => der(pem).equals(rootDer))) {
        throw argumentError(
            `MeshPluginCa ${name}: trustedRootsPem does not hold ${subjectOf(new crypto.X509Certificate(root))}, the root this CA chains to: ` +
                `istiod would refuse cacerts (its cert-chain.pem does not verify against root-cert.pem) and workloads would not trust what it signs; ` +
                `give that root in trustedRootsPem, after the roots it held before (istiod up to 1.29 takes a changed root-cert.pem only when one holds the other's bytes)`,
            resource,
        );
    }
    return roots;
}

/**
 * `crls` (ca-crl.pem), refused unless it holds a CRL signed by each CA of `chainPem` (cert-chain.pem:
 * this CA, `caPem`, then the intermediates and root above it), as istiod's keycertbundle.go Verify
 * wants: missing one, it keeps the cacerts it loaded before (istio/istio#61075); and
 * every workload's chain has these CAs, which sidecars need a CRL for. The roots of root-cert.pem
 * were checked before (withCrls), so this names this CA and its intermediates.
 */
function withChainCrls(crls: string, caPem: string, chainPem: string, name: string, resource: pulumi.Resource): string {
    const ca = new crypto.X509Certificate(caPem);
    const missing = signedNoCrl(pemBlocks(crls, "X509 CRL"), pemBlocks(chainPem, "CERTIFICATE")).map(
        (pem) => new crypto.X509Certificate(pem),
    );
    if (missing.length === 0) return crls;
    const own = missing.some((cert) => cert.raw.equals(ca.raw));
    const issuers = missing.filter((cert) => !cert.raw.equals(ca.raw)).map(subjectOf);
    const signers = [
        ...(own ? [`this mesh CA (${subjectOf(ca)})`] : []),
        ...(issuers.length > 0
            ? [`${issuers.join(", ")} (${issuers.length === 1 ? "its issuer" : "its issuers"} in cert-chain.pem)`]
            : []),
    ];
    const fix =
        missing.length > 1 ? "add the CRL of each of these CAs" : own ? "add this CA's CRL" : "add that CA's CRL";
    throw argumentError(
        `MeshPluginCa ${name}: crlPem holds no CRL signed by ${signers.join(" nor by ")}: ` +
            `istiod would not load the new cacerts (istio/istio#61075), and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; ` +
            fix,
        resource,
    );
}
