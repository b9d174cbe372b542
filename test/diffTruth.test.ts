/**
 * Does `diff` tell the truth? Each row is a stack-file change deployed for real on the engine
 * stand-in, base then head on one engine state as successive `pulumi up`s (same inputs: the same
 * resource; changed inputs: a new one), and what changed is compared with what diffPlans, from
 * the two stack files alone, predicts: every certificate added, removed, re-issued or re-keyed,
 * every tls key and CSR created, replaced or deleted, every Kubernetes Secret and APIC bundle
 * created, updated or deleted (item by item), the gateway's pinned APIC keys, and whether a
 * consumer that holds the base's material (APIC's keystores and truststores, istiod's workloads,
 * the UI services' sidecars) breaks until a human acts: then the diff must call it a risk.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { rawConfigFromStackFile } from "../lib/config/load";
import { EngineState, RecordedResource, runWithStandIn } from "../lib/engine/standIn";
import { CertDiff, diffPlans, isRefused } from "../lib/inventory/diff";
import { IssuedCertificate } from "../lib/inventory/issued";
import { gatewayPath, secretPath } from "../lib/inventory/planned";
import { CLOCK_SKEW_MS } from "../lib/pki/crl";
import { pemBlocks } from "../lib/pki/pem";
import { pfxOf } from "../lib/pki/pkcs12";
import { PkiPlan, planFromRawConfig } from "../lib/plan/plan";
import { deployedRecordOf } from "../lib/render/render";
import { buildPki } from "../lib/stack";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { createRoot, signIntermediate } from "../lib/pki/ceremony";
import { ENGINE_KEYS_FILE } from "./engineKeys";
import { mintRoot, mintSubCa, newStackState, tempDir, TestCa } from "./helpers";

type Raw = Record<string, unknown>;

/** One update, as the engine saw it. */
interface Deployed {
    readonly raw: Raw;
    readonly plan: PkiPlan;
    /** The engine state after it: the next update starts from a copy. */
    readonly state: EngineState;
    /** Every registered resource, by type::name. */
    readonly resources: ReadonlyMap<string, RecordedResource>;
    /** Certificate PEM by inventory id. */
    readonly pems: ReadonlyMap<string, string>;
    /** Secret and APIC bundle (the diff's place ids) -> item -> content. */
    readonly places: ReadonlyMap<string, Readonly<Record<string, string>>>;
    /** Endpoint id -> its Gateway server entry's verifyCertificateSpki and subjectAltNames. */
    readonly gateway: ReadonlyMap<string, { pins: readonly string[]; sans: readonly string[] }>;
    /** Every Gateway, by its file (gatewayPath) -> its servers, as "<host> <credentialName>". */
    readonly gateways: ReadonlyMap<string, readonly string[]>;
}

const TLS = "tls:index/";
const CERT_TYPES = [`${TLS}selfSignedCert:SelfSignedCert`, `${TLS}locallySignedCert:LocallySignedCert`];
const KEY_TYPE = `${TLS}privateKey:PrivateKey`;
const CSR_TYPE = `${TLS}certRequest:CertRequest`;

/** One clock for every update of the table: CRL periods never move between base and head. */
const NOW = new Date();

/** Certificates parsed once: a table compares the same PEMs many times. */
const parsed = new Map<string, { x509: crypto.X509Certificate; sha256: string; spki: string }>();
function certOf(pem: string): { x509: crypto.X509Certificate; sha256: string; spki: string } {
    let cert = parsed.get(pem);
    if (cert === undefined) {
        const x509 = new crypto.X509Certificate(pem);
        const spki = x509.publicKey.export({ type: "spki", format: "der" }).toString("base64");
        parsed.set(pem, (cert = { x509, sha256: x509.fingerprint256, spki }));
    }
    return cert;
}
const sha256 = (pem: string): string => certOf(pem).sha256;
const spki = (pem: string): string => certOf(pem).spki;

/** A change pulumi up refuses: before anything is created (the plan), or half-way (the update). */
class Refused extends Error {
    constructor(
        readonly stage: "plan" | "update",
        message: string,
    ) {
        super(`${stage}: ${message}`);
    }
}

/**
 * Deploys `raw` on a copy of `from` as `pulumi up` would (renderNext without the files). `keyFile`:
 * RSA keys the state no longer holds under that name and inputs (a leaf key that was ECDSA) come
 * from there instead of being generated.
 */
async function deploy(raw: Raw, from: EngineState, keyFile?: string): Promise<Deployed> {
    const state: EngineState = new Map(from);
    let plan: PkiPlan;
    try {
        plan = planFromRawConfig(raw, { deployed: deployedRecordOf(state), now: NOW });
    } catch (error) {
        throw new Refused("plan", (error as Error).message);
    }
    const { engine, outputs } = await runWithStandIn(
        () => {
            const stack = buildPki(plan);
            return { outputs: stack.outputs, deploymentRecord: stack.outputs.deploymentRecord };
        },
        { state, now: () => NOW, ...(keyFile !== undefined ? { keyFile } : {}) },
    ).catch((error: Error) => {
        throw new Refused("update", error.message);
    });
    const resources = new Map(engine.resources.map((r) => [`${r.type}::${r.name}`, r]));
    const certBySha = new Map(
        engine.resources
            .filter((r) => CERT_TYPES.includes(r.type))
            .map((r) => [sha256(String(r.state.certPem)), String(r.state.certPem)]),
    );
    // Certificates signed elsewhere (offline ceremony, public CA) are the config's own.
    for (const pem of Object.values(outputs.outputs.caCertPems)) certBySha.set(sha256(pem), pem);
    for (const c of plan.frontEnd.customerFacing) {
        if (c.certificate !== undefined) {
            const [leaf] = pemBlocks(c.certificate, "CERTIFICATE");
            certBySha.set(sha256(leaf), leaf);
        }
    }
    const inventory = outputs.outputs.inventory as IssuedCertificate[];
    const pems = new Map(
        inventory.map((c) => {
            const pem = certBySha.get(c.sha256);
            if (pem === undefined) throw new Error(`no certificate found for ${c.id}`);
            return [c.id, pem];
        }),
    );
    const places = new Map<string, Record<string, string>>();
    for (const r of engine.resources.filter((r) => r.type === "kubernetes:core/v1:Secret")) {
        const { name, namespace } = r.inputs.metadata as { name: string; namespace: string };
        places.set(
            secretPath(r.providerName ?? "default", namespace, name),
            r.inputs.stringData as Record<string, string>,
        );
    }
    const defined = (items: Record<string, string | undefined>): Record<string, string> =>
        Object.fromEntries(Object.entries(items).filter(([, v]) => v !== undefined)) as Record<string, string>;
    for (const [id, b] of Object.entries(outputs.outputs.apicBundles)) {
        places.set(`APIC keystore of ${id}`, {
            "client.crt": b.certPem,
            "client.key": b.privateKeyPem,
            "ca-chain.pem": b.caChainPem,
            // Its bytes: they change with what it holds (its salts and IVs are derived, not random) and how it is written.
            "client.p12": `${pkcs12Written(b.pkcs12Base64)}, SHA-256 ${crypto.createHash("sha256").update(b.pkcs12Base64).digest("hex")}`,
        });
        places.set(
            `APIC truststore of ${id}`,
            defined({ "truststore.pem": b.truststorePem, "truststore.crl": b.truststoreCrlPem }),
        );
    }
    const apicUi = outputs.outputs.frontEnd.apic;
    for (const [host, s] of Object.entries(apicUi.servers)) {
        places.set(`APIC UI-facing keystore of ${host}`, {
            "server.crt": s.certPem,
            "server.key": s.privateKeyPem,
            "ca-chain.pem": s.caChainPem,
        });
    }
    if (apicUi.truststorePem !== undefined) {
        places.set(
            "APIC UI truststore",
            defined({ "truststore.pem": apicUi.truststorePem, "truststore.crl": apicUi.truststoreCrlPem }),
        );
    }
    const gateway = new Map<string, { pins: string[]; sans: string[] }>();
    const gateways = new Map<string, string[]>();
    for (const r of engine.resources.filter((r) => r.inputs.kind === "Gateway")) {
        const servers = (r.inputs.spec as { servers: { hosts: string[]; tls: Record<string, unknown> }[] }).servers;
        const { name, namespace } = r.inputs.metadata as { name: string; namespace: string };
        gateways.set(
            gatewayPath(r.providerName ?? "default", namespace, name),
            servers.map((s) => `${s.hosts.join(",")} ${String(s.tls.credentialName)}`),
        );
        for (const s of servers) {
            const endpoint = plan.endpoints.find((e) => e.host === s.hosts[0]);
            if (endpoint === undefined) continue;
            gateway.set(endpoint.id, {
                pins: (s.tls.verifyCertificateSpki as string[] | undefined) ?? [],
                sans: (s.tls.subjectAltNames as string[] | undefined) ?? [],
            });
        }
    }
    return { raw, plan, state, resources, pems, places, gateway, gateways };
}

