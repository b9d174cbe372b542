import * as pulumi from "@pulumi/pulumi";
import { Json, showJson } from "../config/values";
import * as random from "@pulumi/random";
import { pemBlocks } from "../pki/pem";
import { cachedPkcs12, pkcs12FriendlyName, pkcs12IterationsProblem, PKCS12_MIN_ITERATIONS } from "../pki/pkcs12";
import { apicChainProblem, APIC_MAX_INTERMEDIATES, clientCaInServerTrustProblem } from "../pki/apic";
import { spkiPin } from "../pki/pins";
import { KeyAlgorithm } from "../config/types";
import { apicClientCert, pkcs12PasswordName } from "../plan/plan";
import {
    afterCheck,
    argumentError,
    certificateSettings,
    checkedIssuer,
    checkArgs,
    checkInputNames,
    choice,
    InputNames,
    issueCertificate,
    ISSUING_CA_INPUTS,
    IssuingCa,
    subjectSignedName,
    refuseOutlivingIssuer,
} from "./keys";
import { epochArgument, idArgument, identityArgument, isGiven, organizationArgument, refuseOutput } from "./arguments";
import { checkClock } from "./checkClock";
import { chainCertificatesOf, checkedTrustBundle, joinPemOutputs } from "./pem";

/** Encryption of the APIC PKCS#12; `as const` so that Pulumi's schema inference reads it as an enum. */
export const Pkcs12Profile = {
    /** AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC, as OpenSSL 3 writes (Java 17's keytool opens it). */
    Modern: "modern",
    /** 3DES, HMAC-SHA1 MAC: weak algorithms, only for consumers that cannot open modern. */
    Legacy: "legacy",
} as const;
export type Pkcs12Profile = (typeof Pkcs12Profile)[keyof typeof Pkcs12Profile];

export interface ApicClientBundleArgs {
    /** The CA that signs APIC client certificates. */
    readonly clientCa: IssuingCa;
    /** The identity APIC presents: the certificate's URI SAN, pinned by the gateway. */
    readonly identity: string;
    /**
     * Short endpoint name for the certificate's common name ("apic-client <endpointId>") and the
     * PKCS#12 friendly name: an id (lower-case letters, digits and '-'); the component's name, when
     * it is the default, must be printable ASCII.
     * Default: the component's name.
     * @default the component's name
     */
    readonly endpointId?: string;
    /**
     * APIC's truststore: the root(s) of the gateway's server certificates and every generation of
     * the CA that issues them. DataPower's validation credentials build the chain from their own
     * certificates, not from the ones the gateway sends (legacy mode wants the leaf's issuer there).
     * Refused unless it holds CA certificates (keyCertSign) only, none expired: DataPower trusts a
     * leaf in its validation credentials as itself, a pin that breaks at that leaf's renewal, and
     * takes validation credentials that hold an expired certificate down. Refused too when it holds
     * (by SPKI pin) clientCa, a CA of its chain or their root without a gateway server CA that root
     * issued: the client CA has no extendedKeyUsage, so its key would sign a server certificate
     * APIC takes for the gateway's.
     */
    readonly serverTrustBundlePem: pulumi.Input<string>;
    /**
     * Key algorithm: RSA (2048-bit) or ECDSA (P-256).
     * Default: "RSA".
     * @default "RSA"
     */
    readonly keyAlgorithm?: KeyAlgorithm;
    /**
     * Client certificate validity in days, at most the issuer's (a certificate cannot outlive its issuer): refused when
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
     * Rotation epoch: raise it by one for a new key and certificate (same identity).
     * Default: 0.
     * @default 0
     */
    readonly epoch?: number;
    /**
     * Subject O of the client certificate.
     * Default: none (the subject has no O).
     * @default none (the subject has no O)
     */
    readonly organization?: string;
    /**
     * PKCS#12 encryption: modern (AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC) or legacy
     * (3DES, HMAC-SHA1 MAC: weak algorithms, only for consumers that cannot open modern; its
     * friendly name, the alias keytool shows, ends in "-legacy-3des-sha1").
     * Default: "modern".
     * @default "modern"
     */
    readonly pkcs12Profile?: Pkcs12Profile;
    /**
     * PKCS#12 iteration count, for key encryption, certificate encryption and the MAC alike:
     * 10000 (Java 17's default) to 1000000 (the MAC's key derivation runs in JavaScript, about 4 s
     * per keystore at 1000000; the 32-character random password gains nothing from more); with
     * pkcs12Profile "legacy" at most 100000, as all its key derivations run in JavaScript (about
     * 1 s per keystore at 100000).
     * Default: 10000.
     * @default 10000
     */
    readonly pkcs12Iterations?: number;
}

