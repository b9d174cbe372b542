/**
 * Offline render: run the stack program against the engine stand-in and write what it would
 * create (README.md "The two commands"). Files are written through ./files: private keys 0600 in
 * 0700 folders, never through a link, the whole folder swapped in at the end.
 */
import * as path from "path";
import * as YAML from "yaml";
import { apicPayloads, apicUiPayloads } from "../pki/apic";
import * as crypto from "crypto";
import { APIC_UI_DIR, customerFacingCsrFile, PUBLIC_ROOTS_FILE } from "../inventory/planned";
import { APIC_UI_FILES } from "../config/values";
import * as pulumi from "@pulumi/pulumi";
import {
    EngineState,
    EngineStandIn,
    RecordedResource,
    runOptionsOf,
    runWithStandIn,
    RunOptions,
    stackOutputsOf,
} from "../engine/standIn";
import { INITIAL_RECORD, parseRecord, RotationRecord } from "../plan/caRotation";
import { offlineSeriesSpan, PkiPlan } from "../plan/plan";
import { RootSlot } from "../plan/hierarchy";
import { parseCrl } from "../pki/crl";
import { pemBlocks } from "../pki/pem";
import { buildPki, FrontEndOutputs, pendingSignaturesMessage, requestOfflineSignatures } from "../stack";
import { fileNameWithin, PENDING_FILE, PRIVATE_FILE as PRIVATE, PUBLIC_FILE as PUBLIC, StagedFolder } from "./files";
import { heapLimitBytes, heapShortfall } from "./heap";
import { Accounts } from "../files";
import { IssuedCertificate } from "../inventory/issued";
import { stackPictures } from "../inventory/pictures";

export interface RenderOptions extends RunOptions {
    /** Replace the content of a folder that holds an earlier render (nothing of it survives). */
    force?: boolean;
    /** The heap the render may use; default: this process's limit. */
    heapLimitBytes?: number;
    /**
     * Runs once the output is complete, before it is put in place: e.g. saving the state whose keys
     * signed it, so that a failed save leaves no output that the state cannot renew.
     */
    beforeCommit?: () => void;
    /**
     * Once the output is complete, delete from `state` every resource this render did not register,
     * as `pulumi up` deletes at the end of a successful update: the keys of removed endpoints and
     * of rotated or revoked certificates go, and what comes back gets a new key. A render that
     * fails or stops for offline signatures deletes nothing, as a failed update does not.
     */
    prune?: boolean;
    /** The system's users and groups as this render looked them up (one per render), for the checks of --out's path. */
    accounts?: Accounts;
    /** Told what the render removed before it began: staging folders that killed renders left beside the output. */
    warn?: (message: string) => void;
}

export interface RenderResult {
    engine: EngineStandIn;
    inventory: IssuedCertificate[];
    /** Every file written, relative to the output folder. */
    files: string[];
}

function kindOf(resource: RecordedResource): string {
    return String(resource.inputs.kind ?? resource.type.split(":").pop()).toLowerCase();
}

