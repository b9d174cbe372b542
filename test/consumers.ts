/**
 * What each consumer of the rendered material decides about a peer, under Envoy's rules
 * (test/envoyVerifier.ts: BoringSSL and OpenSSL, partial chain, CRL check all):
 * - the gateway: an Istio Gateway server entry (the secret's ca.crt and ca.crl, the entry's
 *   subjectAltNames and verifyCertificateSpki) checking an APIC client;
 * - APIC: its truststore (and truststore.crl) checking the gateway's server certificate for the host,
 *   as DataPower's validation credentials do (below: the chain comes from the truststore alone);
 * - a sidecar: cacerts' root-cert.pem (and ca-crl.pem) checking a workload's SPIFFE identity;
 * - APIC's UI-facing TLS server profile checking a UI service (its UI truststore, no key pins, the
 *   same DataPower rules),
 *   and a UI service's sidecar checking APIC's UI-facing server certificate.
 */
import * as crypto from "crypto";
import * as x509 from "@peculiar/x509";
import * as YAML from "yaml";
import { crlSignedBy } from "../lib/pki/crlSeries";
import { pemBlocks } from "../lib/pki/pem";
import { Cacerts, gatewayServerConfig, Rendered } from "./helpers";
import { PeerCheck, PeerVerdict, verifyPeers } from "./envoyVerifier";

/** The chain APIC sends: its client certificate and the issuing chain of its keystore. */
export const apicSends = (rendered: Rendered, endpointId: string): string =>
    rendered.read(`apic/${endpointId}/client.crt`) + rendered.read(`apic/${endpointId}/ca-chain.pem`);

/** The gateway of `gateway`'s render, endpoint `endpointId`, checking the client chain `chain`. */
export function gatewayCheck(gateway: Rendered, endpointId: string, chain: string, at?: Date): PeerCheck {
    const config = gatewayServerConfig(gateway, endpointId);
    return {
        caCrt: config.caCrt,
        ...(config.caCrl !== undefined ? { caCrl: config.caCrl } : {}),
        chain,
        purpose: "sslclient",
        subjectAltNames: config.subjectAltNames,
        verifyCertificateSpki: config.verifyCertificateSpki ?? [],
        ...(at !== undefined ? { at } : {}),
    };
}

/**
 * How DataPower's validation credentials (what an APIC truststore becomes) trust a peer, IBM
 * technote swg21452478: "In PKIX mode, a certificate is trusted if and only if a Validation
 * Credential object contains the necessary certificates to construct a certificate chain to the
 * certificate from a root CA. In legacy mode, a certificate is trusted if the Validation Credential
 * object contains the certificate itself or the certificate of its CA."
 * - `pkix`: a chain from the leaf up to a self-signed root, every CA of it from the truststore
 *   (no partial chain), with the truststore's CRLs when it has some (CRL check all);
 * - `legacy`: the leaf's issuer certificate in the truststore is enough (partial chain); no CRL
 *   (the profile cannot load one: leaving the truststore is how a CA stops being trusted).
 * Both ignore the intermediates the peer sends in the handshake, the pessimistic reading: a
 * truststore that passes here passes whether DataPower uses them or not.
 * - `pkix-sent`: PKIX mode taking the intermediates the peer sends too, for attackers: a forgery
 *   refused only because DataPower might not use what it is sent is not refused for sure.
 */
export type ValcredMode = "pkix" | "legacy" | "pkix-sent";

/** A DataPower valcred of `truststore` (and `crl`) checking the chain a peer sends, in `mode`. */
export function valcredCheck(
    truststore: string,
    crl: string | undefined,
    chain: string,
    purpose: PeerCheck["purpose"],
    mode: ValcredMode,
    at?: Date,
): PeerCheck {
    const [leaf] = pemBlocks(chain, "CERTIFICATE");
    if (leaf === undefined) throw new Error("the peer's chain holds no certificate");
    return {
        caCrt: truststore,
        ...(crl !== undefined && mode !== "legacy" ? { caCrl: crl } : {}),
        chain: mode === "pkix-sent" ? chain : leaf,
        purpose,
        partialChain: mode === "legacy",
        ...(at !== undefined ? { at } : {}),
    };
}

/**
 * APIC of `apic`'s render, calling endpoint `endpointId`, checking the server chain `chain` against
 * its truststore as DataPower's validation credentials do in `mode` (PKIX by default).
 */
