import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import * as tlsProvider from "../lib/engine/tlsProvider";
import { crlsPublished } from "../lib/inventory/deliveries";
import { diffMarkdown } from "../lib/cli/diff";
import { stackFilePath } from "../lib/cli/stackSource";
import { withoutPrivateKeys } from "../lib/config/values";
import { CertDiff, diffPlans } from "../lib/inventory/diff";
import { trustPictureForDiff } from "../lib/inventory/pictures";
import { INITIAL_RECORD, INITIAL_ROTATION, RotationRecord } from "../lib/plan/caRotation";
import { ceremonyRecord, planFromRawConfig } from "../lib/plan/plan";
import { createRoot, crlSeriesWindows, signCrlSeries, signIntermediate } from "../lib/pki/ceremony";
import { RevokedEntry } from "../lib/pki/crl";
import { DEFAULTS as POLICY_DEFAULTS } from "../policy/policies";
import {
    TEST_ONLY_CA_CERT_PEM,
    TEST_ONLY_CA_KEY_PEM,
    TEST_ONLY_LEAF_KEY_PEM,
    TEST_ONLY_SUB_CA_KEY_PEM,
} from "./fixtures/testOnlyPki";
import { cli, gitRepo, loadStackFileValues, OPTION_FILES, ROOT, tempDir } from "./helpers";
import { ceremony, PASSPHRASE } from "./ceremonyTools";

const DEV = "stacks/Pulumi.dev.yaml";
const dev = loadStackFileValues(DEV);
/** The dev stack in one cluster, dev-east, and in two, with dev-west beside it. */
const oneCluster = { ...dev, clusters: [{ name: "dev-east", context: "east" }] };
const twoClusters = { ...dev, clusters: [...oneCluster.clusters, { name: "dev-west", context: "west" }] };
const plan = (raw: Record<string, unknown>) => planFromRawConfig(raw);
const at = (slot: string, generation: number, phase: string, raw = dev) => ({
    ...raw,
    caRotation: { [slot]: { generation, phase } },
});
/** Each changed secret or bundle as "<change> <place>: <what changes>". */
const places = (d: CertDiff) =>
    d.places.map((p) => `${p.change} ${p.place}: ${p.items.map((i) => `${i.item}: ${i.change}`).join("; ")}`);
/** What diff adds wherever the stack files cannot show that a removed cluster published ca-crl.pem. */
const EVER_REMOVED =
    "if a cluster was ever removed from pki:clusters, every cluster's cacerts carries ca-crl.pem from then on (stack files cannot show it)";
/** What the mesh root's CRL does not end: istiod's own client check on port 15012 reads no CRL. */
const ISTIOD_READS_NO_CRL =
    "sidecars refuse them, but not istiod, which checks its clients (port 15012: certificate signing, SDS) against root-cert.pem with no CRL";
const REMOVED_BEFORE =
    "if a cluster was removed from pki:clusters before this change, every cluster's cacerts carries ca-crl.pem from then on (stack files cannot show it)";
const GATEWAY_SECRETS = ["dp", "ob"].map((id) => `k8s/dev-east/istio-system/secret-apic-mtls-${id}`);
/** How APIC's truststores take new content: IBM documents truststores:update for title and summary only. */
const TRUSTSTORE_UPLOAD =
    "(truststore.json; IBM documents apic truststores:update only for title and summary, so create a new truststore and point the TLS client profile at it if an update does not take the content).";
const UI_TRUSTSTORE_UPLOAD =
    "Upload APIC's UI truststore (apic/ui/truststore.json; IBM documents apic truststores:update only for title and summary, so create a new truststore and point the TLS server profile of each APIC host at it if an update does not take the content).";
/** Before the gateway pins APIC's new key, it refuses it: the upload waits for istiod's push of the Gateway. */
const PINS_REACH_GATEWAY =
    "once the gateway pods have the new Gateway that pins the old and the new key: kubectl get gateways.networking.istio.io -n istio-system apic-mtls-dp apic-mtls-ob -o yaml shows both pins in each host's tls.verifyCertificateSpki, " +
    "and istiod pushes it to the pods (istioctl proxy-config listener <gateway pod> -n istio-system -o json shows both pins in verifyCertificateSpki; until then the gateway refuses APIC's new key); " +
    "the gateway accepts the old and the new key from then until the rotation finishes.";

/**
 * The VirtualServices that route `hosts` (Gateway -> its hosts): one clause per Gateway, each naming
 * its hosts, so that each host is bound to its own Gateway.
 */
const virtualServices = (hosts: Record<string, string[]>) =>
    `${Object.keys(hosts).length === 1 ? "its VirtualService" : "their VirtualServices"}: ` +
    Object.entries(hosts)
        .map(([gateway, served]) => `hosts: [${served.join(", ")}], gateways: [${gateway}]`)
        .join("; ");

/**
 * The step that routes new hosts before APIC calls them: the package writes the Gateways' servers,
 * and Istio routes a host only through a VirtualService listing it and binding its Gateway.
 */
const routeNew = (hosts: Record<string, string[]>) => {
    const one = Object.values(hosts).flat().length === 1;
    return (
        `Route ${one ? "the new host" : "each new host"} (${virtualServices(hosts)}) ` +
        `before APIC calls ${one ? "it" : "them"}: the Gateway serves ${one ? "it" : "them"} from this update on, but routes a host only through a VirtualService that binds it.`
    );
};

/** A copy of a stack file with one line replaced, next to the real ones (so Pulumi.yaml is found). */
function stackVariant(dir: string, name: string, from: string, to: string, stackFile = DEV): string {
    return stackEdited(dir, name, [[from, to]], stackFile);
}

/** A copy of a stack file with each [from, to] replaced in turn, as stackVariant. */
function stackEdited(dir: string, name: string, edits: [string, string][], stackFile = DEV): string {
    let text = fs.readFileSync(path.join(ROOT, stackFile), "utf8");
    for (const [from, to] of edits) {
        assert.ok(text.includes(from), `${stackFile} holds ${from}`);
        text = text.replace(from, to);
    }
    fs.mkdirSync(path.join(dir, "stacks"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
    const file = path.join(dir, "stacks", `Pulumi.${name}.yaml`);
    fs.writeFileSync(file, text);
    return file;
}

describe("diff of a staged CA rotation", function () {
    this.timeout(30_000);

    it("APIC-client CA, prepare: the new CA is created and no secret or APIC bundle changes", () => {
        const d = diffPlans(plan(dev), plan(at("apicClientCa", 1, "prepare")));
        assert.deepStrictEqual(
            d.added.map((c) => [c.id, c.forces]),
            [["apic-client-ca-g1", ["new key", "new certificate"]]],
        );
        assert.deepStrictEqual([d.places, d.pins, d.risks, d.refused], [[], [], [], []]);
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "Then, in a later change, the next phase: pki:caRotation.apicClientCa: { generation: 1, phase: switch }.",
            ],
        });
    });

    it("APIC-client CA, switch: every APIC keystore gets a new key and the new chain, the gateway pins old and new keys", () => {
        const d = diffPlans(plan(at("apicClientCa", 1, "prepare")), plan(at("apicClientCa", 1, "switch")));
        assert.deepStrictEqual(places(d), [
            "update APIC keystore of dp: client.crt: re-issued with a new key; client.key: new key; ca-chain.pem: apic-client-ca -> apic-client-ca-g1; client.p12: written again with the new client.crt, client.key and ca-chain.pem",
            "update APIC keystore of ob: client.crt: re-issued with a new key; client.key: new key; ca-chain.pem: apic-client-ca -> apic-client-ca-g1; client.p12: written again with the new client.crt, client.key and ca-chain.pem",
        ]);
        assert.deepStrictEqual(d.pins, [
            { endpoint: "dp", before: ["key of epoch 0"], after: ["key of epoch 1", "key of epoch 0"] },
            { endpoint: "ob", before: ["key of epoch 0"], after: ["key of epoch 1", "key of epoch 0"] },
        ]);
        assert.deepStrictEqual(d.steps.after, [
            `Upload the APIC keystore of dp and ob (apic keystores:update, same name), ${PINS_REACH_GATEWAY}`,
            "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, with its new password: render's apic/<endpoint>/client.p12.password, stack output apicBundles.<endpoint>.pkcs12Password), when the keystore upload above is due.",
            "Then, in a later change, the next phase: pki:caRotation.apicClientCa: { generation: 1, phase: finish }.",
        ]);
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
    });

    it("APIC-client CA, finish: every gateway secret gains ca.crl, the client root's CRL revoking the old CA, and the old keys are unpinned", () => {
        const d = diffPlans(plan(at("apicClientCa", 1, "switch")), plan(at("apicClientCa", 1, "finish")));
        assert.deepStrictEqual(
            places(d),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: new: CRL of apic-client-ca-g1, CRL of client-root (revokes apic-client-ca, retired)`,
            ),
        );
        assert.deepStrictEqual(
            d.removed.map((c) => [c.id, c.forces]),
            [["apic-client-ca", []]],
            "the old CA was in no bundle since the switch",
        );
        assert.deepStrictEqual(d.steps, {
            before: [
                "Check that APIC uses the newest keystore of dp and ob: the older keys stop working with this update.",
            ],
            after: [
                "From now on CRLs must be re-published at least every 7 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
            ],
        });
    });

    it("a root's prepare and finish update every gateway secret's ca.crt, never creating or deleting one", () => {
        const prepare = diffPlans(plan(dev), plan(at("clientRoot", 1, "prepare")));
        assert.deepStrictEqual(
            places(prepare),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crt: + client-root-g1`),
        );
        assert.deepStrictEqual(prepare.added[0].forces, [
            "new key",
            "new certificate",
            `update secret ${GATEWAY_SECRETS.join(", ")}`,
        ]);
        assert.deepStrictEqual(prepare.steps.after, [
            "Before the switch, wait until the gateway pods in istio-system have the new ca.crt of their Secrets (istiod pushes it to them: istioctl proxy-config secret <gateway pod> -n istio-system -o json | jq -r '.dynamicActiveSecrets[] | select(.name==\"kubernetes://<Secret>-cacert\") | .secret.validationContext.trustedCa.inlineBytes' | base64 -d | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout lists the roots of each Secret's ca.crt).",
            "Then, in a later change, the next phase: pki:caRotation.clientRoot: { generation: 1, phase: switch }.",
        ]);
        // The switch keeps the bundle as the prepare wrote it, old root first (istiod <= 1.29 compares bytes).
        const switched = diffPlans(plan(at("clientRoot", 1, "prepare")), plan(at("clientRoot", 1, "switch")));
        assert.deepStrictEqual(
            places(switched).filter((p) => p.includes("secret-apic-mtls")),
            [],
        );
        assert.strictEqual(
            switched.steps.after[0],
            `Upload the APIC keystore of dp and ob (apic keystores:update, same name), ${PINS_REACH_GATEWAY}`,
        );
        const finish = diffPlans(plan(at("clientRoot", 1, "switch")), plan(at("clientRoot", 1, "finish")));
        assert.deepStrictEqual(
            places(finish),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crt: - client-root`),
        );
        assert.deepStrictEqual(
            finish.removed.map((c) => [c.id, c.forces]),
            [
                ["client-root", [`update secret ${GATEWAY_SECRETS.join(", ")}`]],
                ["apic-client-ca", []],
            ],
        );
    });

    it("a root's finish names the issuing CAs it deletes with it; a mesh CA rotation names only its own new CAs, not those of a cluster added with a phase", () => {
        const effects = (base: Record<string, unknown>, head: Record<string, unknown>) =>
            diffPlans(plan(base), plan(head)).caRotation.map((t) => t.effect);
        const finished = (slot: string, raw = dev) => effects(at(slot, 1, "switch", raw), at(slot, 1, "finish", raw));
        const shared = { ...dev, trustDomains: "shared" };
        assert.deepStrictEqual(
            [finished("clientRoot"), finished("serverRoot"), finished("meshRoot"), finished("root", shared)],
            [
                ["finish: client-root removed from every bundle and deleted, with apic-client-ca, which it issued"],
                ["finish: server-root removed from every bundle and deleted, with gateway-server-ca, which it issued"],
                ["finish: mesh-root removed from every bundle and deleted, with mesh-ca-dev-east, which it issued"],
                [
                    "finish: root removed from every bundle and deleted, with gateway-server-ca, apic-client-ca and mesh-ca-dev-east, which it issued",
                ],
            ],
        );
        // dev-west comes with the prepare (its istiod signs with mesh-ca-dev-west at once) or with the switch.
        const [one, two] = [oneCluster, twoClusters];
        assert.deepStrictEqual(effects(one, at("meshCa", 1, "prepare", two)), [
            "prepare: new CA mesh-ca-dev-east-g1 and mesh-ca-dev-west-g1 created and added to no bundle (the mesh trusts the mesh root, which stays); nothing is issued by it yet",
        ]);
        assert.deepStrictEqual(effects(at("meshCa", 1, "prepare", one), at("meshCa", 1, "switch", two)), [
            "switch: istiod's cacerts (istiod reloads it; workloads renew within their certificate TTL) re-issued by mesh-ca-dev-east-g1 and mesh-ca-dev-west-g1; mesh-ca-dev-east still trusted",
        ]);
    });

    it("gateway-server CA: the prepare adds the new CA to APIC's truststores, the switch re-keys every server certificate with the new chain, the finish drops the old CA and publishes truststore.crl", () => {
        const prepare = diffPlans(plan(dev), plan(at("gatewayServerCa", 1, "prepare")));
        assert.strictEqual(
            prepare.caRotation[0].effect,
            "prepare: new CA gateway-server-ca-g1 created and added to every APIC truststore (DataPower builds the chain from its truststore, not from what the gateway sends); nothing is issued by it yet",
        );
        assert.deepStrictEqual(
            places(prepare),
            ["dp", "ob"].map((id) => `update APIC truststore of ${id}: truststore.pem: + gateway-server-ca-g1`),
        );
        assert.deepStrictEqual(prepare.steps.after.slice(0, 1), [
            `Upload the APIC truststore of dp and ob ${TRUSTSTORE_UPLOAD}`,
        ]);
        const switched = diffPlans(plan(at("gatewayServerCa", 1, "prepare")), plan(at("gatewayServerCa", 1, "switch")));
        assert.deepStrictEqual(
            places(switched),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: tls.crt: gateway-server-ca -> gateway-server-ca-g1; re-issued with a new key; tls.key: new key`,
            ),
        );
        const finish = diffPlans(plan(at("gatewayServerCa", 1, "switch")), plan(at("gatewayServerCa", 1, "finish")));
        assert.deepStrictEqual(
            places(finish),
            ["dp", "ob"].map(
                (id) =>
                    `update APIC truststore of ${id}: truststore.pem: - gateway-server-ca; truststore.crl: new: CRL of gateway-server-ca-g1, CRL of server-root (revokes gateway-server-ca, retired)`,
            ),
        );
        assert.strictEqual(finish.steps.after[0], `Upload the APIC truststore of dp and ob ${TRUSTSTORE_UPLOAD}`);
        assert.match(
            finish.steps.after[1],
            /^Load the new truststore\.crl of dp and ob into the DataPower validation credentials that check the gateway's CRLs/,
        );
    });

    it("mesh root: ISTIO_MULTIROOT_MESH before the prepare, renewed workloads before the finish, cacerts updated each time, root-cert.pem only at prepare and finish", () => {
        const prepare = diffPlans(plan(dev), plan(at("meshRoot", 1, "prepare")));
        assert.deepStrictEqual(places(prepare), [
            "update k8s/dev-east/istio-system/secret-cacerts: root-cert.pem: + mesh-root-g1; " +
                `ca-crl.pem: may also change: ${EVER_REMOVED}: + CRL of mesh-root-g1, CRL of mesh-ca-dev-east-g1`,
        ]);
        // The new root issues the new mesh CA at once (its CRL must exist in time); istiod signs with the old one until the switch.
        assert.strictEqual(
            prepare.caRotation[0].effect,
            "prepare: new CA mesh-root-g1 created and added to the mesh's root-cert.pem; it already issues the new mesh-ca-dev-east-g1 and its CRL, which nothing uses until switch",
        );
        assert.deepStrictEqual(
            prepare.added.map((c) => [c.id, c.forces]),
            [
                [
                    "mesh-root-g1",
                    [
                        "new key",
                        "new certificate",
                        "update secret k8s/dev-east/istio-system/secret-cacerts",
                        "istiod of dev-east reloads cacerts",
                    ],
                ],
                ["mesh-ca-dev-east-g1", ["new key", "new certificate"]],
            ],
        );
        assert.match(prepare.steps.before[0], /^Set ISTIO_MULTIROOT_MESH=true on istiod/);
        assert.deepStrictEqual(prepare.steps.after.slice(-2), [
            "Before the switch, wait until istiod of dev-east has the new root-cert.pem (it reloads cacerts and writes the istio-ca-root-cert ConfigMap of every namespace: kubectl get configmap istio-ca-root-cert -n <namespace> -o yaml shows both roots) " +
                "and every proxy has both roots (its ROOTCA secret, in base64 in -o json; the table shows only a secret's first certificate: " +
                "istioctl proxy-config secret <pod> -n <namespace> -o json | jq -r '.dynamicActiveSecrets[] | select(.name==\"ROOTCA\") | .secret.validationContext.trustedCa.inlineBytes' " +
                "| base64 -d | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout lists both).",
            "Then, in a later change, the next phase: pki:caRotation.meshRoot: { generation: 1, phase: switch }.",
        ]);
        const switched = diffPlans(plan(at("meshRoot", 1, "prepare")), plan(at("meshRoot", 1, "switch")));
        assert.deepStrictEqual(places(switched), [
            "update k8s/dev-east/istio-system/secret-cacerts: ca-cert.pem: mesh-ca-dev-east -> mesh-ca-dev-east-g1; ca-key.pem: key of mesh-ca-dev-east -> key of mesh-ca-dev-east-g1; " +
                "cert-chain.pem: + mesh-ca-dev-east-g1, mesh-root-g1; - mesh-ca-dev-east, mesh-root",
        ]);
        assert.strictEqual(
            switched.caRotation[0].effect,
            "switch: istiod's cacerts (istiod reloads it; workloads renew within their certificate TTL) re-issued by mesh-ca-dev-east-g1, under mesh-root-g1; mesh-root still trusted",
        );
        const finish = diffPlans(plan(at("meshRoot", 1, "switch")), plan(at("meshRoot", 1, "finish")));
        assert.match(finish.steps.before[0], /^Check that every workload was restarted or renewed since the switch/);
        assert.deepStrictEqual(places(finish), [
            "update k8s/dev-east/istio-system/secret-cacerts: root-cert.pem: - mesh-root; " +
                `ca-crl.pem: may also change: ${EVER_REMOVED}: - CRL of mesh-root, CRL of mesh-ca-dev-east`,
        ]);
    });

    it("mesh CA finish: the old mesh CA's certificates are refused from this update on, so diff asks first for the check pki:meshFinishAfterHours cannot make", () => {
        const check = (raw: Record<string, unknown>) =>
            diffPlans(plan(at("meshCa", 1, "switch", raw)), plan(at("meshCa", 1, "finish", raw))).steps.before;
        const text = (cas: string) =>
            `Check that every workload was restarted or renewed since the switch, with a certificate of the new mesh CA (${cas}): ` +
            "certificates of the old mesh CA are refused after this update (Istio 1.27+ sidecars read ca-crl.pem, which revokes it), " +
            "and pki:meshFinishAfterHours measures only the time since the switch, not whether istiod took the switch's cacerts. " +
            "In each cluster, istioctl proxy-config secret <pod> -n <namespace> -o json has a workload's certificate chain in base64: " +
            "istioctl proxy-config secret <pod> -n <namespace> -o json | jq -r '.dynamicActiveSecrets[] | select(.name==\"default\") | .secret.tlsCertificate.certificateChain.inlineBytes' " +
            "| base64 -d | openssl x509 -noout -issuer shows its issuer, which must be the new mesh CA; " +
            "restart the workloads whose issuer is the old one, and istiod first if it still signs with the old one.";
        assert.deepStrictEqual(check(oneCluster), [text("mesh-ca-dev-east-g1")]);
        assert.deepStrictEqual(check(twoClusters), [text("mesh-ca-dev-east-g1 and mesh-ca-dev-west-g1")]);
        assert.deepStrictEqual(check({ ...dev, trustDomains: "shared" }), [text("mesh-ca-dev-east-g1")]);
    });

    it("mesh CA finish: cacerts' first ca-crl.pem asks for no periodic re-publication, since the mesh CAs' CRLs are valid until their CAs expire", () => {
        const d = diffPlans(plan(at("meshCa", 1, "switch", oneCluster)), plan(at("meshCa", 1, "finish", oneCluster)));
        assert.deepStrictEqual(
            [
                crlsPublished(plan(at("meshCa", 1, "switch", oneCluster))).mesh,
                crlsPublished(plan(at("meshCa", 1, "finish", oneCluster))).mesh,
            ],
            [false, true],
            "the finish publishes the mesh's CRLs for the first time",
        );
        assert.deepStrictEqual(
            d.steps.after.filter((s) => s.includes("re-published")),
            [],
        );
        // Nor does a new pki:crlPeriodDays, while only the mesh's CRLs are published.
        const finished = at("meshCa", 1, "finish", oneCluster);
        assert.deepStrictEqual(
            diffPlans(plan(finished), plan({ ...finished, crlPeriodDays: 14 })).steps.after.filter((s) =>
                s.includes("re-published"),
            ),
            [],
        );
    });

    it("an issuing CA's finish says its CRLs are published from now on only where none was before", () => {
        const revocation = {
            endpoint: "ob",
            serial: "F1D1E59E376EF775D55D309E3292F63C",
            epoch: 0,
            reason: "keyCompromise",
            revokedAt: "2026-01-20T09:30:00Z",
        };
        const finish = (raw: Record<string, unknown>) =>
            diffPlans(
                plan(at("apicClientCa", 1, "switch", raw)),
                plan(at("apicClientCa", 1, "finish", raw)),
            ).caRotation.map((t) => t.effect);
        const effect = (crls: string) =>
            `finish: apic-client-ca removed from every bundle and deleted; revoked in its root's CRL (${crls}); the old APIC keys are no longer pinned`;
        assert.deepStrictEqual(finish(dev), [effect("CRLs are published from now on")]);
        assert.deepStrictEqual(finish({ ...dev, revocations: [revocation] }), [effect("CRLs are published already")]);
    });

    it("an APIC-client CA rotated after its root: each phase names the CA its resources are, whose suffix counts the root's rotation too", () => {
        const rotation = (ca: [number, string], root: [number, string]) => ({
            ...dev,
            caRotation: {
                apicClientCa: { generation: ca[0], phase: ca[1] },
                clientRoot: { generation: root[0], phase: root[1] },
            },
        });
        const rootPrepare = diffPlans(
            plan(rotation([1, "finish"], [0, "finish"])),
            plan(rotation([1, "finish"], [1, "prepare"])),
        );
        assert.strictEqual(
            rootPrepare.caRotation[0].effect,
            "prepare: new CA client-root-g1 created and added to the gateway's ca.crt; it already issues the new apic-client-ca-g2 and its CRL, which nothing uses until switch",
        );
        const effects = (steps: [number, string][]) =>
            steps.slice(1).map((to, i) => {
                const d = diffPlans(plan(rotation(steps[i], [1, "finish"])), plan(rotation(to, [1, "finish"])));
                return [d.added.map((c) => c.id), d.removed.map((c) => c.id), d.caRotation.map((t) => t.effect)];
            });
        assert.deepStrictEqual(
            effects([
                [1, "finish"],
                [2, "prepare"],
                [2, "switch"],
                [2, "finish"],
            ]),
            [
                [
                    ["apic-client-ca-g3"],
                    [],
                    [
                        "prepare: new CA apic-client-ca-g3 created and added to no bundle (the gateway trusts the client root, which stays); nothing is issued by it yet",
                    ],
                ],
                [
                    [],
                    [],
                    [
                        "switch: every APIC client certificate (upload the new keystores; old and new keys stay pinned until finish) re-issued by apic-client-ca-g3; apic-client-ca-g2 still trusted",
                    ],
                ],
                [
                    [],
                    ["apic-client-ca-g2"],
                    [
                        // Generation 1's finish published the gateway's ca.crl already.
                        "finish: apic-client-ca-g2 removed from every bundle and deleted; revoked in its root's CRL (CRLs are published already); the old APIC keys are no longer pinned",
                    ],
                ],
            ],
        );
    });

    it("a skipped or reversed phase and a lowered generation are refused (exit 1), with the phase that comes next", async () => {
        const skip = diffPlans(plan(dev), plan(at("apicClientCa", 1, "switch")));
        assert.match(
            skip.caRotation[0].refused ?? "",
            /jumps from generation 0 phase finish \(deployed\) to generation 1 phase switch/,
        );
        const back = diffPlans(plan(at("apicClientCa", 2, "prepare")), plan(at("apicClientCa", 1, "finish")));
        assert.match(
            back.caRotation[0].refused ?? "",
            /goes back from generation 2 phase prepare \(deployed\) to generation 1 phase finish; phases only go forward/,
        );
        const dir = tempDir("diff-skip");
        const base = stackVariant(
            dir,
            "base",
            "  pki:domains:",
            "  pki:caRotation: { apicClientCa: { generation: 2, phase: prepare } }\n  pki:domains:",
        );
        const head = stackVariant(
            dir,
            "head",
            "  pki:domains:",
            "  pki:caRotation: { apicClientCa: { generation: 1, phase: finish } }\n  pki:domains:",
        );
        const { status, out } = await cli("diff", "--base", base, "--head", head);
        assert.strictEqual(status, 1);
        assert.match(
            out,
            /^## Certificate changes: dev \(Option 1\)\n\n### Refused\n\n- \*\*CA rotation, pki:caRotation\.apicClientCa: generation 2 phase prepare -> generation 1 phase finish\.\*\* Refused: /,
        );
    });
});

