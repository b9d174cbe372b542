/**
 * The offline engine stand-in: `pulumi.runtime.setMocks` with real cryptography for
 * `tls:index/*`, random values for `random:index/*` passwords, strings, ids, integers and pets
 * (./randomProvider.ts), and a record of every other resource (Kubernetes objects, providers,
 * components).
 *
 * Like the engine's state, it can hand back the same outputs when a resource of the same type and
 * name is registered again with identical inputs (pass one `EngineState` to several runs), which
 * is also how a test suite generates each CA key only once. As @pulumi/tls does, a certificate
 * whose only changed inputs are its early-renewal window, or PEM inputs whose value in state is no
 * PEM alone (a "Bag Attributes" preamble, CRLF), keeps its outputs (an in-place update).
 * Unlike the engine, a state deletes nothing unless told (EngineStandIn.deleteUnregistered).
 */
import * as pulumi from "@pulumi/pulumi";
import { AsyncLocalStorage } from "node:async_hooks";
import * as util from "node:util";
import { HOUR_MS } from "../pki/crl";
import { PROVIDER_PEM, withArticle } from "../pki/pem";
import { RANDOM_RESOURCES } from "./randomProvider";
import { TestKeyFile } from "./testKeys";
import * as tlsProvider from "./tlsProvider";

/** The marker the SDK wraps secret inputs in when it sends them to a mock. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    /** Inputs with secret wrappers removed. */
    readonly inputs: Record<string, unknown>;
    /** Inputs as the SDK sent them: secrets wrapped in its secret signature, as the engine hands them to a policy pack. */
    readonly sentInputs: Record<string, unknown>;
    readonly id: string;
    readonly state: Record<string, unknown>;
    /** Resource name of the explicit provider, if any (for Kubernetes objects: the cluster). */
    readonly providerName?: string;
    /**
     * Read, not created (`Resource.get(name, id)`, a StackReference): the program does not manage
     * it. Its id is the one asked for; its state, the properties the program gave (the stand-in
     * knows no cluster).
     */
    readonly read?: true;
}

/** Outputs kept between runs, keyed by type and name, valid while the inputs stay identical. */
export type EngineState = Map<
    string,
    {
        inputsJson: string;
        id: string;
        state: Record<string, unknown>;
        /**
         * A PrivateKey's generation of its name and inputs (see keysMade) from 2 on, kept with it so
         * that a state read back from a file still knows which generation it holds.
         */
        keyGeneration?: number;
    }
>;

/** Where the state keeps the stack's own outputs of its last run (what a StackReference to itself reads). */
const STACK_OUTPUTS_KEY = "pulumi:pulumi:Stack::outputs";

export function saveStackOutputs(state: EngineState, outputs: Record<string, unknown>): void {
    state.set(STACK_OUTPUTS_KEY, { inputsJson: "", id: "", state: JSON.parse(JSON.stringify(outputs)) });
}

export function stackOutputsOf(state: EngineState): Record<string, unknown> {
    return state.get(STACK_OUTPUTS_KEY)?.state ?? {};
}

/**
 * How many PrivateKeys each state has had of each resource name and inputs (canonical JSON): one
 * more each time one is made, and at least the generation of a key the state held when a stand-in
 * first took it (its keyGeneration, 1 when none: saved by an earlier run, or put there by a test). A key that comes back (deleteUnregistered
 * removed it, or other inputs replaced it and these came back) is a new key, as `pulumi up` makes
 * one, which the key file keeps as the next generation: a test run gets it from the file as fast as
 * the first, and never the one it replaced.
 */
const keysMade = new WeakMap<EngineState, Map<string, number>>();
const PRIVATE_KEY = "tls:index/privateKey:PrivateKey";

/** The identity keysMade counts a PrivateKey under: its resource name and inputs, as canonical JSON. */
const keyMadeId = (name: string, inputsJson: string): string => `[${JSON.stringify(name)},${inputsJson}]`;

/** keysMade's counts for `state`, each key the state holds counted as made at least once. */
function keysMadeIn(state: EngineState): Map<string, number> {
    const made = keysMade.get(state) ?? new Map<string, number>();
    keysMade.set(state, made);
    const prefix = `${PRIVATE_KEY}::`;
    for (const [key, kept] of state) {
        if (!key.startsWith(prefix)) continue;
        const id = keyMadeId(key.slice(prefix.length), kept.inputsJson);
        const held = kept.keyGeneration ?? 1;
        if ((made.get(id) ?? 0) < held) made.set(id, held);
    }
    return made;
}
/** The type of a stack's root resource, which lib/testing.ts's runs register before the program. */
export const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/**
 * Puts a resource into the state as an earlier run left it: the next run that registers it with
 * identical inputs gets these outputs back instead of creating it.
 */
export function keepInState(
    state: EngineState,
    resource: {
        type: string;
        name: string;
        inputs: Record<string, unknown>;
        id: string;
        state: Record<string, unknown>;
    },
): void {
    state.set(`${resource.type}::${resource.name}`, {
        inputsJson: canonicalJson(resource.inputs),
        id: resource.id,
        state: resource.state,
    });
}

export interface StandInOptions extends tlsProvider.ProviderOptions {
    /**
     * Clock for notBefore and for the early-renewal windows of kept certificates (default: the
     * instant this stand-in was made, which for runWithStandIn is the start of the run, the way
     * render issues every certificate at its plan's clock). Not each resource's own creation
     * time: OpenSSL, BoringSSL and GnuTLS read the time with time(2), which lags Date.now() by up
     * to a kernel tick, so a certificate issued in the first milliseconds of a second would be
     * "not yet valid" to a verifier that runs right after the program.
     */
    now?: () => Date;
    state?: EngineState;
    /**
     * A JSON file of test-only RSA keys kept between runs and processes (./testKeys.ts): a
     * PrivateKey whose resource name and inputs it holds gets that key instead of a new one, and
     * the RSA keys a run generates are added to it (0600) when the run settles. One that comes
     * back to a state (deleteUnregistered removed it, or other inputs replaced it) is a new key,
     * held as generation 2 of its name and inputs (3 the next time); a key the state held when a
     * run first took it counts as the generation the state records with it (1 when none). A key
     * deleted before the state was written out and read back is not remembered there: registered
     * again after that, it starts at generation 1, the file's first key of its name.
     */
    keyFile?: string;
}

