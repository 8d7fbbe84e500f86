import { createHash } from "node:crypto";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCancellation, isHtkError } from "../base/errors/index.ts";
import { ContentStore, type StoreFs } from "./content-store.ts";
import { sha256Of } from "../base/oci/digest.ts";
import { RefCounter } from "./refs.ts";

let root: string;
beforeEach(async () => {
  root = await fsp.mkdtemp(join(tmpdir(), "htk-store-"));
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const ingestFiles = (): Promise<string[]> => fsp.readdir(join(root, "ingest"));
const blobFiles = (): Promise<string[]> => fsp.readdir(join(root, "blobs", "sha256"));

describe("ContentStore", () => {
  it("stores bytes under blobs/sha256/<hex> and reads them back verified", async () => {
    const store = await ContentStore.open(root);
    const data = Buffer.from("hello, blob");
    const desc = await store.put(data, { mediaType: "text/plain" });
    expect(desc).toEqual({ digest: sha256Of(data), size: data.length, mediaType: "text/plain" });
    expect(await blobFiles()).toEqual([desc.digest.slice(7)]);
    expect(await store.has(desc.digest)).toBe(true);
    expect(await store.info(desc.digest)).toEqual({ digest: desc.digest, size: data.length });
    expect(await drain(await store.get(desc.digest))).toEqual(data);
    expect(await store.readBytes(desc.digest)).toEqual(data);
    expect(await ingestFiles()).toEqual([]);
  });

  it("streams a multi-chunk source and checks it against the expected digest and size", async () => {
    const store = await ContentStore.open(root);
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const all = Buffer.concat(chunks);
    const expected = { digest: sha256Of(all), size: all.length };
    const desc = await store.put(Readable.from(chunks), { expected });
    expect(desc).toEqual(expected);
    expect(createHash("sha256").update(await drain(await store.get(desc.digest))).digest("hex")).toBe(expected.digest.slice(7));
    // Already stored: the second source is not even read.
    const again = Readable.from(chunks);
    expect(await store.put(again, { expected })).toEqual(expected);
    expect(again.destroyed).toBe(true);
  });

  it("refuses data that does not match the expected digest (HTK-CACHE-0002) and leaves nothing behind", async () => {
    const store = await ContentStore.open(root);
    const wrong = await store.put(Buffer.from("other"), { expected: { digest: sha256Of("expected"), size: 5 } }).catch((e: unknown) => e);
    expect(isHtkError(wrong, "HTK-CACHE-0002")).toBe(true);
    expect(String((wrong as Error).message)).toContain(sha256Of("other"));
    // Too long: stopped at the first surplus byte.
    const long = await store.put(Buffer.from("expected plus more"), { expected: { digest: sha256Of("expected"), size: 8 } }).catch((e: unknown) => e);
    expect(isHtkError(long, "HTK-CACHE-0002")).toBe(true);
    expect(await blobFiles()).toEqual([]);
    expect(await ingestFiles()).toEqual([]);
  });

  it("leaves no blob and no temp file when a write is aborted mid-stream", async () => {
    const store = await ContentStore.open(root);
    const ac = new AbortController();
    let sent = 0;
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (;;) {
        sent++;
        if (sent === 3) ac.abort();
        yield Buffer.alloc(1024, sent);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const err = await store.put(slow(), { signal: ac.signal }).catch((e: unknown) => e);
    expect(isCancellation(err)).toBe(true);
    expect(await blobFiles()).toEqual([]);
    expect(await ingestFiles()).toEqual([]);
  });

  it("stops waiting on a stalled source when aborted", async () => {
    const store = await ContentStore.open(root);
    const ac = new AbortController();
    const stalled: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => undefined) }),
    };
    setTimeout(() => ac.abort(), 20);
    const err = await store.put(stalled, { signal: ac.signal }).catch((e: unknown) => e);
    expect(isCancellation(err)).toBe(true);
    expect(await ingestFiles()).toEqual([]);
  });

  it("leaves nothing behind when the source stream fails", async () => {
    const store = await ContentStore.open(root);
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000, 1));
        this.destroy(new Error("connection reset"));
      },
    });
    await expect(store.put(failing)).rejects.toThrow("connection reset");
    expect(await blobFiles()).toEqual([]);
    expect(await ingestFiles()).toEqual([]);
  });

  it("stores one blob when the same content is put concurrently", async () => {
    const store = await ContentStore.open(root);
    const data = Buffer.alloc(300_000, 7);
    const results = await Promise.all(Array.from({ length: 4 }, () => store.put(Readable.from([data.subarray(0, 150_000), data.subarray(150_000)]))));
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    expect(await blobFiles()).toHaveLength(1);
    expect(await ingestFiles()).toEqual([]);
    expect(await store.readBytes(sha256Of(data))).toEqual(data);
  });

  it("stops a verified read on abort", async () => {
    const store = await ContentStore.open(root);
    const desc = await store.put(Buffer.alloc(2 * 1024 * 1024, 3));
    const ac = new AbortController();
    const stream = await store.get(desc.digest, { signal: ac.signal });
    const err = await (async () => {
      for await (const _ of stream) ac.abort();
    })().catch((e: unknown) => e);
    expect(isCancellation(err)).toBe(true);
    expect(stream.destroyed).toBe(true);
  });

  it("closes the blob when a stream is destroyed before its first read", async () => {
    const store = await ContentStore.open(root);
    const desc = await store.put(Buffer.from("unread"));
    const openFds = async (): Promise<number> => (await fsp.readdir("/proc/self/fd")).length;
    const before = await openFds();
    const stream = await store.get(desc.digest);
    expect(await openFds()).toBe(before + 1);
    const closed = new Promise((r) => stream.once("close", r));
    stream.destroy();
    await closed;
    await new Promise((r) => setTimeout(r, 10));
    expect(await openFds()).toBe(before);
  });

  it("removes stale ingest files of a crashed writer when it opens", async () => {
    await ContentStore.open(root);
    await fsp.writeFile(join(root, "ingest", "dead-writer.tmp"), "half a blob");
    await ContentStore.open(root);
    expect(await ingestFiles()).toEqual([]);
  });

  it("detects a corrupted blob while streaming (HTK-CACHE-0001) and moves it to quarantine", async () => {
    const store = await ContentStore.open(root);
    const desc = await store.put(Buffer.from("precious bytes"));
    const path = store.blobPath(desc.digest);
    await fsp.chmod(path, 0o644);
    await fsp.writeFile(path, "precious bytez");
    const err = await drain(await store.get(desc.digest)).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0001")).toBe(true);
    expect((err as Error).message).toContain(desc.digest);
    expect(await store.has(desc.digest)).toBe(false);
    expect(await fsp.readdir(join(root, "quarantine"))).toHaveLength(1);
  });

  it("verifies small reads before returning any byte", async () => {
    const store = await ContentStore.open(root);
    const desc = await store.put(Buffer.from("config json"));
    await fsp.chmod(store.blobPath(desc.digest), 0o644);
    await fsp.writeFile(store.blobPath(desc.digest), "config jsoN");
    const err = await store.readBytes(desc.digest).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0001")).toBe(true);
  });

  it("reports a missing blob as HTK-CACHE-0005", async () => {
    const store = await ContentStore.open(root);
    const err = await store.get(sha256Of("nothing")).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0005")).toBe(true);
  });

  it("maps a full disk to HTK-CACHE-0004 and cleans up", async () => {
    const enospc: StoreFs = {
      ...fsp,
      open: (async (path: string, flags?: string, mode?: number) => {
        const fh = await fsp.open(path, flags, mode);
        if (flags !== "wx") return fh;
        return new Proxy(fh, {
          get(target, prop) {
            if (prop === "write") return () => Promise.reject(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }));
            const v = Reflect.get(target, prop) as unknown;
            return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
      }) as StoreFs["open"],
    };
    const store = await ContentStore.open(root, { fs: enospc });
    const err = await store.put(Buffer.from("does not fit")).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0004")).toBe(true);
    expect((err as Error).message).toContain(root);
    expect(await ingestFiles()).toEqual([]);
    expect(await blobFiles()).toEqual([]);
  });

  it("reports an unusable store root as HTK-CACHE-0003", async () => {
    const file = join(root, "not-a-dir");
    await fsp.writeFile(file, "x");
    const err = await ContentStore.open(join(file, "store")).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0003")).toBe(true);
    expect((err as Error).message).toContain("open the store");
  });

  it("lists blobs and refuses to delete one a lease holds", async () => {
    const refs = new RefCounter();
    const store = await ContentStore.open(root, { leaseCount: refs.blobLeaseCount });
    const a = await store.put(Buffer.from("a"));
    const b = await store.put(Buffer.from("b"));
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d.digest);
    expect(listed.sort()).toEqual([a.digest, b.digest].sort());

    const lease = refs.acquire({ kind: "blob", digest: a.digest }, { owner: "test" });
    expect(await store.delete(a.digest)).toEqual({ kind: "in-use", leases: 1 });
    expect(await store.has(a.digest)).toBe(true);
    lease.release();
    expect(await store.delete(a.digest)).toEqual({ kind: "deleted" });
    expect(await store.delete(a.digest)).toEqual({ kind: "not-found" });
    expect(refs.liveLeases()).toEqual([]);
  });

  it("a put's lease and a concurrent delete of the same blob are serialised: the blob is never lost to a put that leased it", async () => {
    const refs = new RefCounter();
    const store = await ContentStore.open(root, { leaseCount: refs.blobLeaseCount });
    const data = Buffer.from("shared layer");
    const digest = sha256Of(data);
    await store.put(data);
    // A delete issued first wins; the put after it (with the same expected blob) stores it again, leased.
    const deleting = store.delete(digest);
    let held: ReturnType<RefCounter["acquire"]> | undefined;
    const putting = store.put(data, { expected: { digest, size: data.length }, lease: (d) => (held = refs.acquire({ kind: "blob", digest: d }, { owner: "pull" })) });
    expect(await deleting).toEqual({ kind: "deleted" });
    await putting;
    expect(await store.has(digest)).toBe(true);
    // A put issued first: its lease is taken before the delete looks, so the delete refuses.
    expect(await store.delete(digest)).toEqual({ kind: "in-use", leases: 1 });
    held?.release();
    // A streamed put (digest unknown until the end) takes its lease under the same lock before the rename.
    const streamed = store.put(Readable.from([Buffer.from("shared "), Buffer.from("layer")]), { lease: (d) => (held = refs.acquire({ kind: "blob", digest: d }, { owner: "build" })) });
    await streamed;
    expect(await store.delete(digest)).toEqual({ kind: "in-use", leases: 1 });
    held?.release();
    expect(await store.delete(digest)).toEqual({ kind: "deleted" });
    expect(refs.liveLeases()).toEqual([]);
  });

  it("rejects a malformed digest before it becomes a path", async () => {
    const store = await ContentStore.open(root);
    expect(() => store.blobPath("sha256:../../etc/passwd" as never)).toThrow(TypeError);
  });
});
