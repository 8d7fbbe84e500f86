import { didYouMean, htkError } from "../base/errors/index.ts";
import type { Command, CommandIo } from "./types.ts";

/** One verb of a command group (`hatake dockerfile parse`). */
export interface Subcommand {
  readonly name: string;
  readonly summary: string;
  /** The full help text (usage line first). */
  readonly usage: string;
  run(args: readonly string[], io: CommandIo): Promise<number>;
}

/**
 * A command made of subcommands (`hatake dockerfile parse|check|…`): one help layout, one way to report
 * an unknown verb (HTK-CLI-0001 with a suggestion), `--help` on every verb.
 */
export function commandGroup(spec: { name: string; summary: string; description: string; subcommands: readonly Subcommand[] }): Command {
  const width = Math.max(8, ...spec.subcommands.map((s) => s.name.length));
  const help = `Usage: hatake ${spec.name} COMMAND [ARG...]

${spec.description}

Commands:
${spec.subcommands.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`).join("\n")}

Run 'hatake ${spec.name} COMMAND --help' for more information on a command.`;
  return {
    name: spec.name,
    summary: spec.summary,
    help,
    async run(args, io) {
      const [name, ...rest] = args;
      if (name === undefined) {
        io.stderr.write(`${help}\n`);
        return 2;
      }
      const sub = spec.subcommands.find((s) => s.name === name);
      if (sub === undefined) {
        const guess = didYouMean(name, spec.subcommands.map((s) => s.name));
        throw htkError("HTK-CLI-0001", { command: `${spec.name} ${name}`, suggestion: guess === undefined ? "" : ` Did you mean "${spec.name} ${guess}"?` });
      }
      if (rest.includes("--help") || rest.includes("-h")) {
        io.stdout.write(`${sub.usage}\n`);
        return 0;
      }
      return sub.run(rest, io);
    },
  };
}
