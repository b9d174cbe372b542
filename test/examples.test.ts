import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "tls";
import { ownPki } from "../examples/own-pki";
import { runWithStandIn } from "../lib/engine/standIn";
import { IntermediateCa } from "../lib/components/intermediateCa";
import { RootCa } from "../lib/components/rootCa";
import { sharedState } from "./helpers";

describe("Components used alone (examples/own-pki)", function () {
    this.timeout(60_000);

    it("compose into a working PKI: the APIC cert verifies against the gateway's ca.crt", async () => {
        const { engine, outputs, returned } = await runWithStandIn(ownPki, { state: sharedState });
        assert.strictEqual(await pulumi.isSecret(returned.apicKeyPem), true);
        assert.strictEqual(outputs.serverCaIsSecret, true);
        const secret = engine.byType("kubernetes:core/v1:Secret")[0];
        const caCrt = (secret.inputs.stringData as Record<string, string>)["ca.crt"];
        const context = tls.createSecureContext({ ca: caCrt });
        assert.ok(context, "ca.crt parses");
        const gateway = engine.byType("kubernetes:networking.istio.io/v1:Gateway")[0];
        const servers = (gateway.inputs.spec as { servers: { tls: { subjectAltNames: string[] } }[] }).servers;
        assert.deepStrictEqual(servers[0].tls.subjectAltNames, ["urn:example:apic-client:payments"]);
        assert.strictEqual(secret.providerName, "team-cluster");
    });

    it("refuses an IntermediateCa without a signer, naming the three kinds", async () => {
        await assert.rejects(
            runWithStandIn(() => new IntermediateCa("x", { subject: { commonName: "x" } }), { state: sharedState }),
            /IntermediateCa needs exactly one of rootCa \(a RootCa of this program\), issuer \(an existing CA as PEM\) and offlineRoot \(a CA signed by the offline ceremony\); got none/,
        );
    });

    it("refuses a RootCa maxPathLength of 0, which @pulumi/tls would write as no limit", async () => {
        await assert.rejects(
            runWithStandIn(() => new RootCa("r", { subject: { commonName: "r" }, maxPathLength: 0 }), {
                state: sharedState,
            }),
            /RootCa maxPathLength must be >= 1; got 0/,
        );
    });

    it("signs an intermediate with an existing CA given as PEM and chains it to that root", async () => {
        const { outputs } = await runWithStandIn(
            () => {
                const root = new RootCa("pem-root", { subject: { commonName: "PEM root" }, keyAlgorithm: "ECDSA" });
                const ca = new IntermediateCa("pem-issued", {
                    issuer: { certPem: root.certPem, privateKeyPem: root.privateKeyPem, rootCertPem: root.certPem },
                    subject: { commonName: "issued from PEM" },
                    keyAlgorithm: "ECDSA",
                });
                return { chain: ca.chainPem, bundle: ca.trustBundlePem, root: root.certPem };
            },
            { state: sharedState },
        );
        assert.strictEqual((outputs.chain.match(/BEGIN CERTIFICATE/g) ?? []).length, 1);
        assert.ok(outputs.bundle.endsWith(outputs.root));
    });
});
