/**
 * The bench's check that its baseline (bench/baseline.ts) is a fair one: it registers exactly the
 * stack's resources (as many times, through the same providers, with the same inputs) and computes
 * the same outputs, secret where the stack's are, so that the construction ratio compares like
 * with like. `npm run bench` runs it at 24 services; the suite at 2.
 */
import * as crypto from "crypto";
import * as util from "util";
import * as pulumi from "@pulumi/pulumi";
import { resolve } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { PkiPlan, planFromRawConfig } from "../lib/plan/plan";
import { buildPki } from "../lib/stack";
import { baseline } from "./baseline";

export function rawConfig(services: number, extra = 0): Record<string, unknown> {
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-svc-${i}`);
    const half = Math.floor(services / 2);
    return {
        environment: "bench",
        option: 2,
        baseDomain: "bench.api.bank.example",
        domains: { ob: { services: names("ob", half + extra) }, dp: { services: names("dp", services - half) } },
    };
}

/**
 * A self-signed CA certificate for a key, made by the engine stand-in (usable as server and client,
 * and as every CA of the fast mock: the components check that an issuer is a CA with its key).
 */
export function selfSigned(keyPem: string): string {
    return tlsProvider.selfSignedCert({
        privateKeyPem: keyPem,
        subject: { commonName: "bench" },
        isCaCertificate: true,
        allowedUses: ["cert_signing", "digital_signature", "key_encipherment", "server_auth", "client_auth"],
        validityPeriodHours: 24,
    }).state.certPem as string;
}

/** A real ECDSA key and its self-signed CA certificate, for the fast mock. */
interface FastMaterial {
    keyPem: string;
    publicKeyPem: string;
    certPem: string;
}

function fastMaterial(): FastMaterial {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const keyPem = privateKey.export({ type: "sec1", format: "pem" }) as string;
    const publicKeyPem = crypto.createPublicKey(privateKey).export({ type: "spki", format: "pem" }) as string;
    return { keyPem, publicKeyPem, certPem: selfSigned(keyPem) };
}

/**
 * The key and certificate handed back for every tls resource of the APIC-client trust domain
 * (its root, its CA and the APIC client certificates, all named "...client..."), and the one for
 * every other: fast, and valid PEM for the code that parses it. Two, not one: ApicClientBundle
 * refuses a server truststore holding a key of the client CA's side.
 */
let fastMaterials: { client: FastMaterial; other: FastMaterial } | undefined;

export function fastMocks(): pulumi.runtime.Mocks & { count: number } {
    fastMaterials ??= { client: fastMaterial(), other: fastMaterial() };
    const materials = fastMaterials;
    const mocks = {
        count: 0,
        newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
            mocks.count++;
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type.startsWith("tls:")) {
                const { keyPem, publicKeyPem, certPem } = /client/.test(args.name) ? materials.client : materials.other;
                Object.assign(state, { privateKeyPem: keyPem, publicKeyPem, certPem, certRequestPem: "" });
            }
            if (args.type.startsWith("random:")) state.result = "benchpassword";
            return { id: `${args.name}-id`, state };
        },
        call: () => ({}),
    };
    return mocks;
}

/**
 * One registration as the engine gets it: type, name, explicit provider (its type and name, from
 * "<urn>::<id>") and inputs (secret inputs carry the SDK's secret marker, so their secretness counts).
 */
function registration(args: pulumi.runtime.MockResourceArgs): string {
    const provider = args.provider === undefined ? "none" : args.provider.split("::").slice(2, 4).join("::");
    return `${args.type} ${args.name} provider=${provider} ${JSON.stringify(args.inputs)}`;
}

/** The registrations of one run, components left out, each passed through `alter` first (see BaselineChange). */
function recording(
    alter: (args: pulumi.runtime.MockResourceArgs) => pulumi.runtime.MockResourceArgs[],
): pulumi.runtime.Mocks & { seen: string[]; count: number } {
    const fast = fastMocks();
    const seen: string[] = [];
    return {
        seen,
        get count() {
            return fast.count;
        },
        newResource(args) {
            const sent = alter(args);
            for (const each of sent) if (!each.type.startsWith("apic-istio-pki:")) seen.push(registration(each));
            return fast.newResource(sent[0]);
        },
        call: fast.call,
    };
}

/**
 * The entries of `these` that `those` lacks, counted as multisets: a registration made twice in
 * `these` and once in `those` is missing once (the fast mock, unlike the engine, accepts both).
 */
function missingFrom(these: readonly string[], those: readonly string[]): string[] {
    const left = new Map<string, number>();
    for (const r of those) left.set(r, (left.get(r) ?? 0) + 1);
    return these.filter((r) => {
        const count = left.get(r) ?? 0;
        left.set(r, count - 1);
        return count === 0;
    });
}

/** Where two resolved outputs differ: the paths of their differing values (a few are enough). */
function differingPaths(stack: unknown, base: unknown, at = "outputs"): string[] {
    if (util.isDeepStrictEqual(stack, base)) return [];
    if (typeof stack !== "object" || typeof base !== "object" || stack === null || base === null) return [at];
    const keys = [...new Set([...Object.keys(stack), ...Object.keys(base)])];
    return keys.flatMap((key) =>
        differingPaths((stack as Record<string, unknown>)[key], (base as Record<string, unknown>)[key], `${at}.${key}`),
    );
}

/** Where a program's outputs are secret: the path of each secret Output (what is under it is secret too). */
async function secretPaths(value: unknown, at = "outputs"): Promise<string[]> {
    if (pulumi.Output.isInstance(value)) return (await pulumi.isSecret(value)) ? [at] : [];
    if (typeof value !== "object" || value === null) return [];
    const paths = await Promise.all(Object.entries(value).map(([key, v]) => secretPaths(v, `${at}.${key}`)));
    return paths.flat();
}

/**
 * What the tests of this check change in the baseline's run, to see that it notices: the program
 * (default bench/baseline.ts), and what reaches the engine instead of each registration.
 */
export interface BaselineChange {
    program?: (plan: PkiPlan) => Record<string, unknown>;
    alter?: (args: pulumi.runtime.MockResourceArgs) => pulumi.runtime.MockResourceArgs[];
}

/**
 * True when the baseline registers exactly the stack's resources, as many times each, with the
 * same providers and inputs, and returns the same outputs, secret where the stack's are (a small
 * size is enough). Both build from one plan, so that the deployment record's times agree.
 */
export async function sameInputs(
    size: number,
    change: BaselineChange = {},
): Promise<{ same: boolean; resources: number; differences: string[] }> {
    const plan = planFromRawConfig(rawConfig(size));
    const run = async (
        program: () => Record<string, unknown>,
        alter = (args: pulumi.runtime.MockResourceArgs) => [args],
    ) => {
        const mocks = recording(alter);
        await pulumi.runtime.setMocks(mocks, "bench", "bench", false);
        const returned = program();
        const outputs = await resolve(returned as pulumi.Input<unknown>);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return { registered: mocks.seen, outputs, secret: await secretPaths(returned) };
    };
    const stack = await run(() => buildPki(plan).outputs as unknown as Record<string, unknown>);
    const base = await run(() => (change.program ?? baseline)(plan), change.alter);
    const differences = [
        ...missingFrom(stack.registered, base.registered).map((r) => `only in stack: ${r.slice(0, 200)}`),
        ...missingFrom(base.registered, stack.registered).map((r) => `only in baseline: ${r.slice(0, 200)}`),
        ...differingPaths(stack.outputs, base.outputs).map((at) => `differs: ${at}`),
        ...missingFrom(stack.secret, base.secret).map((at) => `secret in the stack only: ${at}`),
        ...missingFrom(base.secret, stack.secret).map((at) => `secret in the baseline only: ${at}`),
    ];
    return { same: differences.length === 0, resources: stack.registered.length, differences };
}
