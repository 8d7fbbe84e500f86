import { readFileSync } from "node:fs";
import { htkError } from "../base/errors/index.ts";
import { call, engineClient, type EngineClient } from "./client.ts";
import { DEFAULT_CONTEXT, type DockerCli, type DockerEndpoint } from "./docker-cli.ts";
import { type BuilderStore, type NodeGroup, type StoredNode } from "./store.ts";

/**
 * Builders as buildx sees them: every docker context is a builder of its own name (the engine of that
 * context builds; driver "hatake" here where buildx says "docker"), and the store holds the ones made
 * with `docker buildx create`:
 *
 * - driver `hatake`: a node's endpoint is a docker context name or a docker host (unix://, tcp://);
 * - driver `remote`: another HATAKE engine at unix:///PATH or tcp://HOST:PORT, with mutual TLS from the
 *   driver options `cacert`, `cert`, `key` (buildx's remote driver options).
 *
 * Builders of other drivers (docker-container, kubernetes, made by Docker's buildx) are listed, and
 * fail with HTK-BUILDX-0008 when used.
 */
export type DriverName = "hatake" | "remote";
export const DRIVERS: readonly DriverName[] = ["hatake", "remote"];

export interface Builder {
  readonly name: string;
  readonly driver: string;
  readonly nodes: readonly StoredNode[];
  /** A docker context's own builder (not in the store). */
  readonly contextBuilder: boolean;
  readonly dynamic: boolean;
  readonly lastActivity?: Date;
}

export function fromGroup(ng: NodeGroup, store: BuilderStore): Builder {
  const lastActivity = store.lastActivity(ng.Name);
  return { name: ng.Name, driver: ng.Driver, nodes: ng.Nodes, contextBuilder: false, dynamic: ng.Dynamic, ...(lastActivity === undefined ? {} : { lastActivity }) };
}

export function contextBuilder(name: string, store: BuilderStore): Builder {
  const lastActivity = store.lastActivity(name);
  return {
    name,
    driver: "hatake",
    nodes: [{ Name: name, Endpoint: name, Platforms: null, DriverOpts: null, Flags: null, Files: null }],
    contextBuilder: true,
    dynamic: false,
    ...(lastActivity === undefined ? {} : { lastActivity }),
  };
}

/**
 * The builder a command acts on (buildx's builder.New): the named one (a stored builder, else a docker
 * context), or the current one for this docker endpoint, else the current context's own.
 */
export function resolveBuilder(cli: DockerCli, store: BuilderStore, name?: string): Builder {
  if (name !== undefined) {
    const ng = store.get(name);
    if (ng !== undefined) return fromGroup(ng, store);
    if (cli.contexts().some((c) => c.name === name)) return contextBuilder(name, store);
    throw htkError("HTK-BUILDX-0003", { name });
  }
  const current = store.current(cli.currentStoreKey());
  if (current !== undefined) return fromGroup(current, store);
  return contextBuilder(cli.currentContext, store);
}

/** Every builder: the store's, then the contexts' (a stored builder wins over a context of its name). */
export function allBuilders(cli: DockerCli, store: BuilderStore): Builder[] {
  const stored = store.list().map((ng) => fromGroup(ng, store));
  const names = new Set(stored.map((b) => b.name));
  const contexts = cli
    .contexts()
    .filter((c) => !names.has(c.name))
    .map((c) => contextBuilder(c.name, store));
  return [...stored, ...contexts];
}

/** Where a builder's node is reached. */
export function nodeEndpoint(cli: DockerCli, builder: Builder, node: StoredNode): DockerEndpoint {
  if (builder.driver === "remote") {
    const o = node.DriverOpts ?? {};
    const file = (k: string): Buffer | undefined => (o[k] === undefined ? undefined : readFileSync(o[k] as string));
    const ca = file("cacert");
    const cert = file("cert");
    const key = file("key");
    const tls = ca !== undefined || cert !== undefined ? { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }), skipVerify: false } : undefined;
    return { host: node.Endpoint, ...(tls === undefined ? {} : { tls }) };
  }
  if (builder.driver !== "hatake" && builder.driver !== "docker") throw htkError("HTK-BUILDX-0008", { name: builder.name, driver: builder.driver });
  // A context name, or a host written as such.
  if (/^[a-z0-9+]+:\/\//.test(node.Endpoint)) return { host: node.Endpoint };
  return cli.contextEndpoint(node.Endpoint === "" ? DEFAULT_CONTEXT : node.Endpoint);
}

export interface NodeInfo {
  readonly node: StoredNode;
  readonly status: "running" | "inactive" | "error";
  readonly error?: string;
  /** The failure itself, for commands that stop on it (inspect --bootstrap). */
  readonly cause?: unknown;
  readonly version?: string;
  readonly platforms: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly gcPolicy: readonly { readonly all: boolean; readonly filters: readonly string[]; readonly keepDurationSeconds: number; readonly keepBytes: number }[];
}

/** Asks each node's engine for its workers (ListWorkers): status, version, platforms. */
export async function loadNodes(cli: DockerCli, builder: Builder, signal: AbortSignal): Promise<NodeInfo[]> {
  return Promise.all(
    builder.nodes.map(async (node): Promise<NodeInfo> => {
      let client: EngineClient | undefined;
      try {
        client = engineClient(nodeEndpoint(cli, builder, node));
        const c = client;
        const r = await call(c, "ListWorkers", () => c.service.listWorkers({}, { signal, timeoutMs: 20_000 }));
        return {
          node,
          status: "running",
          version: r.buildkitVersion,
          platforms: r.workers.flatMap((w) => w.platforms),
          labels: Object.fromEntries(r.workers.flatMap((w) => Object.entries(w.labels))),
          gcPolicy: r.workers.flatMap((w) => w.gcPolicy.map((g) => ({ all: g.all, filters: g.filters, keepDurationSeconds: Number(g.keepDurationSeconds), keepBytes: Number(g.keepBytes) }))),
        };
      } catch (err) {
        return { node, status: "error", error: errorText(err), cause: err, platforms: [], labels: {}, gcPolicy: [] };
      } finally {
        client?.close();
      }
    }),
  );
}

/** The one-line text of an error for buildx's "Failed to get status" and inspect's "Error:" lines. */
export function errorText(err: unknown): string {
  if (err instanceof Error && "plainCause" in err && typeof (err as { plainCause: unknown }).plainCause === "string") return (err as { plainCause: string }).plainCause;
  return err instanceof Error ? err.message : String(err);
}

/** The builder a command acts on and a client for its (first) node. */
export function builderClient(cli: DockerCli, store: BuilderStore, name?: string): { builder: Builder; node: StoredNode; client: EngineClient } {
  const builder = resolveBuilder(cli, store, name);
  const node = builder.nodes[0];
  if (node === undefined) throw htkError("HTK-BUILDX-0003", { name: builder.name });
  return { builder, node, client: engineClient(nodeEndpoint(cli, builder, node)) };
}
