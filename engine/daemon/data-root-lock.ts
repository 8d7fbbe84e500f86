import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { processAlive } from "../../base/process.ts";

const heldHere = new Set<string>();

/** An exclusive claim on a data root, held for the daemon's life. */
export interface DataRootLock {
  readonly path: string;
  release(): void;
}

/**
 * Claims `<dataRoot>/engine.pid` with O_EXCL. A file left by a dead process (kill -9) is stale and taken
 * over; a live owner means a second daemon, which is refused (HTK-ENGINE-0001) — two engines on one
 * data root would corrupt each other's state.
 */
export function lockDataRoot(dataRoot: string): DataRootLock {
  mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  const path = join(dataRoot, "engine.pid");
  // The pid file cannot tell two engines of one process apart (tests run several): remember our own.
  if (heldHere.has(path)) throw htkError("HTK-ENGINE-0001", { pid: process.pid, dataRoot });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      // An in-process `hatake build --data-root` on this root: the engine's start-up recovery would
      // unmount the snapshots under its running steps.
      const builder = pidIn(join(dataRoot, "build.lock"));
      if (builder !== undefined && builder !== process.pid && processAlive(builder)) {
        unlinkSync(path);
        throw htkError("HTK-ENGINE-0005", { pid: builder, dataRoot });
      }
      let released = false;
      heldHere.add(path);
      return {
        path,
        release() {
          if (released) return;
          released = true;
          heldHere.delete(path);
          try {
            if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw htkError("HTK-ENGINE-0001", { pid: owner, dataRoot });
      }
      try {
        unlinkSync(path);
      } catch {
        // Another starter removed it first; the next O_EXCL attempt decides who wins.
      }
    }
  }
  throw htkError("HTK-ENGINE-0001", { pid: "unknown", dataRoot });
}

function pidIn(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

