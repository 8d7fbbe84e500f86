import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";

/**
 * Docker's `archive.DecompressStream`: what `docker load` and `docker import` accept is a tar, plain
 * or compressed with gzip, bzip2, xz or zstd, told apart by the first bytes. gzip is decompressed in
 * process; the others through the `bzip2`, `xz` and `zstd` programs (Node 20 has no decoder for
 * them), streaming both ways so memory stays bounded.
 */
export type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

export function detectCompression(head: Uint8Array): Compression {
  const at = (i: number): number | undefined => head[i];
  if (at(0) === 0x1f && at(1) === 0x8b && at(2) === 0x08) return "gzip";
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return "bzip2";
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a && at(5) === 0x00) return "xz";
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return "zstd";
  return "none";
}

export interface DecompressOptions {
  readonly signal?: AbortSignal;
  /** Turns a decoder failure (damaged data, a missing program) into the caller's diagnostic. */
  readonly describeError?: (detail: string) => Error;
}

/** The source, decompressed when its first bytes say it is compressed. */
export async function* decompressStream(source: AsyncIterable<Uint8Array>, opts: DecompressOptions = {}): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < 6) {
    const next = await iterator.next();
    if (next.done === true) {
      done = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.byteLength;
  }
  const first = Buffer.concat(head);
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (first.byteLength > 0) yield first;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  const kind = detectCompression(first);
  const fail = (detail: string): Error => opts.describeError?.(detail) ?? new Error(detail);
  try {
    switch (kind) {
      case "none":
        yield* rest();
        return;
      case "gzip": {
        const gunzip = createGunzip();
        const feeding = pipeline(Readable.from(rest()), gunzip).catch((err: unknown) => {
          gunzip.destroy(err instanceof Error ? err : new Error(String(err)));
        });
        try {
          for await (const chunk of gunzip) yield chunk as Buffer;
        } catch (err) {
          if (opts.signal?.aborted === true) throw opts.signal.reason;
          throw fail(`gzip: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          gunzip.destroy();
          await feeding;
        }
        return;
      }
      case "bzip2":
      case "xz":
      case "zstd":
        yield* viaProgram(kind, rest(), opts.signal, fail);
        return;
    }
  } finally {
    await iterator.return?.();
  }
}

async function* viaProgram(program: "bzip2" | "xz" | "zstd", input: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined, fail: (detail: string) => Error): AsyncGenerator<Uint8Array> {
  const child = spawn(program, ["-dc"], { stdio: ["pipe", "pipe", "pipe"], ...(signal !== undefined ? { signal } : {}) });
  const errParts: Buffer[] = [];
  let errBytes = 0;
  child.stderr.on("data", (c: Buffer) => {
    errBytes += c.byteLength;
    if (errBytes <= 4096) errParts.push(c);
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once("error", (error) => resolve({ code: null, error }));
    child.once("close", (code) => resolve({ code }));
  });
  child.stdin.on("error", () => undefined);
  const feeding = pipeline(Readable.from(input), child.stdin).catch(() => undefined);
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    finished = true;
  } finally {
    if (!finished) child.kill("SIGKILL");
    await feeding;
  }
  const r = await exited;
  if (signal?.aborted === true) throw signal.reason;
  if (r.error !== undefined) throw fail(`${program}: ${(r.error as NodeJS.ErrnoException).code === "ENOENT" ? `the ${program} program is not installed` : r.error.message}`);
  if (r.code !== 0) throw fail(`${program}: ${Buffer.concat(errParts).toString("utf8").trim() || `exit status ${String(r.code)}`}`);
}
