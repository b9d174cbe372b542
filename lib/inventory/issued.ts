/** The issued inventory: the planned certificates plus the facts of the issued ones (the stack output `inventory`, a render's inventory.json). */
import * as crypto from "crypto";
import { PlannedCertificate, plannedCertificates } from "./planned";
import { DeployedKey } from "../plan/caRotation";
import { PkiPlan } from "../plan/plan";
import { DAY_MS } from "../pki/crl";
import { spkiPin } from "../pki/pins";
import { isoInstant, nameOnOneLine } from "../pki/x509";

export interface IssuedCertificate extends PlannedCertificate {
    /** The issuer's distinguished name as written in the certificate. */
    issuerSubject: string;
    serial: string;
    sha256: string;
    notBefore: string;
    notAfter: string;
    /** The pin of the key it certifies (`verifyCertificateSpki` form). */
    spki: string;
    /**
     * Since when the stack has deployed certificates for this key: the notBefore of the first one
     * (the deployed record's `keys`, never later than this certificate's), or this certificate's
     * notBefore. A customer-facing host's is its certificate's notBefore: a public CA's certificate
     * is renewed for its own lifetime.
     */
    keySince: string;
    /**
     * When the key is due for renewal: keySince + renewAfterDays, and not before notBefore. A
     * certificate re-issued with an old key (as @pulumi/tls does once one has expired) is due at once.
     */
    renewAt: string;
}

/**
 * Why `value`, the inventory's `field`, is not a time as render writes it (toISOString), or undefined
 * when it is one (isoInstant). Date.parse would take "1" for 2001 and read a time without its zone in
 * the local one, so that what is due would depend on TZ. Shared by expiry and lifecycle, which read
 * the same inventory.json.
 */
export function inventoryTimeProblem(field: string, value: unknown): string | undefined {
    if (typeof value === "string" && isoInstant(value) !== undefined) return undefined;
    const got = value === undefined ? "nothing" : JSON.stringify(value);
    return `${field} must be an ISO 8601 time with its zone (or a date), as render writes it, e.g. 2027-01-31T00:00:00.000Z; got ${got}`;
}

/** Issued PEM per planned certificate id. */
export type IssuedPems = Record<string, string>;

export function buildInventory(plan: PkiPlan, pems: IssuedPems): IssuedCertificate[] {
    return plannedCertificates(plan).map((planned) => {
        const pem = pems[planned.id];
        if (pem === undefined) throw new Error(`render produced no certificate for ${planned.id}`);
        const cert = new crypto.X509Certificate(pem);
        const sans = (cert.subjectAltName ?? "").split(", ").filter((s) => s !== "");
        const notBefore = new Date(cert.validFrom);
        const spki = spkiPin(cert.publicKey);
        const deployedKey = plan.deployed?.keys?.[planned.id];
        // Only ever back in time: a recorded since after this certificate (a hand-edited or stale
        // record) would put the renewal point past the certificate's own, even past its expiry.
        const keySince =
            planned.role !== "customer-facing" && deployedKey?.spki === spki
                ? new Date(Math.min(Date.parse(deployedKey.since), notBefore.getTime()))
                : notBefore;
        const renewAt = Math.max(notBefore.getTime(), keySince.getTime() + planned.renewAfterDays * DAY_MS);
        return {
            ...planned,
            // As issued, as the names are: an offline root's is the ceremony's (its OU too), not the plan's
            // O and CN of it. Node gives no subject, nor issuer, for an empty one.
            subject: nameOnOneLine(cert.subject),
            dnsNames: sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4)),
            uris: sans.filter((s) => s.startsWith("URI:")).map((s) => s.slice(4)),
            issuerSubject: nameOnOneLine(cert.issuer),
            serial: cert.serialNumber,
            sha256: cert.fingerprint256,
            notBefore: notBefore.toISOString(),
            notAfter: new Date(cert.validTo).toISOString(),
            spki,
            keySince: keySince.toISOString(),
            renewAt: new Date(renewAt).toISOString(),
        };
    });
}

/** The keys the next update's inventory takes the age of (the record's `keys`): customer-facing hosts' aside. */
export function keysOf(inventory: readonly IssuedCertificate[]): Record<string, DeployedKey> {
    return Object.fromEntries(
        inventory.filter((c) => c.role !== "customer-facing").map((c) => [c.id, { spki: c.spki, since: c.keySince }]),
    );
}
