/**
 * `apic-istio-pki/testing`: unit-test a Pulumi program offline, as this package tests its own. The
 * program runs under `pulumi.runtime.setMocks` with the engine stand-in: `@pulumi/tls` keys, CSRs
 * and certificates are made for real (following the provider's own rules), `@pulumi/random`
 * passwords, strings, ids, integers and pets too, and every other resource (Kubernetes objects,
 * providers, components) is recorded with its inputs. A test double: import it from tests, never
 * from a program `pulumi up` runs.
 *
 * An `EngineState` passed to several runs keeps every resource any of them registered (a resource
 * registered again with the same inputs gets its outputs back, so each key is made once), unlike a
 * stack's state: `pulumi up` deletes what the program no longer registers. To follow a stack
 * through updates, call `engine.deleteUnregistered()` after each run, as `render --state` does.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import * as pulumi from "@pulumi/pulumi";
import * as standIn from "./engine/standIn";
import { EngineStandIn, ROOT_STACK_TYPE, RunOptions, RunResult } from "./engine/standIn";
import { nearestProject } from "./config/load";
import { manifest } from "./render/render";

export { EngineStandIn, resolve } from "./engine/standIn";
export type { EngineState, RecordedResource, RunOptions, RunResult, StandInOptions } from "./engine/standIn";

/**
 * The stack outputs of a program module whose type is M (`typeof import("./index")`), as the
 * language host takes them from the module: an ES module's lone `default` export stands for the
 * module, and an exported function for what it returns, awaited. Other modules are their exports
 * (runProgram refuses a CommonJS module whose lone export is `default`: see there).
 */
export type ProgramOutputs<M> = ProgramEntry<
    "default" extends keyof M ? ([keyof M] extends ["default"] ? M["default"] : M) : M
>;

/** What an entry export gives: a function what it resolves to, anything else itself. */
type ProgramEntry<E> = E extends (...args: never[]) => infer R ? Awaited<R> : E;

/**
 * Each run's program module, as require.cache shows it after the run loaded it: a run handed the
 * same module again did not run it. Where require.cache does not show it (a loader that hides what
 * it keeps), what it exported: a program may export a library's object, the same at every run, so
 * the module is what tells, where it can be seen.
 */
const programModules = new WeakSet<object>();
const programExports = new WeakSet<object>();

function inProgramFolder(file: string, folder: string): boolean {
    const relative = path.relative(folder, file);
    return (
        !relative.startsWith("..") && !path.isAbsolute(relative) && !relative.split(path.sep).includes("node_modules")
    );
}

/**
 * Runs a Pulumi program (a function) against the stand-in, inside the stack's root resource as
 * `pulumi up` runs it: every resource without a parent of its own is the stack's child (its URN as
 * the engine makes it, without the stack's type), and `pulumi.runtime.registerStackTransformation`
 * applies to them. The root resource is not among `engine.resources`: the program did not register
 * it. See the engine stand-in's runWithStandIn for the rest.
 */
export function runWithStandIn<T>(program: () => T | Promise<T>, options: RunOptions = {}): Promise<RunResult<T>> {
    return standIn
        .runWithStandIn(() => inRootStack(program), options)
        .then(
            (result) => {
                const root = result.engine.resources.findIndex((r) => r.type === ROOT_STACK_TYPE);
                if (root !== -1) result.engine.resources.splice(root, 1);
                return result;
            },
            (error: unknown) => {
                if (error instanceof Error && error.message === SDK_NO_TRANSFORMS) throw transformsRefusal();
                hideSdkObjects(error);
                throw error;
            },
        );
}

/**
 * Makes the resources and outputs an error holds (a ResourceError's `resource`) non-enumerable,
 * still readable: mocha's `--parallel` worker sends a failed test's error to the main process by
 * walking its enumerable properties and deleting, in place, the functions it meets, which broke
 * the SDK's outputs behind them; the worker then died and mocha exited 0, the failure unreported.
 */
