import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { openStateDb } from "./db.ts";
import { openStateStore, type StateStore } from "./store.ts";
import { spec, tempDataRoot } from "./test-support.ts";

const here = dirname(fileURLToPath(import.meta.url));
const roots: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** Starts the writer; resolves with a function that returns how many iterations it reported committed. */
function writer(dataRoot: string, label: string, limit = 1_000_000): { child: ChildProcess; committed: () => number; reached: (n: number) => Promise<void>; done: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(here, "test-writer.ts"), dataRoot, label, String(limit)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let count = 0;
  let stderr = "";
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    for (const line of chunk.split("\n")) if (line !== "") count = Number.parseInt(line, 10);
    for (const w of waiters.splice(0)) {
      if (count >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    child,
    committed: () => count,
    reached: (n) =>
      new Promise<void>((resolve, reject) => {
        if (count >= n) return resolve();
        waiters.push({ n, resolve });
        void done.then(() => (count >= n ? resolve() : reject(new Error(`writer exited early: ${stderr}`))));
      }),
    done,
  };
}

/** Every container's row agrees with its events: the transition and its event were one transaction. */
function expectConsistent(store: StateStore, label: string): number {
  const containers = store.containers.all().filter((c) => c.config.Labels?.["writer"] === label);
  const events = store.events.query({ filters: { type: ["container"], label: [`writer=${label}`] } });
  const last = new Map<string, string>();
  for (const e of events) last.set(e.event.Actor.ID, e.event.Action);
  const creates = events.filter((e) => e.event.Action === "create").length;
  expect(creates).toBe(containers.length);
  for (const c of containers) {
    const expected = { created: "create", running: "start", exited: "die" }[c.status as "created" | "running" | "exited"];
    expect(last.get(c.id), `${c.name} is ${c.status}`).toBe(expected);
  }
  return containers.length;
}

describe("crash safety and concurrency", () => {
  it("survives SIGKILL in the middle of a write loop: the database opens, passes its check and is consistent", async () => {
    const dataRoot = tempDataRoot("crash");
    roots.push(dataRoot);
    openStateDb(dataRoot).close();
    const w = writer(dataRoot, "k");
    await w.reached(40);
    w.child.kill("SIGKILL");
    await w.done;
    const committed = w.committed();
    const store = openStateStore(dataRoot, { integrity: "full" });
    try {
      const n = expectConsistent(store, "k");
      // Everything the writer reported as committed is there (kill -9 of the process loses no commit
      // under synchronous=NORMAL); at most one more iteration was in flight.
      expect(n).toBeGreaterThanOrEqual(committed);
      expect(n).toBeLessThanOrEqual(committed + 1);
    } finally {
      store.close();
    }
  }, 60_000);

  it("lets two connections write at the same time (busy timeout, no SQLITE_BUSY) and see each other's commits", async () => {
    const dataRoot = tempDataRoot("two");
    roots.push(dataRoot);
    const store = openStateStore(dataRoot);
    try {
      const w = writer(dataRoot, "child", 60);
      await w.reached(1);
      for (let i = 0; i < 60; i++) {
        const c = store.containers.create(spec({ name: `parent-${i}`, config: { Image: "busybox", Labels: { writer: "parent" } } }));
        store.containers.exit(store.containers.start(c, { pid: 1 }), { exitCode: 0 });
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      expect(await w.done).toBe(0);
      expect(expectConsistent(store, "child")).toBe(60);
      expect(expectConsistent(store, "parent")).toBe(60);
    } finally {
      store.close();
    }
  }, 60_000);

  it("refuses a transition made from a copy another connection already changed (HTK-ENGINE-0115)", () => {
    const dataRoot = tempDataRoot("cas");
    roots.push(dataRoot);
    const a = openStateStore(dataRoot);
    const b = openStateStore(dataRoot);
    try {
      const created = a.containers.create(spec({ name: "shared" }));
      const seenByB = b.containers.resolve("shared");
      expect(seenByB.status).toBe("created");
      a.containers.start(created, { pid: 1 });
      let err: unknown;
      try {
        if (seenByB.status === "created") b.containers.start(seenByB, { pid: 2 });
      } catch (e) {
        err = e;
      }
      expect(isHtkError(err, "HTK-ENGINE-0115")).toBe(true);
      expect(String(err)).toContain('expected "created", found "running"');
    } finally {
      a.close();
      b.close();
    }
  });
});
