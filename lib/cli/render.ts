/** render (--stack NAME | --config FILE) [--out DIR] [--force] */
import * as fs from "fs";
import * as path from "path";
import { EngineState } from "../engine/standIn";
import { rawConfigFromStackFile } from "../config/load";
import { planFromRawConfig } from "../plan/plan";
import { deployedRecordOf, renderPlan } from "../render/render";
import { Command, parse, stackFilePath } from "./stackSource";

const USAGE = `usage: render (--stack NAME | --config FILE) [--out DIR] [--force] [--state FILE]

Renders what the stack would create, offline, with real keys and certificates:
  DIR/inventory.json                         every certificate and where it goes
  DIR/k8s/<cluster>/<namespace>/<kind>-<name>.yaml
  DIR/apic/<endpoint>/client.crt client.key ca-chain.pem truststore.pem
Private keys are written 0600 in 0700 folders. DIR defaults to out/<stack>.
--state FILE keeps the stand-in's state (keys included, mode 0600) between renders, as the
engine's state does between updates: e.g. to rehearse the offline-root ceremony, whose first
render stops after writing DIR/csr/<id>.csr and whose second uses the signed certificates, or a
staged CA rotation (pki:caRotation), whose phases are checked against the previous render.`;

export const renderCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{ stack?: string; config?: string; out?: string; force?: boolean; state?: string }>(argv, {
            stack: { type: "string" },
            config: { type: "string" },
            out: { type: "string" },
            force: { type: "boolean" },
            state: { type: "string" },
        });
        const { file, label } = stackFilePath(values);
        const state: EngineState = new Map(
            values.state !== undefined && fs.existsSync(values.state)
                ? JSON.parse(fs.readFileSync(values.state, "utf8"))
                : [],
        );
        // As `pulumi up` does, check CA rotation phases against the last run of this state.
        const plan = planFromRawConfig(rawConfigFromStackFile(file), { deployed: deployedRecordOf(state) });
        const outDir = path.resolve(values.out ?? path.join("out", label));
        const started = Date.now();
        const saveState = (): void => {
            if (values.state !== undefined) fs.writeFileSync(values.state, JSON.stringify([...state]), { mode: 0o600 });
        };
        let result;
        try {
            result = await renderPlan(plan, outDir, { force: values.force === true, stack: label, state });
        } finally {
            saveState();
        }
        out(
            `rendered ${path.relative(process.cwd(), file)} (Option ${plan.config.option}): ${plan.endpoints.length} endpoints, ` +
                `${result.inventory.length} certificates, ${result.engine.kubernetesObjects().length} Kubernetes objects ` +
                `-> ${path.relative(process.cwd(), outDir) || "."} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
        for (const warning of result.engine.warnings) process.stderr.write(`warning: ${warning}\n`);
        return 0;
    },
};
