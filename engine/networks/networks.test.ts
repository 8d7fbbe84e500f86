import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import type { Container } from "../state/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import {
  configureDefaultBridgeIPv6,
  connectContainer,
  createNetwork,
  disconnectContainer,
  ensurePredefinedNetworks,
  networkJson,
  prunableNetworks,
  pruneNetworks,
  removeNetwork,
  type NetworkCreateRequest,
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

describe("networks", () => {
  let t: TestStore;
  beforeEach(() => {
    t = testStore();
    ensurePredefinedNetworks(t.store);
  });
  afterEach(() => t.close());

  const create = (req: NetworkCreateRequest) => createNetwork(t.store, req);
  const container = (name: string, networkMode = "bridge"): Container => t.store.containers.create(spec({ name, hostConfig: { NetworkMode: networkMode } }));

  it("has bridge, host and none from the start, with stable IDs and no events", () => {
    const first = t.store.networks.list();
    expect(first.map((n) => [n.name, n.driver])).toEqual([
      ["bridge", "bridge"],
      ["host", "host"],
      ["none", "null"],
    ]);
    ensurePredefinedNetworks(t.store);
    expect(t.store.networks.list()).toEqual(first);
    const bridge = first[0];
    expect(bridge?.ipam.Config).toEqual([{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }]);
    expect(bridge?.options["com.docker.network.bridge.name"]).toBe("hatake0");
    expect(t.store.events.query({ filters: { type: ["network"] } })).toEqual([]);
  });

  it("creates bridge networks with the next free default pool, or the given subnet and a default gateway", () => {
    const a = create({ name: "a" });
    expect(a.ipam).toEqual({ Driver: "default", Options: {}, Config: [{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }] });
    const b = create({ name: "b", labels: { x: "1" }, internal: true, attachable: true, options: { "com.docker.network.driver.mtu": "1400" }, ipam: { config: [{ Subnet: "10.5.0.0/24", IPRange: "10.5.0.128/25" }] } });
    expect(b).toMatchObject({
      driver: "bridge",
      scope: "local",
      internal: true,
      attachable: true,
      labels: { x: "1" },
      options: { "com.docker.network.driver.mtu": "1400" },
      ipam: { Driver: "default", Options: {}, Config: [{ Subnet: "10.5.0.0/24", IPRange: "10.5.0.128/25", Gateway: "10.5.0.1" }] },
    });
    expect(create({ name: "c" }).ipam.Config[0]?.Subnet).toBe("172.19.0.0/16");
    expect(t.store.events.query({ filters: { type: ["network"] } }).map((e) => [e.event.Action, e.event.Actor.Attributes])).toEqual([
      ["create", { name: "a", type: "bridge" }],
      ["create", { name: "b", type: "bridge" }],
      ["create", { name: "c", type: "bridge" }],
    ]);
  });

  it("refuses what Docker 26 refuses, with its texts", () => {
    create({ name: "taken", ipam: { config: [{ Subnet: "10.9.0.0/16" }] } });
    expect(failure(() => create({ name: "bridge" }))).toEqual({ id: "HTK-ENGINE-0470", cause: "operation is not permitted on predefined bridge network ", http: 403 });
    expect(failure(() => create({ name: "taken" }))).toEqual({ id: "HTK-ENGINE-0125", cause: "network with name taken already exists", http: 409 });
    expect(failure(() => create({ name: "x", ipam: { config: [{ Subnet: "10.5.0.1/24", Gateway: "10.6.0.1" }] } }))).toEqual({
      id: "HTK-ENGINE-0472",
      cause: "invalid network config:\n* invalid subnet 10.5.0.1/24: it should be 10.5.0.0/24\n* invalid gateway 10.6.0.1: parent subnet 10.5.0.1/24 doesn't contain this address",
      http: 400,
    });
    expect(failure(() => create({ name: "x", ipam: { config: [{ Subnet: "10.9.4.0/24" }] } }))).toEqual({ id: "HTK-ENGINE-0473", cause: "Pool overlaps with other one on this address space", http: 403 });
    expect(failure(() => create({ name: "x", driver: "foo" }))).toEqual({ id: "HTK-ENGINE-0475", cause: 'plugin "foo" not found', http: 404 });
    expect(failure(() => create({ name: "x", driver: "host" }))).toEqual({ id: "HTK-ENGINE-0476", cause: 'only one instance of "host" network is allowed', http: 403 });
    expect(failure(() => create({ name: "x", driver: "null" }))?.id).toBe("HTK-ENGINE-0476");
    expect(failure(() => create({ name: "x", driver: "overlay" }))).toMatchObject({ id: "HTK-ENGINE-0477", http: 403 });
    expect(failure(() => create({ name: "x", driver: "macvlan" }))).toMatchObject({ id: "HTK-ENGINE-0478", http: 400 });
    expect(failure(() => create({ name: " " }))).toEqual({ id: "HTK-ENGINE-0488", cause: "invalid name:  ", http: 400 });
    expect(t.store.networks.list().map((n) => n.name)).toEqual(["bridge", "host", "none", "taken"]);
  });

  it("--ipv6 without an IPv6 subnet takes the next /64 of the engine's ULA /48 (Docker 27+), the same prefix across networks", () => {
    const a = createNetwork(t.store, { name: "v6a", enableIPv6: true });
    const b = createNetwork(t.store, { name: "v6b", enableIPv6: true });
    const v6 = (n: typeof a): { Subnet?: string; Gateway?: string } | undefined => n.ipam.Config.find((c) => (c.Subnet ?? "").includes(":"));
    expect(v6(a)?.Subnet).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    expect(v6(a)?.Gateway).toBe(`${(v6(a)?.Subnet ?? "").split("::")[0] ?? ""}::1`);
    expect(v6(b)?.Subnet).toBe(`${(v6(a)?.Subnet ?? "").split("::")[0] ?? ""}:1::/64`);
    expect(a.ipam.Config[0]?.Subnet).toMatch(/^172\./);
    expect(a.enableIPv6).toBe(true);
  });

  it("runs out of default pools as Docker does", () => {
    for (let i = 0; i < 14 + 16; i++) create({ name: `n${i}` });
    expect(failure(() => create({ name: "one-too-many" }))?.id).toBe("HTK-ENGINE-0474");
  });

  it("connects containers with addresses, MACs and aliases, and disconnects them", () => {
    const net = create({ name: "app", ipam: { config: [{ Subnet: "10.5.0.0/24", AuxiliaryAddresses: { router: "10.5.0.2" } }] } });
    const web = container("web");
    const db = container("db");
    const e1 = connectContainer(t.store, "app", web, { aliases: ["www"] });
    expect(e1).toMatchObject({ ipv4Address: "10.5.0.3/24", macAddress: "02:42:0a:05:00:03", aliases: ["www"] });
    expect(e1.endpointId).toMatch(/^[0-9a-f]{64}$/);
    const e2 = connectContainer(t.store, net.id.slice(0, 12), db, { ipv4Address: "10.5.0.200" });
    expect(e2.ipv4Address).toBe("10.5.0.200/24");
    expect(failure(() => connectContainer(t.store, "app", web))).toEqual({ id: "HTK-ENGINE-0479", cause: "endpoint with name web already exists in network app", http: 403 });
    const other = container("other");
    expect(failure(() => connectContainer(t.store, "app", other, { ipv4Address: "10.5.0.200" }))).toEqual({ id: "HTK-ENGINE-0486", cause: "Address already in use", http: 403 });
    expect(failure(() => connectContainer(t.store, "app", other, { ipv4Address: "10.6.0.9" }))).toEqual({
      id: "HTK-ENGINE-0485",
      cause: "no configured subnet or ip-range contain the IP address 10.6.0.9",
      http: 400,
    });
    expect(failure(() => connectContainer(t.store, "app", other, { ipv4Address: "ten" }))).toMatchObject({ id: "HTK-ENGINE-0489" });

    const json = networkJson(t.store, net, { containers: true });
    expect(json["Containers"]).toEqual({
      [web.id]: { Name: "web", EndpointID: e1.endpointId, MacAddress: "02:42:0a:05:00:03", IPv4Address: "10.5.0.3/24", IPv6Address: "" },
      [db.id]: { Name: "db", EndpointID: e2.endpointId, MacAddress: "02:42:0a:05:00:c8", IPv4Address: "10.5.0.200/24", IPv6Address: "" },
    });
    expect(Object.keys(json)).toEqual(["Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"]);
    expect(networkJson(t.store, net, { containers: false })["Containers"]).toEqual({});

    expect(failure(() => removeNetwork(t.store, "app"))).toMatchObject({ id: "HTK-ENGINE-0126", http: 403 });
    disconnectContainer(t.store, "app", web);
    expect(failure(() => disconnectContainer(t.store, "app", web))).toEqual({ id: "HTK-ENGINE-0480", cause: `container ${web.id} is not connected to network app`, http: 500 });
    disconnectContainer(t.store, "app", web, true);
    // The freed address is the lowest free one again.
    expect(connectContainer(t.store, "app", other).ipv4Address).toBe("10.5.0.3/24");
    const actions = t.store.events.query({ filters: { type: ["network"], event: ["connect", "disconnect"] } }).map((e) => [e.event.Action, e.event.Actor.Attributes["container"]]);
    expect(actions).toEqual([
      ["connect", web.id],
      ["connect", db.id],
      ["disconnect", web.id],
      ["connect", other.id],
    ]);
  });

  it("keeps Docker's rules for host, none, shared namespaces and predefined networks", () => {
    const c = container("c1");
    expect(failure(() => connectContainer(t.store, "host", c))).toEqual({ id: "HTK-ENGINE-0481", cause: "container cannot be disconnected from host network or connected to host network", http: 400 });
    expect(failure(() => connectContainer(t.store, "app-missing", c))).toMatchObject({ id: "HTK-ENGINE-0124", http: 404 });
    expect(failure(() => connectContainer(t.store, "bridge", c, { ipv4Address: "172.17.0.9" }))).toMatchObject({ id: "HTK-ENGINE-0484", http: 400 });
    expect(failure(() => connectContainer(t.store, "bridge", c, { aliases: ["a"] }))).toMatchObject({ id: "HTK-ENGINE-0491", http: 400 });
    expect(connectContainer(t.store, "bridge", c).ipv4Address).toBe("172.17.0.2/16");
    expect(failure(() => connectContainer(t.store, "none", c))).toMatchObject({ id: "HTK-ENGINE-0482", http: 400 });
    const shared = container("c2", `container:${c.id}`);
    create({ name: "user" });
    expect(failure(() => connectContainer(t.store, "user", shared))).toMatchObject({ id: "HTK-ENGINE-0483", http: 400 });
    const hosted = container("c3", "host");
    expect(failure(() => connectContainer(t.store, "user", hosted))).toMatchObject({ id: "HTK-ENGINE-0481" });
    const isolated = container("c4", "none");
    expect(failure(() => connectContainer(t.store, "user", isolated))).toMatchObject({ id: "HTK-ENGINE-0482" });
    expect(failure(() => removeNetwork(t.store, "none"))).toEqual({ id: "HTK-ENGINE-0471", cause: "none is a pre-defined network and cannot be removed", http: 403 });
  });

  it("the default bridge follows daemon.json's ipv6 and fixed-cidr-v6 (HTK-ENGINE-0900: not an IPv6 subnet); containers on it get an IPv6 address", () => {
    configureDefaultBridgeIPv6(t.store, "fd00:db8:1::/64");
    const def = t.store.networks.resolve("bridge");
    expect(def.enableIPv6).toBe(true);
    expect(def.ipam.Config).toEqual([
      { Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" },
      { Subnet: "fd00:db8:1::/64", Gateway: "fd00:db8:1::1" },
    ]);
    const c = t.store.containers.create(spec({ name: "/v6" }));
    const ep = connectContainer(t.store, "bridge", c);
    expect(ep.ipv6Address).toBe("fd00:db8:1::2/64");
    expect(failure(() => configureDefaultBridgeIPv6(t.store, "10.1.0.0/16"))?.id).toBe("HTK-ENGINE-0900");
    configureDefaultBridgeIPv6(t.store, undefined);
    expect(t.store.networks.resolve("bridge").enableIPv6).toBe(false);
    expect(t.store.networks.resolve("bridge").ipam.Config).toEqual([{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }]);
  });

  it("resolves IDs, names and unique prefixes; an ambiguous prefix is Docker's text", () => {
    const ids = ["aaaa1", "aaaa2"].map((p) => p.padEnd(64, "0"));
    for (const [i, id] of ids.entries()) {
      t.store.networks.create({ ...(t.store.networks.resolve("bridge")), id, name: `amb${i}`, ipam: { Driver: "default", Options: {}, Config: [] } });
    }
    expect(t.store.networks.resolve("aaaa2").name).toBe("amb1");
    expect(failure(() => t.store.networks.resolve("aaaa"))).toEqual({ id: "HTK-ENGINE-0487", cause: "network aaaa is ambiguous (2 matches found based on ID prefix)", http: 400 });
  });

  it("prunes unused user networks by label and until, and records the prune", () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    t.setNow(now - 3_600_000_000_000n);
    create({ name: "old", labels: { keep: "no" } });
    t.setNow(now);
    create({ name: "fresh", labels: { keep: "yes" } });
    const used = create({ name: "used" });
    connectContainer(t.store, "used", container("user1"));
    const all = t.store.networks.list();
    const attached = new Set([used.id]);
    expect(prunableNetworks(all, {}, attached, now + 1n).map((n) => n.name)).toEqual(["fresh", "old"]);
    expect(prunableNetworks(all, { until: ["30m"] }, attached, now).map((n) => n.name)).toEqual(["old"]);
    expect(prunableNetworks(all, { label: ["keep=yes"] }, attached, now).map((n) => n.name)).toEqual(["fresh"]);
    expect(prunableNetworks(all, { "label!": ["keep"] }, attached, now).map((n) => n.name)).toEqual([]);
    expect(failure(() => prunableNetworks(all, { until: ["soon"] }, attached, now))).toEqual({ id: "HTK-ENGINE-0492", cause: 'failed to parse value as time or duration: "soon"', http: 400 });
    expect(failure(() => prunableNetworks(all, { dangling: ["true"] }, attached, now))?.id).toBe("HTK-ENGINE-0116");
    expect(pruneNetworks(t.store, { label: ["keep"] })).toEqual({ NetworksDeleted: ["fresh", "old"] });
    expect(t.store.networks.list().map((n) => n.name)).toEqual(["bridge", "host", "none", "used"]);
    const last = t.store.events.query({ filters: { type: ["network"] } }).at(-1)?.event;
    expect([last?.Action, last?.Actor.ID, last?.Actor.Attributes]).toEqual(["prune", "", { reclaimed: "0" }]);
  });
});
