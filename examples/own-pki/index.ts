/**
 * A developer composing their own PKI from the components, without the stack config:
 * one root, two issuing CAs, one mutual-TLS host on the gateway and APIC's bundle for it.
 * Use it as a Pulumi program (`main` pointing at its compiled index.js) or import the function.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApicClientBundle, IntermediateCa, IstioGatewayTls, RootCa } from "../../lib";

export function ownPki() {
    const organization = "Example Bank";
    const root = new RootCa("team-root", { subject: { commonName: "Team root CA", organization } });
    const serverCa = new IntermediateCa("team-server-ca", {
        rootCa: root,
        subject: { commonName: "Team gateway server CA", organization },
    });
    const clientCa = new IntermediateCa("team-client-ca", {
        rootCa: root,
        subject: { commonName: "Team APIC client CA", organization },
    });

    const identity = "urn:example:apic-client:payments";
    const apic = new ApicClientBundle("payments-apic", {
        clientCa,
        identity,
        serverTrustBundlePem: serverCa.trustBundlePem,
        keyAlgorithm: "ECDSA",
    });
    const provider = new k8s.Provider("team-cluster", {});
    const gateway = new IstioGatewayTls(
        "payments-gateway",
        {
            serverCa,
            clientTrustBundlePem: clientCa.trustBundlePem,
            endpoints: [{ id: "payments", host: "payments.team.bank.example", clientSubjectAltNames: [apic.identity] }],
            keyAlgorithm: "ECDSA",
        },
        { providers: { kubernetes: provider } },
    );
    return {
        gatewayName: gateway.gatewayName,
        apicCertPem: apic.certPem,
        apicKeyPem: apic.privateKeyPem, // a secret
        apicTruststorePem: apic.truststorePem,
        rootCertPem: root.certPem,
        serverCaIsSecret: pulumi.isSecret(serverCa.privateKeyPem),
    };
}
