import * as assert from "assert";
import { rawConfigFromEngine } from "../lib/config/load";
import { ConfigError, validateConfig } from "../lib/config/validate";
import { runWithStandIn } from "../lib/engine/standIn";
import { planFromRawConfig } from "../lib/plan/plan";
import { buildPki, updateWarnings } from "../lib/stack";
import { diffPlans } from "../lib/inventory/diff";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide } from "../lib/lifecycle/rules";
import { deployedRecordOf } from "../lib/render/render";
import { loadStackFile, newStackState, OPTION_FILES, planProblems, renderNext } from "./helpers";

const VALID = {
    environment: "dev",
    option: 3,
    baseDomain: "dev.api.bank.example",
    domains: {
        ob: {
            services: ["accounts", "ob-payee", "ob-productsv2"],
            groups: { core: ["accounts", "ob-payee"], products: ["ob-productsv2"] },
        },
        dp: { services: ["party-canonical"], groups: { canonical: ["party-canonical"] } },
    },
};

/**
 * Runs the stack program on raw config; returns the error and how many resources reached the
 * engine once every registration the SDK had begun was done.
 */
async function attempt(raw: Record<string, unknown>): Promise<{ error: unknown; registered: number }> {
    let error: unknown;
    const { engine } = await runWithStandIn(() => {
        try {
            buildPki(planFromRawConfig(raw));
        } catch (err) {
            error = err;
        }
    });
    return { error, registered: engine.resources.length };
}

const long = (n: number): string => "a".repeat(n);

