// Lint gates CI. The type-aware rules are the ones that keep the runtime promises of the design:
// no floating or misused promises (no unhandled rejection), type-only imports kept apart, and no
// default exports (one public index.ts per folder, named exports only).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", ".cache/**", "**/gen/**", "desktop/dist/**", "bench/results/**"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.tsx", "**/*.mts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-restricted-syntax": ["error", { selector: "ExportDefaultDeclaration", message: "Use named exports (house style)." }],
    },
  },
  {
    // Config files of tools that require a default export.
    files: ["vitest.config.ts", "eslint.config.js", "**/vite.config.ts"],
    rules: { "no-restricted-syntax": "off" },
  },
);
