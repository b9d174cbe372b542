import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CA_USES, caKey } from "../plan/plan";
import { KeyAlgorithm } from "../config/types";
import { Json, showJson } from "../config/values";
import {
    argumentError,
    certificateSettings,
    CertificateSubject,
    checkCaSubject,
    checkArgs,
    checkInputNames,
    HOURS_PER_DAY,
    InputNames,
    privateKeyArgs,
    SUBJECT_INPUTS,
    subjectArgs,
    noteMadeCa,
} from "./keys";
import { refuseOutput } from "./arguments";

export interface RootCaArgs {
    /** Subject of the root certificate; a CA needs at least a common name. */
    readonly subject: CertificateSubject;
    /**
     * Key algorithm: RSA (4096-bit) or ECDSA (P-384).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Validity in days.
     * Default: 3650.
     * @default 3650
     */
    readonly validityDays?: number;
    /**
     * Days before expiry from which the tls provider re-issues the certificate in place, with the
     * same key, on any update, with every certificate below it (0: once it has expired). The stack
     * gives 0 and renews by rotation.
     * Default: a third of validityDays.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
    /**
     * How many CA certificates may follow the root, as OpenSSL and Go (istiod) hold it: 1 allows
     * intermediates but no CA below them. Envoy's BoringSSL ignores a trust anchor's pathlen, so
     * Envoy accepts a sub-CA below an intermediate all the same.
     * A whole number >= 1: the TLS provider writes 0 as "no limit".
     * Default: 1.
     * @default 1
     */
    readonly maxPathLength?: number;
}

const ROOT_CA_INPUTS: InputNames<RootCaArgs> = {
    subject: "required",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    maxPathLength: "optional",
};

/** A self-signed root CA: key and certificate (keyCertSign, cRLSign, subject and authority key ids). */
export class RootCa extends pulumi.ComponentResource {
    /** The root certificate, the trust anchor of everything below it. */
    public readonly certPem: pulumi.Output<string>;
    /** The root's private key, a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;

    constructor(name: string, args: RootCaArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:RootCa", name, {}, opts);
        checkArgs(args, ROOT_CA_INPUTS, "RootCa", this);
        checkInputNames(args.subject, SUBJECT_INPUTS, "RootCa subject", this);
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(args, 3650, "RootCa", this);
        checkCaSubject(args.subject, "RootCa", this);
        refuseOutput(args.maxPathLength, "RootCa maxPathLength", this);
        const maxPathLength = args.maxPathLength ?? 1;
        // A whole number: NaN or text would slip past "< 1" and make a root with no limit at all.
        if (!Number.isInteger(maxPathLength) || maxPathLength < 1) {
            throw argumentError(
                `RootCa maxPathLength must be a whole number >= 1; got ${showJson(maxPathLength as Json)}. @pulumi/tls writes 0 as "no limit", so 0 cannot forbid sub-CAs`,
                this,
            );
        }

        const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(caKey(keyAlgorithm)), { parent: this });
        const cert = new tls.SelfSignedCert(
            `${name}-cert`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: subjectArgs(args.subject),
                isCaCertificate: true,
                maxPathLength,
                setSubjectKeyId: true,
                setAuthorityKeyId: true,
                allowedUses: [...CA_USES],
                validityPeriodHours: validityDays * HOURS_PER_DAY,
                earlyRenewalHours: earlyRenewalDays * HOURS_PER_DAY,
            },
            { parent: this },
        );

        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        noteMadeCa(this, `RootCa "${name}"`, validityDays);
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem });
    }
}
