/**
 * The bench's check that its baseline (bench/baseline.ts) is a fair one: it registers exactly the
 * stack's resources with the same inputs and computes the same outputs, so that the construction
 * ratio compares like with like. `npm run bench` runs it at 24 services; the suite at 2.
 */
import * as crypto from "crypto";
import * as util from "util";
import * as pulumi from "@pulumi/pulumi";
import { resolve } from "../lib/engine/standIn";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { planFromRawConfig } from "../lib/plan/plan";
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

/** One real ECDSA key and certificate handed back for every tls resource: fast, and valid PEM for the code that parses it. */
let fastMaterial: { keyPem: string; publicKeyPem: string; certPem: string } | undefined;

export function fastMocks(): pulumi.runtime.Mocks & { count: number } {
    if (fastMaterial === undefined) {
        const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
        const keyPem = privateKey.export({ type: "sec1", format: "pem" }) as string;
        const publicKeyPem = crypto.createPublicKey(privateKey).export({ type: "spki", format: "pem" }) as string;
        fastMaterial = { keyPem, publicKeyPem, certPem: selfSigned(keyPem) };
    }
    const { keyPem, publicKeyPem, certPem } = fastMaterial;
    const mocks = {
        count: 0,
        newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
            mocks.count++;
            const state: Record<string, unknown> = { ...args.inputs };
            if (args.type.startsWith("tls:"))
                Object.assign(state, { privateKeyPem: keyPem, publicKeyPem, certPem, certRequestPem: "" });
            if (args.type.startsWith("random:")) state.result = "benchpassword";
            return { id: `${args.name}-id`, state };
        },
        call: () => ({}),
    };
    return mocks;
}

/** The registrations of one run, components left out: type, name and inputs. */
function recording(): pulumi.runtime.Mocks & { seen: string[]; count: number } {
    const fast = fastMocks();
    const seen: string[] = [];
    return {
        seen,
        get count() {
            return fast.count;
        },
        newResource(args) {
            if (!args.type.startsWith("apic-istio-pki:"))
                seen.push(`${args.type} ${args.name} ${JSON.stringify(args.inputs)}`);
            return fast.newResource(args);
        },
        call: fast.call,
    };
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

/**
 * True when the baseline registers exactly the stack's resources, with the same inputs, and
 * returns the same outputs (a small size is enough). Both build from one plan, so that the
 * deployment record's times agree.
 */
export async function sameInputs(size: number): Promise<{ same: boolean; resources: number; differences: string[] }> {
    const plan = planFromRawConfig(rawConfig(size));
    const run = async (which: "stack" | "baseline") => {
        const mocks = recording();
        await pulumi.runtime.setMocks(mocks, "bench", "bench", false);
        const outputs = await resolve(
            (which === "stack" ? buildPki(plan).outputs : baseline(plan)) as pulumi.Input<unknown>,
        );
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        await (require("@pulumi/pulumi/runtime/settings") as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return { registered: mocks.seen.sort(), outputs };
    };
    const stack = await run("stack");
    const base = await run("baseline");
    const differences = [
        ...stack.registered.filter((r) => !base.registered.includes(r)).map((r) => `only in stack: ${r.slice(0, 160)}`),
        ...base.registered
            .filter((r) => !stack.registered.includes(r))
            .map((r) => `only in baseline: ${r.slice(0, 160)}`),
        ...differingPaths(stack.outputs, base.outputs).map((at) => `differs: ${at}`),
    ];
    return { same: differences.length === 0, resources: stack.registered.length, differences };
}
