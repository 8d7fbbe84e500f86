import { resolve } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { DRIVERS, fromGroup, loadNodes } from "../builders.ts";
import { parseHost } from "../client.ts";
import { DEFAULT_CONTEXT } from "../docker-cli.ts";
import { splitCsv } from "../flags.ts";
import { BuilderStore, validateName, type NodeGroup, type StoredNode } from "../store.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx create [--name N] [--driver hatake|remote] [--use] [--bootstrap] [ENDPOINT]`: a new
 * builder in the store (or, with --append / --node, a node changed or added), as buildx's
 * builder.Create does, with its texts; prints the builder's name.
 */
export async function runCreate(ctx: CommandContext): Promise<number> {
  const { flags, cli } = ctx;
  const store = BuilderStore.for(cli);
  const given = flags.string("name") ?? "";
  const append = flags.bool("append");
  if (flags.bool("leave")) return leave(ctx, store, given);
  if (given === "default") throw htkError("HTK-BUILDX-0009", {});
  if (append && given === "") throw htkError("HTK-BUILDX-0020", { buildxMessage: "append requires a builder name" });
  const name = given === "" ? store.generateName() : validateName(given);
  if (!append && cli.contexts().some((c) => c.name === name)) throw htkError("HTK-BUILDX-0010", { name });
  const existing = store.get(name);
  if (existing === undefined && append) throw htkError("HTK-BUILDX-0020", { buildxMessage: `failed to find instance "${given}" for append` });
  const endpointArg = ctx.args[0] ?? "";
  const buildkitHost = ctx.io.env["BUILDKIT_HOST"] ?? "";
  let driver = flags.string("driver") ?? "";
  if (driver === "") driver = existing?.Driver ?? (endpointArg === "" && buildkitHost !== "" ? "remote" : "hatake");
  const nodeName = flags.string("node") ?? "";
  if (existing !== undefined) {
    if (nodeName === "" && !append) throw htkError("HTK-BUILDX-0011", { name });
    if (driver !== existing.Driver) throw htkError("HTK-BUILDX-0020", { buildxMessage: `existing instance for "${name}" but has mismatched driver "${existing.Driver}"` });
  }
  if (!(DRIVERS as readonly string[]).includes(driver)) throw htkError("HTK-BUILDX-0014", { driver });
  const driverOpts = parseDriverOpts(flags.list("driver-opt"), ctx.io.cwd);
  let endpoint: string;
  let endpointSet = true;
  if (driver === "remote") {
    endpoint = endpointArg !== "" ? endpointArg : buildkitHost;
    if (endpoint === "") throw htkError("HTK-BUILDX-0012", {});
    parseHost(endpoint);
  } else if (endpointArg !== "") {
    endpoint = validateEndpoint(ctx, endpointArg);
  } else {
    endpoint = cli.currentStoreKey();
    endpointSet = false;
  }
  const platforms = flags.list("platform").flatMap(splitCsv).map(parsePlatform);
  const flagsText = flags.string("buildkitd-flags") ?? "";
  const nodes: StoredNode[] = [...(existing?.Nodes ?? [])];
  const at = nodes.findIndex((n) => n.Name === nodeName);
  if (at >= 0) {
    const n = nodes[at] as StoredNode;
    nodes[at] = {
      ...n,
      ...(endpointSet ? { Endpoint: endpoint } : {}),
      ...(platforms.length > 0 ? { Platforms: platforms } : {}),
      ...(driverOpts === null ? {} : { DriverOpts: driverOpts }),
      ...(flagsText === "" ? {} : { Flags: flagsText.split(/\s+/) }),
    };
    if (endpointSet || driverOpts !== null || flagsText !== "") ctx.io.stderr.write('time="' + new Date().toISOString() + '" level=warning msg="new settings may not be used until builder is restarted"\n');
  } else {
    if (!append && nodes.length > 0 && nodeName !== "") throw htkError("HTK-BUILDX-0020", { buildxMessage: `node ${nodeName} not found, did you mean to append?` });
    if (!append) nodes.length = 0;
    if (nodes.some((n) => n.Endpoint === endpoint)) throw htkError("HTK-BUILDX-0020", { buildxMessage: `invalid duplicate endpoint ${endpoint}` });
    nodes.push({
      Name: nodeName === "" ? nextNodeName(name, nodes) : validateName(nodeName),
      Endpoint: endpoint,
      Platforms: platforms.length > 0 ? platforms : null,
      DriverOpts: driverOpts,
      Flags: flagsText === "" ? null : flagsText.split(/\s+/),
      Files: null,
    });
  }
  const ng: NodeGroup = { Name: name, Driver: driver, Nodes: nodes, Dynamic: false };
  store.save(ng);
  if (flags.bool("use") && endpoint !== "") store.setCurrent(cli.currentStoreKey(), name, false, false);
  if (flags.bool("bootstrap")) {
    const infos = await loadNodes(cli, fromGroup(ng, store), ctx.signal);
    const failed = infos.find((i) => i.error !== undefined);
    if (failed !== undefined) throw failed.cause;
  }
  ctx.io.stdout.write(`${name}\n`);
  return 0;
}

