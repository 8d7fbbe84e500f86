import { EventEmitter } from "node:events";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { parseRfc3339Nano, rfc3339Nano } from "../state/index.ts";

/**
 * The `json-file` log driver with Docker's on-disk format (daemon/logger/jsonfilelog): one JSON object
 * per line, `{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`, in
 * `<id>-json.log`; `max-size` rotates to `<id>-json.log.1` … `.N-1` (`max-file` N files in all; with
 * N = 1 the file is truncated). Rotation happens before a write once the file has reached max-size,
 * as Docker does, so a file can exceed it by one entry. `compress` is accepted and not done.
 *
 * Memory stays bounded: `write` queues at most `highWaterMark` bytes before it returns false, and the
 * producer (the container's output pump) pauses until `drain`.
 */

export type LogStream = "stdout" | "stderr";

export interface LogMessage {
  readonly stream: LogStream;
  /** The bytes of one line, with its "\n" (a partial line — longer than 16 KiB, or the last one — without). */
  readonly line: Buffer;
  /** Nanoseconds since the epoch, when the line was read. */
  readonly timeNs: bigint;
}

export interface RotationOptions {
  /** Bytes; undefined: never rotate. */
  readonly maxSize?: number;
  /** Files kept, the current one included (Docker's `max-file`, default 1). */
  readonly maxFile: number;
}

/** One log line as Docker's json-file writes it. */
export function encodeEntry(m: LogMessage): Buffer {
  return Buffer.from(`${JSON.stringify({ log: m.line.toString("utf8"), stream: m.stream, time: rfc3339Nano(m.timeNs) })}\n`, "utf8");
}

/** A line of the file back to a message; undefined for a line that is not an entry (a torn write). */
export function decodeEntry(line: string): LogMessage | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  const e = o as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof e.log !== "string" || (e.stream !== "stdout" && e.stream !== "stderr") || typeof e.time !== "string") return undefined;
  return { stream: e.stream, line: Buffer.from(e.log, "utf8"), timeNs: parseRfc3339Nano(e.time) ?? 0n };
}

/** The files of a log, oldest first: `path.N-1` … `path.1`, `path`. */
export function logFiles(path: string, maxFile: number): string[] {
  const out: string[] = [];
  for (let i = Math.max(1, maxFile) - 1; i >= 1; i--) out.push(`${path}.${i}`);
  out.push(path);
  return out;
}

/**
 * The writer of one running container. Events: `drain` (the queue went below its mark), `change`
 * (bytes were appended or the file rotated; followers read on), `close`.
 */
export class JsonFileWriter extends EventEmitter {
  readonly path: string;
  readonly #rotation: RotationOptions;
  readonly #highWaterMark: number;
  #fh: FileHandle;
  #size: number;
  #queue: Buffer[] = [];
  #queued = 0;
  #flushing: Promise<void> | undefined;
  #closed = false;
  #needDrain = false;
  /** Rotations so far: a follower that opened the file in generation g finds it at `path.(generation - g)`. */
  generation = 0;
  /** Bumped on every append, rotation and close, so a follower can tell whether anything happened. */
  version = 0;

  private constructor(path: string, fh: FileHandle, size: number, rotation: RotationOptions, highWaterMark: number) {
    super();
    this.path = path;
    this.#fh = fh;
    this.#size = size;
    this.#rotation = rotation;
    this.#highWaterMark = highWaterMark;
  }

