import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bind, copy, image, local, marshal, merge, mkfile, scratch, type Definition, type State } from "../llb/index.ts";
import { BuildRecordStore } from "./build-records.ts";
import { describeMiss, explainBuild } from "./cache-key.ts";
import { PlainPrinter } from "../base/progress/index.ts";
import { deferred, FakeWorker } from "./fake-worker.test-support.ts";
import { JsonlKeyStore, MemoryKeyStore } from "./key-store.ts";
import { Solver, type BuildHandle } from "./scheduler.ts";
import type { BuildRecord, ProgressEvent, SolveOutcome, VertexRecord } from "./types.ts";

const session = { id: "s1", locals: {} };
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "htk-solver-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function chain(...cmds: string[]): State {
  let s = image("busybox", { customName: "[1] FROM busybox" });
  for (const c of cmds) s = s.run({ shell: c, customName: `RUN ${c}` }).root();
  return s;
}

async function drain(h: BuildHandle): Promise<ProgressEvent[]> {
  const out: ProgressEvent[] = [];
  for await (const ev of h.progress) out.push(ev);
  return out;
}

async function solve(solver: Solver, def: Definition, target = "t"): Promise<{ outcome: SolveOutcome; events: ProgressEvent[] }> {
  const h = solver.solve({ definition: def, session, target });
  const [events, outcome] = await Promise.all([drain(h), h.outcome]);
  return { outcome, events };
}

const byName = (r: BuildRecord, name: string): VertexRecord => {
  const v = r.vertices.find((x) => x.name === name);
  if (v === undefined) throw new Error(`no vertex ${name}`);
  return v;
};

async function done(o: SolveOutcome): Promise<BuildRecord> {
  if (o.kind !== "completed") throw new Error(`build ${o.kind}: ${o.kind === "failed" ? o.error.message : ""}`);
  await o.ref?.release();
  return o.record;
}

/** Polls instead of sleeping a fixed time: the CI machine is shared and slow. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** True once some job is wanted by `n` builds at once (both builds attached to the shared step). */
const sharedBy = (solver: Solver, n: number): boolean => [...solver.jobs.values()].some((j) => j.builds().length === n);

