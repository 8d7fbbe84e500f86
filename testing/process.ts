import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { htkError } from "../base/errors/index.ts";

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  readonly input?: string | Uint8Array;
  /** Kill (SIGKILL) after this long. Default 60 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Start the child through `setpriv --pdeathsig KILL`, so it dies if this process dies without
   * cleaning up (a crashed or killed test run). Use it for anything long-running.
   */
  readonly dieWithParent?: boolean;
  /**
   * Start the child in its own process group and kill the whole group on timeout or abort, so
   * grandchildren (debootstrap's dpkg …) go too.
   */
  readonly processGroup?: boolean;
}

export interface RunResult {
  /** The exit code; null when the child was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

const SETPRIV = "/usr/bin/setpriv";

function withParentDeath(cmd: string, args: readonly string[], dieWithParent: boolean): [string, string[]] {
  // setpriv execs the program in place, so the pid we hold is the program's own pid.
  if (dieWithParent && existsSync(SETPRIV)) return [SETPRIV, ["--pdeathsig", "KILL", "--", cmd, ...args]];
  return [cmd, [...args]];
}

/**
 * Run a program to completion and collect its output. Rejects only if the program cannot be started
 * (ENOENT …) or on abort; a non-zero exit is a normal result (see `runChecked`). The child is always
 * waited for, also after a timeout.
 */
export function run(cmd: string, args: readonly string[] = [], options: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = withParentDeath(cmd, args, options.dieWithParent ?? false);
  return new Promise<RunResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason instanceof Error ? options.signal.reason : new Error("aborted"));
      return;
    }
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: options.processGroup ?? false,
    });
    const kill = (): void => {
      if (options.processGroup && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
          return;
        } catch {
          // The group is gone already; fall through to the child itself.
        }
      }
      child.kill("SIGKILL");
    };
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => stdout.push(b));
    child.stderr?.on("data", (b: Buffer) => stderr.push(b));
    let timedOut = false;
    let abortReason: unknown;
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs ?? 60_000);
    const onAbort = (): void => {
      abortReason = options.signal?.reason;
      kill();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (err) => {
      finish();
      reject(err);
    });
    child.on("close", (code, signal) => {
      finish();
      if (abortReason !== undefined) {
        reject(abortReason instanceof Error ? abortReason : new Error(String(abortReason)));
        return;
      }
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        timedOut,
      });
    });
    if (options.input !== undefined) {
      child.stdin?.on("error", () => {
        // The child may exit without reading its input (EPIPE); its exit status tells the story.
      });
      child.stdin?.end(options.input);
    }
  });
}

/** How a finished command ended, in words: "exit code 3", "signal SIGKILL", "a timeout after 60 s". */
export function describeExit(result: RunResult, timeoutMs?: number): string {
  if (result.timedOut) return `a timeout after ${Math.round((timeoutMs ?? 60_000) / 1000)} s`;
  if (result.signal !== null) return `signal ${result.signal}`;
  return `exit code ${result.code ?? "?"}`;
}

/** `run`, but a non-zero exit (or a timeout) throws HTK-TEST-0004 with the end of stderr. */
export async function runChecked(
  cmd: string,
  args: readonly string[] = [],
  options: RunOptions & { readonly logFile?: string } = {},
): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-8).join("\n");
    throw htkError("HTK-TEST-0004", {
      command: [cmd, ...args].join(" "),
      status: describeExit(result, options.timeoutMs),
      detail: tail === "" ? "(no output)" : tail,
      logFile: options.logFile ?? "(none)",
    });
  }
  return result;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

export interface ServiceOptions {
  /** For messages: "docker-registry (auth)". */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr go here. */
  readonly logFile: string;
  /** The port the service should listen on, for the error message. */
  readonly port: number;
  /** Resolves true once the service answers. Polled every 50 ms. */
  readonly ready: () => Promise<boolean>;
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Service {
  readonly pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Start a long-running program that dies with this process, and wait until `ready()` says yes.
 * Fails with HTK-TEST-0002 if it exits first or is not ready in time (the process is then killed).
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = await open(options.logFile, "a");
  const [file, argv] = withParentDeath(options.command, options.args, true);
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", log.fd, log.fd] });
  } finally {
    // The child holds its own copy of the descriptor.
    await log.close();
  }
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on("error", (err) => {
      exitInfo = `could not be started: ${err.message}`;
      resolve();
    });
    child.on("exit", (code, signal) => {
      exitInfo = signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? "?"}`;
      resolve();
    });
  });
  const stop = async (graceMs = 2_000): Promise<void> => {
    if (exitInfo !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const fail = async (detail: string): Promise<never> => {
    await stop(500);
    let logTail = "";
    try {
      logTail = (await readFile(options.logFile, "utf8")).trim().split("\n").slice(-5).join(" | ");
    } catch {
      // No log yet: the detail alone has to do.
    }
    throw htkError("HTK-TEST-0002", {
      service: options.name,
      seconds: Math.round(timeoutMs / 100) / 10,
      detail: logTail === "" ? detail : `${detail}; log ends: ${logTail}`,
      port: options.port,
      logFile: options.logFile,
    });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== undefined) return fail(`it ${exitInfo}`);
    let ok = false;
    try {
      ok = await options.ready();
    } catch {
      ok = false;
    }
    if (ok && exitInfo === undefined) break;
    if (Date.now() > deadline) return fail("it did not answer");
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid ?? -1, stop };
}