const CASES: [string, Record<string, unknown>, string][] = [
    ["option 4", { ...VALID, option: 4 }, "pki:option must be 1, 2 or 3; got 4"],
    ["option as text", { ...VALID, option: "two" }, 'pki:option must be 1, 2 or 3; got "two"'],
    [
        "no option",
        { ...VALID, option: undefined },
        "pki:option is required; set it to 1 (one host per domain), 2 (one per microservice) or 3 (one per group)",
    ],
    [
        "no baseDomain",
        { ...VALID, baseDomain: undefined },
        'pki:baseDomain is required; set it to the DNS name under which the hosts live, e.g. "dev.api.bank.example"',
    ],
    [
        "no environment",
        { ...VALID, environment: undefined },
        'pki:environment is required; set it to the environment name, e.g. "dev"',
    ],
    [
        "no domains",
        { ...VALID, domains: undefined },
        "pki:domains is required; map each domain to its services, e.g. { ob: { services: [accounts] } }",
    ],
    [
        "baseDomain not a DNS name",
        { ...VALID, baseDomain: "api_bank.example" },
        `pki:baseDomain "api_bank.example" has the label "api_bank"; labels are lower-case letters, digits and '-', not starting or ending with '-'`,
    ],
    [
        "baseDomain label over 63",
        { ...VALID, baseDomain: `${long(64)}.example` },
        `pki:baseDomain "${long(64)}.example" has the label "${long(64)}" of 64 characters; a label has at most 63`,
    ],
    [
        "host over 253 characters",
        { ...VALID, baseDomain: [long(60), long(60), long(60), long(60)].join("."), domains: { ob: VALID.domains.ob } },
        `pki:domains.ob.groups.products makes the host "products.ob.${[long(60), long(60), long(60), long(60)].join(".")}", which is 255 characters long; a DNS name has at most 253. Use a shorter name or pki:baseDomain`,
    ],
    [
        "service listed twice",
        {
            ...VALID,
            domains: {
                ...VALID.domains,
                dp: { services: ["party-canonical", "party-canonical"], groups: { canonical: ["party-canonical"] } },
            },
        },
        `pki:domains.dp.services lists "party-canonical" twice; list each service once`,
    ],
    [
        "service in no group",
        {
            ...VALID,
            domains: { ...VALID.domains, ob: { ...VALID.domains.ob, groups: { core: ["accounts", "ob-payee"] } } },
        },
        `pki:domains.ob.groups leaves "ob-productsv2" in no group; with pki:option 3 every service must be in exactly one group`,
    ],
    [
        "service in two groups",
        {
            ...VALID,
            domains: {
                ...VALID.domains,
                ob: {
                    ...VALID.domains.ob,
                    groups: { core: ["accounts", "ob-payee"], products: ["ob-productsv2", "accounts"] },
                },
            },
        },
        `pki:domains.ob.groups: "accounts" is in both "core" and "products"; put each service in exactly one group`,
    ],
    [
        "group naming an unknown service",
        {
            ...VALID,
            domains: {
                ...VALID.domains,
                dp: { services: ["party-canonical"], groups: { canonical: ["party-canonical", "parties"] } },
            },
        },
        `pki:domains.dp.groups.canonical names "parties", which is not in pki:domains.dp.services; add it there or fix the name`,
    ],
    [
        "two endpoints on one host",
        { ...VALID, option: 2, domains: { ob: { services: ["Accounts", "accounts"] } } },
        `pki:domains.ob.services[1] and pki:domains.ob.services[0] both resolve to the host "accounts.ob.dev.api.bank.example"; every endpoint needs its own host. Rename one of them`,
    ],
    [
        "two endpoints with one name",
        { ...VALID, option: 2, domains: { ob: { services: ["x-y"] }, "ob-x": { services: ["y"] } } },
        `pki:domains.ob-x.services[0] and pki:domains.ob.services[0] both give the endpoint name "ob-x-y" (used in secret and resource names). Rename one of them`,
    ],
    [
        // Istio reads a Secret <name>-cacert as the client CA of the Secret <name>: accounts-cacert's
        // Secret would replace the client trust of accounts'.
        "a service whose endpoint Secret ends in -cacert",
        { ...VALID, option: 2, domains: { ob: { services: ["accounts", "Accounts-CACert"] } } },
        `pki:domains.ob.services[1] "Accounts-CACert" names the endpoint's Secret "apic-mtls-ob-accounts-cacert", which ends in -cacert: Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "apic-mtls-ob-accounts" in its namespace. Use a name that does not end in -cacert`,
    ],
    [
        "a group whose endpoint Secret ends in -cacert",
        { ...VALID, domains: { ob: { services: ["accounts"], groups: { "core-cacert": ["accounts"] } } } },
        `pki:domains.ob.groups.core-cacert "core-cacert" names the endpoint's Secret "apic-mtls-ob-core-cacert", which ends in -cacert: Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "apic-mtls-ob-core" in its namespace. Use a name that does not end in -cacert`,
    ],
    [
        "a domain whose endpoint Secret ends in -cacert",
        { ...VALID, option: 1, domains: { ob: { services: ["accounts"] }, "ob-cacert": { services: ["payee"] } } },
        `pki:domains.ob-cacert "ob-cacert" names the endpoint's Secret "apic-mtls-ob-cacert", which ends in -cacert: Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "apic-mtls-ob" in its namespace. Use a name that does not end in -cacert`,
    ],
    [
        "two endpoints with one resource name",
        {
            ...VALID,
            option: 2,
            domains: { ob: { services: ["q-gateway-ob-gateway-ob-q-t"] }, "ob-gateway-ob-q": { services: ["t"] } },
        },
        `pki:domains.ob-gateway-ob-q.services[0] and pki:domains.ob.services[0] both name their endpoint's server key, certificate and Secret ` +
            `"ob-gateway-ob-q-gateway-ob-gateway-ob-q-t" in Pulumi (<domain>-gateway-<endpoint name>), which cannot register a name twice. Rename one of them`,
    ],
    [
        "domain with no services",
        { ...VALID, domains: { ...VALID.domains, dp: { services: [], groups: {} } } },
        `pki:domains.dp.services must list at least one microservice; got []. Add the domain's services or remove the domain`,
    ],
    [
        "unknown key algorithm",
        { ...VALID, keyAlgorithm: "DSA" },
        `pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got "DSA". Weaker keys (RSA < 2048, P-224) are not offered`,
    ],
    [
        "leaf outlives intermediate",
        { ...VALID, validityDays: { intermediate: 300, leaf: 365 } },
        "pki:validityDays.leaf (365) is longer than pki:validityDays.intermediate (300); a certificate cannot outlive its issuer. Lower leaf or raise intermediate",
    ],
    [
        "intermediate outlives root",
        { ...VALID, validityDays: { root: 1000, intermediate: 1095 } },
        "pki:validityDays.intermediate (1095) is longer than pki:validityDays.root (1000); a certificate cannot outlive its issuer. Lower intermediate or raise root",
    ],
    [
        "two clusters on the current context",
        { ...VALID, clusters: ["east", "west"] },
        `pki:clusters: "east" and "west" would all use the current kubeconfig context and overwrite each other's cacerts; give each a context, e.g. { name: west, context: west }`,
    ],
    [
        "two clusters on one context",
        {
            ...VALID,
            clusters: [
                { name: "east", context: "prod-east" },
                { name: "west", context: "prod-east" },
            ],
        },
        `pki:clusters: "east" and "west" both use the kubeconfig context "prod-east", one cluster, and would overwrite each other's cacerts; give each cluster the context of its own cluster`,
    ],
    [
        "cluster listed twice",
        {
            ...VALID,
            clusters: [
                { name: "east", context: "a" },
                { name: "east", context: "b" },
            ],
        },
        `pki:clusters[1] "east" is listed twice; list each cluster once`,
    ],
    [
        "cluster name not a label",
        { ...VALID, clusters: [{ name: "East_1" }] },
        `pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got {"name":"East_1"}`,
    ],
    [
        "meshStrictMtls not a boolean",
        { ...VALID, meshStrictMtls: "yes" },
        `pki:meshStrictMtls must be true or false; got "yes"`,
    ],
    [
        "misspelt key",
        { ...VALID, basedomain: "x" },
        "pki:basedomain is not a known key; known keys are pki:environment, pki:option, pki:baseDomain, pki:organization, pki:domains, pki:clusters, pki:meshStrictMtls, pki:gatewayNamespace, pki:trustDomains, pki:keyAlgorithm, pki:caKeyAlgorithm, pki:validityDays, pki:earlyRenewalDays, pki:rotation, pki:caRotation, pki:revocations, pki:crlPeriodDays, pki:meshFinishAfterHours, pki:offlineRoots, pki:pkcs12Profile, pki:pkcs12Iterations, pki:frontEnd. Fix the spelling or remove it",
    ],
];

