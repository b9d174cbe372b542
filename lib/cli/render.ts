#!/usr/bin/env node
/** npm run render -- --stack dev [--out out/dev] [--force] | --config FILE */
import * as path from "path";
import { parseArgs } from "util";
import { rawConfigFromStackFile } from "../config/load";
import { ConfigError } from "../config/validate";
import { planFromRawConfig } from "../plan/plan";
import { renderPlan } from "../render/render";
import { stackFilePath, UsageError } from "./stackSource";

const USAGE = `usage: render (--stack NAME | --config FILE) [--out DIR] [--force]

Renders what the stack would create, offline, with real keys and certificates:
  DIR/inventory.json                         every certificate and where it goes
  DIR/k8s/<cluster>/<namespace>/<kind>-<name>.yaml
  DIR/apic/<endpoint>/client.crt client.key ca-chain.pem truststore.pem
Private keys are written 0600 in 0700 folders. DIR defaults to out/<stack>.`;

async function main(argv: string[]): Promise<number> {
    const { values } = parseArgs({
        args: argv,
        options: {
            stack: { type: "string" },
            config: { type: "string" },
            out: { type: "string" },
            force: { type: "boolean", default: false },
            help: { type: "boolean", short: "h", default: false },
        },
        strict: true,
    });
    if (values.help) {
        console.log(USAGE);
        return 0;
    }
    const { file, label } = stackFilePath(values);
    const plan = planFromRawConfig(rawConfigFromStackFile(file));
    const outDir = path.resolve(values.out ?? path.join("out", label));
    const started = Date.now();
    const result = await renderPlan(plan, outDir, { force: values.force, stack: label });
    console.log(
        `rendered ${path.relative(process.cwd(), file)} (Option ${plan.config.option}): ${plan.endpoints.length} endpoints, ` +
            `${result.inventory.length} certificates, ${result.engine.kubernetesObjects().length} Kubernetes objects ` +
            `-> ${path.relative(process.cwd(), outDir) || "."} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    for (const warning of result.engine.warnings) console.warn(`warning: ${warning}`);
    return 0;
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
        if (err instanceof ConfigError) {
            console.error(err.message);
            process.exit(1);
        }
        if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
            console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
            process.exit(2);
        }
        console.error(`error: ${(err as Error).message}`);
        process.exit(1);
    },
);