/** The manifest as Kubernetes would receive it: apiVersion, kind, then the object's fields. */
export function manifest(resource: RecordedResource): Record<string, unknown> {
    const [, group] = resource.type.split(":");
    const apiVersion = group.replace(/^core\//, "");
    const { apiVersion: _a, kind: _k, ...rest } = resource.inputs;
    return { apiVersion, kind: resource.type.split(":").pop(), ...rest };
}

/**
 * The rotation record the last render with this state left (a fresh state: every CA at generation 0);
 * a RecordError when the state's record is damaged.
 */
export function deployedRecordOf(state: EngineState): RotationRecord {
    const outputs = stackOutputsOf(state);
    // States of earlier versions call the record caRotation (lib/program.ts reads both too).
    const output = outputs.deploymentRecord === undefined ? "caRotation" : "deploymentRecord";
    const record = outputs[output];
    return record === undefined ? INITIAL_RECORD : parseRecord(record, output);
}

/**
 * The latest time a state says its renders ran at or after, and what says so: the notBefore of
 * each certificate it keeps (issued at its render's clock), and the times its deployment record
 * took from a render's clock (since when a position or client phase is deployed, since when the
 * mesh carries a CRL, each CA's last CRL's thisUpdate, never after its render's clock). Undefined
 * for a fresh state. The record keeps no time of the run itself (it changes only when what it
 * describes does), so this is the latest render's time at the earliest.
 */
export function latestRecordedTime(state: EngineState): { time: Date; what: string } | undefined {
    const record = deployedRecordOf(state);
    const times: [string, string | undefined][] = [
        // In key order: of certificates made at the same time, the message names the same one each run.
        ...[...state.entries()]
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([key, kept]): [string, string | undefined] => [
                `the notBefore of its certificate ${key.split("::")[1]}`,
                typeof kept.state.validityStartTime === "string" ? kept.state.validityStartTime : undefined,
            ]),
        ...Object.entries(record.positionsSince ?? {}).map(([slot, since]): [string, string | undefined] => [
            `its deployment record's positionsSince.${slot}`,
            since,
        ]),
        ...Object.entries(record.clientPhases ?? {}).map(([id, phase]): [string, string | undefined] => [
            `its deployment record's clientPhases.${id}.since`,
            phase.since,
        ]),
        ["its deployment record's meshCrlSince", record.meshCrlSince],
        ...Object.entries(record.crls ?? {}).map(([id, crl]): [string, string | undefined] => [
            `the thisUpdate of CA ${id}'s last CRL in its deployment record`,
            crl.thisUpdate,
        ]),
    ];
    let latest: { time: Date; what: string } | undefined;
    for (const [what, iso] of times) {
        const time = iso === undefined ? NaN : Date.parse(iso);
        if (!Number.isNaN(time) && (latest === undefined || time > latest.time.getTime()))
            latest = { time: new Date(time), what };
    }
    return latest;
}

/** Thrown after writing the CSRs when an offline root has not signed every intermediate yet. */
export class PendingSignaturesError extends Error {}

/**
 * Renders the plan into `outDir`. The stand-in's clock (certificates' notBefore) is the plan's
 * unless `options.now` says otherwise, so that one clock drives CRLs, the record and validity.
 */
export async function renderPlan(plan: PkiPlan, outDir: string, options: RenderOptions = {}): Promise<RenderResult> {
    const clocked: RenderOptions = { ...options, now: options.now ?? (() => plan.now) };
    const shortfall = heapShortfall(
        plan.endpoints.length,
        plan.config.option,
        options.heapLimitBytes ?? heapLimitBytes(),
    );
    if (shortfall !== undefined) throw new Error(shortfall);
    const folder = StagedFolder.open(outDir, {
        force: options.force === true,
        warn: options.warn,
        accounts: options.accounts,
        environment: plan.config.environment,
    });
    try {
        const result = await renderInto(plan, folder, clocked);
        if (options.prune === true) result.engine.deleteUnregistered();
        options.beforeCommit?.();
        folder.commit();
        return result;
    } catch (error) {
        if (error instanceof PendingSignaturesError) {
            options.beforeCommit?.();
            folder.commit();
        }
        throw error;
    } finally {
        // The unfinished render, unless it was put in place; and the output folder's lock.
        folder.discard();
    }
}

