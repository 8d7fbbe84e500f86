import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Writable } from "node:stream";
import { afterAll, beforeAll } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { installPlugin, run, type RunOptions, type RunResult } from "../../testing/index.ts";
import { resolveConfig, startDaemon, type RunningDaemon } from "../index.ts";
import type { DaemonFlags, LogLevel } from "../daemon/config.ts";

/**
 * An engine for end-to-end tests: its own data root and unix socket under a temporary folder, started
 * in this process, with the environment the real `docker` CLI needs to talk to it (DOCKER_HOST and a
 * private DOCKER_CONFIG, so `docker login` never touches the user's ~/.docker).
 *
 *     const engine = await startTestEngine();
 *     const r = await engine.docker(["run", "--rm", busybox.reference, "echo", "hi"]);
 *     await engine.stop();
 */
export interface TestEngine {
  readonly root: string;
  readonly dataRoot: string;
  readonly socket: string;
  /** `unix://…` */
  readonly host: string;
  /** process.env plus DOCKER_HOST and DOCKER_CONFIG for this engine. */
  readonly env: NodeJS.ProcessEnv;
  readonly daemon: RunningDaemon;
  /** Runs the real docker CLI against this engine (never throws on a non-zero exit: check `code`). */
  docker(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Stops the daemon (idempotent); `remove` also deletes the temporary folder (default true). */
  stop(options?: { readonly remove?: boolean }): Promise<void>;
}

export interface TestEngineOptions {
  /** Extra dockerd-style flags (as `resolveConfig` takes them). */
  readonly flags?: Omit<DaemonFlags, "dataRoot" | "hosts">;
  /** Reuse a data root (a restart test); default: a fresh one under the temporary folder. */
  readonly dataRoot?: string;
  /** The daemon's log level; its log goes nowhere unless HATAKE_TEST_ENGINE_LOG=1 (then stderr). */
  readonly logLevel?: LogLevel;
  /** Addresses served besides the unix socket (`tcp://127.0.0.1:0`: a free port, see daemon.addresses). */
  readonly extraHosts?: readonly string[];
  /** Images to `docker pull` once the engine serves (the busybox fixture: `inject("busybox").reference`). */
  readonly images?: readonly string[];
  /** Install the docker buildx plugin (the bundled build) into the engine's private DOCKER_CONFIG. */
  readonly plugin?: boolean;
}

export async function startTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const root = mkdtempSync(join(tmpdir(), "htk-engine-"));
  const socket = join(root, "docker.sock");
  const dataRoot = options.dataRoot ?? join(root, "data");
  const { config } = resolveConfig({ ...options.flags, dataRoot, hosts: [`unix://${socket}`, ...(options.extraHosts ?? [])] }, {});
  const sink = process.env["HATAKE_TEST_ENGINE_LOG"] === "1" ? process.stderr : new Writable({ write: (_c, _e, cb) => cb() });
  const daemon = await startDaemon(config, { version: "0.1.0", gitCommit: "" }, createLogger(sink, options.logLevel ?? "warn"));
  const host = `unix://${socket}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(root, "docker-config") };
  delete env["DOCKER_CONTEXT"];
  let stopped = false;
  const engine: TestEngine = {
    root,
    dataRoot,
    socket,
    host,
    env,
    daemon,
    docker: (args, opts = {}) => run("docker", args, { timeoutMs: 60_000, ...opts, env: { ...env, ...opts.env } }),
    async stop(opts = {}) {
      if (!stopped) {
        stopped = true;
        await daemon.stop();
      }
      if (opts.remove ?? true) await rm(root, { recursive: true, force: true });
    },
  };
  try {
    if (options.plugin === true) await installPlugin(join(root, "docker-config"));
    for (const image of options.images ?? []) await pullImage(engine, image);
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}

/** `docker pull -q` of an image into a test engine (from the harness' local registry); throws when it fails. */
export async function pullImage(engine: TestEngine, reference: string): Promise<void> {
  const r = await engine.docker(["pull", "-q", reference]);
  if (r.code !== 0) throw new Error(`docker pull ${reference} failed (${r.code}): ${r.stderr.trim()}`);
}

/**
 * The engine of a `describe` block: started (and its images pulled) in the block's beforeAll, stopped
 * in its afterAll. Use it only inside the block's tests and hooks.
 *
 *     const engine = suiteEngine({ images: [inject("busybox").reference] });
 *     it("runs", async () => expect((await engine.docker(["run", "--rm", busybox, "true"])).code).toBe(0));
 */
export function suiteEngine(options: TestEngineOptions = {}): TestEngine {
  let engine: TestEngine | undefined;
  // Building the plugin or pulling can take minutes on a loaded machine.
  beforeAll(async () => {
    engine = await startTestEngine(options);
  }, 180_000);
  afterAll(async () => {
    await engine?.stop();
  });
  const started = (): TestEngine => {
    if (engine === undefined) throw new Error("the suite's engine is used before its beforeAll started it");
    return engine;
  };
  return {
    get root() {
      return started().root;
    },
    get dataRoot() {
      return started().dataRoot;
    },
    get socket() {
      return started().socket;
    },
    get host() {
      return started().host;
    },
    get env() {
      return started().env;
    },
    get daemon() {
      return started().daemon;
    },
    docker: (args, opts) => started().docker(args, opts),
    stop: (opts) => started().stop(opts),
  };
}

/**
 * Kills (SIGKILL) every process in the cgroups of these containers (the engine's default cgroup parent
 * `/hatake`, cgroup v1 or v2). For tests that kill an engine on purpose: its containers outlive it by
 * design, and a test that fails before restarting the engine must not leave them running.
 */
export function killContainerProcesses(ids: readonly string[]): void {
  for (const id of ids) {
    for (const dir of [`/sys/fs/cgroup/pids/hatake/${id}`, `/sys/fs/cgroup/hatake/${id}`]) {
      let procs = "";
      try {
        procs = readFileSync(`${dir}/cgroup.procs`, "utf8");
      } catch {
        continue;
      }
      for (const pid of procs.split("\n").filter((l) => l !== "")) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  }
}

const ENGINE_CHILD = fileURLToPath(new URL("./engine-child.ts", import.meta.url));

/**
 * An engine in a child process on a given data root and socket, for tests that kill it with -9 (an
 * in-process engine cannot be killed without the test). Resolves when it serves.
 */
export async function startEngineChild(dataRoot: string, socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ENGINE_CHILD, dataRoot, socket], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("ready\n")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the engine child exited (${code ?? "signal"}) before it was ready`)));
  });
  child.removeAllListeners("exit");
  return child;
}
