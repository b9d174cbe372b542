/** The issued inventory: the planned certificates plus the facts of the issued ones (the stack output `inventory`, a render's inventory.json). */
import * as crypto from "crypto";
import { PlannedCertificate, plannedCertificates } from "./planned";
import { PkiPlan } from "../plan/plan";

export interface IssuedCertificate extends PlannedCertificate {
    /** The issuer's distinguished name as written in the certificate. */
    issuerSubject: string;
    serial: string;
    sha256: string;
    notBefore: string;
    notAfter: string;
    /** notBefore + renewAfterDays. */
    renewAt: string;
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
        return {
            ...planned,
            dnsNames: sans.filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4)),
            uris: sans.filter((s) => s.startsWith("URI:")).map((s) => s.slice(4)),
            issuerSubject: cert.issuer.replace(/\n/g, ", "),
            serial: cert.serialNumber,
            sha256: cert.fingerprint256,
            notBefore: notBefore.toISOString(),
            notAfter: new Date(cert.validTo).toISOString(),
            renewAt: new Date(notBefore.getTime() + planned.renewAfterDays * 86_400_000).toISOString(),
        };
    });
}
