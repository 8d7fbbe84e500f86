import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ContentStore, RefCounter } from "../../cache/index.ts";
import { ImageStore, importImage } from "../images/index.ts";
import { putImage, tarOf } from "../images/test-support.ts";
import { commitImage } from "./commit.ts";

/**
 * `docker import` and `docker commit` store blobs that no image records yet. A garbage collection
 * that runs right after a blob is written (an rmi or prune at the same time) must find it leased:
 * the store's `put` is wrapped so that a collection of exactly that blob runs the moment it returns.
 */
describe("import and commit lease their blobs before a collection can see them", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  async function racingStore(): Promise<{ store: ImageStore; collected: string[]; race: { on: boolean } }> {
    const root = await mkdtemp(join(tmpdir(), "htk-commit-lease-"));
    dirs.push(root);
    const refs = new RefCounter();
    const content = await ContentStore.open(join(root, "content"), { leaseCount: refs.blobLeaseCount });
    const collected: string[] = [];
    const race = { on: true };
    const store = await ImageStore.openAt(root, { content, refs });
    const put = content.put.bind(content);
    // The race, made deterministic: a collection of the new blob between its write and the caller's next step.
    content.put = async (...args: Parameters<ContentStore["put"]>) => {
      const d = await put(...args);
      if (!race.on) return d;
      const gc = await store.collectGarbage({ candidates: [d.digest] });
      collected.push(...gc.deleted);
      return d;
    };
    return { store, collected, race };
  }

  it("docker import: the layer, config and manifest survive a collection right after each write", async () => {
    const { store, collected } = await racingStore();
    const tar = await tarOf({ "hello.txt": "hi\n" });
    const image = await importImage(store, (async function* () {
      yield new Uint8Array(tar);
    })(), { config: {}, platform: { os: "linux", architecture: "amd64" }, comment: "Imported from -", name: "imported:1" });
    expect(collected).toEqual([]);
    expect(store.get(image.id)?.id).toBe(image.id);
    expect((await store.config(image.id)).raw["comment"]).toBe("Imported from -");
  });

  it("docker commit: the new layer, config and manifest survive a collection right after each write", async () => {
    const { store, collected, race } = await racingStore();
    race.on = false;
    const base = await putImage(store.content, { layers: [{ "a.txt": "a\n" }], gzip: false });
    const parent = (await store.add({ manifest: base.manifest, names: ["base:1"] })).image;
    race.on = true;
    const tar = await tarOf({ "b.txt": "b\n" });
    const committed = await commitImage(store, (await store.config(parent.id)).raw, {
      containerId: "c".repeat(64),
      containerConfig: { Cmd: ["sh"] },
      config: {},
      parent,
      layer: (async function* () {
        yield new Uint8Array(tar);
      })(),
      name: "committed:1",
      author: "",
      comment: "",
      dockerVersion: "",
      signal: new AbortController().signal,
    });
    expect(collected).toEqual([]);
    expect(committed.names).toEqual(["committed:1"]);
    expect(store.get(committed.image.id)?.id).toBe(committed.image.id);
  });
});
