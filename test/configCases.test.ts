/**
 * Stack files as render reads them and as `pulumi up` hands them to the program: a large table
 * of invalid files (every key and member of the README's "Stack configuration" table, and the
 * YAML traps between a file and the program's strings), each refused with its exact messages
 * before anything is planned or registered; the same strings and verdicts on the engine path.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tls from "tls";
import * as pulumi from "@pulumi/pulumi";
import { rawConfigFromEngine, rawConfigFromStackFile, stackFileConfig } from "../lib/config/load";
import {
    ConfigError,
    MAX_COMMON_NAME_LENGTH,
    MAX_ENVIRONMENT_AND_CLUSTER_LENGTH,
    MAX_ENVIRONMENT_LENGTH,
    MAX_GENERATION,
    validateConfig,
} from "../lib/config/validate";
import { PkiConfig } from "../lib/config/types";
import { EngineStandIn } from "../lib/engine/standIn";
import { withoutPrivateKeys } from "../lib/config/values";
import { createRoot, encryptRootKey } from "../lib/pki/ceremony";
import { pastedPrivateKey } from "../lib/pki/pem";
import { buildPkcs12 } from "../lib/pki/pkcs12";
import { planCas, planFromRawConfig } from "../lib/plan/plan";
import { buildPki } from "../lib/stack";
import { cli, emptyCrlOf, tempDir } from "./helpers";
import { TEST_ONLY_CA_CERT_PEM, TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";

/** A valid stack; each case changes some keys (a YAML value, or null to leave the key out). */
const BASE: Record<string, string> = {
    environment: "dev",
    option: "1",
    baseDomain: "dev.api.bank.example",
    domains: "{ ob: { services: [accounts] } }",
};
type Overrides = Record<string, string | null>;
/** The reasons pki:revocations takes: RFC 5280's but certificateHold, cACompromise and aACompromise. */
const LEAF_REASONS =
    "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn";

const a = (n: number): string => "a".repeat(n);
/** How a message shows a text over 200 characters (describedValue), computed here apart from it. */
const described = (text: string): string =>
    `(${text.length} characters, SHA-256 ${crypto.createHash("sha256").update(text).digest("hex").slice(0, 12)}, not shown)`;

/** Why a customer-facing gateway's namespace is refused, and the fix, with the namespaces refused. */
const gatewayNamespaceWhy = (refused: string, backendAllowed = true): string =>
    "an ingress gateway's account reads every Secret of its namespace (it serves its credentialName Secrets from there), " +
    `so the internet-facing gateway could read them. Give the customer-facing gateway a namespace of its own (not ${refused}), e.g. istio-ingress-public` +
    (backendAllowed
        ? ", or leave pki:frontEnd.customerFacingGateway out to serve the customer-facing hosts from the backend gateway"
        : "");
const backendServes = (namespace: string, holds: string): string =>
    `pki:frontEnd.customerFacing serves "www.dev.bank.example" from the backend gateway (pki:frontEnd.customerFacingGateway is not set), whose namespace, pki:gatewayNamespace "${namespace}", is the namespace of ${holds}: ` +
    "an ingress gateway's account reads every Secret of its namespace (it serves its credentialName Secrets from there), so the internet-facing gateway could read them. " +
    `Give pki:frontEnd.customerFacingGateway a namespace of its own and its pods' labels, e.g. { namespace: istio-ingress-public, selector: { istio: public-ingressgateway } }, or move pki:gatewayNamespace out of ${namespace}`;
/** A DNS name of `length` (201 to 253) characters: three 63-character labels, one more and "example". */
const longHost = (length: number): string => `${a(63)}.${a(63)}.${a(63)}.${a(length - 200)}.example`;

/**
 * `$ROOT` stands for a real self-signed root certificate (a YAML double-quoted PEM),
 * `$ROOT_WITH_KEY` for that certificate followed by its private key, `$ROOT_WITH_BARE_KEY` by its
 * key's base64 without the BEGIN and END lines, `$ROOT_WITH_KEY_AS_CERT` by that base64 labelled
 * CERTIFICATE, `$ROOT_WITH_ENCRYPTED_KEY_END` by its key encrypted as the ceremony writes it,
 * without its BEGIN line, `$ROOT_WITH_BARE_ENCRYPTED_KEY` by that key's base64 alone, `$BOM_ROOT`
 * for it after a byte order mark (as `pulumi config set` writes one read from a file Notepad saved).
 */
