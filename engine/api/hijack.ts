import type { Readable, Writable } from "node:stream";
import type { RequestContext } from "./types.ts";

/**
 * Hijacked streams, as Docker serves attach and exec:
 *
 * - **upgrade form** (what the docker CLI and docker-py send: `Connection: Upgrade`, `Upgrade: tcp`):
 *   `HTTP/1.1 101 UPGRADED` with `Content-Type`, `Connection: Upgrade`, `Upgrade: tcp`, then the raw
 *   socket carries stdin one way and the output the other. The client half-closes its side when its
 *   stdin ends; the engine can still write (Node's HTTP sockets allow half-open connections);
 * - **non-upgrade form**: `HTTP/1.1 200 OK` with the content type, no length and no chunking, the
 *   output follows until the connection closes; the request body, if any, is the input.
 *
 * Without a TTY the output is multiplexed with Docker's 8-byte stdcopy headers (stream 1 stdout,
 * 2 stderr, 3 system error; then the payload length, big-endian); with a TTY it is raw.
 */

export const RAW_STREAM = "application/vnd.docker.raw-stream";
export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";

/** stdcopy's stream numbers: 0 stdin, 1 stdout, 2 stderr, 3 systemerr (an error after the stream started). */
export type StdStream = 0 | 1 | 2 | 3;

/** One stdcopy frame: `[stream, 0, 0, 0, size(4, big-endian)]` then the payload. */
export function frame(stream: StdStream, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Reads stdcopy frames back (for tests and clients): the payloads per stream, and what is left unframed. */
export function demultiplex(data: Buffer): { stdout: Buffer; stderr: Buffer; system: Buffer; rest: Buffer } {
  const parts: Record<number, Buffer[]> = { 1: [], 2: [], 3: [] };
  let at = 0;
  while (at + 8 <= data.length) {
    const size = data.readUInt32BE(at + 4);
    if (at + 8 + size > data.length) break;
    parts[data[at] ?? 1]?.push(data.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return { stdout: Buffer.concat(parts[1] ?? []), stderr: Buffer.concat(parts[2] ?? []), system: Buffer.concat(parts[3] ?? []), rest: data.subarray(at) };
}

/** Docker's choice of content type: multiplexed only for an upgraded, non-TTY stream at API ≥ 1.42. */
export function streamContentType(ctx: RequestContext, tty: boolean): string {
  return !tty && ctx.upgrade !== undefined && apiAtLeast(ctx.apiVersion, "1.42") ? MULTIPLEXED_STREAM : RAW_STREAM;
}

export function apiAtLeast(version: string, wanted: string): boolean {
  const [a = 0, b = 0] = version.split(".").map(Number);
  const [c = 0, d = 0] = wanted.split(".").map(Number);
  return a > c || (a === c && b >= d);
}

/** A taken-over connection: where output goes, where input comes from, and how to end it. */
export interface Hijacked {
  readonly output: Writable;
  /** The client's input: the socket (upgrade) or the request body; null when there is none. */
  readonly input: Readable | null;
  readonly upgraded: boolean;
  /** Ends the output (the client sees end-of-stream) and lets the connection go. Idempotent. */
  close(): void;
}

/**
 * Takes over the connection of `ctx` and writes the response head. After this, errors can only be
 * reported in the stream: validate before hijacking.
 */
export function hijack(ctx: RequestContext, contentType: string): Hijacked {
  let closed = false;
  if (ctx.upgrade !== undefined) {
    const { socket, head } = ctx.upgrade;
    if (head.length > 0) socket.unshift(head);
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    return {
      output: socket,
      input: socket,
      upgraded: true,
      close() {
        if (closed) return;
        closed = true;
        // End our side, then let the socket go once the client has read it (or at once if it already left).
        socket.end(() => socket.destroy());
      },
    };
  }
  const res = ctx.res;
  // Docker's non-upgrade form: a plain 200 with the stream as the body until the connection closes.
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.writeHead(200, { "Content-Type": contentType, Connection: "close" });
  res.flushHeaders();
  return {
    output: res,
    input: ctx.req,
    upgraded: false,
    close() {
      if (closed) return;
      closed = true;
      res.end();
    },
  };
}