/** How a PKCS#12 is written, as its MAC tells (digest, iterations): its bytes change with anything it holds. */
function pkcs12Written(base64: string): string {
    const mac = pfxOf(Buffer.from(base64, "base64"))?.macData;
    if (mac === undefined) throw new Error("the APIC bundle's pkcs12Base64 is no PKCS#12 with a MAC");
    return `MAC ${mac.mac.digestAlgorithm.algorithm}, ${mac.iterations} iterations`;
}

/** JSON with every object's keys sorted, at every depth. */
const canonical = (value: unknown): string =>
    Array.isArray(value)
        ? `[${value.map(canonical).join(",")}]`
        : typeof value === "object" && value !== null
          ? `{${Object.keys(value)
                .sort()
                .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
                .join(",")}}`
          : (JSON.stringify(value) ?? "null");

/** A tls resource's inputs without the early-renewal window, which @pulumi/tls updates in place. */
const replacingInputs = (r: RecordedResource): string => {
    const { earlyRenewalHours: _ignored, ...rest } = r.inputs;
    return canonical(rest);
};

const ownersOf = new WeakMap<Deployed, Map<string, string>>();

/** The certificate ids each tls key, CSR and certificate of a deployment belongs to. */
function owners(d: Deployed): Map<string, string> {
    const known = ownersOf.get(d);
    if (known !== undefined) return known;
    const byKey = new Map<string, string>();
    ownersOf.set(d, byKey);
    const bySpki = new Map([...d.pems].map(([id, pem]) => [spki(pem), id]));
    const bySha = new Map([...d.pems].map(([id, pem]) => [sha256(pem), id]));
    const keyOwner = new Map<string, string>();
    for (const [k, r] of d.resources) {
        if (r.type === KEY_TYPE) {
            // A PEM public key is its SubjectPublicKeyInfo in base64.
            const der = String(r.state.publicKeyPem)
                .replace(/-----[A-Z ]+-----/g, "")
                .replace(/\s/g, "");
            const id = customerFacingOwner(r.name) ?? bySpki.get(der);
            if (id !== undefined) {
                byKey.set(k, id);
                keyOwner.set(String(r.state.privateKeyPem), id);
            }
        }
    }
    for (const [k, r] of d.resources) {
        if (r.type === CSR_TYPE) {
            const id = keyOwner.get(String(r.inputs.privateKeyPem));
            if (id !== undefined) byKey.set(k, id);
        } else if (CERT_TYPES.includes(r.type)) {
            const id = bySha.get(sha256(String(r.state.certPem)));
            if (id !== undefined) byKey.set(k, id);
        }
    }
    return byKey;
}

/**
 * A customer-facing host's key or CSR (`customer-facing-<host id>[-r<epoch>]-key`), named for the
 * host: most have no certificate (the public CA's is only for the key of certificateEpoch).
 */
function customerFacingOwner(name: string): string | undefined {
    const hostId = /^customer-facing-(.+?)(-r\d+)?-(key|csr)$/.exec(name)?.[1];
    return hostId === undefined ? undefined : `public-id:${hostId}`;
}

interface Truth {
    added: string[];
    removed: string[];
    /** Re-issued, with "+key" when the key is new too. */
    replaced: string[];
    places: string[];
    pins: string[];
    /** Gateways created or deleted, and each server added or removed: "<file> +|- <host> <credentialName>". */
    gateways: string[];
    broken: string[];
}

const sorted = (items: Iterable<string>): string[] => [...items].sort();

