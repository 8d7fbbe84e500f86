import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, link, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { afterEach, describe, expect, it } from "vitest";
import {
  assembleImage,
  chainIds,
  packTar,
  readOciLayout,
  sha256Digest,
  sortTarEntries,
  splitRepoTag,
  tarEntriesFromDirectory,
  writeDockerArchive,
  writeLayer,
  writeOciLayout,
  REF_NAME_ANNOTATION,
  type TarEntry,
} from "./index.ts";

// These tests use plain mkdtemp (not the harness' tempDir) so that oci/ stays free of harness imports.
const dirs: string[] = [];
async function scratch(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "htk-oci-test-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function sampleEntries(): TarEntry[] {
  return [
    { type: "directory", path: "bin" },
    { type: "file", path: "bin/a", mode: 0o755, content: Buffer.from("#!/bin/sh\necho a\n") },
    { type: "hardlink", path: "bin/b", target: "bin/a" },
    { type: "symlink", path: "bin/c", target: "a" },
    { type: "directory", path: "tmp", mode: 0o1777 },
    { type: "file", path: "etc/passwd", content: Buffer.from("root:x:0:0:root:/root:/bin/sh\n") },
    { type: "directory", path: "etc" },
    { type: "file", path: `deep/${"x".repeat(120)}/file`, content: Buffer.from("long name") },
    { type: "directory", path: "deep" },
    { type: "directory", path: `deep/${"x".repeat(120)}` },
  ];
}

