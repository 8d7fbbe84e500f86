import type { FlagSpec } from "../flags.ts";
import type { CommandSpec } from "../types.ts";

/**
 * buildx's command table: names, usage lines, flags (buildx's names, kinds and help texts), argument
 * counts. Implementations load lazily (`load`), so parsing and help cost nothing but this table.
 * A command is listed only once it works.
 */

/** buildx's persistent root flags, inherited by every subcommand. */
export const ROOT_FLAGS = (env: NodeJS.ProcessEnv): FlagSpec[] => [
  { name: "builder", kind: "string", usage: "Override the configured builder instance", ...(env["BUILDX_BUILDER"] ? { default: env["BUILDX_BUILDER"] } : {}) },
  { name: "debug", short: "D", kind: "bool", usage: "Enable debug logging" },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "version",
    use: "version",
    short: "Show buildx version information",
    flags: [],
    args: { exactly: 0 },
    hideBuilderFlag: true,
    load: async () => (await import("./version.ts")).runVersion,
  },
];
