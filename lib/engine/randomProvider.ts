/**
 * `@pulumi/random` resources emulated as terraform-provider-random creates them (its
 * internal/provider/resource_{password,string,id,integer,pet}.go and internal/random/string.go):
 * the same outputs, following the same rules, drawn with crypto randomness. Not emulated:
 * RandomPassword's bcryptHash (Node has no bcrypt), and the number a RandomInteger `seed` gives: the
 * provider seeds Go's math/rand with it; here a seed gives a number of its own, the same on every
 * run, as there.
 */
import * as crypto from "crypto";
import { ADJECTIVES, ADVERBS, NAMES } from "./petNames";

type Inputs = Record<string, unknown>;
type Created = { id: string; state: Inputs };

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC = "0123456789";
/** The provider's default special characters. */
const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

/** An input as a refusal shows it. */
function shown(value: unknown): string {
    return value === undefined ? "nothing" : (JSON.stringify(value) ?? String(value));
}

/** A whole-number input, `fallback` when not given; refused below `least`. */
function wholeNumber(inputs: Inputs, key: string, fallback: number | undefined, least?: number): number {
    const value = inputs[key] ?? fallback;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || (least !== undefined && value < least)) {
        throw new Error(
            `${key} must be a whole number${least === undefined ? "" : ` >= ${least}`}; got ${shown(inputs[key])}`,
        );
    }
    return value;
}

/** A true-or-false input; undefined when not given. */
function flag(inputs: Inputs, key: string): boolean | undefined {
    const value = inputs[key];
    if (value !== undefined && typeof value !== "boolean")
        throw new Error(`${key} must be true or false; got ${shown(value)}`);
    return value;
}

/** A text input; undefined when not given. */
function text(inputs: Inputs, key: string): string | undefined {
    const value = inputs[key];
    if (value !== undefined && typeof value !== "string") throw new Error(`${key} must be text; got ${shown(value)}`);
    return value;
}

/** `count` characters (code points, as Go's runes) drawn from `charset`, each uniformly. */
function draw(charset: string, count: number): string[] {
    const characters = [...charset];
    return Array.from({ length: count }, () => characters[crypto.randomInt(characters.length)]);
}

/** A uniformly random integer in [0, range), from 8-byte draws of `bytes` (rejection sampling: no bias). */
function below(range: bigint, bytes: () => Buffer): bigint {
    const limit = 2n ** 64n - (2n ** 64n % range);
    for (;;) {
        const value = bytes().readBigUInt64BE();
        if (value < limit) return value % range;
    }
}

/**
 * RandomPassword's and RandomString's state: their inputs with the provider's defaults, and the
 * result (random.CreateString). As the provider does, each minimum draws from its own class even
 * when that class is off, and the drawn characters are then shuffled.
 */
function randomText(inputs: Inputs): Inputs {
    // `number` is numeric's deprecated name; the provider sets both to the one given (default true).
    const [number, numericGiven] = [flag(inputs, "number"), flag(inputs, "numeric")];
    if (number !== undefined && numericGiven !== undefined && number !== numericGiven) {
        throw new Error(
            `number and numeric are given different values (${number}, ${numericGiven}): give numeric only (number is its deprecated name)`,
        );
    }
    const numeric = numericGiven ?? number ?? true;
    const [upper, lower, special] = ["upper", "lower", "special"].map((key) => flag(inputs, key) ?? true);
    if (!upper && !lower && !numeric && !special) {
        throw new Error("upper, lower, numeric and special are all false: at least one must be true");
    }
    const [minUpper, minLower, minNumeric, minSpecial] = ["minUpper", "minLower", "minNumeric", "minSpecial"].map(
        (key) => wholeNumber(inputs, key, 0, 0),
    );
    const minimums = minUpper + minLower + minNumeric + minSpecial;
    const length = wholeNumber(inputs, "length", undefined, Math.max(1, minimums));
    // An empty overrideSpecial is no override (Go: `if input.OverrideSpecial != ""`).
    const specials = text(inputs, "overrideSpecial") || DEFAULT_SPECIAL;
    const alphabet = (upper ? UPPER : "") + (lower ? LOWER : "") + (numeric ? NUMERIC : "") + (special ? specials : "");
    const characters = [
        ...draw(UPPER, minUpper),
        ...draw(LOWER, minLower),
        ...draw(NUMERIC, minNumeric),
        ...draw(specials, minSpecial),
        ...draw(alphabet, length - minimums),
    ];
    for (let i = characters.length - 1; i > 0; i--) {
        const j = crypto.randomInt(i + 1);
        [characters[i], characters[j]] = [characters[j], characters[i]];
    }
    return {
        ...inputs,
        length,
        upper,
        lower,
        numeric,
        number: numeric,
        special,
        minUpper,
        minLower,
        minNumeric,
        minSpecial,
        result: characters.join(""),
    };
}

