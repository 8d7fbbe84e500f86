import { htkError } from "../../base/errors/index.ts";
import { sendJson } from "./respond.ts";
import type { HttpMethod, RequestContext, Route } from "./types.ts";

/**
 * The Engine API families HATAKE does not implement (Swarm, Node, Service, Task, Secret, Config and
 * managed Plugins) answer as Docker Engine 26 does on a node that never joined a swarm and has no
 * plugins installed, so clients and scripts see the error they would see there instead of a 404:
 *
 * - every manager-gated call is 503 with daemon/cluster's `errNoManager` text (HTK-API-0005);
 * - leaving is 503 with `errNoSwarm` (HTK-API-0006);
 * - `GET /plugins` is `[]`, and a call naming a plugin is 404 `plugin "x" not found` (HTK-API-0008).
 *
 * Where Docker would really do something (swarm init/join, plugin pull/create/privileges) the answer
 * is HATAKE's own "not supported" (HTK-API-0007, HTK-API-0009), as pretending to succeed would be worse.
 */
export function outOfScopeRoutes(): Route[] {
  const notManager = (): never => {
    throw htkError("HTK-API-0005", {});
  };
  const swarmUnsupported = (ctx: RequestContext): never => {
    throw htkError("HTK-API-0007", { operation: `${ctx.method} ${ctx.path}` });
  };
  const pluginsUnsupported = (ctx: RequestContext): never => {
    throw htkError("HTK-API-0009", { operation: `${ctx.method} ${ctx.path}` });
  };
  const noSuchPlugin = (ctx: RequestContext): never => {
    throw htkError("HTK-API-0008", { name: pluginName(ctx.params) });
  };
  const route = (method: HttpMethod, pattern: string, handle: (ctx: RequestContext) => void): Route => ({ method, pattern, handle });

  const manager: Array<[HttpMethod, string]> = [
    ["GET", "/swarm"],
    ["POST", "/swarm/update"],
    ["GET", "/swarm/unlockkey"],
    // Docker checks for a manager before reading the key, so a non-swarm node never sees the body.
    ["POST", "/swarm/unlock"],
    ["GET", "/nodes"],
    ["GET", "/nodes/{id}"],
    ["DELETE", "/nodes/{id}"],
    ["POST", "/nodes/{id}/update"],
    ["GET", "/services"],
    ["POST", "/services/create"],
    ["GET", "/services/{id}"],
    ["DELETE", "/services/{id}"],
    ["POST", "/services/{id}/update"],
    ["GET", "/services/{id}/logs"],
    ["GET", "/tasks"],
    ["GET", "/tasks/{id}"],
    ["GET", "/tasks/{id}/logs"],
    ["GET", "/secrets"],
    ["POST", "/secrets/create"],
    ["GET", "/secrets/{id}"],
    ["DELETE", "/secrets/{id}"],
    ["POST", "/secrets/{id}/update"],
    ["GET", "/configs"],
    ["POST", "/configs/create"],
    ["GET", "/configs/{id}"],
    ["DELETE", "/configs/{id}"],
    ["POST", "/configs/{id}/update"],
  ];
  const routes: Route[] = manager.map(([method, pattern]) => route(method, pattern, notManager));
  routes.push(
    route("POST", "/swarm/leave", () => {
      throw htkError("HTK-API-0006", {});
    }),
    route("POST", "/swarm/init", swarmUnsupported),
    route("POST", "/swarm/join", swarmUnsupported),
    route("GET", "/plugins", (ctx) => sendJson(ctx.res, 200, [])),
    route("GET", "/plugins/privileges", pluginsUnsupported),
    route("POST", "/plugins/pull", pluginsUnsupported),
    route("POST", "/plugins/create", pluginsUnsupported),
  );
  // Docker's routes are `/plugins/{name:.*}/json`: a plugin reference carries slashes
  // (`vieux/sshfs`, `registry:5000/owner/name`) that the client does not escape.
  const named: Array<[HttpMethod, string]> = [
    ["GET", "json"],
    ["DELETE", ""],
    ["POST", "enable"],
    ["POST", "disable"],
    ["POST", "upgrade"],
    ["POST", "push"],
    ["POST", "set"],
  ];
  for (const segments of ["{first}", "{first}/{second}", "{first}/{second}/{third}"]) {
    for (const [method, action] of named) {
      routes.push(route(method, `/plugins/${segments}${action === "" ? "" : `/${action}`}`, noSuchPlugin));
    }
  }
  return routes;
}

function pluginName(params: Readonly<Record<string, string>>): string {
  return [params["first"], params["second"], params["third"]].filter((s) => s !== undefined).join("/");
}