describe("diff of a mesh CA finish under an offline mesh root", function () {
    this.timeout(30_000);
    const DAY = 86_400_000;
    const now = new Date();
    // The root and the mesh CAs of dev-east's rotation, as the ceremony makes and signs them a month ago.
    const madeAt = new Date(now.getTime() - 30 * DAY);
    const root = createRoot({ commonName: "Diff Mesh Offline Root", validityDays: 400, keyAlgorithm: "ECDSA" }, madeAt);
    const switched = at("meshCa", 1, "switch", oneCluster);
    const intermediates: Record<string, string> = Object.fromEntries(
        plan(switched)
            .cas.filter((c) => c.slot === "meshCa")
            .map((c) => {
                const csrPem = String(
                    tlsProvider.certRequest({ privateKeyPem: TEST_ONLY_SUB_CA_KEY_PEM, subject: c.subject }).state
                        .certRequestPem,
                );
                const args = { rootKeyPem: root.keyPem, rootCertPem: root.certPem, csrPem, validityDays: 300 };
                return [c.id, signIntermediate(args, madeAt)];
            }),
    );
    // The finish retires mesh-ca-dev-east: the series revokes it.
    const revoked: RevokedEntry[] = [
        {
            serialHex: new crypto.X509Certificate(intermediates["mesh-ca-dev-east"]).serialNumber,
            revokedAt: madeAt,
            reason: "superseded",
        },
    ];
    /**
     * The ceremony's series of `periods` CRLs a `periodDays` apart, from `daysAgo` days before now;
     * each valid `validPeriods` periods (the ceremony signs two).
     */
    const series = (periodDays: number, periods: number, daysAgo: number, validPeriods = 2): string[] => {
        const windows = crlSeriesWindows({
            rootCertPem: root.certPem,
            revoked,
            from: new Date(now.getTime() - daysAgo * DAY),
            periodDays,
            periods,
            firstNumber: 1,
            now,
        }).map((w) => ({ ...w, nextUpdate: new Date(w.thisUpdate.getTime() + validPeriods * periodDays * DAY) }));
        return signCrlSeries({ rootKeyPem: root.keyPem, rootCertPem: root.certPem, revoked, windows }).map(
            (c) => c.pem,
        );
    };
    /** The steps of the finish that publishes cacerts' first ca-crl.pem, the mesh root's CRL from `crls`. */
    const finishSteps = (crls: readonly string[]): string[] => {
        const meshRoot = (ids: readonly string[]) => ({
            offlineRoots: {
                meshRoot: {
                    certificate: root.certPem,
                    intermediates: Object.fromEntries(ids.map((id) => [id, intermediates[id]])),
                    crls: crls.join(""),
                },
            },
        });
        const base = planFromRawConfig(
            { ...switched, ...meshRoot(["mesh-ca-dev-east", "mesh-ca-dev-east-g1"]) },
            { now },
        );
        const head = planFromRawConfig(
            { ...at("meshCa", 1, "finish", oneCluster), ...meshRoot(["mesh-ca-dev-east-g1"]) },
            { now, before: ceremonyRecord(base), rerun: "diff" },
        );
        return diffPlans(base, head).steps.after.filter((s) => s.includes("pki:offlineRoots.meshRoot"));
    };
    const step = (days: number, overlap: string) =>
        "From now on every cluster's cacerts carries the CRL of the offline root pki:offlineRoots.meshRoot, from the ceremony's series: " +
        `it must be re-published each time the series moves on, every ${days} days (the series period; ${overlap}): ` +
        "run pulumi up, or let the scheduled lifecycle workflow do it, and sign the next series before pki:offlineRoots.meshRoot.crls ends.";
    const CEREMONY = "each CRL is valid for two periods, so the one in place has one period to run";

    it("asks for re-publication every series period, the spacing of the series' CRLs", () => {
        // The ceremony's weekly series, its first CRL (from a day ago) published: the next is a week later.
        assert.deepStrictEqual(finishSteps(series(7, 4, 1)), [step(7, CEREMONY)]);
        // Its last CRL published: the one before it tells the period.
        assert.deepStrictEqual(finishSteps(series(7, 2, 8)), [step(7, CEREMONY)]);
    });

    it("reads the period from the spacing, not from one CRL's validity, when a CRL is valid three periods", () => {
        // CRLs 5 days apart, each valid 15 days: half of one CRL's validity would say every 8 days.
        assert.deepStrictEqual(finishSteps(series(5, 4, 1, 3)), [
            step(5, "each CRL is valid for 15 days, so the one in place has 10 days to run once the next is valid"),
        ]);
        assert.deepStrictEqual(finishSteps(series(5, 2, 6, 3)), [
            step(5, "each CRL is valid for 15 days, so the one in place has 10 days to run once the next is valid"),
        ]);
    });

    it("takes half of the CRL's validity, a ceremony series' period, for a series of one CRL", () => {
        assert.deepStrictEqual(finishSteps(series(7, 1, 1)), [step(7, CEREMONY)]);
    });
});

describe("diff of a mesh epoch once ca-crl.pem is published", function () {
    this.timeout(30_000);
    const finished = at("meshCa", 1, "finish");

    it("is refused as pulumi up refuses it, with the staged rotation that works", () => {
        const problem = (since: string) =>
            `is 1, but 0 is deployed and istiod's cacerts carries ca-crl.pem (${since}): a mesh CA re-keyed by its epoch keeps its name and its CRL replaces the old key's, ` +
            `so every sidecar would refuse the workloads still holding a certificate of the old key ("unable to get certificate CRL") until they renew (up to the workload certificate TTL, 24 h by default). ` +
            "Set pki:rotation.meshEpoch back to 0 and rotate the mesh CAs in stages with pki:caRotation.meshCa (next: { generation: 2, phase: prepare }), which keeps the old CA and its CRL until finish";
        const raised = { ...finished, rotation: { meshEpoch: 1 } };
        assert.deepStrictEqual(diffPlans(plan(finished), plan(raised)).refused, [
            { key: "pki:rotation.meshEpoch", problem: problem("since an earlier update") },
        ]);
        assert.deepStrictEqual(diffPlans(plan(at("meshCa", 1, "switch")), plan(raised)).refused, [
            { key: "pki:rotation.meshEpoch", problem: problem("from this update on") },
        ]);
        assert.deepStrictEqual(diffPlans(plan(dev), plan({ ...dev, rotation: { meshEpoch: 1 } })).refused, []);
    });
});

describe("diff of a revocation", function () {
    this.timeout(30_000);
    const revocation = {
        endpoint: "ob",
        serial: "F1D1E59E376EF775D55D309E3292F63C",
        epoch: 0,
        reason: "keyCompromise",
        revokedAt: "2026-01-20T09:30:00Z",
    };
    const revoked = { ...dev, revocations: [revocation] };

    it("adds ca.crl listing the serial to every gateway secret, re-issues the endpoint's client and unpins its key", () => {
        const d = diffPlans(plan(dev), plan(revoked));
        assert.deepStrictEqual(places(d), [
            ...GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: new: CRL of apic-client-ca (revokes serial F1D1E59E376EF775D55D309E3292F63C of ob), CRL of client-root`,
            ),
            "update APIC keystore of ob: client.crt: re-issued with a new key; client.key: new key; client.p12: written again with the new client.crt and client.key",
        ]);
        assert.deepStrictEqual(d.revocations, [
            { change: "added", ...revocation, host: "ob.dev.api.bank.example", clientEpoch: { before: 0, after: 1 } },
        ]);
        assert.deepStrictEqual(d.pins, [{ endpoint: "ob", before: ["key of epoch 0"], after: ["key of epoch 1"] }]);
        assert.deepStrictEqual(d.steps.after, [
            "Upload the APIC keystore of ob (apic keystores:update, same name); at once for ob: APIC's calls to ob.dev.api.bank.example fail until then.",
            "Load the new client.p12 of ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, with its new password: render's apic/<endpoint>/client.p12.password, stack output apicBundles.<endpoint>.pkcs12Password), when the keystore upload above is due.",
            "From now on CRLs must be re-published at least every 7 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
        ]);
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
        const second = { ...revocation, endpoint: "dp", serial: "0A1B" };
        const more = diffPlans(plan(revoked), plan({ ...dev, revocations: [revocation, second] }));
        assert.deepStrictEqual(
            places(more).slice(0, 2),
            GATEWAY_SECRETS.map((s) => `update ${s}: ca.crl: CRL of apic-client-ca revokes serial 0A1B of dp`),
        );
    });

    it("lists the serial under the CA that issued it while the APIC-client CA rotates, not under every generation", () => {
        const crlItem = (d: CertDiff) => places(d)[0].replace(/^update [^:]*: /, "");
        const revoking = (epoch: number) => ({ revocations: [{ ...revocation, epoch }] });
        // In switch, ob's client of epoch 1 comes from generation 1; the one before may be of either generation.
        const switched = at("apicClientCa", 1, "switch");
        assert.strictEqual(
            crlItem(diffPlans(plan(switched), plan({ ...switched, ...revoking(1) }))),
            `ca.crl: new: CRL of apic-client-ca, CRL of apic-client-ca-g1 (revokes serial ${revocation.serial} of ob), CRL of client-root`,
        );
        assert.strictEqual(
            crlItem(diffPlans(plan(switched), plan({ ...switched, ...revoking(0) }))),
            `ca.crl: new: CRL of apic-client-ca (revokes serial ${revocation.serial} of ob), CRL of apic-client-ca-g1 (revokes serial ${revocation.serial} of ob), CRL of client-root`,
        );
        // In prepare, generation 1 has issued nothing yet.
        const prepared = at("apicClientCa", 1, "prepare");
        assert.strictEqual(
            crlItem(diffPlans(plan(prepared), plan({ ...prepared, ...revoking(0) }))),
            `ca.crl: new: CRL of apic-client-ca (revokes serial ${revocation.serial} of ob), CRL of apic-client-ca-g1, CRL of client-root`,
        );
    });

    it("refuses a new APIC key while the client pins two keys, unless a revocation ends one of those two", () => {
        // ob moved to epoch 1 with the revocation of epoch 0, then to epoch 2 in switch: it pins 2 and 1.
        const pinsTwo = (clientEpoch: number, revocations: (typeof revocation)[]) => ({
            ...dev,
            revocations,
            rotation: { endpoints: { ob: { clientEpoch, clientPhase: "switch" } } },
        });
        const base = plan(pinsTwo(2, [revocation]));
        assert.deepStrictEqual(diffPlans(base, plan(pinsTwo(3, [revocation]))).refused, [
            {
                key: "pki:rotation.endpoints.ob",
                problem:
                    'the APIC client of endpoint "ob" would get a new key (epoch 3) while the deployed update may pin two of its keys, epoch 2 and the one before it, ' +
                    "for its switch phase (pki:rotation.endpoints.ob.clientPhase or pki:rotation.apicClientPhase): the gateway pins only the new key and the one before it, " +
                    "so the key before epoch 2, which APIC may still use, would be refused at once. " +
                    "Finish that first: once APIC uses the keystore of epoch 2, deploy its clientPhase at finish; then make the new key. " +
                    "The stack files cannot tell whether it has that key: an endpoint added since that began has none, and pulumi up, which reads the deployment record, takes its new key",
            },
        ]);
        // Revoking the key pinned before (epoch 1) or the base's own (epoch 2) leaves one key APIC may use.
        for (const epoch of [1, 2]) {
            const head = plan(pinsTwo(3, [revocation, { ...revocation, serial: `0${epoch}`, epoch }]));
            assert.deepStrictEqual(diffPlans(base, head).refused, [], `revoking epoch ${epoch}`);
        }
        // After a jump (0, then 2 in switch) the key pinned before is epoch 0's: revoking it now is
        // the emergency re-key pulumi up accepts (it checks the serials), which diff may not block.
        const jumped = plan({ ...dev, rotation: { endpoints: { ob: { clientEpoch: 2, clientPhase: "switch" } } } });
        assert.deepStrictEqual(diffPlans(jumped, plan(pinsTwo(3, [revocation]))).refused, []);
    });

    it("revoking the previous key of a client switch makes no new key: APIC must use the current epoch's keystore first", () => {
        const switched = (clientPhase: string, revocations: (typeof revocation)[]) => ({
            ...dev,
            revocations,
            rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase } } },
        });
        const d = diffPlans(plan(switched("switch", [])), plan(switched("switch", [revocation])));
        assert.deepStrictEqual(
            places(d),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: new: CRL of apic-client-ca (revokes serial F1D1E59E376EF775D55D309E3292F63C of ob), CRL of client-root`,
            ),
        );
        assert.deepStrictEqual(d.revocations, [{ change: "added", ...revocation, host: "ob.dev.api.bank.example" }]);
        assert.deepStrictEqual(d.pins, [
            { endpoint: "ob", before: ["key of epoch 1", "the key before epoch 1"], after: ["key of epoch 1"] },
        ]);
        assert.deepStrictEqual(d.steps, {
            before: [
                "Check that APIC uses the keystore of epoch 1 of ob, or upload it now (apic keystores:update, same name): " +
                    "the revoked key of epoch 0 is refused from this update on, and no new key is made, so APIC's calls to ob.dev.api.bank.example fail while it holds that key.",
            ],
            after: [
                "From now on CRLs must be re-published at least every 7 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
            ],
        });
        // At the finish that follows, the revoked key is no longer pinned: nothing more stops working.
        const finished = diffPlans(plan(switched("switch", [revocation])), plan(switched("finish", [revocation])));
        assert.deepStrictEqual([finished.pins, finished.steps], [[], { before: [], after: [] }]);
    });

    it("revoking an older key than the previous one in a switch: the step is conditional, as the pins stay", () => {
        // ob at epoch 2 in switch pins epoch 2 and the key before it, taken to be epoch 1's: revoking
        // epoch 0 unpins nothing unless the epochs went from 0 straight to 2.
        const switched = (revocations: (typeof revocation)[]) => ({
            ...dev,
            revocations,
            rotation: { endpoints: { ob: { clientEpoch: 2, clientPhase: "switch" } } },
        });
        const d = diffPlans(plan(switched([])), plan(switched([revocation])));
        assert.deepStrictEqual(d.pins, []);
        assert.deepStrictEqual(d.steps.before, [
            "Only if the client of ob came to epoch 2 straight from 0: check that APIC uses the keystore of epoch 2, or upload it now (apic keystores:update, same name), " +
                "as the key pinned beside it is then the revoked one of epoch 0, refused from this update on. Otherwise that pinned key is a later epoch's, and it stays.",
        ]);
        // Revoking epoch 1, the key the pins drop, is definite.
        const previous = { ...revocation, serial: "01", epoch: 1 };
        const p = diffPlans(plan(switched([])), plan(switched([previous])));
        assert.deepStrictEqual(p.pins, [
            { endpoint: "ob", before: ["key of epoch 2", "the key before epoch 2"], after: ["key of epoch 2"] },
        ]);
        assert.deepStrictEqual(p.steps.before, [
            "Check that APIC uses the keystore of epoch 2 of ob, or upload it now (apic keystores:update, same name): " +
                "the revoked key of epoch 1 is refused from this update on, and no new key is made, so APIC's calls to ob.dev.api.bank.example fail while it holds that key.",
        ]);
    });

    it("refuses removing it while that would take the client's epoch back, naming the way to drop it", () => {
        const d = diffPlans(plan(revoked), plan(dev));
        assert.deepStrictEqual(d.refused, [
            {
                key: "pki:revocations",
                problem:
                    'removing the revocation of serial F1D1E59E376EF775D55D309E3292F63C (endpoint "ob") takes its APIC client back from epoch 1 to 0: ' +
                    "a new key would replace the one APIC holds, with no overlap. Keep the entry until the certificate would have expired (pulumi up refuses dropping it while the certificate is valid, whatever the epochs); " +
                    "only then drop it, setting pki:rotation.endpoints.ob.clientEpoch to 1 in the same change",
            },
        ]);
        // With the epoch kept: refused while the certificate may be valid (revoked 2026-01-20, leaves live
        // 365 days, and the update takes a revokedAt up to CLOCK_SKEW_MS before the certificate's
        // notBefore), since its serial would leave the CRL; allowed after.
        const keptEpoch = { ...dev, rotation: { endpoints: { ob: { clientEpoch: 1 } } } };
        const at = (now: string) => diffPlans(plan(revoked), planFromRawConfig(keptEpoch, { now: new Date(now) }));
        assert.deepStrictEqual(at("2027-01-20T09:34:59Z").refused, [
            {
                key: "pki:revocations",
                problem:
                    'removing the revocation of serial F1D1E59E376EF775D55D309E3292F63C (endpoint "ob") takes it out of the CRL while the certificate may still be valid (revoked 2026-01-20T09:30:00Z; its certificates live 365 days): ' +
                    "the leaked certificate would pass again wherever the CRL is checked, and pulumi up refuses it while the certificate is valid. Keep the entry until 2027-01-20 at least",
            },
        ]);
        const kept = at("2027-01-20T09:35:00Z");
        assert.deepStrictEqual(kept.refused, []);
        assert.deepStrictEqual(
            kept.revocations.map((r) => [r.change, r.serial]),
            [["removed", revocation.serial]],
        );
    });
});

describe("diff of an APIC client switch", function () {
    it("refuses a stack-wide APIC client switch whose second pins make a domain's Gateway too large for etcd, as pulumi up does", () => {
        // The head's own plan, made with no deployment record, counts one pin per endpoint and passes.
        const services = Array.from(
            { length: 3050 },
            (_, i) => `svc-${String(i).padStart(5, "0")}-abcdefghijklmnopqrstuvwxyz`,
        );
        const base = { ...dev, option: "2", domains: { dp: { namespace: "dp", services } } };
        const head = { ...base, rotation: { apicClientEpoch: 1, apicClientPhase: "switch" } };
        assert.deepStrictEqual(diffPlans(plan(base), plan(head)).refused, [
            {
                key: "pki:domains.dp",
                problem:
                    "its Istio Gateway apic-mtls-dp would be about 1.49 MiB (1561777 bytes of JSON for 3050 endpoints), over the 1.40 MiB allowed here: " +
                    "etcd refuses an object over 1.5 MiB by default, so pulumi up would fail after the certificates and Secrets are made. " +
                    "In the APIC client switch (pki:rotation.apicClientPhase: switch), 3050 of its endpoints pin APIC's previous client key beside the new one, " +
                    "and without those 3050 pins it would be 1418427 bytes. " +
                    "Rotate at most 1054 of this domain's APIC clients at a time: raise pki:rotation.endpoints.<id>.clientEpoch with clientPhase: switch " +
                    "for those endpoints only (not pki:rotation.apicClientEpoch for all), upload their keystores, set them to finish, then the next ones; " +
                    "or split the domain's services into two domains, or with pki:option 3 serve them as fewer groups",
            },
        ]);
    });
});

describe("diff of an APIC client switch entered again", function () {
    this.timeout(30_000);
    // ob's epoch 0 revoked: pulumi up drops a revoked key from the pins.
    const revocation = {
        endpoint: "ob",
        serial: "0A",
        epoch: 0,
        reason: "keyCompromise",
        revokedAt: "2026-01-20T09:30:00Z",
    };
    const repinned = (endpoint: string) => ({
        endpoint,
        before: ["key of epoch 1"],
        after: ["key of epoch 1", "the key before epoch 1"],
    });
    const stackWide = (phase: string, revocations: (typeof revocation)[] = []) => ({
        ...dev,
        revocations,
        rotation: { apicClientEpoch: 1, apicClientPhase: phase },
    });

    it("pins the key before the epoch again when a finished switch goes back to switch, unless it is revoked", () => {
        assert.deepStrictEqual(diffPlans(plan(stackWide("finish")), plan(stackWide("switch"))).pins, [
            repinned("dp"),
            repinned("ob"),
        ]);
        const ownPhase = (clientPhase: string) => ({
            ...dev,
            rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase } } },
        });
        assert.deepStrictEqual(diffPlans(plan(ownPhase("finish")), plan(ownPhase("switch"))).pins, [repinned("ob")]);
        assert.deepStrictEqual(
            diffPlans(plan(stackWide("finish", [revocation])), plan(stackWide("switch", [revocation]))).pins,
            [repinned("dp")],
        );
    });

    it("pins what pulumi up pins from a deployment record that holds each client's keys of epochs 0 and 1", () => {
        const client = (epoch: number, serialHex: string) => ({
            epoch,
            serialHex,
            spki: `${"A".repeat(43)}=`,
            notAfter: "2030-01-01T00:00:00Z",
            issuer: "apic-client-ca",
        });
        const deployed: RotationRecord = {
            ...INITIAL_RECORD,
            clients: { dp: [client(0, "0C"), client(1, "0D")], ob: [client(0, "0A"), client(1, "0B")] },
        };
        const now = new Date("2026-06-01T00:00:00Z");
        const epochZero: Record<string, string> = { dp: "0/0C", ob: "0/0A" };
        const cases: [(typeof revocation)[], string[]][] = [
            [[], ["dp", "ob"]],
            [[revocation], ["dp"]],
        ];
        for (const [revocations, repinnedIds] of cases) {
            const head = stackWide("switch", revocations);
            const deployedPins = planFromRawConfig(head, { deployed, now })
                .endpoints.filter((e) => e.pinnedPreviousClients.length > 0)
                .map((e) => [e.id, e.pinnedPreviousClients.map((c) => `${c.epoch}/${c.serialHex}`)]);
            assert.deepStrictEqual(
                deployedPins,
                repinnedIds.map((id) => [id, [epochZero[id]]]),
            );
            assert.deepStrictEqual(
                diffPlans(plan(stackWide("finish", revocations)), plan(head)).pins,
                repinnedIds.map(repinned),
            );
        }
    });
});

describe("diff of a new CRL period", function () {
    this.timeout(30_000);
    const revoked = {
        ...dev,
        revocations: [
            {
                endpoint: "ob",
                serial: "F1D1E59E376EF775D55D309E3292F63C",
                epoch: 0,
                reason: "keyCompromise",
                revokedAt: "2026-01-20T09:30:00Z",
            },
        ],
    };

    it("re-signs every published CRL of an issuing CA for the new period length, and says how often to re-publish", () => {
        const d = diffPlans(plan(revoked), plan({ ...revoked, crlPeriodDays: 14 }));
        assert.deepStrictEqual(
            places(d),
            GATEWAY_SECRETS.map(
                (s) =>
                    `update ${s}: ca.crl: CRL of apic-client-ca re-signed for 14-day periods (pki:crlPeriodDays 7 -> 14)`,
            ),
        );
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "From now on CRLs must be re-published at least every 14 days (pki:crlPeriodDays; each is valid for four periods, at least 28 days): run pulumi up, or let the scheduled lifecycle workflow do it.",
            ],
        });
        assert.deepStrictEqual(
            diffPlans(plan(dev), plan({ ...dev, crlPeriodDays: 14 })).places,
            [],
            "no CRL published",
        );
    });
});

