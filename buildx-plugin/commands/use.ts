import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { DEFAULT_CONTEXT } from "../docker-cli.ts";
import { BuilderStore } from "../store.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx use [--default] [--global] NAME`: the current builder for this docker endpoint (or
 * for all of them with --global); `use default` / the current context's name return to the context's
 * own builder. buildx's rules and texts.
 */
export async function runUse(ctx: CommandContext): Promise<number> {
  const name = ctx.args[0] ?? ctx.builder ?? "";
  const store = BuilderStore.for(ctx.cli);
  const key = ctx.cli.currentStoreKey();
  if (store.get(name) === undefined) {
    if (name === DEFAULT_CONTEXT && name !== ctx.cli.currentContext) throw htkError("HTK-BUILDX-0015", {});
    if (name === DEFAULT_CONTEXT || name === ctx.cli.currentContext) {
      store.setCurrent(key, "", false, false);
      return 0;
    }
    if (ctx.cli.contexts().some((c) => c.name === name)) throw htkError("HTK-BUILDX-0016", { name });
    throw htkError("HTK-BUILDX-0017", { name, path: join(store.root, "instances", name.toLowerCase()) });
  }
  store.setCurrent(key, name.toLowerCase(), ctx.flags.bool("global"), ctx.flags.bool("default"));
  return 0;
}
