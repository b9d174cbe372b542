/**
 * The bench's baseline: what lib/stack.ts `buildPki` registers, registered directly (no component),
 * with the same inputs, and the same outputs computed from them: what the stack would cost if the
 * components were free. It reuses the pure helpers the components and the stack use (lib/plan,
 * lib/pki, lib/inventory, lib/components/keys and pem), never a component. It covers the bench's
 * configuration only (see `notCovered`); bench/run.ts checks at 24 services that it registers
 * exactly the stack's resources and returns the stack's outputs.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import {
    certRequestArgs,
    CertificateSpec,
    HOURS_PER_DAY,
    locallySignedCertArgs,
    privateKeyArgs,
    subjectArgs,
} from "../lib/components/keys";
import { certificatesOf, chainCertificatesOf, joinPemOutputs } from "../lib/components/pem";
import { buildInventory, IssuedCertificate } from "../lib/inventory/issued";
import { RotationRecord } from "../lib/plan/caRotation";
import { RootSlot, rootOf } from "../lib/plan/hierarchy";
import {
    activeCa,
    CA_USES,
    CaId,
    CaPlan,
    GATEWAY_SELECTOR,
    gatewayServer,
    MESH_CA_SECRET,
    meshCaId,
    PkiPlan,
    pkcs12PasswordName,
    rotatedName,
} from "../lib/plan/plan";
import { pemBlocks } from "../lib/pki/pem";
import { spkiPin } from "../lib/pki/pins";
import { cachedPkcs12, pkcs12FriendlyName } from "../lib/pki/pkcs12";
import { clusterProvider, endpointOutputs, PROVIDER_EARLY_RENEWAL_DAYS, recordOfDeployment } from "../lib/stack";

/** What signs: a CA's certificate and key (secret). */
interface Signer {
    readonly certPem: pulumi.Output<string>;
    readonly privateKeyPem: pulumi.Output<string>;
}

/** An issuing CA: also its chain, what its leaves send after themselves (without the root). */
interface Ca extends Signer {
    readonly chainPem: pulumi.Output<string>;
}

/** A key and the certificate `issue` made for it. */
interface Issued extends Ca {
    readonly publicKeyPem: pulumi.Output<string>;
}

/** An endpoint's APIC client: its certificate and key, and what the gateway and APIC get from them. */
interface ApicClient {
    readonly issued: Issued;
    readonly spkiPin: pulumi.Output<string>;
    readonly output: Record<string, unknown>;
}

/** What the baseline leaves to the stack: anything the bench's configuration does not have. */
function notCovered(plan: PkiPlan): string[] {
    const { config, frontEnd, crls } = plan;
    return [
        ...(frontEnd.uiClients.length + frontEnd.apicServers.length + frontEnd.customerFacing.length > 0
            ? ["pki:frontEnd"]
            : []),
        ...(Object.keys(config.offlineRoots).length > 0 ? ["pki:offlineRoots"] : []),
        ...(plan.cas.some((ca) => ca.generation > 0 || !ca.active) ? ["pki:caRotation"] : []),
        ...(crls.gateway || crls.apicTruststore || crls.mesh || crls.apicUiTruststore ? ["CRLs"] : []),
        ...(config.meshStrictMtls ? ["pki:meshStrictMtls"] : []),
        ...(plan.deployed !== undefined ? ["a deployed record"] : []),
    ];
}

/** A key, a CSR and a certificate signed by `ca`, named and with inputs as lib/components/keys.ts makes them. */
function issue(baseName: string, spec: CertificateSpec, ca: Signer, isCa = false): Issued {
    const name = rotatedName(baseName, spec.epoch);
    const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(spec.key));
    const csr = new tls.CertRequest(`${name}-csr`, certRequestArgs(key.privateKeyPem, spec));
    const cert = new tls.LocallySignedCert(
        `${name}-cert`,
        locallySignedCertArgs(
            csr.certRequestPem,
            { ...spec, earlyRenewalDays: PROVIDER_EARLY_RENEWAL_DAYS },
            ca,
            isCa ? { isCaCertificate: true } : {},
        ),
    );
    return {
        certPem: cert.certPem,
        privateKeyPem: pulumi.secret(key.privateKeyPem),
        publicKeyPem: key.publicKeyPem,
        // A CA signed by a root: itself only (the root is not sent).
        chainPem: joinPemOutputs(cert.certPem, ""),
    };
}