export function unwrapSecrets(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (typeof value === "object" && value !== null) {
        const record = value as Record<string, unknown>;
        if (record[SECRET_SIG] === SECRET_VALUE) return unwrapSecrets(record.value);
        return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Stable JSON: sorted keys, so that equal inputs compare equal. */
function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (typeof value === "object" && value !== null) {
        const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
        );
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value) ?? "null";
}

/** The certificates whose early-renewal window @pulumi/tls updates in place (early_renewal_hours is not ForceNew). */
const RENEWING_CERTS = ["tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"];

/** The PEM inputs of each tls resource that @pulumi/tls replaces it for only if their value in state is a PEM. */
const PEM_INPUTS: Readonly<Record<string, readonly string[]>> = {
    "tls:index/selfSignedCert:SelfSignedCert": ["privateKeyPem"],
    "tls:index/certRequest:CertRequest": ["privateKeyPem"],
    "tls:index/locallySignedCert:LocallySignedCert": ["certRequestPem", "caCertPem", "caPrivateKeyPem"],
};

/**
 * The state a resource of the state keeps when registered again with other `inputs`, or
 * undefined when it is replaced. @pulumi/tls updates in place a certificate whose
 * changed inputs are its early-renewal window, and any of its resources whose changed inputs are
 * PEM inputs with a value in state that PROVIDER_PEM does not match (a "Bag Attributes" preamble,
 * CRLF line ends): the update copies those inputs into the state and keeps every output
 * (UseStateForUnknown), so a certificate stays signed by the CA it had.
 */
function keptState(
    type: string,
    kept: { inputsJson: string; state: Record<string, unknown> },
    inputs: Record<string, unknown>,
): Record<string, unknown> | undefined {
    const keptInputs = JSON.parse(kept.inputsJson) as Record<string, unknown>;
    const changed = [...new Set([...Object.keys(keptInputs), ...Object.keys(inputs)])].filter(
        (name) => canonicalJson(keptInputs[name]) !== canonicalJson(inputs[name]),
    );
    const inPlace = (name: string): boolean => {
        if (name === "earlyRenewalHours") return RENEWING_CERTS.includes(type);
        const was = kept.state[name];
        return (PEM_INPUTS[type] ?? []).includes(name) && !(typeof was === "string" && PROVIDER_PEM.test(was));
    };
    if (!changed.every(inPlace)) return undefined;
    return { ...kept.state, ...Object.fromEntries(changed.map((name) => [name, inputs[name]])) };
}

/**
 * Whether @pulumi/tls replaces a kept certificate because its early-renewal window has opened: its
 * plan (common_cert.go modifyPlanIfCertificateReadyForRenewal) marks it for replacement when the
 * time is at or past validity_end_time minus the planned early_renewal_hours, on any update,
 * with no refresh; at 0 hours, once it has expired. The new certificate keeps its key.
 */
function readyForRenewal(
    type: string,
    kept: Record<string, unknown>,
    inputs: Record<string, unknown>,
    now: Date,
): boolean {
    if (!RENEWING_CERTS.includes(type) || typeof kept.validityEndTime !== "string") return false;
    const earlyRenewalHours = typeof inputs.earlyRenewalHours === "number" ? inputs.earlyRenewalHours : 0;
    return now.getTime() >= Date.parse(kept.validityEndTime) - earlyRenewalHours * HOUR_MS;
}

function kubernetesId(inputs: Record<string, unknown>, name: string): string {
    const metadata = (inputs.metadata ?? {}) as { name?: string; namespace?: string };
    return metadata.namespace ? `${metadata.namespace}/${metadata.name ?? name}` : (metadata.name ?? name);
}

/**
 * What a failed newResource or call gives the SDK: a promise that never settles. The run ends on
 * `failure` instead. Throwing would not end it (the SDK waits on a failed registration's outputs),
 * and the SDK re-raises every failed registration as an unhandled rejection for its CLI to report,
 * which under node:test or vitest fails whatever test runs next.
 */
const NEVER: Promise<never> = new Promise<never>(() => undefined);

export class EngineStandIn implements pulumi.runtime.Mocks {
    readonly resources: RecordedResource[] = [];
    readonly warnings: string[] = [];
    /** Rejects on the first error inside newResource or call: the run ends on it, not on the SDK. */
    readonly failure: Promise<never>;
    private rejectFailure!: (err: Error) => void;
    private hasFailed = false;
    private readonly state: EngineState;
    private readonly testKeys?: TestKeyFile;
    /** How many keys of each name and inputs this stand-in's state has had (keysMade). */
    private readonly keysMade: Map<string, number>;
    private readonly startedAt = new Date();
    /** type::name of every resource registered in this run. */
    private readonly registered = new Set<string>();
    /** type::name of every resource the SDK asked to read (see markReads). */
    private readonly reads = new Set<string>();
    /** newResource calls not yet returned, and when one last started or returned. */
    private inFlight = 0;
    private lastActivity = performance.now();
    /** How many times a newResource call has started or returned: the run's progress. */
    private activityCount = 0;
    /**
     * Imports of the program's module under way (see loading); registrations begun other than the
     * root stack's (which lib/testing.ts's runs begin before the import), in all and when the last
     * import began.
     */
    private loads = 0;
    private loadStartedAt = 0;
    private programRegistrations = 0;
    private programRegistrationsAtLoad = 0;

