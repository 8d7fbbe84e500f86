import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { open, readlink } from "node:fs/promises";
import { join } from "node:path";
import { compile, resolveContextRoot, walkContextSync } from "../base/dockerignore/index.ts";
import { ManifestHasher, type FileEntry } from "../wire/index.ts";
import { call, type EngineClient } from "./client.ts";

/**
 * The client half of the incremental context transfer (the engine half: engine/api/build-service-
 * contexts.ts). The directory is walked once (with .dockerignore applied, as BuildKit's filesync
 * applies the frontend's excludes on the client); the engine is asked whether its copy has this
 * manifest's digest — an unchanged context costs that one call — then, if not, gets the manifest and
 * names the files it lacks, which are sent in batches of at most 4 MiB. Memory stays bounded: one
 * read buffer, one batch.
 */
export interface SyncOptions {
  readonly clientId: string;
  /** "context", "dockerfile" or a --build-context name. */
  readonly name: string;
  readonly dir: string;
  readonly excludes: readonly string[];
  readonly signal: AbortSignal;
  readonly timing?: (what: string) => void;
}

export interface SyncOutcome {
  readonly ref: string;
  /** Bytes of file content sent (0 for an unchanged context). */
  readonly transferred: number;
  readonly files: number;
  /** What the engine was told about: entries and their total size. */
  readonly entries: number;
  /** The manifest itself travelled (the engine's copy did not have its digest). */
  readonly manifestSent: boolean;
  readonly contextBytes: number;
}

const BATCH = 4 * 1024 * 1024;
/** Files up to this size travel in one piece. */
const SMALL = 256n * 1024n;

export async function syncContext(client: EngineClient, opts: SyncOptions): Promise<SyncOutcome> {
  const scan = await scanContext(opts.dir, opts.excludes, opts.signal);
  opts.timing?.("context walked");
  const key = { clientId: opts.clientId, name: opts.name, dir: opts.dir, manifestDigest: scan.digest };
  const callOpts = { signal: opts.signal };
  let r = await call(client, "SyncContext", () => client.service.syncContext(key, callOpts));
  const manifestSent = r.result.case === "needManifest";
  if (manifestSent) r = await call(client, "SyncContext", () => client.service.syncContext({ ...key, withEntries: true, entries: scan.entries() }, callOpts));
  const done = (ref: string, transferred: number, files: number): SyncOutcome => ({ ref, transferred, files, entries: scan.count, contextBytes: scan.contextBytes, manifestSent });
  switch (r.result.case) {
    case "ready":
      return done(r.result.value.contextRef, 0, 0);
    case "needFiles": {
      const need = r.result.value;
      await upload(client, opts.dir, scan.entries(), need.transferId, need.indexes, opts.signal);
      const c = await call(client, "CommitContext", () => client.service.commitContext({ transferId: need.transferId }, callOpts));
      return done(c.ready?.contextRef ?? "", Number(c.ready?.transferredBytes ?? 0n), c.ready?.filesReceived ?? 0);
    }
    default:
      throw new Error(`unexpected answer to SyncContext: ${r.result.case ?? "none"}`);
  }
}

/**
 * The directory as the engine is told about it (walk order, .dockerignore applied, sockets and devices
 * left out): its manifest digest, and the manifest's entries when the engine asks for them. A no-op
 * rebuild needs only the digest, so the entries (an object and four bigints each) are made on demand
 * from the walk's stats.
 */
export interface ContextScan {
  readonly digest: string;
  readonly count: number;
  /** Total size of the files. */
  readonly contextBytes: number;
  /** The manifest (made once, on first use). */
  entries(): FileEntry[];
}

