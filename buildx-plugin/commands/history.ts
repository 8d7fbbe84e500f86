import { htkError } from "../../base/errors/index.ts";
import { PlainPrinter } from "../../base/progress/index.ts";
import { progressFromWire, type HistoryRecord } from "../../wire/index.ts";
import { builderClient, nodeEndpoint } from "../builders.ts";
import type { DockerEndpoint } from "../docker-cli.ts";
import { guiUrl, openUrl } from "../gui-url.ts";
import { call, type EngineClient } from "../client.ts";
import { renderFormat } from "../format.ts";
import { BuilderStore } from "../store.ts";
import { tabwrite } from "../tabwriter.ts";
import type { CommandContext } from "../types.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { humanDuration } from "../../base/units.ts";

/**
 * `docker buildx history ls|inspect|logs|rm`: the builder's build records (the engine's solver records
 * plus what the build service kept of each: name, frontend attributes, exporter response).
 */
async function withClient<T>(ctx: CommandContext, fn: (client: EngineClient, prefix: string, endpoint: DockerEndpoint) => Promise<T>): Promise<T> {
  const store = BuilderStore.for(ctx.cli);
  const { builder, node, client } = builderClient(ctx.cli, store, ctx.builder);
  try {
    return await fn(client, `${builder.name}/${node.Name}`, nodeEndpoint(ctx.cli, builder, node));
  } finally {
    client.close();
  }
}

const DEFAULT_TABLE = "table {{.Ref}}\t{{.Name}}\t{{.Status}}\t{{.CreatedAt}}\t{{.Duration}}\t{{.Link}}";

export async function runHistoryLs(ctx: CommandContext): Promise<number> {
  return withClient(ctx, async (client, prefix, endpoint) => {
    const r = await call(client, "ListHistory", () => client.service.listHistory({}, { signal: ctx.signal }));
    const filters = ctx.flags.list("filter").map(parseHistoryFilter);
    const records = r.records.filter((rec) => filters.every((f) => f(rec))).sort((a, b) => {
      if (a.completedAt === "" && b.completedAt !== "") return -1;
      if (a.completedAt !== "" && b.completedAt === "") return 1;
      return Date.parse(b.createdAt) - Date.parse(a.createdAt);
    });
    const format = ctx.flags.string("format") ?? "table";
    const table = format === "table" || format.startsWith("table ");
    const trunc = !ctx.flags.bool("no-trunc");
    const rows = records.map((rec) => ({
      fields: {
        Ref: rec.ref,
        Name: trunc && table ? trimBeginning(rec.name, 36) : rec.name,
        Status: status(rec),
        CreatedAt: `${humanDuration(Date.now() - Date.parse(rec.createdAt))} ago`,
        Duration: duration(rec),
        // buildx: the GUI link in custom formats; a table shows it only on a terminal (as a hyperlink).
        Link: table ? "" : (guiUrl(endpoint, `${prefix}/${rec.ref}`, ctx.io.env) ?? ""),
      },
      json: {
        ref: `${prefix}/${rec.ref}`,
        name: rec.name,
        status: status(rec),
        created_at: rec.createdAt,
        ...(rec.completedAt === "" ? {} : { completed_at: rec.completedAt }),
        total_steps: rec.numTotalSteps,
        completed_steps: rec.numCompletedSteps,
        cached_steps: rec.numCachedSteps,
      },
    }));
    ctx.io.stdout.write(renderFormat(format, DEFAULT_TABLE, { Ref: "BUILD ID", Name: "NAME", Status: "STATUS", CreatedAt: "CREATED AT", Duration: "DURATION", Link: "" }, rows));
    return 0;
  });
}