    constructor(private readonly options: StandInOptions = {}) {
        this.state = options.state ?? new Map();
        this.testKeys = options.keyFile === undefined ? undefined : new TestKeyFile(options.keyFile);
        this.keysMade = keysMadeIn(this.state);
        this.failure = new Promise<never>((_, reject) => {
            this.rejectFailure = reject;
        });
        this.failure.catch(() => undefined); // observed by run(); never an unhandled rejection
    }

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        this.inFlight++;
        this.lastActivity = performance.now();
        this.activityCount++;
        if (args.type !== ROOT_STACK_TYPE) this.programRegistrations++;
        try {
            return await this.register(args);
        } catch (err) {
            this.fail(new Error(`stand-in failed on ${args.type} "${args.name}": ${(err as Error).message}`));
            return NEVER;
        } finally {
            this.inFlight--;
            this.lastActivity = performance.now();
            this.activityCount++;
        }
    }

    /** A number that changes whenever a registration starts or finishes. */
    get progress(): number {
        return this.activityCount;
    }

    /** Whether a newResource call is running (an RSA key being generated takes seconds). */
    get registering(): boolean {
        return this.inFlight > 0;
    }

    /**
     * Awaits `load`, the run importing its program's module. Until the module registers a resource,
     * or the import ends, the run is loading, not idle: a loader hook (ts-node/esm type-checking a
     * TypeScript program) runs on another thread in Node 20, for seconds, while this one waits.
     * Once the module registers, it is running, and a top-level await on what never comes is idle.
     */
    async loading<T>(load: Promise<T>): Promise<T> {
        this.loads++;
        this.loadStartedAt = performance.now();
        this.programRegistrationsAtLoad = this.programRegistrations;
        try {
            return await load;
        } finally {
            this.loads--;
        }
    }

    /** How long the program's module has been loading with nothing registered yet (see loading), or undefined. */
    get loadingFor(): number | undefined {
        return this.loads > 0 && this.programRegistrations === this.programRegistrationsAtLoad
            ? performance.now() - this.loadStartedAt
            : undefined;
    }

    /**
     * Whether no newResource has been running or started for `quietMs`. Under mocks the SDK does
     * no I/O of its own between registrations, so whatever it still holds then (checked from a
     * timer, the microtasks drained) waits on an output that will never resolve, not on work.
     */
    isQuiet(quietMs: number): boolean {
        return this.inFlight === 0 && performance.now() - this.lastActivity >= quietMs;
    }

    /** The run's time: notBefore of what it issues, and when a kept certificate's renewal window opened. */
    private clock(): Date {
        return this.options.now ? this.options.now() : this.startedAt;
    }

    private async register(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
        if (args.type === "pulumi:pulumi:StackReference") return this.readStack(args, inputs);
        const key = `${args.type}::${args.name}`;
        // The engine refuses a second resource with the same URN (type and name; the parent's type
        // too, which the mocks do not pass on, so this is a little stricter than the engine).
        if (this.registered.has(key)) {
            throw new Error(
                `duplicate resource: a ${args.type} named "${args.name}" is registered twice in this run, which pulumi up refuses (duplicate URN); give each a unique name`,
            );
        }
        this.registered.add(key);
        if (this.reads.has(key)) {
            // Outside the state: the stack does not manage it, and the next run reads it afresh.
            const id = String(args.id);
            this.record(args, inputs, id, inputs, true);
            return { id, state: inputs };
        }
        const inputsJson = canonicalJson(inputs);
        const found = this.state.get(key);
        const kept = found && !readyForRenewal(args.type, found.state, inputs, this.clock()) ? found : undefined;
        const keeps = kept && (kept.inputsJson === inputsJson ? kept.state : keptState(args.type, kept, inputs));
        const { id, state } =
            kept && keeps ? { id: kept.id, state: keeps } : await this.create(args.type, args.name, inputs);
        const keyGeneration =
            args.type !== PRIVATE_KEY
                ? undefined
                : kept && keeps
                  ? kept.keyGeneration
                  : this.keysMade.get(keyMadeId(args.name, inputsJson));
        this.state.set(key, {
            inputsJson,
            id,
            state,
            ...(keyGeneration !== undefined && keyGeneration > 1 ? { keyGeneration } : {}),
        });
        this.record(args, inputs, id, state);
        return { id, state };
    }

    private record(
        args: pulumi.runtime.MockResourceArgs,
        inputs: Record<string, unknown>,
        id: string,
        state: Record<string, unknown>,
        read?: true,
    ): void {
        this.resources.push({
            type: args.type,
            name: args.name,
            inputs,
            sentInputs: args.inputs,
            id,
            state,
            providerName: args.provider ? args.provider.split("::")[3] : undefined,
            ...(read ? { read } : {}),
        });
    }

    /** Tells a read from a registration: the SDK hands the mocks both with an id (an import has one too). */
    markRead(type: string, name: string): void {
        this.reads.add(`${type}::${name}`);
    }

    /**
     * A StackReference to the run's own stack reads the outputs the state keeps from the last run
     * (a state is one stack's, as the engine's is). Any other stack is unknown here: refused in
     * the engine's words, as a stack the backend does not have. Never cached: outputs change.
     */
    private readStack(
        args: pulumi.runtime.MockResourceArgs,
        inputs: Record<string, unknown>,
    ): pulumi.runtime.MockResourceResult {
        const id = String(inputs.name ?? args.name);
        // As the backends read a stack reference: <stack>, <organization>/<stack>, <organization>/<project>/<stack>.
        const parts = id.split("/");
        const [organization, project, stack] =
            parts.length === 3
                ? parts
                : parts.length === 2
                  ? [parts[0], pulumi.getProject(), parts[1]]
                  : [pulumi.getOrganization(), pulumi.getProject(), id];
        if (
            organization !== pulumi.getOrganization() ||
            project !== pulumi.getProject() ||
            stack !== pulumi.getStack()
        ) {
            throw new Error(
                `unknown stack "${id}": the stand-in knows the run's own stack alone (${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}; options project and stack name it)`,
            );
        }
        const state = { name: id, outputs: stackOutputsOf(this.state), secretOutputNames: [] };
        this.record(args, inputs, id, state, true);
        return { id, state };
    }

    /**
     * `pulumi up`'s delete step, for a run that succeeded (a failed update deletes nothing): removes
     * from the state every resource this run did not register (the stack's outputs stay, as the
     * engine keeps them with the stack), so that a key the program dropped (a rotated or revoked
     * one, a removed endpoint's) is gone and a resource that comes back is created anew, with a new
     * key. Without it a state keeps every resource any run registered: what a test suite sharing
     * one state wants (each key made once), not what a stack's state does.
     */
    deleteUnregistered(): void {
        for (const key of [...this.state.keys()]) {
            if (key !== STACK_OUTPUTS_KEY && !this.registered.has(key)) this.state.delete(key);
        }
    }

    /** Whether newResource or call has failed: the run ends on `failure`. */
    get failed(): boolean {
        return this.hasFailed;
    }

    private fail(error: Error): void {
        this.hasFailed = true;
        this.rejectFailure(error);
    }

    /** Adds the RSA keys this run generated to the key file, if there is one. */
    saveTestKeys(): void {
        this.testKeys?.save();
    }

    call(args: pulumi.runtime.MockCallArgs): Promise<Record<string, unknown>> {
        this.fail(new Error(`stand-in does not emulate the function ${args.token}`));
        return NEVER;
    }

    private async create(
        type: string,
        name: string,
        inputs: Record<string, unknown>,
    ): Promise<{ id: string; state: Record<string, unknown> }> {
        const options: tlsProvider.ProviderOptions = {
            now: () => this.clock(),
            warn: (m) => {
                this.warnings.push(`${type} "${name}": ${m}`);
                this.options.warn?.(m);
            },
        };
        const random = RANDOM_RESOURCES.get(type);
        if (random !== undefined) return random(inputs);
        switch (type) {
            case PRIVATE_KEY: {
                const made = this.keysMade;
                const id = keyMadeId(name, canonicalJson(inputs));
                const generation = (made.get(id) ?? 0) + 1;
                made.set(id, generation);
                const kept = this.testKeys?.find(name, inputs, generation);
                if (kept) return tlsProvider.privateKeyResource(inputs, kept);
                const key = await tlsProvider.privateKey(inputs);
                this.testKeys?.add(name, inputs, String(key.state.privateKeyPem), generation);
                return key;
            }
            case "tls:index/selfSignedCert:SelfSignedCert":
                return tlsProvider.selfSignedCert(inputs, options);
            case "tls:index/certRequest:CertRequest":
                return tlsProvider.certRequest(inputs);
            case "tls:index/locallySignedCert:LocallySignedCert":
                return tlsProvider.locallySignedCert(inputs, options);
            default:
                if (type.startsWith("tls:")) throw new Error(`the stand-in does not emulate ${type}`);
                if (type.startsWith("random:")) {
                    const emulated = [...RANDOM_RESOURCES.keys()].map((token) => token.split(":")[2]);
                    throw new Error(
                        `the stand-in does not emulate ${type}; of @pulumi/random it emulates ${emulated.join(", ")}`,
                    );
                }
                if (type.startsWith("kubernetes:")) return { id: kubernetesId(inputs, name), state: inputs };
                return { id: `${name}-id`, state: inputs };
        }
    }

    /** A short tag, never the state and its private keys (console.log of a run's result, say). */
    [util.inspect.custom](): string {
        return `[EngineStandIn: ${this.resources.length} resources]`;
    }

    /** Kubernetes objects the program creates (not providers, not objects it reads), in registration order. */
    kubernetesObjects(): RecordedResource[] {
        return this.resources.filter((r) => r.type.startsWith("kubernetes:") && r.read !== true);
    }

    byType(type: string): RecordedResource[] {
        return this.resources.filter((r) => r.type === type);
    }
}

