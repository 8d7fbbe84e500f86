import { htkError } from "../../base/errors/index.ts";
import { exactMatch, match, matchKeyValues, validateFilterKeys, values } from "./filters.ts";
import { CONTAINER_STATUSES, ZERO_TIME, type Container, type Filters } from "./types.ts";

/** The filters GET /containers/json accepts (Docker 26.1's acceptedPsFilterTags). */
export const CONTAINER_FILTERS = [
  "ancestor",
  "before",
  "expose",
  "exited",
  "health",
  "id",
  "isolation",
  "is-task",
  "label",
  "name",
  "network",
  "publish",
  "since",
  "status",
  "volume",
] as const;

const HEALTH_VALUES = ["starting", "healthy", "unhealthy", "none"];

/** What the list needs besides the filters. Lookups are passed in so the matching stays pure. */
export interface ContainerListContext {
  /** `docker ps -a`. A `status` filter implies it (Docker's rule: `ps --filter status=exited` works without -a). */
  readonly all?: boolean;
  /** `limit`/`-n`: the N most recently created, running or not. */
  readonly limit?: number;
  /** Resolves `before`/`since` references (name or ID); throws Docker's "No such container". */
  readonly resolveContainer: (ref: string) => Container;
  /** Image IDs an `ancestor` reference stands for (the image and its descendants); [] if unknown. */
  readonly ancestorImageIds?: (ref: string) => readonly string[];
}

/**
 * Checks the filter names and the values Docker checks up front, so a typo is an error rather than an
 * empty list: HTK-ENGINE-0116 (unknown key), HTK-ENGINE-0117 (bad status, health or exited value).
 */
export function validateContainerFilters(filters: Filters): void {
  validateFilterKeys(filters, CONTAINER_FILTERS);
  for (const v of values(filters, "status")) {
    if (!(CONTAINER_STATUSES as readonly string[]).includes(v)) {
      throw htkError("HTK-ENGINE-0117", { filter: "status", value: v, accepted: CONTAINER_STATUSES.join(", ") });
    }
  }
  for (const v of values(filters, "health")) {
    if (!HEALTH_VALUES.includes(v)) throw htkError("HTK-ENGINE-0117", { filter: "health", value: v, accepted: HEALTH_VALUES.join(", ") });
  }
  for (const v of values(filters, "exited")) {
    if (!/^-?\d+$/.test(v)) throw htkError("HTK-ENGINE-0117", { filter: "exited", value: v, accepted: "an integer exit code" });
  }
}

/**
 * The containers a `GET /containers/json` returns, newest first. Pure: records and lookups in, records
 * out. Follows daemon/list.go of Docker 26.1.
 */
export function filterContainers(records: readonly Container[], filters: Filters, ctx: ContainerListContext): Container[] {
  validateContainerFilters(filters);
  const all = (ctx.all ?? false) || values(filters, "status").length > 0 || (ctx.limit ?? 0) > 0;
  const before = values(filters, "before").map((ref) => ctx.resolveContainer(ref));
  const since = values(filters, "since").map((ref) => ctx.resolveContainer(ref));
  const ancestors = values(filters, "ancestor");
  const ancestorIds = new Set(ancestors.flatMap((ref) => ctx.ancestorImageIds?.(ref) ?? []));
  const exited = values(filters, "exited").map((v) => Number.parseInt(v, 10));

  const sorted = [...records].sort(newestFirst);
  const out: Container[] = [];
  for (const c of sorted) {
    if (!all && !isRunningFlag(c)) continue;
    if (!matchContainer(c, filters, { before, since, ancestors, ancestorIds, exited })) continue;
    out.push(c);
    if (ctx.limit !== undefined && ctx.limit > 0 && out.length >= ctx.limit) break;
  }
  return out;
}

interface Resolved {
  readonly before: readonly Container[];
  readonly since: readonly Container[];
  readonly ancestors: readonly string[];
  readonly ancestorIds: ReadonlySet<string>;
  readonly exited: readonly number[];
}

