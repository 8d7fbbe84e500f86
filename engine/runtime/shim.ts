import { execFile, spawn, type ChildProcess } from "node:child_process";
import { constants, open as openCallback, watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { Socket } from "node:net";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { promisify } from "node:util";

/**
 * The shim: what keeps a started container's stdio and exit status alive while the engine is not.
 *
 * Docker's containers survive a dockerd restart because containerd-shim, not dockerd, is their
 * parent. Ours is a few lines of /bin/sh, started in its own session (so it outlives the engine),
 * which runs `crun run` in the foreground and then writes crun's exit status to `<bundle>/exit`:
 *
 * - the container's stdout and stderr are FIFOs in the bundle (`stdout`, `stderr`). The shim holds
 *   each open for reading *and* writing: while the engine is away, the container's writes never fail
 *   with EPIPE (they block once the 64 KiB pipe buffer is full, as with Docker's live-restore), and a
 *   restarted engine opens the FIFOs again and reads on. The engine sees end-of-file only when the
 *   shim has exited, which it does right after writing the exit status;
 * - stdin (`docker run -i`) is a FIFO the engine holds open; when the engine goes, the container reads EOF;
 * - the exit status file is written to a temporary name and renamed, so it is complete when seen.
 *
 * A TTY container's pty relay lives in the engine, so TTY containers do not survive a restart.
 */

const SHIM = [
  'B="$0"',
  // Both ends of the output FIFOs, so writers never see a missing reader (see above).
  'exec 3<>"$B/stdout" 4<>"$B/stderr"',
  'if [ -p "$B/stdin" ]; then exec 0<"$B/stdin"; else exec 0</dev/null; fi',
  // Tell the engine the FIFOs have a writer now: it can open them without seeing end-of-file.
  "echo ready",
  'exec 1>/dev/null',
  '"$@" >"$B/stdout" 2>"$B/stderr" 3>&- 4>&-',
  'echo $? >"$B/exit.tmp" && mv "$B/exit.tmp" "$B/exit"',
].join("\n");

const execFileAsync = promisify(execFile);
const openFd = promisify(openCallback);

/** Create the FIFOs of a bundle. */
export async function makeFifos(bundle: string, withStdin: boolean): Promise<void> {
  const names = ["stdout", "stderr", ...(withStdin ? ["stdin"] : [])].map((n) => join(bundle, n));
  await execFileAsync("mkfifo", ["-m", "0600", ...names]);
}

/**
 * Start the shim for a written bundle. Resolves once it holds the FIFOs (it printed "ready"), with the
 * stdin writer opened before it (the shim's open of stdin for reading would otherwise wait for one).
 */
export async function startShim(
  bundle: string,
  command: { readonly file: string; readonly argv: readonly string[] },
  withStdin: boolean,
): Promise<{ child: ChildProcess; stdin: Writable | null }> {
  const stdin = withStdin ? await openFifo(join(bundle, "stdin"), "write") : null;
  // detached: a new session, so neither the engine's death nor a signal to its process group reaches it.
  const child = spawn("/bin/sh", ["-c", SHIM, bundle, command.file, ...command.argv], { cwd: "/", detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.unref();
  await new Promise<void>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr?.on("data", (b: Buffer) => (err += b.toString("utf8")));
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString("utf8");
      if (out.includes("ready\n")) resolve();
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the container shim exited (${code ?? "signal"}) before it was ready: ${err.trim() || "no output"}`)));
  });
  // The shim's own pipes are no longer needed; they must not keep the engine's event loop alive.
  child.stdout?.destroy();
  child.stderr?.destroy();
  child.removeAllListeners("exit");
  return { child, stdin };
}

/**
 * Open a FIFO as a non-blocking stream. Reading: O_RDONLY (end-of-file once every writer, the shim
 * included, is gone). Writing: O_RDWR, which never blocks on Linux even before the reader opens.
 */
export async function openFifo(path: string, mode: "read"): Promise<Readable>;
export async function openFifo(path: string, mode: "write"): Promise<Writable>;
export async function openFifo(path: string, mode: "read" | "write"): Promise<Readable | Writable> {
  const flags = (mode === "read" ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK;
  // A plain descriptor, not a FileHandle: the socket owns it (a FileHandle would close it when collected).
  const fd = await openFd(path, flags);
  // libuv treats a FIFO descriptor as a pipe: reads and writes run on the event loop, not the thread pool.
  return new Socket({ fd, readable: mode === "read", writable: mode === "write" });
}

/** crun's exit status as the shim recorded it; undefined while the container runs. */
export async function readExitStatus(bundle: string): Promise<number | undefined> {
  try {
    const text = (await readFile(join(bundle, "exit"), "utf8")).trim();
    const n = Number(text);
    return text !== "" && Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the exit status once `<bundle>/exit` appears: watched with inotify, checked again
 * every second as a backstop (a watcher can miss a rename on some filesystems). `signal` stops it.
 * `isGone` (re-attached containers): when it says so twice in a row and no status was written (the
 * shim itself was killed), resolves undefined instead of waiting forever.
 */
export function waitForExitStatus(bundle: string, signal: AbortSignal, isGone?: () => boolean): Promise<number | undefined> {
  return new Promise((resolve) => {
    let watcher: FSWatcher | undefined;
    let done = false;
    const finish = (v: number | undefined): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      watcher?.close();
      resolve(v);
    };
    let goneBefore = false;
    const check = (): void => {
      void readExitStatus(bundle).then((v) => {
        if (v !== undefined) finish(v);
      });
    };
    const poll = (): void => {
      check();
      if (isGone === undefined) return;
      const gone = isGone();
      if (gone && goneBefore) void readExitStatus(bundle).then(finish);
      goneBefore = gone;
    };
    try {
      watcher = watch(bundle, (_event, name) => {
        if (name === "exit") check();
      });
      watcher.on("error", () => undefined);
      watcher.unref();
    } catch {
      watcher = undefined;
    }
    const timer = setInterval(poll, 1000);
    timer.unref();
    signal.addEventListener("abort", () => finish(undefined), { once: true });
    check();
  });
}