/** What really changed from `base` to `head`. */
function truthOf(base: Deployed, head: Deployed): Truth & { resources: Map<string, string> } {
    const added = [...head.pems.keys()].filter((id) => !base.pems.has(id));
    const removed = [...base.pems.keys()].filter((id) => !head.pems.has(id));
    const replaced: string[] = [];
    for (const [id, pem] of head.pems) {
        const old = base.pems.get(id);
        if (old === undefined || sha256(old) === sha256(pem)) continue;
        replaced.push(spki(old) === spki(pem) ? id : `${id} +key`);
    }
    // tls resources: created, deleted, replaced (any input but the early-renewal window).
    const resources = new Map<string, string>();
    for (const [k, r] of head.resources) {
        if (!k.startsWith(TLS)) continue;
        const old = base.resources.get(k);
        if (old === undefined) resources.set(k, "created");
        else if (replacingInputs(old) !== replacingInputs(r)) resources.set(k, "replaced");
    }
    for (const k of base.resources.keys()) {
        if (k.startsWith(TLS) && !head.resources.has(k)) resources.set(k, "deleted");
    }
    const places: string[] = [];
    for (const [id, items] of head.places) {
        const old = base.places.get(id);
        if (old === undefined) {
            places.push(`create ${id}`);
            continue;
        }
        const changed = sorted(
            new Set([...Object.keys(old), ...Object.keys(items)].filter((item) => old[item] !== items[item])),
        );
        if (changed.length > 0) places.push(`update ${id}: ${changed.join(", ")}`);
    }
    for (const id of base.places.keys()) if (!head.places.has(id)) places.push(`delete ${id}`);
    const pins: string[] = [];
    for (const [id, g] of head.gateway) {
        const old = base.gateway.get(id);
        if (old !== undefined && JSON.stringify(old.pins) !== JSON.stringify(g.pins)) {
            pins.push(`${id}: ${old.pins.length} -> ${g.pins.length}`);
        }
    }
    const gateways: string[] = [];
    for (const [file, servers] of head.gateways) {
        const old = base.gateways.get(file);
        if (old === undefined) gateways.push(`create ${file}`);
        for (const s of servers.filter((s) => !(old ?? []).includes(s))) gateways.push(`${file} + ${s}`);
        for (const s of (old ?? []).filter((s) => !servers.includes(s))) gateways.push(`${file} - ${s}`);
    }
    for (const [file, servers] of base.gateways) {
        if (head.gateways.has(file)) continue;
        gateways.push(`delete ${file}`, ...servers.map((s) => `${file} - ${s}`));
    }
    return {
        added: sorted(added),
        removed: sorted(removed),
        replaced: sorted(replaced),
        resources,
        places: sorted(places),
        pins: sorted(pins),
        gateways: sorted(gateways),
        broken: brokenConsumers(base, head),
    };
}

/** Whether `chain` (leaf first, then CAs) leads to one of `anchors` (PEM bundle). */
function chainsTo(chain: readonly string[], anchors: string): boolean {
    const roots = pemBlocks(anchors, "CERTIFICATE").map((pem) => certOf(pem).x509);
    const certs = chain.map((pem) => certOf(pem).x509);
    const signedBy = (lower: crypto.X509Certificate, upper: crypto.X509Certificate): boolean =>
        lower.checkIssued(upper) && lower.verify(upper.publicKey);
    let current = certs[0];
    for (let hops = 0; hops < 5; hops++) {
        if (roots.some((root) => root.raw.equals(current.raw) || signedBy(current, root))) return true;
        const next = certs.find((c) => c !== current && signedBy(current, c));
        if (next === undefined) return false;
        current = next;
    }
    return false;
}

const blocks = (pem: string | undefined): string[] => (pem === undefined ? [] : pemBlocks(pem, "CERTIFICATE"));

/**
 * Whether DataPower's validation credentials holding `truststore` take `leaf`, whatever the peer
 * sends with it and in either mode (IBM technote swg21452478): legacy wants the leaf's issuer in
 * the truststore, PKIX a chain from there to a self-signed root, all of it from the truststore.
 */
function valcredTakes(leaf: string, truststore: string): boolean {
    const trusted = blocks(truststore).map((pem) => certOf(pem).x509);
    const signedBy = (lower: crypto.X509Certificate, upper: crypto.X509Certificate): boolean =>
        lower.checkIssued(upper) && lower.verify(upper.publicKey);
    let current = certOf(leaf).x509;
    for (let hops = 0; hops < 5; hops++) {
        const issuer = trusted.find((c) => signedBy(current, c));
        if (issuer === undefined) return false;
        if (signedBy(issuer, issuer)) return true;
        current = issuer;
    }
    return false;
}

/**
 * The consumers that break from `head` on until a human acts, when each holds what `base`
 * delivered (every upload the base asked for done): APIC calling each gateway host with its
 * keystore and truststore (as DataPower checks: valcredTakes), the mesh's workloads under the old and the new plug-in CA, the UI
 * services calling APIC with APIC's UI truststore and keystore as uploaded.
 */
function brokenConsumers(base: Deployed, head: Deployed): string[] {
    const broken: string[] = [];
    for (const e of base.plan.endpoints) {
        const now = head.plan.endpoints.find((h) => h.host === e.host);
        if (now === undefined) {
            broken.push(`APIC -> ${e.host}: host gone`);
            continue;
        }
        const keystore = base.places.get(`APIC keystore of ${e.id}`) as Record<string, string>;
        const truststore = base.places.get(`APIC truststore of ${e.id}`) as Record<string, string>;
        // The ingress gateway reads its Secrets where its pods run: where the base put them.
        const podsIn = base.plan.config.gatewayNamespace;
        const secret = head.places.get(
            secretPath(head.plan.config.clusters[0].name, podsIn, now.gatewaySecret.name),
        ) as Record<string, string> | undefined;
        if (secret === undefined) {
            broken.push(`gateway ${e.host}: no Secret in ${podsIn}, where its pods run`);
            continue;
        }
        const gateway = head.gateway.get(now.id) as { pins: readonly string[]; sans: readonly string[] };
        const client = blocks(keystore["client.crt"])[0];
        const revoked = head.plan.config.revocations.some(
            (r) => r.endpoint === e.id && certOf(client).x509.serialNumber === r.serial.toUpperCase(),
        );
        if (!revoked) {
            const pin = crypto
                .createHash("sha256")
                .update(Buffer.from(spki(client), "base64"))
                .digest("base64");
            if (!chainsTo([client, ...blocks(keystore["ca-chain.pem"])], secret["ca.crt"])) {
                broken.push(`gateway ${e.host} refuses APIC's client certificate: not under ca.crt`);
            } else if (gateway.pins.length > 0 && !gateway.pins.includes(pin)) {
                broken.push(`gateway ${e.host} refuses APIC's client key: not pinned`);
            } else if (!gateway.sans.includes(certOf(client).x509.subjectAltName?.replace(/^URI:/, "") ?? "")) {
                broken.push(`gateway ${e.host} refuses APIC's client identity`);
            }
        }
        if (!valcredTakes(blocks(secret["tls.crt"])[0], truststore["truststore.pem"])) {
            broken.push(`APIC refuses the gateway's certificate for ${e.host}: not under its truststore`);
        }
    }
    for (const cluster of base.plan.config.clusters) {
        const id = secretPath(cluster.name, "istio-system", "cacerts");
        const [before, after] = [base.places.get(id), head.places.get(id)];
        if (before === undefined) continue;
        if (after === undefined) {
            broken.push(`mesh ${cluster.name}: cacerts gone`);
            continue;
        }
        // Workloads under the old CA, trusting the new root bundle, and the other way round.
        if (!chainsTo(blocks(before["cert-chain.pem"]), after["root-cert.pem"])) {
            broken.push(`mesh ${cluster.name}: workloads of the old CA are not trusted by the new root-cert.pem`);
        }
        if (!chainsTo(blocks(after["cert-chain.pem"]), before["root-cert.pem"])) {
            broken.push(`mesh ${cluster.name}: workloads of the new CA are not trusted by the old root-cert.pem`);
        }
    }
    const uiTruststore = base.places.get("APIC UI truststore");
    for (const c of base.plan.frontEnd.uiClients) {
        const now = head.plan.frontEnd.uiClients.find((h) => h.name === c.name);
        if (now === undefined) {
            broken.push(`UI service ${c.name} no longer calls APIC`);
            continue;
        }
        // Its sidecars read the Secret where its pods run: where the base put it.
        const secret = head.places.get(secretPath(head.plan.config.clusters[0].name, c.namespace, now.secret.name)) as
            Record<string, string> | undefined;
        if (secret === undefined) {
            broken.push(`UI service ${c.name}: no Secret in ${c.namespace}, where its pods run`);
            continue;
        }
        const revoked = head.plan.config.revocations.some((r) => r.uiClient === c.name);
        if (
            uiTruststore !== undefined &&
            !revoked &&
            !valcredTakes(blocks(secret["tls.crt"])[0], uiTruststore["truststore.pem"])
        ) {
            broken.push(`APIC refuses UI service ${c.name}: its certificate is not under APIC's UI truststore`);
        }
        for (const host of now.apicHosts) {
            const keystore = base.places.get(`APIC UI-facing keystore of ${host}`);
            const served =
                keystore !== undefined
                    ? [...blocks(keystore["server.crt"]), ...blocks(keystore["ca-chain.pem"])]
                    : undefined;
            if (served !== undefined && !chainsTo(served, secret["ca.crt"])) {
                broken.push(`UI service ${c.name} refuses APIC ${host}: its certificate is not under ca.crt`);
            }
        }
    }
    for (const host of base.plan.config.frontEnd.apicHosts) {
        if (
            base.plan.frontEnd.uiClients.length > 0 &&
            head.plan.frontEnd.uiClients.length > 0 &&
            !head.plan.config.frontEnd.apicHosts.includes(host)
        ) {
            broken.push(`UI services lose APIC host ${host}`);
        }
    }
    return sorted(new Set(broken));
}

