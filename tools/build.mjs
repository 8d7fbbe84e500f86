// Bundles the product executables with esbuild: one ESM bundle per entry, code-split so a subcommand's
// code loads only when it runs (start-up cost: `hatake --version` must not load the builder).
// Native addons (better-sqlite3) and packages that load files relative to themselves stay external.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const external = Object.keys(pkg.dependencies ?? {});

await build({
  entryPoints: { hatake: "cli/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  external,
  logLevel: "warning",
  // ESM bundles have no `require`; a few CommonJS dependencies call it for Node built-ins.
  banner: { js: "import { createRequire as __htkCreateRequire } from 'node:module'; const require = __htkCreateRequire(import.meta.url);" },
});