describe("diff risks", function () {
    this.timeout(30_000);

    it("a host kept under another endpoint (pki:baseDomain and the option changed together) is named as a risk: APIC's keystore for it stops working", () => {
        const common = { environment: "lab", clusters: ["east"], keyAlgorithm: "ECDSA" };
        const before = planFromRawConfig({
            ...common,
            option: 1,
            baseDomain: "lab.api.bank.example",
            domains: { ob: { services: ["accounts"] } },
        });
        const after = planFromRawConfig({
            ...common,
            option: 2,
            baseDomain: "api.bank.example",
            domains: { lab: { services: ["ob"] } },
        });
        // The same host, whose gateway entry would pin another APIC client identity (and key).
        const [was, now] = [before.endpoints[0], after.endpoints[0]];
        assert.strictEqual(was.host, now.host);
        assert.notStrictEqual(was.clientIdentity, now.clientIdentity);
        // Before, no risk: no host was dropped.
        assert.deepStrictEqual(diffPlans(before, after).risks, [
            {
                key: "pki:baseDomain, pki:option, pki:domains.ob, pki:domains.lab",
                change: "serves 1 host from another endpoint: ob.lab.api.bank.example (ob -> lab-ob)",
                breaks: "the gateway accepts only the new endpoint's APIC client for these hosts (another identity and key), while APIC still presents the old endpoint's keystore: its calls fail until it uploads the new keystores; during the update both gateways list the host",
                instead:
                    "keep each host's endpoint (its domain and service names as they were); if the change is intended, upload the new endpoints' keystores to APIC right after the update, in a maintenance window",
                hosts: ["ob.lab.api.bank.example"],
            },
        ]);
    });

    const WINDOW =
        "make the change in a maintenance window: before it, check that the new hosts resolve to the ingress gateway; " +
        "in it, run pulumi up, then at once route the new hosts (their VirtualServices) and configure APIC for them as the steps after the update say and point its API definitions at them";
    const BLOCKED =
        "APIC calls to these hosts fail from this update on, and the new hosts of their services exist only from the same update on, so APIC cannot move to them beforehand";

    it("a new pki:option or pki:baseDomain drops hosts whose new ones cannot be added first: a maintenance window, not 'add the new endpoints first'", async () => {
        const base = path.join(ROOT, DEV);
        const diffOf = async (from: string, to: string) => {
            const head = stackVariant(tempDir("diff-layout"), "dev", from, to);
            return JSON.parse((await cli("diff", "--base", base, "--head", head, "--format", "json")).out) as CertDiff;
        };
        const risksOf = async (from: string, to: string) => (await diffOf(from, to)).risks;
        const hosts = ["dp.dev.api.bank.example", "ob.dev.api.bank.example"];
        const change = "drops 2 hosts: dp.dev.api.bank.example and ob.dev.api.bank.example";
        assert.deepStrictEqual(await risksOf("pki:option: 1", "pki:option: 2"), [
            {
                key: "pki:option",
                change,
                breaks: BLOCKED,
                instead: `pki:option is one value for the whole stack, so these hosts and their new ones cannot be served side by side and no order of changes keeps APIC's calls working: keep it as it is, or ${WINDOW}`,
                hosts,
            },
        ]);
        assert.deepStrictEqual(
            await risksOf("pki:baseDomain: dev.api.bank.example", "pki:baseDomain: dev.apis.bank.example"),
            [
                {
                    key: "pki:baseDomain",
                    change,
                    breaks: BLOCKED,
                    instead: `pki:baseDomain is one value for the whole stack, so these hosts and their new ones cannot be served side by side and no order of changes keeps APIC's calls working: keep it as it is, or ${WINDOW}`,
                    hosts,
                },
            ],
        );
        // The steps agree: APIC cannot leave these hosts before the update that brings their new ones.
        const rehosted = await diffOf("pki:baseDomain: dev.api.bank.example", "pki:baseDomain: dev.apis.bank.example");
        assert.deepStrictEqual(rehosted.steps.before, [
            "As it is, this change takes a maintenance window (its risks say why, and any way without one): " +
                "APIC's calls to dp.dev.api.bank.example and ob.dev.api.bank.example fail from this update on, and their new hosts come with it. " +
                "Check that the new hosts resolve to the ingress gateway.",
        ]);
    });

    /** Option 2 on domain ob, with the groups Option 3 would take. */
    const GROUPED = {
        environment: "lab",
        clusters: ["east"],
        keyAlgorithm: "ECDSA",
        option: 2,
        baseDomain: "lab.api.bank.example",
        domains: {
            ob: {
                services: ["accounts", "ob-payee", "validator"],
                groups: { accounts: ["accounts"], payee: ["ob-payee"], checks: ["validator"] },
            },
        },
    };

    /** Each risk of a diff as [change, instead], the maintenance window's steps written WINDOW. */
    const advised = (d: CertDiff) => d.risks.map((r) => [r.change, r.instead.replace(`or ${WINDOW}`, "or WINDOW")]);
    /** The way for dropped hosts whose services move to hosts the base serves: APIC's calls move there first. */
    const servedFirst = (services: string, host: string) => {
        const [it, its] = services.includes(" and ") ? ["them", "their"] : ["it", "its"];
        return (
            `before this change, move APIC's calls to ${services} to ${host}, a host the stack serves already: ` +
            `route ${it} there, then point ${its} API definitions at that host, with the host's TLS client profile`
        );
    };

    it("Option 2 <-> 3: the two-step way through one group per service named as the service, which changes nothing", () => {
        const [option2, option3] = [plan(GROUPED), plan({ ...GROUPED, option: 3 })];
        const advice = (first: string) =>
            `pki:option is one value for the whole stack, so these hosts and their new ones cannot be served side by side; ${first}; or ${WINDOW}`;
        assert.deepStrictEqual(diffPlans(option2, option3).risks, [
            {
                key: "pki:option, pki:domains.ob",
                change: "drops 2 hosts: ob-payee.ob.lab.api.bank.example and validator.ob.lab.api.bank.example",
                breaks: BLOCKED,
                instead: advice(
                    "the two-step way: first switch to Option 3 with one group per service, named exactly as the service, a domain prefix included (ob-payee: [ob-payee]), " +
                        "which keeps every endpoint and host, then regroup in later changes, each diffed on its own",
                ),
                hosts: ["ob-payee.ob.lab.api.bank.example", "validator.ob.lab.api.bank.example"],
            },
        ]);
        assert.deepStrictEqual(
            diffPlans(option3, option2).risks.map((r) => r.instead),
            [
                advice(
                    "the way in steps: first regroup into one group per service, named exactly as the service, a domain prefix included (validator: [validator]), " +
                        "in changes each diffed on its own (where one moves a service to a new host, its diff says how APIC keeps calling it, or that it takes a maintenance window), " +
                        "then switch to Option 2, which keeps every endpoint and host",
                ),
            ],
        );
        // The first step advised from Option 2: nothing changes.
        const groups = { accounts: ["accounts"], "ob-payee": ["ob-payee"], validator: ["validator"] };
        const perService = plan({ ...GROUPED, option: 3, domains: { ob: { ...GROUPED.domains.ob, groups } } });
        const d = diffPlans(option2, perService);
        assert.deepStrictEqual([d.added, d.removed, d.replaced, d.places, d.risks], [[], [], [], [], []]);
        // From Option 3, regrouping into one group per service moves ob-payee and validator to new
        // hosts: its diff gives the way, and each of its changes drops no host before APIC can leave it.
        assert.deepStrictEqual(advised(diffPlans(option3, perService)), [
            [
                "drops 2 hosts: checks.ob.lab.api.bank.example and payee.ob.lab.api.bank.example",
                "group checks of pki:domains.ob holds only validator, which can be in one group only, and a group holds at least one service; " +
                    "endpoint ob-payee would serve both payee.ob.lab.api.bank.example and ob-payee.ob.lab.api.bank.example, and an endpoint serves one host: " +
                    "these hosts and their new ones cannot be served side by side in one change; keep group checks and group payee as they are, " +
                    "or pass validator and ob-payee through group accounts of pki:domains.ob, whose host stays: move them there in one change, " +
                    "APIC's calls to them moved to that host first, and to their new groups in a later change; or WINDOW",
            ],
        ]);
        const passing = plan({
            ...GROUPED,
            option: 3,
            domains: { ob: { ...GROUPED.domains.ob, groups: { accounts: ["accounts", "ob-payee", "validator"] } } },
        });
        assert.deepStrictEqual(advised(diffPlans(option3, passing)), [
            [
                "drops 2 hosts: checks.ob.lab.api.bank.example and payee.ob.lab.api.bank.example",
                servedFirst("validator and ob-payee", "accounts.ob.lab.api.bank.example"),
            ],
        ]);
        assert.deepStrictEqual(diffPlans(passing, perService).risks, []);
    });

    describe("Option 3 regrouped", () => {
        const services = ["accounts", "ob-payee", "validator", "ob-audit"];
        const option3 = (groups: Record<string, string[]>, kept = services) =>
            plan({ ...GROUPED, option: 3, domains: { ob: { services: kept, groups } } });
        const others = { "ob-payee": ["ob-payee"], checks: ["validator"] };

        it("a group renamed, of one service or keeping its endpoint name, cannot be served beside its new host: its services pass through a group the change keeps", () => {
            const base = option3({ core: ["accounts"], audit: ["ob-audit"], ...others });
            // ob-audit removed; checks -> validation (one service); ob-payee -> payee (the same endpoint name).
            const head = option3(
                { core: ["accounts"], payee: ["ob-payee"], validation: ["validator"] },
                services.slice(0, 3),
            );
            assert.deepStrictEqual(diffPlans(base, head).risks, [
                {
                    key: "pki:domains.ob",
                    change: "drops 1 host: audit.ob.lab.api.bank.example",
                    breaks: "APIC calls to these hosts fail from this update on: their Gateway server entries and secrets are deleted",
                    instead:
                        "before this change, remove APIC's API definitions that call ob-audit: this change serves it nowhere",
                    hosts: ["audit.ob.lab.api.bank.example"],
                },
                {
                    key: "pki:domains.ob",
                    change: "drops 2 hosts: checks.ob.lab.api.bank.example and ob-payee.ob.lab.api.bank.example",
                    breaks: BLOCKED,
                    instead:
                        "group checks of pki:domains.ob holds only validator, which can be in one group only, and a group holds at least one service; " +
                        "endpoint ob-payee would serve both ob-payee.ob.lab.api.bank.example and payee.ob.lab.api.bank.example, and an endpoint serves one host: " +
                        "these hosts and their new ones cannot be served side by side in one change; keep group checks and group ob-payee as they are, " +
                        "or pass validator and ob-payee through group core of pki:domains.ob, whose host stays: move them there in one change, " +
                        `APIC's calls to them moved to that host first, and to their new groups in a later change; or ${WINDOW}`,
                    hosts: ["checks.ob.lab.api.bank.example", "ob-payee.ob.lab.api.bank.example"],
                },
            ]);
            // APIC leaves the host whose services go first; the others go in the update that brings their new hosts.
            assert.deepStrictEqual(diffPlans(base, head).steps.before, [
                "Make sure APIC no longer calls the hosts this change drops: audit.ob.lab.api.bank.example.",
                "As it is, this change takes a maintenance window (its risks say why, and any way without one): " +
                    "APIC's calls to checks.ob.lab.api.bank.example and ob-payee.ob.lab.api.bank.example fail from this update on, and their new hosts come with it. " +
                    "Check that the new hosts resolve to the ingress gateway.",
            ]);
            const renamed = { core: ["accounts"], audit: ["ob-audit"], "ob-payee": ["ob-payee"] };
            assert.deepStrictEqual(advised(diffPlans(base, option3({ ...renamed, validation: ["validator"] }))), [
                [
                    "drops 1 host: checks.ob.lab.api.bank.example",
                    "group checks of pki:domains.ob holds only validator, which can be in one group only, and a group holds at least one service: " +
                        "the old host and its new one cannot be served side by side in one change; keep group checks as it is, " +
                        "or pass validator through group audit of pki:domains.ob, whose host stays: move it there in one change, " +
                        "APIC's calls to it moved to that host first, and to its new group in a later change; or WINDOW",
                ],
            ]);
            // The way advised: into audit, whose host APIC can call first; then out, dropping nothing.
            const passing = option3({ core: ["accounts"], audit: ["ob-audit", "validator"], "ob-payee": ["ob-payee"] });
            assert.deepStrictEqual(advised(diffPlans(base, passing)), [
                [
                    "drops 1 host: checks.ob.lab.api.bank.example",
                    servedFirst("validator", "audit.ob.lab.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(diffPlans(passing, option3({ ...renamed, validation: ["validator"] })).risks, []);
            // A domain with one group of one service has no group to pass through.
            const alone = (group: string) =>
                plan({
                    ...GROUPED,
                    option: 3,
                    domains: { ob: { services: ["accounts"], groups: { [group]: ["accounts"] } } },
                });
            assert.deepStrictEqual(advised(diffPlans(alone("core"), alone("main"))), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    "group core of pki:domains.ob holds only accounts, which can be in one group only, and a group holds at least one service: " +
                        "the old host and its new one cannot be served side by side in one change; keep group core as it is, or WINDOW",
                ],
            ]);
        });

        it("a group of several renamed cannot be served beside its new host either: one service stays in it while the others move first", () => {
            const two = option3({ core: ["accounts", "ob-audit"], ...others });
            const main = option3({ main: ["accounts", "ob-audit"], ...others });
            assert.deepStrictEqual(diffPlans(two, main).risks, [
                {
                    key: "pki:domains.ob",
                    change: "drops 1 host: core.ob.lab.api.bank.example",
                    breaks: BLOCKED,
                    instead:
                        "group core of pki:domains.ob holds accounts and ob-audit, each of which can be in one group only: " +
                        "their new group main comes with the first of them moved into it, and core goes with the last: " +
                        "first make this change but keep accounts in group core (core: [accounts]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move accounts to main, which drops these hosts; " +
                        `each change diffed on its own; or ${WINDOW}`,
                    hosts: ["core.ob.lab.api.bank.example"],
                },
            ]);
            // The way advised: the first change adds main beside core; the second drops core, whose services main serves by then.
            const first = option3({ core: ["accounts"], main: ["ob-audit"], ...others });
            assert.deepStrictEqual(diffPlans(two, first).risks, []);
            assert.deepStrictEqual(advised(diffPlans(first, main)), [
                ["drops 1 host: core.ob.lab.api.bank.example", servedFirst("accounts", "main.ob.lab.api.bank.example")],
            ]);
            // A group named after a service holds it to the last; a new group named after one takes it first.
            const named = option3({ accounts: ["accounts", "ob-audit"], ...others });
            assert.deepStrictEqual(
                advised(diffPlans(named, main)).map(([, instead]) => instead.split(": first ")[1]),
                [
                    "make this change but keep accounts in group accounts (accounts: [accounts]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move accounts to main, which drops these hosts; " +
                        "each change diffed on its own; or WINDOW",
                ],
            );
            assert.deepStrictEqual(
                advised(diffPlans(two, named)).map(([, instead]) => instead.split(": first ")[1]),
                [
                    "make this change but keep ob-audit in group core (core: [ob-audit]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move ob-audit to accounts, which drops these hosts; " +
                        "each change diffed on its own; or WINDOW",
                ],
            );
            const second = option3({ core: ["ob-audit"], accounts: ["accounts"], ...others });
            assert.deepStrictEqual(diffPlans(two, second).risks, []);
            assert.deepStrictEqual(advised(diffPlans(second, named)), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    servedFirst("ob-audit", "accounts.ob.lab.api.bank.example"),
                ],
            ]);
        });

        it("a service is kept back only where its new group keeps another, so that the first change does not empty a group", () => {
            const three = ["accounts", "ob-audit", "validator"];
            const base = option3({ core: ["accounts"], x: ["ob-audit", "validator"] }, three);
            const head = option3({ core: ["ob-audit"], main: ["accounts", "validator"] }, three);
            // Keeping ob-audit in x would leave core empty: the first change would drop core, whose accounts go to main.
            assert.deepStrictEqual(advised(diffPlans(base, head)), [
                [
                    "drops 1 host: x.ob.lab.api.bank.example",
                    "group x of pki:domains.ob holds ob-audit and validator, each of which can be in one group only: " +
                        "their new group main comes with the first of them moved into it, and x goes with the last: " +
                        "first make this change but keep validator in group x (x: [validator]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move validator to main, which drops these hosts; " +
                        "each change diffed on its own; or WINDOW",
                ],
            ]);
            const first = option3({ core: ["ob-audit"], main: ["accounts"], x: ["validator"] }, three);
            assert.deepStrictEqual(diffPlans(base, first).risks, []);
            assert.deepStrictEqual(advised(diffPlans(first, head)), [
                ["drops 1 host: x.ob.lab.api.bank.example", servedFirst("validator", "main.ob.lab.api.bank.example")],
            ]);
            // With validator's new group named after it, neither can stay in x: its services pass through core.
            const named = option3({ core: ["ob-audit"], main: ["accounts"], validator: ["validator"] }, three);
            assert.deepStrictEqual(advised(diffPlans(base, named)), [
                [
                    "drops 1 host: x.ob.lab.api.bank.example",
                    "group x of pki:domains.ob holds ob-audit and validator, each of which can be in one group only: " +
                        "their new group validator comes with the first of them moved into it, and x goes with the last: " +
                        "the old host and its new one cannot be served side by side in one change; keep group x as it is, " +
                        "or pass ob-audit and validator through group core of pki:domains.ob, whose host stays: move them there in one change, " +
                        "APIC's calls to them moved to that host first, and to their new groups in a later change; or WINDOW",
                ],
            ]);
            const passing = option3({ core: ["accounts", "ob-audit", "validator"] }, three);
            assert.deepStrictEqual(advised(diffPlans(base, passing)), [
                [
                    "drops 1 host: x.ob.lab.api.bank.example",
                    servedFirst("ob-audit and validator", "core.ob.lab.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(diffPlans(passing, named).risks, []);
        });

        it("a group of several split into new groups of one each passes its services through a group the change keeps", () => {
            const two = option3({ core: ["accounts", "ob-audit"], ...others });
            const split = option3({ accounts: ["accounts"], "ob-audit": ["ob-audit"], ...others });
            assert.deepStrictEqual(advised(diffPlans(two, split)), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    "group core of pki:domains.ob holds accounts and ob-audit, each of which can be in one group only: " +
                        "their new groups accounts and ob-audit each come with the first of them moved into it, and core goes with the last: " +
                        "the old host and its new ones cannot be served side by side in one change; keep group core as it is, " +
                        "or pass accounts and ob-audit through group checks of pki:domains.ob, whose host stays: move them there in one change, " +
                        "APIC's calls to them moved to that host first, and to their new groups in a later change; or WINDOW",
                ],
            ]);
            const passing = option3({ "ob-payee": ["ob-payee"], checks: ["validator", "accounts", "ob-audit"] });
            assert.deepStrictEqual(advised(diffPlans(two, passing)), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    servedFirst("accounts and ob-audit", "checks.ob.lab.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(diffPlans(passing, split).risks, []);
        });

        it("a single group split into groups of one, with no group left to pass through, goes in three changes: the second passes a service kept back through a group the first adds", () => {
            const three = ["accounts", "ob-audit", "validator"];
            const base = option3({ core: three }, three);
            const head = option3({ accounts: ["accounts"], "ob-audit": ["ob-audit"], validator: ["validator"] }, three);
            assert.deepStrictEqual(advised(diffPlans(base, head)), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    "group core of pki:domains.ob holds accounts, ob-audit and validator, each of which can be in one group only: " +
                        "their new groups accounts, ob-audit and validator each come with the first of them moved into it, and core goes with the last: " +
                        "in three changes, first make this change but keep accounts in group core (core: [accounts]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a second change, move accounts to group ob-audit, " +
                        "whose host the first change serves, APIC's calls to it moved there first, which drops these hosts; " +
                        "then, in a third, move accounts to group accounts; each change diffed on its own; or WINDOW",
                ],
            ]);
            // Each change as advised: nothing dropped before APIC can leave it.
            const first = option3({ core: ["accounts"], "ob-audit": ["ob-audit"], validator: ["validator"] }, three);
            const second = option3({ "ob-audit": ["ob-audit", "accounts"], validator: ["validator"] }, three);
            assert.deepStrictEqual(diffPlans(base, first).risks, []);
            assert.deepStrictEqual(advised(diffPlans(first, second)), [
                [
                    "drops 1 host: core.ob.lab.api.bank.example",
                    servedFirst("accounts", "ob-audit.ob.lab.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(diffPlans(second, head).risks, []);
        });

        it("a service leaving a host the change keeps is no risk, but APIC's calls to it move: after the update, where its new host comes with it", async () => {
            const dir = tempDir("diff-moved");
            const blacklist = "        blacklist: [blacklist-adr, blacklist-ui-bff, validator]";
            const base = path.join(ROOT, OPTION_FILES[3]);
            const diffOf = async (from: string, to: string) => {
                const head = stackVariant(dir, "moved", from, to, OPTION_FILES[3]);
                return JSON.parse(
                    (await cli("diff", "--base", base, "--head", head, "--format", "json")).out,
                ) as CertDiff;
            };
            const MOVE = (host: string, domain: string) =>
                `Route each at its new host (${virtualServices({ [`istio-system/apic-mtls-${domain}`]: [host] })}), then point its API definitions there, with that host's TLS client profile; ` +
                "keep it routed at its old host until APIC no longer calls it there.";
            // validator to a new group: blacklist keeps its certificate and Secret, and the new host comes with the update.
            const d = await diffOf(
                blacklist,
                "        blacklist: [blacklist-adr, blacklist-ui-bff]\n        validation: [validator]",
            );
            assert.deepStrictEqual([d.risks, d.refused, d.steps.before], [[], [], []]);
            assert.deepStrictEqual(
                d.places.map((p) => `${p.change} ${p.place}`),
                [
                    "create k8s/example/istio-system/secret-apic-mtls-ob-validation",
                    "create APIC keystore of ob-validation",
                    "create APIC truststore of ob-validation",
                ],
            );
            assert.deepStrictEqual(d.steps.after, [
                routeNew({ "istio-system/apic-mtls-ob": ["validation.ob.example.api.bank.example"] }),
                "Configure APIC for the new host validation.ob.example.api.bank.example: a TLS client profile with the endpoint's keystore and truststore.",
                "Move APIC's calls to the services that leave a host this change keeps: " +
                    `validator from blacklist.ob.example.api.bank.example to validation.ob.example.api.bank.example. ${MOVE("validation.ob.example.api.bank.example", "ob")}`,
            ]);
            // Between two groups whose hosts stay: only the move.
            const dp = await diffOf(
                "        accounts: [accounts-canonical, debits-canonical, payees-canonical, scheduled-payments, transaction-canonical]\n" +
                    "        reference: [party-canonical, products-canonical]",
                "        accounts: [accounts-canonical, debits-canonical, payees-canonical, scheduled-payments]\n" +
                    "        reference: [party-canonical, products-canonical, transaction-canonical]",
            );
            assert.deepStrictEqual([dp.risks, dp.places, dp.steps.before], [[], [], []]);
            assert.deepStrictEqual(dp.steps.after, [
                "Move APIC's calls to the services that leave a host this change keeps: " +
                    `transaction-canonical from accounts.dp.example.api.bank.example to reference.dp.example.api.bank.example. ${MOVE("reference.dp.example.api.bank.example", "dp")}`,
            ]);
        });

        it("the second of two advised changes, and a group passed through, move APIC's calls to hosts served already, with no new endpoint to add first", async () => {
            const dir = tempDir("diff-served");
            const variant = (name: string, from: string, to: string) =>
                stackVariant(dir, name, from, to, OPTION_FILES[3]);
            const diffOf = async (base: string, head: string) =>
                JSON.parse((await cli("diff", "--base", base, "--head", head, "--format", "json")).out) as CertDiff;
            const blacklist = "        blacklist: [blacklist-adr, blacklist-ui-bff, validator]";
            const renamed = variant(
                "renamed",
                blacklist,
                "        checks: [blacklist-adr, blacklist-ui-bff, validator]",
            );
            const first = variant(
                "first",
                blacklist,
                "        blacklist: [blacklist-adr]\n        checks: [blacklist-ui-bff, validator]",
            );
            // The second change advised for renaming group blacklist: checks was added by the first.
            const second = await diffOf(first, renamed);
            assert.deepStrictEqual(advised(second), [
                [
                    "drops 1 host: blacklist.ob.example.api.bank.example",
                    servedFirst("blacklist-adr", "checks.ob.example.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(second.steps.before, [
                "Make sure APIC no longer calls the hosts this change drops: blacklist.ob.example.api.bank.example.",
            ]);
            // wiremock passed through group blacklist: test-support cannot stay beside, as it would hold no service.
            const through = variant(
                "through",
                `${blacklist}\n        # Test doubles, kept apart so they can be switched off per environment.\n        test-support: [wiremock]`,
                "        blacklist: [blacklist-adr, blacklist-ui-bff, validator, wiremock]",
            );
            assert.deepStrictEqual(advised(await diffOf(path.join(ROOT, OPTION_FILES[3]), through)), [
                [
                    "drops 1 host: test-support.ob.example.api.bank.example",
                    servedFirst("wiremock", "blacklist.ob.example.api.bank.example"),
                ],
            ]);
            // Where services go to another domain's new host, that host can be added first.
            const dpx = stackVariant(dir, "dev", "    dp:\n      namespace: dp", "    dpx:\n      namespace: dp");
            assert.deepStrictEqual(advised(await diffOf(path.join(ROOT, DEV), dpx)), [
                [
                    "drops 1 host: dp.dev.api.bank.example",
                    "add the new endpoints first, move APIC's API definitions and TLS client profiles to them, and remove the old hosts in a later change",
                ],
            ]);
        });
    });

    describe("Option 3 services moved to another domain (the Option 3 example)", () => {
        const BASE = path.join(ROOT, OPTION_FILES[3]);
        const edited = (dir: string, name: string, ...edits: [string, string][]) =>
            stackEdited(dir, name, edits, OPTION_FILES[3]);
        /** The diff through the CLI, which validates both stack files: each advised config must be valid. */
        const diffOf = async (base: string, head: string) => {
            const { status, out, err } = await cli("diff", "--base", base, "--head", head, "--format", "json");
            assert.deepStrictEqual([status, err], [0, ""]);
            return JSON.parse(out) as CertDiff;
        };
        const DP_SERVICES = "        - transaction-canonical\n";
        const DP_GROUPS =
            "        accounts: [accounts-canonical, debits-canonical, payees-canonical, scheduled-payments, transaction-canonical]";
        const REFERENCE = "        reference: [party-canonical, products-canonical]";
        const BLACKLIST = "        blacklist: [blacklist-adr, blacklist-ui-bff, validator]";
        // Two hosts on two Gateways: the Gateway named by its domain.
        const MOVE =
            "Route each at its new host (their VirtualServices: hosts: [checks.ob.example.api.bank.example], gateways: [istio-system/apic-mtls-ob]; hosts: [reference.dp.example.api.bank.example], gateways: [istio-system/apic-mtls-dp]), then point its API definitions there, with that host's TLS client profile; " +
            "keep it routed at its old host until APIC no longer calls it there.";

        it("a dropped host whose services go to a host another domain serves already moves APIC's calls there first, adds nothing", async () => {
            const dir = tempDir("diff-other-domain");
            // wiremock from ob's test-support into dp's reference, whose host stays.
            const wiremock = edited(
                dir,
                "wiremock",
                ["        - wiremock\n", ""],
                [
                    "        # Test doubles, kept apart so they can be switched off per environment.\n        test-support: [wiremock]\n",
                    "",
                ],
                [DP_SERVICES, `${DP_SERVICES}        - wiremock\n`],
                [REFERENCE, "        reference: [party-canonical, products-canonical, wiremock]"],
            );
            const d = await diffOf(BASE, wiremock);
            assert.deepStrictEqual(advised(d), [
                [
                    "drops 1 host: test-support.ob.example.api.bank.example",
                    servedFirst("wiremock", "reference.dp.example.api.bank.example"),
                ],
            ]);
            assert.deepStrictEqual(d.added, []);
            // Domain ob renamed obx: its new hosts can be added first (a copy of ob as obx), then ob dropped.
            const text = fs.readFileSync(BASE, "utf8");
            const ob = text.slice(text.indexOf("    ob:\n"), text.indexOf("    dp:\n"));
            const renamed = edited(dir, "renamed", ["    ob:\n", "    obx:\n"]);
            const added = edited(dir, "added", ["    dp:\n", `${ob.replace("    ob:\n", "    obx:\n")}    dp:\n`]);
            const ADD_FIRST =
                "add the new endpoints first, move APIC's API definitions and TLS client profiles to them, and remove the old hosts in a later change";
            const five = ["blacklist", "cdr", "core", "products", "test-support"];
            assert.deepStrictEqual(advised(await diffOf(BASE, renamed)), [
                [
                    "drops 5 hosts: blacklist.ob.example.api.bank.example, cdr.ob.example.api.bank.example, core.ob.example.api.bank.example and 2 more",
                    ADD_FIRST,
                ],
            ]);
            const first = await diffOf(BASE, added);
            assert.deepStrictEqual([first.risks, first.added.length], [[], 10]);
            const later = await diffOf(added, renamed);
            assert.deepStrictEqual(later.added, []);
            assert.deepStrictEqual(
                later.risks.map((r) => [r.hosts, r.instead]),
                [
                    [
                        five.map((g) => `${g}.ob.example.api.bank.example`),
                        "before this change, move APIC's calls to blacklist-adr, blacklist-ui-bff and validator to blacklist.obx.example.api.bank.example, " +
                            "ob-cdr-dh-cache, ob-cdr-cache, ob-registration and 3 more to cdr.obx.example.api.bank.example, " +
                            "accounts, ob-payee, ob-scheduled-payments and 2 more to core.obx.example.api.bank.example, " +
                            "ob-productsv2 and ob-discovery to products.obx.example.api.bank.example and wiremock to test-support.obx.example.api.bank.example, " +
                            "hosts the stack serves already: route them there, then point their API definitions at those hosts, with the hosts' TLS client profiles",
                    ],
                ],
            );
        });

        it("a group named after a service the change moves into its domain keeps that service back, which the config requires", async () => {
            const dir = tempDir("diff-namesake");
            // accounts from ob into dp, whose group accounts is renamed canonical.
            const moved = (name: string, groups: string) =>
                edited(
                    dir,
                    name,
                    ["        - accounts\n", ""],
                    ["core: [accounts, ob-payee", "core: [ob-payee"],
                    [DP_SERVICES, `${DP_SERVICES}        - accounts\n`],
                    [DP_GROUPS, groups],
                );
            const CANONICAL =
                "accounts-canonical, debits-canonical, payees-canonical, scheduled-payments, transaction-canonical";
            const head = moved("head", `        canonical: [${CANONICAL}, accounts]`);
            assert.deepStrictEqual(advised(await diffOf(BASE, head)), [
                [
                    "drops 1 host: accounts.dp.example.api.bank.example",
                    "group accounts of pki:domains.dp holds accounts-canonical, debits-canonical, payees-canonical, scheduled-payments and transaction-canonical, each of which can be in one group only: " +
                        "their new group canonical comes with the first of them moved into it, and accounts goes with the last: " +
                        "first make this change but keep group accounts with only accounts, which it is named after (accounts: [accounts]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move accounts to canonical, which drops these hosts; each change diffed on its own; or WINDOW",
                ],
            ]);
            // Each change as advised, each config valid: nothing dropped before APIC can leave it.
            const first = moved("first", `        accounts: [accounts]\n        canonical: [${CANONICAL}]`);
            const d = await diffOf(BASE, first);
            assert.deepStrictEqual([d.risks, d.steps.before], [[], []]);
            assert.deepStrictEqual(advised(await diffOf(first, head)), [
                [
                    "drops 1 host: accounts.dp.example.api.bank.example",
                    servedFirst("accounts", "canonical.dp.example.api.bank.example"),
                ],
            ]);
        });

        it("a service leaving a host the change keeps for another domain's host gets its step moving APIC's calls there", async () => {
            const dir = tempDir("diff-moved-domain");
            // validator from ob's blacklist into dp's reference; blacklist-ui-bff into a new group checks.
            const moved = (name: string, groups: string) =>
                edited(
                    dir,
                    name,
                    ["        - validator\n", ""],
                    [BLACKLIST, groups],
                    [DP_SERVICES, `${DP_SERVICES}        - validator\n`],
                    [REFERENCE, "        reference: [party-canonical, products-canonical, validator]"],
                );
            const head = moved("head", "        checks: [blacklist-adr, blacklist-ui-bff]");
            assert.deepStrictEqual(advised(await diffOf(BASE, head)), [
                [
                    "drops 1 host: blacklist.ob.example.api.bank.example",
                    "group blacklist of pki:domains.ob holds blacklist-adr, blacklist-ui-bff and validator, each of which can be in one group only: " +
                        "their new group checks comes with the first of them moved into it, and blacklist goes with the last: " +
                        "first make this change but keep blacklist-adr in group blacklist (blacklist: [blacklist-adr]), so that these hosts stay beside the new ones, " +
                        "and after its update move APIC's calls to the new hosts; then, in a later change, move blacklist-adr to checks, which drops these hosts; each change diffed on its own; or WINDOW",
                ],
            ]);
            // The first change as advised: both services leave blacklist, which stays, validator for dp's reference.
            const first = moved("first", "        blacklist: [blacklist-adr]\n        checks: [blacklist-ui-bff]");
            const d = await diffOf(BASE, first);
            assert.deepStrictEqual([d.risks, d.steps.before], [[], []]);
            assert.deepStrictEqual(d.steps.after, [
                routeNew({ "istio-system/apic-mtls-ob": ["checks.ob.example.api.bank.example"] }),
                "Configure APIC for the new host checks.ob.example.api.bank.example: a TLS client profile with the endpoint's keystore and truststore.",
                "Move APIC's calls to the services that leave a host this change keeps: " +
                    "blacklist-ui-bff from blacklist.ob.example.api.bank.example to checks.ob.example.api.bank.example and " +
                    `validator from blacklist.ob.example.api.bank.example to reference.dp.example.api.bank.example. ${MOVE}`,
            ]);
            assert.deepStrictEqual(advised(await diffOf(first, head)), [
                [
                    "drops 1 host: blacklist.ob.example.api.bank.example",
                    servedFirst("blacklist-adr", "checks.ob.example.api.bank.example"),
                ],
            ]);
        });
    });

    it("endpoints that keep their name under a new host (pki:baseDomain renamed) are among the new hosts to configure at APIC", async () => {
        const head = stackVariant(
            tempDir("diff-rehosted"),
            "dev",
            "pki:baseDomain: dev.api.bank.example",
            "pki:baseDomain: dev.apis.bank.example",
        );
        const { status, out } = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head, "--format", "json");
        assert.strictEqual(status, 0);
        assert.deepStrictEqual((JSON.parse(out) as CertDiff).steps.after, [
            routeNew({
                "istio-system/apic-mtls-dp": ["dp.dev.apis.bank.example"],
                "istio-system/apic-mtls-ob": ["ob.dev.apis.bank.example"],
            }),
            "Configure APIC for the new 2 hosts dp.dev.apis.bank.example and ob.dev.apis.bank.example: endpoints dp and ob keep their names and TLS client profiles: " +
                "point the API definitions that call their old hosts (dp.dev.api.bank.example and ob.dev.api.bank.example) at the new ones.",
        ]);
    });

    it("Option 2 -> 3: a new group's host and the new host of a group that keeps a service's endpoint name (payee for ob-payee) are configured at APIC each its own way", () => {
        const d = diffPlans(plan(GROUPED), plan({ ...GROUPED, option: 3 }));
        assert.deepStrictEqual(d.steps.after, [
            routeNew({
                "istio-system/apic-mtls-ob": ["checks.ob.lab.api.bank.example", "payee.ob.lab.api.bank.example"],
            }),
            "Configure APIC for the new 2 hosts checks.ob.lab.api.bank.example and payee.ob.lab.api.bank.example: " +
                "for checks.ob.lab.api.bank.example, a TLS client profile with the endpoint's keystore and truststore; " +
                "for payee.ob.lab.api.bank.example, endpoint ob-payee keeps its name and TLS client profile: point the API definitions that call its old host (ob-payee.ob.lab.api.bank.example) at the new one.",
        ]);
    });

    it("every change that brings new hosts (a new pki:option, a group renamed, a service added) routes them through a VirtualService binding their Gateway before APIC is configured for them", async () => {
        const dir = tempDir("diff-route-new");
        const stepsOf = async (stackFile: string, from: string, to: string) => {
            const head = stackVariant(dir, "route", from, to, stackFile);
            const { status, out, err } = await cli(
                "diff",
                "--base",
                path.join(ROOT, stackFile),
                "--head",
                head,
                "--format",
                "json",
            );
            assert.deepStrictEqual([status, err], [0, ""]);
            return (JSON.parse(out) as CertDiff).steps.after.slice(0, 2);
        };
        // Option 1 -> 2: 24 hosts on the Gateways of dp and ob.
        const switched = await stepsOf(OPTION_FILES[1], "pki:option: 1", "pki:option: 2");
        // One clause per Gateway, each listing all its new hosts.
        const newHosts = (domain: string) =>
            plan(loadStackFileValues(OPTION_FILES[2]))
                .endpoints.filter((e) => e.domain === domain)
                .map((e) => e.host);
        assert.deepStrictEqual(newHosts("dp").length + newHosts("ob").length, 24);
        assert.deepStrictEqual(
            switched[0],
            routeNew({ "istio-system/apic-mtls-dp": newHosts("dp"), "istio-system/apic-mtls-ob": newHosts("ob") }),
        );
        assert.match(switched[1], /^Configure APIC for the new 24 hosts /);
        // Option 3: group test-support renamed mocks.
        assert.deepStrictEqual(await stepsOf(OPTION_FILES[3], "test-support: [wiremock]", "mocks: [wiremock]"), [
            routeNew({ "istio-system/apic-mtls-ob": ["mocks.ob.example.api.bank.example"] }),
            "Configure APIC for the new host mocks.ob.example.api.bank.example: a TLS client profile with the endpoint's keystore and truststore.",
        ]);
        // Option 2: a service added to ob.
        assert.deepStrictEqual(
            await stepsOf(OPTION_FILES[2], "        - accounts\n", "        - accounts\n        - newsvc\n"),
            [
                routeNew({ "istio-system/apic-mtls-ob": ["newsvc.ob.example.api.bank.example"] }),
                "Configure APIC for the new host newsvc.ob.example.api.bank.example: a TLS client profile with the endpoint's keystore and truststore.",
            ],
        );
    });

    it("reports each Gateway whose servers change, by host and credentialName, and none where only certificates do", async () => {
        const dir = tempDir("diff-gateways");
        const diffOf = async (stackFile: string, from: string, to: string) => {
            const head = stackVariant(dir, "gateways", from, to, stackFile);
            const base = path.join(ROOT, stackFile);
            const json = await cli("diff", "--base", base, "--head", head, "--format", "json");
            const markdown = await cli("diff", "--base", base, "--head", head);
            assert.deepStrictEqual([json.status, markdown.status], [0, 0]);
            return { diff: JSON.parse(json.out) as CertDiff, report: markdown.out };
        };
        // Option 3: group test-support renamed mocks, a server for another.
        const renamed = await diffOf(OPTION_FILES[3], "test-support: [wiremock]", "mocks: [wiremock]");
        assert.deepStrictEqual(renamed.diff.gateways, [
            {
                gateway: "k8s/example/istio-system/gateway-apic-mtls-ob",
                change: "update",
                added: [{ host: "mocks.ob.example.api.bank.example", credentialName: "apic-mtls-ob-mocks" }],
                removed: [
                    { host: "test-support.ob.example.api.bank.example", credentialName: "apic-mtls-ob-test-support" },
                ],
            },
        ]);
        assert.ok(
            renamed.report.includes(
                "### Istio Gateways (each server added or removed)\n\n| gateway | change | server | host | credentialName |\n| --- | --- | --- | --- | --- |\n" +
                    "| k8s/example/istio-system/gateway-apic-mtls-ob | update | added | mocks.ob.example.api.bank.example | apic-mtls-ob-mocks |\n" +
                    "| k8s/example/istio-system/gateway-apic-mtls-ob | update | removed | test-support.ob.example.api.bank.example | apic-mtls-ob-test-support |\n",
            ),
            renamed.report,
        );
        // Option 1 -> 2: each domain's one server becomes one per service (dp 7, ob 17).
        const { diff: switched, report: switchedReport } = await diffOf(
            OPTION_FILES[1],
            "pki:option: 1",
            "pki:option: 2",
        );
        assert.deepStrictEqual(
            switched.gateways.map((g) => [g.gateway, g.change, g.added.length, g.removed]),
            [
                [
                    "k8s/example/istio-system/gateway-apic-mtls-dp",
                    "update",
                    7,
                    [{ host: "dp.example.api.bank.example", credentialName: "apic-mtls-dp" }],
                ],
                [
                    "k8s/example/istio-system/gateway-apic-mtls-ob",
                    "update",
                    17,
                    [{ host: "ob.example.api.bank.example", credentialName: "apic-mtls-ob" }],
                ],
            ],
        );
        assert.deepStrictEqual(switched.gateways[1].added.slice(0, 2), [
            { host: "ob-productsv2.ob.example.api.bank.example", credentialName: "apic-mtls-ob-productsv2" },
            { host: "accounts.ob.example.api.bank.example", credentialName: "apic-mtls-ob-accounts" },
        ]);
        // The report lists every server, one row each: 7 + 17 added, 2 removed.
        const rows = switchedReport.split("\n").filter((l) => l.startsWith("| k8s/example/istio-system/gateway-"));
        assert.deepStrictEqual(rows.length, 7 + 17 + 2);
        assert.ok(
            rows.includes(
                "| k8s/example/istio-system/gateway-apic-mtls-ob | update | added | accounts.ob.example.api.bank.example | apic-mtls-ob-accounts |",
            ),
            rows.join("\n"),
        );
        for (const s of switched.gateways.flatMap((g) => g.added)) {
            assert.ok(
                rows.some((row) => row.includes(`| ${s.host} | ${s.credentialName} |`)),
                s.host,
            );
        }
        // A CA rotation re-issues certificates and pins keys, but every server stays.
        assert.deepStrictEqual(diffPlans(plan(dev), plan(at("apicClientCa", 1, "prepare"))).gateways, []);
        // The gateway's cluster (the first) swapped: each Gateway deleted from east, created in west.
        const multi = loadStackFileValues("examples/multi-cluster/Pulumi.multi-cluster.yaml");
        const swapped = { ...multi, clusters: [...(multi.clusters as unknown[])].reverse() };
        const one = (domain: string) => [
            { host: `${domain}.example.api.bank.example`, credentialName: `apic-mtls-${domain}` },
        ];
        assert.deepStrictEqual(diffPlans(plan(multi), plan(swapped)).gateways, [
            { gateway: "k8s/west/istio-system/gateway-apic-mtls-dp", change: "create", added: one("dp"), removed: [] },
            { gateway: "k8s/west/istio-system/gateway-apic-mtls-ob", change: "create", added: one("ob"), removed: [] },
            { gateway: "k8s/east/istio-system/gateway-apic-mtls-dp", change: "delete", added: [], removed: one("dp") },
            { gateway: "k8s/east/istio-system/gateway-apic-mtls-ob", change: "delete", added: [], removed: one("ob") },
        ]);
    });

    it("a risk's JSON lists every host it drops; the report names three and how many more", async () => {
        const head = stackVariant(tempDir("diff-hosts"), "option-1", "pki:option: 2", "pki:option: 1", OPTION_FILES[2]);
        const base = path.join(ROOT, OPTION_FILES[2]);
        const hosts = plan(loadStackFileValues(OPTION_FILES[2])).endpoints.map((e) => e.host);
        assert.strictEqual(hosts.length, 24);
        const shortened = `drops 24 hosts: ${hosts.slice(0, 3).join(", ")} and 21 more`;
        const json = await cli("diff", "--base", base, "--head", head, "--format", "json");
        assert.deepStrictEqual(
            (JSON.parse(json.out) as CertDiff).risks.map((r) => [r.key, r.change, r.hosts]),
            [["pki:option", shortened, hosts]],
        );
        const report = await cli("diff", "--base", base, "--head", head);
        assert.ok(report.out.includes(`\n- **pki:option: ${shortened}.**\n`), report.out.slice(0, 500));
    });

    it("renaming pki:organization re-issues every root and CA at once: the risk comes first, with what breaks and why no staged rotation avoids it", async () => {
        const d = diffPlans(plan(dev), plan({ ...dev, organization: "Example Bank plc" }));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:organization",
                change: "re-issues 3 roots (mesh-root, server-root, client-root) and 3 issuing CAs (gateway-server-ca, apic-client-ca, mesh-ca-dev-east) at once, outside a staged rotation (pki:caRotation), and with them 4 leaf certificates",
                breaks:
                    "istiod's root-cert.pem holds only the new mesh root: workloads with certificates under the old root and those with new ones refuse each other until every workload has a new certificate; " +
                    "the gateway serves certificates under the new server root at once, while APIC's truststores hold the old one: every APIC call fails until each truststore is uploaded; " +
                    "the gateway's ca.crt holds only the new APIC client root from this update on, while APIC still presents client certificates under the old one: every APIC call is refused until each APIC keystore is uploaded",
                instead:
                    "pki:organization: no staged rotation avoids it, since every generation's subject carries the organization: keep the deployed value, or schedule a maintenance window (deploy, then at once upload every APIC keystore and truststore, restart istiod, and then the mesh workloads)",
            },
        ]);
        assert.strictEqual(d.replaced.length, 10);
        const dir = tempDir("diff-org");
        const head = stackVariant(dir, "dev", "pki:organization: Example Bank", "pki:organization: Example Bank plc");
        const plain = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head);
        assert.strictEqual(plain.status, 0, "a risk alone passes");
        assert.match(
            plain.out,
            /^## Certificate changes: dev \(Option 1\)\n\n### Risks\n\n- \*\*pki:organization: re-issues 3 roots/,
        );
        const check = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head, "--fail-on", "risky");
        assert.deepStrictEqual(
            [check.status, check.out],
            [1, plain.out],
            "the PR check fails on it, with the same report",
        );
    });

    it("a CA's validity changed is a re-issue outside a staged rotation that breaks nothing at once, and says so", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, validityDays: { root: 3650, intermediate: 730, leaf: 365 } }));
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.change, r.breaks.slice(0, 55)]),
            [
                [
                    "pki:validityDays",
                    "re-issues 3 issuing CAs (gateway-server-ca, apic-client-ca, mesh-ca-dev-east) at once, outside a staged rotation (pki:caRotation), and with them 4 leaf certificates",
                    "nothing at once, since peers trust the root, which stay",
                ],
            ],
        );
    });

    it("changing trust domains, dropping, renaming or reordering a cluster or its context, and replacing more than --max-replaced certificates are risks", () => {
        const shared = diffPlans(plan(dev), plan({ ...dev, trustDomains: "shared" }));
        assert.deepStrictEqual(
            shared.risks.map((r) => [r.key, r.breaks.slice(0, 38)]),
            [["pki:trustDomains", "every trust anchor changes at once: th"]],
        );
        const [one, two] = [oneCluster, twoClusters];
        assert.deepStrictEqual(diffPlans(plan(one), plan(two)).risks, [], "a cluster added is no risk");
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(one)).risks.map((r) => [r.key, r.change, r.instead]),
            [
                [
                    "pki:clusters",
                    "removes 1 cluster dev-west: its mesh CA and istiod's cacerts secret are deleted; " +
                        "mesh-ca-dev-west revoked in the CRL of mesh-root, which every other cluster's cacerts carries (ca-crl.pem): " +
                        ISTIOD_READS_NO_CRL,
                    "remove the cluster's workloads and istiod first, then the cluster from pki:clusters; " +
                        "if a copy of its cacerts may outlive it (etcd backups), replace the mesh root too (pki:caRotation.meshRoot): " +
                        "until then that key gets certificates of the current mesh CA, and as the ingress gateway its credentials (server keys) through SDS, from the other clusters' istiod",
                ],
            ],
        );
        // A context changed: another cluster, maybe; no certificate changes, but every object may move.
        const moved = { ...dev, clusters: [{ name: "dev-east", context: "east-2" }, { name: "dev-west" }] };
        assert.deepStrictEqual(diffPlans(plan(two), plan(moved)).replaced, []);
        const contextBreaks = (name: string, objects: string) =>
            `if that is another cluster, Pulumi either replaces ${name}'s Kubernetes provider, creating ${objects} there and deleting them from the cluster they are in now (whose istiod loses its plug-in CA), ` +
            "or, when the kubeconfig it is given does not tell the clusters apart, moves nothing and its state no longer matches the clusters; " +
            "and if it is the same cluster through another kubeconfig entry, the replacement fails creating objects that already exist";
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(moved)).risks.map((r) => [r.key, r.change, r.breaks]),
            [
                [
                    "pki:clusters",
                    "reaches cluster dev-east through context east-2 instead of context east",
                    contextBreaks("dev-east", "its gateway Secrets and Gateways, cacerts and every other object"),
                ],
                [
                    "pki:clusters",
                    "reaches cluster dev-west through the current context instead of context west",
                    contextBreaks("dev-west", "its cacerts and every other object"),
                ],
            ],
        );
        const movesGateway =
            "moves the gateway's Secrets and Gateways from cluster dev-east to dev-west, now the first of pki:clusters";
        const renamesEast =
            "renames cluster dev-east to east (both through context east): to Pulumi one cluster removed and one added, whose objects have the same names in the same cluster";
        // Another cluster put first: the gateway's objects go with the first cluster.
        const westFirst = { ...dev, clusters: [...two.clusters].reverse() };
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(westFirst)).risks.map((r) => [r.key, r.change]),
            [["pki:clusters", movesGateway]],
        );
        // Renamed and put after another at once: the gateway still moves, to the new first cluster.
        const renamedLast = {
            ...dev,
            clusters: [
                { name: "dev-west", context: "west" },
                { name: "east", context: "east" },
            ],
        };
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(renamedLast)).risks.map((r) => r.change),
            [renamesEast, movesGateway],
        );
        // A cluster renamed on the same context: the same objects under new resource names fail to be created.
        const renamed = {
            ...dev,
            clusters: [
                { name: "east", context: "east" },
                { name: "dev-west", context: "west" },
            ],
        };
        assert.deepStrictEqual(
            diffPlans(plan(two), plan(renamed)).risks.map((r) => [r.key, r.change, r.instead]),
            [
                [
                    "pki:clusters",
                    renamesEast,
                    "keep the name dev-east (it names the mesh CA, the provider and the render folder; the context says where the cluster is), or remove the cluster in one change and add it under the new name in the next",
                ],
            ],
        );
        const option2 = loadStackFileValues(OPTION_FILES[2]);
        const renewed = { ...option2, rotation: { leafEpoch: 1, apicClientPhase: "switch" } };
        const many = diffPlans(plan(option2), plan(renewed));
        assert.deepStrictEqual(
            many.risks.map((r) => [r.key, r.change]),
            [["pki:rotation", "replaces 48 certificates in one update (more than 10)"]],
        );
        assert.deepStrictEqual(diffPlans(plan(option2), plan(renewed), { maxReplaced: 48 }).risks, []);
    });

    it("a cluster removed with ECDSA CA keys: refused, as pulumi up refuses it, since the CRLs the stack would sign for it (the mesh root's, or the kept mesh CAs') are signed with RSA only", () => {
        const [one, two] = [oneCluster, twoClusters];
        const refused = (caKeyAlgorithm: string, trustDomains: string) =>
            diffPlans(plan({ ...two, caKeyAlgorithm, trustDomains }), plan({ ...one, caKeyAlgorithm, trustDomains }))
                .refused;
        const problem = (rootSlot: string) =>
            "removes cluster dev-west, whose mesh CA mesh-ca-dev-west must be revoked in the mesh root's CRL: " +
            "until then its key (in that cluster's cacerts and its backups) can mint any workload identity the other clusters' sidecars accept " +
            `(istiod, which applies no CRL to its clients, accepts it until the mesh root is replaced: pki:caRotation.${rootSlot}). ` +
            "That needs pki:caKeyAlgorithm RSA: the stack signs that CRL with the mesh root's key, and CRLs signed with ECDSA would differ on every run (random signatures) and churn every preview; " +
            "keep the cluster, set pki:caKeyAlgorithm RSA in a change of its own first (every CA is re-issued at once, the mesh root too, so the cluster's old mesh CA chains to a root nothing trusts any more; " +
            "the mesh and APIC are down until istiod restarts and APIC's keystores and truststores are uploaded: see what diff says it breaks), then remove the cluster";
        assert.deepStrictEqual(
            [refused("ECDSA", "shared"), refused("ECDSA", "separate"), refused("RSA", "shared")],
            [
                [{ key: "pki:clusters", problem: problem("root") }],
                [{ key: "pki:clusters", problem: problem("meshRoot") }],
                [],
            ],
        );
    });

    it("a cluster removed: every generation of its mesh CA is revoked in the mesh root's CRL, which the other clusters' cacerts carries from then on", () => {
        const [one, two] = [oneCluster, twoClusters];
        const removal = (d: CertDiff) => ({
            risk: d.risks.find((r) => r.key === "pki:clusters")?.change,
            places: places(d).filter((p) => p.includes("secret-cacerts")),
            rotation: d.caRotation.map((t) => t.effect),
            after: d.steps.after,
        });
        // No re-publication step: the mesh CAs' and the mesh root's CRLs are valid until their CAs expire.
        assert.deepStrictEqual(removal(diffPlans(plan(two), plan(one))), {
            risk:
                "removes 1 cluster dev-west: its mesh CA and istiod's cacerts secret are deleted; " +
                "mesh-ca-dev-west revoked in the CRL of mesh-root, which every other cluster's cacerts carries (ca-crl.pem): " +
                ISTIOD_READS_NO_CRL,
            places: [
                "update k8s/dev-east/istio-system/secret-cacerts: ca-crl.pem: new: CRL of mesh-root (revokes mesh-ca-dev-west, retired), CRL of mesh-ca-dev-east; " +
                    `or, ${REMOVED_BEFORE}: - CRL of mesh-ca-dev-west; CRL of mesh-root revokes mesh-ca-dev-west, retired`,
                "delete k8s/dev-west/istio-system/secret-cacerts: ",
            ],
            rotation: [],
            after: [
                "istiod of dev-east reloads cacerts (Istio 1.18+) and sends ca-crl.pem to the sidecars (Istio 1.27+).",
            ],
        });
        // Removed at the finish of a mesh CA rotation: both generations of its CA go with the old one that stays.
        assert.deepStrictEqual(
            removal(diffPlans(plan(at("meshCa", 1, "switch", two)), plan(at("meshCa", 1, "finish", one)))),
            {
                risk:
                    "removes 1 cluster dev-west: its mesh CA and istiod's cacerts secret are deleted; " +
                    "mesh-ca-dev-west and mesh-ca-dev-west-g1 revoked in the CRL of mesh-root, which every other cluster's cacerts carries (ca-crl.pem): " +
                    ISTIOD_READS_NO_CRL,
                places: [
                    "update k8s/dev-east/istio-system/secret-cacerts: ca-crl.pem: new: CRL of mesh-root " +
                        "(revokes mesh-ca-dev-east, retired; revokes mesh-ca-dev-west, retired; revokes mesh-ca-dev-west-g1, retired), CRL of mesh-ca-dev-east-g1; " +
                        `or, ${REMOVED_BEFORE}: - CRL of mesh-ca-dev-east, CRL of mesh-ca-dev-west, CRL of mesh-ca-dev-west-g1; ` +
                        "CRL of mesh-root revokes mesh-ca-dev-east, retired; revokes mesh-ca-dev-west, retired; revokes mesh-ca-dev-west-g1, retired",
                    "delete k8s/dev-west/istio-system/secret-cacerts: ",
                ],
                rotation: [
                    "finish: mesh-ca-dev-east, mesh-ca-dev-west and mesh-ca-dev-west-g1 removed from every bundle and deleted; revoked in its root's CRL (CRLs are published from now on)",
                ],
                after: [
                    "istiod of dev-east reloads cacerts (Istio 1.18+) and sends ca-crl.pem to the sidecars (Istio 1.27+).",
                ],
            },
        );
    });

    it("a cluster removed under a shared root: its mesh CA is under every slot's root, so the gateway's ca.crl and APIC's truststore.crl are published too, as pulumi up publishes them", () => {
        const [one, two] = [
            { ...oneCluster, trustDomains: "shared" },
            { ...twoClusters, trustDomains: "shared" },
        ];
        const d = diffPlans(plan(two), plan(one));
        const news = "CRL of root (revokes mesh-ca-dev-west, retired)";
        assert.deepStrictEqual(places(d), [
            ...GATEWAY_SECRETS.map((s) => `update ${s}: ca.crl: new: CRL of apic-client-ca, ${news}`),
            `update k8s/dev-east/istio-system/secret-cacerts: ca-crl.pem: new: ${news}, CRL of mesh-ca-dev-east; ` +
                `or, ${REMOVED_BEFORE}: - CRL of mesh-ca-dev-west; CRL of root revokes mesh-ca-dev-west, retired`,
            ...["dp", "ob"].map(
                (ep) => `update APIC truststore of ${ep}: truststore.crl: new: CRL of gateway-server-ca, ${news}`,
            ),
            "delete k8s/dev-west/istio-system/secret-cacerts: ",
        ]);
        assert.strictEqual(
            d.steps.after[0],
            "Load the new truststore.crl of dp and ob into the DataPower validation credentials that check the gateway's CRLs, if you set them up (APIC's TLS client profiles take no CRL).",
        );
        // What pulumi up publishes, given the removed cluster's CA in the deployed record.
        const deployed = {
            ...INITIAL_RECORD,
            cas: { "mesh-ca-dev-west": { serialHex: "0C", notAfter: "2029-01-01T00:00:00Z", issuer: "root" } },
        };
        const { offlineRootCrls: _none, ...deployedPlan } = planFromRawConfig(one, { deployed }).crls;
        assert.deepStrictEqual(deployedPlan, {
            gateway: true,
            apicTruststore: true,
            mesh: true,
            apicUiTruststore: false,
        });
        assert.deepStrictEqual(crlsPublished(plan(one), plan(two)), deployedPlan);
    });

    it("a new pki:gatewayNamespace moves every gateway Secret and Gateway: a risk, and the ingress gateway checked there first", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, gatewayNamespace: "istio-ingress" }));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:gatewayNamespace",
                change: "moves every gateway Secret and Gateway from namespace istio-system to istio-ingress: Pulumi creates them in istio-ingress and deletes them from istio-system",
                breaks: "the ingress gateway reads its Secrets in its own namespace: unless its pods already run in istio-ingress, dp.dev.api.bank.example and ob.dev.api.bank.example get no TLS from this update on; VirtualServices that bind istio-system/apic-mtls-dp and istio-system/apic-mtls-ob stop routing when Pulumi deletes them, and DNS or the load balancer for dp.dev.api.bank.example and ob.dev.api.bank.example must point at the new gateway's Service; the policy pack's private-key-secrets refuses the new Secrets unless keySecretNamespaces holds istio-ingress",
                instead:
                    "move the gateway out of istio-system, but in this order: run the ingress gateway's pods in istio-ingress first (the Gateways select istio: ingressgateway), add istio-ingress to keySecretNamespaces, then change it; " +
                    "until then keep pki:gatewayNamespace istio-system. The move is worth it: in istio-system the gateway's account can read istiod's cacerts (istio-system/cacerts, the mesh CA key; " +
                    "the policy pack's advisory gateway-keys-beside-cacerts, README \"The gateway's namespace\")",

                hosts: ["dp.dev.api.bank.example", "ob.dev.api.bank.example"],
            },
        ]);
        assert.deepStrictEqual(d.steps, {
            before: [
                "Check that the ingress gateway's pods run in istio-ingress (kubectl -n istio-ingress get pods -l istio=ingressgateway) and that the policy pack's keySecretNamespaces holds istio-ingress: this change creates the gateway's Secrets and Gateways there and deletes them from istio-system.",
                "Point DNS or the load balancer for dp.dev.api.bank.example and ob.dev.api.bank.example at the Service of the gateway pods labelled istio: ingressgateway in istio-ingress: the gateway in istio-system loses their certificates with this update.",
                "Update the VirtualServices that bind the Gateways istio-system/apic-mtls-dp and istio-system/apic-mtls-ob to bind istio-ingress/apic-mtls-dp and istio-ingress/apic-mtls-ob: this change re-creates them in istio-ingress and deletes them from istio-system, and Istio routes a host only through the Gateways its VirtualService binds.",
            ],
            after: [],
        });
        assert.deepStrictEqual(places(d), [
            "create k8s/dev-east/istio-ingress/secret-apic-mtls-dp: tls.crt: new; tls.key: new; ca.crt: new",
            "create k8s/dev-east/istio-ingress/secret-apic-mtls-ob: tls.crt: new; tls.key: new; ca.crt: new",
            "delete k8s/dev-east/istio-system/secret-apic-mtls-dp: ",
            "delete k8s/dev-east/istio-system/secret-apic-mtls-ob: ",
        ]);
        assert.deepStrictEqual([d.added, d.removed, d.replaced], [[], [], []], "the certificates stay");
    });

    it("a new pki:gatewayNamespace is a risk with every host new as well, naming the head's hosts", () => {
        const d = diffPlans(
            plan(dev),
            plan({ ...dev, gatewayNamespace: "istio-ingress", baseDomain: "dev2.api.bank.example" }),
        );
        assert.deepStrictEqual(
            d.risks.map((r) => [r.key, r.hosts]),
            [
                ["pki:baseDomain", ["dp.dev.api.bank.example", "ob.dev.api.bank.example"]],
                ["pki:gatewayNamespace", ["dp.dev2.api.bank.example", "ob.dev2.api.bank.example"]],
            ],
        );
        assert.strictEqual(
            d.risks[1].breaks,
            "the ingress gateway reads its Secrets in its own namespace: unless its pods already run in istio-ingress, dp.dev2.api.bank.example and ob.dev2.api.bank.example get no TLS from this update on; VirtualServices that bind istio-system/apic-mtls-dp and istio-system/apic-mtls-ob stop routing when Pulumi deletes them, and DNS or the load balancer for dp.dev2.api.bank.example and ob.dev2.api.bank.example must point at the new gateway's Service; the policy pack's private-key-secrets refuses the new Secrets unless keySecretNamespaces holds istio-ingress",
        );
        assert.strictEqual(
            d.steps.before[1],
            "Check that the ingress gateway's pods run in istio-ingress (kubectl -n istio-ingress get pods -l istio=ingressgateway) and that the policy pack's keySecretNamespaces holds istio-ingress: this change creates the gateway's Secrets and Gateways there and deletes them from istio-system.",
        );
        // Under Option 2 every host is new too (one per service).
        const option2 = diffPlans(plan(dev), plan({ ...dev, gatewayNamespace: "istio-ingress", option: 2 }));
        const moved = option2.risks.find((r) => r.key === "pki:gatewayNamespace");
        assert.deepStrictEqual(moved?.hosts?.length, 24);
        assert.strictEqual(option2.steps.before.filter((s) => s.includes("kubectl -n istio-ingress")).length, 1);
    });

    it("the gateway moved back to istio-system, which the policy pack admits by default: no keySecretNamespaces advice", () => {
        const d = diffPlans(plan({ ...dev, gatewayNamespace: "istio-ingress" }), plan(dev));
        assert.deepStrictEqual(
            d.risks.map((r) => [r.breaks, r.instead]),
            [
                [
                    "the ingress gateway reads its Secrets in its own namespace: unless its pods already run in istio-system, dp.dev.api.bank.example and ob.dev.api.bank.example get no TLS from this update on; VirtualServices that bind istio-ingress/apic-mtls-dp and istio-ingress/apic-mtls-ob stop routing when Pulumi deletes them, and DNS or the load balancer for dp.dev.api.bank.example and ob.dev.api.bank.example must point at the new gateway's Service",
                    "keep pki:gatewayNamespace istio-ingress: in istio-system the gateway's account could read istiod's cacerts (istio-system/cacerts, the mesh CA key); " +
                        "to move the gateway anyway, run the ingress gateway's pods in istio-system first (the Gateways select istio: ingressgateway), then change it",
                ],
            ],
        );
        assert.deepStrictEqual(d.steps.before, [
            "Check that the ingress gateway's pods run in istio-system (kubectl -n istio-system get pods -l istio=ingressgateway): this change creates the gateway's Secrets and Gateways there and deletes them from istio-ingress.",
            "Point DNS or the load balancer for dp.dev.api.bank.example and ob.dev.api.bank.example at the Service of the gateway pods labelled istio: ingressgateway in istio-system: the gateway in istio-ingress loses their certificates with this update.",
            "Update the VirtualServices that bind the Gateways istio-ingress/apic-mtls-dp and istio-ingress/apic-mtls-ob to bind istio-system/apic-mtls-dp and istio-system/apic-mtls-ob: this change re-creates them in istio-system and deletes them from istio-ingress, and Istio routes a host only through the Gateways its VirtualService binds.",
        ]);
    });

    it("turning pki:meshStrictMtls on or off is a risk, though no certificate changes", () => {
        const strict = { ...dev, meshStrictMtls: true };
        const risks = (from: Record<string, unknown>, to: Record<string, unknown>) =>
            diffPlans(plan(from), plan(to)).risks.map((r) => [r.key, r.change]);
        assert.deepStrictEqual(
            [risks(dev, strict), risks(strict, dev), risks(strict, strict)],
            [
                [
                    [
                        "pki:meshStrictMtls",
                        "turns on mutual TLS required mesh-wide: a STRICT PeerAuthentication istio-system/default in every cluster",
                    ],
                ],
                [
                    [
                        "pki:meshStrictMtls",
                        "turns off mutual TLS required mesh-wide: the STRICT PeerAuthentication istio-system/default is deleted in every cluster",
                    ],
                ],
                [],
            ],
        );
        assert.deepStrictEqual(diffPlans(plan(dev), plan(strict)).replaced, []);
    });

    it("an epoch that goes down is refused with the reason: epochs only go up", () => {
        const d = diffPlans(plan({ ...dev, rotation: { leafEpoch: 2 } }), plan({ ...dev, rotation: { leafEpoch: 1 } }));
        assert.deepStrictEqual(d.refused, [
            {
                key: "pki:rotation.leafEpoch",
                problem:
                    "goes down from 2 to 1; epochs only go up: an epoch names the keys it made (<name>-r<epoch>) and the APIC certificates on record, " +
                    "so going back would make a new key under a name already used and pin the wrong history at the gateway, and never brings the old key back. Keep 2, or raise it to 3 to rotate again",
            },
        ]);
        const dropped = diffPlans(plan({ ...dev, rotation: { endpoints: { ob: { serverEpoch: 1 } } } }), plan(dev));
        assert.deepStrictEqual(
            dropped.refused.map((r) => r.key),
            ["pki:rotation.endpoints.ob.serverEpoch"],
        );
    });
});

