import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { diffPlans } from "../lib/inventory/diff";
import {
    mermaidId,
    mermaidText,
    plannedCrls,
    plannedTimeline,
    stackPictures,
    timelinePicture,
    TimelineCrl,
    trustPicture,
    trustPictureForDiff,
} from "../lib/inventory/pictures";
import { plannedCertificates } from "../lib/inventory/planned";
import { createRoot } from "../lib/pki/ceremony";
import { INITIAL_RECORD } from "../lib/plan/caRotation";
import { PkiPlan, planFromRawConfig } from "../lib/plan/plan";
import { cli, loadStackFileValues, newStackState, OPTION_FILES, renderConfig, ROOT } from "./helpers";
import { DrawnSvg, MermaidBrowser } from "./mermaidBrowser";

type Raw = Record<string, unknown>;
type Domains = Record<string, { services: string[] }>;

const dev = (): Raw => loadStackFileValues("stacks/Pulumi.dev.yaml");
const plan = (raw: Raw): PkiPlan => planFromRawConfig(raw);
const cert = (id: string): string => mermaidId("cert", id);
/** Each CRL set's name and dates, as ISO text. */
const crlDates = (crls: readonly TimelineCrl[]) =>
    crls.map((c) => [c.name, ...[c.thisUpdate, c.republishAt, c.nextUpdate].map((d) => d.toISOString())]);
const place = (goesTo: string): string => mermaidId("to", goesTo);
/** The dev stack with its APIC client root made offline, as the ceremony's init-root makes one (bound to the environment and trust domain): apic-client-ca's CSR waits. */
const withOfflineClientRoot = (commonName: string): PkiPlan => {
    const root = createRoot({
        commonName,
        organization: "Example Bank",
        binding: { environment: "dev", trustDomain: "apic-client" },
        validityDays: 7300,
        keyAlgorithm: "ECDSA",
    });
    return plan({ ...dev(), offlineRoots: { clientRoot: { certificate: root.certPem, intermediates: {} } } });
};
const GATEWAY_SECRET = (endpoint: string): string => `k8s/dev-east/istio-system/secret-apic-mtls-${endpoint}`;
const CACERTS = "k8s/dev-east/istio-system/secret-cacerts";

/** The label of the edge from one node to another, or undefined when there is none. */
function edge(drawn: DrawnSvg, from: string, to: string): string | undefined {
    return drawn.edges.find((e) => e.id.startsWith(`L_${from}_${to}_`))?.label;
}

const classesOf = (drawn: DrawnSvg, id: string): string[] => {
    const node = drawn.nodes.find((n) => n.id === id);
    assert.ok(node, `no node ${id} in the drawn picture`);
    return node.classes;
};

