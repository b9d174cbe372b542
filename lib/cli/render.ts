/** render (--stack NAME | --config FILE) [--out DIR] [--force] */
import * as path from "path";
import { rawConfigFromStackFile } from "../config/load";
import { planFromRawConfig } from "../plan/plan";
import { renderPlan } from "../render/render";
import { Command, parse, stackFilePath } from "./stackSource";

const USAGE = `usage: render (--stack NAME | --config FILE) [--out DIR] [--force]

Renders what the stack would create, offline, with real keys and certificates:
  DIR/inventory.json                         every certificate and where it goes
  DIR/k8s/<cluster>/<namespace>/<kind>-<name>.yaml
  DIR/apic/<endpoint>/client.crt client.key ca-chain.pem truststore.pem
Private keys are written 0600 in 0700 folders. DIR defaults to out/<stack>.`;

export const renderCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{ stack?: string; config?: string; out?: string; force?: boolean }>(argv, {
            stack: { type: "string" },
            config: { type: "string" },
            out: { type: "string" },
            force: { type: "boolean" },
        });
        const { file, label } = stackFilePath(values);
        const plan = planFromRawConfig(rawConfigFromStackFile(file));
        const outDir = path.resolve(values.out ?? path.join("out", label));
        const started = Date.now();
        const result = await renderPlan(plan, outDir, { force: values.force === true, stack: label });
        out(
            `rendered ${path.relative(process.cwd(), file)} (Option ${plan.config.option}): ${plan.endpoints.length} endpoints, ` +
                `${result.inventory.length} certificates, ${result.engine.kubernetesObjects().length} Kubernetes objects ` +
                `-> ${path.relative(process.cwd(), outDir) || "."} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
        for (const warning of result.engine.warnings) process.stderr.write(`warning: ${warning}\n`);
        return 0;
    },
};