describe("the scheduler", () => {
  it("runs each vertex once, then answers the same graph from the cache", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker, concurrency: 2 });
    const def = marshal(chain("a", "b"));
    const first = await done((await solve(solver, def)).outcome);
    expect(worker.count("exec:a")).toBe(1);
    expect(worker.count("exec:b")).toBe(1);
    expect(worker.count("image:docker.io/library/busybox:latest")).toBe(1);
    expect(first.vertices.map((v) => v.outcome.status)).toEqual(["executed", "executed", "executed"]);

    const { outcome, events } = await solve(solver, def);
    const second = await done(outcome);
    expect(worker.count("exec:a")).toBe(1);
    expect(worker.count("exec:b")).toBe(1);
    expect(second.vertices.map((v) => v.outcome.status)).toEqual(["cached", "cached", "cached"]);
    expect(events.filter((e) => e.kind === "vertex-cached")).toHaveLength(3);
    expect(worker.liveRefs()).toEqual([]);
    expect(solver.liveJobs()).toBe(0);
  });

  it("re-runs only what depends on a changed step", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker });
    await done((await solve(solver, marshal(chain("a", "b", "c")))).outcome);
    const r = await done((await solve(solver, marshal(chain("a", "B", "c")))).outcome);
    expect(worker.count("exec:a")).toBe(1);
    expect(worker.count("exec:B")).toBe(1);
    expect(worker.count("exec:c")).toBe(2);
    expect(byName(r, "RUN a").outcome.status).toBe("cached");
    expect(byName(r, "RUN c").outcome.status).toBe("executed");
  });

  it("runs a chain of thousands of steps without growing the stack, and explains a change at its top", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker, records: new BuildRecordStore(join(tmp(), "builds")) });
    const deep = (first: string): Definition => {
      let s = image("busybox", { customName: "from" }).run({ shell: first, customName: "top" }).root();
      for (let i = 0; i < 2500; i++) s = s.run({ shell: `s${i}`, customName: `step ${i}` }).root();
      return marshal(s);
    };
    expect((await done((await solve(solver, deep("a"))).outcome)).status).toBe("completed");
    const r = await done((await solve(solver, deep("b"))).outcome);
    expect(r.vertices.filter((v) => v.outcome.status === "executed")).toHaveLength(2501);
    const last = byName(r, "step 2499").outcome;
    expect(last.status === "executed" && describeMiss(last.miss)[0]).toBe("input step 2498 changed");
    expect(worker.liveRefs()).toEqual([]);
  });

  it("honours the concurrency limit", async () => {
    const worker = new FakeWorker();
    for (const c of ["p1", "p2", "p3", "p4", "p5"]) worker.behaviour.set(c, { delayMs: 30 });
    const solver = new Solver({ worker, concurrency: 2 });
    const branches = ["p1", "p2", "p3", "p4", "p5"].map((c) => scratch().run({ args: ["/bin/true", c], customName: c }).root());
    const [first, second, ...rest] = branches;
    if (first === undefined || second === undefined) throw new Error("unreachable");
    await done((await solve(solver, marshal(merge([first, second, ...rest])))).outcome);
    expect(worker.count("exec:p5")).toBe(1);
    expect(worker.maxRunning).toBe(2);
  });

  it("hands a dependent the output it reads of a multi-output exec, and merges layers", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("two", { outputs: 2 });
    const solver = new Solver({ worker });
    const exec = image("busybox", { customName: "from" }).run({ shell: "two", customName: "two", mounts: [bind("/out", scratch(), { readonly: false, output: true })] });
    const picked = scratch().file(copy(exec.mount("/out"), "/ran/two-1", "/y"), { customName: "pick" });
    const layer = scratch().file(mkfile("/z", 0o644, "z"), { customName: "layer" });
    const o = (await solve(solver, marshal(merge([picked, layer], { customName: "merge" })))).outcome;
    expect(o.kind).toBe("completed");
    if (o.kind !== "completed" || o.ref === undefined) return;
    expect(worker.files(o.ref.ref)).toEqual({ "/y": expect.any(String), "/z": "z" });
    await o.ref.release();
    expect(worker.count("merge")).toBe(1);
    expect(worker.liveRefs()).toEqual([]);
  });

  it("drops a cancelled build's queued work from the pool", async () => {
    const worker = new FakeWorker();
    const gate = deferred();
    worker.behaviour.set("q1", { gate: gate.promise });
    const solver = new Solver({ worker, concurrency: 1 });
    const branches = ["q1", "q2", "q3"].map((c) => scratch().run({ args: ["/bin/true", c], customName: c }).root());
    const [a, b, ...rest] = branches;
    if (a === undefined || b === undefined) throw new Error("unreachable");
    const h = solver.solve({ definition: marshal(merge([a, b, ...rest])), session });
    const ev = drain(h);
    await until(() => worker.running === 1 && solver.pool.size === 2, "one running step and two queued");
    h.cancel();
    const o = await h.outcome;
    await ev;
    expect(o.kind).toBe("canceled");
    expect(solver.pool.size).toBe(0);
    expect(worker.count("exec:q2") + worker.count("exec:q3")).toBe(0);
    expect(o.record.vertices.filter((v) => v.outcome.status === "canceled")).toHaveLength(4);
    gate.resolve();
    expect(worker.liveRefs()).toEqual([]);
  });

  it("runs a vertex shared by two concurrent builds once and shows it in both records", async () => {
    const worker = new FakeWorker();
    const gate = deferred();
    worker.behaviour.set("shared", { gate: gate.promise });
    const solver = new Solver({ worker });
    const a = solver.solve({ definition: marshal(chain("shared", "only-a")), session, id: "build-a" });
    const b = solver.solve({ definition: marshal(chain("shared", "only-b")), session, id: "build-b" });
    const evA = drain(a);
    const evB = drain(b);
    await until(() => worker.running === 1 && sharedBy(solver, 2), "both builds to wait on the shared step");
    gate.resolve();
    const [ra, rb] = [await done(await a.outcome), await done(await b.outcome)];
    expect(worker.count("exec:shared")).toBe(1);
    const sa = byName(ra, "RUN shared").outcome;
    const sb = byName(rb, "RUN shared").outcome;
    expect([sa.status, sb.status].sort()).toEqual(["executed", "shared"]);
    // Every vertex each build shows is named before anything else is said about it.
    for (const events of [await evA, await evB]) {
      const named = new Set<string>();
      for (const e of events) {
        if (e.kind === "vertex-started" || e.kind === "vertex-cached") named.add(e.vertex);
        else expect(named.has(e.vertex), `${e.kind} before the vertex was named`).toBe(true);
      }
    }
    const sharedOne = sa.status === "shared" ? sa : sb;
    expect(sharedOne).toMatchObject({ status: "shared", withBuild: sa.status === "shared" ? "build-b" : "build-a" });
    expect(worker.liveRefs()).toEqual([]);
  });

  it("fails both builds that share a failing step, each naming it", async () => {
    const worker = new FakeWorker();
    const gate = deferred();
    worker.behaviour.set("shared", { gate: gate.promise, fail: "exit code 1" });
    const solver = new Solver({ worker });
    const a = solver.solve({ definition: marshal(chain("shared", "only-a")), session, id: "build-a" });
    const b = solver.solve({ definition: marshal(chain("shared", "only-b")), session, id: "build-b" });
    const drains = [drain(a), drain(b)];
    await until(() => worker.running === 1 && sharedBy(solver, 2), "both builds to wait on the shared step");
    gate.resolve();
    for (const o of [await a.outcome, await b.outcome]) {
      expect(o.kind).toBe("failed");
      if (o.kind !== "failed") continue;
      expect(o.error.message).toBe('HTK-SOLVER-0001: The step "RUN shared" failed: exit code 1.');
      expect(byName(o.record, "RUN shared").outcome.status).toBe("failed");
      expect(o.record.vertices.find((v) => v.name.startsWith("RUN only-"))?.outcome.status).toBe("skipped");
    }
    await Promise.all(drains);
    expect(worker.count("exec:shared")).toBe(1);
    expect(worker.liveRefs()).toEqual([]);
    expect(solver.liveJobs()).toBe(0);
  });

  it("keeps a shared vertex running for the other build when one build is cancelled", async () => {
    const worker = new FakeWorker();
    const gate = deferred();
    worker.behaviour.set("shared", { gate: gate.promise });
    const solver = new Solver({ worker });
    const a = solver.solve({ definition: marshal(chain("shared", "only-a")), session, id: "build-a" });
    const b = solver.solve({ definition: marshal(chain("shared", "only-b")), session, id: "build-b" });
    const drains = [drain(a), drain(b)];
    await until(() => worker.running === 1 && sharedBy(solver, 2), "both builds to wait on the shared step");
    a.cancel();
    const oa = await a.outcome;
    expect(oa.kind).toBe("canceled");
    expect(worker.running).toBe(1);
    gate.resolve();
    const rb = await done(await b.outcome);
    await Promise.all(drains);
    expect(worker.count("exec:shared")).toBe(1);
    expect(worker.count("exec:only-a")).toBe(0);
    expect(byName(rb, "RUN only-b").outcome.status).toBe("executed");
    expect(["executed", "shared"]).toContain(byName(rb, "RUN shared").outcome.status);
    expect(byName(oa.record, "RUN shared").outcome.status).toBe("canceled");
    expect(worker.liveRefs()).toEqual([]);
    expect(solver.liveJobs()).toBe(0);
  });

  it("stops the work of a cancelled build, leaks no ref, and the next build succeeds", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("slow", { gate: new Promise(() => undefined) });
    const solver = new Solver({ worker });
    const controller = new AbortController();
    const h = solver.solve({ definition: marshal(chain("a", "slow", "after")), session, signal: controller.signal });
    const ev = drain(h);
    await until(() => worker.running === 1, "the slow step to start");
    expect(worker.running).toBe(1);
    controller.abort();
    const o = await h.outcome;
    const events = await ev;
    expect(o.kind).toBe("canceled");
    expect(worker.running).toBe(0);
    expect(byName(o.record, "RUN slow").outcome.status).toBe("canceled");
    expect(byName(o.record, "RUN after").outcome.status).toBe("canceled");
    expect(events.some((e) => e.kind === "vertex-canceled")).toBe(true);
    expect(worker.liveRefs()).toEqual([]);
    expect(solver.liveJobs()).toBe(0);

    worker.behaviour.delete("slow");
    const r = await done((await solve(solver, marshal(chain("a", "slow", "after")))).outcome);
    expect(byName(r, "RUN a").outcome.status).toBe("cached");
    expect(byName(r, "RUN slow").outcome.status).toBe("executed");
    expect(worker.liveRefs()).toEqual([]);
  });

  it("settles a cancelled build only after the running step has wound down", async () => {
    const worker = new FakeWorker();
    const stopping = deferred();
    worker.behaviour.set("slow", { gate: new Promise(() => undefined), stopping: stopping.promise });
    const solver = new Solver({ worker });
    const controller = new AbortController();
    const h = solver.solve({ definition: marshal(chain("slow")), session, signal: controller.signal });
    const ev = drain(h);
    await until(() => worker.running === 1, "the slow step to start");
    controller.abort();
    let settled = false;
    const outcome = h.outcome.then((o) => ((settled = true), o));
    // The step is still stopping (its process being killed): the outcome must wait for it.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    expect(worker.running).toBe(1);
    stopping.resolve();
    expect((await outcome).kind).toBe("canceled");
    await ev;
    expect(worker.running).toBe(0);
    expect(worker.liveRefs()).toEqual([]);
    await solver.close();
  });

  it("fails dependents as skipped and reports the error with the failed vertex (HTK-SOLVER-0001)", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("boom", { fail: "exit code 2", logs: [[2, "oops\n"]] });
    const solver = new Solver({ worker });
    const { outcome, events } = await solve(solver, marshal(chain("a", "boom", "after")));
    expect(outcome.kind).toBe("failed");
    if (outcome.kind !== "failed") return;
    expect(outcome.error.id).toBe("HTK-SOLVER-0001");
    expect(outcome.error.message).toContain("exit code 2");
    const failed = byName(outcome.record, "RUN boom");
    expect(failed.outcome).toMatchObject({ status: "failed", error: { id: "HTK-SOLVER-0001" } });
    expect(outcome.record.error?.vertex).toBe(failed.digest);
    expect(byName(outcome.record, "RUN after").outcome).toEqual({ status: "skipped", reason: "dependency-failed", failedInput: failed.digest });
    expect(events.some((e) => e.kind === "vertex-errored" && e.vertex === failed.digest)).toBe(true);
    expect(worker.count("exec:after")).toBe(0);
    expect(worker.liveRefs()).toEqual([]);
  });

  it("rejects an invalid definition before running anything (HTK-SOLVER-0002)", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker });
    const def = marshal(chain("a"));
    const [first, ...rest] = def.vertices;
    if (first === undefined) throw new Error("unreachable");
    const broken: Definition = { ...def, vertices: [{ ...first, digest: `sha256:${"0".repeat(64)}` }, ...rest] };
    const { outcome } = await solve(solver, broken);
    expect(outcome.kind === "failed" && outcome.error.id).toBe("HTK-SOLVER-0002");
    expect(worker.calls.size).toBe(0);
  });

  it("refuses a worker result with the wrong number of outputs (HTK-SOLVER-0003)", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("two", { outputs: 2 });
    const solver = new Solver({ worker });
    const { outcome } = await solve(solver, marshal(chain("two")));
    expect(outcome.kind).toBe("failed");
    if (outcome.kind !== "failed") return;
    expect(byName(outcome.record, "RUN two").outcome).toMatchObject({ status: "failed", error: { id: "HTK-SOLVER-0003" } });
    expect(worker.liveRefs()).toEqual([]);
  });

  it("re-runs a step whose cached snapshot was pruned", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker });
    const def = marshal(chain("a"));
    await done((await solve(solver, def)).outcome);
    for (const id of [...worker.snapshots.keys()]) worker.prune(id);
    const r = await done((await solve(solver, def)).outcome);
    expect(worker.count("exec:a")).toBe(2);
    expect(byName(r, "RUN a").outcome.status).toBe("executed");
  });

  it("keeps memory bounded for a slow progress consumer but writes every log byte to the record", async () => {
    const worker = new FakeWorker();
    const line = `${"x".repeat(99)}\n`;
    worker.behaviour.set("chatty", { logs: Array.from({ length: 5000 }, () => [1, line] as const) });
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records, progress: { maxEvents: 100, maxLogBytes: 10_000 } });
    const h = solver.solve({ definition: marshal(chain("chatty")), session, target: "t" });
    // Nobody reads the stream until the build is over.
    const o = await h.outcome;
    const r = await done(o);
    const stats = h.progress.stats();
    expect(stats.peakBuffered).toBeLessThanOrEqual(110);
    expect(stats.bufferedLogBytes).toBeLessThanOrEqual(10_000);
    expect(stats.elidedLogBytes).toBeGreaterThan(400_000);
    const v = byName(r, "RUN chatty");
    expect(v.logBytes).toBe(500_000);
    const log = await records.readLog(r.id, v.index);
    expect(log.length).toBe(500_000);
    const events: ProgressEvent[] = [];
    for await (const e of h.progress) events.push(e);
    expect(events.some((e) => e.kind === "log-elided")).toBe(true);
    expect(events.at(-1)?.kind).toBe("vertex-completed");
  });
});

