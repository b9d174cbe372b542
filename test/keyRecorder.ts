/**
 * `npm run test:keys`: runs the suite (mocha --require this file) and adds every RSA key the
 * stand-in had to generate in this process to test/fixtures/engineKeys.json, so that the next run
 * finds it in its engine state (./engineKeys.ts); the suite's renders add the later generations
 * of their keys to it too (suiteKeyFile). Only ever adds: a key the fixture has stays.
 */
import { EngineStandIn } from "../lib/engine/standIn";
import { TestKeyFile } from "../lib/engine/testKeys";
import { ENGINE_KEYS_ABOUT, ENGINE_KEYS_FILE, PRIVATE_KEY_TYPE, RECORD_KEYS_VARIABLE } from "./engineKeys";

// The suite's renders then keep the later generations of their keys in the fixture (suiteKeyFile).
process.env[RECORD_KEYS_VARIABLE] = "1";

type Create = (
    type: string,
    name: string,
    inputs: Record<string, unknown>,
) => Promise<{ id: string; state: Record<string, unknown> }>;

const fixture = new TestKeyFile(ENGINE_KEYS_FILE, ENGINE_KEYS_ABOUT);
let generated = 0;
const prototype = EngineStandIn.prototype as unknown as { create: Create };
const create = prototype.create;
prototype.create = async function (this: EngineStandIn, type, name, inputs) {
    const result = await create.call(this, type, name, inputs);
    if (type === PRIVATE_KEY_TYPE && inputs.algorithm === "RSA") {
        generated++;
        fixture.add(name, inputs, String(result.state.privateKeyPem));
    }
    return result;
};

export const mochaHooks = {
    afterAll(): void {
        const added = fixture.save();
        console.log(`test:keys: ${generated} RSA keys generated, ${added} added to the fixture`);
    },
};