/**
 * Resolve an Output (or plain value) deeply to its value; rejects when a step of it failed (an
 * error thrown in an apply), so that a failing program fails instead of waiting forever.
 */
export function resolve<T>(value: pulumi.Input<T>): Promise<pulumi.Unwrap<T>> {
    // OutputImpl.promise is internal but stable since Pulumi 1.x; apply() would never call back on failure.
    const output = pulumi.output(value) as unknown as {
        promise(): Promise<pulumi.Unwrap<T>>;
        isKnown: Promise<boolean>;
        isSecret: Promise<boolean>;
    };
    // A failed step rejects this output's isKnown and isSecret too, which nothing awaits: left
    // unhandled, node:test and vitest would fail the test file although the caller handled the error.
    output.isKnown.catch(() => undefined);
    output.isSecret.catch(() => undefined);
    return output.promise();
}

export interface RunResult<T> {
    readonly engine: EngineStandIn;
    /** What the program returned, every Output resolved. */
    readonly outputs: pulumi.Unwrap<T>;
    /** What the program returned (what its promise resolved to), Outputs intact (for pulumi.isSecret checks). */
    readonly returned: T;
}

export interface RunOptions extends StandInOptions {
    /**
     * The project the program runs in: the namespace of `new pulumi.Config()` (config keys
     * `<project>:<key>`) and what `pulumi.getProject()` returns. Default: for runProgram, the
     * `name` of the nearest Pulumi.yaml (or .yml) at or above the program; else "apic-istio-pki".
     */
    project?: string;
    /** The stack the program runs in, what `pulumi.getStack()` returns (default "dev"). */
    stack?: string;
    /**
     * The run's stack config, what `new pulumi.Config()` reads: `{ "<project>:<key>": "value" }`,
     * a key with no namespace (`organization`) in the run's project, as `pulumi config set` takes
     * it; a structured value as JSON text. Only this config is set while the run lasts, and the
     * config set before (`pulumi.runtime.setAllConfig`) is back when it ends. Without it, a run
     * reads the config last set, which stays set for every later run.
     */
    config?: Readonly<Record<string, string>>;
    /**
     * Give up when no registration has been running, started or finished for this long (default
     * 10 s, well under a test's timeout, so that the hang fails its own test): a hang means a mock
     * failed in a way the SDK swallowed, or the program waits on what never comes. A long run that
     * makes progress is not cut short (a render of thousands of endpoints takes minutes), nor is
     * a slow key generation, nor a program module's loading (see EngineStandIn.loading).
     */
    timeoutMs?: number;
    /**
     * Keep stack traces while the program runs (default false: `Error.stackTraceLimit` is 0 until
     * the run settles, so an error the program throws carries its message only). The SDK makes and
     * formats a stack trace for each of four promises per output property of every resource, for a
     * leak report the stand-in never prints: a quarter of a run's time. Set it when an error's
     * message does not say where it came from.
     */
    stackTraces?: boolean;
}

