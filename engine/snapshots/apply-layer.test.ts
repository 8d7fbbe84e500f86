import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { ensureBusyboxImage } from "../../testing/busybox-image.ts";
import { fixtureCacheDir, tempDir } from "../../testing/index.ts";
import { applyLayer, type WhiteoutMode } from "./apply-layer.ts";
import { attrTools, chunked, craftTar, describeTree, type CraftedEntry, needsAttr } from "./test-support.ts";

const signal = new AbortController().signal;

async function apply(dest: string, entries: readonly CraftedEntry[], whiteouts: WhiteoutMode = "delete"): Promise<void> {
  await applyLayer(dest, chunked(await craftTar(entries)), { signal, whiteouts });
}

async function refusal(promise: Promise<unknown>): Promise<{ id: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal");
}

function xattr(path: string, name: string): string | undefined {
  try {
    return execFileSync("getfattr", ["-h", "--only-values", "-n", name, path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

describe("applyLayer", () => {
  it.skipIf(!attrTools)(needsAttr("unpacks files, directories, links, devices, owners, modes and times; diff_id is the tar's sha256"), async () => {
    const dir = await tempDir("apply");
    const tar = await craftTar([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "./bin/", type: "directory", mode: 0o755 },
      { name: "./bin/tool", content: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0, mtime: new Date(1_600_000_000_000) },
      { name: "./bin/alias", type: "link", linkname: "bin/tool" },
      { name: "./bin/sh", type: "symlink", linkname: "/bin/tool" },
      { name: "./dev/", type: "directory" },
      { name: "./dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "./dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
      { name: "./run/pipe", type: "fifo", mode: 0o600, uid: 1000, gid: 1000 },
      { name: "./home/user/", type: "directory", mode: 0o750, uid: 1000, gid: 1000, mtime: new Date(1_500_000_000_000) },
      { name: "./home/user/file", content: "hello", uid: 1000, gid: 1000, pax: { "SCHILY.xattr.user.note": "kept" } },
    ]);
    const result = await applyLayer(dir, chunked(tar), { signal, whiteouts: "delete" });
    expect(result.diffId).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    expect(result.size).toBe(tar.length);
    expect(result.entries).toBe(11);
    expect(await describeTree(dir)).toEqual([
      "bin dir 755 0:0",
      'bin/alias file 4755 0:0 x2 "#!/bin/sh\\n"',
      "bin/sh symlink 0:0 -> /bin/tool",
      'bin/tool file 4755 0:0 x2 "#!/bin/sh\\n"',
      "dev dir 755 0:0",
      "dev/loop0 blockdev 660 0:6 1792",
      "dev/null chardev 666 0:0 259",
      "home dir 755 0:0",
      "home/user dir 750 1000:1000",
      'home/user/file file 644 1000:1000 "hello"',
      "run dir 755 0:0",
      "run/pipe fifo 600 1000:1000",
    ]);
    expect((await lstat(`${dir}/bin/tool`)).ino).toBe((await lstat(`${dir}/bin/alias`)).ino);
    expect((await stat(`${dir}/bin/tool`)).mtimeMs).toBe(1_600_000_000_000);
    // Directory times are set after their contents, so they survive.
    expect((await stat(`${dir}/home/user`)).mtimeMs).toBe(1_500_000_000_000);
    expect(xattr(`${dir}/home/user/file`, "user.note")).toBe("kept");
  });

  it("unpacks like GNU tar: the busybox layer, and 3,000 small files written in the background with links to them", async () => {
    const busybox = await ensureBusyboxImage(fixtureCacheDir());
    const entries: CraftedEntry[] = [];
    for (let i = 0; i < 3000; i++) {
      entries.push({ name: `d${i % 7}/f${i}`, content: `file ${i}`.repeat(i % 50), mode: i % 3 === 0 ? 0o755 : 0o640, uid: i % 5, gid: i % 4 });
      if (i % 10 === 0) entries.push({ name: `links/l${i}`, type: "link", linkname: `d${i % 7}/f${i}` });
      // The same path twice: the second must win, after the first has landed.
      if (i % 500 === 0) entries.push({ name: `d${i % 7}/f${i}`, content: "rewritten" });
    }
    for (const [label, data] of [
      ["busybox", await readFile(busybox.layerPath)],
      ["generated", await craftTar(entries)],
    ] as const) {
      const ours = await tempDir(`ours-${label}`);
      const gnu = await tempDir(`gnu-${label}`);
      await applyLayer(ours, chunked(data, 64 * 1024), { signal, whiteouts: "delete" });
      execFileSync("tar", ["-x", "--numeric-owner", "-C", gnu, "-f", "-"], { input: label === "busybox" ? gunzipSync(data) : data, maxBuffer: 1 << 26 });
      expect(await describeTree(ours), label).toEqual(await describeTree(gnu));
    }
    // ~7,000 files written twice and walked twice: seconds on a quiet machine, far longer on a loaded one
    // (a time limit, not a measurement: speed lives in bench/).
  }, 120_000);

  it("accepts gzip layers and checks the expected diff_id", async () => {
    const dir = await tempDir("apply-gz");
    const tar = await craftTar([{ name: "a", content: "x" }]);
    const diffId = `sha256:${createHash("sha256").update(tar).digest("hex")}` as const;
    const r = await applyLayer(dir, chunked(gzipSync(tar)), { signal, whiteouts: "delete", expectedDiffId: diffId });
    expect(r.diffId).toBe(diffId);
    expect(await readFile(`${dir}/a`, "utf8")).toBe("x");
    const wrong = await refusal(
      applyLayer(await tempDir("apply-gz2"), chunked(gzipSync(tar)), { signal, whiteouts: "delete", expectedDiffId: `sha256:${"0".repeat(64)}` }),
    );
    expect(wrong.id).toBe("HTK-RUNTIME-0201");
    expect(wrong.message).toContain("not to its diff_id");
  });

  it("decodes zstd layers with the zstd program, and refuses them with HTK-RUNTIME-0204 without one", async () => {
    const tar = await craftTar([{ name: "z", content: "zstd" }]);
    const noDecoder = await refusal(applyLayer(await tempDir("zstd"), chunked(tar), { signal, whiteouts: "delete", layer: "sha256:abc", compression: "zstd", zstdProgram: null }));
    expect(noDecoder.id).toBe("HTK-RUNTIME-0204");
    expect(noDecoder.message).toContain("zstd");
    const zstd = spawnSync("zstd", ["-q", "-c"], { input: tar });
    if (zstd.status !== 0) return; // the zstd program is not installed here: the refusal above is what runs
    const dir = await tempDir("zstd-ok");
    const r = await applyLayer(dir, chunked(zstd.stdout), { signal, whiteouts: "delete" });
    expect(await readFile(`${dir}/z`, "utf8")).toBe("zstd");
    expect(r.diffId).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    const corrupt = Buffer.from(zstd.stdout);
    corrupt.fill(0x55, 12, corrupt.length - 4);
    const bad = await refusal(applyLayer(await tempDir("zstd-bad"), chunked(corrupt), { signal, whiteouts: "delete" }));
    expect(bad.id).toBe("HTK-RUNTIME-0201");
  });

  it("rejects a truncated tar and corrupt gzip with HTK-RUNTIME-0201", async () => {
    const tar = await craftTar([{ name: "big", content: Buffer.alloc(10_000, 7) }]);
    const cut = await refusal(applyLayer(await tempDir("trunc"), chunked(tar.subarray(0, 5_000)), { signal, whiteouts: "delete" }));
    expect(cut.id).toBe("HTK-RUNTIME-0201");
    expect(cut.message).toContain("ends");
    const noEnd = await refusal(applyLayer(await tempDir("trunc2"), chunked(tar.subarray(0, 512 + 10_240)), { signal, whiteouts: "delete" }));
    expect(noEnd.id).toBe("HTK-RUNTIME-0201");
    const gz = gzipSync(tar);
    const badGzip = await refusal(applyLayer(await tempDir("trunc3"), chunked(gz.subarray(0, gz.length - 12)), { signal, whiteouts: "delete" }));
    expect(badGzip.id).toBe("HTK-RUNTIME-0201");
    const garbage = await refusal(applyLayer(await tempDir("trunc4"), chunked(Buffer.alloc(1024, 65)), { signal, whiteouts: "delete" }));
    expect(garbage.id).toBe("HTK-RUNTIME-0201");
  });

  it("releases its source (file handle, socket) as soon as it refuses a layer", async () => {
    const tar = await craftTar([{ name: "/abs", content: "x" }, { name: "b", content: Buffer.alloc(100_000) }]);
    for (const data of [tar, gzipSync(tar)]) {
      let closed = false;
      async function* source(): AsyncGenerator<Uint8Array> {
        try {
          for (let i = 0; i < data.length; i += 512) yield data.subarray(i, i + 512);
        } finally {
          closed = true;
        }
      }
      expect((await refusal(applyLayer(await tempDir("release"), source(), { signal, whiteouts: "delete" }))).id).toBe("HTK-RUNTIME-0200");
      expect(closed).toBe(true);
    }
  });

  it("stops when cancelled", async () => {
    const ac = new AbortController();
    const tar = await craftTar([{ name: "a", content: Buffer.alloc(100_000) }]);
    ac.abort();
    await expect(applyLayer(await tempDir("abort"), chunked(tar), { signal: ac.signal, whiteouts: "delete" })).rejects.toThrow();
  });

  describe("path safety (HTK-RUNTIME-0200)", () => {
    it("refuses absolute names and names that climb out with ..", async () => {
      const dir = await tempDir("unsafe");
      const abs = await refusal(apply(dir, [{ name: "/etc/passwd", content: "x" }]));
      expect(abs.id).toBe("HTK-RUNTIME-0200");
      expect(abs.message).toContain("absolute");
      const up = await refusal(apply(dir, [{ name: "a/../../escape", content: "x" }]));
      expect(up.id).toBe("HTK-RUNTIME-0200");
      expect(up.message).toContain("..");
      const link = await refusal(apply(dir, [{ name: "l", type: "link", linkname: "../../etc/passwd" }]));
      expect(link.id).toBe("HTK-RUNTIME-0200");
      const wh = await refusal(apply(dir, [{ name: "../.wh.etc" }]));
      expect(wh.id).toBe("HTK-RUNTIME-0200");
    });

    it("never writes through a symbolic link, in the layer or already on disk", async () => {
      const outside = await tempDir("outside");
      const dir = await tempDir("unsafe-link");
      const viaLayer = await refusal(
        apply(dir, [
          { name: "evil", type: "symlink", linkname: outside },
          { name: "evil/pwned", content: "x" },
        ]),
      );
      expect(viaLayer.id).toBe("HTK-RUNTIME-0200");
      expect(viaLayer.message).toContain('symbolic link "evil"');
      expect(await readdir(outside)).toEqual([]);

      const dir2 = await tempDir("unsafe-link2");
      await symlink(outside, `${dir2}/lib`);
      const onDisk = await refusal(apply(dir2, [{ name: "lib/x", content: "x" }]));
      expect(onDisk.id).toBe("HTK-RUNTIME-0200");
      // A hard link through a symlinked parent would link a host file into the layer.
      await writeFile(`${outside}/secret`, "s");
      const hard = await refusal(apply(dir2, [{ name: "copy", type: "link", linkname: "lib/secret" }]));
      expect(hard.id).toBe("HTK-RUNTIME-0200");
      // A whiteout through a link must not delete outside either.
      const wh = await refusal(apply(dir2, [{ name: "lib/.wh.secret" }]));
      expect(wh.id).toBe("HTK-RUNTIME-0200");
      expect(await readFile(`${outside}/secret`, "utf8")).toBe("s");
    });

    it("drops deferred work below a directory that a later entry replaces by a symbolic link", async () => {
      const outside = await tempDir("outside3");
      await writeFile(`${outside}/f`, "host");
      const dir = await tempDir("replace-dir");
      await apply(
        dir,
        [
          { name: "a/", type: "directory", mtime: new Date(0) },
          { name: "a/sub/", type: "directory", mtime: new Date(0) },
          { name: "a/null", type: "character-device", devmajor: 1, devminor: 3 },
          { name: "a/f", content: "x", pax: { "SCHILY.xattr.user.evil": "1" } },
          { name: "a", type: "symlink", linkname: outside },
        ],
        "overlay",
      );
      expect((await lstat(`${dir}/a`)).isSymbolicLink()).toBe(true);
      expect((await readdir(outside)).sort()).toEqual(["f"]);
      expect(xattr(`${outside}/f`, "user.evil")).toBeUndefined();
      expect((await stat(outside)).mtimeMs).not.toBe(0);
    });

    it("lets a later entry replace a device or whiteout still to be made at the same path", async () => {
      const dir = await tempDir("replace-node");
      await apply(
        dir,
        [
          { name: "dev/", type: "directory" },
          { name: "dev/x", type: "character-device", devmajor: 1, devminor: 3 },
          { name: "dev/.wh.y" },
          { name: "dev/x", type: "symlink", linkname: "/somewhere" },
          { name: "dev/y", content: "y" },
        ],
        "overlay",
      );
      expect(await describeTree(dir)).toEqual(["dev dir 755 0:0", "dev/x symlink 0:0 -> /somewhere", 'dev/y file 644 0:0 "y"']);
    });

    it("replaces a symbolic link by a file instead of writing to its target", async () => {
      const outside = await tempDir("outside2");
      await writeFile(`${outside}/target`, "host");
      const dir = await tempDir("replace-link");
      await symlink(`${outside}/target`, `${dir}/f`);
      await apply(dir, [{ name: "f", content: "layer" }]);
      expect(await readFile(`${outside}/target`, "utf8")).toBe("host");
      expect(await readFile(`${dir}/f`, "utf8")).toBe("layer");
      expect((await lstat(`${dir}/f`)).isFile()).toBe(true);
    });
  });

  describe("whiteouts onto a merged tree (copy fallback)", () => {
    it("deletes whited-out paths and empties opaque directories except for this layer's own entries", async () => {
      const dir = await tempDir("wh-delete");
      await apply(dir, [
        { name: "etc/", type: "directory" },
        { name: "etc/keep", content: "k" },
        { name: "etc/gone", content: "g" },
        { name: "var/lib/", type: "directory" },
        { name: "var/lib/old/a", content: "a" },
        { name: "var/lib/oldfile", content: "o" },
        { name: "tree/sub/x", content: "x" },
      ]);
      await apply(dir, [
        { name: "etc/.wh.gone" },
        { name: "tree/.wh.sub" },
        // Sorted as BuildKit writes it: "new" comes after the marker, "+early" before it.
        { name: "var/lib/+early", content: "e" },
        { name: "var/lib/.wh..wh..opq" },
        { name: "var/lib/new", content: "n" },
        { name: ".wh..wh.plnk" },
      ]);
      expect(await describeTree(dir)).toEqual([
        "etc dir 755 0:0",
        'etc/keep file 644 0:0 "k"',
        "tree dir 755 0:0",
        "var dir 755 0:0",
        "var/lib dir 755 0:0",
        'var/lib/+early file 644 0:0 "e"',
        'var/lib/new file 644 0:0 "n"',
      ]);
    });
  });

  describe("whiteouts into an overlay lower directory", () => {
    it.skipIf(!attrTools)(needsAttr("turns .wh.<name> into a 0/0 character device and .wh..wh..opq into trusted.overlay.opaque=y"), async () => {
      const dir = await tempDir("wh-overlay");
      await apply(
        dir,
        [
          { name: "etc/", type: "directory" },
          { name: "etc/.wh.gone" },
          { name: "var/lib/", type: "directory" },
          { name: "var/lib/.wh..wh..opq" },
          { name: "var/lib/new", content: "n" },
          { name: "fresh/.wh..wh..opq" },
          // A layer must not forge overlay attributes.
          { name: "sneaky", type: "directory", pax: { "SCHILY.xattr.trusted.overlay.opaque": "y" } },
        ],
        "overlay",
      );
      const gone = await lstat(`${dir}/etc/gone`);
      expect(gone.isCharacterDevice()).toBe(true);
      expect(gone.rdev).toBe(0);
      expect(xattr(`${dir}/var/lib`, "trusted.overlay.opaque")).toBe("y");
      expect(xattr(`${dir}/fresh`, "trusted.overlay.opaque")).toBe("y");
      expect(xattr(`${dir}/sneaky`, "trusted.overlay.opaque")).toBeUndefined();
      expect(xattr(`${dir}/etc`, "trusted.overlay.opaque")).toBeUndefined();
      expect(await readFile(`${dir}/var/lib/new`, "utf8")).toBe("n");
      expect((await readdir(`${dir}/var/lib`)).sort()).toEqual(["new"]);
    });
  });

  it.skipIf(!attrTools)(needsAttr("keeps binary extended attributes exactly (security.capability, PAX SCHILY.xattr)"), async () => {
    const dir = await tempDir("xattr-bin");
    // cap_net_raw+ep as Go writes it: 20 bytes of binary in the PAX record.
    const cap = Buffer.from("0100000200200000000000000000000000000000", "hex");
    const { encodeTarHeader, tarEnd, tarPadding } = await import("./tar.ts");
    const tar = Buffer.concat([
      encodeTarHeader({ name: "ping", type: "file", mode: 0o755, uid: 0, gid: 0, size: 2, mtime: 0, xattrs: new Map([["security.capability", cap]]) }),
      Buffer.from("hi"),
      tarPadding(2),
      tarEnd(),
    ]);
    await applyLayer(dir, chunked(tar), { signal, whiteouts: "overlay" });
    const hex = execFileSync("getfattr", ["-h", "-e", "hex", "-n", "security.capability", `${dir}/ping`], { encoding: "utf8" });
    expect(hex).toContain(`security.capability=0x${cap.toString("hex")}`);
    await mkdir(`${dir}/unused`);
    expect(await readlink(`${dir}/ping`).catch(() => "not a link")).toBe("not a link");
  });
});
