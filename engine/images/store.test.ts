import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { ContentStore, RefCounter, sha256Of, type Digest, type LeaseInfo, type LeasePersistence } from "../../cache/index.ts";
import { MediaTypes } from "../../base/oci/index.ts";
import { chainIds, ImageStore } from "./store.ts";
import { putImage, withTempDir } from "./test-support.ts";
import type { ContainerUse, ImageEvent, ImageStatePersistence, ImageStoreState } from "./types.ts";

async function fresh(dir: string, containers?: Map<Digest, ContainerUse[]>, events?: ImageEvent[]): Promise<ImageStore> {
  return ImageStore.openAt(dir, {
    ...(containers !== undefined ? { containers: (id: Digest) => containers.get(id) ?? [] } : {}),
    ...(events !== undefined ? { onEvent: (e: ImageEvent) => events.push(e) } : {}),
  });
}

async function thrown(p: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a failure");
}

describe("ImageStore: names, list, inspect", () => {
  it("normalises references as Docker does and reports them in familiar form", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ "bin/sh": "#!" }], labels: { a: "1" } });
      const r = await store.add({ manifest: img.manifest, names: ["busybox", "127.0.0.1:5000/me/app:v1", `busybox@${img.manifest.digest}`] });
      expect(r.names).toEqual(["busybox:latest", "127.0.0.1:5000/me/app:v1", `busybox@${img.manifest.digest}`]);
      expect(store.lookup("docker.io/library/busybox:latest")?.id).toBe(img.configDigest);
      expect(store.lookup("index.docker.io/library/busybox")?.id).toBe(img.configDigest);
      expect(store.lookup(img.configDigest.slice(7, 19))?.id).toBe(img.configDigest);
      expect(store.lookup(`sha256:${img.configDigest.slice(7, 15)}`)?.id).toBe(img.configDigest);
      expect(store.lookup(img.configDigest.slice(7))?.id).toBe(img.configDigest);
      const [summary] = store.list();
      expect(summary).toMatchObject({
        Id: img.configDigest,
        RepoTags: ["127.0.0.1:5000/me/app:v1", "busybox:latest"],
        RepoDigests: [`busybox@${img.manifest.digest}`],
        Labels: { a: "1" },
        Containers: -1,
        SharedSize: -1,
        ParentId: "",
        Created: Date.parse("2024-01-02T03:04:05Z") / 1000,
        Size: 2,
      });
    }));

  it("answers Docker's errors for unknown and malformed references", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const missing = await thrown(() => store.resolve("nope"));
      expect(isHtkError(missing, "HTK-ENGINE-0200")).toBe(true);
      expect(isHtkError(missing) && missing.plainCause).toBe("No such image: nope:latest");
      expect(isHtkError(missing) && missing.http).toBe(404);
      const upper = await thrown(() => store.resolve("Foo"));
      expect(isHtkError(upper, "HTK-ENGINE-0201") && upper.plainCause).toBe("invalid reference format: repository name (library/Foo) must be lowercase");
      const bad = await thrown(() => store.resolve("a b"));
      expect(isHtkError(bad, "HTK-ENGINE-0201") && bad.plainCause).toBe("invalid reference format");
      const img = await putImage(store.content, { layers: [{ f: "x" }] });
      await store.add({ manifest: img.manifest, names: ["x"] });
      const hexName = await thrown(store.tag("x", "a".repeat(64)));
      expect(isHtkError(hexName, "HTK-ENGINE-0202") && hexName.http).toBe(400);
      const digestTag = await thrown(store.tag("x", `y@${img.manifest.digest}`));
      expect(isHtkError(digestTag, "HTK-ENGINE-0208") && digestTag.plainCause).toBe("refusing to create a tag with a digest reference");
    }));

  it("inspects in Docker 26's shape", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, {
        layers: [{ a: "12345" }, { b: "123" }],
        created: "2024-05-06T07:08:09.120000000Z",
        extra: { author: "me", comment: "hello", docker_version: "26.1.0" },
      });
      await store.add({ manifest: img.manifest, names: ["app:1"] });
      const before = await store.inspect("app:1");
      expect(before.Metadata.LastTagTime).toBe("0001-01-01T00:00:00Z");
      await store.tag("app:1", "app:2");
      const i = await store.inspect("app:1");
      expect(i).toMatchObject({
        Id: img.configDigest,
        RepoTags: ["app:1", "app:2"],
        RepoDigests: [],
        Parent: "",
        Comment: "hello",
        Created: "2024-05-06T07:08:09.12Z",
        DockerVersion: "26.1.0",
        Author: "me",
        Architecture: "amd64",
        Os: "linux",
        Size: 8,
        RootFS: { Type: "layers", Layers: img.diffIds },
      });
      expect(i.Config).toMatchObject({ Hostname: "", User: "", Env: ["PATH=/bin"], Cmd: ["sh"], Image: "", Volumes: null, Entrypoint: null, Labels: null, OnBuild: null });
      expect(i.Metadata.LastTagTime).not.toBe("0001-01-01T00:00:00Z");
      expect(Object.keys(i)).toEqual(["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion", "Author", "Config", "Architecture", "Os", "Size", "GraphDriver", "RootFS", "Metadata"]);
    }));

  it("filters the list: dangling, label, reference wildcards, before, since", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const old = await putImage(store.content, { layers: [{ a: "1" }], created: "2020-01-01T00:00:00Z", labels: { tier: "db", x: "1" } });
      const mid = await putImage(store.content, { layers: [{ b: "1" }], created: "2021-01-01T00:00:00Z", labels: { tier: "web" } });
      const recent = await putImage(store.content, { layers: [{ c: "1" }], created: "2022-01-01T00:00:00Z" });
      await store.add({ manifest: old.manifest, names: ["busybox:1", "me/tool:1"] });
      await store.add({ manifest: mid.manifest, names: ["busybox:2"] });
      await store.add({ manifest: recent.manifest, names: ["busybox:2"] });
      const ids = (filters: Record<string, string[]>): string[] => store.list({ filters }).map((s) => s.Id);
      expect(ids({ dangling: ["true"] })).toEqual([mid.configDigest]);
      expect(ids({ dangling: ["false"] })).toEqual([recent.configDigest, old.configDigest]);
      expect(ids({ label: ["tier"] })).toEqual([mid.configDigest, old.configDigest]);
      expect(ids({ label: ["tier=db", "x=1"] })).toEqual([old.configDigest]);
      expect(store.list({ filters: { reference: ["busybox"] } }).map((s) => s.RepoTags)).toEqual([["busybox:2"], ["busybox:1"]]);
      expect(store.list({ filters: { reference: ["*/tool:*"] } }).map((s) => s.RepoTags)).toEqual([["me/tool:1"]]);
      expect(ids({ reference: ["*:1"] })).toEqual([old.configDigest]);
      expect(ids({ before: ["busybox:2"] })).toEqual([mid.configDigest, old.configDigest]);
      expect(ids({ since: ["busybox:1"] })).toEqual([recent.configDigest, mid.configDigest]);
      expect(store.list({ filters: { dangling: { true: true } } }).map((s) => s.RepoTags)).toEqual([[]]);
      const unknown = await thrown(() => store.list({ filters: { color: ["red"] } }));
      expect(isHtkError(unknown, "HTK-ENGINE-0221") && unknown.plainCause).toBe("invalid filter 'color'");
      const value = await thrown(() => store.list({ filters: { dangling: ["maybe"] } }));
      expect(isHtkError(value, "HTK-ENGINE-0222") && value.plainCause).toBe("Invalid filter 'dangling=maybe'");
      const time = await thrown(store.prune({ filters: { until: ["yesterday"] } }));
      expect(isHtkError(time, "HTK-ENGINE-0223") && time.http).toBe(400);
    }));
});