/** The SDK holds one engine per process (setMocks is global), so runs take turns. */
let lastRun: Promise<unknown> = Promise.resolve();
/**
 * True while a run calls its program: a run started from there would wait for itself. (Only the
 * synchronous call: runContext, which the SDK's promises now pay for, could tell more.)
 */
let callingProgram = false;

/**
 * Calls a run's program, marked as such for runWithStandIn's refusal of a run started from there
 * (also for a wrapper that calls it later, inside the root stack: lib/testing.ts).
 */
export function callProgram<T>(program: () => T | Promise<T>): T | Promise<T> {
    callingProgram = true;
    try {
        return program();
    } finally {
        callingProgram = false;
    }
}

/**
 * Runs a Pulumi program against the stand-in and waits until every registration has finished.
 * Errors thrown by the program or inside the stand-in reject; nothing hangs. Runs started
 * together (Promise.all, concurrent tests) take turns, each with its own engine.
 */
export function runWithStandIn<T>(program: () => T | Promise<T>, options: RunOptions = {}): Promise<RunResult<T>> {
    if (callingProgram) {
        return Promise.reject(
            new Error(
                "runWithStandIn was called from inside the program of another run: runs take turns (the SDK has one engine per process), so it would wait for itself; start it after that run",
            ),
        );
    }
    let config: Record<string, string> | undefined;
    try {
        checkRunOptions(options);
        config =
            options.config === undefined ? undefined : runConfig(options.config, options.project ?? DEFAULT_PROJECT);
    } catch (error) {
        return Promise.reject(error as Error);
    }
    // The next run waits for this one to end without handling the promise returned here (as
    // run.catch would): a refused run nobody awaits is an unhandled rejection, as any promise's.
    const previous = lastRun;
    let ended!: () => void;
    lastRun = new Promise<void>((resolve) => (ended = resolve));
    return previous.then(() => runAlone(program, options, config)).finally(ended);
}

/** A value as a refusal of a run option shows it: text quoted, a number as it is, anything else by its kind. */
function shownOption(value: unknown): string {
    if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
    if (value === null || typeof value !== "object") return typeof value === "function" ? "a function" : String(value);
    if (Array.isArray(value)) return "an array";
    const kind = Object.getPrototypeOf(value) === Object.prototype ? "object" : (value.constructor?.name ?? "object");
    return withArticle(kind);
}

/** Pulumi's rule for project and stack names. */
const PULUMI_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Every run option, by name (a Record, so that an option added to RunOptions must be added here). */
const RUN_OPTION_NAMES: Readonly<Record<keyof RunOptions, true>> = {
    project: true,
    stack: true,
    config: true,
    timeoutMs: true,
    stackTraces: true,
    now: true,
    state: true,
    keyFile: true,
    warn: true,
};

/** The run options among `options`, which may hold a caller's own options too (render's). */
export function runOptionsOf(options: RunOptions): RunOptions {
    return Object.fromEntries(Object.entries(options).filter(([name]) => Object.hasOwn(RUN_OPTION_NAMES, name)));
}

/** Refuses an option the run does not take: a misspelt `stackTrace` or `timeout` would be ignored in silence. */
function refuseUnknownRunOptions(given: Record<string, unknown>): void {
    const known = Object.keys(RUN_OPTION_NAMES);
    for (const name of Object.keys(given)) {
        if (Object.hasOwn(RUN_OPTION_NAMES, name)) continue;
        const lower = name.toLowerCase();
        // The nearest in length of the options the name begins, or begins with ("stackTrace": stackTraces, not stack).
        const meant = known
            .filter((option) => option.toLowerCase().startsWith(lower) || lower.startsWith(option.toLowerCase()))
            .sort((a, b) => Math.abs(a.length - name.length) - Math.abs(b.length - name.length))[0];
        throw new Error(
            `the run options have no ${JSON.stringify(name)}${meant === undefined ? "" : ` (did you mean ${meant}?)`}; the options are ${known.join(", ")}`,
        );
    }
}

