import { readFile, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../testing/index.ts";
import { decodeEntry, encodeEntry, JsonFileWriter, LineSplitter, readLog, type LogMessage } from "./json-file.ts";

const signal = new AbortController().signal;
const T0 = 1_700_000_000_123_456_789n;

function msg(text: string, i: number, stream: "stdout" | "stderr" = "stdout"): LogMessage {
  return { stream, line: Buffer.from(text), timeNs: T0 + BigInt(i) * 1_000_000_000n };
}

async function collect(it: AsyncIterable<LogMessage>): Promise<string[]> {
  const out: string[] = [];
  for await (const m of it) out.push(`${m.stream}:${m.line.toString()}`);
  return out;
}

describe("json-file", () => {
  it("writes Docker's line format and reads it back", () => {
    const line = encodeEntry(msg("hi\n", 0)).toString();
    expect(line).toBe('{"log":"hi\\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}\n');
    expect(decodeEntry(line.trim())).toEqual(msg("hi\n", 0));
    expect(decodeEntry("{torn")).toBeUndefined();
  });

  it("rotates at max-size into max-file files and reads them in order, with tail, since and until", async () => {
    const path = `${await tempDir("jsonlog")}/c-json.log`;
    const w = await JsonFileWriter.open(path, { maxSize: 200, maxFile: 3 });
    for (let i = 0; i < 12; i++) w.write(msg(`line ${i}\n`, i, i % 2 === 0 ? "stdout" : "stderr"));
    await w.close();
    const all = await collect(readLog(path, { maxFile: 3, signal }));
    // 3 files of ~2 entries each beyond 200 bytes: the oldest were dropped, the rest are in order.
    expect(all.length).toBeGreaterThan(3);
    expect(all.at(-1)).toBe("stderr:line 11\n");
    const numbers = all.map((l) => Number(/line (\d+)/.exec(l)?.[1]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(await collect(readLog(path, { maxFile: 3, signal, tail: 2 }))).toEqual(["stdout:line 10\n", "stderr:line 11\n"]);
    expect(await collect(readLog(path, { maxFile: 3, signal, tail: 0 }))).toEqual([]);
    expect(await collect(readLog(path, { maxFile: 3, signal, sinceNs: T0 + 10n * 1_000_000_000n }))).toEqual(["stdout:line 10\n", "stderr:line 11\n"]);
    expect(await collect(readLog(path, { maxFile: 3, signal, sinceNs: T0 + 9n * 1_000_000_000n, untilNs: T0 + 10n * 1_000_000_000n }))).toEqual([
      "stderr:line 9\n",
      "stdout:line 10\n",
    ]);
    expect((await readFile(`${path}.2`, "utf8")).length).toBeGreaterThan(0);
  });

  it("max-file 1 truncates; tail counts lines across files", async () => {
    const path = `${await tempDir("jsonlog1")}/c-json.log`;
    await writeFile(path, "");
    const w = await JsonFileWriter.open(path, { maxSize: 100, maxFile: 1 });
    for (let i = 0; i < 5; i++) w.write(msg(`l${i}\n`, i));
    await w.close();
    const lines = await collect(readLog(path, { maxFile: 1, signal }));
    expect(lines.at(-1)).toBe("stdout:l4\n");
    expect(lines.length).toBeLessThan(5);
  });

  it("follows a running writer across a rotation until it closes", async () => {
    const path = `${await tempDir("jsonlogf")}/c-json.log`;
    const w = await JsonFileWriter.open(path, { maxSize: 150, maxFile: 5 });
    w.write(msg("before\n", 0));
    const got: string[] = [];
    const reading = (async () => {
      for await (const m of readLog(path, { maxFile: 5, signal, follow: w })) got.push(m.line.toString());
    })();
    for (let i = 1; i <= 6; i++) {
      w.write(msg(`after ${i}\n`, i));
      await new Promise((r) => setTimeout(r, 5));
    }
    await w.close();
    await reading;
    expect(got).toEqual(["before\n", ...Array.from({ length: 6 }, (_, i) => `after ${i + 1}\n`)]);
    expect(w.generation).toBeGreaterThan(0);
  });

  it("splits output into lines as Docker's copier: 16 KiB partials, the rest at the end", () => {
    const s = new LineSplitter("stdout");
    expect(s.push(Buffer.from("a\nb"), 1n).map((m) => m.line.toString())).toEqual(["a\n"]);
    expect(s.push(Buffer.from("c\nd"), 2n).map((m) => m.line.toString())).toEqual(["bc\n"]);
    const big = s.push(Buffer.alloc(LineSplitter.MAX_LINE + 10, 0x61), 3n);
    expect(big).toHaveLength(1);
    expect(big[0]?.line.length).toBe(LineSplitter.MAX_LINE);
    expect(s.end(4n).map((m) => m.line.length)).toEqual([11]);
    expect(s.end(5n)).toEqual([]);
  });
});