function leave(ctx: CommandContext, store: BuilderStore, name: string): number {
  const nodeName = ctx.flags.string("node") ?? "";
  if (name === "") throw htkError("HTK-BUILDX-0020", { buildxMessage: "leave requires instance name" });
  if (nodeName === "") throw htkError("HTK-BUILDX-0020", { buildxMessage: "leave requires node name" });
  const ng = store.get(name);
  if (ng === undefined) throw htkError("HTK-BUILDX-0020", { buildxMessage: `failed to find instance "${name}" for leave` });
  const i = ng.Nodes.findIndex((n) => n.Name === nodeName);
  if (i < 0) throw htkError("HTK-BUILDX-0020", { buildxMessage: `node "${nodeName}" not found for ${ng.Name}` });
  if (ng.Nodes.length === 1) throw htkError("HTK-BUILDX-0020", { buildxMessage: "can not leave last node, do you want to rm instance instead?" });
  store.save({ ...ng, Nodes: ng.Nodes.filter((_, j) => j !== i) });
  return 0;
}

/** buildx's validateEndpoint: a docker context's name (default: its host), or a docker host address. */
function validateEndpoint(ctx: CommandContext, ep: string): string {
  const context = ctx.cli.contexts().find((c) => c.name === ep);
  if (context !== undefined) return ep === DEFAULT_CONTEXT ? context.endpoint.host : ep;
  if (!/^[a-z0-9+]+:\/\//.test(ep)) throw htkError("HTK-BUILDX-0020", { buildxMessage: `failed to parse endpoint ${ep}: Invalid bind address format: ${ep}` });
  parseHost(ep);
  return ep;
}

/** `--driver-opt k=v[,k=v]`, as buildx's csvToMap; TLS file paths made absolute (they are read later). */
function parseDriverOpts(list: readonly string[], cwd: string): Record<string, string> | null {
  if (list.length === 0) return null;
  const out: Record<string, string> = {};
  for (const item of list) {
    for (const kv of splitCsv(item)) {
      const eq = kv.indexOf("=");
      if (eq < 0) throw htkError("HTK-BUILDX-0020", { buildxMessage: `invalid value "${kv}", expecting k=v` });
      const k = kv.slice(0, eq);
      const v = kv.slice(eq + 1);
      out[k] = ["cacert", "cert", "key"].includes(k) ? resolve(cwd, v) : v;
    }
  }
  return out;
}

function parsePlatform(p: string): { os: string; architecture: string; variant?: string } {
  const [os, architecture, variant] = p.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "") throw htkError("HTK-BUILDX-0020", { buildxMessage: `"${p}": unknown operating system or architecture: invalid argument` });
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

function nextNodeName(name: string, nodes: readonly StoredNode[]): string {
  for (let i = 0; ; i++) if (!nodes.some((n) => n.Name === `${name}${i}`)) return `${name}${i}`;
}