/**
 * Refuses a run option of the wrong kind before the run starts, naming the option, the value and
 * what it takes: left to the run, a timeoutMs of -1 failed it as hung at once while its program
 * went on into the next run, `now` as a date failed as "this.options.now is not a function", and a
 * project of 5 was taken. (The config option is checked with its keys: runConfig.)
 */
export function checkRunOptions(options: unknown): asserts options is RunOptions {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
        throw new Error(
            `the run options must be an object ({ state, timeoutMs, ... }), or left out; got ${shownOption(options)}`,
        );
    }
    const given = options as Record<string, unknown>;
    refuseUnknownRunOptions(given);
    const refuse = (option: string, takes: string): never => {
        throw new Error(`the ${option} option must be ${takes}; got ${shownOption(given[option])}`);
    };
    const has = (option: string): boolean => given[option] !== undefined;
    for (const option of ["project", "stack"]) {
        const value = given[option];
        if (has(option) && (typeof value !== "string" || !PULUMI_NAME.test(value)))
            refuse(option, `a Pulumi ${option} name: 1 to 100 letters, digits, "-", "_" or "."`);
    }
    const timeoutMs = given.timeoutMs;
    if (has("timeoutMs") && (typeof timeoutMs !== "number" || !(timeoutMs > 0)))
        refuse("timeoutMs", "a number of milliseconds above 0 (default 10000)");
    if (has("stackTraces") && typeof given.stackTraces !== "boolean") refuse("stackTraces", "true or false");
    if (has("now") && typeof given.now !== "function")
        refuse("now", 'a function returning the run\'s clock as a Date, e.g. () => new Date("2026-01-01T00:00:00Z")');
    if (has("state") && !(given.state instanceof Map))
        refuse("state", "a Map (new Map()), given to each run that keeps the same resources");
    if (has("keyFile") && (typeof given.keyFile !== "string" || given.keyFile === ""))
        refuse("keyFile", "the path of a JSON file of test-only keys");
    if (has("warn") && typeof given.warn !== "function") refuse("warn", "a function taking each warning's text");
}

/** The project of runWithStandIn when no `project` is given. */
const DEFAULT_PROJECT = "apic-istio-pki";

/** The config option with each key in its namespace (the project's when it has none). */
function runConfig(config: Readonly<Record<string, unknown>>, project: string): Record<string, string> {
    if (typeof config !== "object" || config === null || Array.isArray(config)) {
        throw new Error(
            'the config option must map config keys to values, e.g. { "payments-pki:organization": "Example Bank" }',
        );
    }
    return Object.fromEntries(
        Object.entries(config).map(([key, value]) => {
            if (key === "" || key.startsWith(":") || key.endsWith(":")) {
                throw new Error(
                    `the config option's key "${key}" is no config key: give <namespace>:<name>, or a name alone for the run's project`,
                );
            }
            // The value is not quoted: it may be a secret.
            if (typeof value !== "string") {
                throw new Error(
                    `the config option's "${key}" must be text, as Pulumi keeps config (a structured value as JSON text); got ${Array.isArray(value) ? "an array" : value === null ? "null" : `a ${typeof value}`}`,
                );
            }
            return [key.includes(":") ? key : `${project}:${key}`, value];
        }),
    );
}

async function runAlone<T>(
    program: () => T | Promise<T>,
    options: RunOptions,
    config: Record<string, string> | undefined,
): Promise<RunResult<T>> {
    const restoreSdk = saveSdkState();
    if (config !== undefined) pulumi.runtime.setAllConfig(config, []);
    const stackTraceLimit = Error.stackTraceLimit;
    if (options.stackTraces !== true) Error.stackTraceLimit = 0;
    try {
        return await runUntilSettled(program, options);
    } finally {
        Error.stackTraceLimit = stackTraceLimit;
        restoreSdk();
    }
}

/**
 * The SDK's runtime store (internal, like waitForRPCs): what setMocks sets, the run's root stack,
 * and the config setAllConfig sets, its values and secret keys as JSON text.
 */
interface SdkStore {
    settings: { options: object };
    config: Record<string, string>;
    leakCandidates?: Set<unknown>;
}

/**
 * Saves what a run's setMocks, root stack and config change in the SDK's store, and returns what
 * puts it back: the mocks, project, stack and organization set before the run (a test file's own
 * `pulumi.runtime.setMocks`, in the same process), or none, and the config's contents (the SDK
 * keeps one config object, which setAllConfig fills). Else a later test registering under mocks of
 * its own would get the run's engine, and the engine's private keys would stay reachable from the
 * SDK until the next run. (Internal, like waitForRPCs.)
 */
