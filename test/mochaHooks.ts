/**
 * Mocha's root hooks for the suite (.mocharc.js requires this file in every worker).
 *
 * A parallel worker serializes a failed test's error in place, deleting every function it finds on
 * the objects the error leads to. An error that leads to live Pulumi objects (a ResourceError's
 * `resource`; an assertion's `actual` holding an Output) would leave them without their methods:
 * the SDK then throws "this.allResources is not a function", reported as an uncaught error outside
 * the suite, and the whole file's results are lost. So the error's members are replaced by
 * detached copies first: what mocha would send, without touching the objects themselves.
 */

/** Mocha's own type names (its utils `type`): "object", "array", "error", "function", "date", ... */
const typeOf = (value: unknown): string => Object.prototype.toString.call(value).slice(8, -1).toLowerCase();

/** Past this depth a member is shown as a note: a Pulumi resource leads into the whole runtime. */
const MAX_DEPTH = 6;

/**
 * A copy of `value` as mocha's serializer would leave it (functions dropped, errors with their
 * message and stack), made of new objects only: the originals keep their methods.
 */
function detached(value: unknown, seen: Map<object, unknown>, depth: number): unknown {
    const kind = typeOf(value);
    if (kind !== "object" && kind !== "array" && kind !== "error") return value;
    const original = value as Record<string, unknown>;
    const known = seen.get(original);
    if (known !== undefined) return known;
    if (depth > MAX_DEPTH) return `[${original.constructor?.name ?? "object"} not copied: nested too deeply]`;
    if (Array.isArray(original)) {
        const copy: unknown[] = [];
        seen.set(original, copy);
        for (const member of original)
            copy.push(typeOf(member) === "function" ? undefined : detached(member, seen, depth + 1));
        return copy;
    }
    const copy: Record<string, unknown> =
        kind === "error"
            ? {
                  name: (original as unknown as Error).name,
                  message: (original as unknown as Error).message,
                  stack: (original as unknown as Error).stack,
              }
            : {};
    seen.set(original, copy);
    for (const key of Object.keys(original)) {
        const member = original[key];
        if (typeOf(member) !== "function") copy[key] = detached(member, seen, depth + 1);
    }
    return copy;
}

/**
 * Replaces each member of a failed test's error by a detached copy, in place (the failure event
 * already holds this error object). A ResourceError's `resource` is dropped: its message names it.
 */
export function detachError(error: object): void {
    const members = error as Record<string, unknown>;
    delete members.resource;
    const seen = new Map<object, unknown>([[error, error]]);
    for (const key of Object.keys(members)) {
        if (typeOf(members[key]) === "function") delete members[key];
        else members[key] = detached(members[key], seen, 1);
    }
}

export const mochaHooks = {
    afterEach(this: Mocha.Context): void {
        const error: unknown = this.currentTest?.err;
        if (typeof error === "object" && error !== null) detachError(error);
    },
};
