import { installMiniHeaders } from "./mini-headers.ts";
import { runPlugin } from "./cli.ts";
import { watchPluginSocket } from "./plugin-socket.ts";

// Start-up cost: see mini-headers.ts (Node's Headers would load all of fetch).
installMiniHeaders();

// The bundled entry point (dist/docker-buildx.mjs, started by bin/docker-buildx). Cancellation, as
// buildx does it: the first SIGINT/SIGTERM (or the docker CLI closing the plugin socket) aborts the
// command, which cancels its build in the engine; the third ends the process at once.
const controller = new AbortController();
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
  // watcher starts with the command, not later: an interrupt the CLI signals (by closing the socket)
  // before the watcher has connected would be lost.
  longRunning: () => (socket ??= watchPluginSocket(process.env, interrupt)),
});
socket?.dispose();
process.off("SIGINT", interrupt);
process.off("SIGTERM", interrupt);
