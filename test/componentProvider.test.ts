/**
 * Pulumi's component-provider support (PulumiPlugin.yaml, `pulumi package add`), without the
 * Pulumi CLI: the plugin host's own steps in-process. It finds the components the package
 * exports, infers the schema other languages' SDKs are generated from (from the TypeScript
 * types and their TSDoc), and constructs each component from the inputs those SDKs send.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as ts from "typescript";
import { ComponentProvider, getPulumiComponents } from "@pulumi/pulumi/provider/experimental";
import * as YAML from "yaml";
import { runWithStandIn } from "../lib/engine/standIn";
import * as components from "../lib/index";
import { describedValue } from "../lib/config/values";
import { apicClientCert } from "../lib/plan/plan";
import { emptyCrlOf, mintLeaf, mintRoot, mintSubCa, readmeBlock, refusalText, ROOT } from "./helpers";

const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    name: string;
    version: string;
};
const COMPONENTS = [
    "ApicClientBundle",
    "ApicEgress",
    "ApicServerCertificate",
    "CustomerFacingTls",
    "IntermediateCa",
    "IstioGatewayTls",
    "MeshPluginCa",
    "RootCa",
    "UiApicClient",
];

interface Property {
    type?: string;
    $ref?: string;
    plain?: boolean;
    optional?: boolean;
    description?: string;
    items?: Property;
    additionalProperties?: Property;
}
interface Resource {
    isComponent: boolean;
    description: string;
    inputProperties: Record<string, Property>;
    requiredInputs: string[];
    properties: Record<string, Property>;
    required: string[];
}
interface Schema {
    name: string;
    version: string;
    resources: Record<string, Resource>;
    types: Record<
        string,
        { type: string; properties?: Record<string, Property>; required?: string[]; enum?: object[] }
    >;
}

/** How Pulumi's program and plugin hosts print an uncaught error (SDK-internal: no declaration). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultErrorMessage } = require("@pulumi/pulumi/cmd/run/error") as {
    defaultErrorMessage(error: Error): string;
};

/**
 * What those hosts print of an error a component raised: a ResourceError's message alone when it
 * asks to (hideStack), else util.inspect of it, stack and resource object included.
 */
const printed = (error: Error): string =>
    pulumi.ResourceError.isInstance(error) && error.hideStack === true ? error.message : defaultErrorMessage(error);

/** What the plugin host finds (cmd/run-plugin): the components exported by the package's `main`. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pluginComponents = () => getPulumiComponents(require(ROOT));

const token = (component: string): string => `${PACKAGE.name}:index:${component}`;
/** The subjects of the certificates of a PEM text, in order. */
const subjects = (pem: string): string[] =>
    (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? []).map(
        (block) => new crypto.X509Certificate(block).subject,
    );
const ref = (type: string): string => `#/types/${token(type)}`;
const camelCase = (snake: string): string => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The problems of a YAML value for a property: unknown members of its object types, missing required ones. */
function yamlProblems(schema: Schema, property: Property, value: unknown, where: string): string[] {
    if (property.items !== undefined && Array.isArray(value))
        return value.flatMap((item, i) => yamlProblems(schema, property.items as Property, item, `${where}[${i}]`));
    const type = property.$ref?.startsWith("#/types/")
        ? schema.types[property.$ref.slice("#/types/".length)]
        : undefined;
    if (type?.properties === undefined || typeof value !== "object" || value === null) return [];
    return objectProblems(schema, type.properties, type.required ?? [], value as Record<string, unknown>, where);
}

function objectProblems(
    schema: Schema,
    properties: Record<string, Property>,
    required: string[],
    value: Record<string, unknown>,
    where: string,
): string[] {
    return [
        ...required.filter((name) => !(name in value)).map((name) => `${where}: ${name} missing`),
        ...Object.entries(value).flatMap(([name, member]) =>
            properties[name] === undefined
                ? [`${where}: no property ${name}`]
                : yamlProblems(schema, properties[name], member, `${where}.${name}`),
        ),
    ];
}

/** The interfaces of the components' sources: the interfaces each extends, and the `@default` tag of each property. */
function componentInterfaces(): Map<string, { bases: string[]; defaults: Map<string, string> }> {
    const interfaces = new Map<string, { bases: string[]; defaults: Map<string, string> }>();
    const folder = path.join(ROOT, "lib/components");
    for (const file of fs.readdirSync(folder).filter((f) => f.endsWith(".ts"))) {
        const text = fs.readFileSync(path.join(folder, file), "utf8");
        const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
        source.forEachChild((node) => {
            if (!ts.isInterfaceDeclaration(node)) return;
            const defaults = new Map<string, string>();
            for (const member of node.members) {
                const tag = ts.getJSDocTags(member).find((t) => t.tagName.text === "default");
                if (member.name !== undefined && tag !== undefined)
                    defaults.set(member.name.getText(source), ts.getTextOfJSDocComment(tag.comment) ?? "");
            }
            const bases = (node.heritageClauses ?? []).flatMap((c) => c.types.map((t) => t.expression.getText(source)));
            interfaces.set(node.name.text, { bases, defaults });
        });
    }
    return interfaces;
}