  /** Opens (appends to) the log file. */
  static async open(path: string, rotation: RotationOptions, highWaterMark = 1 << 20): Promise<JsonFileWriter> {
    const fh = await open(path, "a", 0o640);
    const size = (await fh.stat()).size;
    return new JsonFileWriter(path, fh, size, rotation, highWaterMark);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues one message. False when the queue is full: stop writing until `drain`. */
  write(m: LogMessage): boolean {
    if (this.#closed) return true;
    const b = encodeEntry(m);
    this.#queue.push(b);
    this.#queued += b.length;
    this.#flushing ??= this.#flush();
    if (this.#queued >= this.#highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0);
        for (const b of batch) {
          if (this.#rotation.maxSize !== undefined && this.#rotation.maxSize > 0 && this.#size >= this.#rotation.maxSize) await this.#rotate();
          await this.#fh.write(b);
          this.#size += b.length;
          this.#queued -= b.length;
        }
        this.version++;
        this.emit("change");
      }
    } catch (err) {
      // A full disk or a removed directory: the container's output keeps flowing (Docker drops log
      // lines it cannot write, too), the queue is emptied so nothing grows.
      this.#queue = [];
      this.#queued = 0;
      this.emit("error-logged", err);
    } finally {
      this.#flushing = undefined;
      if (this.#needDrain && this.#queued < this.#highWaterMark) {
        this.#needDrain = false;
        this.emit("drain");
      }
    }
  }

  async #rotate(): Promise<void> {
    const maxFile = Math.max(1, this.#rotation.maxFile);
    if (maxFile === 1) {
      await this.#fh.truncate(0);
      this.#size = 0;
      this.generation++;
      return;
    }
    await this.#fh.close();
    await rm(`${this.path}.${maxFile - 1}`, { force: true });
    for (let i = maxFile - 2; i >= 1; i--) await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch(() => undefined);
    await rename(this.path, `${this.path}.1`);
    this.#fh = await open(this.path, "a", 0o640);
    this.#size = 0;
    this.generation++;
  }

  /** Writes what is queued, then closes; followers read to the end and stop. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing !== undefined) await this.#flushing;
    this.#closed = true;
    await this.#fh.close().catch(() => undefined);
    this.version++;
    this.emit("change");
    this.emit("close");
  }
}

export interface ReadOptions {
  readonly maxFile: number;
  /** Only the last N lines (over all files); undefined: everything. */
  readonly tail?: number;
  readonly sinceNs?: bigint;
  /** Stop at the first entry after this time. */
  readonly untilNs?: bigint;
  /** Keep reading what the running container writes, until it stops (or `untilNs`, or `signal`). */
  readonly follow?: JsonFileWriter;
  readonly signal: AbortSignal;
}

const BLOCK = 64 * 1024;

/** Where reading starts so that exactly the last `n` lines follow: [file index, byte offset]. */
async function tailStart(files: readonly string[], n: number): Promise<[number, number]> {
  if (n <= 0) {
    const last = files.length - 1;
    return [last, await stat(files[last] ?? "").then((s) => s.size, () => 0)];
  }
  let needed = n;
  for (let f = files.length - 1; f >= 0; f--) {
    let fh: FileHandle;
    try {
      fh = await open(files[f] ?? "", "r");
    } catch {
      continue;
    }
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.alloc(BLOCK);
      let end = size;
      // A file ends with "\n"; the newline that ends the last line is not a line start.
      let skipLast = true;
      while (end > 0) {
        const start = Math.max(0, end - BLOCK);
        const { bytesRead } = await fh.read(buf, 0, end - start, start);
        for (let i = bytesRead - 1; i >= 0; i--) {
          if (buf[i] !== 0x0a) continue;
          if (skipLast && start + i === size - 1) {
            skipLast = false;
            continue;
          }
          needed--;
          if (needed === 0) return [f, start + i + 1];
        }
        skipLast = false;
        end = start;
      }
      // The file's first line counts too.
      if (size > 0) {
        needed--;
        if (needed === 0) return [f, 0];
      }
    } finally {
      await fh.close();
    }
  }
  return [0, 0];
}

/**
 * Reads a container's log as messages: rotated files first, `tail`, `since`/`until`, and with
 * `follow` the lines the running container writes until it stops. Memory: one read block plus the
 * partial line at its end.
 */
export async function* readLog(path: string, opts: ReadOptions): AsyncGenerator<LogMessage> {
  const writer = opts.follow !== undefined && !opts.follow.closed ? opts.follow : undefined;
  let generation = writer?.generation ?? 0;
  const files = logFiles(path, opts.maxFile);
  let [index, offset] = opts.tail === undefined ? [0, 0] : await tailStart(files, opts.tail);
  const buf = Buffer.alloc(BLOCK);
  let carry = Buffer.alloc(0);

  const emit = function* (chunk: Buffer): Generator<LogMessage | "stop"> {
    let data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    for (;;) {
      const nl = data.indexOf(0x0a);
      if (nl < 0) break;
      const m = decodeEntry(data.subarray(0, nl).toString("utf8"));
      data = data.subarray(nl + 1);
      if (m === undefined) continue;
      if (opts.untilNs !== undefined && m.timeNs > opts.untilNs) {
        yield "stop";
        return;
      }
      if (opts.sinceNs !== undefined && m.timeNs < opts.sinceNs) continue;
      yield m;
    }
    carry = Buffer.from(data);
  };

  // The files as they are now.
  let fh: FileHandle | undefined;
  for (; index < files.length; index++) {
    opts.signal.throwIfAborted();
    fh?.close().catch(() => undefined);
    fh = undefined;
    try {
      fh = await open(files[index] ?? "", "r");
    } catch {
      offset = 0;
      continue;
    }
    carry = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, BLOCK, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      for (const m of emit(buf.subarray(0, bytesRead))) {
        if (m === "stop") {
          await fh.close();
          return;
        }
        yield m;
      }
    }
    if (index < files.length - 1) offset = 0;
  }
  if (writer === undefined) {
    await fh?.close();
    return;
  }

