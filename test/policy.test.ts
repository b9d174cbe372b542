import * as assert from "assert";
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { createSecureContext, rootCertificates } from "tls";
import { promisify } from "util";
import * as k8s from "@pulumi/kubernetes";
import * as policy from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as YAML from "yaml";
import * as policyServer from "@pulumi/policy/server";
import {
    AnalyzeRequest,
    AnalyzeResponse,
    AnalyzerPropertyDependencies,
    AnalyzerProviderResource,
    AnalyzerResource,
    AnalyzerResourceOptions,
    AnalyzeStackRequest,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { RecordedResource, runWithStandIn } from "../lib/engine/standIn";
import { servedPolicyPack } from "./policyPack";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { buildCrl } from "../lib/pki/crl";
import { pemBlocks, pemBlocksInOrder, pemDecode, pemEncode } from "../lib/pki/pem";
import { planFromRawConfig } from "../lib/plan/plan";
import {
    ApicClientBundle,
    IntermediateCa,
    IstioGatewayTls,
    IstioGatewayTlsArgs,
    MeshPluginCa,
    RootCa,
} from "../lib/index";
import { createRoot, signIntermediate } from "../lib/pki/ceremony";
import { buildPki, requestOfflineSignatures } from "../lib/stack";
import {
    caKeyStrengthPolicy,
    caPathLengthPolicy,
    certificateUsagePolicy,
    credentialTrustPolicy,
    gatewayKeysBesideCacertsPolicy,
    issuingCaCertificatePolicy,
    keyConfigMapPolicy,
    keyHelmValuesPolicy,
    keyKubernetesObjectPolicy,
    keyMetadataPolicy,
    secretsInPlacePolicy,
    keySecretPolicy,
    keyStrengthPolicy,
    istiodCaPolicy,
    leafValidityPolicy,
    POLICIES,
    rootPathLengthPolicy,
    separateTrustDomainsPolicy,
    tlsSecretContentsPolicy,
    uniqueKubernetesObjectsPolicy,
} from "../policy/policies";
import { holdsPrivateKey, privateKeyPaths } from "../lib/pki/keyMaterial";
import { issuerOf, subjectOf } from "../lib/pki/x509";
import { CA_USES } from "../lib/plan/plan";
import { verifyPeer, verifyPeers } from "./envoyVerifier";
import { GOOGLE_LEAF_PEM, GTS_CA_1C3_PEM } from "./fixtures/publicChain";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, TEST_ONLY_RSA_EXPONENT_3_KEY_PEM } from "./fixtures/testOnlyPki";
import {
    loadStackFile,
    mintLeaf,
    mintRoot,
    emptyCrlOf,
    mintSubCa,
    OPTION_FILES,
    opensslCa,
    opensslRoot,
    ROOT,
    sharedStateWithSuiteKeys,
    tempDir,
    TestCa,
    crossSign,
} from "./helpers";

type Resource = {
    type: string;
    name: string;
    /** Inputs as the engine sends them: secrets wrapped in the secret signature (see `asSecret`). */
    props: Record<string, unknown>;
    /** What the provider returned (certPem...), to wire dependencies by value as the engine knows them. */
    state?: Record<string, unknown>;
    /** Type token of the component the resource is a child of, as the engine puts it in the URN. */
    parentType?: string;
    /** The explicit provider (for Kubernetes objects: the cluster), with its inputs. */
    provider?: { type: string; name: string; props: Record<string, unknown> };
    /** Its caCertPem is given as text (a StackReference's output, say): it depends on no resource that made it. */
    givenCaCert?: boolean;
    /** The resources (by name, among those checked) each property is made from, as the engine records them. */
    propertyDependencies?: Record<string, string[]>;
};

/** What a preview sends for a value not yet known (an output of a resource not yet made). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** leaf-max-validity's fix: the resource's validityPeriodHours, or what a component or stack of this package sets it from. */
const LOWER_VALIDITY =
    "lower its validityPeriodHours (made by a component of this package, such as IstioGatewayTls or ApicClientBundle: " +
    "the component's validityDays; by a stack of this package: pki:validityDays.leaf)";

/** A value as the engine marshals a secret (KeepSecrets), which the policy SDK unwraps. */
const asSecret = (value: unknown) => ({ [specialSigKey]: specialSecretSig, value });

/** The engine's records as policy resources: each child's parent component found by its name prefix. */
function fromEngine(resources: readonly RecordedResource[]): Resource[] {
    const components = resources.filter((r) => r.type.startsWith("apic-istio-pki:index:"));
    const providers = resources.filter((r) => r.type.startsWith("pulumi:providers:"));
    return resources.map((r) => {
        const parent = components
            .filter((c) => c !== r && r.name.startsWith(`${c.name}-`))
            .sort((a, b) => b.name.length - a.name.length)[0];
        const provider = providers.find((p) => p.name === r.providerName);
        return {
            type: r.type,
            name: r.name,
            props: r.sentInputs,
            state: r.state,
            parentType: parent?.type,
            provider: provider && { type: provider.type, name: provider.name, props: provider.sentInputs },
        };
    });
}

/** The SDK's own Analyze and AnalyzeStack handlers (what `pulumi preview --policy-pack` calls); not in its typings. */
type AnalyzeRpc = (
    call: { request: unknown },
    callback: (error: Error | null | undefined, response?: AnalyzeResponse) => void,
) => Promise<void>;
const sdk = policyServer as unknown as Record<
    "makeAnalyzeRpcFun" | "makeAnalyzeStackRpcFun",
    (packName: string, version: string, level: policy.EnforcementLevel, policies: policy.Policies) => AnalyzeRpc
>;

const urnOf = (type: string, name: string) => `urn:pulumi:test::apic-istio-pki::${type}::${name}`;
/** Properties as the engine puts them on the wire (JSON: no undefined). */
const struct = (props: Record<string, unknown>) => Struct.fromJavaScript(JSON.parse(JSON.stringify(props)));

/**
 * One policy through the SDK's handler, its violations' messages (the SDK puts the policy's
 * description before each). The pack's config is set by a Configure RPC the SDK does not export:
 * here the policy's getConfig answers `config` instead.
 */
async function analyze(
    p: policy.ResourceValidationPolicy | policy.StackValidationPolicy,
    config: Record<string, unknown>,
    makeRpc: "makeAnalyzeRpcFun" | "makeAnalyzeStackRpcFun",
    request: unknown,
): Promise<string[]> {
    const withConfig = <A>(args: A): A => ({ ...args, getConfig: () => config });
    let configured: policy.ResourceValidationPolicy | policy.StackValidationPolicy;
    if ("validateResource" in p) {
        const validate = p.validateResource as policy.ResourceValidation;
        configured = { ...p, validateResource: (args, report) => validate(withConfig(args), report) };
    } else {
        const validate = (p as policy.StackValidationPolicy).validateStack;
        configured = { ...p, validateStack: (args, report) => validate(withConfig(args), report) };
    }
    const response = await new Promise<AnalyzeResponse>((resolve, reject) =>
        sdk[makeRpc]("apic-istio-pki", "0.0.0", "mandatory", [configured])({ request }, (error, r) =>
            error ? reject(error) : resolve(r as AnalyzeResponse),
        ),
    );
    return response.getDiagnosticsList().map((d) => d.getMessage().replace(`${p.description}\n`, ""));
}

/** A resource's explicit provider as the engine sends it. */
function providerOf(p: NonNullable<Resource["provider"]>): AnalyzerProviderResource {
    const provider = new AnalyzerProviderResource();
    provider.setType(p.type);
    provider.setName(p.name);
    provider.setUrn(urnOf(p.type, p.name));
    provider.setProperties(struct(p.props));
    return provider;
}

/** What the policy host would hand a resource policy for `r`; violations collected. */
function checkResource(
    p: policy.ResourceValidationPolicy,
    r: Resource,
    config: Record<string, unknown> = {},
): Promise<string[]> {
    const request = new AnalyzeRequest();
    request.setType(r.type);
    request.setName(r.name);
    request.setUrn(urnOf(r.type, r.name));
    request.setProperties(struct(r.props));
    request.setOptions(new AnalyzerResourceOptions());
    if (r.provider !== undefined) request.setProvider(providerOf(r.provider));
    return analyze(p, config, "makeAnalyzeRpcFun", request);
}

/** A stack policy over resources wired like the engine does (key -> CSR -> certificate <- issuing CA). */
function checkStack(
    p: policy.StackValidationPolicy,
    resources: Resource[],
    config: Record<string, unknown> = {},
): Promise<string[]> {
    const urns = resources.map((r) => urnOf(r.parentType === undefined ? r.type : `${r.parentType}$${r.type}`, r.name));
    const urnByName = new Map(resources.map((r, i) => [r.name, urns[i]]));
    const request = new AnalyzeStackRequest();
    request.setResourcesList(
        resources.map((r, i) => {
            const dependencies: Record<string, string | undefined> = {};
            const base = r.name.replace(/-(cert|csr)$/, "");
            if (r.type === "tls:index/certRequest:CertRequest" || r.type === "tls:index/selfSignedCert:SelfSignedCert")
                dependencies.privateKeyPem = urnByName.get(`${base}-key`);
            if (r.type === "tls:index/locallySignedCert:LocallySignedCert")
                dependencies.certRequestPem = urnByName.get(`${base}-csr`);
            const issuer = resources.findIndex(
                (c) => c.state?.certPem !== undefined && c.state.certPem === r.props.caCertPem,
            );
            if (issuer >= 0 && r.givenCaCert !== true) dependencies.caCertPem = urns[issuer];
            const resource = new AnalyzerResource();
            resource.setType(r.type);
            resource.setName(r.name);
            resource.setUrn(urns[i]);
            resource.setProperties(struct(r.props));
            resource.setOptions(new AnalyzerResourceOptions());
            if (r.provider !== undefined) resource.setProvider(providerOf(r.provider));
            const declared = Object.entries(r.propertyDependencies ?? {}).map(([property, names]) => [
                property,
                names.map((name) => urnByName.get(name)),
            ]);
            const wired = Object.entries(dependencies).map(([property, urn]) => [property, [urn]]);
            for (const [property, urnsOfProperty] of [...wired, ...declared] as [string, (string | undefined)[]][]) {
                const present = urnsOfProperty.filter((urn) => urn !== undefined);
                if (present.length === 0) continue;
                const urnList = new AnalyzerPropertyDependencies();
                urnList.setUrnsList(present);
                resource.getPropertydependenciesMap().set(property, urnList);
            }
            return resource;
        }),
    );
    return analyze(p, config, "makeAnalyzeStackRpcFun", request);
}

const base64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString("base64");

/** A team's own ECDSA RootCa `team-<id>-root`, as a program composing the components makes one. */
const teamRoot = (id: string): RootCa =>
    new RootCa(`team-${id}-root`, { subject: { commonName: `Team ${id} root` }, keyAlgorithm: "ECDSA" });
/** Base64 in lines, as `openssl base64` (64 columns) or GNU base64 (76) writes it. */
const wrapped = (text: string, columns: number, eol: string): string =>
    (text.match(new RegExp(`.{1,${columns}}`, "g")) ?? []).join(eol);

/**
 * Real private keys in the encodings a consumer's program may write, by file name: PEM text,
 * base64 of DER, or JWK (JSON). The RSA key is the test-only fixture's (generating one costs ~140 ms).
 */
function keyFiles(pkcs12Base64: string): Record<string, string> {
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const rsa = crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM);
    const ed25519 = crypto.generateKeyPairSync("ed25519");
    // RFC 5958 OneAsymmetricKey version 1 (what Bouncy Castle writes for Ed25519): version 1, the
    // algorithm and key of Node's version-0 PKCS#8 (after its 5 bytes of header), and [1] the public key.
    const v1 = ed25519.privateKey.export({ type: "pkcs8", format: "der" });
    const publicKey = ed25519.publicKey.export({ type: "spki", format: "der" }).subarray(-32);
    const v2Body = Buffer.concat([Buffer.from([2, 1, 1]), v1.subarray(5), Buffer.from([0x81, 33, 0]), publicKey]);
    const pem = ec.export({ type: "pkcs8", format: "pem" }) as string;
    return {
        "key.pem": (ec.export({ type: "pkcs8", format: "pem" }) as string).replace(/\n/g, "\r\n"),
        "key-lowercase.pem": (ec.export({ type: "sec1", format: "pem" }) as string).toLowerCase(),
        "key.pem.b64": base64(pem),
        // PEM whose key is not at the start: `openssl pkcs12 -nodes` output, a leading blank line, a BOM.
        "client-nodes.pem.b64": base64(
            `Bag Attributes\n    localKeyID: 6D D4 63 F5 \nsubject=CN = ob-client\nissuer=CN = ob-client\n${TEST_ONLY_CA_CERT_PEM}` +
                `Bag Attributes\n    localKeyID: 6D D4 63 F5 \nKey Attributes: <No Attributes>\n${pem}`,
        ),
        "key-newline.pem.b64": base64(`\n${pem}`),
        "key-bom.pem.b64": base64(`\ufeff${pem}`),
        "key.p8": base64(ec.export({ type: "pkcs8", format: "der" })),
        "key-encrypted.p8": base64(
            ec.export({ type: "pkcs8", format: "der", cipher: "aes-256-cbc", passphrase: "not a secret" }),
        ),
        "ed25519-v2.p8": base64(Buffer.concat([Buffer.from([0x30, v2Body.length]), v2Body])),
        "rsa-pkcs1.der": wrapped(base64(rsa.export({ type: "pkcs1", format: "der" })), 64, "\r\n"),
        "ec-sec1.der": base64(ec.export({ type: "sec1", format: "der" })),
        "client.p12": wrapped(pkcs12Base64, 76, "\n"),
        "client-url.p12": Buffer.from(pkcs12Base64, "base64").toString("base64url"),
        "ec.jwk": JSON.stringify(ec.export({ format: "jwk" })),
        // A JWK set whose first key is public: the private one is found after it.
        "keys.jwks": JSON.stringify(
            {
                keys: [
                    crypto.createPublicKey(rsa).export({ format: "jwk" }),
                    ed25519.privateKey.export({ format: "jwk" }),
                ],
            },
            null,
            2,
        ),
    };
}

/** What is not a private key, in the same encodings: certificate, CRL, CSR, public keys, random base64. */
function notKeyFiles(csrPem: string): Record<string, string> {
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const crl = buildCrl(TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM, [], {
        thisUpdate: new Date("2026-11-19T00:00:00Z"),
        nextUpdate: new Date("2026-12-03T00:00:00Z"),
        number: 2968,
    });
    return {
        "ca.crt": TEST_ONLY_CA_CERT_PEM,
        "ca.der": base64(pemDecode(TEST_ONLY_CA_CERT_PEM, "CERTIFICATE")),
        "ca.crl": base64(pemDecode(crl, "X509 CRL")),
        "client.csr": base64(pemDecode(csrPem, "CERTIFICATE REQUEST")),
        "ec-spki.der": base64(ec.export({ type: "spki", format: "der" })),
        "rsa-spki.der": base64(crypto.createPublicKey(TEST_ONLY_CA_KEY_PEM).export({ type: "spki", format: "der" })),
        password: base64(crypto.randomBytes(32)),
        // Random bytes behind a DER SEQUENCE's header: they reach the parsers, which refuse them.
        "random.der": base64(Buffer.concat([Buffer.from([0x30, 0x40]), crypto.randomBytes(64)])),
        "ec-public.jwk": JSON.stringify(ec.export({ format: "jwk" })),
        // What a JWT issuer publishes (an Istio RequestAuthentication's inline jwks).
        "public.jwks": JSON.stringify({
            keys: [
                crypto.createPublicKey(TEST_ONLY_CA_KEY_PEM).export({ format: "jwk" }),
                ec.export({ format: "jwk" }),
            ],
        }),
    };
}

/**
 * Java keystores as Java 17's keytool writes them, in base64: the APIC client's PKCS#12 imported
 * into a JKS and a JCEKS keystore (a PrivateKeyEntry each), keys; and truststores of the APIC
 * truststore's certificates (trustedCertEntry alone), not keys.
 */
async function javaKeystoreFiles(
    pkcs12Base64: string,
    password: string,
    truststorePem: string,
): Promise<{ keys: Record<string, string>; notKeys: Record<string, string> }> {
    const dir = tempDir("policy-keystores");
    const file = (name: string) => path.join(dir, name);
    fs.writeFileSync(file("client.p12"), Buffer.from(pkcs12Base64, "base64"));
    const certificates = pemBlocks(truststorePem, "CERTIFICATE");
    certificates.forEach((pem, i) => fs.writeFileSync(file(`ca${i}.crt`), pem));
    const keytool = (args: string[]) => promisify(execFile)("keytool", ["-noprompt", ...args]);
    const stores = ["jks", "jceks"].map(async (type) => {
        await keytool([
            ...["-importkeystore", "-srckeystore", file("client.p12"), "-srcstoretype", "PKCS12"],
            ...["-srcstorepass", password, "-destkeystore", file(`keystore.${type}`), "-deststoretype", type],
            ...["-deststorepass", "changeit", "-destkeypass", "changeit"],
        ]);
        for (const i of certificates.keys()) {
            await keytool([
                ...["-importcert", "-alias", `ca${i}`, "-file", file(`ca${i}.crt`)],
                ...["-keystore", file(`truststore.${type}`), "-storetype", type, "-storepass", "changeit"],
            ]);
        }
    });
    await Promise.all(stores);
    const read = (name: string) => base64(fs.readFileSync(file(name)));
    return {
        keys: { "keystore.jks": read("keystore.jks"), "keystore.jceks": read("keystore.jceks") },
        notKeys: { "truststore.jks": read("truststore.jks"), "truststore.jceks": read("truststore.jceks") },
    };
}

/** The gateway of the payments endpoint, as a team's program would compose it, under `serverCa`. */
const paymentsGateway = (
    serverCa: IstioGatewayTlsArgs["serverCa"],
    clientTrustBundlePem: IstioGatewayTlsArgs["clientTrustBundlePem"],
): IstioGatewayTls =>
    new IstioGatewayTls("payments-gateway", {
        serverCa,
        clientTrustBundlePem,
        endpoints: [
            {
                id: "payments",
                host: "payments.team.bank.example",
                clientSubjectAltNames: ["urn:example:apic-client:payments"],
            },
        ],
        keyAlgorithm: "ECDSA",
    });

