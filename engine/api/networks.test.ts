import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensurePredefinedNetworks } from "../networks/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import { networkRoutes } from "./networks.ts";
import { errorOf, serveRoutes, type TestApi } from "./test-support.ts";

describe("the network routes", () => {
  let t: TestStore;
  let api: TestApi;
  beforeEach(async () => {
    t = testStore();
    ensurePredefinedNetworks(t.store);
    api = await serveRoutes(networkRoutes({ state: t.store }));
  });
  afterEach(async () => {
    await api.close();
    t.close();
  });

  it("creates from the CLI's request body and answers Docker's create response", async () => {
    const r = await api.call("POST", "/v1.45/networks/create", {
      body: {
        Name: "app",
        CheckDuplicate: true,
        Driver: "bridge",
        Scope: "local",
        Internal: true,
        Attachable: false,
        Ingress: false,
        IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.7.0.0/24", IPRange: "10.7.0.0/25", Gateway: "10.7.0.254", AuxiliaryAddresses: { r: "10.7.0.253" } }] },
        EnableIPv6: false,
        Options: { "com.docker.network.bridge.name": "br-app" },
        Labels: { team: "a" },
      },
    });
    expect(r.status).toBe(201);
    const id = (r.json as { Id: string }).Id;
    expect(r.json).toEqual({ Id: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, Warning: "" });
    const inspect = await api.call("GET", `/networks/${id.slice(0, 10)}`);
    expect(inspect.json).toMatchObject({
      Name: "app",
      Id: id,
      Internal: true,
      IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.7.0.0/24", IPRange: "10.7.0.0/25", Gateway: "10.7.0.254", AuxiliaryAddresses: { r: "10.7.0.253" } }] },
      Options: { "com.docker.network.bridge.name": "br-app" },
      Labels: { team: "a" },
    });
    expect((await api.call("GET", "/networks/app?scope=local")).status).toBe(200);
    expect(errorOf(await api.call("GET", "/networks/app?scope=swarm"))).toMatchObject({ status: 404, id: "HTK-ENGINE-0124" });
    expect(errorOf(await api.call("POST", "/networks/create", { body: { Name: "cfg", ConfigOnly: true } }))).toMatchObject({ status: 400, id: "HTK-ENGINE-0478" });
    expect(errorOf(await api.call("POST", "/networks/create", { body: { Name: "x", IPAM: { Config: "nope" } } }))).toMatchObject({ status: 400, id: "HTK-ENGINE-0450" });
  });

  it("lists with filters and without containers; deletes; prunes", async () => {
    await api.call("POST", "/networks/create", { body: { Name: "one", Labels: { l: "1" } } });
    await api.call("POST", "/networks/create", { body: { Name: "two" } });
    const list = (await api.call("GET", `/networks?filters=${encodeURIComponent('{"type":["custom"]}')}`)).json as Array<{ Name: string; Containers: object }>;
    expect(list.map((n) => n.Name)).toEqual(["one", "two"]);
    expect(list[0]?.Containers).toEqual({});
    const builtin = (await api.call("GET", `/networks?filters=${encodeURIComponent('{"type":["builtin"]}')}`)).json as Array<{ Name: string }>;
    expect(builtin.map((n) => n.Name)).toEqual(["bridge", "host", "none"]);
    expect(errorOf(await api.call("DELETE", "/networks/host"))).toMatchObject({ status: 403, id: "HTK-ENGINE-0471" });
    expect((await api.call("DELETE", "/networks/two")).status).toBe(204);
    expect(errorOf(await api.call("DELETE", "/networks/two"))).toMatchObject({ status: 404, id: "HTK-ENGINE-0124" });
    expect((await api.call("POST", `/networks/prune?filters=${encodeURIComponent('{"label":["l=1"]}')}`)).json).toEqual({ NetworksDeleted: ["one"] });
  });

  it("connects and disconnects containers (records only)", async () => {
    await api.call("POST", "/networks/create", { body: { Name: "app", IPAM: { Config: [{ Subnet: "10.8.0.0/24" }] } } });
    const c = t.store.containers.create(spec({ name: "web" }));
    const connect = await api.call("POST", "/networks/app/connect", { body: { Container: "web", EndpointConfig: { Aliases: ["www"], IPAMConfig: { IPv4Address: "10.8.0.10" } } } });
    expect(connect).toMatchObject({ status: 200, text: "" });
    const inspect = (await api.call("GET", "/networks/app")).json as { Containers: Record<string, { Name: string; IPv4Address: string }> };
    expect(inspect.Containers[c.id]).toMatchObject({ Name: "web", IPv4Address: "10.8.0.10/24" });
    expect(t.store.networks.endpointsOfContainer(c.id)[0]?.aliases).toEqual(["www"]);
    expect(errorOf(await api.call("POST", "/networks/app/connect", { body: { Container: "nosuch" } }))).toMatchObject({ status: 404, id: "HTK-ENGINE-0103" });
    expect(errorOf(await api.call("DELETE", "/networks/app"))).toMatchObject({ status: 403, id: "HTK-ENGINE-0126" });
    expect((await api.call("POST", "/networks/app/disconnect", { body: { Container: c.id.slice(0, 12) } })).status).toBe(200);
    expect(errorOf(await api.call("POST", "/networks/app/disconnect", { body: { Container: "web" } }))).toMatchObject({ status: 500, id: "HTK-ENGINE-0480" });
    expect((await api.call("POST", "/networks/app/disconnect", { body: { Container: "web", Force: true } })).status).toBe(200);
    expect((await api.call("DELETE", "/networks/app")).status).toBe(204);
  });

  it("a created container leaves its network mode's network by losing the entry, and connects again with aliases (Compose v1's round before start)", async () => {
    await api.call("POST", "/networks/create", { body: { Name: "proj_default", IPAM: { Config: [{ Subnet: "10.9.0.0/24" }] } } });
    const n = t.store.networks.resolve("proj_default");
    const c = t.store.containers.create(
      spec({ name: "proj_web_1", hostConfig: { NetworkMode: "proj_default" }, networkSettings: { Networks: { proj_default: { NetworkID: n.id, Aliases: ["web"] } } } }),
    );
    expect((await api.call("POST", "/v1.45/networks/proj_default/disconnect", { body: { Container: c.id } })).status).toBe(200);
    expect(t.store.containers.get(c.id)?.networkSettings.Networks).toEqual({});
    expect(errorOf(await api.call("POST", "/networks/proj_default/disconnect", { body: { Container: c.id } }))).toMatchObject({ status: 500, id: "HTK-ENGINE-0480" });
    expect((await api.call("POST", "/networks/proj_default/connect", { body: { Container: c.id, EndpointConfig: { Aliases: ["web"] } } })).status).toBe(200);
    expect(t.store.networks.endpointsOfContainer(c.id)[0]?.aliases).toEqual(["web"]);
  });
});
