/**
 * Verifies a peer's certificate chain with Envoy's rules (default_validator.cc, as configured by
 * Istio for a Gateway server entry), through two libraries: BoringSSL (Debian's
 * android-libboringssl-dev, what Envoy links) and OpenSSL 3. "Accepted" means both accept.
 *
 * test/envoyVerifier.c is compiled with gcc on first use, once per library, and cached under
 * dist/verifier/ by a hash of the source and the compiler command.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./helpers";

export interface PeerCheck {
    /** Trust anchors: every certificate of `ca.crt` (Envoy's `trusted_ca`). */
    caCrt: string;
    /** `ca.crl`: all its CRLs are loaded and turn on CRL_CHECK | CRL_CHECK_ALL. */
    caCrl?: string;
    /** The peer's chain as it sends it: leaf first, then the intermediates it sends. */
    chain: string;
    /** `sslclient`: a gateway verifying a client; `sslserver`: a client verifying a server. */
    purpose: "sslclient" | "sslserver";
    /** Istio `subjectAltNames`: exact matchers on DNS (wildcard rules), URI, email and IP SANs. */
    subjectAltNames?: readonly string[];
    /** Istio `verifyCertificateSpki`: base64 SHA-256 of the leaf's SubjectPublicKeyInfo. */
    verifyCertificateSpki?: readonly string[];
    /** Istio `verifyCertificateHash`: hex SHA-256 of the leaf, plain or colon-separated. */
    verifyCertificateHash?: readonly string[];
    /** Verify at this instant instead of now. */
    at?: Date;
    /**
     * Every certificate of `caCrt` is an anchor (X509_V_FLAG_PARTIAL_CHAIN), as Envoy always
     * sets. Turn off to model a verifier that needs a self-signed anchor.
     * @default true
     */
    partialChain?: boolean;
}

export interface Verdict {
    ok: boolean;
    /** "" when ok; else the library's X509 error string, SAN_MISMATCH or PIN_MISMATCH. */
    error: string;
    /** The chain position of a chain verification error (0 = leaf). */
    depth?: number;
    /** The verified chain's subject common names, leaf first (when chain verification passed). */
    chain?: string[];
}

export interface PeerVerdict {
    /** Both libraries accept. */
    accepted: boolean;
    boringssl: Verdict;
    openssl: Verdict;
}

/** The chain verified but no `subjectAltNames` matcher matched any SAN of the leaf. */
export const SAN_MISMATCH = "SAN mismatch";
/** The chain and SANs passed but the leaf matched neither a hash nor an SPKI pin. */
export const PIN_MISMATCH = "cert hash and SPKI mismatch";

type Library = "boringssl" | "openssl";

const SOURCE = path.join(ROOT, "test/envoyVerifier.c");

