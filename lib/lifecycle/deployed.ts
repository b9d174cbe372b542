/**
 * What is deployed, read from what the stack exports: `pulumi stack output --json` (the outputs
 * `inventory` and `deploymentRecord`), or a render's folder (inventory.json and deployment.json).
 * Shapes are checked: the values crossed a serialisation boundary.
 */
import * as fs from "fs";
import * as path from "path";
import { readRegularFile } from "../files";
import { IssuedCertificate } from "../inventory/issued";
import { parseRecord } from "../plan/caRotation";
import { Deployed } from "./rules";

/** Deployed material that cannot be read. */
export class DeployedInputError extends Error {}

const ROW_TEXT_FIELDS = ["id", "role", "issuer", "notBefore", "notAfter", "renewAt"] as const;

function inventoryOf(value: unknown, where: string): IssuedCertificate[] {
    if (!Array.isArray(value)) throw new DeployedInputError(`${where} is not a list of certificates`);
    for (const [i, row] of value.entries()) {
        const fields = row as Record<string, unknown>;
        const missing = ROW_TEXT_FIELDS.filter((f) => typeof fields?.[f] !== "string");
        if (missing.length > 0 || !Number.isInteger(fields.epoch)) {
            throw new DeployedInputError(
                `${where}[${i}] is not an issued certificate (needs ${[...ROW_TEXT_FIELDS, "epoch"].join(", ")}; ` +
                    `an inventory of a version before issued inventories?)`,
            );
        }
    }
    return value as IssuedCertificate[];
}

function readJson(file: string): unknown {
    let text: string;
    try {
        text = readRegularFile(file);
    } catch (error) {
        throw new DeployedInputError(`cannot read ${file}: ${(error as Error).message}`);
    }
    try {
        return JSON.parse(text);
    } catch (error) {
        throw new DeployedInputError(`${file} is not JSON: ${(error as Error).message}`);
    }
}

/** What is deployed, with the environment when the input names it (a render's inventory.json does). */
export function readDeployed(fileOrDir: string): Deployed & { environment?: string } {
    if (!fs.existsSync(fileOrDir)) throw new DeployedInputError(`${fileOrDir}: no such file or folder`);
    if (fs.statSync(fileOrDir).isDirectory()) {
        const inventoryFile = path.join(fileOrDir, "inventory.json");
        const recordFile = path.join(fileOrDir, "deployment.json");
        const inventory = readJson(inventoryFile) as { environment?: unknown; certificates?: unknown };
        const record = parseRecord(readJson(recordFile));
        if (record === undefined) throw new DeployedInputError(`${recordFile} is not a deployment record`);
        return {
            inventory: inventoryOf(inventory?.certificates, `${inventoryFile} certificates`),
            record,
            ...(typeof inventory?.environment === "string" ? { environment: inventory.environment } : {}),
        };
    }
    const outputs = readJson(fileOrDir) as Record<string, unknown> | null;
    // Stacks deployed by earlier versions called the record caRotation (lib/program.ts reads both).
    const recordValue = outputs?.deploymentRecord ?? outputs?.caRotation;
    if (typeof outputs !== "object" || outputs === null || !("inventory" in outputs) || recordValue === undefined) {
        throw new DeployedInputError(
            `${fileOrDir} has no outputs inventory and deploymentRecord: give the JSON of "pulumi stack output --json" or a render's folder`,
        );
    }
    const record = parseRecord(recordValue);
    if (record === undefined) throw new DeployedInputError(`${fileOrDir}: deploymentRecord is not a deployment record`);
    return { inventory: inventoryOf(outputs.inventory, `${fileOrDir}: inventory`), record };
}
