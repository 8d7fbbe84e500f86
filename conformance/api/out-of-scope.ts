/**
 * The API families HATAKE does not implement, with the reason, and what each operation must answer
 * instead: what Docker Engine 26 answers on a node that never joined a swarm and has no managed
 * plugins. The checks compare the start of Docker's message, so they hold against a Docker Engine
 * (exact text) and against HATAKE (Docker's text, then the diagnostic ID and the next step).
 */
export const OUT_OF_SCOPE_TAGS: Readonly<Record<string, string>> = {
  Swarm: "swarm mode: a single-node desktop engine never joins a cluster",
  Node: "swarm mode (cluster nodes)",
  Service: "swarm mode (replicated services; Compose covers the desktop case)",
  Task: "swarm mode (service tasks)",
  Secret: "swarm mode (cluster secrets; build secrets are BuildKit's)",
  Config: "swarm mode (cluster configs)",
  Plugin: "managed engine plugins (v2 plugin bundles) are not supported",
};

/**
 * In-scope tags the engine deliberately does not serve, with the reason. Their operations must answer
 * as a Docker Engine without the route does: 404 with Docker's JSON error (dockerd's router answers an
 * unknown route with 404 `{"message": "page not found"}`; HATAKE's text names the endpoint).
 */
export const NOT_SERVED_TAGS: Readonly<Record<string, string>> = {
  Session:
    "not served: BuildKit's session protocol (gRPC over a hijacked POST /session) is not offered; the buildx plugin reaches HATAKE's build service (wire/build.proto) instead, so the route is absent and answers 404 like an engine without session support",
};

/** daemon/cluster `errNoManager` on a node without a swarm. */
export const NOT_A_SWARM_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** daemon/cluster `errNoSwarm`. */
export const NOT_PART_OF_A_SWARM = "This node is not part of a swarm";

export interface OutOfScopeExpectation {
  readonly status: number;
  /** The error message starts with this text (Docker's). */
  readonly messagePrefix?: string;
  /** The body equals this JSON value instead of being an error. */
  readonly body?: unknown;
}

/** The plugin name used where an operation names one. */
export const PROBE_PLUGIN = "hatake-conformance/no-such-plugin:latest";

/**
 * The expected answer per out-of-scope operationId. Operations Docker would really carry out on a
 * plain engine (swarm init/join, plugin pull/create/privileges) only need a JSON error: HATAKE refuses
 * them as unsupported, and a Docker Engine would fail them for the empty request the probe sends.
 */
export function outOfScopeExpectation(operationId: string, tag: string): OutOfScopeExpectation | "any-json-error" {
  switch (operationId) {
    case "SwarmLeave":
      return { status: 503, messagePrefix: NOT_PART_OF_A_SWARM };
    case "SwarmInit":
    case "SwarmJoin":
    case "PluginPull":
    case "PluginCreate":
    case "GetPluginPrivileges":
      return "any-json-error";
    case "PluginList":
      return { status: 200, body: [] };
    default:
      if (tag === "Plugin") return { status: 404, messagePrefix: `plugin "${PROBE_PLUGIN}" not found` };
      return { status: 503, messagePrefix: NOT_A_SWARM_MANAGER };
  }
}