function stackFileText(overrides: Overrides, root: { certPem: string; keyPem: string }): string {
    const lines = Object.entries({ ...BASE, ...overrides })
        .filter((entry): entry is [string, string] => entry[1] !== null)
        .map(
            ([key, value]) =>
                `  pki:${key}: ${value
                    // Encrypted only where asked: each encryption takes a tenth of a second.
                    .replaceAll("$ROOT_WITH_ENCRYPTED_KEY_END", () =>
                        JSON.stringify(root.certPem + withoutBeginLine(encryptRootKey(root.keyPem, PASSPHRASE))),
                    )
                    .replaceAll("$ROOT_WITH_BARE_ENCRYPTED_KEY", () =>
                        JSON.stringify(root.certPem + keyBody(encryptRootKey(root.keyPem, PASSPHRASE))),
                    )
                    .replaceAll("$ROOT_WITH_BARE_KEY", JSON.stringify(root.certPem + keyBody(root.keyPem)))
                    .replaceAll(
                        "$ROOT_WITH_KEY_AS_CERT",
                        JSON.stringify(
                            `${root.certPem}-----BEGIN CERTIFICATE-----\n${keyBody(root.keyPem)}-----END CERTIFICATE-----\n`,
                        ),
                    )
                    .replaceAll("$ROOT_WITH_KEY", JSON.stringify(root.certPem + root.keyPem))
                    .replaceAll("$BOM_ROOT", `"\\uFEFF${JSON.stringify(root.certPem).slice(1)}`)
                    .replaceAll("$ROOT", JSON.stringify(root.certPem))}`,
        );
    return `config:\n${lines.join("\n")}\n`;
}

/** A PEM private key's base64 lines, without its BEGIN and END lines. */
const keyBody = (keyPem: string): string => `${keyPem.trim().split("\n").slice(1, -1).join("\n")}\n`;
/** A PEM private key's base64 lines and its END line. */
const withoutBeginLine = (keyPem: string): string => `${keyPem.trim().split("\n").slice(1).join("\n")}\n`;
/** The passphrase of the root keys the cases encrypt. */
const PASSPHRASE = "correct horse battery staple";

/** For a stack file with no `$ROOT`. */
const NO_ROOT = { certPem: "", keyPem: "" };

/** [what is wrong, the keys it changes in BASE, every problem reported, in order]. */
/** A private key as a single line of base64 DER, and the first two lines of a PEM key's body: no BEGIN or END line. */
const BARE_KEY = crypto
    .generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "der" })
    .toString("base64");
const BARE_RSA_KEY_START = `${TEST_ONLY_CA_KEY_PEM.split("\n").slice(1, 3).join("\n")}\n`;
/** An encrypted private key (as the ceremony writes root.key.enc) as its base64 lines alone. */
const BARE_ENCRYPTED_KEY = keyBody(encryptRootKey(TEST_ONLY_CA_KEY_PEM, PASSPHRASE));
/** A PEM private key copied without its BEGIN line: its base64 lines and its END line. */
const KEY_WITHOUT_BEGIN_LINE = TEST_ONLY_CA_KEY_PEM.split("\n").slice(1).join("\n");

const CASES: [string, Overrides, string[]][] = [
    [
        "a private key pasted as the organization (messages reach logs and pull-request comments)",
        {
            organization: JSON.stringify(
                "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n",
            ),
        },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "(a private key, not shown)\\n"',
        ],
    ],
    [
        "a private key, cut short, as a service name",
        { domains: `{ ob: { services: [${JSON.stringify("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg")}] } }` },
        [
            "pki:domains.ob.services[0] must be a service name (letters, digits and '-'); got \"(a private key, not shown)\"",
        ],
    ],
    [
        "a private key copied without its BEGIN line, as the environment",
        {
            environment: JSON.stringify(
                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49\nAwEHBG0wawIBAQQgYnt7\n-----END PRIVATE KEY-----\n",
            ),
        },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"(a private key, not shown)\\n\"",
        ],
    ],
    [
        "a private key as one line of bare base64 (no PEM lines), as the environment",
        { environment: JSON.stringify(BARE_KEY) },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"(a private key, not shown)\"",
        ],
    ],
    [
        "the first lines of a private key's base64 (no PEM lines), as the environment",
        { environment: JSON.stringify(BARE_RSA_KEY_START) },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"(a private key, not shown)\\n\"",
        ],
    ],
    [
        "an encrypted private key's base64 (no PEM lines), as the environment",
        { environment: JSON.stringify(BARE_ENCRYPTED_KEY) },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"(a private key, not shown)\\n\"",
        ],
    ],
    [
        "a private key copied without its BEGIN line, as an item of a list given as the option (JSON writes its line breaks as \\n)",
        { option: `[${JSON.stringify(KEY_WITHOUT_BEGIN_LINE)}]` },
        ['pki:option must be 1, 2 or 3; got ["(a private key, not shown)\\n"]'],
    ],
    [
        "environment missing",
        { environment: null },
        ['pki:environment is required; set it to the environment name, e.g. "dev"'],
    ],
    [
        "environment with upper case",
        { environment: "Dev" },
        ["pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"Dev\""],
    ],
    [
        "environment with an underscore",
        { environment: "dev_1" },
        ["pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"dev_1\""],
    ],
    [
        "environment starting with '-'",
        { environment: "-dev" },
        ["pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"-dev\""],
    ],
    [
        "environment as a list",
        { environment: "[dev]" },
        ["pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got [\"dev\"]"],
    ],
    [
        "environment as a map",
        { environment: "{ name: dev }" },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got {\"name\":\"dev\"}",
        ],
    ],
    [
        "environment null",
        { environment: "null" },
        [
            'pki:environment is empty (YAML null, ~ and "" all reach the program as ""); set it to the environment name, e.g. "dev"',
        ],
    ],
    [
        "environment ~",
        { environment: "~" },
        [
            'pki:environment is empty (YAML null, ~ and "" all reach the program as ""); set it to the environment name, e.g. "dev"',
        ],
    ],
    [
        "environment empty text",
        { environment: '""' },
        [
            'pki:environment is empty (YAML null, ~ and "" all reach the program as ""); set it to the environment name, e.g. "dev"',
        ],
    ],
    [
        "environment set to nothing",
        { environment: "" },
        [
            'pki:environment is empty (YAML null, ~ and "" all reach the program as ""); set it to the environment name, e.g. "dev"',
        ],
    ],
    [
        "environment with a newline",
        { environment: '"dev\\n"' },
        ["pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"dev\\n\""],
    ],
    [
        "environment read as a timestamp",
        { environment: "2026-01-01" },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"2026-01-01 00:00:00 +0000 UTC\"",
        ],
    ],
    [
        "environment too long for the root CA's common name",
        { environment: `${a(40)}` },
        [
            `pki:environment "${a(40)}" is 40 characters; it goes into CA common names such as "${a(40)} gateway server root CA G99", which RFC 5280 limits to 64 characters, so it has at most 37. Use a shorter name`,
        ],
    ],
    [
        "environment of 64 characters",
        { environment: `${a(64)}` },
        [
            `pki:environment "${a(64)}" is 64 characters; it goes into CA common names such as "${a(64)} gateway server root CA G99", which RFC 5280 limits to 64 characters, so it has at most 37. Use a shorter name`,
        ],
    ],
    [
        "option missing",
        { option: null },
        ["pki:option is required; set it to 1 (one host per domain), 2 (one per microservice) or 3 (one per group)"],
    ],
    ["option 4", { option: "4" }, ["pki:option must be 1, 2 or 3; got 4"]],
    ["option 0", { option: "0" }, ["pki:option must be 1, 2 or 3; got 0"]],
    ["option as a word", { option: "two" }, ['pki:option must be 1, 2 or 3; got "two"']],
    ["option as a list", { option: "[2]" }, ["pki:option must be 1, 2 or 3; got [2]"]],
    ["option as a map", { option: "{ value: 2 }" }, ['pki:option must be 1, 2 or 3; got {"value":2}']],
    ["option with a leading space", { option: '" 2"' }, ['pki:option must be 1, 2 or 3; got " 2"']],
    ["option with a trailing space", { option: '"2 "' }, ['pki:option must be 1, 2 or 3; got "2 "']],
    ["option quoted with a leading zero", { option: '"02"' }, ['pki:option must be 1, 2 or 3; got "02"']],
    ["option 2.5", { option: "2.5" }, ["pki:option must be 1, 2 or 3; got 2.5"]],
    ["option true", { option: "true" }, ["pki:option must be 1, 2 or 3; got true"]],
    [
        "option null",
        { option: "null" },
        [
            'pki:option is empty (YAML null, ~ and "" all reach the program as ""); set it to 1 (one host per domain), 2 (one per microservice) or 3 (one per group)',
        ],
    ],
    ["option 08 (not octal, so the float 8)", { option: "08" }, ["pki:option must be 1, 2 or 3; got 8"]],
    [
        "option .inf",
        { option: ".inf" },
        ["pki:option is .inf, which Pulumi cannot pass (Go's encoding/json refuses it); write a number"],
    ],
    ["option -1", { option: "-1" }, ["pki:option must be 1, 2 or 3; got -1"]],
    [
        "baseDomain missing",
        { baseDomain: null },
        ['pki:baseDomain is required; set it to the DNS name under which the hosts live, e.g. "dev.api.bank.example"'],
    ],
    [
        "baseDomain with an underscore",
        { baseDomain: "api_bank.example" },
        [
            "pki:baseDomain \"api_bank.example\" has the label \"api_bank\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        "baseDomain with an all-numeric top-level label (Istio refuses such a host)",
        { baseDomain: "bank.123" },
        [
            'pki:baseDomain "bank.123" ends in the all-numeric label "123", which Istio refuses in a host (a top-level domain cannot be all-numeric); give the host\'s full DNS name',
        ],
    ],
    [
        "baseDomain with upper case",
        { baseDomain: "API.bank.example" },
        [
            "pki:baseDomain \"API.bank.example\" has the label \"API\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        "baseDomain with an empty label",
        { baseDomain: "bank..example" },
        [
            "pki:baseDomain \"bank..example\" has the label \"\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        "baseDomain with a trailing dot",
        { baseDomain: "bank.example." },
        [
            'pki:baseDomain "bank.example." ends with a dot: remove it (certificates and Istio name hosts without the root\'s dot)',
        ],
    ],
    [
        // DNS, certificates and Istio take an internationalized name as its punycode A-labels only.
        "baseDomain with a label beyond ASCII",
        { baseDomain: "api.bänk.example" },
        [
            'pki:baseDomain "api.bänk.example" has the label "bänk"; labels are lower-case letters, digits and \'-\', not starting or ending with \'-\'; write an internationalized name as its punycode A-labels: "api.xn--bnk-qla.example"',
        ],
    ],
    [
        "baseDomain with a label over 63",
        { baseDomain: `${a(64)}.example` },
        [`pki:baseDomain "${a(64)}.example" has the label "${a(64)}" of 64 characters; a label has at most 63`],
    ],
    [
        "baseDomain over 253 characters",
        { baseDomain: `${a(63)}.${a(63)}.${a(63)}.${a(62)}` },
        // Not shown: over 200 characters, a value may be a secret no pattern knows (a PKCS#12's base64).
        [
            `pki:baseDomain "${described(`${a(63)}.${a(63)}.${a(63)}.${a(62)}`)}" is 254 characters long; a DNS name has at most 253`,
        ],
    ],
    [
        "baseDomain as a list",
        { baseDomain: "[bank.example]" },
        ['pki:baseDomain must be a DNS name, not a list or map; got ["bank.example"]'],
    ],
    [
        "baseDomain null",
        { baseDomain: "null" },
        [
            'pki:baseDomain is empty (YAML null, ~ and "" all reach the program as ""); set it to the DNS name under which the hosts live, e.g. "dev.api.bank.example"',
        ],
    ],
    [
        "organization null",
        { organization: "null" },
        [
            'pki:organization is empty (YAML null, ~ and "" all reach the program as ""); set it to the subject O, e.g. "Example Bank", or remove the line to leave O out',
        ],
    ],
    [
        "organization blank",
        { organization: '"   "' },
        ['pki:organization must be a non-empty string (the subject O); got "   ". Remove it to leave O out'],
    ],
    [
        // Pasted from a document: YAML keeps the quote marks, and every certificate's O would show them.
        "organization in typographic quotes",
        { organization: "“Example Bank”" },
        [
            'pki:organization starts or ends with a typographic quote (“ ” ‘ ’), which would go into the subject O of every certificate; got "“Example Bank”". Remove the quotes; YAML needs none around this value, or use straight quotes',
        ],
    ],
    [
        "organization in typographic single quotes, inside straight ones",
        { organization: '"‘Example Bank’"' },
        [
            'pki:organization starts or ends with a typographic quote (“ ” ‘ ’), which would go into the subject O of every certificate; got "‘Example Bank’". Remove the quotes; YAML needs none around this value, or use straight quotes',
        ],
    ],
    [
        "organization with a tab",
        { organization: '"Example\\tBank"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example\\tBank"',
        ],
    ],
    [
        "organization with a newline",
        { organization: '"Example\\nBank"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example\\nBank"',
        ],
    ],
    [
        "organization with DEL",
        { organization: '"Example\\x7fBank"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example\\u007fBank"',
        ],
    ],
    [
        // A right-to-left override shows "Example Bank" while the certificate says otherwise (Trojan Source).
        "organization with a bidirectional override",
        { organization: '"Example \\u202eknaB"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example \\u202eknaB"',
        ],
    ],
    [
        // A zero-width space: "Example Bank" to the eye, other text in the certificate.
        "organization with a zero-width space",
        { organization: '"Example \\u200bBank"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example \\u200bBank"',
        ],
    ],
    [
        // An invisible tag character beyond U+FFFF: escaped as JSON writes it, in two UTF-16 units.
        "organization with a Unicode tag character",
        { organization: '"Example \\U000E0041Bank"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example \\udb40\\udc41Bank"',
        ],
    ],
    [
        // yaml.v3 reads the escape (a lone surrogate's it refuses); no font shows a noncharacter.
        "organization with a noncharacter",
        { organization: '"Example Bank\\uFFFE"' },
        [
            'pki:organization must not contain control characters (it becomes the subject O of every certificate); got "Example Bank\\ufffe"',
        ],
    ],
    [
        "organization over 64 characters",
        { organization: '"Example Bank Example Bank Example Bank Example Bank Example Bank "' },
        ["pki:organization is 65 characters; the subject O has at most 64 (RFC 5280 ub-organization-name). Shorten it"],
    ],
    [
        "organization as a list",
        { organization: "[Example Bank]" },
        [
            'pki:organization must be text (the subject O), not a list or map; got ["Example Bank"]. Write the name itself, e.g. "Example Bank"',
        ],
    ],
    [
        "organization as a map",
        { organization: "{ name: Example Bank }" },
        [
            'pki:organization must be text (the subject O), not a list or map; got {"name":"Example Bank"}. Write the name itself, e.g. "Example Bank"',
        ],
    ],
    [
        "domains missing",
        { domains: null },
        ["pki:domains is required; map each domain to its services, e.g. { ob: { services: [accounts] } }"],
    ],
    [
        "domains null",
        { domains: "null" },
        [
            'pki:domains is empty (YAML null, ~ and "" all reach the program as ""); set it to a map of domain -> { services: [...] }',
        ],
    ],
    [
        "domains as a list",
        { domains: "[ob]" },
        ['pki:domains must be a non-empty map of domain -> { namespace?, services, groups? }; got ["ob"]'],
    ],
    [
        "domains as text",
        { domains: "ob" },
        ['pki:domains must be a non-empty map of domain -> { namespace?, services, groups? }; got "ob"'],
    ],
    [
        "domains empty",
        { domains: "{}" },
        ["pki:domains must be a non-empty map of domain -> { namespace?, services, groups? }; got {}"],
    ],
    [
        "domain name with upper case",
        { domains: "{ Ob: { services: [accounts] } }" },
        [
            "pki:domains.Ob: the domain name \"Ob\" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)",
        ],
    ],
    [
        // Its characters are a label's: only its last '-' is wrong, and the message names that rule.
        "domain name ending with '-'",
        { domains: "{ ob-: { services: [accounts] } }" },
        [
            "pki:domains.ob-: the domain name \"ob-\" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)",
        ],
    ],
    [
        "domain name read from a null key",
        { domains: "{ null: { services: [accounts] } }" },
        [
            "pki:domains.<nil>: the domain name \"<nil>\" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)",
        ],
    ],
    [
        // Istio refuses a Gateway name over 63 characters, and the domain's Gateway is apic-mtls-<domain>.
        "domain name over 53 characters",
        { domains: `{ ${a(54)}: { services: [accounts] } }` },
        [
            `pki:domains.${a(54)}: the domain name "${a(54)}" is 54 characters; a domain name has at most 53, because its Istio Gateway is apic-mtls-<domain>, which Istio refuses over 63 characters. Use a shorter name`,
        ],
    ],
    [
        // Its characters are a host label's: only its length is wrong, and the message says so.
        "domain name over 63 characters",
        { domains: `{ ${a(64)}: { services: [accounts] } }` },
        [
            `pki:domains.${a(64)}: the domain name "${a(64)}" is 64 characters; a domain name has at most 53, because its Istio Gateway is apic-mtls-<domain>, which Istio refuses over 63 characters. Use a shorter name`,
        ],
    ],
    [
        // A name from the config is shown as a value is: a zero-width space would read as "ob".
        "domain name with a zero-width space, a service with a soft hyphen",
        { domains: '{ "ob\\u200b": { services: ["acc\\u00adounts"] } }' },
        [
            `pki:domains."ob\\u200b": the domain name "ob\\u200b" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)`,
            'pki:domains."ob\\u200b".services[0] must be a service name (letters, digits and \'-\'); got "acc\\u00adounts"',
        ],
    ],
    [
        "domain member named with a bidirectional override",
        { domains: '{ ob: { services: [accounts], "serv\\u202eices": [x] } }' },
        ['pki:domains.ob."serv\\u202eices" is not a known key; a domain has namespace, services and groups'],
    ],
    [
        "domain holding a YAML tag under a key with a terminal escape",
        { domains: '{ ob: { services: [accounts] }, "ob\\e[2K": !!binary aGk= }' },
        [
            'pki:domains."ob\\u001b[2K" carries the YAML tag !!binary, which this loader does not read; remove the tag (quote a value to make it text)',
        ],
    ],
    [
        "domain as a list",
        { domains: "{ ob: [accounts] }" },
        ['pki:domains.ob must be a map with services (and optionally namespace, groups); got ["accounts"]'],
    ],
    [
        "domain null",
        { domains: "{ ob: null }" },
        ["pki:domains.ob must be a map with services (and optionally namespace, groups); got null"],
    ],
    [
        "domain with an unknown member",
        { domains: "{ ob: { services: [accounts], hosts: 1 } }" },
        ["pki:domains.ob.hosts is not a known key; a domain has namespace, services and groups"],
    ],
    [
        "domain without services",
        { domains: "{ ob: { namespace: ob } }" },
        [
            "pki:domains.ob.services must list at least one microservice; got nothing. Add the domain's services or remove the domain",
        ],
    ],
    [
        "domain with an empty service list",
        { domains: "{ ob: { services: [] } }" },
        [
            "pki:domains.ob.services must list at least one microservice; got []. Add the domain's services or remove the domain",
        ],
    ],
    [
        "services as text",
        { domains: "{ ob: { services: accounts } }" },
        [
            'pki:domains.ob.services must list at least one microservice; got "accounts". Add the domain\'s services or remove the domain',
        ],
    ],
    [
        "services null",
        { domains: "{ ob: { services: null } }" },
        [
            "pki:domains.ob.services must list at least one microservice; got null. Add the domain's services or remove the domain",
        ],
    ],
    [
        "service listed twice",
        { domains: "{ ob: { services: [accounts, accounts] } }" },
        ['pki:domains.ob.services lists "accounts" twice; list each service once'],
    ],
    [
        "service with an underscore",
        { domains: "{ ob: { services: [acc_ounts] } }" },
        ["pki:domains.ob.services[0] must be a service name (letters, digits and '-'); got \"acc_ounts\""],
    ],
    [
        "services read as numbers: hex, exponent, octal and digits",
        { domains: "{ ob: { services: [0x1F, 1e3, 012, 1234] } }" },
        [31, 1000, 10, 1234].map(
            (n, i) =>
                `pki:domains.ob.services[${i}] must be a service name (letters, digits and '-'); got ${n}. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number`,
        ),
    ],
    [
        "service null",
        { domains: "{ ob: { services: [null] } }" },
        ["pki:domains.ob.services[0] must be a service name (letters, digits and '-'); got null"],
    ],
    [
        "service as a map",
        { domains: "{ ob: { services: [{ name: accounts }] } }" },
        ['pki:domains.ob.services[0] must be a service name (letters, digits and \'-\'); got {"name":"accounts"}'],
    ],
    [
        "service over 63 characters",
        { domains: `{ ob: { services: [${a(64)}] } }` },
        [`pki:domains.ob.services[0] "${a(64)}" is 64 characters; a host label has at most 63. Use a shorter name`],
    ],
    [
        "namespace with upper case",
        { domains: "{ ob: { services: [accounts], namespace: Ob } }" },
        [
            "pki:domains.ob.namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got \"Ob\"",
        ],
    ],
    [
        "namespace null",
        { domains: "{ ob: { services: [accounts], namespace: null } }" },
        [
            "pki:domains.ob.namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got null",
        ],
    ],
    [
        "namespace read as a number",
        { domains: "{ ob: { services: [accounts], namespace: 5 } }" },
        [
            "pki:domains.ob.namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got 5. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
        ],
    ],
    [
        "groups of the wrong shape under Option 1",
        { domains: "{ ob: { services: [accounts], groups: [accounts] } }" },
        [
            'pki:domains.ob.groups must map each group to its services, e.g. { core: [accounts] }; got ["accounts"]. Remove it: groups are used with pki:option 3 only',
        ],
    ],
    [
        "empty groups under Option 1",
        { domains: "{ ob: { services: [accounts], groups: {} } }" },
        [
            "pki:domains.ob.groups must map each group to its services, e.g. { core: [accounts] }; got {}. Remove it: groups are used with pki:option 3 only",
        ],
    ],
    [
        "Option 3 without groups",
        { option: "3" },
        [
            "pki:domains.ob.groups is required with pki:option 3; map each group to its services, e.g. { core: [accounts] }",
        ],
    ],
    [
        "Option 3 with groups as a list",
        { option: "3", domains: "{ ob: { services: [accounts], groups: [accounts] } }" },
        ['pki:domains.ob.groups must map each group to its services, e.g. { core: [accounts] }; got ["accounts"]'],
    ],
    [
        "Option 3 with a group as text",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { core: accounts } } }" },
        [
            'pki:domains.ob.groups.core must list at least one service of the domain; got "accounts"',
            'pki:domains.ob.groups leaves "accounts" in no group; with pki:option 3 every service must be in exactly one group',
        ],
    ],
    [
        "Option 3 with an empty group",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { core: [] } } }" },
        [
            "pki:domains.ob.groups.core must list at least one service of the domain; got []",
            'pki:domains.ob.groups leaves "accounts" in no group; with pki:option 3 every service must be in exactly one group',
        ],
    ],
    [
        "Option 3 with a group name in upper case",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { Core: [accounts] } } }" },
        [
            "pki:domains.ob.groups.Core: the group name \"Core\" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)",
        ],
    ],
    [
        "Option 3 with a group name starting with '-'",
        { option: "3", domains: '{ ob: { services: [accounts], groups: { "-core": [accounts] } } }' },
        [
            "pki:domains.ob.groups.-core: the group name \"-core\" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)",
        ],
    ],
    [
        "Option 3 with a group name over 63 characters",
        { option: "3", domains: `{ ob: { services: [accounts], groups: { ${a(64)}: [accounts] } } }` },
        [
            `pki:domains.ob.groups.${a(64)}: the group name "${a(64)}" is 64 characters; a host label has at most 63. Use a shorter name`,
        ],
    ],
    [
        // ESC [2K clears the terminal line and \r goes back to its start: the key would forge the message.
        "Option 3 with a group name holding terminal escapes",
        {
            option: "3",
            domains: '{ ob: { services: [a, b], groups: { "x\\e[2K\\rrendered OK\\e[8m": [b], core: [a] } } }',
        },
        [
            `pki:domains.ob.groups."x\\u001b[2K\\rrendered OK\\u001b[8m": the group name "x\\u001b[2K\\rrendered OK\\u001b[8m" must be lower-case letters, digits and '-', not starting or ending with '-' (it becomes a host label)`,
        ],
    ],
    [
        "Option 3 with a group naming an unknown service",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { core: [accounts, payees] } } }" },
        [
            'pki:domains.ob.groups.core names "payees", which is not in pki:domains.ob.services; add it there or fix the name',
        ],
    ],
    [
        "Option 3 with a group member read as a number",
        { option: "3", domains: '{ ob: { services: [accounts, "1234"], groups: { core: [accounts, 1234] } } }' },
        [
            "pki:domains.ob.groups.core names 1234, which is not in pki:domains.ob.services; add it there or fix the name. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
            'pki:domains.ob.groups leaves "1234" in no group; with pki:option 3 every service must be in exactly one group',
        ],
    ],
    [
        "Option 3 with a null group member",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { core: [accounts, null] } } }" },
        [
            "pki:domains.ob.groups.core names null, which is not in pki:domains.ob.services; add it there or fix the name",
        ],
    ],
    [
        "Option 3 with a service in two groups",
        { option: "3", domains: "{ ob: { services: [accounts], groups: { core: [accounts], more: [accounts] } } }" },
        ['pki:domains.ob.groups: "accounts" is in both "core" and "more"; put each service in exactly one group'],
    ],
    [
        // Said as a repeat within the group, not as "in both core and core".
        "Option 3 with a service listed twice in one group",
        { option: "3", domains: "{ ob: { services: [a, b], groups: { g1: [a, a, b] } } }" },
        ['pki:domains.ob.groups.g1 lists "a" twice; list each service once'],
    ],
    [
        "Option 3 with a service in no group",
        { option: "3", domains: "{ ob: { services: [accounts, payees], groups: { core: [accounts] } } }" },
        [
            'pki:domains.ob.groups leaves "payees" in no group; with pki:option 3 every service must be in exactly one group',
        ],
    ],
    [
        "Option 3 with a group named after a service it does not hold",
        {
            option: "3",
            domains: "{ ob: { services: [accounts, ob-payee], groups: { accounts: [ob-payee], core: [accounts] } } }",
        },
        [
            'pki:domains.ob.groups.accounts is named after the service "accounts", which it does not hold ("accounts" is in group "core"): ' +
                'both make the endpoint "ob-accounts" (its Secret, APIC bundle and client identity) and the host accounts.ob.<pki:baseDomain>, ' +
                'which under pki:option 2 are that service\'s own. Rename the group, or put "accounts" in it',
        ],
    ],
    [
        "a group named after a service it does not hold, under Option 2",
        { option: "2", domains: "{ ob: { services: [accounts, ob-payee], groups: { payee: [accounts] } } }" },
        [
            'pki:domains.ob.groups.payee is named after the service "ob-payee", which it does not hold ("ob-payee" is in no group): ' +
                'both make the endpoint "ob-payee" (its Secret, APIC bundle and client identity), ' +
                'which under pki:option 2 are that service\'s own. Rename the group, or put "ob-payee" in it',
        ],
    ],
    [
        "two endpoints on one host",
        { option: "2", domains: "{ ob: { services: [Accounts, accounts] } }" },
        [
            'pki:domains.ob.services[1] and pki:domains.ob.services[0] both resolve to the host "accounts.ob.dev.api.bank.example"; every endpoint needs its own host. Rename one of them',
        ],
    ],
    [
        "a host over 253 characters",
        { option: "2", baseDomain: `${a(60)}.${a(60)}.${a(60)}.${a(60)}` },
        [
            `pki:domains.ob.services[0] makes the host "accounts.ob.${a(60)}.${a(60)}.${a(60)}.${a(60)}", which is 255 characters long; a DNS name has at most 253. Use a shorter name or pki:baseDomain`,
        ],
    ],
    [
        "a domain member set with a dotted key",
        { "domains.ob": "{ services: [payees] }" },
        [
            'pki:domains.ob is not a known key; Pulumi passes a stack file key with "." as a key of its own, not as a member of pki:domains. Write pki:domains as one map with all its members',
        ],
    ],
    [
        "clusters as text",
        { clusters: "east" },
        ['pki:clusters must be a non-empty list of cluster names or { name, context } maps; got "east"'],
    ],
    [
        "clusters empty",
        { clusters: "[]" },
        ["pki:clusters must be a non-empty list of cluster names or { name, context } maps; got []"],
    ],
    [
        "clusters as a map",
        { clusters: "{ east: {} }" },
        ['pki:clusters must be a non-empty list of cluster names or { name, context } maps; got {"east":{}}'],
    ],
    [
        "clusters null",
        { clusters: "null" },
        [
            'pki:clusters is empty (YAML null, ~ and "" all reach the program as ""); set it to a list of cluster names, e.g. [east], or remove the line for one cluster named default',
        ],
    ],
    [
        "cluster name with upper case",
        { clusters: "[East]" },
        [
            "pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got \"East\"",
        ],
    ],
    [
        "cluster name well written but over a label's 63 characters: the mesh CA's common name bounds it",
        { clusters: `[${a(64)}]` },
        [
            `pki:clusters[0] "${a(64)}" is 64 characters; with pki:environment "dev" the mesh CA's common name "dev mesh CA ${a(64)} G198" would be 81 characters, over RFC 5280's 64. Use a cluster name of at most 47 characters`,
        ],
    ],
    [
        "cluster name well written but over a label's 63 characters, beside a refused pki:environment",
        { environment: "Dev", clusters: `[${a(64)}]` },
        [
            `pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got "Dev"`,
            `pki:clusters[0] "${a(64)}" is 64 characters; a cluster name is one RFC 1123 label of at most 63, and with pki:environment at most 50 characters together (the mesh CA's common name). Use a shorter name`,
        ],
    ],
    [
        "cluster null",
        { clusters: "[null]" },
        [
            "pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got null",
        ],
    ],
    [
        "clusters read as numbers",
        { clusters: "[1e3, { name: 123 }]" },
        [
            "pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got 1000. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
            "pki:clusters[1] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got {\"name\":123}. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
        ],
    ],
    [
        "cluster as a list",
        { clusters: "[[east]]" },
        [
            "pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got [\"east\"]",
        ],
    ],
    [
        "cluster without a name",
        { clusters: "[{ context: bank-east }]" },
        [
            "pki:clusters[0] must be a cluster name (lower-case letters, digits and '-', not starting or ending with '-') or { name, context }; got {\"context\":\"bank-east\"}",
        ],
    ],
    [
        "cluster with an unknown member",
        { clusters: "[{ name: east, zone: a }]" },
        ["pki:clusters[0].zone is not a known key; a cluster has name and context"],
    ],
    [
        "cluster context null",
        { clusters: "[{ name: east, context: null }]" },
        [
            "pki:clusters[0].context must be the name of a kubeconfig context (non-empty text without control characters); got null. Leave it out for the current context",
        ],
    ],
    [
        "cluster context empty",
        { clusters: '[{ name: east, context: "" }]' },
        [
            'pki:clusters[0].context must be the name of a kubeconfig context (non-empty text without control characters); got "". Leave it out for the current context',
        ],
    ],
    [
        "cluster context read as a number",
        { clusters: "[{ name: east, context: 5 }]" },
        [
            "pki:clusters[0].context must be the name of a kubeconfig context (non-empty text without control characters); got 5. Leave it out for the current context",
        ],
    ],
    [
        "cluster context read as a timestamp: passed as Go prints the time, not the context written",
        { clusters: "[{ name: east, context: 2026-01-01 }]" },
        [
            'pki:clusters[0].context must be the name of a kubeconfig context; got "2026-01-01 00:00:00 +0000 UTC". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes',
        ],
    ],
    [
        "two clusters' contexts read as timestamps: each refused, neither taken for the current context",
        { clusters: "[{ name: east, context: 2026-01-01 }, { name: west, context: 2026-01-02 }]" },
        [
            'pki:clusters[0].context must be the name of a kubeconfig context; got "2026-01-01 00:00:00 +0000 UTC". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes',
            'pki:clusters[1].context must be the name of a kubeconfig context; got "2026-01-02 00:00:00 +0000 UTC". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes',
        ],
    ],
    [
        "cluster context with a tab",
        { clusters: '[{ name: east, context: "bank\\teast" }]' },
        [
            'pki:clusters[0].context must be the name of a kubeconfig context (non-empty text without control characters); got "bank\\teast". Leave it out for the current context',
        ],
    ],
    [
        "two clusters on the current context",
        { clusters: "[east, west]" },
        [
            'pki:clusters: "east" and "west" would all use the current kubeconfig context and overwrite each other\'s cacerts; give each a context, e.g. { name: west, context: west }',
        ],
    ],
    [
        "cluster listed twice",
        { clusters: "[{ name: east, context: a }, { name: east, context: b }]" },
        ['pki:clusters[1] "east" is listed twice; list each cluster once'],
    ],
    [
        "cluster listed twice on the current context (one mistake, not also two clusters sharing a context)",
        { clusters: "[dev-east, dev-east]" },
        ['pki:clusters[1] "dev-east" is listed twice; list each cluster once'],
    ],
    [
        "cluster listed twice with the same context",
        { clusters: "[{ name: east, context: a }, { name: east, context: a }]" },
        ['pki:clusters[1] "east" is listed twice; list each cluster once'],
    ],
    [
        "cluster name ending in -g and digits, as a rotated CA's id does",
        { clusters: "[{ name: example, context: a }, { name: example-g2, context: b }]" },
        [
            'pki:clusters[1] "example-g2" ends in -g and digits, as the ids of rotated CA generations do (<CA id>-g<n>): ' +
                'its mesh CA "mesh-ca-example-g2" would be taken for a generation of the mesh CA of a cluster "example", ' +
                'whose resource names it could clash with. Rename the cluster, e.g. "example-gen2"',
        ],
    ],
    [
        "cluster name ending in -g and digits and too long: refused for its length alone, not told to rename to a longer name",
        { clusters: `[${a(67)}-g2]` },
        [
            `pki:clusters[0] "${a(67)}-g2" is 70 characters; with pki:environment "dev" the mesh CA's common name "dev mesh CA ${a(67)}-g2 G198" would be 87 characters, over RFC 5280's 64. Use a cluster name of at most 47 characters`,
        ],
    ],
    [
        "cluster name ending in -g and digits at the longest the mesh CA's common name allows: a rename that fits",
        { clusters: `[${a(44)}-g2]` },
        [
            `pki:clusters[0] "${a(44)}-g2" ends in -g and digits, as the ids of rotated CA generations do (<CA id>-g<n>): ` +
                `its mesh CA "mesh-ca-${a(44)}-g2" would be taken for a generation of the mesh CA of a cluster "${a(44)}", ` +
                `whose resource names it could clash with. Rename the cluster, e.g. "${a(44)}-v2"`,
        ],
    ],
    [
        "cluster name too long for the mesh CA's common name",
        { clusters: `[${a(48)}]` },
        [
            `pki:clusters[0] "${a(48)}" is 48 characters; with pki:environment "dev" the mesh CA's common name "dev mesh CA ${a(48)} G198" would be 65 characters, over RFC 5280's 64. Use a cluster name of at most 47 characters`,
        ],
    ],
    [
        "cluster name too long next to the longest environment",
        { environment: `${a(37)}`, clusters: `[${a(14)}]` },
        [
            `pki:clusters[0] "${a(14)}" is 14 characters; with pki:environment "${a(37)}" the mesh CA's common name "${a(37)} mesh CA ${a(14)} G198" would be 65 characters, over RFC 5280's 64. Use a cluster name of at most 13 characters`,
        ],
    ],
    ["meshStrictMtls yes", { meshStrictMtls: "yes" }, ['pki:meshStrictMtls must be true or false; got "yes"']],
    ["meshStrictMtls on", { meshStrictMtls: "on" }, ['pki:meshStrictMtls must be true or false; got "on"']],
    ["meshStrictMtls 1", { meshStrictMtls: "1" }, ["pki:meshStrictMtls must be true or false; got 1"]],
    [
        "meshStrictMtls 'true ' with a space",
        { meshStrictMtls: '"true "' },
        ['pki:meshStrictMtls must be true or false; got "true "'],
    ],
    [
        "meshStrictMtls as a list",
        { meshStrictMtls: "[true]" },
        ["pki:meshStrictMtls must be true or false; got [true]"],
    ],
    [
        "meshStrictMtls null",
        { meshStrictMtls: "null" },
        [
            'pki:meshStrictMtls is empty (YAML null, ~ and "" all reach the program as ""); set it to true or false, or remove the line for false',
        ],
    ],
    [
        "gatewayNamespace with upper case",
        { gatewayNamespace: "Istio-System" },
        [
            "pki:gatewayNamespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got \"Istio-System\"",
        ],
    ],
    [
        "gatewayNamespace with an underscore",
        { gatewayNamespace: "istio_system" },
        [
            "pki:gatewayNamespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got \"istio_system\"",
        ],
    ],
    [
        "gatewayNamespace over 63",
        { gatewayNamespace: `${a(64)}` },
        [
            `pki:gatewayNamespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got "${a(64)}"`,
        ],
    ],
    [
        "gatewayNamespace as a list",
        { gatewayNamespace: "[istio-system]" },
        [
            "pki:gatewayNamespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got [\"istio-system\"]",
        ],
    ],
    [
        "gatewayNamespace null",
        { gatewayNamespace: "null" },
        [
            'pki:gatewayNamespace is empty (YAML null, ~ and "" all reach the program as ""); set it to a Kubernetes namespace name, or remove the line for istio-system',
        ],
    ],
    [
        "keyAlgorithm in lower case",
        { keyAlgorithm: "rsa" },
        [
            'pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got "rsa". Weaker keys (RSA < 2048, P-224) are not offered',
        ],
    ],
    [
        "keyAlgorithm with a size",
        { keyAlgorithm: "RSA-4096" },
        [
            'pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got "RSA-4096". Weaker keys (RSA < 2048, P-224) are not offered',
        ],
    ],
    [
        "keyAlgorithm as a list",
        { keyAlgorithm: "[RSA]" },
        [
            'pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got ["RSA"]. Weaker keys (RSA < 2048, P-224) are not offered',
        ],
    ],
    [
        "keyAlgorithm null",
        { keyAlgorithm: "null" },
        [
            'pki:keyAlgorithm is empty (YAML null, ~ and "" all reach the program as ""); set it to RSA or ECDSA, or remove the line for RSA',
        ],
    ],
    [
        "caKeyAlgorithm DSA",
        { caKeyAlgorithm: "DSA" },
        [
            'pki:caKeyAlgorithm must be RSA (4096-bit) or ECDSA (P-384); got "DSA". Weaker keys (RSA < 2048, P-224) are not offered',
        ],
    ],
    [
        "caKeyAlgorithm Ed25519",
        { caKeyAlgorithm: "Ed25519" },
        [
            'pki:caKeyAlgorithm must be RSA (4096-bit) or ECDSA (P-384); got "Ed25519". Weaker keys (RSA < 2048, P-224) are not offered',
        ],
    ],
    [
        "caKeyAlgorithm null",
        { caKeyAlgorithm: "~" },
        [
            'pki:caKeyAlgorithm is empty (YAML null, ~ and "" all reach the program as ""); set it to RSA or ECDSA, or remove the line for RSA',
        ],
    ],
    [
        "validityDays as a number",
        { validityDays: "3650" },
        ["pki:validityDays must be a map such as { root: 3650, intermediate: 1095, leaf: 365 }; got 3650"],
    ],
    [
        "validityDays as a list",
        { validityDays: "[3650]" },
        ["pki:validityDays must be a map such as { root: 3650, intermediate: 1095, leaf: 365 }; got [3650]"],
    ],
    [
        "validityDays null",
        { validityDays: "null" },
        [
            'pki:validityDays is empty (YAML null, ~ and "" all reach the program as ""); set it to a map such as { leaf: 365 }, or remove the line for the defaults',
        ],
    ],
    [
        "validityDays.root true",
        { validityDays: "{ root: true }" },
        ["pki:validityDays.root must be a whole number of days from 1 to 36500 (100 years); got true"],
    ],
    [
        "validityDays.root as text",
        { validityDays: '{ root: "3650" }' },
        [
            'pki:validityDays.root must be a whole number of days from 1 to 36500 (100 years); got "3650". Write the number without quotes',
        ],
    ],
    [
        "validityDays.root 10,000,000",
        { validityDays: "{ root: 10000000 }" },
        ["pki:validityDays.root must be a whole number of days from 1 to 36500 (100 years); got 10000000"],
    ],
    [
        "validityDays.root just over 100 years",
        { validityDays: "{ root: 36501 }" },
        ["pki:validityDays.root must be a whole number of days from 1 to 36500 (100 years); got 36501"],
    ],
    [
        "validityDays.leaf 0",
        { validityDays: "{ leaf: 0 }" },
        ["pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got 0"],
    ],
    [
        "validityDays.leaf -1",
        { validityDays: "{ leaf: -1 }" },
        ["pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got -1"],
    ],
    [
        "validityDays.leaf 365.5",
        { validityDays: "{ leaf: 365.5 }" },
        ["pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got 365.5"],
    ],
    [
        "validityDays.leaf null",
        { validityDays: "{ leaf: null }" },
        [
            "pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got null. Leave the key out instead of setting it to null",
        ],
    ],
    [
        "validityDays.leaf as a list",
        { validityDays: "{ leaf: [365] }" },
        ["pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got [365]"],
    ],
    [
        "validityDays.leaf .inf",
        { validityDays: "{ leaf: .inf }" },
        ["pki:validityDays.leaf is .inf, which Pulumi cannot pass (Go's encoding/json refuses it); write a number"],
    ],
    [
        "validityDays.leaf beyond 2^53, which JSON.parse rounds: shown as written, with every other such number of the key",
        { validityDays: "{ leaf: 9007199254740993, root: -9223372036854775808, intermediate: 1095 }" },
        [
            "pki:validityDays holds 9007199254740993, -9223372036854775808, which this program cannot read exactly (JavaScript rounds whole numbers beyond ±2^53 - 1); no setting takes a number so large: write the one meant, or quote it if it is text (a serial)",
        ],
    ],
    [
        "validityDays with an unknown tier",
        { validityDays: "{ ca: 1000 }" },
        ["pki:validityDays.ca is not a known tier; the tiers are root, intermediate and leaf"],
    ],
    [
        "leaf outlives intermediate",
        { validityDays: "{ intermediate: 300 }" },
        [
            "pki:validityDays.leaf (365) is longer than pki:validityDays.intermediate (300); a certificate cannot outlive its issuer. Lower leaf or raise intermediate",
        ],
    ],
    [
        "intermediate outlives root",
        { validityDays: "{ root: 1000 }" },
        [
            "pki:validityDays.intermediate (1095) is longer than pki:validityDays.root (1000); a certificate cannot outlive its issuer. Lower intermediate or raise root",
        ],
    ],
    [
        "earlyRenewalDays as a number",
        { earlyRenewalDays: "30" },
        ["pki:earlyRenewalDays must be a map such as { leaf: 121 }; got 30"],
    ],
    [
        "earlyRenewalDays null",
        { earlyRenewalDays: "null" },
        [
            'pki:earlyRenewalDays is empty (YAML null, ~ and "" all reach the program as ""); set it to a map such as { leaf: 121 }, or remove the line for the defaults',
        ],
    ],
    [
        "earlyRenewalDays.leaf as long as the leaf lives",
        { earlyRenewalDays: "{ leaf: 365 }" },
        [
            "pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 364 (below pki:validityDays.leaf); got 365",
        ],
    ],
    [
        "earlyRenewalDays.leaf 0",
        { earlyRenewalDays: "{ leaf: 0 }" },
        ["pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 364 (below pki:validityDays.leaf); got 0"],
    ],
    [
        "earlyRenewalDays.leaf true",
        { earlyRenewalDays: "{ leaf: true }" },
        [
            "pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 364 (below pki:validityDays.leaf); got true",
        ],
    ],
    [
        "earlyRenewalDays.leaf as text",
        { earlyRenewalDays: '{ leaf: "30" }' },
        [
            'pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 364 (below pki:validityDays.leaf); got "30". Write the number without quotes',
        ],
    ],
    [
        "earlyRenewalDays.leaf null",
        { earlyRenewalDays: "{ leaf: null }" },
        [
            "pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 364 (below pki:validityDays.leaf); got null. Leave the key out instead of setting it to null",
        ],
    ],
    [
        "earlyRenewalDays with an unknown tier",
        { earlyRenewalDays: "{ week: 1 }" },
        ["pki:earlyRenewalDays.week is not a known tier; the tiers are root, intermediate and leaf"],
    ],
    [
        "earlyRenewalDays.leaf against a 10-day leaf",
        { validityDays: "{ leaf: 10 }", earlyRenewalDays: "{ leaf: 10 }" },
        ["pki:earlyRenewalDays.leaf must be a whole number of days from 1 to 9 (below pki:validityDays.leaf); got 10"],
    ],
    [
        "earlyRenewalDays.intermediate shorter than a staged rotation's two soaks",
        { validityDays: "{ intermediate: 100, leaf: 90 }", earlyRenewalDays: "{ intermediate: 5, leaf: 30 }" },
        [
            "pki:earlyRenewalDays.intermediate is 5: a CA's staged rotation keeps the CA it replaces through prepare and switch, each deployed 7 days " +
                "(the lifecycle's soak time) before the next, so a CA renewed 5 days before its end would expire before its rotation is over. " +
                "Set pki:earlyRenewalDays.intermediate to at least 14",
        ],
    ],
    [
        "earlyRenewalDays.root by default, a third of a 30-day root",
        { validityDays: "{ root: 30, intermediate: 20, leaf: 10 }", earlyRenewalDays: "{ intermediate: 14, leaf: 3 }" },
        [
            "pki:earlyRenewalDays.root is unset, so 10 (a third of pki:validityDays.root, 30): a CA's staged rotation keeps the CA it replaces through prepare and switch, " +
                "each deployed 7 days (the lifecycle's soak time) before the next, so a CA renewed 10 days before its end would expire before its rotation is over. " +
                "Set pki:earlyRenewalDays.root to at least 14",
        ],
    ],
    [
        "earlyRenewalDays.intermediate by default, a third of a 14-day CA",
        { validityDays: "{ intermediate: 14, leaf: 10 }" },
        [
            "pki:earlyRenewalDays.intermediate is unset, so 4 (a third of pki:validityDays.intermediate, 14): a CA's staged rotation keeps the CA it replaces through prepare and switch, " +
                "each deployed 7 days (the lifecycle's soak time) before the next, so a CA renewed 4 days before its end would expire before its rotation is over. " +
                "Set pki:earlyRenewalDays.intermediate to at least 14, with pki:validityDays.intermediate above it",
        ],
    ],
    ["rotation as a number", { rotation: "1" }, ["pki:rotation must be a map such as { leafEpoch: 1 }; got 1"]],
    [
        "rotation as a list",
        { rotation: "[leafEpoch]" },
        ['pki:rotation must be a map such as { leafEpoch: 1 }; got ["leafEpoch"]'],
    ],
    [
        "rotation null",
        { rotation: "null" },
        [
            'pki:rotation is empty (YAML null, ~ and "" all reach the program as ""); set it to a map such as { leafEpoch: 1 }, or remove the line for epoch 0 everywhere',
        ],
    ],
    [
        "rotation.leafEpoch true",
        { rotation: "{ leafEpoch: true }" },
        ["pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got true"],
    ],
    [
        "rotation.leafEpoch -1",
        { rotation: "{ leafEpoch: -1 }" },
        ["pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got -1"],
    ],
    [
        "rotation.leafEpoch 1.5",
        { rotation: "{ leafEpoch: 1.5 }" },
        ["pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got 1.5"],
    ],
    [
        "rotation.leafEpoch 10000",
        { rotation: "{ leafEpoch: 10000 }" },
        ["pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got 10000"],
    ],
    [
        "rotation.leafEpoch as text",
        { rotation: '{ leafEpoch: "1" }' },
        [
            'pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got "1". Write the number without quotes',
        ],
    ],
    [
        "rotation.leafEpoch null",
        { rotation: "{ leafEpoch: null }" },
        [
            "pki:rotation.leafEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got null. Leave the key out instead of setting it to null",
        ],
    ],
    [
        "rotation.gatewayServerEpoch as a list",
        { rotation: "{ gatewayServerEpoch: [1] }" },
        ["pki:rotation.gatewayServerEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got [1]"],
    ],
    [
        "rotation.apicClientEpoch as a map",
        { rotation: "{ apicClientEpoch: {} }" },
        ["pki:rotation.apicClientEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got {}"],
    ],
    [
        "rotation.meshEpoch beyond int64",
        { rotation: "{ meshEpoch: 99999999999999999999 }" },
        [
            "pki:rotation.meshEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got 100000000000000000000",
        ],
    ],
    [
        "rotation.apicServerEpoch beyond 9999",
        { rotation: "{ apicServerEpoch: 10000 }" },
        ["pki:rotation.apicServerEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got 10000"],
    ],
    [
        "rotation with an unknown key",
        { rotation: "{ epoch: 1 }" },
        [
            "pki:rotation.epoch is not a known key; known keys are leafEpoch, gatewayServerEpoch, apicClientEpoch, meshEpoch, uiClientEpoch, apicServerEpoch, apicClientPhase, endpoints",
        ],
    ],
    [
        "rotation.endpoints as a list",
        { rotation: "{ endpoints: [ob] }" },
        ['pki:rotation.endpoints must map endpoint ids to { serverEpoch, clientEpoch, clientPhase }; got ["ob"]'],
    ],
    [
        "rotation.endpoints null",
        { rotation: "{ endpoints: null }" },
        ["pki:rotation.endpoints must map endpoint ids to { serverEpoch, clientEpoch, clientPhase }; got null"],
    ],
    [
        "rotation.endpoints entry as a number",
        { rotation: "{ endpoints: { ob: 1 } }" },
        ["pki:rotation.endpoints.ob must be { serverEpoch, clientEpoch, clientPhase }; got 1"],
    ],
    [
        "rotation.endpoints serverEpoch true",
        { rotation: "{ endpoints: { ob: { serverEpoch: true } } }" },
        [
            "pki:rotation.endpoints.ob.serverEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got true",
        ],
    ],
    [
        "rotation.endpoints clientEpoch -1",
        { rotation: "{ endpoints: { ob: { clientEpoch: -1 } } }" },
        [
            "pki:rotation.endpoints.ob.clientEpoch must be a whole number from 0 to 9999 (raise it by one to rotate); got -1",
        ],
    ],
    [
        "rotation.endpoints with an unknown member",
        { rotation: "{ endpoints: { ob: { epoch: 1 } } }" },
        ["pki:rotation.endpoints.ob.epoch is not a known key; use serverEpoch, clientEpoch or clientPhase"],
    ],
    [
        "rotation.endpoints clientPhase prepare (a CA phase)",
        { rotation: "{ endpoints: { ob: { clientEpoch: 1, clientPhase: prepare } } }" },
        [
            'pki:rotation.endpoints.ob.clientPhase must be switch (the new APIC key is issued and the previous one stays pinned at the gateway until APIC uploads the new keystore) or finish (only the newest key is pinned); got "prepare"',
        ],
    ],
    [
        "rotation.apicClientPhase true",
        { rotation: "{ apicClientPhase: true }" },
        [
            "pki:rotation.apicClientPhase must be switch (the new APIC key is issued and the previous one stays pinned at the gateway until APIC uploads the new keystore) or finish (only the newest key is pinned); got true",
        ],
    ],
    [
        "rotation.endpoints naming no endpoint",
        { rotation: "{ endpoints: { payments: { serverEpoch: 1 } } }" },
        ["pki:rotation.endpoints.payments is not an endpoint of this stack; its endpoints are ob"],
    ],
    [
        "rotation.endpoints naming no endpoint, with a terminal escape",
        { rotation: '{ endpoints: { "ob\\e[31m": { serverEpoch: 1 } } }' },
        ['pki:rotation.endpoints."ob\\u001b[31m" is not an endpoint of this stack; its endpoints are ob'],
    ],
    [
        "caRotation as text",
        { caRotation: "prepare" },
        ['pki:caRotation must be a map such as { apicClientCa: { generation: 1, phase: prepare } }; got "prepare"'],
    ],
    [
        "caRotation as a list",
        { caRotation: "[root]" },
        ['pki:caRotation must be a map such as { apicClientCa: { generation: 1, phase: prepare } }; got ["root"]'],
    ],
    [
        "caRotation null",
        { caRotation: "null" },
        [
            'pki:caRotation is empty (YAML null, ~ and "" all reach the program as ""); set it to a map such as { apicClientCa: { generation: 1, phase: prepare } }, or remove the line for generation 0',
        ],
    ],
    [
        "caRotation with an unknown CA",
        { caRotation: "{ rootCa: { generation: 1, phase: prepare } }" },
        [
            "pki:caRotation.rootCa is not a CA of this stack; its CAs are meshRoot, serverRoot, clientRoot, gatewayServerCa, apicClientCa, meshCa",
        ],
    ],
    [
        "caRotation.root with separate trust domains",
        { trustDomains: "separate", caRotation: "{ root: { generation: 1, phase: prepare } }" },
        [
            "pki:caRotation.root is not a CA of this stack with pki:trustDomains separate; its CAs are meshRoot, serverRoot, clientRoot, gatewayServerCa, apicClientCa, meshCa",
        ],
    ],
    [
        "caRotation.root with trust domains unset (the shared root was the default of earlier versions)",
        { caRotation: "{ root: { generation: 1, phase: prepare } }" },
        [
            "pki:caRotation.root names the shared root, but pki:trustDomains is not set, and its default is now separate (one root per trust domain), no longer shared as in earlier versions. " +
                "Set pki:trustDomains: shared to keep the deployed shared root; with separate roots, its CAs are meshRoot, serverRoot, clientRoot, gatewayServerCa, apicClientCa, meshCa",
        ],
    ],
    [
        "caRotation.clientRoot as text",
        { caRotation: "{ clientRoot: prepare }" },
        [
            'pki:caRotation.clientRoot must be { generation, phase }, e.g. { generation: 1, phase: prepare }; got "prepare"',
        ],
    ],
    [
        "caRotation.meshCa null",
        { caRotation: "{ meshCa: null }" },
        ["pki:caRotation.meshCa must be { generation, phase }, e.g. { generation: 1, phase: prepare }; got null"],
    ],
    [
        "caRotation.clientRoot without a phase",
        { caRotation: "{ clientRoot: { generation: 1 } }" },
        ["pki:caRotation.clientRoot.phase must be one of prepare, switch, finish (in that order); got nothing"],
    ],
    [
        "caRotation.clientRoot without a generation",
        { caRotation: "{ clientRoot: { phase: prepare } }" },
        [
            "pki:caRotation.clientRoot.generation must be a whole number from 0 to 99 (1 for the first rotation); got nothing",
        ],
    ],
    [
        "caRotation.clientRoot generation true",
        { caRotation: "{ clientRoot: { generation: true, phase: prepare } }" },
        [
            "pki:caRotation.clientRoot.generation must be a whole number from 0 to 99 (1 for the first rotation); got true",
        ],
    ],
    [
        "caRotation.clientRoot generation as text",
        { caRotation: '{ clientRoot: { generation: "1", phase: prepare } }' },
        [
            'pki:caRotation.clientRoot.generation must be a whole number from 0 to 99 (1 for the first rotation); got "1". Write the number without quotes',
        ],
    ],
    [
        "caRotation.clientRoot generation -1",
        { caRotation: "{ clientRoot: { generation: -1, phase: finish } }" },
        ["pki:caRotation.clientRoot.generation must be a whole number from 0 to 99 (1 for the first rotation); got -1"],
    ],
    [
        "caRotation.clientRoot generation 100",
        { caRotation: "{ clientRoot: { generation: 100, phase: finish } }" },
        [
            "pki:caRotation.clientRoot.generation must be a whole number from 0 to 99 (1 for the first rotation); got 100",
        ],
    ],
    [
        "caRotation.clientRoot phase in upper case",
        { caRotation: "{ clientRoot: { generation: 1, phase: Prepare } }" },
        ['pki:caRotation.clientRoot.phase must be one of prepare, switch, finish (in that order); got "Prepare"'],
    ],
    [
        "caRotation.clientRoot generation 0 in phase prepare",
        { caRotation: "{ clientRoot: { generation: 0, phase: prepare } }" },
        [
            "pki:caRotation.clientRoot is { generation: 0, phase: prepare }, but generation 0 is the stack's first CA and has no phases; a rotation starts with { generation: 1, phase: prepare }",
        ],
    ],
    [
        "caRotation.clientRoot with an unknown member",
        { caRotation: "{ clientRoot: { generation: 1, phase: prepare, note: x } }" },
        ["pki:caRotation.clientRoot.note is not a known key; use generation and phase"],
    ],
    [
        "a CA rotating with its root",
        {
            caRotation:
                "{ clientRoot: { generation: 1, phase: prepare }, apicClientCa: { generation: 1, phase: switch } }",
        },
        [
            "pki:caRotation.apicClientCa is in phase switch while pki:caRotation.clientRoot is in phase prepare; rotate one at a time: finish the apicClientCa rotation before the clientRoot one, or the clientRoot one before the apicClientCa one",
        ],
    ],
    [
        "an intermediate rotation with ECDSA CA keys",
        { caKeyAlgorithm: "ECDSA", caRotation: "{ apicClientCa: { generation: 1, phase: prepare } }" },
        [
            "pki:caRotation.apicClientCa needs pki:caKeyAlgorithm RSA: finishing the rotation revokes the old CA in the root's CRL, and from then on a CRL of each CA of the chain is published, which the stack signs with the CA's key (the root's too, unless it is offline); CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview",
        ],
    ],
    [
        "revocations as text",
        { revocations: "ob" },
        ['pki:revocations must be a list of { endpoint (or uiClient), serial, epoch, reason, revokedAt }; got "ob"'],
    ],
    [
        "revocations as a map",
        { revocations: "{ endpoint: ob }" },
        [
            'pki:revocations must be a list of { endpoint (or uiClient), serial, epoch, reason, revokedAt }; got {"endpoint":"ob"}',
        ],
    ],
    [
        "revocations null",
        { revocations: "null" },
        [
            'pki:revocations is empty (YAML null, ~ and "" all reach the program as ""); set it to a list of { endpoint (or uiClient), serial, epoch, reason, revokedAt }, or remove the line for none',
        ],
    ],
    [
        "revocation as text",
        { revocations: "[ob]" },
        ['pki:revocations[0] must be { endpoint (or uiClient), serial, epoch, reason, revokedAt }; got "ob"'],
    ],
    [
        "revocation null",
        { revocations: "[null]" },
        ["pki:revocations[0] must be { endpoint (or uiClient), serial, epoch, reason, revokedAt }; got null"],
    ],
    [
        "revocation without a serial",
        { revocations: '[{ endpoint: ob, revokedAt: "2026-11-20" }]' },
        ["pki:revocations[0].serial must be the certificate's serial number in hex (as expiry prints it); got nothing"],
    ],
    [
        "revocation serial not hex",
        { revocations: '[{ endpoint: ob, serial: xyz, revokedAt: "2026-11-20" }]' },
        ['pki:revocations[0].serial must be the certificate\'s serial number in hex (as expiry prints it); got "xyz"'],
    ],
    [
        "revocation serial of digits read as a number",
        { revocations: '[{ endpoint: ob, serial: 1234, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0].serial must be the certificate's serial number in hex (as expiry prints it); got 1234. Quote it: YAML reads a serial of digits only as a number",
        ],
    ],
    [
        "revocation serial of digits beyond 2^53 read as a number: shown as written, not rounded",
        { revocations: '[{ endpoint: ob, serial: 12345678901234567891, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations holds 12345678901234567891, which this program cannot read exactly (JavaScript rounds whole numbers beyond ±2^53 - 1); no setting takes a number so large: write the one meant, or quote it if it is text (a serial)",
        ],
    ],
    [
        "revocation serial 0123 read as octal",
        { revocations: '[{ endpoint: ob, serial: 0123, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0].serial must be the certificate's serial number in hex (as expiry prints it); got 83. Quote it: YAML reads a serial of digits only as a number",
        ],
    ],
    [
        "revocation serial over 20 bytes",
        {
            revocations:
                '[{ endpoint: ob, serial: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA, revokedAt: "2026-11-20" }]',
        },
        [
            'pki:revocations[0].serial must be the certificate\'s serial number in hex (as expiry prints it); got "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"',
        ],
    ],
    [
        "revocation without an endpoint",
        { revocations: '[{ serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0].endpoint must name the endpoint whose APIC client certificate is revoked (or uiClient the UI service whose certificate is); got nothing",
        ],
    ],
    [
        "revocation endpoint read as a number",
        { revocations: '[{ endpoint: 5, serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0].endpoint must name the endpoint whose APIC client certificate is revoked (or uiClient the UI service whose certificate is); got 5",
        ],
    ],
    [
        "revocation endpoint empty",
        { revocations: '[{ endpoint: "", serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            'pki:revocations[0].endpoint must name the endpoint whose APIC client certificate is revoked (or uiClient the UI service whose certificate is); got ""',
        ],
    ],
    [
        "revocation of an endpoint the stack does not have",
        { revocations: '[{ endpoint: payments, serial: 0A1B, revokedAt: "2026-11-20" }]' },
        ['pki:revocations[0].endpoint "payments" is not an endpoint of this stack; its endpoints are ob'],
    ],
    [
        "revocation reason unknown",
        { revocations: '[{ endpoint: ob, serial: 0A1B, reason: compromised, revokedAt: "2026-11-20" }]' },
        [
            'pki:revocations[0].reason must be one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn; got "compromised"',
        ],
    ],
    [
        "revocation reason null",
        { revocations: '[{ endpoint: ob, serial: 0A1B, reason: null, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0].reason must be one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn; got null",
        ],
    ],
    [
        "revocation of a client certificate on hold",
        { revocations: '[{ endpoint: ob, serial: 0A1B, reason: certificateHold, revokedAt: "2026-11-20" }]' },
        [
            'pki:revocations[0].reason "certificateHold" is not for a client certificate: a hold is meant to be lifted, but here it is permanent: ' +
                "the stack refuses to drop the entry while the certificate is valid, and gives the holder a new key at once; " +
                `give one of ${LEAF_REASONS} (keyCompromise if its key may have leaked)`,
        ],
    ],
    [
        "revocation of client certificates for a CA's or an attribute authority's compromise",
        {
            revocations:
                '[{ endpoint: ob, serial: 0A1B, reason: cACompromise, revokedAt: "2026-11-20" }, { endpoint: ob, serial: 0A1C, reason: aACompromise, revokedAt: "2026-11-20" }]',
        },
        [
            'pki:revocations[0].reason "cACompromise" is not for a client certificate: it revokes a CA certificate whose key leaked, ' +
                "and this entry revokes a client certificate (a leaked CA key is replaced by pki:caRotation); " +
                `give one of ${LEAF_REASONS} (keyCompromise if its key may have leaked)`,
            'pki:revocations[1].reason "aACompromise" is not for a client certificate: it is for attribute certificates, ' +
                "and this entry revokes a public-key client certificate; " +
                `give one of ${LEAF_REASONS} (keyCompromise if its key may have leaked)`,
        ],
    ],
    [
        "revocation on February 30",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-02-30" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-02-30"',
        ],
    ],
    [
        "revocation on February 29 of a common year",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2027-02-29" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2027-02-29"',
        ],
    ],
    [
        "revocation time unquoted (a YAML timestamp)",
        { revocations: "[{ endpoint: ob, serial: 0A1B, revokedAt: 2026-11-20T09:30:00Z }]" },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-11-20 09:30:00 +0000 UTC". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes',
        ],
    ],
    [
        "revocation date unquoted (a YAML timestamp)",
        { revocations: "[{ endpoint: ob, serial: 0A1B, revokedAt: 2026-11-20 }]" },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-11-20 00:00:00 +0000 UTC". YAML read the unquoted time as a timestamp, which Pulumi passes in this form: put the time in quotes',
        ],
    ],
    [
        "revocation time without a zone",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-11-20T09:30:00" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-11-20T09:30:00"',
        ],
    ],
    [
        "revocation date without dashes",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "20261120" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "20261120"',
        ],
    ],
    [
        "revocation at hour 24",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-11-20T24:00:00Z" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "2026-11-20T24:00:00Z"',
        ],
    ],
    [
        "revocation before 1950",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "1949-12-31" }]' },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got "1949-12-31"',
        ],
    ],
    [
        "revocation time as a number",
        { revocations: "[{ endpoint: ob, serial: 0A1B, revokedAt: 20261120 }]" },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got 20261120',
        ],
    ],
    [
        "revocation without a time",
        { revocations: "[{ endpoint: ob, serial: 0A1B }]" },
        [
            'pki:revocations[0].revokedAt must be an ISO 8601 date or time with its zone, on a real calendar day from 1950 to 9999, such as "2026-11-20" or "2026-11-20T09:30:00Z"; got nothing',
        ],
    ],
    [
        "revocation epoch true",
        { revocations: '[{ endpoint: ob, serial: 0A1B, epoch: true, revokedAt: "2026-11-20" }]' },
        ["pki:revocations[0].epoch must be a whole number from 0 to 9999 (raise it by one to rotate); got true"],
    ],
    [
        "revocation epoch -1",
        { revocations: '[{ endpoint: ob, serial: 0A1B, epoch: -1, revokedAt: "2026-11-20" }]' },
        ["pki:revocations[0].epoch must be a whole number from 0 to 9999 (raise it by one to rotate); got -1"],
    ],
    [
        "revocation epoch 10000",
        { revocations: '[{ endpoint: ob, serial: 0A1B, epoch: 10000, revokedAt: "2026-11-20" }]' },
        ["pki:revocations[0].epoch must be a whole number from 0 to 9999 (raise it by one to rotate); got 10000"],
    ],
    [
        "revocation with an unknown member",
        { revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-11-20", when: now }]' },
        [
            "pki:revocations[0].when is not a known key; a revocation has endpoint (or uiClient), serial, epoch, reason and revokedAt",
        ],
    ],
    [
        "the same revocation twice",
        {
            revocations:
                '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-11-20" }, { endpoint: ob, serial: "0a:1b", revokedAt: "2026-11-21" }]',
        },
        [
            "pki:revocations[1] revokes the same certificate as pki:revocations[0] (endpoint ob, serial 0A1B); list it once",
        ],
    ],
    [
        "the same revocation twice, its serial with leading zeros the second time",
        {
            revocations:
                '[{ endpoint: ob, serial: 3F75D318, revokedAt: "2026-11-20" }, { endpoint: ob, serial: "003f75d318", revokedAt: "2026-11-20" }]',
        },
        [
            "pki:revocations[1] revokes the same certificate as pki:revocations[0] (endpoint ob, serial 003F75D318); list it once",
        ],
    ],
    [
        "the same UI client revocation twice, its name in capitals and its serial with leading zeros the second time",
        {
            frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [apic.example.api.bank.example] }",
            revocations:
                '[{ uiClient: sample-app, serial: 0A1B, revokedAt: "2026-11-20" }, { uiClient: Sample-App, serial: "00:0a:1b", revokedAt: "2026-11-20" }]',
        },
        [
            "pki:revocations[1] revokes the same certificate as pki:revocations[0] (uiClient Sample-App, serial 000A1B); list it once",
        ],
    ],
    [
        "revocations with ECDSA CA keys",
        { caKeyAlgorithm: "ECDSA", revocations: '[{ endpoint: ob, serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations needs pki:caKeyAlgorithm RSA: CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview",
        ],
    ],
    [
        "crlPeriodDays beyond 2^53: shown as written, not rounded or quoted as text",
        { crlPeriodDays: "9007199254740993" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got 9007199254740993"],
    ],
    [
        "crlPeriodDays 0",
        { crlPeriodDays: "0" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got 0"],
    ],
    [
        "crlPeriodDays 91",
        { crlPeriodDays: "91" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got 91"],
    ],
    [
        "crlPeriodDays -1",
        { crlPeriodDays: "-1" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got -1"],
    ],
    [
        "crlPeriodDays 7.5",
        { crlPeriodDays: "7.5" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got 7.5"],
    ],
    [
        "meshFinishAfterHours 24h",
        { meshFinishAfterHours: "24h" },
        [
            `pki:meshFinishAfterHours must be a whole number of hours from 0 to 2160 (istiod's workload certificate TTL; 0 only in an incident, every workload restarted); got "24h"`,
        ],
    ],
    [
        "meshFinishAfterHours -1",
        { meshFinishAfterHours: "-1" },
        [
            `pki:meshFinishAfterHours must be a whole number of hours from 0 to 2160 (istiod's workload certificate TTL; 0 only in an incident, every workload restarted); got -1`,
        ],
    ],
    [
        "meshFinishAfterHours 2161",
        { meshFinishAfterHours: "2161" },
        [
            `pki:meshFinishAfterHours must be a whole number of hours from 0 to 2160 (istiod's workload certificate TTL; 0 only in an incident, every workload restarted); got 2161`,
        ],
    ],
    [
        "meshFinishAfterHours 1.5",
        { meshFinishAfterHours: "1.5" },
        [
            `pki:meshFinishAfterHours must be a whole number of hours from 0 to 2160 (istiod's workload certificate TTL; 0 only in an incident, every workload restarted); got 1.5`,
        ],
    ],
    [
        "crlPeriodDays true",
        { crlPeriodDays: "true" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got true"],
    ],
    [
        "crlPeriodDays quoted with a leading zero",
        { crlPeriodDays: '"07"' },
        ['pki:crlPeriodDays must be a whole number of days from 1 to 90; got "07"'],
    ],
    [
        "crlPeriodDays as a list",
        { crlPeriodDays: "[7]" },
        ["pki:crlPeriodDays must be a whole number of days from 1 to 90; got [7]"],
    ],
    [
        "crlPeriodDays null",
        { crlPeriodDays: "null" },
        [
            'pki:crlPeriodDays is empty (YAML null, ~ and "" all reach the program as ""); set it to a whole number of days from 1 to 90, or remove the line for 7',
        ],
    ],
    [
        "offlineRoot, the key of earlier versions",
        { offlineRoot: "{ certificate: $ROOT }" },
        [
            "pki:offlineRoot is now pki:offlineRoots, one entry per root: pki:offlineRoots.meshRoot, pki:offlineRoots.serverRoot, pki:offlineRoots.clientRoot (pki:trustDomains separate); move { certificate, intermediates } under the root it belongs to",
        ],
    ],
    [
        "offlineRoots as text",
        { offlineRoots: "root.crt" },
        ['pki:offlineRoots must be a map of root -> { certificate, intermediates, crls }; got "root.crt"'],
    ],
    [
        "offlineRoots as a list",
        { offlineRoots: "[root.crt]" },
        ['pki:offlineRoots must be a map of root -> { certificate, intermediates, crls }; got ["root.crt"]'],
    ],
    [
        "offlineRoots null",
        { offlineRoots: "null" },
        [
            'pki:offlineRoots is empty (YAML null, ~ and "" all reach the program as ""); set it to a map of root -> { certificate, intermediates, crls }, or remove the line to make the roots in the stack',
        ],
    ],
    [
        "offlineRoots naming a root of the other trust layout",
        { trustDomains: "separate", offlineRoots: "{ root: { certificate: $ROOT } }" },
        [
            "pki:offlineRoots.root is not a root of this stack; with pki:trustDomains separate the roots are meshRoot, serverRoot, clientRoot",
        ],
    ],
    [
        "offlineRoots naming the shared root with trust domains unset (the default of earlier versions)",
        { offlineRoots: "{ root: { certificate: $ROOT } }" },
        [
            "pki:offlineRoots.root names the shared root, but pki:trustDomains is not set, and its default is now separate (one root per trust domain), no longer shared as in earlier versions. " +
                "Set pki:trustDomains: shared to keep the deployed shared root; with separate roots, the roots are meshRoot, serverRoot, clientRoot",
        ],
    ],
    [
        "offlineRoots naming no root",
        { offlineRoots: "{ edgeRoot: { certificate: $ROOT } }" },
        ["pki:offlineRoots.edgeRoot is not a root of this stack; the roots are meshRoot, serverRoot, clientRoot"],
    ],
    [
        "offlineRoots entry as text",
        { offlineRoots: "{ clientRoot: root.crt }" },
        ['pki:offlineRoots.clientRoot must be { certificate, intermediates, crls }; got "root.crt"'],
    ],
    [
        "offlineRoots entry without a certificate",
        { offlineRoots: "{ clientRoot: {} }" },
        [
            "pki:offlineRoots.clientRoot.certificate must be the root certificate in PEM (root.crt of the ceremony); got nothing",
        ],
    ],
    [
        "offlineRoots certificate read as a number",
        { offlineRoots: "{ clientRoot: { certificate: 5 } }" },
        [
            "pki:offlineRoots.clientRoot.certificate must be the root certificate in PEM (root.crt of the ceremony); got 5",
        ],
    ],
    [
        "offlineRoots certificate not PEM",
        { offlineRoots: '{ clientRoot: { certificate: "not a certificate" } }' },
        [
            "pki:offlineRoots.clientRoot.certificate must be the root certificate in PEM (root.crt of the ceremony); got text that is not a PEM certificate",
        ],
    ],
    [
        "offlineRoots certificate with the root's key after it (cat root.crt root.key)",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT_WITH_KEY } }" },
        [
            'pki:offlineRoots.clientRoot.certificate holds a private key (a "PRIVATE KEY" PEM block): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give root.crt of the ceremony alone',
        ],
    ],
    [
        "offlineRoots intermediate and crls each with a key after them",
        {
            offlineRoots:
                "{ clientRoot: { certificate: $ROOT, intermediates: { apic-client-ca: $ROOT_WITH_KEY }, crls: $ROOT_WITH_KEY } }",
        },
        [
            'pki:offlineRoots.clientRoot.intermediates.apic-client-ca holds a private key (a "PRIVATE KEY" PEM block): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give the certificate the ceremony signed alone',
            'pki:offlineRoots.clientRoot.crls holds a private key (a "PRIVATE KEY" PEM block): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give crls.pem of the ceremony alone',
        ],
    ],
    [
        // Each was taken, and the key went on with the text: OpenSSL and Envoy skip text between PEM blocks.
        "offlineRoots certificate with the root's key's base64 after it, without its BEGIN and END lines",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT_WITH_BARE_KEY } }" },
        [
            "pki:offlineRoots.clientRoot.certificate holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give root.crt of the ceremony alone",
        ],
    ],
    [
        "offlineRoots intermediate and crls each with a key's base64 after them, without its BEGIN and END lines",
        {
            offlineRoots:
                "{ clientRoot: { certificate: $ROOT, intermediates: { apic-client-ca: $ROOT_WITH_BARE_KEY }, crls: $ROOT_WITH_BARE_KEY } }",
        },
        [
            "pki:offlineRoots.clientRoot.intermediates.apic-client-ca holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give the certificate the ceremony signed alone",
            "pki:offlineRoots.clientRoot.crls holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give crls.pem of the ceremony alone",
        ],
    ],
    [
        // Each was taken: an encrypted key's base64 did not look like a key's, and its END line alone was no block.
        "offlineRoots certificate with the root's encrypted key after it, without its BEGIN line",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT_WITH_ENCRYPTED_KEY_END } }" },
        [
            'pki:offlineRoots.clientRoot.certificate holds a private key (a "ENCRYPTED PRIVATE KEY" PEM block without its BEGIN line): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give root.crt of the ceremony alone',
        ],
    ],
    [
        "offlineRoots crls with the root's encrypted key's base64 after them, without its BEGIN and END lines",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, crls: $ROOT_WITH_BARE_ENCRYPTED_KEY } }" },
        [
            "pki:offlineRoots.clientRoot.crls holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear and this text is handed out wherever the root is trusted, so take the key out (and replace it if the text has been shared); give crls.pem of the ceremony alone",
        ],
    ],
    [
        "offlineRoots entry with an unknown member",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, key: x } }" },
        ["pki:offlineRoots.clientRoot.key is not a known key; an offline root has certificate, intermediates, crls"],
    ],
    [
        "offlineRoots intermediates null",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, intermediates: null } }" },
        ["pki:offlineRoots.clientRoot.intermediates must map CA ids to the certificates the ceremony signed; got null"],
    ],
    [
        "offlineRoots intermediates as a list",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, intermediates: [x] } }" },
        [
            'pki:offlineRoots.clientRoot.intermediates must map CA ids to the certificates the ceremony signed; got ["x"]',
        ],
    ],
    [
        "offlineRoots intermediate not PEM",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, intermediates: { apic-client-ca: x } } }" },
        [
            "pki:offlineRoots.clientRoot.intermediates.apic-client-ca must be the certificate the ceremony signed, in PEM; got text that is not a PEM certificate",
        ],
    ],
    [
        "offlineRoots intermediate for a CA this root does not sign",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, intermediates: { gateway-server-ca: $ROOT } } }" },
        [
            "pki:offlineRoots.clientRoot.intermediates.gateway-server-ca is not a CA this root signs in this stack; its CAs are apic-client-ca",
        ],
    ],
    [
        "offlineRoots intermediate under a name holding a terminal escape: the name is shown escaped",
        { offlineRoots: '{ clientRoot: { certificate: $ROOT, intermediates: { "x\\e[2K\\rno problems": $ROOT } } }' },
        [
            'pki:offlineRoots.clientRoot.intermediates."x\\u001b[2K\\rno problems" is not a CA this root signs in this stack; its CAs are apic-client-ca',
        ],
    ],
    [
        "offlineRoots crls as a list",
        { offlineRoots: "{ clientRoot: { certificate: $ROOT, crls: [x] } }" },
        ['pki:offlineRoots.clientRoot.crls must be the ceremony\'s CRL series as PEM text (crls.pem); got ["x"]'],
    ],
    [
        "offlineRoots crls not PEM",
        { offlineRoots: '{ clientRoot: { certificate: $ROOT, crls: "a CRL" } }' },
        [
            'pki:offlineRoots.clientRoot.crls holds no PEM CRL ("-----BEGIN X509 CRL-----"); paste crls.pem of the ceremony',
        ],
    ],
    [
        "offlineRoots with a rotation of that root",
        {
            offlineRoots: "{ clientRoot: { certificate: $ROOT } }",
            caRotation: "{ clientRoot: { generation: 1, phase: prepare } }",
        },
        [
            'pki:caRotation.clientRoot rotates a root kept offline (pki:offlineRoots.clientRoot); a new offline root comes from a new ceremony: create it with "npx apic-istio-pki ceremony init-root" and replace pki:offlineRoots.clientRoot in a reviewed change',
        ],
    ],
    [
        "frontEnd as a list",
        { frontEnd: "[consumer-dashboard]" },
        [
            'pki:frontEnd must be a map such as { services: [...], callers: [], apicHosts: [...] }; got ["consumer-dashboard"]',
        ],
    ],
    [
        "frontEnd null",
        { frontEnd: "null" },
        [
            'pki:frontEnd is empty (YAML null, ~ and "" all reach the program as ""); set it to a map such as { services: [...], callers: [], apicHosts: [...] }, or remove the line for no UI services and no customer-facing hosts',
        ],
    ],
    [
        "frontEnd with an unknown member",
        { frontEnd: "{ uis: [x] }" },
        [
            "pki:frontEnd.uis is not a known key; known keys are namespace, services, callers, apicHosts, apicServerCa, customerFacing, customerFacingGateway, publicRoots",
        ],
    ],
    [
        "frontEnd.namespace in upper case",
        { frontEnd: "{ namespace: OB-UI }" },
        [
            "pki:frontEnd.namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got \"OB-UI\"",
        ],
    ],
    [
        "frontEnd.services as text",
        { frontEnd: "{ services: outages-ui }" },
        [
            'pki:frontEnd.services must be a list of UI service names or { name, namespace, labels } maps; got "outages-ui"',
        ],
    ],
    [
        "frontEnd.services with an underscore",
        { frontEnd: "{ services: [outages_ui] }" },
        [
            "pki:frontEnd.services[0] must name the service with letters, digits and '-' (as the inventory lists it); got \"outages_ui\"",
        ],
    ],
    [
        "frontEnd.services and callers read as numbers",
        { frontEnd: "{ services: [0x1F, { name: 1e3 }], callers: [012] }" },
        [
            "pki:frontEnd.services[0] must be a UI service name or { name, namespace, labels }; got 31. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
            "pki:frontEnd.services[1] must name the service with letters, digits and '-' (as the inventory lists it); got 1000. Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
            "pki:frontEnd.callers[0] 10 is not in pki:frontEnd.services; name one of the UI services (list them first). Quote it: YAML reads a name like 1234, 012, 1e3 or 0x1F as a number",
        ],
    ],
    [
        "frontEnd.services twice under one Kubernetes name",
        { frontEnd: "{ services: [Sample-App, sample-app] }" },
        [
            'pki:frontEnd.services[1] "sample-app" and "Sample-App" are one Kubernetes name, "sample-app" (names are lower-cased); list the service once',
        ],
    ],
    [
        "frontEnd.services entry with an unknown member",
        { frontEnd: "{ services: [{ name: sample-app, port: 8080 }] }" },
        ["pki:frontEnd.services[0].port is not a known key; a UI service has name, namespace and labels"],
    ],
    [
        "frontEnd.namespace istio-system for a caller",
        {
            frontEnd:
                "{ namespace: istio-system, services: [a-ui], callers: [a-ui], apicHosts: [apic.example.api.bank.example] }",
        },
        [
            'pki:frontEnd.namespace "istio-system" puts the caller "a-ui" in the namespace of istiod\'s plug-in CA key (the Secret cacerts) and the ingress gateway\'s server keys (pki:gatewayNamespace): ' +
                "a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so it could read them. Set pki:frontEnd.namespace to a namespace of the UI services' own (default ui)",
        ],
    ],
    [
        "frontEnd.services namespace that is pki:gatewayNamespace, for two callers of pki:frontEnd.namespace and one of its own",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd:
                "{ namespace: istio-ingress, services: [a-ui, b-ui, { name: c-ui, namespace: istio-ingress }, { name: d-ui, namespace: kube-system }, e-ui], callers: [a-ui, b-ui, c-ui, d-ui], apicHosts: [apic.example.api.bank.example] }",
        },
        [
            'pki:frontEnd.namespace "istio-ingress" puts the callers "a-ui", "b-ui" in the namespace of the ingress gateway\'s server keys (pki:gatewayNamespace): ' +
                "a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so they could read them. Set pki:frontEnd.namespace to a namespace of the UI services' own (default ui)",
            'pki:frontEnd.services[2].namespace "istio-ingress" puts the caller "c-ui" in the namespace of the ingress gateway\'s server keys (pki:gatewayNamespace): ' +
                "a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so it could read them. Give c-ui a namespace of its own",
            'pki:frontEnd.services[3].namespace "kube-system" puts the caller "d-ui" in the namespace of the cluster\'s own credentials: ' +
                "a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so it could read them. Give d-ui a namespace of its own",
        ],
    ],
    [
        "frontEnd caller in the customer-facing gateway's namespace",
        {
            frontEnd:
                "{ services: [{ name: a-ui, namespace: public-gw }], callers: [a-ui], apicHosts: [apic.example.api.bank.example], customerFacingGateway: { namespace: public-gw, selector: { istio: public-ingressgateway } } }",
        },
        [
            'pki:frontEnd.services[0].namespace "public-gw" puts the caller "a-ui" in the namespace of the customer-facing hosts\' keys (pki:frontEnd.customerFacingGateway.namespace): ' +
                "a calling UI service's account must be allowed to list the Secrets of its namespace (its sidecar reads its client Secret there; RBAC cannot narrow that to one Secret), so it could read them. Give a-ui a namespace of its own",
        ],
    ],
    [
        "frontEnd.customerFacingGateway not a map",
        { frontEnd: "{ customerFacingGateway: public-gw }" },
        [
            'pki:frontEnd.customerFacingGateway must be { namespace, selector }: the namespace and pod labels of the ingress gateway that serves the customer-facing hosts; got "public-gw"',
        ],
    ],
    [
        "frontEnd.customerFacingGateway with a bad namespace, an unknown member and no selector",
        { frontEnd: "{ customerFacingGateway: { namespace: Public_GW, labels: { a: b } } }" },
        [
            "pki:frontEnd.customerFacingGateway.labels is not a known key; the customer-facing gateway has namespace and selector",
            "pki:frontEnd.customerFacingGateway.namespace must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63); got \"Public_GW\"",
            "pki:frontEnd.customerFacingGateway.selector is required: the pod labels of the ingress gateway that serves the customer-facing hosts, e.g. { istio: public-ingressgateway }",
        ],
    ],
    [
        "frontEnd.customerFacingGateway without a namespace (the backend gateway's)",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacingGateway: { selector: { istio: public-ingressgateway } } }",
        },
        [
            "pki:frontEnd.customerFacingGateway.namespace is required: the namespace where the internet-facing gateway's pods run, one of its own (not istio-system, istio-ingress or kube-system), e.g. istio-ingress-public; " +
                "or leave pki:frontEnd.customerFacingGateway out to serve the customer-facing hosts from the backend gateway",
        ],
    ],
    [
        "frontEnd.customerFacingGateway in pki:gatewayNamespace",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd:
                "{ customerFacingGateway: { namespace: istio-ingress, selector: { istio: public-ingressgateway } } }",
        },
        [
            'pki:frontEnd.customerFacingGateway.namespace "istio-ingress" is the namespace of the ingress gateway\'s server keys (pki:gatewayNamespace): ' +
                gatewayNamespaceWhy("istio-system, istio-ingress or kube-system"),
        ],
    ],
    [
        "frontEnd.customerFacingGateway in istio-system, the gateway namespace elsewhere",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd:
                "{ customerFacingGateway: { namespace: istio-system, selector: { istio: public-ingressgateway } } }",
        },
        [
            'pki:frontEnd.customerFacingGateway.namespace "istio-system" is the namespace of istiod\'s plug-in CA key (the Secret cacerts): ' +
                gatewayNamespaceWhy("istio-system, istio-ingress or kube-system"),
        ],
    ],
    [
        "frontEnd.customerFacingGateway in istio-system, the gateway namespace too",
        {
            frontEnd:
                "{ customerFacingGateway: { namespace: istio-system, selector: { istio: public-ingressgateway } } }",
        },
        [
            "pki:frontEnd.customerFacingGateway.namespace \"istio-system\" is the namespace of istiod's plug-in CA key (the Secret cacerts) and the ingress gateway's server keys (pki:gatewayNamespace): " +
                gatewayNamespaceWhy("istio-system or kube-system", false),
        ],
    ],
    [
        "frontEnd.customerFacingGateway in kube-system",
        {
            frontEnd:
                "{ customerFacingGateway: { namespace: kube-system, selector: { istio: public-ingressgateway } } }",
        },
        [
            'pki:frontEnd.customerFacingGateway.namespace "kube-system" is the namespace of the cluster\'s own credentials: ' +
                gatewayNamespaceWhy("istio-system or kube-system", false),
        ],
    ],
    [
        "frontEnd.customerFacing served from the backend gateway in istio-system (pki:gatewayNamespace's default), where istiod's CA key is",
        { frontEnd: "{ customerFacing: { www.dev.bank.example: {} } }" },
        [backendServes("istio-system", "istiod's plug-in CA key (the Secret cacerts)")],
    ],
    [
        "frontEnd.customerFacing served from the backend gateway in kube-system",
        { gatewayNamespace: "kube-system", frontEnd: "{ customerFacing: { www.dev.bank.example: {} } }" },
        [backendServes("kube-system", "the cluster's own credentials")],
    ],
    [
        "frontEnd.customerFacingGateway selector empty",
        { frontEnd: "{ customerFacingGateway: { namespace: public-gw, selector: {} } }" },
        [
            "pki:frontEnd.customerFacingGateway.selector must be a non-empty map of the gateway's pod labels, e.g. { istio: public-ingressgateway }; got {}",
        ],
    ],
    [
        "frontEnd.customerFacingGateway selector with a label that is no text",
        { frontEnd: "{ customerFacingGateway: { namespace: public-gw, selector: { istio: [a] } } }" },
        ['pki:frontEnd.customerFacingGateway.selector.istio must be a Kubernetes label with a text value; got ["a"]'],
    ],
    [
        "frontEnd.customerFacingGateway selector values too long, with a trailing space, a leading '-' and a '/'",
        {
            frontEnd: `{ customerFacingGateway: { namespace: public-gw, selector: { istio: ${a(64)}, tier: "public ", app: -gw, zone: a/b } } }`,
        },
        [
            `pki:frontEnd.customerFacingGateway.selector.app "-gw" starts with "-"; a Kubernetes label value starts and ends with a letter or digit`,
            `pki:frontEnd.customerFacingGateway.selector.istio "${a(64)}" is 64 characters; a Kubernetes label value has at most 63`,
            `pki:frontEnd.customerFacingGateway.selector.tier "public " ends with " "; a Kubernetes label value starts and ends with a letter or digit`,
            `pki:frontEnd.customerFacingGateway.selector.zone "a/b" holds "/"; a Kubernetes label value has only letters, digits, '-', '_' and '.'`,
        ],
    ],
    [
        "frontEnd.customerFacingGateway in its own namespace with the backend gateway's labels",
        {
            frontEnd:
                "{ customerFacingGateway: { namespace: public-gw, selector: { istio: ingressgateway, tier: public } } }",
        },
        [
            'pki:frontEnd.customerFacingGateway.selector {"istio":"ingressgateway","tier":"public"} holds the backend gateway\'s labels (istio: ingressgateway), which the APIC Gateways select: ' +
                "Istio applies a Gateway's selector to gateway pods in every namespace (unless istiod runs with PILOT_SCOPE_GATEWAY_TO_NAMESPACE), so the customer-facing gateway's pods would serve the APIC hosts too. " +
                "Give the customer-facing gateway's pods labels of their own, e.g. { istio: public-ingressgateway }",
        ],
    ],
    [
        // The default ingress gateway's pods carry app: istio-ingressgateway beside istio: ingressgateway.
        "frontEnd.customerFacingGateway selecting by labels the backend gateway's pods carry too",
        {
            frontEnd:
                '{ customerFacingGateway: { namespace: public-gw, selector: { app: istio-ingressgateway, "sidecar.istio.io/inject": "false" } } }',
        },
        [
            'pki:frontEnd.customerFacingGateway.selector {"app":"istio-ingressgateway","sidecar.istio.io/inject":"false"} selects the backend ingress gateway\'s pods too: ' +
                "Istio's default ingress gateway carries app: istio-ingressgateway, sidecar.istio.io/inject: false beside istio: ingressgateway, " +
                "so the backend gateway would serve the customer-facing hosts and hold their keys. " +
                "Select the customer-facing gateway's pods by a label of their own, e.g. { istio: public-ingressgateway }",
        ],
    ],
    [
        // Helm gives every pod of the istio-ingress chart istio.labels: part-of istio, managed-by Helm.
        "frontEnd.customerFacingGateway.selector made of the chart's common labels",
        {
            frontEnd:
                '{ customerFacingGateway: { namespace: public-gw, selector: { app: istio-ingressgateway, "app.kubernetes.io/part-of": istio } } }',
        },
        [
            'pki:frontEnd.customerFacingGateway.selector {"app":"istio-ingressgateway","app.kubernetes.io/part-of":"istio"} selects the backend ingress gateway\'s pods too: ' +
                "Istio's default ingress gateway carries app: istio-ingressgateway, app.kubernetes.io/part-of: istio beside istio: ingressgateway, " +
                "so the backend gateway would serve the customer-facing hosts and hold their keys. " +
                "Select the customer-facing gateway's pods by a label of their own, e.g. { istio: public-ingressgateway }",
        ],
    ],
    [
        // Its folder apic/ui/truststore.json/ would meet the truststore's file after every key was made.
        // Named by its index in the list, an invalid host before it counted too.
        "frontEnd.apicHosts naming a file of the render's apic/ui/",
        {
            frontEnd:
                "{ services: [sample-app], callers: [sample-app], apicHosts: [apic.example.api.bank.example, bad_host, truststore.json] }",
        },
        [
            `pki:frontEnd.apicHosts[1] "bad_host" has the label "bad_host"; labels are lower-case letters, digits and '-', not starting or ending with '-'`,
            "pki:frontEnd.apicHosts[2] \"truststore.json\" is the name of a file a render writes in apic/ui/ (APIC's UI truststore), where the host's own folder of APIC files would go. " +
                "List the host(s) on which APIC receives the UI services' calls, e.g. [apic.dev.api.bank.example]",
        ],
    ],
    [
        "frontEnd.services labels as a list",
        { frontEnd: "{ services: [{ name: sample-app, labels: [app] }] }" },
        [
            'pki:frontEnd.services[0].labels must be a non-empty map of pod labels, e.g. { app: sample-app }; got ["app"]',
        ],
    ],
    [
        // No pod can carry such a key: its DestinationRule's workloadSelector would never match.
        "frontEnd.services labels with keys Kubernetes refuses",
        {
            frontEnd: `{ services: [{ name: sample-app, labels: { ${a(250)}.example/name: x, bank.example/${a(64)}: x, a..b/name: x, "bank.example/": x, tier: "x y" } }] }`,
        },
        [
            `pki:frontEnd.services[0].labels: the key "a..b/name" has the prefix "a..b"; a label key's prefix (before '/') is a DNS name: lower-case letters, digits, '-' and '.'`,
            `pki:frontEnd.services[0].labels: the key "${described(`${a(250)}.example/name`)}" has a prefix (before '/') of 258 characters; a label key's prefix has at most 253`,
            `pki:frontEnd.services[0].labels: the key "bank.example/" has the name ""; a label key's name (after any prefix/) is letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
            `pki:frontEnd.services[0].labels: the key "bank.example/${a(64)}" has a name (after any prefix/) of 64 characters; a label key's name has at most 63`,
            `pki:frontEnd.services[0].labels.tier "x y" holds " "; a Kubernetes label value has only letters, digits, '-', '_' and '.'`,
        ],
    ],
    [
        // Its DestinationRule would apply to the other's pods, which would present its certificate to APIC.
        "frontEnd.services: a caller's labels selecting another service's pods",
        {
            frontEnd:
                "{ services: [{ name: sample-app, labels: { tier: ui } }, { name: outages-ui, labels: { tier: ui, app: outages } }], callers: [sample-app], apicHosts: [apic.dev.api.bank.example] }",
        },
        [
            'pki:frontEnd.services[0].labels {"tier":"ui"} of "sample-app" also select the pods of "outages-ui" ({"app":"outages","tier":"ui"}) in ui: ' +
                "its DestinationRule would apply to them too (Istio applies one per pod), and they would call APIC with sample-app's certificate. Give sample-app labels only its pods carry",
        ],
    ],
    [
        "frontEnd.callers naming no UI service",
        { frontEnd: "{ services: [sample-app], callers: [outages-ui], apicHosts: [apic.dev.api.bank.example] }" },
        ['pki:frontEnd.callers[0] "outages-ui" is not in pki:frontEnd.services; name one of sample-app'],
    ],
    [
        "frontEnd.callers listing one twice",
        {
            frontEnd:
                "{ services: [sample-app], callers: [sample-app, Sample-App], apicHosts: [apic.dev.api.bank.example] }",
        },
        ['pki:frontEnd.callers lists "sample-app" twice; list each caller once'],
    ],
    [
        "frontEnd.callers without apicHosts",
        { frontEnd: "{ services: [sample-app], callers: [sample-app] }" },
        [
            "pki:frontEnd.apicHosts is required with pki:frontEnd.callers: list the APIC host(s) the UI services call, e.g. [apic.dev.api.bank.example]",
        ],
    ],
    [
        "frontEnd.apicHosts with an upper-case host",
        { frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [APIC.dev.api.bank.example] }" },
        [
            "pki:frontEnd.apicHosts[0] \"APIC.dev.api.bank.example\" has the label \"APIC\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        // A DestinationRule's dotless host is expanded into the cluster's domain; the ServiceEntry's is not.
        "frontEnd.apicHosts with a short name",
        { frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [apic] }" },
        [
            'pki:frontEnd.apicHosts[0] "apic" is a short name: Istio reads a DestinationRule\'s short host as apic.<its namespace>.svc.cluster.local, ' +
                "not as the ServiceEntry's \"apic\", so the UI sidecars would not originate mutual TLS to it. Give APIC's fully qualified host name",
        ],
    ],
    [
        "frontEnd.apicHosts listing a host twice",
        {
            frontEnd:
                "{ services: [sample-app], callers: [sample-app], apicHosts: [apic.dev.api.bank.example, apic.dev.api.bank.example] }",
        },
        ['pki:frontEnd.apicHosts lists "apic.dev.api.bank.example" twice; list each host once'],
    ],
    [
        "frontEnd.apicHosts empty with callers",
        { frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [] }" },
        [
            "pki:frontEnd.apicHosts must list the APIC host(s) the UI services of pki:frontEnd.callers call, e.g. [apic.dev.api.bank.example]; got []. Or empty pki:frontEnd.callers",
        ],
    ],
    [
        "frontEnd.apicHosts with two hosts of one Kubernetes name",
        {
            frontEnd:
                "{ services: [sample-app], callers: [sample-app], apicHosts: [apic-ui.bank.example, apic.ui-bank.example] }",
        },
        [
            'pki:frontEnd.apicHosts[1] "apic.ui-bank.example" and pki:frontEnd.apicHosts[0] "apic-ui.bank.example" have the same name in Kubernetes objects and APIC payloads, "apic-ui-bank-example" (dots become \'-\'), so one would replace the other\'s; give the UI services that call one of them a stack of their own',
        ],
    ],
    [
        // 253 characters, a DNS name's limit: apic-mtls-sample-app-<host> would have 274, apic-<host> 258.
        "frontEnd.apicHosts making DestinationRule and ServiceEntry names over Kubernetes' 253 characters",
        { frontEnd: `{ services: [sample-app], callers: [sample-app], apicHosts: [${longHost(253)}] }` },
        [
            `pki:frontEnd.apicHosts[0] "${longHost(253)}" is 253 characters: the stack would name the DestinationRule apic-mtls-sample-app-<host, dots as '-'> with 274 ` +
                `and the ServiceEntry apic-<host, dots as '-'> with 258, over Kubernetes' 253 for an object name. Give APIC a host of at most 232 characters, or a shorter name to the caller "sample-app"`,
        ],
    ],
    [
        "frontEnd.apicHosts making a DestinationRule name over 253 characters with the longest caller",
        {
            frontEnd: `{ services: [ui, sample-app], callers: [ui, sample-app], apicHosts: [apic.bank.example, ${longHost(235)}] }`,
        },
        [
            `pki:frontEnd.apicHosts[1] "${longHost(235)}" is 235 characters: the stack would name the DestinationRule apic-mtls-sample-app-<host, dots as '-'> with 256, ` +
                `over Kubernetes' 253 for an object name. Give APIC a host of at most 232 characters, or a shorter name to the caller "sample-app"`,
        ],
    ],
    [
        // Each caller calls each host: ui with x-apic.bank.example and ui-x with apic.bank.example.
        "frontEnd.callers and apicHosts naming two DestinationRules alike",
        {
            frontEnd:
                "{ services: [ui, ui-x], callers: [ui, ui-x], apicHosts: [apic.bank.example, x-apic.bank.example] }",
        },
        [
            'pki:frontEnd.callers "ui" with pki:frontEnd.apicHosts[1] "x-apic.bank.example" and "ui-x" with pki:frontEnd.apicHosts[0] "apic.bank.example" ' +
                `would both name their DestinationRule "apic-mtls-ui-x-apic-bank-example" in the namespace ui (every caller calls every host; dots become '-'), so one would replace the other. ` +
                "Keep one of the two callers in pki:frontEnd.callers, or one of the two hosts in pki:frontEnd.apicHosts",
        ],
    ],
    [
        "frontEnd.apicHosts naming a gateway endpoint's host",
        { frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [ob.dev.api.bank.example] }" },
        [
            'pki:frontEnd.apicHosts[0] "ob.dev.api.bank.example" is the host pki:domains.ob (endpoint "ob") serves on the ingress gateway, not one of APIC\'s: ' +
                "the UI services' calls would go to the gateway, which takes only APIC's client certificate there, and APIC's certificate for the host " +
                "would be a second one for the gateway's host. List the host(s) on which APIC receives the UI services' calls",
        ],
    ],
    [
        "frontEnd.customerFacing naming a gateway endpoint's host",
        { gatewayNamespace: "istio-ingress", frontEnd: "{ customerFacing: { ob.dev.api.bank.example: {} } }" },
        [
            'pki:frontEnd.customerFacing.ob.dev.api.bank.example is also the host pki:domains.ob (endpoint "ob") serves to APIC: the ingress gateway would have two servers for it on port 443 ' +
                "(MUTUAL for APIC, SIMPLE for customers), and Istio keeps only one of them, refusing the other's callers. Give the customer-facing host a name of its own",
        ],
    ],
    [
        "frontEnd.customerFacing naming an APIC host",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd:
                "{ services: [sample-app], callers: [sample-app], apicHosts: [apic.dev.api.bank.example], customerFacing: { apic.dev.api.bank.example: {} } }",
        },
        [
            "pki:frontEnd.customerFacing.apic.dev.api.bank.example is also pki:frontEnd.apicHosts[0]: a host is either served to customers by the ingress gateway (a public CA's certificate) " +
                "or APIC's host the UI services call (a certificate of this PKI), not both. Remove it from one of them",
        ],
    ],
    [
        "frontEnd.customerFacing with two hosts of one Kubernetes name",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www-dev.bank.example: {}, www.dev-bank.example: {} } }",
        },
        [
            'pki:frontEnd.customerFacing: the hosts "www-dev.bank.example" and "www.dev-bank.example" have the same name in Kubernetes objects, "www-dev-bank-example" (dots become \'-\'), so one\'s Secret public-tls-www-dev-bank-example would replace the other\'s; serve one of them from another stack',
        ],
    ],
    [
        // Its Secret public-tls-<host> would have 256 characters; the component refused it after other hosts' keys were made.
        "frontEnd.customerFacing host making a Secret name over Kubernetes' 253 characters",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: `{ customerFacing: { www.bank.example: {}, ${longHost(245)}: {} } }`,
        },
        [
            `pki:frontEnd.customerFacing: the host "${longHost(245)}" is 245 characters: its Secret public-tls-<host, dots as '-'> would be 256, ` +
                "over Kubernetes' 253 for an object name. A customer-facing host has at most 242 characters here",
        ],
    ],
    [
        // Istio reads a Secret <name>-cacert as the client CA of the Secret <name>; UiApicClient refused
        // this caller's Secret only mid-render, after other resources were made.
        "frontEnd caller whose client Secret ends in -cacert",
        {
            frontEnd:
                "{ services: [sample-app, { name: Sample-App-CACert, namespace: ui }, ui-cacert], callers: [sample-app, sample-app-cacert], apicHosts: [apic.dev.api.bank.example] }",
        },
        [
            'pki:frontEnd.services[1] "Sample-App-CACert", a caller, names its client Secret "apic-client-sample-app-cacert", which ends in -cacert: ' +
                'Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "apic-client-sample-app" in its namespace. ' +
                'List it under a name that does not end in -cacert, with labels {"app":"sample-app-cacert"} to keep selecting its pods, or leave it out of pki:frontEnd.callers',
        ],
    ],
    [
        "frontEnd.customerFacing host whose Secret ends in -cacert",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.bank.example: {}, www.bank-cacert: {} } }",
        },
        [
            'pki:frontEnd.customerFacing: the host "www.bank-cacert" would have the Secret "public-tls-www-bank-cacert", which ends in -cacert: ' +
                'Istio reads a Secret named <name>-cacert as the client CA (ca.crt, ca.crl) of the Secret <name>, so this one would replace the client trust of the Secret "public-tls-www-bank" in its namespace. ' +
                "Serve it with the CustomerFacingTls component and a secretName that does not end in -cacert",
        ],
    ],
    [
        "frontEnd.apicServerCa not PEM",
        { frontEnd: "{ apicServerCa: my-ca }" },
        [
            "pki:frontEnd.apicServerCa must be the root of APIC's UI-facing server certificate in PEM; got text with no PEM certificate",
        ],
    ],
    [
        "frontEnd.apicServerCa with the CA's private key pasted after it (copied into every UI service's ca.crt)",
        { frontEnd: "{ apicServerCa: $ROOT_WITH_KEY }" },
        [
            'pki:frontEnd.apicServerCa holds a private key (a "PRIVATE KEY" PEM block): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only',
        ],
    ],
    [
        "frontEnd.apicServerCa and publicRoots with the CA's key after them, without its BEGIN and END lines",
        { frontEnd: "{ apicServerCa: $ROOT_WITH_BARE_KEY, publicRoots: $ROOT_WITH_BARE_KEY }" },
        [
            "pki:frontEnd.apicServerCa holds a private key (its base64 without the BEGIN and END lines): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only",
            "pki:frontEnd.publicRoots holds a private key (its base64 without the BEGIN and END lines): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only",
        ],
    ],
    [
        "frontEnd.apicServerCa and publicRoots with the CA's encrypted key after them, without its BEGIN line or both lines",
        { frontEnd: "{ apicServerCa: $ROOT_WITH_ENCRYPTED_KEY_END, publicRoots: $ROOT_WITH_BARE_ENCRYPTED_KEY }" },
        [
            'pki:frontEnd.apicServerCa holds a private key (a "ENCRYPTED PRIVATE KEY" PEM block without its BEGIN line): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only',
            "pki:frontEnd.publicRoots holds a private key (its base64 without the BEGIN and END lines): a trust bundle is copied in clear to wherever it is used, so take the key out (and replace it if the text has been shared); give CA certificates only",
        ],
    ],
    [
        // It said "got text with no PEM certificate", though the root is there.
        "frontEnd.publicRoots with a block labelled CERTIFICATE that holds a key",
        { frontEnd: "{ publicRoots: $ROOT_WITH_KEY_AS_CERT }" },
        [
            "pki:frontEnd.publicRoots holds, as certificate 2, a PEM block that is not an X.509 certificate; give the CA certificates in PEM",
        ],
    ],
    [
        "frontEnd.apicServerCa after a byte order mark (each UI service's ca.crt, whose one root Envoy would skip)",
        { frontEnd: "{ apicServerCa: $BOM_ROOT }" },
        [
            "pki:frontEnd.apicServerCa has a byte order mark (U+FEFF, which Notepad writes at the start of a UTF-8 file) before the BEGIN line on line 1: " +
                "Envoy's BoringSSL and Go see no BEGIN line there and skip that block; remove the byte order mark (save the file as UTF-8 without BOM)",
        ],
    ],
    [
        "frontEnd.publicRoots as a list",
        { frontEnd: "{ publicRoots: [x] }" },
        ['pki:frontEnd.publicRoots must be one or more root certificates in PEM; got ["x"]'],
    ],
    [
        "frontEnd.customerFacing as a list",
        { frontEnd: "{ customerFacing: [www.dev.bank.example] }" },
        [
            'pki:frontEnd.customerFacing must map customer-facing hosts to { epoch, certificate, certificateEpoch }; got ["www.dev.bank.example"]',
        ],
    ],
    [
        "frontEnd.customerFacing host with an underscore",
        { frontEnd: "{ customerFacing: { www_dev.bank.example: {} } }" },
        [
            "pki:frontEnd.customerFacing: the host \"www_dev.bank.example\" has the label \"www_dev\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        "frontEnd.customerFacing host a path, its empty labels named once",
        { frontEnd: '{ customerFacing: { "../www": {} } }' },
        [
            "pki:frontEnd.customerFacing: the host \"../www\" has the label \"\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
            "pki:frontEnd.customerFacing: the host \"../www\" has the label \"/www\"; labels are lower-case letters, digits and '-', not starting or ending with '-'",
        ],
    ],
    [
        "frontEnd.apicHosts an IP address",
        { frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [10.0.0.1] }" },
        [
            'pki:frontEnd.apicHosts[0] "10.0.0.1" is an IP address; give the host\'s DNS name (Istio takes DNS names for Gateway and ServiceEntry hosts)',
        ],
    ],
    [
        "frontEnd.customerFacing host a wildcard",
        { frontEnd: '{ customerFacing: { "*.dev.bank.example": {} } }' },
        [
            'pki:frontEnd.customerFacing: the host "*.dev.bank.example" has the wildcard label "*"; name each host in full (certificates here are per host)',
        ],
    ],
    [
        "frontEnd.customerFacing entry null",
        { frontEnd: "{ customerFacing: { www.dev.bank.example: null } }" },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example must be { epoch, certificate, certificateEpoch } (or {} for a first CSR); got null",
        ],
    ],
    [
        "frontEnd.customerFacing epoch true",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { epoch: true } } }",
        },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.epoch must be a whole number from 0 to 9999 (raise it by one for a new key and CSR); got true",
        ],
    ],
    [
        "frontEnd.customerFacing certificateEpoch two behind",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { epoch: 2, certificateEpoch: 0 } } }",
        },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.certificateEpoch must be 1 or 2 (the key generation the certificate is for: the requested one, or the one before it while the new CSR is being signed); got 0",
        ],
    ],
    [
        "frontEnd.customerFacing certificate not PEM",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { certificate: signed } } }",
        },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.certificate must be the public CA's certificate in PEM (the leaf, then its chain); got text with no PEM certificate",
        ],
    ],
    [
        "frontEnd.customerFacing certificate with a private key pasted after it (the stack file is kept in clear)",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { certificate: $ROOT_WITH_KEY } } }",
        },
        [
            'pki:frontEnd.customerFacing.www.dev.bank.example.certificate holds a private key (a "PRIVATE KEY" PEM block): the stack configuration is kept in clear, so take the key out ' +
                "(and, if it is this host's key, raise pki:frontEnd.customerFacing.www.dev.bank.example.epoch for a new key and CSR); give the public CA's certificate and its chain only",
        ],
    ],
    [
        // Taken, and tls.crt went without it: OpenSSL and Envoy skip text between PEM blocks.
        "frontEnd.customerFacing certificate with a private key's base64 after it, without its BEGIN and END lines",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { certificate: $ROOT_WITH_BARE_KEY } } }",
        },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.certificate holds a private key (its base64 without the BEGIN and END lines): the stack configuration is kept in clear, so take the key out " +
                "(and, if it is this host's key, raise pki:frontEnd.customerFacing.www.dev.bank.example.epoch for a new key and CSR); give the public CA's certificate and its chain only",
        ],
    ],
    [
        // It said "got text with no PEM certificate", though the first block is a certificate.
        "frontEnd.customerFacing certificate with a block labelled CERTIFICATE that holds a key",
        {
            gatewayNamespace: "istio-ingress",
            frontEnd: "{ customerFacing: { www.dev.bank.example: { certificate: $ROOT_WITH_KEY_AS_CERT } } }",
        },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.certificate holds, as certificate 2 of 2, a block that is no certificate; give the public CA's certificate in PEM (the leaf, then its chain)",
        ],
    ],
    [
        "frontEnd.customerFacing with an unknown member",
        { gatewayNamespace: "istio-ingress", frontEnd: "{ customerFacing: { www.dev.bank.example: { key: x } } }" },
        [
            "pki:frontEnd.customerFacing.www.dev.bank.example.key is not a known key; a customer-facing host has epoch, certificate and certificateEpoch",
        ],
    ],
    [
        "revocation naming an endpoint and a uiClient",
        { revocations: '[{ endpoint: ob, uiClient: sample-app, serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            "pki:revocations[0] names both an endpoint and a uiClient; a revocation is of one certificate: keep the one it was issued to",
        ],
    ],
    [
        "revocation of a UI service that does not call APIC",
        { revocations: '[{ uiClient: sample-app, serial: 0A1B, revokedAt: "2026-11-20" }]' },
        [
            'pki:revocations[0].uiClient "sample-app" is not a UI service that calls APIC in this stack; its callers are none',
        ],
    ],
    [
        "trustDomains unknown",
        { trustDomains: "edge" },
        [
            'pki:trustDomains must be separate (a mesh root, a gateway server root and an APIC client root: a key in a cluster can mint nothing the edge trusts) or shared (one root for everything, the weaker guarantee); got "edge"',
        ],
    ],
    [
        "trustDomains true",
        { trustDomains: "true" },
        [
            'pki:trustDomains must be separate (a mesh root, a gateway server root and an APIC client root: a key in a cluster can mint nothing the edge trusts) or shared (one root for everything, the weaker guarantee); got "true"',
        ],
    ],
    [
        "trustDomains null",
        { trustDomains: "null" },
        [
            'pki:trustDomains is empty (YAML null, ~ and "" all reach the program as ""); set it to separate or shared, or remove the line for separate roots',
        ],
    ],
    [
        // Under one root APIC's UI truststore is the mesh root too: every workload's own certificate passes it.
        "trustDomains shared with UI services calling APIC",
        {
            trustDomains: "shared",
            frontEnd: "{ services: [sample-app], callers: [sample-app], apicHosts: [apic.dev.api.bank.example] }",
        },
        [
            "pki:trustDomains is shared, but pki:frontEnd.callers lists sample-app: APIC's UI-facing truststore would hold the one root " +
                "the mesh CAs are under, so every mesh workload's own certificate would pass it as a UI client (APIC cannot pin keys). " +
                "Set pki:trustDomains to separate (or remove it), or empty pki:frontEnd.callers",
        ],
    ],
    [
        "pkcs12Iterations below Java 17's default",
        { pkcs12Iterations: "9999" },
        [
            "pki:pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got 9999",
        ],
    ],
    [
        "pkcs12Iterations above what the modern profile writes (its MAC key derivation runs in JavaScript)",
        { pkcs12Iterations: "1000001" },
        [
            "pki:pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got 1000001",
        ],
    ],
    [
        "pkcs12Iterations above what Java opens",
        { pkcs12Iterations: "5000001" },
        [
            "pki:pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got 5000001",
        ],
    ],
    [
        "pkcs12Iterations above what the legacy profile takes (its key derivations run in JavaScript)",
        { pkcs12Profile: "legacy", pkcs12Iterations: "100001" },
        [
            "pki:pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 100000 with pki:pkcs12Profile legacy (its key derivations run in JavaScript: about 1 s per keystore at 100000; pki:pkcs12Profile modern takes up to 1000000); got 100001",
        ],
    ],
    [
        "pkcs12Iterations in exponent form",
        { pkcs12Iterations: '"1e5"' },
        [
            'pki:pkcs12Iterations must be a whole number from 10000 (Java 17\'s default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got "1e5"',
        ],
    ],
    [
        "pkcs12Iterations true",
        { pkcs12Iterations: "true" },
        [
            "pki:pkcs12Iterations must be a whole number from 10000 (Java 17's default) to 1000000 (its MAC key derivation runs in JavaScript: about 4 s per keystore at 1000000; the 32-character random password gains nothing from more); got true",
        ],
    ],
    [
        "pkcs12Iterations null",
        { pkcs12Iterations: "null" },
        [
            'pki:pkcs12Iterations is empty (YAML null, ~ and "" all reach the program as ""); set it to a whole number from 10000 to 1000000, or remove the line for 10000',
        ],
    ],
    [
        "pkcs12Profile null",
        { pkcs12Profile: "null" },
        [
            'pki:pkcs12Profile is empty (YAML null, ~ and "" all reach the program as ""); set it to modern or legacy, or remove the line for modern',
        ],
    ],
    [
        "pkcs12Profile capitalised",
        { pkcs12Profile: "Modern" },
        [
            'pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got "Modern"',
        ],
    ],
    [
        "pkcs12Profile aes",
        { pkcs12Profile: "aes" },
        [
            'pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got "aes"',
        ],
    ],
    [
        "pkcs12Profile true",
        { pkcs12Profile: "true" },
        [
            "pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got true",
        ],
    ],
    [
        "pkcs12Profile as a list",
        { pkcs12Profile: "[modern]" },
        [
            'pki:pkcs12Profile must be modern (AES-256, PBKDF2-SHA256, SHA-256 MAC) or legacy (3DES, SHA-1 MAC, for old clients); got ["modern"]',
        ],
    ],
    [
        "a misspelt key",
        { basedomain: "x" },
        [
            "pki:basedomain is not a known key; known keys are pki:environment, pki:option, pki:baseDomain, pki:organization, pki:domains, pki:clusters, pki:meshStrictMtls, pki:gatewayNamespace, pki:trustDomains, pki:keyAlgorithm, pki:caKeyAlgorithm, pki:validityDays, pki:earlyRenewalDays, pki:rotation, pki:caRotation, pki:revocations, pki:crlPeriodDays, pki:meshFinishAfterHours, pki:offlineRoots, pki:pkcs12Profile, pki:pkcs12Iterations, pki:frontEnd. Fix the spelling or remove it",
        ],
    ],
    [
        "a key in the old pki:config: form next to the same key",
        { "config:option": "2" },
        ["pki:config:option and pki:option are the same key to Pulumi (pki:option); keep one"],
    ],
    [
        "a key Pulumi cannot parse",
        { "a:b": "x" },
        [
            "the config key pki:a:b is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
        ],
    ],
    [
        "a value with a YAML tag",
        { option: "!!int 2" },
        [
            "pki:option carries the YAML tag !!int, which this loader does not read; remove the tag (quote a value to make it text)",
        ],
    ],
    [
        "a nested value with a YAML tag",
        { validityDays: "{ leaf: !!float 365 }" },
        [
            "pki:validityDays.leaf carries the YAML tag !!float, which this loader does not read; remove the tag (quote a value to make it text)",
        ],
    ],
    [
        "a map with a YAML merge key",
        { validityDays: "{ <<: { leaf: 300 } }" },
        ["pki:validityDays uses a YAML merge key (<<), which this loader does not read; write the keys out"],
    ],
    [
        "a secret pki: value",
        { organization: "{ secure: v1:AAAA }" },
        [
            "pki:organization is a secret ({ secure: ... }); render cannot decrypt Pulumi secrets, and no pki: key needs to be one: set it in plain text (pulumi config set without --secret)",
        ],
    ],
    [
        "a secret nested in a pki: value",
        { offlineRoot: "{ certificate: { secure: v1:AAAA } }" },
        [
            "pki:offlineRoot.certificate is a secret ({ secure: ... }); render cannot decrypt Pulumi secrets, and no pki: key needs to be one: set it in plain text (pulumi config set without --secret)",
        ],
    ],
    [
        "a NaN nested in a value",
        { rotation: "{ leafEpoch: .nan }" },
        ["pki:rotation.leafEpoch is .nan, which Pulumi cannot pass (Go's encoding/json refuses it); write a number"],
    ],
    [
        "two map keys Pulumi reads alike",
        { validityDays: "{ 1: 2, 01: 3 }" },
        ["pki:validityDays has two keys that Pulumi reads as 1; keep one (quote a key to keep it as written)"],
    ],
    [
        "several problems at once",
        { environment: "Dev", option: "9", keyAlgorithm: "DSA", crlPeriodDays: "true" },
        [
            "pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got \"Dev\"",
            "pki:option must be 1, 2 or 3; got 9",
            'pki:keyAlgorithm must be RSA (2048-bit) or ECDSA (P-256); got "DSA". Weaker keys (RSA < 2048, P-224) are not offered',
            "pki:crlPeriodDays must be a whole number of days from 1 to 90; got true",
        ],
    ],
];