const APIC_CLIENT_BUNDLE_INPUTS: InputNames<ApicClientBundleArgs> = {
    clientCa: "required",
    identity: "required",
    endpointId: "optional",
    serverTrustBundlePem: "required",
    keyAlgorithm: "optional",
    validityDays: "optional",
    earlyRenewalDays: "optional",
    epoch: "optional",
    organization: "optional",
    pkcs12Profile: "optional",
    pkcs12Iterations: "optional",
};

/**
 * The component's name as its endpointId, taken as it always was (a bundle deployed as "apicBundle"
 * keeps its CN and friendly name), but only in printable ASCII: past it, OpenSSL reads the PKCS#12
 * friendly name otherwise than Java does ("ob😀x" as "ob="), and the CN is no longer plain text.
 */
function defaultEndpointId(name: string, resource: pulumi.Resource): string {
    if (!/^[\x20-\x7e]+$/.test(name)) {
        throw argumentError(
            `ApicClientBundle endpointId (default: the component's name) must be printable ASCII, as the certificate's CN and the PKCS#12 friendly name are made of it; got ${showJson(name)}. Pass endpointId (an id), or give the component a name in printable ASCII`,
            resource,
        );
    }
    return name;
}

/**
 * What APIC needs to call one gateway host with mutual TLS: a client certificate (EKU clientAuth,
 * URI SAN = identity), its key, the issuing chain (keystore) and the server CAs (truststore).
 */
export class ApicClientBundle extends pulumi.ComponentResource {
    /** The client certificate. */
    public readonly certPem: pulumi.Output<string>;
    /** The client private key, a secret. */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** The CA certificates that follow the client certificate in APIC's keystore (no root). */
    public readonly caChainPem: pulumi.Output<string>;
    /** The CAs APIC trusts for the gateway's server certificate: APIC's truststore. */
    public readonly truststorePem: pulumi.Output<string>;
    /** The pinned identity, for the gateway's `subjectAltNames`. */
    public readonly identity: string;
    /** The pin of the client key, for the gateway's `verifyCertificateSpki` (base64 SHA-256 of its SubjectPublicKeyInfo). */
    public readonly spkiPin: pulumi.Output<string>;
    /** Key, certificate and chain as PKCS#12 (base64), a secret; the same bytes for the same inputs. */
    public readonly pkcs12Base64: pulumi.Output<string>;
    /** The PKCS#12 password (generated), a secret. */
    public readonly pkcs12Password: pulumi.Output<string>;

