/** Pulumi entry point (Pulumi.yaml `main`): stack config -> plan -> resources -> stack outputs. */
import * as pulumi from "@pulumi/pulumi";
import { rawConfigFromEngine } from "./config/load";
import { validateConfig } from "./config/validate";
import { INITIAL_RECORD, parseRecord, RotationRecord } from "./plan/caRotation";
import { planPki } from "./plan/plan";
import { buildPki, pendingSignaturesMessage, requestOfflineSignatures } from "./stack";

/**
 * The rotation record of this stack's last update (its own output `caRotation`), so that a CA
 * rotation moves one phase at a time and a finish can revoke the old CA. A stack that has none yet
 * starts from INITIAL_RECORD: every CA at generation 0.
 */
async function deployedRecord(): Promise<RotationRecord> {
    const self = new pulumi.StackReference("deployed-stack", {
        name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const details = await self.getOutputDetails("caRotation");
    const value = details.value ?? details.secretValue;
    if (value === undefined) return INITIAL_RECORD;
    const record = parseRecord(value);
    if (record === undefined) {
        throw new Error(
            "the deployed stack's output caRotation is not a rotation record; restore it from the previous update's outputs (pulumi stack history) before changing pki:caRotation",
        );
    }
    return record;
}

export = async () => {
    // Config errors stop the program before anything at all is registered.
    const config = validateConfig(rawConfigFromEngine(pulumi.runtime.allConfig()));
    const plan = planPki(config, { deployed: await deployedRecord() });
    if (plan.pendingIntermediates.length > 0) {
        const outputs = requestOfflineSignatures(plan);
        // The keys and CSRs are created and exported; the update still fails, so nobody takes a
        // half-built PKI for a finished one.
        pulumi.log.error(pendingSignaturesMessage(plan));
        return outputs;
    }
    return buildPki(plan).outputs;
};
