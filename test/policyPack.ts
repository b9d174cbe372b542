/** The policy pack run as a real Pulumi CLI runs it: a process serving the analyzer over gRPC. */
import { spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
    AnalyzeRequest,
    AnalyzeResponse,
    AnalyzerInfo,
    AnalyzerResourceOptions,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

/**
 * The pack at `folder` started as the Pulumi CLI starts a Node.js pack (the run-policy-pack of
 * `project`'s @pulumi/pulumi, in the pack's folder, printing its gRPC port), asked over gRPC what
 * it serves and to analyze a tls.PrivateKey of RSA 1024; then stopped.
 */
export async function servedPolicyPack(
    folder: string,
    project: string,
): Promise<{
    name: string;
    version: string;
    policies: string[];
    weakKeyDiagnostics: { policy: string; level: string; message: string }[];
}> {
    const runner = path.join(project, "node_modules/@pulumi/pulumi/cmd/run-policy-pack");
    const child = spawn(process.execPath, [runner, "127.0.0.1:0", "."], {
        cwd: folder,
        stdio: ["ignore", "pipe", "pipe"],
    });
    try {
        const port = await new Promise<string>((resolve, reject) => {
            let out = "";
            let err = "";
            child.stdout.on("data", (chunk) => {
                out += chunk;
                const printed = /^(\d+)\n/.exec(out);
                if (printed !== null) resolve(printed[1]);
            });
            child.stderr.on("data", (chunk) => (err += chunk));
            child.on("exit", (code) => reject(new Error(`the pack exited (${code}) before serving: ${err}`)));
        });
        const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        try {
            const info = await new Promise<AnalyzerInfo>((resolve, reject) =>
                client.getAnalyzerInfo(new Empty(), (error, reply) => (error ? reject(error) : resolve(reply))),
            );
            const request = new AnalyzeRequest();
            request.setType("tls:index/privateKey:PrivateKey");
            request.setName("ob-apic-client-key");
            request.setUrn("urn:pulumi:dev::apic-istio-pki::tls:index/privateKey:PrivateKey::ob-apic-client-key");
            request.setProperties(Struct.fromJavaScript({ algorithm: "RSA", rsaBits: 1024 }));
            request.setOptions(new AnalyzerResourceOptions());
            const analyzed = await new Promise<AnalyzeResponse>((resolve, reject) =>
                client.analyze(request, (error, reply) => (error ? reject(error) : resolve(reply))),
            );
            const levels = ["advisory", "mandatory", "disabled", "remediate"];
            return {
                name: info.getName(),
                version: info.getVersion(),
                policies: info.getPoliciesList().map((p) => p.getName()),
                weakKeyDiagnostics: analyzed.getDiagnosticsList().map((d) => ({
                    policy: d.getPolicyname(),
                    level: levels[d.getEnforcementlevel()],
                    message: d.getMessage(),
                })),
            };
        } finally {
            client.close();
        }
    } finally {
        child.kill();
    }
}
