import { htkError } from "../../base/errors/index.ts";
import { allBuilders, errorText, loadNodes, resolveBuilder } from "../builders.ts";
import { DEFAULT_CONTEXT } from "../docker-cli.ts";
import { BuilderStore } from "../store.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx rm [NAME...]` (default: the current builder) and `--all-inactive [-f]`. A context's
 * builder cannot be removed (HTK-BUILDX-0013). buildx's lines on stderr: `NAME removed`, or
 * `failed to remove NAME: …` and then HTK-BUILDX-0018. The engine keeps its state: --keep-state and
 * --keep-daemon are accepted (a HATAKE builder is the engine itself; removing it stops nothing).
 */
export async function runRm(ctx: CommandContext): Promise<number> {
  const store = BuilderStore.for(ctx.cli);
  if (ctx.flags.bool("all-inactive")) {
    if (ctx.args.length > 0) throw htkError("HTK-BUILDX-0020", { buildxMessage: "cannot specify builder name when --all-inactive is set" });
    if (!ctx.flags.bool("force")) {
      ctx.io.stdout.write("WARNING! This will remove all builders that are not in running state. Are you sure you want to continue? [y/N] ");
      if (!(await confirm(ctx.io.stdin))) return 0;
    }
    for (const b of allBuilders(ctx.cli, store)) {
      if (b.contextBuilder || b.dynamic) continue;
      const nodes = await loadNodes(ctx.cli, b, ctx.signal);
      if (nodes.some((n) => n.status === "running")) continue;
      store.remove(b.name);
      ctx.io.stderr.write(`${b.name} removed\n`);
    }
    return 0;
  }
  const names = ctx.args.length > 0 ? ctx.args : [ctx.builder ?? ""];
  let failed = false;
  for (const name of names) {
    try {
      const b = resolveBuilder(ctx.cli, store, name === "" ? undefined : name);
      if (b.contextBuilder) throw htkError("HTK-BUILDX-0013", { name: b.name === DEFAULT_CONTEXT ? DEFAULT_CONTEXT : b.name });
      store.remove(b.name);
      ctx.io.stderr.write(`${name === "" ? b.name : name} removed\n`);
    } catch (err) {
      failed = true;
      ctx.io.stderr.write(`failed to remove ${name === "" ? "current builder" : name}: ${errorText(err)}\n`);
    }
  }
  if (failed) throw htkError("HTK-BUILDX-0018", {});
  return 0;
}

async function confirm(stdin: NodeJS.ReadableStream): Promise<boolean> {
  for await (const chunk of stdin) {
    const answer = String(chunk).trim().toLowerCase();
    return answer === "y" || answer === "yes";
  }
  return false;
}

