// `npm test` after the build: the linters and the suite at once, so that the linters fill the
// moments the suite's two workers wait on openssl, Chromium or a CLI. The suite reports as it goes;
// the linters' output follows it. Exit status: 0 only when all three passed.
import { spawn } from "node:child_process";

function run(command, args, { show }) {
    return new Promise((resolve) => {
        const child = spawn(command, args, { stdio: show ? "inherit" : ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout?.on("data", (chunk) => (output += chunk));
        child.stderr?.on("data", (chunk) => (output += chunk));
        child.on("error", (error) => resolve({ command, status: 1, output: `${error.message}\n` }));
        child.on("close", (status) => resolve({ command, status: status ?? 1, output }));
    });
}

const [suite, ...linters] = await Promise.all([
    // No core files: the ceremony refuses to take a root key's passphrase in a process that may dump one.
    run("sh", ["-c", "ulimit -S -c 0 && exec mocha"], { show: true }),
    run("eslint", ["--cache", "--cache-strategy", "content", "--cache-location", "node_modules/.cache/eslint/", "."], {
        show: false,
    }),
    run("prettier", ["--check", "--cache", "--log-level", "warn", "."], { show: false }),
]);
for (const linter of linters) {
    if (linter.status === 0) console.log(`${linter.command}: clean`);
    else process.stdout.write(`${linter.command} failed (exit ${linter.status}):\n${linter.output}`);
}
process.exitCode = [suite, ...linters].every((result) => result.status === 0) ? 0 : 1;
