import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { sha256Of, type Digest } from "../../cache/index.ts";
import { assembleImage, writeDockerArchive, writeLayer } from "../../testing/oci/index.ts";
import { loadImageArchive, saveDockerArchive } from "./docker-archive.ts";
import { loadOciArchive, readOciLayout, saveOciArchive, writeOciLayout } from "./oci-layout.ts";
import { ImageStore } from "./store.ts";
import { packArchive, readArchive, type ArchiveEntry } from "./tar.ts";
import { putImage, withTempDir } from "./test-support.ts";

async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a failure");
}

async function entriesOf(tar: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const e of readArchive(Readable.from([tar]))) {
    const parts: Buffer[] = [];
    for await (const c of e.stream) parts.push(Buffer.from(c));
    out.set(e.type === "directory" ? `${e.path}/` : e.path, Buffer.concat(parts));
  }
  return out;
}

async function blobCount(store: ImageStore): Promise<number> {
  let n = 0;
  for await (const _ of store.content.list()) n++;
  return n;
}

describe("docker save / docker load", () => {
  it("writes Docker 26's layout and loads it back with the same IDs and digests", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ "bin/sh": "sh" }, { "etc/x": "x" }] });
      const other = await putImage(src.content, { layers: [{ "bin/sh": "sh" }] });
      await src.add({ manifest: img.manifest, names: ["app:1", "app:2", "127.0.0.1:5000/me/app:v1"] });
      await src.add({ manifest: other.manifest });
      const tar = await buffer(await saveDockerArchive(src, ["app", other.configDigest.slice(7, 19)]));
      const files = await entriesOf(tar);
      const layerPaths = img.diffIds.map((d) => `blobs/sha256/${d.slice(7)}`);
      expect([...files.keys()].filter((p) => !/^blobs\/sha256\/./.test(p))).toEqual(["blobs/", "blobs/sha256/", "index.json", "manifest.json", "oci-layout", "repositories"]);
      expect(JSON.parse(files.get("manifest.json")?.toString() ?? "")).toEqual([
        { Config: `blobs/sha256/${img.configDigest.slice(7)}`, RepoTags: ["app:1", "app:2"], Layers: layerPaths },
        { Config: `blobs/sha256/${other.configDigest.slice(7)}`, RepoTags: null, Layers: [layerPaths[0]] },
      ]);
      expect(files.get("manifest.json")?.toString().endsWith("]\n")).toBe(true);
      expect(files.get("oci-layout")?.toString()).toBe('{"imageLayoutVersion": "1.0.0"}');
      expect(JSON.parse(files.get("repositories")?.toString() ?? "")).toEqual({ app: { "1": img.diffIds[1]?.slice(7), "2": img.diffIds[1]?.slice(7) } });
      const index = JSON.parse(files.get("index.json")?.toString() ?? "") as { manifests: { annotations?: Record<string, string> }[] };
      expect(index.manifests.map((m) => m.annotations)).toEqual([
        { "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1" },
        { "io.containerd.image.name": "docker.io/library/app:2", "org.opencontainers.image.ref.name": "2" },
        undefined,
      ]);
      // Layers are stored uncompressed: each blob hashes to its diff ID.
      for (const [i, p] of layerPaths.entries()) expect(sha256Of(files.get(p) ?? Buffer.alloc(0))).toBe(img.diffIds[i]);

      const dst = await ImageStore.openAt(join(dir, "b"));
      const loaded = await loadImageArchive(dst, Readable.from([tar]));
      expect(loaded.messages).toEqual(["Loaded image: app:1", "Loaded image: app:2", `Loaded image ID: ${other.configDigest}`]);
      const rows = dst.list().map((s) => [s.Id, s.RepoTags, s.Size]);
      expect(rows).toHaveLength(2);
      expect(rows).toContainEqual([img.configDigest, ["app:1", "app:2"], 3]);
      expect(rows).toContainEqual([other.configDigest, [], 2]);
      expect((await dst.inspect("app:1")).RootFS.Layers).toEqual(img.diffIds);
      // Nothing unreferenced is left behind: every stored blob belongs to a loaded image.
      for await (const d of dst.content.list()) expect(dst.refs.blobLeaseCount(d.digest), d.digest).toBeGreaterThan(0);
      // A second save of the loaded image gives the same bytes: the archive's manifest was kept.
      const again = await buffer(await saveDockerArchive(dst, ["app"]));
      const first = await buffer(await saveDockerArchive(src, ["app"]));
      expect(sha256Of(again)).toBe(sha256Of(first));
    }));

  it("loads the pre-25 form (<id>/layer.tar), gzip layers included, and reports moved tags", () =>
    withTempDir(async (dir) => {
      const layer = await writeLayer([{ type: "file", path: "hello", content: Buffer.from("hi there") }], join(dir, "layer.tgz"));
      const image = assembleImage({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z" }, [layer]);
      await writeDockerArchive(join(dir, "old.tar"), image, ["old:1"]);
      const store = await ImageStore.openAt(join(dir, "s"));
      const previous = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: previous.manifest, names: ["old:1"] });
      const loaded = await loadImageArchive(store, Readable.from([await readFile(join(dir, "old.tar"))]));
      const id = sha256Of(image.configBytes);
      expect(loaded.messages).toEqual([`The image old:1 already exists, renaming the old one with ID ${previous.configDigest} to empty string`, "Loaded image: old:1"]);
      expect(store.lookup("old:1")?.id).toBe(id);
      expect((await store.inspect("old:1")).Size).toBe(8);

      // Same image, its layer.tar gzip-compressed (as some tools write it).
      const files = await entriesOf(await readFile(join(dir, "old.tar")));
      const entries: ArchiveEntry[] = [...files].map(([path, content]) =>
        path.endsWith("/") ? { type: "directory", path: path.slice(0, -1) } : { type: "file", path, content: path.endsWith("layer.tar") ? gzipSync(content) : content },
      );
      const fresh = await ImageStore.openAt(join(dir, "t"));
      await loadImageArchive(fresh, packArchive(entries));
      expect(fresh.lookup("old:1")?.id).toBe(id);
      expect(fresh.get(id)?.manifests[0]?.layers[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    }));

  it("follows the symlinks pre-25 archives use for a layer saved twice, and refuses links that leave", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const a = await putImage(src.content, { layers: [{ shared: "s" }], gzip: false });
      const b = await putImage(src.content, { layers: [{ shared: "s" }, { own: "b" }], gzip: false });
      const files = new Map<string, Buffer>();
      for (const img of [a, b]) {
        for (const d of [img.configDigest, ...img.layerDigests]) files.set(d, await src.content.readBytes(d));
      }
      const [shared, own] = b.diffIds;
      const manifest = [
        { Config: `${a.configDigest.slice(7)}.json`, RepoTags: ["a:1"], Layers: ["l1/layer.tar"] },
        { Config: `${b.configDigest.slice(7)}.json`, RepoTags: ["b:1"], Layers: ["l2/layer.tar", "l3/layer.tar"] },
      ];
      const entries: ArchiveEntry[] = [
        { type: "file", path: `${a.configDigest.slice(7)}.json`, content: files.get(a.configDigest) ?? Buffer.alloc(0) },
        { type: "file", path: `${b.configDigest.slice(7)}.json`, content: files.get(b.configDigest) ?? Buffer.alloc(0) },
        { type: "file", path: "l1/layer.tar", content: files.get(shared as Digest) ?? Buffer.alloc(0) },
        { type: "symlink", path: "l2/layer.tar", target: "../l1/layer.tar" },
        { type: "file", path: "l3/layer.tar", content: files.get(own as Digest) ?? Buffer.alloc(0) },
        { type: "file", path: "manifest.json", content: Buffer.from(JSON.stringify(manifest)) },
      ];
      const dst = await ImageStore.openAt(join(dir, "b"));
      const r = await loadImageArchive(dst, packArchive(entries));
      expect(r.images.map((i) => i.id)).toEqual([a.configDigest, b.configDigest]);
      const escaping = entries.map((e) => (e.path === "l2/layer.tar" ? { type: "symlink" as const, path: e.path, target: "../../etc/passwd" } : e));
      const other = await ImageStore.openAt(join(dir, "c"));
      const err = await thrown(loadImageArchive(other, packArchive(escaping)));
      expect(isHtkError(err, "HTK-ENGINE-0216")).toBe(true);
    }));

  it("stops a load when its signal aborts, leaving nothing behind", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ big: "y".repeat(300_000) }] });
      await src.add({ manifest: img.manifest, names: ["abort:1"] });
      const tar = await buffer(await saveDockerArchive(src, ["abort:1"]));
      const ac = new AbortController();
      async function* slow(): AsyncGenerator<Uint8Array> {
        for (let off = 0; off < tar.length; off += 65536) {
          if (off > 200_000) ac.abort(new DOMException("stop", "AbortError"));
          yield tar.subarray(off, off + 65536);
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      const dst = await ImageStore.openAt(join(dir, "b"));
      const err = await thrown(loadImageArchive(dst, slow(), { signal: ac.signal }));
      expect(err.name).toBe("AbortError");
      expect(dst.list()).toEqual([]);
      expect(await blobCount(dst)).toBe(0);
    }));

  it("refuses a truncated archive and keeps nothing of it", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ big: "x".repeat(20000) }] });
      await src.add({ manifest: img.manifest, names: ["t:1"] });
      const tar = await buffer(await saveDockerArchive(src, ["t:1"]));
      const dst = await ImageStore.openAt(join(dir, "b"));
      for (const cut of [tar.length - 1024 - 300, 2000, 700]) {
        const err = await thrown(loadImageArchive(dst, Readable.from([tar.subarray(0, cut)])));
        expect(isHtkError(err, "HTK-ENGINE-0211") || isHtkError(err, "HTK-ENGINE-0212"), String(err)).toBe(true);
        expect(dst.list()).toEqual([]);
        expect(await blobCount(dst)).toBe(0);
      }
      const mid = await thrown(loadImageArchive(dst, Readable.from([tar.subarray(0, 2000)])));
      expect(isHtkError(mid, "HTK-ENGINE-0211") && mid.plainCause).toMatch(/truncated/);
    }));

  it("refuses damaged and inconsistent archives with their diagnostics", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ f: "content" }] });
      await src.add({ manifest: img.manifest, names: ["d:1"] });
      const files = await entriesOf(await buffer(await saveDockerArchive(src, ["d:1"])));
      const rebuild = (change: (path: string, content: Buffer) => Buffer | undefined, extra: ArchiveEntry[] = []): Readable =>
        packArchive([
          ...[...files].flatMap(([path, content]): ArchiveEntry[] => {
            if (path.endsWith("/")) return [{ type: "directory", path: path.slice(0, -1) }];
            const next = change(path, content);
            return next === undefined ? [] : [{ type: "file", path, content: next }];
          }),
          ...extra,
        ]);
      const dst = await ImageStore.openAt(join(dir, "b"));
      const layerPath = `blobs/sha256/${img.diffIds[0]?.slice(7)}`;
      const flipped = await thrown(loadImageArchive(dst, rebuild((p, c) => (p === layerPath ? Buffer.from(c.toString("latin1").replace("content", "CONTENT"), "latin1") : c))));
      expect(isHtkError(flipped, "HTK-ENGINE-0213")).toBe(true);
      const missing = await thrown(loadImageArchive(dst, rebuild((p, c) => (p === layerPath ? undefined : c))));
      expect(isHtkError(missing, "HTK-ENGINE-0214") && missing.plainCause).toContain(layerPath);
      const neither = await thrown(loadImageArchive(dst, rebuild((p, c) => (p === "manifest.json" || p === "index.json" ? undefined : c))));
      expect(isHtkError(neither, "HTK-ENGINE-0212")).toBe(true);
      const unsafe = await thrown(loadImageArchive(dst, rebuild((_p, c) => c, [{ type: "file", path: "../escape", content: Buffer.from("x") }])));
      expect(isHtkError(unsafe, "HTK-ENGINE-0216")).toBe(true);
      const notTar = await thrown(loadImageArchive(dst, Readable.from([Buffer.alloc(1500, 7)])));
      expect(isHtkError(notTar, "HTK-ENGINE-0211")).toBe(true);
      // A legacy archive whose layer is another layer than its config says.
      const wrongLayer = Buffer.from(await buffer(packArchive([{ type: "file", path: "other", content: Buffer.from("zz") }])));
      const manifest = JSON.stringify([{ Config: `${img.configDigest.slice(7)}.json`, RepoTags: ["d:1"], Layers: ["x/layer.tar"] }]);
      const legacy = packArchive([
        { type: "file", path: `${img.configDigest.slice(7)}.json`, content: files.get(`blobs/sha256/${img.configDigest.slice(7)}`) ?? Buffer.alloc(0) },
        { type: "file", path: "x/layer.tar", content: wrongLayer },
        { type: "file", path: "manifest.json", content: Buffer.from(manifest) },
      ]);
      const diff = await thrown(loadImageArchive(dst, legacy));
      expect(isHtkError(diff, "HTK-ENGINE-0215") && diff.plainCause).toBe(`invalid diffID for layer 0: expected "${img.diffIds[0]}", got "${sha256Of(wrongLayer)}"`);
      expect(dst.list()).toEqual([]);
      expect(await blobCount(dst)).toBe(0);
      expect(dst.refs.liveLeases()).toEqual([]);
    }));

  it("refuses to save an image without layers, as Docker does", () =>
    withTempDir(async (dir) => {
      const store = await ImageStore.openAt(dir);
      const img = await putImage(store.content, { layers: [] });
      await store.add({ manifest: img.manifest, names: ["empty"] });
      const err = await thrown(saveDockerArchive(store, ["empty"]));
      expect(isHtkError(err, "HTK-ENGINE-0219") && err.plainCause).toBe("empty export - not implemented");
    }));
});