describe("diff of a new leaf key algorithm", function () {
    this.timeout(30_000);

    it("gives every APIC client a new key under the same epoch: a risk, the new keys pinned alone, the keystores uploaded at once", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, keyAlgorithm: "ECDSA" }));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:keyAlgorithm",
                change: "gives the APIC clients of dp and ob a new key under the same epoch (RSA 2048 -> ECDSA P-256), with no overlap: the gateway pins only the new keys",
                breaks: "APIC's calls to dp.dev.api.bank.example and ob.dev.api.bank.example are refused from this update on until each new keystore is uploaded: APIC still presents the old key",
                instead:
                    "raise the clients' epoch in the same change (pki:rotation.apicClientEpoch, or pki:rotation.endpoints.<id>.clientEpoch) with pki:rotation.apicClientPhase switch, so that the gateway pins the old and the new key until the keystores are uploaded; then set the phase to finish",
                hosts: ["dp.dev.api.bank.example", "ob.dev.api.bank.example"],
            },
        ]);
        assert.deepStrictEqual(
            d.pins,
            ["dp", "ob"].map((endpoint) => ({
                endpoint,
                before: ["key of epoch 0"],
                after: ["new ECDSA P-256 key of epoch 0"],
            })),
        );
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "Upload the APIC keystore of dp and ob (apic keystores:update, same name); at once for dp and ob: APIC's calls to dp.dev.api.bank.example and ob.dev.api.bank.example fail until then.",
                "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, same password), when the keystore upload above is due.",
            ],
        });
    });

    it("with the clients' epoch raised under a switch the old keys stay pinned: no risk", () => {
        const staged = { ...dev, keyAlgorithm: "ECDSA", rotation: { apicClientEpoch: 1, apicClientPhase: "switch" } };
        const d = diffPlans(plan(dev), plan(staged));
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
        assert.deepStrictEqual(d.pins[0], {
            endpoint: "dp",
            before: ["key of epoch 0"],
            after: ["key of epoch 1", "key of epoch 0"],
        });
    });
});

