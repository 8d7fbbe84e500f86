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
import { copyFileSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
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
// The plugin's V8 start-up snapshot (buildx-plugin/snapshot-main.ts): the same code as one CommonJS
// bundle, evaluated once here with `node --build-snapshot`, so a `docker build` starts from a heap with
// its modules loaded. A snapshot works only with the node binary that made it: the launcher compares
// that binary (size and mtime: docker-buildx.blob.node) with the one it finds, and otherwise starts
// the ES module bundle. A node that cannot make one leaves no blob (the bundle is used).
const blob = join(dist, "docker-buildx.blob");
rmSync(blob, { force: true });
rmSync(`${blob}.node`, { force: true });
await build({
  entryPoints: { "docker-buildx.snapshot": "buildx-plugin/snapshot-main.ts" },
  outdir: dist,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  outExtension: { ".js": ".cjs" },
  logLevel: "warning",
  define: { __HATAKE_REVISION__: JSON.stringify(revision) },
});
try {
  execFileSync(process.execPath, ["--no-warnings", "--snapshot-blob", blob, "--build-snapshot", join(dist, "docker-buildx.snapshot.cjs")], { stdio: ["ignore", "ignore", "pipe"] });
  const st = statSync(realpathSync(process.execPath));
  writeFileSync(`${blob}.node`, `${st.size} ${Math.floor(st.mtimeMs / 1000)}\n`);
} catch (err) {
  rmSync(blob, { force: true });
  process.stderr.write(`docker-buildx: no start-up snapshot (${String(err.stderr ?? err.message).trim().split("\n").pop()}); the plugin starts from its bundle\n`);
}
// `docker-cli-plugin-metadata`, answered by the launcher without starting Node (the CLI asks before
// every plugin run). Written by the bundle itself: one source of truth.
const metadata = execFileSync(process.execPath, [join(dist, "docker-buildx.mjs"), "docker-cli-plugin-metadata"], { encoding: "utf8" });
JSON.parse(metadata);
writeFileSync(join(dist, "docker-buildx.metadata.json"), metadata);
if (outRoot !== ".") {
  mkdirSync(join(outRoot, "bin"), { recursive: true });
  copyFileSync("bin/docker-buildx", join(outRoot, "bin", "docker-buildx"));
}