    constructor(name: string, args: ApicClientBundleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("apic-istio-pki:index:ApicClientBundle", name, {}, opts);
        checkArgs(args, APIC_CLIENT_BUNDLE_INPUTS, "ApicClientBundle", this);
        args = {
            ...args,
            clientCa: checkInputNames(args.clientCa, ISSUING_CA_INPUTS, "ApicClientBundle clientCa", this),
        };
        const { keyAlgorithm, validityDays, earlyRenewalDays } = certificateSettings(
            args,
            365,
            "ApicClientBundle",
            this,
        );
        refuseOutlivingIssuer(args.clientCa, validityDays, "ApicClientBundle", this);
        const endpointId = isGiven(args.endpointId)
            ? idArgument(args.endpointId, "ApicClientBundle endpointId", this)
            : defaultEndpointId(name, this);
        const identity = identityArgument(args.identity, "ApicClientBundle identity", this);
        const epoch = epochArgument(args.epoch, "ApicClientBundle epoch", this);
        const pkcs12Profile = choice(
            args.pkcs12Profile,
            Object.values(Pkcs12Profile),
            "modern",
            "ApicClientBundle pkcs12Profile",
            this,
        );
        refuseOutput(args.pkcs12Iterations, "ApicClientBundle pkcs12Iterations", this);
        const pkcs12Iterations = args.pkcs12Iterations ?? PKCS12_MIN_ITERATIONS;
        const iterationsProblem = pkcs12IterationsProblem(pkcs12Iterations, pkcs12Profile);
        if (iterationsProblem !== undefined) {
            throw argumentError(
                // As sent: text "20000" from another language is not the number it looks like.
                `ApicClientBundle pkcs12Iterations ${iterationsProblem.replace(/got .*$/, `got ${showJson(pkcs12Iterations as Json)}`)}. Set it within that range or leave it unset (${PKCS12_MIN_ITERATIONS})`,
                this,
            );
        }
        const organization = organizationArgument(args.organization, "ApicClientBundle organization", this);
        const checkedBundle = checkedTrustBundle(
            args.serverTrustBundlePem,
            "ApicClientBundle serverTrustBundlePem",
            this,
            checkClock(),
            { dataPower: true },
        );
        const spec = apicClientCert({
            endpointId,
            identity,
            keyAlgorithm,
            validityDays,
            earlyRenewalDays,
            epoch,
            organization,
        });
        const clientCa = checkedIssuer(args.clientCa, "ApicClientBundle clientCa", this, {
            signsFor: "clientAuth",
            signsNames: [{ type: "URI", value: identity, input: "identity" }, subjectSignedName(spec.subject)],
        });
        // Not the client CA's own trust (once clientCa passes its checks, which name a bad one first):
        // its key, or its chain's, would sign a server certificate APIC accepts as the gateway. The
        // verdict alone leaves clientCa's outputs (a secret object from another language), so that
        // the truststore stays as secret as it was given.
        const notClientCa = pulumi.unsecret(
            pulumi
                .all([checkedBundle, clientCa.certPem, args.clientCa.chainPem])
                .apply(([bundle, caCertPem, caChainPem]) => {
                    const problem = clientCaInServerTrustProblem(bundle, caCertPem, caChainPem);
                    if (problem !== undefined) {
                        throw argumentError(`ApicClientBundle serverTrustBundlePem ${problem}`, this);
                    }
                    return true;
                }),
        );
        const truststorePem = pulumi.all([checkedBundle, notClientCa]).apply(([bundle]) => bundle);
        const caChainPem = chainCertificatesOf(args.clientCa.chainPem).apply((chain) => {
            const problem = apicChainProblem(chain);
            if (problem !== undefined) {
                throw argumentError(
                    `ApicClientBundle clientCa.chainPem ${problem}. Give the chain from clientCa up to its root, at most ${APIC_MAX_INTERMEDIATES} CA certificates besides the root (a root given is left out); with a longer path, issue APIC's client certificates from a CA nearer the root`,
                    this,
                );
            }
            return chain;
        });
        // Checked in an apply when given as an output: no key or password before it passes.
        const { key, cert } = issueCertificate(this, name, spec, clientCa, {}, [truststorePem, caChainPem]);

        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.caChainPem = caChainPem;
        this.truststorePem = joinPemOutputs(truststorePem);
        this.identity = identity;
        this.spkiPin = key.publicKeyPem.apply(spkiPin);
        // Named per epoch as the key and certificate are: a new key (a rotation, a keyCompromise
        // revocation) gets a new password, not the one that sat beside the leaked keystore.
        const password = new random.RandomPassword(
            pkcs12PasswordName(name, epoch),
            { length: 32, special: false },
            // Not before clientCa (its chain too) and serverTrustBundlePem pass their checks: a refused one leaves nothing made.
            { parent: this, dependsOn: afterCheck(clientCa.certPem, truststorePem, caChainPem) },
        );
        this.pkcs12Password = pulumi.secret(password.result);
        this.pkcs12Base64 = pulumi.secret(
            pulumi
                .all([key.privateKeyPem, cert.certPem, this.caChainPem, password.result])
                .apply(([keyPem, certPem, chainPem, pass]) =>
                    cachedPkcs12({
                        keyPem,
                        certPems: [certPem, ...pemBlocks(chainPem, "CERTIFICATE")],
                        password: pass,
                        friendlyName: pkcs12FriendlyName(endpointId, pkcs12Profile),
                        profile: pkcs12Profile,
                        iterations: pkcs12Iterations,
                    }).toString("base64"),
                ),
        );
        this.registerOutputs({
            certPem: this.certPem,
            privateKeyPem: this.privateKeyPem,
            caChainPem: this.caChainPem,
            truststorePem: this.truststorePem,
            spkiPin: this.spkiPin,
            pkcs12Base64: this.pkcs12Base64,
            pkcs12Password: this.pkcs12Password,
        });
    }
}
