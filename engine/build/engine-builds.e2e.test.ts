import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { RegistryClient } from "../../base/registry/index.ts";
import { fixtures, tempDir } from "../../testing/index.ts";
import { ImageStore } from "../images/index.ts";
import { CrunRuntime } from "../runtime/index.ts";
import { Snapshotter } from "../snapshots/index.ts";
import { Builds, stepError, type BuildEvent, type BuildResult } from "./engine-builds.ts";
import { Writable } from "node:stream";

// The daemon's build service on real stores (crun, overlay snapshots, the local registry's busybox).
describe("Builds (the daemon's build service)", () => {
  let root: string;
  let builds: Builds;
  let images: ImageStore;
  let snapshotter: Snapshotter;
  let registry: RegistryClient;
  const { busybox } = fixtures();

  beforeAll(async () => {
    root = await tempDir("engine-builds");
    const dataRoot = join(root, "data");
    snapshotter = await Snapshotter.open({ root: join(dataRoot, "snapshots") });
    images = await ImageStore.openAt(dataRoot);
    registry = new RegistryClient({});
    const runtime = new CrunRuntime({ dataRoot });
    const log = createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "warn");
    builds = await Builds.open({ dataRoot, parts: { snapshotter, images, runtime, registry }, maxParallelBuilds: 1, log });
  });

  afterAll(async () => {
    await builds.close();
    await registry.close();
    await snapshotter.close();
  });

  async function context(dockerfile: string, files: Record<string, string> = {}): Promise<string> {
    const dir = join(await tempDir("ctx"), "ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    for (const [p, text] of Object.entries(files)) writeFileSync(join(dir, p), text);
    return dir;
  }

  function completed(r: BuildResult): Extract<BuildResult, { kind: "completed" }> {
    if (r.kind !== "completed") throw new Error(`build ${r.kind}: ${JSON.stringify(r.kind === "failed" ? r.error.toJSON() : r)}`);
    return r;
  }

  it("builds into the image store with its tags; a rebuild is cached and gives the same image", async () => {
    const dir = await context(`FROM ${busybox.reference}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copy.txt\nENV GREETING=hi\nCMD ["cat", "/copy.txt"]\n`, { "hello.txt": "hello\n" });
    const events: BuildEvent["kind"][] = [];
    const first = completed(await builds.solve({ context: dir, tags: ["builds-test/app:1"], signal: new AbortController().signal, onEvent: (e) => void events.push(e.kind) }));
    expect(events.slice(0, 3)).toEqual(["queued", "started", "compiled"]);
    expect(events).toContain("progress");
    expect(events.at(-1)).toBe("exported");
    expect(first.image).toBeDefined();
    const rec = images.resolve("builds-test/app:1");
    expect(rec.config.digest).toBe(first.image?.id);
    const inspect = await images.inspect("builds-test/app:1");
    expect(inspect.Config?.Env).toContain("GREETING=hi");
    expect(inspect.Created).not.toBe("");

    const second = completed(await builds.solve({ context: dir, tags: ["builds-test/app:1"], signal: new AbortController().signal }));
    expect(second.image?.id).toBe(first.image?.id);
    expect(second.record.vertices.some((v) => v.outcome.status === "executed")).toBe(false);
    expect((await builds.history()).length).toBeGreaterThanOrEqual(2);
    expect((await builds.record(second.id)).status).toBe("completed");
    await expect(builds.record("no-such-record")).rejects.toMatchObject({ id: "HTK-ENGINE-0552" });
  });

  it("a failing RUN is a failed result with the exit code; a duplicate build id is refused", async () => {
    const dir = await context(`FROM ${busybox.reference}\nRUN exit 3\n`);
    const r = await builds.solve({ context: dir, signal: new AbortController().signal });
    expect(r.kind).toBe("failed");
    if (r.kind === "failed") {
      expect(r.error.id).toBe("HTK-SOLVER-0001");
      expect(stepError(r.error).id).toBe("HTK-BUILD-0100");
      expect(stepError(r.error).params["code"]).toBe(3);
    }
    const slow = await context(`FROM ${busybox.reference}\nRUN sleep 30\n`);
    const running = builds.solve({ context: slow, id: "dup-id-1", noCache: true, signal: new AbortController().signal });
    await expect(builds.solve({ context: slow, id: "dup-id-1", signal: new AbortController().signal })).rejects.toMatchObject({ id: "HTK-ENGINE-0551" });
    // cancel(id) ends it; a second build waits for the one slot meanwhile and then runs.
    const queued = builds.solve({ context: dir, id: "after-1", signal: new AbortController().signal });
    while (builds.active().find((b) => b.id === "dup-id-1")?.state !== "running") await new Promise((r2) => setTimeout(r2, 50));
    expect(builds.active().find((b) => b.id === "after-1")?.state).toBe("queued");
    expect(builds.cancel("dup-id-1")).toBe(true);
    expect((await running).kind).toBe("canceled");
    expect((await queued).kind).toBe("failed");
    expect(builds.cancel("no-such-build")).toBe(false);
  });

  it("an aborted signal cancels a queued build before it starts", async () => {
    const dir = await context(`FROM ${busybox.reference}\nRUN true\n`);
    const ac = new AbortController();
    ac.abort();
    expect((await builds.solve({ context: dir, signal: ac.signal })).kind).toBe("canceled");
  });

  it("disk usage lists the cache and prune removes what no image or container holds", async () => {
    const before = await builds.diskUsage();
    expect(before.records.length).toBeGreaterThan(0);
    const pruned = await builds.prune({ all: true, signal: new AbortController().signal });
    expect(pruned.removed.length).toBeGreaterThan(0);
    // The built image still exists and a rebuild works after the prune.
    expect(images.lookup("builds-test/app:1")).toBeDefined();
    const dir = await context(`FROM ${busybox.reference}\nRUN echo again > /again\n`);
    completed(await builds.solve({ context: dir, signal: new AbortController().signal }));
  });

  it("a closed service takes no builds (HTK-ENGINE-0550)", async () => {
    const dataRoot = join(root, "data2");
    const log = createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "warn");
    const snaps = await Snapshotter.open({ root: join(dataRoot, "snapshots") });
    const imgs = await ImageStore.openAt(dataRoot);
    const other = await Builds.open({ dataRoot, parts: { snapshotter: snaps, images: imgs, runtime: new CrunRuntime({ dataRoot }), registry }, maxParallelBuilds: 2, log });
    await other.close();
    await expect(other.solve({ context: dataRoot, signal: new AbortController().signal })).rejects.toMatchObject({ id: "HTK-ENGINE-0550" });
    await snaps.close();
  });
});