describe("diff of the APIC keystores' PKCS#12 (pki:pkcs12Profile, pki:pkcs12Iterations)", function () {
    this.timeout(30_000);
    const legacy = { ...dev, pkcs12Profile: "legacy" };

    it("legacy rewrites every client.p12 with 3DES, a SHA-1 MAC and another alias: a risk, and the file loaded again", () => {
        const d = diffPlans(plan(dev), plan(legacy));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:pkcs12Profile",
                change: "rewrites the client.p12 of dp and ob legacy: 3DES and a SHA-1 MAC instead of AES-256-CBC, PBKDF2-HMAC-SHA256 and a SHA-256 MAC, under the alias <endpoint>-legacy-3des-sha1 instead of <endpoint>",
                breaks: "the file that holds each APIC client's private key is encrypted with algorithms kept for compatibility, not strength (security scans flag them), and whatever refers to the key by its alias (a Java or DataPower configuration, keytool -alias) no longer finds it",
                instead:
                    "keep pki:pkcs12Profile modern: apic keystores:update loads keystore.json, which holds PEM, not the PKCS#12; use legacy only for a consumer that cannot open modern (old Java or DataPower firmware), and point what names the key at its new alias in the same window",
            },
        ]);
        assert.deepStrictEqual(places(d), [
            "update APIC keystore of dp: client.p12: rewritten: PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 10000 iterations; alias dp) -> PKCS#12 legacy (3DES, SHA-1 MAC; 10000 iterations; alias dp-legacy-3des-sha1)",
            "update APIC keystore of ob: client.p12: rewritten: PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 10000 iterations; alias ob) -> PKCS#12 legacy (3DES, SHA-1 MAC; 10000 iterations; alias ob-legacy-3des-sha1)",
        ]);
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, same password): it is now written legacy, 10000 iterations, under the alias <endpoint>-legacy-3des-sha1; keystore.json (apic keystores:update) does not change.",
            ],
        });
        assert.deepStrictEqual([d.added, d.removed, d.replaced], [[], [], []], "the certificates stay");
        assert.deepStrictEqual(diffPlans(plan(legacy), plan(dev)).risks, [], "back to modern is no risk");
    });

    it("new iterations rewrite every client.p12 under the same profile and alias: no risk, the file loaded again", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, pkcs12Iterations: 20000 }));
        assert.deepStrictEqual([d.risks, d.refused], [[], []]);
        assert.deepStrictEqual(places(d), [
            "update APIC keystore of dp: client.p12: rewritten: PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 10000 iterations; alias dp) -> PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 20000 iterations; alias dp)",
            "update APIC keystore of ob: client.p12: rewritten: PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 10000 iterations; alias ob) -> PKCS#12 modern (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC; 20000 iterations; alias ob)",
        ]);
        assert.deepStrictEqual(d.steps.after, [
            "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, same password): it is now written modern, 20000 iterations, under the alias <endpoint>; keystore.json (apic keystores:update) does not change.",
        ]);
    });

    it("a re-keyed client whose client.p12 is rewritten too: keystore.json is uploaded as well", () => {
        const d = diffPlans(plan(dev), plan({ ...legacy, keyAlgorithm: "ECDSA" }));
        assert.deepStrictEqual(d.steps.after, [
            "Upload the APIC keystore of dp and ob (apic keystores:update, same name); at once for dp and ob: APIC's calls to dp.dev.api.bank.example and ob.dev.api.bank.example fail until then.",
            "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, same password): it is now written legacy, 10000 iterations, under the alias <endpoint>-legacy-3des-sha1; load it when the keystore upload above is due.",
        ]);
    });
});

describe("diff of a client.p12 rewritten while the client's epoch rises", function () {
    this.timeout(30_000);
    const LOAD =
        "Load the new client.p12 of dp and ob wherever it was loaded (APIC's keystore upload by file, a Java or DataPower keystore; render's apic/<endpoint>/client.p12, stack output apicBundles.<endpoint>.pkcs12Base64, ";
    const WRITTEN = "): it is now written legacy, 10000 iterations, under the alias <endpoint>-legacy-3des-sha1";
    const NEW_PASSWORD =
        "render's apic/<endpoint>/client.p12.password, stack output apicBundles.<endpoint>.pkcs12Password";

    it("says same password only for the endpoint whose epoch stays: each client epoch has its own password", () => {
        const head = {
            ...dev,
            pkcs12Profile: "legacy",
            rotation: { endpoints: { ob: { clientEpoch: 1, clientPhase: "switch" } } },
        };
        const d = diffPlans(plan(dev), plan(head));
        assert.deepStrictEqual(d.steps.after.slice(-1), [
            `${LOAD}same password for dp; ob with a new password: ${NEW_PASSWORD}${WRITTEN}; for ob, when the keystore upload above is due.`,
        ]);
        const both = { ...head, rotation: { apicClientEpoch: 1, apicClientPhase: "switch" } };
        assert.deepStrictEqual(diffPlans(plan(dev), plan(both)).steps.after.slice(-1), [
            `${LOAD}with its new password: ${NEW_PASSWORD}${WRITTEN}; load it when the keystore upload above is due.`,
        ]);
    });

    it("an epoch raised alone: the client.p12 holds the new key under a new password, loaded with the keystore", () => {
        const d = diffPlans(plan(dev), plan({ ...dev, rotation: { apicClientEpoch: 1, apicClientPhase: "switch" } }));
        assert.deepStrictEqual(
            places(d),
            ["dp", "ob"].map(
                (id) =>
                    `update APIC keystore of ${id}: client.crt: re-issued with a new key; client.key: new key; client.p12: written again with the new client.crt and client.key`,
            ),
        );
        assert.deepStrictEqual(d.steps.after.slice(-1), [
            `${LOAD}with its new password: ${NEW_PASSWORD}), when the keystore upload above is due.`,
        ]);
    });
});

describe("diff's Markdown of texts with angle brackets", function () {
    this.timeout(30_000);

    it("escapes '<' so that GitHub keeps apic/<endpoint>/client.p12 as text, not a tag it drops", async () => {
        const legacy = stackVariant(
            tempDir("diff-angle"),
            "legacy",
            "  pki:domains:",
            "  pki:pkcs12Profile: legacy\n  pki:domains:",
        );
        const r = await cli("diff", "--base", path.join(ROOT, DEV), "--head", legacy, "--format", "markdown");
        assert.ok(
            r.out.includes(
                "render's apic/\\<endpoint>/client.p12, stack output apicBundles.\\<endpoint>.pkcs12Base64, same password",
            ),
            r.out,
        );
        assert.doesNotMatch(r.out, /[^\\]<endpoint>/);
    });
});

describe("diff exit status", function () {
    this.timeout(30_000);

    it("is 0 clean, 1 refused or invalid, and 2 for wrong usage, with the usage text", async () => {
        const dir = tempDir("diff-exit");
        const same = path.join(ROOT, DEV);
        assert.strictEqual((await cli("diff", "--base", same, "--head", same, "--fail-on", "risky")).status, 0);
        const lowered = stackVariant(
            dir,
            "lowered",
            "  pki:domains:",
            "  pki:rotation: { leafEpoch: 1 }\n  pki:domains:",
        );
        const raised = stackVariant(
            dir,
            "raised",
            "  pki:domains:",
            "  pki:rotation: { leafEpoch: 2, apicClientPhase: switch }\n  pki:domains:",
        );
        const refused = await cli("diff", "--base", raised, "--head", lowered, "--format", "json");
        assert.strictEqual(refused.status, 1);
        assert.deepStrictEqual(
            (JSON.parse(refused.out) as CertDiff).refused.map((r) => r.key),
            ["pki:rotation.leafEpoch"],
            "the JSON still comes out, so that a PR comment can show the refusal",
        );
        const invalid = stackVariant(dir, "invalid", "pki:option: 1", "pki:option: 4");
        // Each side's refusal names its file: a base a newer version refuses is no fault of the head.
        const option4 = "  - pki:option must be 1, 2 or 3; got 4\n";
        const bad = await cli("diff", "--base", same, "--head", invalid);
        assert.deepStrictEqual(
            [bad.status, bad.out, bad.err],
            [1, "", `invalid stack configuration in --head ${invalid}:\n${option4}`],
        );
        const badBase = await cli("diff", "--base", invalid, "--head", same);
        assert.deepStrictEqual(
            [badBase.status, badBase.out, badBase.err],
            [1, "", `invalid stack configuration in --base ${invalid}:\n${option4}`],
        );
        // Both refused: both blocks at once, the head's first, not the base's only once the head is fixed.
        const invalidBase = stackVariant(dir, "invalid-base", "pki:option: 1", "pki:option: 5");
        const both = await cli("diff", "--base", invalidBase, "--head", invalid);
        assert.deepStrictEqual(
            [both.status, both.out, both.err],
            [
                1,
                "",
                `invalid stack configuration in --head ${invalid}:\n${option4}` +
                    `invalid stack configuration in --base ${invalidBase}:\n  - pki:option must be 1, 2 or 3; got 5\n`,
            ],
        );
        for (const [args, message] of [
            [["--fail-on", "warnings"], 'error: --fail-on must be one of refused, risky; got "warnings"'],
            [["--max-replaced", "ten"], 'error: --max-replaced must be a whole number of certificates; got "ten"'],
            [["--format", "html"], 'error: --format must be one of markdown, json, mermaid; got "html"'],
        ]) {
            const usage = await cli("diff", "--base", same, "--head", same, ...args);
            assert.strictEqual(usage.status, 2);
            assert.strictEqual(usage.err, `${message}\nsee apic-istio-pki diff --help\n`);
        }
        const folder = await cli("diff", "--base", same, "--head", dir);
        assert.strictEqual(folder.status, 2);
        const expected = `error: --head ${dir} is a folder; give a stack file, e.g. ${path.join(dir, "Pulumi.dev.yaml")}`;
        assert.strictEqual(folder.err, `${expected}\nsee apic-istio-pki diff --help\n`);
    });
});