/** Whole files; `$FILE` stands for the file's path. */
const FILE_CASES: [string, string, string[]][] = [
    [
        "config: as a list",
        "config:\n  - pki:environment: dev\n  - pki:option: 1\n",
        [
            'stack file $FILE: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got a list of 2 items',
        ],
    ],
    [
        "config: as text",
        "config: pki:option=1\n",
        [
            'stack file $FILE: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got a text of 12 characters',
        ],
    ],
    [
        "a list, not a map",
        "- pki:environment: dev\n- pki:option: 1\n",
        ['stack file $FILE must be a map holding "config:" (config: { pki:option: 2, ... }); it is a list of 2 items'],
    ],
    [
        "a line of text",
        "pki:option=1\n",
        [
            'stack file $FILE must be a map holding "config:" (config: { pki:option: 2, ... }); it is a text of 12 characters',
        ],
    ],
    [
        "the PKCS#12 password file render writes (client.p12.password), given by mistake: described, never quoted",
        "q7Rk2XbN9mWc4TfJ8hLp3VzYd6GsA1Ue",
        [
            'stack file $FILE must be a map holding "config:" (config: { pki:option: 2, ... }); it is a text of 32 characters',
        ],
    ],
    [
        "a .env of tokens, given by mistake: described, never quoted",
        "GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a\nPULUMI_ACCESS_TOKEN=pul-0123456789abcdef\n",
        [
            'stack file $FILE must be a map holding "config:" (config: { pki:option: 2, ... }); it is a text of 94 characters',
        ],
    ],
    [
        "no config: at all",
        "encryptionsalt: v1:abc\n",
        [
            'stack file $FILE: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got nothing',
        ],
    ],
    [
        "an empty file",
        "",
        [
            'stack file $FILE: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got nothing',
        ],
    ],
    [
        "config: set to nothing",
        "config:\n",
        [
            'stack file $FILE: "config:" must be a map of keys such as pki:option: 2 (see stacks/Pulumi.dev.yaml); got nothing',
        ],
    ],
    [
        "an ESC environment import",
        "environment:\n  - bank/dev\nconfig:\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        [
            "stack file $FILE imports Pulumi ESC environments (environment:), whose values render cannot read; put the pki: keys in the stack file itself",
        ],
    ],
    // yaml.v3 applies these merges (pulumi up would set pki:meshStrictMtls); the old loader dropped them without a word.
    [
        "a merge key (<<) in the config: map",
        "config:\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n  <<: { pki:meshStrictMtls: true }\n",
        ['stack file $FILE: "config:" uses a YAML merge key (<<), which this loader does not read; write the keys out'],
    ],
    [
        "a merge key (<<) at the top level",
        "<<: { config: { pki:meshStrictMtls: true } }\nconfig:\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        ["stack file $FILE uses a YAML merge key (<<), which this loader does not read; write the keys out"],
    ],
    [
        "a config key read as a number",
        "config:\n  1: x\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        [
            "the config key 1 is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
        ],
    ],
    [
        "config keys read as a time, a hex number, a map and a list: shown as written, the map and list by their size",
        "config:\n  2026-01-01: 1\n  0x10: 2\n  ? { a: 1 }\n  : 3\n  ? [a, b]\n  : 4\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        [
            "the config key 2026-01-01 is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
            "the config key 0x10 is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
            "the config key (a map of 1 key) is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
            "the config key (a list of 2 items) is not one Pulumi can read: config keys are text of the form <namespace>:<name>, e.g. pki:option",
        ],
    ],
    [
        "a member's key read as a time, in the path of a problem below it: shown as written",
        "config:\n  pki:validityDays: { 2026-01-01: !!int 1 }\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        [
            "pki:validityDays.2026-01-01 carries the YAML tag !!int, which this loader does not read; remove the tag (quote a value to make it text)",
        ],
    ],
    [
        "a member's key that is a list, with a problem below it: the key is refused first",
        "config:\n  pki:validityDays: { ? [a] : !!int 1 }\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n",
        ["pki:validityDays has a list or map as a key, which Pulumi cannot read; use text keys"],
    ],
    [
        "a config key holding a terminal escape",
        'config:\n  "pki:option\\e[2K": 1\n  pki:environment: dev\n  pki:option: 1\n  pki:baseDomain: dev.api.bank.example\n  pki:domains: { ob: { services: [accounts] } }\n',
        [
            'pki:"option\\u001b[2K" is not a known key; known keys are pki:environment, pki:option, pki:baseDomain, pki:organization, pki:domains, pki:clusters, pki:meshStrictMtls, ' +
                "pki:gatewayNamespace, pki:trustDomains, pki:keyAlgorithm, pki:caKeyAlgorithm, pki:validityDays, pki:earlyRenewalDays, pki:rotation, pki:caRotation, pki:revocations, " +
                "pki:crlPeriodDays, pki:meshFinishAfterHours, pki:offlineRoots, pki:pkcs12Profile, pki:pkcs12Iterations, pki:frontEnd. Fix the spelling or remove it",
        ],
    ],
];

