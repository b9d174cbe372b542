import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as policy from "@pulumi/policy";
import * as YAML from "yaml";
import { RecordedResource, runWithStandIn } from "../lib/engine/standIn";
import { buildCrl } from "../lib/pki/crl";
import { pemDecode } from "../lib/pki/pem";
import { planFromRawConfig } from "../lib/plan/plan";
import { buildPki } from "../lib/stack";
import {
    caKeyStrengthPolicy,
    certificateUsagePolicy,
    keyConfigMapPolicy,
    keySecretPolicy,
    keyStrengthPolicy,
    leafValidityPolicy,
    POLICIES,
    rootPathLengthPolicy,
    separateTrustDomainsPolicy,
} from "../policy/policies";
import { holdsPrivateKey } from "../lib/pki/keyMaterial";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import { loadStackFile, OPTION_FILES, ROOT, sharedStateWithSuiteKeys } from "./helpers";

type Resource = {
    type: string;
    name: string;
    props: Record<string, unknown>;
    /** What the provider returned (certPem...), to wire dependencies by value as the engine knows them. */
    state?: Record<string, unknown>;
    /** Type token of the component the resource is a child of, as the engine puts it in the URN. */
    parentType?: string;
};

/** The engine's records as policy resources: each child's parent component found by its name prefix. */
function fromEngine(resources: readonly RecordedResource[]): Resource[] {
    const components = resources.filter((r) => r.type.startsWith("apic-istio-pki:index:"));
    return resources.map((r) => {
        const parent = components
            .filter((c) => c !== r && r.name.startsWith(`${c.name}-`))
            .sort((a, b) => b.name.length - a.name.length)[0];
        return { type: r.type, name: r.name, props: r.inputs, state: r.state, parentType: parent?.type };
    });
}

/** What the policy host would hand a resource policy; violations collected. */
function checkResource(
    p: policy.ResourceValidationPolicy,
    r: Resource,
    config: Record<string, unknown> = {},
): string[] {
    const violations: string[] = [];
    const args = {
        type: r.type,
        props: r.props,
        urn: `urn:pulumi:test::apic-istio-pki::${r.type}::${r.name}`,
        name: r.name,
        opts: { protect: false, ignoreChanges: [], notApplicable: () => undefined as never },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T>() => config as T,
        notApplicable: () => undefined as never,
    } as unknown as policy.ResourceValidationArgs;
    const validate = p.validateResource as policy.ResourceValidation;
    void validate(args, (message) => violations.push(message));
    return violations;
}

/** A stack policy over resources wired like the engine does (key -> CSR -> certificate <- issuing CA). */
function checkStack(
    p: policy.StackValidationPolicy,
    resources: Resource[],
    config: Record<string, unknown> = {},
): string[] {
    const byName = new Map<string, policy.PolicyResource>();
    const policyResources = resources.map((r) => {
        const qualifiedType = r.parentType === undefined ? r.type : `${r.parentType}$${r.type}`;
        const pr = {
            type: r.type,
            name: r.name,
            props: r.props,
            urn: `urn:pulumi:test::apic-istio-pki::${qualifiedType}::${r.name}`,
            opts: {},
            dependencies: [],
            propertyDependencies: {},
        } as unknown as policy.PolicyResource;
        byName.set(r.name, pr);
        return pr;
    });
    for (const pr of policyResources) {
        const base = pr.name.replace(/-(cert|csr)$/, "");
        const key = byName.get(`${base}-key`);
        const csr = byName.get(`${base}-csr`);
        if (pr.type === "tls:index/certRequest:CertRequest" && key) pr.propertyDependencies.privateKeyPem = [key];
        if (pr.type === "tls:index/selfSignedCert:SelfSignedCert" && key) pr.propertyDependencies.privateKeyPem = [key];
        if (pr.type === "tls:index/locallySignedCert:LocallySignedCert" && csr)
            pr.propertyDependencies.certRequestPem = [csr];
    }
    resources.forEach((r, i) => {
        const issuer = resources.findIndex(
            (c) => c.state?.certPem !== undefined && c.state.certPem === r.props.caCertPem,
        );
        if (issuer >= 0) policyResources[i].propertyDependencies.caCertPem = [policyResources[issuer]];
    });
    const violations: string[] = [];
    void (p.validateStack as policy.StackValidation)(
        { resources: policyResources, getConfig: () => config } as never,
        (m) => violations.push(m),
    );
    return violations;
}