describe("Policy pack", function () {
    this.timeout(60_000);
    let real: Resource[];
    let outputs: Record<string, unknown>;
    let kubernetesProviders: RecordedResource[];
    const named = (name: string) => real.find((r) => r.name === name) as Resource;
    /**
     * istiod-cacerts' verdict on a cacerts Secret a program writes by hand, in MeshPluginCa's place:
     * `ca` and its key, cert-chain.pem as `chain`, root-cert.pem as `rootPem`, and `more` entries.
     */
    const handWrittenCacerts = (ca: TestCa, chain: string[], rootPem: string, more: Record<string, string> = {}) => {
        const cacerts = named("mesh-ca-example-cacerts");
        return checkResource(istiodCaPolicy, {
            ...cacerts,
            props: {
                ...cacerts.props,
                stringData: asSecret({
                    "ca-cert.pem": ca.certPem,
                    "ca-key.pem": ca.keyPem,
                    "cert-chain.pem": chain.join(""),
                    "root-cert.pem": rootPem,
                    ...more,
                }),
            },
        });
    };
    /**
     * MeshPluginCa's cacerts entries as written (unwrapped from the engine's secret signature), and
     * istiod-cacerts' verdict on that Secret with `entries` in place of its own, as stringData or data.
     */
    const cacertsCheck = () => {
        const cacerts = named("mesh-ca-example-cacerts");
        const written = JSON.parse(JSON.stringify(cacerts.props.stringData), (_key, value) =>
            value?.[specialSigKey] === specialSecretSig ? value.value : value,
        ) as Record<string, string>;
        const check = (
            entries: Record<string, string>,
            encoding: "stringData" | "data" = "stringData",
            metadata = cacerts.props.metadata,
        ) =>
            checkResource(istiodCaPolicy, {
                ...cacerts,
                props: {
                    ...cacerts.props,
                    metadata,
                    stringData: undefined,
                    [encoding]: asSecret(
                        Object.fromEntries(
                            Object.entries({ ...written, ...entries }).map(([k, v]) => [
                                k,
                                encoding === "data" ? base64(v) : v,
                            ]),
                        ),
                    ),
                },
            });
        return { written, check };
    };

    before(async () => {
        const run = await runWithStandIn(() => buildPki(planFromRawConfig(loadStackFile(OPTION_FILES[1]))).outputs, {
            state: sharedStateWithSuiteKeys(),
        });
        real = fromEngine(run.engine.resources);
        kubernetesProviders = run.engine.byType("pulumi:providers:kubernetes");
        outputs = run.outputs as unknown as Record<string, unknown>;
        const ob = bundle("ob");
        const java = await javaKeystoreFiles(ob.pkcs12Base64, ob.pkcs12Password, ob.truststorePem);
        keys = { ...keyFiles(ob.pkcs12Base64), ...java.keys };
        notKeys = { ...notKeyFiles(named("ob-apic-client-csr").state?.certRequestPem as string), ...java.notKeys };
    });

    /** An APIC client bundle of the stack's outputs, as ApicClientBundle makes it (its PKCS#12 by lib/pki/pkcs12). */
    const bundle = (id: string) => (outputs.apicBundles as Record<string, Record<string, string>>)[id];
    let keys: Record<string, string>;
    let notKeys: Record<string, string>;

    it("holdsPrivateKey: finds real keys as PEM, base64 of PEM (the key anywhere in it), base64 DER (PKCS#8, encrypted, PKCS#1, SEC1, PKCS#12), Java keystores and private JWKs, nothing else", async () => {
        const found = (files: Record<string, string>) => Object.keys(files).filter((f) => holdsPrivateKey(files[f]));
        assert.deepStrictEqual(found(keys), Object.keys(keys));
        assert.deepStrictEqual(found(notKeys), []);
        // A Java truststore is one only when its entries can be read to the digest that ends it.
        const truststore = Buffer.from(notKeys["truststore.jks"], "base64");
        assert.strictEqual(holdsPrivateKey(base64(truststore.subarray(0, -1))), true);
        assert.strictEqual(holdsPrivateKey(base64(Buffer.concat([truststore, Buffer.from([0])]))), true);
        // A JWK given as an object (Helm values, a custom resource's spec), not as JSON text.
        const jwk = JSON.parse(keys["ec.jwk"]);
        assert.deepStrictEqual(
            privateKeyPaths({ signing: [{ kid: "a", ...jwk }, JSON.parse(notKeys["ec-public.jwk"])] }),
            ["signing[0]"],
        );
        // As `pulumi stack output --json` shows a JWK whose private member is secret.
        assert.deepStrictEqual(privateKeyPaths({ jwk: { ...jwk, d: "[secret]" } }), []);
        // Members padded, or in the standard base64 alphabet: Node's JWK import takes them as well.
        const rsaJwk = crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM).export({ format: "jwk" });
        const encoded = (encode: (member: string) => string) =>
            Object.fromEntries(Object.entries(rsaJwk).map(([k, v]) => [k, k === "kty" ? v : encode(String(v))]));
        const padded = encoded((v) => v.padEnd(Math.ceil(v.length / 4) * 4, "="));
        const standard = encoded((v) => v.replace(/-/g, "+").replace(/_/g, "/"));
        for (const member of [padded, standard]) crypto.createPrivateKey({ key: member, format: "jwk" });
        assert.deepStrictEqual(
            [padded, standard].map((member) => holdsPrivateKey(JSON.stringify(member))),
            [true, true],
        );
        assert.deepStrictEqual(privateKeyPaths({ padded, standard }), ["padded", "standard"]);
        // A JWK nested deeper than a recursive walk's stack goes (JSON.parse takes it).
        assert.strictEqual(holdsPrivateKey(`${"[".repeat(20_000)}${keys["ec.jwk"]}${"]".repeat(20_000)}`), true);
        // A value is parsed only when it is plausibly base64 DER, and a long one not at all.
        assert.strictEqual(holdsPrivateKey(""), false);
        assert.strictEqual(holdsPrivateKey("M".repeat(100)), false);
        assert.strictEqual(holdsPrivateKey(`${keys["key.p8"]}${"A".repeat(64 * 1024)}`), false);
    });

    /** What every stack rule of the pack says of `resources`, each finding after its rule's name. */
    const stackRuleFindings = async (resources: Resource[]): Promise<string[]> =>
        (
            await Promise.all(
                POLICIES.filter((p): p is policy.StackValidationPolicy => "validateStack" in p).map(async (p) =>
                    (await checkStack(p, resources)).map((finding) => `${p.name}: ${finding}`),
                ),
            )
        ).flat();

    /** gateway-keys-beside-cacerts' advice on a gateway `secret` (namespace/name) beside the cacerts `makers` make under `provider`. */
    const besideCacerts = (secret: string, makers: string, provider: string, entries = "tls.key") =>
        `${secret}: a private key (${entries}) beside istiod's cacerts (istio-system/cacerts, ` +
        `the mesh CA key, made by ${makers}) in one cluster (provider ${provider}): ` +
        "the gateway that reads this Secret gets from Istio's gateway chart a Role reading every Secret of its namespace (named after its service account), " +
        "so a compromised gateway pod can read ca-key.pem and mint any mesh identity in every cluster. " +
        "Run the gateway in a namespace of its own and keep its Secrets there (a stack of this package: set pki:gatewayNamespace to it, e.g. istio-ingress, " +
        'with the gateway deployed there first, and add it to keySecretNamespaces; README, "The gateway\'s namespace")';
    /** Its advice on a key Secret (namespace/name) in istio-system of a cluster (`provider`) where the program makes no cacerts. */
    const besideIstiodCaKey = (secret: string, provider: string, entries = "tls.key", selfSignedMakers?: string) =>
        `${secret}: a private key (${entries}) beside istiod's CA key (its plug-in CA's istio-system/cacerts, ` +
        "or istio-system/istio-ca-secret of Istio's self-signed CA" +
        (selfSignedMakers === undefined ? "), which this program does not make, " : `, made by ${selfSignedMakers}) `) +
        `in that cluster (provider ${provider}): ` +
        "the gateway that reads this Secret gets from Istio's gateway chart a Role reading every Secret of its namespace (named after its service account), " +
        "so a compromised gateway pod can read ca-key.pem and mint any mesh identity. " +
        "Run the gateway in a namespace of its own and keep its Secrets there (a stack of this package: set pki:gatewayNamespace to it, e.g. istio-ingress, " +
        'with the gateway deployed there first, and add it to keySecretNamespaces; README, "The gateway\'s namespace")';

    it("accepts every resource the stack program registers (advising to move its gateway out of istio-system)", async () => {
        for (const p of POLICIES) {
            if ("validateResource" in p) {
                for (const r of real) assert.deepStrictEqual(await checkResource(p, r), [], `${p.name} on ${r.name}`);
            }
        }
        // pki:gatewayNamespace istio-system (its default): the gateway's Secrets beside cacerts, which the advisory rule names.
        assert.deepStrictEqual(await stackRuleFindings(real), [
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-dp", "mesh-ca-example-cacerts", "example")}`,
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-ob", "mesh-ca-example-cacerts", "example")}`,
        ]);
    });

    it("gateway-keys-beside-cacerts: advises a key Secret out of istio-system, beside istiod's CA key", async () => {
        assert.strictEqual(gatewayKeysBesideCacertsPolicy.enforcementLevel, "advisory");
        const gatewaySecret = named("ob-gateway-ob-tls");
        const cacerts = named("mesh-ca-example-cacerts");
        const advice = [besideCacerts("istio-system/apic-mtls-ob", "mesh-ca-example-cacerts", "example")];
        // Without a cacerts of the program's, istiod's CA key is there still: another's cacerts, or istio-ca-secret.
        const caKeyAdvice = [besideIstiodCaKey("istio-system/apic-mtls-ob", "example")];
        const moved = (r: Resource, changes: Record<string, unknown>) => ({
            ...r,
            props: { ...r.props, metadata: { ...(r.props.metadata as object), ...changes } },
        });
        const west = { type: "pulumi:providers:kubernetes", name: "west", props: {} };
        const cacertsPatch = { ...cacerts, type: "kubernetes:core/v1:SecretPatch", name: "istiod-ca-patch" };
        const selfSignedCa = moved(cacerts, { name: "istio-ca-secret" });
        assert.deepStrictEqual(
            [
                await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret, cacerts]),
                // The fix: the gateway's Secrets in a namespace of their own (pki:gatewayNamespace: istio-ingress).
                await checkStack(gatewayKeysBesideCacertsPolicy, [
                    moved(gatewaySecret, { namespace: "istio-ingress" }),
                    cacerts,
                ]),
                // Another cluster's cacerts, or none the pack sees: istiod's CA key is beside the gateway's all the same.
                await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret, { ...cacerts, provider: west }]),
                await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret]),
                // Istio's self-signed CA Secret, made by the program, is istiod's key: never named, the gateway's is, beside it made by the program.
                await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret, selfSignedCa]),
                await checkStack(gatewayKeysBesideCacertsPolicy, [selfSignedCa]),
                // Outside istio-system, with no cacerts either: nothing to name.
                await checkStack(gatewayKeysBesideCacertsPolicy, [
                    moved(gatewaySecret, { namespace: "istio-ingress" }),
                ]),
                // A Secret named cacerts by its resource name alone is cacerts-<random>, which istiod never reads: a key
                // Secret beside istiod's CA key like the gateway's.
                await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret, moved(cacerts, { name: undefined })]),
                // A Secret of certificates alone holds no key to take.
                await checkStack(gatewayKeysBesideCacertsPolicy, [
                    { ...gatewaySecret, props: { ...gatewaySecret.props, stringData: { "ca.crt": "x" } } },
                    cacerts,
                ]),
                await checkStack(gatewayKeysBesideCacertsPolicy, [
                    { ...gatewaySecret, props: { ...gatewaySecret.props, stringData: { "ca.crt": "x" } } },
                ]),
            ],
            [
                advice,
                [],
                caKeyAdvice,
                caKeyAdvice,
                [besideIstiodCaKey("istio-system/apic-mtls-ob", "example", "tls.key", "mesh-ca-example-cacerts")],
                [],
                [],
                [...caKeyAdvice, besideIstiodCaKey("istio-system/mesh-ca-example-cacerts", "example", "ca-key.pem")],
                [],
                [],
            ],
        );
        // A patch of cacerts is cacerts there too, and cacerts itself is never named.
        assert.deepStrictEqual(await checkStack(gatewayKeysBesideCacertsPolicy, [gatewaySecret, cacertsPatch]), [
            besideCacerts("istio-system/apic-mtls-ob", "istiod-ca-patch", "example"),
        ]);
        assert.deepStrictEqual(await checkStack(gatewayKeysBesideCacertsPolicy, [cacerts, cacertsPatch]), []);
        assert.deepStrictEqual(await checkStack(gatewayKeysBesideCacertsPolicy, [cacerts]), []);
        // A stack whose gateway has a namespace of its own: no advice.
        const apart = await runWithStandIn(
            () =>
                buildPki(planFromRawConfig({ ...loadStackFile(OPTION_FILES[1]), gatewayNamespace: "istio-ingress" }))
                    .outputs,
            { state: sharedStateWithSuiteKeys() },
        );
        const apartResources = fromEngine(apart.engine.resources);
        assert.deepStrictEqual(
            apartResources
                .filter((r) => r.type === "kubernetes:core/v1:Secret")
                .map((r) => {
                    const { name, namespace } = r.props.metadata as { name: string; namespace: string };
                    return `${namespace}/${name}`;
                })
                .sort(),
            ["istio-ingress/apic-mtls-dp", "istio-ingress/apic-mtls-ob", "istio-system/cacerts"],
        );
        assert.deepStrictEqual(await checkStack(gatewayKeysBesideCacertsPolicy, apartResources), []);
    });

    it("checks the front end: UI client keys belong in the namespaces listed, the UI client root is a domain of its own", async () => {
        const run = await runWithStandIn(
            () => buildPki(planFromRawConfig(loadStackFile("examples/front-end/Pulumi.front-end.yaml"))).outputs,
            { state: sharedStateWithSuiteKeys() },
        );
        const frontEnd = fromEngine(run.engine.resources);
        const secrets = frontEnd.filter((r) => r.type === "kubernetes:core/v1:Secret");
        const violations = async (config: Record<string, unknown>) =>
            (await Promise.all(secrets.map((r) => checkResource(keySecretPolicy, r, config)))).flat();
        // Sorted: the Secrets register when their certificates are issued, in no fixed order.
        assert.deepStrictEqual((await violations({})).sort(), [
            outsideNamespaces("apic-client-authentication-ui", "tls.key", "ob-ui"),
            outsideNamespaces("apic-client-consumer-dashboard", "tls.key", "ob-ui"),
        ]);
        assert.deepStrictEqual(await violations({ keySecretNamespaces: ["istio-system", "ob-ui"] }), []);
        // As a map, ob-ui admitting the UI services' Secrets alone.
        assert.deepStrictEqual(
            await violations({ keySecretNamespaces: { "istio-system": ["*"], "ob-ui": ["apic-client-*"] } }),
            [],
        );
        // Every stack rule (credential-trust among them) passes the front end's resources.
        // The backend gateway's Secrets beside cacerts (pki:gatewayNamespace istio-system) alone: the advisory rule's.
        assert.deepStrictEqual(await stackRuleFindings(frontEnd), [
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-ob", "mesh-ca-example-cacerts", "example")}`,
        ]);
        for (const p of POLICIES.filter((x) => "validateResource" in x && x !== keySecretPolicy)) {
            for (const r of frontEnd)
                assert.deepStrictEqual(
                    await checkResource(p as policy.ResourceValidationPolicy, r),
                    [],
                    `${p.name} on ${r.name}`,
                );
        }
    });

    /** private-key-secrets' refusal of a key in a namespace outside keySecretNamespaces (default istio-system). */
    const outsideNamespaces = (secret: string, entries: string, namespace: string, namespaces = "istio-system") =>
        `${secret}: a private key (${entries}) in namespace ${namespace}; keys belong only in ${namespaces} (the pack's keySecretNamespaces). ` +
        `Move it there, or, if a gateway or sidecar must read it in ${namespace} (a stack's pki:gatewayNamespace, pki:frontEnd.customerFacingGateway.namespace or front-end UI namespace, ` +
        `or such a namespace of your program's), add ${namespace} to keySecretNamespaces`;

    /** separate-trust-domains' refusal of one root (or a CA given as PEM, the top the stack shows) signing for several domains. */
    const sharedRoot = (root: string, domains: string, signer = "root") =>
        `${root}: one ${signer} signs for ${domains}, so a key of one trust domain (e.g. the mesh CA key in every cluster's cacerts) ` +
        "could mint certificates the others trust. Give each its own root (in a stack, pki:trustDomains: separate; in a program of your own, " +
        "a RootCa of its own as each CA's rootCa or at the top of its issuer's chain), or accept the weaker guarantee with allowSharedRoot: true";

    it("separate-trust-domains: refuses one root for the mesh and the edge unless allowSharedRoot is set", async () => {
        // Two clusters: their mesh CAs are one trust domain, which the shared root mixes with the edge's.
        const multiCluster = {
            ...loadStackFile(OPTION_FILES[1]),
            trustDomains: "shared",
            clusters: [
                { name: "east", context: "east" },
                { name: "west", context: "west" },
            ],
        };
        const run = await runWithStandIn(() => buildPki(planFromRawConfig(multiCluster)).outputs, {
            state: sharedStateWithSuiteKeys(),
        });
        const shared = fromEngine(run.engine.resources);
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, shared), [
            sharedRoot("root-ca-cert", "apic-client-ca, gateway-server-ca, the mesh"),
        ]);
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, shared, { allowSharedRoot: true }), []);
        // A preview that does not know a leaf's isCaCertificate yet: the rule still runs (no "can't run") on the rest.
        const leafName = shared.find(
            (r) => r.type === "tls:index/locallySignedCert:LocallySignedCert" && r.props.isCaCertificate !== true,
        )?.name;
        assert.deepStrictEqual(
            await checkStack(
                separateTrustDomainsPolicy,
                shared.map((r) =>
                    r.name === leafName ? { ...r, props: { ...r.props, isCaCertificate: UNKNOWN } } : r,
                ),
            ),
            [sharedRoot("root-ca-cert", "apic-client-ca, gateway-server-ca, the mesh")],
        );
    });

    it("separate-trust-domains: follows each CA up to its root, through other CAs, and tells CAs apart by component, not name", async () => {
        // A program of its own: a policy CA above the gateway's server CA, and the mesh CA under one of them or its own root.
        type MeshUnder = "server CA" | "policy CA" | "own root";
        const program = (meshUnder: MeshUnder) =>
            runWithStandIn(
                () => {
                    // Room for the deepest CA here: the mesh CA under the server CA under the policy CA.
                    const root = new RootCa("team-root", {
                        subject: { commonName: "Team root" },
                        maxPathLength: 3,
                        keyAlgorithm: "ECDSA",
                    });
                    const clientRoot = new RootCa("team-client-root", {
                        subject: { commonName: "Team client root" },
                        keyAlgorithm: "ECDSA",
                    });
                    const policyCa = new IntermediateCa("team-policy-ca", {
                        rootCa: root,
                        subject: { commonName: "Team policy CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    const issuedBy = (ca: IntermediateCa) => ({
                        issuer: {
                            certPem: ca.certPem,
                            privateKeyPem: ca.privateKeyPem,
                            chainPem: ca.chainPem,
                            rootCertPem: root.certPem,
                        },
                    });
                    const serverCa = new IntermediateCa("team-server-ca", {
                        ...issuedBy(policyCa),
                        subject: { commonName: "Team server CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    paymentsGateway(serverCa, clientRoot.certPem);
                    const meshRoot = new RootCa("team-mesh-root", {
                        subject: { commonName: "Team mesh root" },
                        keyAlgorithm: "ECDSA",
                    });
                    const mesh = new MeshPluginCa("team-mesh-ca", {
                        ...(meshUnder === "own root"
                            ? { rootCa: meshRoot }
                            : issuedBy(meshUnder === "server CA" ? serverCa : policyCa)),
                        cluster: "east",
                        keyAlgorithm: "ECDSA",
                    });
                    return { mesh: mesh.certChainPem };
                },
                { state: sharedStateWithSuiteKeys() },
            );
        const violations = async (meshUnder: MeshUnder) =>
            checkStack(separateTrustDomainsPolicy, fromEngine((await program(meshUnder)).engine.resources));
        // The policy CA signs CAs alone: a tier of theirs, not a domain of its own.
        const refused = [sharedRoot("team-root-cert", "team-server-ca, the mesh")];
        assert.deepStrictEqual(await violations("server CA"), refused);
        assert.deepStrictEqual(await violations("policy CA"), refused);
        assert.deepStrictEqual(await violations("own root"), []);

        // Two CAs named alike in two components of a program's own are two domains.
        const root = named("client-root-ca-cert");
        const ca = named("apic-client-ca-cert");
        const caIn = (component: string) => ({
            ...ca,
            name: "ca-cert",
            parentType: `${component}$apic-istio-pki:index:IntermediateCa`,
        });
        const twoCas = [root, caIn("team:index:GatewayEdge"), caIn("team:index:ApicClients")];
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, twoCas), [
            sharedRoot(
                "client-root-ca-cert",
                "ca (in team:index:ApicClients$apic-istio-pki:index:IntermediateCa), ca (in team:index:GatewayEdge$apic-istio-pki:index:IntermediateCa)",
            ),
        ]);
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, twoCas.slice(0, 2)), []);
    });

    it("separate-trust-domains: knows a root given as PEM by its key, and counts the leaves a root signs directly as a domain", async () => {
        // The gateway's server certificates signed by the root or by a CA under it, the mesh CA under that root or its own.
        const external = opensslRoot(
            "Team external root",
            crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey,
            "0x5A17",
        );
        type Root = "RootCa" | "PEM";
        const program = (root: Root, gatewayUnder: "root" | "CA", meshUnder: "same root" | "own root") =>
            runWithStandIn(
                () => {
                    const rootCa =
                        root === "RootCa"
                            ? new RootCa("team-root", { subject: { commonName: "Team root" }, keyAlgorithm: "ECDSA" })
                            : { certPem: external.certPem, privateKeyPem: external.keyPem };
                    const clientRoot = new RootCa("team-client-root", {
                        subject: { commonName: "Team client root" },
                        keyAlgorithm: "ECDSA",
                    });
                    new IstioGatewayTls("payments-gateway", {
                        serverCa:
                            gatewayUnder === "CA"
                                ? new IntermediateCa("team-server-ca", {
                                      rootCa,
                                      subject: { commonName: "Team server CA" },
                                      keyAlgorithm: "ECDSA",
                                  })
                                : { certPem: rootCa.certPem, privateKeyPem: rootCa.privateKeyPem, chainPem: "" },
                        clientTrustBundlePem: clientRoot.certPem,
                        endpoints: ["payments", "accounts"].map((id) => ({
                            id,
                            host: `${id}.team.bank.example`,
                            clientSubjectAltNames: [`urn:example:apic-client:${id}`],
                        })),
                        keyAlgorithm: "ECDSA",
                    });
                    const meshRoot = new RootCa("team-mesh-root", {
                        subject: { commonName: "Team mesh root" },
                        keyAlgorithm: "ECDSA",
                    });
                    const mesh = new MeshPluginCa("team-mesh-ca", {
                        rootCa: meshUnder === "same root" ? rootCa : meshRoot,
                        cluster: "east",
                        keyAlgorithm: "ECDSA",
                    });
                    return { mesh: mesh.certChainPem };
                },
                { state: sharedStateWithSuiteKeys() },
            );
        const violations = async (root: Root, gatewayUnder: "root" | "CA", meshUnder: "same root" | "own root") =>
            checkStack(
                separateTrustDomainsPolicy,
                fromEngine((await program(root, gatewayUnder, meshUnder)).engine.resources),
            );
        const externalRoot = "the root given as PEM (CN=Team external root)";
        const leaves =
            "payments-gateway-accounts-server-cert, payments-gateway-payments-server-cert (leaves it signs directly), the mesh";
        assert.deepStrictEqual(
            [
                await violations("PEM", "CA", "same root"),
                await violations("RootCa", "root", "same root"),
                await violations("PEM", "root", "same root"),
                await violations("PEM", "CA", "own root"),
                await violations("RootCa", "root", "own root"),
            ],
            [
                [sharedRoot(externalRoot, "team-server-ca, the mesh")],
                [sharedRoot("team-root-cert", leaves)],
                [sharedRoot(externalRoot, leaves)],
                [],
                [],
            ],
        );
    });

    it("separate-trust-domains: knows a RootCa of the stack given as PEM elsewhere too by its key, once pulumi up has made it", async () => {
        // A RootCa above the mesh CA, whose certificate and key the server CA is given as PEM (a StackReference's outputs, say).
        type Given = { certPem: string; privateKeyPem: string };
        const state = new Map(sharedStateWithSuiteKeys());
        const program = (given?: Given) =>
            runWithStandIn(
                () => {
                    const root = new RootCa("team-root", {
                        subject: { commonName: "Team root" },
                        keyAlgorithm: "ECDSA",
                    });
                    new MeshPluginCa("team-mesh-ca", { rootCa: root, cluster: "east", keyAlgorithm: "ECDSA" });
                    if (given !== undefined) {
                        new IntermediateCa("team-server-ca", {
                            rootCa: given,
                            subject: { commonName: "Team server CA" },
                            keyAlgorithm: "ECDSA",
                        });
                    }
                    return { certPem: root.certPem, privateKeyPem: root.privateKeyPem };
                },
                { state },
            );
        const given = (await program()).outputs as unknown as Given;
        const resources = fromEngine((await program(given)).engine.resources).map((r) => ({
            ...r,
            givenCaCert: r.name === "team-server-ca-cert",
        }));
        // What pulumi up sends a stack policy: each resource's outputs, the root's certPem among them. In either
        // order, the root is named by its resource rather than as the root given as PEM.
        const madeByUp = resources.map((r) => ({ ...r, props: { ...r.props, ...r.state } }));
        const refused = [sharedRoot("team-root-cert", "team-server-ca, the mesh")];
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, madeByUp), refused);
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, [...madeByUp].reverse()), refused);
    });

    it("separate-trust-domains: a CA given as PEM (an offline root's) is one domain with every leaf it signs", async () => {
        // The front end with offline roots: the ceremony signs the CAs, and the stack gives the gateway server CA as PEM
        // to the gateway's server certificate and APIC's UI-facing one, which it signs online too.
        const frontEnd = loadStackFile("examples/front-end/Pulumi.front-end.yaml");
        const slots = ["meshRoot", "serverRoot", "clientRoot", "uiClientRoot"];
        const roots = Object.fromEntries(
            slots.map((slot) => [
                slot,
                createRoot({
                    commonName: `Example Bank ${slot}`,
                    organization: "Example Bank",
                    validityDays: 7300,
                    keyAlgorithm: "ECDSA",
                }),
            ]),
        );
        const offlineRoots = (signed: Record<string, Record<string, string>> = {}) =>
            Object.fromEntries(
                slots.map((slot) => [slot, { certificate: roots[slot].certPem, intermediates: signed[slot] ?? {} }]),
            );
        const state = new Map(sharedStateWithSuiteKeys());
        const pending = planFromRawConfig({ ...frontEnd, offlineRoots: offlineRoots() });
        const csrs = (await runWithStandIn(() => requestOfflineSignatures(pending), { state })).outputs
            .intermediateCsrs as unknown as Record<string, string>;
        const signed: Record<string, Record<string, string>> = {};
        for (const id of pending.pendingIntermediates) {
            const issuer = pending.cas.find((ca) => ca.id === id)?.issuer;
            const slot = pending.cas.find((ca) => ca.id === issuer)?.slot as string;
            const { keyPem, certPem } = roots[slot];
            const csrPem = csrs[id];
            signed[slot] = {
                ...signed[slot],
                [id]: signIntermediate({ rootKeyPem: keyPem, rootCertPem: certPem, csrPem, validityDays: 1095 }),
            };
        }
        const run = await runWithStandIn(
            () => buildPki(planFromRawConfig({ ...frontEnd, offlineRoots: offlineRoots(signed) })).outputs,
            { state },
        );
        const offline = fromEngine(run.engine.resources);
        const gatewayCa = (r: Resource) => String(r.props.caCertPem) === signed.serverRoot["gateway-server-ca"];
        assert.deepStrictEqual(
            offline.filter(gatewayCa).map((r) => r.name),
            ["apic-ui-apic-example-api-bank-example-cert", "ob-gateway-ob-server-cert"],
        );
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, offline), []);

        // A CA given as PEM that signs the gateway's leaves and a mesh CA too mixes two domains: named as a CA.
        const external = opensslRoot(
            "Team external root",
            crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey,
            "0x5A18",
        );
        const ca = await mintSubCa(external, "Team external CA");
        const program = await runWithStandIn(
            () => {
                paymentsGateway(
                    { certPem: ca.certPem, privateKeyPem: ca.keyPem, chainPem: ca.certPem },
                    external.certPem,
                );
                const issuer = {
                    certPem: ca.certPem,
                    privateKeyPem: ca.keyPem,
                    chainPem: ca.certPem,
                    rootCertPem: external.certPem,
                };
                const mesh = new MeshPluginCa("team-mesh-ca", { issuer, cluster: "east", keyAlgorithm: "ECDSA" });
                return { mesh: mesh.certChainPem };
            },
            { state: sharedStateWithSuiteKeys() },
        );
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, fromEngine(program.engine.resources)), [
            sharedRoot(
                "the CA given as PEM (CN=Team external CA)",
                "payments-gateway-payments-server-cert (its own leaf), the mesh",
                "CA",
            ),
        ]);
    });

    it("separate-trust-domains: a CA signs leaves of one domain, and a mesh CA none outside MeshPluginCa, allowSharedRoot or not", async () => {
        // The mesh CA as the gateway's server CA or APIC's client CA, or one CA as both: each under roots of their own.
        type Misuse = "mesh CA signs the gateway" | "mesh CA signs APIC" | "server CA signs APIC";
        const program = (misuse: Misuse) =>
            runWithStandIn(
                () => {
                    const [meshRoot, serverRoot, clientRoot] = [
                        teamRoot("mesh"),
                        teamRoot("server"),
                        teamRoot("client"),
                    ];
                    const mesh = new MeshPluginCa("team-mesh-ca", {
                        rootCa: meshRoot,
                        cluster: "east",
                        keyAlgorithm: "ECDSA",
                    });
                    const meshIssuer = {
                        certPem: mesh.certPem,
                        privateKeyPem: mesh.privateKeyPem,
                        chainPem: mesh.certPem,
                    };
                    const serverCa = new IntermediateCa("team-server-ca", {
                        rootCa: serverRoot,
                        subject: { commonName: "Team server CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    const clientCa = new IntermediateCa("team-client-ca", {
                        rootCa: clientRoot,
                        subject: { commonName: "Team client CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    paymentsGateway(misuse === "mesh CA signs the gateway" ? meshIssuer : serverCa, clientRoot.certPem);
                    new ApicClientBundle("payments-client", {
                        clientCa:
                            misuse === "mesh CA signs APIC"
                                ? meshIssuer
                                : misuse === "server CA signs APIC"
                                  ? serverCa
                                  : clientCa,
                        identity: "urn:example:apic-client:payments",
                        // ApicClientBundle itself refuses the root of its clientCa as APIC's truststore: the
                        // server CA signing APIC's client is left to the policy to find.
                        serverTrustBundlePem:
                            misuse === "server CA signs APIC" ? clientRoot.certPem : serverRoot.certPem,
                        keyAlgorithm: "ECDSA",
                    });
                    return { mesh: mesh.certChainPem };
                },
                { state: sharedStateWithSuiteKeys() },
            );
        const violations = async (misuse: Misuse, config: Record<string, unknown> = {}) =>
            checkStack(separateTrustDomainsPolicy, fromEngine((await program(misuse)).engine.resources), config);
        const meshSigns = (leaf: string) =>
            `team-mesh-ca-cert: a mesh plug-in CA signs ${leaf}, outside MeshPluginCa; its key is in every cluster's cacerts, ` +
            "so any cluster could mint them. Sign them with a CA of their own under a root of their own (an IntermediateCa as " +
            "IstioGatewayTls' serverCa or ApicClientBundle's clientCa), never a MeshPluginCa's certificate and key";
        const meshSignsGateway = [meshSigns("payments-gateway-payments-server-cert")];
        const meshSignsApic = [meshSigns("payments-client-cert")];
        assert.deepStrictEqual(await violations("mesh CA signs the gateway"), meshSignsGateway);
        assert.deepStrictEqual(
            await violations("mesh CA signs the gateway", { allowSharedRoot: true }),
            meshSignsGateway,
        );
        assert.deepStrictEqual(await violations("mesh CA signs APIC"), meshSignsApic);
        assert.deepStrictEqual(await violations("mesh CA signs APIC", { allowSharedRoot: true }), meshSignsApic);
        // The mesh CA's certificate given as text to the gateway (config, a file, a StackReference): no dependency, but
        // its key is the MeshPluginCa's, once pulumi up has made it (what up sends a stack policy: each one's outputs).
        const givenAsText = fromEngine((await program("mesh CA signs the gateway")).engine.resources).map((r) => ({
            ...r,
            props: { ...r.props, ...r.state },
            givenCaCert: r.name === "payments-gateway-payments-server-cert",
        }));
        assert.deepStrictEqual(await checkStack(separateTrustDomainsPolicy, givenAsText), meshSignsGateway);
        assert.deepStrictEqual(
            await checkStack(separateTrustDomainsPolicy, givenAsText, { allowSharedRoot: true }),
            meshSignsGateway,
        );
        assert.deepStrictEqual(await violations("server CA signs APIC"), [
            "team-server-ca-cert: one CA signs for payments-client-cert (leaves of apic-istio-pki:index:ApicClientBundle), " +
                "payments-gateway-payments-server-cert (server certificates), so its key mints certificates for several trust domains. " +
                "Give each its own CA under a root of its own (in a program of your own, an IntermediateCa for IstioGatewayTls' serverCa, " +
                "another for ApicClientBundle's clientCa), or accept the weaker guarantee with allowSharedRoot: true",
        ]);
        assert.deepStrictEqual(await violations("server CA signs APIC", { allowSharedRoot: true }), []);
    });

    it("separate-trust-domains: the leaves of one of the package's components are one domain, whichever program component holds it", async () => {
        // Two ApicClientBundles sharing one client CA (or root), one inside a component of the program's own.
        const program = (clientCaIs: "a root" | "a CA") =>
            runWithStandIn(
                () => {
                    const [serverRoot, clientRoot] = [teamRoot("server"), teamRoot("client")];
                    const clientCa =
                        clientCaIs === "a root"
                            ? { certPem: clientRoot.certPem, privateKeyPem: clientRoot.privateKeyPem, chainPem: "" }
                            : new IntermediateCa("team-client-ca", {
                                  rootCa: clientRoot,
                                  subject: { commonName: "Team APIC client CA" },
                                  keyAlgorithm: "ECDSA",
                              });
                    for (const id of ["payments", "cards"]) {
                        new ApicClientBundle(`${id}-client`, {
                            clientCa,
                            identity: `urn:example:apic-client:${id}`,
                            serverTrustBundlePem: serverRoot.certPem,
                            keyAlgorithm: "ECDSA",
                        });
                    }
                    return {};
                },
                { state: sharedStateWithSuiteKeys() },
            );
        const verdicts: Record<string, string[]> = {};
        for (const clientCaIs of ["a root", "a CA"] as const) {
            const resources = fromEngine((await program(clientCaIs)).engine.resources);
            const inTenant = resources.map((r) =>
                r.name.startsWith("cards-client-") ? { ...r, parentType: `team:index:Tenant$${r.parentType}` } : r,
            );
            assert.deepStrictEqual(
                inTenant.filter((r) => r.name === "cards-client-cert").map((r) => r.parentType),
                ["team:index:Tenant$apic-istio-pki:index:ApicClientBundle"],
            );
            verdicts[`${clientCaIs}, flat`] = await checkStack(separateTrustDomainsPolicy, resources);
            verdicts[`${clientCaIs}, one in a Tenant`] = await checkStack(separateTrustDomainsPolicy, inTenant);
        }
        assert.deepStrictEqual(verdicts, {
            "a root, flat": [],
            "a root, one in a Tenant": [],
            "a CA, flat": [],
            "a CA, one in a Tenant": [],
        });
    });

    it("private-key-strength: refuses RSA below 2048 and ECDSA left on the P-224 default", async () => {
        assert.deepStrictEqual(
            await checkResource(keyStrengthPolicy, { ...named("ob-apic-client-key"), props: { algorithm: "ECDSA" } }),
            [
                "ob-apic-client-key: ECDSA P224 is too weak; use RSA 2048+ or ECDSA P256+ (set ecdsaCurve: the default is P224)",
            ],
        );
        // The hint on the provider's default curve only where the curve was left to it.
        assert.deepStrictEqual(
            await checkResource(keyStrengthPolicy, {
                ...named("ob-apic-client-key"),
                props: { algorithm: "RSA", rsaBits: 1024 },
            }),
            ["ob-apic-client-key: RSA 1024 is too weak; use RSA 2048+ or ECDSA P256+"],
        );
        assert.deepStrictEqual(
            await checkResource(keyStrengthPolicy, {
                ...named("ob-apic-client-key"),
                props: { algorithm: "ECDSA", ecdsaCurve: "P224" },
            }),
            ["ob-apic-client-key: ECDSA P224 is too weak; use RSA 2048+ or ECDSA P256+"],
        );
        assert.deepStrictEqual(
            await checkResource(keyStrengthPolicy, {
                ...named("ob-apic-client-key"),
                props: { algorithm: "ECDSA", ecdsaCurve: "P256" },
            }),
            [],
        );
    });

    it("ca-key-strength: refuses a CA whose key is RSA 2048", async () => {
        const weakened = real.map((r) =>
            r.name === "apic-client-ca-key" ? { ...r, props: { ...r.props, rsaBits: 2048 } } : r,
        );
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, weakened), [
            "apic-client-ca-cert: the CA key apic-client-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
        ]);
    });

    it("ca-key-strength: refuses a CA key of Ed25519 or of an algorithm the pack does not know", async () => {
        // README and the offline ceremony refuse Ed25519 CA keys; an unknown algorithm is no strength at all.
        const withCaKey = (props: Record<string, unknown>) =>
            real.map((r) => (r.name === "apic-client-ca-key" ? { ...r, props } : r));
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, withCaKey({ algorithm: "ED25519" })), [
            "apic-client-ca-cert: the CA key apic-client-ca-key is ED25519; CA keys must be RSA 3072+ or ECDSA P256+",
        ]);
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, withCaKey({ algorithm: "DSA" })), [
            "apic-client-ca-cert: the CA key apic-client-ca-key is DSA (an algorithm the pack does not know); CA keys must be RSA 3072+ or ECDSA P256+",
        ]);
        // A key's PEM from another resource (a vault, say) is no tls.PrivateKey: its props name no algorithm.
        const fromVault = real.map((r) =>
            r.name === "apic-client-ca-key" ? { ...r, type: "vault:kv/secretV2:SecretV2", props: { mount: "pki" } } : r,
        );
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, fromVault), []);
        // A leaf's Ed25519 key is strong enough; an unknown algorithm is not.
        const leafKey = named("ob-apic-client-key");
        assert.deepStrictEqual(
            await checkResource(keyStrengthPolicy, { ...leafKey, props: { algorithm: "ED25519" } }),
            [],
        );
        assert.deepStrictEqual(await checkResource(keyStrengthPolicy, { ...leafKey, props: { algorithm: "DSA" } }), [
            "ob-apic-client-key: DSA (an algorithm the pack does not know) is too weak; use RSA 2048+ or ECDSA P256+",
        ]);
    });

    it("ca-key-strength: checks a CA key given as PEM (config, a file, a StackReference): size, algorithm, RSA exponent", async () => {
        const pem = (key: crypto.KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;
        const rsa = (modulusLength: number, publicExponent: number) =>
            pem(crypto.generateKeyPairSync("rsa", { modulusLength, publicExponent }).privateKey);
        const root = (name: string, privateKeyPem: string) => ({
            type: "tls:index/selfSignedCert:SelfSignedCert",
            name: `${name}-cert`,
            props: { ...named("client-root-ca-cert").props, privateKeyPem: asSecret(privateKeyPem) },
        });
        const intermediate = named("apic-client-ca-cert");
        const given = [
            root("weak-root", rsa(1024, 3)),
            root("exponent-root", TEST_ONLY_RSA_EXPONENT_3_KEY_PEM),
            root("ed-root", pem(crypto.generateKeyPairSync("ed25519").privateKey)),
            root("ec-root", pem(crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey)),
            root("fixture-root", TEST_ONLY_CA_KEY_PEM),
            // A CSR resource given the key, and a CSR given as PEM (an RSA 2048 client's).
            {
                type: "tls:index/certRequest:CertRequest",
                name: "csr-ca-csr",
                props: { privateKeyPem: asSecret(rsa(1024, 65537)) },
            },
            { ...intermediate, name: "csr-ca-cert" },
            {
                ...intermediate,
                name: "pem-csr-ca-cert",
                props: { ...intermediate.props, certRequestPem: named("ob-apic-client-csr").state?.certRequestPem },
            },
            // What a preview sends for a key not yet known: not checked, and the rest still are.
            root("preview-root", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"),
        ];
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, given), [
            "weak-root-cert: the CA key in its privateKeyPem is RSA 1024; CA keys must be RSA 3072+ or ECDSA P256+",
            "exponent-root-cert: the CA key in its privateKeyPem is RSA 3072 with public exponent 3; a CA's RSA key must have exponent 65537, " +
                "what every key generator makes (with exponent 1 anyone could sign as the CA)",
            "ed-root-cert: the CA key in its privateKeyPem is ED25519; CA keys must be RSA 3072+ or ECDSA P256+",
            "fixture-root-cert: the CA key in its privateKeyPem is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
            "csr-ca-cert: the CA key in the privateKeyPem of csr-ca-csr is RSA 1024; CA keys must be RSA 3072+ or ECDSA P256+",
            "pem-csr-ca-cert: the CA key in its certRequestPem is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
        ]);
    });

    it("ca-key-strength: checks the key that signs, when the issuer is given as PEM (an external root), whose chains Envoy accepts", async () => {
        // A component takes such an issuer (@pulumi/tls signs with it, and Envoy verifies its chains): the pack refuses it.
        const signedBy = async (root: { certPem: string; keyPem: string }) => {
            const run = await runWithStandIn(
                () => {
                    const ca = new IntermediateCa("edge-ca", {
                        issuer: { certPem: root.certPem, privateKeyPem: root.keyPem, rootCertPem: root.certPem },
                        subject: { commonName: "Edge CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    type Issuer = {
                        certPem: tls.LocallySignedCertArgs["caCertPem"];
                        privateKeyPem: tls.LocallySignedCertArgs["caPrivateKeyPem"];
                    };
                    const leaf = (name: string, issuer: Issuer) => {
                        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" });
                        const csr = new tls.CertRequest(`${name}-csr`, {
                            privateKeyPem: key.privateKeyPem,
                            subject: { commonName: name },
                        });
                        return new tls.LocallySignedCert(`${name}-cert`, {
                            certRequestPem: csr.certRequestPem,
                            caCertPem: issuer.certPem,
                            caPrivateKeyPem: issuer.privateKeyPem,
                            allowedUses: ["digital_signature", "client_auth"],
                            validityPeriodHours: 24,
                        }).certPem;
                    };
                    // A leaf of the CA (its own key is checked as before), and one the root signs directly.
                    return {
                        chain: leaf("edge-client", ca),
                        ca: ca.certPem,
                        direct: leaf("root-client", { certPem: root.certPem, privateKeyPem: root.keyPem }),
                    };
                },
                { state: new Map() },
            );
            const { chain, ca } = run.outputs as unknown as Record<string, string>;
            const envoy = verifyPeer({ caCrt: root.certPem, chain: chain + ca, purpose: "sslclient" }).accepted;
            // Sorted: the CA's certificate registers once its issuer is checked, in no fixed order.
            return { envoy, pack: (await checkStack(caKeyStrengthPolicy, fromEngine(run.engine.resources))).sort() };
        };
        const refused = (root: string, problem: string) => ({
            envoy: true,
            pack: [
                `edge-ca-cert: the CA key that signs it, of its caCertPem (CN=${root}), is ${problem}; CA keys must be RSA 3072+ or ECDSA P256+`,
                `root-client-cert: the CA key that signs it, of its caCertPem (CN=${root}), is ${problem}; CA keys must be RSA 3072+ or ECDSA P256+`,
            ],
        });
        const rootOf = (name: string, key: crypto.KeyObject) => opensslRoot(name, key, "0x5A17");
        const { generateKeyPairSync } = crypto;
        assert.deepStrictEqual(
            [
                await signedBy(rootOf("RSA root", generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey)),
                await signedBy(rootOf("P-224 root", generateKeyPairSync("ec", { namedCurve: "secp224r1" }).privateKey)),
                await signedBy(rootOf("Ed25519 root", generateKeyPairSync("ed25519").privateKey)),
                await signedBy(rootOf("P-384 root", generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey)),
            ],
            [
                refused("RSA root", "RSA 1024"),
                refused("P-224 root", "ECDSA P224"),
                refused("Ed25519 root", "ED25519"),
                { envoy: true, pack: [] },
            ],
        );
        // What a preview sends for an issuer not yet known: checked by pulumi up.
        const leaf = named("ob-apic-client-cert");
        const preview = { ...leaf, props: { ...leaf.props, caCertPem: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } };
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, [preview]), []);
    });

    it("issuing-ca-certificate: refuses a CA given as PEM that is expired, not valid yet or signed with SHA-1", async () => {
        const leaf = named("ob-apic-client-cert");
        const under = (ca: TestCa | string) =>
            checkResource(issuingCaCertificatePolicy, {
                ...leaf,
                props: { ...leaf.props, caCertPem: typeof ca === "string" ? ca : ca.certPem },
            });
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const root = await mintRoot("Bank root", { validityHours: 96, issuedAt: hours(-72) });
        const expired = await mintSubCa(root, "Old CA", { issuedAt: hours(-48), validityHours: 24 });
        const ahead = await mintSubCa(root, "Future CA", { issuedAt: hours(1) });
        const caExtensions = ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign"];
        const sha1 = opensslCa("SHA-1 CA", caExtensions, root, "sha1");
        const dateOf = (ca: TestCa, date: "validTo" | "validFrom") =>
            new Date(new crypto.X509Certificate(ca.certPem)[date]).toISOString();
        assert.deepStrictEqual(
            [await under(expired), await under(ahead), await under(sha1)],
            [
                [
                    `ob-apic-client-cert: the CA of its caCertPem (CN=Old CA) expired on ${dateOf(expired, "validTo")}: ` +
                        'BoringSSL, OpenSSL and Go refuse every certificate under it ("certificate has expired"); renew it, or give the current CA',
                ],
                [
                    `ob-apic-client-cert: the CA of its caCertPem (CN=Future CA) is not valid before ${dateOf(ahead, "validFrom")}: ` +
                        'BoringSSL, OpenSSL and Go refuse every certificate under it until then ("certificate is not yet valid"); ' +
                        "give the current CA, or wait until then (if it was issued today, the issuing machine's clock is ahead)",
                ],
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=SHA-1 CA) is signed with SHA-1, whose collisions let a forged certificate " +
                        'carry the same signature, and Go (istiod) refuses it ("insecure algorithm"); re-issue CN=SHA-1 CA signed with SHA-256 or better',
                ],
            ],
        );
        // A CA dated minutes ahead (a clock ahead), a self-signed root signed with SHA-1 (its own signature no verifier
        // checks), the stack's own CA, and an issuer a preview does not know yet pass.
        const minutesAhead = await mintSubCa(root, "Near CA", { issuedAt: new Date(Date.now() + 2 * 60_000) });
        assert.deepStrictEqual(
            [
                await under(minutesAhead),
                await under(opensslCa("SHA-1 root", caExtensions, undefined, "sha1")),
                await under(leaf.props.caCertPem as string),
                await under(UNKNOWN),
            ],
            [[], [], [], []],
        );
    });

    it("issuing-ca-certificate: refuses a CA given as PEM that is no CA, lacks keyCertSign, or has pathlen:0 above a CA signed here, as Envoy does", async () => {
        const root = await mintRoot("Bank root");
        const notCa = opensslCa(
            "Not a CA",
            ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature"],
            root,
        );
        const noCertSign = opensslCa(
            "No keyCertSign CA",
            ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,digitalSignature,cRLSign"],
            root,
        );
        const lastCa = opensslCa(
            "Last CA",
            ["basicConstraints = critical,CA:TRUE,pathlen:0", "keyUsage = critical,keyCertSign,cRLSign"],
            root,
        );
        // Envoy's verdict on a client certificate signed under each (under Last CA, by a CA signed there), and one signed by Last CA itself.
        const client = { commonName: "ob client", allowedUses: ["digital_signature", "client_auth"] };
        const envoy = async (ca: TestCa, below?: TestCa) => {
            const leaf = await mintLeaf(below ?? ca, client);
            const chain = leaf.cert + (below === undefined ? "" : below.certPem) + ca.certPem;
            return verifyPeer({ caCrt: root.certPem, chain, purpose: "sslclient" }).accepted;
        };
        assert.deepStrictEqual(
            [
                await envoy(notCa),
                await envoy(noCertSign),
                await envoy(lastCa, await mintSubCa(lastCa, "CA under Last CA")),
                await envoy(lastCa),
            ],
            [false, false, false, true],
        );
        const leaf = named("ob-apic-client-cert");
        const under = (ca: TestCa, isCaCertificate = false) =>
            checkResource(issuingCaCertificatePolicy, {
                ...leaf,
                props: { ...leaf.props, caCertPem: ca.certPem, isCaCertificate },
            });
        assert.deepStrictEqual(
            [await under(notCa), await under(noCertSign), await under(lastCa, true), await under(lastCa)],
            [
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=Not a CA) is not a CA certificate (CA:FALSE), so verifiers accept nothing it signs; " +
                        "give a CA certificate instead, or reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                ],
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=No keyCertSign CA) is a CA certificate whose keyUsage lacks keyCertSign, " +
                        "so verifiers accept nothing it signs; re-issue it with keyCertSign (and cRLSign), or give another CA",
                ],
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=Last CA) has pathlen:0, which allows no CA below it, and with the CA made here there would be 1: " +
                        'OpenSSL, Go (istiod) and Envoy\'s BoringSSL would refuse every certificate that CA signs ("path length constraint exceeded"); ' +
                        "sign this CA with a CA higher up the chain, or re-issue CN=Last CA with pathlen:1 or more",
                ],
                [],
            ],
        );
    });

    it("issuing-ca-certificate: refuses a version 1 root (no basicConstraints) as caCertPem, though Envoy accepts the leaves it signs", async () => {
        // openssl x509 -req without extensions writes a version 1 certificate (openssl req -x509 -x509v1 in OpenSSL 3.2+).
        const dir = tempDir("v1-root-policy");
        const keyPem = crypto
            .generateKeyPairSync("ec", { namedCurve: "secp384r1" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const keyFile = path.join(dir, "root.key");
        fs.writeFileSync(keyFile, keyPem, { mode: 0o600 });
        const openssl = promisify(execFile);
        const csr = path.join(dir, "root.csr");
        await openssl("openssl", ["req", "-new", "-key", keyFile, "-subj", "/CN=Corp v1 root", "-out", csr]);
        const certFile = path.join(dir, "root.crt");
        await openssl("openssl", ["x509", "-req", "-in", csr, "-signkey", keyFile, "-days", "1", "-out", certFile]);
        const certPem = fs.readFileSync(certFile, "utf8");
        const text = (await openssl("openssl", ["x509", "-in", certFile, "-noout", "-text"])).stdout;
        fs.rmSync(dir, { recursive: true });
        const v1Root = { certPem, keyPem };
        const leafPem = (
            await mintLeaf(v1Root, { commonName: "ob client", allowedUses: ["digital_signature", "client_auth"] })
        ).cert;
        const leaf = named("ob-apic-client-cert");
        assert.deepStrictEqual(
            [
                /Version: 1 \(0x0\)/.test(text) && !/X509v3/.test(text),
                verifyPeer({ caCrt: certPem, chain: leafPem, purpose: "sslclient" }).accepted,
                await checkResource(issuingCaCertificatePolicy, {
                    ...leaf,
                    props: { ...leaf.props, caCertPem: certPem },
                }),
            ],
            [
                true,
                true,
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=Corp v1 root) has no basicConstraints extension (a version 1 certificate): " +
                        "Envoy's BoringSSL and OpenSSL accept the leaves it signs as a root, but OpenSSL's strict checks (-x509_strict) refuse it as a CA " +
                        '("invalid CA certificate"), and this package signs under no CA without CA:TRUE; ' +
                        "reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                ],
            ],
        );
    });

    it('isCaCertificate a preview does not know yet: no rule turns into "can\'t run", and the checks that do not need it still run', async () => {
        const unknownCa = (r: Resource): Resource => ({ ...r, props: { ...r.props, isCaCertificate: UNKNOWN } });
        const root = await mintRoot("Bank root");
        const notCa = opensslCa(
            "Not a CA",
            ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature"],
            root,
        );
        const lastCa = opensslCa(
            "Last CA",
            ["basicConstraints = critical,CA:TRUE,pathlen:0", "keyUsage = critical,keyCertSign,cRLSign"],
            root,
        );
        const leaf = named("ob-apic-client-cert");
        const caCert = named("apic-client-ca-cert");
        const rootCert = named("client-root-ca-cert");
        const under = (ca: TestCa) =>
            checkResource(
                issuingCaCertificatePolicy,
                unknownCa({ ...leaf, props: { ...leaf.props, caCertPem: ca.certPem } }),
            );
        assert.deepStrictEqual(
            [
                // The CA's own flags are checked; its pathlen against a CA signed here waits for pulumi up.
                await under(notCa),
                await under(lastCa),
                // A certificate with a TLS use is a leaf whatever isCaCertificate says; one without, pulumi up judges.
                await checkResource(
                    leafValidityPolicy,
                    unknownCa({ ...leaf, props: { ...leaf.props, validityPeriodHours: 400 * 24 } }),
                ),
                await checkResource(
                    leafValidityPolicy,
                    unknownCa({ ...caCert, props: { ...caCert.props, validityPeriodHours: 400 * 24 } }),
                ),
                await checkResource(
                    rootPathLengthPolicy,
                    unknownCa({ ...rootCert, props: { ...rootCert.props, maxPathLength: 0 } }),
                ),
                await checkResource(
                    certificateUsagePolicy,
                    unknownCa({ ...caCert, props: { ...caCert.props, allowedUses: ["cert_signing"] } }),
                ),
                // A stack rule still judges the other certificates.
                await checkStack(
                    caKeyStrengthPolicy,
                    real.map((r) =>
                        r.name === "apic-client-ca-key"
                            ? { ...r, props: { ...r.props, rsaBits: 2048 } }
                            : r.name === "ob-apic-client-cert" || r.name === "client-root-ca-cert"
                              ? unknownCa(r)
                              : r,
                    ),
                ),
            ],
            [
                [
                    "ob-apic-client-cert: the CA of its caCertPem (CN=Not a CA) is not a CA certificate (CA:FALSE), so verifiers accept nothing it signs; " +
                        "give a CA certificate instead, or reissue it as a version 3 CA certificate with basicConstraints CA:TRUE and keyCertSign",
                ],
                [],
                ["ob-apic-client-cert: a leaf valid 400 days exceeds the 398-day maximum; " + LOWER_VALIDITY],
                [],
                [],
                [],
                [
                    "apic-client-ca-cert: the CA key apic-client-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
                ],
            ],
        );
    });

    it("a value a preview does not know yet in one resource: a stack rule skips that resource alone (no \"can't run\") and reports the others' violations", async () => {
        const withProps = (changes: Record<string, Record<string, unknown>>) =>
            real.map((r) => (r.name in changes ? { ...r, props: { ...r.props, ...changes[r.name] } } : r));
        const weakClientCaKey = {
            "apic-client-ca-key": { rsaBits: 2048 },
            "server-root-ca-key": { rsaBits: 2048 },
        };
        // Two CA levels below the client root and below the server root, whose maxPathLength is 1.
        const deepChains = {
            "dp-apic-client-cert": { isCaCertificate: true },
            "dp-gateway-dp-server-cert": { isCaCertificate: true },
        };
        const pathLengthExceeded = (root: string, ca: string, below: string) =>
            `${root}: maxPathLength 1 allows 1 CA level below it, but the stack puts 2 there (${ca} above ${below}): ` +
            `OpenSSL and Go (istiod) would refuse every certificate ${below} or a CA below it signs ("path length constraint exceeded"; ` +
            `Envoy's BoringSSL alone ignores a trust anchor's pathlen); set its maxPathLength to 2 or more, or sign ${below} higher up`;
        // The client CA signs a gateway server certificate too, and the mesh CA another.
        const caCertPemOf = (name: string) => ({ caCertPem: named(name).state?.certPem });
        const mixedDomains = {
            "ob-gateway-ob-server-cert": caCertPemOf("apic-client-ca-cert"),
            "dp-gateway-dp-server-cert": caCertPemOf("mesh-ca-example-cert"),
        };
        const clientCaSigns = (leaves: string) =>
            `apic-client-ca-cert: one CA signs for ${leaves}ob-gateway-ob-server-cert (server certificates), so its key mints certificates for several trust domains. ` +
            "Give each its own CA under a root of its own (in a program of your own, an IntermediateCa for IstioGatewayTls' serverCa, " +
            "another for ApicClientBundle's clientCa), or accept the weaker guarantee with allowSharedRoot: true";
        const meshCaSigns =
            "mesh-ca-example-cert: a mesh plug-in CA signs dp-gateway-dp-server-cert, outside MeshPluginCa; its key is in every cluster's cacerts, " +
            "so any cluster could mint them. Sign them with a CA of their own under a root of their own (an IntermediateCa as " +
            "IstioGatewayTls' serverCa or ApicClientBundle's clientCa), never a MeshPluginCa's certificate and key";
        const bundleLeaves = "(leaves of apic-istio-pki:index:ApicClientBundle), ";
        assert.deepStrictEqual(
            [
                // Each stack known: what the rules find.
                await checkStack(caKeyStrengthPolicy, withProps(weakClientCaKey)),
                await checkStack(caPathLengthPolicy, withProps(deepChains)),
                await checkStack(separateTrustDomainsPolicy, withProps(mixedDomains)),
                // A key's rsaBits, ecdsaCurve or algorithm not known yet: that key is left to pulumi up.
                await checkStack(
                    caKeyStrengthPolicy,
                    withProps({
                        ...weakClientCaKey,
                        "server-root-ca-key": { rsaBits: UNKNOWN },
                        "client-root-ca-key": { algorithm: "ECDSA", ecdsaCurve: UNKNOWN },
                        "mesh-root-ca-key": { algorithm: UNKNOWN },
                    }),
                ),
                // A CA's maxPathLength not known yet: that CA's limit is left to pulumi up.
                await checkStack(
                    caPathLengthPolicy,
                    withProps({ ...deepChains, "server-root-ca-cert": { maxPathLength: UNKNOWN } }),
                ),
                // A leaf's allowedUses, or one of them, not known yet: that leaf is left out of its CA's domains; a mesh CA's is refused all the same.
                await checkStack(
                    separateTrustDomainsPolicy,
                    withProps({ ...mixedDomains, "dp-apic-client-cert": { allowedUses: UNKNOWN } }),
                ),
                await checkStack(
                    separateTrustDomainsPolicy,
                    withProps({
                        ...mixedDomains,
                        "dp-apic-client-cert": { allowedUses: ["digital_signature", UNKNOWN] },
                        "dp-gateway-dp-server-cert": {
                            ...mixedDomains["dp-gateway-dp-server-cert"],
                            allowedUses: UNKNOWN,
                        },
                    }),
                ),
            ],
            [
                [
                    "server-root-ca-cert: the CA key server-root-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
                    "apic-client-ca-cert: the CA key apic-client-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
                ],
                [
                    pathLengthExceeded("server-root-ca-cert", "gateway-server-ca-cert", "dp-gateway-dp-server-cert"),
                    pathLengthExceeded("client-root-ca-cert", "apic-client-ca-cert", "dp-apic-client-cert"),
                ],
                [meshCaSigns, clientCaSigns(`dp-apic-client-cert, ob-apic-client-cert ${bundleLeaves}`)],
                [
                    "apic-client-ca-cert: the CA key apic-client-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
                ],
                [pathLengthExceeded("client-root-ca-cert", "apic-client-ca-cert", "dp-apic-client-cert")],
                [meshCaSigns, clientCaSigns(`ob-apic-client-cert ${bundleLeaves}`)],
                [meshCaSigns, clientCaSigns(`ob-apic-client-cert ${bundleLeaves}`)],
            ],
        );
    });

    it("a leaf's issuer is the certificate of its caCertPem, whatever order the engine lists caCertPem's dependencies in", async () => {
        // What pulumi up sends: each resource's outputs. A checked issuer's caCertPem depends on the issuer's chain and
        // root too (lib/components/keys.ts, checkedIssuer): here the root first, as another order of pulumi.all could list it.
        const rootFirst = ["client-root-ca-cert", "client-root-ca-key", "apic-client-ca-cert", "apic-client-ca-key"];
        const madeByUp = (r: Resource): Resource => ({ ...r, props: { ...r.props, ...r.state } });
        // With dp-apic-client-cert made a CA (`dpCa`): two CA levels below the client root, whose maxPathLength is 1.
        const stack = (dependencies?: string[], dpCa = false) =>
            real.map(madeByUp).map((r) =>
                r.name === "dp-apic-client-cert" || r.name === "ob-apic-client-cert"
                    ? {
                          ...r,
                          props: { ...r.props, isCaCertificate: dpCa && r.name === "dp-apic-client-cert" },
                          propertyDependencies: dependencies && { caCertPem: dependencies },
                      }
                    : r,
            );
        const pathLength =
            "client-root-ca-cert: maxPathLength 1 allows 1 CA level below it, but the stack puts 2 there (apic-client-ca-cert above dp-apic-client-cert): " +
            'OpenSSL and Go (istiod) would refuse every certificate dp-apic-client-cert or a CA below it signs ("path length constraint exceeded"; ' +
            "Envoy's BoringSSL alone ignores a trust anchor's pathlen); set its maxPathLength to 2 or more, or sign dp-apic-client-cert higher up";
        assert.deepStrictEqual(
            [
                await checkStack(caPathLengthPolicy, stack(undefined, true)),
                await checkStack(caPathLengthPolicy, stack(rootFirst, true)),
                await checkStack(separateTrustDomainsPolicy, stack()),
                await checkStack(separateTrustDomainsPolicy, stack(rootFirst)),
            ],
            [[pathLength], [pathLength], [], []],
        );
    });

    it("private-key-strength: checks a key given as PEM to a CertRequest or a SelfSignedCert by the leaf limits", async () => {
        const pem = (key: crypto.KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;
        const given = (type: string, name: string, key: crypto.KeyObject | string) =>
            checkResource(keyStrengthPolicy, {
                type,
                name,
                props: {
                    privateKeyPem: asSecret(typeof key === "string" ? key : pem(key)),
                    subject: { commonName: "x" },
                },
            });
        const csr = "tls:index/certRequest:CertRequest";
        const selfSigned = "tls:index/selfSignedCert:SelfSignedCert";
        const { generateKeyPairSync } = crypto;
        assert.deepStrictEqual(
            [
                await given(csr, "rsa-csr", generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey),
                await given(selfSigned, "p224-cert", generateKeyPairSync("ec", { namedCurve: "secp224r1" }).privateKey),
                await given(
                    csr,
                    "brainpool-csr",
                    generateKeyPairSync("ec", { namedCurve: "brainpoolP256r1" }).privateKey,
                ),
                await given(selfSigned, "ed448-cert", generateKeyPairSync("ed448").privateKey),
                await given(csr, "ed25519-csr", generateKeyPairSync("ed25519").privateKey),
                await given(
                    selfSigned,
                    "p256-cert",
                    generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey,
                ),
                await given(csr, "fixture-csr", TEST_ONLY_CA_KEY_PEM),
                // What a preview sends for a key not yet known (a tls.PrivateKey's, checked by itself).
                await given(csr, "preview-csr", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"),
            ],
            [
                ["rsa-csr: the key in its privateKeyPem is RSA 1024, too weak; use RSA 2048+ or ECDSA P256+"],
                ["p224-cert: the key in its privateKeyPem is ECDSA P224, too weak; use RSA 2048+ or ECDSA P256+"],
                [
                    "brainpool-csr: the key in its privateKeyPem is ECDSA brainpoolP256r1 (a curve the pack does not know), too weak; use RSA 2048+ or ECDSA P256+",
                ],
                [
                    "ed448-cert: the key in its privateKeyPem is ED448 (an algorithm the pack does not know), too weak; use RSA 2048+ or ECDSA P256+",
                ],
                [],
                [],
                [],
                [],
            ],
        );
    });

    it("private-key-strength: checks the key of a CSR given as PEM to a LocallySignedCert, a leaf's too", async () => {
        const pem = (key: crypto.KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;
        const { generateKeyPairSync } = crypto;
        const leaf = named("ob-apic-client-cert");
        // A CSR a client made and handed over as text (a file, config, a StackReference), signed as a leaf.
        const signed = (name: string, key: crypto.KeyObject | string) =>
            checkResource(keyStrengthPolicy, {
                ...leaf,
                name,
                props: {
                    ...leaf.props,
                    certRequestPem:
                        typeof key === "string"
                            ? key
                            : tlsProvider.certRequest({ privateKeyPem: pem(key), subject: { commonName: name } }).state
                                  .certRequestPem,
                },
            });
        assert.deepStrictEqual(
            [
                await signed("rsa1024-client", generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey),
                await signed("p224-client", generateKeyPairSync("ec", { namedCurve: "secp224r1" }).privateKey),
                await signed("rsa2048-client", generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey),
                await signed("p256-client", generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey),
                // What a preview sends for a CSR not yet known (a tls.CertRequest's, whose key is checked by itself).
                await signed("preview-client", UNKNOWN),
            ],
            [
                ["rsa1024-client: the key in its certRequestPem is RSA 1024, too weak; use RSA 2048+ or ECDSA P256+"],
                ["p224-client: the key in its certRequestPem is ECDSA P224, too weak; use RSA 2048+ or ECDSA P256+"],
                [],
                [],
                [],
            ],
        );
    });

    it("private-key-strength, ca-key-strength: read the write-only key inputs of @pulumi/tls 5.6 (privateKeyPemWo) as privateKeyPem, given as PEM or by a tls.PrivateKey", async () => {
        const pem = (key: crypto.KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;
        const p224 = pem(crypto.generateKeyPairSync("ec", { namedCurve: "secp224r1" }).privateKey);
        const csr = "tls:index/certRequest:CertRequest";
        const selfSigned = "tls:index/selfSignedCert:SelfSignedCert";
        const writeOnly = (type: string, name: string, key: string) =>
            checkResource(keyStrengthPolicy, {
                type,
                name,
                props: { privateKeyPemWo: asSecret(key), privateKeyPemWoVersion: 1, subject: { commonName: "x" } },
            });
        assert.deepStrictEqual(
            [
                await writeOnly(csr, "wo-csr", p224),
                await writeOnly(selfSigned, "wo-cert", p224),
                await writeOnly(csr, "wo-fixture-csr", TEST_ONLY_CA_KEY_PEM),
                await writeOnly(csr, "wo-preview-csr", UNKNOWN),
            ],
            [
                ["wo-csr: the key in its privateKeyPemWo is ECDSA P224, too weak; use RSA 2048+ or ECDSA P256+"],
                ["wo-cert: the key in its privateKeyPemWo is ECDSA P224, too weak; use RSA 2048+ or ECDSA P256+"],
                [],
                [],
            ],
        );
        // A CA key given as PEM to the write-only input of a self-signed CA or of a CA's CSR, and one a
        // tls.PrivateKey makes (in a preview: not known, the dependency tells which key it is).
        const root = named("client-root-ca-cert");
        const intermediate = named("apic-client-ca-cert");
        const rsa2048 = { type: "tls:index/privateKey:PrivateKey", props: { algorithm: "RSA", rsaBits: 2048 } };
        const rootProps = { ...root.props, privateKeyPem: undefined };
        const stack: Resource[] = [
            { ...root, name: "wo-root-cert", props: { ...rootProps, privateKeyPemWo: asSecret(TEST_ONLY_CA_KEY_PEM) } },
            { type: csr, name: "wo-ca-csr", props: { privateKeyPemWo: asSecret(TEST_ONLY_CA_KEY_PEM) } },
            { ...intermediate, name: "wo-ca-cert" },
            { ...rsa2048, name: "made-root-signing-key" },
            {
                ...root,
                name: "made-root-cert",
                props: { ...rootProps, privateKeyPemWo: UNKNOWN },
                propertyDependencies: { privateKeyPemWo: ["made-root-signing-key"] },
            },
            { ...rsa2048, name: "made-ca-signing-key" },
            {
                type: csr,
                name: "made-ca-csr",
                props: { privateKeyPemWo: UNKNOWN },
                propertyDependencies: { privateKeyPemWo: ["made-ca-signing-key"] },
            },
            { ...intermediate, name: "made-ca-cert" },
            // The CA key of a certificate signed under a CA given as PEM is read from that CA's certificate,
            // whichever input (caPrivateKeyPem or the write-only caPrivateKeyPemWo) gives it its private key.
            {
                ...named("ob-apic-client-cert"),
                name: "wo-signed-cert",
                givenCaCert: true,
                props: {
                    ...named("ob-apic-client-cert").props,
                    caCertPem: TEST_ONLY_CA_CERT_PEM,
                    caPrivateKeyPem: undefined,
                    caPrivateKeyPemWo: asSecret(TEST_ONLY_CA_KEY_PEM),
                    caPrivateKeyPemWoVersion: 1,
                },
            },
        ];
        const fixtureCa = subjectOf(new crypto.X509Certificate(TEST_ONLY_CA_CERT_PEM));
        assert.deepStrictEqual(await checkStack(caKeyStrengthPolicy, stack), [
            "wo-root-cert: the CA key in its privateKeyPemWo is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
            "wo-ca-cert: the CA key in the privateKeyPemWo of wo-ca-csr is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
            "made-root-cert: the CA key made-root-signing-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
            "made-ca-cert: the CA key made-ca-signing-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
            `wo-signed-cert: the CA key that signs it, of its caCertPem (${fixtureCa}), is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+`,
        ]);
    });

    it("leaf-max-validity: refuses a leaf (a CA with a TLS usage too) past the maximum, and the maximum is configurable", async () => {
        const leaf = named("ob-apic-client-cert");
        assert.deepStrictEqual(
            await checkResource(leafValidityPolicy, {
                ...leaf,
                props: { ...leaf.props, validityPeriodHours: 400 * 24 },
            }),
            ["ob-apic-client-cert: a leaf valid 400 days exceeds the 398-day maximum; " + LOWER_VALIDITY],
        );
        assert.strictEqual((await checkResource(leafValidityPolicy, leaf, { leafMaxDays: 300 })).length, 1);
        assert.deepStrictEqual(
            await checkResource(leafValidityPolicy, named("client-root-ca-cert")),
            [],
            "CAs are not leaves",
        );
        // A "CA" with a TLS usage is a leaf to Envoy and OpenSSL: isCaCertificate does not exempt it.
        const ca = named("apic-client-ca-cert");
        const uses = [
            "cert_signing",
            "crl_signing",
            "digital_signature",
            "key_encipherment",
            "server_auth",
            "client_auth",
        ];
        assert.deepStrictEqual(
            await checkResource(leafValidityPolicy, {
                ...ca,
                props: { ...ca.props, validityPeriodHours: 100 * 365 * 24, allowedUses: uses },
            }),
            ["apic-client-ca-cert: a leaf valid 36500 days exceeds the 398-day maximum; " + LOWER_VALIDITY],
        );
    });

    it("root-path-length: refuses a root with maxPathLength 0 or unset", async () => {
        const root = named("client-root-ca-cert");
        for (const maxPathLength of [0, undefined]) {
            assert.deepStrictEqual(
                await checkResource(rootPathLengthPolicy, { ...root, props: { ...root.props, maxPathLength } }),
                [
                    `client-root-ca-cert: maxPathLength ${String(maxPathLength)} sets no limit (0 and unset both mean none in @pulumi/tls); ` +
                        "set the number of CA levels below it, at least 1 (2 for a root above a policy CA above issuing CAs)",
                ],
            );
        }
    });

    it("ca-path-length: refuses a CA whose maxPathLength allows fewer CA levels than the stack puts below it, as OpenSSL does", async () => {
        /** A root, CAs one below the other (their maxPathLength each), and a gateway's server certificate, in @pulumi/tls alone. */
        const chainOf = async (rootPathLength: number, cas: [string, number | undefined][]) => {
            const run = await runWithStandIn(
                () => {
                    const rootKey = new tls.PrivateKey("root-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
                    const root = new tls.SelfSignedCert("root-cert", {
                        privateKeyPem: rootKey.privateKeyPem,
                        subject: { commonName: "Root" },
                        isCaCertificate: true,
                        maxPathLength: rootPathLength,
                        allowedUses: [...CA_USES],
                        validityPeriodHours: 87600,
                    });
                    let issuer: { cert: tls.SelfSignedCert | tls.LocallySignedCert; key: tls.PrivateKey } = {
                        cert: root,
                        key: rootKey,
                    };
                    const chain = [];
                    for (const [name, maxPathLength] of [...cas, ["gw", undefined] as const]) {
                        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P384" });
                        const csr = new tls.CertRequest(`${name}-csr`, {
                            privateKeyPem: key.privateKeyPem,
                            subject: { commonName: name === "gw" ? "svc.bank.example" : name },
                            dnsNames: name === "gw" ? ["svc.bank.example"] : [],
                        });
                        const isCa = name !== "gw";
                        const cert = new tls.LocallySignedCert(`${name}-cert`, {
                            certRequestPem: csr.certRequestPem,
                            caCertPem: issuer.cert.certPem,
                            caPrivateKeyPem: issuer.key.privateKeyPem,
                            isCaCertificate: isCa,
                            maxPathLength,
                            allowedUses: isCa ? [...CA_USES] : ["digital_signature", "server_auth"],
                            validityPeriodHours: isCa ? 43800 : 2160,
                        });
                        chain.unshift(cert.certPem);
                        issuer = { cert, key };
                    }
                    return { root: root.certPem, chain };
                },
                { state: new Map() },
            );
            const { root, chain } = run.outputs as unknown as { root: string; chain: string[] };
            const dir = tempDir("path-length");
            const files = { root, leaf: chain[0], chain: chain.slice(1).join("") };
            for (const [file, pem] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), pem);
            const openssl = await promisify(execFile)(
                "openssl",
                ["verify", "-CAfile", "root", "-untrusted", "chain", "leaf"],
                { cwd: dir },
            ).then(
                () => "accepted",
                (e: { stdout: string; stderr: string }) => {
                    const output = e.stdout + e.stderr;
                    return /error \d+ at \d+ depth lookup: (.*)/.exec(output)?.[1] ?? output;
                },
            );
            lastChain = fromEngine(run.engine.resources);
            return { openssl, pack: await checkStack(caPathLengthPolicy, lastChain) };
        };
        let lastChain: Resource[] = [];
        // A root above a policy CA above an issuing CA, as the components would refuse it.
        assert.deepStrictEqual(
            await chainOf(1, [
                ["policy", undefined],
                ["issuing", undefined],
            ]),
            {
                openssl: "path length constraint exceeded",
                pack: [
                    "root-cert: maxPathLength 1 allows 1 CA level below it, but the stack puts 2 there (policy-cert above issuing-cert): " +
                        'OpenSSL and Go (istiod) would refuse every certificate issuing-cert or a CA below it signs ("path length constraint exceeded"; ' +
                        "Envoy's BoringSSL alone ignores a trust anchor's pathlen); set its maxPathLength to 2 or more, or sign issuing-cert higher up",
                ],
            },
        );
        // A preview that does not know the leaf's isCaCertificate yet still counts the CAs it knows (no "can't run").
        assert.deepStrictEqual(
            await checkStack(
                caPathLengthPolicy,
                lastChain.map((r) =>
                    r.name === "gw-cert" ? { ...r, props: { ...r.props, isCaCertificate: UNKNOWN } } : r,
                ),
            ),
            [
                "root-cert: maxPathLength 1 allows 1 CA level below it, but the stack puts 2 there (policy-cert above issuing-cert): " +
                    'OpenSSL and Go (istiod) would refuse every certificate issuing-cert or a CA below it signs ("path length constraint exceeded"; ' +
                    "Envoy's BoringSSL alone ignores a trust anchor's pathlen); set its maxPathLength to 2 or more, or sign issuing-cert higher up",
            ],
        );
        assert.deepStrictEqual(
            await chainOf(2, [
                ["policy", undefined],
                ["issuing", undefined],
            ]),
            { openssl: "accepted", pack: [] },
        );
        // A CA below the root that limits its own path length is held to it too; 0 sets no limit.
        assert.deepStrictEqual(
            await chainOf(3, [
                ["policy", 1],
                ["issuing", 0],
                ["sub-issuing", undefined],
            ]),
            {
                openssl: "path length constraint exceeded",
                pack: [
                    "policy-cert: maxPathLength 1 allows 1 CA level below it, but the stack puts 2 there (issuing-cert above sub-issuing-cert): " +
                        'OpenSSL, Go (istiod) and Envoy\'s BoringSSL would refuse every certificate sub-issuing-cert or a CA below it signs ("path length constraint exceeded"); ' +
                        "set its maxPathLength to 2 or more, or sign sub-issuing-cert higher up",
                ],
            },
        );
    });

    it("certificate-usages: refuses a CA without crl_signing or with a TLS usage, a signing leaf, and a leaf that is both server and client", async () => {
        const ca = named("apic-client-ca-cert");
        const leaf = named("ob-apic-client-cert");
        assert.deepStrictEqual(
            await checkResource(certificateUsagePolicy, {
                ...ca,
                props: { ...ca.props, allowedUses: ["cert_signing"] },
            }),
            [
                "apic-client-ca-cert: a CA certificate needs crl_signing; its allowedUses are cert_signing. " +
                    "without crl_signing (cRLSign) verifiers refuse the CRLs it signs, and Envoy, which checks the CRL of every CA of a chain when given any, " +
                    "then refuses every certificate it issued; add crl_signing to its allowedUses",
            ],
        );
        assert.deepStrictEqual(
            await checkResource(certificateUsagePolicy, {
                ...ca,
                props: { ...ca.props, allowedUses: ["cert_signing", "crl_signing", "server_auth", "client_auth"] },
            }),
            [
                "apic-client-ca-cert: a CA certificate must not have server_auth or client_auth, with which TLS peers may accept it as a leaf; " +
                    "set its allowedUses to cert_signing and crl_signing alone",
            ],
        );
        assert.deepStrictEqual(
            await checkResource(certificateUsagePolicy, {
                ...leaf,
                props: { ...leaf.props, allowedUses: ["digital_signature", "cert_signing", "client_auth"] },
            }),
            [
                "ob-apic-client-cert: a leaf (isCaCertificate not set) must not have cert_signing; its allowedUses are digital_signature, cert_signing, client_auth. " +
                    "RFC 5280 allows cert_signing (keyCertSign) only with CA:TRUE, and OpenSSL's strict check refuses a leaf with it; " +
                    "remove cert_signing from its allowedUses, or set isCaCertificate if it is meant to be a CA",
            ],
        );
        assert.deepStrictEqual(
            await checkResource(certificateUsagePolicy, {
                ...leaf,
                props: { ...leaf.props, allowedUses: ["digital_signature", "crl_signing", "client_auth"] },
            }),
            [
                "ob-apic-client-cert: a leaf (isCaCertificate not set) must not have crl_signing; its allowedUses are digital_signature, crl_signing, client_auth. " +
                    "crl_signing (cRLSign) is deliberately refused though RFC 5280 allows an indirect CRL issuer: each CA here signs its own CRLs, and Envoy reads no indirect CRL; " +
                    "remove crl_signing from its allowedUses, or set isCaCertificate if it is meant to be a CA",
            ],
        );
        assert.deepStrictEqual(
            await checkResource(certificateUsagePolicy, {
                ...leaf,
                props: { ...leaf.props, allowedUses: ["digital_signature", "server_auth", "client_auth"] },
            }),
            [
                "ob-apic-client-cert: a leaf needs exactly one of server_auth and client_auth; has server_auth, client_auth. " +
                    "Deliberately stricter than Istio, whose workload certificates carry both: each leaf here is a server's " +
                    "(a gateway host, APIC's UI-facing host) or a client's (APIC's, a UI service's), so that its stolen key cannot " +
                    "also act in the other role; keep server_auth for a server or client_auth for a client, and issue another certificate for the other role",
            ],
        );
    });

    /** A 10-year ECDSA root, and a request for svc.bank.example under `prefix`, for the leaves a test signs with it. */
    const rootAndRequest = (prefix: string) => {
        const rootKey = new tls.PrivateKey("r-key", { algorithm: "ECDSA", ecdsaCurve: "P384" });
        const root = new tls.SelfSignedCert("r-cert", {
            privateKeyPem: rootKey.privateKeyPem,
            subject: { commonName: "Root" },
            isCaCertificate: true,
            maxPathLength: 1,
            allowedUses: ["cert_signing", "crl_signing"],
            validityPeriodHours: 87600,
        });
        const key = new tls.PrivateKey(`${prefix}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" });
        const csr = new tls.CertRequest(`${prefix}-csr`, {
            privateKeyPem: key.privateKeyPem,
            subject: { commonName: "svc.bank.example" },
            dnsNames: ["svc.bank.example"],
        });
        return { root, rootKey, csr };
    };

    it("certificate-usages, leaf-max-validity: a CA with a TLS key usage and no extended key usage is a leaf Envoy accepts", async () => {
        // A 10-year "CA" for a DNS name, with a key usage a TLS key needs and no server_auth or client_auth.
        const caWith = (allowedUses: string[]) =>
            runWithStandIn(
                () => {
                    const { root, rootKey, csr } = rootAndRequest("svc");
                    const cert = new tls.LocallySignedCert("svc-cert", {
                        certRequestPem: csr.certRequestPem,
                        caCertPem: root.certPem,
                        caPrivateKeyPem: rootKey.privateKeyPem,
                        isCaCertificate: true,
                        allowedUses,
                        validityPeriodHours: 10 * 365 * 24,
                    });
                    return { root: root.certPem, cert: cert.certPem };
                },
                { state: new Map() },
            );
        const verdicts = async (allowedUses: string[]) => {
            const run = await caWith(allowedUses);
            const { root, cert } = run.outputs as unknown as { root: string; cert: string };
            const svc = fromEngine(run.engine.resources).find((r) => r.name === "svc-cert") as Resource;
            return {
                envoy: (["sslserver", "sslclient"] as const).map(
                    (purpose) => verifyPeer({ caCrt: root, chain: cert, purpose }).accepted,
                ),
                pack: [
                    ...(await checkResource(certificateUsagePolicy, svc)),
                    ...(await checkResource(leafValidityPolicy, svc)),
                ],
            };
        };
        // Envoy as server and as client: key_encipherment makes a server leaf only.
        for (const [tlsUse, envoy] of [
            ["digital_signature", [true, true]],
            ["key_encipherment", [true, false]],
            ["key_agreement", [true, true]],
        ] as const) {
            assert.deepStrictEqual(await verdicts([...CA_USES, tlsUse]), {
                envoy,
                pack: [
                    `svc-cert: a CA certificate must not have ${tlsUse}, with which TLS peers may accept it as a leaf; ` +
                        "set its allowedUses to cert_signing and crl_signing alone",
                    "svc-cert: a leaf valid 3650 days exceeds the 398-day maximum; " + LOWER_VALIDITY,
                ],
            });
        }
        // The package's CA usages: no leaf to Envoy, and the pack accepts them.
        assert.deepStrictEqual(await verdicts([...CA_USES]), { envoy: [false, false], pack: [] });
    });

    it("certificate-usages: refuses a leaf whose key usages Envoy's handshake refuses, where the X.509 purpose check is looser", async () => {
        // An ECDSA client certificate with key_encipherment alone passed, and Envoy refused it as a client. Each case
        // with what BoringSSL's handshake did with such an ECDSA P-256 leaf (a BoringSSL client against OpenSSL's
        // s_server, a BoringSSL server requiring a client certificate against OpenSSL's s_client, TLS 1.3 and 1.2):
        // without digital_signature, KEY_USAGE_BIT_INCORRECT or a failed handshake in both. envoyVerifier's X.509 purpose
        // check is looser (key_agreement for a client, key_encipherment or key_agreement for a server), so where it
        // accepts a leaf the handshake refuses, the pack follows the handshake.
        const cases = [
            ["client_auth", ["key_encipherment"], false],
            ["client_auth", ["data_encipherment"], false],
            ["client_auth", ["key_agreement"], false],
            ["client_auth", ["digital_signature", "key_encipherment"], true],
            ["client_auth", [], true],
            ["server_auth", ["content_commitment"], false],
            ["server_auth", ["key_encipherment"], false],
            ["server_auth", ["key_agreement"], false],
            ["server_auth", ["digital_signature"], true],
        ] as const;
        const run = await runWithStandIn(
            () => {
                const { root, rootKey, csr } = rootAndRequest("leaf");
                const leaves = cases.map(
                    ([eku, keyUsages], i) =>
                        new tls.LocallySignedCert(`leaf-${i}-cert`, {
                            certRequestPem: csr.certRequestPem,
                            caCertPem: root.certPem,
                            caPrivateKeyPem: rootKey.privateKeyPem,
                            allowedUses: [...keyUsages, eku],
                            validityPeriodHours: 365 * 24,
                        }).certPem,
                );
                return { root: root.certPem, leaves };
            },
            { state: new Map() },
        );
        const { root, leaves } = run.outputs as unknown as { root: string; leaves: string[] };
        const x509 = verifyPeers(
            cases.map(([eku], i) => ({
                caCrt: root,
                chain: leaves[i],
                purpose: eku === "client_auth" ? ("sslclient" as const) : ("sslserver" as const),
            })),
        );
        const resources = fromEngine(run.engine.resources);
        const verdicts = await Promise.all(
            cases.map(async ([, , handshake], i) => ({
                x509: x509[i].accepted,
                handshake,
                pack: await checkResource(
                    certificateUsagePolicy,
                    resources.find((r) => r.name === `leaf-${i}-cert`) as Resource,
                ),
            })),
        );
        const refused = (i: number, eku: string, keyUsages: string, x509Accepts = false) => ({
            x509: x509Accepts,
            handshake: false,
            pack: [
                `leaf-${i}-cert: TLS peers refuse a ${eku} leaf whose key usages (${keyUsages}) lack digital_signature, ` +
                    "which the leaf needs to sign the TLS 1.3 handshake (BoringSSL's KEY_USAGE_BIT_INCORRECT); add digital_signature",
            ],
        });
        const accepted = { x509: true, handshake: true, pack: [] };
        assert.deepStrictEqual(verdicts, [
            refused(0, "client_auth", "key_encipherment"),
            refused(1, "client_auth", "data_encipherment"),
            refused(2, "client_auth", "key_agreement", true),
            accepted,
            // No key usage: no extension, no restriction.
            accepted,
            refused(5, "server_auth", "content_commitment"),
            refused(6, "server_auth", "key_encipherment", true),
            refused(7, "server_auth", "key_agreement", true),
            accepted,
        ]);
    });

    it("private-key-secrets: refuses a key in an Opaque secret of an application namespace", async () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const moved = { ...gatewaySecret.props, type: "Opaque", metadata: { name: "leaked", namespace: "ob" } };
        assert.deepStrictEqual(await checkResource(keySecretPolicy, { ...gatewaySecret, props: moved }), [
            outsideNamespaces("leaked", "tls.key", "ob"),
            "leaked: a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
        ]);
        assert.deepStrictEqual(
            await checkResource(keySecretPolicy, named("mesh-ca-example-cacerts")),
            [],
            "Istio's cacerts is expected",
        );
        // Not by its resource name (Kubernetes names it cacerts-<random>), nor in a namespace istiod does not read.
        const cacerts = named("mesh-ca-example-cacerts");
        const opaque = (metadata: Record<string, string>, name = cacerts.name) =>
            checkResource(
                keySecretPolicy,
                { ...cacerts, name, props: { ...cacerts.props, metadata } },
                { keySecretNamespaces: ["istio-system", "ob"] },
            );
        const refused = (name: string) => [
            `${name}: a private key (ca-key.pem) in a secret of type Opaque; ` +
                "use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
        ];
        assert.deepStrictEqual(await opaque({ namespace: "istio-system" }, "cacerts"), refused("cacerts"));
        assert.deepStrictEqual(await opaque({ name: "cacerts", namespace: "ob" }), refused("cacerts"));
        assert.deepStrictEqual(await opaque({ name: "cacerts", namespace: "istio-system" }, "istiod-ca"), []);
    });

    it("istiod-cacerts: refuses a cacerts Secret whose key is not its CA's, or whose chain does not lead from it to a root of root-cert.pem", async () => {
        const { written, check } = cacertsCheck();
        const [caCert, otherRoot] = [written["ca-cert.pem"], (await mintRoot("Other root")).certPem];
        const [root] = pemBlocks(written["root-cert.pem"], "CERTIFICATE");
        const otherKey = crypto
            .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            .privateKey.export({ type: "pkcs8", format: "pem" }) as string;
        const fix = "give cert-chain.pem as ca-cert.pem, then each CA above it, up to a root of root-cert.pem";
        const caSubject = subjectOf(new crypto.X509Certificate(caCert));
        const rootSubject = subjectOf(new crypto.X509Certificate(root));
        assert.deepStrictEqual(
            [
                await check({ "ca-key.pem": otherKey }),
                await check({ "ca-key.pem": otherKey }, "data"),
                await check({ "cert-chain.pem": root + caCert }),
                await check({ "cert-chain.pem": caCert + otherRoot }),
                await check({ "root-cert.pem": otherRoot }),
            ],
            [
                [
                    `istio-system/cacerts: ca-key.pem is not the key of ca-cert.pem (${caSubject}): istiod cannot sign with it; give the key of ca-cert.pem`,
                ],
                [
                    `istio-system/cacerts: ca-key.pem is not the key of ca-cert.pem (${caSubject}): istiod cannot sign with it; give the key of ca-cert.pem`,
                ],
                [
                    `istio-system/cacerts: cert-chain.pem starts with ${rootSubject}, not ca-cert.pem (${caSubject}): ${fix}`,
                ],
                [
                    `istio-system/cacerts: in cert-chain.pem, ${caSubject} is not signed by CN=Other root, the certificate after it: ${fix}`,
                ],
                [
                    `istio-system/cacerts: cert-chain.pem ends with ${rootSubject}, which is no root of root-cert.pem (CN=Other root) nor signed by one: ` +
                        `workloads trusting root-cert.pem would refuse the certificates istiod signs; ${fix}`,
                ],
            ],
        );
        // As MeshPluginCa writes it; with a second root appended (a root rotation); with an entry a preview does not know.
        assert.deepStrictEqual(
            [
                await check({}),
                await check({}, "data"),
                await check({ "root-cert.pem": otherRoot + written["root-cert.pem"] }),
                await check({ "cert-chain.pem": UNKNOWN }),
            ],
            [[], [], [], []],
        );
        // istiod reads no other Secret: private-key-secrets says where keys belong.
        const elsewhere = { name: "cacerts", namespace: "ob" };
        assert.deepStrictEqual(await check({ "ca-key.pem": otherKey }, "stringData", elsewhere), []);
    });

    it("istiod-cacerts: refuses a private key in an entry other than ca-key.pem, an entry without a readable certificate, and a damaged ca-key.pem, never quoting them", async () => {
        const { written, check } = cacertsCheck();
        const rsaKey = crypto
            .generateKeyPairSync("rsa", { modulusLength: 2048 })
            .privateKey.export({ type: "pkcs1", format: "pem" }) as string;
        // The key's DER under a certificate's label, as a mislabelled file or a tool's export may have it.
        const relabelled = rsaKey.replace(/RSA PRIVATE KEY/g, "CERTIFICATE");
        const caCert = written["ca-cert.pem"];
        const caKey = written["ca-key.pem"];
        const keyLines = caKey.split("\n");
        assert.strictEqual(keyLines[0], "-----BEGIN RSA PRIVATE KEY-----");
        const cases: Record<string, string>[] = [
            { "ca-cert.pem": rsaKey },
            { "ca-cert.pem": relabelled },
            { "cert-chain.pem": written["cert-chain.pem"] + rsaKey },
            { "cert-chain.pem": written["cert-chain.pem"] + relabelled },
            { "root-cert.pem": rsaKey },
            { "ca-crl.pem": rsaKey },
            { "root-cert.pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" },
            { "cert-chain.pem": caCert + "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" },
            { "ca-cert.pem": "not a certificate" },
            // Cut short: without its last lines, or without a line of its base64.
            { "ca-key.pem": keyLines.slice(0, 3).join("\n") },
            { "ca-key.pem": [...keyLines.slice(0, 2), ...keyLines.slice(3)].join("\n") },
            { "ca-key.pem": caCert },
        ];
        const giveKey =
            'give the key of ca-cert.pem as PEM, unencrypted ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY")';
        const keyIn = (entry: string, where: string, give: string) =>
            `istio-system/cacerts: ${entry} holds a private key${where}: only ca-key.pem may, as istiod hands the other entries to workloads in clear; ` +
            `take the key out (and replace it if the Secret has been shared), and give in ${entry} ${give}`;
        const chain = "ca-cert.pem, then each CA above it, up to a root of root-cert.pem";
        const roots = "the certificates of the roots the mesh trusts";
        const blocks = pemBlocks(written["cert-chain.pem"], "CERTIFICATE").length;
        const expected = [
            [keyIn("ca-cert.pem", ' (its block 1, labelled "RSA PRIVATE KEY")', "the CA's certificate")],
            [keyIn("ca-cert.pem", ' (its block 1, labelled "CERTIFICATE")', "the CA's certificate")],
            [keyIn("cert-chain.pem", ` (its block ${blocks + 1}, labelled "RSA PRIVATE KEY")`, chain)],
            [keyIn("cert-chain.pem", ` (its block ${blocks + 1}, labelled "CERTIFICATE")`, chain)],
            [keyIn("root-cert.pem", ' (its block 1, labelled "RSA PRIVATE KEY")', roots)],
            [keyIn("ca-crl.pem", ' (its block 1, labelled "RSA PRIVATE KEY")', "the CRLs of the mesh's CAs")],
            [
                `istio-system/cacerts: root-cert.pem: its block 1 is no certificate that can be read (damaged): istiod reads certificates alone there; give in root-cert.pem ${roots}`,
            ],
            [
                `istio-system/cacerts: cert-chain.pem: its block 2 is a "PUBLIC KEY" block, not a certificate: istiod reads certificates alone there; give in cert-chain.pem ${chain}`,
            ],
            [
                "istio-system/cacerts: ca-cert.pem holds no PEM certificate: istiod reads certificates alone there; give in ca-cert.pem the CA's certificate",
            ],
            [
                `istio-system/cacerts: ca-key.pem is no key istiod can read: its "RSA PRIVATE KEY" block has no END line (a file cut short); ${giveKey}`,
            ],
            [
                `istio-system/cacerts: ca-key.pem is no key istiod can read: its "RSA PRIVATE KEY" block is no key that can be read (damaged); ${giveKey}`,
            ],
            [
                `istio-system/cacerts: ca-key.pem is no key istiod can read: its first PEM block is a "CERTIFICATE" block; ${giveKey}`,
            ],
        ];
        for (const encoding of ["stringData", "data"] as const) {
            assert.deepStrictEqual(await Promise.all(cases.map((entries) => check(entries, encoding))), expected);
        }
    });

    it("istiod-cacerts: refuses a cacerts Secret with a certificate of cert-chain.pem expired or not valid yet, or one that signed no CRL of ca-crl.pem", async () => {
        const cacerts = named("mesh-ca-example-cacerts");
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const root = await mintRoot("Mesh test root", { validityHours: 96, issuedAt: hours(-72) });
        const current = await mintSubCa(root, "Mesh CA", { issuedAt: hours(-1) });
        const expired = await mintSubCa(root, "Old mesh CA", { issuedAt: hours(-48), validityHours: 24 });
        const ahead = await mintSubCa(root, "Future mesh CA", { issuedAt: hours(1) });
        // Current itself, but signed by an intermediate that has expired since.
        const under = await mintSubCa(expired, "Mesh CA under Old mesh CA", {
            issuedAt: hours(-30),
            validityHours: 96,
        });
        const intermediate = await mintSubCa(root, "Mesh intermediate", { issuedAt: hours(-2), validityHours: 48 });
        const east = await mintSubCa(intermediate, "Mesh CA east", { issuedAt: hours(-1) });
        // istiod's plug-in CA as a program writes it by hand: `ca`, then `above` up to the root.
        const check = (ca: TestCa, above: TestCa[], crls?: TestCa[]) =>
            handWrittenCacerts(
                ca,
                [ca, ...above, root].map((c) => c.certPem),
                root.certPem,
                crls && {
                    "ca-crl.pem": crls.map((c) => emptyCrlOf(c, hours(-1).getTime(), hours(24).getTime())).join(""),
                },
            );
        const dateOf = (ca: TestCa, date: "validTo" | "validFrom") =>
            new Date(new crypto.X509Certificate(ca.certPem)[date]).toISOString();
        assert.deepStrictEqual(
            [
                await check(expired, []),
                await check(ahead, []),
                await check(under, [expired]),
                await check(current, [], [root]),
                await check(east, [intermediate], [east]),
            ],
            [
                [
                    `istio-system/cacerts: ca-cert.pem (CN=Old mesh CA) expired on ${dateOf(expired, "validTo")}: ` +
                        'istiod refuses the cacerts ("certificate has expired or is not yet valid"); renew it',
                ],
                [
                    `istio-system/cacerts: ca-cert.pem (CN=Future mesh CA) is not valid before ${dateOf(ahead, "validFrom")}: ` +
                        'istiod refuses the cacerts ("certificate has expired or is not yet valid") until then; ' +
                        "give the current CA, or wait until then (if it was issued today, the issuing machine's clock is ahead)",
                ],
                [
                    `istio-system/cacerts: CN=Old mesh CA in cert-chain.pem expired on ${dateOf(expired, "validTo")}: ` +
                        'istiod refuses the cacerts ("certificate has expired or is not yet valid"); renew it',
                ],
                [
                    'istio-system/cacerts: ca-crl.pem holds no CRL signed by CN=Mesh CA (in cert-chain.pem): istiod refuses the cacerts ("missing CRL signed by certificates"), ' +
                        "and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; add to ca-crl.pem the CRL of each CA of cert-chain.pem",
                ],
                [
                    'istio-system/cacerts: ca-crl.pem holds no CRL signed by CN=Mesh intermediate, CN=Mesh test root (in cert-chain.pem): istiod refuses the cacerts ("missing CRL signed by certificates"), ' +
                        "and sidecars, which check a CRL for every CA of a workload's chain, would refuse every workload; add to ca-crl.pem the CRL of each CA of cert-chain.pem",
                ],
            ],
        );
        // A current CA; with a CRL of each certificate of cert-chain.pem; with ca-cert.pem alone known (its own dates checked).
        const minutesAhead = await mintSubCa(root, "Near mesh CA", { issuedAt: new Date(Date.now() + 2 * 60_000) });
        const caAlone = (ca: TestCa) =>
            checkResource(istiodCaPolicy, {
                ...cacerts,
                props: {
                    ...cacerts.props,
                    stringData: asSecret({ "ca-cert.pem": ca.certPem, "cert-chain.pem": UNKNOWN }),
                },
            });
        assert.deepStrictEqual(
            [
                await check(current, []),
                await check(minutesAhead, []),
                await check(current, [], [current, root]),
                await check(east, [intermediate], [root, intermediate, east]),
                await caAlone(current),
                (await caAlone(expired)).length,
            ],
            [[], [], [], [], [], 1],
        );
    });

    it("istiod-cacerts: refuses ca-crl.pem without a CRL of each root of root-cert.pem, as MeshPluginCa refuses its crlPem", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const [rootA, rootB] = [
            await mintRoot("Mesh root ra", { validityHours: 96, issuedAt: hours(-72) }),
            await mintRoot("Mesh root rb", { validityHours: 96, issuedAt: hours(-72) }),
        ];
        const ca = await mintSubCa(rootA, "Mesh CA ra", { issuedAt: hours(-1) });
        const crls = (cas: TestCa[]) => ({
            "ca-crl.pem": cas.map((c) => emptyCrlOf(c, hours(-1).getTime(), hours(24).getTime())).join(""),
        });
        // root-cert.pem trusts both roots (a root rotation); sidecars get it as ca.crt, ca-crl.pem as ca.crl.
        const check = (cas: TestCa[]) =>
            handWrittenCacerts(ca, [ca.certPem, rootA.certPem], rootA.certPem + rootB.certPem, crls(cas));
        assert.deepStrictEqual(
            [await check([ca, rootA]), await check([ca, rootA, rootB])],
            [
                [
                    "istio-system/cacerts: ca-crl.pem holds no CRL signed by CN=Mesh root rb of root-cert.pem: once ca.crl is set Envoy checks a CRL " +
                        "for every certificate of the peer's chain, the root's included (CRL_CHECK_ALL), so every workload would be refused; add that root's CRL",
                ],
                [],
            ],
        );
        // A CA's only CRL made a minute ago: a node whose clock lags would refuse every workload under it.
        const fresh = emptyCrlOf(ca, Math.floor(Date.now() / 1000) * 1000 - 60_000, hours(24).getTime());
        const lagging = await handWrittenCacerts(ca, [ca.certPem, rootA.certPem], rootA.certPem, {
            "ca-crl.pem": fresh + emptyCrlOf(rootA, hours(-1).getTime(), hours(24).getTime()),
        });
        assert.strictEqual(lagging.length, 1);
        assert.match(
            lagging[0],
            /^istio-system\/cacerts: ca-crl\.pem holds a CRL of CN=Mesh CA ra valid from .*, less than 5 minutes before now/,
        );
    });

    it("istiod-cacerts: refuses a private key in an entry istiod reads no key from (a root's key beside its mesh CA's)", async () => {
        const { written, check } = cacertsCheck();
        const rootKey = crypto
            .generateKeyPairSync("rsa", { modulusLength: 2048 })
            .privateKey.export({ type: "pkcs1", format: "pem" }) as string;
        const derKey = crypto
            .generateKeyPairSync("ec", { namedCurve: "prime256v1" })
            .privateKey.export({ type: "pkcs8", format: "der" });
        const stray = (entries: string, holds: string, them: string, from = "ca-key.pem") =>
            `istio-system/cacerts: ${entries} ${holds}, which istiod never reads (it reads its signing key from ${from} alone): ` +
            `a key there (a root's, say) is one more copy of a CA key for whoever can read the Secret; take ${them} out, ` +
            "keep a root's key offline, and replace the key if the Secret has been shared";
        for (const encoding of ["stringData", "data"] as const) {
            assert.deepStrictEqual(
                [
                    await check({ "root-key.pem": rootKey }, encoding),
                    await check({ "root-key.pem": rootKey, "backup.key": written["ca-key.pem"] }, encoding),
                    // A certificate or note beside them is no key: istiod ignores it.
                    await check(
                        { "README.txt": "mesh CA of dev-east", "old-ca-cert.pem": written["ca-cert.pem"] },
                        encoding,
                    ),
                ],
                [
                    [stray("root-key.pem", "holds a private key", "it")],
                    [stray("backup.key, root-key.pem", "hold private keys", "them")],
                    [],
                ],
            );
        }
        // A key's DER, as data alone can carry it.
        const cacerts = named("mesh-ca-example-cacerts");
        const data = Object.fromEntries(Object.entries(written).map(([k, v]) => [k, base64(v)]));
        assert.deepStrictEqual(
            await checkResource(istiodCaPolicy, {
                ...cacerts,
                props: {
                    ...cacerts.props,
                    stringData: undefined,
                    data: asSecret({ ...data, "root-key.der": base64(derKey) }),
                },
            }),
            [stray("root-key.der", "holds a private key", "it")],
        );
    });

    it("istiod-cacerts: holds a cacerts laid out as a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) to the same checks, as istiod reads it", async () => {
        const cacerts = named("mesh-ca-example-cacerts");
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const root = await mintRoot("Mesh tls root", { validityHours: 96, issuedAt: hours(-72) });
        const ca = await mintSubCa(root, "Mesh tls CA", { issuedAt: hours(-1) });
        const expired = await mintSubCa(root, "Old mesh tls CA", { issuedAt: hours(-48), validityHours: 24 });
        const otherRoot = await mintRoot("Other tls root");
        // As cert-manager writes a CA Certificate's Secret: tls.crt, tls.key, and ca.crt the root.
        const check = (entries: Record<string, string>) =>
            checkResource(istiodCaPolicy, {
                ...cacerts,
                props: {
                    ...cacerts.props,
                    stringData: asSecret({
                        "tls.crt": ca.certPem,
                        "tls.key": ca.keyPem,
                        "ca.crt": root.certPem,
                        ...entries,
                    }),
                },
            });
        const layout =
            "istio-system/cacerts: istiod reads this cacerts as a kubernetes.io/tls Secret, since it has tls.crt " +
            "(tls.crt as ca-cert.pem, tls.key as ca-key.pem, ca.crt as root-cert.pem, and tls.crt then ca.crt as cert-chain.pem): ";
        const caSubject = "CN=Mesh tls CA";
        const validTo = new Date(new crypto.X509Certificate(expired.certPem).validTo).toISOString();
        const fix = "give cert-chain.pem as ca-cert.pem, then each CA above it, up to a root of root-cert.pem";
        assert.deepStrictEqual(
            [
                await check({}),
                await check({ "tls.key": otherRoot.keyPem }),
                await check({ "tls.crt": expired.certPem, "tls.key": expired.keyPem }),
                await check({ "ca.crt": otherRoot.certPem }),
                await check({ "ca.crt": ca.keyPem }),
                // istiod reads no ca-key.pem beside tls.crt: a key there is a stray copy.
                await check({ "ca-key.pem": ca.keyPem }),
            ],
            [
                [],
                [
                    `${layout}ca-key.pem is not the key of ca-cert.pem (${caSubject}): istiod cannot sign with it; give the key of ca-cert.pem`,
                ],
                [
                    `${layout}ca-cert.pem (CN=Old mesh tls CA) expired on ${validTo}: ` +
                        'istiod refuses the cacerts ("certificate has expired or is not yet valid"); renew it',
                ],
                [
                    `${layout}in cert-chain.pem, ${caSubject} is not signed by CN=Other tls root, the certificate after it: ${fix}`,
                ],
                [
                    `${layout}root-cert.pem holds a private key (its block 1, labelled "EC PRIVATE KEY"): only ca-key.pem may, as istiod hands the other entries to workloads in clear; ` +
                        "take the key out (and replace it if the Secret has been shared), and give in root-cert.pem the certificates of the roots the mesh trusts",
                ],
                [
                    "istio-system/cacerts: ca-key.pem holds a private key, which istiod never reads (it reads its signing key from tls.key (the cacerts has tls.crt) alone): " +
                        "a key there (a root's, say) is one more copy of a CA key for whoever can read the Secret; take it out, " +
                        "keep a root's key offline, and replace the key if the Secret has been shared",
                ],
            ],
        );
    });

    it("istiod-cacerts: refuses a cacerts istiod would not start with: an entry of its layout missing, or a tls.crt whose last line runs into ca.crt; and names a CRL block it cannot read", async () => {
        const cacerts = named("mesh-ca-example-cacerts");
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const root = await mintRoot("Mesh glue root", { validityHours: 96, issuedAt: hours(-72) });
        const intermediate = await mintSubCa(root, "Mesh glue intermediate", { issuedAt: hours(-2) });
        const ca = await mintSubCa(intermediate, "Mesh glue CA", { issuedAt: hours(-1) });
        const verdict = (stringData: Record<string, string>) =>
            checkResource(istiodCaPolicy, {
                ...cacerts,
                props: { ...cacerts.props, stringData: asSecret(stringData) },
            });
        const tlsLayout = {
            "tls.crt": ca.certPem + intermediate.certPem,
            "tls.key": ca.keyPem,
            "ca.crt": root.certPem,
        };
        const ownLayout = {
            "ca-cert.pem": ca.certPem,
            "ca-key.pem": ca.keyPem,
            "root-cert.pem": root.certPem,
            "cert-chain.pem": ca.certPem + intermediate.certPem + root.certPem,
        };
        const without = (entries: Record<string, string>, name: string) =>
            Object.fromEntries(Object.entries(entries).filter(([entry]) => entry !== name));
        const incomplete = (has: string, missing: string, more = "") =>
            `istio-system/cacerts: has ${has} but no ${missing}: istiod 1.27+ refuses to start with an incomplete signing CA bundle ` +
            `("incomplete signing CA bundle detected"), and an earlier one ` +
            (/ca-key\.pem|tls\.key/.test(missing)
                ? "signs with a self-signed CA of its own that nothing else trusts"
                : "fails to load it") +
            `; add ${missing}${more}`;
        // istiod appends ca.crt to tls.crt byte for byte: YAML's |- drops tls.crt's last newline.
        const glued = { ...tlsLayout, "tls.crt": tlsLayout["tls.crt"].trimEnd() };
        const misplaced = (entry: string, block: number) =>
            `${entry} has a BEGIN line (its block ${block}) that does not start a line: Go's PEM reader, which istiod reads it with, ` +
            "skips that block (and, glued to an END line, the one before it); put each BEGIN line at the start of a line";
        const unreadableCrl = "-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n";
        assert.deepStrictEqual(
            [
                await verdict(tlsLayout),
                await verdict(ownLayout),
                await verdict(without(tlsLayout, "ca.crt")),
                await verdict(without(ownLayout, "root-cert.pem")),
                await verdict(without(without(ownLayout, "cert-chain.pem"), "ca-key.pem")),
                await verdict(glued),
                // A ca.crt that starts with a newline of its own keeps the two lines apart, as Go reads them.
                await verdict({ ...glued, "ca.crt": `\n${root.certPem}` }),
                // Spaces before a BEGIN line, or an END and a BEGIN line glued inside one entry: Go skips the block.
                await verdict({ ...tlsLayout, "ca.crt": `  ${root.certPem}` }),
                await verdict({
                    ...ownLayout,
                    "cert-chain.pem": ca.certPem.trimEnd() + intermediate.certPem + root.certPem,
                }),
                await verdict({ ...ownLayout, "ca-crl.pem": unreadableCrl }),
                // A byte order mark before the key's BEGIN line (Notepad's UTF-8): Go reads no block.
                await verdict({ ...ownLayout, "ca-key.pem": `\ufeff${ca.keyPem}` }),
                // The key, then a certificate whose BEGIN line does not start a line: Go reads the key, and nothing after it.
                await verdict({ ...ownLayout, "ca-key.pem": `${ca.keyPem}\ufeff${ca.certPem}` }),
                await verdict({ ...ownLayout, "ca-key.pem": `${ca.keyPem}  ${ca.certPem}` }),
                // The certificate's BEGIN line glued to the key's END line: Go skips the key.
                await verdict({ ...ownLayout, "ca-key.pem": ca.keyPem.trimEnd() + ca.certPem }),
            ],
            [
                [],
                [],
                [
                    incomplete(
                        "tls.crt, tls.key",
                        "ca.crt",
                        " (cert-manager writes ca.crt for a CA issuer only: give it from the issuer's root)",
                    ),
                ],
                [incomplete("ca-key.pem, ca-cert.pem, cert-chain.pem", "root-cert.pem")],
                [incomplete("ca-cert.pem, root-cert.pem", "ca-key.pem, cert-chain.pem")],
                [
                    "istio-system/cacerts: istiod reads this cacerts as a kubernetes.io/tls Secret, since it has tls.crt (tls.crt as ca-cert.pem, tls.key as ca-key.pem, ca.crt as root-cert.pem, and tls.crt then ca.crt as cert-chain.pem): " +
                        "tls.crt does not end with a newline, and istiod appends ca.crt to it byte for byte as its chain: the last END line runs into the next BEGIN line, " +
                        'and Go\'s PEM reader loses the certificates on both sides of it (with an intermediate in tls.crt, istiod refuses the cacerts: "cannot verify the cert with the provided root chain"); end tls.crt with a newline',
                ],
                [],
                [
                    "istio-system/cacerts: istiod reads this cacerts as a kubernetes.io/tls Secret, since it has tls.crt (tls.crt as ca-cert.pem, tls.key as ca-key.pem, ca.crt as root-cert.pem, and tls.crt then ca.crt as cert-chain.pem): " +
                        misplaced("ca.crt", 1),
                ],
                [`istio-system/cacerts: ${misplaced("cert-chain.pem", 2)}`],
                [
                    "istio-system/cacerts: ca-crl.pem holds a CRL that cannot be read (X509 CRL block 1: End of input reached before message was fully decoded (inconsistent offset and length values)); give the CRLs as their CAs signed them",
                ],
                [
                    "istio-system/cacerts: ca-key.pem is no key istiod can read: its BEGIN line does not start a line (a byte order mark or spaces before it), " +
                        'and Go\'s PEM reader finds no block; give the key of ca-cert.pem as PEM, unencrypted ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY")',
                ],
                [],
                [],
                [
                    "istio-system/cacerts: ca-key.pem is no key istiod can read: its END line runs into the next block's BEGIN line (no newline between them), " +
                        'and Go\'s PEM reader then skips the key; give the key of ca-cert.pem as PEM, unencrypted ("RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY")',
                ],
            ],
        );
    });

    it("istiod-cacerts: takes cert-chain.pem as istiod does, a pool of CAs: a root's cross-certificate off the path is neither refused nor dated", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const olderRoot = await mintRoot("Older mesh root", { validityHours: 240, issuedAt: hours(-120) });
        const root = await mintRoot("Mesh cross root", { validityHours: 96, issuedAt: hours(-72) });
        // The root's subject and key signed by an older root, as a public CA hands out its chain.
        const crossOf = (issuedAt: Date, validityHours: number) =>
            crossSign(root, "Mesh cross root", olderRoot, { issuedAt, validityHours });
        const [cross, expiredCross] = [crossOf(hours(-72), 96), crossOf(hours(-72), 24)];
        const issuing = await mintSubCa(root, "Mesh issuing CA", { issuedAt: hours(-1), validityHours: 48 });
        // The cacerts Secret MeshPluginCa writes under an issuer whose chainPem ends in `crossCert`.
        const written = async (crossCert: string) => {
            const program = await runWithStandIn(
                () => {
                    const issuer = {
                        certPem: issuing.certPem,
                        privateKeyPem: issuing.keyPem,
                        chainPem: issuing.certPem + crossCert,
                        rootCertPem: root.certPem,
                    };
                    const mesh = new MeshPluginCa("cross-mesh-ca", { issuer, cluster: "east", keyAlgorithm: "ECDSA" });
                    return { chain: mesh.certChainPem };
                },
                { state: sharedStateWithSuiteKeys() },
            );
            const chain = (program.outputs as { chain: string }).chain;
            const secret = fromEngine(program.engine.resources).find((r) => r.name === "mesh-ca-east-cacerts");
            const shown = pemBlocks(chain, "CERTIFICATE").map((pem) => {
                const cert = new crypto.X509Certificate(pem);
                return `${subjectOf(cert)} <- ${issuerOf(cert)}`;
            });
            return { chain: shown, violations: await checkResource(istiodCaPolicy, secret as Resource) };
        };
        // cert-chain.pem keeps the cross-certificate, then the root: Go goes from the issuing CA to the root.
        const writtenChain = ["CN=Mesh cross root <- CN=Older mesh root", "CN=Mesh cross root <- CN=Mesh cross root"];
        const meshCa = (chain: string[]) => [
            "CN=mesh CA east <- CN=Mesh issuing CA",
            "CN=Mesh issuing CA <- CN=Mesh cross root",
            ...chain,
        ];
        assert.deepStrictEqual(
            [await written(cross), await written(expiredCross)],
            [
                { chain: meshCa(writtenChain), violations: [] },
                { chain: meshCa(writtenChain), violations: [] },
            ],
        );

        // By hand: the expired cross-certificate after the root, still off the path; an expired CA on it refused.
        const expiredIssuing = await mintSubCa(root, "Old mesh issuing CA", {
            issuedAt: hours(-48),
            validityHours: 24,
        });
        const under = await mintSubCa(expiredIssuing, "Mesh CA under Old mesh issuing CA", {
            issuedAt: hours(-30),
            validityHours: 96,
        });
        const current = await mintSubCa(issuing, "Mesh CA under Mesh issuing CA", { issuedAt: hours(-1) });
        const check = (ca: TestCa, chain: string[]) => handWrittenCacerts(ca, chain, root.certPem);
        const expiredOn = new Date(new crypto.X509Certificate(expiredIssuing.certPem).validTo).toISOString();
        assert.deepStrictEqual(
            [
                await check(current, [current.certPem, issuing.certPem, root.certPem, expiredCross]),
                await check(under, [under.certPem, expiredIssuing.certPem, cross, root.certPem]),
            ],
            [
                [],
                [
                    `istio-system/cacerts: CN=Old mesh issuing CA in cert-chain.pem expired on ${expiredOn}: ` +
                        'istiod refuses the cacerts ("certificate has expired or is not yet valid"); renew it',
                ],
            ],
        );
    });

    it("istiod-cacerts: refuses in cert-chain.pem a certificate above no certificate of ca-cert.pem's path, even one signed by another such", async () => {
        const root = await mintRoot("Mesh test root");
        const issuing = await mintSubCa(root, "Mesh issuing CA");
        const ca = await mintSubCa(issuing, "Mesh CA");
        const junk = await mintRoot("Junk root");
        // Two roots that sign each other: each is signed by another certificate of cert-chain.pem, neither is above ca-cert.pem.
        const [left, right] = [await mintRoot("Junk left"), await mintRoot("Junk right")];
        const check = (chain: string[]) => handWrittenCacerts(ca, chain, root.certPem);
        const fix = "give cert-chain.pem as ca-cert.pem, then each CA above it, up to a root of root-cert.pem";
        const valid = [ca.certPem, issuing.certPem, root.certPem];
        assert.deepStrictEqual(
            [
                await check([...valid, junk.certPem, junk.certPem]),
                await check([...valid, crossSign(left, "Junk left", right), crossSign(right, "Junk right", left)]),
                await check(valid),
            ],
            [
                [
                    `istio-system/cacerts: in cert-chain.pem, CN=Mesh test root is not signed by CN=Junk root, the certificate after it: ${fix}`,
                ],
                [
                    `istio-system/cacerts: in cert-chain.pem, CN=Mesh test root is not signed by CN=Junk left, the certificate after it: ${fix}`,
                ],
                [],
            ],
        );
    });

    it("istiod-cacerts: refuses a CA of the path without CA:TRUE or keyCertSign, as istiod or its workloads do", async () => {
        const root = await mintRoot("Mesh test root");
        const caExtensions = ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign"];
        const notCa = ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,keyCertSign,cRLSign"];
        const noCertSign = ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,cRLSign"];
        const nonCaIssuing = opensslCa("Mesh issuing CA without CA:TRUE", notCa, root);
        const noCertSignIssuing = opensslCa("Mesh issuing CA without keyCertSign", noCertSign, root);
        const check = (ca: TestCa, above: TestCa[]) =>
            handWrittenCacerts(
                ca,
                [ca, ...above, root].map((c) => c.certPem),
                root.certPem,
            );
        assert.deepStrictEqual(
            [
                await check(opensslCa("Mesh CA", caExtensions, nonCaIssuing), [nonCaIssuing]),
                await check(opensslCa("Mesh CA", caExtensions, noCertSignIssuing), [noCertSignIssuing]),
                await check(opensslCa("Mesh CA without CA:TRUE", notCa, root), []),
                await check(opensslCa("Mesh CA without keyCertSign", noCertSign, root), []),
                await check(opensslCa("Mesh CA", caExtensions, root), []),
            ],
            [
                [
                    "istio-system/cacerts: CN=Mesh issuing CA without CA:TRUE in cert-chain.pem is not a CA certificate (CA:FALSE): " +
                        'istiod refuses the cacerts ("certificate is not authorized to sign other certificates"); re-issue it with CA:TRUE and keyCertSign, or give the CA that signed ca-cert.pem',
                ],
                [
                    "istio-system/cacerts: CN=Mesh issuing CA without keyCertSign in cert-chain.pem is a CA certificate whose keyUsage lacks keyCertSign: " +
                        'istiod signs with the cacerts, but workloads refuse every certificate it signs (Envoy\'s BoringSSL: "invalid CA certificate"); re-issue it with keyCertSign (and cRLSign)',
                ],
                [
                    "istio-system/cacerts: ca-cert.pem (CN=Mesh CA without CA:TRUE) is not a CA certificate (CA:FALSE): " +
                        'istiod signs with the cacerts, but workloads refuse every certificate it signs (Envoy\'s BoringSSL: "invalid CA certificate"); re-issue it with CA:TRUE and keyCertSign, or give the CA that signed ca-cert.pem',
                ],
                [
                    "istio-system/cacerts: ca-cert.pem (CN=Mesh CA without keyCertSign) is a CA certificate whose keyUsage lacks keyCertSign: " +
                        'istiod signs with the cacerts, but workloads refuse every certificate it signs (Envoy\'s BoringSSL: "invalid CA certificate"); re-issue it with keyCertSign (and cRLSign)',
                ],
                [],
            ],
        );
    });

    it("istiod-cacerts: gives up, as istiod's Go verifier does, after 100 signature checks, in well under the time of a search without a limit", async () => {
        // Each layer's CA certified twice (one subject and key, two certificates) by the layer above:
        // 2^13 paths from ca-cert.pem to the root, which a search without a limit walks one by one (tens of seconds).
        const root = await mintRoot("Layered mesh root");
        const chain: string[] = [root.certPem];
        let above: TestCa[] = [root];
        for (let layer = 1; layer <= 14; layer++) {
            const keyPem = (await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" })).state
                .privateKeyPem as string;
            above = Array.from({ length: layer === 14 ? 1 : 2 }, () => ({
                keyPem,
                certPem: crossSign({ keyPem }, `Layer ${layer}`, above[0]),
            }));
            chain.unshift(...above.map((ca) => ca.certPem));
        }
        const cacerts = named("mesh-ca-example-cacerts");
        const timed = async (roots: string) => {
            const started = Date.now();
            const violations = await checkResource(istiodCaPolicy, {
                ...cacerts,
                props: {
                    ...cacerts.props,
                    stringData: asSecret({
                        "ca-cert.pem": above[0].certPem,
                        "ca-key.pem": above[0].keyPem,
                        "cert-chain.pem": chain.join(""),
                        "root-cert.pem": roots,
                    }),
                },
            });
            return { violations, fast: Date.now() - started < 2000 };
        };
        // Go stops at the first path to a root within its 100 checks; with no root of root-cert.pem above, it runs out.
        assert.deepStrictEqual(
            [await timed(root.certPem), await timed((await mintRoot("Other root")).certPem)],
            [
                { violations: [], fast: true },
                {
                    violations: [
                        "istio-system/cacerts: istiod's Go verifier gave up after 100 signature checks, finding no path from ca-cert.pem through cert-chain.pem to a root of root-cert.pem " +
                            '(CN=Other root): istiod refuses the cacerts ("signature check attempts limit reached while verifying certificate chain"); ' +
                            "give cert-chain.pem as ca-cert.pem, then each CA above it, once, up to a root of root-cert.pem",
                    ],
                    fast: true,
                },
            ],
        );
    });

    it("private-key-secrets: a stack whose pki:gatewayNamespace is not istio-system is told to add it to keySecretNamespaces", async () => {
        // The pack cannot see a stack's config: the gateway's Secrets are refused until the namespace is listed.
        const ingress = { ...loadStackFile(OPTION_FILES[1]), gatewayNamespace: "istio-ingress" };
        const run = await runWithStandIn(() => buildPki(planFromRawConfig(ingress)).outputs, {
            state: sharedStateWithSuiteKeys(),
        });
        const secrets = fromEngine(run.engine.resources).filter((r) => r.type === "kubernetes:core/v1:Secret");
        const violations = async (config: Record<string, unknown>) =>
            (await Promise.all(secrets.map((r) => checkResource(keySecretPolicy, r, config)))).flat().sort();
        assert.deepStrictEqual(await violations({}), [
            outsideNamespaces("apic-mtls-dp", "tls.key", "istio-ingress"),
            outsideNamespaces("apic-mtls-ob", "tls.key", "istio-ingress"),
        ]);
        // istiod's cacerts stays in istio-system.
        assert.deepStrictEqual(await violations({ keySecretNamespaces: ["istio-system", "istio-ingress"] }), []);
        // istiod reads cacerts in istio-system alone: the fix is to list it, not to move the Secret.
        assert.deepStrictEqual(await violations({ keySecretNamespaces: ["istio-ingress"] }), [
            "cacerts: a private key (ca-key.pem) in istiod's plug-in CA Secret in istio-system; keys belong only in istio-ingress (the pack's keySecretNamespaces). " +
                "istiod reads cacerts in istio-system alone, so it cannot move: add istio-system to keySecretNamespaces",
        ]);
        // A resource named cacerts without metadata.name is cacerts-<random>, which istiod never reads:
        // an ordinary key Secret, as istiod-cacerts and private-key-secrets' type check take it.
        const cacerts = secrets.find((r) => (r.props.metadata as Record<string, unknown>).name === "cacerts");
        assert.ok(cacerts !== undefined);
        const metadata = cacerts.props.metadata as Record<string, unknown>;
        const unnamed = {
            ...cacerts,
            name: "cacerts",
            props: { ...cacerts.props, metadata: { namespace: metadata.namespace } },
        };
        assert.deepStrictEqual(
            await checkResource(keySecretPolicy, unnamed, { keySecretNamespaces: ["istio-ingress"] }),
            [
                outsideNamespaces("cacerts", "ca-key.pem", "istio-system", "istio-ingress"),
                "cacerts: a private key (ca-key.pem) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
            ],
        );
    });

    it("private-key-secrets: keySecretNamespaces as a map admits only the Secrets it names in a namespace: the backend gateway's key moved to the customer-facing gateway's is refused", async () => {
        // An attacker who reads the internet-facing gateway's namespace must not find the backend gateway's server key there.
        const gatewaySecret = named("ob-gateway-ob-tls");
        const movedTo = (namespace: string, name = "apic-mtls-ob") => ({
            ...gatewaySecret,
            props: { ...gatewaySecret.props, metadata: { name, namespace } },
        });
        const places = { "istio-system": ["*"], "istio-ingress-public": ["public-tls-*"] };
        const check = (secret: Resource, setting: unknown) =>
            checkResource(keySecretPolicy, secret, { keySecretNamespaces: setting });
        assert.deepStrictEqual(
            [
                await check(movedTo("istio-ingress-public"), places),
                await check(movedTo("istio-ingress-public", "public-tls-www-bank-example"), places),
                await check(movedTo("istio-system"), places),
                // The flat list admits any key Secret in a namespace it lists: the gap the map closes.
                await check(movedTo("istio-ingress-public"), ["istio-system", "istio-ingress-public"]),
            ],
            [
                [
                    "apic-mtls-ob: a private key (tls.key) in namespace istio-ingress-public, where the pack's keySecretNamespaces admits only Secrets named public-tls-*; " +
                        "keys belong only in istio-system, istio-ingress-public (public-tls-* alone) (the pack's keySecretNamespaces). " +
                        "Move it to the namespace where its gateway or sidecar reads it, or, if one must read it in istio-ingress-public, " +
                        "add its name (or a pattern, * for any characters) to keySecretNamespaces' istio-ingress-public",
                ],
                [],
                [],
                [],
            ],
        );
        // A pattern is no regular expression: a dot is a dot.
        assert.strictEqual((await check(movedTo("ui", "apic-mtls-ob"), { ui: ["apic.mtls-*"] })).length, 1);
        // tls-secret-contents and credential-trust read the map's namespaces as the list's.
        const cacert = {
            ...gatewaySecret,
            props: {
                metadata: { name: "trust", namespace: "ui" },
                type: "Opaque",
                // A key where a CA belongs: refused wherever the Secret is judged as a credential.
                stringData: {
                    "ca.crt": crypto
                        .generateKeyPairSync("ec", { namedCurve: "P-256" })
                        .privateKey.export({ type: "pkcs8", format: "pem" }) as string,
                },
            },
        };
        assert.deepStrictEqual(
            [
                (await checkResource(tlsSecretContentsPolicy, cacert, { keySecretNamespaces: { ui: ["*"] } })).length >
                    0,
                (await checkResource(tlsSecretContentsPolicy, cacert, { keySecretNamespaces: { other: ["*"] } }))
                    .length > 0,
            ],
            [true, false],
        );
    });

    it("private-key-secrets: istiod's cacerts in an istio-system whose map form does not admit it is told to admit it there, not to move", async () => {
        const cacerts = named("mesh-ca-example-cacerts");
        const check = (setting: unknown) => checkResource(keySecretPolicy, cacerts, { keySecretNamespaces: setting });
        assert.deepStrictEqual(await check({ "istio-system": ["istio-ingressgateway-*"] }), [
            "cacerts: a private key (ca-key.pem) in istiod's plug-in CA Secret in istio-system, where the pack's keySecretNamespaces admits only Secrets named istio-ingressgateway-*; " +
                "keys belong only in istio-system (istio-ingressgateway-* alone) (the pack's keySecretNamespaces). " +
                "istiod reads cacerts in istio-system alone, so it cannot move: add cacerts (or *) to keySecretNamespaces' istio-system",
        ]);
        assert.deepStrictEqual(await check({ "istio-system": ["istio-ingressgateway-*", "cacerts"] }), []);
        assert.deepStrictEqual(await check({ "istio-system": ["*"] }), []);
        // Not listed at all: list istio-system.
        assert.deepStrictEqual(await check({ "istio-ingress": ["*"] }), [
            "cacerts: a private key (ca-key.pem) in istiod's plug-in CA Secret in istio-system; keys belong only in istio-ingress (the pack's keySecretNamespaces). " +
                "istiod reads cacerts in istio-system alone, so it cannot move: add istio-system to keySecretNamespaces",
        ]);
    });

    it("private-key-secrets: keySecretNamespaces' schema refuses an empty name, and a malformed setting the host lets through is refused by name, not with a TypeError", async () => {
        // The policy host holds the config to the schema: no empty namespace nor Secret name in either form.
        const schema = keySecretPolicy.configSchema?.properties?.keySecretNamespaces as {
            anyOf: [{ items: unknown }, { additionalProperties: { items: unknown; minItems: number } }];
        };
        assert.deepStrictEqual(
            [schema.anyOf[0].items, schema.anyOf[1].additionalProperties],
            [
                { type: "string", minLength: 1 },
                { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 },
            ],
        );
        // A host that does not hold it to the schema's anyOf: each key Secret refused, saying what to fix.
        const gatewaySecret = named("ob-gateway-ob-tls");
        const check = (setting: unknown) =>
            checkResource(keySecretPolicy, gatewaySecret, { keySecretNamespaces: setting });
        const refused = (what: string) =>
            "apic-mtls-ob: a private key (tls.key), and the policy config's keySecretNamespaces (private-key-secrets) is malformed, so no Secret may hold a key: " +
            what;
        assert.deepStrictEqual(
            [
                await check({ "istio-system": "x" }),
                await check({ "istio-system": ["*"], "istio-ingress": [""] }),
                await check({ "istio-system": [] }),
                await check(["istio-system", ""]),
                await check("istio-system"),
            ],
            [
                [
                    refused(
                        'its namespace istio-system has "x", not a list of the Secret names it admits; give istio-system a list of one or more names, none empty (e.g. {"istio-system": ["*"]} to admit any)',
                    ),
                ],
                [
                    refused(
                        'its namespace istio-ingress has [""], not a list of the Secret names it admits; give istio-ingress a list of one or more names, none empty (e.g. {"istio-ingress": ["*"]} to admit any)',
                    ),
                ],
                [
                    refused(
                        'its namespace istio-system has [], not a list of the Secret names it admits; give istio-system a list of one or more names, none empty (e.g. {"istio-system": ["*"]} to admit any)',
                    ),
                ],
                [
                    refused(
                        'it is ["istio-system",""], whose namespaces must be names, none empty; give it a list of namespaces (e.g. ["istio-system"]) or a map of each namespace ' +
                            'to the Secret names it admits (e.g. {"istio-system": ["*"]}; * matches any characters, ["*"] admits any)',
                    ),
                ],
                [
                    refused(
                        'it is "istio-system"; give it a list of namespaces (e.g. ["istio-system"]) or a map of each namespace ' +
                            'to the Secret names it admits (e.g. {"istio-system": ["*"]}; * matches any characters, ["*"] admits any)',
                    ),
                ],
            ],
        );
        // The rules that read its namespaces alone still run, on its well-formed namespaces.
        assert.deepStrictEqual(
            await checkResource(tlsSecretContentsPolicy, gatewaySecret, {
                keySecretNamespaces: { "istio-system": "x" },
            }),
            [],
        );
    });

    it("private-key-secrets: a Secret without a namespace is in its provider's, and refused when that is unknown", async () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const unplaced = (providerProps?: Record<string, unknown>) =>
            checkResource(keySecretPolicy, {
                ...gatewaySecret,
                props: { ...gatewaySecret.props, metadata: { name: "gw-tls" } },
                provider: providerProps && { type: "pulumi:providers:kubernetes", name: "istio", props: providerProps },
            });
        assert.deepStrictEqual(await unplaced({ namespace: "istio-system" }), []);
        assert.deepStrictEqual(await unplaced({ namespace: "ob" }), [outsideNamespaces("gw-tls", "tls.key", "ob")]);
        const unknown =
            "gw-tls: a private key (tls.key) with no metadata.namespace, under a provider that sets none (its kubeconfig context's applies, which the pack cannot see); " +
            "set metadata.namespace: keys belong only in istio-system (the pack's keySecretNamespaces)";
        assert.deepStrictEqual(await unplaced({ context: "east" }), [unknown]);
        assert.deepStrictEqual(await unplaced(undefined), [unknown]);
    });

    it("private-key-secrets: with keySecretNamespaces empty, says that no Secret may hold a key", async () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const unplaced = { ...gatewaySecret, props: { ...gatewaySecret.props, metadata: { name: "gw-tls" } } };
        const refused = (secret: string, where: string) =>
            `${secret}: a private key (tls.key)${where}, and the pack's keySecretNamespaces is empty: no Secret may hold a key. ` +
            "Take the key out, or list in keySecretNamespaces the namespaces where a gateway or sidecar must read one (its default is istio-system)";
        assert.deepStrictEqual(
            [
                await checkResource(keySecretPolicy, gatewaySecret, { keySecretNamespaces: [] }),
                await checkResource(keySecretPolicy, unplaced, { keySecretNamespaces: [] }),
            ],
            [[refused("apic-mtls-ob", " in namespace istio-system")], [refused("gw-tls", "")]],
        );
    });

    it("secrets-updated-in-place: advises enableSecretMutable on the provider of a Secret holding a key", async () => {
        // Without it pulumi-kubernetes replaces the Secret on each renewal, deleting it first (its name is fixed).
        const gatewaySecret = named("ob-gateway-ob-tls");
        const under = (providerProps?: Record<string, unknown>, props = gatewaySecret.props) =>
            checkResource(secretsInPlacePolicy, {
                ...gatewaySecret,
                props,
                provider: providerProps && { type: "pulumi:providers:kubernetes", name: "east", props: providerProps },
            });
        const advice = (provider: string) =>
            `apic-mtls-ob: its Kubernetes provider ${provider} does not set enableSecretMutable, ` +
            "so each renewal deletes this Secret and creates it again, leaving whoever reads it without it in between; " +
            "set enableSecretMutable: true on the provider (or PULUMI_K8S_ENABLE_SECRET_MUTABLE=true where pulumi runs)";
        assert.deepStrictEqual(
            [
                await under({ context: "east", enableSecretMutable: "true" }),
                await under({ context: "east", enableSecretMutable: true }),
                await under({ context: "east" }),
                await under({ context: "east", enableSecretMutable: "false" }),
                await under(undefined),
                // A Secret of certificates alone: nobody is left without a key.
                await under({ context: "east" }, { metadata: { name: "apic-mtls-ob" }, stringData: { "ca.crt": "x" } }),
            ],
            [[], [], [advice("east")], [advice("east")], [advice("(the default)")], []],
        );
        assert.strictEqual(secretsInPlacePolicy.enforcementLevel, "advisory");
        // The stack program's own providers set it (lib/stack.ts clusterProvider).
        assert.deepStrictEqual(
            kubernetesProviders.map((p) => [p.name, p.inputs.enableSecretMutable]),
            [["example", "true"]],
        );
    });

    it("private-key-secrets: checks a SecretPatch as the Secret it writes into (its type only when the patch sets one)", async () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const patch = (type: string | undefined, namespace: string) =>
            checkResource(keySecretPolicy, {
                ...gatewaySecret,
                type: "kubernetes:core/v1:SecretPatch",
                props: { ...gatewaySecret.props, type, metadata: { name: "patched", namespace } },
            });
        assert.deepStrictEqual(await patch(undefined, "ob"), [outsideNamespaces("patched", "tls.key", "ob")]);
        assert.deepStrictEqual(await patch("Opaque", "istio-system"), [
            "patched: a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
        ]);
        assert.deepStrictEqual(
            await patch(undefined, "istio-system"),
            [],
            "the patched Secret's own type is not in the patch",
        );
    });

    it("private-key-secrets: finds a key in any encoding, in data (DER or text) and stringData, and names its entries", async () => {
        // Secret, as @pulumi/kubernetes registers one: its data and stringData secret.
        const secret = (type: string, namespace: string, data?: object, stringData?: object) =>
            checkResource(keySecretPolicy, {
                type: "kubernetes:core/v1:Secret",
                name: "keystore",
                props: {
                    type,
                    metadata: { name: "keystore", namespace },
                    data: data && asSecret(data),
                    stringData: stringData && asSecret(stringData),
                },
            });
        const refused = (entries: string) => [
            outsideNamespaces("keystore", entries, "ob"),
            `keystore: a private key (${entries}) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)`,
        ];
        const files = { ...notKeys, ...keys };
        // data holds a file's bytes in base64: the base64 files' decoded bytes (DER, keystores, or PEM), or any file's text.
        const base64Files = Object.entries(files).filter(
            ([, text]) => !text.startsWith("-----") && !text.startsWith("{"),
        );
        const asBytes = Object.fromEntries(base64Files.map(([f, text]) => [f, base64(Buffer.from(text, "base64"))]));
        const asText = Object.fromEntries(Object.entries(files).map(([f, text]) => [f, base64(text)]));
        // Entries in the order the engine sends a map's keys: sorted.
        const base64Keys =
            "client-nodes.pem.b64, client-url.p12, client.p12, ec-sec1.der, ed25519-v2.p8, key-bom.pem.b64, key-encrypted.p8, " +
            "key-newline.pem.b64, key.p8, key.pem.b64, keystore.jceks, keystore.jks, rsa-pkcs1.der";
        const allKeys =
            "client-nodes.pem.b64, client-url.p12, client.p12, ec-sec1.der, ec.jwk, ed25519-v2.p8, key-bom.pem.b64, key-encrypted.p8, " +
            "key-lowercase.pem, key-newline.pem.b64, key.p8, key.pem, key.pem.b64, keys.jwks, keystore.jceks, keystore.jks, rsa-pkcs1.der";
        assert.deepStrictEqual(await secret("Opaque", "ob", asBytes), refused(base64Keys));
        assert.deepStrictEqual(await secret("Opaque", "ob", asText), refused(allKeys));
        assert.deepStrictEqual(await secret("Opaque", "ob", undefined, files), refused(allKeys));
        assert.deepStrictEqual(await secret("Opaque", "ob", undefined, notKeys), []);
        assert.deepStrictEqual(
            await secret("kubernetes.io/tls", "istio-system", asBytes),
            [],
            "a TLS secret where keys go",
        );
    });

    it("no-private-key-configmaps: refuses a ConfigMap (or its patch) holding a key in data or binaryData, by entry", async () => {
        const configMap = (type: string, data: object, binaryData: object) =>
            checkResource(keyConfigMapPolicy, {
                type,
                name: "apic-config",
                props: { metadata: { name: "apic-config", namespace: "ob" }, data, binaryData },
            });
        const ob = bundle("ob");
        // A consumer's ConfigMap for APIC: certificates, CRL and truststore may be there, the key and keystore not.
        const data = { "truststore.pem": ob.truststorePem, "client.crt": ob.certPem, ...notKeys };
        // A Java consumer's truststore too, and a JWT issuer's public keys.
        const binaryData = {
            "ca.der": notKeys["ca.der"],
            "ca.crl": notKeys["ca.crl"],
            "truststore.jks": notKeys["truststore.jks"],
            "truststore.jceks": notKeys["truststore.jceks"],
        };
        const leaked = {
            data: {
                ...data,
                "client.key": ob.privateKeyPem,
                "client-key.der": keys["ec-sec1.der"],
                "key.jwk": keys["ec.jwk"],
            },
            binaryData: {
                ...binaryData,
                "client.p12": ob.pkcs12Base64,
                "key.pem": base64(keys["key.pem"]),
                "keystore.jks": keys["keystore.jks"],
                "keystore.jceks": keys["keystore.jceks"],
            },
        };
        for (const type of ["kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ConfigMapPatch"]) {
            assert.deepStrictEqual(await configMap(type, leaked.data, leaked.binaryData), [
                "apic-config: a private key in a ConfigMap (data client-key.der, data client.key, data key.jwk, " +
                    "binaryData client.p12, binaryData key.pem, binaryData keystore.jceks, binaryData keystore.jks), " +
                    "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
            ]);
            assert.deepStrictEqual(await configMap(type, data, binaryData), []);
        }
    });

    it("no-private-key-configmaps, private-key-secrets: in a preview, find a known key beside an entry not known yet", async () => {
        // A certificate a preview does not know yet (an output of a resource not yet made) beside a key given as text.
        const key = bundle("ob").privateKeyPem;
        assert.deepStrictEqual(
            await checkResource(keyConfigMapPolicy, {
                type: "kubernetes:core/v1:ConfigMap",
                name: "apic-config",
                props: {
                    metadata: { name: "apic-config", namespace: "ob" },
                    data: { "key.pem": key, "ca.crt": UNKNOWN },
                },
            }),
            [
                "apic-config: a private key in a ConfigMap (data key.pem), which is not secret; " +
                    "keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
            ],
        );
        assert.deepStrictEqual(
            await checkResource(keySecretPolicy, {
                type: "kubernetes:core/v1:Secret",
                name: "app-tls",
                props: {
                    metadata: { name: "app-tls", namespace: "istio-system" },
                    type: "Opaque",
                    stringData: { "tls.key": key, "tls.crt": UNKNOWN },
                },
            }),
            [
                "app-tls: a private key (tls.key) in a secret of type Opaque; " +
                    "use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
            ],
        );
        // A whole map not known yet beside a key in the other; a namespace not known yet, which the update checks.
        const configMap = (data: unknown, binaryData: unknown) =>
            checkResource(keyConfigMapPolicy, {
                type: "kubernetes:core/v1:ConfigMap",
                name: "apic-config",
                props: { metadata: { name: "apic-config", namespace: "ob" }, data, binaryData },
            });
        const secret = (metadata: Record<string, unknown>, data: unknown, stringData: unknown) =>
            checkResource(keySecretPolicy, {
                type: "kubernetes:core/v1:Secret",
                name: "app-tls",
                props: { metadata: { name: "app-tls", ...metadata }, type: "Opaque", data, stringData },
            });
        const opaque =
            "a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)";
        assert.deepStrictEqual(
            [
                await configMap(UNKNOWN, { "key.pem": base64(key) }),
                await configMap({ "key.pem": key }, UNKNOWN),
                await secret({ namespace: "istio-system" }, UNKNOWN, { "tls.key": key }),
                await secret({ namespace: "istio-system" }, { "tls.key": base64(key) }, UNKNOWN),
                await secret({ namespace: UNKNOWN }, undefined, { "tls.key": key }),
                await secret({ namespace: "ob" }, UNKNOWN, { "tls.key": key }),
            ],
            [
                [
                    "apic-config: a private key in a ConfigMap (binaryData key.pem), which is not secret; " +
                        "keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
                [
                    "apic-config: a private key in a ConfigMap (data key.pem), which is not secret; " +
                        "keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
                [`app-tls: ${opaque}`],
                [`app-tls: ${opaque}`],
                [`app-tls: ${opaque}`],
                [
                    "app-tls: a private key (tls.key) in namespace ob; keys belong only in istio-system (the pack's keySecretNamespaces). " +
                        "Move it there, or, if a gateway or sidecar must read it in ob (a stack's pki:gatewayNamespace, pki:frontEnd.customerFacingGateway.namespace or front-end UI namespace, " +
                        "or such a namespace of your program's), add ob to keySecretNamespaces",
                    `app-tls: ${opaque}`,
                ],
            ],
        );
        // Whether it is istiod's cacerts is not known yet: the update checks its type.
        assert.deepStrictEqual(
            await checkResource(keySecretPolicy, {
                type: "kubernetes:core/v1:Secret",
                name: "mesh-ca",
                props: {
                    metadata: { name: "cacerts", namespace: UNKNOWN },
                    type: "Opaque",
                    stringData: { "ca-key.pem": key },
                },
            }),
            [],
        );
    });

    it("no-private-key-metadata: refuses a key in any Kubernetes object's or pod template's annotations or labels, by entry", async () => {
        const ob = bundle("ob");
        const object = (type: string, annotations: object, labels: object) =>
            checkResource(keyMetadataPolicy, {
                type,
                name: "apic-gw",
                props: { metadata: { name: "apic-gw", namespace: "ob", annotations, labels }, data: { a: "b" } },
            });
        const annotations = { "example.com/ca": ob.truststorePem, "example.com/tls-key": ob.privateKeyPem };
        const labels = { app: "apic-gw", "key-der": keys["ec-sec1.der"] };
        for (const type of [
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:apps/v1:Deployment",
            "kubernetes:core/v1:Secret",
        ]) {
            assert.deepStrictEqual(await object(type, annotations, labels), [
                "apic-gw: a private key in metadata (metadata.annotations example.com/tls-key, metadata.labels key-der), " +
                    "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
            ]);
            assert.deepStrictEqual(await object(type, { "example.com/ca": ob.truststorePem }, { app: "apic-gw" }), []);
        }
        // A pod template's metadata, at any depth: the Deployment's and the CronJob's.
        const podMetadata = { annotations: { "example.com/tls-key": ob.privateKeyPem }, labels: { app: "apic-gw" } };
        const workload = (type: string, spec: object) =>
            checkResource(keyMetadataPolicy, { type, name: "apic-gw", props: { metadata: { name: "apic-gw" }, spec } });
        assert.deepStrictEqual(
            [
                await workload("kubernetes:apps/v1:Deployment", { template: { metadata: podMetadata } }),
                await workload("kubernetes:batch/v1:CronJob", {
                    jobTemplate: { spec: { template: { metadata: podMetadata } } },
                }),
                await workload("kubernetes:apps/v1:Deployment", { template: { metadata: { labels: { app: "x" } } } }),
                // Beside a value a preview does not know yet, which is skipped rather than stopping the rule.
                await workload("kubernetes:apps/v1:Deployment", {
                    template: { metadata: podMetadata, spec: { containers: [{ name: "gw", image: UNKNOWN }] } },
                }),
            ],
            [
                [
                    "apic-gw: a private key in metadata (spec.template.metadata.annotations example.com/tls-key), " +
                        "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
                [
                    "apic-gw: a private key in metadata (spec.jobTemplate.spec.template.metadata.annotations example.com/tls-key), " +
                        "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
                [],
                [
                    "apic-gw: a private key in metadata (spec.template.metadata.annotations example.com/tls-key), " +
                        "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
            ],
        );
        // Entries given as objects (a JWK, a map holding a PEM key), which Kubernetes takes as texts alone: this
        // rule reports them by their paths, and no-private-key-kubernetes-objects leaves them to it.
        const asObjects = { nested: { key: ob.privateKeyPem }, signing: JSON.parse(keys["ec.jwk"]) };
        const issuer = {
            type: "kubernetes:example.com/v1:Issuer",
            name: "apic-gw",
            props: { metadata: { name: "apic-gw" }, spec: { template: { metadata: { annotations: asObjects } } } },
        };
        assert.deepStrictEqual(
            [await checkResource(keyMetadataPolicy, issuer), await checkResource(keyKubernetesObjectPolicy, issuer)],
            [
                [
                    "apic-gw: a private key in metadata (spec.template.metadata.annotations nested.key, spec.template.metadata.annotations signing), " +
                        "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
                ],
                [],
            ],
        );
    });

    it("no-private-key-helm-values: refuses a Helm Release given a key in its values, by path, and leaves a Chart's to its objects", async () => {
        const ob = bundle("ob");
        const release = (type: string, values: object) =>
            checkResource(keyHelmValuesPolicy, {
                type,
                name: "apic-gw",
                props: { chart: "./charts/gw", namespace: "ob", values },
            });
        // An image tag a preview does not know yet is skipped, not a stop.
        const values = {
            replicas: 2,
            image: { tag: UNKNOWN },
            tls: { cert: ob.certPem, key: ob.privateKeyPem },
            clients: [{ name: "ob", keystore: ob.pkcs12Base64 }],
        };
        assert.deepStrictEqual(await release("kubernetes:helm.sh/v3:Release", values), [
            "apic-gw: a private key in Helm values (values clients[0].keystore, values tls.key), which the chart writes into objects this pack never sees; " +
                "keep keys in a kubernetes.io/tls Secret (or Istio's cacerts) and give the chart the Secret's name",
        ]);
        assert.deepStrictEqual(
            await release("kubernetes:helm.sh/v3:Release", {
                replicas: 2,
                tls: { cert: ob.certPem, secretName: "gw-tls" },
            }),
            [],
        );
        // A Chart (helm.sh/v3 or v4) renders on the client, like helm template, and registers each object it
        // renders, which the pack checks as itself.
        for (const type of ["kubernetes:helm.sh/v3:Chart", "kubernetes:helm.sh/v4:Chart"])
            assert.deepStrictEqual(await release(type, values), [], type);
    });

    it("no-private-key-kubernetes-objects: refuses a key anywhere in another object's inputs (EnvoyFilter, env, args), by path", async () => {
        const ob = bundle("ob");
        const object = (type: string, props: Record<string, unknown>) =>
            checkResource(keyKubernetesObjectPolicy, { type, name: "apic-gw", props });
        const refused = (kind: string, paths: string) => [
            `apic-gw: a private key in the ${kind} (${paths}), which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts) ` +
                "and refer to it by name (a volume, an env valueFrom.secretKeyRef, a Gateway's credentialName)",
        ];
        // An inline key of an EnvoyFilter, which every proxy's config dump then shows.
        const tlsCertificate = {
            certificate_chain: { inline_string: ob.certPem },
            private_key: { inline_string: ob.privateKeyPem },
        };
        const transportSocket = { typed_config: { common_tls_context: { tls_certificates: [tlsCertificate] } } };
        const envoyFilter = {
            metadata: { name: "apic-gw", namespace: "istio-system" },
            spec: { configPatches: [{ applyTo: "CLUSTER", patch: { value: { transport_socket: transportSocket } } }] },
        };
        assert.deepStrictEqual(
            await object("kubernetes:networking.istio.io/v1alpha3:EnvoyFilter", envoyFilter),
            refused(
                "EnvoyFilter",
                "spec.configPatches[0].patch.value.transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key.inline_string",
            ),
        );
        // A container's env and args, values a preview does not know yet beside them (they are skipped, not a stop);
        // the pod template's annotations are no-private-key-metadata's to report.
        const container = {
            name: "gw",
            image: UNKNOWN,
            env: [
                { name: "CA", value: ob.truststorePem },
                { name: "TLS_KEY", value: ob.privateKeyPem },
            ],
            args: ["--keystore", keys["keystore.jks"]],
        };
        const podSpec = { containers: [container] };
        const podMetadata = { annotations: { "example.com/tls-key": ob.privateKeyPem } };
        assert.deepStrictEqual(
            await object("kubernetes:apps/v1:Deployment", {
                metadata: { name: "apic-gw", namespace: UNKNOWN },
                spec: { template: { metadata: podMetadata, spec: podSpec } },
            }),
            refused(
                "Deployment",
                "spec.template.spec.containers[0].args[1], spec.template.spec.containers[0].env[1].value",
            ),
        );
        assert.deepStrictEqual(
            await object("kubernetes:core/v1:Pod", { metadata: { name: "apic-gw" }, spec: podSpec }),
            refused("Pod", "spec.containers[0].args[1], spec.containers[0].env[1].value"),
        );
        // A custom resource's JWK, as an object.
        assert.deepStrictEqual(
            await object("kubernetes:example.com/v1:TokenIssuer", { spec: { signingKey: JSON.parse(keys["ec.jwk"]) } }),
            refused("TokenIssuer", "spec.signingKey"),
        );
        // What other rules read, or what holds no key: a Secret's and a ConfigMap's data, a Helm release's
        // values, a ConfigGroup's objects (each checked as itself), a JWT issuer's public keys, a Gateway's credentialName.
        const tlsSecret = {
            apiVersion: "v1",
            kind: "Secret",
            type: "Opaque",
            stringData: { "tls.key": ob.privateKeyPem },
        };
        const jwtRules = [{ issuer: "https://issuer.bank.example", jwks: notKeys["public.jwks"] }];
        const server = {
            port: { number: 443, name: "https", protocol: "HTTPS" },
            tls: { credentialName: "apic-mtls-ob" },
        };
        assert.deepStrictEqual(
            [
                await object("kubernetes:core/v1:Secret", tlsSecret),
                await object("kubernetes:core/v1:ConfigMap", { data: { "tls.key": ob.privateKeyPem } }),
                await object("kubernetes:helm.sh/v3:Release", { chart: "./gw", values: { key: ob.privateKeyPem } }),
                await object("kubernetes:yaml/v2:ConfigGroup", { objs: [tlsSecret] }),
                await object("kubernetes:yaml:ConfigGroup", { objs: [tlsSecret], yaml: [YAML.stringify(tlsSecret)] }),
                await object("kubernetes:helm.sh/v3:Chart", { chart: "./gw", values: { key: ob.privateKeyPem } }),
                await object("kubernetes:helm.sh/v4:Chart", { chart: "./gw", values: { key: ob.privateKeyPem } }),
                await object("kubernetes:security.istio.io/v1:RequestAuthentication", { spec: { jwtRules } }),
                await object("kubernetes:networking.istio.io/v1:Gateway", { spec: { servers: [server] } }),
                await object("kubernetes:core/v1:Pod", { spec: { containers: [{ ...container, env: [], args: [] }] } }),
            ],
            [[], [], [], [], [], [], [], [], [], []],
        );
    });

    it("checks a ConfigGroup's objects one by one: a kubernetes.io/tls Secret in istio-system passes, an Opaque one is refused", async () => {
        const ob = bundle("ob");
        const group = (type: string) =>
            runWithStandIn(
                () => {
                    const provider = new k8s.Provider("east", { enableSecretMutable: true });
                    const metadata = { name: "gw-tls", namespace: "istio-system" };
                    const stringData = { "tls.crt": ob.certPem, "tls.key": ob.privateKeyPem };
                    const objs = [{ apiVersion: "v1", kind: "Secret", type, metadata, stringData }];
                    new k8s.yaml.ConfigGroup("gw-tls", { objs }, { provider });
                    return {};
                },
                { state: new Map() },
            );
        const violations = async (type: string) => {
            const resources = fromEngine((await group(type)).engine.resources);
            assert.deepStrictEqual(
                resources.map((r) => r.type),
                ["pulumi:providers:kubernetes", "kubernetes:yaml:ConfigGroup", "kubernetes:core/v1:Secret"],
            );
            const all = await Promise.all(
                POLICIES.filter((p) => "validateResource" in p).flatMap((p) =>
                    resources.map((r) => checkResource(p as policy.ResourceValidationPolicy, r)),
                ),
            );
            return all.flat();
        };
        assert.deepStrictEqual(await violations("kubernetes.io/tls"), []);
        assert.deepStrictEqual(await violations("Opaque"), [
            "gw-tls: a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)",
        ]);
    });

    /** A TLS credential Secret written by hand in istio-system: `entries` as stringData (or base64 in data). */
    const handWrittenTlsSecret = (
        name: string,
        entries: Record<string, string>,
        type = "kubernetes.io/tls",
        encoding: "stringData" | "data" = "stringData",
    ): Resource => ({
        type: "kubernetes:core/v1:Secret",
        name,
        props: {
            metadata: { name, namespace: "istio-system" },
            type,
            [encoding]: asSecret(
                Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, encoding === "data" ? base64(v) : v])),
            ),
        },
    });
    /** A client root and its issuing CA (RSA: CRLs are signed with RSA only), and an empty CRL of each, valid now. */
    const paymentsClientCas = async () => {
        const root = await mintRoot("Payments client root", { rsa: true });
        const issuing = await mintSubCa(root, "Payments client CA", { rsa: true });
        const now = Date.now();
        const crls = [root, issuing]
            .map((ca) => emptyCrlOf(ca, Math.floor(now / 1000) * 1000 - 3_600_000, now + 86_400_000))
            .join("");
        return { root, issuing, crls };
    };
    /** A mesh root and CA of the tests in a cacerts Secret written by hand (istio-system, istiod's own layout). */
    const handWrittenMesh = async () => {
        const root = await mintRoot("Hand mesh root");
        const meshCa = await mintSubCa(root, "Hand mesh CA");
        const cacerts = handWrittenTlsSecret(
            "cacerts",
            {
                "ca-cert.pem": meshCa.certPem,
                "ca-key.pem": meshCa.keyPem,
                "cert-chain.pem": meshCa.certPem + root.certPem,
                "root-cert.pem": root.certPem,
            },
            "Opaque",
        );
        return { root, meshCa, cacerts };
    };
    /**
     * The attack credential-trust stands against: a client certificate with `uri` that whoever holds a
     * mesh CA's key (every cluster's cacerts) mints, and Envoy's verdict on it against `caCrt`
     * (checking `subjectAltNames` where given, as a gateway with APIC's identity pinned does).
     */
    const forgedByMeshCa = async (meshCa: TestCa, uri: string, caCrt: string, subjectAltNames?: string[]) => {
        const forged = await mintLeaf(meshCa, {
            commonName: "forged",
            uris: [uri],
            allowedUses: ["digital_signature", "client_auth"],
        });
        const chain = forged.cert + meshCa.certPem;
        return { chain, envoy: verifyPeer({ caCrt, chain, purpose: "sslclient", subjectAltNames }) };
    };
    /** Node's copy of a publicly trusted root: ISRG Root X1 (Let's Encrypt's). */
    const isrgRootX1 = () =>
        rootCertificates.find((pem) => /CN=ISRG Root X1$/.test(new crypto.X509Certificate(pem).subject)) as string;
    const ISRG = "C=US, O=Internet Security Research Group, CN=ISRG Root X1";
    /** What tls-secret-contents says after naming a served certificate that may be a server's and a public anchor in `entry`. */
    const PUBLIC_TRUST_SERVED = (entry: string) =>
        "a gateway serving it would let in any client certificate a public CA issues, to anyone; " +
        `give in ${entry} only the root(s) of a private CA that issues these clients' certificates (for APIC, its client root), ` +
        "or, for a sidecar's credential, a client certificate for clientAuth alone (neither serverAuth nor anyExtendedKeyUsage)";
    /**
     * The APIs of `namers` (as credential-trust shows them): an Istio Gateway's credentialName(s) or
     * caCertCredentialName, a Gateway API Gateway's certificateRefs or caCertificateRefs.
     */
    const apisOf = (namers: string) => ({
        istio: /redentialNames? \(|caCertCredentialName/.test(namers),
        gatewayApi: /ertificateRefs/.test(namers),
    });
    /** What credential-trust says of a Gateway's client trust when no SAN is checked: why, for the APIs of `namers` alone. */
    const noSanCheck = (namers: string) => {
        const { istio, gatewayApi } = apisOf(namers);
        return `no SAN check (${
            istio && gatewayApi
                ? "Istio sets none for a Gateway API Gateway's listeners, nor for an Istio Gateway server without subjectAltNames"
                : gatewayApi
                  ? "Istio sets none for a Gateway API Gateway's listeners"
                  : "the Istio Gateway server gives no subjectAltNames"
        })`;
    };
    /** credential-trust's fix for client trust checked by no SAN: a private root, and for an Istio server subjectAltNames too. */
    const noSanFix = (entry: string, namers: string) =>
        `give in ${entry} only the root(s) of a private CA that issues these clients' certificates and no one else's (for APIC, its client root), ` +
        "never a public or mesh root" +
        (apisOf(namers).istio
            ? "; and give the Istio Gateway server subjectAltNames (the clients' SANs: APIC's URI SAN), as IstioGatewayTls does"
            : "");
    /** credential-trust's refusal of ISRG Root X1 in `shown`'s `entry`, client trust of `namers` (a Gateway's field) checking no SAN. */
    const noSanPublicRefusal = (shown: string, namers: string, entry = "ca.crt") =>
        `${shown}: ${entry}, client trust of ${namers}, trusts ${ISRG}, a publicly trusted root (in Node's tls.rootCertificates): ` +
        `every client certificate a public CA under it issues, to anyone, is let in, with ${noSanCheck(namers)}; ${noSanFix(entry, namers)}`;
    /**
     * credential-trust's refusal of the hand-written mesh root in `shown`'s `entry`, client trust of `namers` checking no SAN:
     * without allowSharedRoot's way out, which would let in every workload's certificate the mesh CA signs.
     */
    const noSanMeshRefusal = (shown: string, namers: string, entry = "ca.crt") =>
        `${shown}: ${entry}, client trust of ${namers}, trusts CN=Hand mesh root, whose key is a mesh CA's or above one (root-cert.pem of istio-system/cacerts); ` +
        "every cluster's cacerts holds the key of a mesh CA under it, so any cluster could mint a certificate that the gateway accepts as any client's, " +
        `with ${noSanCheck(namers)}. G${noSanFix(entry, namers).slice(1)}`;

    /** What credential-trust says of a TLS credential's `entry` that no Gateway of the program reads as client trust, and its fix. */
    const unread = (entry: string) => ({
        why:
            `no Gateway in the program reads this ${entry} as client trust (a SIMPLE server ignores it), ` +
            "but a MUTUAL Gateway outside it may, and would take ",
        fix:
            `emove ${entry}, or, if a MUTUAL Gateway outside this program uses it, give there only the root(s) of a private CA ` +
            "that issues its clients' certificates (for APIC, its client root)",
    });
    /** credential-trust's refusal of ISRG Root X1 in `shown`'s `entry`, read as client trust by no Gateway of the program. */
    const unreadPublicRefusal = (shown: string, entry = "ca.crt") =>
        `${shown}: ${entry} trusts ${ISRG}, a publicly trusted root (in Node's tls.rootCertificates): ${unread(entry).why}` +
        `any client certificate a public CA under it issues, to anyone; r${unread(entry).fix}`;
    /** credential-trust's refusal of a mesh CA's `subject` (found `where`) in `shown`'s `entry`, read as client trust by no Gateway of the program. */
    const unreadMeshRefusal = (shown: string, subject: string, where: string, entry = "ca.crt") =>
        `${shown}: ${entry} trusts ${subject}, whose key is a mesh CA's or above one (${where}); ${unread(entry).why}` +
        `any certificate a cluster's cacerts, which holds the key of a mesh CA under it, could mint. R${unread(entry).fix}`;

    /**
     * credential-trust's refusal of ISRG Root X1 in `shown`'s `entry`, read as client trust by no Gateway of the program,
     * which DestinationRule(s) `rule` (`namers`: how the finding names them) name but which is no sidecar's credential
     * alone: `why` (what loses the exemption), and its `fix` (by default, the one for a served certificate's use).
     */
    const ruleLostRefusal = (
        shown: string,
        why: string,
        {
            rule = "istio-system/dummy",
            namers = `DestinationRule ${rule} names`,
            entry = "ca.crt",
            fix = why.endsWith("names it too")
                ? "give the DestinationRule a Secret of its own, which no Gateway names"
                : "give the sidecar a client certificate for clientAuth alone (neither serverAuth nor anyExtendedKeyUsage)",
        }: { rule?: string; namers?: string; entry?: string; fix?: string } = {},
    ) =>
        `${shown}: ${entry} trusts ${ISRG}, a publicly trusted root (in Node's tls.rootCertificates): ` +
        `${namers} it, but ${why}, so it is judged as a gateway's credential, not a sidecar's alone: ` +
        `${unread(entry).why}any client certificate a public CA under it issues, to anyone; ${fix}` +
        `; or, if a MUTUAL Gateway outside this program uses it, give there only the root(s) of a private CA that issues its clients' certificates (for APIC, its client root)`;
    /** credential-trust's `why` and `fix` for a Secret a DestinationRule names whose served certificate a preview does not know yet. */
    const notKnownLost = {
        why: "the certificate it serves is not known yet in this preview and may be a server's",
        fix:
            "make its certificate in this program a tls.LocallySignedCert (or tls.SelfSignedCert) whose allowedUses have " +
            "digital_signature and client_auth (neither server_auth nor any_extended), and its data and stringData " +
            "depend on no other resource than that certificate, its tls.PrivateKey and the CA certificates of its chain (isCaCertificate, none of those uses); " +
            "or make its Secret with UiApicClient, whose certificate is for clientAuth alone",
    };
    /** credential-trust's `why` and `fix` for a `<name>-cacert` Secret a DestinationRule names with no `<name>` in the program (`base` shown, `baseName` its name). */
    const twinAloneLost = (base: string, baseName: string) => ({
        why:
            `its name ends in -cacert and no Secret ${base} is in the program, ` +
            `so a Gateway outside it naming ${baseName} would read it as client trust`,
        fix: "name in the DestinationRule a Secret holding this CA whose name does not end in -cacert",
    });

    it("tls-secret-contents: refuses a hand-written gateway Secret's weak key, a CA or long-lived tls.crt without a TLS usage, keys outside tls.key", async () => {
        const weakKey = await tlsProvider.privateKey({ algorithm: "RSA", rsaBits: 1024 });
        const selfSigned = tlsProvider.selfSignedCert({
            privateKeyPem: weakKey.state.privateKeyPem,
            subject: { commonName: "payments.team.bank.example" },
            isCaCertificate: true,
            allowedUses: ["cert_signing", "digital_signature"],
            validityPeriodHours: 3650 * 24,
        });
        const entries = {
            "tls.key": weakKey.state.privateKeyPem as string,
            "tls.crt": selfSigned.state.certPem as string,
            "ca.crt": isrgRootX1(),
        };
        const leaf = "tls.crt's leaf (CN=payments.team.bank.example)";
        const refusals = [
            "istio-system/payments-tls: the key in tls.key is RSA 1024, too weak; use RSA 2048+ or ECDSA P256+",
            `istio-system/payments-tls: ${leaf} is a CA certificate (CA:TRUE): whoever reads tls.key could sign certificates that anyone trusting it accepts; ` +
                "give a leaf (CA:FALSE) issued by your CA",
            `istio-system/payments-tls: ${leaf} has no extended key usage, so it serves any purpose; ` +
                "give one issued with serverAuth (a gateway's server certificate) or clientAuth (a sidecar's client certificate)",
            `istio-system/payments-tls: ${leaf}: a leaf valid 3650 days exceeds the 398-day maximum; renew it for 398 days or less`,
        ];
        // Serving a certificate of any purpose, a server's too, with a public root in ca.crt: refused before it is made.
        const publicTrust =
            "istio-system/payments-tls: the certificate it serves (CN=payments.team.bank.example) has no extended key usage: " +
            `it serves any purpose, a server's too, and ca.crt trusts ${ISRG}, a publicly trusted root: ${PUBLIC_TRUST_SERVED("ca.crt")}`;
        refusals.push(publicTrust);
        for (const encoding of ["stringData", "data"] as const)
            assert.deepStrictEqual(
                await checkResource(
                    tlsSecretContentsPolicy,
                    handWrittenTlsSecret("payments-tls", entries, "kubernetes.io/tls", encoding),
                ),
                refusals,
                encoding,
            );
        // The maximum is leaf-max-validity's, set the same way.
        const longer = await checkResource(tlsSecretContentsPolicy, handWrittenTlsSecret("payments-tls", entries), {
            leafMaxDays: 3650,
        });
        assert.deepStrictEqual(longer, [...refusals.slice(0, 3), publicTrust]);
        // The stack's own gateway Secret passes, and its entries as a hand-written one would pass too.
        const gateway = named("ob-gateway-ob-tls");
        assert.deepStrictEqual(await checkResource(tlsSecretContentsPolicy, gateway), []);
        const written = JSON.parse(JSON.stringify(gateway.props.stringData), (_key, value) =>
            value?.[specialSigKey] === specialSecretSig ? value.value : value,
        ) as Record<string, string>;
        assert.deepStrictEqual(
            await checkResource(
                tlsSecretContentsPolicy,
                handWrittenTlsSecret("ob-tls", written, "kubernetes.io/tls", "data"),
            ),
            [],
        );
        // A key appended to ca.crt, a key in ca.crl, a spare copy in ca.key: named, never quoted.
        const leaked = await checkResource(
            tlsSecretContentsPolicy,
            handWrittenTlsSecret("ob-tls", {
                ...written,
                "ca.crt": `${written["ca.crt"]}${written["tls.key"]}`,
                "ca.crl": base64(pemDecode(TEST_ONLY_CA_KEY_PEM, "PRIVATE KEY")),
                "ca.key": written["tls.key"],
            }),
        );
        const keyLabel = pemBlocksInOrder(written["tls.key"])[0].label;
        const clear = "trust bundles and CRLs are public, shown by istioctl proxy-config secret and copied in clear";
        assert.deepStrictEqual(leaked, [
            `istio-system/ob-tls: ca.crt holds a private key (a "${keyLabel}" PEM block): ${clear}, so take the key out (and replace it if the text has been shared); give CA certificates only`,
            `istio-system/ob-tls: ca.crl holds a private key (its base64 without the BEGIN and END lines): ${clear}, so take the key out (and replace it if the text has been shared); give CRLs only`,
            "istio-system/ob-tls: a private key in ca.key, besides tls.key: Envoy reads its key from tls.key alone, " +
                "so the copy serves no one and goes wherever the Secret is read; take it out (and replace that key if the Secret has been shared)",
        ]);
        for (const message of leaked) assert.ok(!message.includes(written["tls.key"].split("\n")[1]), "never quoted");
    });

    it("tls-secret-contents: refuses a tls.key that is not the key of tls.crt's leaf, and a leaf expired or not valid yet, as Envoy and its peers do; a preview checks what it knows", async () => {
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000);
        const root = await mintRoot("Payments server root", { validityHours: 96, issuedAt: hours(-72) });
        const server = {
            commonName: "payments.team.bank.example",
            dnsNames: ["payments.team.bank.example"],
            allowedUses: ["digital_signature", "server_auth"],
        };
        const current = await mintLeaf(root, server);
        const other = await mintLeaf(root, server);
        const expired = await mintLeaf(root, server, hours(-48));
        const ahead = await mintLeaf(root, server, hours(2));
        const minutesAhead = await mintLeaf(root, server, new Date(Date.now() + 2 * 60_000));
        // The verdicts the rule foresees: OpenSSL will not load the pair (BoringSSL's check is the same), and
        // BoringSSL and OpenSSL refuse the expired and the future leaf.
        assert.throws(() => createSecureContext({ cert: current.cert, key: other.key }), /key values mismatch/);
        assert.deepStrictEqual(
            [current, expired, ahead].map(
                (leaf) => verifyPeer({ caCrt: root.certPem, chain: leaf.cert, purpose: "sslserver" }).accepted,
            ),
            [true, false, false],
        );
        const check = (entries: Record<string, string>) =>
            checkResource(tlsSecretContentsPolicy, handWrittenTlsSecret("payments-tls", entries));
        const leaf = "tls.crt's leaf (CN=payments.team.bank.example)";
        const dateOf = (pem: string, date: "validTo" | "validFrom") =>
            new Date(new crypto.X509Certificate(pem)[date]).toISOString();
        assert.deepStrictEqual(
            [
                await check({ "tls.crt": current.cert, "tls.key": other.key }),
                await check({ "tls.crt": expired.cert, "tls.key": expired.key }),
                await check({ "tls.crt": ahead.cert + root.certPem, "tls.key": ahead.key }),
            ],
            [
                [
                    `istio-system/payments-tls: tls.key is not the key of ${leaf}: Envoy's BoringSSL refuses the pair when it loads the Secret ` +
                        '("KEY_VALUES_MISMATCH"), so nothing is served with it; give the key of tls.crt\'s leaf, or the certificate of tls.key',
                ],
                [
                    `istio-system/payments-tls: ${leaf} expired on ${dateOf(expired.cert, "validTo")}: peers refuse it ("certificate has expired"); renew it`,
                ],
                [
                    `istio-system/payments-tls: ${leaf} is not valid before ${dateOf(ahead.cert, "validFrom")}: peers refuse it until then ` +
                        '("certificate is not yet valid"); give a current certificate, or wait until then (if it was issued today, the issuing machine\'s clock is ahead)',
                ],
            ],
        );
        // The pair itself, a leaf dated minutes ahead (a clock ahead), and in a preview a tls.key or tls.crt not known yet pass.
        assert.deepStrictEqual(
            [
                await check({ "tls.crt": current.cert, "tls.key": current.key }),
                await check({ "tls.crt": minutesAhead.cert, "tls.key": minutesAhead.key }),
                await check({ "tls.crt": current.cert, "tls.key": UNKNOWN }),
                await check({ "tls.crt": UNKNOWN, "tls.key": other.key }),
            ],
            [[], [], [], []],
        );
    });

    it("tls-secret-contents: judges a SecretPatch that leaves out type (the Secret keeps its own) and writes tls.crt and tls.key as a kubernetes.io/tls Secret", async () => {
        const root = await mintRoot("Payments patch root");
        const leaf = await mintLeaf(root, {
            commonName: "payments.team.bank.example",
            allowedUses: ["digital_signature", "server_auth"],
        });
        const weakKey = (await tlsProvider.privateKey({ algorithm: "RSA", rsaBits: 1024 })).state
            .privateKeyPem as string;
        // A server-side-apply patch of a Secret outside keySecretNamespaces: only its TLS entries make it a credential.
        const patch = (props: Record<string, unknown>) =>
            checkResource(tlsSecretContentsPolicy, {
                type: "kubernetes:core/v1:SecretPatch",
                name: "payments-tls-patch",
                props: { metadata: { name: "payments-tls", namespace: "payments" }, ...props },
            });
        const weak = "payments/payments-tls: the key in tls.key is RSA 1024, too weak; use RSA 2048+ or ECDSA P256+";
        assert.deepStrictEqual(
            [
                await patch({ stringData: asSecret({ "tls.crt": leaf.cert, "tls.key": weakKey }) }),
                // tls.key alone: no TLS Secret by this rule (private-key-secrets refuses it outside keySecretNamespaces, below).
                await patch({ data: asSecret({ "tls.key": base64(weakKey) }) }),
                // A preview that does not know tls.crt yet: the known tls.key is judged.
                await patch({ stringData: asSecret({ "tls.crt": UNKNOWN, "tls.key": weakKey }) }),
                // A patch that sets another type, or writes no TLS entry, is no TLS credential.
                await patch({ type: "Opaque", stringData: asSecret({ "tls.key": weakKey }) }),
                await patch({ stringData: asSecret({ "app.key": weakKey }) }),
            ],
            [
                [
                    weak,
                    "payments/payments-tls: tls.key is not the key of tls.crt's leaf (CN=payments.team.bank.example): Envoy's BoringSSL refuses the pair " +
                        'when it loads the Secret ("KEY_VALUES_MISMATCH"), so nothing is served with it; give the key of tls.crt\'s leaf, or the certificate of tls.key',
                ],
                [],
                [weak],
                [],
                [],
            ],
        );
    });

    it("tls-secret-contents: a type-less SecretPatch that writes tls.crt alone (a CA bundle into an Opaque Secret) is no TLS Secret; with tls.key it is", async () => {
        const root = await mintRoot("Payments bundle root");
        const patch = (stringData: Record<string, string>) => ({
            type: "kubernetes:core/v1:SecretPatch",
            name: "payments-bundle-patch",
            props: { metadata: { name: "payments-bundle", namespace: "payments" }, stringData: asSecret(stringData) },
        });
        assert.deepStrictEqual(
            [
                await checkResource(tlsSecretContentsPolicy, patch({ "tls.crt": root.certPem })),
                await checkResource(
                    tlsSecretContentsPolicy,
                    patch({ "tls.crt": root.certPem, "tls.key": root.keyPem }),
                ),
                // A tls.key alone outside keySecretNamespaces is still refused, by private-key-secrets.
                await checkResource(keySecretPolicy, patch({ "tls.key": root.keyPem })),
            ],
            [
                [],
                [
                    "payments/payments-bundle: tls.crt's leaf (CN=Payments bundle root) is a CA certificate (CA:TRUE): whoever reads tls.key could sign " +
                        "certificates that anyone trusting it accepts; give a leaf (CA:FALSE) issued by your CA",
                    "payments/payments-bundle: tls.crt's leaf (CN=Payments bundle root) has no extended key usage, so it serves any purpose; " +
                        "give one issued with serverAuth (a gateway's server certificate) or clientAuth (a sidecar's client certificate)",
                ],
                [
                    "payments-bundle: a private key (tls.key) in namespace payments; keys belong only in istio-system (the pack's keySecretNamespaces). " +
                        "Move it there, or, if a gateway or sidecar must read it in payments (a stack's pki:gatewayNamespace, " +
                        "pki:frontEnd.customerFacingGateway.namespace or front-end UI namespace, or such a namespace of your program's), add payments to keySecretNamespaces",
                ],
            ],
        );
    });

    it("tls-secret-contents: refuses a CA in ca.crt that is no root beside ca.crl, as IstioGatewayTls does (envoy#29197: every client refused)", async () => {
        const { root, issuing, crls } = await paymentsClientCas();
        const check = (caCrt: string, name = "payments-cacert", type = "Opaque") =>
            checkResource(
                tlsSecretContentsPolicy,
                handWrittenTlsSecret(name, { "ca.crt": caCrt, "ca.crl": crls }, type),
            );
        const refusal = (secret: string) =>
            `istio-system/${secret}: ca.crt holds CN=Payments client CA, which is not a self-signed root, and ca.crl is set: ` +
            "Envoy makes every certificate of ca.crt a trust anchor, stops the chain there and then finds no CRL for it, " +
            "so every peer would be refused (envoyproxy/envoy#29197). Give only the root(s) in ca.crt; peers send their issuing CA";
        assert.deepStrictEqual(await check(root.certPem + issuing.certPem), [refusal("payments-cacert")]);
        assert.deepStrictEqual(await check(root.certPem), []);
        // The component refuses it with the same words (one function: rootsWithCrlProblem).
        await assert.rejects(
            runWithStandIn(() => {
                new IstioGatewayTls("payments-gateway", {
                    serverCa: { certPem: root.certPem, privateKeyPem: root.keyPem, chainPem: root.certPem },
                    clientTrustBundlePem: root.certPem + issuing.certPem,
                    clientCrlPem: crls,
                    endpoints: [
                        { id: "payments", host: "payments.team.bank.example", clientSubjectAltNames: ["urn:a"] },
                    ],
                });
                return {};
            }),
            /clientTrustBundlePem holds CN=Payments client CA, which is not a self-signed root, and clientCrlPem is set/,
        );
    });

    it("credential-trust: refuses in a gateway Secret's ca.crt a mesh root (a MeshPluginCa's, a hand-written cacerts') and a publicly trusted root", async () => {
        // APIC's client root, the mesh root and ISRG Root X1 as the gateway's client trust: every key under the mesh root
        // (each cluster's cacerts holds one) mints a client certificate with APIC's identity that Envoy takes.
        const run = await runWithStandIn(
            () => {
                const [meshRoot, serverRoot, clientRoot] = [teamRoot("mesh"), teamRoot("server"), teamRoot("client")];
                const mesh = new MeshPluginCa("team-mesh-ca", {
                    rootCa: meshRoot,
                    cluster: "east",
                    keyAlgorithm: "ECDSA",
                });
                const serverCa = new IntermediateCa("team-server-ca", {
                    rootCa: serverRoot,
                    subject: { commonName: "Team server CA" },
                    keyAlgorithm: "ECDSA",
                });
                paymentsGateway(
                    serverCa,
                    pulumi
                        .all([clientRoot.certPem, meshRoot.certPem])
                        .apply(([client, meshPem]) => client + meshPem + isrgRootX1()),
                );
                return { meshCaCert: mesh.certPem, meshCaKey: mesh.privateKeyPem };
            },
            { state: sharedStateWithSuiteKeys() },
        );
        // What pulumi up sends a stack policy: each resource's outputs (the roots' certificates among them).
        const resources = fromEngine(run.engine.resources).map((r) => ({ ...r, props: { ...r.props, ...r.state } }));
        const secret = resources.find((r) => r.name === "payments-gateway-payments-tls") as Resource;
        const written = JSON.parse(JSON.stringify(secret.props.stringData), (_key, value) =>
            value?.[specialSigKey] === specialSecretSig ? value.value : value,
        ) as Record<string, string>;
        assert.deepStrictEqual(
            pemBlocks(written["ca.crt"], "CERTIFICATE").map((pem) => subjectOf(new crypto.X509Certificate(pem))),
            ["CN=Team client root", "CN=Team mesh root", ISRG],
        );
        // Envoy's verdict: a client certificate the mesh CA's key signs, with APIC's URI SAN, gets in.
        const { meshCaCert, meshCaKey } = run.outputs as unknown as Record<string, string>;
        const clientKey = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const forged = tlsProvider.locallySignedCert({
            certRequestPem: tlsProvider.certRequest({
                privateKeyPem: clientKey.state.privateKeyPem,
                subject: { commonName: "forged" },
                uris: ["urn:example:apic-client:payments"],
            }).state.certRequestPem,
            caCertPem: meshCaCert,
            caPrivateKeyPem: meshCaKey,
            allowedUses: ["digital_signature", "client_auth"],
            validityPeriodHours: 24,
        });
        const verdict = verifyPeer({
            caCrt: written["ca.crt"],
            chain: (forged.state.certPem as string) + meshCaCert,
            purpose: "sslclient",
            subjectAltNames: ["urn:example:apic-client:payments"],
        });
        assert.deepStrictEqual(
            [verdict.accepted, verdict.boringssl.chain],
            [true, ["forged", "mesh CA east", "Team mesh root"]],
        );
        const shown = "istio-system/apic-mtls-payments";
        // The Gateway and its field named; the fix names IstioGatewayTls' input, as IstioGatewayTls made the Secret.
        const trusts = `${shown}: ca.crt, client trust of Gateway istio-system/payments-gateway's credentialName (MUTUAL), trusts`;
        const fix =
            "give in ca.crt only the root(s) of the CA that issues the peers' certificates (IstioGatewayTls' clientTrustBundlePem: APIC's client root)";
        const meshRefusal = (where: string) =>
            `${trusts} CN=Team mesh root, whose key is a mesh CA's or above one (${where}); ` +
            "every cluster's cacerts holds the key of a mesh CA under it, so any cluster could mint a certificate with the identity " +
            `the gateway accepts (APIC's URI SAN). G${fix.slice(1)}, or accept the weaker guarantee with allowSharedRoot: true`;
        const publicRefusal = (fixed = fix) =>
            `${trusts} ${ISRG}, a publicly trusted root (in Node's tls.rootCertificates): ` +
            `a public CA under it could issue, to anyone, a client certificate Envoy accepts, which only the SAN check would then keep out; ${fixed}`;
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, resources), [
            meshRefusal("team-mesh-root-cert, above MeshPluginCa team-mesh-ca-cert"),
            publicRefusal(),
        ]);
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, resources, { allowSharedRoot: true }), [
            publicRefusal(),
        ]);
        // The same Secret written by hand (no IstioGatewayTls made it): the fix names no input of IstioGatewayTls'.
        const byHand = resources.map((r) => (r === secret ? { ...r, parentType: undefined } : r));
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, byHand, { allowSharedRoot: true }), [
            publicRefusal(
                "give in ca.crt only the root(s) of the CA that issues the peers' certificates (for APIC, its client root)",
            ),
        ]);
        // A hand-written cacerts and a generic <name>-cacert Secret, no component: known by root-cert.pem.
        const { root, meshCa, cacerts } = await handWrittenMesh();
        const cacert = handWrittenTlsSecret(
            "apic-mtls-payments-cacert",
            { "ca.crt": root.certPem + meshCa.certPem },
            "Opaque",
        );
        // Named by no Gateway of the program: a MUTUAL one outside it may read it.
        const handRefusal = (subject: string, where: string) =>
            unreadMeshRefusal("istio-system/apic-mtls-payments-cacert", subject, where);
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [cacerts, cacert]), [
            handRefusal("CN=Hand mesh root", "root-cert.pem of istio-system/cacerts"),
            handRefusal("CN=Hand mesh CA", "ca-cert.pem of istio-system/cacerts"),
        ]);
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [cacert]), []);
        // The same mesh in a cacerts istiod reads as a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt).
        const tlsLayout = handWrittenTlsSecret("cacerts", {
            "tls.crt": meshCa.certPem,
            "tls.key": meshCa.keyPem,
            "ca.crt": root.certPem,
        });
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [tlsLayout, cacert]), [
            handRefusal("CN=Hand mesh root", "ca.crt of istio-system/cacerts"),
            handRefusal("CN=Hand mesh CA", "tls.crt of istio-system/cacerts"),
        ]);
        // Named cacerts by its resource name alone, Kubernetes names it cacerts-<random>, which istiod never reads:
        // its certificates are no mesh CA's, and it is judged as any credential.
        const unnamed = (r: Resource, props: Record<string, unknown> = {}): Resource => ({
            ...r,
            props: { ...r.props, ...props, metadata: { namespace: "istio-system" } },
        });
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [unnamed(cacerts), cacert]), []);
        assert.deepStrictEqual(
            await checkStack(credentialTrustPolicy, [
                unnamed(tlsLayout, {
                    stringData: asSecret({
                        "tls.crt": meshCa.certPem,
                        "tls.key": meshCa.keyPem,
                        "ca.crt": isrgRootX1(),
                    }),
                }),
            ]),
            [unreadPublicRefusal("istio-system/cacerts")],
        );
    });

    it("credential-trust: checks every trust entry Istio may read (cacert before ca.crt), every block BoringSSL reads as a certificate, and names an unreadable block", async () => {
        const { root, meshCa, cacerts } = await handWrittenMesh();
        const clientRoot = await mintRoot("Payments client root");
        const secret = (entries: Record<string, string>) => handWrittenTlsSecret("payments-tls", entries);
        const shown = "istio-system/payments-tls";
        // Named by no Gateway of the program: a MUTUAL one outside it may read it.
        const meshRefusal = (entry: string) =>
            unreadMeshRefusal(shown, "CN=Hand mesh root", "root-cert.pem of istio-system/cacerts", entry);
        const publicRefusal = (entry: string) => unreadPublicRefusal(shown, entry);
        // Istio reads cacert before ca.crt (pilot/pkg/credentials/kube ExtractRoot): an unrelated ca.crt beside it hid it.
        assert.deepStrictEqual(
            await checkStack(credentialTrustPolicy, [
                cacerts,
                secret({ "ca.crt": clientRoot.certPem, cacert: root.certPem }),
            ]),
            [meshRefusal("cacert")],
        );
        assert.deepStrictEqual(
            await checkStack(credentialTrustPolicy, [secret({ "ca.crt": clientRoot.certPem, cacert: isrgRootX1() })]),
            [publicRefusal("cacert")],
        );
        // The mesh root as "X509 CERTIFICATE", ISRG Root X1 as OpenSSL's "TRUSTED CERTIFICATE" (with its trust settings).
        const relabelled = root.certPem.replace(/ CERTIFICATE-----/g, " X509 CERTIFICATE-----");
        const trustSettings = Buffer.from("300c300a06082b06010505070301", "hex");
        const trusted = pemEncode(
            Buffer.concat([pemDecode(isrgRootX1(), "CERTIFICATE"), trustSettings]),
            "TRUSTED CERTIFICATE",
        );
        const caCrt = clientRoot.certPem + relabelled + trusted;
        // Envoy's verdict: BoringSSL takes the relabelled mesh root as an anchor, so a client the mesh CA's key signs gets in.
        const { chain: forgedChain, envoy: verdict } = await forgedByMeshCa(
            meshCa,
            "urn:example:apic-client:payments",
            caCrt,
            ["urn:example:apic-client:payments"],
        );
        assert.deepStrictEqual(
            [verdict.boringssl.ok, verdict.boringssl.chain],
            [true, ["forged", "Hand mesh CA", "Hand mesh root"]],
        );
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [cacerts, secret({ "ca.crt": caCrt })]), [
            meshRefusal("ca.crt"),
            publicRefusal("ca.crt"),
        ]);
        // tls-secret-contents refuses those labels outright, as IstioGatewayTls' clientTrustBundlePem does.
        const relabelledRefusal = (label: string, at: number) =>
            `${shown}: ca.crt holds a "${label}" PEM block (its block ${at}), which Envoy's BoringSSL reads as a certificate to trust ` +
            'while Go and IstioGatewayTls read "CERTIFICATE" blocks alone; give each CA certificate as a "CERTIFICATE" block';
        assert.deepStrictEqual(await checkResource(tlsSecretContentsPolicy, secret({ "ca.crt": caCrt })), [
            relabelledRefusal("X509 CERTIFICATE", 2),
            relabelledRefusal("TRUSTED CERTIFICATE", 3),
        ]);
        // A block that is no certificate: named by its place (Envoy refuses the whole ca.crt), the others still checked.
        const damaged = pemEncode(Buffer.from("no certificate at all"), "CERTIFICATE") + root.certPem;
        // BoringSSL's PEM_X509_INFO_read_bio, Envoy's reader of ca.crt, reads none of it.
        assert.throws(
            () => verifyPeer({ caCrt: damaged, chain: forgedChain, purpose: "sslclient" }),
            /the boringssl verifier failed \(status 2\): envoyVerifier: unreadable PEM/,
        );
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, [cacerts, secret({ "ca.crt": damaged })]), [
            `${shown}: ca.crt: its block 1 ("CERTIFICATE") cannot be read: it is no certificate (damaged). Envoy refuses the whole ca.crt, ` +
                "and the roots it trusts cannot be checked; give the CA certificates in PEM, each block whole",
            meshRefusal("ca.crt"),
        ]);
    });

    it("credential-trust: a public root in a Secret serving a client certificate passes only when a DestinationRule names it and no Gateway does, and the certificate it serves (merged with its patches, or its <name>'s for a -cacert twin) is for clientAuth alone, however Istio's names are written", async () => {
        const issuer = await mintRoot("Team credential root");
        const server = await mintLeaf(issuer, {
            commonName: "payments.team.bank.example",
            allowedUses: ["server_auth", "digital_signature"],
        });
        const client = await mintLeaf(issuer, {
            commonName: "ui-client",
            allowedUses: ["client_auth", "digital_signature"],
        });
        const anyUse = await mintLeaf(issuer, {
            commonName: "any-use",
            allowedUses: ["client_auth", "any_extended", "digital_signature"],
        });
        const secret = (leaf: { cert: string; key: string }) =>
            handWrittenTlsSecret("apic-mtls-payments", {
                "tls.crt": leaf.cert,
                "tls.key": leaf.key,
                "ca.crt": isrgRootX1(),
            });
        const istio = (
            kind: "Gateway" | "DestinationRule",
            name: string,
            namespace: string,
            tls: Record<string, unknown>,
        ): Resource => ({
            type: `kubernetes:networking.istio.io/v1:${kind}`,
            name,
            props: {
                metadata: { name, namespace },
                spec:
                    kind === "Gateway"
                        ? { servers: [{ port: { number: 443 }, tls: { mode: "MUTUAL", ...tls } }] }
                        : { trafficPolicy: { tls: { mode: "MUTUAL", ...tls } } },
            },
        });
        const dummyRule = istio("DestinationRule", "dummy", "istio-system", { credentialName: "apic-mtls-payments" });
        const shown = "istio-system/apic-mtls-payments";
        // Named by no Gateway of the program (a DestinationRule alone is no way out): a MUTUAL one outside it may read it.
        const refused = [unreadPublicRefusal(shown)];
        // Named by a DestinationRule, but serving a certificate a gateway could serve: the rule and the reason named.
        const serverServed = "the certificate it serves (CN=payments.team.bank.example) is for serverAuth";
        const ruleRefused = [ruleLostRefusal(shown, serverServed)];
        assert.strictEqual(
            ruleRefused[0],
            `${shown}: ca.crt trusts ${ISRG}, a publicly trusted root (in Node's tls.rootCertificates): ` +
                `DestinationRule istio-system/dummy names it, but ${serverServed}, so it is judged as a gateway's credential, not a sidecar's alone: ` +
                "no Gateway in the program reads this ca.crt as client trust (a SIMPLE server ignores it), but a MUTUAL Gateway outside it may, " +
                "and would take any client certificate a public CA under it issues, to anyone; give the sidecar a client certificate for clientAuth alone " +
                "(neither serverAuth nor anyExtendedKeyUsage); or, if a MUTUAL Gateway outside this program uses it, give there only the root(s) " +
                "of a private CA that issues its clients' certificates (for APIC, its client root)",
        );
        const verdict = (...resources: Resource[]) => checkStack(credentialTrustPolicy, resources);
        assert.deepStrictEqual(
            [
                // A gateway's Secret (a server certificate), with a DestinationRule naming it as well: no way out of the check,
                await verdict(secret(server), dummyRule),
                // nor with its Gateway object in the app's namespace (Istio reads the Secret from the gateway workload's),
                await verdict(
                    secret(server),
                    dummyRule,
                    istio("Gateway", "payments-gw", "payments", { credentialName: "apic-mtls-payments" }),
                ),
                // nor named as kubernetes://, or in credentialNames,
                await verdict(
                    secret(client),
                    dummyRule,
                    istio("Gateway", "payments-gw", "istio-system", {
                        credentialName: "kubernetes://apic-mtls-payments",
                    }),
                ),
                await verdict(
                    secret(client),
                    dummyRule,
                    istio("Gateway", "payments-gw", "istio-system", { credentialNames: ["apic-mtls-payments"] }),
                ),
                // A sidecar's client credential a DestinationRule names, as UiApicClient writes one, in any namespace or form of the name.
                await verdict(secret(client), dummyRule),
                await verdict(
                    secret(client),
                    istio("DestinationRule", "apic", "ob-ui", {
                        credentialName: "kubernetes://istio-system/apic-mtls-payments",
                    }),
                ),
                // A client credential no DestinationRule names is a gateway's to the pack.
                await verdict(secret(client)),
                // Istio serves cert and key before tls.crt and tls.key: a server certificate there is a gateway's,
                await verdict(
                    handWrittenTlsSecret("apic-mtls-payments", {
                        cert: server.cert,
                        key: server.key,
                        "tls.crt": client.cert,
                        "tls.key": client.key,
                        "ca.crt": isrgRootX1(),
                    }),
                    dummyRule,
                ),
                // and so is a leaf for anyExtendedKeyUsage beside clientAuth (Go and Java serve it).
                await verdict(secret(anyUse), dummyRule),
            ],
            [
                ruleRefused,
                // A Gateway without subjectAltNames checks no SAN: named, with its field.
                [noSanPublicRefusal(shown, "Gateway payments/payments-gw's credentialName (MUTUAL)")],
                [noSanPublicRefusal(shown, "Gateway istio-system/payments-gw's credentialName (MUTUAL)")],
                [noSanPublicRefusal(shown, "Gateway istio-system/payments-gw's credentialNames (MUTUAL)")],
                [],
                [],
                refused,
                ruleRefused,
                [
                    ruleLostRefusal(
                        shown,
                        "the certificate it serves (CN=any-use) is for anyExtendedKeyUsage, which Go and Java take for a server's",
                    ),
                ],
            ],
        );
        // A <name>-cacert Secret a DestinationRule names, serving a client certificate alone, with no <name> beside it in the
        // program: a MUTUAL Gateway outside it naming <name> would read it as client trust (Istio's -cacert fallback).
        const cacertSecret = handWrittenTlsSecret("apic-mtls-payments-cacert", {
            "tls.crt": client.cert,
            "tls.key": client.key,
            "ca.crt": isrgRootX1(),
        });
        const cacertRule = istio("DestinationRule", "dummy", "istio-system", {
            credentialName: "apic-mtls-payments-cacert",
        });
        const noBase = twinAloneLost("istio-system/apic-mtls-payments", "apic-mtls-payments");
        assert.deepStrictEqual(await verdict(cacertSecret, cacertRule), [
            ruleLostRefusal("istio-system/apic-mtls-payments-cacert", noBase.why, { fix: noBase.fix }),
        ]);
        // The <name>-cacert twin of a client credential a DestinationRule names holds the CA the sidecar
        // verifies the server with (Istio looks there first): a public root passes there too.
        const clientOnly = handWrittenTlsSecret("ui-client", { "tls.crt": client.cert, "tls.key": client.key });
        const twin = handWrittenTlsSecret("ui-client-cacert", { cacert: isrgRootX1() }, "Opaque");
        const uiRule = istio("DestinationRule", "apic", "istio-system", { credentialName: "ui-client" });
        // Istio serves cert and key only when both are set and not empty.
        const emptyCert = handWrittenTlsSecret("ui-client", {
            cert: "",
            key: "",
            "tls.crt": client.cert,
            "tls.key": client.key,
            "ca.crt": isrgRootX1(),
        });
        // A Gateway's caCertCredentialName (Istio 1.28+) names its client trust.
        const gatewayTrust = istio("Gateway", "ui-gw", "istio-system", {
            credentialName: "gw-server",
            caCertCredentialName: "ui-client",
        });
        // A twin that serves a server certificate itself could be a gateway's credential: refused.
        const servingTwin = handWrittenTlsSecret("ui-client-cacert", {
            "tls.crt": server.cert,
            "tls.key": server.key,
            cacert: isrgRootX1(),
        });
        const patchOf = (entries: Record<string, string>, name: string): Resource => ({
            type: "kubernetes:core/v1:SecretPatch",
            name,
            props: {
                metadata: { name: "apic-mtls-payments", namespace: "istio-system" },
                stringData: asSecret(entries),
            },
        });
        const renewal = patchOf({ "tls.crt": server.cert, "tls.key": server.key }, "renewal");
        const bothServed = handWrittenTlsSecret("apic-mtls-payments", {
            "tls.crt": server.cert,
            "tls.key": server.key,
            cert: client.cert,
            key: client.key,
            "ca.crt": isrgRootX1(),
        });
        const clearsCert = patchOf({ cert: "", key: "" }, "clears");
        const serving = patchOf({ cert: server.cert, key: server.key }, "serving");
        const sameSecretClean = {
            ...secret(server),
            name: "duplicate",
            props: {
                ...secret(server).props,
                stringData: asSecret({ "tls.crt": server.cert, "tls.key": server.key, "ca.crt": issuer.certPem }),
            },
        };
        // Two Secrets of one name in two namespaces are two Secrets: a clean one elsewhere hides nothing.
        const elsewhere = {
            ...secret(server),
            props: {
                ...secret(server).props,
                metadata: { name: "apic-mtls-payments", namespace: "payments" },
                stringData: asSecret({ "tls.crt": server.cert, "tls.key": server.key, "ca.crt": issuer.certPem }),
            },
        };
        assert.deepStrictEqual(
            [
                await verdict(clientOnly, twin, uiRule),
                await verdict(emptyCert, uiRule),
                await verdict(emptyCert, uiRule, gatewayTrust),
                await verdict(clientOnly, servingTwin, uiRule),
                await verdict(secret(server), elsewhere),
                // A patch of the Secret (a certificate renewed), registered after it or before it, hides nothing,
                await verdict(secret(server), renewal),
                await verdict(renewal, secret(server)),
                // nor does a clean duplicate (unique-kubernetes-objects refuses it too).
                await verdict(secret(server), sameSecretClean),
                // A client credential a patch gives a server certificate is a gateway's, however they are ordered.
                await verdict(secret(client), serving, dummyRule),
                await verdict(serving, secret(client), dummyRule),
                // A patch that empties cert and key leaves Istio serving tls.crt: judged merged, a server's.
                await verdict(bothServed, clearsCert, dummyRule),
                // A duplicate holding the same root is one finding, not two.
                await verdict(secret(server), { ...secret(server), name: "twice" }),
                // A patch applies to its Secret whatever order they are registered in.
                await verdict(renewal, secret(client), dummyRule),
                // Of two patches, which applies last is not certain: one giving a server certificate is enough.
                await verdict(
                    secret(client),
                    renewal,
                    patchOf({ "tls.crt": client.cert, "tls.key": client.key }, "back"),
                    dummyRule,
                ),
            ],
            [
                [],
                [],
                [noSanPublicRefusal("istio-system/ui-client", "Gateway istio-system/ui-gw's caCertCredentialName")],
                [
                    ruleLostRefusal("istio-system/ui-client-cacert", serverServed, {
                        rule: "istio-system/apic",
                        entry: "cacert",
                    }),
                ],
                refused,
                refused,
                refused,
                refused,
                ruleRefused,
                ruleRefused,
                ruleRefused,
                refused,
                ruleRefused,
                ruleRefused,
            ],
        );
        // The same Secret in two clusters (providers) is two findings.
        const inCluster = (cluster: string): Resource => ({
            ...secret(server),
            name: `payments-${cluster}`,
            provider: { type: "pulumi:providers:kubernetes", name: cluster, props: {} },
        });
        assert.deepStrictEqual(await verdict(inCluster("east"), inCluster("west")), [...refused, ...refused]);
        // A patch without a type adding a public root to a kubernetes.io/tls Secret outside keySecretNamespaces.
        const appSecret = (type: string, entries: Record<string, string>, kind = "Secret"): Resource => ({
            type: `kubernetes:core/v1:${kind}`,
            name: `payments-${kind}`,
            props: {
                metadata: { name: "s", namespace: "payments-gw" },
                ...(type ? { type } : {}),
                stringData: asSecret(entries),
            },
        });
        assert.deepStrictEqual(
            await verdict(
                appSecret("kubernetes.io/tls", { "tls.crt": server.cert, "tls.key": server.key }),
                appSecret("", { "ca.crt": isrgRootX1() }, "SecretPatch"),
            ),
            [refused[0].replace("istio-system/apic-mtls-payments:", "payments-gw/s:")],
        );
    });

    it("credential-trust: lets a public root pass in a CA a DestinationRule names for egress TLS origination (a Secret serving nothing, or its -cacert twin beside it), and names the rules when it cannot", async () => {
        // Istio's egress TLS origination to a partner API with a public certificate: a Secret holding its CA alone.
        const partnerCa = handWrittenTlsSecret("partner-ca", { "ca.crt": isrgRootX1() }, "Opaque");
        const rule = (credentialName: string): Resource => ({
            type: "kubernetes:networking.istio.io/v1:DestinationRule",
            name: "partner-api",
            props: {
                metadata: { name: "partner-api", namespace: "istio-system" },
                spec: {
                    host: "api.partner.example",
                    trafficPolicy: { tls: { mode: "SIMPLE", credentialName, sni: "api.partner.example" } },
                },
            },
        });
        const simpleGateway = (name: string) =>
            istioGatewayWith({ mode: "SIMPLE", credentialName: "partner-ca" }, name);
        // The <name>-cacert twin (Istio reads the CA there first), beside a <name> serving nothing, or with no <name>.
        const twin = handWrittenTlsSecret("partner-cacert", { cacert: isrgRootX1() }, "Opaque");
        const servingNothing = handWrittenTlsSecret("partner", { note: "egress to api.partner.example" }, "Opaque");
        // A partner-issued client certificate for serverAuth and clientAuth, as many are: a gateway could serve it.
        const issuer = await mintRoot("Partner client root");
        const bothUses = await mintLeaf(issuer, {
            commonName: "bank-client",
            allowedUses: ["server_auth", "client_auth", "digital_signature"],
        });
        const withClient = handWrittenTlsSecret(
            "partner-ca",
            { "tls.crt": bothUses.cert, "tls.key": bothUses.key, "ca.crt": isrgRootX1() },
            "Opaque",
        );
        // A preview: a served certificate not known yet (an output of a resource not yet made) is not absent.
        const previewed = handWrittenTlsSecret("s1", {
            "tls.crt": UNKNOWN,
            "tls.key": UNKNOWN,
            "ca.crt": isrgRootX1(),
        });
        const wholeMapUnknown: Resource = {
            ...partnerCa,
            props: { ...partnerCa.props, data: { "ca.crt": base64(isrgRootX1()) }, stringData: UNKNOWN },
        };
        // Two DestinationRules naming it.
        const second = rule("partner-ca");
        const secondRule = {
            ...second,
            name: "partner-api-2",
            props: { ...second.props, metadata: { name: "partner-api-2", namespace: "istio-system" } },
        };
        const verdict = (...resources: Resource[]) => checkStack(credentialTrustPolicy, resources);
        const rulePartner = { rule: "istio-system/partner-api" };
        const notKnown = { ...rulePartner, fix: notKnownLost.fix };
        const noBase = twinAloneLost("istio-system/partner", "partner");
        const twinAlone = [
            ruleLostRefusal("istio-system/partner-cacert", noBase.why, {
                ...rulePartner,
                entry: "cacert",
                fix: noBase.fix,
            }),
        ];
        assert.deepStrictEqual(
            [
                await verdict(partnerCa, rule("partner-ca")),
                await verdict(twin, servingNothing, rule("partner")),
                // A twin with no <name> in the program: a MUTUAL Gateway outside it naming <name> reads the twin's CA.
                await verdict(twin, rule("partner")),
                await verdict(twin, rule("partner-cacert")),
                // In a preview, a served certificate not known yet may be a server's,
                await verdict(previewed, rule("s1")),
                await verdict(wholeMapUnknown, rule("partner-ca")),
                // unless UiApicClient made the Secret: its certificate is for clientAuth alone.
                await verdict({ ...previewed, parentType: "apic-istio-pki:index:UiApicClient" }, rule("s1")),
                // Two rules naming it are both named.
                await verdict(withClient, rule("partner-ca"), secondRule),
                // Named by no DestinationRule: a MUTUAL Gateway outside the program may read it.
                await verdict(partnerCa),
                // The rule named, and what loses the exemption: the served certificate's serverAuth,
                await verdict(withClient, rule("partner-ca")),
                // or a Gateway naming it too, as its server credential (a Gateway named payments: its possessive).
                await verdict(partnerCa, rule("partner-ca"), simpleGateway("payments")),
            ],
            [
                [],
                [],
                twinAlone,
                twinAlone,
                [ruleLostRefusal("istio-system/s1", notKnownLost.why, notKnown)],
                [ruleLostRefusal("istio-system/partner-ca", notKnownLost.why, notKnown)],
                [],
                [
                    ruleLostRefusal(
                        "istio-system/partner-ca",
                        "the certificate it serves (CN=bank-client) is for serverAuth",
                        {
                            namers: "DestinationRules istio-system/partner-api, istio-system/partner-api-2 name",
                        },
                    ),
                ],
                [unreadPublicRefusal("istio-system/partner-ca")],
                [
                    ruleLostRefusal(
                        "istio-system/partner-ca",
                        "the certificate it serves (CN=bank-client) is for serverAuth",
                        rulePartner,
                    ),
                ],
                [
                    ruleLostRefusal(
                        "istio-system/partner-ca",
                        "Gateway istio-system/payments' credentialName names it too",
                        rulePartner,
                    ),
                ],
            ],
        );
        // In a preview, cert known and key given but not known yet: Istio serves cert when both are set, so cert is
        // judged, even for a Secret UiApicClient made (its served certificate not known yet would pass).
        const knownCert = (cert: string): Resource => ({
            ...handWrittenTlsSecret("s1", { cert, key: UNKNOWN, "ca.crt": isrgRootX1() }),
            parentType: "apic-istio-pki:index:UiApicClient",
        });
        const client = await mintLeaf(issuer, {
            commonName: "ui-client",
            allowedUses: ["digital_signature", "client_auth"],
        });
        const servesBothUses = "the certificate it serves (CN=bank-client) is for serverAuth";
        assert.deepStrictEqual(
            [
                await verdict(knownCert(bothUses.cert), rule("s1")),
                await verdict(knownCert(client.cert), rule("s1")),
                await checkResource(tlsSecretContentsPolicy, knownCert(bothUses.cert)),
            ],
            [
                [ruleLostRefusal("istio-system/s1", servesBothUses, rulePartner)],
                [],
                [
                    `istio-system/s1: ${servesBothUses}, and ca.crt trusts ${ISRG}, a publicly trusted root: ${PUBLIC_TRUST_SERVED("ca.crt")}`,
                ],
            ],
        );
    });

    it("credential-trust: in a preview, lets a DestinationRule's Secret with a public root pass when its served certificate comes from a tls.LocallySignedCert of the program for clientAuth alone, and its chain's CAs", async () => {
        // The first deploy (or a renewal) of a sidecar's client certificate made in the program: its certPem and the
        // key's PEM are not known yet, but the certificate's allowedUses are. ca.crt: the partner's public root.
        const rule: Resource = {
            type: "kubernetes:networking.istio.io/v1:DestinationRule",
            name: "partner-api",
            props: {
                metadata: { name: "partner-api", namespace: "istio-system" },
                spec: {
                    host: "api.partner.example",
                    trafficPolicy: { tls: { mode: "MUTUAL", credentialName: "s1", sni: "api.partner.example" } },
                },
            },
        };
        const key: Resource = {
            type: "tls:index/privateKey:PrivateKey",
            name: "s1-key",
            props: { algorithm: "ECDSA" },
        };
        const csr: Resource = {
            type: "tls:index/certRequest:CertRequest",
            name: "s1-csr",
            props: { privateKeyPem: UNKNOWN, subject: { commonName: "bank-client" } },
        };
        const certFor = (allowedUses: unknown): Resource => ({
            type: "tls:index/locallySignedCert:LocallySignedCert",
            name: "s1-cert",
            props: {
                certRequestPem: UNKNOWN,
                caCertPem: UNKNOWN,
                caPrivateKeyPem: asSecret(UNKNOWN),
                validityPeriodHours: 2160,
                allowedUses,
            },
        });
        const other: Resource = { type: "command:local:Command", name: "fetch-cert", props: { create: "cat c.pem" } };
        const secret = (dependsOn: string[]): Resource => ({
            ...handWrittenTlsSecret("s1", { "tls.crt": UNKNOWN, "tls.key": UNKNOWN, "ca.crt": isrgRootX1() }),
            propertyDependencies: { stringData: dependsOn },
        });
        const program = (allowedUses: unknown, dependsOn = ["s1-cert", "s1-key"], ...more: Resource[]) =>
            checkStack(credentialTrustPolicy, [key, csr, certFor(allowedUses), ...more, secret(dependsOn), rule]);
        const refused = [
            ruleLostRefusal("istio-system/s1", notKnownLost.why, {
                rule: "istio-system/partner-api",
                fix: notKnownLost.fix,
            }),
        ];
        assert.deepStrictEqual(
            [
                // For clientAuth alone: passes, with data and stringData from the certificate and its key.
                await program(["digital_signature", "client_auth"]),
                // A server's, or any purpose's, or no clientAuth: may be a server's.
                await program(["digital_signature", "client_auth", "server_auth"]),
                await program(["digital_signature", "client_auth", "any_extended"]),
                await program(["digital_signature"]),
                // allowedUses not known yet: the preview cannot tell.
                await program(UNKNOWN),
                // No certificate behind it, or another resource beside it the certificate may come from.
                await program(["digital_signature", "client_auth"], []),
                await program(["digital_signature", "client_auth"], ["s1-key"]),
                await program(["digital_signature", "client_auth"], ["s1-cert", "s1-key", "fetch-cert"], other),
            ],
            [[], refused, refused, refused, refused, refused, refused, refused],
        );
        // tls.crt as a chain: the leaf, then its CA made in the program (an intermediate, or a self-signed root),
        // CAs with no TLS use of their own; a CA without the client's leaf, or one not known to be a CA, may be served.
        const caFor = (type: string, isCaCertificate: unknown, allowedUses: string[]): Resource => ({
            type,
            name: "client-ca",
            props: { isCaCertificate, allowedUses, validityPeriodHours: 8760 },
        });
        const chain = ["s1-cert", "client-ca", "s1-key"];
        const clientUses = ["digital_signature", "client_auth"];
        const caUses = ["cert_signing", "crl_signing", "digital_signature"];
        assert.deepStrictEqual(
            [
                await program(clientUses, chain, caFor("tls:index/locallySignedCert:LocallySignedCert", true, caUses)),
                await program(clientUses, chain, caFor("tls:index/selfSignedCert:SelfSignedCert", true, caUses)),
                await program(
                    clientUses,
                    ["client-ca", "s1-key"],
                    caFor("tls:index/selfSignedCert:SelfSignedCert", true, caUses),
                ),
                await program(clientUses, chain, caFor("tls:index/selfSignedCert:SelfSignedCert", UNKNOWN, caUses)),
                await program(
                    clientUses,
                    chain,
                    caFor("tls:index/selfSignedCert:SelfSignedCert", true, [...caUses, "server_auth"]),
                ),
            ],
            [[], [], refused, refused, refused],
        );
    });

    it("tls-secret-contents: refuses, before it is made, a Secret serving a server's certificate with a public root or CA in ca.crt, whatever its dependencies say; a client's alone passes", async () => {
        // The program's client certificate and its key, interpolated after a server's certificate written in the
        // program: the preview sees data depending on the tls certificate alone, and credential-trust, a stack
        // rule, only runs at `pulumi up` once the Secret is made. With its values known, this rule refuses it first.
        const root = await mintRoot("Bank private root");
        const server = await mintLeaf(root, {
            commonName: "payments.team.bank.example",
            dnsNames: ["payments.team.bank.example"],
            allowedUses: ["digital_signature", "server_auth"],
        });
        const client = await mintLeaf(root, {
            commonName: "bank-client",
            allowedUses: ["digital_signature", "client_auth"],
        });
        const interpolated = (trust: string) =>
            handWrittenTlsSecret("s1", {
                "tls.crt": server.cert + client.cert,
                "tls.key": server.key,
                "ca.crt": trust,
            });
        const served = "the certificate it serves (CN=payments.team.bank.example) is for serverAuth";
        assert.deepStrictEqual(
            [
                await checkResource(tlsSecretContentsPolicy, interpolated(isrgRootX1())),
                await checkResource(tlsSecretContentsPolicy, interpolated(GTS_CA_1C3_PEM)),
            ],
            [
                [
                    `istio-system/s1: ${served}, and ca.crt trusts ${ISRG}, a publicly trusted root: ${PUBLIC_TRUST_SERVED("ca.crt")}`,
                ],
                [
                    `istio-system/s1: ${served}, and ca.crt trusts C=US, O=Google Trust Services LLC, CN=GTS CA 1C3, ` +
                        `a public CA (under C=US, O=Google Trust Services LLC, CN=GTS Root R1, a publicly trusted root): ${PUBLIC_TRUST_SERVED("ca.crt")}`,
                ],
            ],
        );
        // No new refusal: credential-trust refuses the same Secret, alone.
        assert.strictEqual((await checkStack(credentialTrustPolicy, [interpolated(isrgRootX1())])).length, 1);
        // A UiApicClient-shaped Secret: a client certificate for clientAuth alone, the public root of the server it calls.
        const uiClient = handWrittenTlsSecret("ui-client", {
            "tls.crt": client.cert,
            "tls.key": client.key,
            "ca.crt": isrgRootX1(),
        });
        assert.deepStrictEqual(await checkResource(tlsSecretContentsPolicy, uiClient), []);
    });

    it("credential-trust: refuses a public intermediate CA in a Gateway's ca.crt as a public CA: Envoy takes it as an anchor", async () => {
        // Envoy's verdict: with GTS CA 1C3 alone in ca.crt (partial chain), a leaf it issued verifies, no root needed.
        const gtsIssued = verifyPeer({
            caCrt: GTS_CA_1C3_PEM,
            chain: GOOGLE_LEAF_PEM,
            purpose: "sslserver",
            at: new Date("2023-02-01T00:00:00Z"),
        });
        assert.deepStrictEqual(
            [gtsIssued.accepted, gtsIssued.boringssl.chain],
            [true, ["www.google.com", "GTS CA 1C3"]],
        );
        const gts = "C=US, O=Google Trust Services LLC, CN=GTS CA 1C3";
        const gtsRoot = "C=US, O=Google Trust Services LLC, CN=GTS Root R1";
        const secret = handWrittenTlsSecret("gw-server", { "ca.crt": GTS_CA_1C3_PEM });
        const mutual = istioGatewayWith({ mode: "MUTUAL", credentialName: "gw-server" });
        const namers = "Gateway istio-system/payments-gw's credentialName (MUTUAL)";
        const publicCa =
            `a public CA (under ${gtsRoot}, a publicly trusted root), which Envoy takes as a trust anchor as it takes every certificate in ca.crt, ` +
            "an intermediate too: ";
        assert.deepStrictEqual(
            [
                await checkStack(credentialTrustPolicy, [secret, mutual]),
                await checkStack(credentialTrustPolicy, [secret]),
            ],
            [
                [
                    `istio-system/gw-server: ca.crt, client trust of ${namers}, trusts ${gts}, ${publicCa}` +
                        `every client certificate it, or a CA under it, issues, to anyone, is let in, with ${noSanCheck(namers)}; ${noSanFix("ca.crt", namers)}`,
                ],
                [
                    `istio-system/gw-server: ca.crt trusts ${gts}, ${publicCa}${unread("ca.crt").why}` +
                        `any client certificate it, or a CA under it, issues, to anyone; r${unread("ca.crt").fix}`,
                ],
            ],
        );
    });

    /** A Kubernetes Gateway API Gateway (what Istio serves besides its own) `ui-gw` in istio-system, of `version`, with `spec`. */
    const gatewayApi = (version: "v1" | "v1beta1", spec: Record<string, unknown>): Resource => ({
        type: `kubernetes:gateway.networking.k8s.io/${version}:Gateway`,
        name: "ui-gw",
        props: {
            apiVersion: `gateway.networking.k8s.io/${version}`,
            kind: "Gateway",
            metadata: { name: "ui-gw", namespace: "istio-system" },
            spec: { gatewayClassName: "istio", ...spec },
        },
    });
    /** An Istio Gateway (istio-system/`name`) with one server on port 443 terminating TLS with `tls`. */
    const istioGatewayWith = (tls: Record<string, unknown>, name = "payments-gw"): Resource => ({
        type: "kubernetes:networking.istio.io/v1:Gateway",
        name,
        props: {
            metadata: { name, namespace: "istio-system" },
            spec: { servers: [{ port: { number: 443 }, tls }] },
        },
    });
    /** A Gateway API HTTPS listener terminating TLS with `tls`'s certificateRefs and options. */
    const httpsListener = (tls: Record<string, unknown>) => ({
        listeners: [{ name: "https", port: 443, protocol: "HTTPS", tls: { mode: "Terminate", ...tls } }],
    });
    /** A listener serving `ref`, which Istio's tls-terminate-mode option `mode` makes verify clients with its CA too. */
    const servingWith = (mode: string, ref: Record<string, unknown>) =>
        httpsListener({ certificateRefs: [ref], options: { "gateway.istio.io/tls-terminate-mode": mode } });
    /** A listener serving gw-server whose clients spec.tls.frontend's `default` or `perPort` validation verifies with `ref`. */
    const verifyingWith = (where: "default" | "perPort", ref: Record<string, unknown>) => {
        const validation = { validation: { caCertificateRefs: [ref] } };
        return {
            ...httpsListener({ certificateRefs: [{ name: "gw-server" }] }),
            tls: {
                frontend: where === "default" ? { default: validation } : { perPort: [{ port: 443, tls: validation }] },
            },
        };
    };
    /** credential-trust's refusals of `shown`'s `entry` trusting the hand-written mesh root and ISRG Root X1, client trust of `namers` (no SAN checked). */
    const gatewayTrustRefusals = (shown: string, namers: string, entry = "ca.crt") => [
        noSanMeshRefusal(shown, namers, entry),
        noSanPublicRefusal(shown, namers, entry),
    ];

    it("credential-trust: a Kubernetes Gateway API Gateway is a Gateway: a client credential its certificateRefs (Istio's MUTUAL option) or caCertificateRefs name loses the sidecar's exemption", async () => {
        const { root, cacerts } = await handWrittenMesh();
        const issuer = await mintRoot("Team credential root");
        const client = await mintLeaf(issuer, {
            commonName: "ui-client",
            allowedUses: ["client_auth", "digital_signature"],
        });
        // A sidecar's client credential (as UiApicClient writes one) whose ca.crt holds the mesh root and a public root.
        const uiClient = handWrittenTlsSecret("ui-client", {
            "tls.crt": client.cert,
            "tls.key": client.key,
            "ca.crt": root.certPem + isrgRootX1(),
        });
        const uiRule: Resource = {
            type: "kubernetes:networking.istio.io/v1:DestinationRule",
            name: "apic",
            props: {
                metadata: { name: "apic", namespace: "istio-system" },
                spec: { trafficPolicy: { tls: { mode: "MUTUAL", credentialName: "ui-client" } } },
            },
        };
        const sidecarRefusal =
            "istio-system/ui-client: ca.crt trusts CN=Hand mesh root, whose key is a mesh CA's or above one (root-cert.pem of istio-system/cacerts); " +
            "every cluster's cacerts holds the key of a mesh CA under it, so any cluster could mint a certificate with the identity " +
            "the sidecar expects of the server it calls (the subjectAltNames of DestinationRule istio-system/apic). " +
            "Give in ca.crt only the root(s) of the CA that issues that server's certificate (UiApicClient's apicTrustPem: in a stack, " +
            "the gateway server root, or pki:frontEnd.apicServerCa), or accept the weaker guarantee with allowSharedRoot: true";
        const verdict = (gateway?: Resource) =>
            checkStack(credentialTrustPolicy, [cacerts, uiClient, uiRule, ...(gateway ? [gateway] : [])]);
        assert.deepStrictEqual(
            [
                // Named by its DestinationRule alone: a sidecar's, the public root its server's CA may be.
                await verdict(),
                // A Gateway API Gateway serving it with Istio's MUTUAL or OPTIONAL_MUTUAL option reads its ca.crt as client trust,
                await verdict(gatewayApi("v1", servingWith("MUTUAL", { name: "ui-client" }))),
                await verdict(
                    gatewayApi(
                        "v1beta1",
                        servingWith("OPTIONAL_MUTUAL", {
                            kind: "Secret",
                            name: "ui-client",
                            namespace: "istio-system",
                        }),
                    ),
                ),
                // and so does one naming it in spec.tls.frontend's caCertificateRefs, by default or for a port.
                await verdict(
                    gatewayApi("v1", verifyingWith("default", { group: "", kind: "Secret", name: "ui-client" })),
                ),
                await verdict(gatewayApi("v1", verifyingWith("perPort", { kind: "Secret", name: "ui-client" }))),
                // A Gateway API reference fixes its namespace: payments/ui-client is another Secret.
                await verdict(gatewayApi("v1", servingWith("MUTUAL", { name: "ui-client", namespace: "payments" }))),
            ],
            [
                [sidecarRefusal],
                // Each names the Gateway and its field: Istio checks no SAN for the Gateway API.
                gatewayTrustRefusals(
                    "istio-system/ui-client",
                    "Gateway istio-system/ui-gw's certificateRefs (gateway.istio.io/tls-terminate-mode: MUTUAL)",
                ),
                gatewayTrustRefusals(
                    "istio-system/ui-client",
                    "Gateway istio-system/ui-gw's certificateRefs (gateway.istio.io/tls-terminate-mode: OPTIONAL_MUTUAL)",
                ),
                gatewayTrustRefusals("istio-system/ui-client", "Gateway istio-system/ui-gw's caCertificateRefs"),
                gatewayTrustRefusals("istio-system/ui-client", "Gateway istio-system/ui-gw's caCertificateRefs"),
                [sidecarRefusal],
            ],
        );
    });

    it("credential-trust: judges whatever a Gateway names as client trust (Gateway API caCertificateRefs, Istio's caCertCredentialName, configmap://): a ConfigMap or a generic Secret, in any namespace", async () => {
        const { root, meshCa, cacerts } = await handWrittenMesh();
        // The attacker: whoever holds a mesh CA's key (every cluster's cacerts) mints a client certificate with APIC's
        // identity; Envoy trusting the bundle takes it.
        const bundle = root.certPem + isrgRootX1();
        const { envoy } = await forgedByMeshCa(meshCa, "urn:example:apic-client:payments", bundle, [
            "urn:example:apic-client:payments",
        ]);
        assert.deepStrictEqual(
            [envoy.accepted, envoy.boringssl.chain],
            [true, ["forged", "Hand mesh CA", "Hand mesh root"]],
        );
        // Client trust outside keySecretNamespaces, in neither a kubernetes.io/tls Secret nor one named *-cacert.
        const configMap = (entries: Record<string, string>, encoding: "data" | "binaryData" = "data"): Resource => ({
            type: "kubernetes:core/v1:ConfigMap",
            name: "payments-client-trust",
            props: {
                metadata: { name: "payments-client-trust", namespace: "payments" },
                [encoding]:
                    encoding === "data"
                        ? entries
                        : Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, base64(v)])),
            },
        });
        const opaque = (entries: Record<string, string>): Resource => ({
            type: "kubernetes:core/v1:Secret",
            name: "payments-client-ca",
            props: {
                metadata: { name: "payments-client-ca", namespace: "payments" },
                type: "Opaque",
                stringData: asSecret(entries),
            },
        });
        const istioGateway = (caCertCredentialName: string) =>
            istioGatewayWith({ mode: "MUTUAL", credentialName: "gw-server", caCertCredentialName });
        const configMapRef = { group: "", kind: "ConfigMap", name: "payments-client-trust", namespace: "payments" };
        const secretRef = { kind: "Secret", name: "payments-client-ca", namespace: "payments" };
        const verdict = (...resources: Resource[]) => checkStack(credentialTrustPolicy, [cacerts, ...resources]);
        const inConfigMap = (namers: string) =>
            gatewayTrustRefusals("ConfigMap payments/payments-client-trust", namers);
        const inSecret = (namers: string, entry?: string) =>
            gatewayTrustRefusals("payments/payments-client-ca", namers, entry);
        const byRefs = "Gateway istio-system/ui-gw's caCertificateRefs";
        const byIstio = "Gateway istio-system/payments-gw's caCertCredentialName";
        // An Istio Gateway's Secret is read in its workload's namespace: payments', none of its name being nearer.
        const byIstioInPayments =
            `${byIstio} (if its workload runs in payments: Istio reads the Secret in the gateway workload's namespace, ` +
            "and there is none of this name in istio-system)";
        assert.deepStrictEqual(
            [
                // Named by no Gateway: no TLS credential.
                await verdict(configMap({ "ca.crt": bundle })),
                await verdict(opaque({ "ca.crt": bundle })),
                // A Gateway API Gateway's caCertificateRefs: a ConfigMap (its data or binaryData) or a Secret, in any namespace.
                await verdict(
                    configMap({ "ca.crt": bundle }),
                    gatewayApi("v1", verifyingWith("default", configMapRef)),
                ),
                await verdict(
                    configMap({ "ca.crt": bundle }, "binaryData"),
                    gatewayApi("v1", verifyingWith("perPort", configMapRef)),
                ),
                await verdict(opaque({ "ca.crt": bundle }), gatewayApi("v1beta1", verifyingWith("default", secretRef))),
                // Istio's caCertCredentialName: configmap://ns/name (read without a -cacert suffix), or a Secret's name.
                await verdict(
                    configMap({ "ca.crt": bundle }),
                    istioGateway("configmap://payments/payments-client-trust"),
                ),
                await verdict(
                    configMap({ "ca.crt": bundle }),
                    istioGateway("configmap://payments/payments-client-trust-cacert"),
                ),
                await verdict(opaque({ cacert: bundle }), istioGateway("kubernetes://payments-client-ca")),
                // A name ending in -cacert: Istio falls back to the Secret without it (GetCaCert).
                await verdict(opaque({ "ca.crt": bundle }), istioGateway("payments-client-ca-cacert")),
                // A reference whose namespace a preview does not know yet may be any namespace's.
                await verdict(
                    configMap({ "ca.crt": bundle }),
                    gatewayApi("v1", verifyingWith("default", { ...configMapRef, namespace: UNKNOWN })),
                ),
                // A ConfigMap of that name in another namespace is another object.
                await verdict(
                    configMap({ "ca.crt": bundle }),
                    gatewayApi("v1", verifyingWith("default", { ...configMapRef, namespace: "ob-ui" })),
                ),
                await verdict(configMap({ "ca.crt": bundle }), istioGateway("configmap://ob-ui/payments-client-trust")),
            ],
            [
                [],
                [],
                inConfigMap(byRefs),
                inConfigMap(byRefs),
                inSecret(byRefs),
                inConfigMap(byIstio),
                inConfigMap(byIstio),
                inSecret(byIstioInPayments, "cacert"),
                inSecret(byIstioInPayments),
                inConfigMap(`${byRefs} (if the namespace not known until the update is payments)`),
                [],
                [],
            ],
        );
        // tls-secret-contents' checks of a trust entry, for what it does not see: a key, a CA under another PEM label.
        const clientRoot = await mintRoot("Payments client root");
        const relabelled = clientRoot.certPem.replace(/ CERTIFICATE-----/g, " X509 CERTIFICATE-----");
        const keyed = { "ca.crt": clientRoot.certPem + meshCa.keyPem };
        const keyLabel = pemBlocksInOrder(meshCa.keyPem)[0].label;
        const keyRefusal = (shown: string) =>
            `${shown}: ca.crt holds a private key (a "${keyLabel}" PEM block): trust bundles and CRLs are public, shown by istioctl proxy-config secret ` +
            "and copied in clear, so take the key out (and replace it if the text has been shared); give CA certificates only";
        // What tls-secret-contents says of a Secret it judges by itself.
        assert.deepStrictEqual(
            await checkResource(tlsSecretContentsPolicy, handWrittenTlsSecret("payments-client-ca", keyed)),
            [keyRefusal("istio-system/payments-client-ca")],
        );
        assert.deepStrictEqual(
            [
                await verdict(
                    configMap({ "ca.crt": relabelled }),
                    gatewayApi("v1", verifyingWith("default", configMapRef)),
                ),
                await verdict(configMap(keyed), gatewayApi("v1", verifyingWith("default", configMapRef))),
                await verdict(opaque(keyed), gatewayApi("v1", verifyingWith("default", secretRef))),
            ],
            [
                [
                    'ConfigMap payments/payments-client-trust: ca.crt holds a "X509 CERTIFICATE" PEM block (its block 1), which Envoy\'s BoringSSL reads as a certificate to trust ' +
                        'while Go and IstioGatewayTls read "CERTIFICATE" blocks alone; give each CA certificate as a "CERTIFICATE" block',
                ],
                [keyRefusal("ConfigMap payments/payments-client-trust")],
                [keyRefusal("payments/payments-client-ca")],
            ],
        );
    });

    /** A ConfigMap or an Opaque Secret `ca-bundle` in `namespace` whose ca.crt is `pem`: client trust a Gateway may name. */
    const caBundle = (kind: "ConfigMap" | "Secret", namespace: string, pem: string): Resource => ({
        type: `kubernetes:core/v1:${kind}`,
        name: `ca-bundle-${namespace === UNKNOWN ? "new" : namespace}`,
        props: {
            metadata: { name: "ca-bundle", namespace },
            ...(kind === "Secret"
                ? { type: "Opaque", stringData: asSecret({ "ca.crt": pem }) }
                : { data: { "ca.crt": pem } }),
        },
    });

    it("credential-trust: takes an Istio Gateway's caCertCredentialName for the Secret of that name in its namespace or keySecretNamespaces, another team's elsewhere only when there is none (and says so)", async () => {
        // APIC's client root, as the bank's payments gateway trusts it; another team's Secret of the same name trusts ISRG Root X1.
        const apicClientRoot = await mintRoot("APIC client root");
        const gateway = istioGatewayWith({
            mode: "MUTUAL",
            credentialName: "gw-server",
            caCertCredentialName: "ca-bundle",
        });
        const theirs = caBundle("Secret", "apps", isrgRootX1());
        const assumed = (likely: string) =>
            noSanPublicRefusal(
                "apps/ca-bundle",
                "Gateway istio-system/payments-gw's caCertCredentialName (if its workload runs in apps: Istio reads the Secret " +
                    `in the gateway workload's namespace, and there is none of this name in ${likely})`,
            );
        assert.deepStrictEqual(
            [
                await checkStack(credentialTrustPolicy, [
                    gateway,
                    caBundle("Secret", "istio-system", apicClientRoot.certPem),
                    theirs,
                ]),
                // Where keys belong (keySecretNamespaces) is as near as the Gateway's own namespace.
                await checkStack(
                    credentialTrustPolicy,
                    [gateway, caBundle("Secret", "ob-ui", apicClientRoot.certPem), theirs],
                    { keySecretNamespaces: ["istio-system", "ob-ui"] },
                ),
                // With none of its name nearer, the other team's is judged (its workload may run there), saying so.
                await checkStack(credentialTrustPolicy, [gateway, theirs]),
                await checkStack(credentialTrustPolicy, [
                    gateway,
                    caBundle("Secret", "ob-ui", apicClientRoot.certPem),
                    theirs,
                ]),
            ],
            [[], [], [assumed("istio-system")], [assumed("istio-system")]],
        );
    });

    it("credential-trust: a gateway Secret's ca.crt no Gateway of the program reads as client trust (a SIMPLE server) is refused as one a Gateway outside it may read, not as SAN-checked", async () => {
        const { root, cacerts } = await handWrittenMesh();
        const secret = handWrittenTlsSecret("gw-server", { "ca.crt": isrgRootX1() });
        const simple = istioGatewayWith({ mode: "SIMPLE", credentialName: "gw-server" });
        const mutual = (tls: Record<string, unknown>) => istioGatewayWith({ mode: "MUTUAL", ...tls });
        const refusal = unreadPublicRefusal("istio-system/gw-server");
        assert.strictEqual(
            refusal,
            "istio-system/gw-server: ca.crt trusts C=US, O=Internet Security Research Group, CN=ISRG Root X1, a publicly trusted root (in Node's tls.rootCertificates): " +
                "no Gateway in the program reads this ca.crt as client trust (a SIMPLE server ignores it), but a MUTUAL Gateway outside it may, " +
                "and would take any client certificate a public CA under it issues, to anyone; remove ca.crt, or, if a MUTUAL Gateway outside this program uses it, " +
                "give there only the root(s) of a private CA that issues its clients' certificates (for APIC, its client root)",
        );
        const istioNamers = "Gateway istio-system/payments-gw's credentialName (MUTUAL)";
        assert.deepStrictEqual(
            [
                await checkStack(credentialTrustPolicy, [secret, simple]),
                await checkStack(credentialTrustPolicy, [
                    secret,
                    gatewayApi("v1", httpsListener({ certificateRefs: [{ name: "gw-server" }] })),
                ]),
                await checkStack(credentialTrustPolicy, [secret]),
                // A MUTUAL Istio server without subjectAltNames: its own reason, and the fix adds subjectAltNames;
                // a mesh root has no allowSharedRoot way out (every workload's certificate would get in).
                await checkStack(credentialTrustPolicy, [
                    cacerts,
                    handWrittenTlsSecret("gw-server", { "ca.crt": root.certPem }),
                    mutual({ credentialName: "gw-server" }),
                ]),
            ],
            [[refusal], [refusal], [refusal], [noSanMeshRefusal("istio-system/gw-server", istioNamers)]],
        );
        assert.strictEqual(
            noSanMeshRefusal("istio-system/gw-server", istioNamers),
            `istio-system/gw-server: ca.crt, client trust of ${istioNamers}, trusts CN=Hand mesh root, whose key is a mesh CA's or above one ` +
                "(root-cert.pem of istio-system/cacerts); every cluster's cacerts holds the key of a mesh CA under it, so any cluster could mint a certificate " +
                "that the gateway accepts as any client's, with no SAN check (the Istio Gateway server gives no subjectAltNames). Give in ca.crt only the root(s) " +
                "of a private CA that issues these clients' certificates and no one else's (for APIC, its client root), never a public or mesh root; " +
                "and give the Istio Gateway server subjectAltNames (the clients' SANs: APIC's URI SAN), as IstioGatewayTls does",
        );
    });

    it("credential-trust: refuses istiod's istio-ca-root-cert ConfigMap named as a Gateway's client trust, declared or not: the mesh root, in an entry Istio cannot read", async () => {
        const { root, cacerts } = await handWrittenMesh();
        // What istiod writes in every namespace: the mesh root under root-cert.pem, no ca.crt.
        const meshRootConfigMap: Resource = {
            type: "kubernetes:core/v1:ConfigMap",
            name: "istio-ca-root-cert",
            props: {
                metadata: { name: "istio-ca-root-cert", namespace: "istio-system" },
                data: { "root-cert.pem": root.certPem },
            },
        };
        const istioGateway = istioGatewayWith({
            mode: "MUTUAL",
            credentialName: "gw-server",
            caCertCredentialName: "configmap://istio-system/istio-ca-root-cert",
        });
        const refusal = (namers: string) =>
            `${namers} names ConfigMap istio-system/istio-ca-root-cert as client trust: istiod writes it in every namespace with the mesh root (root-cert.pem), ` +
            "which a gateway must not trust for its clients (every cluster's cacerts holds the key of a mesh CA under it), and Istio cannot read it " +
            "(no ca.crt or cacert entry), so the listener verifying clients with it fails; name a ConfigMap or Secret whose ca.crt holds only the root(s) " +
            "of a private CA that issues these clients' certificates (for APIC, its client root)";
        const ref = { group: "", kind: "ConfigMap", name: "istio-ca-root-cert" };
        assert.deepStrictEqual(
            [
                await checkStack(credentialTrustPolicy, [cacerts, gatewayApi("v1", verifyingWith("default", ref))]),
                await checkStack(credentialTrustPolicy, [
                    cacerts,
                    meshRootConfigMap,
                    gatewayApi("v1", verifyingWith("perPort", ref)),
                ]),
                await checkStack(credentialTrustPolicy, [cacerts, istioGateway]),
                await checkStack(credentialTrustPolicy, [cacerts, meshRootConfigMap, istioGateway]),
                // Named by no Gateway: istiod's own, as it should be.
                await checkStack(credentialTrustPolicy, [cacerts, meshRootConfigMap]),
            ],
            [
                [refusal("Gateway istio-system/ui-gw's caCertificateRefs")],
                [refusal("Gateway istio-system/ui-gw's caCertificateRefs")],
                [refusal("Gateway istio-system/payments-gw's caCertCredentialName")],
                [refusal("Gateway istio-system/payments-gw's caCertCredentialName")],
                [],
            ],
        );
    });

    it("credential-trust: in a preview, a Gateway API Gateway whose namespace is not known yet takes its own ConfigMap (namespace not known either) over another team's of that name", async () => {
        const apicClientRoot = await mintRoot("APIC client root");
        const inNamespace = (namespace: string): Resource => {
            const gateway = gatewayApi(
                "v1",
                verifyingWith("default", { group: "", kind: "ConfigMap", name: "ca-bundle" }),
            );
            return { ...gateway, props: { ...gateway.props, metadata: { name: "ui-gw", namespace } } };
        };
        const theirs = caBundle("ConfigMap", "apps", isrgRootX1());
        assert.deepStrictEqual(
            [
                // A first preview: the Gateway's and its ConfigMap's auto-named Namespace is not known yet.
                await checkStack(credentialTrustPolicy, [
                    inNamespace(UNKNOWN),
                    caBundle("ConfigMap", UNKNOWN, apicClientRoot.certPem),
                    theirs,
                ]),
                // The update: both in ui.
                await checkStack(credentialTrustPolicy, [
                    inNamespace("ui"),
                    caBundle("ConfigMap", "ui", apicClientRoot.certPem),
                    theirs,
                ]),
                // With no ConfigMap of its own declared, the other team's may be the one: judged, saying what it assumes.
                await checkStack(credentialTrustPolicy, [inNamespace(UNKNOWN), theirs]),
                // Its own, not known yet, is judged as its own, and shown so.
                await checkStack(credentialTrustPolicy, [
                    inNamespace(UNKNOWN),
                    caBundle("ConfigMap", UNKNOWN, isrgRootX1()),
                ]),
            ],
            [
                [],
                [],
                [
                    noSanPublicRefusal(
                        "ConfigMap apps/ca-bundle",
                        "Gateway (a namespace not known until the update)/ui-gw's caCertificateRefs (if the namespace not known until the update is apps)",
                    ),
                ],
                [
                    noSanPublicRefusal(
                        "ConfigMap (a namespace not known until the update)/ca-bundle",
                        "Gateway (a namespace not known until the update)/ui-gw's caCertificateRefs",
                    ),
                ],
            ],
        );
    });

    it("credential-trust: reads a ListenerSet's listeners as its parent Gateway's: the parent's caCertificateRefs without a namespace resolve in the ListenerSet's, its own MUTUAL certificateRefs name client trust", async () => {
        const { root, meshCa, cacerts } = await handWrittenMesh();
        const bundle = root.certPem + isrgRootX1();
        // The attacker holds a mesh CA's key (every cluster's cacerts): Istio checks no SAN for the Gateway API, so a
        // client certificate of any identity the mesh CA signs gets in.
        const { envoy } = await forgedByMeshCa(meshCa, "spiffe://cluster.local/ns/anywhere/sa/anyone", bundle);
        assert.deepStrictEqual(
            [envoy.accepted, envoy.boringssl.chain],
            [true, ["forged", "Hand mesh CA", "Hand mesh root"]],
        );
        const clientTrust: Resource = {
            type: "kubernetes:core/v1:ConfigMap",
            name: "client-trust",
            props: { metadata: { name: "client-trust", namespace: "payments" }, data: { "ca.crt": bundle } },
        };
        // The parent: no listeners of its own, client trust for every listener by default, named without a namespace.
        const parent = gatewayApi("v1", {
            listeners: [],
            tls: {
                frontend: {
                    default: {
                        validation: { caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "client-trust" }] },
                    },
                },
            },
        });
        const listenerSet = (
            type: string,
            parentRef: Record<string, unknown>,
            tls: Record<string, unknown> = { certificateRefs: [{ name: "payments-server" }] },
        ): Resource => {
            const [, apiVersion, kind] = type.split(":");
            return {
                type,
                name: "payments-set",
                props: {
                    apiVersion,
                    kind,
                    metadata: { name: "payments-set", namespace: "payments" },
                    spec: { parentRef, ...httpsListener(tls) },
                },
            };
        };
        const LISTENER_SET = "kubernetes:gateway.networking.k8s.io/v1:ListenerSet";
        const X_LISTENER_SET = "kubernetes:gateway.networking.x-k8s.io/v1alpha1:XListenerSet";
        const toParent = { name: "ui-gw", namespace: "istio-system" };
        const verdict = (...resources: Resource[]) => checkStack(credentialTrustPolicy, [cacerts, ...resources]);
        const viaSet = (kind: string) =>
            gatewayTrustRefusals(
                "ConfigMap payments/client-trust",
                `Gateway istio-system/ui-gw's caCertificateRefs (for ${kind} payments/payments-set)`,
            );
        // A client credential a ListenerSet's own listener serves with Istio's MUTUAL option: its ca.crt is client trust.
        const uiClient: Resource = {
            type: "kubernetes:core/v1:Secret",
            name: "ui-client",
            props: {
                metadata: { name: "ui-client", namespace: "payments" },
                type: "Opaque",
                stringData: asSecret({ "ca.crt": bundle }),
            },
        };
        const mutual = {
            certificateRefs: [{ name: "ui-client" }],
            options: { "gateway.istio.io/tls-terminate-mode": "MUTUAL" },
        };
        assert.deepStrictEqual(
            [
                // The parent alone reads istio-system/client-trust: the ConfigMap in payments is another.
                await verdict(clientTrust, parent),
                // A ListenerSet in payments (ListenerSet, or the experimental XListenerSet) reads payments/client-trust,
                await verdict(clientTrust, parent, listenerSet(LISTENER_SET, toParent)),
                await verdict(
                    clientTrust,
                    parent,
                    listenerSet(X_LISTENER_SET, { ...toParent, group: "gateway.networking.k8s.io", kind: "Gateway" }),
                ),
                // but not one whose parent is another Gateway.
                await verdict(clientTrust, parent, listenerSet(LISTENER_SET, { ...toParent, name: "other-gw" })),
                // A ListenerSet's own listener with Istio's MUTUAL option, in its namespace: its parent need not be known.
                await verdict(uiClient, listenerSet(LISTENER_SET, { name: "elsewhere" }, mutual)),
            ],
            [
                [],
                viaSet("ListenerSet"),
                viaSet("XListenerSet"),
                [],
                gatewayTrustRefusals(
                    "payments/ui-client",
                    "ListenerSet payments/payments-set's certificateRefs (gateway.istio.io/tls-terminate-mode: MUTUAL)",
                ),
            ],
        );
    });

    it("credential-trust: a UI client Secret's ca.crt verifies APIC's server: a public apicServerCa passes, a mesh root is refused with its own fix", async () => {
        const raw = loadStackFile("examples/front-end/Pulumi.front-end.yaml");
        const withPublicServerCa = {
            ...raw,
            frontEnd: JSON.stringify({ ...JSON.parse(raw.frontEnd), apicServerCa: isrgRootX1() }),
        };
        const run = await runWithStandIn(() => buildPki(planFromRawConfig(withPublicServerCa)).outputs, {
            state: sharedStateWithSuiteKeys(),
        });
        // The first preview: no certificate issued yet, so each Secret's tls.crt and tls.key are not known. Not
        // absent: a Secret UiApicClient made passes, as it serves a certificate for clientAuth alone.
        const firstPreview = fromEngine(run.engine.resources).map((r) =>
            r.type === "kubernetes:core/v1:Secret" && "tls.crt" in (r.props.stringData as { value: object }).value
                ? {
                      ...r,
                      props: {
                          ...r.props,
                          stringData: asSecret({
                              ...(r.props.stringData as { value: object }).value,
                              "tls.crt": UNKNOWN,
                              "tls.key": UNKNOWN,
                          }),
                      },
                  }
                : r,
        );
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, firstPreview), []);
        // Written by hand (no UiApicClient made them), they may serve a server's certificate: refused.
        const byHand = firstPreview.map((r) =>
            r.parentType?.endsWith(":UiApicClient") ? { ...r, parentType: undefined } : r,
        );
        const ui = (name: string) =>
            ruleLostRefusal(`ob-ui/apic-client-${name}`, notKnownLost.why, {
                rule: `ob-ui/apic-mtls-${name}-apic-example-api-bank-example`,
                fix: notKnownLost.fix,
            });
        // Sorted: the Secrets register when their certificates are issued, in no fixed order.
        assert.deepStrictEqual((await checkStack(credentialTrustPolicy, byHand)).sort(), [
            ui("authentication-ui"),
            ui("consumer-dashboard"),
        ]);
        // After pulumi up: each resource's outputs too.
        const resources = fromEngine(run.engine.resources).map((r) => ({ ...r, props: { ...r.props, ...r.state } }));
        const uiSecret = resources.find(
            (r) =>
                r.type === "kubernetes:core/v1:Secret" &&
                (r.props.metadata as { name?: string }).name === "apic-client-consumer-dashboard",
        ) as Resource;
        assert.ok(JSON.stringify(uiSecret.props).includes(pemBlocks(isrgRootX1(), "CERTIFICATE")[0].split("\n")[1]));
        // The whole pack passes it (private-key-secrets aside: ob-ui is outside its default keySecretNamespaces;
        // gateway-keys-beside-cacerts advises on the backend gateway's Secret, in istio-system).
        assert.deepStrictEqual(await stackRuleFindings(resources), [
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-ob", "mesh-ca-example-cacerts", "example")}`,
        ]);
        for (const p of POLICIES) {
            if ("validateStack" in p) continue;
            else if (p !== keySecretPolicy)
                for (const r of resources)
                    assert.deepStrictEqual(await checkResource(p, r), [], `${p.name} on ${r.name}`);
        }
        // The mesh root there instead: any cluster's mesh CA key could mint APIC's host name for the sidecar.
        const meshRoot = resources.find((r) => r.name === "mesh-root-ca-cert")?.props.certPem as string;
        const written = JSON.parse(JSON.stringify(uiSecret.props.stringData), (_key, value) =>
            value?.[specialSigKey] === specialSecretSig ? value.value : value,
        ) as Record<string, string>;
        const meshTrusted = resources.map((r) =>
            r === uiSecret ? { ...r, props: { ...r.props, stringData: { ...written, "ca.crt": meshRoot } } } : r,
        );
        assert.deepStrictEqual(await checkStack(credentialTrustPolicy, meshTrusted), [
            "ob-ui/apic-client-consumer-dashboard: ca.crt trusts O=Example Bank, CN=example mesh root CA, whose key is a mesh CA's or above one " +
                "(mesh-root-ca-cert, above MeshPluginCa mesh-ca-example-cert); every cluster's cacerts holds the key of a mesh CA under it, " +
                "so any cluster could mint a certificate with the identity the sidecar expects of the server it calls " +
                "(the subjectAltNames of DestinationRule ob-ui/apic-mtls-consumer-dashboard-apic-example-api-bank-example). " +
                "Give in ca.crt only the root(s) of the CA that issues that server's certificate (UiApicClient's apicTrustPem: " +
                "in a stack, the gateway server root, or pki:frontEnd.apicServerCa), or accept the weaker guarantee with allowSharedRoot: true",
        ]);
    });

    it("tls-secret-contents: checks cacert with crl too (Istio reads them before ca.crt and ca.crl), and leaves a publicly issued leaf's lifetime to its CA", async () => {
        const { root, issuing, crls } = await paymentsClientCas();
        const secret = handWrittenTlsSecret("payments-tls", {
            "ca.crt": root.certPem,
            "ca.crl": crls,
            cacert: root.certPem + issuing.certPem,
            crl: crls,
        });
        assert.deepStrictEqual(await checkResource(tlsSecretContentsPolicy, secret), [
            "istio-system/payments-tls: cacert holds CN=Payments client CA, which is not a self-signed root, and crl is set: " +
                "Envoy makes every certificate of ca.crt a trust anchor, stops the chain there and then finds no CRL for it, " +
                "so every peer would be refused (envoyproxy/envoy#29197). Give only the root(s) in cacert; peers send their issuing CA",
        ]);
        // A public CA's leaf of 84 days under leafMaxDays 30: its chain links up to GTS Root R1, so the CA's limits hold, not the pack's.
        // (The fixture's leaf has expired since: that, unlike its lifetime, is refused whoever issued it.)
        const publicLeaf = (tlsCrt: string) => handWrittenTlsSecret("public-tls-www", { "tls.crt": tlsCrt });
        const googleExpired =
            "istio-system/public-tls-www: tls.crt's leaf (CN=www.google.com) expired on " +
            `${new Date(new crypto.X509Certificate(GOOGLE_LEAF_PEM).validTo).toISOString()}: peers refuse it ("certificate has expired"); renew it`;
        assert.deepStrictEqual(
            await checkResource(tlsSecretContentsPolicy, publicLeaf(GOOGLE_LEAF_PEM + GTS_CA_1C3_PEM), {
                leafMaxDays: 30,
            }),
            [googleExpired],
        );
        // Without the intermediate, or a leaf of one's own before it, nothing shows a public CA issued the leaf.
        const tooLong = (subject: string, days: number) =>
            `istio-system/public-tls-www: tls.crt's leaf (${subject}): a leaf valid ${days} days exceeds the 30-day maximum; renew it for 30 days or less`;
        assert.deepStrictEqual(
            await checkResource(tlsSecretContentsPolicy, publicLeaf(GOOGLE_LEAF_PEM), { leafMaxDays: 30 }),
            [tooLong("CN=www.google.com", 84), googleExpired],
        );
        const ownKey = await tlsProvider.privateKey({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const own = tlsProvider.selfSignedCert({
            privateKeyPem: ownKey.state.privateKeyPem,
            subject: { commonName: "www.team.bank.example" },
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: 397 * 24,
        }).state.certPem as string;
        assert.deepStrictEqual(
            await checkResource(tlsSecretContentsPolicy, publicLeaf(own + GTS_CA_1C3_PEM), { leafMaxDays: 30 }),
            [tooLong("CN=www.team.bank.example", 397)],
        );
    });

    it("in a preview, a Kubernetes provider whose namespace (or enableSecretMutable) is not known yet switches no rule off: an object without a namespace has one not known", async () => {
        const provider = {
            type: "pulumi:providers:kubernetes",
            name: "team-cluster",
            props: { namespace: UNKNOWN, enableSecretMutable: UNKNOWN },
        };
        const underIt = (r: Resource, metadata?: Record<string, unknown>): Resource => ({
            ...r,
            provider,
            props: metadata === undefined ? r.props : { ...r.props, metadata },
        });
        const weakKey = (await tlsProvider.privateKey({ algorithm: "RSA", rsaBits: 1024 })).state
            .privateKeyPem as string;
        const opaque = (name: string, namespace?: string) =>
            underIt(handWrittenTlsSecret(name, { "tls.key": weakKey }, "Opaque"), { name, namespace });
        const opaqueRefusal =
            "a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts: metadata.name cacerts in istio-system)";
        const weakTls = underIt(handWrittenTlsSecret("app-tls", { "tls.key": weakKey }), { name: "app-tls" });
        const publicTrust = underIt(handWrittenTlsSecret("gw-server", { "ca.crt": isrgRootX1() }));
        const configMap = (name: string): Resource => ({
            type: "kubernetes:core/v1:ConfigMap",
            name,
            provider,
            props: { metadata: { name: "settings" }, data: { mode: "strict" } },
        });
        const cacerts = named("mesh-ca-example-cacerts");
        assert.deepStrictEqual(
            [
                // With a namespace of its own, judged as ever; without, its namespace is left to the update.
                await checkResource(keySecretPolicy, opaque("app-key", "payments")),
                await checkResource(keySecretPolicy, opaque("app-key")),
                await checkResource(tlsSecretContentsPolicy, weakTls),
                await checkResource(istiodCaPolicy, underIt(cacerts, { name: "cacerts" })),
                await checkResource(secretsInPlacePolicy, weakTls),
                await checkStack(credentialTrustPolicy, [publicTrust, weakTls]),
                await checkStack(uniqueKubernetesObjectsPolicy, [configMap("settings-a"), configMap("settings-b")]),
            ],
            [
                [
                    "app-key: a private key (tls.key) in namespace payments; keys belong only in istio-system (the pack's keySecretNamespaces). " +
                        "Move it there, or, if a gateway or sidecar must read it in payments (a stack's pki:gatewayNamespace, " +
                        "pki:frontEnd.customerFacingGateway.namespace or front-end UI namespace, or such a namespace of your program's), add payments to keySecretNamespaces",
                    `app-key: ${opaqueRefusal}`,
                ],
                [`app-key: ${opaqueRefusal}`],
                [
                    "(a namespace not known until the update)/app-tls: the key in tls.key is RSA 1024, too weak; use RSA 2048+ or ECDSA P256+",
                ],
                [],
                [],
                [unreadPublicRefusal("istio-system/gw-server")],
                [
                    "ConfigMap (its provider's namespace)/settings: made by settings-a and settings-b in one cluster, so each would replace what the other writes " +
                        "(istiod reads its plug-in CA from istio-system/cacerts, a gateway its certificate from its credentialName's Secret). " +
                        "Give each its own metadata.name (a component's secretName, or another endpoint id: IstioGatewayTls names an endpoint's Secret apic-mtls-<id>)",
                ],
            ],
        );
    });

    it("unique-kubernetes-objects: refuses two resources making one object (a Secret, a Gateway of any version) in one cluster, not patches", async () => {
        // Two gateways of one endpoint id (one Secret apic-mtls-payments), or a Secret of a program's own named cacerts.
        const program = (clash: "endpoint id" | "cacerts") =>
            runWithStandIn(
                () => {
                    const root = new RootCa("team-root", {
                        subject: { commonName: "Team root" },
                        keyAlgorithm: "ECDSA",
                    });
                    const serverCa = new IntermediateCa("team-server-ca", {
                        rootCa: root,
                        subject: { commonName: "Team server CA" },
                        keyAlgorithm: "ECDSA",
                    });
                    for (const team of clash === "endpoint id" ? ["team-a", "team-b"] : []) {
                        new IstioGatewayTls(team, {
                            serverCa,
                            clientTrustBundlePem: root.certPem,
                            endpoints: [
                                {
                                    id: "payments",
                                    host: `payments.${team}.bank.example`,
                                    clientSubjectAltNames: ["urn:example:apic-client:payments"],
                                },
                            ],
                            keyAlgorithm: "ECDSA",
                        });
                    }
                    if (clash === "cacerts") {
                        const meshRoot = new RootCa("mesh-root", {
                            subject: { commonName: "Mesh root" },
                            keyAlgorithm: "ECDSA",
                        });
                        new MeshPluginCa("mesh", { rootCa: meshRoot, cluster: "east", keyAlgorithm: "ECDSA" });
                        new k8s.core.v1.Secret("istiod-ca", {
                            metadata: { name: "cacerts", namespace: "istio-system" },
                            type: "kubernetes.io/tls",
                            stringData: { "tls.crt": serverCa.certPem, "tls.key": serverCa.privateKeyPem },
                        });
                    }
                    return {};
                },
                { state: sharedStateWithSuiteKeys() },
            );
        const violations = async (clash: "endpoint id" | "cacerts") =>
            checkStack(uniqueKubernetesObjectsPolicy, fromEngine((await program(clash)).engine.resources));
        const made = (object: string, names: string) =>
            `${object}: made by ${names} in one cluster, so each would replace what the other writes ` +
            "(istiod reads its plug-in CA from istio-system/cacerts, a gateway its certificate from its credentialName's Secret). " +
            "Give each its own metadata.name (a component's secretName, or another endpoint id: IstioGatewayTls names an endpoint's Secret apic-mtls-<id>)";
        assert.deepStrictEqual(await violations("endpoint id"), [
            made("Secret istio-system/apic-mtls-payments", "team-a-payments-tls and team-b-payments-tls"),
        ]);
        assert.deepStrictEqual(await violations("cacerts"), [
            made("Secret istio-system/cacerts", "istiod-ca and mesh-ca-east-cacerts"),
        ]);

        // An Istio Gateway of two API versions is one object; in two clusters (providers), two; a stack's are all its own.
        const gateway = real.find((r) => r.type === "kubernetes:networking.istio.io/v1:Gateway") as Resource;
        const { name } = gateway.props.metadata as { name: string };
        const v1beta1 = { ...gateway, type: "kubernetes:networking.istio.io/v1beta1:Gateway", name: "team-gateway" };
        assert.deepStrictEqual(await checkStack(uniqueKubernetesObjectsPolicy, [gateway, v1beta1]), [
            made(`Gateway istio-system/${name}`, `${gateway.name} and team-gateway`),
        ]);
        const west = { type: "pulumi:providers:kubernetes", name: "west", props: {} };
        assert.deepStrictEqual(
            await checkStack(uniqueKubernetesObjectsPolicy, [gateway, { ...v1beta1, provider: west }]),
            [],
        );
        assert.deepStrictEqual(await checkStack(uniqueKubernetesObjectsPolicy, real), []);
        const multiCluster = await runWithStandIn(
            () =>
                buildPki(planFromRawConfig(loadStackFile("examples/multi-cluster/Pulumi.multi-cluster.yaml"))).outputs,
            { state: sharedStateWithSuiteKeys() },
        );
        const clusters = fromEngine(multiCluster.engine.resources);
        assert.deepStrictEqual(
            clusters
                .filter((r) => (r.props.metadata as { name?: string } | undefined)?.name === "cacerts")
                .map((r) => r.name),
            ["mesh-ca-east-cacerts", "mesh-ca-west-cacerts"],
        );
        // Every stack rule (credential-trust among them) passes the multi-cluster example's resources, but for the
        // advice on its gateway's Secrets, beside cacerts in the first cluster (east) alone.
        assert.deepStrictEqual(await stackRuleFindings(clusters), [
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-dp", "mesh-ca-east-cacerts", "east")}`,
            `gateway-keys-beside-cacerts: ${besideCacerts("istio-system/apic-mtls-ob", "mesh-ca-east-cacerts", "east")}`,
        ]);

        // Patches of a Secret, beside it: each applies its own fields, a field two set fails the update as a conflict.
        const east = { type: "pulumi:providers:kubernetes", name: "east", props: {} };
        const paymentsSecret = (type: string, name: string, metadata: Record<string, unknown> = {}) => ({
            type: `kubernetes:core/v1:${type}`,
            name,
            provider: east,
            props: { metadata: { name: "apic-mtls-payments", namespace: "istio-system", ...metadata } },
        });
        const patches = [
            paymentsSecret("SecretPatch", "label-it", { labels: { team: "payments" } }),
            paymentsSecret("SecretPatch", "annotate-it", { annotations: { "example.com/owner": "payments" } }),
        ];
        assert.deepStrictEqual(
            await checkStack(uniqueKubernetesObjectsPolicy, [paymentsSecret("Secret", "payments-tls"), ...patches]),
            [],
        );
        assert.deepStrictEqual(
            await checkStack(uniqueKubernetesObjectsPolicy, [
                paymentsSecret("Secret", "payments-tls"),
                paymentsSecret("Secret", "payments-tls-copy"),
                ...patches,
            ]),
            [made("Secret istio-system/apic-mtls-payments", "payments-tls and payments-tls-copy")],
        );
    });

    it("unique-kubernetes-objects: in a preview, objects of one name in namespaces not known yet (two new auto-named Namespaces) are not taken for one", async () => {
        const configMap = (name: string, namespace: string): Resource => ({
            type: "kubernetes:core/v1:ConfigMap",
            name,
            provider: { type: "pulumi:providers:kubernetes", name: "team-cluster", props: { namespace: "default" } },
            props: { metadata: { name: "settings", namespace }, data: { mode: "strict" } },
        });
        const made =
            "ConfigMap team-a/settings: made by settings-a and settings-b in one cluster, so each would replace what the other writes " +
            "(istiod reads its plug-in CA from istio-system/cacerts, a gateway its certificate from its credentialName's Secret). " +
            "Give each its own metadata.name (a component's secretName, or another endpoint id: IstioGatewayTls names an endpoint's Secret apic-mtls-<id>)";
        assert.deepStrictEqual(
            [
                await checkStack(uniqueKubernetesObjectsPolicy, [
                    configMap("settings-a", UNKNOWN),
                    configMap("settings-b", UNKNOWN),
                ]),
                // Nor for its provider's namespace's object of that name; two in one known namespace are still one.
                await checkStack(uniqueKubernetesObjectsPolicy, [
                    configMap("settings-a", UNKNOWN),
                    configMap("settings-b", "default"),
                ]),
                await checkStack(uniqueKubernetesObjectsPolicy, [
                    configMap("settings-a", "team-a"),
                    configMap("settings-b", "team-a"),
                ]),
            ],
            [[], [], [made]],
        );
    });

    it("is a runnable pack: started as Pulumi starts it (run-policy-pack in policy/), it serves every policy and refuses a weak key", async () => {
        assert.strictEqual(
            YAML.parse(fs.readFileSync(path.join(ROOT, "policy/PulumiPolicy.yaml"), "utf8")).runtime,
            "nodejs",
        );
        const packJson = JSON.parse(fs.readFileSync(path.join(ROOT, "policy/package.json"), "utf8"));
        assert.ok(
            fs.existsSync(path.join(ROOT, "policy", packJson.main)),
            `${packJson.main} exists after npm run build`,
        );
        // @pulumi/policy's PolicyPack reads its version from the pack's package.json and refuses to start without one.
        const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        assert.strictEqual(packJson.version, version, "policy/package.json's version is the package's");
        const served = await servedPolicyPack(path.join(ROOT, "policy"), ROOT);
        assert.deepStrictEqual(
            { name: served.name, version: served.version, policies: served.policies },
            { name: "apic-istio-pki", version, policies: POLICIES.map((p) => p.name) },
        );
        assert.deepStrictEqual(served.weakKeyDiagnostics, [
            {
                policy: "private-key-strength",
                level: "mandatory",
                message: `${keyStrengthPolicy.description}\nob-apic-client-key: RSA 1024 is too weak; use RSA 2048+ or ECDSA P256+`,
            },
        ]);
        assert.deepStrictEqual(POLICIES.map((p) => p.name).sort(), [
            "ca-key-strength",
            "ca-path-length",
            "certificate-usages",
            "credential-trust",
            "gateway-keys-beside-cacerts",
            "issuing-ca-certificate",
            "istiod-cacerts",
            "leaf-max-validity",
            "no-private-key-configmaps",
            "no-private-key-helm-values",
            "no-private-key-kubernetes-objects",
            "no-private-key-metadata",
            "private-key-secrets",
            "private-key-strength",
            "root-path-length",
            "secrets-updated-in-place",
            "separate-trust-domains",
            "tls-secret-contents",
            "unique-kubernetes-objects",
        ]);
    });
});