describe("Invalid stack files are refused with every problem named, before anything is planned or registered", function () {
    this.timeout(60_000);
    const dir = tempDir("config-cases");
    const engine = new EngineStandIn();
    const root = createRoot({ commonName: "Case Root", validityDays: 3650, keyAlgorithm: "ECDSA" });

    before(async () => {
        await pulumi.runtime.setMocks(engine, "apic-istio-pki", "config-cases", false);
    });

    /**
     * Loads, plans and builds `text` as render does; returns what was thrown and how many resources
     * this attempt registered (counted, so that a case wrongly accepted fails alone).
     */
    async function attempt(name: string, text: string): Promise<{ file: string; error: unknown; registered: number }> {
        const file = path.join(dir, `Pulumi.${name}.yaml`);
        fs.writeFileSync(file, text);
        const before = engine.resources.length;
        let error: unknown;
        try {
            buildPki(planFromRawConfig(rawConfigFromStackFile(file)));
        } catch (err) {
            error = err;
        }
        await new Promise((resolve) => setImmediate(resolve));
        return { file, error, registered: engine.resources.length - before };
    }

    it("has a case for every key of the README's configuration table", () => {
        const readme = fs.readFileSync(path.join(__dirname, "../../README.md"), "utf8");
        const documented = [...readme.matchAll(/^\| `pki:(\w+)` \|/gm)].map((m) => m[1]);
        const covered = new Set(CASES.flatMap(([, overrides]) => Object.keys(overrides)));
        assert.ok(documented.length >= 18, `README lists ${documented.length} keys`);
        assert.deepStrictEqual(
            documented.filter((key) => !covered.has(key)),
            [],
        );
        assert.ok(CASES.length + FILE_CASES.length >= 150, `${CASES.length + FILE_CASES.length} cases`);
    });

    CASES.forEach(([title, overrides, problems], i) => {
        it(`${title}: refused, naming the key, the bad value and the fix`, async () => {
            const { error, registered } = await attempt(`case-${i}`, stackFileText(overrides, root));
            assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
            assert.deepStrictEqual(error.problems, problems);
            // The stack's root key, pasted with or without its PEM lines, is never quoted.
            for (const line of keyBody(root.keyPem).trim().split("\n")) assert.ok(!error.message.includes(line), title);
            assert.strictEqual(registered, 0, "nothing registered");
        });
    });

    FILE_CASES.forEach(([title, text, problems], i) => {
        it(`${title}: refused with one clear message`, async () => {
            const { file, error, registered } = await attempt(`file-${i}`, text);
            assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
            assert.deepStrictEqual(
                error.problems,
                problems.map((p) => p.replace("$FILE", file)),
            );
            assert.strictEqual(registered, 0, "nothing registered");
        });
    });

    it("takes no certificate, CRL, public key or PKCS#12 for a key's bare base64 (Mozilla's roots too), and finds each kind of key", async () => {
        // What a certificate-valued key may hold between its blocks, as base64 without PEM lines.
        const base64 = (der: Buffer) => `${der.toString("base64").replace(/.{64}/g, "$&\n")}\n`;
        // Node's copy of Mozilla's roots: on every machine, unlike the system's bundle.
        const systemRoots = tls.rootCertificates;
        const issuer = createRoot({ commonName: "Base64 Root", validityDays: 3650, keyAlgorithm: "RSA" });
        const hour = 3_600_000;
        const publicKeys = [
            crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey,
            crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
            crypto.generateKeyPairSync("ed25519").publicKey,
        ].map((key) => base64(key.export({ type: "spki", format: "der" })));
        const pkcs12 = buildPkcs12({
            keyPem: issuer.keyPem,
            certPems: [issuer.certPem],
            password: "p",
            friendlyName: "x",
            profile: "modern",
            iterations: 1,
        });
        const publicTexts = [
            ...[...systemRoots, issuer.certPem, emptyCrlOf(issuer, Date.now() - hour, Date.now() + hour)].map(keyBody),
            ...publicKeys,
            base64(pkcs12),
        ];
        const found = (text: string) => [pastedPrivateKey(issuer.certPem + text), withoutPrivateKeys(text) !== text];
        assert.deepStrictEqual(
            publicTexts.map(found).filter(([pasted, hidden]) => pasted !== undefined || hidden),
            [],
        );
        const keys = [
            keyBody(issuer.keyPem),
            keyBody(
                crypto
                    .generateKeyPairSync("ec", { namedCurve: "P-256" })
                    .privateKey.export({ type: "sec1", format: "pem" }) as string,
            ),
            keyBody(encryptRootKey(issuer.keyPem, PASSPHRASE)),
            // Node's own export (PBES2, AES-256-CBC), as openssl pkcs8 -topk8 writes.
            keyBody(
                crypto
                    .createPrivateKey(issuer.keyPem)
                    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: PASSPHRASE }) as string,
            ),
        ];
        assert.deepStrictEqual(
            keys.map(found),
            keys.map(() => ["its base64 without the BEGIN and END lines", true]),
        );
    });

    it("hides a key's PEM in base64 after a certificate's, after openssl pkcs12's Bag Attributes, wrapped and indented, or encoded twice, and shows the certificate's", async () => {
        // Whoever reads the CI log or the pull-request comment holds nothing of the key afterwards.
        const b64 = (text: string) => Buffer.from(text).toString("base64");
        const [cert, key] = [b64(TEST_ONLY_CA_CERT_PEM), b64(TEST_ONLY_CA_KEY_PEM)];
        assert.ok(cert.endsWith("="), "the certificate's base64 ends in padding, where one decoding stops");
        const HIDDEN = "(a private key, not shown)";
        const bag = b64(
            `Bag Attributes\n    localKeyID: 01 02\nKey Attributes: <No Attributes>\n${TEST_ONLY_CA_KEY_PEM}`,
        );
        const wrapped = (text: string) => (text.match(/.{1,76}/g) ?? []).join("\n      ");
        const lines = (text: string, width: number, indent = "") =>
            (text.match(new RegExp(`.{1,${width}}`, "g")) ?? []).map((line) => indent + line).join("\n");
        const trailingSpaces = (text: string) => lines(text, 64).replace(/\n|$/g, " $&");
        const certDer = keyBody(TEST_ONLY_CA_CERT_PEM).replace(/\n/g, "");
        // An unencrypted OpenSSH key's body (PROTOCOL.key), as ssh-keygen writes it, of an Ed25519 key.
        const sshString = (data: Buffer | string) => {
            const length = Buffer.alloc(4);
            length.writeUInt32BE(Buffer.byteLength(data));
            return Buffer.concat([length, Buffer.from(data)]);
        };
        const ed25519 = crypto.generateKeyPairSync("ed25519");
        const publicKey = ed25519.publicKey.export({ type: "spki", format: "der" }).subarray(-32);
        const seed = ed25519.privateKey.export({ type: "pkcs8", format: "der" }).subarray(-32);
        const publicBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
        const check = crypto.randomBytes(4);
        const secret = Buffer.concat([
            check,
            check,
            publicBlob,
            sshString(Buffer.concat([seed, publicKey])),
            sshString(""),
        ]);
        const padded = Buffer.concat([
            secret,
            Buffer.from([1, 2, 3, 4, 5, 6, 7]).subarray(0, (8 - (secret.length % 8)) % 8),
        ]);
        const openSsh = Buffer.concat([
            Buffer.from("openssh-key-v1\0"),
            ...["none", "none", ""].map(sshString),
            Buffer.from([0, 0, 0, 1]),
            sshString(publicBlob),
            sshString(padded),
        ]).toString("base64");
        const cases: [string, string][] = [
            [`    ${cert}\n    ${key}\n`, `    ${cert}\n    ${HIDDEN}\n`],
            [`${cert}${key}`, `${cert}${HIDDEN}`],
            [`\n${bag}`, `\n${HIDDEN}`],
            [`pem: |\n      ${wrapped(key)}\nnext: 1`, `pem: |\n      ${HIDDEN}\nnext: 1`],
            [`x: ${b64(key)}`, `x: ${HIDDEN}`],
            [`x: ${b64(wrapped(key))}`, `x: ${HIDDEN}`],
            [`    ${cert}\n    ${wrapped(cert)}`, `    ${cert}\n    ${wrapped(cert)}`],
            // Lines with trailing spaces, or apart at a JSON string's \n escapes (a kubeconfig).
            [trailingSpaces(key), `${HIDDEN} `],
            [JSON.stringify({ "client-key-data": lines(key, 76) }), `{"client-key-data":"${HIDDEN}"}`],
            // Its last line too when a closing bracket follows it.
            [`(${lines(key, 76)})`, `(${HIDDEN})`],
            [`[${lines(key, 76)}]`, `[${HIDDEN}]`],
            // A bare key (PKCS#8 DER, OpenSSH's "openssh-key-v1\0") wrapped and indented, or encoded.
            [lines(keyBody(TEST_ONLY_CA_KEY_PEM).replace(/\n/g, ""), 64, "    "), `    ${HIDDEN}`],
            [`x: ${lines(openSsh, 70)}`, `x: ${HIDDEN}`],
            [`x: ${b64(`-----BEGIN OPENSSH PRIVATE KEY-----\n${lines(openSsh, 70)}\n`)}`, `x: ${HIDDEN}`],
            // After a certificate's base64 without its padding, or after stray characters.
            [`${cert.replace(/=+$/, "")}${key}`, HIDDEN],
            [`ab${key}`, HIDDEN],
            // Certificates so written stay.
            [trailingSpaces(cert), `${trailingSpaces(cert)}`],
            [JSON.stringify({ ca: lines(cert, 76) }), JSON.stringify({ ca: lines(cert, 76) })],
            [lines(certDer, 64, "    "), lines(certDer, 64, "    ")],
        ];
        assert.deepStrictEqual(
            cases.map(([text]) => withoutPrivateKeys(text)),
            cases.map(([, shown]) => shown),
        );
        assert.strictEqual(
            pastedPrivateKey(`${TEST_ONLY_CA_CERT_PEM}${lines(openSsh, 70)}\n`),
            "its base64 without the BEGIN and END lines",
        );
        // The message of a stack file whose pki:environment holds them, as inventory and diff print it.
        const dir = tempDir("key-after-cert");
        const file = path.join(dir, "Pulumi.dev.yaml");
        fs.writeFileSync(file, `config:\n  pki:environment: |\n    ${cert}\n    ${key}\n`);
        const { status, err } = await cli("inventory", "--config", file);
        assert.strictEqual(status, 1);
        // Over 200 characters even without its key: not shown at all.
        assert.ok(err.includes(`got "${described(`${cert}\n${key}\n`)}"`), err);
        assert.ok(!err.includes(key.slice(200, 240)) && !err.includes(TEST_ONLY_CA_KEY_PEM.split("\n")[2]), err);
        // Encoded with trailing spaces, in a YAML literal block.
        fs.writeFileSync(file, `config:\n  pki:organization: |\n${lines(key, 64, "    ").replace(/\n|$/g, " $&")}\n`);
        const organization = await cli("inventory", "--config", file);
        assert.strictEqual(organization.status, 1);
        assert.ok(organization.err.includes(HIDDEN), organization.err);
        assert.ok(!organization.err.includes(key.slice(200, 240)), organization.err);
        // Linear: 15 MB of base64 in about a second at most.
        const start = Date.now();
        withoutPrivateKeys(cert.repeat(15_000_000 / cert.length));
        assert.ok(Date.now() - start < 3_000, `${Date.now() - start} ms`);
        // Millions of tiny encodings ("A=" each) are not decoded, nor each cut out.
        const tiny = Date.now();
        withoutPrivateKeys(`x ${"A=".repeat(7_500_000)}`);
        assert.ok(Date.now() - tiny < 1_500, `${Date.now() - tiny} ms`);
        // A hex line of 15 MB, which a backtracking regular expression would overflow the stack on.
        const hexLine = "0123456789abcdef".repeat(15_000_000 / 16);
        const hexStart = Date.now();
        assert.strictEqual(withoutPrivateKeys(hexLine), hexLine);
        assert.ok(Date.now() - hexStart < 3_000, `${Date.now() - hexStart} ms`);
        // Millions of short base64 lines overflow the regular expressions' stack: such a text is
        // not shown at all, rather than the message it belongs in failing with a RangeError.
        assert.strictEqual(
            withoutPrivateKeys("MAAA\n".repeat(3_000_000)),
            "(15000000 characters that could not be searched for private keys, not shown)",
        );
    });

    it("refuses YAML that is not one document with unique keys, naming the file and the place, never quoting it", async () => {
        for (const [name, text, message] of [
            [
                "twice",
                "config:\n  pki:option: 1\n  pki:option: 2\n",
                'the key "pki:option" appears twice in one map (again at line 3); keep one (Pulumi refuses the file too)',
            ],
            [
                "twice below",
                "config:\n  pki:domains:\n    ob: { services: [a] }\n    ob: { services: [b] }\n",
                'the key "ob" appears twice in one map (again at line 4); keep one (Pulumi refuses the file too)',
            ],
            ["documents", "config:\n  pki:option: 1\n---\nconfig: {}\n", "several documents (---) at line 3, column 1"],
            // The parser's own messages quote the text ("Invalid escape sequence \q", "Block scalar
            // header includes extra characters: |Tr0ub4dor&3"): kind and place only.
            [
                "escape",
                'config:\n  pki:option: "\\qTr0ub4dor&3"\n',
                `the escape (\\) at line 2, column 16 is not one of YAML 1.1's, the only ones Pulumi's YAML reader reads ("found unknown escape character"; \\/ is YAML 1.2's): write the character itself, or \\\\ for a backslash`,
            ],
            [
                "block-header",
                "config:\n  pki:option: |Tr0ub4dor&3\n    1\n",
                "a character or token out of place at line 2, column 16",
            ],
        ]) {
            const { file, error, registered } = await attempt(name, text);
            assert.ok(error instanceof Error && !(error instanceof ConfigError), String(error));
            assert.ok(error.message === `cannot read stack file ${file}: ${message}`, `${name}: ${error.message}`);
            assert.strictEqual(registered, 0, `${name}: nothing registered`);
        }
    });

    it("reads characters, line breaks, directives and escapes as yaml.v3 does, refusing what it refuses with the place", async () => {
        const surrogate = `stands for half a UTF-16 surrogate pair, which Pulumi's YAML reader refuses ("found invalid Unicode character escape code"); write the character itself, or its escape \\U and 8 hex digits: 🏦 as \\U0001F3E6, not as the pair \\ud83c\\udfe6 Python's json.dumps writes`;
        const control = `which Pulumi's YAML reader refuses anywhere in a file, comments included ("control characters are not allowed"); remove it`;
        // Each refused by the Go program of yaml.v3 v3.0.1 too; render read them all.
        for (const [name, text, message] of [
            [
                "yaml-1.2",
                "%YAML 1.2\n---\nconfig:\n  pki:option: 1\n",
                `the %YAML directive at line 1, column 1 names a version other than 1.1, the only one Pulumi's YAML reader reads ("found incompatible YAML document"); remove the line`,
            ],
            [
                "yaml-twice",
                "%YAML 1.1\n%YAML 1.1\n---\nconfig:\n  pki:option: 1\n",
                "the file has a second %YAML directive at line 2, column 1, which Pulumi's YAML reader refuses; remove it",
            ],
            [
                "directive",
                "%PKI on\n---\nconfig:\n  pki:option: 1\n",
                "the directive at line 1, column 1 is neither %YAML 1.1 nor %TAG, the only ones Pulumi's YAML reader reads; remove the line",
            ],
            [
                "slash",
                'config:\n  pki:organization: "A\\/B"\n',
                `the escape (\\) at line 2, column 23 is not one of YAML 1.1's, the only ones Pulumi's YAML reader reads ("found unknown escape character"; \\/ is YAML 1.2's): write the character itself, or \\\\ for a backslash`,
            ],
            // Python's json.dumps("Bank 🏦"): the old loader joined the pair; one half alone became U+FFFD in every certificate.
            [
                "pair",
                'config:\n  pki:organization: "Bank \\ud83c\\udfe6"\n',
                `the escape \\u at line 2, column 27 ${surrogate}`,
            ],
            [
                "half",
                'config:\n  pki:organization: "Bank \\ud800x"\n',
                `the escape \\u at line 2, column 27 ${surrogate}`,
            ],
            [
                "hex",
                'config:\n  pki:organization: "\\x3"\n',
                "the escape \\x at line 2, column 22 is not followed by 2 hex digits, which Pulumi's YAML reader refuses; write them, or \\\\ for a backslash",
            ],
            [
                "del",
                "config:\n  pki:option: 1 # \x7f\n",
                `the file holds a control character (of C0 other than tab and line breaks, DEL or C1) at line 2, column 19, ${control}`,
            ],
            [
                "c1",
                'config:\n  pki:organization: "Bank\x9b"\n',
                `the file holds a control character (of C0 other than tab and line breaks, DEL or C1) at line 2, column 26, ${control}`,
            ],
            [
                "fffe",
                "# \ufffe\nconfig:\n  pki:option: 1\n",
                `the file holds the noncharacter U+FFFE or U+FFFF at line 1, column 3, ${control}`,
            ],
            // A line break to yaml.v3, which reads pki:organization: Evil.
            [
                "separator",
                "config:\n  pki:option: 1 # old\u2028  pki:organization: Evil\n",
                "the file holds a line or paragraph separator (U+2028, U+2029) at line 2, column 22, which Pulumi's YAML reader takes for a line break " +
                    "and this loader does not; replace it by a line break (or by the escape \\L or \\P in double quotes)",
            ],
            // yaml.v3 reads quoted text on as "Bank Corp" below the key's indentation, which `yaml`
            // refuses: a line break there is refused alike, and the message says where it was.
            [
                "nel",
                'config:\n  pki:organization: "Bank\x85Corp"\n',
                "a missing closing quote or bracket, comma or colon at line 2, column 26 (Pulumi's YAML reader, and so this loader, reads the lone CR or the NEL, U+0085, at line 2, column 26 as a line break)",
            ],
        ]) {
            const { file, error, registered } = await attempt(name, text);
            assert.ok(error instanceof Error && !(error instanceof ConfigError), `${name}: ${String(error)}`);
            assert.strictEqual(error.message, `cannot read stack file ${file}: ${message}`, name);
            assert.strictEqual(registered, 0, `${name}: nothing registered`);
        }
        // Read as yaml.v3 reads them (its values): render refused the first two and read the others otherwise.
        for (const [name, text, config] of [
            ["quote", 'config:\n  pki:organization: "Bank\\\'s \\U0001F3E6"\n', { "pki:organization": "Bank's 🏦" }],
            [
                "directives",
                "%YAML 1.1\n%TAG !e! tag:example.com,2026:\n---\nconfig:\n  pki:option: 1\n",
                { "pki:option": "1" },
            ],
            [
                "nel-folded",
                'config:\n  pki:organization: "Example\x85    Bank"\n',
                { "pki:organization": "Example Bank" },
            ],
            // Text after a lone CR or a NEL in a comment is YAML to yaml.v3: the old loader missed the key.
            [
                "cr-comment",
                "config:\n  pki:option: 1 # old\r  pki:organization: Evil\n",
                { "pki:option": "1", "pki:organization": "Evil" },
            ],
            [
                "nel-comment",
                "config:\n  pki:option: 1 # old\x85  pki:organization: Evil\n",
                { "pki:option": "1", "pki:organization": "Evil" },
            ],
        ] as const) {
            const file = path.join(dir, `Pulumi.${name}.yaml`);
            fs.writeFileSync(file, text);
            assert.deepStrictEqual(stackFileConfig(file), config, name);
        }
    });

    it("refuses the tabs yaml.v3 refuses where it takes only spaces, naming the place, and reads the tabs it reads", async () => {
        const tab = (at: string, reading: string): string =>
            `the file holds a tab at ${at} where Pulumi's YAML reader takes only spaces ("${reading}"; ` +
            `outside quotes and brackets, a tab may not indent a line, fill a blank line or follow "-" or "?"); write spaces instead`;
        const token = "found character that cannot start any token";
        const plain = "found a tab character that violates indentation";
        // Each refused by the Go program of yaml.v3 v3.0.1 with these words; render read them all.
        for (const [name, text, message] of [
            [
                "blank-line",
                "config:\n  pki:organization: Example\n\t\n  pki:option: 1\n",
                tab("line 3, column 1", plain),
            ],
            [
                "blank-line-quoted",
                'config:\n  pki:organization: "Example"\n \t\n  pki:option: 1\n',
                tab("line 3, column 2", token),
            ],
            [
                "comment",
                "config:\n  pki:organization: Example\n\t# c\n  pki:option: 1\n",
                tab("line 3, column 1", plain),
            ],
            ["after-list", "config:\n  pki:clusters: [east]\n\t\n  pki:option: 1\n", tab("line 3, column 1", token)],
            ["after-comment", "config:\n  pki:option: 1 # line\n  \t# own line\n", tab("line 3, column 3", token)],
            ["last-line", "config:\n  pki:option: 1\n\t", tab("line 3, column 1", plain)],
            ["item", "config:\n  pki:clusters:\n    -\teast\n", tab("line 3, column 6", token)],
            ["explicit-key", "config:\n  ?\tpki:option\n  : 1\n", tab("line 2, column 4", token)],
            [
                "block-scalar",
                "config:\n  pki:organization: |\n    \tExample\n",
                tab("line 3, column 5", "found a tab character where an indentation space is expected"),
            ],
        ]) {
            const { file, error, registered } = await attempt(name, text);
            assert.ok(error instanceof Error && !(error instanceof ConfigError), `${name}: ${String(error)}`);
            assert.strictEqual(error.message, `cannot read stack file ${file}: ${message}`, name);
            assert.strictEqual(registered, 0, `${name}: nothing registered`);
        }
        // Tabs yaml.v3 reads as blanks (or, in a block scalar beyond its indentation, as text).
        const file = path.join(dir, "Pulumi.tabs.yaml");
        fs.writeFileSync(
            file,
            "config:\n" +
                "  pki:option:\t1\t# after a key's colon and a value\n" +
                "  pki:clusters: [\teast,\twest ]\t# in and after brackets\n" +
                '  pki:organization: "Example"\t# after quotes\n' +
                "  # a run of comment lines is read at once, the blanks in it too\n" +
                "\t# indented by a tab\n" +
                "\n" +
                "  pki:environment: dev\n" +
                "    \tlab # the indentation of a plain scalar's next line, beyond its own\n" +
                "  pki:baseDomain: |2\n" +
                "    \tdev.api.bank.example\n",
        );
        assert.deepStrictEqual(stackFileConfig(file), {
            "pki:option": "1",
            "pki:clusters": '["east","west"]',
            "pki:organization": "Example",
            "pki:environment": "dev lab",
            "pki:baseDomain": "\tdev.api.bank.example\n",
        });
    });

    it("refuses the aliases yaml.v3 refuses, an alias bomb at once, naming the file and never an anchor", async () => {
        /** A "billion laughs" under another namespace: `levels` levels of ten aliases each, 10^levels values. */
        const bomb = (levels: number): string =>
            "config:\n  pki:option: 1\n  other:lol:\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" +
            Array.from(
                { length: levels - 1 },
                (_, i) => `    l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(", ")}]\n`,
            ).join("");
        // yaml.v3's count: the 3rd alias of l3 brings the values copied by aliases to 4852, over 99% of
        // the 4901 decoded (the other 49: the document's nodes up to there, read outside any alias).
        const excessive =
            "the document contains excessive aliasing (Pulumi refuses it too): 4852 of the first 4901 values it holds are copies made by aliases (*name), such as the one at line 7, column 24; write the values out instead of aliases of aliases";
        // The small bomb first: the old loader read it (100,000 values) and went on; it hung for minutes on the big one.
        for (const [name, text, message] of [
            ["bomb5", bomb(5), excessive],
            ["bomb9", bomb(9), excessive],
            [
                "unknown anchor",
                "config:\n  pki:option: *Tr0ub4dor&3xyz\n",
                "the alias at line 2, column 15 names no anchor (&name) set before it; set the anchor, or write the value out",
            ],
            [
                "itself",
                "config:\n  pki:option: 1\n  other:x: &a [1, *a]\n",
                "the alias at line 3, column 19 sits inside the node its anchor names, which would contain itself; write the value out",
            ],
        ]) {
            // Refused in about 0.25 s; the old loader took minutes (a bound a busy machine keeps).
            const started = Date.now();
            const { file, error, registered } = await attempt(name, text);
            assert.ok(Date.now() - started < 5000, `${name}: ${Date.now() - started} ms`);
            assert.ok(error instanceof Error && !(error instanceof ConfigError), `${name}: ${String(error)}`);
            assert.strictEqual(error.message, `cannot read stack file ${file}: ${message}`);
            assert.strictEqual(registered, 0, `${name}: nothing registered`);
        }
        // Nesting deep enough to exhaust the parser's stack: its kind, not the parser's words (where
        // on the line it ran out depends on Node's stack size).
        const { file: deepFile, error: deep } = await attempt(
            "deep",
            `config:\n  pki:option: ${"[".repeat(20_000)}${"]".repeat(20_000)}\n`,
        );
        assert.match(
            (deep as Error).message,
            new RegExp(
                `^cannot read stack file ${deepFile}: values nested too deeply, or copied by aliases too often, at line 2, column \\d+$`,
            ),
        );
        // Aliases within reason are read as yaml.v3 reads them: the value they name, copied.
        const file = path.join(dir, "Pulumi.aliases.yaml");
        fs.writeFileSync(file, "config:\n  pki:environment: &env dev\n  pki:clusters: [*env, *env]\n  other:x: *env\n");
        assert.deepStrictEqual(stackFileConfig(file), {
            "pki:environment": "dev",
            "pki:clusters": '["dev","dev"]',
            "other:x": "dev",
        });
    });

    it("refuses a domain whose one Gateway would pass etcd's request limit, before any key is made, and render writes nothing", async () => {
        // 1,700 services of 63 characters under long names: one Gateway of 1.5 MiB, which etcd
        // refused at pulumi up, after the certificates and Secrets were made.
        const domain = "d".repeat(53);
        const services = Array.from({ length: 1700 }, (_, i) => `${"s".repeat(59)}${String(i).padStart(4, "0")}`);
        const text = stackFileText(
            {
                environment: "e".repeat(37),
                option: "2",
                baseDomain: `${"b".repeat(62)}.${"b".repeat(62)}.example`,
                domains: `{ ${domain}: { services: [${services.join(", ")}] }, ob: { services: [accounts] } }`,
            },
            root,
        );
        const refusal =
            `pki:domains.${domain}: its Istio Gateway apic-mtls-${domain} would be about 1.50 MiB (1571028 bytes of JSON for 1700 endpoints), ` +
            "over the 1.40 MiB allowed here: etcd refuses an object over 1.5 MiB by default, so pulumi up would fail after the certificates and Secrets are made. " +
            "Split the domain's services into two domains, or with pki:option 3 serve them as fewer groups";
        const { file, error, registered } = await attempt("big-gateway", text);
        assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
        assert.deepStrictEqual(error.problems, [refusal]);
        assert.strictEqual(registered, 0, "nothing registered");
        const out = path.join(dir, "big-gateway-out");
        const { status, err } = await cli("render", "--config", file, "--out", out);
        assert.deepStrictEqual([status, err], [1, `invalid stack configuration:\n  - ${refusal}\n`]);
        assert.strictEqual(fs.existsSync(out), false);
    });

    it("render, inventory and diff refuse a merge key (<<) in config:, and render writes nothing", async () => {
        const base = path.join(dir, "Pulumi.merge-base.yaml");
        fs.writeFileSync(base, stackFileText({}, root));
        // pulumi up would make the mesh strict; diff said "No certificate changes."
        const file = path.join(dir, "Pulumi.merge.yaml");
        fs.writeFileSync(file, `${stackFileText({}, root)}  <<: { pki:meshStrictMtls: true }\n`);
        const refusal = `stack file ${file}: "config:" uses a YAML merge key (<<), which this loader does not read; write the keys out`;
        const out = path.join(dir, "merge-out");
        assert.deepStrictEqual(await cli("render", "--config", file, "--out", out), {
            status: 1,
            out: "",
            err: `invalid stack configuration:\n  - ${refusal}\n`,
        });
        assert.strictEqual(fs.existsSync(out), false);
        assert.deepStrictEqual(await cli("inventory", "--config", file), {
            status: 1,
            out: "",
            err: `invalid stack configuration:\n  - ${refusal}\n`,
        });
        assert.deepStrictEqual(await cli("diff", "--base", base, "--head", file), {
            status: 1,
            out: "",
            err: `invalid stack configuration in --head ${file}:\n  - ${refusal}\n`,
        });
        // A quoted "<<" is text to yaml.v3 (its tag is !!str), a key like any other, not a merge
        // (Go's encoding/json writes < and > as \u003c and \u003e).
        fs.writeFileSync(file, `${stackFileText({}, root)}  other:x: { "<<": { leaf: 300 } }\n`);
        assert.strictEqual(stackFileConfig(file)["other:x"], '{"\\u003c\\u003c":{"leaf":300}}');
    });

    it("shows a certificate given where it may not be, however long, with a key pasted after it left out", async () => {
        const file = path.join(tempDir("cert-then-key"), "Pulumi.dev.yaml");
        const indented = (pem: string) => pem.trim().replace(/^/gm, "    ");
        fs.writeFileSync(
            file,
            `config:\n  pki:environment: |\n${indented(TEST_ONLY_CA_CERT_PEM)}\n${indented(TEST_ONLY_CA_KEY_PEM)}\n`,
        );
        const { status, err } = await cli("inventory", "--config", file);
        assert.strictEqual(status, 1);
        // Public, and what the refusal is about: shown whole, past 200 characters; the key is not.
        const shown = JSON.stringify(`${TEST_ONLY_CA_CERT_PEM.trim()}\n(a private key, not shown)\n`);
        assert.ok(TEST_ONLY_CA_CERT_PEM.length > 200);
        assert.ok(err.includes(`got ${shown}`), err);
        assert.ok(!err.includes(TEST_ONLY_CA_KEY_PEM.split("\n")[2]), err);
        // A CERTIFICATE label is not what makes one: a PKCS#12 (its key inside) under it is not shown.
        const pkcs12 = buildPkcs12({
            keyPem: TEST_ONLY_CA_KEY_PEM,
            certPems: [TEST_ONLY_CA_CERT_PEM],
            password: "p",
            friendlyName: "x",
            profile: "modern",
            iterations: 1,
        }).toString("base64");
        const labelled = `-----BEGIN CERTIFICATE-----\n${pkcs12.replace(/.{64}/g, "$&\n").trim()}\n-----END CERTIFICATE-----`;
        fs.writeFileSync(file, `config:\n  pki:environment: |\n${indented(labelled)}\n`);
        const disguised = await cli("inventory", "--config", file);
        assert.strictEqual(disguised.status, 1);
        assert.ok(disguised.err.includes(`got "(${labelled.length + 1} characters, SHA-256 `), disguised.err);
        assert.ok(!disguised.err.includes(pkcs12.slice(64, 128)), disguised.err);
    });

    it("shows no private key given as hex DER or a JSON Web Key, nor a long value (a PKCS#12's base64), in any message or command", async () => {
        const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
        const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
        const hexDer = rsa.export({ type: "pkcs8", format: "der" }).toString("hex");
        const ecHexSec1 = ec.export({ type: "sec1", format: "der" }).toString("hex");
        const jwk = ec.export({ format: "jwk" });
        const secretJwk = { kty: "oct", k: "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3ODk" };
        const pkcs12 = buildPkcs12({
            keyPem: root.keyPem,
            certPems: [root.certPem],
            password: "p",
            friendlyName: "x",
            profile: "modern",
            iterations: 1,
        }).toString("base64");
        const hidden = "(a private key, not shown)";
        const notText = `must be text (the subject O), not a list or map; got "${hidden}". Write the name itself, e.g. "Example Bank"`;
        const tooLong = (shown: string, length: number) => [
            `pki:baseDomain "${shown}" is ${length} characters long; a DNS name has at most 253`,
            `pki:baseDomain "${shown}" has the label "${shown}" of ${length} characters; a label has at most 63`,
        ];
        const cases: [Overrides, string[]][] = [
            [{ baseDomain: hexDer }, tooLong(hidden, hexDer.length)],
            [{ organization: JSON.stringify(jwk) }, [`pki:organization ${notText}`]],
            [{ organization: `'${JSON.stringify(secretJwk)}'` }, [`pki:organization ${notText}`]],
            [
                {
                    domains: `{ ob: { services: [${JSON.stringify(JSON.stringify(jwk))}, ${JSON.stringify(ecHexSec1)}] } }`,
                },
                [
                    `pki:domains.ob.services[0] must be a service name (letters, digits and '-'); got "${hidden}"`,
                    `pki:domains.ob.services[1] "${hidden}" is 242 characters; a host label has at most 63. Use a shorter name`,
                ],
            ],
            [{ baseDomain: JSON.stringify(pkcs12) }, tooLong(described(pkcs12), pkcs12.length)],
            [
                { organization: JSON.stringify(`Example Bank ${hexDer}`) },
                [
                    `pki:organization is ${13 + hexDer.length} characters; the subject O has at most 64 (RFC 5280 ub-organization-name). Shorten it`,
                ],
            ],
        ];
        // Each key's secret part: its hex, a JSON Web Key's d or k, a PKCS#12's base64.
        const secrets = [hexDer, ecHexSec1, jwk.d as string, secretJwk.k, pkcs12.slice(0, 64), pkcs12.slice(-64)];
        const noSecret = (text: string, what: string) => {
            for (const secret of secrets) assert.ok(!text.includes(secret), `${what} shows ${secret.slice(0, 20)}...`);
        };
        for (const [overrides, problems] of cases) {
            const { file, error } = await attempt("hex-jwk", stackFileText(overrides, root));
            assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
            assert.deepStrictEqual(error.problems, problems);
            noSecret(error.message, Object.keys(overrides)[0]);
            const refusal = problems.map((p) => `  - ${p}\n`).join("");
            const base = path.join(dir, "Pulumi.hex-jwk-base.yaml");
            fs.writeFileSync(base, stackFileText({}, root));
            assert.deepStrictEqual(await cli("inventory", "--config", file), {
                status: 1,
                out: "",
                err: `invalid stack configuration:\n${refusal}`,
            });
            for (const format of ["markdown", "json", "mermaid"]) {
                assert.deepStrictEqual(await cli("diff", "--base", base, "--head", file, "--format", format), {
                    status: 1,
                    out: "",
                    err: `invalid stack configuration in --head ${file}:\n${refusal}`,
                });
            }
            const out = path.join(dir, "hex-jwk-out");
            const rendered = await cli("render", "--config", file, "--out", out);
            assert.strictEqual(rendered.status, 1);
            noSecret(rendered.out + rendered.err, "render");
        }
        // Short values are shown as before.
        const { error } = await attempt("hex-jwk", stackFileText({ baseDomain: JSON.stringify("Bad_Domain") }, root));
        assert.ok(error instanceof ConfigError);
        assert.ok(
            error.problems.every((p) => p.startsWith('pki:baseDomain "Bad_Domain"')),
            error.problems.join("\n"),
        );
    });

    it("shows no private key as `xxd -p` lines, colon-separated hex, openssl -text numbers, base64url, or a JSON Web Key in any notation", async () => {
        const hidden = "(a private key, not shown)";
        // An Ed25519 key whose base64url has a "-" or "_": base64 would have a "+" or "/" there.
        const keys = Array.from({ length: 64 }, () => crypto.generateKeyPairSync("ed25519").privateKey);
        const key = keys.find((k) => /[-_]/.test(k.export({ type: "pkcs8", format: "der" }).toString("base64url")));
        assert.ok(key !== undefined);
        const der = key.export({ type: "pkcs8", format: "der" });
        const hex = der.toString("hex");
        // `openssl pkey -outform DER | xxd -p`: 60 digits a line, 98 characters in all.
        const xxd = `${hex.slice(0, 60)}\n${hex.slice(60)}\n`;
        const bytes = (buffer: Buffer) => buffer.toString("hex").replace(/..(?!$)/g, "$&:");
        // As `openssl pkey -text` shows a key's numbers: 15 bytes a line, indented.
        const numberLines = (buffer: Buffer) => bytes(buffer).replace(/((?:..:){15})/g, "$1\n    ");
        const jwk = key.export({ format: "jwk" });
        const d = jwk.d as string;
        const x = jwk.x as string;
        const priv = Buffer.from(d, "base64url");
        const pub = Buffer.from(x, "base64url");
        const rsaD = Buffer.from(
            crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "jwk" }).d as string,
            "base64url",
        );
        const fingerprint = crypto.createHash("sha256").update(der).digest("hex").toUpperCase();
        const cases: [string, string][] = [
            [xxd, `${hidden}\n`],
            [`got "${xxd.replace(/\n/g, "\\n")}"`, `got "${hidden}\\n"`],
            [`cafe ${bytes(der)} end`, `cafe ${hidden} end`],
            [`    ${numberLines(der)}\n`, `    ${hidden}\n`],
            [`0x${hex}`, `0x${hidden}`],
            // .NET's BitConverter.ToString, and dotted groups.
            [`got ${bytes(der).toUpperCase().replace(/:/g, "-")}`, `got ${hidden}`],
            [`got ${hex.replace(/(.{4})(?!$)/g, "$1.")}`, `got ${hidden}`],
            [
                `ED25519 Private-Key:\npriv:\n    ${numberLines(priv)}\npub:\n    ${numberLines(pub)}\n`,
                `ED25519 Private-Key:\npriv:\n    ${hidden}\npub:\n    ${numberLines(pub)}\n`,
            ],
            [
                `publicExponent: 65537 (0x10001)\nprivateExponent:\n    ${numberLines(rsaD)}\n`,
                `publicExponent: 65537 (0x10001)\nprivateExponent:\n    ${hidden}\n`,
            ],
            [`key ${der.toString("base64url")} end`, `key ${hidden} end`],
            [`{'kty': 'OKP', 'crv': 'Ed25519', 'd': '${d}', 'x': '${x}'}`, hidden],
            [`{kty:"OKP",crv:"Ed25519",d:"${d}",x:"${x}"}`, hidden],
            // Not keys: a certificate's fingerprint, a time, an address, a public key's bytes.
            [
                `SHA256 Fingerprint=${bytes(Buffer.from(fingerprint, "hex")).toUpperCase()}`,
                `SHA256 Fingerprint=${bytes(Buffer.from(fingerprint, "hex")).toUpperCase()}`,
            ],
            ["at 12:30:45 from fe80::1", "at 12:30:45 from fe80::1"],
            ["host ab-cd-ef-01.dead-beef.bank.example", "host ab-cd-ef-01.dead-beef.bank.example"],
            [`pub:\n    ${numberLines(pub)}\n`, `pub:\n    ${numberLines(pub)}\n`],
        ];
        assert.deepStrictEqual(
            cases.map(([text]) => withoutPrivateKeys(text)),
            cases.map(([, shown]) => shown),
        );
        // As inventory prints the message of a stack file that holds them, under the 200 characters shown.
        const tmp = tempDir("hex-lines");
        const file = path.join(tmp, "Pulumi.dev.yaml");
        const indented = (text: string) => text.replace(/\n(?!$)/g, "\n    ");
        const nested = JSON.stringify({ kty: "OKP", crv: "Ed25519", d, x, ext: { use: "}" } });
        const given: [string, string][] = [
            [`|\n    ${indented(xxd)}`, `"${hidden}\\n"`],
            [`|\n    ${indented(bytes(der))}\n`, `"${hidden}\\n"`],
            [`"{'kty': 'OKP', 'crv': 'Ed25519', 'd': '${d}', 'x': '${x}'}"`, `"${hidden}"`],
            [`|\n    kty: OKP\n    crv: Ed25519\n    d: ${d}\n`, `"${hidden}"`],
            [`'{kty:"OKP",crv:"Ed25519",d:"${d}",x:"${x}"}'`, `"${hidden}"`],
        ];
        for (const [value, shown] of given) {
            fs.writeFileSync(file, `config:\n  pki:environment: ${value}\n`);
            const { status, err } = await cli("inventory", "--config", file);
            assert.strictEqual(status, 1);
            assert.ok(
                err.includes(
                    `pki:environment must be lower-case letters, digits and '-', not starting or ending with '-'; got ${shown}\n`,
                ),
                err,
            );
            assert.ok(!err.includes(hex.slice(40, 60)) && !err.includes(hex.slice(80, 86)) && !err.includes(d), err);
        }
        // JSON text with a nested member and a "}" in a string, in a list.
        fs.writeFileSync(file, `config:\n  pki:environment: dev\n  pki:organization: [${JSON.stringify(nested)}]\n`);
        const listed = await cli("inventory", "--config", file);
        assert.strictEqual(listed.status, 1);
        assert.ok(listed.err.includes(`pki:organization must be text`), listed.err);
        assert.ok(listed.err.includes(`["${hidden}"]`), listed.err);
        assert.ok(!listed.err.includes(d), listed.err);
    });

    it("render prints the messages, exits 1 and writes no output folder", async () => {
        const file = path.join(dir, "Pulumi.cli.yaml");
        fs.writeFileSync(file, stackFileText({ option: "[2]", crlPeriodDays: "true" }, root));
        const out = path.join(dir, "cli-out");
        const { status, err } = await cli("render", "--config", file, "--out", out);
        assert.strictEqual(status, 1);
        assert.strictEqual(
            err,
            "invalid stack configuration:\n" +
                "  - pki:option must be 1, 2 or 3; got [2]\n" +
                "  - pki:crlPeriodDays must be a whole number of days from 1 to 90; got true\n",
        );
        assert.strictEqual(fs.existsSync(out), false);
    });
});

