import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { filterContainers } from "./container-filters.ts";
import { inspectJson, statusText, summaryJson } from "./container-json.ts";
import { parseFilters } from "./filters.ts";
import { generateId, randomName, shortId } from "./names.ts";
import { spec, testStore, type TestStore } from "./test-support.ts";
import type { Container } from "./types.ts";

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

describe("IDs and names", () => {
  it("makes 64-hex IDs whose short form is never all digits", () => {
    expect(generateId()).toMatch(/^[0-9a-f]{64}$/);
    // A source that first yields an all-digit short ID: Docker draws again.
    let n = 0;
    const id = generateId((len) => Buffer.from((n++ === 0 ? "123456789012" : "abcdef012345").padEnd(len * 2, "0"), "hex"));
    expect(shortId(id)).toBe("abcdef012345");
    expect(shortId(`sha256:${id}`)).toBe("abcdef012345");
  });

  it("makes adjective_surname names, with a digit on retries", () => {
    expect(randomName(0)).toMatch(/^[a-z]+_[a-z]+$/);
    expect(randomName(3)).toMatch(/^[a-z]+_[a-z]+\d$/);
  });

  it("gives a random name and falls back to the short ID when every try collides", () => {
    const c = t.store.containers.create(spec());
    expect(c.name).toMatch(/^\/[a-z]+_[a-z]+\d?$/);
    const fixed = (): number => 0;
    expect([0, 1].map((attempt) => randomName(attempt, fixed))).toEqual(["amber_arber", "amber_arber0"]);
  });

  it("retries a taken random name, then falls back to the short ID (Docker's generateNewName)", () => {
    t.close();
    const tries: number[] = [];
    t = testStore({ randomName: (attempt) => (tries.push(attempt), attempt < 2 ? "same_name" : `same_name${attempt}`) });
    expect(t.store.containers.create(spec()).name).toBe("/same_name");
    expect(t.store.containers.create(spec()).name).toBe("/same_name2");
    t.close();
    t = testStore({ randomName: () => "always_taken" });
    t.store.containers.create(spec());
    const c = t.store.containers.create(spec());
    expect(c.name).toBe(`/${c.id.slice(0, 12)}`);
  });

  it("keeps Docker's name rules and texts", () => {
    const web = t.store.containers.create(spec({ name: "web" }));
    expect(web.name).toBe("/web");
    expect(t.store.containers.create(spec({ name: "/db.1_x-y" })).name).toBe("/db.1_x-y");
    expect(error(() => t.store.containers.create(spec({ name: "web" })))).toEqual({
      id: "HTK-ENGINE-0104",
      cause: `Conflict. The container name "/web" is already in use by container "${web.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      http: 409,
    });
    for (const bad of ["a", "-web", "we b", "web/1", "_x"]) {
      expect(error(() => t.store.containers.create(spec({ name: bad })))).toEqual({
        id: "HTK-ENGINE-0106",
        cause: `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed.`,
        http: 400,
      });
    }
  });

  it("renames, with Docker's conflict and same-name errors and a rename event", () => {
    const cs = t.store.containers;
    const a = cs.create(spec({ name: "a1" }));
    const b = cs.create(spec({ name: "b1" }));
    expect(error(() => cs.rename(a, "a1"))).toMatchObject({ id: "HTK-ENGINE-0120", http: 400 });
    expect(error(() => cs.rename(a, "b1"))).toMatchObject({ id: "HTK-ENGINE-0104", cause: expect.stringContaining(b.id) as unknown });
    const renamed = cs.rename(a, "a2");
    expect(renamed.name).toBe("/a2");
    expect(cs.find("a1")).toBeUndefined();
    expect(cs.resolve("a2").id).toBe(a.id);
    const ev = t.store.events.query({ filters: { event: ["rename"] } })[0]?.event;
    expect(ev?.Actor.Attributes).toMatchObject({ name: "a2", oldName: "/a1" });
    // The old name is free again.
    expect(cs.create(spec({ name: "a1" })).name).toBe("/a1");
  });

  it("updates resources, keeps the checksum right and records update", () => {
    const cs = t.store.containers;
    const c = cs.update(cs.create(spec()), { Memory: 64 * 1024 * 1024, RestartPolicy: { Name: "always" } });
    expect(cs.resolve(c.id).hostConfig).toMatchObject({ Memory: 67108864, RestartPolicy: { Name: "always" }, NetworkMode: "bridge" });
    expect(t.store.events.query({ filters: { event: ["update"] } })).toHaveLength(1);
  });
});

describe("finding a container by ID, prefix or name", () => {
  function withIds(ids: string[]): Container[] {
    const out: Container[] = [];
    for (const id of ids) {
      const c = t.store.containers.create(spec());
      t.store.ctx.db.prepare("UPDATE containers SET id = ? WHERE id = ?").run(id, c.id);
      out.push(t.store.containers.resolve(id));
    }
    return out;
  }

  it("uses Docker's order: full ID, exact name, unique prefix", () => {
    const [a, b] = withIds([`abc1${"0".repeat(60)}`, `abc2${"0".repeat(60)}`]);
    expect(t.store.containers.resolve(a?.id ?? "").id).toBe(a?.id);
    expect(t.store.containers.resolve("abc2").id).toBe(b?.id);
    // A name that looks like a prefix wins over the prefix (exact name first).
    const named = t.store.containers.create(spec({ name: "abc1" }));
    expect(t.store.containers.resolve("abc1").id).toBe(named.id);
    expect(t.store.containers.resolve(named.name).id).toBe(named.id);
  });

  it("gives Docker's errors for unknown and ambiguous references", () => {
    withIds([`abc1${"0".repeat(60)}`, `abc2${"0".repeat(60)}`]);
    expect(error(() => t.store.containers.resolve("abc"))).toEqual({
      id: "HTK-ENGINE-0105",
      cause: "multiple IDs found with provided prefix: abc",
      http: 400,
    });
    expect(error(() => t.store.containers.resolve("nothere"))).toEqual({ id: "HTK-ENGINE-0103", cause: "No such container: nothere", http: 404 });
    expect(error(() => t.store.containers.resolve("fff"))).toMatchObject({ id: "HTK-ENGINE-0103" });
    expect(t.store.containers.find("")).toBeUndefined();
  });

  it("renders inspect's JSON shape", () => {
    const c = t.store.containers.start(t.store.containers.create(spec({ name: "x1" })), { pid: 5 });
    const json = inspectJson(c, []);
    expect(json).toMatchObject({
      Id: c.id,
      Name: "/x1",
      Path: "sh",
      Args: ["-c", "true"],
      RestartCount: 0,
      ExecIDs: null,
      State: { Status: "running", Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 5, ExitCode: 0, Error: "" },
      Config: { Image: "busybox:latest" },
      HostConfig: { NetworkMode: "bridge" },
    });
    expect(json["Created"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Object.keys(json["State"] as object)).not.toContain("ManuallyStopped");
  });

  it("renders the list summary and Docker's status line", () => {
    const cs = t.store.containers;
    const created = cs.create(
      spec({ name: "s1", args: ["-c", "sleep 5"], networkSettings: { Ports: { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }], "53/udp": null } } }),
    );
    const startedMs = Number(created.createdNs / 1_000_000n);
    expect(statusText(created, startedMs)).toBe("Created");
    expect(summaryJson(created, startedMs)).toMatchObject({
      Names: ["/s1"],
      Command: "sh -c 'sleep 5'",
      State: "created",
      Status: "Created",
      Created: Math.floor(startedMs / 1000),
      Ports: [
        { IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp" },
        { PrivatePort: 53, Type: "udp" },
      ],
    });
    const running = cs.start(created, { pid: 1 });
    const at = Number(t.store.events.query({ filters: { event: ["start"] } })[0]?.timeNs ?? 0n) / 1e6;
    expect(statusText(running, at + 500)).toBe("Up Less than a second");
    expect(statusText(running, at + 5_000).startsWith("Up 5 seconds")).toBe(true);
    expect(statusText(cs.pause(running), at + 90_000)).toBe("Up About a minute (Paused)");
    const exited = cs.exit(cs.unpause(cs.resolve(running.id) as Container<"paused">), { exitCode: 2 });
    expect(statusText(exited, at + 3 * 3_600_000)).toMatch(/^Exited \(2\) (3|2) hours ago$/);
    const healthy = cs.start(cs.create(spec({ config: { Image: "x", Healthcheck: { Test: ["CMD", "true"] } } })), { pid: 2 });
    expect(statusText(healthy)).toMatch(/^Up .* \(health: starting\)$/);
  });
});

describe("list filters (pure functions over records)", () => {
  function fleet(): Record<string, Container> {
    const cs = t.store.containers;
    t.store.volumes.create({ name: "data", driver: "local", labels: {}, options: {}, mountpoint: "/v/data", createdAt: "2024-01-01T00:00:00Z", anonymous: false, scope: "local" });
    const first = cs.create(spec({ name: "first", config: { Image: "busybox", Labels: { app: "a", tier: "db" } } }));
    const web = cs.start(
      cs.create(
        spec({
          name: "web",
          image: "nginx:1",
          imageId: "sha256:bbbb",
          config: { Image: "nginx:1", Labels: { app: "a", tier: "web" }, ExposedPorts: { "80/tcp": {} }, Healthcheck: { Test: ["CMD", "true"] } },
          hostConfig: { PortBindings: { "80/tcp": [{ HostPort: "8080" }] } },
          networkSettings: { Networks: { front: { NetworkID: "fe0011" } } },
        }),
      ),
      { pid: 1 },
    );
    const done = cs.exit(cs.start(cs.create(spec({ name: "done", mounts: [{ Type: "volume", Name: "data", Source: "/v/data", Destination: "/data", Mode: "z", RW: true, Propagation: "" }] })), { pid: 2 }), { exitCode: 3 });
    const paused = cs.pause(cs.start(cs.create(spec({ name: "paused", config: { Image: "busybox", Labels: { app: "b" } } })), { pid: 3 }));
    return { first, web, done, paused };
  }

  const names = (cs: readonly Container[]): string[] => cs.map((c) => c.name.slice(1));

  it("lists running ones by default, all with -a, newest first", () => {
    fleet();
    const cs = t.store.containers;
    expect(names(cs.list())).toEqual(["paused", "web"]);
    expect(names(cs.list({}, { all: true }))).toEqual(["paused", "done", "web", "first"]);
    expect(names(cs.list({}, { limit: 2 }))).toEqual(["paused", "done"]);
  });

  it("filters by status (implies -a), exited code, health, label, name, id", () => {
    const f = fleet();
    const cs = t.store.containers;
    expect(names(cs.list({ status: ["exited", "created"] }))).toEqual(["done", "first"]);
    expect(names(cs.list({ exited: ["3"] }, { all: true }))).toEqual(["done"]);
    expect(names(cs.list({ exited: ["0"] }, { all: true }))).toEqual([]);
    expect(names(cs.list({ health: ["starting"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ health: ["none"] }, { all: true }))).toEqual(["paused", "done", "first"]);
    expect(names(cs.list({ label: ["app=a"] }, { all: true }))).toEqual(["web", "first"]);
    // Label values are all required.
    expect(names(cs.list({ label: ["app=a", "tier"] }, { all: true }))).toEqual(["web", "first"]);
    expect(names(cs.list({ label: ["app=a", "tier=db"] }, { all: true }))).toEqual(["first"]);
    // Names match as unanchored regular expressions, with or without the slash.
    expect(names(cs.list({ name: ["^/?we"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ name: ["e"] }, { all: true }))).toEqual(["paused", "done", "web"]);
    expect(names(cs.list({ id: [f.done?.id.slice(0, 10) ?? ""] }, { all: true }))).toEqual(["done"]);
  });

  it("filters by before/since, ancestor, volume, network, publish and expose", () => {
    fleet();
    const cs = t.store.containers;
    expect(names(cs.list({ before: ["done"] }, { all: true }))).toEqual(["web", "first"]);
    expect(names(cs.list({ since: ["web"] }, { all: true }))).toEqual(["paused", "done"]);
    expect(names(cs.list({ ancestor: ["nginx:1"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ ancestor: ["sha256:bbbb"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ ancestor: ["base"] }, { all: true, ancestorImageIds: (ref) => (ref === "base" ? ["sha256:bbbb"] : []) }))).toEqual(["web"]);
    expect(names(cs.list({ volume: ["data"] }, { all: true }))).toEqual(["done"]);
    expect(names(cs.list({ volume: ["/data"] }, { all: true }))).toEqual(["done"]);
    expect(names(cs.list({ network: ["front"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ network: ["fe00"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ publish: ["80"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ publish: ["80/udp"] }, { all: true }))).toEqual([]);
    expect(names(cs.list({ expose: ["79-81/tcp"] }, { all: true }))).toEqual(["web"]);
    expect(names(cs.list({ "is-task": ["true"] }, { all: true }))).toEqual([]);
    expect(() => cs.list({ before: ["nosuch"] }, { all: true })).toThrow(/HTK-ENGINE-0103/);
  });

  it("refuses unknown filters and bad values with Docker's texts", () => {
    const none: Container[] = [];
    const ctx = { resolveContainer: (): never => { throw new Error("unused"); } };
    expect(error(() => filterContainers(none, { colour: ["red"] }, ctx))).toMatchObject({ id: "HTK-ENGINE-0116", cause: "invalid filter 'colour'.", http: 400 });
    expect(error(() => filterContainers(none, { status: ["sleeping"] }, ctx))).toEqual({
      id: "HTK-ENGINE-0117",
      cause: "Unrecognised filter value for status: sleeping",
      http: 400,
    });
    expect(error(() => filterContainers(none, { health: ["ok"] }, ctx))).toMatchObject({ id: "HTK-ENGINE-0117" });
    expect(error(() => filterContainers(none, { exited: ["x"] }, ctx))).toMatchObject({ id: "HTK-ENGINE-0117" });
  });

  it("parses the filters query parameter in both of Docker's forms", () => {
    expect(parseFilters('{"status":["running"],"label":{"a=b":true,"c":false}}')).toEqual({ status: ["running"], label: ["a=b"] });
    expect(parseFilters(null)).toEqual({});
    expect(parseFilters("")).toEqual({});
    expect(error(() => parseFilters("{not json"))).toMatchObject({ id: "HTK-ENGINE-0116" });
    expect(error(() => parseFilters('{"status":"running"}'))).toMatchObject({ id: "HTK-ENGINE-0116" });
  });
});
