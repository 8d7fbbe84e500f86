import { humanDuration, humanSize } from "../../base/units.ts";
import { nodeEndpoint, resolveBuilder } from "../builders.ts";
import { dockerApiJson } from "../docker-api.ts";
import { BuilderStore } from "../store.ts";
import { tabwrite } from "../tabwriter.ts";
import type { CommandContext } from "../types.ts";

/** The Engine API's BuildCache record (GET /system/df?type=build-cache). */
export interface BuildCacheRecord {
  readonly ID: string;
  readonly Type?: string;
  readonly Description?: string;
  readonly InUse?: boolean;
  readonly Shared?: boolean;
  readonly Size?: number;
  readonly CreatedAt?: string;
  readonly LastUsedAt?: string | null;
  readonly UsageCount?: number;
  readonly Parents?: readonly string[] | null;
}

const NORMAL_WARNING = "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
const ALL_WARNING = "WARNING! This will remove all build cache. Are you sure you want to continue?";

/**
 * `docker buildx prune` (and `docker builder prune`, which the docker CLI forwards here): the engine's
 * POST /build/prune, printed as buildx prints it — a row per removed record (ID, RECLAIMABLE, SIZE,
 * LAST ACCESSED; `--verbose` as key/value blocks), then `Total:` with the space reclaimed.
 */
export async function runPrune(ctx: CommandContext): Promise<number> {
  const all = ctx.flags.bool("all");
  if (!ctx.flags.bool("force")) {
    ctx.io.stdout.write(`${all ? ALL_WARNING : NORMAL_WARNING} [y/N] `);
    if (!(await confirm(ctx.io.stdin))) return 0;
  }
  const b = resolveBuilder(ctx.cli, BuilderStore.for(ctx.cli), ctx.builder);
  const node = b.nodes[0];
  if (node === undefined) return 0;
  const endpoint = nodeEndpoint(ctx.cli, b, node);
  const filters: Record<string, string[]> = {};
  for (const f of ctx.flags.list("filter")) {
    const [k = "", ...v] = f.split("=");
    (filters[k] ??= []).push(v.join("="));
  }
  const keep = ctx.flags.string("reserved-space") ?? ctx.flags.string("keep-storage") ?? "";
  const query = new URLSearchParams();
  if (all) query.set("all", "1");
  if (Object.keys(filters).length > 0) query.set("filters", JSON.stringify(filters));
  if (keep !== "") query.set("keep-storage", String(parseBytes(keep)));
  // The records before pruning give the rows their sizes and times (the prune answer has IDs only).
  const before = await dockerApiJson<{ BuildCache?: BuildCacheRecord[] | null }>(endpoint, "GET", "/system/df?type=build-cache", ctx.signal);
  const byId = new Map((before.BuildCache ?? []).map((r) => [r.ID, r]));
  const pruned = await dockerApiJson<{ CachesDeleted?: string[] | null; SpaceReclaimed?: number }>(endpoint, "POST", `/build/prune?${query.toString()}`, ctx.signal);
  const removed = (pruned.CachesDeleted ?? []).map((id) => byId.get(id) ?? { ID: id });
  if (removed.length > 0) ctx.io.stdout.write(ctx.flags.bool("verbose") ? verboseRecords(removed) : tableRecords(removed));
  ctx.io.stdout.write(tabwrite(`Total:\t${humanSize(pruned.SpaceReclaimed ?? 0)}\n`, { minwidth: 1, padding: 1, tabPadding: 8 }));
  return 0;
}

/**
 * buildx's table: `%-40s\t%-5v\t%-10s\t%s`, a `*` after mutable IDs and shared sizes, through Go's
 * tabwriter as buildx sets it up (minwidth 1, tab width 8, padding 1, padded with tabs).
 */
export function tableRecords(records: readonly BuildCacheRecord[], now = Date.now()): string {
  let t = "ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\n";
  for (const r of records) {
    const id = r.ID + (r.Type === "exec.cachemount" || r.Type === "source.local" ? "*" : "");
    const size = humanSize(r.Size ?? 0) + (r.Shared === true ? "*" : "");
    const last = r.LastUsedAt ? `${humanDuration(now - Date.parse(r.LastUsedAt))} ago` : "";
    t += `${id.padEnd(40)}\t${String(r.InUse !== true).padEnd(5)}\t${size.padEnd(10)}\t${last}\n`;
  }
  return tabwrite(t, { minwidth: 1, padding: 1, tabPadding: 8 });
}

/** buildx's --verbose blocks. */
export function verboseRecords(records: readonly BuildCacheRecord[], now = Date.now()): string {
  let t = "";
  for (const r of records) {
    t += `ID:\t${r.ID}\n`;
    if ((r.Parents ?? []).length > 0) t += `Parent:\t${(r.Parents ?? []).join(",")}\n`;
    if (r.CreatedAt !== undefined) t += `Created at:\t${r.CreatedAt}\n`;
    t += `Mutable:\t${r.Type === "exec.cachemount" || r.Type === "source.local"}\n`;
    t += `Reclaimable:\t${r.InUse !== true}\n`;
    t += `Shared:\t${r.Shared === true}\n`;
    t += `Size:\t${humanSize(r.Size ?? 0)}\n`;
    if (r.Description) t += `Description:\t${r.Description}\n`;
    t += `Usage count:\t${r.UsageCount ?? 0}\n`;
    if (r.LastUsedAt) t += `Last used:\t${humanDuration(now - Date.parse(r.LastUsedAt))} ago\n`;
    if (r.Type) t += `Type:\t${r.Type}\n`;
    t += "\n";
  }
  return tabwrite(t, { minwidth: 1, padding: 1, tabPadding: 8 });
}

/** docker's MemBytes: "512mb", "1g", "100" (bytes). */
function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(v.trim());
  if (m === null) return Number.NaN;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] ?? "").toLowerCase() as "" | "k" | "m" | "g" | "t" | "p"];
  return Math.floor(Number(m[1]) * mult);
}

async function confirm(stdin: NodeJS.ReadableStream): Promise<boolean> {
  for await (const chunk of stdin) {
    const answer = String(chunk).trim().toLowerCase();
    return answer === "y" || answer === "yes";
  }
  return false;
}
