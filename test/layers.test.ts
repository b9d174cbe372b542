import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ROOT, tempDir } from "./helpers";

/** The compiled package, as it ships: dist/lib. */
const DIST_LIB = path.join(ROOT, "dist", "lib");

/** Modules that run the engine stand-in by design: the render and its CLI command (and a future testing entry). */
const STAND_IN_USERS = new Set(["render/render.js", "render/inventory.js", "cli/render.js", "testing.js"]);
/** The CLI's entry point dispatches to render; that edge is the only way it may reach the stand-in. */
const ALLOWED_EDGES = new Set(["cli/main.js -> cli/render.js"]);

const isEngine = (module: string): boolean => module.startsWith("engine/");

function modulesBelow(dir: string, prefix = ""): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) =>
            e.isDirectory()
                ? modulesBelow(path.join(dir, e.name), `${prefix}${e.name}/`)
                : e.name.endsWith(".js")
                  ? [`${prefix}${e.name}`]
                  : [],
        );
}

/** The package-internal modules a compiled module requires or imports when it runs (paths relative to dist/lib). */
function internalRequires(libDir: string, module: string): string[] {
    const source = fs.readFileSync(path.join(libDir, module), "utf8");
    return [...source.matchAll(/(?:require|import)\("(\.{1,2}\/[^"]+)"\)/g)].map((match) => {
        const target = path.join(path.dirname(module), match[1]);
        if (target.endsWith(".js")) return target;
        return fs.existsSync(path.join(libDir, `${target}.js`)) ? `${target}.js` : `${target}/index.js`;
    });
}

/** For each production module that reaches lib/engine, one import chain that does. */
function standInReaches(libDir: string): { modules: string[]; edges: Set<string>; violations: string[] } {
    const modules = modulesBelow(libDir);
    const graph = new Map(modules.map((m) => [m, internalRequires(libDir, m)]));
    const edges = new Set([...graph].flatMap(([from, tos]) => tos.map((to) => `${from} -> ${to}`)));
    const violations: string[] = [];
    for (const start of modules.filter((m) => !isEngine(m) && !STAND_IN_USERS.has(m))) {
        const chainTo = new Map<string, string[]>([[start, [start]]]);
        const queue = [start];
        for (let module = queue.shift(); module !== undefined; module = queue.shift()) {
            const chain = chainTo.get(module) ?? [];
            if (isEngine(module)) {
                violations.push(chain.join(" -> "));
                break;
            }
            for (const next of graph.get(module) ?? []) {
                if (chainTo.has(next) || ALLOWED_EDGES.has(`${module} -> ${next}`)) continue;
                chainTo.set(next, [...chain, next]);
                queue.push(next);
            }
        }
    }
    return { modules, edges, violations };
}

describe("Layers: no production module reaches the engine stand-in", () => {
    it("finds no import chain from lib/config, plan, pki, components, stack, program, inventory or cli (but render) to lib/engine", () => {
        const { violations } = standInReaches(DIST_LIB);
        assert.deepStrictEqual(violations, []);
    });

    it("walks the real graph: every production layer, and the edges it must see, the stand-in's own included", () => {
        const { modules, edges } = standInReaches(DIST_LIB);
        for (const module of ["config/validate.js", "plan/plan.js", "pki/crl.js", "components/rootCa.js", "stack.js"])
            assert.ok(modules.includes(module), module);
        for (const module of ["program.js", "inventory/planned.js", "cli/expiry.js", "index.js"])
            assert.ok(modules.includes(module), module);
        for (const edge of [
            "stack.js -> pki/crl.js",
            "components/apicClientBundle.js -> pki/pkcs12.js",
            "cli/main.js -> cli/render.js",
            "cli/render.js -> render/render.js",
            "render/render.js -> engine/standIn.js",
            "engine/tlsProvider.js -> engine/x509.js",
        ])
            assert.ok(edges.has(edge), edge);
    });

    it("reports the chain when a production module imports the stand-in (a planted import in a copy)", () => {
        const copy = path.join(tempDir("layers"), "lib");
        fs.cpSync(DIST_LIB, copy, { recursive: true });
        fs.appendFileSync(path.join(copy, "pki/pem.js"), '\nrequire("../engine/der");\n');
        const { violations } = standInReaches(copy);
        assert.ok(violations.includes("pki/pem.js -> engine/der.js"), violations.join("\n"));
        assert.ok(violations.includes("cli/expiry.js -> pki/pem.js -> engine/der.js"), violations.join("\n"));
    });
});
