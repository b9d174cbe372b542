// Mocha's configuration. The suite runs in two parallel workers (these machines have two cores),
// heaviest files first: a long file started last would leave one core idle at the end.
// `npm run test:package` runs dist/test/package.test.js on its own (it installs the packed tarball).
const fs = require("fs");
const path = require("path");
const { makeRunTempRoot, RUN_TEMP_VARIABLE } = require("./dist/test/runTemp.js");

/** This suite's run: every test file, in an order that keeps both workers busy. */
function suite() {
    // One temp folder for the whole run (test/runTemp.ts), made here in mocha's main process and
    // removed as it exits: a worker's own exit handler does not always run before the pool ends it.
    if (process.env[RUN_TEMP_VARIABLE] === undefined) process.env[RUN_TEMP_VARIABLE] = makeRunTempRoot();

    const HEAVIEST_FIRST = [
        "dist/test/lifecycleSimulation.test.js",
        "dist/test/trust.test.js",
        "dist/test/lifecycleFrontEnd.test.js",
        "dist/test/files.test.js",
        "dist/test/chains.test.js",
        "dist/test/rotation.test.js",
        "dist/test/ceremony.test.js",
        "dist/test/caRotation.test.js",
    ];

    // playwright-core (the pictures' browser) starts an AsyncLocalStorage, which makes every promise
    // after it in that worker slower (about 7 % for the stand-in's runs): its file runs last.
    const LAST = ["dist/test/pictures.test.js"];

    const testFiles = (dir) =>
        fs.existsSync(dir)
            ? fs
                  .readdirSync(dir)
                  .filter((name) => name.endsWith(".test.js"))
                  .map((name) => path.posix.join(dir, name))
            : [];
    const examples = fs.readdirSync("examples").flatMap((example) => testFiles(`examples/${example}/dist`));
    const all = [...testFiles("dist/test"), ...examples].filter((file) => file !== "dist/test/package.test.js");

    return {
        spec: [
            ...HEAVIEST_FIRST.filter((file) => all.includes(file)),
            ...all.filter((file) => !HEAVIEST_FIRST.includes(file) && !LAST.includes(file)),
            ...LAST.filter((file) => all.includes(file)),
        ],
        // Root hooks in every worker (test/mochaHooks.ts): a failure a Pulumi resource rides on stays readable.
        require: ["dist/test/mochaHooks.js"],
        parallel: true,
        // A larger young generation: the stand-in allocates much short-lived data; fewer scavenges.
        "node-option": ["max-semi-space-size=64"],
        jobs: 2,
        timeout: 60000,
        slow: 2000,
        reporter: "spec",
    };
}

// Mocha looks for this file in the folders above the one it runs in: from another folder (the
// README's `npx mocha dist/index.test.js` in examples/own-pki, a project of its own) it is not
// this suite's run, and mocha's defaults apply.
module.exports = fs.realpathSync(process.cwd()) === __dirname ? suite() : {};