/**
 * What `pulumi up` passes for each file: the strings of `pulumi.runtime.allConfig()`, derived
 * from pulumi/pulumi (workspace/loaders.go, config/object.go) and checked by decoding the files
 * with gopkg.in/yaml.v3 v3.0.1 itself and Go's encoding/json.
 */
const PARITY: [string, string, Record<string, string>][] = [
    [
        "numbers, booleans and keys in the forms Pulumi accepts",
        [
            "config:",
            "  pki:environment: 123",
            "  pki:option: 0x3",
            "  pki:baseDomain: dev.api.bank.example",
            "  pki:organization: True",
            "  pki:meshStrictMtls: TRUE",
            "  pki:crlPeriodDays: 1e1",
            "  pki:validityDays: { leaf: 0x16D, intermediate: 1095.0, root: 3_650 }",
            "  pki:rotation: { leafEpoch: 0o1, endpoints: { dp-core: { serverEpoch: 2.0 } } }",
            "  pki:config:gatewayNamespace: gateways",
            "  pki:clusters: [east]",
            "  pki:domains:",
            "    zz: { services: [b], groups: { core: [b] } }",
            "    dp: { services: [party-canonical], groups: { core: [party-canonical] } }",
            "  kubernetes:context: ignored",
            "  other:secret: { secure: v1:AAAA }",
            "  pki:revocations:",
            '    - { endpoint: dp-core, serial: "0123", revokedAt: "2026-11-20T09:30:00Z", reason: keyCompromise }',
        ].join("\n"),
        {
            "kubernetes:context": "ignored",
            "pki:baseDomain": "dev.api.bank.example",
            "pki:clusters": '["east"]',
            "pki:crlPeriodDays": "10",
            "pki:domains":
                '{"dp":{"groups":{"core":["party-canonical"]},"services":["party-canonical"]},"zz":{"groups":{"core":["b"]},"services":["b"]}}',
            "pki:environment": "123",
            "pki:gatewayNamespace": "gateways",
            "pki:meshStrictMtls": "true",
            "pki:option": "3",
            "pki:organization": "true",
            "pki:revocations":
                '[{"endpoint":"dp-core","reason":"keyCompromise","revokedAt":"2026-11-20T09:30:00Z","serial":"0123"}]',
            "pki:rotation": '{"endpoints":{"dp-core":{"serverEpoch":2}},"leafEpoch":1}',
            "pki:validityDays": '{"intermediate":1095,"leaf":365,"root":3650}',
        },
    ],
    [
        "domains in the seed's order, which Pulumi sorts",
        [
            "config:",
            "  pki:environment: dev",
            "  pki:option: 02",
            "  pki:baseDomain: dev.api.bank.example",
            "  pki:domains:",
            "    ob: { namespace: ob, services: [accounts, ob-payee] }",
            "    dp: { services: [party-canonical] }",
        ].join("\n"),
        {
            "pki:baseDomain": "dev.api.bank.example",
            "pki:domains":
                '{"dp":{"services":["party-canonical"]},"ob":{"namespace":"ob","services":["accounts","ob-payee"]}}',
            "pki:environment": "dev",
            "pki:option": "2",
        },
    ],
    [
        "the values of issue 16 that used to be coerced",
        [
            "config:",
            "  pki:environment: dev",
            "  pki:option: [2]",
            "  pki:baseDomain: dev.api.bank.example",
            "  pki:crlPeriodDays: true",
            "  pki:validityDays: { root: 10000000, leaf: true }",
            "  pki:rotation: { leafEpoch: true }",
            "  pki:caRotation: { apicClientCa: { generation: true, phase: prepare } }",
            "  pki:clusters: [{ name: east, context: { cluster: east } }]",
            "  pki:pkcs12Profile: null",
            "  pki:revocations: [{ endpoint: ob, serial: 0A1B, revokedAt: 2026-02-30 }]",
            "  pki:domains: { ob: { services: [accounts] } }",
        ].join("\n"),
        {
            "pki:baseDomain": "dev.api.bank.example",
            "pki:caRotation": '{"apicClientCa":{"generation":true,"phase":"prepare"}}',
            "pki:clusters": '[{"context":{"cluster":"east"},"name":"east"}]',
            "pki:crlPeriodDays": "true",
            "pki:domains": '{"ob":{"services":["accounts"]}}',
            "pki:environment": "dev",
            "pki:option": "[2]",
            "pki:pkcs12Profile": "",
            "pki:revocations": '[{"endpoint":"ob","revokedAt":"2026-02-30","serial":"0A1B"}]',
            "pki:rotation": '{"leafEpoch":true}',
            "pki:validityDays": '{"leaf":true,"root":10000000}',
        },
    ],
    [
        "unquoted dates and times, which YAML reads as timestamps",
        [
            "config:",
            "  pki:environment: 2026-01-01",
            "  pki:option: 1",
            "  pki:baseDomain: dev.api.bank.example",
            "  pki:domains: { ob: { services: [accounts] } }",
            "  pki:revocations:",
            '    - { endpoint: ob, serial: "0A1B", revokedAt: 2026-11-20T09:30:00Z }',
            "    - { endpoint: ob, serial: 0123, revokedAt: 2026-11-20 }",
        ].join("\n"),
        {
            "pki:baseDomain": "dev.api.bank.example",
            "pki:domains": '{"ob":{"services":["accounts"]}}',
            "pki:environment": "2026-01-01 00:00:00 +0000 UTC",
            "pki:option": "1",
            "pki:revocations":
                '[{"endpoint":"ob","revokedAt":"2026-11-20 09:30:00 +0000 UTC","serial":"0A1B"},{"endpoint":"ob","revokedAt":"2026-11-20 00:00:00 +0000 UTC","serial":83}]',
        },
    ],
    [
        "YAML 1.1 booleans, spaces, nulls and numbers where text is expected",
        [
            "config:",
            "  pki:environment: dev",
            "  pki:option: 2.5",
            "  pki:baseDomain: dev.api.bank.example",
            "  pki:meshStrictMtls: yes",
            "  pki:keyAlgorithm: rsa",
            "  pki:gatewayNamespace: ~",
            "  pki:organization: [Example Bank]",
            '  pki:earlyRenewalDays: { leaf: "30" }',
            "  pki:domains: { ob: { services: [123, accounts], namespace: 5 } }",
            "  pki:domains.dp: { services: [party] }",
        ].join("\n"),
        {
            "pki:baseDomain": "dev.api.bank.example",
            "pki:domains": '{"ob":{"namespace":5,"services":[123,"accounts"]}}',
            "pki:domains.dp": '{"services":["party"]}',
            "pki:earlyRenewalDays": '{"leaf":"30"}',
            "pki:environment": "dev",
            "pki:gatewayNamespace": "",
            "pki:keyAlgorithm": "rsa",
            "pki:meshStrictMtls": "yes",
            "pki:option": "2.5",
            "pki:organization": '["Example Bank"]',
        },
    ],
    [
        "every scalar form, top-level and nested, and keys that are not text",
        [
            "config:",
            "  probe:hex: 0x10",
            "  probe:octal12: 0o17",
            "  probe:octal11: 0777",
            "  probe:underscores: 1_000",
            "  probe:plus: +5",
            "  probe:negativeHex: -0x10",
            "  probe:exponent: 1e3",
            "  probe:point5: .5",
            "  probe:trailingZero: 2.50",
            "  probe:titleTrue: True",
            "  probe:yes: yes",
            "  probe:on: on",
            "  probe:tilde: ~",
            "  probe:empty:",
            "  probe:date: 2026-11-20",
            "  probe:badDate: 2026-02-30",
            "  probe:spacedTime: 2026-11-20 09:30:00",
            "  probe:shortTime: 2026-1-2T3:4:5.123456789123Z",
            "  probe:offsetTime: 2026-11-20T09:30:00+02:00",
            "  probe:int64Max: 9223372036854775807",
            "  probe:uint64: 9223372036854775808",
            "  probe:beyondUint64: 18446744073709551616",
            "  probe:hugeFloat: 1e400",
            "  probe:zeroEight: 08",
            "  probe:binary: 0b101",
            "  probe:negativeZero: -0.0",
            "  probe:sexagesimal: 1:20",
            '  probe:html: "<&>"',
            '  probe:quotedNumber: "2"',
            "  probe:block: |",
            "    two",
            "    lines",
            "  probe:folded: >",
            "    one",
            "    line",
            '  probe:nested: { a: 0x10, b: 0o17, c: 0777, d: 1_000, e: 1e3, f: .5, g: 2.50, h: True, i: yes, j: ~, k: 2026-11-20, l: 2026-02-30, m: 1e21, n: 1.5e-7, o: 0.000001, p: "<&>", q: [1, "1", true], r: 2026-11-20T09:30:00Z, s: 12345678901234567890, t: -9223372036854775809, u: "\\u2028" }',
            '  probe:keys: { 1: a, true: b, null: c, 1.5: d, 2026-01-02: e, 1e6: f, 010: g, zz: h, aa: i, "B": j, é: k }',
        ].join("\n"),
        {
            "probe:badDate": "2026-02-30",
            "probe:beyondUint64": "18446744073709552000",
            "probe:binary": "5",
            "probe:block": "two\nlines\n",
            "probe:date": "2026-11-20 00:00:00 +0000 UTC",
            "probe:empty": "",
            "probe:exponent": "1000",
            "probe:folded": "one line\n",
            "probe:hex": "16",
            "probe:html": "<&>",
            "probe:hugeFloat": "1e400",
            "probe:int64Max": "9223372036854775807",
            "probe:keys":
                '{"1":"a","1.5":"d","1e+06":"f","2026-01-02 00:00:00 +0000 UTC":"e","8":"g","\\u003cnil\\u003e":"c","B":"j","aa":"i","true":"b","zz":"h","é":"k"}',
            "probe:negativeHex": "-16",
            "probe:negativeZero": "0",
            "probe:nested":
                '{"a":16,"b":15,"c":511,"d":1000,"e":1000,"f":0.5,"g":2.5,"h":true,"i":"yes","j":null,"k":"2026-11-20 00:00:00 +0000 UTC","l":"2026-02-30","m":1e+21,"n":1.5e-7,"o":0.000001,"p":"\\u003c\\u0026\\u003e","q":[1,"1",true],"r":"2026-11-20 09:30:00 +0000 UTC","s":12345678901234567890,"t":-9223372036854776000,"u":"\\u2028"}',
            "probe:octal11": "511",
            "probe:octal12": "15",
            "probe:offsetTime": "2026-11-20 09:30:00 +0200 +0200",
            "probe:on": "on",
            "probe:plus": "5",
            "probe:point5": "0.5",
            "probe:quotedNumber": "2",
            "probe:sexagesimal": "1:20",
            "probe:shortTime": "2026-1-2T3:4:5.123456789123Z",
            "probe:spacedTime": "2026-11-20 09:30:00 +0000 UTC",
            "probe:tilde": "",
            "probe:titleTrue": "true",
            "probe:trailingZero": "2.5",
            "probe:uint64": "9223372036854775808",
            "probe:underscores": "1000",
            "probe:yes": "yes",
            "probe:zeroEight": "8",
        },
    ],
];

