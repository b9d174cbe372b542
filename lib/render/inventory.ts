/** One row per certificate, from the plan and the issued PEMs; never a key or a certificate body. */
import * as crypto from "crypto";
import { CertRole, MESH_CA_SECRET, PkiPlan } from "../plan/plan";

export interface InventoryRow {
    role: CertRole;
    /** CA id (root, gateway-server-ca, apic-client-ca, mesh-ca-<cluster>) or "<endpoint>-server|-client". */
    name: string;
    endpoint?: string;
    /** Mesh CAs: the cluster whose istiod signs with it. */
    cluster?: string;
    subject: string;
    dnsNames: string[];
    uris: string[];
    issuer: string;
    serial: string;
    sha256: string;
    notBefore: string;
    notAfter: string;
    keyAlgorithm: string;
    /** Where the certificate is delivered. */
    goesTo: string[];
}

export interface IssuedPems {
    cas: Record<string, string>;
    servers: Record<string, string>;
    clients: Record<string, string>;
}

function describe(pem: string): Omit<InventoryRow, "role" | "name" | "endpoint" | "cluster" | "goesTo"> {
    const cert = new crypto.X509Certificate(pem);
    const sans = (cert.subjectAltName ?? "").split(", ").filter((s) => s !== "");
    const key = cert.publicKey;
    const keyAlgorithm =
        key.asymmetricKeyType === "rsa"
            ? `RSA ${key.asymmetricKeyDetails?.modulusLength}`
            : `ECDSA ${key.asymmetricKeyDetails?.namedCurve}`;
    return {
        subject: cert.subject.replace(/\n/g, ", "),
        dnsNames: sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4)),
        uris: sans.filter((s) => s.startsWith("URI:")).map((s) => s.slice(4)),
        issuer: cert.issuer.replace(/\n/g, ", "),
        serial: cert.serialNumber,
        sha256: cert.fingerprint256,
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: new Date(cert.validTo).toISOString(),
        keyAlgorithm,
    };
}

export function buildInventory(plan: PkiPlan, pems: IssuedPems, gatewayCluster: string): InventoryRow[] {
    const ns = plan.config.gatewayNamespace;
    const everySecret = plan.endpoints.map((e) => `k8s/${gatewayCluster}/${ns}/secret-${e.gatewaySecret.name}`);
    const cacerts = (cluster: string): string =>
        `k8s/${cluster}/${MESH_CA_SECRET.namespace}/secret-${MESH_CA_SECRET.name}`;
    const caGoesTo: Record<string, string[]> = {
        root: [
            ...everySecret.map((s) => `${s} (ca.crt)`),
            ...plan.endpoints.map((e) => `apic/${e.id}/truststore.pem`),
            ...plan.config.clusters.map((c) => `${cacerts(c.name)} (root-cert.pem, cert-chain.pem)`),
        ],
        "gateway-server-ca": [
            ...everySecret.map((s) => `${s} (tls.crt chain)`),
            ...plan.endpoints.map((e) => `apic/${e.id}/truststore.pem`),
        ],
        "apic-client-ca": [
            ...everySecret.map((s) => `${s} (ca.crt)`),
            ...plan.endpoints.map((e) => `apic/${e.id}/ca-chain.pem`),
        ],
    };
    return [
        ...plan.cas.map((ca) => ({
            role: ca.role,
            name: ca.id,
            ...(ca.cluster !== undefined ? { cluster: ca.cluster } : {}),
            ...describe(pems.cas[ca.id]),
            goesTo:
                ca.cluster !== undefined ? [`${cacerts(ca.cluster)} (ca-cert.pem, cert-chain.pem)`] : caGoesTo[ca.id],
        })),
        ...plan.endpoints.flatMap((e) => [
            {
                role: "gateway-server" as const,
                name: `${e.id}-server`,
                endpoint: e.id,
                ...describe(pems.servers[e.id]),
                goesTo: [`k8s/${gatewayCluster}/${ns}/secret-${e.gatewaySecret.name} (tls.crt)`],
            },
            {
                role: "apic-client" as const,
                name: `${e.id}-client`,
                endpoint: e.id,
                ...describe(pems.clients[e.id]),
                goesTo: [`apic/${e.id}/client.crt`],
            },
        ]),
    ];
}
