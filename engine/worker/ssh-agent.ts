import { createServer, connect, type Server, type Socket } from "node:net";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentKey } from "./ssh-keys.ts";

/**
 * The SSH agent a build step gets through `RUN --mount=type=ssh` (draft-miller-ssh-agent): a unix
 * socket the worker listens on for the step's life. Behind it is either the client's own agent
 * (`--ssh default` or `--ssh ID=/path/to/socket`: requests are relayed one by one) or an agent served
 * here from key files (`--ssh ID=/path/to/key`).
 *
 * As buildx, the step may list identities and ask for signatures, nothing else: adding, removing,
 * locking and extensions are refused (SSH_AGENT_FAILURE), so a build cannot change the client's agent.
 * No key, signature or request is ever written to disk or logged.
 */
export type SshAgentSource =
  | { readonly kind: "socket"; readonly path: string }
  | { readonly kind: "keys"; readonly keys: readonly AgentKey[] };

/** Agent message numbers (draft-miller-ssh-agent §5.1). */
export const AgentMessage = {
  FAILURE: 5,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
} as const;

/** OpenSSH's AGENT_MAX_LEN: a longer message is a broken or hostile peer. */
const MAX_MESSAGE = 256 * 1024;

/** Requests relayed to the client's agent; everything else is answered with FAILURE here. */
const RELAYED: ReadonlySet<number> = new Set([AgentMessage.REQUEST_IDENTITIES, AgentMessage.SIGN_REQUEST]);

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
  const conns = new Set<Socket>();
  const server: Server = createServer((c) => {
    conns.add(c);
    c.once("close", () => conns.delete(c));
    serveConnection(c, source);
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

/** Reads length-prefixed messages from `c`, answering each before reading the next. */
function serveConnection(c: Socket, source: SshAgentSource): void {
  const upstream = source.kind === "socket" ? new Upstream(source.path) : undefined;
  const frames = new FrameReader();
  let busy = Promise.resolve();
  c.on("error", () => undefined);
  c.on("close", () => upstream?.close());
  c.on("data", (chunk: Buffer) => {
    let messages: Uint8Array[];
    try {
      messages = frames.push(chunk);
    } catch {
      c.destroy();
      return;
    }
    for (const m of messages) {
      busy = busy.then(async () => {
        const answer = upstream === undefined ? answerFromKeys(m, source.kind === "keys" ? source.keys : []) : await upstream.relay(m);
        if (!c.destroyed) c.write(frame(answer));
      }).catch(() => {
        c.destroy();
      });
    }
  });
}

/** One connection to the client's agent per step connection, opened at the first request. */
class Upstream {
  readonly #path: string;
  #socket: Socket | undefined;
  readonly #frames = new FrameReader();
  readonly #waiting: ((m: Uint8Array | Error) => void)[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  async relay(message: Uint8Array): Promise<Uint8Array> {
    if (!RELAYED.has(message[0] ?? 0)) return Uint8Array.of(AgentMessage.FAILURE);
    const s = await this.#open();
    return new Promise((resolve, reject) => {
      this.#waiting.push((m) => (m instanceof Error ? reject(m) : resolve(m)));
      s.write(frame(message));
    });
  }

  async #open(): Promise<Socket> {
    if (this.#socket !== undefined) return this.#socket;
    const s = connect(this.#path);
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    s.on("error", () => undefined);
    s.on("data", (chunk: Buffer) => {
      let messages: Uint8Array[];
      try {
        messages = this.#frames.push(chunk);
      } catch (err) {
        this.#fail(err as Error);
        s.destroy();
        return;
      }
      for (const m of messages) this.#waiting.shift()?.(m);
    });
    s.on("close", () => this.#fail(new Error("the SSH agent closed the connection")));
    this.#socket = s;
    return s;
  }

  #fail(err: Error): void {
    for (const w of this.#waiting.splice(0)) w(err);
  }

  close(): void {
    this.#socket?.destroy();
  }
}

/** The in-process agent's answer to one request. */
export function answerFromKeys(message: Uint8Array, keys: readonly AgentKey[]): Uint8Array {
  const r = new WireReader(message.subarray(1));
  switch (message[0]) {
    case AgentMessage.REQUEST_IDENTITIES: {
      const w = new WireWriter().byte(AgentMessage.IDENTITIES_ANSWER).uint32(keys.length);
      for (const k of keys) w.string(k.publicBlob).string(new TextEncoder().encode(k.comment));
      return w.bytes();
    }
    case AgentMessage.SIGN_REQUEST: {
      try {
        const blob = r.string();
        const data = r.string();
        const flags = r.uint32();
        const key = keys.find((k) => equalBytes(k.publicBlob, blob));
        const signature = key?.sign(data, flags);
        if (signature === undefined) return Uint8Array.of(AgentMessage.FAILURE);
        return new WireWriter().byte(AgentMessage.SIGN_RESPONSE).string(signature).bytes();
      } catch {
        return Uint8Array.of(AgentMessage.FAILURE);
      }
    }
    default:
      return Uint8Array.of(AgentMessage.FAILURE);
  }
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

/** SSH wire encoding (RFC 4251 §5): the reading side. */
export class WireReader {
  readonly #b: Uint8Array;
  #at = 0;

  constructor(b: Uint8Array) {
    this.#b = b;
  }

  get done(): boolean {
    return this.#at >= this.#b.byteLength;
  }

  uint32(): number {
    if (this.#at + 4 > this.#b.byteLength) throw new Error("truncated SSH data");
    const v = new DataView(this.#b.buffer, this.#b.byteOffset + this.#at).getUint32(0);
    this.#at += 4;
    return v;
  }

  string(): Uint8Array {
    const len = this.uint32();
    if (this.#at + len > this.#b.byteLength) throw new Error("truncated SSH data");
    const v = this.#b.subarray(this.#at, this.#at + len);
    this.#at += len;
    return v;
  }

  text(): string {
    return new TextDecoder().decode(this.string());
  }

  raw(n: number): Uint8Array {
    if (this.#at + n > this.#b.byteLength) throw new Error("truncated SSH data");
    const v = this.#b.subarray(this.#at, this.#at + n);
    this.#at += n;
    return v;
  }
}

/** SSH wire encoding: the writing side. */
export class WireWriter {
  readonly #parts: Uint8Array[] = [];

  byte(v: number): this {
    this.#parts.push(Uint8Array.of(v));
    return this;
  }

  uint32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    this.#parts.push(b);
    return this;
  }

  string(v: Uint8Array | string): this {
    const b = typeof v === "string" ? new TextEncoder().encode(v) : v;
    this.uint32(b.byteLength);
    this.#parts.push(b);
    return this;
  }

  /** An mpint from unsigned big-endian magnitude bytes (a leading zero when the top bit is set). */
  mpint(magnitude: Uint8Array): this {
    let i = 0;
    while (i < magnitude.byteLength && magnitude[i] === 0) i++;
    const m = magnitude.subarray(i);
    if (m.byteLength > 0 && ((m[0] ?? 0) & 0x80) !== 0) {
      const b = new Uint8Array(m.byteLength + 1);
      b.set(m, 1);
      return this.string(b);
    }
    return this.string(m);
  }

  bytes(): Uint8Array {
    const len = this.#parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(len);
    let at = 0;
    for (const p of this.#parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
