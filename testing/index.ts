import { afterAll, inject, onTestFinished } from "vitest";
import type { HarnessFixtures } from "./provided.ts";
import { makeTempDir, removeTree } from "./temp.ts";
import "./provided.ts";

/**
 * Helpers for test files. Import from test files only (this module registers vitest hooks).
 *
 *     import { fixtures, tempDir, run } from "../testing/index.ts";
 *     const { registry, busybox } = fixtures();   // `real` project only
 */

export type { HarnessFixtures, PushedBusybox } from "./provided.ts";
export type { RegistryInfo, AuthRegistryInfo, RunningRegistry, RegistryOptions } from "./registry.ts";
export type { BusyboxFixture } from "./busybox-image.ts";
export { run, runChecked, freePort, describeExit, startService, type RunOptions, type RunResult, type Service, type ServiceOptions } from "./process.ts";
export { startRegistry } from "./registry.ts";
export { skopeoCopy, type SkopeoCopyOptions } from "./skopeo.ts";
export { crun, crunCommand, crunNeedsHybridCgroupWorkaround, createBundle, runBundle, type BundleOptions } from "./crun.ts";
export { PROGRAMS, findProgram, requireProgram, requirePrograms, type RequiredProgram } from "./system.ts";
export { removeTree } from "./temp.ts";
export { startGitServer, type GitServer, type TestRepo } from "./git-server.ts";
export { fixtureCacheDir, REPO_ROOT } from "./paths.ts";

/**
 * What global set-up provides: the registries, the pushed busybox image, the fixture cache. Only in
 * the `real` project (`*.e2e.test.ts`); the values are plain JSON, the same for every test file.
 */
export function fixtures(): HarnessFixtures {
  return {
    registry: inject("registry"),
    authRegistry: inject("authRegistry"),
    busybox: inject("busybox"),
    fixtureCacheDir: inject("fixtureCacheDir"),
  };
}

// Folders made outside a running test (in beforeAll, at collection) are removed after the file.
const fileScoped = new Set<string>();
try {
  afterAll(async () => {
    for (const dir of fileScoped) await removeTree(dir);
    fileScoped.clear();
  });
} catch {
  // Imported outside a test file: no hooks; such folders are swept by the next global set-up.
}

/**
 * A fresh temporary folder, removed automatically: after the current test when called inside one,
 * else after the test file. Anything mounted below it is unmounted first.
 */
export async function tempDir(label = "tmp"): Promise<string> {
  const dir = await makeTempDir(label);
  try {
    onTestFinished(() => removeTree(dir));
  } catch {
    fileScoped.add(dir);
  }
  return dir;
}
export { builtPlugin, installPlugin } from "./buildx-plugin.ts";
