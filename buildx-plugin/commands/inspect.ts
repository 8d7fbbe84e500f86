import { formatGoDuration } from "../../base/go-duration.ts";
import { bytesSize } from "../../base/units.ts";
import { loadNodes, resolveBuilder } from "../builders.ts";
import { BuilderStore } from "../store.ts";
import { tabwrite } from "../tabwriter.ts";
import { goTime } from "../units.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx inspect [--bootstrap] [NAME]`: buildx's layout (Go's tabwriter, padding 1). With
 * --bootstrap an unreachable node is an error instead of a line (a HATAKE builder needs no booting).
 */
export async function runInspect(ctx: CommandContext): Promise<number> {
  const store = BuilderStore.for(ctx.cli);
  const b = resolveBuilder(ctx.cli, store, ctx.args[0] ?? ctx.builder);
  const nodes = await loadNodes(ctx.cli, b, ctx.signal);
  if (ctx.flags.bool("bootstrap")) {
    const failed = nodes.find((n) => n.error !== undefined);
    if (failed !== undefined) throw failed.cause;
  }
  let t = `Name:\t${b.name}\nDriver:\t${b.driver}\n`;
  if (b.lastActivity !== undefined) t += `Last Activity:\t${goTime(b.lastActivity)}\n`;
  t += "\nNodes:\n";
  nodes.forEach((n, i) => {
    if (i > 0) t += "\n";
    t += `Name:\t${n.node.Name}\nEndpoint:\t${n.node.Endpoint}\n`;
    const opts = Object.entries(n.node.DriverOpts ?? {}).sort(([a], [b2]) => a.localeCompare(b2));
    if (opts.length > 0) t += `Driver Options:\t${opts.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}\n`;
    if (n.error !== undefined) {
      t += `Error:\t${n.error}\n`;
      return;
    }
    t += `Status:\t${n.status}\n`;
    if ((n.node.Flags ?? []).length > 0) t += `BuildKit daemon flags:\t${(n.node.Flags ?? []).join(" ")}\n`;
    if (n.version !== undefined && n.version !== "") t += `BuildKit version:\t${n.version}\n`;
    if (n.platforms.length > 0) t += `Platforms:\t${n.platforms.join(", ")}\n`;
    const labels = Object.entries(n.labels).sort(([a], [b2]) => a.localeCompare(b2));
    if (labels.length > 0) t += `Labels:\n${labels.map(([k, v]) => `\t${k}:\t${v}\n`).join("")}`;
    n.gcPolicy.forEach((rule, ri) => {
      t += `GC Policy rule#${ri}:\n\tAll:\t${rule.all}\n`;
      if (rule.filters.length > 0) t += `\tFilters:\t${rule.filters.join(" ")}\n`;
      if (rule.keepDurationSeconds > 0) t += `\tKeep Duration:\t${formatGoDuration(rule.keepDurationSeconds * 1e9)}\n`;
      if (rule.keepBytes > 0) t += `\tKeep Bytes:\t${bytesSize(rule.keepBytes)}\n`;
    });
  });
  ctx.io.stdout.write(tabwrite(t, { minwidth: 0, padding: 1 }));
  return 0;
}