type Verdict = { config: PkiConfig } | { problems: readonly string[] };
function verdict(read: () => Record<string, string>): Verdict {
    try {
        return { config: validateConfig(read()) };
    } catch (err) {
        if (err instanceof ConfigError) return { problems: err.problems };
        throw err;
    }
}

describe("render and `pulumi up` read a stack file alike", () => {
    const dir = tempDir("config-parity");
    after(() => pulumi.runtime.setAllConfig({}, []));

    /** A project whose `main` is `main`, its dev stack the committed one with `added` (lines of config) at its end. */
    const projectRunning = (main: string, added: string): string => {
        const projectDir = fs.mkdtempSync(path.join(dir, "project-"));
        fs.writeFileSync(
            path.join(projectDir, "Pulumi.yaml"),
            `name: apic-istio-pki\nruntime: nodejs\nmain: ${main}\nstackConfigDir: stacks\n`,
        );
        fs.mkdirSync(path.join(projectDir, "stacks"));
        const file = path.join(projectDir, "stacks", "Pulumi.dev.yaml");
        const committed = fs.readFileSync(path.join(__dirname, "../../stacks/Pulumi.dev.yaml"), "utf8");
        fs.writeFileSync(file, `${committed}${added}`);
        return file;
    };
    /** This package's stack program, by its compiled file. */
    const program = path.join(__dirname, "../lib/program.js");

    PARITY.forEach(([title, text, pulumiPasses], i) => {
        it(`${title}: the loader gives exactly Pulumi's strings, and both paths reach the same verdict`, () => {
            const file = path.join(dir, `Pulumi.parity-${i}.yaml`);
            fs.writeFileSync(file, `${text}\n`);
            assert.deepStrictEqual(stackFileConfig(file), pulumiPasses);
            // The engine path: PULUMI_CONFIG as the language host sets it, read back by allConfig().
            pulumi.runtime.setAllConfig(pulumiPasses, []);
            const fromEngine = verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig()));
            assert.deepStrictEqual(
                verdict(() => rawConfigFromStackFile(file)),
                fromEngine,
            );
        });
    });

    it("gives valid files the same config on both paths: the traps Pulumi resolves are accepted as Pulumi resolves them", () => {
        pulumi.runtime.setAllConfig(PARITY[0][2], []);
        const config = validateConfig(rawConfigFromEngine(pulumi.runtime.allConfig()));
        assert.deepStrictEqual(
            {
                environment: config.environment,
                option: config.option,
                organization: config.organization,
                meshStrictMtls: config.meshStrictMtls,
                crlPeriodDays: config.crlPeriodDays,
                validityDays: config.validityDays,
                gatewayNamespace: config.gatewayNamespace,
                domains: Object.keys(config.domains),
                rotation: [config.rotation.leafEpoch, config.rotation.endpoints],
                serial: config.revocations[0].serial,
            },
            {
                environment: "123",
                option: 3,
                organization: "true",
                meshStrictMtls: true,
                crlPeriodDays: 10,
                validityDays: { root: 3650, intermediate: 1095, leaf: 365 },
                gatewayNamespace: "gateways",
                domains: ["dp", "zz"],
                rotation: [1, { "dp-core": { serverEpoch: 2, clientEpoch: 0 } }],
                serial: "0123",
            },
        );
    });

    it("refuses this program's keys written without pki: where this program reads the config, on both paths", () => {
        // Two keys that lost their pki:.
        const added = "  meshStrictMtls: true\n  gatewayNamespace: gateways\n";
        const misplaced = ["meshStrictMtls", "gatewayNamespace"].map(
            (name) =>
                `${name} is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:${name}), where this program reads nothing: write it as pki:${name}`,
        );
        // With or without ".js", as require finds it.
        for (const main of [program, program.replace(/\.js$/, "")]) {
            const file = projectRunning(main, added);
            assert.deepStrictEqual(
                verdict(() => rawConfigFromStackFile(file)),
                { problems: misplaced },
                main,
            );
            pulumi.runtime.setAllConfig(stackFileConfig(file), []);
            assert.deepStrictEqual(
                verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig(), "apic-istio-pki")),
                { problems: misplaced },
            );
        }
        // A program of the user's own may read keys of those names in its namespace: left alone.
        const own = projectRunning("index.js", added);
        const accepted = verdict(() => rawConfigFromStackFile(own));
        assert.ok("config" in accepted && accepted.config.meshStrictMtls === false, JSON.stringify(accepted));
        pulumi.runtime.setAllConfig(stackFileConfig(own), []);
        assert.ok("config" in verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig())));
        // Outside any project, render reads the file for this program: such a key has no namespace at all.
        const loose = path.join(fs.mkdtempSync(path.join(dir, "no-project-")), "Pulumi.dev.yaml");
        fs.writeFileSync(loose, fs.readFileSync(own, "utf8"));
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(loose)),
            {
                problems: ["meshStrictMtls", "gatewayNamespace"].map(
                    (name) =>
                        `${name} has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing: write it as pki:${name}`,
                ),
            },
        );
    });

    it("reads keys without a namespace as pki: ones in a project named pki, on both paths", () => {
        // Pulumi puts a key without a namespace in the project's: here pki, the program's own.
        const projectDir = fs.mkdtempSync(path.join(dir, "pki-project-"));
        fs.writeFileSync(
            path.join(projectDir, "Pulumi.yaml"),
            `name: pki\nruntime: nodejs\nmain: ${program}\nstackConfigDir: stacks\n` +
                "config:\n  organization: { default: Example Bank }\n  pki:gatewayNamespace: gateways\n",
        );
        fs.mkdirSync(path.join(projectDir, "stacks"));
        const file = path.join(projectDir, "stacks", "Pulumi.dev.yaml");
        fs.writeFileSync(
            file,
            "config:\n  environment: dev\n  option: 1\n  pki:baseDomain: dev.api.bank.example\n" +
                "  domains: { ob: { services: [accounts] } }\n  meshStrictMtls: true\n",
        );
        const strings = {
            environment: "dev",
            option: "1",
            baseDomain: "dev.api.bank.example",
            domains: '{"ob":{"services":["accounts"]}}',
            meshStrictMtls: "true",
            organization: "Example Bank",
            gatewayNamespace: "gateways",
        };
        assert.deepStrictEqual(rawConfigFromStackFile(file), strings);
        pulumi.runtime.setAllConfig(stackFileConfig(file), []);
        assert.deepStrictEqual(rawConfigFromEngine(pulumi.runtime.allConfig(), "pki"), strings);
    });

    it("refuses keys in a namespace that only reads as pki, and this program's keys after pki. _ - or a space, on both paths", () => {
        // A revocation and STRICT mTLS that were dropped without a word: diff said "No certificate changes."
        const added =
            "  PKI:meshStrictMtls: true\n" +
            "  Pki:gatewayNamespace: gateways\n" +
            '  "pki :caKeyAlgorithm": ECDSA\n' +
            '  "pk\\u0456:keyAlgorithm": ECDSA\n' + // a Cyrillic i
            '  "\\uff30\\uff2b\\uff29:trustDomains": shared\n' + // full-width letters
            '  pki.revocations: [{ endpoint: ob, serial: "0A1B", reason: keyCompromise, revokedAt: "2026-11-01" }]\n' +
            "  pki_crlPeriodDays: 3\n" +
            "  pki-clusters: [east]\n" +
            '  "PKI meshFinishAfterHours": 2\n' +
            // Other namespaces, and a name after pki. that is no key of this program: left alone.
            "  aws:region: us-east-1\n  kubernetes:context: lab\n  pki.notAKey: 1\n" +
            // Settings nested under pki, as if it were a namespace: one key "pki" with a map as its value.
            "  pki:\n    meshStrictMtls: true\n" +
            // A secret, which render cannot decrypt but `pulumi up` passes.
            "  PKI:organization: { secure: v1:AAAA }\n";
        const inNamespace = (key: string, namespace: string, name: string): string =>
            `${key} is in the namespace ${namespace}, not pki (Pulumi's namespaces are exact), where this program reads nothing: write it as pki:${name}`;
        const nearMisses = [
            inNamespace("PKI:meshStrictMtls", "PKI", "meshStrictMtls"),
            inNamespace("Pki:gatewayNamespace", "Pki", "gatewayNamespace"),
            inNamespace('"pki :caKeyAlgorithm"', '"pki "', "caKeyAlgorithm"),
            inNamespace("pk\u0456:keyAlgorithm", '"pk\\u0456"', "keyAlgorithm"),
            inNamespace("\uff30\uff2b\uff29:trustDomains", '"\\uff30\\uff2b\\uff29"', "trustDomains"),
        ];
        const secret = inNamespace("PKI:organization", "PKI", "organization");
        const notNested =
            "Pulumi does not nest keys under their namespace (the map is one value of that key): write each setting in it as a key of its own, e.g. pki:meshStrictMtls: true";
        /** What `pulumi up` passes: the loader's strings and the secret, decrypted. */
        const passed = (file: string): Record<string, string> => ({
            ...stackFileConfig(file),
            "PKI:organization": "Example Bank",
        });

        // The stack program: both forms refused.
        const file = projectRunning(program, added);
        const inProject = {
            problems: [
                ...nearMisses,
                "pki.revocations is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki.revocations), where this program reads nothing: write it as pki:revocations",
                "pki_crlPeriodDays is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki_crlPeriodDays), where this program reads nothing: write it as pki:crlPeriodDays",
                "pki-clusters is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki-clusters), where this program reads nothing: write it as pki:clusters",
                '"PKI meshFinishAfterHours" is in the project\'s namespace (Pulumi reads a key without one as "apic-istio-pki:PKI meshFinishAfterHours"), where this program reads nothing: write it as pki:meshFinishAfterHours',
                `pki is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki), where this program reads nothing; ${notNested}`,
                secret,
            ],
        };
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(file)),
            inProject,
        );
        pulumi.runtime.setAllConfig(passed(file), []);
        assert.deepStrictEqual(
            verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig(), "apic-istio-pki")),
            inProject,
        );

        // A program of the user's own may read keys of any name in its namespace, never in one that reads as pki.
        const own = projectRunning("index.js", added);
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(own)),
            { problems: [...nearMisses, secret] },
        );
        pulumi.runtime.setAllConfig(passed(own), []);
        assert.deepStrictEqual(
            verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig())),
            { problems: [...nearMisses, secret] },
        );

        // Outside any project, the prefixed keys have no namespace at all.
        const loose = path.join(fs.mkdtempSync(path.join(dir, "no-project-")), "Pulumi.dev.yaml");
        fs.writeFileSync(loose, fs.readFileSync(own, "utf8"));
        const noNamespace = (key: string, name: string): string =>
            `${key} has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing: write it as pki:${name}`;
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(loose)),
            {
                problems: [
                    noNamespace("pki.revocations", "revocations"),
                    noNamespace("pki_crlPeriodDays", "crlPeriodDays"),
                    noNamespace("pki-clusters", "clusters"),
                    noNamespace('"PKI meshFinishAfterHours"', "meshFinishAfterHours"),
                    `pki has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing; ${notNested}`,
                    ...nearMisses,
                    secret,
                ],
            },
        );
    });

    it("refuses this program's keys written with a member after them, pointing to the whole map, on both paths", () => {
        // A validity and a domain that were dropped without a word, where pki:validityDays.leaf is refused.
        const added = "  pki.validityDays.leaf: 30\n  domains[1]: { services: [payees] }\n  pki.notAKey.leaf: 1\n";
        const whole = (key: string) =>
            `and a key with "." or "[" is a key of its own, not a member of pki:${key}: write pki:${key} as one map with all its members`;
        const misplaced = {
            problems: [
                `pki.validityDays.leaf is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki.validityDays.leaf), where this program reads nothing, ${whole("validityDays")}`,
                `domains[1] is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:domains[1]), where this program reads nothing, ${whole("domains")}`,
            ],
        };
        const file = projectRunning(program, added);
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(file)),
            misplaced,
        );
        pulumi.runtime.setAllConfig(stackFileConfig(file), []);
        assert.deepStrictEqual(
            verdict(() => rawConfigFromEngine(pulumi.runtime.allConfig(), "apic-istio-pki")),
            misplaced,
        );
        // Outside any project they have no namespace at all.
        const loose = path.join(fs.mkdtempSync(path.join(dir, "no-project-")), "Pulumi.dev.yaml");
        fs.writeFileSync(loose, fs.readFileSync(file, "utf8"));
        const noNamespace = (key: string) =>
            `has no namespace (Pulumi puts such a key in the project's, and this stack file is in no project), where this program reads nothing, ${whole(key)}`;
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(loose)),
            {
                problems: [
                    `pki.validityDays.leaf ${noNamespace("validityDays")}`,
                    `domains[1] ${noNamespace("domains")}`,
                ],
            },
        );
    });

    it("gives a program's JavaScript values the text the same values get in a stack file", () => {
        const file = path.join(dir, "Pulumi.javascript.yaml");
        fs.writeFileSync(
            file,
            stackFileText(
                { option: "[2]", validityDays: "{ root: 3650, leaf: true }", pkcs12Profile: "null" },
                NO_ROOT,
            ),
        );
        const fromJavaScript = verdict(
            () =>
                ({
                    environment: "dev",
                    option: [2],
                    baseDomain: "dev.api.bank.example",
                    domains: { ob: { services: ["accounts"] } },
                    validityDays: { root: 3650, leaf: true },
                    pkcs12Profile: null,
                }) as unknown as Record<string, string>,
        );
        assert.deepStrictEqual(
            fromJavaScript,
            verdict(() => rawConfigFromStackFile(file)),
        );
        assert.deepStrictEqual(fromJavaScript, {
            problems: [
                "pki:option must be 1, 2 or 3; got [2]",
                "pki:validityDays.leaf must be a whole number of days from 1 to 36500 (100 years); got true",
                `pki:pkcs12Profile is empty (YAML null, ~ and "" all reach the program as ""); set it to modern or legacy, or remove the line for modern`,
            ],
        });
    });
});

