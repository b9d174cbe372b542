/**
 * What `diff` says is delivered where (lib/inventory/deliveries.ts, from the plan alone) checked
 * against what a render really writes: every Kubernetes secret with exactly its keys and, in each,
 * as many certificates as the diff names, the roots among them by subject; every APIC file.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { Place, placesOf } from "../lib/inventory/deliveries";
import { describeSubject } from "../lib/inventory/planned";
import {
    loadStackFile,
    newStackState,
    OPTION_FILES,
    pemBlocks,
    Rendered,
    renderConfig,
    renderStackFile,
} from "./helpers";

/** Where a render writes each APIC bundle's files. */
function apicFolder(place: Place): string {
    switch (place.kind) {
        case "APIC keystore":
        case "APIC truststore":
            return `apic/${place.owner}`;
        case "APIC UI-facing keystore":
            return `apic/ui/${place.owner}`;
        default:
            return "apic/ui";
    }
}

/** A certificate's subject as the inventory writes it ("O=..., CN=..."). */
const subjectOf = (pem: string): string =>
    new crypto.X509Certificate(pem).subject
        .split("\n")
        .filter((field) => /^(O|CN)=/.test(field))
        .sort()
        .reverse()
        .join(", ");

function checkPlaces(rendered: Rendered): string[] {
    const checked: string[] = [];
    const subjects = new Map(rendered.plan.cas.map((ca) => [ca.id, describeSubject(ca.subject)]));
    for (const place of placesOf(rendered.plan)) {
        const files: Record<string, string> = place.id.startsWith("k8s/")
            ? (YAML.parse(rendered.read(`${place.id}.yaml`)) as { stringData: Record<string, string> }).stringData
            : Object.fromEntries(
                  fs
                      .readdirSync(path.join(rendered.dir, apicFolder(place)))
                      .filter((file) => file in place.items)
                      .map((file) => [file, rendered.read(`${apicFolder(place)}/${file}`)]),
              );
        assert.deepStrictEqual(Object.keys(files).sort(), Object.keys(place.items).sort(), place.id);
        for (const [item, contents] of Object.entries(place.items)) {
            const certs = contents.filter((c) => c.kind === "cert");
            if (certs.length === 0) continue;
            const written = pemBlocks(files[item]);
            assert.strictEqual(written.length, certs.length, `${place.id} ${item}`);
            certs.forEach((c, i) => {
                if (subjects.has(c.id))
                    assert.strictEqual(subjectOf(written[i]), subjects.get(c.id), `${place.id} ${item}`);
            });
        }
        checked.push(`${place.kind}: ${place.id}`);
    }
    return checked;
}

describe("deliveries: what diff says goes where is what the stack writes", function () {
    this.timeout(120_000);

    it("the front-end example: UI services' Secrets, APIC's UI-facing keystore and UI truststore, besides the backend's", async () => {
        // ECDSA CAs in a state of its own: no RSA-4096 key for the UI client root and CA just for this.
        const rendered = await renderConfig(
            { ...loadStackFile("examples/front-end/Pulumi.front-end.yaml"), caKeyAlgorithm: "ECDSA" },
            "deliveries-front-end",
            newStackState(),
        );
        assert.deepStrictEqual(checkPlaces(rendered), [
            "gateway secret: k8s/example/istio-system/secret-apic-mtls-ob",
            "istiod cacerts: k8s/example/istio-system/secret-cacerts",
            "UI client secret: k8s/example/ob-ui/secret-apic-client-consumer-dashboard",
            "UI client secret: k8s/example/ob-ui/secret-apic-client-authentication-ui",
            "APIC keystore: APIC keystore of ob",
            "APIC truststore: APIC truststore of ob",
            "APIC UI-facing keystore: APIC UI-facing keystore of apic.example.api.bank.example",
            "APIC UI truststore: APIC UI truststore",
        ]);
        assert.ok(
            !rendered.files.some((f) => f.includes("secret-public-tls-")),
            "no customer-facing Secret while the host waits for its certificate, and no place in the diff",
        );
    });

    it("an Option 1 stack: gateway secrets, cacerts and the APIC bundles", async () => {
        const rendered = await renderStackFile(OPTION_FILES[1]);
        assert.strictEqual(checkPlaces(rendered).length, rendered.plan.endpoints.length * 3 + 1);
    });
});
