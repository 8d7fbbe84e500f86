import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { sha256Hex } from "./db.ts";
import { spec, testStore, type TestStore } from "./test-support.ts";
import { RefCounter } from "../../cache/index.ts";
import type { ImageRecord, ImageStatePersistence, ImageStoreState } from "../images/types.ts";
import { ImageStateTable } from "./images.ts";
import type { NetworkRecord, VolumeRecord } from "./types.ts";

let t: TestStore;
beforeEach(() => {
  t = testStore();
});
afterEach(() => t.close());

function error(fn: () => unknown): { id: string; cause: string; http: number } {
  try {
    fn();
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, cause: err.plainCause, http: err.http };
    throw err;
  }
  throw new Error("expected an error");
}

const volume = (name: string, anonymous = false): VolumeRecord => ({
  name,
  driver: "local",
  labels: { owner: "test" },
  options: {},
  mountpoint: `/data/volumes/${name}/_data`,
  createdAt: "2024-01-01T00:00:00Z",
  anonymous,
  scope: "local",
});

const network = (name: string, id = sha256Hex(name)): NetworkRecord => ({
  id,
  name,
  driver: "bridge",
  scope: "local",
  created: "2024-01-01T00:00:00Z",
  ipam: { Driver: "default", Config: [{ Subnet: "172.20.0.0/16", Gateway: "172.20.0.1" }], Options: {} },
  labels: {},
  options: {},
  internal: false,
  attachable: true,
  ingress: false,
  enableIPv6: false,
});

describe("exec instances", () => {
  it("create, start, exit, inspect; gone with the container; unknown → HTK-ENGINE-0119", () => {
    const cs = t.store.containers;
    const c = cs.start(cs.create(spec()), { pid: 10 });
    const e = t.store.execs.create(c, { Cmd: ["sh", "-c", "echo hi"], AttachStdout: true, Tty: false });
    expect(t.store.execs.get(e.id)).toMatchObject({ running: false, exitCode: null, containerId: c.id });
    t.store.execs.started(e, c, 77);
    expect(t.store.execs.idsOf(c.id)).toEqual([e.id]);
    const done = t.store.execs.exited(t.store.execs.get(e.id), c, 2);
    expect(t.store.execs.inspectJson(done)).toMatchObject({
      ID: e.id,
      ContainerID: c.id,
      Running: false,
      ExitCode: 2,
      Pid: 77,
      OpenStdout: true,
      ProcessConfig: { entrypoint: "sh", arguments: ["-c", "echo hi"], tty: false, privileged: false, user: "" },
    });
    // Ended: gone from the container's ExecIDs (as Docker), still inspectable.
    expect(t.store.execs.idsOf(c.id)).toEqual([]);
    const actions = t.store.events.query({ filters: { event: ["exec_create", "exec_start", "exec_die"] } }).map((x) => x.event.Action);
    expect(actions).toEqual(["exec_create: sh -c echo hi", "exec_start: sh -c echo hi", "exec_die"]);
    // Docker's quirk: no arguments leaves a trailing space.
    t.store.execs.create(c, { Cmd: ["top"] });
    expect(t.store.events.query({ filters: { event: ["exec_create"] } }).at(-1)?.event.Action).toBe("exec_create: top ");
    const exited = cs.exit(c, { exitCode: 0 });
    cs.remove(exited);
    expect(error(() => t.store.execs.get(e.id))).toEqual({ id: "HTK-ENGINE-0119", cause: `No such exec instance: ${e.id}`, http: 404 });
  });
});

describe("images' metadata and leases (the image store's and RefCounter's persistence)", () => {
  const id1 = `sha256:${"1".repeat(64)}` as const;
  const id2 = `sha256:${"2".repeat(64)}` as const;
  const record = (id: typeof id1 | typeof id2, parent?: string): ImageRecord => ({
    id,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: id, size: 100 },
    manifests: [],
    layers: [{ diffId: `sha256:${"d".repeat(64)}`, contentSize: 10 }],
    platform: { os: "linux", architecture: "amd64" },
    created: "2024-01-02T03:04:05Z",
    ...(parent === undefined ? {} : { parent: parent as typeof id1 }),
    labels: { a: "b" },
    addedAt: "2024-01-03T00:00:00Z",
  });

  it("implements engine/images' ImageStatePersistence: save writes the changes, load reads them back", () => {
    const persistence: ImageStatePersistence = new ImageStateTable<ImageStoreState>(t.store.ctx);
    expect(persistence.load()).toBeUndefined();
    const state: ImageStoreState = {
      version: 1,
      images: { [id1]: record(id1), [id2]: record(id2, id1) },
      references: { "docker.io/library/app:1": id1, "docker.io/library/app:latest": id2, "docker.io/library/gone:1": `sha256:${"9".repeat(64)}` },
    };
    persistence.save(state);
    expect(persistence.load()).toEqual({ ...state, references: { "docker.io/library/app:1": id1, "docker.io/library/app:latest": id2 } });
    // Untag one, delete the other image (its references go with it).
    persistence.save({ version: 1, images: { [id2]: record(id2, id1) }, references: { "docker.io/library/app:latest": id2 } });
    expect(persistence.load()).toEqual({ version: 1, images: { [id2]: record(id2, id1) }, references: { "docker.io/library/app:latest": id2 } });
    persistence.save({ version: 1, images: {}, references: {} });
    expect(persistence.load()).toBeUndefined();
  });

  it("implements cache's LeasePersistence: a RefCounter's durable leases survive a restart", () => {
    const key = { kind: "blob" as const, digest: id1 };
    const refs = new RefCounter({ persistence: t.store.leases });
    t.store.leases.batch(() => {
      refs.acquire(key, { owner: "image:x", durable: true });
      refs.acquire(key, { owner: "image:y", durable: true });
      refs.acquire(key, { owner: "build", durable: false });
    });
    expect(refs.count(key)).toBe(3);
    const again = new RefCounter({ persistence: t.store.leases });
    expect(again.count(key)).toBe(2);
    const [first] = again.liveLeases({ durable: true });
    again.release(first?.id ?? "");
    expect(new RefCounter({ persistence: t.store.leases }).count(key)).toBe(1);
  });
});

