import * as pulumi from "@pulumi/pulumi";
import { KeyAlgorithm } from "../config/types";
import { apicServerCert } from "../plan/plan";
import {
    argumentError,
    certificateSettings,
    checkedIssuer,
    checkArgs,
    checkInputNames,
    InputNames,
    issueCertificate,
    ISSUING_CA_INPUTS,
    IssuingCa,
    subjectSignedName,
    refuseOutlivingIssuer,
} from "./keys";
import { epochArgument, hostArgument, organizationArgument } from "./arguments";
import { chainCertificatesOf } from "./pem";

export interface ApicServerCertificateArgs {
    /** The CA that signs it (the stack uses the gateway-server CA, under the server root). */
    readonly serverCa: IssuingCa;
    /** APIC's fully qualified host the UI services call: the certificate's only SAN. */
    readonly host: string;
    /**
     * Rotation epoch: raise it by one for a new key and certificate.
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Key algorithm: RSA (2048-bit) or ECDSA (P-256).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
     * the issuer is a RootCa, or an IntermediateCa signed in this program, with fewer validityDays;
     * with a CA given as PEM or signed by the ceremony, keep it within that CA's validity.
     * Default: 365.
     * @default 365
     */
    readonly validityDays?: number;
    /**
     * Days before expiry from which the tls provider re-issues the certificate in place, with the
     * same key, on any update (0: once it has expired); APIC keeps the copy it was given until its
     * keystore is updated. The stack gives 0 and renews by rotation.
     * Default: a third of validityDays.
     * @default a third of validityDays
     */
    readonly earlyRenewalDays?: number;
    /**
     * Subject O of the certificate.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
}

const APIC_SERVER_CERTIFICATE_INPUTS: InputNames<ApicServerCertificateArgs> = {
    serverCa: "required",
    host: "required",
    epoch: "optional",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    organization: "optional",
};

/**
 * APIC's server certificate for a host UI services call (EKU serverAuth, DNS SAN = host): the
 * keystore of the TLS server profile APIC presents to them.
 */
export class ApicServerCertificate extends pulumi.ComponentResource {
    /** The server certificate (EKU serverAuth, DNS SAN = host). */
    public readonly certPem: pulumi.Output<string>;
    /** The server private key, a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** The CA certificates that follow the certificate in APIC's keystore (no root). */
    public readonly caChainPem: pulumi.Output<string>;

    constructor(name: string, args: ApicServerCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:ApicServerCertificate", name, {}, opts);
        checkArgs(args, APIC_SERVER_CERTIFICATE_INPUTS, "ApicServerCertificate", this);
        args = {
            ...args,
            serverCa: checkInputNames(args.serverCa, ISSUING_CA_INPUTS, "ApicServerCertificate serverCa", this),
        };
        const host = hostArgument(args.host, "ApicServerCertificate host", this);
        // The host the UI sidecars verify (their DestinationRule's subjectAltNames), which
        // UiApicClient's apicHosts take fully qualified only: a short one would match no caller.
        if (!host.includes(".")) {
            throw argumentError(
                `ApicServerCertificate host "${host}" is a short name: the UI services' sidecars verify APIC by its fully qualified host (UiApicClient apicHosts), which this certificate must name. Give APIC's fully qualified host name`,
                this,
            );
        }
        const organization = organizationArgument(args.organization, "ApicServerCertificate organization", this);
        const spec = apicServerCert({
            host,
            epoch: epochArgument(args.epoch, "ApicServerCertificate epoch", this),
            ...certificateSettings(args, 365, "ApicServerCertificate", this),
            organization,
        });
        refuseOutlivingIssuer(args.serverCa, spec.validityDays, "ApicServerCertificate", this);
        const { key, cert } = issueCertificate(
            this,
            name,
            spec,
            checkedIssuer(args.serverCa, "ApicServerCertificate serverCa", this, {
                signsFor: "serverAuth",
                signsNames: [{ type: "DNS", value: host, input: "host" }, subjectSignedName(spec.subject)],
            }),
        );
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.caChainPem = chainCertificatesOf(args.serverCa.chainPem);
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem, caChainPem: this.caChainPem });
    }
}