export async function runHistoryInspect(ctx: CommandContext): Promise<number> {
  return withClient(ctx, async (client, prefix) => {
    const explain = ctx.flags.bool("explain-cache");
    let rec = await record(ctx, client);
    if (explain) {
      const ref = rec.ref;
      rec = await call(client, "GetHistory", () => client.service.getHistory({ ref, explainCache: true }, { signal: ctx.signal }));
    }
    if (ctx.flags.string("format") === "json") {
      ctx.io.stdout.write(`${JSON.stringify({ ...(inspectJson(rec, prefix) as object), ...(explain ? { CacheExplanation: rec.cacheExplanation } : {}) }, null, 2)}\n`);
      return 0;
    }
    const a = rec.frontendAttrs;
    let t = `Name:\t${rec.name}\nContext:\t${a["context"] ?? "."}\nDockerfile:\t${a["filename"] ?? "Dockerfile"}\n`;
    if (a["target"] !== undefined && a["target"] !== "") t += `Target:\t${a["target"]}\n`;
    t += `\nStarted:\t${rec.createdAt.replace("T", " ").replace(/\.\d+Z$|Z$/, "")}\n`;
    t += `Duration:\t${duration(rec)}\n`;
    const pct = rec.numTotalSteps === 0 ? 0 : Math.round((rec.numCachedSteps / rec.numTotalSteps) * 100);
    t += `Build Steps:\t${rec.numCompletedSteps}/${rec.numTotalSteps} (${pct}% cached)\n`;
    const args = Object.entries(a).filter(([k]) => k.startsWith("build-arg:")).sort(([x], [y]) => x.localeCompare(y));
    if (args.length > 0) t += `\nBuild Arg\tValue\n${args.map(([k, v]) => `${k.slice("build-arg:".length)}\t${v}\n`).join("")}`;
    const image = rec.exporterResponse["image.name"];
    if (image !== undefined) t += `\nImage:\t${image}\n`;
    const digest = rec.exporterResponse["containerimage.digest"];
    if (digest !== undefined) t += `Image Digest:\t${digest}\n`;
    if (rec.error !== "") t += `\nError:\t${rec.error}\n`;
    let out = tabwrite(t, { minwidth: 1, padding: 1 });
    // --explain-cache: for every step that ran, why the cache missed (the engine's solver compares
    // with the previous build of the same target), as `hatake build --explain-cache` prints it.
    if (explain) out += `\nCache misses:\n${rec.cacheExplanation.length === 0 ? "  every step came from the cache\n" : rec.cacheExplanation.map((l) => `  ${l}\n`).join("")}`;
    out += `\nPrint build logs: docker buildx history logs ${rec.ref}\n`;
    ctx.io.stdout.write(out);
    return 0;
  });
}

export async function runHistoryLogs(ctx: CommandContext): Promise<number> {
  return withClient(ctx, async (client) => {
    const rec = await record(ctx, client);
    const progress = ctx.flags.string("progress") ?? "plain";
    const printer = new PlainPrinter((t) => void ctx.io.stdout.write(t));
    try {
      for await (const m of client.service.historyLogs({ ref: rec.ref }, { signal: ctx.signal })) {
        const ev = progressFromWire(m);
        if (ev === undefined) continue;
        if (progress === "rawjson") ctx.io.stdout.write(`${JSON.stringify(ev.kind === "log" ? { ...ev, data: Buffer.from(ev.data).toString("base64") } : ev)}\n`);
        else printer.handle(ev);
      }
    } catch (err) {
      throw (await import("../client.ts")).clientError(err, client.endpoint, "HistoryLogs");
    }
    return 0;
  });
}

export async function runHistoryRm(ctx: CommandContext): Promise<number> {
  return withClient(ctx, async (client) => {
    let refs = [...ctx.args];
    if (ctx.flags.bool("all")) {
      const r = await call(client, "ListHistory", () => client.service.listHistory({}, { signal: ctx.signal }));
      refs = r.records.filter((x) => x.completedAt !== "").map((x) => x.ref);
    } else if (refs.length === 0) throw htkError("HTK-BUILDX-0020", { buildxMessage: "rm requires at least one argument" });
    // Offsets (^N) are resolved before anything is removed, so "^1 ^2" means what it meant.
    const resolved: string[] = [];
    for (const wanted of refs) resolved.push(wanted.startsWith("^") ? (await record(ctx, client, wanted)).ref : (wanted.split("/").at(-1) ?? wanted));
    for (const ref of resolved) await call(client, "RemoveHistory", () => client.service.removeHistory({ ref }, { signal: ctx.signal }));
    return 0;
  });
}

/**
 * `history open`: the GUI's page of the build (buildx opens Docker Desktop's; ours is the page the
 * engine serves under /ui/builds/BUILDER/NODE/REF). The URL is printed, and handed to the desktop's
 * browser ($BROWSER or xdg-open) when there is a display.
 */
export async function runHistoryOpen(ctx: CommandContext): Promise<number> {
  return withClient(ctx, async (client, prefix, endpoint) => {
    const rec = await record(ctx, client);
    const url = guiUrl(endpoint, `${prefix}/${rec.ref}`, ctx.io.env);
    if (url === undefined) throw htkError("HTK-BUILDX-0111", { endpoint: endpoint.host });
    ctx.io.stdout.write(`${url}\n`);
    openUrl(url, ctx.io.env);
    return 0;
  });
}

