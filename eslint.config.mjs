import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["**/dist/", "out/", "node_modules/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        rules: {
            "@typescript-eslint/no-unused-vars": ["error", { varsIgnorePattern: "^_", argsIgnorePattern: "^_" }],
            "no-new": "off",
        },
    },
    {
        // Node scripts of the repository (ES modules).
        files: ["scripts/**/*.mjs"],
        languageOptions: { globals: { console: "readonly", process: "readonly" } },
    },
    {
        // The pull-request comment script, run by actions/github-script, and Mocha's configuration (CommonJS, Node).
        files: [".github/scripts/**/*.js", ".mocharc.js"],
        languageOptions: {
            sourceType: "commonjs",
            globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly" },
        },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