function saveSdkState(): () => void {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const state = require("@pulumi/pulumi/runtime/state") as { getStore?: () => SdkStore };
    const settingsModule = require("@pulumi/pulumi/runtime/settings") as {
        resetOptions?: (...args: [string, string, number, string, string, boolean, string]) => void;
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
    const store = state.getStore?.();
    const resetOptions = settingsModule.resetOptions;
    if (
        typeof store?.settings?.options !== "object" ||
        typeof store.config !== "object" ||
        typeof resetOptions !== "function"
    ) {
        throw new Error(
            "@pulumi/pulumi no longer keeps its settings and config in runtime/state's store, or resets them with runtime/settings.resetOptions; update the stand-in",
        );
    }
    const storeBefore = { ...store };
    const configBefore = { ...store.config };
    const settingsBefore = { ...store.settings };
    const optionsBefore = { ...store.settings.options };
    const global = globalThis as { stackResource?: unknown };
    const stackResourceBefore = global.stackResource;
    const putBack = <O extends object>(object: O, saved: O) => {
        for (const key of Object.keys(object)) if (!Object.hasOwn(saved, key)) delete object[key as keyof O];
        Object.assign(object, saved);
    };
    return () => {
        // The settings module keeps the mock monitor setMocks made (its engine) in a variable of its
        // own too, used when no mocks are set: resetOptions empties it, then the store is as it was.
        resetOptions("", "", -1, "", "", false, "");
        putBack(store.settings.options, optionsBefore);
        putBack(store.settings, { ...settingsBefore, options: store.settings.options });
        putBack(store, { ...storeBefore, settings: store.settings });
        putBack(store.config, configBefore);
        global.stackResource = stackResourceBefore;
    };
}

async function runUntilSettled<T>(program: () => T | Promise<T>, options: RunOptions): Promise<RunResult<T>> {
    const engine = new EngineStandIn(options);
    // "organization" is what the local (diy) backend calls the organization of every stack.
    await pulumi.runtime.setMocks(
        engine,
        options.project ?? DEFAULT_PROJECT,
        options.stack ?? "dev",
        false,
        "organization",
    );
    markReads(engine);
    let returned: T | undefined;
    const run = new StandInRun(engine);
    const settled = runContext.run(run, async () => {
        // An async program (a function the module exports) resolves to its outputs.
        returned = await callProgram(program);
        const outputs = await resolve(returned as pulumi.Input<T>);
        await waitForRegistrations();
        return outputs;
    });
    // As the Pulumi language host does: an error the SDK raises outside the program's promises (a
    // resource whose input is an apply that threw) fails the run. Without this the run would wait
    // for that resource's outputs, which never come.
    let rejectUnhandled!: (error: Error) => void;
    let unhandledError: Error | undefined;
    let unhandledRefusal: string | undefined;
    const unhandled = new Promise<never>((_, reject) => (rejectUnhandled = reject));
    unhandled.catch(() => undefined);
    // The SDK raises that error again for each resource it could not register (and an apply that
    // threw for each may have thrown its own, and another component its own refusal). The run
    // rejects with the first, so while the run lasts the process's other listeners (node:test's,
    // which fails the test file for each) are set aside: the run's later refusals end here. A bug
    // (a TypeError, say) is passed on, as one made outside the run (another test's, running at the
    // same time: Node calls the listener in the context the rejected promise was made in) is.
    let otherListeners = process.rawListeners("unhandledRejection") as NodeJS.UnhandledRejectionListener[];
    for (const listener of otherListeners) process.off("unhandledRejection", listener);
    const onUnhandled = (reason: unknown, promise: Promise<unknown>) => {
        const ofThisRun = runContext.getStore() === run;
        if (ofThisRun && unhandledError === undefined) {
            unhandledError = reason instanceof Error ? reason : new Error(String(reason));
            unhandledRefusal = refusalOf(reason);
            rejectUnhandled(unhandledError);
        } else if (
            !ofThisRun ||
            (isBug(reason) && reason !== unhandledError && refusalOf(reason) !== unhandledRefusal)
        ) {
            passOn(reason, promise);
        }
    };
    // At once, to the listeners as they are without the run's (mocha's emits it again to the others).
    const passOn = (reason: unknown, promise: Promise<unknown>) => {
        process.off("unhandledRejection", onUnhandled);
        for (const listener of [...otherListeners].reverse()) process.prependListener("unhandledRejection", listener);
        try {
            // With no listener, Node's default (--unhandled-rejections=throw) makes it an uncaught exception.
            if (!process.emit("unhandledRejection", reason, promise))
                process.nextTick(() => {
                    throw reason;
                });
        } finally {
            otherListeners = process.rawListeners("unhandledRejection") as NodeJS.UnhandledRejectionListener[];
            for (const listener of otherListeners) process.off("unhandledRejection", listener);
            process.on("unhandledRejection", onUnhandled);
        }
    };
    process.on("unhandledRejection", onUnhandled);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const idleLimit = options.timeoutMs ?? DEFAULT_IDLE_LIMIT_MS;
    const tick = Math.min(1_000, idleLimit / 4);
    const timeout = new Promise<never>((_, reject) => {
        // Idle time is counted tick by tick: a long synchronous stretch (the program planning
        // thousands of endpoints) delays a tick, and counts as one tick, not as idle time. Time
        // while a registration runs (a key being generated), or while the program's module is
        // loaded (compiled by a loader off this thread), is never idle.
        let idle = 0;
        let lastTick = performance.now();
        let seen = engine.progress;
        timer = setInterval(() => {
            const now = performance.now();
            // A module still loading after LOADING_GRACE idle limits waits at its top level on what never comes.
            const loading = (engine.loadingFor ?? Infinity) < LOADING_GRACE * idleLimit;
            if (engine.progress !== seen || engine.registering || loading) {
                [seen, idle] = [engine.progress, 0];
            } else idle += Math.min(now - lastTick, tick);
            lastTick = now;
            if (idle < idleLimit) return;
            timedOut = true;
            reject(
                new Error(
                    `stand-in run made no progress for ${idleLimit} ms (no resource registering, none began or finished): ` +
                        "a mock failed in a way the SDK swallowed, or the program waits on something that never comes " +
                        "(if it waits on slow work of its own, raise the run's timeoutMs)",
                ),
            );
        }, tick);
    });
    try {
        const outputs = await Promise.race([settled, engine.failure, unhandled, timeout]);
        // Node reports a rejection nobody handles after the microtasks that raised it: give those a
        // turn before calling the run good (an apply that threw, feeding a resource whose outputs
        // the program never uses: its registration fails after the program has settled).
        await new Promise((resolve) => setImmediate(resolve));
        if (unhandledError !== undefined) throw unhandledError;
        engine.saveTestKeys();
        const record = (outputs as { deploymentRecord?: unknown } | undefined)?.deploymentRecord;
        if (options.state !== undefined && record !== undefined)
            saveStackOutputs(options.state, { deploymentRecord: record });
        return { engine, outputs, returned: returned as T };
    } catch (error) {
        if (!timedOut) await settleAfterFailure(engine);
        throw error;
    } finally {
        clearInterval(timer);
        process.off("unhandledRejection", onUnhandled);
        for (const listener of [...otherListeners].reverse()) process.prependListener("unhandledRejection", listener);
    }
}

/**
 * How long a run may go with no registration running, started or finished before it fails as hung
 * (timeoutMs). Under mocks the SDK does no I/O of its own, so such a run waits on what never comes,
 * unless the program itself awaits a timer or I/O. A registration that is running never counts:
 * an RSA 4096 key takes 1.6 s on average and over 6 s on these two-core machines, more with
 * several queued on libuv's four threads. Well under the test timeout the README gives (60 s): a
 * hang must fail its own test, not outlast it, hold the next test's run and leave
 * Error.stackTraceLimit at 0 while other tests run.
 */
const DEFAULT_IDLE_LIMIT_MS = 10_000;

/**
 * How many idle limits a program's module may spend loading before the idle time counts (30 s at
 * the default): a type-checking loader took 15 s on these machines; a module awaiting at its top
 * level what never comes then fails as hung (40 s), still within the README's test timeout.
 */
const LOADING_GRACE = 3;

/**
 * The run a promise was made in (see onUnhandled in runUntilSettled), and its engine. Every
 * promise made in the run carries it, and so does every error the SDK rejects with (as its
 * `promise`): the engine is private, so an error printed whole (an uncaught exception's report,
 * which would not call util.inspect.custom, or a caller's console.error) never shows the
 * engine's state, which holds every private key.
 */
class StandInRun {
    readonly #engine: EngineStandIn;
    constructor(engine: EngineStandIn) {
        this.#engine = engine;
    }
    get engine(): EngineStandIn {
        return this.#engine;
    }
}
const runContext = new AsyncLocalStorage<StandInRun>();

/**
 * Whether an unhandled rejection is a bug (what JavaScript throws for a mistake in the code, or
 * a rejection with no Error at all) rather than a refusal (an Error a component or provider
 * raises, with the SDK's prefixes perhaps).
 */
const isBug = (reason: unknown): boolean =>
    !(reason instanceof Error) ||
    [TypeError, ReferenceError, RangeError, SyntaxError, EvalError, URIError].some((type) => reason instanceof type);

/**
 * For a run's program that imports its module (runProgram, lib/testing.ts): awaits `load`, time
 * that is not idle while the module has registered nothing (EngineStandIn.loading). The module is
 * imported inside the run, since what it registers as it loads belongs to the run, under its mocks.
 */
export function loadingProgram<T>(load: Promise<T>): Promise<T> {
    const engine = runContext.getStore()?.engine;
    return engine === undefined ? load : engine.loading(load);
}

/**
 * What a rejection says, without the prefix the SDK adds for each property it could not serialize
 * (a refusal raised once an output resolves reaches a resource's input that way).
 */
export function refusalOf(reason: unknown): string {
    const message = reason instanceof Error ? reason.message : String(reason);
    return message.replace(/^(error serializing property "[^"]*": )+/, "");
}

/** How long the SDK must leave the stand-in alone before a failed run's leftovers count as stuck. */
const QUIET_AFTER_ERROR_MS = 20;
/** How long a failed program's leftover registrations may take before the failure is reported anyway. */
const SETTLE_AFTER_ERROR_MS = 5_000;

/**
 * After a failed run, before it rejects: the SDK goes on registering what the program made before
 * the error (a component's outputs, say); that must finish with this run's mocks, not the next
 * run's, which would not know those resources. Then whatever the SDK still holds waits on a failed
 * step and never settles: its leak detector would list those promises when the process exits and
 * set exit status 1, so they are dropped from it (internal, like waitForRPCs).
 */
async function settleAfterFailure(engine: EngineStandIn): Promise<void> {
    let registrationsDone = false;
    const markDone = () => (registrationsDone = true);
    waitForRegistrations().then(markDone, markDone);
    const deadline = performance.now() + SETTLE_AFTER_ERROR_MS;
    do await new Promise((resolve) => setTimeout(resolve, 5));
    while (!registrationsDone && !engine.isQuiet(QUIET_AFTER_ERROR_MS) && performance.now() < deadline);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const state = require("@pulumi/pulumi/runtime/state") as { getStore?: () => { leakCandidates?: Set<unknown> } };
    state.getStore?.().leakCandidates?.clear();
}

/**
 * Has the mock monitor setMocks made tell the engine which registrations are reads: the SDK hands
 * the mocks a read (readResource) and an import (registerResource) alike, each with an id
 * (internal, like waitForRPCs).
 */
function markReads(engine: EngineStandIn): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor?: () => unknown };
    const monitor = settings.getMonitor?.() as { readResource?: (request: ReadRequest, ...rest: unknown[]) => unknown };
    const readResource = monitor?.readResource;
    if (typeof readResource !== "function") {
        throw new Error("@pulumi/pulumi's mock monitor no longer has readResource; update the stand-in");
    }
    monitor.readResource = (request: ReadRequest, ...rest: unknown[]) => {
        engine.markRead(request.getType(), request.getName());
        return readResource.call(monitor, request, ...rest);
    };
}

interface ReadRequest {
    getType(): string;
    getName(): string;
}

/** The SDK's own "all RPCs done" promise (internal, but the only exact signal there is). */
async function waitForRegistrations(): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs?: () => Promise<void> };
    if (typeof settings.waitForRPCs !== "function") {
        throw new Error("@pulumi/pulumi no longer exports runtime/settings.waitForRPCs; update the stand-in");
    }
    await settings.waitForRPCs();
}
