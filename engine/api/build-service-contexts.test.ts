import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { manifestDigest } from "../../wire/index.ts";
import { ContextStore, type ManifestEntry, type SyncResult } from "./build-service-contexts.ts";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
const temp = (label: string): string => {
  const d = mkdtempSync(join(tmpdir(), `htk-ctx-${label}-`));
  roots.push(d);
  return d;
};
const never = new AbortController().signal;

/** The client's view of a directory, as the plugin sends it (walk order: sorted, parents first). */
function manifestOf(dir: string, rel = ""): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const st = lstatSync(join(dir, path), { bigint: true });
    out.push({ path, mode: Number(st.mode), size: st.isFile() ? st.size : 0n, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, linkTarget: st.isSymbolicLink() ? readlinkSync(join(dir, path)) : "" });
    if (st.isDirectory()) out.push(...manifestOf(dir, path));
  }
  return out;
}

/** Runs the whole protocol as the client does; returns what the engine asked for and the ready ref. */
async function send(store: ContextStore, dir: string): Promise<{ asked: string[]; ready: SyncResult & { kind: "ready" } }> {
  const entries = manifestOf(dir);
  const key = { clientId: "client-1", name: "context", dir };
  const digest = manifestDigest(entries);
  let r = await store.sync(key, digest, undefined, never);
  if (r.kind === "need-manifest") r = await store.sync(key, digest, entries, never);
  if (r.kind === "ready") return { asked: [], ready: r };
  if (r.kind !== "need-files") throw new Error(r.kind);
  const asked = r.indexes.map((i) => (entries[i] as ManifestEntry).path);
  for (const i of r.indexes) {
    const data = readFileSync(join(dir, (entries[i] as ManifestEntry).path));
    // Two pieces per file, to exercise offsets.
    const half = Math.floor(data.length / 2);
    await store.upload(r.transferId, [
      { index: i, offset: 0n, data: data.subarray(0, half), eof: false },
      { index: i, offset: BigInt(half), data: data.subarray(half), eof: true },
    ]);
  }
  return { asked, ready: await store.commit(r.transferId) };
}

describe("the engine's incremental context copies", () => {
  it("copies a directory once, then transfers nothing while it is unchanged, then only what changed", async () => {
    const src = temp("src");
    mkdirSync(join(src, "sub/deep"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "alpha");
    writeFileSync(join(src, "sub/b.txt"), "bravo", { mode: 0o640 });
    writeFileSync(join(src, "sub/deep/c.sh"), "#!/bin/sh\n", { mode: 0o755 });
    symlinkSync("a.txt", join(src, "link"));
    utimesSync(join(src, "a.txt"), 1_000_000, 1_000_000);
    const store = new ContextStore({ root: temp("store") });

    const first = await send(store, src);
    expect(first.asked.sort()).toEqual(["a.txt", "sub/b.txt", "sub/deep/c.sh"]);
    expect(first.ready.transferredBytes).toBe(20);
    const lease = await store.lease(first.ready.ref, never);
    expect(readFileSync(join(lease.dir, "sub/b.txt"), "utf8")).toBe("bravo");
    expect(statSync(join(lease.dir, "sub/b.txt")).mode & 0o777).toBe(0o640);
    expect(statSync(join(lease.dir, "sub/deep/c.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(lease.dir, "a.txt")).mtimeMs).toBe(1_000_000_000);
    expect(readlinkSync(join(lease.dir, "link"))).toBe("a.txt");
    lease.release();

    // Unchanged: the digest matches, nothing is asked for (the second build of an unchanged context).
    const second = await send(store, src);
    expect(second.asked).toEqual([]);
    expect(second.ready).toMatchObject({ ref: first.ready.ref, transferredBytes: 0 });

    // One file rewritten, one removed, one added, a file replaced by a directory.
    writeFileSync(join(src, "sub/b.txt"), "BRAVO!");
    rmSync(join(src, "sub/deep/c.sh"));
    writeFileSync(join(src, "new.txt"), "n");
    rmSync(join(src, "a.txt"));
    mkdirSync(join(src, "a.txt"));
    const third = await send(store, src);
    expect(third.asked.sort()).toEqual(["new.txt", "sub/b.txt"]);
    const l2 = await store.lease(third.ready.ref, never);
    expect(readFileSync(join(l2.dir, "sub/b.txt"), "utf8")).toBe("BRAVO!");
    expect(readdirSync(join(l2.dir, "sub/deep"))).toEqual([]);
    expect(statSync(join(l2.dir, "a.txt")).isDirectory()).toBe(true);
    l2.release();
  });

  it("refuses paths that leave the copy, pieces out of order and unknown transfers or refs", async () => {
    const store = new ContextStore({ root: temp("store2") });
    const evil: ManifestEntry = { path: "../escape", mode: 0o100644, size: 1n, mtimeNs: 0n, ctimeNs: 0n, ino: 1n, linkTarget: "" };
    const key = { clientId: "c", name: "context", dir: "/x" };
    await expect(store.sync(key, manifestDigest([evil]), [evil], never)).rejects.toThrow(/HTK-ENGINE-0600.*leaves the context/);
    await expect(store.sync(key, "sha256:wrong", [], never)).rejects.toThrow(/HTK-ENGINE-0600/);
    const ok: ManifestEntry = { ...evil, path: "f" };
    const r = await store.sync(key, manifestDigest([ok]), [ok], never);
    if (r.kind !== "need-files") throw new Error(r.kind);
    await expect(store.upload(r.transferId, [{ index: 0, offset: 5n, data: new Uint8Array(1), eof: true }])).rejects.toThrow(/HTK-ENGINE-0600.*offset 5/);
    // A failed upload drops the transfer.
    await expect(store.commit(r.transferId)).rejects.toThrow(/HTK-ENGINE-0602/);
    await expect(store.lease("nope", never)).rejects.toThrow(/HTK-ENGINE-0601/);
  });

  it("makes a sync wait while a build reads the copy", async () => {
    const src = temp("src3");
    writeFileSync(join(src, "f"), "1");
    const store = new ContextStore({ root: temp("store3") });
    const { ready } = await send(store, src);
    const lease = await store.lease(ready.ref, never);
    writeFileSync(join(src, "f"), "22");
    let synced = false;
    const pending = send(store, src).then((r) => {
      synced = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(synced).toBe(false);
    lease.release();
    expect((await pending).asked).toEqual(["f"]);
  });

  it("keeps a bounded number of copies, dropping the least recently used", async () => {
    const store = new ContextStore({ root: temp("store4"), maxCopies: 1 });
    const a = temp("a");
    writeFileSync(join(a, "f"), "a");
    const b = temp("b");
    writeFileSync(join(b, "f"), "b");
    const first = await send(store, a);
    await send(store, b);
    await expect(store.lease(first.ready.ref, never)).rejects.toThrow(/HTK-ENGINE-0601/);
    // Sent again, it is a full copy once more.
    expect((await send(store, a)).asked).toEqual(["f"]);
  });
});
