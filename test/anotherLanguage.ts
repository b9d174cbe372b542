/**
 * Run by componentProvider.test.ts in a node process of its own, as Pulumi's plugin host runs the
 * package for a program in another language: an IntermediateCa constructed by the SDK's
 * ComponentProvider.construct, its rootCa the certificate and key read as JSON `{ certPem, keyPem }`
 * from standard input, the key as plain text. Prints the console warnings of the run as a JSON list,
 * or, if the run left Error.prepareStackTrace other than it found it (source-map-support's), says so.
 *
 * A process of its own, so that what the test starts it with (source-map-support/register, which
 * the plugin host loads, or `--enable-source-maps`) rewrites no other test's stack traces.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { IntermediateCa as PackageIntermediateCa, IntermediateCaArgs } from "../lib/index";
import { runWithStandIn } from "../lib/engine/standIn";

const ROOT = path.resolve(__dirname, "../..");

/** Thrown once the component's constructor has run: what construct() does next is of no use here. */
class Constructed extends Error {}

/**
 * The package's IntermediateCa, stopping construct() once constructed: next it has the SDK analyse
 * the package's TypeScript for its schema, which takes many seconds and tells nothing here.
 */
class IntermediateCa extends PackageIntermediateCa {
    constructor(name: string, args: IntermediateCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super(name, args, opts);
        throw new Constructed();
    }
}

async function main(): Promise<void> {
    const { name } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { name: string };
    const { certPem, keyPem } = JSON.parse(fs.readFileSync(0, "utf8")) as { certPem: string; keyPem: string };
    const provider = new ComponentProvider({ name, dirname: ROOT, components: [IntermediateCa] });
    const prepareStackTrace = Error.prepareStackTrace;
    const warnings: string[] = [];
    console.warn = (message: unknown) => warnings.push(String(message));
    await runWithStandIn(() =>
        provider
            .construct(
                "team-ca",
                `${name}:index:IntermediateCa`,
                {
                    rootCa: { certPem, privateKeyPem: keyPem },
                    subject: { commonName: "Team CA" },
                    keyAlgorithm: "ECDSA",
                },
                {},
            )
            .then(
                () => Promise.reject(new Error("construct() went on past the component's constructor")),
                (error: unknown) => (error instanceof Constructed ? undefined : Promise.reject(error)),
            ),
    );
    if (Error.prepareStackTrace !== prepareStackTrace) throw new Error("Error.prepareStackTrace was left changed");
    process.stdout.write(JSON.stringify(warnings));
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
});
