import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { htkError } from "../../base/errors/index.ts";
import { defaultPaths } from "../../engine/daemon/config.ts";
import type { CommandIo } from "../types.ts";

/** Options of `hatake build` that only the in-process builder has. */
const IN_PROCESS_ONLY = ["--explain-cache", "--gc-keep-storage"];

/**
 * `hatake build` without `--data-root`: the build runs in the engine, through the same client the
 * docker CLI uses — the `docker buildx` plugin of this installation (bin/docker-buildx), run as
 * `docker-buildx buildx build ARGS` with its flags, progress and exit codes. The engine is
 * DOCKER_HOST's, else HATAKE's own socket (not the docker CLI's current context: `hatake build`
 * always means a HATAKE engine). The plugin speaks only the engine's wire protocols, so this
 * command does too.
 */
export async function buildThroughEngine(args: readonly string[], io: CommandIo): Promise<number> {
  for (const a of args) {
    const flag = IN_PROCESS_ONLY.find((f) => a === f || a.startsWith(`${f}=`));
    if (flag !== undefined) throw htkError("HTK-CLI-0005", { option: flag });
  }
  const plugin = findPlugin(dirname(fileURLToPath(import.meta.url)));
  const env: NodeJS.ProcessEnv = { ...io.env };
  if ((env["DOCKER_HOST"] ?? "") === "") env["DOCKER_HOST"] = `unix://${defaultPaths(io.env).socket}`;
  delete env["DOCKER_CONTEXT"];
  const child = spawn(plugin, ["buildx", "build", ...args], { cwd: io.cwd, env, stdio: ["inherit", "pipe", "pipe"] });
  child.stdout.on("data", (c: Buffer) => io.stdout.write(c));
  child.stderr.on("data", (c: Buffer) => io.stderr.write(c));
  // Ctrl-C: the plugin cancels the build in the engine on SIGINT, as under the docker CLI.
  const onAbort = (): void => void child.kill("SIGINT");
  io.signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once("error", (err) => reject(htkError("HTK-CLI-0006", { path: plugin, detail: err.message }, { cause: err })));
      child.once("close", (code, signal) => resolve(code ?? (signal === "SIGINT" ? 130 : 1)));
    });
  } finally {
    io.signal.removeEventListener("abort", onAbort);
  }
}

/** bin/docker-buildx of this installation: next to the bundle's dist/ folder, or the source tree's root. */
export function findPlugin(from: string): string {
  let dir = from;
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, "bin", "docker-buildx");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw htkError("HTK-CLI-0006", { path: "bin/docker-buildx", detail: "not found next to this hatake" });
}
