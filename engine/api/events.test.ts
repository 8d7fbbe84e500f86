import { request, type IncomingMessage } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { systemClock } from "../state/index.ts";
import { testStore, type TestStore } from "../state/test-support.ts";
import { eventRoutes, eventWindow, parseEventTimestamp } from "./events.ts";
import { errorOf, serveRoutes, type TestApi } from "./test-support.ts";

function failure(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isHtkError(err)) return `${err.id} ${err.plainCause}`;
    throw err;
  }
  return undefined;
}

describe("the events time window", () => {
  it("parses Unix seconds with up to nine fraction digits, as timetypes.ParseTimestamps", () => {
    expect(parseEventTimestamp("since", "1700000000")).toBe(1_700_000_000_000_000_000n);
    expect(parseEventTimestamp("since", "1700000000.5")).toBe(1_700_000_000_500_000_000n);
    expect(parseEventTimestamp("since", "1700000000.000000001")).toBe(1_700_000_000_000_000_001n);
    expect(parseEventTimestamp("since", "")).toBeUndefined();
    expect(parseEventTimestamp("since", null)).toBeUndefined();
    expect(failure(() => parseEventTimestamp("until", "10m"))).toBe(
      'HTK-ENGINE-0465 The until value "10m" is not a timestamp: expected Unix seconds with an optional fraction (1700000000.5).',
    );
  });

  it("replays only when since or until is given, ends after the replay when until has passed", () => {
    const now = 2_000_000_000_000_000_000n;
    expect(eventWindow(null, null, now)).toEqual({ sinceNs: undefined, untilNs: undefined, replay: false, pastOnly: false });
    expect(eventWindow("1", null, now)).toMatchObject({ replay: true, pastOnly: false });
    expect(eventWindow(null, "1", now)).toMatchObject({ replay: true, pastOnly: true });
    expect(eventWindow("1", "3000000000", now)).toMatchObject({ replay: true, pastOnly: false });
    expect(failure(() => eventWindow("5", "4", now))).toBe("HTK-ENGINE-0464 `since` time (5) cannot be after `until` time (4)");
  });
});

describe("GET /events", () => {
  let t: TestStore;
  let api: TestApi;
  let engineStop: AbortController;
  beforeEach(async () => {
    t = testStore({ clock: systemClock });
    engineStop = new AbortController();
    api = await serveRoutes(eventRoutes({ state: t.store, signal: engineStop.signal }));
  });
  afterEach(async () => {
    engineStop.abort();
    await api.close();
    t.close();
  });

  const seconds = (ns: bigint): string => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}`;

  it("answers the stored events of a past window as JSON lines, filtered, then ends", async () => {
    const v = (name: string): void => void t.store.recordEvent({ Type: "volume", Action: "create", Actor: { ID: name, Attributes: { driver: "local" } } });
    const start = BigInt(Date.now() - 1000) * 1_000_000n;
    v("one");
    t.store.recordEvent({ Type: "network", Action: "create", Actor: { ID: "n1", Attributes: { name: "net", type: "bridge" } } });
    v("two");
    const end = BigInt(Date.now() + 1) * 1_000_000n;
    await new Promise((r) => setTimeout(r, 5));
    const r = await api.call("GET", `/events?since=${seconds(start)}&until=${seconds(end)}&filters=${encodeURIComponent('{"type":["volume"]}')}`);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    const lines = r.text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string }; scope: string; timeNano: number });
    expect(lines.map((e) => [e.Type, e.Action, e.Actor.ID, e.scope])).toEqual([
      ["volume", "create", "one", "local"],
      ["volume", "create", "two", "local"],
    ]);
    expect(errorOf(await api.call("GET", "/events?since=abc"))).toMatchObject({ status: 400, id: "HTK-ENGINE-0465" });
    expect(errorOf(await api.call("GET", "/events?since=5&until=4"))).toMatchObject({ status: 400, id: "HTK-ENGINE-0464" });
    expect(errorOf(await api.call("GET", `/events?filters=${encodeURIComponent('{"colour":["red"]}')}`))).toMatchObject({ status: 400, id: "HTK-ENGINE-0116" });
  });

  it("streams live events after the replay, and stops when the client goes away", async () => {
    t.store.recordEvent({ Type: "volume", Action: "create", Actor: { ID: "before", Attributes: {} } });
    const since = seconds(BigInt(Date.now() - 60_000) * 1_000_000n);
    const lines: string[] = [];
    let res: IncomingMessage | undefined;
    const req = request({ socketPath: api.socketPath, path: `/events?since=${since}` });
    const got = new Promise<void>((resolve) => {
      req.on("response", (r) => {
        res = r;
        let buf = "";
        r.setEncoding("utf8");
        r.on("data", (c: string) => {
          buf += c;
          const parts = buf.split("\n");
          buf = parts.pop() ?? "";
          lines.push(...parts);
          if (lines.length === 2) resolve();
        });
      });
    });
    req.end();
    await new Promise<void>((resolve) => req.on("response", () => resolve()));
    expect(t.store.events.subscriberCount).toBe(1);
    t.store.recordEvent({ Type: "volume", Action: "destroy", Actor: { ID: "after", Attributes: {} } });
    await got;
    expect(lines.map((l) => (JSON.parse(l) as { Actor: { ID: string } }).Actor.ID)).toEqual(["before", "after"]);
    res?.destroy();
    req.destroy();
    for (let i = 0; i < 100 && t.store.events.subscriberCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(t.store.events.subscriberCount).toBe(0);
  });

  it("ends open streams when the engine stops", async () => {
    const ended = new Promise<string>((resolve) => {
      const req = request({ socketPath: api.socketPath, path: "/events" }, (r) => {
        let body = "";
        r.setEncoding("utf8");
        r.on("data", (c: string) => (body += c));
        r.on("end", () => resolve(body));
      });
      req.end();
    });
    for (let i = 0; i < 100 && t.store.events.subscriberCount === 0; i++) await new Promise((r) => setTimeout(r, 10));
    engineStop.abort();
    expect(await ended).toBe("");
    expect(t.store.events.subscriberCount).toBe(0);
  });
});
