import { allBuilders, loadNodes, resolveBuilder, type Builder, type NodeInfo } from "../builders.ts";
import { renderFormat, type FormatRow } from "../format.ts";
import { BuilderStore } from "../store.ts";
import type { CommandContext } from "../types.ts";

const DEFAULT_TABLE = "table {{.Name}}\t{{.DriverEndpoint}}\t{{.Status}}\t{{.Buildkit}}\t{{.Platforms}}";
const HEADER = { Name: "NAME/NODE", DriverEndpoint: "DRIVER/ENDPOINT", Status: "STATUS", Buildkit: "BUILDKIT", Platforms: "PLATFORMS", LastActivity: "LAST ACTIVITY", Error: "ERROR" };
const INDENT = " \\_ ";

/**
 * `docker buildx ls`: every builder (stored ones, then one per docker context) with its nodes' status,
 * build engine version and platforms, as buildx's table; the current builder marked `*`. Nodes that
 * cannot be reached are listed as errors, explained on stderr after the table.
 */
export async function runLs(ctx: CommandContext): Promise<number> {
  const store = BuilderStore.for(ctx.cli);
  const current = resolveBuilder(ctx.cli, store);
  const builders = allBuilders(ctx.cli, store);
  const loaded = await Promise.all(builders.map(async (b) => ({ builder: b, ...(await load(ctx, b)) })));
  // Builders that failed to load go last (buildx sorts them so).
  loaded.sort((x, y) => Number(x.error !== undefined) - Number(y.error !== undefined));
  const format = ctx.flags.string("format") ?? "table";
  const table = format === "table" || format.startsWith("table ");
  const rows: FormatRow[] = [];
  for (const { builder, nodes, error } of loaded) {
    const isCurrent = builder.name === current.name;
    rows.push({
      fields: {
        Name: `${builder.name}${isCurrent && table ? "*" : ""}`,
        DriverEndpoint: builder.driver,
        Status: error === undefined ? "" : "error",
        Buildkit: "",
        Platforms: "",
        LastActivity: builder.lastActivity === undefined ? "" : builder.lastActivity.toISOString().replace(/\.\d+Z$/, "Z"),
        Error: error ?? "",
      },
      json: builderJson(builder, nodes, error),
    });
    if (error !== undefined || !table) continue;
    for (const n of nodes) {
      rows.push({
        fields: {
          Name: `${INDENT}${n.node.Name}`,
          DriverEndpoint: `${INDENT}${n.node.Endpoint}`,
          Status: n.status,
          Buildkit: n.version ?? "",
          Platforms: n.platforms.join(", "),
          LastActivity: "",
          Error: n.error ?? "",
        },
        json: undefined,
      });
    }
  }
  ctx.io.stdout.write(renderFormat(format, DEFAULT_TABLE, HEADER, rows));
  if (table && loaded.some((l) => l.error !== undefined || l.nodes.some((n) => n.error !== undefined))) {
    ctx.io.stderr.write("\n");
    for (const { builder, nodes, error } of loaded) {
      if (error !== undefined) ctx.io.stderr.write(`Cannot load builder ${builder.name}: ${error}\n`);
      else for (const n of nodes) if (n.error !== undefined) ctx.io.stderr.write(`Failed to get status for ${builder.name} (${n.node.Name}): ${n.error}\n`);
    }
  }
  return 0;
}

async function load(ctx: CommandContext, b: Builder): Promise<{ nodes: NodeInfo[]; error?: string }> {
  try {
    return { nodes: await loadNodes(ctx.cli, b, ctx.signal) };
  } catch (err) {
    return { nodes: [], error: err instanceof Error ? ("plainCause" in err ? String((err as { plainCause: unknown }).plainCause) : err.message) : String(err) };
  }
}

/** buildx's Builder JSON (ls --format json). */
export function builderJson(b: Builder, nodes: readonly NodeInfo[], error?: string): unknown {
  return {
    Name: b.name,
    Driver: b.driver,
    ...(b.lastActivity === undefined ? {} : { LastActivity: b.lastActivity.toISOString().replace(/\.\d+Z$/, "Z") }),
    Dynamic: b.dynamic,
    Nodes: nodes.map((n) => ({
      Name: n.node.Name,
      Endpoint: n.node.Endpoint,
      ...(n.node.DriverOpts === null ? {} : { DriverOpts: n.node.DriverOpts }),
      Status: n.status,
      ...(n.version === undefined ? {} : { Version: n.version }),
      Platforms: n.platforms.map((p) => {
        const [os, architecture, variant] = p.split("/");
        return { architecture, os, ...(variant === undefined ? {} : { variant }) };
      }),
      ...(Object.keys(n.labels).length === 0 ? {} : { Labels: n.labels }),
      ...(n.error === undefined ? {} : { Err: n.error }),
    })),
    ...(error === undefined ? {} : { Err: error }),
  };
}