function gcc(args: string[]): string {
    try {
        return execFileSync("gcc", args, { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
        const stderr = (e as { stderr?: string }).stderr || String(e);
        throw new Error(
            `cannot compile the Envoy-mode verifier (install gcc, libssl-dev and android-libboringssl-dev, as .ci/run does):\n${stderr}`,
        );
    }
}

/** gcc flags after the source: the headers and library of each; BoringSSL's stay out of the default paths. */
function libraryFlags(library: Library): string[] {
    if (library === "openssl") return ["-lcrypto"];
    const multiarch = gcc(["-print-multiarch"]).trim();
    const lib = `/usr/lib/${multiarch}/android`;
    return ["-isystem", "/usr/include/android", `-L${lib}`, `-Wl,-rpath,${lib}`, "-lcrypto"];
}

const binaries = new Map<Library, string>();

/** The compiled verifier for `library`, built once and reused while the source and flags are unchanged. */
function verifierBinary(library: Library): string {
    const cached = binaries.get(library);
    if (cached) return cached;
    const args = ["-O2", "-std=c11", "-Wall", "-Werror", "-o"];
    const flags = libraryFlags(library);
    const key = crypto
        .createHash("sha256")
        .update(fs.readFileSync(SOURCE))
        .update(JSON.stringify([args, flags]))
        .digest("hex")
        .slice(0, 16);
    const dir = path.join(ROOT, "dist/verifier");
    const binary = path.join(dir, `envoy-verify-${library}-${key}`);
    if (!fs.existsSync(binary)) {
        fs.mkdirSync(dir, { recursive: true });
        const partial = `${binary}.${process.pid}.tmp`;
        gcc([...args, partial, SOURCE, ...flags]);
        fs.renameSync(partial, binary); // atomic: a concurrent run sees no file or a whole one
        for (const name of fs.readdirSync(dir)) {
            const stale = path.join(dir, name);
            if (name.startsWith(`envoy-verify-${library}-`) && !name.endsWith(".tmp") && stale !== binary) {
                fs.rmSync(stale, { force: true }); // built from an older source
            }
        }
    }
    binaries.set(library, binary);
    return binary;
}

/** What each compiled verifier says about itself: flavour, version string, loaded libcrypto file. */
export function verifierVersions(): Record<Library, { flavour: string; version: string; library: string }> {
    const describe = (library: Library) => {
        const [flavour, version, file] = execFileSync(verifierBinary(library), ["--version"], { encoding: "utf8" })
            .trimEnd()
            .split("\t");
        return { flavour, version, library: file };
    };
    return { boringssl: describe("boringssl"), openssl: describe("openssl") };
}

/** Envoy refuses a hash that is not 32 bytes of hex (colons removed only from the 95-character form). */
function hashPinHex(pin: string): string {
    const hex = pin.length === 95 ? pin.replaceAll(":", "") : pin;
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
        throw new Error(`verifyCertificateHash "${pin}" is not a hex SHA-256 (Envoy rejects the configuration)`);
    }
    return hex.toLowerCase();
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Envoy refuses an SPKI pin that is not base64 of 32 bytes, or whose 43rd character sets bits past
 * them (Base64::decode's decodeLast), which Node's decoder would silently drop.
 */
function spkiPinHex(pin: string): string {
    if (!/^[A-Za-z0-9+/]{43}=$/.test(pin) || BASE64_ALPHABET.indexOf(pin[42]) % 4 !== 0) {
        throw new Error(`verifyCertificateSpki "${pin}" is not a base64 SHA-256 (Envoy rejects the configuration)`);
    }
    return Buffer.from(pin, "base64").toString("hex");
}

function requireBlock(pem: string, label: string, field: string): void {
    if (!pem.includes(`-----BEGIN ${label}-----`)) throw new Error(`${field} holds no ${label} PEM block`);
}

function encodeRequest(check: PeerCheck): Buffer {
    requireBlock(check.caCrt, "CERTIFICATE", "caCrt");
    requireBlock(check.chain, "CERTIFICATE", "chain");
    if (check.caCrl !== undefined) requireBlock(check.caCrl, "X509 CRL", "caCrl");
    const parts: Buffer[] = [];
    const line = (text: string) => parts.push(Buffer.from(`${text}\n`));
    const blob = (word: string, value: string) => {
        const bytes = Buffer.from(value, "utf8");
        parts.push(Buffer.from(`${word} ${bytes.length}\n`), bytes, Buffer.from("\n"));
    };
    line("request");
    blob("ca", check.caCrt);
    if (check.caCrl !== undefined) blob("crl", check.caCrl);
    blob("chain", check.chain);
    line(`purpose ${check.purpose === "sslclient" ? "ssl_client" : "ssl_server"}`);
    line(`partial ${check.partialChain === false ? 0 : 1}`);
    if (check.at) line(`time ${Math.floor(check.at.getTime() / 1000)}`);
    for (const san of check.subjectAltNames ?? []) blob("san", san);
    for (const pin of check.verifyCertificateSpki ?? []) line(`spki ${spkiPinHex(pin)}`);
    for (const pin of check.verifyCertificateHash ?? []) line(`hash ${hashPinHex(pin)}`);
    line("end");
    return Buffer.concat(parts);
}

function run(library: Library, input: Buffer, count: number): Verdict[] {
    const result = spawnSync(verifierBinary(library), [], { input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const lines = result.stdout.split("\n").slice(0, -1);
    if (result.status !== 0 || lines.length !== count) {
        throw new Error(`the ${library} verifier failed (status ${result.status}): ${result.stderr}`);
    }
    return lines.map((text) => {
        const [ok, depth, error, chain] = text.split("\t");
        return {
            ok: ok === "1",
            error,
            ...(depth !== "-1" ? { depth: Number(depth) } : {}),
            ...(chain !== "" ? { chain: chain.split("|") } : {}),
        };
    });
}

/** Several checks, one process launch per library: use it for matrices. */
export function verifyPeers(checks: readonly PeerCheck[]): PeerVerdict[] {
    if (checks.length === 0) return [];
    const input = Buffer.concat(checks.map(encodeRequest));
    const boringssl = run("boringssl", input, checks.length);
    const openssl = run("openssl", input, checks.length);
    return checks.map((_, i) => ({
        accepted: boringssl[i].ok && openssl[i].ok,
        boringssl: boringssl[i],
        openssl: openssl[i],
    }));
}

/** One check: does a peer sending `chain` get through, under BoringSSL and under OpenSSL? */
export function verifyPeer(check: PeerCheck): PeerVerdict {
    return verifyPeers([check])[0];
}
