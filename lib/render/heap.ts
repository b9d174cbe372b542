/**
 * Whether a render fits in this process's heap, decided before any key is made. Under mocks the
 * Pulumi SDK holds about 200 KB of heap per registered resource until every registration has
 * settled (bench/renderHeap.ts: a peak of 162-192 KB per resource from 2,271 to 18,021 resources;
 * 175 KB at 10,000 endpoints, 15.4 GB, rendered in 806 s with the 18 GB heap this module asks for;
 * the fast-mock bench: 196 KB at 45,021), so a large stack used to end in a V8 out-of-memory abort
 * after minutes of work.
 */
import * as v8 from "v8";

/** Heap per registered resource: the measured peak rounded up. */
export const HEAP_BYTES_PER_RESOURCE = 200 * 1024;
/** The process before the render (modules, plan) and the stack's fixed resources. */
export const HEAP_BASE_BYTES = 256 * 2 ** 20;
/** Resources per endpoint (README "What each part creates"). */
export const RESOURCES_PER_ENDPOINT = 9;

const GB = 2 ** 30;
const MB = 2 ** 20;

/** The heap limit of this process (what --max-old-space-size sets). */
export function heapLimitBytes(): number {
    return v8.getHeapStatistics().heap_size_limit;
}

/** Heap a render of `endpoints` endpoints takes under the stand-in. */
export function renderHeapBytes(endpoints: number): number {
    return HEAP_BASE_BYTES + endpoints * RESOURCES_PER_ENDPOINT * HEAP_BYTES_PER_RESOURCE;
}

/** Why a stack of `endpoints` endpoints cannot be rendered within `limitBytes` of heap, or undefined when it can. */
export function heapShortfall(endpoints: number, option: number, limitBytes: number): string | undefined {
    const needed = renderHeapBytes(endpoints);
    if (needed <= limitBytes) return undefined;
    const neededMb = Math.ceil(needed / (1024 * MB)) * 1024;
    return (
        `Option ${option} with ${endpoints} endpoints needs about ${(needed / GB).toFixed(1)} GB of heap to render ` +
        `(${endpoints * RESOURCES_PER_ENDPOINT} resources at about ${HEAP_BYTES_PER_RESOURCE / 1024} KB each under the ` +
        `Pulumi SDK's mocks); this process may use ${(limitBytes / GB).toFixed(1)} GB. Run with ` +
        `NODE_OPTIONS=--max-old-space-size=${neededMb} on a machine with that much free memory, or split the stack ` +
        `into several (e.g. one per domain)`
    );
}
