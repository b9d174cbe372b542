/**
 * npm run pictures: the README's picture of the dev stack's trust hierarchy, drawn from the plan
 * by the real Mermaid library in Debian's Chromium: docs/pictures/dev-trust.mmd (the Mermaid text,
 * which a test compares with what the plan gives now) and docs/pictures/dev-trust.png.
 */
import * as fs from "fs";
import * as path from "path";
import { trustPicture } from "../lib/inventory/pictures";
import { plannedCertificates } from "../lib/inventory/planned";
import { planFromRawConfig } from "../lib/plan/plan";
import { loadStackFile, ROOT } from "../test/helpers";
import { MermaidBrowser } from "../test/mermaidBrowser";

async function main(): Promise<void> {
    const folder = path.join(ROOT, "docs/pictures");
    fs.mkdirSync(folder, { recursive: true });
    const mermaid = trustPicture(plannedCertificates(planFromRawConfig(loadStackFile("stacks/Pulumi.dev.yaml"))));
    fs.writeFileSync(path.join(folder, "dev-trust.mmd"), mermaid);
    const browser = await MermaidBrowser.open();
    try {
        await browser.png(mermaid, path.join(folder, "dev-trust.png"));
    } finally {
        await browser.close();
    }
    process.stdout.write(`wrote ${path.relative(ROOT, folder)}/dev-trust.mmd and dev-trust.png\n`);
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
});
