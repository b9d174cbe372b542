/**
 * Checks of the components' plain arguments as other languages send them through the component
 * provider: untyped, so text where a flag belongs, an output where a plain value belongs. Each
 * refusal names the component and argument (`what`), the value and the fix, before any child is
 * registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Json, showJson } from "../config/values";
import { argumentError } from "./errors";

/**
 * Refuses an output (or promise) where a plain value belongs: a Python program passing a stack
 * reference's output. Its members or text are not known while the component is made, and showing
 * it would print Pulumi's warning about calling toJSON instead of the value.
 */
export function refuseOutput(value: unknown, what: string, resource: pulumi.Resource): void {
    if (pulumi.Output.isInstance(value) || value instanceof Promise) {
        throw argumentError(
            `${what} must be a plain value, not an output: it shapes the resources made, so it must be known before they are; give the value itself (from config, for example)`,
            resource,
        );
    }
}

/**
 * A flag: true, false or unset (`fallback`). Anything else is refused: text "false" (YAML, a
 * Python string) or an output is truthy, and would turn the flag on.
 */
export function flagArgument(value: unknown, fallback: boolean, what: string, resource: pulumi.Resource): boolean {
    if (value === undefined) return fallback;
    refuseOutput(value, what, resource);
    if (typeof value !== "boolean") {
        throw argumentError(
            `${what} must be true or false; got ${showJson(value as Json)}. Write the boolean without quotes, or leave it unset (${fallback})`,
            resource,
        );
    }
    return value;
}
