import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { link, mkdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../testing/index.ts";
import { applyLayer } from "./apply-layer.ts";
import { compressGzip, diffDirectories, diffOverlayUpper, type LayerStream } from "./diff.ts";
import { readTar } from "./tar.ts";
import { attrTools, chunked, collect, describeTree, needsAttr } from "./test-support.ts";

const signal = new AbortController().signal;

async function bytesOf(layer: LayerStream): Promise<{ tar: Buffer; digest: string; size: number }> {
  const tar = await collect(layer.stream);
  const { digest, size } = await layer.done;
  return { tar, digest, size };
}

async function listing(tar: Buffer): Promise<string[]> {
  const out: string[] = [];
  for await (const { header } of readTar(chunked(tar))) {
    const extra = header.type === "hardlink" || header.type === "symlink" ? ` -> ${header.linkname}` : "";
    const xattrs = [...header.xattrs.keys()].sort().join(",");
    out.push(`${header.name} ${header.type} ${header.mode.toString(8)} ${header.uid}:${header.gid} ${header.size}${extra}${xattrs === "" ? "" : ` [${xattrs}]`}`);
  }
  return out;
}

async function mtimes(tar: Buffer): Promise<number[]> {
  const out: number[] = [];
  for await (const { header } of readTar(chunked(tar))) out.push(header.mtime);
  return out;
}

/** A directory as overlayfs leaves its upper dir: files, a 0/0 whiteout, an opaque directory. */
async function overlayUpper(): Promise<string> {
  const upper = await tempDir("upper");
  await mkdir(`${upper}/etc`);
  await writeFile(`${upper}/etc/hostname`, "box\n");
  execFileSync("mknod", [`${upper}/etc/gone`, "c", "0", "0"]);
  await mkdir(`${upper}/var/cache`, { recursive: true });
  execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", `${upper}/var/cache`]);
  execFileSync("setfattr", ["-n", "trusted.overlay.origin", "-v", "0x00", `${upper}/etc`]);
  await writeFile(`${upper}/var/cache/new`, "n");
  await writeFile(`${upper}/bin-a`, "same inode");
  await link(`${upper}/bin-a`, `${upper}/bin-b`);
  await symlink("/etc/hostname", `${upper}/link`);
  execFileSync("setfattr", ["-n", "user.kept", "-v", "1", `${upper}/etc/hostname`]);
  return upper;
}

describe.skipIf(!attrTools)(needsAttr("diffOverlayUpper"), () => {
  it("turns overlay whiteouts into .wh. entries and opaque directories into .wh..wh..opq", async () => {
    const upper = await overlayUpper();
    const { tar, digest, size } = await bytesOf(diffOverlayUpper(upper, { signal }));
    expect(digest).toBe(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    expect(size).toBe(tar.length);
    expect(await listing(tar)).toEqual([
      "bin-a file 644 0:0 10",
      "bin-b hardlink 644 0:0 0 -> bin-a",
      "etc/ directory 755 0:0 0",
      "etc/.wh.gone file 0 0:0 0",
      "etc/hostname file 644 0:0 4 [user.kept]",
      "link symlink 777 0:0 0 -> /etc/hostname",
      "var/ directory 755 0:0 0",
      "var/cache/ directory 755 0:0 0",
      "var/cache/.wh..wh..opq file 0 0:0 0",
      "var/cache/new file 644 0:0 1",
    ]);
  });

  it("writes PAX headers only when USTAR cannot hold a field", async () => {
    const dir = await tempDir("pax");
    await writeFile(`${dir}/short`, "s");
    const plain = await collect(diffOverlayUpper(dir, { signal }).stream);
    // Typeflag "x" sits at offset 156 of a header block: none in a plain tree.
    for (let off = 0; off < plain.length; off += 512) expect(plain[off + 156]).not.toBe(0x78);
    const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
    await mkdir(`${dir}/${"d".repeat(120)}`);
    await writeFile(`${dir}/${long}`, "l");
    const names = (await listing(await collect(diffOverlayUpper(dir, { signal }).stream))).map((l) => l.split(" ")[0]);
    expect(names).toContain(long);
    expect(plain[156]).toBe(0x30);
  });

  it("is deterministic: the same tree gives the same bytes, wherever it lies", async () => {
    const a = await overlayUpper();
    const first = await bytesOf(diffOverlayUpper(a, { signal }));
    const again = await bytesOf(diffOverlayUpper(a, { signal }));
    expect(again.digest).toBe(first.digest);
    const b = await tempDir("copy");
    execFileSync("cp", ["-a", `${a}/.`, b]);
    expect((await bytesOf(diffOverlayUpper(b, { signal }))).digest).toBe(first.digest);
  });

  it("clamps times to SOURCE_DATE_EPOCH, so trees that differ only in recent times give one digest", async () => {
    const epoch = 1_700_000_000;
    const make = async (when: number): Promise<string> => {
      const d = await tempDir("sde");
      await mkdir(`${d}/app`);
      await writeFile(`${d}/app/main.js`, "console.log(1)\n");
      await writeFile(`${d}/old`, "base");
      await utimes(`${d}/old`, 1_000_000_000, 1_000_000_000);
      await utimes(`${d}/app/main.js`, when, when);
      await utimes(`${d}/app`, when, when);
      return d;
    };
    const x = await bytesOf(diffOverlayUpper(await make(1_750_000_000), { signal, sourceDateEpoch: epoch }));
    const y = await bytesOf(diffOverlayUpper(await make(1_760_000_000), { signal, sourceDateEpoch: epoch }));
    expect(y.digest).toBe(x.digest);
    expect(await mtimes(x.tar)).toEqual([epoch, epoch, 1_000_000_000]);
    const unclamped = await bytesOf(diffOverlayUpper(await make(1_750_000_000), { signal }));
    expect(unclamped.digest).not.toBe(x.digest);
  });

  it("stops when cancelled and reports it through done", async () => {
    const upper = await overlayUpper();
    const ac = new AbortController();
    ac.abort();
    const layer = diffOverlayUpper(upper, { signal: ac.signal });
    await expect(collect(layer.stream)).rejects.toThrow();
    await expect(layer.done).rejects.toThrow();
  });
});

describe("diffDirectories", () => {
  it("writes what changed, the directories above it, and whiteouts for what went away", async () => {
    const lower = await tempDir("lower");
    await mkdir(`${lower}/etc/conf.d`, { recursive: true });
    await writeFile(`${lower}/etc/conf.d/a`, "a");
    await writeFile(`${lower}/etc/conf.d/b`, "b");
    await writeFile(`${lower}/etc/motd`, "hi");
    await mkdir(`${lower}/tmp/dir`, { recursive: true });
    await writeFile(`${lower}/tmp/dir/x`, "x");
    await mkdir(`${lower}/same`);
    await writeFile(`${lower}/same/file`, "unchanged");
    const upper = await tempDir("upper2");
    execFileSync("cp", ["-a", `${lower}/.`, upper]);
    await writeFile(`${upper}/etc/conf.d/a`, "changed");
    await rm(`${upper}/etc/conf.d/b`);
    await rm(`${upper}/tmp/dir`, { recursive: true });
    await writeFile(`${upper}/new`, "new");
    const { tar } = await bytesOf(diffDirectories(lower, upper, { signal }));
    const lines = await listing(tar);
    expect(lines.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual([
      "etc/ directory",
      "etc/conf.d/ directory",
      "etc/conf.d/.wh.b file",
      "etc/conf.d/a file",
      "new file",
      "tmp/ directory",
      "tmp/.wh.dir file",
    ]);
    // Applied onto a copy of the lower tree, the diff gives the upper tree.
    const check = await tempDir("check");
    execFileSync("cp", ["-a", `${lower}/.`, check]);
    await applyLayer(check, chunked(tar), { signal, whiteouts: "delete" });
    expect(await describeTree(check)).toEqual(await describeTree(upper));
  });

  it.skipIf(!attrTools)(needsAttr("from scratch (no lower) archives the whole tree"), async () => {
    const upper = await overlayUpper();
    await rm(`${upper}/etc/gone`);
    const { tar } = await bytesOf(diffDirectories(undefined, upper, { signal }));
    const lines = await listing(tar);
    // Everything but overlay bookkeeping: no whiteouts, no opaque marker, no trusted.overlay.* attributes.
    expect(lines.length).toBe(8);
    expect(lines.filter((l) => l.includes(".wh.") || l.includes("trusted.overlay"))).toEqual([]);
  });
});

describe.skipIf(!attrTools)(needsAttr("compressGzip"), () => {
  it("streams a gzip blob whose digest is of the compressed bytes and which gunzips to the tar", async () => {
    const upper = await overlayUpper();
    const layer = await bytesOf(diffOverlayUpper(upper, { signal }));
    const gz = await bytesOf(compressGzip(chunked(layer.tar), { signal }));
    expect(gz.digest).toBe(`sha256:${createHash("sha256").update(gz.tar).digest("hex")}`);
    expect(gunzipSync(gz.tar).equals(layer.tar)).toBe(true);
    const again = await bytesOf(compressGzip(chunked(layer.tar), { signal }));
    expect(again.digest).toBe(gz.digest);
  });
});