describe("cache keys and explained misses", () => {
  const copyStep = (): Definition =>
    marshal(
      scratch()
        .file(copy(local("context", { customName: "[internal] load build context" }), "/src/a.txt", "/a.txt"), { customName: "[2/3] COPY src/a.txt /" })
        .run({ shell: "use-a", customName: "[3/3] RUN use-a" })
        .root(),
    );

  it("keys a COPY by the content it reads: other files and touch keep the cache, an edit names the file", async () => {
    const worker = new FakeWorker();
    worker.locals.set("context", { "/src/a.txt": "one", "/src/b.txt": "b" });
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records });
    const first = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(byName(first, "[2/3] COPY src/a.txt /").outcome).toMatchObject({ status: "executed", miss: [{ kind: "no-previous-build" }] });

    // No change: the COPY hits by its fast key and what follows keeps its key (regression: it used to
    // be keyed on the fast key, so every dependent missed).
    const unchanged = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(unchanged.vertices.map((v) => [v.name, v.outcome.status])).toEqual([
      ["[internal] load build context", "executed"],
      ["[2/3] COPY src/a.txt /", "cached"],
      ["[3/3] RUN use-a", "cached"],
    ]);
    expect(byName(unchanged, "[2/3] COPY src/a.txt /").key?.key).toBe(byName(first, "[2/3] COPY src/a.txt /").key?.key);

    worker.locals.set("context", { "/src/a.txt": "one", "/src/b.txt": "changed" });
    const second = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(byName(second, "[2/3] COPY src/a.txt /").outcome.status).toBe("cached");
    expect(byName(second, "[3/3] RUN use-a").outcome.status).toBe("cached");
    expect(byName(second, "[internal] load build context").outcome.status).toBe("executed");

    worker.locals.set("context", { "/src/a.txt": "two", "/src/b.txt": "changed" });
    const third = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    const c = byName(third, "[2/3] COPY src/a.txt /");
    expect(third.comparedWith).toBe(second.id);
    expect(c.outcome.status).toBe("executed");
    if (c.outcome.status !== "executed") return;
    expect(c.outcome.miss).toEqual([
      { kind: "files-changed", input: 0, from: "[internal] load build context", changes: [expect.objectContaining({ kind: "modified", path: "/src/a.txt", fields: ["content"] })] },
    ]);
    expect(describeMiss(c.outcome.miss)).toEqual(['file "/src/a.txt" changed in [internal] load build context (content)']);
    const run = byName(third, "[3/3] RUN use-a").outcome;
    expect(run.status === "executed" && describeMiss(run.miss)).toEqual([
      "input [2/3] COPY src/a.txt / changed",
      '  file "/src/a.txt" changed in [internal] load build context (content)',
    ]);
    expect(worker.count("exec:use-a")).toBe(2);
    expect(explainBuild(third)).toEqual([
      "#1 [internal] load build context",
      '  file "/src/a.txt" changed in [internal] load build context (content)',
      "#2 [2/3] COPY src/a.txt /",
      '  file "/src/a.txt" changed in [internal] load build context (content)',
      "#3 [3/3] RUN use-a",
      "  input [2/3] COPY src/a.txt / changed (see #2)",
    ]);
  });

  it("renders a real build in BuildKit's plain format: run, then every step CACHED", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("a", { logs: [[1, "hello\n"]] });
    const solver = new Solver({ worker });
    const plain = async (): Promise<string> => {
      const { outcome, events } = await solve(solver, marshal(chain("a", "b")));
      await done(outcome);
      let out = "";
      const p = new PlainPrinter((t) => (out += t));
      for (const e of events) p.handle(e);
      return out.replace(/\d+\.\d+s/g, "X.Xs").replace(/#(\d) \d+\.\d+ /g, "#$1 T ");
    };
    expect(await plain()).toBe(
      ["#1 [1] FROM busybox", "#1 DONE X.Xs", "", "#2 RUN a", "#2 T hello", "#2 DONE X.Xs", "", "#3 RUN b", "#3 DONE X.Xs", ""].join("\n"),
    );
    expect(await plain()).toBe(["#1 [1] FROM busybox", "#1 CACHED", "", "#2 RUN a", "#2 CACHED", "", "#3 RUN b", "#3 CACHED", ""].join("\n"));
  });

  it("fails the COPY step itself when its source is missing, and says a context is sent every build", async () => {
    const worker = new FakeWorker();
    worker.locals.set("context", { "/src/b.txt": "b" });
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records });
    const { outcome } = await solve(solver, copyStep(), "Dockerfile");
    expect(outcome.kind).toBe("failed");
    if (outcome.kind !== "failed") return;
    const c = byName(outcome.record, "[2/3] COPY src/a.txt /");
    expect(c.outcome).toMatchObject({ status: "failed", error: { id: "HTK-CACHE-0006" } });
    expect(outcome.error.id).toBe("HTK-SOLVER-0001");
    expect(outcome.error.message).toContain("[2/3] COPY src/a.txt /");
    expect(outcome.record.error?.vertex).toBe(c.digest);
    expect(byName(outcome.record, "[3/3] RUN use-a").outcome).toMatchObject({ status: "skipped", reason: "dependency-failed" });
    expect(worker.liveRefs()).toEqual([]);

    worker.locals.set("context", { "/src/a.txt": "a" });
    await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    const again = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(byName(again, "[internal] load build context").outcome).toMatchObject({ status: "executed", miss: [{ kind: "always-runs" }] });
    expect(worker.liveRefs()).toEqual([]);
  });

  it("builds independent stages copied one after another in parallel (COPY --from=a, then --from=b)", async () => {
    const worker = new FakeWorker();
    for (const c of ["a", "b", "c"]) worker.behaviour.set(c, { delayMs: 60 });
    const solver = new Solver({ worker, concurrency: 4 });
    const stages = ["a", "b", "c"].map((c) => scratch().run({ args: ["/bin/true", c], customName: `stage ${c}` }).root());
    let final = scratch();
    for (const [i, st] of stages.entries()) final = final.file(copy(st, "/", `/out${i}/`), { customName: `COPY --from=${i}` });
    await done((await solve(solver, marshal(final))).outcome);
    // Each copy's key needs the one before it; the stages it reads must not wait for that.
    expect(worker.maxRunning).toBe(3);
    expect(worker.liveRefs()).toEqual([]);
  });

  it("does not build a stage whose results are gone when the COPY --from reading it hits by its fast key (a mode=min import)", async () => {
    const worker = new FakeWorker();
    const store = new MemoryKeyStore();
    const solver = new Solver({ worker, keyStore: store });
    const stage = chain("x", "y");
    const def = marshal(chain("base").file(copy(stage, "/ran/y", "/y"), { customName: "COPY --from=stage /ran/y /y" }));
    const first = await done((await solve(solver, def)).outcome);
    // What a mode=min cache holds: the final stage's records, none of the other stage's.
    for (const name of ["RUN x", "RUN y"]) {
      const key = byName(first, name).key?.key;
      if (key !== undefined) await store.delete(key);
    }
    const again = await done((await solve(solver, def)).outcome);
    expect(byName(again, "COPY --from=stage /ran/y /y").outcome.status).toBe("cached");
    expect(worker.count("exec:x")).toBe(1);
    expect(worker.count("exec:y")).toBe(1);
    expect(worker.liveRefs()).toEqual([]);
  });

  it("checksums a snapshot's selected paths once: a cached COPY --from is not re-hashed", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker });
    const stage = chain("x");
    const def = marshal(scratch().file(copy(stage, "/ran/x", "/x"), { customName: "COPY --from=stage /ran/x /x" }));
    await done((await solve(solver, def)).outcome);
    expect(worker.count("contentKey")).toBe(1);
    const r = await done((await solve(solver, def)).outcome);
    expect(byName(r, "COPY --from=stage /ran/x /x").outcome.status).toBe("cached");
    expect(worker.count("contentKey")).toBe(1);
    expect(worker.count("exec:x")).toBe(1);
    expect(worker.liveRefs()).toEqual([]);
  });

  it("hits a content-keyed step by its inputs' keys in a new process, without loading or hashing the input", async () => {
    const state = tmp();
    const worker = new FakeWorker();
    const def = (version: string): Definition =>
      marshal(
        scratch().file(copy(image("busybox", { customName: "[s 1/2] FROM busybox" }).run({ shell: "x", env: { VERSION: version }, customName: "[s 2/2] RUN x" }).root(), "/ran/x", "/x"), {
          customName: "[2/2] COPY --from=s /ran/x /x",
        }),
      );
    const open = (): Solver => new Solver({ worker, keyStore: JsonlKeyStore.open(state), records: new BuildRecordStore(join(state, "builds")) });
    const s1 = open();
    await done((await solve(s1, def("1"), "app")).outcome);
    await s1.close();
    const hashed = worker.count("contentKey");
    const loads = worker.count("loadRef");

    const s2 = open();
    const r2 = await done((await solve(s2, def("1"), "app")).outcome);
    expect(r2.vertices.map((v) => v.outcome.status)).toEqual(["cached", "cached", "cached"]);
    expect(worker.count("contentKey")).toBe(hashed);
    expect(worker.count("loadRef")).toBe(loads + 1);

    const r3 = await done((await solve(s2, def("2"), "app")).outcome);
    const c = byName(r3, "[2/2] COPY --from=s /ran/x /x").outcome;
    // The build before hit by the fast key and kept no checksum; the first build's is compared.
    expect(c.status === "executed" && describeMiss(c.miss)).toEqual(['file "/ran/x" changed in [s 2/2] RUN x (content)']);
    await s2.close();
    expect(worker.liveRefs()).toEqual([]);
  });

  it("keys a context in place when the worker can: a no-op rebuild never loads it (HTK-SOLVER-0006 if it changes under the build)", async () => {
    const worker = new FakeWorker();
    worker.inPlaceKeys = true;
    worker.locals.set("context", { "/src/a.txt": "one", "/src/b.txt": "b" });
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records });
    const first = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(first.vertices.map((v) => v.outcome.status)).toEqual(["executed", "executed", "executed"]);
    expect(worker.count("local:context")).toBe(1);

    const again = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(again.vertices.map((v) => v.outcome.status)).toEqual(["cached", "cached", "cached"]);
    expect(worker.count("local:context")).toBe(1);
    expect(worker.count("key-in-place:context")).toBe(2);

    worker.locals.set("context", { "/src/a.txt": "two", "/src/b.txt": "b" });
    const edited = await done((await solve(solver, copyStep(), "Dockerfile")).outcome);
    expect(worker.count("local:context")).toBe(2);
    expect(explainBuild(edited)).toEqual([
      "#1 [internal] load build context",
      '  file "/src/a.txt" changed in [internal] load build context (content)',
      "#2 [2/3] COPY src/a.txt /",
      '  file "/src/a.txt" changed in [internal] load build context (content)',
      "#3 [3/3] RUN use-a",
      "  input [2/3] COPY src/a.txt / changed (see #2)",
    ]);

    worker.locals.set("context", { "/src/a.txt": "three", "/src/b.txt": "b" });
    worker.afterSourceKey = () => worker.locals.set("context", { "/src/a.txt": "edited meanwhile", "/src/b.txt": "b" });
    const { outcome } = await solve(solver, copyStep(), "Dockerfile");
    expect(outcome.kind).toBe("failed");
    if (outcome.kind !== "failed") return;
    expect(byName(outcome.record, "[internal] load build context").outcome).toMatchObject({ status: "failed", error: { id: "HTK-SOLVER-0006" } });
    expect(worker.liveRefs()).toEqual([]);
  });

  it("names the changed field of a step (an ARG-derived env value)", async () => {
    const worker = new FakeWorker();
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records });
    const def = (v: string): Definition =>
      marshal(image("busybox", { customName: "[1/2] FROM busybox" }).run({ shell: "build", env: { VERSION: v }, customName: "[2/2] RUN build" }).root());
    await done((await solve(solver, def("1"), "app")).outcome);
    const r = await done((await solve(solver, def("2"), "app")).outcome);
    const o = byName(r, "[2/2] RUN build").outcome;
    expect(o.status).toBe("executed");
    if (o.status !== "executed") return;
    expect(o.miss).toEqual([{ kind: "op-changed", fields: [{ field: "env.VERSION", before: "1", after: "2" }] }]);
    expect(describeMiss(o.miss)).toEqual(['env.VERSION changed from "1" to "2"']);
  });

  it("finds the same step after another step was inserted before it (renumbered names)", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker, records: new BuildRecordStore(join(tmp(), "builds")) });
    const from = (): State => image("busybox", { customName: "[1/3] FROM busybox" });
    const before = marshal(from().run({ shell: "build", customName: "[2/2] RUN build" }).root());
    const after = marshal(
      from().run({ shell: "setup", customName: "[2/3] RUN setup" }).root().run({ shell: "build", customName: "[3/3] RUN build" }).root(),
    );
    await done((await solve(solver, before, "app")).outcome);
    const r = await done((await solve(solver, after, "app")).outcome);
    const o = byName(r, "[3/3] RUN build").outcome;
    expect(o.status === "executed" && describeMiss(o.miss)).toEqual(["input [2/3] RUN setup changed", "  the step is new (the earlier build had no such step)"]);
  });

  it("names a base image that moved to a new digest", async () => {
    const worker = new FakeWorker();
    const records = new BuildRecordStore(join(tmp(), "builds"));
    const solver = new Solver({ worker, records });
    const def = marshal(chain("a"));
    worker.images.set("docker.io/library/busybox:latest", `sha256:${"a".repeat(64)}`);
    await done((await solve(solver, def, "img")).outcome);
    worker.images.set("docker.io/library/busybox:latest", `sha256:${"b".repeat(64)}`);
    const r = await done((await solve(solver, def, "img")).outcome);
    const o = byName(r, "RUN a").outcome;
    expect(o.status === "executed" && describeMiss(o.miss)).toEqual([
      "input [1] FROM busybox changed",
      `  the image docker.io/library/busybox:latest now resolves to sha256:${"b".repeat(64)} (was sha256:${"a".repeat(64)})`,
    ]);
  });

  it("persists keys across solver instances (JSONL store) and records builds on disk", async () => {
    const state = tmp();
    const worker = new FakeWorker();
    const def = marshal(chain("a", "b"));
    const s1 = new Solver({ worker, keyStore: JsonlKeyStore.open(state), records: new BuildRecordStore(join(state, "builds")) });
    const r1 = await done((await solve(s1, def)).outcome);
    await s1.close();
    const records = new BuildRecordStore(join(state, "builds"));
    const s2 = new Solver({ worker, keyStore: JsonlKeyStore.open(state), records });
    const r2 = await done((await solve(s2, def)).outcome);
    expect(r2.vertices.map((v) => v.outcome.status)).toEqual(["cached", "cached", "cached"]);
    expect(worker.count("exec:a")).toBe(1);
    const listed = await records.list();
    expect(listed.map((r) => r.id)).toEqual([r2.id, r1.id]);
    expect(listed[0]).toMatchObject({ status: "completed", counts: { cached: 3 } });
    expect(listed[1]).toMatchObject({ counts: { executed: 3 } });
    expect((await records.get(r1.id))?.status).toBe("completed");
    expect(await records.remove(r1.id)).toBe(true);
    expect(await records.get(r1.id)).toBeUndefined();
    await s2.close();
  });

  it("reports a state folder it cannot write (HTK-SOLVER-0004)", async () => {
    const file = join(tmp(), "not-a-dir");
    writeFileSync(file, "x");
    const solver = new Solver({ worker: new FakeWorker(), records: new BuildRecordStore(join(file, "builds")) });
    const { outcome } = await solve(solver, marshal(chain("a")));
    expect(outcome.kind === "failed" && outcome.error.id).toBe("HTK-SOLVER-0004");
    expect(() => JsonlKeyStore.open(join(file, "state"))).toThrow(/HTK-SOLVER-0004/);
  });

  it("ignores the cache for a step marked ignore-cache and for what depends on it", async () => {
    const worker = new FakeWorker();
    const solver = new Solver({ worker, keyStore: new MemoryKeyStore() });
    const def = (ignore: boolean): Definition =>
      marshal(
        image("busybox", { customName: "from" })
          .run({ shell: "a", customName: "a", ignoreCache: ignore })
          .root()
          .run({ shell: "b", customName: "b" })
          .root(),
      );
    await done((await solve(solver, def(false))).outcome);
    const r = await done((await solve(solver, def(true))).outcome);
    expect(byName(r, "a").outcome).toMatchObject({ status: "executed", miss: [{ kind: "ignore-cache" }] });
    expect(byName(r, "b").outcome.status).toBe("executed");
    expect(worker.count("exec:b")).toBe(2);
  });
});

