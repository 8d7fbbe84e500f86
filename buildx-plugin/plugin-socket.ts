import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/**
 * The docker CLI's plugin socket (DOCKER_CLI_PLUGIN_SOCKET): the CLI listens, the plugin connects and
 * reads until EOF. The CLI closes it when it gets SIGINT/SIGTERM while its output is not a terminal
 * (on a terminal the signal reaches the plugin directly, as the process group's), so EOF means "the
 * user interrupted": the plugin cancels what it is doing, exactly as on its own SIGINT.
 *
 * The socket is in Linux's abstract namespace (Go writes "@name"), and Node 20 pads abstract names to
 * the full sockaddr length, so it cannot reach a name Go bound with its exact length. Python can: a
 * small python3 (python3-minimal, which the engine needs anyway) holds the connection and exits when
 * the CLI closes it. Started only for commands that run long enough to be interrupted (builds).
 */
const WATCH = [
  "import socket, sys",
  "a = sys.argv[1]",
  "a = '\\0' + a[1:] if a.startswith('@') else a",
  "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
  "try:",
  "    s.connect(a)",
  "except OSError:",
  "    sys.exit(3)",
  "while True:",
  "    try:",
  "        if not s.recv(1):",
  "            sys.exit(0)",
  "    except OSError:",
  "        sys.exit(0)",
].join("\n");

export function watchPluginSocket(env: NodeJS.ProcessEnv, onClose: () => void, python = pythonPath()): { dispose(): void } {
  const address = env["DOCKER_CLI_PLUGIN_SOCKET"];
  if (address === undefined || address === "" || python === undefined) return { dispose: () => undefined };
  let disposed = false;
  // "@name" (Go's spelling of an abstract address) is turned into "\0name" by the script: argv cannot carry NUL.
  const child = spawn(python, ["-c", WATCH, address], { stdio: "ignore" });
  child.on("error", () => undefined);
  child.on("exit", (code) => {
    if (!disposed && code === 0) onClose();
  });
  // The watcher only signals; it must never keep the plugin alive.
  child.unref();
  return {
    dispose() {
      disposed = true;
      child.kill("SIGKILL");
    },
  };
}

function pythonPath(): string | undefined {
  return existsSync("/usr/bin/python3") ? "/usr/bin/python3" : undefined;
}
