import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatBytes, PlainPrinter } from "./plain.ts";
import { eventToJson, renderProgress } from "./render.ts";
import { TtyPrinter } from "./tty.ts";
import type { Digest, ProgressEvent } from "./types.ts";

async function* stream(events: readonly ProgressEvent[]): AsyncGenerator<ProgressEvent> {
  for (const ev of events) yield ev;
}

const d = (n: number): Digest => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Golden files for `--progress=plain`: `testdata/plain/<case>.txt`. Run with HTK_ACCEPT=1 to rewrite
 * them; the diff is the review.
 */
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), "testdata", "plain");

const cases: Record<string, ProgressEvent[]> = {
  "cached-and-run": [
    { kind: "vertex-started", vertex: d(1), index: 1, name: "[internal] load build context", time: at(0) },
    { kind: "status", vertex: d(1), index: 1, time: at(10), status: { id: "transferring context", current: 2048, started: at(0), completed: at(100) } },
    { kind: "vertex-completed", vertex: d(1), index: 1, time: at(120) },
    { kind: "vertex-cached", vertex: d(2), index: 2, name: "[1/3] FROM docker.io/library/busybox:latest", time: at(130) },
    { kind: "vertex-started", vertex: d(3), index: 3, name: "[2/3] RUN echo hello", time: at(200) },
    { kind: "log", vertex: d(3), index: 3, time: at(415), stream: 1, data: bytes("hello\nwor") },
    { kind: "log", vertex: d(3), index: 3, time: at(500), stream: 1, data: bytes("ld\n") },
    { kind: "vertex-completed", vertex: d(3), index: 3, time: at(1450) },
  ],
  "interleaved-and-error": [
    { kind: "vertex-started", vertex: d(1), index: 1, name: "[a 1/2] RUN make", time: at(0) },
    { kind: "log", vertex: d(1), index: 1, time: at(50), stream: 1, data: bytes("compiling\n") },
    { kind: "vertex-started", vertex: d(2), index: 2, name: "[b 1/2] RUN test", time: at(60) },
    { kind: "log", vertex: d(2), index: 2, time: at(12_345), stream: 2, data: bytes("FAIL x\n") },
    { kind: "vertex-errored", vertex: d(2), index: 2, time: at(12_400), error: { id: "HTK-SOLVER-0001", message: 'The step "[b 1/2] RUN test" failed: exit code 1.' } },
    { kind: "vertex-canceled", vertex: d(1), index: 1, time: at(12_500) },
  ],
  "pull-progress": [
    { kind: "vertex-started", vertex: d(4), index: 4, name: "[1/2] FROM docker.io/library/alpine:3.20", time: at(0) },
    { kind: "status", vertex: d(4), index: 4, time: at(100), status: { id: "sha256:aaaa", current: 100_000, total: 3_400_000, started: at(0) } },
    { kind: "status", vertex: d(4), index: 4, time: at(150), status: { id: "sha256:aaaa", current: 120_000, total: 3_400_000, started: at(0) } },
    { kind: "status", vertex: d(4), index: 4, time: at(400), status: { id: "sha256:aaaa", current: 2_000_000, total: 3_400_000, started: at(0) } },
    { kind: "status", vertex: d(4), index: 4, time: at(700), status: { id: "sha256:aaaa", current: 3_400_000, total: 3_400_000, started: at(0), completed: at(700) } },
    { kind: "log-elided", vertex: d(4), index: 4, time: at(710), bytes: 1_500_000 },
    { kind: "vertex-completed", vertex: d(4), index: 4, time: at(800) },
  ],
};

function renderPlain(events: readonly ProgressEvent[]): string {
  let out = "";
  const p = new PlainPrinter((t) => (out += t));
  for (const ev of events) p.handle(ev);
  return out;
}

