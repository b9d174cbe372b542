/** Small pure helpers for PEM bundles shared by the components. */
import * as pulumi from "@pulumi/pulumi";

/** Concatenate PEM blocks, each ending in exactly one newline (the provider's own format). */
export function joinPem(...blocks: string[]): string {
    return blocks
        .filter((b) => b.trim() !== "")
        .map((b) => (b.endsWith("\n") ? b : `${b}\n`))
        .join("");
}

/** joinPem over Pulumi inputs. */
export function joinPemOutputs(...blocks: pulumi.Input<string>[]): pulumi.Output<string> {
    return pulumi.all(blocks).apply((values) => joinPem(...values));
}