describe("README, Reviewing certificate changes", function () {
    this.timeout(30_000);

    it("shows the real output of the diff it describes (pki:organization renamed on the dev stack)", async () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const example = /<!-- diff-example: (.*?) -->\n([^]*?)\n<!-- \/diff-example -->/.exec(readme);
        assert.ok(example, "README has a diff example between <!-- diff-example --> markers");
        const [from, to] = JSON.parse(`[${example[1]}]`) as [string, string];
        const head = stackVariant(tempDir("readme-diff"), "dev", from, to);
        const { out } = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head);
        // In the README the report sits two heading levels down.
        assert.strictEqual(example[2], out.replace(/^(#+) /gm, "$1## ").trimEnd());
        assert.ok(YAML.parse(fs.readFileSync(head, "utf8")), "the example's stack file is valid YAML");
    });
});

const FRONT_END = "examples/front-end/Pulumi.front-end.yaml";
const frontEndStack = loadStackFileValues(FRONT_END);
type FrontEnd = { callers: string[]; customerFacing: Record<string, unknown> } & Record<string, unknown>;
const frontEnd = frontEndStack.frontEnd as FrontEnd;
/** The front-end example with pki:frontEnd changed. */
const withFrontEnd = (change: Partial<FrontEnd>, raw = frontEndStack) => ({
    ...raw,
    frontEnd: { ...frontEnd, ...change },
});
const uiSecret = (name: string) => `k8s/example/ob-ui/secret-apic-client-${name}`;
const UI_SECRETS = ["consumer-dashboard", "authentication-ui"].map(uiSecret);
const CUSTOMER_HOST = "www.example.bank.example";
const PUBLIC_SECRET = "k8s/example/istio-ingress-public/secret-public-tls-www-example-bank-example";

/**
 * What a public CA would sign for the customer-facing host, `days` long: the test-only CA signs a
 * CSR of the test-only leaf key (no key is generated; a diff never sees which key it certifies).
 */
function publicCertificate(days: number): string {
    const csr = tlsProvider.certRequest({
        privateKeyPem: TEST_ONLY_LEAF_KEY_PEM,
        subject: { commonName: CUSTOMER_HOST },
        dnsNames: [CUSTOMER_HOST],
    }).state.certRequestPem as string;
    return tlsProvider.locallySignedCert({
        certRequestPem: csr,
        caCertPem: TEST_ONLY_CA_CERT_PEM,
        caPrivateKeyPem: TEST_ONLY_CA_KEY_PEM,
        allowedUses: ["digital_signature", "server_auth"],
        validityPeriodHours: days * 24,
    }).state.certPem as string;
}

/** The steps after a first CRL of APIC's UI truststore: load it into DataPower, then re-publish CRLs (the backend's wording). */
function assertUiCrlSteps(after: readonly string[]): void {
    assert.strictEqual(after.length, 2, after.join("\n"));
    assert.strictEqual(
        after[0],
        "Load the new apic/ui/truststore.crl into the validation credentials of APIC's UI-facing DataPower profile (APIC's TLS server profile cannot load a CRL): until then APIC still accepts what it revokes.",
    );
    assert.match(after[1], /^From now on CRLs must be re-published at least every 7 days \(pki:crlPeriodDays; /);
}

describe("diff of the front end (examples/front-end)", function () {
    this.timeout(30_000);
    const at = (slot: string, generation: number, phase: string) => ({
        ...frontEndStack,
        caRotation: { [slot]: { generation, phase } },
    });

    it("a UI service added to the callers: its Secret is created, and its service account may read it first", () => {
        const added = withFrontEnd({ callers: [...frontEnd.callers, "outages-ui"] });
        const d = diffPlans(plan(frontEndStack), plan(added));
        assert.deepStrictEqual(places(d), [
            `create ${uiSecret("outages-ui")}: tls.crt: new; tls.key: new; ca.crt: new`,
        ]);
        assert.deepStrictEqual(
            d.added.map((c) => [c.id, c.forces]),
            [["ui/outages-ui/client", ["new key", "new certificate", `create secret ${uiSecret("outages-ui")}`]]],
        );
        assert.deepStrictEqual(d.steps.before, [
            "Let the service account of outages-ui read Secrets in ob-ui (a Role with get, list and watch on secrets, bound to it), so that its sidecars can take its client certificate from apic-client-outages-ui (README, The front end).",
        ]);
        assert.deepStrictEqual(
            [d.risks, d.refused, d.steps.after],
            [[], [], []],
            "APIC trusts the UI client root already",
        );

        const removed = diffPlans(plan(added), plan(frontEndStack));
        assert.deepStrictEqual(places(removed), [`delete ${uiSecret("outages-ui")}: `]);
        assert.deepStrictEqual(removed.risks, [
            {
                key: "pki:frontEnd.callers",
                change: "removes 1 UI service calling APIC: outages-ui; its client certificate, Secret and DestinationRules are deleted",
                breaks: "its calls to APIC fail from this update on: no sidecar originates the mutual TLS APIC requires any more",
                instead:
                    "stop it calling APIC first, then remove it from pki:frontEnd.callers in a later change; " +
                    "APIC accepts its certificate until it expires, so if a key may have been copied, rotate the UI client CA (pki:caRotation.uiClientCa) as well",
                uiServices: ["outages-ui"],
            },
        ]);
        assert.deepStrictEqual(removed.steps.before, [
            "Make sure outages-ui no longer calls APIC: this change deletes its Secret and DestinationRules.",
        ]);
    });

    it("callers moved to another namespace: their Secrets go, with a risk, and their service accounts may read the new ones first", () => {
        const d = diffPlans(plan(frontEndStack), plan(withFrontEnd({ namespace: "ob-ui2" })));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:frontEnd.namespace",
                change: "moves 2 UI services calling APIC to another namespace: consumer-dashboard (ob-ui -> ob-ui2) and authentication-ui (ob-ui -> ob-ui2); their Secrets and DestinationRules are created there and deleted from the old one, with the same client certificates",
                breaks: "their pods left in the old namespace cannot call APIC from this update on: no sidecar there originates the mutual TLS APIC requires; those in the new one get their client certificates from this update on, and only if their service accounts may read Secrets there",
                instead:
                    "before this update, let their service accounts read Secrets in the new namespace, add ob-ui2 to the policy pack's keySecretNamespaces and start their pods there; take the old pods down once it is deployed (a UI service calls APIC from one namespace: its calls move with the update)",
                uiServices: ["consumer-dashboard", "authentication-ui"],
            },
        ]);
        assert.deepStrictEqual(d.steps.before, [
            "Let the service accounts of consumer-dashboard and authentication-ui read Secrets in ob-ui2 (a Role with get, list and watch on secrets, bound to them), so that their sidecars can take their client certificate from apic-client-consumer-dashboard and apic-client-authentication-ui (README, The front end); add ob-ui2 to the policy pack's keySecretNamespaces, or it refuses the new Secrets (README, Policy pack).",
            "Start the pods of consumer-dashboard (ob-ui -> ob-ui2) and authentication-ui (ob-ui -> ob-ui2) in their new namespace: this change deletes their Secrets and DestinationRules in the old one, whose pods cannot call APIC from then on, and creates them in the new one.",
        ]);
        assert.deepStrictEqual(places(d), [
            "create k8s/example/ob-ui2/secret-apic-client-consumer-dashboard: tls.crt: new; tls.key: new; ca.crt: new",
            "create k8s/example/ob-ui2/secret-apic-client-authentication-ui: tls.crt: new; tls.key: new; ca.crt: new",
            ...UI_SECRETS.map((secret) => `delete ${secret}: `),
        ]);
        assert.deepStrictEqual([d.added, d.removed, d.replaced], [[], [], []], "the certificates stay");

        // One service's own namespace (a services entry as a map), into a namespace the base has no UI Secret in.
        const services = (frontEnd.services as string[]).map((s) =>
            s === "authentication-ui" ? { name: s, namespace: "ob-auth" } : s,
        );
        const one = diffPlans(plan(frontEndStack), plan(withFrontEnd({ services })));
        assert.deepStrictEqual(
            one.risks.map((r) => [r.key, r.change, r.uiServices]),
            [
                [
                    "pki:frontEnd.services",
                    "moves 1 UI service calling APIC to another namespace: authentication-ui (ob-ui -> ob-auth); its Secret and DestinationRules are created there and deleted from the old one, with the same client certificate",
                    ["authentication-ui"],
                ],
            ],
        );
        assert.deepStrictEqual(one.steps.before, [
            "Let the service account of authentication-ui read Secrets in ob-auth (a Role with get, list and watch on secrets, bound to it), so that its sidecars can take its client certificate from apic-client-authentication-ui (README, The front end); add ob-auth to the policy pack's keySecretNamespaces, or it refuses the new Secret (README, Policy pack).",
            "Start the pods of authentication-ui (ob-ui -> ob-auth) in its new namespace: this change deletes its Secret and DestinationRules in the old one, whose pods cannot call APIC from then on, and creates them in the new one.",
        ]);
    });

    it("callers moved to a namespace the policy pack admits already: no keySecretNamespaces advice, in the risk or the steps", () => {
        assert.deepStrictEqual(
            POLICY_DEFAULTS.keySecretNamespaces,
            ["istio-system"],
            "the policy pack's default, which diff takes as admitted",
        );
        // istio-system, the pack's default, holds istiod's cacerts and the gateway's keys: no caller goes there.
        assert.throws(() => plan(withFrontEnd({ namespace: "istio-system" })), {
            message:
                /pki:frontEnd\.namespace "istio-system" puts the callers "consumer-dashboard", "authentication-ui" in the namespace of istiod's plug-in CA key/,
        });
        // auth holds authentication-ui's Secret already.
        const inAuth = (...names: string[]) => ({
            services: (frontEnd.services as string[]).map((s) =>
                names.includes(s) ? { name: s, namespace: "auth" } : s,
            ),
        });
        const auth = diffPlans(
            plan(withFrontEnd(inAuth("authentication-ui"))),
            plan(withFrontEnd(inAuth("authentication-ui", "consumer-dashboard"))),
        );
        assert.deepStrictEqual(
            auth.risks.map((r) => r.instead),
            [
                "before this update, let its service account read Secrets in the new namespace and start its pods there; take the old pods down once it is deployed (a UI service calls APIC from one namespace: its calls move with the update)",
            ],
        );
        assert.strictEqual(
            auth.steps.before[0],
            "Let the service account of consumer-dashboard read Secrets in auth (a Role with get, list and watch on secrets, bound to it), so that its sidecars can take its client certificate from apic-client-consumer-dashboard (README, The front end).",
        );
    });

    it("a moved caller's risk names the key that moved it: pki:frontEnd.namespace, pki:frontEnd.services or both", () => {
        const pinned = (name: string, namespace: string) =>
            (frontEnd.services as string[]).map((s) => (s === name ? { name: s, namespace } : s));
        const keys = (from: Record<string, unknown>, to: Record<string, unknown>) =>
            diffPlans(plan(withFrontEnd(from)), plan(withFrontEnd(to))).risks.map((r) => [r.key, r.uiServices]);
        const auth = pinned("authentication-ui", "auth");
        assert.deepStrictEqual(
            keys({ services: auth }, { services: auth, namespace: "ob-ui2" }),
            [["pki:frontEnd.namespace", ["consumer-dashboard"]]],
            "authentication-ui keeps its own namespace",
        );
        assert.deepStrictEqual(keys({}, { services: auth }), [["pki:frontEnd.services", ["authentication-ui"]]]);
        assert.deepStrictEqual(keys({}, { services: auth, namespace: "ob-ui2" }), [
            ["pki:frontEnd.namespace, pki:frontEnd.services", ["consumer-dashboard", "authentication-ui"]],
        ]);
    });

    it("callers moved and re-issued in the same change go with a new certificate, and their sidecars take the new key", () => {
        const ui = (phase: string, raw = frontEndStack) => ({
            ...raw,
            caRotation: { uiClientCa: { generation: 1, phase } },
        });
        const d = diffPlans(plan(ui("prepare")), plan(ui("switch", withFrontEnd({ namespace: "ob-ui2" }))));
        assert.deepStrictEqual(
            d.risks.map((r) => r.change),
            [
                "moves 2 UI services calling APIC to another namespace: consumer-dashboard (ob-ui -> ob-ui2) and authentication-ui (ob-ui -> ob-ui2); their Secrets and DestinationRules are created there and deleted from the old one, with new client certificates and keys",
            ],
        );
        assert.deepStrictEqual(d.steps.after, [
            "The sidecars of consumer-dashboard and authentication-ui take the new key from their Secret by themselves; APIC trusts the UI client CA and root, not a key, so the old and the new certificate pass meanwhile. Restart a service that mounts its Secret and does TLS itself.",
            "Then, in a later change, the next phase: pki:caRotation.uiClientCa: { generation: 1, phase: finish }.",
        ]);

        // A new subject O re-issues them under the same key.
        const renamed = diffPlans(
            plan(frontEndStack),
            plan(withFrontEnd({ namespace: "ob-ui2" }, { ...frontEndStack, organization: "Other Bank" })),
        );
        assert.deepStrictEqual(
            renamed.risks.filter((r) => r.key === "pki:frontEnd.namespace").map((r) => r.change),
            [
                "moves 2 UI services calling APIC to another namespace: consumer-dashboard (ob-ui -> ob-ui2) and authentication-ui (ob-ui -> ob-ui2); their Secrets and DestinationRules are created there and deleted from the old one, with new client certificates (same key)",
            ],
        );
        assert.ok(!renamed.steps.after.some((s) => s.includes("take the new key")), renamed.steps.after.join("\n"));
    });

    it("the first UI service calling APIC brings the UI client root and CA without a CA risk; APIC's UI-facing profile is set up after", () => {
        const none = withFrontEnd({ callers: [] });
        const d = diffPlans(plan(none), plan(frontEndStack));
        assert.deepStrictEqual(
            d.added.map((c) => c.id),
            [
                "ui-client-root",
                "ui-client-ca",
                "ui/consumer-dashboard/client",
                "ui/authentication-ui/client",
                "apic-ui/apic.example.api.bank.example/server",
            ],
        );
        assert.deepStrictEqual(d.risks, [], "nothing trusted the UI client root before");
        assert.deepStrictEqual(
            diffPlans(plan(frontEndStack), plan(none)).risks.map((r) => r.instead),
            [
                "stop them calling APIC first, then remove them from pki:frontEnd.callers in a later change; " +
                    "APIC accepts their certificates until they expire, so if a key may have been copied, rotate the UI client CA (pki:caRotation.uiClientCa) before this change, " +
                    "or remove APIC's UI truststore and its TLS server profiles' client certificate requirement once it is deployed: this stack no longer renders them",
            ],
            "the last callers removed: the stack drops the UI client CA, APIC's truststore still holds it",
        );
        assert.deepStrictEqual(places(d), [
            ...UI_SECRETS.map((s) => `create ${s}: tls.crt: new; tls.key: new; ca.crt: new`),
            "create APIC UI-facing keystore of apic.example.api.bank.example: server.crt: new; server.key: new; ca-chain.pem: new",
            "create APIC UI truststore: truststore.pem: new",
        ]);
        assert.deepStrictEqual(d.steps.after, [
            "Load APIC's UI-facing keystore of apic.example.api.bank.example (apic/ui/<host>/keystore.json, apic keystores:create) into the host's own TLS server profile (apic/ui/<host>/tls-server-profile.json), at once: the UI services' sidecars accept only a certificate of this PKI for it from this update on.",
            "Create APIC's UI truststore and, per APIC host, the TLS server profile that requires client certificates (apic/ui/truststore.json, apic/ui/<host>/tls-server-profile.json; README, The front end): until then APIC does not check the UI services' certificates.",
        ]);
    });

    it("pki:rotation.uiClientEpoch raised: every UI Secret gets a new key and certificate, which the sidecars take by themselves", () => {
        const d = diffPlans(plan(frontEndStack), plan({ ...frontEndStack, rotation: { uiClientEpoch: 1 } }));
        assert.deepStrictEqual(
            places(d),
            UI_SECRETS.map((s) => `update ${s}: tls.crt: re-issued with a new key; tls.key: new key`),
        );
        assert.deepStrictEqual(
            d.replaced.map((c) => [c.id, c.reasons]),
            [
                ["ui/consumer-dashboard/client", ["rotation forced: epoch 0 -> 1"]],
                ["ui/authentication-ui/client", ["rotation forced: epoch 0 -> 1"]],
            ],
        );
        assert.deepStrictEqual(d.steps, {
            before: [],
            after: [
                "The sidecars of consumer-dashboard and authentication-ui take the new key from their Secret by themselves; APIC trusts the UI client CA and root, not a key, so the old and the new certificate pass meanwhile. Restart a service that mounts its Secret and does TLS itself.",
            ],
        });
        assert.deepStrictEqual(
            diffPlans(plan({ ...frontEndStack, rotation: { uiClientEpoch: 1 } }), plan(frontEndStack)).refused.map(
                (r) => r.key,
            ),
            ["pki:rotation.uiClientEpoch"],
            "epochs only go up",
        );
        assert.deepStrictEqual(
            diffPlans(plan({ ...frontEndStack, rotation: { apicServerEpoch: 2 } }), plan(frontEndStack)).refused.map(
                (r) => r.key,
            ),
            ["pki:rotation.apicServerEpoch"],
            "APIC's UI-facing server epoch too",
        );
    });

    const revocation = {
        uiClient: "consumer-dashboard",
        serial: "5E2A1F0C9B",
        epoch: 0,
        reason: "keyCompromise",
        revokedAt: "2026-11-20T09:30:00Z",
    };
    const revoked = { ...frontEndStack, revocations: [revocation] };

    it("a UI client revoked: the UI client CA's CRL goes into APIC's UI truststore.crl and the client is re-issued", async () => {
        const d = diffPlans(plan(frontEndStack), plan(revoked));
        assert.deepStrictEqual(places(d), [
            `update ${uiSecret("consumer-dashboard")}: tls.crt: re-issued with a new key; tls.key: new key`,
            "update APIC UI truststore: truststore.crl: new: CRL of ui-client-ca (revokes serial 5E2A1F0C9B of ui/consumer-dashboard), CRL of ui-client-root",
        ]);
        assert.deepStrictEqual(d.revocations, [
            { change: "added", ...revocation, clientEpoch: { before: 0, after: 1 } },
        ]);
        assertUiCrlSteps(d.steps.after);
        assert.deepStrictEqual(
            [d.risks, d.refused, d.pins],
            [[], [], []],
            "no gateway secret, APIC pin or ca.crl changes",
        );

        const dir = tempDir("diff-ui-revoked");
        const head = stackVariant(
            dir,
            "front-end",
            "  pki:frontEnd:",
            `  pki:revocations:\n    - { uiClient: consumer-dashboard, serial: "5E2A1F0C9B", epoch: 0, reason: keyCompromise, revokedAt: "2026-11-20T09:30:00Z" }\n  pki:frontEnd:`,
            FRONT_END,
        );
        const { status, out } = await cli("diff", "--base", path.join(ROOT, FRONT_END), "--head", head);
        assert.strictEqual(status, 0);
        assert.ok(
            out.includes(
                "### Revocations\n\n- **UI service consumer-dashboard, serial 5E2A1F0C9B** (keyCompromise, 2026-11-20T09:30:00Z): listed in the UI client CA's CRL, published as APIC's UI truststore.crl (apic/ui/truststore.crl); " +
                    "APIC keeps accepting the certificate until that CRL is in DataPower's validation credentials (APIC's TLS server profile cannot load it); " +
                    "the client of consumer-dashboard is re-issued (epoch 0 -> 1) into its Secret, which its sidecars take by themselves.\n",
            ),
            out,
        );
    });

    it("refuses removing a UI client's revocation while that would take its epoch back, naming the way to drop it", () => {
        const d = diffPlans(plan(revoked), plan(frontEndStack));
        assert.deepStrictEqual(d.refused, [
            {
                key: "pki:revocations",
                problem:
                    'removing the revocation of serial 5E2A1F0C9B (UI service "consumer-dashboard") takes its client certificate back from epoch 1 to 0: ' +
                    "the revoked certificate would leave the CRL and pass again, and a new key would replace the one in its Secret under a name an earlier key had. " +
                    "Keep the entry until the certificate would have expired (pulumi up refuses dropping it while the certificate is valid, whatever the epochs); " +
                    "only then drop it, setting pki:rotation.uiClientEpoch to 1 in the same change (which renews the other UI services' keys too)",
            },
        ]);
        const keptEpoch = { ...frontEndStack, rotation: { uiClientEpoch: 1 } };
        const at = (now: string) => diffPlans(plan(revoked), planFromRawConfig(keptEpoch, { now: new Date(now) }));
        assert.deepStrictEqual(at("2026-11-24T00:00:00Z").refused, [
            {
                key: "pki:revocations",
                problem:
                    'removing the revocation of serial 5E2A1F0C9B (UI service "consumer-dashboard") takes it out of the CRL while the certificate may still be valid (revoked 2026-11-20T09:30:00Z; its certificates live 365 days): ' +
                    "the leaked certificate would pass again wherever the CRL is checked, and pulumi up refuses it while the certificate is valid. Keep the entry until 2027-11-20 at least",
            },
        ]);
        // Revoked 2026-11-20T09:30, valid 365 days, and CLOCK_SKEW_MS allowed (as for an APIC client).
        const kept = at("2027-11-20T09:35:00Z");
        assert.deepStrictEqual(kept.refused, []);
        assert.deepStrictEqual(
            kept.replaced.map((c) => c.id),
            ["ui/authentication-ui/client"],
            "consumer-dashboard stays at epoch 1; the other UI client moves up to it",
        );
    });

    it("refuses removing a revoked UI service from pki:frontEnd.callers while its certificate may be valid: APIC accepts any certificate of the UI client CA", () => {
        const withoutCaller = {
            ...frontEndStack,
            frontEnd: { ...frontEnd, callers: ["authentication-ui"] },
        };
        const at = (now: string, raw: Record<string, unknown> = withoutCaller) =>
            diffPlans(plan(revoked), planFromRawConfig(raw, { now: new Date(now) })).refused.filter(
                (r) => r.key === "pki:frontEnd.callers",
            );
        // Revoked 2026-11-20T09:30, valid 365 days, and CLOCK_SKEW_MS allowed (as for an APIC client).
        assert.deepStrictEqual(at("2027-11-20T09:34:59Z"), [
            {
                key: "pki:frontEnd.callers",
                problem:
                    'removing UI service "consumer-dashboard" takes its revocation of serial 5E2A1F0C9B out of the CRL while the certificate may still be valid (revoked 2026-11-20T09:30:00Z; its certificates live 365 days): ' +
                    "APIC accepts every certificate of the UI client CA, so where it checks that CRL the leaked certificate would pass again, and pulumi up refuses it while the certificate is valid. " +
                    'Keep "consumer-dashboard" in pki:frontEnd.callers with its revocation until 2027-11-20 at least, or first take pki:caRotation.uiClientCa through its finish',
            },
        ]);
        assert.deepStrictEqual(at("2027-11-20T09:35:00Z"), [], "once the certificate has expired");
        const finished = { ...withoutCaller, caRotation: { uiClientCa: { generation: 1, phase: "finish" } } };
        assert.deepStrictEqual(at("2027-01-01T00:00:00Z", finished), [], "once the CA that issued it has left");
        assert.deepStrictEqual(
            diffPlans(plan(frontEndStack), plan(withoutCaller)).refused,
            [],
            "a caller never revoked goes with a risk only",
        );
    });

    it("UI client CA rotation: prepare changes no Secret but APIC's UI truststore, switch re-issues every UI client under the new CA, finish drops the old CA and publishes the UI truststore's CRL", () => {
        const prepare = diffPlans(plan(frontEndStack), plan(at("uiClientCa", 1, "prepare")));
        assert.deepStrictEqual(
            prepare.added.map((c) => [c.id, c.forces]),
            [["ui-client-ca-g1", ["new key", "new certificate", "new APIC UI truststore"]]],
        );
        assert.deepStrictEqual(places(prepare), ["update APIC UI truststore: truststore.pem: + ui-client-ca-g1"]);
        assert.deepStrictEqual([prepare.risks, prepare.refused], [[], []]);
        assert.deepStrictEqual(prepare.steps, {
            before: [],
            after: [
                UI_TRUSTSTORE_UPLOAD,
                "Then, in a later change, the next phase: pki:caRotation.uiClientCa: { generation: 1, phase: switch }.",
            ],
        });

        const switched = diffPlans(plan(at("uiClientCa", 1, "prepare")), plan(at("uiClientCa", 1, "switch")));
        assert.deepStrictEqual(
            places(switched),
            UI_SECRETS.map(
                (s) =>
                    `update ${s}: tls.crt: ui-client-ca -> ui-client-ca-g1; re-issued with a new key; tls.key: new key`,
            ),
        );
        assert.deepStrictEqual(switched.steps.after, [
            "The sidecars of consumer-dashboard and authentication-ui take the new key from their Secret by themselves; APIC trusts the UI client CA and root, not a key, so the old and the new certificate pass meanwhile. Restart a service that mounts its Secret and does TLS itself.",
            "Then, in a later change, the next phase: pki:caRotation.uiClientCa: { generation: 1, phase: finish }.",
        ]);
        assert.deepStrictEqual([switched.risks, switched.refused, switched.pins], [[], [], []]);

        const finish = diffPlans(plan(at("uiClientCa", 1, "switch")), plan(at("uiClientCa", 1, "finish")));
        assert.deepStrictEqual(places(finish), [
            "update APIC UI truststore: truststore.pem: - ui-client-ca; truststore.crl: new: CRL of ui-client-ca-g1, CRL of ui-client-root (revokes ui-client-ca, retired)",
        ]);
        assert.deepStrictEqual(
            finish.removed.map((c) => [c.id, c.forces]),
            [["ui-client-ca", ["new APIC UI truststore"]]],
            "the old CA was in no Secret since the switch; it leaves APIC's UI truststore",
        );
        assert.deepStrictEqual(finish.steps.before, [
            "Check that every UI service took its Secret of the switch (restart those that mount it and do TLS themselves): APIC refuses the old generation's certificates once it has this update's UI truststore and its CRL.",
        ]);
        assert.strictEqual(finish.steps.after[0], UI_TRUSTSTORE_UPLOAD);
        assertUiCrlSteps(finish.steps.after.slice(1));
    });

    it("UI client root rotation: APIC's UI truststore gains the new root at the prepare and loses the old one at the finish", () => {
        const prepare = diffPlans(plan(frontEndStack), plan(at("uiClientRoot", 1, "prepare")));
        assert.deepStrictEqual(places(prepare), [
            "update APIC UI truststore: truststore.pem: + ui-client-root-g1, ui-client-ca-g1",
        ]);
        assert.deepStrictEqual(prepare.steps.after, [
            UI_TRUSTSTORE_UPLOAD,
            "Then, in a later change, the next phase: pki:caRotation.uiClientRoot: { generation: 1, phase: switch }.",
        ]);
        const finish = diffPlans(plan(at("uiClientRoot", 1, "switch")), plan(at("uiClientRoot", 1, "finish")));
        assert.deepStrictEqual(places(finish), [
            "update APIC UI truststore: truststore.pem: - ui-client-root, ui-client-ca",
        ]);
        assert.deepStrictEqual(prepare.risks.concat(finish.risks), []);
    });

    it("a server root rotation also reaches the UI services' ca.crt, and its switch re-issues APIC's UI-facing keystore", () => {
        const prepare = diffPlans(plan(frontEndStack), plan(at("serverRoot", 1, "prepare")));
        assert.deepStrictEqual(places(prepare), [
            ...UI_SECRETS.map((s) => `update ${s}: ca.crt: + server-root-g1`),
            "update APIC truststore of ob: truststore.pem: + server-root-g1, gateway-server-ca-g1",
        ]);
        // APIC's truststore takes the new root by the upload; the UI services' sidecars from istiod.
        assert.deepStrictEqual(prepare.steps.after, [
            `Upload the APIC truststore of ob ${TRUSTSTORE_UPLOAD}`,
            "Before the switch, wait until the sidecars of consumer-dashboard and authentication-ui have the new ca.crt of their Secrets (istiod pushes it to them: istioctl proxy-config secret <pod> -n ob-ui -o json | jq -r '.dynamicActiveSecrets[] | select(.name==\"kubernetes://<Secret>-cacert\") | .secret.validationContext.trustedCa.inlineBytes' | base64 -d | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout lists the roots of each Secret's ca.crt).",
            "Then, in a later change, the next phase: pki:caRotation.serverRoot: { generation: 1, phase: switch }.",
        ]);
        assert.deepStrictEqual(
            diffPlans(plan(dev), plan({ ...dev, caRotation: { serverRoot: { generation: 1, phase: "prepare" } } }))
                .steps.after,
            [
                `Upload the APIC truststore of dp and ob ${TRUSTSTORE_UPLOAD}`,
                "Then, in a later change, the next phase: pki:caRotation.serverRoot: { generation: 1, phase: switch }.",
            ],
            "without UI callers nothing but APIC's truststores holds the server root",
        );
        const switched = diffPlans(plan(at("serverRoot", 1, "prepare")), plan(at("serverRoot", 1, "switch")));
        assert.ok(
            places(switched).includes(
                "update APIC UI-facing keystore of apic.example.api.bank.example: server.crt: re-issued with a new key; server.key: new key; ca-chain.pem: gateway-server-ca -> gateway-server-ca-g1",
            ),
            places(switched).join("\n"),
        );
        assert.ok(
            switched.steps.after.includes(
                "Upload APIC's UI-facing keystore of apic.example.api.bank.example (apic/ui/<host>/keystore.json, apic keystores:update, same name).",
            ),
        );
    });

    it("publishes CRLs where the plan does: crlsPublished agrees with planCrls for a UI revocation and a finished UI client CA rotation", () => {
        const issued = { epoch: 0, serialHex: revocation.serial, spki: "pin", notAfter: "2027-11-20T00:00:00Z" };
        const cases: [Record<string, unknown>, RotationRecord][] = [
            [
                revoked,
                {
                    ...INITIAL_RECORD,
                    clients: { "ui/consumer-dashboard": [{ ...issued, issuer: "ui-client-ca" }] },
                },
            ],
            [
                at("uiClientCa", 1, "finish"),
                {
                    ...INITIAL_RECORD,
                    positions: { ...INITIAL_ROTATION, uiClientCa: { generation: 1, phase: "switch" } },
                    cas: {
                        "ui-client-ca": { serialHex: "0C", notAfter: "2029-01-01T00:00:00Z", issuer: "ui-client-root" },
                    },
                },
            ],
        ];
        for (const [raw, deployed] of cases) {
            const { offlineRootCrls: _none, ...deployedPlan } = planFromRawConfig(raw, { deployed }).crls;
            assert.deepStrictEqual(deployedPlan, {
                gateway: false,
                apicTruststore: false,
                mesh: false,
                apicUiTruststore: true,
            });
            assert.deepStrictEqual(crlsPublished(plan(raw)), deployedPlan);
        }
    });

    it("a UI client root re-issued outside a staged rotation breaks every UI call until APIC's UI truststore is uploaded", () => {
        const d = diffPlans(plan(frontEndStack), plan({ ...frontEndStack, organization: "Example Bank plc" }));
        assert.strictEqual(d.risks[0].key, "pki:organization");
        const breaks = d.risks[0].breaks.split("; ");
        assert.ok(
            breaks.includes(
                "the UI services' sidecars present client certificates under the new UI client root from this update on (their Secrets are updated at once), while APIC's UI truststore holds only the old one: every UI call to APIC is refused until the UI truststore is uploaded",
            ),
            d.risks[0].breaks,
        );
        assert.ok(
            breaks.includes(
                "the UI services' sidecars trust only the new server root (ca.crt of their Secrets), while APIC presents its UI-facing certificate under the old one: every UI call to APIC fails until each APIC UI-facing keystore is uploaded",
            ),
            d.risks[0].breaks,
        );
    });

    it("an APIC host the UI services call, renamed: the old host is a risk, the new one needs APIC's keystore at once", () => {
        const d = diffPlans(plan(frontEndStack), plan(withFrontEnd({ apicHosts: ["apic2.example.api.bank.example"] })));
        assert.deepStrictEqual(d.risks, [
            {
                key: "pki:frontEnd.apicHosts",
                change: "drops 1 APIC host the UI services call: apic.example.api.bank.example; the DestinationRules and ServiceEntries for it are deleted",
                breaks: "the UI services' calls to it fail from this update on: their sidecars no longer originate mutual TLS to it",
                instead:
                    "add the new host to pki:frontEnd.apicHosts first, set up APIC's UI-facing TLS server profile for it and move the UI services' calls to it, then remove the old host in a later change",
                hosts: ["apic.example.api.bank.example"],
            },
        ]);
        assert.deepStrictEqual(places(d), [
            "create APIC UI-facing keystore of apic2.example.api.bank.example: server.crt: new; server.key: new; ca-chain.pem: new",
            "delete APIC UI-facing keystore of apic.example.api.bank.example: ",
        ]);
        assert.deepStrictEqual(d.steps.before, [
            "Make sure the UI services no longer call apic.example.api.bank.example: this change deletes the DestinationRules and ServiceEntries for it.",
        ]);
    });

    describe("customer-facing host", () => {
        const host = (entry: Record<string, unknown>) =>
            withFrontEnd({ customerFacing: { [CUSTOMER_HOST]: entry }, publicRoots: TEST_ONLY_CA_CERT_PEM });
        const first = publicCertificate(90);
        const second = publicCertificate(89);
        const serial = (pem: string) => new crypto.X509Certificate(pem).serialNumber;
        const until = (pem: string) => new Date(new crypto.X509Certificate(pem).validTo).toISOString().slice(0, 10);

        it("its first certificate given: the Secret is created with the key the stack made for the CSR", () => {
            const d = diffPlans(plan(host({})), plan(host({ certificate: first })));
            assert.deepStrictEqual(places(d), [`create ${PUBLIC_SECRET}: tls.crt: new; tls.key: new`]);
            // The customer-facing Gateway, which had no server, is created with the host's.
            const server = { host: CUSTOMER_HOST, credentialName: "public-tls-www-example-bank-example" };
            assert.deepStrictEqual(d.gateways, [
                {
                    gateway: "k8s/example/istio-ingress-public/gateway-customer-facing",
                    change: "create",
                    added: [server],
                    removed: [],
                },
            ]);
            assert.deepStrictEqual(
                d.added.map((c) => [c.id, c.forces]),
                [
                    [
                        `public/${CUSTOMER_HOST}`,
                        [
                            "the key of epoch 0, made with its CSR",
                            "the public CA's certificate",
                            `create secret ${PUBLIC_SECRET}`,
                        ],
                    ],
                ],
            );
            // Served from this update on: routed through a VirtualService that binds the customer-facing Gateway.
            assert.deepStrictEqual(d.steps.after, [
                `Route the customer-facing host ${CUSTOMER_HOST} (its VirtualService: hosts: [${CUSTOMER_HOST}], gateways: [istio-ingress-public/customer-facing]): ` +
                    "the Gateway customer-facing serves it from this update on, but routes a host only through a VirtualService that binds it.",
            ]);
            // A re-issued certificate serves a host already routed: no step.
            assert.deepStrictEqual(
                diffPlans(plan(host({ certificate: first })), plan(host({ certificate: second }))).steps.after,
                [],
            );
        });

        it("moved from the backend gateway to its own (pki:frontEnd.customerFacingGateway): a risk of that key, the gateway's pods checked there first; the APIC gateway stays", () => {
            // Served from the backend gateway: allowed only where pki:gatewayNamespace holds no other keys (not istio-system).
            const onGateway = (customerFacingGateway: unknown) => ({
                ...host({ certificate: first }),
                gatewayNamespace: "istio-ingress",
                frontEnd: { ...host({ certificate: first }).frontEnd, customerFacingGateway },
            });
            const own = { namespace: "public-gateway", selector: { istio: "public-ingressgateway" } };
            const d = diffPlans(plan(onGateway(undefined)), plan(onGateway(own)));
            assert.deepStrictEqual(d.risks, [
                {
                    key: "pki:frontEnd.customerFacingGateway.namespace",
                    change: "moves the customer-facing gateway's Secrets and Gateway from namespace istio-ingress to public-gateway: Pulumi creates them in public-gateway and deletes them from istio-ingress",
                    breaks: `the ingress gateway reads its Secrets in its own namespace: unless its pods already run in public-gateway, ${CUSTOMER_HOST} gets no TLS from this update on (the APIC hosts stay on the backend gateway); VirtualServices that bind istio-ingress/customer-facing stop routing when Pulumi deletes it, and DNS or the load balancer for ${CUSTOMER_HOST} must point at the new gateway's Service; the policy pack's private-key-secrets refuses the new Secrets unless keySecretNamespaces holds public-gateway`,
                    instead:
                        "keep pki:frontEnd.customerFacingGateway.namespace istio-ingress; to move the gateway, run the ingress gateway's pods in public-gateway first (the Gateway selects istio: public-ingressgateway), add public-gateway to keySecretNamespaces, then change it",
                    hosts: [CUSTOMER_HOST],
                },
            ]);
            assert.deepStrictEqual(d.steps.before, [
                "Check that the ingress gateway's pods run in public-gateway (kubectl -n public-gateway get pods -l istio=public-ingressgateway) and that the policy pack's keySecretNamespaces holds public-gateway: this change creates the gateway's Secrets and Gateways there and deletes them from istio-ingress.",
                `Point DNS or the load balancer for ${CUSTOMER_HOST} at the Service of the gateway pods labelled istio: public-ingressgateway in public-gateway: the gateway in istio-ingress loses their certificates with this update.`,
                "Update the VirtualServices that bind the Gateway istio-ingress/customer-facing to bind public-gateway/customer-facing: this change re-creates it in public-gateway and deletes it from istio-ingress, and Istio routes a host only through the Gateways its VirtualService binds.",
            ]);
            assert.deepStrictEqual(places(d), [
                "create k8s/example/public-gateway/secret-public-tls-www-example-bank-example: tls.crt: new; tls.key: new",
                "delete k8s/example/istio-ingress/secret-public-tls-www-example-bank-example: ",
            ]);
            assert.deepStrictEqual([d.added, d.removed, d.replaced], [[], [], []], "the certificate stays");
        });

        it("its gateway's selector changed in the same namespace: a risk of that key, the new pods checked and the hosts' traffic pointed at them first", () => {
            const own = (istio: string) => ({
                ...host({ certificate: first }),
                frontEnd: {
                    ...host({ certificate: first }).frontEnd,
                    customerFacingGateway: { namespace: "public-gateway", selector: { istio } },
                },
            });
            const d = diffPlans(plan(own("public-ingressgateway")), plan(own("edge-ingressgateway")));
            assert.deepStrictEqual(d.risks, [
                {
                    key: "pki:frontEnd.customerFacingGateway.selector",
                    change: "points the Gateway public-gateway/customer-facing at the pods labelled istio: edge-ingressgateway instead of istio: public-ingressgateway",
                    breaks: `the pods labelled istio: public-ingressgateway stop serving ${CUSTOMER_HOST} with this update: unless pods labelled istio: edge-ingressgateway run in public-gateway and DNS or the load balancer for ${CUSTOMER_HOST} points at their Service, ${CUSTOMER_HOST} gets no TLS from then on`,
                    instead: `keep pki:frontEnd.customerFacingGateway.selector { istio: public-ingressgateway }; to change it, run the new gateway's pods in public-gateway first, labelled istio: edge-ingressgateway, point DNS or the load balancer for ${CUSTOMER_HOST} at their Service, then change it`,
                    hosts: [CUSTOMER_HOST],
                },
            ]);
            assert.deepStrictEqual(d.steps.before, [
                "Check that the gateway's pods labelled istio: edge-ingressgateway run in public-gateway (kubectl -n public-gateway get pods -l istio=edge-ingressgateway): this change points the Gateway public-gateway/customer-facing at them instead of the pods labelled istio: public-ingressgateway.",
                `Point DNS or the load balancer for ${CUSTOMER_HOST} at the Service of the gateway pods labelled istio: edge-ingressgateway in public-gateway: the pods labelled istio: public-ingressgateway stop serving them with this update.`,
            ]);
            assert.deepStrictEqual([d.places, d.added, d.removed, d.replaced], [[], [], [], []], "the Secret stays");
        });

        it("its epoch raised: a new key and CSR for the public CA, the current certificate served until certificateEpoch catches up", () => {
            const d = diffPlans(
                plan(host({ certificate: first })),
                plan(host({ epoch: 1, certificateEpoch: 0, certificate: first })),
            );
            assert.deepStrictEqual([d.places, d.added, d.replaced, d.risks, d.refused], [[], [], [], [], []]);
            const served = {
                certificateEpoch: 0,
                serial: serial(first),
                notAfter: d.customerFacing[0].served.after?.notAfter,
            };
            assert.deepStrictEqual(d.customerFacing, [
                {
                    host: CUSTOMER_HOST,
                    secret: PUBLIC_SECRET,
                    epoch: { before: 0, after: 1 },
                    served: { before: served, after: served },
                },
            ]);
            assert.deepStrictEqual(d.steps, {
                before: [],
                after: [
                    `Have the new CSR of ${CUSTOMER_HOST} (key epoch 1) signed by the public CA: stack output frontEnd.customerFacingCsrs, or front-end/csr/${CUSTOMER_HOST}.csr of a render. ` +
                        `The gateway keeps serving the certificate for the key of epoch 0 (serial ${serial(first)}, until ${until(first)}) until certificateEpoch catches up: ` +
                        `in a later change, set pki:frontEnd.customerFacing.${CUSTOMER_HOST} to { epoch: 1, certificateEpoch: 1, certificate: <the signed certificate, then its chain> }.`,
                ],
            });
        });

        it("its epoch raised with the old certificate but no certificateEpoch is refused: the certificate is for the old key", () => {
            const d = diffPlans(plan(host({ certificate: first })), plan(host({ epoch: 1, certificate: first })));
            assert.deepStrictEqual(d.refused, [
                {
                    key: `pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificateEpoch`,
                    problem:
                        "moves from 0 to 1 (it is the epoch unless set) while the certificate stays the one for the key of epoch 0: pulumi up would fail, since that certificate does not certify the key of epoch 1. " +
                        "Set certificateEpoch: 0 to keep serving it until the public CA has signed the CSR of epoch 1, then give the new certificate with certificateEpoch: 1",
                },
            ]);
        });

        it("the new certificate given: the Secret takes it and the key made with the CSR, and the old key goes", () => {
            const d = diffPlans(
                plan(host({ epoch: 1, certificateEpoch: 0, certificate: first })),
                plan(host({ epoch: 1, certificate: second })),
            );
            assert.deepStrictEqual(places(d), [
                `update ${PUBLIC_SECRET}: tls.crt: re-issued with a new key; tls.key: new key`,
            ]);
            assert.deepStrictEqual(
                d.replaced.map((c) => [c.reasons, c.forces]),
                [
                    [
                        [
                            "served key: epoch 0 -> 1 (certificateEpoch)",
                            "validity changed: 90 -> 89 days",
                            `the public CA's certificate given: serial ${serial(first)} -> ${serial(second)}`,
                        ],
                        [
                            "the key of epoch 1, made with its CSR",
                            "the public CA's certificate",
                            `update secret ${PUBLIC_SECRET}`,
                        ],
                    ],
                ],
            );
            assert.deepStrictEqual([d.risks, d.refused, d.steps], [[], [], { before: [], after: [] }]);
        });

        it("a new pki:keyAlgorithm while it waits for its certificate: a new key and CSR of the same epoch, to be signed instead", () => {
            const d = diffPlans(plan(host({})), plan({ ...host({}), keyAlgorithm: "RSA" }));
            assert.deepStrictEqual(d.customerFacing, [
                {
                    host: CUSTOMER_HOST,
                    secret: PUBLIC_SECRET,
                    epoch: { before: 0, after: 0 },
                    served: {},
                    request: { newKey: true, why: ["key algorithm changed: ECDSA P-256 -> RSA 2048"] },
                },
            ]);
            assert.ok(
                d.steps.after.includes(
                    `Have the new CSR of ${CUSTOMER_HOST} (key epoch 0, key algorithm changed: ECDSA P-256 -> RSA 2048) signed by the public CA: stack output frontEnd.customerFacingCsrs, or front-end/csr/${CUSTOMER_HOST}.csr of a render. ` +
                        "A certificate signed from its CSR before this update certifies the old key, which this update replaces: the stack refuses it.",
                ),
                d.steps.after.join("\n"),
            );
            const report = diffMarkdown(d, "example");
            assert.ok(
                report.includes(
                    `- **${CUSTOMER_HOST}:** a new key and CSR of epoch 0 for the public CA (key algorithm changed: ECDSA P-256 -> RSA 2048); no Secret until the certificate is given.`,
                ),
                report,
            );
            assert.match(report, /makes 1 key and CSR for the public CA \(www\.example\.bank\.example\)/);
        });

        it("a new pki:keyAlgorithm while it serves a certificate is refused before anything is created: the certificate is for the old key", () => {
            assert.throws(
                () => plan({ ...host({ certificate: first }), keyAlgorithm: "RSA" }),
                (error: Error) =>
                    error.message ===
                    "invalid stack configuration:\n" +
                        `  - pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate certifies an ECDSA P-256 key, but the host's keys follow pki:keyAlgorithm (RSA: RSA 2048): ` +
                        "pulumi up would replace the key of epoch 0 and could not serve this certificate with the new one. " +
                        `Keep pki:keyAlgorithm ECDSA while ${CUSTOMER_HOST} serves a certificate for an ECDSA key`,
            );
        });

        it("its certificate pasted after the CA's (cat bundle cert) is refused as out of order, not read as the CA's RSA key", () => {
            // Certificate 1 is the test-only RSA CA: read as the host's, it asked for pki:keyAlgorithm RSA, a new key.
            assert.throws(
                () => plan(host({ certificate: TEST_ONLY_CA_CERT_PEM + first })),
                (error: Error) =>
                    error.message ===
                    "invalid stack configuration:\n" +
                        `  - pki:frontEnd.customerFacing.${CUSTOMER_HOST}.certificate: the certificates are out of order: ` +
                        `certificate 2 of 2 (CN=${CUSTOMER_HOST}) is ${CUSTOMER_HOST}'s, and certificate 1 (O=Example Bank, CN=Test-only CA) is a CA; ` +
                        "put the host's certificate first, then its intermediates",
            );
        });

        it("a new pki:organization while it serves a certificate: the certificate stays, only the CSR changes", () => {
            const served = host({ certificate: first });
            const d = diffPlans(plan(served), plan({ ...served, organization: "Example Bank plc" }));
            assert.ok(
                !d.replaced.some((c) => c.id === `public/${CUSTOMER_HOST}`),
                "the public CA's certificate is given, not re-issued",
            );
            assert.ok(!d.places.some((p) => p.place === PUBLIC_SECRET));
            assert.deepStrictEqual(
                d.customerFacing.map((c) => c.request),
                [
                    {
                        newKey: false,
                        why: [
                            `subject changed: O=Example Bank, CN=${CUSTOMER_HOST} -> O=Example Bank plc, CN=${CUSTOMER_HOST}`,
                        ],
                    },
                ],
            );
        });

        it("a served host dropped is a risk: customers lose it", () => {
            const d = diffPlans(plan(host({ certificate: first })), plan(withFrontEnd({ customerFacing: {} })));
            assert.deepStrictEqual(d.gateways, [
                {
                    gateway: "k8s/example/istio-ingress-public/gateway-customer-facing",
                    change: "delete",
                    added: [],
                    removed: [{ host: CUSTOMER_HOST, credentialName: "public-tls-www-example-bank-example" }],
                },
            ]);
            assert.deepStrictEqual(
                d.risks.map((r) => [r.key, r.change, r.breaks]),
                [
                    [
                        "pki:frontEnd.customerFacing",
                        `stops serving 1 customer-facing host: ${CUSTOMER_HOST}; its Secret and Gateway server are deleted`,
                        "customers reaching these hosts get no TLS from this update on",
                    ],
                ],
            );
            assert.deepStrictEqual(places(d), [`delete ${PUBLIC_SECRET}: `]);
            assert.deepStrictEqual(
                diffPlans(plan(host({})), plan(withFrontEnd({ customerFacing: {} }))).risks,
                [],
                "a host still waiting for its certificate serves nobody",
            );
        });
    });

    it("diff --format mermaid prints the trust hierarchy after the change, raw, with the change highlighted", async () => {
        const dir = tempDir("diff-mermaid");
        const head = stackVariant(
            dir,
            "front-end",
            "  pki:frontEnd:",
            "  pki:rotation: { uiClientEpoch: 1 }\n  pki:frontEnd:",
            FRONT_END,
        );
        const { status, out } = await cli(
            "diff",
            "--base",
            path.join(ROOT, FRONT_END),
            "--head",
            head,
            "--format",
            "mermaid",
        );
        assert.strictEqual(status, 0);
        const base = plan(frontEndStack);
        const after = plan({ ...frontEndStack, rotation: { uiClientEpoch: 1 } });
        assert.strictEqual(out, trustPictureForDiff(base, after, diffPlans(base, after)));
        assert.match(out, /^flowchart LR\n/);
        assert.match(
            out,
            /\n {4}class cert_ui_2f_consumer_2d_dashboard_2f_client,cert_ui_2f_authentication_2d_ui_2f_client replaced\n/,
        );
    });
});

