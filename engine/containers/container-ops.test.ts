import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { isHtkError } from "../../base/errors/index.ts";
import type { CrunRuntime } from "../runtime/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import type { ImageStore } from "../images/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import { ContainerOps, runtimeResources } from "./container-ops.ts";
import type { ContainerManager } from "./manager.ts";

/** ContainerOps on a real state store, with a runtime that fails and a manager that says the container runs. */
function opsWith(t: TestStore, runtime: Partial<CrunRuntime>, images: Partial<ImageStore> = {}): ContainerOps {
  const containers = { running: (ref: string) => ({ id: t.store.containers.resolve(ref).id, pid: 4242 }) } as unknown as ContainerManager;
  return new ContainerOps({ state: t.store, runtime: runtime as CrunRuntime, snapshots: {} as Snapshotter, images: images as ImageStore, containers, log: createLogger({ write: () => true } as unknown as NodeJS.WritableStream, "error") });
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isHtkError(err)) return `${err.id} ${err.http} ${err.plainCause}`;
    throw err;
  }
  return "no error";
}

describe("ContainerOps with a failing runtime", () => {
  let t: TestStore | undefined;
  afterEach(() => t?.close());

  it("pause and unpause failures carry Docker's text (HTK-ENGINE-0508) and leave the state alone", async () => {
    t = testStore();
    const c = t.store.containers.start(t.store.containers.create(spec()), { pid: 4242 });
    const ops = opsWith(t, {
      pause: () => Promise.reject(new Error("freezer: device busy")),
      resume: () => Promise.reject(new Error("not frozen")),
    });
    expect(await failure(ops.pause(c.id))).toBe(`HTK-ENGINE-0508 500 Cannot pause container ${c.id}: freezer: device busy`);
    expect(t.store.containers.get(c.id)?.status).toBe("running");
    t.store.containers.pause(t.store.containers.get(c.id) as never);
    expect(await failure(ops.unpause(c.id))).toBe(`HTK-ENGINE-0508 500 Cannot unpause container ${c.id}: not frozen`);
    expect(t.store.containers.get(c.id)?.status).toBe("paused");
  });

  it("an update the cgroups refuse is an error (HTK-ENGINE-0511) and the previous HostConfig comes back", async () => {
    t = testStore();
    const c = t.store.containers.start(t.store.containers.create(spec({ hostConfig: { NetworkMode: "bridge", CpuShares: 100 } })), { pid: 4242 });
    const ops = opsWith(t, { update: () => Promise.reject(new Error("writing file `cpuset.cpus`: Invalid argument")) });
    expect(await failure(ops.update(c.id, { resources: { CpusetCpus: "7", CpuShares: 512 } }))).toBe(
      `HTK-ENGINE-0511 500 Cannot update container ${c.id}: writing file \`cpuset.cpus\`: Invalid argument`,
    );
    expect(t.store.containers.get(c.id)?.hostConfig).toMatchObject({ CpuShares: 100, CpusetCpus: null });
  });

  it("Docker's update conflicts (HTK-ENGINE-0510)", async () => {
    t = testStore();
    const c = t.store.containers.create(spec({ hostConfig: { NetworkMode: "bridge", NanoCpus: 1e9, Memory: 64 << 20 } }));
    const ops = opsWith(t, {});
    expect(await failure(ops.update(c.id, { resources: { CpuPeriod: 50000 } }))).toBe(
      `HTK-ENGINE-0510 409 Cannot update container ${c.id}: Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set`,
    );
    expect(await failure(ops.update(c.id, { resources: { Memory: 256 << 20 } }))).toContain("Memory limit should be smaller than already set memoryswap limit");
    // Not running: the new values are only recorded.
    expect(await ops.update(c.id, { resources: { Memory: 100 << 20 } })).toEqual({ Warnings: [] });
    expect(t.store.containers.get(c.id)?.hostConfig["Memory"]).toBe(100 << 20);
  });

  it("the cgroup values of an update: the merged limits, and 'max' pids for unlimited", () => {
    expect(runtimeResources({ Memory: 64 << 20, PidsLimit: 40, CpuShares: 512 }, {})).toEqual({ memory: { limit: 64 << 20, swap: 128 << 20 }, cpu: { shares: 512 }, pids: { limit: 40 } });
    expect(runtimeResources({ PidsLimit: 0 }, { PidsLimit: 0 })).toEqual({ pids: { limit: -1 } });
  });
  it("commit refuses a dead container or one being removed (HTK-ENGINE-0524), and needs the container's image (HTK-ENGINE-0525)", async () => {
    t = testStore();
    const request = { applyChanges: (b: Readonly<Record<string, unknown>>) => ({ ...b }), author: "", comment: "", pause: false, dockerVersion: "" };
    const removing = t.store.containers.beginRemoval(t.store.containers.create(spec()));
    const ops = opsWith(t, {}, { get: () => undefined });
    expect(await failure(ops.commit(removing.id, request, new AbortController().signal))).toBe(`HTK-ENGINE-0524 409 You cannot commit container ${removing.id} which is being removed`);
    t.store.containers.markDead(removing, { error: "busy" });
    expect(await failure(ops.commit(removing.id, request, new AbortController().signal))).toBe(`HTK-ENGINE-0524 409 You cannot commit container ${removing.id} which is Dead`);
    const orphan = t.store.containers.create(spec());
    expect(await failure(ops.commit(orphan.id, request, new AbortController().signal))).toContain("HTK-ENGINE-0525 404");
  });
});