async function renderInto(plan: PkiPlan, folder: StagedFolder, options: RenderOptions): Promise<RenderResult> {
    const outDir = folder.target;
    if (plan.pendingIntermediates.length > 0) {
        const { outputs } = await runWithStandIn(() => requestOfflineSignatures(plan), runOptionsOf(options));
        for (const id of plan.pendingIntermediates) {
            folder.write(`csr/${id}.csr`, outputs.intermediateCsrs[id], PUBLIC);
        }
        // Which environment these CSRs are of: render --force from another stack's environment is
        // refused on it, as on a finished render's inventory.json (files.ts).
        const pending = { environment: plan.config.environment, unsigned: [...plan.pendingIntermediates] };
        folder.write(PENDING_FILE, JSON.stringify(pending, null, 2) + "\n", PUBLIC);
        throw new PendingSignaturesError(
            `${pendingSignaturesMessage(plan)}\nCSRs written to ${path.join(outDir, "csr")}`,
        );
    }
    const { engine, outputs } = await runWithStandIn(() => {
        const stack = buildPki(plan);
        return {
            outputs: stack.outputs,
            // Kept in the state like a stack output: the next render with it reads this record back.
            deploymentRecord: stack.outputs.deploymentRecord,
        };
    }, runOptionsOf(options));

    for (const object of engine.kubernetesObjects()) {
        const metadata = (object.inputs.metadata ?? {}) as { name?: string; namespace?: string };
        const cluster = object.providerName ?? "default";
        const name = fileNameWithin(`${kindOf(object)}-${metadata.name ?? object.name}`, ".yaml");
        const file = `k8s/${cluster}/${metadata.namespace ?? "_cluster"}/${name}`;
        folder.write(
            file,
            YAML.stringify(manifest(object)),
            object.type === "kubernetes:core/v1:Secret" ? PRIVATE : PUBLIC,
        );
    }

    const bundles = outputs.outputs.apicBundles;
    for (const [id, bundle] of Object.entries(bundles)) {
        folder.write(`apic/${id}/client.crt`, bundle.certPem, PUBLIC);
        folder.write(`apic/${id}/client.key`, bundle.privateKeyPem, PRIVATE);
        folder.write(`apic/${id}/ca-chain.pem`, bundle.caChainPem, PUBLIC);
        folder.write(`apic/${id}/truststore.pem`, bundle.truststorePem, PUBLIC);
        if (bundle.truststoreCrlPem !== undefined)
            folder.write(`apic/${id}/truststore.crl`, bundle.truststoreCrlPem, PUBLIC);
        folder.write(`apic/${id}/client.p12`, Buffer.from(bundle.pkcs12Base64, "base64"), PRIVATE);
        folder.write(`apic/${id}/client.p12.password`, bundle.pkcs12Password, PRIVATE);
        const payloads = apicPayloads({
            environment: plan.config.environment,
            endpointId: id,
            host: bundle.host,
            certPem: bundle.certPem,
            chainPem: bundle.caChainPem,
            keyPem: bundle.privateKeyPem,
            truststorePem: bundle.truststorePem,
        });
        folder.write(`apic/${id}/keystore.json`, JSON.stringify(payloads.keystore, null, 2) + "\n", PRIVATE);
        folder.write(`apic/${id}/truststore.json`, JSON.stringify(payloads.truststore, null, 2) + "\n", PUBLIC);
        folder.write(
            `apic/${id}/tls-client-profile.json`,
            JSON.stringify(payloads.tlsClientProfile, null, 2) + "\n",
            PUBLIC,
        );
    }

    writeFrontEnd(folder, plan, outputs.outputs.frontEnd);
    // The deployment record, as `pulumi stack output deploymentRecord` gives it: what lifecycle reads.
    folder.write("deployment.json", JSON.stringify(outputs.deploymentRecord, null, 2) + "\n", PUBLIC);
    const inventory = outputs.outputs.inventory;
    folder.write(
        "inventory.json",
        JSON.stringify(
            {
                environment: plan.config.environment,
                option: plan.config.option,
                certificates: inventory,
                crlSeries: offlineCrlSeries(plan),
            },
            null,
            2,
        ) + "\n",
        PUBLIC,
    );
    // The CRL bars show the period of the CRLs this render signed: the plan's clock, not a second reading.
    const pictures = stackPictures(plan, plan.now, inventory);
    folder.write("trust.mmd", pictures.trust, PUBLIC);
    folder.write("timeline.mmd", pictures.timeline, PUBLIC);
    return { engine, inventory, files: folder.files };
}

/** An offline root's CRL series as inventory.json records it: what expiry watches besides the files. */
export interface RecordedCrlSeries {
    /** Where the series is configured: pki:offlineRoots.<slot>.crls. */
    readonly key: string;
    /** The root's common name, as its CRLs name their issuer. */
    readonly issuer: string;
    /** The first CRL's thisUpdate. */
    readonly from: string;
    /**
     * When the stack, from the render's clock on, first has no CRL of the root to publish (a gap, or a
     * CRL lacking a revocation it requires, ends the series early): a ceremony signs a new series by then.
     */
    readonly ends: string;
}