async function listTar(bytes: Buffer): Promise<tarStream.Header[]> {
  const out: tarStream.Header[] = [];
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      out.push(header);
      stream.on("end", () => next());
      stream.resume();
    });
    extract.on("finish", () => resolve());
    extract.on("error", reject);
  });
  extract.end(bytes);
  await done;
  return out;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("deterministic tar", () => {
  it("same entries give the same bytes, in any input order", async () => {
    const a = await collect(packTar(sampleEntries()));
    const b = await collect(packTar([...sampleEntries()].reverse()));
    expect(sha256Digest(a)).toBe(sha256Digest(b));
  });

  it("writes sorted entries with fixed owner and mtime, and keeps long names", async () => {
    const headers = await listTar(await collect(packTar(sampleEntries())));
    const names = headers.map((h) => h.name);
    expect(names).toEqual([...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(names).toContain(`deep/${"x".repeat(120)}/file`);
    for (const h of headers) {
      expect(h.mtime.getTime()).toBe(0);
      expect(h.uid).toBe(0);
      expect(h.gid).toBe(0);
    }
    const b = headers.find((h) => h.name === "bin/b");
    expect(b?.type).toBe("link");
    expect(b?.linkname).toBe("bin/a");
    expect(headers.find((h) => h.name === "tmp/")?.mode).toBe(0o1777);
  });

  it("refuses a hard link to a later entry, duplicates and '..'", () => {
    expect(() => sortTarEntries([{ type: "hardlink", path: "a", target: "b" }, { type: "file", path: "b", content: Buffer.alloc(0) }])).toThrow(
      /does not come before/,
    );
    expect(() => sortTarEntries([{ type: "directory", path: "a" }, { type: "directory", path: "./a/" }])).toThrow(/duplicate/);
    expect(() => sortTarEntries([{ type: "file", path: "../etc/passwd", content: Buffer.alloc(0) }])).toThrow(/\.\./);
  });

  it("fails the stream (not the process) when a streamed file has the wrong size", async () => {
    const dir = await scratch();
    await writeFile(join(dir, "f"), "12345");
    const stream = packTar([{ type: "file", path: "f", source: join(dir, "f"), size: 3 }]);
    await expect(collect(stream)).rejects.toThrow();
  });

  it("walks a directory in a stable order, turning extra links into hard links", async () => {
    const dir = await scratch();
    await mkdir(join(dir, "b"));
    await writeFile(join(dir, "b", "file"), "data");
    await link(join(dir, "b", "file"), join(dir, "a-link"));
    await symlink("b/file", join(dir, "sym"));
    const entries: TarEntry[] = [];
    for await (const e of tarEntriesFromDirectory(dir, { owner: { uid: 0, gid: 0 }, mtime: new Date(0) })) entries.push(e);
    expect(entries.map((e) => [e.path, e.type])).toEqual([
      ["a-link", "file"],
      ["b", "directory"],
      ["b/file", "hardlink"],
      ["sym", "symlink"],
    ]);
    const one = await collect(packTar(tarEntriesFromDirectory(dir, { owner: { uid: 0, gid: 0 }, mtime: new Date(0) })));
    const two = await collect(packTar(tarEntriesFromDirectory(dir, { owner: { uid: 0, gid: 0 }, mtime: new Date(0) })));
    expect(sha256Digest(one)).toBe(sha256Digest(two));
  });
});

describe("image writers", () => {
  it("the same layer entries give the same blob digest and diff ID", async () => {
    const dir = await scratch();
    const one = await writeLayer(sampleEntries(), join(dir, "one.tar.gz"));
    const two = await writeLayer(sampleEntries(), join(dir, "two.tar.gz"));
    expect(one.descriptor.digest).toBe(two.descriptor.digest);
    expect(one.diffId).toBe(two.diffId);
    const blob = await readFile(join(dir, "one.tar.gz"));
    expect(sha256Digest(blob)).toBe(one.descriptor.digest);
    const tar = await collect(Readable.from([blob]).pipe(createGunzip()));
    expect(sha256Digest(tar)).toBe(one.diffId);
    expect(tar.length).toBe(one.uncompressedSize);
  });

  it("writes an OCI layout that reads back byte for byte", async () => {
    const dir = await scratch();
    const layer = await writeLayer(sampleEntries(), join(dir, "layer.tar.gz"));
    const image = assembleImage({ architecture: "amd64", os: "linux", config: { Cmd: ["sh"] } }, [layer]);
    await writeOciLayout(join(dir, "oci"), [{ image, refName: "latest" }]);
    const index = JSON.parse(await readFile(join(dir, "oci", "index.json"), "utf8")) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    expect(index.manifests[0]?.annotations[REF_NAME_ANNOTATION]).toBe("latest");
    expect(JSON.parse(await readFile(join(dir, "oci", "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const back = await readOciLayout(join(dir, "oci"), "latest");
    expect(back.manifestDescriptor.digest).toBe(image.manifestDescriptor.digest);
    expect(back.config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(back.config.config?.Cmd).toEqual(["sh"]);
    expect(sha256Digest(await readFile(back.layers[0]?.path ?? ""))).toBe(layer.descriptor.digest);
    await expect(readOciLayout(join(dir, "oci"), "nope")).rejects.toThrow(/found 0/);
  });

  it("writes a docker-archive whose layer.tar hashes to the diff ID", async () => {
    const dir = await scratch();
    const layer = await writeLayer(sampleEntries(), join(dir, "layer.tar.gz"));
    const image = assembleImage({ architecture: "amd64", os: "linux" }, [layer]);
    await writeDockerArchive(join(dir, "image.tar"), image, ["busybox:latest"]);
    const files = new Map<string, Buffer>();
    const extract = tarStream.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on("entry", (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: unknown) => {
          chunks.push(c as Buffer);
        });
        stream.on("end", () => {
          files.set(header.name, Buffer.concat(chunks));
          next();
        });
      });
      extract.on("finish", () => resolve());
      extract.on("error", reject);
    });
    extract.end(await readFile(join(dir, "image.tar")));
    await done;
    const manifest = JSON.parse(files.get("manifest.json")?.toString() ?? "[]") as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    expect(manifest).toHaveLength(1);
    expect(manifest[0]?.RepoTags).toEqual(["busybox:latest"]);
    const config = files.get(manifest[0]?.Config ?? "");
    expect(config && sha256Digest(config)).toBe(image.manifest.config.digest);
    const layerTar = files.get(manifest[0]?.Layers[0] ?? "");
    expect(layerTar && sha256Digest(layerTar)).toBe(layer.diffId);
    const repositories = JSON.parse(files.get("repositories")?.toString() ?? "{}") as Record<string, Record<string, string>>;
    expect(repositories["busybox"]?.["latest"]).toBe(layer.diffId.slice(7));
  });

  it("computes chain IDs and splits repo tags", () => {
    const d1 = sha256Digest("one");
    const d2 = sha256Digest("two");
    const expected = `sha256:${createHash("sha256").update(`${d1} ${d2}`).digest("hex")}`;
    expect(chainIds([d1, d2])).toEqual([d1, expected]);
    expect(splitRepoTag("127.0.0.1:5000/busybox:1.36")).toEqual({ repository: "127.0.0.1:5000/busybox", tag: "1.36" });
    expect(splitRepoTag("127.0.0.1:5000/busybox")).toEqual({ repository: "127.0.0.1:5000/busybox", tag: "latest" });
  });
});
