import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { matchEvent } from "./events.ts";
import { spec, testStore, type TestStore } from "./test-support.ts";
import type { EngineEvent } from "./types.ts";

let t: TestStore;
beforeEach(() => {
  t = testStore();
});
afterEach(() => t.close());

function ev(over: Partial<EngineEvent> & Pick<EngineEvent, "Type" | "Action">): EngineEvent {
  return { Actor: { ID: "abc123", Attributes: {} }, scope: "local", time: 1, timeNano: 1e9, ...over };
}

describe("Docker's event filters", () => {
  const start = ev({ Type: "container", Action: "start", Actor: { ID: "abc123", Attributes: { name: "web", image: "busybox:latest", tier: "web" } } });
  const health = ev({ Type: "container", Action: "health_status: healthy", Actor: { ID: "abc123", Attributes: { name: "web", image: "busybox" } } });
  const vol = ev({ Type: "volume", Action: "create", Actor: { ID: "data", Attributes: { driver: "local" } } });

  it("matches type, event, container by ID prefix or name, image with and without tag, labels, volume", () => {
    expect(matchEvent(start, {})).toBe(true);
    expect(matchEvent(start, { type: ["container"] })).toBe(true);
    expect(matchEvent(start, { type: ["image"] })).toBe(false);
    expect(matchEvent(start, { event: ["start", "die"] })).toBe(true);
    expect(matchEvent(start, { event: ["stop"] })).toBe(false);
    // Docker #25798: the bare action matches the suffixed one.
    expect(matchEvent(health, { event: ["health_status"] })).toBe(true);
    expect(matchEvent(start, { container: ["abc"] })).toBe(true);
    expect(matchEvent(start, { container: ["web"] })).toBe(true);
    expect(matchEvent(start, { container: ["db"] })).toBe(false);
    expect(matchEvent(start, { image: ["busybox"] })).toBe(true);
    expect(matchEvent(start, { image: ["busybox:latest"] })).toBe(true);
    expect(matchEvent(start, { image: ["busybox:1"] })).toBe(false);
    expect(matchEvent(start, { label: ["tier=web"] })).toBe(true);
    expect(matchEvent(start, { label: ["tier=db"] })).toBe(false);
    expect(matchEvent(vol, { volume: ["data"] })).toBe(true);
    expect(matchEvent(start, { volume: ["data"] })).toBe(false);
    expect(matchEvent(start, { scope: ["swarm"] })).toBe(false);
  });
});

describe("the event log", () => {
  it("queries stored events by time window and filters, and refuses unknown filters (HTK-ENGINE-0116)", () => {
    const cs = t.store.containers;
    t.setNow(10_000_000_000n);
    const a = cs.create(spec({ name: "a1" }));
    t.setNow(20_000_000_000n);
    cs.start(a, { pid: 1 });
    t.setNow(30_000_000_000n);
    t.store.recordEvent({ Type: "daemon", Action: "reload", Actor: { ID: "engine", Attributes: {} } });
    const all = t.store.events.query();
    expect(all.map((e) => e.event.Action)).toEqual(["create", "start", "reload"]);
    expect(all.map((e) => e.event.time)).toEqual([10, 20, 30]);
    expect(t.store.events.query({ sinceNs: 15_000_000_000n, untilNs: 25_000_000_000n }).map((e) => e.event.Action)).toEqual(["start"]);
    expect(t.store.events.query({ filters: { type: ["daemon"] } })).toHaveLength(1);
    expect(() => t.store.events.query({ filters: { colour: ["x"] } })).toThrow(/HTK-ENGINE-0116/);
  });

  it("streams live events after a replay, without gaps or duplicates, and only after commit", async () => {
    const cs = t.store.containers;
    const a = cs.create(spec({ name: "a1" }));
    const sub = t.store.events.subscribe({ replay: true, filters: { type: ["container"] } });
    const running = cs.start(a, { pid: 1 });
    // A rolled-back transition never reaches subscribers.
    expect(() =>
      t.store.ctx.tx(() => {
        cs.pause(running);
        throw new Error("cgroup freeze failed");
      }),
    ).toThrow();
    t.store.recordEvent({ Type: "daemon", Action: "reload", Actor: { ID: "engine", Attributes: {} } });
    cs.exit(running, { exitCode: 0 });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push((await sub.next())?.Action ?? "end");
    expect(got).toEqual(["create", "start", "die"]);
    sub.dispose();
    expect(await sub.next()).toBeUndefined();
    expect(t.store.events.subscriberCount).toBe(0);
  });

  it("ends live streams when the store closes", async () => {
    const sub = t.store.events.subscribe();
    const pending = sub.next();
    t.store.close();
    expect(await pending).toBeUndefined();
  });

  it("ends the stream at until", async () => {
    const until = BigInt(Date.now()) * 1_000_000n + 50_000_000n;
    const sub = t.store.events.subscribe({ untilNs: until });
    const started = Date.now();
    expect(await sub.next()).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("drops a slow subscriber with a notice instead of growing memory (HTK-ENGINE-0118)", async () => {
    const slow = t.store.events.subscribe({ bufferSize: 4 });
    const fast = t.store.events.subscribe({ bufferSize: 1000 });
    for (let i = 0; i < 10; i++) t.store.recordEvent({ Type: "daemon", Action: "reload", Actor: { ID: "engine", Attributes: {} } });
    expect(slow.dropped).toBe(true);
    const err = await slow.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isHtkError(err, "HTK-ENGINE-0118")).toBe(true);
    expect(t.store.events.subscriberCount).toBe(1);
    let n = 0;
    while (n < 10 && (await fast.next()) !== undefined) n++;
    expect(n).toBe(10);
    fast.dispose();
  });

  it("works as an async iterator and trims old rows", async () => {
    t.close();
    t = testStore({ eventsRetained: 100 });
    const sub = t.store.events.subscribe({ bufferSize: 2000 });
    for (let i = 0; i < 1100; i++) t.store.recordEvent({ Type: "daemon", Action: `n${i}`, Actor: { ID: "engine", Attributes: {} } });
    const seen: string[] = [];
    for await (const e of sub) {
      seen.push(e.Action);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(["n0", "n1", "n2"]);
    expect(t.store.events.subscriberCount).toBe(0);
    const kept = t.store.events.query();
    expect(kept.length).toBeLessThan(700);
    expect(kept.at(-1)?.event.Action).toBe("n1099");
  });
});
