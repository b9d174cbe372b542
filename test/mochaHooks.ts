/**
 * Mocha's root hooks for the suite (.mocharc.js requires this file in every worker).
 *
 * A parallel worker serializes a failed test's error in place, deleting every function it finds on
 * the objects the error leads to. A Pulumi ResourceError leads through its `resource` into the
 * SDK's outputs, which then throw "this.allResources is not a function": the failure is reported
 * as an uncaught error outside the suite and the whole file's results are lost. The resource is
 * dropped from the error before the worker serializes it; its message names the resource already.
 */
export const mochaHooks = {
    afterEach(this: Mocha.Context): void {
        const error = this.currentTest?.err as { resource?: unknown } | undefined;
        if (error !== undefined && "resource" in error) delete error.resource;
    },
};
