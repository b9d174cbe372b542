/**
 * What IBM API Connect uploads for one endpoint, as payloads of the `apic` toolkit CLI
 * (shared/reference/apic.md section 3): a keystore (certificate, chain and key in one PEM
 * string), a truststore (the CAs of the gateway's server certificate) and a TLS client profile
 * that binds them, TLS 1.2 and 1.3, SNI on, server verification on.
 */

/** APIC accepts at most 10 intermediate certificates in a keystore. */
export const APIC_MAX_INTERMEDIATES = 10;

/** Placeholders the operator fills in (e.g. with envsubst) before `apic tls-client-profiles:create`. */
export const MANAGEMENT_URL_PLACEHOLDER = "${APIC_MGMT_URL}/api/orgs/${APIC_PORG}";

export interface ApicPayloads {
    keystore: { name: string; title: string; summary: string; keystore: string };
    truststore: { name: string; title: string; summary: string; truststore: string };
    tlsClientProfile: {
        name: string;
        title: string;
        version: string;
        summary: string;
        protocols: string[];
        keystore_url: string;
        truststore_url: string;
        insecure_server_connections: boolean;
        server_name_indication: boolean;
    };
}

const countCerts = (pem: string): number => (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

export function apicPayloads(args: {
    environment: string;
    endpointId: string;
    host: string;
    certPem: string;
    chainPem: string;
    keyPem: string;
    truststorePem: string;
}): ApicPayloads {
    if (countCerts(args.chainPem) > APIC_MAX_INTERMEDIATES) {
        throw new Error(
            `APIC keystores take at most ${APIC_MAX_INTERMEDIATES} intermediate certificates; ${args.endpointId} has ${countCerts(args.chainPem)}`,
        );
    }
    const base = `${args.environment}-${args.endpointId}`;
    const names = { keystore: `${base}-keystore`, truststore: `${base}-truststore`, profile: `${base}-mtls` };
    return {
        keystore: {
            name: names.keystore,
            title: `${args.environment} ${args.endpointId} mTLS client`,
            summary: `APIC client identity for ${args.host}`,
            keystore: `${args.certPem}${args.chainPem}${args.keyPem}`,
        },
        truststore: {
            name: names.truststore,
            title: `${args.environment} ${args.endpointId} gateway CAs`,
            summary: `CAs of the Istio gateway serving ${args.host}`,
            truststore: args.truststorePem,
        },
        tlsClientProfile: {
            name: names.profile,
            title: `${args.environment} ${args.endpointId} mTLS`,
            version: "1.0.0",
            summary: `Mutual TLS to ${args.host}`,
            protocols: ["tls_v1.2", "tls_v1.3"],
            keystore_url: `${MANAGEMENT_URL_PLACEHOLDER}/keystores/${names.keystore}`,
            truststore_url: `${MANAGEMENT_URL_PLACEHOLDER}/truststores/${names.truststore}`,
            insecure_server_connections: false,
            server_name_indication: true,
        },
    };
}
