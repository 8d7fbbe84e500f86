import type { CommandEntry } from "../types.ts";

/**
 * Every subcommand of `hatake`, in the order `hatake help` lists them. Modules load lazily; add a line
 * here and a file beside this one to add a command.
 */
export const commands: readonly CommandEntry[] = [
  { name: "build", summary: "Build from a Dockerfile (in-process on a state folder)", load: async () => (await import("./build.ts")).buildCommand },
  { name: "context", summary: "Show what a build sends as its context (ls)", load: async () => (await import("./context.ts")).contextCommand },
  { name: "dockerfile", summary: "Inspect Dockerfiles (parse, check, outline, targets)", load: async () => (await import("./dockerfile.ts")).dockerfileCommand },
  { name: "du", summary: "Show the disk usage of the build cache (in-process builds)", load: async () => (await import("./du.ts")).duCommand },
  { name: "engine", summary: "Run the engine (the Docker Engine API daemon)", load: async () => (await import("./engine.ts")).engineCommand },
  { name: "llb", summary: "Inspect LLB build graphs (dump)", load: async () => (await import("./llb.ts")).llbCommand },
  { name: "prune", summary: "Remove build cache (in-process builds)", load: async () => (await import("./prune.ts")).pruneCommand },
  { name: "version", summary: "Show the version", load: async () => (await import("./version.ts")).versionCommand },
];
