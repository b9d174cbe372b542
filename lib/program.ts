/** Pulumi entry point (Pulumi.yaml `main`): stack config -> plan -> resources -> stack outputs. */
import * as pulumi from "@pulumi/pulumi";
import { rawConfigFromEngine } from "./config/load";
import { ConfigError } from "./config/validate";
import { INITIAL_RECORD, parseRecord, RecordError, recordRepair, RotationRecord } from "./plan/caRotation";
import { planFromRawConfig } from "./plan/plan";
import { buildPki, pendingSignaturesMessage, requestOfflineSignatures, updateWarnings } from "./stack";

/** The stack output the next update reads back; stacks deployed by earlier versions called it caRotation. */
const RECORD_OUTPUTS = ["deploymentRecord", "caRotation"];

/**
 * The record of this stack's last update (its own output `deploymentRecord`), so that a CA
 * rotation moves one phase at a time, a finish can revoke the old CA, a revoked serial is checked
 * against what the stack issued, and a rotating APIC client keeps its previous key pinned. A
 * stack that has none yet starts from INITIAL_RECORD.
 */
async function deployedRecord(): Promise<RotationRecord> {
    const self = new pulumi.StackReference("deployed-stack", {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    for (const name of RECORD_OUTPUTS) {
        const details = await self.getOutputDetails(name);
        // Only an output missing is absent: one that holds null is a damaged record, refused as render and lifecycle refuse it.
        const value = details.value !== undefined ? details.value : details.secretValue;
        if (value === undefined) continue;
        try {
            return parseRecord(value, name);
        } catch (error) {
            if (!(error instanceof RecordError)) throw error;
            const repair = recordRepair(error, "restore the stack's previous state (pulumi stack history)");
            throw new pulumi.RunError(
                `the deployed stack's output ${error.message}${repair}${repair === "" ? "" : ", before the next update"}`,
            );
        }
    }
    return INITIAL_RECORD;
}

/** Config and plan problems stop the program before anything at all is registered. */
async function planFromStack() {
    try {
        const raw = rawConfigFromEngine(pulumi.runtime.allConfig(), pulumi.getProject());
        return planFromRawConfig(raw, { deployed: await deployedRecord() });
    } catch (error) {
        // Pulumi prints a RunError's message alone, any other error with its stack trace.
        if (error instanceof ConfigError) throw new pulumi.RunError(error.message);
        throw error;
    }
}

export = async () => {
    const plan = await planFromStack();
    if (plan.pendingIntermediates.length > 0) {
        const outputs = requestOfflineSignatures(plan);
        // The keys and CSRs are created and exported; the update still fails, so nobody takes a
        // half-built PKI for a finished one.
        pulumi.log.error(pendingSignaturesMessage(plan));
        return outputs;
    }
    for (const warning of updateWarnings(plan)) pulumi.log.warn(warning);
    return buildPki(plan).outputs;
};