describe("Project-level config (Pulumi.yaml `config:`) applies to render as Pulumi applies it", () => {
    /** A project folder with `config` (lines) in its Pulumi.yaml, and `main` when given. */
    const project = (config: string, main?: string): string => {
        const dir = tempDir("config-project");
        fs.mkdirSync(path.join(dir, "stacks"));
        fs.writeFileSync(
            path.join(dir, "Pulumi.yaml"),
            `name: apic-istio-pki\nruntime: nodejs\n${main === undefined ? "" : `main: ${main}\n`}stackConfigDir: stacks\nconfig:\n${config}`,
        );
        return dir;
    };
    const stack = (dir: string, folder: string, extra: Overrides = {}): string => {
        const file = path.join(dir, folder, "Pulumi.dev.yaml");
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, stackFileText(extra, NO_ROOT));
        return file;
    };

    it("fills the keys a stack file leaves out with the project's values, and the stack file wins", () => {
        const dir = project(
            [
                "  pki:gatewayNamespace: gateways",
                "  pki:clusters: [east]",
                "  pki:organization: { value: Example Bank, description: subject O }",
                "  pki:validityDays:",
                "    value: { root: 7300, intermediate: 1095.0, leaf: 0x16D }",
                "  pki:keyAlgorithm: ECDSA",
                "  aws:region: us-east-1",
                "",
            ].join("\n"),
        );
        const file = stack(dir, "stacks", { keyAlgorithm: "RSA" });
        assert.deepStrictEqual(rawConfigFromStackFile(file), {
            environment: "dev",
            option: "1",
            baseDomain: "dev.api.bank.example",
            domains: '{"ob":{"services":["accounts"]}}',
            keyAlgorithm: "RSA",
            gatewayNamespace: "gateways",
            clusters: '["east"]',
            organization: "Example Bank",
            validityDays: '{"intermediate":1095,"leaf":365,"root":7300}',
        });
    });

    it("does not apply to a stack file outside the project's stackConfigDir", () => {
        const dir = project("  pki:gatewayNamespace: gateways\n");
        assert.strictEqual(rawConfigFromStackFile(stack(dir, "elsewhere")).gatewayNamespace, undefined);
    });

    it("refuses a stack file two projects claim: pulumi, run from the root, would read the other one's config", () => {
        // A stacks/Pulumi.yaml beside the root's `stackConfigDir: stacks`: the nearest project file
        // is not the one `pulumi up` from the root uses (it finds its project from the folder it runs in).
        const dir = project("  pki:organization: Example Bank\n");
        const file = stack(dir, "stacks");
        const shadow = path.join(dir, "stacks", "Pulumi.yaml");
        fs.writeFileSync(shadow, "name: shadow\nruntime: nodejs\nconfig:\n  pki:organization: Shadow Bank\n");
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(file)),
            {
                problems: [
                    `${file} is a stack file of 2 Pulumi projects, ${shadow} and ${path.join(dir, "Pulumi.yaml")}: ` +
                        "pulumi takes the one it finds from the folder it runs in, so which project's config and program apply is unclear; " +
                        "remove the project file that is not the stack's, or move the stack files",
                ],
            },
        );
        // A nearer project file for other stacks (its stackConfigDir elsewhere) claims nothing here.
        fs.writeFileSync(shadow, "name: shadow\nruntime: nodejs\nstackConfigDir: ../other\n");
        assert.strictEqual(rawConfigFromStackFile(file).organization, "Example Bank");
    });

    it("skips a project file farther up that cannot be read, as pulumi never reads past the nearest", () => {
        // Another user's broken or unreadable Pulumi.yaml in a shared parent folder (/tmp, a workspace).
        const outer = tempDir("config-outer");
        fs.writeFileSync(path.join(outer, "Pulumi.yaml"), "name: other\nfoo: [\n");
        const dir = path.join(outer, "team");
        fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
        fs.writeFileSync(
            path.join(dir, "Pulumi.yaml"),
            "name: apic-istio-pki\nruntime: nodejs\nstackConfigDir: stacks\nconfig:\n  pki:organization: Example Bank\n",
        );
        assert.strictEqual(rawConfigFromStackFile(stack(dir, "stacks")).organization, "Example Bank");
        // The nearest project file's faults are still the user's to hear.
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: apic-istio-pki\nfoo: [\n");
        const nearest = path.join(dir, "Pulumi.yaml");
        assert.throws(
            () => rawConfigFromStackFile(stack(dir, "stacks")),
            (error: Error) => error.message.startsWith(`cannot read ${nearest}: `),
        );
    });

    it("refuses the project's keys meant for this program that it would not read, as the program refuses them under `pulumi up`", () => {
        const config = [
            "  meshStrictMtls: true",
            '  pki.revocations: [{ endpoint: ob, serial: "0A1B", reason: keyCompromise, revokedAt: "2026-11-01" }]',
            "  PKI:gatewayNamespace: gateways",
            "  aws:region: us-east-1",
            "",
        ].join("\n");
        const misplaced = [
            "meshStrictMtls is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:meshStrictMtls), where this program reads nothing: write it as pki:meshStrictMtls",
            "pki.revocations is in the project's namespace (Pulumi reads a key without one as apic-istio-pki:pki.revocations), where this program reads nothing: write it as pki:revocations",
        ];
        const nearMiss =
            "PKI:gatewayNamespace is in the namespace PKI, not pki (Pulumi's namespaces are exact), where this program reads nothing: write it as pki:gatewayNamespace";
        // The stack program: `pulumi up` passes these values (the first as the project's default) and the program refuses them.
        const dir = project(config, path.join(__dirname, "../lib/program.js"));
        const projectFile = path.join(dir, "Pulumi.yaml");
        const file = stack(dir, "stacks");
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(file)),
            { problems: [...misplaced, nearMiss].map((problem) => `${projectFile}: ${problem}`) },
        );
        const passed = {
            "apic-istio-pki:meshStrictMtls": "true",
            "apic-istio-pki:pki.revocations":
                '[{"endpoint":"ob","reason":"keyCompromise","revokedAt":"2026-11-01","serial":"0A1B"}]',
            "PKI:gatewayNamespace": "gateways",
            "aws:region": "us-east-1",
        };
        assert.deepStrictEqual(
            verdict(() => rawConfigFromEngine({ ...stackFileConfig(file), ...passed }, "apic-istio-pki")),
            { problems: [...misplaced, nearMiss] },
        );
        // A program of the user's own may read its namespace's keys; a namespace that reads as pki is still refused.
        const own = project(config, "index.js");
        assert.deepStrictEqual(
            verdict(() => rawConfigFromStackFile(stack(own, "stacks"))),
            { problems: [`${path.join(own, "Pulumi.yaml")}: ${nearMiss}`] },
        );
    });

    it("refuses a merge key (<<) in Pulumi.yaml, in config: or at its top level, and render, inventory and diff write nothing", async () => {
        // pulumi up would apply both merges (yaml.v3); the old loader dropped them without a word.
        const base = path.join(tempDir("config-project-base"), "Pulumi.dev.yaml");
        fs.writeFileSync(base, stackFileText({}, NO_ROOT));
        for (const [name, config, where] of [
            ["config:", "  <<: { pki:meshStrictMtls: true }\n", ': "config:"'],
            ["top level", "  pki:organization: Example Bank\n<<: { description: merged }\n", ""],
        ]) {
            const dir = project(config);
            const file = stack(dir, "stacks");
            const refusal = `${path.join(dir, "Pulumi.yaml")}${where} uses a YAML merge key (<<), which this loader does not read; write the keys out`;
            const out = path.join(dir, "out");
            assert.deepStrictEqual(
                await cli("render", "--config", file, "--out", out),
                { status: 1, out: "", err: `invalid stack configuration:\n  - ${refusal}\n` },
                name,
            );
            assert.strictEqual(fs.existsSync(out), false, name);
            assert.deepStrictEqual(
                await cli("inventory", "--config", file),
                { status: 1, out: "", err: `invalid stack configuration:\n  - ${refusal}\n` },
                name,
            );
            assert.deepStrictEqual(
                await cli("diff", "--base", base, "--head", file),
                { status: 1, out: "", err: `invalid stack configuration in --head ${file}:\n  - ${refusal}\n` },
                name,
            );
        }
        // A quoted "<<" is text to yaml.v3, a key of the project's namespace like any other.
        const own = project("  pki:organization: Example Bank\n", "index.js");
        const file = stack(own, "stacks");
        fs.appendFileSync(file, '  "<<": 1\n');
        assert.strictEqual(stackFileConfig(file)["apic-istio-pki:<<"], "1");
    });

    it("refuses an alias or a list as Pulumi.yaml's config:, whose keys the old loader dropped without a word", async () => {
        // pulumi up reads the keys an alias names (yaml.v3 resolves it, merge keys and all) and refuses a list.
        for (const [name, config, got] of [
            ["alias", "base: &b\n  pki:organization: Acme Org\nconfig: *b\n", "an alias (*name)"],
            ["alias of a merge", "base: &b\n  <<: { pki:organization: Acme Org }\nconfig: *b\n", "an alias (*name)"],
            ["list", "config:\n  - pki:organization: Acme Org\n", "a list of 1 item"],
        ]) {
            const dir = tempDir("config-project-alias");
            const projectFile = path.join(dir, "Pulumi.yaml");
            fs.writeFileSync(projectFile, `name: apic-istio-pki\nruntime: nodejs\nstackConfigDir: stacks\n${config}`);
            const file = stack(dir, "stacks");
            const refusal = `${projectFile}: "config:" must be a map of keys such as pki:option: 2 (or the stack files' folder, the old spelling of stackConfigDir); got ${got}`;
            assert.deepStrictEqual(
                verdict(() => rawConfigFromStackFile(file)),
                { problems: [refusal] },
                name,
            );
            assert.deepStrictEqual(
                await cli("inventory", "--config", file),
                { status: 1, out: "", err: `invalid stack configuration:\n  - ${refusal}\n` },
                name,
            );
        }
    });

    it("refuses project entries Pulumi refuses, naming the project file and the key", () => {
        const dir = project(
            [
                "  pki:option: { default: 2 }",
                "  pki:crlPeriodDays: 7.5",
                "  pki:organization: { value: null }",
                "  pki:domains.ob: [accounts]",
                "  pki:offlineRoot: { value: { secure: v1:AAAA } }",
                // Shown as written: not as a time, a rounded number or "[object Object]".
                "  pki:pkcs12Profile: 2026-01-01",
                "  pki:meshFinishAfterHours: 1e3",
                "  pki:keyAlgorithm: { 2026-01-01: 1, 0x10: 2, value: RSA }",
                "",
            ].join("\n"),
        );
        const projectFile = path.join(dir, "Pulumi.yaml");
        assert.throws(
            () => rawConfigFromStackFile(stack(dir, "stacks")),
            (err: ConfigError) => {
                assert.deepStrictEqual(err.problems, [
                    `${projectFile} config pki:option is not in the project's namespace, so Pulumi allows only value (no type or default) for it`,
                    `${projectFile} config pki:crlPeriodDays must be text, a whole number, true or false, a list or { value: ... } (the Pulumi.yaml schema); got 7.5`,
                    `${projectFile} config pki:organization must provide a value`,
                    `${projectFile} config pki:domains.ob: Pulumi reads a project key with ".", "[" or quotes as a path into another key, which render does not; set the whole key instead`,
                    `${projectFile}: pki:offlineRoot is a secret; render cannot decrypt Pulumi secrets, and no pki: key needs to be one: set it in plain text (pulumi config set without --secret)`,
                    `${projectFile} config pki:pkcs12Profile must be text, a whole number, true or false, a list or { value: ... } (the Pulumi.yaml schema); got 2026-01-01`,
                    `${projectFile} config pki:meshFinishAfterHours must be text, a whole number, true or false, a list or { value: ... } (the Pulumi.yaml schema); got 1e3`,
                    `${projectFile} config pki:keyAlgorithm has 2026-01-01, 0x10; a project config entry has value (or type, default, description, secret, items)`,
                ]);
                return true;
            },
        );
    });
});

