import { createServer, connect, type Server, type Socket } from "node:net";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import type { AgentInboundRequest } from "ssh2";
import type { AgentKey } from "./ssh-keys.ts";
import { loadSsh2, type Ssh2 } from "./ssh2.ts";

/**
 * The SSH agent a build step gets through `RUN --mount=type=ssh` (draft-miller-ssh-agent): a unix
 * socket the worker listens on for the step's life. Behind it is either the client's own agent
 * (`--ssh default` or `--ssh ID=/path/to/socket`: requests are relayed one by one) or an agent served
 * here from key files (`--ssh ID=/path/to/key`) by ssh2's AgentProtocol.
 *
 * As buildx, the step may list identities and ask for signatures, nothing else: adding, removing,
 * locking and extensions are refused (SSH_AGENT_FAILURE), so a build cannot change the client's agent.
 * No key, signature or request is ever written to disk or logged.
 */
export type SshAgentSource =
  | { readonly kind: "socket"; readonly path: string }
  | { readonly kind: "keys"; readonly keys: readonly AgentKey[] }
  /**
   * The client's agent behind the engine's build service (buildx's `--ssh`): `ask` sends one agent
   * message (without its length prefix) to the client and resolves with its agent's answer.
   */
  | { readonly kind: "remote"; readonly ask: (message: Uint8Array) => Promise<Uint8Array> };

/** Agent message numbers (draft-miller-ssh-agent §5.1) the relay looks at. */
const FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const SIGN_REQUEST = 13;

/** OpenSSH's AGENT_MAX_LEN: a longer message is a broken or hostile peer. */
const MAX_MESSAGE = 256 * 1024;

/** Requests a step may queue on the relay before it reads an answer (ssh clients send one at a time). */
const MAX_QUEUED = 64;

export interface AgentSocketOptions {
  readonly uid: number;
  readonly gid: number;
  /** The socket file's mode (the mount's `mode`, default 0600). */
  readonly mode: number;
  /** Name prefix of the socket's directory in the temporary folder (the worker's, to find it after a crash). */
  readonly dirPrefix?: string;
}

export interface AgentSocket {
  /** The socket's host path, to bind-mount at the mount's target. */
  readonly path: string;
  /** Stops listening, closes every connection and removes the socket's directory. */
  close(): Promise<void>;
}

/**
 * Listens on a new socket in a private temporary directory (as BuildKit's MountSSHSocket: a short
 * path, unix socket paths are limited to 108 bytes) and serves `source` on every connection.
 */
