import { flagUsages, type FlagSpec } from "./flags.ts";
import type { CommandSpec } from "./types.ts";

/**
 * Help texts in the docker CLI's cobra templates (a plugin's help is rendered with them): a blank
 * line, `Usage:`, the description, aliases, the flag table, and for groups the command list.
 */
export function rootHelp(commands: readonly CommandSpec[], rootFlags: readonly FlagSpec[]): string {
  const groups = commands.filter((c) => c.subcommands !== undefined);
  const leaves = commands.filter((c) => c.subcommands === undefined);
  let out = "\nUsage:  docker buildx [OPTIONS] COMMAND\n\nExtended build capabilities with BuildKit (HATAKE builder)\n";
  out += `\nOptions:\n${flagUsages(rootFlags)}`;
  if (groups.length > 0) out += `\nManagement Commands:\n${commandList(groups)}`;
  out += `\nCommands:\n${commandList(leaves)}`;
  out += "\nRun 'docker buildx COMMAND --help' for more information on a command.\n";
  return out;
}

export function commandHelp(spec: CommandSpec, path: string, inherited: readonly FlagSpec[]): string {
  const parent = path.replace(/ [^ ]+$/, "");
  if (spec.subcommands !== undefined) {
    let out = `\nUsage:  ${path} COMMAND\n\n${spec.short}\n`;
    out += `\nCommands:\n${commandList(spec.subcommands)}`;
    out += `\nRun '${path} COMMAND --help' for more information on a command.\n`;
    return out;
  }
  let out = `\nUsage:  ${parent} ${spec.use}\n\n${spec.short}\n`;
  if (spec.aliasesText !== undefined) out += `\nAliases:\n  ${spec.aliasesText}\n`;
  else if ((spec.aliases ?? []).length > 0) out += `\nAliases:\n  ${[spec.name, ...(spec.aliases ?? [])].map((a) => `${parent} ${a}`).join(", ")}\n`;
  const flags = [...spec.flags, ...inherited.filter((f) => !spec.flags.some((s) => s.name === f.name))];
  if (flags.some((f) => f.hidden !== true)) out += `\nOptions:\n${flagUsages(flags)}`;
  return `${out}\n`;
}

function commandList(commands: readonly CommandSpec[]): string {
  const width = Math.max(11, ...commands.map((c) => c.name.length + 1));
  return [...commands].sort((a, b) => a.name.localeCompare(b.name)).map((c) => `  ${c.name.padEnd(width)}${c.short}\n`).join("");
}