describe("OCI image layouts", () => {
  it("writes a layout directory and a layout tar that read back to the same image", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ a: "1" }, { b: "2" }] });
      await src.add({ manifest: img.manifest, names: ["lay:1"] });
      await writeOciLayout(src, join(dir, "layout"), [{ image: "lay:1" }]);
      expect((await readdir(join(dir, "layout"))).sort()).toEqual(["blobs", "index.json", "oci-layout"]);
      const index = JSON.parse(await readFile(join(dir, "layout", "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
      expect(index.manifests[0]?.digest).toBe(img.manifest.digest);
      expect(index.manifests[0]?.annotations).toEqual({ "io.containerd.image.name": "docker.io/library/lay:1", "org.opencontainers.image.ref.name": "1" });

      const dst = await ImageStore.openAt(join(dir, "b"));
      expect(await readOciLayout(dst, join(dir, "layout"), { refName: "1" })).toEqual([{ id: img.configDigest, names: ["lay:1"] }]);
      expect(dst.get(img.configDigest)?.manifests[0]?.descriptor.digest).toBe(img.manifest.digest);

      const viaTar = await ImageStore.openAt(join(dir, "c"));
      const loaded = await loadOciArchive(viaTar, await saveOciArchive(src, [{ image: "lay:1", refName: "v1" }]), { names: ["renamed:v1"] });
      expect(loaded).toEqual([{ id: img.configDigest, names: ["renamed:v1"] }]);
      // docker load also takes a plain OCI layout tar.
      const viaLoad = await ImageStore.openAt(join(dir, "d"));
      const r = await loadImageArchive(viaLoad, await saveOciArchive(src, [{ image: "lay:1" }]));
      expect(r.messages).toEqual(["Loaded image: lay:1"]);
    }));

  it("names what is wrong with a layout", () =>
    withTempDir(async (dir) => {
      const src = await ImageStore.openAt(join(dir, "a"));
      const img = await putImage(src.content, { layers: [{ a: "1" }] });
      await src.add({ manifest: img.manifest, names: ["lay:1"] });
      await writeOciLayout(src, join(dir, "layout"), [{ image: "lay:1" }]);
      const dst = await ImageStore.openAt(join(dir, "b"));
      const noRef = await thrown(readOciLayout(dst, join(dir, "layout"), { refName: "nope" }));
      expect(isHtkError(noRef, "HTK-ENGINE-0218") && noRef.plainCause).toContain('has 0 images named "nope"');
      const notLayout = await thrown(readOciLayout(dst, join(dir, "a")));
      expect(isHtkError(notLayout, "HTK-ENGINE-0217")).toBe(true);
      const layerFile = join(dir, "layout", "blobs", "sha256", (img.layerDigests[0] as Digest).slice(7));
      await writeFile(layerFile, gzipSync(Buffer.from("not the layer")));
      const damaged = await thrown(readOciLayout(dst, join(dir, "layout")));
      expect(isHtkError(damaged, "HTK-ENGINE-0213")).toBe(true);
      expect(dst.list()).toEqual([]);
      expect(await blobCount(dst)).toBe(0);
    }));
});