function hideSdkObjects(error: unknown): void {
    if (typeof error !== "object" || error === null) return;
    for (const [key, value] of Object.entries(error)) {
        const hideable = Object.getOwnPropertyDescriptor(error, key)?.configurable === true; // not of a frozen error
        if (hideable && (pulumi.Resource.isInstance(value) || pulumi.Output.isInstance(value))) {
            Object.defineProperty(error, key, { enumerable: false });
        }
    }
}

/** The SDK's refusal of resource transforms under mocks, which names the CLI (the stand-in has none). */
const SDK_NO_TRANSFORMS = "The Pulumi CLI does not support transforms. Please update the Pulumi CLI";

function transformsRefusal(): Error {
    return new Error(
        "the stand-in cannot apply resource transforms (pulumi.runtime.registerResourceTransform, the transforms resource option): the engine calls them back through the Pulumi CLI, which a test run has none of; test the program without them, or use pulumi.runtime.registerStackTransformation or the transformations resource option, which the SDK applies itself",
    );
}

/** The program run inside a new root stack resource, as the Pulumi language host runs it. */
function inRootStack<T>(program: () => T | Promise<T>): Promise<T> {
    // The mock monitor gives a child of the stack a URN with the stack's type in it; the engine does not.
    const monitor = (pulumi.runtime as unknown as { getMonitor(): MockMonitor }).getMonitor();
    const newUrn = monitor.newUrn.bind(monitor);
    monitor.newUrn = (parent, type, name) =>
        newUrn(parent?.split("::")[2] === ROOT_STACK_TYPE ? undefined : parent, type, name);
    let returned!: T;
    return pulumi.runtime
        .runInPulumiStack(async () => {
            // setMocks says no transforms (the engine applies them through the CLI's callbacks), but the
            // stack's feature query turned them on (the mock monitor claims all features but one): the
            // SDK would send transforms that nothing applies.
            const store = sdkState().getStore();
            store.supportsTransforms = false;
            store.supportsInvokeTransforms = false;
            // A run started from the program is refused, not left waiting for itself.
            returned = await standIn.callProgram(program);
            return returned as pulumi.Inputs | undefined;
        })
        .then(() => returned);
}

/** The SDK's mock monitor (internal): how it names a resource. */
interface MockMonitor {
    newUrn(parent: string | undefined, type: string, name: string): string;
}

/**
 * The SDK's runtime state (internal, as the stand-in reads its config): the features. (The run's
 * root stack goes when the run ends, with its mocks: the stand-in puts back the SDK's state.)
 */
interface SdkState {
    getStore(): { supportsTransforms: boolean; supportsInvokeTransforms: boolean };
}

function sdkState(): SdkState {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@pulumi/pulumi/runtime/state") as SdkState;
}

/**
 * Runs a Pulumi program module (what Pulumi.yaml `main` names) against the stand-in the way
 * `pulumi up` runs it: its exports, or what its exported function returns, are the stack outputs.
 * Each call loads the module afresh, as `pulumi up` starts a new process, so each run registers all
 * its resources again: a CommonJS program with every file of its folder (node_modules excepted),
 * also one the test file loaded first (whose instance is back in require.cache when the run ends);
 * an ES module program (`.mjs`, or `"type": "module"`) by its entry only, since Node cannot unload
 * the other ES modules it imports. A CommonJS program the module loader keeps (Jest unless its
 * modules are reset before each run) is refused, and so is one whose only export is `default`
 * (`export default` compiled to CommonJS), which `pulumi up` would take as its one output. The
 * program runs inside the stack's root resource (see runWithStandIn). The project is the `name` of the
 * nearest Pulumi.yaml (or .yml) at or above the module, as `pulumi up` takes it from the project
 * the program is in (`options.project` overrides it). M is the module's type (`typeof
 * import("./index")`), for typed outputs (see ProgramOutputs).
 */
