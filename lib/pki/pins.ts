/**
 * Pins an Istio Gateway server entry can carry (`tls.verifyCertificateSpki`), computed as Envoy
 * compares them: the SHA-256 of the peer certificate's DER SubjectPublicKeyInfo, base64.
 */
import * as crypto from "crypto";

/**
 * The `verifyCertificateSpki` pin of a key: base64 SHA-256 of its DER SubjectPublicKeyInfo.
 * `key` is a certificate or a public key in PEM (the first PEM block when it holds several), so
 * the pin can be known from `publicKeyPem` before the certificate exists, or a parsed
 * certificate's `publicKey`.
 */
export function spkiPin(key: string | crypto.KeyObject): string {
    const spki = (typeof key === "string" ? crypto.createPublicKey(key) : key).export({ type: "spki", format: "der" });
    return crypto.createHash("sha256").update(spki).digest("base64");
}

/** 43 base64 characters and one "=": the shape of base64 of 32 bytes. */
const SPKI_PIN_SHAPE = /^[A-Za-z0-9+/]{43}=$/;

/**
 * `text` re-encoded as base64 of the 32 bytes it decodes to, or undefined when it is not that shape.
 * A pin is valid only when this gives it back: Envoy's Base64::decode refuses a bit set after the
 * 32nd byte (the 43rd character's last two), which Node's decoder silently drops.
 */
export function canonicalSpkiPin(text: string): string | undefined {
    return SPKI_PIN_SHAPE.test(text) ? Buffer.from(text, "base64").toString("base64") : undefined;
}