/** An issuing CA signed by its root: a leaf spec with the CA's uses and no names. */
function issueCa(name: string, plan: CaPlan, root: Signer): Issued {
    return issue(name, { ...plan, dnsNames: [], uris: [], allowedUses: [...CA_USES] }, root, true);
}

/** Every root of the plan, self-signed, by CA id (`<id>-ca-key`, `<id>-ca-cert`). */
function roots(plan: PkiPlan): Record<CaId, Signer> {
    const made: Record<CaId, Signer> = {};
    for (const p of plan.cas.filter((c) => c.role === "root")) {
        const key = new tls.PrivateKey(`${p.id}-ca-key`, privateKeyArgs(p.key));
        const cert = new tls.SelfSignedCert(`${p.id}-ca-cert`, {
            privateKeyPem: key.privateKeyPem,
            subject: subjectArgs(p.subject),
            isCaCertificate: true,
            maxPathLength: p.maxPathLength,
            setSubjectKeyId: true,
            setAuthorityKeyId: true,
            allowedUses: [...CA_USES],
            validityPeriodHours: p.validityDays * HOURS_PER_DAY,
            earlyRenewalHours: PROVIDER_EARLY_RENEWAL_DAYS * HOURS_PER_DAY,
        });
        made[p.id] = { certPem: cert.certPem, privateKeyPem: pulumi.secret(key.privateKeyPem) };
    }
    return made;
}

/** The gateway-server and APIC-client CAs, by CA id. */
function intermediates(plan: PkiPlan, rootCas: Record<CaId, Signer>): Record<CaId, Ca> {
    return Object.fromEntries(
        plan.cas.filter((c) => c.role === "intermediate").map((p) => [p.id, issueCa(p.id, p, rootCas[p.issuer ?? ""])]),
    );
}

/** Per cluster its mesh CA and istiod's `cacerts` Secret (through that cluster's provider), by CA id. */
function meshCas(
    plan: PkiPlan,
    rootCas: Record<CaId, Signer>,
    meshRootsPem: pulumi.Output<string>,
    providers: readonly k8s.Provider[],
): Record<CaId, Ca> {
    const made: Record<CaId, Ca> = {};
    for (const p of plan.cas.filter((c) => c.role === "mesh-ca")) {
        const cluster = p.cluster ?? "";
        const root = rootCas[p.issuer ?? ""];
        const ca = issueCa(p.id, p, root);
        const provider = providers[plan.config.clusters.findIndex((c) => c.name === cluster)];
        new k8s.core.v1.Secret(
            `${meshCaId(cluster)}-cacerts`,
            {
                metadata: { ...MESH_CA_SECRET },
                type: "Opaque",
                stringData: {
                    "ca-cert.pem": ca.certPem,
                    "ca-key.pem": ca.privateKeyPem,
                    "root-cert.pem": joinPemOutputs(meshRootsPem),
                    "cert-chain.pem": joinPemOutputs(chainCertificatesOf(ca.chainPem), certificatesOf(root.certPem)),
                },
            },
            { provider },
        );
        made[p.id] = ca;
    }
    return made;
}

