/**
 * Pins an Istio Gateway server entry can carry (`tls.verifyCertificateSpki`), computed as Envoy
 * compares them: the SHA-256 of the peer certificate's DER SubjectPublicKeyInfo, base64.
 */
import * as crypto from "crypto";

/**
 * The `verifyCertificateSpki` pin of a key: base64 SHA-256 of its DER SubjectPublicKeyInfo.
 * `pem` is a certificate or a public key (the first PEM block when it holds several), so the
 * pin can be known from `publicKeyPem` before the certificate exists.
 */
export function spkiPin(pem: string): string {
    const spki = crypto.createPublicKey(pem).export({ type: "spki", format: "der" });
    return crypto.createHash("sha256").update(spki).digest("base64");
}
