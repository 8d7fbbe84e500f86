import { commands } from "./commands/index.ts";
import type { Command, CommandEntry, CommandIo } from "./types.ts";
import { productVersion } from "./version-info.ts";
import { didYouMean, htkError, isCancellation, renderError, toHtkError } from "../base/errors/index.ts";

const USAGE = `Usage: hatake [--version] [--help] COMMAND [ARG...]

HATAKE Desktop: a Docker Desktop-compatible container platform with a BuildKit-class builder.
`;

/**
 * Runs one `hatake` invocation and returns the exit code. Never throws: user errors are rendered with
 * their diagnostic ID (exit 1), cancellation exits 130 quietly, anything else is a bug (HTK-CORE-0001).
 */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first === "help" || first === "--help" || first === "-h") {
      return await help(rest[0], io);
    }
    if (first === "--version" || first === "-v") {
      io.stdout.write(`hatake version ${productVersion()}\n`);
      return 0;
    }
    const command = await loadCommand(first);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(`${command.help.trimEnd()}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    if (isCancellation(err)) return 130;
    io.stderr.write(`${renderError(toHtkError(err, { operation: `hatake ${argv.join(" ")}` }))}\n`);
    return 1;
  }
}

async function help(topic: string | undefined, io: CommandIo): Promise<number> {
  if (topic !== undefined) {
    const command = await loadCommand(topic);
    io.stdout.write(`${command.help.trimEnd()}\n`);
    return 0;
  }
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  io.stdout.write(`${USAGE}\nCommands:\n${lines.join("\n")}\n\nRun 'hatake help COMMAND' for more information on a command.\n`);
  return 0;
}

async function loadCommand(name: string): Promise<Command> {
  const entry: CommandEntry | undefined = commands.find((c) => c.name === name);
  if (entry === undefined) {
    const guess = didYouMean(name, commands.map((c) => c.name));
    throw htkError("HTK-CLI-0001", { command: name, suggestion: guess === undefined ? "" : ` Did you mean "${guess}"?` });
  }
  return entry.load();
}

/** The process entry: wires signals to an AbortSignal and exits with the command's code. */
export async function runProcess(): Promise<void> {
  // A command's own log lines are for when something is wrong; the daemon sets its level from its flags.
  process.env["HATAKE_LOG_LEVEL"] ??= "warn";
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new DOMException("interrupted", "AbortError"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const code = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    cwd: process.cwd(),
    env: process.env,
    signal: controller.signal,
  });
  process.exitCode = code;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
