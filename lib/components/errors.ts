/** The error the components raise for a bad argument (keys.ts re-exports it; pem.ts, which keys.ts imports, uses it too). */
import * as pulumi from "@pulumi/pulumi";

/**
 * The error a component raises for a bad argument. Raised in an apply (a check of PEMs that come
 * as outputs), it reaches Pulumi's host as an unhandled rejection, which the host prints with its
 * stack and every member, the resource object's too, unless the ResourceError asks for its
 * message alone (hideStack).
 */
export function argumentError(message: string, resource: pulumi.Resource): pulumi.ResourceError {
    return new pulumi.ResourceError(message, resource, true);
}
