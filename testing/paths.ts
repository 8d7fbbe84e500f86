import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository root (testing/ lives directly below it). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Built fixtures are cached here (gitignored through `.cache/`). Override with HATAKE_FIXTURE_CACHE. */
export function fixtureCacheDir(): string {
  return process.env["HATAKE_FIXTURE_CACHE"] ?? join(REPO_ROOT, ".cache", "fixtures");
}

/** Logs worth keeping after a failure (a registry that did not start, debootstrap). Gitignored. */
export function testLogDir(): string {
  return process.env["HATAKE_TEST_LOGS"] ?? join(REPO_ROOT, ".cache", "logs");
}
