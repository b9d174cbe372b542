/**
 * Istio's `verifyCertificateSpki` pin of a key: base64 of the SHA-256 of its DER
 * SubjectPublicKeyInfo, the form Envoy's `verify_certificate_spki` compares against the peer's
 * leaf certificate. Depends only on the public key, so a pin never changes while the key stays.
 */
import * as crypto from "crypto";

/** The pin of a public key, a private key or a certificate, given as PEM. */
export function spkiPin(pem: string): string {
    const publicKey = pem.includes("CERTIFICATE-----")
        ? new crypto.X509Certificate(pem).publicKey
        : crypto.createPublicKey(pem);
    const spki = publicKey.export({ type: "spki", format: "der" });
    return crypto.createHash("sha256").update(spki).digest("base64");
}
