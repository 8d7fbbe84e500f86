import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { IncomingMessage } from "node:http";
import { htkError, isHtkError, toHtkError, type HtkError } from "../../base/errors/index.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { CACHE_RECORD_TYPES, type CacheRecordType } from "../build/cache-usage.ts";
import { checkedLimits } from "../build/step-limits.ts";
import type { Builds, BuildRequest, DockerfileSource, ExtraHost } from "../build/engine-builds.ts";
import { parseFilters, validateFilterKeys, values } from "../state/index.ts";
import { registryConfigCredentials } from "./build-service-cache.ts";
import { ClassicProgress, type JsonMessage } from "./build-classic.ts";
import { extractContext, fetchRemoteContext, locateDockerfile } from "./build-context.ts";
import { headerValue } from "./query-params.ts";
import { sendError, sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * The build endpoints on the daemon's build service (`engine/build`, `Builds`):
 *
 * - `POST /build`: the classic (non-BuildKit) API path that `DOCKER_BUILDKIT=0 docker build`,
 *   docker-py and compose v1 use: the context tar (or `remote`), every v1.45 query parameter, the
 *   classic jsonmessage progress stream (build-classic.ts). `version=2` (a BuildKit session) is
 *   answered with HTK-BUILD-0307: HATAKE's `docker buildx` plugin is the way to BuildKit builds.
 * - `POST /build/prune` (BuildKit's shape: CachesDeleted, SpaceReclaimed) and `POST /build/cancel?id=`.
 */
export interface BuildServices {
  readonly builds: Builds;
  readonly config: { readonly dataRoot: string };
}

/** The query keys of `POST /build` in API v1.45 (and what the docker CLI and docker-py send). */
const BUILD_QUERY = [
  "dockerfile",
  "t",
  "extrahosts",
  "remote",
  "q",
  "nocache",
  "cachefrom",
  "pull",
  "rm",
  "forcerm",
  "memory",
  "memswap",
  "cpushares",
  "cpusetcpus",
  "cpusetmems",
  "cpuperiod",
  "cpuquota",
  "buildargs",
  "shmsize",
  "squash",
  "labels",
  "networkmode",
  "platform",
  "target",
  "outputs",
  "version",
  "ulimits",
  "isolation",
  "cgroupparent",
  "securityopt",
  "session",
  "buildid",
] as const;

export function buildRoutes(services: BuildServices): Route[] {
  return [
    { method: "POST", pattern: "/build", query: BUILD_QUERY, handle: (ctx) => postBuild(services, ctx) },
    { method: "POST", pattern: "/build/prune", query: ["all", "keep-storage", "filters"], handle: (ctx) => postPrune(services, ctx) },
    {
      method: "POST",
      pattern: "/build/cancel",
      query: ["id"],
      handle(ctx) {
        const id = ctx.query.get("id") ?? "";
        if (id === "") throw htkError("HTK-BUILD-0310", {});
        // BuildKit answers an unknown (or finished) build's cancel with success too.
        services.builds.cancel(id);
        ctx.res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "0" }).end();
      },
    },
  ];
}

/** Docker's boolean query values (httputils.BoolValue): anything but "", "0", "no", "false", "none". */
function boolValue(q: URLSearchParams, key: string): boolean {
  const v = (q.get(key) ?? "").trim().toLowerCase();
  return !(v === "" || v === "0" || v === "no" || v === "false" || v === "none");
}

function jsonParam<T>(q: URLSearchParams, key: string, check: (v: unknown) => v is T, hint: string): T | undefined {
  const text = q.get(key);
  if (text === null || text === "") return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw htkError("HTK-BUILD-0308", { name: key, detail: (err as Error).message, hint });
  }
  // Go's json.Unmarshal of `null` into a slice or map leaves it empty: older CLIs send ulimits=null.
  if (v === null) return undefined;
  if (!check(v)) throw htkError("HTK-BUILD-0308", { name: key, detail: `expected ${hint.replace(/^Send /, "")}`, hint });
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((x) => typeof x === "string");
const isArgMap = (v: unknown): v is Record<string, string | null> => isObject(v) && Object.values(v).every((x) => typeof x === "string" || x === null);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
const isLimit = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= -1;
const isUlimitList = (v: unknown): v is { Name: string; Soft: number; Hard: number }[] =>
  Array.isArray(v) && v.every((u) => isObject(u) && typeof u["Name"] === "string" && isLimit(u["Soft"]) && isLimit(u["Hard"]));

/** The request as the build service takes it, minus the context. */
interface ClassicOptions {
  readonly request: Omit<BuildRequest, "context" | "signal" | "dockerfile" | "onEvent">;
  readonly dockerfile: string | undefined;
  readonly remote: string | undefined;
  readonly quiet: boolean;
}