const base64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString("base64");
/** Base64 in lines, as `openssl base64` (64 columns) or GNU base64 (76) writes it. */
const wrapped = (text: string, columns: number, eol: string): string =>
    (text.match(new RegExp(`.{1,${columns}}`, "g")) ?? []).join(eol);

/**
 * Real private keys in the encodings a consumer's program may write, by file name: PEM text, or
 * base64 of DER. The RSA key is the test-only fixture's (generating one costs ~140 ms).
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
    return {
        "key.pem": (ec.export({ type: "pkcs8", format: "pem" }) as string).replace(/\n/g, "\r\n"),
        "key-lowercase.pem": (ec.export({ type: "sec1", format: "pem" }) as string).toLowerCase(),
        "key.pem.b64": base64(ec.export({ type: "pkcs8", format: "pem" })),
        "key.p8": base64(ec.export({ type: "pkcs8", format: "der" })),
        "key-encrypted.p8": base64(
            ec.export({ type: "pkcs8", format: "der", cipher: "aes-256-cbc", passphrase: "not a secret" }),
        ),
        "ed25519-v2.p8": base64(Buffer.concat([Buffer.from([0x30, v2Body.length]), v2Body])),
        "rsa-pkcs1.der": wrapped(base64(rsa.export({ type: "pkcs1", format: "der" })), 64, "\r\n"),
        "ec-sec1.der": base64(ec.export({ type: "sec1", format: "der" })),
        "client.p12": wrapped(pkcs12Base64, 76, "\n"),
        "client-url.p12": Buffer.from(pkcs12Base64, "base64").toString("base64url"),
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
    };
}

describe("Policy pack", function () {
    this.timeout(60_000);
    let real: Resource[];
    let outputs: Record<string, unknown>;
    const named = (name: string) => real.find((r) => r.name === name) as Resource;

    before(async () => {
        const run = await runWithStandIn(() => buildPki(planFromRawConfig(loadStackFile(OPTION_FILES[1]))).outputs, {
            state: sharedStateWithSuiteKeys(),
        });
        real = fromEngine(run.engine.resources);
        outputs = run.outputs as unknown as Record<string, unknown>;
        keys = keyFiles(bundle("ob").pkcs12Base64);
        notKeys = notKeyFiles(named("ob-apic-client-csr").state?.certRequestPem as string);
    });

    /** An APIC client bundle of the stack's outputs, as ApicClientBundle makes it (its PKCS#12 by lib/pki/pkcs12). */
    const bundle = (id: string) => (outputs.apicBundles as Record<string, Record<string, string>>)[id];
    let keys: Record<string, string>;
    let notKeys: Record<string, string>;

    it("holdsPrivateKey: finds real keys as PEM, base64 PEM and base64 DER (PKCS#8, encrypted, PKCS#1, SEC1, PKCS#12), nothing else", () => {
        const found = (files: Record<string, string>) => Object.keys(files).filter((f) => holdsPrivateKey(files[f]));
        assert.deepStrictEqual(found(keys), Object.keys(keys));
        assert.deepStrictEqual(found(notKeys), []);
        // A value is parsed only when it is plausibly base64 DER, and a long one not at all.
        assert.strictEqual(holdsPrivateKey(""), false);
        assert.strictEqual(holdsPrivateKey("M".repeat(100)), false);
        assert.strictEqual(holdsPrivateKey(`${keys["key.p8"]}${"A".repeat(64 * 1024)}`), false);
    });

    it("accepts every resource the stack program registers", () => {
        for (const p of POLICIES) {
            if ("validateResource" in p) {
                for (const r of real) assert.deepStrictEqual(checkResource(p, r), [], `${p.name} on ${r.name}`);
            }
        }
        assert.deepStrictEqual(checkStack(caKeyStrengthPolicy, real), []);
        assert.deepStrictEqual(checkStack(separateTrustDomainsPolicy, real), []);
    });

    it("checks the front end: UI client keys belong in the namespaces listed, the UI client root is a domain of its own", async () => {
        const run = await runWithStandIn(
            () => buildPki(planFromRawConfig(loadStackFile("examples/front-end/Pulumi.front-end.yaml"))).outputs,
            { state: sharedStateWithSuiteKeys() },
        );
        const frontEnd = fromEngine(run.engine.resources);
        const secrets = frontEnd.filter((r) => r.type === "kubernetes:core/v1:Secret");
        const violations = (config: Record<string, unknown>) =>
            secrets.flatMap((r) => checkResource(keySecretPolicy, r, config));
        // Sorted: the Secrets register when their certificates are issued, in no fixed order.
        assert.deepStrictEqual(violations({}).sort(), [
            "apic-client-authentication-ui: a private key (tls.key) in namespace ob-ui; keys belong only in istio-system",
            "apic-client-consumer-dashboard: a private key (tls.key) in namespace ob-ui; keys belong only in istio-system",
        ]);
        assert.deepStrictEqual(violations({ keySecretNamespaces: ["istio-system", "ob-ui"] }), []);
        assert.deepStrictEqual(checkStack(separateTrustDomainsPolicy, frontEnd), []);
        for (const p of POLICIES.filter((x) => "validateResource" in x && x !== keySecretPolicy)) {
            for (const r of frontEnd)
                assert.deepStrictEqual(
                    checkResource(p as policy.ResourceValidationPolicy, r),
                    [],
                    `${p.name} on ${r.name}`,
                );
        }
    });

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
        assert.deepStrictEqual(checkStack(separateTrustDomainsPolicy, shared), [
            "root-ca-cert: one root signs the CAs of apic-client-ca, gateway-server-ca, the mesh, so a key of one trust domain (e.g. the mesh CA key in every cluster's cacerts) " +
                "could mint certificates the others trust. Give each its own root (pki:trustDomains: separate), or accept the weaker guarantee with allowSharedRoot: true",
        ]);
        assert.deepStrictEqual(checkStack(separateTrustDomainsPolicy, shared, { allowSharedRoot: true }), []);
    });

    it("private-key-strength: refuses RSA below 2048 and ECDSA left on the P-224 default", () => {
        assert.deepStrictEqual(
            checkResource(keyStrengthPolicy, { ...named("ob-apic-client-key"), props: { algorithm: "ECDSA" } }),
            [
                "ob-apic-client-key: ECDSA P224 is too weak; use RSA 2048+ or ECDSA P256+ (set ecdsaCurve: the default is P224)",
            ],
        );
        assert.strictEqual(
            checkResource(keyStrengthPolicy, {
                ...named("ob-apic-client-key"),
                props: { algorithm: "RSA", rsaBits: 1024 },
            }).length,
            1,
        );
        assert.deepStrictEqual(
            checkResource(keyStrengthPolicy, {
                ...named("ob-apic-client-key"),
                props: { algorithm: "ECDSA", ecdsaCurve: "P256" },
            }),
            [],
        );
    });

    it("ca-key-strength: refuses a CA whose key is RSA 2048", () => {
        const weakened = real.map((r) =>
            r.name === "apic-client-ca-key" ? { ...r, props: { ...r.props, rsaBits: 2048 } } : r,
        );
        assert.deepStrictEqual(checkStack(caKeyStrengthPolicy, weakened), [
            "apic-client-ca-cert: the CA key apic-client-ca-key is RSA 2048; CA keys must be RSA 3072+ or ECDSA P256+",
        ]);
    });

    it("leaf-max-validity: refuses a leaf past the maximum, and the maximum is configurable", () => {
        const leaf = named("ob-apic-client-cert");
        assert.deepStrictEqual(
            checkResource(leafValidityPolicy, { ...leaf, props: { ...leaf.props, validityPeriodHours: 400 * 24 } }),
            ["ob-apic-client-cert: a leaf valid 400 days exceeds the 398-day maximum; lower validityPeriodHours"],
        );
        assert.strictEqual(checkResource(leafValidityPolicy, leaf, { leafMaxDays: 300 }).length, 1);
        assert.deepStrictEqual(
            checkResource(leafValidityPolicy, named("client-root-ca-cert")),
            [],
            "CAs are not leaves",
        );
    });

    it("root-path-length: refuses a root with maxPathLength 0 or unset", () => {
        const root = named("client-root-ca-cert");
        for (const maxPathLength of [0, undefined]) {
            assert.deepStrictEqual(
                checkResource(rootPathLengthPolicy, { ...root, props: { ...root.props, maxPathLength } }),
                [
                    `client-root-ca-cert: maxPathLength ${String(maxPathLength)} sets no limit (0 and unset both mean none in @pulumi/tls); set 1`,
                ],
            );
        }
    });

    it("certificate-usages: refuses a CA without crl_signing, a signing leaf, and a leaf that is both server and client", () => {
        const ca = named("apic-client-ca-cert");
        const leaf = named("ob-apic-client-cert");
        assert.deepStrictEqual(
            checkResource(certificateUsagePolicy, { ...ca, props: { ...ca.props, allowedUses: ["cert_signing"] } }),
            ["apic-client-ca-cert: a CA certificate needs crl_signing"],
        );
        assert.deepStrictEqual(
            checkResource(certificateUsagePolicy, {
                ...leaf,
                props: { ...leaf.props, allowedUses: ["digital_signature", "cert_signing", "client_auth"] },
            }),
            ["ob-apic-client-cert: a leaf must not have cert_signing"],
        );
        assert.deepStrictEqual(
            checkResource(certificateUsagePolicy, {
                ...leaf,
                props: { ...leaf.props, allowedUses: ["digital_signature", "server_auth", "client_auth"] },
            }),
            [
                "ob-apic-client-cert: a leaf needs exactly one of server_auth and client_auth; has server_auth, client_auth",
            ],
        );
    });

    it("private-key-secrets: refuses a key in an Opaque secret of an application namespace", () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const moved = { ...gatewaySecret.props, type: "Opaque", metadata: { name: "leaked", namespace: "ob" } };
        assert.deepStrictEqual(checkResource(keySecretPolicy, { ...gatewaySecret, props: moved }), [
            "leaked: a private key (tls.key) in namespace ob; keys belong only in istio-system",
            "leaked: a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts)",
        ]);
        assert.deepStrictEqual(
            checkResource(keySecretPolicy, named("mesh-ca-example-cacerts")),
            [],
            "Istio's cacerts is expected",
        );
    });

    it("private-key-secrets: checks a SecretPatch as the Secret it writes into (its type only when the patch sets one)", () => {
        const gatewaySecret = named("ob-gateway-ob-tls");
        const patch = (type: string | undefined, namespace: string) =>
            checkResource(keySecretPolicy, {
                ...gatewaySecret,
                type: "kubernetes:core/v1:SecretPatch",
                props: { ...gatewaySecret.props, type, metadata: { name: "patched", namespace } },
            });
        assert.deepStrictEqual(patch(undefined, "ob"), [
            "patched: a private key (tls.key) in namespace ob; keys belong only in istio-system",
        ]);
        assert.deepStrictEqual(patch("Opaque", "istio-system"), [
            "patched: a private key (tls.key) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts)",
        ]);
        assert.deepStrictEqual(
            patch(undefined, "istio-system"),
            [],
            "the patched Secret's own type is not in the patch",
        );
    });

    it("private-key-secrets: finds a key in any encoding, in data (DER or text) and stringData, and names its entries", () => {
        const secret = (type: string, namespace: string, data?: object, stringData?: object) =>
            checkResource(keySecretPolicy, {
                type: "kubernetes:core/v1:Secret",
                name: "keystore",
                props: { type, metadata: { name: "keystore", namespace }, data, stringData },
            });
        const refused = (entries: string) => [
            `keystore: a private key (${entries}) in namespace ob; keys belong only in istio-system`,
            `keystore: a private key (${entries}) in a secret of type Opaque; use kubernetes.io/tls (or Istio's cacerts)`,
        ];
        const files = { ...notKeys, ...keys };
        // data holds a file's bytes in base64: the base64 files' decoded bytes (DER, or PEM), or any file's text.
        const base64Files = Object.entries(files).filter(([, text]) => !text.startsWith("-----"));
        const asBytes = Object.fromEntries(base64Files.map(([f, text]) => [f, base64(Buffer.from(text, "base64"))]));
        const asText = Object.fromEntries(Object.entries(files).map(([f, text]) => [f, base64(text)]));
        const base64Keys =
            "key.pem.b64, key.p8, key-encrypted.p8, ed25519-v2.p8, rsa-pkcs1.der, ec-sec1.der, client.p12, client-url.p12";
        const allKeys = `key.pem, key-lowercase.pem, ${base64Keys}`;
        assert.deepStrictEqual(secret("Opaque", "ob", asBytes), refused(base64Keys));
        assert.deepStrictEqual(secret("Opaque", "ob", asText), refused(allKeys));
        assert.deepStrictEqual(secret("Opaque", "ob", undefined, files), refused(allKeys));
        assert.deepStrictEqual(secret("Opaque", "ob", undefined, notKeys), []);
        assert.deepStrictEqual(secret("kubernetes.io/tls", "istio-system", asBytes), [], "a TLS secret where keys go");
    });

    it("no-private-key-configmaps: refuses a ConfigMap (or its patch) holding a key in data or binaryData, by entry", () => {
        const configMap = (type: string, data: object, binaryData: object) =>
            checkResource(keyConfigMapPolicy, {
                type,
                name: "apic-config",
                props: { metadata: { name: "apic-config", namespace: "ob" }, data, binaryData },
            });
        const ob = bundle("ob");
        // A consumer's ConfigMap for APIC: certificates, CRL and truststore may be there, the key and keystore not.
        const data = { "truststore.pem": ob.truststorePem, "client.crt": ob.certPem, ...notKeys };
        const binaryData = { "ca.der": notKeys["ca.der"], "ca.crl": notKeys["ca.crl"] };
        const leaked = {
            data: { ...data, "client.key": ob.privateKeyPem, "client-key.der": keys["ec-sec1.der"] },
            binaryData: { ...binaryData, "client.p12": ob.pkcs12Base64, "key.pem": base64(keys["key.pem"]) },
        };
        for (const type of ["kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ConfigMapPatch"]) {
            assert.deepStrictEqual(configMap(type, leaked.data, leaked.binaryData), [
                "apic-config: a private key in a ConfigMap (data client.key, data client-key.der, binaryData client.p12, binaryData key.pem), " +
                    "which is not secret; keep keys in a kubernetes.io/tls Secret (or Istio's cacerts)",
            ]);
            assert.deepStrictEqual(configMap(type, data, binaryData), []);
        }
    });

    it("is a runnable pack: PulumiPolicy.yaml and a package main that the build produces", () => {
        assert.strictEqual(
            YAML.parse(fs.readFileSync(path.join(ROOT, "policy/PulumiPolicy.yaml"), "utf8")).runtime,
            "nodejs",
        );
        const main = JSON.parse(fs.readFileSync(path.join(ROOT, "policy/package.json"), "utf8")).main;
        assert.ok(fs.existsSync(path.join(ROOT, "policy", main)), `${main} exists after npm run build`);
        assert.deepStrictEqual(POLICIES.map((p) => p.name).sort(), [
            "ca-key-strength",
            "certificate-usages",
            "leaf-max-validity",
            "no-private-key-configmaps",
            "private-key-secrets",
            "private-key-strength",
            "root-path-length",
            "separate-trust-domains",
        ]);
    });
});