export function apicCheck(
    apic: Rendered,
    endpointId: string,
    chain: string,
    at?: Date,
    mode: ValcredMode = "pkix",
): PeerCheck {
    if (!apic.plan.endpoints.some((e) => e.id === endpointId)) throw new Error(`no endpoint ${endpointId}`);
    const crl = apic.files.includes(`apic/${endpointId}/truststore.crl`)
        ? apic.read(`apic/${endpointId}/truststore.crl`)
        : undefined;
    // No host name check: APIC's TLS client profile has no such setting, and DataPower's TLS
    // client profiles validate the host name only when told to (validate-hostname, off by default).
    return valcredCheck(apic.read(`apic/${endpointId}/truststore.pem`), crl, chain, "sslserver", mode, at);
}

/** A sidecar with `trust`'s cacerts checking a peer workload's chain and SPIFFE identity. */
export function sidecarCheck(trust: Cacerts, chain: string, identity: string, at?: Date): PeerCheck {
    return {
        caCrt: trust["root-cert.pem"],
        ...(trust["ca-crl.pem"] !== undefined ? { caCrl: trust["ca-crl.pem"] } : {}),
        chain,
        purpose: "sslclient",
        subjectAltNames: [identity],
        ...(at !== undefined ? { at } : {}),
    };
}

/**
 * APIC's UI-facing TLS server profile of `apic`'s render checking a UI client chain: the UI
 * truststore (and its CRL), a certificate required, as DataPower's validation credentials do in `mode`.
 */
export function apicUiCheck(apic: Rendered, chain: string, at?: Date, mode: ValcredMode = "pkix"): PeerCheck {
    const crl = apic.files.includes("apic/ui/truststore.crl") ? apic.read("apic/ui/truststore.crl") : undefined;
    return valcredCheck(apic.read("apic/ui/truststore.pem"), crl, chain, "sslclient", mode, at);
}

/** The sidecar of UI service `name` (its Secret's ca.crt and ca.crl, the DestinationRule's sni and subjectAltNames) checking what APIC serves for `host`. */
export function uiSidecarCheck(ui: Rendered, name: string, host: string, chain: string, at?: Date): PeerCheck {
    const client = ui.plan.frontEnd.uiClients.find((c) => c.name === name);
    if (client === undefined) throw new Error(`no UI client ${name}`);
    const { namespace, name: secretName } = client.secret;
    const secret = YAML.parse(ui.read(`k8s/${ui.plan.config.clusters[0].name}/${namespace}/secret-${secretName}.yaml`));
    return {
        caCrt: secret.stringData["ca.crt"],
        ...(secret.stringData["ca.crl"] !== undefined ? { caCrl: secret.stringData["ca.crl"] } : {}),
        chain,
        purpose: "sslserver",
        subjectAltNames: [host],
        ...(at !== undefined ? { at } : {}),
    };
}

/** Runs the checks; each verdict comes back with a label for assertion messages. */
export function decide(checks: readonly (readonly [string, PeerCheck])[]): [string, PeerVerdict][] {
    const verdicts = verifyPeers(checks.map(([, check]) => check));
    return checks.map(([label], i) => [label, verdicts[i]]);
}

/** A verdict as one comparable line per library: "ok" or the error. */
export const summary = (v: PeerVerdict): { boringssl: string; openssl: string } => ({
    boringssl: v.boringssl.ok ? "ok" : v.boringssl.error,
    openssl: v.openssl.ok ? "ok" : v.openssl.error,
});

/** Both libraries accept every check (the message lists those that did not). */
export function assertAllAccepted(verdicts: readonly [string, PeerVerdict][]): void {
    const refused = verdicts
        .filter(([, v]) => !v.accepted)
        .map(([label, v]) => `${label}: ${JSON.stringify(summary(v))}`);
    if (refused.length > 0) throw new Error(`refused under Envoy's rules:\n${refused.join("\n")}`);
}

/** A certificate's subject as Go's pkix.Name.String() writes it: its RDNs last to first, comma-separated. */
const goName = (cert: crypto.X509Certificate): string => cert.subject.split("\n").reverse().join(",");

