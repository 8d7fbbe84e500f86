import { humanSize } from "../../base/units.ts";
import { nodeEndpoint, resolveBuilder } from "../builders.ts";
import { dockerApiJson } from "../docker-api.ts";
import { BuilderStore } from "../store.ts";
import { tabwrite } from "../tabwriter.ts";
import type { CommandContext } from "../types.ts";
import { tableRecords, verboseRecords, type BuildCacheRecord } from "./prune.ts";

/**
 * `docker buildx du [--verbose] [--filter]`: the engine's build cache records (GET /system/df
 * ?type=build-cache), largest first as buildx sorts them, then Shared/Private/Reclaimable/Total.
 */
export async function runDu(ctx: CommandContext): Promise<number> {
  const b = resolveBuilder(ctx.cli, BuilderStore.for(ctx.cli), ctx.builder);
  const node = b.nodes[0];
  if (node === undefined) return 0;
  const df = await dockerApiJson<{ BuildCache?: BuildCacheRecord[] | null }>(nodeEndpoint(ctx.cli, b, node), "GET", "/system/df?type=build-cache", ctx.signal);
  let records = [...(df.BuildCache ?? [])];
  for (const f of ctx.flags.list("filter")) {
    const [k = "", ...rest] = f.split("=");
    const v = rest.join("=");
    records = records.filter((r) => (k === "type" ? r.Type === v : k === "id" ? r.ID.startsWith(v) : k === "description" ? (r.Description ?? "").includes(v) : true));
  }
  records.sort((x, y) => (y.Size ?? 0) - (x.Size ?? 0));
  if (records.length > 0) ctx.io.stdout.write(ctx.flags.bool("verbose") ? verboseRecords(records) : tableRecords(records));
  let shared = 0;
  let priv = 0;
  let reclaimable = 0;
  for (const r of records) {
    if (r.Shared === true) shared += r.Size ?? 0;
    else priv += r.Size ?? 0;
    if (r.InUse !== true) reclaimable += r.Size ?? 0;
  }
  let t = "";
  if (shared > 0) t += `Shared:\t${humanSize(shared)}\nPrivate:\t${humanSize(priv)}\n`;
  t += `Reclaimable:\t${humanSize(reclaimable)}\nTotal:\t${humanSize(shared + priv)}\n`;
  ctx.io.stdout.write(tabwrite(t, { minwidth: 1, padding: 1, tabPadding: 8 }));
  return 0;
}
