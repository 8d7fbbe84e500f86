import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { htkError } from "../../base/errors/index.ts";
import { findExecutable } from "./find-executable.ts";

/**
 * TTY support: crun's `--console-socket`.
 *
 * With `process.terminal: true`, crun creates the container's pty and sends the master end over a
 * unix socket as SCM_RIGHTS ancillary data. Node's `net` cannot receive file descriptors, so a small
 * relay does it: Debian's python3 (python3-minimal) running the script below. It listens on the
 * socket, takes the master fd, then copies its stdin → master and master → stdout, and applies window
 * sizes written to its fd 3 (`"rows cols\n"`, TIOCSWINSZ). It exits when the container closes the pty.
 * A terminal merges stdout and stderr, as Docker's TTY mode does.
 */

const RELAY = String.raw`
import array, fcntl, os, select, socket, struct, sys, termios
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
sys.stderr.write("ready\n"); sys.stderr.flush()
conn, _ = srv.accept()
fds = array.array("i")
msg, anc, flags, addr = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
conn.close(); srv.close(); os.unlink(path)
if not fds:
    sys.exit(3)
master = fds[0]
inputs = [0, master, 3]
pending = b""
while True:
    r, _, _ = select.select(inputs, [], [])
    if master in r:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            inputs.remove(0)
        else:
            os.write(master, data)
    if 3 in r:
        data = os.read(3, 4096)
        if not data:
            inputs.remove(3)
        else:
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                rows, cols = (int(x) for x in line.split())
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
`;

export interface TerminalRelay {
  /** The unix socket crun sends the pty master to. */
  readonly socketPath: string;
  /** Bytes typed into the terminal. */
  readonly input: Writable;
  /** What the container writes to its terminal. */
  readonly output: Readable;
  resize(rows: number, cols: number): void;
  close(): void;
}

/** Python 3 for the relay: Debian's first, then PATH. */
function python(): string | undefined {
  return findExecutable("/usr/bin/python3") ?? findExecutable("python3");
}

/**
 * Start the relay for container `id`; resolves once it listens. The socket lives in the system temp
 * folder, not in the bundle: a unix socket path is limited to 107 bytes, which a data root plus a
 * 64-hex container ID can exceed. The relay removes it as soon as crun has connected.
 */
export function startTerminalRelay(id: string, pythonPath: string | undefined = python()): Promise<TerminalRelay> {
  const py = pythonPath === undefined ? undefined : findExecutable(pythonPath);
  if (py === undefined) return Promise.reject(htkError("HTK-RUNTIME-0107", { id, detail: "python3, which receives the terminal from the runtime, is not installed" }));
  const socketPath = join(tmpdir(), `htk-tty-${process.pid}-${randomBytes(6).toString("hex")}.sock`);
  const child = spawn(py, ["-c", RELAY, socketPath], { stdio: ["pipe", "pipe", "pipe", "pipe"] });
  // Node drains (and drops) a child's unread stdout when the child exits (child_process flushStdio):
  // a container that prints and exits before its consumer attaches would lose its output. The pipe
  // holds it instead, with backpressure on the relay.
  const output = new PassThrough();
  child.stdout?.pipe(output);
  return new Promise<TerminalRelay>((resolvePromise, reject) => {
    let errText = "";
    const onData = (b: Buffer): void => {
      errText += b.toString("utf8");
      if (errText.includes("ready\n")) {
        child.stderr?.off("data", onData);
        child.stderr?.resume();
        const control = child.stdio[3] as Writable;
        control.on("error", () => undefined);
        child.stdin?.on("error", () => undefined);
        resolvePromise({
          socketPath,
          input: child.stdin as Writable,
          output,
          resize: (rows, cols) => {
            if (Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0 && rows < 65536 && cols < 65536) control.write(`${rows} ${cols}\n`);
          },
          close: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
            void rm(socketPath, { force: true });
          },
        });
      }
    };
    child.stderr?.on("data", onData);
    child.on("error", (e) => reject(htkError("HTK-RUNTIME-0107", { id, detail: `the terminal relay could not start (${e.message})` }, { cause: e })));
    child.on("exit", (code) => {
      if (!errText.includes("ready\n")) reject(htkError("HTK-RUNTIME-0107", { id, detail: `the terminal relay exited (${code ?? "signal"}): ${errText.trim() || "no output"}` }));
    });
  });
}