describe("CA common names fit RFC 5280's 64 characters at every allowed length and generation", () => {
    it("the longest environment and cluster names at the highest generations make CNs of at most 64, and one more character is refused", () => {
        const environment = a(MAX_ENVIRONMENT_LENGTH);
        const cluster = a(MAX_ENVIRONMENT_AND_CLUSTER_LENGTH - MAX_ENVIRONMENT_LENGTH);
        const raw = {
            ...Object.fromEntries(Object.entries(BASE).map(([k, v]) => [k, v])),
            environment,
            domains: { ob: { services: ["accounts"] } },
            clusters: [cluster],
        };
        const longest = (caRotation: unknown): number[] =>
            planCas(validateConfig({ ...raw, caRotation })).map((ca) => ca.subject.commonName.length);
        const atTheTop = { generation: MAX_GENERATION, phase: "finish" };
        const lengths = [
            ...longest({
                meshRoot: atTheTop,
                serverRoot: atTheTop,
                clientRoot: atTheTop,
                gatewayServerCa: atTheTop,
                apicClientCa: atTheTop,
                meshCa: atTheTop,
            }),
            ...longest({ meshRoot: { generation: MAX_GENERATION, phase: "prepare" }, meshCa: atTheTop }),
        ];
        assert.strictEqual(Math.max(...lengths), MAX_COMMON_NAME_LENGTH);
        assert.throws(
            () => validateConfig({ ...raw, environment: a(MAX_ENVIRONMENT_LENGTH + 1), clusters: ["x"] }),
            ConfigError,
        );
        assert.throws(() => validateConfig({ ...raw, clusters: [`${cluster}a`] }), ConfigError);
    });
});
