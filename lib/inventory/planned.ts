/**
 * Every certificate the plan will issue, as plain data: what `inventory` prints, what the stack
 * exports as `inventory`, and what `diff` compares. No key or certificate body, ever.
 */
import {
    APIC_UI_DIR,
    CA_USES,
    CaPlan,
    CertRole,
    EndpointPlan,
    KeySpec,
    LeafPlan,
    MESH_CA_SECRET,
    PkiPlan,
    RequestSubjectSpec,
    SubjectSpec,
} from "../plan/plan";
import { IntermediateSlot, ROOT_IDS, rootOf } from "../plan/hierarchy";

// Where render writes the front end's APIC files: the plan owns the name, since it refuses an endpoint named "ui".
export { APIC_UI_DIR };
import { DAY_MS } from "../pki/crl";
import { publicRenewalWindowDays } from "../pki/publicCert";
import { issuerOf } from "../pki/x509";
import * as crypto from "crypto";

export interface PlannedCertificate {
    /** Stable identity across plans: a CA id, or "<endpoint>/server" and "<endpoint>/client". */
    id: string;
    role: CertRole;
    endpoint?: string;
    /** UI client certificates: the UI service (Kubernetes name). */
    service?: string;
    /** Customer-facing and APIC UI-facing server certificates: the host. */
    host?: string;
    cluster?: string;
    subject: string;
    dnsNames: string[];
    uris: string[];
    /** Id of the issuing CA; the root names itself. */
    issuer: string;
    /** e.g. "RSA 2048", "ECDSA P-256". */
    key: string;
    /** @pulumi/tls allowed_uses. */
    uses: string[];
    validityDays: number;
    /** Days after issue at which the certificate enters its early-renewal window. */
    renewAfterDays: number;
    /** Rotation epoch; raising it replaces the key and certificate. */
    epoch: number;
    /** Where the certificate is delivered (Kubernetes secrets as render paths, APIC bundles). */
    goesTo: string[];
}

export function describeKey(key: KeySpec): string {
    return key.algorithm === "RSA" ? `RSA ${key.rsaBits}` : `ECDSA ${key.ecdsaCurve === "P384" ? "P-384" : "P-256"}`;
}

export function describeSubject(subject: SubjectSpec | RequestSubjectSpec): string {
    return (
        [
            subject.organization !== undefined ? `O=${subject.organization}` : "",
            subject.commonName !== undefined ? `CN=${subject.commonName}` : "",
        ]
            .filter((p) => p !== "")
            .join(", ") || "an empty subject"
    );
}

/** `k8s/<cluster>/<namespace>/secret-<name>`, the render path and a readable location at once. */
export const secretPath = (cluster: string, namespace: string, name: string): string =>
    `k8s/${cluster}/${namespace}/secret-${name}`;

/** An Istio Gateway's file in a render (render.ts: k8s/<cluster>/<namespace>/<kind>-<name>), without .yaml. */
export const gatewayPath = (cluster: string, namespace: string, name: string): string =>
    `k8s/${cluster}/${namespace}/gateway-${name}`;

