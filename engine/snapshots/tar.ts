/**
 * A small streaming tar reader and a deterministic header writer for image layers.
 *
 * Why not tar-stream (which the test fixtures use): its PAX decoder turns values into UTF-8 strings,
 * so binary extended attributes (`SCHILY.xattr.security.capability`, as Go's archive/tar writes them)
 * arrive mangled, and it keeps whole-second times only. Layers need both exactly, and the writer must
 * decide byte for byte when a PAX header appears (only when USTAR cannot hold a field, as Go does), so
 * the same tree always gives the same diff_id.
 */

export type TarEntryType = "file" | "hardlink" | "symlink" | "char-device" | "block-device" | "directory" | "fifo";

export interface TarHeader {
  /** The entry path as stored (not yet normalised or checked: see apply-layer's `safeEntryPath`). */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits with setuid/setgid/sticky (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch; fractional when a PAX `mtime` carried sub-second precision. */
  readonly mtime: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` (raw bytes) and `LIBARCHIVE.xattr.*` (base64). */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /**
   * The entry's data. Read it to the end or not at all: the reader skips whatever is left when the
   * next entry is requested. Valid only until then.
   */
  readonly body: AsyncIterable<Buffer>;
}

/** The stream ended inside a header or data, or before the end-of-archive blocks. */
export class TarTruncatedError extends Error {
  override readonly name = "TarTruncatedError";
}

/** A header that does not parse (bad checksum, bad number, unsupported entry type …). */
export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

const BLOCK = 512;
/** PAX and GNU long-name records are buffered whole; anything bigger than this is not a real layer. */
const MAX_META_BYTES = 1024 * 1024;

/** Pulls exact byte counts out of a chunked stream without concatenating more than a block. */
class ByteSource {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;

  readonly #signal: AbortSignal | undefined;

  constructor(source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined) {
    this.#it = source[Symbol.asyncIterator]();
    this.#signal = signal;
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    this.#signal?.throwIfAborted();
    const r = await this.#it.next();
    if (r.done === true) {
      this.#done = true;
      return false;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    return true;
  }

  /** Exactly `n` bytes, or undefined at a clean end of stream (nothing buffered). */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return undefined;
        throw new TarTruncatedError(`the archive ends ${n - this.#buf.length} bytes short of a ${n}-byte record`);
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Up to `max` bytes (at least one), for streaming data without copying. */
  async some(max: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.#fill())) {
      throw new TarTruncatedError("the archive ends inside an entry's data");
    }
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.some(left)).length;
  }

  /** Ends the source early (a refused entry, a failed write): its file or socket is released now. */
  async close(): Promise<void> {
    this.#done = true;
    await this.#it.return?.();
  }