describe("ImageStore: docker rmi", () => {
  it("untags while other names remain, then deletes, listing removed layers", () =>
    withTempDir(async (dir) => {
      const events: ImageEvent[] = [];
      const store = await fresh(dir, undefined, events);
      const img = await putImage(store.content, { layers: [{ a: "1" }, { b: "2" }] });
      await store.add({ manifest: img.manifest, names: ["app:1", "app:2", `app@${img.manifest.digest}`] });
      expect(await store.remove("app:1")).toEqual([{ Untagged: "app:1" }]);
      const chains = chainIds(img.diffIds);
      expect(await store.remove("app:2")).toEqual([
        { Untagged: "app:2" },
        { Untagged: `app@${img.manifest.digest}` },
        { Deleted: img.configDigest },
        { Deleted: chains[1] },
        { Deleted: chains[0] },
      ]);
      expect(store.list()).toEqual([]);
      expect(await store.content.has(img.layerDigests[0] as Digest)).toBe(false);
      expect(await store.content.has(img.manifest.digest)).toBe(false);
      expect(events.map((e) => e.action)).toEqual(["tag", "tag", "untag", "untag", "delete"]);
    }));

  it("refuses to delete by ID an image named in several repositories unless forced", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["one:latest", "two:latest"] });
      const short = img.configDigest.slice(7, 19);
      const err = await thrown(store.remove(short));
      expect(isHtkError(err, "HTK-ENGINE-0203")).toBe(true);
      expect(isHtkError(err) && err.plainCause).toBe(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      expect(isHtkError(err) && err.http).toBe(409);
      const items = await store.remove(short, { force: true });
      expect(items.slice(0, 3)).toEqual([{ Untagged: "one:latest" }, { Untagged: "two:latest" }, { Deleted: img.configDigest }]);
    }));

  it("deletes by ID an image with one tag (its names go with it)", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["one:latest", `one@${img.manifest.digest}`] });
      const items = await store.remove(img.configDigest);
      // Docker's reference store lists names sorted by their full string: ":tag" before "@digest".
      expect(items.slice(0, 3)).toEqual([{ Untagged: "one:latest" }, { Untagged: `one@${img.manifest.digest}` }, { Deleted: img.configDigest }]);
    }));

  it("applies Docker's container conflicts", () =>
    withTempDir(async (dir) => {
      const containers = new Map<Digest, ContainerUse[]>();
      const store = await fresh(dir, containers);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["app:1"] });
      const short = img.configDigest.slice(7, 19);
      containers.set(img.configDigest, [{ id: "c0ffee".repeat(10), running: true }]);
      const running = await thrown(store.remove(img.configDigest, { force: true }));
      expect(isHtkError(running, "HTK-ENGINE-0204") && running.plainCause).toBe(
        `conflict: unable to delete ${short} (cannot be forced) - image is being used by running container c0ffeec0ffee`,
      );
      containers.set(img.configDigest, [{ id: "beef".repeat(16), running: false }]);
      const stopped = await thrown(store.remove(img.configDigest));
      expect(isHtkError(stopped, "HTK-ENGINE-0205") && stopped.plainCause).toBe(
        `conflict: unable to delete ${short} (must be forced) - image is being used by stopped container beefbeefbeef`,
      );
      const lastTag = await thrown(store.remove("app:1"));
      expect(isHtkError(lastTag, "HTK-ENGINE-0207") && lastTag.plainCause).toBe(
        `conflict: unable to remove repository reference "app:1" (must force) - container beefbeefbeef is using its referenced image ${short}`,
      );
      // Forced, a stopped container is no conflict: the last name and the image go (Docker's rmi -f).
      expect(await store.remove("app:1", { force: true })).toEqual([{ Untagged: "app:1" }, { Deleted: img.configDigest }, { Deleted: img.diffIds[0] }]);
    }));

  it("keeps an image that has children, and prunes untagged parents unless noprune", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const base = await putImage(store.content, { layers: [{ a: "1" }] });
      const child = await putImage(store.content, { layers: [{ a: "1" }, { b: "2" }] });
      await store.add({ manifest: base.manifest });
      await store.add({ manifest: child.manifest, names: ["child:1"], parent: base.configDigest });
      const err = await thrown(store.remove(base.configDigest));
      expect(isHtkError(err, "HTK-ENGINE-0206") && err.plainCause).toBe(
        `conflict: unable to delete ${base.configDigest.slice(7, 19)} (cannot be forced) - image has dependent child images`,
      );
      expect(store.list().map((s) => s.Id)).toEqual([child.configDigest]);
      expect(store.list({ all: true }).length).toBe(2);
      const items = await store.remove("child:1");
      expect(items.filter((i) => "Deleted" in i).map((i) => ("Deleted" in i ? i.Deleted : ""))).toEqual([
        child.configDigest,
        chainIds(child.diffIds)[1],
        base.configDigest,
        base.diffIds[0],
      ]);
    }));
});

