/** Pulumi entry point (Pulumi.yaml `main`): stack config -> plan -> resources -> stack outputs. */
import * as pulumi from "@pulumi/pulumi";
import { rawConfigFromEngine } from "./config/load";
import { planFromRawConfig } from "./plan/plan";
import { buildPki, pendingSignaturesMessage, requestOfflineSignatures } from "./stack";

const plan = planFromRawConfig(rawConfigFromEngine(pulumi.runtime.allConfig()));

function pendingStage(): ReturnType<typeof requestOfflineSignatures> {
    const outputs = requestOfflineSignatures(plan);
    // The keys and CSRs are created and exported; the update still fails, so nobody takes a
    // half-built PKI for a finished one.
    pulumi.log.error(pendingSignaturesMessage(plan));
    return outputs;
}

export = plan.pendingIntermediates.length > 0 ? pendingStage() : buildPki(plan).outputs;
