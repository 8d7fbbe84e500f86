import { execFileSync } from "node:child_process";
import { chown, mkdir, symlink, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../testing/index.ts";
import { encodeTarHeader, readTar, tarEnd, TarFormatError, tarPadding, TarTruncatedError, type TarHeader } from "./tar.ts";
import { attrTools, chunked, collect, needsAttr } from "./test-support.ts";

async function headers(tar: Buffer, chunk = 100): Promise<Array<TarHeader & { content: string }>> {
  const out: Array<TarHeader & { content: string }> = [];
  for await (const e of readTar(chunked(tar, chunk))) out.push({ ...e.header, content: (await collect(e.body)).toString("utf8") });
  return out;
}

describe("readTar", () => {
  it("reads GNU tar's long names, long link targets and base-256 ids", async () => {
    const dir = await tempDir("gnu");
    const long = `${"n".repeat(150)}/${"m".repeat(120)}`;
    await mkdir(`${dir}/src/${"n".repeat(150)}`, { recursive: true });
    await writeFile(`${dir}/src/${long}`, "long");
    await chown(`${dir}/src/${long}`, 3_000_000, 3_000_001);
    await symlink(`/target/${"t".repeat(200)}`, `${dir}/src/link`);
    const tar = execFileSync("tar", ["--format=gnu", "-C", `${dir}/src`, "-cf", "-", "."], { maxBuffer: 1 << 24 });
    const hs = await headers(tar);
    const file = hs.find((h) => h.name.endsWith("m".repeat(120)));
    expect(file?.name).toBe(`./${long}`);
    expect(file?.uid).toBe(3_000_000);
    expect(file?.gid).toBe(3_000_001);
    expect(file?.content).toBe("long");
    expect(hs.find((h) => h.type === "symlink")?.linkname).toBe(`/target/${"t".repeat(200)}`);
  });

  it.skipIf(!attrTools)(needsAttr("reads PAX records: path, sub-second mtime, binary xattrs, and global headers"), async () => {
    const dir = await tempDir("pax");
    await mkdir(`${dir}/src`);
    await writeFile(`${dir}/src/é-file`, "x");
    execFileSync("setfattr", ["-n", "user.bin", "-v", "0x00ff10", `${dir}/src/é-file`]);
    execFileSync("touch", ["-d", "@1700000000.5", `${dir}/src/é-file`]);
    const tar = execFileSync("tar", ["--format=pax", "--xattrs", "--xattrs-include=user.*", "-C", `${dir}/src`, "-cf", "-", "é-file"]);
    const [h] = await headers(tar, 1);
    expect(h?.name).toBe("é-file");
    expect(h?.mtime).toBe(1_700_000_000.5);
    expect(h?.xattrs.get("user.bin")?.toString("hex")).toBe("00ff10");
  });

  it("reports truncation and bad headers as their own errors", async () => {
    const body = Buffer.from("hello");
    const tar = Buffer.concat([encodeTarHeader({ name: "a", type: "file", mode: 0o644, uid: 0, gid: 0, size: 5, mtime: 0 }), body, tarPadding(5), tarEnd()]);
    await expect(headers(tar.subarray(0, 300))).rejects.toBeInstanceOf(TarTruncatedError);
    await expect(headers(tar.subarray(0, 515))).rejects.toBeInstanceOf(TarTruncatedError);
    await expect(headers(tar.subarray(0, 1024))).rejects.toBeInstanceOf(TarTruncatedError);
    const bad = Buffer.from(tar);
    bad[10] = 0x41;
    await expect(headers(bad)).rejects.toBeInstanceOf(TarFormatError);
    expect((await headers(tar.subarray(0, 1536))).map((h) => h.content)).toEqual(["hello"]);
  });

  it("reads image archives as Docker does with ReadTarOptions: optional end marker, unknown types skipped, no trailer read", async () => {
    const file = (name: string, text: string): Buffer[] => [
      encodeTarHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size: text.length, mtime: 0 }),
      Buffer.from(text),
      tarPadding(text.length),
    ];
    // A GNU volume header ('V') is no entry type this reader knows: re-flag a file header and fix its checksum.
    const volume = Buffer.concat(file("label", "vol"));
    volume[156] = "V".charCodeAt(0);
    volume.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += volume[i] ?? 0;
    volume.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const archive = Buffer.concat([...file("a", "one"), volume, ...file("b", "two")]);
    const names = async (src: AsyncIterable<Uint8Array>, opts: Parameters<typeof readTar>[1]): Promise<string[]> => {
      const out: string[] = [];
      for await (const e of readTar(src, opts)) out.push(`${e.header.name}=${(await collect(e.body)).toString("utf8")}`);
      return out;
    };
    // No end-of-archive blocks: a layer is truncated, an archive simply ends.
    await expect(names(chunked(archive, 7), { unknownTypes: "skip" })).rejects.toBeInstanceOf(TarTruncatedError);
    await expect(names(chunked(archive, 7), { endMarker: "optional" })).rejects.toBeInstanceOf(TarFormatError);
    expect(await names(chunked(archive, 7), { endMarker: "optional", unknownTypes: "skip" })).toEqual(["a=one", "b=two"]);
    // drainTrailer: false stops at the end marker; what follows is never pulled from the source.
    let pulledAfterEnd = false;
    async function* withTrailer(): AsyncGenerator<Uint8Array> {
      yield Buffer.concat([...file("a", "one"), tarEnd()]);
      pulledAfterEnd = true;
      yield Buffer.alloc(10_240);
    }
    expect(await names(withTrailer(), { drainTrailer: false })).toEqual(["a=one"]);
    expect(pulledAfterEnd).toBe(false);
    expect(await names(withTrailer(), {})).toEqual(["a=one"]);
    expect(pulledAfterEnd).toBe(true);
    const aborted = AbortSignal.abort(new Error("stop"));
    await expect(names(chunked(archive, 7), { signal: aborted })).rejects.toThrow("stop");
  });
});

