import { PLUGIN_PACKAGE, PLUGIN_VERSION, revision } from "../metadata.ts";
import type { CommandContext } from "../types.ts";

/** `docker buildx version`: package, version, revision on one line, as buildx prints them. */
export async function runVersion(ctx: CommandContext): Promise<number> {
  ctx.io.stdout.write(`${[PLUGIN_PACKAGE, PLUGIN_VERSION, revision()].filter((s) => s !== "").join(" ")}\n`);
  return 0;
}