describe("volumes", () => {
  it("create is idempotent, in use → HTK-ENGINE-0123, unknown → HTK-ENGINE-0122", () => {
    const vs = t.store.volumes;
    vs.create(volume("data"));
    expect(vs.create({ ...volume("data"), labels: {} }).labels).toEqual({ owner: "test" });
    vs.create(volume("anon1", true));
    const mount = { Type: "volume" as const, Name: "data", Source: "/x", Destination: "/data", Mode: "z", RW: true, Propagation: "" };
    const c = t.store.containers.create(spec({ mounts: [mount] }));
    expect(vs.unused()).toEqual(["anon1"]);
    expect(error(() => vs.remove("data"))).toEqual({ id: "HTK-ENGINE-0123", cause: `remove data: volume is in use - [${c.id}]`, http: 409 });
    expect(error(() => t.store.containers.create(spec({ mounts: [{ ...mount, Name: "nosuch" }] })))).toEqual({
      id: "HTK-ENGINE-0122",
      cause: "get nosuch: no such volume",
      http: 404,
    });
    t.store.containers.remove(c);
    vs.remove("data");
    expect(vs.list().map((v) => [v.name, v.anonymous])).toEqual([["anon1", true]]);
    expect(error(() => vs.get("data"))).toMatchObject({ id: "HTK-ENGINE-0122" });
    expect(t.store.events.query({ filters: { type: ["volume"] } }).map((e) => e.event.Action)).toEqual(["create", "create", "destroy"]);
  });
});

describe("networks", () => {
  it("create, resolve, connect, disconnect, remove with Docker's errors", () => {
    const ns = t.store.networks;
    const front = ns.create(network("front"));
    expect(error(() => ns.create(network("front", "f".repeat(64))))).toEqual({
      id: "HTK-ENGINE-0125",
      cause: "network with name front already exists",
      http: 409,
    });
    expect(ns.resolve("front").id).toBe(front.id);
    expect(ns.resolve(front.id.slice(0, 6)).ipam.Config[0]?.Subnet).toBe("172.20.0.0/16");
    expect(error(() => ns.resolve("back"))).toEqual({ id: "HTK-ENGINE-0124", cause: "network back not found", http: 404 });
    const c = t.store.containers.create(spec());
    ns.connect(front, { networkId: front.id, containerId: c.id, endpointId: "e1", macAddress: "02:42:ac:14:00:02", ipv4Address: "172.20.0.2/16", ipv6Address: "", aliases: ["web"] });
    expect(ns.endpoints(front.id)).toHaveLength(1);
    expect(ns.endpointsOfContainer(c.id)[0]?.aliases).toEqual(["web"]);
    expect(error(() => ns.remove(front))).toEqual({
      id: "HTK-ENGINE-0126",
      cause: `error while removing network: network front id ${front.id} has active endpoints`,
      http: 403,
    });
    expect(ns.disconnect(front, c.id)).toBe(true);
    expect(ns.disconnect(front, c.id)).toBe(false);
    ns.remove(front);
    expect(ns.list()).toEqual([]);
    const actions = t.store.events.query({ filters: { type: ["network"] } }).map((e) => [e.event.Action, e.event.Actor.Attributes["container"] ?? ""]);
    expect(actions).toEqual([
      ["create", ""],
      ["connect", c.id],
      ["disconnect", c.id],
      ["destroy", ""],
    ]);
  });

  it("drops a removed container's endpoints with it", () => {
    const ns = t.store.networks;
    const front = ns.create(network("front"));
    const c = t.store.containers.create(spec());
    ns.connect(front, { networkId: front.id, containerId: c.id, endpointId: "e1", macAddress: "", ipv4Address: "", ipv6Address: "", aliases: [] });
    t.store.containers.remove(c);
    expect(ns.endpoints(front.id)).toEqual([]);
    ns.remove(front);
  });
});
