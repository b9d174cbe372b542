/**
 * What is deployed, read from what the stack exports: `pulumi stack output --json` (the outputs
 * `inventory` and `deploymentRecord`), or a render's folder (inventory.json and deployment.json).
 * Shapes are checked: the values crossed a serialisation boundary.
 */
import * as fs from "fs";
import * as path from "path";
import { codeOf, jsonBreak, readRegularFile } from "../files";
import { inventoryTimeProblem, IssuedCertificate } from "../inventory/issued";
import { privateKeyPaths } from "../pki/keyMaterial";
import { isoInstant } from "../pki/x509";
import { parseRecord, RecordError, recordRepair, RotationRecord } from "../plan/caRotation";
import { Deployed, DeployedCertificate } from "./rules";

/** Deployed material that cannot be read. */
export class DeployedInputError extends Error {}

/** The deployment record in `value`, or a DeployedInputError naming `where` and its damaged field. */
function recordOf(value: unknown, where: string, output = "deploymentRecord"): RotationRecord {
    try {
        return parseRecord(value, output);
    } catch (error) {
        if (!(error instanceof RecordError)) throw error;
        const repair = recordRepair(error, "give the outputs of the stack's last update again");
        throw new DeployedInputError(`${where} ${error.message}${repair}`);
    }
}

const ROW_TEXT_FIELDS = ["id", "role", "issuer", "notBefore", "notAfter", "renewAt"] as const;

/**
 * The certificates of an inventory, with their dates parsed. A date not as render writes it is
 * refused as expiry refuses it in the same inventory.json (`fix` says how to get a sound one):
 * Date.parse would take "1" for 2001, "garbage" for no time (the certificate never due) and a time
 * without its zone in the local one.
 */
function inventoryOf(value: unknown, where: string, fix: string): DeployedCertificate[] {
    if (!Array.isArray(value)) throw new DeployedInputError(`${where} is not a list of certificates`);
    return value.map((row: Record<string, unknown>, i) => {
        const missing = ROW_TEXT_FIELDS.filter((f) => typeof row?.[f] !== "string");
        if (missing.length > 0 || !Number.isInteger(row.epoch)) {
            throw new DeployedInputError(
                `${where}[${i}] is not an issued certificate (needs ${[...ROW_TEXT_FIELDS, "epoch"].join(", ")}; ` +
                    `an inventory of a version before issued inventories?)`,
            );
        }
        const time = (field: "notBefore" | "notAfter" | "keySince" | "renewAt"): Date => {
            const problem = inventoryTimeProblem(`${where}[${i}].${field} (of ${row.id as string})`, row[field]);
            if (problem !== undefined) throw new DeployedInputError(`${problem}; ${fix}`);
            return isoInstant(row[field] as string) as Date;
        };
        return {
            ...(row as unknown as IssuedCertificate),
            notBefore: time("notBefore"),
            notAfter: time("notAfter"),
            renewAt: time("renewAt"),
            // Inventories of earlier versions have none.
            keySince: row.keySince === undefined ? undefined : time("keySince"),
        };
    });
}

const WHAT_TO_GIVE = `give the JSON of "pulumi stack output --json" or a render's folder (inventory.json and deployment.json)`;

/** `file` as JSON; `name` is how messages call it (the given path, or a file of the given folder). */
function readJson(file: string, name: string): unknown {
    let text: string;
    try {
        text = readRegularFile(file);
    } catch (error) {
        const code = codeOf(error);
        throw new DeployedInputError(
            code === "ENOENT" ? `${name} is missing; ${WHAT_TO_GIVE}` : `cannot read ${name}: ${code}`,
        );
    }
    try {
        return JSON.parse(text);
    } catch (error) {
        throw new DeployedInputError(`${name} is not JSON${jsonBreak(error)}; ${WHAT_TO_GIVE}`);
    }
}

/**
 * The environment the inventory's client identities name (plan.ts: urn:apic-istio-pki:<environment>:
 * apic-client:<endpoint>, and :ui-client:<name>), or undefined when none does. Every stack has an
 * endpoint, so its APIC client's identity is there.
 */
function environmentOfIdentities(inventory: readonly DeployedCertificate[]): string | undefined {
    const names = new Set(
        inventory.flatMap((c) =>
            (Array.isArray(c.uris) ? c.uris : []).flatMap((uri: unknown) => {
                const name = typeof uri === "string" ? /^urn:apic-istio-pki:([a-z0-9-]+):/.exec(uri)?.[1] : undefined;
                return name === undefined ? [] : [name];
            }),
        ),
    );
    if (names.size > 1) {
        throw new DeployedInputError(
            `its inventory's client identities (urn:apic-istio-pki:<environment>:...) name several environments, ` +
                `${[...names].map((n) => `"${n}"`).join(", ")}: give the outputs of one stack ("pulumi stack output --json")`,
        );
    }
    return [...names][0];
}

/**
 * What is deployed, with its environment when the input tells it (a render's inventory.json
 * names it; stack outputs, by their inventory's client identities) and, for stack outputs, those
 * that hold a private key in plain text. Messages start with what follows the path the user gave
 * ("--deployed X: ...").
 */
export function readDeployed(fileOrDir: string): Deployed & {
    source: "render" | "stack outputs";
    environment?: string;
    plainKeyOutputs?: readonly string[];
} {
    if (!fs.existsSync(fileOrDir)) throw new DeployedInputError(`no such file or folder; ${WHAT_TO_GIVE}`);
    if (fs.statSync(fileOrDir).isDirectory()) {
        const inventory = readJson(path.join(fileOrDir, "inventory.json"), "its inventory.json") as {
            environment?: unknown;
            certificates?: unknown;
        };
        const record = recordOf(
            readJson(path.join(fileOrDir, "deployment.json"), "its deployment.json"),
            "its deployment.json:",
        );
        return {
            inventory: inventoryOf(
                inventory?.certificates,
                "its inventory.json certificates",
                "render again, which writes it anew, or restore the inventory.json the render wrote",
            ),
            record,
            source: "render",
            ...(typeof inventory?.environment === "string" ? { environment: inventory.environment } : {}),
        };
    }
    const outputs = readJson(fileOrDir, "it") as Record<string, unknown> | null;
    // Stacks deployed by earlier versions called the record caRotation (lib/program.ts reads both).
    // Only an output missing is absent: one that holds null is a damaged record, which recordOf refuses.
    const output = outputs?.deploymentRecord === undefined ? "caRotation" : "deploymentRecord";
    const recordValue = outputs?.[output];
    if (typeof outputs !== "object" || outputs === null || !("inventory" in outputs) || recordValue === undefined) {
        throw new DeployedInputError(`has no outputs inventory and deploymentRecord: ${WHAT_TO_GIVE}`);
    }
    const record = recordOf(recordValue, "its", output);
    const inventory = inventoryOf(
        outputs.inventory,
        "its inventory",
        "give the outputs of the stack's last update again",
    );
    const environment = environmentOfIdentities(inventory);
    return {
        inventory,
        record,
        source: "stack outputs",
        ...(environment !== undefined ? { environment } : {}),
        // Read without --show-secrets, `pulumi stack output --json` shows a secret as "[secret]": a
        // key seen there is readable by anyone who can read the stack. (No policy can find it: the
        // policy SDK hands policies secrets unwrapped, as plain values.)
        plainKeyOutputs: privateKeyPaths(outputs),
    };
}