export function runProgram<M = Record<string, unknown>>(
    modulePath: string,
    options: RunOptions = {},
): Promise<RunResult<ProgramOutputs<M>>> {
    type T = ProgramOutputs<M>;
    let file: string;
    try {
        // First: the project option stands for the project file's name (options spread below).
        standIn.checkRunOptions(options);
    } catch (error) {
        return Promise.reject(error as Error);
    }
    try {
        file = require.resolve(path.resolve(modulePath));
    } catch {
        return Promise.reject(
            new Error(
                `runProgram: no program module at ${path.resolve(modulePath)}; give the file your Pulumi.yaml main names`,
            ),
        );
    }
    let project: string | undefined;
    try {
        project = options.project ?? projectNameOf(file);
    } catch (error) {
        return Promise.reject(error as Error);
    }
    const runOptions = project === undefined ? options : { ...options, project };
    if (isEsModule(file)) {
        const url = `${pathToFileURL(file).href}?run=${++esModuleRuns}`;
        return runWithStandIn(async () => {
            // Its loading is no idle time: a loader hook may compile it for seconds, off this thread.
            const exported = entryExport((await standIn.loadingProgram(import(url))) as Record<string, unknown>);
            return (typeof exported === "function" ? exported() : exported) as T;
        }, runOptions);
    }
    let exportsReused = false;
    // The folder's modules loaded before the run, put back when it ends (see below).
    const loadedBefore = new Map<string, NodeJS.Module>();
    const run = runWithStandIn(() => {
        // Every file of the folder, whoever loaded it first: a module the test file imports too
        // (a helper keeping a registry of names) would otherwise keep the last run's state. The
        // test file's own entry goes too, which does not stop it running.
        for (const [loaded, module] of Object.entries(require.cache)) {
            if (module !== undefined && inProgramFolder(loaded, path.dirname(file))) {
                loadedBefore.set(loaded, module);
                delete require.cache[loaded];
            }
        }
        delete require.cache[file];
        // Else the run would "succeed" with none of the resources the module makes as it loads.
        if (require.cache[file] !== undefined) {
            throw notLoadedAfresh(
                file,
                "stays in require.cache after its removal (Jest's require.cache ignores delete), so it would not run again: this run would register none of the resources it makes as it loads and give the last run's outputs",
            );
        }
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const exported: unknown = require(file);
        const loaded = require.cache[file];
        if (loaded !== undefined) {
            exportsReused = programModules.has(loaded);
            programModules.add(loaded);
        } else if ((typeof exported === "object" && exported !== null) || typeof exported === "function") {
            exportsReused = programExports.has(exported);
            programExports.add(exported);
        }
        // A default function or value alike: ProgramOutputs types it as the outputs, but pulumi up
        // unwraps `default` for an ES module only.
        if (isDefaultOnly(exported)) {
            const neverCalled =
                typeof exported.default === "function"
                    ? " and that function would never be called: what it would create and return never happens"
                    : "";
            throw new Error(
                `runProgram: ${file} is a CommonJS module whose only export is \`default\` (TypeScript's \`export default\` compiled to CommonJS): pulumi up takes a CommonJS module's exports as the stack outputs, so its one output would be \`default\`${neverCalled}; write \`export =\` in place of \`export default\` (or compile the program as an ES module, "type": "module")`,
            );
        }
        return (typeof exported === "function" ? exported() : exported) as T;
    }, runOptions);
    // A module loader that hides what it keeps: the module did not run again, unless it registered something.
    return run
        .finally(() => {
            // The test's own modules come back: a helper it loads again in a later test (a shared
            // EngineState, so that each key is made once) is the instance it had, state and all.
            for (const [loaded, module] of loadedBefore) require.cache[loaded] = module;
        })
        .then((result) => {
            if (exportsReused && result.engine.resources.length === 0) {
                throw notLoadedAfresh(
                    file,
                    "gave this run an earlier run's exports and registered nothing: the module loader did not run it again, and keeps it where require.cache does not show it",
                );
            }
            return result;
        });
}

/** What TypeScript's `export default` compiles to as CommonJS, with no other export. */
function isDefaultOnly(exported: unknown): exported is { default: unknown } {
    if (typeof exported !== "object" || exported === null) return false;
    const keys = Object.keys(exported);
    return keys.length === 1 && keys[0] === "default";
}

