import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { Readable, type Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import { rootLogger, withSpan, type Logger } from "../../base/observability/index.ts";
import {
  cgroupDirs,
  cgroupMode,
  cgroupPids,
  kernelLogShowsOomKill,
  monotonicMicros,
  readCgroupStats,
  removeStaleCgroups,
  unifiedHoldsControllers,
} from "./cgroups.ts";
import { findExecutable, isExecutable, missingCommand } from "./find-executable.ts";
import { ALL_CAPABILITIES, assertNever, mergeEnv, type LinuxResources, type Process, type Spec } from "./spec.ts";
import { makeFifos, openFifo, readExitStatus, startShim, waitForExitStatus } from "./shim.ts";
import { startTerminalRelay, type TerminalRelay } from "./tty.ts";
import type {
  ContainerState,
  ContainerStats,
  ContainerStatus,
  ExecProcess,
  ExecRequest,
  ProcessResult,
  RunRequest,
  RunningContainer,
  Runtime,
  StartRequest,
} from "./types.ts";
import { readUserDatabase, resolveUser } from "./users.ts";

/**
 * The OCI runtime driver: crun's CLI (runc works too: same commands and flags) behind `Runtime`.
 *
 * Every container runs under a foreground `crun run`, which is its parent and reaper (the job
 * containerd-shim does for Docker): its exit status is the container's, stdio is passed straight
 * through as pipes, and crun removes the container's state and cgroup when it ends. `create`/`start`
 * as separate steps would leave the container's init without a parent we can wait on (Node cannot be
 * a child subreaper), so Docker's "created" state is the bundle on disk, and `start` runs it.
 *
 * Layout under `<dataRoot>/runtime/`: `state/` is crun's `--root` (only our containers are in it,
 * so start-up clean-up can delete everything it finds), `bundles/<id>/` holds config.json, crun's log
 * and pid file, and exec process files. Cgroups are `<cgroupParent>/<id>` (default `/hatake/<id>`,
 * as Docker's cgroupfs driver uses `/docker/<id>`).
 */

export interface CrunRuntimeOptions {
  /** The engine's data root; the runtime keeps its files in `<dataRoot>/runtime`. */
  readonly dataRoot: string;
  /** `crun` (default), `runc`, or a path to either. */
  readonly binary?: string;
  /** Parent of the containers' cgroups. Default `/hatake`. */
  readonly cgroupParent?: string;
  /**
   * Run the runtime in a private mount namespace without the cgroup2 mount at /sys/fs/cgroup/unified
   * (see README: crun refuses "hybrid" cgroup hosts). `auto` (default) does it only when that mount
   * holds a controller.
   */
  readonly hybridCgroupWorkaround?: "auto" | "on" | "off";
  /** Timeout of the short commands (state, kill, delete …). Default 30 s. */
  readonly commandTimeoutMs?: number;
  readonly log?: Logger;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SHELL = "/bin/sh";
const UNSHARE_CANDIDATES = ["/usr/bin/unshare", "/bin/unshare"];

/** The debian package of each runtime, for HTK-RUNTIME-0100. */
function aptPackageOf(binary: string): string {
  return binary.endsWith("runc") ? "runc" : "crun";
}

/** Exit status of `crun run`/`crun exec` → result. crun (like a shell) reports death by signal N as 128+N. */
export function resultFromExit(code: number | null, signal: NodeJS.Signals | null): ProcessResult {
  if (code === null) {
    const n = signal === null ? osConstants.signals.SIGKILL : osConstants.signals[signal];
    return { kind: "signaled", signal: n, signalName: signal ?? "SIGKILL", exitCode: 128 + n };
  }
  if (code > 128 && code < 128 + 65) {
    const n = code - 128;
    return { kind: "signaled", signal: n, signalName: signalName(n), exitCode: code };
  }
  return { kind: "exited", exitCode: code };
}

export function signalName(n: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return n >= 34 && n <= 64 ? `SIGRTMIN+${n - 34}` : `SIG${n}`;
}

/** A signal for `crun kill`, as a number: names with or without SIG, any case, or 1–64. */
export function signalArg(signal: NodeJS.Signals | number | string): string {
  if (typeof signal === "number") {
    if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw htkError("HTK-RUNTIME-0104", { setting: "signal", value: signal, reason: "signals are numbered 1 to 64" });
    return String(signal);
  }
  const name = signal.toUpperCase().startsWith("SIG") ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  // Real-time signals as Docker names them (moby/sys/signal): RTMIN+n and RTMAX-n, with RTMIN = 34.
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const offset = Number(rt[3] ?? 0) * (rt[2] === "-" ? -1 : 1);
    const n = (rt[1] === "MIN" ? 34 : 64) + offset;
    if (n >= 34 && n <= 64) return String(n);
  }
  if (!(name in osConstants.signals)) throw htkError("HTK-RUNTIME-0104", { setting: "signal", value: signal, reason: "it is not a signal name" });
  return String(osConstants.signals[name as NodeJS.Signals]);
}

interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** What the runtime keeps about a container it started (until `delete`). */
interface Live {
  readonly id: string;
  readonly cgroupsPath: string;
  readonly result: Promise<ProcessResult>;
  running(): boolean;
  readonly handle?: RunningContainer;
  /** `crun run` (TTY containers) or the shim, when this engine process started it. */
  readonly child?: ChildProcess;
  readonly relay?: TerminalRelay;
}

interface CrunLogEntry {
  readonly msg: string;
  readonly level: string;
}

export class CrunRuntime implements Runtime {
  readonly root: string;
  readonly stateDir: string;
  readonly bundlesDir: string;
  readonly cgroupParent: string;
  readonly binary: string;
  private readonly workaround: boolean;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly live = new Map<string, Live>();
  /** IDs of `run()`s in progress (they are not in `live`). */
  private readonly running = new Set<string>();
  private resolvedBinary: string | undefined;
  private unshare: string | undefined;

  constructor(options: CrunRuntimeOptions) {
    this.root = join(resolve(options.dataRoot), "runtime");
    this.stateDir = join(this.root, "state");
    this.bundlesDir = join(this.root, "bundles");
    this.cgroupParent = (options.cgroupParent ?? "/hatake").replace(/\/+$/, "");
    this.binary = options.binary ?? "crun";
    const mode = options.hybridCgroupWorkaround ?? "auto";
    this.workaround = mode === "on" || (mode === "auto" && unifiedHoldsControllers());
    this.timeoutMs = options.commandTimeoutMs ?? 30_000;
    this.log = options.log ?? rootLogger().child({ component: "runtime" });
  }

  /** Whether the runtime runs crun with the cgroup2 mount detached (README: hybrid cgroups). */
  get usesHybridCgroupWorkaround(): boolean {
    return this.workaround;
  }

  // -------------------------------------------------------------------------------------------------
  // Running the CLI.

  private binaryPath(): string {
    if (this.resolvedBinary !== undefined) return this.resolvedBinary;
    const found = findExecutable(this.binary);
    if (found === undefined) {
      throw htkError("HTK-RUNTIME-0100", { binary: this.binary, detail: "it is not on PATH or not executable", aptPackage: aptPackageOf(this.binary) });
    }
    if (this.workaround) {
      this.unshare = UNSHARE_CANDIDATES.find((p) => isExecutable(p));
      if (this.unshare === undefined) {
        throw htkError("HTK-RUNTIME-0100", { binary: "unshare", detail: "it is needed to run the runtime on this host's hybrid cgroups", aptPackage: "util-linux" });
      }
    }
    this.resolvedBinary = found;
    return found;
  }

  /**
   * The command line for `<runtime> --root <state> <args>`. With the workaround: a private mount
   * namespace (slave propagation, so mounts the engine makes later still reach it and nothing flows
   * back to the host) in which /sys/fs/cgroup/unified is detached before the runtime is exec'd.
   */
  private commandLine(args: readonly string[], logFile?: string): { file: string; argv: string[] } {
    const bin = this.binaryPath();
    const runtimeArgs = ["--root", this.stateDir, ...(logFile !== undefined ? [`--log=${logFile}`, "--log-format=json"] : []), ...args];
    if (!this.workaround) return { file: bin, argv: runtimeArgs };
    const script = 'umount -l /sys/fs/cgroup/unified || { echo "hatake: cannot detach /sys/fs/cgroup/unified" >&2; exit 125; }; exec "$0" "$@"';
    return {
      file: this.unshare as string,
      argv: ["--mount", "--propagation", "slave", "--", SHELL, "-c", script, bin, ...runtimeArgs],
    };
  }

  /** A short runtime command, output collected. Rejects (HTK-RUNTIME-0100) only if it cannot start. */
  private command(args: readonly string[], options: { readonly input?: string } = {}): Promise<CommandResult> {
    const { file, argv } = this.commandLine(args);
    return new Promise<CommandResult>((resolvePromise, reject) => {
      const child = spawn(file, argv, { stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout?.on("data", (b: Buffer) => out.push(b));
      child.stderr?.on("data", (b: Buffer) => err.push(b));
      const timer = setTimeout(() => child.kill("SIGKILL"), this.timeoutMs);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(htkError("HTK-RUNTIME-0100", { binary: file, detail: e.message, aptPackage: aptPackageOf(this.binary) }, { cause: e }));
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
      });
      if (options.input !== undefined) {
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(options.input);
      }
    });
  }

  /** A short command that must succeed: HTK-RUNTIME-0106 for an unknown container, 0105 otherwise. */
  private async checked(id: string, args: readonly string[]): Promise<CommandResult> {
    const r = await this.command(args);
    if (r.code === 0) return r;
    const detail = (r.stderr.trim() || r.stdout.trim() || "(no output)").split("\n").slice(-4).join(" ");
    if (/does not exist|not found|no such file/i.test(detail) && !/executable/.test(detail)) throw htkError("HTK-RUNTIME-0106", { id });
    throw htkError("HTK-RUNTIME-0105", {
      command: `${this.binary} ${args.join(" ")}`,
      status: r.code === null ? `signal ${r.signal ?? "?"}` : `exit code ${r.code}`,
      detail: detail.replace(/\.$/, ""),
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Containers.

  private checkId(id: string): void {
    if (!ID_PATTERN.test(id)) throw htkError("HTK-RUNTIME-0104", { setting: "container ID", value: id, reason: "it must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit" });
  }

  private bundleOf(id: string): string {
    return join(this.bundlesDir, id);
  }

  /** Write the bundle: config.json with our cgroup path and an absolute rootfs. */
  private async writeBundle(id: string, spec: Spec, cgroupsPath = `${this.cgroupParent}/${id}`): Promise<{ bundle: string; cgroupsPath: string }> {
    this.checkId(id);
    if (this.live.has(id)) throw htkError("HTK-RUNTIME-0101", { id, detail: "a container with this ID is already running" });
    const bundle = this.bundleOf(id);
    await rm(bundle, { recursive: true, force: true });
    await mkdir(bundle, { recursive: true });
    await mkdir(this.stateDir, { recursive: true });
    const rootPath = isAbsolute(spec.root.path) ? spec.root.path : resolve(spec.root.path);
    const full: Spec = { ...spec, root: { ...spec.root, path: rootPath }, linux: { ...spec.linux, cgroupsPath } };
    await writeFile(join(bundle, "config.json"), JSON.stringify(full));
    return { bundle, cgroupsPath };
  }

  private async readLog(bundle: string, name = "crun.log"): Promise<CrunLogEntry[]> {
    let text = "";
    try {
      text = await readFile(join(bundle, name), "utf8");
    } catch {
      return [];
    }
    const out: CrunLogEntry[] = [];
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const e = JSON.parse(line) as Partial<CrunLogEntry>;
        out.push({ msg: String(e.msg ?? line), level: String(e.level ?? "error") });
      } catch {
        out.push({ msg: line, level: "error" });
      }
    }
    return out;
  }

  /**
   * crun's exit status → the result: HTK-RUNTIME-0101 (rejected) when the container never started
   * (crun logged an error and wrote no pid file), an OOM kill when the kernel log says so.
   */
  private async interpretExit(
    id: string,
    bundle: string,
    cgroupsPath: string,
    spec: Spec,
    startedMicros: number,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): Promise<ProcessResult> {
    const errors = (await this.readLog(bundle)).filter((e) => e.level === "error");
    const started = await readFile(join(bundle, "pid"), "utf8").then(
      () => true,
      () => false,
    );
    if (errors.length > 0 && !started) {
      const msg = errors.map((e) => e.msg).join("; ");
      // Docker's exit codes for a command that cannot be run: 127 not found, 126 not executable.
      const exitCode = /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : (code ?? 1);
      throw htkError("HTK-RUNTIME-0101", { id, detail: msg.replace(/\.$/, "") }, { cause: new Error(msg), details: { exitCode } });
    }
    if (errors.length > 0) this.log.warn({ id, errors: errors.map((e) => e.msg) }, "runtime reported errors after the container started");
    let r = resultFromExit(code, signal);
    const memoryLimited = (spec.linux.resources?.memory?.limit ?? 0) > 0;
    if (memoryLimited || (r.kind === "signaled" && r.signal === osConstants.signals.SIGKILL)) {
      if (kernelLogShowsOomKill(cgroupsPath, startedMicros) === true) r = { kind: "oom-killed", exitCode: r.exitCode };
    }
    return r;
  }

  /**
   * Spawn `crun run` for a written bundle. The returned promise settles when crun has ended, with the
   * exact result, or rejects with HTK-RUNTIME-0101 when the container never started.
   */
  private launch(
    id: string,
    bundle: string,
    cgroupsPath: string,
    spec: Spec,
    stdio: { stdin: "ignore" | "pipe"; stdout: "pipe"; stderr: "pipe" },
    consoleSocket?: string,
  ): { child: ChildProcess; result: Promise<ProcessResult> } {
    const consoleArgs = consoleSocket !== undefined ? ["--console-socket", consoleSocket] : [];
    const { file, argv } = this.commandLine(["run", "--bundle", bundle, "--pid-file", join(bundle, "pid"), ...consoleArgs, id], join(bundle, "crun.log"));
    const startedMicros = monotonicMicros();
    const child = spawn(file, argv, { stdio: [stdio.stdin, stdio.stdout, stdio.stderr] });
    const result = new Promise<ProcessResult>((resolvePromise, reject) => {
      child.on("error", (e) => reject(htkError("HTK-RUNTIME-0100", { binary: file, detail: e.message, aptPackage: aptPackageOf(this.binary) }, { cause: e })));
      child.on("exit", (code, signal) => {
        this.interpretExit(id, bundle, cgroupsPath, spec, startedMicros, code, signal).then(resolvePromise, reject);
      });
    });
    return { child, result };
  }

  run(request: RunRequest): Promise<ProcessResult> {
    return withSpan("runtime.run", { "container.id": request.id, "process.args": request.spec.process.args.join(" ") }, async () => {
      request.signal?.throwIfAborted();
      if (request.spec.process.terminal === true) throw htkError("HTK-RUNTIME-0104", { setting: "terminal", value: "true", reason: "run() streams stdout and stderr apart; start a container for a TTY" });
      this.checkId(request.id);
      if (this.running.has(request.id)) throw htkError("HTK-RUNTIME-0101", { id: request.id, detail: "a container with this ID is already running" });
      this.running.add(request.id);
      try {
        return await this.runOnce(request);
      } finally {
        this.running.delete(request.id);
      }
    });
  }

  private async runOnce(request: RunRequest): Promise<ProcessResult> {
    {
      const { bundle, cgroupsPath } = await this.writeBundle(request.id, request.spec, request.cgroupsPath);
      const stdin = request.stdin ?? { kind: "none" };
      let launched: { child: ChildProcess; result: Promise<ProcessResult> };
      try {
        launched = this.launch(request.id, bundle, cgroupsPath, request.spec, { stdin: stdin.kind === "none" ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe" });
      } catch (err) {
        await rm(bundle, { recursive: true, force: true });
        throw err;
      }
      const { child, result } = launched;
      if (request.onStdout) child.stdout?.on("data", request.onStdout);
      else child.stdout?.resume();
      if (request.onStderr) child.stderr?.on("data", request.onStderr);
      else child.stderr?.resume();
      // The container may exit without reading its input (EPIPE): its exit status tells the story.
      child.stdin?.on("error", () => undefined);
      switch (stdin.kind) {
        case "none":
          break;
        case "bytes":
          child.stdin?.end(stdin.data);
          break;
        case "stream":
          if (child.stdin) stdin.stream.pipe(child.stdin);
          break;
        default:
          assertNever(stdin);
      }
      let aborted = false;
      const onAbort = (): void => {
        aborted = true;
        void this.forceStop(request.id, child, () => child.exitCode === null && child.signalCode === null);
      };
      request.signal?.addEventListener("abort", onAbort, { once: true });
      const abortReason = (err?: unknown): unknown => (request.signal?.reason instanceof Error ? request.signal.reason : (err ?? new Error("aborted")));
      try {
        const r = await result;
        // Output that was still in the pipes when crun exited.
        await streamsClosed(child);
        if (aborted) throw abortReason();
        return r;
      } catch (err) {
        // Cancellation wins over whatever the killed container's end looked like.
        throw aborted ? abortReason(err) : err;
      } finally {
        request.signal?.removeEventListener("abort", onAbort);
        await this.removeEverything(request.id);
      }
    }
  }

  /** Kill a container that is being started or running; then crun itself if it is still there. */
  private async forceStop(id: string, child: ChildProcess | undefined, running: () => boolean): Promise<void> {
    for (let i = 0; i < 50 && running(); i++) {
      const r = await this.command(["kill", "--all", id, "9"]).catch(() => undefined);
      if (r?.code === 0) return;
      await sleep(20);
    }
    // Never created (or crun hangs): kill crun, or the shim's whole session; `delete --force` does the rest.
    if (running() && child?.pid !== undefined) {
      try {
        process.kill(child.spawnargs[0] === "/bin/sh" ? -child.pid : child.pid, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
  }

  /** crun state, bundle and cgroup of a container: gone, whatever they were. */
  private async removeEverything(id: string): Promise<void> {
    // `crun run` deletes the container itself when it ends; a `delete` (another process, ~10 ms) is only
    // needed when its state directory is still there (an abort, a crash of crun).
    if (existsSync(join(this.stateDir, id))) await this.command(["delete", "--force", id]).catch(() => undefined);
    await rm(this.bundleOf(id), { recursive: true, force: true });
    for (const dir of cgroupDirs(`${this.cgroupParent}/${id}`)) await rmdirQuiet(dir);
  }

  start(request: StartRequest): Promise<RunningContainer> {
    return withSpan("runtime.start", { "container.id": request.id }, async () => {
      if (this.running.has(request.id)) throw htkError("HTK-RUNTIME-0101", { id: request.id, detail: "a container with this ID is already running" });
      const missing = await missingCommand(request.spec);
      if (missing !== undefined) throw htkError("HTK-RUNTIME-0101", { id: request.id, detail: missing }, { details: { exitCode: 127 } });
      const { bundle, cgroupsPath } = await this.writeBundle(request.id, request.spec);
      try {
        if (request.spec.process.terminal === true) return await this.startWithTerminal(request.id, bundle, cgroupsPath, request.spec);
        const startedMicros = monotonicMicros();
        await writeFile(join(bundle, "started"), String(startedMicros));
        const withStdin = request.openStdin ?? false;
        await makeFifos(bundle, withStdin);
        const command = this.commandLine(["run", "--bundle", bundle, "--pid-file", join(bundle, "pid"), request.id], join(bundle, "crun.log"));
        const shim = await startShim(bundle, command, withStdin);
        return await this.attachShim(request.id, bundle, cgroupsPath, request.spec, startedMicros, shim.stdin, shim.child);
      } catch (err) {
        await this.removeEverything(request.id);
        throw err;
      }
    });
  }

  /**
   * Re-attach to a container a previous run of the engine started (`docker ps` after an engine
   * restart): its output from now on, `wait()` with the exact status even if it ended while the
   * engine was down. HTK-RUNTIME-0106 when there is no such container or it cannot be re-attached
   * (TTY containers: their terminal relay died with the engine).
   */
  attach(id: string): Promise<RunningContainer> {
    return withSpan("runtime.attach", { "container.id": id }, async () => {
      this.checkId(id);
      const existing = this.live.get(id);
      if (existing?.handle) return existing.handle;
      const bundle = this.bundleOf(id);
      let spec: Spec;
      let startedMicros: number;
      try {
        spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as Spec;
        startedMicros = Number(await readFile(join(bundle, "started"), "utf8"));
      } catch {
        throw htkError("HTK-RUNTIME-0106", { id });
      }
      return this.attachShim(id, bundle, spec.linux.cgroupsPath ?? `${this.cgroupParent}/${id}`, spec, startedMicros, null, undefined);
    });
  }

  /** The handle of a shim-run container: FIFO streams, and the result from the shim's status file. */
  private async attachShim(
    id: string,
    bundle: string,
    cgroupsPath: string,
    spec: Spec,
    startedMicros: number,
    stdin: Writable | null,
    child: ChildProcess | undefined,
  ): Promise<RunningContainer> {
    let stdout: Readable;
    let stderr: Readable;
    try {
      [stdout, stderr] = await Promise.all([openFifo(join(bundle, "stdout"), "read"), openFifo(join(bundle, "stderr"), "read")]);
    } catch (err) {
      stdin?.destroy();
      // No FIFOs: not a container the shim runs (a TTY container, or a bundle from elsewhere).
      throw htkError("HTK-RUNTIME-0106", { id }, { cause: err });
    }
    const stop = new AbortController();
    let ended = false;
    const status = new Promise<number | undefined>((resolvePromise) => {
      // Our own shim: its exit is the fastest signal. Otherwise (re-attached) the status file is watched.
      child?.once("exit", () => void readExitStatus(bundle).then(resolvePromise));
      // Re-attached: if crun's state is gone and no status ever comes (the shim was killed), do not wait forever.
      const isGone = child === undefined ? () => !existsSync(join(this.stateDir, id)) : undefined;
      void waitForExitStatus(bundle, stop.signal, isGone).then(resolvePromise);
    });
    const result = status.then(async (code) => {
      stop.abort();
      ended = true;
      // No status: the shim itself was killed; crun's state tells no more. Report a kill, as Docker does for a lost task.
      if (code === undefined) return resultFromExit(null, "SIGKILL");
      return this.interpretExit(id, bundle, cgroupsPath, spec, startedMicros, code, null);
    });
    const pid = await Promise.race([waitForPidFile(join(bundle, "pid"), () => ended), result.then(() => undefined)]).catch(async (err: unknown) => {
      stdin?.destroy();
      stdout.destroy();
      stderr.destroy();
      throw err;
    });
    const settled = result.catch((err: unknown): ProcessResult => {
      this.log.warn({ id, err }, "container ended with a runtime error");
      return { kind: "exited", exitCode: 128 };
    });
    const handle: RunningContainer = { id, pid: pid ?? 0, stdin, stdout, stderr, wait: () => settled };
    this.live.set(id, { id, cgroupsPath, result: settled, running: () => !ended, handle, ...(child ? { child } : {}) });
    return handle;
  }

  /** TTY containers: `crun run` with the console socket as the engine's child, the relay beside it. */
  private async startWithTerminal(id: string, bundle: string, cgroupsPath: string, spec: Spec): Promise<RunningContainer> {
    const relay = await startTerminalRelay(id);
    let launched: { child: ChildProcess; result: Promise<ProcessResult> };
    try {
      launched = this.launch(id, bundle, cgroupsPath, spec, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }, relay.socketPath);
    } catch (err) {
      relay.close();
      throw err;
    }
    const { child, result } = launched;
    // The container's stdio is the pty; crun's own pipes carry nothing but must not fill up.
    child.stdout?.resume();
    child.stderr?.resume();
    // A failed start rejects `result`; make sure it is observed, then report it here.
    const pid = await Promise.race([waitForPidFile(join(bundle, "pid"), () => child.exitCode !== null || child.signalCode !== null), result.then(() => undefined)]).catch(
      (err: unknown) => {
        relay.close();
        throw err;
      },
    );
    const settled = result.catch((err: unknown): ProcessResult => {
      this.log.warn({ id, err }, "container ended with a runtime error");
      return { kind: "exited", exitCode: 128 };
    });
    const handle: RunningContainer = {
      id,
      pid: pid ?? 0,
      stdin: relay.input,
      stdout: relay.output,
      stderr: Readable.from([]),
      wait: () => settled,
      resize: (rows: number, cols: number) => relay.resize(rows, cols),
    };
    this.live.set(id, { id, cgroupsPath, result: settled, running: () => child.exitCode === null && child.signalCode === null, child, relay, handle });
    return handle;
  }

  exec(id: string, request: ExecRequest): Promise<ExecProcess> {
    return withSpan("runtime.exec", { "container.id": id, "process.args": request.args.join(" ") }, async () => {
      if (request.args.length === 0) throw htkError("HTK-RUNTIME-0104", { setting: "exec command", value: "", reason: "a command is required" });
      const live = this.live.get(id);
      if (live && !live.running()) throw htkError("HTK-RUNTIME-0106", { id });
      const bundle = this.bundleOf(id);
      let spec: Spec;
      try {
        spec = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as Spec;
      } catch {
        throw htkError("HTK-RUNTIME-0106", { id });
      }
      // Docker's exec: the container's environment, capabilities, rlimits and user unless overridden.
      let user = spec.process.user;
      if (request.user !== undefined && request.user !== "") {
        const db = await readUserDatabase(spec.root.path);
        const u = resolveUser(db, request.user);
        user = { uid: u.uid, gid: u.gid, additionalGids: [...u.additionalGids] };
      }
      const tty = request.tty ?? false;
      const process_: Process = {
        terminal: tty,
        user,
        args: [...request.args],
        // docker exec -t sets TERM=xterm like docker run -t.
        env: mergeEnv(spec.process.env, tty ? ["TERM=xterm"] : [], request.env ?? []),
        cwd: request.cwd !== undefined && request.cwd !== "" ? request.cwd : spec.process.cwd,
        ...(spec.process.capabilities ? { capabilities: spec.process.capabilities } : {}),
        ...(spec.process.rlimits ? { rlimits: spec.process.rlimits } : {}),
        noNewPrivileges: spec.process.noNewPrivileges ?? false,
      };
      if (request.privileged) {
        process_.capabilities = { bounding: [...ALL_CAPABILITIES], effective: [...ALL_CAPABILITIES], permitted: [...ALL_CAPABILITIES] };
      }
      const n = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      const processFile = join(bundle, `exec-${n}.json`);
      const pidFile = join(bundle, `exec-${n}.pid`);
      const logFile = join(bundle, `exec-${n}.log`);
      await writeFile(processFile, JSON.stringify(process_));
      const relay = tty ? await startTerminalRelay(id) : undefined;
      const consoleArgs = relay ? ["--console-socket", relay.socketPath] : [];
      let child: ChildProcess;
      try {
        const { file, argv } = this.commandLine(["exec", "--process", processFile, "--pid-file", pidFile, ...consoleArgs, id], logFile);
        child = spawn(file, argv, { stdio: [request.openStdin && !relay ? "pipe" : "ignore", "pipe", "pipe"] });
      } catch (err) {
        relay?.close();
        throw err;
      }
      if (relay) {
        child.stdout?.resume();
        child.stderr?.resume();
      }
      let closed = false;
      let settlePid!: (pid: number | undefined) => void;
      const pid = new Promise<number | undefined>((resolvePid) => {
        settlePid = resolvePid;
      });
      // The pid file appears once crun has created the process; the close handler settles it too (it
      // reads the file before removing it), so a process that ends at once is not taken for a failure.
      void waitForPidFile(pidFile, () => closed).then((n) => {
        if (n !== undefined) settlePid(n);
      });
      const result = new Promise<ProcessResult>((resolvePromise) => {
        child.on("error", (e) => {
          this.log.warn({ id, err: e }, "exec could not start the runtime");
          relay?.close();
          closed = true;
          settlePid(undefined);
          resolvePromise({ kind: "exited", exitCode: 126 });
        });
        child.on("close", (code, signal) => {
          void (async () => {
            const errors = (await this.readLog(bundle, `exec-${n}.log`)).filter((e) => e.level === "error");
            const ranPid = await readFile(pidFile, "utf8").then(
              (t) => (Number(t.trim()) > 0 ? Number(t.trim()) : undefined),
              () => undefined,
            );
            const ran = ranPid !== undefined;
            closed = true;
            settlePid(ranPid);
            let r = resultFromExit(code, signal);
            if (errors.length > 0 && !ran) {
              const msg = errors.map((e) => e.msg).join("; ");
              // Docker reports these exec failures as exit codes, with the message on the output.
              r = { kind: "exited", exitCode: /not found|no such file/i.test(msg) ? 127 : 126 };
              relay?.close();
            }
            await Promise.all([rm(processFile, { force: true }), rm(pidFile, { force: true }), rm(logFile, { force: true })]);
            resolvePromise(r);
          })().catch(() => {
            closed = true;
            settlePid(undefined);
            resolvePromise(resultFromExit(code, signal));
          });
        });
      });
      return {
        stdin: relay ? relay.input : (child.stdin ?? null),
        stdout: relay ? relay.output : (child.stdout as NonNullable<ChildProcess["stdout"]>),
        stderr: relay ? Readable.from([]) : (child.stderr as NonNullable<ChildProcess["stderr"]>),
        pid,
        wait: () => result,
        kill: (signal: NodeJS.Signals | number) => {
          void readFile(pidFile, "utf8")
            .then((pid) => process.kill(Number(pid.trim()), signal))
            .catch(() => undefined);
        },
        ...(relay ? { resize: (rows: number, cols: number) => relay.resize(rows, cols) } : {}),
      };
    });
  }

  async kill(id: string, signal: NodeJS.Signals | number | string = "SIGKILL", options: { readonly all?: boolean } = {}): Promise<void> {
    await this.checked(id, ["kill", ...(options.all ? ["--all"] : []), id, signalArg(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.checked(id, ["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.checked(id, ["resume", id]);
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    const bundle = this.bundleOf(id);
    await mkdir(bundle, { recursive: true });
    const file = join(bundle, `resources-${Date.now().toString(36)}.json`);
    // "No pids limit" (limit ≤ 0, as runc reads it): crun 1.8 writes the number itself, which the
    // kernel refuses, so the runtime writes "max" on its own.
    const unlimitedPids = resources.pids !== undefined && resources.pids.limit <= 0;
    const { pids: _pids, ...rest } = resources;
    await writeFile(file, JSON.stringify(unlimitedPids ? rest : resources));
    try {
      await this.checked(id, ["update", "--resources", file, id]);
    } finally {
      await rm(file, { force: true });
    }
    if (unlimitedPids) {
      const path = `${this.cgroupParent}/${id}`;
      const dir = cgroupMode() === "v2" ? join("/sys/fs/cgroup", path) : join("/sys/fs/cgroup/pids", path);
      await writeFile(join(dir, "pids.max"), "max");
    }
  }

  async state(id: string): Promise<ContainerState> {
    this.checkId(id);
    const r = await this.checked(id, ["state", id]);
    return toState(JSON.parse(r.stdout) as RawState);
  }

  async list(): Promise<ContainerState[]> {
    await mkdir(this.stateDir, { recursive: true });
    const r = await this.command(["list", "--format", "json"]);
    if (r.code !== 0) {
      throw htkError("HTK-RUNTIME-0105", { command: `${this.binary} list`, status: `exit code ${r.code ?? "?"}`, detail: r.stderr.trim() || "(no output)" });
    }
    const text = r.stdout.trim();
    if (text === "" || text === "null") return [];
    return (JSON.parse(text) as RawState[]).map(toState);
  }

  async processes(id: string): Promise<number[]> {
    await this.state(id);
    return cgroupPids(`${this.cgroupParent}/${id}`);
  }

  async stats(id: string): Promise<ContainerStats> {
    await this.state(id);
    return readCgroupStats(`${this.cgroupParent}/${id}`);
  }

  async delete(id: string, options: { readonly force?: boolean } = {}): Promise<void> {
    this.checkId(id);
    const live = this.live.get(id);
    if (live?.running()) {
      if (!options.force) throw htkError("HTK-RUNTIME-0105", { command: `${this.binary} delete ${id}`, status: "refused", detail: "the container is still running (use force)" });
      await this.forceStop(id, live.child, live.running);
    }
    if (live) {
      await live.result;
      live.relay?.close();
      this.live.delete(id);
    }
    await this.removeEverything(id);
  }

  async cleanup(options: { readonly keep?: readonly string[] } = {}): Promise<{ readonly removed: readonly string[] }> {
    return withSpan("runtime.cleanup", {}, async () => {
      const removed: string[] = [];
      const keep = new Set(options.keep ?? []);
      // The IDs this data root knows (crun's state, bundles): only their cgroups are this runtime's to remove.
      const own = new Set<string>();
      for (const c of await this.list()) {
        own.add(c.id);
        if (this.live.has(c.id) || keep.has(c.id)) continue;
        await this.command(["delete", "--force", c.id]);
        removed.push(c.id);
      }
      let bundles: string[] = [];
      try {
        bundles = await readdir(this.bundlesDir);
      } catch {
        bundles = [];
      }
      for (const b of bundles) {
        own.add(b);
        if (this.live.has(b) || keep.has(b)) continue;
        await rm(join(this.bundlesDir, b), { recursive: true, force: true });
        if (!removed.includes(b)) removed.push(b);
      }
      for (const id of [...this.live.keys(), ...keep]) own.delete(id);
      // Kept and live IDs are not in `own`, so whatever is busy here is a leftover still in use.
      const { busy } = await removeStaleCgroups(this.cgroupParent, own);
      if (busy.length > 0) this.log.warn({ busy }, "cgroups still in use were left in place");
      return { removed };
    });
  }
}

interface RawState {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
  readonly created: string;
}

function toState(raw: RawState): ContainerState {
  const known: readonly ContainerStatus[] = ["creating", "created", "running", "paused", "stopped"];
  const status = (known as readonly string[]).includes(raw.status) ? (raw.status as ContainerStatus) : "stopped";
  return { id: raw.id, pid: raw.pid, status, bundle: raw.bundle, created: raw.created };
}

async function waitForPidFile(path: string, ended: () => boolean): Promise<number | undefined> {
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    try {
      const n = Number((await readFile(path, "utf8")).trim());
      if (n > 0) return n;
    } catch {
      // Not written yet.
    }
    if (ended()) return undefined;
    await sleep(delay);
  }
}

function streamsClosed(child: ChildProcess): Promise<void> {
  if (child.stdout === null && child.stderr === null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    if ((child.stdout?.closed ?? true) && (child.stderr?.closed ?? true)) resolvePromise();
    else child.once("close", () => resolvePromise());
  });
}

async function rmdirQuiet(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch {
    // Gone already, or still used (reported by cleanup()).
  }
}

/**
 * The error a build step (or `docker run` in the foreground) reports for a result, when the result
 * itself is one: an OOM kill is HTK-RUNTIME-0103 with the limit in words. Exits and signals are not
 * errors here: the caller decides what a non-zero exit means (BuildKit: "did not complete successfully").
 */
export function resultError(id: string, result: ProcessResult, spec: Spec): HtkError | undefined {
  switch (result.kind) {
    case "oom-killed": {
      const limit = spec.linux.resources?.memory?.limit;
      return htkError("HTK-RUNTIME-0103", { id, limit: limit === undefined ? "the host's memory" : formatBytes(limit) }, { details: { exitCode: result.exitCode } });
    }
    case "exited":
    case "signaled":
      return undefined;
    default:
      return assertNever(result);
  }
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i] ?? "B"}`;
}
