/**
 * The bench's baseline stays a fair one: `npm run bench` compares the stack's construction with a
 * hand-written baseline registering the same resources, and refuses to print the ratio when they
 * differ. The suite runs the same check at a small size, so that a change to what the stack
 * registers or outputs cannot leave the baseline behind unnoticed until the next bench.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { baseline } from "../bench/baseline";
import { sameInputs } from "../bench/parity";

/** The dp endpoint's gateway Secret as the check prints it (200 characters), registered through `provider`. */
const gatewaySecret = (provider: string): string =>
    `kubernetes:core/v1:Secret dp-gateway-dp-svc-0-tls provider=${provider} {"apiVersion":"v1","kind":"Secret","metadata":{"name":"apic-mtls-dp-svc-0","namespace":"istio-system"},"stringData":{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270"`.slice(
        0,
        200,
    );
const isGatewaySecret = (args: pulumi.runtime.MockResourceArgs): boolean => args.name === "dp-gateway-dp-svc-0-tls";

describe("bench: the baseline registers the stack's resources and outputs", function () {
    this.timeout(60_000);

    it("registers the same non-component resources with the same inputs, and computes the same outputs, at 2 services", async () => {
        assert.deepStrictEqual(await sameInputs(2), { same: true, resources: 35, differences: [] });
    });

    it("notices a resource the baseline registers without the stack's provider", async () => {
        assert.deepStrictEqual(
            await sameInputs(2, { alter: (args) => [isGatewaySecret(args) ? { ...args, provider: undefined } : args] }),
            {
                same: false,
                resources: 35,
                differences: [
                    `only in stack: ${gatewaySecret("pulumi:providers:kubernetes::default")}`,
                    `only in baseline: ${gatewaySecret("none")}`,
                ],
            },
        );
    });

    it("notices a resource the baseline registers twice", async () => {
        assert.deepStrictEqual(
            await sameInputs(2, { alter: (args) => (isGatewaySecret(args) ? [args, args] : [args]) }),
            {
                same: false,
                resources: 35,
                differences: [`only in baseline: ${gatewaySecret("pulumi:providers:kubernetes::default")}`],
            },
        );
    });

    it("notices an output the baseline does not keep secret", async () => {
        const program = (plan: Parameters<typeof baseline>[0]) => {
            const outputs = baseline(plan);
            const bundle = (outputs.apicBundles as Record<string, Record<string, pulumi.Output<string>>>)["dp-svc-0"];
            bundle.privateKeyPem = pulumi.unsecret(bundle.privateKeyPem);
            bundle.pkcs12Base64 = pulumi.unsecret(bundle.pkcs12Base64);
            return outputs;
        };
        assert.deepStrictEqual(await sameInputs(2, { program }), {
            same: false,
            resources: 35,
            differences: [
                "secret in the stack only: outputs.apicBundles.dp-svc-0.privateKeyPem",
                "secret in the stack only: outputs.apicBundles.dp-svc-0.pkcs12Base64",
            ],
        });
    });
});
