import { connect, type Socket } from "node:net";

/**
 * The docker CLI's plugin socket (DOCKER_CLI_PLUGIN_SOCKET): the CLI listens, the plugin connects and
 * reads until EOF. The CLI closes it when it gets SIGINT/SIGTERM while its output is not a terminal
 * (on a terminal the signal reaches the plugin directly, as the process group's), so EOF means "the
 * user interrupted": the plugin cancels what it is doing, exactly as on its own SIGINT.
 *
 * Go writes abstract socket addresses with a leading "@"; Node wants a leading NUL byte.
 */
export function watchPluginSocket(env: NodeJS.ProcessEnv, onClose: () => void): { dispose(): void } {
  const address = env["DOCKER_CLI_PLUGIN_SOCKET"];
  if (address === undefined || address === "") return { dispose: () => undefined };
  const path = address.startsWith("@") ? `\0${address.slice(1)}` : address;
  let disposed = false;
  let socket: Socket | undefined;
  try {
    socket = connect({ path });
  } catch {
    return { dispose: () => undefined };
  }
  let connected = false;
  socket.on("connect", () => {
    connected = true;
    // The socket only signals; it must never keep the process alive.
    socket?.unref();
  });
  socket.on("data", () => undefined);
  const closed = (): void => {
    if (!disposed && connected) onClose();
    disposed = true;
  };
  socket.on("end", closed);
  socket.on("close", closed);
  socket.on("error", () => undefined);
  socket.unref();
  return {
    dispose() {
      disposed = true;
      socket?.destroy();
    },
  };
}