function classicOptions(q: URLSearchParams): ClassicOptions {
  const version = q.get("version") ?? "";
  if (version === "2") throw htkError("HTK-BUILD-0307", {});
  if (version !== "" && version !== "1") throw htkError("HTK-BUILD-0309", { version });
  const buildArgs: Record<string, string> = {};
  for (const [k, v] of Object.entries(jsonParam(q, "buildargs", isArgMap, "Send buildargs as a JSON object of names to values.") ?? {})) {
    // "NAME": null is `--build-arg NAME` with NAME unset on the client: mentioned, without a value.
    if (v !== null) buildArgs[k] = v;
  }
  const labels = jsonParam(q, "labels", isStringMap, "Send labels as a JSON object of names to values.");
  // Images whose inline cache the build may use (dockerd with BuildKit imports them as registry caches;
  // one that cannot be read is skipped, as BuildKit skips a failing cache import).
  const cacheFrom = (jsonParam(q, "cachefrom", isStringList, "Send cachefrom as a JSON list of image names.") ?? []).filter((r) => r.trim() !== "").map((ref) => ({ type: "registry" as const, ref: ref.trim(), ignoreError: true }));
  const ulimits = jsonParam(q, "ulimits", isUlimitList, "Send ulimits as a JSON list of {Name, Soft, Hard}.") ?? [];
  const shm = q.get("shmsize");
  if (shm !== null && shm !== "" && !/^\d+$/.test(shm)) throw htkError("HTK-BUILD-0308", { name: "shmsize", detail: `"${shm}" is not a number of bytes`, hint: "Send shmsize in bytes." });
  const cgroupParent = q.get("cgroupparent") ?? "";
  // What the classic builder gives its step containers (HostConfig.ShmSize, Ulimits, CgroupParent).
  const limits = checkedLimits({
    ...(shm === null || Number(shm) === 0 ? {} : { shmSize: Number(shm) }),
    ...(ulimits.length === 0 ? {} : { ulimits: [...new Map(ulimits.map((u) => [u.Name, { name: u.Name, soft: u.Soft, hard: u.Hard }])).values()] }),
    ...(cgroupParent === "" ? {} : { cgroupParent }),
  });
  const extraHosts: ExtraHost[] = [];
  for (const raw of q.getAll("extrahosts").flatMap((v) => v.split(","))) {
    if (raw === "") continue;
    // host:ip (the CLI's form) or host=ip; an IPv6 address keeps its colons.
    const sep = raw.includes("=") ? raw.indexOf("=") : raw.indexOf(":");
    if (sep <= 0) throw htkError("HTK-BUILD-0308", { name: "extrahosts", detail: `"${raw}" is not HOST:IP`, hint: "Send extra hosts as HOST:IP." });
    extraHosts.push({ host: raw.slice(0, sep), ip: raw.slice(sep + 1).replace(/^\[|\]$/g, "") });
  }
  const networkmode = q.get("networkmode") ?? "";
  const network = networkmode === "host" ? "host" : networkmode === "none" ? "none" : undefined;
  const tags = q.getAll("t").filter((t) => t !== "");
  const target = q.get("target") ?? "";
  const platform = q.get("platform") ?? "";
  const buildid = q.get("buildid") ?? "";
  const request: ClassicOptions["request"] = {
    tags,
    buildArgs,
    noCache: boolValue(q, "nocache"),
    // The classic builder uses a local base image unless --pull.
    resolveMode: boolValue(q, "pull") ? "pull" : "local",
    contextLifetime: "build",
    ...(labels === undefined ? {} : { labels }),
    ...(target === "" ? {} : { target }),
    ...(platform === "" ? {} : { platform }),
    ...(network === undefined ? {} : { network }),
    ...(extraHosts.length === 0 ? {} : { extraHosts }),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(buildid === "" ? {} : { id: buildid }),
    ...(cacheFrom.length === 0 ? {} : { cacheFrom }),
  };
  const dockerfile = q.get("dockerfile") ?? undefined;
  const remote = q.get("remote") ?? undefined;
  return { request, dockerfile: dockerfile === "" ? undefined : dockerfile, remote: remote === "" ? undefined : remote, quiet: boolValue(q, "q") };
}

/** Writes jsonmessages as Docker's stream formatter does (`\r\n` after each), with backpressure. */
class JsonStream {
  readonly #ctx: RequestContext;
  #started = false;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
  }

  get started(): boolean {
    return this.#started;
  }

  async write(m: JsonMessage): Promise<void> {
    const res = this.#ctx.res;
    if (res.destroyed || res.writableEnded) return;
    if (!this.#started) {
      this.#started = true;
      res.writeHead(200, { "Content-Type": "application/json" });
    }
    if (!res.write(`${JSON.stringify(m)}\r\n`)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  }

  end(): void {
    if (!this.#started) {
      this.#started = true;
      this.#ctx.res.writeHead(200, { "Content-Type": "application/json" });
    }
    this.#ctx.res.end();
  }
}

/** `q=1`: output is held back (its last MAX_QUIET bytes) and shown only if the build fails. */
const MAX_QUIET = 1024 * 1024;

