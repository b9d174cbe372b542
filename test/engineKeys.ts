/**
 * The suite's engine state starts with the RSA keys of an earlier run, as a stack's next
 * `pulumi up` finds its keys in its state: each (resource name, key inputs) the suite registers
 * gets the same test-only key every run, and no RSA key is generated twice. Everything a key signs
 * is still signed, issued and verified afresh in each test; a name or key size missing here is
 * simply generated (slower). `npm run test:keys` adds the keys a run generated
 * (test/keyRecorder.ts). ECDSA keys take well under a millisecond and are always generated.
 *
 * These keys are public and for tests only: never use them for anything else.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { EngineState, keepInState } from "../lib/engine/standIn";
import { privateKeyResource } from "../lib/engine/tlsProvider";
import { readTestKeys } from "../lib/engine/testKeys";
import { tempDir } from "./runTemp";

export const ENGINE_KEYS_FILE = path.resolve(__dirname, "../../test/fixtures/engineKeys.json");

export const PRIVATE_KEY_TYPE = "tls:index/privateKey:PrivateKey";

export const ENGINE_KEYS_ABOUT =
    "Test-only RSA keys of apic-istio-pki's suite (test/engineKeys.ts): public, never use them for anything else.";

/**
 * Set by `npm run test:keys` (./keyRecorder.ts): the suite's stand-ins then write the keys of later
 * generations they had to generate into the fixture itself (suiteKeyFile).
 */
export const RECORD_KEYS_VARIABLE = "APIC_ISTIO_PKI_RECORD_KEYS";

let keyFileCopy: string | undefined;

/**
 * The `keyFile` of the suite's renders: the fixture, whose later generations are the keys a test
 * makes again in one state (a cluster's mesh CA when the cluster comes back, the CA keys when a
 * stack goes from ECDSA back to RSA), each a new key as `pulumi up` makes one, never the one it
 * replaced. A run writes the keys it still had to generate into its own copy in the run's temp
 * folder, never into the checkout; `npm run test:keys` writes them into the fixture.
 */
export function suiteKeyFile(): string {
    if (process.env[RECORD_KEYS_VARIABLE] !== undefined) return ENGINE_KEYS_FILE;
    if (keyFileCopy === undefined) {
        const copy = path.join(tempDir("engine-keys"), "engineKeys.json");
        fs.copyFileSync(ENGINE_KEYS_FILE, copy, fs.constants.COPYFILE_EXCL);
        keyFileCopy = copy;
    }
    return keyFileCopy;
}

/** Each key's resource, made once per process (the state's outputs are shared, never mutated). */
const resources = readTestKeys(ENGINE_KEYS_FILE).map((k) => ({
    type: PRIVATE_KEY_TYPE,
    name: k.name,
    inputs: k.inputs,
    ...privateKeyResource(k.inputs, crypto.createPrivateKey(k.pkcs8)),
}));

/** A new engine state holding the suite's keys: a stack's state before its next update. */
export function seededState(): EngineState {
    const state: EngineState = new Map();
    for (const resource of resources) keepInState(state, resource);
    return state;
}

/** A `render --state` file of `environment` holding the suite's keys and nothing else (0600, as render writes it). */
export function writeSeededStateFile(file: string, environment: string): void {
    fs.writeFileSync(file, JSON.stringify({ environment, resources: [...seededState()] }), { mode: 0o600, flag: "wx" });
}

/**
 * Puts the suite's keys back into a plain `render --state` file where it has no key of that name:
 * a render deletes from the state what its stack did not register (as `pulumi up` does), so a key
 * the stack makes later (a CA of the next generation) would otherwise be generated anew.
 */
export function addSeededKeys(file: string): void {
    const content = JSON.parse(fs.readFileSync(file, "utf8")) as { environment: string; resources: [string, never][] };
    const state: EngineState = new Map(content.resources);
    for (const [key, seed] of seededState()) if (!state.has(key)) state.set(key, seed);
    fs.writeFileSync(file, JSON.stringify({ ...content, resources: [...state] }));
}
