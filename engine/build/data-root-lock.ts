import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * One build process at a time per data root: opening the snapshot stores recovers from crashes by
 * unmounting and discarding every active snapshot under the root, which would pull the ground from
 * under a concurrent build. A pid file (`<data-root>/build.lock`); a stale one (its process is gone) is
 * taken over. Waits, saying so once through `notice`, until the other build ends or `signal` aborts.
 */
export async function lockDataRoot(dataRoot: string, signal: AbortSignal, notice: (line: string) => void): Promise<() => Promise<void>> {
  const file = join(dataRoot, "build.lock");
  let told = false;
  for (;;) {
    signal.throwIfAborted();
    try {
      const fh = await open(file, "wx", 0o600);
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      return async () => {
        await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || !alive(owner)) {
      await rm(file, { force: true });
      continue;
    }
    if (!told) {
      notice(`hatake build: waiting for another build on ${dataRoot} (pid ${owner})`);
      told = true;
    }
    await sleep(200, undefined, { signal });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
