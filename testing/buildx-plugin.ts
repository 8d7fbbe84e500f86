import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.ts";
import { runChecked } from "./process.ts";

let built: Promise<string> | undefined;

/**
 * The plugin as the set-up installs it, for end-to-end tests: `tools/build.mjs --buildx-only` bundles
 * it into a private folder (`bin/docker-buildx` + `dist/`; never the repository's dist/, which other
 * suites run from), once per test process.
 */
export function builtPlugin(): Promise<string> {
  built ??= (async () => {
    const out = mkdtempSync(join(tmpdir(), "htk-buildx-bundle-"));
    process.once("exit", () => rmSync(out, { recursive: true, force: true }));
    await runChecked(process.execPath, [join(REPO_ROOT, "tools", "build.mjs"), "--buildx-only", "--out", out], { cwd: REPO_ROOT, timeoutMs: 120_000 });
    return join(out, "bin", "docker-buildx");
  })();
  return built;
}

/** Links the built plugin into `<dockerConfig>/cli-plugins/docker-buildx`, as tools/up.sh does. */
export async function installPlugin(dockerConfig: string): Promise<void> {
  const launcher = await builtPlugin();
  mkdirSync(join(dockerConfig, "cli-plugins"), { recursive: true });
  symlinkSync(launcher, join(dockerConfig, "cli-plugins", "docker-buildx"));
}
