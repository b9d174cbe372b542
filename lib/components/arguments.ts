/**
 * Checks of the components' plain arguments as other languages send them through the component
 * provider: untyped, so text where a flag belongs, an output where a plain value belongs. Each
 * refusal names the component and argument (`what`), the value and the fix, before any child is
 * registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { Json, LABEL_KEY, LABEL_VALUE, showJson } from "../config/values";
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

/**
 * Pod labels: a non-empty map of Kubernetes label keys to values, as the stack's pki:frontEnd
 * checks them, or `fallback` when unset. Text spread into a selector would make one label per
 * character ({ "0": "a", ... }), which selects no pod; no label at all selects every pod.
 */
export function labelsArgument(
    value: unknown,
    fallback: Record<string, string>,
    what: string,
    resource: pulumi.Resource,
): Record<string, string> {
    if (value === undefined) return fallback;
    refuseOutput(value, what, resource);
    const example = Object.entries(fallback)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join(", ");
    if (
        typeof value !== "object" ||
        value === null ||
        Object.getPrototypeOf(value) !== Object.prototype ||
        Object.keys(value).length === 0
    ) {
        throw argumentError(
            `${what} must be a non-empty map of pod labels, e.g. { ${example} }; got ${showJson(value as Json)}`,
            resource,
        );
    }
    for (const [k, v] of Object.entries(value)) {
        refuseOutput(v, `${what}.${k}`, resource);
        if (!LABEL_KEY.test(k) || typeof v !== "string" || !LABEL_VALUE.test(v)) {
            throw argumentError(
                `${what} ${showJson({ [k]: v as Json })} is not a Kubernetes label: a key is [prefix/]name, a name or value at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
                resource,
            );
        }
    }
    return value as Record<string, string>;
}
