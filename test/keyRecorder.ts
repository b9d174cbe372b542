/**
 * `npm run test:keys`: runs the suite (mocha --require this file) and adds every RSA key the
 * stand-in had to generate in this process to test/fixtures/engineKeys.json, so that the next run
 * finds it in its engine state (./engineKeys.ts). Only ever adds: a key the fixture has stays.
 */
import * as crypto from "crypto";
import { EngineStandIn } from "../lib/engine/standIn";
import { EngineKey, PRIVATE_KEY_TYPE, readEngineKeys, writeEngineKeys } from "./engineKeys";

type Create = (
    type: string,
    name: string,
    inputs: Record<string, unknown>,
) => Promise<{ id: string; state: Record<string, unknown> }>;

const generated: EngineKey[] = [];
const prototype = EngineStandIn.prototype as unknown as { create: Create };
const create = prototype.create;
prototype.create = async function (this: EngineStandIn, type, name, inputs) {
    const result = await create.call(this, type, name, inputs);
    if (type === PRIVATE_KEY_TYPE && inputs.algorithm === "RSA") {
        const pkcs8 = crypto
            .createPrivateKey(String(result.state.privateKeyPem))
            .export({ type: "pkcs8", format: "pem" }) as string;
        generated.push({ name, inputs, pkcs8 });
    }
    return result;
};

export const mochaHooks = {
    afterAll(): void {
        const keys = readEngineKeys();
        const known = new Set(keys.map((k) => `${k.name} ${JSON.stringify(k.inputs)}`));
        const added = generated.filter((k) => {
            const id = `${k.name} ${JSON.stringify(k.inputs)}`;
            if (known.has(id)) return false;
            known.add(id);
            return true;
        });
        if (added.length > 0) writeEngineKeys([...keys, ...added]);
        console.log(`test:keys: ${generated.length} RSA keys generated, ${added.length} added to the fixture`);
    },
};
