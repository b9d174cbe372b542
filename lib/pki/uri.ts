/**
 * URI SANs as @pulumi/tls handles them: it parses each `uris` entry with Go's url.Parse and writes
 * url.String() into the request or certificate (resource_cert_request.go, common_cert.go), and
 * LocallySignedCert parses the request's URIs again (Go crypto/x509 parseSANExtension), refusing
 * one whose host is no domain. String() is not the text given for every URI: it lower-cases the
 * scheme and escapes a path's braces, spaces or non-ASCII characters, so a certificate may name
 * another identity than the one a peer pins (Envoy matches URI SANs exactly).
 */

/** Why a URI is not written or read as given, and what to do about it. */
export interface UriProblem {
    /** Completes a sentence that starts with the URI. */
    readonly problem: string;
    readonly fix: string;
}

/** A character of RFC 3986 that a URI holds unescaped (unreserved, sub-delims, ":", "@", "/"), or a %XX escape. */
const URI_CHARACTER = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2}/y;

/** A host name with an optional port, as "//" may be followed here. */
const AUTHORITY = /^[A-Za-z0-9.-]+(:[0-9]+)?$/;

/** What follows "//" up to the path: user info, host and port (Go's url.URL User and Host). */
const authorityOf = (rest: string): string | undefined =>
    rest.startsWith("//") ? rest.slice(2).split("/")[0] : undefined;

/** A character as %XX escapes of its UTF-8 bytes, upper-case hex as Go writes them. */
const percentEncoded = (character: string): string =>
    [...Buffer.from(character, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");

/**
 * Why Go's url.Parse and String() would not give `uri` back as it is, or undefined when they
 * would, for the URIs this package can tell: a lower-case scheme, then RFC 3986 characters only
 * (no query or fragment), and after "//" a host name with an optional :port. Go lower-cases an
 * upper-case scheme, escapes other characters in a path (and reads "?" and "#" as a query and a
 * fragment), refuses a "%" without two hex digits; other authorities are not modelled here.
 */
export function uriRewriteProblem(uri: string): UriProblem | undefined {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1];
    if (scheme === undefined) {
        return { problem: "has no scheme", fix: "give an absolute URI (scheme:...)" };
    }
    const rest = uri.slice(scheme.length + 1);
    if (scheme !== scheme.toLowerCase()) {
        return {
            problem: `has an upper-case scheme, which @pulumi/tls writes in lower case (Go's url package): the certificate would say "${scheme.toLowerCase()}:${rest}"`,
            fix: "write the scheme in lower case",
        };
    }
    const others = new Set<string>();
    let badEscape = false;
    for (let i = 0; i < rest.length;) {
        URI_CHARACTER.lastIndex = i;
        const match = URI_CHARACTER.exec(rest);
        const character = match?.[0] ?? String.fromCodePoint(rest.codePointAt(i) as number);
        if (match === null) {
            if (character === "%") badEscape = true;
            else others.add(character);
        }
        i += character.length;
    }
    if (others.size > 0) {
        const listed = [...others];
        return {
            problem: `holds ${listed.map((c) => JSON.stringify(c)).join(", ")}, which @pulumi/tls escapes, splits off or refuses (Go's url package): the certificate would not say it as given`,
            fix: `write ${listed.length === 1 ? "it" : "them"} percent-encoded (${listed.map(percentEncoded).join(", ")})`,
        };
    }
    if (badEscape) {
        return {
            problem: `holds a "%" not followed by two hex digits, which @pulumi/tls refuses in a path (Go's url package: "invalid URL escape")`,
            fix: 'write a literal "%" as %25',
        };
    }
    const authority = authorityOf(rest);
    if (authority !== undefined && !AUTHORITY.test(authority)) {
        return {
            problem: `has ${JSON.stringify(authority)} after "//", which is not a host name (letters, digits, "-" and ".") with an optional :port`,
            fix: "give a host name there (no user info, no IP address in brackets)",
        };
    }
    return undefined;
}

/**
 * Why Go's crypto/x509 refuses `uri` when it parses a certificate or request holding it
 * (parseSANExtension, domainNameValid: "invalid domain"), or undefined: a host that ends with a
 * dot, has an empty label or a character outside ASCII 33 to 126. Only a URI with "//" has a host.
 */
export function uriHostProblem(uri: string): UriProblem | undefined {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(uri)?.[0];
    const authority = scheme === undefined ? undefined : authorityOf(uri.slice(scheme.length));
    if (authority === undefined) return undefined;
    const host = authority.slice(authority.lastIndexOf("@") + 1);
    if (host === "") return undefined;
    const problem = `has the host ${JSON.stringify(host)}, which @pulumi/tls refuses when it signs the certificate request (Go's x509: "invalid domain")`;
    if (host.endsWith(".")) return { problem, fix: "write it without the trailing dot" };
    if (host.split(".").includes("")) return { problem, fix: 'write it without empty labels (".." or a leading ".")' };
    if ([...host].some((c) => c < "!" || c > "~"))
        return { problem, fix: "write it in ASCII letters, digits, '-' and '.'" };
    return undefined;
}
