/**
 * The lifecycle command: what it proposes on a real render, the stack file edit (in place, comments
 * and layout kept, idempotent), the pull request body and JSON, and its exit statuses.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { rawConfigFromStackFile } from "../lib/config/load";
import { settingDigest, settingDigests } from "../lib/config/settings";
import { validateConfig } from "../lib/config/validate";
import { IssuedCertificate } from "../lib/inventory/issued";
import { readDeployed } from "../lib/lifecycle/deployed";
import { decide, Deployed, DeployedCertificate } from "../lib/lifecycle/rules";
import { editStackText, keyText, refuseUnmeantChanges, StackEditError } from "../lib/lifecycle/stackEdit";
import { EngineState, runWithStandIn } from "../lib/engine/standIn";
import { CaPosition, INITIAL_ROTATION, parseRecord, RotationRecord } from "../lib/plan/caRotation";
import { planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf, renderPlan } from "../lib/render/render";
import { buildCrl, CLOCK_SKEW_MS, CrlRecord } from "../lib/pki/crl";
import { seriesCrlRecord } from "../lib/pki/crlSeries";
import { buildPki } from "../lib/stack";
import { createRoot } from "../lib/pki/ceremony";
import { TEST_ONLY_CA_KEY_PEM } from "./fixtures/testOnlyPki";
import { cli, cliSignalledWhileWriting, newStackState, ROOT, tempDir } from "./helpers";

const DAY_MS = 86_400_000;
const T0 = new Date("2027-01-04T00:00:00Z");

/**
 * `pulumi up` of the stack file `file` at `now` on `state`, planned against the record `state`
 * deployed last, rendered into the folder `out`.
 */
const deployFile = (state: EngineState, file: string, now: Date, out: string) =>
    renderPlan(planFromRawConfig(rawConfigFromStackFile(file), { deployed: deployedRecordOf(state), now }), out, {
        state,
    });
const at = (days: number): string => new Date(T0.getTime() + days * DAY_MS).toISOString();

const STACK = `# The lifecycle test's stack: short-lived certificates.
config:
  pki:environment: life   # the environment
  pki:option: 1
  pki:baseDomain: life.api.bank.example
  pki:clusters: [example]
  pki:keyAlgorithm: ECDSA
  pki:validityDays: { root: 1460, intermediate: 365, leaf: 90 }
  pki:domains:
    ob:
      services: [accounts]   # one service
  pki:rotation:
    # renewals are proposed by the lifecycle pipeline
    leafEpoch: 0
  other:setting: "keep me"
`;

describe("Stack file edits keep everything but the values they set", () => {
    const text = `# top
config:
  pki:a: 1   # a comment
  pki:rotation:
    leafEpoch: 0   # trailing
    endpoints:
      ob: { serverEpoch: 1 }
      dp: {}
  pki:config:caRotation:
    meshCa: { generation: 1, phase: "switch" }
  # the end of config
other: [x,  y]
`;

    it("sets a value in place, after it the comment stays", () => {
        assert.strictEqual(
            editStackText(text, [{ path: ["pki:rotation", "leafEpoch"], value: 1 }]),
            text.replace("leafEpoch: 0   # trailing", "leafEpoch: 1   # trailing"),
        );
    });

    it("adds keys to flow maps, empty or not, and replaces a quoted value with a plain one", () => {
        assert.strictEqual(
            editStackText(text, [
                { path: ["pki:rotation", "endpoints", "ob", "clientEpoch"], value: 2 },
                { path: ["pki:rotation", "endpoints", "dp", "clientPhase"], value: "switch" },
                { path: ["pki:caRotation", "meshCa", "phase"], value: "finish" },
            ]),
            text
                .replace("ob: { serverEpoch: 1 }", "ob: { serverEpoch: 1, clientEpoch: 2 }")
                .replace("dp: {}", "dp: { clientPhase: switch }")
                .replace('phase: "switch"', "phase: finish"),
        );
    });

    /** A stack file whose `pki:rotation.endpoints` is a flow map of the lines given, inside a flow map too. */
    const flowEndpoints = (lines: string[], eol = "\n") =>
        `config:\n  pki:rotation: {\n    endpoints: {\n${lines.map((l) => `      ${l}\n`).join("")}    }\n  }\n  other:x: 1\n`.replace(
            /\n/g,
            eol,
        );
    const addDp = (from: string) =>
        editStackText(from, [{ path: ["pki:rotation", "endpoints", "dp", "serverEpoch"], value: 1 }]);
    const obAndDp = {
        config: { "pki:rotation": { endpoints: { ob: { serverEpoch: 0 }, dp: { serverEpoch: 1 } } }, "other:x": 1 },
    };

    it("adds a key to a flow map written over lines with a trailing comma: the new entry goes before it, the comma stays trailing", () => {
        for (const eol of ["\n", "\r\n"]) {
            const edited = addDp(flowEndpoints(["ob: { serverEpoch: 0 },"], eol));
            assert.strictEqual(edited, flowEndpoints(["ob: { serverEpoch: 0 }, dp: { serverEpoch: 1 },"], eol));
            assert.deepStrictEqual(YAML.parse(edited), obAndDp);
            // An entry written over lines, a comment on a line of its own after the last.
            assert.strictEqual(
                addDp(flowEndpoints(["ob: {", "  serverEpoch: 0, # renewed", "}, # ob", "# more to come"], eol)),
                flowEndpoints(
                    ["ob: {", "  serverEpoch: 0, # renewed", "}, dp: { serverEpoch: 1 }, # ob", "# more to come"],
                    eol,
                ),
            );
        }
    });

    it("adds a key to a flow map whose last entry has a comment on its line: the new entry goes before the comment", () => {
        for (const eol of ["\n", "\r\n"]) {
            const edited = addDp(flowEndpoints(["ob: { serverEpoch: 0 } # keep ob"], eol));
            assert.strictEqual(
                edited,
                flowEndpoints(["ob: { serverEpoch: 0 }, dp: { serverEpoch: 1 } # keep ob"], eol),
            );
            assert.deepStrictEqual(YAML.parse(edited), obAndDp);
            assert.strictEqual(
                addDp(flowEndpoints(["ob: { serverEpoch: 0 }, # keep ob, and } too"], eol)),
                flowEndpoints(["ob: { serverEpoch: 0 }, dp: { serverEpoch: 1 }, # keep ob, and } too"], eol),
            );
            // An empty map with a comment inside: the entry before the comment.
            const none = flowEndpoints(["# none yet"], eol).replace(`endpoints: {${eol}`, "endpoints: {");
            const empty = addDp(none);
            assert.strictEqual(empty, none.replace("endpoints: {", "endpoints: { dp: { serverEpoch: 1 }"));
            assert.deepStrictEqual(YAML.parse(empty).config["pki:rotation"], { endpoints: { dp: { serverEpoch: 1 } } });
        }
    });

    it("adds new keys and maps at the end of their block map, indented like its keys", () => {
        assert.strictEqual(
            editStackText(text, [
                { path: ["pki:rotation", "endpoints", "cards", "serverEpoch"], value: 1 },
                { path: ["pki:caRotation", "apicClientCa", "generation"], value: 1 },
                { path: ["pki:caRotation", "apicClientCa", "phase"], value: "prepare" },
                { path: ["pki:crlPeriodDays"], value: 14 },
                { path: ["pki:revocationsNote", "x", "y", "z"], value: 1 },
            ]),
            text
                .replace("      dp: {}\n", "      dp: {}\n      cards: { serverEpoch: 1 }\n")
                .replace(
                    '    meshCa: { generation: 1, phase: "switch" }\n',
                    '    meshCa: { generation: 1, phase: "switch" }\n    apicClientCa: { generation: 1, phase: prepare }\n',
                )
                .replace(
                    "  # the end of config\n",
                    '  pki:crlPeriodDays: 14\n  pki:revocationsNote:\n    x:\n      "y": { z: 1 }\n  # the end of config\n',
                ),
        );
    });

    /** A stack file whose ob endpoint ends with a comment of its own, followed by `next` (lines of config). */
    const commentedOb = (next: string, eol = "\n") =>
        (
            "config:\n  pki:rotation:\n    endpoints:\n      ob:\n        serverEpoch: 0\n" +
            `        # bumped by hand after incident 4711\n${next}`
        ).replace(/\n/g, eol);

    it("adds a key to a block map whose last value has comments after it: after those comments, never splitting the next key's indent", () => {
        const strict = "  pki:meshStrictMtls: true\n";
        const domains = "  pki:domains:\n    ob:\n      services: [accounts]   # one service\n";
        for (const [next, eol] of [
            [strict, "\n"],
            [domains, "\n"],
            [strict, "\r\n"],
            [`\n  # mesh-wide\n${strict}`, "\n"],
        ]) {
            const edited = addDp(commentedOb(next, eol));
            assert.strictEqual(edited, (commentedOb("") + "      dp: { serverEpoch: 1 }\n" + next).replace(/\n/g, eol));
            assert.deepStrictEqual(
                YAML.parse(edited).config,
                YAML.parse(commentedOb(next).replace("      ob:", "      dp: { serverEpoch: 1 }\n      ob:")).config,
            );
        }
        // The reviewer's stack file, exactly: pki:meshStrictMtls stays in config.
        assert.strictEqual(
            addDp(commentedOb(strict)),
            "config:\n  pki:rotation:\n    endpoints:\n      ob:\n        serverEpoch: 0\n" +
                "        # bumped by hand after incident 4711\n      dp: { serverEpoch: 1 }\n  pki:meshStrictMtls: true\n",
        );
    });

    it("refuses an edit that would change any other setting, or add a top-level key, naming the file and the setting", () => {
        const from = commentedOb("  pki:meshStrictMtls: true\n");
        const dp = { path: ["pki:rotation", "endpoints", "dp", "serverEpoch"], value: 1 };
        // What this editor wrote before: dp's lines spliced into the indent of pki:meshStrictMtls's line.
        const spliced = from.replace("  pki:meshStrictMtls", "  \n      dp: { serverEpoch: 1 }\npki:meshStrictMtls");
        const refusal = (change: string) =>
            "cannot set pki:rotation.endpoints.dp.serverEpoch to 1 in the stack file Pulumi.life.yaml: written there the way this editor writes it, " +
            `the edit would also change ${change}; make this change by hand`;
        assert.throws(() => refuseUnmeantChanges(from, spliced, dp, "the stack file Pulumi.life.yaml"), {
            name: "Error",
            message: refusal('pki:meshStrictMtls from "true" to unset'),
        });
        // A top-level key of its own, beside config:.
        const outside = `${addDp(from)}other: 1\n`;
        assert.throws(() => refuseUnmeantChanges(from, outside, dp, "the stack file Pulumi.life.yaml"), {
            message: refusal('other (a top-level key of the file, outside config:) from unset to "1"'),
        });
        // The value meant, and no other change, passes.
        refuseUnmeantChanges(from, addDp(from), dp);
        assert.throws(() => refuseUnmeantChanges(from, from, dp, "the stack file Pulumi.life.yaml"), {
            message: refusal("pki:rotation.endpoints.dp from a map to unset"),
        });
    });

    it("adds a key to a block map whose first key is explicit (? key) or tagged at the indentation of that key's line", () => {
        for (const first of ["? leafEpoch\n    : 0", "!!str leafEpoch: 0"]) {
            const from = `config:\n  pki:rotation:\n    ${first}\n  other:x: 1\n`;
            const edited = editStackText(from, [
                { path: ["pki:rotation", "endpoints", "dp", "serverEpoch"], value: 1 },
            ]);
            assert.strictEqual(
                edited,
                from.replace("  other:x", "    endpoints:\n      dp: { serverEpoch: 1 }\n  other:x"),
            );
            assert.deepStrictEqual(YAML.parse(edited), {
                config: { "pki:rotation": { leafEpoch: 0, endpoints: { dp: { serverEpoch: 1 } } }, "other:x": 1 },
            });
        }
    });

    it("adds a key to a block map written after a '? ' or ': ' indicator at that map's column, and after a tag or anchor at the tag's", () => {
        const cases: [string, string, unknown][] = [
            [
                "config:\n  pki:rotation:\n    ? endpoints\n    : ob: { serverEpoch: 1 }\n",
                "config:\n  pki:rotation:\n    ? endpoints\n    : ob: { serverEpoch: 1 }\n      dp: { serverEpoch: 5 }\n",
                { "pki:rotation": { endpoints: { ob: { serverEpoch: 1 }, dp: { serverEpoch: 5 } } } },
            ],
            [
                "config:\n  pki:rotation:\n    endpoints:\n      ? ob\n      : serverEpoch: 1\n",
                "config:\n  pki:rotation:\n    endpoints:\n      ? ob\n      : serverEpoch: 1\n      dp: { serverEpoch: 5 }\n",
                { "pki:rotation": { endpoints: { ob: { serverEpoch: 1 }, dp: { serverEpoch: 5 } } } },
            ],
            [
                "config:\n  pki:rotation:\n    endpoints:\n      ? ob\n      : ? serverEpoch\n        : 1\n",
                "config:\n  pki:rotation:\n    endpoints:\n      ? ob\n      : ? serverEpoch\n        : 1\n      dp: { serverEpoch: 5 }\n",
                { "pki:rotation": { endpoints: { ob: { serverEpoch: 1 }, dp: { serverEpoch: 5 } } } },
            ],
            [
                "config:\n  pki:rotation:\n    endpoints:\n      !!str ob: { serverEpoch: 1 }\n",
                "config:\n  pki:rotation:\n    endpoints:\n      !!str ob: { serverEpoch: 1 }\n      dp: { serverEpoch: 5 }\n",
                { "pki:rotation": { endpoints: { ob: { serverEpoch: 1 }, dp: { serverEpoch: 5 } } } },
            ],
        ];
        for (const [from, expected, config] of cases) {
            const edited = editStackText(from, [
                { path: ["pki:rotation", "endpoints", "dp", "serverEpoch"], value: 5 },
            ]);
            assert.strictEqual(edited, expected);
            assert.deepStrictEqual(YAML.parse(edited), { config });
        }
    });

    it("removes a key from a flow map with its comma, and from a block map with its line; a key not set stays unset", () => {
        const ob = (entries: string) => text.replace("ob: { serverEpoch: 1 }", `ob: { ${entries} }`);
        const removePhase = (from: string) =>
            editStackText(from, [{ path: ["pki:rotation", "endpoints", "ob", "clientPhase"], value: undefined }]);
        assert.strictEqual(removePhase(ob("clientPhase: switch, serverEpoch: 1")), ob("serverEpoch: 1"));
        assert.strictEqual(
            removePhase(ob("serverEpoch: 1,clientPhase: switch  , clientEpoch: 2")),
            ob("serverEpoch: 1  , clientEpoch: 2"),
        );
        assert.strictEqual(removePhase(ob("serverEpoch: 1, clientPhase: switch")), ob("serverEpoch: 1"));
        assert.strictEqual(
            editStackText(text, [{ path: ["pki:rotation", "leafEpoch"], value: undefined }]),
            text.replace("    leafEpoch: 0   # trailing\n", ""),
        );
        assert.strictEqual(
            editStackText("config:\n  pki:a: 1\n  pki:b: 2", [{ path: ["pki:b"], value: undefined }]),
            "config:\n  pki:a: 1\n",
        );
        assert.strictEqual(removePhase(text), text);
        assert.strictEqual(
            editStackText(text, [{ path: ["pki:rotation", "endpoints", "cards", "clientPhase"], value: undefined }]),
            text,
        );
    });

    it("removes an entry of a flow map written one entry a line with its line: the comments of the other entries stay on their lines", () => {
        const ob = (lines: string[], eol = "\n") =>
            text
                .replace("ob: { serverEpoch: 1 }", `ob: {\n${lines.map((l) => `        ${l}\n`).join("")}      }`)
                .replace(/\n/g, eol);
        const removePhase = (from: string) =>
            editStackText(from, [{ path: ["pki:rotation", "endpoints", "ob", "clientPhase"], value: undefined }]);
        const server = "serverEpoch: 1, # renewed in March";
        const phase = "clientPhase: switch # since the keystore upload";
        assert.strictEqual(
            removePhase(ob([server, "clientPhase: switch, # since the keystore upload", "clientEpoch: 2 # cards"])),
            ob([server, "clientEpoch: 2 # cards"]),
        );
        assert.strictEqual(removePhase(ob([server, phase])), ob(["serverEpoch: 1 # renewed in March"]));
        assert.strictEqual(removePhase(ob([server, `${phase.replace(" #", ", #")}`])), ob([server]));
        assert.strictEqual(removePhase(ob([server, phase], "\r\n")), ob(["serverEpoch: 1 # renewed in March"], "\r\n"));
    });

    it("refuses to remove the only key of a map, which would leave it empty", () => {
        assert.throws(
            () => editStackText(text, [{ path: ["pki:rotation", "endpoints", "ob", "serverEpoch"], value: undefined }]),
            {
                name: "Error",
                message: "cannot remove pki:rotation.endpoints.ob.serverEpoch: it is the only key of its map",
            },
        );
    });

    it("refuses to change a value or map an alias repeats, which would change the alias's key too; an anchor no alias names is edited", () => {
        const anchored = `config:
  pki:rotation:
    leafEpoch: &zero 0
    apicServerEpoch: 0
    endpoints:
      ob: &epochs { serverEpoch: *zero, clientEpoch: 1 }
      cards: *epochs
`;
        const refusal = (key: string, anchoredAt: string, anchor: string, aliasAt: string, what: string) => ({
            name: "Error",
            message:
                `cannot edit ${key}: ${anchoredAt} carries the anchor &${anchor}, which ${aliasAt} repeats (*${anchor}), ` +
                `so the edit would change ${aliasAt} too: write the ${what} out at ${aliasAt} in place of *${anchor}`,
        });
        const leafEpoch = refusal(
            "pki:rotation.leafEpoch",
            "its value",
            "zero",
            "pki:rotation.endpoints.ob.serverEpoch",
            "value",
        );
        for (const value of [1, undefined]) {
            assert.throws(() => editStackText(anchored, [{ path: ["pki:rotation", "leafEpoch"], value }]), leafEpoch);
        }
        // Set, added or removed: each changes the map cards repeats.
        for (const [key, value] of [
            ["clientEpoch", 2],
            ["clientPhase", "switch"],
            ["clientEpoch", undefined],
        ] as const) {
            assert.throws(
                () => editStackText(anchored, [{ path: ["pki:rotation", "endpoints", "ob", key], value }]),
                refusal(
                    `pki:rotation.endpoints.ob.${key}`,
                    "pki:rotation.endpoints.ob",
                    "epochs",
                    "pki:rotation.endpoints.cards",
                    "map",
                ),
            );
        }
        assert.strictEqual(
            editStackText(anchored, [{ path: ["pki:rotation", "apicServerEpoch"], value: 1 }]),
            anchored.replace("apicServerEpoch: 0", "apicServerEpoch: 1"),
        );
        assert.strictEqual(
            editStackText("config:\n  pki:rotation: { leafEpoch: &zero 0 }\n", [
                { path: ["pki:rotation", "leafEpoch"], value: 1 },
            ]),
            "config:\n  pki:rotation: { leafEpoch: &zero 1 }\n",
        );
    });

    it("ends a last line that had no newline before adding one, and refuses to reach into a value that is not a map", () => {
        assert.strictEqual(
            editStackText("config:\n  pki:option: 1", [{ path: ["pki:rotation", "leafEpoch"], value: 1 }]),
            "config:\n  pki:option: 1\n  pki:rotation: { leafEpoch: 1 }\n",
        );
        assert.throws(() => editStackText(text, [{ path: ["pki:a", "b"], value: 1 }]), {
            name: "Error",
            message: "pki:a is not a map",
        });
        assert.throws(() => editStackText(text, [{ path: ["pki:a", "b"], value: 1 }]), StackEditError);
        assert.throws(() => editStackText("other: 1\n", [{ path: ["pki:a"], value: 1 }]), {
            message: 'the stack file has no block map "config:"',
        });
        // Where the YAML breaks, not the parser's message, which quotes the text there ("|Tr0ub4dor&3").
        assert.throws(() => editStackText("config:\n  pki:x: |Tr0ub4dor&3\n", [{ path: ["pki:a"], value: 1 }]), {
            message: "the stack file is not YAML: a character or token out of place at line 2, column 11",
        });
    });

    it("quotes a key that YAML 1.2, Pulumi's yaml.v3 or YAML 1.1 would read as other than its text, and leaves other keys plain", () => {
        const quoted = [
            ...["null", "Null", "NULL", "~", "true", "True", "FALSE", "y", "Y", "n", "yes", "No", "ON", "off"],
            ...["1e3", "0x10", "0o17", "0777", "1_000", ".inf", ".NaN", "-1", "2026-01-01", "", "a b", "a: b"],
        ];
        assert.deepStrictEqual(
            quoted.map((key) => keyText(key)),
            quoted.map((key) => JSON.stringify(key)),
        );
        const plain = ["ob", "_x", "pki:rotation", "pki:config:caRotation", "a.b", "nullable", "yes-no", "on1", "Y2"];
        assert.deepStrictEqual(
            plain.map((key) => keyText(key)),
            plain,
        );
        // Added to a block map, to a flow map: each reads back as the endpoint named null.
        const path = ["pki:rotation", "endpoints", "null", "serverEpoch"];
        assert.strictEqual(
            editStackText(text, [{ path, value: 1 }]),
            text.replace("      dp: {}\n", '$&      "null": { serverEpoch: 1 }\n'),
        );
        assert.strictEqual(
            editStackText("config:\n  pki:rotation: { endpoints: { ob: { serverEpoch: 1 } } }\n", [{ path, value: 1 }]),
            'config:\n  pki:rotation: { endpoints: { ob: { serverEpoch: 1 }, "null": { serverEpoch: 1 } } }\n',
        );
    });
});

