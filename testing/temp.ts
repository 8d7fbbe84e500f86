import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { processAlive } from "../base/process.ts";
import { run } from "./process.ts";

/**
 * Temporary folders of the harness are named `htk-test-<pid>-…` under the system temp folder. The pid
 * lets the next run remove what a crashed run left behind (`sweepStaleTempDirs`), without touching
 * the folders of a run that is still going (other engineers share this machine).
 */
const PREFIX = "htk-test-";

export async function makeTempDir(label = "tmp", parent: string = tmpdir()): Promise<string> {
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 40);
  return mkdtemp(join(parent, `${PREFIX}${process.pid}-${safe}-`));
}

async function mountPointsUnder(dir: string): Promise<string[]> {
  const root = resolve(dir);
  const text = await readFile("/proc/self/mounts", "utf8");
  return text
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    // /proc/self/mounts escapes spaces and friends as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === root || p.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * `rm -rf`, but first unmount anything mounted below `dir` (debootstrap mounts /proc and /sys in its
 * target; a crashed run can leave them). Refuses to remove a tree that still has mounts, because
 * removing through a bind mount would delete the host's files.
 */
export async function removeTree(dir: string): Promise<void> {
  for (const mountPoint of await mountPointsUnder(dir)) {
    await run("umount", ["-l", mountPoint], { timeoutMs: 10_000 });
  }
  const left = await mountPointsUnder(dir);
  if (left.length > 0) throw new Error(`not removing ${dir}: still mounted below it: ${left.join(", ")}`);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Remove `htk-test-<pid>-*` folders (and files) under `parent` whose process is gone. Returns what was removed. */
export async function sweepStaleTempDirs(parent: string = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^htk-test-(\d+)-/.exec(name);
    if (m === null || processAlive(Number(m[1]))) continue;
    try {
      await removeTree(join(parent, name));
      removed.push(name);
    } catch {
      // Leave it; the next sweep tries again, and a tree with mounts is better left alone.
    }
  }
  return removed;
}
