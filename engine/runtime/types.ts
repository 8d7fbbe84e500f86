import type { Readable, Writable } from "node:stream";
import type { LinuxResources, Spec } from "./spec.ts";

/**
 * The OCI runtime layer as the engine's containers and the build worker see it.
 *
 * A container is an OCI bundle (a `Spec` from `buildSpec`, plus a root filesystem the caller prepared:
 * an overlay snapshot or an unpacked image) run by crun (or runc: same CLI). The runtime owns the
 * bundle directory, crun's state directory and the container's cgroup; the caller owns the rootfs and
 * whatever it mounted there.
 *
 * Two ways to run:
 * - `run`: a process to completion (a build step, `docker run --rm` without attach), stdout/stderr
 *   streamed to callbacks, cancelled by an AbortSignal; everything is cleaned up before it settles.
 * - `start`: a long-running container (`docker start`): a handle with stdio streams and `wait()`;
 *   `exec`, `kill`, `pause`, `resume`, `update`, `stats` act on it by ID; `delete` removes it after it exited.
 *
 * Results are exact: an exit code, a death by signal (Docker's ExitCode is then 128+N), or a kill by the
 * kernel's OOM killer inside the container's memory limit (Docker's `State.OOMKilled`).
 */

/** How a container's (or exec's) main process ended. */
export type ProcessResult =
  /** It exited by itself with this code (0–255). */
  | { readonly kind: "exited"; readonly exitCode: number }
  /**
   * It was killed by a signal. crun reports 128+N for both "killed by N" and "exit(128+N)", as the
   * shell does; both are read as a signal, which is what Docker's ExitCode shows anyway.
   */
  | { readonly kind: "signaled"; readonly signal: number; readonly signalName: string; readonly exitCode: number }
  /** The kernel's OOM killer killed a process of the container (not necessarily the main one). */
  | { readonly kind: "oom-killed"; readonly exitCode: number };

/** Stdin for `run`: nothing (/dev/null), bytes written then closed, or a stream piped in (closed at its end). */
export type StdinSource =
  | { readonly kind: "none" }
  | { readonly kind: "bytes"; readonly data: string | Uint8Array }
  | { readonly kind: "stream"; readonly stream: Readable };

export interface RunRequest {
  /** Unique among live containers: [A-Za-z0-9][A-Za-z0-9_.-]*. Docker uses the 64-hex container ID. */
  readonly id: string;
  /** The spec (from `buildSpec`); `root.path` should be absolute. `linux.cgroupsPath` is set by the runtime. */
  readonly spec: Spec;
  /**
   * The cgroup to run in (cgroupfs path, e.g. `/ci/buildkit/<id>`: a build step with `--cgroup-parent`);
   * default `<the runtime's parent>/<id>`. crun makes it (and missing parents) and removes it afterwards.
   */
  readonly cgroupsPath?: string;
  readonly stdin?: StdinSource;
  /** Output as it comes; never called after `run` settles. */
  readonly onStdout?: (chunk: Buffer) => void;
  readonly onStderr?: (chunk: Buffer) => void;
  /** Aborting kills the container (SIGKILL), cleans up and rejects with the abort reason. */
  readonly signal?: AbortSignal;
}

export interface StartRequest {
  readonly id: string;
  readonly spec: Spec;
  /** Open a stdin pipe (`docker run -i`); default: /dev/null. */
  readonly openStdin?: boolean;
}

/** A started container. Its stdio streams end when the process (and every holder of them) is gone. */
export interface RunningContainer {
  readonly id: string;
  /** The container's init process as the host sees it. */
  readonly pid: number;
  /** Present when `openStdin` was set. */
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves once when the main process has ended (never rejects); the container then needs `delete`. */
  wait(): Promise<ProcessResult>;
  /** With a TTY (`process.terminal`): set the terminal's size (`docker resize`). */
  resize?(rows: number, cols: number): void;
}

export interface ExecRequest {
  readonly args: readonly string[];
  /** Added to the container's environment (KEY=VALUE, later wins). */
  readonly env?: readonly string[];
  readonly cwd?: string;
  /** `docker exec -u`: resolved in the container's /etc/passwd and /etc/group; default: the container's user. */
  readonly user?: string;
  readonly privileged?: boolean;
  /** Open a stdin pipe (`docker exec -i`). With `tty`, stdin is always the terminal's input. */
  readonly openStdin?: boolean;
  /** `docker exec -t`: a pty (stdout and stderr merged), resizable. */
  readonly tty?: boolean;
}

