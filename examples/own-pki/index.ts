import * as k8s from "@pulumi/kubernetes";
import { ApicClientBundle, IntermediateCa, IstioGatewayTls, RootCa } from "apic-istio-pki";

const organization = "Example Bank";
const serverRoot = new RootCa("team-server-root", {
    subject: { commonName: "Team gateway server root CA", organization },
});
const clientRoot = new RootCa("team-client-root", {
    subject: { commonName: "Team APIC client root CA", organization },
});
const serverCa = new IntermediateCa("team-server-ca", {
    rootCa: serverRoot,
    subject: { commonName: "Team gateway server CA", organization },
});
const clientCa = new IntermediateCa("team-client-ca", {
    rootCa: clientRoot,
    subject: { commonName: "Team APIC client CA", organization },
});

const apic = new ApicClientBundle("payments-apic", {
    clientCa,
    identity: "urn:example:apic-client:payments",
    serverTrustBundlePem: serverCa.trustBundlePem, // APIC trusts the server root and its CA only
});
new IstioGatewayTls(
    "payments-gateway",
    {
        serverCa,
        clientTrustBundlePem: clientRoot.certPem, // ca.crt: the client root only
        endpoints: [
            {
                id: "payments",
                host: "payments.team.bank.example",
                clientSubjectAltNames: [apic.identity],
                verifyCertificateSpki: [apic.spkiPin], // only this key gets in
            },
        ],
    },
    // enableSecretMutable: a renewal updates the Secrets in place instead of deleting and re-creating them.
    { providers: { kubernetes: new k8s.Provider("team-cluster", { enableSecretMutable: true }) } },
);

export const apicCertPem = apic.certPem;
export const apicKeyPem = apic.privateKeyPem; // a secret