describe("ImageStore: leases, garbage, persistence", () => {
  it("leases every blob an image needs and collects only unreferenced ones", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const a = await putImage(store.content, { layers: [{ shared: "s" }, { a: "1" }] });
      const b = await putImage(store.content, { layers: [{ shared: "s" }, { b: "2" }] });
      const stray = await store.content.put(Buffer.from("stray"));
      await store.add({ manifest: a.manifest, names: ["a"] });
      await store.add({ manifest: b.manifest, names: ["b"] });
      for (const d of [a.layerDigests[1] as Digest, a.configDigest, a.manifest.digest]) expect(store.refs.blobLeaseCount(d)).toBe(1);
      expect(store.refs.blobLeaseCount(a.layerDigests[0] as Digest)).toBe(2);
      const gc = await store.collectGarbage({ minAgeMs: 0 });
      expect(gc.deleted).toEqual([stray.digest]);
      await store.remove("a");
      expect(await store.content.has(a.layerDigests[0] as Digest)).toBe(true); // b uses it too
      expect(await store.content.has(a.layerDigests[1] as Digest)).toBe(false);
      const again = await store.collectGarbage({ minAgeMs: 0 });
      expect(again.deleted).toEqual([]);
      expect(await store.content.has(b.manifest.digest)).toBe(true);
    }));

  it("keeps images, names and leases across a restart and repairs lost leases", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["keep:1"] });
      const reopened = await fresh(dir);
      expect(reopened.list().map((s) => s.RepoTags)).toEqual([["keep:1"]]);
      expect(reopened.refs.blobLeaseCount(img.configDigest)).toBe(1);
      await rm(join(dir, "images", "leases.json"));
      const repaired = await fresh(dir);
      expect(repaired.refs.blobLeaseCount(img.layerDigests[0] as Digest)).toBe(1);
      expect(JSON.parse(await readFile(join(dir, "images", "leases.json"), "utf8"))).toHaveLength(3);
    }));

  it("refuses a damaged state file with HTK-ENGINE-0220", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["x"] });
      await writeFile(join(dir, "images", "images.json"), "{ torn");
      const err = await thrown(fresh(dir));
      expect(isHtkError(err, "HTK-ENGINE-0220")).toBe(true);
    }));

  it("refuses images whose content is missing (0209) or wrong (0210)", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      await store.content.delete(img.layerDigests[0] as Digest);
      const missing = await thrown(store.add({ manifest: img.manifest, names: ["m"] }));
      expect(isHtkError(missing, "HTK-ENGINE-0209")).toBe(true);
      expect(store.list()).toEqual([]);
      // A config whose diff ID does not match the layer's content.
      const layer = await store.content.put(Buffer.alloc(1024));
      const config = await store.content.put(
        Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256Of("other")] } })),
      );
      const manifest = await store.content.put(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaTypes.ociManifest,
            config: { mediaType: MediaTypes.ociConfig, ...config },
            layers: [{ mediaType: MediaTypes.ociLayer, ...layer }],
          }),
        ),
      );
      const wrong = await thrown(store.add({ manifest: { mediaType: MediaTypes.ociManifest, ...manifest }, names: ["w"] }));
      expect(isHtkError(wrong, "HTK-ENGINE-0210")).toBe(true);
      expect(store.list()).toEqual([]);
      expect(store.refs.liveLeases()).toEqual([]);
    }));
});