describe("diff's trust picture while a CSR waits for the ceremony", function () {
    it("diff --format mermaid draws a root made offline as offline and the CA whose CSR waits for the ceremony as waiting", async () => {
        const dir = tempDir("diff-mermaid-offline");
        const rootDir = path.join(dir, "client-root");
        const init = await ceremony(
            PASSPHRASE,
            ...["init-root", "--out", rootDir, "--environment", "dev", "--trust-domain", "apic-client"],
            ...["--key", "ECDSA", "--cn", "Bank APIC Client Offline Root", "--org", "Example Bank"],
        );
        assert.strictEqual(init.status, 0, init.err);
        const offlineRoots = {
            clientRoot: { certificate: fs.readFileSync(path.join(rootDir, "root.crt"), "utf8"), intermediates: {} },
        };
        // A JSON map is YAML too: the PEM's line breaks stay in its quoted string.
        const head = stackVariant(
            dir,
            "dev",
            "config:\n",
            `config:\n  pki:offlineRoots: ${JSON.stringify(offlineRoots)}\n`,
        );
        const json = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head, "--format", "json");
        const d = JSON.parse(json.out) as CertDiff;
        assert.deepStrictEqual(
            [json.status, d.csrs, d.added, d.replaced, d.removed],
            [0, ["apic-client-ca"], [], [], []],
            "pulumi up registers only the CA's key and CSR",
        );
        const { status, out } = await cli(
            "diff",
            "--base",
            path.join(ROOT, DEV),
            "--head",
            head,
            "--format",
            "mermaid",
        );
        assert.strictEqual(status, 0);
        const lines = out.split("\n");
        const nodeOf = (id: string) => lines.find((l) => l.startsWith(`    cert_${id}`));
        assert.strictEqual(
            nodeOf("client_2d_root("),
            '    cert_client_2d_root(["client-root<br>O=Example Bank, CN=Bank APIC Client Offline Root<br>ECDSA P-384, 7300 days<br>offline root, signs at the ceremony"])',
        );
        assert.strictEqual(
            nodeOf("apic_2d_client_2d_ca["),
            '    cert_apic_2d_client_2d_ca["apic-client-ca<br>O=Example Bank, CN=dev APIC client CA<br>RSA 4096, 1095 days<br>CSR waits for the ceremony"]',
        );
        // The roots the stack signs with, and the CAs they signed, say neither.
        for (const id of ["mesh_2d_root(", "server_2d_root(", "gateway_2d_server_2d_ca["]) {
            assert.doesNotMatch(nodeOf(id) ?? "", /ceremony/, id);
        }
        assert.ok(lines.includes('    cert_client_2d_root -.->|"CSR to sign"| cert_apic_2d_client_2d_ca'), out);
        assert.ok(lines.includes("    cert_server_2d_root --> cert_gateway_2d_server_2d_ca"), out);
        assert.deepStrictEqual(
            lines.filter((l) => /^ {4}class(Def)? /.test(l)),
            [
                "    classDef offline stroke-width:4px",
                "    class cert_client_2d_root offline",
                "    classDef waiting fill:#ddf4ff,stroke:#0969da,stroke-width:3px,stroke-dasharray:4 4",
                "    class cert_apic_2d_client_2d_ca waiting",
            ],
        );
    });
});