describe("encodeTarHeader", () => {
  it("writes what GNU tar reads back: long and non-ASCII names, big ids, xattrs, devices", async () => {
    const xattrs = new Map([["user.cap", Buffer.from([0, 1, 2, 255])]]);
    const entries = [
      { name: "dir", type: "directory" as const, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 },
      { name: `dir/${"x".repeat(180)}`, type: "file" as const, mode: 0o600, uid: 5_000_000, gid: 7, size: 3, mtime: 2, xattrs },
      { name: "dir/ünï", type: "symlink" as const, mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 3, linkname: "ziel-ü" },
      { name: "dir/null", type: "char-device" as const, mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 4, devmajor: 1, devminor: 3 },
    ];
    const parts: Buffer[] = [];
    for (const e of entries) {
      parts.push(encodeTarHeader(e));
      if (e.type === "file") parts.push(Buffer.from("abc"), tarPadding(3));
    }
    parts.push(tarEnd());
    const tar = Buffer.concat(parts);
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", "-"], { input: tar, encoding: "utf8" });
    expect(listing).toContain(`5000000/7`);
    expect(listing).toContain(`dir/${"x".repeat(180)}`);
    expect(listing).toContain("dir/ünï -> ziel-ü");
    expect(listing).toMatch(/crw-rw-rw- 0\/0 +1,3 .* dir\/null/);
    const back = await headers(tar, 333);
    expect(back.map((h) => [h.name, h.type, h.uid, h.linkname])).toEqual([
      ["dir/", "directory", 0, ""],
      [`dir/${"x".repeat(180)}`, "file", 5_000_000, ""],
      ["dir/ünï", "symlink", 0, "ziel-ü"],
      ["dir/null", "char-device", 0, ""],
    ]);
    expect(back[1]?.xattrs.get("user.cap")?.equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
    expect(back[1]?.content).toBe("abc");
  });
});
