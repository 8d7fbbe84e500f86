import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import type { WorkerRef } from "../../solver/index.ts";
import type { RuntimeWorker } from "../worker/runtime-worker.ts";

const run = promisify(execFile);

/**
 * `-o type=local,dest=DIR` copies the result's files; `-o type=tar,dest=FILE` writes them as one tar
 * (sorted names, numeric owners). An empty result (`FROM scratch` with nothing added) gives an empty
 * directory or tar. `dest` is a path on the daemon's side.
 */
export async function exportFiles(
  worker: RuntimeWorker,
  ref: WorkerRef | undefined,
  out: { readonly type: "local" | "tar"; readonly dest: string },
  signal: AbortSignal,
): Promise<void> {
  const write = async (fsRoot: string | undefined): Promise<void> => {
    if (out.type === "local") {
      await mkdir(out.dest, { recursive: true });
      if (fsRoot !== undefined) await run("cp", ["-a", "--", `${fsRoot}/.`, out.dest], { signal });
      return;
    }
    await mkdir(dirname(out.dest), { recursive: true });
    if (fsRoot === undefined) await run("tar", ["-c", "-f", out.dest, "--files-from", "/dev/null"], { signal });
    else await run("tar", ["-c", "-f", out.dest, "--sort=name", "--numeric-owner", "-C", fsRoot, "."], { signal });
  };
  if (ref === undefined) return write(undefined);
  return worker.withView(ref.id, signal, write);
}
