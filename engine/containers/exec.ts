import type { Readable } from "node:stream";
import { htkError, toHtkError, type HtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import type { CrunRuntime, ExecProcess, ProcessResult } from "../runtime/index.ts";
import { generateId, type Container, type ExecConfig, type ExecRecord, type StateStore } from "../state/index.ts";
import { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from "./io.ts";
import type { ContainerManager } from "./manager.ts";
import type { AttachConnection } from "./types.ts";

/**
 * `docker exec`: exec instances of running containers (Docker's daemon/exec.go). An instance is
 * created (a row in the state store, `exec_create`), started once — attached to a hijacked
 * connection or detached — and ends with its process (`exec_die`, ExitCode); `docker exec` then reads
 * the exit code with `GET /exec/{id}/json`, so the exit is recorded before the stream is closed.
 *
 * Output is forwarded with backpressure (the process's pipes are paused while the client is slow);
 * a client that goes away leaves the process running, its output discarded, as Docker does. Health
 * probes (`probe`) run the same way without a row: Docker keeps them out of `ExecIDs` once they end,
 * and a row per probe would grow without bound.
 */

export interface ExecDeps {
  readonly state: StateStore;
  readonly runtime: CrunRuntime;
  readonly containers: ContainerManager;
  readonly log: Logger;
}

/** The parsed body of `POST /containers/{id}/exec` (Docker's ExecConfig). */
export interface ExecCreateRequest {
  readonly Cmd: readonly string[];
  readonly User?: string;
  readonly Privileged?: boolean;
  readonly Tty?: boolean;
  readonly AttachStdin?: boolean;
  readonly AttachStdout?: boolean;
  readonly AttachStderr?: boolean;
  readonly DetachKeys?: string;
  readonly Env?: readonly string[];
  readonly WorkingDir?: string;
  readonly ConsoleSize?: readonly [number, number];
}

/** The body of `POST /exec/{id}/start` (ExecStartCheck). */
export interface ExecStartRequest {
  readonly detach: boolean;
  readonly tty: boolean;
  readonly consoleSize?: readonly [number, number];
}

/** What a started exec session reports back to the API layer before it streams. */
export type ExecStart =
  /** Detached: the process runs; answer 200. */
  | { readonly kind: "detached" }
  /** Attached: stream on `conn` until the process ended (the exit is recorded before `run` resolves). */
  | { readonly kind: "attached"; run(conn: AttachConnection, signal: AbortSignal): Promise<void> };

interface LiveExec {
  process: ExecProcess | undefined;
  /** A resize that came before the process had its terminal. */
  pendingSize: readonly [number, number] | undefined;
}

/** Docker's cap on a health probe's stored output (daemon/health.go maxOutputLen). */
const MAX_PROBE_OUTPUT = 4096;

export class ExecManager {
  readonly #deps: ExecDeps;
  readonly #log: Logger;
  /** Instances between start and the end of their process. */
  readonly #live = new Map<string, LiveExec>();

  constructor(deps: ExecDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "exec" });
  }

  get #state(): StateStore {
    return this.#deps.state;
  }

  /**
   * `POST /containers/{id}/exec`: Docker's getActiveContainer checks (not running → 409 with the ID;
   * paused → 409 with the name as given; restarting → 409), the detach keys, then the record and
   * `exec_create: <cmd>`.
   */
  create(ref: string, request: ExecCreateRequest): string {
    if (request.Cmd.length === 0) throw htkError("HTK-ENGINE-0500", {});
    const c = this.#activeContainer(ref, ref);
    if (request.DetachKeys !== undefined && request.DetachKeys !== "") {
      try {
        parseDetachKeys(request.DetachKeys);
      } catch {
        throw htkError("HTK-ENGINE-0501", { keys: request.DetachKeys });
      }
    }
    // Docker fills the user and working directory in from the container's config at create time.
    const config: ExecConfig = {
      ...request,
      User: request.User !== undefined && request.User !== "" ? request.User : stringField(c.config["User"]),
      WorkingDir: request.WorkingDir !== undefined && request.WorkingDir !== "" ? request.WorkingDir : stringField(c.config["WorkingDir"]),
    };
    return this.#state.execs.create(c, config).id;
  }

  /** GET /exec/{id}/json: Docker's ExecInspect (DetachKeys as the bytes' base64, as Go marshals []byte). */
  inspect(id: string): Record<string, unknown> {
    const e = this.#state.execs.get(id);
    const json = this.#state.execs.inspectJson(e);
    const keys = e.config.DetachKeys ?? "";
    let bytes: number[] = [];
    try {
      bytes = keys === "" ? [] : parseDetachKeys(keys);
    } catch {
      bytes = [];
    }
    return { ...json, DetachKeys: Buffer.from(bytes).toString("base64") };
  }

  /**
   * `POST /exec/{id}/start`: Docker's ExecExists checks first (unknown → 404; the container gone → 404,
   * stopped, paused or restarting → 409), then "already run" / "already running" (409). Detached: the
   * process is started before this resolves (a command that cannot run is then the error, 400).
   */
  async start(id: string, request: ExecStartRequest): Promise<ExecStart> {
    const e = this.#state.execs.get(id);
    const c = this.#startableContainer(e);
    if (e.exitCode !== null) throw htkError("HTK-ENGINE-0502", { id: e.id });
    if (e.running || this.#live.has(e.id)) throw htkError("HTK-ENGINE-0503", { id: e.id });
    const live: LiveExec = { process: undefined, pendingSize: undefined };
    this.#live.set(e.id, live);
    const size = request.tty ? (request.consoleSize ?? e.config.ConsoleSize ?? undefined) : undefined;
    if (size !== undefined && size !== null && size[0] > 0 && size[1] > 0) live.pendingSize = [size[0], size[1]];

    if (request.detach) {
      let started: Launched;
      try {
        started = await this.#launch(e, c, live);
      } catch (err) {
        this.#live.delete(e.id);
        throw err;
      }
      if (started.kind === "failed") throw started.error;
      // Nobody reads the output: drain it so the process never blocks on a full pipe.
      started.stdout.discard();
      started.stderr.discard();
      void this.#finish(e, c, started.process, live).catch((err: unknown) => this.#log.warn({ id: e.id, err }, "recording an exec's exit failed"));
      return { kind: "detached" };
    }
    return { kind: "attached", run: (conn, signal) => this.#attached(e, c, live, conn, signal) };
  }

  /** `POST /exec/{id}/resize`: the exec's terminal size (no terminal: nothing to do, as containerd). */
  resize(id: string, height: number, width: number): void {
    const e = this.#state.execs.get(id);
    this.#startableContainer(e);
    const live = this.#live.get(e.id);
    if (live === undefined) return;
    if (live.process?.resize !== undefined) live.process.resize(height, width);
    else live.pendingSize = [height, width];
  }

  /**
   * A health probe (Docker's cmdProbe): the command in the running container as its configured user
   * and working directory, output (stdout and stderr, at most 4096 bytes, then "...") captured, killed
   * after `timeoutMs`. Events `exec_create`, `exec_start`, `exec_die` as Docker's probes emit them.
   */
  async probe(containerId: string, cmd: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
    const c = this.#activeContainer(containerId, containerId);
    const execId = generateId();
    const action = `${cmd[0] ?? ""} ${cmd.slice(1).join(" ")}`;
    this.#state.containers.note(c, `exec_create: ${action}`, { execID: execId });
    this.#state.containers.note(c, `exec_start: ${action}`, { execID: execId });
    let process: ExecProcess;
    try {
      process = await this.#deps.runtime.exec(c.id, { args: cmd, ...userAndCwd(c) });
    } catch (err) {
      this.#state.containers.note(c, "exec_die", { execID: execId, exitCode: "126" });
      throw err;
    }
    const output = new BoundedOutput(MAX_PROBE_OUTPUT);
    process.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    process.stderr.on("data", (chunk: Buffer) => output.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill("SIGKILL");
    }, timeoutMs);
    const onAbort = (): void => process.kill("SIGKILL");
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const pid = await process.pid;
      const result = await process.wait();
      const exitCode = result.exitCode;
      this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "exec_die", { execID: execId, exitCode: String(exitCode) });
      if (pid === undefined) return { kind: "error", message: startFailure(cmd, exitCode).plainCause };
      if (timedOut) return { kind: "timeout", output: output.text() };
      return { kind: "exited", exitCode, output: output.text() };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }

  // ---------------------------------------------------------------------------------------------

  /** Docker's getActiveContainer: the container of an exec create (or a probe) must run. */
  #activeContainer(ref: string, name: string): Container<"running"> {
    const c = this.#state.containers.resolve(ref);
    switch (c.status) {
      case "running":
        if (this.#deps.containers.running(c.id) === undefined) throw htkError("HTK-ENGINE-0107", { id: c.id });
        return c;
      case "paused":
        throw htkError("HTK-ENGINE-0127", { id: name });
      case "restarting":
        throw htkError("HTK-ENGINE-0110", { id: c.id });
      default:
        throw htkError("HTK-ENGINE-0107", { id: c.id });
    }
  }

  /** Docker's getExecConfig: the exec's container must still exist and run. */
  #startableContainer(e: ExecRecord): Container<"running"> {
    const c = this.#state.containers.get(e.containerId);
    if (c === undefined) throw htkError("HTK-ENGINE-0103", { name: e.id });
    if (c.status === "paused") throw htkError("HTK-ENGINE-0127", { id: c.id });
    return this.#activeContainer(c.id, c.id);
  }

  /** Starts the process and records `exec_start`; a command that cannot run is a failure with Docker's text. */
  async #launch(e: ExecRecord, c: Container<"running">, live: LiveExec): Promise<Launched> {
    const config = e.config;
    let process: ExecProcess;
    try {
      process = await this.#deps.runtime.exec(c.id, {
        args: config.Cmd,
        ...(config.Env === undefined ? {} : { env: config.Env }),
        ...(config.WorkingDir === undefined || config.WorkingDir === "" ? {} : { cwd: config.WorkingDir }),
        ...(config.User === undefined || config.User === "" ? {} : { user: config.User }),
        privileged: config.Privileged === true,
        openStdin: config.AttachStdin === true,
        tty: config.Tty === true,
      });
    } catch (err) {
      // Docker's default when an exec fails before it runs: 126 (an unknown user, a runtime error).
      const error = toHtkError(err, { operation: `exec ${e.id}` });
      this.#live.delete(e.id);
      this.#state.execs.exited(this.#state.execs.started(e, c, 0), c, 126);
      return { kind: "failed", error };
    }
    live.process = process;
    // Listeners now, before any await: Node drops a child's unread output when it exits (flushStdio).
    const stdout = new OutputTap(process.stdout);
    const stderr = new OutputTap(process.stderr);
    const pid = await process.pid;
    if (pid === undefined) {
      // Only the runtime's own message is there; Docker's text replaces it.
      stdout.discard();
      stderr.discard();
      const result = await process.wait();
      this.#live.delete(e.id);
      this.#state.execs.exited(this.#state.execs.started(e, c, 0), c, result.exitCode);
      return { kind: "failed", error: startFailure(config.Cmd, result.exitCode) };
    }
    if (live.pendingSize !== undefined) process.resize?.(live.pendingSize[0], live.pendingSize[1]);
    live.pendingSize = undefined;
    const running = this.#state.execs.started(e, c, pid);
    return { kind: "started", process, record: running, stdout, stderr };
  }

  /** Waits for the process, records its exit (`exec_die`) and forgets it. */
  async #finish(e: ExecRecord, c: Container<"running">, process: ExecProcess, live: LiveExec, outputDone: Promise<void> = Promise.resolve()): Promise<number> {
    let result: ProcessResult;
    try {
      result = await process.wait();
      // Docker lets the output copiers finish before it records the end (StreamConfig.Wait, 2 s).
      await Promise.race([outputDone, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    } finally {
      if (this.#live.get(e.id) === live) this.#live.delete(e.id);
    }
    try {
      const current = this.#state.execs.get(e.id);
      const container = this.#state.containers.get(c.id) ?? c;
      this.#state.execs.exited(current, container, result.exitCode);
    } catch (err) {
      // The container was removed meanwhile: its exec rows went with it.
      this.#log.debug({ id: e.id, err }, "recording an exec's exit");
    }
    return result.exitCode;
  }

  /** The attached session: output to the client (framed by the API layer), its input to the process. */
  async #attached(e: ExecRecord, c: Container<"running">, live: LiveExec, conn: AttachConnection, signal: AbortSignal): Promise<void> {
    let started: Launched;
    try {
      started = await this.#launch(e, c, live);
    } catch (err) {
      this.#live.delete(e.id);
      conn.close();
      throw err;
    }
    if (started.kind === "failed") {
      // Docker writes the error into the stream (stdout) with CRLF; `docker exec` prints it and
      // reads the exit code (127/126) from the exec's record.
      conn.write(1, Buffer.from(`${started.error.plainCause} [${started.error.id}]\r\n`));
      conn.close();
      return;
    }
    const { process, stdout, stderr } = started;
    const config = e.config;
    const tty = config.Tty === true;
    let clientGone = false;
    let sessionEnded = false;
    let endSession!: () => void;
    const sessionDone = new Promise<void>((resolve) => {
      endSession = resolve;
    });
    const stopSession = (): void => {
      if (sessionEnded) return;
      sessionEnded = true;
      endSession();
    };
    const onAbort = (): void => {
      clientGone = true;
      stopSession();
    };
    signal.addEventListener("abort", onAbort, { once: true });

    const detached = (): boolean => clientGone || sessionEnded;
    for (const [tap, stream, attached] of [
      [stdout, 1, config.AttachStdout === true],
      [stderr, 2, config.AttachStderr === true],
    ] as const) {
      if (attached) tap.forward((chunk) => (detached() ? true : conn.write(stream, chunk)), (cb) => conn.onDrain(cb));
      else tap.discard();
    }
    const outputDone = Promise.all([stdout.ended, stderr.ended]).then(() => undefined);

    const cleanups: Array<() => void> = [];
    const input = conn.input;
    const stdin = process.stdin;
    if (config.AttachStdin === true && input !== null && stdin !== null) {
      stdin.on("error", () => undefined);
      const scanner = tty ? new DetachKeyScanner(detachKeys(config.DetachKeys)) : undefined;
      const onData = (chunk: Buffer): void => {
        const r = scanner === undefined ? { forward: chunk, detach: false } : scanner.scan(chunk);
        if (r.forward.length > 0 && !stdin.write(r.forward)) {
          input.pause();
          stdin.once("drain", () => input.resume());
        }
        if (r.detach) {
          this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "exec_detach", { execID: e.id });
          stopSession();
        }
      };
      // Docker: a TTY session ends with the client's input (the process goes on); otherwise the
      // process gets end-of-file on its stdin.
      const onEnd = (): void => {
        if (tty) stopSession();
        else stdin.end();
      };
      input.on("data", onData);
      input.once("end", onEnd);
      cleanups.push(() => {
        input.off("data", onData);
        input.off("end", onEnd);
      });
      input.resume();
    } else if (stdin !== null) {
      stdin.on("error", () => undefined);
      stdin.end();
    }

    const finished = this.#finish(e, c, process, live, outputDone);
    await Promise.race([finished, sessionDone]);
    for (const f of cleanups) f();
    signal.removeEventListener("abort", onAbort);
    if (!sessionEnded) stopSession();
    // Detached (keys, a TTY client's end of input, the client gone): the process runs on, its output drained.
    conn.close();
    stdout.discard();
    stderr.discard();
    void finished.catch((err: unknown) => this.#log.warn({ id: e.id, err }, "recording an exec's exit failed"));
  }
}