/** `random:index/randomPassword:RandomPassword`: its id is "none", as the provider writes it. */
export function randomPassword(inputs: Inputs): Created {
    return { id: "none", state: randomText(inputs) };
}

/** `random:index/randomString:RandomString`: its id is its result. */
export function randomString(inputs: Inputs): Created {
    const state = randomText(inputs);
    return { id: String(state.result), state };
}

/** `random:index/randomId:RandomId`: byteLength random bytes, in four encodings after the prefix; the id without it. */
export function randomId(inputs: Inputs): Created {
    const bytes = crypto.randomBytes(wholeNumber(inputs, "byteLength", undefined, 0));
    const prefix = text(inputs, "prefix") ?? "";
    const id = bytes.toString("base64url"); // Go's RawURLEncoding: no padding
    const dec = bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString("hex")}`);
    return {
        id,
        state: {
            ...inputs,
            b64Url: prefix + id,
            b64Std: prefix + bytes.toString("base64"),
            hex: prefix + bytes.toString("hex"),
            dec: prefix + dec.toString(),
        },
    };
}

/** `random:index/randomInteger:RandomInteger`: a whole number in [min, max]; its id is the number as text. */
export function randomInteger(inputs: Inputs): Created {
    const min = wholeNumber(inputs, "min", undefined);
    const max = wholeNumber(inputs, "max", undefined);
    if (max < min) throw new Error(`min must be at most max; got min ${min} and max ${max}`);
    const seed = text(inputs, "seed");
    // A seed makes the number a function of it (an empty seed is none, as in the provider).
    let draws = 0;
    const bytes = seed
        ? () => crypto.createHash("sha256").update(`${draws++}:${seed}`).digest()
        : () => crypto.randomBytes(8);
    const result = Number(BigInt(min) + below(BigInt(max) - BigInt(min) + 1n, bytes));
    return { id: String(result), state: { ...inputs, min, max, result } };
}

/**
 * `random:index/randomPet:RandomPet`: its id is `length` words (golang-petname's Generate: a name;
 * an adjective and a name; or adverbs before them), lower-cased, after the prefix and separator.
 */
export function randomPet(inputs: Inputs): Created {
    const length = wholeNumber(inputs, "length", 2);
    const separator = text(inputs, "separator") ?? "-";
    const prefix = text(inputs, "prefix");
    const word = (list: readonly string[]) => list[crypto.randomInt(list.length)];
    // As Generate does: 1 is a name alone; any other length (0 and below too) ends in an adjective and a name.
    const words =
        length === 1
            ? [word(NAMES)]
            : [...Array.from({ length: Math.max(0, length - 2) }, () => word(ADVERBS)), word(ADJECTIVES), word(NAMES)];
    const pet = words.join(separator).toLowerCase();
    return { id: prefix ? `${prefix}${separator}${pet}` : pet, state: { ...inputs, length, separator } };
}

/** The `@pulumi/random` resource types the stand-in emulates, each with how it is created. */
export const RANDOM_RESOURCES: ReadonlyMap<string, (inputs: Inputs) => Created> = new Map([
    ["random:index/randomPassword:RandomPassword", randomPassword],
    ["random:index/randomString:RandomString", randomString],
    ["random:index/randomId:RandomId", randomId],
    ["random:index/randomInteger:RandomInteger", randomInteger],
    ["random:index/randomPet:RandomPet", randomPet],
]);
