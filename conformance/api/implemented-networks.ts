import { container } from "./implemented-containers.ts";
import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/** A user network (`id`) and a running container (`container`), optionally connected; both removed afterwards. */
function networkAndContainer(name: string, connected: boolean) {
  return async (api: ApiClient): Promise<Fixture> => {
    const net = await network(api, name);
    const ctr = await container()(api);
    const id = net.params?.["id"] ?? "";
    const containerId = ctr.params?.["id"] ?? "";
    if (connected) {
      const r = await api.call("POST", `/networks/${id}/connect`, { body: { Container: containerId } });
      if (r.status !== 200) throw new Error(`connect answered ${r.status}: ${r.body.toString("utf8")}`);
    }
    return {
      params: { id, container: containerId },
      cleanup: async () => {
        await ctr.cleanup?.();
        await net.cleanup?.();
      },
    };
  };
}

/** A user-defined network for one case, removed afterwards. */
async function network(api: ApiClient, name: string, body: Readonly<Record<string, unknown>> = {}): Promise<Fixture> {
  const r = await api.call("POST", "/networks/create", { body: { Name: name, ...body } });
  if (r.status !== 201) throw new Error(`network create answered ${r.status}: ${r.body.toString("utf8")}`);
  const id = (JSON.parse(r.body.toString("utf8")) as { Id: string }).Id;
  return { params: { id }, cleanup: async () => void (await api.call("DELETE", `/networks/${id}`)) };
}

/**
 * The Network tag (issue 8). Connect and disconnect act on a running container (the containers
 * table's fixture: an imported image running the host's static busybox).
 */
export const IMPLEMENTED_NETWORKS: Readonly<Record<string, ImplementedOperation>> = {
  NetworkList: {
    cases: [{ path: "/networks" }, { name: "filters", path: "/networks", query: { filters: '{"type":["builtin"],"driver":["bridge"]}' } }],
  },
  NetworkInspect: {
    cases: [
      { name: "the default bridge", path: "/networks/bridge" },
      { name: "a user network with IPAM", path: "/networks/{id}", query: { verbose: "false", scope: "local" }, setup: (api) => network(api, "conformance-inspect", { IPAM: { Config: [{ Subnet: "10.251.0.0/24", IPRange: "10.251.0.128/25" }] }, Labels: { a: "b" } }) },
    ],
  },
  NetworkDelete: {
    cases: [{ path: "/networks/{id}", setup: async (api) => ({ params: (await network(api, "conformance-delete")).params ?? {} }) }],
    negative: [
      { name: "predefined → 403", path: "/networks/bridge", status: 403 },
      { name: "unknown → 404", path: "/networks/hatake-conformance-missing", status: 404 },
    ],
  },
  NetworkConnect: {
    cases: [{ path: "/networks/{id}/connect", body: { Container: "{container}", EndpointConfig: { Aliases: ["conformance-alias"] } }, setup: networkAndContainer("conformance-connect", false) }],
    negative: [
      { name: "unknown container → 404", path: "/networks/bridge/connect", body: { Container: "hatake-conformance-missing" }, status: 404 },
      { name: "unknown network → 404", path: "/networks/hatake-conformance-missing/connect", body: { Container: "x" }, status: 404 },
    ],
  },
  NetworkDisconnect: {
    cases: [{ path: "/networks/{id}/disconnect", body: { Container: "{container}", Force: false }, setup: networkAndContainer("conformance-disconnect", true) }],
    negative: [{ name: "unknown network → 404", path: "/networks/hatake-conformance-missing/disconnect", body: { Container: "x" }, status: 404 }],
  },
  NetworkCreate: {
    cases: [
      {
        path: "/networks/create",
        body: { Name: "conformance-create", Driver: "bridge", Internal: true, Labels: { a: "b" }, IPAM: { Driver: "default", Config: [{ Subnet: "10.252.0.0/24", Gateway: "10.252.0.1" }] } },
        setup: async (api) => ({ cleanup: async () => void (await api.call("DELETE", "/networks/conformance-create")) }),
      },
    ],
    negative: [
      { name: "predefined name → 403", path: "/networks/create", body: { Name: "host" }, status: 403 },
      { name: "bad subnet → 400", path: "/networks/create", body: { Name: "conformance-bad", IPAM: { Config: [{ Subnet: "10.253.0.1/24" }] } }, status: 400 },
      { name: "unknown driver → 404", path: "/networks/create", body: { Name: "conformance-driver", Driver: "nope" }, status: 404 },
    ],
  },
  NetworkPrune: { cases: [{ path: "/networks/prune", query: { filters: '{"label":["conformance-prune"]}' } }] },
};
