import { htkError } from "../../base/errors/index.ts";
import {
  attachedNetworks,
  connectContainer,
  createNetwork,
  disconnectContainer,
  networkJson,
  pruneNetworks,
  removeNetwork,
  type NetworkCreateRequest,
} from "../networks/index.ts";
import type { ContainerManager } from "../containers/index.ts";
import type { BridgeDatapath } from "../networks/index.ts";
import { filterNetworks, parseFilters, type IpamConfig, type StateStore } from "../state/index.ts";
import { JsonObject, readJsonBody } from "./json-body.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";

function param(ctx: RequestContext, name: string): string {
  return ctx.params[name] ?? "";
}

/** The Network tag of the Engine API v1.45, on engine/networks (records, plus the bridge datapath when the daemon has one). */
export function networkRoutes(services: {
  readonly state: StateStore;
  readonly datapath?: BridgeDatapath;
  readonly containers?: Pick<ContainerManager, "networkConnected" | "networkDisconnected">;
}): Route[] {
  const state = services.state;
  return [
    {
      method: "GET",
      pattern: "/networks",
      query: ["filters"],
      handle(ctx) {
        const filters = parseFilters(ctx.query.get("filters"));
        const list = filterNetworks(state.networks.list(), filters, attachedNetworks(state));
        sendJson(
          ctx.res,
          200,
          list.map((n) => networkJson(state, n, { containers: false })),
        );
      },
    },
    {
      method: "POST",
      pattern: "/networks/create",
      query: [],
      async handle(ctx) {
        const body = new JsonObject(await readJsonBody(ctx), "CreateRequest");
        const ipam = body.object("IPAM", "IPAM");
        const request: NetworkCreateRequest = {
          name: body.string("Name") ?? "",
          driver: body.string("Driver"),
          scope: body.string("Scope"),
          internal: body.boolean("Internal"),
          attachable: body.boolean("Attachable"),
          ingress: body.boolean("Ingress"),
          enableIPv6: body.boolean("EnableIPv6"),
          options: body.stringMap("Options"),
          labels: body.stringMap("Labels"),
          ipam:
            ipam === undefined
              ? undefined
              : {
                  driver: ipam.string("Driver"),
                  options: ipam.stringMap("Options"),
                  config: (ipam.objects("Config", "IPAMConfig") ?? []).map((c): IpamConfig => {
                    const aux = c.stringMap("AuxiliaryAddresses") ?? c.stringMap("AuxAddress");
                    const subnet = c.string("Subnet");
                    const range = c.string("IPRange");
                    const gateway = c.string("Gateway");
                    return {
                      ...(subnet === undefined ? {} : { Subnet: subnet }),
                      ...(range === undefined ? {} : { IPRange: range }),
                      ...(gateway === undefined ? {} : { Gateway: gateway }),
                      ...(aux === undefined ? {} : { AuxiliaryAddresses: aux }),
                    };
                  }),
                },
        };
        // ConfigOnly / ConfigFrom networks (swarm's config-only templates) are not kept by this engine.
        if (body.boolean("ConfigOnly") === true || (body.object("ConfigFrom", "ConfigReference")?.string("Network") ?? "") !== "") {
          throw htkError("HTK-ENGINE-0478", { driver: "config-only" });
        }
        const datapath = services.datapath;
        const n =
          datapath === undefined || (request.driver ?? "bridge") !== "bridge"
            ? createNetwork(state, request)
            : await datapath.createBridgeNetwork((hostPrefixes) => createNetwork(state, request, hostPrefixes));
        sendJson(ctx.res, 201, { Id: n.id, Warning: "" });
      },
    },
    {
      method: "POST",
      pattern: "/networks/prune",
      query: ["filters"],
      async handle(ctx) {
        const before = state.networks.list();
        const report = pruneNetworks(state, parseFilters(ctx.query.get("filters")));
        for (const n of before) if (report.NetworksDeleted.includes(n.name)) await services.datapath?.removeBridge(n);
        sendJson(ctx.res, 200, report);
      },
    },
    {
      method: "GET",
      pattern: "/networks/{id}",
      query: ["verbose", "scope"],
      handle(ctx) {
        const ref = param(ctx, "id");
        const n = state.networks.resolve(ref);
        const scope = ctx.query.get("scope");
        if (scope !== null && scope !== "" && scope !== n.scope) throw htkError("HTK-ENGINE-0124", { name: ref });
        sendJson(ctx.res, 200, networkJson(state, n, { containers: true }));
      },
    },
    {
      method: "DELETE",
      pattern: "/networks/{id}",
      query: [],
      async handle(ctx) {
        const n = removeNetwork(state, param(ctx, "id"));
        await services.datapath?.removeBridge(n);
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: "POST",
      pattern: "/networks/{id}/connect",
      query: [],
      async handle(ctx) {
        const body = new JsonObject(await readJsonBody(ctx), "ConnectOptions");
        const container = state.containers.resolve(body.string("Container") ?? "");
        const settings = body.object("EndpointConfig", "EndpointSettings");
        const ipamConfig = settings?.object("IPAMConfig", "EndpointIPAMConfig");
        const wish = { aliases: settings?.strings("Aliases") ?? [], ipv4Address: ipamConfig?.string("IPv4Address") ?? "", ipv6Address: ipamConfig?.string("IPv6Address") ?? "" };
        const ep = connectContainer(state, param(ctx, "id"), container, wish);
        const network = state.networks.resolve(param(ctx, "id"));
        try {
          await services.containers?.networkConnected(container.id, network, ep, wish);
        } catch (err) {
          disconnectContainer(state, network.id, container, true);
          throw err;
        }
        ctx.res.writeHead(200, { "Content-Length": "0" }).end();
      },
    },
    {
      method: "POST",
      pattern: "/networks/{id}/disconnect",
      query: [],
      async handle(ctx) {
        const body = new JsonObject(await readJsonBody(ctx), "DisconnectOptions");
        const container = state.containers.resolve(body.string("Container") ?? "");
        const network = state.networks.resolve(param(ctx, "id"));
        const ep = state.networks.endpointsOfContainer(container.id).find((e) => e.networkId === network.id);
        const settings = container.networkSettings.Networks ?? {};
        if (ep === undefined && container.status !== "running" && settings[network.name] !== undefined) {
          // Docker: a container that does not run only loses the network's entry (Compose v1 disconnects
          // a created container from its network mode's network and connects it again with its aliases).
          const { [network.name]: _dropped, ...rest } = settings;
          state.containers.setNetworkSettings(container, { ...container.networkSettings, Networks: rest });
          ctx.res.writeHead(200, { "Content-Length": "0" }).end();
          return;
        }
        disconnectContainer(state, network.id, container, body.boolean("Force") ?? false);
        if (ep !== undefined) await services.containers?.networkDisconnected(container.id, ep, network);
        ctx.res.writeHead(200, { "Content-Length": "0" }).end();
      },
    },
  ];
}