type Launched =
  | { readonly kind: "started"; readonly process: ExecProcess; readonly record: ExecRecord; readonly stdout: OutputTap; readonly stderr: OutputTap }
  | { readonly kind: "failed"; readonly error: HtkError };

/** The outcome of one health probe. */
export type ProbeResult =
  | { readonly kind: "exited"; readonly exitCode: number; readonly output: string }
  | { readonly kind: "timeout"; readonly output: string }
  /** The probe could not run (Docker records ExitCode -1 with the error's text). */
  | { readonly kind: "error"; readonly message: string };

/**
 * Docker's text for an exec whose command cannot run (runc's wording through containerd, which
 * `docker exec` prints): not found on PATH, a missing path, not executable.
 */
export function startFailure(cmd: readonly string[], exitCode: number): HtkError {
  const arg0 = cmd[0] ?? "";
  const reason =
    exitCode === 127 ? (arg0.includes("/") ? `exec: "${arg0}": stat ${arg0}: no such file or directory` : `exec: "${arg0}": executable file not found in $PATH`) : `exec: "${arg0}": permission denied`;
  return htkError("HTK-ENGINE-0504", { reason }, { details: { exitCode } });
}

function detachKeys(spec: string | undefined): readonly number[] {
  if (spec === undefined || spec === "") return DEFAULT_DETACH_KEYS;
  try {
    return parseDetachKeys(spec);
  } catch {
    return DEFAULT_DETACH_KEYS;
  }
}