describe("Invalid stack config stops the program before any resource is registered", () => {
    for (const [title, raw, message] of CASES) {
        it(`${title}: names the key, the bad value and the fix`, async () => {
            const { error, registered } = await attempt(raw);
            assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
            assert.deepStrictEqual(error.problems, [message]);
            assert.strictEqual(registered, 0);
        });
    }

    it("reports every problem of a config at once", () => {
        assert.throws(
            () => validateConfig({ ...VALID, option: 9, keyAlgorithm: "DSA", environment: "Dev" }),
            (err: ConfigError) =>
                err.problems.length === 3 && /pki:environment/.test(err.message) && /pki:option/.test(err.message),
        );
    });

    it("reports the endpoints and dates revocations and rotation name beside the other keys' problems, once pki:domains is valid", () => {
        const now = new Date("2027-01-04T12:00:00Z");
        const revocations = [
            { endpoint: "ob-core", serial: "XYZ", revokedAt: "2026-01-01" },
            { endpoint: "db", serial: "AB", revokedAt: "2099-01-01" },
        ];
        const rotation = { endpoints: { "ob-cor": { serverEpoch: 1 } } };
        const future =
            "pki:revocations[0].revokedAt 2099-01-01 is in the future (now is 2027-01-04T12:00:00.000Z); give the time the certificate was revoked, at the latest 2027-01-04T11:55:00.000Z (5 minutes before now)";
        assert.deepStrictEqual(planProblems({ ...VALID, keyAlgorithm: "rsa", revocations, rotation }, { now }), [
            'pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got "rsa". Weaker keys (RSA < 2048, P-224) are not offered',
            `pki:revocations[0].serial must be the certificate's serial number in hex (as expiry prints it); got "XYZ"`,
            future.replace("[0]", "[1]"),
            'pki:revocations[1].endpoint "db" is not an endpoint of this stack; its endpoints are dp-canonical, ob-core, ob-products',
            "pki:rotation.endpoints.ob-cor is not an endpoint of this stack; its endpoints are dp-canonical, ob-core, ob-products",
        ]);
        // Without valid domains and option the endpoints are unknown: no name is called unknown.
        const withDomains = (domains: unknown, option = 3) =>
            planProblems({ ...VALID, option, domains, revocations: [revocations[1]], rotation }, { now });
        assert.deepStrictEqual(withDomains({ ob: { services: [] } }), [
            future,
            "pki:domains.ob.services must list at least one microservice; got []. Add the domain's services or remove the domain",
        ]);
        assert.deepStrictEqual(withDomains(VALID.domains, 4), ["pki:option must be 1, 2 or 3; got 4", future]);
    });
});