async function postBuild(services: BuildServices, ctx: RequestContext): Promise<void> {
  const opts = classicOptions(ctx.query);
  const workDir = await mkdtemp(join(services.config.dataRoot, "worker", "tmp-build-"));
  const out = new JsonStream(ctx);
  const held: JsonMessage[] = [];
  let heldBytes = 0;
  const write = async (m: JsonMessage): Promise<void> => {
    if (!opts.quiet) return out.write(m);
    held.push(m);
    heldBytes += JSON.stringify(m).length;
    while (heldBytes > MAX_QUIET && held.length > 1) heldBytes -= JSON.stringify(held.shift()).length;
  };
  const fail = async (err: HtkError, code?: number, message?: string): Promise<void> => {
    // Before any output, Docker answers with an error status; after, with an error message in the stream.
    if (!out.started && held.length === 0) return sendError(ctx.res, err);
    for (const m of held.splice(0)) await out.write(m);
    const text = message ?? `${err.plainCause} [${err.id}] ${err.nextStep}`;
    await out.write({ errorDetail: { ...(code === undefined ? {} : { code }), message: text }, error: text });
    out.end();
  };
  try {
    const contextDir = join(workDir, "context");
    let dockerfile: DockerfileSource;
    let root: string;
    if (opts.remote !== undefined) {
      await mkdir(contextDir);
      await drain(ctx.req);
      const remote = await fetchRemoteContext(opts.remote, contextDir, services.builds.worker.git, ctx.signal);
      root = remote.dir;
      dockerfile = remote.kind === "dockerfile" ? { kind: "file", path: remote.dockerfile } : { kind: "file", path: await locateDockerfile(root, opts.dockerfile) };
    } else {
      await mkdir(contextDir);
      await extractContext(ctx.req, contextDir, ctx.signal);
      root = contextDir;
      dockerfile = { kind: "file", path: await locateDockerfile(root, opts.dockerfile) };
    }
    const progress = new ClassicProgress(write);
    const credentials = opts.request.cacheFrom === undefined ? undefined : registryConfigCredentials(headerValue(ctx.req.headers["x-registry-config"]));
    const result = await services.builds.solve({ ...opts.request, ...(credentials === undefined ? {} : { registryCredentials: credentials }), context: root, dockerfile, signal: ctx.signal, onEvent: (e) => progress.onEvent(e) });
    if (result.kind === "invalid" && !out.started && held.length === 0) {
      const f = result.failure;
      if (f !== undefined) return sendError(ctx.res, htkError("HTK-DOCKERFILE-0310", { parseMessage: f.message, diagnostic: f.diagnosticId, next: f.nextStep }));
      return sendError(ctx.res, htkError("HTK-BUILD-0308", { name: "dockerfile", detail: result.message.replace(/\.$/, ""), hint: "Fix the Dockerfile; the build record and docker buildx show its code frame." }));
    }
    const warnings = result.kind === "completed" ? result.warningMessages.filter((w) => w.startsWith("[Warning]")) : [];
    const failure = await progress.finish(result, warnings);
    if (failure !== undefined) {
      const err = result.kind === "failed" ? result.error : htkError("HTK-BUILD-0308", { name: "dockerfile", detail: failure.message, hint: "Fix the Dockerfile." });
      return await fail(err, failure.code, failure.message);
    }
    if (opts.quiet && result.kind === "completed") await out.write({ stream: `${result.image?.id ?? ""}\n` });
    out.end();
  } catch (err) {
    if (ctx.signal.aborted) {
      ctx.res.destroy();
      return;
    }
    const e = isHtkError(err) ? err : toHtkError(err, { operation: "build" });
    await fail(e);
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A body the endpoint does not read (a `remote` build) is still consumed, so the connection stays usable. */
async function drain(req: IncomingMessage): Promise<void> {
  for await (const chunk of req) void chunk;
}

async function postPrune(services: BuildServices, ctx: RequestContext): Promise<void> {
  const filters = parseFilters(ctx.query.get("filters"));
  validateFilterKeys(filters, ["until", "unused-for", "id", "type", "description", "inuse", "shared", "private", "parent"]);
  const ks = ctx.query.get("keep-storage") ?? "";
  if (ks !== "" && !/^\d+$/.test(ks)) throw htkError("HTK-BUILD-0308", { name: "keep-storage", detail: `"${ks}" is not a whole number of bytes`, hint: "Send keep-storage in bytes." });
  let untilMs: number | undefined;
  for (const v of [...values(filters, "until"), ...values(filters, "unused-for")]) {
    const ns = parseGoDuration(v);
    if (ns === undefined) throw htkError("HTK-BUILD-0308", { name: "filters", detail: `"${v}" is not a duration`, hint: "Use a Go duration such as 24h or 90m." });
    untilMs = ns / 1e6;
  }
  const types = values(filters, "type").filter((t): t is CacheRecordType => (CACHE_RECORD_TYPES as readonly string[]).includes(t));
  const ids = values(filters, "id");
  const keep = ks === "" ? 0 : Number(ks);
  const result = await services.builds.prune({
    all: boolValue(ctx.query, "all"),
    signal: ctx.signal,
    ...(keep > 0 ? { keepStorage: keep } : {}),
    ...(untilMs === undefined ? {} : { untilMs }),
    ...(types.length === 0 ? {} : { types }),
    ...(ids.length === 0 ? {} : { ids }),
  });
  sendJson(ctx.res, 200, { CachesDeleted: result.removed.map((r) => r.id), SpaceReclaimed: result.total });
}