/** What the diff says, in the same terms. */
function predictionOf(d: CertDiff): Omit<Truth, "broken"> {
    return {
        added: sorted(d.added.map((c) => c.id)),
        removed: sorted(d.removed.map((c) => c.id)),
        replaced: sorted(
            d.replaced.map((c) =>
                c.forces.some((f) => f === "new key" || /^the key of epoch/.test(f)) ? `${c.id} +key` : c.id,
            ),
        ),
        places: sorted(
            d.places.map((p) =>
                p.change === "update"
                    ? // Not what "may also change" (if a cluster was ever removed, which none of these stacks did).
                      `update ${p.place}: ${sorted(p.items.filter((i) => !i.change.startsWith("may also change:")).map((i) => i.item)).join(", ")}`
                    : `${p.change} ${p.place}`,
            ),
        ),
        pins: sorted(d.pins.map((p) => `${p.endpoint}: ${p.before.length} -> ${p.after.length}`)),
        gateways: sorted(
            d.gateways.flatMap((g) => [
                ...(g.change === "update" ? [] : [`${g.change} ${g.gateway}`]),
                ...g.added.map((s) => `${g.gateway} + ${s.host} ${s.credentialName}`),
                ...g.removed.map((s) => `${g.gateway} - ${s.host} ${s.credentialName}`),
            ]),
        ),
    };
}

/** Every way the diff of `base` -> `head` differs from what deploying it did. */
function mismatches(
    base: Deployed,
    head: Deployed,
): { found: string[]; diff: CertDiff; truth: ReturnType<typeof truthOf> } {
    const diff = diffPlans(
        base.resources.size === 0 ? undefined : planFromRawConfig(base.raw),
        planFromRawConfig(head.raw),
    );
    const truth = truthOf(base, head);
    const said = predictionOf(diff);
    const found: string[] = [];
    // A new stack's diff lists no Gateways (every object is new).
    const compared: (keyof Omit<Truth, "broken">)[] = ["added", "removed", "replaced", "places", "pins"];
    if (!diff.newStack) compared.push("gateways");
    for (const k of compared) {
        const missing = truth[k].filter((x) => !said[k].includes(x));
        const extra = said[k].filter((x) => !truth[k].includes(x));
        for (const x of missing) found.push(`${k}: happens, diff does not say: ${x}`);
        for (const x of extra) found.push(`${k}: diff says, does not happen: ${x}`);
    }
    // Every tls resource created, replaced or deleted belongs to a certificate the diff reports changing.
    const changed = new Set([...said.added, ...said.removed, ...said.replaced.map((r) => r.replace(/ \+key$/, ""))]);
    const customerFacing = new Set(
        diff.customerFacing.map((c) => `public-id:${c.host.toLowerCase().replace(/\./g, "-")}`),
    );
    const [baseOwners, headOwners] = [owners(base), owners(head)];
    for (const [k, what] of truth.resources) {
        const owner = headOwners.get(k) ?? baseOwners.get(k);
        if (owner === undefined) found.push(`resource ${what}, no certificate owns it: ${k}`);
        else if (!changed.has(owner) && !customerFacing.has(owner))
            found.push(`resource ${what}, diff does not say: ${k} (${owner})`);
    }
    if (truth.broken.length > 0 && diff.risks.length === 0 && !isRefused(diff)) {
        found.push(`breaks, diff does not call it a risk: ${truth.broken.join("; ")}`);
    }
    return { found, diff, truth };
}

/**
 * The stacks of the table: one endpoint (Option 1, domain ob), ECDSA leaf keys, the suite's RSA CA
 * keys; Option 3 gives two endpoints, where a change of one endpoint must leave the other alone.
 */