  /** Reads and drops the rest of the stream (trailing zero blocks and padding still belong to the diff_id). */
  async drain(): Promise<void> {
    this.#buf = Buffer.alloc(0);
    while (await this.#fill()) this.#buf = Buffer.alloc(0);
  }
}

function parseNumber(buf: Buffer, field: string): number {
  // GNU base-256: the high bit of the first byte set (big uids, sizes over 8 GiB).
  const first = buf[0] ?? 0;
  if ((first & 0x80) !== 0) {
    let v = BigInt(first & 0x7f);
    for (let i = 1; i < buf.length; i++) v = (v << 8n) | BigInt(buf[i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarFormatError(`the ${field} field is too large`);
    return Number(v);
  }
  const text = buf.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`the ${field} field is not an octal number: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end === -1 ? buf.length : end).toString("utf8");
}

function checksumOk(block: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  let stored: number;
  try {
    stored = parseNumber(block.subarray(148, 156), "checksum");
  } catch {
    return false;
  }
  // Old Sun tars summed signed bytes; Go accepts both, so do we.
  return stored === unsigned || stored === signed;
}

interface Pax {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs: Map<string, Buffer>;
}

function parsePax(data: Buffer, into: Pax): void {
  let rest = data;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    if (space <= 0) throw new TarFormatError("a PAX record has no length");
    const len = parseInt(rest.subarray(0, space).toString("latin1"), 10);
    if (!Number.isSafeInteger(len) || len <= space + 1 || len > rest.length) throw new TarFormatError("a PAX record has a bad length");
    const record = rest.subarray(space + 1, len - 1);
    rest = rest.subarray(len);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError("a PAX record has no '='");
    const key = record.subarray(0, eq).toString("utf8");
    const raw = record.subarray(eq + 1);
    const text = (): string => raw.toString("utf8");
    const int = (): number => {
      const v = Number(text());
      if (!Number.isSafeInteger(v) || v < 0) throw new TarFormatError(`the PAX ${key} is not a number: ${JSON.stringify(text())}`);
      return v;
    };
    if (key === "path") into.path = text();
    else if (key === "linkpath") into.linkpath = text();
    else if (key === "size") into.size = int();
    else if (key === "uid") into.uid = int();
    else if (key === "gid") into.gid = int();
    else if (key === "mtime") {
      const v = Number(text());
      if (!Number.isFinite(v)) throw new TarFormatError(`the PAX mtime is not a number: ${JSON.stringify(text())}`);
      into.mtime = v;
    } else if (key.startsWith("SCHILY.xattr.")) into.xattrs.set(key.slice("SCHILY.xattr.".length), Buffer.from(raw));
    else if (key.startsWith("LIBARCHIVE.xattr.")) {
      into.xattrs.set(decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length)), Buffer.from(text(), "base64"));
    }
    // Other keys (atime, ctime, charset, GNU sparse …) do not change what is written to disk.
  }
}

function typeOf(flag: number): TarEntryType | "pax" | "pax-global" | "gnu-longname" | "gnu-longlink" | undefined {
  switch (flag) {
    case 0:
    case 0x30:
    case 0x37: // contiguous file: a regular file everywhere that matters
      return "file";
    case 0x31:
      return "hardlink";
    case 0x32:
      return "symlink";
    case 0x33:
      return "char-device";
    case 0x34:
      return "block-device";
    case 0x35:
      return "directory";
    case 0x36:
      return "fifo";
    case 0x78:
      return "pax";
    case 0x67:
      return "pax-global";
    case 0x4c:
      return "gnu-longname";
    case 0x4b:
      return "gnu-longlink";
    default:
      return undefined;
  }
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/** How strict `readTar` is where archives in the wild differ. */
export interface ReadTarOptions {
  /**
   * "required" (layers, the default): a stream cut at an entry boundary is reported as truncated (Go's
   * reader accepts that silently; a layer's digest is all that protects it otherwise). "optional"
   * (image archives, as Docker reads `docker load` input): a clean end at a header boundary is the end.
   */
  readonly endMarker?: "required" | "optional";
  /** Read the rest of the stream after the end marker (default true: the trailer belongs to a diff_id). */
  readonly drainTrailer?: boolean;
  /** Entry types this reader does not know ('V', 'S', …): an error (default), or skipped with their data. */
  readonly unknownTypes?: "error" | "skip";
  readonly signal?: AbortSignal;
}

/**
 * The entries of a tar stream, in order: ustar, GNU (long names, base-256 numbers) and PAX (local and
 * global records, binary xattrs, sub-second mtimes). Memory stays bounded: data is passed through in the
 * chunks it arrives in, and only headers and PAX records (capped at 1 MiB) are buffered. Errors are
 * thrown from the generator as TarFormatError or TarTruncatedError; closing the generator early returns
 * the source's iterator (a Node stream is destroyed).
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source, opts.signal);
  let global: Pax = { xattrs: new Map() };
  let local: Pax = { xattrs: new Map() };
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await src.exact(BLOCK);
      if (block === undefined) {
        if (opts.endMarker === "optional") return;
        throw new TarTruncatedError("the archive ends without its end-of-archive blocks");
      }
      if (block.every((b) => b === 0)) {
        // One zero block is enough (some writers stop there); the rest, if any, is read for the digest.
        if (opts.drainTrailer !== false) await src.drain();
        return;
      }
      if (!checksumOk(block)) throw new TarFormatError("a tar header has a bad checksum: the data is not a tar archive, or it is compressed or damaged");
      const flag = block[156] ?? 0;
      const kind = typeOf(flag);
      let size = parseNumber(block.subarray(124, 136), "size");
      if (kind === undefined) {
        if (opts.unknownTypes !== "skip") throw new TarFormatError(`unsupported tar entry type ${JSON.stringify(String.fromCharCode(flag))}`);
        const skipped = local.size ?? global.size ?? size;
        local = { xattrs: new Map() };
        longName = undefined;
        longLink = undefined;
        await src.skip(skipped + padding(skipped));
        continue;
      }
      if (kind === "pax" || kind === "pax-global" || kind === "gnu-longname" || kind === "gnu-longlink") {
        if (size > MAX_META_BYTES) throw new TarFormatError(`a ${kind} record of ${size} bytes is too large`);
        const data = size === 0 ? Buffer.alloc(0) : await src.exact(size);
        if (data === undefined) throw new TarTruncatedError(`the archive ends inside a ${kind} record`);
        await src.skip(padding(size));
        switch (kind) {
          case "pax":
            parsePax(data, local);
            break;
          case "pax-global":
            global = { xattrs: new Map() };
            parsePax(data, global);
            break;
          case "gnu-longname":
            longName = cString(data);
            break;
          case "gnu-longlink":
            longLink = cString(data);
            break;
        }
        continue;
      }
      const magic = block.subarray(257, 263).toString("latin1");
      let name = cString(block.subarray(0, 100));
      if (magic === "ustar\0") {
        const prefix = cString(block.subarray(345, 500));
        if (prefix !== "") name = `${prefix}/${name}`;
      }
      const pax: Pax = { ...global, ...stripUndefined(local), xattrs: new Map([...global.xattrs, ...local.xattrs]) };
      if (pax.size !== undefined) size = pax.size;
      let type: TarEntryType = kind;
      // Pre-POSIX tars mark directories by a trailing slash on a regular entry.
      if (type === "file" && flag === 0 && name.endsWith("/")) type = "directory";
      const header: TarHeader = {
        name: pax.path ?? longName ?? name,
        type,
        mode: parseNumber(block.subarray(100, 108), "mode") & 0o7777,
        uid: pax.uid ?? parseNumber(block.subarray(108, 116), "uid"),
        gid: pax.gid ?? parseNumber(block.subarray(116, 124), "gid"),
        size: type === "file" ? size : 0,
        mtime: pax.mtime ?? parseNumber(block.subarray(136, 148), "mtime"),
        linkname: pax.linkpath ?? longLink ?? cString(block.subarray(157, 257)),
        devmajor: parseNumber(block.subarray(329, 337), "devmajor"),
        devminor: parseNumber(block.subarray(337, 345), "devminor"),
        xattrs: pax.xattrs,
      };
      local = { xattrs: new Map() };
      longName = undefined;
      longLink = undefined;
      // Hard links and others may carry a size in odd writers; the data is skipped, never written.
      let left = size;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          if (type !== "file") return;
          while (left > 0) {
            const chunk = await src.some(Math.min(left, 1024 * 1024));
            left -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { header, body };
      await src.skip(left + padding(size));
    }
  } finally {
    await src.close();
  }
}

function stripUndefined(p: Pax): Partial<Pax> {
  const out: Partial<Pax> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined && k !== "xattrs") (out as Record<string, unknown>)[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writing

export interface TarWriteHeader {
  /** Archive path without a leading "/" or "./"; directories without the trailing "/" (added here). */
  readonly name: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds (sub-second times are truncated: USTAR keeps seconds, and so does BuildKit's output). */
  readonly mtime: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Written as PAX `SCHILY.xattr.*` records, sorted by name. */
  readonly xattrs?: ReadonlyMap<string, Buffer>;
  /** Owner names (`docker cp` writes the container's; layers leave them empty). ASCII, at most 31 bytes. */
  readonly uname?: string;
  readonly gname?: string;
}

const TYPE_FLAG: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  "char-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

function octal(value: number, width: number): string | undefined {
  const s = Math.trunc(value).toString(8);
  return s.length > width - 1 ? undefined : `${s.padStart(width - 1, "0")}\0`;
}

const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);

function splitUstarName(name: string): { name: string; prefix: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return { name, prefix: "" };
  // The prefix holds up to 155 bytes, cut at a "/", the rest at most 100.
  for (let i = Math.min(name.length - 1, 155); i > 0; i--) {
    if (name[i] === "/" && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return { prefix: name.slice(0, i), name: name.slice(i + 1) };
  }
  return undefined;
}

function paxRecord(key: string, value: Buffer): Buffer {
  // "<len> <key>=<value>\n" where len counts itself: iterate until the digit count is stable.
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), "latin1"), body]);
}

function ustarBlock(h: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  flag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  uname?: string;
  gname?: string;
}): Buffer {
  const b = Buffer.alloc(BLOCK, 0);
  const put = (s: string, off: number, len: number): void => {
    b.write(s, off, len, "utf8");
  };
  put(h.name, 0, 100);
  put(octal(h.mode, 8) ?? "0000000\0", 100, 8);
  put(octal(h.uid, 8) ?? "0000000\0", 108, 8);
  put(octal(h.gid, 8) ?? "0000000\0", 116, 8);
  put(octal(h.size, 12) ?? "00000000000\0", 124, 12);
  put(octal(h.mtime, 12) ?? "00000000000\0", 136, 12);
  put("        ", 148, 8);
  put(h.flag, 156, 1);
  put(h.linkname, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(truncateAscii(h.uname ?? "", 31), 265, 32);
  put(truncateAscii(h.gname ?? "", 31), 297, 32);
  put(octal(h.devmajor, 8) ?? "0000000\0", 329, 8);
  put(octal(h.devminor, 8) ?? "0000000\0", 337, 8);
  put(h.prefix, 345, 155);
  let sum = 0;
  for (const byte of b) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return b;
}

/**
 * The header block(s) of one entry: a PAX extended header first only when USTAR cannot hold a field
 * (long or non-ASCII name or link, ids or size out of range, extended attributes), as Go's archive/tar
 * does, so ordinary layers are plain USTAR and byte-identical to BuildKit's.
 */
export function encodeTarHeader(h: TarWriteHeader): Buffer {
  const fullName = h.type === "directory" ? `${h.name}/` : h.name;
  const mtime = Math.max(0, Math.floor(h.mtime));
  const linkname = h.linkname ?? "";
  const records: Buffer[] = [];
  const split = splitUstarName(fullName);
  if (split === undefined) records.push(paxRecord("path", Buffer.from(fullName, "utf8")));
  const linkFits = isAscii(linkname) && linkname.length <= 100;
  if (!linkFits) records.push(paxRecord("linkpath", Buffer.from(linkname, "utf8")));
  const uidFits = octal(h.uid, 8) !== undefined;
  const gidFits = octal(h.gid, 8) !== undefined;
  const sizeFits = octal(h.size, 12) !== undefined;
  if (!gidFits) records.push(paxRecord("gid", Buffer.from(String(h.gid))));
  if (!sizeFits) records.push(paxRecord("size", Buffer.from(String(h.size))));
  if (!uidFits) records.push(paxRecord("uid", Buffer.from(String(h.uid))));
  for (const key of [...(h.xattrs?.keys() ?? [])].sort()) {
    records.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs?.get(key) ?? Buffer.alloc(0)));
  }
  const main = ustarBlock({
    name: split?.name ?? truncateAscii(fullName, 100),
    prefix: split?.prefix ?? "",
    mode: h.mode & 0o7777,
    uid: uidFits ? h.uid : 0,
    gid: gidFits ? h.gid : 0,
    size: sizeFits ? h.size : 0,
    mtime,
    flag: TYPE_FLAG[h.type],
    linkname: linkFits ? linkname : truncateAscii(linkname, 100),
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    ...(h.uname === undefined ? {} : { uname: h.uname }),
    ...(h.gname === undefined ? {} : { gname: h.gname }),
  });
  if (records.length === 0) return main;
  const paxData = Buffer.concat(records);
  // Like Go: the extended header's own name is derived from the entry's, and it carries the same time.
  const paxHeader = ustarBlock({
    name: truncateAscii(`PaxHeaders.0/${baseName(fullName)}`, 100),
    prefix: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: paxData.length,
    mtime,
    flag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, paxData, Buffer.alloc(padding(paxData.length)), main]);
}

function baseName(p: string): string {
  const trimmed = p.endsWith("/") ? p.slice(0, -1) : p;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

function truncateAscii(s: string, max: number): string {
  return s.replace(/[^\x01-\x7f]/g, "_").slice(0, max);
}

/** Zero bytes that pad an entry's data to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

/** Two zero blocks: the end-of-archive marker (a fresh buffer: callers may hand it to a stream). */
export function tarEnd(): Buffer {
  return Buffer.alloc(BLOCK * 2);
}