describe("ImageStore: history and prune", () => {
  it("reports history newest first with Docker's <missing> rule", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, {
        layers: [{ a: "12345" }, { b: "12" }],
        history: [
          { created: "2024-01-01T00:00:00Z", created_by: "ADD rootfs /" },
          { created: "2024-01-01T00:00:01Z", created_by: "ENV A=1", empty_layer: true },
          { created: "2024-01-01T00:00:02Z", created_by: "RUN make", comment: "buildkit.dockerfile.v0" },
        ],
      });
      await store.add({ manifest: img.manifest, names: ["h:1"] });
      expect(await store.history("h:1")).toEqual([
        { Id: img.configDigest, Created: 1704067202, CreatedBy: "RUN make", Tags: ["h:1"], Size: 2, Comment: "buildkit.dockerfile.v0" },
        { Id: "<missing>", Created: 1704067201, CreatedBy: "ENV A=1", Tags: null, Size: 0, Comment: "" },
        { Id: "<missing>", Created: 1704067200, CreatedBy: "ADD rootfs /", Tags: null, Size: 5, Comment: "" },
      ]);
    }));

  it("prunes dangling images, or every unused one with all", () =>
    withTempDir(async (dir) => {
      const containers = new Map<Digest, ContainerUse[]>();
      const store = await fresh(dir, containers);
      const a = await putImage(store.content, { layers: [{ a: "1" }] });
      const b = await putImage(store.content, { layers: [{ b: "22" }] });
      const c = await putImage(store.content, { layers: [{ c: "333" }] });
      await store.add({ manifest: a.manifest, names: ["x:1"] });
      await store.add({ manifest: b.manifest, names: ["x:1"] }); // a is now dangling
      await store.add({ manifest: c.manifest, names: ["used:1"] });
      containers.set(c.configDigest, [{ id: "1".repeat(64), running: false }]);
      const dangling = await store.prune();
      expect(dangling).toEqual({ ImagesDeleted: [{ Deleted: a.configDigest }, { Deleted: a.diffIds[0] }], SpaceReclaimed: 1 });
      const all = await store.prune({ all: true });
      expect(all.ImagesDeleted).toEqual([{ Untagged: "x:1" }, { Deleted: b.configDigest }, { Deleted: b.diffIds[0] }]);
      expect(all.SpaceReclaimed).toBe(2);
      expect(store.list().map((s) => s.RepoTags)).toEqual([["used:1"]]);
      expect(await store.prune()).toEqual({ ImagesDeleted: null, SpaceReclaimed: 0 });
    }));

  it("prune -a goes on name by name when a name went with another (a repository's digest with its last tag)", () =>
    withTempDir(async (dir) => {
      const store = await fresh(dir);
      const img = await putImage(store.content, { layers: [{ a: "1" }] });
      // Sorted by key, the registry tag comes first and takes the repository's digest name with it.
      await store.add({ manifest: img.manifest, names: ["reg.example:5000/app:1", `reg.example:5000/app@${img.manifest.digest}`, "reg.example:5000/zapp:1"] });
      const all = await store.prune({ all: true });
      expect(all.ImagesDeleted).toEqual([
        { Untagged: "reg.example:5000/app:1" },
        { Untagged: `reg.example:5000/app@${img.manifest.digest}` },
        { Untagged: "reg.example:5000/zapp:1" },
        { Deleted: img.configDigest },
        { Deleted: img.diffIds[0] },
      ]);
      expect(store.images()).toEqual([]);
    }));
});

