import { resolve } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { humanSize } from "../../base/units.ts";
import { CACHE_RECORD_TYPES, cacheUsage, humanAgo, type CacheRecordType, type CacheUsageRecord } from "../../engine/build/cache-usage.ts";
import { parseOptions } from "../options.ts";
import type { Command } from "../types.ts";

const HELP = `Usage: hatake du --data-root DIR [OPTIONS]

Shows the disk usage of the build cache of an in-process builder's state folder, as docker buildx du.

Options:
      --data-root string   State folder that hatake build --data-root used (required)
      --filter filter      Provide filter values: type=TYPE, id=ID, until=DURATION
      --verbose            Provide a more verbose output

Record types: regular (step results, pulled layers), source.local (build contexts),
exec.cachemount (RUN --mount=type=cache). While a build runs on the folder, nothing is reclaimable
and IDs are marked with *.
`;

/** The parsed `--filter` values of du and prune. */
export interface CacheFilters {
  readonly types: CacheRecordType[];
  readonly ids: string[];
  readonly untilMs?: number;
}

export function parseCacheFilters(filters: readonly string[]): CacheFilters {
  const types: CacheRecordType[] = [];
  const ids: string[] = [];
  let untilMs: number | undefined;
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? "" : f.slice(eq + 1);
    switch (key) {
      case "type":
        if (!CACHE_RECORD_TYPES.includes(value as CacheRecordType)) throw htkError("HTK-CACHE-0101", { filter: f, detail: `"${value}" is not a record type` });
        types.push(value as CacheRecordType);
        break;
      case "id":
        if (value === "") throw htkError("HTK-CACHE-0101", { filter: f, detail: "id needs a value" });
        ids.push(value);
        break;
      case "until":
      case "unused-for": {
        const ns = parseGoDuration(value);
        if (ns === undefined) throw htkError("HTK-CACHE-0101", { filter: f, detail: `"${value}" is not a duration` });
        untilMs = ns / 1e6;
        break;
      }
      default:
        throw htkError("HTK-CACHE-0101", { filter: f, detail: `"${key}" is not a filter key` });
    }
  }
  return { types, ids, ...(untilMs === undefined ? {} : { untilMs }) };
}

export function matchesFilters(r: CacheUsageRecord, f: CacheFilters, now: Date): boolean {
  if (f.types.length > 0 && !f.types.includes(r.type)) return false;
  if (f.ids.length > 0 && !f.ids.some((p) => displayId(r).startsWith(p) || r.id.startsWith(p))) return false;
  if (f.untilMs !== undefined && now.getTime() - r.lastUsed.getTime() < f.untilMs) return false;
  return true;
}

/** BuildKit record ids are 25 characters; ours are digests or hex names, shortened alike. */
export function displayId(r: CacheUsageRecord): string {
  return r.id.replace(/^(sha256:|commit-)/, "").slice(0, 25);
}

/** Left-aligned columns, as buildx's tabwriter lays them out. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 1))).join("").trimEnd() + "\n").join("");
}

/** buildx's non-verbose listing: ID (with * while in use), RECLAIMABLE, SIZE, LAST ACCESSED. */
export function recordTable(records: readonly CacheUsageRecord[], now: Date): string {
  return table([
    ["ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"],
    ...records.map((r) => [`${displayId(r)}${r.inUse ? "*" : ""}`, String(r.reclaimable), humanSize(r.size), humanAgo(r.lastUsed, now)]),
  ]);
}

export function recordVerbose(r: CacheUsageRecord, now: Date): string {
  return [
    `ID:\t\t${displayId(r)}`,
    ...(r.parent === undefined ? [] : [`Parent:\t\t${r.parent.replace(/^sha256:/, "").slice(0, 25)}`]),
    `Created at:\t${r.createdAt.toISOString()}`,
    `Mutable:\tfalse`,
    `Reclaimable:\t${r.reclaimable}`,
    `Shared:\t\tfalse`,
    `Size:\t\t${humanSize(r.size)}`,
    `Description:\t${r.description}`,
    `Usage count:\t${r.usageCount}`,
    `Last used:\t${humanAgo(r.lastUsed, now)}`,
    `Type:\t\t${r.type}`,
    "",
    "",
  ].join("\n");
}

export const duCommand: Command = {
  name: "du",
  summary: "Disk usage of the build cache",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseOptions("du", args, {
      "data-root": { type: "string" },
      filter: { type: "string", multiple: true },
      verbose: { type: "boolean" },
    });
    if (positionals.length > 0) throw htkError("HTK-CLI-0002", { command: "du", detail: `it takes no arguments (got ${positionals.join(" ")})` });
    if (values["data-root"] === undefined) throw htkError("HTK-CLI-0002", { command: "du", detail: "--data-root DIR is required" });
    const filters = parseCacheFilters(values.filter ?? []);
    const usage = await cacheUsage(resolve(io.cwd, values["data-root"]));
    const now = new Date();
    const records = usage.records.filter((r) => matchesFilters(r, filters, now));
    const filtered = records.length !== usage.records.length;
    if (values.verbose === true) io.stdout.write(records.map((r) => recordVerbose(r, now)).join(""));
    else if (records.length > 0) io.stdout.write(recordTable(records, now));
    // With a filter the totals are the listed records' (no cross-record hard-link sharing known then).
    const total = filtered ? records.reduce((n, r) => n + r.size, 0) : usage.total;
    const reclaimable = filtered ? records.filter((r) => r.reclaimable).reduce((n, r) => n + r.size, 0) : usage.reclaimable;
    if (usage.lockedBy !== undefined) io.stderr.write(`hatake du: a build (pid ${usage.lockedBy}) is running on this data root: nothing is reclaimable now\n`);
    io.stdout.write(table([["Reclaimable:", humanSize(reclaimable)], ["Total:", humanSize(total)]]));
    return 0;
  },
};
