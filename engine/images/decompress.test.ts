import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decompressStream, detectCompression } from "./decompress.ts";

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function* chunks(data: Buffer, size = 3): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const DATA = Buffer.from("a tar would be here ".repeat(500));

function compressWith(program: string): Buffer {
  const r = spawnSync(program, ["-c"], { input: DATA });
  if (r.status !== 0) throw new Error(`${program} failed`);
  return r.stdout;
}

describe("decompressStream (archive.DecompressStream)", () => {
  it("tells the formats apart by their first bytes", () => {
    expect(detectCompression(gzipSync(DATA))).toBe("gzip");
    expect(detectCompression(Buffer.from("BZh91AY"))).toBe("bzip2");
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe("xz");
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(detectCompression(DATA)).toBe("none");
    expect(detectCompression(Buffer.alloc(0))).toBe("none");
  });

  it("passes plain data through and decompresses gzip, bzip2, xz and zstd, whatever the chunking", async () => {
    expect(await collect(decompressStream(chunks(DATA)))).toEqual(DATA);
    expect(await collect(decompressStream(chunks(Buffer.alloc(0))))).toEqual(Buffer.alloc(0));
    expect(await collect(decompressStream(chunks(gzipSync(DATA))))).toEqual(DATA);
    for (const program of ["bzip2", "xz", "zstd"]) {
      expect(await collect(decompressStream(chunks(compressWith(program), 1000))), program).toEqual(DATA);
    }
  });

  it("reports damaged data through the caller's diagnostic", async () => {
    const gz = gzipSync(DATA);
    const broken = Buffer.concat([gz.subarray(0, 20), Buffer.from("garbage garbage garbage")]);
    await expect(collect(decompressStream(chunks(broken), { describeError: (d) => new Error(`bad: ${d}`) }))).rejects.toThrow(/^bad: gzip: /);
    const xz = compressWith("xz");
    await expect(collect(decompressStream(chunks(xz.subarray(0, xz.length - 10)), { describeError: (d) => new Error(`bad: ${d}`) }))).rejects.toThrow(/^bad: xz: /);
  });
});
