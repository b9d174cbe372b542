/** `--stack NAME` or `--config FILE`: which stack file a command reads. */
import * as fs from "fs";
import * as path from "path";

/** The package root (where Pulumi.yaml and stacks/ live), from dist/lib/cli or lib/cli. */
export const PACKAGE_ROOT = path.resolve(
    __dirname,
    fs.existsSync(path.resolve(__dirname, "../../Pulumi.yaml")) ? "../.." : "../../..",
);

export function stackFilePath(options: { stack?: string; config?: string }): { file: string; label: string } {
    if (options.stack !== undefined && options.config !== undefined) {
        throw new UsageError("give either --stack NAME or --config FILE, not both");
    }
    if (options.config !== undefined) {
        const file = path.resolve(options.config);
        if (!fs.existsSync(file)) throw new UsageError(`--config ${options.config}: no such file`);
        return {
            file,
            label: path
                .basename(file)
                .replace(/^Pulumi\./, "")
                .replace(/\.ya?ml$/, ""),
        };
    }
    if (options.stack !== undefined) {
        const file = path.join(PACKAGE_ROOT, "stacks", `Pulumi.${options.stack}.yaml`);
        if (!fs.existsSync(file)) {
            const known = fs
                .readdirSync(path.join(PACKAGE_ROOT, "stacks"))
                .map((f) => f.replace(/^Pulumi\.|\.yaml$/g, ""));
            throw new UsageError(
                `--stack ${options.stack}: no stacks/Pulumi.${options.stack}.yaml; known stacks: ${known.join(", ")}`,
            );
        }
        return { file, label: options.stack };
    }
    throw new UsageError("give --stack NAME (reads stacks/Pulumi.NAME.yaml) or --config FILE");
}

/** A mistake in how the command was called: exit status 2 and the usage text. */
export class UsageError extends Error {}
