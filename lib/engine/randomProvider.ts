/** `random:index/randomPassword:RandomPassword` emulated: a random string of the requested length and classes. */
import * as crypto from "crypto";

const CLASSES = {
    lower: "abcdefghijklmnopqrstuvwxyz",
    upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    numeric: "0123456789",
} as const;

/** The provider's default special characters (terraform-provider-random). */
const DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?";

export function randomPassword(inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
    const length = Number(inputs.length);
    if (!Number.isInteger(length) || length < 1)
        throw new Error(`length must be a whole number >= 1; got ${String(inputs.length)}`);
    const enabled = (key: string): boolean => inputs[key] !== false;
    const alphabet =
        (enabled("lower") ? CLASSES.lower : "") +
        (enabled("upper") ? CLASSES.upper : "") +
        (enabled("numeric") ? CLASSES.numeric : "") +
        (enabled("special") ? ((inputs.overrideSpecial as string | undefined) ?? DEFAULT_SPECIAL) : "");
    if (alphabet === "") throw new Error("at least one character class must be enabled");
    const result = Array.from({ length }, () => alphabet[crypto.randomInt(alphabet.length)]).join("");
    return { id: "none", state: { ...inputs, result } };
}