function stringField(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** A probe runs as the container's configured user in its working directory (Docker's cmdProbe). */
function userAndCwd(c: Container): { user?: string; cwd?: string } {
  const user = stringField(c.config["User"]);
  const cwd = stringField(c.config["WorkingDir"]);
  return { ...(user === "" ? {} : { user }), ...(cwd === "" ? {} : { cwd }) };
}

/**
 * One output stream of an exec'd process, listened to from the moment it exists: chunks are held
 * until the session decides (forward to the client, or discard), then forwarded with backpressure
 * (the source pauses while the client cannot take more). What is held is bounded: past 1 MiB the
 * source pauses, which blocks the process on its full pipe, so it cannot exit and lose the rest.
 */
export class OutputTap {
  static readonly HOLD_LIMIT = 1024 * 1024;
  readonly ended: Promise<void>;
  readonly #source: Readable;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #sink: ((chunk: Buffer) => boolean) | undefined;
  #onDrain: ((cb: () => void) => void) | undefined;
  #discarding = false;

  constructor(source: Readable) {
    this.#source = source;
    this.ended = new Promise<void>((resolve) => {
      source.once("end", () => resolve());
      source.once("close", () => resolve());
      source.once("error", () => resolve());
      if (source.readableEnded || source.destroyed) resolve();
    });
    source.on("data", (chunk: Buffer) => this.#take(chunk));
  }

  /** Sends what is held, then everything that follows, to `sink` (false from it: wait for `onDrain`). */
  forward(sink: (chunk: Buffer) => boolean, onDrain: (cb: () => void) => void): void {
    this.#sink = sink;
    this.#onDrain = onDrain;
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    let ok = true;
    for (const chunk of held) ok = sink(chunk) && ok;
    if (ok) this.#source.resume();
    else this.#waitForDrain();
  }

  /** Drops what is held and whatever comes (the process never blocks on its output). */
  discard(): void {
    this.#discarding = true;
    this.#sink = undefined;
    this.#held = [];
    this.#heldBytes = 0;
    this.#source.resume();
  }

  #take(chunk: Buffer): void {
    if (this.#discarding) return;
    if (this.#sink !== undefined) {
      if (!this.#sink(chunk)) this.#waitForDrain();
      return;
    }
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= OutputTap.HOLD_LIMIT) this.#source.pause();
  }

  #waitForDrain(): void {
    this.#source.pause();
    this.#onDrain?.(() => {
      if (!this.#discarding) this.#source.resume();
    });
  }
}

/** Docker's limitedBuffer: the first `limit` bytes, then "..." if more came. */
export class BoundedOutput {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  #truncated = false;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    const room = this.#limit - this.#size;
    if (room <= 0) {
      if (chunk.length > 0) this.#truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.#truncated = true;
    this.#chunks.push(Buffer.from(part));
    this.#size += part.length;
  }

  text(): string {
    const out = Buffer.concat(this.#chunks).toString("utf8");
    return this.#truncated ? `${out}...` : out;
  }
}

