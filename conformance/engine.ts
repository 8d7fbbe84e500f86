import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The engine under test, reached over the wire only. Conformance never imports `engine/`: it either
 * talks to the engine a Docker host address names (`unix:///…`, `tcp://host:port`) or starts
 * `bin/hatake engine` as a child process on a private socket and a temporary data root, exactly as a
 * user would run it.
 */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface EngineTarget {
  /** A Docker host address: `unix:///path/docker.sock` or `tcp://127.0.0.1:2375`. */
  readonly host: string;
  /** Stops the engine this process started and removes its folder; a no-op for an external host. */
  stop(): Promise<void>;
}

/** The engine to test: `--docker-host`, else `DOCKER_HOST`, else one started here. */
export async function resolveTarget(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<EngineTarget> {
  const host = explicit ?? (env["DOCKER_HOST"] !== undefined && env["DOCKER_HOST"] !== "" ? env["DOCKER_HOST"] : undefined);
  if (host !== undefined) return { host, stop: () => Promise.resolve() };
  return startEngine();
}

/** Starts `bin/hatake engine` (the built bundle: run `node tools/build.mjs` first) on a private socket. */
export async function startEngine(opts: { timeoutMs?: number } = {}): Promise<EngineTarget> {
  const dir = mkdtempSync(join(tmpdir(), "htk-conformance-"));
  const socket = join(dir, "docker.sock");
  const host = `unix://${socket}`;
  let stderr = "";
  const child: ChildProcess = spawn(process.execPath, [join(REPO, "bin", "hatake"), "engine", "--data-root", join(dir, "data"), "-H", host, "--log-level", "warn"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.setEncoding("utf8");
  // Kept (bounded) so a start-up failure can say why; the engine logs problems only at warn.
  child.stderr?.on("data", (c: string) => (stderr = (stderr + c).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.race([exited, spawnError]);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`hatake engine exited with code ${child.exitCode} before it served ${host}: ${stderr.trim()}`);
      if (await answersPing(host)) break;
      if (Date.now() > deadline) throw new Error(`hatake engine did not serve ${host} within ${opts.timeoutMs ?? 15_000} ms: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, stop };
}

export interface WireRequest {
  readonly method: string;
  /** The request path with its query string, e.g. `/v1.45/containers/json?all=1`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface WireResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One HTTP request to a Docker host address; the body is read whole (bounded by the timeout). */
export function wireRequest(host: string, req: WireRequest): Promise<WireResponse> {
  const target = parseHost(host);
  return new Promise((resolve, reject) => {
    const r = request(
      { ...target, method: req.method, path: req.path, headers: { Host: "docker", ...req.headers }, timeout: req.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    // An upgrade answer (101: a websocket or a hijacked stream) ends the exchange here: its status and
    // headers are the answer; the connection is closed at once.
    r.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, headers: res.headers, body: Buffer.alloc(0) });
    });
    r.on("timeout", () => r.destroy(new Error(`${req.method} ${req.path}: no complete answer within ${req.timeoutMs ?? 10_000} ms`)));
    r.on("error", reject);
    r.end(req.body);
  });
}

function parseHost(host: string): { socketPath: string } | { host: string; port: number } {
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  const m = /^(?:tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(host);
  if (m === null) throw new Error(`Cannot use the Docker host "${host}": expected unix:///path or tcp://host:port`);
  return { host: m[1] ?? "127.0.0.1", port: Number(m[2]) };
}

async function answersPing(host: string): Promise<boolean> {
  try {
    return (await wireRequest(host, { method: "GET", path: "/_ping", timeoutMs: 2_000 })).status === 200;
  } catch {
    return false;
  }
}
