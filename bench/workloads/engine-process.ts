import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Pool } from "undici";

/** A `hatake engine` child process on a private socket and data root: the daemon as users run it. */
export interface EngineProcess {
  readonly socket: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startEngineProcess(repo: string, scratch: string, name: string, signal: AbortSignal): Promise<EngineProcess> {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, "docker.sock");
  const child: ChildProcess = spawn(process.execPath, [join(repo, "bin", "hatake"), "engine", "--data-root", join(dir, "data"), "-H", `unix://${socket}`, "--log-level", "warn"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    signal.throwIfAborted();
    if (child.exitCode !== null) throw new Error(`hatake engine exited with code ${child.exitCode} before it served ${socket}`);
    if (await answers(`unix://${socket}`)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`hatake engine did not serve ${socket} within 15 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    socket,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** An undici pool for a Docker host address (`unix:///path` or `tcp://host:port`). */
export function dockerHostPool(host: string, connections: number): Pool {
  if (host.startsWith("unix://")) return new Pool("http://docker", { connections, socketPath: host.slice("unix://".length), pipelining: 1 });
  return new Pool(host.replace(/^tcp:/, "http:"), { connections, pipelining: 1 });
}

/** True when the host answers GET /_ping with 200. */
export async function answers(host: string): Promise<boolean> {
  const pool = dockerHostPool(host, 1);
  try {
    const r = await pool.request({ method: "GET", path: "/_ping", headersTimeout: 2_000, bodyTimeout: 2_000 });
    await r.body.text();
    return r.statusCode === 200;
  } catch {
    return false;
  } finally {
    await pool.close();
  }
}