describe("diff of a stack file's settings outside pki:", function () {
    this.timeout(60_000);

    /** The dev stack file with top-level lines before it and config lines after pki:environment. */
    const withSettings = (dir: string, topLevel: string, config: string): string =>
        stackEdited(dir, "dev", [
            ["# dev:", `${topLevel}# dev:`],
            ["  pki:environment: dev\n", `  pki:environment: dev\n${config}`],
        ]);

    /** A case's base and head: the dev stack file with each side's top-level and config lines (withSettings). */
    const settingsPair = (name: string, base: [string, string], head: [string, string]) => ({
        base: withSettings(tempDir(`diff-${name}-base`), ...base),
        head: withSettings(tempDir(`diff-${name}-head`), ...head),
    });

    /** diff of `base` and `head` as JSON (with `flags`) and as Markdown (without). */
    const bothFormats = async (base: string, head: string, ...flags: string[]) => ({
        json: await cli("diff", "--base", base, "--head", head, "--format", "json", ...flags),
        md: await cli("diff", "--base", base, "--head", head),
    });

    it("does not repeat a setting named as a secret that is set in clear (not secure:), by its name after the namespace", async () => {
        const { base, head } = settingsPair(
            "named-secrets",
            ["", "  myapp:dbPassword: Hunter2PlainPassw0rd!\n  myapp:owner: pki-team\n"],
            [
                "",
                "  myapp:dbPassword: Another1PlainPassw0rd!\n  aws:secretKey: wJalrXUtnFEMIK7MDENG\n  myapp:owner: platform\n",
            ],
        );
        const { json, md } = await bothFormats(base, head);
        assert.strictEqual(json.status, 0, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            { key: "myapp:dbPassword", change: "changed", secret: true },
            { key: "aws:secretKey", change: "added", secret: true },
            { key: "myapp:owner", change: "changed", before: '"pki-team"', after: '"platform"' },
        ]);
        for (const out of [json.out, md.out])
            for (const secret of ["Hunter2PlainPassw0rd!", "Another1PlainPassw0rd!", "wJalrXUtnFEMIK7MDENG"])
                assert.ok(!out.includes(secret), secret);
        assert.ok(md.out.includes("- **myapp:dbPassword:** changed (a secret: its value is not shown).\n"), md.out);
    });

    it("takes a setting for a secret by whole words of its name, a secret member of its map or a connection string's Password=, and shows names about a secret", async () => {
        const { base, head } = settingsPair(
            "secret-words",
            ["", "  myapp:owner: pki-team\n"],
            [
                "",
                [
                    "  myapp:tokenizer: wordpiece",
                    "  myapp:tlsSecretName: gateway-tls",
                    "  myapp:privateKeyAlgorithm: ECDSA",
                    "  myapp:apiKeyHeader: X-Api-Key",
                    "  gcp:credentials: /home/ci/gcp.json",
                    "  myapp:passThrough: headers",
                    "  aws:skipCredentialsValidation: true",
                    "  myapp:tokenTtl: 3600",
                    "  myapp:jwtIssuer: https://issuer.example.com",
                    "  aws:sharedCredentialsFiles: [/home/ci/.aws/credentials]",
                    "  myapp:auth:",
                    "    webIdentityTokenFile: /var/run/token",
                    "    skipToken: false",
                    "  myapp:dbPwd: Pwd1Plain",
                    "  myapp:basicAuthPass: Pass1Plain",
                    "  myapp:sessionJwt: eyJhbGciOiJIUzI1NiJ9.e30.Jwt1Plain",
                    "  myapp:signing_key: Sign1Plain",
                    "  myapp:ENCRYPTION_KEY: Enc1Plain",
                    "  myapp:webhookHmac: Hmac1Plain",
                    "  myapp:hashSalt: Salt1Plain",
                    "  myapp:sentryDsn: https://Dsn1Plain@sentry.example.com/1",
                    "  myapp:database:",
                    "    host: db.example.com",
                    "    password: Map1Plain",
                    "  myapp:connection: Server=db;User Id=app;Password=Conn1Plain",
                    "  myapp:owner: platform",
                    "",
                ].join("\n"),
            ],
        );
        const { json, md } = await bothFormats(base, head);
        assert.strictEqual(json.status, 0, json.err);
        const added = (key: string, after: string) => ({ key, change: "added", after });
        const secret = (key: string) => ({ key, change: "added", secret: true });
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            added("myapp:tokenizer", '"wordpiece"'),
            added("myapp:tlsSecretName", '"gateway-tls"'),
            added("myapp:privateKeyAlgorithm", '"ECDSA"'),
            added("myapp:apiKeyHeader", '"X-Api-Key"'),
            added("gcp:credentials", '"/home/ci/gcp.json"'),
            added("myapp:passThrough", '"headers"'),
            added("aws:skipCredentialsValidation", "true"),
            added("myapp:tokenTtl", "3600"),
            added("myapp:jwtIssuer", '"https://issuer.example.com"'),
            added("aws:sharedCredentialsFiles", '["/home/ci/.aws/credentials"]'),
            added("myapp:auth", '{"skipToken":false,"webIdentityTokenFile":"/var/run/token"}'),
            secret("myapp:dbPwd"),
            secret("myapp:basicAuthPass"),
            secret("myapp:sessionJwt"),
            secret("myapp:signing_key"),
            secret("myapp:ENCRYPTION_KEY"),
            secret("myapp:webhookHmac"),
            secret("myapp:hashSalt"),
            secret("myapp:sentryDsn"),
            secret("myapp:database"),
            secret("myapp:connection"),
            { key: "myapp:owner", change: "changed", before: '"pki-team"', after: '"platform"' },
        ]);
        for (const out of [json.out, md.out])
            for (const plain of ["Pwd1", "Pass1", "Jwt1", "Sign1", "Enc1", "Hmac1", "Salt1", "Dsn1", "Map1", "Conn1"])
                assert.ok(!out.includes(`${plain}Plain`), plain);
    });

    it("a pull request that re-points the secrets provider, the data key or the Kubernetes provider is a risk (--fail-on risky fails), each change named, no secret shown", async () => {
        // An attacker's pull request: the state holding every CA key re-encrypted for their vault,
        // the default provider pointed at their cluster; pki: untouched, so no certificate changes.
        const { base, head } = settingsPair(
            "settings",
            [
                "secretsprovider: passphrase\nencryptionsalt: v1:old\n",
                "  kubernetes:cluster: dev-east\n  other:token:\n    secure: v1:before\n  other:plain: kept\n",
            ],
            [
                "secretsprovider: hashivault://attacker.example.com/key\nencryptionsalt: v1:new\nencryptedkey: AAAA\n",
                '  kubernetes:cluster: evil\n  pulumi:disable-default-providers: ["kubernetes"]\n  other:token:\n    secure: v1:after\n  other:plain: kept\n  other:note: "*bold* `x`"\n',
            ],
        );
        const { json, md } = await bothFormats(base, head, "--fail-on", "risky");
        assert.strictEqual(json.status, 1, json.err);
        const d = JSON.parse(json.out) as CertDiff;
        assert.deepStrictEqual(d.otherSettings, [
            {
                key: "secretsprovider",
                change: "changed",
                before: '"passphrase"',
                after: '"hashivault://attacker.example.com/key"',
            },
            { key: "encryptionsalt", change: "changed", secret: true },
            { key: "encryptedkey", change: "added", secret: true },
            { key: "kubernetes:cluster", change: "changed", before: '"dev-east"', after: '"evil"' },
            { key: "pulumi:disable-default-providers", change: "added", after: '["kubernetes"]' },
            { key: "other:token", change: "changed", secret: true },
            { key: "other:note", change: "added", after: '"*bold* `x`"' },
        ]);
        assert.deepStrictEqual(
            d.risks.map((r) => `${r.key}: ${r.change}`),
            [
                "secretsprovider: changed (the values are under the stack file settings outside pki:)",
                "encryptionsalt: changed (a secret: its value is not shown)",
                "encryptedkey: added (a secret: its value is not shown)",
                "kubernetes:cluster: changed (the values are under the stack file settings outside pki:)",
                "pulumi:disable-default-providers: added (the values are under the stack file settings outside pki:)",
            ],
        );
        assert.doesNotMatch(json.out, /v1:(old|new|before|after)|AAAA/);
        assert.strictEqual(md.status, 0, "risks fail only with --fail-on risky");
        assert.doesNotMatch(md.out, /v1:(old|new|before|after)|AAAA/);
        assert.ok(md.out.includes("\nNo certificate changes.\n"));
        assert.ok(
            md.out.includes(
                "### Stack file settings outside pki:\n\n" +
                    '- **secretsprovider:** "passphrase" -> "hashivault://attacker.example.com/key".\n' +
                    "- **encryptionsalt:** changed (a secret: its value is not shown).\n" +
                    "- **encryptedkey:** added (a secret: its value is not shown).\n" +
                    '- **kubernetes:cluster:** "dev-east" -> "evil".\n' +
                    '- **pulumi:disable-default-providers:** added: ["kubernetes"].\n' +
                    "- **other:token:** changed (a secret: its value is not shown).\n" +
                    '- **other:note:** added: "\\*bold\\* \\`x\\`".\n',
            ),
            md.out,
        );
        assert.ok(
            md.out.includes(
                "### Risks\n\n- **secretsprovider: changed (the values are under the stack file settings outside pki:).**\n" +
                    "  Breaks: the stack's state holds every CA's and certificate's private key",
            ),
        );
    });

    it("a stack file that imports Pulumi ESC environments (environment:), base or head, is refused: the check fails as for an invalid stack file, nothing printed on standard output", async () => {
        // ESC environments can set kubernetes:kubeconfig and secrets for the privileged preview:
        // never a quiet change. The loader refuses them outright, which is stronger than a risk.
        const refusal = (file: string) =>
            `invalid stack configuration in --${file === "base" ? "base" : "head"} ` +
            "%FILE:\n  - stack file %FILE imports Pulumi ESC environments (environment:), whose values render cannot read; put the pki: keys in the stack file itself\n";
        const { base, head } = settingsPair("environment", ["", ""], ["environment:\n  - attacker/kube\n", ""]);
        for (const [side, args, file] of [
            ["head", [base, head], head],
            ["base", [head, base], head],
        ] as const) {
            const r = await cli("diff", "--base", args[0], "--head", args[1], "--format", "json", "--fail-on", "risky");
            assert.deepStrictEqual([r.status, r.out, r.err], [1, "", refusal(side).replaceAll("%FILE", file)]);
        }
    });

    it("a stack file whose settings outside pki: are unchanged reports none", async () => {
        const file = withSettings(
            tempDir("diff-settings-same"),
            "secretsprovider: passphrase\n",
            "  kubernetes:cluster: a\n",
        );
        const { status, out } = await cli(
            "diff",
            "--base",
            file,
            "--head",
            file,
            "--format",
            "json",
            "--fail-on",
            "risky",
        );
        assert.strictEqual(status, 0);
        assert.deepStrictEqual(
            [(JSON.parse(out) as CertDiff).otherSettings, (JSON.parse(out) as CertDiff).risks],
            [[], []],
        );
    });

    it("a --head reached through another folder and .. is the stack file of its one project, not of two", async () => {
        const dir = tempDir("diff-dotdot");
        const file = stackVariant(dir, "dev", "pki:organization: Example Bank", "pki:organization: Example Bank");
        fs.mkdirSync(path.join(dir, "scripts"));
        // Joined by hand: path.join would take the ".." out.
        const head = [dir, "scripts", "..", "stacks", "Pulumi.dev.yaml"].join(path.sep);
        const { status, out, err } = await cli("diff", "--base", file, "--head", head, "--format", "json");
        assert.deepStrictEqual([status, err], [0, ""]);
        assert.deepStrictEqual((JSON.parse(out) as CertDiff).replaced, []);
    });

    it("more than --max-replaced names the key changed as written (pki:validityDays), not the one derived from it (pki:earlyRenewalDays)", async () => {
        const head = stackVariant(tempDir("diff-leaf"), "dev", "leaf: 365", "leaf: 200");
        const { status, out } = await cli(
            "diff",
            "--base",
            path.join(ROOT, DEV),
            "--head",
            head,
            "--format",
            "json",
            "--max-replaced",
            "0",
        );
        assert.strictEqual(status, 0);
        assert.deepStrictEqual(
            (JSON.parse(out) as CertDiff).risks.map((r) => [r.key, r.change]),
            [["pki:validityDays", "replaces 4 certificates in one update (more than 0)"]],
        );
    });

    /** A git repository holding the project file and the dev stack file (edited), committed. */
    const committedStack = (prefix: string, edits: [string, string][] = []) => {
        const repo = gitRepo(prefix);
        stackEdited(repo.dir, "dev", edits);
        repo.git("add", ".");
        repo.git("commit", "-q", "-m", "base");
        return { ...repo, file: path.join(repo.dir, DEV), project: path.join(repo.dir, "Pulumi.yaml") };
    };

    it("a Kubernetes provider setting an attacker writes in Pulumi.yaml's config (value:) is a risk, and one moved there from the stack file with a new value is changed, not removed", async () => {
        const repo = committedStack("diff-project-settings", [
            [
                "  pki:environment: dev\n",
                "  pki:environment: dev\n  kubernetes:context: dev-east\n  kubernetes:namespace: pki\n",
            ],
        ]);
        // The stack file loses both; the project file gives one back unchanged and the other re-pointed.
        fs.writeFileSync(
            repo.file,
            fs
                .readFileSync(repo.file, "utf8")
                .replace("  kubernetes:context: dev-east\n  kubernetes:namespace: pki\n", ""),
        );
        fs.appendFileSync(
            repo.project,
            'config:\n  kubernetes:context:\n    value: attacker-cluster\n  kubernetes:namespace: pki\n  pulumi:disable-default-providers: ["kubernetes"]\n',
        );
        const json = await cli("diff", "--base", "HEAD", "--head", repo.file, "--format", "json", "--fail-on", "risky");
        assert.strictEqual(json.status, 1, json.err);
        const d = JSON.parse(json.out) as CertDiff;
        assert.deepStrictEqual(d.otherSettings, [
            {
                key: "kubernetes:context",
                change: "changed",
                before: '"dev-east"',
                after: '"attacker-cluster"',
                afterFrom: "Pulumi.yaml",
            },
            {
                key: "pulumi:disable-default-providers",
                change: "added",
                after: '["kubernetes"]',
                afterFrom: "Pulumi.yaml",
            },
        ]);
        assert.deepStrictEqual(
            d.risks.map((r) => `${r.key}: ${r.change}`),
            [
                "kubernetes:context: changed (the values are under the stack file settings outside pki:)",
                "pulumi:disable-default-providers: added (the values are under the stack file settings outside pki:)",
            ],
        );
        const md = await cli("diff", "--base", "HEAD", "--head", repo.file);
        assert.ok(
            md.out.includes(
                "### Stack file settings outside pki:\n\n" +
                    '- **kubernetes:context:** "dev-east" -> "attacker-cluster" from Pulumi.yaml.\n' +
                    '- **pulumi:disable-default-providers:** added: ["kubernetes"] from Pulumi.yaml.\n',
            ),
            md.out,
        );
    });

    it("a new stack lists its settings outside pki: for review, worded for a new stack, and its secrets provider, data key and kubernetes: settings are no risk", async () => {
        const repo = committedStack("diff-new-settings");
        const file = stackEdited(repo.dir, "fresh", [
            ["# dev:", "secretsprovider: awskms://alias/pki-fresh\nencryptedkey: AAAA\n# dev:"],
            [
                "  pki:environment: dev\n",
                '  pki:environment: dev\n  kubernetes:context: fresh-east\n  kubernetes:namespace: pki\n  kubernetes:enableServerSideApply: true\n  pulumi:disable-default-providers: ["kubernetes"]\n  other:note: hi\n',
            ],
        ]);
        const json = await cli("diff", "--base", "HEAD", "--head", file, "--format", "json", "--fail-on", "risky");
        assert.strictEqual(json.status, 0, json.err);
        const d = JSON.parse(json.out) as CertDiff;
        assert.deepStrictEqual(
            [d.newStack, d.risks, d.otherSettings],
            [
                true,
                [],
                [
                    { key: "secretsprovider", change: "added", after: '"awskms://alias/pki-fresh"' },
                    { key: "encryptedkey", change: "added", secret: true },
                    { key: "kubernetes:context", change: "added", after: '"fresh-east"' },
                    { key: "kubernetes:namespace", change: "added", after: '"pki"' },
                    { key: "kubernetes:enableServerSideApply", change: "added", after: "true" },
                    { key: "pulumi:disable-default-providers", change: "added", after: '["kubernetes"]' },
                    { key: "other:note", change: "added", after: '"hi"' },
                ],
            ],
        );
        const md = await cli("diff", "--base", "HEAD", "--head", file);
        assert.ok(
            md.out.includes(
                "### Stack file settings outside pki:\n\n" +
                    "The new stack's, to review with it (a new stack's are no risk: the whole stack is new, for its owners to review):\n\n" +
                    '- **secretsprovider:** "awskms://alias/pki-fresh": who can decrypt the new stack\'s state (which holds every private key); check it is the secrets provider its owners chose.\n' +
                    "- **encryptedkey:** set (a secret: its value is not shown): who can decrypt the new stack's state (which holds every private key); check it is the secrets provider its owners chose.\n" +
                    '- **kubernetes:context:** "fresh-east": which cluster a Kubernetes provider given none of its own writes Secrets to; check it is the new stack\'s.\n' +
                    '- **kubernetes:namespace:** "pki": which namespace a Kubernetes provider given none of its own puts resources that name none in; check it is the new stack\'s.\n' +
                    "- **kubernetes:enableServerSideApply:** true: how a default Kubernetes provider (the one a resource given no provider of its own gets) behaves; check it is meant for the new stack.\n" +
                    "- **pulumi:disable-default-providers:** [\"kubernetes\"]: whether default providers may be used (a resource given no provider of its own gets one from the stack's settings); check it is what the new stack's owners chose.\n" +
                    '- **other:note:** "hi".\n',
            ),
            md.out,
        );
        assert.doesNotMatch(md.out, /### Risks|next pulumi up|undo this change/);
    });

    it("a plain kubeconfig with a client key and a token is shown only by its length and hash, once, and a long value is cut to that too", async () => {
        const keyData = Buffer.from(TEST_ONLY_LEAF_KEY_PEM).toString("base64");
        const token = `eyJhbGciOiJSUzI1NiJ9.${"eyJzdWIiOiJhdHRhY2tlciJ9".repeat(3)}.c2ln`;
        const kubeconfig = `apiVersion: v1\nusers:\n- name: u\n  user:\n    client-key-data: ${keyData}\n    token: ${token}\n`;
        const long = "x".repeat(20_000);
        const head = withSettings(
            tempDir("diff-kubeconfig"),
            "",
            `  kubernetes:kubeconfig: ${JSON.stringify(kubeconfig)}\n  other:long: ${long}\n`,
        );
        const sha = (text: string) => crypto.createHash("sha256").update(text).digest("hex").slice(0, 12);
        const json = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head, "--format", "json");
        assert.strictEqual(json.status, 0, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            {
                key: "kubernetes:kubeconfig",
                change: "added",
                after: `(${[...kubeconfig].length} characters, SHA-256 ${sha(kubeconfig)}, not shown)`,
            },
            { key: "other:long", change: "added", after: `(20000 characters, SHA-256 ${sha(long)}, not shown)` },
        ]);
        const md = await cli("diff", "--base", path.join(ROOT, DEV), "--head", head);
        for (const out of [json.out, md.out]) {
            assert.ok(!out.includes(keyData.slice(0, 40)) && !out.includes("eyJ") && !out.includes("xxxxxxxxxx"));
        }
        assert.strictEqual(md.out.split(sha(kubeconfig)).length, 2, "the value is shown once, under the settings");
        assert.ok(
            md.out.includes(
                "- **kubernetes:kubeconfig: added (the values are under the stack file settings outside pki:).**",
            ),
        );
        assert.ok(md.out.length < 10_000, `${md.out.length} characters`);
        // A PEM key encoded again in base64, as client-key-data holds it, is no more shown than the key.
        assert.strictEqual(
            withoutPrivateKeys(`    client-key-data: ${keyData}\n    token: t`),
            "    client-key-data: (a private key, not shown)\n    token: t",
        );
    });

    it("a secure: ciphertext under an unknown top-level key that is no plain value (NaN, !!binary beside it) is compared, never shown", async () => {
        const { base, head } = settingsPair(
            "secure",
            [
                "extra: {b: .nan, a: {secure: v1:CIPHERBEFORE}}\nbinary: {a: !!binary aGk=, b: {secure: v1:CIPHERB1}}\n",
                "",
            ],
            [
                "extra: {b: .nan, a: {secure: v1:CIPHERAFTER}}\nbinary: {a: !!binary aGk=, b: {secure: v1:CIPHERB2}}\n",
                "",
            ],
        );
        const { json, md } = await bothFormats(base, head);
        assert.strictEqual(json.status, 0, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            { key: "extra", change: "changed", secret: true },
            { key: "binary", change: "changed", secret: true },
        ]);
        assert.doesNotMatch(json.out + md.out, /CIPHER/);
    });

    it("a --head through a symbolic link and .. is the file the disk reads, its base and project read beside it, not beside the path as written", async () => {
        // The disk reads tools/../stacks in the linked folder's parent, another repository.
        const other = committedStack("diff-link-other", [["leaf: 365", "leaf: 200"]]);
        fs.mkdirSync(path.join(other.dir, "real"));
        const repo = committedStack("diff-link-repo");
        fs.symlinkSync(path.join(other.dir, "real"), path.join(repo.dir, "tools"));
        const head = `${repo.dir}/tools/../stacks/Pulumi.dev.yaml`;
        const { status, out, err } = await cli("diff", "--base", "HEAD", "--head", head, "--format", "json");
        assert.deepStrictEqual([status, err], [0, ""]);
        assert.deepStrictEqual(
            (JSON.parse(out) as CertDiff).replaced,
            [],
            "the other repository's file against its own HEAD",
        );
    });

    it("a --base through a symbolic link and .. is read with the project beside the file the disk reads, as --config is", async () => {
        // The base the disk reads is the other folder's, whose Pulumi.yaml points the provider elsewhere.
        const other = tempDir("diff-base-link-other");
        stackEdited(other, "dev", []);
        fs.appendFileSync(path.join(other, "Pulumi.yaml"), "config:\n  kubernetes:context:\n    value: b\n");
        fs.mkdirSync(path.join(other, "x"));
        const dir = tempDir("diff-base-link");
        const head = stackEdited(dir, "dev", []);
        fs.appendFileSync(path.join(dir, "Pulumi.yaml"), "config:\n  kubernetes:context: proj-ctx\n");
        fs.symlinkSync(path.join(other, "x"), path.join(dir, "tools"));
        const base = `${dir}/tools/../stacks/Pulumi.dev.yaml`;
        const json = await cli("diff", "--base", base, "--head", head, "--format", "json", "--fail-on", "risky");
        assert.strictEqual(json.status, 1, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            {
                key: "kubernetes:context",
                change: "changed",
                before: '"b"',
                after: '"proj-ctx"',
                beforeFrom: "Pulumi.yaml",
                afterFrom: "Pulumi.yaml",
            },
        ]);
        assert.strictEqual(
            stackFilePath({ config: "tools/../stacks/Pulumi.dev.yaml" }, dir).file,
            path.join(fs.realpathSync(other), "stacks", "Pulumi.dev.yaml"),
        );
    });

    it("a base Pulumi.yaml or stack file over 1 MiB at a git ref is read whole, not as absent", async () => {
        const filler = `# ${"x".repeat(99)}\n`.repeat(20_000); // 2 MB
        const repo = committedStack("diff-big-base");
        fs.appendFileSync(repo.project, `config:\n  kubernetes:context: same\n${filler}`);
        repo.git("commit", "-q", "-am", "a large project file");
        const run = () => cli("diff", "--base", "HEAD", "--head", repo.file, "--format", "json", "--fail-on", "risky");
        let json = await run();
        assert.strictEqual(json.status, 0, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, []);
        fs.appendFileSync(repo.file, filler);
        repo.git("commit", "-q", "-am", "a large stack file");
        json = await run();
        assert.deepStrictEqual([json.status, json.err, (JSON.parse(json.out) as CertDiff).newStack], [0, "", false]);
    });

    it("a base file git cannot read (its object missing) is an error naming the revision and path, not read as absent", async () => {
        const repo = committedStack("diff-unreadable-base");
        const blob = repo.git("rev-parse", "HEAD:Pulumi.yaml");
        fs.rmSync(path.join(repo.dir, ".git", "objects", blob.slice(0, 2), blob.slice(2)));
        const { status, out, err } = await cli("diff", "--base", "HEAD", "--head", repo.file);
        assert.deepStrictEqual([status, out], [1, ""]);
        assert.strictEqual(err, "error: cannot read HEAD:Pulumi.yaml (git show): fatal: bad object HEAD:Pulumi.yaml\n");
    });

    it("a kubeconfig given as a file's path is shown, and a map holding a secure: member beside others is a secret", async () => {
        const { base, head } = settingsPair(
            "kubeconfig-path",
            ["", "  kubernetes:kubeconfig: ~/.kube/dev\n  myapp:m: {secure: v1:CIPHER5, extra: 1}\n"],
            ["", "  kubernetes:kubeconfig: ~/.kube/prod\n  myapp:m: {secure: v1:CIPHER6, extra: 1}\n"],
        );
        const { json, md } = await bothFormats(base, head);
        assert.strictEqual(json.status, 0, json.err);
        assert.deepStrictEqual((JSON.parse(json.out) as CertDiff).otherSettings, [
            { key: "kubernetes:kubeconfig", change: "changed", before: '"~/.kube/dev"', after: '"~/.kube/prod"' },
            { key: "myapp:m", change: "changed", secret: true },
        ]);
        assert.ok(md.out.includes('- **kubernetes:kubeconfig:** "\\~/.kube/dev" -> "\\~/.kube/prod".\n'), md.out);
        assert.doesNotMatch(json.out + md.out, /CIPHER/);
    });
});