  // Following: `fh` is the current file (or none yet); read on whenever the writer changes.
  try {
    let seen = -1;
    for (;;) {
      opts.signal.throwIfAborted();
      const version = writer.version;
      if (fh === undefined) {
        fh = await open(path, "r").catch(() => undefined);
        offset = 0;
        carry = Buffer.alloc(0);
      }
      if (fh !== undefined) {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, BLOCK, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          for (const m of emit(buf.subarray(0, bytesRead))) {
            if (m === "stop") return;
            yield m;
          }
        }
      }
      if (writer.generation !== generation) {
        // Our file was rotated away (and read to its end): the next one is newer by one generation.
        generation++;
        await fh?.close();
        const behind = writer.generation - generation;
        fh = await open(behind === 0 ? path : `${path}.${behind}`, "r").catch(() => undefined);
        offset = 0;
        carry = Buffer.alloc(0);
        continue;
      }
      if (writer.closed && seen === writer.version) return;
      if (writer.closed) {
        seen = writer.version;
        continue;
      }
      if (writer.version === version) await changed(writer, version, opts.signal);
    }
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function changed(writer: JsonFileWriter, version: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (writer.version !== version) return resolve();
    const done = (): void => {
      writer.off("change", done);
      signal.removeEventListener("abort", abort);
      resolve();
    };
    const abort = (): void => {
      writer.off("change", done);
      reject(signal.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
    };
    writer.on("change", done);
    signal.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Docker's copier (daemon/logger/copier.go): a stream of bytes into log messages, one per line, lines
 * longer than 16 KiB split into partial messages, the rest at the end flushed as it is.
 */
export class LineSplitter {
  static readonly MAX_LINE = 16 * 1024;
  readonly #stream: LogStream;
  #pending: Buffer[] = [];
  #pendingLength = 0;

  constructor(stream: LogStream) {
    this.#stream = stream;
  }

  push(chunk: Buffer, timeNs: bigint): LogMessage[] {
    const out: LogMessage[] = [];
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf(0x0a);
      if (nl < 0) break;
      const line = this.#take(rest.subarray(0, nl + 1));
      out.push(...this.#split(line, timeNs));
      rest = rest.subarray(nl + 1);
    }
    if (rest.length > 0) {
      this.#pending.push(Buffer.from(rest));
      this.#pendingLength += rest.length;
      while (this.#pendingLength >= LineSplitter.MAX_LINE) {
        const all = this.#take(Buffer.alloc(0));
        out.push({ stream: this.#stream, line: all.subarray(0, LineSplitter.MAX_LINE), timeNs });
        const left = all.subarray(LineSplitter.MAX_LINE);
        if (left.length > 0) {
          this.#pending = [Buffer.from(left)];
          this.#pendingLength = left.length;
        }
      }
    }
    return out;
  }

  /** The stream ended: what is left becomes one (partial) message. */
  end(timeNs: bigint): LogMessage[] {
    if (this.#pendingLength === 0) return [];
    return [{ stream: this.#stream, line: this.#take(Buffer.alloc(0)), timeNs }];
  }

  #take(tail: Buffer): Buffer {
    const all = this.#pendingLength === 0 ? tail : Buffer.concat([...this.#pending, tail]);
    this.#pending = [];
    this.#pendingLength = 0;
    return all;
  }

  #split(line: Buffer, timeNs: bigint): LogMessage[] {
    const out: LogMessage[] = [];
    for (let i = 0; i < line.length; i += LineSplitter.MAX_LINE) out.push({ stream: this.#stream, line: line.subarray(i, i + LineSplitter.MAX_LINE), timeNs });
    return out;
  }
}
