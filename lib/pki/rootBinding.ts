/**
 * An offline root is made for one environment and one trust domain, and says so in its subject,
 * as an organizationalUnit `apic-istio-pki <environment> <trust domain>`, e.g.
 * `apic-istio-pki dev gateway-server`. The ceremony writes it (init-root --environment
 * --trust-domain) and signs only the CAs of that environment and domain; the stack refuses a root
 * bound to another environment, or to another domain than the root it is given as. An OU rather
 * than a custom extension: it is part of the signed subject, so it cannot change without a new
 * root, it is the issuer name of every CA below, and every tool (openssl, keytool, a browser)
 * shows it; DC would claim a DNS label (RFC 4519), which an environment name is not; and a marked
 * OU of its own keeps the bank's common name free text. One OU for both, not one each: an
 * environment name has no space, so the two words read back exactly, and a root made before
 * trust domains existed (`apic-istio-pki <environment>`) is told apart rather than misread.
 */
import * as x509 from "@peculiar/x509";
import {
    domainSigns,
    INTERMEDIATE_SLOTS,
    INTERMEDIATE_TITLES,
    IntermediateSlot,
    ROOT_TRUST_DOMAIN_NAMES,
    RootTrustDomain,
} from "../plan/hierarchy";

const MARK = "apic-istio-pki ";

/** The OU value that binds a root to `environment` and `trustDomain`. */
export const bindingUnit = (environment: string, trustDomain: RootTrustDomain): string =>
    `${MARK}${environment} ${trustDomain}`;

/** What a root's marked OU says. */
export type RootBinding =
    | {
          readonly kind: "bound";
          readonly environment: string;
          readonly trustDomain: RootTrustDomain;
          readonly unit: string;
      }
    /** `apic-istio-pki <environment>`: made by an earlier init-root, which bound no trust domain. */
    | { readonly kind: "environment only"; readonly environment: string; readonly unit: string }
    /** Marked, but not in a form init-root writes (several marked OUs, an unknown domain). */
    | { readonly kind: "unreadable"; readonly unit: string };

/** The binding of a root certificate, or undefined for a root not made by the ceremony (no marked OU). */
export function rootBinding(certPem: string): RootBinding | undefined {
    const units = new x509.X509Certificate(certPem).subjectName.getField("OU").filter((u) => u.startsWith(MARK));
    if (units.length === 0) return undefined;
    const unit = units.join(", ");
    const words = units.length === 1 ? units[0].slice(MARK.length).split(" ") : [];
    const [environment, trustDomain] = words;
    if (words.length === 1 && environment !== "") return { kind: "environment only", environment, unit };
    if (words.length === 2 && environment !== "" && (ROOT_TRUST_DOMAIN_NAMES as string[]).includes(trustDomain)) {
        return { kind: "bound", environment, trustDomain: trustDomain as RootTrustDomain, unit };
    }
    return { kind: "unreadable", unit };
}

const TRUST_DOMAIN_CHOICES = ROOT_TRUST_DOMAIN_NAMES.join("|");

/**
 * Why the ceremony cannot work with a root of this binding, or undefined for one bound to an
 * environment and a trust domain. `root` names the root in the message.
 */
export function bindingProblem(binding: RootBinding | undefined, root: string): string | undefined {
    if (binding === undefined) {
        return `${root} is bound to no environment and trust domain (no OU=${MARK}<environment> <trust domain>): it was not made by "ceremony init-root"`;
    }
    if (binding.kind === "environment only") {
        return (
            `${root} is bound to environment "${binding.environment}" but to no trust domain (OU=${binding.unit}): an earlier version of init-root made it, ` +
            `and the ceremony cannot tell which of the environment's CAs it may sign; make a new root with ` +
            `"ceremony init-root --environment ${binding.environment} --trust-domain ${TRUST_DOMAIN_CHOICES}" and give the stack its root.crt instead`
        );
    }
    if (binding.kind === "unreadable") {
        return `${root} has OU=${binding.unit}, which is not a binding init-root writes (one OU=${MARK}<environment> <${TRUST_DOMAIN_CHOICES}>); make a new root with "ceremony init-root"`;
    }
    return undefined;
}

/** The issuing CA slot whose name the stack gives `commonName` in `environment` (lib/plan/plan.ts planCas), if any. */
export function stackCaSlot(commonName: string, environment: string): IntermediateSlot | undefined {
    if (!commonName.startsWith(`${environment} `)) return undefined;
    // Each name carries ` G<n>` from its first rotation on; the mesh CA's title is followed by its cluster.
    const title = commonName.slice(environment.length + 1).replace(/ G[1-9][0-9]*$/, "");
    const mesh = `${INTERMEDIATE_TITLES.meshCa} `;
    if (title.startsWith(mesh)) {
        return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(title.slice(mesh.length)) ? "meshCa" : undefined;
    }
    return INTERMEDIATE_SLOTS.find((slot) => slot !== "meshCa" && INTERMEDIATE_TITLES[slot] === title);
}

/** Whether a common name is one the stack gives an issuing CA of `environment` that a root of `trustDomain` signs. */
export function isStackCaName(commonName: string, environment: string, trustDomain: RootTrustDomain): boolean {
    const slot = stackCaSlot(commonName, environment);
    return slot !== undefined && domainSigns(trustDomain, slot);
}

/** The common names a root of `environment` and `trustDomain` signs, for messages. */
export const stackCaNames = (environment: string, trustDomain: RootTrustDomain): string[] =>
    INTERMEDIATE_SLOTS.filter((slot) => domainSigns(trustDomain, slot)).map((slot) =>
        slot === "meshCa"
            ? `"${environment} ${INTERMEDIATE_TITLES.meshCa} <cluster>"`
            : `"${environment} ${INTERMEDIATE_TITLES[slot]}"`,
    );