describe("build record files", () => {
  it("stores logs in full beside the record", async () => {
    const worker = new FakeWorker();
    worker.behaviour.set("hello", { logs: [[1, "hello\n"], [2, "warn\n"]] });
    const dir = join(tmp(), "builds");
    const solver = new Solver({ worker, records: new BuildRecordStore(dir) });
    const r = await done((await solve(solver, marshal(chain("hello")))).outcome);
    const v = byName(r, "RUN hello");
    expect(v.logFile).toBe(`vertex-${v.index}.log`);
    expect(readFileSync(join(dir, r.id, v.logFile ?? ""), "utf8")).toBe("hello\nwarn\n");
    expect(mkfile).toBeTypeOf("function");
  });
});

describe("the JSONL key store", () => {
  it("survives a torn last line and compacts when most lines are dead", async () => {
    const dir = tmp();
    const store = JsonlKeyStore.open(dir);
    const key = (i: number): `sha256:${string}` => `sha256:${i.toString(16).padStart(64, "0")}`;
    for (let i = 0; i < 1500; i++) await store.put({ key: key(i % 10), outputs: [`snap-${i}`], createdAt: "t", vertexName: "v" });
    await store.delete(key(9));
    await store.close();
    writeFileSync(join(dir, "cache-keys.jsonl"), `${readFileSync(join(dir, "cache-keys.jsonl"), "utf8")}{"op":"put","rec`);
    const reopened = JsonlKeyStore.open(dir);
    expect([...reopened.records()]).toHaveLength(9);
    expect(reopened.get(key(3))?.outputs).toEqual(["snap-1493"]);
    expect(reopened.get(key(9))).toBeUndefined();
    expect(readFileSync(join(dir, "cache-keys.jsonl"), "utf8").trim().split("\n")).toHaveLength(9);
    await reopened.close();
  });
});