function caDestinations(plan: PkiPlan): Record<string, string[]> {
    const gatewayCluster = plan.config.clusters[0].name;
    const gatewaySecrets = plan.endpoints.map((e) =>
        secretPath(gatewayCluster, e.gatewaySecret.namespace, e.gatewaySecret.name),
    );
    const cacerts = plan.config.clusters.map((c) => secretPath(c.name, MESH_CA_SECRET.namespace, MESH_CA_SECRET.name));
    const truststores = plan.endpoints.map((e) => `apic/${e.id}/truststore.pem`);
    const trust = plan.config.trustDomains;
    const uiSecrets = plan.frontEnd.uiClients.map((c) => secretPath(gatewayCluster, c.secret.namespace, c.secret.name));
    const rootPlaces: Record<IntermediateSlot, string[]> = {
        apicClientCa: gatewaySecrets.map((s) => `${s} (ca.crt)`),
        gatewayServerCa: [
            ...truststores,
            // UI sidecars verify APIC's UI-facing certificate against it, when it is issued here.
            ...(plan.frontEnd.apicServers.length > 0 ? uiSecrets.map((s) => `${s} (ca.crt)`) : []),
        ],
        meshCa: cacerts.map((s) => `${s} (root-cert.pem, cert-chain.pem)`),
        uiClientCa: uiSecrets.length > 0 ? [`${APIC_UI_DIR}/truststore.pem`] : [],
    };
    const roots: Record<string, string[]> = {};
    for (const slot of ["apicClientCa", "gatewayServerCa", "meshCa", "uiClientCa"] as const) {
        const id = ROOT_IDS[rootOf(slot, trust)];
        roots[id] = [...(roots[id] ?? []), ...rootPlaces[slot]];
    }
    return {
        ...roots,
        // APIC's truststores hold every generation of the CAs whose leaves APIC checks (DataPower
        // builds the chain from them alone), the one only trusted during a rotation included.
        "gateway-server-ca": [
            ...gatewaySecrets.map((s) => `${s} (tls.crt chain)`),
            ...plan.frontEnd.apicServers.map((a) => `${APIC_UI_DIR}/${a.host}/ca-chain.pem`),
            ...truststores.map((t) => `${t} (trusted issuing CA)`),
        ],
        "apic-client-ca": plan.endpoints.map((e) => `apic/${e.id}/ca-chain.pem`),
        "ui-client-ca": [
            ...uiSecrets.map((s) => `${s} (tls.crt chain)`),
            ...(uiSecrets.length > 0 ? [`${APIC_UI_DIR}/truststore.pem (trusted issuing CA)`] : []),
        ],
    };
}

function caRow(ca: CaPlan, goesTo: Record<string, string[]>): PlannedCertificate {
    // A CA that is only trusted (the other side of a staged rotation) is in no chain and not installed.
    const inChain = (place: string) => place.includes("tls.crt chain") || place.endsWith("/ca-chain.pem");
    const delivered =
        ca.cluster !== undefined
            ? ca.active
                ? [
                      `${secretPath(ca.cluster, MESH_CA_SECRET.namespace, MESH_CA_SECRET.name)} (ca-cert.pem, cert-chain.pem)`,
                  ]
                : []
            : (goesTo[ca.slotId] ?? []).filter((place) => ca.active || !inChain(place));
    return {
        id: ca.id,
        role: ca.role,
        ...(ca.cluster !== undefined ? { cluster: ca.cluster } : {}),
        subject: describeSubject(ca.subject),
        dnsNames: [],
        uris: [],
        issuer: ca.issuer ?? ca.id,
        key: describeKey(ca.key),
        uses: [...CA_USES],
        validityDays: ca.validityDays,
        renewAfterDays: ca.validityDays - ca.earlyRenewalDays,
        epoch: ca.epoch,
        goesTo: delivered,
    };
}

function leafRow(plan: PkiPlan, endpoint: EndpointPlan, leaf: LeafPlan): PlannedCertificate {
    const kind = leaf.role === "gateway-server" ? "server" : "client";
    const { namespace, name } = endpoint.gatewaySecret;
    return issuedLeafRow(leaf, {
        id: `${endpoint.id}/${kind}`,
        endpoint: endpoint.id,
        goesTo:
            kind === "server"
                ? [`${secretPath(plan.config.clusters[0].name, namespace, name)} (tls.crt, tls.key)`]
                : [`apic/${endpoint.id}/client.crt, client.key (APIC keystore)`],
    });
}

/** Where a render writes a customer-facing host's CSR, for the public CA. */
export const customerFacingCsrFile = (host: string): string => `front-end/csr/${host}.csr`;

/**
 * Where a render writes the roots of pki:frontEnd.publicRoots: the stack writes them nowhere else,
 * yet refuses an update once one has expired, so expiry --dir must see them.
 */
export const PUBLIC_ROOTS_FILE = "front-end/public-roots.pem";

/** Inventory ids of the front end's certificates. */
export const uiClientCertId = (name: string): string => `ui/${name}/client`;
export const apicServerCertId = (host: string): string => `apic-ui/${host}/server`;
export const customerFacingCertId = (host: string): string => `public/${host}`;