/** `--filter` of history ls: ref, status (=, !=); startedAt, completedAt, duration (<, >). */
function parseHistoryFilter(spec: string): (r: HistoryRecord) => boolean {
  const m = /^([A-Za-z]+)(!=|=|<=|>=|<|>)(.*)$/.exec(spec);
  if (m === null) throw htkError("HTK-BUILDX-0112", { filter: spec });
  const [, key = "", op = "", value = ""] = m;
  const eq = (actual: string, wanted: string): boolean => (op === "!=" ? actual !== wanted : actual === wanted);
  switch (key) {
    case "ref":
      if (op !== "=" && op !== "!=") break;
      return (r) => eq(r.ref, value.split("/").at(-1) ?? value);
    case "status": {
      if (op !== "=" && op !== "!=") break;
      const want = ({ success: "completed", failed: "error" } as Record<string, string>)[value.toLowerCase()] ?? value.toLowerCase();
      return (r) => eq(status(r).toLowerCase(), want);
    }
    case "startedAt":
    case "completedAt":
    case "duration": {
      if (op === "=" || op === "!=") break;
      const cmp = (a: number, b: number): boolean => (op === "<" ? a < b : op === ">" ? a > b : op === "<=" ? a <= b : a >= b);
      if (key === "duration") {
        const ns = parseGoDuration(value);
        if (ns === undefined) throw htkError("HTK-BUILDX-0112", { filter: spec });
        return (r) => r.completedAt !== "" && cmp(Date.parse(r.completedAt) - Date.parse(r.createdAt), ns / 1e6);
      }
      const ns = parseGoDuration(value);
      const t = ns !== undefined ? Date.now() - ns / 1e6 : Date.parse(value);
      if (Number.isNaN(t)) throw htkError("HTK-BUILDX-0112", { filter: spec });
      return (r) => {
        const at = key === "startedAt" ? r.createdAt : r.completedAt;
        return at !== "" && cmp(Date.parse(at), t);
      };
    }
    default:
      break;
  }
  throw htkError("HTK-BUILDX-0112", { filter: spec });
}

/** The record an inspect/logs names: a ref (or a builder/node/ref), `^N` (the Nth latest), or the latest. */
async function record(ctx: CommandContext, client: EngineClient, wanted = ctx.args[0]): Promise<HistoryRecord> {
  if (wanted !== undefined && !wanted.startsWith("^")) {
    return call(client, "GetHistory", () => client.service.getHistory({ ref: wanted.split("/").at(-1) ?? wanted }, { signal: ctx.signal }));
  }
  const offset = wanted === undefined ? 0 : Number(wanted.slice(1));
  const r = await call(client, "ListHistory", () => client.service.listHistory({}, { signal: ctx.signal }));
  const sorted = [...r.records].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  const rec = sorted[offset];
  if (rec === undefined) throw htkError("HTK-BUILDX-0027", { what: wanted ?? "latest" });
  return rec;
}

function status(r: HistoryRecord): string {
  if (r.completedAt === "") return "Running";
  if (r.status === "canceled") return "Canceled";
  return r.error !== "" || r.status === "error" ? "Error" : "Completed";
}

/** buildx's formatDuration: `1.4s`, or `2m 3s` from a minute. */
function duration(r: HistoryRecord): string {
  const end = r.completedAt === "" ? Date.now() : Date.parse(r.completedAt);
  const ms = end - Date.parse(r.createdAt);
  const v = ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m ${String(Math.floor(ms / 1000) % 60).padStart(2)}s`;
  return r.completedAt === "" ? `${v}+` : v;
}

function trimBeginning(s: string, n: number): string {
  return s.length > n ? `..${s.slice(s.length - n + 2)}` : s;
}

function inspectJson(rec: HistoryRecord, prefix: string): unknown {
  return {
    Name: rec.name,
    Ref: `${prefix}/${rec.ref}`,
    Context: rec.frontendAttrs["context"] ?? ".",
    Dockerfile: rec.frontendAttrs["filename"] ?? "Dockerfile",
    ...(rec.frontendAttrs["target"] === undefined ? {} : { Target: rec.frontendAttrs["target"] }),
    StartedAt: rec.createdAt,
    ...(rec.completedAt === "" ? {} : { CompletedAt: rec.completedAt }),
    Status: status(rec).toLowerCase(),
    NumCompletedSteps: rec.numCompletedSteps,
    NumTotalSteps: rec.numTotalSteps,
    NumCachedSteps: rec.numCachedSteps,
    ...(rec.error === "" ? {} : { Error: { Message: rec.error } }),
  };
}