export async function serveAgentSocket(source: SshAgentSource, opts: AgentSocketOptions): Promise<AgentSocket> {
  const dir = await mkdtemp(join(tmpdir(), opts.dirPrefix ?? "htk-ssh-"));
  const path = join(dir, "agent");
  const serve =
    source.kind === "socket" ? (c: Socket) => relay(c, source.path) : source.kind === "remote" ? (c: Socket) => relayRemote(c, source.ask) : keysAgent(source.keys, await loadSsh2());
  const conns = new Set<Socket>();
  const server: Server = createServer((c) => {
    conns.add(c);
    c.once("close", () => conns.delete(c));
    c.on("error", () => undefined);
    serve(c);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    await chown(dir, opts.uid, opts.gid);
    await chmod(dir, 0o711);
    await chown(path, opts.uid, opts.gid);
    await chmod(path, opts.mode & 0o777);
  } catch (err) {
    server.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  // A failing connection must not crash the build process.
  server.on("error", () => undefined);
  return {
    path,
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The in-process agent: ssh2's AgentProtocol (server side) answers; it refuses every other request itself. */
function keysAgent(keys: readonly AgentKey[], { AgentProtocol }: Ssh2): (c: Socket) => void {
  return (c) => {
    const agent = new AgentProtocol(false);
    // AgentProtocol calls these from its write path: a throw there would end the build process.
    const answer = (req: AgentInboundRequest, reply: () => void): void => {
      try {
        reply();
      } catch {
        agent.failureReply(req);
      }
    };
    agent.on("identities", (req) => answer(req, () => agent.getIdentitiesReply(req, keys.map((k) => k.publicKey))));
    agent.on("sign", (req, pubKey, data, options) =>
      answer(req, () => {
        const blob = pubKey.getPublicSSH();
        const signature = keys.find((k) => k.publicKey.getPublicSSH().equals(blob))?.sign(data, options.hash);
        if (signature === undefined) agent.failureReply(req);
        else agent.signReply(req, signature);
      }),
    );
    // AgentProtocol has no bound on a message's length: the frames are checked on the way in.
    const frames = new FrameReader();
    const guard = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        try {
          frames.push(chunk);
          done(null, chunk);
        } catch (err) {
          done(err as Error);
        }
      },
    });
    guard.on("error", () => c.destroy());
    c.pipe(guard).pipe(agent).pipe(c);
  };
}

/**
 * The relay to the client's agent, one request at a time. The bytes of relayed requests and answers
 * pass untouched (as buildx's: keys ssh2 cannot parse, such as certificates and security keys, keep
 * working); any other request is answered with FAILURE here and never reaches the client's agent.
 */
function relay(c: Socket, path: string): void {
  const upstream = connect(path);
  const fromStep = new FrameReader();
  const fromAgent = new FrameReader();
  const queue: Uint8Array[] = [];
  let waiting = false;
  const fail = (): void => {
    c.destroy();
    upstream.destroy();
  };
  const next = (): void => {
    while (!waiting && !c.destroyed) {
      const m = queue.shift();
      if (m === undefined) return;
      if (m[0] === REQUEST_IDENTITIES || m[0] === SIGN_REQUEST) {
        waiting = true;
        upstream.write(frame(m));
      } else {
        c.write(frame(Uint8Array.of(FAILURE)));
      }
    }
  };
  upstream.on("error", fail);
  upstream.on("close", fail);
  c.on("close", () => upstream.destroy());
  c.on("data", (chunk: Buffer) => {
    try {
      queue.push(...fromStep.push(chunk));
    } catch {
      fail();
      return;
    }
    if (queue.length > MAX_QUEUED) fail();
    else if (!waiting) next();
  });
  upstream.on("data", (chunk: Buffer) => {
    let answers: Uint8Array[];
    try {
      answers = fromAgent.push(chunk);
    } catch {
      fail();
      return;
    }
    for (const a of answers) {
      // An answer nobody asked for: the agent and the step are out of step.
      if (!waiting) return fail();
      waiting = false;
      c.write(frame(a));
      next();
    }
  });
}

/** The relay to a client's agent through the build service: the same rules as {@link relay}. */
function relayRemote(c: Socket, ask: (message: Uint8Array) => Promise<Uint8Array>): void {
  const fromStep = new FrameReader();
  const queue: Uint8Array[] = [];
  let waiting = false;
  const next = (): void => {
    while (!waiting && !c.destroyed) {
      const m = queue.shift();
      if (m === undefined) return;
      if (m[0] !== REQUEST_IDENTITIES && m[0] !== SIGN_REQUEST) {
        c.write(frame(Uint8Array.of(FAILURE)));
        continue;
      }
      waiting = true;
      ask(m).then(
        (answer) => {
          waiting = false;
          if (c.destroyed) return;
          c.write(frame(answer.byteLength === 0 || answer.byteLength > MAX_MESSAGE ? Uint8Array.of(FAILURE) : answer));
          next();
        },
        // The client is gone or its agent failed: the step's ssh sees its agent close.
        () => c.destroy(),
      );
    }
  };
  c.on("data", (chunk: Buffer) => {
    try {
      queue.push(...fromStep.push(chunk));
    } catch {
      c.destroy();
      return;
    }
    if (queue.length > MAX_QUEUED) c.destroy();
    else next();
  });
}

/** `uint32 length || message`. */
export function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + message.byteLength);
  new DataView(out.buffer).setUint32(0, message.byteLength);
  out.set(message, 4);
  return out;
}

/** Splits a byte stream into agent messages; throws on a message longer than {@link MAX_MESSAGE}. */
export class FrameReader {
  #pending: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const buf = new Uint8Array(this.#pending.byteLength + chunk.byteLength);
    buf.set(this.#pending);
    buf.set(chunk, this.#pending.byteLength);
    const out: Uint8Array[] = [];
    let at = 0;
    while (buf.byteLength - at >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + at).getUint32(0);
      if (len === 0 || len > MAX_MESSAGE) throw new Error(`agent message of ${len} bytes`);
      if (buf.byteLength - at - 4 < len) break;
      out.push(buf.slice(at + 4, at + 4 + len));
      at += 4 + len;
    }
    this.#pending = buf.slice(at);
    return out;
  }
}