describe("pictures (Mermaid drawn by the real library in headless Chromium)", function () {
    this.timeout(60_000);
    let browser: MermaidBrowser;
    let launchMs = 0;

    before(async () => {
        const start = Date.now();
        browser = await MermaidBrowser.open();
        launchMs = Date.now() - start;
    });
    after(async () => {
        await browser?.close();
    });

    it("launches one browser with Mermaid for the whole file in a few seconds", () => {
        assert.ok(launchMs < 10_000, `Chromium and Mermaid took ${launchMs} ms to start`);
    });

    it("draws the dev stack's trust hierarchy: every CA, endpoint and place, who signs what, and the root each side trusts", async () => {
        const rows = plannedCertificates(plan(dev()));
        const drawn = await browser.draw(trustPicture(rows));
        const ids = drawn.nodes.map((n) => n.id);
        for (const row of rows) assert.ok(ids.includes(cert(row.id)), `${row.id} is not drawn`);
        assert.deepStrictEqual(
            drawn.nodes.filter((n) => n.id.startsWith("cert_")).map((n) => n.text.split(" ")[0].replace(/O=.*/, "")),
            [
                "mesh-root",
                "server-root",
                "client-root",
                "gateway-server-ca",
                "apic-client-ca",
                "mesh-ca-dev-east",
                "dp/serverdp.dev.api.bank.exampleRSA",
                "dp/clienturn:apic-istio-pki:dev:apic-client:dpRSA",
                "ob/serverob.dev.api.bank.exampleRSA",
                "ob/clienturn:apic-istio-pki:dev:apic-client:obRSA",
            ],
        );
        assert.deepStrictEqual(drawn.clusters.sort(), [
            "apic/dp",
            "apic/ob",
            "endpoint dp",
            "endpoint ob",
            "k8s/dev-east",
        ]);
        // Signing: root -> issuing CA -> leaf.
        assert.strictEqual(edge(drawn, cert("server-root"), cert("gateway-server-ca")), "");
        assert.strictEqual(edge(drawn, cert("gateway-server-ca"), cert("dp/server")), "");
        assert.strictEqual(edge(drawn, cert("client-root"), cert("apic-client-ca")), "");
        assert.strictEqual(edge(drawn, cert("apic-client-ca"), cert("ob/client")), "");
        assert.strictEqual(edge(drawn, cert("mesh-root"), cert("mesh-ca-dev-east")), "");
        // Trust anchors: the gateway's ca.crt holds the client root, APIC's truststore the server root, cacerts the mesh root.
        for (const endpoint of ["dp", "ob"]) {
            assert.strictEqual(
                edge(drawn, cert("client-root"), place(GATEWAY_SECRET(endpoint))),
                "trust anchor: ca.crt",
            );
            assert.strictEqual(
                edge(drawn, cert("server-root"), place(`apic/${endpoint}/truststore.pem`)),
                "trust anchor",
            );
            assert.strictEqual(edge(drawn, cert("server-root"), place(GATEWAY_SECRET(endpoint))), undefined);
            assert.strictEqual(edge(drawn, cert("client-root"), place(`apic/${endpoint}/truststore.pem`)), undefined);
            assert.strictEqual(
                edge(drawn, cert(`${endpoint}/server`), place(GATEWAY_SECRET(endpoint))),
                "tls.crt, tls.key",
            );
            assert.strictEqual(
                edge(drawn, cert("gateway-server-ca"), place(GATEWAY_SECRET(endpoint))),
                "tls.crt chain",
            );
            // DataPower builds the chain from APIC's truststore alone: the issuing CA is there too.
            assert.strictEqual(
                edge(drawn, cert("gateway-server-ca"), place(`apic/${endpoint}/truststore.pem`)),
                "trusted issuing CA",
            );
            assert.strictEqual(
                edge(drawn, cert(`${endpoint}/client`), place(`apic/${endpoint}/client.crt, client.key`)),
                "APIC keystore",
            );
        }
        assert.strictEqual(
            edge(drawn, cert("mesh-root"), place(CACERTS)),
            "trust anchor: root-cert.pem, cert-chain.pem",
        );
        assert.strictEqual(edge(drawn, cert("mesh-ca-dev-east"), place(CACERTS)), "ca-cert.pem, cert-chain.pem");
        // 7 signatures below the roots, 16 deliveries (one per goesTo entry).
        assert.strictEqual(drawn.edges.length, 7 + rows.reduce((n, r) => n + r.goesTo.length, 0));
        assert.strictEqual(drawn.edges.length, 23);
    });

    it("draws one root trusted by every relying party when the trust domains are shared", async () => {
        const rows = plannedCertificates(plan({ ...dev(), trustDomains: "shared" }));
        const drawn = await browser.draw(trustPicture(rows));
        const roots = drawn.nodes.filter((n) =>
            ["mesh-root", "server-root", "client-root", "root"].some((r) => n.id === cert(r)),
        );
        assert.deepStrictEqual(
            roots.map((n) => n.id),
            [cert("root")],
        );
        assert.strictEqual(edge(drawn, cert("root"), place(GATEWAY_SECRET("dp"))), "trust anchor: ca.crt");
        assert.strictEqual(edge(drawn, cert("root"), place("apic/ob/truststore.pem")), "trust anchor");
        assert.strictEqual(edge(drawn, cert("root"), place(CACERTS)), "trust anchor: root-cert.pem, cert-chain.pem");
        for (const ca of ["gateway-server-ca", "apic-client-ca", "mesh-ca-dev-east"]) {
            assert.strictEqual(edge(drawn, cert("root"), cert(ca)), "", ca);
        }
    });

    it("marks what a pull request adds, replaces and removes with the change's class on the drawn nodes", async () => {
        // Base: dev. Head: domain dp dropped, domain cards added, leaf keys to ECDSA (ob re-issued).
        const base = dev();
        const { dp: _dropped, ...domains } = base.domains as Domains;
        const head = { ...base, keyAlgorithm: "ECDSA", domains: { ...domains, cards: { services: ["cards-api"] } } };
        const diff = diffPlans(plan(base), plan(head));
        assert.deepStrictEqual(
            [diff.added, diff.replaced, diff.removed].map((list) => list.map((c) => c.id)),
            [
                ["cards/server", "cards/client"],
                ["ob/server", "ob/client"],
                ["dp/server", "dp/client"],
            ],
        );
        const drawn = await browser.draw(trustPictureForDiff(plan(base), plan(head), diff));
        const changeClasses = (id: string): string[] =>
            classesOf(drawn, id).filter((c) => ["added", "replaced", "removed", "touched"].includes(c));
        assert.deepStrictEqual(changeClasses(cert("cards/server")), ["added"]);
        assert.deepStrictEqual(changeClasses(cert("cards/client")), ["added"]);
        assert.deepStrictEqual(changeClasses(cert("ob/server")), ["replaced"]);
        assert.deepStrictEqual(changeClasses(cert("ob/client")), ["replaced"]);
        assert.deepStrictEqual(changeClasses(cert("dp/server")), ["removed"]);
        assert.deepStrictEqual(changeClasses(cert("dp/client")), ["removed"]);
        for (const ca of ["mesh-root", "server-root", "client-root", "gateway-server-ca", "apic-client-ca"]) {
            assert.deepStrictEqual(changeClasses(cert(ca)), [], ca);
        }
        assert.deepStrictEqual(changeClasses(place(GATEWAY_SECRET("ob"))), ["touched"]);
        assert.deepStrictEqual(changeClasses(place(GATEWAY_SECRET("dp"))), ["touched"]);
        assert.deepStrictEqual(changeClasses(place(CACERTS)), []);
        assert.match(drawn.nodes.find((n) => n.id === cert("ob/server"))?.text ?? "", /ECDSA P-256, 365 daysreplaced$/);
        // The classes are styled: the SVG's stylesheet has a rule for each.
        for (const kind of ["added", "replaced", "removed", "touched"]) {
            assert.match(drawn.svg, new RegExp(`\\.${kind}>\\*|\\.${kind} `), kind);
        }
    });

    it("draws both generations of a CA in a staged rotation, the new one added and signing the re-issued leaves", async () => {
        const base = dev();
        const head = { ...base, caRotation: { apicClientCa: { generation: 1, phase: "switch" } } };
        const diff = diffPlans(plan(base), plan(head));
        const drawn = await browser.draw(trustPictureForDiff(plan(base), plan(head), diff));
        assert.ok(classesOf(drawn, cert("apic-client-ca-g1")).includes("added"));
        assert.deepStrictEqual(
            classesOf(drawn, cert("apic-client-ca")).filter((c) => ["added", "replaced", "removed"].includes(c)),
            [],
        );
        assert.strictEqual(edge(drawn, cert("client-root"), cert("apic-client-ca-g1")), "");
        for (const endpoint of ["dp", "ob"]) {
            assert.ok(classesOf(drawn, cert(`${endpoint}/client`)).includes("replaced"), endpoint);
            assert.strictEqual(edge(drawn, cert("apic-client-ca-g1"), cert(`${endpoint}/client`)), "");
            assert.strictEqual(edge(drawn, cert("apic-client-ca"), cert(`${endpoint}/client`)), undefined);
        }
    });

    it("draws a root made offline as offline and the CA whose CSR waits for the ceremony dashed, each saying so, the CSR's arrow dotted", async () => {
        const head = withOfflineClientRoot("Example Bank APIC Client Offline Root");
        const diff = diffPlans(plan(dev()), head);
        assert.deepStrictEqual([diff.csrs, diff.added, diff.replaced, diff.removed], [["apic-client-ca"], [], [], []]);
        const marks = (drawn: DrawnSvg, id: string): string[] =>
            classesOf(drawn, id).filter((c) => ["offline", "waiting", "added", "replaced", "removed"].includes(c));
        // The pull request's picture, and the inventory's of the stack file (the same marks, from the plan).
        for (const mermaid of [trustPictureForDiff(plan(dev()), head, diff), stackPictures(head, new Date()).trust]) {
            const drawn = await browser.draw(mermaid);
            assert.deepStrictEqual(marks(drawn, cert("client-root")), ["offline"]);
            assert.deepStrictEqual(marks(drawn, cert("apic-client-ca")), ["waiting"]);
            for (const id of ["mesh-root", "server-root", "gateway-server-ca", "mesh-ca-dev-east", "dp/client"]) {
                assert.deepStrictEqual(marks(drawn, cert(id)), [], id);
            }
            const text = (id: string) => drawn.nodes.find((n) => n.id === cert(id))?.text ?? "";
            assert.match(text("client-root"), /ECDSA P-384, 7300 daysoffline root, signs at the ceremony$/);
            assert.match(text("apic-client-ca"), /RSA 4096, 1095 daysCSR waits for the ceremony$/);
            assert.strictEqual(edge(drawn, cert("client-root"), cert("apic-client-ca")), "CSR to sign");
            assert.strictEqual(edge(drawn, cert("server-root"), cert("gateway-server-ca")), "");
            assert.strictEqual(edge(drawn, cert("client-root"), place(GATEWAY_SECRET("dp"))), "trust anchor: ca.crt");
            // Styled: the offline root with a thicker border and no colours of its own, which would hide
            // a change's (a new ceremony's root is replaced); the waiting CA dashed.
            assert.match(drawn.svg, /\.offline&gt;\*\{stroke-width:4px!important;\}/);
            assert.match(drawn.svg, /\.waiting&gt;\*\{[^}]*stroke-dasharray:4,4!important;\}/);
        }
    });

    it("shows a hostile subject of an offline root's certificate as text in its marked node: no node, edge, class or script more", async () => {
        const drawnFor = async (commonName: string) => {
            const head = withOfflineClientRoot(commonName);
            return browser.draw(trustPictureForDiff(plan(dev()), head, diffPlans(plan(dev()), head)));
        };
        const plain = await drawnFor("Example Bank APIC Client Offline Root");
        const hostile = `x"]:::removed;A-->B;click A "javascript:alert(1)";classDef offline fill:#f00`;
        const drawn = await drawnFor(hostile);
        assert.deepStrictEqual(
            [drawn.nodes, drawn.edges].map((list) => list.map((x) => x.id)),
            [plain.nodes, plain.edges].map((list) => list.map((x) => x.id)),
        );
        assert.deepStrictEqual(classesOf(drawn, cert("client-root")), classesOf(plain, cert("client-root")));
        assert.strictEqual(drawn.active, 0);
        assert.doesNotMatch(drawn.svg, /="[^"]*javascript:|<style>[^<]*#f00/);
        assert.ok(drawn.text.includes(`CN=${hostile}`), `${hostile} is not shown as written`);
    });

    it("draws the diff's picture of the front end: re-keyed UI clients replaced, their Secrets touched, APIC's UI truststore anchored", async () => {
        const base = loadStackFileValues("examples/front-end/Pulumi.front-end.yaml");
        const head = { ...base, rotation: { uiClientEpoch: 1 } };
        const drawn = await browser.draw(
            trustPictureForDiff(plan(base), plan(head), diffPlans(plan(base), plan(head))),
        );
        for (const name of ["consumer-dashboard", "authentication-ui"]) {
            assert.ok(classesOf(drawn, cert(`ui/${name}/client`)).includes("replaced"), name);
            assert.strictEqual(edge(drawn, cert("ui-client-ca"), cert(`ui/${name}/client`)), "", name);
            assert.ok(
                classesOf(drawn, place(`k8s/example/ob-ui/secret-apic-client-${name}`)).includes("touched"),
                name,
            );
        }
        assert.ok(!classesOf(drawn, place("apic/ui/truststore.pem")).includes("touched"), "APIC's UI truststore stays");
        assert.strictEqual(edge(drawn, cert("ui-client-root"), place("apic/ui/truststore.pem")), "trust anchor");
    });

    it("shows a hostile organization as text: it adds no node, edge, link or script", async () => {
        const plain = await browser.draw(trustPicture(plannedCertificates(plan(dev()))));
        // Each at most 64 characters, the longest subject O config accepts.
        for (const hostile of [
            `x"];A-->B;click A "javascript:alert(1)"`,
            `%%{init:{"securityLevel":"loose"}}%%<img src=x onerror=alert(1)>`,
            "a`]) --> B[(#35; end subgraph q; style A fill:#f00;",
        ]) {
            const drawn = await browser.draw(
                trustPicture(plannedCertificates(plan({ ...dev(), organization: hostile }))),
            );
            assert.deepStrictEqual(
                drawn.nodes.map((n) => n.id),
                plain.nodes.map((n) => n.id),
            );
            assert.deepStrictEqual(
                drawn.edges.map((e) => e.id),
                plain.edges.map((e) => e.id),
            );
            assert.deepStrictEqual(drawn.clusters, plain.clusters);
            assert.strictEqual(drawn.active, 0);
            // Shown as text only: no element, attribute or style rule of it.
            assert.doesNotMatch(drawn.svg, /<img|="[^"]*javascript:|style="[^"]*#f00|<style>[^<]*#f00/);
            assert.ok(drawn.text.includes(`O=${hostile}, CN=dev mesh root CA`), `${hostile} is not shown as written`);
        }
    });

    it("shows hostile names in the timeline as text: no bar, section or link more", async () => {
        const names = [
            "click x call y",
            "section z",
            "2026-01-01 b",
            'x"];A-->B;click A "javascript:alert(1)"',
            "title t: #%%",
        ];
        const issuedOn = new Date("2026-01-15T00:00:00Z");
        const certificates = names.map((id) => ({
            id,
            role: "root",
            notBefore: issuedOn,
            renewAt: new Date("2027-01-15T00:00:00Z"),
            notAfter: new Date("2028-01-15T00:00:00Z"),
        }));
        const drawn = await browser.draw(timelinePicture("gantt\nsection evil: #x", certificates));
        assert.deepStrictEqual(
            drawn.bars.map((b) => b.text).sort(),
            names.flatMap((n) => [n, `${n} renewal window`]).sort(),
        );
        assert.strictEqual(drawn.active, 0);
        assert.ok(drawn.text.includes("gantt section evil: #x"), drawn.text);
    });

    it("draws the timeline of a render from what was issued: per certificate a bar to its renewal point and one for its renewal window", async () => {
        // ECDSA keys: the render is under test here, not RSA key generation.
        const rendered = await renderConfig(
            { ...dev(), keyAlgorithm: "ECDSA", caKeyAlgorithm: "ECDSA" },
            "pictures",
            // A state of its own: its ECDSA keys must not replace the RSA ones of the same names.
            newStackState(),
        );
        const trust = await browser.draw(rendered.read("trust.mmd"));
        for (const c of rendered.inventory)
            assert.ok(
                trust.nodes.some((n) => n.id === cert(c.id)),
                c.id,
            );
        const drawn = await browser.draw(rendered.read("timeline.mmd"));
        assert.strictEqual(drawn.bars.length, 2 * rendered.inventory.length);
        for (const c of rendered.inventory) {
            const issued = drawn.bars.find((b) => b.id === cert(c.id));
            const renewal = drawn.bars.find((b) => b.id === `${cert(c.id)}_r`);
            assert.ok(issued && renewal, c.id);
            assert.strictEqual(issued.text, c.id);
            assert.strictEqual(renewal.text, `${c.id} renewal window`);
            assert.ok(
                renewal.classes.some((k) => k.startsWith("active")),
                `${c.id}: ${renewal.classes.join(" ")}`,
            );
            // The bars meet at the renewal point, and their lengths split the lifetime as the inventory says.
            assert.ok(Math.abs(issued.x + issued.width - renewal.x) < 0.5, c.id);
            const share = issued.width / (issued.width + renewal.width);
            assert.ok(Math.abs(share - c.renewAfterDays / c.validityDays) < 0.01, `${c.id}: ${share}`);
        }
    });

    it("adds a bar pair for each CRL set the stack publishes, from the plan", async () => {
        const raw = {
            ...dev(),
            crlPeriodDays: 7,
            revocations: [
                {
                    endpoint: "ob",
                    serial: "F1D1E59E376EF775D55D309E3292F63C",
                    epoch: 0,
                    reason: "keyCompromise",
                    revokedAt: "2026-11-20T09:30:00Z",
                },
            ],
        };
        const now = new Date("2026-11-25T12:00:00Z");
        const crls = plannedCrls(plan(raw), now, plannedTimeline(plannedCertificates(plan(raw)), now));
        assert.deepStrictEqual(crlDates(crls), [
            [
                "CRLs in the gateway ca.crl",
                "2026-11-19T00:00:00.000Z",
                "2026-11-26T00:00:00.000Z",
                // Valid four periods (at least 28 days): three missed re-publications before it expires.
                "2026-12-17T00:00:00.000Z",
            ],
        ]);
        const drawn = await browser.draw(
            timelinePicture("dev", plannedTimeline(plannedCertificates(plan(raw)), now), crls),
        );
        const period = drawn.bars.find((b) => b.text === "CRLs in the gateway ca.crl");
        const untilNext = drawn.bars.find((b) => b.text === "CRLs in the gateway ca.crl until nextUpdate");
        assert.ok(period && untilNext, drawn.bars.map((b) => b.text).join(", "));
        // One period until the next re-publication, then three more until nextUpdate.
        assert.ok(
            Math.abs(3 * period.width - untilNext.width) < 1,
            `7 days then 21: ${period.width} and ${untilNext.width}`,
        );
    });

    it("draws istiod's ca-crl.pem as one bar until its first CA expires: its CRLs are re-signed only when their CAs are", async () => {
        // Published once a deployment carried it (the record's meshCrlSince); nothing re-signs it weekly.
        const now = new Date("2026-11-25T12:00:00Z");
        const meshPlan = planFromRawConfig(
            { ...dev(), crlPeriodDays: 7 },
            { deployed: { ...INITIAL_RECORD, meshCrlSince: "2026-11-01T00:00:00Z" }, now },
        );
        const certificates = plannedTimeline(plannedCertificates(meshPlan), now);
        const crls = plannedCrls(meshPlan, now, certificates);
        assert.deepStrictEqual(
            crlDates(crls),
            // The mesh CA's 1095 days end first (the mesh root's run 3650).
            [["CRLs in istiod ca-crl.pem", now.toISOString(), "2029-11-24T12:00:00.000Z", "2029-11-24T12:00:00.000Z"]],
        );
        const drawn = await browser.draw(timelinePicture("dev", certificates, crls));
        const mesh = drawn.bars.filter((b) => b.text.startsWith("CRLs in istiod ca-crl.pem"));
        const meshCa = drawn.bars.filter((b) => b.text.startsWith("mesh-ca-dev-east"));
        assert.deepStrictEqual(
            mesh.map((b) => b.text),
            ["CRLs in istiod ca-crl.pem"],
        );
        // It ends where the mesh CA's life ends.
        const [bar] = mesh;
        const caEnd = Math.max(...meshCa.map((b) => b.x + b.width));
        assert.ok(Math.abs(bar.x + bar.width - caEnd) < 0.5, `${bar.x + bar.width} vs ${caEnd}`);
    });

    it("folds endpoints past ten into one node and one bar pair per role, and draws a changed endpoint first", async () => {
        const base = loadStackFileValues(OPTION_FILES[2]);
        const rows = plannedCertificates(plan(base));
        assert.strictEqual(rows.filter((r) => r.endpoint !== undefined).length, 48);
        const drawn = await browser.draw(trustPicture(rows));
        assert.strictEqual(drawn.nodes.filter((n) => n.id.startsWith("cert_")).length, 6 + 2 * 10);
        assert.strictEqual(
            drawn.nodes.find((n) => n.id === "folded_endpoints")?.text,
            "and 14 more endpoints28 certificates and their places, drawn like the ones above",
        );
        assert.strictEqual(edge(drawn, cert("gateway-server-ca"), "folded_endpoints"), "");
        assert.strictEqual(edge(drawn, cert("apic-client-ca"), "folded_endpoints"), "");
        const timeline = await browser.draw(
            timelinePicture("option 2", plannedTimeline(rows, new Date("2026-01-15T00:00:00Z"))),
        );
        assert.strictEqual(timeline.bars.length, 2 * (6 + 2 * 10 + 2));
        assert.ok(timeline.bars.some((b) => b.text === "14 more certificates of gateway-server"));

        // A service added at the end of the list: its endpoint is drawn, marked added.
        const domains = base.domains as Domains;
        const head = {
            ...base,
            domains: { ...domains, ob: { ...domains.ob, services: [...domains.ob.services, "zz-new"] } },
        };
        const withChange = await browser.draw(
            trustPictureForDiff(plan(base), plan(head), diffPlans(plan(base), plan(head))),
        );
        assert.ok(classesOf(withChange, cert("ob-zz-new/server")).includes("added"));
        assert.match(withChange.nodes.find((n) => n.id === "folded_endpoints")?.text ?? "", /^and 15 more endpoints/);
    });

    it("inventory --format mermaid prints both pictures as Markdown Mermaid blocks that draw", async () => {
        const { status, out } = await cli("inventory", "--stack", "dev", "--format", "mermaid");
        assert.strictEqual(status, 0);
        const blocks = [...out.matchAll(/```mermaid\n([^`]*)```/g)].map((m) => m[1]);
        assert.deepStrictEqual(
            out.split("\n").filter((l) => l.startsWith("#")),
            ["#### Trust hierarchy", "#### Expiry and renewal timeline"],
        );
        assert.strictEqual(blocks.length, 2);
        const trust = await browser.draw(blocks[0]);
        assert.strictEqual(trust.nodes.filter((n) => n.id.startsWith("cert_")).length, 10);
        const timeline = await browser.draw(blocks[1]);
        assert.strictEqual(timeline.bars.length, 20);
        assert.match(
            timeline.text,
            /dev \(Option 1\): certificates from issue to expiry, renewal windows if issued on \d{4}-\d\d-\d\d/,
        );
    });
});

describe("pictures (text)", () => {
    it("writes every character but letters, digits and .,/=_()- as a Mermaid entity code", () => {
        assert.strictEqual(mermaidText("O=Bank (EU), CN=a.b/c_d-e"), "O=Bank (EU), CN=a.b/c_d-e");
        assert.strictEqual(
            mermaidText(`"];%%{}#:<b>&\`\n`),
            "#34;#93;#59;#37;#37;#123;#125;#35;#58;#60;b#62;#38;#96;#10;",
        );
        assert.strictEqual(mermaidText("Bänk 🏦"), "B#228;nk #127974;");
    });

    it("derives node ids from certificate ids that stay distinct and stable", () => {
        const ids = ["dp/server", "dp-server", "dp_server", "dp_2f_server", "dp_2d_server", "end", "a b"];
        const encoded = ids.map((id) => mermaidId("cert", id));
        assert.deepStrictEqual(encoded, [
            "cert_dp_2f_server",
            "cert_dp_2d_server",
            "cert_dp_5f_server",
            "cert_dp_5f_2f_5f_server",
            "cert_dp_5f_2d_5f_server",
            "cert_end",
            "cert_a_20_b",
        ]);
        assert.strictEqual(new Set(encoded).size, ids.length);
    });

    it("draws a certificate issued again for an old key with its renewal window alone, not a bar of no length", () => {
        const reissued = {
            id: "ob/server",
            role: "gateway-server",
            notBefore: new Date("2027-01-12T08:00:00Z"),
            renewAt: new Date("2027-01-12T08:00:00Z"),
            notAfter: new Date("2027-01-22T08:00:00Z"),
        };
        const bars = timelinePicture("t", [reissued])
            .split("\n")
            .filter((line) => line.includes("cert_ob_2f_server"));
        assert.deepStrictEqual(bars, [
            "    #111;b/server renewal window :active, cert_ob_2f_server_r, 2027-01-12, 2027-01-22",
        ]);
    });

    it("draws the plan's pictures the same on every run, and the timeline from the day given", () => {
        const now = new Date("2026-01-15T10:00:00Z");
        const once = stackPictures(plan(dev()), now);
        assert.deepStrictEqual(stackPictures(plan(dev()), now), once);
        assert.match(once.timeline, /\n {4}#100;p\/server :cert_dp_2f_server, 2026-01-15, 2026-09-16\n/);
        assert.match(
            once.timeline,
            /\n {4}#100;p\/server renewal window :active, cert_dp_2f_server_r, 2026-09-16, 2027-01-15\n/,
        );
    });
});

describe("README picture", () => {
    const MMD = path.join(ROOT, "docs/pictures/dev-trust.mmd");
    const PNG = path.join(ROOT, "docs/pictures/dev-trust.png");

    it("shows the dev stack's trust hierarchy as a PNG drawn from the committed Mermaid, which the plan still gives", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        assert.ok(
            /!\[[^\]]+\]\(docs\/pictures\/dev-trust\.png\)/.test(readme),
            "the README shows no docs/pictures/dev-trust.png",
        );
        assert.strictEqual(
            fs.readFileSync(MMD, "utf8"),
            trustPicture(plannedCertificates(plan(dev()))),
            "docs/pictures/dev-trust.mmd is out of date: run npm run pictures",
        );
        const png = fs.readFileSync(PNG);
        assert.deepStrictEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        // IHDR: width and height of a readable picture.
        assert.ok(png.readUInt32BE(16) >= 800 && png.readUInt32BE(20) >= 800, "the PNG is too small to read");
    });
});
