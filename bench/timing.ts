import { spawn } from "node:child_process";
import { join } from "node:path";

/** The wall-clock timing every workload shares: a program run to its end, or an async step. */

export interface TimedSpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  /** How the failure names the command ("docker build …"); default the program and its first argument. */
  readonly label?: string;
}

/**
 * Runs a program to its end and resolves with its wall time in ms; a non-zero exit rejects with the
 * last lines of its stderr (only the last 4,000 characters are kept). stdout is ignored.
 */
export function timedSpawn(program: string, args: readonly string[], opts: TimedSpawnOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(program, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "ignore", "pipe"], signal: opts.signal });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString("utf8")).slice(-4000)));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code === 0) resolve(performance.now() - t);
      else reject(new Error(`${opts.label ?? [program, ...args.slice(0, 1)].join(" ")} exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" / ")}`));
    });
  });
}

/** `docker <args>` against the engine of `env`, timed. */
export function timedDocker(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<number> {
  return timedSpawn("docker", args, { cwd, env, signal, label: `docker ${args.join(" ")}` });
}

/** `hatake build --data-root DIR --progress=quiet <args> .` in `cwd` (a process per build, as users run it), timed. */
export function timedHatakeBuild(repo: string, cwd: string, dataRoot: string, args: readonly string[], signal: AbortSignal): Promise<number> {
  return timedSpawn(process.execPath, [join(repo, "bin", "hatake"), "build", "--data-root", dataRoot, "--progress=quiet", ...args, "."], { cwd, signal, label: "hatake build" });
}

/** The wall time of one async step, in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