/** Refusal of a CommonJS program the module loader did not run again (see runProgram). */
function notLoadedAfresh(file: string, problem: string): Error {
    return new Error(
        `runProgram: ${file} ${problem}; reset the test runner's modules before each runProgram (under Jest: jest.resetModules())`,
    );
}

/**
 * The project a program runs in, as the Pulumi CLI finds it: the `name` of the nearest Pulumi.yaml
 * (or .yml) at or above the program's folder; undefined outside any project.
 */
function projectNameOf(file: string): string | undefined {
    const unusable = (projectFile: string, problem: string) =>
        new Error(
            `runProgram: the Pulumi project file ${projectFile} ${problem}; its name is the project the program runs in (the namespace of its config, pulumi.getProject()): fix it, or give the project option`,
        );
    const found = nearestProject(path.dirname(file), (projectFile, reason) =>
        unusable(projectFile, `cannot be read (${reason})`),
    );
    if (found === undefined) return undefined;
    const { name } = found;
    if (name === undefined || name === "") throw unusable(found.file, "has no name (name: as text)");
    return name;
}

/** Each ES module run imports the entry under a new URL: Node evaluates it again. */
let esModuleRuns = 0;

/** As Node decides: `.mjs`/`.mts`, or `.js`/`.ts` under a package.json with `"type": "module"` (the nearest one). */
function isEsModule(file: string): boolean {
    const extension = path.extname(file);
    if (extension === ".mjs" || extension === ".mts") return true;
    if (extension !== ".js" && extension !== ".ts") return false;
    for (let folder = path.dirname(file); ; folder = path.dirname(folder)) {
        const packageJson = path.join(folder, "package.json");
        if (fs.existsSync(packageJson)) {
            return (JSON.parse(fs.readFileSync(packageJson, "utf8")) as { type?: unknown }).type === "module";
        }
        if (path.dirname(folder) === folder) return false;
    }
}

/** What the language host takes from an ES module: its default export, else its named exports. */
function entryExport(namespace: Record<string, unknown>): unknown {
    if (!Object.prototype.hasOwnProperty.call(namespace, "default")) return namespace;
    if (Object.keys(namespace).length !== 1) {
        // The Pulumi language host's own words.
        throw new Error("expected entrypoint module to have either a default export or named exports but not both");
    }
    return namespace.default;
}

/** A Kubernetes object the program created, as the cluster would receive it. */
export interface KubernetesManifest {
    /** The resource name it was registered under. */
    readonly resourceName: string;
    /** The resource name of the Kubernetes provider it was given (its cluster); undefined for the default provider. */
    readonly provider?: string;
    /** `apiVersion`, `kind`, `metadata` and the rest; secret values in plain text. */
    readonly manifest: Record<string, unknown>;
}

/** Every Kubernetes object of the run (providers excluded), in registration order. */
export function kubernetesManifests(engine: EngineStandIn): KubernetesManifest[] {
    return engine.kubernetesObjects().map((resource) => ({
        resourceName: resource.name,
        provider: resource.providerName,
        manifest: manifest(resource),
    }));
}

/** A certificate the run issued (a `tls` SelfSignedCert or LocallySignedCert). */
export interface IssuedCertificate {
    /** The resource name of the certificate, e.g. `team-client-root-cert`. */
    readonly resourceName: string;
    readonly pem: string;
    /** Parsed, for checks such as `checkIssued`, `verify` and `checkHost`. */
    readonly x509: crypto.X509Certificate;
}

const CERTIFICATE_TYPES = ["tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"];

/**
 * Every certificate the run issued, in registration order; not one it read (`SelfSignedCert.get`),
 * which the stand-in knows no certificate of (its state is what the program passed).
 */
export function certificates(engine: EngineStandIn): IssuedCertificate[] {
    return engine.resources
        .filter((resource) => CERTIFICATE_TYPES.includes(resource.type) && resource.read !== true)
        .map((resource) => {
            const pem = String(resource.state.certPem);
            return { resourceName: resource.name, pem, x509: new crypto.X509Certificate(pem) };
        });
}
