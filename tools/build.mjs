// Bundles the product executables with esbuild: one ESM bundle per entry, code-split so a subcommand's
// code loads only when it runs (start-up cost: `hatake --version` must not load the builder).
// Native addons (better-sqlite3) and packages that load files relative to themselves stay external.
// So does ssh2 (and its deep import ssh2/lib/protocol/...): it tries its optional native parts
// (cpu-features, sshcrypto.node) in try/catch and, with them not built (allowScripts), runs pure JS.
//
//     node tools/build.mjs                         # dist/hatake.mjs and dist/docker-buildx.mjs
//     node tools/build.mjs --buildx-only --out DIR # DIR/dist/docker-buildx.mjs + DIR/bin/docker-buildx (tests)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const external = Object.keys(pkg.dependencies ?? {});
const argv = process.argv.slice(2);
const buildxOnly = argv.includes("--buildx-only");
const outRoot = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : ".";
const dist = join(outRoot, "dist");
// ESM bundles have no `require`; a few CommonJS dependencies call it for Node built-ins.
const banner = { js: "import { createRequire as __htkCreateRequire } from 'node:module'; const require = __htkCreateRequire(import.meta.url);" };

if (!buildxOnly) {
  await build({
    entryPoints: { hatake: "cli/main.ts" },
    outdir: dist,
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
    banner,
  });
}

// The docker CLI plugin `docker-buildx` (bin/docker-buildx starts it): its own bundle, code-split so a
// subcommand loads only when it runs, with its few dependencies bundled in (no module resolution at
// start-up). It runs for every `docker build`, so start-up is measured (bench: buildx-version).
const revision = (() => {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
})();
await build({
  entryPoints: { "docker-buildx": "buildx-plugin/main.ts" },
  outdir: dist,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  outExtension: { ".js": ".mjs" },
  chunkNames: "buildx-chunks/[name]-[hash]",
  logLevel: "warning",
  define: { __HATAKE_REVISION__: JSON.stringify(revision) },
  banner,
});
// `docker-cli-plugin-metadata`, answered by the launcher without starting Node (the CLI asks before
// every plugin run). Written by the bundle itself: one source of truth.
const metadata = execFileSync(process.execPath, [join(dist, "docker-buildx.mjs"), "docker-cli-plugin-metadata"], { encoding: "utf8" });
JSON.parse(metadata);
writeFileSync(join(dist, "docker-buildx.metadata.json"), metadata);
if (outRoot !== ".") {
  mkdirSync(join(outRoot, "bin"), { recursive: true });
  copyFileSync("bin/docker-buildx", join(outRoot, "bin", "docker-buildx"));
}