function matchContainer(c: Container, filters: Filters, r: Resolved): boolean {
  if (!match(filters, "id", c.id)) return false;
  const bare = c.name.replace(/^\//, "");
  if (values(filters, "name").length > 0 && !match(filters, "name", c.name) && !match(filters, "name", bare)) return false;
  if (!exactMatch(filters, "status", c.status)) return false;
  if (!exactMatch(filters, "health", c.state.Health?.Status ?? "none")) return false;
  if (!matchKeyValues(filters, "label", c.config.Labels ?? {})) return false;
  // Docker: an exited filter keeps only containers that ran and stopped with one of the codes.
  if (r.exited.length > 0) {
    const ran = c.state.StartedAt !== ZERO_TIME && c.state.StartedAt !== "";
    if (isRunningFlag(c) || !ran || !r.exited.includes(c.state.ExitCode)) return false;
  }
  for (const b of r.before) if (!createdBefore(c, b)) return false;
  for (const s of r.since) if (!createdBefore(s, c)) return false;
  if (r.ancestors.length > 0) {
    const hit =
      r.ancestorIds.has(c.imageId) ||
      r.ancestors.some((a) => a === c.image || a === c.imageId || (a.length >= 4 && c.imageId.replace(/^sha256:/, "").startsWith(a.replace(/^sha256:/, ""))));
    if (!hit) return false;
  }
  const volumes = values(filters, "volume");
  if (volumes.length > 0 && !c.mounts.some((m) => volumes.includes(m.Destination) || (m.Name !== undefined && volumes.includes(m.Name)))) {
    return false;
  }
  const networks = values(filters, "network");
  if (networks.length > 0) {
    const attached = Object.entries(c.networkSettings.Networks ?? {});
    if (!attached.some(([name, ep]) => networks.includes(name) || (ep.NetworkID !== undefined && networks.some((n) => n.length > 0 && ep.NetworkID?.startsWith(n))))) {
      return false;
    }
  }
  // No swarm tasks here: is-task=true matches nothing, is-task=false everything.
  const isTask = values(filters, "is-task");
  if (isTask.length > 0 && !isTask.includes("false")) return false;
  if (!exactMatch(filters, "isolation", "default")) return false;
  const expose = values(filters, "expose");
  if (expose.length > 0 && !portMatches(expose, Object.keys(exposedPorts(c)))) return false;
  const publish = values(filters, "publish");
  if (publish.length > 0 && !portMatches(publish, publishedPorts(c))) return false;
  return true;
}

/** Docker's `State.Running` is also true while paused or restarting. */
export function isRunningFlag(c: Container): boolean {
  return c.status === "running" || c.status === "paused" || c.status === "restarting";
}

function createdBefore(a: Container, b: Container): boolean {
  return a.createdNs < b.createdNs || (a.createdNs === b.createdNs && a.id < b.id);
}

function newestFirst(a: Container, b: Container): number {
  return createdBefore(a, b) ? 1 : createdBefore(b, a) ? -1 : 0;
}

function exposedPorts(c: Container): Record<string, unknown> {
  const ports = c.config["ExposedPorts"];
  return ports !== null && typeof ports === "object" ? (ports as Record<string, unknown>) : {};
}

function publishedPorts(c: Container): string[] {
  const bindings = c.hostConfig["PortBindings"];
  if (bindings === null || typeof bindings !== "object") return [];
  return Object.entries(bindings as Record<string, unknown>)
    .filter(([, b]) => Array.isArray(b) && b.length > 0)
    .map(([port]) => port);
}

/** "80" matches "80/tcp"; "80/udp" only "80/udp"; "8000-8010" any port in the range (Docker's nat.ParsePortRange). */
function portMatches(wanted: readonly string[], ports: readonly string[]): boolean {
  return wanted.some((w) => {
    const [range = "", proto = "tcp"] = w.split("/");
    const [lo = Number.NaN, hi = lo] = range.split("-").map((p) => Number.parseInt(p, 10));
    return ports.some((p) => {
      const [num = "", pproto = "tcp"] = p.split("/");
      const n = Number.parseInt(num, 10);
      return pproto === proto && n >= lo && n <= hi;
    });
  });
}
