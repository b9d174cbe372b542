/**
 * The text Pulumi hands the program for one config value (the strings of
 * `pulumi.runtime.allConfig()`), from the Go value yaml.v3 decoded. Read in pulumi/pulumi:
 * - sdk/go/common/resource/config/object.go: a stack file value becomes an `object`
 *   (`unmarshalObject`: time.Time -> its String(), keys of a map with non-string keys -> "%v",
 *   `{ secure: <string> }` -> a ciphertext), then text (`MarshalString`): a string as it is, a
 *   bool or number as JSON (`2` -> "2", `true` -> "true", `2.50` -> "2.5"), a list or map as JSON.
 * - sdk/go/common/resource/config/plaintext.go `marshalText` (decrypted values): the same text.
 * - yaml.v3 decode.go `mapping`: a key set to nothing at the top of `config:` is not decoded at
 *   all, so the value stays the zero config.Value: "" (sdk/go/common/workspace/loaders.go
 *   `checkForEmptyConfig` warns about exactly this); inside a list or map, null stays JSON null.
 * - Go's encoding/json: map keys sorted by their bytes, `<`, `>`, `&`, U+2028 and U+2029
 *   escaped, floats in the shortest form that reads back, exponent only below 1e-6 or from 1e21.
 */
import { GoMap, GoTime, GoValue } from "./goYaml";
import { memberPath, shownName } from "./values";

/** A value Pulumi cannot pass; the message names it by its key and path. */
export class UnpassableValue extends Error {}

/** A `{ secure: ... }` value: Pulumi decrypts it with the stack's secrets provider, which render has not. */
export class SecureValue extends Error {}

const pad = (n: number, width: number): string => String(n).padStart(width, "0");

/** time.Time.String() on the machine Pulumi runs on, taken to be in UTC ("+0000 UTC"; another offset "+0200 +0200"). */
export function goTimeString(t: GoTime): string {
    const fraction = t.nanos.replace(/0+$/, "");
    const offset = t.offsetMinutes ?? 0;
    const sign = offset < 0 ? "-" : "+";
    const zone = `${sign}${pad(Math.trunc(Math.abs(offset) / 60), 2)}${pad(Math.abs(offset) % 60, 2)}`;
    return (
        `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)} ${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}` +
        `${fraction === "" ? "" : `.${fraction}`} ${zone} ${offset === 0 ? "UTC" : zone}`
    );
}

/** time.Time.MarshalJSON's text (RFC 3339 with nanoseconds), which project config values get. */
function goTimeRfc3339(t: GoTime): string {
    const fraction = t.nanos.replace(/0+$/, "");
    const offset = t.offsetMinutes ?? 0;
    const zone =
        offset === 0
            ? "Z"
            : `${offset < 0 ? "-" : "+"}${pad(Math.trunc(Math.abs(offset) / 60), 2)}:${pad(Math.abs(offset) % 60, 2)}`;
    return `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${fraction === "" ? "" : `.${fraction}`}${zone}`;
}

/** NaN and the infinities: Go's encoding/json refuses them, so Pulumi cannot pass them. */
function finite(value: number, path: string): number {
    if (Number.isFinite(value)) return value;
    throw new UnpassableValue(
        `${path} is ${Number.isNaN(value) ? ".nan" : value > 0 ? ".inf" : "-.inf"}, which Pulumi cannot pass (Go's encoding/json refuses it); write a number`,
    );
}

/** fmt's %v of a float64: strconv's 'g' with the shortest digits, so an exponent below 1e-4 and from 1e+06. */
function goFormatFloatV(value: number): string {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
    if (value === 0) return Object.is(value, -0) ? "-0" : "0";
    const [mantissa, exponentText] = value.toExponential().split("e");
    const exponent = Number(exponentText);
    if (exponent < -4 || exponent >= 6) {
        const sign = exponent < 0 ? "-" : "+";
        return `${mantissa}e${sign}${pad(Math.abs(exponent), 2)}`;
    }
    return String(value);
}

