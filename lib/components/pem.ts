/** Small helpers for PEM bundles shared by the components. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { pemBlocks, pemEncode } from "../pki/pem";
import { crlBundleProblem, rootsWithCrlProblem, trustBundleProblem } from "../pki/trustBundle";
import { CheckClock } from "./checkClock";
import { isGiven, isLater } from "./arguments";
import { argumentError } from "./errors";

/** Concatenate PEM blocks, each ending in exactly one newline (the provider's own format). */
export function joinPem(...blocks: string[]): string {
    return blocks
        .filter((b) => b.trim() !== "")
        .map((b) => (b.endsWith("\n") ? b : `${b}\n`))
        .join("");
}

/** joinPem over Pulumi inputs. */
export function joinPemOutputs(...blocks: pulumi.Input<string>[]): pulumi.Output<string> {
    return pulumi.all(blocks).apply((values) => joinPem(...values));
}

/**
 * Each CERTIFICATE block of `texts`, written as the provider writes PEM, and nothing else: no text
 * around them (an `openssl x509 -text` dump, a "Bag Attributes" preamble, CRLF line ends), and no
 * self-signed root when `withoutRoots`.
 */
function certificateBlocks(texts: (string | null | undefined)[], withoutRoots: boolean): string {
    // An output may resolve to nothing (a StackReference's missing output): that is no certificate,
    // and the issuer's own check names the missing input.
    const given = texts.filter((text): text is string => typeof text === "string");
    const blocks = given.flatMap((text) => pemBlocks(text.replace(/\r\n/g, "\n"), "CERTIFICATE"));
    return blocks
        .map((block) => {
            let cert: crypto.X509Certificate;
            try {
                cert = new crypto.X509Certificate(block);
            } catch {
                return block; // as given: its reader refuses it, as it would have before
            }
            const selfSigned = cert.subject === cert.issuer && cert.verify(cert.publicKey);
            return withoutRoots && selfSigned ? "" : pemEncode(cert.raw, "CERTIFICATE");
        })
        .join("");
}

/**
 * The CA certificates of a chain as a peer is handed them (APIC's keystore, a `ca-chain.pem`, a
 * Secret's `tls.crt` after the leaf): certificates alone, without the self-signed root, which the
 * peer's trust store holds and a chain leaves out.
 */
export function chainCertificates(...chains: (string | null | undefined)[]): string {
    return certificateBlocks(chains, true);
}

/** certificateBlocks over Pulumi inputs, roots kept: a file that holds them (istiod's cert-chain.pem). */
export function certificatesOf(...texts: pulumi.Input<string>[]): pulumi.Output<string> {
    return pulumi.all(texts).apply((values) => certificateBlocks(values, false));
}

/** chainCertificates over Pulumi inputs. */
export function chainCertificatesOf(...chains: pulumi.Input<string | undefined>[]): pulumi.Output<string> {
    return pulumi.all(chains).apply((values) => chainCertificates(...values));
}

/**
 * `bundle` as a trust bundle, refused (trustBundleProblem) unless it holds CA certificates
 * only, one unexpired at least (`dataPower`: none expired, for an APIC truststore) at the time
 * `clock` reads: at once when it is plain text (another language passes PEM so), else when the
 * output resolves. `label` names the component and the argument.
 */
export function checkedTrustBundle(
    bundle: pulumi.Input<string>,
    label: string,
    resource: pulumi.Resource,
    clock: CheckClock,
    options: { dataPower?: boolean } = {},
): pulumi.Output<string> {
    const check = (pem: string): string => {
        const problem = trustBundleProblem(pem, clock(), options);
        if (problem !== undefined) throw argumentError(`${label} ${problem}`, resource);
        return pem;
    };
    if (isLater(bundle)) return pulumi.output(bundle).apply(check);
    return pulumi.output(check(bundle));
}

/**
 * `caCrt`, refused unless it holds self-signed roots only (rootsWithCrlProblem): with a CRL
 * (`ca.crl`) Envoy makes every certificate of `ca.crt` a trust anchor and finds no CRL for it.
 * `names` say which component, arguments and peer the message is about.
 */
export function onlyRootsWithCrl(
    caCrt: string,
    names: { component: string; bundle: string; crl: string; refused: string; sender: string },
    resource: pulumi.Resource,
): string {
    const problem = rootsWithCrlProblem(caCrt, names);
    if (problem !== undefined) throw argumentError(`${names.component}: ${problem}`, resource);
    return caCrt;
}

/**
 * `crlPem` for `ca.crl` beside `caCrt`, refused (message alone) when Envoy would refuse every peer
 * with it at the time `clock` reads once both resolve (crlBundleProblem): no CRL, none signed by
 * a root of `caCrt`, a CA with no CRL valid then or CLOCK_SKEW_MS before (unless the CA, a root or
 * one of `issuers`, starts later), a key.
 */
export function checkedCrls(
    crlPem: pulumi.Input<string>,
    caCrt: pulumi.Input<string>,
    names: { component: string; bundle: string; crl: string; refused: string },
    resource: pulumi.Resource,
    clock: CheckClock,
    issuers: pulumi.Input<string> = "",
): pulumi.Output<string> {
    return pulumi
        .all([caCrt, crlPem, issuers])
        .apply(([roots, crls, cas]) => checkCrls(crls, roots, names, resource, clock, pemBlocks(cas, "CERTIFICATE")));
}

/**
 * checkedCrls' check of resolved text, at once: `unlistedCaStart` as crlBundleProblem takes it
 * (Infinity before a CA of the peers' chains is made).
 */
export function checkCrls(
    crlPem: string,
    caCrt: string,
    names: { component: string; bundle: string; crl: string; refused: string },
    resource: pulumi.Resource,
    clock: CheckClock,
    issuers: readonly string[] = [],
    unlistedCaStart?: number,
): string {
    const problem = crlBundleProblem(crlPem, caCrt, clock(), names, issuers, unlistedCaStart);
    if (problem !== undefined) throw argumentError(`${names.component}: ${names.crl} ${problem}`, resource);
    return crlPem;
}

/**
 * A sidecar's or gateway's `ca.crt` and `ca.crl` from a checked trust bundle and an optional CRL
 * bundle: with a CRL, `ca.crt` must hold roots only (onlyRootsWithCrl) and the CRLs must be ones
 * Envoy would not refuse every peer with (checkedCrls); without one, the bundle as it is.
 * `issuers`: CA certificates of the peers' chains the component has besides the roots (PEM).
 */
export function withCrls(
    trusted: pulumi.Output<string>,
    crlPem: pulumi.Input<string> | undefined,
    names: { component: string; bundle: string; crl: string; refused: string; sender: string },
    resource: pulumi.Resource,
    clock: CheckClock,
    issuers?: pulumi.Input<string>,
): { caCrt: pulumi.Output<string>; caCrl?: pulumi.Output<string> } {
    if (!isGiven(crlPem)) return { caCrt: trusted };
    const caCrt = trusted.apply((pem) => onlyRootsWithCrl(pem, names, resource));
    return { caCrt, caCrl: checkedCrls(crlPem, caCrt, names, resource, clock, issuers) };
}
