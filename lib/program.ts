/** Pulumi entry point (Pulumi.yaml `main`): stack config -> plan -> resources -> stack outputs. */
import * as pulumi from "@pulumi/pulumi";
import { rawConfigFromEngine } from "./config/load";
import { planFromRawConfig } from "./plan/plan";
import { buildPki } from "./stack";

export = buildPki(planFromRawConfig(rawConfigFromEngine(pulumi.runtime.allConfig()))).outputs;