/** encoding/json's string: JSON.stringify's escapes plus Go's HTML-safe ones. */
function goJsonString(text: string): string {
    return JSON.stringify(text).replace(
        /[<>&\u2028\u2029]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
}

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** A JSON-ready tree: what Pulumi's `object` holds once decoded. */
type Tree = null | boolean | bigint | number | string | Tree[] | Map<string, Tree>;

function goJson(tree: Tree): string {
    if (tree === null) return "null";
    if (typeof tree === "boolean" || typeof tree === "bigint") return String(tree);
    // encoding/json's float64 takes JavaScript's shortest round-trip digits, form and exponent thresholds.
    if (typeof tree === "number") return String(tree);
    if (typeof tree === "string") return goJsonString(tree);
    if (Array.isArray(tree)) return `[${tree.map(goJson).join(",")}]`;
    const keys = [...tree.keys()].sort(byUtf8);
    return `{${keys.map((k) => `${goJsonString(k)}:${goJson(tree.get(k) as Tree)}`).join(",")}}`;
}

/** fmt's %v of a map key, as `unmarshalObject` turns the keys of a map with any non-string key into text. */
function goFormatKey(key: GoValue, path: string): string {
    if (key === null) return "<nil>";
    if (typeof key === "string" || typeof key === "boolean" || typeof key === "bigint") return String(key);
    if (typeof key === "number") return goFormatFloatV(key);
    if (key instanceof GoTime) return goTimeString(key);
    throw new UnpassableValue(`${path} has a list or map as a key, which Pulumi cannot read; use text keys`);
}

/** config/object.go `unmarshalObject` on a stack file value. */
function stackObject(value: GoValue, path: string): Tree {
    if (value instanceof GoTime) return goTimeString(value);
    if (typeof value === "number") return finite(value, path);
    if (Array.isArray(value)) return value.map((item, i) => stackObject(item, `${path}[${i}]`));
    if (value instanceof GoMap) {
        const [only] = value.entries;
        if (value.entries.length === 1 && only[0] === "secure" && typeof only[1] === "string") {
            throw new SecureValue(path);
        }
        const stringKeys = value.entries.every(([k]) => typeof k === "string");
        const members = new Map<string, Tree>();
        for (const [key, member] of value.entries) {
            const name = stringKeys ? (key as string) : goFormatKey(key, path);
            if (members.has(name)) {
                throw new UnpassableValue(
                    `${path} has two keys that Pulumi reads as ${shownName(name)}; keep one (quote a key to keep it as written)`,
                );
            }
            members.set(name, stackObject(member, memberPath(path, name)));
        }
        return members;
    }
    return value;
}

/**
 * The text of one `config:` value of a stack file (object.go `MarshalString`); nothing (a YAML
 * null) is "". Throws SecureValue for `{ secure: ... }` anywhere in it and UnpassableValue for a
 * value Pulumi itself cannot pass (NaN and infinities, a list as a key, two keys read alike).
 */
export function stackValueText(value: GoValue, key: string): string {
    if (value === null) return "";
    const tree = stackObject(value, key);
    return typeof tree === "string" ? tree : goJson(tree);
}

/**
 * The text of a project-level value (pkg/workspace/config.go `createConfigValue`): a string,
 * an integer or a bool through "%v", anything else through encoding/json, in which a time is
 * RFC 3339 and a map key must be text.
 */
export function projectValueText(value: GoValue, key: string): string {
    const tree = (v: GoValue, path: string): Tree => {
        if (v instanceof GoTime) return goTimeRfc3339(v);
        if (typeof v === "number") return finite(v, path);
        if (Array.isArray(v)) return v.map((item, i) => tree(item, `${path}[${i}]`));
        if (v instanceof GoMap) {
            const [only] = v.entries;
            if (v.entries.length === 1 && only[0] === "secure" && typeof only[1] === "string") {
                throw new SecureValue(path);
            }
            if (!v.entries.every(([k]) => typeof k === "string")) {
                throw new UnpassableValue(
                    `${path} has a key that is not text, which Pulumi refuses in Pulumi.yaml; quote it`,
                );
            }
            return new Map(v.entries.map(([k, m]) => [k as string, tree(m, memberPath(path, k as string))]));
        }
        return v;
    };
    const result = tree(value, key);
    return typeof result === "string" || typeof result === "boolean" || typeof result === "bigint"
        ? String(result)
        : goJson(result);
}

/**
 * The text Pulumi would pass for a value given in JavaScript (a program or test calling
 * validateConfig with numbers, lists and maps instead of text): the same conversion as for the
 * stack file value those JavaScript values mirror. `undefined` members are left out, as JSON does.
 */
export function javascriptValueText(value: unknown, key: string): string {
    const tree = (v: unknown, path: string): Tree => {
        if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
        if (typeof v === "number") return Number.isSafeInteger(v) ? BigInt(v) : finite(v, path);
        if (Array.isArray(v)) return v.map((item, i) => (item === undefined ? null : tree(item, `${path}[${i}]`)));
        if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
            const members = Object.entries(v as Record<string, unknown>).filter(([, m]) => m !== undefined);
            if (members.length === 1 && members[0][0] === "secure" && typeof members[0][1] === "string") {
                throw new SecureValue(path);
            }
            return new Map(members.map(([k, m]) => [k, tree(m, memberPath(path, k))]));
        }
        throw new UnpassableValue(
            `${path} is a JavaScript ${typeof v} (${String(v)}), not a value a stack file can hold`,
        );
    };
    if (value === null) return "";
    const result = tree(value, key);
    return typeof result === "string" ? result : goJson(result);
}
