import { installMiniHeaders } from "./mini-headers.ts";
import { runPlugin } from "./cli.ts";
import { watchPluginSocket } from "./plugin-socket.ts";

// Start-up cost: see mini-headers.ts (Node's Headers would load all of fetch).
installMiniHeaders();

// The bundled entry point (dist/docker-buildx.mjs, started by bin/docker-buildx). Cancellation, as
// buildx does it: the first SIGINT/SIGTERM (or the docker CLI closing the plugin socket) aborts the
// command, which cancels its build in the engine; the third ends the process at once.
const controller = new AbortController();
/** How long a command runs before it watches the plugin socket (an interrupt sooner than that is the CLI's only when stdout is no terminal). */
const WATCH_AFTER_MS = 100;
let interrupts = 0;
const interrupt = (): void => {
  interrupts++;
  if (interrupts >= 3) {
    process.stderr.write(`got ${interrupts} SIGTERM/SIGINTs, forcefully exiting\n`);
    process.exit(130);
  }
  controller.abort(new DOMException("context canceled", "AbortError"));
};
process.on("SIGINT", interrupt);
process.on("SIGTERM", interrupt);
let socket: { dispose(): void } | undefined;
let watchTimer: NodeJS.Timeout | undefined;
// A reader that stops early (`docker build -o - . | tar -t`) closes the pipe: not an error of ours.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});
const io = {
  stdout: process.stdout,
  stderr: process.stderr,
  // Made only when a command reads it (-f -, a prompt): setting up stdin costs start-up time.
  get stdin(): NodeJS.ReadableStream {
    return process.stdin;
  },
  cwd: process.cwd(),
  env: process.env,
};
process.exitCode = await runPlugin(process.argv.slice(2), io, controller.signal, {
  // Builds and other long commands listen for the CLI's interrupt; `version` and `ls` need not. The
  // watcher (a python3 process, see plugin-socket.ts) starts once the command has run for a while:
  // most no-op rebuilds are over before, and a fork and exec on a busy 2-core machine is ~5% of one.
  longRunning: () => {
    watchTimer ??= setTimeout(() => (socket ??= watchPluginSocket(process.env, interrupt)), WATCH_AFTER_MS).unref();
  },
});
clearTimeout(watchTimer);
socket?.dispose();
process.off("SIGINT", interrupt);
process.off("SIGTERM", interrupt);
