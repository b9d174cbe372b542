/** inventory (--stack NAME | --config FILE) [--format table|markdown|json|mermaid]: the certificates a stack plans. */
import { rawConfigFromStackFile } from "../config/load";
import { stackPictures } from "../inventory/pictures";
import { PlannedCertificate, plannedCertificates } from "../inventory/planned";
import { planFromRawConfig } from "../plan/plan";
import { markdownStrings, markdownTable, Row, textTable } from "./format";
import { Command, oneOf, parse, stackFilePath } from "./stackSource";

const USAGE = `usage: inventory (--stack NAME | --config FILE) [--format table|markdown|json|mermaid]

Lists every certificate the stack creates, from the plan alone (no cloud access): role, endpoint,
hosts and identities, issuer, key, validity, renewal point, rotation epoch (what a revocation in
pki:revocations names) and where it is delivered.
--format mermaid prints two pictures as Markdown with Mermaid blocks (GitHub draws them): the
trust hierarchy (who signs what, where each certificate goes, which root each side trusts) and
the expiry and renewal timeline, as if issued today.`;

// The epoch is what a revocation entry of pki:revocations names besides the serial.
const COLUMNS = [
    "role",
    "certificate",
    "hosts / identity",
    "issuer",
    "key",
    "validity",
    "renew after",
    "epoch",
    "goes to",
];

function row(c: PlannedCertificate): Row {
    return {
        role: c.role,
        certificate: c.id,
        "hosts / identity": [...c.dnsNames, ...c.uris].join(", ") || c.subject,
        issuer: c.issuer === c.id ? "(self-signed)" : c.issuer,
        key: c.key,
        validity: `${c.validityDays} d`,
        "renew after": `${c.renewAfterDays} d`,
        epoch: String(c.epoch),
        "goes to":
            c.goesTo.length > 3
                ? `${c.goesTo.slice(0, 2).join("; ")}; and ${c.goesTo.length - 2} more`
                : c.goesTo.join("; "),
    };
}

export const inventoryCommand: Command = {
    usage: USAGE,
    async run(argv, out) {
        const values = parse<{ stack?: string; config?: string; format?: string }>(argv, {
            stack: { type: "string" },
            config: { type: "string" },
            format: { type: "string" },
        });
        const format = oneOf(values.format ?? "table", "--format", ["table", "markdown", "json", "mermaid"]);
        const { file } = stackFilePath(values);
        const plan = planFromRawConfig(rawConfigFromStackFile(file));
        const certificates = plannedCertificates(plan);
        if (format === "mermaid") {
            const { trust, timeline } = stackPictures(plan, new Date());
            out(
                `#### Trust hierarchy\n\n\`\`\`mermaid\n${trust}\`\`\`\n\n` +
                    `#### Expiry and renewal timeline\n\n\`\`\`mermaid\n${timeline}\`\`\`\n`,
            );
        } else if (format === "json") {
            out(
                JSON.stringify(
                    { environment: plan.config.environment, option: plan.config.option, certificates },
                    null,
                    2,
                ) + "\n",
            );
        } else {
            const rows = certificates.map(row);
            out(format === "markdown" ? markdownTable(COLUMNS, markdownStrings(rows)) : textTable(COLUMNS, rows));
        }
        return 0;
    },
};
