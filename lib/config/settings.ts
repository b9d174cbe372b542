/**
 * A stack's settings one by one: each `pki:` key, and each member of a key whose value is a map
 * (pki:frontEnd.callers, pki:domains.ob), by its validated value (defaults filled in). The
 * deployment record keeps a digest of each (lib/stack.ts recordOfDeployment), so that lifecycle
 * sees every change of the stack file not deployed yet, also one that changes no certificate.
 */
import * as crypto from "crypto";
import { PkiConfig } from "./types";

const isMap = (value: unknown): value is Record<string, unknown> =>
    typeof value === "object" && value !== null && !Array.isArray(value);

/** Stable JSON: sorted keys and members without a value left out, so that equal values have one text. */
function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (isMap(value)) {
        const members = Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

/** Each setting's value, by its name without `pki:` ("meshStrictMtls", "frontEnd.callers"); settings not set are absent. */
export function settingsOf(config: PkiConfig): Map<string, unknown> {
    const settings = new Map<string, unknown>();
    for (const [key, value] of Object.entries(config)) {
        if (!isMap(value)) {
            if (value !== undefined) settings.set(key, value);
            continue;
        }
        for (const [member, memberValue] of Object.entries(value)) {
            if (memberValue !== undefined) settings.set(`${key}.${member}`, memberValue);
        }
    }
    return settings;
}

/** The digest of a setting's value that the deployment record keeps: base64 SHA-256 of its stable JSON. */
export const settingDigest = (value: unknown): string =>
    crypto.createHash("sha256").update(canonicalJson(value)).digest("base64");

/** The deployment record's `settings`: each setting's digest, by its name. */
export const settingDigests = (config: PkiConfig): Record<string, string> =>
    Object.fromEntries([...settingsOf(config)].map(([name, value]) => [name, settingDigest(value)]));
