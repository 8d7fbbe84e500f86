import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { htkError } from "../base/errors/index.ts";
import type { ExportHandle } from "../wire/index.ts";
import type { EngineClient } from "./client.ts";
import { syncContext } from "./context-sync.ts";
import { splitCsv } from "./flags.ts";

/**
 * `--cache-from` / `--cache-to` of `docker buildx build`, as buildx parses them (CSV; a bare value is
 * `type=registry,ref=VALUE`), sent to the engine as BuildKit's cache entries (type + attrs).
 *
 * A `type=local` directory is on this machine, which may not be the engine's (a remote builder): an
 * import is synced to the engine like a context (`local_refs["cache-from:<i>"]`, incremental, so an
 * unchanged cache directory costs one digest comparison), and an export is written by the engine and
 * streamed back, then merged here into the directory (new blobs added, the tag's entry in
 * `index.json` replaced), as BuildKit's client writes a local cache through its session.
 */
export interface CacheEntry {
  readonly type: string;
  readonly attrs: Record<string, string>;
}

export type CacheFlag = "--cache-from" | "--cache-to";

/** Backends BuildKit has and this builder does not. */
const UNAVAILABLE = new Set(["gha", "s3", "azblob"]);

/** buildx's CacheOptionsEntry.UnmarshalText for each value of the flag. */
export function parseCacheEntries(flag: CacheFlag, values: readonly string[], usage: (message: string) => Error): CacheEntry[] {
  const out: CacheEntry[] = [];
  for (const value of values) {
    if (value === "") continue;
    const fields = splitCsv(value);
    if (fields.length === 1 && !(fields[0] as string).includes("=")) {
      out.push({ type: "registry", attrs: { ref: fields[0] as string } });
      continue;
    }
    let type = "";
    const attrs: Record<string, string> = {};
    for (const f of fields) {
      const eq = f.indexOf("=");
      if (eq < 0) throw usage(`invalid value ${f}`);
      const key = f.slice(0, eq).toLowerCase();
      if (key === "type") type = f.slice(eq + 1);
      else attrs[key] = f.slice(eq + 1);
    }
    if (type === "") throw usage(`type required form> "${value}"`);
    if (UNAVAILABLE.has(type)) throw htkError("HTK-BUILDX-0050", { type, flag });
    out.push({ type, attrs });
  }
  return out;
}

/** Imports as sent: a local directory that does not hold a cache is skipped with BuildKit's warning. */
export function usableImports(entries: readonly CacheEntry[], cwd: string, warn: (line: string) => void): CacheEntry[] {
  const out: CacheEntry[] = [];
  for (const e of entries) {
    if (e.type !== "local") {
      out.push(e);
      continue;
    }
    const src = e.attrs["src"];
    if (src === undefined || src === "") throw htkError("HTK-BUILDX-0051", { dir: "(none)", flag: "--cache-from", detail: "type=local needs src=DIRECTORY" });
    const dir = resolve(cwd, src);
    const index = join(dir, "index.json");
    if (!existsSync(index)) {
      warn(`WARNING: local cache import at ${dir} not found due to err: open ${index}: no such file or directory`);
      continue;
    }
    if (!statSync(dir).isDirectory()) throw htkError("HTK-BUILDX-0051", { dir, flag: "--cache-from", detail: "it is not a directory" });
    out.push({ type: "local", attrs: { ...e.attrs, src: dir } });
  }
  return out;
}

/** Exports as sent: a local destination is checked here (the engine never sees the path). */
export function checkedExports(entries: readonly CacheEntry[], cwd: string): CacheEntry[] {
  return entries.map((e) => {
    if (e.type !== "local") return e;
    const dest = e.attrs["dest"];
    if (dest === undefined || dest === "") throw htkError("HTK-BUILDX-0051", { dir: "(none)", flag: "--cache-to", detail: "type=local needs dest=DIRECTORY" });
    const dir = resolve(cwd, dest);
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw htkError("HTK-BUILDX-0051", { dir, flag: "--cache-to", detail: "it exists and is not a directory" });
    return { type: "local", attrs: { ...e.attrs, dest: dir } };
  });
}

interface IndexJson {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: Array<{ annotations?: Record<string, string> } & Record<string, unknown>>;
}

const REF_NAME = "org.opencontainers.image.ref.name";

