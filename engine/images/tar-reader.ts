/**
 * A pull-based tar reader: the next bytes are read from the source only when the consumer asks for
 * them, so memory is bounded by one source chunk whatever the consumer's pace (tar-stream's extractor
 * buffers an entry's bytes when its consumer is slower than the source, and throws header errors
 * from a microtask where no caller can catch them). Errors are thrown from the generator, as
 * `TarFormatError` (malformed) or `TarTruncatedError` (the source ended inside the archive).
 *
 * Formats: ustar, GNU (long names `L`/`K`, base-256 sizes), PAX (`x` records: path, linkpath, size;
 * `g` ignored). Like Go's archive/tar (what Docker reads with), a source that ends exactly at a header
 * boundary without the two zero blocks is a complete archive.
 */

export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

export class TarTruncatedError extends Error {
  override readonly name = "TarTruncatedError";
}

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarEntryHeader {
  /** The name as written (PAX and GNU long names applied), not normalised. */
  readonly name: string;
  readonly type: TarEntryType;
  readonly size: number;
  readonly linkname: string;
}

export interface TarEntry extends TarEntryHeader {
  /** The entry's bytes; may be read once, partially or not at all (the rest is skipped). */
  readonly stream: AsyncIterable<Uint8Array>;
}

/** Metadata entries (PAX records, GNU long names) larger than this are refused: they are read into memory. */
const MAX_META = 1024 * 1024;

/** Pulls exact byte counts out of a chunked source. */
class ByteSource {
  #pending: Buffer = Buffer.alloc(0);
  #done = false;
  readonly #iter: AsyncIterator<Uint8Array>;
  readonly #signal: AbortSignal | undefined;

  constructor(source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined) {
    this.#iter = source[Symbol.asyncIterator]();
    this.#signal = signal;
  }

  /** Loads at least one more byte into `pending`; false at the end of the source. */
  async #fill(): Promise<boolean> {
    while (!this.#done) {
      this.#signal?.throwIfAborted();
      const next = await this.#iter.next();
      if (next.done === true) {
        this.#done = true;
        return false;
      }
      if (next.value.byteLength === 0) continue;
      const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      return true;
    }
    return false;
  }

  /** Up to `max` bytes (at least one); throws TarTruncatedError at the end of the source. */
  async chunk(max: number): Promise<Buffer> {
    if (this.#pending.length === 0 && !(await this.#fill())) throw new TarTruncatedError("the archive ends in the middle of an entry");
    const out = this.#pending.length <= max ? this.#pending : this.#pending.subarray(0, max);
    this.#pending = this.#pending.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes, or undefined when the source ends before the first of them (a clean end). */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.#pending.length < n) {
      if (!(await this.#fill())) {
        if (this.#pending.length === 0) return undefined;
        throw new TarTruncatedError(`the archive ends ${this.#pending.length} bytes into a ${n}-byte block`);
      }
    }
    const out = Buffer.from(this.#pending.subarray(0, n));
    this.#pending = this.#pending.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.chunk(left)).length;
  }

  /** Reads and discards the rest of the source (the zero blocks and record padding after the end). */
  async drainRest(): Promise<void> {
    this.#pending = Buffer.alloc(0);
    while (await this.#fill()) this.#pending = Buffer.alloc(0);
  }

  close(): void {
    if (!this.#done) void this.#iter.return?.()?.catch(() => undefined);
    this.#done = true;
  }
}

function cstring(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? slice.length : nul).toString("utf8");
}

/** A numeric field: octal text, or GNU base-256 (high bit of the first byte set). */
function numeric(buf: Buffer, start: number, len: number, field: string): number {
  const first = buf[start] ?? 0;
  if ((first & 0x80) !== 0) {
    let v = BigInt(first & 0x7f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(buf[start + i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarFormatError(`the ${field} field is too large`);
    return Number(v);
  }
  const text = cstring(buf, start, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`the ${field} field "${text}" is not an octal number`);
  return parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 32 : (h[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  let stored: number;
  try {
    stored = numeric(h, 148, 8, "checksum");
  } catch {
    return false;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp === -1) break;
    const len = parseInt(data.subarray(off, sp).toString("latin1"), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || off + len > data.length) throw new TarFormatError("a PAX record has an invalid length");
    const record = data.subarray(sp + 1, off + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    off += len;
  }
  return out;
}

function pad(size: number): number {
  return (512 - (size % 512)) % 512;
}

/**
 * The entries of a tar stream. The source is consumed as entries are read; when the generator is
 * closed early, the source's iterator is returned (a Node stream is destroyed).
 */
export async function* tarEntries(source: AsyncIterable<Uint8Array>, opts: { signal?: AbortSignal; drainTrailer?: boolean } = {}): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source, opts.signal);
  try {
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const h = await src.exact(512);
      if (h === undefined) break;
      if (h.every((b) => b === 0)) {
        if (opts.drainTrailer === true) await src.drainRest();
        break;
      }
      if (!checksumOk(h)) throw new TarFormatError("invalid tar header (bad checksum): the data is not a tar archive, or it is compressed or damaged");
      const flag = String.fromCharCode(h[156] ?? 0);
      let size = numeric(h, 124, 12, "size");
      if (pax.has("size")) {
        const s = Number(pax.get("size"));
        if (!Number.isSafeInteger(s) || s < 0) throw new TarFormatError("a PAX size record is invalid");
        size = s;
      }
      if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
        if (size > MAX_META) throw new TarFormatError(`a ${flag} metadata entry of ${size} bytes is larger than ${MAX_META}`);
        const data = size === 0 ? Buffer.alloc(0) : await src.exact(size);
        if (data === undefined) throw new TarTruncatedError("the archive ends inside a metadata entry");
        await src.skip(pad(size));
        if (flag === "x") pax = parsePax(data);
        else if (flag === "L") longName = cstring(data, 0, data.length);
        else if (flag === "K") longLink = cstring(data, 0, data.length);
        continue;
      }
      const magic = h.subarray(257, 263).toString("latin1");
      const prefix = magic.startsWith("ustar") && magic !== "ustar " ? cstring(h, 345, 155) : "";
      const base = cstring(h, 0, 100);
      const name = pax.get("path") ?? longName ?? (prefix !== "" ? `${prefix}/${base}` : base);
      const linkname = pax.get("linkpath") ?? longLink ?? cstring(h, 157, 100);
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      const type: TarEntryType =
        flag === "0" || flag === "\0" || flag === "7" ? "file" : flag === "5" ? "directory" : flag === "2" ? "symlink" : flag === "1" ? "hardlink" : "other";
      // Links, directories and devices carry no data whatever the size field says (Go's reader too).
      const dataSize = type === "file" || type === "other" ? size : 0;
      let remaining = dataSize;
      async function* body(): AsyncGenerator<Uint8Array> {
        while (remaining > 0) {
          const c = await src.chunk(remaining);
          remaining -= c.length;
          yield c;
        }
      }
      yield { name, type, size: dataSize, linkname, stream: body() };
      if (remaining > 0) await src.skip(remaining);
      remaining = 0;
      await src.skip(pad(dataSize));
    }
  } finally {
    src.close();
  }
}
