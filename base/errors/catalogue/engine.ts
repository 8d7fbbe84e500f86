import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** ENGINE (the daemon process) and API (the Docker Engine API it serves). */
export const engineDiagnostics = {
  "HTK-ENGINE-0001": {
    title: "Data root in use",
    cause: "Another HATAKE engine (process {pid}) is already using the data root {dataRoot}.",
    next: "Stop that engine first (kill -TERM {pid}), or start this one with a different --data-root.",
  },
  "HTK-ENGINE-0005": {
    title: "Data root used by a build",
    cause: "An in-process build (hatake build --data-root, process {pid}) is using the data root {dataRoot}; the engine cannot share it.",
    next: "Let that build finish (or stop it), then start the engine; or start the engine with a different --data-root.",
  },
  "HTK-ENGINE-0002": {
    title: "Socket in use",
    cause: "The address {address} is already served by another process.",
    next: "Stop the process that serves it, or start the engine with a different -H/--host.",
  },
  "HTK-ENGINE-0003": {
    title: "Unsupported listen address",
    cause: "The listen address \"{address}\" is not one the engine can serve: {detail}.",
    next: "Use unix:///path/to/socket or tcp://127.0.0.1:PORT.",
  },
  "HTK-ENGINE-0004": {
    title: "Daemon configuration unreadable",
    cause: "The daemon configuration file {path} could not be used: {detail}.",
    next: "Fix the file (it is JSON, with the option names dockerd uses) or start without --config-file.",
  },
  "HTK-API-0001": {
    title: "No such API endpoint",
    cause: "The engine has no endpoint {method} {path}.",
    next: "Check the client's API version and the request path; the Engine API v1.45 reference lists the endpoints.",
    http: 404,
  },
  "HTK-API-0002": {
    title: "Client API version too new",
    cause: "client version {requested} is too new. Maximum supported API version is {max}.",
    next: "Set DOCKER_API_VERSION={max} or use a client that negotiates the version.",
    http: 400,
    dockerText: true,
  },
  "HTK-API-0003": {
    title: "Client API version too old",
    cause: "client version {requested} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version.",
    next: "Use a newer client, or set DOCKER_API_VERSION to {min} or later.",
    http: 400,
    dockerText: true,
  },
  "HTK-API-0004": {
    title: "Method not allowed",
    cause: "The endpoint {path} does not accept the method {method}.",
    next: "Use one of: {allowed}.",
    http: 404,
  },
  "HTK-API-0005": {
    title: "Not a swarm manager",
    cause: "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
    next: "HATAKE runs no swarm (docker swarm init is not supported); run the workload with docker run or docker compose instead.",
    http: 503,
    dockerText: true,
  },
  "HTK-API-0006": {
    title: "Not part of a swarm",
    cause: "This node is not part of a swarm.",
    next: "Nothing to leave: HATAKE never joins a swarm.",
    http: 503,
    dockerText: true,
  },
  "HTK-API-0007": {
    title: "Swarm mode not supported",
    cause: "Swarm mode is not supported by the HATAKE engine ({operation}).",
    next: "Run the workload with docker run or docker compose; use a Docker Engine for swarm clusters.",
    http: 501,
  },
  "HTK-API-0008": {
    title: "No such plugin",
    cause: "plugin \"{name}\" not found.",
    next: "The HATAKE engine has no managed plugins; \"docker plugin ls\" lists none.",
    http: 404,
    dockerText: true,
  },
  "HTK-API-0009": {
    title: "Managed plugins not supported",
    cause: "Managed engine plugins are not supported by the HATAKE engine ({operation}).",
    next: "Use the built-in volume and network drivers, or a Docker Engine for managed plugins.",
    http: 501,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