const BASE: Raw = {
    environment: "truth",
    option: 1,
    baseDomain: "truth.api.bank.example",
    organization: "Example Bank",
    domains: { ob: { services: ["accounts", "ob-payee"] } },
    clusters: ["example"],
    keyAlgorithm: "ECDSA",
};
const with_ = (raw: Raw, more: Raw): Raw => ({ ...raw, ...more });
const ob = (services: readonly string[], groups?: Record<string, readonly string[]>): Raw => ({
    domains: { ob: groups === undefined ? { services } : { services, groups } },
});
const rotation = (r: Raw): Raw => ({ rotation: r });
const caAt = (raw: Raw, slot: string, phase: string): Raw => ({
    ...raw,
    caRotation: { [slot]: { generation: 1, phase } },
});
/** Option 3: endpoints ob-core and ob-checks. */
const O3 = with_(BASE, {
    option: 3,
    ...ob(["accounts", "ob-payee", "validator"], { core: ["accounts", "ob-payee"], checks: ["validator"] }),
});
const o3 = (more: Raw): Raw => with_(O3, more);
const FRONT_END = {
    namespace: "ob-ui",
    services: ["consumer-dashboard", "outages-ui", "authentication-ui"],
    callers: ["consumer-dashboard"],
    apicHosts: ["apic.truth.api.bank.example"],
};
const FE = with_(BASE, { frontEnd: FRONT_END });
const fe = (more: Raw): Raw => with_(BASE, { frontEnd: { ...FRONT_END, ...more } });
const CUSTOMER_HOST = "www.truth.bank.example";
const SHARED = with_(BASE, { trustDomains: "shared" });
// The latest time the update takes (every update runs at NOW, so the revoked certificate was issued
// at NOW too: an earlier time would be before it was issued).
const revokedAt = new Date(NOW.getTime() - CLOCK_SKEW_MS).toISOString();

/** A revocation of the client certificate `id` (an inventory id) the base deployed. */
function revocation(base: Deployed, id: string, holder: Raw): Raw {
    const pem = base.pems.get(id) as string;
    const epoch = id.startsWith("ui/")
        ? (base.plan.frontEnd.uiClients.find((c) => `ui/${c.name}/client` === id)?.leaf.epoch ?? 0)
        : (base.plan.endpoints.find((e) => `${e.id}/client` === id)?.client.epoch ?? 0);
    return {
        ...holder,
        serial: new crypto.X509Certificate(pem).serialNumber,
        epoch,
        reason: "keyCompromise",
        revokedAt,
    };
}

/** The public CA that signs customer-facing hosts' CSRs (made once). */
let publicCa: Promise<{ root: TestCa; issuing: TestCa }> | undefined;
const publicCas = () =>
    (publicCa ??= mintRoot("Truth Public Root CA").then(async (root) => ({
        root,
        issuing: await mintSubCa(root, "Truth Public Issuing CA"),
    })));

/** The customer-facing host's CSR of `epoch` in the base, signed by the public CA, with its chain. */
async function publicCertificate(base: Deployed, epoch: number): Promise<string> {
    const name = `customer-facing-www-truth-bank-example${epoch === 0 ? "" : `-r${epoch}`}-csr`;
    const csr = base.resources.get(`${CSR_TYPE}::${name}`);
    if (csr === undefined) throw new Error(`no CSR ${name}`);
    const { issuing } = await publicCas();
    const cert = tlsProvider.locallySignedCert(
        {
            certRequestPem: csr.state.certRequestPem,
            caCertPem: issuing.certPem,
            caPrivateKeyPem: issuing.keyPem,
            allowedUses: ["digital_signature", "server_auth"],
            validityPeriodHours: 90 * 24,
        },
        { now: () => new Date(NOW.getTime() - 60_000) },
    ).state.certPem as string;
    return cert + issuing.certPem;
}
const customerFacing = async (hosts: Record<string, unknown>): Promise<Raw> =>
    fe({
        customerFacing: hosts,
        // Its own gateway: the backend's, in istio-system by default, may not serve the internet.
        customerFacingGateway: { namespace: "istio-ingress-public", selector: { istio: "public-ingressgateway" } },
        publicRoots: (await publicCas()).root.certPem,
    });

/** The mesh root kept offline from now on: the ceremony signs the mesh CA's CSR the base made. */
function offlineMeshRoot(base: Deployed): Raw {
    // Made before the updates' clock, as a ceremony is (a later notBefore is refused).
    const madeAt = new Date(NOW.getTime() - 60_000);
    const root = createRoot(
        {
            commonName: "Truth Mesh Offline Root",
            organization: "Example Bank",
            validityDays: 7300,
            keyAlgorithm: "ECDSA",
        },
        madeAt,
    );
    const csr = base.resources.get(`${CSR_TYPE}::mesh-ca-example-csr`) as RecordedResource;
    const signed = signIntermediate(
        {
            rootKeyPem: root.keyPem,
            rootCertPem: root.certPem,
            csrPem: String(csr.state.certRequestPem),
            validityDays: 1095,
        },
        madeAt,
    );
    return with_(BASE, {
        offlineRoots: { meshRoot: { certificate: root.certPem, intermediates: { "mesh-ca-example": signed } } },
    });
}

/** A stack file's text, read as `pulumi up` reads it. */
const fromYaml = (text: string): Raw =>
    rawConfigFromStackFile("Pulumi.truth.yaml", { read: (f) => (f === "Pulumi.truth.yaml" ? text : undefined) });

const YAML_BLOCK = `config:
  pki:environment: truth
  pki:option: 1
  pki:baseDomain: truth.api.bank.example
  pki:organization: Example Bank
  pki:clusters:
    - example
  pki:keyAlgorithm: ECDSA
  pki:domains:
    ob:
      services:
        - accounts
        - ob-payee
`;
const YAML_FLOW = `# the same, written otherwise
config:
  pki:keyAlgorithm: "ECDSA"
  pki:domains: { ob: { services: [ "accounts", "ob-payee" ] } }
  pki:clusters: [ "example" ]
  pki:organization: 'Example Bank'
  pki:baseDomain: "truth.api.bank.example"
  pki:option: "1"
  pki:environment: truth
`;

interface Row {
    readonly name: string;
    /** The row whose head is this row's base ("nothing": a new stack). */
    readonly from: string;
    readonly head: Raw | ((base: Deployed) => Raw | Promise<Raw>);
    /** Whether the diff must call it a risk (undefined: only checked against what breaks). */
    readonly risky?: boolean;
    /**
     * "both": pulumi up refuses it, and so must the diff; "diff": the diff refuses what pulumi up
     * would do (on purpose: it breaks something with no way back), and is still checked against it.
     */
    readonly refused?: "both" | "diff";
    /** It makes RSA leaf keys under names the state holds as ECDSA: take them from the suite's test keys. */
    readonly rsaKeys?: true;
}

/** prepare, switch and finish of one CA, each from the last. */
/**
 * A CA's three phases, each deployed on the one before. Every row deploys at NOW, so a mesh
 * finish comes seconds after its switch: as in an incident with every workload restarted
 * (pki:meshFinishAfterHours 0). The diff cannot know when the switch was deployed; pulumi up's
 * wait is tested in caRotation.test.
 */
const staged = (slot: string, from: string, raw: Raw, risky: readonly boolean[] = [false, false, false]): Row[] =>
    (["prepare", "switch", "finish"] as const).map((phase, i) => ({
        name: `caRotation.${slot} ${phase}`,
        from: i === 0 ? from : `caRotation.${slot} ${["prepare", "switch"][i - 1]}`,
        head: { ...caAt(raw, slot, phase), ...(phase === "finish" ? { meshFinishAfterHours: "0" } : {}) },
        risky: risky[i],
    }));