describe("lifecycle's stack file edit, where the editor's YAML 1.2 reads the file otherwise than Pulumi", () => {
    const edit = (from: string): string => editStackText(from, [{ path: ["pki:rotation", "leafEpoch"], value: 2 }]);

    it("refuses a lone CR or NEL, line breaks to Pulumi only, which would put the edit elsewhere", () => {
        const refusal = (at: string): { name: string; message: string } => ({
            name: "Error",
            message: `cannot edit the stack file in place: it holds a lone CR or a NEL (U+0085) at ${at}, which Pulumi's YAML reader reads as a line break and YAML 1.2 does not; save the file with LF (or CRLF) line breaks`,
        });
        // Classic Mac line breaks: to YAML 1.2 one line.
        assert.throws(() => edit("config:\r  pki:rotation: { leafEpoch: 1 }\r"), refusal("line 1, column 8"));
        // To YAML 1.2 pki:rotation is in the comment: it would add a second one.
        assert.throws(
            () => edit("config:\n  pki:option: 1 # one\u0085  pki:rotation: { leafEpoch: 1 }\n"),
            refusal("line 2, column 22"),
        );
        assert.strictEqual(
            edit("config:\r\n  pki:rotation: { leafEpoch: 1 }\r\n"),
            "config:\r\n  pki:rotation: { leafEpoch: 2 }\r\n",
        );
    });

    it("refuses the escape \\' in double quotes, which Pulumi reads as ' and YAML 1.2 refuses; a \\ before ' and ' in single quotes are edited", () => {
        assert.throws(() => edit(`config:\n  pki:organization: "the bank\\'s"\n  pki:rotation: { leafEpoch: 1 }\n`), {
            name: "Error",
            message:
                "cannot edit the stack file in place: it holds the escape \\' at line 2, column 30, which Pulumi's YAML reader reads as ' and YAML 1.2 does not; write ' without the backslash",
        });
        for (const organization of [`"the bank\\\\'s"`, `'the bank\\'`]) {
            const text = `config:\n  pki:organization: ${organization}\n  pki:rotation: { leafEpoch: 1 }\n`;
            assert.strictEqual(edit(text), text.replace("leafEpoch: 1", "leafEpoch: 2"));
        }
    });
});

interface LifecycleJson {
    changed: boolean;
    markdown: string;
    republishCrls: boolean;
    republishBlockedBy: string[];
    republishWhy: string[];
    needsHuman: string[];
    proposals: { kind: string; subject: string; why: string; edits: { key: string; from: unknown; to: unknown }[] }[];
    pending: string[];
    waiting: string[];
    afterRepublish: { step: string; before: string }[];
}

/**
 * An offline mesh root as the ceremony makes it (30 days before T0), and a CRL of its series: valid
 * two weeks from day `from`, signed ahead as the ceremony signs a series.
 */
function offlineMeshRoot() {
    const root = createRoot(
        { commonName: "Life Mesh Offline Root", validityDays: 400, keyAlgorithm: "RSA" },
        new Date(at(-30)),
        crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM),
    );
    const seriesCrl = (from: number, number: number): string =>
        buildCrl(
            root.certPem,
            TEST_ONLY_CA_KEY_PEM,
            [],
            { thisUpdate: new Date(at(from)), nextUpdate: new Date(at(from + 14)), number },
            { signedOnce: true },
        );
    return { root, seriesCrl };
}

/**
 * The test's stack (STACK, not stackFile: tests edit that one) in a folder of its own, validated
 * with that root as pki:offlineRoots.meshRoot, its CRL series `series`, and the `more` settings.
 */
function withOfflineMeshRoot(
    label: string,
    root: { certPem: string },
    series: readonly string[],
    more: Record<string, string> = {},
) {
    const file = path.join(tempDir(label), "Pulumi.life.yaml");
    fs.writeFileSync(file, STACK);
    return validateConfig({
        ...rawConfigFromStackFile(file),
        ...more,
        offlineRoots: JSON.stringify({
            meshRoot: { certificate: root.certPem, intermediates: {}, crls: series.join("") },
        }),
    });
}

/** What the lifecycle's stack (three roots made here) says a pending change of `key` does to its roots, with a new `what`. */
const roots = "the root CAs mesh-root, server-root, client-root in place, under their own ids";
/** What every re-issue of the mesh root adds: istiod keeps the old CA until it restarts. */
const RESTART_ISTIOD =
    "Restart istiod of every cluster (kubectl -n istio-system rollout restart deployment/istiod), then every workload: " +
    'the re-issued mesh root is another certificate, even with its key and subject, so a running istiod refuses the new cacerts ("updating new ROOT-CA not supported") and signs with the old CA until it restarts.';
const reissuesRoots = (key: string, what: string, instead: string) =>
    `its update re-issues ${roots}, with a new ${what}, and every CA and certificate below them, outside a staged rotation, ` +
    `and breaks every chain through them at once: ${key}: ${instead}. ${RESTART_ISTIOD}`;
const ORGANIZATION_REISSUES = reissuesRoots(
    "pki:organization",
    "subject",
    "no staged rotation avoids it, since every generation's subject carries the organization: keep the deployed value, " +
        "or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore, restart istiod, and then the mesh workloads)",
);