/** Per endpoint APIC's client certificate, its PKCS#12 and password, and APIC's deliverables (PEM and PKCS#12). */
function apicClients(plan: PkiPlan, clientCa: Ca, serverTrustPem: pulumi.Output<string>): Record<string, ApicClient> {
    const { pkcs12Profile, pkcs12Iterations } = plan.config;
    const made: Record<string, ApicClient> = {};
    for (const e of plan.endpoints) {
        const name = `${e.id}-apic-client`;
        const issued = issue(name, e.client, clientCa);
        const password = new random.RandomPassword(pkcs12PasswordName(name, e.client.epoch), {
            length: 32,
            special: false,
        });
        const caChainPem = chainCertificatesOf(clientCa.chainPem);
        const pin = issued.publicKeyPem.apply(spkiPin);
        const pkcs12Base64 = pulumi.secret(
            pulumi
                .all([issued.privateKeyPem, issued.certPem, caChainPem, password.result])
                .apply(([keyPem, certPem, chainPem, pass]) =>
                    cachedPkcs12({
                        keyPem,
                        certPems: [certPem, ...pemBlocks(chainPem, "CERTIFICATE")],
                        password: pass,
                        friendlyName: pkcs12FriendlyName(e.id, pkcs12Profile),
                        profile: pkcs12Profile,
                        iterations: pkcs12Iterations,
                    }).toString("base64"),
                ),
        );
        made[e.id] = {
            issued,
            spkiPin: pin,
            output: {
                host: e.host,
                identity: e.clientIdentity,
                certPem: issued.certPem,
                privateKeyPem: issued.privateKeyPem,
                caChainPem,
                truststorePem: joinPemOutputs(serverTrustPem),
                spkiPin: pin,
                pkcs12Base64,
                pkcs12Password: pulumi.secret(password.result),
            },
        };
    }
    return made;
}

/**
 * Per gateway, per endpoint a server certificate and its `kubernetes.io/tls` Secret, and the
 * Gateway with one MUTUAL server entry per endpoint, pinning its APIC client's key. Returns the
 * server certificates by endpoint id.
 */
function gateways(
    plan: PkiPlan,
    serverCa: Ca,
    clientTrustPem: pulumi.Output<string>,
    clients: Record<string, ApicClient>,
    provider: k8s.Provider,
): Record<string, pulumi.Output<string>> {
    const serverCertPems: Record<string, pulumi.Output<string>> = {};
    for (const g of plan.gateways) {
        const name = `${g.domain}-gateway`;
        const servers = plan.endpoints
            .filter((e) => e.gatewayName === g.name)
            .map((e) => {
                const server = issue(`${name}-${e.id}-server`, e.server, serverCa);
                serverCertPems[e.id] = server.certPem;
                new k8s.core.v1.Secret(
                    `${name}-${e.id}-tls`,
                    {
                        metadata: { name: e.gatewaySecret.name, namespace: g.namespace },
                        type: "kubernetes.io/tls",
                        stringData: {
                            "tls.crt": joinPemOutputs(server.certPem, chainCertificatesOf(serverCa.chainPem)),
                            "tls.key": server.privateKeyPem,
                            "ca.crt": clientTrustPem,
                        },
                    },
                    { provider },
                );
                return gatewayServer({
                    id: e.id,
                    host: e.host,
                    secretName: e.gatewaySecret.name,
                    identities: [e.clientIdentity],
                    pins: [clients[e.id].spkiPin, ...e.pinnedPreviousClients.map((c) => c.spki)],
                });
            });
        new k8s.apiextensions.CustomResource(
            `${name}-gateway`,
            {
                apiVersion: "networking.istio.io/v1",
                kind: "Gateway",
                metadata: { name: g.name, namespace: g.namespace },
                spec: { selector: { ...GATEWAY_SELECTOR }, servers },
            },
            { provider },
        );
    }
    return serverCertPems;
}