const ROWS: readonly Row[] = [
    { name: "a new stack", from: "nothing", head: fromYaml(YAML_BLOCK), risky: false },
    {
        name: "nothing: the same config, its YAML written otherwise",
        from: "a new stack",
        head: fromYaml(YAML_FLOW),
        risky: false,
    },
    // Option 1: services share the domain's host
    {
        name: "Option 1: services reordered",
        from: "a new stack",
        head: with_(BASE, ob(["ob-payee", "accounts"])),
        risky: false,
    },
    {
        name: "Option 1: a service added",
        from: "a new stack",
        head: with_(BASE, ob(["accounts", "ob-payee", "validator"])),
        risky: false,
    },
    { name: "Option 1: a service removed", from: "a new stack", head: with_(BASE, ob(["accounts"])), risky: false },
    // what every certificate shares
    {
        name: "validityDays.leaf",
        from: "a new stack",
        head: with_(BASE, { validityDays: { root: 3650, intermediate: 1095, leaf: 200 } }),
        risky: false,
    },
    {
        name: "validityDays.intermediate",
        from: "a new stack",
        head: with_(BASE, { validityDays: { root: 3650, intermediate: 700, leaf: 365 } }),
        risky: true,
    },
    {
        name: "validityDays.root",
        from: "a new stack",
        head: with_(BASE, { validityDays: { root: 3000, intermediate: 1095, leaf: 365 } }),
        risky: true,
    },
    {
        name: "earlyRenewalDays.leaf (in place)",
        from: "a new stack",
        head: with_(BASE, { earlyRenewalDays: { leaf: 100 } }),
        risky: false,
    },
    {
        name: "keyAlgorithm ECDSA -> RSA",
        from: "a new stack",
        head: with_(BASE, { keyAlgorithm: "RSA" }),
        risky: true,
        rsaKeys: true,
    },
    {
        name: "keyAlgorithm ECDSA -> RSA with the APIC clients' epoch raised, switch",
        from: "a new stack",
        head: with_(BASE, { keyAlgorithm: "RSA", ...rotation({ apicClientEpoch: 1, apicClientPhase: "switch" }) }),
        risky: false,
        rsaKeys: true,
    },
    {
        name: "caKeyAlgorithm RSA -> ECDSA",
        from: "a new stack",
        head: with_(BASE, { caKeyAlgorithm: "ECDSA" }),
        risky: true,
    },
    { name: "organization", from: "a new stack", head: with_(BASE, { organization: "Example Bank plc" }), risky: true },
    { name: "environment", from: "a new stack", head: with_(BASE, { environment: "truth2" }), risky: true },
    { name: "trustDomains separate -> shared", from: "a new stack", head: SHARED, risky: true },
    {
        name: "crlPeriodDays, no CRL published",
        from: "a new stack",
        head: with_(BASE, { crlPeriodDays: 14 }),
        risky: false,
    },
    { name: "offline mesh root", from: "a new stack", head: offlineMeshRoot, risky: true },
    // pki:rotation
    {
        name: "rotation.gatewayServerEpoch",
        from: "a new stack",
        head: with_(BASE, rotation({ gatewayServerEpoch: 1 })),
        risky: false,
    },
    { name: "rotation.gatewayServerEpoch lowered", from: "rotation.gatewayServerEpoch", head: BASE, refused: "both" },
    {
        name: "rotation.apicClientPhase switch alone",
        from: "a new stack",
        head: with_(BASE, rotation({ apicClientPhase: "switch" })),
        risky: false,
    },
    {
        name: "rotation.apicClientEpoch, switch",
        from: "a new stack",
        head: with_(BASE, rotation({ apicClientEpoch: 1, apicClientPhase: "switch" })),
        risky: false,
    },
    {
        name: "rotation.apicClientEpoch, finish",
        from: "rotation.apicClientEpoch, switch",
        head: with_(BASE, rotation({ apicClientEpoch: 1 })),
        risky: false,
    },
    {
        name: "rotation.apicClientEpoch with no switch",
        from: "a new stack",
        head: with_(BASE, rotation({ apicClientEpoch: 1 })),
        refused: "both",
    },
    {
        name: "rotation.leafEpoch, switch",
        from: "a new stack",
        head: with_(BASE, rotation({ leafEpoch: 1, apicClientPhase: "switch" })),
        risky: false,
    },
    {
        name: "rotation.leafEpoch, finish",
        from: "rotation.leafEpoch, switch",
        head: with_(BASE, rotation({ leafEpoch: 1 })),
        risky: false,
    },
    { name: "rotation.meshEpoch", from: "a new stack", head: with_(BASE, rotation({ meshEpoch: 1 })), risky: false },
    { name: "rotation.meshEpoch lowered", from: "rotation.meshEpoch", head: BASE, refused: "both" },
    // staged CA rotations, each phase from the last
    ...staged("meshRoot", "a new stack", BASE),
    ...staged("serverRoot", "a new stack", BASE),
    ...staged("clientRoot", "a new stack", BASE),
    ...staged("gatewayServerCa", "a new stack", BASE),
    ...staged("apicClientCa", "a new stack", BASE),
    ...staged("meshCa", "a new stack", BASE),
    {
        name: "caRotation skips prepare",
        from: "a new stack",
        head: caAt(BASE, "apicClientCa", "switch"),
        refused: "both",
    },
    {
        name: "rotation.meshEpoch during a mesh CA switch",
        from: "caRotation.meshCa switch",
        head: (b) => with_(b.raw, rotation({ meshEpoch: 1 })),
        refused: "both",
    },
    {
        name: "rotation.meshEpoch once ca-crl.pem is published",
        from: "caRotation.meshCa finish",
        head: (b) => with_(b.raw, rotation({ meshEpoch: 1 })),
        refused: "both",
    },
    {
        name: "crlPeriodDays, APIC truststore CRL published",
        from: "caRotation.gatewayServerCa finish",
        head: (b) => with_(b.raw, { crlPeriodDays: 14 }),
        risky: false,
    },
    ...staged("root", "trustDomains separate -> shared", SHARED),
    {
        name: "gatewayNamespace",
        from: "a new stack",
        head: with_(BASE, { gatewayNamespace: "istio-ingress" }),
        risky: true,
    },
    { name: "pkcs12Profile legacy", from: "a new stack", head: with_(BASE, { pkcs12Profile: "legacy" }), risky: true },
    { name: "pkcs12Iterations", from: "a new stack", head: with_(BASE, { pkcs12Iterations: 20000 }), risky: false },
    // Option 2: a host per service; Option 3: a host per group
    { name: "option 1 -> 2", from: "a new stack", head: with_(BASE, { option: 2 }), risky: true },
    {
        name: "Option 2: a service added",
        from: "option 1 -> 2",
        head: with_(BASE, { option: 2, ...ob(["accounts", "ob-payee", "validator"]) }),
        risky: false,
    },
    {
        name: "Option 2: a service removed",
        from: "option 1 -> 2",
        head: with_(BASE, { option: 2, ...ob(["accounts"]) }),
        risky: true,
    },
    {
        name: "Option 2: a service whose name begins with another domain's",
        from: "option 1 -> 2",
        head: with_(BASE, { option: 2, ...ob(["accounts", "ob-payee", "ob-cdr-cache"]) }),
        risky: false,
    },
    {
        // Its endpoint id stays ob-cdr-cache; its gateway children are named after the new domain.
        name: "Option 2: a service moved to that domain, under its endpoint id",
        from: "Option 2: a service whose name begins with another domain's",
        head: with_(BASE, {
            option: 2,
            domains: { ob: { services: ["accounts", "ob-payee"] }, "ob-cdr": { services: ["ob-cdr-cache"] } },
        }),
        risky: true,
    },
    { name: "option 1 -> 3", from: "a new stack", head: O3, risky: true },
    {
        name: "Option 3: a service added to a group",
        from: "option 1 -> 3",
        head: o3(
            ob(["accounts", "ob-payee", "validator", "ob-audit"], {
                core: ["accounts", "ob-payee", "ob-audit"],
                checks: ["validator"],
            }),
        ),
        risky: false,
    },
    {
        name: "Option 3: a service moved between groups",
        from: "option 1 -> 3",
        head: o3(ob(["accounts", "ob-payee", "validator"], { core: ["accounts"], checks: ["validator", "ob-payee"] })),
        risky: false,
    },
    {
        name: "Option 3: a group added",
        from: "option 1 -> 3",
        head: o3(
            ob(["accounts", "ob-payee", "validator", "ob-audit"], {
                core: ["accounts", "ob-payee"],
                checks: ["validator"],
                audit: ["ob-audit"],
            }),
        ),
        risky: false,
    },
    {
        name: "Option 3: a group removed",
        from: "option 1 -> 3",
        head: o3(ob(["accounts", "ob-payee"], { core: ["accounts", "ob-payee"] })),
        risky: true,
    },
    // one endpoint of two
    {
        name: "rotation.endpoints.ob-core.serverEpoch",
        from: "option 1 -> 3",
        head: o3(rotation({ endpoints: { "ob-core": { serverEpoch: 1 } } })),
        risky: false,
    },
    {
        name: "rotation.endpoints.ob-checks.clientEpoch, switch",
        from: "option 1 -> 3",
        head: o3(rotation({ endpoints: { "ob-checks": { clientEpoch: 1, clientPhase: "switch" } } })),
        risky: false,
    },
    {
        name: "rotation.endpoints.ob-checks.clientEpoch, finish",
        from: "rotation.endpoints.ob-checks.clientEpoch, switch",
        head: o3(rotation({ endpoints: { "ob-checks": { clientEpoch: 1 } } })),
        risky: false,
    },
    {
        name: "revocation of an APIC client",
        from: "option 1 -> 3",
        head: (b) => o3({ revocations: [revocation(b, "ob-core/client", { endpoint: "ob-core" })] }),
    },
    {
        name: "crlPeriodDays, CRLs published",
        from: "revocation of an APIC client",
        head: (b) => with_(b.raw, { crlPeriodDays: 14 }),
        risky: false,
    },
    {
        name: "revocation removed, the client's epoch kept",
        from: "revocation of an APIC client",
        head: o3(rotation({ endpoints: { "ob-core": { clientEpoch: 1 } } })),
        refused: "both",
    },
    {
        name: "revocation removed, the client's epoch back",
        from: "revocation of an APIC client",
        head: O3,
        refused: "both",
    },
    // the front end
    { name: "front end: the first UI caller", from: "a new stack", head: FE, risky: false },
    {
        name: "front end: a UI service that does not call APIC added",
        from: "front end: the first UI caller",
        head: fe({ services: [...FRONT_END.services, "sample-app"] }),
        risky: false,
    },
    {
        name: "front end: a caller added",
        from: "front end: the first UI caller",
        head: fe({ callers: ["consumer-dashboard", "outages-ui"] }),
        risky: false,
    },
    { name: "front end: a caller removed", from: "front end: a caller added", head: FE, risky: true },
    {
        name: "front end: the callers' namespace",
        from: "front end: the first UI caller",
        head: fe({ namespace: "ob-ui2" }),
        risky: true,
    },
    {
        name: "front end: a caller's own namespace",
        from: "front end: the first UI caller",
        head: fe({ services: [{ name: "consumer-dashboard", namespace: "dash" }, "outages-ui", "authentication-ui"] }),
        risky: true,
    },
    {
        name: "front end: the last caller removed",
        from: "front end: the first UI caller",
        head: fe({ callers: [] }),
        risky: true,
    },
    {
        name: "front end: an APIC host added",
        from: "front end: the first UI caller",
        head: fe({ apicHosts: [...FRONT_END.apicHosts, "apic2.truth.api.bank.example"] }),
        risky: false,
    },
    { name: "front end: an APIC host removed", from: "front end: an APIC host added", head: FE, risky: true },
    {
        name: "front end: rotation.uiClientEpoch",
        from: "front end: the first UI caller",
        head: with_(FE, rotation({ uiClientEpoch: 1 })),
        risky: false,
    },
    {
        name: "front end: rotation.uiClientEpoch lowered",
        from: "front end: rotation.uiClientEpoch",
        head: FE,
        refused: "both",
    },
    {
        name: "front end: rotation.apicServerEpoch",
        from: "front end: the first UI caller",
        head: with_(FE, rotation({ apicServerEpoch: 1 })),
        risky: false,
    },
    {
        name: "front end: rotation.apicServerEpoch lowered",
        from: "front end: rotation.apicServerEpoch",
        head: FE,
        refused: "both",
    },
    {
        name: "front end: revocation of a UI client",
        from: "front end: the first UI caller",
        head: (b) =>
            with_(FE, {
                revocations: [revocation(b, "ui/consumer-dashboard/client", { uiClient: "consumer-dashboard" })],
            }),
    },
    {
        name: "front end: revocation of a UI client removed, the client's epoch back",
        from: "front end: revocation of a UI client",
        head: FE,
        refused: "both",
    },
    {
        name: "front end: a revoked caller removed",
        from: "front end: revocation of a UI client",
        head: fe({ callers: [] }),
        refused: "both",
    },
    {
        name: "front end: crlPeriodDays, UI CRL published",
        from: "front end: revocation of a UI client",
        head: (b) => with_(b.raw, { crlPeriodDays: 14 }),
        risky: false,
    },
    {
        name: "front end: apicServerCa given",
        from: "front end: the first UI caller",
        head: async () => fe({ apicServerCa: (await publicCas()).root.certPem }),
        risky: true,
    },
    ...staged("uiClientRoot", "front end: the first UI caller", FE),
    ...staged("uiClientCa", "front end: the first UI caller", FE),
    // customer-facing hosts: the stack's key and CSR, the public CA's certificate
    {
        name: "customer-facing: a host added",
        from: "front end: the first UI caller",
        head: () => customerFacing({ [CUSTOMER_HOST]: {} }),
        risky: false,
    },
    {
        name: "customer-facing: its certificate given",
        from: "customer-facing: a host added",
        head: async (b) => customerFacing({ [CUSTOMER_HOST]: { certificate: await publicCertificate(b, 0) } }),
        risky: false,
    },
    {
        name: "customer-facing: epoch raised, the certificate kept",
        from: "customer-facing: its certificate given",
        head: async (b) =>
            customerFacing({
                [CUSTOMER_HOST]: {
                    epoch: 1,
                    certificateEpoch: 0,
                    certificate: b.plan.frontEnd.customerFacing[0].certificate as string,
                },
            }),
        risky: false,
    },
    {
        name: "customer-facing: the new certificate given",
        from: "customer-facing: epoch raised, the certificate kept",
        head: async (b) =>
            customerFacing({ [CUSTOMER_HOST]: { epoch: 1, certificate: await publicCertificate(b, 1) } }),
        risky: false,
    },
    {
        name: "customer-facing: a renewal in flight taken back",
        from: "customer-facing: epoch raised, the certificate kept",
        head: (b) =>
            customerFacing({
                [CUSTOMER_HOST]: { certificate: b.plan.frontEnd.customerFacing[0].certificate as string },
            }),
        refused: "both",
    },
    {
        name: "customer-facing: epochs back below the served key",
        from: "customer-facing: the new certificate given",
        head: () => customerFacing({ [CUSTOMER_HOST]: {} }),
        refused: "both",
    },
    {
        name: "customer-facing: keyAlgorithm while its CSR waits for the public CA",
        from: "customer-facing: a host added",
        head: (b) => with_(b.raw, { keyAlgorithm: "RSA" }),
        risky: true,
        rsaKeys: true,
    },
    {
        name: "customer-facing: keyAlgorithm while its certificate is served",
        from: "customer-facing: its certificate given",
        head: (b) => with_(b.raw, { keyAlgorithm: "RSA" }),
        refused: "both",
    },
    {
        name: "customer-facing: organization while its certificate is served",
        from: "customer-facing: its certificate given",
        head: (b) => with_(b.raw, { organization: "Example Bank plc" }),
        risky: true,
    },
    {
        name: "customer-facing: moved to its own gateway (pki:frontEnd.customerFacingGateway)",
        from: "customer-facing: its certificate given",
        head: (b) =>
            with_(b.raw, {
                frontEnd: {
                    ...(b.raw.frontEnd as Raw),
                    customerFacingGateway: {
                        namespace: "public-gateway",
                        selector: { istio: "public-ingressgateway" },
                    },
                },
            }),
        risky: true,
    },
    {
        name: "customer-facing: the host removed",
        from: "customer-facing: its certificate given",
        head: () => customerFacing({}),
        risky: true,
    },
];

