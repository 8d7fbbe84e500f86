import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { fixtures, run } from "../../testing/index.ts";

const CLI = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** A docker client process kept open, with what it printed so far. */
interface Client {
  readonly child: ChildProcess;
  out: string;
  readonly ended: Promise<number | null>;
  waitFor(text: string): Promise<void>;
}

function client(env: NodeJS.ProcessEnv, args: readonly string[]): Client {
  const child = spawn("docker", [...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const c: Client = {
    child,
    out: "",
    ended: new Promise((resolve) => child.once("close", (code) => resolve(code))),
    waitFor(text) {
      if (c.out.includes(text)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ text, resolve }));
    },
  };
  const onData = (b: Buffer): void => {
    c.out += b.toString();
    for (const w of waiters.splice(0)) {
      if (c.out.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  return c;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: "/_ping" }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * `hatake engine` (the CLI's process, as users run it) on SIGTERM with clients attached: it stops its
 * containers as dockerd does without live-restore, ends every open stream and exits.
 */
describe("hatake engine exits on SIGTERM", () => {
  const { busybox } = fixtures();
  const root = mkdtempSync(join(tmpdir(), "htk-sigterm-"));
  const socket = join(root, "docker.sock");
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "docker-config") };
  delete env["DOCKER_CONTEXT"];
  const clients: Client[] = [];
  let engine: ChildProcess | undefined;
  afterAll(() => {
    for (const c of clients) c.child.kill("SIGKILL");
    if (engine?.exitCode === null) engine.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });

  it("with docker logs -f, docker events, docker attach and an idle docker exec -i open: the engine exits, the clients end", async () => {
    engine = spawn(process.execPath, ["--import", "tsx", CLI, "engine", "--data-root", join(root, "data"), "-H", `unix://${socket}`, "--log-level", "warn", "--shutdown-timeout", "2"], { stdio: ["ignore", "ignore", "pipe"] });
    let engineErr = "";
    engine.stderr?.on("data", (b: Buffer) => (engineErr = (engineErr + b.toString()).slice(-8_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => engine?.once("exit", (code, signal) => resolve({ code, signal })));
    while (!(await ping(socket))) await new Promise((r) => setTimeout(r, 100));
    const docker = (args: string[]) => run("docker", args, { env, timeoutMs: 60_000 });

    expect((await docker(["pull", "-q", busybox.reference])).code).toBe(0);
    // sh and cat as PID 1 ignore SIGTERM: the shutdown kills them after their stop timeout (1 s),
    // or the shutdown timeout (2 s) that caps the default 10 s.
    expect((await docker(["run", "-d", "--name", "logger", "--stop-timeout", "1", busybox.reference, "sh", "-c", "echo ready; while true; do sleep 1; done"])).code).toBe(0);
    expect((await docker(["run", "-d", "-i", "--name", "cat", busybox.reference, "cat"])).code).toBe(0);

    const logs = client(env, ["logs", "-f", "logger"]);
    const events = client(env, ["events"]);
    const attach = client(env, ["attach", "cat"]);
    const exec = client(env, ["exec", "-i", "logger", "sh"]);
    // A build in a RUN step (the classic builder's POST /build, no plugin needed).
    const build = client({ ...env, DOCKER_BUILDKIT: "0" }, ["build", "-"]);
    build.child.stdin?.end(`FROM ${busybox.reference}\nRUN echo building && sleep 1000\n`);
    clients.push(logs, events, attach, exec, build);
    await build.waitFor("building");
    await logs.waitFor("ready");
    attach.child.stdin?.write("through attach\n");
    await attach.waitFor("through attach");
    exec.child.stdin?.write("echo in-exec\n");
    await exec.waitFor("in-exec");
    expect((await docker(["tag", busybox.reference, "sigterm/marker:1"])).code).toBe(0);
    await events.waitFor("image tag");

    engine.kill("SIGTERM");
    const exit = await exited;
    expect(exit, engineErr).toEqual({ code: 0, signal: null });
    // Every client's stream ended with the engine (docker attach reports the container's exit).
    const codes = await Promise.all(clients.map((c) => c.ended));
    expect(codes.every((code) => code !== null)).toBe(true);
  }, 120_000);
});