describe("the plain renderer (golden files)", () => {
  for (const [name, events] of Object.entries(cases)) {
    it(name, () => {
      const file = join(GOLDEN, `${name}.txt`);
      const actual = renderPlain(events);
      if (process.env["HTK_ACCEPT"] === "1" || !existsSync(file)) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, actual);
      }
      expect(actual).toBe(readFileSync(file, "utf8"));
    });
  }

  it("formats sizes as BuildKit's units.Bytes does", () => {
    expect([0, 37, 999, 1000, 2_048, 2_100_000, 3.4e9].map(formatBytes)).toEqual(["0B", "37B", "999B", "1.00kB", "2.05kB", "2.10MB", "3.40GB"]);
  });
});

describe("the tty renderer", () => {
  it("collapses finished steps and shows the last log lines of running ones", () => {
    const now = T0 + 2000;
    let out = "";
    const p = new TtyPrinter((t) => (out += t), { columns: 60, logLines: 2, now: () => now });
    for (const ev of (cases["cached-and-run"] ?? []).slice(0, 6)) p.handle(ev);
    expect(p.frame()).toEqual([
      "[+] Building 0.0s (2/3)",
      " => [internal] load build context                       0.1s",
      " => CACHED [1/3] FROM docker.io/library/busybox:latest  0.0s",
      " => [2/3] RUN echo hello                                1.8s",
      " => => # hello",
    ]);
    p.draw();
    p.handle({ kind: "vertex-completed", vertex: d(3), index: 3, time: at(1450) });
    p.draw();
    // The second frame moves up over the first (5 lines) and clears what the shorter frame left.
    expect(out).toContain("\u001b[5A");
    expect(p.frame()).toHaveLength(4);
    expect(p.frame()[3], JSON.stringify(p.frame())).toMatch(/^ => \[2\/3\] RUN echo hello +1\.3s$/);
    expect(p.frame()[0]).toContain("FINISHED");
  });

  it("shows transfer statuses under a running step", () => {
    const p = new TtyPrinter(() => undefined, { columns: 60, now: () => T0 });
    for (const ev of (cases["pull-progress"] ?? []).slice(0, 4)) p.handle(ev);
    expect(p.frame().slice(1)).toEqual([" => [1/2] FROM docker.io/library/alpine:3.20            0.0s", " => => sha256:aaaa 2.00MB / 3.40MB"]);
  });

  it("keeps a frame within the terminal height", () => {
    let out = "";
    const p = new TtyPrinter((t) => (out += t), { columns: 60, rows: 4, now: () => T0 });
    for (let i = 1; i <= 6; i++) p.handle({ kind: "vertex-cached", vertex: d(i), index: i, name: `step ${i}`, time: at(0) });
    p.draw();
    const drawn = out.split("\n").filter((l) => l !== "");
    expect(drawn).toHaveLength(3);
    expect(drawn[0]).toContain("[+] Building");
    expect(drawn[2]).toContain("step 6");
  });
});

describe("rawjson and quiet", () => {
  it("writes one JSON object per event, log bytes in base64", async () => {
    const events = cases["cached-and-run"] ?? [];
    let out = "";
    await renderProgress("rawjson", stream(events), { write: (t: string) => (out += t) });
    const lines = out.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; data?: string });
    expect(lines).toHaveLength(events.length);
    expect(lines[5]).toMatchObject({ kind: "log", data: Buffer.from("hello\nwor").toString("base64") });
    expect(eventToJson(events[0] as ProgressEvent)).toBe(JSON.stringify(events[0]));
  });

  it("quiet prints nothing but drains the stream", async () => {
    const events = cases["cached-and-run"] ?? [];
    let read = 0;
    async function* counted(): AsyncGenerator<ProgressEvent> {
      for (const ev of events) {
        read++;
        yield ev;
      }
    }
    let out = "";
    await renderProgress("quiet", counted(), { write: (t: string) => (out += t) });
    expect(out).toBe("");
    expect(read).toBe(events.length);
  });
});