/** The diff of two stack files as `diff` computes it; undefined when the head file is invalid (exit 1). */
function diffOf(base: Deployed, head: Raw): CertDiff | undefined {
    let headPlan: PkiPlan;
    try {
        headPlan = planFromRawConfig(head);
    } catch {
        return undefined;
    }
    return diffPlans(base.resources.size === 0 ? undefined : planFromRawConfig(base.raw), headPlan);
}

/** What is wrong with a row: each way the diff differs from deploying it. */
async function check(row: Row, base: Deployed, keyFile: string): Promise<{ problems: string[]; head?: Deployed }> {
    const raw = typeof row.head === "function" ? await row.head(base) : row.head;
    let head: Deployed;
    try {
        head = await deploy(raw, base.state, row.rsaKeys ? keyFile : undefined);
    } catch (error) {
        if (!(error instanceof Refused)) throw error;
        const diff = diffOf(base, raw);
        const problems = [
            ...(row.refused === "both" ? [] : [`pulumi up refuses it: ${error.message}`]),
            ...(error.stage === "update"
                ? [`pulumi up fails half-way instead of refusing it first: ${error.message}`]
                : []),
            ...(diff === undefined || isRefused(diff) ? [] : ["pulumi up refuses it, the diff does not"]),
        ];
        return { problems };
    }
    const { found, diff, truth } = mismatches(base, head);
    const problems = [...found];
    if (row.refused === "both") problems.push("pulumi up accepts it, the row says refused");
    if (row.refused === "diff" && !isRefused(diff)) problems.push("the diff must refuse it");
    if (row.refused === undefined && isRefused(diff)) {
        problems.push(`the diff refuses what pulumi up does: ${JSON.stringify(diff.refused.map((r) => r.problem))}`);
    }
    if (row.risky !== undefined && diff.risks.length > 0 !== row.risky) {
        problems.push(
            row.risky
                ? `must be a risk, diff says none (breaks: ${truth.broken.join("; ") || "nothing"})`
                : `must not be a risk, diff says: ${diff.risks.map((r) => r.change).join("; ")}`,
        );
    }
    return { problems, head };
}

