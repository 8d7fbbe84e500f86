import { existsSync, linkSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import {
  ANONYMOUS_LABEL,
  directorySize,
  ensureVolume,
  localVolumeMount,
  prunableVolumes,
  pruneVolumes,
  ramInBytes,
  removeVolume,
  validateLocalOptions,
  validateVolumeName,
  volumeDataPath,
  type VolumeHost,
} from "./index.ts";

function failure(fn: () => unknown): { id: string; cause: string; http: number | undefined } | undefined {
  try {
    fn();
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, cause: err.plainCause, http: err.http };
    throw err;
  }
  return undefined;
}

async function asyncFailure(p: Promise<unknown>): Promise<{ id: string; cause: string; http: number | undefined } | undefined> {
  try {
    await p;
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, cause: err.plainCause, http: err.http };
    throw err;
  }
  return undefined;
}

describe("the local driver's rules (volume/local)", () => {
  it("validates names as Docker: one character is too short, others list the allowed characters", () => {
    expect(failure(() => validateVolumeName("a"))).toEqual({
      id: "HTK-ENGINE-0454",
      cause: "create a: volume name is too short, names should be at least two alphanumeric characters",
      http: 400,
    });
    expect(failure(() => validateVolumeName("hello world"))).toEqual({
      id: "HTK-ENGINE-0455",
      cause:
        'create hello world: "hello world" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
      http: 400,
    });
    expect(failure(() => validateVolumeName(".hidden"))?.id).toBe("HTK-ENGINE-0455");
    expect(failure(() => validateVolumeName("../up"))?.id).toBe("HTK-ENGINE-0455");
    expect(failure(() => validateVolumeName("ab"))).toBeUndefined();
    expect(failure(() => validateVolumeName("my_vol-1.2"))).toBeUndefined();
  });

  it("validates driver options as Docker's validateOpts (TestVolCreateValidation's cases)", () => {
    expect(failure(() => validateLocalOptions("v", { foo: "x" }))).toEqual({ id: "HTK-ENGINE-0456", cause: 'create v: invalid option: "foo"', http: 400 });
    expect(failure(() => validateLocalOptions("v", { device: "foo" }))).toEqual({ id: "HTK-ENGINE-0457", cause: 'create v: missing required option: "type"', http: 400 });
    expect(failure(() => validateLocalOptions("v", { type: "foo" }))?.cause).toBe('create v: missing required option: "device"');
    expect(failure(() => validateLocalOptions("v", { o: "foo", type: "foo" }))?.cause).toBe('create v: missing required option: "device"');
    expect(failure(() => validateLocalOptions("v", { o: "foo", device: "foo" }))?.cause).toBe('create v: missing required option: "type"');
    expect(failure(() => validateLocalOptions("v", { size: "1234" }))).toEqual({ id: "HTK-ENGINE-0458", cause: "create v: quota size requested but no quota support", http: 400 });
    expect(failure(() => validateLocalOptions("v", { size: "lots" }))).toEqual({ id: "HTK-ENGINE-0490", cause: "create v: invalid size: 'lots'", http: 400 });
    for (const ok of [{}, { type: "none", o: "bind", device: "/srv" }, { type: "tmpfs", device: "tmpfs", o: "size=100m,uid=1000" }, { type: "foo", device: "foo" }, { size: "0" }]) {
      expect(failure(() => validateLocalOptions("v", ok)), JSON.stringify(ok)).toBeUndefined();
    }
  });

  it("parses sizes as go-units RAMInBytes", () => {
    expect(ramInBytes("512")).toBe(512);
    expect(ramInBytes("100m")).toBe(100 * 1024 * 1024);
    expect(ramInBytes("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(ramInBytes("1 kb")).toBe(1024);
    expect(ramInBytes("m")).toBeUndefined();
  });
});

describe("volumes on disk", () => {
  let t: TestStore;
  let host: VolumeHost;
  beforeEach(() => {
    t = testStore();
    host = { state: t.store, dataRoot: t.dataRoot };
  });
  afterEach(() => t.close());

  it("creates the folder and the record once; a second create returns the volume unchanged", async () => {
    const first = await ensureVolume(host, { name: "data", labels: { team: "a" }, options: {} });
    expect(first.created).toBe(true);
    expect(first.volume).toMatchObject({ name: "data", driver: "local", labels: { team: "a" }, scope: "local", anonymous: false });
    expect(first.volume.mountpoint).toBe(join(t.dataRoot, "volumes", "data", "_data"));
    expect(statSync(first.volume.mountpoint).isDirectory()).toBe(true);
    expect(statSync(join(t.dataRoot, "volumes")).mode & 0o777).toBe(0o701);
    expect(first.volume.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const again = await ensureVolume(host, { name: "data", labels: { team: "b" } });
    expect(again).toEqual({ volume: first.volume, created: false });
    expect(t.store.events.query({ filters: { type: ["volume"] } }).map((e) => [e.event.Action, e.event.Actor.ID, e.event.Actor.Attributes])).toEqual([
      ["create", "data", { driver: "local" }],
    ]);
  });

  it("names anonymous volumes with 64 hex digits and labels them", async () => {
    const { volume } = await ensureVolume(host, {});
    expect(volume.name).toMatch(/^[0-9a-f]{64}$/);
    expect(volume.labels).toEqual({ [ANONYMOUS_LABEL]: "" });
    expect(volume.anonymous).toBe(true);
    expect(existsSync(volumeDataPath(t.dataRoot, volume.name))).toBe(true);
  });

  it("refuses other drivers with Docker's plugin-not-found text and creates nothing", async () => {
    expect(await asyncFailure(ensureVolume(host, { name: "x1", driver: "nfs" }))).toEqual({
      id: "HTK-ENGINE-0453",
      cause: 'create x1: error looking up volume plugin nfs: plugin "nfs" not found',
      http: 404,
    });
    expect(await asyncFailure(ensureVolume(host, { name: "x2", options: { device: "/srv" } }))).toMatchObject({ id: "HTK-ENGINE-0457" });
    expect(existsSync(join(t.dataRoot, "volumes", "x1"))).toBe(false);
    expect(existsSync(join(t.dataRoot, "volumes", "x2"))).toBe(false);
    expect(t.store.volumes.list()).toEqual([]);
  });

  it("describes how a container gets the data: the folder, or a mount of the device with type and o", async () => {
    const plain = (await ensureVolume(host, { name: "plain" })).volume;
    const bind = (await ensureVolume(host, { name: "bound", options: { type: "none", o: "bind", device: "/srv/x" } })).volume;
    const tmp = (await ensureVolume(host, { name: "scratch", options: { type: "tmpfs", device: "tmpfs", o: "size=64m" } })).volume;
    expect(localVolumeMount(t.dataRoot, plain)).toEqual({ kind: "directory", path: volumeDataPath(t.dataRoot, "plain") });
    expect(localVolumeMount(t.dataRoot, bind)).toEqual({ kind: "mount", target: volumeDataPath(t.dataRoot, "bound"), device: "/srv/x", fsType: "none", options: "bind" });
    expect(localVolumeMount(t.dataRoot, tmp)).toMatchObject({ kind: "mount", device: "tmpfs", fsType: "tmpfs", options: "size=64m" });
  });

  it("removes folder and record; in use is Docker's conflict (force too), force makes a missing volume fine", async () => {
    const { volume } = await ensureVolume(host, { name: "data" });
    writeFileSync(join(volume.mountpoint, "file"), "x");
    const c = t.store.containers.create(spec({ mounts: [{ Type: "volume", Name: "data", Source: volume.mountpoint, Destination: "/d", Mode: "z", RW: true, Propagation: "" }] }));
    expect(await asyncFailure(removeVolume(host, "data", { force: true }))).toEqual({
      id: "HTK-ENGINE-0123",
      cause: `remove data: volume is in use - [${c.id}]`,
      http: 409,
    });
    t.store.containers.remove(c);
    expect(await removeVolume(host, "data")).toBe(true);
    expect(existsSync(join(t.dataRoot, "volumes", "data"))).toBe(false);
    expect(await asyncFailure(removeVolume(host, "data"))).toEqual({ id: "HTK-ENGINE-0122", cause: "get data: no such volume", http: 404 });
    expect(await removeVolume(host, "data", { force: true })).toBe(false);
  });

  it("serialises a create and a remove of one name", async () => {
    await ensureVolume(host, { name: "race" });
    const [removed, created] = await Promise.all([removeVolume(host, "race"), ensureVolume(host, { name: "race" })]);
    expect(removed).toBe(true);
    expect(created.created).toBe(true);
    expect(existsSync(volumeDataPath(t.dataRoot, "race"))).toBe(true);
  });

  it("measures sizes as Docker's directory.Size: file sizes, hard links once, directories not counted", async () => {
    const dir = join(t.dataRoot, "sized");
    mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
    writeFileSync(join(dir, "a"), "12345");
    writeFileSync(join(dir, "sub", "b"), "123");
    linkSync(join(dir, "sub", "b"), join(dir, "sub", "deeper", "b-again"));
    writeFileSync(join(dir, "empty"), "");
    expect(await directorySize(dir)).toBe(8);
    expect(await directorySize(join(t.dataRoot, "nothing-here"))).toBe(0);
  });
});

describe("prune", () => {
  let t: TestStore;
  let host: VolumeHost;
  beforeEach(() => {
    t = testStore();
    host = { state: t.store, dataRoot: t.dataRoot };
  });
  afterEach(() => t.close());

  it("selects anonymous unused local volumes without options unless all=true, with label and label! filters", async () => {
    const anon = (await ensureVolume(host, { labels: { keep: "no" } })).volume;
    const named = (await ensureVolume(host, { name: "named", labels: { keep: "yes" } })).volume;
    const opts = (await ensureVolume(host, { name: "opts", options: { type: "tmpfs", device: "tmpfs" } })).volume;
    const used = (await ensureVolume(host, { name: "used" })).volume;
    const all = t.store.volumes.list();
    const inUse = new Set([used.name]);
    expect(prunableVolumes(all, {}, inUse).map((v) => v.name)).toEqual([anon.name]);
    expect(prunableVolumes(all, { all: ["true"] }, inUse).map((v) => v.name).sort()).toEqual([anon.name, named.name].sort());
    expect(prunableVolumes(all, { all: ["1"], label: ["keep=yes"] }, inUse).map((v) => v.name)).toEqual([named.name]);
    expect(prunableVolumes(all, { all: ["true"], "label!": ["keep"] }, inUse).map((v) => v.name)).toEqual([]);
    expect(prunableVolumes(all, { all: ["false"] }, inUse).map((v) => v.name)).toEqual([anon.name]);
    expect(opts.options).toEqual({ type: "tmpfs", device: "tmpfs" });
    expect(failure(() => prunableVolumes(all, { all: ["maybe"] }, inUse))).toEqual({
      id: "HTK-ENGINE-0460",
      cause: "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax",
      http: 400,
    });
    expect(failure(() => prunableVolumes(all, { all: ["true", "false"] }, inUse))).toEqual({
      id: "HTK-ENGINE-0461",
      cause: "invalid filter 'all=[true false]': only one value is expected",
      http: 400,
    });
    expect(failure(() => prunableVolumes(all, { dangling: ["true"] }, inUse))?.id).toBe("HTK-ENGINE-0116");
  });

  it("removes them, reports the space and records Docker's prune event; one prune at a time", async () => {
    const anon = (await ensureVolume(host, {})).volume;
    writeFileSync(join(anon.mountpoint, "f"), "0123456789");
    await ensureVolume(host, { name: "named" });
    const [a, b] = await Promise.allSettled([pruneVolumes(host, {}), pruneVolumes(host, {})]);
    expect(a).toEqual({ status: "fulfilled", value: { VolumesDeleted: [anon.name], SpaceReclaimed: 10 } });
    expect(b.status === "rejected" && isHtkError(b.reason) ? b.reason.id : b.status).toBe("HTK-ENGINE-0459");
    expect(t.store.volumes.list().map((v) => v.name)).toEqual(["named"]);
    const events = t.store.events.query({ filters: { type: ["volume"] } }).map((e) => [e.event.Action, e.event.Actor.ID, e.event.Actor.Attributes]);
    expect(events.slice(-2)).toEqual([
      ["destroy", anon.name, { driver: "local" }],
      ["prune", "", { reclaimed: "10" }],
    ]);
  });
});