export async function scanContext(dir: string, excludes: readonly string[], signal: AbortSignal): Promise<ContextScan> {
  const matcher = excludes.length > 0 ? compile([...excludes], ".dockerignore") : undefined;
  // Only the fields the manifest needs are kept, as numbers: holding on to the walk's Stats objects
  // (four Dates each) makes every scavenge of the walk copy them.
  const paths: string[] = [];
  const modes: number[] = [];
  const sizes: number[] = [];
  const mtimes: number[] = [];
  const ctimes: number[] = [];
  const inos: number[] = [];
  const links = new Map<number, string>();
  const hasher = new ManifestHasher();
  let contextBytes = 0;
  for (const e of walkContextSync(await resolveContextRoot(dir), matcher, { signal })) {
    if (e.kind === "other") continue;
    const st = e.stats;
    const size = e.kind === "file" ? st.size : 0;
    const link = e.kind === "symlink" ? await readlink(join(dir, e.path)) : "";
    if (link !== "") links.set(paths.length, link);
    // The same fields and texts as the entries below (FileEntry's bigints print as these numbers).
    hasher.add(e.path, st.mode, size, nanoseconds(st.mtimeMs), nanoseconds(st.ctimeMs), Number.isSafeInteger(st.ino) ? st.ino : BigInt(st.ino), link);
    paths.push(e.path);
    modes.push(st.mode);
    sizes.push(size);
    mtimes.push(st.mtimeMs);
    ctimes.push(st.ctimeMs);
    inos.push(st.ino);
    contextBytes += size;
  }
  let entries: FileEntry[] | undefined;
  return {
    digest: hasher.digest(),
    count: paths.length,
    contextBytes,
    entries: () =>
      (entries ??= paths.map((path, i) => ({
        $typeName: "hatake.build.v1.FileEntry",
        path,
        mode: modes[i] ?? 0,
        size: BigInt(sizes[i] ?? 0),
        mtimeNs: nanoseconds(mtimes[i] ?? 0),
        ctimeNs: nanoseconds(ctimes[i] ?? 0),
        ino: BigInt(inos[i] ?? 0),
        linkTarget: links.get(i) ?? "",
      }))),
  };
}

function nanoseconds(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6));
}

async function upload(client: EngineClient, dir: string, entries: readonly FileEntry[], transferId: string, indexes: readonly number[], signal: AbortSignal): Promise<void> {
  let chunks: Array<{ index: number; offset: bigint; data: Uint8Array; eof: boolean }> = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (chunks.length === 0) return;
    const batch = chunks;
    chunks = [];
    size = 0;
    await call(client, "UploadFiles", () => client.service.uploadFiles({ transferId, chunks: batch }, { signal }));
  };
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (const index of indexes) {
    const entry = entries[index];
    if (entry === undefined) continue;
    if (entry.size <= SMALL) {
      // Most files of a context: read whole, synchronously (a promise round per file costs more).
      const data = readFileSync(join(dir, entry.path));
      if (size + data.length > BATCH) await flush();
      chunks.push({ index, offset: 0n, data, eof: true });
      size += data.length;
      continue;
    }
    const fh = await open(join(dir, entry.path), "r");
    try {
      let offset = 0n;
      for (;;) {
        signal.throwIfAborted();
        const room = Math.min(buf.length, BATCH - size);
        const { bytesRead } = await fh.read(buf, 0, room, null);
        if (bytesRead === 0) {
          chunks.push({ index, offset, data: new Uint8Array(0), eof: true });
          break;
        }
        chunks.push({ index, offset, data: Uint8Array.prototype.slice.call(buf, 0, bytesRead), eof: false });
        offset += BigInt(bytesRead);
        size += bytesRead;
        if (size >= BATCH) await flush();
      }
    } finally {
      await fh.close();
    }
    if (size >= BATCH) await flush();
  }
  await flush();
}

/** buildx's node identity (`<buildx config>/.buildNodeID`), made on first use: keys the engine's copies. */
export function clientIdentity(buildxDir: string): string {
  const file = join(buildxDir, ".buildNodeID");
  try {
    const id = readFileSync(file, "utf8").trim();
    if (id !== "") return id;
  } catch {
    // Not yet made.
  }
  const id = randomBytes(16).toString("hex");
  mkdirSync(buildxDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, id, { mode: 0o600 });
  return id;
}