/** The CRL series of the offline roots whose CRLs the stack publishes (render refuses a plan lacking one). */
function offlineCrlSeries(plan: PkiPlan): RecordedCrlSeries[] {
    return (Object.keys(plan.config.offlineRoots) as RootSlot[]).flatMap((slot) => {
        const root = plan.cas.find((c) => c.role === "root" && c.slot === slot);
        const published = root === undefined ? undefined : plan.crls.offlineRootCrls[root.id];
        const span = offlineSeriesSpan(plan, slot);
        if (root === undefined || published === undefined || span === undefined) return [];
        return [
            {
                key: `pki:offlineRoots.${slot}.crls`,
                issuer: parseCrl(published).issuerCommonName ?? root.id,
                from: span.from.toISOString(),
                ends: span.ends.toISOString(),
            },
        ];
    });
}

/**
 * The front end's files: APIC's UI-facing TLS server profiles (truststore, keystores issued here,
 * payloads: one profile per APIC host) under apic/ui/, the CSRs of the customer-facing hosts
 * under front-end/csr/, and the public roots they are checked against (PUBLIC_ROOTS_FILE). The UI services' Secrets and DestinationRules are Kubernetes objects (k8s/...).
 */
function writeFrontEnd(folder: StagedFolder, plan: PkiPlan, frontEnd: pulumi.Unwrap<FrontEndOutputs>): void {
    const { apic } = frontEnd;
    if (apic.truststorePem !== undefined) {
        folder.write(`${APIC_UI_DIR}/${APIC_UI_FILES.truststorePem}`, apic.truststorePem, PUBLIC);
        if (apic.truststoreCrlPem !== undefined)
            folder.write(`${APIC_UI_DIR}/${APIC_UI_FILES.truststoreCrl}`, apic.truststoreCrlPem, PUBLIC);
        for (const [host, server] of Object.entries(apic.servers)) {
            folder.write(`${APIC_UI_DIR}/${host}/server.crt`, server.certPem, PUBLIC);
            folder.write(`${APIC_UI_DIR}/${host}/ca-chain.pem`, server.caChainPem, PUBLIC);
            folder.write(`${APIC_UI_DIR}/${host}/server.key`, server.privateKeyPem, PRIVATE);
        }
        const payloads = apicUiPayloads({
            environment: plan.config.environment,
            truststorePem: apic.truststorePem,
            hosts: plan.config.frontEnd.apicHosts,
            servers: Object.fromEntries(
                Object.entries(apic.servers).map(([host, s]) => [
                    host,
                    { certPem: s.certPem, chainPem: s.caChainPem, keyPem: s.privateKeyPem },
                ]),
            ),
        });
        const json = (value: unknown): string => JSON.stringify(value, null, 2) + "\n";
        folder.write(`${APIC_UI_DIR}/${APIC_UI_FILES.truststoreJson}`, json(payloads.truststore), PUBLIC);
        for (const [host, profile] of Object.entries(payloads.tlsServerProfiles)) {
            folder.write(`${APIC_UI_DIR}/${host}/tls-server-profile.json`, json(profile), PUBLIC);
        }
        for (const [host, keystore] of Object.entries(payloads.keystores)) {
            folder.write(`${APIC_UI_DIR}/${host}/keystore.json`, json(keystore), PRIVATE);
        }
    }
    for (const [host, csr] of Object.entries(frontEnd.customerFacingCsrs)) {
        folder.write(customerFacingCsrFile(host), csr, PUBLIC);
    }
    // The certificates alone, as PEM: whatever else the config's text holds is not for a monitoring job.
    const publicRoots = plan.config.frontEnd.publicRoots;
    if (publicRoots !== undefined) {
        const certificates = pemBlocks(publicRoots, "CERTIFICATE").map((pem) =>
            new crypto.X509Certificate(pem).toString(),
        );
        folder.write(PUBLIC_ROOTS_FILE, certificates.join(""), PUBLIC);
    }
}
