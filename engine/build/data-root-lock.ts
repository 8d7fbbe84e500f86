import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { htkError } from "../../base/errors/index.ts";
import { processAlive } from "../../base/process.ts";

/** The pid in a pid file when that process is alive and not this one. */
export async function liveOwner(pidFile: string): Promise<number | undefined> {
  const owner = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  return Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner) ? owner : undefined;
}

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
      const release = async (): Promise<void> => {
        await rm(file, { force: true });
      };
      // A daemon serving this data root owns its snapshots and containers: an in-process build beside
      // it would unmount the snapshots of its running containers and builds when it opens the stores.
      const engine = await liveOwner(join(dataRoot, "engine.pid"));
      if (engine !== undefined) {
        await release();
        throw htkError("HTK-BUILD-0006", { pid: engine, dataRoot });
      }
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number((await readFile(file, "utf8").catch(() => "")).trim());
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || !processAlive(owner)) {
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

