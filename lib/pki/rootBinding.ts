/**
 * An offline root is made for one environment and says so in its subject, as an
 * organizationalUnit `apic-istio-pki <environment>`. The ceremony writes it (init-root
 * --environment) and signs only that environment's CAs; the stack refuses a root bound to another
 * environment. An OU rather than a custom extension: it is part of the signed subject, so it
 * cannot change without a new root, it is the issuer name of every CA below, and every tool
 * (openssl, keytool, a browser) shows it; DC would claim a DNS label (RFC 4519), which an
 * environment name is not; and a marked OU of its own keeps the bank's common name free text.
 */
import * as x509 from "@peculiar/x509";
import { INTERMEDIATE_TITLES } from "../plan/hierarchy";

const MARK = "apic-istio-pki ";

/** The OU value that binds a root to `environment`. */
export const environmentUnit = (environment: string): string => `${MARK}${environment}`;

/** The environment a root certificate is bound to (its marked OU), or undefined for a root made without one. */
export function boundEnvironment(certPem: string): string | undefined {
    const units = new x509.X509Certificate(certPem).subjectName.getField("OU");
    return units.find((unit) => unit.startsWith(MARK))?.slice(MARK.length);
}

/** The issuing CAs' common names as the stack gives them (lib/plan/plan.ts planCas), for messages. */
export const stackCaNames = (environment: string): string[] => [
    ...Object.entries(INTERMEDIATE_TITLES)
        .filter(([slot]) => slot !== "meshCa")
        .map(([, title]) => `"${environment} ${title}"`),
    `"${environment} ${INTERMEDIATE_TITLES.meshCa} <cluster>"`,
];

/**
 * Whether a common name is one the stack gives an issuing CA of `environment`:
 * `<environment> <title>` (INTERMEDIATE_TITLES), the mesh CA's followed by its cluster, each with
 * ` G<n>` from its first rotation on.
 */
export function isStackCaName(commonName: string, environment: string): boolean {
    if (!commonName.startsWith(`${environment} `)) return false;
    const title = commonName.slice(environment.length + 1).replace(/ G[1-9][0-9]*$/, "");
    const mesh = `${INTERMEDIATE_TITLES.meshCa} `;
    if (title.startsWith(mesh)) return /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(title.slice(mesh.length));
    return Object.values(INTERMEDIATE_TITLES).includes(title) && title !== INTERMEDIATE_TITLES.meshCa;
}