describe("lifecycle: the renewals due on a deployed stack, as one reviewed edit", function () {
    this.timeout(120_000);
    let dir: string;
    let stackFile: string;
    let deployedDir: string;

    before(async () => {
        dir = tempDir("lifecycle");
        stackFile = path.join(dir, "Pulumi.life.yaml");
        fs.writeFileSync(stackFile, STACK);
        deployedDir = path.join(dir, "deployed");
        await deployFile(newStackState(), stackFile, T0, deployedDir);
    });

    const runOn = async (deployed: string, ...args: string[]) => {
        const result = await cli("lifecycle", "--config", stackFile, "--deployed", deployed, ...args);
        return { ...result, json: args.includes("json") ? (JSON.parse(result.out) as LifecycleJson) : undefined };
    };
    const run = (...args: string[]) => runOn(deployedDir, ...args);

    /** `lifecycle --format json` of a stack file against a deployed folder at `now` (`--write` too, if given), with its exit status. */
    const lifecycleJson = async (file: string, folder: string, now: string, ...more: "--write"[]) => {
        const { status, out } = await cli(
            ...["lifecycle", "--config", file, "--deployed", folder, "--now", now, ...more, "--format", "json"],
        );
        return { status, json: JSON.parse(out) as LifecycleJson };
    };

    /**
     * The stack deployed on day 0, then on 2027-01-05 at 10:00 with ob's APIC client revoked at
     * 09:30 (a state of its own): the APIC-client CA's CRL is that of the 7-day period from
     * 2026-12-31, valid until 2027-01-28. `revoked(extra)`: the stack file deployed then, with
     * `extra` lines at the end of its config, as a stack file of its own.
     */
    let revocationDeployed: Promise<{ folder: string; revoked: (extra?: string) => string }> | undefined;
    const deployRevocation = () =>
        (revocationDeployed ??= (async () => {
            const folder = path.join(dir, "revocation");
            fs.mkdirSync(folder);
            const state = newStackState();
            const deployAt = (file: string, now: Date, out: string) =>
                deployFile(state, file, now, path.join(folder, out));
            let files = 0;
            const stackWith = (text: string) => {
                const file = path.join(folder, `stack${files++}`, "Pulumi.life.yaml");
                fs.mkdirSync(path.dirname(file));
                fs.writeFileSync(file, text);
                return file;
            };
            // STACK, not stackFile: the tests before this one edit that.
            await deployAt(stackWith(STACK), T0, "day0");
            const inventory = JSON.parse(fs.readFileSync(path.join(folder, "day0/inventory.json"), "utf8"));
            const serial = (inventory.certificates as IssuedCertificate[]).find((c) => c.id === "ob/client")?.serial;
            const revoked = (extra = "") =>
                stackWith(
                    STACK.replace(
                        '  other:setting: "keep me"\n',
                        "  pki:revocations:\n" +
                            `    - { endpoint: ob, serial: ${serial}, epoch: 0, reason: keyCompromise, revokedAt: "2027-01-05T09:30:00Z" }\n` +
                            extra,
                    ),
                );
            await deployAt(revoked(), new Date("2027-01-05T10:00:00Z"), "deployed");
            return { folder: path.join(folder, "deployed"), revoked };
        })());

    /**
     * The APIC-client CA's rotation to generation 1 on a state of its own: the stack deployed on
     * day 0, its prepare on day 33, its switch on day 40, each render in a folder of that day.
     * `stackAt(phase)`: the stack file of that phase (undefined: none).
     */
    let rotationDeployed: Promise<{ folder: string; stackAt: (phase?: CaPosition["phase"]) => string }> | undefined;
    const deployRotation = () =>
        (rotationDeployed ??= (async () => {
            const folder = tempDir("lifecycle-rotation");
            const state = newStackState();
            const stackAt = (phase?: CaPosition["phase"]) => {
                const file = path.join(folder, phase ?? "none", "Pulumi.life.yaml");
                const rotation =
                    phase === undefined
                        ? ""
                        : `  pki:caRotation: { apicClientCa: { generation: 1, phase: ${phase} } }\n`;
                fs.mkdirSync(path.dirname(file), { recursive: true });
                fs.writeFileSync(file, STACK + rotation);
                return file;
            };
            await deployFile(state, stackAt(), T0, path.join(folder, "day0"));
            await deployFile(state, stackAt("prepare"), new Date(at(33)), path.join(folder, "day33"));
            await deployFile(state, stackAt("switch"), new Date(at(40)), path.join(folder, "day40"));
            return { folder, stackAt };
        })());
    /** The deployed folder `day` of deployRotation, with its APIC-client CA of generation 0 in its window from day 30 and ending on day 45. */
    const rotationAt = async (day: string): Promise<Deployed> => {
        const deployed = readDeployed(path.join((await deployRotation()).folder, day));
        return {
            ...deployed,
            inventory: deployed.inventory.map((c): DeployedCertificate =>
                c.id === "apic-client-ca" ? { ...c, renewAt: new Date(at(30)), notAfter: new Date(at(45)) } : c,
            ),
        };
    };

    it("proposes nothing, edits nothing and exits 0 while nothing is due", async () => {
        const { status, json } = await run("--now", at(59), "--write", "--format", "json");
        assert.strictEqual(status, 0);
        assert.deepStrictEqual(
            [json?.changed, json?.proposals, json?.republishCrls, json?.needsHuman],
            [false, [], false, []],
        );
        assert.match(
            json?.markdown ?? "",
            /^## Lifecycle of life at 2027-03-04\n\nNothing to change in the stack file\. No CRL is due for re-publication\.\n$/,
        );
        assert.strictEqual(fs.readFileSync(stackFile, "utf8"), STACK);
    });

    it("gives the same edit for the same inputs, and the stack outputs' JSON (either record name) decides as the render's folder does; a newer record is refused", async () => {
        const first = await run("--now", at(63), "--format", "json");
        const second = await run("--now", at(63), "--format", "json");
        assert.strictEqual(first.out, second.out);
        assert.strictEqual(first.json?.changed, false, "without --write nothing is written");
        const outputs = path.join(dir, "outputs.json");
        fs.writeFileSync(
            outputs,
            JSON.stringify({
                apicBundles: "[secret]",
                inventory: JSON.parse(fs.readFileSync(path.join(deployedDir, "inventory.json"), "utf8")).certificates,
                deploymentRecord: JSON.parse(fs.readFileSync(path.join(deployedDir, "deployment.json"), "utf8")),
            }),
        );
        const fromOutputs = await runOn(outputs, "--now", at(63), "--format", "json");
        assert.strictEqual(fromOutputs.out, first.out);
        // Stacks of earlier versions export the record as caRotation.
        const { deploymentRecord, ...rest } = JSON.parse(fs.readFileSync(outputs, "utf8"));
        fs.writeFileSync(outputs, JSON.stringify({ ...rest, caRotation: deploymentRecord }));
        const older = await runOn(outputs, "--now", at(63), "--format", "json");
        assert.strictEqual(older.out, first.out);
        // A damaged record is refused by its field, under the name the outputs give it.
        // A record of a newer version: upgrade, not repair.
        fs.writeFileSync(outputs, JSON.stringify({ ...rest, deploymentRecord: { ...deploymentRecord, version: 2 } }));
        assert.deepStrictEqual(await runOn(outputs, "--now", at(63)), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${outputs}: its deploymentRecord.version is 2: a newer version of apic-istio-pki wrote it, and this one, ` +
                "which reads records up to version 1, would drop what it does not know (such as retired roots' pins); " +
                "upgrade apic-istio-pki to the version that deployed the stack, or a later one\n",
            json: undefined,
        });
        fs.writeFileSync(outputs, JSON.stringify({ ...rest, caRotation: { ...deploymentRecord, positions: null } }));
        assert.deepStrictEqual(await runOn(outputs, "--now", at(63)), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${outputs}: its caRotation.positions holds null, not a map; ` +
                "give the outputs of the stack's last update again, or remove the damaged entry\n",
            json: undefined,
        });
        // An output that holds null is a damaged record, not a missing one; removing it would make
        // the stack a new one, deployed with no check against the record: only a restore repairs it.
        fs.writeFileSync(outputs, JSON.stringify({ ...rest, deploymentRecord: null }));
        assert.deepStrictEqual(await runOn(outputs, "--now", at(63)), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${outputs}: its deploymentRecord holds null, not a map; ` +
                "give the outputs of the stack's last update again\n",
            json: undefined,
        });
        // Removing a damaged version would read the record as one of an earlier version: only a restore repairs it.
        fs.writeFileSync(outputs, JSON.stringify({ ...rest, deploymentRecord: { ...deploymentRecord, version: "1" } }));
        assert.deepStrictEqual(await runOn(outputs, "--now", at(63)), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${outputs}: its deploymentRecord.version holds a string, not an integer; ` +
                "give the outputs of the stack's last update again\n",
            json: undefined,
        });
    });

    it("needs a human when the stack outputs show a private key in plain text, which no policy can see", async () => {
        const outputs = (apicBundles: unknown) => {
            const file = path.join(dir, "outputs-keys.json");
            fs.writeFileSync(
                file,
                JSON.stringify({
                    apicBundles,
                    inventory: JSON.parse(fs.readFileSync(path.join(deployedDir, "inventory.json"), "utf8"))
                        .certificates,
                    deploymentRecord: JSON.parse(fs.readFileSync(path.join(deployedDir, "deployment.json"), "utf8")),
                }),
            );
            return file;
        };
        const key = fs.readFileSync(path.join(deployedDir, "apic/ob/client.key"), "utf8");
        const p12 = fs.readFileSync(path.join(deployedDir, "apic/ob/client.p12")).toString("base64");
        // As `pulumi stack output --json` shows secrets: the decision is the one nothing is due for.
        const secret = await runOn(
            outputs({ ob: { privateKeyPem: "[secret]", pkcs12Base64: "[secret]" } }),
            "--now",
            at(59),
            "--format",
            "json",
        );
        assert.deepStrictEqual([secret.status, secret.json?.needsHuman], [0, []]);
        const plain = await runOn(
            outputs({
                ob: {
                    privateKeyPem: key,
                    pkcs12Base64: p12,
                    pkcs12Password: "[secret]",
                    certPem: fs.readFileSync(path.join(deployedDir, "apic/ob/client.crt"), "utf8"),
                },
            }),
            "--now",
            at(59),
            "--format",
            "json",
        );
        const exposed = (output: string) =>
            `stack output ${output} holds a private key in plain text (read without --show-secrets, a secret shows as "[secret]"): ` +
            "anyone who can read the stack's outputs has it. Wrap it in pulumi.secret() in the program, and replace the key";
        assert.deepStrictEqual(
            [plain.status, plain.json?.needsHuman],
            [1, [exposed("apicBundles.ob.privateKeyPem"), exposed("apicBundles.ob.pkcs12Base64")]],
        );
        assert.ok(!plain.out.includes(key.split("\n")[1]), "the report does not quote the key");
    });

    it("renews the leaves inside their window: the server in one step, APIC's client with a switch; only those lines change", async () => {
        const { status, json } = await run("--now", at(63), "--write", "--format", "json");
        assert.strictEqual(status, 0);
        assert.strictEqual(json?.changed, true);
        assert.deepStrictEqual(
            json?.proposals.map((p) => [p.kind, p.subject, p.edits]),
            [
                ["renew-server", "ob/server", [{ key: "pki:rotation.endpoints.ob.serverEpoch", from: null, to: 1 }]],
                [
                    "rotate-client",
                    "ob/client",
                    [
                        { key: "pki:rotation.endpoints.ob.clientEpoch", from: null, to: 1 },
                        { key: "pki:rotation.endpoints.ob.clientPhase", from: null, to: "switch" },
                    ],
                ],
            ],
        );
        assert.match(
            json?.proposals[0].why ?? "",
            /^inside its renewal window since 2027-03-05; expires on 2027-04-04$/,
        );
        assert.strictEqual(
            fs.readFileSync(stackFile, "utf8"),
            STACK.replace(
                "    leafEpoch: 0\n",
                "    leafEpoch: 0\n    endpoints:\n      ob: { serverEpoch: 1, clientEpoch: 1, clientPhase: switch }\n",
            ),
        );
        const markdown = json?.markdown ?? "";
        assert.match(
            markdown,
            /\*\*2 changes written to .*Pulumi\.life\.yaml\.\*\* No CRL is due for re-publication\./,
        );
        assert.match(
            markdown,
            /\| ob\/client \| inside its renewal window since 2027-03-05; expires on 2027-04-04 \| pki:rotation\.endpoints\.ob\.clientEpoch: unset -> 1; pki:rotation\.endpoints\.ob\.clientPhase: unset -> switch \|/,
        );
        assert.match(markdown, /### After the update\n\n- \*\*ob\/client\*\*: upload the new keystore of ob to APIC/);
        // The certificate diff of the edit, as the diff command shows it.
        assert.match(
            markdown,
            /## Certificate changes: life \(Option 1\)\n\n\*\*0 added, 0 removed, 2 replaced, 6 unchanged\.\*\*/,
        );
        assert.match(
            markdown,
            /\| ob\/client \| apic-client \| rotation forced: epoch 0 -> 1 \| new key; new certificate; new APIC keystore \|/,
        );
        assert.match(markdown, /\| ob \| key of epoch 0 \| key of epoch 1, key of epoch 0 \|/);
    });

    it("changes nothing when run again before the edit is deployed, and says what waits for the update", async () => {
        const edited = fs.readFileSync(stackFile, "utf8");
        const { status, json } = await run("--now", at(63), "--write", "--format", "json");
        assert.strictEqual(status, 0);
        assert.deepStrictEqual([json?.changed, json?.proposals], [false, []]);
        assert.deepStrictEqual(json?.pending, [
            "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
            "ob/client: epoch 1 from apic-client-ca in the stack file, epoch 0 from apic-client-ca deployed",
            "pki:rotation.endpoints: changed in the stack file, not deployed yet",
        ]);
        assert.strictEqual(fs.readFileSync(stackFile, "utf8"), edited);
    });

    it("asks a human once a renewal in the stack file is still not deployed half its window before the end", async () => {
        // The edit written above renews both leaves (renewal window from day 60, end on day 90), but
        // its update never ran: waiting for it is normal until half the window is left (day 75).
        const before = await run("--now", at(74), "--format", "json");
        assert.deepStrictEqual([before.status, before.json?.needsHuman], [0, []]);
        const { status, json } = await run("--now", at(76), "--format", "json");
        assert.strictEqual(status, 1);
        const undeployed = (id: string, role: string, ca: string) =>
            `${id} (${role}) expires on 2027-04-04, and the stack file's change of it is not deployed yet ` +
            `(${id}: epoch 1 from ${ca} in the stack file, epoch 0 from ${ca} deployed); ` +
            "nothing more is proposed for it until it is: run pulumi up from the default branch before then " +
            "(if the update after the merge failed, fix what made it fail first)";
        assert.deepStrictEqual(json?.needsHuman, [
            undeployed("ob/server", "gateway-server", "gateway-server-ca"),
            undeployed("ob/client", "apic-client", "apic-client-ca"),
        ]);
    });

    it("asks a human while a CA's merged prepare or switch is not deployed, once half the time from when it is due is left", async () => {
        const { folder, stackAt } = await deployRotation();
        const undeployedAt = async (phase: "prepare" | "switch", deployedDay: string, days: number) =>
            decide({
                config: validateConfig(rawConfigFromStackFile(stackAt(phase))),
                deployed: await rotationAt(deployedDay),
                now: new Date(at(days)),
                soakDays: 7,
            }).needsHuman;
        const undeployed = (change: string) => [
            `apic-client-ca (intermediate) expires on 2027-02-18, and the stack file's change of it is not deployed yet (${change}); ` +
                "nothing more is proposed for it until it is: run pulumi up from the default branch before then " +
                "(if the update after the merge failed, fix what made it fail first)",
        ];
        // The prepare, due on day 30: from day 37.5.
        assert.deepStrictEqual(await undeployedAt("prepare", "day0", 37), []);
        assert.deepStrictEqual(
            await undeployedAt("prepare", "day0", 38),
            undeployed(
                "pki:caRotation.apicClientCa: generation 1 phase prepare in the stack file, generation 0 phase finish deployed",
            ),
        );
        // The switch, due a soak (7 days) later, on day 37: from day 41.
        assert.deepStrictEqual(await undeployedAt("switch", "day33", 40), []);
        assert.deepStrictEqual(
            await undeployedAt("switch", "day33", 41),
            undeployed(
                "pki:caRotation.apicClientCa: generation 1 phase switch in the stack file, generation 1 phase prepare deployed",
            ),
        );
        // ob/client (its window from day 60, its end on day 90), left to a switch that comes with a
        // soak to spare: from half a soak before its end (day 86.5), the CA itself lasting.
        const clientAt = (days: number) =>
            decide({
                config: validateConfig(rawConfigFromStackFile(stackAt("switch"))),
                deployed: readDeployed(path.join(folder, "day33")),
                now: new Date(at(days)),
                soakDays: 7,
            }).needsHuman;
        assert.deepStrictEqual(clientAt(86), []);
        assert.deepStrictEqual(clientAt(87), [
            "ob/client (apic-client) expires on 2027-04-04, and the stack file's change of it is not deployed yet " +
                "(ob/client: epoch 1 from apic-client-ca-g1 in the stack file, epoch 0 from apic-client-ca deployed); " +
                "nothing more is proposed for it until it is: run pulumi up from the default branch before then " +
                "(if the update after the merge failed, fix what made it fail first)",
        ]);
    });

    it("exits 1 when something needs a human: certificates past their end", async () => {
        // The stack file renews both (the edit written above), but that is not deployed.
        const { status, json } = await run("--now", at(95), "--format", "json");
        assert.strictEqual(status, 1);
        assert.deepStrictEqual(json?.needsHuman.slice(0, 2), [
            "ob/server (gateway-server) expired on 2027-04-04: whatever checks it refuses it now; the stack file renews it, but that is not deployed yet: run pulumi up at once",
            "ob/client (apic-client) expired on 2027-04-04: whatever checks it refuses it now; the stack file renews it, but that is not deployed yet: run pulumi up at once",
        ]);
        assert.match(
            json?.markdown ?? "",
            /### Needs a human\n\n- ob\/server \(gateway-server\) expired on 2027-04-04/,
        );
    });

    it("--write refuses a stack file that is a link or read-only, or in a folder it cannot write, before deciding anything", async () => {
        const copy = (name: string) => {
            const folder = tempDir(`lifecycle-${name}`);
            const file = path.join(folder, "Pulumi.life.yaml");
            fs.writeFileSync(file, STACK);
            return { folder, file };
        };
        const write = (file: string) =>
            cli("lifecycle", "--config", file, "--deployed", deployedDir, "--now", at(63), "--write");

        // A rename would have put a file in place of the link and left its target as it was.
        const target = copy("target");
        const link = path.join(target.folder, "Pulumi.linked.yaml");
        fs.symlinkSync(target.file, link);
        assert.deepStrictEqual(await write(link), {
            status: 2,
            out: "",
            err: `error: --write: the stack file ${link} is a symbolic link; lifecycle edits only a stack file that is the file itself: replace the link by the file\n`,
        });
        assert.ok(fs.lstatSync(link).isSymbolicLink());
        assert.strictEqual(fs.readFileSync(target.file, "utf8"), STACK);

        const readOnly = copy("read-only");
        fs.chmodSync(readOnly.file, 0o444);
        assert.deepStrictEqual(await write(readOnly.file), {
            status: 2,
            out: "",
            err: `error: --write: the stack file ${readOnly.file} is read-only (mode 0444); make it writable (chmod u+w) for lifecycle to edit it\n`,
        });
        assert.strictEqual(fs.readFileSync(readOnly.file, "utf8"), STACK);

        // A folder the user may not create files in: run as nobody when the tests run as root (root may write anywhere).
        const folder = tempDir("lifecycle-unwritable");
        const file = path.join(folder, "Pulumi.life.yaml");
        fs.writeFileSync(file, STACK, { mode: 0o644 });
        const deployed = path.join(folder, "deployed");
        fs.mkdirSync(deployed);
        for (const name of ["inventory.json", "deployment.json"])
            fs.copyFileSync(path.join(deployedDir, name), path.join(deployed, name));
        fs.chmodSync(deployed, 0o755);
        const asRoot = process.getuid!() === 0;
        fs.chmodSync(folder, asRoot ? 0o755 : 0o555);
        const result = spawnSync(
            process.execPath,
            [
                path.join(ROOT, "dist/lib/cli/main.js"),
                "lifecycle",
                "--config",
                file,
                "--deployed",
                deployed,
                "--now",
                at(63),
                "--write",
            ],
            { encoding: "utf8", ...(asRoot ? { uid: 65534, gid: 65534 } : {}) },
        );
        assert.deepStrictEqual(
            [result.status, result.stdout, result.stderr],
            [
                2,
                "",
                `error: --write cannot replace the stack file ${file} (EACCES creating a file in ${folder}); run it where that folder is writable\n`,
            ],
        );
        assert.strictEqual(fs.readFileSync(file, "utf8"), STACK);
        fs.chmodSync(folder, 0o755);
    });

    it("--write finishes replacing the stack file when a signal comes, and removes, naming them, the new files of runs killed a minute or more before", () => {
        const folder = tempDir("lifecycle-signal");
        const file = path.join(folder, "Pulumi.life.yaml");
        fs.writeFileSync(file, STACK);
        // What a run killed by kill -9 between creating its new file and renaming it leaves, and a file of someone else's.
        const leftover = path.join(folder, ".Pulumi.life.yaml.0123456789ab.tmp");
        fs.writeFileSync(leftover, STACK.slice(0, 40));
        const minuteAgo = new Date(Date.now() - 61_000);
        fs.utimesSync(leftover, minuteAgo, minuteAgo);
        // The new file of a run that is writing now (no older than a minute): removing it would make that run fail.
        const running = path.join(folder, ".Pulumi.life.yaml.ba9876543210.tmp");
        fs.writeFileSync(running, STACK);
        const notOurs = path.join(folder, ".Pulumi.life.yaml.notes.tmp");
        fs.writeFileSync(notOurs, "mine\n");
        // The command sends itself SIGTERM as it writes the edited text into its new file: the worst moment.
        const script = cliSignalledWhileWriting('typeof file === "number" && String(content).includes("serverEpoch")');
        const child = spawnSync(
            process.execPath,
            ["-e", script, "lifecycle", "--config", file, "--deployed", deployedDir, "--now", at(63), "--write"],
            { encoding: "utf8", timeout: 30_000 },
        );
        // The signal waits for the write; the command is done by then, so it ends as done.
        assert.deepStrictEqual([child.signal, child.status], [null, 0], child.stderr);
        assert.match(child.stdout, /\*\*2 changes written to [^]*\nended 0\n$/);
        assert.strictEqual(
            child.stderr,
            `warning: removed ${leftover}: the new stack file of a lifecycle --write that was killed before it could rename it over ${file}\n`,
        );
        assert.match(fs.readFileSync(file, "utf8"), /ob: \{ serverEpoch: 1, clientEpoch: 1, clientPhase: switch \}/);
        assert.deepStrictEqual(
            fs.readdirSync(folder).sort(),
            [path.basename(notOurs), path.basename(running), "Pulumi.life.yaml"].sort(),
        );
    });

    it("--write writes nothing when the stack file changed while it ran (another run or an editor saved it), and says so", () => {
        const folder = tempDir("lifecycle-race");
        const file = path.join(folder, "Pulumi.life.yaml");
        fs.writeFileSync(file, STACK);
        const saved = `${STACK}# saved by an editor while lifecycle ran\n`;
        // The other writer saves the stack file as this run creates its new file: after this run
        // read the file and decided what to edit.
        const script = `
            const fs = require("fs");
            const openSync = fs.openSync;
            fs.openSync = (opened, ...rest) => {
                if (String(opened).endsWith(".tmp")) fs.writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(saved)});
                return openSync(opened, ...rest);
            };
            const { main } = require(${JSON.stringify(path.join(ROOT, "dist/lib/cli/main.js"))});
            main(process.argv.slice(1)).then((status) => process.stdout.write("ended " + status + "\\n"));`;
        const child = spawnSync(
            process.execPath,
            ["-e", script, "lifecycle", "--config", file, "--deployed", deployedDir, "--now", at(63), "--write"],
            { encoding: "utf8", timeout: 30_000 },
        );
        assert.deepStrictEqual(
            [child.status, child.stdout, child.stderr],
            [
                0,
                "ended 2\n",
                `error: --write: the stack file ${file} changed while lifecycle ran (another lifecycle --write, or an editor, saved it); nothing was written: run lifecycle again on the file as it is now\n`,
            ],
        );
        assert.strictEqual(fs.readFileSync(file, "utf8"), saved, "the other writer's edit is kept");
        assert.deepStrictEqual(fs.readdirSync(folder), ["Pulumi.life.yaml"], "no new file is left beside it");
    });

    it("exits 2 on wrong usage and on deployed material it cannot read", async () => {
        const missing = await cli("lifecycle", "--config", stackFile, "--deployed", path.join(dir, "nothing"));
        const toGive = `give the JSON of "pulumi stack output --json" or a render's folder (inventory.json and deployment.json)`;
        assert.deepStrictEqual(
            [missing.status, missing.err],
            [2, `error: --deployed ${path.join(dir, "nothing")}: no such file or folder; ${toGive}\n`],
        );
        const empty = path.join(dir, "empty");
        fs.mkdirSync(empty);
        assert.deepStrictEqual(await cli("lifecycle", "--config", stackFile, "--deployed", empty), {
            status: 2,
            out: "",
            err: `error: --deployed ${empty}: its inventory.json is missing; ${toGive}\n`,
        });
        const notOutputs = path.join(dir, "not-outputs.json");
        fs.writeFileSync(notOutputs, JSON.stringify({ inventory: [] }));
        const partial = await cli("lifecycle", "--config", stackFile, "--deployed", notOutputs);
        assert.strictEqual(partial.status, 2);
        assert.match(
            partial.err,
            /has no outputs inventory and deploymentRecord: give the JSON of "pulumi stack output --json" or a render's folder/,
        );
        const garbled = path.join(dir, "garbled.json");
        fs.writeFileSync(garbled, "{ not json");
        assert.deepStrictEqual(await cli("lifecycle", "--config", stackFile, "--deployed", garbled), {
            status: 2,
            out: "",
            err: `error: --deployed ${garbled}: it is not JSON (broken at character 3); ${toGive}\n`,
        });
        // A password file given by mistake: Node's own message would quote it.
        const password = path.join(dir, "client.p12.password");
        fs.writeFileSync(password, "s3cretPassw0rd", { mode: 0o600 });
        assert.deepStrictEqual(await cli("lifecycle", "--config", stackFile, "--deployed", password), {
            status: 2,
            out: "",
            err: `error: --deployed ${password}: it is not JSON; ${toGive}\n`,
        });
        const badNow = await cli("lifecycle", "--config", stackFile, "--deployed", deployedDir, "--now", "tomorrow");
        assert.strictEqual(badNow.status, 2);
        assert.strictEqual(
            badNow.err,
            'error: --now must be an ISO 8601 date or time with its zone on a real calendar day from 1950 to 9999, e.g. 2027-03-01T00:00:00Z; got "tomorrow"\nsee apic-istio-pki lifecycle --help\n',
        );
        assert.strictEqual((await cli("lifecycle", "--config", stackFile)).status, 2);
        assert.strictEqual(
            (await cli("lifecycle", "--config", stackFile, "--deployed", deployedDir, "--soak-days", "a week")).status,
            2,
        );
    });

    it("refuses an inventory date expiry refuses, naming the row and the field, rather than reading it with Date.parse", async () => {
        const inventory = JSON.parse(fs.readFileSync(path.join(deployedDir, "inventory.json"), "utf8")) as {
            certificates: Record<string, unknown>[];
        };
        const i = inventory.certificates.findIndex((c) => c.id === "ob/server");
        const render = path.join(dir, "bad-dates");
        const withDate = (field: string, value: unknown) => {
            fs.rmSync(render, { recursive: true, force: true });
            fs.cpSync(deployedDir, render, { recursive: true });
            const certificates = inventory.certificates.map((c, j) => (j === i ? { ...c, [field]: value } : c));
            fs.writeFileSync(path.join(render, "inventory.json"), JSON.stringify({ ...inventory, certificates }));
            return render;
        };
        const notAnInstant = (field: string, got: string) =>
            `${field} (of ob/server) must be an ISO 8601 time with its zone (or a date), as render writes it, e.g. 2027-01-31T00:00:00.000Z; got ${got}`;
        const fromRender = "render again, which writes it anew, or restore the inventory.json the render wrote";
        // Date.parse took "1" for 2001 (renew since then), "garbage" for no time (never due), a time
        // without its zone in the local one (due or not by TZ): what expiry refuses in the same file.
        const cases: [string, unknown, string][] = [
            ["renewAt", "1", '"1"'],
            ["renewAt", "2027-08-01T00:00:00", '"2027-08-01T00:00:00"'],
            ["renewAt", "garbage", '"garbage"'],
            ["notAfter", "2027-02-30T00:00:00Z", '"2027-02-30T00:00:00Z"'],
            ["notBefore", "01/04/2027", '"01/04/2027"'],
            ["keySince", "yesterday", '"yesterday"'],
        ];
        for (const [field, value, got] of cases) {
            const folder = withDate(field, value);
            assert.deepStrictEqual(
                await cli(...["lifecycle", "--config", stackFile, "--deployed", folder, "--now", at(60)]),
                {
                    status: 2,
                    out: "",
                    err: `error: --deployed ${folder}: ${notAnInstant(`its inventory.json certificates[${i}].${field}`, got)}; ${fromRender}\n`,
                },
                `${field}: ${got}`,
            );
        }
        const expiry = await cli("expiry", "--dir", withDate("renewAt", "1"));
        assert.deepStrictEqual(
            [expiry.status, expiry.err],
            [
                2,
                `error: ${path.join(render, "inventory.json")}: ${notAnInstant(`certificates[${i}].renewAt`, '"1"')}; ${fromRender}, ` +
                    "or remove it (renewal points then fall back to two thirds of each lifetime, and the offline roots' CRL series go unwatched)\n",
            ],
        );
        // Stack outputs: the same check, the fix theirs.
        const outputs = path.join(dir, "bad-dates.json");
        fs.writeFileSync(
            outputs,
            JSON.stringify({
                inventory: inventory.certificates.map((c, j) => (j === i ? { ...c, renewAt: "1" } : c)),
                deploymentRecord: JSON.parse(fs.readFileSync(path.join(deployedDir, "deployment.json"), "utf8")),
            }),
        );
        assert.deepStrictEqual(await cli("lifecycle", "--config", stackFile, "--deployed", outputs), {
            status: 2,
            out: "",
            err: `error: --deployed ${outputs}: ${notAnInstant(`its inventory[${i}].renewAt`, '"1"')}; give the outputs of the stack's last update again\n`,
        });
    });

    it("refuses what is deployed of another environment, a render or stack outputs, whose renewals due would go unseen", async () => {
        const other = path.join(dir, "other", "Pulumi.other.yaml");
        fs.mkdirSync(path.dirname(other));
        fs.writeFileSync(other, STACK.replace("pki:environment: life", "pki:environment: other"));
        const certificates = JSON.parse(fs.readFileSync(path.join(deployedDir, "inventory.json"), "utf8"))
            .certificates as IssuedCertificate[];
        const outputs = (inventory: IssuedCertificate[]) => {
            const file = path.join(dir, "other", "outputs.json");
            fs.writeFileSync(
                file,
                JSON.stringify({
                    inventory,
                    deploymentRecord: JSON.parse(fs.readFileSync(path.join(deployedDir, "deployment.json"), "utf8")),
                }),
            );
            return file;
        };
        const fix = "give the outputs, or a render, of this stack file's stack";
        assert.deepStrictEqual(await cli("lifecycle", "--config", other, "--deployed", deployedDir), {
            status: 2,
            out: "",
            err: `error: --deployed ${deployedDir} is a render of environment "life", the stack file's is "other": ${fix}\n`,
        });
        const life = outputs(certificates);
        assert.deepStrictEqual(await cli("lifecycle", "--config", other, "--deployed", life), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${life} is the outputs of a stack of environment "life" ` +
                `(its inventory's client identities are urn:apic-istio-pki:life:...), the stack file's is "other": ${fix}\n`,
        });
        assert.deepStrictEqual(
            certificates.flatMap((c) => c.uris),
            ["urn:apic-istio-pki:life:apic-client:ob"],
        );
        // Hand-merged outputs of two stacks.
        const merged = outputs(
            certificates.map((c) =>
                c.uris.length > 0 ? { ...c, uris: [...c.uris, "urn:apic-istio-pki:dev:apic-client:ob"] } : c,
            ),
        );
        assert.deepStrictEqual(await cli("lifecycle", "--config", other, "--deployed", merged), {
            status: 2,
            out: "",
            err:
                `error: --deployed ${merged}: its inventory's client identities (urn:apic-istio-pki:<environment>:...) name several environments, "life", "dev": ` +
                'give the outputs of one stack ("pulumi stack output --json")\n',
        });
    });

    it("starts a CA's staged rotation in its window, and lets a root wait while a CA below it rotates", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        // The client root and the APIC-client CA both inside their windows.
        const inWindow = deployed.inventory.map((c): DeployedCertificate =>
            ["client-root", "apic-client-ca"].includes(c.id) ? { ...c, renewAt: new Date(at(30)) } : c,
        );
        const fresh = decide({
            config,
            deployed: { ...deployed, inventory: inWindow },
            now: new Date(at(40)),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            fresh.proposals
                .filter((p) => p.kind === "prepare-ca")
                .map((p) => [p.subject, p.edits.map((e) => [e.path.join("."), e.to])]),
            [
                [
                    "pki:caRotation.clientRoot",
                    [
                        ["pki:caRotation.clientRoot.generation", 1],
                        ["pki:caRotation.clientRoot.phase", "prepare"],
                    ],
                ],
            ],
        );
        const heldByRoot =
            "pki:caRotation.apicClientCa is due (since 2027-02-03) but waits for the rotation of pki:caRotation.clientRoot, which re-issues it";
        assert.deepStrictEqual(fresh.waiting, [heldByRoot]);
        // Held up so, a CA ending on day 44 is a human's once half the time from its renewal point is left (day 37).
        const endingSoon = inWindow.map((c): DeployedCertificate =>
            c.id === "apic-client-ca" ? { ...c, notAfter: new Date(at(44)) } : c,
        );
        const heldUpAt = (days: number) =>
            decide({ config, deployed: { ...deployed, inventory: endingSoon }, now: new Date(at(days)), soakDays: 7 })
                .needsHuman;
        assert.deepStrictEqual(heldUpAt(36), []);
        assert.deepStrictEqual(heldUpAt(37), [
            "apic-client-ca (intermediate) expires on 2027-02-17, and its rotation's next step, due since 2027-02-03, " +
                `is held up (${heldByRoot}); whatever still uses a certificate it signed is refused from then on: ` +
                "have what holds it up deployed before then (merge what was proposed for it and run pulumi up from the default branch; " +
                "if an update failed, fix what made it fail first)",
        ]);
        // The APIC-client CA deployed in prepare for 3 days: the root waits, the CA's switch waits for its soak.
        const rotating = { apicClientCa: { generation: 1, phase: "prepare" as const } };
        const record: RotationRecord = {
            ...deployed.record,
            positions: { ...deployed.record.positions, ...rotating },
            positionsSince: { ...deployed.record.positionsSince, apicClientCa: at(37) },
        };
        const waiting = decide({
            config: { ...config, caRotation: { ...config.caRotation, ...rotating } },
            deployed: { inventory: inWindow, record },
            now: new Date(at(40)),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            waiting.proposals.filter((p) => p.kind.endsWith("-ca")),
            [],
        );
        assert.deepStrictEqual(waiting.waiting, [
            "pki:caRotation.apicClientCa moves to switch once generation 1 phase prepare has been deployed 7 days (since 2027-02-10)",
            "pki:caRotation.clientRoot is due (since 2027-02-03) but waits for the rotation of pki:caRotation.apicClientCa to finish",
        ]);
        // A week after the prepare: the switch, with what the operator does after it.
        const soaked = decide({
            config: { ...config, caRotation: { ...config.caRotation, ...rotating } },
            deployed: { inventory: inWindow, record },
            now: new Date(at(44)),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            soaked.proposals.filter((p) => p.kind === "advance-ca"),
            [
                {
                    kind: "advance-ca",
                    subject: "pki:caRotation.apicClientCa",
                    why: "generation 1 phase prepare deployed since 2027-02-10, 7 days or more",
                    edits: [{ path: ["pki:caRotation", "apicClientCa", "phase"], from: "prepare", to: "switch" }],
                    afterDeploy:
                        "upload every endpoint's new APIC keystore (apic keystores:update, README, Loading the APIC bundles)",
                },
            ],
        );
    });

    it("refuses an edit that would give the stack file a key Pulumi.yaml sets, which the stack file's would replace whole", async () => {
        // A stack whose pki:rotation is in Pulumi.yaml: the renewals' partial pki:rotation in the
        // stack file would drop Pulumi.yaml's (with a leafEpoch of 1 there, the renewal renews nothing).
        const project = tempDir("lifecycle-project");
        fs.writeFileSync(
            path.join(project, "Pulumi.yaml"),
            "name: life\nruntime: nodejs\nconfig:\n  pki:rotation:\n    value: { leafEpoch: 0 }\n",
        );
        const stack = STACK.replace(
            "  pki:rotation:\n    # renewals are proposed by the lifecycle pipeline\n    leafEpoch: 0\n",
            "",
        );
        const file = path.join(project, "Pulumi.life.yaml");
        fs.writeFileSync(file, stack);
        const { status, json } = await lifecycleJson(file, deployedDir, at(63), "--write");
        const why =
            "pki:rotation is set in Pulumi.yaml, not in the stack file, and a pki:rotation in the stack file would replace it whole " +
            "(Pulumi does not merge the two): move pki:rotation from Pulumi.yaml into the stack file";
        assert.deepStrictEqual(
            [status, json.changed, json.proposals, json.needsHuman],
            [
                1,
                false,
                [],
                [
                    `the proposed edit of ob/server (pki:rotation.endpoints.ob.serverEpoch: unset -> 1) cannot be made: ${why}`,
                    "the proposed edit of ob/client (pki:rotation.endpoints.ob.clientEpoch: unset -> 1; " +
                        `pki:rotation.endpoints.ob.clientPhase: unset -> switch) cannot be made: ${why}`,
                ],
            ],
        );
        assert.strictEqual(fs.readFileSync(file, "utf8"), stack);
    });

    it("writes the renewals into a block map whose last value has a comment after it, and leaves the key after it in config:", async () => {
        const folder = tempDir("lifecycle-commented");
        const file = path.join(folder, "Pulumi.life.yaml");
        // A second domain, dp, whose renewals go into endpoints: after ob's map and its comment.
        const stack = STACK.replace(
            "      services: [accounts]   # one service\n",
            "$&    dp: { services: [payments] }\n",
        ).replace(
            "    leafEpoch: 0\n",
            "    leafEpoch: 0\n    endpoints:\n      ob:\n        serverEpoch: 0\n        # bumped by hand after incident 4711\n  pki:meshStrictMtls: true\n",
        );
        fs.writeFileSync(file, stack);
        await deployFile(newStackState(), file, T0, path.join(folder, "deployed"));
        const { status, json } = await lifecycleJson(file, path.join(folder, "deployed"), at(63), "--write");
        assert.deepStrictEqual([status, json.changed, json.needsHuman], [0, true, []]);
        assert.strictEqual(
            fs.readFileSync(file, "utf8"),
            stack.replace(
                "        serverEpoch: 0\n        # bumped by hand after incident 4711\n",
                "        serverEpoch: 1\n        clientEpoch: 1\n        clientPhase: switch\n        # bumped by hand after incident 4711\n" +
                    "      dp: { serverEpoch: 1, clientEpoch: 1, clientPhase: switch }\n",
            ),
        );
        assert.strictEqual(rawConfigFromStackFile(file).meshStrictMtls, "true");
    });

    it("writes the renewals of endpoints named null, true, y, no and 1e3 with their keys quoted, which Pulumi reads back as those names", async () => {
        const folder = tempDir("lifecycle-reserved-names");
        const file = path.join(folder, "Pulumi.life.yaml");
        const names = ["null", "true", "y", "no", "1e3"];
        const stack = STACK.replace(
            "      services: [accounts]   # one service\n",
            "$&" + names.map((name, i) => `    "${name}": { services: [svc${i}] }\n`).join(""),
        );
        fs.writeFileSync(file, stack);
        await deployFile(newStackState(), file, T0, path.join(folder, "deployed"));
        const { status, json } = await lifecycleJson(file, path.join(folder, "deployed"), at(63), "--write");
        assert.deepStrictEqual([status, json.changed, json.needsHuman], [0, true, []]);
        const renewed = "{ serverEpoch: 1, clientEpoch: 1, clientPhase: switch }";
        assert.strictEqual(
            fs.readFileSync(file, "utf8"),
            stack.replace(
                "    leafEpoch: 0\n",
                "    leafEpoch: 0\n    endpoints:\n" +
                    // In the order of the endpoint ids; each but ob quoted.
                    ['"1e3"', '"no"', '"null"', "ob", '"true"', '"y"']
                        .map((key) => `      ${key}: ${renewed}\n`)
                        .join(""),
            ),
        );
        const renewal = { serverEpoch: 1, clientEpoch: 1, clientPhase: "switch" };
        assert.deepStrictEqual(
            (JSON.parse(rawConfigFromStackFile(file).rotation) as { endpoints: unknown }).endpoints,
            Object.fromEntries(["ob", ...names].map((name) => [name, renewal])),
        );
    });

    it("renews the leaves due at once when their CA's rotation is refused (ECDSA CA keys), not waiting for a switch that never comes", async () => {
        const folder = tempDir("lifecycle-ecdsa-cas");
        const file = path.join(folder, "Pulumi.life.yaml");
        const stack = STACK.replace(
            "  pki:keyAlgorithm: ECDSA\n",
            "  pki:keyAlgorithm: ECDSA\n  pki:caKeyAlgorithm: ECDSA\n",
        ).replace("intermediate: 365", "intermediate: 91");
        fs.writeFileSync(file, stack);
        await deployFile(newStackState(), file, T0, path.join(folder, "deployed"));
        const { status, json } = await lifecycleJson(file, path.join(folder, "deployed"), at(63), "--write");
        const refusal = (slot: string) =>
            `the proposed edit of pki:caRotation.${slot} (pki:caRotation.${slot}.generation: 0 -> 1; pki:caRotation.${slot}.phase: finish -> prepare) ` +
            `cannot be made: invalid stack configuration: pki:caRotation.${slot} needs pki:caKeyAlgorithm RSA: finishing the rotation revokes the old CA in the root's CRL, ` +
            "and from then on a CRL of each CA of the chain is published, which the stack signs with the CA's key (the root's too, unless it is offline); " +
            "CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview";
        // Not "ob/server is due but re-issued by the switch of pki:caRotation.gatewayServerCa, due from 2027-03-15", every run.
        assert.deepStrictEqual(
            [status, json.changed, json.proposals.map((p) => p.subject), json.waiting, json.needsHuman],
            [
                1,
                true,
                ["ob/server", "ob/client"],
                [],
                [refusal("gatewayServerCa"), refusal("apicClientCa"), refusal("meshCa")],
            ],
        );
        assert.strictEqual(
            fs.readFileSync(file, "utf8"),
            stack.replace(
                "    leafEpoch: 0\n",
                "    leafEpoch: 0\n    endpoints:\n      ob: { serverEpoch: 1, clientEpoch: 1, clientPhase: switch }\n",
            ),
        );
    });

    it("refuses the renewals' edit of an endpoint's map another key repeats through an alias, and writes nothing", async () => {
        const file = path.join(tempDir("lifecycle-anchor"), "Pulumi.life.yaml");
        const stack = STACK.replace(
            "    leafEpoch: 0\n",
            "    leafEpoch: 0\n    endpoints:\n      ob: &ob { serverEpoch: 0 }\n",
        ).replace('  other:setting: "keep me"\n', "  other:obEpochs: *ob\n");
        fs.writeFileSync(file, stack);
        const { status, json } = await lifecycleJson(file, deployedDir, at(63), "--write");
        const why = (key: string) =>
            `cannot edit pki:rotation.endpoints.ob.${key}: pki:rotation.endpoints.ob carries the anchor &ob, which other:obEpochs repeats (*ob), ` +
            "so the edit would change other:obEpochs too: write the map out at other:obEpochs in place of *ob";
        assert.deepStrictEqual(
            [status, json.changed, json.proposals, json.needsHuman],
            [
                1,
                false,
                [],
                [
                    `the proposed edit of ob/server (pki:rotation.endpoints.ob.serverEpoch: 0 -> 1) cannot be made: ${why("serverEpoch")}`,
                    "the proposed edit of ob/client (pki:rotation.endpoints.ob.clientEpoch: 0 -> 1; " +
                        `pki:rotation.endpoints.ob.clientPhase: unset -> switch) cannot be made: ${why("clientEpoch")}`,
                ],
            ],
        );
        assert.strictEqual(fs.readFileSync(file, "utf8"), stack);
    });

    it("refuses, JSON printed, an edit the editor would leave unreadable (a value written as a block scalar), and writes the renewals due beside it", async () => {
        const { folder } = await deployRotation();
        const file = path.join(tempDir("lifecycle-unreadable"), "Pulumi.life.yaml");
        // The rotation's prepare as deployed on day 33, its phase a block scalar: its switch is due, and so is ob/server's renewal.
        const stack = STACK.replace(
            '  other:setting: "keep me"\n',
            '  pki:caRotation:\n    apicClientCa:\n      generation: 1\n      phase: |-\n        prepare\n  other:setting: "keep me"\n',
        );
        fs.writeFileSync(file, stack);
        const { status, json } = await lifecycleJson(file, path.join(folder, "day33"), at(63), "--write");
        assert.deepStrictEqual(
            [status, json.changed, json.proposals.map((p) => p.subject), json.needsHuman],
            [
                1,
                true,
                ["ob/server"],
                [
                    "the proposed edit of pki:caRotation.apicClientCa (pki:caRotation.apicClientCa.phase: prepare -> switch) cannot be made: " +
                        `cannot set pki:caRotation.apicClientCa.phase to switch in the stack file ${file}: written there the way this editor writes it, ` +
                        "the edited file would not be YAML (a map nested where a single value belongs (a: b: c) at line 18, column 14 of the edited text); " +
                        "make this change by hand",
                ],
            ],
        );
        assert.strictEqual(
            fs.readFileSync(file, "utf8"),
            stack.replace("    leafEpoch: 0\n", "    leafEpoch: 0\n    endpoints:\n      ob: { serverEpoch: 1 }\n"),
        );
    });

    it("finishes an APIC client's switch by removing the endpoint's clientPhase, which would shadow the next stack-wide switch; while that is switch, by setting finish", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        // ob's switch to client epoch 1, deployed on day 40.
        const inventory = deployed.inventory.map((c) => (c.id === "ob/client" ? { ...c, epoch: c.epoch + 1 } : c));
        const record: RotationRecord = {
            ...deployed.record,
            clientPhases: { ob: { phase: "switch", epoch: 1, since: at(40) } },
        };
        const finishWith = (apicClientPhase: "switch" | "finish") =>
            decide({
                config: {
                    ...config,
                    rotation: {
                        ...config.rotation,
                        apicClientPhase,
                        endpoints: { ob: { serverEpoch: 0, clientEpoch: 1, clientPhase: "switch" } },
                    },
                },
                deployed: { inventory, record },
                now: new Date(at(47)),
                soakDays: 7,
            }).proposals.map((p) => [p.kind, p.subject, p.edits]);
        const phase = ["pki:rotation", "endpoints", "ob", "clientPhase"];
        assert.deepStrictEqual(finishWith("finish"), [
            ["finish-client", "ob/client", [{ path: phase, from: "switch", to: undefined }]],
        ]);
        assert.deepStrictEqual(finishWith("switch"), [
            ["finish-client", "ob/client", [{ path: phase, from: "switch", to: "finish" }]],
        ]);
    });

    it("finishes a stack-wide APIC client switch in one proposal with the endpoints finishing their own switch, and removes an endpoint's leftover clientPhase: finish", async () => {
        // Two endpoints: dp follows the stack-wide switch (apicClientEpoch 1), ob has its own as well.
        const twoDir = tempDir("lifecycle-two");
        const twoFile = path.join(twoDir, "Pulumi.two.yaml");
        fs.writeFileSync(
            twoFile,
            STACK.replace(
                "      services: [accounts]   # one service",
                "      services: [accounts]\n    dp:\n      services: [payments]",
            ),
        );
        const state = newStackState();
        const deployedTwo = path.join(twoDir, "deployed");
        await deployFile(state, twoFile, T0, deployedTwo);
        const deployed = readDeployed(deployedTwo);
        const base = validateConfig(rawConfigFromStackFile(twoFile));
        const decideWith = (ob: { clientEpoch: number; clientPhase: "switch" | "finish" }, obEpoch: number) =>
            decide({
                config: {
                    ...base,
                    rotation: {
                        ...base.rotation,
                        apicClientEpoch: 1,
                        apicClientPhase: "switch",
                        endpoints: { ob: { serverEpoch: 0, ...ob } },
                    },
                },
                deployed: {
                    inventory: deployed.inventory.map((c) =>
                        c.id === "ob/client" ? { ...c, epoch: obEpoch } : c.id === "dp/client" ? { ...c, epoch: 1 } : c,
                    ),
                    record: {
                        ...deployed.record,
                        // ob's key of obEpoch is on record; while it switches, beside the one before.
                        clients: {
                            ...deployed.record.clients,
                            ob: [
                                ...(ob.clientPhase === "switch" ? deployed.record.clients.ob : []),
                                { ...deployed.record.clients.ob[0], epoch: obEpoch },
                            ],
                        },
                        clientPhases: {
                            ob: { phase: ob.clientPhase, epoch: obEpoch, since: at(40) },
                            dp: { phase: "switch", epoch: 1, since: at(40) },
                        },
                    },
                },
                now: new Date(at(47)),
                soakDays: 7,
            }).proposals.map((p) => [p.kind, p.subject, p.edits]);
        const stackWide = { path: ["pki:rotation", "apicClientPhase"], from: "switch", to: "finish" };
        const obPhase = ["pki:rotation", "endpoints", "ob", "clientPhase"];
        // ob's own switch soaked with the stack-wide one: ob's clientPhase goes in the same edit.
        assert.deepStrictEqual(decideWith({ clientEpoch: 1, clientPhase: "switch" }, 2), [
            ["finish-client", "dp/client, ob/client", [stackWide, { path: obPhase, from: "switch", to: undefined }]],
        ]);
        // ob finished its own switch earlier (clientPhase: finish written then): it goes now.
        assert.deepStrictEqual(decideWith({ clientEpoch: 1, clientPhase: "finish" }, 2), [
            ["finish-client", "dp/client", [stackWide, { path: obPhase, from: "finish", to: undefined }]],
        ]);
    });

    it("waits pki:meshFinishAfterHours (24 h) before proposing a mesh CA's finish, however short the soak", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        const rotating = { meshCa: { generation: 1, phase: "switch" as const } };
        const record: RotationRecord = {
            ...deployed.record,
            positions: { ...deployed.record.positions, ...rotating },
            positionsSince: { ...deployed.record.positionsSince, meshCa: at(40) },
        };
        const hoursAfter = (hours: number) => new Date(Date.parse(at(40)) + hours * 3_600_000);
        const decideAt = (hours: number) =>
            decide({
                config: { ...config, caRotation: { ...config.caRotation, ...rotating } },
                deployed: { ...deployed, record },
                now: hoursAfter(hours),
                soakDays: 0,
            });
        const early = decideAt(12);
        assert.deepStrictEqual(
            early.proposals.filter((p) => p.kind === "advance-ca"),
            [],
        );
        assert.deepStrictEqual(
            early.waiting.filter((w) => w.includes("meshCa")),
            [
                `pki:caRotation.meshCa moves to finish once its switch has been deployed 24 hours, pki:meshFinishAfterHours (from ${hoursAfter(24).toISOString()})`,
            ],
        );
        assert.deepStrictEqual(
            decideAt(24)
                .proposals.filter((p) => p.kind === "advance-ca")
                .map((p) => p.edits),
            [[{ path: ["pki:caRotation", "meshCa", "phase"], from: "switch", to: "finish" }]],
        );
    });

    it("does not let a soak outlast the CA a rotation replaces: the switch at once, the finish once it has expired, with a warning; an expired CA points at a proposal only when there is one", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        // The APIC-client CA of generation 0 ends on day 45, inside a 7-day soak from day 40.
        const inventory = deployed.inventory.map((c): DeployedCertificate =>
            c.id === "apic-client-ca" ? { ...c, renewAt: new Date(at(30)), notAfter: new Date(at(45)) } : c,
        );
        const decideAt = (phase: "prepare" | "switch", days: number, more: Partial<RotationRecord> = {}) => {
            const apicClientCa = { generation: 1, phase };
            return decide({
                config: { ...config, caRotation: { ...config.caRotation, apicClientCa } },
                deployed: {
                    inventory,
                    record: {
                        ...deployed.record,
                        positions: { ...deployed.record.positions, apicClientCa },
                        positionsSince: { ...deployed.record.positionsSince, apicClientCa: at(40) },
                        ...more,
                    },
                },
                now: new Date(at(days)),
                soakDays: 7,
            });
        };
        const advance = (phase: "prepare" | "switch", days: number) =>
            decideAt(phase, days).proposals.filter((p) => p.kind === "advance-ca");
        const afterSwitch =
            "upload every endpoint's new APIC keystore (apic keystores:update, README, Loading the APIC bundles)";
        assert.deepStrictEqual(advance("prepare", 41), [
            {
                kind: "advance-ca",
                subject: "pki:caRotation.apicClientCa",
                why: "generation 1 phase prepare deployed since 2027-02-13, less than 7 days, but apic-client-ca, the CA it replaces, expires on 2027-02-18, before the soak ends on 2027-02-20",
                edits: [{ path: ["pki:caRotation", "apicClientCa", "phase"], from: "prepare", to: "switch" }],
                afterDeploy: afterSwitch,
                beforeMerge:
                    "URGENT, the soak cut short: apic-client-ca, the CA it replaces, expires on 2027-02-18, and whatever still uses a certificate it signed is refused from then on: " +
                    "deploy this switch, and do what it needs after the update, before then",
            },
        ]);
        // In switch: the finish waits for the soak or the old CA's end, whichever comes first.
        assert.deepStrictEqual(advance("switch", 44), []);
        assert.deepStrictEqual(decideAt("switch", 44).waiting, [
            "pki:caRotation.apicClientCa moves to finish once generation 1 phase switch has been deployed 7 days (since 2027-02-13), or once apic-client-ca expires on 2027-02-18",
        ]);
        assert.deepStrictEqual(
            advance("switch", 45).map((p) => [p.edits[0].to, p.why, p.beforeMerge]),
            [
                [
                    "finish",
                    "generation 1 phase switch deployed since 2027-02-13, less than 7 days, but apic-client-ca, the CA it replaces, expired on 2027-02-18, before the soak ends on 2027-02-20",
                    "the soak cut short: apic-client-ca, the CA it replaces, expired on 2027-02-18, so nothing it signed passes any more; " +
                        "APIC uses the new keystores of every endpoint: the old keys are unpinned by this update",
                ],
            ],
        );
        // Expired in prepare: the switch is proposed, and Needs a human points at it.
        const expired = "apic-client-ca (intermediate) expired on 2027-02-18: whatever checks it refuses it now; ";
        assert.deepStrictEqual(decideAt("prepare", 46).needsHuman, [
            `${expired}deploy its renewal at once (merge the proposal and run pulumi up)`,
        ]);
        // Its switch waiting for an APIC client rotation: no proposal to point at.
        const clientSwitch = { clientPhases: { ob: { phase: "switch" as const, epoch: 0, since: at(44) } } };
        const blocked = decideAt("prepare", 46, clientSwitch);
        assert.deepStrictEqual(
            [blocked.proposals.filter((p) => p.kind === "advance-ca"), blocked.needsHuman],
            [
                [],
                [
                    `${expired}no proposal of this run renews it (Waiting says why): renew it by hand at once ` +
                        "(its epoch in pki:rotation, or its CA's next phase in pki:caRotation) and run pulumi up",
                ],
            ],
        );
        assert.ok(
            blocked.waiting.includes(
                "pki:caRotation.apicClientCa moves to switch once the APIC client rotations of ob finish",
            ),
        );
    });

    it("leaves a CA that a deployed switch superseded to its finish once it expires: no hand renewal, no exit 1", async () => {
        // Generation 0 ends on day 45, inside the soak of the switch deployed on day 40, and so does its CRL.
        const { stackAt } = await deployRotation();
        const switched = await rotationAt("day40");
        const crl: CrlRecord = {
            ...{ number: 2, digest: "00", thisUpdate: at(38), nextUpdate: at(45) },
            ...{ renewal: "period", published: true },
        };
        const decideAt = (phase: "switch" | "finish", days: number) =>
            decide({
                config: validateConfig(rawConfigFromStackFile(stackAt(phase))),
                deployed: { ...switched, record: { ...switched.record, crls: { "apic-client-ca": crl } } },
                now: new Date(at(days)),
                soakDays: 7,
            });
        const superseded = (retires: string) => [
            "apic-client-ca (intermediate) expired on 2027-02-18, which refuses nothing the stack deploys: it was superseded by the switch of " +
                `pki:caRotation.apicClientCa (deployed since 2027-02-13), which re-issued what it signed; ${retires}`,
            "the CRL of apic-client-ca passed its next update on 2027-02-18, which refuses nothing the stack deploys: apic-client-ca was superseded by the switch of " +
                `pki:caRotation.apicClientCa (deployed since 2027-02-13), which re-issued what it signed; ${retires}`,
        ];
        // Expired in switch: the finish is proposed at once (cut short), no hand renewal, no exit 1.
        const proposed = decideAt("switch", 46);
        assert.deepStrictEqual(
            [proposed.proposals.map((p) => p.edits), proposed.needsHuman, proposed.waiting],
            [
                [[{ path: ["pki:caRotation", "apicClientCa", "phase"], from: "switch", to: "finish" }]],
                [],
                superseded("the finish this run proposes (pki:caRotation.apicClientCa) retires it"),
            ],
        );
        // That finish merged, not deployed yet: the stack file's plan has no generation 0 any more.
        const merged = decideAt("finish", 46);
        assert.deepStrictEqual(
            [merged.proposals, merged.needsHuman, merged.waiting],
            [
                [],
                [],
                superseded(
                    "the finish in the stack file (pki:caRotation.apicClientCa), not deployed yet, retires it: run pulumi up",
                ),
            ],
        );
    });

    it("tells a superseded mesh CA by the plan's own ids: a cluster named like a later generation (an earlier version took it) is no generation of another's", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        const meshCa = { generation: 1, phase: "switch" as const };
        // The mesh CA of cluster example-g2 (its generation 0), ending on day 45, while the mesh CAs switch.
        const meshRow = deployed.inventory.find((c) => c.id === "mesh-ca-example") as DeployedCertificate;
        const decision = decide({
            config: {
                ...config,
                clusters: [
                    { name: "example", context: "a" },
                    { name: "example-g2", context: "b" },
                ],
                caRotation: { ...config.caRotation, meshCa },
            },
            deployed: {
                inventory: [
                    ...deployed.inventory,
                    { ...meshRow, id: "mesh-ca-example-g2", cluster: "example-g2", notAfter: new Date(at(45)) },
                ],
                record: {
                    ...deployed.record,
                    positions: { ...deployed.record.positions, meshCa },
                    positionsSince: { ...deployed.record.positionsSince, meshCa: at(40) },
                },
            },
            now: new Date(at(46)),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            [decision.needsHuman, decision.waiting.filter((line) => line.startsWith("mesh-ca-example-g2"))],
            [
                [],
                [
                    "mesh-ca-example-g2 (mesh-ca) expired on 2027-02-18, which refuses nothing the stack deploys: it was superseded by the switch of " +
                        "pki:caRotation.meshCa (deployed since 2027-02-13), which re-issued what it signed; the finish this run proposes (pki:caRotation.meshCa) retires it",
                ],
            ],
        );
    });

    it("finishes an APIC client's switch early, with a warning, when its soak would leave the APIC-client CA's switch less than a soak before that CA's end; asks a human while that switch is held up", () => {
        const deployed = readDeployed(deployedDir);
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        // The APIC-client CA of generation 0 ends on day 45; its prepare, deployed on day 40, is cut short.
        // ob's client switches to epoch 1 (its own clientPhase, or the stack-wide one) from `since`.
        const inventory = deployed.inventory.map((c): DeployedCertificate =>
            c.id === "apic-client-ca"
                ? { ...c, renewAt: new Date(at(30)), notAfter: new Date(at(45)) }
                : c.id === "ob/client"
                  ? { ...c, epoch: 1 }
                  : c,
        );
        const apicClientCa = { generation: 1, phase: "prepare" as const };
        /** On day `now`, the CA's prepare deployed since day `prepared`. */
        const decideWith = (since: number, own: boolean, now = 42, prepared = 40) =>
            decide({
                config: {
                    ...config,
                    caRotation: { ...config.caRotation, apicClientCa },
                    rotation: own
                        ? {
                              ...config.rotation,
                              endpoints: { ob: { serverEpoch: 0, clientEpoch: 1, clientPhase: "switch" } },
                          }
                        : { ...config.rotation, apicClientEpoch: 1, apicClientPhase: "switch", endpoints: {} },
                },
                deployed: {
                    inventory,
                    record: {
                        ...deployed.record,
                        positions: { ...deployed.record.positions, apicClientCa },
                        positionsSince: { ...deployed.record.positionsSince, apicClientCa: at(prepared) },
                        clientPhases: { ob: { phase: "switch", epoch: 1, since: at(since) } },
                    },
                },
                now: new Date(at(now)),
                soakDays: 7,
            });
        const caWaits = "pki:caRotation.apicClientCa moves to switch once the APIC client rotations of ob finish";
        const early =
            "apic-client-ca, the CA the switch of pki:caRotation.apicClientCa replaces, expires on 2027-02-18, and that switch waits for this finish";
        // ob's soak from day 41 ends on day 48, after the CA: its finish at once, and the CA's switch after it.
        const cutShort = decideWith(41, true);
        assert.deepStrictEqual(cutShort.proposals, [
            {
                kind: "finish-client",
                subject: "ob/client",
                why: `its switch (epoch 1) deployed since 2027-02-14, less than 7 days, but ${early}`,
                edits: [{ path: ["pki:rotation", "endpoints", "ob", "clientPhase"], from: "switch", to: undefined }],
                beforeMerge:
                    `URGENT, the soak cut short: ${early}; ` +
                    "APIC uses the new keystore of ob (apic/ob/keystore.json): the old key is unpinned by this update",
            },
        ]);
        assert.ok(cutShort.waiting.includes(caWaits));
        const stackWide = decideWith(41, false).proposals;
        assert.deepStrictEqual(
            stackWide.map((p) => [p.subject, p.why, p.beforeMerge]),
            [
                [
                    "ob/client",
                    `pki:rotation.apicClientPhase switch deployed less than 7 days for ob, but ${early}`,
                    `URGENT, the soak cut short: ${early}; APIC uses the new keystores of ob: the old keys are unpinned by this update`,
                ],
            ],
        );
        // A soak from day 37 ends on day 44, a day before the CA: the finish and then the CA's switch
        // would each still have to be merged and deployed, which a soak (7 days) is left for: cut short too.
        assert.deepStrictEqual(
            decideWith(37, true).proposals.map((p) => [p.subject, p.why]),
            [["ob/client", `its switch (epoch 1) deployed since 2027-02-10, less than 7 days, but ${early}`]],
        );
        // The CA's switch due on day 37 (its prepare from day 30): a soak from day 31 ends on day 38,
        // a soak before the CA's end, and is cut short; one from day 30.5 runs its course.
        assert.deepStrictEqual(
            decideWith(31, true, 37, 30).proposals.map((p) => p.subject),
            ["ob/client"],
        );
        const inTime = decideWith(30.5, true, 37, 30);
        assert.deepStrictEqual(
            [inTime.proposals, inTime.waiting, inTime.needsHuman],
            [
                [],
                [caWaits, "ob/client moves to finish once its switch has been deployed 7 days (since 2027-02-03)"],
                [],
            ],
        );
        // Its finish, proposed from day 37.5, never deployed: the CA's switch due since day 37 stays
        // held up, a human's once half the time to the CA's end (day 45) is left, on day 41.
        assert.deepStrictEqual(decideWith(30.5, true, 40.9, 30).needsHuman, []);
        assert.deepStrictEqual(decideWith(30.5, true, 41, 30).needsHuman, [
            "apic-client-ca (intermediate) expires on 2027-02-18, and its rotation's next step, due since 2027-02-10, " +
                `is held up (${caWaits}); whatever still uses a certificate it signed is refused from then on: ` +
                "have what holds it up deployed before then (merge what was proposed for it and run pulumi up from the default branch; " +
                "if an update failed, fix what made it fail first)",
        ]);
    });

    it("asks a human for an offline root inside its window, for its CRL series running out, and for CSRs to sign", () => {
        const deployed = readDeployed(deployedDir);
        // An offline mesh root of 400 days, issued 300 days ago, whose CRL series ends in 10 days.
        const issued = new Date(T0.getTime() - 300 * DAY_MS);
        const root = createRoot(
            { commonName: "Life Mesh Offline Root", validityDays: 400, keyAlgorithm: "RSA" },
            issued,
            crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM),
        );
        const series = [
            buildCrl(
                root.certPem,
                TEST_ONLY_CA_KEY_PEM,
                [],
                { thisUpdate: new Date(at(-20)), nextUpdate: new Date(at(10)), number: 1 },
                { signedOnce: true }, // the ceremony's series, signed ahead
            ),
        ];
        const config = validateConfig({
            ...rawConfigFromStackFile(stackFile),
            offlineRoots: JSON.stringify({
                meshRoot: { certificate: root.certPem, intermediates: {}, crls: series.join("") },
            }),
        });
        const rootRow = (c: DeployedCertificate): DeployedCertificate =>
            c.id === "mesh-root"
                ? { ...c, notBefore: issued, notAfter: new Date(at(100)), renewAt: new Date(at(-34)) }
                : c;
        const decision = decide({
            config,
            // The mesh published ca-crl.pem once: it stays, so the offline root's CRL is needed.
            deployed: {
                inventory: deployed.inventory.map(rootRow),
                record: { ...deployed.record, meshCrlSince: at(-30) },
            },
            now: T0,
            soakDays: 7,
        });
        assert.deepStrictEqual(decision.needsHuman, [
            "the offline root pki:offlineRoots.meshRoot is inside its renewal window since 2026-12-01 and expires on 2027-04-14: " +
                'hold a ceremony for a new root ("npx apic-istio-pki ceremony init-root") and replace pki:offlineRoots.meshRoot in a reviewed change',
            "the CRL series of the offline root pki:offlineRoots.meshRoot.crls ends on 2027-01-14: " +
                'sign a new series on the offline machine ("npx apic-istio-pki ceremony crl") and replace pki:offlineRoots.meshRoot.crls before then',
            "the offline root has not signed mesh-ca-example yet: sign each CSR (pulumi stack output intermediateCsrs) " +
                'with "npx apic-istio-pki ceremony sign" and put the certificates under pki:offlineRoots.<root>.intermediates',
        ]);
        assert.deepStrictEqual(
            decision.proposals.filter((p) => p.subject.includes("meshRoot")),
            [],
            "an offline root is not rotated by the pipeline",
        );
    });

    it("asks a human, of an offline root's series that starts later (the offline machine's clock ahead), to run the update from when it passes", () => {
        const deployed = readDeployed(deployedDir);
        const root = createRoot(
            { commonName: "Life Mesh Offline Root", validityDays: 400, keyAlgorithm: "RSA" },
            new Date(at(-30)),
            crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM),
        );
        // The ceremony's series, signed with the default --from on a clock two hours ahead.
        const from = new Date(T0.getTime() + 2 * 3_600_000);
        const series = buildCrl(
            root.certPem,
            TEST_ONLY_CA_KEY_PEM,
            [],
            { thisUpdate: from, nextUpdate: new Date(at(14)), number: 1 },
            { signedOnce: true },
        );
        const config = validateConfig({
            ...rawConfigFromStackFile(stackFile),
            offlineRoots: JSON.stringify({ meshRoot: { certificate: root.certPem, intermediates: {}, crls: series } }),
        });
        const decision = decide({
            config,
            // The mesh published ca-crl.pem once: it stays, so the offline root's CRL is needed.
            deployed: { ...deployed, record: { ...deployed.record, meshCrlSince: at(-30) } },
            now: T0,
            soakDays: 7,
        });
        assert.deepStrictEqual(
            decision.needsHuman.filter((n) => n.startsWith("the stack file is refused")),
            [
                "the stack file is refused against what is deployed: pki:offlineRoots.meshRoot.crls has no CRL valid at 2027-01-04T00:00:00.000Z: " +
                    "the series starts at 2027-01-04T02:00:00.000Z, later than now (was the offline machine's clock ahead?), and " +
                    "istiod's cacerts has carried ca-crl.pem since an earlier update and Istio cannot clear it (istio/istio#61073), so it keeps a CRL of every CA of the chain, this root's included; " +
                    "run the update again from 2027-01-04T02:05:00.000Z, once that CRL is 5 minutes old (Envoy checks a CRL's thisUpdate against the node's clock with no allowance)",
            ],
        );
    });

    it("re-publishes the mesh's ca-crl.pem once an offline mesh root's series holds the next CRL, and says when the one published has passed its next update; an offline gateway-server root's also asks for APIC's truststore.crl", () => {
        const deployed = readDeployed(deployedDir);
        // The ceremony's series for the offline mesh root: one CRL a week, each valid two weeks.
        const root = createRoot(
            { commonName: "Life Mesh Offline Root", validityDays: 400, keyAlgorithm: "RSA" },
            new Date(at(-30)),
            crypto.createPrivateKey(TEST_ONLY_CA_KEY_PEM),
        );
        const series = [-7, 0, 7].map((from, i) =>
            buildCrl(
                root.certPem,
                TEST_ONLY_CA_KEY_PEM,
                [],
                { thisUpdate: new Date(at(from)), nextUpdate: new Date(at(from + 14)), number: i + 1 },
                { signedOnce: true }, // the ceremony's series, signed ahead
            ),
        );
        /** The lifecycle's decision on a day for a stack whose root `slot` is offline with this series, deployed on day 0. */
        const decideWith = (slot: "meshRoot" | "serverRoot", id: string, extra: Partial<RotationRecord>) => {
            const config = validateConfig({
                ...rawConfigFromStackFile(stackFile),
                offlineRoots: JSON.stringify({
                    [slot]: { certificate: root.certPem, intermediates: {}, crls: series.join("") },
                }),
            });
            // Deployed on day 0: the bundles hold the series' CRL of day 0.
            const record: RotationRecord = {
                ...deployed.record,
                ...extra,
                crls: { ...deployed.record.crls, [id]: seriesCrlRecord(series[1], root.certPem) },
            };
            // The pipeline runs CLOCK_SKEW_MS into the day: a CRL of the series is due only once that old.
            return (day: number) =>
                decide({
                    config,
                    deployed: { ...deployed, record },
                    now: new Date(Date.parse(at(day)) + CLOCK_SKEW_MS),
                    soakDays: 7,
                });
        };
        // cacerts' ca-crl.pem holds the root's CRL and the mesh CA's, valid as long as it.
        const on = decideWith("meshRoot", "mesh-root", { meshCrlSince: at(-30) });
        assert.deepStrictEqual([on(6).republishCrls, on(6).republishWhy], [false, []]);
        assert.deepStrictEqual(
            [on(7).republishCrls, on(7).republishWhy],
            [
                true,
                [
                    "the CRL of mesh-root published is the one of pki:offlineRoots.meshRoot.crls from 2027-01-04 (valid until 2027-01-18); " +
                        "the series' CRL from 2027-01-11 is valid now",
                ],
            ],
        );
        assert.deepStrictEqual(
            on(14).needsHuman.filter((n) => n.includes("mesh-root")),
            [
                "the CRL of mesh-root passed its next update on 2027-01-18: every peer whose chain it covers is refused; run pulumi up now",
            ],
        );
        // Once the series itself has run out, only the ceremony helps.
        assert.deepStrictEqual(
            on(21).needsHuman.filter((n) => n.includes("mesh-root")),
            [
                "the CRL of mesh-root passed its next update on 2027-01-18: every peer whose chain it covers is refused; " +
                    'pki:offlineRoots.meshRoot.crls holds no later CRL valid now: sign a new series on the offline machine ("npx apic-istio-pki ceremony crl"), ' +
                    "replace pki:offlineRoots.meshRoot.crls with it and run pulumi up at once",
            ],
        );

        // The same series for an offline gateway-server root: its CRL rides in APIC's truststore.crl too, which no update reaches.
        const server = decideWith("serverRoot", "server-root", {})(7);
        assert.deepStrictEqual(server.republishWhy, [
            "the CRL of server-root published is the one of pki:offlineRoots.serverRoot.crls from 2027-01-04 (valid until 2027-01-18); " +
                "the series' CRL from 2027-01-11 is valid now; after the update load each endpoint's new " +
                "apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)",
        ]);

        // A shared offline root: its CRL goes to APIC only when APIC has a truststore.crl (its
        // gateway-server CA's CRL is published); a revoked APIC client alone gives the gateway's ca.crl only.
        const shared = validateConfig({
            ...rawConfigFromStackFile(stackFile),
            trustDomains: "shared",
            offlineRoots: JSON.stringify({
                root: { certificate: root.certPem, intermediates: {}, crls: series.join("") },
            }),
        });
        const periodic = (id: string): [string, CrlRecord] => [
            id,
            { number: 1, digest: "", thisUpdate: at(0), nextUpdate: at(28), renewal: "period", published: true },
        ];
        const sharedRoot = (...cas: [string, CrlRecord][]) =>
            decide({
                config: shared,
                deployed: {
                    ...deployed,
                    record: {
                        ...deployed.record,
                        crls: { root: seriesCrlRecord(series[1], root.certPem), ...Object.fromEntries(cas) },
                    },
                },
                now: new Date(Date.parse(at(7)) + CLOCK_SKEW_MS),
                soakDays: 7,
            }).republishWhy.filter((why) => why.startsWith("the CRL of root "));
        const rootDue =
            "the CRL of root published is the one of pki:offlineRoots.root.crls from 2027-01-04 (valid until 2027-01-18); " +
            "the series' CRL from 2027-01-11 is valid now";
        assert.deepStrictEqual(sharedRoot(periodic("apic-client-ca")), [rootDue]);
        assert.deepStrictEqual(sharedRoot(periodic("apic-client-ca"), periodic("gateway-server-ca-g1")), [
            `${rootDue}; after the update load each endpoint's new ` +
                "apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)",
        ]);

        // The offline gateway-server root's series CRL of day 0 (valid until day 14) is not due on
        // day 3, but the gateway-server CA's periodic CRL is (signed before the period that began,
        // valid until day 20). DataPower's truststore.crl holds both: the copy loaded there lapses
        // with the series CRL on day 14, not on day 20, whichever of them the update re-signs.
        const beside = decide({
            config: validateConfig({
                ...rawConfigFromStackFile(stackFile),
                offlineRoots: JSON.stringify({
                    serverRoot: { certificate: root.certPem, intermediates: {}, crls: series.join("") },
                }),
            }),
            deployed: {
                ...deployed,
                record: {
                    ...deployed.record,
                    // A gateway-server CA retired under server-root: its CRLs are published.
                    retired: [
                        {
                            id: "gateway-server-ca-old",
                            serialHex: "0123456789ABCDEF",
                            notBefore: at(-200),
                            notAfter: at(200),
                            issuer: "server-root",
                            revokedAt: at(-10),
                        },
                    ],
                    crls: {
                        "server-root": seriesCrlRecord(series[1], root.certPem),
                        "gateway-server-ca": {
                            number: 1,
                            digest: "",
                            thisUpdate: at(-8),
                            nextUpdate: at(20),
                            renewal: "period",
                            published: true,
                        },
                    },
                },
            },
            now: new Date(Date.parse(at(3)) + CLOCK_SKEW_MS),
            soakDays: 7,
        });
        assert.deepStrictEqual(
            [beside.republishWhy.map((why) => why.slice(0, why.indexOf(";"))), beside.afterRepublish],
            [
                ["the CRL of gateway-server-ca was signed for the period from 2026-12-27"],
                [
                    {
                        step:
                            "load each endpoint's new apic/<endpoint>/truststore.crl (stack output apicBundles.<endpoint>.truststoreCrlPem) into the DataPower " +
                            "validation credentials that check the gateway's CRLs, where you set them up (APIC's TLS client profile takes no CRL)",
                        before: at(14),
                    },
                ],
            ],
        );
    });

    it("asks a human about an offline root's series CRL held back by changes not deployed yet halfway from when the next one became valid, not at once", () => {
        const deployed = readDeployed(deployedDir);
        // The ceremony's series: one CRL a week, each valid two weeks; the one of day 0 deployed.
        const { root, seriesCrl } = offlineMeshRoot();
        const series = [0, 7, 14].map((from, i) => seriesCrl(from, i + 1));
        // ob's server renewed, merged, not deployed yet.
        const config = withOfflineMeshRoot("lifecycle-series", root, series, {
            rotation: JSON.stringify({ leafEpoch: 0, endpoints: { ob: { serverEpoch: 1 } } }),
        });
        // Deployed with the offline mesh root and its series' first CRL.
        const record: RotationRecord = {
            ...deployed.record,
            meshCrlSince: at(-30),
            crls: { ...deployed.record.crls, "mesh-root": seriesCrlRecord(series[0], root.certPem) },
            settings: {
                ...deployed.record.settings,
                ...Object.fromEntries(
                    Object.entries(settingDigests(config)).filter(([name]) => name.startsWith("offlineRoots.")),
                ),
            },
        };
        const decideAt = (time: number) => {
            const d = decide({ config, deployed: { ...deployed, record }, now: new Date(time), soakDays: 7 });
            return [d.republishCrls, d.republishBlockedBy, d.needsHuman.filter((n) => n.includes("mesh-root"))];
        };
        const server = [
            "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
            'pki:rotation.endpoints: {"ob":{"serverEpoch":1,"clientEpoch":0}} in the stack file, another value deployed',
        ];
        // Due from day 7 (its CRL then CLOCK_SKEW_MS old) until the published one's next update, day 14: halfway is day 10.5.
        const halfway = Date.parse(at(10.5));
        assert.deepStrictEqual(decideAt(Date.parse(at(7)) + CLOCK_SKEW_MS), [true, server, []]);
        assert.deepStrictEqual(decideAt(halfway - 1000), [true, server, []]);
        assert.deepStrictEqual(decideAt(halfway), [
            true,
            server,
            [
                "the CRL of mesh-root (next update 2027-01-18) is due for re-publication, and past its next update a CRL refuses every peer whose chain it covers; " +
                    "the lifecycle workflow re-publishes CRLs only by an update that changes nothing else, and the stack file holds changes not deployed yet " +
                    `(${server.join("; ")}): deploy them (pulumi up from the default branch) or revert them before 2027-01-18`,
            ],
        ]);
    });

    it("re-publishes an offline root's CRL from a new series merged, not deployed yet, which changes CRLs alone; a series reordered is no change", () => {
        const deployed = readDeployed(deployedDir);
        const { root, seriesCrl: crl } = offlineMeshRoot();
        // Deployed: the series of days -7 and 0, the CRL of day 0 published. The ceremony's next series (days 0, 7, 14) merged.
        const deployedSeries = [crl(-7, 1), crl(0, 2)];
        const nextSeries = [crl(0, 2), crl(7, 3), crl(14, 4)];
        const configWith = (series: readonly string[]) => withOfflineMeshRoot("lifecycle-next-series", root, series);
        const record: RotationRecord = {
            ...deployed.record,
            meshCrlSince: at(-30),
            crls: { ...deployed.record.crls, "mesh-root": seriesCrlRecord(deployedSeries[1], root.certPem) },
            settings: settingDigests(configWith(deployedSeries)),
        };
        const decideOn = (series: readonly string[], day: number) => {
            const d = decide({
                config: configWith(series),
                deployed: { ...deployed, record },
                now: new Date(Date.parse(at(day)) + CLOCK_SKEW_MS),
                soakDays: 7,
            });
            const held = d.needsHuman.filter((n) => n.includes("mesh-root"));
            return [d.republishCrls, d.republishWhy, d.republishBlockedBy, d.pending, held];
        };
        const series = "pki:offlineRoots.meshRoot.crls: changed in the stack file, not deployed yet";
        const due =
            "the CRL of mesh-root published is the one of pki:offlineRoots.meshRoot.crls from 2027-01-04 (valid until 2027-01-18); " +
            "the series' CRL from 2027-01-11 is valid now";
        // The new series' CRL of day 7 is due: re-published alone, also past halfway (day 10.5) to the published one's end.
        assert.deepStrictEqual(decideOn(nextSeries, 7), [true, [due], [], [series], []]);
        assert.deepStrictEqual(decideOn(nextSeries, 11), [true, [due], [], [series], []]);
        // The README allows a series in any order: the deployed one reordered, or the new one, is no other series.
        assert.deepStrictEqual(decideOn([...deployedSeries].reverse(), 6), [false, [], [], [], []]);
        assert.deepStrictEqual(decideOn([...nextSeries].reverse(), 7), [true, [due], [], [series], []]);
    });

    it("re-publishes a CRL once the period it was signed for has ended, when a new pki:crlPeriodDays is not deployed yet", async () => {
        const { folder, revoked } = await deployRevocation();
        const { crls } = JSON.parse(fs.readFileSync(path.join(folder, "deployment.json"), "utf8")) as RotationRecord;
        assert.deepStrictEqual(
            [crls?.["apic-client-ca"].thisUpdate, crls?.["apic-client-ca"].nextUpdate],
            ["2027-01-05T09:30:00.000Z", "2027-01-28T00:00:00.000Z"],
        );
        const decision = async (file: string, now: string) => {
            const { status, json } = await lifecycleJson(file, folder, now);
            return [status, json.republishCrls, json.republishWhy, json.needsHuman, json.pending];
        };
        // The stack file as deployed: the 7-day period from 2026-12-31 ends on 2027-01-07 (CLOCK_SKEW_MS later, as crlWindow).
        const unchanged = revoked();
        assert.deepStrictEqual(await decision(unchanged, "2027-01-07T00:04:59Z"), [0, false, [], [], []]);
        assert.deepStrictEqual(await decision(unchanged, "2027-01-07T00:05:00Z"), [
            0,
            true,
            [
                "the CRL of apic-client-ca was signed for the period from 2027-01-05; a new 7-day period began 2027-01-07 (valid until 2027-01-28)",
            ],
            [],
            [],
        ]);
        // With 30-day periods not deployed yet, the stack file's period (from 2027-01-02) runs past the
        // CRL's next update: the period the CRL was signed for decides, and the update signs the new ones.
        const longer = revoked("  pki:crlPeriodDays: 30\n");
        const pending = [
            "pki:crlPeriodDays: 30 in the stack file, 7 deployed (the CRL of apic-client-ca from 2027-01-05 until 2027-01-28)",
        ];
        assert.deepStrictEqual(await decision(longer, "2027-01-07T00:04:59Z"), [0, false, [], [], pending]);
        const due = [
            0,
            true,
            [
                "the CRL of apic-client-ca was signed for a period that ended 2027-01-07 (valid from 2027-01-05 until 2027-01-28); " +
                    "the update re-signs it for the stack file's 30-day periods (pki:crlPeriodDays, not deployed yet)",
            ],
            [],
            pending,
        ];
        assert.deepStrictEqual(await decision(longer, "2027-01-07T00:05:00Z"), due);
        assert.deepStrictEqual(await decision(longer, "2027-01-27T00:00:00Z"), due);
    });

    it("asks a human halfway to a CRL's next update when its re-publication waits on changes not deployed yet, which the republish job does not deploy", async () => {
        const { folder, revoked } = await deployRevocation();
        const decision = async (file: string, now: string) => {
            const { status, json } = await lifecycleJson(file, folder, now);
            return [status, json.republishCrls, json.needsHuman, json.pending];
        };
        /** `file` with ob's gateway server renewed, not deployed. */
        const serverRenewed = (file: string) => {
            const text = fs.readFileSync(file, "utf8");
            fs.writeFileSync(
                file,
                editStackText(text, [{ path: ["pki:rotation", "endpoints", "ob", "serverEpoch"], value: 1 }]),
            );
            return file;
        };
        const server = [
            "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
            'pki:rotation.endpoints: {"ob":{"serverEpoch":1,"clientEpoch":0}} in the stack file, another value deployed',
        ];
        const blocked =
            "the CRL of apic-client-ca (next update 2027-01-28) is due for re-publication, and past its next update a CRL refuses every peer whose chain it covers; " +
            "the lifecycle workflow re-publishes CRLs only by an update that changes nothing else, and the stack file holds changes not deployed yet " +
            `(${server.join("; ")}): deploy them (pulumi up from the default branch) or revert them before 2027-01-28`;
        // The CRL runs from 2027-01-05T09:30 to 2027-01-28: halfway is 2027-01-16T16:45.
        const pending = serverRenewed(revoked());
        assert.deepStrictEqual(await decision(pending, "2027-01-16T16:44:59Z"), [0, true, [], server]);
        assert.deepStrictEqual(await decision(pending, "2027-01-16T16:45:00Z"), [1, true, [blocked], server]);
        const { out } = await cli(
            "lifecycle",
            "--config",
            pending,
            "--deployed",
            folder,
            "--now",
            "2027-01-20T00:00:00Z",
        );
        assert.ok(out.includes(`### Needs a human\n\n- ${blocked}\n`), out);
        // Past it, the CRL has lapsed: that says to run pulumi up now.
        assert.deepStrictEqual(await decision(pending, "2027-01-28T00:00:00Z"), [
            1,
            true,
            [
                "the CRL of apic-client-ca passed its next update on 2027-01-28: every peer whose chain it covers is refused; run pulumi up now",
            ],
            server,
        ]);
        // A new period length changes CRLs alone: the republish job deploys it, so it blocks nothing.
        const period =
            "pki:crlPeriodDays: 30 in the stack file, 7 deployed (the CRL of apic-client-ca from 2027-01-05 until 2027-01-28)";
        assert.deepStrictEqual(await decision(revoked("  pki:crlPeriodDays: 30\n"), "2027-01-20T00:00:00Z"), [
            0,
            true,
            [],
            [period],
        ]);
        assert.deepStrictEqual(
            await decision(serverRenewed(revoked("  pki:crlPeriodDays: 30\n")), "2027-01-20T00:00:00Z"),
            [1, true, [blocked], [...server, period]],
        );
    });

    it("says what keeps due CRLs from being re-published alone: the changes not deployed yet, a new period length aside, or a refused stack file", async () => {
        const { folder, revoked } = await deployRevocation();
        const decision = async (file: string, now: string) => {
            const { status, json } = await lifecycleJson(file, folder, now);
            return [status, json.republishCrls, json.republishBlockedBy, json.markdown.split("\n")[2]];
        };
        const serverRenewed = (file: string) => {
            fs.writeFileSync(
                file,
                editStackText(fs.readFileSync(file, "utf8"), [
                    { path: ["pki:rotation", "endpoints", "ob", "serverEpoch"], value: 1 },
                ]),
            );
            return file;
        };
        const server = [
            "ob/server: epoch 1 from gateway-server-ca in the stack file, epoch 0 from gateway-server-ca deployed",
            'pki:rotation.endpoints: {"ob":{"serverEpoch":1,"clientEpoch":0}} in the stack file, another value deployed',
        ];
        const alone =
            "Nothing to change in the stack file. CRLs are due for re-publication: run `pulumi up` from the default branch (no config change).";
        // The 7-day period the CRL was signed in ends on 2027-01-07.
        assert.deepStrictEqual(await decision(serverRenewed(revoked()), "2027-01-06T00:00:00Z"), [
            0,
            false,
            [],
            "Nothing to change in the stack file. No CRL is due for re-publication.",
        ]);
        assert.deepStrictEqual(await decision(revoked(), "2027-01-10T00:00:00Z"), [0, true, [], alone]);
        const notAlone =
            "Nothing to change in the stack file. CRLs are due for re-publication, but not alone: `pulumi up` from the default branch also takes " +
            `${server.join("; ")}; the lifecycle workflow re-publishes CRLs only by an update that changes nothing else.`;
        assert.deepStrictEqual(await decision(serverRenewed(revoked()), "2027-01-10T00:00:00Z"), [
            0,
            true,
            server,
            notAlone,
        ]);
        // A new period length changes CRLs alone.
        const longer = () => revoked("  pki:crlPeriodDays: 30\n");
        assert.deepStrictEqual(await decision(longer(), "2027-01-10T00:00:00Z"), [0, true, [], alone]);
        assert.deepStrictEqual(await decision(serverRenewed(longer()), "2027-01-10T00:00:00Z"), [
            0,
            true,
            server,
            notAlone,
        ]);
        // pulumi up refuses what this run refuses: a CA rotation that skips its prepare phase.
        const skipped = revoked("  pki:caRotation:\n    apicClientCa: { generation: 1, phase: switch }\n");
        assert.deepStrictEqual(await decision(skipped, "2027-01-10T00:00:00Z"), [
            1,
            true,
            ["the stack file refused against what is deployed (Needs a human)"],
            "Nothing to change in the stack file. CRLs are due for re-publication, but not alone: `pulumi up` from the default branch also takes " +
                "the stack file refused against what is deployed (Needs a human); the lifecycle workflow re-publishes CRLs only by an update that changes nothing else.",
        ]);
    });

    it("lists endpoints, clusters and hosts added, removed or moved in the stack file as pending, which keep due CRLs from being re-published alone", async () => {
        const { folder, revoked } = await deployRevocation();
        /** The pending changes and what blocks the re-publication of the CRL due on 2027-01-10, of the deployed stack file edited by `edit`. */
        const decision = async (edit: (text: string) => string) => {
            const file = revoked();
            fs.writeFileSync(file, edit(fs.readFileSync(file, "utf8")));
            const { status, json } = await lifecycleJson(file, folder, "2027-01-10T00:00:00Z");
            return [status, json.republishCrls, json.pending, json.republishBlockedBy];
        };
        const pending = (...lines: string[]) => [0, true, lines, lines];
        assert.deepStrictEqual(
            await decision((t) => t.replace("life.api.bank.example", "life2.api.bank.example")),
            pending(
                "ob/server: hosts ob.life2.api.bank.example in the stack file, hosts ob.life.api.bank.example deployed",
                'pki:baseDomain: "life2.api.bank.example" in the stack file, another value deployed',
            ),
        );
        // Option 2 has no endpoint ob, which the revocation names: it goes with it.
        assert.deepStrictEqual(
            await decision((t) =>
                t.replace("pki:option: 1", "pki:option: 2").replace(/ {2}pki:revocations:\n.*\n/, ""),
            ),
            pending(
                "ob-accounts/server: not deployed yet",
                "ob-accounts/client: not deployed yet",
                "ob/server: deployed, no longer in the stack file",
                "ob/client: deployed, no longer in the stack file",
                "pki:option: 2 in the stack file, another value deployed",
                "pki:revocations: deployed, no longer in the stack file",
            ),
        );
        assert.deepStrictEqual(
            await decision((t) => t.replace("[example]", "[{ name: example }, { name: east, context: east }]")),
            pending(
                "mesh-ca-east: not deployed yet",
                'pki:clusters: [{"name":"example"},{"name":"east","context":"east"}] in the stack file, another value deployed',
            ),
        );
    });

    it("lists settings that change no certificate by their key as pending, which keep due CRLs from being re-published alone", async () => {
        const { folder, revoked } = await deployRevocation();
        /** What `extra` at the end of the deployed stack file leaves pending and blocking on 2027-01-10, when the CRL is due. */
        const decision = async (extra: string) => {
            const { status, json } = await lifecycleJson(revoked(extra), folder, "2027-01-10T00:00:00Z");
            return [status, json.republishCrls, json.pending, json.republishBlockedBy];
        };
        const pending = (line: string) => [0, true, [line], [line]];
        // A PeerAuthentication; the gateway's Secret and Gateway in another namespace: the republish job's preview refuses either.
        assert.deepStrictEqual(
            await decision("  pki:meshStrictMtls: true\n"),
            pending("pki:meshStrictMtls: true in the stack file, another value deployed"),
        );
        assert.deepStrictEqual(
            await decision("  pki:gatewayNamespace: edge\n"),
            pending('pki:gatewayNamespace: "edge" in the stack file, another value deployed'),
        );
        // Only the APIC keystores of the stack outputs, which the republish job's preview lets through.
        assert.deepStrictEqual(
            await decision("  pki:pkcs12Iterations: 600000\n"),
            pending("pki:pkcs12Iterations: 600000 in the stack file, another value deployed"),
        );
        // Every certificate's subject: the certificates are compared by id, hosts and identities only;
        // the roots made here are re-issued in place, under their own ids.
        assert.deepStrictEqual(
            await decision("  pki:organization: Example Bank\n"),
            pending(`pki:organization: "Example Bank" in the stack file, not deployed yet; ${ORGANIZATION_REISSUES}`),
        );
        const { json } = await lifecycleJson(revoked("  pki:meshStrictMtls: true\n"), folder, "2027-01-10T00:00:00Z");
        assert.strictEqual(
            json.markdown.split("\n")[2],
            "Nothing to change in the stack file. CRLs are due for re-publication, but not alone: `pulumi up` from the default branch also takes " +
                "pki:meshStrictMtls: true in the stack file, another value deployed; the lifecycle workflow re-publishes CRLs only by an update that changes nothing else.",
        );
    });

    it("records a digest of each setting deployed: a setting deployed is pending no more, and one changed back or removed is", async () => {
        const folder = tempDir("lifecycle-settings");
        const state = newStackState();
        const stackWith = (name: string, extra: string) => {
            const file = path.join(folder, name, "Pulumi.life.yaml");
            fs.mkdirSync(path.dirname(file));
            fs.writeFileSync(file, STACK.replace('  other:setting: "keep me"\n', extra));
            return file;
        };
        const deployAt = (file: string, now: string, out: string) =>
            deployFile(state, file, new Date(now), path.join(folder, out));
        const plain = stackWith("plain", "");
        const strict = stackWith("strict", "  pki:meshStrictMtls: true\n  pki:organization: Example Bank\n");
        await deployAt(plain, at(0), "day0");
        await deployAt(strict, at(1), "deployed");
        const { settings } = readDeployed(path.join(folder, "deployed")).record;
        assert.deepStrictEqual(Object.keys(settings ?? {}), [
            "environment",
            "option",
            "baseDomain",
            "organization",
            "domains.ob",
            "clusters",
            "meshStrictMtls",
            "gatewayNamespace",
            "trustDomains",
            "keyAlgorithm",
            "caKeyAlgorithm",
            "validityDays.root",
            "validityDays.intermediate",
            "validityDays.leaf",
            "earlyRenewalDays.root",
            "earlyRenewalDays.intermediate",
            "earlyRenewalDays.leaf",
            "rotation.leafEpoch",
            "rotation.gatewayServerEpoch",
            "rotation.apicClientEpoch",
            "rotation.meshEpoch",
            "rotation.uiClientEpoch",
            "rotation.apicServerEpoch",
            "rotation.apicClientPhase",
            "rotation.endpoints",
            "caRotation.root",
            "caRotation.meshRoot",
            "caRotation.serverRoot",
            "caRotation.clientRoot",
            "caRotation.uiClientRoot",
            "caRotation.gatewayServerCa",
            "caRotation.apicClientCa",
            "caRotation.meshCa",
            "caRotation.uiClientCa",
            "revocations",
            "crlPeriodDays",
            "pkcs12Profile",
            "pkcs12Iterations",
            "frontEnd.services",
            "frontEnd.callers",
            "frontEnd.apicHosts",
            "frontEnd.customerFacing",
        ]);
        assert.strictEqual(settings?.meshStrictMtls, settingDigest(true));
        const pending = async (file: string) =>
            (await lifecycleJson(file, path.join(folder, "deployed"), at(2))).json.pending;
        assert.deepStrictEqual(await pending(strict), []);
        assert.deepStrictEqual(await pending(stackWith("off", "  pki:meshStrictMtls: false\n")), [
            "pki:meshStrictMtls: false in the stack file, another value deployed",
            `pki:organization: deployed, no longer in the stack file; ${ORGANIZATION_REISSUES}`,
        ]);
        // Not set, it is this version's default, which an upgrade may have changed too: nothing to revert.
        assert.deepStrictEqual(await pending(plain), [
            "pki:meshStrictMtls: false, this version's default (the stack file does not set it), another value deployed; " +
                "one pulumi up from the default branch deploys it",
            `pki:organization: deployed, no longer in the stack file; ${ORGANIZATION_REISSUES}`,
        ]);
    });

    it("leaves out of pending what no update would deploy: lists whose order nothing follows, times and defaults written otherwise, pki:meshFinishAfterHours", async () => {
        const folder = tempDir("lifecycle-unseen");
        const state = newStackState();
        let files = 0;
        const stackWith = (text: string) => {
            const file = path.join(folder, `stack${files++}`, "Pulumi.life.yaml");
            fs.mkdirSync(path.dirname(file));
            fs.writeFileSync(file, text);
            return file;
        };
        // Option 1 with two services, and a front end whose two UI services call APIC on two hosts.
        const frontEnd = STACK.replace(
            "services: [accounts]   # one service",
            "services: [accounts, payments]",
        ).replace(
            '  other:setting: "keep me"\n',
            "  pki:frontEnd:\n" +
                "    services: [WEB, mobile]\n" +
                "    callers: [web, mobile]\n" +
                "    apicHosts: [apic.life.api.bank.example, apic2.life.api.bank.example]\n",
        );
        const deployAt = (file: string, now: string, out: string) =>
            deployFile(state, file, new Date(now), path.join(folder, out));
        await deployAt(stackWith(frontEnd), at(0), "day0");
        const { certificates } = JSON.parse(fs.readFileSync(path.join(folder, "day0/inventory.json"), "utf8")) as {
            certificates: IssuedCertificate[];
        };
        const serial = (id: string) => certificates.find((c) => c.id === id)?.serial;
        // Deployed on 2027-01-05 at 10:00 with ob's APIC client and the web UI client revoked: CRLs due on 2027-01-10.
        const deployed =
            frontEnd +
            "  pki:revocations:\n" +
            `    - { endpoint: ob, serial: ${serial("ob/client")}, epoch: 0, reason: keyCompromise, revokedAt: "2027-01-05T09:30:00Z" }\n` +
            `    - { uiClient: web, serial: ${serial("ui/web/client")}, epoch: 0, reason: keyCompromise, revokedAt: "2027-01-05T09:00:00Z" }\n`;
        await deployAt(stackWith(deployed), "2027-01-05T10:00:00Z", "deployed");
        const now = new Date("2027-01-10T00:00:00Z");

        /**
         * What `pulumi up` of a stack file on 2027-01-10 would leave deployed, from a copy of the
         * stack's state: each resource's inputs, and the stack outputs but the deployment record,
         * each read as what it means: the inventory's certificates, the places each goes to and an
         * endpoint's services are sets, a map's members have no order (as in Pulumi's diff).
         */
        const deployment = async (file: string) => {
            const plan = planFromRawConfig(rawConfigFromStackFile(file), { deployed: deployedRecordOf(state), now });
            const { engine, outputs } = await runWithStandIn(() => buildPki(plan).outputs, {
                state: new Map(state),
                now: () => now,
            });
            const { deploymentRecord, inventory, endpoints, ...others } = outputs;
            assert.ok(deploymentRecord !== undefined);
            const canonical = (value: unknown) =>
                JSON.stringify(value, (_, v: unknown) =>
                    typeof v === "object" && v !== null && !Array.isArray(v)
                        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
                        : v,
                );
            return {
                resources: new Map(engine.resources.map((r) => [`${r.type}::${r.name}`, canonical(r.inputs)])),
                outputs: new Map(
                    Object.entries({
                        ...others,
                        inventory: inventory
                            .map((c) => ({ ...c, goesTo: [...c.goesTo].sort() }))
                            .sort((a, b) => (a.id < b.id ? -1 : 1)),
                        endpoints: endpoints.map((e) => ({ ...e, services: [...e.services].sort() })),
                    }).map(([name, value]) => [name, canonical(value)]),
                ),
            };
        };
        const asDeployed = await deployment(stackWith(deployed));
        /** The names whose entry differs between two of deployment's maps. */
        const changed = (a: Map<string, string>, b: Map<string, string>) =>
            [...new Set([...a.keys(), ...b.keys()])].filter((name) => a.get(name) !== b.get(name));
        /** What the edited stack file would deploy otherwise (resources, outputs), and what lifecycle says of it while the CRLs are due. */
        const decision = async (edit: (text: string) => string) => {
            const file = stackWith(edit(deployed));
            const { resources, outputs } = await deployment(file);
            const { json } = await lifecycleJson(file, path.join(folder, "deployed"), now.toISOString());
            return [
                changed(resources, asDeployed.resources),
                changed(outputs, asDeployed.outputs),
                json.republishCrls,
                json.pending,
                json.republishBlockedBy,
            ];
        };
        const nothing = [[], [], true, [], []];
        const edits: [string, (text: string) => string][] = [
            ["callers reordered", (t) => t.replace("callers: [web, mobile]", "callers: [mobile, web]")],
            ["UI services reordered", (t) => t.replace("services: [WEB, mobile]", "services: [mobile, WEB]")],
            ["APIC hosts reordered", (t) => t.replace(/apicHosts: \[(.+), (.+)\]/, "apicHosts: [$2, $1]")],
            ["Option 1 services reordered", (t) => t.replace("[accounts, payments]", "[payments, accounts]")],
            ["a domain's namespace", (t) => t.replace("    ob:\n", "    ob:\n      namespace: banking\n")],
            [
                "an endpoint's default epochs written out",
                (t) => t.replace("    leafEpoch: 0\n", "    leafEpoch: 0\n    endpoints: { ob: { serverEpoch: 0 } }\n"),
            ],
            ["pki:meshFinishAfterHours", (t) => `${t}  pki:meshFinishAfterHours: 48\n`],
            ["revokedAt with milliseconds", (t) => t.replace("09:30:00Z", "09:30:00.000Z")],
            ["revokedAt with its zone as an offset", (t) => t.replace("09:30:00Z", "10:30:00+01:00")],
            ["revocations reordered", (t) => t.replace(/( {4}- \{ endpoint: .*\n)( {4}- \{ uiClient: .*\n)/, "$2$1")],
        ];
        const decisions = [];
        for (const [what, edit] of edits) {
            assert.notStrictEqual(edit(deployed), deployed, what);
            decisions.push([what, ...(await decision(edit))]);
        }
        assert.deepStrictEqual(
            decisions,
            edits.map(([what]) => [what, ...nothing]),
        );
        // A service added under Option 1 changes no certificate, but the stack output endpoints lists it.
        const added =
            'pki:domains.ob: {"services":["accounts","cards","payments"]} in the stack file, another value deployed';
        assert.deepStrictEqual(
            await decision((t) => t.replace("[accounts, payments]", "[accounts, payments, cards]")),
            [[], ["endpoints"], true, [added], [added]],
        );

        // The daily run of 2027-01-10: the CRLs are due and nothing else. Nothing needs a human before
        // the update (exit 0), but after it DataPower's copy of the UI client CA's CRL is to be
        // replaced before it lapses, on its next update: a list apart, which the workflow makes an issue of.
        const daily = await lifecycleJson(stackWith(deployed), path.join(folder, "deployed"), "2027-01-10T05:23:00Z");
        const { crls } = JSON.parse(fs.readFileSync(path.join(folder, "deployed/deployment.json"), "utf8")) as {
            crls: Record<string, { nextUpdate: string; published: boolean }>;
        };
        assert.deepStrictEqual(
            Object.entries(crls)
                .filter(([, crl]) => crl.published)
                .map(([id, crl]) => [id, crl.nextUpdate]),
            [
                ["apic-client-ca", "2027-01-28T00:00:00.000Z"],
                ["client-root", "2031-01-03T00:00:00.000Z"],
                ["ui-client-ca", "2027-01-28T00:00:00.000Z"],
                ["ui-client-root", "2031-01-03T00:00:00.000Z"],
            ],
        );
        assert.deepStrictEqual(
            [
                daily.status,
                daily.json.changed,
                daily.json.republishCrls,
                daily.json.needsHuman,
                daily.json.afterRepublish,
            ],
            [
                0,
                false,
                true,
                [],
                [
                    {
                        step: "load apic/ui/truststore.crl (stack output frontEnd.apic.truststoreCrlPem) where DataPower checks the UI clients' CRLs",
                        before: "2027-01-28T00:00:00.000Z",
                    },
                ],
            ],
        );
        assert.match(
            daily.json.markdown,
            /\n### By hand after the re-publication\n\n- before 2027-01-28: load apic\/ui\/truststore\.crl \(stack output frontEnd\.apic\.truststoreCrlPem\) where DataPower checks the UI clients' CRLs\n/,
        );
    });

    it("says that a setting the stack file does not set is this version's default, which an update deploys and no revert undoes", async () => {
        const { folder, revoked } = await deployRevocation();
        // Deployed by a version whose default was 2048 PBKDF2 iterations; this one's is 10000.
        const upgraded = path.join(tempDir("lifecycle-default"), "deployed");
        fs.cpSync(folder, upgraded, { recursive: true });
        const recordFile = path.join(upgraded, "deployment.json");
        const record = JSON.parse(fs.readFileSync(recordFile, "utf8")) as RotationRecord;
        fs.writeFileSync(
            recordFile,
            JSON.stringify({ ...record, settings: { ...record.settings, pkcs12Iterations: settingDigest(2048) } }),
        );
        /** What `extra` at the end of the deployed stack file leaves pending, blocking and for a human on 2027-01-20, past halfway to the CRL's next update. */
        const decision = async (extra: string) => {
            const { status, json } = await lifecycleJson(revoked(extra), upgraded, "2027-01-20T00:00:00Z");
            return [status, json.pending, json.republishBlockedBy, json.needsHuman];
        };
        const blocked = (holds: string, pending: string[], deployOrRevert: string) => [
            "the CRL of apic-client-ca (next update 2027-01-28) is due for re-publication, and past its next update a CRL refuses every peer whose chain it covers; " +
                `the lifecycle workflow re-publishes CRLs only by an update that changes nothing else, and the ${holds} holds changes not deployed yet ` +
                `(${pending.join("; ")}): deploy them (pulumi up from the default branch)${deployOrRevert} before 2027-01-28`,
        ];
        const byDefault = [
            "pki:pkcs12Iterations: 10000, this version's default (the stack file does not set it), another value deployed; " +
                "one pulumi up from the default branch deploys it",
        ];
        assert.deepStrictEqual(await decision(""), [1, byDefault, byDefault, blocked("default branch", byDefault, "")]);
        // Set in the stack file, it can be reverted.
        const written = ["pki:pkcs12Iterations: 10000 in the stack file, another value deployed"];
        assert.deepStrictEqual(await decision("  pki:pkcs12Iterations: 10000\n"), [
            1,
            written,
            written,
            blocked("stack file", written, " or revert them"),
        ]);
        const both = ["pki:meshStrictMtls: true in the stack file, another value deployed", ...byDefault];
        assert.deepStrictEqual(await decision("  pki:meshStrictMtls: true\n"), [
            1,
            both,
            both,
            blocked("default branch", both, ", or revert those the stack file sets,"),
        ]);
    });

    it("says that a pending setting of the roots' certificates re-issues them in place: a default an upgrade changed breaks every chain, a new root validity keeps them verifying", async () => {
        const { folder, revoked } = await deployRevocation();
        // Deployed by a version whose default CA key algorithm was ECDSA; this one's is RSA.
        const upgraded = path.join(tempDir("lifecycle-ca-key-default"), "deployed");
        fs.cpSync(folder, upgraded, { recursive: true });
        const recordFile = path.join(upgraded, "deployment.json");
        const record = JSON.parse(fs.readFileSync(recordFile, "utf8")) as RotationRecord;
        fs.writeFileSync(
            recordFile,
            JSON.stringify({ ...record, settings: { ...record.settings, caKeyAlgorithm: settingDigest("ECDSA") } }),
        );
        const pending = async (file: string, deployed: string) =>
            (await lifecycleJson(file, deployed, "2027-01-06T00:00:00Z")).json.pending;
        assert.deepStrictEqual(await pending(revoked(), upgraded), [
            `pki:caKeyAlgorithm: "RSA", this version's default (the stack file does not set it), another value deployed; ` +
                reissuesRoots(
                    "pki:caKeyAlgorithm",
                    "key",
                    "every generation of every CA takes the new algorithm at once, so no staged rotation avoids it: " +
                        "schedule a maintenance window, or build the new hierarchy as a new stack and move consumers over",
                ) +
                ". To keep them, write the deployed value in the stack file",
        ]);
        const longerRoots = revoked();
        fs.writeFileSync(longerRoots, fs.readFileSync(longerRoots, "utf8").replace("root: 1460", "root: 1000"));
        assert.deepStrictEqual(await pending(longerRoots, folder), [
            `pki:validityDays.root: 1000 in the stack file, another value deployed; its update re-issues ${roots}, ` +
                "with the same key and subject and a new serial, and every CA and certificate below them: the roots keep their keys and subjects, " +
                "so existing chains still verify; but every CA and leaf under them is re-issued in one update, " +
                `and APIC holds the old chain until its keystores and truststores are uploaded. ${RESTART_ISTIOD}`,
            // Its default is a third of the root's validity.
            "pki:earlyRenewalDays.root: 333, this version's default (the stack file does not set it), another value deployed; one pulumi up from the default branch deploys it",
        ]);
    });

    it("says, from a deployment record of an earlier version, that the settings deployed are not known, which keeps due CRLs from being re-published alone", async () => {
        const { folder, revoked } = await deployRevocation();
        const deployed = readDeployed(folder);
        const { settings, ...older } = deployed.record;
        assert.ok(settings !== undefined);
        assert.deepStrictEqual(parseRecord(older), older);
        assert.throws(() => parseRecord({ ...older, settings: { meshStrictMtls: true } }), {
            message: "deploymentRecord.settings.meshStrictMtls holds true, not a string",
        });
        assert.throws(() => parseRecord({ ...older, settings: ["meshStrictMtls"] }), {
            message: "deploymentRecord.settings holds a list, not a map",
        });
        const unknown =
            "the settings deployed are not known: the deployed record, written by an earlier version, keeps none, so a change of the stack file " +
            "that alters no certificate (pki:meshStrictMtls, pki:gatewayNamespace, the front end's callers...) cannot be seen; " +
            "the next pulumi up from the default branch records them";
        const now = new Date("2027-01-10T00:00:00Z");
        const decision = decide({
            config: validateConfig(rawConfigFromStackFile(revoked()), now),
            deployed: { inventory: deployed.inventory, record: older },
            now,
            soakDays: 7,
        });
        assert.deepStrictEqual(
            [decision.republishCrls, decision.pending, decision.republishBlockedBy, decision.needsHuman],
            [true, [unknown], [unknown], []],
        );
    });

    it("reads deployment records of earlier versions, and asks for one update when one lacks the time a phase began", () => {
        const deployed = readDeployed(deployedDir);
        const { positionsSince, clientPhases, crls, highestCrlNumber, keys, ...older } = deployed.record;
        assert.ok(positionsSince !== undefined && clientPhases !== undefined && keys !== undefined);
        assert.deepStrictEqual([crls, highestCrlNumber], [{}, 0], "no CRL published yet");
        assert.deepStrictEqual(parseRecord(older), older);
        assert.throws(() => parseRecord({ ...older, positionsSince: { meshCa: "yesterday" } }), {
            message: "deploymentRecord.positionsSince.meshCa holds a string, not an ISO 8601 time",
        });
        assert.throws(() => parseRecord({ ...older, crls: { root: { number: "1" } } }, "caRotation"), {
            message: "caRotation.crls.root.number holds a string, not an integer",
        });
        assert.throws(() => parseRecord({ ...older, keys: { "ob/server": { spki: "x", since: "never" } } }), {
            message: "deploymentRecord.keys.ob/server.since holds a string, not an ISO 8601 time",
        });
        const rotating = { ...INITIAL_ROTATION, meshCa: { generation: 1, phase: "prepare" as const } };
        const config = validateConfig(rawConfigFromStackFile(stackFile));
        const decision = decide({
            config: { ...config, caRotation: rotating },
            deployed: { inventory: deployed.inventory, record: { ...older, positions: rotating } },
            now: new Date(at(40)),
            soakDays: 7,
        });
        assert.deepStrictEqual(decision.needsHuman, [
            "the deployed record does not say since when pki:caRotation.meshCa is at generation 1 phase prepare (deployed by an earlier version): run pulumi up once so that it is recorded",
        ]);
    });
});