describe("ImageStore: persistence is pluggable", () => {
  it("runs on any ImageStatePersistence and LeasePersistence (what engine/state's SQLite will provide)", () =>
    withTempDir(async (dir) => {
      let saved: ImageStoreState | undefined;
      const state: ImageStatePersistence = { load: () => saved, save: (s) => void (saved = JSON.parse(JSON.stringify(s)) as ImageStoreState) };
      const leases = new Map<string, LeaseInfo>();
      const persistence: LeasePersistence = { load: () => [...leases.values()], added: (l) => void leases.set(l.id, l), removed: (id) => void leases.delete(id) };
      const refs = new RefCounter({ persistence });
      const content = await ContentStore.open(join(dir, "content"), { leaseCount: refs.blobLeaseCount });
      const store = ImageStore.open({ content, refs, state });
      const img = await putImage(content, { layers: [{ a: "1" }] });
      await store.add({ manifest: img.manifest, names: ["p:1"] });
      expect(saved?.references).toEqual({ "docker.io/library/p:1": img.configDigest });
      expect(leases.size).toBe(3);
      const again = ImageStore.open({ content, refs: new RefCounter({ persistence }), state });
      expect(again.repoTags(img.configDigest)).toEqual(["p:1"]);
      await again.remove("p:1");
      expect(leases.size).toBe(0);
      expect(saved?.images).toEqual({});
    }));
});

describe("ImageStore: sharing a RefCounter", () => {
  it("works on a content store and RefCounter owned by the engine", () =>
    withTempDir(async (dir) => {
      const refs = new RefCounter();
      const content = await ContentStore.open(join(dir, "content"), { leaseCount: refs.blobLeaseCount });
      const store = await ImageStore.openAt(dir, { content, refs });
      const img = await putImage(content, { layers: [{ a: "1" }], gzip: false });
      await store.add({ manifest: img.manifest, names: ["plain"] });
      expect(await content.delete(img.configDigest)).toEqual({ kind: "in-use", leases: 1 });
      expect((await store.inspect("plain")).Size).toBe(1);
    }));
});