export interface ExecProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * The process's host pid once it runs, or undefined when it never started (command not found, not
   * executable, unknown user …: `wait()` then gives 127/126, and the output holds only the runtime's
   * own message). Never rejects.
   */
  readonly pid: Promise<number | undefined>;
  wait(): Promise<ProcessResult>;
  /** Signal the exec'd process itself (not the container). */
  kill(signal: NodeJS.Signals | number): void;
  /** With `tty`: set the terminal's size. */
  resize?(rows: number, cols: number): void;
}

export type ContainerStatus = "creating" | "created" | "running" | "paused" | "stopped";

export interface ContainerState {
  readonly id: string;
  readonly pid: number;
  readonly status: ContainerStatus;
  readonly bundle: string;
  readonly created: string;
}

/** Figures from the container's cgroup, in the units Docker's stats JSON uses. */
export interface ContainerStats {
  /** When they were read (ISO 8601), Docker's `read`. */
  readonly read: string;
  readonly memory: {
    /** Bytes in use (usage_in_bytes / memory.current). */
    readonly usage: number;
    /** Peak usage (v1 max_usage_in_bytes; v2 memory.peak when present). */
    readonly maxUsage?: number;
    /** The limit, or the host's memory when unlimited (as Docker reports). */
    readonly limit: number;
    /** memory.stat as key → value (Docker's memory_stats.stats). */
    readonly stats: Readonly<Record<string, number>>;
    readonly failcnt?: number;
  };
  readonly cpu: {
    /** Nanoseconds of CPU time used by the container (cpu_usage.total_usage). */
    readonly totalUsage: number;
    readonly usageInKernelmode: number;
    readonly usageInUsermode: number;
    readonly percpuUsage?: readonly number[];
    /** Host CPU time in nanoseconds (system_cpu_usage, from /proc/stat). */
    readonly systemUsage: number;
    readonly onlineCpus: number;
    readonly throttling: { readonly periods: number; readonly throttledPeriods: number; readonly throttledTime: number };
  };
  readonly pids: { readonly current: number; readonly limit?: number };
  /** Bytes read and written per block device (Docker's blkio_stats.io_service_bytes_recursive). */
  readonly blkio: readonly { readonly major: number; readonly minor: number; readonly op: "read" | "write"; readonly value: number }[];
}

/** The interface the engine and the build worker program against (implemented by `CrunRuntime`). */
export interface Runtime {
  /**
   * At engine start: remove what an earlier run left behind (containers in our state dir, bundles,
   * cgroups), except the containers in `keep`, which the engine re-attaches with `attach`.
   */
  cleanup(options?: { readonly keep?: readonly string[] }): Promise<{ readonly removed: readonly string[] }>;
  run(request: RunRequest): Promise<ProcessResult>;
  start(request: StartRequest): Promise<RunningContainer>;
  /**
   * A container started by an earlier run of the engine (it survives the engine: see shim.ts): its
   * output from now on and its exact result, also when it ended while the engine was down.
   */
  attach(id: string): Promise<RunningContainer>;
  exec(id: string, request: ExecRequest): Promise<ExecProcess>;
  /** `docker kill -s`: default SIGKILL. With `all`, every process of the container. */
  kill(id: string, signal?: NodeJS.Signals | number | string, options?: { readonly all?: boolean }): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** `docker update`: new cgroup limits for a running container. */
  update(id: string, resources: LinuxResources): Promise<void>;
  state(id: string): Promise<ContainerState>;
  list(): Promise<ContainerState[]>;
  /** The container's processes as host pids (`docker top` reads /proc for the rest). */
  processes(id: string): Promise<number[]>;
  stats(id: string): Promise<ContainerStats>;
  /** Remove a stopped container (or any, with force) and its bundle and cgroup. Idempotent. */
  delete(id: string, options?: { readonly force?: boolean }): Promise<void>;
}

/** Docker's ExitCode for a result. */
export function exitCodeOf(result: ProcessResult): number {
  return result.exitCode;
}