/** The record the next update reads back, from what was issued (the stack's own pure builder; no CRLs here). */
function deploymentRecord(
    plan: PkiPlan,
    caCertPems: Record<CaId, pulumi.Output<string>>,
    clients: Record<string, ApicClient>,
    serverCertPems: Record<string, pulumi.Output<string>>,
    inventory: pulumi.Output<IssuedCertificate[]>,
): pulumi.Output<RotationRecord> {
    const issuedClients = pulumi.all(
        plan.endpoints.map((e) => pulumi.all([clients[e.id].issued.certPem, clients[e.id].spkiPin])),
    );
    const issuedServers = pulumi.all(plan.endpoints.map((e) => serverCertPems[e.id]));
    return pulumi
        .all([pulumi.all(plan.cas.map((ca) => caCertPems[ca.id])), issuedClients, issuedServers, inventory])
        .apply(([caPems, clientPems, serverPems, issued]) =>
            recordOfDeployment(plan, {
                caCertPems: caPems,
                clients: plan.endpoints.map((e, i) => ({
                    key: e.id,
                    leaf: e.client,
                    certPem: clientPems[i][0],
                    spkiPin: clientPems[i][1],
                })),
                servers: plan.endpoints.map((e, i) => ({ key: e.id, epoch: e.server.epoch, certPem: serverPems[i] })),
                customerFacingKeys: {},
                crls: {},
                inventory: issued,
            }),
        );
}

/**
 * The stack's resources, registered directly, and its outputs (PkiStackOutputs' shape): roots,
 * issuing CAs, mesh CAs with `cacerts`, APIC clients with their PKCS#12, gateways with their
 * Secrets and pins, the inventory and the deployment record.
 */
export function baseline(plan: PkiPlan): Record<string, unknown> {
    const uncovered = notCovered(plan);
    if (uncovered.length > 0) throw new Error(`the bench's baseline does not cover ${uncovered.join(", ")}`);
    const { config } = plan;
    const rootCas = roots(plan);
    const trustedRoots = (slot: RootSlot) =>
        joinPemOutputs(
            ...plan.cas.filter((c) => c.role === "root" && c.slot === slot).map((c) => rootCas[c.id].certPem),
        );
    const clientTrustPem = trustedRoots(rootOf("apicClientCa", config.trustDomains));
    const serverTrustPem = trustedRoots(rootOf("gatewayServerCa", config.trustDomains));
    const meshTrustPem = trustedRoots(rootOf("meshCa", config.trustDomains));

    const issuing = intermediates(plan, rootCas);
    const providers = config.clusters.map(clusterProvider);
    const mesh = meshCas(plan, rootCas, meshTrustPem, providers);
    const serverCa = issuing[activeCa(plan.cas, "gateway-server-ca").id];
    const clientCa = issuing[activeCa(plan.cas, "apic-client-ca").id];
    // APIC's truststore: the server root and the gateway-server CA (DataPower builds chains from it alone).
    const apicTrustPem = joinPemOutputs(serverTrustPem, serverCa.certPem);
    const clients = apicClients(plan, clientCa, apicTrustPem);
    const serverCertPems = gateways(plan, serverCa, clientTrustPem, clients, providers[0]);

    const caCertPems: Record<CaId, pulumi.Output<string>> = Object.fromEntries(
        Object.entries({ ...rootCas, ...issuing, ...mesh }).map(([id, ca]) => [id, ca.certPem]),
    );
    const issuedPems: Record<string, pulumi.Output<string>> = { ...caCertPems };
    for (const e of plan.endpoints) {
        issuedPems[`${e.id}/server`] = serverCertPems[e.id];
        issuedPems[`${e.id}/client`] = clients[e.id].issued.certPem;
    }
    const inventory = pulumi.all(issuedPems).apply((issued) => buildInventory(plan, issued));
    return {
        trustAnchors: { gatewayClients: clientTrustPem, apicTruststore: apicTrustPem, mesh: meshTrustPem },
        gatewayServerCaCertPem: serverCa.certPem,
        apicClientCaCertPem: clientCa.certPem,
        endpoints: endpointOutputs(plan),
        apicBundles: Object.fromEntries(Object.entries(clients).map(([id, client]) => [id, client.output])),
        meshCaCertPems: Object.fromEntries(
            plan.cas.filter((c) => c.role === "mesh-ca").map((c) => [c.cluster ?? "", mesh[c.id].certPem]),
        ),
        caCertPems,
        frontEnd: { uiClients: {}, apic: { servers: {} }, customerFacingCsrs: {}, pendingCustomerFacing: [] },
        inventory,
        deploymentRecord: deploymentRecord(plan, caCertPems, clients, serverCertPems, inventory),
    };
}