/** A leaf issued by a CA of this stack, as an inventory row. */
function issuedLeafRow(
    leaf: LeafPlan,
    fields: Pick<PlannedCertificate, "id" | "goesTo"> & Partial<PlannedCertificate>,
): PlannedCertificate {
    return {
        role: leaf.role,
        subject: describeSubject(leaf.subject),
        dnsNames: [...leaf.dnsNames],
        uris: [...leaf.uris],
        issuer: leaf.issuer,
        key: describeKey(leaf.key),
        uses: [...leaf.allowedUses],
        validityDays: leaf.validityDays,
        renewAfterDays: leaf.validityDays - leaf.earlyRenewalDays,
        epoch: leaf.epoch,
        ...fields,
    };
}

/** The CN and O of a certificate's subject (the first of each; none of an empty subject). */
function subjectSpecOf(cert: crypto.X509Certificate): SubjectSpec {
    const field = (name: string) =>
        (cert.subject ?? "")
            .split("\n")
            .find((part) => part.startsWith(`${name}=`))
            ?.slice(name.length + 1);
    const organization = field("O");
    return { commonName: field("CN") ?? "", ...(organization !== undefined ? { organization } : {}) };
}

/** The key a certificate certifies. */
function keyOf(cert: crypto.X509Certificate): KeySpec {
    const details = cert.publicKey.asymmetricKeyDetails;
    return cert.publicKey.asymmetricKeyType === "rsa"
        ? { algorithm: "RSA", rsaBits: details?.modulusLength }
        : { algorithm: "ECDSA", ecdsaCurve: details?.namedCurve === "prime256v1" ? "P256" : "P384" };
}

/** The front end's certificates: UI clients, APIC's UI-facing servers, customer-facing hosts with a certificate. */
function frontEndRows(plan: PkiPlan): PlannedCertificate[] {
    const cluster = plan.config.clusters[0].name;
    return [
        ...plan.frontEnd.uiClients.map((c) =>
            issuedLeafRow(c.leaf, {
                id: uiClientCertId(c.name),
                service: c.name,
                goesTo: [`${secretPath(cluster, c.secret.namespace, c.secret.name)} (tls.crt, tls.key)`],
            }),
        ),
        ...plan.frontEnd.apicServers.map((a) =>
            issuedLeafRow(a.leaf, {
                id: apicServerCertId(a.host),
                host: a.host,
                goesTo: [
                    `${APIC_UI_DIR}/${a.host}/server.crt, server.key (APIC keystore of the UI-facing TLS server profile)`,
                ],
            }),
        ),
        ...plan.frontEnd.customerFacing.flatMap((c): PlannedCertificate[] => {
            if (c.certificate === undefined) return [];
            const cert = new crypto.X509Certificate(c.certificate);
            const lifetimeDays = Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS);
            return [
                {
                    id: customerFacingCertId(c.host),
                    role: "customer-facing",
                    host: c.host,
                    // What the public CA signed, not what the stack's next CSR asks for.
                    subject: describeSubject(subjectSpecOf(cert)),
                    dnsNames: [c.host],
                    uris: [],
                    issuer: `public CA (${issuerOf(cert)})`,
                    key: describeKey(keyOf(cert)),
                    uses: ["server_auth"],
                    validityDays: lifetimeDays,
                    // The next CSR is due a third of its lifetime before it expires, as for our own, and never later than a public CA needs.
                    renewAfterDays: lifetimeDays - publicRenewalWindowDays(lifetimeDays),
                    epoch: c.certificateEpoch,
                    goesTo: [`${secretPath(cluster, c.secret.namespace, c.secret.name)} (tls.crt, tls.key)`],
                },
            ];
        }),
    ];
}

/** Root first, then the other CAs, then per endpoint its server and client certificate, then the front end's. */
export function plannedCertificates(plan: PkiPlan): PlannedCertificate[] {
    const goesTo = caDestinations(plan);
    return [
        ...plan.cas.map((ca) => caRow(ca, goesTo)),
        ...plan.endpoints.flatMap((e) => [leafRow(plan, e, e.server), leafRow(plan, e, e.client)]),
        ...frontEndRows(plan),
    ];
}
