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
        // The pull-request comment script, run by actions/github-script (CommonJS, Node).
        files: [".github/scripts/**/*.js"],
        languageOptions: {
            sourceType: "commonjs",
            globals: { require: "readonly", module: "writable", process: "readonly" },
        },
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
