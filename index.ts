/**
 * The source entry of the package for Pulumi's component-provider support (`pulumi package add`,
 * PulumiPlugin.yaml): its schema inference reads the TypeScript of package.json `main`, which is
 * compiled (dist/lib/index.js) and has no `.ts` beside it, so it falls back to this file.
 */
export * from "./lib";
