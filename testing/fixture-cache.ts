import { chmod, mkdir, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, removeTree } from "./temp.ts";

/**
 * A cache entry is a folder `<cacheDir>/<name>/` with a `fixture.json` describing it. Builders write
 * into a staging folder next to it and rename it into place, so a reader never sees a half-built
 * fixture and two test runs building at the same time (engineers share the working tree) do not
 * collide: the second rename fails and that run uses the winner's copy.
 */

export async function readCacheMeta<T>(dir: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, "fixture.json"), "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build into a fresh staging folder with `build(stagingDir)` (which must write `fixture.json` last)
 * and publish it as `finalDir`, replacing a stale one.
 */
export async function publishCacheEntry(finalDir: string, build: (stagingDir: string) => Promise<void>): Promise<void> {
  const parent = join(finalDir, "..");
  await mkdir(parent, { recursive: true });
  const staging = await makeTempDir("staging", parent);
  try {
    await build(staging);
    // mkdtemp makes 0700 folders; the cache is meant to be readable (e.g. by a rootless engine).
    await chmod(staging, 0o755);
    if (await exists(finalDir)) {
      const trash = await makeTempDir("trash", parent);
      try {
        await rename(finalDir, join(trash, "old"));
      } catch {
        // Someone else moved it first; fine.
      }
      await removeTree(trash);
    }
    try {
      await rename(staging, finalDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another run published first; theirs is as good as ours.
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    }
  } finally {
    await removeTree(staging).catch(() => undefined);
  }
}
