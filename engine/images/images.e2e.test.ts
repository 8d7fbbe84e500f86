import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { MediaTypes } from "../../base/oci/index.ts";
import { anonymous, RegistryClient } from "../../base/registry/index.ts";
import { fixtures, run, runChecked, skopeoCopy, tempDir } from "../../testing/index.ts";
import { loadImageArchive, saveDockerArchive } from "./docker-archive.ts";
import { readOciLayout, saveOciArchive, writeOciLayout } from "./oci-layout.ts";
import { ImageStore } from "./store.ts";
import { packArchive } from "./tar.ts";

// Against real components: the harness's busybox fixture (its docker-archive, written by the test
// harness's own writer), its registry, and skopeo as an independent reader of what we write.

interface SkopeoInspect {
  readonly Digest: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
  readonly LayersData?: readonly { readonly Digest: string; readonly Size: number }[];
}

async function skopeoInspect(target: string): Promise<SkopeoInspect> {
  const r = await runChecked("skopeo", ["--insecure-policy", "inspect", "--tls-verify=false", target], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as SkopeoInspect;
}

async function skopeoConfig(target: string): Promise<{ rootfs: { diff_ids: string[] } }> {
  const r = await runChecked("skopeo", ["--insecure-policy", "inspect", "--config", "--tls-verify=false", target], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as { rootfs: { diff_ids: string[] } };
}

describe("image store against real tools", () => {
  it("loads the busybox fixture's docker-archive, saves it, and skopeo reads what we wrote", async () => {
    const { busybox } = fixtures();
    const dir = await tempDir("images-busybox");
    const store = await ImageStore.openAt(join(dir, "root"));
    const loaded = await loadImageArchive(store, createReadStream(busybox.dockerArchive));
    expect(loaded.images.map((i) => i.id)).toEqual([busybox.configDigest]);
    expect(loaded.messages.length).toBeGreaterThan(0);
    const name = loaded.images[0]?.names[0] ?? busybox.configDigest;
    const inspect = await store.inspect(name);
    expect(inspect.RootFS.Layers).toEqual([busybox.diffId]);
    // busybox: the static binary plus hard links (size 0): Docker's size is the file content.
    expect(inspect.Size).toBeGreaterThan(500_000);
    expect(inspect.Size).toBeLessThan(4_000_000);

    await store.tag(name, "hatake-test/busybox:saved");
    const tarPath = join(dir, "saved.tar");
    await pipeline(await saveDockerArchive(store, ["hatake-test/busybox:saved"]), createWriteStream(tarPath));
    const viaArchive = await skopeoInspect(`docker-archive:${tarPath}`);
    expect(viaArchive.RepoTags).toEqual([]);
    expect((await skopeoConfig(`docker-archive:${tarPath}`)).rootfs.diff_ids).toEqual([busybox.diffId]);
    // The same tar read as an OCI layout (Docker 25+ archives are both).
    const tarDir = join(dir, "untarred");
    await runChecked("mkdir", ["-p", tarDir]);
    await runChecked("tar", ["-xf", tarPath, "-C", tarDir]);
    const viaLayout = await skopeoInspect(`oci:${tarDir}:saved`);
    expect(viaLayout.Layers).toEqual([busybox.diffId]);

    // Load into a fresh store: same ID, same manifest digest as the archive's index.json.
    const again = await ImageStore.openAt(join(dir, "root2"));
    const r = await loadImageArchive(again, createReadStream(tarPath));
    expect(r.messages).toEqual(["Loaded image: hatake-test/busybox:saved"]);
    const index = JSON.parse(await readFile(join(tarDir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(again.get(busybox.configDigest)?.manifests[0]?.descriptor.digest).toBe(index.manifests[0]?.digest);
  });

  it("pulls from the registry, writes an OCI layout skopeo copies, and reads skopeo's layout back", async () => {
    const { busybox } = fixtures();
    const dir = await tempDir("images-pull");
    const store = await ImageStore.openAt(join(dir, "root"));
    const client = new RegistryClient({ credentials: anonymous, certsDir: "/nonexistent", proxy: {} });
    try {
      const pull = await client.pull(busybox.reference, { store: store.content });
      const added = await store.addPull(pull);
      expect(added.image.id).toBe(busybox.configDigest);
      const [summary] = store.list();
      expect(summary?.RepoDigests).toEqual([`${busybox.reference.replace(/:latest$/, "")}@${busybox.manifestDigest}`]);
      expect(summary?.RepoTags).toEqual([busybox.reference]);
    } finally {
      await client.close();
    }
    const layout = join(dir, "layout");
    await writeOciLayout(store, layout, [{ image: busybox.reference, refName: "pulled" }]);
    const copied = join(dir, "copied");
    await skopeoCopy(`oci:${layout}:pulled`, `dir:${copied}`);
    expect((await readdir(copied)).sort()).toContain(busybox.layerDigest.slice(7));
    expect(await readFile(join(copied, "manifest.json"))).toEqual(await readFile(join(layout, "blobs", "sha256", busybox.manifestDigest.slice(7))));

    // The other direction: a layout skopeo wrote, read into a fresh store.
    const fromSkopeo = join(dir, "from-skopeo");
    await skopeoCopy(`docker://${busybox.reference}`, `oci:${fromSkopeo}:v1`);
    const other = await ImageStore.openAt(join(dir, "root2"));
    const read = await readOciLayout(other, fromSkopeo, { refName: "v1", names: ["hatake-test/from-skopeo:v1"] });
    expect(read).toEqual([{ id: busybox.configDigest, names: ["hatake-test/from-skopeo:v1"] }]);

    // And as an oci-archive tar.
    const ociTar = join(dir, "oci.tar");
    await pipeline(await saveOciArchive(store, [{ image: busybox.reference, refName: "tar" }]), createWriteStream(ociTar));
    const viaOciArchive = await skopeoInspect(`oci-archive:${ociTar}:tar`);
    expect(viaOciArchive.Digest).toBe(busybox.manifestDigest);
  });

  it("loads the docker-archive and oci-archive that skopeo writes", async () => {
    const { busybox } = fixtures();
    const dir = await tempDir("images-skopeo-archives");
    await skopeoCopy(`docker://${busybox.reference}`, `docker-archive:${join(dir, "sk.tar")}:hatake-test/sk:1`, { preserveDigests: false });
    await skopeoCopy(`docker://${busybox.reference}`, `oci-archive:${join(dir, "sk-oci.tar")}:v1`);
    const store = await ImageStore.openAt(join(dir, "root"));
    const fromDockerArchive = await loadImageArchive(store, createReadStream(join(dir, "sk.tar")));
    expect(fromDockerArchive.messages).toEqual(["Loaded image: hatake-test/sk:1"]);
    expect(fromDockerArchive.images[0]?.id).toBe(busybox.configDigest);
    const fromOciArchive = await loadImageArchive(store, createReadStream(join(dir, "sk-oci.tar")));
    expect(fromOciArchive.messages).toEqual([`Loaded image ID: ${busybox.configDigest}`]);
    // Two manifests of one image now: the uncompressed one of the docker-archive, the registry's.
    expect(store.get(busybox.configDigest)?.manifests.map((m) => m.descriptor.digest)).toContain(busybox.manifestDigest);
  });

  it("saves and loads a 160 MiB layer in bounded memory", async () => {
    const dir = await tempDir("images-big");
    const store = await ImageStore.openAt(join(dir, "a"));
    const size = 160 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const layerTar = packArchive([
      { type: "file", path: "big", size, open: async () => (async function* () { for (let i = 0; i < size / chunk.length; i++) yield chunk; })() },
    ]);
    const hash = createHash("sha256");
    const layer = await store.content.put((async function* () { for await (const c of layerTar) { hash.update(c as Buffer); yield c as Buffer; } })());
    const config = await store.content.put(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${hash.digest("hex")}`] } })));
    const manifest = await store.content.put(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { mediaType: MediaTypes.ociConfig, ...config }, layers: [{ mediaType: MediaTypes.ociLayer, ...layer }] })),
    );
    await store.add({ manifest: { mediaType: MediaTypes.ociManifest, ...manifest }, names: ["big:1"] });
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const before = process.memoryUsage().rss;
    try {
      const tar = join(dir, "big.tar");
      await pipeline(await saveDockerArchive(store, ["big:1"]), createWriteStream(tar));
      const other = await ImageStore.openAt(join(dir, "b"));
      await loadImageArchive(other, createReadStream(tar));
      expect((await other.inspect("big:1")).Size).toBe(size);
    } finally {
      clearInterval(timer);
    }
    // Streaming keeps the growth far below the layer's size (an unbounded reader adds ~160 MiB).
    expect((peak - before) / 2 ** 20).toBeLessThan(96);
  });

  it("refuses the fixture archive cut short, leaving the store empty", async () => {
    const { busybox } = fixtures();
    const dir = await tempDir("images-truncated");
    const store = await ImageStore.openAt(join(dir, "root"));
    const bytes = await readFile(busybox.dockerArchive);
    const err = await loadImageArchive(store, Readable.from([bytes.subarray(0, Math.floor(bytes.length / 2))])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(/HTK-ENGINE-0211/);
    expect(store.list()).toEqual([]);
    const blobs = await run("find", [join(dir, "root", "content", "blobs"), "-type", "f"]);
    expect(blobs.stdout.trim()).toBe("");
  });
});