describe("Valid stack config", () => {
    it("fills the documented defaults", () => {
        const config = validateConfig(VALID);
        assert.deepStrictEqual(
            {
                clusters: config.clusters,
                meshStrictMtls: config.meshStrictMtls,
                gatewayNamespace: config.gatewayNamespace,
                keyAlgorithm: config.keyAlgorithm,
                caKeyAlgorithm: config.caKeyAlgorithm,
                validityDays: config.validityDays,
                obNamespace: config.domains.ob.namespace,
                organization: config.organization,
            },
            {
                clusters: [{ name: "default" }],
                meshStrictMtls: false,
                gatewayNamespace: "istio-system",
                keyAlgorithm: "RSA",
                caKeyAlgorithm: "RSA",
                validityDays: { root: 3650, intermediate: 1095, leaf: 365 },
                obNamespace: "ob",
                organization: undefined,
            },
        );
    });

    it("reads what `pulumi config set` stores: numbers and maps as text", () => {
        const raw = rawConfigFromEngine({
            "pki:environment": "sit",
            "pki:option": "2",
            "pki:baseDomain": "sit.api.bank.example",
            "pki:domains": JSON.stringify({ dp: { services: ["party-canonical"] } }),
            "kubernetes:context": "ignored",
        });
        const config = validateConfig({
            ...raw,
            ...rawConfigFromEngine({
                "pki:clusters": JSON.stringify(["east", { name: "west", context: "bank-west" }]),
                "pki:meshStrictMtls": "true",
            }),
        });
        assert.deepStrictEqual(config.clusters, [{ name: "east" }, { name: "west", context: "bank-west" }]);
        assert.strictEqual(config.meshStrictMtls, true);
        assert.strictEqual(config.option, 2);
        assert.deepStrictEqual(config.domains.dp.services, ["party-canonical"]);
    });

    it("accepts every shipped stack and example file", () => {
        for (const file of [
            "stacks/Pulumi.dev.yaml",
            "stacks/Pulumi.sit.yaml",
            "stacks/Pulumi.prod.yaml",
            ...Object.values(OPTION_FILES),
        ]) {
            const plan = planFromRawConfig(loadStackFile(file));
            assert.ok(plan.endpoints.length > 0, file);
        }
        for (const stack of ["dev", "sit", "prod"]) {
            const config = validateConfig(loadStackFile(`stacks/Pulumi.${stack}.yaml`));
            assert.strictEqual(config.option, 1, `${stack} is on Option 1 (seed 000's current set-up)`);
            assert.strictEqual(config.domains.ob.services.length, 17);
            assert.strictEqual(config.domains.dp.services.length, 7);
        }
    });
});