describe("Pulumi component provider (PulumiPlugin.yaml): schema and construct without the CLI", function () {
    this.timeout(60_000);
    // As the plugin host starts it: named after the package, reading the TypeScript beside it.
    const provider = new ComponentProvider({ name: PACKAGE.name, dirname: ROOT, components: pluginComponents() });
    /** construct() of one component as another language calls it: "accepted", or the refusal's message. */
    const refusal = (component: string, inputs: pulumi.Inputs) =>
        runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), { state: new Map() }).then(
            () => "accepted",
            (error: Error) => error.message,
        );
    /**
     * Many refusals raised in the call itself, in one run of the stand-in: the message of each, or
     * "accepted", and the resources registered meanwhile beside the components. Each component is
     * named `bad-<i>` unless a name is given.
     */
    const refusalsBeforeChildren = (calls: [string, pulumi.Inputs, string?][]) =>
        runWithStandIn(async () => {
            const messages: string[] = [];
            for (const [i, [component, inputs, name = `bad-${i}`]] of calls.entries()) {
                try {
                    await provider.construct(name, token(component), inputs, {});
                    messages.push("accepted");
                } catch (error) {
                    messages.push((error as Error).message);
                }
            }
            return messages;
        }).then(({ outputs, engine }) => ({
            messages: outputs,
            children: engine.resources.map((r) => r.type).filter((type) => !type.startsWith(`${PACKAGE.name}:`)),
        }));
    /** A root and an issuing CA under it, the CA also as an issuer argument (`issuing`). */
    const bankIssuer = async () => {
        const root = await mintRoot("Bank root");
        const ca = await mintSubCa(root, "Bank issuing CA");
        return { root, ca, issuing: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem } };
    };
    /**
     * bankIssuer, and what the refusal tests give as outputs that resolve refused: a root of no
     * trust bundle (`other`), a CRL it signed, valid for an hour either side of now, a leaf under
     * the issuing CA (not a CA, so no trust anchor), and the root's CRL followed by the issuing
     * CA's key as base64 without its BEGIN and END lines.
     */
    const refusedInputs = async () => {
        const issuer = await bankIssuer();
        const other = await mintRoot("Other root");
        const notCa = await mintLeaf(issuer.ca, {
            commonName: "Not a CA",
            dnsNames: ["x.bank.example"],
            allowedUses: ["server_auth"],
        });
        const hour = 3_600_000;
        const otherRootCrl = emptyCrlOf(other, Date.now() - hour, Date.now() + hour);
        const bareKey = `${issuer.ca.keyPem.trim().split("\n").slice(1, -1).join("\n")}\n`;
        const rootCrlWithBareKey = emptyCrlOf(issuer.root, Date.now() - hour, Date.now() + hour) + bareKey;
        return { ...issuer, other, notCaPem: notCa.cert, otherRootCrl, rootCrlWithBareKey };
    };
    /** The subjects of the chainPem and trustBundlePem of an IntermediateCa "team-ca" constructed from `inputs`. */
    const intermediateChains = (inputs: pulumi.Inputs) =>
        runWithStandIn(async () => {
            const { state } = await provider.construct("team-ca", token("IntermediateCa"), inputs, {});
            return [state.chainPem, state.trustBundlePem] as string[];
        }).then(({ outputs }) => outputs.map(subjects));
    /** UiApicClient's inputs for a web service under `issuer` (bankIssuer), with `extra` on top. */
    const uiClient = (
        { root, issuing }: Pick<Awaited<ReturnType<typeof bankIssuer>>, "root" | "issuing">,
        extra: pulumi.Inputs,
    ): [string, pulumi.Inputs] => [
        "UiApicClient",
        {
            clientCa: issuing,
            service: "web",
            identity: "urn:bank:ui-client:web",
            namespace: "ui",
            apicHosts: ["apic.bank.example"],
            apicTrustPem: root.certPem,
            keyAlgorithm: "ECDSA",
            ...extra,
        },
    ];
    /**
     * Each call in a run of its own (a refusal raised in an apply, of an input given as an output,
     * fails the whole run): its refusal, or "accepted", without the SDK's prefix naming the property
     * it was serializing, and the children registered (`<type>::<name>`) beside the component.
     */
    const refusalsOnceResolved = async (calls: [string, pulumi.Inputs][]) => {
        const outcomes = [];
        for (const [component, inputs] of calls) {
            const state = new Map();
            const message = await runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), {
                state,
            }).then(
                () => "accepted",
                (error: Error) => refusalText(error),
            );
            const children = [...state.keys()].filter((key: string) => !key.startsWith(`${PACKAGE.name}:`));
            outcomes.push({ message, children });
        }
        return outcomes;
    };
    /** The messages of refusalsBeforeChildren alone. */
    const refusals = (calls: [string, pulumi.Inputs][]) =>
        refusalsBeforeChildren(calls).then(({ messages }) => messages);
    let schema: Schema;
    /** A root of the gateway's server certificates, none of a test's client CA's: ApicClientBundle's serverTrustBundlePem. */
    let gatewayServerRootPem: string;
    /** A schema's property names as a message lists them: "a, b and c". */
    const takes = (properties: Record<string, Property> | undefined) => {
        const names = Object.keys(properties ?? {}).sort();
        return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
    };
    before(async () => {
        schema = JSON.parse(await provider.getSchema()) as Schema;
        gatewayServerRootPem = (await mintRoot("Gateway server root")).certPem;
    });

    it("declares the nodejs runtime, and the plugin host finds exactly the package's nine components", () => {
        assert.strictEqual(
            fs.readFileSync(path.join(ROOT, "PulumiPlugin.yaml"), "utf8").match(/^runtime: (.*)$/m)?.[1],
            "nodejs",
        );
        assert.deepStrictEqual(
            pluginComponents()
                .map((c) => c.name)
                .sort(),
            COMPONENTS,
        );
    });

    it("infers a schema for all nine components, under the package's name and version, each with its TSDoc", () => {
        assert.strictEqual(schema.name, "apic-istio-pki");
        assert.strictEqual(schema.version, PACKAGE.version);
        assert.deepStrictEqual(Object.keys(schema.resources).sort(), COMPONENTS.map(token));
        for (const resource of Object.values(schema.resources)) assert.strictEqual(resource.isComponent, true);
        assert.strictEqual(
            schema.resources[token("RootCa")].description,
            "A self-signed root CA: key and certificate (keyCertSign, cRLSign, subject and authority key ids).",
        );
        assert.match(schema.resources[token("IstioGatewayTls")].description, /^Mutual TLS on an Istio ingress gateway/);
    });

    it("lists every input and output of each component, with the required ones, and describes each from its TSDoc", () => {
        const expected: Record<string, { inputs: string[]; required: string[]; outputs: string[] }> = {
            RootCa: {
                inputs: ["earlyRenewalDays", "keyAlgorithm", "maxPathLength", "subject", "validityDays"],
                required: ["subject"],
                outputs: ["certPem", "privateKeyPem"],
            },
            IntermediateCa: {
                inputs: [
                    "earlyRenewalDays",
                    "issuer",
                    "keyAlgorithm",
                    "offlineRoot",
                    "rootCa",
                    "subject",
                    "validityDays",
                ],
                required: ["subject"],
                outputs: ["certPem", "chainPem", "csrPem", "privateKeyPem", "rootCertPem", "trustBundlePem"],
            },
            IstioGatewayTls: {
                inputs: [
                    "clientCrlPem",
                    "clientTrustBundlePem",
                    "earlyRenewalDays",
                    "endpoints",
                    "gatewayName",
                    "keyAlgorithm",
                    "namespace",
                    "organization",
                    "selector",
                    "serverCa",
                    "validityDays",
                ],
                required: ["clientTrustBundlePem", "endpoints", "serverCa"],
                outputs: ["gatewayName", "serverCertPems", "serverPrivateKeyPems"],
            },
            ApicClientBundle: {
                inputs: [
                    "clientCa",
                    "earlyRenewalDays",
                    "endpointId",
                    "epoch",
                    "identity",
                    "keyAlgorithm",
                    "organization",
                    "pkcs12Iterations",
                    "pkcs12Profile",
                    "serverTrustBundlePem",
                    "validityDays",
                ],
                required: ["clientCa", "identity", "serverTrustBundlePem"],
                outputs: [
                    "caChainPem",
                    "certPem",
                    "identity",
                    "pkcs12Base64",
                    "pkcs12Password",
                    "privateKeyPem",
                    "spkiPin",
                    "truststorePem",
                ],
            },
            MeshPluginCa: {
                inputs: [
                    "cluster",
                    "crlPem",
                    "earlyRenewalDays",
                    "environment",
                    "epoch",
                    "generation",
                    "installed",
                    "issuer",
                    "keyAlgorithm",
                    "offlineRoot",
                    "organization",
                    "rootCa",
                    "strictMtls",
                    "trustedRootsPem",
                    "validityDays",
                ],
                required: ["cluster"],
                outputs: ["certChainPem", "certPem", "csrPem", "privateKeyPem", "rootCertPem"],
            },
            UiApicClient: {
                inputs: [
                    "apicCrlPem",
                    "apicHosts",
                    "apicTrustPem",
                    "clientCa",
                    "earlyRenewalDays",
                    "epoch",
                    "identity",
                    "keyAlgorithm",
                    "namespace",
                    "organization",
                    "secretName",
                    "service",
                    "validityDays",
                    "workloadLabels",
                ],
                required: ["apicHosts", "apicTrustPem", "clientCa", "identity", "namespace", "service"],
                outputs: ["certPem", "identity", "privateKeyPem", "secretName", "spkiPin"],
            },
            ApicEgress: { inputs: ["hosts", "namespace"], required: ["hosts", "namespace"], outputs: [] },
            ApicServerCertificate: {
                inputs: [
                    "earlyRenewalDays",
                    "epoch",
                    "host",
                    "keyAlgorithm",
                    "organization",
                    "serverCa",
                    "validityDays",
                ],
                required: ["host", "serverCa"],
                outputs: ["caChainPem", "certPem", "privateKeyPem"],
            },
            CustomerFacingTls: {
                inputs: [
                    "gatewayName",
                    "hosts",
                    "keyAlgorithm",
                    "namespace",
                    "organization",
                    "publicRootsPem",
                    "selector",
                ],
                required: ["hosts"],
                outputs: ["csrPems", "keyPins", "servedCertPems"],
            },
        };
        assert.deepStrictEqual(Object.keys(expected).sort(), COMPONENTS);
        for (const [component, { inputs, required, outputs }] of Object.entries(expected)) {
            const resource = schema.resources[token(component)];
            assert.deepStrictEqual(Object.keys(resource.inputProperties).sort(), inputs, component);
            assert.deepStrictEqual(resource.requiredInputs, required, component);
            assert.deepStrictEqual(Object.keys(resource.properties).sort(), outputs, component);
            assert.deepStrictEqual(resource.required ?? [], outputs, component);
            for (const [name, property] of [
                ...Object.entries(resource.inputProperties),
                ...Object.entries(resource.properties),
            ])
                assert.ok((property.description ?? "").length > 10, `${component}.${name} has a description`);
        }
        const apic = schema.resources[token("ApicClientBundle")];
        assert.strictEqual(
            apic.properties.spkiPin.description,
            "The pin of the client key, for the gateway's `verifyCertificateSpki` (base64 SHA-256 of its SubjectPublicKeyInfo).",
        );
        assert.strictEqual(
            schema.resources[token("RootCa")].inputProperties.validityDays.description,
            "Validity in days.\nDefault: 3650.",
        );
        // Whole: a "@scope/package" in the text would be read as a doc tag and cut the description there.
        assert.strictEqual(
            schema.resources[token("RootCa")].inputProperties.maxPathLength.description,
            "How many CA certificates may follow the root, as OpenSSL and Go (istiod) hold it: 1 allows\n" +
                "intermediates but no CA below them. Envoy's BoringSSL ignores a trust anchor's pathlen, so\n" +
                "Envoy accepts a sub-CA below an intermediate all the same.\n" +
                'A whole number >= 1: the TLS provider writes 0 as "no limit".\nDefault: 1.',
        );
    });

    it("reads key algorithm and PKCS#12 profile as enums, and issuers as objects of PEM inputs, not component references", () => {
        const intermediate = schema.resources[token("IntermediateCa")].inputProperties;
        assert.deepStrictEqual(intermediate.keyAlgorithm, {
            $ref: ref("KeyAlgorithm"),
            optional: true,
            plain: true,
            description: 'Key algorithm: RSA (4096-bit) or ECDSA (P-384).\nDefault: "RSA".',
        });
        assert.deepStrictEqual(schema.types[token("KeyAlgorithm")], {
            type: "string",
            enum: [
                { name: "RSA", value: "RSA", description: "RSA: 2048 bits for leaves, 4096 for CAs." },
                {
                    name: "ECDSA",
                    value: "ECDSA",
                    description: "ECDSA: P-256 for leaves, P-384 for CAs (never the provider's own default, P-224).",
                },
            ],
        });
        assert.deepStrictEqual(
            (schema.types[token("Pkcs12Profile")].enum as { value: string }[]).map((member) => member.value),
            ["modern", "legacy"],
        );
        assert.strictEqual(
            schema.resources[token("ApicClientBundle")].inputProperties.pkcs12Profile.$ref,
            ref("Pkcs12Profile"),
        );

        assert.strictEqual(intermediate.rootCa.$ref, ref("RootCaPem"));
        assert.strictEqual(intermediate.issuer.$ref, ref("CaSigner"));
        assert.strictEqual(intermediate.offlineRoot.$ref, ref("OfflineSigner"));
        const pems = (type: string) => schema.types[token(type)].properties ?? {};
        assert.deepStrictEqual(pems("RootCaPem"), {
            certPem: { type: "string", description: "The self-signed root certificate." },
            privateKeyPem: { type: "string", description: "The root's private key (keep it a secret)." },
        });
        assert.deepStrictEqual(Object.keys(pems("IssuingCa")).sort(), ["certPem", "chainPem", "privateKeyPem"]);
        // What the README names for issuer and offlineRoot.
        assert.deepStrictEqual(Object.keys(pems("CaSigner")).sort(), [
            "certPem",
            "chainPem",
            "privateKeyPem",
            "rootCertPem",
        ]);
        assert.deepStrictEqual(Object.keys(pems("OfflineSigner")).sort(), ["rootCertPem", "signedCertPem"]);
        // True in every language: only TypeScript can pass a RootCa object.
        assert.deepStrictEqual(
            ["IntermediateCa", "MeshPluginCa"].map(
                (c) => schema.resources[token(c)].inputProperties.rootCa.description,
            ),
            Array(2).fill(
                "The root that signs this CA: its certificate and key (in TypeScript also a RootCa of the program).\n" +
                    "Default: none (give exactly one of rootCa, issuer and offlineRoot).",
            ),
        );
        assert.strictEqual(schema.resources[token("IstioGatewayTls")].inputProperties.serverCa.$ref, ref("IssuingCa"));
        assert.strictEqual(schema.resources[token("ApicClientBundle")].inputProperties.clientCa.$ref, ref("IssuingCa"));
        assert.ok(
            !JSON.stringify(schema).includes("schema.json#/resources"),
            "no reference to a resource of any package",
        );
    });

    it("takes as plain values what shapes the resources, and as inputs the PEMs and pins that come from other resources", () => {
        const gateway = schema.resources[token("IstioGatewayTls")].inputProperties;
        assert.deepStrictEqual(gateway.endpoints.items, { $ref: ref("GatewayEndpoint"), plain: true });
        assert.strictEqual(gateway.endpoints.plain, true);
        assert.strictEqual(gateway.clientTrustBundlePem.plain, undefined);
        const endpoint = schema.types[token("GatewayEndpoint")];
        assert.deepStrictEqual(endpoint.required, ["clientSubjectAltNames", "host", "id"]);
        assert.strictEqual(endpoint.properties?.id.plain, true);
        assert.deepStrictEqual(endpoint.properties?.verifyCertificateSpki.items, { type: "string" });
        assert.deepStrictEqual(endpoint.properties?.clientSubjectAltNames.items, { type: "string" });
        // Either list may be one output (construct() checks it once resolved): a typed SDK must let
        // it be passed, as Input<Sequence<Input<str>>>, not only a list of outputs.
        assert.strictEqual(endpoint.properties?.verifyCertificateSpki.plain, undefined);
        assert.strictEqual(endpoint.properties?.clientSubjectAltNames.plain, undefined);
        assert.strictEqual(schema.resources[token("ApicClientBundle")].inputProperties.identity.plain, true);
        assert.strictEqual(
            schema.resources[token("ApicClientBundle")].inputProperties.serverTrustBundlePem.plain,
            undefined,
        );
        assert.deepStrictEqual(schema.types[token("CertificateSubject")].required, ["commonName"]);
        // A customer-facing host's certificate arrives later, from outside (a file, a secret store).
        const host = schema.types[token("CustomerFacingHost")];
        assert.deepStrictEqual(host.required, ["host"]);
        assert.strictEqual(host.properties?.certificatePem.plain, undefined);
        assert.strictEqual(host.properties?.epoch.plain, true);
        assert.strictEqual(schema.resources[token("UiApicClient")].inputProperties.apicTrustPem.plain, undefined);
        assert.deepStrictEqual(schema.resources[token("UiApicClient")].inputProperties.apicHosts.items, {
            type: "string",
            plain: true,
        });
    });

    it("matches the README's YAML program: its resources, properties and the outputs it reads are the schema's", () => {
        const program = YAML.parse(readmeBlock("### Python, Go, C#, Java and YAML", "yaml")) as {
            resources: Record<string, { type: string; properties?: Record<string, unknown> }>;
        };
        const ours = Object.entries(program.resources).filter(([, r]) => r.type.startsWith(`${PACKAGE.name}:`));
        assert.deepStrictEqual(ours.map(([, r]) => r.type).sort(), [
            token("ApicClientBundle"),
            token("IntermediateCa"),
            token("IntermediateCa"),
            token("IstioGatewayTls"),
            token("RootCa"),
            token("RootCa"),
        ]);
        const problems = ours.flatMap(([name, r]) => {
            const resource = schema.resources[r.type];
            return objectProblems(schema, resource.inputProperties, resource.requiredInputs, r.properties ?? {}, name);
        });
        const typeOf = Object.fromEntries(ours.map(([name, r]) => [name, r.type]));
        const text = readmeBlock("### Python, Go, C#, Java and YAML", "yaml");
        for (const [, name, output] of text.matchAll(/\$\{(\w+)\.(\w+)\}/g))
            if (schema.resources[typeOf[name]]?.properties[output] === undefined)
                problems.push(`\${${name}.${output}}`);
        assert.deepStrictEqual(problems, []);
    });

    it("marks no input or output secret (the SDK's inference marks none), so the README's programs pass each issuer key as a component's output, a secret at run time", () => {
        // As the README says: a generated SDK shows no key as a secret; the run keeps them secret.
        const secretMarks: string[] = [];
        const walk = (value: unknown, where: string): void => {
            if (typeof value !== "object" || value === null) return;
            for (const [name, member] of Object.entries(value)) {
                if (name === "secret") secretMarks.push(where);
                walk(member, `${where}.${name}`);
            }
        };
        walk(schema, "schema");
        assert.deepStrictEqual(secretMarks, []);

        // Each key passed: another component's privateKeyPem output (secret: the construct test
        // above checks it on the wire), or wrapped as a secret where the program reads it itself.
        const python = readmeBlock("### Python, Go, C#, Java and YAML", "python");
        const pythonComponents = new Set([...python.matchAll(/^(\w+) = pki\.\w+\(/gm)].map(([, name]) => name));
        const pythonKeys = [...python.matchAll(/private_key_pem=([^,)\n]*)/g)].map(([, value]) => value);
        assert.strictEqual(pythonKeys.length, 4);
        assert.deepStrictEqual(
            pythonKeys.filter(
                (value) =>
                    !value.startsWith("pulumi.Output.secret(") &&
                    !pythonComponents.has(value.match(/^(\w+)\.private_key_pem$/)?.[1] ?? ""),
            ),
            [],
        );
        const yaml = YAML.parse(readmeBlock("### Python, Go, C#, Java and YAML", "yaml")) as {
            resources: Record<string, { type: string; properties?: Record<string, unknown> }>;
        };
        const yamlComponents = new Set(
            Object.entries(yaml.resources)
                .filter(([, r]) => r.type.startsWith(`${PACKAGE.name}:`))
                .map(([name]) => name),
        );
        const yamlKeys: unknown[] = [];
        const keysIn = (value: unknown): void => {
            if (typeof value !== "object" || value === null) return;
            for (const [name, member] of Object.entries(value)) {
                if (name === "privateKeyPem") yamlKeys.push(member);
                else keysIn(member);
            }
        };
        for (const resource of Object.values(yaml.resources)) keysIn(resource.properties);
        assert.strictEqual(yamlKeys.length, 4);
        assert.deepStrictEqual(
            yamlKeys.filter(
                (value) =>
                    !(typeof value === "object" && value !== null && "fn::secret" in value) &&
                    !yamlComponents.has(String(value).match(/^\$\{(\w+)\.privateKeyPem\}$/)?.[1] ?? ""),
            ),
            [],
        );
    });

    it("matches the README's Python program: its classes, keyword arguments and outputs are the SDK's names for the schema", () => {
        const program = readmeBlock("### Python, Go, C#, Java and YAML", "python");
        const resources = Object.fromEntries(COMPONENTS.map((c) => [c, schema.resources[token(c)].inputProperties]));
        const types = Object.fromEntries(
            Object.entries(schema.types)
                .filter(([, t]) => t.properties !== undefined)
                .map(([name, t]) => [`${name.split(":")[2]}Args`, t.properties ?? {}]),
        );
        // Each keyword argument belongs to the innermost call; `opts` is every resource's options.
        const problems: string[] = [];
        const calls: (string | undefined)[] = [];
        const variables: Record<string, string> = {};
        for (const [text, variable, call, keyword, object, member] of program.matchAll(
            /(?:(\w+) = )?pki\.(\w+)\(|(\w+)=(?!=)|(\w+)\.(\w+)|[()]/g,
        )) {
            if (call !== undefined) {
                calls.push(call);
                if (resources[call] === undefined && types[call] === undefined) problems.push(`pki.${call}`);
                if (variable !== undefined) variables[variable] = call;
            } else if (text === "(") calls.push(undefined);
            else if (text === ")") calls.pop();
            else if (keyword !== undefined) {
                const callee = calls[calls.length - 1];
                const accepted = callee === undefined ? undefined : (resources[callee] ?? types[callee]);
                if (accepted !== undefined && keyword !== "opts" && accepted[camelCase(keyword)] === undefined)
                    problems.push(`${callee}(${keyword}=)`);
            } else if (object !== undefined && variables[object] !== undefined) {
                if (schema.resources[token(variables[object])].properties[camelCase(member)] === undefined)
                    problems.push(`${object}.${member}`);
            }
        }
        assert.deepStrictEqual(problems, []);
        assert.deepStrictEqual(Object.values(variables).sort(), [
            "ApicClientBundle",
            "IntermediateCa",
            "IntermediateCa",
            "RootCa",
            "RootCa",
        ]);
    });

    it("constructs each component from the inputs another language sends, under the stand-in, with its private keys secret on the wire", async () => {
        const construct = async (component: string, name: string, inputs: pulumi.Inputs) => {
            const { urn, state } = await provider.construct(name, token(component), inputs, {});
            const [wire] = await pulumi.runtime.serializeResourceProperties(`construct(${name})`, state);
            return { urn, state, wire: wire as Record<string, unknown> };
        };
        const { outputs, engine } = await runWithStandIn(async () => {
            const root = await construct("RootCa", "plugin-root", {
                subject: { commonName: "Plugin root" },
                keyAlgorithm: "ECDSA",
            });
            // An issuer from another language: the root's outputs, not a RootCa object.
            const rootPem = { certPem: root.state.certPem, privateKeyPem: root.state.privateKeyPem };
            const ca = await construct("IntermediateCa", "plugin-ca", {
                rootCa: rootPem,
                subject: { commonName: "Plugin CA", organization: "Example Bank" },
                keyAlgorithm: "ECDSA",
            });
            const issuingCa = {
                certPem: ca.state.certPem,
                privateKeyPem: ca.state.privateKeyPem,
                chainPem: ca.state.chainPem,
            };
            const apic = await construct("ApicClientBundle", "plugin-apic", {
                clientCa: issuingCa,
                identity: "urn:example:apic-client:plugin",
                serverTrustBundlePem: gatewayServerRootPem,
                keyAlgorithm: "ECDSA",
                pkcs12Profile: "modern",
            });
            const gateway = await construct("IstioGatewayTls", "plugin-gateway", {
                serverCa: issuingCa,
                clientTrustBundlePem: root.state.certPem,
                endpoints: [
                    {
                        id: "plugin",
                        host: "plugin.bank.example",
                        clientSubjectAltNames: [apic.state.identity],
                        verifyCertificateSpki: [apic.state.spkiPin],
                    },
                ],
                keyAlgorithm: "ECDSA",
            });
            const mesh = await construct("MeshPluginCa", "plugin-mesh", {
                rootCa: rootPem,
                cluster: "plugin-cluster",
                environment: "dev",
                keyAlgorithm: "ECDSA",
            });
            const ui = await construct("UiApicClient", "plugin-ui", {
                clientCa: issuingCa,
                service: "web",
                identity: "urn:example:ui-client:web",
                namespace: "ui",
                apicHosts: ["apic.bank.example"],
                apicTrustPem: root.state.certPem,
                keyAlgorithm: "ECDSA",
            });
            await construct("ApicEgress", "plugin-egress", { namespace: "ui", hosts: ["apic.bank.example"] });
            const apicServer = await construct("ApicServerCertificate", "plugin-apic-server", {
                serverCa: issuingCa,
                host: "apic.bank.example",
                keyAlgorithm: "ECDSA",
            });
            const customer = await construct("CustomerFacingTls", "plugin-public", {
                hosts: [{ host: "www.bank.example" }],
                keyAlgorithm: "ECDSA",
            });
            return { root, ca, apic, gateway, mesh, ui, apicServer, customer };
        });
        const { root, ca, apic, gateway, mesh, ui, apicServer, customer } = outputs;

        assert.strictEqual(root.urn, `urn:pulumi:dev::apic-istio-pki::${token("RootCa")}::plugin-root`);
        assert.strictEqual(gateway.urn, `urn:pulumi:dev::apic-istio-pki::${token("IstioGatewayTls")}::plugin-gateway`);
        const secretOnWire = (value: unknown) =>
            (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig &&
            /PRIVATE KEY-----/.test(String((value as { value: unknown }).value));
        const serverKeys = gateway.wire.serverPrivateKeyPems as Record<string, unknown>;
        for (const [label, value] of [
            ["RootCa.privateKeyPem", root.wire.privateKeyPem],
            ["IntermediateCa.privateKeyPem", ca.wire.privateKeyPem],
            ["ApicClientBundle.privateKeyPem", apic.wire.privateKeyPem],
            ["IstioGatewayTls.serverPrivateKeyPems.plugin", serverKeys.plugin],
            ["MeshPluginCa.privateKeyPem", mesh.wire.privateKeyPem],
            ["UiApicClient.privateKeyPem", ui.wire.privateKeyPem],
            ["ApicServerCertificate.privateKeyPem", apicServer.wire.privateKeyPem],
        ])
            assert.ok(secretOnWire(value), `${label} is sent as a secret`);
        for (const name of ["pkcs12Password", "pkcs12Base64"])
            assert.strictEqual(
                (apic.wire[name] as Record<string, unknown>)[pulumi.runtime.specialSigKey],
                pulumi.runtime.specialSecretSig,
                `ApicClientBundle.${name} is sent as a secret`,
            );
        assert.match(String(root.wire.certPem), /^-----BEGIN CERTIFICATE-----/);
        // The issuers' keys came in as secrets: none of them, nor any key made here, in a plain output.
        const plainKeys = (value: unknown, where: string): string[] => {
            if (typeof value === "string") return /PRIVATE KEY-----/.test(value) ? [where] : [];
            if (typeof value !== "object" || value === null) return [];
            const members = value as Record<string, unknown>;
            if (members[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return [];
            return Object.entries(members).flatMap(([name, member]) => plainKeys(member, `${where}.${name}`));
        };
        assert.deepStrictEqual(
            Object.entries(outputs).flatMap(([component, { wire }]) => plainKeys(wire, component)),
            [],
        );

        // Real certificates: the CA signed by the root given as PEM, APIC's client by that CA, and
        // the gateway pinning exactly that client's key.
        const rootCert = new crypto.X509Certificate(root.state.certPem as string);
        const caCert = new crypto.X509Certificate(ca.state.certPem as string);
        const apicCert = new crypto.X509Certificate(apic.state.certPem as string);
        assert.ok(caCert.checkIssued(rootCert) && caCert.verify(rootCert.publicKey));
        assert.ok(apicCert.checkIssued(caCert) && apicCert.verify(caCert.publicKey));
        assert.ok(new crypto.X509Certificate(mesh.state.certPem as string).verify(rootCert.publicKey));
        const spki = apicCert.publicKey.export({ type: "spki", format: "der" });
        const [gatewayObject] = engine.byType("kubernetes:networking.istio.io/v1:Gateway");
        const { servers } = gatewayObject.inputs.spec as { servers: { tls: { verifyCertificateSpki: string[] } }[] };
        assert.deepStrictEqual(servers[0].tls.verifyCertificateSpki, [
            crypto.createHash("sha256").update(spki).digest("base64"),
        ]);
        const secrets = engine.byType("kubernetes:core/v1:Secret");
        const gatewaySecret = secrets.find((s) => s.name.startsWith("plugin-gateway"));
        assert.strictEqual((gatewaySecret?.inputs.stringData as Record<string, string>)["ca.crt"], root.state.certPem);

        // The front end: the UI client's Secret and DestinationRule, APIC's egress and server
        // certificate, and the customer-facing CSR with no certificate yet (so nothing served).
        const uiCert = new crypto.X509Certificate(ui.state.certPem as string);
        assert.ok(uiCert.checkIssued(caCert) && uiCert.verify(caCert.publicKey));
        assert.strictEqual(uiCert.subjectAltName, "URI:urn:example:ui-client:web");
        assert.strictEqual(ui.state.secretName, "apic-client-web");
        const uiSecret = secrets.find((s) => s.name === "plugin-ui-tls");
        assert.deepStrictEqual(uiSecret?.inputs.metadata, { name: "apic-client-web", namespace: "ui" });
        const [destinationRule] = engine.byType("kubernetes:networking.istio.io/v1:DestinationRule");
        assert.deepStrictEqual((destinationRule.inputs.spec as { workloadSelector: unknown }).workloadSelector, {
            matchLabels: { app: "web" },
        });
        const [serviceEntry] = engine.byType("kubernetes:networking.istio.io/v1:ServiceEntry");
        assert.deepStrictEqual((serviceEntry.inputs.spec as { hosts: string[] }).hosts, ["apic.bank.example"]);
        const serverCert = new crypto.X509Certificate(apicServer.state.certPem as string);
        assert.strictEqual(serverCert.subjectAltName, "DNS:apic.bank.example");
        assert.ok(serverCert.verify(caCert.publicKey));
        const csr = (customer.state.csrPems as Record<string, string>)["www.bank.example"];
        assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----/);
        assert.deepStrictEqual(customer.state.servedCertPems, {});
        assert.strictEqual(
            engine.byType("kubernetes:networking.istio.io/v1:Gateway").length,
            1,
            "only the mutual-TLS gateway: the customer-facing one waits for its certificate",
        );
    });

    it("refuses a choice another language spells wrongly instead of taking the other algorithm or profile", async () => {
        // TypeScript checks these unions at compile time; Python or YAML may send any string.
        assert.deepStrictEqual(
            [
                await refusal("RootCa", { subject: { commonName: "r" }, keyAlgorithm: "rsa" }),
                await refusal("CustomerFacingTls", {
                    hosts: [{ host: "www.bank.example" }],
                    namespace: "web",
                    keyAlgorithm: "ecdsa",
                }),
                await refusal("ApicClientBundle", {
                    clientCa: { certPem: "x", privateKeyPem: "x", chainPem: "x" },
                    identity: "urn:x",
                    serverTrustBundlePem: "x",
                    keyAlgorithm: "ECDSA",
                    pkcs12Profile: "Legacy",
                }),
            ],
            [
                'RootCa keyAlgorithm must be "RSA" or "ECDSA"; got "rsa"',
                'CustomerFacingTls keyAlgorithm must be "RSA" or "ECDSA"; got "ecdsa"',
                'ApicClientBundle pkcs12Profile must be "modern" or "legacy"; got "Legacy"',
            ],
        );
    });

    it('refuses a flag sent as text or as an output instead of taking it as true: "false" would write cacerts and make the mesh STRICT', async () => {
        const root = await mintRoot("Bank root");
        const mesh = (flags: pulumi.Inputs) => ({
            cluster: "east",
            keyAlgorithm: "ECDSA",
            rootCa: { certPem: root.certPem, privateKeyPem: root.keyPem },
            ...flags,
        });
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                ["MeshPluginCa", mesh({ installed: "false" })],
                ["MeshPluginCa", mesh({ strictMtls: "false" })],
                ["MeshPluginCa", mesh({ strictMtls: 1 })],
                ["MeshPluginCa", mesh({ installed: pulumi.output(false) })],
            ]),
            {
                messages: [
                    'MeshPluginCa installed must be true or false; got "false". Write the boolean without quotes, or leave it unset (true)',
                    'MeshPluginCa strictMtls must be true or false; got "false". Write the boolean without quotes, or leave it unset (false)',
                    "MeshPluginCa strictMtls must be true or false; got 1. Write the boolean without quotes, or leave it unset (false)",
                    "MeshPluginCa installed must be a plain value, not an output: it shapes the resources made, so it must be known before they are; give the value itself (from config, for example)",
                ],
                children: [],
            },
        );
    });

    it("refuses text or bad labels where pod labels belong, instead of one label per character that selects no pod", async () => {
        const { root, issuing } = await bankIssuer();
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                [
                    "IstioGatewayTls",
                    {
                        serverCa: issuing,
                        clientTrustBundlePem: root.certPem,
                        endpoints: [{ id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"] }],
                        keyAlgorithm: "ECDSA",
                        selector: "ingressgateway",
                    },
                ],
                uiClient({ root, issuing }, { workloadLabels: {} }),
                uiClient({ root, issuing }, { workloadLabels: { app: 5 } }),
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example" }], selector: "istio=ingressgateway" }],
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example" }], selector: { "bad key": "x" } }],
                // A prefix over 253: no pod can carry the label, so the DestinationRule would select none.
                uiClient({ root, issuing }, { workloadLabels: { [`${"p".repeat(250)}.example/app`]: "web" } }),
            ]),
            {
                messages: [
                    'IstioGatewayTls selector must be a non-empty map of pod labels, e.g. { istio: "ingressgateway" }; got "ingressgateway"',
                    'UiApicClient workloadLabels must be a non-empty map of pod labels, e.g. { app: "web" }; got {}',
                    `UiApicClient workloadLabels {"app":5} is not a Kubernetes label: a key is [prefix/]name, the prefix a DNS name of at most 253 characters, a name or value at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
                    'CustomerFacingTls selector must be a non-empty map of pod labels, e.g. { istio: "ingressgateway" }; got "istio=ingressgateway"',
                    `CustomerFacingTls selector {"bad key":"x"} is not a Kubernetes label: a key is [prefix/]name, the prefix a DNS name of at most 253 characters, a name or value at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
                    `UiApicClient workloadLabels {"${"p".repeat(250)}.example/app":"web"} is not a Kubernetes label: a key is [prefix/]name, the prefix a DNS name of at most 253 characters, a name or value at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
                ],
                children: [],
            },
        );
    });

    it("refuses names, hosts and organizations the stack would refuse, before they go into certificates and manifests", async () => {
        const { root, issuing } = await bankIssuer();
        const gateway = (endpoint: pulumi.Inputs, extra: pulumi.Inputs = {}): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            {
                serverCa: issuing,
                clientTrustBundlePem: root.certPem,
                keyAlgorithm: "ECDSA",
                endpoints: [{ id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"], ...endpoint }],
                ...extra,
            },
        ];
        const id = "an id (lower-case letters, digits and '-', not starting or ending with '-')";
        const kubernetesName =
            "a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)";
        const gatewayName =
            "an Istio Gateway name (one DNS label: lower-case letters, digits and '-', not starting or ending with '-', at most 63; Istio refuses dots)";
        // The service names the Secret and DestinationRules and is the pods' app label: one DNS label.
        const service =
            "a Kubernetes service name (lower-case letters, digits and '-', not starting or ending with '-', at most 63)";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                gateway({ id: "Bad Name\n" }),
                gateway({ id: { a: 1 } }),
                gateway({ id: "" }),
                gateway({ secretName: { name: "x" } }),
                gateway({ host: "" }),
                gateway({}, { namespace: "Istio System" }),
                gateway({}, { gatewayName: 42 }),
                gateway({}, { organization: "Bank\nO=Other" }),
                ["ApicServerCertificate", { serverCa: issuing, host: "apic.bank.example\r", keyAlgorithm: "ECDSA" }],
                uiClient({ root, issuing }, { service: "Web App" }),
                uiClient({ root, issuing }, { service: `w${"e".repeat(62)}b` }),
                [
                    "ApicClientBundle",
                    {
                        clientCa: issuing,
                        identity: "urn:a",
                        serverTrustBundlePem: gatewayServerRootPem,
                        keyAlgorithm: "ECDSA",
                        organization: "",
                    },
                ],
            ]),
            {
                messages: [
                    `IstioGatewayTls endpoints[0].id must be ${id}; got "Bad Name\\n"`,
                    `IstioGatewayTls endpoints[0].id must be ${id}; got {"a":1}`,
                    `IstioGatewayTls endpoints[0].id must be ${id}; got ""`,
                    `IstioGatewayTls endpoint "a" secretName must be ${kubernetesName}; got {"name":"x"}`,
                    `IstioGatewayTls endpoint "a" host "" has the label ""; labels are lower-case letters, digits and '-', not starting or ending with '-'`,
                    `IstioGatewayTls namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got "Istio System"`,
                    `IstioGatewayTls gatewayName must be ${gatewayName}; got 42`,
                    'IstioGatewayTls organization must not contain control characters (it becomes the subject O of every certificate); got "Bank\\nO=Other"',
                    `ApicServerCertificate host "apic.bank.example\\r" has the label "example\\r"; labels are lower-case letters, digits and '-', not starting or ending with '-'`,
                    `UiApicClient service must be ${service}; got "Web App"`,
                    `UiApicClient service must be ${service}; got "w${"e".repeat(62)}b"`,
                    'ApicClientBundle organization must be a non-empty string (the subject O); got "". Leave it unset to leave O out',
                ],
                children: [],
            },
        );
    });

    it("refuses a gatewayName, or a component name as the Gateway's default name, that Istio would refuse, before any child is registered, and takes it with gatewayName set", async () => {
        // Pulumi YAML and Python programs name resources in camelCase: the API server refused such
        // a Gateway at up, after the keys and Secrets were made. istiod refuses a Gateway name that
        // is no DNS label (dots, over 63 characters) that the API server takes.
        const { root, issuing } = await bankIssuer();
        const gateway = {
            serverCa: issuing,
            clientTrustBundlePem: root.certPem,
            keyAlgorithm: "ECDSA",
            endpoints: [{ id: "payments", host: "payments.bank.example", clientSubjectAltNames: ["urn:bank:apic"] }],
        };
        const customer = { hosts: [{ host: "www.bank.example" }], keyAlgorithm: "ECDSA" };
        const gatewayName =
            "an Istio Gateway name (one DNS label: lower-case letters, digits and '-', not starting or ending with '-', at most 63; Istio refuses dots)";
        const long = `payments-${"g".repeat(55)}`;
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                ["IstioGatewayTls", gateway, "paymentsGateway"],
                ["CustomerFacingTls", customer, "public_sites"],
                ["CustomerFacingTls", customer, "-"],
                ["IstioGatewayTls", { ...gateway, gatewayName: "payments.gateway" }],
                ["IstioGatewayTls", { ...gateway, gatewayName: long }],
                ["CustomerFacingTls", customer, "public.sites"],
                ["CustomerFacingTls", customer, long],
            ]),
            {
                messages: [
                    `IstioGatewayTls gatewayName, by default the component's name, must be ${gatewayName}; got "paymentsGateway". Set gatewayName to one, e.g. "payments-gateway"`,
                    `CustomerFacingTls gatewayName, by default the component's name, must be ${gatewayName}; got "public_sites". Set gatewayName to one, e.g. "public-sites"`,
                    `CustomerFacingTls gatewayName, by default the component's name, must be ${gatewayName}; got "-". Set gatewayName to one`,
                    `IstioGatewayTls gatewayName must be ${gatewayName}; got "payments.gateway". Set gatewayName to one, e.g. "payments-gateway"`,
                    `IstioGatewayTls gatewayName must be ${gatewayName}; got "${long}". Set gatewayName to one`,
                    `CustomerFacingTls gatewayName, by default the component's name, must be ${gatewayName}; got "public.sites". Set gatewayName to one, e.g. "public-sites"`,
                    `CustomerFacingTls gatewayName, by default the component's name, must be ${gatewayName}; got "${long}". Set gatewayName to one`,
                ],
                children: [],
            },
        );
        const { engine } = await runWithStandIn(() =>
            provider.construct(
                "paymentsGateway",
                token("IstioGatewayTls"),
                { ...gateway, gatewayName: "payments-gateway" },
                {},
            ),
        );
        const [gatewayObject] = engine.byType("kubernetes:networking.istio.io/v1:Gateway");
        assert.deepStrictEqual(gatewayObject.inputs.metadata, { name: "payments-gateway", namespace: "istio-system" });
    });

    it("refuses two hosts with one Secret, id or object name before any child is registered, instead of a duplicate URN half-way", async () => {
        // One Kubernetes object made twice (the second Secret overwrites the first's key), or two
        // children of one name, which pulumi up refuses only once those before them are registered.
        const { root, issuing } = await bankIssuer();
        const customer = (hosts: pulumi.Inputs[]): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            { hosts, keyAlgorithm: "ECDSA" },
        ];
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                customer([{ host: "www.bank.example" }, { host: "www.bank.example", id: "www2" }]),
                customer([{ host: "www.bank.example" }, { host: "shop.bank.example", id: "www-bank-example" }]),
                customer([{ host: "a-b.bank.example" }, { host: "a.b-bank.example" }]),
                customer([
                    { host: "www.bank.example", secretName: "public-tls" },
                    { host: "shop.bank.example", secretName: "public-tls" },
                ]),
                customer([
                    { host: "www.bank.example" },
                    { host: "shop.bank.example", secretName: "public-tls-www-bank-example" },
                ]),
                // A raised epoch names a host's key "<id>-r<epoch>": the id of another host.
                customer([
                    { host: "pay.bank.example", id: "pay", epoch: 1 },
                    { host: "shop.bank.example", id: "pay-r1" },
                ]),
                uiClient({ root, issuing }, { apicHosts: ["apic.bank.example", "apic.bank.example"] }),
                ["ApicEgress", { namespace: "ui", hosts: ["apic.bank.example", "apic.bank.example"] }],
                ["ApicEgress", { namespace: "ui", hosts: ["apic-ui.bank.example", "apic.ui-bank.example"] }],
            ]),
            {
                messages: [
                    'CustomerFacingTls host "www.bank.example" is listed twice; list each host once',
                    `CustomerFacingTls hosts "www.bank.example" and "shop.bank.example" both have the id "www-bank-example" (given, or the host with its dots turned into '-'), which names their keys and Secrets; give each host its own id`,
                    `CustomerFacingTls hosts "a-b.bank.example" and "a.b-bank.example" both have the id "a-b-bank-example" (given, or the host with its dots turned into '-'), which names their keys and Secrets; give each host its own id`,
                    'CustomerFacingTls hosts "www.bank.example" and "shop.bank.example" both name the secret "public-tls"; give each host its own secretName',
                    'CustomerFacingTls hosts "www.bank.example" and "shop.bank.example" both name the secret "public-tls-www-bank-example"; give each host its own secretName',
                    'CustomerFacingTls hosts "pay.bank.example" and "shop.bank.example" would both name a key "bad-5-pay-r1" (its id, with "-r<epoch>" once its epoch is raised); give one of them another id',
                    'UiApicClient bad-6 apicHosts lists "apic.bank.example" twice; list each host once',
                    'ApicEgress hosts lists "apic.bank.example" twice; list each host once',
                    `ApicEgress hosts "apic-ui.bank.example" and "apic.ui-bank.example" would both name their ServiceEntry after "apic-ui-bank-example" (dots turned into '-'); give only one of them here`,
                ],
                children: [],
            },
        );
    });

    it("refuses a Secret name ending in -cacert, which Istio reads as another Secret's client CA, before any child is registered", async () => {
        // Two teams' IstioGatewayTls in one namespace, endpoints "payments" and "payments-cacert":
        // the second's Secret became the first's ca.crt and ca.crl, its callers' CA let into payments.
        const { root, issuing } = await bankIssuer();
        const gateway = (endpoint: pulumi.Inputs): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            {
                serverCa: issuing,
                clientTrustBundlePem: root.certPem,
                keyAlgorithm: "ECDSA",
                endpoints: [
                    { id: "payments", host: "payments.bank.example", clientSubjectAltNames: ["urn:a"], ...endpoint },
                ],
            },
        ];
        const istio = (name: string) =>
            `Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "${name}" in its namespace`;
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                gateway({ id: "payments-cacert" }),
                gateway({ id: "cacert" }),
                gateway({ secretName: "apic-mtls-payments-cacert" }),
                [
                    "CustomerFacingTls",
                    { hosts: [{ host: "www.bank.example", secretName: "apic-mtls-payments-cacert" }] },
                ],
                // The default public-tls-<id>, from the id or the host.
                [
                    "CustomerFacingTls",
                    { hosts: [{ host: "www.bank.example" }, { host: "shop.bank.example", id: "shop-cacert" }] },
                ],
                ["CustomerFacingTls", { hosts: [{ host: "shop.bank-cacert" }] }],
                uiClient({ root, issuing }, { service: "web-cacert" }),
                uiClient({ root, issuing }, { secretName: "apic-client-web-cacert" }),
            ]),
            {
                messages: [
                    `IstioGatewayTls endpoint id "payments-cacert" names the Secret "apic-mtls-payments-cacert", which ends in -cacert: ${istio("apic-mtls-payments")}; give another id, or a secretName that does not end in -cacert`,
                    `IstioGatewayTls endpoint id "cacert" names the Secret "apic-mtls-cacert", which ends in -cacert: ${istio("apic-mtls")}; give another id, or a secretName that does not end in -cacert`,
                    `IstioGatewayTls endpoint "payments" secretName "apic-mtls-payments-cacert" ends in -cacert: ${istio("apic-mtls-payments")}; give a secretName that does not end in -cacert`,
                    `CustomerFacingTls hosts[0].secretName "apic-mtls-payments-cacert" ends in -cacert: ${istio("apic-mtls-payments")}; give a secretName that does not end in -cacert`,
                    `CustomerFacingTls hosts[1].id "shop-cacert" names the Secret "public-tls-shop-cacert", which ends in -cacert: ${istio("public-tls-shop")}; give another id, or a secretName that does not end in -cacert`,
                    `CustomerFacingTls hosts[0].host "shop.bank-cacert" names the Secret "public-tls-shop-bank-cacert", which ends in -cacert: ${istio("public-tls-shop-bank")}; give an id, or a secretName, that does not end in -cacert`,
                    `UiApicClient service "web-cacert" names the Secret "apic-client-web-cacert", which ends in -cacert: ${istio("apic-client-web")}; give another service, or a secretName that does not end in -cacert`,
                    `UiApicClient secretName "apic-client-web-cacert" ends in -cacert: ${istio("apic-client-web")}; give a secretName that does not end in -cacert`,
                ],
                children: [],
            },
        );
        // An id ending in -cacert is taken with its own secretName.
        const { engine } = await runWithStandIn(() =>
            provider.construct(
                "payments",
                token("IstioGatewayTls"),
                gateway({ id: "payments-cacert", secretName: "apic-mtls-payments-two" })[1],
                {},
            ),
        );
        const [secret] = engine.byType("kubernetes:core/v1:Secret");
        assert.strictEqual((secret.inputs.metadata as { name: string }).name, "apic-mtls-payments-two");
    });

    it("refuses an id or host that makes a default Secret name over Kubernetes' 253 characters, before any child is registered", async () => {
        // An endpoint id of 250 named the Secret apic-mtls-<id> (260): the API server refused it at
        // pulumi up, after the key and certificate were made.
        const { root, issuing } = await bankIssuer();
        const endpoint = { host: "payments.bank.example", clientSubjectAltNames: ["urn:a"] };
        const gateway = (endpoints: pulumi.Inputs[]): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            { serverCa: issuing, clientTrustBundlePem: root.certPem, keyAlgorithm: "ECDSA", endpoints },
        ];
        const host = `${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(60)}.${"h".repeat(57)}.bank.example`;
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                gateway([
                    { ...endpoint, id: "payments" },
                    { ...endpoint, id: "a".repeat(250), host: "a.bank.example" },
                ]),
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example", id: "w".repeat(243) }] }],
                ["CustomerFacingTls", { hosts: [{ host }] }],
            ]),
            {
                messages: [
                    `IstioGatewayTls endpoints[1].id is 250 characters: it names the Secret "apic-mtls-<id>", which would be 260, over Kubernetes' 253 for an object name; give an id of at most 243 characters, or a secretName`,
                    `CustomerFacingTls hosts[0].id is 243 characters: it names the Secret "public-tls-<id>", which would be 254, over Kubernetes' 253 for an object name; give an id of at most 242 characters, or a secretName`,
                    `CustomerFacingTls hosts[0].host is 253 characters: it names the Secret "public-tls-<host, dots as '-'>", which would be 264, over Kubernetes' 253 for an object name; give hosts[0].id of at most 242 characters, or a secretName`,
                ],
                children: [],
            },
        );
        // At the limit, and a long id with its own secretName, are taken.
        const { engine } = await runWithStandIn(() =>
            provider.construct(
                "payments",
                token("IstioGatewayTls"),
                gateway([
                    { ...endpoint, id: "a".repeat(243) },
                    { ...endpoint, id: "b".repeat(250), host: "b.bank.example", secretName: "apic-mtls-b" },
                ])[1],
                {},
            ),
        );
        // Sorted: each endpoint's Secret registers once its key and certificate are made, and the two
        // keys are generated on libuv's thread pool, which may finish the second first.
        assert.deepStrictEqual(
            engine
                .byType("kubernetes:core/v1:Secret")
                .map((r) => (r.inputs.metadata as { name: string }).name)
                .sort(),
            ["a".repeat(243), "b"].map((id) => `apic-mtls-${id}`),
        );
    });

    it("refuses the Secret name cacerts, whence istiod reads the mesh's plug-in CA, before any child is registered", async () => {
        // An endpoint's Secret named cacerts and MeshPluginCa's both wrote istio-system/cacerts: one replaced the other.
        const { root, issuing } = await bankIssuer();
        const endpoint = { id: "payments", host: "payments.bank.example", clientSubjectAltNames: ["urn:a"] };
        const mesh = (what: string) =>
            `${what} is the name of the Secret istiod reads the mesh's plug-in CA from (ca-cert.pem, ca-key.pem), which MeshPluginCa ` +
            "writes in istio-system: in istiod's namespace the two would replace each other; give a secretName other than cacerts";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                [
                    "IstioGatewayTls",
                    {
                        serverCa: issuing,
                        clientTrustBundlePem: root.certPem,
                        keyAlgorithm: "ECDSA",
                        endpoints: [{ ...endpoint, secretName: "cacerts" }],
                    },
                ],
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example", secretName: "cacerts" }] }],
                uiClient({ root, issuing }, { secretName: "cacerts" }),
            ]),
            {
                messages: [
                    mesh('IstioGatewayTls endpoint "payments" secretName "cacerts"'),
                    mesh('CustomerFacingTls hosts[0].secretName "cacerts"'),
                    mesh('UiApicClient secretName "cacerts"'),
                ],
                children: [],
            },
        );
    });

    it("refuses a DestinationRule or ServiceEntry name over Kubernetes' 253 characters before any child is registered", async () => {
        // The cluster refused them at up, after the client's key and Secret were made.
        const { root, issuing } = await bankIssuer();
        // 240 characters: a DNS name, but apic-mtls-web-<host> has 254 and apic-<host> 245.
        const host = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(40)}.example`;
        const longerHost = `${"e".repeat(9)}.${host}`;
        const kubernetesName =
            "a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                uiClient({ root, issuing }, { apicHosts: ["apic.bank.example", host] }),
                ["ApicEgress", { namespace: "ui", hosts: [host, longerHost] }],
            ]),
            {
                messages: [
                    `UiApicClient bad-0 the DestinationRule's name for apicHosts[1] must be ${kubernetesName}; got "${describedValue(`apic-mtls-web-${host.replace(/\./g, "-")}`)}". Give a shorter host or service`,
                    `ApicEgress the ServiceEntry's name for hosts[1] must be ${kubernetesName}; got "${describedValue(`apic-${longerHost.replace(/\./g, "-")}`)}". Give a shorter host`,
                ],
                children: [],
            },
        );
    });

    it("refuses a certificateEpoch that is no epoch by its input's name, before any host's key and CSR are registered", async () => {
        // -1 passed as "the one before" epoch 0, and was refused by the name of the key it would have
        // made, after the hosts before it had their keys and CSRs registered.
        const customer = (second: pulumi.Inputs): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            { hosts: [{ host: "a.bank.example" }, { host: "b.bank.example", ...second }], keyAlgorithm: "ECDSA" },
        ];
        const epoch = "must be a whole number from 0 (raise it by one to rotate)";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                customer({ certificateEpoch: -1 }),
                customer({ epoch: 1, certificateEpoch: 0.5 }),
                customer({ certificateEpoch: pulumi.output(0) }),
                customer({ epoch: 2, certificateEpoch: 0 }),
            ]),
            {
                messages: [
                    `CustomerFacingTls hosts[1].certificateEpoch ${epoch}; got -1`,
                    `CustomerFacingTls hosts[1].certificateEpoch ${epoch}; got 0.5`,
                    "CustomerFacingTls hosts[1].certificateEpoch must be a plain value, not an output: it shapes the resources made, so it must be known before they are; give the value itself (from config, for example)",
                    "CustomerFacingTls bad-3: b.bank.example's certificateEpoch must be its epoch (2) or the one before; got 0",
                ],
                children: [],
            },
        );
    });

    it("refuses a number or list where a host, id or identity belongs, and an identity that is no URI or not one @pulumi/tls writes as given, instead of a TypeError", async () => {
        const { root, issuing } = await bankIssuer();
        const bundle = (extra: pulumi.Inputs): [string, pulumi.Inputs] => [
            "ApicClientBundle",
            {
                clientCa: issuing,
                identity: "urn:a",
                serverTrustBundlePem: gatewayServerRootPem,
                keyAlgorithm: "ECDSA",
                ...extra,
            },
        ];
        const uri = "an absolute URI (scheme:..., e.g. urn:bank:apic-client:payments), the certificate's URI SAN";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                ["ApicServerCertificate", { serverCa: issuing, host: 7, keyAlgorithm: "ECDSA" }],
                ["CustomerFacingTls", { hosts: [{ host: 7 }], keyAlgorithm: "ECDSA" }],
                ["ApicEgress", { namespace: "ui", hosts: [1] }],
                bundle({ endpointId: ["x"] }),
                bundle({ identity: "" }),
                bundle({ identity: 7 }),
                uiClient({ root, issuing }, { identity: { a: 1 } }),
                bundle({ identity: "URN:Bank:apic-client:payments" }),
                bundle({ identity: "spiffe://bank/clients/{payments}" }),
                bundle({ identity: "urn:bank:100%" }),
                bundle({ identity: "spiffe://admin@bank/clients/payments" }),
                uiClient({ root, issuing }, { identity: "https://apic.bank.example./clients/web" }),
            ]),
            {
                messages: [
                    "ApicServerCertificate host must be a DNS name; got 7",
                    "CustomerFacingTls hosts[0].host must be a DNS name; got 7",
                    "ApicEgress hosts[0] must be a DNS name; got 1",
                    `ApicClientBundle endpointId must be an id (lower-case letters, digits and '-', not starting or ending with '-'); got ["x"]`,
                    `ApicClientBundle identity must be ${uri}; got ""`,
                    `ApicClientBundle identity must be ${uri}; got 7`,
                    `UiApicClient identity must be ${uri}; got {"a":1}`,
                    `ApicClientBundle identity "URN:Bank:apic-client:payments" has an upper-case scheme, which @pulumi/tls writes in lower case (Go's url package): the certificate would say "urn:Bank:apic-client:payments"; write the scheme in lower case`,
                    `ApicClientBundle identity "spiffe://bank/clients/{payments}" holds "{", "}", which @pulumi/tls escapes, splits off or refuses (Go's url package): the certificate would not say it as given; write them percent-encoded (%7B, %7D)`,
                    `ApicClientBundle identity "urn:bank:100%" holds a "%" not followed by two hex digits, which @pulumi/tls refuses in a path (Go's url package: "invalid URL escape"); write a literal "%" as %25`,
                    `ApicClientBundle identity "spiffe://admin@bank/clients/payments" has "admin@bank" after "//", which is not a host name (letters, digits, "-" and ".") with an optional :port; give a host name there (no user info, no IP address in brackets)`,
                    `UiApicClient identity "https://apic.bank.example./clients/web" has the host "apic.bank.example.", which @pulumi/tls refuses when it signs the certificate request (Go's x509: "invalid domain"); write it without the trailing dot`,
                ],
                children: [],
            },
        );
    });

    it("refuses an output where a plain value belongs, and signs with an issuer given as one secret output", async () => {
        const { root, ca, issuing } = await bankIssuer();
        const plain =
            "must be a plain value, not an output: it shapes the resources made, so it must be known before they are; give the value itself (from config, for example)";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                [
                    "MeshPluginCa",
                    {
                        cluster: pulumi.output("east"),
                        keyAlgorithm: "ECDSA",
                        rootCa: { certPem: root.certPem, privateKeyPem: root.keyPem },
                    },
                ],
                ["RootCa", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA", validityDays: pulumi.output(30) }],
                ["ApicServerCertificate", { serverCa: issuing, host: pulumi.output("apic.bank.example") }],
                // Numbers checked by their own rules: shown, an output printed Pulumi's toJSON warning as the value.
                ["RootCa", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA", maxPathLength: pulumi.output(1) }],
                [
                    "ApicClientBundle",
                    {
                        clientCa: issuing,
                        identity: "urn:bank:apic",
                        serverTrustBundlePem: gatewayServerRootPem,
                        keyAlgorithm: "ECDSA",
                        pkcs12Iterations: pulumi.secret(20_000),
                    },
                ],
            ]),
            {
                messages: [
                    `MeshPluginCa cluster ${plain}`,
                    `RootCa validityDays ${plain}`,
                    `ApicServerCertificate host ${plain}`,
                    `RootCa maxPathLength ${plain}`,
                    `ApicClientBundle pkcs12Iterations ${plain}`,
                ],
                children: [],
            },
        );
        // A Python program passing a stack reference's secret object: its members are lifted, not spread away.
        const { outputs } = await runWithStandIn(async () => {
            const { state } = await provider.construct(
                "apic-ui",
                token("ApicServerCertificate"),
                { serverCa: pulumi.secret(issuing), host: "apic.bank.example", keyAlgorithm: "ECDSA" },
                {},
            );
            return state.certPem as string;
        });
        const cert = new crypto.X509Certificate(outputs);
        assert.strictEqual(cert.subjectAltName, "DNS:apic.bank.example");
        assert.ok(cert.verify(new crypto.X509Certificate(ca.certPem).publicKey));
    });

    it("shows a number sent as text as the text it is, so the message does not read like a refused valid number", async () => {
        assert.deepStrictEqual(
            [
                await refusal("RootCa", { subject: { commonName: "r" }, keyAlgorithm: "ECDSA", validityDays: "365" }),
                await refusal("ApicClientBundle", {
                    clientCa: { certPem: "x", privateKeyPem: "x", chainPem: "x" },
                    identity: "urn:x",
                    serverTrustBundlePem: "x",
                    keyAlgorithm: "ECDSA",
                    pkcs12Iterations: "20000",
                }),
            ],
            [
                'RootCa validityDays must be a whole number of days from 1 to 36500; got "365". Set it within that range or leave it unset (3650)',
                'ApicClientBundle pkcs12Iterations must be a whole number from 10000 (Java 17\'s default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got "20000". Set it within that range or leave it unset (10000)',
            ],
        );
    });

    it("refuses text where a list or a subject is expected, naming it, instead of a JavaScript error", async () => {
        assert.deepStrictEqual(
            [
                await refusal("ApicEgress", { namespace: "ui", hosts: "apic.bank.example" }),
                await refusal("CustomerFacingTls", { hosts: "www.bank.example", keyAlgorithm: "ECDSA" }),
                await refusal("RootCa", { subject: "CN=root", keyAlgorithm: "ECDSA" }),
            ],
            [
                'ApicEgress hosts must be a list; got "apic.bank.example"',
                'CustomerFacingTls hosts must be a list; got "www.bank.example"',
                'RootCa subject must be { commonName, organization? }; got "CN=root"',
            ],
        );
    });

    it("refuses IstioGatewayTls endpoints that are no list (one endpoint's map, text, a number) as such, not as no endpoint", async () => {
        // Before, each was refused as "IstioGatewayTls needs at least one endpoint": one was given.
        const { root, issuing } = await bankIssuer();
        const endpoint = { id: "pay", host: "pay.bank.example", clientSubjectAltNames: ["urn:bank:apic"] };
        const gateway = (endpoints: unknown): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            { serverCa: issuing, clientTrustBundlePem: root.certPem, endpoints, keyAlgorithm: "ECDSA" },
        ];
        const { messages, children } = await refusalsBeforeChildren([
            gateway(endpoint),
            gateway("pay.bank.example"),
            gateway(5),
            gateway([]),
        ]);
        assert.deepStrictEqual(messages, [
            'IstioGatewayTls endpoints must be a list; got {"id":"pay","host":"pay.bank.example","clientSubjectAltNames":["urn:bank:apic"]}',
            'IstioGatewayTls endpoints must be a list; got "pay.bank.example"',
            "IstioGatewayTls endpoints must be a list; got 5",
            "IstioGatewayTls needs at least one endpoint",
        ]);
        assert.deepStrictEqual(children, []);
    });

    it("warns, naming the component and the input but never the key, when an issuer's private key comes from another language as no secret", async () => {
        // A key a Python or YAML program read itself (open(), fn::readFile) is recorded in its
        // stack's state as it came: in clear unless wrapped as a secret.
        const { root, issuing } = await bankIssuer();
        const endpoints = [{ id: "pay", host: "pay.bank.example", clientSubjectAltNames: ["urn:bank:apic"] }];
        const gateway = (serverCa: pulumi.Inputs): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            { serverCa, clientTrustBundlePem: root.certPem, endpoints, keyAlgorithm: "ECDSA" },
        ];
        // Without an engine (mocks), pulumi.log.warn writes "warning: [runtime] <message>" to console.warn.
        const warnings: string[] = [];
        const consoleWarn = console.warn;
        console.warn = (message: unknown) => warnings.push(String(message));
        try {
            const { messages } = await refusalsBeforeChildren([
                gateway(issuing),
                gateway({ ...issuing, privateKeyPem: pulumi.secret(issuing.privateKeyPem) }),
                [
                    "IntermediateCa",
                    {
                        rootCa: { certPem: root.certPem, privateKeyPem: pulumi.output(root.keyPem) },
                        subject: { commonName: "Team CA" },
                        keyAlgorithm: "ECDSA",
                    },
                ],
            ]);
            assert.deepStrictEqual(messages, ["accepted", "accepted", "accepted"]);
            // A TypeScript program's plain key is not recorded: no warning.
            await runWithStandIn(
                () =>
                    new components.IstioGatewayTls("ts", {
                        serverCa: issuing,
                        clientTrustBundlePem: root.certPem,
                        endpoints,
                        keyAlgorithm: "ECDSA",
                    }),
            );
        } finally {
            console.warn = consoleWarn;
        }
        const warning = (label: string) =>
            `warning: [runtime] ${label}.privateKeyPem came as plain text, not a secret: Pulumi records this component's inputs in the stack's state as they come, so the key is there in clear. ` +
            "Wrap it: pulumi.Output.secret(...) in Python, fn::secret in YAML";
        assert.deepStrictEqual(warnings, [warning("IstioGatewayTls serverCa"), warning("IntermediateCa rootCa")]);
        assert.ok(!warnings.some((w) => w.includes("PRIVATE KEY")));
    });

    it("warns of a plain key from another language with source maps on too, as Pulumi's plugin host runs (source-map-support) or node --enable-source-maps", async () => {
        // Both rewrite the SDK's frame in the stack's text to its provider.ts: the check read that
        // text, so in the plugin host, where every such program runs, the warning never came.
        const root = await mintRoot("Bank root");
        const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
        const sourceMapSupport = require.resolve("source-map-support/register", { paths: [sdk] });
        const run = (...flags: string[]) => {
            const child = spawnSync(process.execPath, [...flags, path.join(__dirname, "anotherLanguage.js")], {
                input: JSON.stringify({ certPem: root.certPem, keyPem: root.keyPem }),
                encoding: "utf8",
            });
            assert.deepStrictEqual([child.status, child.stderr], [0, ""]);
            return JSON.parse(child.stdout) as string[];
        };
        const warning =
            "warning: [runtime] IntermediateCa rootCa.privateKeyPem came as plain text, not a secret: Pulumi records this component's inputs in the stack's state as they come, so the key is there in clear. " +
            "Wrap it: pulumi.Output.secret(...) in Python, fn::secret in YAML";
        assert.deepStrictEqual(
            [run(), run("--require", sourceMapSupport), run("--enable-source-maps")],
            [[warning], [warning], [warning]],
        );
    });

    it("refuses an empty list of hosts to CustomerFacingTls and ApicEgress, as IstioGatewayTls and UiApicClient refuse theirs, before any child is registered", async () => {
        // Taken before: a config-driven list that came out empty made nothing, so the next update
        // deleted every host's key, Secret and Gateway entry, or every ServiceEntry, without a word.
        const { messages, children } = await refusalsBeforeChildren([
            ["CustomerFacingTls", { hosts: [], keyAlgorithm: "ECDSA" }],
            ["ApicEgress", { hosts: [], namespace: "ui" }],
            ["ApicEgress", { hosts: ["apic.bank.example"], namespace: "ui" }],
        ]);
        assert.deepStrictEqual(messages, [
            "CustomerFacingTls bad-0 needs at least one host in hosts: with none it would make nothing, and delete every host's key, Secret and Gateway entry it made before; to serve no host, remove the component",
            "ApicEgress bad-1 needs at least one APIC host in hosts: with none it would declare none, and delete every ServiceEntry it made before; to declare no host, remove the component",
            "accepted",
        ]);
        assert.deepStrictEqual(children, ["kubernetes:networking.istio.io/v1:ServiceEntry"]);
    });

    it("says a host's trailing dot is one, and refuses a short APIC host to ApicServerCertificate as UiApicClient's apicHosts does", async () => {
        // Before: 'has the label ""' for the dot, and a certificate for "apic", which no UI sidecar verifies.
        const { root, issuing } = await bankIssuer();
        const { messages, children } = await refusalsBeforeChildren([
            ["ApicServerCertificate", { serverCa: issuing, host: "apic.bank.example.", keyAlgorithm: "ECDSA" }],
            ["ApicServerCertificate", { serverCa: issuing, host: "apic", keyAlgorithm: "ECDSA" }],
            uiClient({ root, issuing }, { apicHosts: ["apic"] }),
            [
                "IstioGatewayTls",
                {
                    serverCa: issuing,
                    clientTrustBundlePem: root.certPem,
                    endpoints: [{ id: "pay", host: "pay.bank.example.", clientSubjectAltNames: ["urn:bank:apic"] }],
                    keyAlgorithm: "ECDSA",
                },
            ],
            ["ApicEgress", { hosts: ["apic..bank.example."], namespace: "ui" }],
        ]);
        assert.deepStrictEqual(messages, [
            `ApicServerCertificate host "apic.bank.example." ends with a dot: remove it (certificates and Istio name hosts without the root's dot)`,
            `ApicServerCertificate host "apic" is a short name: the UI services' sidecars verify APIC by its fully qualified host (UiApicClient apicHosts), which this certificate must name. Give APIC's fully qualified host name`,
            `UiApicClient bad-2 apicHosts[0] "apic" is a short name: Istio reads a DestinationRule's short host as apic.<its namespace>.svc.cluster.local, not as the ServiceEntry's "apic", so the UI sidecars would not originate mutual TLS to it. Give APIC's fully qualified host name`,
            `IstioGatewayTls endpoint "pay" host "pay.bank.example." ends with a dot: remove it (certificates and Istio name hosts without the root's dot)`,
            `ApicEgress hosts[0] "apic..bank.example." ends with a dot: remove it (certificates and Istio name hosts without the root's dot)`,
        ]);
        assert.deepStrictEqual(children, []);
    });

    it("refuses an IstioGatewayTls identity that is a private key or a PEM block, given plain or as an output, before any child is registered", async () => {
        // A key read from a file (Python open(), YAML fn::readFile) where the identity belongs went in clear into the Gateway.
        const { root, ca, issuing } = await bankIssuer();
        const gateway = (identity: pulumi.Input<string>): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            {
                serverCa: issuing,
                clientTrustBundlePem: root.certPem,
                endpoints: [{ id: "pay", host: "pay.bank.example", clientSubjectAltNames: [identity] }],
                keyAlgorithm: "ECDSA",
            },
        ];
        const fix = "give the APIC client's identity, its URI SAN (pass apic.identity)";
        const key = `IstioGatewayTls endpoint "pay" clientSubjectAltNames[0] holds a private key (a "EC PRIVATE KEY" PEM block): the Gateway's spec is stored and shown in clear, so take the key out (and replace it if the text has been shared); ${fix}`;
        const outcomes = await refusalsOnceResolved([
            gateway(ca.keyPem),
            gateway(pulumi.output(ca.keyPem)),
            gateway(pulumi.secret(ca.keyPem)),
            gateway(pulumi.output(ca.certPem)),
            gateway("urn:bank:apic"),
        ]);
        assert.deepStrictEqual(outcomes, [
            { message: key, children: [] },
            { message: key, children: [] },
            { message: key, children: [] },
            {
                message: `IstioGatewayTls endpoint "pay" clientSubjectAltNames[0] must be a client identity (a URI, DNS name, IP address or e-mail address of the client certificate's SAN), not a PEM block ("CERTIFICATE"); ${fix}`,
                children: [],
            },
            {
                message: "accepted",
                children: [
                    "kubernetes:networking.istio.io/v1:Gateway::bad-gateway",
                    "tls:index/privateKey:PrivateKey::bad-pay-server-key",
                    "tls:index/certRequest:CertRequest::bad-pay-server-csr",
                    "tls:index/locallySignedCert:LocallySignedCert::bad-pay-server-cert",
                    "kubernetes:core/v1:Secret::bad-pay-tls",
                ],
            },
        ]);
    });

    it("refuses a list entry that is no object (null, text), naming its place, before any child is registered", async () => {
        // A Python None or a YAML `- ~` arrives as null, and a host given where an endpoint belongs
        // as text: read member by member, they raised a TypeError or an "id ... got nothing".
        const { root, issuing } = await bankIssuer();
        const endpoint = { id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:bank:apic"] };
        const gateway = (endpoints: unknown[]): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            { serverCa: issuing, clientTrustBundlePem: root.certPem, keyAlgorithm: "ECDSA", endpoints },
        ];
        const endpointShape = "{ clientSubjectAltNames, epoch?, host, id, secretName?, verifyCertificateSpki? }";
        const hostShape = "{ certificateEpoch?, certificatePem?, epoch?, host, id?, secretName? }";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                gateway([endpoint, null]),
                gateway(["ob.bank.example"]),
                gateway([[endpoint]]),
                ["CustomerFacingTls", { hosts: [null], keyAlgorithm: "ECDSA" }],
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example" }, 443], keyAlgorithm: "ECDSA" }],
            ]),
            {
                messages: [
                    `IstioGatewayTls endpoints[1] must be ${endpointShape}; got null`,
                    `IstioGatewayTls endpoints[0] must be ${endpointShape}; got "ob.bank.example"`,
                    `IstioGatewayTls endpoints[0] must be ${endpointShape}; got [{"id":"ob","host":"ob.bank.example","clientSubjectAltNames":["urn:bank:apic"]}]`,
                    `CustomerFacingTls hosts[0] must be ${hostShape}; got null`,
                    `CustomerFacingTls hosts[1] must be ${hostShape}; got 443`,
                ],
                children: [],
            },
        );
    });

    it("refuses text, a number or a list where a CA or an offline root belongs, as no object, before any child is registered", async () => {
        // A YAML `issuer: ${caKeyPem}` sends the PEM text itself: read member by member, it was refused
        // for the certPem it lacks ("got undefined (a stack reference's missing output?)"), an
        // offlineRoot only in an apply. The text is shown as showJson shows it, a key masked.
        const { root, issuing } = await bankIssuer();
        const key = root.keyPem;
        const masked = '"(a private key, not shown)\\n"';
        const signerShape = "{ certPem, chainPem?, privateKeyPem, rootCertPem }";
        const issuingShape = "{ certPem, chainPem, privateKeyPem }";
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                ["MeshPluginCa", { cluster: "east", issuer: key }],
                ["MeshPluginCa", { cluster: "east", rootCa: key }],
                ["MeshPluginCa", { cluster: "east", offlineRoot: key }],
                ["IntermediateCa", { subject: { commonName: "Team CA" }, offlineRoot: 7 }],
                ["IntermediateCa", { subject: { commonName: "Team CA" }, issuer: [issuing] }],
                [
                    "IstioGatewayTls",
                    {
                        serverCa: key,
                        clientTrustBundlePem: root.certPem,
                        keyAlgorithm: "ECDSA",
                        endpoints: [{ id: "ob", host: "ob.bank.example", clientSubjectAltNames: ["urn:bank:apic"] }],
                    },
                ],
                [
                    "ApicClientBundle",
                    {
                        clientCa: key,
                        identity: "urn:bank:apic",
                        serverTrustBundlePem: gatewayServerRootPem,
                        keyAlgorithm: "ECDSA",
                    },
                ],
                ["ApicServerCertificate", { serverCa: key, host: "apic.bank.example", keyAlgorithm: "ECDSA" }],
                uiClient({ root, issuing }, { clientCa: key }),
            ]),
            {
                messages: [
                    `MeshPluginCa issuer must be ${signerShape}; got ${masked}`,
                    `MeshPluginCa rootCa must be { certPem, privateKeyPem }; got ${masked}`,
                    `MeshPluginCa offlineRoot must be { rootCertPem, signedCertPem? }; got ${masked}`,
                    "IntermediateCa offlineRoot must be { rootCertPem, signedCertPem? }; got 7",
                    `IntermediateCa issuer must be ${signerShape}; got [{"certPem":"${issuing.certPem.replace(/\n/g, "\\n")}","privateKeyPem":"(a private key, not shown)\\n","chainPem":"${issuing.chainPem.replace(/\n/g, "\\n")}"}]`,
                    `IstioGatewayTls serverCa must be ${issuingShape}; got ${masked}`,
                    `ApicClientBundle clientCa must be ${issuingShape}; got ${masked}`,
                    `ApicServerCertificate serverCa must be ${issuingShape}; got ${masked}`,
                    `UiApicClient clientCa must be ${issuingShape}; got ${masked}`,
                ],
                children: [],
            },
        );
    });

    it("refuses a component name ApicClientBundle would take as its endpointId past printable ASCII, before any child is registered, and takes the names it always took", async () => {
        // Taken unchecked, "ob😀x" became a PKCS#12 friendly name OpenSSL reads as "ob=" and Java as
        // "ob😀x", and 51 letters and an emoji a CN cut inside the emoji: "URIError: URI malformed".
        // A name such as "apicBundle" stays the default endpointId: refusing it would make an upgrade
        // re-issue a deployed bundle under a new CN.
        const { issuing } = await bankIssuer();
        const bundle = (name: string, extra: pulumi.Inputs = {}): [string, pulumi.Inputs, string] => [
            "ApicClientBundle",
            {
                clientCa: issuing,
                identity: "urn:bank:apic",
                serverTrustBundlePem: gatewayServerRootPem,
                keyAlgorithm: "ECDSA",
                ...extra,
            },
            name,
        ];
        const long = `${"a".repeat(51)}😀`;
        const notAscii = (shown: string) =>
            `ApicClientBundle endpointId (default: the component's name) must be printable ASCII, as the certificate's CN and the PKCS#12 friendly name are made of it; got ${shown}. Pass endpointId (an id), or give the component a name in printable ASCII`;
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                bundle("ob😀x"),
                bundle(long),
                bundle("tab\tname"),
                bundle("ob", { endpointId: "Payments OB" }),
            ]),
            {
                messages: [
                    notAscii('"ob😀x"'),
                    notAscii(`"${long}"`),
                    notAscii('"tab\\tname"'),
                    `ApicClientBundle endpointId must be an id (lower-case letters, digits and '-', not starting or ending with '-'); got "Payments OB"`,
                ],
                children: [],
            },
        );
        const made = [
            "random:index/randomPassword:RandomPassword",
            "tls:index/privateKey:PrivateKey",
            "tls:index/certRequest:CertRequest",
            "tls:index/locallySignedCert:LocallySignedCert",
        ];
        for (const taken of [bundle("apicBundle"), bundle("Payments OB"), bundle("ob😀x", { endpointId: "ob" })]) {
            assert.deepStrictEqual(await refusalsBeforeChildren([taken]), { messages: ["accepted"], children: made });
        }
        // A common name is cut to RFC 5280's 64 characters, as X.509 counts them: never inside an emoji.
        const leaf = { keyAlgorithm: "ECDSA", validityDays: 365, earlyRenewalDays: 30 } as const;
        const { subject } = apicClientCert({ ...leaf, endpointId: `${long}b`, identity: "urn:bank:apic", epoch: 0 });
        assert.strictEqual(subject.commonName, `apic-client ${long}`);
    });

    it("counts a subject's characters as X.509 does: 64 with an emoji are taken, 65 refused", async () => {
        // RFC 5280 ub-common-name is 64 characters; the emoji is one, though two UTF-16 units.
        const sixtyFour = `Example Bank \u{1F3E6} ${"x".repeat(49)}`;
        assert.deepStrictEqual([[...sixtyFour].length, sixtyFour.length], [64, 65]);
        const { outputs } = await runWithStandIn(async () => {
            const { state } = await provider.construct(
                "emoji-root",
                token("RootCa"),
                {
                    subject: { commonName: sixtyFour, organization: sixtyFour },
                    keyAlgorithm: "ECDSA",
                },
                {},
            );
            return state.certPem as string;
        });
        assert.strictEqual(new crypto.X509Certificate(outputs).subject, `O=${sixtyFour}\nCN=${sixtyFour}`);
        assert.strictEqual(
            await refusal("RootCa", { subject: { commonName: `${sixtyFour}x` }, keyAlgorithm: "ECDSA" }),
            `RootCa subject.commonName must be 1 to 64 characters (RFC 5280), not blank; got "${sixtyFour}x" (65)`,
        );
    });

    it("refuses an input name a component does not know, naming it and the ones it takes, instead of leaving the default in force", async () => {
        // SDKs of other languages send what they are given (a Python dict, a YAML map): a misspelt
        // strictMtls or verifyCertificateSpki would leave the mesh permissive or the key unpinned.
        assert.deepStrictEqual(
            await refusals(COMPONENTS.map((component) => [component, { validityDay: 30 }])),
            COMPONENTS.map(
                (component) =>
                    `${component} has no input "validityDay"; its inputs are ${takes(schema.resources[token(component)].inputProperties)}. Fix the spelling or remove it`,
            ),
        );
        const pem = "x";
        const key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        const members = (type: string) => takes(schema.types[token(type)].properties);
        assert.deepStrictEqual(
            await refusals([
                ["MeshPluginCa", { cluster: "east", strictMTLS: true }],
                ["RootCa", { subject: { commonName: "r", organisation: "Example Bank" } }],
                [
                    "IntermediateCa",
                    {
                        subject: { commonName: "i" },
                        rootCa: { certPem: pem, privateKey: key },
                    },
                ],
                [
                    "MeshPluginCa",
                    {
                        cluster: "east",
                        issuer: { certPem: pem, privateKeyPem: key, rootCertPEM: pem },
                    },
                ],
                ["MeshPluginCa", { cluster: "east", offlineRoot: { rootCertPem: pem, signedCert: pem } }],
                [
                    "IstioGatewayTls",
                    {
                        serverCa: { certPem: pem, privateKeyPem: key, chainPem: pem },
                        clientTrustBundlePem: pem,
                        endpoints: [
                            { id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"] },
                            {
                                id: "b",
                                host: "b.bank.example",
                                clientSubjectAltNames: ["urn:b"],
                                verifyCertificateSPKI: [pem],
                            },
                        ],
                    },
                ],
                [
                    "ApicClientBundle",
                    {
                        clientCa: { certPem: pem, privateKeyPEM: key, chainPem: pem },
                        identity: "urn:x",
                        serverTrustBundlePem: pem,
                    },
                ],
                ["CustomerFacingTls", { hosts: [{ host: "www.bank.example", certificatePEM: pem }] }],
            ]),
            [
                `MeshPluginCa has no input "strictMTLS"; its inputs are ${takes(schema.resources[token("MeshPluginCa")].inputProperties)}. Fix the spelling or remove it`,
                `RootCa subject has no input "organisation"; its inputs are ${members("CertificateSubject")}. Fix the spelling or remove it`,
                `IntermediateCa rootCa has no input "privateKey"; its inputs are ${members("RootCaPem")}. Fix the spelling or remove it`,
                `MeshPluginCa issuer has no input "rootCertPEM"; its inputs are ${members("CaSigner")}. Fix the spelling or remove it`,
                `MeshPluginCa offlineRoot has no input "signedCert"; its inputs are ${members("OfflineSigner")}. Fix the spelling or remove it`,
                `IstioGatewayTls endpoints[1] has no input "verifyCertificateSPKI"; its inputs are ${members("GatewayEndpoint")}. Fix the spelling or remove it`,
                // The name, never the value: a misspelt key's value may be a private key.
                `ApicClientBundle clientCa has no input "privateKeyPEM"; its inputs are ${members("IssuingCa")}. Fix the spelling or remove it`,
                `CustomerFacingTls hosts[0] has no input "certificatePEM"; its inputs are ${members("CustomerFacingHost")}. Fix the spelling or remove it`,
            ],
        );
    });

    it("refuses a misspelt input of a CA given as one secret output (YAML fn::secret, a Python apply returning a dict) as in a plain object, before any child", async () => {
        const root = await mintRoot("Bank root");
        const key = root.keyPem;
        const members = (type: string) => takes(schema.types[token(type)].properties);
        const typo = { certPem: root.certPem, privateKey: key };
        const outcomes = await refusalsOnceResolved([
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: pulumi.secret(typo) }],
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: typo }],
            ["MeshPluginCa", { cluster: "east", issuer: pulumi.secret({ ...typo, chainPem: root.certPem }) }],
            [
                "ApicServerCertificate",
                { serverCa: pulumi.secret({ ...typo, chainPem: root.certPem }), host: "apic.bank.example" },
            ],
        ]);
        const rootCa = `IntermediateCa rootCa has no input "privateKey"; its inputs are ${members("RootCaPem")}. Fix the spelling or remove it`;
        assert.deepStrictEqual(outcomes, [
            { message: rootCa, children: [] },
            { message: rootCa, children: [] },
            {
                message: `MeshPluginCa issuer has no input "privateKey"; its inputs are ${members("CaSigner")}. Fix the spelling or remove it`,
                children: [],
            },
            {
                message: `ApicServerCertificate serverCa has no input "privateKey"; its inputs are ${members("IssuingCa")}. Fix the spelling or remove it`,
                children: [],
            },
        ]);
        // The value is never shown, secret or not.
        for (const { message } of outcomes) assert.ok(!message.includes(key.split("\n")[1]));
    });

    it("refuses a CA given as one secret output that resolves to text or a list as no object, as a plain one, without showing it, before any child", async () => {
        // pulumi.secret(<key PEM>) where rootCa belongs was read member by member: "rootCa: certPem
        // must be PEM text of a certificate; got undefined (a stack reference's missing output?)".
        const root = await mintRoot("Bank root");
        const key = root.keyPem;
        const signerShape = "{ certPem, chainPem?, privateKeyPem, rootCertPem }";
        const outcomes = await refusalsOnceResolved([
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: pulumi.secret(key) }],
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: pulumi.secret([root.certPem, key]) }],
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: key }],
            ["MeshPluginCa", { cluster: "east", issuer: pulumi.secret(key) }],
            ["ApicServerCertificate", { serverCa: pulumi.secret(7), host: "apic.bank.example" }],
            // Not secret, it is shown as a plain value is (a key masked).
            ["IntermediateCa", { subject: { commonName: "i" }, rootCa: pulumi.output([root.certPem, key]) }],
        ]);
        assert.deepStrictEqual(outcomes, [
            {
                message: "IntermediateCa rootCa must be { certPem, privateKeyPem }; got a secret string, not shown",
                children: [],
            },
            {
                message: "IntermediateCa rootCa must be { certPem, privateKeyPem }; got a secret list, not shown",
                children: [],
            },
            {
                message:
                    'IntermediateCa rootCa must be { certPem, privateKeyPem }; got "(a private key, not shown)\\n"',
                children: [],
            },
            { message: `MeshPluginCa issuer must be ${signerShape}; got a secret string, not shown`, children: [] },
            {
                message:
                    "ApicServerCertificate serverCa must be { certPem, chainPem, privateKeyPem }; got a secret number, not shown",
                children: [],
            },
            {
                message: `IntermediateCa rootCa must be { certPem, privateKeyPem }; got ["${root.certPem.replace(/\n/g, "\\n")}","(a private key, not shown)\\n"]`,
                children: [],
            },
        ]);
        for (const { message } of outcomes) assert.ok(!message.includes(key.split("\n")[1]));
    });

    it("refuses the inputs a component requires when another language leaves them out, naming them instead of a JavaScript error", async () => {
        const names = (list: string[]) =>
            list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
        assert.deepStrictEqual(
            await refusals(COMPONENTS.map((component) => [component, {}])),
            COMPONENTS.map((component) => {
                const required = schema.resources[token(component)].requiredInputs;
                return `${component} needs ${names(required)}; give ${required.length === 1 ? "it" : "them"}`;
            }),
        );
        const pem = "x";
        assert.deepStrictEqual(
            await refusals([
                [
                    "IstioGatewayTls",
                    {
                        serverCa: { certPem: pem, privateKeyPem: pem, chainPem: pem },
                        clientTrustBundlePem: pem,
                        endpoints: [{ host: "a.bank.example", clientSubjectAltNames: ["urn:a"] }],
                    },
                ],
                [
                    "ApicClientBundle",
                    {
                        clientCa: { certPem: pem, privateKeyPem: pem },
                        identity: "urn:x",
                        serverTrustBundlePem: pem,
                    },
                ],
                ["MeshPluginCa", { cluster: "east", issuer: { certPem: pem, privateKeyPem: pem } }],
            ]),
            [
                // Else the endpoint's secret would be "apic-mtls-undefined".
                "IstioGatewayTls endpoints[0] needs id; give it",
                "ApicClientBundle clientCa needs chainPem; give it",
                "MeshPluginCa issuer needs rootCertPem; give it",
            ],
        );
    });

    it("refuses arguments a JavaScript caller leaves out or gives as no object, naming the inputs, instead of a TypeError", async () => {
        // A JavaScript program calls the constructors itself, with whatever it has: no arguments,
        // null, text. TypeScript refuses these; JavaScript read `args.subject` and failed there.
        const exported = components as unknown as Record<string, new (name: string, args?: unknown) => unknown>;
        const shape = (component: string) => {
            const { inputProperties, requiredInputs } = schema.resources[token(component)];
            const names = Object.keys(inputProperties).sort();
            return `{ ${names.map((name) => (requiredInputs.includes(name) ? name : `${name}?`)).join(", ")} }`;
        };
        const cases: [string, unknown, string][] = COMPONENTS.flatMap((component): [string, unknown, string][] => [
            [component, undefined, "nothing"],
            [component, null, "null"],
        ]);
        cases.push(["RootCa", "CN=root", "text"], ["ApicEgress", ["apic.bank.example"], "a list"]);
        const { outputs, engine } = await runWithStandIn(() =>
            cases.map(([component, args], i) => {
                try {
                    new exported[component](`js-${i}`, args);
                    return "accepted";
                } catch (error) {
                    return (error as Error).message;
                }
            }),
        );
        assert.deepStrictEqual(
            outputs,
            cases.map(([component, , got]) => `${component} arguments must be ${shape(component)}; got ${got}`),
        );
        assert.deepStrictEqual(
            engine.resources.filter((r) => !r.type.startsWith(`${PACKAGE.name}:`)),
            [],
            "no child is registered",
        );
    });

    it("takes a signer given as null (None, ~) as not given, as it takes any other input", async () => {
        const { root, issuing } = await bankIssuer();
        const subject = { commonName: "Bank CA" };
        const rootCa = { certPem: root.certPem, privateKeyPem: root.keyPem };
        const issuer = { ...issuing, rootCertPem: root.certPem };
        assert.deepStrictEqual(
            await refusals([
                ["IntermediateCa", { subject, keyAlgorithm: "ECDSA", rootCa: null }],
                ["IntermediateCa", { subject, keyAlgorithm: "ECDSA", rootCa, issuer: null, offlineRoot: null }],
                ["MeshPluginCa", { cluster: "east", keyAlgorithm: "ECDSA", issuer, rootCa: null, offlineRoot: null }],
            ]),
            [
                "IntermediateCa needs exactly one of rootCa (a RootCa of this program), issuer (an existing CA as PEM) and offlineRoot (a CA signed by the offline ceremony); got none",
                "accepted",
                "accepted",
            ],
        );
        // Not signed yet: a key and a CSR for the ceremony, no cacerts for istiod, as when left out.
        assert.deepStrictEqual(
            await refusalsBeforeChildren([
                [
                    "MeshPluginCa",
                    {
                        cluster: "west",
                        keyAlgorithm: "ECDSA",
                        offlineRoot: { rootCertPem: root.certPem, signedCertPem: null },
                    },
                ],
            ]),
            {
                messages: ["accepted"],
                children: ["tls:index/privateKey:PrivateKey", "tls:index/certRequest:CertRequest"],
            },
        );
    });

    it("takes every other optional input given as null (None, ~) as not given too: the same children as when left out", async () => {
        // Null kept as a value crashed with a TypeError and its stack (an issuer's chainPem: null),
        // refused a customer-facing host's certificatePem: null as holding no certificate, or
        // refused keyAlgorithm: null and a CRL of null as "got object".
        const { root, issuing } = await bankIssuer();
        const rootIssuer = { certPem: root.certPem, privateKeyPem: root.keyPem, rootCertPem: root.certPem };
        const components: [string, pulumi.Inputs][] = [
            ["RootCa", { subject: { commonName: "r", organization: null } }],
            [
                "IntermediateCa",
                { subject: { commonName: "i", organization: null }, issuer: { ...rootIssuer, chainPem: null } },
            ],
            [
                "ApicClientBundle",
                { clientCa: issuing, identity: "urn:bank:apic", serverTrustBundlePem: gatewayServerRootPem },
            ],
            [
                "IstioGatewayTls",
                {
                    serverCa: issuing,
                    clientTrustBundlePem: root.certPem,
                    endpoints: [
                        {
                            id: "a",
                            host: "a.bank.example",
                            clientSubjectAltNames: ["urn:bank:apic"],
                            verifyCertificateSpki: null,
                            epoch: null,
                            secretName: null,
                        },
                    ],
                },
            ],
            ["MeshPluginCa", { cluster: "east", issuer: { ...rootIssuer, chainPem: null } }],
            uiClient({ root, issuing }, {}),
            ["ApicEgress", { namespace: "ui", hosts: ["apic.bank.example"] }],
            ["ApicServerCertificate", { serverCa: issuing, host: "apic.bank.example" }],
            [
                "CustomerFacingTls",
                {
                    hosts: [
                        {
                            host: "www.bank.example",
                            id: null,
                            epoch: null,
                            certificateEpoch: null,
                            certificatePem: null,
                            secretName: null,
                        },
                    ],
                },
            ],
        ];
        /** The inputs with each optional top-level input the component does not get above set to null. */
        const withNulls = ([component, inputs]: [string, pulumi.Inputs]): [string, pulumi.Inputs] => {
            const { inputProperties, requiredInputs } = schema.resources[token(component)];
            const nulls = Object.keys(inputProperties)
                .filter((name) => !requiredInputs.includes(name) && !(name in inputs))
                // A signer of null is the test above's; an RSA key (the default) would be slow to make.
                .filter((name) => !["rootCa", "issuer", "offlineRoot", "keyAlgorithm"].includes(name))
                .map((name) => [name, null]);
            const ecdsa = "keyAlgorithm" in inputProperties ? { keyAlgorithm: "ECDSA" } : {};
            return [component, { ...inputs, ...Object.fromEntries(nulls), ...ecdsa }];
        };
        /** The inputs with every member set to null left out, at any depth. */
        const leftOut = (value: unknown): unknown =>
            Array.isArray(value)
                ? value.map(leftOut)
                : typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
                  ? Object.fromEntries(
                        Object.entries(value)
                            .filter(([, member]) => member !== null)
                            .map(([name, member]) => [name, leftOut(member)]),
                    )
                  : value;
        const children = async (calls: [string, pulumi.Inputs][]) => {
            const { messages, children } = await refusalsBeforeChildren(calls);
            return { messages, children: children.sort() };
        };
        const given = components.map(withNulls);
        const withNull = await children(given);
        assert.deepStrictEqual(
            withNull.messages,
            given.map(() => "accepted"),
        );
        assert.deepStrictEqual(
            withNull,
            await children(given.map(([component, inputs]) => [component, leftOut(inputs) as pulumi.Inputs])),
        );
        // keyAlgorithm: null is not refused either (the refusal is maxPathLength's, checked after it).
        assert.deepStrictEqual(
            await refusals([
                ["RootCa", { subject: { commonName: "r" }, keyAlgorithm: null, maxPathLength: 0 }],
                [
                    "IntermediateCa",
                    {
                        subject: { commonName: "i" },
                        keyAlgorithm: "ECDSA",
                        issuer: { ...issuing, rootCertPem: root.certPem, chainPem: null },
                    },
                ],
            ]),
            [
                'RootCa maxPathLength must be a whole number >= 1; got 0. @pulumi/tls writes 0 as "no limit", so 0 cannot forbid sub-CAs',
                "IntermediateCa issuer: chainPem is missing and certPem (CN=Bank issuing CA) is not a root; give its certificate and every CA above it, up to the root",
            ],
        );
    });

    it("states each optional input's default in its description, as its @default tag does, since the schema has none", () => {
        // Pulumi's inference reads a comment's text, not its tags: without the sentence a Python
        // or YAML user would not learn that an unset validityDays means ten years.
        const interfaces = componentInterfaces();
        const defaultOf = (name: string, property: string): string | undefined => {
            const found = interfaces.get(name);
            if (found === undefined) return undefined;
            return found.defaults.get(property) ?? found.bases.map((base) => defaultOf(base, property)).find(Boolean);
        };
        const owners: [string, string, Record<string, Property>][] = [
            ...COMPONENTS.map((c): [string, string, Record<string, Property>] => [
                c,
                `${c}Args`,
                schema.resources[token(c)].inputProperties,
            ]),
            ...Object.entries(schema.types).flatMap(([t, type]): [string, string, Record<string, Property>][] =>
                type.properties === undefined ? [] : [[t.split(":")[2], t.split(":")[2], type.properties]],
            ),
        ];
        const problems: string[] = [];
        for (const [owner, declaration, properties] of owners) {
            assert.ok(interfaces.has(declaration), declaration);
            for (const [name, property] of Object.entries(properties)) {
                const tag = defaultOf(declaration, name);
                if (property.optional === true && tag === undefined) problems.push(`${owner}.${name} has no @default`);
                if (tag !== undefined && !(property.description ?? "").endsWith(`\nDefault: ${tag}.`))
                    problems.push(`${owner}.${name}: ${JSON.stringify(property.description)} lacks "Default: ${tag}."`);
            }
        }
        assert.deepStrictEqual(problems, []);
        const mesh = schema.resources[token("MeshPluginCa")].inputProperties;
        assert.strictEqual(
            mesh.strictMtls.description,
            "Also create a mesh-wide PeerAuthentication `default` in istio-system with mTLS mode STRICT.\nDefault: false.",
        );
        assert.strictEqual(
            schema.types[token("GatewayEndpoint")].properties?.secretName.description,
            "Name of the `kubernetes.io/tls` secret (`credentialName`); not ending in `-cacert`, which\nIstio reads as another Secret's client CA, and not `cacerts`, istiod's plug-in CA.\nDefault: `apic-mtls-<id>`.",
        );
    });

    it("refuses an issuer below the root given without its chainPem, whose CA's chains would stop short of the root", async () => {
        const root = await mintRoot("Bank root");
        const issuer = await mintSubCa(root, "Bank issuing CA");
        const inputs = (chainPem?: string) => ({
            subject: { commonName: "Team CA" },
            keyAlgorithm: "ECDSA",
            issuer: {
                certPem: issuer.certPem,
                privateKeyPem: issuer.keyPem,
                rootCertPem: root.certPem,
                ...(chainPem === undefined ? {} : { chainPem }),
            },
        });
        assert.strictEqual(
            await refusal("IntermediateCa", inputs()),
            "IntermediateCa issuer: chainPem is missing and certPem (CN=Bank issuing CA) is not a root; give its certificate and every CA above it, up to the root",
        );
        assert.deepStrictEqual(await intermediateChains(inputs(issuer.certPem)), [
            ["CN=Team CA", "CN=Bank issuing CA"],
            ["CN=Team CA", "CN=Bank issuing CA", "CN=Bank root"],
        ]);
    });

    it("refuses a PEM input whose output resolves to nothing, a stack reference's missing output, by its name instead of a TypeError and its stack", async () => {
        // A Python or YAML program's missing stack-reference output arrives as an output of null;
        // read as text, it failed with "Cannot read properties of null (reading 'matchAll')".
        const { root, ca, issuing } = await bankIssuer();
        const failure = (component: string, inputs: pulumi.Inputs) =>
            runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), {
                state: new Map(),
                stackTraces: true,
            }).then(
                () => `${component} accepted`,
                // The message alone when the host prints it so; the SDK prefixes the properties it was serializing.
                (error: Error) => (printed(error) === error.message ? refusalText(error) : printed(error)),
            );
        const issuer = {
            certPem: ca.certPem,
            privateKeyPem: ca.keyPem,
            chainPem: ca.certPem,
            rootCertPem: root.certPem,
        };
        const missing = (value: null | undefined) => `${value} (a stack reference's missing output?)`;
        assert.deepStrictEqual(
            [
                await failure("IntermediateCa", {
                    subject: { commonName: "i" },
                    keyAlgorithm: "ECDSA",
                    offlineRoot: { rootCertPem: pulumi.output(undefined) },
                }),
                await failure("MeshPluginCa", {
                    cluster: "east",
                    keyAlgorithm: "ECDSA",
                    offlineRoot: { rootCertPem: pulumi.output(null) },
                }),
                await failure("CustomerFacingTls", {
                    hosts: [{ host: "www.bank.example", certificatePem: pulumi.output(null) }],
                    keyAlgorithm: "ECDSA",
                }),
                await failure("IntermediateCa", {
                    subject: { commonName: "i" },
                    keyAlgorithm: "ECDSA",
                    issuer: { ...issuer, rootCertPem: pulumi.output(undefined) },
                }),
                await failure("MeshPluginCa", {
                    cluster: "east",
                    keyAlgorithm: "ECDSA",
                    issuer: { ...issuer, rootCertPem: pulumi.output(null) },
                }),
                // An issuer given as one output lacks rootCertPem, a CA signer's: refused once it resolves, as a plain one is.
                await failure("IntermediateCa", {
                    subject: { commonName: "i" },
                    keyAlgorithm: "ECDSA",
                    issuer: pulumi.secret(issuing),
                }),
                // A RootCa's certPem is also the CA's rootCertPem: named as given.
                await failure("IntermediateCa", {
                    subject: { commonName: "i" },
                    keyAlgorithm: "ECDSA",
                    rootCa: { certPem: pulumi.output(undefined), privateKeyPem: root.keyPem },
                }),
                await failure("ApicServerCertificate", {
                    serverCa: { ...issuing, privateKeyPem: pulumi.secret(null) },
                    host: "apic.bank.example",
                    keyAlgorithm: "ECDSA",
                }),
                // Trust bundles and CRLs are checked in lib/pki: the same words.
                await failure("IstioGatewayTls", {
                    serverCa: issuing,
                    clientTrustBundlePem: pulumi.output(null),
                    endpoints: [{ id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"] }],
                    keyAlgorithm: "ECDSA",
                }),
                await failure("IstioGatewayTls", {
                    serverCa: issuing,
                    clientTrustBundlePem: root.certPem,
                    clientCrlPem: pulumi.output(undefined),
                    endpoints: [{ id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"] }],
                    keyAlgorithm: "ECDSA",
                }),
            ],
            [
                `IntermediateCa offlineRoot.rootCertPem must be PEM text of the offline root's certificate (root.crt of the ceremony); got ${missing(undefined)}`,
                `MeshPluginCa offlineRoot.rootCertPem must be PEM text of the offline root's certificate (root.crt of the ceremony); got ${missing(null)}`,
                `CustomerFacingTls bad: the certificatePem given for www.bank.example must be PEM text of the public CA's certificate, then its chain; got ${missing(null)}; leave certificatePem out until the certificate comes`,
                `IntermediateCa issuer: rootCertPem must be PEM text of a certificate; got ${missing(undefined)}`,
                `MeshPluginCa issuer: rootCertPem must be PEM text of a certificate; got ${missing(null)}`,
                "IntermediateCa issuer needs rootCertPem; give it",
                `IntermediateCa rootCa: certPem must be PEM text of a certificate; got ${missing(undefined)}`,
                `ApicServerCertificate serverCa: privateKeyPem must be PEM text of a private key; got ${missing(null)}`,
                `IstioGatewayTls clientTrustBundlePem must be PEM text of CA certificates; got ${missing(null)}`,
                `IstioGatewayTls bad: clientCrlPem must be PEM text of CRLs; got ${missing(undefined)}`,
            ],
        );
    });

    it("registers no child of a component whose issuer, given as outputs, is refused once they resolve: no key, CSR, Gateway, rule or password", async () => {
        // The issuer is checked in an apply; before, the children that take nothing from it were
        // registered all the same, and pulumi up made them: a Gateway naming a Secret never made.
        const { root, ca, issuing } = await bankIssuer();
        // Outputs, as a Python or YAML program passes another resource's; the root's key, not the CA's.
        const issuer = {
            certPem: pulumi.output(ca.certPem),
            privateKeyPem: pulumi.secret(root.keyPem),
            chainPem: pulumi.output(ca.certPem),
        };
        const signer = { ...issuer, rootCertPem: root.certPem };
        const calls: [string, pulumi.Inputs][] = [
            [
                "IstioGatewayTls",
                {
                    serverCa: issuer,
                    clientTrustBundlePem: root.certPem,
                    endpoints: [{ id: "pay", host: "pay.bank.example", clientSubjectAltNames: ["urn:bank:apic"] }],
                    keyAlgorithm: "ECDSA",
                },
            ],
            uiClient({ root, issuing }, { clientCa: issuer }),
            [
                "ApicClientBundle",
                {
                    clientCa: issuer,
                    identity: "urn:bank:apic-client:ob",
                    serverTrustBundlePem: gatewayServerRootPem,
                    keyAlgorithm: "ECDSA",
                },
            ],
            ["ApicServerCertificate", { serverCa: issuer, host: "apic.bank.example", keyAlgorithm: "ECDSA" }],
            ["IntermediateCa", { subject: { commonName: "Team CA" }, keyAlgorithm: "ECDSA", issuer: signer }],
            ["MeshPluginCa", { cluster: "east", keyAlgorithm: "ECDSA", strictMtls: true, issuer: signer }],
        ];
        const outcomes = [];
        for (const [component, inputs] of calls) {
            const state = new Map();
            const message = await runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), {
                state,
            }).then(
                () => "accepted",
                // The SDK prefixes the properties it was serializing.
                (error: Error) => refusalText(error),
            );
            outcomes.push({ message, registered: [...state.keys()] });
        }
        const refused = (component: string, argument: string) => ({
            message: `${component} ${argument}: privateKeyPem is not the key of certPem`,
            registered: [`${token(component)}::bad`],
        });
        assert.deepStrictEqual(outcomes, [
            refused("IstioGatewayTls", "serverCa"),
            refused("UiApicClient", "clientCa"),
            refused("ApicClientBundle", "clientCa"),
            refused("ApicServerCertificate", "serverCa"),
            refused("IntermediateCa", "issuer"),
            refused("MeshPluginCa", "issuer"),
        ]);
    });

    it("refuses an issuer's chainPem that is no text (a list, number, map or flag) by its name, plain in the call and as an output once it resolves", async () => {
        // Before, a TypeError and its stack: "error serializing property "caCertPem": text.matchAll is not a function".
        const { root, ca, issuing } = await bankIssuer();
        const notText = [[ca.certPem, root.certPem], 5, { pem: ca.certPem }, true];
        const server = (chainPem: unknown): [string, pulumi.Inputs] => [
            "ApicServerCertificate",
            { serverCa: { ...issuing, chainPem }, host: "apic.bank.example", keyAlgorithm: "ECDSA" },
        ];
        const intermediate = (chainPem: unknown): [string, pulumi.Inputs] => [
            "IntermediateCa",
            {
                subject: { commonName: "Team CA" },
                keyAlgorithm: "ECDSA",
                issuer: { ...issuing, chainPem, rootCertPem: root.certPem },
            },
        ];
        const expected = ["object", "number", "object", "boolean"].flatMap((got) => [
            `ApicServerCertificate serverCa: chainPem must be PEM text of certificates; got ${got}`,
            `IntermediateCa issuer: chainPem must be PEM text of certificates; got ${got}`,
        ]);
        assert.deepStrictEqual(
            await refusalsBeforeChildren(notText.flatMap((chainPem) => [server(chainPem), intermediate(chainPem)])),
            { messages: expected, children: [] },
        );
        const inApply = [];
        for (const chainPem of notText) {
            for (const [component, inputs] of [
                server(pulumi.output(chainPem)),
                intermediate(pulumi.output(chainPem)),
            ]) {
                const state = new Map();
                inApply.push(
                    await runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), {
                        state,
                        stackTraces: true,
                    }).then(
                        () => `${component} accepted`,
                        (error: Error) =>
                            printed(error) === error.message && state.size === 1
                                ? refusalText(error)
                                : `${printed(error)} (registered ${[...state.keys()].join(", ")})`,
                    ),
                );
            }
        }
        assert.deepStrictEqual(inApply, expected);
    });

    it("leaves the root an issuer's chainPem ends in out of an IntermediateCa's chainPem, and puts it in its trustBundlePem once", async () => {
        // Before, chainPem held the root, against its docs, and trustBundlePem held it twice.
        const { root, ca } = await bankIssuer();
        const chains = await intermediateChains({
            subject: { commonName: "Team CA" },
            keyAlgorithm: "ECDSA",
            issuer: {
                certPem: ca.certPem,
                privateKeyPem: ca.keyPem,
                chainPem: ca.certPem + root.certPem,
                rootCertPem: root.certPem,
            },
        });
        assert.deepStrictEqual(chains, [
            ["CN=Team CA", "CN=Bank issuing CA"],
            ["CN=Team CA", "CN=Bank issuing CA", "CN=Bank root"],
        ]);
    });

    it("registers no key, Secret or Gateway of an IstioGatewayTls whose trust bundle, CRLs, identities or pins, given as outputs, are refused once they resolve", async () => {
        // Checked in applies; before, the key, CSR and certificate were registered all the same,
        // and with a refused ca.crt or ca.crl the Gateway too, naming a Secret never made.
        const { root, issuing, notCaPem, otherRootCrl, rootCrlWithBareKey } = await refusedInputs();
        const gateway = (extra: pulumi.Inputs, endpoint: pulumi.Inputs = {}): [string, pulumi.Inputs] => [
            "IstioGatewayTls",
            {
                serverCa: issuing,
                clientTrustBundlePem: root.certPem,
                endpoints: [
                    { id: "pay", host: "pay.bank.example", clientSubjectAltNames: ["urn:bank:apic"], ...endpoint },
                ],
                keyAlgorithm: "ECDSA",
                ...extra,
            },
        ];
        const outcomes = await refusalsOnceResolved([
            gateway({ clientTrustBundlePem: pulumi.output(notCaPem) }),
            gateway({ clientCrlPem: pulumi.output(otherRootCrl) }),
            gateway({ clientCrlPem: pulumi.output(rootCrlWithBareKey) }),
            gateway({}, { clientSubjectAltNames: [pulumi.output("")] }),
            gateway({}, { verifyCertificateSpki: pulumi.output(["abc"]) }),
        ]);
        const refused = (message: string) => ({ message, children: [] });
        assert.deepStrictEqual(outcomes, [
            refused(
                "IstioGatewayTls clientTrustBundlePem holds CN=Not a CA, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead",
            ),
            refused(
                "IstioGatewayTls bad: clientCrlPem holds no CRL signed by CN=Bank root of clientTrustBundlePem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so every client would be refused; add that root's CRL",
            ),
            refused(
                "IstioGatewayTls bad: clientCrlPem holds a private key (its base64 without the BEGIN and END lines): ca.crl is copied in clear into every Secret that carries it, so take the key out (and replace it if the text has been shared); give CRLs only",
            ),
            refused(
                'IstioGatewayTls endpoint "pay" clientSubjectAltNames[0] must be a client identity (non-blank text); got ""',
            ),
            refused(
                'IstioGatewayTls endpoint "pay" verifyCertificateSpki[0] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, as ApicClientBundle.spkiPin gives); got "abc": Envoy would refuse the gateway\'s configuration',
            ),
        ]);
    });

    it("registers no key, Secret or DestinationRule of a UiApicClient whose apicTrustPem or apicCrlPem, given as outputs, are refused once they resolve", async () => {
        // Checked in applies; before, the key, CSR, certificate and DestinationRule were registered
        // all the same: a rule naming a Secret never made.
        const { root, issuing, notCaPem, otherRootCrl, rootCrlWithBareKey } = await refusedInputs();
        const outcomes = await refusalsOnceResolved([
            uiClient({ root, issuing }, { apicTrustPem: pulumi.output(notCaPem) }),
            uiClient({ root, issuing }, { apicCrlPem: pulumi.output(otherRootCrl) }),
            uiClient({ root, issuing }, { apicCrlPem: pulumi.output(rootCrlWithBareKey) }),
        ]);
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    "UiApicClient apicTrustPem holds CN=Not a CA, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead",
                children: [],
            },
            {
                message:
                    "UiApicClient bad: apicCrlPem holds no CRL signed by CN=Bank root of apicTrustPem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so APIC would be refused; add that root's CRL",
                children: [],
            },
            {
                message:
                    "UiApicClient bad: apicCrlPem holds a private key (its base64 without the BEGIN and END lines): ca.crl is copied in clear into every Secret that carries it, so take the key out (and replace it if the text has been shared); give CRLs only",
                children: [],
            },
        ]);
    });

    it("refuses, from another language, an ApicClientBundle serverTrustBundlePem holding the APIC client CA or its root, and takes the gateway server root", async () => {
        const { root, ca, issuing } = await bankIssuer();
        const bundle = (serverTrustBundlePem: string) =>
            refusal("ApicClientBundle", { clientCa: issuing, identity: "urn:bank:apic", serverTrustBundlePem });
        const fix =
            "APIC would accept, as the gateway, a server certificate for any host that the APIC client CA's key (in Pulumi state) signs, " +
            "as that CA has no extendedKeyUsage. Give the gateway server CA's trustBundlePem";
        assert.deepStrictEqual(
            [await bundle(root.certPem), await bundle(ca.certPem + root.certPem), await bundle(gatewayServerRootPem)],
            [
                "ApicClientBundle serverTrustBundlePem holds CN=Bank root, the root that issued clientCa's chain, and no CA it issued besides clientCa's: " +
                    `${fix} (under a root shared with clientCa's, that bundle holds the gateway server CA too)`,
                `ApicClientBundle serverTrustBundlePem holds CN=Bank issuing CA, which has clientCa's own key: ${fix}`,
                "accepted",
            ],
        );
    });

    it("registers no key or password of an ApicClientBundle whose serverTrustBundlePem, given as an output, is refused once it resolves", async () => {
        // Checked in an apply; before, the key, CSR, certificate and PKCS#12 password were made all the same.
        const { ca, issuing } = await bankIssuer();
        const leaf = await mintLeaf(ca, {
            commonName: "Not a CA",
            dnsNames: ["x.bank.example"],
            allowedUses: ["server_auth"],
        });
        const outcomes = await refusalsOnceResolved([
            [
                "ApicClientBundle",
                {
                    clientCa: issuing,
                    identity: "urn:bank:apic-client:ob",
                    serverTrustBundlePem: pulumi.output(leaf.cert),
                    keyAlgorithm: "ECDSA",
                },
            ],
        ]);
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    "ApicClientBundle serverTrustBundlePem holds CN=Not a CA, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead",
                children: [],
            },
        ]);
    });

    it("makes no key or CSR of a CA whose offlineRoot.rootCertPem, given as an output, is refused once it resolves", async () => {
        // Checked in applies; before, the CA's key and CSR were made all the same.
        const { root } = await bankIssuer();
        const offline = (component: string, rootCertPem: pulumi.Input<string>): [string, pulumi.Inputs] => [
            component,
            {
                ...(component === "MeshPluginCa" ? { cluster: "east" } : { subject: { commonName: "Team CA" } }),
                keyAlgorithm: "ECDSA",
                offlineRoot: { rootCertPem },
            },
        ];
        const outcomes = await refusalsOnceResolved([
            offline("IntermediateCa", pulumi.output(root.certPem + root.keyPem)),
            offline("IntermediateCa", pulumi.output(root.certPem + root.certPem)),
            offline("MeshPluginCa", pulumi.secret(root.certPem + root.certPem)),
        ]);
        const twice =
            "offlineRoot.rootCertPem of bad holds 2 certificates, and each would be a trust anchor wherever this CA's rootCertPem is trusted; give the offline root's certificate alone (root.crt of the ceremony)";
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    'IntermediateCa offlineRoot.rootCertPem holds a private key (a "EC PRIVATE KEY" PEM block): certificates are handed out and stored in clear, so take the key out (and replace it if the text has been shared); give the root\'s certificate only',
                children: [],
            },
            { message: twice, children: [] },
            { message: twice, children: [] },
        ]);
    });

    it("registers no PeerAuthentication of a MeshPluginCa whose trustedRootsPem, crlPem or signed certificate, given as outputs, are refused once they resolve, nor its key, CSR or certificate for a refused trustedRootsPem", async () => {
        // Checked in applies; before, only cacerts waited on them, and pulumi up turned strict
        // mTLS on for a mesh whose CA it never installed. The CA's key waits on trustedRootsPem too:
        // before, a refused one left the key, CSR and certificate made.
        const { root, issuing, other, otherRootCrl, notCaPem } = await refusedInputs();
        const mesh = (extra: pulumi.Inputs): [string, pulumi.Inputs] => [
            "MeshPluginCa",
            {
                cluster: "east",
                keyAlgorithm: "ECDSA",
                strictMtls: true,
                issuer: { ...issuing, rootCertPem: root.certPem },
                ...extra,
            },
        ];
        const outcomes = await refusalsOnceResolved([
            mesh({ trustedRootsPem: pulumi.output(other.certPem) }),
            mesh({ trustedRootsPem: pulumi.output(root.certPem + notCaPem) }),
            mesh({ crlPem: pulumi.output(otherRootCrl) }),
            [
                "MeshPluginCa",
                {
                    cluster: "east",
                    keyAlgorithm: "ECDSA",
                    strictMtls: true,
                    offlineRoot: { rootCertPem: root.certPem, signedCertPem: pulumi.output("") },
                },
            ],
        ]);
        // With a crlPem given as an output the CA itself is made: it may hold the CA's own CRL (the
        // stack's does), so the CA cannot wait on it.
        const ca = ["tls:index/privateKey:PrivateKey::bad-key", "tls:index/certRequest:CertRequest::bad-csr"];
        const signed = [...ca, "tls:index/locallySignedCert:LocallySignedCert::bad-cert"];
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    "MeshPluginCa bad: trustedRootsPem does not hold CN=Bank root, the root this CA chains to: istiod would refuse cacerts (its cert-chain.pem does not verify against root-cert.pem) and workloads would not trust what it signs; give that root in trustedRootsPem, after the roots it held before (istiod up to 1.29 takes a changed root-cert.pem only when one holds the other's bytes)",
                children: [],
            },
            {
                message:
                    "MeshPluginCa trustedRootsPem holds CN=Not a CA, which is not a CA certificate (CA:FALSE): a peer's certificate there is trusted as itself, a pin that breaks when it is renewed; give the root CA that issued it instead",
                children: [],
            },
            {
                message:
                    "MeshPluginCa bad: crlPem holds no CRL signed by CN=Bank root of trustedRootsPem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so every workload would be refused; add that root's CRL",
                children: signed,
            },
            {
                message:
                    "MeshPluginCa offlineRoot.signedCertPem came as empty text: istiod would fail on a cacerts without its CA certificate; leave signedCertPem out until the ceremony has signed this CA's CSR",
                children: ca,
            },
        ]);
    });

    it("makes no key, CSR or certificate of a MeshPluginCa whose trustedRootsPem or crlPem, given as plain text, is refused", async () => {
        // Checked before the CA is made; before, its key, CSR and certificate were registered first.
        const { root, ca, issuing, other, otherRootCrl, rootCrlWithBareKey } = await refusedInputs();
        const mesh = (extra: pulumi.Inputs): [string, pulumi.Inputs] => [
            "MeshPluginCa",
            { cluster: "east", keyAlgorithm: "ECDSA", issuer: { ...issuing, rootCertPem: root.certPem }, ...extra },
        ];
        const outcomes = await refusalsOnceResolved([
            mesh({ trustedRootsPem: "hello" }),
            mesh({ trustedRootsPem: ca.keyPem }),
            mesh({ trustedRootsPem: other.certPem }),
            mesh({ crlPem: "garbage" }),
            mesh({ crlPem: otherRootCrl }),
            // Taken before, and the key went into cacerts' ca-crl.pem: Envoy skips text between PEM blocks.
            mesh({ crlPem: rootCrlWithBareKey }),
        ]);
        const refused = (message: string) => ({ message, children: [] });
        assert.deepStrictEqual(outcomes, [
            refused(
                "MeshPluginCa trustedRootsPem holds no PEM certificate; give the PEM certificate(s) of the CA(s) to trust",
            ),
            refused(
                'MeshPluginCa trustedRootsPem holds a private key (a "EC PRIVATE KEY" PEM block): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only',
            ),
            refused(
                "MeshPluginCa bad: trustedRootsPem does not hold CN=Bank root, the root this CA chains to: istiod would refuse cacerts (its cert-chain.pem does not verify against root-cert.pem) and workloads would not trust what it signs; give that root in trustedRootsPem, after the roots it held before (istiod up to 1.29 takes a changed root-cert.pem only when one holds the other's bytes)",
            ),
            refused(
                'MeshPluginCa bad: crlPem holds no PEM CRL; give the CRLs ("X509 CRL" blocks) of every CA of the peer\'s chains, or leave it unset for no revocation check',
            ),
            refused(
                "MeshPluginCa bad: crlPem holds no CRL signed by CN=Bank root of trustedRootsPem: once ca.crl is set Envoy checks a CRL for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so every workload would be refused; add that root's CRL",
            ),
            refused(
                "MeshPluginCa bad: crlPem holds a private key (its base64 without the BEGIN and END lines): ca.crl is copied in clear into every Secret that carries it, so take the key out (and replace it if the text has been shared); give CRLs only",
            ),
        ]);
    });

    it("registers no Gateway of a CustomerFacingTls whose certificatePem, given as an output, is refused once it resolves", async () => {
        // Checked in an apply; before, the Gateway was registered all the same, naming a Secret
        // never made. The keys and CSRs are made: the certificate is checked against its key.
        const { ca } = await bankIssuer();
        const leaf = await mintLeaf(ca, {
            commonName: "x",
            dnsNames: ["x.bank.example"],
            allowedUses: ["server_auth"],
        });
        const outcomes = await refusalsOnceResolved([
            [
                "CustomerFacingTls",
                {
                    hosts: [{ host: "www.bank.example", certificatePem: pulumi.output(leaf.cert) }],
                    keyAlgorithm: "ECDSA",
                },
            ],
        ]);
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    "CustomerFacingTls bad: the certificate given for www.bank.example is for DNS:x.bank.example, not for www.bank.example; give the certificate the public CA issued for this host's CSR",
                children: [
                    "tls:index/privateKey:PrivateKey::bad-www-bank-example-key",
                    "tls:index/certRequest:CertRequest::bad-www-bank-example-csr",
                ],
            },
        ]);
    });

    /** CustomerFacingTls's refusals of host b's plain certificatePem: "not a cert", a pasted EC key, another host's certificate. */
    const HOST_B_CERTIFICATE_REFUSALS = [
        "CustomerFacingTls bad: the certificatePem given for b.bank.example holds no certificate; give the public CA's certificate (leaf first, then its intermediates) or leave certificatePem out until it comes",
        'CustomerFacingTls bad: the certificatePem given for b.bank.example holds a private key (a "EC PRIVATE KEY" PEM block): certificates are handed out and stored in clear, so take the key out (and replace it if the text has been shared); give the public CA\'s certificate and its intermediates only',
        "CustomerFacingTls bad: the certificate given for b.bank.example is for DNS:z.bank.example, not for b.bank.example; give the certificate the public CA issued for this host's CSR",
        // Its own certificate after the issuing CA's (cat bundle cert): not "is for <the CA>".
        "CustomerFacingTls bad: the certificatePem given for b.bank.example: the certificates are out of order: certificate 2 of 2 (CN=b.bank.example) is b.bank.example's, " +
            "and certificate 1 (CN=Bank issuing CA) is a CA; put the host's certificate first, then its intermediates",
    ].map((message) => ({ message, children: [] }));

    it("makes no host's key or CSR of a CustomerFacingTls whose certificatePem, given as plain text, is refused", async () => {
        // Checked before any host's key is made; before, in an apply after every host's key and CSR.
        const { ca } = await bankIssuer();
        const other = await mintLeaf(ca, {
            commonName: "z.bank.example",
            dnsNames: ["z.bank.example"],
            allowedUses: ["server_auth"],
        });
        const own = await mintLeaf(ca, {
            commonName: "b.bank.example",
            dnsNames: ["b.bank.example"],
            allowedUses: ["server_auth"],
        });
        const hosts = (certificatePem: string): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            { hosts: [{ host: "a.bank.example" }, { host: "b.bank.example", certificatePem }], keyAlgorithm: "ECDSA" },
        ];
        const outcomes = await refusalsOnceResolved([
            hosts("not a cert"),
            hosts(ca.keyPem),
            hosts(other.cert + ca.certPem),
            hosts(ca.certPem + own.cert),
        ]);
        assert.deepStrictEqual(outcomes, HOST_B_CERTIFICATE_REFUSALS);
    });

    it("makes no host's key or CSR of a CustomerFacingTls whose certificatePem, given as plain text, is refused while its publicRootsPem comes as an output", async () => {
        // Before, with the roots to come, a plain certificate was checked only in the apply, after
        // every host's key and CSR: a pasted key, or another host's certificate, left them made.
        const { root, ca } = await bankIssuer();
        const other = await mintLeaf(ca, {
            commonName: "z.bank.example",
            dnsNames: ["z.bank.example"],
            allowedUses: ["server_auth"],
        });
        const own = await mintLeaf(ca, {
            commonName: "b.bank.example",
            dnsNames: ["b.bank.example"],
            allowedUses: ["server_auth"],
        });
        const hosts = (certificatePem: string, publicRootsPem: pulumi.Input<string>): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            {
                hosts: [{ host: "a.bank.example" }, { host: "b.bank.example", certificatePem }],
                keyAlgorithm: "ECDSA",
                publicRootsPem,
            },
        ];
        const outcomes = await refusalsOnceResolved([
            hosts("hello", pulumi.output(root.certPem)),
            hosts(ca.keyPem, pulumi.secret(root.certPem)),
            hosts(other.cert + ca.certPem, pulumi.output(root.certPem)),
            hosts(ca.certPem + own.cert, pulumi.output(root.certPem)),
        ]);
        assert.deepStrictEqual(outcomes, HOST_B_CERTIFICATE_REFUSALS);
    });

    it("makes no host's key or CSR of a CustomerFacingTls whose plain certificatePem is refused for where its chain ends, its publicRootsPem plain or an output", async () => {
        // Before, with the roots to come, where the chain ends (and the CAs up to there) was checked
        // only in the apply that also took the certified key: every host's key and CSR were made first.
        const { root, ca } = await bankIssuer();
        const other = await mintRoot("Other root");
        const day = 86_400_000;
        const oldCa = await mintSubCa(root, "Bank old CA", {
            issuedAt: new Date(Date.now() - 10 * day),
            validityHours: 48,
        });
        const spec = { commonName: "b.bank.example", dnsNames: ["b.bank.example"], allowedUses: ["server_auth"] };
        const leaf = await mintLeaf(ca, spec);
        const underOld = await mintLeaf(oldCa, spec, new Date(Date.now() - 9 * day));
        const hosts = (
            b: pulumi.Inputs,
            certificatePem: string,
            roots: string,
            later: boolean,
        ): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            {
                hosts: [{ host: "a.bank.example" }, { host: "b.bank.example", ...b, certificatePem }],
                keyAlgorithm: "ECDSA",
                publicRootsPem: later ? pulumi.output(roots) : roots,
            },
        ];
        const cases = (later: boolean) => [
            // Issued under the bank's root, which the roots given do not hold.
            hosts({}, leaf.cert + ca.certPem, other.certPem, later),
            // A renewal (the new key's CSR waits to be signed) whose certificate comes without its chain.
            hosts({ epoch: 1, certificateEpoch: 0 }, leaf.cert, root.certPem, later),
            // Under an intermediate that has expired.
            hosts({}, underOld.cert + oldCa.certPem, root.certPem, later),
        ];
        const outcomes = await refusalsOnceResolved([...cases(false), ...cases(true)]);
        const key = "CustomerFacingTls bad: the certificatePem given for b.bank.example";
        const refusals = [
            `${key}: the chain is incomplete: CN=Bank issuing CA is not a publicly trusted root nor issued by one; add the intermediate certificates after the leaf`,
            `${key}: the chain is incomplete: the leaf's issuer is missing; add the intermediate certificates after the leaf`,
            `${key}: CN=Bank old CA (the leaf's issuer) expired on ${new Date(new crypto.X509Certificate(oldCa.certPem).validTo).toISOString()}: browsers refuse the certificate under it ("certificate has expired"); ask the public CA for its current intermediate certificate`,
        ].map((message) => ({ message, children: [] }));
        assert.deepStrictEqual(outcomes, [...refusals, ...refusals]);
    });

    it("makes no host's key or CSR of a CustomerFacingTls whose publicRootsPem, given as an output, is refused once it resolves, with no certificate given", async () => {
        // Before, an output was checked only where a host's certificate was: with none given yet,
        // text with no certificate or an intermediate was taken, to be refused weeks later.
        const { root, ca } = await bankIssuer();
        const roots = (publicRootsPem: pulumi.Input<string>): [string, pulumi.Inputs] => [
            "CustomerFacingTls",
            { hosts: [{ host: "a.bank.example" }], keyAlgorithm: "ECDSA", publicRootsPem },
        ];
        const outcomes = await refusalsOnceResolved([
            roots(pulumi.output("garbage")),
            roots(pulumi.secret(ca.certPem)),
            roots(pulumi.output(root.certPem)),
        ]);
        assert.deepStrictEqual(outcomes, [
            {
                message:
                    "CustomerFacingTls bad: publicRootsPem holds no PEM certificate; give the PEM certificate(s) of the CA(s) to trust",
                children: [],
            },
            {
                message:
                    "CustomerFacingTls bad: publicRootsPem holds CN=Bank issuing CA, which is not a self-signed CA certificate; give the root",
                children: [],
            },
            {
                message: "accepted",
                children: [
                    "tls:index/privateKey:PrivateKey::bad-a-bank-example-key",
                    "tls:index/certRequest:CertRequest::bad-a-bank-example-csr",
                ],
            },
        ]);
    });

    it("raises its refusals so that Pulumi's hosts print the message alone, no stack trace, whether raised in the call or in an apply", async () => {
        // An error raised in an apply (a check of PEMs that come as outputs) reaches the host as an
        // unhandled rejection: cmd/run-plugin/run.js (and cmd/run for TypeScript programs) prints a
        // ResourceError's message alone only when it asks to (hideStack), else util.inspect of it,
        // stack and resource object included.
        const failure = (component: string, inputs: pulumi.Inputs) =>
            runWithStandIn(() => provider.construct("bad", token(component), inputs, {}), {
                state: new Map(),
                stackTraces: true,
            }).then(
                () => assert.fail(`${component} should have been refused`),
                (error: Error) => error,
            );
        const root = await mintRoot("Bank root");
        const ca = await mintSubCa(root, "Bank issuing CA");
        const otherKey = await mintLeaf(ca, {
            commonName: "www.bank.example",
            dnsNames: ["www.bank.example"],
            allowedUses: ["server_auth"],
        });
        const errors = [
            await failure("RootCa", { subject: { commonName: "r" }, validityDay: 30 }),
            await failure("IntermediateCa", {
                subject: { commonName: "i" },
                keyAlgorithm: "ECDSA",
                rootCa: { certPem: pulumi.output("not a certificate"), privateKeyPem: pulumi.secret("x") },
            }),
            await failure("IstioGatewayTls", {
                serverCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem },
                clientTrustBundlePem: ca.certPem,
                clientCrlPem: "x",
                endpoints: [{ id: "a", host: "a.bank.example", clientSubjectAltNames: ["urn:a"] }],
                keyAlgorithm: "ECDSA",
            }),
            await failure("CustomerFacingTls", {
                hosts: [{ host: "www.bank.example", certificatePem: otherKey.cert }],
                keyAlgorithm: "ECDSA",
            }),
            await failure("UiApicClient", {
                clientCa: { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem },
                service: "web",
                identity: "urn:bank:ui-client:web",
                namespace: "ui",
                apicHosts: ["apic.bank.example"],
                apicTrustPem: ca.certPem,
                apicCrlPem: "x",
                keyAlgorithm: "ECDSA",
            }),
        ];
        assert.deepStrictEqual(
            errors.map((error) => printed(error) === error.message),
            [true, true, true, true, true],
        );
        assert.deepStrictEqual(
            // The SDK prefixes each property it was serializing when the error reached it.
            errors.map((error) => refusalText(error)),
            [
                'RootCa has no input "validityDay"; its inputs are earlyRenewalDays, keyAlgorithm, maxPathLength, subject and validityDays. Fix the spelling or remove it',
                "IntermediateCa rootCa: certPem is not a certificate in PEM",
                "IstioGatewayTls bad: clientTrustBundlePem holds CN=Bank issuing CA, which is not a self-signed root, and clientCrlPem is set: " +
                    "Envoy makes every certificate of ca.crt a trust anchor, stops the chain there and then finds no CRL for it, so every client would be refused (envoyproxy/envoy#29197). " +
                    "Give only the root(s) in clientTrustBundlePem; clients send their issuing CA",
                "CustomerFacingTls bad: the certificatePem given for www.bank.example certifies another key: sign the CSR bad-www-bank-example-csr of this stack",
                "UiApicClient bad: apicTrustPem holds CN=Bank issuing CA, which is not a self-signed root, and apicCrlPem is set: " +
                    "Envoy makes every certificate of ca.crt a trust anchor, stops the chain there and then finds no CRL for it, so APIC would be refused (envoyproxy/envoy#29197). " +
                    "Give only the root(s) in apicTrustPem; APIC sends its issuing CA",
            ],
        );
    });
});