/**
 * Merges the engine's OCI layout of a local cache export (`handle`) into `dest`: blobs `dest` lacks
 * are added, `index.json`'s entries for the exported tags are replaced (by rename), other tags stay.
 */
export async function receiveLocalCache(client: EngineClient, handle: ExportHandle, dest: string, signal: AbortSignal): Promise<void> {
  await mkdir(dest, { recursive: true }).catch((err: unknown) => {
    throw htkError("HTK-BUILDX-0051", { dir: dest, flag: "--cache-to", detail: (err as Error).message });
  });
  const tmp = join(dest, `.hatake-incoming-${randomBytes(6).toString("hex")}`);
  await mkdir(tmp);
  try {
    await extract(client, handle, tmp, signal);
    const blobs = join(tmp, "blobs", "sha256");
    await mkdir(join(dest, "blobs", "sha256"), { recursive: true });
    for (const name of await readdir(blobs).catch(() => [] as string[])) {
      const target = join(dest, "blobs", "sha256", name);
      if (!existsSync(target)) await rename(join(blobs, name), target);
    }
    const incoming = JSON.parse(await readFile(join(tmp, "index.json"), "utf8")) as IndexJson;
    let current: IndexJson = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] };
    try {
      current = JSON.parse(await readFile(join(dest, "index.json"), "utf8")) as IndexJson;
    } catch {
      // A new cache directory.
    }
    const names = new Set((incoming.manifests ?? []).map((m) => m.annotations?.[REF_NAME] ?? ""));
    current.manifests = [...(current.manifests ?? []).filter((m) => !names.has(m.annotations?.[REF_NAME] ?? "")), ...(incoming.manifests ?? [])];
    await writeFile(join(dest, "oci-layout"), await readFile(join(tmp, "oci-layout")).catch(() => Buffer.from('{"imageLayoutVersion":"1.0.0"}')));
    const next = join(dest, `.index.json.${randomBytes(4).toString("hex")}`);
    await writeFile(next, JSON.stringify(current));
    await rename(next, join(dest, "index.json"));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function extract(client: EngineClient, handle: ExportHandle, dir: string, signal: AbortSignal): Promise<void> {
  const tar = spawn("tar", ["-x", "-f", "-", "-C", dir, "--no-same-owner"], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  tar.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const done = new Promise<number | null>((r) => tar.on("close", r));
  tar.stdin.on("error", () => undefined);
  try {
    for await (const c of client.service.readExport({ id: handle.id }, { signal })) {
      if (tar.stdin.destroyed) continue;
      if (!tar.stdin.write(c.data)) {
        await new Promise<void>((r) => {
          tar.stdin.once("drain", r);
          tar.stdin.once("close", r);
        });
      }
    }
  } finally {
    tar.stdin.end();
  }
  const code = await done;
  if (code !== 0) throw htkError("HTK-BUILDX-0051", { dir, flag: "--cache-to", detail: stderr.trim() || `tar exited with ${code}` });
}

/** The Solve request's cache fields: entries and the synced local imports' refs (credentials are asked for by the engine, as for a push). */
export interface CacheRequest {
  readonly cacheImports: CacheEntry[];
  readonly cacheExports: CacheEntry[];
  readonly localRefs: Record<string, string>;
}

export async function cacheRequest(
  client: EngineClient,
  opts: { readonly clientId: string; readonly from: readonly CacheEntry[]; readonly to: readonly CacheEntry[]; readonly signal: AbortSignal },
): Promise<CacheRequest> {
  const localRefs: Record<string, string> = {};
  for (const [i, e] of opts.from.entries()) {
    if (e.type !== "local") continue;
    const synced = await syncContext(client, { clientId: opts.clientId, name: `cache-from:${i}`, dir: e.attrs["src"] as string, excludes: [], signal: opts.signal });
    localRefs[`cache-from:${i}`] = synced.ref;
  }
  return { cacheImports: [...opts.from], cacheExports: [...opts.to], localRefs };
}

/** Writes the local cache exports the engine made into their directories. */
export async function receiveCaches(client: EngineClient, handles: readonly ExportHandle[], to: readonly CacheEntry[], signal: AbortSignal): Promise<void> {
  const locals = to.filter((e) => e.type === "local");
  for (const [i, handle] of handles.entries()) {
    const dest = locals[i]?.attrs["dest"];
    if (dest !== undefined) await receiveLocalCache(client, handle, dest, signal);
  }
}
