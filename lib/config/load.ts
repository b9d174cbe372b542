/** Where raw `pki:` config comes from: a stack YAML file (render, inventory) or the Pulumi engine. */
import * as fs from "fs";
import * as YAML from "yaml";

const PREFIX = "pki:";

/** Keys whose values are structured; `pulumi config` hands them to programs as JSON text. */
const STRUCTURED_KEYS = new Set([
    "option",
    "domains",
    "clusters",
    "validityDays",
    "meshStrictMtls",
    "earlyRenewalDays",
    "rotation",
    "caRotation",
    "revocations",
    "crlPeriodDays",
    "offlineRoot",
    "offlineRoots",
]);

function stripPrefix(entries: [string, unknown][]): Record<string, unknown> {
    return Object.fromEntries(
        entries.filter(([k]) => k.startsWith(PREFIX)).map(([k, v]) => [k.slice(PREFIX.length), v]),
    );
}

/** The `pki:` keys of a Pulumi stack file (`config:` map); other namespaces are ignored. */
export function rawConfigFromStackFile(path: string): Record<string, unknown> {
    let text: string;
    try {
        text = fs.readFileSync(path, "utf8");
    } catch (err) {
        throw new Error(`cannot read stack file ${path}: ${(err as Error).message}`);
    }
    return rawConfigFromYamlText(text, path);
}

/** The same from the text of a stack file; `source` names it in errors (e.g. "main:stacks/Pulumi.dev.yaml"). */
export function rawConfigFromYamlText(text: string, source: string): Record<string, unknown> {
    let document: unknown;
    try {
        document = YAML.parse(text, { uniqueKeys: true });
    } catch (err) {
        throw new Error(`cannot read stack file ${source}: ${(err as Error).message}`);
    }
    const config = (document as { config?: unknown } | null)?.config;
    if (typeof config !== "object" || config === null) {
        throw new Error(`stack file ${source} has no "config:" map; see stacks/Pulumi.dev.yaml for the shape`);
    }
    return stripPrefix(Object.entries(config));
}

/**
 * The `pki:` keys as the Pulumi engine passes them (`pulumi.runtime.allConfig()`): every value is
 * a string, structured values are JSON.
 */
export function rawConfigFromEngine(all: Record<string, string>): Record<string, unknown> {
    const raw = stripPrefix(Object.entries(all));
    for (const [key, value] of Object.entries(raw)) {
        if (!STRUCTURED_KEYS.has(key) || typeof value !== "string") continue;
        try {
            raw[key] = JSON.parse(value);
        } catch {
            // Leave the text as it is: validation reports it with the key name.
        }
    }
    return raw;
}
