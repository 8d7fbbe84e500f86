import { BuilderStore } from "../store.ts";
import { resolveBuilder } from "../builders.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx stop [NAME]`: a HATAKE builder is an engine that keeps running (as buildx's docker
 * driver, whose Stop does nothing); the builder must exist.
 */
export async function runStop(ctx: CommandContext): Promise<number> {
  resolveBuilder(ctx.cli, BuilderStore.for(ctx.cli), ctx.args[0] ?? ctx.builder);
  return 0;
}
