import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { OpenResult, Workload } from "../types.ts";

/** Wall time of `hatake --version` in a new process: the floor every CLI invocation pays. */
export const cliStartup: Workload = {
  name: "cli-startup",
  description: "hatake --version, a new Node process each time",
  metrics: [{ name: "wall", unit: "ms", better: "lower" }],
  runs: 10,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "a client start-up figure, not an engine one" };
    const bin = join(ctx.repo, "bin", "hatake");
    return {
      kind: "ready",
      session: {
        async sample() {
          const t = performance.now();
          const r = spawnSync(process.execPath, [bin, "--version"], { encoding: "utf8" });
          const wall = performance.now() - t;
          if (r.status !== 0) throw new Error(`hatake --version exited ${r.status}: ${r.stderr}`);
          return { wall };
        },
        async close() {},
      },
    };
  },
};
