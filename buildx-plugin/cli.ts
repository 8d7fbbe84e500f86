import { catalogue, didYouMean, isCancellation, toHtkError, type HtkError } from "../base/errors/index.ts";
import { EngineError } from "./engine-error.ts";
import { COMMANDS, ROOT_FLAGS } from "./commands/index.ts";
import { GLOBAL_FLAGS, resolveDockerCli } from "./docker-cli.ts";
import { FlagError, parseFlags, type FlagSpec } from "./flags.ts";
import { commandHelp, rootHelp } from "./help.ts";
import { metadataJson } from "./metadata.ts";
import type { CommandSpec, PluginIo } from "./types.ts";

/** An error whose text is printed as it is (buildx's usage errors), with an exit code. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    readonly exitCode: number,
    /** Printed without buildx's `ERROR: ` prefix (cobra's flag errors go through the CLI's StatusError). */
    readonly bare = false,
  ) {
    super(message);
  }
}

/**
 * One invocation of the plugin: `argv` as the docker CLI passes it (`[global flags] buildx SUBCOMMAND
 * …`), or standalone (`docker-buildx SUBCOMMAND …`). Returns the exit code; never throws.
 */
export interface PluginHooks {
  /** Called before a command that may run long (a build): the process starts watching for the CLI's interrupt. */
  readonly longRunning?: () => void;
}

export async function runPlugin(argv: readonly string[], io: PluginIo, signal: AbortSignal, hooks: PluginHooks = {}): Promise<number> {
  try {
    if (argv[0] === "docker-cli-plugin-metadata") {
      io.stdout.write(`${metadataJson()}\n`);
      return 0;
    }
    return await dispatch(argv, io, signal, hooks);
  } catch (err) {
    return reportError(err, io);
  }
}

async function dispatch(argv: readonly string[], io: PluginIo, signal: AbortSignal, hooks: PluginHooks): Promise<number> {
  const global = parseOrUsage(() => parseFlags(argv, GLOBAL_FLAGS, { interspersed: false }), "docker");
  let rest = global.args;
  if (rest[0] === "buildx") rest = rest.slice(1);
  const rootFlags = ROOT_FLAGS(io.env);
  const root = parseOrUsage(() => parseFlags(rest, rootFlags, { interspersed: false }), "docker buildx");
  const [name, ...words] = root.args;
  if (name === undefined || root.help || name === "help") {
    io.stdout.write(rootHelp(COMMANDS, rootFlags));
    return 0;
  }
  let spec = findCommand(COMMANDS, name);
  let path = `docker buildx ${spec.name}`;
  let args = words;
  while (spec.subcommands !== undefined) {
    const [sub, ...more] = args;
    if (sub === undefined || sub.startsWith("-")) {
      io.stdout.write(commandHelp(spec, path, rootFlags));
      return 0;
    }
    spec = findCommand(spec.subcommands, sub, path);
    path = `${path} ${spec.name}`;
    args = more;
  }
  const inherited = rootFlags.filter((f) => !(spec.hideBuilderFlag === true && f.name === "builder"));
  const flagSpecs: FlagSpec[] = [...spec.flags, ...inherited.filter((f) => !spec.flags.some((s) => s.name === f.name))];
  const parsed = parseOrUsage(() => parseFlags(args, flagSpecs), path);
  if (parsed.help) {
    io.stdout.write(commandHelp(spec, path, inherited));
    return 0;
  }
  checkArgs(spec, path, parsed.args);
  const cli = resolveDockerCli(global.flags, io.env);
  const builder = parsed.flags.changed("builder") ? parsed.flags.string("builder") : root.flags.changed("builder") ? root.flags.string("builder") : io.env["BUILDX_BUILDER"] || undefined;
  if (spec.longRunning === true) hooks.longRunning?.();
  const run = await (spec.load as NonNullable<CommandSpec["load"]>)();
  return await run({ cli, flags: parsed.flags, args: parsed.args, io, signal, commandPath: path, ...(builder === undefined || builder === "" ? {} : { builder }) });
}

function parseOrUsage<T>(parse: () => T, path: string): T {
  try {
    return parse();
  } catch (err) {
    // Cobra's FlagErrorFunc in the docker CLI: the error, where to get help, exit 125.
    if (err instanceof FlagError) throw new UsageError(`${err.message}\nSee '${path} --help'.`, 125, true);
    throw err;
  }
}

function findCommand(list: readonly CommandSpec[], name: string, parent = "docker buildx"): CommandSpec {
  const spec = list.find((c) => c.name === name || (c.aliases ?? []).includes(name));
  if (spec !== undefined) return spec;
  const guess = didYouMean(name, list.map((c) => c.name));
  throw new UsageError(`unknown command "${name}" for "${parent}"${guess === undefined ? "" : `\n\nDid you mean this?\n\t${guess}\n`}`, 1);
}

/** docker/cli's argument checks (cli.ExactArgs, RequiresMaxArgs, RequiresMinArgs), word for word. */
function checkArgs(spec: CommandSpec, path: string, args: readonly string[]): void {
  const n = args.length;
  const rule = spec.args;
  if (rule === undefined) return;
  const plural = (k: number): string => (k === 1 ? "argument" : "arguments");
  const usage = `See '${path} --help'.\n\nUsage:  ${path.replace(/ [^ ]+$/, "")} ${spec.use}\n\n${spec.short}`;
  if ("exactly" in rule && n !== rule.exactly) throw new UsageError(`"${path}" requires exactly ${rule.exactly} ${plural(rule.exactly)}.\n${usage}`, 1);
  if ("atMost" in rule && n > rule.atMost) throw new UsageError(`"${path}" accepts at most ${rule.atMost} ${plural(rule.atMost)}.\n${usage}`, 1);
  if ("atLeast" in rule && n < rule.atLeast) throw new UsageError(`"${path}" requires at least ${rule.atLeast} ${plural(rule.atLeast)}.\n${usage}`, 1);
}

/**
 * buildx's last words: `ERROR: <message>` and exit 1; cancellation exits 130. A HATAKE diagnostic
 * keeps its ID and next step; an error that reproduces buildx's own text prints that text alone.
 */
export function reportError(err: unknown, io: PluginIo): number {
  if (err instanceof UsageError) {
    io.stderr.write(err.bare ? `${err.message}\n` : `ERROR: ${err.message}\n`);
    return err.exitCode;
  }
  if (isCancellation(err)) {
    io.stderr.write("ERROR: context canceled\n");
    return 130;
  }
  if (err instanceof EngineError) {
    io.stderr.write(`ERROR: ${err.message}\n${err.id === undefined ? "" : `  ${err.id}: ${err.next ?? ""}\n`}`);
    return err.canceled ? 130 : 1;
  }
  const e = toHtkError(err, { operation: "docker buildx" });
  io.stderr.write(renderPluginError(e));
  return 1;
}

export function renderPluginError(e: HtkError): string {
  const spec = catalogue[e.id];
  if ("dockerText" in spec && spec.dockerText === true) return `ERROR: ${e.plainCause}\n`;
  return `ERROR: ${e.plainCause}\n  ${e.id}: ${e.nextStep}\n`;
}
