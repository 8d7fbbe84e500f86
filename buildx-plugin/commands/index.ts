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
    name: "create",
    use: "create [OPTIONS] [CONTEXT|ENDPOINT]",
    short: "Create a new builder instance",
    args: { atMost: 1 },
    hideBuilderFlag: true,
    flags: [
      { name: "append", kind: "bool", usage: "Append a node to builder instead of changing it" },
      { name: "bootstrap", kind: "bool", usage: "Boot builder after creation" },
      { name: "buildkitd-config", kind: "string", usage: "BuildKit daemon config file" },
      { name: "buildkitd-flags", kind: "string", usage: "BuildKit daemon flags" },
      { name: "driver", kind: "string", usage: 'Driver to use (available: "hatake", "remote")' },
      { name: "driver-opt", kind: "stringArray", usage: "Options for the driver" },
      { name: "leave", kind: "bool", usage: "Remove a node from builder instead of changing it" },
      { name: "name", kind: "string", usage: "Builder instance name" },
      { name: "node", kind: "string", usage: "Create/modify node with given name" },
      { name: "platform", kind: "stringArray", usage: "Fixed platforms for current node" },
      { name: "use", kind: "bool", usage: "Set the current builder instance" },
    ],
    load: async () => (await import("./create.ts")).runCreate,
  },
  {
    name: "inspect",
    use: "inspect [NAME]",
    short: "Inspect current builder instance",
    args: { atMost: 1 },
    flags: [{ name: "bootstrap", kind: "bool", usage: "Ensure builder has booted before inspecting" }],
    load: async () => (await import("./inspect.ts")).runInspect,
  },
  {
    name: "ls",
    use: "ls",
    short: "List builder instances",
    args: { exactly: 0 },
    hideBuilderFlag: true,
    flags: [
      { name: "format", kind: "string", usage: "Format the output", default: "table" },
      { name: "no-trunc", kind: "bool", usage: "Don't truncate output" },
    ],
    load: async () => (await import("./ls.ts")).runLs,
  },
  {
    name: "rm",
    use: "rm [OPTIONS] [NAME] [NAME...]",
    short: "Remove one or more builder instances",
    flags: [
      { name: "all-inactive", kind: "bool", usage: "Remove all inactive builders" },
      { name: "force", short: "f", kind: "bool", usage: "Do not prompt for confirmation" },
      { name: "keep-daemon", kind: "bool", usage: "Keep the BuildKit daemon running" },
      { name: "keep-state", kind: "bool", usage: "Keep BuildKit state" },
    ],
    load: async () => (await import("./rm.ts")).runRm,
  },
  {
    name: "stop",
    use: "stop [NAME]",
    short: "Stop builder instance",
    args: { atMost: 1 },
    flags: [],
    load: async () => (await import("./stop.ts")).runStop,
  },
  {
    name: "use",
    use: "use [OPTIONS] NAME",
    short: "Set the current builder instance",
    args: { atMost: 1 },
    flags: [
      { name: "default", kind: "bool", usage: "Set builder as default for current context" },
      { name: "global", kind: "bool", usage: "Builder persists context changes" },
    ],
    load: async () => (await import("./use.ts")).runUse,
  },
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
