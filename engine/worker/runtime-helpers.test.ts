import { describe, expect, it } from "vitest";
import { normalizeHistory } from "../build/image-export.ts";
import { Mutex } from "./runtime-helpers.ts";

describe("Mutex (cache mounts with sharing=locked)", () => {
  it("lets one holder in at a time, in order", async () => {
    const m = new Mutex();
    const order: string[] = [];
    const signal = new AbortController().signal;
    const one = await m.lock(signal);
    const second = m.lock(signal).then((release) => {
      order.push("second");
      release();
    });
    await new Promise((r) => setTimeout(r, 10));
    order.push("first done");
    one();
    await second;
    expect(order).toEqual(["first done", "second"]);
    expect(m.held).toBe(false);
  });

  it("gives up waiting on abort and keeps the queue working", async () => {
    const m = new Mutex();
    const release = await m.lock(new AbortController().signal);
    const ac = new AbortController();
    const waiting = m.lock(ac.signal);
    ac.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    release();
    const again = await m.lock(new AbortController().signal);
    again();
  });
});

describe("normalizeHistory (BuildKit's exporter rule)", () => {
  it("marks the entry of an empty diff empty_layer and keeps config-only entries", () => {
    const h = normalizeHistory(
      [{ created_by: "base" }, { created_by: "ENV A=1", empty_layer: true }, { created_by: "RUN true" }, { created_by: "COPY x" }],
      [{ empty: false }, { empty: true }, { empty: false }],
    );
    expect(h.map((e) => [e.created_by, e.empty_layer === true])).toEqual([
      ["base", false],
      ["ENV A=1", true],
      ["RUN true", true],
      ["COPY x", false],
    ]);
  });

  it("adds blank entries in front for layers without history", () => {
    const h = normalizeHistory([{ created_by: "RUN x" }], [{ empty: false }, { empty: false }]);
    expect(h.map((e) => e.created_by)).toEqual(["", "RUN x"]);
  });
});
