import { describe, expect, it } from "vitest";
import { ProgressBus } from "./progress-bus.ts";
import { shareRef } from "./shared-ref.ts";
import type { Digest, ProgressEvent } from "./types.ts";

const d = (n: number): Digest => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

// The renderers (plain, tty, rawjson, quiet) are tested in base/progress/progress.test.ts.
describe("the progress bus", () => {
  it("coalesces statuses and elides logs past its bounds, keeping lifecycle events", async () => {
    const bus = new ProgressBus({ maxEvents: 10, maxLogBytes: 100 });
    bus.emit({ kind: "vertex-started", vertex: d(1), index: 1, name: "x", time: at(0) });
    for (let i = 0; i < 1000; i++) bus.emit({ kind: "status", vertex: d(1), index: 1, time: at(i), status: { id: "pull", current: i, total: 1000 } });
    for (let i = 0; i < 1000; i++) bus.emit({ kind: "log", vertex: d(1), index: 1, time: at(i), stream: 1, data: bytes("0123456789") });
    for (let i = 0; i < 50; i++) bus.emit({ kind: "status", vertex: d(1), index: 1, time: at(i), status: { id: `layer-${i}`, current: 1 } });
    bus.emit({ kind: "vertex-completed", vertex: d(1), index: 1, time: at(2000) });
    bus.close();
    const s = bus.stats();
    expect(s.peakBuffered).toBeLessThanOrEqual(14);
    expect(s.coalescedStatuses).toBe(999);
    // Eight chunks fit beside the two events already buffered (maxEvents 10); the rest is elided.
    expect(s.elidedLogBytes).toBe(10_000 - 80);
    const got: ProgressEvent[] = [];
    for await (const ev of bus) got.push(ev);
    expect(got[0]?.kind).toBe("vertex-started");
    expect(got.at(-1)?.kind).toBe("vertex-completed");
    expect(got.find((e) => e.kind === "status")).toMatchObject({ status: { id: "pull", current: 999 } });
    expect(got.find((e) => e.kind === "log-elided")).toMatchObject({ bytes: 9_920 });
    expect(got.filter((e) => e.kind === "log")).toHaveLength(8);
  });

  it("delivers events to a consumer that waits for them", async () => {
    const bus = new ProgressBus();
    const got: string[] = [];
    const reading = (async () => {
      for await (const ev of bus) got.push(ev.kind);
    })();
    bus.emit({ kind: "vertex-started", vertex: d(1), index: 1, name: "x", time: at(0) });
    await new Promise((r) => setTimeout(r, 5));
    bus.emit({ kind: "vertex-completed", vertex: d(1), index: 1, time: at(1) });
    bus.close();
    await reading;
    expect(got).toEqual(["vertex-started", "vertex-completed"]);
  });
});

describe("shared refs", () => {
  it("releases the worker ref with the last clone and reports a double release (HTK-SOLVER-0005)", async () => {
    let released = 0;
    const a = shareRef({ id: "snap-1", release: async () => void released++ });
    const b = a.clone();
    await a.release();
    expect(released).toBe(0);
    await b.release();
    expect(released).toBe(1);
    await expect(b.release()).rejects.toThrow(/HTK-SOLVER-0005/);
    expect(() => a.clone()).toThrow(/HTK-SOLVER-0005/);
  });
});
