import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { sha256Of } from "../../cache/index.ts";
import { measureLayer, packArchive, readArchive } from "./tar.ts";

async function collect(tar: Buffer, chunk = 7): Promise<{ path: string; type: string; linkname?: string; text: string }[]> {
  // Tiny chunks: headers and bodies straddle chunk boundaries.
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const out: { path: string; type: string; linkname?: string; text: string }[] = [];
  for await (const e of readArchive(Readable.from(parts))) {
    const bytes: Buffer[] = [];
    for await (const c of e.stream) bytes.push(Buffer.from(c));
    out.push({ path: e.path, type: e.type, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}), text: Buffer.concat(bytes).toString() });
  }
  return out;
}

describe("archive tar", () => {
  it("writes deterministic tars and reads them back, long names and links included", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(140)}`;
    const entries = [
      { type: "file" as const, path: long, content: Buffer.from("long") },
      { type: "directory" as const, path: "a" },
      { type: "file" as const, path: "a/x", content: Buffer.from("x".repeat(1000)) },
      { type: "symlink" as const, path: "a/link", target: "../a/x" },
      { type: "file" as const, path: "a/streamed", size: 5, open: async () => Readable.from([Buffer.from("ab"), Buffer.from("cde")]) },
    ];
    const one = await buffer(packArchive(entries));
    const two = await buffer(packArchive([...entries].reverse()));
    expect(sha256Of(one)).toBe(sha256Of(two));
    expect(await collect(one)).toEqual([
      { path: "a", type: "directory", text: "" },
      { path: "a/link", type: "symlink", linkname: "../a/x", text: "" },
      { path: "a/streamed", type: "file", text: "abcde" },
      { path: "a/x", type: "file", text: "x".repeat(1000) },
      { path: long, type: "file", text: "long" },
    ]);
  });

  it("fails a streamed entry whose source yields a different size", async () => {
    const tar = packArchive([{ type: "file", path: "f", size: 10, open: async () => Readable.from([Buffer.from("short")]) }]);
    await expect(buffer(tar)).rejects.toThrow();
  });

  it("refuses data that is not a tar with HTK-ENGINE-0211", async () => {
    const err = await collect(Buffer.alloc(2048, 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHtkError(err, "HTK-ENGINE-0211") && err.plainCause).toMatch(/not a tar archive/);
  });

  it("measures a layer as Docker does: diff ID over every byte, whiteouts not counted", async () => {
    const tar = await buffer(
      packArchive([
        { type: "file", path: "etc/a", content: Buffer.from("12345") },
        { type: "file", path: "etc/.wh.old", content: Buffer.alloc(0) },
        { type: "file", path: "bin/b", content: Buffer.from("123") },
      ]),
    );
    expect(await measureLayer(Readable.from([tar]), "none")).toEqual({ diffId: sha256Of(tar), tarSize: tar.length, contentSize: 8 });
    expect(await measureLayer(Readable.from([gzipSync(tar)]), "gzip")).toEqual({ diffId: sha256Of(tar), tarSize: tar.length, contentSize: 8 });
    expect(await measureLayer(Readable.from([tar]), "zstd")).toBeUndefined();
  });
});