describe("Names Object.prototype has (constructor, toString, hasOwnProperty, valueOf)", function () {
    this.timeout(60_000);
    // A plain object's lookup finds them on Object.prototype: a function, not undefined.
    const SERVICES = ["toString", "hasOwnProperty", "valueOf", "constructor"];
    /** Domains, groups and clusters are lower case (constructor); services need not be. */
    const named = (option: 1 | 2 | 3, more: Record<string, unknown> = {}): Record<string, unknown> => ({
        environment: "proto",
        option,
        baseDomain: "proto.api.bank.example",
        clusters: ["constructor"],
        keyAlgorithm: "ECDSA",
        domains: {
            constructor: { services: SERVICES, groups: { constructor: SERVICES } },
            ob: { services: ["accounts"], groups: { core: ["accounts"] } },
        },
        ...more,
    });

    it("are domains, services, groups, clusters and endpoints like any other: plan, render, diff and the lifecycle", async () => {
        assert.deepStrictEqual(
            ([1, 2, 3] as const).map((option) => planFromRawConfig(named(option)).endpoints.map((e) => e.id)),
            [
                ["constructor", "ob"],
                [
                    "constructor-tostring",
                    "constructor-hasownproperty",
                    "constructor-valueof",
                    "constructor-constructor",
                    "ob-accounts",
                ],
                ["constructor-constructor", "ob-core"],
            ],
        );
        // The first update, against a record that has no endpoint yet; the second against its record.
        const state = newStackState();
        const first = await renderNext(named(1), "proto-first", state);
        // What render and pulumi up warn of reads the record too (certificates on it that expired).
        assert.deepStrictEqual(updateWarnings(first.plan), []);
        const raised = named(1, { rotation: { endpoints: { constructor: { serverEpoch: 1 } } } });
        const second = await renderNext(raised, "proto-second", state);
        assert.deepStrictEqual(
            second.plan.endpoints.map((e) => [e.id, e.server.epoch]),
            [
                ["constructor", 1],
                ["ob", 0],
            ],
        );
        // Read as a Map: record.servers.constructor would be Object's own constructor to TypeScript.
        const own = <T>(record: Readonly<Record<string, T>> | undefined) => new Map(Object.entries(record ?? {}));
        const record = deployedRecordOf(state);
        assert.deepStrictEqual(
            [
                [...own(record.clients).keys()],
                [...own(record.servers).keys()],
                own(record.servers).get("constructor")?.epoch,
            ],
            [["constructor", "ob"], ["constructor", "ob"], 1],
        );
        // The domain removed: the record keeps its certificates until they expire, as any other's.
        const onlyOb = { ...named(1), domains: { ob: { services: ["accounts"] } } };
        await renderNext(onlyOb, "proto-third", state);
        const after = deployedRecordOf(state);
        assert.deepStrictEqual(
            [own(after.clients).get("constructor"), own(after.servers).get("constructor")],
            [own(record.clients).get("constructor"), own(record.servers).get("constructor")],
        );
        assert.deepStrictEqual(
            diffPlans(first.plan, planFromRawConfig(onlyOb)).risks.map((r) => [r.key, r.change]),
            [["pki:domains.constructor", "drops 1 host: constructor.proto.api.bank.example"]],
        );
        const decision = decide({
            config: second.plan.config,
            deployed: readDeployed(second.dir),
            now: new Date(Date.now() + 300 * 86_400_000),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            decision.proposals
                .filter((p) => p.subject.startsWith("constructor/"))
                .map((p) => p.edits.map((e) => [e.path.join("."), e.from, e.to])),
            [
                [["pki:rotation.endpoints.constructor.serverEpoch", 1, 2]],
                [
                    ["pki:rotation.endpoints.constructor.clientEpoch", 0, 1],
                    ["pki:rotation.endpoints.constructor.clientPhase", undefined, "switch"],
                ],
            ],
        );
    });

    it("takes an organization written with a zero-width non-joiner (Persian); a message shows it escaped", () => {
        const organization = "بانک\u200cهای ملی";
        const plan = planFromRawConfig({ ...named(1), organization, domains: { ob: { services: ["accounts"] } } });
        assert.strictEqual(plan.config.organization, organization);
        assert.strictEqual(
            planProblems({
                ...named(1),
                organization: `${organization}\u200b`,
                domains: { ob: { services: ["a"] } },
            })[0],
            `pki:organization must not contain control characters (it becomes the subject O of every certificate); got "بانک\\u200cهای ملی\\u200b"`,
        );
    });

    it("refuses an organization with a lone surrogate, which UTF-8 writes as U+FFFD into every certificate", () => {
        assert.deepStrictEqual(
            planProblems({ ...named(1), organization: "Bank \ud800x", domains: { ob: { services: ["accounts"] } } }),
            [
                'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Bank \\ud800x"',
            ],
        );
    });

    it("name no endpoint where none has them, as any other name", () => {
        const problems = planProblems({
            ...named(1),
            domains: { ob: { services: ["accounts"] } },
            // As Pulumi passes a map: JSON text, where "__proto__" is a key like any other.
            rotation: '{"endpoints":{"__proto__":{"serverEpoch":1},"constructor":{"serverEpoch":1}}}',
            revocations: [
                { endpoint: "toString", serial: "01", epoch: 0, reason: "keyCompromise", revokedAt: "2026-01-01" },
            ],
        });
        assert.deepStrictEqual(problems, [
            'pki:revocations[0].endpoint "toString" is not an endpoint of this stack; its endpoints are ob',
            "pki:rotation.endpoints.__proto__ is not an endpoint of this stack; its endpoints are ob",
            "pki:rotation.endpoints.constructor is not an endpoint of this stack; its endpoints are ob",
        ]);
    });
});