/**
 * What istiod says when it loads `cacerts` as its plug-in CA: undefined when it takes it, else its
 * refusal. istio/istio security/pkg/pki/util/keycertbundle.go Verify (run by
 * NewPluggedCertIstioCAOptions at start-up and by the cacerts watcher on every change, which then
 * keeps the CA it had): ca-cert.pem chains through cert-chain.pem to a root of root-cert.pem, every
 * certificate valid at `at` (Go's Certificate.Verify); ca-key.pem is its key; and with
 * ca-crl.pem, every certificate of cert-chain.pem signed one of its CRLs (Go's
 * RevocationList.CheckSignatureFrom: a CA, cRLSign when it has a keyUsage; crlSignedBy also
 * wants the CRL to name it, which ours always do).
 */
export function istiodRefusal(ca: Cacerts, at: Date = new Date()): string | undefined {
    const certificates = (pem: string) => pemBlocks(pem, "CERTIFICATE").map((p) => new crypto.X509Certificate(p));
    const signing = new crypto.X509Certificate(ca["ca-cert.pem"]);
    const chain = certificates(ca["cert-chain.pem"]);
    const roots = certificates(ca["root-cert.pem"]);
    const valid = (c: crypto.X509Certificate) =>
        Date.parse(c.validFrom) <= at.getTime() && at.getTime() <= Date.parse(c.validTo);
    const issued = (child: crypto.X509Certificate, parent: crypto.X509Certificate) =>
        parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
    // Go's chain building, up through cert-chain.pem until a root of root-cert.pem signed the top.
    const path = [signing];
    for (;;) {
        const top = path[path.length - 1];
        const root = roots.find((r) => issued(top, r));
        if (root !== undefined) {
            path.push(root);
            break;
        }
        const up = chain.find((c) => !path.some((p) => p.raw.equals(c.raw)) && issued(top, c));
        if (up === undefined) {
            return "cannot verify the cert with the provided root chain and cert pool with error: x509: certificate signed by unknown authority";
        }
        path.push(up);
    }
    if (!path.every(valid)) {
        return "cannot verify the cert with the provided root chain and cert pool with error: x509: certificate has expired or is not yet valid";
    }
    const spki = (key: crypto.KeyObject) => key.export({ type: "spki", format: "der" });
    if (!spki(crypto.createPublicKey(ca["ca-key.pem"])).equals(spki(signing.publicKey))) {
        return "the cert does not match the key";
    }
    const crls = pemBlocks(ca["ca-crl.pem"] ?? "", "X509 CRL");
    if (crls.length === 0) return undefined;
    const signsCrls = (c: crypto.X509Certificate) => {
        const usage = new x509.X509Certificate(c.raw).getExtension(x509.KeyUsagesExtension);
        return c.ca && (usage === null || (usage.usages & x509.KeyUsageFlags.cRLSign) !== 0);
    };
    const missing = chain.filter((c) => !(signsCrls(c) && crls.some((crl) => crlSignedBy(crl, c.toString()))));
    return missing.length === 0 ? undefined : `missing CRL signed by certificates: [${missing.map(goName).join(" ")}]`;
}

/**
 * What a running istiod does when its cacerts changes from `loaded` to `next`: undefined when it
 * takes `next`, else what it logs while it keeps signing with the CA it has. istio/istio
 * pilot/pkg/bootstrap/istio_ca.go handleEvent: a root-cert.pem that is not byte for byte the one
 * it loaded is taken only with ISTIO_MULTIROOT_MESH (`multiRoot`), and then, up to Istio 1.29,
 * only when one file's bytes hold the other's (bytes.Contains: the order of the roots counts);
 * from 1.30 when one bundle holds every certificate of the other. The first, stricter rule is
 * checked, so a rotation passes on every version. Then keycertbundle.go Verify, as at start-up.
 */
export function istiodReloadRefusal(loaded: Cacerts, next: Cacerts, multiRoot: boolean): string | undefined {
    const [was, now] = [loaded["root-cert.pem"], next["root-cert.pem"]];
    if (was !== now) {
        if (!multiRoot) return "Multi root is disabled, updating new ROOT-CA not supported";
        if (was === "" || now === "" || !(was.includes(now) || now.includes(was))) {
            return "Updating new ROOT-CA not supported";
        }
    }
    const refusal = istiodRefusal(next);
    return refusal === undefined ? undefined : `Failed to update new Plug-in CA certs: ${refusal}`;
}