describe("diff tells the truth: each change deployed, base then head, against what the diff says", function () {
    this.timeout(120_000);
    const problems = new Map<string, string[]>();

    before(async () => {
        // A copy: the stand-in adds the RSA keys it had to generate to its key file.
        const keyFile = path.join(tempDir("diff-truth"), "keys.json");
        fs.copyFileSync(ENGINE_KEYS_FILE, keyFile);
        // Every row's deployment, by row name: a row's base is the head another row deployed.
        const deployed = new Map<string, Deployed>([
            [
                "nothing",
                {
                    raw: {},
                    plan: {
                        endpoints: [],
                        config: { clusters: [], frontEnd: { apicHosts: [] } },
                        frontEnd: { uiClients: [] },
                    } as unknown as PkiPlan,
                    state: newStackState(new Map()),
                    resources: new Map(),
                    pems: new Map(),
                    places: new Map(),
                    gateway: new Map(),
                    gateways: new Map(),
                },
            ],
        ]);
        for (const row of ROWS) {
            const base = deployed.get(row.from);
            if (base === undefined)
                throw new Error(`row "${row.name}" starts from "${row.from}", deployed by no row before it`);
            const result = await check(row, base, keyFile);
            problems.set(row.name, result.problems);
            if (result.head !== undefined) deployed.set(row.name, result.head);
        }
    });

    for (const row of ROWS) {
        it(row.name, () => assert.deepStrictEqual(problems.get(row.name), []));
    }
});
